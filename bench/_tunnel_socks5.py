"""A minimal SOCKS5 UDP ASSOCIATE client (RFC 1928) for ``bench/tunnels.py`` and its pyipv8 twin; no ``ipv8`` here.

:func:`associate` does the TCP handshake with blocking sockets, so callers run it in a thread while their event
loop serves the SOCKS5 server (Twisted: ``deferToThread``; asyncio: ``asyncio.to_thread``). After it, datagrams
go out of a plain UDP socket on 127.0.0.1 as ``header(destination) + data`` to the association's relay address,
which is all a SOCKS5 UDP client (a BitTorrent client behind the proxy) does per datagram.
"""
from __future__ import annotations

import importlib.util
import ipaddress
import socket
import struct

#: Seconds the handshake may take.
HANDSHAKE_TIMEOUT = 10.0


def socks5_available() -> bool:
    """Whether txipv8 has its SOCKS5 front door wired to circuits (the dispatcher module); call on txipv8's side."""
    try:
        return importlib.util.find_spec("ipv8.messaging.anonymization.socks5.dispatcher") is not None
    except ModuleNotFoundError:
        return False


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("the SOCKS5 server closed the connection")
        data += chunk
    return data


def associate(server: tuple[str, int], client_udp: tuple[str, int]) -> tuple[socket.socket, tuple[str, int]]:
    """
    Open a UDP association with the SOCKS5 server at ``server`` for datagrams from ``client_udp``.

    :returns: the control connection (keep it open: closing it ends the association) and the relay address
        to send the datagrams to.
    :raises ConnectionError: the server refused or answered something else.
    """
    control = socket.create_connection(server, timeout=HANDSHAKE_TIMEOUT)
    control.sendall(b"\x05\x01\x00")  # version 5, one method: no authentication
    if _read_exactly(control, 2) != b"\x05\x00":
        raise ConnectionError("the SOCKS5 server refused the no-authentication method")
    host, port = client_udp
    control.sendall(b"\x05\x03\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port))
    version, reply, _, address_type = _read_exactly(control, 4)
    if version != 5 or reply != 0:
        raise ConnectionError(f"UDP ASSOCIATE refused (reply {reply})")
    if address_type == 1:
        relay_host = socket.inet_ntoa(_read_exactly(control, 4))
    elif address_type == 4:
        relay_host = socket.inet_ntop(socket.AF_INET6, _read_exactly(control, 16))
    else:
        raise ConnectionError(f"unexpected address type {address_type} in the ASSOCIATE reply")
    relay_port = struct.unpack(">H", _read_exactly(control, 2))[0]
    if ipaddress.ip_address(relay_host).is_unspecified:
        relay_host = server[0]  # "send to the address you reached me on"
    return control, (relay_host, relay_port)


def udp_header(destination: tuple[str, int]) -> bytes:
    """The SOCKS5 UDP request header for an IPv4 ``destination`` (RSV, FRAG 0, ATYP 1, address, port)."""
    return b"\x00\x00\x00\x01" + socket.inet_aton(destination[0]) + struct.pack(">H", destination[1])
