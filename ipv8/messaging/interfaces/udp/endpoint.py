"""UDP endpoints (IPv4 and IPv6) on top of Twisted's datagram transport.

The endpoint is its own :class:`~twisted.internet.protocol.DatagramProtocol`. Opening it binds a
socket: when the requested port is taken, the next ports are tried (up to ``PORT_SEARCH_SPAN`` in
all) and :meth:`UDPEndpoint.get_address` reports the port that was actually bound.

Sending is best effort, as UDP is: a datagram that cannot go out (endpoint closed, too large, unusable
destination, refused by the OS) is dropped, logged at debug level and counted per reason in
:attr:`~ipv8.messaging.interfaces.endpoint.Endpoint.drops`. Only programming errors raise (a packet
that is not bytes).

The address tuples are re-exported here because that is where IPv8 users import them from::

    from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import socket
from typing import TYPE_CHECKING, Any, ClassVar

from twisted.internet import error as twisted_errors
from twisted.internet import udp as twisted_udp
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorSocket
from twisted.internet.protocol import DatagramProtocol
from twisted.python import log as twisted_log
from twisted.python.failure import Failure

from ....types import Address
from ...addresses import DomainAddress, UDPv4Address, UDPv4LANAddress, UDPv6Address
from ..endpoint import Endpoint, EndpointConfigurationError
from ..traffic import DropReason

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort

SocketOption = tuple[int, int, int]

#: Largest UDP payload over IPv4: 65535 minus the 20-byte IP header and the 8-byte UDP header.
UDP_MAX_PAYLOAD_IPV4 = 65507
#: Largest UDP payload over IPv6 without jumbograms: 65535 minus the 8-byte UDP header.
UDP_MAX_PAYLOAD_IPV6 = 65527
#: Requested kernel socket buffer size for both directions (the kernel may cap it).
SOCKET_BUFFER_BYTES = 870400
#: How many consecutive ports ``open()`` tries, starting at the requested one.
PORT_SEARCH_SPAN = 10000
#: Receive buffer handed to Twisted: large enough for any datagram.
_READ_SIZE = 65536
#: bind() errors that mean "this port is not for us, try the next one".
_PORT_UNAVAILABLE = {errno.EADDRINUSE, errno.EACCES}
#: Default read budget: bytes of datagrams an endpoint reads from its socket per reactor turn at most
#: (Twisted's own limit is 256 KiB; see :class:`UDPEndpoint` for why this is larger).
DEFAULT_READ_BUDGET_BYTES = 1 << 20
#: Default read budget: datagrams an endpoint reads from its socket per reactor turn at most.
DEFAULT_READ_BUDGET_DATAGRAMS = 512
#: Largest accepted read budgets (a turn that reads more than this would starve everything else for long).
MAX_READ_BUDGET_BYTES = 64 << 20
MAX_READ_BUDGET_DATAGRAMS = 65536
#: recvfrom() errors that end a read turn quietly (Twisted's UDP port treats them the same way).
_READ_AGAIN = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR}
_READ_REFUSED = {errno.ECONNREFUSED}


class _PortUnavailable(Exception):
    """Internal: binding a single port failed in a way that makes the next port worth trying."""


class UDPEndpoint(Endpoint, DatagramProtocol):
    """
    An IPv4 UDP socket as an IPv8 endpoint.

    **Read budget.** When the socket is readable, one reactor turn reads at most ``read_budget_datagrams``
    datagrams (default 512) and stops once ``read_budget_bytes`` bytes of them (default 1 MiB) have been read;
    what is left waits in the kernel's receive buffer for the next turn. The budget trades loss against fairness:

    * too small, and a socket that receives bursts falls behind by a little every turn until its receive buffer
      overflows and the kernel drops datagrams. Twisted's own reader stops at 256 KiB, which is less than one
      burst of 256 tunnel cells (~1.1 KB each): bench/tunnels.py lost 5-10% of an unpaced 1-hop flood at one hop
      with it, and nothing with this budget;
    * too large, and one busy socket holds the reactor: timers and the other sockets wait until its turn is
      done. Twisted counts bytes only, so a flood of small datagrams (each costing a handler call) could take
      4,096 handler calls per turn from one socket; the datagram limit bounds that. Measured with
      ``bench/_tunnel_read_budget.py`` on a busy 2-vCPU machine (64-byte datagrams, 20 us of work each): worst
      timer lag 35-80 ms with 512 datagrams per turn, 85-120 ms with 1,024, 130-650 ms with Twisted's reader.
      In the tunnel flood the worst lag did not change (45-90 ms either way: the sender's own bursts set it).

    The budget is set per endpoint (``read_budget_bytes`` / ``read_budget_datagrams``, or
    :meth:`set_read_budget`) and applies to Twisted's POSIX UDP port; other reactors keep their own reader. It
    does not change the receive buffer (``SO_RCVBUF``, 870,400 bytes requested by default as pyipv8 does; the
    kernel caps it at ``net.core.rmem_max``), which is what absorbs a burst between two turns.
    """

    SOCKET_FAMILY: ClassVar[int] = socket.AF_INET
    IP_VERSION: ClassVar[int] = 4
    MAX_DATAGRAM_SIZE: ClassVar[int] = UDP_MAX_PAYLOAD_IPV4
    ADDRESS_CLASS: ClassVar[type] = UDPv4Address
    DEFAULT_SOCKET_OPTIONS: ClassVar[list[SocketOption]] = [
        (socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER_BYTES),
        (socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER_BYTES),
    ]

    noisy = False  # keep Twisted from logging every start and stop of this protocol

    def __init__(self, port: int = 0, ip: str = "0.0.0.0", sockopts: list[SocketOption] | None = None,
                 reactor: Any = None, *, read_budget_bytes: int = DEFAULT_READ_BUDGET_BYTES,  # noqa: ANN401
                 read_budget_datagrams: int = DEFAULT_READ_BUDGET_DATAGRAMS) -> None:
        """
        Prepare an endpoint; nothing is bound until :meth:`open`.

        :param port: the first port to try; 0 lets the operating system choose.
        :param ip: the local address to bind to (an IP literal of this endpoint's family).
        :param sockopts: ``(level, option, value)`` triples set on the socket, replacing the defaults
            (enlarged send and receive buffers).
        :param reactor: the Twisted reactor to use (default: the global one).
        :param read_budget_bytes: bytes of datagrams read from the socket per reactor turn at most (see the
            class documentation).
        :param read_budget_datagrams: datagrams read from the socket per reactor turn at most.
        :raises EndpointConfigurationError: for a port outside 0-65535, an ``ip`` that is not a literal
            of this endpoint's address family or a read budget out of range (:func:`check_read_budget`).
        """
        Endpoint.__init__(self)
        self._read_budget = check_read_budget(read_budget_bytes, read_budget_datagrams)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            msg = f"Port must be an integer in 0-65535, got {port!r}"
            raise EndpointConfigurationError(msg)
        try:
            version = ipaddress.ip_address(ip).version
        except (ValueError, TypeError):
            version = None
        if version != self.IP_VERSION:
            msg = f"{type(self).__name__} needs an IPv{self.IP_VERSION} literal to bind to, got {ip!r}"
            raise EndpointConfigurationError(msg)
        self._requested_port = port
        self._ip = ip
        self._sockopts = list(self.DEFAULT_SOCKET_OPTIONS if sockopts is None else sockopts)
        self._reactor = reactor
        self._listening_port: IListeningPort | None = None
        self._usable_hosts: dict[object, bool] = {}
        self._sources: dict[tuple, Address | bool] = {}
        self._destinations: dict[object, tuple[str, int]] = {}
        self._running = False
        self._closing: Deferred | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def _get_reactor(self) -> Any:  # noqa: ANN401
        if self._reactor is None:
            from twisted.internet import reactor  # noqa: PLC0415 - importing installs the default reactor

            self._reactor = reactor
        return self._reactor

    def open(self) -> Deferred:
        """
        Bind the socket and start receiving.

        :returns: a Deferred firing True once listening (also when already open) or False when no port
            in the search range could be bound.
        """
        if self._running:
            return succeed(True)
        if self._closing is not None:
            # Twisted only lets a protocol join a new port once the previous port is fully gone.
            return _follow(self._closing).addCallback(lambda _: self.open())
        try:
            self._listening_port = self._bind_in_range()
        except OSError as exc:
            self._logger.warning("Could not open UDP endpoint on %s:%d: %s", self._ip, self._requested_port, exc)
            return succeed(False)
        self._running = True
        if not apply_read_budget(self._listening_port, *self._read_budget):
            self._logger.debug("This reactor's UDP port takes no read budget; reading with its own limits")
        self._logger.debug("Listening on %s", self.get_address())
        return succeed(True)

    def _bind_in_range(self) -> IListeningPort:
        first = self._requested_port
        candidates = [0] if first == 0 else range(first, min(first + PORT_SEARCH_SPAN, 65536))
        for candidate in candidates:
            try:
                return self._bind(candidate)
            except _PortUnavailable:
                self._logger.debug("Port %d is unavailable, trying the next one", candidate)
        msg = f"no free port in {first}-{candidates[-1]}"
        raise OSError(errno.EADDRINUSE, msg)

    def _bind(self, port: int) -> IListeningPort:
        reactor = self._get_reactor()
        if IReactorSocket.providedBy(reactor):
            return self._bind_then_adopt(reactor, port)
        return self._listen(reactor, port)

    def _bind_then_adopt(self, reactor: Any, port: int) -> IListeningPort:  # noqa: ANN401
        # Binding ourselves lets options that only work before bind() (IPV6_V6ONLY) take effect.
        sock = socket.socket(self.SOCKET_FAMILY, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            self._apply_socket_options(sock)
            try:
                sock.bind((self._ip, port))
            except OSError as exc:
                if exc.errno in _PORT_UNAVAILABLE:
                    raise _PortUnavailable from exc
                raise
            return reactor.adoptDatagramPort(sock.fileno(), self.SOCKET_FAMILY, self, maxPacketSize=_READ_SIZE)
        finally:
            sock.close()  # Twisted works on its own duplicate of the descriptor

    def _listen(self, reactor: Any, port: int) -> IListeningPort:  # noqa: ANN401
        # For reactors that cannot adopt sockets; options are applied after bind() as far as possible.
        try:
            listening = reactor.listenUDP(port, self, interface=self._ip, maxPacketSize=_READ_SIZE)
        except twisted_errors.CannotListenError as exc:
            if getattr(exc.socketError, "errno", None) in _PORT_UNAVAILABLE:
                raise _PortUnavailable from exc
            raise OSError(getattr(exc.socketError, "errno", None), str(exc)) from exc
        handle = getattr(listening, "getHandle", None)
        if handle is not None:
            self._apply_socket_options(handle())
        return listening

    def _apply_socket_options(self, sock: socket.socket) -> None:
        for level, option, value in self._sockopts:
            try:
                sock.setsockopt(level, option, value)
            except OSError as exc:
                self._logger.debug("Socket option (%d, %d) = %d not applied: %s", level, option, value, exc)

    def close(self) -> Deferred:
        """
        Stop receiving and release the socket; sends made from now on are dropped.

        :returns: a Deferred firing None once the socket is closed (immediately if it was not open).
        """
        if self._closing is not None:
            return _follow(self._closing)
        if not self._running:
            return succeed(None)
        self._running = False
        listening, self._listening_port = self._listening_port, None
        stopped = listening.stopListening() if listening is not None else None
        if stopped is None:
            return succeed(None)
        self._closing = stopped
        stopped.addBoth(self._closed)  # may run right away if the reactor stops the port synchronously
        return _follow(stopped)

    def _closed(self, result: object) -> None:
        self._closing = None
        if isinstance(result, Failure):
            self._logger.warning("Error while closing UDP endpoint: %s", result.getErrorMessage())

    @property
    def read_budget(self) -> tuple[int, int]:
        """The read budget per reactor turn as ``(bytes, datagrams)`` (see the class documentation)."""
        return self._read_budget

    def set_read_budget(self, budget_bytes: int, budget_datagrams: int) -> None:
        """
        Change the read budget per reactor turn; applies to the open socket right away and to later opens.

        :raises EndpointConfigurationError: for values out of range (:func:`check_read_budget`).
        """
        self._read_budget = check_read_budget(budget_bytes, budget_datagrams)
        if self._listening_port is not None:
            apply_read_budget(self._listening_port, *self._read_budget)

    def is_open(self) -> bool:
        """Whether the socket is bound and the endpoint accepts sends."""
        return self._running

    def get_address(self) -> Address:
        """
        The local address actually bound, as a ``UDPv4Address`` (or ``UDPv6Address``).

        :raises EndpointClosedException: if the endpoint is not open.
        """
        self.assert_open()
        host = self.transport.getHost()
        return self.ADDRESS_CLASS(host.host, host.port)

    # -- sending -----------------------------------------------------------------------------------

    def send(self, socket_address: Address, packet: bytes) -> None:
        """
        Send one datagram to ``socket_address`` (an ``(ip, port)`` pair of this endpoint's family).

        Undeliverable datagrams are dropped and counted, never raised.

        :raises TypeError: if ``packet`` is not bytes-like.
        """
        if packet.__class__ is not bytes:
            if not isinstance(packet, (bytes, bytearray, memoryview)):
                msg = f"A packet must be bytes, got {type(packet).__name__}"
                raise TypeError(msg)
            packet = bytes(packet)
        if not self._running:
            self._drop(DropReason.CLOSED, socket_address)
            return
        size = len(packet)
        if size > self.MAX_DATAGRAM_SIZE:
            self._drop(DropReason.OVERSIZE, socket_address, size)
            return
        # The checked (host, port) per destination: checking costs more than the rest of this method, and
        # peers are few compared with the datagrams sent to them. A port that only equals an int (5.0 == 5)
        # finds the int's entry, so the port's type is checked on every hit (the full check refuses it).
        try:
            destination = self._destinations.get(socket_address)
        except TypeError:  # unhashable: certainly not an (ip, port) tuple
            destination = None
        if destination is None or socket_address[1].__class__ is not int:
            destination = self._check_destination(socket_address)
            if destination is None:
                self._drop(DropReason.BAD_ADDRESS, socket_address)
                return
        # Straight to the socket when the transport has one: Twisted's ``write`` checks the IP literal again on
        # every datagram (three parses), which _as_host_port has already done once per host; that was ~15% of
        # the CPU of a datagram relayed through a 3-hop circuit (bench/tunnels.py). The errors are the same.
        sendto = getattr(getattr(self.transport, "socket", None), "sendto", None)
        try:
            if sendto is not None:
                sendto(packet, destination)
            else:
                self.transport.write(packet, destination)
        except (twisted_errors.InvalidAddressError, ValueError, TypeError):
            self._drop(DropReason.BAD_ADDRESS, socket_address)
        except ConnectionRefusedError:
            # What Twisted's write does: an ICMP error from an earlier datagram says nothing about this one.
            self.counters.count_sent(size)
        except (twisted_errors.MessageLengthError, OSError) as exc:
            self._drop(DropReason.SEND_ERROR, socket_address, exc)
        else:
            self.counters.count_sent(size)

    def _check_destination(self, socket_address: object) -> tuple[str, int] | None:
        """:func:`_as_host_port` for this endpoint's IP version, remembering destinations that pass."""
        destination = _as_host_port(socket_address, self.IP_VERSION)
        if destination is not None and socket_address[1].__class__ is int:  # type: ignore[index]
            if len(self._destinations) >= _ADDRESS_CACHE_SIZE:
                self._destinations.clear()
            self._destinations[socket_address] = destination  # type: ignore[index]
        return destination

    def _drop(self, reason: str, address: object, detail: object = None) -> None:
        self.counters.count_drop(reason)
        self._logger.debug("Dropped datagram for %r (%s%s)", address, reason, f": {detail}" if detail else "")

    # -- receiving ---------------------------------------------------------------------------------

    def datagramReceived(self, datagram: bytes, addr: tuple) -> None:  # noqa: N802 - Twisted's name
        """Called by Twisted for each incoming datagram: count it and hand it to the listeners."""
        if not self._running:
            self.counters.count_drop(DropReason.RECEIVED_WHILE_CLOSED)
            return
        # The wrapped sender per (host, port) Twisted hands us: peers send from few addresses, and checking and
        # wrapping one costs more than the rest of this method. False: not an address of our family.
        source = self._sources.get(addr)
        if source is None:
            source = self._source_address(addr)
            if len(self._sources) >= _ADDRESS_CACHE_SIZE:
                self._sources.clear()
            self._sources[addr] = False if source is None else source
        if source is False or source is None:
            self.counters.count_drop(DropReason.UNSUPPORTED_FAMILY)
            return
        self.counters.count_received(len(datagram))
        self.notify_listeners((source, datagram))

    def _source_address(self, addr: tuple) -> Address | None:
        """Wrap the sender in this endpoint's address class, or None if it is not of our family."""
        host = addr[0]
        usable = self._usable_hosts.get(host)
        if usable is None:
            # Parsing an IP costs more than the rest of the receive path; peers send from few hosts.
            usable = self._host_is_usable(host)
            if len(self._usable_hosts) >= _USABLE_HOST_CACHE_SIZE:
                self._usable_hosts.clear()
            self._usable_hosts[host] = usable
        return self.ADDRESS_CLASS(host, addr[1]) if usable else None

    def _host_is_usable(self, host: object) -> bool:
        try:
            ip = ipaddress.ip_address(host)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False
        return ip.version == self.IP_VERSION and not (ip.version == 6 and ip.ipv4_mapped is not None)


def check_read_budget(budget_bytes: object, budget_datagrams: object) -> tuple[int, int]:
    """
    Validate a read budget (see :class:`UDPEndpoint`) and return it as ``(bytes, datagrams)``.

    :raises EndpointConfigurationError: unless both are integers, bytes in 1-``MAX_READ_BUDGET_BYTES`` and
        datagrams in 1-``MAX_READ_BUDGET_DATAGRAMS``.
    """
    for name, value, ceiling in (("bytes", budget_bytes, MAX_READ_BUDGET_BYTES),
                                 ("datagrams", budget_datagrams, MAX_READ_BUDGET_DATAGRAMS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
            msg = f"Read budget ({name}) must be an integer in 1-{ceiling}, got {value!r}"
            raise EndpointConfigurationError(msg)
    return budget_bytes, budget_datagrams  # type: ignore[return-value]


def apply_read_budget(port: object, budget_bytes: int, budget_datagrams: int) -> bool:
    """
    Make ``port`` read at most ``budget_datagrams`` datagrams and about ``budget_bytes`` bytes per reactor turn.

    Only Twisted's own UDP port (``twisted.internet.udp.Port``, what the POSIX reactors' ``listenUDP`` and
    ``adoptDatagramPort`` return) can be given a budget; for any other port nothing changes and False is
    returned. Like Twisted's limit, the byte budget counts datagram payloads and is checked after each
    datagram, so a turn may end up to one datagram above it.
    """
    if not isinstance(port, twisted_udp.Port):
        return False
    port.maxThroughput = budget_bytes  # what Twisted's own reader would use: keep the two consistent
    # An instance attribute shadows Port.doRead, which the reactor calls when the socket is readable. Twisted's
    # reader has no datagram limit, and a byte limit alone lets a flood of small datagrams (each one costing a
    # handler call, possibly a signature check) hold the reactor for thousands of calls per turn.
    port.doRead = functools.partial(_read_turn, port, budget_bytes, budget_datagrams)  # type: ignore[method-assign]
    return True


def _read_turn(port: twisted_udp.Port, budget_bytes: int, budget_datagrams: int) -> None:
    """One reactor turn of reading ``port`` within its budget (Twisted's ``Port.doRead`` plus a datagram count)."""
    recvfrom = port.socket.recvfrom
    size = port.maxPacketSize
    received = port.protocol.datagramReceived
    trim_address = port.addressFamily == socket.AF_INET6  # (host, port, flow, scope) -> (host, port), as Twisted
    read = 0
    for _ in range(budget_datagrams):
        try:
            data, addr = recvfrom(size)
        except OSError as exc:
            if exc.errno in _READ_AGAIN:
                return
            if exc.errno in _READ_REFUSED:
                if getattr(port, "_connectedAddr", None):
                    port.protocol.connectionRefused()
                return
            raise
        if trim_address:
            addr = addr[:2]
        try:
            received(data, addr)
        except BaseException:  # noqa: BLE001 - as Twisted: a failing handler must not stop the port
            twisted_log.err()
        read += len(data)
        if read >= budget_bytes:
            return


_USABLE_HOST_CACHE_SIZE = 65536
#: Remembered (host, port) pairs per endpoint and direction (checked destinations, wrapped senders); emptied when
#: full, so that a flood from many ports costs a little CPU, not memory.
_ADDRESS_CACHE_SIZE = 4096


class UDPv6Endpoint(UDPEndpoint):
    """An IPv6 UDP socket as an IPv8 endpoint; IPv6-only, so it can share its port number with an IPv4 endpoint."""

    SOCKET_FAMILY: ClassVar[int] = socket.AF_INET6
    IP_VERSION: ClassVar[int] = 6
    MAX_DATAGRAM_SIZE: ClassVar[int] = UDP_MAX_PAYLOAD_IPV6
    ADDRESS_CLASS: ClassVar[type] = UDPv6Address
    DEFAULT_SOCKET_OPTIONS: ClassVar[list[SocketOption]] = [
        *UDPEndpoint.DEFAULT_SOCKET_OPTIONS,
        (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1),
    ]

    def __init__(self, port: int = 0, ip: str = "::", sockopts: list[SocketOption] | None = None,
                 reactor: Any = None, *, read_budget_bytes: int = DEFAULT_READ_BUDGET_BYTES,  # noqa: ANN401
                 read_budget_datagrams: int = DEFAULT_READ_BUDGET_DATAGRAMS) -> None:
        """Prepare an IPv6 endpoint (see :class:`UDPEndpoint` for the parameters); binds to all addresses by default."""
        super().__init__(port, ip, sockopts, reactor, read_budget_bytes=read_budget_bytes,
                         read_budget_datagrams=read_budget_datagrams)


def _as_host_port(address: object, ip_version: int) -> tuple[str, int] | None:
    """
    Turn a destination into the plain ``(host, port)`` tuple Twisted wants.

    Returns None unless ``address`` is an ``(ip literal, port)`` pair of the given IP version: host
    names are refused here rather than resolved.
    """
    if not isinstance(address, tuple) or len(address) != 2:
        return None
    host, port = address
    if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
        return None
    version = _IP_VERSION_OF_HOST.get(host)
    if version is None:
        # Parsing is the dearest step of a send; peers are few compared with the packets sent to them.
        try:
            version = ipaddress.ip_address(host).version
        except ValueError:
            version = 0
        if len(_IP_VERSION_OF_HOST) >= _USABLE_HOST_CACHE_SIZE:
            _IP_VERSION_OF_HOST.clear()
        _IP_VERSION_OF_HOST[host] = version
    return (host, port) if version == ip_version else None


#: host string -> 4, 6 or 0 (not an IP literal); shared by all endpoints, bounded.
_IP_VERSION_OF_HOST: dict[str, int] = {}


def _follow(source: Deferred) -> Deferred:
    """A new Deferred that fires with None when ``source`` fires, leaving ``source``'s own chain untouched."""
    follower: Deferred = Deferred()

    def relay(result: object) -> object:
        follower.callback(None)
        return result

    source.addBoth(relay)
    return follower


__all__ = [
    "DEFAULT_READ_BUDGET_BYTES",
    "DEFAULT_READ_BUDGET_DATAGRAMS",
    "MAX_READ_BUDGET_BYTES",
    "MAX_READ_BUDGET_DATAGRAMS",
    "PORT_SEARCH_SPAN",
    "SOCKET_BUFFER_BYTES",
    "UDP_MAX_PAYLOAD_IPV4",
    "UDP_MAX_PAYLOAD_IPV6",
    "Address",
    "DomainAddress",
    "SocketOption",
    "UDPEndpoint",
    "UDPv4Address",
    "UDPv4LANAddress",
    "UDPv6Address",
    "UDPv6Endpoint",
    "apply_read_budget",
    "check_read_budget",
]
