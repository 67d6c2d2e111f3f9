"""The TunnelEndpoint and ``anonymize=True``: communities that talk through circuits, on the in-memory network.

The cast: node 0 runs a TunnelCommunity on a TunnelEndpoint, with an anonymized NoteCommunity (and sometimes a
plain one) next to it; node 1 is an IPv8 exit whose exit ports live on the in-memory internet
(:class:`~ipv8.test.mocking.exit_socket.MockExitReactor`); node 2, when present, is a relay; the *receiver* runs
a plain NoteCommunity and answers every note. The tunnel communities run on a Clock, so nothing times out
unless a test advances it.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import gatherResults, maybeDeferred
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from ipv8.community import Community, CommunitySettings
from ipv8.configuration import ConfigBuilder
from ipv8.lazy_community import lazy_wrapper_unsigned
from ipv8.messaging.anonymization.community import (
    DROP_TUNNEL_OTHER_COMMUNITY,
    TunnelCommunity,
    TunnelSettings,
)
from ipv8.messaging.anonymization.endpoint import (
    DROP_TUNNEL_DIRECT_FOR_ANONYMIZED,
    DROP_TUNNEL_NO_CIRCUIT,
    DROP_TUNNEL_NO_COMMUNITY,
    DROP_TUNNEL_NOT_ANONYMIZED,
    DROP_TUNNEL_QUEUE_FULL,
    ITunnelEndpoint,
    TunnelEndpoint,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
)
from ipv8.messaging.interfaces.dispatcher.endpoint import DispatcherEndpoint
from ipv8.messaging.interfaces.endpoint import (
    IAnonymizingEndpoint,
    IMultiInterfaceEndpoint,
)
from ipv8.messaging.interfaces.statistics_endpoint import StatisticsEndpoint
from ipv8.messaging.payload_dataclass import dataclass, type_from_format
from ipv8.REST.overlays_endpoint import find_statistics_endpoint
from ipv8.test.base import TestBase
from ipv8.test.mocking.endpoint import AutoMockEndpoint
from ipv8.test.mocking.exit_socket import MockExitReactor
from ipv8.test.mocking.ipv8 import MockIPv8, MockTunnelEndpoint
from ipv8_service import IPv8

UInt32 = type_from_format("I")
EXIT_FLAGS = {PEER_FLAG_RELAY, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST}
RELAY_FLAGS = {PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST}


@dataclass(msg_id=1)
class Note:
    value: UInt32


@dataclass(msg_id=2)
class Reply:
    value: UInt32


class NoteCommunity(Community):
    """Answers a note with value + 1 to wherever it came from; records what it sees and from where."""

    community_id = b"\x5a" * 20

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.notes: list[tuple[tuple, int]] = []
        self.replies: list[tuple[tuple, int]] = []
        self.add_message_handler(Note, self.on_note)
        self.add_message_handler(Reply, self.on_reply)

    def note_packet(self, value: int) -> bytes:
        return self.ezr_pack(Note.msg_id, Note(value), sig=False)

    def send_note(self, address: Any, value: int) -> None:
        self.endpoint.send(address, self.note_packet(value))

    @lazy_wrapper_unsigned(Note)
    def on_note(self, source_address: Any, payload: Note) -> None:
        self.notes.append((tuple(source_address), payload.value))
        self.endpoint.send(source_address, self.ezr_pack(Reply.msg_id, Reply(payload.value + 1), sig=False))

    @lazy_wrapper_unsigned(Reply)
    def on_reply(self, source_address: Any, payload: Reply) -> None:
        self.replies.append((tuple(source_address), payload.value))


class PlainNoteCommunity(NoteCommunity):
    """Another community on node 0 that does not ask for anonymity."""

    community_id = b"\x5b" * 20


class TunnelEndpointBase(TestBase):
    """Builds the cast described in the module documentation."""

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.exit_reactor = MockExitReactor(self.internet)
        return result

    def add(self, node: MockIPv8) -> MockIPv8:
        self.nodes.append(node)
        self.patch_overlays(len(self.nodes) - 1)
        return node

    def tunnel_node(self, flags: set[int], tunnel_endpoint: bool = False) -> MockIPv8:
        settings = TunnelSettings(clock=self.clock, remove_tunnel_delay=0, exit_reactor=self.exit_reactor)
        node = MockIPv8("curve25519", TunnelCommunity, settings, internet=self.internet,
                        tunnel_endpoint=tunnel_endpoint)
        node.overlay.settings.peer_flags = flags
        return self.add(node)

    def community_on(self, node: MockIPv8, community_class: type[NoteCommunity], anonymize: bool) -> NoteCommunity:
        settings = CommunitySettings(my_peer=node.my_peer, endpoint=node.endpoint, network=node.network,
                                     anonymize=anonymize)
        community = community_class(settings)
        community.raise_handler_errors = True
        node.overlays.append(community)  # unloaded with the node
        return community

    async def cast(self, relays: int = 0, tunnel_endpoint: bool = True, introduce: bool = True) -> None:
        self.sender = self.tunnel_node(set(), tunnel_endpoint=tunnel_endpoint)
        self.exit = self.tunnel_node(EXIT_FLAGS)
        tunnel_nodes = [self.sender, self.exit] + [self.tunnel_node(RELAY_FLAGS) for _ in range(relays)]
        self.anon = self.community_on(self.sender, NoteCommunity, anonymize=True)
        self.receiver = self.add(MockIPv8("curve25519", NoteCommunity, internet=self.internet))
        self.receiver_address = self.receiver.raw_endpoint.wan_address
        if introduce:
            for node in tunnel_nodes:
                for other in tunnel_nodes:
                    if other is not node:
                        node.overlay.walk_to(other.raw_endpoint.wan_address)
            await self.deliver_messages()

    @property
    def tunnel(self) -> TunnelCommunity:
        return self.sender.overlay

    @property
    def endpoint(self) -> TunnelEndpoint:  # type: ignore[override]
        return self.sender.endpoint

    def exit_socket(self, node: MockIPv8 | None = None) -> Any:
        sockets = list((node or self.exit).overlay.exit_sockets.values())
        self.assertEqual(1, len(sockets))
        return sockets[0]

    async def ready_circuit(self, hops: int = 1) -> Any:
        circuit = self.tunnel.create_circuit(hops, exit_flags=[PEER_FLAG_EXIT_IPV8])
        self.assertIsNotNone(circuit)
        await self.deliver_messages()
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)
        return circuit


class TestTunnelEndpointWiring(TunnelEndpointBase):
    """The interface, and who tells the endpoint what."""

    async def test_endpoint_provides_the_interface(self) -> None:
        await self.cast(introduce=False)
        self.assertTrue(verifyObject(ITunnelEndpoint, self.endpoint))
        self.assertTrue(IAnonymizingEndpoint.providedBy(self.endpoint))
        self.assertFalse(IMultiInterfaceEndpoint.providedBy(self.endpoint))

    async def test_tunnel_community_and_anonymized_community_register(self) -> None:
        await self.cast(introduce=False)
        self.assertIs(self.tunnel, self.endpoint.tunnel_community)
        self.assertEqual(1, self.endpoint.hops)
        self.assertFalse(self.endpoint.is_anonymized(self.tunnel.get_prefix()))
        self.assertTrue(self.anon.anonymize)
        self.assertTrue(self.endpoint.is_anonymized(self.anon.get_prefix()))
        plain = self.community_on(self.sender, PlainNoteCommunity, anonymize=False)
        self.assertFalse(self.endpoint.is_anonymized(plain.get_prefix()))
        self.endpoint.set_tunnel_community(self.tunnel, hops=3)
        self.assertEqual(3, self.endpoint.hops)

    async def test_plain_endpoint_gets_no_tunnel_wiring(self) -> None:
        await self.cast(tunnel_endpoint=False, introduce=False)
        self.assertFalse(ITunnelEndpoint.providedBy(self.sender.endpoint))
        # Asking for anonymity without a TunnelEndpoint changes nothing (pyipv8 only warns too).
        self.anon.send_note(self.receiver_address, 1)
        await self.deliver_messages()
        self.assertEqual([(tuple(self.sender.raw_endpoint.wan_address), 1)], self.receiver.overlay.notes)

    def test_dispatcher_interfaces_show_through(self) -> None:
        dispatcher = DispatcherEndpoint(["UDPIPv4"], UDPIPv4={"ip": "127.0.0.1", "port": 0})
        endpoint = TunnelEndpoint(dispatcher)
        self.assertTrue(IMultiInterfaceEndpoint.providedBy(endpoint))
        self.assertTrue(verifyObject(IMultiInterfaceEndpoint, endpoint))
        self.assertEqual(["UDPIPv4"], list(endpoint.interfaces))
        self.assertEqual("UDPIPv4", endpoint.interface_for(("127.0.0.1", 5)))

    def test_statistics_sit_under_the_tunnel_endpoint(self) -> None:
        node = self.add(MockIPv8("curve25519", TunnelCommunity, TunnelSettings(clock=self.clock),
                                 internet=self.internet, tunnel_endpoint=True, enable_statistics=True))
        self.assertIsInstance(node.endpoint, TunnelEndpoint)
        statistics = node.endpoint.endpoint
        self.assertIsInstance(statistics, StatisticsEndpoint)
        self.assertIs(node.raw_endpoint, statistics.endpoint)
        self.assertIn(node.overlay.get_prefix(), statistics.statistics)
        self.assertIs(statistics, find_statistics_endpoint(node.endpoint))  # what REST /overlays looks for

    def test_mock_tunnel_endpoint(self) -> None:
        node = self.add(MockIPv8("curve25519", NoteCommunity, internet=self.internet))
        endpoint = self.successResultOf(node.produce_anonymized_endpoint())
        self.assertIsInstance(endpoint, MockTunnelEndpoint)
        self.assertTrue(verifyObject(ITunnelEndpoint, endpoint))
        self.assertTrue(endpoint.is_open())
        self.assertIn(endpoint.get_address(), self.internet.endpoints)
        self.successResultOf(endpoint.close())
        self.assertFalse(endpoint.is_open())


class TestAnonymizedTraffic(TunnelEndpointBase):
    """Notes out through a circuit, answers back through it."""

    async def test_round_trip_through_one_hop(self) -> None:
        await self.cast()
        circuit = await self.ready_circuit()
        self.anon.send_note(self.receiver_address, 41)
        await self.deliver_messages()

        exit_socket = self.exit_socket()
        self.assertEqual(circuit.circuit_id, exit_socket.circuit_id)
        exit_address = tuple(exit_socket.get_address())
        # The receiver saw the exit's port, neither the sender nor the exit's own IPv8 address.
        self.assertEqual([(exit_address, 41)], self.receiver.overlay.notes)
        self.assertNotIn(exit_address, {tuple(self.sender.raw_endpoint.wan_address),
                                        tuple(self.sender.raw_endpoint.lan_address),
                                        tuple(self.exit.raw_endpoint.wan_address)})
        # The answer came back through the circuit, from the receiver's address.
        self.assertEqual([(tuple(self.receiver_address), 42)], self.anon.replies)
        self.assertEqual((1, 1), (self.endpoint.packets_tunneled, self.endpoint.packets_from_tunnel))
        self.assertEqual((1, 1), (exit_socket.packets_up, exit_socket.packets_down))
        self.assertGreater(circuit.bytes_down, 0)
        self.assertEqual({}, self.endpoint.tunnel_drops)

    async def test_first_send_builds_the_circuit_and_waits_for_it(self) -> None:
        await self.cast()
        self.assertEqual([], self.tunnel.find_circuits(state=None))
        self.anon.send_note(self.receiver_address, 1)
        self.anon.send_note(self.receiver_address, 2)
        self.assertEqual(2, len(self.endpoint.send_queue))
        self.assertEqual(1, len(self.tunnel.find_circuits(state=None)))  # one circuit for both
        await self.deliver_messages()

        circuit, = self.tunnel.find_circuits(exit_flags=[PEER_FLAG_EXIT_IPV8])
        self.assertEqual(1, circuit.goal_hops)
        exit_address = tuple(self.exit_socket().get_address())
        self.assertEqual([(exit_address, 1), (exit_address, 2)], self.receiver.overlay.notes)
        self.assertEqual([2, 3], [value for _, value in self.anon.replies])
        self.assertEqual(0, len(self.endpoint.send_queue))
        self.assertEqual({}, self.endpoint.tunnel_drops)

    async def test_hops_come_from_set_tunnel_community(self) -> None:
        await self.cast(relays=1)
        self.endpoint.set_tunnel_community(self.tunnel, hops=2)
        self.anon.send_note(self.receiver_address, 5)
        await self.deliver_messages()

        circuit, = self.tunnel.find_circuits(exit_flags=[PEER_FLAG_EXIT_IPV8])
        self.assertEqual(2, len(circuit.hops))
        self.assertEqual(self.exit.my_peer.public_key.key_to_bin(), circuit.hops[-1].public_key_bin)
        relay = self.nodes[2].overlay
        self.assertEqual(2, len(relay.relay_from_to))
        self.assertEqual([(tuple(self.exit_socket().get_address()), 5)], self.receiver.overlay.notes)
        self.assertEqual([(tuple(self.receiver_address), 6)], self.anon.replies)

    async def test_other_communities_send_directly(self) -> None:
        await self.cast()
        plain = self.community_on(self.sender, PlainNoteCommunity, anonymize=False)
        plain_receiver = self.community_on(self.receiver, PlainNoteCommunity, anonymize=False)
        plain.send_note(self.receiver_address, 9)
        await self.deliver_messages()
        self.assertEqual([(tuple(self.sender.raw_endpoint.wan_address), 9)], plain_receiver.notes)
        self.assertEqual([(tuple(self.receiver_address), 10)], plain.replies)
        self.assertEqual(0, self.endpoint.packets_tunneled)
        self.assertEqual([], self.tunnel.find_circuits(state=None))


class TestWrongPath(TunnelEndpointBase):
    """Tunnel traffic for plain communities, and direct traffic for anonymized ones, are dropped and counted."""

    async def test_plain_community_ignores_tunnel_traffic(self) -> None:
        await self.cast()
        plain = self.community_on(self.sender, PlainNoteCommunity, anonymize=False)
        await self.ready_circuit()
        self.anon.send_note(self.receiver_address, 1)  # opens the exit port
        await self.deliver_messages()
        exit_address = self.exit_socket().get_address()

        # Someone on the exit's side sends a plain community's packet to the exit port: it comes back through
        # the circuit, and the plain community must not take it.
        self.receiver.raw_endpoint.send(exit_address, plain.note_packet(7))
        await self.deliver_messages()
        self.assertEqual([], plain.notes)
        self.assertEqual(1, self.endpoint.tunnel_drops[DROP_TUNNEL_NOT_ANONYMIZED])
        self.assertEqual(1, self.endpoint.drops[DROP_TUNNEL_NOT_ANONYMIZED])
        self.assertEqual(1, self.endpoint.packets_from_tunnel)  # only the reply to note 1

    async def test_anonymized_community_ignores_direct_traffic(self) -> None:
        await self.cast()
        plain = self.community_on(self.sender, PlainNoteCommunity, anonymize=False)
        # Straight to the sender's own socket: answering would tie the anonymized identity to that address.
        self.receiver.raw_endpoint.send(self.sender.raw_endpoint.wan_address, self.anon.note_packet(3))
        self.receiver.raw_endpoint.send(self.sender.raw_endpoint.wan_address, plain.note_packet(4))
        await self.deliver_messages()
        self.assertEqual([], self.anon.notes)
        self.assertEqual([(tuple(self.receiver_address), 4)], plain.notes)
        self.assertEqual({DROP_TUNNEL_DIRECT_FOR_ANONYMIZED: 1}, self.endpoint.tunnel_drops)

    async def test_without_tunnel_endpoint_other_community_data_is_counted(self) -> None:
        await self.cast(tunnel_endpoint=False)
        circuit = await self.ready_circuit()
        # A 1-hop circuit used by hand: data out, then a stranger's IPv8 packet back to the exit port.
        self.tunnel.tunnel_data(circuit, self.receiver_address, "data", self.anon.note_packet(1))
        await self.deliver_messages()
        self.assertEqual(1, len(self.receiver.overlay.notes))
        # The receiver's reply came back through the circuit for the NoteCommunity prefix: nobody to hand it to.
        self.assertEqual(1, self.tunnel.drop_counts[DROP_TUNNEL_OTHER_COMMUNITY])
        self.assertEqual([], self.anon.replies)


class TestNoCircuit(TunnelEndpointBase):
    """What happens to anonymized packets while no circuit is ready: bounded, and counted when dropped."""

    async def test_no_exit_known_drops_and_counts(self) -> None:
        await self.cast(introduce=False)
        self.anon.send_note(self.receiver_address, 1)
        await self.deliver_messages()
        self.assertEqual({DROP_TUNNEL_NO_CIRCUIT: 1}, self.endpoint.tunnel_drops)
        self.assertEqual(0, len(self.endpoint.send_queue))
        self.assertEqual([], self.receiver.overlay.notes)

    async def test_no_tunnel_community_drops_and_counts(self) -> None:
        await self.cast(introduce=False)
        self.endpoint.set_tunnel_community(None)
        self.anon.send_note(self.receiver_address, 1)
        await self.deliver_messages()
        self.assertEqual({DROP_TUNNEL_NO_COMMUNITY: 1}, self.endpoint.tunnel_drops)
        self.assertEqual([], self.receiver.overlay.notes)

    async def test_queue_is_bounded_oldest_first_out(self) -> None:
        await self.cast()
        self.endpoint.max_queued = 3
        for value in range(1, 6):
            self.anon.send_note(self.receiver_address, value)
        self.assertEqual(3, len(self.endpoint.send_queue))
        self.assertEqual({DROP_TUNNEL_QUEUE_FULL: 2}, self.endpoint.tunnel_drops)
        await self.deliver_messages()
        self.assertEqual([3, 4, 5], [value for _, value in self.receiver.overlay.notes])

    async def test_failed_build_drops_the_queue(self) -> None:
        await self.cast()
        self.exit.raw_endpoint.close()  # the exit stops answering: the create goes unanswered
        self.anon.send_note(self.receiver_address, 1)
        self.anon.send_note(self.receiver_address, 2)
        await self.deliver_messages()
        self.assertEqual(2, len(self.endpoint.send_queue))
        circuit, = self.tunnel.find_circuits(state=None)
        for _ in range(int(self.tunnel.settings.circuit_timeout) + 1):
            self.clock.advance(1)
        self.assertIsNone(self.successResultOf(circuit.ready))
        self.assertEqual(0, len(self.endpoint.send_queue))
        self.assertEqual({DROP_TUNNEL_NO_CIRCUIT: 2}, self.endpoint.tunnel_drops)
        self.assertEqual(2, self.endpoint.packets_dropped - sum(self.sender.raw_endpoint.drops.values()))

    async def test_closing_the_endpoint_forgets_the_queue(self) -> None:
        await self.cast()
        self.anon.send_note(self.receiver_address, 1)
        self.assertEqual(1, len(self.endpoint.send_queue))
        self.successResultOf(self.endpoint.close())
        self.assertFalse(self.sender.raw_endpoint.is_open())
        self.assertEqual(0, len(self.endpoint.send_queue))


class TestServiceWiring(TunnelEndpointBase):
    """A configuration with an anonymized overlay gets a TunnelEndpoint, as in pyipv8 3.2.1."""

    def service(self, anonymize: bool, clock: Clock | None = None) -> IPv8:
        builder = (ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1").set_port(0)
                   .set_working_directory(self.temporary_directory())
                   .add_ephemeral_key("me"))
        builder.add_overlay("TunnelCommunity", "me", [], [], {}, [])
        builder.add_overlay("NoteCommunity", "me", [], [], {"anonymize": anonymize}, [])
        node = IPv8(builder.finalize(), endpoint_override=AutoMockEndpoint(self.internet),
                    extra_communities={"NoteCommunity": NoteCommunity}, reactor=clock)
        self.addCleanup(lambda: gatherResults([maybeDeferred(overlay.unload) for overlay in node.overlays]))
        return node

    def test_anonymized_overlay_gets_a_tunnel_endpoint(self) -> None:
        node = self.service(anonymize=True, clock=Clock())
        self.assertIsInstance(node.endpoint, TunnelEndpoint)
        tunnel = node.get_overlay(TunnelCommunity)
        notes = node.get_overlay(NoteCommunity)
        self.assertIs(node.endpoint, notes.endpoint)
        self.assertIs(tunnel, node.endpoint.tunnel_community)
        self.assertTrue(node.endpoint.is_anonymized(notes.get_prefix()))
        self.assertFalse(node.endpoint.is_anonymized(tunnel.get_prefix()))

    def test_plain_configuration_keeps_its_endpoint(self) -> None:
        node = self.service(anonymize=False, clock=Clock())
        self.assertNotIsInstance(node.endpoint, TunnelEndpoint)
        self.assertIsInstance(node.endpoint, AutoMockEndpoint)

    async def test_produce_anonymized_endpoint(self) -> None:
        node = self.service(anonymize=False)  # the real reactor: this endpoint binds a UDP port on 127.0.0.1
        endpoint = await node.produce_anonymized_endpoint()
        try:
            self.assertTrue(verifyObject(ITunnelEndpoint, endpoint))
            self.assertTrue(endpoint.is_open())
            host, port = endpoint.get_address()[:2]
            self.assertEqual("127.0.0.1", host)
            self.assertGreater(port, 0)
            self.assertIsNone(endpoint.tunnel_community)
        finally:
            await endpoint.close()
