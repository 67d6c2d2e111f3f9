"""
Elements of the quadratic extension field GF(p^2) = GF(p)[x] / (x^2 + x + 1), for primes p with p mod 3 == 2.

pyipv8 keeps these values as unreduced fractions of two polynomials. Every operation here instead reduces to
the unique representative ``a + b*x`` (both coefficients in ``[0, p)``). Both views describe the same field
element; the canonical form makes equality a tuple comparison and keeps numbers small. The wire formats only
ever carry the ``a`` and ``b`` coefficients of values whose denominator is 1, which is exactly this form, so
the serialized bytes are the same as pyipv8's.

The constructor still accepts the seven rational coefficients pyipv8 accepts (``c`` for ``x^2`` and the
denominator ``aC + bC*x + cC*x^2``) and reduces them immediately.
"""
from __future__ import annotations

__all__ = ["FP2Value", "FixedBasePower", "format_polynomial"]


def format_polynomial(a: int, b: int, c: int) -> str:
    """
    Render ``a + b*x + c*x^2`` for humans, lowest power first, leaving out zero terms and unit coefficients.

    >>> format_polynomial(2, 1, 0)
    '2 + x'
    """
    terms = []
    for coefficient, power in ((a, ""), (b, "x"), (c, "x^2")):
        if coefficient:
            shown = "" if (abs(coefficient) == 1 and power) else str(abs(coefficient))
            terms.append(shown + power)
    return " + ".join(terms) if terms else "0"


def _reduce(mod: int, a: int, b: int, c: int) -> tuple[int, int]:
    """Fold the ``x^2`` term back in (x^2 = -1 - x) and reduce both coefficients modulo ``mod``."""
    return (a - c) % mod, (b - c) % mod


class FP2Value:
    """
    An element ``a + b*x`` of GF(p^2) with ``x^2 + x + 1 = 0``.

    Instances are immutable; all arithmetic returns new values.
    """

    __slots__ = ("a", "b", "mod")

    def __init__(self, mod: int, a: int = 0, b: int = 0, c: int = 0,  # noqa: PLR0913
                 aC: int = 1, bC: int = 0, cC: int = 0) -> None:  # noqa: N803
        """
        Create the value ``(a + b*x + c*x^2) / (aC + bC*x + cC*x^2)`` modulo ``mod``.

        :raises ZeroDivisionError: if the denominator is zero in the field.
        """
        self.mod = mod
        na, nb = _reduce(mod, a, b, c)
        if aC == 1 and bC == 0 and cC == 0:
            self.a, self.b = na, nb
            return
        da, db = _reduce(mod, aC, bC, cC)
        ia, ib = _inverse(mod, da, db)
        self.a, self.b = _mul(mod, na, nb, ia, ib)

    @classmethod
    def _raw(cls, mod: int, a: int, b: int) -> FP2Value:
        """Build a value from coefficients that are already reduced (no checks, used on hot paths)."""
        out = object.__new__(cls)
        out.mod = mod
        out.a = a
        out.b = b
        return out

    # The rational-form coefficients pyipv8 exposes: in canonical form they are constant.
    @property
    def c(self) -> int:
        """Coefficient of ``x^2`` in the numerator: always 0 after reduction."""
        return 0

    @property
    def aC(self) -> int:  # noqa: N802
        """Constant term of the denominator: always 1 after reduction."""
        return 1

    @property
    def bC(self) -> int:  # noqa: N802
        """``x`` term of the denominator: always 0 after reduction."""
        return 0

    @property
    def cC(self) -> int:  # noqa: N802
        """``x^2`` term of the denominator: always 0 after reduction."""
        return 0

    def __repr__(self) -> str:
        """Show the modulus and both coefficients."""
        return f"FP2Value({self.mod}, {self.a}, {self.b})"

    def __str__(self) -> str:
        """Show the value as a polynomial in ``x``."""
        return format_polynomial(self.a, self.b, 0)

    def _check(self, other: FP2Value) -> None:
        if not isinstance(other, FP2Value) or other.mod != self.mod:
            msg = "FP2Value arithmetic needs two values of the same modulus"
            raise ValueError(msg)

    def __add__(self, other: FP2Value) -> FP2Value:
        """Field addition."""
        self._check(other)
        m = self.mod
        return FP2Value._raw(m, (self.a + other.a) % m, (self.b + other.b) % m)

    def __sub__(self, other: FP2Value) -> FP2Value:
        """Field subtraction."""
        self._check(other)
        m = self.mod
        return FP2Value._raw(m, (self.a - other.a) % m, (self.b - other.b) % m)

    def __neg__(self) -> FP2Value:
        """Additive inverse."""
        m = self.mod
        return FP2Value._raw(m, -self.a % m, -self.b % m)

    def __mul__(self, other: FP2Value) -> FP2Value:
        """Field multiplication."""
        self._check(other)
        return FP2Value._raw(self.mod, *_mul(self.mod, self.a, self.b, other.a, other.b))

    def __floordiv__(self, other: FP2Value) -> FP2Value:
        """Field division (pyipv8 spells it ``//``); raises ZeroDivisionError for a zero divisor."""
        self._check(other)
        ia, ib = _inverse(self.mod, other.a, other.b)
        return FP2Value._raw(self.mod, *_mul(self.mod, self.a, self.b, ia, ib))

    __truediv__ = __floordiv__

    def __eq__(self, other: object) -> bool:
        """Values are equal when they are the same field element."""
        if not isinstance(other, FP2Value):
            return False
        return self.mod == other.mod and self.a == other.a and self.b == other.b

    def __hash__(self) -> int:
        """Canonical form makes a real hash possible."""
        return hash((self.mod, self.a, self.b))

    def is_zero(self) -> bool:
        """Whether this is the additive identity."""
        return self.a == 0 and self.b == 0

    def is_one(self) -> bool:
        """Whether this is the multiplicative identity."""
        return self.a == 1 and self.b == 0

    def intpow(self, power: int) -> FP2Value:
        """
        Raise this value to an integer power (negative powers invert first).

        :raises ZeroDivisionError: for a negative power of zero.
        """
        m = self.mod
        a, b = self.a, self.b
        if power < 0:
            a, b = _inverse(m, a, b)
            power = -power
        if a == 0 and b == 0:
            return FP2Value._raw(m, 0 if power else 1, 0)
        # The multiplicative group has p^2 - 1 elements: exponents can be reduced modulo that order.
        order = m * m - 1
        if power >= order:
            power %= order
        ra, rb = 1, 0
        for bit in bin(power)[2:]:
            # Square (x^2 = -1 - x): (a + bx)^2 = (a^2 - b^2) + (2ab - b^2)x.
            bb = rb * rb
            ra, rb = (ra * ra - bb) % m, (2 * ra * rb - bb) % m
            if bit == "1":
                bb = rb * b
                ra, rb = (ra * a - bb) % m, (ra * b + rb * a - bb) % m
        return FP2Value._raw(m, ra, rb)

    def normalize(self) -> FP2Value:
        """Values are always normalized; provided for API parity with pyipv8."""
        return self

    def inverse(self) -> FP2Value:
        """The multiplicative inverse; raises ZeroDivisionError for zero."""
        return FP2Value._raw(self.mod, *_inverse(self.mod, self.a, self.b))

    def wp_nominator(self) -> FP2Value:
        """The numerator's ``1`` and ``x`` terms: the value itself in canonical form."""
        return self

    def wp_denom_inverse(self) -> FP2Value:
        """The inverse of the denominator: 1 in canonical form."""
        return FP2Value._raw(self.mod, 1, 0)

    def wp_compress(self) -> FP2Value:
        """The ``a + b*x`` form pyipv8 serializes: already the case here."""
        return self


def _mul(m: int, a1: int, b1: int, a2: int, b2: int) -> tuple[int, int]:
    """(a1 + b1 x)(a2 + b2 x) with x^2 = -1 - x."""
    bb = b1 * b2
    return (a1 * a2 - bb) % m, (a1 * b2 + b1 * a2 - bb) % m


def _inverse(m: int, a: int, b: int) -> tuple[int, int]:
    """
    Invert ``a + b*x``: multiply by the conjugate ``(a - b) - b*x`` and divide by the norm ``a^2 - ab + b^2``.
    """
    norm = (a * a - a * b + b * b) % m
    if norm == 0:
        msg = "division by zero in GF(p^2)"
        raise ZeroDivisionError(msg)
    inv = pow(norm, -1, m)
    return (a - b) * inv % m, -b * inv % m


class FixedBasePower:
    """
    Fast powers of one fixed element (a key's ``g`` or ``h``), with 4-bit windows precomputed.

    A power then costs one multiplication per 4 exponent bits and no squarings. The table covers exponents
    below ``p^2 - 1`` (larger ones are reduced first), i.e. every exponent, for about the price of a few plain
    exponentiations, so it pays off from the second or third use.
    """

    WINDOW = 4

    def __init__(self, base: FP2Value) -> None:
        """Precompute ``base^(d * 16^i)`` for every digit ``d`` and window position ``i``."""
        self.base = base
        m = base.mod
        self.order = m * m - 1
        self.rows: list[list[tuple[int, int]]] = []
        a, b = base.a, base.b
        for _ in range(0, max(1, self.order.bit_length()), self.WINDOW):
            row = [(1, 0), (a, b)]
            for _ in range(2, 1 << self.WINDOW):
                row.append(_mul(m, row[-1][0], row[-1][1], a, b))
            self.rows.append(row)
            # Next window position: base^(16^(i+1)) = (last entry) * base.
            a, b = _mul(m, row[-1][0], row[-1][1], a, b)

    def pow(self, exponent: int) -> FP2Value:
        """``base^exponent`` (negative exponents invert the result)."""
        base = self.base
        if base.a == 0 and base.b == 0 or exponent < 0:
            return base.intpow(exponent)
        if exponent >= self.order:
            exponent %= self.order
        m = base.mod
        ra, rb = 1, 0
        mask = (1 << self.WINDOW) - 1
        for row in self.rows:
            if not exponent:
                break
            digit = exponent & mask
            if digit:
                a, b = row[digit]
                bb = rb * b
                ra, rb = (ra * a - bb) % m, (ra * b + rb * a - bb) % m
            exponent >>= self.WINDOW
        return FP2Value._raw(m, ra, rb)  # noqa: SLF001
