"""The TCP control connection of a SOCKS5 client: method negotiation, the request, and the association's life.

States, in order (a connection only moves forward)::

    GREETING --(05 00)--> REQUEST --(UDP ASSOCIATE, 05 00 ...)--> ASSOCIATED --(TCP closed)--> CLOSED
        |                    |
        +--(05 FF)-----------+--(05 07 / 05 08 / 05 02 / 05 01)--> CLOSED

* GREETING: the client lists its authentication methods; only "no authentication" (0x00) is accepted, any
  other offer is answered with 0xFF and the connection closed.
* REQUEST: UDP ASSOCIATE opens a relay socket (see
  :class:`~ipv8.messaging.anonymization.socks5.udp_connection.Socks5UDPConnection`) and answers with its
  address; CONNECT, BIND and unknown commands get "command not supported" (0x07), an unknown address type
  0x08, a refusal by the association cap "not allowed" (0x02), a socket that cannot be bound or a malformed
  request "general failure" (0x01). Every failure reply is followed by closing the connection.
* ASSOCIATED: the connection only keeps the association alive (RFC 1928: it ends when the TCP connection
  does); bytes the client still sends are discarded and counted.

Input that is not SOCKS5 at all (a wrong version byte) is dropped without a reply. Until the request is
answered the connection buffers at most :data:`MAX_HANDSHAKE_BUFFER` bytes and lives at most the server's
handshake timeout (on its injected clock); a client that is slower, or sends more, is cut off.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from twisted.internet.protocol import Protocol

from .messages import (
    CMD_UDP_ASSOCIATE,
    MAX_GREETING_LENGTH,
    MAX_REQUEST_LENGTH,
    METHOD_NO_ACCEPTABLE,
    METHOD_NO_AUTH,
    REP_COMMAND_NOT_SUPPORTED,
    REP_SUCCEEDED,
    Socks5ProtocolError,
    decode_greeting,
    decode_request,
    encode_method_reply,
    encode_reply,
)

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall
    from twisted.python.failure import Failure

    from .udp_connection import Socks5UDPConnection

#: The most a client may have sent before its request is answered: a greeting and a request of the largest
#: possible sizes (a client may send both at once without waiting for the method reply).
MAX_HANDSHAKE_BUFFER = MAX_GREETING_LENGTH + MAX_REQUEST_LENGTH

logger = logging.getLogger(__name__)


class ConnectionState:
    """The states of a :class:`Socks5Connection` (plain strings, for logs and tests)."""

    GREETING = "greeting"
    REQUEST = "request"
    ASSOCIATED = "associated"
    CLOSED = "closed"


class AssociationRefused(Exception):
    """The server will not open an association; carries the reply code and the drop reason."""

    def __init__(self, reply: int, reason: str) -> None:
        """Record the REP code to answer with and the reason to count."""
        super().__init__(reason)
        self.reply = reply
        self.reason = reason


class Socks5Connection(Protocol):
    """
    One client's control connection, built by :class:`~ipv8.messaging.anonymization.socks5.server.Socks5Server`.

    :ivar state: one of the :class:`ConnectionState` values.
    :ivar association: the UDP association once UDP ASSOCIATE succeeded, else None.
    """

    def __init__(self) -> None:
        """Start in the GREETING state; the server is known once Twisted sets ``factory``."""
        self.factory: Any = None
        self.state = ConnectionState.GREETING
        self.association: Socks5UDPConnection | None = None
        self._buffer = b""
        self._timeout: IDelayedCall | None = None
        self.discarded_bytes = 0

    # -- Twisted callbacks ---------------------------------------------------------------------------

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's name
        """Register with the server and start the handshake timer."""
        self.factory.connection_made(self)
        self._timeout = self.factory.clock.callLater(self.factory.settings.handshake_timeout, self._expire)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        """Feed received bytes to the state machine."""
        if self.state in (ConnectionState.ASSOCIATED, ConnectionState.CLOSED):
            # Nothing is defined after the reply; keeping none of it means a chatty client costs no memory.
            self.discarded_bytes += len(data)
            return
        self._buffer += data
        if len(self._buffer) > MAX_HANDSHAKE_BUFFER:
            self._drop("handshake_too_long")
            return
        try:
            self._advance()
        except Socks5ProtocolError as exc:
            self._fail(exc.reason, exc.reply)

    def connectionLost(self, reason: Failure | None = None) -> None:  # noqa: N802 - Twisted's name
        """Stop the timer, end the association, and let the server forget this connection."""
        self.state = ConnectionState.CLOSED
        self._cancel_timeout()
        self._buffer = b""
        association, self.association = self.association, None
        self.factory.connection_lost(self, association)

    # -- the state machine ---------------------------------------------------------------------------

    def _advance(self) -> None:
        """Consume as many complete messages as the buffer holds."""
        while self._buffer and self.state in (ConnectionState.GREETING, ConnectionState.REQUEST):
            if self.state == ConnectionState.GREETING:
                decoded = decode_greeting(self._buffer)
                if decoded is None:
                    return
                greeting, used = decoded
                self._buffer = self._buffer[used:]
                if METHOD_NO_AUTH not in greeting.methods:
                    self._fail("no_acceptable_method", None, encode_method_reply(METHOD_NO_ACCEPTABLE))
                    return
                self.transport.write(encode_method_reply(METHOD_NO_AUTH))
                self.state = ConnectionState.REQUEST
            else:
                request = decode_request(self._buffer, self.factory.settings.max_domain_length)
                if request is None:
                    return
                self._buffer = b""  # nothing may follow a request before its reply
                self._handle_request(request[0].command, request[0].address)

    def _handle_request(self, command: int, address: tuple[str, int]) -> None:
        if command != CMD_UDP_ASSOCIATE:
            # CONNECT and BIND would need TCP streams through the circuits, which the tunnels do not carry.
            self._fail("command_not_supported", REP_COMMAND_NOT_SUPPORTED)
            return
        peer = self.transport.getPeer()
        try:
            association, bound = self.factory.open_association(self, peer.host, address[1])
        except AssociationRefused as exc:
            self._fail(exc.reason, exc.reply)
            return
        self._cancel_timeout()
        self.association = association
        self.state = ConnectionState.ASSOCIATED
        self.transport.write(encode_reply(REP_SUCCEEDED, bound))
        self.factory.association_ready(association)

    # -- endings -------------------------------------------------------------------------------------

    def _fail(self, reason: str, reply: int | None, message: bytes | None = None) -> None:
        """Count ``reason``, send ``message`` (or a reply with code ``reply``) if any, and close."""
        self.factory.statistics.drop(reason)
        if message is None and reply is not None:
            message = encode_reply(reply)
        if message is not None:
            self.transport.write(message)
        self.state = ConnectionState.CLOSED
        self._buffer = b""
        self.transport.loseConnection()  # flushes the reply first

    def _drop(self, reason: str) -> None:
        """Count ``reason`` and cut the connection without flushing anything (for clients not worth an answer)."""
        self.factory.statistics.drop(reason)
        self.state = ConnectionState.CLOSED
        self._buffer = b""
        self.transport.abortConnection()

    def _expire(self) -> None:
        self._timeout = None
        if self.state in (ConnectionState.GREETING, ConnectionState.REQUEST):
            logger.debug("SOCKS5 client %s did not complete its handshake in time", self.transport.getPeer())
            self._drop("handshake_timeout")
        elif self.state == ConnectionState.CLOSED:
            # Refused earlier, but a client that does not read keeps the graceful close from finishing.
            self.transport.abortConnection()

    def _cancel_timeout(self) -> None:
        if self._timeout is not None:
            if self._timeout.active():
                self._timeout.cancel()
            self._timeout = None


__all__ = ["MAX_HANDSHAKE_BUFFER", "AssociationRefused", "ConnectionState", "Socks5Connection"]
