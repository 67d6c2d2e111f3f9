"""The UDP half of a SOCKS5 UDP ASSOCIATE: one relay socket per association.

A client sends ``RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA`` datagrams to the relay socket; the relay checks
where they come from, strips the header and hands ``(destination, data)`` to the server's sink
(:class:`~ipv8.messaging.anonymization.socks5.interfaces.ISocksDatagramSink`). Answers travel the other way
through :meth:`Socks5UDPConnection.send_datagram`, which puts the header (naming the answer's source) back.

Who may use the socket (RFC 1928, section 7): only the IP address the TCP control connection came from, and,
once the client's first datagram was seen (or the port it announced in its request), only that port. Anything
else is dropped and counted, as are fragments (FRAG other than 0: reassembly is optional in the RFC and no
UDP-capable client this serves relies on it) and datagrams whose header cannot be parsed.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING, Any

from twisted.internet import error as twisted_errors
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.protocol import DatagramProtocol
from zope.interface import implementer

from ...addresses import DomainAddress, UDPv4Address
from .interfaces import ISocksUDPConnection, Socks5Statistics
from .messages import MAX_DOMAIN_LENGTH, Socks5ProtocolError, decode_udp_datagram, encode_udp_header

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort

    from .connection import Socks5Connection

#: Receive buffer handed to Twisted: any UDP datagram fits.
READ_SIZE = 65536
#: Largest datagram written to the client (the IPv4 UDP payload limit; IPv6 allows 20 bytes more).
MAX_DATAGRAM_SIZE = 65507
#: Kernel buffer size asked for in each direction, so bursts from a fast client or circuit are not lost.
SOCKET_BUFFER_BYTES = 870400
#: Entries kept in each of the two small header caches (parsed destinations, encoded sources).
HEADER_CACHE_SIZE = 1024

logger = logging.getLogger(__name__)


def _host_for_family(host: str, family: int) -> str:
    """The form ``host`` takes on a socket of ``family`` (IPv4 and IPv4-mapped IPv6 converted both ways)."""
    try:
        parsed = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if family == socket.AF_INET and isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    if family == socket.AF_INET6 and isinstance(parsed, ipaddress.IPv4Address):
        return f"::ffff:{parsed}"
    return host


@implementer(ISocksUDPConnection)
class Socks5UDPConnection(DatagramProtocol):
    """
    The relay socket of one UDP association.

    Created and opened by the server when a client's UDP ASSOCIATE succeeds, closed when the client's TCP
    control connection ends. A sink keeps it as the handle of that client and calls :meth:`send_datagram`.

    :ivar control: the TCP control connection that owns this association.
    :ivar hops: the server's configured circuit length, for the sink (the SOCKS layer does not use it).
    :ivar statistics: this association's traffic and drop counts.
    """

    noisy = False  # no log line for every association that starts or stops

    def __init__(self, server: Any, control: Socks5Connection | None, client_host: str,  # noqa: ANN401
                 client_port: int = 0, hops: int = 1, max_domain_length: int = MAX_DOMAIN_LENGTH) -> None:
        """
        Prepare an association; nothing is bound until :meth:`listen`.

        :param server: the owner; its ``sink`` attribute is read for every datagram, so a sink attached later
            is used from then on.
        :param control: the TCP control connection (None in tests that drive the relay alone).
        :param client_host: the only IP address accepted as a datagram source (the control connection's peer).
        :param client_port: the client's announced UDP port, or 0 to accept the first port it sends from.
        :param hops: see :attr:`hops`.
        :param max_domain_length: longest destination host name accepted.
        """
        self.server = server
        self.control = control
        self.hops = hops
        self.statistics = Socks5Statistics()
        self._client_host = client_host
        self._client_port = client_port
        self._client: tuple[str, int] | None = None
        self._max_domain_length = max_domain_length
        self._listening: IListeningPort | None = None
        self._closing: Deferred | None = None
        self._destinations: dict[bytes, Any] = {}
        self._headers: dict[Any, bytes] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------

    def listen(self, reactor: Any, interface: str) -> tuple[str, int]:  # noqa: ANN401
        """
        Bind the relay socket on ``interface`` with an ephemeral port.

        :returns: the bound ``(host, port)``.
        :raises twisted.internet.error.CannotListenError: when the socket cannot be bound.
        """
        self._listening = reactor.listenUDP(0, self, interface=interface, maxPacketSize=READ_SIZE)
        handle = getattr(self._listening, "getHandle", None)
        sock = handle() if handle is not None else None
        if isinstance(sock, socket.socket):
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
                except OSError as exc:  # the kernel may refuse; the defaults still work, only with less slack
                    logger.debug("SOCKS5 relay buffer option %d not applied: %s", option, exc)
        family = socket.AF_INET6 if ":" in str(self._listening.getHost().host) else socket.AF_INET
        self._client_host = _host_for_family(self._client_host, family)
        if self._client_port:
            self._client = (self._client_host, self._client_port)
        host = self._listening.getHost()
        return host.host, host.port

    @property
    def address(self) -> tuple[str, int] | None:
        """The relay socket's bound ``(host, port)``, or None when not listening."""
        if self._listening is None:
            return None
        host = self._listening.getHost()
        return host.host, host.port

    @property
    def client_address(self) -> tuple[str, int] | None:
        """The client's UDP ``(host, port)`` once announced or seen, else None."""
        return self._client

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closing is not None

    def close(self) -> Deferred:
        """
        Release the relay socket; datagrams arriving from now on are dropped and sends fail.

        :returns: a Deferred firing None once the socket is closed (each call gets its own Deferred).
        """
        if self._closing is None:
            listening, self._listening = self._listening, None
            self._closing = maybeDeferred(listening.stopListening) if listening is not None else succeed(None)
            self._closing.addErrback(lambda failure: logger.warning("SOCKS5 relay did not close cleanly: %s",
                                                                    failure.getErrorMessage()))
        done: Deferred = Deferred()
        self._closing.addBoth(lambda result: (done.callback(None), result)[1])
        return done

    # -- client -> sink ----------------------------------------------------------------------------------

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:  # noqa: ANN401, N802 - Twisted's name
        """Check a datagram from the client and hand its payload to the sink."""
        statistics = self.statistics
        if self._closing is not None:
            statistics.drop("closed")
            return
        if addr != self._client:
            host, port = addr[0], addr[1]
            if host != self._client_host:
                statistics.drop("foreign_source")
                return
            if self._client is not None:
                statistics.drop("foreign_port")
                return
            self._client = (host, port)  # RFC 1928: the first datagram names the client's port
        # Nearly all traffic goes to IPv4 destinations: their 10-byte header is looked up, not parsed.
        if datagram[3:4] == b"\x01" and datagram[:3] == b"\x00\x00\x00":
            key = datagram[:10]
            destination = self._destinations.get(key)
            if destination is None:
                destination = self._parse(datagram)
                if destination is None:
                    return
                if len(self._destinations) >= HEADER_CACHE_SIZE:
                    self._destinations.clear()
                self._destinations[key] = destination
            data = datagram[10:]
        else:
            try:
                frag, destination, data = decode_udp_datagram(datagram, self._max_domain_length)
            except Socks5ProtocolError as exc:
                statistics.drop(exc.reason)
                return
            if frag:
                statistics.drop("fragment")
                return
            if not destination.port:
                statistics.drop("bad_destination")
                return
        sink = self.server.sink
        if sink is None:
            statistics.drop("no_sink")
            return
        try:
            accepted = sink.on_socks5_udp_data(self, destination, data)
        except Exception:
            logger.exception("SOCKS5 sink failed on a datagram for %s", destination)
            statistics.drop("sink_error")
            return
        if accepted is False:
            statistics.drop("rejected_by_sink")
            return
        statistics.datagrams_to_sink += 1
        statistics.bytes_to_sink += len(data)

    def _parse(self, datagram: bytes) -> UDPv4Address | None:
        """The destination of an unfragmented IPv4 datagram whose header is not cached yet (None: dropped)."""
        if len(datagram) < 10:
            self.statistics.drop("malformed_datagram")
            return None
        destination = decode_udp_datagram(datagram[:10]).address
        if not destination.port:
            self.statistics.drop("bad_destination")
            return None
        return destination

    # -- sink -> client ----------------------------------------------------------------------------------

    def send_datagram(self, source: tuple[str, int], data: bytes) -> bool:
        """
        Send ``data`` to the client, with a SOCKS5 UDP header saying it comes from ``source``.

        :param source: where the data came from: an address tuple (IPv4 or IPv6 literal), or a
            :class:`~ipv8.messaging.addresses.DomainAddress`.
        :returns: True if the datagram was handed to the operating system; False if it was dropped (the
            client's port is not known yet, the association is closed, the source cannot be encoded, the
            datagram is too large, or the socket refused it), counted per reason.
        """
        statistics = self.statistics
        client = self._client
        listening = self._listening
        if client is None or listening is None:
            statistics.drop("no_client" if listening is not None else "closed")
            return False
        # A domain source and an IP source with the same text compare equal as tuples but encode differently,
        # so only IP sources go through the cache.
        by_name = isinstance(source, DomainAddress)
        header = None if by_name else self._headers.get(source)
        if header is None:
            try:
                header = encode_udp_header(source)
            except (ValueError, TypeError, OSError, IndexError):
                statistics.drop("bad_source")
                return False
            if not by_name:
                if len(self._headers) >= HEADER_CACHE_SIZE:
                    self._headers.clear()
                self._headers[source] = header
        packet = header + data
        if len(packet) > MAX_DATAGRAM_SIZE:
            statistics.drop("oversize")
            return False
        try:
            self.transport.write(packet, client)
        except (OSError, twisted_errors.MessageLengthError, twisted_errors.InvalidAddressError) as exc:
            logger.debug("SOCKS5 relay could not send to %s: %s", client, exc)
            statistics.drop("send_error")
            return False
        statistics.datagrams_to_client += 1
        statistics.bytes_to_client += len(data)
        return True

    def __repr__(self) -> str:
        return f"<Socks5UDPConnection {self.address} client={self._client_host}:{self._client_port or '*'}>"


__all__ = ["HEADER_CACHE_SIZE", "MAX_DATAGRAM_SIZE", "Socks5UDPConnection"]
