"""Dispersy legacy keys (binary curves), on every legacy backend.

``cryptography`` 47 and later dropped binary curves, so txipv8 does the ECDSA itself: through the system
OpenSSL ``libcrypto`` when it has the curves, else in pure Python. Everything here runs with whatever
``cryptography`` the venv has. The checks that matter most are run on both backends (the ``backend``
fixture), and the two are compared with each other; ``TXIPV8_LEGACY_PYTHON=/path/to/python`` (an
interpreter with ``cryptography<47`` and libnacl) also compares them with ``cryptography``'s own
implementation, and the ``openssl`` command-line tool (when installed) checks our DER and signatures.
"""
from __future__ import annotations

import base64
import os
import shutil
import subprocess
from hashlib import sha1
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ipv8.keyvault import _legacy
from ipv8.keyvault._ec2m_python import PythonBackend
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
from .vectors import LEGACY, MESSAGE

ROOT = Path(__file__).resolve().parents[2]
LEGACY_LEVELS = {"very-low": "sect163k1", "low": "sect233k1", "medium": "sect409k1", "high": "sect571r1"}
CURVES = _legacy.LEGACY_CURVES
PYTHON = PythonBackend()
OPENSSL = _legacy.backend_named("openssl")
OPENSSL_HAS_CURVES = OPENSSL is not None and all(OPENSSL.supports(curve) for curve in CURVES.values())
BACKENDS = [pytest.param("openssl", marks=pytest.mark.skipif(
                not OPENSSL_HAS_CURVES, reason="no system libcrypto with binary curves (Debian: libssl3)")),
            "python"]
ENV = _legacy.BACKEND_ENVIRONMENT_VARIABLE


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with the legacy backend forced to each implementation in turn."""
    monkeypatch.setenv(ENV, request.param)
    return request.param


@pytest.fixture
def no_libcrypto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the system has no libcrypto and force the OpenSSL backend."""
    monkeypatch.setitem(_legacy._backends, "openssl", None)
    monkeypatch.setenv(ENV, "openssl")


def _pem(der: bytes) -> bytes:
    return b"-----BEGIN EC PRIVATE KEY-----\n" + base64.encodebytes(der) + b"-----END EC PRIVATE KEY-----\n"


def _point(curve_name: str, point: tuple[int, int]) -> bytes:
    size = CURVES[curve_name].field_bytes
    return b"\x04" + point[0].to_bytes(size, "big") + point[1].to_bytes(size, "big")


# ---------------------------------------------------------------------------------------------------------------
# Round trips and reference vectors, per backend
# ---------------------------------------------------------------------------------------------------------------

def test_legacy_round_trip_and_reference_vectors(backend: str) -> None:
    legacy_check.run_all()


def test_default_backend_is_openssl_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    expected = "openssl" if OPENSSL_HAS_CURVES else "python"
    for curve in CURVES.values():
        assert _legacy.backend_for(curve).name == expected
    assert all(default_eccrypto.security_level_supported(level) for level in LEGACY_LEVELS)


def test_legacy_keys_have_no_key_agreement() -> None:
    key = default_eccrypto.generate_key("very-low")
    with pytest.raises(KeyExchangeError):
        key.get_crypt_pk()
    with pytest.raises(KeyExchangeError):
        key.diffie_hellman(b"\x09" + bytes(31))


def test_legacy_pem_helpers() -> None:
    key = default_eccrypto.key_from_private_bin(LEGACY["sect163k1"][0])
    assert isinstance(key, M2CryptoSK)
    assert key.key_to_pem().startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert key.pem_to_bin(key.key_to_pem()) == key.key_to_bin()
    assert key.pub().pem_to_bin(key.pub().key_to_pem()) == LEGACY["sect163k1"][1]


def test_dispersy_pem_key_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "dispersy.pem"
    path.write_bytes(_pem(LEGACY["sect163k1"][0]))
    key = load_private_key(path)
    assert key.key_to_bin() == LEGACY["sect163k1"][0]
    assert key.key_to_hash() == LEGACY["sect163k1"][2]


def test_signatures_are_randomised_and_all_verify(backend: str) -> None:
    key = default_eccrypto.key_from_private_bin(LEGACY["sect163k1"][0])
    signatures = {key.signature(MESSAGE) for _ in range(4)}
    assert len(signatures) == 4  # a fresh nonce every time
    assert all(key.pub().verify(signature, MESSAGE) for signature in signatures)


def test_compatibility_constructors_take_cryptography_objects() -> None:
    # cryptography >= 47 has no binary-curve key objects, so a prime-curve object shows the error path.
    with pytest.raises(InvalidKeyError, match="not a legacy IPv8 curve"):
        M2CryptoSK(ec_priv=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(InvalidKeyError, match="not a legacy IPv8 curve"):
        M2CryptoPK(ec_pub=ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(InvalidKeyError, match="cannot serialise"):
        M2CryptoPK(ec_pub=object())

    class Named:
        name = "sect163k1"

    assert M2CryptoSK(curve=Named()).curve_name() == "sect163k1"


# ---------------------------------------------------------------------------------------------------------------
# The two backends against each other and against the curve parameters
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CURVES))
def test_curve_parameters_are_consistent(name: str) -> None:
    curve = PYTHON.curve(CURVES[name])
    params = CURVES[name]
    assert curve.on_curve(curve.generator)
    assert curve.multiply_exact_order(curve.generator) is None  # the generator has the stated order
    assert curve.multiply(params.order - 1, curve.generator) == curve.negate(curve.generator)
    # Hasse: the group order h * n is within 2 * sqrt(2^m) of 2^m + 1.
    assert abs(params.cofactor * params.order - (1 << params.m) - 1) <= 2 * (1 << ((params.m + 1) // 2))
    if OPENSSL_HAS_CURVES:  # OpenSSL's generator is ours: 1 * G gives the same point
        assert OPENSSL.private_handle(params, 1).point == _point(name, curve.generator)


@pytest.mark.skipif(not OPENSSL_HAS_CURVES, reason="no system libcrypto with binary curves")
@pytest.mark.parametrize("name", list(CURVES))
def test_backends_agree(name: str) -> None:
    params = CURVES[name]
    digest = sha1(MESSAGE).digest()
    for secret in (1, 2, params.order - 1, _legacy.generate_secret(params)):
        ours, theirs = PYTHON.private_handle(params, secret), OPENSSL.private_handle(params, secret)
        assert ours.point == theirs.point, secret
    python_public = PYTHON.public_handle(params, theirs.point)
    openssl_public = OPENSSL.public_handle(params, ours.point)
    for _ in range(2):
        assert openssl_public.verify(digest, *ours.sign(digest))
        assert python_public.verify(digest, *theirs.sign(digest))
    r, s = theirs.sign(digest)
    assert not python_public.verify(digest, r, s ^ 1)
    assert not openssl_public.verify(digest, r ^ 1, s)


# ---------------------------------------------------------------------------------------------------------------
# Hostile input: invalid points, out-of-range signatures, garbage
# ---------------------------------------------------------------------------------------------------------------

def _bad_points(name: str) -> dict[str, bytes]:
    """Points that decode but must never be accepted as public keys."""
    params, curve = CURVES[name], PYTHON.curve(CURVES[name])
    f = curve.field
    root_b = params.b
    for _ in range(params.m - 1):  # sqrt(b) = b^(2^(m-1))
        root_b = f.sqr(root_b)
    order_two = (0, root_b)
    assert curve.on_curve(order_two) and curve.add(order_two, order_two) is None
    gx, gy = curve.generator
    outside = curve.add(curve.generator, order_two)  # order 2n: on the curve, outside the subgroup
    assert outside is not None and curve.on_curve(outside)
    size = params.field_bytes
    return {
        "order two": _point(name, order_two),
        "outside the subgroup": _point(name, outside),
        "off the curve": _point(name, (gx, gy ^ 1)),
        "x beyond the field": b"\x04" + (gx | (1 << params.m)).to_bytes(size, "big") + gy.to_bytes(size, "big"),
        "compressed": bytes([2 + (gy & 1)]) + gx.to_bytes(size, "big") + bytes(size),
        "all zero": b"\x04" + bytes(2 * size),
    }


@pytest.mark.parametrize("name", ["sect163k1", "sect233k1", "sect571r1"])
def test_invalid_points_are_rejected(backend: str, name: str) -> None:
    params = CURVES[name]
    for label, point in _bad_points(name).items():
        der = _legacy._tlv(0x30, _legacy._algorithm(params) + _legacy._tlv(0x03, b"\x00" + point))
        with pytest.raises(InvalidKeyError) as caught:
            default_eccrypto.key_from_public_bin(der)
        assert not isinstance(caught.value, UnsupportedCurveError), label
        assert not default_eccrypto.is_valid_public_bin(der), label


@pytest.mark.skipif(not OPENSSL_HAS_CURVES, reason="no system libcrypto with binary curves")
def test_openssl_error_queue_is_left_clean() -> None:
    import ctypes

    peek = ctypes.CDLL(OPENSSL._library.path).ERR_peek_error
    peek.restype = ctypes.c_ulong
    params = CURVES["sect163k1"]
    with pytest.raises(InvalidKeyError):
        OPENSSL.public_handle(params, _bad_points("sect163k1")["off the curve"])
    public = OPENSSL.public_handle(params, LEGACY["sect163k1"][1][-43:])
    assert not public.verify(sha1(MESSAGE).digest(), 1, 1)
    assert peek() == 0  # Python's ssl module shares this queue


def test_out_of_range_signatures_are_rejected(backend: str) -> None:
    private_bin, public_bin, _, signature = LEGACY["sect163k1"]
    public = default_eccrypto.key_from_public_bin(public_bin)
    order, half = CURVES["sect163k1"].order, len(signature) // 2
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    assert public.verify(signature, MESSAGE)

    def encode(r_value: int, s_value: int) -> bytes:
        return r_value.to_bytes(half, "big") + s_value.to_bytes(half, "big")

    # r + n and s + n are the same values modulo n: only a missing range check would accept them.
    for bad in (encode(0, s), encode(r, 0), encode(order, s), encode(r, order), encode(r + order, s),
                encode(r, s + order), bytes(2 * half), b"\xff" * (2 * half)):
        assert not public.verify(bad, MESSAGE)
        assert not default_eccrypto.is_valid_signature(public, MESSAGE, bad)
    assert public.verify(encode(r, order - s), MESSAGE)  # ECDSA's (r, -s) twin is valid, as in OpenSSL


def test_garbage_never_raises(backend: str) -> None:
    public = default_eccrypto.key_from_public_bin(LEGACY["sect163k1"][1])
    for signature, message in ((os.urandom(42), MESSAGE), (b"", MESSAGE), (os.urandom(43), MESSAGE),
                               ("text", MESSAGE), (os.urandom(42), None), (None, None), (bytearray(42), b"")):
        assert public.verify(signature, message) is False  # type: ignore[arg-type]
        assert default_eccrypto.is_valid_signature(public, message, signature) is False  # type: ignore[arg-type]
    assert public.verify(memoryview(LEGACY["sect163k1"][3]), bytearray(MESSAGE))


def test_mutated_public_keys_load_or_raise_invalid_key_error(backend: str) -> None:
    import random

    rng = random.Random(20261206)  # fixed seed: the same mutations every run
    original = LEGACY["sect163k1"][1]
    accepted = 0
    for _ in range(60):
        spot = rng.randrange(len(original))
        mutated = original[:spot] + bytes([rng.randrange(256)]) + original[spot + 1:]
        try:
            key = default_eccrypto.key_from_public_bin(mutated)
        except InvalidKeyError:
            continue
        accepted += 1
        # Only a no-op mutation can still be a valid key; it must then verify like the original.
        assert mutated == original and key.verify(LEGACY["sect163k1"][3], MESSAGE)
    assert accepted <= 1


def _private_der(params: _legacy.LegacyCurve, raw_secret: bytes, point: bytes | None = None) -> bytes:
    body = b"\x02\x01\x01" + _legacy._tlv(0x04, raw_secret) + _legacy._tlv(0xA0, _legacy._tlv(0x06, params.oid))
    if point is not None:
        body += _legacy._tlv(0xA1, _legacy._tlv(0x03, b"\x00" + point))
    return _legacy._tlv(0x30, body)


def test_private_key_checks(backend: str) -> None:
    params = CURVES["sect163k1"]
    key = default_eccrypto.key_from_private_bin(LEGACY["sect163k1"][0])
    secret = int.from_bytes(LEGACY["sect163k1"][0][7:28], "big")
    assert _legacy.encode_private(params, secret, key.pub().key_to_bin()[-43:]) == key.key_to_bin()
    for bad_secret in (0, params.order, params.order + 5):
        with pytest.raises(InvalidKeyError, match="out of range"):
            default_eccrypto.key_from_private_bin(_private_der(params, bad_secret.to_bytes(21, "big")))
    stranger = default_eccrypto.generate_key("very-low").pub().key_to_bin()[-43:]
    with pytest.raises(InvalidKeyError, match="not its own"):
        default_eccrypto.key_from_private_bin(_legacy.encode_private(params, secret, stranger))
    with pytest.raises(InvalidKeyError, match="bad length"):
        default_eccrypto.key_from_private_bin(_private_der(params, bytes(22)))
    # Old OpenSSL wrote the scalar without leading zeros and the public key may be absent: such keys
    # load and re-serialise in today's padded layout, with the derived public key.
    small = int.from_bytes(os.urandom(19), "big") | 1
    loaded = default_eccrypto.key_from_private_bin(_private_der(params, small.to_bytes(19, "big")))
    expected_point = PYTHON.private_handle(params, small).point
    assert loaded.key_to_bin() == _legacy.encode_private(params, small, expected_point)
    assert loaded.pub().key_to_bin() == _legacy.encode_public(params, expected_point)


@pytest.mark.parametrize("data", [
    LEGACY["sect163k1"][1] + b"\x00",  # trailing byte
    b"\x30\x81\x40" + LEGACY["sect163k1"][1][2:],  # non-minimal length
    LEGACY["sect163k1"][1][:-43] + b"\x01" + LEGACY["sect163k1"][1][-42:],  # unused bits in the BIT STRING
])
def test_non_canonical_public_der_is_rejected(data: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        default_eccrypto.key_from_public_bin(data)


# ---------------------------------------------------------------------------------------------------------------
# No usable backend (TXIPV8_LEGACY_BACKEND=openssl without a suitable libcrypto)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", list(LEGACY_LEVELS))
def test_forced_missing_backend_raises_one_clear_error(no_libcrypto: None, level: str) -> None:
    with pytest.raises(UnsupportedCurveError) as caught:
        default_eccrypto.generate_key(level)
    message = str(caught.value)
    assert LEGACY_LEVELS[level] in message and "libssl3" in message and ENV in message
    assert caught.value.__cause__ is None
    assert not default_eccrypto.security_level_supported(level)


def test_forced_missing_backend_on_loading(no_libcrypto: None, tmp_path: Path) -> None:
    for curve, (private_bin, public_bin, _, _) in LEGACY.items():
        for loader, data in ((default_eccrypto.key_from_private_bin, private_bin),
                             (default_eccrypto.key_from_public_bin, public_bin)):
            with pytest.raises(UnsupportedCurveError, match=f"binary curve {curve}"):
                loader(data)
        assert not default_eccrypto.is_valid_public_bin(public_bin)
    path = tmp_path / "dispersy.pem"
    path.write_bytes(_pem(LEGACY["sect163k1"][0]))
    with pytest.raises(InvalidKeyFileError, match="dispersy.pem.*sect163k1") as caught:
        load_private_key(path)
    assert isinstance(caught.value.__cause__, UnsupportedCurveError)


def test_unknown_backend_choice_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "m2crypto")
    with pytest.raises(UnsupportedCurveError, match="m2crypto"):
        default_eccrypto.generate_key("very-low")
    monkeypatch.setenv(ENV, "python")
    assert default_eccrypto.generate_key("very-low").curve_name() == "sect163k1"


# ---------------------------------------------------------------------------------------------------------------
# The openssl command-line tool as an independent reader and signer
# ---------------------------------------------------------------------------------------------------------------

def _openssl_has_binary_curves() -> bool:
    if shutil.which("openssl") is None:
        return False
    listing = subprocess.run(["openssl", "ecparam", "-list_curves"], capture_output=True, text=True, check=False)
    return "sect571r1" in listing.stdout


@pytest.mark.skipif(not _openssl_has_binary_curves(), reason="no openssl command with binary curves")
@pytest.mark.parametrize("level", ["very-low", "high"])
def test_openssl_command_line_agrees(backend: str, level: str, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    def openssl(*args: str) -> bytes:
        return subprocess.run(["openssl", *args], capture_output=True, check=True, timeout=60).stdout

    key = default_eccrypto.generate_key(level)
    half = key.get_signature_length() // 2
    (tmp_path / "key.der").write_bytes(key.key_to_bin())
    (tmp_path / "message").write_bytes(MESSAGE)
    # OpenSSL re-encodes our private key to the very same bytes and derives the same public key.
    assert openssl("ec", "-inform", "DER", "-in", str(tmp_path / "key.der"), "-outform", "DER") == key.key_to_bin()
    assert openssl("ec", "-inform", "DER", "-in", str(tmp_path / "key.der"), "-pubout", "-outform", "DER") \
        == key.pub().key_to_bin()
    (tmp_path / "pub.pem").write_bytes(key.pub().key_to_pem())
    signature = key.signature(MESSAGE)
    (tmp_path / "sig").write_bytes(encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                                        int.from_bytes(signature[half:], "big")))
    assert b"Verified OK" in openssl("dgst", "-sha1", "-verify", str(tmp_path / "pub.pem"),
                                     "-signature", str(tmp_path / "sig"), str(tmp_path / "message"))
    (tmp_path / "key.pem").write_bytes(key.key_to_pem())
    r, s = decode_dss_signature(openssl("dgst", "-sha1", "-sign", str(tmp_path / "key.pem"), str(tmp_path / "message")))
    assert key.pub().verify(r.to_bytes(half, "big") + s.to_bytes(half, "big"), MESSAGE)


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


# ---------------------------------------------------------------------------------------------------------------
# pyipv8 3.2.1 itself (in .venv-ref) against us, both ways
# ---------------------------------------------------------------------------------------------------------------

REFERENCE_PYTHON = ROOT / ".venv-ref" / "bin" / "python"


@pytest.mark.skipif(not REFERENCE_PYTHON.exists(), reason="no pyipv8 reference interpreter (make ref-venv)")
def test_pyipv8_and_txipv8_accept_each_others_legacy_keys_and_signatures() -> None:
    import json

    keys = [default_eccrypto.generate_key(level) for level in LEGACY_LEVELS]
    keys.append(default_eccrypto.key_from_private_bin(LEGACY["sect571k1"][0]))
    request = {"message": MESSAGE.hex(), "keys": [
        {"private": key.key_to_bin().hex(), "public": key.pub().key_to_bin().hex(),
         "signature": key.signature(MESSAGE).hex()} for key in keys]}
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    completed = subprocess.run([str(REFERENCE_PYTHON), str(Path(__file__).with_name("reference_keys.py"))],
                               input=json.dumps(request), capture_output=True, text=True, timeout=120,
                               cwd="/", env=env, check=False)
    if completed.returncode != 0 and "No module named 'ipv8'" in completed.stderr:
        pytest.skip("the reference interpreter has no pyipv8")
    assert completed.returncode == 0, completed.stderr[-2000:]
    answer = json.loads(completed.stdout)
    for key, result in zip(keys, answer["checked"]):
        assert result == {"private_same": True, "public_same": True, "verifies": True, "rejects_tampered": True}, \
            key.curve_name()
    for theirs in answer["generated"]:
        private = default_eccrypto.key_from_private_bin(bytes.fromhex(theirs["private"]))
        public = default_eccrypto.key_from_public_bin(bytes.fromhex(theirs["public"]))
        assert private.curve_name() == theirs["curve"]
        assert private.key_to_bin().hex() == theirs["private"] and public.key_to_bin().hex() == theirs["public"]
        assert private.pub() == public
        assert public.verify(bytes.fromhex(theirs["signature"]), MESSAGE)
        assert not public.verify(bytes.fromhex(theirs["signature"]), MESSAGE + b"!")
