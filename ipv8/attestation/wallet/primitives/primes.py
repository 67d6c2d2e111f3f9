"""
Primality testing and prime generation in pure Python.

All functions are pure (no shared state besides the injected random source), so they can run on a worker
thread (``deferToThread``) while the reactor keeps serving.
"""
from __future__ import annotations

from .randomness import RandomSource, get_rng

__all__ = ["generate_rsa_prime", "generate_safe_prime", "is_prime"]

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]
# Miller-Rabin with the first 13 prime bases is exact below 3.3 * 10^24; beyond that it is a strong
# probabilistic test (error below 4^-13 for adversarial input, far lower for random candidates).
_MR_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def _miller_rabin(n: int, base: int) -> bool:
    """One Miller-Rabin round: False means ``n`` is certainly composite."""
    d = n - 1
    s = (d & -d).bit_length() - 1
    d >>= s
    x = pow(base, d, n)
    if x in (1, n - 1):
        return True
    for _ in range(s - 1):
        x = x * x % n
        if x == n - 1:
            return True
    return False


def is_prime(n: int) -> bool:
    """Whether ``n`` is (with overwhelming probability, and exactly below 3.3e24) a prime."""
    if n < 2:
        return False
    if n in (2, 3):
        return True
    if n % 2 == 0:
        return False
    for p in _SMALL_PRIMES:
        if n == p:
            return True
        if n % p == 0:
            return False
    return all(_miller_rabin(n, base % n) for base in _MR_BASES if base % n)


def _sieve_ok(n: int) -> bool:
    """No small factor (cheap pre-filter before Miller-Rabin)."""
    return all(n % p for p in _SMALL_PRIMES if p < n)


def generate_rsa_prime(bits: int, rng: RandomSource | None = None) -> int:
    """A random prime of exactly ``bits`` bits."""
    if bits < 8:
        msg = "prime size too small"
        raise ValueError(msg)
    source = get_rng(rng)
    while True:
        candidate = source.getrandbits(bits) | (1 << (bits - 1)) | 1
        if _sieve_ok(candidate) and is_prime(candidate):
            return candidate


def generate_safe_prime(bits: int, rng: RandomSource | None = None) -> int:
    """A random safe prime ``p = 2q + 1`` (``q`` prime) of exactly ``bits`` bits."""
    if bits < 8:
        msg = "prime size too small"
        raise ValueError(msg)
    source = get_rng(rng)
    while True:
        # q has bits - 1 bits; q = 5 (mod 6) keeps both q and 2q + 1 clear of the factors 2 and 3.
        q = source.getrandbits(bits - 1) | (1 << (bits - 2))
        q += (5 - q % 6) % 6
        p = 2 * q + 1
        if p.bit_length() != bits:
            continue
        if not all((q % s) and (p % s) for s in _SMALL_PRIMES if s < q):
            continue
        # Cheap base-2 rounds on both numbers first; full testing only for survivors.
        if _miller_rabin(q, 2) and pow(2, p - 1, p) == 1 and is_prime(q) and is_prime(p):
            return p
