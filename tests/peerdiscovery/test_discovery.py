"""The strategy base class, RandomWalk and EdgeWalk: Clock-driven unit tests and in-memory network runs."""
from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from twisted.internet.task import Clock
from zope.interface.verify import verifyClass, verifyObject

from ipv8.community import Community
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.churn import PingChurn, RandomChurn
from ipv8.peerdiscovery.community import PeriodicSimilarity
from ipv8.peerdiscovery.discovery import DiscoveryStrategy, EdgeWalk, IDiscoveryStrategy, RandomWalk
from ipv8.peerdiscovery.network import Network
from ipv8.taskmanager import TaskManager
from ipv8.test.base import TestBase

SERVICE = b"\x42" * 20


def new_peer(address: tuple) -> Peer:
    return Peer(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address(*address))


class FakeOverlay(TaskManager):
    """The parts of a Community that the walkers use, recording what they are asked to do."""

    def __init__(self) -> None:
        super().__init__()
        self.network = Network()
        self.community_id = SERVICE
        self.walked: list[Any] = []
        self.introductions: list[Any] = []
        self.bootstraps = 0
        self.introducer = new_peer(("198.18.0.1", 1))
        self.network.add_verified_peer(self.introducer)
        self.network.discover_services(self.introducer, [SERVICE])

    def introduce(self, count: int, first_port: int = 2000) -> list[UDPv4Address]:
        addresses = [UDPv4Address("198.18.1.1", first_port + i) for i in range(count)]
        for address in addresses:
            self.network.discover_address(self.introducer, address, SERVICE)
        return addresses

    def get_walkable_addresses(self) -> list[Any]:
        return self.network.get_walkable_addresses(SERVICE)

    def get_peers(self) -> list[Peer]:
        return self.network.get_peers_for_service(SERVICE)

    def walk_to(self, address: Any) -> None:  # noqa: ANN401
        self.walked.append(address)

    def get_new_introduction(self, from_peer: Peer | None = None) -> None:
        self.introductions.append(from_peer)

    def bootstrap(self) -> None:
        self.bootstraps += 1


# ---------------------------------------------------------------------------------------------------------------
# The base class and the interface
# ---------------------------------------------------------------------------------------------------------------

class CountingStrategy(DiscoveryStrategy):
    """The smallest useful strategy: count the steps."""

    def __init__(self, overlay: Any) -> None:  # noqa: ANN401
        super().__init__(overlay)
        self.steps = 0

    def take_step(self) -> None:
        with self.walk_lock:
            self.steps += 1


@pytest.mark.parametrize("cls", [DiscoveryStrategy, RandomWalk, EdgeWalk, RandomChurn, PingChurn, PeriodicSimilarity])
def test_strategies_provide_the_interface(cls: type) -> None:
    verifyClass(IDiscoveryStrategy, cls)


@pytest.mark.parametrize("cls", [RandomWalk, EdgeWalk, RandomChurn, PingChurn, CountingStrategy])
def test_strategy_instances_verify(cls: type) -> None:
    strategy = cls(FakeOverlay())
    verifyObject(IDiscoveryStrategy, strategy)
    assert strategy.get_peer_count() == 1


def test_base_class_is_abstract() -> None:
    with pytest.raises(TypeError):
        DiscoveryStrategy(None)  # type: ignore[abstract]


def test_overlay_less_strategy_counts_no_peers() -> None:
    strategy = CountingStrategy(None)
    assert strategy.get_peer_count() == 0
    strategy.take_step()
    assert strategy.steps == 1


def test_walk_lock_is_reentrant_and_excludes_other_threads() -> None:
    strategy = CountingStrategy(None)
    entered = threading.Event()
    with strategy.walk_lock:
        with strategy.walk_lock:  # re-entrant: a helper may take it again
            pass

        def other() -> None:
            with strategy.walk_lock:
                entered.set()
        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.05), "another thread got in while we held the lock"
    thread.join(1)
    assert entered.is_set()


def test_default_clock_is_the_overlay_reactor() -> None:
    overlay = FakeOverlay()
    overlay.clock = Clock()  # the TaskManager property a Community has
    overlay.clock.advance(123.5)
    assert RandomWalk(overlay).now() == 123.5
    other = Clock()
    assert RandomWalk(overlay, clock=other).now() == 0.0


# ---------------------------------------------------------------------------------------------------------------
# RandomWalk on a Clock
# ---------------------------------------------------------------------------------------------------------------

def test_random_walk_defaults() -> None:
    walk = RandomWalk(FakeOverlay())
    assert (walk.node_timeout, walk.window_size, walk.reset_chance, walk.target_interval) == (3.0, 5, 50, 0)


def test_random_walk_respects_the_window() -> None:
    clock, overlay = Clock(), FakeOverlay()
    addresses = overlay.introduce(8)
    walk = RandomWalk(overlay, window_size=3, reset_chance=0, clock=clock)
    for _ in range(6):
        walk.take_step()
        clock.advance(0.5)
    assert len(overlay.walked) == 3, "the window holds three walks"
    assert len(set(overlay.walked)) == 3, "never two walks to the same address at once"
    assert set(overlay.walked) <= set(addresses)
    assert overlay.introductions == []


def test_random_walk_without_window_walks_every_step() -> None:
    clock, overlay = Clock(), FakeOverlay()
    overlay.introduce(8)
    walk = RandomWalk(overlay, window_size=0, reset_chance=0, clock=clock)
    for _ in range(8):
        walk.take_step()
    assert len(set(overlay.walked)) == 8
    walk.take_step()  # every address is in flight: fall back to asking for an introduction
    assert overlay.introductions == [None]


def test_random_walk_timeout_forgets_silent_addresses() -> None:
    clock, overlay = Clock(), FakeOverlay()
    addresses = overlay.introduce(3)
    walk = RandomWalk(overlay, timeout=3.0, window_size=2, reset_chance=0, clock=clock)
    walk.take_step()
    walk.take_step()
    first, second = overlay.walked
    # The first address answers (becomes a verified peer), the second stays silent.
    overlay.network.add_verified_peer(new_peer(first))
    clock.advance(3.0)
    walk.take_step()
    assert len(overlay.walked) == 2, "at exactly the timeout both walks are still in flight"
    clock.advance(0.01)
    walk.take_step()
    assert walk.intro_timeouts == {overlay.walked[2]: clock.seconds()}
    assert overlay.network.get_verified_by_address(first) is not None, "an answering address is kept"
    assert second not in overlay.get_walkable_addresses(), "a silent address is dropped"
    (remaining,) = set(addresses) - {first, second}
    assert overlay.walked[2] == remaining


def test_random_walk_target_interval_paces_the_steps() -> None:
    clock, overlay = Clock(), FakeOverlay()
    overlay.introduce(50)
    walk = RandomWalk(overlay, window_size=0, reset_chance=0, target_interval=2, clock=clock)
    clock.advance(10.0)
    sent_at = []
    for _ in range(20):  # 10 seconds of 0.5 s ticks
        before = len(overlay.walked)
        walk.take_step()
        if len(overlay.walked) > before:
            sent_at.append(clock.seconds())
        clock.advance(0.5)
    assert sent_at == [10.0, 12.0, 14.0, 16.0, 18.0]


@pytest.mark.parametrize(("reset_chance", "low", "high"), [(0, 0, 0), (50, 0.12, 0.27), (128, 0.4, 0.6),
                                                            (256, 1.0, 1.0)])
def test_random_walk_reset_chance(reset_chance: int, low: float, high: float) -> None:
    random.seed(reset_chance)
    clock, overlay = Clock(), FakeOverlay()
    addresses = overlay.introduce(10)
    walk = RandomWalk(overlay, window_size=0, timeout=0.0, reset_chance=reset_chance, clock=clock)
    for _ in range(400):
        walk.take_step()
        clock.advance(0.5)
        for address in addresses:  # timed-out addresses are dropped: introduce them again
            overlay.network.discover_address(overlay.introducer, address, SERVICE)
    assert len(overlay.walked) + len(overlay.introductions) == 400
    resets = len(overlay.introductions) / 400
    assert low <= resets <= high


def test_random_walk_asks_for_introductions_when_nothing_is_walkable() -> None:
    overlay = FakeOverlay()
    walk = RandomWalk(overlay, reset_chance=0, clock=Clock())
    walk.take_step()
    walk.take_step()
    assert overlay.walked == [] and overlay.introductions == [None, None]


def test_random_walk_only_uses_its_own_community_addresses() -> None:
    clock, overlay = Clock(), FakeOverlay()
    foreign = UDPv4Address("198.18.9.9", 9)
    stranger = new_peer(("198.18.0.2", 2))
    overlay.network.add_verified_peer(stranger)
    overlay.network.discover_services(stranger, [b"\x01" * 20])
    overlay.network.discover_address(stranger, foreign, b"\x01" * 20)
    walk = RandomWalk(overlay, reset_chance=0, clock=clock)
    walk.take_step()
    assert overlay.walked == [] and overlay.introductions == [None]


# ---------------------------------------------------------------------------------------------------------------
# EdgeWalk on a Clock
# ---------------------------------------------------------------------------------------------------------------

def test_edge_walk_defaults() -> None:
    walk = EdgeWalk(FakeOverlay())
    assert (walk.edge_length, walk.neighborhood_size, walk.edge_timeout) == (4, 6, 3.0)


def test_edge_walk_gathers_a_neighborhood_first() -> None:
    overlay = FakeOverlay()
    addresses = overlay.introduce(3)
    walk = EdgeWalk(overlay, neighborhood_size=2, clock=Clock())
    walk.take_step()
    assert overlay.bootstraps == 1
    assert len(overlay.walked) == 2 and set(overlay.walked) <= set(addresses)
    assert overlay.introductions == [], "no edges before the neighbourhood is complete"
    peer = new_peer(overlay.walked[0])
    overlay.network.add_verified_peer(peer)
    overlay.network.discover_services(peer, [SERVICE])
    walk.take_step()  # now two peers: the neighbourhood is complete
    walk.take_step()
    assert len(overlay.introductions) == 1
    assert overlay.introductions[0] in (overlay.introducer, peer)


def test_edge_walk_closes_edges_that_stop_growing() -> None:
    clock, overlay = Clock(), FakeOverlay()
    walk = EdgeWalk(overlay, neighborhood_size=1, edge_timeout=3.0, clock=clock)
    walk.take_step()  # neighbourhood: the introducer
    walk.take_step()  # start an edge there
    assert list(walk.under_construction) == [overlay.introducer]
    clock.advance(3.0)
    walk.take_step()
    assert list(walk.under_construction) == [overlay.introducer]
    assert overlay.walked == [overlay.introducer.address], "the silent tip is asked again"
    clock.advance(0.1)
    walk.take_step()
    assert walk.under_construction == {}
    assert len(overlay.walked) == 1
    assert walk.complete_edges == [], "an edge of only the root is not worth keeping"
    walk.take_step()
    assert overlay.introductions == [overlay.introducer, overlay.introducer], "the root starts over"


def test_edge_walk_follows_introductions_to_full_length() -> None:
    clock, overlay = Clock(), FakeOverlay()
    network = overlay.network
    walk = EdgeWalk(overlay, edge_length=3, neighborhood_size=1, clock=clock)
    root = overlay.introducer
    walk.take_step()
    walk.take_step()
    hop1 = new_peer(("198.18.3.1", 1))
    network.discover_address(root, hop1.address, SERVICE)
    walk.take_step()
    assert overlay.walked == [hop1.address, root.address], "contact the introduced address, re-ask the tip"
    network.add_verified_peer(hop1)
    walk.take_step()
    assert walk.under_construction[root] == [root, hop1]
    assert overlay.walked[-1] == hop1.address, "the new tip is asked for its own introduction"
    hop2 = new_peer(("198.18.3.2", 2))
    network.discover_address(hop1, root.address, SERVICE)  # going back is no progress
    walk.take_step()
    assert walk.under_construction[root] == [root, hop1]
    assert overlay.walked[-2:] == [hop1.address, hop1.address], "so the tip is asked again"
    network.discover_address(hop1, hop2.address, SERVICE)
    network.add_verified_peer(hop2)
    walk.take_step()
    assert walk.complete_edges == [[root, hop1, hop2]]
    assert walk.under_construction == {}


# ---------------------------------------------------------------------------------------------------------------
# Real introductions on the in-memory internet
# ---------------------------------------------------------------------------------------------------------------

class WalkCommunity(Community):
    community_id = b"\x5a" * 20


class TestWalkersOnNetwork(TestBase[WalkCommunity]):

    def setUp(self) -> Any:  # noqa: ANN401
        result = super().setUp()
        random.seed(1234)
        return result

    def forget_everyone(self) -> None:
        for i in range(len(self.nodes)):
            for j in range(len(self.nodes)):
                if i != j:
                    self.network(i).remove_peer(self.peer(j))

    async def test_random_walk_finds_the_whole_network(self) -> None:
        self.initialize(WalkCommunity, 6)
        # Nodes 0 and 2-5 know each other; newcomer node 1 only knows node 0 and walks from there.
        for i in range(6):
            if i != 1:
                self.network(i).remove_peer(self.peer(1))
                self.network(1).remove_peer(self.peer(i))
        self.overlay(1).walk_to(self.address(0))
        await self.deliver_messages()
        # Node 0 answered and introduced someone, whose signed puncture also made it a peer at once.
        self.assertEqual(2, len(self.overlay(1).get_peers()))

        ticks = Clock()  # the walker's time: one 0.5 s tick per step, however fast the test runs
        self.node(1).add_strategy(self.overlay(1), RandomWalk(self.overlay(1), clock=ticks), -1)
        counts = []
        for _ in range(40):
            self.node(1).walk()
            await self.deliver_messages()
            ticks.advance(0.5)
            counts.append(len(self.overlay(1).get_peers()))
            if counts[-1] == 5:
                break
        self.assertEqual(5, counts[-1], f"peer counts per step: {counts}")
        self.assertEqual(sorted(counts), counts, "the peer set only grows")

    async def test_target_peers_stops_the_walk(self) -> None:
        self.initialize(WalkCommunity, 5)
        self.forget_everyone()
        for i in range(2, 5):
            self.overlay(i).walk_to(self.address(0))
        await self.deliver_messages()
        self.overlay(1).walk_to(self.address(0))
        await self.deliver_messages()
        ticks = Clock()
        walk = RandomWalk(self.overlay(1), clock=ticks)
        self.node(1).add_strategy(self.overlay(1), walk, 2)
        for _ in range(15):
            self.node(1).walk()
            await self.deliver_messages()
            ticks.advance(0.5)
        self.assertEqual(2, len(self.overlay(1).get_peers()))

    async def test_edge_walk_builds_an_edge_along_a_line(self) -> None:
        # Line topology 0 - 1 - 2 - 3 - 4: each node knows only its neighbours, so the edge from root 1 can
        # only grow outwards (a node never introduces the requester back to itself).
        self.initialize(WalkCommunity, 5)
        self.forget_everyone()
        for i in range(4):
            self.overlay(i).walk_to(self.address(i + 1))
        await self.deliver_messages()
        self.assertEqual([self.mid(1)], [peer.mid for peer in self.overlay(0).get_peers()])

        walk = EdgeWalk(self.overlay(0), edge_length=4, neighborhood_size=1, edge_timeout=5.0)
        for _ in range(40):
            walk.take_step()
            await self.deliver_messages()
            if walk.complete_edges:
                break
        self.assertEqual([[self.mid(1), self.mid(2), self.mid(3), self.mid(4)]],
                         [[peer.mid for peer in edge] for edge in walk.complete_edges])
