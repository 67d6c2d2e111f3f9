"""
Bootstrapping through trackers: the bootstrap servers of the IPv8 (formerly Dispersy) network.

A tracker answers introduction requests for any community and introduces the requester to another peer
that recently asked about the same community (see :mod:`ipv8.tracker`). This bootstrapper knows a list of
trackers, by IP literal or by DNS name, and walks to them: the introductions in their answers become the
overlay's first walkable addresses. Trackers are blacklisted in the overlay's network, so they never count
as peers themselves.

DNS names are resolved with the reactor's resolver (or one you inject). A name that cannot be resolved is
tried again every ``dns_retry_interval`` seconds until it resolves.

An overlay without peers asks for addresses on every walk step. The trackers are contacted again after a
short pause that doubles with every fruitless round: ``initial_retry_interval`` (1 s), 2 s, 4 s, ... up to
``bootstrap_timeout`` (30 s). A tracker that keeps introducing peers that are gone (from a previous run, say)
thus costs a new node seconds rather than half a minute, while a node that nobody answers settles down to
one round per ``bootstrap_timeout``. The pause starts short again once the overlay has peers.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.task import LoopingCall

from ...messaging.addresses import UDPv4Address
from ...util import get_reactor
from ..bootstrapper_interface import Bootstrapper

if TYPE_CHECKING:
    from ...overlay import IPeerDiscovery
    from ...types import Address

#: The longest pause between two rounds of walking to every tracker for the same overlay.
DEFAULT_BOOTSTRAP_TIMEOUT = 30.0
#: The first pause after a round that left the overlay without peers (it doubles up to the timeout).
INITIAL_RETRY_INTERVAL = 1.0
#: Seconds between attempts to resolve tracker names that did not resolve yet.
DNS_RETRY_INTERVAL = 60.0

# Ports 642x were the Dispersy trackers, 652x are the IPv8 ones; grouped per host, in pyipv8 3.2.1's order.
_PUBLIC_TRACKER_PORTS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("130.161.119.206", (6421, 6422)),
    ("131.180.27.155", (6423,)),
    ("131.180.27.156", (6424,)),
    ("131.180.27.161", (6427, 6521, 6522)),
    ("131.180.27.162", (6523, 6524)),
    ("130.161.119.215", (6525, 6526)),
    ("130.161.119.201", (6527, 6528)),
)

#: The public IPv8 trackers by IP address (the list pyipv8 3.2.1 ships).
DEFAULT_BOOTSTRAP_IP_ADDRESSES: tuple[UDPv4Address, ...] = tuple(
    UDPv4Address(host, port) for host, ports in _PUBLIC_TRACKER_PORTS for port in ports)

#: The public IPv8 trackers by DNS name (the list pyipv8 3.2.1 ships).
DEFAULT_BOOTSTRAP_DNS_ADDRESSES: tuple[tuple[str, int], ...] = (
    ("dispersy1.tribler.org", 6421),
    ("dispersy1.st.tudelft.nl", 6421),
    ("dispersy2.tribler.org", 6422),
    ("dispersy2.st.tudelft.nl", 6422),
    ("dispersy3.tribler.org", 6423),
    ("dispersy3.st.tudelft.nl", 6423),
    ("dispersy4.tribler.org", 6424),
)

#: A resolver turns a host name into a Deferred firing with one IPv4 address in dotted-quad form.
Resolver = Callable[[str], Deferred]

logger = logging.getLogger(__name__)


class BootstrapAddressError(ValueError):
    """A tracker address is not an ``(ip or host name, port)`` pair this bootstrapper can use."""


def _checked_port(entry: object, port: object) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        msg = f"tracker {entry!r} needs a port in 1-65535"
        raise BootstrapAddressError(msg)
    return port


def _pair(entry: object) -> tuple[object, object]:
    if not isinstance(entry, (tuple, list)) or len(entry) != 2:
        msg = f"a tracker address is a (host, port) pair, got {entry!r}"
        raise BootstrapAddressError(msg)
    return entry[0], entry[1]


def _ipv4_literal(host: object) -> str | None:
    """``host`` as a normalised IPv4 literal, or None when it is not one."""
    if not isinstance(host, str):
        return None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        return None


def tracker_ip_address(entry: object) -> UDPv4Address:
    """
    Validate one ``(IPv4 literal, port)`` entry of an ``ip_addresses`` list.

    :raises BootstrapAddressError: if the entry is not such a pair.
    """
    host, port = _pair(entry)
    ip = _ipv4_literal(host)
    if ip is None:
        msg = f"tracker {entry!r}: {host!r} is not an IPv4 address (put host names in dns_addresses)"
        raise BootstrapAddressError(msg)
    return UDPv4Address(ip, _checked_port(entry, port))


def tracker_dns_address(entry: object) -> tuple[str, int]:
    """
    Validate one ``(host name, port)`` entry of a ``dns_addresses`` list.

    :raises BootstrapAddressError: if the entry is not such a pair.
    """
    host, port = _pair(entry)
    if not isinstance(host, str) or not host or any(char.isspace() for char in host):
        msg = f"tracker {entry!r}: {host!r} is not a host name"
        raise BootstrapAddressError(msg)
    return host, _checked_port(entry, port)


class DispersyBootstrapper(Bootstrapper):
    """
    Find first peers by walking to trackers given by IP address and by DNS name.

    :param ip_addresses: ``(IPv4 literal, port)`` pairs of trackers.
    :param dns_addresses: ``(host name, port)`` pairs of trackers; resolved when the bootstrapper is
        initialized (IPv4 literals given here are used as they are).
    :param bootstrap_timeout: the longest pause, in seconds, between two walks to all trackers for one overlay.
    :param initial_retry_interval: the first pause; it doubles after every round until it reaches
        ``bootstrap_timeout``, and starts over once the overlay has peers.
    :param resolver: ``host -> Deferred[ip]``; the reactor's resolver (``reactor.resolve``) by default.
        Tests inject a fake one so no DNS server is ever asked.
    :param reactor: clock for the throttling and the retries (the global reactor by default).
    :param dns_retry_interval: seconds between retries of names that did not resolve.
    :raises BootstrapAddressError: if an address entry is malformed.
    :raises ValueError: if a time is negative (or not a number).
    """

    def __init__(self, ip_addresses: Iterable[Address], dns_addresses: Iterable[tuple[str, int]],  # noqa: PLR0913
                 bootstrap_timeout: float = DEFAULT_BOOTSTRAP_TIMEOUT, *, resolver: Resolver | None = None,
                 reactor: Any = None, dns_retry_interval: float = DNS_RETRY_INTERVAL,  # noqa: ANN401
                 initial_retry_interval: float = INITIAL_RETRY_INTERVAL) -> None:
        super().__init__()
        for name, value in (("bootstrap_timeout", bootstrap_timeout), ("dns_retry_interval", dns_retry_interval),
                            ("initial_retry_interval", initial_retry_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                msg = f"{name} must be a number of seconds, got {value!r}"
                raise ValueError(msg)
        if bootstrap_timeout < 0 or dns_retry_interval <= 0 or initial_retry_interval <= 0:
            msg = "bootstrap_timeout must be >= 0, dns_retry_interval and initial_retry_interval > 0"
            raise ValueError(msg)
        #: Every tracker we can walk to: the IP addresses given, plus the names resolved so far.
        self.ip_addresses: list[UDPv4Address] = []
        for entry in ip_addresses:
            self._remember(tracker_ip_address(entry))
        self.dns_addresses: list[tuple[str, int]] = [tracker_dns_address(entry) for entry in dns_addresses]
        self.bootstrap_timeout = bootstrap_timeout
        self.initial_retry_interval = min(initial_retry_interval, bootstrap_timeout)
        self.dns_retry_interval = dns_retry_interval
        self._resolver = resolver
        self._reactor = reactor
        self._overlays: list[Any] = []
        self._last_walk: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        # Per overlay: the pause before the next round, and when it last asked for addresses.
        self._pause: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._last_asked: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._unresolved: dict[tuple[str, int], None] = dict.fromkeys(self.dns_addresses)
        self._lookups: set[Deferred] = set()
        self._retry_loop: LoopingCall | None = None
        self._first_round: Deferred | None = None
        self._first_round_done = False
        self._unloaded = False

    # -- plumbing ----------------------------------------------------------------------------------

    @property
    def reactor(self) -> Any:  # noqa: ANN401
        """The clock (and default resolver) this bootstrapper uses."""
        if self._reactor is None:
            self._reactor = get_reactor()
        return self._reactor

    def _resolve(self, host: str) -> Deferred:
        if self._resolver is not None:
            return maybeDeferred(self._resolver, host)
        return maybeDeferred(self.reactor.resolve, host)

    def _remember(self, address: UDPv4Address) -> bool:
        if address in self.ip_addresses:
            return False
        self.ip_addresses.append(address)
        return True

    # -- IBootstrapper -----------------------------------------------------------------------------

    def initialize(self, overlay: IPeerDiscovery) -> Deferred:
        """
        Blacklist the trackers in ``overlay``'s network and, the first time, start resolving the names.

        :returns: a Deferred firing once the first resolution round is over: True if any tracker is known.
        """
        if all(known is not overlay for known in self._overlays):
            self._overlays.append(overlay)
            for address in self.ip_addresses:
                overlay.ensure_blacklisted(address)
        if not self.initialized:
            self.initialized = True
            self._first_round = self._resolve_round()
            self._first_round.addCallback(self._first_round_finished)
        return self._after_first_round()

    def _first_round_finished(self, _: object) -> None:
        self._first_round_done = True
        if self._unresolved and not self._unloaded:
            self._start_retrying()

    def _after_first_round(self) -> Deferred:
        if self._first_round_done or self._first_round is None:
            return succeed(bool(self.ip_addresses))
        waiter: Deferred = Deferred()
        self._first_round.addCallback(lambda _: waiter.callback(bool(self.ip_addresses)))
        return waiter

    def get_addresses(self, overlay: IPeerDiscovery, timeout: float) -> Deferred:
        """
        Send an introduction request to every known tracker, unless the overlay's current pause has not
        passed yet (see the module documentation for how the pause grows and starts over).

        The trackers' answers introduce peers, which the overlay stores as walkable addresses; the returned
        list itself is always empty (there is nothing to walk to besides the trackers we just contacted).
        """
        now = self.reactor.seconds()
        last_asked = self._last_asked.get(overlay)
        self._last_asked[overlay] = now
        # A peerless overlay asks on every walk step; a long silence means it had peers in the meantime.
        if _has_peers(overlay) or (last_asked is not None and now - last_asked > self.bootstrap_timeout):
            self.reset_backoff(overlay)
        last = self._last_walk.get(overlay)
        pause = self._pause.get(overlay)
        if last is not None and pause is not None and now - last < pause:
            return succeed([])
        self._last_walk[overlay] = now
        self._pause[overlay] = self.initial_retry_interval if pause is None else min(pause * 2, self.bootstrap_timeout)
        logger.debug("Walking to %d trackers for %s (next round after %.1f s)", len(self.ip_addresses),
                     type(overlay).__name__, self._pause[overlay])
        self._walk_to_trackers(overlay)
        return succeed([])

    def retry_interval(self, overlay: IPeerDiscovery) -> float:
        """The pause, in seconds, after the last round of walking to the trackers for ``overlay``."""
        return self._pause.get(overlay, self.initial_retry_interval)

    def reset_backoff(self, overlay: IPeerDiscovery) -> None:
        """Start over with the shortest pause the next time ``overlay`` has no peers."""
        self._pause.pop(overlay, None)

    def keep_alive(self, overlay: IPeerDiscovery) -> None:
        """Send an introduction request to each tracker, so they keep introducing us to newcomers."""
        # Only overlays with peers are kept alive: when they lose them, bootstrapping starts fast again.
        self.reset_backoff(overlay)
        self._walk_to_trackers(overlay)

    def blacklist(self) -> list[UDPv4Address]:
        """The trackers known so far (given and resolved)."""
        return list(self.ip_addresses)

    def unload(self) -> None:
        """Stop retrying names, cancel the lookups in progress and forget the overlays."""
        self._unloaded = True
        self._stop_retrying()
        for lookup in list(self._lookups):
            lookup.cancel()
        self._lookups.clear()
        self._overlays.clear()

    # -- walking -----------------------------------------------------------------------------------

    def _walk_to_trackers(self, overlay: IPeerDiscovery) -> None:
        for address in self.ip_addresses:
            overlay.ensure_blacklisted(address)
            overlay.walk_to(address)

    # -- name resolution ---------------------------------------------------------------------------

    def _resolve_round(self) -> Deferred:
        """Try every unresolved name once; fires (never fails) when all attempts are over."""
        lookups = [self._lookup(host, port) for host, port in list(self._unresolved)]
        return DeferredList(lookups, consumeErrors=True)

    def _lookup(self, host: str, port: int) -> Deferred:
        literal = _ipv4_literal(host)
        if literal is not None:
            self._resolved(literal, host, port)
            return succeed(None)
        lookup = self._resolve(host)
        self._lookups.add(lookup)
        lookup.addBoth(self._lookup_over, lookup)
        lookup.addCallback(self._resolved, host, port)
        lookup.addErrback(self._not_resolved, host, port)
        return lookup

    def _lookup_over(self, result: object, lookup: Deferred) -> object:
        self._lookups.discard(lookup)
        return result

    def _resolved(self, ip: object, host: str, port: int) -> None:
        literal = _ipv4_literal(ip)
        if literal is None:
            logger.info("Tracker name %s resolved to %r, which is not an IPv4 address", host, ip)
            return
        self._unresolved.pop((host, port), None)
        address = UDPv4Address(literal, port)
        if self._remember(address):
            logger.debug("Tracker %s:%d is at %s", host, port, literal)
            self._adopt_tracker(address)

    def _not_resolved(self, failure: Any, host: str, port: int) -> None:  # noqa: ANN401
        logger.info("Could not resolve tracker %s:%d: %s", host, port, failure.getErrorMessage())

    def _adopt_tracker(self, address: UDPv4Address) -> None:
        """
        A newly resolved tracker: blacklist it everywhere.

        Overlays that already walked to the other trackers (``get_addresses`` ran) and still have no peers
        contact it right away instead of waiting for the next bootstrap round.
        """
        for overlay in self._overlays:
            overlay.ensure_blacklisted(address)
            if overlay in self._last_walk and not overlay.get_peers():
                overlay.walk_to(address)

    def _start_retrying(self) -> None:
        if self._retry_loop is not None or self._unloaded:
            return
        loop = LoopingCall(self._retry_unresolved)
        loop.clock = self.reactor
        self._retry_loop = loop
        loop.start(self.dns_retry_interval, now=False)

    def _stop_retrying(self) -> None:
        loop, self._retry_loop = self._retry_loop, None
        if loop is not None and loop.running:
            loop.stop()

    def _retry_unresolved(self) -> Deferred:
        def stop_when_done(_: object) -> None:
            if not self._unresolved:
                self._stop_retrying()
        return self._resolve_round().addCallback(stop_when_done)


def _has_peers(overlay: Any) -> bool:  # noqa: ANN401
    get_peers = getattr(overlay, "get_peers", None)
    return bool(get_peers()) if callable(get_peers) else False


__all__ = [
    "DEFAULT_BOOTSTRAP_DNS_ADDRESSES",
    "DEFAULT_BOOTSTRAP_IP_ADDRESSES",
    "DEFAULT_BOOTSTRAP_TIMEOUT",
    "DNS_RETRY_INTERVAL",
    "INITIAL_RETRY_INTERVAL",
    "BootstrapAddressError",
    "DispersyBootstrapper",
    "Resolver",
    "tracker_dns_address",
    "tracker_ip_address",
]
