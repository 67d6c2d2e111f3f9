"""curve25519 keys (LibNaCLSK / LibNaCLPK): formats, fixed vectors, signatures and key agreement."""
from __future__ import annotations

from hashlib import sha1

import pytest

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.exceptions import InvalidKeyError, KeyExchangeError
from ipv8.keyvault.keys import Key, PrivateKey, PublicKey
from ipv8.keyvault.private.libnaclkey import LibNaCLPK as ReexportedPK
from ipv8.keyvault.private.libnaclkey import LibNaCLSK
from ipv8.keyvault.public.libnaclkey import LibNaCLPK

from .vectors import (
    CURVE25519_CRYPT_PK_2,
    CURVE25519_MID,
    CURVE25519_PRIVATE,
    CURVE25519_PRIVATE_2,
    CURVE25519_PUBLIC,
    CURVE25519_SHARED,
    CURVE25519_SIGNATURE,
    MESSAGE,
)


@pytest.fixture
def key() -> LibNaCLSK:
    return default_eccrypto.generate_key("curve25519")  # type: ignore[return-value]


def test_generated_key_layout(key: LibNaCLSK) -> None:
    private_bin, public_bin = key.key_to_bin(), key.pub().key_to_bin()
    assert isinstance(key, LibNaCLSK) and isinstance(key, PrivateKey)
    assert isinstance(key.pub(), LibNaCLPK) and isinstance(key.pub(), PublicKey)
    assert private_bin.startswith(b"LibNaCLSK:") and len(private_bin) == 74
    assert public_bin.startswith(b"LibNaCLPK:") and len(public_bin) == 74
    assert public_bin[10:42] == key.get_crypt_pk() == key.pub().get_crypt_pk()
    assert public_bin[42:] == key.pub().verify_key
    assert key.has_secret_key() and not key.pub().has_secret_key()
    assert key.get_signature_length() == key.pub().get_signature_length() == 64
    assert key.curve_name() == "curve25519"
    assert ReexportedPK is LibNaCLPK


def test_generated_keys_differ() -> None:
    first, second = LibNaCLSK(), LibNaCLSK()
    assert first.key_to_bin() != second.key_to_bin()
    assert first.key_to_hash() != second.key_to_hash()


def test_round_trip_through_bytes(key: LibNaCLSK) -> None:
    private = default_eccrypto.key_from_private_bin(key.key_to_bin())
    public = default_eccrypto.key_from_public_bin(key.pub().key_to_bin())
    assert private == key and hash(private) == hash(key)
    assert public == key.pub() and hash(public) == hash(key.pub())
    assert private.key_to_bin() == key.key_to_bin()
    assert public.key_to_bin() == key.pub().key_to_bin()
    assert public.verify(private.signature(MESSAGE), MESSAGE)


def test_equality_and_hashing_follow_the_bytes(key: LibNaCLSK) -> None:
    copy = LibNaCLSK(key.key_to_bin())
    table = {key.pub(): "peer"}
    assert table[copy.pub()] == "peer"
    assert key != key.pub()  # different bytes: private vs public
    assert key != LibNaCLSK()
    assert key != key.key_to_bin()  # not equal to raw bytes either
    assert len({key, copy, key.pub(), copy.pub()}) == 2


def test_fixed_vector_public_key_and_mid() -> None:
    key = default_eccrypto.key_from_private_bin(CURVE25519_PRIVATE)
    assert key.key_to_bin() == CURVE25519_PRIVATE
    assert key.pub().key_to_bin() == CURVE25519_PUBLIC
    assert key.key_to_hash() == key.pub().key_to_hash() == CURVE25519_MID
    assert default_eccrypto.key_to_hash(default_eccrypto.key_from_public_bin(CURVE25519_PUBLIC)) == CURVE25519_MID
    assert CURVE25519_MID == sha1(CURVE25519_PUBLIC).digest()


def test_fixed_vector_signature_is_deterministic() -> None:
    key = default_eccrypto.key_from_private_bin(CURVE25519_PRIVATE)
    assert key.signature(MESSAGE) == CURVE25519_SIGNATURE
    assert default_eccrypto.create_signature(key, MESSAGE) == CURVE25519_SIGNATURE
    public = default_eccrypto.key_from_public_bin(CURVE25519_PUBLIC)
    assert public.verify(CURVE25519_SIGNATURE, MESSAGE)
    assert default_eccrypto.is_valid_signature(public, MESSAGE, CURVE25519_SIGNATURE)


def test_fixed_vector_key_agreement() -> None:
    first = default_eccrypto.key_from_private_bin(CURVE25519_PRIVATE)
    second = default_eccrypto.key_from_private_bin(CURVE25519_PRIVATE_2)
    assert second.get_crypt_pk() == CURVE25519_CRYPT_PK_2
    assert first.diffie_hellman(second.pub().get_crypt_pk()) == CURVE25519_SHARED
    assert second.diffie_hellman(first.get_crypt_pk()) == CURVE25519_SHARED
    assert first.key_exchange(CURVE25519_CRYPT_PK_2) == CURVE25519_SHARED


def test_key_agreement_between_fresh_keys(key: LibNaCLSK) -> None:
    other = LibNaCLSK()
    assert key.diffie_hellman(other.get_crypt_pk()) == other.diffie_hellman(key.pub().get_crypt_pk())
    assert key.diffie_hellman(other.get_crypt_pk()) != key.diffie_hellman(LibNaCLSK().get_crypt_pk())


@pytest.mark.parametrize("peer", [b"", b"\x01" * 31, b"\x01" * 33, "x" * 32, None])
def test_key_agreement_rejects_malformed_peer_keys(key: LibNaCLSK, peer: object) -> None:
    with pytest.raises(KeyExchangeError, match="32 bytes"):
        key.diffie_hellman(peer)  # type: ignore[arg-type]


def test_key_agreement_rejects_low_order_points(key: LibNaCLSK) -> None:
    with pytest.raises(KeyExchangeError, match="low-order"):
        key.diffie_hellman(bytes(32))
    with pytest.raises(KeyExchangeError, match="low-order"):
        key.diffie_hellman(b"\x01" + bytes(31))


def test_sign_and_verify(key: LibNaCLSK) -> None:
    signature = key.signature(MESSAGE)
    assert len(signature) == 64
    assert key.pub().verify(signature, MESSAGE)
    assert key.verify(signature, MESSAGE)  # a private key can check its own signatures
    assert key.pub().verify(key.signature(b""), b"")
    big = bytes(range(256)) * 4096
    assert key.pub().verify(key.signature(big), big)


@pytest.mark.parametrize("position", [0, 5, len(MESSAGE) - 1])
def test_tampered_message_fails(key: LibNaCLSK, position: int) -> None:
    signature = key.signature(MESSAGE)
    tampered = bytearray(MESSAGE)
    tampered[position] ^= 0x01
    assert not key.pub().verify(signature, bytes(tampered))
    assert not default_eccrypto.is_valid_signature(key.pub(), bytes(tampered), signature)
    assert not key.pub().verify(signature, MESSAGE + b"\x00")


@pytest.mark.parametrize("position", [0, 31, 32, 63])
def test_tampered_signature_fails(key: LibNaCLSK, position: int) -> None:
    signature = bytearray(key.signature(MESSAGE))
    signature[position] ^= 0x80
    assert not key.pub().verify(bytes(signature), MESSAGE)


def test_signature_of_another_key_fails(key: LibNaCLSK) -> None:
    assert not key.pub().verify(LibNaCLSK().signature(MESSAGE), MESSAGE)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 63, b"\x00" * 65, b"\x00" * 128, b"\xff" * 64])
def test_wrong_length_or_garbage_signature_is_false(key: LibNaCLSK, signature: bytes) -> None:
    assert key.pub().verify(signature, MESSAGE) is False
    assert default_eccrypto.is_valid_signature(key.pub(), MESSAGE, signature) is False


@pytest.mark.parametrize("bad", [None, 64, "s" * 64, ["x"] * 64, object()])
def test_non_bytes_arguments_verify_false(key: LibNaCLSK, bad: object) -> None:
    signature = key.signature(MESSAGE)
    assert key.pub().verify(bad, MESSAGE) is False  # type: ignore[arg-type]
    assert key.pub().verify(signature, bad) is False  # type: ignore[arg-type]
    assert default_eccrypto.is_valid_signature(key.pub(), bad, signature) is False  # type: ignore[arg-type]
    assert default_eccrypto.is_valid_signature(key.pub(), MESSAGE, bad) is False  # type: ignore[arg-type]


def test_bytes_like_arguments_are_accepted(key: LibNaCLSK) -> None:
    signature = key.signature(bytearray(MESSAGE))
    assert signature == key.signature(memoryview(MESSAGE))
    assert key.pub().verify(bytearray(signature), memoryview(MESSAGE))


@pytest.mark.parametrize("bad", ["text", None, 7])
def test_signing_non_bytes_raises_type_error(key: LibNaCLSK, bad: object) -> None:
    with pytest.raises(TypeError, match="can only sign bytes"):
        key.signature(bad)  # type: ignore[arg-type]


def test_constructors_accept_bodies_and_halves() -> None:
    reference = LibNaCLSK(CURVE25519_PRIVATE)
    assert LibNaCLSK(CURVE25519_PRIVATE[10:]) == reference
    body = CURVE25519_PUBLIC[10:]
    assert LibNaCLPK(body) == LibNaCLPK(CURVE25519_PUBLIC) == reference.pub()
    assert LibNaCLPK(pk=body[:32], vk=body[32:]) == reference.pub()
    assert LibNaCLPK(pk=body[:32], hex_vk=body[32:].hex()) == reference.pub()
    assert LibNaCLPK(pk=body[:32], hex_vk=body[32:].hex().encode()) == reference.pub()


@pytest.mark.parametrize("arguments", [
    {"binarykey": b"\x00" * 63},
    {"binarykey": b"\x00" * 65},
    {"binarykey": "LibNaCLPK:" + "0" * 64},
    {"pk": b"\x00" * 32},
    {"pk": b"\x00" * 31, "vk": b"\x00" * 32},
    {"pk": b"\x00" * 32, "hex_vk": "not hex"},
    {"pk": b"\x00" * 32, "hex_vk": 12},
])
def test_public_constructor_rejects_bad_material(arguments: dict) -> None:
    with pytest.raises(InvalidKeyError):
        LibNaCLPK(**arguments)


@pytest.mark.parametrize("binarykey", [b"\x00" * 63, b"\x00" * 75, b"LibNaCLSK:" + b"\x00" * 63, 5])
def test_private_constructor_rejects_bad_material(binarykey: object) -> None:
    with pytest.raises(InvalidKeyError):
        LibNaCLSK(binarykey)  # type: ignore[arg-type]


def test_repr_shows_mid_but_no_secret() -> None:
    key = LibNaCLSK(CURVE25519_PRIVATE)
    text = repr(key)
    assert CURVE25519_MID.hex() in text and "LibNaCLSK" in text
    assert CURVE25519_PRIVATE[10:].hex()[:16] not in text
    assert repr(key.pub()).startswith("<LibNaCLPK curve25519 mid=")


def test_abstract_interfaces_cannot_be_instantiated() -> None:
    for interface in (Key, PrivateKey, PublicKey):
        with pytest.raises(TypeError):
            interface()  # type: ignore[abstract]
