"""Record what pyipv8 3.2.1's AttestationCommunity puts on the wire, for ``test_attestation_vectors.py``.

Run it ONLY with the reference interpreter (pyipv8 3.2.1 installed as ``ipv8``); it refuses anything else::

    .venv-ref/bin/python tests/attestation/wallet/make_attestation_vectors.py \
        tests/attestation/wallet/attestation_vectors.json                          (part of `make vectors`)

Every input is fixed (signing keys from fixed seeds, the Boneh secret keys of ``wallet_vectors.json``, global
times) and curve25519 signatures are deterministic, so running it twice writes the same file. Sections:

* ``keys``: the signing keys (hex of the private binary form);
* ``payloads``: each of the five messages packed from the listed fields, and the complete signed packet
  (signed by ``alpha`` with the listed global time) the community builds for it;
* ``flows``: packets the community itself sent for ``request_attestation`` (the JSON metadata included),
  ``create_verify_attestation_request`` and ``send_attestation`` (chunking), with its inputs.

Bytes are hex strings. This script only drives pyipv8; none of its code is part of txipv8.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.reference_interpreter import require_reference

require_reference(__file__, ".venv-ref/bin/python tests/attestation/wallet/make_attestation_vectors.py "
                            "tests/attestation/wallet/attestation_vectors.json")

# pylint: disable=wrong-import-position
from ipv8.attestation.wallet import payload as wallet_payload
from ipv8.attestation.wallet.community import AttestationCommunity, AttestationSettings
from ipv8.attestation.wallet.primitives.structs import BonehPrivateKey
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address
from ipv8.messaging.payload_headers import (
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.mocking.endpoint import MockEndpoint

HERE = Path(__file__).resolve().parent
KEY_NAMES = ("alpha", "beta")
DESTINATION = UDPv4Address("203.0.113.9", 7009)


def make_key(seed: str):
    return default_eccrypto.key_from_private_bin(
        b"LibNaCLSK:" + hashlib.sha512(f"txipv8 attestation vector key {seed}".encode()).digest())


KEYS = {name: make_key(name) for name in KEY_NAMES}
WALLET = json.loads((HERE / "wallet_vectors.json").read_text())


def boneh_key(id_format: str) -> BonehPrivateKey:
    for record in WALLET["exact"] + WALLET["range"]:
        if record["id_format"] == id_format:
            return BonehPrivateKey.unserialize(bytes.fromhex(record["secret_key"]))
    raise KeyError(id_format)


class CapturingEndpoint(MockEndpoint):
    """Keeps what the community sends instead of delivering it."""

    def __init__(self) -> None:
        super().__init__(UDPv4Address("192.168.1.10", 8090), UDPv4Address("203.0.113.5", 7001))
        self.sent: list[tuple[tuple, bytes]] = []

    def send(self, socket_address: tuple, packet: bytes) -> None:
        self.sent.append((tuple(socket_address), packet))

    def take(self) -> list[str]:
        packets = [packet.hex() for _, packet in self.sent]
        self.sent = []
        return packets


H1 = hashlib.sha1(b"txipv8 attestation vectors: attestation").digest()
H2 = hashlib.sha1(b"txipv8 attestation vectors: challenge").digest()


def payload_cases() -> list[tuple[str, object, dict, int]]:
    p = wallet_payload
    metadata = json.dumps({"attribute": "age", "public_key": "AAAA\n", "id_format": "id_metadata"}).encode()
    return [
        ("verify-attestation-request", p.VerifyAttestationRequestPayload(H1), {"attestation_hash": H1}, 1),
        ("attestation-chunk", p.AttestationChunkPayload(H1, 0, bytes(range(256)) * 3 + bytes(32)),
         {"attestation_hash": H1, "sequence_number": 0, "data": bytes(range(256)) * 3 + bytes(32)}, 2),
        ("attestation-chunk/last", p.AttestationChunkPayload(H1, 65535, b"tail"),
         {"attestation_hash": H1, "sequence_number": 65535, "data": b"tail"}, 3),
        ("attestation-chunk/empty", p.AttestationChunkPayload(H1, 1, b""),
         {"attestation_hash": H1, "sequence_number": 1, "data": b""}, 4),
        ("challenge", p.ChallengePayload(H1, b"\x00\x01challenge"),
         {"attestation_hash": H1, "challenge": b"\x00\x01challenge"}, 5),
        ("challenge-response", p.ChallengeResponsePayload(H2, b"\x02"),
         {"challenge_hash": H2, "response": b"\x02"}, 6),
        ("request-attestation", p.RequestAttestationPayload(metadata), {"metadata": metadata}, 2 ** 64 - 1),
    ]


def payload_vectors(community: AttestationCommunity) -> list[dict]:
    records = []
    auth = BinMemberAuthenticationPayload(KEYS["alpha"].pub().key_to_bin())
    for name, payload, fields, global_time in payload_cases():
        packed = community.serializer.pack_serializable(payload)
        packet = community._ez_pack(community._prefix, payload.msg_id,
                                    [auth, GlobalTimeDistributionPayload(global_time), payload])
        records.append({"name": name, "class": type(payload).__name__, "msg_id": payload.msg_id,
                        "fields": {key: value.hex() if isinstance(value, bytes) else value
                                   for key, value in fields.items()},
                        "global_time": global_time, "packed": packed.hex(), "packet": packet.hex()})
    return records


def flow_vectors(community: AttestationCommunity, endpoint: CapturingEndpoint) -> dict:
    beta = Peer(KEYS["beta"].pub(), DESTINATION)
    flows: dict = {"request_attestation": [], "verify_request": [], "send_attestation": []}
    for attribute, id_format, extra in (("age", "id_metadata", {}),
                                        ("passport", "id_metadata_big", {"issuer": "NL", "ü": "ß"}),
                                        ("adult", "id_metadata_range_18plus", {})):
        start = community.global_time
        metadata = dict(extra, id_format=id_format)
        community.request_attestation(beta, attribute, boneh_key(id_format), metadata)
        flows["request_attestation"].append({"attribute": attribute, "id_format": id_format, "metadata": extra,
                                             "secret_key": boneh_key(id_format).serialize().hex(),
                                             "global_time_before": start, "packets": endpoint.take()})
    start = community.global_time
    community.create_verify_attestation_request(DESTINATION, H1, "id_metadata")
    flows["verify_request"].append({"attestation_hash": H1.hex(), "global_time_before": start,
                                    "packets": endpoint.take()})
    for size, global_time in ((800, 42), (801, None), (2401, 7), (5, None)):
        blob = hashlib.sha512(str(size).encode()).digest() * (size // 64 + 1)
        blob = blob[:size]
        start = community.global_time
        community.send_attestation(DESTINATION, blob, global_time)
        flows["send_attestation"].append({"blob": blob.hex(), "global_time": global_time,
                                          "global_time_before": start, "packets": endpoint.take()})
    return flows


async def main(target: Path) -> None:
    endpoint = CapturingEndpoint()
    settings = AttestationSettings(my_peer=Peer(KEYS["alpha"]), endpoint=endpoint, network=Network(),
                                   working_directory=":memory:")
    community = AttestationCommunity(settings)
    try:
        document = {
            "generator": "tests/attestation/wallet/make_attestation_vectors.py",
            "reference": "pyipv8 3.2.1",
            "community_id": AttestationCommunity.community_id.hex(),
            "prefix": community._prefix.hex(),
            "keys": {name: key.key_to_bin().hex() for name, key in KEYS.items()},
            "payloads": payload_vectors(community),
            "flows": flow_vectors(community, endpoint),
        }
    finally:
        await community.unload()
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    asyncio.run(main(Path(sys.argv[1])))
