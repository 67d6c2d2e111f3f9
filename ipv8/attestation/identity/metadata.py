"""Metadata: a JSON dictionary describing a token (a credential's name, schema, date...), signed by its owner.

Serialized form (pyipv8 3.2.1): ``32s`` hash of the token it describes, the UTF-8 JSON, then the signature.
The JSON has no length prefix: the signature length of the owner's key tells where it ends, so metadata
can only be read whole (:meth:`Metadata.unserialize` takes no offset other than 0).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..signed_object import AbstractSignedObject, SignedObjectError
from ..tokentree.token import HASH_LENGTH

if TYPE_CHECKING:
    from ...keyvault.keys import PrivateKey, PublicKey
    from ..tokentree.token import Token

__all__ = ["MAX_METADATA_JSON", "Metadata"]

#: Bytes of JSON metadata we accept from others (a disclosure travels in one UDP packet anyway).
MAX_METADATA_JSON = 8192


class Metadata(AbstractSignedObject):
    """A token pointer and a serialized JSON dictionary, signed by the token's owner."""

    def __init__(self, token_pointer: bytes, serialized_json_dict: bytes, private_key: PrivateKey | None = None,
                 signature: bytes | None = None) -> None:
        if len(token_pointer) != HASH_LENGTH:
            raise ValueError("a metadata token pointer is a 32-byte hash")
        self.token_pointer = bytes(token_pointer)
        self.serialized_json_dict = bytes(serialized_json_dict)
        super().__init__(private_key, signature)

    def get_plaintext(self) -> bytes:
        """Token pointer followed by the JSON bytes."""
        return self.token_pointer + self.serialized_json_dict

    @classmethod
    def unserialize(cls, data: bytes, public_key: PublicKey, offset: int = 0) -> Metadata:
        """Read metadata that fills all of ``data`` (signature not checked: see :meth:`verify`).

        :raises SignedObjectError: for a non-zero offset, too little data or JSON beyond
            :data:`MAX_METADATA_JSON` bytes.
        """
        if offset != 0:
            raise SignedObjectError("metadata can only be read from the start of its bytes")
        sig_len = public_key.get_signature_length()
        json_len = len(data) - HASH_LENGTH - sig_len
        if json_len < 0:
            raise SignedObjectError(f"metadata needs at least {HASH_LENGTH + sig_len} bytes, got {len(data)}")
        if json_len > MAX_METADATA_JSON:
            raise SignedObjectError(f"metadata JSON of {json_len} bytes exceeds {MAX_METADATA_JSON}")
        return cls(data[:HASH_LENGTH], data[HASH_LENGTH:len(data) - sig_len], signature=data[len(data) - sig_len:])

    @classmethod
    def create(cls, token: Token, json_dict: dict, private_key: PrivateKey) -> Metadata:
        """New metadata for ``token``, ``json_dict`` serialized with ``json.dumps`` defaults, signed by us."""
        return cls(token.get_hash(), json.dumps(json_dict).encode(), private_key=private_key)

    def json(self) -> dict[str, Any] | None:
        """The JSON dictionary, or None when the bytes are not a JSON object (others may send anything)."""
        try:
            value = json.loads(self.serialized_json_dict)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None

    def to_database_tuple(self) -> tuple[bytes, bytes, bytes]:
        """``(token_pointer, signature, serialized_json_dict)`` as stored in the database."""
        return self.token_pointer, self.signature, self.serialized_json_dict

    @classmethod
    def from_database_tuple(cls, token_pointer: bytes, signature: bytes, serialized_json_dict: bytes) -> Metadata:
        """The inverse of :meth:`to_database_tuple`."""
        return cls(bytes(token_pointer), bytes(serialized_json_dict), signature=bytes(signature))

    def __str__(self) -> str:
        return f"Metadata({self.token_pointer.hex()}, {self.serialized_json_dict.decode(errors='replace')})"
