"""Record what pyipv8 1.10.0 produces for TrustChain, for ``tests/attestation/trustchain/test_vectors.py``.

Run it ONLY with the 1.x reference interpreter (pyipv8 1.10.0 installed as ``ipv8``); it refuses anything
else::

    .venv-ipv8-1x/bin/python tests/attestation/trustchain/make_trustchain_vectors.py \\
        tests/attestation/trustchain/trustchain_vectors.json          (part of `make vectors`)

Every input is fixed (keys from fixed seeds, timestamps, transactions) and Ed25519 signatures are
deterministic, so running it twice writes the same file. Sections of the JSON document:

* ``keys``: private keys (hex of the binary form) named by the other sections;
* ``transactions``: values as 1.x's transaction encoding writes them, and what its decoder returns;
* ``blocks``: signed blocks (fields, packed form, packed form with an empty signature, SHA-256 hash);
* ``payloads``: each TrustChain message payload packed from blocks of ``blocks`` (message ids 1-7);
* ``packets``: complete packets a 1.10 TrustChainCommunity sends for some of those payloads;
* ``validation``: scenarios (blocks stored first, then one block validated) and 1.10's verdict.

Encoding of values (JSON has no bytes, tuples or sets): ``{"bytes": hex}``, ``{"str": s}``, ``{"int": n}``,
``{"float": repr}``, ``{"bool": b}``, ``{"none": null}``, ``{"list": [...]}``, ``{"tuple": [...]}``,
``{"set": [...]}``, ``{"dict": [[key, value], ...]}``. This script only drives pyipv8; none of its code is
part of txipv8.
"""
from __future__ import annotations

import importlib.metadata
import json
import sys
import tempfile
from pathlib import Path

REFERENCE_DISTRIBUTION = "pyipv8"
REFERENCE_VERSION = "1.10.0"


def _refuse(reason: str) -> None:
    sys.stderr.write(f"make_trustchain_vectors.py: {reason}\n"
                     f"These vectors must come from {REFERENCE_DISTRIBUTION} {REFERENCE_VERSION}; run:\n"
                     f"    make legacy-1x-venv && .venv-ipv8-1x/bin/python "
                     f"tests/attestation/trustchain/make_trustchain_vectors.py "
                     f"tests/attestation/trustchain/trustchain_vectors.json\n")
    raise SystemExit(2)


def _check_reference() -> None:
    """Make sure ``import ipv8`` is pyipv8 1.10.0, not txipv8 (whose package has the same name)."""
    repo_root = Path(__file__).resolve().parents[3]
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != repo_root
                   and Path(entry or ".").resolve() != Path(__file__).resolve().parent]
    try:
        version = importlib.metadata.version(REFERENCE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        _refuse(f"{REFERENCE_DISTRIBUTION} is not installed in {sys.prefix}")
    if version != REFERENCE_VERSION:
        _refuse(f"found {REFERENCE_DISTRIBUTION} {version}, need exactly {REFERENCE_VERSION}")


def tag(value):
    """A value as tagged JSON (see the module docstring)."""
    if isinstance(value, bool):
        return {"bool": value}
    if value is None:
        return {"none": None}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, list):
        return {"list": [tag(item) for item in value]}
    if isinstance(value, tuple):
        return {"tuple": [tag(item) for item in value]}
    if isinstance(value, set):
        return {"set": [tag(item) for item in sorted(value, key=repr)]}
    if isinstance(value, dict):
        return {"dict": [[tag(key), tag(item)] for key, item in value.items()]}
    raise TypeError(type(value))


# Each transaction: a name and a value. Sets are left out of the signed blocks (their order is not
# deterministic), but one single-element set is encoded to pin the marker.
TRANSACTIONS = [
    ("empty", {}),
    ("flat_bytes", {b"up": 1024, b"down": 2048}),
    ("flat_str", {"up": 1, "down": 2, "note": "h\u00e9llo"}),
    ("numbers", {b"neg": -17, b"big": 2 ** 70, b"zero": 0, b"float": 1.5, b"tiny": 1e-300}),
    ("constants", {b"t": True, b"f": False, b"n": None}),
    ("nested", {b"outer": {b"inner": [1, b"two", "three", (4, 5), [], {}], "k": {"deep": {b"x": b"\x00\xff"}}},
                b"list": [[1, [2, [3]]], ()]}),
    ("binary_keys", {b"\x00\x01": b"", 7: "int key", (1, 2): b"tuple key"}),
    ("set_one", {b"s": {42}}),
    ("top_level_list", [1, 2, 3]),
    ("top_level_bytes", b"just bytes"),
]


def main(out: Path) -> None:
    _check_reference()
    # Imports after the check so that the txipv8 tree can never be the one imported.
    from ipv8.attestation.trustchain.block import EMPTY_SIG, TrustChainBlock, ValidationResult  # noqa: PLC0415
    from ipv8.attestation.trustchain.database import TrustChainDB  # noqa: PLC0415
    from ipv8.attestation.trustchain.payload import (CrawlRequestPayload, CrawlResponsePayload,  # noqa: PLC0415
                                                     EmptyCrawlResponsePayload, HalfBlockBroadcastPayload,
                                                     HalfBlockPairBroadcastPayload, HalfBlockPairPayload,
                                                     HalfBlockPayload)
    from ipv8.keyvault.crypto import default_eccrypto  # noqa: PLC0415
    from ipv8.messaging.deprecated.encoding import decode, encode  # noqa: PLC0415
    from ipv8.messaging.serialization import default_serializer  # noqa: PLC0415

    keys = {name: default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + bytes([seed]) * 32 + bytes([seed + 1]) * 32)
            for name, seed in (("alice", 1), ("bob", 3), ("carol", 5))}
    pub = {name: key.pub().key_to_bin() for name, key in keys.items()}
    doc = {"reference": f"{REFERENCE_DISTRIBUTION} {REFERENCE_VERSION}",
           "keys": {name: key.key_to_bin().hex() for name, key in keys.items()},
           "public_keys": {name: value.hex() for name, value in pub.items()},
           "constants": {"genesis_hash": TrustChainBlock().previous_hash.hex(), "empty_sig": EMPTY_SIG.hex(),
                         "empty_pk": TrustChainBlock().public_key.hex()}}

    def decoded_utf8(encoded):
        # 1.x renders transactions for REST with every bytes value read as UTF-8; that fails on other bytes.
        try:
            return tag(decode(encoded, cast_utf8=True)[1])
        except UnicodeDecodeError:
            return {"error": "UnicodeDecodeError"}

    doc["transactions"] = []
    for name, value in TRANSACTIONS:
        encoded = encode(value)
        doc["transactions"].append({"name": name, "value": tag(value), "encoded": encoded.hex(),
                                    "decoded": tag(decode(encoded)[1]), "decoded_utf8": decoded_utf8(encoded)})

    class MemoryDB:
        """Just enough of a database for TrustChainBlock.create: the latest block per key."""

        def __init__(self) -> None:
            self.latest = {}

        def get_latest(self, public_key, block_type=None):
            return self.latest.get(public_key)

    chains = MemoryDB()
    blocks = {}

    def make(name, signer, block_type, transaction, timestamp, link=None, link_pk=None, **overrides):
        block = TrustChainBlock.create(block_type, transaction, chains, pub[signer], link=link, link_pk=link_pk)
        block.timestamp = timestamp
        for field, value in overrides.items():
            setattr(block, field, value)
        if "transaction" in overrides:
            block._transaction = encode(overrides["transaction"])
        block.sign(keys[signer])
        chains.latest[pub[signer]] = block
        blocks[name] = block
        return block

    signed_txs = [(n, v) for n, v in TRANSACTIONS if n not in ("set_one",)]
    ts = 1_600_000_000_000
    # alice <-> bob: proposal/agreement pairs, one per transaction.
    for index, (tx_name, tx) in enumerate(signed_txs):
        proposal = make(f"ab_proposal_{index}", "alice", b"test", tx, ts + 10 * index, link_pk=pub["bob"])
        make(f"ab_agreement_{index}", "bob", b"test", None, ts + 10 * index + 1, link=proposal)
    # A different block type, a unicode-looking type, an "any counterparty" proposal and a self-only block.
    make("typed", "carol", b"tribler_bandwidth", {b"up": 5, b"down": 6}, ts + 1000, link_pk=pub["alice"])
    make("any_counterparty", "carol", b"test", {b"offer": b"anyone"}, ts + 1001)
    # Double sign: carol signs another block with the sequence number of "any_counterparty".
    before = chains.latest[pub["carol"]]
    chains.latest[pub["carol"]] = blocks["typed"]
    make("double_sign", "carol", b"test", {b"offer": b"someone else"}, ts + 1002)
    chains.latest[pub["carol"]] = before
    # Double countersign: bob agrees a second time (new seq) to alice's first proposal.
    make("double_countersign", "bob", b"test", None, ts + 2000, link=blocks["ab_proposal_0"])

    def fields(block):
        return {"public_key": block.public_key.hex(), "sequence_number": block.sequence_number,
                "link_public_key": block.link_public_key.hex(),
                "link_sequence_number": block.link_sequence_number, "previous_hash": block.previous_hash.hex(),
                "signature": block.signature.hex(), "type": block.type.hex(), "transaction": block._transaction.hex(),
                "timestamp": block.timestamp}

    doc["blocks"] = {name: {"fields": fields(block), "transaction_value": tag(block.transaction),
                            "packed": block.pack().hex(), "packed_unsigned": block.pack(signature=False).hex(),
                            "hash": block.hash.hex(), "block_id": block.block_id.decode(),
                            "linked_block_id": block.linked_block_id.decode(), "is_genesis": block.is_genesis,
                            "hash_number": block.hash_number}
                     for name, block in blocks.items()}

    def packed(payload):
        return default_serializer.pack_multiple(payload.to_pack_list())[0].hex()

    half, agree = blocks["ab_proposal_5"], blocks["ab_agreement_5"]
    doc["payloads"] = {
        "half_block": {"msg_id": 1, "blocks": ["ab_proposal_5"],
                       "packed": packed(HalfBlockPayload.from_half_block(half))},
        "crawl_request": {"msg_id": 2, "fields": {"public_key": pub["alice"].hex(), "start_seq_num": -5,
                                                  "end_seq_num": 2 ** 31 - 1, "crawl_id": 4_000_000_000},
                          "packed": packed(CrawlRequestPayload(pub["alice"], -5, 2 ** 31 - 1, 4_000_000_000))},
        "crawl_response": {"msg_id": 3, "blocks": ["ab_agreement_5"],
                           "fields": {"crawl_id": 123456, "cur_count": 2, "total_count": 7},
                           "packed": packed(CrawlResponsePayload.from_crawl(agree, 123456, 2, 7))},
        "half_block_pair": {"msg_id": 4, "blocks": ["ab_proposal_5", "ab_agreement_5"],
                            "packed": packed(HalfBlockPairPayload.from_half_blocks(half, agree))},
        "half_block_broadcast": {"msg_id": 5, "blocks": ["ab_proposal_5"], "fields": {"ttl": 3},
                                 "packed": packed(HalfBlockBroadcastPayload.from_half_block(half, 3))},
        "half_block_pair_broadcast": {"msg_id": 6, "blocks": ["ab_proposal_5", "ab_agreement_5"],
                                      "fields": {"ttl": 2},
                                      "packed": packed(HalfBlockPairBroadcastPayload.from_half_blocks(half, agree, 2))},
        "empty_crawl_response": {"msg_id": 7, "fields": {"crawl_id": 99},
                                 "packed": packed(EmptyCrawlResponsePayload(99))},
    }

    # Complete packets as a 1.10 TrustChainCommunity (and its testnet variant) builds them. _ez_pack only
    # needs a serializer and the sender's key, so no community (endpoint, database) is started.
    from types import SimpleNamespace  # noqa: PLC0415

    from ipv8.attestation.trustchain.community import (TrustChainCommunity,  # noqa: PLC0415
                                                       TrustChainTestnetCommunity)
    from ipv8.lazy_community import EZPackOverlay  # noqa: PLC0415
    from ipv8.messaging.payload_headers import (BinMemberAuthenticationPayload,  # noqa: PLC0415
                                                GlobalTimeDistributionPayload)
    sender = SimpleNamespace(serializer=default_serializer, my_peer=SimpleNamespace(key=keys["alice"]))
    prefix = b"\x00" + TrustChainCommunity.version + TrustChainCommunity.master_peer.mid
    global_time = 7
    dist = GlobalTimeDistributionPayload(global_time).to_pack_list()
    auth = BinMemberAuthenticationPayload(pub["alice"]).to_pack_list()
    payload_objects = {
        "half_block": HalfBlockPayload.from_half_block(half),
        "crawl_request": CrawlRequestPayload(pub["bob"], 1, 5, 77),
        "crawl_response": CrawlResponsePayload.from_crawl(agree, 77, 1, 1),
        "half_block_pair": HalfBlockPairPayload.from_half_blocks(half, agree),
        "half_block_broadcast": HalfBlockBroadcastPayload.from_half_block(half, 3),
        "half_block_pair_broadcast": HalfBlockPairBroadcastPayload.from_half_blocks(half, agree, 2),
        "empty_crawl_response": EmptyCrawlResponsePayload(77),
    }
    doc["packets"] = {
        "prefix": prefix.hex(),
        "testnet_prefix": (b"\x00" + TrustChainTestnetCommunity.version
                           + TrustChainTestnetCommunity.master_peer.mid).hex(),
        "sender": "alice", "global_time": global_time,
        "crawl_request_fields": {"public_key": pub["bob"].hex(), "start_seq_num": 1, "end_seq_num": 5,
                                 "crawl_id": 77},
        "messages": {},
    }
    for name, payload in payload_objects.items():
        msg_id = doc["payloads"][name]["msg_id"]
        # Only the crawl request is signed (with the sender's key header); the rest carry no signature.
        signed = name == "crawl_request"
        parts = [auth, dist, payload.to_pack_list()] if signed else [dist, payload.to_pack_list()]
        doc["packets"]["messages"][name] = {"msg_id": msg_id, "signed": signed,
                                            "packet": EZPackOverlay._ez_pack(sender, prefix, msg_id, parts,
                                                                             signed).hex()}

    # Validation verdicts of 1.10 for scenarios: blocks stored first, then one block validated.
    state_names = {getattr(ValidationResult, name): name for name in
                   ("valid", "partial", "partial_next", "partial_previous", "no_info", "invalid")}

    def tampered(name, **changes):
        source = blocks[name]
        copy = TrustChainBlock([source.type, source._transaction, source.public_key, source.sequence_number,
                                source.link_public_key, source.link_sequence_number, source.previous_hash,
                                source.signature, source.timestamp, None])
        for field, value in changes.items():
            setattr(copy, field, value)
        copy.hash = copy.calculate_hash()
        return copy

    scenarios = [
        ("genesis_alone", [], "ab_proposal_0", {}),
        ("second_no_info", [], "ab_proposal_1", {}),
        ("second_after_first", ["ab_proposal_0"], "ab_proposal_1", {}),
        ("middle_of_three", ["ab_proposal_0", "ab_proposal_2"], "ab_proposal_1", {}),
        ("gap_before", ["ab_proposal_0"], "ab_proposal_2", {}),
        ("gap_both", ["ab_proposal_0", "ab_proposal_4"], "ab_proposal_2", {}),
        ("next_only", ["ab_proposal_3"], "ab_proposal_2", {}),
        ("agreement_with_proposal", ["ab_proposal_0"], "ab_agreement_0", {}),
        ("proposal_with_agreement", ["ab_agreement_0"], "ab_proposal_0", {}),
        ("bad_signature", ["ab_proposal_0"], "ab_proposal_1", {"signature": b"\x01" * 64}),
        ("wrong_previous_hash", ["ab_proposal_0"], "ab_proposal_1", {"previous_hash": b"\x02" * 32}),
        ("double_sign", ["any_counterparty"], "double_sign", {}),
        ("double_countersign", ["ab_proposal_0", "ab_agreement_0"], "double_countersign", {}),
        ("inconsistent_link_pk", ["ab_proposal_0"], "ab_agreement_0", {"link_public_key": pub["carol"]}),
        ("negative_timestamp_field", [], "ab_proposal_0", {"timestamp": 0}),
        ("self_signed", [], "ab_proposal_0", {"link_public_key": pub["alice"]}),
        ("seq_zero", [], "ab_proposal_0", {"sequence_number": 0}),
        ("genesis_seq_not_genesis_hash", [], "ab_proposal_0", {"previous_hash": b"\x03" * 32}),
        ("invalid_public_key", [], "ab_proposal_0", {"public_key": b"\x04" * 74}),
        ("invalid_link_public_key", [], "ab_proposal_0", {"link_public_key": b"\x05" * 74}),
    ]
    doc["validation"] = []
    with tempfile.TemporaryDirectory() as workdir:
        for index, (name, stored, target, changes) in enumerate(scenarios):
            db = TrustChainDB(workdir, f"scenario{index}")
            for stored_name in stored:
                db.add_block(blocks[stored_name])
            block = tampered(target, **changes)
            state, errors = block.validate(db)
            doc["validation"].append({
                "name": name, "stored": stored, "block": target,
                "changes": {field: (value.hex() if isinstance(value, bytes) else value)
                            for field, value in changes.items()},
                "packed": block.pack().hex(), "state": state_names[state], "errors": list(errors),
                "double_spend_recorded": db.did_double_spend(block.public_key)})
            db.close()

    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: make_trustchain_vectors.py OUTPUT.json\n")
        raise SystemExit(2)
    main(Path(sys.argv[1]))
