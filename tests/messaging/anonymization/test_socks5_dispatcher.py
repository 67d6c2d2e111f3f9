"""The SOCKS5 dispatcher: associations onto circuits and back.

The first tests drive :class:`TunnelDispatcher` with a fake community and fake associations on a Clock (mapping,
stability, re-picks, drops, caps, expiry); then the community's raw-data sinks are checked on a real
TunnelCommunity; the last tests run everything for real on 127.0.0.1: a SOCKS5 client, the servers, 1- and 2-hop
circuits between TunnelCommunity peers on UDP sockets, an exit, and a UDP echo service.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest
from zope.interface import implementer

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import DomainAddress, UDPv4Address
from ipv8.messaging.anonymization.community import DROP_TUNNEL_UNCLAIMED_DATA, TunnelCommunity, TunnelSettings
from ipv8.messaging.anonymization.interfaces import IRawDataSink
from ipv8.messaging.anonymization.socks5 import (
    DispatcherSettings,
    ISocksUDPConnection,
    Socks5Client,
    Socks5ConfigurationError,
    Socks5Server,
    Socks5Settings,
    TunnelDispatcher,
    start_socks5_servers,
)
from ipv8.messaging.anonymization.socks5.dispatcher import (
    DROP_ASSOCIATION_CAP,
    DROP_CLIENT_GONE,
    DROP_CLOSED,
    DROP_NO_CIRCUIT,
    DROP_SEND_FAILED,
    NO_ADDRESS,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_CLOSING,
    CIRCUIT_STATE_EXTENDING,
    CIRCUIT_STATE_READY,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
)
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.base import TestBase
from ipv8.test.util import wait_until

DHT_PING = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"


# -- fakes ---------------------------------------------------------------------------------------------------

class FakeHop:
    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address


class FakeCircuit:
    """What the dispatcher reads of a circuit: its id, state, hop count, first hop and exit flags."""

    def __init__(self, circuit_id: int, hops: int, exit_flags: tuple[int, ...] = (PEER_FLAG_EXIT_BT,)) -> None:
        self.circuit_id = circuit_id
        self.goal_hops = hops
        self.state = CIRCUIT_STATE_READY
        self.hop = FakeHop(("127.0.0.1", 10000 + circuit_id))
        self.exit_flags = list(exit_flags)


class FakeCommunity:
    """The parts of TunnelCommunity the dispatcher uses; records every data cell it is asked to send."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.circuits: dict[int, FakeCircuit] = {}
        self.sent: list[tuple[Any, int, Any, Any, bytes]] = []
        self.sinks: list[Any] = []
        self.refuse_sends = False

    def add(self, circuit_id: int, hops: int, **kwargs: Any) -> FakeCircuit:  # noqa: ANN401
        circuit = self.circuits[circuit_id] = FakeCircuit(circuit_id, hops, **kwargs)
        return circuit

    def find_circuits(self, hops: int | None = None, exit_flags: Any = None) -> list[FakeCircuit]:  # noqa: ANN401
        return [c for c in self.circuits.values() if c.state == CIRCUIT_STATE_READY and c.goal_hops == hops
                and (exit_flags is None or set(exit_flags) <= set(c.exit_flags))]

    def send_data(self, target: Any, circuit_id: int, destination: Any, origin: Any, data: bytes) -> bool:  # noqa: ANN401
        if self.refuse_sends:
            return False
        self.sent.append((target, circuit_id, destination, origin, data))
        return True

    def add_raw_data_sink(self, sink: Any) -> None:  # noqa: ANN401
        assert IRawDataSink.providedBy(sink)
        self.sinks.append(sink)

    def remove_raw_data_sink(self, sink: Any) -> bool:  # noqa: ANN401
        self.sinks.remove(sink)
        return True


@implementer(ISocksUDPConnection)
class FakeAssociation:
    """A SOCKS5 association as the dispatcher sees it: its hop count, and where answers to the client go."""

    def __init__(self, hops: int = 1) -> None:
        self.hops = hops
        self.client_address = ("127.0.0.1", 5555)
        self.to_client: list[tuple[Any, bytes]] = []
        self.gone = False

    def send_datagram(self, source: Any, data: bytes) -> bool:  # noqa: ANN401
        if self.gone:
            return False
        self.to_client.append((source, data))
        return True


A = UDPv4Address("127.0.0.1", 6881)
B = UDPv4Address("127.0.0.1", 6882)
C = UDPv4Address("127.0.0.1", 6883)


class DispatcherTestCase(unittest.TestCase):

    def setUp(self) -> None:
        self.clock = Clock()
        self.community = FakeCommunity(self.clock)

    def dispatcher(self, **settings: Any) -> TunnelDispatcher:  # noqa: ANN401
        dispatcher = TunnelDispatcher(self.community, DispatcherSettings(**settings) if settings else None)
        self.addCleanup(dispatcher.close)
        return dispatcher

    def opened(self, dispatcher: TunnelDispatcher, hops: int = 1) -> FakeAssociation:
        association = FakeAssociation(hops)
        dispatcher.on_socks5_association_opened(association)
        return association


class TestOutbound(DispatcherTestCase):
    """Client datagrams onto circuits."""

    def test_registers_as_raw_data_sink_until_closed(self) -> None:
        dispatcher = self.dispatcher()
        self.assertEqual([dispatcher], self.community.sinks)
        self.assertIs(self.clock, dispatcher.clock)
        dispatcher.close()
        dispatcher.close()
        self.assertEqual([], self.community.sinks)

    def test_datagrams_go_through_a_circuit_of_the_associations_hops(self) -> None:
        one, two = self.community.add(1, hops=1), self.community.add(2, hops=2)
        dispatcher = self.dispatcher()
        single, double = self.opened(dispatcher, 1), self.opened(dispatcher, 2)
        self.assertTrue(dispatcher.on_socks5_udp_data(single, A, b"x"))
        self.assertTrue(dispatcher.on_socks5_udp_data(double, A, b"yy"))
        self.assertEqual([(one.hop.address, 1, A, NO_ADDRESS, b"x"), (two.hop.address, 2, A, NO_ADDRESS, b"yy")],
                         self.community.sent)
        self.assertIs(one, dispatcher.circuit_for(single, A))
        self.assertIs(two, dispatcher.circuit_for(double, A))
        stats = dispatcher.statistics
        self.assertEqual((2, 3, 2, {}), (stats.datagrams_out, stats.bytes_out, stats.routes_created, stats.drops))

    def test_mapping_is_stable_and_destinations_are_spread(self) -> None:
        for circuit_id in (1, 2, 3):
            self.community.add(circuit_id, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        for _ in range(3):
            for destination in (A, B, C):
                dispatcher.on_socks5_udp_data(association, destination, b"d")
        by_destination = {destination: {cid for _, cid, dest, _, _ in self.community.sent if dest == destination}
                          for destination in (A, B, C)}
        self.assertEqual({A: {1}, B: {2}, C: {3}}, by_destination)  # round robin, then each one kept
        self.assertEqual(3, dispatcher.statistics.routes_created)
        self.assertEqual([A, B, C], dispatcher.destinations_of(association))

    def test_host_names_are_destinations_of_their_own(self) -> None:
        self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        name = DomainAddress("tracker.invalid", 6969)
        self.assertTrue(dispatcher.on_socks5_udp_data(association, name, b"announce"))
        self.assertEqual((1, name), self.community.sent[0][1:3])

    def test_same_destination_of_two_associations_prefers_separate_circuits(self) -> None:
        self.community.add(1, hops=1)
        self.community.add(2, hops=1)
        dispatcher = self.dispatcher()
        first, second = self.opened(dispatcher), self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(first, A, b"1")
        dispatcher._next_pick = 0  # the round robin would now pick circuit 1 again
        dispatcher.on_socks5_udp_data(second, A, b"2")
        self.assertEqual((1, 2), (dispatcher.circuit_for(first, A).circuit_id,
                                  dispatcher.circuit_for(second, A).circuit_id))

    def test_dead_circuit_is_replaced(self) -> None:
        first = self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(association, A, b"before")
        first.state = CIRCUIT_STATE_CLOSING
        second = self.community.add(2, hops=1)
        dispatcher.on_socks5_udp_data(association, A, b"after")
        self.assertEqual([1, 2], [cid for _, cid, _, _, _ in self.community.sent])
        self.assertIs(second, dispatcher.circuit_for(association, A))
        self.assertEqual(1, dispatcher.statistics.repicks)
        # Answers still arriving on the dead circuit no longer map to this destination, but the new one does.
        dispatcher.on_raw_data(second, A, b"answer")
        self.assertEqual([(A, b"answer")], association.to_client)

    def test_no_ready_circuit_drops_and_never_queues(self) -> None:
        building = self.community.add(1, hops=1)
        building.state = CIRCUIT_STATE_EXTENDING
        self.community.add(2, hops=2)  # ready, but of another length
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        for _ in range(5):
            self.assertFalse(dispatcher.on_socks5_udp_data(association, A, b"lost"))
        self.assertEqual([], self.community.sent)
        self.assertEqual({DROP_NO_CIRCUIT: 5}, dispatcher.statistics.drops)
        self.assertEqual([], dispatcher.destinations_of(association))
        building.state = CIRCUIT_STATE_READY
        self.assertTrue(dispatcher.on_socks5_udp_data(association, A, b"sent"))
        self.assertEqual([b"sent"], [data for *_, data in self.community.sent])  # nothing older came along

    def test_a_dying_circuit_with_no_replacement_drops(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(association, A, b"ok")
        circuit.state = CIRCUIT_STATE_CLOSING
        self.assertFalse(dispatcher.on_socks5_udp_data(association, A, b"lost"))
        self.assertEqual({DROP_NO_CIRCUIT: 1}, dispatcher.statistics.drops)
        self.assertIsNone(dispatcher.circuit_for(association, A))
        # Late answers on the closing circuit still reach its last user, until the next sweep forgets it.
        self.assertTrue(dispatcher.on_raw_data(circuit, A, b"late"))
        self.assertEqual([(A, b"late")], association.to_client)
        self.clock.advance(5)
        self.assertFalse(dispatcher.on_raw_data(circuit, A, b"later"))

    def test_exit_flags_filter(self) -> None:
        self.community.add(1, hops=1, exit_flags=())
        dispatcher = self.dispatcher(exit_flags={PEER_FLAG_EXIT_BT})
        association = self.opened(dispatcher)
        self.assertFalse(dispatcher.on_socks5_udp_data(association, A, b"x"))
        self.community.add(2, hops=1)
        self.assertTrue(dispatcher.on_socks5_udp_data(association, A, b"x"))
        self.assertEqual(2, self.community.sent[0][1])

    def test_send_failure_is_counted(self) -> None:
        self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        self.community.refuse_sends = True
        self.assertFalse(dispatcher.on_socks5_udp_data(association, A, b"x"))
        self.assertEqual({DROP_SEND_FAILED: 1}, dispatcher.statistics.drops)
        self.assertEqual(0, dispatcher.statistics.datagrams_out)


class TestInbound(DispatcherTestCase):
    """Circuit data back to the right client."""

    def test_answers_reach_the_association_that_sent_to_the_origin(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        first, second = self.opened(dispatcher), self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(first, A, b"to a")
        dispatcher.on_socks5_udp_data(second, B, b"to b")
        self.assertTrue(dispatcher.on_raw_data(circuit, A, b"from a"))
        self.assertTrue(dispatcher.on_raw_data(circuit, B, b"from b"))
        self.assertEqual([(A, b"from a")], first.to_client)
        self.assertEqual([(B, b"from b")], second.to_client)
        self.assertEqual((2, 12), (dispatcher.statistics.datagrams_in, dispatcher.statistics.bytes_in))

    def test_unknown_origin_goes_to_the_circuits_latest_user(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        first, second = self.opened(dispatcher), self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(first, A, b"x")
        dispatcher.on_socks5_udp_data(second, B, b"y")
        self.assertTrue(dispatcher.on_raw_data(circuit, C, b"incoming"))
        self.assertEqual([], first.to_client)
        self.assertEqual([(C, b"incoming")], second.to_client)

    def test_circuits_nobody_mapped_are_declined(self) -> None:
        mapped, other = self.community.add(1, hops=1), self.community.add(2, hops=2)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(association, A, b"x")
        self.assertFalse(dispatcher.on_raw_data(other, A, b"not ours"))
        self.assertTrue(dispatcher.on_raw_data(mapped, A, b"ours"))
        self.assertEqual([(A, b"ours")], association.to_client)

    def test_client_that_cannot_be_written_to_is_counted(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(association, A, b"x")
        association.gone = True
        self.assertTrue(dispatcher.on_raw_data(circuit, A, b"late"))
        self.assertEqual({DROP_CLIENT_GONE: 1}, dispatcher.statistics.drops)

    def test_closed_association_is_forgotten(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(association, A, b"x")
        dispatcher.on_socks5_association_closed(association)
        self.assertEqual(0, dispatcher.association_count)
        self.assertFalse(dispatcher.on_raw_data(circuit, A, b"late"))
        self.assertFalse(dispatcher.on_raw_data(circuit, C, b"late"))
        self.assertEqual([], association.to_client)


class TestBounds(DispatcherTestCase):
    """Caps and idle expiry."""

    def test_association_cap(self) -> None:
        self.community.add(1, hops=1)
        dispatcher = self.dispatcher(max_associations=2)
        first, second, third = self.opened(dispatcher), self.opened(dispatcher), self.opened(dispatcher)
        self.assertEqual(2, dispatcher.association_count)
        self.assertTrue(dispatcher.on_socks5_udp_data(first, A, b"x"))
        self.assertTrue(dispatcher.on_socks5_udp_data(second, A, b"x"))
        self.assertFalse(dispatcher.on_socks5_udp_data(third, A, b"x"))
        self.assertEqual({DROP_ASSOCIATION_CAP: 2}, dispatcher.statistics.drops)  # at opening, and the datagram
        dispatcher.on_socks5_association_closed(first)
        self.assertTrue(dispatcher.on_socks5_udp_data(third, A, b"x"))  # tracked on its first datagram
        self.assertEqual(2, dispatcher.association_count)

    def test_destination_cap_evicts_the_oldest_mapping(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher(max_destinations=2)
        association = self.opened(dispatcher)
        destinations = [UDPv4Address("127.0.0.1", 7000 + i) for i in range(5)]
        for destination in destinations:
            self.assertTrue(dispatcher.on_socks5_udp_data(association, destination, b"x"))
        self.assertEqual(destinations[-2:], dispatcher.destinations_of(association))
        self.assertEqual(3, dispatcher.statistics.routes_evicted)
        self.assertEqual(2, len(dispatcher._reverse))
        # An evicted destination's answer is still this association's (the circuit is), just via the fallback.
        dispatcher.on_raw_data(circuit, destinations[0], b"late")
        self.assertEqual([(destinations[0], b"late")], association.to_client)

    def test_idle_mappings_and_associations_expire(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher(idle_timeout=30, sweep_interval=5)
        busy, idle = self.opened(dispatcher), self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(busy, A, b"x")
        dispatcher.on_socks5_udp_data(idle, B, b"x")
        for _ in range(8):  # 40 s; only the busy association keeps talking (answers count as activity too)
            self.clock.advance(5)
            dispatcher.on_raw_data(circuit, A, b"still here")
        self.assertEqual([A], dispatcher.destinations_of(busy))
        self.assertEqual([], dispatcher.destinations_of(idle))
        self.assertEqual(1, dispatcher.association_count)
        self.assertEqual(1, dispatcher.statistics.routes_expired)
        self.assertEqual({(1, A)}, set(dispatcher._reverse))
        self.assertEqual({1: dispatcher._associations[busy]}, dispatcher._circuit_owner)
        self.assertTrue(dispatcher.on_raw_data(circuit, C, b"stranger"))
        self.assertEqual((C, b"stranger"), busy.to_client[-1])
        self.clock.advance(40)
        self.assertEqual(0, dispatcher.association_count)
        self.assertEqual({}, dispatcher._reverse)
        self.assertEqual({}, dispatcher._circuit_owner)
        self.assertFalse(dispatcher.on_raw_data(circuit, A, b"too late"))

    def test_sweep_forgets_mappings_of_dead_circuits(self) -> None:
        circuit = self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        dispatcher.on_socks5_udp_data(association, A, b"x")
        circuit.state = CIRCUIT_STATE_CLOSING
        self.clock.advance(5)
        self.assertEqual([], dispatcher.destinations_of(association))
        self.assertEqual(({}, {}), (dispatcher._reverse, dispatcher._circuit_owner))

    def test_closed_dispatcher_drops(self) -> None:
        self.community.add(1, hops=1)
        dispatcher = self.dispatcher()
        association = self.opened(dispatcher)
        dispatcher.close()
        self.assertFalse(dispatcher.on_socks5_udp_data(association, A, b"x"))
        self.assertEqual({DROP_CLOSED: 1}, dispatcher.statistics.drops)
        self.assertEqual([], self.community.sent)
        self.clock.advance(60)  # the sweeper is stopped: no error, nothing scheduled
        self.assertEqual([], self.clock.getDelayedCalls())

    def test_settings_are_checked(self) -> None:
        for bad in ({"max_associations": 0}, {"max_destinations": True}, {"idle_timeout": 0},
                    {"sweep_interval": -1}, {"idle_timeout": "1"}):
            with self.assertRaises(Socks5ConfigurationError):
                DispatcherSettings(**bad)


# -- the community's raw-data sinks --------------------------------------------------------------------------

@implementer(IRawDataSink)
class RecordingSink:
    def __init__(self, claim: bool) -> None:
        self.claim = claim
        self.seen: list[tuple[int, Any, bytes]] = []

    def on_raw_data(self, circuit: Any, origin: Any, data: bytes) -> bool:  # noqa: ANN401
        self.seen.append((circuit.circuit_id, origin, data))
        return self.claim


class BrokenSink(RecordingSink):
    def on_raw_data(self, circuit: Any, origin: Any, data: bytes) -> bool:  # noqa: ANN401
        raise RuntimeError("broken sink")


class TestRawDataSinks(TestBase[TunnelCommunity]):
    """``TunnelCommunity.on_raw_data`` hands data to its registered sinks, in order."""

    def setUp(self) -> None:
        super().setUp()
        self.initialize(TunnelCommunity, 1)
        self.community = self.overlay(0)
        self.circuit = FakeCircuit(7, hops=1)

    def test_first_claiming_sink_wins(self) -> None:
        declining, claiming, last = RecordingSink(False), RecordingSink(True), RecordingSink(True)
        for sink in (declining, claiming, last, claiming):
            self.community.add_raw_data_sink(sink)
        self.assertEqual((declining, claiming, last), self.community.raw_data_sinks)
        self.community.on_raw_data(self.circuit, A, b"data")
        self.assertEqual(([(7, A, b"data")], [(7, A, b"data")], []), (declining.seen, claiming.seen, last.seen))
        self.assertNotIn(DROP_TUNNEL_UNCLAIMED_DATA, self.community.drop_counts)
        self.assertTrue(self.community.remove_raw_data_sink(claiming))
        self.assertFalse(self.community.remove_raw_data_sink(claiming))
        self.community.on_raw_data(self.circuit, A, b"again")
        self.assertEqual([(7, A, b"again")], last.seen)

    def test_unclaimed_and_failing(self) -> None:
        self.community.on_raw_data(self.circuit, A, b"nobody")
        self.assertEqual(1, self.community.drop_counts[DROP_TUNNEL_UNCLAIMED_DATA])
        broken, claiming = BrokenSink(True), RecordingSink(True)
        self.community.add_raw_data_sink(broken)
        self.community.add_raw_data_sink(claiming)
        self.community.on_raw_data(self.circuit, A, b"data")  # logged, and the next sink still gets it
        self.assertEqual([(7, A, b"data")], claiming.seen)
        self.assertEqual((), TunnelCommunity.raw_data_sinks)  # instances never share the class default

    def test_only_providers_are_accepted(self) -> None:
        with self.assertRaises(TypeError):
            self.community.add_raw_data_sink(object())


# -- opening the front door ----------------------------------------------------------------------------------

class TestStartServers(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        self.community = FakeCommunity(Clock())

    def test_non_loopback_needs_explicit_consent(self) -> None:
        for interface in ("0.0.0.0", "192.0.2.1", "::"):
            with self.assertRaises(Socks5ConfigurationError) as raised:
                start_socks5_servers(self.community, interface=interface)
            self.assertIn("allow_non_loopback=True", str(raised.exception))
        self.assertEqual([], self.community.sinks)  # refused before anything was made

    def test_bad_arguments(self) -> None:
        for kwargs in ({"count": 0}, {"hops": 0}, {"hops": 256}, {"interface": "localhost"},
                       {"count": 2, "ports": [0]}, {"server_options": {"port": 1080}}):
            with self.assertRaises(Socks5ConfigurationError):
                start_socks5_servers(self.community, **kwargs)

    async def test_non_loopback_with_consent(self) -> None:
        memory = MemoryReactorClock()
        front_door = await start_socks5_servers(self.community, count=2, hops=3, interface="192.0.2.1",
                                                allow_non_loopback=True, reactor=memory, clock=memory,
                                                server_options={"max_associations": 4})
        self.assertEqual([("192.0.2.1", 0)] * 2, [(port[3], port[0]) for port in memory.tcpServers])
        self.assertEqual({3}, {server.settings.hops for server in front_door.servers})
        self.assertEqual({4}, {server.settings.max_associations for server in front_door.servers})
        self.assertEqual({front_door.dispatcher}, {server.sink for server in front_door.servers})
        await front_door.stop()
        self.assertEqual([], self.community.sinks)  # its own dispatcher is closed with it

    async def test_listening_failure_undoes_the_others(self) -> None:
        taken = Socks5Server(settings=Socks5Settings())
        await taken.start()
        self.addCleanup(taken.stop)
        with self.assertRaises(CannotListenError):
            await start_socks5_servers(self.community, count=2, ports=[0, taken.port])
        self.assertEqual([], self.community.sinks)

    async def test_shared_dispatcher_outlives_the_front_door(self) -> None:
        dispatcher = TunnelDispatcher(self.community)
        self.addCleanup(dispatcher.close)
        front_door = await start_socks5_servers(self.community, dispatcher=dispatcher)
        [(host, port)] = front_door.addresses
        self.assertEqual("127.0.0.1", host)
        self.assertIn("dispatcher", front_door.statistics())
        await front_door.stop()
        self.assertEqual([dispatcher], self.community.sinks)


# -- everything for real on 127.0.0.1 ------------------------------------------------------------------------

class BencodedEcho(DatagramProtocol):
    """A UDP service on 127.0.0.1 that answers with a DHT-shaped message wrapping what it got (exits pass it)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple[str, int]]] = []

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:  # noqa: N802
        self.received.append((datagram, addr))
        self.transport.write(echo_of(datagram), addr)


def echo_of(datagram: bytes) -> bytes:
    return b"d4:echo" + str(len(datagram)).encode() + b":" + datagram + b"e"


RELAY = {PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST}
EXIT = {PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_SPEED_TEST}


class TestEndToEnd(unittest.TestCase):
    """SOCKS5 client -> dispatcher -> 1- and 2-hop circuits over real UDP -> exit -> echo -> back to the client."""

    timeout = 30

    async def node(self, flags: set[int]) -> TunnelCommunity:
        endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
        self.assertTrue(await endpoint.open())
        address = UDPv4Address(*endpoint.get_address())
        community = TunnelCommunity(TunnelSettings(
            my_peer=Peer(default_eccrypto.generate_key("curve25519"), address), endpoint=endpoint,
            network=Network(), remove_tunnel_delay=0, max_circuits=0, exit_interface="127.0.0.1",
            peer_flags=set(flags)))
        community.my_estimated_wan = community.my_estimated_lan = address  # one host: the socket is the WAN side
        self.addCleanup(endpoint.close)
        self.addCleanup(community.unload)  # cleanups run last-in first-out: unload, then close the socket
        return community

    async def introduce(self, nodes: list[TunnelCommunity]) -> None:
        def complete() -> bool:
            return all(len(node.candidates) == len(nodes) - 1 for node in nodes)

        for _ in range(100):
            for node in nodes:
                for other in nodes:
                    if other is not node and other.my_peer not in node.candidates:
                        node.walk_to(other.my_estimated_wan)
            try:
                await wait_until(complete, timeout=0.5, what="every node knows the others' flags")
                return
            except AssertionError:
                continue
        self.fail(f"introductions incomplete: {[len(node.candidates) for node in nodes]}")

    async def test_socks5_through_one_and_two_hop_circuits(self) -> None:
        initiator = await self.node(set())
        relay = await self.node(RELAY)
        exits = [await self.node(EXIT), await self.node(EXIT)]
        await self.introduce([initiator, relay, *exits])

        echo = BencodedEcho()
        port = reactor.listenUDP(0, echo, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        echo_address = UDPv4Address("127.0.0.1", port.getHost().port)

        front_doors = {1: await start_socks5_servers(initiator, count=1, hops=1)}
        self.addCleanup(front_doors[1].stop)
        front_doors[2] = await start_socks5_servers(initiator, count=2, hops=2, dispatcher=front_doors[1].dispatcher)
        self.addCleanup(front_doors[2].stop)
        dispatcher = front_doors[1].dispatcher
        self.assertEqual(3, len({address[1] for door in front_doors.values() for address in door.addresses}))
        self.assertTrue(all(host == "127.0.0.1" for door in front_doors.values() for host, _ in door.addresses))

        clients = {}
        for hops, door in front_doors.items():
            client = clients[hops] = Socks5Client(door.addresses[0])
            self.addCleanup(client.close)
            await client.associate()
        # No circuit yet: the datagram is dropped and counted, not queued.
        clients[1].sendto(DHT_PING, echo_address)
        await wait_until(lambda: dispatcher.statistics.drops.get(DROP_NO_CIRCUIT) == 1, what="the no-circuit drop")

        circuits = {hops: initiator.create_circuit(hops) for hops in (1, 2)}
        self.assertTrue(all(circuit is not None for circuit in circuits.values()))
        await wait_until(lambda: all(c.state == CIRCUIT_STATE_READY for c in circuits.values()), timeout=15,
                         what="1- and 2-hop circuits READY")

        for hops, client in clients.items():
            payload = DHT_PING[:-1] + f"4:hops{hops}e".encode() + b"e"  # still a bencoded dictionary
            client.sendto(payload, echo_address)
            source, data = await client.next_datagram()
            self.assertEqual((echo_address, echo_of(payload)), (source, data))
            self.assertIsInstance(source, UDPv4Address)
            [association] = front_doors[hops].servers[0].associations
            circuit = dispatcher.circuit_for(association, echo_address)
            self.assertIs(circuits[hops], circuit)
            self.assertEqual(hops, len(circuit.hops))
            self.assertIn(payload, [datagram for datagram, _ in echo.received])

        # The echo service only ever heard from exit sockets on 127.0.0.1, one per circuit.
        self.assertEqual({"127.0.0.1"}, {source[0] for _, source in echo.received})
        exit_ports = {source[1] for _, source in echo.received}
        self.assertEqual(2, len(exit_ports))
        self.assertEqual(2, sum(len(node.exit_sockets) for node in exits))
        first_hop_node = next(n for n in (relay, *exits) if n.my_peer.mid == circuits[2].hops[0].mid)
        self.assertTrue(first_hop_node.relay_from_to)
        stats = dispatcher.statistics
        self.assertEqual((2, 2), (stats.datagrams_out, stats.datagrams_in))
        self.assertEqual({DROP_NO_CIRCUIT: 1}, stats.drops)
        self.assertNotIn(DROP_TUNNEL_UNCLAIMED_DATA, initiator.drop_counts)

        # Closing an association (its TCP connection) makes the dispatcher forget it.
        await clients[1].close()
        await wait_until(lambda: dispatcher.association_count == 1, what="the closed association forgotten")
