"""Payloads declared by listing their fields instead of writing the (un)packing code by hand.

A :class:`VariablePayload` subclass sets two class attributes::

    class Greeting(VariablePayload):
        msg_id = 1
        format_list = ["H", "varlenHutf8"]
        names = ["number", "text"]

and gets a constructor (positional or keyword arguments, defaults taken from class attributes with a field's
name), ``to_pack_list``/``from_unpack_list``, equality, ``repr`` and the usual payload printing. A ``bits``
entry in ``format_list`` takes eight names. Per-field wire conversions go in optional methods
``fix_pack_<name>(self, value)`` and ``fix_unpack_<name>(cls, value)`` (a classmethod).

:func:`vp_compile` replaces the generic, loop-based methods with code generated for that one class, which
makes constructing and converting instances several times faster. (The serializer compiles its own
packing code per class either way, so ``vp_compile`` matters most for code that builds many payloads.)
"""
from __future__ import annotations

import keyword
import reprlib
from typing import Any, Callable, ClassVar, TypeVar

from .serialization import FormatListType, Payload, _format_name

#: Attribute set on methods whose behaviour is "read/write the attributes listed in ``names``", which lets
#: the serializer skip them and access the attributes itself.
_NAMES_BASED = "_txipv8_names_based"

_MISSING = object()


def _names_based(function: Callable) -> Callable:
    setattr(function, _NAMES_BASED, True)
    return function


def _is_names_based(method: Any) -> bool:  # noqa: ANN401
    return getattr(method, _NAMES_BASED, False)


def _field_widths(format_list: list[FormatListType]) -> list[int]:
    """How many names each format takes: eight for ``bits``, one for everything else."""
    return [8 if entry == "bits" else 1 for entry in format_list]


def _class_default(cls: type, name: str) -> Any:  # noqa: ANN401
    """The plain value stored under ``name`` on ``cls`` or a base class, or ``_MISSING``.

    Methods, properties and other descriptors are not defaults.
    """
    for klass in cls.__mro__:
        if name in klass.__dict__:
            value = klass.__dict__[name]
            return _MISSING if hasattr(type(value), "__get__") else value
    return _MISSING


class VariablePayload(Payload):
    """A payload described by ``format_list`` plus ``names`` (see the module documentation)."""

    names: ClassVar[list[str]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401
        """Keep compiled methods of an ancestor from leaking into a subclass with other fields."""
        super().__init_subclass__(**kwargs)
        if "names" in cls.__dict__ or "format_list" in cls.__dict__:
            for attribute in ("__init__", "to_pack_list", "from_unpack_list"):
                inherited = getattr(cls, attribute)
                compiled_for = getattr(inherited, "_txipv8_compiled_for", None)
                if compiled_for is not None and attribute not in cls.__dict__:
                    setattr(cls, attribute, VariablePayload.__dict__[attribute])
        if "names" in cls.__dict__:
            cls.__match_args__ = tuple(cls.names)

    @_names_based
    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Fill the fields from positional arguments (in ``names`` order), then keywords, then defaults."""
        names = self.names
        if len(args) > len(names):
            msg = f"{type(self).__name__} has {len(names)} fields but {len(args)} values were given"
            raise TypeError(msg)
        for name, value in zip(names, args):
            setattr(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                value = kwargs.pop(name)
            else:
                value = _class_default(type(self), name)
                if value is _MISSING:
                    msg = f"{type(self).__name__} is missing a value for field {name!r}"
                    raise TypeError(msg)
            setattr(self, name, value)
        if kwargs:
            msg = f"{type(self).__name__} got unexpected or repeated fields: {', '.join(sorted(kwargs))}"
            raise TypeError(msg)

    def _wire_value(self, name: str) -> Any:  # noqa: ANN401
        value = getattr(self, name)
        hook = getattr(self, "fix_pack_" + name, None)
        return value if hook is None else hook(value)

    @_names_based
    def to_pack_list(self) -> list[tuple]:
        """One ``(format, value...)`` tuple per format, with ``fix_pack_<name>`` applied."""
        packed, position = [], 0
        for entry, width in zip(self.format_list, _field_widths(self.format_list)):
            values = [self._wire_value(name) for name in self.names[position:position + width]]
            packed.append((_format_name(entry), *values))
            position += width
        return packed

    @classmethod
    @_names_based
    def from_unpack_list(cls, *args: Any) -> VariablePayload:  # noqa: ANN401
        """Apply the ``fix_unpack_<name>`` hooks to the unpacked values and construct an instance."""
        values = list(args)
        for index, name in enumerate(cls.names[:len(values)]):
            hook = getattr(cls, "fix_unpack_" + name, None)
            if hook is not None and values[index] is not None:
                values[index] = hook(values[index])
        return cls(*values)

    @classmethod
    def _field_names(cls, purpose: str) -> list[str] | None:
        if purpose == "pack":
            return list(cls.names) if _is_names_based(cls.to_pack_list) else None
        if _is_names_based(cls.from_unpack_list) and _is_names_based(cls.__init__):
            return list(cls.names)
        return None

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name, _MISSING) == getattr(other, name, _MISSING) for name in self.names)

    def __hash__(self) -> int:
        return hash((type(self), *(getattr(self, name, None) for name in self.names)))

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name, '<unset>')!r}" for name in self.names)
        return f"{type(self).__name__}({fields})"


class VariablePayloadWID(VariablePayload):
    """A :class:`VariablePayload` that also carries its message id in the class attribute ``msg_id``."""

    msg_id: ClassVar[int]


# ------------------------------------------------------------------------------------------------------------
# vp_compile
# ------------------------------------------------------------------------------------------------------------
_REQUIRED = object()


class _MethodWriter:
    """Writes the source of the three specialised methods for one payload class."""

    def __init__(self, cls: type[VariablePayload]) -> None:
        self.cls = cls
        self.names = list(cls.names)
        self.format_list = list(cls.format_list)
        self.namespace: dict[str, Any] = {"_REQUIRED": _REQUIRED}
        widths = _field_widths(self.format_list)
        if sum(widths) != len(self.names):
            msg = f"{cls.__name__}: format_list needs {sum(widths)} names but names has {len(self.names)}"
            raise TypeError(msg)
        for name in self.names:
            if not name.isidentifier() or keyword.iskeyword(name):
                msg = f"{cls.__name__}: field name {name!r} is not a valid Python identifier"
                raise ValueError(msg)
        if len(set(self.names)) != len(self.names):
            msg = f"{cls.__name__}: names contains duplicates"
            raise ValueError(msg)

    def _defaults(self) -> dict[str, Any]:
        """Defaults: plain class attributes (of the class or a base) named after fields."""
        found = {}
        for name in self.names:
            value = _class_default(self.cls, name)
            if value is not _MISSING:
                found[name] = value
        return found

    def init_source(self) -> str:
        parameters, checks, seen_default = [], [], False
        defaults = self._defaults()
        for name in self.names:
            default = defaults.get(name, _MISSING)
            if default is not _MISSING:
                self.namespace[f"_default_{name}"] = default
                parameters.append(f"{name}=_default_{name}")
                seen_default = True
            elif seen_default:  # a required field after an optional one: only checkable at run time
                parameters.append(f"{name}=_REQUIRED")
                checks.append(f"    if {name} is _REQUIRED:\n"
                              f"        raise TypeError({self.cls.__name__ + ' is missing field ' + repr(name)!r})")
            else:
                parameters.append(name)
        assignments = [f"    _self_.{name} = {name}" for name in self.names] or ["    pass"]
        return (f"def __init__(_self_{''.join(', ' + p for p in parameters)}):\n" +
                "".join(check + "\n" for check in checks) + "\n".join(assignments) + "\n")

    def to_pack_list_source(self) -> str:
        entries, position = [], 0
        for entry, width in zip(self.format_list, _field_widths(self.format_list)):
            values = []
            for name in self.names[position:position + width]:
                if hasattr(self.cls, "fix_pack_" + name):
                    values.append(f"_self_.fix_pack_{name}(_self_.{name})")
                else:
                    values.append(f"_self_.{name}")
            entries.append(f"({_format_name(entry)!r}, {', '.join(values)})")
            position += width
        return f"def to_pack_list(_self_):\n    return [{', '.join(entries)}]\n"

    def from_unpack_list_source(self) -> str:
        arguments = []
        for name in self.names:
            if hasattr(self.cls, "fix_unpack_" + name):
                arguments.append(f"None if {name} is None else _cls_.fix_unpack_{name}({name})")
            else:
                arguments.append(name)
        return (f"def from_unpack_list(_cls_{''.join(', ' + n for n in self.names)}):\n"
                f"    return _cls_({', '.join(arguments)})\n")

    def build(self, source: str, name: str) -> Callable:
        code = compile(source, f"<txipv8 vp_compile {self.cls.__qualname__}.{name}>", "exec")
        exec(code, self.namespace)  # noqa: S102 - generated from the class's own field names
        function = self.namespace[name]
        function.__qualname__ = f"{self.cls.__qualname__}.{name}"
        function._txipv8_compiled_for = self.cls
        return _names_based(function)


def _has_custom_init(cls: type) -> bool:
    """Whether ``cls`` gets its ``__init__`` from somewhere other than this module's generic/generated code."""
    return not _is_names_based(cls.__init__) and cls.__init__ is not object.__init__


P = TypeVar("P", bound=VariablePayload)


def vp_compile(vp_definition: type[P]) -> type[P]:
    """Class decorator: give a VariablePayload class methods generated for its own fields.

    Generated once per class: ``__init__`` (only when the class has no hand-written constructor, which is
    kept), ``to_pack_list`` and ``from_unpack_list``. Behaviour is the same as the generic methods, only faster.
    """
    writer = _MethodWriter(vp_definition)
    if not _has_custom_init(vp_definition):
        vp_definition.__init__ = writer.build(writer.init_source(), "__init__")  # type: ignore[misc]
    to_pack_list = writer.build(writer.to_pack_list_source(), "to_pack_list")
    from_unpack_list = writer.build(writer.from_unpack_list_source(), "from_unpack_list")
    vp_definition.to_pack_list = to_pack_list  # type: ignore[method-assign]
    vp_definition.from_unpack_list = classmethod(from_unpack_list)  # type: ignore[method-assign,assignment]
    vp_definition.__match_args__ = tuple(writer.names)
    return vp_definition


__all__ = ["VariablePayload", "VariablePayloadWID", "vp_compile"]
