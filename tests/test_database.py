"""The shared sqlite base: versioned schema, upgrades, transactions, and one clear error for a bad file."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ipv8.database import Database, DatabaseError, database_path


class NotesError(DatabaseError):
    """This database's own error type."""


class NotesDB(Database):
    """Version 1 had ``notes(text)``; version 2 adds a ``stars`` column, defaulting to 0."""

    LATEST_DB_VERSION = 2
    error_class = NotesError

    def get_schema(self) -> str:
        return "CREATE TABLE IF NOT EXISTS notes(text TEXT, stars INTEGER)"

    def get_upgrade_script(self, version: int) -> str | None:
        if version == 1:
            return "ALTER TABLE notes ADD stars INTEGER; UPDATE notes SET stars = 0"
        return None


def make_version_one(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.executescript("CREATE TABLE notes(text TEXT); INSERT INTO notes VALUES('old');"
                             "CREATE TABLE option(key TEXT PRIMARY KEY, value BLOB);"
                             "INSERT INTO option VALUES('database_version', '1');")
    connection.commit()
    connection.close()


def stored_version(path: Path) -> object:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("SELECT value FROM option WHERE key = 'database_version'").fetchone()[0]
    finally:
        connection.close()


def test_database_path() -> None:
    assert database_path("/node", "notes") == "/node/sqlite/notes.db"
    assert database_path(":memory:", "notes") == ":memory:"


def test_new_file_gets_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "sqlite" / "notes.db"
    database = NotesDB(str(path))
    assert (database.database_version, database.is_open) == (0, False)
    database.open()
    assert database.database_version == 2
    database.execute("INSERT INTO notes VALUES(?, ?)", ("hello", 5))
    database.commit()
    database.close()
    assert stored_version(path) == "2"  # decimal text, as pyipv8 writes it
    database = NotesDB(str(path))
    database.open()
    assert database.execute("SELECT text, stars FROM notes") == [("hello", 5)]
    database.close()
    database.close()  # closing twice is harmless
    with pytest.raises(NotesError, match="not open"):
        database.execute("SELECT 1")


def test_old_version_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    make_version_one(path)
    database = NotesDB(str(path))
    database.open()
    assert database.execute("SELECT text, stars FROM notes") == [("old", 0)]
    database.close()
    assert stored_version(path) == "2"


def test_failed_upgrade_changes_nothing(tmp_path: Path) -> None:
    class BrokenUpgrade(NotesDB):
        def get_upgrade_script(self, version: int) -> str | None:
            return "ALTER TABLE notes ADD stars INTEGER; UPDATE no_such_table SET x = 1"

    path = tmp_path / "notes.db"
    make_version_one(path)
    with pytest.raises(NotesError, match=r"notes.db: cannot bring schema version 1 to 2 .*unchanged"):
        BrokenUpgrade(str(path)).open()
    connection = sqlite3.connect(path)
    assert [row[1] for row in connection.execute("PRAGMA table_info(notes)")] == ["text"]
    connection.close()
    assert stored_version(path) == "1"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty-header", "newer", "unreadable-version"])
def test_unusable_file_gives_one_clear_error(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "notes.db"
    database = NotesDB(str(path))
    database.open()
    database.executemany("INSERT INTO notes VALUES(?, ?)", [(f"note {i}" * 50, i) for i in range(200)])
    database.commit()
    database.close()
    content = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00not sqlite at all" * 500)
    elif damage == "truncated":
        path.write_bytes(content[:len(content) // 3])
    elif damage == "empty-header":
        path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 84)
    else:
        connection = sqlite3.connect(path)
        connection.execute("UPDATE option SET value = ? WHERE key = 'database_version'",
                           ("3" if damage == "newer" else "two",))
        connection.commit()
        connection.close()
    before = path.read_bytes()
    with pytest.raises(NotesError) as raised:
        NotesDB(str(path)).open()
    assert str(path) in str(raised.value)
    assert path.read_bytes() == before  # nothing was written to the bad file


def test_transactions_commit_together_or_not_at_all() -> None:
    database = NotesDB(":memory:")
    database.open()
    with database.transaction():
        database.execute("INSERT INTO notes VALUES('a', 1)")
        with database.transaction():
            database.execute("INSERT INTO notes VALUES('b', 2)")
            assert not database.commit()  # the outermost block commits
    with pytest.raises(RuntimeError), database.transaction():
        database.execute("INSERT INTO notes VALUES('c', 3)")
        raise RuntimeError("abort")
    assert database.execute("SELECT text FROM notes ORDER BY text") == [("a",), ("b",)]
    assert database.execute_lastrowid("INSERT INTO notes VALUES('d', 4)") == 3
    database.close(commit=False)


def test_open_twice_is_refused() -> None:
    database = NotesDB(":memory:")
    database.open()
    with pytest.raises(NotesError, match="already open"):
        database.open()
    database.close()
