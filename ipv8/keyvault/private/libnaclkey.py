"""Private curve25519 keys (``LibNaCLSK``), backed by libsodium.

Binary form (74 bytes)::

    b"LibNaCLSK:" | X25519 secret scalar (32) | Ed25519 seed (32)

Everything else is derived when the key is built: the Ed25519 verify and signing keys from the seed,
the X25519 public key as ``scalarmult_base(secret)``.
"""
from __future__ import annotations

from .. import _sodium
from ..exceptions import KeyExchangeError
from ..keys import PrivateKey
from ..public.libnaclkey import LibNaCLPK, as_bytes, split_key_body

__all__ = ["LibNaCLPK", "LibNaCLSK", "PRIVATE_PREFIX"]

PRIVATE_PREFIX = b"LibNaCLSK:"
_BODY_LENGTH = _sodium.X25519_BYTES + _sodium.SEED_BYTES
_sign = _sodium.sign


class LibNaCLSK(PrivateKey, LibNaCLPK):
    """A curve25519 private key: an X25519 secret for key agreement plus an Ed25519 signing seed.

    ``LibNaCLSK()`` generates a fresh key. ``LibNaCLSK(binarykey)`` loads the 64-byte body, with or
    without the ``LibNaCLSK:`` prefix.

    :raises InvalidKeyError: if ``binarykey`` has the wrong type or length.
    """

    def __init__(self, binarykey: bytes = b"") -> None:
        if binarykey:
            secret, seed = split_key_body(binarykey, PRIVATE_PREFIX, _BODY_LENGTH, "LibNaCLSK")
        else:
            secret = _sodium.random_bytes(_sodium.X25519_BYTES)
            seed = _sodium.random_bytes(_sodium.SEED_BYTES)
        verify_key, signing_key = _sodium.ed25519_keypair_from_seed(seed)
        super().__init__(pk=_sodium.x25519_public_from_secret(secret), vk=verify_key)
        self._secret = secret
        self._seed = seed
        self._signing_key = signing_key
        self._public = LibNaCLPK(pk=self._crypt_pk, vk=verify_key)
        self._bin = PRIVATE_PREFIX + secret + seed

    def pub(self) -> LibNaCLPK:
        """Return the public half (a :class:`LibNaCLPK`)."""
        return self._public

    def key_to_bin(self) -> bytes:
        """Return ``b"LibNaCLSK:" + X25519 secret + Ed25519 seed`` (74 bytes). Keep this secret."""
        return self._bin

    def signature(self, msg: bytes) -> bytes:
        """Return the deterministic 64-byte Ed25519 signature of ``msg``.

        :raises TypeError: if ``msg`` is not bytes-like.
        """
        if type(msg) is not bytes:
            converted = as_bytes(msg)
            if converted is None:
                raise TypeError(f"can only sign bytes, not {type(msg).__name__}")
            msg = converted
        return _sign(msg, self._signing_key)

    def diffie_hellman(self, peer_public_key: bytes) -> bytes:
        """Return libsodium's ``crypto_box_beforenm(peer_public_key, my_x25519_secret)``.

        That is HSalsa20 over the X25519 shared point: 32 bytes, the same for both sides.

        :param peer_public_key: the peer's raw 32-byte X25519 key (``get_crypt_pk()`` of its key).
        :raises KeyExchangeError: if the peer key is not 32 bytes or is a low-order point.
        """
        peer = as_bytes(peer_public_key)
        if peer is None or len(peer) != _sodium.X25519_BYTES:
            raise KeyExchangeError("the peer's X25519 public key must be 32 bytes")
        shared = _sodium.box_beforenm(peer, self._secret)
        if shared is None:
            raise KeyExchangeError("the peer's X25519 public key is a low-order point")
        return shared

    def __hash__(self) -> int:
        return hash(self._bin)

    def __eq__(self, other: object) -> bool:
        return LibNaCLPK.__eq__(self, other)
