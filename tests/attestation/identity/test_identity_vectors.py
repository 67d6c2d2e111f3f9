"""Token trees, signed objects, disclosures and identity messages against pyipv8 3.2.1 (identity_vectors.json).

Both directions: what we build from the same keys and inputs is byte-identical to the reference, and what we
read from the reference bytes gives back the recorded fields.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipv8.attestation.identity import payload as identity_payload
from ipv8.attestation.identity.attestation import Attestation
from ipv8.attestation.identity.community import IdentityCommunity
from ipv8.attestation.identity.manager import IdentityManager
from ipv8.attestation.identity.metadata import Metadata
from ipv8.attestation.schema.manager import SchemaManager
from ipv8.attestation.tokentree.token import Token
from ipv8.attestation.tokentree.tree import TokenTree
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import split_signed_packet
from ipv8.messaging.serialization import default_serializer

VECTORS = json.loads((Path(__file__).parent / "identity_vectors.json").read_text())
KEYS = {name: default_eccrypto.key_from_private_bin(bytes.fromhex(blob)) for name, blob in VECTORS["keys"].items()}
H = bytes.fromhex


def build_tree() -> tuple[TokenTree, list[Token]]:
    """The generator's forked tree, built with our code."""
    tree = TokenTree(private_key=KEYS["alice"])
    first = tree.add(b"first content")
    second = tree.add_by_hash(H(VECTORS["tokens"]["tokens"][1]["content_hash"]), first)
    third = tree.add(b"third content", second)
    fork = tree.add(b"a fork after the first", first)
    return tree, [first, second, third, fork, tree.add(b"another root")]


def test_community_id() -> None:
    assert IdentityCommunity.community_id.hex() == VECTORS["community_id"]


def test_tokens_are_byte_identical() -> None:
    tree, tokens = build_tree()
    assert tree.genesis_hash.hex() == VECTORS["tokens"]["genesis_hash"]
    for ours, record in zip(tokens, VECTORS["tokens"]["tokens"]):
        assert ours.get_plaintext_signed().hex() == record["serialized"]
        assert ours.get_hash().hex() == record["hash"]
        assert ours.signature.hex() == record["signature"]
    assert tree.serialize_public().hex() == VECTORS["tokens"]["serialize_public"]
    assert tree.serialize_public(tokens[2]).hex() == VECTORS["tokens"]["serialize_public_up_to_third"]
    assert tree.serialize_public(tokens[3]).hex() == VECTORS["tokens"]["serialize_public_up_to_fork"]


def test_reference_tokens_read_back() -> None:
    alice = KEYS["alice"].pub()
    for record in VECTORS["tokens"]["tokens"]:
        token = Token.unserialize(H(record["serialized"]), alice)
        assert token.previous_token_hash.hex() == record["previous"]
        assert token.content_hash.hex() == record["content_hash"]
        assert token.get_hash().hex() == record["hash"]
        assert token.verify(alice)
        assert not token.verify(KEYS["bob"].pub())
        if record["content"] is not None:
            assert token.receive_content(H(record["content"]))
            assert not token.receive_content(H(record["content"]) + b"x")


def test_reference_tree_unserializes_in_any_order() -> None:
    serialized = H(VECTORS["tokens"]["serialize_public"])
    size = Token.serialized_length(KEYS["alice"].pub())
    chunks = [serialized[i:i + size] for i in range(0, len(serialized), size)]
    for data in (serialized, b"".join(reversed(chunks))):
        tree = TokenTree(public_key=KEYS["alice"].pub())
        assert tree.unserialize_public(data)
        assert [t.hex() for t in sorted(tree.elements)] == sorted(r["hash"] for r in VECTORS["tokens"]["tokens"])
        assert not tree.unchained
        for token in tree.elements.values():
            assert tree.verify(token)
    assert not TokenTree(public_key=KEYS["bob"].pub()).unserialize_public(serialized)


def test_metadata_and_attestations_are_byte_identical() -> None:
    _, tokens = build_tree()
    alice = KEYS["alice"].pub()
    for record in VECTORS["metadata"]:
        token = next(t for t in tokens if t.get_hash().hex() == record["token"])
        ours = Metadata(token.get_hash(), H(record["json"]), private_key=KEYS["alice"])
        assert ours.get_plaintext_signed().hex() == record["serialized"]
        assert ours.get_hash().hex() == record["hash"]
        back = Metadata.unserialize(H(record["serialized"]), alice)
        assert back.verify(alice) and back == ours
    first = VECTORS["metadata"][0]
    created = Metadata.create(tokens[0], {"name": "age", "schema": "id_metadata", "date": 1700000000.5},
                              KEYS["alice"])
    assert created.get_plaintext_signed().hex() == first["serialized"]
    for record in VECTORS["attestations"]:
        authority = KEYS[record["authority"]]
        ours = Attestation.create(created, authority)
        assert ours.get_plaintext_signed().hex() == record["serialized"]
        assert ours.get_hash().hex() == record["hash"]
        back = Attestation.unserialize(H(record["serialized"]), authority.pub())
        assert back.metadata_pointer.hex() == record["metadata_pointer"] and back.verify(authority.pub())


def test_disclosure_matches_and_substantiates() -> None:
    record = VECTORS["disclosure"]
    parts = tuple(H(part) for part in record["parts"])
    receiver = IdentityManager(":memory:")
    correct, pseudonym = receiver.substantiate(KEYS["alice"].pub(), *parts)
    assert correct is record["substantiated"] is True
    assert len(pseudonym.get_credentials()) == record["credentials"]
    stored = sorted(a.get_hash().hex() for a in receiver.database.get_attestations_for(KEYS["alice"].pub()))
    assert stored == record["attestations"]

    # Our own disclosure of the same credential is the same bytes.
    manager = IdentityManager(":memory:")
    ours = manager.get_pseudonym(KEYS["alice"])
    metadata = Metadata.unserialize(parts[0][4:], KEYS["alice"].pub())
    credential = ours.create_credential(Token.unserialize(parts[1], KEYS["alice"].pub()).content_hash,
                                        json.loads(metadata.serialized_json_dict))
    attestation = Attestation.create(credential.metadata, KEYS["bob"])
    assert ours.add_attestation(KEYS["bob"].pub(), attestation)
    assert ours.disclose_credentials([credential], {attestation.get_hash()}) == parts


@pytest.mark.parametrize("record", VECTORS["payloads"], ids=[r["name"] for r in VECTORS["payloads"]])
def test_payloads(record: dict) -> None:
    cls = getattr(identity_payload, record["class"])
    assert cls.msg_id == record["msg_id"]
    fields = {k: (H(v) if isinstance(v, str) else v) for k, v in record["fields"].items()}
    payload = cls(**fields)
    assert default_serializer.pack_serializable(payload).hex() == record["body"]
    back, end = default_serializer.unpack_serializable(cls, H(record["body"]))
    assert end == len(H(record["body"]))
    assert {name: getattr(back, name) for name in fields} == fields
    # The complete packet: prefix, id, our key, body, signature (deterministic curve25519).
    packet = H(record["packet"])
    assert packet[:22] == b"\x00\x02" + IdentityCommunity.community_id and packet[22] == cls.msg_id
    key_bin, body_start, signed_part = split_signed_packet(packet)
    assert key_bin == KEYS["alice"].pub().key_to_bin()
    assert signed_part[body_start:].hex() == record["body"]
    assert KEYS["alice"].signature(packet[:-64]) == packet[-64:]


def test_schema_manager_defaults() -> None:
    manager = SchemaManager()
    manager.register_default_schemas()
    assert manager.formats == VECTORS["schemas"]["formats"]
    for name, class_name in VECTORS["schemas"]["algorithms"].items():
        assert manager.get_algorithm_class(manager.formats[name]["algorithm"]).__name__ == class_name
