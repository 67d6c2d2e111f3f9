"""Exit sockets: where a circuit's data leaves the tunnel network for the internet, and where replies come back.

Each exit circuit gets its own :class:`TunnelExitSocket`, a Twisted
:class:`~twisted.internet.protocol.DatagramProtocol` on an ephemeral UDP port of the configured local interface
(``0.0.0.0`` by default; ``::`` gives one dual-stack socket for both families). The port is opened by
:meth:`TunnelExitSocket.enable`, which the community calls once the circuit's first data cell came from the
expected peer, and released by :meth:`TunnelExitSocket.close`.

The exit policy is pyipv8 3.2.1's (the Python exit socket and the Rust data plane agree), applied to every
datagram in both directions, out to the internet and back in:

* a datagram that *could be BitTorrent* (uTP, a UDP tracker, or a bencoded DHT dictionary) passes when this node
  has :data:`~ipv8.messaging.anonymization.tunnel.PEER_FLAG_EXIT_BT`;
* a datagram that *could be IPv8* (``0x00``, version 1 or 2, at least 23 bytes) passes when this node has
  :data:`~ipv8.messaging.anonymization.tunnel.PEER_FLAG_EXIT_IPV8`;
* an IPv8 datagram of the tunnel community itself (its 22-byte prefix) always passes (hidden services use it);
* everything else is dropped and counted.

Inbound datagrams are judged by content only, as in 3.2.1: a reply may come from any address (a DHT node or a
uTP peer answering from elsewhere), so the circuit's originator sees what a direct socket would see. Inbound
traffic does not count as activity (:meth:`~ipv8.messaging.anonymization.tunnel.RoutingObject.beat_heart`):
strangers sending to the port cannot keep an exit alive, only the circuit's own cells do.

Destinations, following the Rust data plane: unusable addresses (unspecified, multicast, broadcast, port 0)
are refused, and loopback ones unless the socket itself is bound to loopback (local test networks). Host names
are resolved asynchronously through a :class:`HostResolver` (the reactor's resolver, with a cache, a
negative cache and a cap on concurrent lookups); the resolved address is checked like a literal one, so a
name cannot smuggle a packet to loopback.
"""
from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from twisted.internet import error as twisted_errors
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.protocol import DatagramProtocol
from twisted.python.failure import Failure
from zope.interface import Interface

from ...util import get_reactor, maybe_deferred
from ..address_hygiene import Scope, host_scope
from ..addresses import UDPv4Address, UDPv6Address
from ..interfaces.udp.endpoint import (
    DEFAULT_READ_BUDGET_BYTES,
    DEFAULT_READ_BUDGET_DATAGRAMS,
    apply_read_budget,
)
from .tunnel import PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8, Hop, RoutingObject, _OneShot

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort, IReactorTime

    from ...types import Address

logger = logging.getLogger(__name__)

#: Drop reasons, the keys of :attr:`TunnelExitSocket.drops`.
EXIT_DROP_CLOSED = "closed"
EXIT_DROP_NOT_ENABLED = "not-enabled"
EXIT_DROP_REFUSED_OUTBOUND = "refused-outbound"
EXIT_DROP_REFUSED_INBOUND = "refused-inbound"
EXIT_DROP_BAD_DESTINATION = "bad-destination"
EXIT_DROP_LOCAL_DESTINATION = "local-destination"
EXIT_DROP_UNSUPPORTED_FAMILY = "unsupported-family"
EXIT_DROP_RESOLVE_FAILED = "resolve-failed"
EXIT_DROP_RESOLVE_BACKLOG = "resolve-backlog"
EXIT_DROP_SEND_ERROR = "send-error"
EXIT_DROP_RECEIVER_ERROR = "receiver-error"
EXIT_DROP_RECEIVED_WHILE_CLOSED = "received-while-closed"

#: Datagrams waiting for a host name to resolve, per exit socket; more are dropped (``resolve-backlog``).
MAX_PENDING_RESOLUTIONS = 32
#: Receive buffer: any UDP datagram fits, so none is silently truncated.
_READ_SIZE = 65536
#: Destinations whose verdict an exit socket remembers (cleared when full).
_DESTINATION_CACHE_SIZE = 1024
#: :meth:`TunnelExitSocket._judge_host`'s mark for a host name (resolved first, then judged as an IP).
_HOST_NAME = object()
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


class IExitDataReceiver(Interface):
    """Whoever tunnels exit traffic back to the circuit's originator (the TunnelCommunity)."""

    def on_exit_data(circuit_id: int, source: Address, data: bytes) -> None:
        """A datagram from the internet that the exit policy allows, for the exit of ``circuit_id``.

        :param source: the sender, as :class:`~ipv8.messaging.addresses.UDPv4Address` or ``UDPv6Address``.
        """


class DataChecker:
    """Guesses what a datagram is from its first bytes: the tests behind the exit policy (pyipv8's rules)."""

    @staticmethod
    def could_be_utp(data: bytes) -> bool:
        """uTP (BEP 29): at least 20 bytes, type 0-4 with version 1 in the first byte, extension 0-3 next."""
        return len(data) >= 20 and (data[0] >> 4) <= 4 and (data[0] & 0x0F) == 1 and data[1] <= 3

    @staticmethod
    def could_be_udp_tracker(data: bytes) -> bool:
        """A UDP tracker message: an action 0-3 as the uint32 at offset 0 (responses) or 8 (requests)."""
        return ((len(data) >= 8 and int.from_bytes(data[0:4], "big") <= 3)
                or (len(data) >= 12 and int.from_bytes(data[8:12], "big") <= 3))

    @staticmethod
    def could_be_dht(data: bytes) -> bool:
        """A mainline DHT message: a bencoded dictionary (``d`` ... ``e``)."""
        return len(data) > 1 and data[:1] == b"d" and data[-1:] == b"e"

    @staticmethod
    def could_be_bt(data: bytes) -> bool:
        """Any of the BitTorrent forms above."""
        return _could_be_bt(data)

    @staticmethod
    def could_be_ipv8(data: bytes) -> bool:
        """An IPv8 overlay packet: ``0x00``, community version 1 or 2, and room for prefix and message id."""
        return len(data) >= 23 and data[0] == 0 and data[1] in (1, 2)


def _could_be_bt(data: bytes) -> bool:
    # The three checks of DataChecker in one function: the exit runs this for every datagram in both directions,
    # and three static-method calls through the class cost more than the checks. Comparing 4 bytes with
    # b"\0\0\0\3" is comparing the big-endian uint32 with 3 (equal lengths compare lexicographically).
    size = len(data)
    if size >= 20:
        first = data[0]
        if first >> 4 <= 4 and first & 0x0F == 1 and data[1] <= 3:
            return True
    if size >= 8 and (data[0:4] <= _UINT32_3 or (size >= 12 and data[8:12] <= _UINT32_3)):
        return True
    return size > 1 and data[0] == 0x64 and data[-1] == 0x65  # b"d" ... b"e"


_UINT32_3 = (3).to_bytes(4, "big")

PeerFlags = Callable[[], Collection[int]] | Collection[int]


class ExitPolicy:
    """What this node lets through its exit sockets: decided by its peer flags (see the module documentation).

    :param peer_flags: our peer flags, or a callable returning them; a callable (or a collection that is later
        changed in place) makes flag changes apply to open exit sockets at once, as in pyipv8.
    :param prefix: the tunnel community's 22-byte prefix, whose packets always pass.
    """

    def __init__(self, peer_flags: PeerFlags, prefix: bytes = b"") -> None:
        """Create the policy; see the class documentation."""
        self._peer_flags: Callable[[], Collection[int]] = peer_flags if callable(peer_flags) else lambda: peer_flags
        self.prefix = prefix

    @property
    def peer_flags(self) -> Collection[int]:
        """The flags in force now."""
        return self._peer_flags()

    def refusal(self, data: bytes) -> str | None:
        """None when ``data`` may pass, else why not (for the log)."""
        is_ipv8 = len(data) >= 23 and data[0] == 0 and data[1] in (1, 2)  # DataChecker.could_be_ipv8, inlined
        if is_ipv8 and self.prefix and data[:22] == self.prefix:
            return None
        flags = self._peer_flags()
        if is_ipv8 and PEER_FLAG_EXIT_IPV8 in flags:
            return None
        # The flag first: the content checks are the dearer part, and only an exit for BitTorrent needs them.
        if PEER_FLAG_EXIT_BT in flags and _could_be_bt(data):
            return None
        return f"not an exit for this traffic (BitTorrent={_could_be_bt(data)}, IPv8={is_ipv8})"

    def is_allowed(self, data: bytes) -> bool:
        """Whether ``data`` may pass."""
        return self.refusal(data) is None


class ResolveError(Exception):
    """A host name that did not resolve (or that the resolver refused to look up)."""


def normalize_hostname(host: object) -> str | None:
    """The lower-case form of a syntactically valid DNS name (str or ASCII bytes), or None.

    Names come from data cells, written by whoever built the circuit: only letters, digits, ``-`` and ``_`` in
    labels of 1-63 characters, at most 253 characters in all, at least two labels (a bare word would go to the
    local search domain).
    """
    if isinstance(host, (bytes, bytearray)):
        try:
            host = bytes(host).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(host, str):
        return None
    name = host.lower().removesuffix(".")
    if not 0 < len(name) <= 253:
        return None
    labels = name.split(".")
    if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return name


class HostResolver:
    """Resolves host names for exit sockets, with a bounded cache; meant to be shared by all of a node's exits.

    :param resolve: ``resolve(name) -> Deferred[str]`` giving one IP address; by default the reactor's
        ``resolve`` (the system resolver, IPv4). Tests inject their own, so no name ever leaves the machine.
    :param clock: where cache expiry is read; the installed reactor unless given.
    :param cache_ttl: seconds a resolved address is reused.
    :param failure_ttl: seconds a failed name is not tried again (a flood of cells naming it costs nothing).
    :param max_cache: cache entries at most (the oldest go first).
    :param max_pending: names being looked up at once at most; lookups beyond that fail at once.
    """

    def __init__(self, resolve: Callable[[str], Deferred[str]] | None = None, clock: IReactorTime | None = None,
                 *, cache_ttl: float = 300.0, failure_ttl: float = 30.0, max_cache: int = 1024,
                 max_pending: int = 64) -> None:
        """Create an empty resolver; see the class documentation."""
        self._resolve = resolve if resolve is not None else lambda name: get_reactor().resolve(name, timeout=(2, 5))
        self.clock: IReactorTime = clock if clock is not None else get_reactor()
        self.cache_ttl = cache_ttl
        self.failure_ttl = failure_ttl
        self.max_cache = max_cache
        self.max_pending = max_pending
        self._cache: dict[str, tuple[str | None, float]] = {}  # name -> (ip or None for a failure, expiry)
        self._pending: dict[str, list[Deferred[str]]] = {}
        self.lookups = 0
        """How many lookups were started (cache misses)."""

    def resolve(self, name: str) -> Deferred[str]:
        """A new Deferred firing with an IP address for ``name``, or failing with :class:`ResolveError`.

        Concurrent requests for one name share a single lookup. Cancelling the returned Deferred only
        withdraws this request.
        """
        cached = self._cache.get(name)
        if cached is not None:
            ip, expiry = cached
            if expiry > self.clock.seconds():
                return succeed(ip) if ip is not None else fail(ResolveError(f"{name} did not resolve (cached)"))
            del self._cache[name]
        start = name not in self._pending
        if start and len(self._pending) >= self.max_pending:
            return fail(ResolveError(f"too many names being resolved, not looking up {name}"))

        def withdraw(waiter: Deferred[str]) -> None:
            if waiter in self._pending.get(name, ()):
                self._pending[name].remove(waiter)
        waiter: Deferred[str] = Deferred(canceller=withdraw)
        self._pending.setdefault(name, []).append(waiter)
        if start:
            # The waiter is filed first, so a resolver that answers synchronously still reaches it.
            self.lookups += 1
            maybe_deferred(self._resolve, name).addCallbacks(self._resolved, self._failed,
                                                             callbackArgs=(name,), errbackArgs=(name,))
        return waiter

    def _remember(self, name: str, ip: str | None, ttl: float) -> None:
        if len(self._cache) >= self.max_cache:
            self._cache.pop(next(iter(self._cache)))
        self._cache[name] = (ip, self.clock.seconds() + ttl)

    def _resolved(self, ip: object, name: str) -> None:
        try:
            text = str(ipaddress.ip_address(ip))  # type: ignore[arg-type]
        except (ValueError, TypeError):
            self._failed(Failure(ResolveError(f"{name} resolved to something that is no IP address")), name)
            return
        self._remember(name, text, self.cache_ttl)
        for waiter in self._pending.pop(name, []):
            waiter.callback(text)

    def _failed(self, failure: Failure, name: str) -> None:
        self._remember(name, None, self.failure_ttl)
        error = ResolveError(f"{name} did not resolve: {failure.getErrorMessage()}")
        for waiter in self._pending.pop(name, []):
            waiter.errback(error)


class TunnelExitSocket(RoutingObject, DatagramProtocol):
    """The UDP socket of one exit circuit (see the module documentation).

    :param circuit_id: the circuit this socket exits for.
    :param hop: the previous hop of the circuit (the peer that sends us its cells) with its session keys.
    :param receiver: gets the datagrams that come back (an :class:`IExitDataReceiver`).
    :param policy: what may pass; usually one :class:`ExitPolicy` shared by all of a node's exits.
    :param interface: the local address to bind (``0.0.0.0``, ``::`` for dual stack, ``127.0.0.1`` in tests).
    :param resolver: for host-name destinations; a private :class:`HostResolver` on first need if not given.
    :param reactor: provides ``listenUDP``; the installed reactor unless given.
    :param clock: where times are read; ``reactor`` unless given.
    :param allow_loopback: whether loopback destinations are allowed; by default only when ``interface`` is
        a loopback address (a local test network).
    :raises ValueError: ``interface`` is not an IP address literal.
    """

    #: ``(bytes, datagrams)`` read from the socket per reactor turn at most (see
    #: :class:`~ipv8.messaging.interfaces.udp.endpoint.UDPEndpoint`); a class attribute, so that a node can set it
    #: for all its exit sockets at once (check new values with ``check_read_budget`` first).
    read_budget: tuple[int, int] = (DEFAULT_READ_BUDGET_BYTES, DEFAULT_READ_BUDGET_DATAGRAMS)

    def __init__(self, circuit_id: int, hop: Hop, receiver: IExitDataReceiver, policy: ExitPolicy,
                 *, interface: str = "0.0.0.0", resolver: HostResolver | None = None, reactor: Any = None,
                 clock: IReactorTime | None = None, allow_loopback: bool | None = None) -> None:
        """Create the exit socket, not listening yet (see :meth:`enable`)."""
        self.reactor = reactor if reactor is not None else get_reactor()
        RoutingObject.__init__(self, circuit_id, clock=clock if clock is not None else self.reactor)
        self.hop = hop
        self.receiver = receiver
        self.policy = policy
        self.interface = interface
        self.resolver = resolver
        ip = ipaddress.ip_address(interface)
        self._ipv6 = ip.version == 6
        self._dual_stack = self._ipv6 and ip.is_unspecified
        self._destinations: dict[str, tuple[str | None, Any]] = {}
        self._allow_loopback = ip.is_loopback if allow_loopback is None else allow_loopback
        self.enabled = False
        """Whether the UDP port was opened (pyipv8's name; the REST exits list shows it)."""
        self.drops: dict[str, int] = {}
        """Discarded datagrams per ``EXIT_DROP_*`` reason."""
        self.packets_up = 0
        self.packets_down = 0
        self._port: IListeningPort | None = None
        self._closed = False
        self._close_outcome: _OneShot[None] | None = None
        self._resolving: set[Deferred[str]] = set()

    @property
    def allow_loopback(self) -> bool:
        """Whether loopback destinations are allowed (see the class documentation)."""
        return self._allow_loopback

    @allow_loopback.setter
    def allow_loopback(self, value: bool) -> None:
        self._allow_loopback = value
        self._destinations.clear()  # the remembered verdicts (see _judge_host) depended on it

    # -- life cycle ---------------------------------------------------------------------------------

    def enable(self) -> bool:
        """Open the UDP port (once; later calls do nothing). Returns whether the socket is listening."""
        if self._closed:
            return False
        if self._port is None:
            try:
                self._port = self.reactor.listenUDP(0, self, interface=self.interface, maxPacketSize=_READ_SIZE)
            except twisted_errors.CannotListenError as exc:
                self.logger.warning("Exit socket %d cannot listen on %s: %s", self.circuit_id, self.interface, exc)
                return False
            # What comes back from the internet (the download direction) arrives here in bursts, as cells do at a
            # node's endpoint: the same per-turn read budget (see UDPEndpoint), not Twisted's 256 KiB alone.
            apply_read_budget(self._port, *self.read_budget)
            self.enabled = True
            self.logger.debug("Exit socket %d listening on %s", self.circuit_id, self.get_address())
        return True

    def get_address(self) -> Address | None:
        """The local address bound, or None while not listening."""
        if self._port is None:
            return None
        host = self._port.getHost()
        return (UDPv6Address if self._ipv6 else UDPv4Address)(host.host, host.port)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> Deferred[None]:
        """Stop listening and withdraw pending name lookups; sends from now on are dropped.

        :returns: a Deferred firing None once the port is released (each call gets its own).
        """
        if self._close_outcome is None:
            self._closed = True
            outcome = self._close_outcome = _OneShot()
            for pending in list(self._resolving):
                pending.cancel()
            port, self._port = self._port, None
            if port is None:
                outcome.fire(None)
            else:
                def stopped(result: object) -> None:
                    if isinstance(result, Failure):
                        self.logger.warning("Error closing exit socket %d: %s", self.circuit_id,
                                            result.getErrorMessage())
                    outcome.fire(None)
                maybe_deferred(port.stopListening).addBoth(stopped)
        return self._close_outcome.observe()

    # -- policy ---------------------------------------------------------------------------------------

    def is_allowed(self, data: bytes) -> bool:
        """Whether the exit policy lets ``data`` through (pyipv8's name)."""
        return self.policy.is_allowed(data)

    def _drop(self, reason: str, detail: object = "") -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1
        self.logger.debug("Exit socket %d dropped a datagram (%s) %s", self.circuit_id, reason, detail)

    # -- towards the internet -------------------------------------------------------------------------

    def sendto(self, data: bytes, destination: Address) -> None:
        """Send ``data`` to ``destination`` (an IP or host name with a port), best effort.

        Anything that cannot or may not go out is dropped and counted in :attr:`drops`; only a ``data`` that is
        not bytes raises (a programming error).

        :raises TypeError: ``data`` is not bytes-like.
        """
        if data.__class__ is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                msg = f"exit data must be bytes, got {type(data).__name__}"
                raise TypeError(msg)
            data = bytes(data)
        if self._closed:
            self._drop(EXIT_DROP_CLOSED)
            return
        if self._port is None:
            self._drop(EXIT_DROP_NOT_ENABLED)
            return
        refusal = self.policy.refusal(data)
        if refusal is not None:
            self._drop(EXIT_DROP_REFUSED_OUTBOUND, refusal)
            return
        try:
            host, port = destination[0], destination[1]
        except (TypeError, IndexError, KeyError):
            self._drop(EXIT_DROP_BAD_DESTINATION, destination)
            return
        if (port.__class__ is not int and (not isinstance(port, int) or isinstance(port, bool))) \
                or not 0 < port <= 0xFFFF:
            self._drop(EXIT_DROP_BAD_DESTINATION, destination)
            return
        if isinstance(host, (bytes, bytearray)):
            host = bytes(host).decode("ascii", "replace")
        decision = self._destinations.get(host) if host.__class__ is str else None
        if decision is None:
            decision = self._judge_host(host)
        target, reason = decision
        if target is not None:
            self._write(data, target, port)
        elif reason is _HOST_NAME:
            self._send_to_name(data, host, port)
        else:
            self._drop(reason, host)

    def _judge_host(self, host: str) -> tuple[str | None, Any]:
        """Where datagrams for ``host`` go: ``(socket address text, None)``, ``(None, drop reason)`` or
        ``(None, _HOST_NAME)``; remembered, since a circuit sends to few hosts and parsing costs more than the rest
        of the exit's work per datagram."""
        try:
            ip = ipaddress.ip_address(host)
        except (ValueError, TypeError):
            decision: tuple[str | None, Any] = (None, _HOST_NAME)
        else:
            decision = self._judge_ip(ip)
        if host.__class__ is str:  # only text keys: other values may not even be hashable
            if len(self._destinations) >= _DESTINATION_CACHE_SIZE:
                self._destinations.clear()
            self._destinations[host] = decision
        return decision

    def _judge_ip(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[str | None, Any]:
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        scope = host_scope(str(ip))
        if scope is Scope.UNUSABLE:
            return None, EXIT_DROP_BAD_DESTINATION
        if scope is Scope.LOOPBACK and not self.allow_loopback:
            return None, EXIT_DROP_LOCAL_DESTINATION
        if ip.version == 6 and not self._ipv6:
            return None, EXIT_DROP_UNSUPPORTED_FAMILY
        if ip.version == 4 and self._ipv6:
            if not self._dual_stack:
                return None, EXIT_DROP_UNSUPPORTED_FAMILY
            return f"::ffff:{ip}", None  # IPv4 through a dual-stack IPv6 socket
        return str(ip), None

    def _send_to_name(self, data: bytes, host: object, port: int) -> None:
        name = normalize_hostname(host)
        if name is None:
            self._drop(EXIT_DROP_BAD_DESTINATION, host)
            return
        if len(self._resolving) >= MAX_PENDING_RESOLUTIONS:
            self._drop(EXIT_DROP_RESOLVE_BACKLOG, name)
            return
        if self.resolver is None:
            self.resolver = HostResolver(clock=self.clock)
        lookup = self.resolver.resolve(name)
        self._resolving.add(lookup)

        def resolved(ip: str) -> None:
            self._resolving.discard(lookup)
            self._send_to_ip(data, ip, port)

        def failed(failure: Failure) -> None:
            self._resolving.discard(lookup)
            if not failure.check(CancelledError):  # cancelled: we are closing, nothing to report
                self._drop(EXIT_DROP_RESOLVE_FAILED, failure.getErrorMessage())
        lookup.addCallbacks(resolved, failed)

    def _send_to_ip(self, data: bytes, host: str, port: int) -> None:
        """Send to a resolved IP literal ``host`` (checked as a literal one would be)."""
        if self._closed or self._port is None:
            self._drop(EXIT_DROP_CLOSED)
            return
        decision = self._destinations.get(host)
        if decision is None:
            decision = self._judge_host(host)
        target, reason = decision
        if target is None:
            self._drop(EXIT_DROP_BAD_DESTINATION if reason is _HOST_NAME else reason, host)
            return
        self._write(data, target, port)

    def _write(self, data: bytes, target: str, port: int) -> None:
        # Straight to the socket when there is one: Twisted's ``write`` would parse the (already checked) IP
        # again on every datagram, which costs more than the system call. Errors are the same OSErrors.
        transport = self.transport
        sendto = getattr(getattr(transport, "socket", None), "sendto", None)
        try:
            if sendto is not None:
                sendto(data, (target, port))
            else:
                transport.write(data, (target, port))
        except (twisted_errors.InvalidAddressError, ValueError, TypeError) as exc:
            self._drop(EXIT_DROP_BAD_DESTINATION, exc)
        except (twisted_errors.MessageLengthError, OSError) as exc:
            self._drop(EXIT_DROP_SEND_ERROR, exc)
        else:
            self.bytes_up += len(data)
            self.packets_up += 1
            self.beat_heart()

    # -- from the internet ----------------------------------------------------------------------------

    def datagramReceived(self, datagram: bytes, addr: tuple) -> None:
        """Called by Twisted for each datagram reaching the port: hand what the policy allows to the receiver."""
        if self._closed:
            self._drop(EXIT_DROP_RECEIVED_WHILE_CLOSED)
            return
        self.bytes_down += len(datagram)
        self.packets_down += 1
        refusal = self.policy.refusal(datagram)
        if refusal is not None:
            self._drop(EXIT_DROP_REFUSED_INBOUND, refusal)
            return
        host, port = addr[0], addr[1]
        if self._ipv6:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
            mapped = ip.ipv4_mapped if ip.version == 6 else None
            source: Address = UDPv4Address(str(mapped), port) if mapped is not None else UDPv6Address(host, port)
        else:
            source = UDPv4Address(host, port)
        try:
            self.receiver.on_exit_data(self.circuit_id, source, datagram)
        except Exception:
            self.logger.exception("Exit data handler failed for circuit %d", self.circuit_id)
            self._drop(EXIT_DROP_RECEIVER_ERROR)

    def __repr__(self) -> str:
        return f"TunnelExitSocket(circuit_id={self.circuit_id}, enabled={self.enabled}, address={self.get_address()})"


__all__ = ["EXIT_DROP_BAD_DESTINATION", "EXIT_DROP_CLOSED", "EXIT_DROP_LOCAL_DESTINATION", "EXIT_DROP_NOT_ENABLED",
           "EXIT_DROP_RECEIVED_WHILE_CLOSED", "EXIT_DROP_RECEIVER_ERROR", "EXIT_DROP_REFUSED_INBOUND",
           "EXIT_DROP_REFUSED_OUTBOUND", "EXIT_DROP_RESOLVE_BACKLOG", "EXIT_DROP_RESOLVE_FAILED",
           "EXIT_DROP_SEND_ERROR", "EXIT_DROP_UNSUPPORTED_FAMILY", "MAX_PENDING_RESOLUTIONS", "DataChecker",
           "ExitPolicy", "HostResolver", "IExitDataReceiver", "ResolveError", "TunnelExitSocket",
           "normalize_hostname"]
