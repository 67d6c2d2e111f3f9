"""The tracker: its bounded directory, the request handling, real UDP peers, the service and the twistd plugin."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial import unittest

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.address_hygiene import fits_scope, is_usable
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.payload import IntroductionResponsePayload, NewIntroductionResponsePayload
from ipv8.tracker import (DROP_BAD_SIGNATURE, DROP_MALFORMED, DROP_NOT_A_REQUEST, DROP_OWN_PACKET, DROP_TOO_SHORT,
                          DROP_UNUSABLE_SOURCE, CommunityDirectory, EndpointServer, TrackedPeer, TrackerConfigurationError,
                          TrackerOptions, TrackerService, TrackerStartError)

from .bootstrapping.support import (LoopbackCommunity, OtherCommunity, RecordingEndpoint, close_community,
                                    decode_puncture_request, decode_response, free_udp_port, make_request,
                                    open_loopback_community, prefix_of, wait_until)

ROOT = Path(__file__).resolve().parent.parent
PREFIX_A = prefix_of(b"A" * 20)
PREFIX_B = prefix_of(b"B" * 20)
TRACKER_ADDRESS = UDPv4Address("127.0.0.1", 6421)
KEYS = [default_eccrypto.generate_key("curve25519") for _ in range(4)]


def peer_entry(number: int, last_seen: float = 0.0, key: bytes | None = None) -> TrackedPeer:
    address = UDPv4Address("127.0.0.1", 10000 + number)
    return TrackedPeer(key or bytes([number % 256]) * 74, address, UDPv4Address("10.0.0.1", 10000 + number),
                       False, last_seen)


# -- CommunityDirectory ---------------------------------------------------------------------------------


def test_directory_never_picks_the_requester_and_keeps_communities_apart() -> None:
    directory = CommunityDirectory()
    first, second = peer_entry(1), peer_entry(2)
    directory.record(PREFIX_A, first)
    assert directory.pick(PREFIX_A, first) is None
    assert directory.pick(PREFIX_B, second) is None
    directory.record(PREFIX_A, second)
    assert directory.pick(PREFIX_A, first) is second
    assert directory.pick(PREFIX_A, second) is first
    # The same key from another address is still the requester.
    same_key = TrackedPeer(first.key_bin, UDPv4Address("127.0.0.1", 9), first.lan_address, False, 0.0)
    assert directory.pick(PREFIX_A, same_key) is second


def test_directory_evicts_least_recently_used_peers_and_communities() -> None:
    directory = CommunityDirectory(max_communities=2, max_peers_per_community=2)
    directory.record(PREFIX_A, peer_entry(1))
    directory.record(PREFIX_A, peer_entry(2))
    directory.record(PREFIX_A, peer_entry(1))  # refresh: now peer 2 is the stalest
    directory.record(PREFIX_A, peer_entry(3))
    assert [p.address[1] for p in directory.peers(PREFIX_A)] == [10001, 10003]
    assert directory.evicted_peers == 1

    directory.record(PREFIX_B, peer_entry(4))
    directory.record(PREFIX_A, peer_entry(5))  # A is now the most recently used community
    third = prefix_of(b"C" * 20)
    directory.record(third, peer_entry(6))
    assert directory.communities() == [PREFIX_A, third]
    assert directory.evicted_communities == 1
    assert directory.peer_count == 3


def test_directory_expires_silent_peers_and_empty_communities() -> None:
    directory = CommunityDirectory()
    directory.record(PREFIX_A, peer_entry(1, last_seen=10.0))
    directory.record(PREFIX_A, peer_entry(2, last_seen=50.0))
    directory.record(PREFIX_B, peer_entry(3, last_seen=10.0))
    assert directory.expire(silent_since=20.0) == 2
    assert directory.communities() == [PREFIX_A]
    assert [p.address[1] for p in directory.peers(PREFIX_A)] == [10002]
    assert directory.peer_count == 1


def test_directory_rejects_useless_limits() -> None:
    with pytest.raises(TrackerConfigurationError):
        CommunityDirectory(max_communities=0)
    with pytest.raises(TrackerConfigurationError):
        CommunityDirectory(max_peers_per_community=0)


# -- EndpointServer on a recording endpoint ---------------------------------------------------------------


def make_server(**kwargs: Any) -> tuple[EndpointServer, RecordingEndpoint, Clock]:  # noqa: ANN401
    clock = Clock()
    endpoint = RecordingEndpoint(TRACKER_ADDRESS)
    kwargs.setdefault("rng", random.Random(1))
    server = EndpointServer(endpoint, clock=clock, **kwargs)
    return server, endpoint, clock


def request_from(server: EndpointServer, number: int, prefix: bytes = PREFIX_A, new_style: bool = False,
                 identifier: int = 7, key: Any = None) -> UDPv4Address:  # noqa: ANN401
    source = UDPv4Address("127.0.0.1", 20000 + number)
    lan = UDPv4Address("192.168.1.5", 20000 + number)
    packet = make_request(key or KEYS[number % len(KEYS)], prefix, TRACKER_ADDRESS, lan, source, identifier,
                          new_style)
    server.on_packet((source, packet))
    return source


def test_old_style_requests_are_answered_and_introduced() -> None:
    server, endpoint, _ = make_server()
    first = request_from(server, 1)
    [(destination, data)] = endpoint.take()
    assert destination == first
    assert data[:22] == PREFIX_A and data[22] == IntroductionResponsePayload.msg_id
    signer, response = decode_response(data)
    assert signer == server.my_peer.public_key.key_to_bin()
    assert response.identifier == 7
    assert response.destination_address == first  # the requester learns its outside address
    assert response.source_wan_address == TRACKER_ADDRESS
    assert response.wan_introduction_address == ("0.0.0.0", 0)  # nobody to introduce yet
    assert response.supports_new_style

    second = request_from(server, 2, identifier=9)
    sent = endpoint.take()
    assert [address for address, _ in sent] == [second, first]
    _, response = decode_response(sent[0][1])
    assert response.identifier == 9
    assert response.wan_introduction_address == first
    assert response.lan_introduction_address == ("192.168.1.5", first.port)
    # The introduced peer is asked to puncture its NAT towards the requester.
    assert sent[1][1][22] == 250
    puncture = decode_puncture_request(sent[1][1])
    assert puncture.wan_walker_address == second
    assert puncture.lan_walker_address == ("192.168.1.5", second.port)
    assert puncture.identifier == 9
    assert server.requests_answered == 2
    assert server.introductions == 1


def test_new_style_requests_get_new_style_answers() -> None:
    server, endpoint, _ = make_server()
    first = request_from(server, 1, new_style=True)
    [(_, data)] = endpoint.take()
    assert data[22] == NewIntroductionResponsePayload.msg_id
    second = request_from(server, 2, new_style=True)
    (_, response_data), (puncture_to, puncture_data) = endpoint.take()
    _, response = decode_response(response_data)
    assert response.wan_introduction_address == first
    assert response.intro_supports_new_style
    assert puncture_to == first
    assert puncture_data[22] == 232  # the introduced peer spoke new style, so it gets a new-style request
    assert decode_puncture_request(puncture_data).wan_walker_address == second


def test_requests_over_ipv6_get_answers_that_can_carry_ipv6() -> None:
    server, endpoint, _ = make_server()
    first = request_from(server, 1)
    source = UDPv6Address("::1", 20002)
    # An old-style request cannot name an IPv6 requester, so the answer and the puncture request are new style.
    packet = make_request(KEYS[2], PREFIX_A, TRACKER_ADDRESS, UDPv4Address("192.168.1.5", 1), ("0.0.0.0", 0))
    endpoint.take()
    server.on_packet((source, packet))
    (to_requester, answer), (to_first, puncture) = endpoint.take()
    assert (to_requester, answer[22]) == (source, NewIntroductionResponsePayload.msg_id)
    _, response = decode_response(answer)
    assert response.destination_address == source
    assert response.wan_introduction_address == first
    assert (to_first, puncture[22]) == (first, 232)
    assert decode_puncture_request(puncture).wan_walker_address == source
    # An old-style requester is never introduced to the IPv6 peer: its answer could not carry the address.
    endpoint.take()
    request_from(server, 3, key=KEYS[3])
    answers = endpoint.take()
    assert decode_response(answers[0][1])[1].wan_introduction_address == first


def test_any_prefix_is_served_but_communities_stay_apart() -> None:
    server, endpoint, _ = make_server()
    request_from(server, 1, prefix=PREFIX_A)
    request_from(server, 2, prefix=PREFIX_B)
    sent = endpoint.take()
    assert len(sent) == 2  # two answers, no introductions across communities
    assert sent[1][1][:22] == PREFIX_B
    assert decode_response(sent[1][1])[1].wan_introduction_address == ("0.0.0.0", 0)
    assert sorted(server.directory.communities()) == sorted([PREFIX_A, PREFIX_B])


def test_a_peer_is_never_introduced_to_itself() -> None:
    server, endpoint, _ = make_server()
    for _ in range(5):
        request_from(server, 1)
    answers = [decode_response(data)[1] for _, data in endpoint.take()]
    assert len(answers) == 5
    assert all(answer.wan_introduction_address == ("0.0.0.0", 0) for answer in answers)
    assert server.directory.peer_count == 1


def test_the_tracker_does_not_answer_itself() -> None:
    server, endpoint, _ = make_server()
    packet = make_request(server.my_peer.key, PREFIX_A, TRACKER_ADDRESS, TRACKER_ADDRESS, TRACKER_ADDRESS)
    server.on_packet((TRACKER_ADDRESS, packet))
    assert endpoint.take() == []
    assert server.drop_counts[DROP_OWN_PACKET] == 1
    assert server.directory.peer_count == 0


def test_silent_peers_are_dropped_on_the_periodic_check() -> None:
    server, endpoint, clock = make_server(introduce_window=120.0)
    request_from(server, 1)
    clock.advance(60)
    request_from(server, 2)
    clock.advance(60)  # t=120: the check at t=120 keeps peer 1 (silent for exactly 120 s)
    assert server.directory.peer_count == 2
    clock.advance(30)  # t=150: peer 1 has been silent for 150 s, peer 2 for 90 s
    assert [p.address[1] for p in server.directory.peers(PREFIX_A)] == [20002]
    endpoint.take()
    request_from(server, 3)
    [(_, answer)] = endpoint.take()[:1]
    assert decode_response(answer)[1].wan_introduction_address == ("127.0.0.1", 20002)
    clock.advance(120)
    assert server.directory.peer_count == 1  # only peer 3 (seen at t=150) is left at t=270
    clock.advance(30)
    assert server.directory.peer_count == 0
    assert server.directory.community_count == 0


def test_unload_stops_the_periodic_check() -> None:
    server, endpoint, clock = make_server()
    request_from(server, 1)
    done = []
    server.unload().addCallback(done.append)
    assert done == [None]
    assert clock.getDelayedCalls() == []
    assert server not in endpoint.listeners


def test_malformed_packets_are_dropped_and_counted() -> None:
    server, endpoint, _ = make_server()
    good = make_request(KEYS[0], PREFIX_A, TRACKER_ADDRESS, TRACKER_ADDRESS, TRACKER_ADDRESS)
    forged = good[:-1] + bytes([good[-1] ^ 1])
    cases = [
        (b"", DROP_TOO_SHORT),
        (PREFIX_A, DROP_TOO_SHORT),
        (PREFIX_A + b"\xf5" + good[23:], DROP_NOT_A_REQUEST),  # an introduction *response*
        (PREFIX_A + b"\x01hello", DROP_NOT_A_REQUEST),
        (PREFIX_A + b"\xf6", DROP_MALFORMED),
        (PREFIX_A + b"\xf6\xff\xff" + b"x" * 40, DROP_MALFORMED),  # key length beyond the packet
        (PREFIX_A + b"\xf6\x00\x04abcd" + b"x" * 80, DROP_MALFORMED),  # not a key
        (good[:100], DROP_MALFORMED),
        (forged, DROP_BAD_SIGNATURE),
        (PREFIX_A + b"\xea" + good[23:], DROP_BAD_SIGNATURE),  # id changed to 234: signature no longer fits
    ]
    for data, _ in cases:
        server.on_packet((UDPv4Address("127.0.0.1", 5000), data))
    expected: dict[str, int] = {}
    for _, reason in cases:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(server.drop_counts) == expected
    assert endpoint.take() == []
    assert server.directory.peer_count == 0


def test_a_signed_request_with_a_truncated_body_is_malformed() -> None:
    server, endpoint, _ = make_server()
    key = KEYS[1]
    # Correctly signed, but the payload is cut short: the signature is fine, the decoding is not.
    body = (PREFIX_A + b"\xf6" + len(key.pub().key_to_bin()).to_bytes(2, "big") + key.pub().key_to_bin()
            + b"\x00" * 8 + b"\x7f\x00\x00\x01")
    server.on_packet((UDPv4Address("127.0.0.1", 5000), body + key.signature(body)))
    assert server.drop_counts == {DROP_MALFORMED: 1}
    assert endpoint.take() == []


@settings(max_examples=150, deadline=None)
@given(msg_id=st.sampled_from([246, 234, 245, 0, 255]), body=st.binary(max_size=300))
def test_random_bytes_never_escape_the_tracker(msg_id: int, body: bytes) -> None:
    server, endpoint, _ = make_server()
    server.on_packet((UDPv4Address("127.0.0.1", 5000), PREFIX_A + bytes([msg_id]) + body))
    assert sum(server.drop_counts.values()) == 1
    assert endpoint.take() == []
    server.unload()


ipv4_addresses = st.builds(UDPv4Address, st.ip_addresses(v=4).map(str), st.integers(0, 65535))
ipv6_addresses = st.builds(UDPv6Address, st.ip_addresses(v=6).map(str), st.integers(0, 65535))
signed_requests = st.tuples(
    st.booleans(),  # new style?
    st.one_of(ipv4_addresses, ipv6_addresses),  # where the request comes from
    st.one_of(ipv4_addresses, ipv6_addresses),  # the LAN address it claims
    st.integers(0, 65535),  # identifier
    st.booleans(),  # supports_new_style flag of an old-style request
)


@settings(max_examples=60, deadline=None)
@given(requests=st.lists(signed_requests, min_size=1, max_size=4))
def test_every_well_formed_request_is_answered(requests: list[tuple]) -> None:
    """Whatever the (valid) field values and address families, the tracker answers and never raises."""
    server, endpoint, _ = make_server()
    for number, (new_style, source, lan, identifier, flag) in enumerate(requests):
        if not new_style:
            lan = lan if isinstance(lan, UDPv4Address) else UDPv4Address("0.0.0.0", 0)
        packet = make_request(KEYS[number % len(KEYS)], PREFIX_A, TRACKER_ADDRESS, lan,
                              lan if not new_style else source, identifier, new_style, supports_new_style=flag)
        server.on_packet((source, packet))
    unusable = sum(1 for _, source, *_ in requests if not is_usable(source))
    assert server.drop_counts == ({DROP_UNUSABLE_SOURCE: unusable} if unusable else {})
    assert server.requests_answered == len(requests) - unusable
    for destination, data in endpoint.take():
        assert is_usable(destination)
        if data[22] in (245, 233):
            _, response = decode_response(data)
            lan, wan = response.lan_introduction_address, response.wan_introduction_address
        else:
            puncture = decode_puncture_request(data)
            lan, wan = puncture.lan_walker_address, puncture.wan_walker_address
        if wan != ("0.0.0.0", 0):
            assert is_usable(wan) and is_usable(lan)
            assert fits_scope(wan, destination)
    server.unload()


def test_flood_of_requests_keeps_answering_with_bounded_state() -> None:
    """
    10,000 requests from 1,000 addresses about 300 communities: every one answered, memory capped.

    Most traffic goes to 50 busy communities; the rest is spread over 250 others, more than the tracker
    remembers, so rarely used communities keep being evicted while the busy ones keep introducing.
    """
    server, endpoint, _ = make_server(max_communities=100, max_peers_per_community=50)
    rng = random.Random(5)
    keys = [default_eccrypto.generate_key("curve25519") for _ in range(50)]
    prefixes = [prefix_of(rng.randbytes(20)) for _ in range(300)]
    addresses = [UDPv4Address(f"127.{n // 250}.{n % 250}.1", 30000 + n) for n in range(1000)]
    packets = []
    for number in range(10_000):
        address = addresses[number % len(addresses)]
        prefix = rng.choice(prefixes[:50]) if rng.random() < 0.8 else rng.choice(prefixes[50:])
        packet = make_request(keys[number % len(keys)], prefix, TRACKER_ADDRESS, address, address,
                              number % 65536, new_style=number % 3 == 0)
        packets.append((address, packet))

    # Warm up once so one-off allocations (caches, compiled packers) do not count as state growth.
    warm_server, warm_endpoint, _ = make_server()
    for address, packet in packets[:200]:
        warm_server.on_packet((address, packet))
    warm_server.unload()

    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        sent = 0
        for address, packet in packets:
            server.on_packet((address, packet))
            sent += len(endpoint.sent)
            endpoint.sent.clear()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()

    assert server.requests_answered == 10_000
    assert sum(server.drop_counts.values()) == 0
    assert sent == 10_000 + server.introductions
    assert server.introductions > 7_500  # nearly every request about a busy community introduced someone
    assert server.directory.community_count == 100
    assert server.directory.peer_count <= 100 * 50
    assert all(len(server.directory.peers(prefix)) <= 50 for prefix in server.directory.communities())
    assert server.directory.evicted_communities > 0
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # An entry costs a few hundred bytes (its slot object, dictionary slot and address tuples). Without the
    # limits this same flood leaves about 9,500 entries and 3.6 MB behind.
    assert growth < 200_000 + 600 * server.directory.peer_count, f"tracker state grew by {growth} bytes"
    assert growth < 1_500_000, f"tracker state grew by {growth} bytes"


# -- real UDP on 127.0.0.1 ---------------------------------------------------------------------------------


class TestTrackerOverLoopback(unittest.TestCase):
    """A TrackerService and two Community peers talking real UDP over 127.0.0.1."""

    timeout = 10

    @inlineCallbacks
    def setUp(self) -> Any:  # noqa: ANN401
        self.service = TrackerService(0, "127.0.0.1")
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.tracker = self.service.get_address()
        self.peers = []
        for community_class in (LoopbackCommunity, LoopbackCommunity, OtherCommunity):
            community = yield open_loopback_community(community_class)
            self.addCleanup(close_community, community)
            community.ensure_blacklisted(self.tracker)  # what a DispersyBootstrapper would do
            self.peers.append(community)

    def addresses(self, community: Any) -> list[Any]:  # noqa: ANN401
        return [peer.address for peer in community.get_peers()]

    @inlineCallbacks
    def walk_through_tracker(self, new_style: bool) -> Any:  # noqa: ANN401
        alice, bob, stranger = self.peers
        server = self.service.server
        for count, community in enumerate((alice, stranger, bob), start=1):
            request = community.create_introduction_request(self.tracker, new_style=new_style)
            community.endpoint.send(self.tracker, request)
            yield wait_until(lambda count=count: server.requests_answered == count)
        # Bob asked last, so the tracker introduced Alice to him (never the stranger of another community);
        # Alice's signed puncture may already have made her Bob's peer.
        yield wait_until(lambda: alice.endpoint.get_address() in bob.get_walkable_addresses()
                         or alice.endpoint.get_address() in self.addresses(bob))
        for address in bob.get_walkable_addresses():
            bob.walk_to(address)
        yield wait_until(lambda: bob.endpoint.get_address() in self.addresses(alice)
                         and alice.endpoint.get_address() in self.addresses(bob))
        for community in self.peers:
            self.assertNotIn(self.tracker, self.addresses(community))
        self.assertEqual([], stranger.get_walkable_addresses())
        self.assertEqual(server.introductions, 1)
        self.assertEqual(sum(server.drop_counts.values()), 0)

    def test_old_style_peers_meet_through_the_tracker(self) -> Any:  # noqa: ANN401
        return self.walk_through_tracker(new_style=False)

    def test_new_style_peers_meet_through_the_tracker(self) -> Any:  # noqa: ANN401
        return self.walk_through_tracker(new_style=True)


class TestTrackerService(unittest.TestCase):

    def test_binds_the_exact_port_or_fails(self) -> None:
        first = TrackerService(0, "127.0.0.1")
        first.startService()
        self.addCleanup(first.stopService)
        port = first.get_address()[1]
        second = TrackerService(port, "127.0.0.1")
        with pytest.raises(TrackerStartError, match="in use"):
            second.startService()
        self.assertIsNone(second.get_address())
        self.assertFalse(second.running)

    @inlineCallbacks
    def test_stop_closes_the_port(self) -> Any:  # noqa: ANN401
        service = TrackerService(0, "127.0.0.1")
        service.startService()
        port = service.get_address()[1]
        self.assertTrue(service.running)
        yield service.stopService()
        self.assertFalse(service.running)
        self.assertIsNone(service.get_address())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", port))  # free again

    @inlineCallbacks
    def test_listens_on_ipv6_too(self) -> Any:  # noqa: ANN401
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
                probe.bind(("::1", 0))
        except OSError:
            raise unittest.SkipTest("no IPv6 loopback on this machine") from None
        service = TrackerService(0, "::1")
        service.startService()
        address = service.get_address()
        self.assertIsInstance(address, UDPv6Address)
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
            client.bind(("::1", 0))
            client.settimeout(2)
            me = UDPv6Address(*client.getsockname()[:2])
            client.sendto(make_request(KEYS[0], PREFIX_A, address, me, me, 77, new_style=True), address)
            yield wait_until(lambda: service.server.requests_answered == 1)
            data, _ = client.recvfrom(2048)
        _, response = decode_response(data)
        self.assertEqual((response.identifier, response.destination_address), (77, me))
        yield service.stopService()

    def test_rejects_bad_listen_addresses(self) -> None:
        for port, ip in [(-1, "127.0.0.1"), (70000, "127.0.0.1"), ("80", "127.0.0.1"), (True, "127.0.0.1"),
                         (8000, "localhost"), (8000, "")]:
            with pytest.raises(TrackerConfigurationError):
                TrackerService(port, ip)


# -- command line: Options, twistd and bin/ipv8-tracker -------------------------------------------------


def plugin_options() -> Any:  # noqa: ANN401
    sys.path.insert(0, str(ROOT))
    try:
        from twisted.plugins.tracker_plugin import Options
    finally:
        sys.path.remove(str(ROOT))
    return Options()


def test_plugin_options_parse_port_and_ip() -> None:
    options = plugin_options()
    options.parseOptions(["--listen_port=6421"])
    assert options["listen_port"] == 6421
    assert options["listen_ip"] == "0.0.0.0"
    options = plugin_options()
    options.parseOptions(["--listen_port", "0", "--listen_ip", "127.0.0.1"])
    assert (options["listen_port"], options["listen_ip"]) == (0, "127.0.0.1")
    assert isinstance(options, TrackerOptions)


@pytest.mark.parametrize(("argv", "message"), [
    ([], "--listen_port is required"),
    (["--listen_port=abc"], "invalid literal"),
    (["--listen_port=70000"], "0-65535"),
    (["--listen_port=6421", "--listen_ip=tracker.example"], "IP address"),
])
def test_plugin_options_reject_bad_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(usage.UsageError, match=message):
        plugin_options().parseOptions(argv)


def test_twistd_finds_the_tracker_plugin() -> None:
    from twisted.application.service import IServiceMaker
    from twisted.plugin import getPlugins

    sys.path.insert(0, str(ROOT))
    try:
        import twisted.plugins
        plugin_dir = str(ROOT / "twisted" / "plugins")
        if plugin_dir not in twisted.plugins.__path__:
            twisted.plugins.__path__.append(plugin_dir)
        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
    finally:
        sys.path.remove(str(ROOT))
    assert "tracker" in makers
    options = makers["tracker"].options()
    options.parseOptions(["--listen_port=0", "--listen_ip=127.0.0.1"])
    service = makers["tracker"].makeService(options)
    assert isinstance(service, TrackerService)
    assert (service.listen_port, service.listen_ip) == (0, "127.0.0.1")
    assert not (ROOT / "twisted" / "plugins" / "__init__.py").exists()


def ask_tracker(port: int, deadline: float) -> tuple[bytes, Any]:
    """Send an introduction request to 127.0.0.1:port until an answer arrives (the process may still start)."""
    key = KEYS[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        me = UDPv4Address(*sock.getsockname())
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            sock.sendto(make_request(key, PREFIX_A, ("127.0.0.1", port), me, me, 4242), ("127.0.0.1", port))
            try:
                data, _ = sock.recvfrom(2048)
            except socket.timeout:
                continue
            return decode_response(data)
    raise AssertionError("the tracker did not answer")


def run_tracker_process(command: list[str], port: int, tmp_path: Path, exit_codes: tuple[int, ...] = (0,)) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        signer, response = ask_tracker(port, time.monotonic() + 15)
        assert response.identifier == 4242
        assert response.destination_address[0] == "127.0.0.1"
        assert len(signer) == 74  # a curve25519 key: "LibNaCLPK:" + 64 bytes
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=5)
        assert time.monotonic() - stopped_at < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode in exit_codes, output
    return output


def test_twistd_tracker_answers_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_udp_port()
    twistd = Path(sys.executable).parent / "twistd"
    command = [str(twistd), "-n", "--pidfile=", "tracker", f"--listen_port={port}", "--listen_ip=127.0.0.1"]
    # After a clean shutdown twistd re-raises the signal that stopped it, so it "dies of" SIGTERM.
    output = run_tracker_process(command, port, tmp_path, exit_codes=(0, -signal.SIGTERM))
    assert f"Tracker listening on 127.0.0.1:{port}" in output
    assert "Server Shut Down." in output
    assert "Tracker stopped" in output


def test_bin_script_answers_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_udp_port()
    command = [sys.executable, str(ROOT / "bin" / "ipv8-tracker"), f"--listen_port={port}", "--listen_ip=127.0.0.1"]
    output = run_tracker_process(command, port, tmp_path)
    assert "Tracker stopped" in output


def test_bin_script_explains_a_missing_port(tmp_path: Path) -> None:
    completed = subprocess.run([sys.executable, str(ROOT / "bin" / "ipv8-tracker")], cwd=tmp_path,
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 2
    assert "--listen_port is required" in completed.stderr


def occupied_udp_port() -> socket.socket:
    """A UDP socket bound to a free port on 127.0.0.1 (close it when done)."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    return holder


@pytest.mark.parametrize("program", ["twistd", "bin"])
def test_a_port_in_use_ends_the_tracker_with_one_line(tmp_path: Path, program: str) -> None:
    with occupied_udp_port() as holder:
        port = holder.getsockname()[1]
        arguments = [f"--listen_port={port}", "--listen_ip=127.0.0.1"]
        command = ([str(Path(sys.executable).parent / "twistd"), "-n", "--pidfile=", "tracker", *arguments]
                   if program == "twistd" else [sys.executable, str(ROOT / "bin" / "ipv8-tracker"), *arguments])
        completed = subprocess.run(command, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                   capture_output=True, text=True, timeout=30)
    assert completed.returncode == 1
    name = "twistd tracker" if program == "twistd" else "ipv8-tracker"
    assert completed.stderr == f"{name}: error: UDP port {port} on 127.0.0.1 is in use\n"
    # Nothing claims the tracker started.
    assert completed.stdout == ""


def test_a_port_taken_after_the_check_still_ends_in_one_line() -> None:
    from ipv8.scripts.startup import StartupAbort
    from ipv8.scripts.tracker_plugin import StandaloneTrackerService

    messages, stops, statuses = [], [], []
    abort = StartupAbort("twistd tracker", stop_reactor=lambda: stops.append(True),
                         set_exit_status=lambda: statuses.append(1), stderr=Collector(messages))
    with occupied_udp_port() as holder:
        port = holder.getsockname()[1]
        service = StandaloneTrackerService(port, "127.0.0.1", abort=abort)
        service.startService()  # no exception: the abort took over
    assert not service.running and service.get_address() is None
    assert messages == [f"twistd tracker: error: UDP port {port} on 127.0.0.1 is in use\n"]
    assert stops == [True] and statuses == [1]


class Collector:
    """A stand-in for stderr."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


def test_the_service_and_options_are_still_importable_from_ipv8_tracker() -> None:
    import ipv8.tracker
    from ipv8.scripts import tracker_plugin

    for name in ("TrackerService", "TrackerOptions", "TrackerStartError", "check_listen_address", "make_service"):
        assert getattr(ipv8.tracker, name) is getattr(tracker_plugin, name)
    with pytest.raises(AttributeError):
        ipv8.tracker.NoSuchThing  # noqa: B018
