"""Code generation helpers: builders for the specialised functions a :class:`Serializer` compiles per class.

Packers that know how to inline themselves implement ``_emit_pack`` and ``_emit_unpack`` and talk to these
builders; any other packer is called through its public methods. Adjacent fixed-size fields are merged
into a single ``struct`` call.
"""
from __future__ import annotations

import struct
from typing import Any


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
