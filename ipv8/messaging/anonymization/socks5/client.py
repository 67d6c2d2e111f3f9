"""A small SOCKS5 UDP client (RFC 1928 UDP ASSOCIATE), for tests, benchmarks and Python programs.

It does what a UDP-capable SOCKS5 application does: binds a local UDP socket, opens a control connection,
negotiates "no authentication", asks for a UDP association (announcing its socket's port), and then sends
each datagram to the relay with the SOCKS5 UDP header naming the destination. Host names are sent as names
(``ATYP`` 0x03), never resolved here. Example::

    client = Socks5Client(("127.0.0.1", 1080))
    relay = await client.associate()
    client.sendto(b"ping", ("127.0.0.1", 9999))
    source, data = await client.next_datagram()
    await client.close()
"""
from __future__ import annotations

import collections
import ipaddress
import socket
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred, succeed
from twisted.internet.protocol import ClientFactory, DatagramProtocol, Protocol

from ....util import get_reactor
from ...addresses import DomainAddress
from .messages import (
    CMD_UDP_ASSOCIATE,
    METHOD_NO_AUTH,
    REP_SUCCEEDED,
    Socks5ProtocolError,
    SocksAddress,
    decode_method_reply,
    decode_reply,
    decode_udp_datagram,
    encode_greeting,
    encode_request,
    encode_udp_header,
)
from .udp_connection import READ_SIZE, SOCKET_BUFFER_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable

    from twisted.internet.interfaces import IDelayedCall, IListeningPort
    from twisted.python.failure import Failure


class Socks5ClientError(Exception):
    """The association could not be set up; ``reply`` is the server's REP code when it sent one."""

    def __init__(self, message: str, reply: int | None = None) -> None:
        """Describe the failure."""
        super().__init__(message)
        self.reply = reply


class _ControlProtocol(Protocol):
    """The client side of the TCP handshake; reports to its :class:`Socks5Client`."""

    def __init__(self, client: Socks5Client) -> None:
        self.client = client
        self.buffer = b""
        self.stage = "method"

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's name
        self.client._control = self
        self.transport.write(encode_greeting(bytes((METHOD_NO_AUTH,))))

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        if self.stage == "done":
            return
        self.buffer += data
        try:
            if self.stage == "method":
                decoded = decode_method_reply(self.buffer)
                if decoded is None:
                    return
                method, used = decoded
                self.buffer = self.buffer[used:]
                if method != METHOD_NO_AUTH:
                    self.client._failed(Socks5ClientError(f"server refused every offered method (0x{method:02x})"))
                    return
                self.stage = "reply"
                self.transport.write(encode_request(CMD_UDP_ASSOCIATE, self.client._announced_address()))
            if self.stage == "reply":
                reply = decode_reply(self.buffer)
                if reply is None:
                    return
                code, bound, _ = reply
                self.stage = "done"
                self.buffer = b""
                if code != REP_SUCCEEDED:
                    self.client._failed(Socks5ClientError(f"server answered 0x{code:02x}", code))
                    return
                self.client._associated(bound)
        except Socks5ProtocolError as exc:
            self.client._failed(Socks5ClientError(f"unusable answer from the server: {exc}"))

    def connectionLost(self, reason: Failure | None = None) -> None:  # noqa: N802 - Twisted's name
        self.client._control_lost(reason)


class _ControlFactory(ClientFactory):
    noisy = False

    def __init__(self, client: Socks5Client) -> None:
        self.client = client

    def buildProtocol(self, addr: Any) -> _ControlProtocol:  # noqa: ANN401, N802 - Twisted's name
        return _ControlProtocol(self.client)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:  # noqa: ANN401, N802
        self.client._failed(Socks5ClientError(f"cannot reach the SOCKS5 server: {reason.getErrorMessage()}"))


class _RelaySocket(DatagramProtocol):
    noisy = False

    def __init__(self, client: Socks5Client) -> None:
        self.client = client

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:  # noqa: ANN401, N802 - Twisted's name
        self.client._datagram(datagram, addr)


class Socks5Client:
    """
    One UDP association through a SOCKS5 server.

    :ivar relay_address: the relay's ``(host, port)`` once associated.
    :ivar received: datagrams not yet taken by :meth:`next_datagram` (when no ``on_datagram`` is given),
        oldest first, at most ``max_inbox`` of them (older ones are dropped and counted in :attr:`dropped`).
    :ivar lost: a Deferred firing (None) when the control connection ends, i.e. when the association does.
    """

    def __init__(self, server_address: tuple[str, int], *, reactor: Any = None,  # noqa: ANN401
                 timeout: float = 10.0, on_datagram: Callable[[SocksAddress, bytes], object] | None = None,
                 udp_interface: str | None = None, announce_port: bool = True, max_inbox: int = 10000) -> None:
        """
        Prepare a client; nothing happens until :meth:`associate`.

        :param server_address: the SOCKS5 server's ``(host, port)`` (an IP literal).
        :param reactor: the reactor (the global one by default).
        :param timeout: seconds the handshake may take before :meth:`associate` fails.
        :param on_datagram: called with ``(source, data)`` for every datagram from the relay; by default they
            are queued for :meth:`next_datagram`.
        :param udp_interface: where the local UDP socket binds (default: loopback of the server's family when
            the server is on loopback, else the wildcard address).
        :param announce_port: send the local UDP port in the request (True) or all zeros (False), which lets
            the server learn the port from the first datagram.
        :param max_inbox: how many unclaimed datagrams are kept.
        """
        self.server_address = (server_address[0], server_address[1])
        self.reactor = reactor if reactor is not None else get_reactor()
        self.timeout = timeout
        self.on_datagram = on_datagram
        self.announce_port = announce_port
        version = ipaddress.ip_address(self.server_address[0])
        if udp_interface is None:
            udp_interface = str(version) if version.is_loopback else ("::" if version.version == 6 else "0.0.0.0")
        self.udp_interface = udp_interface
        self.relay_address: tuple[str, int] | None = None
        self.received: collections.deque[tuple[SocksAddress, bytes]] = collections.deque()
        self.max_inbox = max_inbox
        self.dropped = 0
        self.lost: Deferred = Deferred()
        self._waiters: collections.deque[Deferred] = collections.deque()
        self._control: _ControlProtocol | None = None
        self._udp_port: IListeningPort | None = None
        self._result: Deferred | None = None
        self._timer: IDelayedCall | None = None
        self._headers: dict[Any, bytes] = {}

    # -- setting up ----------------------------------------------------------------------------------

    def associate(self) -> Deferred:
        """
        Bind the local UDP socket, connect, and ask for a UDP association.

        :returns: a Deferred firing with the relay's ``(host, port)``, or failing with
            :class:`Socks5ClientError` (refused, unreachable, timed out, not SOCKS5).
        """
        if self._result is not None:
            return self._result
        self._result = Deferred()
        self._udp_port = self.reactor.listenUDP(0, _RelaySocket(self), interface=self.udp_interface,
                                                maxPacketSize=READ_SIZE)
        handle = getattr(self._udp_port, "getHandle", None)
        sock = handle() if handle is not None else None
        if isinstance(sock, socket.socket):
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
                except OSError:  # a smaller buffer only means less slack
                    pass
        self._timer = self.reactor.callLater(self.timeout, self._timed_out)
        self.reactor.connectTCP(self.server_address[0], self.server_address[1], _ControlFactory(self),
                                timeout=self.timeout)
        return self._result

    def _announced_address(self) -> tuple[str, int]:
        host = self._udp_port.getHost() if self._udp_port is not None else None
        if not self.announce_port or host is None:
            family = ipaddress.ip_address(self.server_address[0]).version
            return ("::", 0) if family == 6 else ("0.0.0.0", 0)
        return host.host, host.port

    def _associated(self, bound: SocksAddress) -> None:
        host = bound[0]
        if isinstance(bound, DomainAddress) or ipaddress.ip_address(host).is_unspecified:
            host = self.server_address[0]  # "the address you reached me on"
        self.relay_address = (host, bound[1])
        self._finish(self.relay_address)

    def _failed(self, error: Exception) -> None:
        if self._control is not None and self._control.transport is not None:
            self._control.transport.abortConnection()
        self._finish(error)

    def _timed_out(self) -> None:
        self._timer = None
        self._failed(Socks5ClientError(f"no UDP association within {self.timeout} s"))

    def _finish(self, result: object) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._result is not None and not self._result.called:
            if isinstance(result, Exception):
                self._result.errback(result)
            else:
                self._result.callback(result)

    def _control_lost(self, reason: Failure | None) -> None:
        self._control = None
        self._finish(Socks5ClientError("the SOCKS5 server closed the control connection"))
        if not self.lost.called:
            self.lost.callback(None)

    # -- traffic -------------------------------------------------------------------------------------

    def sendto(self, data: bytes, destination: tuple[str, int]) -> None:
        """
        Send ``data`` through the relay to ``destination``: an ``(ip, port)`` pair, a ``(name, port)`` pair
        (sent as a name), or one of the address tuples of :mod:`ipv8.messaging.addresses`.

        :raises Socks5ClientError: before the association is up.
        """
        relay = self.relay_address
        if relay is None or self._udp_port is None:
            msg = "not associated"
            raise Socks5ClientError(msg)
        header = self._headers.get(destination) if not isinstance(destination, DomainAddress) else None
        if header is None:
            header = encode_udp_header(destination)
            if not isinstance(destination, DomainAddress):
                if len(self._headers) >= 1024:
                    self._headers.clear()
                self._headers[destination] = header
        self._udp_port.write(header + data, relay)

    def _datagram(self, datagram: bytes, addr: Any) -> None:  # noqa: ANN401
        if self.relay_address is None or (addr[0], addr[1]) != self.relay_address:
            self.dropped += 1
            return
        try:
            frag, source, data = decode_udp_datagram(datagram, 255)
        except Socks5ProtocolError:
            self.dropped += 1
            return
        if frag:
            self.dropped += 1
            return
        if self.on_datagram is not None:
            self.on_datagram(source, data)
        elif self._waiters:
            self._waiters.popleft().callback((source, data))
        else:
            if len(self.received) >= self.max_inbox:
                self.received.popleft()
                self.dropped += 1
            self.received.append((source, data))

    def next_datagram(self) -> Deferred:
        """A Deferred firing with the next ``(source, data)`` from the relay (at once if one is queued)."""
        if self.received:
            return succeed(self.received.popleft())
        waiter: Deferred = Deferred()
        self._waiters.append(waiter)
        return waiter

    # -- ending --------------------------------------------------------------------------------------

    def close(self) -> Deferred:
        """Close the control connection (ending the association) and the local UDP socket."""
        waits: list[Deferred] = []
        if self._control is not None and self._control.transport is not None:
            self._control.transport.loseConnection()
            waits.append(self._follow(self.lost))
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        port, self._udp_port = self._udp_port, None
        if port is not None:
            waits.append(maybeDeferred(port.stopListening))
        self.relay_address = None
        return gatherResults(waits, consumeErrors=True).addCallback(lambda _: None)

    @staticmethod
    def _follow(deferred: Deferred) -> Deferred:
        follower: Deferred = Deferred()
        deferred.addBoth(lambda result: (follower.callback(None), result)[1])
        return follower


__all__ = ["Socks5Client", "Socks5ClientError"]
