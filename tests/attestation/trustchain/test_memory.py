"""The in-memory chain store and batch validator give the verdicts of the sqlite path."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from ipv8.attestation.trustchain.block import (
    GENESIS_HASH,
    TrustChainBlock,
    ValidationResult,
)
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.memory import (
    MemoryChainStore,
    validate_chain,
    validate_database,
    verify_signatures,
)
from ipv8.keyvault.crypto import default_eccrypto

from .test_vectors import VECTORS, _scenario_block, block_from

KEYS = [default_eccrypto.generate_key("curve25519") for _ in range(3)]
PKS = [key.pub().key_to_bin() for key in KEYS]


@pytest.mark.parametrize("vector", VECTORS["validation"], ids=lambda vector: vector["name"])
def test_same_verdict_as_database(vector: dict, tmp_path: Path) -> None:
    db = TrustChainDB(tmp_path / "tc.db")
    store = MemoryChainStore()
    for stored in vector["stored"]:
        db.add_block(block_from(stored))
        store.add(block_from(stored))
    block = _scenario_block(vector)
    from_db, from_memory = block.validate(db), block.validate(store)
    assert (from_memory.state, from_memory.codes) == (from_db.state, from_db.codes)
    assert from_memory.fraud_proof == from_db.fraud_proof
    db.close()


def make_pairs(count: int, seed: int = 1) -> list[TrustChainBlock]:
    """``count`` proposal/agreement pairs among three keys, in the order they were signed."""
    rng = random.Random(seed)
    store = MemoryChainStore()
    blocks = []
    for number in range(count):
        one, two = rng.sample(range(3), 2)
        proposal = TrustChainBlock.create(b"test", {"n": number}, store, PKS[one], link_pk=PKS[two],
                                          timestamp=number)
        proposal.sign(KEYS[one])
        store.add(proposal)
        agreement = TrustChainBlock.create(b"test", None, store, PKS[two], link=proposal, timestamp=number)
        agreement.sign(KEYS[two])
        store.add(agreement)
        blocks += [proposal, agreement]
    return blocks


def test_lookups_match_database(tmp_path: Path) -> None:
    blocks = make_pairs(30)
    db = TrustChainDB(tmp_path / "tc.db")
    shuffled = blocks[:]
    random.Random(3).shuffle(shuffled)
    shuffled = shuffled[:45]  # gaps everywhere
    db.add_blocks(shuffled)
    store = MemoryChainStore(shuffled)
    for block in blocks:
        assert store.contains(block) == db.contains(block)
        assert store.get_block_before(block) == db.get_block_before(block)
        assert store.get_block_after(block) == db.get_block_after(block)
        assert store.get_all_linked(block) == db.get_all_linked(block)
        assert store.get_linked(block) == db.get_linked(block)
        assert store.get_latest(block.public_key) == db.get_latest(block.public_key)
        assert block.validate(store).codes == block.validate(db).codes
        assert block.validate(store).state == block.validate(db).state
    db.close()


def test_validate_chain_accepts_honest_history() -> None:
    blocks = make_pairs(40)
    results = validate_chain(blocks, workers=2)
    assert all(result.acceptable for result in results)
    assert results[-1].state in (ValidationResult.partial_next, ValidationResult.valid)


def test_validate_chain_catches_forgery_and_double_sign() -> None:
    blocks = make_pairs(10)
    forged = TrustChainBlock.unpack(blocks[4].pack())[0]
    forged.signature = b"\x01" * 64
    twin = TrustChainBlock(block_type=b"test", encoded_transaction=b"a0d", public_key=blocks[0].public_key,
                           sequence_number=1, link_public_key=blocks[0].link_public_key, link_sequence_number=0,
                           previous_hash=GENESIS_HASH, signature=b"0" * 64, timestamp=5)
    twin.sign(KEYS[PKS.index(blocks[0].public_key)])
    results = validate_chain([*blocks[:4], forged, twin], workers=1)
    assert [result.acceptable for result in results] == [True, True, True, True, False, False]
    assert "invalid_signature" in results[4].codes
    assert results[5].fraud_proof is not None and results[5].fraud_proof.verify()


def test_threads_give_the_same_answers() -> None:
    blocks = make_pairs(1200)  # more than one chunk per worker
    blocks[7].signature = b"\x02" * 64
    assert verify_signatures(blocks, workers=2) == [index != 7 for index in range(len(blocks))]


def test_validate_database(tmp_path: Path) -> None:
    blocks = make_pairs(20)
    db = TrustChainDB(tmp_path / "tc.db")
    db.add_blocks(blocks)
    verdicts = validate_database(db)
    assert set(verdicts) == {block.hash for block in blocks}
    assert all(verdict.acceptable for verdict in verdicts.values())
    db.close()


def test_neighbours_in_one_query(tmp_path: Path) -> None:
    blocks = make_pairs(30)
    kept = [block for index, block in enumerate(blocks) if index % 3]
    db = TrustChainDB(tmp_path / "tc.db")
    db.add_blocks(kept)
    for block in blocks:
        known = db.get(block.public_key, block.sequence_number)
        assert db.get_neighbours(block) == (db.get_block_before(block), known, db.get_block_after(block))
    db.close()
