"""The errors a REST handler (or the framework) answers with, and the JSON bodies that report them.

The bodies have the shapes py-ipv8 3.2.1 clients read: ``{"success": false, "error": "<message>"}`` plus
txipv8's machine-readable ``"error_code"`` for a :class:`RESTError`, exactly ``{"error": "Unauthorized
access"}`` for a refused API key, and ``{"success": false, "error": {"code": ..., "message": ...}}`` for an
unexpected exception (500).
"""
from __future__ import annotations

from typing import Any, ClassVar

HTTP_OK = 200
HTTP_NO_CONTENT = 204
HTTP_BAD_REQUEST = 400
HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
HTTP_METHOD_NOT_ALLOWED = 405
HTTP_CONFLICT = 409
HTTP_PRECONDITION_FAILED = 412
HTTP_PAYLOAD_TOO_LARGE = 413
HTTP_UNSUPPORTED_MEDIA_TYPE = 415
HTTP_MISDIRECTED_REQUEST = 421
HTTP_INTERNAL_SERVER_ERROR = 500


class RESTError(Exception):
    """
    Raise from a handler to answer with an error status; the body is ``{"success": false, "error": message}``.

    :param message: the human-readable ``error`` string (what py-ipv8 clients display).
    :param code: the machine-readable ``error_code``; the exception's class name when omitted.
    """

    status: ClassVar[int] = HTTP_INTERNAL_SERVER_ERROR

    def __init__(self, message: str, code: str | None = None) -> None:
        """Create the error; see the class documentation."""
        super().__init__(message)
        self.message = message
        self.code = code or type(self).__name__
        self.headers: dict[str, str] = {}

    def payload(self) -> dict[str, Any]:
        """The JSON body that reports this error."""
        return error_payload(self.code, self.message)


class BadRequest(RESTError):
    """400: the body, a query parameter or a path segment is malformed."""

    status = HTTP_BAD_REQUEST


class Unauthorized(RESTError):
    """401: the API key is missing or wrong. The body is exactly py-ipv8's: ``{"error": "Unauthorized access"}``."""

    status = HTTP_UNAUTHORIZED

    def payload(self) -> dict[str, Any]:
        """py-ipv8's body for a refused key (clients compare it as a whole)."""
        return {"error": UNAUTHORIZED_MESSAGE}


class Forbidden(RESTError):
    """403: the request comes from a web page whose origin is not allowed."""

    status = HTTP_FORBIDDEN


class NotFound(RESTError):
    """404: no such route, or the named thing does not exist."""

    status = HTTP_NOT_FOUND


class MethodNotAllowed(RESTError):
    """405: the route exists but not for this HTTP method (the ``Allow`` header lists those that do)."""

    status = HTTP_METHOD_NOT_ALLOWED

    def __init__(self, message: str, allowed: list[str]) -> None:
        """Create the error for a route that accepts only ``allowed`` methods."""
        super().__init__(message)
        self.headers["Allow"] = ", ".join(allowed)


class Conflict(RESTError):
    """409: the request clashes with the current state."""

    status = HTTP_CONFLICT


class PreconditionFailed(RESTError):
    """412: the service lacks what the request needs (for example statistics or a tunnel community)."""

    status = HTTP_PRECONDITION_FAILED


class PayloadTooLarge(RESTError):
    """413: the request body is (announced to be) larger than the server accepts."""

    status = HTTP_PAYLOAD_TOO_LARGE


class UnsupportedMediaType(RESTError):
    """415: a request body that is not ``application/json``."""

    status = HTTP_UNSUPPORTED_MEDIA_TYPE


class MisdirectedRequest(RESTError):
    """421: the ``Host`` header names a host this server does not answer for (DNS rebinding protection)."""

    status = HTTP_MISDIRECTED_REQUEST


#: The ``error`` of a 401 answer, word for word py-ipv8's.
UNAUTHORIZED_MESSAGE = "Unauthorized access"


def error_payload(code: str, message: str) -> dict[str, Any]:
    """The body of an error a handler or the framework reports: py-ipv8's shape plus ``error_code``."""
    return {"success": False, "error": message, "error_code": code}


def internal_error_payload(code: str, message: str) -> dict[str, Any]:
    """The body of a 500 answer (py-ipv8's shape for an unexpected exception: ``error`` is an object)."""
    return {"success": False, "error": {"code": code, "message": message}}


__all__ = ["BadRequest", "Conflict", "Forbidden", "HTTP_BAD_REQUEST", "HTTP_CONFLICT", "HTTP_FORBIDDEN",
           "HTTP_INTERNAL_SERVER_ERROR", "HTTP_METHOD_NOT_ALLOWED", "HTTP_MISDIRECTED_REQUEST", "HTTP_NOT_FOUND",
           "HTTP_NO_CONTENT", "HTTP_OK", "HTTP_PAYLOAD_TOO_LARGE", "HTTP_PRECONDITION_FAILED", "HTTP_UNAUTHORIZED",
           "HTTP_UNSUPPORTED_MEDIA_TYPE", "MethodNotAllowed", "MisdirectedRequest", "NotFound", "PayloadTooLarge",
           "PreconditionFailed", "RESTError", "UNAUTHORIZED_MESSAGE", "Unauthorized", "UnsupportedMediaType",
           "error_payload", "internal_error_payload"]
