"""Real UDP over 127.0.0.1 and ::1 through the Twisted reactor (trial test cases, run by pytest)."""
from __future__ import annotations

import errno
import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.interfaces.endpoint import (
    EndpointClosedException,
    EndpointConfigurationError,
    IEndpoint,
)
from ipv8.messaging.interfaces.udp import endpoint as udp_module
from ipv8.messaging.interfaces.udp.endpoint import (
    UDP_MAX_PAYLOAD_IPV4,
    UDP_MAX_PAYLOAD_IPV6,
    UDPEndpoint,
    UDPv6Endpoint,
)

from .support import IPV6_LOOPBACK, PREFIX_A, PREFIX_B, RecordingListener, settle, wait_until


class ListenOnlyReactor:
    """The real reactor minus IReactorSocket: forces the endpoint onto its ``listenUDP`` code path."""

    def listenUDP(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802, ANN401
        return reactor.listenUDP(*args, **kwargs)


class UDPTestBase(unittest.TestCase):
    """Opens endpoints on demand and always closes them again (trial checks for leftover sockets)."""

    timeout = 5
    ENDPOINT_CLASS: type[UDPEndpoint] = UDPEndpoint
    HOST = "127.0.0.1"

    @inlineCallbacks
    def open_endpoint(self, **kwargs: Any) -> Any:  # noqa: ANN401
        kwargs.setdefault("ip", self.HOST)
        endpoint = self.ENDPOINT_CLASS(**kwargs)
        self.addCleanup(endpoint.close)
        opened = yield endpoint.open()
        self.assertTrue(opened)
        return endpoint

    @inlineCallbacks
    def open_pair(self) -> Any:  # noqa: ANN401
        sender = yield self.open_endpoint()
        receiver = yield self.open_endpoint()
        listener = RecordingListener(receiver)
        receiver.add_listener(listener)
        return sender, receiver, listener


class TestUDPv4Endpoint(UDPTestBase):

    @inlineCallbacks
    def test_provides_iendpoint(self) -> Any:  # noqa: ANN401
        endpoint = yield self.open_endpoint()
        self.assertTrue(verifyObject(IEndpoint, endpoint))
        self.assertTrue(verifyObject(IEndpoint, UDPEndpoint()))  # also before opening

    @inlineCallbacks
    def test_send_and_receive_with_counters(self) -> Any:  # noqa: ANN401
        sender, receiver, listener = yield self.open_pair()
        sender.send(receiver.get_address(), b"first")
        sender.send(tuple(receiver.get_address()), b"second!")
        yield wait_until(lambda: len(listener.packets) == 2)

        source = listener.packets[0][0]
        self.assertIsInstance(source, UDPv4Address)
        self.assertEqual(source, sender.get_address())
        self.assertEqual(sorted(listener.payloads), [b"first", b"second!"])
        self.assertEqual((sender.bytes_up, sender.packets_sent), (12, 2))
        self.assertEqual((receiver.bytes_down, receiver.packets_received), (12, 2))
        self.assertEqual((sender.bytes_down, receiver.bytes_up), (0, 0))
        self.assertEqual(sender.packets_dropped, 0)

        sender.reset_byte_counters()
        self.assertEqual((sender.bytes_up, sender.packets_sent), (0, 0))

    @inlineCallbacks
    def test_largest_datagram_arrives_and_one_more_byte_is_dropped(self) -> Any:  # noqa: ANN401
        sender, receiver, listener = yield self.open_pair()
        sender.send(receiver.get_address(), b"\x01" * UDP_MAX_PAYLOAD_IPV4)
        sender.send(receiver.get_address(), b"\x02" * (UDP_MAX_PAYLOAD_IPV4 + 1))
        yield wait_until(lambda: len(listener.packets) == 1)
        yield settle()

        self.assertEqual(listener.payloads, [b"\x01" * UDP_MAX_PAYLOAD_IPV4])
        self.assertEqual(sender.drops, {"oversize": 1})
        self.assertEqual(sender.bytes_up, UDP_MAX_PAYLOAD_IPV4)

    @inlineCallbacks
    def test_send_while_closed_is_dropped_and_counted(self) -> Any:  # noqa: ANN401
        never_opened = UDPEndpoint(ip=self.HOST)
        never_opened.send(("127.0.0.1", 9), b"data")
        self.assertEqual(never_opened.drops, {"closed": 1})

        sender, receiver, listener = yield self.open_pair()
        target = receiver.get_address()
        yield sender.close()
        self.assertFalse(sender.is_open())
        sender.send(target, b"late")
        yield settle()
        self.assertEqual(listener.packets, [])
        self.assertEqual((sender.drops, sender.packets_sent), ({"closed": 1}, 0))

    @inlineCallbacks
    def test_unusable_destinations_are_dropped(self) -> Any:  # noqa: ANN401
        endpoint = yield self.open_endpoint()
        for destination in (DomainAddress("localhost", 9), ("::1", 9), ("127.0.0.1", 0), ("127.0.0.1",),
                            ("127.0.0.1", "9"), "127.0.0.1:9", None):
            endpoint.send(destination, b"x")
        self.assertEqual(endpoint.drops, {"bad_address": 7})
        self.assertEqual(endpoint.packets_sent, 0)

    @inlineCallbacks
    def test_packet_must_be_bytes(self) -> Any:  # noqa: ANN401
        endpoint = yield self.open_endpoint()
        with self.assertRaises(TypeError):
            endpoint.send(("127.0.0.1", 9), "text")

    @inlineCallbacks
    def test_taken_port_moves_to_the_next_free_one(self) -> Any:  # noqa: ANN401
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(blocker.close)
        blocker.bind((self.HOST, 0))
        taken = blocker.getsockname()[1]
        if taken == 65535:
            self.skipTest("the OS handed out the very last port")

        endpoint = yield self.open_endpoint(port=taken)
        bound = endpoint.get_address()[1]
        self.assertGreater(bound, taken)
        self.assertLessEqual(bound, taken + udp_module.PORT_SEARCH_SPAN)

        # The endpoint really works on the port it reports.
        peer, _, _ = yield self.open_pair()
        listener = RecordingListener(endpoint)
        endpoint.add_listener(listener)
        peer.send(("127.0.0.1", bound), b"found you")
        yield wait_until(lambda: listener.payloads == [b"found you"])

    @inlineCallbacks
    def test_open_reports_false_when_no_port_is_free(self) -> Any:  # noqa: ANN401
        blockers = []
        for _ in range(3):
            blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.addCleanup(blocker.close)
            blocker.bind((self.HOST, 0))
            blockers.append(blocker.getsockname()[1])
        self.patch(udp_module, "PORT_SEARCH_SPAN", 1)
        endpoint = UDPEndpoint(port=blockers[0], ip=self.HOST)
        opened = yield endpoint.open()
        self.assertFalse(opened)
        self.assertFalse(endpoint.is_open())

    @inlineCallbacks
    def test_open_is_idempotent_and_reopen_after_close_works(self) -> Any:  # noqa: ANN401
        endpoint = yield self.open_endpoint()
        first = endpoint.get_address()
        again = yield endpoint.open()
        self.assertTrue(again)
        self.assertEqual(endpoint.get_address(), first)

        closing = endpoint.close()
        reopened = yield endpoint.open()  # waits for the close to finish first
        yield closing
        self.assertTrue(reopened)
        self.assertTrue(endpoint.is_open())

    @inlineCallbacks
    def test_close_twice_and_get_address_when_closed(self) -> Any:  # noqa: ANN401
        endpoint = yield self.open_endpoint()
        first, second = endpoint.close(), endpoint.close()
        result = yield first
        self.assertIsNone(result)
        yield second
        yield endpoint.close()
        with self.assertRaises(EndpointClosedException):
            endpoint.get_address()

    @inlineCallbacks
    def test_failing_listener_does_not_stop_delivery(self) -> Any:  # noqa: ANN401
        sender, receiver, healthy = yield self.open_pair()
        broken = RecordingListener(receiver, explode=True)
        receiver.remove_listener(healthy)
        receiver.add_listener(broken)
        receiver.add_listener(healthy)

        sender.send(receiver.get_address(), b"one")
        sender.send(receiver.get_address(), b"two")
        yield wait_until(lambda: len(healthy.packets) == 2)
        self.assertEqual(len(broken.packets), 2)
        self.assertEqual(receiver.counters.listener_failures, 2)
        # trial fails a test when Twisted logs an error: reaching this point means nothing leaked out.

    @inlineCallbacks
    def test_prefix_listeners_over_udp(self) -> Any:  # noqa: ANN401
        sender, receiver, generic = yield self.open_pair()
        community_a, community_b = RecordingListener(receiver), RecordingListener(receiver)
        receiver.add_prefix_listener(community_a, PREFIX_A)
        receiver.add_prefix_listener(community_b, PREFIX_B)

        sender.send(receiver.get_address(), PREFIX_A + b"\x01")
        sender.send(receiver.get_address(), PREFIX_B + b"\x02")
        sender.send(receiver.get_address(), b"no prefix")
        yield wait_until(lambda: len(generic.packets) == 3)
        self.assertEqual(community_a.payloads, [PREFIX_A + b"\x01"])
        self.assertEqual(community_b.payloads, [PREFIX_B + b"\x02"])

    @inlineCallbacks
    def test_listener_estimates_lan_with_the_bound_port(self) -> Any:  # noqa: ANN401
        endpoint = yield self.open_endpoint()
        listener = RecordingListener(endpoint)
        self.assertEqual(listener.my_estimated_lan[1], endpoint.get_address()[1])
        self.assertFalse(listener.is_ipv6_listener)

    @inlineCallbacks
    def test_socket_buffers_are_enlarged(self) -> Any:  # noqa: ANN401
        small = yield self.open_endpoint(sockopts=[])
        large = yield self.open_endpoint()
        option = (socket.SOL_SOCKET, socket.SO_RCVBUF)
        self.assertGreater(large.transport.getHandle().getsockopt(*option),
                           small.transport.getHandle().getsockopt(*option))

    @inlineCallbacks
    def test_listen_udp_code_path(self) -> Any:  # noqa: ANN401
        """Reactors without IReactorSocket get a port through listenUDP, including the port search."""
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(blocker.close)
        blocker.bind((self.HOST, 0))
        endpoint = yield self.open_endpoint(port=blocker.getsockname()[1], reactor=ListenOnlyReactor())
        self.assertGreater(endpoint.get_address()[1], blocker.getsockname()[1])

        peer = yield self.open_endpoint()
        listener = RecordingListener(endpoint)
        endpoint.add_listener(listener)
        peer.send(endpoint.get_address(), b"via listenUDP")
        yield wait_until(lambda: listener.payloads == [b"via listenUDP"])

    def test_bad_configuration_is_rejected(self) -> None:
        for kwargs in ({"port": -1}, {"port": 65536}, {"port": "80"}, {"port": True},
                       {"ip": "::"}, {"ip": "localhost"}, {"ip": ""}):
            with self.assertRaises(EndpointConfigurationError, msg=repr(kwargs)):
                UDPEndpoint(**kwargs)
        with self.assertRaises(EndpointConfigurationError):
            UDPv6Endpoint(ip="0.0.0.0")

    @inlineCallbacks
    def test_other_bind_errors_fail_without_searching(self) -> Any:  # noqa: ANN401
        # A documentation address this machine does not own: EADDRNOTAVAIL, which another port won't fix.
        endpoint = UDPEndpoint(port=40000, ip="192.0.2.254")
        attempts = []
        real_bind = endpoint._bind
        endpoint._bind = lambda port: attempts.append(port) or real_bind(port)
        opened = yield endpoint.open()
        self.assertFalse(opened)
        self.assertEqual(attempts, [40000])

    def test_datagram_from_wrong_family_is_dropped(self) -> None:
        endpoint = UDPEndpoint(ip=self.HOST)
        listener = RecordingListener(endpoint)
        endpoint.add_listener(listener)
        endpoint._running = True  # pretend: feeding datagramReceived directly needs no socket
        endpoint.datagramReceived(b"v6?", ("::1", 1000))
        endpoint.datagramReceived(b"ok", ("127.0.0.1", 1000))
        self.assertEqual(listener.payloads, [b"ok"])
        self.assertEqual(endpoint.drops, {"unsupported_family": 1})


class TestUDPv6Endpoint(UDPTestBase):

    ENDPOINT_CLASS = UDPv6Endpoint
    HOST = "::1"

    def setUp(self) -> None:
        if not IPV6_LOOPBACK:
            self.skipTest("::1 is not available on this machine")

    @inlineCallbacks
    def test_send_and_receive(self) -> Any:  # noqa: ANN401
        sender, receiver, listener = yield self.open_pair()
        self.assertTrue(verifyObject(IEndpoint, sender))
        sender.send(receiver.get_address(), b"over six")
        yield wait_until(lambda: len(listener.packets) == 1)
        source, data = listener.packets[0]
        self.assertIsInstance(source, UDPv6Address)
        self.assertEqual((source, data), (sender.get_address(), b"over six"))
        self.assertEqual((sender.bytes_up, receiver.bytes_down), (8, 8))
        self.assertTrue(RecordingListener(receiver).is_ipv6_listener)

    @inlineCallbacks
    def test_largest_datagram_and_oversize(self) -> Any:  # noqa: ANN401
        sender, receiver, listener = yield self.open_pair()
        sender.send(receiver.get_address(), b"\x06" * UDP_MAX_PAYLOAD_IPV6)
        sender.send(receiver.get_address(), b"\x07" * (UDP_MAX_PAYLOAD_IPV6 + 1))
        yield wait_until(lambda: len(listener.packets) == 1)
        self.assertEqual(len(listener.payloads[0]), UDP_MAX_PAYLOAD_IPV6)
        self.assertEqual(sender.drops, {"oversize": 1})

    @inlineCallbacks
    def test_ipv4_destination_is_dropped(self) -> Any:  # noqa: ANN401
        endpoint = yield self.open_endpoint()
        endpoint.send(UDPv4Address("127.0.0.1", 9), b"wrong family")
        self.assertEqual(endpoint.drops, {"bad_address": 1})

    @inlineCallbacks
    def test_ipv6_only_so_it_can_share_a_port_number_with_ipv4(self) -> Any:  # noqa: ANN401
        v6 = yield self.open_endpoint(ip="::")
        self.assertEqual(v6.transport.getHandle().getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), 1)
        port = v6.get_address()[1]
        v4 = UDPEndpoint(port=port, ip="127.0.0.1")
        self.addCleanup(v4.close)
        opened = yield v4.open()
        self.assertTrue(opened)
        self.assertEqual(v4.get_address()[1], port)

    @inlineCallbacks
    def test_ipv4_mapped_sources_are_dropped(self) -> Any:  # noqa: ANN401
        """Without IPV6_V6ONLY (listenUDP path) IPv4 traffic shows up as ::ffff:a.b.c.d and must be refused."""
        dual = yield self.open_endpoint(ip="::", reactor=ListenOnlyReactor())
        listener = RecordingListener(dual)
        dual.add_listener(listener)
        v4 = UDPEndpoint(ip="127.0.0.1")
        self.addCleanup(v4.close)
        yield v4.open()
        v4.send(("127.0.0.1", dual.get_address()[1]), b"mapped")
        yield wait_until(lambda: dual.packets_dropped == 1)
        self.assertEqual(dual.drops, {"unsupported_family": 1})
        self.assertEqual(listener.packets, [])


def test_port_in_use_errors_are_recognised() -> None:
    assert errno.EADDRINUSE in udp_module._PORT_UNAVAILABLE
