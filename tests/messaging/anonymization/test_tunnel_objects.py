"""The tunnel state objects (ipv8.messaging.anonymization.tunnel), driven by a twisted Clock."""
from __future__ import annotations

import unittest
from typing import Any

from twisted.internet.defer import (
    CancelledError,
    Deferred,
    ensureDeferred,
    fail,
    succeed,
)
from twisted.internet.task import Clock

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.anonymization.tunnel import (
    BACKWARD,
    CIRCUIT_STATE_CLOSING,
    CIRCUIT_STATE_EXTENDING,
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_DATA,
    CIRCUIT_TYPE_IP_SEEDER,
    CIRCUIT_TYPE_RP_DOWNLOADER,
    CIRCUIT_TYPE_RP_SEEDER,
    DESTROY_REASON_SHUTDOWN,
    DESTROY_REASON_UNKNOWN,
    DESTROY_REASON_UNNEEDED,
    FORWARD,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
    PEER_SOURCE_DHT,
    PEER_SOURCE_PEX,
    PEER_SOURCE_UNKNOWN,
    Circuit,
    CircuitStateError,
    Hop,
    IntroductionPoint,
    RelayRoute,
    RendezvousPoint,
    Swarm,
    Tunnel,
)
from ipv8.peer import Peer


def make_peer(port: int = 1000) -> Peer:
    return Peer(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address("127.0.0.1", port))


def result_of(deferred: Deferred) -> Any:
    """The result of an already fired Deferred (fails the test if it has not fired)."""
    box: list[Any] = []
    deferred.addBoth(box.append)
    assert box, "the Deferred has not fired"
    return box[0]


class TestConstants(unittest.TestCase):
    def test_wire_values(self) -> None:
        # Peer flags travel as a bitmask in introduction extra bytes: the values are wire facts of 3.2.1.
        self.assertEqual((PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST), (1, 2, 4, 8))
        self.assertEqual((DESTROY_REASON_UNKNOWN, DESTROY_REASON_SHUTDOWN, DESTROY_REASON_UNNEEDED), (1, 2, 4))
        self.assertEqual((FORWARD, BACKWARD), (0, 1))
        self.assertEqual((PEER_SOURCE_UNKNOWN, PEER_SOURCE_DHT, PEER_SOURCE_PEX), (0, 1, 2))

    def test_names_shown_by_rest(self) -> None:
        self.assertEqual([CIRCUIT_STATE_READY, CIRCUIT_STATE_EXTENDING, CIRCUIT_STATE_CLOSING],
                         ["READY", "EXTENDING", "CLOSING"])
        self.assertEqual([CIRCUIT_TYPE_DATA, CIRCUIT_TYPE_IP_SEEDER, CIRCUIT_TYPE_RP_SEEDER, CIRCUIT_TYPE_RP_DOWNLOADER],
                         ["DATA", "IP_SEEDER", "RP_SEEDER", "RP_DOWNLOADER"])


class TestHop(unittest.TestCase):
    def test_properties_come_from_the_peer(self) -> None:
        peer = make_peer(1234)
        hop = Hop(peer, keys="session-keys", flags=[PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT])
        self.assertEqual(hop.address, ("127.0.0.1", 1234))
        self.assertEqual(hop.public_key_bin, peer.public_key.key_to_bin())
        self.assertEqual(hop.mid, peer.mid)
        self.assertIs(hop.public_key, peer.public_key)
        self.assertEqual(hop.keys, "session-keys")
        self.assertIsNone(Hop(peer).flags)
        self.assertIsNone(Hop(peer).dh_secret)


class TestRoutingObject(unittest.TestCase):
    def test_times_and_traffic_follow_the_clock(self) -> None:
        clock = Clock()
        clock.advance(100)
        tunnel = Tunnel(7, clock=clock)
        self.assertEqual((tunnel.creation_time, tunnel.last_activity), (100, 100))
        clock.advance(30)
        self.assertEqual((tunnel.age(), tunnel.idle_time()), (30, 30))
        tunnel.beat_heart()
        clock.advance(5)
        self.assertEqual((tunnel.age(), tunnel.idle_time(), tunnel.last_activity), (35, 5, 130))
        tunnel.bytes_up += 10
        tunnel.bytes_down += 32
        self.assertEqual(tunnel.total_bytes, 42)


class TestCircuit(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)

    def test_extending_to_ready(self) -> None:
        circuit = Circuit(11, goal_hops=2, clock=self.clock)
        self.assertEqual(circuit.state, CIRCUIT_STATE_EXTENDING)
        self.assertEqual(circuit.ctype, CIRCUIT_TYPE_DATA)
        self.assertIsNone(circuit.hop)
        early = circuit.ready
        self.assertFalse(early.called)

        first = Hop(make_peer(1), flags=[PEER_FLAG_RELAY])
        circuit.unverified_hop = first
        self.assertIs(circuit.hop, first)  # cells go to the hop being created
        circuit.add_hop(first)
        self.assertIsNone(circuit.unverified_hop)
        self.assertEqual(circuit.state, CIRCUIT_STATE_EXTENDING)
        self.assertFalse(early.called)
        self.assertEqual(circuit.exit_flags, [PEER_FLAG_RELAY])

        second = Hop(make_peer(2), flags=[PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8])
        circuit.unverified_hop = second
        self.assertIs(circuit.hop, first)  # the first verified hop stays the one cells are sent to
        circuit.add_hop(second)
        self.assertEqual(circuit.state, CIRCUIT_STATE_READY)
        self.assertIs(result_of(early), circuit)
        self.assertIs(result_of(circuit.ready), circuit)  # asked afterwards: already fired
        self.assertEqual([h.mid for h in circuit.hops], [first.peer.mid, second.peer.mid])
        self.assertEqual(circuit.exit_flags, [PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8])

    def test_hops_are_read_only(self) -> None:
        circuit = Circuit(1, goal_hops=1, clock=self.clock)
        self.assertIsInstance(circuit.hops, tuple)
        self.assertEqual(circuit.exit_flags, [])
        circuit.add_hop(Hop(make_peer()))
        self.assertEqual(circuit.exit_flags, [])  # a hop without known flags

    def test_every_awaiter_gets_the_circuit(self) -> None:
        circuit = Circuit(12, goal_hops=1, clock=self.clock)
        seen: list[Any] = []

        async def waiter() -> None:
            seen.append(await circuit.ready)

        ensureDeferred(waiter())
        ensureDeferred(waiter())
        ensureDeferred(waiter())
        self.assertEqual(seen, [])
        circuit.add_hop(Hop(make_peer()))
        self.assertEqual(seen, [circuit, circuit, circuit])

    def test_close_while_extending_fires_none(self) -> None:
        circuit = Circuit(13, goal_hops=3, clock=self.clock)
        pending = circuit.ready
        circuit.add_hop(Hop(make_peer()))
        circuit.close("extend timed out")
        self.assertEqual(circuit.state, CIRCUIT_STATE_CLOSING)
        self.assertIsNone(result_of(pending))
        self.assertIsNone(result_of(circuit.ready))
        self.assertEqual(circuit.closing_info, "extend timed out")
        with self.assertRaises(CircuitStateError):
            circuit.add_hop(Hop(make_peer()))
        self.assertEqual(len(circuit.hops), 1)

    def test_close_after_ready(self) -> None:
        circuit = Circuit(14, goal_hops=1, clock=self.clock)
        circuit.add_hop(Hop(make_peer()))
        circuit.close("unneeded")
        circuit.close("second reason")  # a no-op: the first reason stays
        self.assertEqual(circuit.state, CIRCUIT_STATE_CLOSING)
        self.assertEqual(circuit.closing_info, "unneeded")
        self.assertIs(result_of(circuit.ready), circuit)  # it did become ready; that outcome stays

    def test_no_hops_beyond_the_goal(self) -> None:
        circuit = Circuit(15, goal_hops=1, clock=self.clock)
        circuit.add_hop(Hop(make_peer()))
        with self.assertRaises(CircuitStateError):
            circuit.add_hop(Hop(make_peer()))
        self.assertEqual(len(circuit.hops), 1)

    def test_cancelling_one_waiter_leaves_the_others(self) -> None:
        circuit = Circuit(16, goal_hops=1, clock=self.clock)
        cancelled, kept = circuit.ready, circuit.ready
        cancelled.cancel()
        self.assertIsInstance(result_of(cancelled).value, CancelledError)
        circuit.add_hop(Hop(make_peer()))
        self.assertIs(result_of(kept), circuit)

    def test_zero_hops_is_ready_at_once(self) -> None:
        circuit = Circuit(17, clock=self.clock)
        self.assertEqual(circuit.state, CIRCUIT_STATE_READY)
        self.assertIs(result_of(circuit.ready), circuit)
        with self.assertRaises(ValueError):
            Circuit(18, goal_hops=-1, clock=self.clock)

    def test_bookkeeping_fields(self) -> None:
        exit_peer = make_peer(9)
        circuit = Circuit(19, 2, CIRCUIT_TYPE_IP_SEEDER, exit_peer, b"\x01" * 20,
                          required_exit_flags=[PEER_FLAG_EXIT_IPV8], clock=self.clock)
        self.assertEqual(circuit.creation_time, 1000)
        self.assertIs(circuit.required_exit, exit_peer)
        self.assertEqual(circuit.required_exit_flags, frozenset({PEER_FLAG_EXIT_IPV8}))
        self.assertEqual(circuit.info_hash, b"\x01" * 20)
        self.assertEqual((circuit.bytes_up, circuit.bytes_down, circuit.relay_early_count), (0, 0, 0))
        self.assertFalse(circuit.e2e)
        self.clock.advance(12)
        circuit.beat_heart()
        self.assertEqual(circuit.last_activity, 1012)
        self.assertIn("EXTENDING", repr(circuit))


class TestRelayAndRendezvous(unittest.TestCase):
    def test_relay_route(self) -> None:
        clock = Clock()
        hop = Hop(make_peer(), keys="k")
        route = RelayRoute(21, hop, FORWARD, clock=clock)
        self.assertEqual((route.circuit_id, route.direction, route.rendezvous_relay), (21, FORWARD, False))
        self.assertIs(route.hop, hop)
        self.assertEqual(route.relay_early_count, 1)  # the extend that created it was relay_early
        self.assertTrue(RelayRoute(22, hop, BACKWARD, True, clock=clock).rendezvous_relay)

    def test_rendezvous_point_ready(self) -> None:
        circuit = Circuit(30, goal_hops=1, clock=Clock())
        point = RendezvousPoint(circuit, b"c" * 20)
        self.assertIsNone(point.address)
        pending = point.ready
        self.assertTrue(point.set_ready(True))
        self.assertFalse(point.set_ready(False))  # only the first outcome counts
        self.assertIs(result_of(pending), point)
        self.assertIs(result_of(point.ready), point)

        failed = RendezvousPoint(circuit, b"d" * 20)
        failed.set_ready(False)
        self.assertIsNone(result_of(failed.ready))


class TestIntroductionPoint(unittest.TestCase):
    def test_last_seen_and_dict(self) -> None:
        clock = Clock()
        clock.advance(1234.7)
        peer = make_peer(4321)
        point = IntroductionPoint(peer, b"seeder-key", PEER_SOURCE_PEX, clock=clock)
        self.assertEqual(point.last_seen, 1234)
        self.assertEqual(point.to_dict(), {
            "address": {"ip": "127.0.0.1", "port": 4321, "public_key": peer.public_key.key_to_bin().hex()},
            "seeder_pk": b"seeder-key".hex(),
            "source": PEER_SOURCE_PEX})
        self.assertEqual(point, IntroductionPoint(peer, b"seeder-key", PEER_SOURCE_DHT, 5))
        self.assertNotEqual(point, IntroductionPoint(peer, b"other-key", clock=clock))


class TestSwarm(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(10_000)
        self.calls: list[tuple[bytes, Any, int]] = []
        self.answers: dict[Any, Deferred] = {}

    def lookup(self, info_hash: bytes, target: IntroductionPoint | None, hops: int) -> Deferred:
        self.calls.append((info_hash, target, hops))
        return self.answers.get(target, succeed([]))

    def make_swarm(self) -> Swarm:
        return Swarm(b"i" * 20, 1, self.lookup, clock=self.clock)

    def point(self, source: int = PEER_SOURCE_PEX, seeder: bytes = b"s1") -> IntroductionPoint:
        return IntroductionPoint(make_peer(), seeder, source, clock=self.clock)

    def test_intro_points_refresh_and_expire(self) -> None:
        swarm = self.make_swarm()
        first = self.point()
        self.assertIs(swarm.add_intro_point(first), first)
        old = swarm.add_intro_point(self.point(seeder=b"s2"))
        self.clock.advance(100)
        duplicate = IntroductionPoint(first.peer, first.seeder_pk, clock=self.clock)
        self.assertIs(swarm.add_intro_point(duplicate), first)  # the known one, refreshed
        self.assertEqual(first.last_seen, 10_100)
        self.assertEqual(old.last_seen, 10_000)
        self.clock.advance(150)
        swarm.remove_old_intro_points()  # `old` is 250 s old, `first` 150 s (max_ip_age 180)
        self.assertEqual(swarm.intro_points, [first])
        swarm.remove_intro_point(first)
        swarm.remove_intro_point(first)
        self.assertEqual(swarm.intro_points, [])

    def test_connections_and_totals(self) -> None:
        swarm = self.make_swarm()
        circuit = Circuit(40, goal_hops=1, clock=self.clock)
        via = self.point(seeder=b"seeder")
        swarm.add_connection(circuit, via)
        self.assertTrue(swarm.has_connection(b"seeder"))
        self.assertEqual((swarm.get_num_connections(), swarm.get_num_connections_incomplete()), (0, 1))
        circuit.add_hop(Hop(make_peer()))
        circuit.e2e = True
        circuit.bytes_up, circuit.bytes_down = 100, 300
        self.assertEqual((swarm.get_num_connections(), swarm.get_num_connections_incomplete()), (1, 0))
        self.assertEqual((swarm.get_total_up(), swarm.get_total_down()), (100, 300))
        self.assertEqual(swarm.get_num_seeders(), 1)
        self.assertTrue(swarm.remove_connection(circuit))
        self.assertFalse(swarm.remove_connection(circuit))
        self.assertEqual((swarm.get_total_up(), swarm.get_total_down()), (100, 300))  # kept in the history
        self.assertFalse(swarm.seeding)
        self.assertTrue(Swarm(b"i" * 20, 1, self.lookup, seeder_sk=object(), clock=self.clock).seeding)

    def test_lookup_uses_the_dht_first_then_pex(self) -> None:
        swarm = self.make_swarm()
        from_dht = self.point(PEER_SOURCE_DHT)
        self.answers[None] = succeed([from_dht])
        self.assertEqual(result_of(swarm.lookup()), [from_dht])
        self.assertEqual(self.calls, [(b"i" * 20, None, 1)])
        self.assertEqual((swarm.last_lookup, swarm.last_dht_response), (10_000, 10_000))

        # Within the DHT interval and with an introduction point known: PEX through it; a failing one is skipped.
        known, broken = swarm.add_intro_point(self.point()), swarm.add_intro_point(self.point(seeder=b"s9"))
        from_pex = self.point(seeder=b"s3")
        self.answers[known] = succeed([from_pex])
        self.answers[broken] = fail(RuntimeError("unreachable"))
        self.clock.advance(60)
        self.assertEqual(result_of(swarm.lookup()), [from_pex])
        self.assertEqual([target for _, target, _ in self.calls[1:]], [known, broken])
        self.assertEqual(swarm.last_dht_response, 10_000)  # nothing from the DHT this time

        # Once the DHT interval passed, the DHT is asked again.
        self.clock.advance(301)
        again = self.point(PEER_SOURCE_DHT, seeder=b"s4")
        self.answers[None] = succeed([again])
        self.assertEqual(result_of(swarm.lookup()), [again])
        self.assertIsNone(self.calls[-1][1])
        self.assertEqual(swarm.last_dht_response, 10_361)

    def test_lookup_with_nothing_due(self) -> None:
        swarm = self.make_swarm()
        swarm.last_dht_response = self.clock.seconds() - 10  # recent DHT answer, no introduction points
        self.assertIsNone(result_of(swarm.lookup()))
        self.assertEqual(self.calls, [])

    def test_manual_lookup(self) -> None:
        swarm = self.make_swarm()
        target = self.point()
        self.assertEqual(result_of(swarm.lookup(target)), [])
        self.assertEqual(self.calls, [(b"i" * 20, target, 1)])
