"""Exit sockets (ipv8.messaging.anonymization.exit_socket): policy, name resolution, and real UDP on loopback.

Every datagram goes to 127.0.0.1 (or ::1); host names are resolved by an injected resolver, never by DNS.
"""
from __future__ import annotations

import socket
import struct
import unittest as std_unittest
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.trial import unittest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization.exit_socket import (
    EXIT_DROP_BAD_DESTINATION,
    EXIT_DROP_CLOSED,
    EXIT_DROP_LOCAL_DESTINATION,
    EXIT_DROP_NOT_ENABLED,
    EXIT_DROP_RECEIVER_ERROR,
    EXIT_DROP_REFUSED_INBOUND,
    EXIT_DROP_REFUSED_OUTBOUND,
    EXIT_DROP_RESOLVE_BACKLOG,
    EXIT_DROP_RESOLVE_FAILED,
    EXIT_DROP_UNSUPPORTED_FAMILY,
    MAX_PENDING_RESOLUTIONS,
    DataChecker,
    ExitPolicy,
    HostResolver,
    IExitDataReceiver,
    ResolveError,
    TunnelExitSocket,
    normalize_hostname,
)
from ipv8.messaging.anonymization.tunnel import (
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    Hop,
)
from ipv8.peer import Peer
from ipv8.test.util import wait_until

TUNNEL_PREFIX = b"\x00\x02" + bytes.fromhex("81ded07332bdc775aa5a46f96de9f8f390bbc9f3")

# Datagrams of each kind the policy tells apart, built from their formats.
# uTP: ST_SYN, version 1; connection id, timestamp, timestamp difference, window, sequence and ack numbers.
UTP = bytes([(4 << 4) | 1, 0]) + struct.pack("!HIIIHH", 0x1234, 0x0A0B0C0D, 0x10203040, 65536, 7, 0)
UTP_SELECTIVE_ACK = bytes([(2 << 4) | 1, 1]) + b"\x55" * 22
TRACKER_CONNECT = struct.pack("!QII", 0x41727101980, 0, 0xCAFE)  # connection id, action 0 (connect), transaction
TRACKER_ANNOUNCE_REPLY = struct.pack("!IIIII", 1, 0xCAFE, 1800, 3, 9)  # action 1 first: a tracker's reply
DHT_PING = b"d1:ad2:id20:" + b"n" * 20 + b"e1:q4:ping1:t2:aa1:y1:qe"
IPV8 = b"\x00\x02" + b"\x11" * 20 + b"\xf6" + b"payload"
TUNNEL = TUNNEL_PREFIX + b"\x01" + b"payload"
JUNK = b"\xff" * 40


def make_hop() -> Hop:
    return Hop(Peer(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address("127.0.0.1", 9)))


@implementer(IExitDataReceiver)
class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[int, Any, bytes]] = []
        self.fail_next = False

    def on_exit_data(self, circuit_id: int, source: Any, data: bytes) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("handler bug")
        self.received.append((circuit_id, source, data))


class Sink(DatagramProtocol):
    """A UDP server on loopback standing in for the internet."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple]] = []

    def datagramReceived(self, datagram: bytes, addr: tuple) -> None:
        self.received.append((datagram, addr))


class TestDataChecker(std_unittest.TestCase):
    def test_kinds(self) -> None:
        cases = {"utp": (UTP, UTP_SELECTIVE_ACK), "tracker": (TRACKER_CONNECT, TRACKER_ANNOUNCE_REPLY),
                 "dht": (DHT_PING,), "ipv8": (IPV8, TUNNEL), "junk": (JUNK,)}
        checks = {"utp": DataChecker.could_be_utp, "tracker": DataChecker.could_be_udp_tracker,
                  "dht": DataChecker.could_be_dht, "ipv8": DataChecker.could_be_ipv8}
        for kind, packets in cases.items():
            for packet in packets:
                for name, check in checks.items():
                    self.assertEqual(check(packet), name == kind, (kind, name, packet))
                self.assertEqual(DataChecker.could_be_bt(packet), kind in ("utp", "tracker", "dht"))

    def test_edges(self) -> None:
        self.assertFalse(DataChecker.could_be_utp(UTP[:19]))  # too short for a uTP header
        self.assertFalse(DataChecker.could_be_utp(bytes([(5 << 4) | 1, 0]) + bytes(18)))  # type 5 does not exist
        self.assertFalse(DataChecker.could_be_utp(bytes([(1 << 4) | 2, 0]) + bytes(18)))  # version 2
        self.assertFalse(DataChecker.could_be_utp(bytes([(1 << 4) | 1, 4]) + bytes(18)))  # extension 4
        self.assertFalse(DataChecker.could_be_ipv8(IPV8[:22]))
        self.assertFalse(DataChecker.could_be_ipv8(b"\x00\x03" + IPV8[2:]))
        self.assertTrue(DataChecker.could_be_ipv8(b"\x00\x01" + IPV8[2:]))
        self.assertFalse(DataChecker.could_be_dht(b"d"))
        self.assertFalse(DataChecker.could_be_udp_tracker(b"\x00" * 7))
        self.assertFalse(DataChecker.could_be_bt(b""))


class TestExitPolicy(std_unittest.TestCase):
    def test_flags_decide(self) -> None:
        flags: set[int] = set()
        policy = ExitPolicy(flags, TUNNEL_PREFIX)
        bt = (UTP, TRACKER_CONNECT, DHT_PING)
        expectations = [
            (set(), ()),
            ({PEER_FLAG_RELAY}, ()),
            ({PEER_FLAG_EXIT_BT}, bt),
            ({PEER_FLAG_EXIT_IPV8}, (IPV8,)),
            ({PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8}, (*bt, IPV8)),
        ]
        for new_flags, allowed in expectations:
            flags.clear()
            flags.update(new_flags)  # changed in place: the policy sees it at once
            for packet in (*bt, IPV8, JUNK):
                self.assertEqual(policy.is_allowed(packet), packet in allowed, (new_flags, packet))
            self.assertTrue(policy.is_allowed(TUNNEL))  # our own community's packets always pass
            self.assertFalse(policy.is_allowed(JUNK))
        self.assertIn("BitTorrent=False, IPv8=False", policy.refusal(JUNK) or "")

    def test_callable_flags_and_no_prefix(self) -> None:
        current = [PEER_FLAG_EXIT_IPV8]
        policy = ExitPolicy(lambda: current)
        self.assertTrue(policy.is_allowed(TUNNEL))
        current = []
        self.assertFalse(policy.is_allowed(TUNNEL))  # without a prefix, the tunnel's packets are just IPv8
        self.assertEqual(list(policy.peer_flags), [])


class TestHostNames(std_unittest.TestCase):
    def test_normalize(self) -> None:
        self.assertEqual(normalize_hostname("Tracker.Example.ORG."), "tracker.example.org")
        self.assertEqual(normalize_hostname(b"router.bittorrent.test"), "router.bittorrent.test")
        self.assertEqual(normalize_hostname("_dht.x-y.test"), "_dht.x-y.test")
        for bad in ("", "localhost", "-a.test", "a-.test", "a..test", "a b.test", "a.test/x", "é.test",
                    b"\xff.test", "x" * 64 + ".test", ("a" * 60 + ".") * 5 + "test", None, 42):
            self.assertIsNone(normalize_hostname(bad), bad)


class TestHostResolver(std_unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.asked: list[str] = []
        self.answers: dict[str, Any] = {}

    def resolve(self, name: str) -> Deferred:
        self.asked.append(name)
        answer = self.answers.get(name)
        if isinstance(answer, Deferred):
            return answer
        return succeed(answer) if answer is not None else fail(OSError("no such name"))

    @staticmethod
    def outcome(deferred: Deferred) -> Any:
        box: list[Any] = []
        deferred.addBoth(box.append)
        return box[0] if box else "pending"

    def test_cache_and_expiry(self) -> None:
        resolver = HostResolver(self.resolve, self.clock, cache_ttl=60)
        self.answers["a.test"] = "127.0.0.2"
        self.assertEqual(self.outcome(resolver.resolve("a.test")), "127.0.0.2")
        self.clock.advance(59)
        self.assertEqual(self.outcome(resolver.resolve("a.test")), "127.0.0.2")
        self.assertEqual(self.asked, ["a.test"])
        self.clock.advance(2)
        self.answers["a.test"] = "127.0.0.3"
        self.assertEqual(self.outcome(resolver.resolve("a.test")), "127.0.0.3")
        self.assertEqual((self.asked, resolver.lookups), (["a.test", "a.test"], 2))

    def test_failures_are_remembered_briefly(self) -> None:
        resolver = HostResolver(self.resolve, self.clock, failure_ttl=30)
        self.assertIsInstance(self.outcome(resolver.resolve("gone.test")).value, ResolveError)
        self.assertIsInstance(self.outcome(resolver.resolve("gone.test")).value, ResolveError)
        self.assertEqual(self.asked, ["gone.test"])
        self.clock.advance(31)
        resolver.resolve("gone.test").addErrback(lambda _: None)
        self.assertEqual(len(self.asked), 2)

    def test_answer_must_be_an_ip(self) -> None:
        resolver = HostResolver(self.resolve, self.clock)
        self.answers["weird.test"] = "not-an-ip"
        self.assertIsInstance(self.outcome(resolver.resolve("weird.test")).value, ResolveError)

    def test_concurrent_requests_share_a_lookup(self) -> None:
        resolver = HostResolver(self.resolve, self.clock, max_pending=2)
        slow: Deferred = Deferred()
        self.answers["slow.test"] = slow
        first, second, third = (resolver.resolve("slow.test") for _ in range(3))
        self.assertEqual(self.asked, ["slow.test"])
        second.cancel()  # withdraws this request only
        self.answers["other.test"] = Deferred()
        resolver.resolve("other.test")
        limited = resolver.resolve("third.test")  # a third name while two are pending: refused at once
        self.assertIsInstance(self.outcome(limited).value, ResolveError)
        slow.callback("127.0.0.9")
        self.assertEqual((self.outcome(first), self.outcome(third)), ("127.0.0.9", "127.0.0.9"))
        self.assertNotEqual(self.outcome(second), "127.0.0.9")
        self.answers["third.test"] = Deferred()
        self.assertEqual(self.outcome(resolver.resolve("third.test")), "pending")  # room again
        self.assertEqual(self.asked, ["slow.test", "other.test", "third.test"])

    def test_cache_is_bounded(self) -> None:
        resolver = HostResolver(self.resolve, self.clock, max_cache=3)
        for i in range(10):
            self.answers[f"h{i}.test"] = f"127.0.0.{i + 1}"
            resolver.resolve(f"h{i}.test")
        self.assertEqual(len(resolver._cache), 3)
        resolver.resolve("h9.test")
        resolver.resolve("h0.test")
        self.assertEqual(self.asked.count("h9.test"), 1)
        self.assertEqual(self.asked.count("h0.test"), 2)


class TestExitSocketUDP(unittest.TestCase):
    timeout = 10

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(500)
        self.flags: set[int] = {PEER_FLAG_EXIT_BT}
        self.policy = ExitPolicy(self.flags, TUNNEL_PREFIX)
        self.receiver = Receiver()
        self.cleanup: list[Any] = []

    def tearDown(self) -> Deferred:
        async def stop() -> None:
            for item in reversed(self.cleanup):
                result = item.close() if isinstance(item, TunnelExitSocket) else item.stopListening()
                if result is not None:
                    await result
        return ensureDeferred(stop())

    def exit_socket(self, interface: str = "127.0.0.1", enable: bool = True, **kwargs: Any) -> TunnelExitSocket:
        exit_socket = TunnelExitSocket(77, make_hop(), self.receiver, self.policy, interface=interface,
                                       clock=self.clock, **kwargs)
        self.cleanup.append(exit_socket)
        if enable:
            self.assertTrue(exit_socket.enable())
        return exit_socket

    def sink(self, interface: str = "127.0.0.1") -> tuple[Sink, Any, tuple[str, int]]:
        sink = Sink()
        port = reactor.listenUDP(0, sink, interface=interface)
        self.cleanup.append(port)
        return sink, port, (interface, port.getHost().port)

    async def test_data_exits_and_replies_come_back(self) -> None:
        exit_socket = self.exit_socket()
        verifyObject(IExitDataReceiver, self.receiver)
        address = exit_socket.get_address()
        self.assertEqual((type(address), address[0]), (UDPv4Address, "127.0.0.1"))
        self.assertTrue(exit_socket.enabled)
        sink, sink_port, sink_address = self.sink()

        self.clock.advance(10)
        exit_socket.sendto(UTP, sink_address)
        await wait_until(lambda: sink.received)
        self.assertEqual(sink.received, [(UTP, address)])
        self.assertEqual((exit_socket.bytes_up, exit_socket.packets_up), (len(UTP), 1))
        self.assertEqual(exit_socket.last_activity, 510)

        self.clock.advance(10)
        sink_port.write(DHT_PING, address)
        await wait_until(lambda: self.receiver.received)
        self.assertEqual(self.receiver.received, [(77, UDPv4Address(*sink_address), DHT_PING)])
        self.assertIsInstance(self.receiver.received[0][1], UDPv4Address)
        self.assertEqual(exit_socket.bytes_down, len(DHT_PING))
        self.assertEqual(exit_socket.last_activity, 510)  # traffic from outside is no sign of life
        self.assertEqual(exit_socket.drops, {})

    async def test_outbound_refusals(self) -> None:
        exit_socket = self.exit_socket()
        sink, _, sink_address = self.sink()
        for packet in (IPV8, JUNK, TUNNEL, b""):
            exit_socket.sendto(packet, sink_address)
        self.assertEqual(exit_socket.drops, {EXIT_DROP_REFUSED_OUTBOUND: 3})
        self.flags.add(PEER_FLAG_EXIT_IPV8)  # becoming an IPv8 exit applies to the open socket
        exit_socket.sendto(IPV8, sink_address)
        await wait_until(lambda: len(sink.received) == 2)
        self.assertEqual([data for data, _ in sink.received], [TUNNEL, IPV8])
        self.assertEqual(exit_socket.bytes_up, len(TUNNEL) + len(IPV8))

    async def test_inbound_refusals_and_strangers(self) -> None:
        exit_socket = self.exit_socket()
        address = exit_socket.get_address()
        _, sink_port, sink_address = self.sink()
        exit_socket.sendto(TRACKER_CONNECT, sink_address)
        for packet in (JUNK, IPV8, TRACKER_ANNOUNCE_REPLY):
            sink_port.write(packet, address)
        # A host this circuit never sent to: judged by content alone, as pyipv8 does.
        _, stranger_port, stranger_address = self.sink()
        stranger_port.write(JUNK, address)
        stranger_port.write(UTP_SELECTIVE_ACK, address)
        await wait_until(lambda: len(self.receiver.received) == 2)
        self.assertEqual(self.receiver.received, [(77, UDPv4Address(*sink_address), TRACKER_ANNOUNCE_REPLY),
                                                  (77, UDPv4Address(*stranger_address), UTP_SELECTIVE_ACK)])
        self.assertEqual(exit_socket.drops, {EXIT_DROP_REFUSED_INBOUND: 3})
        self.assertEqual(exit_socket.bytes_down,
                         2 * len(JUNK) + len(IPV8) + len(TRACKER_ANNOUNCE_REPLY) + len(UTP_SELECTIVE_ACK))

    async def test_receiver_errors_are_contained(self) -> None:
        exit_socket = self.exit_socket()
        _, sink_port, _ = self.sink()
        self.receiver.fail_next = True
        sink_port.write(DHT_PING, exit_socket.get_address())
        sink_port.write(UTP, exit_socket.get_address())
        await wait_until(lambda: self.receiver.received)
        self.assertEqual([data for _, _, data in self.receiver.received], [UTP])
        self.assertEqual(exit_socket.drops, {EXIT_DROP_RECEIVER_ERROR: 1})

    def test_bad_destinations_are_counted(self) -> None:
        exit_socket = self.exit_socket()
        for destination in (("127.0.0.1", 0), ("127.0.0.1", 70000), ("127.0.0.1", True), ("127.0.0.1", "80"),
                            ("0.0.0.0", 80), ("224.0.0.1", 80), ("255.255.255.255", 80), ("-bad-.test", 80),
                            ("localhost", 80), (b"\xff\xfe.test", 80), None, ("127.0.0.1",), 5):
            exit_socket.sendto(UTP, destination)
        exit_socket.sendto(UTP, UDPv6Address("::1", 80))
        self.assertEqual(exit_socket.drops, {EXIT_DROP_BAD_DESTINATION: 13, EXIT_DROP_UNSUPPORTED_FAMILY: 1})
        self.assertEqual(exit_socket.bytes_up, 0)
        with self.assertRaises(TypeError):
            exit_socket.sendto("text", ("127.0.0.1", 80))  # type: ignore[arg-type]

    def test_loopback_only_when_bound_to_loopback(self) -> None:
        exit_socket = self.exit_socket(allow_loopback=False)
        _, _, sink_address = self.sink()
        exit_socket.sendto(UTP, sink_address)
        exit_socket.sendto(UTP, ("::ffff:127.0.0.1", sink_address[1]))
        self.assertEqual(exit_socket.drops, {EXIT_DROP_LOCAL_DESTINATION: 2})
        self.assertFalse(TunnelExitSocket(1, make_hop(), self.receiver, self.policy, interface="0.0.0.0").allow_loopback)

    def test_not_enabled(self) -> None:
        exit_socket = self.exit_socket(enable=False)
        self.assertFalse(exit_socket.enabled)
        self.assertIsNone(exit_socket.get_address())
        exit_socket.sendto(UTP, ("127.0.0.1", 9))
        self.assertEqual(exit_socket.drops, {EXIT_DROP_NOT_ENABLED: 1})

    async def test_host_names(self) -> None:
        asked: list[str] = []
        names = {"sink.exit.test": "127.0.0.1"}

        def resolve(name: str) -> Deferred:
            asked.append(name)
            return succeed(names[name]) if name in names else fail(OSError("NXDOMAIN"))

        resolver = HostResolver(resolve, self.clock)
        exit_socket = self.exit_socket(resolver=resolver)
        sink, _, (_, port) = self.sink()
        exit_socket.sendto(UTP, DomainAddress("Sink.Exit.Test", port))
        exit_socket.sendto(DHT_PING, (b"sink.exit.test", port))
        exit_socket.sendto(UTP, DomainAddress("nowhere.test", port))
        await wait_until(lambda: len(sink.received) == 2)
        self.assertEqual([data for data, _ in sink.received], [UTP, DHT_PING])
        self.assertEqual(asked, ["sink.exit.test", "nowhere.test"])
        self.assertEqual(exit_socket.drops, {EXIT_DROP_RESOLVE_FAILED: 1})

        # A name is checked like the address it resolves to.
        strict = self.exit_socket(resolver=resolver, allow_loopback=False)
        strict.sendto(UTP, DomainAddress("sink.exit.test", port))
        self.assertEqual(strict.drops, {EXIT_DROP_LOCAL_DESTINATION: 1})

    async def test_close(self) -> None:
        never: Deferred = Deferred()
        exit_socket = self.exit_socket(resolver=HostResolver(lambda _: never, self.clock))
        sink, _, (_, port) = self.sink()
        for _ in range(MAX_PENDING_RESOLUTIONS + 1):
            exit_socket.sendto(UTP, DomainAddress("slow.exit.test", port))
        self.assertEqual(exit_socket.drops, {EXIT_DROP_RESOLVE_BACKLOG: 1})

        first, second = exit_socket.close(), exit_socket.close()
        await first
        await second
        self.assertTrue(exit_socket.closed)
        self.assertIsNone(exit_socket.get_address())
        self.assertFalse(exit_socket.enable())
        exit_socket.sendto(UTP, ("127.0.0.1", port))
        never.callback("127.0.0.1")  # the lookup ends after the close: the waiting datagrams stay dropped
        self.assertEqual(exit_socket.drops, {EXIT_DROP_RESOLVE_BACKLOG: 1, EXIT_DROP_CLOSED: 1})
        self.assertEqual(sink.received, [])
        await exit_socket.close()  # still fine

    async def test_close_frees_the_port(self) -> None:
        exit_socket = self.exit_socket()
        _, number = exit_socket.get_address()
        await exit_socket.close()
        again = reactor.listenUDP(number, Sink(), interface="127.0.0.1")
        self.cleanup.append(again)

    async def test_ipv6_loopback(self) -> None:
        if not socket.has_ipv6:
            raise unittest.SkipTest("no IPv6")
        try:
            sink, sink_port, sink_address = self.sink("::1")
        except Exception as exc:
            raise unittest.SkipTest(f"cannot bind ::1: {exc}") from exc
        exit_socket = self.exit_socket("::1")
        self.assertEqual(type(exit_socket.get_address()), UDPv6Address)
        exit_socket.sendto(DHT_PING, sink_address)
        exit_socket.sendto(DHT_PING, ("127.0.0.1", 9))  # IPv4 through a socket bound to one IPv6 address
        await wait_until(lambda: sink.received)
        sink_port.write(UTP, exit_socket.get_address())
        await wait_until(lambda: self.receiver.received)
        self.assertEqual(self.receiver.received, [(77, UDPv6Address(*sink_address), UTP)])
        self.assertEqual(exit_socket.drops, {EXIT_DROP_UNSUPPORTED_FAMILY: 1})

    async def test_dual_stack(self) -> None:
        try:
            exit_socket = self.exit_socket("::", allow_loopback=True)
        except Exception as exc:
            raise unittest.SkipTest(f"cannot bind ::: {exc}") from exc
        sink, sink_port, sink_address = self.sink()
        exit_socket.sendto(UTP, sink_address)
        await wait_until(lambda: sink.received)
        sink_port.write(DHT_PING, ("127.0.0.1", exit_socket.get_address()[1]))
        await wait_until(lambda: self.receiver.received)
        self.assertEqual(self.receiver.received, [(77, UDPv4Address(*sink_address), DHT_PING)])
