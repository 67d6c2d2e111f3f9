"""
The Boneh-Goh-Nissim cryptosystem ("Evaluating 2-DNF Formulas on Ciphertexts"), as IPv8's wallet uses it.

A message ``m`` is encrypted as ``g^m * h^r``: ``g`` generates a group of order ``n = t1 * t2`` in GF(p^2)
and ``h`` has order ``t1``, so raising a ciphertext to ``t1`` removes the blinding and leaves ``(g^t1)^m``.
The order in which random numbers are drawn matches pyipv8 3.2.1, so a seeded source reproduces its output.
Key generation is pure and may run on a worker thread.
"""
from __future__ import annotations

from .ec import weilpairing
from .primes import generate_rsa_prime, generate_safe_prime, is_prime
from .randomness import RandomSource, get_rng
from .structs import BonehPrivateKey, BonehPublicKey
from .value import FixedBasePower, FP2Value

__all__ = ["bilinear_group", "key_fits_size", "decode", "encode", "generate_keypair", "generate_prime", "generate_primes",
           "get_good_wp", "get_random_base", "get_random_exponentiation", "is_good_wp"]


def generate_prime(n: int) -> int:
    """
    The smallest prime of the form ``p = l * n - 1`` (``l >= 1``) with ``p mod 3 == 2``.

    ``n`` then divides ``p + 1``, the order of the norm-1 subgroup of GF(p^2)*, and ``x^2 + x + 1`` stays
    irreducible modulo ``p``.
    """
    multiplier = 1
    while True:
        p = multiplier * n - 1
        if p % 3 == 2 and is_prime(p):
            return p
        multiplier += 1


def bilinear_group(n: int, p: int, g1x: int, g1y: int, g2x: int, g2y: int) -> FP2Value:  # noqa: PLR0913
    """
    Pair the points ``(g1x, g1y)`` and ``(g2x * x, g2y)`` (the second moved by the distortion map); zero if
    the computation degenerates.
    """
    try:
        return weilpairing(p, n,
                           (FP2Value(p, g1x), FP2Value(p, g1y)),
                           (FP2Value(p, 0, g2x), FP2Value(p, g2y)),
                           (FP2Value(p), FP2Value(p)))
    except (ZeroDivisionError, ValueError):
        return FP2Value(p)


def get_random_exponentiation(p: FP2Value, n: int, rng: RandomSource | None = None) -> FP2Value:
    """``p`` raised to a random exponent in ``[4, n - 1]``, redrawn while the result is 1."""
    source = get_rng(rng)
    result = p.intpow(source.randint(4, n - 1))
    while result.is_one():
        result = p.intpow(source.randint(4, n - 1))
    return result


def get_random_base(n: int, rng: RandomSource | None = None) -> tuple[int, int]:
    """Two random coordinates in ``[2, n - 1]``."""
    source = get_rng(rng)
    x = source.randint(2, n - 1)
    y = source.randint(2, n - 1)
    return x, y


def is_good_wp(n: int, wp: FP2Value) -> bool:
    """A usable group element is neither 0 nor 1 and its order divides ``n``."""
    return not wp.is_zero() and not wp.is_one() and wp.intpow(n + 1) == wp


def get_good_wp(n: int, p: int | None = None, rng: RandomSource | None = None) -> tuple[int, FP2Value]:
    """
    Draw random pairings until one yields an element of order dividing ``n``.

    :return: the modulus ``p`` and the element.
    """
    if not p:
        p = generate_prime(n)
    wp: FP2Value | None = None
    while wp is None or not is_good_wp(n, wp):
        g1x, g1y = get_random_base(n, rng)
        wp = bilinear_group(n, p, g1x, g1y, g1x, g1y)
        if not is_good_wp(n, wp):
            # Project into the order-n subgroup: (p + 1) / n is the cofactor.
            wp = wp.intpow((p + 1) // n)
    return p, wp


def generate_primes(key_size: int = 128, rng: RandomSource | None = None) -> tuple[int, int]:
    """Two primes of ``key_size`` bits (safe primes below 512 bits), smallest first."""
    if key_size >= 512:
        p, q = generate_rsa_prime(key_size, rng), generate_rsa_prime(key_size, rng)
    else:
        p, q = generate_safe_prime(key_size, rng), generate_safe_prime(key_size, rng)
    return min(p, q), max(p, q)


def generate_keypair(key_size: int = 32, rng: RandomSource | None = None) -> tuple[BonehPublicKey, BonehPrivateKey]:
    """
    Generate a key pair whose group order is the product of two ``key_size``-bit primes.

    Pure function: safe to call from a worker thread.
    """
    t1, t2 = generate_primes(key_size, rng)
    n = t1 * t2
    p, g = get_good_wp(n, rng=rng)
    u: FP2Value | None = None
    while u is None or u.intpow(t2).is_one():
        _, u = get_good_wp(n, p, rng)
    h = u.intpow(t2)
    return BonehPublicKey(p, g, h), BonehPrivateKey(p, g, h, n, t1)


def _powers(pubkey: BonehPublicKey) -> tuple[FixedBasePower, FixedBasePower]:
    """
    Fixed-base tables for the key's ``g`` and ``h``, built on first use and kept on the key object (an
    attestation encrypts hundreds of values under one key). Two threads racing here both build a correct
    table; either may win.
    """
    tables = getattr(pubkey, "_fixed_base_powers", None)
    if tables is None or tables[0].base != pubkey.g or tables[1].base != pubkey.h:
        tables = (FixedBasePower(pubkey.g), FixedBasePower(pubkey.h))
        pubkey._fixed_base_powers = tables  # noqa: SLF001
    return tables


def key_fits_size(key: BonehPublicKey | None, key_size: int) -> bool:
    """
    Whether a (possibly hostile) key's modulus is plausible for ``key_size``-bit primes: ``p = l * n - 1``
    with ``n`` the product of two such primes and ``l`` small. Bounding it keeps a peer from making us
    compute in a huge field.
    """
    return key is not None and 5 <= key.p and key.p.bit_length() <= 2 * key_size + 64


def encode(pubkey: BonehPublicKey, m: int, rng: RandomSource | None = None) -> FP2Value:
    """Encrypt the integer ``m``: ``g^m * h^r`` for a random ``r`` (drawn as pyipv8 draws it)."""
    g_power, h_power = _powers(pubkey)
    source = get_rng(rng)
    n = pubkey.p
    blinding = h_power.pow(source.randint(4, n - 1))
    while blinding.is_one():
        blinding = h_power.pow(source.randint(4, n - 1))
    return g_power.pow(m) * blinding


def decode(privkey: BonehPrivateKey, msgspace: list[int], c: FP2Value) -> int | None:
    """
    Decrypt ``c`` by trying every candidate in ``msgspace``; ``None`` if none matches.
    """
    d = c.intpow(privkey.t1)
    # g^t1 is the same for every ciphertext under this key: compute it once per key object.
    cached = getattr(privkey, "_g_to_t1", None)
    if cached is None or cached[0] != (privkey.g, privkey.t1):
        cached = ((privkey.g, privkey.t1), privkey.g.intpow(privkey.t1))
        privkey._g_to_t1 = cached  # noqa: SLF001
    t = cached[1]
    if list(msgspace) == list(range(len(msgspace))):
        # Consecutive candidates from 0: one multiplication per step instead of one exponentiation.
        current = FP2Value(privkey.p, 1)
        for m in msgspace:
            if current == d:
                return m
            current = current * t
        return None
    for m in msgspace:
        if d == t.intpow(m):
            return m
    return None
