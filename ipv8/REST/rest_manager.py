"""Serve the REST resource tree over HTTP or HTTPS: :class:`RESTManager` and the site in front of the tree.

The site does the work that must happen before any resource is touched (see :mod:`ipv8.REST.guard`): it
checks the ``Host`` and ``Origin`` headers, the API key (``X-Api-Key`` header or ``apikey`` query
parameter), the body size and media type, answers CORS preflight requests of allowed origins and refuses
malformed paths. The generated documentation under ``/docs`` stays readable without the key.
"""
from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING, Any, Sequence

from twisted.internet.defer import Deferred, DeferredList, fail, maybeDeferred, succeed
from twisted.protocols.policies import WrappingFactory
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Site

from ..util import get_reactor
from .base_endpoint import BadRequest, BaseEndpoint, ErrorResource
from .guard import (CORS_ALLOWED_HEADERS, CORS_ALLOWED_METHODS, CORS_MAX_AGE, DEFAULT_MAX_BODY_SIZE, NOSNIFF,
                    APIChannel, GuardedRequest, GuardPolicy, cors_headers, is_loopback_address, is_preflight, screen)
from .inputs import InputError, check_path
from .reactor_endpoint import ReactorLagProbe
from .root_endpoint import RootEndpoint
from .tls import tls_wrapper

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort
    from twisted.web.server import Request

logger = logging.getLogger(__name__)

#: Seconds ``stop()`` gives open connections to close before cutting them.
CLOSE_TIMEOUT = 5.0
#: Bytes of randomness in a key made by :func:`generate_api_key`.
API_KEY_BYTES = 32


def generate_api_key(nbytes: int = API_KEY_BYTES) -> str:
    """A fresh random API key (URL-safe text, so it also works in the ``apikey`` query parameter)."""
    return secrets.token_urlsafe(nbytes)


def is_public_tree(endpoint: BaseEndpoint) -> bool:
    """Whether every operation under ``endpoint`` is declared ``public`` (and there is at least one)."""
    operations = []
    pending = [endpoint]
    while pending:
        current = pending.pop()
        operations.extend(current.operations.values())
        pending.extend(child for _, child in current.child_endpoints())
    return bool(operations) and all(operation.public for operation in operations)


class PreflightResource(Resource):
    """
    Answers a CORS preflight request with 204. The site has already refused foreign origins and added
    ``Access-Control-Allow-Origin`` for allowed ones; without that header the browser refuses by itself.
    """

    isLeaf = True

    def render(self, request: Request) -> bytes:
        """Send the permissions with an empty 204 answer."""
        request.setResponseCode(204)
        if request.responseHeaders.hasHeader(b"Access-Control-Allow-Origin"):
            request.setHeader(b"Access-Control-Allow-Methods", CORS_ALLOWED_METHODS.encode("ascii"))
            request.setHeader(b"Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS.encode("ascii"))
            request.setHeader(b"Access-Control-Max-Age", CORS_MAX_AGE.encode("ascii"))
        return b""


class APISite(Site):
    """
    The ``twisted.web`` site of the REST API: the gate of :mod:`ipv8.REST.guard`, then the resource tree.

    :param root: the root of the resource tree.
    :param api_key: the key every request (except for public routes like ``/docs`` and CORS preflights)
                    must carry; ``None`` or empty for an open API.
    :param cors_origins: origins (``https://app.example``) whose web pages may call the API.
    :param allowed_hosts: ``Host`` values accepted besides ``localhost`` and loopback addresses.
    :param max_body_size: the largest accepted request body, in bytes.
    :param check_host: check the ``Host`` header (the manager does so when listening on loopback).
    :raises TypeError: for options of the wrong type.
    :raises ValueError: for a malformed origin or host, or a body limit below 1.
    """

    noisy = False
    displayTracebacks = False
    protocol = APIChannel

    def __init__(self, root: BaseEndpoint, api_key: str | None = None, *, cors_origins: Sequence[str] = (),
                 allowed_hosts: Sequence[str] = (), max_body_size: int = DEFAULT_MAX_BODY_SIZE,
                 check_host: bool = True) -> None:
        """Create the site; see the class documentation."""
        super().__init__(root, requestFactory=GuardedRequest)
        self.policy = GuardPolicy.build(api_key or None, cors_origins, allowed_hosts, max_body_size, check_host,
                                        self.is_public_segment)
        #: The key in force (``None``: open API); the documentation reads it to declare the security scheme.
        self.api_key = api_key or None

    def is_public_segment(self, segment: bytes) -> bool:
        """Whether the top-level path ``segment`` holds only public operations (the documentation)."""
        child = self.resource.children.get(segment) if isinstance(self.resource, Resource) else None
        return isinstance(child, BaseEndpoint) and is_public_tree(child)

    def getResourceFor(self, request: Request) -> Resource:  # noqa: N802 - twisted.web's name
        """Refuse what the gate refuses, answer preflights and malformed paths, then traverse the tree."""
        secure = request.isSecure()
        request.setHeader(NOSNIFF[0].encode("ascii"), NOSNIFF[1].encode("ascii"))
        for name, value in cors_headers(self.policy, request.requestHeaders, secure).items():
            request.setHeader(name.encode("ascii"), value.encode("latin-1"))
        if not getattr(request, "txipv8_screened", False):
            # The connection did not screen it (another channel class): do it now, before anything is parsed.
            verdict = screen(self.policy, request.method, request.uri, request.requestHeaders,
                             _body_length(request), secure)
            if verdict is not None:
                return ErrorResource(verdict)
        if is_preflight(request.method, request.requestHeaders):
            return PreflightResource()
        try:
            check_path(request.path)
        except InputError as exc:
            return ErrorResource(BadRequest(str(exc)))
        return super().getResourceFor(request)

    def is_authorized(self, request: Request) -> bool:
        """Whether ``request`` passes the gate (right key, public path or open API, acceptable headers)."""
        return screen(self.policy, request.method, request.uri, request.requestHeaders, 0,
                      request.isSecure()) is None

    def log(self, request: Request) -> None:
        """Log the request at debug level (the path only: the query string may hold the API key)."""
        logger.debug("%s %s -> %s", request.method.decode("ascii", "replace"),
                     request.path.decode("utf-8", "replace"), request.code)


def _body_length(request: Request) -> int:
    content = request.content
    if content is None:
        return 0
    position = content.tell()
    content.seek(0, os.SEEK_END)
    length = content.tell()
    content.seek(position)
    return length


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

    def start(self, port: int = 8085, host: str = "127.0.0.1", api_key: str | None = None,  # noqa: PLR0913
              ssl_context: Any = None, cert_file: str | os.PathLike | None = None, *,  # noqa: ANN401
              cors_origins: Sequence[str] = (), allowed_hosts: Sequence[str] = (),
              max_body_size: int = DEFAULT_MAX_BODY_SIZE) -> Deferred[int]:
        """
        Listen on ``host``:``port`` (``port=0`` picks a free port) and serve the API.

        :param api_key: when set, every request outside ``/docs`` must carry it (see :func:`generate_api_key`).
        :param ssl_context: serve HTTPS; an ``ssl.SSLContext``, a PEM file path, a pyOpenSSL ``Context`` or
                            a Twisted server context factory (see :mod:`ipv8.REST.tls`).
        :param cert_file: serve HTTPS with the certificate and private key in this PEM file.
        :param cors_origins: origins (``"https://app.example"``) whose web pages may call the API; by default
                             no web page of another origin may.
        :param allowed_hosts: ``Host`` header values (``"name"`` or ``"name:port"``) accepted besides
                              ``localhost`` and loopback IP addresses. The ``Host`` header is checked when
                              ``host`` is a loopback address, or whenever this list is not empty.
        :param max_body_size: the largest request body accepted, in bytes (413 beyond it).
        :returns: a Deferred that fires with the port number actually listened on. It fails with
                  ``RuntimeError`` when already started, ``TypeError``/``ValueError``/``OSError`` for unusable
                  TLS settings, API key or options, and ``twisted.internet.error.CannotListenError`` when the
                  port is taken.
        """
        if self.listening_port is not None:
            return fail(RuntimeError("the REST API is already running; stop() it first"))
        try:
            site = APISite(self.root_endpoint, api_key, cors_origins=cors_origins, allowed_hosts=allowed_hosts,
                           max_body_size=max_body_size, check_host=is_loopback_address(host))
            wrap_tls = tls_wrapper(ssl_context, cert_file)
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
        logger.info("Dashboard: %s/ui/ (open it in a browser)", self.url)
        return succeed(self.port)

    def stop(self) -> Deferred[None]:
        """Stop listening, close open connections and stop the resources' background work (waiting for it)."""
        if self.listening_port is None:
            return succeed(None)
        listening, tracker = self.listening_port, self._tracker
        self.listening_port, self.site, self._tracker = None, None, None
        try:
            self.root_endpoint.shutdown()
        except Exception:  # noqa: BLE001 - the server must still go down
            logger.exception("A REST resource failed to shut down")
        closing = [maybeDeferred(listening.stopListening), tracker.close_all(self.reactor),
                   maybeDeferred(self.root_endpoint.stopped)]
        return DeferredList(closing, consumeErrors=True).addCallback(lambda _: None)

    # Where we are ---------------------------------------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        """The API key requests must carry while running (``None``: open API, or not running)."""
        return None if self.site is None else self.site.api_key

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


__all__ = ["APISite", "ConnectionTracker", "DEFAULT_MAX_BODY_SIZE", "PreflightResource", "RESTManager",
           "generate_api_key", "is_public_tree"]
