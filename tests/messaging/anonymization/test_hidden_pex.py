"""PexCommunity: pyipv8 3.2.1's community ids and extra bytes (vectors), hostile extra bytes, and PEX answering
peers-requests of downloaders that reach an introduction point through their circuit's exit."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization.pex import (
    DROP_PEX_BAD_EXTRA_BYTES,
    INTRO_POINT_TTL,
    MAX_INTRO_POINTS,
    PexCommunity,
    PexSettings,
    pex_community_id,
)
from ipv8.messaging.anonymization.tunnel import PEER_SOURCE_PEX, IntroductionPoint
from ipv8.messaging.serialization import default_serializer
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.base import TestBase
from ipv8.test.mocking.endpoint import AutoMockEndpoint

from .test_hidden_services import INFO_HASH, SEEDER, HiddenTestBase

VECTORS = json.loads((Path(__file__).parent / "pex_vectors.json").read_text())


def make_pex(info_hash: bytes, clock: Clock | None = None) -> PexCommunity:
    endpoint = AutoMockEndpoint()
    endpoint.open()
    return PexCommunity(PexSettings(my_peer=Peer(default_eccrypto.generate_key("curve25519")), endpoint=endpoint,
                                    network=Network(), info_hash=info_hash, clock=clock or Clock()))


class TestPexVectors(TestBase):
    """What pyipv8 3.2.1 computes, byte for byte."""

    def test_community_ids(self) -> None:
        for entry in VECTORS["community_ids"]:
            info_hash = bytes.fromhex(entry["info_hash"])
            self.assertEqual(entry["community_id"], pex_community_id(info_hash).hex())
            pex = make_pex(info_hash)
            self.assertEqual(entry["prefix"], pex.get_prefix().hex())
            pex.endpoint.close()

    def test_extra_bytes(self) -> None:
        pex = make_pex(bytes(20))
        for entry in VECTORS["extra_bytes"]:
            keys = [bytes.fromhex(k) for k in entry["seeder_keys"]]
            self.assertEqual(entry["extra_bytes"], default_serializer.pack("varlenH-list", keys).hex())
            if len(keys) <= 1:
                pex.intro_points_for = keys
                self.assertEqual(entry["extra_bytes"], pex.get_seeder_pks().hex())

    def test_info_hash_must_be_20_bytes(self) -> None:
        with self.assertRaises(ValueError):
            pex_community_id(b"short")


class TestPexCommunity(TestBase):
    """Learning introduction points from neighbours, with caps and expiry."""

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.clock.advance(1000)
        self.pex = make_pex(INFO_HASH, self.clock)
        self.neighbour = Peer(default_eccrypto.generate_key("curve25519"), ("1.2.3.4", 5))
        return result

    def tearDown(self) -> Any:
        self.pex.endpoint.close()
        return super().tearDown()

    def test_learn_and_forget(self) -> None:
        keys = [default_eccrypto.generate_key("curve25519").pub().key_to_bin() for _ in range(3)]
        self.pex.process_extra_bytes(self.neighbour, default_serializer.pack("varlenH-list", keys))
        learnt = self.pex.get_intro_points()
        self.assertEqual(set(keys), {ip.seeder_pk for ip in learnt})
        self.assertTrue(all(ip.source == PEER_SOURCE_PEX and ip.peer == self.neighbour for ip in learnt))
        self.clock.advance(INTRO_POINT_TTL + 1)
        self.assertEqual([], self.pex.get_intro_points())

    def test_announce(self) -> None:
        key = default_eccrypto.generate_key("curve25519").pub().key_to_bin()
        self.assertTrue(self.pex.done)
        self.pex.start_announce(key)
        self.pex.start_announce(key)
        self.assertEqual([key], [ip.seeder_pk for ip in self.pex.get_intro_points()])
        self.assertFalse(self.pex.done)
        self.pex.stop_announce(key)
        self.assertTrue(self.pex.done)

    def test_garbage_extra_bytes(self) -> None:
        self.pex.process_extra_bytes(self.neighbour, b"\x05\x00\x05ab")  # five keys promised, two bytes given
        self.assertEqual(1, self.pex.drop_counts[DROP_PEX_BAD_EXTRA_BYTES])
        self.pex.process_extra_bytes(self.neighbour, default_serializer.pack("varlenH-list", [b"x" * 500]))
        self.assertEqual(2, self.pex.drop_counts[DROP_PEX_BAD_EXTRA_BYTES])
        self.assertEqual([], self.pex.get_intro_points())

    def test_memory_is_bounded(self) -> None:
        for i in range(10):
            neighbour = Peer(default_eccrypto.generate_key("curve25519"), ("1.2.3.4", 100 + i))
            keys = [bytes([i, j]) * 10 for j in range(10)]
            self.pex.process_extra_bytes(neighbour, default_serializer.pack("varlenH-list", keys))
        self.assertEqual(MAX_INTRO_POINTS, len(self.pex.get_intro_points()))
        # More than 10 keys in one message: the rest are not read.
        keys = [bytes([99, j]) * 10 for j in range(50)]
        self.pex.process_extra_bytes(self.neighbour, default_serializer.pack("varlenH-list", keys))
        self.assertEqual(1, self.pex.drop_counts[DROP_PEX_BAD_EXTRA_BYTES])
        self.assertEqual(MAX_INTRO_POINTS, len(self.pex.intro_points))


class TestPexInHiddenServices(HiddenTestBase):
    """An introduction point loads the swarm's PEX overlay and answers peers-requests from it."""

    async def start(self) -> None:
        await super().start()
        for index in range(self.NODES):
            self.overlay(index).ipv8 = self.node(index)

    async def test_pex_lookup_through_intro_point(self) -> None:
        await self.start()
        await self.seed()
        intro = self.intro_point_nodes()[0]
        intro_overlay = self.overlay(intro)
        pex = intro_overlay.pex[INFO_HASH]
        self.assertIn(pex, self.node(intro).overlays)
        seeder_pk = self.overlay(SEEDER).swarms[INFO_HASH].seeder_sk.pub().key_to_bin()
        self.assertEqual([seeder_pk], pex.intro_points_for)

        downloader = self.overlay(1)
        swarm = downloader.join_swarm(INFO_HASH, 1, seeding=False)
        downloader.do_circuits()
        await self.settle()
        target = IntroductionPoint(Peer(intro_overlay.my_peer.public_key.key_to_bin(), self.address(intro)),
                                   seeder_pk, PEER_SOURCE_PEX)
        lookup = ensureDeferred(swarm.lookup(target))
        await self.settle()
        found = await lookup
        self.assertEqual([(self.key_bin(intro), seeder_pk, PEER_SOURCE_PEX)],
                         [(ip.peer.public_key.key_to_bin(), ip.seeder_pk, ip.source) for ip in found])

    async def test_pex_unloaded_with_intro_point(self) -> None:
        await self.start()
        await self.seed()
        intro = self.intro_point_nodes()[0]
        intro_overlay = self.overlay(intro)
        pex = intro_overlay.pex[INFO_HASH]
        circuit_id = next(iter(intro_overlay.intro_point_for.values()))[0].circuit_id
        await intro_overlay.remove_exit_socket(circuit_id, "test")
        self.assertEqual({}, intro_overlay.intro_point_for)
        self.assertNotIn(INFO_HASH, intro_overlay.pex)
        self.assertNotIn(pex, self.node(intro).overlays)

    async def test_estimate_swarm_size(self) -> None:
        """The DHT names the introduction point, whose PEX overlay names the seeder: one seeder."""
        await self.start()
        await self.seed()
        downloader = self.overlay(1)
        downloader.build_tunnels(1)
        await self.settle()
        (circuit,) = downloader.find_circuits(hops=1)
        (intro,) = self.intro_point_nodes()
        estimate = ensureDeferred(downloader.estimate_swarm_size(INFO_HASH, hops=1))
        await self.settle(12)
        self.assertEqual(1, await estimate)
        # The exit of the downloader's circuit asked the DHT, unless it is the introduction point itself.
        self.assertEqual(0 if circuit.hop.public_key_bin == self.key_bin(intro) else 1, self.dht.lookups)
