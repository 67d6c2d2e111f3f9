"""The building block of the REST API: a ``twisted.web`` resource that declares its own operations.

A resource subclasses :class:`BaseEndpoint` and marks its handler methods with :func:`api_method`. The
declaration (HTTP method, summary, response schemas, request body schema, query parameters) is used for
three things at once: dispatching requests, checking request bodies and query strings, and generating the
OpenAPI document (:mod:`ipv8.REST.openapi`). A route that exists is therefore always documented, and a
documented route always exists.

Handlers receive an :class:`APIRequest` and return a JSON-serialisable ``dict``/``list`` (sent with status
200), a :class:`Response`, or a Deferred/coroutine producing one of these. To fail, they raise a
:class:`RESTError` subclass; any other exception becomes a 500 response and is logged.

Error bodies have the shapes py-ipv8 clients read: ``{"success": false, "error": "<message>"}`` (plus a
machine-readable ``"error_code"``) for a :class:`RESTError`, ``{"error": "Unauthorized access"}`` for a
missing or wrong API key, and ``{"success": false, "error": {"code": ..., "message": ...}}`` for a handler
that failed unexpectedly (500).
"""
from __future__ import annotations

import http
import json
import logging
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Mapping, TypeVar

from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from ..util import maybe_deferred
from .errors import (HTTP_BAD_REQUEST, HTTP_CONFLICT, HTTP_FORBIDDEN, HTTP_INTERNAL_SERVER_ERROR,
                     HTTP_METHOD_NOT_ALLOWED, HTTP_MISDIRECTED_REQUEST, HTTP_NO_CONTENT, HTTP_NOT_FOUND, HTTP_OK,
                     HTTP_PAYLOAD_TOO_LARGE, HTTP_PRECONDITION_FAILED, HTTP_UNAUTHORIZED, HTTP_UNSUPPORTED_MEDIA_TYPE,
                     UNAUTHORIZED_MESSAGE, BadRequest, Conflict, Forbidden, MethodNotAllowed, MisdirectedRequest,
                     NotFound, PayloadTooLarge, PreconditionFailed, RESTError, Unauthorized, UnsupportedMediaType,
                     error_payload, internal_error_payload)
from .inputs import InputError, parse_json, parse_query, query_of, split_query
from .schema import ERROR_REF, Schema, SchemaError, validate

if TYPE_CHECKING:
    from twisted.python.failure import Failure
    from twisted.web.server import Request

JSON_CONTENT_TYPE = "application/json"
#: Methods a handler can be declared for.
HTTP_METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE")
#: Request attribute under which the values of ``{name}`` path segments are collected during traversal.
_PATH_VALUES = "txipv8_path_values"

logger = logging.getLogger(__name__)
HandlerT = TypeVar("HandlerT", bound=Callable[..., Any])


# -- responses ----------------------------------------------------------------------------------------------

class Response:
    """
    What a handler returns when plain status 200 JSON is not enough.

    :param body: a JSON-serialisable value, or ``bytes``/``str`` sent as they are with ``content_type``.
    :param status: the HTTP status code.
    :param headers: extra response headers.
    :param content_type: the media type; JSON unless the body is already bytes or text.
    """

    def __init__(self, body: Any = None, status: int = HTTP_OK,  # noqa: ANN401
                 headers: Mapping[str, str] | None = None, content_type: str = JSON_CONTENT_TYPE) -> None:
        """Create the response; see the class documentation."""
        self.body = body
        self.status = status
        self.headers = dict(headers or {})
        self.content_type = content_type

    def encode(self) -> bytes:
        """The body as bytes (JSON-encoded unless it already is bytes or text)."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and self.content_type != JSON_CONTENT_TYPE:
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def send(request: Request, response: Response) -> None:
    """Write ``response`` to a request that is still open and finish it."""
    body = response.encode()
    request.setResponseCode(response.status)
    request.setHeader(b"Content-Type", response.content_type.encode("ascii"))
    request.setHeader(b"Content-Length", str(len(body)).encode("ascii"))
    for name, value in response.headers.items():
        request.setHeader(name.encode("ascii"), value.encode("latin-1"))
    request.write(body)
    request.finish()


def error_response(error: RESTError) -> Response:
    """The response that reports ``error``."""
    return Response(error.payload(), status=error.status, headers=error.headers)


class ErrorResource(Resource):
    """A leaf resource that answers every method with one fixed error (404 for unknown routes, 401...)."""

    isLeaf = True

    def __init__(self, error: RESTError) -> None:
        """Answer every request with ``error``."""
        super().__init__()
        self.error = error

    def render(self, request: Request) -> int:
        """Send the error."""
        send(request, error_response(self.error))
        return NOT_DONE_YET


# -- declarations -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QueryParameter:
    """
    A query-string parameter an operation reads.

    Values arrive as text and are converted according to ``schema["type"]`` (integer, number, boolean
    or string) before the schema is checked; a value that does not convert is a 400 error.
    """

    name: str
    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One HTTP method of one resource, as declared with :func:`api_method`."""

    method: str
    summary: str
    handler_name: str
    responses: dict[int, tuple[str, Schema]]
    description: str = ""
    body: Schema | None = None
    body_required: bool = True
    query: tuple[QueryParameter, ...] = ()
    tags: tuple[str, ...] = ()
    public: bool = False
    content_type: str = JSON_CONTENT_TYPE

    def documented_statuses(self, api_key_required: bool,
                            include_transport: bool = False) -> dict[int, tuple[str, Schema]]:
        """
        Every status this operation can answer with: the declared ones plus those the framework adds.

        400 when there is a body or query to check, 401 when an API key is needed, and 500 always. With
        ``include_transport``, also the answers of the gate in front of every route: 413 and 415 for
        operations that take a body, and 403/421 (refused origin or ``Host``) everywhere.
        """
        statuses = dict(self.responses)
        if self.body is not None or self.query:
            statuses.setdefault(HTTP_BAD_REQUEST, ("The body or a query parameter is malformed.", ERROR_REF))
        if api_key_required and not self.public:
            statuses.setdefault(HTTP_UNAUTHORIZED, ("The API key is missing or wrong.", ERROR_REF))
        if include_transport:
            statuses.setdefault(HTTP_FORBIDDEN, ("The request comes from a web page that is not allowed.",
                                                 ERROR_REF))
            statuses.setdefault(HTTP_MISDIRECTED_REQUEST, ("The Host header is not accepted.", ERROR_REF))
            if self.body is not None:
                statuses.setdefault(HTTP_PAYLOAD_TOO_LARGE, ("The body is too large.", ERROR_REF))
                statuses.setdefault(HTTP_UNSUPPORTED_MEDIA_TYPE, ("The body is not application/json.", ERROR_REF))
        statuses.setdefault(HTTP_INTERNAL_SERVER_ERROR, ("The handler failed unexpectedly.", ERROR_REF))
        return statuses


def api_method(method: str, summary: str, responses: Mapping[int, Schema | tuple[str, Schema]], *,
               body: Schema | None = None, body_required: bool = True, query: tuple[QueryParameter, ...] = (),
               tags: tuple[str, ...] = (), description: str | None = None, public: bool = False,
               content_type: str = JSON_CONTENT_TYPE) -> Callable[[HandlerT], HandlerT]:
    """
    Declare a method of a :class:`BaseEndpoint` subclass as the handler of one HTTP method.

    :param method: ``GET``, ``PUT``, ``POST``, ``PATCH`` or ``DELETE`` (``HEAD`` is served by ``GET``).
    :param summary: one line for the documentation.
    :param responses: status code -> schema of the body, or ``(description, schema)``.
    :param body: the JSON Schema of the request body; the framework rejects other bodies with 400.
    :param body_required: whether an empty body is an error (otherwise the handler sees ``None``).
    :param query: the query parameters the handler reads.
    :param tags: documentation tags; the resource's ``tags`` when omitted.
    :param description: longer documentation; the handler's docstring when omitted.
    :param public: the operation needs no API key (reserved for the documentation itself).
    :param content_type: the media type of successful answers (errors are always JSON).
    :raises ValueError: for an unknown HTTP method or a status code outside 100-599.
    """
    verb = method.upper()
    if verb not in HTTP_METHODS:
        raise ValueError(f"cannot declare a handler for HTTP method {method!r}; use one of {HTTP_METHODS}")
    documented: dict[int, tuple[str, Schema]] = {}
    for status, declaration in responses.items():
        if not 100 <= int(status) <= 599:
            raise ValueError(f"{status!r} is not an HTTP status code")
        if isinstance(declaration, tuple):
            documented[int(status)] = declaration
        else:
            documented[int(status)] = (http.HTTPStatus(int(status)).phrase, declaration)

    def declare(handler: HandlerT) -> HandlerT:
        handler.__rest_operation__ = Operation(  # type: ignore[attr-defined]
            method=verb, summary=summary, handler_name=handler.__name__, responses=documented,
            description=description if description is not None else _first_paragraph(handler.__doc__),
            body=body, body_required=body_required, query=tuple(query), tags=tuple(tags), public=public,
            content_type=content_type)
        return handler
    return declare


def _first_paragraph(text: str | None) -> str:
    if not text:
        return ""
    return " ".join(text.strip().split("\n\n")[0].split())


# -- requests -----------------------------------------------------------------------------------------------

@dataclass
class APIRequest:
    """
    What a handler gets: the checked inputs and the underlying ``twisted.web`` request.

    :ivar body: the decoded JSON body (already checked against the declared schema), or ``None``.
    :ivar query: the declared query parameters that were given, converted to their types.
    :ivar path: values of the ``{name}`` segments of the route, by name.
    :ivar raw: the ``twisted.web.server.Request``, for headers and the like.
    """

    raw: Request
    body: Any = None
    query: dict[str, Any] = field(default_factory=dict)
    path: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The value of request header ``name``, or ``None``."""
        value = self.raw.getHeader(name.encode("ascii"))
        return None if value is None else value.decode("latin-1")


def query_arguments(request: Request) -> dict[bytes, list[bytes]]:
    """
    The query string of ``request`` as percent-decoded bytes (never form fields of the body, unlike
    ``request.args``). Lenient: it never fails, whatever the client sent; handlers get strictly decoded
    values through :attr:`APIRequest.query`.
    """
    arguments: dict[bytes, list[bytes]] = {}
    for name, value in split_query(query_of(request.uri)):
        arguments.setdefault(name, []).append(value)
    return arguments


_TRUE_WORDS = {"1", "true", "yes", "on"}
_FALSE_WORDS = {"0", "false", "no", "off"}


def _convert_query_value(parameter: QueryParameter, text: str) -> Any:  # noqa: ANN401
    kind = parameter.schema.get("type", "string")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
    except ValueError:
        article = "an" if kind == "integer" else "a"
        raise BadRequest(f"query parameter {parameter.name!r} must be {article} {kind}, got {text!r}") from None
    if kind == "boolean":
        if text.lower() in _TRUE_WORDS:
            return True
        if text.lower() in _FALSE_WORDS:
            return False
        raise BadRequest(f"query parameter {parameter.name!r} must be a boolean (1/0, true/false), got {text!r}")
    return text


def _read_query(request: Request, operation: Operation) -> dict[str, Any]:
    try:
        given = parse_query(query_of(request.uri))  # every parameter, declared or not, must be well-formed
    except InputError as exc:
        raise BadRequest(str(exc)) from None
    values: dict[str, Any] = {}
    for parameter in operation.query:
        raw_values = given.get(parameter.name)
        if not raw_values:
            if parameter.required:
                raise BadRequest(f"query parameter {parameter.name!r} is required")
            continue
        value = _convert_query_value(parameter, raw_values[-1])
        try:
            validate(value, parameter.schema, f"query parameter {parameter.name}")
        except SchemaError as exc:
            raise BadRequest(str(exc)) from None
        values[parameter.name] = value
    return values


def _read_body(request: Request, operation: Operation) -> Any:  # noqa: ANN401
    if operation.body is None:
        return None
    request.content.seek(0)
    data = request.content.read()
    if not data.strip():
        if operation.body_required:
            raise BadRequest("this operation needs a JSON body")
        return None
    try:
        body = parse_json(data)
    except InputError as exc:
        raise BadRequest(str(exc)) from None
    try:
        validate(body, operation.body, "body")
    except SchemaError as exc:
        raise BadRequest(str(exc)) from None
    return body


# -- the resource -------------------------------------------------------------------------------------------

class _Exchange:
    """One request being answered asynchronously; knows whether the client is still there."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.client_gone = False

    def deliver(self, response: Response) -> None:
        if not self.client_gone:
            send(self.request, response)


class BaseEndpoint(Resource):
    """
    A node of the REST resource tree that documents and dispatches its own operations.

    Subclasses mark handler methods with :func:`api_method` and may set ``tags`` (documentation
    group). Children are attached with :meth:`add_endpoint`; a child segment written ``{name}`` matches
    any one path segment, whose value handlers find in ``request.path[name]``. ``session`` is the IPv8
    object (set by :meth:`initialize` when the REST manager starts).
    """

    isLeaf = False
    #: Documentation tags of this resource's operations.
    tags: ClassVar[tuple[str, ...]] = ()
    #: HTTP method -> declaration, collected from the class and its bases.
    operations: ClassVar[dict[str, Operation]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401
        """Collect the :func:`api_method` declarations of the new class."""
        super().__init_subclass__(**kwargs)
        collected = dict(cls.operations)
        own: dict[str, str] = {}
        for name, member in vars(cls).items():
            operation = getattr(member, "__rest_operation__", None)
            if operation is None:
                continue
            if operation.method in own:
                raise TypeError(f"{cls.__name__} declares {operation.method} twice ({own[operation.method]} and "
                                f"{name})")
            own[operation.method] = name
            if not operation.tags and cls.tags:
                operation = replace(operation, tags=tuple(cls.tags))
            collected[operation.method] = operation
        cls.operations = collected

    def __init__(self) -> None:
        """Create an endpoint without children and without a session."""
        super().__init__()
        self.session: Any = None
        self.initialized = False
        self._parameter_child: tuple[str, BaseEndpoint] | None = None
        self._logger = logging.getLogger(type(self).__name__)

    # Tree -----------------------------------------------------------------------------------------------------

    def add_endpoint(self, segment: str, endpoint: BaseEndpoint) -> BaseEndpoint:
        """
        Attach ``endpoint`` under one path ``segment`` of this resource and return it.

        ``segment`` is a literal name, or ``{name}`` to match any segment (one such child per resource).
        A child added after the manager started is initialised with the running session at once.

        :raises TypeError: if ``endpoint`` is not a :class:`BaseEndpoint` (it could not be documented).
        :raises ValueError: if the segment is empty, contains ``/``, or is already taken.
        """
        if not isinstance(endpoint, BaseEndpoint):
            raise TypeError(f"REST children must be BaseEndpoint instances, not {type(endpoint).__name__}")
        if not segment or "/" in segment:
            raise ValueError(f"{segment!r} is not a single path segment")
        if segment.startswith("{") and segment.endswith("}"):
            name = segment[1:-1]
            if not name.isidentifier():
                raise ValueError(f"path parameter name {name!r} must be an identifier")
            if self._parameter_child is not None:
                raise ValueError(f"{type(self).__name__} already has a parameter child "
                                 f"{{{self._parameter_child[0]}}}")
            self._parameter_child = (name, endpoint)
        else:
            key = segment.encode("utf-8")
            if key in self.children:
                raise ValueError(f"{segment!r} is already registered under {type(self).__name__}")
            self.putChild(key, endpoint)
        if self.initialized:
            endpoint.initialize(self.session)
        return endpoint

    def child_endpoint(self, segment: str) -> BaseEndpoint | None:
        """The child registered under ``segment`` (literal, or ``{name}`` for the parameter child), or None."""
        for known, child in self.child_endpoints():
            if known == segment:
                return child
        return None

    def child_endpoints(self) -> Iterator[tuple[str, BaseEndpoint]]:
        """The documented children as ``(segment, endpoint)``; a parameter child's segment is ``{name}``."""
        for key, child in self.children.items():
            if isinstance(child, BaseEndpoint):
                yield key.decode("utf-8"), child
        if self._parameter_child is not None:
            name, child = self._parameter_child
            yield f"{{{name}}}", child

    def getChild(self, path: bytes, request: Request) -> Resource:  # noqa: N802 - twisted.web's name
        """Resolve a segment that is not a literal child: a trailing slash, a ``{name}`` value, or a 404."""
        if path == b"":
            return self
        if self._parameter_child is not None:
            name, child = self._parameter_child
            try:
                value = path.decode("utf-8")
            except UnicodeDecodeError:
                return ErrorResource(BadRequest("a path segment is not valid UTF-8 after percent-decoding"))
            values = getattr(request, _PATH_VALUES, None)
            if values is None:
                values = {}
                setattr(request, _PATH_VALUES, values)
            values[name] = value
            return child
        return ErrorResource(NotFound(f"no route for {request.path.decode('utf-8', 'replace')}"))

    # Life cycle ------------------------------------------------------------------------------------------------

    def initialize(self, session: Any) -> None:  # noqa: ANN401
        """Remember the IPv8 ``session`` here and in every child; called when the manager starts."""
        self.session = session
        self.initialized = True
        for _, child in self.child_endpoints():
            child.initialize(session)

    def shutdown(self) -> None:
        """Release what :meth:`initialize` acquired, here and in every child; called when the manager stops."""
        self.initialized = False
        for _, child in self.child_endpoints():
            child.shutdown()

    def stopped(self) -> Deferred[None]:
        """Fires when the background work that :meth:`shutdown` started here and in every child has ended.

        Resources whose shutdown finishes later (e.g. unloading overlays) override this; the manager's
        ``stop()`` waits for the root's.
        """
        waiting = [child.stopped() for _, child in self.child_endpoints()]
        return DeferredList(waiting, consumeErrors=True).addCallback(lambda _: None)

    # Dispatch -------------------------------------------------------------------------------------------------

    def render(self, request: Request) -> int:
        """Find the operation for the request's method, check its inputs and run its handler."""
        method = request.method.decode("ascii", "replace").upper()
        if method == "HEAD" and "GET" in self.operations:
            method = "GET"  # twisted.web drops the body of a HEAD response
        operation = self.operations.get(method)
        if operation is None:
            if self.operations:
                error: RESTError = MethodNotAllowed(f"{method} is not allowed here", sorted(self.operations))
            else:
                error = NotFound(f"no route for {request.path.decode('utf-8', 'replace')}")
            send(request, error_response(error))
            return NOT_DONE_YET

        exchange = _Exchange(request)
        outcome = maybe_deferred(self._run_operation, operation, request)

        def client_left(failure: Failure) -> None:
            exchange.client_gone = True
            outcome.cancel()
        request.notifyFinish().addErrback(client_left)
        outcome.addCallback(self._to_response)
        outcome.addErrback(self._failure_response, exchange)
        outcome.addCallback(exchange.deliver)
        outcome.addErrback(self._delivery_failed)
        return NOT_DONE_YET

    def _run_operation(self, operation: Operation, request: Request) -> Any:  # noqa: ANN401
        api_request = APIRequest(raw=request, body=_read_body(request, operation),
                                 query=_read_query(request, operation),
                                 path=dict(getattr(request, _PATH_VALUES, {})))
        return getattr(self, operation.handler_name)(api_request)

    @staticmethod
    def _to_response(result: Any) -> Response:  # noqa: ANN401
        if isinstance(result, Response):
            response = result
        elif isinstance(result, (dict, list)):
            response = Response(result)
        else:
            raise TypeError(f"a handler must return a dict, a list or a Response, not {type(result).__name__}")
        response.encode()  # fail here, inside the error handling, if the body cannot be serialised
        return response

    def _failure_response(self, failure: Failure, exchange: _Exchange) -> Response | None:
        if exchange.client_gone and failure.check(CancelledError):
            return None
        if failure.check(RESTError):
            return error_response(failure.value)
        self._logger.error("Handler for %s %s failed:\n%s", exchange.request.method.decode("ascii", "replace"),
                           exchange.request.path.decode("utf-8", "replace"), failure.getTraceback())
        error = failure.value
        return Response(internal_error_payload(type(error).__name__, str(error)), status=HTTP_INTERNAL_SERVER_ERROR)

    def _delivery_failed(self, failure: Failure) -> None:
        self._logger.error("Could not deliver a REST response:\n%s", failure.getTraceback())


__all__ = ["APIRequest", "BadRequest", "BaseEndpoint", "Conflict", "ErrorResource", "Forbidden", "HTTP_BAD_REQUEST",
           "HTTP_CONFLICT", "HTTP_FORBIDDEN", "HTTP_INTERNAL_SERVER_ERROR", "HTTP_METHOD_NOT_ALLOWED",
           "HTTP_MISDIRECTED_REQUEST", "HTTP_NO_CONTENT", "HTTP_NOT_FOUND", "HTTP_OK", "HTTP_PAYLOAD_TOO_LARGE",
           "HTTP_PRECONDITION_FAILED", "HTTP_UNAUTHORIZED", "HTTP_UNSUPPORTED_MEDIA_TYPE", "MethodNotAllowed",
           "MisdirectedRequest", "NotFound", "Operation", "PayloadTooLarge", "PreconditionFailed",
           "QueryParameter", "RESTError", "Response", "UNAUTHORIZED_MESSAGE", "Unauthorized",
           "UnsupportedMediaType", "api_method", "error_payload", "error_response", "internal_error_payload",
           "send"]
