"""Crash-safe sqlite storage of TrustChain blocks and fraud proofs.

One table of blocks keyed by ``(public_key, sequence_number)`` (a chain per key), indexed for linked-block
lookups (``link_public_key, link_sequence_number``) and hashes, plus a table of fraud proofs. The schema
carries a version (``PRAGMA user_version``) and an application id, so a file of another program or of a
future schema is refused with a clear :exc:`TrustChainDatabaseError` instead of being damaged.

Durability: the file is in WAL mode and every change is one explicit transaction, so a block and its linked
block (:meth:`TrustChainDB.add_block` with ``linked``) are stored together or not at all, even if the process
is killed in between. ``synchronous=NORMAL`` survives process crashes; pass ``synchronous="FULL"`` to also
survive power loss on every commit.

Lookups at the end of a chain (the latest block, the neighbours of a new block, the blocks pointing at a
recent proposal, "is it stored?", "is this key a known fraudster?") are answered from memory by
:class:`~.chaincache.ChainCache`, which holds complete recent suffixes of the chains in use and is kept
exactly in step with every insert (and forgotten on every rollback, deletion or prune); the answers are the
same objects sqlite would build, as fresh copies.

The calls block (plain :mod:`sqlite3`). They are small indexed lookups; the community must keep it that way on
the reactor thread (bounded crawl ranges, limits on listings) and move whole-database work such as
:meth:`TrustChainDB.get_all_blocks` or a full-chain validation off the reactor (``deferToThread`` with its
own connection) if it needs it.
"""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .block import ANY_COUNTERPARTY_PK, UNKNOWN_SEQ, TrustChainBlock
from .chaincache import ChainCache
from .fraud import FraudProof

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from twisted.internet.interfaces import IReactorTime

SCHEMA_VERSION = 1
#: Written to the sqlite header so that we recognise our own files ("TCdb").
APPLICATION_ID = 0x54436462

_COLUMNS = ("type, tx, public_key, sequence_number, link_public_key, link_sequence_number, previous_hash, "
            "signature, block_timestamp, insert_time, block_hash")
_INSERT_BLOCK = f"INSERT INTO blocks ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    type                 BLOB NOT NULL,
    tx                   BLOB NOT NULL,
    public_key           BLOB NOT NULL,
    sequence_number      INTEGER NOT NULL,
    link_public_key      BLOB NOT NULL,
    link_sequence_number INTEGER NOT NULL,
    previous_hash        BLOB NOT NULL,
    signature            BLOB NOT NULL,
    block_timestamp      INTEGER NOT NULL,
    insert_time          INTEGER,
    block_hash           BLOB NOT NULL UNIQUE,
    PRIMARY KEY (public_key, sequence_number)
);
CREATE INDEX IF NOT EXISTS blocks_link ON blocks (link_public_key, link_sequence_number);
CREATE INDEX IF NOT EXISTS blocks_time ON blocks (block_timestamp);
CREATE TABLE IF NOT EXISTS fraud_proofs (
    public_key  BLOB NOT NULL,
    kind        TEXT NOT NULL,
    proof       BLOB NOT NULL,
    PRIMARY KEY (public_key, proof)
);
"""


class _Sharing:
    """See :meth:`TrustChainDB.sharing` (a class: cheaper than a generator-based context manager)."""

    __slots__ = ("db", "before")

    def __init__(self, db: TrustChainDB) -> None:
        self.db = db
        self.before = False

    def __enter__(self) -> None:
        self.before, self.db._sharing = self.db._sharing, True  # noqa: SLF001

    def __exit__(self, *exc_info: object) -> None:
        self.db._sharing = self.before  # noqa: SLF001


class TrustChainDatabaseError(Exception):
    """The database file cannot be used (corrupt, truncated, foreign or from a newer version)."""


class BlockConflictError(Exception):
    """A different block is already stored under the same public key and sequence number."""

    def __init__(self, stored: TrustChainBlock, offered: TrustChainBlock) -> None:
        super().__init__(f"{offered!r} conflicts with stored {stored!r}")
        self.stored = stored
        self.offered = offered


class TrustChainDB:
    """The local store of blocks (ours and everybody's we learnt of) and of fraud proofs.

    :param path: the database file, or ``":memory:"``.
    :param clock: gives ``insert_time`` (ms) of stored blocks; without one it stays None.
    :param block_classes: the block class per block type (default :class:`TrustChainBlock`).
    """

    def __init__(self, path: str | Path, clock: IReactorTime | None = None,
                 block_classes: Mapping[bytes, type[TrustChainBlock]] | None = None,
                 synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        self.path = str(path)
        self.clock = clock
        self.block_classes = dict(block_classes or {})
        self._batch_open = False
        #: The ends of recently used chains, answered without sqlite (:mod:`.chaincache`).
        self._cache = ChainCache()
        self._sharing = False
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise TrustChainDatabaseError(f"cannot open TrustChain database {self.path}: {exc}") from exc
        try:
            self._open(synchronous)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise TrustChainDatabaseError(f"TrustChain database {self.path} is damaged or not a database: "
                                          f"{exc}") from exc
        except TrustChainDatabaseError:
            self._conn.close()
            raise

    def _open(self, synchronous: str) -> None:
        conn = self._conn
        # Any read of a damaged header fails here, before we write anything.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and app_id != APPLICATION_ID:
            raise TrustChainDatabaseError(f"{self.path} is an sqlite file of another application")
        if version > SCHEMA_VERSION:
            raise TrustChainDatabaseError(f"{self.path} has schema version {version}; this txipv8 knows up to "
                                          f"{SCHEMA_VERSION}")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise TrustChainDatabaseError(f"TrustChain database {self.path} failed its integrity check: {check}")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        if version < SCHEMA_VERSION:
            with self.transaction():
                # One statement at a time: executescript() would commit the open transaction first.
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        """Commit an open batch, checkpoint and close the file."""
        self.commit_batch()
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the body as one write transaction: all of it is stored, or (on any exception) none.

        Inside a batch (:meth:`begin_batch`) the body is a savepoint of the batch: still all or nothing, but
        only durable once the batch is committed.
        """
        if self._batch_open:
            self._conn.execute("SAVEPOINT tc_write")
            try:
                yield self._conn
            except BaseException:
                self._cache.clear()
                self._conn.execute("ROLLBACK TO tc_write")
                self._conn.execute("RELEASE tc_write")
                raise
            self._conn.execute("RELEASE tc_write")
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._cache.clear()
            self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            self._cache.clear()
            raise

    # -- batches ----------------------------------------------------------------------------------------------

    @property
    def in_batch(self) -> bool:
        """Whether writes are being collected in an open batch."""
        return self._batch_open

    def begin_batch(self) -> None:
        """Collect the following writes in one transaction until :meth:`commit_batch` (no-op if one is open).

        A commit costs far more than an insert, so a busy node stores many blocks per commit. Reads through
        this object see the uncommitted blocks; other connections and a crash do not: whoever sends a block
        of its own chain must commit first (the community does).
        """
        if not self._batch_open:
            self._conn.execute("BEGIN IMMEDIATE")
            self._batch_open = True

    def commit_batch(self) -> None:
        """Make the open batch durable (no-op without one)."""
        if self._batch_open:
            self._batch_open = False
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                # Whatever sqlite kept or undid, the cache must not answer for it.
                self._cache.clear()
                raise

    # -- writing ----------------------------------------------------------------------------------------------

    def _insert(self, block: TrustChainBlock) -> bool:
        """Insert inside the current transaction; False if it is already there, conflict if another is."""
        insert_time = round(self.clock.seconds() * 1000) if self.clock is not None else None
        try:
            self._conn.execute(_INSERT_BLOCK,
                               (block.type, block.encoded_transaction, block.public_key, block.sequence_number,
                                block.link_public_key, block.link_sequence_number, block.previous_hash,
                                block.signature, block.timestamp, insert_time, block.hash))
        except sqlite3.IntegrityError:
            # Only the failed statement is undone; the transaction goes on.
            stored = self.get(block.public_key, block.sequence_number) or self.get_block_with_hash(block.hash)
            if stored is not None and stored.hash == block.hash:
                return False
            raise BlockConflictError(stored, block) from None
        block.insert_time = insert_time
        sharing, self._sharing = self._sharing, False
        self._cache.added(self._copy(block))
        self._sharing = sharing
        return True

    def add_block(self, block: TrustChainBlock, linked: TrustChainBlock | None = None) -> int:
        """Store ``block`` (and ``linked``, its counterpart, in the same transaction).

        Blocks already stored are skipped. Validation is the caller's job.

        :returns: how many blocks were new.
        :raises BlockConflictError: if a different block holds the same place; nothing is stored then.
        """
        if linked is None and self._batch_open:
            # One statement is atomic on its own: no savepoint needed inside a batch.
            return int(self._insert(block))
        with self.transaction():
            added = self._insert(block)
            if linked is not None:
                added += self._insert(linked)
        return int(added)

    def add_blocks(self, blocks: list[TrustChainBlock]) -> int:
        """Store several blocks in one transaction (all or none); returns how many were new."""
        with self.transaction():
            return sum(self._insert(block) for block in blocks)

    def remove_block(self, block: TrustChainBlock) -> None:
        """Delete ``block`` (matched by hash) if stored."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM blocks WHERE block_hash = ?", (block.hash,))
            self._cache.clear()

    def prune(self, max_db_blocks: int, keep_public_key: bytes | None = None) -> int:
        """Delete the blocks stored first until at most ``max_db_blocks`` remain.

        Blocks in ``keep_public_key``'s chain or linked to it are never deleted (the limit may then be
        exceeded). Insertion order is used, not block timestamps: those are chosen by the signer, who could
        date blocks in the future to make them stick.

        :returns: the number of deleted blocks.
        """
        excess = self.get_number_of_known_blocks() - max_db_blocks
        if excess <= 0:
            return 0
        keep = keep_public_key or b""
        self._cache.clear()
        with self.transaction() as conn:
            cursor = conn.execute("DELETE FROM blocks WHERE rowid IN (SELECT rowid FROM blocks WHERE "
                                  "public_key != ? AND link_public_key != ? ORDER BY rowid LIMIT ?)",
                                  (keep, keep, excess))
            return cursor.rowcount

    def add_fraud_proof(self, proof: FraudProof) -> bool:
        """Store a *verified* fraud proof; returns whether it was new.

        :raises ValueError: if ``proof`` does not verify.
        """
        if not proof.verify():
            raise ValueError("refusing to store a fraud proof that does not verify")
        with self.transaction() as conn:
            cursor = conn.execute("INSERT OR IGNORE INTO fraud_proofs (public_key, kind, proof) VALUES (?, ?, ?)",
                                  (proof.offender, proof.kind, proof.to_bytes()))
        self._cache.set_fraud(proof.offender, True)
        return cursor.rowcount == 1

    # -- reading ----------------------------------------------------------------------------------------------

    def _block(self, row: tuple) -> TrustChainBlock:
        # Rows were checked when they were stored: skip the field checks and reuse the stored hash.
        return self.block_classes.get(row[0], TrustChainBlock).from_row(row)

    def sharing(self) -> _Sharing:
        """A context in which answers from memory are the cached objects themselves, not copies: for callers
        that only read them (the community's own validation and block creation, a few lookups per block)."""
        return _Sharing(self)

    def _copy(self, block: TrustChainBlock | None) -> TrustChainBlock | None:
        """A fresh object equal to what sqlite would return for the stored ``block``."""
        if block is None or self._sharing:
            return block
        return self.block_classes.get(block.type, TrustChainBlock).from_row(
            (block.type, block.encoded_transaction, block.public_key, block.sequence_number, block.link_public_key,
             block.link_sequence_number, block.previous_hash, block.signature, block.timestamp, block.insert_time,
             block.hash))

    def _chain(self, public_key: bytes) -> Any:
        """The cached end of ``public_key``'s chain, read from sqlite (three indexed lookups) if needed."""
        state = self._cache._chains.get(public_key)  # noqa: SLF001 - the hottest line of a pair
        if state is None:
            tip = self._one("WHERE public_key = ? ORDER BY sequence_number DESC", (public_key,))
            top_link = self._conn.execute("SELECT max(link_sequence_number) FROM blocks WHERE link_public_key = ?",
                                          (public_key,)).fetchone()[0]
            has_zero = tip is not None and self._conn.execute(
                "SELECT 1 FROM blocks WHERE public_key = ? AND sequence_number = 0",
                (public_key,)).fetchone() is not None
            state = self._cache.load(public_key, tip, top_link, has_zero)
        return state

    def _one(self, where: str, params: tuple) -> TrustChainBlock | None:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM blocks {where} LIMIT 1", params).fetchone()
        return None if row is None else self._block(row)

    def _all(self, where: str, params: tuple) -> list[TrustChainBlock]:
        return [self._block(row) for row in self._conn.execute(f"SELECT {_COLUMNS} FROM blocks {where}", params)]

    def get(self, public_key: bytes, sequence_number: int) -> TrustChainBlock | None:
        """The block at ``sequence_number`` of ``public_key``'s chain."""
        state = self._cache.chain(public_key)
        if state is not None:
            known, block = self._cache.get(state, sequence_number)
            if known:
                return self._copy(block)
        return self._one("WHERE public_key = ? AND sequence_number = ?", (public_key, sequence_number))

    def get_block_with_hash(self, block_hash: bytes) -> TrustChainBlock | None:
        """The block with this hash."""
        return self._one("WHERE block_hash = ?", (block_hash,))

    def contains(self, block: TrustChainBlock) -> bool:
        """Whether exactly this block is stored."""
        known, stored = self._cache.get(self._chain(block.public_key), block.sequence_number)
        if known:
            return stored is not None and stored.hash == block.hash
        return self._conn.execute("SELECT 1 FROM blocks WHERE block_hash = ?", (block.hash,)).fetchone() is not None

    def get_latest(self, public_key: bytes, block_type: bytes | None = None) -> TrustChainBlock | None:
        """The highest-numbered stored block of the chain (of that type)."""
        if block_type is None:
            return self._copy(self._chain(public_key).tip)
        return self._one("WHERE public_key = ? AND type = ? ORDER BY sequence_number DESC", (public_key, block_type))

    def get_latest_blocks(self, public_key: bytes, limit: int = 25,
                          block_types: list[bytes] | None = None) -> list[TrustChainBlock]:
        """Up to ``limit`` highest-numbered blocks of the chain, newest first."""
        if block_types:
            marks = ", ".join("?" * len(block_types))
            return self._all(f"WHERE public_key = ? AND type IN ({marks}) ORDER BY sequence_number DESC LIMIT ?",
                             (public_key, *block_types, limit))
        return self._all("WHERE public_key = ? ORDER BY sequence_number DESC LIMIT ?", (public_key, limit))

    def get_block_after(self, block: TrustChainBlock, block_type: bytes | None = None) -> TrustChainBlock | None:
        """The nearest stored block above ``block`` in its chain."""
        if block_type is None:
            return self._one("WHERE public_key = ? AND sequence_number > ? ORDER BY sequence_number ASC",
                             (block.public_key, block.sequence_number))
        return self._one("WHERE public_key = ? AND sequence_number > ? AND type = ? ORDER BY sequence_number ASC",
                         (block.public_key, block.sequence_number, block_type))

    def get_block_before(self, block: TrustChainBlock, block_type: bytes | None = None) -> TrustChainBlock | None:
        """The nearest stored block below ``block`` in its chain."""
        if block_type is None:
            return self._one("WHERE public_key = ? AND sequence_number < ? ORDER BY sequence_number DESC",
                             (block.public_key, block.sequence_number))
        return self._one("WHERE public_key = ? AND sequence_number < ? AND type = ? ORDER BY sequence_number DESC",
                         (block.public_key, block.sequence_number, block_type))

    def get_neighbours(self, block: TrustChainBlock) -> tuple[TrustChainBlock | None, TrustChainBlock | None,
                                                              TrustChainBlock | None]:
        """``(block before, block at the same place, block after)`` in ``block``'s chain, in one query
        (validation needs all three)."""
        key, seq = block.public_key, block.sequence_number
        cached = self._cache.neighbours(self._chain(key), seq)
        if cached is not None:
            return self._copy(cached[0]), self._copy(cached[1]), self._copy(cached[2])
        rows = self._conn.execute(
            f"SELECT * FROM (SELECT {_COLUMNS} FROM blocks WHERE public_key = ? AND sequence_number < ? "
            f"ORDER BY sequence_number DESC LIMIT 1) UNION ALL "
            f"SELECT {_COLUMNS} FROM blocks WHERE public_key = ? AND sequence_number = ? UNION ALL "
            f"SELECT * FROM (SELECT {_COLUMNS} FROM blocks WHERE public_key = ? AND sequence_number > ? "
            f"ORDER BY sequence_number ASC LIMIT 1)", (key, seq, key, seq, key, seq)).fetchall()
        found: list[TrustChainBlock | None] = [None, None, None]
        for row in rows:
            found[(row[3] > seq) - (row[3] < seq) + 1] = self._block(row)
        return found[0], found[1], found[2]

    def get_linked(self, block: TrustChainBlock) -> TrustChainBlock | None:
        """The counterpart of ``block``: the proposal an agreement points at, or the (earliest stored)
        agreement pointing at a proposal."""
        linked = self.get_all_linked(block)
        return linked[0] if linked else None

    def get_all_linked(self, block: TrustChainBlock) -> list[TrustChainBlock]:
        """Every stored block that ``block`` points at or that points at ``block``, earliest stored first."""
        cache = self._cache
        known, target = cache.get(self._chain(block.link_public_key), block.link_sequence_number)
        pointing = cache.pointing_at(self._chain(block.public_key), block.sequence_number) if known else None
        if pointing is not None:
            if not pointing:
                return [] if target is None else [self._copy(target)]
            if target is not None and all(other.hash != target.hash for other in pointing):
                pointing.append(target)
                pointing.sort(key=cache.order)
            return pointing if self._sharing else [self._copy(other) for other in pointing]
        return self._all("WHERE (public_key = ? AND sequence_number = ?) OR "
                         "(link_public_key = ? AND link_sequence_number = ?) ORDER BY rowid",
                         (block.link_public_key, block.link_sequence_number, block.public_key,
                          block.sequence_number))

    def get_blocks_with_type(self, block_type: bytes, public_key: bytes | None = None,
                             limit: int = 1000) -> list[TrustChainBlock]:
        """Blocks of one type (of one chain), at most ``limit``."""
        if public_key is None:
            return self._all("WHERE type = ? ORDER BY rowid LIMIT ?", (block_type, limit))
        return self._all("WHERE type = ? AND public_key = ? ORDER BY sequence_number LIMIT ?",
                         (block_type, public_key, limit))

    def get_all_blocks(self) -> list[TrustChainBlock]:
        """Every block (heavy: not on the reactor for big databases)."""
        return self._all("ORDER BY rowid", ())

    def get_number_of_known_blocks(self, public_key: bytes | None = None) -> int:
        """How many blocks are stored (of one chain)."""
        if public_key is None:
            return self._conn.execute("SELECT count(*) FROM blocks").fetchone()[0]
        return self._conn.execute("SELECT count(*) FROM blocks WHERE public_key = ?", (public_key,)).fetchone()[0]

    def get_range(self, public_key: bytes, start_seq: int, end_seq: int, limit: int = 100) -> list[TrustChainBlock]:
        """The chain's blocks with ``start_seq <= sequence number <= end_seq``, ascending, at most ``limit``."""
        return self._all("WHERE public_key = ? AND sequence_number BETWEEN ? AND ? ORDER BY sequence_number LIMIT ?",
                         (public_key, start_seq, end_seq, limit))

    def crawl(self, public_key: bytes, start_seq_num: int, end_seq_num: int, limit: int = 100) -> list[TrustChainBlock]:
        """What a crawl of that range returns: the chain's blocks in the range plus the agreements other keys
        signed to proposals in the range (each part at most ``limit``)."""
        own = self.get_range(public_key, start_seq_num, end_seq_num, limit)
        linked = self._all("WHERE link_public_key = ? AND link_sequence_number BETWEEN ? AND ? AND "
                           "link_sequence_number != ? ORDER BY link_sequence_number LIMIT ?",
                           (public_key, start_seq_num, end_seq_num, UNKNOWN_SEQ, limit))
        seen = {block.hash for block in own}
        return own + [block for block in linked if block.hash not in seen]

    def get_lowest_sequence_number_unknown(self, public_key: bytes) -> int:
        """The first sequence number missing from the chain (1 for an unknown key)."""
        if self.get(public_key, 1) is None:
            return 1
        row = self._conn.execute(
            "SELECT b1.sequence_number FROM blocks b1 WHERE b1.public_key = ? AND NOT EXISTS (SELECT 1 FROM blocks b2 "
            "WHERE b2.public_key = b1.public_key AND b2.sequence_number = b1.sequence_number + 1) "
            "ORDER BY b1.sequence_number LIMIT 1", (public_key,)).fetchone()
        return row[0] + 1

    def get_lowest_range_unknown(self, public_key: bytes) -> tuple[int, int]:
        """The first gap ``(first missing, last missing)``; the end is 0 if nothing is known above it."""
        first = self.get_lowest_sequence_number_unknown(public_key)
        row = self._conn.execute("SELECT min(sequence_number) FROM blocks WHERE public_key = ? AND "
                                 "sequence_number > ?", (public_key, first)).fetchone()
        return first, (row[0] - 1 if row[0] is not None else 0)

    def get_recent_blocks(self, limit: int = 10, offset: int = 0) -> list[TrustChainBlock]:
        """The most recently *created* blocks (by their timestamp)."""
        return self._all("ORDER BY block_timestamp DESC LIMIT ? OFFSET ?", (limit, offset))

    def get_users(self, limit: int = 100) -> list[dict[str, Any]]:
        """Keys with a chain, longest first: ``{"public_key": hex, "latest_block": seq}``."""
        rows = self._conn.execute("SELECT public_key, max(sequence_number) AS top FROM blocks GROUP BY public_key "
                                  "ORDER BY top DESC LIMIT ?", (limit,))
        return [{"public_key": key.hex(), "latest_block": top} for key, top in rows]

    def get_connected_users(self, public_key: bytes, limit: int = 100) -> list[dict[str, Any]]:
        """Keys that interacted with ``public_key`` (either direction), most active chains first."""
        rows = self._conn.execute(
            "SELECT pk, max(top) AS top FROM ("
            "SELECT public_key AS pk, max(sequence_number) AS top FROM blocks WHERE link_public_key = ? GROUP BY pk "
            "UNION ALL SELECT link_public_key AS pk, max(sequence_number) AS top FROM blocks WHERE public_key = ? "
            "AND link_public_key != ? GROUP BY pk) GROUP BY pk ORDER BY top DESC LIMIT ?",
            (public_key, public_key, ANY_COUNTERPARTY_PK, limit))
        return [{"public_key": key.hex(), "latest_block": top} for key, top in rows]

    def get_validation_context(self, blocks: list[TrustChainBlock],
                               max_rows: int = 10_000) -> list[TrustChainBlock] | None:
        """The stored blocks that validating ``blocks`` reads, earliest stored first, in a few range queries.

        Per chain in ``blocks``: its stored blocks in their sequence-number span, the nearest block on either
        side, and the blocks pointing into the span; per agreement in ``blocks``: the block it points at and
        the blocks pointing at that one. A :class:`~.memory.MemoryChainStore` of these answers validation's
        questions about ``blocks`` as this database does. None if a span is much wider than the batch or more
        than ``max_rows`` rows would be read: validate those block by block.
        """
        spans: dict[bytes, list[int]] = {}
        targets: set[tuple[bytes, int]] = set()
        for block in blocks:
            span = spans.setdefault(block.public_key, [block.sequence_number, block.sequence_number])
            span[0] = min(span[0], block.sequence_number)
            span[1] = max(span[1], block.sequence_number)
            if block.link_sequence_number != UNKNOWN_SEQ:
                targets.add((block.link_public_key, block.link_sequence_number))
        if any(high - low > 4 * len(blocks) + 8 for low, high in spans.values()):
            return None
        rows: dict[int, tuple] = {}
        queries: list[tuple[str, tuple]] = []
        for key, (low, high) in spans.items():
            queries += [("WHERE public_key = ? AND sequence_number BETWEEN ? AND ?", (key, low, high)),
                        ("WHERE public_key = ? AND sequence_number < ? ORDER BY sequence_number DESC", (key, low)),
                        ("WHERE public_key = ? AND sequence_number > ? ORDER BY sequence_number ASC", (key, high)),
                        ("WHERE link_public_key = ? AND link_sequence_number BETWEEN ? AND ?", (key, low, high))]
        for key, number in targets:
            queries += [("WHERE public_key = ? AND sequence_number = ?", (key, number)),
                        ("WHERE link_public_key = ? AND link_sequence_number = ?", (key, number))]
        for where, params in queries:
            # The nearest-neighbour queries need one row; the others are capped by what is left.
            limit = 1 if "ORDER BY" in where else max_rows + 1 - len(rows)
            for row in self._conn.execute(f"SELECT rowid, {_COLUMNS} FROM blocks {where} LIMIT ?", (*params, limit)):
                rows[row[0]] = row[1:]
            if len(rows) > max_rows:
                return None
        return [self._block(rows[rowid]) for rowid in sorted(rows)]

    def get_interactions(self, public_key: bytes, limit: int = 1000) -> list[tuple[bytes, int]]:
        """``(other key, countersigned pairs)`` for the keys ``public_key`` completed pairs with, most first.

        A pair counts only if both halves are stored and agree: an agreement and the proposal it points at,
        addressed to the agreeing key (or to anybody). Neither side can invent an interaction alone, so
        :mod:`.reputation` can trust these edges. At most ``limit`` keys per direction (indexed lookups).
        """
        agreed_by_others = self._conn.execute(
            "SELECT a.public_key, count(*) AS n FROM blocks a JOIN blocks p ON p.public_key = a.link_public_key "
            "AND p.sequence_number = a.link_sequence_number WHERE a.link_public_key = ? AND "
            "a.link_sequence_number != ? AND a.public_key != ? AND p.link_public_key IN (a.public_key, ?) "
            "GROUP BY a.public_key ORDER BY n DESC LIMIT ?",
            (public_key, UNKNOWN_SEQ, public_key, ANY_COUNTERPARTY_PK, limit)).fetchall()
        agreed_by_us = self._conn.execute(
            "SELECT a.link_public_key, count(*) AS n FROM blocks a JOIN blocks p ON p.public_key = a.link_public_key "
            "AND p.sequence_number = a.link_sequence_number WHERE a.public_key = ? AND a.link_sequence_number != ? "
            "AND a.link_public_key NOT IN (?, ?) AND p.link_public_key IN (?, ?) "
            "GROUP BY a.link_public_key ORDER BY n DESC LIMIT ?",
            (public_key, UNKNOWN_SEQ, public_key, ANY_COUNTERPARTY_PK, public_key, ANY_COUNTERPARTY_PK,
             limit)).fetchall()
        counts: dict[bytes, int] = {}
        for other, number in agreed_by_others + agreed_by_us:
            counts[other] = counts.get(other, 0) + number
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    def get_fraudsters(self, public_keys: list[bytes]) -> set[bytes]:
        """Those of ``public_keys`` against which a fraud proof is stored."""
        found: set[bytes] = set()
        for start in range(0, len(public_keys), 500):
            chunk = public_keys[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(row[0] for row in self._conn.execute(
                f"SELECT DISTINCT public_key FROM fraud_proofs WHERE public_key IN ({marks})", chunk))
        return found

    def get_fraud_proofs(self, public_key: bytes | None = None) -> list[FraudProof]:
        """Stored fraud proofs (against one key)."""
        if public_key is None:
            rows = self._conn.execute("SELECT proof FROM fraud_proofs ORDER BY rowid")
        else:
            rows = self._conn.execute("SELECT proof FROM fraud_proofs WHERE public_key = ? ORDER BY rowid",
                                      (public_key,))
        return [FraudProof.from_bytes(row[0]) for row in rows]

    def did_double_spend(self, public_key: bytes) -> bool:
        """Whether a fraud proof against ``public_key`` is stored."""
        found = self._cache.fraud(public_key)
        if found is None:
            found = self._conn.execute("SELECT 1 FROM fraud_proofs WHERE public_key = ? LIMIT 1",
                                       (public_key,)).fetchone() is not None
            self._cache.set_fraud(public_key, found)
        return found
