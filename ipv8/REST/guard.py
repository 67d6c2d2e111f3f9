"""The gate in front of the REST resource tree, run as soon as a request's headers have arrived.

A REST API on ``127.0.0.1`` is reachable by every web page the user opens: the browser will send requests
there on the page's behalf. The gate stops that, and it stops hostile clients before they cost anything:

* ``Host`` check: while the API listens on a loopback address, only ``localhost``, loopback IP literals and
  explicitly allowed names are accepted (421 otherwise). A page that re-binds its own DNS name to
  ``127.0.0.1`` still sends its own name, so it is refused.
* ``Origin`` check: a request made by a web page carries ``Origin``. Unless that origin is the API's own
  (the documentation pages) or explicitly allowed, the request is refused (403) and no CORS header is ever
  sent; allowed origins are echoed back in ``Access-Control-Allow-Origin``.
* API key: checked before anything of the request is parsed (401 with py-ipv8's body).
* Body size: a ``Content-Length`` above the limit is answered with 413 at once, before any of the body is
  read; a chunked body is cut off as soon as it grows past the limit.
* Media type: a request with a body must declare ``Content-Type: application/json`` (415). HTML forms and
  ``text/plain`` requests, which browsers send cross-origin without asking, are therefore never executed.

:class:`APIChannel` and :class:`GuardedRequest` hook the gate into ``twisted.web``'s HTTP parser; an early
refusal is written straight to the connection, which is then closed without reading the body.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping
from urllib.parse import unquote_to_bytes, urlsplit

from twisted.web.http import HTTPChannel
from twisted.web.server import Request

from .base_endpoint import JSON_CONTENT_TYPE
from .errors import (BadRequest, Forbidden, MisdirectedRequest, PayloadTooLarge, RESTError, Unauthorized,
                     UnsupportedMediaType)
from .inputs import query_of, split_query

if TYPE_CHECKING:
    from twisted.web.http_headers import Headers

logger = logging.getLogger(__name__)

#: Default largest request body, in bytes (the same limit py-ipv8's aiohttp server applies).
DEFAULT_MAX_BODY_SIZE = 1024 * 1024
#: Seconds a refused client may keep sending (its bytes are discarded) before the connection is cut.
LINGER_SECONDS = 2.0
#: Headers a page on an allowed origin may send (announced in the answer to a CORS preflight).
CORS_ALLOWED_HEADERS = "Content-Type, X-Api-Key"
CORS_ALLOWED_METHODS = "GET, PUT, POST, PATCH, DELETE, OPTIONS"
CORS_MAX_AGE = "600"
#: Sent with every answer: browsers must not guess another media type than the declared one.
NOSNIFF = ("X-Content-Type-Options", "nosniff")
_DEFAULT_PORTS = {"http": 80, "https": 443}


# -- configuration ------------------------------------------------------------------------------------------

def normalize_origin(origin: str) -> str:
    """
    ``scheme://host:port`` in lower case with the port always written out (``"null"`` stays ``"null"``).

    :raises ValueError: if ``origin`` is not an ``http``/``https`` origin without path, query or user.
    """
    if origin == "null":
        return origin
    if origin == "*":
        raise ValueError("'*' is not accepted: list the origins that may use the API")
    parts = urlsplit(origin)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{origin!r} has an invalid port") from None
    if (scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query
            or parts.fragment or parts.username is not None or parts.password is not None):
        raise ValueError(f"{origin!r} is not an origin like 'https://app.example' or 'http://127.0.0.1:3000'")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port if port is not None else _DEFAULT_PORTS[scheme]}"


def split_host(value: str) -> tuple[str, str | None]:
    """``(host, port or None)`` of a ``Host`` header value; an IPv6 host keeps its brackets."""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError("unterminated IPv6 literal")
        rest = value[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("junk after the IPv6 literal")
        return value[:end + 1], (rest[1:] if rest else None)
    host, colon, port = value.partition(":")
    return host, (port if colon else None)


def normalize_host_entry(entry: str) -> str:
    """An ``allowed_hosts`` entry (``name`` or ``name:port``) in lower case; :class:`ValueError` if malformed."""
    if not isinstance(entry, str) or not entry or any(char in entry for char in " /@?#\t\r\n"):
        raise ValueError(f"{entry!r} is not a host name, optionally with ':port'")
    host, port = split_host(entry.lower())
    if not host or (port is not None and not _valid_port(port)):
        raise ValueError(f"{entry!r} is not a host name, optionally with ':port'")
    return host if port is None else f"{host}:{int(port)}"


def _valid_port(port: str) -> bool:
    return port.isdigit() and 0 < int(port) < 65536


def is_loopback_address(host: str) -> bool:
    """Whether ``host`` (as a listening port reports it) is a loopback IP address."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0]).is_loopback
    except ValueError:
        return host.lower() == "localhost"


@dataclass(frozen=True)
class GuardPolicy:
    """
    What the gate lets through.

    :ivar api_key: the key requests must carry, or ``None`` for an open API.
    :ivar cors_origins: normalised origins (see :func:`normalize_origin`) web pages may call from.
    :ivar allowed_hosts: extra accepted ``Host`` values (``name`` or ``name:port``, normalised).
    :ivar check_host: whether the ``Host`` header is checked at all (when listening on loopback, or when
                      ``allowed_hosts`` was given).
    :ivar max_body_size: the largest accepted request body, in bytes.
    :ivar is_public: tells whether a (decoded) first path segment needs no API key.
    """

    api_key: bytes | None = None
    cors_origins: frozenset[str] = frozenset()
    allowed_hosts: frozenset[str] = frozenset()
    check_host: bool = True
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    is_public: Callable[[bytes], bool] = field(default=lambda segment: False)

    @classmethod
    def build(cls, api_key: str | None, cors_origins: Iterable[str], allowed_hosts: Iterable[str],
              max_body_size: int, listening_on_loopback: bool,
              is_public: Callable[[bytes], bool] | None = None) -> GuardPolicy:
        """
        Check and normalise the REST manager's options.

        :raises TypeError: for arguments of the wrong type (a lone string instead of a list, for instance).
        :raises ValueError: for a malformed origin or host, or a body limit below 1.
        """
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError(f"api_key must be a str, not {type(api_key).__name__}")
        for name, values in (("cors_origins", cors_origins), ("allowed_hosts", allowed_hosts)):
            if isinstance(values, (str, bytes)):
                raise TypeError(f"{name} must be a list of strings, not one string")
        origins = frozenset(normalize_origin(origin) for origin in cors_origins)
        hosts = frozenset(normalize_host_entry(host) for host in allowed_hosts)
        if isinstance(max_body_size, bool) or not isinstance(max_body_size, int):
            raise TypeError(f"max_body_size must be an int, not {type(max_body_size).__name__}")
        if max_body_size < 1:
            raise ValueError(f"max_body_size must be at least 1 byte, got {max_body_size}")
        return cls(api_key=api_key.encode("utf-8") if api_key else None, cors_origins=origins,
                   allowed_hosts=hosts, check_host=listening_on_loopback or bool(hosts),
                   max_body_size=max_body_size, is_public=is_public or (lambda segment: False))


# -- the checks ---------------------------------------------------------------------------------------------

def _single_header(headers: Headers, name: bytes) -> bytes | None:
    values = headers.getRawHeaders(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"the {name.decode('ascii')} header is given more than once")
    return values[0]


def host_allowed(policy: GuardPolicy, host_header: bytes) -> bool:
    """Whether a ``Host`` header value is one this server answers for."""
    try:
        host, port = split_host(host_header.decode("ascii").lower())
    except (UnicodeDecodeError, ValueError):
        return False
    if port is not None and not _valid_port(port):
        return False
    if host == "localhost" or (port is not None and f"{host}:{int(port)}" in policy.allowed_hosts):
        return True
    if host in policy.allowed_hosts:
        return True
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare != host or ":" not in bare:  # IPv6 literals must be bracketed
        try:
            return ipaddress.ip_address(bare).is_loopback
        except ValueError:
            return False
    return False


def allowed_origin(policy: GuardPolicy, headers: Headers, secure: bool) -> str | None:
    """
    The request's ``Origin`` when it is one of the configured CORS origins (to echo back), else ``None``.

    :raises BadRequest: for several ``Origin`` headers.
    """
    origin = _single_header(headers, b"Origin")
    if origin is None or not policy.cors_origins:
        return None
    text = origin.decode("latin-1")
    try:
        return text if normalize_origin(text) in policy.cors_origins else None
    except ValueError:
        return None


def _same_origin(origin: str, host_header: bytes | None, secure: bool) -> bool:
    if host_header is None:
        return False
    try:
        own = normalize_origin(f"{'https' if secure else 'http'}://{host_header.decode('ascii')}")
        return normalize_origin(origin) == own
    except (UnicodeDecodeError, ValueError):
        return False


def is_preflight(method: bytes, headers: Headers) -> bool:
    """Whether the request is a CORS preflight (``OPTIONS`` asking for permission for another method)."""
    return method == b"OPTIONS" and headers.hasHeader(b"Access-Control-Request-Method")


def provided_key(uri: bytes, headers: Headers) -> bytes | None:
    """The API key the request carries: the ``X-Api-Key`` header, else the last ``apikey`` query value."""
    given = headers.getRawHeaders(b"X-Api-Key")
    if given:
        return given[-1]
    values = [value for name, value in split_query(query_of(uri)) if name == b"apikey"]
    return values[-1] if values else None


def _media_type(value: bytes) -> bytes:
    return value.split(b";", 1)[0].strip().lower()


def screen(policy: GuardPolicy, method: bytes, uri: bytes, headers: Headers, length: int | None,
           secure: bool) -> RESTError | None:
    """
    Decide from the request line and headers alone whether a request may go on; the error to answer if not.

    :param length: the announced body length; ``None`` for a chunked body (its size is checked as it arrives).
    """
    try:
        host_header = _single_header(headers, b"Host")
        # A request without Host cannot come from a browser (they always send it), so it is no rebinding attack.
        if policy.check_host and host_header is not None and not host_allowed(policy, host_header):
            return MisdirectedRequest("this server does not answer for the host named in the Host header")
        origin = _single_header(headers, b"Origin")
        if origin is not None and not _same_origin(origin.decode("latin-1"), host_header, secure) \
                and allowed_origin(policy, headers, secure) is None:
            return Forbidden("requests from this web page's origin are not allowed (see the cors_origins option)")
        if is_preflight(method, headers):
            return None  # browsers never send credentials with a preflight; only allowed origins get here
        if policy.api_key is not None and not _authorized(policy, uri, headers):
            return Unauthorized("missing or wrong API key")
        if length is not None and length > policy.max_body_size:
            return PayloadTooLarge(f"the body may be at most {policy.max_body_size} bytes")
        if length is None or length > 0:
            types = headers.getRawHeaders(b"Content-Type") or []
            if not types or any(_media_type(value) != JSON_CONTENT_TYPE.encode("ascii") for value in types):
                return UnsupportedMediaType("a request body must be sent as Content-Type: application/json")
    except BadRequest as error:
        return error
    return None


def _authorized(policy: GuardPolicy, uri: bytes, headers: Headers) -> bool:
    path = uri.partition(b"?")[0]
    first_segment = unquote_to_bytes(path[1:].split(b"/", 1)[0])
    if policy.is_public(first_segment):
        return True
    given = provided_key(uri, headers)
    return given is not None and hmac.compare_digest(given, policy.api_key or b"")


def cors_headers(policy: GuardPolicy, headers: Headers, secure: bool) -> dict[str, str]:
    """The CORS headers for an answer to this request: none unless its ``Origin`` is an allowed one."""
    try:
        origin = allowed_origin(policy, headers, secure)
    except BadRequest:
        return {}
    if origin is None:
        return {"Vary": "Origin"} if policy.cors_origins else {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def raw_response(status: int, payload: Any, headers: Mapping[str, str]) -> bytes:  # noqa: ANN401
    """A complete ``HTTP/1.1`` answer that closes the connection, for refusals made before ``twisted.web`` is."""
    body = json.dumps(payload).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Type: {JSON_CONTENT_TYPE}",
             f"Content-Length: {len(body)}", "Connection: close", f"{NOSNIFF[0]}: {NOSNIFF[1]}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- hooks into twisted.web ---------------------------------------------------------------------------------

class APIChannel(HTTPChannel):
    """
    An HTTP/1.1 connection that runs the gate once a request's headers are complete.

    A refused request is answered at once and the connection closed; the body is never read (bytes that
    are already on their way are discarded, for at most :data:`LINGER_SECONDS`).
    """

    #: Whether this connection answered a refusal and only waits for the client to go away.
    refused = False
    #: Seconds a refused client may go on sending before the connection is cut.
    linger = LINGER_SECONDS

    def allHeadersReceived(self) -> None:  # noqa: N802 - twisted.web's name
        """Screen the request before twisted.web prepares for its body (or sends ``100 Continue``)."""
        request = self.requests[-1]
        site = getattr(self, "site", None)
        command, uri = getattr(self, "_command", None), getattr(self, "_path", None)
        policy = getattr(site, "policy", None)
        if policy is not None and command is not None and uri is not None:
            secure = self.isSecure()
            verdict = screen(policy, command, uri, request.requestHeaders, self.length, secure)
            if verdict is not None:
                self.refuse(verdict, cors_headers(policy, request.requestHeaders, secure),
                            f"{command.decode('ascii', 'replace')} {uri.partition(b'?')[0].decode('latin-1')}")
                return
            request.txipv8_screened = True
        super().allHeadersReceived()

    def refuse(self, error: RESTError, extra_headers: Mapping[str, str], what: str = "a request") -> None:
        """Answer ``error``, stop parsing this connection and close it."""
        if self.refused:
            return
        self.refused = True
        logger.debug("Refused %s: %d %s", what, error.status, error.message)
        self.setRawMode()  # whatever else is buffered goes to rawDataReceived, which drops it
        self.transport.write(raw_response(error.status, error.payload(), {**error.headers, **extra_headers}))
        half_close = None if self.isSecure() else getattr(self.transport, "loseWriteConnection", None)
        if half_close is None:
            self.loseConnection()
            return
        # Send our answer and FIN but keep reading for a moment: closing a socket with unread data makes the
        # kernel send RST, and clients that are still sending would then lose the answer.
        half_close()
        self.setTimeout(self.linger)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        """Discard everything a refused client still sends (without resetting the linger timeout)."""
        if not self.refused:
            super().dataReceived(data)

    def rawDataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        """Discard body bytes of a refused request."""
        if not self.refused:
            super().rawDataReceived(data)

    def allContentReceived(self) -> None:  # noqa: N802 - twisted.web's name
        """Never process a refused request."""
        if not self.refused:
            super().allContentReceived()

    def timeoutConnection(self) -> None:  # noqa: N802 - Twisted's name
        """A refused client that is still sending after the linger time is cut off."""
        if self.refused:
            self.transport.abortConnection()
            return
        super().timeoutConnection()


class GuardedRequest(Request):
    """A request that refuses a (chunked) body as soon as it grows past the site's limit."""

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - twisted.web's name
        """Start counting the body."""
        self.txipv8_received = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - twisted.web's name
        """Store a piece of the body, or refuse the request once the body is too large."""
        channel = self.channel
        if channel is None or getattr(channel, "refused", False):
            return
        self.txipv8_received = getattr(self, "txipv8_received", 0) + len(data)
        policy = getattr(getattr(channel, "site", None), "policy", None)
        if policy is not None and self.txipv8_received > policy.max_body_size and hasattr(channel, "refuse"):
            channel.refuse(PayloadTooLarge(f"the body may be at most {policy.max_body_size} bytes"),
                           cors_headers(policy, self.requestHeaders, channel.isSecure()), "a chunked body")
            return
        super().handleContentChunk(data)


__all__ = ["APIChannel", "CORS_ALLOWED_HEADERS", "CORS_ALLOWED_METHODS", "CORS_MAX_AGE", "DEFAULT_MAX_BODY_SIZE",
           "GuardPolicy", "GuardedRequest", "LINGER_SECONDS", "NOSNIFF", "allowed_origin", "cors_headers",
           "host_allowed", "is_loopback_address", "is_preflight", "normalize_host_entry", "normalize_origin",
           "provided_key", "raw_response", "screen", "split_host"]
