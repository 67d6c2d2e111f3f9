"""The TrustChain sqlite store: round trips, lookups, pruning, atomic pairs, damaged files."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from ipv8.attestation.trustchain.block import TrustChainBlock
from ipv8.attestation.trustchain.database import (SCHEMA_VERSION, BlockConflictError, TrustChainDatabaseError,
                                                  TrustChainDB)
from ipv8.keyvault.crypto import default_eccrypto

KEYS = [default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + bytes([seed]) * 32 + bytes([seed + 1]) * 32)
        for seed in (21, 23, 25)]
ALICE, BOB, CAROL = KEYS
PK = {key: key.pub().key_to_bin() for key in KEYS}


def pair(db: TrustChainDB, proposer, counterparty, tx: dict, timestamp: int) -> tuple:  # noqa: ANN001
    proposal = TrustChainBlock.create(b"test", tx, db, PK[proposer], link_pk=PK[counterparty], timestamp=timestamp)
    proposal.sign(proposer)
    agreement = TrustChainBlock.create(b"test", None, db, PK[counterparty], link=proposal, timestamp=timestamp + 1)
    agreement.sign(counterparty)
    return proposal, agreement


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "trustchain.db"


def test_round_trip_and_lookups(path: Path) -> None:
    clock = Clock()
    clock.advance(42)
    db = TrustChainDB(path, clock=clock)
    pairs = []
    for index in range(5):
        pairs.append(pair(db, ALICE, BOB, {b"i": index, b"nested": [{b"x": b"\xff"}, (1,)]}, 1000 + 10 * index))
        assert db.add_block(*pairs[-1]) == 2
    assert db.add_block(*pairs[0]) == 0  # already stored: a no-op
    db.close()

    db = TrustChainDB(path)
    proposal, agreement = pairs[2]
    stored = db.get(PK[ALICE], 3)
    assert stored == proposal and stored.pack() == proposal.pack() and stored.transaction == proposal.transaction
    assert stored.insert_time == 42000
    assert db.get_block_with_hash(agreement.hash) == agreement
    assert db.get_linked(proposal) == agreement and db.get_linked(agreement) == proposal
    assert db.get_latest(PK[ALICE]).sequence_number == 5
    assert db.get_latest(PK[CAROL]) is None
    assert [b.sequence_number for b in db.get_latest_blocks(PK[BOB], limit=2)] == [5, 4]
    assert db.get_block_before(proposal).sequence_number == 2 and db.get_block_after(proposal).sequence_number == 4
    assert [b.sequence_number for b in db.get_range(PK[ALICE], 2, 4)] == [2, 3, 4]
    assert [b.sequence_number for b in db.get_range(PK[ALICE], 1, 10 ** 6, limit=2)] == [1, 2]
    crawled = db.crawl(PK[ALICE], 2, 3)
    assert {b.hash for b in crawled} == {pairs[1][0].hash, pairs[2][0].hash, pairs[1][1].hash, pairs[2][1].hash}
    assert db.get_number_of_known_blocks() == 10 and db.get_number_of_known_blocks(PK[BOB]) == 5
    assert db.contains(proposal)
    assert [user["latest_block"] for user in db.get_users()] == [5, 5]
    assert {user["public_key"] for user in db.get_connected_users(PK[ALICE])} == {PK[BOB].hex()}
    assert db.get_recent_blocks(limit=1)[0] == pairs[-1][1]
    assert all(block.validate(db).acceptable for block in db.get_all_blocks())
    db.close()


def test_gaps(path: Path) -> None:
    db = TrustChainDB(path)
    blocks = []
    for i in range(6):
        block = pair(db, ALICE, BOB, {b"i": i}, i)[0]
        db.add_block(block)
        blocks.append(block)
    db.remove_block(blocks[2])
    db.remove_block(blocks[3])
    assert db.get_lowest_sequence_number_unknown(PK[ALICE]) == 3
    assert db.get_lowest_range_unknown(PK[ALICE]) == (3, 4)
    assert db.get_lowest_sequence_number_unknown(PK[CAROL]) == 1
    db.close()


def test_conflict_is_refused_and_nothing_stored(path: Path) -> None:
    db = TrustChainDB(path)
    proposal, agreement = pair(db, ALICE, BOB, {b"a": 1}, 1)
    db.add_block(proposal)
    other = TrustChainBlock.create(b"test", {b"a": 2}, TrustChainDB(":memory:"), PK[ALICE], timestamp=1)
    other.sign(ALICE)
    with pytest.raises(BlockConflictError):
        db.add_block(agreement, other)  # the conflict comes second: the agreement must not stay either
    assert not db.contains(agreement) and db.get(PK[ALICE], 1) == proposal
    db.close()


def test_pair_is_atomic_when_the_second_insert_fails(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure between the block and its link (a crash, a full disk) leaves neither in the file."""
    db = TrustChainDB(path)
    proposal, agreement = pair(db, ALICE, BOB, {b"a": 1}, 1)
    real_insert = db._insert
    calls = []

    def failing_insert(block: TrustChainBlock) -> bool:
        calls.append(block)
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return real_insert(block)

    monkeypatch.setattr(db, "_insert", failing_insert)
    with pytest.raises(sqlite3.OperationalError):
        db.add_block(proposal, agreement)
    db.close()
    reopened = TrustChainDB(path)
    assert reopened.get_number_of_known_blocks() == 0
    monkeypatch.undo()
    reopened.add_block(proposal, agreement)
    assert reopened.get_number_of_known_blocks() == 2
    reopened.close()


def test_uncommitted_pair_is_lost_as_a_whole(path: Path) -> None:
    """A process that dies inside the transaction (connection dropped uncommitted) leaves no half pair."""
    db = TrustChainDB(path)
    proposal, _ = pair(db, ALICE, BOB, {b"a": 1}, 1)
    db._conn.execute("BEGIN IMMEDIATE")
    db._insert(proposal)
    db._conn.close()  # no COMMIT: what a SIGKILL right after the first insert leaves behind
    reopened = TrustChainDB(path)
    assert reopened.get_number_of_known_blocks() == 0
    reopened.close()


def test_prune_keeps_own_chain_and_newest(path: Path) -> None:
    db = TrustChainDB(path)
    mine, others = [], []
    for i in range(3):
        mine.append(pair(db, ALICE, BOB, {b"i": i}, i))
        db.add_block(*mine[-1])
    for i in range(5):
        # Timestamps far in the future must not protect blocks from pruning.
        others.append(pair(db, BOB, CAROL, {b"i": i}, 10 ** 15 - i))
        db.add_block(*others[-1])
    assert db.get_number_of_known_blocks() == 16
    assert db.prune(10, keep_public_key=PK[ALICE]) == 6
    assert db.get_number_of_known_blocks() == 10
    assert all(db.contains(block) for blocks in mine for block in blocks)
    # The oldest stored foreign blocks went first.
    assert not db.contains(others[0][0]) and db.contains(others[-1][1])
    assert db.prune(10) == 0
    db.close()


def test_corrupt_and_truncated_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(TrustChainDatabaseError, match="damaged or not a database"):
        TrustChainDB(garbage)

    good = tmp_path / "good.db"
    db = TrustChainDB(good)
    for i in range(40):
        db.add_block(*pair(db, ALICE, BOB, {b"pad": b"x" * 500, b"i": i}, i))
    db._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = good.read_bytes()
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(TrustChainDatabaseError):
        TrustChainDB(truncated).get_all_blocks()

    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE x (y)")
    conn.commit()
    conn.close()
    with pytest.raises(TrustChainDatabaseError, match="another application"):
        TrustChainDB(foreign)

    future = tmp_path / "future.db"
    TrustChainDB(future).close()
    conn = sqlite3.connect(future)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(TrustChainDatabaseError, match="schema version"):
        TrustChainDB(future)


def test_reopen_keeps_schema_and_wal(path: Path) -> None:
    TrustChainDB(path).close()
    db = TrustChainDB(path)
    assert db._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
