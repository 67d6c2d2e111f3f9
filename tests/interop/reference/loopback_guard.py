"""
Keep a reference peer process on the loopback network.

Installed before pyipv8 is imported. It refuses (and counts) every attempt to send to, connect to, or
look up anything outside 127.0.0.0/8 and ::1:

* ``socket.socket.sendto``/``sendmsg``/``connect``/``connect_ex`` raise ``PermissionError`` for other
  destinations (asyncio's UDP transport sends through ``sendto`` and swallows the error, so the count is
  what the test checks);
* name lookups of anything but IP literals, ``localhost`` and this host's name raise ``socket.gaierror``;
* :func:`guard_endpoint` wraps a pyipv8 endpoint's ``send`` so a refused packet is also stopped before it
  reaches the transport and logged with the message id.

The test asserts that the ``refusals`` counters it reports stay at zero.
"""
from __future__ import annotations

import ipaddress
import socket
import sys
import traceback
from collections import Counter
from typing import Any, Callable

_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

#: Refused attempts per operation (e.g. ``"sendto"``, ``"endpoint.send"``, ``"getaddrinfo"``).
REFUSALS: Counter[str] = Counter()
#: A few descriptions of refused attempts, for the test's failure message.
REFUSAL_LOG: list[str] = []


def is_loopback(host: object) -> bool:
    """Whether ``host`` is an IP literal (or a local name) on the loopback network."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _LOOPBACK)


def refuse(operation: str, destination: object) -> None:
    """Count and describe one refused attempt."""
    REFUSALS[operation] += 1
    if len(REFUSAL_LOG) < 20:
        where = "".join(traceback.format_stack(limit=6)[:-2])
        REFUSAL_LOG.append(f"{operation} -> {destination!r}\n{where}")
    print(f"loopback guard: refused {operation} to {destination!r}", file=sys.stderr, flush=True)


def _destination_host(address: object) -> object:
    if isinstance(address, tuple) and address:
        return address[0]
    return address


def _wrap_socket_method(name: str, destination_of: Callable[[tuple], object]) -> None:
    original = getattr(socket.socket, name)

    def guarded(self: socket.socket, *args: Any) -> Any:  # noqa: ANN401
        if self.family in (socket.AF_INET, socket.AF_INET6):
            address = destination_of(args)
            if address is not None and not is_loopback(_destination_host(address)):
                refuse(name, address)
                raise PermissionError(f"loopback guard: {name} to {address!r} refused")
        return original(self, *args)

    guarded.__name__ = name
    setattr(socket.socket, name, guarded)


def _may_resolve(host: object) -> bool:
    if host is None or host in ("", b""):
        return True  # a passive lookup (wildcard): no name server is asked
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower() in _LOCAL_NAMES or host == socket.gethostname()
    return True


def _wrap_lookup(name: str, allowed: Callable[[object], bool]) -> None:
    original: Callable[..., Any] = getattr(socket, name)

    def guarded(host: object, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if not allowed(host):
            refuse(name, host)
            raise socket.gaierror(socket.EAI_NONAME, f"loopback guard: lookup of {host!r} refused")
        return original(host, *args, **kwargs)

    guarded.__name__ = name
    setattr(socket, name, guarded)


def install() -> None:
    """Patch the socket module of this process (once)."""
    if getattr(socket, "_interop_loopback_guard", False):
        return
    # The destination is the last positional argument of sendto (data[, flags], address) and
    # sendmsg (buffers, ancdata, flags, address), and the first of connect and connect_ex.
    _wrap_socket_method("sendto", lambda args: args[-1] if len(args) >= 2 else None)
    _wrap_socket_method("sendmsg", lambda args: args[3] if len(args) >= 4 else None)
    _wrap_socket_method("connect", lambda args: args[0] if args else None)
    _wrap_socket_method("connect_ex", lambda args: args[0] if args else None)
    for lookup in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        _wrap_lookup(lookup, _may_resolve)
    _wrap_lookup("gethostbyaddr", is_loopback)
    socket._interop_loopback_guard = True  # type: ignore[attr-defined]


def guard_endpoint(endpoint: Any) -> None:  # noqa: ANN401
    """Wrap ``endpoint.send`` (a pyipv8 endpoint) so non-loopback packets are refused before the transport."""
    original = endpoint.send

    def send(socket_address: Any, packet: bytes, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        if not is_loopback(_destination_host(socket_address)):
            msg_id = packet[22] if len(packet) > 22 else None
            refuse("endpoint.send", (tuple(socket_address) if isinstance(socket_address, tuple)
                                     else socket_address, f"msg {msg_id}"))
            return None
        return original(socket_address, packet, *args, **kwargs)

    endpoint.send = send


def report() -> dict[str, Any]:
    """The refusal counters and the first few descriptions, JSON-ready."""
    return {"total": sum(REFUSALS.values()), "by_operation": dict(REFUSALS), "log": list(REFUSAL_LOG)}
