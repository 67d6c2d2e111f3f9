"""
The random source the wallet draws from.

Every function that needs randomness takes an ``rng`` argument: any object with the methods of
:class:`random.Random` that are used here (``randint``, ``shuffle``, ``randbytes``, ``getrandbits``).
``None`` means the operating system's CSPRNG (:class:`random.SystemRandom`). Tests pass a seeded
``random.Random`` to reproduce exactly the numbers a reference implementation drew.
"""
from __future__ import annotations

import random
from typing import Protocol

__all__ = ["RandomSource", "get_rng", "random_bytes_int"]


class RandomSource(Protocol):
    """The subset of :class:`random.Random` the wallet uses."""

    def randint(self, a: int, b: int) -> int:
        """Uniform integer in ``[a, b]``."""

    def shuffle(self, x: list) -> None:
        """Shuffle a list in place."""

    def randbytes(self, n: int) -> bytes:
        """``n`` random bytes."""

    def getrandbits(self, k: int) -> int:
        """A ``k``-bit random integer."""


_SYSTEM = random.SystemRandom()


def get_rng(rng: RandomSource | None) -> RandomSource:
    """Return ``rng``, or the system CSPRNG when none was given."""
    return _SYSTEM if rng is None else rng


def random_bytes_int(rng: RandomSource | None, nbytes: int) -> int:
    """Draw ``nbytes`` random bytes and read them as a big-endian unsigned integer."""
    return int.from_bytes(get_rng(rng).randbytes(nbytes), "big")
