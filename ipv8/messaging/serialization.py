"""Turning payload objects into IPv8 wire bytes and back.

The moving parts:

* :class:`Packer` objects know one wire *format* (``"H"``, ``"varlenH"``, ``"ipv4"``, ...). A
  :class:`Serializer` maps format names to packers; :data:`default_serializer` holds the standard set.
* :class:`Serializable` classes list the formats of their fields in ``format_list`` and convert themselves
  to and from values with ``to_pack_list()`` / ``from_unpack_list()``. :class:`Payload` adds pretty printing.
* :exc:`PackError` is the only error that packing or unpacking raises for bad data, whatever the cause.

Speed: the first time a :class:`Serializer` meets a class it writes, compiles and caches a pair of Python
functions specialised for that class's ``format_list`` (adjacent fixed-size fields become a single
``struct`` call, variable-length fields are read inline). Those functions do no defensive checking
beyond what is needed to notice a problem; when anything goes wrong they hand over to a slow
field-by-field pass that finds out *which* field failed and at which offset, and raises :exc:`PackError`.
"""
from __future__ import annotations

import abc
import reprlib
import socket
import struct
import sys
import typing
from typing import Any, Callable, ClassVar, Dict, List, Sequence, Type, TypeVar, Union

from .addresses import DomainAddress, UDPv4Address, UDPv6Address

#: Type byte of an IPv4 entry in the ``ip_address`` / ``address`` formats.
ADDRESS_TYPE_IPV4 = 0x01
#: Type byte of a host-name entry in the ``address`` format.
ADDRESS_TYPE_DOMAIN_NAME = 0x02
#: Type byte of an IPv6 entry in the ``ip_address`` / ``address`` formats.
ADDRESS_TYPE_IPV6 = 0x03

#: One entry of a ``format_list``: a format name, a nested Serializable class, or ``[Class]`` for a list of them.
FormatListType = Union[str, Type["Serializable"], List[Any]]

T = TypeVar("T")
A = TypeVar("A")
S = TypeVar("S", bound="Serializable")


class PackError(RuntimeError):
    """Data could not be packed into bytes, or bytes could not be unpacked into data.

    :ivar format: name of the format (``"varlenH"``, ``"payload"``, ...) that failed, or ``None`` when no
                  single field is to blame (for example trailing bytes, or a ``from_unpack_list`` that
                  rejected the values).
    :ivar offset: byte offset at which the failing field starts (when unpacking, in the buffer that was
                  given; when packing, in the output produced so far), or ``None`` when unknown.

    The low-level exception that caused it, if any, is available as ``__cause__``. For a failure inside a
    nested payload, ``format`` names the innermost failing field; when unpacking, ``offset`` is still
    counted from the start of the outer buffer, and when packing it is counted within the nested payload.
    """

    def __init__(self, message: str, *, format: str | None = None, offset: int | None = None) -> None:  # noqa: A002
        """Create the error; ``message`` says what went wrong, ``format`` and ``offset`` say where."""
        super().__init__(message)
        self.message = message
        self.format = format
        self.offset = offset
        self._located = False  # set once a serializer has pinned the failure to a field of some payload

    def __reduce__(self) -> tuple:
        return _rebuild_pack_error, (self.message, self.format, self.offset)

    def __str__(self) -> str:
        location = []
        if self.format is not None:
            location.append(f"format {self.format!r}")
        if self.offset is not None:
            location.append(f"offset {self.offset}")
        return f"{self.message} ({', '.join(location)})" if location else self.message


def _rebuild_pack_error(message: str, fmt: str | None, offset: int | None) -> PackError:
    """Unpickling helper: keep ``format`` and ``offset`` across process boundaries."""
    return PackError(message, format=fmt, offset=offset)


class _Malformed(Exception):
    """Cheap signal used inside generated code; always converted into a :exc:`PackError`."""


def _located(error: PackError, cause: BaseException | None = None) -> PackError:
    """Mark ``error`` as fully explained (see ``Serializer._already_explained``) and record its cause."""
    error._located = True  # noqa: SLF001
    if cause is not None and cause is not error:
        error.__cause__ = cause
    return error


def _short_repr(value: Any) -> str:  # noqa: ANN401
    """A bounded ``repr`` for error messages that never fails (values may be huge, cyclic or broken)."""
    try:
        text = _LIMITED_REPR.repr(value)
    except Exception:  # noqa: BLE001 - an error message must not raise
        return f"<{type(value).__name__} object>"
    return text if len(text) <= 200 else text[:197] + "..."


def _root(exc: BaseException) -> BaseException:
    """The low-level exception behind a packer's own PackError wrapper (or ``exc`` itself)."""
    if isinstance(exc, PackError) and not exc._located and exc.__cause__ is not None:  # noqa: SLF001
        return exc.__cause__
    return exc


def _describe(exc: BaseException) -> str:
    """Short text for a low-level exception, for use inside a PackError message."""
    if isinstance(exc, PackError):
        root = _root(exc)
        return exc.message if root is exc else _describe(root)
    text = str(exc)
    kind = "struct.error" if isinstance(exc, struct.error) else type(exc).__name__
    if isinstance(exc, _Malformed):
        return "data is truncated or malformed"
    return f"{kind}: {text}" if text else kind


# ------------------------------------------------------------------------------------------------------------
# IPv4 text <-> bytes conversion with a small memo. Peer discovery sees the same few addresses over and
# over, and socket.inet_ntoa() is surprisingly slow; the memo is cleared wholesale when it gets big, so
# hostile traffic cannot grow it without bound.
# ------------------------------------------------------------------------------------------------------------
_MEMO_LIMIT = 4096
_ipv4_text_memo: Dict[bytes, str] = {}
_ipv4_bytes_memo: Dict[str, bytes] = {}


def _ipv4_text(raw: bytes) -> str:
    text = socket.inet_ntoa(raw)
    if len(_ipv4_text_memo) >= _MEMO_LIMIT:
        _ipv4_text_memo.clear()
    _ipv4_text_memo[raw] = text
    return text


def _ipv4_bytes(text: str) -> bytes:
    raw = socket.inet_aton(text)
    if len(_ipv4_bytes_memo) >= _MEMO_LIMIT:
        _ipv4_bytes_memo.clear()
    _ipv4_bytes_memo[text] = raw
    return raw


_new_tuple = tuple.__new__
_LIMITED_REPR = reprlib.Repr()
_LIMITED_REPR.maxstring = _LIMITED_REPR.maxother = 120


# ------------------------------------------------------------------------------------------------------------
# Code generation helpers. Packers that know how to inline themselves implement ``_emit_pack`` and
# ``_emit_unpack`` and talk to these builders; any other packer is called through its public methods.
# ------------------------------------------------------------------------------------------------------------
_STANDARD_ORDERS = {">": ">", "!": ">", "<": "<", "=": "="}


def _split_struct_format(fmt: str) -> tuple[str | None, str]:
    """Split a struct format into (mergeable byte order or None, body)."""
    if fmt and fmt[0] in _STANDARD_ORDERS:
        return _STANDARD_ORDERS[fmt[0]], fmt[1:]
    return None, fmt


class _Source:
    """Accumulates generated statements plus the objects the generated code refers to."""

    def __init__(self, indent: str) -> None:
        self.env: dict[str, Any] = {}
        self.lines: list[str] = []
        self.indent = indent
        self._count = 0

    def ref(self, obj: Any, hint: str = "k") -> str:  # noqa: ANN401
        """Make ``obj`` reachable from the generated code and return the name to use for it."""
        for name, known in self.env.items():
            if known is obj:
                return name
        name = f"_{hint}{len(self.env)}"
        self.env[name] = obj
        return name

    def var(self, hint: str = "v") -> str:
        """A fresh local variable name."""
        self._count += 1
        return f"{hint}{self._count}"

    def line(self, text: str) -> None:
        """Append one statement."""
        self.lines.append(self.indent + text)


class _UnpackBuilder(_Source):
    """Generates reading code. Fixed-size fields are collected and read with one struct call."""

    def __init__(self, indent: str) -> None:
        super().__init__(indent)
        self._base = "offset"     # the current position is ``_base + _static``
        self._static = 0
        self._group_order: str | None = None
        self._group_body: list[str] = []
        self._group_raws: list[str] = []
        self.uses_length = False

    def _position(self) -> str:
        return self._base if not self._static else f"{self._base} + {self._static}"

    def fixed(self, fmt: str, count: int) -> list[str]:
        """Reserve a fixed-size piece (struct format ``fmt`` giving ``count`` values); returns their names."""
        order, body = _split_struct_format(fmt)
        if self._group_body and (order is None or order != self._group_order):
            self.flush()
        names = [self.var("r") for _ in range(count)]
        self._group_order = order
        self._group_body.append(body)
        self._group_raws.extend(names)
        if order is None:  # native alignment rules: never share a struct call with anything else
            self.flush()
        return names

    def flush(self) -> None:
        """Emit the struct call for the pending fixed-size pieces."""
        if not self._group_body:
            return
        compiled = struct.Struct((self._group_order or "") + "".join(self._group_body))
        reader = self.ref(compiled.unpack_from, "s")
        targets = ", ".join(self._group_raws) + ("," if len(self._group_raws) == 1 else "")
        if self._group_raws:
            self.line(f"{targets} = {reader}(data, {self._position()})")
        else:
            self.line(f"{reader}(data, {self._position()})")
        self._static += compiled.size
        self._group_order, self._group_body, self._group_raws = None, [], []

    def cursor(self) -> str:
        """Flush, make sure local ``o`` holds the current position, and return ``"o"``."""
        self.flush()
        if self._base != "o" or self._static:
            self.line(f"o = {self._position()}")
            self._base, self._static = "o", 0
        return "o"

    def length(self) -> str:
        """Name of the local holding ``len(data)``."""
        self.uses_length = True
        return "dlen"

    def end(self) -> str:
        """Expression for the final position."""
        self.flush()
        return self._position()


class _PackBuilder(_Source):
    """Generates writing code: pieces are concatenated; fixed-size pieces share struct calls."""

    def __init__(self, indent: str) -> None:
        super().__init__(indent)
        self.parts: list[str] = []
        self._group_order: str | None = None
        self._group_body: list[str] = []
        self._group_args: list[str] = []
        self._first_is_struct: bool | None = None

    def bind(self, expression: str, hint: str = "v") -> str:
        """Evaluate ``expression`` once into a local and return the local's name."""
        name = self.var(hint)
        self.line(f"{name} = {expression}")
        return name

    def fixed(self, fmt: str, args: list[str]) -> None:
        """Append a fixed-size piece: struct format ``fmt`` filled with the argument expressions ``args``."""
        order, body = _split_struct_format(fmt)
        if self._group_body and (order is None or order != self._group_order):
            self._close()
        self._group_order = order
        self._group_body.append(body)
        self._group_args.extend(args)
        if order is None:
            self._close()

    def tail(self, expression: str) -> None:
        """Append a bytes-like expression after everything so far."""
        self._close()
        if self._first_is_struct is None:
            self._first_is_struct = False
        self.parts.append(expression)

    def _close(self) -> None:
        if not self._group_body:
            return
        compiled = struct.Struct((self._group_order or "") + "".join(self._group_body))
        packer = self.ref(compiled.pack, "s")
        self.parts.append(f"{packer}({', '.join(self._group_args)})")
        if self._first_is_struct is None:
            self._first_is_struct = True
        self._group_order, self._group_body, self._group_args = None, [], []

    def result(self) -> str:
        """Expression producing the final bytes."""
        self._close()
        if not self.parts:
            return "b''"
        if len(self.parts) == 1:
            return self.parts[0] if self._first_is_struct else f"b'' + {self.parts[0]}"
        if len(self.parts) <= 4:
            first = self.parts[0] if self._first_is_struct else f"b'' + {self.parts[0]}"
            return " + ".join([first, *self.parts[1:]])
        return f"b''.join(({', '.join(self.parts)},))"


# ------------------------------------------------------------------------------------------------------------
# Packers
# ------------------------------------------------------------------------------------------------------------
class Packer(typing.Generic[T, A], metaclass=abc.ABCMeta):
    """Knows how to turn one kind of value into bytes and back.

    Subclass this to add your own format and register it with :meth:`Serializer.add_packer`.
    Raising any exception from these methods is fine: the serializer reports it as a :exc:`PackError`.
    """

    @abc.abstractmethod
    def pack(self, *data: T) -> bytes:
        """Return the wire bytes for ``data`` (usually a single value)."""

    @abc.abstractmethod
    def unpack(self, data: bytes, offset: int, unpack_list: list, *args: A) -> int:
        """Read one value from ``data`` at ``offset``, append it to ``unpack_list``, return the new offset."""


class _BuiltinPacker(Packer):
    """Shared plumbing for the standard packers.

    Subclasses implement ``_encode(*values) -> bytes`` and ``_decode(data, offset, *args) -> (value, end)``;
    this class turns any failure in them into a :exc:`PackError`. ``_spread`` marks packers whose decoded
    value is a list of separate values (``bits``) rather than one value.
    """

    _spread: ClassVar[bool] = False
    #: How many values ``pack`` takes; ``None`` if that is not fixed.
    pack_arity: int | None = 1

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        raise NotImplementedError

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        raise NotImplementedError

    def pack(self, *data: Any) -> bytes:  # noqa: ANN401
        """Encode ``data``; raises :exc:`PackError` if it does not fit this format."""
        try:
            return self._encode(*data)
        except PackError:
            raise
        except RecursionError as exc:
            raise _located(PackError("payloads are nested too deeply", format=repr(self)), exc) from exc
        except Exception as exc:
            msg = f"{self!r} cannot pack {_short_repr(data[0] if len(data) == 1 else data)}: {_describe(exc)}"
            raise PackError(msg, format=repr(self)) from exc

    def unpack(self, data: bytes, offset: int, unpack_list: list, *args: Any) -> int:  # noqa: ANN401
        """Decode one value at ``offset``; raises :exc:`PackError` on truncated or invalid data."""
        try:
            value, end = self._decode(data, offset, *args)
        except PackError:
            raise
        except RecursionError as exc:
            raise _located(PackError("payloads are nested too deeply", format=repr(self), offset=offset), exc) from exc
        except Exception as exc:
            msg = f"{self!r} cannot unpack: {_describe(exc)}"
            raise PackError(msg, format=repr(self), offset=offset) from exc
        if self._spread:
            unpack_list.extend(value)
        else:
            unpack_list.append(value)
        return end

    @staticmethod
    def _take(data: bytes, start: int, size: int) -> bytes:
        """``data[start:start + size]``, refusing to come up short."""
        end = start + size
        if end > len(data):
            msg = f"needs {size} bytes at offset {start} but the data ends at {len(data)}"
            raise ValueError(msg)
        return data[start:end]

    # Code generation defaults: call the public methods.
    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        return _emit_call_unpack(self, b, args)

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        b.tail(f"{b.ref(self._encode, 'p')}({', '.join(values)})")


def _emit_call_unpack(packer: Packer, b: _UnpackBuilder, args: tuple) -> list[str]:
    """Code that calls ``packer.unpack`` as-is; the values it appends are spliced in with ``*``."""
    pos = b.cursor()
    collected = b.var("t")
    call_args = "".join(f", {b.ref(arg, 'c')}" for arg in args)
    b.line(f"{collected} = []")
    b.line(f"{pos} = {b.ref(packer.unpack, 'u')}(data, {pos}, {collected}{call_args})")
    return [f"*{collected}"]


class DefaultStruct(_BuiltinPacker):
    """Any fixed-size ``struct`` format, for example ``DefaultStruct(">I")`` or ``DefaultStruct(">QH")``.

    :param format_str: the struct format; use ``>`` (network order) for wire formats.
    :param single_value: ``True`` unpacks to a bare value, ``False`` always to a tuple. By default (``None``)
                         a format with one value unpacks to that value and other formats to a tuple.
    """

    def __init__(self, format_str: str, single_value: bool | None = None) -> None:
        """Prepare the struct format."""
        self.format_str = format_str
        self._struct = struct.Struct(format_str)
        self.size = self._struct.size
        self.value_count = len(self._struct.unpack(bytes(self.size)))
        if single_value is None:
            single_value = self.value_count == 1
        elif single_value and self.value_count != 1:
            msg = f"format {format_str!r} holds {self.value_count} values, so it cannot be single-valued"
            raise ValueError(msg)
        self.single_value = single_value
        self.pack_arity = self.value_count

    def __repr__(self) -> str:
        return f"DefaultStruct({self.format_str!r})"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        if len(values) == 1 and self.value_count > 1 and isinstance(values[0], (tuple, list)):
            values = tuple(values[0])  # accept the tuple that unpacking produced
        return self._struct.pack(*values)

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        values = self._struct.unpack_from(data, offset)
        return (values[0] if self.single_value else values), offset + self.size

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        raws = b.fixed(self.format_str, self.value_count)
        if self.single_value:
            return [raws[0]]
        return [f"({', '.join(raws)},)"]

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        if len(values) == 1 and self.value_count > 1:
            values = [f"*{values[0]}"]  # one name holding the whole tuple
        b.fixed(self.format_str, values)


class Bits(_BuiltinPacker):
    """Eight flags in one byte; the first flag is the most significant bit (0x80), the last is 0x01.

    Packs eight truthy/falsy values (or one sequence of eight); unpacks to eight ints (0 or 1).
    """

    _spread = True
    pack_arity = 8
    _MASKS = (0x80, 0x40, 0x20, 0x10, 0x08, 0x04, 0x02, 0x01)

    def __repr__(self) -> str:
        return "Bits()"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        if len(values) == 1 and isinstance(values[0], (list, tuple)):
            values = tuple(values[0])  # the list that Serializer.unpack("bits") returns
        if len(values) != 8:
            msg = f"needs exactly 8 flag values, got {len(values)}"
            raise ValueError(msg)
        byte = 0
        for mask, flag in zip(self._MASKS, values):
            if flag:
                byte |= mask
        return bytes((byte,))

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        byte = self._take(data, offset, 1)[0]
        return [1 if byte & mask else 0 for mask in self._MASKS], offset + 1

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        (raw,) = b.fixed(">B", 1)
        return [f"({raw} >> {7 - index} & 1)" for index in range(8)]

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        byte = " | ".join(f"({mask} if {value} else 0)" for mask, value in zip(self._MASKS, values))
        b.fixed(">B", [byte])


class Raw(_BuiltinPacker):
    """Everything that is left: packs bytes as they are and unpacks the rest of the buffer."""

    def __repr__(self) -> str:
        return "Raw()"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (value,) = values
        if not isinstance(value, (bytes, bytearray, memoryview)):
            msg = f"expects bytes, not {type(value).__name__}"
            raise TypeError(msg)
        return bytes(value)

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        if offset > len(data):
            msg = f"offset {offset} lies beyond the end of the data ({len(data)} bytes)"
            raise ValueError(msg)
        return data[offset:], len(data)

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        pos = b.cursor()
        value, dlen = b.var(), b.length()
        b.line(f"if {pos} > {dlen}: raise _Malformed")
        b.line(f"{value} = data[{pos}:]")
        b.line(f"{pos} = {dlen}")
        return [value]

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        b.tail(values[0])


class VarLen(_BuiltinPacker):
    """A length prefix (struct format ``length_format``) followed by that many bytes.

    With ``base`` > 1 the prefix counts units of ``base`` bytes (``varlenHx20`` holds 20-byte hashes), and
    the data must be a whole number of units.
    """

    def __init__(self, length_format: str, base: int = 1) -> None:
        """Prepare the prefix format."""
        self.length_format = length_format
        self._length = struct.Struct(length_format)
        self.length_size = self._length.size
        self.base = base

    def __repr__(self) -> str:
        return f"VarLen({self.length_format!r}, base={self.base})" if self.base != 1 \
            else f"VarLen({self.length_format!r})"

    def _check_units(self, size: int) -> int:
        units, rest = divmod(size, self.base)
        if rest:
            msg = f"data of {size} bytes is not a whole number of {self.base}-byte units"
            raise ValueError(msg)
        return units

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (value,) = values
        if not isinstance(value, (bytes, bytearray, memoryview)):
            msg = f"expects bytes, not {type(value).__name__}"
            raise TypeError(msg)
        return self._length.pack(self._check_units(len(value))) + value

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        (units,) = self._length.unpack_from(data, offset)
        start = offset + self.length_size
        size = units * self.base
        return self._take(data, start, size), start + size

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        (units,) = b.fixed(self.length_format, 1)
        pos = b.cursor()
        end, value = b.var("e"), b.var()
        b.line(f"{end} = {pos} + {units}" + (f" * {self.base}" if self.base != 1 else ""))
        b.line(f"if {end} > {b.length()}: raise _Malformed")
        b.line(f"{value} = {self._convert_source(b, f'data[{pos}:{end}]')}")
        b.line(f"{pos} = {end}")
        return [value]

    def _convert_source(self, b: _Source, chunk: str) -> str:
        return chunk

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        (value,) = values
        if self.base == 1:
            b.fixed(self.length_format, [f"len({value})"])
        else:
            b.fixed(self.length_format, [f"{b.ref(self._check_units, 'w')}(len({value}))"])
        b.tail(value)


class VarLenUtf8(VarLen):
    """Like :class:`VarLen`, for a ``str`` sent as UTF-8 (the prefix counts encoded bytes)."""

    def __repr__(self) -> str:
        return f"VarLenUtf8({self.length_format!r})"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (value,) = values
        if not isinstance(value, str):
            msg = f"expects str, not {type(value).__name__}"
            raise TypeError(msg)
        return super()._encode(value.encode())

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        raw, end = super()._decode(data, offset)
        return str(raw, "utf-8"), end

    def _convert_source(self, b: _Source, chunk: str) -> str:
        return f"str({chunk}, 'utf-8')"

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        encoded = b.bind(f"{b.ref(_utf8_of, 'w')}({values[0]})", "e")
        super()._emit_pack(b, [encoded])


def _utf8_of(text: str) -> bytes:
    if not isinstance(text, str):
        msg = f"expects str, not {type(text).__name__}"
        raise TypeError(msg)
    return text.encode()


class IPv4(_BuiltinPacker):
    """An IPv4 ``(host, port)`` pair as 4 address bytes and a 2-byte port; unpacks to ``UDPv4Address``."""

    _LAYOUT = struct.Struct(">4sH")

    def __repr__(self) -> str:
        return "IPv4()"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (address,) = values
        return self._LAYOUT.pack(socket.inet_aton(address[0]), address[1])

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        host, port = self._LAYOUT.unpack_from(data, offset)
        return UDPv4Address(socket.inet_ntoa(host), port), offset + 6

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        host, port = b.fixed(">4sH", 2)
        memo, slow = b.ref(_ipv4_text_memo.get, "m"), b.ref(_ipv4_text, "w")
        return [f"{b.ref(_new_tuple, 'w')}({b.ref(UDPv4Address, 'a')}, ({memo}({host}) or {slow}({host}), {port}))"]

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        host = b.bind(f"{values[0]}[0]", "h")
        memo, slow = b.ref(_ipv4_bytes_memo.get, "m"), b.ref(_ipv4_bytes, "w")
        b.fixed(">4sH", [f"{memo}({host}) or {slow}({host})", f"{values[0]}[1]"])


class Address(_BuiltinPacker):
    """A typed address: one type byte, then IPv4 (4 + 2 bytes), IPv6 (16 + 2) or a host name.

    Host names (type 0x02: 2-byte length, UTF-8 name, 2-byte port) are refused when ``ip_only`` is set.
    Anything that is not a valid IPv4 or IPv6 text address counts as a host name.
    """

    _V4 = struct.Struct(">B4sH")
    _V6 = struct.Struct(">B16sH")
    _V4_BODY = struct.Struct(">4sH")
    _V6_BODY = struct.Struct(">16sH")
    _SHORT = struct.Struct(">H")

    def __init__(self, ip_only: bool = False) -> None:
        """Choose whether host names are allowed."""
        self.ip_only = ip_only

    def __repr__(self) -> str:
        return f"Address(ip_only={self.ip_only})"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (address,) = values
        host, port = address[0], address[1]
        try:
            return self._V4.pack(ADDRESS_TYPE_IPV4, socket.inet_pton(socket.AF_INET, host), port)
        except OSError:
            pass
        try:
            return self._V6.pack(ADDRESS_TYPE_IPV6, socket.inet_pton(socket.AF_INET6, host), port)
        except OSError:
            pass
        if self.ip_only:
            msg = f"{host!r} is not an IPv4 or IPv6 address"
            raise ValueError(msg)
        name = host.encode()
        return bytes((ADDRESS_TYPE_DOMAIN_NAME,)) + self._SHORT.pack(len(name)) + name + self._SHORT.pack(port)

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        return self._decode_body(self._take(data, offset, 1)[0], data, offset + 1)

    def _decode_body(self, kind: int, data: bytes, offset: int) -> tuple[Any, int]:
        if kind == ADDRESS_TYPE_IPV4:
            host, port = self._V4_BODY.unpack_from(data, offset)
            return _new_tuple(UDPv4Address, (_ipv4_text_memo.get(host) or _ipv4_text(host), port)), offset + 6
        if kind == ADDRESS_TYPE_IPV6:
            host, port = self._V6_BODY.unpack_from(data, offset)
            return UDPv6Address(socket.inet_ntop(socket.AF_INET6, host), port), offset + 18
        if kind == ADDRESS_TYPE_DOMAIN_NAME and not self.ip_only:
            (size,) = self._SHORT.unpack_from(data, offset)
            name = str(self._take(data, offset + 2, size), "utf-8")
            (port,) = self._SHORT.unpack_from(data, offset + 2 + size)
            return DomainAddress(name, port), offset + 4 + size
        msg = f"unknown address type {kind:#04x}"
        raise ValueError(msg)

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        (kind,) = b.fixed(">B", 1)
        pos = b.cursor()
        value = b.var()
        b.line(f"{value}, {pos} = {b.ref(self._decode_body, 'w')}({kind}, data, {pos})")
        return [value]


class ListOf(_BuiltinPacker):
    """A count (struct format ``length_format``, one byte by default) followed by that many items.

    Each item is packed and unpacked by ``packer``; extra unpack arguments are passed on to it.
    """

    pack_arity = 1

    def __init__(self, packer: Packer, length_format: str = ">B") -> None:
        """Wrap the packer used for the items."""
        self.packer = packer
        self.length_format = length_format
        self._length = struct.Struct(length_format)
        self.length_size = self._length.size

    def __repr__(self) -> str:
        return f"ListOf({self.packer!r})"

    def _encode_items(self, items: Sequence) -> bytes:
        pack = self.packer.pack
        return b"".join([pack(item) for item in items])

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (items,) = values
        return self._length.pack(len(items)) + self._encode_items(items)

    def _decode_items(self, count: int, data: bytes, offset: int, *args: Any) -> tuple[list, int]:  # noqa: ANN401
        items: list = []
        unpack = self.packer.unpack
        for _ in range(count):
            offset = unpack(data, offset, items, *args)
        return items, offset

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        (count,) = self._length.unpack_from(data, offset)
        return self._decode_items(count, data, offset + self.length_size, *args)

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        (count,) = b.fixed(self.length_format, 1)
        pos = b.cursor()
        value = b.var()
        extra = "".join(f", {b.ref(arg, 'c')}" for arg in args)
        b.line(f"{value}, {pos} = {b.ref(self._decode_items, 'w')}({count}, data, {pos}{extra})")
        return [value]

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        (items,) = values
        b.fixed(self.length_format, [f"len({items})"])
        b.tail(f"{b.ref(self._encode_items, 'w')}({items})")


class DefaultArray(_BuiltinPacker):
    """A count followed by that many numbers of one struct type (``"q"``, ``"d"``, or ``"?"`` for booleans).

    pyipv8 writes these with the machine's own byte order, which is little-endian on every platform it
    runs on in practice; txipv8 always uses little-endian so the bytes match. An explicit byte-order
    character in ``length_format`` is honoured.
    """

    def __init__(self, format_str: str, length_format: str) -> None:
        """Choose the item type and the count's format."""
        self.format_str = format_str
        self.length_format = length_format
        self._item = "B" if format_str == "?" else format_str
        self._length = struct.Struct(length_format if length_format[:1] in "<>!=@" else "<" + length_format)
        self.length_size = self._length.size
        self.item_size = struct.calcsize("<" + self._item)

    def __repr__(self) -> str:
        return f"DefaultArray({self.format_str!r}, {self.length_format!r})"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (items,) = values
        return self._length.pack(len(items)) + struct.pack(f"<{len(items)}{self._item}", *items)

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        (count,) = self._length.unpack_from(data, offset)
        start = offset + self.length_size
        size = count * self.item_size
        chunk = self._take(data, start, size)
        items = list(struct.unpack(f"<{count}{self._item}", chunk))
        if self.format_str == "?":
            items = [bool(item) for item in items]
        return items, start + size

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        pos = b.cursor()
        value = b.var()
        b.line(f"{value}, {pos} = {b.ref(self._decode, 'w')}(data, {pos})")
        return [value]


class NestedPayload(_BuiltinPacker):
    """Another Serializable inside this one: a 2-byte length, then the nested object's own bytes.

    The nested class is given as the extra unpack argument (or written straight into a ``format_list``).
    The nested object must use exactly the announced number of bytes.
    """

    _SHORT = struct.Struct(">H")

    def __init__(self, serializer: Serializer) -> None:
        """Use ``serializer`` (and the formats it knows) for the nested object."""
        self.serializer = serializer

    def __repr__(self) -> str:
        return "NestedPayload()"

    def _encode(self, *values: Any) -> bytes:  # noqa: ANN401
        (serializable,) = values
        body = self.serializer.pack_serializable(serializable)
        return self._SHORT.pack(len(body)) + body

    def _decode_body(self, cls: type[Serializable], data: bytes, start: int, end: int) -> Serializable:
        """Unpack ``cls`` from ``data[start:end]``, which it must use completely."""
        try:
            value, used = self.serializer.unpack_serializable(cls, data[start:end])
        except PackError as exc:
            if exc.offset is not None:
                exc.offset += start  # report positions in the outer buffer
            raise
        if used != end - start:
            msg = f"nested {cls.__name__} used {used} of its {end - start} bytes"
            raise _located(PackError(msg, format="payload", offset=start))
        return value

    def _decode(self, data: bytes, offset: int, *args: Any) -> tuple[Any, int]:  # noqa: ANN401
        if len(args) != 1:
            msg = "needs the nested Serializable class as its extra argument"
            raise TypeError(msg)
        (size,) = self._SHORT.unpack_from(data, offset)
        self._take(data, offset + 2, size)  # refuses a short buffer
        return self._decode_body(args[0], data, offset + 2, offset + 2 + size), offset + 2 + size

    def _emit_unpack(self, b: _UnpackBuilder, args: tuple) -> list[str]:
        if len(args) != 1:
            return _emit_call_unpack(self, b, args)
        (size,) = b.fixed(">H", 1)
        pos = b.cursor()
        end, value = b.var("e"), b.var()
        b.line(f"{end} = {pos} + {size}")
        b.line(f"if {end} > {b.length()}: raise _Malformed")
        b.line(f"{value} = {b.ref(self._decode_body, 'w')}({b.ref(args[0], 'c')}, data, {pos}, {end})")
        b.line(f"{pos} = {end}")
        return [value]

    def _emit_pack(self, b: _PackBuilder, values: list[str]) -> None:
        body = b.bind(f"{b.ref(self.serializer.pack_serializable, 'w')}({values[0]})", "n")
        b.fixed(">H", [f"len({body})"])
        b.tail(body)


# Packers whose code generation may be used: exactly these classes (a user subclass that overrides
# pack/unpack must not be short-circuited by the parent's inline code).
_INLINE_PACKERS = frozenset({DefaultStruct, Bits, Raw, VarLen, VarLenUtf8, IPv4, Address, ListOf,
                             DefaultArray, NestedPayload})


def _pack_arity(name: str, packer: Packer) -> int | None:
    """How many values a pack-list tuple carries for this format (``None``: any number)."""
    if type(packer) in _INLINE_PACKERS:
        return typing.cast("_BuiltinPacker", packer).pack_arity
    return None


# ------------------------------------------------------------------------------------------------------------
# Serializable classes
# ------------------------------------------------------------------------------------------------------------
class Serializable(metaclass=abc.ABCMeta):
    """Base class of everything the :class:`Serializer` can pack.

    Subclasses set ``format_list`` (the format of each field, in wire order) and implement
    :meth:`to_pack_list` and :meth:`from_unpack_list`.
    """

    format_list: ClassVar[list[FormatListType]] = []

    @abc.abstractmethod
    def to_pack_list(self) -> list[tuple]:
        """Return ``[(format_name, value, ...), ...]``, one tuple per field, in wire order."""

    @classmethod
    @abc.abstractmethod
    def from_unpack_list(cls: type[S], *args: Any, **kwargs: Any) -> S:  # noqa: ANN401
        """Build an instance from the values unpacked for each format, in ``format_list`` order."""

    # Hooks used by the Serializer's code generator; plain Serializables need neither.
    @classmethod
    def _finalize_format(cls) -> None:
        """Complete ``format_list`` (and friends) before the first use, if the class computes them lazily."""

    @classmethod
    def _field_names(cls, purpose: str) -> list[str] | None:
        """Attribute names the serializer may read (``purpose="pack"``) or write (``"unpack"``) directly.

        ``None`` means: go through :meth:`to_pack_list` / :meth:`from_unpack_list` instead.
        """
        return None


class Payload(Serializable):
    """A Serializable that prints itself as its class name followed by one ``| name: value`` line per field."""

    def __str__(self) -> str:
        lines = [type(self).__name__]
        for attribute in dir(self):
            if attribute.startswith("_") or attribute in ("format_list", "names"):
                continue
            value = getattr(self, attribute)
            if not callable(value):
                lines.append(f"| {attribute}: {value!r}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------
# The Serializer
# ------------------------------------------------------------------------------------------------------------
def _format_name(entry: FormatListType) -> str:
    """The registered format a ``format_list`` entry stands for."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, list):
        return "payload-list"
    return "payload"


def _format_args(entry: FormatListType) -> tuple:
    """Extra unpack arguments for a ``format_list`` entry (the nested class, for payloads)."""
    if isinstance(entry, str):
        return ()
    if isinstance(entry, list):
        if len(entry) != 1 or not isinstance(entry[0], type):
            msg = f"a list entry in a format_list must hold exactly one Serializable class, not {entry!r}"
            raise TypeError(msg)
        return (entry[0],)
    if isinstance(entry, type):
        return (entry,)
    msg = f"{entry!r} is not a valid format_list entry (use a format name, a class or [class])"
    raise TypeError(msg)


class Serializer:
    """Packs and unpacks Serializable objects using a table of named formats.

    Each instance has its own table: :meth:`add_packer` on one serializer never affects another one (or
    :data:`default_serializer`). Until its first :meth:`add_packer`, an instance shares the standard table and
    the compiled code with every other such instance (copy on write): an overlay that only uses the standard
    formats costs no memory and no compilation of its own.
    """

    def __init__(self) -> None:
        """Create a serializer that knows all standard formats."""
        base = _STANDARD_TABLES
        if base is None:  # building the shared standard tables themselves
            self._own_tables()
        else:
            self._packers: dict[str, Packer] = base._packers
            self._packing: dict[type, Callable[[Any], bytes]] = base._packing
            self._unpacking: dict[type, Callable[[bytes, int], tuple[Any, int]]] = base._unpacking
            self._shared = True

    def _own_tables(self) -> None:
        self._packers = self._standard_packers()
        self._packing = {}
        self._unpacking = {}
        self._shared = False

    def _standard_packers(self) -> dict[str, Packer]:
        nested = NestedPayload(self)
        short_varlen = VarLen(">H")
        packers: dict[str, Packer] = {
            name: DefaultStruct(">" + layout) for name, layout in (
                ("?", "?"), ("B", "B"), ("BBH", "BBH"), ("BH", "BH"), ("c", "c"), ("f", "f"), ("d", "d"),
                ("H", "H"), ("HH", "HH"), ("I", "I"), ("l", "l"), ("LL", "LL"), ("q", "q"), ("Q", "Q"),
                ("QH", "QH"), ("QL", "QL"), ("QQHHBH", "QQHHBH"), ("ccB", "ccB"), ("4SH", "4sH"),
                ("20s", "20s"), ("32s", "32s"), ("64s", "64s"), ("74s", "74s"), ("c20s", "c20s"))
        }
        packers.update({
            "raw": Raw(),
            "bits": Bits(),
            "payload": nested,
            "payload-list": ListOf(nested),
            "varlenH": short_varlen,
            "doublevarlenH": VarLen(">H"),
            "varlenI": VarLen(">I"),
            "varlenBx2": VarLen(">B", 2),
            "varlenHx20": VarLen(">H", 20),
            "varlenHutf8": VarLenUtf8(">H"),
            "varlenIutf8": VarLenUtf8(">I"),
            "varlenH-list": ListOf(short_varlen),
            "ipv4": IPv4(),
            "address": Address(),
            "ip_address": Address(ip_only=True),
        })
        packers.update({f"arrayH-{item}": DefaultArray(item, "H") for item in ("?", "q", "d")})
        return packers

    # -- the format table ------------------------------------------------------------------------------------
    def get_available_formats(self) -> list[str]:
        """Names of all formats this serializer knows."""
        return list(self._packers)

    def get_packer_for(self, name: str) -> Packer:
        """The packer registered under ``name`` (``KeyError`` if there is none)."""
        return self._packers[name]

    def add_packer(self, name: str, packer: Packer) -> None:
        """Register (or replace) the packer used for format ``name`` in this serializer only."""
        if self._shared:
            self._own_tables()  # stop sharing before changing anything
        self._packers[name] = packer
        self._packing.clear()  # compiled code may have inlined the old meaning of the name
        self._unpacking.clear()

    def _packer(self, name: str) -> Packer:
        packer = self._packers.get(name)
        if packer is None:
            msg = f"unknown format {name!r}; register it with add_packer()"
            raise PackError(msg, format=name)
        return packer

    # -- single values ---------------------------------------------------------------------------------------
    def pack(self, fmt: str, item: Any) -> bytes:  # noqa: ANN401
        """Pack one value with the named format (``Serializable`` classes are usually more convenient)."""
        packer = self._packer(fmt)
        try:
            return packer.pack(item)
        except Exception as exc:
            msg = f"cannot pack {_short_repr(item)} as {fmt!r}: {_describe(exc)}"
            raise PackError(msg, format=fmt, offset=0) from _root(exc)

    def unpack(self, fmt: FormatListType, data: bytes, offset: int = 0) -> tuple[Any, int]:
        """Unpack one value of format ``fmt`` (a name, a Serializable class or ``[class]``) at ``offset``.

        Returns ``(value, new_offset)``; a format that yields several values (``bits``) returns them as a list.
        """
        name, args = _format_name(fmt), _format_args(fmt)
        packer = self._packer(name)
        values: list = []
        try:
            end = packer.unpack(data, offset, values, *args)
        except Exception as exc:
            msg = f"cannot unpack {name!r}: {_describe(exc)}"
            raise PackError(msg, format=name, offset=offset) from _root(exc)
        if len(values) != 1:
            return values, end
        return values[0], end

    # -- Serializable objects --------------------------------------------------------------------------------
    def pack_serializable(self, serializable: Serializable) -> bytes:
        """The wire bytes of one Serializable."""
        packing = self._packing.get(serializable.__class__)
        if packing is None:
            packing = self._compile_packing(serializable.__class__)
        return packing(serializable)

    def pack_serializable_list(self, serializables: Sequence[Serializable]) -> bytes:
        """The wire bytes of several Serializables, one after the other."""
        return b"".join([self.pack_serializable(serializable) for serializable in serializables])

    def unpack_serializable(self, serializable: type[S], data: bytes, offset: int = 0) -> tuple[S, int]:
        """Read one ``serializable`` (a class) from ``data`` at ``offset``; returns ``(instance, new_offset)``."""
        unpacking = self._unpacking.get(serializable)
        if unpacking is None:
            unpacking = self._compile_unpacking(serializable)
        return unpacking(data, offset)

    def unpack_serializable_list(self, serializables: Sequence[type[Serializable]], data: bytes,
                                 offset: int = 0, consume_all: bool = True) -> list[Any]:
        """Read the given classes one after the other, starting at ``offset``.

        With ``consume_all`` (the default) bytes left over at the end are an error (:exc:`PackError`);
        without it, the leftover bytes (possibly empty) are returned as the last list element.
        """
        unpacked: list[Any] = []
        for serializable in serializables:
            instance, offset = self.unpack_serializable(serializable, data, offset)
            unpacked.append(instance)
        if not consume_all:
            unpacked.append(data[offset:])
        elif offset != len(data):
            names = ", ".join(cls.__name__ for cls in serializables)
            msg = f"{len(data) - offset} unexpected bytes after [{names}]"
            raise PackError(msg, offset=offset)
        return unpacked

    # -- code generation -------------------------------------------------------------------------------------
    def _resolve(self, cls: type) -> list[tuple[str, Packer, tuple]]:
        """``(format name, packer, extra unpack args)`` for every field of ``cls``."""
        finalize = getattr(cls, "_finalize_format", None)
        if finalize is not None:
            finalize()
        if not hasattr(cls, "format_list"):
            msg = f"{getattr(cls, '__name__', cls)!r} is not a Serializable (it has no format_list)"
            raise PackError(msg)
        try:
            entries = list(cls.format_list)
        except TypeError as exc:
            msg = f"{cls!r} has no usable format_list"
            raise TypeError(msg) from exc
        return [(_format_name(entry), self._packer(_format_name(entry)), _format_args(entry)) for entry in entries]

    @staticmethod
    def _names_per_field(cls: type, fields: list[tuple[str, Packer, tuple]], names: list[str]) -> list[list[str]]:
        """Split the attribute names over the fields: ``bits`` takes eight, everything else one."""
        needed = sum(8 if name == "bits" else 1 for name, _, _ in fields)
        if needed != len(names):
            msg = f"{cls.__name__}: its format_list needs {needed} names but names has {len(names)}"
            raise TypeError(msg)
        grouped, index = [], 0
        for name, _, _ in fields:
            width = 8 if name == "bits" else 1
            grouped.append(names[index:index + width])
            index += width
        return grouped

    def _compile_packing(self, cls: type) -> Callable[[Any], bytes]:
        fields = self._resolve(cls)
        names = cls._field_names("pack") if isinstance(cls, type) and issubclass(cls, Serializable) else None
        if names is not None:
            function = self._generate_attribute_packing(cls, fields, names)
        else:
            function = self._generate_list_packing(cls, fields)
        self._packing[cls] = function
        return function

    def _generate_attribute_packing(self, cls: type, fields: list[tuple[str, Packer, tuple]],
                                    names: list[str]) -> Callable[[Any], bytes]:
        """Packing code that reads the attributes directly (classes built from ``names``)."""
        grouped = self._names_per_field(cls, fields, names)
        b = _PackBuilder("        ")
        for (_, packer, _), field_names in zip(fields, grouped):
            values = [b.bind(f"obj.fix_pack_{attr}(obj.{attr})" if hasattr(cls, "fix_pack_" + attr)
                             else f"obj.{attr}") for attr in field_names]
            self._emit_pack_field(b, packer, values)
        result = b.result()

        def failed(obj: Any, exc: Exception) -> PackError:  # noqa: ANN401
            return self._diagnose_attribute_packing(cls, fields, grouped, obj, exc)

        source = (f"def pack(obj):\n    try:\n" + "\n".join(b.lines) +
                  f"\n        return {result}\n    except Exception as exc:\n        raise _failed(obj, exc)\n")
        return self._build(source, b.env, {"_failed": failed}, cls, "pack")

    def _generate_list_packing(self, cls: type, fields: list[tuple[str, Packer, tuple]]) -> Callable[[Any], bytes]:
        """Packing code that destructures ``to_pack_list()``; unexpected shapes take the generic route."""
        b = _PackBuilder("        ")
        targets, checks = [], []
        for index, (name, packer, _) in enumerate(fields):
            tag = f"f{index}"
            checks.append(f"{tag} == {name!r}")
            arity = _pack_arity(name, packer)
            if arity is None:
                rest = f"x{index}"
                targets.append(f"({tag}, *{rest})")
                b.tail(f"{b.ref(packer.pack, 'p')}(*{rest})")
                continue
            values = [f"x{index}_{position}" for position in range(arity)]
            targets.append(f"({tag}, {', '.join(values)})")
            self._emit_pack_field(b, packer, values)
        result = b.result()
        unpacked = ", ".join(targets) + ("," if len(targets) == 1 else "")
        guard = " and ".join(checks) or "True"

        def generic(obj: Any, items: list) -> bytes:  # noqa: ANN401
            return self._pack_items(cls, items)

        def listing_failed(obj: Any, exc: Exception) -> PackError:  # noqa: ANN401
            error = PackError(f"{cls.__name__}.to_pack_list() failed: {_describe(exc)}")
            error.__cause__ = exc
            return error

        body = "\n".join(b.lines)
        if fields:
            fast = (f"    try:\n        {unpacked} = items\n        if {guard}:\n" +
                    "\n".join("    " + line for line in body.splitlines()) +
                    f"\n            return {result}\n    except Exception as exc:\n"
                    "        known = _explained(_cls, exc)\n        if known is not None:\n            raise known\n")
        else:
            fast = "    if not items:\n        return b''\n"
        source = ("def pack(obj):\n    try:\n        items = obj.to_pack_list()\n"
                  "        if items.__class__ is not list:\n            items = list(items)\n"
                  "    except Exception as exc:\n        raise _listing_failed(obj, exc)\n" +
                  fast + "    return _generic(obj, items)\n")
        helpers = {"_generic": generic, "_listing_failed": listing_failed, "_explained": self._already_explained,
                   "_cls": cls}
        return self._build(source, b.env, helpers, cls, "pack")

    @staticmethod
    def _emit_pack_field(b: _PackBuilder, packer: Packer, values: list[str]) -> None:
        if type(packer) in _INLINE_PACKERS:
            typing.cast("_BuiltinPacker", packer)._emit_pack(b, values)
        else:
            b.tail(f"{b.ref(packer.pack, 'p')}({', '.join(values)})")

    def _compile_unpacking(self, cls: type[S]) -> Callable[[bytes, int], tuple[S, int]]:
        fields = self._resolve(cls)
        b = _UnpackBuilder("        ")
        values: list[str] = []
        for _, packer, args in fields:
            if type(packer) in _INLINE_PACKERS:
                values.extend(typing.cast("_BuiltinPacker", packer)._emit_unpack(b, args))
            else:
                values.extend(_emit_call_unpack(packer, b, args))
        end = b.end()
        target = b.ref(cls, "cls")
        names = cls._field_names("unpack") if issubclass(cls, Serializable) else None
        if names is not None and not any(value.startswith("*") for value in values):
            grouped = self._names_per_field(cls, fields, names)
            flat_names = [attr for group in grouped for attr in group]
            construct = self._emit_construction(b, cls, target, flat_names, values)
        else:
            construct = f"{target}.from_unpack_list({', '.join(values)})"
        if b.uses_length:
            b.lines.insert(0, "        dlen = len(data)")

        def failed(data: bytes, offset: int, exc: Exception) -> PackError:
            return self._diagnose_unpacking(cls, fields, data, offset, exc)

        source = ("def unpack(data, offset=0):\n    try:\n" + "\n".join(b.lines) +
                  f"\n        return {construct}, {end}\n"
                  "    except Exception as exc:\n        raise _failed(data, offset, exc)\n")
        function = self._build(source, b.env, {"_failed": failed, "_Malformed": _Malformed}, cls, "unpack")
        self._unpacking[cls] = function
        return function

    @staticmethod
    def _emit_construction(b: _UnpackBuilder, cls: type, target: str, names: list[str], values: list[str]) -> str:
        """Statements creating the instance without calling ``__init__``; returns the instance's name."""
        fixed = [f"{target}.fix_unpack_{attr}({value})" if hasattr(cls, "fix_unpack_" + attr) else value
                 for attr, value in zip(names, values)]
        instance = b.var("obj")
        b.line(f"{instance} = {b.ref(object.__new__, 'new')}({target})")
        if getattr(cls, "__setattr__", object.__setattr__) is object.__setattr__:
            for attr, value in zip(names, fixed):
                b.line(f"{instance}.{attr} = {value}")
        else:  # frozen dataclasses and the like
            setter = b.ref(object.__setattr__, "set")
            for attr, value in zip(names, fixed):
                b.line(f"{setter}({instance}, {attr!r}, {value})")
        return instance

    @staticmethod
    def _build(source: str, env: dict[str, Any], extra: dict[str, Any], cls: type, kind: str) -> Callable:
        namespace = dict(env)
        namespace.update(extra)
        code = compile(source, f"<txipv8 {kind} {getattr(cls, '__qualname__', cls)!s}>", "exec")
        exec(code, namespace)  # noqa: S102 - the source is generated above from format tables, not input
        return namespace[kind]

    # -- slow paths that explain failures --------------------------------------------------------------------
    @staticmethod
    def _already_explained(cls: type, exc: Exception) -> PackError | None:
        """Failures that must not trigger a field-by-field search.

        A PackError coming out of a nested payload was explained at the level where it happened; searching
        again at every enclosing level would cost time exponential in the nesting depth. Running out of
        stack means the nesting itself is the problem.
        """
        if isinstance(exc, PackError) and exc._located:  # noqa: SLF001
            return exc
        if isinstance(exc, RecursionError):
            return _located(PackError(f"{getattr(cls, '__name__', cls)}: payloads are nested too deeply"), exc)
        return None

    def _pack_items(self, cls: type, items: Sequence[tuple]) -> bytes:
        """Pack a pack list field by field, reporting the first field that fails."""
        pieces: list[bytes] = []
        written = 0
        for index, item in enumerate(items):
            if not isinstance(item, tuple) or not item:
                msg = f"{cls.__name__}.to_pack_list() item {index} is {_short_repr(item)}, not a (format, value) tuple"
                raise PackError(msg, offset=written)
            name = item[0]
            packer = self._packers.get(name) if isinstance(name, str) else None
            if packer is None:
                msg = f"{cls.__name__}: unknown format {name!r} in field {index}"
                raise PackError(msg, format=str(name), offset=written)
            try:
                piece = packer.pack(*item[1:])
            except Exception as exc:
                known = self._already_explained(cls, exc)
                if known is not None:
                    raise known  # noqa: B904 - keeps the cause recorded where the failure was explained
                msg = f"{cls.__name__}: cannot pack field {index}: {_describe(exc)}"
                raise _located(PackError(msg, format=name, offset=written), _root(exc)) from _root(exc)
            if not isinstance(piece, (bytes, bytearray)):
                msg = f"{cls.__name__}: packer for {name!r} returned {type(piece).__name__}, not bytes"
                raise PackError(msg, format=name, offset=written)
            pieces.append(piece)
            written += len(piece)
        return b"".join(pieces)

    def _diagnose_attribute_packing(self, cls: type, fields: list[tuple[str, Packer, tuple]],
                                    grouped: list[list[str]], obj: Any, exc: Exception) -> PackError:  # noqa: ANN401
        known = self._already_explained(cls, exc)
        if known is not None:
            return known
        written = 0
        for (name, packer, _), attrs in zip(fields, grouped):
            try:
                values = [getattr(obj, "fix_pack_" + attr)(getattr(obj, attr)) if hasattr(cls, "fix_pack_" + attr)
                          else getattr(obj, attr) for attr in attrs]
                piece = packer.pack(*values)
            except Exception as field_exc:
                msg = f"{cls.__name__}: cannot pack {', '.join(attrs)}: {_describe(field_exc)}"
                return _located(PackError(msg, format=name, offset=written), _root(field_exc))
            written += len(piece)
        return _located(PackError(f"{cls.__name__}: cannot pack: {_describe(exc)}"), exc)

    def _diagnose_unpacking(self, cls: type, fields: list[tuple[str, Packer, tuple]], data: bytes,
                            offset: int, exc: Exception) -> PackError:
        known = self._already_explained(cls, exc)
        if known is not None:
            return known
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return _located(PackError(f"cannot unpack {cls.__name__} from {type(data).__name__}"), exc)
        if not isinstance(offset, int) or offset < 0:
            return _located(PackError(f"cannot unpack {cls.__name__} at offset {offset!r}"), exc)
        position = offset
        for index, (name, packer, args) in enumerate(fields):
            try:
                position = packer.unpack(data, position, [], *args)
            except Exception as field_exc:
                known = self._already_explained(cls, field_exc)
                if known is not None:
                    return known
                msg = f"{cls.__name__}: cannot unpack field {index}: {_describe(field_exc)}"
                return _located(PackError(msg, format=name, offset=position), _root(field_exc))
        msg = f"{cls.__name__}: the unpacked values were rejected: {_describe(exc)}"
        return _located(PackError(msg, offset=offset), exc)


#: The shared serializer with the standard formats. Do not call ``add_packer`` on it; make your own
#: :class:`Serializer` (as ``Community.get_serializer()`` does) when you need extra formats.
# The standard tables every fresh Serializer shares; this instance itself is never handed out or changed.
_STANDARD_TABLES: Serializer | None = None
_STANDARD_TABLES = Serializer()

default_serializer = Serializer()

__all__ = ["ADDRESS_TYPE_DOMAIN_NAME", "ADDRESS_TYPE_IPV4", "ADDRESS_TYPE_IPV6", "Address", "Bits", "DefaultArray",
           "DefaultStruct", "FormatListType", "IPv4", "ListOf", "NestedPayload", "PackError", "Packer", "Payload",
           "Raw", "Serializable", "Serializer", "VarLen", "VarLenUtf8", "default_serializer"]

if sys.version_info < (3, 10):  # pragma: no cover - documented minimum is 3.10
    msg = "txipv8 needs Python 3.10 or newer"
    raise RuntimeError(msg)
