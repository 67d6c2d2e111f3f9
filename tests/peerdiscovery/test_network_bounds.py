"""Tests for the caps and lifetimes of ipv8.peerdiscovery.network.Network (what hostile peers can make it remember)."""
from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

from .test_network import assert_consistent

SERVICE_A = b"A" * 20
SERVICE_B = b"B" * 20
SERVICE_C = b"C" * 20
KEYS = [default_eccrypto.generate_key("curve25519").pub() for _ in range(16)]
_ports = itertools.count(2000)


def make_peer(index: int, address: tuple | None = None) -> Peer:
    """A fresh Peer object for key number ``index``, at a unique loopback address unless given."""
    return Peer(KEYS[index], address or UDPv4Address("127.0.0.1", next(_ports)))


def target(port: int) -> UDPv4Address:
    """An address to introduce (another loopback network than the introducers')."""
    return UDPv4Address("127.0.0.2", port)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def network(clock: Clock) -> Iterator[Network]:
    graph = Network(clock=clock)
    yield graph
    assert_consistent(graph)


@pytest.fixture
def seeded_random() -> Iterator[None]:
    state = random.getstate()
    random.seed(20261206)
    yield
    random.setstate(state)


def test_defaults() -> None:
    assert Network.max_known_addresses_per_service == 500
    assert Network.max_introductions_per_introducer == 20
    assert Network.unverified_address_ttl == 300.0
    assert Network.max_services_per_peer == 64
    assert Network.max_unverified_service_records == 500
    assert Network.max_services_per_unverified_peer == 16
    assert Network.unverified_services_ttl == 60.0


def test_clock_is_used(network: Network, clock: Clock) -> None:
    assert network.clock is clock
    clock.advance(12.5)
    assert network.now() == 12.5
    other = Clock()
    network.clock = other
    assert network.now() == 0.0


# --- walkable addresses per service -----------------------------------------------------------------------


def test_cap_per_service_forgets_the_oldest(network: Network, clock: Clock) -> None:
    network.max_known_addresses_per_service = 3
    introducers = [make_peer(index) for index in range(5)]
    for index, introducer in enumerate(introducers):
        network.discover_address(introducer, target(index), SERVICE_A)
        clock.advance(1)
    kept = [target(2), target(3), target(4)]
    assert network.walkable_for_service(SERVICE_A) == kept  # oldest first
    assert sorted(network.get_walkable_addresses(SERVICE_A)) == kept
    for forgotten in (target(0), target(1)):
        assert not network.introduced_for(forgotten, SERVICE_A)  # not even known any more
    assert network.get_introductions_from(introducers[0]) == []
    assert network.get_introductions_from(introducers[4]) == [target(4)]
    assert len(network.get_verified_peers()) == 5  # the introducers are not affected


def test_cap_is_per_service(network: Network) -> None:
    network.max_known_addresses_per_service = 2
    introducer = make_peer(0)
    for port in range(4):
        network.discover_address(introducer, target(port), SERVICE_A)
        network.discover_address(introducer, target(100 + port), SERVICE_B)
        network.discover_address(introducer, target(200 + port))
    assert network.walkable_for_service(SERVICE_A) == [target(2), target(3)]
    assert network.walkable_for_service(SERVICE_B) == [target(102), target(103)]
    assert network.walkable_for_service(None) == [target(202), target(203)]
    assert len(network.get_walkable_addresses()) == 6


def test_cap_counts_only_walkable_addresses(network: Network) -> None:
    network.max_known_addresses_per_service = 2
    introducer = make_peer(0)
    for port in range(2):
        network.discover_address(introducer, target(port), SERVICE_A)
    network.add_verified_peer(make_peer(1, target(0)))  # we walked there: no longer walkable
    network.discover_address(introducer, target(5), SERVICE_A)
    assert network.walkable_for_service(SERVICE_A) == [target(1), target(5)]
    assert network.get_verified_by_address(target(0)) is not None


def test_cap_changes_apply_to_later_additions(network: Network) -> None:
    introducer = make_peer(0)
    for port in range(5):
        network.discover_address(introducer, target(port), SERVICE_A)
    network.max_known_addresses_per_service = 2
    network.discover_address(introducer, target(9), SERVICE_A)
    assert network.walkable_for_service(SERVICE_A) == [target(4), target(9)]


def test_walkable_for_unknown_service(network: Network) -> None:
    assert network.walkable_for_service(SERVICE_C) == []
    assert network.walkable_for_service(None) == []


def test_verifying_a_peer_evicts_no_walkable_address(network: Network) -> None:
    network.max_known_addresses_per_service = 2
    introducer = make_peer(0)
    network.add_verified_peer(introducer)
    network.discover_address(introducer, target(1))
    network.discover_address(introducer, target(2))
    assert network.walkable_for_service(None) == [target(1), target(2)]
    network.add_verified_peer(make_peer(1))  # makes no address walkable ...
    assert network.walkable_for_service(None) == [target(1), target(2)]  # ... so none should be dropped


def test_snapshot_addresses_obey_the_cap_and_the_lifetime(network: Network, clock: Clock) -> None:
    source = Network(clock=Clock())
    for index in range(5):
        source.add_verified_peer(make_peer(index, target(index)))
    network.max_known_addresses_per_service = 2
    network.load_snapshot(source.snapshot())
    kept = network.walkable_for_service(None)
    assert len(kept) == 2
    assert set(kept) <= {target(index) for index in range(5)}
    clock.advance(301)
    assert network.random_walkable() is None


# --- introductions per introducer ------------------------------------------------------------------------


def test_cap_per_introducer_forgets_its_oldest(network: Network) -> None:
    network.max_introductions_per_introducer = 3
    chatty, quiet = make_peer(0), make_peer(1)
    network.discover_address(quiet, target(100), SERVICE_A)
    for port in range(6):
        network.discover_address(chatty, target(port), SERVICE_A)
    assert network.get_introductions_from(chatty) == [target(3), target(4), target(5)]
    assert sorted(network.get_walkable_addresses(SERVICE_A)) == [target(3), target(4), target(5), target(100)]
    assert network.get_introductions_from(quiet) == [target(100)]  # another introducer's share is untouched


def test_cap_per_introducer_spans_services(network: Network) -> None:
    network.max_introductions_per_introducer = 2
    chatty = make_peer(0)
    network.discover_address(chatty, target(1), SERVICE_A)
    network.discover_address(chatty, target(2), SERVICE_B)
    network.discover_address(chatty, target(3))
    assert network.get_introductions_from(chatty) == [target(2), target(3)]
    assert network.walkable_for_service(SERVICE_A) == []


def test_cap_per_introducer_of_zero_keeps_nothing(network: Network) -> None:
    network.max_introductions_per_introducer = 0
    chatty = make_peer(0)
    network.discover_address(chatty, target(1), SERVICE_A)
    assert network.get_walkable_addresses() == []
    assert network.get_introductions_from(chatty) == []
    assert network.get_verified_peers() == [chatty]


def test_a_flood_of_introductions_stays_bounded(network: Network) -> None:
    network.max_introductions_per_introducer = 20
    network.max_known_addresses_per_service = 50
    introducers = [make_peer(index) for index in range(10)]
    for step in range(2000):
        network.discover_address(introducers[step % 10], target(step), SERVICE_A)
    assert len(network.get_walkable_addresses()) == 50
    assert len(network.walkable_for_service(SERVICE_A)) == 50
    assert all(len(network.get_introductions_from(peer)) <= 20 for peer in introducers)
    assert network.walkable_for_service(SERVICE_A) == [target(step) for step in range(1950, 2000)]


# --- expiry of walkable addresses -----------------------------------------------------------------------


def test_walkable_addresses_expire(network: Network, clock: Clock) -> None:
    introducer = make_peer(0)
    network.discover_address(introducer, target(1), SERVICE_A)
    clock.advance(100)
    network.discover_address(introducer, target(2), SERVICE_A)
    clock.advance(200)  # target(1) is exactly ttl old
    assert network.expire() == 0
    assert network.walkable_for_service(SERVICE_A) == [target(1), target(2)]
    clock.advance(0.5)
    assert network.expire() == 1
    assert network.walkable_for_service(SERVICE_A) == [target(2)]
    assert network.get_introductions_from(introducer) == [target(2)]
    clock.advance(100)
    assert network.random_walkable(SERVICE_A) is None  # random_walkable expires too
    assert network.get_walkable_addresses() == []
    assert network.get_verified_peers() == [introducer]  # verified peers do not expire


def test_ttl_is_read_at_expiry(network: Network, clock: Clock) -> None:
    network.discover_address(make_peer(0), target(1), SERVICE_A)
    clock.advance(20)
    assert network.expire() == 0
    network.unverified_address_ttl = 10.0
    assert network.expire() == 1


def test_discovery_expires_old_addresses(network: Network, clock: Clock) -> None:
    introducer = make_peer(0)
    network.discover_address(introducer, target(1))
    clock.advance(301)
    network.discover_address(introducer, target(2))
    assert network.get_walkable_addresses() == [target(2)]


def test_addresses_of_verified_peers_do_not_expire(network: Network, clock: Clock) -> None:
    peer = make_peer(1, target(1))
    network.discover_address(make_peer(0), target(1), SERVICE_A)
    network.add_verified_peer(peer)
    clock.advance(10_000)
    network.expire()
    assert network.get_verified_by_address(target(1)) is peer
    # Once the peer moves away, its old address becomes walkable, and its lifetime starts then.
    peer.add_address(target(2))
    assert network.get_walkable_addresses() == [target(1)]
    clock.advance(300)
    assert network.expire() == 0
    clock.advance(1)
    assert network.expire() == 1
    assert network.get_walkable_addresses() == []


def test_reintroduction_after_the_introducer_left_restarts_the_lifetime(network: Network, clock: Clock) -> None:
    first, second = make_peer(0), make_peer(1)
    network.discover_address(first, target(1), SERVICE_A)
    network.remove_peer(first)
    clock.advance(200)
    network.discover_address(second, target(1), SERVICE_A)  # the record is free to claim: it is renewed
    clock.advance(200)
    network.expire()
    assert network.walkable_for_service(SERVICE_A) == [target(1)]
    assert network.get_introductions_from(second) == [target(1)]


def test_reintroduction_keeps_an_address_alive(network: Network, clock: Clock) -> None:
    introducer = make_peer(0)
    network.discover_address(introducer, target(1), SERVICE_A)
    clock.advance(200)
    network.discover_address(introducer, target(1), SERVICE_A)  # heard of again
    clock.advance(200)  # 400 s after the first, 200 s after the latest introduction
    assert network.random_walkable(SERVICE_A) == target(1)


# --- services ---------------------------------------------------------------------------------------------


def test_services_per_peer_are_capped(network: Network) -> None:
    network.max_services_per_peer = 3
    peer = make_peer(0)
    network.add_verified_peer(peer)
    services = [bytes([index]) * 20 for index in range(6)]
    network.discover_services(peer, services)
    assert network.get_services_for_peer(peer) == set(services[:3])
    network.discover_services(peer, services[3:])
    assert network.get_services_for_peer(peer) == set(services[:3])
    assert network.get_peers_for_service(services[4]) == []
    network.discover_services(peer, services[:3])  # known ones may be repeated
    assert network.get_services_for_peer(peer) == set(services[:3])
    network.remove_service_for_peer(peer, services[0])  # which makes room for one more
    network.discover_services(peer, services[4:])
    assert network.get_services_for_peer(peer) == {services[1], services[2], services[4]}
    assert network.get_peers_for_service(services[4]) == [peer]


def test_services_of_unverified_peers_expire(network: Network, clock: Clock) -> None:
    stranger = make_peer(0)
    network.discover_services(stranger, [SERVICE_A])
    clock.advance(60)
    assert network.expire() == 0  # exactly ttl old
    assert network.get_services_for_peer(stranger) == {SERVICE_A}
    clock.advance(0.5)
    assert network.expire() == 1
    assert network.get_services_for_peer(stranger) == set()
    network.add_verified_peer(stranger)
    assert network.get_peers_for_service(SERVICE_A) == []


def test_announcing_again_renews_unverified_services(network: Network, clock: Clock) -> None:
    stranger = make_peer(0)
    network.discover_services(stranger, [SERVICE_A])
    clock.advance(50)
    network.discover_services(stranger, [SERVICE_B])
    clock.advance(50)
    network.expire()
    assert network.get_services_for_peer(stranger) == {SERVICE_A, SERVICE_B}


def test_services_of_verified_peers_survive_expiry(network: Network, clock: Clock) -> None:
    early, late = make_peer(0), make_peer(1)
    network.discover_services(early, [SERVICE_A])  # announced before it was verified
    network.add_verified_peer(early)
    network.add_verified_peer(late)
    network.discover_services(late, [SERVICE_B])
    clock.advance(10_000)
    network.expire()
    network.discover_services(make_peer(2), [SERVICE_C])  # a write to the unverified records prunes too
    assert network.get_services_for_peer(early) == {SERVICE_A}
    assert network.get_services_for_peer(late) == {SERVICE_B}
    assert network.get_peers_for_service(SERVICE_A) == [early]
    assert network.get_peers_for_service(SERVICE_B) == [late]


class SmallNetwork(Network):
    """Caps set on the class, as the documentation allows."""

    max_unverified_service_records = 2
    unverified_services_ttl = 5.0


def test_unverified_service_records_are_capped(clock: Clock) -> None:
    network = SmallNetwork(clock=clock)
    verified = make_peer(9)
    network.add_verified_peer(verified)
    network.discover_services(verified, [SERVICE_C])
    strangers = [make_peer(index) for index in range(3)]
    for stranger in strangers:
        network.discover_services(stranger, [SERVICE_A])
    assert network.get_services_for_peer(strangers[0]) == set()  # least recently heard of: forgotten
    assert network.get_services_for_peer(strangers[1]) == {SERVICE_A}
    assert network.get_services_for_peer(strangers[2]) == {SERVICE_A}
    network.discover_services(strangers[1], [SERVICE_B])  # heard of again: now the most recent
    network.discover_services(make_peer(5), [SERVICE_A])
    assert network.get_services_for_peer(strangers[2]) == set()
    assert network.get_services_for_peer(strangers[1]) == {SERVICE_A, SERVICE_B}
    for index in range(10, 16):  # a flood of made-up keys never displaces a verified peer's services
        network.discover_services(make_peer(index), [SERVICE_A])
    assert network.get_services_for_peer(verified) == {SERVICE_C}
    assert sum(key not in network.verified_by_public_key_bin for key in network.services_per_peer) == 2
    clock.advance(5.5)
    assert network.expire() == 2
    assert list(network.services_per_peer) == [verified.public_key.key_to_bin()]
    assert_consistent(network)


def test_removing_an_unverified_peer_drops_its_service_record(clock: Clock) -> None:
    network = SmallNetwork(clock=clock)
    strangers = [make_peer(index) for index in range(3)]
    network.discover_services(strangers[0], [SERVICE_A])
    network.discover_services(strangers[1], [SERVICE_A])
    network.remove_peer(strangers[0])
    network.discover_services(strangers[2], [SERVICE_A])  # room was made: nobody is evicted
    assert network.get_services_for_peer(strangers[1]) == {SERVICE_A}
    assert network.get_services_for_peer(strangers[2]) == {SERVICE_A}


def test_verification_takes_a_peer_out_of_the_unverified_records(clock: Clock) -> None:
    network = SmallNetwork(clock=clock)
    strangers = [make_peer(index) for index in range(4)]
    network.discover_services(strangers[1], [SERVICE_A])
    network.discover_services(strangers[0], [SERVICE_A])
    network.add_verified_peer(strangers[0])  # its record no longer takes one of the two places ...
    network.discover_services(strangers[2], [SERVICE_A])  # ... so nobody is evicted here
    assert network.get_services_for_peer(strangers[1]) == {SERVICE_A}
    network.discover_services(strangers[3], [SERVICE_A])  # evicts strangers[1], never the verified one
    assert network.get_services_for_peer(strangers[0]) == {SERVICE_A}
    assert network.get_services_for_peer(strangers[1]) == set()
    assert network.get_services_for_peer(strangers[2]) == {SERVICE_A}
    assert network.get_peers_for_service(SERVICE_A) == [strangers[0]]


def test_unverified_service_caps_can_be_set_on_an_instance(network: Network, clock: Clock) -> None:
    network.max_unverified_service_records = 2
    network.unverified_services_ttl = 5.0
    strangers = [make_peer(index) for index in range(3)]
    for stranger in strangers:
        network.discover_services(stranger, [SERVICE_A])
    assert network.get_services_for_peer(strangers[0]) == set()
    clock.advance(6)
    network.expire()
    assert network.services_per_peer == {}


def test_remove_service_for_peer(network: Network) -> None:
    peer, other = make_peer(0), make_peer(1)
    network.discover_address(peer, target(1))  # introduced without a service
    network.add_verified_peer(other)
    network.discover_services(peer, [SERVICE_A, SERVICE_B])
    network.discover_services(other, [SERVICE_A])
    assert network.introduced_for(target(1), SERVICE_A)  # the introducer runs A
    network.remove_service_for_peer(peer, SERVICE_A)
    assert network.get_services_for_peer(peer) == {SERVICE_B}
    assert network.get_peers_for_service(SERVICE_A) == [other]
    assert network.get_peers_for_service(SERVICE_B) == [peer]
    assert peer in network.get_verified_peers()
    assert not network.introduced_for(target(1), SERVICE_A)
    assert network.introduced_for(target(1), SERVICE_B)
    network.remove_service_for_peer(other, SERVICE_A)  # the last provider: the service disappears
    assert network.get_peers_for_service(SERVICE_A) == []
    assert SERVICE_A not in network.reverse_service_lookup
    network.remove_service_for_peer(peer, SERVICE_C)  # not one of its services
    network.remove_service_for_peer(make_peer(5), SERVICE_A)  # unknown peer
    assert network.get_services_for_peer(peer) == {SERVICE_B}


def test_remove_service_for_unverified_peer(network: Network) -> None:
    stranger = make_peer(0)
    network.discover_services(stranger, [SERVICE_A, SERVICE_B])
    network.remove_service_for_peer(stranger, SERVICE_A)
    assert network.get_services_for_peer(stranger) == {SERVICE_B}
    network.add_verified_peer(stranger)
    assert network.get_peers_for_service(SERVICE_A) == []
    assert network.get_peers_for_service(SERVICE_B) == [stranger]


def test_remove_service_for_peer_type_check(network: Network) -> None:
    with pytest.raises(TypeError):
        network.remove_service_for_peer(("127.0.0.1", 1), SERVICE_A)  # type: ignore[arg-type]


# --- queries ------------------------------------------------------------------------------------------------


def test_introduced_for(network: Network) -> None:
    introducer = make_peer(0)
    network.discover_services(introducer, [SERVICE_B])
    network.discover_address(introducer, target(1), SERVICE_A)
    network.discover_address(introducer, target(2))
    assert network.introduced_for(target(1), SERVICE_A)
    assert network.introduced_for(target(1), SERVICE_B)  # its introducer runs B
    assert not network.introduced_for(target(1), SERVICE_C)
    assert network.introduced_for(target(2), SERVICE_B)
    assert not network.introduced_for(target(2), SERVICE_A)
    assert not network.introduced_for(target(3), SERVICE_A)  # unknown
    for service in (SERVICE_A, SERVICE_B, SERVICE_C):  # the same answer as get_walkable_addresses
        for address in (target(1), target(2)):
            assert network.introduced_for(address, service) == (address in network.get_walkable_addresses(service))


def test_random_walkable_when_empty(network: Network) -> None:
    assert network.random_walkable() is None
    assert network.random_walkable(SERVICE_A) is None
    network.add_verified_peer(make_peer(0))  # a verified peer's address is not walkable
    assert network.random_walkable() is None
    network.discover_address(make_peer(1), target(1), SERVICE_A)
    assert network.random_walkable(SERVICE_B) is None
    assert network.random_walkable(SERVICE_A) == target(1)
    assert network.random_walkable() == target(1)


def test_random_walkable_is_uniform(network: Network, seeded_random: None) -> None:
    introducer = make_peer(0)
    addresses = {SERVICE_A: [target(1)], SERVICE_B: [target(2), target(3), target(4)],
                 None: [target(5), target(6), target(7), target(8)]}
    for service, members in addresses.items():
        for address in members:
            network.discover_address(introducer, address, service)
    picks = Counter(network.random_walkable() for _ in range(8000))
    assert set(picks) == {address for members in addresses.values() for address in members}
    for count in picks.values():
        assert 850 < count < 1150  # expected 1000 each, whatever the size of its bucket (sigma ~ 30)
    per_service = Counter(network.random_walkable(SERVICE_B) for _ in range(3000))
    assert set(per_service) == set(addresses[SERVICE_B])
    for count in per_service.values():
        assert 850 < count < 1150


def test_random_walkable_skips_emptied_buckets(network: Network) -> None:
    introducer = make_peer(0)
    network.discover_address(introducer, target(1), SERVICE_A)
    network.discover_address(introducer, target(2), SERVICE_B)
    network.remove_by_address(target(1))
    for _ in range(50):
        assert network.random_walkable() == target(2)
    assert network.random_walkable(SERVICE_A) is None


# --- unusable addresses ---------------------------------------------------------------------------------------

UNUSABLE = [UDPv4Address("0.0.0.0", 8090), UDPv4Address("127.0.0.1", 0), UDPv4Address("224.0.0.1", 8090),
            UDPv4Address("239.255.255.250", 1900), UDPv4Address("255.255.255.255", 8090),
            UDPv4Address("240.0.0.1", 8090), UDPv6Address("::", 8090), UDPv6Address("ff02::1", 8090),
            UDPv6Address("::1", 0), ("0.0.0.0", 8090), ("example.com", 8090), DomainAddress("localhost", 8090)]


@pytest.mark.parametrize("address", UNUSABLE)
def test_unusable_addresses_are_never_recorded(network: Network, address: tuple) -> None:
    introducer = make_peer(0)
    network.discover_address(introducer, address, SERVICE_A)
    network.discover_address(introducer, address)
    assert network.get_walkable_addresses() == []
    assert network.get_introductions_from(introducer) == []
    assert network.random_walkable() is None
    assert not network.introduced_for(address, SERVICE_A)
    assert network.get_verified_peers() == [introducer]  # the introducer itself is still fine


# --- random operation sequences with small caps -------------------------------------------------------------

POOL = [UDPv4Address("127.0.0.1", port) for port in range(1, 9)] + [UDPv6Address("::1", 1),
                                                                      UDPv4Address("0.0.0.0", 5)]
SERVICES = [SERVICE_A, SERVICE_B, None]
OPERATIONS = st.lists(st.tuples(st.sampled_from(["discover", "discover", "verify", "services", "move", "remove_peer",
                                                 "remove_address", "remove_service", "advance", "expire",
                                                 "random_walkable"]),
                                st.integers(0, 5), st.integers(0, len(POOL) - 1), st.integers(0, 2), st.booleans()),
                      max_size=40)


class TinyNetwork(Network):
    max_known_addresses_per_service = 2
    max_introductions_per_introducer = 2
    unverified_address_ttl = 10.0
    max_services_per_peer = 1
    max_unverified_service_records = 2
    unverified_services_ttl = 4.0


def assert_within_caps(network: TinyNetwork) -> None:
    walkable = network.get_walkable_addresses()
    for bucket in network._walkable_by_service.values():
        assert 0 < len(bucket) <= network.max_known_addresses_per_service
    assert len(walkable) <= network.max_known_addresses_per_service * len(SERVICES)
    for introduced in network.reverse_intro_lookup.values():
        assert len(introduced) <= network.max_introductions_per_introducer
    for services in network.services_per_peer.values():
        assert len(services) <= network.max_services_per_peer
    unverified = [key for key in network.services_per_peer if key not in network.verified_by_public_key_bin]
    assert len(unverified) <= network.max_unverified_service_records
    assert UDPv4Address("0.0.0.0", 5) not in walkable
    for service in SERVICES:
        for address in network.walkable_for_service(service):
            assert address in walkable
            assert network.get_verified_by_address(address) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_random_operations_keep_caps_and_indexes(operations: list) -> None:
    clock = Clock()
    network = TinyNetwork(clock=clock)
    objects = [make_peer(index, POOL[index]) for index in range(6)]
    for name, index, address_index, service_index, flag in operations:
        peer = objects[index] if flag else make_peer(index, POOL[(index + address_index) % 9])
        address, service = POOL[address_index], SERVICES[service_index]
        if name == "discover":
            network.discover_address(peer, address, service, new_style=flag)
        elif name == "verify":
            network.add_verified_peer(peer)
        elif name == "services":
            network.discover_services(peer, [service or SERVICE_C, SERVICE_B])
        elif name == "move":
            if address.ip != "0.0.0.0":  # a verified peer's own address comes from a socket, not from a rumour
                objects[index].add_address(address)
        elif name == "remove_peer":
            network.remove_peer(peer)
        elif name == "remove_address":
            network.remove_by_address(address)
        elif name == "remove_service":
            network.remove_service_for_peer(peer, service or SERVICE_C)
        elif name == "advance":
            clock.advance([0.5, 3.0, 11.0][service_index])
        elif name == "expire":
            network.expire()
        else:
            picked = network.random_walkable(service if flag else None)
            assert picked is None or picked in network.get_walkable_addresses()
            if flag and service is not None and picked is not None:
                assert picked in network.walkable_for_service(service)
        assert_consistent(network)
        assert_within_caps(network)
    # Long enough for everything unverified to expire.
    clock.advance(11.0)
    network.expire()
    assert network.get_walkable_addresses() == []
    assert set(network.services_per_peer) <= set(network.verified_by_public_key_bin)
    assert network.random_walkable() is None
    assert_consistent(network)
