"""Serve the REST resource tree over HTTP or HTTPS: :class:`RESTManager` and the site in front of the tree.

The site does the work that must happen before any resource is touched: it answers CORS preflight
requests and refuses requests without the right API key (``X-Api-Key`` header or ``apikey`` query
parameter). The generated documentation under ``/docs`` stays readable without the key.
"""
from __future__ import annotations

import hmac
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from twisted.internet.defer import Deferred, DeferredList, fail, maybeDeferred, succeed
from twisted.protocols.policies import WrappingFactory
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from ..util import get_reactor
from .base_endpoint import ErrorResource, Unauthorized, query_arguments
from .reactor_endpoint import ReactorLagProbe
from .root_endpoint import RootEndpoint
from .tls import tls_wrapper

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort
    from twisted.web.server import Request

    from .base_endpoint import BaseEndpoint

logger = logging.getLogger(__name__)

#: Top-level segment that needs no API key: the generated documentation.
PUBLIC_SEGMENT = b"docs"
#: Seconds ``stop()`` gives open connections to close before cutting them.
CLOSE_TIMEOUT = 5.0
CORS_ALLOWED_METHODS = b"GET, PUT, POST, PATCH, DELETE, OPTIONS"
CORS_MAX_AGE = b"86400"


class PreflightResource(Resource):
    """Answers a CORS preflight request: every origin, method and header may be used."""

    isLeaf = True

    def render(self, request: Request) -> bytes:
        """Send the permissions with an empty 204 answer."""
        request.setResponseCode(204)
        request.setHeader(b"Access-Control-Allow-Methods", CORS_ALLOWED_METHODS)
        requested = request.getHeader(b"Access-Control-Request-Headers")
        request.setHeader(b"Access-Control-Allow-Headers", requested or b"*")
        request.setHeader(b"Access-Control-Max-Age", CORS_MAX_AGE)
        return b""


class APISite(Site):
    """
    The ``twisted.web`` site of the REST API: CORS, the API key gate, then the resource tree.

    :param root: the root of the resource tree.
    :param api_key: the key every request (except for ``/docs`` and CORS preflights) must carry;
                    ``None`` or empty for an open API.
    """

    noisy = False

    displayTracebacks = False

    def __init__(self, root: BaseEndpoint, api_key: str | None = None) -> None:
        """Create the site; see the class documentation."""
        super().__init__(root)
        self.api_key = api_key or None

    def getResourceFor(self, request: Request) -> Resource:  # noqa: N802 - twisted.web's name
        """Answer preflights and refuse unauthorised requests before the tree is traversed."""
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        if request.method == b"OPTIONS" and request.getHeader(b"Access-Control-Request-Method") is not None:
            return PreflightResource()  # browsers never send credentials with a preflight
        if not self.is_authorized(request):
            return ErrorResource(Unauthorized("missing or wrong API key (send it in the X-Api-Key header)"))
        return super().getResourceFor(request)

    def is_authorized(self, request: Request) -> bool:
        """Whether ``request`` may be served: no key is set, the path is public, or it carries the key."""
        if self.api_key is None:
            return True
        first_segment = request.path[1:].split(b"/", 1)[0]
        if unquote_to_bytes(first_segment) == PUBLIC_SEGMENT:
            return True
        given = request.getHeader(b"X-Api-Key")
        if given is None:
            given = (query_arguments(request).get(b"apikey") or [None])[-1]
        return given is not None and hmac.compare_digest(given, self.api_key.encode("utf-8"))

    def log(self, request: Request) -> None:
        """Log the request at debug level (the path only: the query string may hold the API key)."""
        logger.debug("%s %s -> %s", request.method.decode("ascii", "replace"),
                     request.path.decode("utf-8", "replace"), request.code)


class ConnectionTracker(WrappingFactory):
    """Remembers the open connections of the site, so that stopping can close them (keep-alive ones too)."""

    noisy = False  # no "Starting factory" log lines on every start and stop

    def __init__(self, wrapped_factory: Any) -> None:  # noqa: ANN401
        """Track the connections of ``wrapped_factory``."""
        super().__init__(wrapped_factory)
        self._waiting_for_none: list[Deferred[None]] = []

    def unregisterProtocol(self, p: Any) -> None:  # noqa: ANN401, N802 - Twisted's name
        """Forget a closed connection; wake up :meth:`close_all` when it was the last."""
        super().unregisterProtocol(p)
        if not self.protocols:
            waiting, self._waiting_for_none = self._waiting_for_none, []
            for waiter in waiting:
                waiter.callback(None)

    def close_all(self, clock: Any, timeout: float = CLOSE_TIMEOUT) -> Deferred[None]:  # noqa: ANN401
        """Close every connection; cut those still open after ``timeout`` seconds. Fires once all are gone."""
        if not self.protocols:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiting_for_none.append(waiter)
        for protocol in list(self.protocols):
            protocol.loseConnection()

        def cut_stragglers() -> None:
            for protocol in list(self.protocols):
                protocol.abortConnection()
        deadline = clock.callLater(timeout, cut_stragglers)
        return waiter.addBoth(_cancel_timer, deadline)


def _cancel_timer(result: Any, timer: Any) -> Any:  # noqa: ANN401
    if timer.active():
        timer.cancel()
    return result


class RESTManager:
    """
    Runs the REST API of an IPv8 service.

    :param session: the IPv8 object (``overlays``, ``endpoint``, ``network``, ``strategies``...).
    :param root_endpoint_class: the class of the tree's root, :class:`RootEndpoint` by default; it is
                                called without arguments (or with ``lag_probe=`` when one is given).
    :param reactor: the reactor to listen with; the global one by default.
    :param lag_probe: the probe behind ``/debug/reactor``; one on ``reactor`` when omitted.
    """

    def __init__(self, session: Any, root_endpoint_class: type[BaseEndpoint] | None = None,  # noqa: ANN401
                 reactor: Any = None, lag_probe: ReactorLagProbe | None = None) -> None:  # noqa: ANN401
        """Build the resource tree (nothing listens until :meth:`start`)."""
        self.session = session
        self.reactor = reactor if reactor is not None else get_reactor()
        root_class = root_endpoint_class or RootEndpoint
        if lag_probe is None and root_class is RootEndpoint:
            lag_probe = ReactorLagProbe(clock=self.reactor)
        self.root_endpoint: BaseEndpoint = root_class(lag_probe=lag_probe) if lag_probe is not None else root_class()
        self.site: APISite | None = None
        self.listening_port: IListeningPort | None = None
        self._tracker: ConnectionTracker | None = None
        self._scheme = "http"

    # Resources ------------------------------------------------------------------------------------------------

    def register_endpoint(self, path: str, endpoint: BaseEndpoint) -> BaseEndpoint:
        """Serve ``endpoint`` at ``path``; see :meth:`RootEndpoint.register_endpoint`. Works before or after start."""
        register = getattr(self.root_endpoint, "register_endpoint", None)
        if register is None:
            return self.root_endpoint.add_endpoint(path.strip("/"), endpoint)
        return register(path, endpoint)

    # Life cycle -----------------------------------------------------------------------------------------------

    def start(self, port: int = 8085, host: str = "127.0.0.1", api_key: str | None = None,
              ssl_context: Any = None, cert_file: str | os.PathLike | None = None) -> Deferred[int]:  # noqa: ANN401
        """
        Listen on ``host``:``port`` (``port=0`` picks a free port) and serve the API.

        :param api_key: when set, every request outside ``/docs`` must carry it.
        :param ssl_context: serve HTTPS; an ``ssl.SSLContext``, a PEM file path, a pyOpenSSL ``Context`` or
                            a Twisted server context factory (see :mod:`ipv8.REST.tls`).
        :param cert_file: serve HTTPS with the certificate and private key in this PEM file.
        :returns: a Deferred that fires with the port number actually listened on. It fails with
                  ``RuntimeError`` when already started, ``TypeError``/``ValueError``/``OSError`` for unusable
                  TLS settings or API key, and ``twisted.internet.error.CannotListenError`` when the port is
                  taken.
        """
        if self.listening_port is not None:
            return fail(RuntimeError("the REST API is already running; stop() it first"))
        try:
            if api_key is not None and not isinstance(api_key, str):
                raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
            wrap_tls = tls_wrapper(ssl_context, cert_file)
            site = APISite(self.root_endpoint, api_key)
            tracker = ConnectionTracker(site)
            listening = self.reactor.listenTCP(port, wrap_tls(tracker) if wrap_tls else tracker, interface=host)
        except Exception:  # noqa: BLE001 - reported through the Deferred
            return fail(Failure())
        try:
            self.root_endpoint.initialize(self.session)
        except Exception:  # noqa: BLE001 - a resource failed to initialise: do not keep serving a broken tree
            failure = Failure()
            self.root_endpoint.shutdown()
            return maybeDeferred(listening.stopListening).addBoth(lambda _: failure)
        self.site, self._tracker, self.listening_port = site, tracker, listening
        self._scheme = "https" if wrap_tls else "http"
        logger.info("REST API listening on %s", self.url)
        return succeed(self.port)

    def stop(self) -> Deferred[None]:
        """Stop listening, close open connections and stop the resources' background work."""
        if self.listening_port is None:
            return succeed(None)
        listening, tracker = self.listening_port, self._tracker
        self.listening_port, self.site, self._tracker = None, None, None
        try:
            self.root_endpoint.shutdown()
        except Exception:  # noqa: BLE001 - the server must still go down
            logger.exception("A REST resource failed to shut down")
        closing = [maybeDeferred(listening.stopListening), tracker.close_all(self.reactor)]
        return DeferredList(closing, consumeErrors=True).addCallback(lambda _: None)

    # Where we are ---------------------------------------------------------------------------------------------

    @property
    def port(self) -> int | None:
        """The TCP port being listened on, or None when stopped."""
        return None if self.listening_port is None else self.listening_port.getHost().port

    @property
    def url(self) -> str | None:
        """The base URL (``http://127.0.0.1:8085``), or None when stopped."""
        if self.listening_port is None:
            return None
        host = self.listening_port.getHost().host
        return f"{self._scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"


__all__ = ["APISite", "ConnectionTracker", "PreflightResource", "RESTManager"]
