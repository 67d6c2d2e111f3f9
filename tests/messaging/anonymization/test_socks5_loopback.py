"""The SOCKS5 server on real sockets (127.0.0.1 and ::1 only): client -> server -> sink -> client."""
from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, DatagramProtocol, Protocol
from twisted.trial import unittest
from zope.interface import implementer

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization.socks5 import (
    ISocksAssociationObserver,
    ISocksDatagramSink,
    Socks5Client,
    Socks5ClientError,
    Socks5Server,
    Socks5Settings,
    Socks5UDPConnection,
)
from ipv8.messaging.anonymization.socks5.messages import encode_greeting, encode_request, encode_udp_datagram
from ipv8.test.util import wait_until


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@implementer(ISocksDatagramSink, ISocksAssociationObserver)
class EchoSink:
    """Answers every datagram from the destination it was sent to, with the same data reversed."""

    def __init__(self) -> None:
        self.seen: list[tuple[Any, bytes]] = []
        self.opened: list[Socks5UDPConnection] = []
        self.closed: list[Socks5UDPConnection] = []

    def on_socks5_udp_data(self, udp_connection: Socks5UDPConnection, destination: Any, data: bytes) -> None:  # noqa: ANN401
        self.seen.append((destination, data))
        udp_connection.send_datagram(destination, data[::-1])

    def on_socks5_association_opened(self, udp_connection: Socks5UDPConnection) -> None:
        self.opened.append(udp_connection)

    def on_socks5_association_closed(self, udp_connection: Socks5UDPConnection) -> None:
        self.closed.append(udp_connection)


class UDPEcho(DatagramProtocol):
    """A plain UDP echo service on 127.0.0.1, standing in for a remote peer."""

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:  # noqa: ANN401, N802
        self.transport.write(b"echo:" + datagram, addr)


@implementer(ISocksDatagramSink)
class ForwardingSink(DatagramProtocol):
    """Sends each datagram to its (loopback) destination for real and relays the answers back: an exit in miniature."""

    def __init__(self) -> None:
        self.association: Socks5UDPConnection | None = None

    def on_socks5_udp_data(self, udp_connection: Socks5UDPConnection, destination: Any, data: bytes) -> None:  # noqa: ANN401
        self.association = udp_connection
        self.transport.write(data, (destination[0], destination[1]))

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:  # noqa: ANN401, N802
        if self.association is not None:
            self.association.send_datagram(UDPv4Address(addr[0], addr[1]), datagram)


class RawControl(Protocol):
    """Records what a SOCKS5 server answers to hand-made bytes."""

    def __init__(self, to_send: bytes) -> None:
        self.to_send = to_send
        self.received = b""
        self.lost: Deferred = Deferred()

    def connectionMade(self) -> None:  # noqa: N802
        self.transport.write(self.to_send)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.received += data

    def connectionLost(self, reason: Any = None) -> None:  # noqa: ANN401, N802
        self.lost.callback(self.received)


class LoopbackTestCase(unittest.TestCase):
    timeout = 20
    interface = "127.0.0.1"

    def setUp(self) -> Deferred:
        self.sink = EchoSink()
        self.server = Socks5Server(self.sink, Socks5Settings(interface=self.interface))
        self.clients: list[Socks5Client] = []
        self.addCleanup(self.server.stop)
        return self.server.start()

    def client(self, **kwargs: Any) -> Socks5Client:  # noqa: ANN401
        client = Socks5Client(self.server.address, **kwargs)
        self.clients.append(client)
        self.addCleanup(client.close)
        return client

    async def round_trip(self, client: Socks5Client, destination: tuple[str, int], data: bytes) -> tuple[Any, bytes]:
        client.sendto(data, destination)
        return await client.next_datagram()


class TestLoopbackIPv4(LoopbackTestCase):

    async def test_ipv4_ipv6_and_hostname_destinations(self) -> None:
        client = self.client()
        relay = await client.associate()
        self.assertEqual(relay[0], self.interface)
        self.assertNotEqual(relay[1], self.server.port)
        for destination, kind in ((("127.0.0.1", 6881), UDPv4Address), (("::1", 6881), UDPv6Address),
                                  (("router.tracker.invalid", 6969), DomainAddress)):
            source, data = await self.round_trip(client, destination, b"hello " + destination[0].encode())
            self.assertEqual(type(source), kind)
            self.assertEqual(source, destination)
            self.assertEqual(data, (b"hello " + destination[0].encode())[::-1])
            seen_destination, _ = self.sink.seen[-1]
            self.assertEqual((type(seen_destination), seen_destination), (kind, destination))  # the name untouched
        [association] = self.sink.opened
        self.assertEqual(association.client_address, (self.interface, client._udp_port.getHost().port))

    async def test_many_datagrams_in_both_directions(self) -> None:
        received: list[tuple[Any, bytes]] = []
        client = self.client(on_datagram=lambda source, data: received.append((source, data)))
        await client.associate()
        payloads = [i.to_bytes(4, "big") * 256 for i in range(200)]  # 1 KB each
        for payload in payloads:
            client.sendto(payload, ("127.0.0.1", 9))
        await wait_until(lambda: len(received) == len(payloads), what="all echoes")
        self.assertEqual(sorted(data for _, data in received), sorted(p[::-1] for p in payloads))
        totals = self.server.get_statistics()
        self.assertEqual((totals.datagrams_to_sink, totals.datagrams_to_client), (200, 200))
        self.assertEqual(totals.bytes_to_sink, 200 * 1024)

    async def test_client_learnt_from_its_first_datagram(self) -> None:
        client = self.client(announce_port=False)
        await client.associate()
        await wait_until(lambda: len(self.sink.opened) == 1)
        self.assertIsNone(self.sink.opened[0].client_address)
        _, data = await self.round_trip(client, ("127.0.0.1", 1), b"ab")
        self.assertEqual(data, b"ba")
        self.assertEqual(self.sink.opened[0].client_address[1], client._udp_port.getHost().port)

    async def test_strangers_cannot_use_an_association(self) -> None:
        client = self.client()
        relay = await client.associate()
        stranger = reactor.listenUDP(0, DatagramProtocol(), interface=self.interface)
        self.addCleanup(stranger.stopListening)
        stranger.write(encode_udp_datagram(("127.0.0.1", 1), b"intruder"), relay)
        await self.round_trip(client, ("127.0.0.1", 1), b"owner")
        self.assertEqual(self.sink.seen, [(("127.0.0.1", 1), b"owner")])
        association = self.sink.opened[0]
        await wait_until(lambda: association.statistics.drops.get("foreign_port") == 1)

    async def test_association_ends_with_the_control_connection(self) -> None:
        client = self.client()
        await client.associate()
        association = self.sink.opened[0]
        await client.close()
        await wait_until(lambda: self.sink.closed == [association], what="the association closed")
        self.assertIsNone(association.address)
        self.assertEqual(self.server.associations, set())

    async def test_stopping_the_server_ends_client_associations(self) -> None:
        clients = [self.client() for _ in range(3)]
        for client in clients:
            await client.associate()
        await self.server.stop()
        self.assertEqual(len(self.sink.closed), 3)
        self.assertEqual(self.server.connections, set())
        self.assertTrue(all(association.address is None for association in self.sink.closed))
        await wait_until(lambda: all(client.lost.called for client in clients), what="clients see the end")

    async def test_connect_is_refused_over_the_wire(self) -> None:
        raw = RawControl(encode_greeting() + encode_request(1, ("example.invalid", 80)))
        factory = ClientFactory.forProtocol(lambda: raw)
        reactor.connectTCP(*self.server.address, factory)
        answer = await raw.lost
        self.assertEqual(answer, b"\x05\x00" + b"\x05\x07\x00\x01" + b"\x00" * 6)
        self.assertEqual(self.server.statistics.drops, {"command_not_supported": 1})

    async def test_refusal_reaches_the_client(self) -> None:
        self.server.settings.max_associations = 1
        await self.client().associate()
        second = self.client()
        with self.assertRaises(Socks5ClientError) as caught:
            await second.associate()
        self.assertEqual(caught.exception.reply, 0x02)

    async def test_forwarding_sink_talks_to_a_real_udp_service(self) -> None:
        echo = reactor.listenUDP(0, UDPEcho(), interface="127.0.0.1")
        self.addCleanup(echo.stopListening)
        forwarder = ForwardingSink()
        outside = reactor.listenUDP(0, forwarder, interface="127.0.0.1")
        self.addCleanup(outside.stopListening)
        self.server.sink = forwarder
        client = self.client()
        await client.associate()
        echo_address = ("127.0.0.1", echo.getHost().port)
        source, data = await self.round_trip(client, echo_address, b"through the relay")
        self.assertEqual((source, data), (echo_address, b"echo:through the relay"))


class TestLoopbackIPv6(TestLoopbackIPv4):
    """The same, with the server, its relay sockets and the client on ::1."""

    interface = "::1"

    def setUp(self) -> Deferred:
        if not has_ipv6_loopback():
            raise unittest.SkipTest("this machine has no IPv6 loopback (::1)")
        return super().setUp()

    async def test_relay_is_on_ipv6(self) -> None:
        client = self.client()
        relay = await client.associate()
        self.assertEqual(relay[0], "::1")
        self.assertEqual(self.sink.opened[0].client_address[0], "::1")


class Scripted(Protocol):
    """A fake SOCKS5 server that answers every chunk with the next scripted reply (or stays silent)."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = list(replies)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self.replies:
            self.transport.write(self.replies.pop(0))


class TestClientFailures(unittest.TestCase):
    timeout = 20

    def scripted_server(self, replies: list[bytes]) -> tuple[str, int]:
        factory = ClientFactory.forProtocol(lambda: Scripted(replies))
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return "127.0.0.1", port.getHost().port

    async def expect_failure(self, address: tuple[str, int], text: str, **kwargs: Any) -> Socks5ClientError:  # noqa: ANN401
        client = Socks5Client(address, **kwargs)
        self.addCleanup(client.close)
        with self.assertRaises(Socks5ClientError) as caught:
            await client.associate()
        self.assertIn(text, str(caught.exception))
        with self.assertRaises(Socks5ClientError):
            client.sendto(b"x", ("127.0.0.1", 1))
        return caught.exception

    async def test_method_refused(self) -> None:
        await self.expect_failure(self.scripted_server([b"\x05\xff"]), "refused every offered method")

    async def test_not_a_socks5_server(self) -> None:
        await self.expect_failure(self.scripted_server([b"HTTP/1.1 400 Bad Request\r\n"]), "unusable answer")

    async def test_silent_server_times_out(self) -> None:
        await self.expect_failure(self.scripted_server([b"\x05\x00"]), "no UDP association within 0.3 s",
                                  timeout=0.3)

    async def test_general_failure_reply(self) -> None:
        error = await self.expect_failure(self.scripted_server([b"\x05\x00", b"\x05\x01\x00\x01" + b"\x00" * 6]),
                                          "0x01")
        self.assertEqual(error.reply, 0x01)

    async def test_nobody_listening(self) -> None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            address = unused.getsockname()
        await self.expect_failure(address, "cannot reach the SOCKS5 server")
