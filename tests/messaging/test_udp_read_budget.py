"""The per-turn read budget of UDP endpoints and exit sockets (ipv8.messaging.interfaces.udp.endpoint).

Deterministic: datagrams are sent from a plain socket on 127.0.0.1 (on loopback a datagram is in the receiver's
queue when ``sendto`` returns) and one reactor turn's worth of reading is done by calling the port's ``doRead``
directly, without letting the reactor run in between.
"""
from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.trial import unittest
from zope.interface import implementer

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization.exit_socket import (
    ExitPolicy,
    IExitDataReceiver,
    TunnelExitSocket,
)
from ipv8.messaging.anonymization.tunnel import PEER_FLAG_EXIT_BT, Hop
from ipv8.messaging.interfaces.endpoint import EndpointConfigurationError
from ipv8.messaging.interfaces.udp.endpoint import (
    DEFAULT_READ_BUDGET_BYTES,
    DEFAULT_READ_BUDGET_DATAGRAMS,
    MAX_READ_BUDGET_BYTES,
    MAX_READ_BUDGET_DATAGRAMS,
    UDPEndpoint,
    UDPv6Endpoint,
    apply_read_budget,
    check_read_budget,
)
from ipv8.peer import Peer

from .interfaces.support import RecordingListener, loopback_available

LOOPBACK = "127.0.0.1"


class Blaster:
    """A plain UDP socket on loopback that queues datagrams at a port before anybody reads them."""

    def __init__(self, family: int = socket.AF_INET, host: str = LOOPBACK) -> None:
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        self.socket.bind((host, 0))

    def send(self, address: tuple[str, int], count: int, size: int = 100) -> None:
        for index in range(count):
            self.socket.sendto(index.to_bytes(2, "big") + b"x" * (size - 2), address)

    def close(self) -> None:
        self.socket.close()


class TestReadBudgetSettings(unittest.TestCase):

    def test_defaults(self) -> None:
        self.assertEqual(UDPEndpoint().read_budget, (DEFAULT_READ_BUDGET_BYTES, DEFAULT_READ_BUDGET_DATAGRAMS))
        self.assertEqual(UDPv6Endpoint().read_budget, (DEFAULT_READ_BUDGET_BYTES, DEFAULT_READ_BUDGET_DATAGRAMS))
        # Above Twisted's 256 KiB, so that a burst of 256 tunnel cells (~1.1 KB each) fits in one turn.
        self.assertGreater(DEFAULT_READ_BUDGET_BYTES, 256 * 1024)
        self.assertGreaterEqual(DEFAULT_READ_BUDGET_DATAGRAMS, 256)

    def test_configurable(self) -> None:
        self.assertEqual(UDPEndpoint(read_budget_bytes=5000, read_budget_datagrams=7).read_budget, (5000, 7))
        endpoint = UDPv6Endpoint(read_budget_bytes=1, read_budget_datagrams=MAX_READ_BUDGET_DATAGRAMS)
        self.assertEqual(endpoint.read_budget, (1, MAX_READ_BUDGET_DATAGRAMS))

    def test_validated(self) -> None:
        for budget_bytes, budget_datagrams in ((0, 1), (1, 0), (-5, 10), (MAX_READ_BUDGET_BYTES + 1, 10),
                                               (1000, MAX_READ_BUDGET_DATAGRAMS + 1), (True, 10), (1000, False),
                                               (1000.0, 10), ("1000", 10), (None, 10)):
            with self.assertRaises(EndpointConfigurationError):
                UDPEndpoint(read_budget_bytes=budget_bytes, read_budget_datagrams=budget_datagrams)
            with self.assertRaises(EndpointConfigurationError):
                check_read_budget(budget_bytes, budget_datagrams)
        endpoint = UDPEndpoint()
        with self.assertRaises(EndpointConfigurationError):
            endpoint.set_read_budget(0, 10)
        self.assertEqual(endpoint.read_budget, (DEFAULT_READ_BUDGET_BYTES, DEFAULT_READ_BUDGET_DATAGRAMS))

    def test_other_ports_are_left_alone(self) -> None:
        class OtherPort:
            maxThroughput = 123

        port = OtherPort()
        self.assertFalse(apply_read_budget(port, 1000, 10))
        self.assertEqual(port.maxThroughput, 123)
        self.assertNotIn("doRead", vars(port))


class TestEndpointReadBudget(unittest.TestCase):
    timeout = 5

    def open(self, endpoint_class: type[UDPEndpoint] = UDPEndpoint, host: str = LOOPBACK,
             **kwargs: Any) -> tuple[UDPEndpoint, RecordingListener, Any]:
        endpoint = endpoint_class(ip=host, **kwargs)
        self.addCleanup(endpoint.close)
        opened = []
        endpoint.open().addCallback(opened.append)  # fires at once: binding is synchronous
        self.assertEqual(opened, [True])
        listener = RecordingListener(endpoint)
        endpoint.add_listener(listener)
        return endpoint, listener, endpoint._listening_port

    def blaster(self, family: int = socket.AF_INET, host: str = LOOPBACK) -> Blaster:
        blaster = Blaster(family, host)
        self.addCleanup(blaster.close)
        return blaster

    def test_applied_to_the_port(self) -> None:
        _, _, port = self.open()
        self.assertEqual(port.maxThroughput, DEFAULT_READ_BUDGET_BYTES)
        _, _, port = self.open(read_budget_bytes=4096, read_budget_datagrams=3)
        self.assertEqual(port.maxThroughput, 4096)

    def test_datagram_budget_per_turn(self) -> None:
        endpoint, listener, port = self.open(read_budget_datagrams=5)
        self.blaster().send(tuple(endpoint.get_address()), 12)
        counts = []
        for _ in range(4):
            port.doRead()  # what the reactor does once per turn while the socket is readable
            counts.append(len(listener.packets))
        self.assertEqual(counts, [5, 10, 12, 12])
        # Nothing lost or reordered on the way, and the endpoint counted every datagram.
        self.assertEqual([data[:2] for data in listener.payloads], [i.to_bytes(2, "big") for i in range(12)])
        self.assertEqual((endpoint.counters.packets_received, endpoint.counters.bytes_down), (12, 1200))

    def test_byte_budget_per_turn(self) -> None:
        # As Twisted's own limit: checked after each datagram, so the turn that crosses 2,500 bytes ends there.
        endpoint, listener, port = self.open(read_budget_bytes=2500, read_budget_datagrams=100)
        self.blaster().send(tuple(endpoint.get_address()), 7, size=1000)
        counts = []
        for _ in range(3):
            port.doRead()
            counts.append(len(listener.packets))
        self.assertEqual(counts, [3, 6, 7])

    def test_changed_while_open_and_kept_for_the_next_open(self) -> None:
        endpoint, listener, port = self.open(read_budget_datagrams=2)
        blaster = self.blaster()
        blaster.send(tuple(endpoint.get_address()), 6)
        port.doRead()
        self.assertEqual(len(listener.packets), 2)
        endpoint.set_read_budget(8000, 3)
        self.assertEqual((endpoint.read_budget, port.maxThroughput), ((8000, 3), 8000))
        port.doRead()
        self.assertEqual(len(listener.packets), 5)

    async def test_reopened_endpoint_gets_the_budget(self) -> None:
        endpoint, _, first_port = self.open(read_budget_bytes=7000, read_budget_datagrams=4)
        await endpoint.close()
        self.assertTrue(await endpoint.open())
        self.assertIsNot(endpoint._listening_port, first_port)
        self.assertEqual(endpoint._listening_port.maxThroughput, 7000)

    def test_ipv6_sources_are_host_port_pairs(self) -> None:
        if not loopback_available(socket.AF_INET6, "::1"):
            self.skipTest("::1 is not available on this machine")
        endpoint, listener, port = self.open(UDPv6Endpoint, "::1", read_budget_datagrams=2)
        blaster = self.blaster(socket.AF_INET6, "::1")
        blaster.send(tuple(endpoint.get_address()), 3)
        port.doRead()
        self.assertEqual(len(listener.packets), 2)
        source = listener.packets[0][0]
        self.assertEqual((type(source), tuple(source)), (UDPv6Address, blaster.socket.getsockname()[:2]))

    def test_a_failing_protocol_does_not_end_the_turn(self) -> None:
        class Exploding(DatagramProtocol):
            def __init__(self) -> None:
                self.seen = 0

            def datagramReceived(self, datagram: bytes, addr: tuple) -> None:
                self.seen += 1
                raise RuntimeError("handler bug on purpose")

        protocol = Exploding()
        port = reactor.listenUDP(0, protocol, interface=LOOPBACK)
        self.addCleanup(port.stopListening)
        self.assertTrue(apply_read_budget(port, 10_000, 10))
        self.blaster().send((LOOPBACK, port.getHost().port), 3)
        port.doRead()
        self.assertEqual(protocol.seen, 3)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 3)


@implementer(IExitDataReceiver)
class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[int, Any, bytes]] = []

    def on_exit_data(self, circuit_id: int, source: Any, data: bytes) -> None:
        self.received.append((circuit_id, source, data))


class TestExitSocketReadBudget(unittest.TestCase):
    timeout = 5

    def exit_socket(self) -> tuple[TunnelExitSocket, Receiver]:
        receiver = Receiver()
        hop = Hop(Peer(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address(LOOPBACK, 9)))
        exit_socket = TunnelExitSocket(5, hop, receiver, ExitPolicy({PEER_FLAG_EXIT_BT}), interface=LOOPBACK)
        self.addCleanup(exit_socket.close)
        self.assertTrue(exit_socket.enable())
        return exit_socket, receiver

    def test_default_budget(self) -> None:
        exit_socket, _ = self.exit_socket()
        self.assertEqual(exit_socket._port.maxThroughput, DEFAULT_READ_BUDGET_BYTES)

    def test_class_wide_budget(self) -> None:
        self.patch(TunnelExitSocket, "read_budget", (50_000, 4))
        exit_socket, receiver = self.exit_socket()
        self.assertEqual(exit_socket._port.maxThroughput, 50_000)
        blaster = Blaster()
        self.addCleanup(blaster.close)
        dht_ping = b"d1:ad2:id20:" + b"n" * 20 + b"e1:q4:ping1:t2:aa1:y1:qe"  # what a BitTorrent exit lets in
        for _ in range(6):
            blaster.socket.sendto(dht_ping, tuple(exit_socket.get_address()))
        exit_socket._port.doRead()
        self.assertEqual(len(receiver.received), 4)
        exit_socket._port.doRead()
        self.assertEqual(len(receiver.received), 6)
