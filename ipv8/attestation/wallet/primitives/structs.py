"""
Integer and key serialization used by the wallet.

An integer is written as: one byte ``L``, then ``L`` bytes holding the big-endian byte length ``n`` of the
number, then the ``n`` big-endian bytes of the (non-negative) number itself. Zero takes one byte (``00``).
Keys are sequences of such integers: ``p, g.a, g.b, h.a, h.b`` for a public key, followed by ``n, t1`` for a
private key.
"""
from __future__ import annotations

from .value import FP2Value

__all__ = ["BonehPrivateKey", "BonehPublicKey", "ipack", "iunpack", "pack_pair", "unpack_pair"]


def _to_bytes(num: int) -> bytes:
    """Minimal big-endian encoding of a non-negative integer; zero becomes a single zero byte."""
    return num.to_bytes(max(1, (num.bit_length() + 7) // 8), "big")


def ipack(num: int) -> bytes:
    """
    Serialize a non-negative integer.

    :raises ValueError: for negative numbers (the format has no sign).
    """
    if num < 0:
        msg = "ipack() cannot encode a negative integer"
        raise ValueError(msg)
    body = _to_bytes(num)
    length = _to_bytes(len(body))
    return bytes((len(length),)) + length + body


def iunpack(s: bytes) -> tuple[int, bytes]:
    """
    Read one integer written by :func:`ipack` and return it with the remaining bytes.

    :raises ValueError: if ``s`` is too short for the lengths it declares.
    """
    if not s:
        msg = "iunpack() needs at least one byte"
        raise ValueError(msg)
    llen = s[0]
    end_len = 1 + llen
    if len(s) < end_len:
        msg = "iunpack() input truncated inside the length field"
        raise ValueError(msg)
    length = int.from_bytes(s[1:end_len], "big")
    end = end_len + length
    if len(s) < end:
        msg = "iunpack() input truncated inside the number"
        raise ValueError(msg)
    return int.from_bytes(s[end_len:end], "big"), s[end:]


def pack_pair(a: int, b: int) -> bytes:
    """Serialize two integers back to back."""
    return ipack(a) + ipack(b)


def unpack_pair(s: bytes) -> tuple[int, int, bytes]:
    """Read two integers and return them with the remaining bytes."""
    a, rem = iunpack(s)
    b, rem = iunpack(rem)
    return a, b, rem


def _read_ints(s: bytes, count: int) -> list[int] | None:
    """Read exactly ``count`` integers from the start of ``s``; ``None`` if there are fewer."""
    nums: list[int] = []
    rem = s
    try:
        while rem and len(nums) < count:
            value, rem = iunpack(rem)
            nums.append(value)
    except ValueError:
        return None
    return nums if len(nums) == count else None


class BonehPublicKey:
    """
    Public key of the Boneh-Goh-Nissim cryptosystem: the field modulus ``p`` and the two group elements
    ``g`` (a generator of order ``n``) and ``h`` (of order ``t1``).
    """

    FIELDS = 5

    def __init__(self, p: int, g: FP2Value, h: FP2Value) -> None:
        """Store the key material."""
        self.p = p
        self.g = g
        self.h = h

    def serialize(self) -> bytes:
        """The key as five packed integers."""
        return ipack(self.p) + ipack(self.g.a) + ipack(self.g.b) + ipack(self.h.a) + ipack(self.h.b)

    @classmethod
    def unserialize(cls, s: bytes) -> BonehPublicKey | None:
        """Read a public key; ``None`` when the input does not hold enough well-formed integers."""
        nums = _read_ints(s, cls.FIELDS)
        if nums is None or nums[0] < 2:
            return None
        p = nums[0]
        return BonehPublicKey(p, FP2Value(p, nums[1], nums[2]), FP2Value(p, nums[3], nums[4]))

    def __eq__(self, other: object) -> bool:
        """Keys are equal when their serializations are."""
        return isinstance(other, BonehPublicKey) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        """Hash of the serialized form."""
        return hash(self.serialize())


class BonehPrivateKey(BonehPublicKey):
    """
    Private key: the public key plus the group order ``n = t1 * t2`` and the secret factor ``t1``.
    """

    FIELDS = 7

    def __init__(self, p: int, g: FP2Value, h: FP2Value, n: int, t1: int) -> None:  # noqa: PLR0913
        """Store the key material."""
        super().__init__(p, g, h)
        self.n = n
        self.t1 = t1

    def serialize(self) -> bytes:
        """The public part followed by ``n`` and ``t1``."""
        return super().serialize() + ipack(self.n) + ipack(self.t1)

    @classmethod
    def unserialize(cls, s: bytes) -> BonehPrivateKey | None:  # type: ignore[override]
        """Read a private key; ``None`` when the input does not hold seven well-formed integers."""
        nums = _read_ints(s, cls.FIELDS)
        if nums is None or nums[0] < 2:
            return None
        p = nums[0]
        return BonehPrivateKey(p, FP2Value(p, nums[1], nums[2]), FP2Value(p, nums[3], nums[4]), nums[5], nums[6])

    def public_key(self) -> BonehPublicKey:
        """The key without its secret parts."""
        return BonehPublicKey(self.p, self.g, self.h)
