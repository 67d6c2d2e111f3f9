"""Public curve25519 keys (``LibNaCLPK``), backed by libsodium.

Binary form (74 bytes)::

    b"LibNaCLPK:" | X25519 public key (32) | Ed25519 verify key (32)

The X25519 half is used for key agreement (tunnels), the Ed25519 half checks 64-byte detached
signatures.
"""
from __future__ import annotations

import ctypes

from .. import _sodium
from ..exceptions import InvalidKeyError
from ..keys import PublicKey

PUBLIC_PREFIX = b"LibNaCLPK:"
_BODY_LENGTH = _sodium.X25519_BYTES + _sodium.SIGN_PUBLIC_BYTES


def split_key_body(binarykey: object, prefix: bytes, body_length: int, kind: str) -> tuple[bytes, bytes]:
    """
    Check a libsodium key binary (with or without its ``prefix``) and split it into its two 32-byte halves.

    :raises InvalidKeyError: for anything that is not bytes of the right length.
    """
    data = as_bytes(binarykey)
    if data is None:
        raise InvalidKeyError(f"a {kind} key must be bytes, not {type(binarykey).__name__}")
    if data.startswith(prefix) and len(data) == len(prefix) + body_length:
        data = data[len(prefix):]
    if len(data) != body_length:
        raise InvalidKeyError(f"a {kind} key body is {body_length} bytes (with prefix "
                              f"{len(prefix) + body_length}), got {len(data)}")
    return data[:_sodium.X25519_BYTES], data[_sodium.X25519_BYTES:]
_verify_detached = _sodium.sign_verify_detached
_SIGNATURE_BYTES = _sodium.SIGNATURE_BYTES


def as_bytes(value: object) -> bytes | None:
    """Return ``value`` as ``bytes`` if it is bytes-like, else ``None``."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return None


class LibNaCLPK(PublicKey):
    """A curve25519 public key: an X25519 key for key agreement plus an Ed25519 verify key.

    Build one from ``binarykey`` (the 64-byte body, with or without the ``LibNaCLPK:`` prefix) or from
    the two raw halves ``pk`` (X25519) and ``vk`` / ``hex_vk`` (Ed25519).

    :raises InvalidKeyError: if the material has the wrong type or length.
    """

    def __init__(self, binarykey: bytes = b"", pk: bytes | None = None, hex_vk: bytes | str | None = None,
                 vk: bytes | None = None) -> None:
        if binarykey:
            crypt_pk, verify_key = split_key_body(binarykey, PUBLIC_PREFIX, _BODY_LENGTH, "LibNaCLPK")
        else:
            crypt_pk, verify_key = self._from_halves(pk, vk, hex_vk)
        self._crypt_pk = crypt_pk
        self._vk = verify_key
        self._bin = PUBLIC_PREFIX + crypt_pk + verify_key

    @staticmethod
    def _from_halves(pk: object, vk: object, hex_vk: object) -> tuple[bytes, bytes]:
        if vk is None and hex_vk is not None:
            try:
                vk = bytes.fromhex(hex_vk.decode() if isinstance(hex_vk, bytes) else hex_vk)  # type: ignore[union-attr]
            except (AttributeError, TypeError, ValueError, UnicodeDecodeError) as exc:
                raise InvalidKeyError(f"hex_vk is not a hexadecimal verify key: {exc}") from None
        crypt_pk, verify_key = as_bytes(pk), as_bytes(vk)
        if crypt_pk is None or verify_key is None:
            raise InvalidKeyError("LibNaCLPK needs binarykey, or both pk and vk/hex_vk as bytes")
        if len(crypt_pk) != _sodium.X25519_BYTES or len(verify_key) != _sodium.SIGN_PUBLIC_BYTES:
            raise InvalidKeyError(f"LibNaCLPK halves must be {_sodium.X25519_BYTES} + {_sodium.SIGN_PUBLIC_BYTES} "
                                  f"bytes, got {len(crypt_pk)} + {len(verify_key)}")
        return crypt_pk, verify_key

    def key_to_bin(self) -> bytes:
        """Return ``b"LibNaCLPK:" + X25519 public key + Ed25519 verify key`` (74 bytes)."""
        return self._bin

    def pub(self) -> LibNaCLPK:
        """Return this public key."""
        return self

    def get_signature_length(self) -> int:
        """Ed25519 signatures are 64 bytes."""
        return _SIGNATURE_BYTES

    def curve_name(self) -> str:
        """Return ``"curve25519"``."""
        return "curve25519"

    def get_crypt_pk(self) -> bytes:
        """Return the raw 32-byte X25519 public key."""
        return self._crypt_pk

    @property
    def verify_key(self) -> bytes:
        """The raw 32-byte Ed25519 verify key."""
        return self._vk

    def verify(self, signature: bytes, msg: bytes) -> bool:
        """Return whether ``signature`` is this key's Ed25519 signature of ``msg``.

        Wrong lengths, garbage and non-bytes arguments give ``False``.
        """
        # Hot path: plain bytes go straight to libsodium.
        if type(signature) is bytes and type(msg) is bytes:
            return len(signature) == _SIGNATURE_BYTES and _verify_detached(signature, msg, len(msg), self._vk) == 0
        signature, msg = as_bytes(signature), as_bytes(msg)  # type: ignore[assignment]
        if signature is None or msg is None or len(signature) != _SIGNATURE_BYTES:
            return False
        try:
            return _verify_detached(signature, msg, len(msg), self._vk) == 0
        except ctypes.ArgumentError:
            return False

    def __hash__(self) -> int:
        return hash(self._bin)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LibNaCLPK):
            return self._bin == other.key_to_bin()
        return super().__eq__(other)
