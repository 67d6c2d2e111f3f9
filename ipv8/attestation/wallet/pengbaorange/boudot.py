"""
Boudot's sub-proofs used by the range proof: two commitments hide the same number (:class:`EL`) and a
commitment hides a square (:class:`SQR`), made non-interactive with a SHA-256 challenge (Fiat-Shamir), in the
variant of Peng and Bao ("An efficient range proof scheme").

The bounds of the random masks reproduce pyipv8 3.2.1 exactly, including its use of ``^`` (bitwise XOR, which
binds more loosely than ``*`` and ``-``) where a power of two was probably meant: the masks are only as wide
as the field modulus times a small factor, and proofs only verify between implementations that agree on it.
"""
from __future__ import annotations

from math import ceil, log2

from ..primitives.attestation import sha256_as_int
from ..primitives.randomness import RandomSource, random_bytes_int
from ..primitives.structs import ipack, iunpack
from ..primitives.value import FP2Value

__all__ = ["EL", "SQR", "secure_randint"]


def secure_randint(nmin: int, nmax: int, rng: RandomSource | None = None) -> int:
    """
    A random integer in ``[nmin, nmax)``: ``ceil(log2(nmax - nmin) / 8)`` random bytes reduced modulo the
    range (the slight modulo bias is part of the reference behaviour).
    """
    spread = nmax - nmin
    nbytes = ceil(log2(spread) / 8.0)
    return nmin + random_bytes_int(rng, nbytes) % spread


def _sipack(*numbers: int) -> bytes:
    """
    Pack up to 8 signed integers: a byte of sign bits (first number in the highest used bit), then the
    magnitudes in reverse order.
    """
    if len(numbers) > 8:
        msg = "at most 8 signed integers fit one sign byte"
        raise ValueError(msg)
    signs = 0
    for number in numbers:
        signs = (signs << 1) | (1 if number < 0 else 0)
    return bytes((signs,)) + b"".join(ipack(abs(number)) for number in reversed(numbers))


def _siunpack(buf: bytes, amount: int) -> tuple[list[int], bytes]:
    """Read ``amount`` integers written by :func:`_sipack`; raises ValueError if they are not all there."""
    if not buf:
        msg = "missing sign byte"
        raise ValueError(msg)
    signs = buf[0]
    rem = buf[1:]
    backwards = []
    for _ in range(amount):
        magnitude, rem = iunpack(rem)
        backwards.append(-magnitude if signs & 1 else magnitude)
        signs >>= 1
    return backwards[::-1], rem


def _challenge_hash(w1: FP2Value, w2: FP2Value) -> int:
    """The Fiat-Shamir challenge: SHA-256 over the decimal coefficients of both witnesses."""
    return sha256_as_int(f"{w1.a}{w1.b}{w2.a}{w2.b}".encode())


class EL:
    """Proof that two commitments (bases ``g1, h1`` and ``g2, h2``) hide the same secret."""

    def __init__(self, c: int, D: int, D1: int, D2: int) -> None:  # noqa: N803
        """Store the challenge ``c`` and the three responses."""
        self.c = c
        self.D = D
        self.D1 = D1
        self.D2 = D2

    @classmethod
    def create(cls, x: int, r1: int, r2: int,  # noqa: PLR0913
               g1: FP2Value, h1: FP2Value, g2: FP2Value, h2: FP2Value, b: int,
               bitspace: int, t: int = 80, l: int = 40, rng: RandomSource | None = None) -> EL:  # noqa: E741
        """Prove knowledge of ``x, r1, r2`` with ``g1^x h1^r1`` and ``g2^x h2^r2`` as the commitments."""
        maxrange_w = 2 ^ ((l + t) * b - 1)
        maxrange_n = 2 ^ ((l + t + bitspace) * g1.mod - 1)
        w = secure_randint(1, maxrange_w, rng)
        n1 = secure_randint(1, maxrange_n, rng)
        n2 = secure_randint(1, maxrange_n, rng)
        w1 = g1.intpow(w) * h1.intpow(n1)
        w2 = g2.intpow(w) * h2.intpow(n2)
        c = _challenge_hash(w1, w2)
        return cls(c, w + c * x, n1 + c * r1, n2 + c * r2)

    def check(self, g1: FP2Value, h1: FP2Value, g2: FP2Value, h2: FP2Value,  # noqa: PLR0913
              y1: FP2Value, y2: FP2Value) -> bool:
        """Verify the proof against the commitments ``y1`` and ``y2``."""
        try:
            w1 = g1.intpow(self.D) * h1.intpow(self.D1) * y1.intpow(-self.c)
            w2 = g2.intpow(self.D) * h2.intpow(self.D2) * y2.intpow(-self.c)
        except (ZeroDivisionError, ValueError):
            return False
        return self.c == _challenge_hash(w1, w2)

    def serialize(self) -> bytes:
        """The four signed numbers."""
        return _sipack(self.c, self.D, self.D1, self.D2)

    @classmethod
    def unserialize(cls, s: bytes) -> tuple[EL, bytes]:
        """Read a proof and return it with the remaining bytes."""
        numbers, rem = _siunpack(s, 4)
        return cls(*numbers), rem

    def __eq__(self, other: object) -> bool:
        """Proofs are equal when all four numbers are."""
        if not isinstance(other, EL):
            return False
        return (self.c, self.D, self.D1, self.D2) == (other.c, other.D, other.D1, other.D2)

    def __hash__(self) -> int:
        """Hash of the four numbers."""
        return hash((self.c, self.D, self.D1, self.D2))

    def __str__(self) -> str:
        """Compact text form."""
        return f"EL<{self.c},{self.D},{self.D1},{self.D2}>"


class SQR:
    """Proof that a commitment hides a perfect square."""

    def __init__(self, F: FP2Value, el: EL) -> None:  # noqa: N803
        """Store the auxiliary commitment ``F`` and the equality proof."""
        self.F = F
        self.el = el

    @classmethod
    def create(cls, x: int, r1: int, g: FP2Value, h: FP2Value, b: int, bitspace: int,  # noqa: PLR0913
               rng: RandomSource | None = None) -> SQR:
        """Prove that ``g^(x^2) h^r1`` hides the square of ``x``."""
        low = -2 ^ (bitspace * g.mod + 1)
        high = 2 ^ (bitspace * g.mod - 1)
        r2 = secure_randint(low, high, rng)
        f = g.intpow(x) * h.intpow(r2)
        r3 = r1 - r2 * x
        return cls(f, EL.create(x, r2, r3, g, h, f, h, b, bitspace, rng=rng))

    def check(self, g: FP2Value, h: FP2Value, y: FP2Value) -> bool:
        """Verify against the commitment ``y``."""
        return self.el.check(g, h, self.F, h, self.F, y)

    def serialize(self) -> bytes:
        """Modulus, both coefficients of ``F``, then the equality proof."""
        return ipack(self.F.mod) + ipack(self.F.a) + ipack(self.F.b) + self.el.serialize()

    @classmethod
    def unserialize(cls, s: bytes) -> tuple[SQR, bytes]:
        """Read a proof and return it with the remaining bytes."""
        mod, rem = iunpack(s)
        fa, rem = iunpack(rem)
        fb, rem = iunpack(rem)
        if mod < 2:
            msg = "invalid modulus"
            raise ValueError(msg)
        el, rem = EL.unserialize(rem)
        return cls(FP2Value(mod, fa, fb), el), rem

    def __eq__(self, other: object) -> bool:
        """Equal auxiliary commitment and equality proof."""
        return isinstance(other, SQR) and self.F == other.F and self.el == other.el

    def __hash__(self) -> int:
        """Hash of both parts."""
        return hash((self.F, self.el))

    def __str__(self) -> str:
        """Compact text form."""
        return f"SQR<{self.F!s},{self.el!s}>"
