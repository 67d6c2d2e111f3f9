"""Decode what a client sends (query strings, path segments, JSON bodies) without trusting any of it.

Everything here works on the raw bytes of the request and reports a problem by raising :class:`InputError`
with a message meant for the client; the REST framework turns it into a 400 answer. Nothing here may fail
in another way on hostile input: malformed percent-escapes, bytes that are not UTF-8, JSON nested thousands
of levels deep, ``NaN`` and oversized numbers are all ordinary 400 cases.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import unquote_to_bytes

#: How deeply arrays and objects may nest in a request body. Real requests need a handful of levels.
MAX_JSON_DEPTH = 64

#: ``%`` not followed by two hexadecimal digits.
_BAD_PERCENT_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class InputError(ValueError):
    """The client sent something malformed; the message says what, in words fit for the client."""


def check_percent_escapes(raw: bytes, what: str) -> None:
    """
    Refuse a ``%`` that does not start a two-digit hexadecimal escape.

    :raises InputError: naming ``what`` (``"the path"``, ``"the query string"``).
    """
    if _BAD_PERCENT_ESCAPE.search(raw):
        raise InputError(f"{what} contains a malformed percent-escape")


def decode_utf8(raw: bytes, what: str) -> str:
    """``raw`` as text; :class:`InputError` naming ``what`` when it is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not valid UTF-8 after percent-decoding") from None


def check_path(path: bytes) -> None:
    """
    Refuse a request path whose escapes are malformed or whose decoded segments are not UTF-8.

    :raises InputError: when the path is malformed.
    """
    check_percent_escapes(path, "the path")
    for segment in path.split(b"/"):
        decode_utf8(unquote_to_bytes(segment), "a path segment")


def split_query(raw: bytes) -> list[tuple[bytes, bytes]]:
    """
    The ``name=value`` pairs of a raw query string, percent-decoded to bytes, never failing.

    Used where nothing may be rejected yet (finding the API key before authentication).
    """
    pairs = []
    for part in raw.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def query_of(uri: bytes) -> bytes:
    """The raw query string of a request target (empty when there is none)."""
    return uri.partition(b"?")[2]


def parse_query(raw: bytes) -> dict[str, list[str]]:
    """
    The query string ``raw`` as ``{name: [values in order]}``, strictly decoded.

    :raises InputError: for a malformed percent-escape, or a name or value that is not UTF-8.
    """
    check_percent_escapes(raw, "the query string")
    parsed: dict[str, list[str]] = {}
    for name, value in split_query(raw):
        key = decode_utf8(name, "a query parameter name")
        parsed.setdefault(key, []).append(decode_utf8(value, f"query parameter {key!r}"))
    return parsed


def _refuse_constant(name: str) -> Any:  # noqa: ANN401
    raise InputError(f"the body is not valid JSON: {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError(f"the body is not valid JSON: {text} is too large for a number")
    return value


def json_depth_exceeds(value: Any, limit: int) -> bool:  # noqa: ANN401
    """Whether arrays/objects nest more than ``limit`` levels in ``value`` (walked without recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > limit:
            return True
        children = container.values() if isinstance(container, dict) else container
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:  # noqa: ANN401
    """
    Decode a JSON request body.

    Refused with :class:`InputError`: bytes that are not UTF-8, text that is not JSON (``NaN`` and
    ``Infinity`` included, which Python's decoder would otherwise accept), numbers too large for a float
    (``1e400``), integers too long to convert, and arrays/objects nested more than ``max_depth`` levels deep.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the body is not valid JSON: it is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        # The decoder recurses once per level; hostile nesting runs out of stack long before memory.
        raise InputError(f"the body is nested more than {max_depth} levels deep") from None
    except InputError:
        raise
    except ValueError as exc:  # JSONDecodeError, and integers beyond the interpreter's digit limit
        raise InputError(f"the body is not valid JSON: {exc}") from None
    if isinstance(value, (dict, list)) and json_depth_exceeds(value, max_depth):
        raise InputError(f"the body is nested more than {max_depth} levels deep")
    return value


__all__ = ["InputError", "MAX_JSON_DEPTH", "check_path", "check_percent_escapes", "decode_utf8",
           "json_depth_exceeds", "parse_json", "parse_query", "query_of", "split_query"]
