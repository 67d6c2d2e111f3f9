"""Storage: expiry on the clock, versions of signed values, caps, and refusal of forged or oversized values."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from ipv8.dht.payload import MAX_ENTRY_SIZE, decode_value, encode_signed_value, encode_value
from ipv8.dht.storage import MAX_ENTRY_AGE, Storage, StoreOutcome
from ipv8.keyvault.crypto import default_eccrypto

KEYS = [default_eccrypto.key_from_private_bin(
    b"LibNaCLSK:" + hashlib.sha512(f"txipv8 storage test {index}".encode()).digest()) for index in range(4)]
KEY = hashlib.sha1(b"some key").digest()  # noqa: S324
OTHER_KEY = hashlib.sha1(b"another key").digest()  # noqa: S324


def signed(data: bytes, version: int, signer: int = 0) -> bytes:
    return encode_signed_value(data, KEYS[signer], version)


def test_the_age_limit_is_pyipv8_3_2_1s() -> None:
    assert MAX_ENTRY_AGE == 3600
    assert MAX_ENTRY_SIZE == 170


def test_values_expire_on_the_clock_and_refresh_when_stored_again() -> None:
    clock = Clock()
    storage = Storage(clock)
    assert storage.put(KEY, encode_value(b"a")) is StoreOutcome.STORED
    assert storage.put(KEY, encode_value(b"b"), max_age=10) is StoreOutcome.STORED
    assert storage.get(KEY) == [encode_value(b"b"), encode_value(b"a")]  # most recent first
    clock.advance(10.5)
    assert storage.get(KEY) == [encode_value(b"a")]
    assert storage.items_older_than(10) == [(KEY, encode_value(b"a"))]
    clock.advance(MAX_ENTRY_AGE - 20)
    assert storage.put(KEY, encode_value(b"a")) is StoreOutcome.UPDATED  # refreshed, not duplicated
    clock.advance(20)
    assert storage.get(KEY) == [encode_value(b"a")] and storage.items_older_than(10) == [(KEY, encode_value(b"a"))]
    assert storage.clean() == 1 and len(storage) == 1  # only "b" was really expired
    clock.advance(MAX_ENTRY_AGE)
    assert storage.get(KEY) == [] and storage.items == {} and storage.keys() == []
    assert storage.clean() == 1 and len(storage) == 0


def test_get_pages_with_offset_and_limit() -> None:
    storage = Storage(Clock())
    values = [encode_value(bytes([index])) for index in range(10)]
    for value in values:
        storage.put(KEY, value)
    newest_first = values[::-1]
    assert storage.get(KEY) == newest_first
    assert storage.get(KEY, starting_point=3, limit=4) == newest_first[3:7]
    assert storage.get(KEY, starting_point=8, limit=8) == newest_first[8:]
    assert storage.get(OTHER_KEY) == []
    assert [value.data for value in storage.items[KEY]] == newest_first


def test_newest_version_of_a_signed_value_wins() -> None:
    clock = Clock()
    storage = Storage(clock)
    assert storage.put(KEY, signed(b"v1", 100)) is StoreOutcome.STORED
    assert storage.put(KEY, signed(b"v2", 200)) is StoreOutcome.UPDATED
    assert storage.get(KEY) == [signed(b"v2", 200)]
    # Replayed older versions are refused and counted.
    assert storage.put(KEY, signed(b"v1", 100)) is StoreOutcome.STALE_VERSION
    assert storage.put(KEY, signed(b"v0", 199)) is StoreOutcome.STALE_VERSION
    assert storage.refusals == {"stale-version": 2}
    # The same version again (a re-publication) refreshes the value.
    clock.advance(MAX_ENTRY_AGE - 1)
    assert storage.put(KEY, signed(b"v2", 200)) is StoreOutcome.UPDATED
    clock.advance(2)
    assert storage.get(KEY) == [signed(b"v2", 200)]
    # Other signers and other keys are independent.
    assert storage.put(KEY, signed(b"x", 1, signer=1)) is StoreOutcome.STORED
    assert storage.put(OTHER_KEY, signed(b"v1", 100)) is StoreOutcome.STORED
    assert len(storage.get(KEY)) == 2
    stored = {value.public_key: value.version for value in storage.values_of(KEY)}
    assert stored == {KEYS[0].pub().key_to_bin(): 200, KEYS[1].pub().key_to_bin(): 1}


def test_an_expired_signed_value_still_blocks_its_older_versions_for_a_while() -> None:
    clock = Clock()
    storage = Storage(clock)
    storage.put(KEY, signed(b"new", 500), max_age=60)
    clock.advance(61)
    assert storage.get(KEY) == []
    assert storage.put(KEY, signed(b"old", 400)) is StoreOutcome.STALE_VERSION
    assert storage.put(KEY, signed(b"new", 500)) is StoreOutcome.STORED
    storage.remove(KEY)
    clock.advance(Storage.TOMBSTONE_TIME + 1)
    assert storage.clean() == 0
    assert storage.put(KEY, signed(b"old", 400)) is StoreOutcome.STORED


def test_forged_damaged_and_oversized_values_are_refused() -> None:
    storage = Storage(Clock())
    good = signed(b"hello", 7)
    forged_signature = good[:-1] + bytes([good[-1] ^ 0x80])
    forged_data = good[:4] + b"j" + good[5:]
    key_start = 1 + 2 + 5 + 4 + 2
    other_signer = good[:key_start] + KEYS[1].pub().key_to_bin() + good[key_start + 74:]
    too_big = encode_value(bytes(MAX_ENTRY_SIZE))
    cases = [(forged_signature, StoreOutcome.BAD_SIGNATURE), (forged_data, StoreOutcome.BAD_SIGNATURE),
             (other_signer, StoreOutcome.BAD_SIGNATURE), (good[:-3], StoreOutcome.MALFORMED),
             (good + b"\x00", StoreOutcome.MALFORMED), (b"", StoreOutcome.MALFORMED),
             (b"\x07abc", StoreOutcome.MALFORMED), (b"\x01\x00", StoreOutcome.MALFORMED),
             (good[:key_start] + b"LibNaCLSK:" + good[key_start + 10:], StoreOutcome.MALFORMED),
             (too_big, StoreOutcome.OVERSIZED)]
    for value, outcome in cases:
        assert storage.put(KEY, value) is outcome, value.hex()
        assert not outcome.accepted
    assert storage.put(b"short", encode_value(b"x")) is StoreOutcome.BAD_KEY
    assert len(storage) == 0
    assert storage.refusals == {"bad-signature": 3, "malformed": 6, "oversized": 1, "bad-key": 1}
    # The largest allowed value is fine.
    assert storage.put(KEY, encode_value(bytes(MAX_ENTRY_SIZE - 1))).accepted


class SmallStorage(Storage):
    MAX_VALUES_PER_KEY = 3
    MAX_VALUES = 5


def test_per_key_cap_drops_expired_then_oldest() -> None:
    clock = Clock()
    storage = SmallStorage(clock)
    storage.put(KEY, encode_value(b"short-lived"), max_age=5)
    storage.put(KEY, encode_value(b"b"))
    storage.put(KEY, encode_value(b"c"))
    clock.advance(6)
    storage.put(KEY, encode_value(b"d"))  # the expired one makes room
    assert storage.evictions == {}
    storage.put(KEY, encode_value(b"e"))  # now the oldest live one goes
    assert storage.get(KEY) == [encode_value(b"e"), encode_value(b"d"), encode_value(b"c")]
    assert storage.evictions == {"per-key": 1}


def test_total_cap_drops_the_value_stored_longest_ago() -> None:
    clock = Clock()
    storage = SmallStorage(clock)
    keys = [hashlib.sha1(bytes([index])).digest() for index in range(6)]  # noqa: S324
    for key in keys[:5]:
        storage.put(key, encode_value(key))
        clock.advance(1)
    storage.put(keys[0], encode_value(keys[0]))  # refreshed: no longer the oldest
    storage.put(keys[5], encode_value(keys[5]))
    assert len(storage) == 5 and storage.get(keys[1]) == [] and storage.get(keys[0]) == [encode_value(keys[0])]
    assert storage.evictions == {"total": 1}


@settings(max_examples=60, deadline=None)
@given(operations=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 1000),
                                     st.floats(0, 200), st.booleans()), max_size=60))
def test_caps_hold_and_the_newest_version_per_signer_is_what_is_returned(operations: list) -> None:
    clock = Clock()
    storage = SmallStorage(clock)
    newest: dict[tuple[int, int], int] = {}
    accepted_at: dict[tuple[int, int], float] = {}
    for key_index, signer, version, pause, use_signature in operations:
        key = hashlib.sha1(bytes([key_index])).digest()  # noqa: S324
        value = signed(b"d", version, signer) if use_signature else encode_value(bytes([signer, version % 256]))
        outcome = storage.put(key, value)
        if use_signature and outcome.accepted:
            # Within the tombstone time of the last acceptance, an older version can never get back in.
            if clock.seconds() - accepted_at.get((key_index, signer), -1e9) < Storage.TOMBSTONE_TIME:
                assert version >= newest[(key_index, signer)]
            newest[(key_index, signer)] = version
            accepted_at[(key_index, signer)] = clock.seconds()
        assert len(storage) <= SmallStorage.MAX_VALUES
        assert all(len(storage.values_of(k)) <= SmallStorage.MAX_VALUES_PER_KEY for k in storage.keys())
        clock.advance(pause)
    for key, values in storage.items.items():
        for stored in values:
            decoded = decode_value(stored.data)
            assert not stored.expired and stored.version == decoded.version
            if decoded.signed:
                signer = next(i for i, k in enumerate(KEYS) if k.pub().key_to_bin() == decoded.public_key)
                key_index = next(i for i in range(4) if hashlib.sha1(bytes([i])).digest() == key)  # noqa: S324
                assert decoded.version == newest[(key_index, signer)]


def test_stored_values_carry_their_metadata() -> None:
    clock = Clock()
    clock.advance(1000)
    storage = Storage(clock)
    storage.put(KEY, signed(b"meta", 42), max_age=100)
    (value,) = storage.values_of(KEY)
    assert (value.version, value.max_age, value.last_update) == (42, 100, 1000)
    assert value.public_key == KEYS[0].pub().key_to_bin() and value.id == hashlib.sha1(value.public_key).digest()  # noqa: S324
    clock.advance(30)
    assert value.age == 30 and not value.expired
    assert list(storage) == [(KEY, value)]


@pytest.mark.parametrize("version", [-1, 2**32])
def test_versions_outside_32_bits_cannot_be_encoded(version: int) -> None:
    from ipv8.messaging.serialization import PackError
    with pytest.raises(PackError):
        signed(b"x", version)
