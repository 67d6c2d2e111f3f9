"""The abstract key types every txipv8 key implements.

* :class:`Key`: anything with a binary form, a public half and a member id (``key_to_hash``).
* :class:`PrivateKey`: a key that can sign (and, for curve25519, agree on X25519 secrets).
* :class:`PublicKey`: a key that can check signatures.

Keys compare and hash by their binary form (``key_to_bin()``), so two objects loaded from the same bytes
are interchangeable as dictionary keys. A private key never equals its public half: their bytes differ.
The concrete private key classes also subclass their public counterpart, so a private key can verify
its own signatures too.
"""
from __future__ import annotations

import abc
from hashlib import sha1

from .exceptions import KeyExchangeError


class Key(abc.ABC):
    """A public or private key."""

    @abc.abstractmethod
    def pub(self) -> PublicKey:
        """Return the public half of this key (the key itself if it is already public)."""

    @abc.abstractmethod
    def has_secret_key(self) -> bool:
        """Return whether this object holds secret material and can therefore sign."""

    @abc.abstractmethod
    def key_to_bin(self) -> bytes:
        """Return the serialised form of this key (what ``key_from_*_bin`` reads back)."""

    @abc.abstractmethod
    def get_signature_length(self) -> int:
        """Return the length in bytes of every signature made with this key pair."""

    @abc.abstractmethod
    def curve_name(self) -> str:
        """Return the curve name, e.g. ``"curve25519"`` or ``"sect163k1"``."""

    def key_to_hash(self) -> bytes:
        """Return the 20-byte member id: SHA-1 over the binary form of the *public* key.

        A private key and its public half therefore share the same id.
        """
        try:
            return self._txipv8_mid
        except AttributeError:
            # Computed once: peers ask for their mid on every lookup.
            self._txipv8_mid: bytes = sha1(self.pub().key_to_bin()).digest()
            return self._txipv8_mid

    def get_crypt_pk(self) -> bytes:
        """Return the raw 32-byte X25519 public key used for key agreement.

        :raises KeyExchangeError: for key types without an X25519 half (the legacy EC keys).
        """
        raise KeyExchangeError(f"{type(self).__name__} keys ({self.curve_name()}) have no X25519 key")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return self.key_to_bin() == other.key_to_bin()

    def __hash__(self) -> int:
        return hash(self.key_to_bin())

    def __repr__(self) -> str:
        # Never include key bytes here: a private key's repr could end up in a log.
        return f"<{type(self).__name__} {self.curve_name()} mid={self.key_to_hash().hex()}>"


class PublicKey(Key, metaclass=abc.ABCMeta):
    """A key that verifies signatures."""

    def pub(self) -> PublicKey:
        """A public key is its own public half."""
        return self

    def has_secret_key(self) -> bool:
        """Public keys carry no secret."""
        return False

    @abc.abstractmethod
    def verify(self, signature: bytes, msg: bytes) -> bool:
        """Return ``True`` if ``signature`` is a valid signature of ``msg`` by this key.

        Implementations return ``False`` (never raise) for signatures of the wrong length, garbage and
        arguments that are not bytes.
        """


class PrivateKey(Key, metaclass=abc.ABCMeta):
    """A key that creates signatures."""

    def has_secret_key(self) -> bool:
        """Private keys always carry their secret."""
        return True

    @abc.abstractmethod
    def signature(self, msg: bytes) -> bytes:
        """Sign ``msg`` and return a signature of exactly ``get_signature_length()`` bytes.

        :raises TypeError: if ``msg`` is not bytes-like.
        """

    def diffie_hellman(self, peer_public_key: bytes) -> bytes:
        """Agree on a 32-byte shared secret with the owner of the raw X25519 key ``peer_public_key``.

        :raises KeyExchangeError: for key types without an X25519 half, or a bad peer key.
        """
        raise KeyExchangeError(f"{type(self).__name__} keys ({self.curve_name()}) cannot do X25519 key agreement")

    def key_exchange(self, peer_public_key: bytes) -> bytes:
        """Alias of :meth:`diffie_hellman`."""
        return self.diffie_hellman(peer_public_key)
