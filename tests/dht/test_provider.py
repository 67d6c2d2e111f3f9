"""DHTCommunityProvider: introduction points through a real (in-memory) DHT, and pyipv8 3.2.1's value bytes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.payload import MAX_ENTRY_SIZE, encode_value
from ipv8.dht.provider import (
    SKIP_BAD_INTRO_KEY,
    SKIP_BAD_SEEDER_KEY,
    SKIP_MALFORMED,
    SKIP_UNUSABLE_ADDRESS,
    DHTCommunityProvider,
    DHTIntroPointPayload,
    IntroPointDecodeError,
    decode_intro_point,
    encode_intro_point,
)
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization.tunnel import (
    PEER_SOURCE_DHT,
    PEER_SOURCE_UNKNOWN,
    IntroductionPoint,
)
from ipv8.messaging.serialization import default_serializer
from ipv8.peer import Peer
from ipv8.test.base import TestBase

VECTORS = json.loads((Path(__file__).parent / "dht_vectors.json").read_text())
KEYS = {name: default_eccrypto.key_from_private_bin(bytes.fromhex(blob)) for name, blob in VECTORS["keys"].items()}
INFO_HASH = b"\x17" * 20


def vector_address(blob: dict) -> tuple:
    return (UDPv6Address if blob["family"] == "v6" else UDPv4Address)(blob["host"], blob["port"])


def vector_intro_point(record: dict) -> IntroductionPoint:
    """The introduction point of an ``intro_points`` vector, built from our own classes."""
    peer = Peer(KEYS[record["intro_key"]].pub(), vector_address(record["address"]))
    return IntroductionPoint(peer, KEYS[record["seeder_key"]].pub().key_to_bin(), last_seen=record["last_seen"])


def new_intro_point(last_seen: int = 1700000000, address: tuple = UDPv4Address("198.18.7.7", 7777)) -> IntroductionPoint:
    intro = default_eccrypto.generate_key("curve25519").pub()
    seeder = default_eccrypto.generate_key("curve25519").pub().key_to_bin()
    return IntroductionPoint(Peer(intro, address), seeder, last_seen=last_seen)


# -- the value format against pyipv8 3.2.1 --------------------------------------------------------------------
def test_vectors_cover_both_families_and_the_extremes_of_last_seen() -> None:
    records = VECTORS["intro_points"]
    assert {record["address"]["family"] for record in records} == {"v4", "v6"}
    assert {0, 4294967295} <= {record["last_seen"] for record in records}


def test_our_encoding_is_pyipv8s() -> None:
    for record in VECTORS["intro_points"]:
        data = encode_intro_point(vector_intro_point(record))
        assert data.hex() == record["data"], record["name"]
        assert encode_value(data).hex() == record["value"], record["name"]
        assert len(encode_value(data)) <= MAX_ENTRY_SIZE


def test_we_read_pyipv8s_values_as_pyipv8_does() -> None:
    for record in VECTORS["intro_points"]:
        intro_point = decode_intro_point(bytes.fromhex(record["data"]))
        expected = record["looked_up"]
        assert type(intro_point.peer.address) is type(vector_address(expected["address"]))
        assert intro_point.peer.address == vector_address(expected["address"])
        assert intro_point.peer.public_key.key_to_bin().hex() == expected["intro_pk"]
        assert intro_point.seeder_pk.hex() == expected["seeder_pk"]
        assert intro_point.source == expected["source"] == PEER_SOURCE_DHT
        assert intro_point.last_seen == expected["last_seen"]
        assert intro_point == vector_intro_point(record)


def test_payload_field_order() -> None:
    record = VECTORS["intro_points"][0]
    payload, end = default_serializer.unpack_serializable(DHTIntroPointPayload, bytes.fromhex(record["data"]))
    assert end == len(record["data"]) // 2
    assert payload.address == vector_address(record["address"])
    assert payload.last_seen == record["last_seen"]
    assert b"LibNaCLPK:" + payload.intro_pk == KEYS[record["intro_key"]].pub().key_to_bin()
    assert b"LibNaCLPK:" + payload.seeder_pk == KEYS[record["seeder_key"]].pub().key_to_bin()


# -- decoding hostile values ------------------------------------------------------------------------------
def decode_reason(data: bytes) -> str:
    try:
        decode_intro_point(data)
    except IntroPointDecodeError as exc:
        return exc.reason
    raise AssertionError("decoded")


def test_garbage_is_refused_with_a_reason() -> None:
    good = encode_intro_point(new_intro_point())
    seeder_pk = default_eccrypto.generate_key("curve25519").pub().key_to_bin()[10:]
    intro_pk = default_eccrypto.generate_key("curve25519").pub().key_to_bin()[10:]
    assert decode_reason(b"") == SKIP_MALFORMED
    assert decode_reason(b"garbage") == SKIP_MALFORMED
    assert decode_reason(good[:-1]) == SKIP_MALFORMED
    pack = default_serializer.pack_serializable
    assert decode_reason(pack(DHTIntroPointPayload(UDPv4Address("0.0.0.0", 0), 1, intro_pk, seeder_pk))) \
        == SKIP_UNUSABLE_ADDRESS
    assert decode_reason(pack(DHTIntroPointPayload(UDPv4Address("198.18.0.1", 1), 1, b"short", seeder_pk))) \
        == SKIP_BAD_INTRO_KEY
    assert decode_reason(pack(DHTIntroPointPayload(UDPv4Address("198.18.0.1", 1), 1, intro_pk, b"x" * 5))) \
        == SKIP_BAD_SEEDER_KEY
    # Trailing bytes are tolerated, as pyipv8 does (room for later fields).
    assert decode_intro_point(good + b"\x00\x01") == decode_intro_point(good)


def test_only_curve25519_keys_and_32_bit_times_can_be_encoded() -> None:
    legacy = default_eccrypto.generate_key("very-low").pub()
    seeder = default_eccrypto.generate_key("curve25519").pub().key_to_bin()
    address = UDPv4Address("198.18.0.1", 1)
    for intro_point in (IntroductionPoint(Peer(legacy, address), seeder, last_seen=1),
                        IntroductionPoint(Peer(default_eccrypto.generate_key("curve25519").pub(), address),
                                          legacy.key_to_bin(), last_seen=1),
                        new_intro_point(last_seen=-1), new_intro_point(last_seen=2 ** 32)):
        try:
            encode_intro_point(intro_point)
        except ValueError:
            continue
        raise AssertionError(f"{intro_point} was encoded")


def test_intro_point_is_plain_data() -> None:
    intro_point = new_intro_point()
    clock = Clock()
    clock.advance(1234.9)
    same = IntroductionPoint(Peer(intro_point.peer.public_key, UDPv4Address("198.18.9.9", 1)), intro_point.seeder_pk,
                             clock=clock)
    assert same.last_seen == 1234
    assert same.source == PEER_SOURCE_UNKNOWN
    assert same == intro_point  # same peer key and seeder key; address, time and source do not count
    assert hash(same) == hash(intro_point)
    assert same != new_intro_point()
    assert same != "an intro point"
    assert "IntroductionPoint(" in repr(same)


# -- through a DHT ------------------------------------------------------------------------------------------
class TestProviderOnADHT(TestBase[DHTDiscoveryCommunity]):
    """A few DHT discovery nodes that know each other; each has a provider."""

    NODES = 4

    def setUp(self) -> Any:
        result = super().setUp()
        self.initialize(DHTDiscoveryCommunity, self.NODES)
        self.providers = [DHTCommunityProvider(self.overlay(i), 8090 + i) for i in range(self.NODES)]
        return result

    async def fill_tables(self) -> None:
        await self.introduce_nodes()
        await self.deliver_messages()

    async def settled(self, deferred: Deferred) -> Any:
        """Deliver messages until ``deferred`` fires; return its result."""
        await self.deliver_messages()
        return await deferred

    async def test_announce_then_lookup(self) -> None:
        await self.fill_tables()
        first, second = new_intro_point(1700000000), new_intro_point(1700000500, UDPv6Address("2001:db8::5", 5))
        stored = await self.settled(self.providers[0].announce(INFO_HASH, first))
        self.assertEqual(len(stored), self.NODES - 1)
        self.assertTrue(await self.settled(self.providers[1].announce(INFO_HASH, second)))

        info_hash, found = await self.settled(self.providers[3].lookup(INFO_HASH))

        self.assertEqual(info_hash, INFO_HASH)
        self.assertEqual(sorted(found, key=lambda ip: ip.last_seen), [first, second])
        for mine, theirs in zip(sorted(found, key=lambda ip: ip.last_seen), [first, second]):
            self.assertEqual(mine.peer.address, theirs.peer.address)
            self.assertEqual(mine.peer.public_key.key_to_bin(), theirs.peer.public_key.key_to_bin())
            self.assertEqual(mine.seeder_pk, theirs.seeder_pk)
            self.assertEqual(mine.last_seen, theirs.last_seen)
            self.assertEqual(mine.source, PEER_SOURCE_DHT)
        self.assertEqual(sum(self.providers[3].skipped.values()), 0)

    async def test_stored_value_is_pyipv8s_bytes(self) -> None:
        await self.fill_tables()
        record = VECTORS["intro_points"][0]
        self.assertTrue(await self.settled(self.providers[0].announce(INFO_HASH, vector_intro_point(record))))
        for i in range(1, self.NODES):
            self.assertEqual(self.overlay(i).storage.get(INFO_HASH), [bytes.fromhex(record["value"])])

    async def test_reannounce_keeps_the_newest(self) -> None:
        await self.fill_tables()
        intro_point = new_intro_point(1000)
        newer = IntroductionPoint(intro_point.peer, intro_point.seeder_pk, last_seen=2000)
        self.assertTrue(await self.settled(self.providers[0].announce(INFO_HASH, intro_point)))
        self.assertTrue(await self.settled(self.providers[0].announce(INFO_HASH, newer)))
        _, found = await self.settled(self.providers[2].lookup(INFO_HASH))
        self.assertEqual([ip.last_seen for ip in found], [2000])

    async def test_garbage_values_are_skipped_and_counted(self) -> None:
        await self.fill_tables()
        good = new_intro_point()
        self.assertTrue(await self.settled(self.overlay(1).store_value(INFO_HASH, b"not an intro point")))
        self.assertTrue(await self.settled(self.overlay(2).store_value(INFO_HASH, b"signed garbage", sign=True)))
        bad_address = default_serializer.pack_serializable(DHTIntroPointPayload(
            UDPv4Address("0.0.0.0", 0), 1, good.peer.public_key.key_to_bin()[10:], good.seeder_pk[10:]))
        self.assertTrue(await self.settled(self.overlay(2).store_value(INFO_HASH, bad_address)))
        self.assertTrue(await self.settled(self.providers[1].announce(INFO_HASH, good)))

        info_hash, found = await self.settled(self.providers[0].lookup(INFO_HASH))

        self.assertEqual(info_hash, INFO_HASH)
        self.assertEqual(found, [good])
        self.assertEqual(self.providers[0].skipped, {SKIP_MALFORMED: 2, SKIP_UNUSABLE_ADDRESS: 1})

    async def test_lookup_of_nothing_is_empty(self) -> None:
        await self.fill_tables()
        self.assertEqual(await self.settled(self.providers[0].lookup(b"\x01" * 20)), (b"\x01" * 20, []))

    async def test_failures_are_not_errors(self) -> None:
        # No introductions yet: the routing tables are empty, so every DHT operation fails.
        self.assertIsNone(await self.providers[0].lookup(INFO_HASH))
        self.assertEqual(await self.providers[0].announce(INFO_HASH, new_intro_point()), [])
        self.assertEqual(await self.providers[0].peer_lookup(self.mid(1)), [])
        await self.fill_tables()
        self.assertIsNone(await self.providers[0].lookup(b"too short"))

    async def test_announce_of_an_unencodable_intro_point_fails(self) -> None:
        legacy = default_eccrypto.generate_key("very-low").pub()
        intro_point = IntroductionPoint(Peer(legacy, UDPv4Address("198.18.0.1", 1)), legacy.key_to_bin())
        with self.assertRaises(ValueError):
            await self.providers[0].announce(INFO_HASH, intro_point)

    async def test_peer_lookup_connects_through_the_dht(self) -> None:
        await self.fill_tables()
        self.assertTrue(await self.settled(self.overlay(1).store_peer()))
        found = await self.settled(self.providers[0].peer_lookup(self.mid(1)))
        self.assertTrue(found)
        self.assertEqual({node.mid for node in found}, {self.mid(1)})

    async def test_peer_lookup_tries_the_given_peer_first(self) -> None:
        await self.fill_tables()
        found = await self.settled(self.providers[0].peer_lookup(self.mid(2), self.peer(2)))
        self.assertEqual([node.mid for node in found], [self.mid(2)])

    async def test_peer_lookup_of_an_unknown_peer_is_empty(self) -> None:
        await self.fill_tables()
        self.assertEqual(await self.settled(self.providers[0].peer_lookup(b"\x05" * 20)), [])


class TestProviderOnAPlainDHT(TestBase):
    """A plain DHTCommunity has no connect_peer: peer_lookup finds nothing instead of failing."""

    async def test_peer_lookup_without_connect_peer(self) -> None:
        from ipv8.dht.community import DHTCommunity
        self.initialize(DHTCommunity, 2)
        provider = DHTCommunityProvider(self.overlay(0), 8090)
        self.assertEqual(await provider.peer_lookup(self.mid(1)), [])
