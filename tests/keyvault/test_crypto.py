"""ECCrypto: security levels, loading dispatch, bad input and subclassing."""
from __future__ import annotations

import pytest

from ipv8.keyvault import crypto as crypto_module
from ipv8.keyvault.crypto import (
    ECCrypto,
    InvalidKeyError,
    KeyVaultError,
    UnknownSecurityLevelError,
    UnsupportedCurveError,
    default_eccrypto,
)
from ipv8.keyvault.keys import PrivateKey, PublicKey
from ipv8.keyvault.private.libnaclkey import LibNaCLSK
from ipv8.keyvault.public.libnaclkey import LibNaCLPK

from .vectors import CURVE25519_PRIVATE, CURVE25519_PUBLIC, LEGACY, MESSAGE


def test_security_levels() -> None:
    assert default_eccrypto.security_levels == ["very-low", "low", "medium", "high", "curve25519"]
    assert isinstance(default_eccrypto, ECCrypto)
    assert default_eccrypto.security_level_supported("curve25519")
    assert not default_eccrypto.security_level_supported("ultra")


@pytest.mark.parametrize("level", ["ultra", "", "Curve25519", None, 3])
def test_unknown_security_level(level: object) -> None:
    with pytest.raises(UnknownSecurityLevelError, match="unknown security level") as caught:
        default_eccrypto.generate_key(level)  # type: ignore[arg-type]
    # Older IPv8 raised RuntimeError here; both kinds of handler keep working.
    assert isinstance(caught.value, RuntimeError) and isinstance(caught.value, ValueError)


def test_generate_curve25519_through_facade() -> None:
    key = default_eccrypto.generate_key("curve25519")
    assert isinstance(key, LibNaCLSK)
    assert default_eccrypto.key_to_bin(key) == key.key_to_bin()
    assert default_eccrypto.key_to_hash(key) == key.pub().key_to_hash()
    assert default_eccrypto.get_signature_length(key) == 64
    assert default_eccrypto.is_key_compatible(key) and default_eccrypto.is_key_compatible(key.pub())
    assert not default_eccrypto.is_key_compatible(key.key_to_bin())


def test_valid_bin_checks() -> None:
    assert default_eccrypto.is_valid_private_bin(CURVE25519_PRIVATE)
    assert default_eccrypto.is_valid_public_bin(CURVE25519_PUBLIC)
    assert not default_eccrypto.is_valid_private_bin(CURVE25519_PUBLIC)
    assert not default_eccrypto.is_valid_public_bin(CURVE25519_PRIVATE)
    assert not default_eccrypto.is_valid_public_bin("LibNaCLPK:")  # type: ignore[arg-type]


PREFIXED_BAD = [
    b"",
    b"LibNaCLSK:",
    b"LibNaCLPK:",
    CURVE25519_PRIVATE[:-1],
    CURVE25519_PRIVATE + b"\x00",
    CURVE25519_PUBLIC[:-1],
    CURVE25519_PUBLIC + b"\x00",
    CURVE25519_PRIVATE[10:],  # body without its prefix
    b"libnaclsk:" + CURVE25519_PRIVATE[10:],
    b"garbage that is not a key",
    b"\x30",
    b"\x30\x03\x02\x01\x01",
    b"\x30\x82\xff\xff",
    b"\x30\x84\x00\x00\x00\x05",
    LEGACY["sect163k1"][0][:-3],
    LEGACY["sect163k1"][1] + b"\x00",
]


@pytest.mark.parametrize("data", PREFIXED_BAD, ids=range(len(PREFIXED_BAD)))
def test_key_from_bin_rejects_bad_bytes(data: bytes) -> None:
    for loader, validator in ((default_eccrypto.key_from_private_bin, default_eccrypto.is_valid_private_bin),
                              (default_eccrypto.key_from_public_bin, default_eccrypto.is_valid_public_bin)):
        with pytest.raises(InvalidKeyError) as caught:
            loader(data)
        assert str(caught.value)
        assert validator(data) is False


def test_loader_rejects_the_other_kind() -> None:
    with pytest.raises(InvalidKeyError, match="74 bytes|LibNaCLSK"):
        default_eccrypto.key_from_private_bin(CURVE25519_PUBLIC)
    with pytest.raises(InvalidKeyError):
        default_eccrypto.key_from_public_bin(CURVE25519_PRIVATE)
    with pytest.raises(InvalidKeyError):
        default_eccrypto.key_from_public_bin(LEGACY["sect163k1"][0])
    with pytest.raises(InvalidKeyError):
        default_eccrypto.key_from_private_bin(LEGACY["sect163k1"][1])


@pytest.mark.parametrize("value", [None, 12, "LibNaCLPK:" + "a" * 64, ["LibNaCLPK:"], 3.5])
def test_key_from_bin_rejects_non_bytes(value: object) -> None:
    with pytest.raises(InvalidKeyError, match="must be bytes"):
        default_eccrypto.key_from_public_bin(value)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError, match="must be bytes"):
        default_eccrypto.key_from_private_bin(value)  # type: ignore[arg-type]


def test_bytes_like_key_material_is_accepted() -> None:
    assert default_eccrypto.key_from_public_bin(bytearray(CURVE25519_PUBLIC)).key_to_bin() == CURVE25519_PUBLIC
    assert default_eccrypto.key_from_private_bin(memoryview(CURVE25519_PRIVATE)).key_to_bin() == CURVE25519_PRIVATE


def test_error_hierarchy() -> None:
    assert issubclass(InvalidKeyError, KeyVaultError) and issubclass(KeyVaultError, ValueError)
    assert issubclass(UnsupportedCurveError, InvalidKeyError)
    assert crypto_module.InvalidKeyError is InvalidKeyError


def test_create_signature_needs_a_private_key() -> None:
    key = default_eccrypto.key_from_private_bin(CURVE25519_PRIVATE)
    with pytest.raises(TypeError, match="private key"):
        default_eccrypto.create_signature(key.pub(), MESSAGE)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="private key"):
        default_eccrypto.create_signature(CURVE25519_PRIVATE, MESSAGE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        default_eccrypto.create_signature(key, "text")  # type: ignore[arg-type]


def test_facade_type_errors_for_non_keys() -> None:
    for method in (default_eccrypto.key_to_bin, default_eccrypto.key_to_hash, default_eccrypto.get_signature_length):
        with pytest.raises(TypeError, match="expected an ipv8 Key"):
            method(CURVE25519_PUBLIC)  # type: ignore[arg-type]


def test_is_valid_signature_never_raises() -> None:
    key = default_eccrypto.key_from_private_bin(CURVE25519_PRIVATE)
    signature = key.signature(MESSAGE)

    class Exploding(PublicKey):
        def verify(self, signature: bytes, msg: bytes) -> bool:
            raise RuntimeError("boom")

        def key_to_bin(self) -> bytes:
            return b"x"

        def get_signature_length(self) -> int:
            return 1

        def curve_name(self) -> str:
            return "none"

    assert default_eccrypto.is_valid_signature(key.pub(), MESSAGE, signature) is True
    assert default_eccrypto.is_valid_signature(Exploding(), MESSAGE, signature) is False
    assert default_eccrypto.is_valid_signature(None, MESSAGE, signature) is False  # type: ignore[arg-type]
    assert default_eccrypto.is_valid_signature(key.pub(), None, signature) is False  # type: ignore[arg-type]


def test_ecc_crypto_is_subclassable() -> None:
    class OnlyModern(ECCrypto):
        CURVES = {"default": "curve25519"}

        def __init__(self) -> None:
            self.loaded: list[bytes] = []

        def key_from_public_bin(self, string: bytes) -> PublicKey:
            self.loaded.append(string)
            return super().key_from_public_bin(string)

    crypto = OnlyModern()
    assert crypto.security_levels == ["default"]
    assert isinstance(crypto.generate_key("default"), PrivateKey)
    with pytest.raises(UnknownSecurityLevelError):
        crypto.generate_key("curve25519")
    assert crypto.is_valid_public_bin(CURVE25519_PUBLIC)
    assert crypto.loaded == [CURVE25519_PUBLIC]  # the helper goes through the overridable loader
    assert isinstance(crypto.key_from_public_bin(CURVE25519_PUBLIC), LibNaCLPK)
    assert default_eccrypto.security_levels[0] == "very-low"  # the base class is untouched
