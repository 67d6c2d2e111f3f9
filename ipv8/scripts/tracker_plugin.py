"""The ``twistd tracker`` command and ``bin/ipv8-tracker``: an IPv8 tracker as a Twisted application.

The protocol (what a tracker remembers and answers) lives in :mod:`ipv8.tracker`; this module binds it
to a UDP port (:class:`TrackerService`) and to a command line (:class:`TrackerOptions`).

A tracker must listen on exactly the port its users know, so a port that cannot be bound (in use, or an
address the machine lacks) ends the program before anything else is logged: one line
``twistd tracker: error: ...`` on stderr and exit status 1. The port is checked when twistd builds the
service; should it be taken between that check and the start, the start gives up the same way.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from typing import TYPE_CHECKING, Any, Callable

from twisted.application.service import IServiceMaker, Service
from twisted.internet.defer import maybeDeferred, succeed
from twisted.logger import Logger
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer

from ..messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv6Endpoint
from ..tracker import DEFAULT_LISTEN_IP, EndpointServer, TrackerConfigurationError
from .startup import StartupAbort, one_line

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from ..types import Address

__all__ = ["StandaloneTrackerService", "TrackerOptions", "TrackerService", "TrackerServiceMaker",
           "TrackerStartError", "check_listen_address", "check_port_is_free", "make_service"]


class TrackerStartError(RuntimeError):
    """The tracker could not bind its UDP port."""


class TrackerService(Service):
    """
    A Twisted service running a tracker on its own UDP port.

    ``startService`` binds the port (exactly ``listen_port``: a tracker that silently moved to another port
    would be useless to the peers that have its address); ``stopService`` stops the server and closes the port.

    :param listen_port: the UDP port (0 picks a free one, handy in tests).
    :param listen_ip: the local IP literal to bind to (IPv4 or IPv6).
    :param reactor: the reactor for the endpoint and the server (the global one by default).
    :param server_options: keyword arguments for :class:`~ipv8.tracker.EndpointServer` (limits, timeouts, key).
    :raises TrackerConfigurationError: for a port outside 0-65535 or an ``listen_ip`` that is not an IP literal.
    """

    name = "tracker"
    log = Logger()

    def __init__(self, listen_port: int, listen_ip: str = DEFAULT_LISTEN_IP, *, reactor: Any = None,  # noqa: ANN401
                 **server_options: Any) -> None:  # noqa: ANN401
        check_listen_address(listen_port, listen_ip)
        self.listen_port = listen_port
        self.listen_ip = listen_ip
        self._reactor = reactor
        self._server_options = server_options
        self.endpoint: UDPEndpoint | None = None
        self.server: EndpointServer | None = None

    def startService(self) -> None:  # noqa: N802 - Twisted's name
        """
        Bind the port and start answering.

        :raises TrackerStartError: if the port cannot be bound.
        """
        endpoint_class = UDPv6Endpoint if ":" in self.listen_ip else UDPEndpoint
        endpoint = endpoint_class(self.listen_port, self.listen_ip, reactor=self._reactor)
        outcome: list[Any] = []
        endpoint.open().addBoth(outcome.append)
        if not outcome or outcome[0] is not True:
            endpoint.close()
            msg = f"cannot listen on UDP {self.listen_ip}:{self.listen_port}"
            raise TrackerStartError(msg)
        bound = endpoint.get_address()
        if self.listen_port and bound[1] != self.listen_port:
            endpoint.close()
            msg = f"UDP port {self.listen_port} on {self.listen_ip} is in use"
            raise TrackerStartError(msg)
        self.endpoint = endpoint
        self.server = EndpointServer(endpoint, clock=self._reactor, **self._server_options)
        super().startService()
        self.log.info("Tracker listening on {ip}:{port}", ip=bound[0], port=bound[1])

    def stopService(self) -> Deferred:  # noqa: N802 - Twisted's name
        """Stop answering and close the port; the Deferred fires once the port is closed."""
        super().stopService()
        server, self.server = self.server, None
        endpoint, self.endpoint = self.endpoint, None
        stopping = maybeDeferred(server.unload) if server is not None else succeed(None)
        if endpoint is not None:
            stopping.addBoth(lambda _: endpoint.close())
        return stopping.addCallback(lambda _: self.log.info("Tracker stopped"))

    def get_address(self) -> Address | None:
        """The address the tracker is bound to, or None when it is not running."""
        return self.endpoint.get_address() if self.endpoint is not None else None


class StandaloneTrackerService(TrackerService):
    """
    The tracker of a ``twistd`` process: if its port cannot be bound, the whole process stops.

    :param abort: called with a one-line reason (default: a :class:`~ipv8.scripts.startup.StartupAbort`).
    """

    def __init__(self, listen_port: int, listen_ip: str = DEFAULT_LISTEN_IP, *,  # noqa: PLR0913
                 abort: Callable[[str], None] | None = None, reactor: Any = None,  # noqa: ANN401
                 **server_options: Any) -> None:  # noqa: ANN401
        super().__init__(listen_port, listen_ip, reactor=reactor, **server_options)
        self.abort = abort if abort is not None else StartupAbort("twistd tracker")

    def startService(self) -> None:  # noqa: N802 - Twisted's name
        """Bind and answer; a port that cannot be bound gives up on the process (no traceback)."""
        try:
            super().startService()
        except TrackerStartError as exc:
            self.abort(str(exc))


def check_listen_address(listen_port: object, listen_ip: object) -> None:
    """
    Validate a tracker's listen port and IP.

    :raises TrackerConfigurationError: for a port outside 0-65535 or an IP that is not a literal.
    """
    if isinstance(listen_port, bool) or not isinstance(listen_port, int) or not 0 <= listen_port <= 65535:
        msg = f"listen_port must be an integer in 0-65535, got {listen_port!r}"
        raise TrackerConfigurationError(msg)
    try:
        ipaddress.ip_address(listen_ip)  # type: ignore[arg-type]
    except ValueError as exc:
        msg = f"listen_ip must be an IP address, got {listen_ip!r}"
        raise TrackerConfigurationError(msg) from exc


def check_port_is_free(listen_port: int, listen_ip: str) -> None:
    """
    Bind and release ``listen_ip:listen_port`` once, to report a taken port before anything starts.

    :raises TrackerStartError: naming the address and the reason.
    """
    family = socket.AF_INET6 if ":" in listen_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((listen_ip, listen_port))
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror or exc})"
            msg = f"UDP port {listen_port} on {listen_ip} {reason}"
            raise TrackerStartError(msg) from None


class TrackerOptions(usage.Options):
    """Command line options of the tracker (``twistd tracker`` and ``bin/ipv8-tracker``)."""

    longdesc = "Answer IPv8 introduction requests for every community, introducing peers to each other."
    optParameters = [  # noqa: RUF012 - Twisted reads this class attribute
        ["listen_port", "p", None, "UDP port to listen on (required; 0 picks a free port).", int],
        ["listen_ip", "i", DEFAULT_LISTEN_IP, "Local IP address to listen on."],
    ]

    def postOptions(self) -> None:  # noqa: N802 - Twisted's name
        """Insist on a port and check both values."""
        if self["listen_port"] is None:
            msg = "--listen_port is required (for example --listen_port=6421)"
            raise usage.UsageError(msg)
        try:
            check_listen_address(self["listen_port"], self["listen_ip"])
        except TrackerConfigurationError as exc:
            raise usage.UsageError(str(exc)) from exc


def make_service(options: TrackerOptions, abort: Callable[[str], None] | None = None) -> TrackerService:
    """
    The tracker service described by parsed :class:`TrackerOptions`; with ``abort``, one that gives up
    on the process when its port cannot be bound (see :class:`StandaloneTrackerService`).
    """
    if abort is None:
        return TrackerService(options["listen_port"], options["listen_ip"])
    return StandaloneTrackerService(options["listen_port"], options["listen_ip"], abort=abort)


@implementer(IServiceMaker, IPlugin)
class TrackerServiceMaker:
    """Makes the tracker service that ``twistd tracker`` runs."""

    tapname = "tracker"
    description = "IPv8 tracker: introduces peers of any community to each other."
    options = TrackerOptions

    def makeService(self, options: TrackerOptions) -> TrackerService:  # noqa: N802 - Twisted's name
        """
        Build the tracker service from the parsed command line; a port that cannot be bound ends twistd
        right here, before it logs anything, with one line on stderr and exit status 1.
        """
        program = f"twistd {self.tapname}"
        try:
            check_port_is_free(options["listen_port"], options["listen_ip"])
        except TrackerStartError as exc:
            sys.stderr.write(f"{program}: error: {one_line(exc)}\n")
            raise SystemExit(1) from None
        return make_service(options, abort=StartupAbort(program))
