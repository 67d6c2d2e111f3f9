"""Dispersy legacy keys (binary curves through ``cryptography``).

``cryptography`` 47 and later dropped binary curves. Which tests run therefore depends on the installed
backend, detected here with ``cryptography`` alone (not with the code under test):

* the round trip and reference-vector checks run when the curves exist;
* the "one clear error" checks run when they do not;
* ``TXIPV8_LEGACY_PYTHON=/path/to/python`` (an interpreter with ``cryptography<47`` and libnacl) also
  runs the full legacy check in that interpreter, whatever the project venv has.
"""
from __future__ import annotations

import base64
import os
import subprocess
import warnings
from pathlib import Path

import cryptography
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ipv8.keyvault.crypto import (
    ECCrypto,
    InvalidKeyError,
    KeyExchangeError,
    UnsupportedCurveError,
    default_eccrypto,
)
from ipv8.keyvault.exceptions import InvalidKeyFileError
from ipv8.keyvault.keyfile import load_private_key
from ipv8.keyvault.private.m2crypto import M2CryptoSK
from ipv8.keyvault.public.m2crypto import M2CryptoPK

from . import legacy_check
from .vectors import LEGACY

ROOT = Path(__file__).resolve().parents[2]
LEGACY_LEVELS = {"very-low": "sect163k1", "low": "sect233k1", "medium": "sect409k1", "high": "sect571r1"}


def _backend_has_binary_curves() -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curve_class = getattr(ec, "SECT163K1", None)
        if curve_class is None:
            return False
        try:
            ec.generate_private_key(curve_class())
        except Exception:  # noqa: BLE001 - any failure means "not usable here"
            return False
    return True


HAS_BINARY_CURVES = _backend_has_binary_curves()
needs_binary_curves = pytest.mark.skipif(
    not HAS_BINARY_CURVES,
    reason=f"the installed cryptography {cryptography.__version__} has no binary curves (removed in 47); "
           f"set TXIPV8_LEGACY_PYTHON to a cryptography<47 interpreter to check legacy keys for real")
needs_missing_binary_curves = pytest.mark.skipif(
    HAS_BINARY_CURVES, reason=f"cryptography {cryptography.__version__} still supports binary curves")


@needs_binary_curves
def test_legacy_round_trip_and_reference_vectors() -> None:
    legacy_check.run_all()


@needs_binary_curves
def test_legacy_keys_have_no_key_agreement() -> None:
    key = default_eccrypto.generate_key("very-low")
    with pytest.raises(KeyExchangeError):
        key.get_crypt_pk()
    with pytest.raises(KeyExchangeError):
        key.diffie_hellman(b"\x09" + bytes(31))


@needs_binary_curves
def test_legacy_pem_helpers() -> None:
    key = default_eccrypto.key_from_private_bin(LEGACY["sect163k1"][0])
    assert isinstance(key, M2CryptoSK)
    assert key.key_to_pem().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert key.pem_to_bin(key.key_to_pem()) == key.key_to_bin()
    assert key.pub().pem_to_bin(key.pub().key_to_pem()) == LEGACY["sect163k1"][1]


@needs_binary_curves
def test_dispersy_pem_key_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "dispersy.pem"
    body = base64.encodebytes(LEGACY["sect163k1"][0])
    path.write_bytes(b"-----BEGIN EC PRIVATE KEY-----\n" + body + b"-----END EC PRIVATE KEY-----\n")
    key = load_private_key(path)
    assert key.key_to_bin() == LEGACY["sect163k1"][0]
    assert key.key_to_hash() == LEGACY["sect163k1"][2]


@pytest.mark.parametrize("level", list(LEGACY_LEVELS))
@needs_missing_binary_curves
def test_generating_without_binary_curves_raises_one_clear_error(level: str) -> None:
    with pytest.raises(UnsupportedCurveError) as caught:
        default_eccrypto.generate_key(level)
    message = str(caught.value)
    assert LEGACY_LEVELS[level] in message
    assert f"cryptography {cryptography.__version__}" in message
    assert "cryptography<47" in message
    assert caught.value.__cause__ is None  # no backend error chained into the report
    assert not default_eccrypto.security_level_supported(level)


@pytest.mark.parametrize("curve", list(LEGACY))
@needs_missing_binary_curves
def test_loading_without_binary_curves_raises_one_clear_error(curve: str) -> None:
    private_bin, public_bin, _, signature = LEGACY[curve]
    for loader, data in ((default_eccrypto.key_from_private_bin, private_bin),
                         (default_eccrypto.key_from_public_bin, public_bin)):
        with pytest.raises(UnsupportedCurveError, match=f"binary curve {curve}.*cryptography<47"):
            loader(data)
    assert not default_eccrypto.is_valid_private_bin(private_bin)
    assert not default_eccrypto.is_valid_public_bin(public_bin)
    with pytest.raises(UnsupportedCurveError, match=curve):
        M2CryptoSK(curve=curve)
    with pytest.raises(UnsupportedCurveError, match=curve):
        M2CryptoPK(keystring=public_bin)


@needs_missing_binary_curves
def test_legacy_key_file_without_binary_curves_names_file_and_cause(tmp_path: Path) -> None:
    path = tmp_path / "dispersy.pem"
    body = base64.encodebytes(LEGACY["sect163k1"][0])
    path.write_bytes(b"-----BEGIN EC PRIVATE KEY-----\n" + body + b"-----END EC PRIVATE KEY-----\n")
    with pytest.raises(InvalidKeyFileError, match="dispersy.pem.*cryptography<47") as caught:
        load_private_key(path)
    assert isinstance(caught.value.__cause__, UnsupportedCurveError)


@pytest.mark.skipif(not os.environ.get("TXIPV8_LEGACY_PYTHON"),
                    reason="TXIPV8_LEGACY_PYTHON (a python with cryptography<47 and libnacl) is not set")
def test_legacy_keys_in_a_cryptography_before_47_interpreter() -> None:
    interpreter = os.environ["TXIPV8_LEGACY_PYTHON"]
    completed = subprocess.run([interpreter, str(Path(legacy_check.__file__))], cwd=ROOT, capture_output=True,
                               text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "legacy keys ok" in completed.stdout


# The checks below inspect the DER structure before any backend is involved, so they hold for every
# cryptography version: foreign or broken keys are InvalidKeyError, never UnsupportedCurveError.

def _der_public(key: object) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_prime_curve_keys_are_not_legacy_keys() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidKeyError, match="not a legacy IPv8 curve") as caught:
        default_eccrypto.key_from_public_bin(_der_public(private))
    assert not isinstance(caught.value, UnsupportedCurveError)
    traditional = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
    with pytest.raises(InvalidKeyError, match="not a legacy IPv8 curve"):
        default_eccrypto.key_from_private_bin(traditional)
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    with pytest.raises(InvalidKeyError):
        default_eccrypto.key_from_private_bin(pkcs8)


def test_rsa_keys_are_rejected() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidKeyError, match="not an elliptic-curve key"):
        default_eccrypto.key_from_public_bin(_der_public(private))


@pytest.mark.parametrize("cut", [1, 10, 30, 65])
def test_truncated_legacy_keys_are_invalid_not_unsupported(cut: int) -> None:
    private_bin, public_bin = LEGACY["sect163k1"][:2]
    for loader, data in ((default_eccrypto.key_from_public_bin, public_bin),
                         (default_eccrypto.key_from_private_bin, private_bin)):
        with pytest.raises(InvalidKeyError) as caught:
            loader(data[:cut])
        assert not isinstance(caught.value, UnsupportedCurveError)


def test_unknown_legacy_curve_name() -> None:
    with pytest.raises(InvalidKeyError, match="not a legacy IPv8 curve"):
        M2CryptoSK(curve="secp256r1")
    with pytest.raises(InvalidKeyError, match="needs"):
        M2CryptoSK()
    with pytest.raises(InvalidKeyError, match="needs"):
        M2CryptoPK()


def test_legacy_signature_lengths_follow_curve_size() -> None:
    from ipv8.keyvault._legacy import LEGACY_CURVES
    lengths = {name: curve.signature_length for name, curve in LEGACY_CURVES.items()}
    assert lengths == {"sect163k1": 42, "sect233k1": 60, "sect409k1": 104, "sect571r1": 144, "sect571k1": 144}
    for curve, (_, _, _, signature) in LEGACY.items():
        assert len(signature) == lengths[curve]  # the reference produced exactly these lengths


def test_high_level_generates_sect571r1_like_the_ipv8_docs() -> None:
    assert ECCrypto.CURVES["high"] == "sect571r1"
