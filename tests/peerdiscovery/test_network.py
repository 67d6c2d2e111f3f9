"""Tests for ipv8.peerdiscovery.network: the peer graph."""
from __future__ import annotations

import itertools
import logging
import socket
import struct
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv4LANAddress, UDPv6Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import IPeerObserver, Network, PeerObserver, WalkableAddress

SERVICE_A = bytes(range(20))
SERVICE_B = bytes(range(20, 40))

KEYS = [default_eccrypto.generate_key("curve25519") for _ in range(12)]
_ports = itertools.count(1000)


def make_peer(index: int, *addresses: tuple) -> Peer:
    """A fresh Peer object for key number ``index``; with a unique loopback address unless given."""
    peer = Peer(KEYS[index].pub())
    for address in addresses or (UDPv4Address("127.0.0.1", next(_ports)),):
        peer.add_address(address)
    return peer


def fresh_address() -> UDPv4Address:
    return UDPv4Address("127.0.0.2", next(_ports))


class RecordingObserver(PeerObserver):
    """Remembers every notification."""

    def __init__(self) -> None:
        self.added: list[Peer] = []
        self.removed: list[Peer] = []

    def on_peer_added(self, peer: Peer) -> None:
        self.added.append(peer)

    def on_peer_removed(self, peer: Peer) -> None:
        self.removed.append(peer)


def assert_consistent(network: Network) -> None:
    """Check every index against a recomputation from the primary data."""
    known = network._known
    in_use: dict = {}
    for peer in network.verified_peers:
        assert network.verified_by_public_key_bin[peer.public_key.key_to_bin()] is peer
        for address in peer.addresses.values():
            in_use.setdefault(address, set()).add(peer)
    assert len(network.verified_by_public_key_bin) == len(network.verified_peers)
    assert {address: set(users) for address, users in network.reverse_ip_lookup.items()} == in_use
    assert set(network.get_walkable_addresses()) == set(known) - set(in_use)
    assert len(network.get_walkable_addresses()) == len(set(network.get_walkable_addresses()))
    introduced: dict = {}
    for address, record in known.items():
        if record.introduced_by:
            introduced.setdefault(record.introduced_by, set()).add(address)
    assert {key: set(found) for key, found in network.reverse_intro_lookup.items()} == introduced
    providers: dict = {}
    for peer in network.verified_peers:
        for service in network.services_per_peer.get(peer.public_key.key_to_bin(), ()):
            providers.setdefault(service, set()).add(peer)
    assert {service: set(found) for service, found in network.reverse_service_lookup.items()} == providers


@pytest.fixture
def network() -> Iterator[Network]:
    graph = Network()
    yield graph
    assert_consistent(graph)


@pytest.fixture
def observer(network: Network) -> RecordingObserver:
    watcher = RecordingObserver()
    network.add_peer_observer(watcher)
    return watcher


# --- discover_address ------------------------------------------------------------------------------------


def test_discover_address(network: Network, observer: RecordingObserver) -> None:
    introducer = make_peer(0)
    address = fresh_address()
    network.discover_address(introducer, address, SERVICE_A)

    assert network.get_walkable_addresses() == [address]
    assert network.get_verified_peers() == [introducer]
    assert network.get_introductions_from(introducer) == [address]
    assert observer.added == [introducer]
    assert not network.is_new_style(address)


def test_discover_address_new_style(network: Network) -> None:
    address = UDPv6Address("::1", next(_ports))
    network.discover_address(make_peer(0), address, SERVICE_A, new_style=True)
    assert network.is_new_style(address)
    assert not network.is_new_style(fresh_address())  # unknown


def test_discover_plain_tuple_is_stored_typed(network: Network) -> None:
    introducer = make_peer(0)
    network.discover_address(introducer, ("127.0.0.3", 4000))
    network.discover_address(introducer, ("::1", 4001))
    walkable = network.get_walkable_addresses()
    assert walkable == [("127.0.0.3", 4000), ("::1", 4001)]
    assert [type(address) for address in walkable] == [UDPv4Address, UDPv6Address]


def test_discover_address_bad_input_leaves_graph_alone(network: Network) -> None:
    with pytest.raises(TypeError):
        network.discover_address(make_peer(0), ["127.0.0.1", 5])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        network.discover_address(make_peer(0), ("127.0.0.1",))
    with pytest.raises(TypeError):
        network.discover_address("not a peer", fresh_address())  # type: ignore[arg-type]
    assert network.get_verified_peers() == []
    assert network.get_walkable_addresses() == []


def test_first_live_introducer_keeps_the_introduction(network: Network) -> None:
    first, second = make_peer(0), make_peer(1)
    address = fresh_address()
    network.discover_address(first, address, SERVICE_A, new_style=True)
    network.discover_address(second, address, SERVICE_B)

    assert network.get_introductions_from(first) == [address]
    assert network.get_introductions_from(second) == []
    assert network.is_new_style(address)
    assert network.get_walkable_addresses(SERVICE_A) == [address]
    assert network.get_walkable_addresses(SERVICE_B) == []


def test_introduction_of_a_removed_introducer_can_be_claimed(network: Network) -> None:
    first, second = make_peer(0), make_peer(1)
    address = fresh_address()
    network.discover_address(first, address, SERVICE_A)
    network.remove_peer(first)

    # Removal drops the introduction edge, but the address stays walkable for the service it came with.
    assert network.get_introductions_from(first) == []
    assert network.get_walkable_addresses(SERVICE_A) == [address]

    network.discover_address(second, address, SERVICE_B)
    assert network.get_introductions_from(second) == [address]
    assert network.get_walkable_addresses(SERVICE_B) == [address]
    assert network.get_walkable_addresses(SERVICE_A) == []


def test_blacklisted_address_is_never_introduced(network: Network, observer: RecordingObserver) -> None:
    tracker = fresh_address()
    network.blacklist.append(tracker)
    introducer = make_peer(0)
    network.discover_address(introducer, tracker, SERVICE_A)

    assert network.get_walkable_addresses() == []
    assert network.get_introductions_from(introducer) == []
    assert not network.is_new_style(tracker)
    assert network.get_verified_peers() == [introducer]  # the introducer itself is still fine
    assert observer.added == [introducer]


def test_plain_tuple_matches_typed_blacklist_entry(network: Network) -> None:
    network.blacklist.append(UDPv4Address("127.0.0.9", 9))
    network.discover_address(make_peer(0), ("127.0.0.9", 9))
    assert network.get_walkable_addresses() == []


# --- discover_services / service queries --------------------------------------------------------------


def test_discover_services(network: Network) -> None:
    peer = make_peer(0)
    network.add_verified_peer(peer)
    network.discover_services(peer, [SERVICE_A])
    network.discover_services(peer, (service for service in [SERVICE_B, SERVICE_A]))  # merges, any iterable

    assert network.get_services_for_peer(peer) == {SERVICE_A, SERVICE_B}
    assert network.get_peers_for_service(SERVICE_A) == [peer]
    assert network.get_peers_for_service(SERVICE_B) == [peer]
    assert network.get_peers_for_service(b"\x00" * 20) == []


def test_services_of_unverified_peer_apply_once_verified(network: Network) -> None:
    peer = make_peer(0)
    network.discover_services(peer, [SERVICE_A])
    assert network.get_services_for_peer(peer) == {SERVICE_A}
    assert network.get_peers_for_service(SERVICE_A) == []

    network.add_verified_peer(peer)
    assert network.get_peers_for_service(SERVICE_A) == [peer]


def test_services_are_shared_by_peer_instances_with_one_key(network: Network) -> None:
    stored = make_peer(0)
    network.add_verified_peer(stored)
    network.discover_services(make_peer(0), [SERVICE_A])  # another object, same key
    found = network.get_peers_for_service(SERVICE_A)
    assert found == [stored]
    assert found[0] is stored


def test_get_services_for_peer_returns_a_copy(network: Network) -> None:
    peer = make_peer(0)
    network.add_verified_peer(peer)
    network.discover_services(peer, [SERVICE_A])
    network.get_services_for_peer(peer).add(SERVICE_B)
    assert network.get_services_for_peer(peer) == {SERVICE_A}
    assert network.get_peers_for_service(SERVICE_B) == []
    assert network.get_services_for_peer(make_peer(5)) == set()


def test_discover_services_rejects_non_peer(network: Network) -> None:
    with pytest.raises(TypeError):
        network.discover_services(KEYS[0].pub(), [SERVICE_A])  # type: ignore[arg-type]
    assert network.services_per_peer == {}


def test_register_service_provider(network: Network) -> None:
    overlay = object()
    network.register_service_provider(SERVICE_A, overlay)
    assert network.service_overlays == {SERVICE_A: overlay}


# --- add_verified_peer ----------------------------------------------------------------------------------


def test_add_verified_peer(network: Network, observer: RecordingObserver) -> None:
    peer = make_peer(0)
    network.add_verified_peer(peer)

    assert network.verified_peers == {peer}
    assert network.get_verified_by_public_key_bin(peer.public_key.key_to_bin()) is peer
    assert network.get_verified_by_address(peer.address) is peer
    assert network.get_walkable_addresses() == []  # its own address is known but not walkable
    assert observer.added == [peer]


def test_add_verified_peer_twice_notifies_once(network: Network, observer: RecordingObserver) -> None:
    peer = make_peer(0)
    network.add_verified_peer(peer)
    network.add_verified_peer(peer)
    assert observer.added == [peer]
    assert network.get_verified_peers() == [peer]


def test_known_peer_learns_new_addresses(network: Network, observer: RecordingObserver) -> None:
    stored = make_peer(0)
    network.add_verified_peer(stored)
    newer = make_peer(0, UDPv6Address("::1", 7777))
    network.add_verified_peer(newer)

    assert observer.added == [stored]
    assert network.get_verified_peers() == [stored]
    assert stored.addresses[UDPv6Address] == ("::1", 7777)
    assert network.get_verified_by_address(UDPv6Address("::1", 7777)) is stored
    assert network.get_verified_by_address(stored.addresses[UDPv4Address]) is stored


def test_known_frozen_peer_keeps_its_addresses(network: Network) -> None:
    stored = make_peer(0)
    stored.address_frozen = True
    network.add_verified_peer(stored)
    network.add_verified_peer(make_peer(0, UDPv6Address("::1", 7778)))
    assert UDPv6Address not in stored.addresses
    assert network.get_verified_by_address(UDPv6Address("::1", 7778)) is None


def test_verified_peer_promotes_walkable_address(network: Network) -> None:
    address = fresh_address()
    network.discover_address(make_peer(0), address, SERVICE_A)
    promoted = make_peer(1, address)
    network.add_verified_peer(promoted)

    assert network.get_walkable_addresses() == []
    assert network.get_walkable_addresses(SERVICE_A) == []
    assert network.get_verified_by_address(address) is promoted
    # The introduction record survives promotion (EdgeWalk follows it).
    assert network.get_introductions_from(make_peer(0)) == [address]


def test_blacklisted_mid_is_refused(network: Network, observer: RecordingObserver) -> None:
    me = make_peer(0)
    network.blacklist_mids.append(me.mid)
    network.add_verified_peer(me)
    network.discover_address(me, fresh_address())

    assert network.get_verified_peers() == []
    assert observer.added == []


def test_peer_at_blacklisted_address_is_refused(network: Network, observer: RecordingObserver) -> None:
    tracker = fresh_address()
    network.blacklist.append(tracker)
    network.add_verified_peer(make_peer(0, tracker))
    network.add_verified_peer(make_peer(1, tracker, UDPv6Address("::1", 4)))

    assert network.get_verified_peers() == []
    assert network.get_walkable_addresses() == []
    assert observer.added == []


def test_add_verified_peer_rejects_non_peer(network: Network) -> None:
    with pytest.raises(TypeError):
        network.add_verified_peer(KEYS[0])  # type: ignore[arg-type]


def test_peer_without_address_can_be_verified(network: Network) -> None:
    bare = Peer(KEYS[0].pub())
    network.add_verified_peer(bare)
    assert network.get_verified_peers() == [bare]
    assert network.get_walkable_addresses() == []
    assert network.snapshot() == b""


# --- addresses that change behind the network's back ----------------------------------------------------


def test_address_changes_of_verified_peers_are_indexed(network: Network) -> None:
    old = fresh_address()
    peer = make_peer(0, old)
    network.discover_address(make_peer(1), old)  # make the old address a known one
    network.add_verified_peer(peer)
    assert network.get_walkable_addresses() == []

    new = fresh_address()
    peer.add_address(new)  # e.g. a packet arrived from a rebound NAT port
    assert network.get_verified_by_address(new) is peer
    assert network.get_verified_by_address(old) is None
    assert network.get_walkable_addresses() == [old]  # known, and nobody uses it any more

    peer.addresses.update({UDPv4LANAddress: UDPv4LANAddress("127.0.0.5", 5)})
    assert network.get_verified_by_address(("127.0.0.5", 5)) is peer

    del peer.addresses[UDPv4LANAddress]
    assert network.get_verified_by_address(("127.0.0.5", 5)) is None


def test_removed_peer_is_no_longer_watched(network: Network) -> None:
    peer = make_peer(0)
    network.add_verified_peer(peer)
    network.remove_peer(peer)
    later = fresh_address()
    peer.add_address(later)
    assert network.get_verified_by_address(later) is None
    assert network.reverse_ip_lookup == {}


def test_shared_address(network: Network) -> None:
    address = fresh_address()
    older, newer = make_peer(0, address), make_peer(1, address)
    network.add_verified_peer(older)
    network.add_verified_peer(newer)
    assert network.get_verified_by_address(address) is newer

    newer.add_address(fresh_address())  # moves away: the older user is found again
    assert network.get_verified_by_address(address) is older
    assert network.get_walkable_addresses() == []


def test_two_networks_can_track_one_peer() -> None:
    first, second = Network(), Network()
    peer = make_peer(0)
    first.add_verified_peer(peer)
    second.add_verified_peer(peer)
    new = fresh_address()
    peer.add_address(new)
    assert first.get_verified_by_address(new) is peer
    assert second.get_verified_by_address(new) is peer
    first.remove_peer(peer)
    peer.add_address(fresh_address())
    assert second.get_verified_by_address(peer.address) is peer
    assert_consistent(first)
    assert_consistent(second)


# --- walkable addresses -----------------------------------------------------------------------------------


def test_walkable_by_service(network: Network) -> None:
    runs_a, runs_nothing = make_peer(0), make_peer(1)
    via_introducer, via_nobody, via_service = fresh_address(), fresh_address(), fresh_address()
    network.discover_address(runs_a, via_introducer)  # no service given: the introducer's services count
    network.discover_address(runs_nothing, via_nobody)
    network.discover_address(runs_nothing, via_service, SERVICE_B)  # explicit service counts
    network.discover_services(runs_a, [SERVICE_A])

    assert network.get_walkable_addresses(SERVICE_A) == [via_introducer]
    assert network.get_walkable_addresses(SERVICE_B) == [via_service]
    assert network.get_walkable_addresses() == [via_introducer, via_nobody, via_service]
    # Asking does not change what the introducers are believed to run.
    assert network.get_services_for_peer(runs_nothing) == set()


def test_removed_introducer_no_longer_vouches_for_its_services(network: Network) -> None:
    introducer = make_peer(0)
    address = fresh_address()
    network.discover_address(introducer, address)
    network.discover_services(introducer, [SERVICE_A])
    assert network.get_walkable_addresses(SERVICE_A) == [address]

    network.remove_peer(introducer)
    assert network.get_walkable_addresses(SERVICE_A) == []
    assert network.get_walkable_addresses() == [address]


def test_walkable_old_style(network: Network) -> None:
    old, new = fresh_address(), UDPv6Address("::1", next(_ports))
    introducer = make_peer(0)
    network.discover_address(introducer, old, SERVICE_A)
    network.discover_address(introducer, new, SERVICE_A, new_style=True)

    assert network.get_walkable_addresses(SERVICE_A) == [old, new]
    assert network.get_walkable_addresses(SERVICE_A, old_style=True) == [old]
    assert network.get_walkable_addresses(old_style=True) == [old]


def test_walkable_result_is_a_copy(network: Network) -> None:
    network.discover_address(make_peer(0), fresh_address())
    network.get_walkable_addresses().clear()
    assert len(network.get_walkable_addresses()) == 1


# --- lookups ----------------------------------------------------------------------------------------------


def test_lookups_of_unknowns(network: Network) -> None:
    assert network.get_verified_by_address(fresh_address()) is None
    assert network.get_verified_by_public_key_bin(KEYS[0].pub().key_to_bin()) is None
    assert network.get_verified_by_public_key_bin(b"garbage") is None
    assert network.get_introductions_from(make_peer(0)) == []
    assert network.get_verified_peers() == []


def test_lookup_by_plain_tuple(network: Network) -> None:
    peer = make_peer(0, UDPv4Address("127.0.0.7", 7))
    network.add_verified_peer(peer)
    assert network.get_verified_by_address(("127.0.0.7", 7)) is peer


def test_get_introductions_from_lists_all_introduced(network: Network) -> None:
    introducer = make_peer(0)
    addresses = [fresh_address() for _ in range(3)]
    for address in addresses:
        network.discover_address(introducer, address)
    network.add_verified_peer(make_peer(1, addresses[1]))  # verified later: still an introduction
    assert network.get_introductions_from(make_peer(0)) == addresses


# --- removal -----------------------------------------------------------------------------------------------


def test_remove_by_address(network: Network, observer: RecordingObserver) -> None:
    lan = UDPv4LANAddress("127.0.0.8", 8)
    peer = make_peer(0, fresh_address(), lan)
    network.add_verified_peer(peer)
    network.discover_services(peer, [SERVICE_A])
    network.remove_by_address(peer.address)

    assert network.get_verified_peers() == []
    assert network.get_verified_by_public_key_bin(peer.public_key.key_to_bin()) is None
    assert network.get_services_for_peer(peer) == set()
    assert network.get_peers_for_service(SERVICE_A) == []
    assert network.get_walkable_addresses() == [lan]  # its other address is a walk target again
    assert observer.removed == [peer]

    network.add_verified_peer(peer)  # it may come back, and is announced again
    assert observer.added == [peer, peer]


def test_remove_by_address_drops_every_user(network: Network, observer: RecordingObserver) -> None:
    address = fresh_address()
    first, second, bystander = make_peer(0, address), make_peer(1, address), make_peer(2)
    for peer in (first, second, bystander):
        network.add_verified_peer(peer)
    network.remove_by_address(address)

    assert network.get_verified_peers() == [bystander]
    assert sorted(observer.removed, key=lambda p: p.mid) == sorted([first, second], key=lambda p: p.mid)


def test_remove_by_address_of_walkable_address(network: Network, observer: RecordingObserver) -> None:
    address = fresh_address()
    introducer = make_peer(0)
    network.discover_address(introducer, address)
    network.remove_by_address(address)
    assert network.get_walkable_addresses() == []
    assert network.get_introductions_from(introducer) == []
    assert network.get_verified_peers() == [introducer]
    assert observer.removed == []


def test_remove_by_unknown_address(network: Network, observer: RecordingObserver) -> None:
    network.add_verified_peer(make_peer(0))
    network.discover_address(make_peer(0), fresh_address())
    before = (network.get_verified_peers(), network.get_walkable_addresses())
    network.remove_by_address(fresh_address())
    assert (network.get_verified_peers(), network.get_walkable_addresses()) == before
    assert observer.removed == []


def test_remove_peer(network: Network, observer: RecordingObserver) -> None:
    peer = make_peer(0)
    network.add_verified_peer(peer)
    network.discover_services(peer, [SERVICE_A])
    network.remove_peer(peer)

    assert network.get_verified_peers() == []
    assert network.get_walkable_addresses() == []  # its addresses are forgotten, not walkable
    assert network.get_services_for_peer(peer) == set()
    assert network.get_peers_for_service(SERVICE_A) == []
    assert observer.removed == [peer]


def test_remove_peer_by_other_instance(network: Network, observer: RecordingObserver) -> None:
    stored = make_peer(0)
    network.add_verified_peer(stored)
    network.remove_peer(make_peer(0))  # same key, other object and address
    assert network.get_verified_peers() == []
    assert network.get_walkable_addresses() == []
    assert observer.removed == [stored]
    assert observer.removed[0] is stored


def test_remove_unverified_peer_forgets_its_address(network: Network, observer: RecordingObserver) -> None:
    target = make_peer(1)
    network.discover_address(make_peer(0), target.address)
    network.discover_services(target, [SERVICE_A])
    network.remove_peer(target)
    assert network.get_walkable_addresses() == []
    assert network.services_per_peer.get(target.public_key.key_to_bin()) is None
    assert observer.removed == []


def test_remove_unknown_peer_is_a_no_op(network: Network, observer: RecordingObserver) -> None:
    known = make_peer(0)
    network.add_verified_peer(known)
    network.discover_address(known, fresh_address())
    before = (network.get_verified_peers(), network.get_walkable_addresses())
    network.remove_peer(make_peer(1))
    network.remove_peer(make_peer(1))
    assert (network.get_verified_peers(), network.get_walkable_addresses()) == before
    assert observer.removed == []
    with pytest.raises(TypeError):
        network.remove_peer(None)  # type: ignore[arg-type]


# --- observers -----------------------------------------------------------------------------------------


def test_observer_interface() -> None:
    assert verifyObject(IPeerObserver, RecordingObserver())
    with pytest.raises(TypeError):
        PeerObserver()  # type: ignore[abstract]


def test_observers_hear_each_change_once(network: Network) -> None:
    first, second = RecordingObserver(), RecordingObserver()
    network.add_peer_observer(first)
    network.add_peer_observer(first)  # registering twice changes nothing
    network.add_peer_observer(second)
    peer = make_peer(0)
    network.discover_address(peer, fresh_address())
    network.add_verified_peer(peer)
    network.remove_peer(peer)
    network.remove_peer(peer)

    for watcher in (first, second):
        assert watcher.added == [peer]
        assert watcher.removed == [peer]


def test_remove_peer_observer(network: Network) -> None:
    watcher = RecordingObserver()
    network.add_peer_observer(watcher)
    network.remove_peer_observer(watcher)
    network.remove_peer_observer(watcher)  # unknown: ignored
    network.add_verified_peer(make_peer(0))
    assert watcher.added == []


def test_duck_typed_observer_is_accepted_and_incomplete_one_refused(network: Network) -> None:
    class Duck:
        def __init__(self) -> None:
            self.seen: list = []

        def on_peer_added(self, peer: Peer) -> None:
            self.seen.append(("added", peer))

        def on_peer_removed(self, peer: Peer) -> None:
            self.seen.append(("removed", peer))

    class HalfDuck:
        def on_peer_added(self, peer: Peer) -> None:
            pass

    duck = Duck()
    network.add_peer_observer(duck)
    with pytest.raises(TypeError):
        network.add_peer_observer(HalfDuck())  # type: ignore[arg-type]
    peer = make_peer(0)
    network.add_verified_peer(peer)
    assert duck.seen == [("added", peer)]
    assert len(network.peer_observers) == 1


def test_failing_observer_does_not_break_the_graph(network: Network, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(RecordingObserver):
        def on_peer_added(self, peer: Peer) -> None:
            super().on_peer_added(peer)
            raise RuntimeError("observer bug")

    broken, healthy = Broken(), RecordingObserver()
    network.add_peer_observer(broken)
    network.add_peer_observer(healthy)
    peer = make_peer(0)
    with caplog.at_level(logging.ERROR, logger="ipv8.peerdiscovery.network"):
        network.add_verified_peer(peer)
    assert network.get_verified_peers() == [peer]
    assert broken.added == healthy.added == [peer]
    assert "observer bug" in caplog.text


def test_observer_may_use_the_network(network: Network) -> None:
    class Greeter(RecordingObserver):
        def on_peer_added(self, peer: Peer) -> None:
            super().on_peer_added(peer)
            # Re-entrant calls from inside a notification.
            network.discover_services(peer, [SERVICE_A])
            assert network.get_verified_by_address(peer.address) is peer

    greeter = Greeter()
    network.add_peer_observer(greeter)
    peer = make_peer(0)
    network.add_verified_peer(peer)
    assert network.get_peers_for_service(SERVICE_A) == [peer]


# --- snapshots ----------------------------------------------------------------------------------------------


def test_snapshot_record_layout(network: Network) -> None:
    network.add_verified_peer(make_peer(0, UDPv4Address("127.0.0.1", 8090)))
    assert network.snapshot() == b"\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", 8090)
    network.add_verified_peer(make_peer(1, UDPv6Address("::1", 8091)))
    records = network.snapshot()
    assert len(records) == 7 + 19
    assert b"\x03" + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">H", 8091) in records


def test_snapshot_round_trip(network: Network) -> None:
    addresses = [UDPv4Address("127.0.0.1", 1), UDPv6Address("::1", 2), DomainAddress("localhost", 3)]
    for index, address in enumerate(addresses):
        network.add_verified_peer(make_peer(index, address))
    walk_target = fresh_address()
    network.discover_address(make_peer(3, UDPv4Address("127.0.0.4", 4)), walk_target)
    snapshot = network.snapshot()
    assert len(snapshot) == 7 + 19 + (1 + 2 + len(b"localhost") + 2) + 7

    restored = Network()
    assert restored.load_snapshot(snapshot) == 4
    loaded = restored.get_walkable_addresses()
    expected = [*addresses, UDPv4Address("127.0.0.4", 4)]
    assert sorted(loaded, key=repr) == sorted(expected, key=repr)  # repr: the types must match too
    assert walk_target not in loaded  # only verified peers are saved
    assert restored.get_verified_peers() == []
    assert_consistent(restored)


def test_snapshot_without_peers(network: Network) -> None:
    assert network.snapshot() == b""
    assert network.load_snapshot(b"") == 0
    assert network.get_walkable_addresses() == []


def test_load_snapshot_skips_blacklisted_and_known(network: Network) -> None:
    source = Network()
    tracker, known, new = UDPv4Address("127.0.0.1", 1), UDPv4Address("127.0.0.1", 2), UDPv4Address("127.0.0.1", 3)
    for index, address in enumerate((tracker, known, new)):
        source.add_verified_peer(make_peer(index, address))
    introducer = make_peer(5)
    network.blacklist.append(tracker)
    network.discover_address(introducer, known, SERVICE_A)

    assert network.load_snapshot(source.snapshot()) == 1
    assert sorted(network.get_walkable_addresses()) == [known, new]
    assert network.get_introductions_from(introducer) == [known]  # the existing record is kept


GOOD_RECORD = b"\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", 5)


@pytest.mark.parametrize("tail", [b"\x01\x7f\x00", b"\x03" + b"\x00" * 10, b"\x02\x00\x05ab", b"\x02\x00"])
def test_load_truncated_snapshot_keeps_the_complete_records(network: Network, tail: bytes) -> None:
    assert network.load_snapshot(GOOD_RECORD + tail) == 1
    assert network.get_walkable_addresses() == [UDPv4Address("127.0.0.1", 5)]


@pytest.mark.parametrize("damage", [b"\x07", b"\x00", b"\x02\x00\x02\xff\xfe\x00\x01"])
def test_load_snapshot_stops_at_a_damaged_record(network: Network, damage: bytes) -> None:
    later = GOOD_RECORD.replace(b"\x05", b"\x06")
    assert network.load_snapshot(GOOD_RECORD + damage + later) == 1
    assert network.get_walkable_addresses() == [UDPv4Address("127.0.0.1", 5)]


def test_load_snapshot_type_check(network: Network) -> None:
    with pytest.raises(TypeError):
        network.load_snapshot("not bytes")  # type: ignore[arg-type]
    assert network.load_snapshot(bytearray(b"\x01\x7f\x00\x00\x01\x00\x09")) == 1


# --- WalkableAddress ----------------------------------------------------------------------------------------


def test_walkable_address_record() -> None:
    record = WalkableAddress(b"key", SERVICE_A, True)
    assert record.introduced_by == b"key"
    assert record.services == SERVICE_A
    assert record.new_style is True


# --- random operation sequences -----------------------------------------------------------------------------

ADDRESS_POOL = [UDPv4Address("127.0.0.1", port) for port in range(1, 7)] + [UDPv6Address("::1", 1)]
OPERATIONS = st.lists(st.tuples(st.sampled_from(["discover", "verify", "services", "move", "remove_peer",
                                                 "remove_address", "blacklist"]),
                                st.integers(0, 5), st.integers(0, len(ADDRESS_POOL) - 1), st.booleans()),
                      max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPERATIONS)
def test_random_operations_keep_indexes_consistent(operations: list) -> None:
    network = Network()
    watcher = RecordingObserver()
    network.add_peer_observer(watcher)
    objects = [make_peer(index, ADDRESS_POOL[index]) for index in range(6)]
    for name, index, address_index, flag in operations:
        peer = objects[index] if flag else make_peer(index, ADDRESS_POOL[(index + address_index) % 7])
        address = ADDRESS_POOL[address_index]
        if name == "discover":
            network.discover_address(peer, address, SERVICE_A if flag else None, new_style=flag)
        elif name == "verify":
            network.add_verified_peer(peer)
        elif name == "services":
            network.discover_services(peer, [SERVICE_A] if flag else [SERVICE_B])
        elif name == "move":
            objects[index].add_address(UDPv4Address(address.ip, address.port) if ":" not in address.ip else address)
        elif name == "remove_peer":
            network.remove_peer(peer)
        elif name == "remove_address":
            network.remove_by_address(address)
        else:
            network.blacklist.append(address)
        assert_consistent(network)
        for candidate in network.get_walkable_addresses(SERVICE_A, old_style=flag):
            assert network.get_verified_by_address(candidate) is None
            assert not (flag and network.is_new_style(candidate))
    # Every peer was announced exactly once per stay in the verified set.
    for key_peer in objects:
        added = watcher.added.count(key_peer)
        removed = watcher.removed.count(key_peer)
        assert added - removed == (1 if key_peer in network.verified_peers else 0)


# --- scale ---------------------------------------------------------------------------------------------------


def test_five_thousand_peers() -> None:
    network = Network()
    network.max_known_addresses_per_service = 10_000  # the scale of the indexes, not the caps, is tested here
    watcher = RecordingObserver()
    network.add_peer_observer(watcher)
    keys = [default_eccrypto.generate_key("curve25519").pub() for _ in range(5000)]
    peers = [Peer(key, UDPv4Address(f"127.{i // 65000}.{(i // 250) % 250}.{i % 250 + 1}", 10000 + i % 7))
             for i, key in enumerate(keys)]
    walk_targets = [UDPv4Address("127.200.0.1", 20000 + i) for i in range(5000)]

    for index, peer in enumerate(peers):
        network.discover_address(peer, walk_targets[index], SERVICE_A if index % 2 else None)
        network.discover_services(peer, [SERVICE_B])

    assert len(network.get_verified_peers()) == 5000
    assert len(watcher.added) == 5000
    assert len(network.get_walkable_addresses()) == 5000
    assert len(network.get_walkable_addresses(SERVICE_A)) == 2500
    assert len(network.get_walkable_addresses(SERVICE_B)) == 5000  # every introducer runs B
    assert len(network.get_peers_for_service(SERVICE_B)) == 5000
    for index in range(0, 5000, 97):
        assert network.get_verified_by_address(peers[index].address) is peers[index]
        assert network.get_verified_by_public_key_bin(keys[index].key_to_bin()) is peers[index]
        assert network.get_introductions_from(peers[index]) == [walk_targets[index]]

    # Half of the walk targets answer and become verified; half of the introducers churn out.
    for index in range(0, 5000, 2):
        network.add_verified_peer(Peer(default_eccrypto.generate_key("curve25519").pub(), walk_targets[index]))
    for index in range(1, 5000, 2):
        network.remove_peer(peers[index])

    assert len(network.get_verified_peers()) == 5000
    assert len(watcher.removed) == 2500
    assert set(network.get_walkable_addresses()) == set(walk_targets[1::2])
    assert len(network.get_walkable_addresses(SERVICE_A)) == 2500  # introduced for A: survives the introducer
    assert network.get_walkable_addresses(SERVICE_B) == []
    assert_consistent(network)
