"""A guard that keeps a test process on the loopback network.

Once installed, every attempt to send to, connect to, or resolve something outside the allowed networks
(``127.0.0.0/8`` and ``::1`` unless a test widens them with :func:`allow`) is stopped *before* any packet
leaves: the call raises :class:`NetGuardViolation` in the sender, and the attempt is also recorded, so
the test fails even when library code catches the exception.

What is guarded:

* ``socket.socket.sendto``, ``sendmsg``, ``connect`` and ``connect_ex`` for IPv4 and IPv6 sockets, which
  covers raw sockets and every Twisted transport built on them;
* Twisted's UDP ``Port.write`` and ``Port.connect`` (checked first, so the error names the Twisted call);
* name resolution through ``socket.getaddrinfo``, ``gethostbyname``, ``gethostbyname_ex``,
  ``gethostbyaddr`` and ``getnameinfo``: only IP literals, ``localhost`` and this machine's own host name
  may be looked up, as resolving anything else could query a DNS server.

It does not follow subprocesses, and a C extension that talks to the OS directly bypasses it.

Typical use, from a pytest ``conftest.py``::

    from ipv8.test import netguard

    netguard.install()
    ...
    problems = netguard.take_violations()

and in a test that builds its own network namespaces::

    with netguard.allow("10.99.0.0/16"):
        ...
"""
from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Union

NetworkSpec = Union[str, ipaddress.IPv4Network, ipaddress.IPv6Network]

#: Always allowed: the IPv4 loopback block and the IPv6 loopback address.
LOOPBACK_NETWORKS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_INET_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class NetGuardViolation(AssertionError):
    """Raised in place of a network operation that would leave the allowed networks."""


@dataclass(frozen=True)
class Violation:
    """One blocked attempt: what was called, towards what, and from where."""

    operation: str
    destination: str
    stack: str

    def describe(self) -> str:
        """A multi-line report for a test failure message."""
        return f"{self.operation} -> {self.destination}\n{self.stack}"


class NetGuard:
    """The patch set, the allowed networks and the record of violations (one instance per process)."""

    def __init__(self) -> None:
        """Create an uninstalled guard that allows only loopback."""
        self._lock = threading.Lock()
        self._extra_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
        self._violations: list[Violation] = []
        self._restore: list[tuple[object, str, object]] = []

    # -- policy ------------------------------------------------------------------------------------

    @property
    def allowed_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """Loopback plus whatever :meth:`allow` currently adds."""
        return LOOPBACK_NETWORKS + self._extra_networks

    def is_allowed_host(self, host: object) -> bool:
        """Whether sending to ``host`` (an IP literal or ``localhost``) stays inside the allowed networks."""
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str):
            return False
        if host.lower() in _LOCAL_NAMES:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False  # a host name (or "<broadcast>"): sending would resolve or broadcast it
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def _may_resolve(self, host: object) -> bool:
        if host is None:
            return True  # a passive lookup (wildcard address); nothing is asked of a name server
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str) or host == "":
            return True
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return host.lower() in _LOCAL_NAMES or host == socket.gethostname()
        return True  # literals are parsed, not looked up

    @contextlib.contextmanager
    def allow(self, *networks: NetworkSpec) -> Iterator[None]:
        """
        Temporarily allow extra networks (e.g. the ranges of network namespaces a test created itself).

        :raises ValueError: if a network string is not valid CIDR notation.
        """
        added = tuple(ipaddress.ip_network(net) for net in networks)
        with self._lock:
            self._extra_networks = self._extra_networks + added
        try:
            yield
        finally:
            with self._lock:
                remaining = list(self._extra_networks)
                for net in added:
                    remaining.remove(net)
                self._extra_networks = tuple(remaining)

    # -- recording ---------------------------------------------------------------------------------

    def check_host(self, operation: str, host: object, shown: object = None) -> None:
        """Record and raise unless ``host`` is allowed; ``shown`` is what the report names as destination."""
        if not self.is_allowed_host(host):
            self._refuse(operation, host if shown is None else shown)

    def _refuse(self, operation: str, destination: object) -> None:
        stack = "".join(traceback.format_stack(limit=12)[:-2])
        violation = Violation(operation, repr(destination), stack)
        with self._lock:
            self._violations.append(violation)
        msg = f"netguard: blocked {operation} to {destination!r} (only loopback/allowed networks may be used)"
        raise NetGuardViolation(msg)

    def violations(self) -> list[Violation]:
        """The violations recorded so far (a copy)."""
        with self._lock:
            return list(self._violations)

    def take_violations(self) -> list[Violation]:
        """Return the recorded violations and forget them."""
        with self._lock:
            taken, self._violations = self._violations, []
        return taken

    @contextlib.contextmanager
    def expect_violations(self) -> Iterator[list[Violation]]:
        """
        For tests of the guard itself: collect the violations of the block instead of leaving them recorded.

        :raises AssertionError: on exit, if the block caused no violation.
        """
        with self._lock:
            start = len(self._violations)
        caught: list[Violation] = []
        try:
            yield caught
        finally:
            with self._lock:
                caught.extend(self._violations[start:])
                del self._violations[start:]
        if not caught:
            msg = "expected the network guard to block something, but nothing was blocked"
            raise AssertionError(msg)

    # -- patching ----------------------------------------------------------------------------------

    @property
    def installed(self) -> bool:
        """Whether the patches are in place."""
        return bool(self._restore)

    def install(self) -> None:
        """Put the patches in place (again calling it is harmless)."""
        if self.installed:
            return
        self._patch_sockets()
        self._patch_resolver()
        self._patch_twisted_udp()

    def uninstall(self) -> None:
        """Restore every patched function."""
        while self._restore:
            owner, name, original = self._restore.pop()
            setattr(owner, name, original)

    def _replace(self, owner: object, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name)
        setattr(owner, name, make(original))
        self._restore.append((owner, name, original))

    def _check_socket_target(self, sock: socket.socket, operation: str, address: object) -> None:
        if sock.family in _INET_FAMILIES and address is not None:
            host = address[0] if isinstance(address, tuple) and address else address
            self.check_host(operation, host, address)

    def _patch_sockets(self) -> None:
        guard = self

        def sendto(original: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(sock: socket.socket, data: Any, *rest: Any) -> Any:  # noqa: ANN401
                # sendto(data, address) or sendto(data, flags, address)
                guard._check_socket_target(sock, "socket.sendto", rest[-1] if rest else None)
                return original(sock, data, *rest)
            return guarded

        def sendmsg(original: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
                address = kwargs.get("address", args[3] if len(args) > 3 else None)
                guard._check_socket_target(sock, "socket.sendmsg", address)
                return original(sock, *args, **kwargs)
            return guarded

        def connecting(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def make(original: Callable[..., Any]) -> Callable[..., Any]:
                def guarded(sock: socket.socket, address: Any) -> Any:  # noqa: ANN401
                    guard._check_socket_target(sock, label, address)
                    return original(sock, address)
                return guarded
            return make

        self._replace(socket.socket, "sendto", sendto)
        if hasattr(socket.socket, "sendmsg"):
            self._replace(socket.socket, "sendmsg", sendmsg)
        self._replace(socket.socket, "connect", connecting("socket.connect"))
        self._replace(socket.socket, "connect_ex", connecting("socket.connect_ex"))

    def _patch_resolver(self) -> None:
        guard = self

        def by_first_argument(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def make(original: Callable[..., Any]) -> Callable[..., Any]:
                def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
                    if not guard._may_resolve(host):
                        guard._refuse(label, host)
                    return original(host, *args, **kwargs)
                return guarded
            return make

        def reverse(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def make(original: Callable[..., Any]) -> Callable[..., Any]:
                def guarded(address: Any, *args: Any) -> Any:  # noqa: ANN401
                    host = address[0] if isinstance(address, tuple) else address
                    numeric_only = bool(args) and isinstance(args[0], int) and (
                        args[0] & socket.NI_NUMERICHOST)
                    if not numeric_only and not guard.is_allowed_host(host) and host != socket.gethostname():
                        guard._refuse(label, address)
                    return original(address, *args)
                return guarded
            return make

        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
            self._replace(socket, name, by_first_argument(f"socket.{name}"))
        self._replace(socket, "gethostbyaddr", reverse("socket.gethostbyaddr"))
        self._replace(socket, "getnameinfo", reverse("socket.getnameinfo"))

    def _patch_twisted_udp(self) -> None:
        try:
            from twisted.internet import udp  # noqa: PLC0415 - Twisted is optional for this module
        except ImportError:  # pragma: no cover
            return
        guard = self

        def write(original: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(port: Any, datagram: bytes, addr: Any = None) -> Any:  # noqa: ANN401
                if addr is not None:
                    guard.check_host("twisted udp.Port.write", addr[0], addr)
                return original(port, datagram, addr)
            return guarded

        def connect(original: Callable[..., Any]) -> Callable[..., Any]:
            def guarded(port: Any, host: str, number: int) -> Any:  # noqa: ANN401
                guard.check_host("twisted udp.Port.connect", host, (host, number))
                return original(port, host, number)
            return guarded

        self._replace(udp.Port, "write", write)
        self._replace(udp.Port, "connect", connect)


#: The process-wide guard; the module-level functions below act on it.
GUARD = NetGuard()

install = GUARD.install
uninstall = GUARD.uninstall
allow = GUARD.allow
violations = GUARD.violations
take_violations = GUARD.take_violations
expect_violations = GUARD.expect_violations
is_allowed_host = GUARD.is_allowed_host


def format_violations(found: list[Violation]) -> str:
    """A readable report of ``found`` for a test failure."""
    header = f"{len(found)} network guard violation(s): tests may only talk to loopback or allowed networks"
    return "\n\n".join([header, *(violation.describe() for violation in found)])


def main(argv: list[str] | None = None) -> int:
    """
    ``python -m ipv8.test.netguard SCRIPT [ARGS...]``: run a script (a demo, a doc example) behind the guard.

    :returns: the script's exit status, or 3 if it attempted a blocked operation (even a swallowed one).
    """
    import runpy  # noqa: PLC0415
    import sys  # noqa: PLC0415

    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stderr.write("usage: python -m ipv8.test.netguard SCRIPT [ARGS...]\n")
        return 2
    install()
    sys.argv = list(args)
    status: int = 0
    try:
        runpy.run_path(args[0], run_name="__main__")
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # report the crash, then still report what the guard saw
        traceback.print_exc()
        status = 1
    found = take_violations()
    if found:
        sys.stderr.write(format_violations(found) + "\n")
        return 3
    return status


__all__ = [
    "GUARD",
    "LOOPBACK_NETWORKS",
    "NetGuard",
    "NetGuardViolation",
    "Violation",
    "allow",
    "expect_violations",
    "format_violations",
    "install",
    "is_allowed_host",
    "main",
    "take_violations",
    "uninstall",
    "violations",
]


if __name__ == "__main__":
    raise SystemExit(main())
