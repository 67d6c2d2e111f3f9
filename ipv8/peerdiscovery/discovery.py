"""Discovery strategies: small pieces of periodic network work that the IPv8 service runs one after another.

The IPv8 service owns a single endpoint. If every overlay sent its maintenance traffic whenever it liked, the
bursts would collide on that socket, so periodic network work is written as a *strategy* instead: an object
with a :meth:`~DiscoveryStrategy.take_step` method that the service calls once per tick (every
``walker_interval`` seconds, 0.5 by default), strategy after strategy. The service skips a strategy while its
overlay already has at least the strategy's ``target_peers`` peers (``-1``: never skip).

This module holds the base class and the two walkers:

* :class:`RandomWalk` asks random peers for introductions (the default walker);
* :class:`EdgeWalk` grows depth-first chains ("edges") of introductions out of a fixed neighbourhood.

Time
====
Strategies read the time from a Twisted clock, so tests can drive them with
:class:`twisted.internet.task.Clock`. Pass ``clock=`` to pick one; otherwise the overlay's reactor is used
(``overlay.clock``, the clock of its :class:`~ipv8.taskmanager.TaskManager`), or the global reactor. A real
reactor's ``seconds()`` is the wall clock, the same clock :attr:`ipv8.peer.Peer.last_response` is kept in.

Threads
=======
``walk_lock`` is a :class:`threading.RLock`. Everything in txipv8 runs on the reactor thread, so in normal use the
lock is never contended; it is there for code that inspects or drives a strategy from another thread (for example
inside ``deferToThread``), and because existing strategies written for pyipv8 use ``with self.walk_lock:``.
Being re-entrant, a step may call helpers that take the lock again.
"""
from __future__ import annotations

import abc
import random
import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from zope.interface import Attribute, Interface, implementer

from ..taskmanager import TaskManager
from ..util import get_reactor
from .network import Network

if TYPE_CHECKING:
    from ..overlay import IPeerDiscovery
    from twisted.internet.interfaces import IReactorTime

    from ..peer import Peer
    from ..types import Address

__all__ = ["DiscoveryStrategy", "EdgeWalk", "IDiscoveryStrategy", "RandomWalk", "overlay_clock"]

OverlayT = TypeVar("OverlayT")


class IDiscoveryStrategy(Interface):
    """Periodic network work of one overlay, run by the IPv8 service once per tick."""

    overlay = Attribute("The overlay this strategy works for (may be None for overlay-less strategies).")
    walk_lock = Attribute("A re-entrant lock held while the strategy changes its state.")

    def take_step() -> None:
        """Do one tick's worth of work (the service calls this every ``walker_interval`` seconds)."""

    def get_peer_count() -> int:
        """How many peers the overlay has; the service compares this with the strategy's target."""


def overlay_clock(overlay: IPeerDiscovery) -> IReactorTime:  # noqa: ANN401 - any overlay-like object
    """The clock an overlay schedules its tasks on (a :class:`~ipv8.taskmanager.TaskManager`'s ``clock``).

    Overlays that are not task managers (test doubles) use the global reactor.
    """
    return overlay.clock if isinstance(overlay, TaskManager) else get_reactor()


@implementer(IDiscoveryStrategy)
class DiscoveryStrategy(Generic[OverlayT], metaclass=abc.ABCMeta):
    """
    Base class of discovery strategies: subclass it and implement :meth:`take_step`.

    :param overlay: the overlay to work for, or ``None``.
    :param clock: where :meth:`now` reads the time (see the module documentation); by default the
        overlay's reactor.
    """

    def __init__(self, overlay: OverlayT, *, clock: IReactorTime | None = None) -> None:
        """Bind the strategy to ``overlay``."""
        self.overlay: OverlayT = overlay
        self.walk_lock = threading.RLock()
        self._fixed_clock = clock

    def now(self) -> float:
        """The current time in seconds, from the strategy's clock."""
        clock = self._fixed_clock if self._fixed_clock is not None else overlay_clock(self.overlay)
        return clock.seconds()

    @abc.abstractmethod
    def take_step(self) -> None:
        """Do one tick's worth of work."""

    def get_peer_count(self) -> int:
        """``len(overlay.get_peers())``, or 0 without an overlay."""
        if self.overlay is None:
            return 0
        return len(self.overlay.get_peers())  # type: ignore[attr-defined]


class RandomWalk(DiscoveryStrategy[Any]):
    """
    Find peers by contacting addresses that others introduced to us, picked at random.

    Each step either walks to (sends an introduction request to) a random *walkable* address of this
    overlay's community, or, with probability ``reset_chance``/256 and whenever no address is walkable,
    asks the overlay for a fresh introduction (a random known peer, or the bootstrap servers when it knows
    nobody). Random restarts keep the walk from getting stuck among unreachable addresses.

    :param overlay: a :class:`~ipv8.community.Community` (anything with ``get_walkable_addresses``,
        ``walk_to``, ``get_new_introduction`` and ``network``).
    :param timeout: seconds after which an address we walked to counts as unreachable; if it has not become a
        verified peer by then it is removed from the network.
    :param window_size: at most this many walks may be waiting for their ``timeout`` at a time; further steps
        are skipped until one expires (0 or less: no limit).
    :param reset_chance: out of 256, how often a step asks for a fresh introduction although walkable
        addresses exist (0: never, 256 or more: always).
    :param target_interval: minimum seconds between two steps that send something (0: every tick).
    :param clock: see :class:`DiscoveryStrategy`.
    """

    #: Random picks tried per step before giving up (the picks skip walks still waiting for an answer).
    _PICK_ATTEMPTS = 8

    def __init__(self, overlay: IPeerDiscovery, timeout: float = 3.0, window_size: int = 5,
                 reset_chance: int = 50, target_interval: float = 0, *, clock: IReactorTime | None = None) -> None:
        """Create a walker with nothing in flight."""
        super().__init__(overlay, clock=clock)
        self.node_timeout = timeout
        self.window_size = window_size
        self.reset_chance = reset_chance
        self.target_interval = target_interval
        #: address -> time we walked to it, for walks whose ``timeout`` has not passed yet.
        self.intro_timeouts: dict[Address, float] = {}
        #: when the last step sent something (0: never).
        self.last_step: float = 0

    def take_step(self) -> None:
        """Expire old walks, then walk (or ask for an introduction) unless paced or the window is full."""
        with self.walk_lock:
            now = self.now()
            self._expire_walks(now)
            if self.target_interval > 0 and now < self.last_step + self.target_interval:
                return
            if 0 < self.window_size <= len(self.intro_timeouts):
                return
            target = self._pick_target() if random.randrange(256) >= self.reset_chance else None
            if target is not None:
                self.intro_timeouts[target] = now
                self.overlay.walk_to(target)
            else:
                self.overlay.get_new_introduction()
            self.last_step = now

    def _pick_target(self) -> Address | None:
        """A random walkable address we are not waiting for, in constant time however many are known."""
        network = getattr(self.overlay, "network", None)
        if isinstance(network, Network):
            service = self.overlay.community_id
            for _ in range(self._PICK_ATTEMPTS):
                target = network.random_walkable(service)
                if target is None:
                    break
                if target not in self.intro_timeouts:
                    return target
            # Addresses introduced without a service count for us when their introducer runs our service.
            for _ in range(self._PICK_ATTEMPTS):
                target = network.random_walkable(None)
                if target is None:
                    break
                if target not in self.intro_timeouts and network.introduced_for(target, service):
                    return target
            # Most of what we know is being waited for (a window larger than the walkable set): take the
            # first one that is not. The set is capped per service, so this is bounded too.
            for target in network.walkable_for_service(service):
                if target not in self.intro_timeouts:
                    return target
            return None
        # An overlay without a Network (a test double, say): only its own list can tell.
        candidates = [address for address in self.overlay.get_walkable_addresses()
                      if address not in self.intro_timeouts]
        return random.choice(candidates) if candidates else None

    def _expire_walks(self, now: float) -> None:
        network = self.overlay.network
        for address, sent_at in list(self.intro_timeouts.items()):
            if now > sent_at + self.node_timeout:
                del self.intro_timeouts[address]
                # Nobody answered from there: stop offering the address as walkable.
                if network.get_verified_by_address(address) is None:
                    network.remove_by_address(address)


class EdgeWalk(DiscoveryStrategy[Any]):
    """
    Depth-first search for peers along chains ("edges") of introductions.

    First the walker waits until the overlay has ``neighborhood_size`` peers (bootstrapping and walking to
    walkable addresses meanwhile); those peers become the roots. From every root it grows an edge: ask the
    edge's last peer for an introduction, wait until the introduced peer is verified, append it and ask *it*
    for an introduction, and so on until the edge has ``edge_length`` peers or stops growing for
    ``edge_timeout`` seconds. Then the root starts a new edge. Finished edges are kept in
    :attr:`complete_edges`. Good at finding many different peers (crawlers), at the cost of more bookkeeping.

    :param overlay: a :class:`~ipv8.community.Community`.
    :param edge_length: number of peers in a finished edge, root included.
    :param neighborhood_size: number of roots to collect before building edges.
    :param edge_timeout: seconds an edge may go without growing before it is closed.
    :param clock: see :class:`DiscoveryStrategy`.
    """

    #: Finished edges kept (the oldest are dropped): a long-running crawler must not grow without bound.
    max_complete_edges: int = 1000

    def __init__(self, overlay: IPeerDiscovery, edge_length: int = 4, neighborhood_size: int = 6,
                 edge_timeout: float = 3.0, *, clock: IReactorTime | None = None) -> None:
        """Create a walker that knows no roots yet."""
        super().__init__(overlay, clock=clock)
        self.edge_length = edge_length
        self.neighborhood_size = neighborhood_size
        self.edge_timeout = edge_timeout
        self._neighborhood: list[Peer] = []
        #: Finished edges, oldest first; each lists its peers from the root outwards.
        self.complete_edges: list[list[Peer]] = []
        #: root -> the edge it is growing.
        self.under_construction: dict[Peer, list[Peer]] = {}
        #: root -> when its edge last grew (or was started).
        self.last_edge_responses: dict[Peer, float] = {}

    def get_available_root(self) -> Peer | None:
        """A random root that is not growing an edge right now, or None."""
        idle = [root for root in self._neighborhood if root not in self.under_construction]
        return random.choice(idle) if idle else None

    def take_step(self) -> None:
        """Gather roots, start an edge at an idle root, or else try to grow the edges in progress."""
        with self.walk_lock:
            if len(self._neighborhood) < self.neighborhood_size:
                self._gather_neighborhood()
                return
            root = self.get_available_root()
            if root is not None:
                self.under_construction[root] = [root]
                self.last_edge_responses[root] = self.now()
                self.overlay.get_new_introduction(root)
                return
            self._grow_edges()

    def _gather_neighborhood(self) -> None:
        self._neighborhood = self.overlay.get_peers()[:self.neighborhood_size]
        self.overlay.bootstrap()
        for address in self.overlay.get_walkable_addresses()[:self.neighborhood_size]:
            self.overlay.walk_to(address)

    def _grow_edges(self) -> None:
        now = self.now()
        finished = []
        for root, edge in self.under_construction.items():
            tip = edge[-1]
            # Peers already on the edge are no progress: following them would only walk in a circle.
            fresh = [peer for peer in self._verified_introductions(tip) if peer not in edge]
            if fresh:
                self.last_edge_responses[root] = now
                edge.append(random.choice(fresh))
                if len(edge) >= self.edge_length:
                    finished.append(root)
                else:
                    self.overlay.walk_to(edge[-1].address)
            elif now > self.last_edge_responses[root] + self.edge_timeout:
                finished.append(root)
            else:
                # The tip has only pointed back along the edge so far: ask it for another introduction.
                self.overlay.walk_to(tip.address)
        for root in finished:
            edge = self.under_construction.pop(root)
            if len(edge) > 1:
                self.complete_edges.append(edge)
        if len(self.complete_edges) > self.max_complete_edges:
            del self.complete_edges[:-self.max_complete_edges]

    def _verified_introductions(self, peer: Peer) -> list[Peer]:
        """Peers that ``peer`` introduced and that answered us; walk to the ones that did not answer yet."""
        network = self.overlay.network
        verified = []
        for address in network.get_introductions_from(peer):
            introduced = network.get_verified_by_address(address)
            if introduced is None:
                self.overlay.walk_to(address)
            else:
                verified.append(introduced)
        return verified
