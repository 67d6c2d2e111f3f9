"""An identity-layer attestation: an authority's signature over the hash of someone's metadata.

This is the business-layer statement "I vouch for this credential", not the zero-knowledge attestation of
the wallet. Serialized form (pyipv8 3.2.1): ``32s`` metadata hash, then the authority's signature. The
authority's key is not in it: it travels next to it (disclosures) or is the sender (attest message).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..signed_object import AbstractSignedObject, SignedObjectError
from ..tokentree.token import HASH_LENGTH

if TYPE_CHECKING:
    from ...keyvault.keys import PrivateKey, PublicKey
    from .metadata import Metadata

__all__ = ["Attestation"]


class Attestation(AbstractSignedObject):
    """A signed pointer to metadata."""

    def __init__(self, metadata_pointer: bytes, private_key: PrivateKey | None = None,
                 signature: bytes | None = None) -> None:
        if len(metadata_pointer) != HASH_LENGTH:
            raise ValueError("an attestation points to a 32-byte metadata hash")
        self.metadata_pointer = bytes(metadata_pointer)
        super().__init__(private_key, signature)

    def get_plaintext(self) -> bytes:
        """The metadata hash."""
        return self.metadata_pointer

    @classmethod
    def serialized_length(cls, public_key: PublicKey) -> int:
        """Bytes of one attestation signed by ``public_key``'s kind of key."""
        return HASH_LENGTH + public_key.get_signature_length()

    @classmethod
    def unserialize(cls, data: bytes, public_key: PublicKey, offset: int = 0) -> Attestation:
        """Read one attestation at ``offset`` (signature not checked: see :meth:`verify`)."""
        end = offset + cls.serialized_length(public_key)
        if offset < 0 or len(data) < end:
            raise SignedObjectError(f"an attestation needs {end - offset} bytes, {max(0, len(data) - offset)} left")
        return cls(data[offset:offset + HASH_LENGTH], signature=data[offset + HASH_LENGTH:end])

    @classmethod
    def create(cls, metadata: Metadata, private_key: PrivateKey) -> Attestation:
        """Attest ``metadata`` with our key."""
        return cls(metadata.get_hash(), private_key=private_key)

    def to_database_tuple(self) -> tuple[bytes, bytes]:
        """``(metadata_pointer, signature)`` as stored in the database."""
        return self.metadata_pointer, self.signature

    @classmethod
    def from_database_tuple(cls, metadata_pointer: bytes, signature: bytes) -> Attestation:
        """The inverse of :meth:`to_database_tuple`."""
        return cls(bytes(metadata_pointer), signature=bytes(signature))

    def __str__(self) -> str:
        return f"Attestation({self.metadata_pointer.hex()})"
