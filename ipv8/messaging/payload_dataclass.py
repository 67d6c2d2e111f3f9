"""Payloads written as Python dataclasses.

Two spellings are supported:

* ``@dataclass`` (or ``@dataclass(msg_id=42, eq=False, ...)``) from this module, on a plain class. The
  standard-library options are passed on to :func:`dataclasses.dataclass`; ``msg_id`` sets the message id.
* pyipv8 3.x style: the standard ``@dataclasses.dataclass`` on a subclass of :class:`DataClassPayload`, or of
  ``DataClassPayload[42]`` to attach message id 42.

Field formats follow from the annotations: ``int`` is ``"q"``, ``bool`` ``"?"``, ``float`` ``"d"``, ``bytes``
``"varlenH"``, ``str`` ``"varlenHutf8"``; another payload class nests it; ``list[PayloadClass]`` (or ``[PayloadClass]``)
is a list of them; ``list[int]``, ``list[bool]`` and ``list[float]`` are ``arrayH-q``/``arrayH-?``/``arrayH-d``
and ``list[bytes]`` is ``varlenH-list``. Any other format is written as ``type_from_format("I")``.
``fix_pack_<name>`` / ``fix_unpack_<name>`` hooks work as on :class:`~ipv8.messaging.lazy_payload.VariablePayload`.
"""
from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Callable, TypeVar, overload

from .lazy_payload import VariablePayload, VariablePayloadWID, _is_names_based
from .serialization import FormatListType, Serializable


def type_from_format(fmt: str) -> Any:  # noqa: ANN401
    """An annotation that makes a dataclass field use the serializer format ``fmt`` (for example ``"I"``)."""
    return TypeVar(fmt)  # a TypeVar is accepted everywhere an annotation is; its name carries the format


class _UnresolvedAnnotation(TypeError):
    """A string annotation could not be evaluated (yet)."""


def _evaluate(cls: type, field: str, text: str) -> Any:  # noqa: ANN401
    """Evaluate a string annotation in the scope of the class that declared it."""
    for owner in cls.__mro__:
        if field in owner.__dict__.get("__annotations__", {}):
            break
    else:
        owner = cls
    module = sys.modules.get(owner.__module__)
    global_scope = dict(vars(module)) if module is not None else {}
    try:
        return eval(text, global_scope, dict(vars(owner)))  # noqa: S307 - the class's own annotation text
    except Exception as exc:
        msg = f"{cls.__name__}.{field}: cannot resolve the annotation {text!r} ({exc})"
        raise _UnresolvedAnnotation(msg) from exc


_SCALAR_FORMATS: dict[Any, str] = {bool: "?", int: "q", float: "d", bytes: "varlenH", str: "varlenHutf8"}
_ARRAY_FORMATS: dict[Any, str] = {bool: "arrayH-?", int: "arrayH-q", float: "arrayH-d", bytes: "varlenH-list"}


def _is_payload_class(candidate: Any) -> bool:  # noqa: ANN401
    return isinstance(candidate, type) and issubclass(candidate, Serializable)


def _format_for(annotation: Any, where: str) -> FormatListType:  # noqa: ANN401
    """The ``format_list`` entry for one field annotation."""
    if isinstance(annotation, type) and annotation in _SCALAR_FORMATS:
        return _SCALAR_FORMATS[annotation]
    if isinstance(annotation, TypeVar):
        return annotation.__name__
    if _is_payload_class(annotation):
        return annotation
    if isinstance(annotation, list) and len(annotation) == 1 and _is_payload_class(annotation[0]):
        return [annotation[0]]
    if typing.get_origin(annotation) in (list, tuple, set):
        arguments = typing.get_args(annotation)
        item = arguments[0] if arguments else None
        if _is_payload_class(item):
            return [item]
        if isinstance(item, type) and item in _ARRAY_FORMATS:
            return _ARRAY_FORMATS[item]
        if isinstance(item, TypeVar):
            return f"arrayH-{item.__name__}"
    msg = f"{where}: no wire format for the annotation {annotation!r}; use a payload class or type_from_format()"
    raise NotImplementedError(msg)


class DataClassPayload(VariablePayload):
    """Base class for dataclass payloads; ``DataClassPayload[42]`` is a base that also sets ``msg_id = 42``.

    ``names`` and ``format_list`` are derived from the dataclass fields the first time the class is
    instantiated or handed to a serializer.
    """

    # Identity comparison unless the dataclass itself provides __eq__ (so eq=False behaves as documented).
    __eq__ = object.__eq__
    __hash__ = object.__hash__
    _fields_derived_for: type | None = None

    def __class_getitem__(cls, msg_id: int) -> type[DataClassPayloadWID]:
        """A base class that adds ``msg_id`` to the payloads derived from it."""
        return _base_with_id(msg_id)

    def __new__(cls, *args: Any, **kwargs: Any) -> DataClassPayload:  # noqa: ANN401, ARG003
        """Derive the wire format on first use, then allocate the instance."""
        if cls._fields_derived_for is not cls:
            cls._finalize_format()
        return object.__new__(cls)

    @classmethod
    def _finalize_format(cls) -> None:
        if cls._fields_derived_for is cls:
            return
        if not dataclasses.is_dataclass(cls):
            msg = f"{cls.__name__} derives from DataClassPayload but is not a dataclass (decorate it)"
            raise TypeError(msg)
        names, formats = [], []
        for field in dataclasses.fields(cls):
            annotation = field.type
            if isinstance(annotation, str):
                annotation = _evaluate(cls, field.name, annotation)
            names.append(field.name)
            formats.append(_format_for(annotation, f"{cls.__name__}.{field.name}"))
        cls.names = names
        cls.format_list = formats
        cls.__match_args__ = tuple(names)
        cls._fields_derived_for = cls

    @classmethod
    def _field_names(cls, purpose: str) -> list[str] | None:
        # The dataclass __init__ only stores the fields, so unpacking may fill them in directly.
        if purpose == "pack":
            return list(cls.names) if _is_names_based(cls.to_pack_list) else None
        return list(cls.names) if _is_names_based(cls.from_unpack_list) else None


class DataClassPayloadWID(DataClassPayload, VariablePayloadWID):
    """A :class:`DataClassPayload` with a message id (set ``msg_id``, or derive from ``DataClassPayload[id]``)."""


_ID_BASES: dict[int, type[DataClassPayloadWID]] = {}


def _base_with_id(msg_id: int) -> type[DataClassPayloadWID]:
    base = _ID_BASES.get(msg_id)
    if base is None:
        base = types.new_class(f"DataClassPayload[{msg_id}]", (DataClassPayloadWID,),
                               exec_body=lambda namespace: namespace.update({"msg_id": msg_id,
                                                                             "__module__": __name__}))
        _ID_BASES[msg_id] = base
    return base


def _payload_from_dataclass(cls: type, msg_id: int | None, options: dict[str, Any]) -> type:
    if isinstance(cls, type) and issubclass(cls, DataClassPayload):
        result: type = dataclasses.dataclass(cls, **options)
    elif isinstance(cls, type) and issubclass(cls, Serializable):
        msg = f"{cls.__name__} is already a payload class; @dataclass needs a plain class or a DataClassPayload"
        raise TypeError(msg)
    else:
        plain = dataclasses.dataclass(cls, **options)
        base = DataClassPayload if msg_id is None else DataClassPayloadWID
        attributes = {"__module__": plain.__module__, "__qualname__": plain.__qualname__, "__doc__": plain.__doc__}
        result = types.new_class(plain.__name__, (plain, base),
                                 exec_body=lambda namespace: namespace.update(attributes))
    if msg_id is not None:
        result.msg_id = msg_id  # type: ignore[attr-defined]
    try:
        result._finalize_format()  # type: ignore[attr-defined]
    except _UnresolvedAnnotation:
        pass  # probably a forward reference; tried again on first use
    return result


C = TypeVar("C", bound=type)


@overload
def dataclass(cls: C, /) -> C: ...


@overload
def dataclass(cls: None = None, /, *, msg_id: int | None = None,
              **options: Any) -> Callable[[C], C]: ...  # noqa: ANN401


def dataclass(cls: type | None = None, /, *, msg_id: int | None = None,
              **options: Any) -> Any:  # noqa: ANN401
    """Turn a class with annotated fields into a payload (and a standard dataclass).

    Use as ``@dataclass`` or ``@dataclass(msg_id=42, ...)``; other keyword arguments (``eq``, ``frozen``, ...)
    go to :func:`dataclasses.dataclass`.
    """
    def wrap(target: type) -> type:
        return _payload_from_dataclass(target, msg_id, options)

    return wrap if cls is None else wrap(cls)


__all__ = ["DataClassPayload", "DataClassPayloadWID", "dataclass", "type_from_format"]
