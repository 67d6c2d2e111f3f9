"""The attestation database: schema versions, damage, and attestations that survive a restart."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ipv8.attestation.default_identity_formats import FORMATS
from ipv8.attestation.wallet.bonehexact.algorithm import BonehExactAlgorithm
from ipv8.attestation.wallet.community import AttestationCommunity
from ipv8.attestation.wallet.database import AttestationDatabaseError, AttestationsDB
from ipv8.attestation.wallet.worker import run_inline
from ipv8.test.mocking.ipv8 import MockIPv8

from .test_community import AttestationTestBase


def _attestation() -> tuple[Any, Any, bytes]:
    algorithm = BonehExactAlgorithm("id_metadata", FORMATS)
    secret_key = algorithm.generate_secret_key()
    attestation = algorithm.get_attestation_class().unserialize(algorithm.attest(secret_key.public_key(), b"v"),
                                                                "id_metadata")
    return attestation, secret_key, attestation.get_hash()


def test_insert_and_read_back(tmp_path: Path) -> None:
    attestation, secret_key, attestation_hash = _attestation()
    database = AttestationsDB(str(tmp_path), "attestations")
    database.insert_attestation(attestation, attestation_hash, secret_key, "id_metadata")
    database.close()
    assert (tmp_path / "sqlite" / "attestations.db").is_file()
    database = AttestationsDB(str(tmp_path), "attestations")
    assert database.get_attestation_by_hash(attestation_hash) == [attestation.serialize()]
    assert database.get_all() == [(attestation_hash, attestation.serialize(), secret_key.serialize(), b"id_metadata")]
    assert database.get_attestation_by_hash(b"x" * 20) == []
    database.remove_attestation(attestation_hash)
    assert database.get_all() == []
    database.close()
    with pytest.raises(AttestationDatabaseError):
        database.get_all()


def test_version_one_is_upgraded(tmp_path: Path) -> None:
    os.makedirs(tmp_path / "sqlite")
    connection = sqlite3.connect(tmp_path / "sqlite" / "attestations.db")
    connection.executescript("CREATE TABLE attestations(hash BLOB, blob LONGBLOB, key MEDIUMBLOB, PRIMARY KEY (hash));"
                             "CREATE TABLE option(key TEXT PRIMARY KEY, value BLOB);"
                             "INSERT INTO option VALUES('database_version', '1');"
                             "INSERT INTO attestations VALUES(x'01', x'02', x'03');")
    connection.commit()
    connection.close()
    database = AttestationsDB(str(tmp_path), "attestations")
    assert database.get_all() == [(b"\x01", b"\x02", b"\x03", b"id_metadata")]
    database.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "future", "bad-version"])
def test_damaged_file_gives_one_clear_error(tmp_path: Path, damage: str) -> None:
    database = AttestationsDB(str(tmp_path), "attestations")
    attestation, secret_key, attestation_hash = _attestation()
    database.insert_attestation(attestation, attestation_hash, secret_key, "id_metadata")
    database.close()
    path = tmp_path / "sqlite" / "attestations.db"
    if damage == "garbage":
        path.write_bytes(b"this is no database" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1500])
    else:
        connection = sqlite3.connect(path)
        connection.execute("UPDATE option SET value = ? WHERE key = 'database_version'",
                           ("99" if damage == "future" else "two",))
        connection.commit()
        connection.close()
    with pytest.raises(AttestationDatabaseError, match="attestations.db"):
        AttestationsDB(str(tmp_path), "attestations")


def test_bad_table_name() -> None:
    with pytest.raises(ValueError):
        AttestationsDB(":memory:", "x; DROP TABLE y")


class TestRestart(AttestationTestBase):
    """The owner restarts between attestation and verification."""

    def setUp(self) -> Any:
        self.owner_directory = self.temporary_directory()
        return super().setUp()

    def create_node(self, settings: Any = None, create_dht: bool = False,
                    enable_statistics: bool = False) -> MockIPv8:
        directory = self.owner_directory if not self.nodes else ":memory:"
        return MockIPv8(self.DEFAULT_KEY_LEVEL, AttestationCommunity, internet=self.internet, clock=self.clock,
                        working_directory=directory, worker_runner=run_inline)

    async def test_attestation_survives_restart(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        range_hash = await self.attest("age", "id_metadata_range_18plus")
        old = self.nodes[0]
        await old.stop()
        new = MockIPv8(old.my_peer, AttestationCommunity, internet=self.internet, clock=self.clock,
                       working_directory=self.owner_directory, worker_runner=run_inline)
        self.nodes[0] = new
        self.assertEqual(set(new.overlay.attestation_keys), {attestation_hash, range_hash})
        for i in (1, 2):
            self._add_known_peer(new, self.nodes[i])
            self._add_known_peer(self.nodes[i], new)
        self.assertGreater((await self.verify(attestation_hash, [b"Alice"], "id_metadata"))[0], 0.99)
        self.assertEqual(await self.verify(range_hash, [b"\x01"], "id_metadata_range_18plus"), [1.0])
