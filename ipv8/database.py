"""A small sqlite base class with a versioned schema, shared by txipv8's databases.

The file layout matches pyipv8 3.2.1's ``ipv8/database.py``: a database file lives at
``<working directory>/sqlite/<name>.db`` (see :func:`database_path`; ``":memory:"`` keeps nothing on disk) and
records its schema version in a table ``option(key TEXT PRIMARY KEY, value BLOB)`` under the key
``database_version``, written as decimal text. A subclass describes its schema:

* :meth:`Database.get_schema` - the statements that create the latest schema (``CREATE ... IF NOT EXISTS``);
* :meth:`Database.get_upgrade_script` - the statements that take the file from one version to the next;
* :attr:`Database.LATEST_DB_VERSION` - the version :meth:`~Database.get_schema` creates.

Opening (:meth:`Database.open`) checks the file before it writes anything: a file that is not an sqlite
database, is truncated or damaged, has an unreadable version, or a version newer than the code, raises one
:class:`DatabaseError` (or the subclass's :attr:`~Database.error_class`) naming the file. A missing file is
created; an old version is upgraded in one transaction.

Writes are pending until :meth:`Database.commit`; :meth:`Database.transaction` groups writes that must be
stored together (rolled back if the block raises). The calls block: they are meant for small indexed
reads and writes on the reactor thread, not for whole-table work.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

__all__ = ["DATABASE_DIRECTORY", "Database", "DatabaseError", "database_path"]

#: The folder, under a node's working directory, that holds the database files.
DATABASE_DIRECTORY = "sqlite"
#: The ``option`` table's key that holds the schema version.
VERSION_KEY = "database_version"

Row = tuple[Any, ...]


class DatabaseError(Exception):
    """A database file cannot be used: damaged, truncated, not sqlite, from a newer version, or closed."""


def database_path(working_directory: str, name: str) -> str:
    """Where the database ``name`` of a node with this working directory lives (``":memory:"`` stays so)."""
    if working_directory == ":memory:":
        return ":memory:"
    return os.path.join(working_directory, DATABASE_DIRECTORY, f"{name}.db")


class Database:
    """An sqlite file with a versioned schema; subclasses give the schema and its upgrades.

    :param file_path: the database file (its folder is created when needed), or ``":memory:"``.
    """

    #: The schema version :meth:`get_schema` creates; files of a higher version are refused.
    LATEST_DB_VERSION: ClassVar[int] = 1
    #: The exception raised for unusable files (a subclass of :class:`DatabaseError`).
    error_class: ClassVar[type[DatabaseError]] = DatabaseError
    #: Whether :meth:`open` runs sqlite's ``quick_check`` (reads the whole file: keep for small databases).
    check_integrity: ClassVar[bool] = True

    def __init__(self, file_path: str) -> None:
        self._file_path = str(file_path)
        self._connection: sqlite3.Connection | None = None
        self._database_version = 0
        self._transaction_depth = 0
        # The connection may be shared with a thread (check_same_thread=False): one statement at a time.
        self._lock = threading.RLock()
        self.logger = logging.getLogger(self.__class__.__name__)

    # What a subclass provides ------------------------------------------------------------------------------

    def get_schema(self) -> str:
        """The SQL that creates the tables of version :attr:`LATEST_DB_VERSION` (must be idempotent)."""
        return ""

    def get_upgrade_script(self, version: int) -> str | None:
        """The SQL that turns a file of ``version`` into one of ``version + 1`` (None: nothing to change)."""
        return None

    # Properties -----------------------------------------------------------------------------------------

    @property
    def file_path(self) -> str:
        """The database file, or ``":memory:"``."""
        return self._file_path

    @property
    def database_version(self) -> int:
        """The schema version of the open file (0 before :meth:`open`)."""
        return self._database_version

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` succeeded and :meth:`close` was not called since."""
        return self._connection is not None

    def _error(self, problem: str) -> DatabaseError:
        return self.error_class(f"database {self._file_path}: {problem}")

    @property
    def connection(self) -> sqlite3.Connection:
        """The open sqlite connection; :class:`DatabaseError` when closed."""
        if self._connection is None:
            raise self._error("not open")
        return self._connection

    # Opening and closing ------------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect, check the file, and create or upgrade the schema; :class:`DatabaseError` if unusable."""
        if self._connection is not None:
            raise self._error("already open")
        in_memory = self._file_path == ":memory:"
        if not in_memory:
            folder = os.path.dirname(self._file_path)
            if folder:
                os.makedirs(folder, exist_ok=True)
        try:
            self._connection = sqlite3.connect(self._file_path, check_same_thread=False)
            self._prepare(in_memory)
        except (sqlite3.DatabaseError, DatabaseError) as exc:
            self._abandon()
            if isinstance(exc, DatabaseError):
                raise
            raise self._error(f"damaged, truncated or not an sqlite database ({exc})") from exc
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None

    def _prepare(self, in_memory: bool) -> None:
        connection = self.connection
        # The first read of the header fails on a file that is not sqlite; quick_check finds damaged pages
        # (a truncated file) before anything is written to it.
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if self.check_integrity:
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise self._error(f"damaged ({'; '.join(map(str, problems[:3]))})")
        version = self.read_version()
        if version > self.LATEST_DB_VERSION:
            raise self._error(f"schema version {version} is newer than this code knows "
                              f"({self.LATEST_DB_VERSION})")
        if not in_memory:
            # Durable against a crash of the process at any moment, without an fsync per commit.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.transaction():
                if version:
                    for old in range(version, self.LATEST_DB_VERSION):
                        script = self.get_upgrade_script(old)
                        if script:
                            self._run_script(script)
                self._run_script(self.get_schema())
                self._run_script("CREATE TABLE IF NOT EXISTS option(key TEXT PRIMARY KEY, value BLOB);")
                self.write_version(self.LATEST_DB_VERSION)
        except sqlite3.OperationalError as exc:
            raise self._error(f"cannot bring schema version {version} to {self.LATEST_DB_VERSION} ({exc}); "
                              "the file is unchanged") from exc
        self._database_version = self.LATEST_DB_VERSION

    def _run_script(self, script: str) -> None:
        # One statement at a time: executescript() would commit the transaction we are in.
        for statement in script.split(";"):
            if statement.strip():
                self.connection.execute(statement)

    def read_version(self) -> int:
        """The version the file records; 0 for a new file. :class:`DatabaseError` if unreadable."""
        connection = self.connection
        if connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'option'"
                              ).fetchone()[0] == 0:
            return 0
        row = connection.execute("SELECT value FROM option WHERE key = ?", (VERSION_KEY,)).fetchone()
        if row is None:
            return 0
        value = row[0]
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
        if not text.isdigit():
            raise self._error(f"unreadable schema version {text[:20]!r}")
        return int(text)

    def write_version(self, version: int) -> None:
        """Record ``version`` in the ``option`` table (as decimal text, the way pyipv8 writes it)."""
        self.connection.execute("INSERT OR REPLACE INTO option(key, value) VALUES(?, ?)", (VERSION_KEY, str(version)))

    def close(self, commit: bool = True) -> None:
        """Commit (unless ``commit`` is False) and close; further calls raise :class:`DatabaseError`."""
        with self._lock:
            if self._connection is None:
                return
            try:
                if commit:
                    self._connection.commit()
                else:
                    self._connection.rollback()
            finally:
                self._abandon()

    # Statements -------------------------------------------------------------------------------------------

    def execute(self, statement: str, bindings: Sequence[Any] | dict[str, Any] = ()) -> list[Row]:
        """Run one statement; its rows (empty for writes, which stay pending until :meth:`commit`)."""
        with self._lock:
            return self.connection.execute(statement, bindings).fetchall()

    def execute_lastrowid(self, statement: str, bindings: Sequence[Any] | dict[str, Any] = ()) -> int | None:
        """Run one insert; the rowid it made."""
        with self._lock:
            return self.connection.execute(statement, bindings).lastrowid

    def executemany(self, statement: str, sequence_of_bindings: Iterable[Sequence[Any] | dict[str, Any]]) -> int:
        """Run one statement for every set of bindings; how many rows it changed."""
        with self._lock:
            return self.connection.executemany(statement, sequence_of_bindings).rowcount

    def executescript(self, script: str) -> None:
        """Run several statements separated by ``;`` (in the current transaction, if any)."""
        with self._lock:
            self._run_script(script)

    def commit(self) -> bool:
        """Store the pending writes; inside :meth:`transaction` the outermost block commits (returns False)."""
        with self._lock:
            if self._transaction_depth:
                return False
            self.connection.commit()
            return True

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """All writes of the block are stored together at its end, or none if it raises.

        Blocks may nest: the outermost one commits, and an exception rolls everything back when it leaves
        the outermost block.
        """
        with self._lock:
            if not self._transaction_depth and not self.connection.in_transaction:
                # Explicitly: sqlite3 would otherwise run schema statements (CREATE, ALTER) outside it.
                self.connection.execute("BEGIN")
            self._transaction_depth += 1
            try:
                yield self
            except BaseException:
                self._transaction_depth -= 1
                if not self._transaction_depth and self._connection is not None:
                    self._connection.rollback()
                raise
            self._transaction_depth -= 1
            if not self._transaction_depth:
                self.connection.commit()
