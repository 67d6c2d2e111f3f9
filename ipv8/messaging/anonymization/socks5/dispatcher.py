"""Where the SOCKS5 front door meets the circuits: :class:`TunnelDispatcher` and :func:`start_socks5_servers`.

The dispatcher is the sink of one or more :class:`~ipv8.messaging.anonymization.socks5.server.Socks5Server`
instances and a raw-data sink of a :class:`~ipv8.messaging.anonymization.community.TunnelCommunity`:

* **client -> circuit**: every datagram a SOCKS5 client sends (``on_socks5_udp_data``) is sent through a READY
  data circuit of the association's hop count (``udp_connection.hops``, the server's setting). The circuit is
  chosen once per *(association, destination)* pair, round robin over the ready circuits, and then kept: all
  datagrams to one destination leave through the same exit, which is what a peer on the other side expects
  (a uTP connection or a DHT node sees one address). Only when that circuit stops being READY is another one
  picked. If no circuit is ready the datagram is dropped and counted (``no_circuit``): nothing is queued, so a
  client sending faster than the circuits carry costs no memory.
* **circuit -> client**: data coming back (``on_raw_data``, via
  :meth:`~ipv8.messaging.anonymization.community.TunnelCommunity.add_raw_data_sink`) goes to the association
  that sent to that origin over that circuit, with the SOCKS5 UDP header naming the origin. Data from an
  origin nobody sent to (a peer contacting the exit's address first, or the answer to a host name that the exit
  resolved) goes to the association that most recently started using the circuit.

Bounded state: at most ``max_associations`` associations are tracked (datagrams of further ones are dropped as
``association_cap``), each with at most ``max_destinations`` destinations (the oldest mapping is evicted to make
room), and mappings unused for ``idle_timeout`` seconds of the injected clock are forgotten, as are the
associations that have none left.

Quick start (one server per hop count, all on 127.0.0.1, sharing one dispatcher)::

    front_door = await start_socks5_servers(tunnel_community, count=2, hops=1)
    print(front_door.addresses)            # [("127.0.0.1", 40123), ("127.0.0.1", 40124)]
    ...
    await front_door.stop()

Throughput notes for benchmarks: the per-datagram path is a few dictionary lookups, one clock read and the
community's ``send_data``; nothing is logged per datagram above DEBUG, and drops are counted in
:attr:`TunnelDispatcher.statistics`.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, FirstError, gatherResults
from twisted.internet.task import LoopingCall
from zope.interface import implementer

from ..interfaces import IRawDataSink
from ..tunnel import CIRCUIT_STATE_READY
from .interfaces import ISocksAssociationObserver, ISocksDatagramSink
from .server import Socks5ConfigurationError, Socks5Server, Socks5Settings

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from twisted.internet.interfaces import IReactorTime
    from twisted.python.failure import Failure

    from ..tunnel import Circuit
    from .udp_connection import Socks5UDPConnection

logger = logging.getLogger(__name__)

#: The "no address" a data cell towards the exit carries as its origin.
NO_ADDRESS = ("0.0.0.0", 0)

#: No READY data circuit of the association's hop count: the datagram was dropped, not queued.
DROP_NO_CIRCUIT = "no_circuit"
#: The association would exceed ``max_associations``.
DROP_ASSOCIATION_CAP = "association_cap"
#: The community refused to send the cell (for example the circuit lost its first hop meanwhile).
DROP_SEND_FAILED = "send_failed"
#: Data came back on a circuit we mapped, but its association is gone (or the client could not be written to).
DROP_CLIENT_GONE = "client_gone"
#: A datagram reached the dispatcher after :meth:`TunnelDispatcher.close`.
DROP_CLOSED = "closed"


@dataclass
class DispatcherSettings:
    """
    Caps and timers of a :class:`TunnelDispatcher`.

    :ivar max_associations: associations tracked at once; datagrams of further ones are dropped.
    :ivar max_destinations: destination -> circuit mappings per association; the oldest is evicted beyond it.
    :ivar idle_timeout: seconds after which an unused mapping (and then an association without mappings) is
        forgotten.
    :ivar sweep_interval: seconds between two expiry passes (on the dispatcher's clock).
    :ivar exit_flags: peer flags the exit of a chosen circuit must have (e.g. ``{PEER_FLAG_EXIT_BT}``); None
        takes any READY data circuit.
    """

    max_associations: int = 32
    max_destinations: int = 1024
    idle_timeout: float = 60.0
    sweep_interval: float = 5.0
    exit_flags: Collection[int] | None = None

    def __post_init__(self) -> None:
        """Refuse values that would make the caps meaningless."""
        for name in ("max_associations", "max_destinations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"DispatcherSettings.{name} must be a positive integer, got {value!r}"
                raise Socks5ConfigurationError(msg)
        for name in ("idle_timeout", "sweep_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                msg = f"DispatcherSettings.{name} must be a positive number, got {value!r}"
                raise Socks5ConfigurationError(msg)


class DispatcherStatistics:
    """
    Counters of a :class:`TunnelDispatcher`.

    :ivar datagrams_out: datagrams handed to a circuit (``bytes_out``: their payload bytes).
    :ivar datagrams_in: datagrams from circuits written to a SOCKS5 client (``bytes_in``: their payload bytes).
    :ivar routes_created: destination -> circuit mappings made (including re-picks).
    :ivar repicks: mappings whose circuit stopped being READY and that got another one.
    :ivar routes_expired: mappings forgotten for being idle or for their circuit being gone.
    :ivar routes_evicted: mappings pushed out by ``max_destinations``.
    :ivar drops: datagrams thrown away, per ``DROP_*`` reason.
    """

    __slots__ = ("bytes_in", "bytes_out", "datagrams_in", "datagrams_out", "drops", "repicks", "routes_created",
                 "routes_evicted", "routes_expired")

    def __init__(self) -> None:
        """Start with every count at zero."""
        self.datagrams_out = self.bytes_out = self.datagrams_in = self.bytes_in = 0
        self.routes_created = self.repicks = self.routes_expired = self.routes_evicted = 0
        self.drops: dict[str, int] = {}

    def drop(self, reason: str) -> None:
        """Count one datagram dropped for ``reason``."""
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def as_dict(self) -> dict[str, object]:
        """A plain snapshot, for logs, benchmarks or a REST answer."""
        snapshot: dict[str, object] = {name: getattr(self, name) for name in self.__slots__ if name != "drops"}
        snapshot["drops"] = dict(self.drops)
        return snapshot


class _Route:
    """One destination of one association, sent through one circuit."""

    __slots__ = ("association", "circuit", "circuit_id", "destination", "first_hop", "last_used")

    def __init__(self, association: _Association, circuit: Circuit, destination: Any,  # noqa: ANN401
                 now: float) -> None:
        self.association = association
        self.circuit = circuit
        self.circuit_id: int = circuit.circuit_id
        self.first_hop = circuit.hop.address  # type: ignore[union-attr] - READY circuits have a first hop
        self.destination = destination
        self.last_used = now


class _Association:
    """What the dispatcher keeps per SOCKS5 UDP association."""

    __slots__ = ("connection", "hops", "last_used", "routes")

    def __init__(self, connection: Socks5UDPConnection, now: float) -> None:
        self.connection = connection
        self.hops: int = connection.hops
        self.routes: dict[Any, _Route] = {}
        self.last_used = now


@implementer(ISocksDatagramSink, ISocksAssociationObserver, IRawDataSink)
class TunnelDispatcher:
    """
    Maps SOCKS5 UDP associations onto the circuits of a TunnelCommunity, both ways (see the module documentation).

    Set it as the ``sink`` of any number of :class:`~ipv8.messaging.anonymization.socks5.server.Socks5Server`;
    it registers itself with the community at construction and unregisters in :meth:`close`.

    :ivar community: the TunnelCommunity (anything with ``find_circuits``, ``send_data``, ``clock`` and
        ``add_raw_data_sink``/``remove_raw_data_sink``).
    :ivar settings: the :class:`DispatcherSettings` in force.
    :ivar statistics: the :class:`DispatcherStatistics`.
    """

    def __init__(self, community: Any, settings: DispatcherSettings | None = None, *,  # noqa: ANN401
                 clock: IReactorTime | None = None) -> None:
        """
        Start dispatching for ``community`` and begin the periodic expiry.

        :param community: the TunnelCommunity whose circuits carry the clients' data.
        :param settings: caps and timers (defaults: :class:`DispatcherSettings`).
        :param clock: times idle expiry (default: the community's clock).
        """
        self.community = community
        self.settings = settings if settings is not None else DispatcherSettings()
        self.clock: IReactorTime = clock if clock is not None else community.clock
        self.statistics = DispatcherStatistics()
        self._associations: dict[Socks5UDPConnection, _Association] = {}
        # (circuit id, origin) -> the route whose answers come from there; the return path's only lookup.
        self._reverse: dict[tuple[int, Any], _Route] = {}
        # circuit id -> the association that last began using the circuit, for data from unknown origins.
        self._circuit_owner: dict[int, _Association] = {}
        self._next_pick = 0
        self._closed = False
        self._sweeper = LoopingCall(self.sweep)
        self._sweeper.clock = self.clock
        self._sweeper.start(self.settings.sweep_interval, now=False).addErrback(self._sweep_failed)
        community.add_raw_data_sink(self)

    # -- inspection ----------------------------------------------------------------------------------------

    @property
    def association_count(self) -> int:
        """Associations tracked now."""
        return len(self._associations)

    def circuit_for(self, udp_connection: Socks5UDPConnection, destination: Any) -> Circuit | None:  # noqa: ANN401
        """The circuit ``destination``'s datagrams from ``udp_connection`` currently go through, if mapped."""
        association = self._associations.get(udp_connection)
        route = association.routes.get(destination) if association is not None else None
        return route.circuit if route is not None else None

    def destinations_of(self, udp_connection: Socks5UDPConnection) -> list[Any]:
        """The destinations mapped for ``udp_connection``, oldest mapping first."""
        association = self._associations.get(udp_connection)
        return list(association.routes) if association is not None else []

    # -- ISocksAssociationObserver -------------------------------------------------------------------------

    def on_socks5_association_opened(self, udp_connection: Socks5UDPConnection) -> None:
        """Start tracking a new association (if under the cap; otherwise its datagrams are dropped)."""
        if not self._closed:
            self._track(udp_connection)

    def on_socks5_association_closed(self, udp_connection: Socks5UDPConnection) -> None:
        """Forget an association and every mapping it had."""
        association = self._associations.pop(udp_connection, None)
        if association is not None:
            self._forget(association)

    # -- client -> circuit ---------------------------------------------------------------------------------

    def on_socks5_udp_data(self, udp_connection: Socks5UDPConnection, destination: Any,  # noqa: ANN401
                           data: bytes) -> bool:
        """
        Send a client's datagram through the circuit mapped to its destination (mapping one if needed).

        :returns: False when the datagram was dropped (counted in :attr:`statistics` by reason), else True.
        """
        association = self._associations.get(udp_connection)
        if association is None:
            association = self._track(udp_connection)
            if association is None:
                return False
        now = self.clock.seconds()
        route = association.routes.get(destination)
        if route is None or route.circuit.state != CIRCUIT_STATE_READY:
            route = self._map(association, destination, route, now)
            if route is None:
                self.statistics.drop(DROP_NO_CIRCUIT)
                return False
        route.last_used = association.last_used = now
        if self.community.send_data(route.first_hop, route.circuit_id, destination, NO_ADDRESS, data) is False:
            self.statistics.drop(DROP_SEND_FAILED)
            return False
        statistics = self.statistics
        statistics.datagrams_out += 1
        statistics.bytes_out += len(data)
        return True

    # -- circuit -> client ---------------------------------------------------------------------------------

    def on_raw_data(self, circuit: Circuit, origin: Any, data: bytes) -> bool:  # noqa: ANN401
        """
        Deliver data that came back through ``circuit`` to the SOCKS5 client that owns it, from ``origin``.

        :returns: True if the circuit is one this dispatcher mapped (the datagram was delivered, or dropped and
            counted as ``client_gone``); False for circuits it knows nothing about (left to other sinks).
        """
        circuit_id = circuit.circuit_id
        route = self._reverse.get((circuit_id, origin))
        if route is not None and route.circuit is circuit:
            association = route.association
            route.last_used = association.last_used = self.clock.seconds()
        else:
            owner = self._circuit_owner.get(circuit_id)
            if owner is None or self._associations.get(owner.connection) is not owner:
                return False
            association = owner
        if association.connection.send_datagram(origin, data):
            statistics = self.statistics
            statistics.datagrams_in += 1
            statistics.bytes_in += len(data)
        else:
            self.statistics.drop(DROP_CLIENT_GONE)
        return True

    # -- mappings ------------------------------------------------------------------------------------------

    def _track(self, udp_connection: Socks5UDPConnection) -> _Association | None:
        association = self._associations.get(udp_connection)
        if association is not None:
            return association
        if self._closed:
            self.statistics.drop(DROP_CLOSED)
            return None
        if len(self._associations) >= self.settings.max_associations:
            self.statistics.drop(DROP_ASSOCIATION_CAP)
            return None
        association = self._associations[udp_connection] = _Association(udp_connection, self.clock.seconds())
        return association

    def _ready_circuits(self, hops: int) -> list[Circuit]:
        return self.community.find_circuits(hops=hops, exit_flags=self.settings.exit_flags)

    def _map(self, association: _Association, destination: Any, old: _Route | None,  # noqa: ANN401
             now: float) -> _Route | None:
        """Pick a READY circuit for ``destination`` (replacing ``old``, whose circuit died), or None if none is."""
        circuits = self._ready_circuits(association.hops)
        if old is not None:
            self._unlink(old)
            del association.routes[destination]
        if not circuits:
            return None
        if old is not None:
            self.statistics.repicks += 1
        routes = association.routes
        while len(routes) >= self.settings.max_destinations:
            self._unlink(routes.pop(next(iter(routes))))
            self.statistics.routes_evicted += 1
        # Round robin spreads destinations over circuits; a circuit on which another association already talks
        # to this destination is passed over if possible, since answers from there could only reach one of them.
        count = len(circuits)
        start = self._next_pick % count
        self._next_pick = start + 1
        chosen = circuits[start]
        for offset in range(count):
            candidate = circuits[(start + offset) % count]
            taken = self._reverse.get((candidate.circuit_id, destination))
            if taken is None or taken.association is association or taken.circuit is not candidate:
                chosen = candidate
                break
        route = routes[destination] = _Route(association, chosen, destination, now)
        self._reverse[(route.circuit_id, destination)] = route
        self._circuit_owner[route.circuit_id] = association
        self.statistics.routes_created += 1
        logger.debug("SOCKS5 association %r: %s via circuit %d", association.connection, destination,
                     route.circuit_id)
        return route

    def _unlink(self, route: _Route) -> None:
        """Remove ``route`` from the reverse table (its association's table is the caller's business)."""
        key = (route.circuit_id, route.destination)
        if self._reverse.get(key) is route:
            del self._reverse[key]

    def _forget(self, association: _Association) -> None:
        for route in association.routes.values():
            self._unlink(route)
        association.routes.clear()
        for circuit_id in [cid for cid, owner in self._circuit_owner.items() if owner is association]:
            del self._circuit_owner[circuit_id]

    def sweep(self) -> None:
        """
        Forget idle mappings, mappings whose circuit is no longer READY, and idle associations without mappings.

        Runs every ``sweep_interval`` seconds; callable directly (tests, or to free memory at once).
        """
        now = self.clock.seconds()
        deadline = now - self.settings.idle_timeout
        statistics = self.statistics
        for connection, association in list(self._associations.items()):
            routes = association.routes
            stale = [destination for destination, route in routes.items()
                     if route.last_used < deadline or route.circuit.state != CIRCUIT_STATE_READY]
            for destination in stale:
                self._unlink(routes.pop(destination))
            statistics.routes_expired += len(stale)
            if not routes and association.last_used < deadline:
                del self._associations[connection]
                self._forget(association)
        # Every circuit still mapped keeps an owner for data from unknown origins: the current one if it still
        # uses the circuit, else the association that mapped it last.
        users: dict[int, list[_Association]] = {}
        for association in self._associations.values():
            for circuit_id in {route.circuit_id for route in association.routes.values()}:
                users.setdefault(circuit_id, []).append(association)
        owners = self._circuit_owner
        self._circuit_owner = {circuit_id: owners[circuit_id] if owners.get(circuit_id) in candidates
                               else max(candidates, key=lambda a: a.last_used)
                               for circuit_id, candidates in users.items()}

    def _sweep_failed(self, failure: Failure) -> None:
        logger.error("SOCKS5 dispatcher expiry stopped: %s", failure.getTraceback())

    # -- ending --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the expiry, unregister from the community and forget every association (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._sweeper.running:
            self._sweeper.stop()
        self.community.remove_raw_data_sink(self)
        for association in self._associations.values():
            self._forget(association)
        self._associations.clear()
        self._reverse.clear()
        self._circuit_owner.clear()


class Socks5FrontDoor:
    """
    SOCKS5 servers sharing one :class:`TunnelDispatcher`, as :func:`start_socks5_servers` returns them.

    :ivar dispatcher: the dispatcher (the servers' sink).
    :ivar servers: the listening :class:`~ipv8.messaging.anonymization.socks5.server.Socks5Server` instances.
    :ivar hops: the circuit length their clients get.
    """

    def __init__(self, dispatcher: TunnelDispatcher, servers: list[Socks5Server], hops: int,
                 owns_dispatcher: bool) -> None:
        """Bundle started servers; see :func:`start_socks5_servers`."""
        self.dispatcher = dispatcher
        self.servers = servers
        self.hops = hops
        self._owns_dispatcher = owns_dispatcher

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The ``(host, port)`` each server listens on (for clients: ``Socks5Client(address)``)."""
        return [server.address for server in self.servers if server.address is not None]

    def statistics(self) -> dict[str, object]:
        """The dispatcher's counters and every server's totals, as plain data."""
        return {"dispatcher": self.dispatcher.statistics.as_dict(),
                "servers": [server.get_statistics().as_dict() for server in self.servers]}

    def stop(self) -> Deferred:
        """Stop every server (ending their associations), then close the dispatcher if this front door made it."""
        done = DeferredList([server.stop() for server in self.servers], consumeErrors=True)

        def closed(_: object) -> None:
            if self._owns_dispatcher:
                self.dispatcher.close()
        return done.addCallback(closed)


def start_socks5_servers(community: Any, count: int = 1, hops: int = 1, *,  # noqa: ANN401
                         interface: str = "127.0.0.1", allow_non_loopback: bool = False,
                         ports: Sequence[int] | None = None, dispatcher: TunnelDispatcher | None = None,
                         dispatcher_settings: DispatcherSettings | None = None,
                         server_options: dict[str, Any] | None = None, reactor: Any = None,  # noqa: ANN401
                         clock: IReactorTime | None = None) -> Deferred:
    """
    Start ``count`` SOCKS5 servers whose clients' UDP traffic goes through ``hops``-hop circuits of ``community``.

    Circuits are not built here: ask the community for them (``community.build_tunnels(hops)``); until one is
    READY the clients' datagrams are dropped and counted (``no_circuit``).

    :param community: the TunnelCommunity.
    :param count: how many servers (each on its own port; one per application keeps their traffic apart).
    :param hops: the circuit length for all of them (1-255).
    :param interface: the IP literal to listen on; loopback unless ``allow_non_loopback``.
    :param allow_non_loopback: explicitly allow another interface (anyone who can reach the server can then send
        traffic through the tunnels in this node's name).
    :param ports: a TCP port per server (0: chosen by the system, the default for all).
    :param dispatcher: an existing dispatcher to share (it is then not closed by ``stop``); by default a new one.
    :param dispatcher_settings: settings for the new dispatcher.
    :param server_options: further :class:`~ipv8.messaging.anonymization.socks5.server.Socks5Settings` fields
        (e.g. ``max_associations``) applied to every server.
    :param reactor: provides TCP and UDP (the global reactor by default).
    :param clock: times handshakes and expiry (default: ``reactor`` for the servers, the community's clock for
        a new dispatcher).
    :returns: a Deferred firing with a :class:`Socks5FrontDoor` once all servers listen, or failing with the first
        listening error (the servers already started are stopped again).
    :raises Socks5ConfigurationError: for a non-loopback ``interface`` without ``allow_non_loopback``, or another
        bad argument (raised at once, before anything listens).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        msg = f"count must be a positive integer, got {count!r}"
        raise Socks5ConfigurationError(msg)
    if isinstance(hops, bool) or not isinstance(hops, int) or not 1 <= hops <= 255:
        msg = f"hops must be an integer in 1-255, got {hops!r}"
        raise Socks5ConfigurationError(msg)
    try:
        loopback = ipaddress.ip_address(interface).is_loopback
    except (ValueError, TypeError):
        msg = f"interface must be an IP literal, got {interface!r}"
        raise Socks5ConfigurationError(msg) from None
    if not loopback and not allow_non_loopback:
        msg = (f"refusing to listen for SOCKS5 clients on {interface}: it is not a loopback address, so anyone who "
               "can reach it could send traffic through the tunnels in this node's name; pass "
               "allow_non_loopback=True to do this knowingly")
        raise Socks5ConfigurationError(msg)
    port_list = list(ports) if ports is not None else [0] * count
    if len(port_list) != count:
        msg = f"ports names {len(port_list)} ports for {count} servers"
        raise Socks5ConfigurationError(msg)
    options = dict(server_options or {})
    for reserved in ("interface", "port", "hops"):
        if reserved in options:
            msg = f"server_options may not set {reserved!r}: it is an argument of start_socks5_servers"
            raise Socks5ConfigurationError(msg)
    settings = [Socks5Settings(interface=interface, port=port, hops=hops, **options) for port in port_list]
    owns = dispatcher is None
    if dispatcher is None:
        dispatcher = TunnelDispatcher(community, dispatcher_settings, clock=clock)
    servers = [Socks5Server(sink=dispatcher, settings=setting, reactor=reactor, clock=clock) for setting in settings]
    front_door = Socks5FrontDoor(dispatcher, servers, hops, owns)

    def failed(failure: Failure) -> Deferred:
        # gatherResults wraps the first error; undo what did start and hand the original error on.
        error = failure.value.subFailure if failure.check(FirstError) else failure
        return front_door.stop().addCallback(lambda _: error)

    started = gatherResults([server.start() for server in servers], consumeErrors=True)
    return started.addCallbacks(lambda _: front_door, failed)


__all__ = ["DROP_ASSOCIATION_CAP", "DROP_CLIENT_GONE", "DROP_CLOSED", "DROP_NO_CIRCUIT", "DROP_SEND_FAILED",
           "DispatcherSettings", "DispatcherStatistics", "Socks5FrontDoor", "TunnelDispatcher",
           "start_socks5_servers"]
