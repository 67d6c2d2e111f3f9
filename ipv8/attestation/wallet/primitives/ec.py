"""
Weil-pairing style computation over GF(p^2) with Miller's algorithm, for the curve ``y^2 = x^3 + 1``.

This follows the construction IPv8's wallet uses to derive its key groups (the same chord/tangent line
functions and the same combination of four Miller evaluations), so that a given modulus and base point give
the same group element in both implementations. Points are ``(x, y)`` tuples of :class:`FP2Value`; the point
at infinity is ``None`` (pyipv8 spells it ``"O"``, which :func:`esum` also accepts).
"""
from __future__ import annotations

from .value import FP2Value

__all__ = ["H", "esum", "millercalc", "weilpairing"]

Point = tuple[FP2Value, FP2Value]


def _is_infinity(point: object) -> bool:
    return point is None or point == "O"


def _slope(p1: Point, p2: Point) -> FP2Value:
    """Tangent slope when the points share ``x`` (doubling), chord slope otherwise."""
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        mod = x1.mod
        return (FP2Value(mod, 3) * x1 * x1) // (FP2Value(mod, 2) * y1)
    return (y1 - y2) // (x1 - x2)


def esum(mod: int, p: Point | None, q: Point | None) -> Point | None:
    """
    Add two points (``None`` is the point at infinity).
    """
    if _is_infinity(p):
        return None if _is_infinity(q) else q
    if _is_infinity(q):
        return p
    x1, y1 = p
    x2, y2 = q
    if x1 == x2 and y1 == -y2:
        return None
    slope = _slope(p, q)
    x3 = slope * slope - x1 - x2
    y3 = slope * (x3 - x1) + y1
    return x3, -y3


def H(mod: int, p: Point, q: Point, x: FP2Value, y: FP2Value) -> FP2Value:  # noqa: N802
    """
    Evaluate the line function ``h_{P,Q}`` (line through P and Q divided by the vertical at P+Q) at ``(x, y)``.
    """
    if _is_infinity(p) or _is_infinity(q):
        msg = "line function through the point at infinity"
        raise ValueError(msg)
    x1, y1 = p
    x2, y2 = q
    if x1 == x2 and y1 == -y2:
        return x - x1
    # Tangent only for a true doubling; equal x with unrelated y has no line (the division then fails).
    slope = _slope(p, q) if (x1 == x2 and y1 == y2) else (y2 - y1) // (x2 - x1)
    return (y - y1 - slope * (x - x1)) // (x + (x1 + x2) - slope * slope)


def millercalc(mod: int, M: int, p: Point, R: Point) -> FP2Value:  # noqa: N803
    """
    Miller's algorithm: evaluate the function with divisor ``M(P) - M(O)`` (up to a constant) at ``R``.
    """
    t: Point | None = p
    f = FP2Value(mod, 1)
    rx, ry = R
    for bit in bin(M)[3:]:
        f = f * f * H(mod, t, t, rx, ry)
        t = esum(mod, t, t)
        if bit == "1":
            f = f * H(mod, t, p, rx, ry)
            t = esum(mod, t, p)
    return f


def weilpairing(mod: int, m: int, P: Point, Q: Point, S: Point) -> FP2Value:  # noqa: N803
    """
    Pair points ``P`` and ``Q`` of order ``m`` using the auxiliary point ``S``.
    """
    neg_s = (S[0], -S[1])
    qs = esum(mod, Q, S)
    ps = esum(mod, P, neg_s)
    if qs is None or ps is None:
        msg = "auxiliary point cancels a pairing argument"
        raise ValueError(msg)
    numerator = millercalc(mod, m, P, qs) * millercalc(mod, m, Q, neg_s)
    denominator = millercalc(mod, m, P, S) * millercalc(mod, m, Q, ps)
    return numerator // denominator
