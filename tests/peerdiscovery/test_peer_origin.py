"""The peer-origin records of a Network: what they say, how long they live and how much hostile peers can add."""
from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from twisted.internet.task import Clock

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.payload import IntroductionResponsePayload
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.peerdiscovery.peer_origin import (
    BOOTSTRAP,
    CONTACTED_US,
    INTRODUCED,
    PUNCTURE_BOTH,
    PUNCTURE_RECEIVED,
    PUNCTURE_SENT,
    SNAPSHOT,
    VIA_LAN,
    VIA_LAN_GUESS,
    VIA_PUNCTURE_REQUEST,
    VIA_WAN,
    WALKED,
    PeerOrigins,
    introduction_field,
)

from .test_network import assert_consistent

SERVICE = b"S" * 20
KEYS = [default_eccrypto.generate_key("curve25519").pub() for _ in range(4)]
_ports = itertools.count(3000)


def make_peer(index: int, address: tuple | None = None) -> Peer:
    return Peer(KEYS[index], address or UDPv4Address("127.0.0.1", next(_ports)))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def network(clock: Clock) -> Iterator[Network]:
    graph = Network(clock=clock)
    yield graph
    assert_consistent(graph)
    # Every verified peer has exactly one record, and nobody else has a per-peer record.
    assert set(graph.origins._peers) == set(graph.verified_by_public_key_bin)


def test_an_introduced_address_keeps_its_introducer_once_verified(network: Network, clock: Clock) -> None:
    introducer = make_peer(0)
    network.add_verified_peer(introducer)
    address = UDPv4Address("127.0.0.2", 4000)
    network.discover_address(introducer, address, SERVICE, via=VIA_WAN)
    pending = network.origins.of_address(address)
    assert pending is not None and (pending.how, pending.via, pending.introducer) == (INTRODUCED, VIA_WAN,
                                                                                      introducer.mid)
    clock.advance(5)
    newcomer = make_peer(1, address)
    network.add_verified_peer(newcomer)
    origin = network.origins.of_peer(newcomer)
    assert origin is not None
    assert (origin.how, origin.introducer, origin.introducer_address, origin.via, origin.punctured, origin.since) \
        == (INTRODUCED, introducer.mid, tuple(introducer.address), VIA_WAN, "", 0.0)
    assert network.origins.of_address(address) is None  # moved to the peer, not kept twice
    assert network.origins.pending_count == 0


def test_an_introduction_by_a_tracker_is_bootstrap(network: Network) -> None:
    tracker = make_peer(0)
    network.blacklist.append(tracker.address)
    address = UDPv4Address("127.0.0.2", 4001)
    network.discover_address(tracker, address, SERVICE, via=VIA_WAN)
    assert tracker not in network.verified_peers
    network.add_verified_peer(make_peer(1, address))
    origin = network.origins.of_peer(make_peer(1, address))
    assert origin is not None and origin.how == BOOTSTRAP and origin.introducer_address == tuple(tracker.address)


def test_a_puncture_request_from_a_tracker_is_bootstrap(network: Network) -> None:
    tracker = UDPv4Address("127.0.0.9", 6421)
    network.blacklist.append(tracker)
    walker, other = UDPv4Address("127.0.0.2", 4010), UDPv4Address("127.0.0.2", 4011)
    network.origins.punctured(walker, PUNCTURE_SENT, tracker)
    network.origins.punctured(other, PUNCTURE_SENT, UDPv4Address("127.0.0.8", 1))  # not a tracker
    network.add_verified_peer(make_peer(0, walker))
    network.add_verified_peer(make_peer(1, other))
    origin = network.origins.of_peer(make_peer(0, walker))
    assert origin is not None
    assert (origin.how, origin.introducer_address, origin.via, origin.punctured) \
        == (BOOTSTRAP, tuple(tracker), VIA_PUNCTURE_REQUEST, PUNCTURE_SENT)
    assert network.origins.of_peer(make_peer(1, other)).how == CONTACTED_US  # type: ignore[union-attr]


def test_walked_contacted_and_snapshot(network: Network) -> None:
    walked, contacted = make_peer(0), make_peer(1)
    network.origins.note(walked.address, WALKED)
    network.add_verified_peer(walked)
    network.add_verified_peer(contacted)
    assert network.origins.of_peer(walked).how == WALKED  # type: ignore[union-attr]
    assert network.origins.of_peer(contacted).how == CONTACTED_US  # type: ignore[union-attr]

    other = Network(clock=network.clock)
    assert other.load_snapshot(network.snapshot()) == 2
    other.add_verified_peer(make_peer(0, walked.address))
    assert other.origins.of_peer(walked).how == SNAPSHOT  # type: ignore[union-attr]


def test_the_first_thing_learnt_wins(network: Network) -> None:
    introducer = make_peer(0)
    network.add_verified_peer(introducer)
    address = UDPv4Address("127.0.0.2", 4002)
    network.discover_address(introducer, address, SERVICE, via=VIA_LAN)
    network.origins.note(address, WALKED)  # the walker then goes there: still "introduced"
    assert network.origins.of_address(address).how == INTRODUCED  # type: ignore[union-attr]
    walked = UDPv4Address("127.0.0.2", 4003)
    network.origins.note(walked, WALKED)
    network.discover_address(introducer, walked, SERVICE, via=VIA_WAN)
    assert network.origins.of_address(walked).how == WALKED  # type: ignore[union-attr]


def test_notes_about_a_verified_address_are_ignored(network: Network) -> None:
    peer = make_peer(0)
    network.add_verified_peer(peer)
    network.origins.note(peer.address, WALKED)
    assert network.origins.of_address(peer.address) is None
    assert network.origins.of_peer(peer).how == CONTACTED_US  # type: ignore[union-attr]


def test_punctures_before_and_after_verification(network: Network) -> None:
    introducer = make_peer(0)
    network.add_verified_peer(introducer)
    early = UDPv4Address("127.0.0.2", 4004)
    network.origins.punctured(early, PUNCTURE_RECEIVED)  # the puncture overtook the introduction
    network.discover_address(introducer, early, SERVICE, via=VIA_PUNCTURE_REQUEST)
    peer = make_peer(1, early)
    network.add_verified_peer(peer)
    origin = network.origins.of_peer(peer)
    assert origin is not None and (origin.how, origin.via, origin.punctured) == (INTRODUCED, VIA_PUNCTURE_REQUEST,
                                                                                 PUNCTURE_RECEIVED)
    network.origins.punctured(early, PUNCTURE_SENT)  # after verification: not how we reached it
    assert network.origins.of_peer(peer).punctured == PUNCTURE_RECEIVED  # type: ignore[union-attr]
    both = UDPv4Address("127.0.0.2", 4006)
    network.origins.punctured(both, PUNCTURE_SENT)
    network.origins.punctured(both, PUNCTURE_RECEIVED)
    assert network.origins.of_address(both).punctured == PUNCTURE_BOTH  # type: ignore[union-attr]

    # Only a puncture is known: the peer came to us.
    lone = make_peer(2)
    network.origins.punctured(lone.address, PUNCTURE_SENT)
    network.add_verified_peer(lone)
    assert (network.origins.of_peer(lone).how, network.origins.of_peer(lone).punctured) \
        == (CONTACTED_US, PUNCTURE_SENT)  # type: ignore[union-attr]


def test_the_record_goes_with_the_peer(network: Network) -> None:
    peer = make_peer(0)
    network.origins.note(peer.address, WALKED)
    network.add_verified_peer(peer)
    assert len(network.origins) == 1
    network.remove_peer(peer)
    assert network.origins.of_peer(peer) is None
    assert len(network.origins) == 0
    network.add_verified_peer(peer)
    network.remove_by_address(peer.address)
    assert len(network.origins) == 0


def test_pending_records_expire(network: Network, clock: Clock) -> None:
    address = UDPv4Address("127.0.0.2", 4005)
    network.origins.note(address, WALKED)
    clock.advance(PeerOrigins.pending_ttl + 1)
    network.expire()
    assert network.origins.pending_count == 0
    network.add_verified_peer(make_peer(0, address))  # too late: nobody remembers the walk
    assert network.origins.of_peer(make_peer(0, address)).how == CONTACTED_US  # type: ignore[union-attr]


def test_a_record_heard_of_again_lives_on(network: Network, clock: Clock) -> None:
    introducer = make_peer(0)
    network.add_verified_peer(introducer)
    address = UDPv4Address("127.0.0.2", 4020)
    network.discover_address(introducer, address, SERVICE, via=VIA_WAN)
    clock.advance(PeerOrigins.pending_ttl * 2 / 3)
    network.discover_address(make_peer(1), address, SERVICE, via=VIA_LAN)  # introduced again: both live on
    clock.advance(PeerOrigins.pending_ttl * 2 / 3)
    network.expire()
    assert address in network.get_walkable_addresses()
    origin = network.origins.of_address(address)
    assert origin is not None  # the first introduction's record
    assert (origin.how, origin.introducer, origin.via, origin.since) == (INTRODUCED, introducer.mid, VIA_WAN, 0.0)


def test_a_hostile_introducer_cannot_grow_the_records(network: Network) -> None:
    introducer = make_peer(0)
    network.add_verified_peer(introducer)
    for port in range(5000, 7000):
        network.discover_address(introducer, UDPv4Address("127.0.0.3", port), SERVICE, via=VIA_WAN)
    # The network keeps this many of one introducer's introductions, and the records live no longer.
    assert network.origins.pending_count == Network.max_introductions_per_introducer


def test_puncture_requests_from_anyone_are_capped(network: Network) -> None:
    network.origins.max_pending = 50
    for port in range(5000, 5400):
        network.origins.punctured(UDPv4Address("127.0.0.4", port), PUNCTURE_SENT)
    assert network.origins.pending_count == 50
    assert network.origins.of_address(UDPv4Address("127.0.0.4", 5399)) is not None
    assert network.origins.of_address(UDPv4Address("127.0.0.4", 5000)) is None  # the oldest went first


def test_which_field_introduced_an_address() -> None:
    lan, wan = UDPv4Address("192.168.1.5", 7000), UDPv4Address("1.2.3.4", 7001)
    payload = IntroductionResponsePayload(
        destination_address=UDPv4Address("5.6.7.8", 1), source_lan_address=UDPv4Address("10.0.0.1", 1),
        source_wan_address=UDPv4Address("9.9.9.9", 1), lan_introduction_address=lan, wan_introduction_address=wan,
        connection_type="unknown", identifier=1, extra_bytes=b"")
    assert introduction_field(payload, wan) == VIA_WAN
    assert introduction_field(payload, lan) == VIA_LAN
    assert introduction_field(payload, UDPv4Address("10.0.0.1", 7001)) == VIA_LAN_GUESS
