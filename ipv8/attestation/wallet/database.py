"""The attestations we own, in sqlite: the same file layout and schema (version 2) as pyipv8 3.2.1.

The file is ``<working directory>/sqlite/<db_name>.db`` (``":memory:"`` keeps it in memory), managed by
:class:`ipv8.database.Database`. It holds one table named after ``db_name`` with a row per attestation
(``hash``, the owner's serialized attestation ``blob``, the serialized secret ``key``, ``id_format``), and the
``option`` table whose ``database_version`` row says which schema the file has. A version-1 file (no
``id_format`` column) is upgraded in place.

A file that is not an sqlite database, is truncated, or has a version this code does not know raises
:class:`AttestationDatabaseError` when it is opened, with the path in the message.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

from ...database import DATABASE_DIRECTORY, Database, DatabaseError, database_path

if TYPE_CHECKING:
    from ..identity_formats import Attestation

__all__ = ["DATABASE_DIRECTORY", "AttestationDatabaseError", "AttestationsDB", "SecretKeyProtocol"]

LATEST_DB_VERSION = 2


class AttestationDatabaseError(DatabaseError):
    """The attestation database cannot be used (corrupt, truncated, from an unknown version, or closed)."""


class SecretKeyProtocol(Protocol):
    """What the database needs of a secret key."""

    def public_key(self) -> Any:
        """The matching public key."""

    def serialize(self) -> bytes:
        """The key's bytes."""


def _as_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


class AttestationsDB(Database):
    """Our attestations and their secret keys; the file is open from construction until ``close()``.

    :param working_directory: the node's working directory, or ``":memory:"``.
    :param db_name: the table and file name (letters, digits and underscores).
    """

    LATEST_DB_VERSION = LATEST_DB_VERSION
    error_class = AttestationDatabaseError

    def __init__(self, working_directory: str, db_name: str = "attestations") -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", db_name):
            raise ValueError(f"db_name must be a plain identifier, got {db_name!r}")
        self.db_name = db_name
        super().__init__(database_path(working_directory, db_name))
        self.open()

    @property
    def path(self) -> str:
        """The database file, or ``":memory:"``."""
        return self.file_path

    # Schema --------------------------------------------------------------------------------------------

    def get_schema(self) -> str:
        """The attestation table of version 2."""
        return (f"CREATE TABLE IF NOT EXISTS {self.db_name}("
                "hash BLOB, blob LONGBLOB, key MEDIUMBLOB, id_format TINYTEXT, PRIMARY KEY (hash))")

    def get_upgrade_script(self, version: int) -> str | None:
        """Version 1 had no ``id_format`` column; every attestation of that time was ``id_metadata``."""
        if version == 1:
            return (f"ALTER TABLE {self.db_name} ADD id_format TINYTEXT;"
                    f"UPDATE {self.db_name} SET id_format = 'id_metadata'")
        return None

    # Access --------------------------------------------------------------------------------------------

    def get_attestation_by_hash(self, attestation_hash: bytes) -> list[bytes]:
        """The stored blob of ``attestation_hash`` as a one-element list, or an empty list."""
        rows = self.execute(f"SELECT blob FROM {self.db_name} WHERE hash = ?", (attestation_hash,))
        return [bytes(row[0]) for row in rows]

    def get_all(self) -> list[tuple[bytes, bytes, bytes, bytes]]:
        """Every row: ``(hash, blob, key, id_format)``, ``id_format`` as bytes (pyipv8 stores it encoded)."""
        rows = self.execute(f"SELECT hash, blob, key, id_format FROM {self.db_name}")
        return [(bytes(h), bytes(b), bytes(k), _as_bytes(f)) for h, b, k, f in rows]

    def insert_attestation(self, attestation: Attestation, attestation_hash: bytes, secret_key: SecretKeyProtocol,
                           id_format: str) -> None:
        """Store (or replace) our attestation under ``attestation_hash`` with its secret key.

        Serializing a range attestation's private part takes tens of milliseconds; a caller on the reactor
        can do that elsewhere and use :meth:`insert_serialized` instead.
        """
        self.insert_serialized(attestation_hash, attestation.serialize_private(secret_key.public_key()),
                               secret_key.serialize(), id_format)

    def insert_serialized(self, attestation_hash: bytes, blob: bytes, key: bytes, id_format: str) -> None:
        """Store (or replace) an already serialized private attestation ``blob`` and secret ``key``."""
        self.execute(f"INSERT OR REPLACE INTO {self.db_name} (hash, blob, key, id_format) VALUES(?, ?, ?, ?)",
                     (attestation_hash, blob, key, id_format.encode()))
        self.commit()

    def remove_attestation(self, attestation_hash: bytes) -> None:
        """Forget the attestation ``attestation_hash`` (nothing happens if it is unknown)."""
        self.execute(f"DELETE FROM {self.db_name} WHERE hash = ?", (attestation_hash,))
        self.commit()
