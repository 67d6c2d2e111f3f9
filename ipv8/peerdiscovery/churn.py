"""Churn strategies: notice peers that went away and remove them from the :class:`Network`.

A peer's :attr:`~ipv8.peer.Peer.last_response` is refreshed by every packet it sends us. Both strategies probe
peers that have been quiet and drop those that stay quiet:

* :class:`RandomChurn` checks a random sample of all verified peers of the network each step (one instance per
  :class:`Network` suffices). It is the churn of the DiscoveryCommunity in the default configuration.
* :class:`PingChurn` pings every peer of its overlay at a fixed interval and drops a peer after it let a number
  of pings in a row go unanswered.

How a peer is probed: with ``overlay.send_ping(peer)`` when the overlay has it (the DiscoveryCommunity's
ping/pong, which also measures round-trip times into :attr:`~ipv8.peer.Peer.pings`), otherwise with
``overlay.send_introduction_request(peer)``, otherwise with ``overlay.walk_to(peer.address)``. Any answer
refreshes ``last_response``.

Both strategies compare ``last_response`` (wall-clock seconds) with :meth:`DiscoveryStrategy.now`; with a real
reactor those are the same clock. Tests that use :class:`twisted.internet.task.Clock` should set
``last_response`` in that clock's terms.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .discovery import DiscoveryStrategy

if TYPE_CHECKING:
    from ..overlay import IPeerDiscovery
    from twisted.internet.interfaces import IReactorTime

    from ..peer import Peer

__all__ = ["PingChurn", "RandomChurn", "probe_peer"]


def probe_peer(overlay: IPeerDiscovery, peer: Peer) -> None:
    """Send ``peer`` something it answers: a ping if the overlay can, else an introduction request."""
    send_ping = getattr(overlay, "send_ping", None)
    if send_ping is not None:
        send_ping(peer)
        return
    send_request = getattr(overlay, "send_introduction_request", None)
    if send_request is not None:
        send_request(peer)
        return
    overlay.walk_to(peer.address)


def _key_of(peer: Peer) -> bytes:
    return peer.public_key.key_to_bin()


class RandomChurn(DiscoveryStrategy[Any]):
    """
    Sample verified peers, ping the quiet ones, drop the ones that stay silent.

    Every step looks at up to ``sample_size`` random verified peers of the overlay's network:

    * a peer silent for more than ``inactive_time`` seconds is pinged, and pinged again every
      ``ping_interval`` seconds while it stays silent;
    * a peer silent for more than ``drop_time`` seconds is removed once a ping to it has gone unanswered for
      :attr:`answer_window` seconds;
    * if the overlay can ping, a peer with fewer than 5 round-trip measurements is also pinged (at most once per
      ``ping_interval``), so that :attr:`~ipv8.peer.Peer.pings` fills up.

    With the defaults a silent peer gets three pings, ten seconds apart, before it is dropped about a minute
    after its last message. A peer we never heard from (``last_response == 0``) is never pinged or dropped.

    :param overlay: the overlay whose network is cleaned (a DiscoveryCommunity in the default configuration).
    :param sample_size: how many peers to check per step.
    :param ping_interval: minimum seconds between two pings to the same peer.
    :param inactive_time: seconds of silence after which a peer is pinged.
    :param drop_time: seconds of silence after which a pinged peer is removed.
    :param clock: see :class:`~ipv8.peerdiscovery.discovery.DiscoveryStrategy`.
    """

    #: Seconds a peer gets to answer a ping before its silence may cost it its place (a pong later than the
    #: DiscoveryCommunity's 5-second ping timeout no longer counts as a measurement either).
    answer_window: float = 5.0

    def __init__(self, overlay: IPeerDiscovery, sample_size: int = 8, ping_interval: float = 10.0,
                 inactive_time: float = 27.5, drop_time: float = 57.5, *,
                 clock: IReactorTime | None = None) -> None:
        """Create a churn strategy that has pinged nobody yet."""
        super().__init__(overlay, clock=clock)
        self.sample_size = sample_size
        self.ping_interval = ping_interval
        self.inactive_time = inactive_time
        self.drop_time = drop_time
        # public key -> when we last pinged that peer
        self._pinged: dict[bytes, float] = {}
        # public key -> when the oldest ping that the peer has not answered yet was sent. Re-pings must not
        # move this forward, or a ping_interval shorter than the answer window would keep a dead peer forever.
        self._unanswered_since: dict[bytes, float] = {}

    def _silent_for_more_than(self, peer: Peer, seconds: float) -> bool:
        return peer.last_response != 0 and self.now() > peer.last_response + seconds

    def should_drop(self, peer: Peer) -> bool:
        """Whether ``peer`` has been silent for more than ``drop_time`` seconds."""
        return self._silent_for_more_than(peer, self.drop_time)

    def is_inactive(self, peer: Peer) -> bool:
        """Whether ``peer`` has been silent for more than ``inactive_time`` seconds."""
        return self._silent_for_more_than(peer, self.inactive_time)

    def _wants_round_trip_times(self, peer: Peer) -> bool:
        pings = peer.pings
        return hasattr(self.overlay, "send_ping") and len(pings) < (pings.maxlen or 0)

    def _ignored_a_ping(self, peer: Peer, now: float) -> bool:
        first_ping = self._unanswered_since.get(_key_of(peer))
        return first_ping is not None and first_ping > peer.last_response and now > first_ping + self.answer_window

    def take_step(self) -> None:
        """Check one random sample of peers."""
        with self.walk_lock:
            network = self.overlay.network
            peers = list(network.verified_peers)
            self._forget_departed(peers)
            now = self.now()
            for peer in random.sample(peers, min(len(peers), self.sample_size)):
                if self.should_drop(peer) and self._ignored_a_ping(peer, now):
                    network.remove_peer(peer)
                    self._pinged.pop(_key_of(peer), None)
                    self._unanswered_since.pop(_key_of(peer), None)
                elif self.is_inactive(peer) or self._wants_round_trip_times(peer):
                    pinged_at = self._pinged.get(_key_of(peer))
                    if pinged_at is None or now > pinged_at + self.ping_interval:
                        key = _key_of(peer)
                        self._pinged[key] = now
                        first_ping = self._unanswered_since.get(key)
                        if first_ping is None or first_ping <= peer.last_response:
                            self._unanswered_since[key] = now
                        probe_peer(self.overlay, peer)

    def _forget_departed(self, peers: list[Peer]) -> None:
        if len(self._pinged) > len(peers):
            present = {_key_of(peer) for peer in peers}
            for key in [key for key in self._pinged if key not in present]:
                del self._pinged[key]
                self._unanswered_since.pop(key, None)


class PingChurn(DiscoveryStrategy[Any]):
    """
    Ping every peer of the overlay each ``ping_interval`` seconds; drop peers that stop answering.

    A ping counts as answered when the peer sent us anything after it (``last_response`` moved past the
    time of the ping). When ``max_failures`` consecutive pings went unanswered, the peer is removed from the
    network. Blacklisted addresses (bootstrap servers) are left alone. This is the liveness rule of the DHT,
    made independent of it; override :meth:`ping` to probe peers another way.

    :param overlay: the overlay whose peers are pinged.
    :param ping_interval: seconds between two pings to the same peer.
    :param max_failures: unanswered pings in a row after which a peer is dropped.
    :param clock: see :class:`~ipv8.peerdiscovery.discovery.DiscoveryStrategy`.
    """

    def __init__(self, overlay: IPeerDiscovery, ping_interval: float = 25.0, max_failures: int = 2, *,
                 clock: IReactorTime | None = None) -> None:
        """Create a churn strategy that has pinged nobody yet."""
        super().__init__(overlay, clock=clock)
        self.ping_interval = ping_interval
        self.max_failures = max_failures
        # public key -> (when we last pinged, unanswered pings in a row before that one)
        self._history: dict[bytes, tuple[float, int]] = {}

    def ping(self, peer: Peer) -> None:
        """Probe ``peer`` (see the module documentation for how)."""
        probe_peer(self.overlay, peer)

    def failures(self, peer: Peer) -> int:
        """How many pings in a row ``peer`` left unanswered, as of our latest ping to it."""
        record = self._history.get(_key_of(peer))
        return 0 if record is None else record[1]

    def take_step(self) -> None:
        """Ping the peers that are due, dropping those that failed too often."""
        with self.walk_lock:
            now = self.now()
            network = self.overlay.network
            peers = [peer for peer in self.overlay.get_peers() if peer.address not in network.blacklist]
            for peer in peers:
                key = _key_of(peer)
                record = self._history.get(key)
                if record is not None and now < record[0] + self.ping_interval:
                    continue
                failures = 0
                if record is not None:
                    pinged_at, earlier_failures = record
                    failures = earlier_failures + 1 if peer.last_response < pinged_at else 0
                if failures >= self.max_failures:
                    network.remove_peer(peer)
                    del self._history[key]
                    continue
                self._history[key] = (now, failures)
                self.ping(peer)
            present = {_key_of(peer) for peer in peers}
            for key in [key for key in self._history if key not in present]:
                del self._history[key]
