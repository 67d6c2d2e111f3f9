"""Record pyipv8 3.2.1's token trees, signed objects, disclosures and identity messages, for test_identity_vectors.py.

Run it ONLY with the reference interpreter (pyipv8 3.2.1 installed as ``ipv8``); it refuses anything else::

    .venv-ref/bin/python tests/attestation/identity/make_identity_vectors.py \
        tests/attestation/identity/identity_vectors.json          (part of `make vectors`)

Keys come from fixed seeds and curve25519 signatures are deterministic, so the output is the same every run.
Sections: ``keys`` (hex private keys), ``tokens`` (a forked tree: every token's fields, serialization and
hash, full and partial public serializations), ``metadata``, ``attestations``, ``disclosure`` (of one
credential with one attestation), ``payloads`` (bodies and complete signed packets of messages 1-4, signed
by ``alice``) and ``schemas`` (the default schema table). Bytes are hex strings. This script only drives
pyipv8; none of its code is part of txipv8.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.reference_interpreter import require_reference

require_reference(__file__, ".venv-ref/bin/python tests/attestation/identity/make_identity_vectors.py "
                            "tests/attestation/identity/identity_vectors.json")

# pylint: disable=wrong-import-position
from ipv8.attestation.identity import payload as identity_payload
from ipv8.attestation.identity.attestation import Attestation
from ipv8.attestation.identity.community import IdentityCommunity, IdentitySettings
from ipv8.attestation.identity.manager import IdentityManager
from ipv8.attestation.identity.metadata import Metadata
from ipv8.attestation.schema.manager import SchemaManager
from ipv8.attestation.tokentree.tree import TokenTree
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.mocking.endpoint import MockEndpoint


def make_key(seed: str):
    return default_eccrypto.key_from_private_bin(
        b"LibNaCLSK:" + hashlib.sha512(f"txipv8 identity vector key {seed}".encode()).digest())


KEYS = {name: make_key(name) for name in ("alice", "bob", "carol")}


def token_json(token) -> dict:
    return {"previous": token.previous_token_hash.hex(), "content_hash": token.content_hash.hex(),
            "content": None if token.content is None else token.content.hex(),
            "signature": token.signature.hex(), "serialized": token.get_plaintext_signed().hex(),
            "hash": token.get_hash().hex()}


def token_vectors() -> tuple[dict, TokenTree]:
    tree = TokenTree(private_key=KEYS["alice"])
    first = tree.add(b"first content")
    second = tree.add_by_hash(hashlib.sha3_256(b"second content").digest(), first)
    third = tree.add(b"third content", second)
    fork = tree.add(b"a fork after the first", first)
    root_again = tree.add(b"another root")
    order = [first, second, third, fork, root_again]
    return {"owner": "alice", "genesis_hash": tree.genesis_hash.hex(),
            "tokens": [token_json(token) for token in order],
            "serialize_public": tree.serialize_public().hex(),
            "serialize_public_up_to_third": tree.serialize_public(third).hex(),
            "serialize_public_up_to_fork": tree.serialize_public(fork).hex()}, tree


def object_vectors(tree: TokenTree) -> tuple[dict, dict]:
    tokens = list(tree.elements.values())
    metadata = [Metadata.create(tokens[0], {"name": "age", "schema": "id_metadata", "date": 1700000000.5},
                                KEYS["alice"]),
                Metadata.create(tokens[2], {"name": "naam", "schema": "id_metadata_range_18plus", "date": 1.0,
                                            "extra": "\u00e9\u00e8"}, KEYS["alice"])]
    md_json = [{"token": tokens[i].get_hash().hex(), "json": item.serialized_json_dict.hex(),
                "signature": item.signature.hex(), "serialized": item.get_plaintext_signed().hex(),
                "hash": item.get_hash().hex()} for i, item in zip((0, 2), metadata)]
    attestations = []
    for authority in ("bob", "carol"):
        attestation = Attestation.create(metadata[0], KEYS[authority])
        attestations.append({"authority": authority, "metadata_pointer": attestation.metadata_pointer.hex(),
                             "signature": attestation.signature.hex(),
                             "serialized": attestation.get_plaintext_signed().hex(),
                             "hash": attestation.get_hash().hex()})
    return {"metadata": md_json}, {"attestations": attestations}


def disclosure_vector() -> dict:
    manager = IdentityManager(":memory:")
    pseudonym = manager.get_pseudonym(KEYS["alice"])
    credential = pseudonym.create_credential(hashlib.sha3_256(b"disclosed attribute").digest(),
                                             {"name": "disclosed", "schema": "id_metadata", "date": 42.0})
    attestation = Attestation.create(credential.metadata, KEYS["bob"])
    pseudonym.add_attestation(KEYS["bob"].pub(), attestation)
    disclosure = pseudonym.disclose_credentials([credential], {attestation.get_hash()})
    receiver = IdentityManager(":memory:")
    correct, theirs = receiver.substantiate(KEYS["alice"].pub(), *disclosure)
    return {"owner": "alice", "authority": "bob", "parts": [part.hex() for part in disclosure],
            "substantiated": correct, "credentials": len(theirs.get_credentials()),
            "attestations": sorted(a.get_hash().hex() for a in receiver.database.get_attestations_for(
                KEYS["alice"].pub()))}


def payload_vectors(community: IdentityCommunity) -> list[dict]:
    p = identity_payload
    cases = [("disclose", p.DisclosePayload(b"\x01meta", b"", bytes(range(200)), b"\x00\x02ab")),
             ("disclose/empty", p.DisclosePayload(b"", b"", b"", b"")),
             ("attest", p.AttestPayload(bytes(96))),
             ("request-missing", p.RequestMissingPayload(7)),
             ("request-missing/max", p.RequestMissingPayload(4294967295)),
             ("missing-response", p.MissingResponsePayload(bytes(range(128)) * 2)),
             ("missing-response/empty", p.MissingResponsePayload(b""))]
    out = []
    for name, payload in cases:
        fields = {field: getattr(payload, field) for field in payload.names}
        out.append({"name": name, "class": type(payload).__name__, "msg_id": payload.msg_id,
                    "fields": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in fields.items()},
                    "body": community.serializer.pack_serializable(payload).hex(),
                    "packet": community.ezr_pack(payload.msg_id, payload).hex()})
    return out


def schema_vectors() -> dict:
    manager = SchemaManager()
    manager.register_default_schemas()
    return {"formats": manager.formats,
            "algorithms": {name: manager.get_algorithm_class(spec["algorithm"]).__name__
                           for name, spec in manager.formats.items()}}


async def main(target: Path) -> None:
    endpoint = MockEndpoint(UDPv4Address("192.168.1.10", 8090), UDPv4Address("203.0.113.5", 7001))
    community = IdentityCommunity(IdentitySettings(my_peer=Peer(KEYS["alice"]), endpoint=endpoint,
                                                   network=Network(), working_directory=":memory:"))
    try:
        tokens, tree = token_vectors()
        metadata, attestations = object_vectors(tree)
        document = {"generator": "tests/attestation/identity/make_identity_vectors.py",
                    "reference": "pyipv8 3.2.1",
                    "keys": {name: key.key_to_bin().hex() for name, key in KEYS.items()},
                    "community_id": IdentityCommunity.community_id.hex(),
                    "tokens": tokens, **metadata, **attestations,
                    "disclosure": disclosure_vector(),
                    "payloads": payload_vectors(community),
                    "schemas": schema_vectors()}
    finally:
        await community.unload()
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    asyncio.run(main(Path(sys.argv[1])))
