"""HiddenTunnelCommunity on the in-memory network: a seeder found through an introduction point, a rendezvous
point linking both ends, data both ways, and the timeouts.

Six nodes on one :class:`~twisted.internet.task.Clock`: 0 seeds, 1 downloads, 2-5 relay and exit. Exit ports are
mock endpoints on the in-memory internet (:class:`~ipv8.test.mocking.exit_socket.MockExitReactor`), so the
create-e2e, created-e2e and peers-request that travel as data between exits really cross it. The DHT is
:class:`LoopbackDHT`, a provider that keeps announcements in a shared dictionary.
"""
from __future__ import annotations

import hashlib
from typing import Any

from twisted.internet.defer import ensureDeferred, succeed
from twisted.internet.task import Clock

from ipv8.messaging.anonymization.hidden_services import (
    HiddenTunnelCommunity,
    HiddenTunnelSettings,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_ID_PORT,
    CIRCUIT_TYPE_IP_SEEDER,
    CIRCUIT_TYPE_RP_DOWNLOADER,
    CIRCUIT_TYPE_RP_SEEDER,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
    PEER_SOURCE_DHT,
    IntroductionPoint,
)
from ipv8.test.base import TestBase
from ipv8.test.mocking.exit_socket import MockExitReactor
from ipv8.test.mocking.ipv8 import MockIPv8

EXIT_FLAGS = {PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST}
INFO_HASH = hashlib.sha1(b"hidden swarm").digest()
SEEDER, DOWNLOADER = 0, 1


class LoopbackDHT:
    """A DHT provider whose DHT is a dictionary shared by all nodes of a test (what the DHT would hold)."""

    def __init__(self) -> None:
        self.store: dict[bytes, list[IntroductionPoint]] = {}
        self.lookups = 0

    def lookup(self, info_hash: bytes) -> Any:
        self.lookups += 1
        found = [IntroductionPoint(ip.peer, ip.seeder_pk, PEER_SOURCE_DHT, ip.last_seen)
                 for ip in self.store.get(info_hash, [])]
        return succeed((info_hash, found))

    def announce(self, info_hash: bytes, intro_point: IntroductionPoint) -> Any:
        entries = self.store.setdefault(info_hash, [])
        if intro_point not in entries:
            entries.append(intro_point)
        return succeed([])

    def peer_lookup(self, mid: bytes, peer: Any = None) -> Any:
        return succeed(None)


class HiddenTestBase(TestBase[HiddenTunnelCommunity]):
    """Six introduced hidden-services nodes; 2-5 relay and exit."""

    NODES = 6

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        # Far from 0, so that the swarms' "last DHT lookup at 0" is long ago.
        self.clock.advance(10_000)
        self.dht = LoopbackDHT()
        return result

    def settings(self) -> HiddenTunnelSettings:
        return HiddenTunnelSettings(clock=self.clock, exit_reactor=MockExitReactor(self.internet),
                                    remove_tunnel_delay=0, max_circuits=1, dht_provider=self.dht)

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8("curve25519", HiddenTunnelCommunity, self.settings(), internet=self.internet)

    async def start(self) -> None:
        self.initialize(HiddenTunnelCommunity, self.NODES)
        for index in range(self.NODES):
            # The two ends join nobody's circuits: every hop is one of the four relays.
            self.overlay(index).settings.peer_flags = set() if index in (SEEDER, DOWNLOADER) else EXIT_FLAGS
        await self.introduce_nodes()

    async def settle(self, rounds: int = 6) -> None:
        """Deliver, run what is due on the clock, deliver again."""
        for _ in range(rounds):
            await self.deliver_messages()
            self.clock.advance(0.1)
        await self.deliver_messages()

    async def seed(self, hops: int = 1) -> None:
        seeder = self.overlay(SEEDER)
        seeder.join_swarm(INFO_HASH, hops, seeding=True)
        done = ensureDeferred(seeder.create_introduction_point(INFO_HASH))
        await self.settle()
        await done

    def intro_point_nodes(self) -> list[int]:
        return [i for i in range(self.NODES) if self.overlay(i).intro_point_for]


class TestHiddenServices(HiddenTestBase):
    """The whole flow and its failure modes."""

    async def connect(self) -> list[tuple]:
        """Seed, then download until the e2e callback reports the seeder; returns the callback's addresses."""
        await self.seed()
        found: list[tuple] = []
        downloader = self.overlay(DOWNLOADER)
        downloader.join_swarm(INFO_HASH, 1, found.append, seeding=False)
        downloader.do_circuits()
        await self.settle()
        downloader.do_peer_discovery()
        await self.settle(12)
        return found

    async def test_introduction_point(self) -> None:
        await self.start()
        await self.seed()
        intro = self.intro_point_nodes()
        self.assertEqual(1, len(intro))
        seeder_pk = self.overlay(SEEDER).swarms[INFO_HASH].seeder_sk.pub().key_to_bin()
        self.assertIn(seeder_pk, self.overlay(intro[0]).intro_point_for)
        # Announced in the DHT, with the introduction point's key and the seeder key.
        announced = self.dht.store[INFO_HASH]
        self.assertEqual([self.key_bin(intro[0])], [ip.peer.public_key.key_to_bin() for ip in announced])
        self.assertEqual(seeder_pk, announced[0].seeder_pk)
        ip_circuits = [c for c in self.overlay(SEEDER).circuits.values() if c.ctype == CIRCUIT_TYPE_IP_SEEDER]
        self.assertEqual(2, ip_circuits[0].goal_hops)  # one hop more than the swarm's

    async def test_e2e_connection_and_data(self) -> None:
        await self.start()
        found = await self.connect()
        self.assertEqual(1, len(found))
        address = found[0]
        self.assertEqual(CIRCUIT_ID_PORT, address[1])
        downloader, seeder = self.overlay(DOWNLOADER), self.overlay(SEEDER)
        circuit = downloader.circuits[downloader.ip_to_circuit_id(address[0])]
        self.assertTrue(circuit.e2e)
        self.assertEqual(CIRCUIT_TYPE_RP_DOWNLOADER, circuit.ctype)
        self.assertEqual(1, downloader.swarms[INFO_HASH].get_num_connections())
        # The rendezvous point joined two circuits: two rendezvous routes, no exit sockets left for them.
        rendezvous = [i for i in range(2, self.NODES)
                      if any(r.rendezvous_relay for r in self.overlay(i).relay_from_to.values())]
        self.assertEqual(1, len(rendezvous))
        self.assertFalse(self.overlay(rendezvous[0]).rendezvous_point_for)

        received: list[tuple[str, bytes]] = []
        seeder.on_raw_data = lambda c, origin, data: received.append((c.ctype, data))  # type: ignore[method-assign]
        downloader.tunnel_data(circuit, address, "data", b"hello seeder")
        await self.settle(2)
        self.assertEqual([(CIRCUIT_TYPE_RP_SEEDER, b"hello seeder")], received)

        back: list[bytes] = []
        downloader.on_raw_data = lambda c, origin, data: back.append(data)  # type: ignore[method-assign]
        rp_circuit = next(c for c in seeder.circuits.values() if c.ctype == CIRCUIT_TYPE_RP_SEEDER)
        seeder.tunnel_data(rp_circuit, ("0.0.0.0", 0), "data", b"hello downloader")
        await self.settle(2)
        self.assertEqual([b"hello downloader"], back)

    async def test_register_service(self) -> None:
        """The documented interface: both ends register, find each other, and exchange data."""
        await self.start()
        peers: dict[int, list[tuple]] = {SEEDER: [], DOWNLOADER: []}
        data: dict[int, list[bytes]] = {SEEDER: [], DOWNLOADER: []}
        for node in (SEEDER, DOWNLOADER):
            self.overlay(node).register_service(
                "my service identifier", 1, peers[node].append,
                on_data=lambda address, payload, n=node: data[n].append(payload))
        await self.settle()
        # Both ends seed the service: two seeder keys introduced.
        self.assertEqual(2, sum(len(self.overlay(i).intro_point_for) for i in range(self.NODES)))
        self.overlay(DOWNLOADER).do_peer_discovery()
        await self.settle(12)
        self.assertTrue(peers[DOWNLOADER])
        address = peers[DOWNLOADER][0]
        downloader = self.overlay(DOWNLOADER)
        # The documentation's example: any data circuit as first argument; the e2e address picks the circuit.
        downloader.tunnel_data(downloader.active_data_circuits()[0], address, "data", "my message to this peer")
        await self.settle(2)
        self.assertEqual([b"my message to this peer"], data[SEEDER])
        self.assertEqual(1, len(peers[SEEDER]))
        seeder = self.overlay(SEEDER)
        seeder.tunnel_data(seeder.active_data_circuits()[0], peers[SEEDER][0], "data", b"reply")
        await self.settle(2)
        self.assertEqual([b"reply"], data[DOWNLOADER])

    async def test_lookup_finds_nothing(self) -> None:
        await self.start()
        found: list[tuple] = []
        downloader = self.overlay(DOWNLOADER)
        downloader.join_swarm(INFO_HASH, 1, found.append, seeding=False)
        downloader.do_circuits()
        await self.settle()
        downloader.do_peer_discovery()
        await self.settle()
        self.assertEqual(1, self.dht.lookups)
        self.assertEqual([], downloader.swarms[INFO_HASH].intro_points)
        self.assertEqual([], found)
        self.assertFalse(downloader.request_cache._caches)

    async def test_intro_point_dies(self) -> None:
        await self.start()
        await self.seed()
        intro = self.intro_point_nodes()[0]
        seeder = self.overlay(SEEDER)
        self.assertTrue(any(c.ctype == CIRCUIT_TYPE_IP_SEEDER for c in seeder.circuits.values()))
        self.node(intro).endpoint.close()  # the introduction point goes offline
        # Pings go unanswered: after max_time_inactive the introduction circuit is gone.
        for _ in range(40):
            self.clock.advance(1)
            await self.deliver_messages()
        self.assertFalse(any(c.ctype == CIRCUIT_TYPE_IP_SEEDER for c in seeder.circuits.values()))

    async def test_rendezvous_times_out(self) -> None:
        """A rendezvous point that never confirms: the seeder gives it up and removes the circuit."""
        await self.start()
        seeder = self.overlay(SEEDER)
        seeder.join_swarm(INFO_HASH, 1, seeding=True)
        seeder.do_circuits()
        await self.settle()
        for index in range(2, self.NODES):
            # Every relay ignores establish-rendezvous.
            self.overlay(index).decode_map_private[11] = lambda *args: None
        result = ensureDeferred(seeder.create_rendezvous_point(INFO_HASH))
        await self.settle()
        rp = await result
        self.assertIsNotNone(rp)
        outcome: list[Any] = []
        rp.ready.addCallback(outcome.append)
        self.clock.advance(11)
        await self.deliver_messages()
        self.assertEqual([None], outcome)
        self.assertNotIn(rp.circuit.circuit_id, [c for c, x in seeder.circuits.items() if x.state == "READY"])

    async def test_intro_point_times_out(self) -> None:
        await self.start()
        for index in range(2, self.NODES):
            self.overlay(index).decode_map_private[9] = lambda *args: None
        await self.seed()
        seeder = self.overlay(SEEDER)
        self.assertTrue(any(c.ctype == CIRCUIT_TYPE_IP_SEEDER for c in seeder.circuits.values()))
        self.clock.advance(11)
        await self.deliver_messages()
        self.assertFalse([c for c in seeder.circuits.values()
                          if c.ctype == CIRCUIT_TYPE_IP_SEEDER and c.state == "READY"])

    async def test_intro_circuit_lives_max_time_ip(self) -> None:
        """Introduction circuits are kept for max_time_ip, not max_time (and then go)."""
        await self.start()
        seeder = self.overlay(SEEDER)
        seeder.settings.max_time = 20
        seeder.settings.max_time_ip = 60
        await self.seed()

        def ip_circuits() -> list:
            return [c for c in seeder.circuits.values() if c.ctype == CIRCUIT_TYPE_IP_SEEDER]
        for _ in range(40):  # well past max_time; pings keep it active
            self.clock.advance(1)
            await self.deliver_messages()
        self.assertEqual(1, len(ip_circuits()))
        for _ in range(30):
            self.clock.advance(1)
            await self.deliver_messages()
        self.assertEqual([], ip_circuits())

    async def test_leave_swarm(self) -> None:
        await self.start()
        found = await self.connect()
        self.assertEqual(1, len(found))
        downloader, seeder = self.overlay(DOWNLOADER), self.overlay(SEEDER)
        downloader.leave_swarm(INFO_HASH)
        seeder.leave_swarm(INFO_HASH)
        await self.settle()
        self.assertEqual({}, downloader.swarms)
        for overlay in (downloader, seeder):
            self.assertFalse([c for c in overlay.circuits.values()
                              if c.ctype in (CIRCUIT_TYPE_RP_DOWNLOADER, CIRCUIT_TYPE_RP_SEEDER, CIRCUIT_TYPE_IP_SEEDER)])
        # The destroys reached the introduction and rendezvous points: nothing is left there.
        for index in range(2, self.NODES):
            self.assertEqual({}, self.overlay(index).intro_point_for)
            self.assertFalse([r for r in self.overlay(index).relay_from_to.values() if r.rendezvous_relay])

    async def test_service_rebuilds_lost_intro_point(self) -> None:
        """A registered service gets a new introduction point when its introduction point goes offline."""
        await self.start()
        seeder = self.overlay(SEEDER)
        seeder.register_service(b"service", 1)
        await self.settle()
        self.clock.advance(5)  # the upkeep now has a data circuit to build the introduction circuit with
        await self.settle()
        first = self.intro_point_nodes()
        self.assertEqual(1, len(first))
        self.node(first[0]).endpoint.close()
        for _ in range(60):
            self.clock.advance(1)
            await self.deliver_messages()
        now = [i for i in self.intro_point_nodes() if i != first[0]]
        self.assertEqual(1, len(now))
        ready = [c for c in seeder.circuits.values() if c.ctype == CIRCUIT_TYPE_IP_SEEDER and c.state == "READY"]
        self.assertEqual(now[0], self.index_of(ready[0].hops[-1].public_key_bin))

    def index_of(self, key_bin: bytes) -> int:
        return next(i for i in range(self.NODES) if self.key_bin(i) == key_bin)


def test_caches_importable_from_pyipv8_path() -> None:
    """pyipv8 3.2.1 defines the hidden-services caches in ``anonymization.caches``: that import path works."""
    from ipv8.messaging.anonymization import _hidden_caches, caches

    for name in ("E2ERequestCache", "IPRequestCache", "LinkRequestCache", "PeersRequestCache", "RPRequestCache"):
        assert getattr(caches, name) is getattr(_hidden_caches, name)
        assert name in caches.__all__
