"""Exit sockets on the in-memory internet (ipv8.test.mocking.exit_socket): the real exit socket, no real port."""
from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial import unittest
from zope.interface import implementer

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.anonymization.exit_socket import (
    EXIT_DROP_REFUSED_INBOUND,
    EXIT_DROP_REFUSED_OUTBOUND,
    ExitPolicy,
    IExitDataReceiver,
    TunnelExitSocket,
)
from ipv8.messaging.anonymization.tunnel import (
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    Hop,
)
from ipv8.messaging.interfaces.endpoint import EndpointListener
from ipv8.peer import Peer
from ipv8.test.mocking.endpoint import AutoMockEndpoint, Internet
from ipv8.test.mocking.exit_socket import MockExitReactor, MockTunnelExitSocket

IPV8 = b"\x00\x02" + b"\x11" * 20 + b"\x01" + b"hello"
DHT_PING = b"d1:ad2:id20:" + b"n" * 20 + b"e1:q4:ping1:t2:aa1:y1:qe"
JUNK = b"\xff" * 40


@implementer(IExitDataReceiver)
class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[int, Any, bytes]] = []

    def on_exit_data(self, circuit_id: int, source: Any, data: bytes) -> None:
        self.received.append((circuit_id, source, data))


class Recorder(EndpointListener):
    """Everything one mock endpoint receives."""

    def __init__(self, endpoint: AutoMockEndpoint) -> None:
        super().__init__(endpoint)
        self.packets: list[tuple[Any, bytes]] = []
        endpoint.add_listener(self)

    def on_packet(self, packet: tuple[Any, bytes]) -> None:
        self.packets.append(packet)


class TestMockExit(unittest.TestCase):
    """A real TunnelExitSocket whose port is a mock endpoint; the internet runs on a Clock."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.internet = Internet(self.clock)
        self.reactor = MockExitReactor(self.internet)
        self.receiver = Receiver()
        self.policy = ExitPolicy({PEER_FLAG_EXIT_IPV8})
        self.server = AutoMockEndpoint(self.internet)
        self.server.open()
        self.recorder = Recorder(self.server)

    def make_exit(self, circuit_id: int = 7) -> TunnelExitSocket:
        hop = Hop(Peer(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address("198.18.0.1", 9)))
        return TunnelExitSocket(circuit_id, hop, self.receiver, self.policy, reactor=self.reactor, clock=self.clock)

    def settle(self) -> None:
        self.clock.advance(0)
        self.clock.advance(0)

    def test_enable_joins_the_internet(self) -> None:
        exit_socket = self.make_exit()
        self.assertIsNone(exit_socket.get_address())
        self.assertTrue(exit_socket.enable())
        address = exit_socket.get_address()
        self.assertIsInstance(address, UDPv4Address)
        self.assertIn(address, self.internet.endpoints)
        self.assertEqual(1, len(self.reactor.ports))
        # A second exit gets a port (and address) of its own.
        other = self.make_exit(8)
        other.enable()
        self.assertNotEqual(address, other.get_address())

    def test_out_and_back(self) -> None:
        exit_socket = self.make_exit()
        exit_socket.enable()
        exit_socket.sendto(IPV8, self.server.wan_address)
        self.settle()
        self.assertEqual([(exit_socket.get_address(), IPV8)], self.recorder.packets)
        self.assertEqual(1, exit_socket.packets_up)

        answer = IPV8 + b"-answer"
        self.server.send(exit_socket.get_address(), answer)
        self.settle()
        self.assertEqual([(7, self.server.wan_address, answer)], self.receiver.received)
        self.assertEqual(len(answer), exit_socket.bytes_down)

    def test_policy_still_applies(self) -> None:
        exit_socket = self.make_exit()
        exit_socket.enable()
        exit_socket.sendto(DHT_PING, self.server.wan_address)  # BitTorrent, and we only exit IPv8
        exit_socket.sendto(JUNK, self.server.wan_address)
        self.settle()
        self.assertEqual([], self.recorder.packets)
        self.assertEqual(2, exit_socket.drops[EXIT_DROP_REFUSED_OUTBOUND])

        self.server.send(exit_socket.get_address(), JUNK)
        self.settle()
        self.assertEqual([], self.receiver.received)
        self.assertEqual(1, exit_socket.drops[EXIT_DROP_REFUSED_INBOUND])

        self.policy = exit_socket.policy = ExitPolicy({PEER_FLAG_EXIT_BT})
        exit_socket.sendto(DHT_PING, self.server.wan_address)
        self.settle()
        self.assertEqual([(exit_socket.get_address(), DHT_PING)], self.recorder.packets)

    def test_unknown_destination_is_counted_not_raised(self) -> None:
        exit_socket = self.make_exit()
        exit_socket.enable()
        exit_socket.sendto(IPV8, ("198.18.250.250", 1234))
        self.settle()
        self.assertEqual(1, self.reactor.ports[0].undeliverable)
        self.assertEqual(0, self.internet.in_flight)

    def test_close_leaves_the_internet(self) -> None:
        exit_socket = self.make_exit()
        exit_socket.enable()
        address = exit_socket.get_address()
        port = self.reactor.ports[0]
        closed = exit_socket.close()
        self.assertIsNone(self.successResultOf(closed))
        self.assertFalse(port.listening)
        self.assertNotIn(address, self.internet.endpoints)
        self.assertIsNone(exit_socket.transport)  # the protocol was stopped
        port.write(IPV8, self.server.wan_address)  # a stopped port sends nothing
        self.settle()
        self.assertEqual([], self.recorder.packets)

    def test_mock_tunnel_exit_socket_replaces_an_exit(self) -> None:
        parent = self.make_exit()
        parent.creation_time = -5.0
        mock = MockTunnelExitSocket(parent, self.internet)
        self.assertEqual((parent.circuit_id, parent.hop, parent.receiver, parent.policy),
                         (mock.circuit_id, mock.hop, mock.receiver, mock.policy))
        self.assertEqual(-5.0, mock.creation_time)
        self.assertFalse(mock.enabled)
        self.assertIsNone(mock.port)

        mock.enable()
        mock.sendto(IPV8, self.server.wan_address)
        self.server.send(mock.get_address(), IPV8)
        self.settle()
        self.assertEqual([(mock.get_address(), IPV8)], self.recorder.packets)
        self.assertEqual([(7, self.server.wan_address, IPV8)], self.receiver.received)

        port = mock.port
        self.successResultOf(mock.close())
        self.assertTrue(mock.closed)
        self.assertTrue(parent.closed)
        self.assertFalse(port.listening)
        self.assertIsNone(mock.port)

    def test_mock_of_an_enabled_exit_listens_at_once(self) -> None:
        parent = self.make_exit()
        parent.enable()  # on the mock reactor too, here
        mock = MockTunnelExitSocket(parent, self.internet)
        self.assertTrue(mock.enabled)
        self.assertNotEqual(parent.get_address(), mock.get_address())
        self.successResultOf(mock.close())
        self.assertEqual(2, sum(1 for port in self.reactor.ports + mock.reactor.ports if not port.listening))
