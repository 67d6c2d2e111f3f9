"""The :class:`Serializer`: a table of named formats, and packing code compiled and cached per class.

The first time a :class:`Serializer` meets a class it writes, compiles and caches a pair of Python functions
specialised for that class's ``format_list`` (adjacent fixed-size fields become a single ``struct`` call,
variable-length fields are read inline). Those functions do no defensive checking beyond what is needed to
notice a problem; when anything goes wrong they hand over to a slow field-by-field pass that finds out
*which* field failed and at which offset, and raises :exc:`PackError`.
"""
from __future__ import annotations

import typing
from typing import Any, Callable, Sequence

from .codegen import _PackBuilder, _UnpackBuilder
from .errors import PackError, _describe, _located, _Malformed, _root, _short_repr
from .packer_base import Packer, _BuiltinPacker, _emit_call_unpack
from .packers import (_INLINE_PACKERS, Address, Bits, DefaultArray, DefaultStruct, IPv4, ListOf, NestedPayload, Raw,
                      VarLen, VarLenUtf8, _pack_arity)
from .serializable import FormatListType, S, Serializable, _format_args, _format_name


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

        source = ("def pack(obj):\n    try:\n" + "\n".join(b.lines) +
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


# The standard tables every fresh Serializer shares; this instance itself is never handed out or changed.
_STANDARD_TABLES: Serializer | None = None
_STANDARD_TABLES = Serializer()

#: The shared serializer with the standard formats. Do not call ``add_packer`` on it; make your own
#: :class:`Serializer` (as ``Community.get_serializer()`` does) when you need extra formats.
default_serializer = Serializer()
