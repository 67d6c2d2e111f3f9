"""A token: one signed link of a token tree, pointing at its predecessor and at some content.

Serialized form (pyipv8 3.2.1, facts sheet A.35): ``32s`` hash of the previous token (or, for the first
token, SHA3-256 of the owner's public key), ``32s`` SHA3-256 of the content, then the owner's signature
over those 64 bytes. The content itself travels separately (or never): a token only commits to it.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ..signed_object import AbstractSignedObject, SignedObjectError

if TYPE_CHECKING:
    from ...keyvault.keys import PrivateKey, PublicKey

__all__ = ["HASH_LENGTH", "Token"]

#: Length of every pointer in the identity layer (SHA3-256).
HASH_LENGTH = 32


class Token(AbstractSignedObject):
    """A signed double pointer (previous token, content); it holds no index and no public key.

    Give exactly one of ``content`` (its hash is computed) or ``content_hash`` (content unknown for now), and
    exactly one of ``private_key`` or ``signature``.
    """

    def __init__(self, previous_token_hash: bytes, content: bytes | None = None,
                 content_hash: bytes | None = None, private_key: PrivateKey | None = None,
                 signature: bytes | None = None) -> None:
        if (content is None) == (content_hash is None):
            raise ValueError("give either the content or its hash, not both or none")
        if content is not None:
            self.content: bytes | None = bytes(content)
            self.content_hash = hashlib.sha3_256(self.content).digest()
        else:
            self.content = None
            self.content_hash = bytes(content_hash)  # type: ignore[arg-type]
        if len(self.content_hash) != HASH_LENGTH or len(previous_token_hash) != HASH_LENGTH:
            raise ValueError("token pointers are 32-byte SHA3-256 hashes")
        self.previous_token_hash = bytes(previous_token_hash)
        super().__init__(private_key, signature)

    def get_plaintext(self) -> bytes:
        """Previous-token hash followed by content hash (64 bytes)."""
        return self.previous_token_hash + self.content_hash

    @classmethod
    def serialized_length(cls, public_key: PublicKey) -> int:
        """Bytes of one serialized token signed by ``public_key``'s kind of key."""
        return 2 * HASH_LENGTH + public_key.get_signature_length()

    @classmethod
    def unserialize(cls, data: bytes, public_key: PublicKey, offset: int = 0) -> Token:
        """Read one token at ``offset`` (the signature is not checked here: see :meth:`verify`)."""
        end = offset + cls.serialized_length(public_key)
        if offset < 0 or len(data) < end:
            raise SignedObjectError(f"a token needs {end - offset} bytes, {max(0, len(data) - offset)} left")
        middle = offset + HASH_LENGTH
        return Token(data[offset:middle], content_hash=data[middle:middle + HASH_LENGTH],
                     signature=data[middle + HASH_LENGTH:end])

    def receive_content(self, content: bytes) -> bool:
        """Attach ``content`` if it is what this token commits to; returns whether it was."""
        if hashlib.sha3_256(content).digest() != self.content_hash:
            return False
        self.content = bytes(content)
        return True

    @classmethod
    def create(cls, previous_token: Token, content: bytes, private_key: PrivateKey) -> Token:
        """A new token after ``previous_token`` committing to ``content``, signed by ``private_key``."""
        return cls(previous_token.get_hash(), content, private_key=private_key)

    def to_database_tuple(self) -> tuple[bytes, bytes, bytes, bytes | None]:
        """``(previous_token_hash, signature, content_hash, content)`` as stored in the database."""
        return self.previous_token_hash, self.signature, self.content_hash, self.content

    @classmethod
    def from_database_tuple(cls, previous_token_hash: bytes, signature: bytes, content_hash: bytes,
                            content: bytes | None) -> Token:
        """The inverse of :meth:`to_database_tuple` (content that does not match the hash is left out)."""
        token = cls(bytes(previous_token_hash), content_hash=bytes(content_hash), signature=bytes(signature))
        if content is not None:
            token.receive_content(bytes(content))
        return token

    def __str__(self) -> str:
        return f"Token[{self.get_hash().hex()}]({self.previous_token_hash.hex()}, {self.content_hash.hex()})"
