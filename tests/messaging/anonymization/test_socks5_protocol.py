"""The SOCKS5 server's state machine and UDP relay, driven deterministically (string transports, a fake clock).

Every reply code the server sends, malformed and slow clients, the caps, and every relay drop reason.
"""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import error
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization.socks5 import (
    ConnectionState,
    ISocksAssociationObserver,
    ISocksDatagramSink,
    Socks5ConfigurationError,
    Socks5Connection,
    Socks5Server,
    Socks5Settings,
    Socks5UDPConnection,
)
from ipv8.messaging.anonymization.socks5.connection import MAX_HANDSHAKE_BUFFER
from ipv8.messaging.anonymization.socks5.messages import encode_request, encode_udp_datagram
from ipv8.messaging.anonymization.socks5.udp_connection import HEADER_CACHE_SIZE

GREETING = b"\x05\x01\x00"
ASSOCIATE_V4_ZERO = b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00"


def reply(code: int) -> bytes:
    """A failure reply as the server sends it: BND.ADDR 0.0.0.0, port 0."""
    return bytes((5, code, 0, 1)) + b"\x00" * 6


class FakeUDPPort:
    """A listening UDP port that records what is written to it."""

    def __init__(self, protocol: Any, host: str, port: int) -> None:  # noqa: ANN401
        self.protocol = protocol
        self.host = host
        self.port = port
        self.written: list[tuple[bytes, Any]] = []
        self.stopped = False
        self.refuse: type[Exception] | None = None
        protocol.makeConnection(self)

    def write(self, packet: bytes, addr: Any = None) -> None:  # noqa: ANN401
        if self.refuse is not None:
            raise self.refuse("refused")
        self.written.append((packet, addr))

    def getHost(self) -> IPv4Address | IPv6Address:  # noqa: N802
        return (IPv6Address if ":" in self.host else IPv4Address)("UDP", self.host, self.port)

    def stopListening(self) -> Any:  # noqa: ANN401, N802
        self.stopped = True
        self.protocol.doStop()
        return succeed(None)


class UDPMemoryReactor(MemoryReactorClock):
    """MemoryReactorClock with a fake listenUDP (which it lacks)."""

    def __init__(self) -> None:
        super().__init__()
        self.udp_ports: list[FakeUDPPort] = []
        self.next_udp_port = 40000
        self.udp_fails = False

    def listenUDP(self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192) -> FakeUDPPort:  # noqa: ANN401, N802, N803
        if self.udp_fails:
            raise error.CannotListenError(interface, port, OSError(98, "Address already in use"))
        self.next_udp_port += 1
        fake = FakeUDPPort(protocol, interface or "0.0.0.0", port or self.next_udp_port)
        self.udp_ports.append(fake)
        return fake


@implementer(ISocksDatagramSink, ISocksAssociationObserver)
class RecordingSink:
    """Records datagrams and association events; can be told to refuse or to fail."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[Socks5UDPConnection, Any, bytes]] = []
        self.events: list[tuple[str, Socks5UDPConnection]] = []
        self.answer: object = None
        self.explode = False

    def on_socks5_udp_data(self, udp_connection: Socks5UDPConnection, destination: Any, data: bytes) -> object:  # noqa: ANN401
        if self.explode:
            msg = "sink bug"
            raise RuntimeError(msg)
        self.datagrams.append((udp_connection, destination, data))
        return self.answer

    def on_socks5_association_opened(self, udp_connection: Socks5UDPConnection) -> None:
        self.events.append(("opened", udp_connection))

    def on_socks5_association_closed(self, udp_connection: Socks5UDPConnection) -> None:
        self.events.append(("closed", udp_connection))


class ServerTestCase(SynchronousTestCase):
    """A server on a memory reactor, and helpers to connect string-transport clients to it."""

    def setUp(self) -> None:
        self.reactor = UDPMemoryReactor()
        self.sink = RecordingSink()
        self.server = self.make_server()

    def make_server(self, **settings: Any) -> Socks5Server:  # noqa: ANN401
        server = Socks5Server(self.sink, Socks5Settings(**settings), reactor=self.reactor)
        server.start()
        return server

    def connect(self, server: Socks5Server | None = None, host: str = "127.0.0.1",
                port: int = 50000) -> tuple[Socks5Connection | None, StringTransport]:
        server = server or self.server
        kind = IPv6Address if ":" in host else IPv4Address
        local = "::1" if ":" in host else "127.0.0.1"
        transport = StringTransport(hostAddress=kind("TCP", local, 1080), peerAddress=kind("TCP", host, port))
        protocol = server.buildProtocol(kind("TCP", host, port))
        if protocol is not None:
            protocol.makeConnection(transport)
        return protocol, transport

    def associate(self, **kwargs: Any) -> tuple[Socks5Connection, StringTransport, Socks5UDPConnection]:  # noqa: ANN401
        protocol, transport = self.connect(**kwargs)
        protocol.dataReceived(GREETING + ASSOCIATE_V4_ZERO)
        self.assertEqual(protocol.state, ConnectionState.ASSOCIATED)
        return protocol, transport, protocol.association

    @staticmethod
    def disconnect(protocol: Socks5Connection) -> None:
        protocol.connectionLost(Failure(error.ConnectionDone()))


class TestHandshake(ServerTestCase):

    def test_udp_associate_succeeds_and_announces_the_relay(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(GREETING)
        self.assertEqual(transport.value(), b"\x05\x00")
        self.assertEqual(protocol.state, ConnectionState.REQUEST)
        transport.clear()
        protocol.dataReceived(ASSOCIATE_V4_ZERO)
        relay = self.reactor.udp_ports[-1]
        self.assertEqual(relay.host, "127.0.0.1")
        self.assertEqual(transport.value(), b"\x05\x00\x00\x01\x7f\x00\x00\x01" + relay.port.to_bytes(2, "big"))
        self.assertFalse(transport.disconnecting)
        self.assertEqual(self.server.associations, {protocol.association})
        self.assertEqual(self.sink.events, [("opened", protocol.association)])
        self.assertIsNone(protocol.association.client_address)  # port 0 announced: learnt from the first datagram
        self.assertEqual(protocol.association.hops, 1)

    def test_byte_by_byte_and_pipelined_clients_both_work(self) -> None:
        for chunks in ([bytes((b,)) for b in GREETING + ASSOCIATE_V4_ZERO], [GREETING + ASSOCIATE_V4_ZERO]):
            protocol, transport = self.connect()
            for chunk in chunks:
                protocol.dataReceived(chunk)
            self.assertEqual(protocol.state, ConnectionState.ASSOCIATED)
            self.assertTrue(transport.value().startswith(b"\x05\x00\x05\x00\x00\x01"))

    def test_announced_port_pins_the_client_at_once(self) -> None:
        protocol, _ = self.connect()
        protocol.dataReceived(GREETING + encode_request(3, ("127.0.0.1", 6881)))
        self.assertEqual(protocol.association.client_address, ("127.0.0.1", 6881))

    def test_domain_in_the_request_is_accepted_and_not_resolved(self) -> None:
        protocol, _ = self.connect()
        protocol.dataReceived(GREETING + encode_request(3, ("my-laptop.local", 0)))
        self.assertEqual(protocol.state, ConnectionState.ASSOCIATED)

    def test_only_no_authentication_is_accepted(self) -> None:
        for greeting in (b"\x05\x02\x01\x02", b"\x05\x00"):
            protocol, transport = self.connect()
            protocol.dataReceived(greeting)
            self.assertEqual(transport.value(), b"\x05\xff")
            self.assertTrue(transport.disconnecting)
            self.assertEqual(protocol.state, ConnectionState.CLOSED)
        self.assertEqual(self.server.statistics.drops["no_acceptable_method"], 2)
        protocol, transport = self.connect()
        protocol.dataReceived(b"\x05\x03\x02\x01\x00")
        self.assertEqual(transport.value(), b"\x05\x00")

    def test_not_socks5_is_cut_off_without_an_answer(self) -> None:
        for data in (b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00", b"GET / HTTP/1.1\r\n\r\n", GREETING + b"\x04\x03\x00"):
            protocol, transport = self.connect()
            protocol.dataReceived(data)
            self.assertEqual(transport.value(), b"" if data[0] != 5 else b"\x05\x00")
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.server.statistics.drops["bad_version"], 3)

    def test_connect_bind_and_unknown_commands_are_not_supported(self) -> None:
        for command in (1, 2, 0, 9, 255):
            protocol, transport = self.connect()
            protocol.dataReceived(GREETING + encode_request(command, ("127.0.0.1", 80)))
            self.assertEqual(transport.value(), b"\x05\x00" + reply(0x07))
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.server.statistics.drops["command_not_supported"], 5)
        self.assertEqual(self.reactor.udp_ports, [])

    def test_unknown_address_type(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(GREETING + b"\x05\x03\x00\x02\x00\x00\x00\x00\x00\x00")
        self.assertEqual(transport.value(), b"\x05\x00" + reply(0x08))
        self.assertTrue(transport.disconnecting)

    def test_malformed_requests_get_general_failure(self) -> None:
        bad = (b"\x05\x03\x01\x01\x00\x00\x00\x00\x00\x00",  # reserved byte set
               b"\x05\x03\x00\x03\x00\x00\x00",  # empty domain
               b"\x05\x03\x00\x03\x04a\r\nb\x00\x00")  # control characters in the domain
        for request in bad:
            protocol, transport = self.connect()
            protocol.dataReceived(GREETING + request)
            self.assertEqual(transport.value(), b"\x05\x00" + reply(0x01))
            self.assertTrue(transport.disconnecting)
        self.assertEqual(self.server.statistics.drops, {"malformed_request": 1, "bad_domain": 2})

    def test_domain_length_cap(self) -> None:
        server = self.make_server(max_domain_length=10)
        protocol, transport = self.connect(server)
        protocol.dataReceived(GREETING + encode_request(3, ("a" * 11, 0)))
        self.assertEqual(transport.value(), b"\x05\x00" + reply(0x01))

    def test_relay_that_cannot_be_bound_is_a_general_failure(self) -> None:
        self.reactor.udp_fails = True
        protocol, transport = self.connect()
        protocol.dataReceived(GREETING + ASSOCIATE_V4_ZERO)
        self.assertEqual(transport.value(), b"\x05\x00" + reply(0x01))
        self.assertEqual(self.server.statistics.drops["udp_bind_failed"], 1)
        self.assertEqual(self.server.associations, set())

    def test_oversized_handshake_is_cut_off(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"\x05" + b"\xff" * MAX_HANDSHAKE_BUFFER)
        self.assertTrue(transport.disconnected)  # aborted, not flushed
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.server.statistics.drops["handshake_too_long"], 1)

    def test_bytes_after_the_reply_are_discarded(self) -> None:
        protocol, transport, _ = self.associate()
        protocol.dataReceived(b"x" * 100000)
        protocol.dataReceived(GREETING)
        self.assertEqual(protocol.discarded_bytes, 100003)
        self.assertEqual(protocol._buffer, b"")
        self.assertFalse(transport.disconnecting)

    def test_wildcard_relay_announces_the_address_the_client_used(self) -> None:
        server = self.make_server(udp_interface="0.0.0.0")
        protocol, transport = self.connect(server)
        protocol.dataReceived(GREETING + ASSOCIATE_V4_ZERO)
        self.assertEqual(self.reactor.udp_ports[-1].host, "0.0.0.0")
        self.assertEqual(transport.value()[2:10], b"\x05\x00\x00\x01\x7f\x00\x00\x01")

    def test_ipv6_listener_gets_an_ipv6_relay(self) -> None:
        server = self.make_server(interface="::1")
        self.assertEqual(self.reactor.tcpServers[-1][3], "::1")
        protocol, transport = self.connect(server, host="::1")
        protocol.dataReceived(GREETING + ASSOCIATE_V4_ZERO)
        port = self.reactor.udp_ports[-1].port
        self.assertEqual(transport.value()[2:], b"\x05\x00\x00\x04" + b"\x00" * 15 + b"\x01" + port.to_bytes(2, "big"))


class TestTimeoutsAndCaps(ServerTestCase):

    def test_a_client_that_never_finishes_is_dropped_on_time(self) -> None:
        for data in (b"", b"\x05", GREETING, GREETING + b"\x05\x03\x00\x03\x20abc"):
            protocol, transport = self.connect()
            protocol.dataReceived(data)
            self.reactor.advance(9.9)
            self.assertFalse(transport.disconnecting, data)
            self.reactor.advance(0.1)
            self.assertTrue(transport.disconnected, data)
            self.disconnect(protocol)
        self.assertEqual(self.server.statistics.drops["handshake_timeout"], 4)
        self.assertEqual(self.server.connections, set())
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_a_refused_client_that_does_not_go_away_is_aborted(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"\x05\x01\x02")
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.reactor.advance(10)
        self.assertTrue(transport.disconnected)
        self.assertEqual(self.server.statistics.drops, {"no_acceptable_method": 1})

    def test_the_timeout_ends_with_the_handshake(self) -> None:
        _, transport, _ = self.associate()
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.reactor.advance(3600)
        self.assertFalse(transport.disconnecting)
        failed, _ = self.connect()
        failed.dataReceived(b"\x05\x00")
        self.disconnect(failed)
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_timeout_is_configurable_and_runs_on_the_given_clock(self) -> None:
        server = self.make_server(handshake_timeout=0.5)
        _, transport = self.connect(server)
        self.reactor.advance(0.5)
        self.assertTrue(transport.disconnected)
        clock = Clock()
        server = Socks5Server(self.sink, reactor=self.reactor, clock=clock)
        _, transport = self.connect(server)
        self.reactor.advance(60)
        self.assertFalse(transport.disconnecting)
        clock.advance(10)
        self.assertTrue(transport.disconnected)

    def test_connection_cap(self) -> None:
        server = self.make_server(max_connections=2)
        first, _ = self.connect(server)
        self.connect(server)
        refused, _ = self.connect(server)
        self.assertIsNone(refused)
        self.assertEqual(server.statistics.drops["connection_cap"], 1)
        self.disconnect(first)
        accepted, _ = self.connect(server)
        self.assertIsNotNone(accepted)
        self.assertEqual(server.statistics.connections_accepted, 3)

    def test_association_cap_answers_not_allowed(self) -> None:
        self.server = self.make_server(max_associations=1)
        first, _, _ = self.associate()
        protocol, transport = self.connect()
        protocol.dataReceived(GREETING + ASSOCIATE_V4_ZERO)
        self.assertEqual(transport.value(), b"\x05\x00" + reply(0x02))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(self.server.statistics.drops["association_cap"], 1)
        self.disconnect(first)
        self.associate()

    def test_settings_are_checked(self) -> None:
        for bad in ({"interface": "localhost"}, {"udp_interface": "any"}, {"port": 65536}, {"hops": -1},
                    {"max_connections": 0}, {"max_associations": True}, {"handshake_timeout": 0},
                    {"max_domain_length": 256}):
            with self.assertRaises(Socks5ConfigurationError, msg=bad):
                Socks5Settings(**bad)

    def test_the_sink_must_declare_the_interface(self) -> None:
        with self.assertRaises(TypeError):
            Socks5Server(object(), reactor=self.reactor)
        with self.assertRaises(TypeError):
            self.server.sink = lambda *args: None
        self.server.sink = None

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.binary(min_size=1, max_size=200), max_size=8))
    def test_random_input_never_raises_and_stays_bounded(self, chunks: list[bytes]) -> None:
        reactor = UDPMemoryReactor()
        server = Socks5Server(RecordingSink(), reactor=reactor)
        server.start()
        protocol = server.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 1))
        protocol.makeConnection(transport)
        for chunk in chunks:
            protocol.dataReceived(chunk)
            self.assertLessEqual(len(protocol._buffer), MAX_HANDSHAKE_BUFFER)
        self.assertLessEqual(len(transport.value()), 2 + 22)
        if protocol.state != ConnectionState.ASSOCIATED:
            reactor.advance(10)
            self.assertTrue(transport.disconnecting)


class TestAssociationLife(ServerTestCase):

    def test_closing_the_control_connection_ends_the_association(self) -> None:
        protocol, _, association = self.associate()
        relay = self.reactor.udp_ports[-1]
        self.disconnect(protocol)
        self.assertTrue(relay.stopped)
        self.assertTrue(association.closed)
        self.assertEqual(self.server.associations, set())
        self.assertEqual(self.sink.events, [("opened", association), ("closed", association)])
        self.assertEqual(self.server.get_statistics().associations_opened, 1)

    def test_stop_closes_everything(self) -> None:
        protocol, transport, _ = self.associate()
        waiting, waiting_transport = self.connect()
        stopped = self.server.stop()
        self.assertTrue(transport.disconnected)
        self.assertTrue(waiting_transport.disconnected)
        self.assertTrue(self.reactor.udp_ports[-1].stopped)
        self.assertNoResult(stopped)
        self.disconnect(protocol)
        self.disconnect(waiting)
        self.assertIsNone(self.successResultOf(stopped))
        self.assertIsNone(self.server.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)))
        self.assertIsNone(self.server.address)

    def test_traffic_of_closed_associations_stays_in_the_totals(self) -> None:
        protocol, _, association = self.associate()
        association.datagramReceived(encode_udp_datagram(("127.0.0.1", 9), b"abc"), ("127.0.0.1", 6881))
        association.datagramReceived(b"junk", ("127.0.0.1", 6881))
        self.assertEqual(self.server.get_statistics().datagrams_to_sink, 1)
        self.disconnect(protocol)
        totals = self.server.get_statistics()
        self.assertEqual((totals.datagrams_to_sink, totals.bytes_to_sink), (1, 3))
        self.assertEqual(totals.as_dict()["drops"], {"malformed_datagram": 1})


class TestRelay(ServerTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.protocol, _, self.association = self.associate()
        self.relay = self.reactor.udp_ports[-1]

    def send(self, datagram: bytes, source: tuple[str, int] = ("127.0.0.1", 6881)) -> None:
        self.association.datagramReceived(datagram, source)

    def test_destinations_of_every_type_reach_the_sink_untouched(self) -> None:
        self.send(encode_udp_datagram(("192.0.2.1", 6881), b"v4"))
        self.send(encode_udp_datagram(("2001:db8::1", 6881), b"v6"))
        self.send(encode_udp_datagram(("Router.BitTorrent.example", 6881), b"name"))
        self.send(encode_udp_datagram(DomainAddress("192.0.2.1", 80), b"name-like-ip"))
        got = [(type(destination), destination, data) for _, destination, data in self.sink.datagrams]
        self.assertEqual(got, [(UDPv4Address, ("192.0.2.1", 6881), b"v4"), (UDPv6Address, ("2001:db8::1", 6881), b"v6"),
                               (DomainAddress, ("Router.BitTorrent.example", 6881), b"name"),
                               (DomainAddress, ("192.0.2.1", 80), b"name-like-ip")])
        self.assertTrue(all(connection is self.association for connection, _, _ in self.sink.datagrams))
        self.assertEqual(self.association.statistics.datagrams_to_sink, 4)

    def test_only_the_client_may_use_the_relay(self) -> None:
        datagram = encode_udp_datagram(("192.0.2.1", 1), b"x")
        self.send(datagram, ("127.0.0.2", 6881))
        self.assertIsNone(self.association.client_address)
        self.send(datagram, ("127.0.0.1", 6881))
        self.assertEqual(self.association.client_address, ("127.0.0.1", 6881))
        self.send(datagram, ("127.0.0.1", 6882))
        self.send(datagram, ("10.0.0.1", 6881))
        self.assertEqual(len(self.sink.datagrams), 1)
        self.assertEqual(self.association.statistics.drops, {"foreign_source": 2, "foreign_port": 1})

    def test_fragments_are_dropped(self) -> None:
        for destination in (("192.0.2.1", 1), ("2001:db8::1", 1), ("example.org", 1)):
            self.send(encode_udp_datagram(destination, b"part", frag=1))
        self.send(encode_udp_datagram(("192.0.2.1", 1), b"last", frag=0x81))
        self.assertEqual(self.sink.datagrams, [])
        self.assertEqual(self.association.statistics.drops, {"fragment": 4})

    def test_malformed_datagrams_are_counted(self) -> None:
        for datagram in (b"", b"\x00\x00\x00\x01\x7f", b"\x00\x00\x00\x07rest", b"\x01\x00\x00\x01" + b"\x00" * 6,
                         b"\x00\x00\x00\x03\x02a!\x00\x01", encode_udp_datagram(("192.0.2.1", 0), b"port zero"),
                         encode_udp_datagram(("example.org", 0), b"port zero")):
            self.send(datagram)
        self.assertEqual(self.sink.datagrams, [])
        self.assertEqual(self.association.statistics.drops, {"malformed_datagram": 3, "bad_address_type": 1,
                                                             "bad_domain": 1, "bad_destination": 2})

    def test_sink_refusals_and_failures_are_counted_and_survived(self) -> None:
        datagram = encode_udp_datagram(("192.0.2.1", 1), b"x")
        self.sink.answer = False
        self.send(datagram)
        self.sink.answer = True
        self.sink.explode = True
        self.send(datagram)
        self.flushLoggedErrors(RuntimeError)
        self.sink.explode = False
        self.send(datagram)
        self.server.sink = None
        self.send(datagram)
        self.assertEqual(self.association.statistics.drops, {"rejected_by_sink": 1, "sink_error": 1, "no_sink": 1})
        self.assertEqual(self.association.statistics.datagrams_to_sink, 1)

    def test_answers_get_the_header_of_their_source(self) -> None:
        self.assertFalse(self.association.send_datagram(("192.0.2.1", 1), b"too early"))
        self.assertEqual(self.association.statistics.drops, {"no_client": 1})
        self.send(encode_udp_datagram(("192.0.2.1", 1), b"hello"))
        for source in (("192.0.2.1", 1), UDPv6Address("2001:db8::1", 2), DomainAddress("192.0.2.1", 1),
                       ("192.0.2.1", 1), DomainAddress("peer.example", 3)):
            self.assertTrue(self.association.send_datagram(source, b"answer"))
        expected = [encode_udp_datagram(("192.0.2.1", 1), b"answer"),
                    encode_udp_datagram(("2001:db8::1", 2), b"answer"),
                    encode_udp_datagram(DomainAddress("192.0.2.1", 1), b"answer"),
                    encode_udp_datagram(("192.0.2.1", 1), b"answer"),
                    encode_udp_datagram(("peer.example", 3), b"answer")]
        self.assertEqual(self.relay.written, [(packet, ("127.0.0.1", 6881)) for packet in expected])
        self.assertEqual(self.association.statistics.datagrams_to_client, 5)

    def test_unsendable_answers_are_dropped(self) -> None:
        self.send(encode_udp_datagram(("192.0.2.1", 1), b"hello"))
        self.assertFalse(self.association.send_datagram(("192.0.2.1", 1), b"x" * 65500))
        self.assertFalse(self.association.send_datagram(("192.0.2.1", 70000), b"x"))
        self.assertFalse(self.association.send_datagram(("a" * 300, 1), b"x"))
        self.relay.refuse = OSError
        self.assertFalse(self.association.send_datagram(("192.0.2.1", 1), b"x"))
        self.relay.refuse = error.MessageLengthError
        self.assertFalse(self.association.send_datagram(("192.0.2.1", 1), b"x"))
        self.relay.refuse = None
        self.disconnect(self.protocol)
        self.assertFalse(self.association.send_datagram(("192.0.2.1", 1), b"x"))
        self.send(encode_udp_datagram(("192.0.2.1", 1), b"late"))
        self.assertEqual(self.association.statistics.drops,
                         {"oversize": 1, "bad_source": 2, "send_error": 2, "closed": 2})
        self.assertEqual(self.relay.written, [])

    def test_header_caches_are_bounded(self) -> None:
        for i in range(HEADER_CACHE_SIZE * 2 + 10):
            destination = (f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 1 + i)
            self.send(encode_udp_datagram(destination, b"x"))
            self.association.send_datagram(destination, b"y")
            self.assertEqual(self.sink.datagrams[-1][1], destination)
        self.assertLessEqual(len(self.association._destinations), HEADER_CACHE_SIZE)
        self.assertLessEqual(len(self.association._headers), HEADER_CACHE_SIZE)
        self.assertEqual(self.relay.written[-1][0], encode_udp_datagram(destination, b"y"))

    def test_ipv4_client_seen_through_a_dual_stack_listener(self) -> None:
        association = Socks5UDPConnection(self.server, None, "::ffff:127.0.0.1")
        association.listen(self.reactor, "127.0.0.1")
        association.datagramReceived(encode_udp_datagram(("192.0.2.1", 1), b"x"), ("127.0.0.1", 5))
        self.assertEqual(association.client_address, ("127.0.0.1", 5))
        association6 = Socks5UDPConnection(self.server, None, "127.0.0.1", 5)
        association6.listen(self.reactor, "::")
        self.assertEqual(association6.client_address, ("::ffff:127.0.0.1", 5))
        self.successResultOf(association.close())
        self.successResultOf(association6.close())
