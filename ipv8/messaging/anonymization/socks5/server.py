"""A SOCKS5 server (RFC 1928, UDP ASSOCIATE only) that hands client datagrams to the anonymizing tunnels.

Using it (draft for the anonymization guide)
--------------------------------------------

Programs that are not written in Python reach the tunnels through this front door: they speak SOCKS5 to
127.0.0.1, ask for a UDP association, and send their datagrams through it; the server gives each datagram
to a *sink* (normally a :class:`~ipv8.messaging.anonymization.socks5.dispatcher.TunnelDispatcher` of the
TunnelCommunity, through :class:`~ipv8.messaging.anonymization.socks5.interfaces.ISocksDatagramSink`), which
carries it over a circuit of the configured length, and answers from the circuit come back the same way::

    dispatcher = TunnelDispatcher(tunnel_community)
    server = Socks5Server(sink=dispatcher, settings=Socks5Settings(port=1080, hops=1))
    await server.start()            # listening on 127.0.0.1:1080 (TCP control connections)
    ...
    await server.stop()             # closes every association and the listening socket
    dispatcher.close()

:func:`~ipv8.messaging.anonymization.socks5.dispatcher.start_socks5_servers` does all of this for one or more
servers, and refuses non-loopback interfaces unless explicitly allowed.

Only UDP is carried, so the client must be one that uses SOCKS5's UDP ASSOCIATE: BitTorrent clients built
on libtorrent (e.g. qBittorrent, Deluge: proxy type "SOCKS5", host 127.0.0.1, port 1080, "use proxy for peer
connections") send their uTP, DHT and UDP tracker traffic this way, which is how the deployed network's
users download anonymously. TCP-only tools such as ``curl --socks5-hostname 127.0.0.1:1080`` ask for
CONNECT, which this server answers with "command not supported" (0x07). From Python, the small client in
:mod:`ipv8.messaging.anonymization.socks5.client` speaks the same protocol::

    client = Socks5Client(("127.0.0.1", 1080))
    await client.associate()
    client.sendto(b"hello", ("tracker.example", 6969))   # the name travels unresolved to the exit

Host names in requests are never resolved locally: they reach the sink as
:class:`~ipv8.messaging.addresses.DomainAddress` and are resolved at the exit, so the local DNS resolver never
learns what the client talks to. One server serves one circuit length (``hops``); run one server per length.

Defences: the server listens on 127.0.0.1 unless told otherwise (anyone who can reach it can send traffic
through the tunnels in this node's name), caps concurrent control connections and associations, cuts off
clients that do not finish the handshake in time or send too much, accepts datagrams on a relay socket
only from its client, and counts every drop per reason in :attr:`Socks5Server.statistics`.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import error as twisted_errors
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.protocol import ServerFactory

from ....util import get_reactor
from .connection import AssociationRefused, Socks5Connection
from .interfaces import ISocksAssociationObserver, ISocksDatagramSink, Socks5Statistics
from .messages import MAX_DOMAIN_LENGTH, REP_GENERAL_FAILURE, REP_NOT_ALLOWED
from .udp_connection import Socks5UDPConnection

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress, IListeningPort, IReactorTime

logger = logging.getLogger(__name__)


class Socks5ConfigurationError(ValueError):
    """A :class:`Socks5Settings` value out of range."""


@dataclass
class Socks5Settings:
    """
    How a :class:`Socks5Server` listens and what it tolerates.

    :ivar interface: the address the TCP listener binds to (keep it on loopback: see the module notes).
    :ivar port: the TCP port; 0 lets the operating system choose (read it back from :attr:`Socks5Server.port`).
    :ivar udp_interface: where relay sockets bind; by default the same as ``interface``.
    :ivar hops: the circuit length for this server's clients, handed to the sink with every association.
    :ivar max_connections: concurrent TCP control connections; more are refused at once.
    :ivar max_associations: concurrent UDP associations; more are answered "not allowed" (0x02).
    :ivar handshake_timeout: seconds a client has from connecting to a successful UDP ASSOCIATE reply.
    :ivar max_domain_length: longest host name accepted in requests and datagrams (bytes).
    """

    interface: str = "127.0.0.1"
    port: int = 0
    udp_interface: str | None = None
    hops: int = 1
    max_connections: int = 64
    max_associations: int = 32
    handshake_timeout: float = 10.0
    max_domain_length: int = MAX_DOMAIN_LENGTH

    def __post_init__(self) -> None:
        """Check every field, so a mistake shows at construction and not on the first client."""
        for name in ("interface", "udp_interface"):
            value = getattr(self, name)
            if value is None and name == "udp_interface":
                continue
            try:
                ipaddress.ip_address(value)
            except (ValueError, TypeError):
                msg = f"Socks5Settings.{name} must be an IP literal, got {value!r}"
                raise Socks5ConfigurationError(msg) from None
        checks = (("port", 0, 65535), ("hops", 0, 255), ("max_connections", 1, None),
                  ("max_associations", 1, None), ("max_domain_length", 1, 255))
        for name, low, high in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                msg = f"Socks5Settings.{name} must be an integer in {low}-{high or 'any'}, got {value!r}"
                raise Socks5ConfigurationError(msg)
        if isinstance(self.handshake_timeout, bool) or not isinstance(self.handshake_timeout, (int, float)) \
                or not self.handshake_timeout > 0:
            msg = f"Socks5Settings.handshake_timeout must be a positive number, got {self.handshake_timeout!r}"
            raise Socks5ConfigurationError(msg)


class Socks5Server(ServerFactory):
    """
    The SOCKS5 front door: a TCP listener whose clients get UDP relay sockets feeding a sink.

    :ivar settings: the :class:`Socks5Settings` in force.
    :ivar statistics: counts of the control connections and of every association that has closed; see
        :meth:`get_statistics` for totals including the open ones.
    :ivar connections: the open control connections.
    :ivar associations: the open UDP associations.
    """

    protocol = Socks5Connection
    noisy = False

    def __init__(self, sink: Any = None, settings: Socks5Settings | None = None, *,  # noqa: ANN401
                 reactor: Any = None, clock: IReactorTime | None = None) -> None:  # noqa: ANN401
        """
        Prepare a server; nothing listens until :meth:`start`.

        :param sink: the provider of :class:`~ipv8.messaging.anonymization.socks5.interfaces.ISocksDatagramSink`
            that receives the clients' datagrams; may be set later through :attr:`sink` (until then datagrams
            are dropped as ``no_sink``).
        :param settings: listening address, caps and timeouts (defaults: :class:`Socks5Settings`).
        :param reactor: provides TCP and UDP (the global reactor by default; a
            :class:`~twisted.internet.testing.MemoryReactorClock` with UDP in tests).
        :param clock: times the handshakes (default: ``reactor``).
        :raises TypeError: if ``sink`` does not provide ``ISocksDatagramSink``.
        """
        self.settings = settings if settings is not None else Socks5Settings()
        self.reactor = reactor if reactor is not None else get_reactor()
        self.clock = clock if clock is not None else self.reactor
        self.statistics = Socks5Statistics()
        self.connections: set[Socks5Connection] = set()
        self.associations: set[Socks5UDPConnection] = set()
        self._sink: Any = None
        self.sink = sink
        self._listening: IListeningPort | None = None
        self._stopping = False
        self._closing_associations: set[Deferred] = set()
        self._lost_waiters: dict[Socks5Connection, Deferred] = {}

    # -- the sink ----------------------------------------------------------------------------------------

    @property
    def sink(self) -> Any:  # noqa: ANN401
        """The receiver of the clients' datagrams, or None."""
        return self._sink

    @sink.setter
    def sink(self, sink: Any) -> None:  # noqa: ANN401
        if sink is not None and not ISocksDatagramSink.providedBy(sink):
            msg = f"a SOCKS5 sink must provide ISocksDatagramSink, got {type(sink).__name__}"
            raise TypeError(msg)
        self._sink = sink

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int] | None:
        """The TCP listener's ``(host, port)``, or None when not listening."""
        if self._listening is None:
            return None
        host: IAddress = self._listening.getHost()
        return host.host, host.port

    @property
    def port(self) -> int | None:
        """The TCP port listened on, or None when not listening."""
        address = self.address
        return address[1] if address is not None else None

    def start(self) -> Deferred:
        """
        Start listening for control connections.

        :returns: a Deferred firing with the listening ``(host, port)``, or failing with
            :class:`~twisted.internet.error.CannotListenError`.
        """
        if self._listening is None:
            self._stopping = False
            try:
                self._listening = self.reactor.listenTCP(self.settings.port, self, interface=self.settings.interface)
            except twisted_errors.CannotListenError as exc:
                return fail(exc)
        return succeed(self.address)

    def stop(self) -> Deferred:
        """
        Stop listening, end every control connection and close every relay socket.

        :returns: a Deferred firing None once the listener, the connections and the relay sockets are closed.
        """
        self._stopping = True
        waits: list[Deferred] = []
        listening, self._listening = self._listening, None
        if listening is not None:
            stopped = listening.stopListening()
            if isinstance(stopped, Deferred):
                waits.append(stopped)
        for connection in list(self.connections):
            waiter = self._lost_waiters.get(connection)
            if waiter is None:
                waiter = self._lost_waiters[connection] = Deferred()
            waits.append(self._follow(waiter))
            connection.transport.abortConnection()
        # Associations whose connection is already gone (or never had one) are closed here directly.
        for association in list(self.associations):
            self._close_association(association)
        waits.extend(self._follow(d) for d in self._closing_associations)
        return DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)

    @staticmethod
    def _follow(deferred: Deferred) -> Deferred:
        follower: Deferred = Deferred()
        deferred.addBoth(lambda result: (follower.callback(None), result)[1])
        return follower

    # -- control connections -----------------------------------------------------------------------------

    def buildProtocol(self, addr: IAddress) -> Socks5Connection | None:  # noqa: N802 - Twisted's name
        """A protocol for a new client, or None (Twisted then closes the connection) when over the cap."""
        if self._stopping or len(self.connections) >= self.settings.max_connections:
            self.statistics.drop("connection_cap" if not self._stopping else "stopping")
            return None
        return super().buildProtocol(addr)

    def connection_made(self, connection: Socks5Connection) -> None:
        """Called by a connection once it is connected."""
        self.connections.add(connection)
        self.statistics.connections_accepted += 1

    def connection_lost(self, connection: Socks5Connection, association: Socks5UDPConnection | None) -> None:
        """Called by a connection when it closes: its association ends with it (RFC 1928)."""
        self.connections.discard(connection)
        if association is not None:
            self._close_association(association)
        waiter = self._lost_waiters.pop(connection, None)
        if waiter is not None:
            waiter.callback(None)

    # -- associations ------------------------------------------------------------------------------------

    def open_association(self, connection: Socks5Connection, client_host: str,
                         client_port: int) -> tuple[Socks5UDPConnection, tuple[str, int]]:
        """
        Open a relay socket for ``connection``'s client.

        :returns: the association and the ``(host, port)`` to announce in the reply.
        :raises AssociationRefused: over the cap, while stopping, or when no socket can be bound.
        """
        if self._stopping:
            raise AssociationRefused(REP_GENERAL_FAILURE, "stopping")
        if len(self.associations) >= self.settings.max_associations:
            raise AssociationRefused(REP_NOT_ALLOWED, "association_cap")
        association = Socks5UDPConnection(self, connection, client_host, client_port, self.settings.hops,
                                          self.settings.max_domain_length)
        interface = self.settings.udp_interface or self.settings.interface
        try:
            host, port = association.listen(self.reactor, interface)
        except (twisted_errors.CannotListenError, OSError) as exc:
            logger.warning("SOCKS5 relay socket on %s could not be bound: %s", interface, exc)
            raise AssociationRefused(REP_GENERAL_FAILURE, "udp_bind_failed") from exc
        try:
            unspecified = ipaddress.ip_address(host.split("%", 1)[0]).is_unspecified
        except ValueError:
            unspecified = False
        if unspecified:
            # Bound to all interfaces: tell the client the address it already reaches us on.
            host = connection.transport.getHost().host
        self.associations.add(association)
        self.statistics.associations_opened += 1
        return association, (host, port)

    def association_ready(self, association: Socks5UDPConnection) -> None:
        """Called once the client was told where its relay is: the sink may attach circuits now."""
        sink = self._sink
        if ISocksAssociationObserver.providedBy(sink):
            try:
                sink.on_socks5_association_opened(association)
            except Exception:
                logger.exception("SOCKS5 sink failed on a new association")

    def _close_association(self, association: Socks5UDPConnection) -> None:
        if association not in self.associations:
            return
        self.associations.discard(association)
        closing = association.close()
        self._closing_associations.add(closing)
        closing.addBoth(lambda _: self._closing_associations.discard(closing))
        self.statistics.add(association.statistics)
        sink = self._sink
        if ISocksAssociationObserver.providedBy(sink):
            try:
                sink.on_socks5_association_closed(association)
            except Exception:
                logger.exception("SOCKS5 sink failed on a closed association")

    def get_statistics(self) -> Socks5Statistics:
        """Totals: the server's own counts plus those of every association, open or closed."""
        totals = Socks5Statistics()
        totals.connections_accepted = self.statistics.connections_accepted
        totals.associations_opened = self.statistics.associations_opened
        totals.add(self.statistics)
        for association in self.associations:
            totals.add(association.statistics)
        return totals


__all__ = ["Socks5ConfigurationError", "Socks5Server", "Socks5Settings"]
