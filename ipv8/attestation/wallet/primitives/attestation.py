"""
Hashing helpers that turn an attribute value into the integer an attestation commits to.
"""
from __future__ import annotations

from hashlib import sha256, sha512

__all__ = ["sha256_4_as_int", "sha256_as_int", "sha512_as_int", "to_ascii"]


def to_ascii(value: str | bytes) -> bytes:
    """
    Turn a value into bytes: ``str`` code points map one-to-one onto bytes (so they must be below 256).
    """
    if isinstance(value, str):
        return bytes(ord(ch) for ch in value)
    return value


def sha512_as_int(value: str | bytes) -> int:
    """The SHA-512 digest of ``value`` as a big-endian integer (512 bits)."""
    return int.from_bytes(sha512(to_ascii(value)).digest(), "big")


def sha256_as_int(value: str | bytes) -> int:
    """The SHA-256 digest of ``value`` as a big-endian integer (256 bits)."""
    return int.from_bytes(sha256(to_ascii(value)).digest(), "big")


def sha256_4_as_int(value: str | bytes) -> int:
    """The first four bytes of the SHA-256 digest of ``value`` as a big-endian integer (32 bits)."""
    return int.from_bytes(sha256(to_ascii(value)).digest()[:4], "big")
