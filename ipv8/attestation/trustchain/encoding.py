"""The 1.x transaction encoding of TrustChain blocks (version ``a``), written and read defensively.

A TrustChain block carries its transaction as bytes; IPv8 1.x produces them with a small self-describing
format, and since the bytes are signed and hashed we must reproduce them exactly. The format:

* one version byte ``a``, then one *element*;
* an element is a decimal count in ASCII digits, one type letter and then its body;
* ``i`` an int (body: the decimal text, count = its length), ``J`` the same (Python 2 longs), ``f`` a float
  (body: ``repr`` text), ``s`` UTF-8 text, ``b`` raw bytes; for these the count is the body length;
* ``l`` a list, ``t`` a tuple, ``L`` a set: count = number of elements, which follow back to back;
* ``d`` a dict: count = number of pairs, each a key element followed by a value element;
* ``0n`` None, ``0T`` True, ``0F`` False.

The transaction arrives from untrusted peers, so :func:`decode` bounds everything (total size, nesting depth,
number of elements, digits in a count), accepts only the exact number text the encoder writes and insists
that the whole input is one element. Every failure is a :exc:`TransactionDecodeError`.
"""
from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_TRANSACTION_SIZE", "TransactionDecodeError", "TransactionEncodeError", "decode",
           "encode"]

#: Transactions larger than this are refused (a UDP datagram holds far less; blocks created locally too).
MAX_TRANSACTION_SIZE = 1 << 20
#: Deepest nesting of containers :func:`decode` follows (keeps recursion far from Python's limit).
MAX_DEPTH = 32
# A count never needs more digits than this (MAX_TRANSACTION_SIZE has 7).
_MAX_COUNT_DIGITS = 10
_DIGITS = frozenset(b"0123456789")


class TransactionEncodeError(ValueError):
    """The value holds something the 1.x encoding has no form for."""


class TransactionDecodeError(ValueError):
    """The bytes are not a well-formed 1.x transaction within the limits."""


def _encode_into(value: Any, out: list[bytes], depth: int) -> None:  # noqa: ANN401
    if depth > MAX_DEPTH:
        raise TransactionEncodeError(f"nesting deeper than {MAX_DEPTH}")
    # bool before int: True is an int to isinstance, but has its own marker.
    if value is None:
        out.append(b"0n")
    elif value is True:
        out.append(b"0T")
    elif value is False:
        out.append(b"0F")
    elif isinstance(value, int):
        text = str(int(value)).encode()
        out += (str(len(text)).encode(), b"i", text)
    elif isinstance(value, float):
        text = repr(float(value)).encode()
        out += (str(len(text)).encode(), b"f", text)
    elif isinstance(value, str):
        text = value.encode("utf-8")
        out += (str(len(text)).encode(), b"s", text)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        out += (str(len(raw)).encode(), b"b", raw)
    elif isinstance(value, dict):
        out += (str(len(value)).encode(), b"d")
        for key, item in value.items():
            _encode_into(key, out, depth + 1)
            _encode_into(item, out, depth + 1)
    else:
        marker = b"l" if isinstance(value, list) else b"t" if isinstance(value, tuple) else \
            b"L" if isinstance(value, (set, frozenset)) else None
        if marker is None:
            raise TransactionEncodeError(f"cannot encode a {type(value).__name__} in a transaction")
        out += (str(len(value)).encode(), marker)
        for item in value:
            _encode_into(item, out, depth + 1)


def encode(value: Any) -> bytes:  # noqa: ANN401
    """Encode ``value`` (dict, list, tuple, set, str, bytes, int, float, bool, None, nested) as 1.x does.

    Dicts keep their insertion order and sets their iteration order, exactly like 1.x; a set's order is
    therefore not stable between processes, which is why signed transactions should not contain sets.

    :raises TransactionEncodeError: for other types, too deep nesting or a result above
        :data:`MAX_TRANSACTION_SIZE`.
    """
    out = [b"a"]
    _encode_into(value, out, 0)
    data = b"".join(out)
    if len(data) > MAX_TRANSACTION_SIZE:
        raise TransactionEncodeError(f"transaction of {len(data)} bytes exceeds {MAX_TRANSACTION_SIZE}")
    return data


class _Reader:
    """Walks one encoded transaction; each method returns the value and leaves ``pos`` after it."""

    __slots__ = ("data", "pos", "elements")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.elements = 0

    def fail(self, reason: str) -> TransactionDecodeError:
        return TransactionDecodeError(f"{reason} at offset {self.pos}")

    def header(self) -> tuple[int, int]:
        """Read ``<count><letter>``."""
        data, start = self.data, self.pos
        end = start
        while end < len(data) and data[end] in _DIGITS:
            end += 1
        if end == start:
            raise self.fail("expected a count")
        if end - start > _MAX_COUNT_DIGITS or (end - start > 1 and data[start] == 0x30):
            raise self.fail("malformed count")
        if end >= len(data):
            raise self.fail("truncated element")
        self.pos = end + 1
        return int(data[start:end]), data[end]

    def body(self, length: int) -> bytes:
        end = self.pos + length
        if end > len(self.data):
            raise self.fail("truncated element")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def element(self, depth: int) -> Any:  # noqa: ANN401, C901, PLR0911, PLR0912
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH}")
        self.elements += 1
        start = self.pos
        count, letter = self.header()
        if letter in b"nTF":
            if count != 0:
                raise self.fail("constant with a non-zero count")
            return None if letter == 0x6E else letter == 0x54
        if letter in b"iJ":
            text = self.body(count)
            # Exactly what str(int) writes: an optional minus, digits, no leading zeros, no "-0".
            digits = text[1:] if text[:1] == b"-" else text
            if not digits or not all(c in _DIGITS for c in digits) or (len(digits) > 1 and digits[0] == 0x30) \
                    or text == b"-0":
                self.pos = start
                raise self.fail("malformed integer")
            try:
                return int(text)
            except ValueError as exc:  # more digits than int() accepts
                self.pos = start
                raise self.fail("integer too long") from exc
        if letter == 0x66:  # f
            text = self.body(count)
            try:
                number = float(text.decode("ascii"))
            except (UnicodeDecodeError, ValueError) as exc:
                self.pos = start
                raise self.fail("malformed float") from exc
            if not math.isfinite(number) and text not in (b"inf", b"-inf", b"nan"):
                self.pos = start
                raise self.fail("malformed float")
            return number
        if letter == 0x73:  # s
            raw = self.body(count)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.pos = start
                raise self.fail("text is not UTF-8") from exc
        if letter == 0x62:  # b
            return self.body(count)
        if letter in b"ltLd":
            # Every element takes at least two bytes, so a larger count cannot be honest: refuse it
            # before looping.
            needed = count * (4 if letter == 0x64 else 2)
            if needed > len(self.data) - self.pos:
                raise self.fail("container count exceeds the remaining bytes")
            if letter == 0x64:  # d
                result: dict = {}
                for _ in range(count):
                    key = self.element(depth + 1)
                    value = self.element(depth + 1)
                    try:
                        if key in result:
                            raise self.fail("duplicate dictionary key")
                        result[key] = value
                    except TypeError as exc:
                        raise self.fail("unhashable dictionary key") from exc
                return result
            items = [self.element(depth + 1) for _ in range(count)]
            if letter == 0x74:  # t
                return tuple(items)
            if letter == 0x4C:  # L
                try:
                    members = set(items)
                except TypeError as exc:
                    raise self.fail("unhashable set member") from exc
                if len(members) != len(items):
                    raise self.fail("duplicate set member")
                return members
            return items
        self.pos = start
        raise self.fail(f"unknown element type {bytes([letter])!r}")


def decode(data: bytes, max_size: int = MAX_TRANSACTION_SIZE) -> Any:  # noqa: ANN401
    """Decode a whole 1.x transaction.

    Lists come back as lists, tuples as tuples, sets as sets (like 1.x). Unlike 1.x, trailing bytes after the
    element, non-canonical numbers, duplicate set members and any limit violation are refused.

    :raises TransactionDecodeError: for anything that is not exactly one well-formed element.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TransactionDecodeError(f"transaction must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_size:
        raise TransactionDecodeError(f"transaction of {len(data)} bytes exceeds {max_size}")
    if data[:1] != b"a":
        raise TransactionDecodeError("unknown transaction encoding version")
    reader = _Reader(data)
    reader.pos = 1
    value = reader.element(0)
    if reader.pos != len(data):
        raise reader.fail("trailing bytes after the transaction")
    return value


def to_json_safe(value: Any) -> Any:  # noqa: ANN401
    """A decoded transaction as JSON-ready data (for REST and logs): bytes become text where they are UTF-8
    and ``"0x<hex>"`` otherwise; tuples and sets become lists; dict keys become strings."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + value.hex()
    if isinstance(value, dict):
        return {_json_key(key): to_json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_json_safe(item) for item in value), key=repr)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _json_key(key: Any) -> str:  # noqa: ANN401
    converted = to_json_safe(key)
    return converted if isinstance(converted, str) else repr(converted)
