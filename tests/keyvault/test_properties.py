"""Property tests: arbitrary input never escapes the documented exceptions."""
from __future__ import annotations

from hashlib import sha1

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipv8.keyvault.crypto import InvalidKeyError, default_eccrypto
from ipv8.keyvault.private.libnaclkey import LibNaCLSK

from .vectors import CURVE25519_PRIVATE, LEGACY

KEY = LibNaCLSK(CURVE25519_PRIVATE)
PUBLIC = KEY.pub()
fast = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

prefixes = st.sampled_from([b"", b"LibNaCLSK:", b"LibNaCLPK:", b"\x30", b"\x30\x81", b"\x30\x53\x02\x01\x01\x04",
                            LEGACY["sect163k1"][0][:20], LEGACY["sect163k1"][1][:25]])
key_like_bytes = st.builds(lambda prefix, tail: prefix + tail, prefixes, st.binary(max_size=300))


def _load_or_invalid(loader, data: bytes) -> bool:
    """Return True if ``loader`` accepted the bytes; fail the test on any undocumented exception."""
    try:
        key = loader(data)
    except InvalidKeyError:
        return False
    assert key.key_to_bin()  # a loaded key must serialise
    return True


@fast
@given(key_like_bytes)
def test_random_bytes_to_loaders_raise_only_invalid_key_error(data: bytes) -> None:
    accepted_private = _load_or_invalid(default_eccrypto.key_from_private_bin, data)
    accepted_public = _load_or_invalid(default_eccrypto.key_from_public_bin, data)
    assert default_eccrypto.is_valid_private_bin(data) is accepted_private
    assert default_eccrypto.is_valid_public_bin(data) is accepted_public
    if data.startswith((b"LibNaCLSK:", b"LibNaCLPK:")):
        # A curve25519 key loads exactly when it has the full length.
        assert (accepted_private or accepted_public) is (len(data) == 74)


@fast
@given(st.integers(min_value=0, max_value=240), st.integers(min_value=0, max_value=255), st.sampled_from(list(LEGACY)))
def test_mutated_legacy_keys_raise_only_invalid_key_error(position: int, value: int, curve: str) -> None:
    for index, loader in ((0, default_eccrypto.key_from_private_bin), (1, default_eccrypto.key_from_public_bin)):
        original = LEGACY[curve][index]
        spot = position % len(original)
        mutated = original[:spot] + bytes([value]) + original[spot + 1:]
        _load_or_invalid(loader, mutated)
        _load_or_invalid(loader, original[:spot])


@fast
@given(st.binary(min_size=64, max_size=64))
def test_any_64_byte_public_body_round_trips(body: bytes) -> None:
    key = default_eccrypto.key_from_public_bin(b"LibNaCLPK:" + body)
    assert key.key_to_bin() == b"LibNaCLPK:" + body
    assert key.key_to_hash() == sha1(b"LibNaCLPK:" + body).digest()
    assert key.verify(bytes(64), b"message") is False


@fast
@given(st.binary(min_size=64, max_size=64), st.binary(max_size=512))
def test_any_private_body_signs_and_verifies(body: bytes, message: bytes) -> None:
    key = default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + body)
    assert key.key_to_bin() == b"LibNaCLSK:" + body
    public = default_eccrypto.key_from_public_bin(key.pub().key_to_bin())
    assert key.key_to_hash() == public.key_to_hash()
    signature = key.signature(message)
    assert public.verify(signature, message)
    assert not public.verify(signature, message + b"\x00")


@fast
@given(st.binary(max_size=200), st.binary(max_size=256))
def test_random_signatures_do_not_verify(signature: bytes, message: bytes) -> None:
    assert PUBLIC.verify(signature, message) is False
    assert default_eccrypto.is_valid_signature(PUBLIC, message, signature) is False


@fast
@given(st.binary(min_size=1, max_size=256), st.data())
def test_any_bit_flip_in_message_or_signature_is_detected(message: bytes, data: st.DataObject) -> None:
    signature = KEY.signature(message)
    bit = data.draw(st.integers(min_value=0, max_value=len(message) * 8 - 1))
    flipped_message = bytearray(message)
    flipped_message[bit // 8] ^= 1 << (bit % 8)
    assert not PUBLIC.verify(signature, bytes(flipped_message))
    sig_bit = data.draw(st.integers(min_value=0, max_value=511))
    flipped_signature = bytearray(signature)
    flipped_signature[sig_bit // 8] ^= 1 << (sig_bit % 8)
    assert not PUBLIC.verify(bytes(flipped_signature), message)


@fast
@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers()), st.floats()))
def test_non_bytes_never_raise_from_verification(value: object) -> None:
    assert default_eccrypto.is_valid_signature(PUBLIC, value, bytes(64)) is False  # type: ignore[arg-type]
    assert default_eccrypto.is_valid_signature(PUBLIC, b"msg", value) is False  # type: ignore[arg-type]
    assert PUBLIC.verify(value, value) is False  # type: ignore[arg-type]
