"""The :class:`Packer` interface and the plumbing that the standard packers share.

``_BuiltinPacker`` turns any failure of a standard packer into a :exc:`PackError` and supplies the default
code generation hooks (call the public methods); ``_emit_call_unpack`` is that default for unpacking.
"""
from __future__ import annotations

import abc
import typing
from typing import Any, ClassVar, TypeVar

from .codegen import _PackBuilder, _UnpackBuilder
from .errors import PackError, _describe, _located, _short_repr

T = TypeVar("T")
A = TypeVar("A")


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
