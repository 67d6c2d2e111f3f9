"""The database's in-memory chain ends (:mod:`~ipv8.attestation.trustchain.chaincache`) answer exactly as sqlite
does, and message 1 is read and written without the generic serializer with identical bytes and blocks."""
from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from ipv8.attestation.trustchain import chaincache
from ipv8.attestation.trustchain.block import GENESIS_HASH, FraudProof, TrustChainBlock
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.encoding import encode
from ipv8.attestation.trustchain.memory import MemoryChainStore
from ipv8.attestation.trustchain.payload import HalfBlockPayload

from .test_memory import KEYS, PKS, make_pairs

BLOCK_AT = 22 + 1 + 8


KEYS4 = [PKS[0], PKS[1], PKS[2], b"\x07" * 74]


def random_block(rng: random.Random, number: int, tops: dict[bytes, int] | None = None) -> TrustChainBlock:
    """An unsigned block of one of four chains (the database does not judge blocks: gaps, seq 0, links into
    nowhere and out-of-order inserts all happen). Mostly, as in real use, it extends a chain at its end or
    near it and points at a proposal near the end of another chain; ``tops`` are the chains' ends."""
    tops = tops or {}
    key, other = rng.choice(KEYS4), rng.choice(KEYS4)
    if rng.random() < 0.75:
        sequence_number = tops.get(key, 0) + rng.choice([1, 1, 1, 2, 0, -1, -3])
        link_sequence_number = max(0, tops.get(other, 0) - rng.choice([0, 0, 1, 2, 5])) if rng.random() < 0.6 else 0
    else:
        sequence_number, link_sequence_number = rng.choice([0, *range(1, 30)]), rng.choice([0, 0, *range(1, 30)])
    return TrustChainBlock(block_type=b"test", encoded_transaction=encode({"n": number}),
                           public_key=key, sequence_number=max(0, sequence_number), link_public_key=other,
                           link_sequence_number=link_sequence_number, previous_hash=GENESIS_HASH,
                           signature=bytes([number % 256]) * 64, timestamp=number)


def chain_ends(reference: MemoryChainStore) -> dict[bytes, int]:
    return {key: latest.sequence_number for key in KEYS4 if (latest := reference.get_latest(key)) is not None}


def sqlite_answers(reference: MemoryChainStore, probe: TrustChainBlock) -> tuple:
    """The answers of a fresh view over everything stored (``db.get_all_blocks()``: sqlite's rowid order)."""
    return (reference.get_block_before(probe), reference.get(probe.public_key, probe.sequence_number),
            reference.get_block_after(probe), reference.get_all_linked(probe),
            reference.get_latest(probe.public_key), reference.contains(probe))


def cached_answers(db: TrustChainDB, probe: TrustChainBlock) -> tuple:
    before, at, after = db.get_neighbours(probe)
    return (before, at, after, db.get_all_linked(probe), db.get_latest(probe.public_key), db.contains(probe))


@pytest.mark.parametrize("seed", range(4))
def test_cached_answers_equal_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # Tiny limits, so that trimming, eviction and starting afresh all happen many times.
    monkeypatch.setattr(chaincache, "SUFFIX_SIZE", 4)
    monkeypatch.setattr(chaincache, "MAX_CHAINS", 2)
    monkeypatch.setattr(chaincache, "MAX_ORDERS", 40)
    rng = random.Random(seed)
    db = TrustChainDB(tmp_path / "tc.db")
    stored: list[TrustChainBlock] = []
    reference = MemoryChainStore()
    for number in range(300):
        tops = chain_ends(reference)
        block = random_block(rng, number, tops)
        action = rng.random()
        if action < 0.6:
            if db.get(block.public_key, block.sequence_number) is None:
                if rng.random() < 0.5:
                    db.begin_batch()
                db.add_block(block)
                stored.append(block)
        elif action < 0.7:
            db.commit_batch()
        elif action < 0.78:
            # A write that fails half way: its savepoint (or transaction) is rolled back.
            with pytest.raises(RuntimeError), db.transaction():
                if db.get(block.public_key, block.sequence_number) is None:
                    db._insert(block)
                raise RuntimeError("undone")
        elif action < 0.82 and stored:
            db.commit_batch()
            db.remove_block(stored.pop(rng.randrange(len(stored))))
        elif action < 0.84:
            db.commit_batch()
            db.prune(max(5, len(stored) - 3))
        probe = random_block(rng, number, tops) if rng.random() < 0.6 or not stored else rng.choice(stored)
        reference = MemoryChainStore(db.get_all_blocks())
        assert cached_answers(db, probe) == sqlite_answers(reference, probe), f"seed {seed}, step {number}, {probe!r}"
        # The order of the counterparts matters (the first one is *the* linked block).
        assert [b.hash for b in db.get_all_linked(probe)] == [b.hash for b in reference.get_all_linked(probe)]
    db.close()


def test_answers_are_copies(tmp_path: Path) -> None:
    """Changing a block handed in or out does not change what the database believes."""
    db = TrustChainDB(tmp_path / "tc.db")
    blocks = make_pairs(3)
    db.add_blocks(blocks)
    latest = db.get_latest(blocks[-1].public_key)
    latest.signature = b"\x01" * 64
    blocks[-1].signature = b"\x02" * 64
    assert db.get_latest(blocks[-1].public_key).signature == make_pairs(3)[-1].signature
    db.close()


def test_fraud_verdicts_are_remembered_and_updated(tmp_path: Path) -> None:
    db = TrustChainDB(tmp_path / "tc.db")
    first = make_pairs(1)[0]
    twin = TrustChainBlock(block_type=first.type, encoded_transaction=encode({"other": 1}),
                           public_key=first.public_key, sequence_number=first.sequence_number,
                           link_public_key=first.link_public_key, link_sequence_number=0,
                           previous_hash=first.previous_hash, signature=b"0" * 64, timestamp=first.timestamp)
    twin.sign(KEYS[PKS.index(first.public_key)])
    assert not db.did_double_spend(first.public_key)
    assert not db.did_double_spend(first.public_key)  # remembered
    assert db.add_fraud_proof(FraudProof(first, twin))
    assert db.did_double_spend(first.public_key)
    db.close()
    assert TrustChainDB(tmp_path / "tc.db").did_double_spend(first.public_key)


class FailingCommit:
    """A connection whose COMMIT fails, as sqlite's does on a full disk (the transaction is rolled back)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            self.conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self.conn.execute(sql, *args)


def test_a_failed_commit_forgets_the_cache(tmp_path: Path) -> None:
    db = TrustChainDB(tmp_path / "tc.db")
    blocks = make_pairs(2)
    db.begin_batch()
    db.add_block(blocks[0])
    assert db.get_latest(blocks[0].public_key) == blocks[0]
    real, db._conn = db._conn, FailingCommit(db._conn)
    with pytest.raises(sqlite3.OperationalError):
        db.commit_batch()
    db._conn = real
    assert db.get_latest(blocks[0].public_key) is None
    assert not db.contains(blocks[0])
    db.close()


# -- message 1 without the serializer ---------------------------------------------------------------------------


def test_from_packed_equals_the_checked_constructor() -> None:
    for block in make_pairs(4):
        fast = TrustChainBlock.from_packed(b"x" * BLOCK_AT + block.pack(), BLOCK_AT)
        slow, _ = TrustChainBlock.unpack(block.pack())
        assert fast is not None
        assert fast.hash == slow.hash == block.hash
        assert fast.pack() == slow.pack()
        assert fast.transaction == slow.transaction
        assert (fast.type, fast.encoded_transaction, fast.insert_time) == (slow.type, slow.encoded_transaction, None)
        assert fast.has_valid_signature()


@pytest.mark.parametrize("damage", ["truncated", "trailing", "empty", "bad transaction", "huge type"])
def test_from_packed_refuses_anything_odd(damage: str) -> None:
    block = make_pairs(1)[0]
    packed = block.pack()
    if damage == "truncated":
        packed = packed[:-1]
    elif damage == "trailing":
        packed += b"\x00"
    elif damage == "empty":
        packed = b""
    elif damage == "bad transaction":
        block.encoded_transaction = b"a9zjunk"
        packed = block.pack()
    else:
        packed = packed[:318] + (10_000).to_bytes(4, "big") + packed[322:]
    assert TrustChainBlock.from_packed(packed) is None


def test_message_one_bytes_are_those_of_the_payload() -> None:
    """The prebuilt layout of message 1 equals what the generic serializer makes of HalfBlockPayload."""
    from ipv8.messaging.payload_headers import GlobalTimeDistributionPayload
    from ipv8.messaging.serialization import default_serializer

    for block in make_pairs(3):
        generic = default_serializer.pack_serializable_list([GlobalTimeDistributionPayload(42),
                                                             HalfBlockPayload.from_half_block(block)])
        assert (42).to_bytes(8, "big") + block.pack() == generic
