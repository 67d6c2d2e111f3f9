"""
Creation of Peng-Bao range proofs: prove that a committed value lies in ``[a, b]`` without revealing it.

The value ``m`` is committed as ``c = g^m h^r``; ``c1`` and ``c2`` shift it to ``m - a + 1`` and
``b - m + 1``, whose product (blinded by the square ``w^2``) is split into ``m1 + m2 + m3`` with ``m3`` a
square. Random numbers are drawn in the same order and sizes as pyipv8 3.2.1.
"""
from __future__ import annotations

from math import sqrt

from ..primitives.randomness import RandomSource, get_rng, random_bytes_int
from ..primitives.structs import BonehPublicKey
from .boudot import EL, SQR
from .structs import PengBaoAttestation, PengBaoCommitment, PengBaoCommitmentPrivate, PengBaoPublicData

__all__ = ["create_attest_pair"]


def _nonzero_below(rng: RandomSource, nbytes: int, bound: int) -> int:
    """Draw ``nbytes``-byte numbers modulo ``bound`` until one is not zero."""
    if bound <= 1:
        msg = "range proof parameters leave no room for randomness"
        raise ValueError(msg)
    out = 0
    while not out:
        out = random_bytes_int(rng, nbytes) % bound
    return out


def create_attest_pair(PK: BonehPublicKey, value: int, a: int, b: int, bitspace: int,  # noqa: N803, PLR0913
                       rng: RandomSource | None = None) -> PengBaoAttestation:
    """
    Prove ``a <= value <= b`` for the holder of ``PK`` (``bitspace`` is the key size in bits).

    :raises ValueError: if ``value`` lies outside ``[a, b]`` (no valid proof exists).
    """
    if not a <= value <= b:
        msg = "the value lies outside the attested range"
        raise ValueError(msg)
    source = get_rng(rng)
    g, h = PK.g, PK.h
    bytespace = bitspace // 8
    r = random_bytes_int(source, bytespace)
    ra = random_bytes_int(source, bytespace)
    raa = random_bytes_int(source, bitspace // 16) ** 2
    w = random_bytes_int(source, bytespace)
    w2 = w * w

    c = g.intpow(value) * h.intpow(r)
    c1 = c // g.intpow(a - 1)
    c2 = g.intpow(b + 1) // c
    ca = c1.intpow(b - value + 1) * h.intpow(ra)
    caa = ca.intpow(w2) * h.intpow(raa)

    mst = w2 * (value - a + 1) * (b - value + 1)
    # Floating-point square root on purpose: the bound must equal the reference's to draw the same numbers.
    m4 = _nonzero_below(source, bytespace, int(sqrt(mst)) - 1)
    m3 = m4 * m4
    m1 = _nonzero_below(source, bytespace, mst - m4)
    m2 = mst - m1 - m3

    rst = w2 * ((b - value + 1) * r + ra) + raa
    r1 = _nonzero_below(source, bytespace * bytespace, rst // 2 - 1)
    r2 = _nonzero_below(source, bytespace * bytespace, rst // 2 - 1)
    r3 = rst - r1 - r2

    ca1 = g.intpow(m1) * h.intpow(r1)
    ca2 = g.intpow(m2) * h.intpow(r2)
    ca3 = caa // (ca1 * ca2)

    el = EL.create(b - value + 1, -r, ra, g, h, c1, h, b, bitspace, rng=source)
    sqr1 = SQR.create(w, raa, ca, h, b, bitspace, rng=source)
    sqr2 = SQR.create(m4, r3, g, h, b, bitspace, rng=source)

    publicdata = PengBaoPublicData(PK, bitspace, PengBaoCommitment(c, c1, c2, ca, ca1, ca2, ca3, caa),
                                   el, sqr1, sqr2)
    return PengBaoAttestation(publicdata, PengBaoCommitmentPrivate(m1, m2, m3, r1, r2, r3))
