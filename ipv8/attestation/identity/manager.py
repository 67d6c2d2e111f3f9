"""Pseudonyms: our own identities (one key each) and what we know of other people's.

A :class:`PseudonymManager` wraps one key's token tree and its credentials in the
:class:`~ipv8.attestation.identity.database.IdentityDatabase`. For our own pseudonym it creates credentials
and disclosures; for someone else's it takes in what they disclose, checking every signature first.
:class:`IdentityManager` hands out one PseudonymManager per key (:meth:`IdentityManager.get_pseudonym`) and
reads disclosures (:meth:`IdentityManager.substantiate`).

**Disclosure format** (pyipv8 3.2.1; the four ``varlenH`` fields of the disclose message):

* metadata: per item ``uint32`` length, then the serialized metadata;
* tokens: serialized tokens, back-to-back (any order);
* attestations: serialized attestations, back-to-back, each signed by the authority at the same position of
* authorities: per item ``uint16`` length, then the authority's binary public key.

**Hostile input.** A disclosure is parsed with bounds checks and never raises; someone else's pseudonym
holds at most :attr:`PseudonymManager.max_foreign_tokens` tokens, :attr:`PseudonymManager.max_foreign_metadata`
metadata and :attr:`PseudonymManager.max_foreign_attestations` attestations; more is refused.
"""
from __future__ import annotations

import json
import logging
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ...keyvault.crypto import default_eccrypto
from ..signed_object import SignedObjectError
from ..tokentree.tree import TokenTree
from .attestation import Attestation
from .database import Credential, IdentityDatabase
from .metadata import Metadata

if TYPE_CHECKING:
    from ...keyvault.keys import PrivateKey, PublicKey
    from ..tokentree.token import Token

__all__ = ["Disclosure", "IdentityManager", "PseudonymManager"]

logger = logging.getLogger(__name__)

#: (metadata, tokens, attestations, authorities), each serialized as described in the module documentation.
Disclosure = tuple[bytes, bytes, bytes, bytes]


class PseudonymManager:
    """One pseudonym: ours (``private_key``) or someone else's (``public_key``); get it from
    :meth:`IdentityManager.get_pseudonym`."""

    #: Tokens, metadata and attestations we keep of someone else's pseudonym, at most.
    max_foreign_tokens: int = 1024
    max_foreign_metadata: int = 1024
    max_foreign_attestations: int = 4096

    def __init__(self, database: IdentityDatabase, public_key: PublicKey | None = None,
                 private_key: PrivateKey | None = None) -> None:
        self.database = database
        self.tree = TokenTree(public_key=public_key, private_key=private_key)
        self.is_ours = private_key is not None
        if not self.is_ours:
            self.tree.max_elements = self.max_foreign_tokens
        # What we stored ourselves was checked before it was stored.
        for token in self.database.get_tokens_for(self.public_key):
            self.tree.elements[token.get_hash()] = token
        self.credentials: list[Credential] = self.database.get_credentials_for(self.public_key)

    @property
    def public_key(self) -> PublicKey:
        """The pseudonym's public key."""
        return self.tree.public_key

    # Adding --------------------------------------------------------------------------------------------

    def add_credential(self, token: Token, metadata: Metadata,
                       attestations: set[tuple[PublicKey, Attestation]] | None = None) -> Credential | None:
        """Add ``token`` with its ``metadata`` and the ``(authority, attestation)`` pairs for it.

        The token is kept if it joins the tree even when the metadata turns out to be bad (as in pyipv8);
        the credential (with only the attestations whose signatures hold) is returned when the metadata is
        ours and describes that token, None otherwise.
        """
        if self.tree.gather_token(token) is None:
            return None
        if metadata.token_pointer != token.get_hash() or not self._metadata_acceptable(metadata):
            self.database.insert_token(self.public_key, token)
            return None
        self.database.insert_token_and_metadata(self.public_key, token, metadata)
        valid = {attestation for authority, attestation in (attestations or set())
                 if self.add_attestation(authority, attestation)}
        credential = Credential(metadata, valid)
        self.credentials.append(credential)
        return credential

    def add_attestation(self, public_key: PublicKey, attestation: Attestation) -> bool:
        """Store ``public_key``'s attestation for this pseudonym if its signature holds (and there is room)."""
        if not attestation.verify(public_key):
            return False
        if not self.is_ours and \
                self.database.count_for(self.public_key, "Attestations") >= self.max_foreign_attestations:
            logger.warning("Refused attestation: pseudonym %s has too many", self.public_key.key_to_hash().hex())
            return False
        self.database.insert_attestation(self.public_key, public_key, attestation)
        return True

    def _metadata_acceptable(self, metadata: Metadata) -> bool:
        if not metadata.verify(self.public_key):
            return False
        if not self.is_ours and self.database.count_for(self.public_key, "Metadata") >= self.max_foreign_metadata:
            logger.warning("Refused metadata: pseudonym %s has too many", self.public_key.key_to_hash().hex())
            return False
        return True

    def add_metadata(self, metadata: Metadata) -> bool:
        """Store ``metadata`` if this pseudonym signed it (and there is room)."""
        if not self._metadata_acceptable(metadata):
            return False
        self.database.insert_metadata(self.public_key, metadata)
        return True

    def create_attestation(self, metadata: Metadata, private_key: PrivateKey) -> Attestation:
        """Attest ``metadata`` of this pseudonym with ``private_key`` (not stored: see :meth:`add_attestation`)."""
        return Attestation.create(metadata, private_key)

    def create_credential(self, attestation_hash: bytes, metadata_json: dict,
                          after: Metadata | None = None) -> Credential | None:
        """Our new credential: a token for ``attestation_hash`` (after the token of ``after``, or the root)
        and metadata ``metadata_json`` for it."""
        preceding = None if after is None else self.tree.elements.get(after.token_pointer)
        token = self.tree.add_by_hash(attestation_hash, preceding)
        metadata = Metadata(token.get_hash(), json.dumps(metadata_json).encode(), private_key=self.tree.private_key)
        return self.add_credential(token, metadata, set())

    # Reading -------------------------------------------------------------------------------------------

    def get_credential(self, metadata: Metadata) -> Credential:
        """``metadata`` with its stored attestations."""
        return self.database.get_credential_over(metadata)

    def get_credentials(self) -> list[Credential]:
        """Every stored credential of this pseudonym."""
        return self.database.get_credentials_for(self.public_key)

    def attested_by(self, metadata: Metadata, authority: PublicKey) -> bool:
        """Whether we have ``authority``'s attestation of ``metadata``."""
        key_bin = authority.key_to_bin()
        return any(self.database.get_authority(attestation) == key_bin
                   for attestation in self.database.get_attestations_over(metadata))

    # Disclosing ----------------------------------------------------------------------------------------

    def disclose_credentials(self, credentials: Iterable[Credential], attestation_selector: set[bytes]) -> Disclosure:
        """:meth:`create_disclosure` for the metadata of ``credentials``."""
        return self.create_disclosure({credential.metadata for credential in credentials}, attestation_selector)

    def create_disclosure(self, metadata: set[Metadata], attestation_selector: set[bytes]) -> Disclosure:
        """Serialize ``metadata``, the attestations of it whose hash is in ``attestation_selector`` (with
        their authorities) and the tokens from each metadata's token back to the root (root first).

        :raises KeyError: when a metadata's token is not in our tree.
        :raises RuntimeError: when a token's path to the root is broken.
        """
        s_metadata = b""
        attestations = b""
        authorities = b""
        for item in metadata:
            serialized = item.get_plaintext_signed()
            s_metadata += struct.pack(">I", len(serialized)) + serialized
        for item in metadata:
            for attestation in self.database.get_attestations_over(item):
                if attestation.get_hash() in attestation_selector:
                    authority = self.database.get_authority(attestation) or b""
                    attestations += attestation.get_plaintext_signed()
                    authorities += struct.pack(">H", len(authority)) + authority
        tokens: dict[bytes, Token] = {}
        for item in metadata:
            path = self.tree.get_root_path(self.tree.elements[item.token_pointer], -1)
            if not path:
                raise RuntimeError("cannot disclose a token whose path to the root is broken")
            for token in reversed(path):
                tokens.setdefault(token.get_hash(), token)
        return s_metadata, b"".join(token.get_plaintext_signed() for token in tokens.values()), attestations, \
            authorities


class IdentityManager:
    """Our pseudonyms and those of others, over one database (``":memory:"`` or a file path)."""

    def __init__(self, database_path: str = ":memory:") -> None:
        self.database = IdentityDatabase(database_path)
        self.database.open()
        #: binary public key -> pseudonym
        self.pseudonyms: dict[bytes, PseudonymManager] = {}

    def get_pseudonym(self, key: PublicKey | PrivateKey) -> PseudonymManager:
        """The pseudonym of ``key``: ours when it is a private key, someone else's otherwise."""
        key_bin = key.pub().key_to_bin()
        pseudonym = self.pseudonyms.get(key_bin)
        if pseudonym is None:
            if key.has_secret_key():
                pseudonym = PseudonymManager(self.database, private_key=key)  # type: ignore[arg-type]
            else:
                pseudonym = PseudonymManager(self.database, public_key=key)  # type: ignore[arg-type]
            self.pseudonyms[key_bin] = pseudonym
        return pseudonym

    def close(self) -> None:
        """Close the database."""
        self.database.close()

    def substantiate(self, public_key: PublicKey, serialized_metadata: bytes, serialized_tokens: bytes,
                     serialized_attestations: bytes, serialized_authorities: bytes) -> tuple[bool, PseudonymManager]:
        """Take in a disclosure of ``public_key``'s pseudonym: (whether all of it was valid, the pseudonym).

        Valid parts are kept even when other parts are not; nothing raises on malformed input.
        """
        pseudonym = self.get_pseudonym(public_key)
        correct = pseudonym.tree.unserialize_public(serialized_tokens)
        correct &= self._read_metadata(pseudonym, serialized_metadata)
        correct &= self._read_attestations(pseudonym, serialized_attestations, serialized_authorities)
        return correct, pseudonym

    @staticmethod
    def _read_metadata(pseudonym: PseudonymManager, data: bytes) -> bool:
        offset = 0
        correct = True
        while offset < len(data):
            if offset + 4 > len(data):
                return False
            length, = struct.unpack_from(">I", data, offset)
            end = offset + 4 + length
            if end > len(data):
                return False
            try:
                metadata = Metadata.unserialize(data[offset + 4:end], pseudonym.public_key)
            except (SignedObjectError, ValueError):
                return False
            correct &= pseudonym.add_metadata(metadata)
            offset = end
        return correct

    @staticmethod
    def _read_attestations(pseudonym: PseudonymManager, attestations: bytes, authorities: bytes) -> bool:
        attestation_offset = 0
        authority_offset = 0
        correct = True
        while authority_offset < len(authorities):
            if authority_offset + 2 > len(authorities):
                return False
            length, = struct.unpack_from(">H", authorities, authority_offset)
            key_bin = authorities[authority_offset + 2:authority_offset + 2 + length]
            authority_offset += 2 + length
            if len(key_bin) != length or not default_eccrypto.is_valid_public_bin(key_bin):
                return False
            authority = default_eccrypto.key_from_public_bin(key_bin)
            try:
                attestation = Attestation.unserialize(attestations, authority, attestation_offset)
            except (SignedObjectError, ValueError):
                return False
            attestation_offset += Attestation.serialized_length(authority)
            correct &= pseudonym.add_attestation(authority, attestation)
        return correct and attestation_offset == len(attestations)
