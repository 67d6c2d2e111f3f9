"""Signed objects: data whose meaning is fixed by the signature of its author (tokens, metadata, attestations).

A signed object has a *plaintext* (the bytes its subclass defines) and a signature over exactly those bytes.
Its identity, :meth:`AbstractSignedObject.get_hash`, is the SHA3-256 digest of plaintext followed by
signature, so two objects with the same content signed twice (curve25519 signatures are deterministic,
legacy EC ones are not) may still differ. The layouts match pyipv8 3.2.1 byte for byte (facts sheet A.35).

The author's public key is not part of the object: whoever reads one must know who is supposed to have
signed it and checks that with :meth:`AbstractSignedObject.verify`.
"""
from __future__ import annotations

import abc
import hashlib
import struct
from typing import TYPE_CHECKING, TypeVar

from ..keyvault.crypto import default_eccrypto

if TYPE_CHECKING:
    from ..keyvault.keys import PrivateKey, PublicKey

__all__ = ["AbstractSignedObject", "SignedObjectError"]

T = TypeVar("T", bound="AbstractSignedObject")


class SignedObjectError(ValueError):
    """Bytes that cannot be a signed object of the expected kind (too short, wrong length)."""


class AbstractSignedObject(metaclass=abc.ABCMeta):
    """Base of the identity layer's signed data; subclasses define :meth:`get_plaintext` and :meth:`unserialize`.

    Subclasses set their own fields first and then call ``super().__init__`` with exactly one of
    ``private_key`` (sign now) or ``signature`` (an existing signature, e.g. received or loaded).
    """

    def __init__(self, private_key: PrivateKey | None = None, signature: bytes | None = None) -> None:
        if (private_key is None) == (signature is None):
            raise ValueError("give either a private key to sign with or an existing signature, not both or none")
        self.signature: bytes = private_key.signature(self.get_plaintext()) if private_key is not None \
            else bytes(signature)  # type: ignore[arg-type]
        self._hash = hashlib.sha3_256(self.get_plaintext_signed()).digest()

    @abc.abstractmethod
    def get_plaintext(self) -> bytes:
        """The signed bytes of this object."""

    @classmethod
    @abc.abstractmethod
    def unserialize(cls: type[T], data: bytes, public_key: PublicKey, offset: int = 0) -> T:
        """Read an object (plaintext and signature by ``public_key``'s curve) from ``data``.

        :raises SignedObjectError: when ``data`` is too short or badly sized.
        """

    def get_plaintext_signed(self) -> bytes:
        """Plaintext followed by the signature: the serialized form."""
        return self.get_plaintext() + self.signature

    def get_hash(self) -> bytes:
        """SHA3-256 of :meth:`get_plaintext_signed` (32 bytes)."""
        return self._hash

    def verify(self, public_key: PublicKey) -> bool:
        """Whether ``public_key`` made the signature over our plaintext (never raises)."""
        return default_eccrypto.is_valid_signature(public_key, self.get_plaintext(), self.signature)

    def __hash__(self) -> int:
        return struct.unpack(">Q", self._hash[:8])[0]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, self.__class__):
            return False
        return self.get_plaintext_signed() == other.get_plaintext_signed()

    def __ne__(self, other: object) -> bool:
        return not self == other
