"""The error that packing and unpacking raise, and the helpers that word and locate it.

:exc:`PackError` is the only error that packing or unpacking raises for bad data, whatever the cause.
``_Malformed`` is the cheap internal signal raised inside generated code; ``_located`` marks an error as
already pinned to a field, so that enclosing payloads do not search for the culprit again.
"""
from __future__ import annotations

import reprlib
import struct
from typing import Any


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


_LIMITED_REPR = reprlib.Repr()
_LIMITED_REPR.maxstring = _LIMITED_REPR.maxother = 120


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
