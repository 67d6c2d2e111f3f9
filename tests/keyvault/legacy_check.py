"""End-to-end check of the Dispersy legacy (binary curve) keys.

Used in two ways:

* in-process by ``test_legacy.py``, once per legacy backend (system OpenSSL, pure Python);
* as a script, ``python tests/keyvault/legacy_check.py``, run by ``test_legacy.py`` under the interpreter
  named in the ``TXIPV8_LEGACY_PYTHON`` environment variable (a venv with ``cryptography<47`` and
  libnacl). There it also cross-checks every backend against ``cryptography``'s own binary-curve ECDSA,
  an implementation independent of ours: same DER bytes both ways, and each side verifies the other's
  signatures. The script needs neither pytest nor hypothesis.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # pragma: no cover - script mode: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ipv8.keyvault.crypto import ECCrypto  # noqa: E402
from tests.keyvault.vectors import LEGACY, MESSAGE  # noqa: E402

EXPECTED = {  # level -> (curve, private length, public length, signature length)
    "very-low": ("sect163k1", 85, 66, 42),
    "low": ("sect233k1", 111, 84, 60),
    "medium": ("sect409k1", 178, 128, 104),
    "high": ("sect571r1", 241, 170, 144),
}


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def check_generated_round_trips(crypto: ECCrypto) -> None:
    """Every legacy level: generate, serialise, reload, sign, verify, reject tampering."""
    for level, (curve, private_length, public_length, signature_length) in EXPECTED.items():
        key = crypto.generate_key(level)
        _require(key.curve_name() == curve, f"{level}: curve {key.curve_name()}")
        private_bin, public_bin = key.key_to_bin(), key.pub().key_to_bin()
        _require(len(private_bin) == private_length, f"{level}: private key is {len(private_bin)} bytes")
        _require(len(public_bin) == public_length, f"{level}: public key is {len(public_bin)} bytes")
        reloaded = crypto.key_from_private_bin(private_bin)
        _require(reloaded == key and reloaded.key_to_bin() == private_bin, f"{level}: private round trip")
        public = crypto.key_from_public_bin(public_bin)
        _require(public == key.pub() and public.key_to_hash() == key.key_to_hash(), f"{level}: public round trip")
        signature = crypto.create_signature(reloaded, MESSAGE)
        _require(len(signature) == signature_length == crypto.get_signature_length(public), f"{level}: sig length")
        _require(crypto.is_valid_signature(public, MESSAGE, signature), f"{level}: own signature rejected")
        _require(not crypto.is_valid_signature(public, MESSAGE + b"!", signature), f"{level}: tampered accepted")
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        _require(not crypto.is_valid_signature(public, MESSAGE, flipped), f"{level}: flipped signature accepted")
        _require(not public.verify(signature[:-1], MESSAGE), f"{level}: short signature accepted")


def check_reference_vectors(crypto: ECCrypto) -> None:
    """Keys and signatures made by pyipv8 3.2.1 load byte-for-byte and verify."""
    for curve, (private_bin, public_bin, mid, signature) in LEGACY.items():
        key = crypto.key_from_private_bin(private_bin)
        _require(key.curve_name() == curve, f"{curve}: loaded as {key.curve_name()}")
        _require(key.key_to_bin() == private_bin, f"{curve}: private re-serialisation differs")
        _require(key.pub().key_to_bin() == public_bin, f"{curve}: derived public key differs")
        _require(key.key_to_hash() == mid, f"{curve}: mid differs")
        public = crypto.key_from_public_bin(public_bin)
        _require(public.verify(signature, MESSAGE), f"{curve}: reference signature rejected")
        _require(not public.verify(signature, MESSAGE[:-1]), f"{curve}: reference signature fits other data")
        _require(public.verify(key.signature(MESSAGE), MESSAGE), f"{curve}: our signature rejected")


def check_against_cryptography(crypto: ECCrypto) -> bool:
    """Compare with ``cryptography``'s binary curves when the installed release still has them.

    :returns: whether the comparison ran (``False``: ``cryptography`` 47 or later, nothing to compare).
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography 45/46 warn about every binary curve use
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
        if not hasattr(ec, "SECT163K1"):
            return False
        try:
            ec.generate_private_key(ec.SECT163K1())
        except Exception:  # noqa: BLE001 - this backend cannot do binary curves
            return False
        ecdsa = ec.ECDSA(hashes.SHA1())  # noqa: S303 - the Dispersy format
        der, traditional = serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        for curve_name in ("sect163k1", "sect233k1", "sect409k1", "sect571r1", "sect571k1"):
            theirs = ec.generate_private_key(getattr(ec, curve_name.upper())())
            their_bin = theirs.private_bytes(der, traditional, serialization.NoEncryption())
            ours = crypto.key_from_private_bin(their_bin)
            _require(ours.key_to_bin() == their_bin, f"{curve_name}: private DER differs from cryptography's")
            _require(ours.pub().key_to_bin() == theirs.public_key().public_bytes(der, spki),
                     f"{curve_name}: public DER differs from cryptography's")
            half = ours.get_signature_length() // 2
            r, s = decode_dss_signature(theirs.sign(MESSAGE, ecdsa))
            _require(ours.pub().verify(r.to_bytes(half, "big") + s.to_bytes(half, "big"), MESSAGE),
                     f"{curve_name}: cryptography's signature rejected")
            signature = ours.signature(MESSAGE)
            encoded = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                           int.from_bytes(signature[half:], "big"))
            theirs.public_key().verify(encoded, MESSAGE, ecdsa)  # raises InvalidSignature on mismatch
            reloaded = serialization.load_der_private_key(ours.key_to_bin(), password=None)
            _require(reloaded.private_bytes(der, traditional, serialization.NoEncryption()) == ours.key_to_bin(),
                     f"{curve_name}: cryptography re-serialises our key differently")
    return True


def run_all() -> None:
    """Run every legacy check with a fresh :class:`ECCrypto` (and the backend chosen by the environment)."""
    crypto = ECCrypto()
    check_generated_round_trips(crypto)
    check_reference_vectors(crypto)


if __name__ == "__main__":  # pragma: no cover
    import os

    import cryptography

    from ipv8.keyvault import _legacy

    names = [backend.name for backend in _legacy.available_backends(_legacy.LEGACY_CURVES["sect163k1"])]
    run_all()  # the default backend; test_legacy.py runs this for every backend in the project venv too
    compared = False
    for name in names:
        os.environ[_legacy.BACKEND_ENVIRONMENT_VARIABLE] = name
        compared = check_against_cryptography(ECCrypto())
    print(f"legacy keys ok with cryptography {cryptography.__version__} (backends: {', '.join(names)}; "
          f"cross-checked against cryptography: {'yes' if compared else 'no'})")
