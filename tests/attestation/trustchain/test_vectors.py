"""TrustChain against what pyipv8 1.10.0 produced (``trustchain_vectors.json``, see make_trustchain_vectors.py).

Both directions: our encoding/packing of the listed values gives the reference bytes, our parsing of the
reference bytes gives the listed values, 1.x signatures verify, and our validator reaches 1.10's verdicts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipv8.attestation.trustchain import encoding
from ipv8.attestation.trustchain.block import (EMPTY_PK, EMPTY_SIG, GENESIS_HASH, FraudProof, TrustChainBlock,
                                               ValidationResult)
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.payload import TRUSTCHAIN_PAYLOADS
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from ipv8.messaging.serialization import default_serializer

VECTORS = json.loads((Path(__file__).parent / "trustchain_vectors.json").read_text())
BLOCKS = VECTORS["blocks"]
KEYS = {name: default_eccrypto.key_from_private_bin(bytes.fromhex(blob)) for name, blob in VECTORS["keys"].items()}


def untag(blob: dict) -> Any:  # noqa: ANN401
    """Tagged JSON (see make_trustchain_vectors.py) back to the Python value."""
    (kind, value), = blob.items()
    if kind == "bytes":
        return bytes.fromhex(value)
    if kind == "float":
        return float(value)
    if kind in ("list", "tuple", "set"):
        items = [untag(item) for item in value]
        return {"list": list, "tuple": tuple, "set": set}[kind](items)
    if kind == "dict":
        return {untag(key): untag(item) for key, item in value}
    return value


def block_from(name: str) -> TrustChainBlock:
    fields = BLOCKS[name]["fields"]
    return TrustChainBlock.from_fields([bytes.fromhex(fields["public_key"]), fields["sequence_number"],
                                        bytes.fromhex(fields["link_public_key"]), fields["link_sequence_number"],
                                        bytes.fromhex(fields["previous_hash"]), bytes.fromhex(fields["signature"]),
                                        bytes.fromhex(fields["type"]), bytes.fromhex(fields["transaction"]),
                                        fields["timestamp"]])


def test_constants() -> None:
    constants = VECTORS["constants"]
    assert GENESIS_HASH.hex() == constants["genesis_hash"]
    assert EMPTY_SIG.hex() == constants["empty_sig"]
    assert EMPTY_PK.hex() == constants["empty_pk"]


@pytest.mark.parametrize("vector", VECTORS["transactions"], ids=lambda vector: vector["name"])
def test_transaction_encoding(vector: dict) -> None:
    encoded = bytes.fromhex(vector["encoded"])
    assert encoding.encode(untag(vector["value"])) == encoded
    assert encoding.decode(encoded) == untag(vector["decoded"])
    # Decoding and re-encoding gives the signed bytes back (what an agreement re-uses).
    assert encoding.encode(encoding.decode(encoded)) == encoded


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_parse_pack_hash_signature(name: str) -> None:
    vector = BLOCKS[name]
    packed = bytes.fromhex(vector["packed"])
    block, end = TrustChainBlock.unpack(packed)
    assert end == len(packed)
    assert block.pack() == packed
    assert block.pack(signature=False).hex() == vector["packed_unsigned"]
    assert block.hash.hex() == vector["hash"]
    assert block.has_valid_signature()
    assert block.transaction == untag(vector["transaction_value"])
    assert block.block_id.decode() == vector["block_id"]
    assert block.linked_block_id.decode() == vector["linked_block_id"]
    assert block.is_genesis == vector["is_genesis"]
    assert block.hash_number == vector["hash_number"]
    assert block_from(name) == block


def test_we_create_and_sign_identical_blocks() -> None:
    """Our create + sign reproduces 1.10's alice/bob pairs byte for byte (Ed25519 is deterministic)."""

    class Chains:
        def __init__(self) -> None:
            self.latest: dict[bytes, TrustChainBlock] = {}

        def get_latest(self, public_key: bytes) -> TrustChainBlock | None:
            return self.latest.get(public_key)

    chains = Chains()
    alice, bob = (KEYS[name].pub().key_to_bin() for name in ("alice", "bob"))
    index = 0
    while f"ab_proposal_{index}" in BLOCKS:
        expected = block_from(f"ab_proposal_{index}")
        proposal = TrustChainBlock.create(b"test", expected.transaction, chains, alice, link_pk=bob,
                                          timestamp=expected.timestamp)
        proposal.sign(KEYS["alice"])
        assert proposal.pack() == expected.pack()
        chains.latest[alice] = proposal
        expected_agreement = block_from(f"ab_agreement_{index}")
        agreement = TrustChainBlock.create(b"test", None, chains, bob, link=proposal,
                                           timestamp=expected_agreement.timestamp)
        agreement.sign(KEYS["bob"])
        assert agreement.pack() == expected_agreement.pack()
        chains.latest[bob] = agreement
        index += 1
    assert index >= 8


@pytest.mark.parametrize("name", sorted(VECTORS["payloads"]))
def test_payloads(name: str) -> None:
    vector = VECTORS["payloads"][name]
    cls = TRUSTCHAIN_PAYLOADS[vector["msg_id"]]
    packed = bytes.fromhex(vector["packed"])
    payload, end = default_serializer.unpack_serializable(cls, packed)
    assert end == len(packed)
    assert default_serializer.pack_serializable(payload) == packed
    blocks = [block_from(block_name) for block_name in vector.get("blocks", [])]
    fields = vector.get("fields", {})
    if "public_key" in fields:
        fields = {**fields, "public_key": bytes.fromhex(fields["public_key"])}
    for field, value in fields.items():
        assert getattr(payload, field) == value
    if name == "crawl_response":
        built = cls.from_crawl(blocks[0], **fields)
    elif len(blocks) == 2:
        built = cls.from_half_blocks(*blocks, **fields)
        assert TrustChainBlock.from_pair_payload(payload) == tuple(blocks)
    elif len(blocks) == 1:
        built = cls.from_half_block(blocks[0], **fields)
    else:
        built = cls(**fields)
    assert default_serializer.pack_serializable(built) == packed
    if len(blocks) == 1:
        assert TrustChainBlock.from_payload(payload) == blocks[0]


def _scenario_block(vector: dict) -> TrustChainBlock:
    """The block of a validation scenario; tampered ones may be unloadable for our stricter checks."""
    return TrustChainBlock.unpack(bytes.fromhex(vector["packed"]))[0]


# 1.10's error sentences and the codes our validator uses for the same rule.
ERROR_CODES = {
    "Invalid signature": "invalid_signature",
    "Previous hash is not equal to the hash id of the previous block": "previous_hash",
    "Signature does not match known block": "known_signature",
    "Double sign fraud": "double_sign",
    "Double countersign fraud": "double_countersign",
    "Self signed block": "self_signed",
    "Sequence number is prior to genesis": "seq_before_genesis",
    "Public key is not valid": "invalid_public_key",
    "Linked public key is not valid": "invalid_link_public_key",
}
# Rules 1.x meant to enforce but whose check could never fire; we enforce them (see block.py).
EXTRA_CODES = {"genesis_seq_not_genesis_hash": {"genesis_hash_mismatch"}, "seq_zero": set()}


@pytest.mark.parametrize("vector", VECTORS["validation"], ids=lambda vector: vector["name"])
def test_validation_matches_1x(vector: dict, tmp_path: Path) -> None:
    db = TrustChainDB(tmp_path / "tc.db")
    for stored in vector["stored"]:
        db.add_block(block_from(stored))
    result = _scenario_block(vector).validate(db)
    assert result.state == vector["state"]
    expected = {ERROR_CODES[error] for error in vector["errors"]} | EXTRA_CODES.get(vector["name"], set())
    assert set(result.codes) == expected
    assert (result.fraud_proof is not None) == (vector["double_spend_recorded"] or "double_countersign" in expected)
    if result.fraud_proof is not None:
        assert result.fraud_proof.verify()
        assert FraudProof.from_bytes(result.fraud_proof.to_bytes()) == result.fraud_proof
    assert result.acceptable == (result.state != ValidationResult.invalid)
    db.close()


@pytest.mark.parametrize("name", sorted(VECTORS["packets"]["messages"]))
def test_complete_packets(name: str) -> None:
    """Prefix + message id + global time + payload (+ key header and signature for crawl requests) as 1.10
    sends them; the prefix is the 1.x TrustChain community id (facts sheet B.2)."""
    packets = VECTORS["packets"]
    vector = packets["messages"][name]
    packet = bytes.fromhex(vector["packet"])
    prefix = bytes.fromhex(packets["prefix"])
    assert prefix == b"\x00\x02" + bytes.fromhex("5ad767b05ae592a02488272ca2a86b847d4562e1")
    assert packet[:22] == prefix and packet[22] == vector["msg_id"]
    cls = TRUSTCHAIN_PAYLOADS[vector["msg_id"]]
    key = KEYS[packets["sender"]]
    parts = [GlobalTimeDistributionPayload(packets["global_time"])]
    offset = 23
    if vector["signed"]:
        auth, offset = default_serializer.unpack_serializable(BinMemberAuthenticationPayload, packet, offset)
        assert auth.public_key_bin == key.pub().key_to_bin()
        parts.insert(0, auth)
    dist, offset = default_serializer.unpack_serializable(GlobalTimeDistributionPayload, packet, offset)
    assert dist.global_time == packets["global_time"]
    payload, offset = default_serializer.unpack_serializable(cls, packet, offset)
    parts.append(payload)
    body = prefix + bytes((vector["msg_id"],)) + default_serializer.pack_serializable_list(parts)
    if vector["signed"]:
        assert packet[offset:] == key.signature(body)
        assert default_eccrypto.is_valid_signature(key.pub(), body, packet[offset:])
        fields = packets["crawl_request_fields"]
        assert (payload.public_key.hex(), payload.start_seq_num, payload.end_seq_num, payload.crawl_id) == \
            (fields["public_key"], fields["start_seq_num"], fields["end_seq_num"], fields["crawl_id"])
    else:
        assert offset == len(packet)
    assert packet == body + (key.signature(body) if vector["signed"] else b"")
