"""The identity layer's sqlite database: tokens, metadata and attestations of our pseudonyms and of others.

Same file place and schema (version 1) as pyipv8 3.2.1: ``<working directory>/sqlite/identity.db`` with the
tables ``Tokens``, ``Metadata``, ``Attestations`` and ``option`` (``database_version``). ``":memory:"`` keeps
nothing on disk. Every insert is committed at once, so a node killed at any moment leaves a file that is
consistent (sqlite's journal takes care of a write in progress). Commitments and secret keys of the
zero-knowledge attestations are not here: they live in the wallet's database.

Rows from others are only inserted after their signatures were checked (see
:class:`~ipv8.attestation.identity.manager.PseudonymManager`), and the number of rows per public key can be
counted (:meth:`IdentityDatabase.count_for`) so that callers can cap them.
"""
from __future__ import annotations

import os
import sqlite3
from typing import TYPE_CHECKING

from ..tokentree.token import Token
from .attestation import Attestation
from .metadata import Metadata

if TYPE_CHECKING:
    from ...keyvault.keys import PublicKey

__all__ = ["Credential", "IdentityDatabase", "IdentityDatabaseError"]

LATEST_DB_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS Tokens(
 public_key BLOB, previous_token_hash BLOB, signature BLOB, content_hash BLOB, content LONGBLOB,
 PRIMARY KEY (public_key, previous_token_hash, content_hash));
CREATE TABLE IF NOT EXISTS Metadata(
 public_key BLOB, token_pointer BLOB, signature BLOB, serialized_json_dict LONGBLOB,
 PRIMARY KEY (public_key, token_pointer));
CREATE TABLE IF NOT EXISTS Attestations(
 public_key BLOB, authority_key BLOB, metadata_pointer BLOB, signature BLOB,
 PRIMARY KEY (public_key, metadata_pointer));
CREATE TABLE IF NOT EXISTS option(key TEXT PRIMARY KEY, value BLOB);
"""


class IdentityDatabaseError(Exception):
    """The identity database cannot be used (not sqlite, damaged, or from a newer version)."""


class Credential:
    """Metadata together with the attestations made for it."""

    def __init__(self, metadata: Metadata, attestations: set[Attestation]) -> None:
        self.metadata = metadata
        self.attestations = attestations

    def __repr__(self) -> str:
        return f"Credential({self.metadata}, {len(self.attestations)} attestation(s))"


class IdentityDatabase:
    """Storage of :class:`Token`, :class:`Metadata` and :class:`Attestation` rows per public key.

    :param path: the database file, or ``":memory:"``; see :meth:`for_working_directory`.
    """

    LATEST_DB_VERSION = LATEST_DB_VERSION

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def for_working_directory(cls, working_directory: str) -> IdentityDatabase:
        """The database of a node: ``<working_directory>/sqlite/identity.db`` (``":memory:"`` stays in memory)."""
        if working_directory == ":memory:":
            return cls(":memory:")
        return cls(os.path.join(working_directory, "sqlite", "identity.db"))

    def open(self) -> None:
        """Open (creating the file and its folder if needed) and check or create the schema."""
        if self._connection is not None:
            return
        if self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            self._connection = sqlite3.connect(self.path)
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise IdentityDatabaseError(f"Cannot use the identity database {self.path}: {exc}") from exc

    def _check_schema(self) -> None:
        connection = self._conn
        connection.execute("PRAGMA quick_check").fetchall()  # a damaged file fails here, not later
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "option" in tables:
            row = connection.execute("SELECT value FROM option WHERE key = 'database_version'").fetchone()
            if row is not None:
                text = row[0].decode() if isinstance(row[0], bytes) else str(row[0])
                if not text.isdigit():
                    raise IdentityDatabaseError(f"{self.path}: unreadable database_version {text!r}")
                if int(text) > LATEST_DB_VERSION:
                    raise IdentityDatabaseError(f"{self.path}: database version {text} is newer than "
                                                f"this code understands ({LATEST_DB_VERSION})")
        connection.executescript(_SCHEMA)
        connection.execute("DELETE FROM option WHERE key = 'database_version'")
        connection.execute("INSERT INTO option(key, value) VALUES('database_version', ?)", (str(LATEST_DB_VERSION),))
        connection.commit()

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise IdentityDatabaseError(f"{self.path} is not open")
        return self._connection

    def close(self) -> None:
        """Close the file; later access raises :class:`IdentityDatabaseError`."""
        if self._connection is not None:
            self._connection.close()
        self._connection = None

    def _write(self, statement: str, parameters: tuple) -> None:
        self._conn.execute(statement, parameters)
        self._conn.commit()

    def _rows(self, statement: str, parameters: tuple) -> list[tuple]:
        return self._conn.execute(statement, parameters).fetchall()

    # Options ---------------------------------------------------------------------------------------------

    def get_option(self, key: str) -> bytes | None:
        """The value stored under ``key`` in the ``option`` table, or None."""
        rows = self._rows("SELECT value FROM option WHERE key = ?", (key,))
        if not rows:
            return None
        value = rows[0][0]
        return value if isinstance(value, bytes) else str(value).encode()

    def set_option(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key`` (committed at once, like every write)."""
        self._write("INSERT OR REPLACE INTO option(key, value) VALUES(?, ?)", (key, value))

    def delete_option(self, key: str) -> None:
        """Forget the value stored under ``key`` (nothing happens if there is none)."""
        self._write("DELETE FROM option WHERE key = ?", (key,))

    # Inserting -------------------------------------------------------------------------------------------

    def insert_token(self, public_key: PublicKey, token: Token) -> None:
        """Store ``token`` of ``public_key``'s tree (a token already stored is left alone)."""
        self._write("INSERT OR IGNORE INTO Tokens (public_key, previous_token_hash, signature, content_hash, "
                    "content) VALUES(?,?,?,?,?)", (public_key.key_to_bin(), *token.to_database_tuple()))

    def insert_token_and_metadata(self, public_key: PublicKey, token: Token, metadata: Metadata) -> None:
        """Store a token with its metadata in one transaction (a crash leaves both or neither)."""
        key_bin = public_key.key_to_bin()
        with self._conn:
            self._conn.execute("INSERT OR IGNORE INTO Tokens (public_key, previous_token_hash, signature, "
                               "content_hash, content) VALUES(?,?,?,?,?)", (key_bin, *token.to_database_tuple()))
            self._conn.execute("INSERT OR IGNORE INTO Metadata (public_key, token_pointer, signature, "
                               "serialized_json_dict) VALUES(?,?,?,?)", (key_bin, *metadata.to_database_tuple()))

    def insert_metadata(self, public_key: PublicKey, metadata: Metadata) -> None:
        """Store ``metadata`` of ``public_key`` (the first metadata for a token wins)."""
        self._write("INSERT OR IGNORE INTO Metadata (public_key, token_pointer, signature, serialized_json_dict) "
                    "VALUES(?,?,?,?)", (public_key.key_to_bin(), *metadata.to_database_tuple()))

    def insert_attestation(self, public_key: PublicKey, authority_key: PublicKey, attestation: Attestation) -> None:
        """Store ``authority_key``'s attestation of metadata of ``public_key``.

        As in pyipv8 3.2.1, one attestation per (subject, metadata) is kept: the first one.
        """
        self._write("INSERT OR IGNORE INTO Attestations (public_key, authority_key, metadata_pointer, signature) "
                    "VALUES(?,?,?,?)", (public_key.key_to_bin(), authority_key.key_to_bin(),
                                        *attestation.to_database_tuple()))

    # Reading ---------------------------------------------------------------------------------------------

    def count_for(self, public_key: PublicKey, table: str) -> int:
        """Rows ``public_key`` has in ``table`` (``Tokens``, ``Metadata`` or ``Attestations``)."""
        if table not in ("Tokens", "Metadata", "Attestations"):
            raise ValueError(f"unknown table {table!r}")
        return self._rows(f"SELECT COUNT(*) FROM {table} WHERE public_key = ?", (public_key.key_to_bin(),))[0][0]

    def get_tokens_for(self, public_key: PublicKey) -> set[Token]:
        """Every stored token of ``public_key``'s tree."""
        return {Token.from_database_tuple(*row) for row in self._rows(
            "SELECT previous_token_hash, signature, content_hash, content FROM Tokens WHERE public_key = ?",
            (public_key.key_to_bin(),))}

    def get_metadata_for(self, public_key: PublicKey) -> set[Metadata]:
        """Every stored metadata of ``public_key``."""
        return {Metadata.from_database_tuple(*row) for row in self._rows(
            "SELECT token_pointer, signature, serialized_json_dict FROM Metadata WHERE public_key = ?",
            (public_key.key_to_bin(),))}

    def get_attestations_for(self, public_key: PublicKey) -> set[Attestation]:
        """Attestations others made for ``public_key``'s metadata."""
        return {Attestation.from_database_tuple(*row) for row in self._rows(
            "SELECT metadata_pointer, signature FROM Attestations WHERE public_key = ?", (public_key.key_to_bin(),))}

    def get_attestations_by(self, public_key: PublicKey) -> set[Attestation]:
        """Attestations ``public_key`` made (as authority) for others."""
        return {Attestation.from_database_tuple(*row) for row in self._rows(
            "SELECT metadata_pointer, signature FROM Attestations WHERE authority_key = ?",
            (public_key.key_to_bin(),))}

    def get_attestations_over(self, metadata: Metadata) -> set[Attestation]:
        """Attestations of ``metadata``."""
        return {Attestation.from_database_tuple(*row) for row in self._rows(
            "SELECT metadata_pointer, signature FROM Attestations WHERE metadata_pointer = ?",
            (metadata.get_hash(),))}

    def get_authority(self, attestation: Attestation) -> bytes | None:
        """The binary public key of the authority that made ``attestation``, or None if it is not stored."""
        rows = self._rows("SELECT authority_key FROM Attestations WHERE signature = ?", (attestation.signature,))
        return bytes(rows[0][0]) if rows else None

    def get_credential_over(self, metadata: Metadata) -> Credential:
        """``metadata`` with its attestations."""
        return Credential(metadata, self.get_attestations_over(metadata))

    def get_credentials_for(self, public_key: PublicKey) -> list[Credential]:
        """Every credential (metadata with attestations) of ``public_key``."""
        return [self.get_credential_over(metadata) for metadata in self.get_metadata_for(public_key)]

    def remove_pseudonym(self, public_key: PublicKey) -> list[bytes]:
        """Delete every token, metadata and attestation of ``public_key`` in one transaction.

        :returns: the content hashes (attribute hashes) of the deleted tokens.
        """
        key_bin = public_key.key_to_bin()
        hashes = [bytes(row[0]) for row in self._rows("SELECT content_hash FROM Tokens WHERE public_key = ?",
                                                      (key_bin,))]
        with self._conn:  # one transaction: all rows go, or none
            for table in ("Tokens", "Metadata", "Attestations"):
                self._conn.execute(f"DELETE FROM {table} WHERE public_key = ?", (key_bin,))
        return hashes

    def get_known_identities(self) -> list[bytes]:
        """Binary public keys of everyone with tokens in this database, each once."""
        return [bytes(row[0]) for row in self._rows("SELECT DISTINCT public_key FROM Tokens", ())]
