"""SOCKS5 wire structures (RFC 1928): encoders and incremental, hostile-input-safe decoders.

Everything here is pure (bytes in, values out): no sockets, no reactor. The TCP decoders work on a buffer
that may hold a partial message and answer ``None`` for "need more bytes", so the control connection can
feed them whatever TCP delivered; any byte sequence that can never become a valid message raises
:class:`Socks5ProtocolError`, which names the reply code to send (if any) and the drop reason to count.

Addresses are the named tuples of :mod:`ipv8.messaging.addresses`: ``ATYP`` 0x01 decodes to
:class:`~ipv8.messaging.addresses.UDPv4Address`, 0x04 to :class:`~ipv8.messaging.addresses.UDPv6Address` and
0x03 (a domain name) to :class:`~ipv8.messaging.addresses.DomainAddress`, whose host is never resolved here:
resolving is the exit's job, as a local lookup would reveal to the local resolver what the client talks to.
"""
from __future__ import annotations

import ipaddress
import re
import socket
import struct
from typing import NamedTuple

from ...addresses import DomainAddress, UDPv4Address, UDPv6Address

#: The protocol version byte of every SOCKS5 message.
SOCKS_VERSION = 0x05

# -- authentication methods (greeting) -------------------------------------------------------------------
#: "NO AUTHENTICATION REQUIRED", the only method this server offers.
METHOD_NO_AUTH = 0x00
#: GSSAPI (refused).
METHOD_GSSAPI = 0x01
#: Username/password, RFC 1929 (refused).
METHOD_USERNAME_PASSWORD = 0x02
#: "NO ACCEPTABLE METHODS": the server's answer when the client offers no method it supports.
METHOD_NO_ACCEPTABLE = 0xFF

# -- commands (request) -----------------------------------------------------------------------------------
CMD_CONNECT = 0x01
CMD_BIND = 0x02
CMD_UDP_ASSOCIATE = 0x03

# -- address types ------------------------------------------------------------------------------------------
ATYP_IPV4 = 0x01
ATYP_DOMAIN = 0x03
ATYP_IPV6 = 0x04

# -- reply codes (REP field) ------------------------------------------------------------------------------
REP_SUCCEEDED = 0x00
REP_GENERAL_FAILURE = 0x01
REP_NOT_ALLOWED = 0x02
REP_NETWORK_UNREACHABLE = 0x03
REP_HOST_UNREACHABLE = 0x04
REP_CONNECTION_REFUSED = 0x05
REP_TTL_EXPIRED = 0x06
REP_COMMAND_NOT_SUPPORTED = 0x07
REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08

#: Longest DNS name (RFC 1035 presentation form without the trailing dot); the wire allows 255.
MAX_DOMAIN_LENGTH = 253
#: The longest greeting: VER, NMETHODS and up to 255 methods.
MAX_GREETING_LENGTH = 2 + 255
#: The longest request: VER, CMD, RSV, ATYP, a 1+255 byte domain and the port.
MAX_REQUEST_LENGTH = 4 + 1 + 255 + 2

# Host names are handed on, never resolved; still, only the characters a DNS name can hold get through, so a
# sink never sees control characters, spaces or separators that could confuse logs or a resolver later.
_DOMAIN_CHARACTERS = re.compile(rb"[A-Za-z0-9_.-]+")
_PORT = struct.Struct(">H")

#: A destination or source address as this package hands it out.
SocksAddress = UDPv4Address | UDPv6Address | DomainAddress


class Socks5ProtocolError(ValueError):
    """
    Input that can never become a valid SOCKS5 message.

    :ivar reason: a short drop reason (a key of the server's drop counters).
    :ivar reply: the REP code to answer with before closing, or None to close without a reply (when the
        peer does not even speak SOCKS5, an answer in SOCKS5 would mean nothing to it).
    """

    def __init__(self, message: str, reason: str, reply: int | None = None) -> None:
        """Describe the problem; see the class documentation for ``reason`` and ``reply``."""
        super().__init__(message)
        self.reason = reason
        self.reply = reply


class MethodSelection(NamedTuple):
    """A client's greeting: the authentication methods it offers."""

    methods: bytes


class Request(NamedTuple):
    """A client's request: the command and its DST.ADDR / DST.PORT."""

    command: int
    address: SocksAddress


class UdpDatagram(NamedTuple):
    """A decoded UDP relay datagram: fragment number, the address in its header, and the data after it."""

    frag: int
    address: SocksAddress
    data: bytes


# -- addresses ------------------------------------------------------------------------------------------


def validate_domain(raw: bytes, max_length: int = MAX_DOMAIN_LENGTH) -> str:
    """
    Check a domain name taken from the wire and return it as text.

    :raises Socks5ProtocolError: (reason ``bad_domain``) for an empty or too long name, or one with a
        character no DNS name has.
    """
    if not raw or len(raw) > max_length or _DOMAIN_CHARACTERS.fullmatch(raw) is None:
        msg = f"unusable domain name of {len(raw)} bytes"
        raise Socks5ProtocolError(msg, "bad_domain", REP_GENERAL_FAILURE)
    return raw.decode("ascii")


def decode_address(buffer: bytes, offset: int = 0,
                   max_domain_length: int = MAX_DOMAIN_LENGTH) -> tuple[SocksAddress, int] | None:
    """
    Decode ``ATYP | ADDR | PORT`` starting at ``offset``.

    :returns: the address and the offset just after it, or None if ``buffer`` ends before the address does.
    :raises Socks5ProtocolError: for an unknown address type (reason ``bad_address_type``, reply 0x08) or an
        unusable domain name (see :func:`validate_domain`).
    """
    if len(buffer) <= offset:
        return None
    atyp = buffer[offset]
    if atyp == ATYP_IPV4:
        end = offset + 7
        if len(buffer) < end:
            return None
        return UDPv4Address(socket.inet_ntoa(buffer[offset + 1:offset + 5]), _PORT.unpack_from(buffer, end - 2)[0]), end
    if atyp == ATYP_IPV6:
        end = offset + 19
        if len(buffer) < end:
            return None
        host = socket.inet_ntop(socket.AF_INET6, buffer[offset + 1:offset + 17])
        return UDPv6Address(host, _PORT.unpack_from(buffer, end - 2)[0]), end
    if atyp == ATYP_DOMAIN:
        if len(buffer) < offset + 2:
            return None
        end = offset + 2 + buffer[offset + 1] + 2
        if len(buffer) < end:
            return None
        host = validate_domain(bytes(buffer[offset + 2:end - 2]), max_domain_length)
        return DomainAddress(host, _PORT.unpack_from(buffer, end - 2)[0]), end
    msg = f"unknown address type 0x{atyp:02x}"
    raise Socks5ProtocolError(msg, "bad_address_type", REP_ADDRESS_TYPE_NOT_SUPPORTED)


def to_socks_address(host: str, port: int) -> SocksAddress:
    """
    Classify a ``(host, port)`` pair: an IPv4 or IPv6 literal becomes that address type, anything else a
    :class:`~ipv8.messaging.addresses.DomainAddress` (kept as given, not resolved).

    :raises ValueError: for a port outside 0-65535.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        msg = f"port must be an integer in 0-65535, got {port!r}"
        raise ValueError(msg)
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        return DomainAddress(host, port)
    return UDPv4Address(host, port) if version == 4 else UDPv6Address(host, port)


def encode_address(address: tuple[str, int]) -> bytes:
    """
    Encode ``ATYP | ADDR | PORT`` for an address tuple.

    A :class:`~ipv8.messaging.addresses.DomainAddress` is always sent as a name (even when it looks like an
    IP literal); other tuples are classified by :func:`to_socks_address`.

    :raises ValueError: for a bad port, or a name that is not ASCII or longer than 255 bytes.
    """
    host, port = address[0], address[1]
    typed = address if isinstance(address, DomainAddress) else to_socks_address(host, port)
    if isinstance(typed, UDPv4Address):
        return b"\x01" + socket.inet_aton(host) + _PORT.pack(port)
    if isinstance(typed, UDPv6Address):
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + _PORT.pack(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        msg = f"port must be an integer in 0-65535, got {port!r}"
        raise ValueError(msg)
    raw = host.encode("ascii")
    if not raw or len(raw) > 255:
        msg = f"a SOCKS5 domain name holds 1-255 bytes, got {len(raw)}"
        raise ValueError(msg)
    return bytes((ATYP_DOMAIN, len(raw))) + raw + _PORT.pack(port)


# -- TCP control messages -------------------------------------------------------------------------------


def encode_greeting(methods: bytes = bytes((METHOD_NO_AUTH,))) -> bytes:
    """The client's greeting offering ``methods``."""
    return bytes((SOCKS_VERSION, len(methods))) + methods


def decode_greeting(buffer: bytes) -> tuple[MethodSelection, int] | None:
    """
    Decode a greeting at the start of ``buffer``.

    :returns: the greeting and its length, or None while incomplete.
    :raises Socks5ProtocolError: (reason ``bad_version``, no reply) when the first byte is not 5.
    """
    if not buffer:
        return None
    if buffer[0] != SOCKS_VERSION:
        msg = f"greeting of protocol version {buffer[0]}"
        raise Socks5ProtocolError(msg, "bad_version")
    if len(buffer) < 2:
        return None
    end = 2 + buffer[1]
    if len(buffer) < end:
        return None
    return MethodSelection(bytes(buffer[2:end])), end


def encode_method_reply(method: int) -> bytes:
    """The server's choice of method (``0xFF``: none acceptable)."""
    return bytes((SOCKS_VERSION, method))


def decode_method_reply(buffer: bytes) -> tuple[int, int] | None:
    """
    Decode the server's method choice.

    :returns: the method and the length (2), or None while incomplete.
    :raises Socks5ProtocolError: when the version byte is not 5.
    """
    if len(buffer) < 2:
        return None
    if buffer[0] != SOCKS_VERSION:
        msg = f"method reply of protocol version {buffer[0]}"
        raise Socks5ProtocolError(msg, "bad_version")
    return buffer[1], 2


def encode_request(command: int, address: tuple[str, int]) -> bytes:
    """A client request: ``VER CMD RSV`` and the encoded address."""
    return bytes((SOCKS_VERSION, command, 0)) + encode_address(address)


def decode_request(buffer: bytes, max_domain_length: int = MAX_DOMAIN_LENGTH) -> tuple[Request, int] | None:
    """
    Decode a request at the start of ``buffer``.

    :returns: the request and its length, or None while incomplete.
    :raises Socks5ProtocolError: for a wrong version (no reply), a non-zero reserved byte (reply 0x01), an
        unknown address type (reply 0x08) or an unusable domain name (reply 0x01).
    """
    if not buffer:
        return None
    if buffer[0] != SOCKS_VERSION:
        msg = f"request of protocol version {buffer[0]}"
        raise Socks5ProtocolError(msg, "bad_version")
    if len(buffer) < 3:
        return None
    if buffer[2] != 0:
        msg = "request with a non-zero reserved byte"
        raise Socks5ProtocolError(msg, "malformed_request", REP_GENERAL_FAILURE)
    decoded = decode_address(buffer, 3, max_domain_length)
    if decoded is None:
        return None
    address, end = decoded
    return Request(buffer[1], address), end


def encode_reply(reply: int, address: tuple[str, int] = ("0.0.0.0", 0)) -> bytes:
    """The server's reply to a request: ``VER REP RSV`` and BND.ADDR / BND.PORT."""
    return bytes((SOCKS_VERSION, reply, 0)) + encode_address(address)


def decode_reply(buffer: bytes) -> tuple[int, SocksAddress, int] | None:
    """
    Decode the server's reply to a request.

    :returns: the reply code, the bound address and the reply's length, or None while incomplete.
    :raises Socks5ProtocolError: when the version byte is not 5 or the address is malformed.
    """
    if len(buffer) < 3:
        return None
    if buffer[0] != SOCKS_VERSION:
        msg = f"reply of protocol version {buffer[0]}"
        raise Socks5ProtocolError(msg, "bad_version")
    decoded = decode_address(buffer, 3, 255)
    if decoded is None:
        return None
    address, end = decoded
    return buffer[1], address, end


# -- UDP relay datagrams ----------------------------------------------------------------------------------


def encode_udp_header(address: tuple[str, int], frag: int = 0) -> bytes:
    """The header the relay puts before a datagram's data: ``RSV(2) FRAG ATYP ADDR PORT``."""
    return b"\x00\x00" + bytes((frag,)) + encode_address(address)


def encode_udp_datagram(address: tuple[str, int], data: bytes, frag: int = 0) -> bytes:
    """A whole relay datagram: the header for ``address`` followed by ``data``."""
    return encode_udp_header(address, frag) + data


def decode_udp_datagram(datagram: bytes, max_domain_length: int = MAX_DOMAIN_LENGTH) -> UdpDatagram:
    """
    Decode a relay datagram.

    :raises Socks5ProtocolError: for a truncated header (``malformed_datagram``), non-zero reserved bytes
        (``malformed_datagram``), an unknown address type or an unusable domain name.
    """
    if len(datagram) < 4 or datagram[0] or datagram[1]:
        msg = "datagram without a valid SOCKS5 UDP header"
        raise Socks5ProtocolError(msg, "malformed_datagram")
    decoded = decode_address(datagram, 3, max_domain_length)
    if decoded is None:
        msg = "datagram ends inside its SOCKS5 UDP header"
        raise Socks5ProtocolError(msg, "malformed_datagram")
    address, end = decoded
    return UdpDatagram(datagram[2], address, datagram[end:])


__all__ = [
    "ATYP_DOMAIN", "ATYP_IPV4", "ATYP_IPV6", "CMD_BIND", "CMD_CONNECT", "CMD_UDP_ASSOCIATE", "MAX_DOMAIN_LENGTH",
    "MAX_GREETING_LENGTH", "MAX_REQUEST_LENGTH", "METHOD_GSSAPI", "METHOD_NO_ACCEPTABLE", "METHOD_NO_AUTH",
    "METHOD_USERNAME_PASSWORD", "REP_ADDRESS_TYPE_NOT_SUPPORTED", "REP_COMMAND_NOT_SUPPORTED",
    "REP_CONNECTION_REFUSED", "REP_GENERAL_FAILURE", "REP_HOST_UNREACHABLE", "REP_NETWORK_UNREACHABLE",
    "REP_NOT_ALLOWED", "REP_SUCCEEDED", "REP_TTL_EXPIRED", "SOCKS_VERSION", "MethodSelection", "Request",
    "Socks5ProtocolError", "SocksAddress", "UdpDatagram", "decode_address", "decode_greeting",
    "decode_method_reply", "decode_reply", "decode_request", "decode_udp_datagram", "encode_address",
    "encode_greeting", "encode_method_reply", "encode_reply", "encode_request", "encode_udp_datagram",
    "encode_udp_header", "to_socks_address", "validate_domain",
]
