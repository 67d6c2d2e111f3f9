"""The standard wire formats: struct fields, bits, raw and length-prefixed data, addresses, lists, nested payloads.

Each packer encodes and decodes field by field and can also write inline code for the compiled per-class
functions (``_emit_pack`` / ``_emit_unpack``); ``_INLINE_PACKERS`` lists exactly the classes whose inline code
may be used.
"""
from __future__ import annotations

import socket
import struct
import typing
from typing import TYPE_CHECKING, Any, Dict, Sequence

from ..addresses import DomainAddress, UDPv4Address, UDPv6Address
from .codegen import _PackBuilder, _Source, _UnpackBuilder
from .errors import PackError, _located
from .packer_base import Packer, _BuiltinPacker, _emit_call_unpack

if TYPE_CHECKING:
    from .serializable import Serializable
    from .serializer import Serializer

#: Type byte of an IPv4 entry in the ``ip_address`` / ``address`` formats.
ADDRESS_TYPE_IPV4 = 0x01
#: Type byte of a host-name entry in the ``address`` format.
ADDRESS_TYPE_DOMAIN_NAME = 0x02
#: Type byte of an IPv6 entry in the ``ip_address`` / ``address`` formats.
ADDRESS_TYPE_IPV6 = 0x03


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
