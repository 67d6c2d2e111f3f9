"""TrustChain block validation invariants, fraud proofs and the defensive transaction decoder."""
from __future__ import annotations

from pathlib import Path

import pytest
from twisted.internet.task import Clock

from ipv8.attestation.trustchain import encoding
from ipv8.attestation.trustchain.block import (EMPTY_PK, GENESIS_HASH, BlockFormatError, FraudProof,
                                               TrustChainBlock, ValidationResult)
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.keyvault.crypto import default_eccrypto

KEYS = [default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + bytes([seed]) * 32 + bytes([seed + 1]) * 32)
        for seed in (11, 13, 15)]
ALICE, BOB, CAROL = KEYS
PK = {key: key.pub().key_to_bin() for key in KEYS}


@pytest.fixture
def db(tmp_path: Path) -> TrustChainDB:
    database = TrustChainDB(tmp_path / "tc.db", clock=Clock())
    yield database
    database.close()


def signed(db: TrustChainDB, key, tx=None, link=None, counterparty=None,  # noqa: ANN001
           timestamp=1000, **changes) -> TrustChainBlock:  # noqa: ANN003
    """A new signed block of ``key``'s chain as ``db`` knows it, with fields changed before signing."""
    block = TrustChainBlock.create(b"test", tx or {b"n": timestamp}, db, PK[key], link=link,
                                   link_pk=counterparty and PK[counterparty], timestamp=timestamp)
    for field, value in changes.items():
        setattr(block, field, value)
    block.sign(key)
    return block


def chain(db: TrustChainDB, key, length: int, store: bool = True) -> list[TrustChainBlock]:  # noqa: ANN001
    blocks = []
    for index in range(length):
        block = signed(db, key, counterparty=BOB if key is not BOB else ALICE, timestamp=1000 + index)
        if store:
            db.add_block(block)
        blocks.append(block)
    return blocks


def test_valid_chain(db: TrustChainDB) -> None:
    blocks = chain(db, ALICE, 4)
    states = [block.validate(db).state for block in blocks]
    assert states == ["valid", "valid", "valid", "partial_next"]
    assert all(not block.validate(db).codes for block in blocks)


def test_gap_gives_partial_states(db: TrustChainDB) -> None:
    blocks = chain(db, ALICE, 5)
    db.remove_block(blocks[2])
    assert blocks[1].validate(db).state == ValidationResult.partial_next
    assert blocks[3].validate(db).state == ValidationResult.partial_previous
    db.remove_block(blocks[0])
    assert blocks[1].validate(db).state == ValidationResult.partial
    fresh = TrustChainDB(":memory:")
    assert blocks[3].validate(fresh).state == ValidationResult.no_info
    assert blocks[0].validate(fresh).state == ValidationResult.partial_next


def test_wrong_previous_hash(db: TrustChainDB) -> None:
    chain(db, ALICE, 2)
    bad = signed(db, ALICE, previous_hash=b"\x07" * 32)
    result = bad.validate(db)
    assert result.state == ValidationResult.invalid
    assert result.codes == ["previous_hash"]
    # ...and seen from the other side: a stored successor that does not name our hash.
    fresh = TrustChainDB(":memory:")
    blocks = chain(fresh, ALICE, 2, store=False)
    fresh.add_block(blocks[0])
    fresh.add_block(signed(fresh, ALICE, previous_hash=b"\x07" * 32))
    assert "next_hash" in blocks[0].validate(fresh).codes


def test_genesis_rules(db: TrustChainDB) -> None:
    assert "genesis_hash_mismatch" in signed(db, ALICE, previous_hash=b"\x01" * 32).validate(db).codes
    assert "genesis_hash_mismatch" in signed(db, ALICE, sequence_number=3).validate(db).codes
    assert signed(db, ALICE, sequence_number=0).validate(db).codes[0] == "seq_before_genesis"


def test_bad_signature(db: TrustChainDB) -> None:
    block = signed(db, ALICE, counterparty=BOB)
    block.signature = bytes(64)
    assert block.validate(db).codes == ["invalid_signature"]
    # Signed by someone else's key.
    forged = signed(db, BOB, counterparty=CAROL, public_key=PK[ALICE])
    assert forged.validate(db).codes == ["invalid_signature"]
    assert not forged.has_valid_signature()


def test_self_signed_and_bad_keys(db: TrustChainDB) -> None:
    assert "self_signed" in signed(db, ALICE, counterparty=ALICE).validate(db).codes
    assert "invalid_link_public_key" in signed(db, ALICE, link_public_key=b"\x05" * 74).validate(db).codes
    junk = signed(db, ALICE)
    junk.public_key = b"\x04" * 74
    assert junk.validate(db).codes == ["invalid_public_key"]


def test_future_timestamp_is_opt_in(db: TrustChainDB) -> None:
    block = signed(db, ALICE, timestamp=10 ** 12)
    assert block.validate(db).acceptable
    assert block.validate(db, now_ms=1000).codes == ["future_timestamp"]


def test_linked_pair_and_inconsistent_link(db: TrustChainDB) -> None:
    proposal = signed(db, ALICE, counterparty=BOB)
    agreement = signed(db, BOB, link=proposal)
    db.add_block(proposal, agreement)
    assert proposal.validate(db).acceptable and agreement.validate(db).acceptable
    assert db.get_linked(proposal) == agreement and db.get_linked(agreement) == proposal
    # Carol claims to agree to the proposal made to Bob.
    intruder = signed(db, CAROL, link=proposal)
    assert intruder.validate(db).codes == ["linked_counterparty"]
    # Seen from the proposal: a stored countersignature by a key the proposal did not name.
    fresh = TrustChainDB(":memory:")
    to_bob = signed(fresh, ALICE, counterparty=BOB)
    fresh.add_block(signed(fresh, CAROL, link=to_bob))
    assert to_bob.validate(fresh).codes == ["linked_public_key"]


def test_double_sign_gives_verifiable_fraud_proof(db: TrustChainDB) -> None:
    first = signed(db, ALICE, tx={b"a": 1})
    db.add_block(first)
    second = signed(TrustChainDB(":memory:"), ALICE, tx={b"a": 2})
    result = second.validate(db)
    assert result.state == ValidationResult.invalid
    assert "double_sign" in result.codes
    proof = result.fraud_proof
    assert proof.kind == FraudProof.DOUBLE_SIGN and proof.offender == PK[ALICE] and proof.verify()
    # A third party gets only the bytes and checks them on its own.
    received = FraudProof.from_bytes(proof.to_bytes())
    assert received.verify() and received == FraudProof(second, first)
    db.add_fraud_proof(received)
    assert db.did_double_spend(PK[ALICE]) and not db.did_double_spend(PK[BOB])
    assert db.get_fraud_proofs(PK[ALICE]) == [proof]


def test_double_countersign_gives_fraud_proof(db: TrustChainDB) -> None:
    proposal = signed(db, ALICE, counterparty=BOB)
    agreement = signed(db, BOB, link=proposal)
    db.add_block(proposal, agreement)
    again = signed(db, BOB, link=proposal, timestamp=5000)
    result = again.validate(db)
    assert result.codes == ["double_countersign"]
    assert result.fraud_proof.kind == FraudProof.DOUBLE_COUNTERSIGN and result.fraud_proof.verify()
    assert result.fraud_proof.offender == PK[BOB]


def test_forged_fraud_proofs_are_refused(db: TrustChainDB) -> None:
    first = signed(db, ALICE, tx={b"a": 1})
    second = signed(db, ALICE, tx={b"a": 2})
    assert FraudProof(first, second).verify()
    # Tampered signature: the "conflicting" block was never signed by Alice.
    tampered = TrustChainBlock.unpack(second.pack())[0]
    tampered.signature = bytes(64)
    assert not FraudProof(first, tampered).verify()
    # A block made with Bob's key but claiming Alice's key.
    framed = signed(db, BOB, tx={b"a": 3}, public_key=PK[ALICE])
    assert not FraudProof(first, framed).verify()
    # The same block twice, and two honest consecutive blocks, are no conflict.
    assert FraudProof(first, first).kind is None
    db.add_block(first)
    assert not FraudProof(first, signed(db, ALICE)).verify()
    # Two keys' blocks with the same number.
    assert not FraudProof(first, signed(TrustChainDB(":memory:"), BOB)).verify()
    with pytest.raises(ValueError, match="does not verify"):
        db.add_fraud_proof(FraudProof(first, tampered))
    with pytest.raises(BlockFormatError):
        FraudProof.from_bytes(FraudProof(first, second).to_bytes() + b"x")
    with pytest.raises(BlockFormatError):
        FraudProof.from_bytes(first.pack()[:-3])


def test_block_fields_are_checked() -> None:
    block = signed(TrustChainDB(":memory:"), ALICE)
    for field, value in (("public_key", b"short"), ("previous_hash", b"x" * 31), ("sequence_number", -1),
                         ("timestamp", 2 ** 64), ("link_sequence_number", 2 ** 32)):
        values = [block.public_key, block.sequence_number, block.link_public_key, block.link_sequence_number,
                  block.previous_hash, block.signature, block.type, block.encoded_transaction, block.timestamp]
        index = ["public_key", "sequence_number", "link_public_key", "link_sequence_number", "previous_hash",
                 "signature", "type", "transaction", "timestamp"].index(field)
        values[index] = value
        with pytest.raises(BlockFormatError):
            TrustChainBlock.from_fields(values)
    with pytest.raises(BlockFormatError, match="bad transaction"):
        TrustChainBlock.from_fields([PK[ALICE], 1, EMPTY_PK, 0, GENESIS_HASH, bytes(64), b"t", b"a5d", 0])
    with pytest.raises(BlockFormatError):
        TrustChainBlock.unpack(block.pack()[:100])


def test_to_dict_is_json_ready() -> None:
    block = signed(TrustChainDB(":memory:"), ALICE, tx={b"up": 5, "raw": b"\xff", (1, 2): {3}})
    data = block.to_dict()
    assert data["transaction"] == {"up": 5, "raw": "0xff", "[1, 2]": [3]}
    assert data["hash"] == block.hash.hex() and data["type"] == "test"


@pytest.mark.parametrize("data", [
    b"", b"x", b"a", b"a5", b"a5s", b"a5sabc", b"a3i012", b"a2i-0", b"a2i+1", b"a3i1_0", b"a1i1trailing",
    b"a2d1i1", b"a1d2l001i1", b"a99999999999l", b"a9999999l0n", b"a2L1i11i1", b"a1Z", b"a1n", b"a2sx\xff",
    b"a2d1i10n1i10n", b"a3fabc", b"a01i1", b"a1L0l",
])
def test_decoder_refuses_malformed(data: bytes) -> None:
    with pytest.raises(encoding.TransactionDecodeError):
        encoding.decode(data)


def test_decoder_limits() -> None:
    deep = b"a" + b"1l" * (encoding.MAX_DEPTH + 2) + b"0n"
    with pytest.raises(encoding.TransactionDecodeError, match="nesting"):
        encoding.decode(deep)
    ok = b"a" + b"1l" * encoding.MAX_DEPTH + b"0n"
    assert encoding.decode(ok) is not None
    with pytest.raises(encoding.TransactionDecodeError, match="exceeds"):
        encoding.decode(b"a5b" + b"x" * 100, max_size=50)
    with pytest.raises(encoding.TransactionEncodeError):
        encoding.encode({b"x": object()})
    with pytest.raises(encoding.TransactionEncodeError):
        encoding.encode(b"x" * encoding.MAX_TRANSACTION_SIZE)


def test_decoder_round_trips_everything() -> None:
    value = {b"a": [1, -2, 2 ** 80, 1.25, float("inf"), "\u00e9", b"\x00", None, True, False, (), (1, (2,)), {b"x"}]}
    assert encoding.decode(encoding.encode(value)) == value
