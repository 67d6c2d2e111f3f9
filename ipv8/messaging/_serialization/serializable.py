"""The contract between payload classes and the serializer: :class:`Serializable`, :class:`Payload`.

A :class:`Serializable` lists the formats of its fields in ``format_list`` and converts itself to and from
values with ``to_pack_list()`` / ``from_unpack_list()``. ``_format_name`` and ``_format_args`` read one
``format_list`` entry (a format name, a nested class, or ``[class]``).
"""
from __future__ import annotations

import abc
from typing import Any, ClassVar, List, Type, TypeVar, Union

#: One entry of a ``format_list``: a format name, a nested Serializable class, or ``[Class]`` for a list of them.
FormatListType = Union[str, Type["Serializable"], List[Any]]

S = TypeVar("S", bound="Serializable")


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
