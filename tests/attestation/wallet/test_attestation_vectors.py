"""The attestation overlay's messages against pyipv8 3.2.1 (``attestation_vectors.json``, see make_attestation_vectors.py).

Payloads both ways (our packing gives the reference bytes, our unpacking gives the fields), complete signed
packets, and the packets our community itself sends for the same calls with the same keys and clock.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import ensureDeferred

from ipv8.attestation.wallet.community import AttestationCommunity, AttestationSettings
from ipv8.attestation.wallet.payload import ATTESTATION_PAYLOADS
from ipv8.attestation.wallet.primitives.structs import BonehPrivateKey
from ipv8.attestation.wallet.worker import run_inline
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.payload_headers import (
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from ipv8.messaging.serialization import default_serializer
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.mocking.endpoint import AutoMockEndpoint

VECTORS = json.loads((Path(__file__).parent / "attestation_vectors.json").read_text())
KEYS = {name: default_eccrypto.key_from_private_bin(bytes.fromhex(blob)) for name, blob in VECTORS["keys"].items()}
BYTES_FIELDS = {"attestation_hash", "challenge_hash", "data", "challenge", "response", "metadata"}


def _fields(record: dict) -> dict[str, Any]:
    return {name: bytes.fromhex(value) if name in BYTES_FIELDS else value for name, value in record["fields"].items()}


@pytest.mark.parametrize("record", VECTORS["payloads"], ids=lambda record: record["name"])
def test_payload_both_ways(record: dict) -> None:
    cls = ATTESTATION_PAYLOADS[record["msg_id"]]
    assert cls.__name__ == record["class"]
    fields = _fields(record)
    payload = cls(**fields)
    packed = default_serializer.pack_serializable(payload)
    assert packed.hex() == record["packed"]
    back, end = default_serializer.unpack_serializable(cls, bytes.fromhex(record["packed"]))
    assert end == len(packed)
    assert {name: getattr(back, name) for name in fields} == fields


class CapturingEndpoint(AutoMockEndpoint):
    """Keeps what is sent instead of delivering it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def send(self, socket_address: Any, packet: bytes) -> None:
        self.sent.append(packet)

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return [packet.hex() for packet in sent]


@pytest.fixture
def community() -> Any:
    endpoint = CapturingEndpoint()
    settings = AttestationSettings(my_peer=Peer(KEYS["alpha"]), endpoint=endpoint, network=Network(),
                                   working_directory=":memory:", worker_runner=run_inline)
    overlay = AttestationCommunity(settings)
    yield overlay
    overlay.request_cache.shutdown()
    overlay.database.close()


@pytest.mark.parametrize("record", VECTORS["payloads"], ids=lambda record: record["name"])
def test_signed_packet(community: AttestationCommunity, record: dict) -> None:
    payload = ATTESTATION_PAYLOADS[record["msg_id"]](**_fields(record))
    auth = BinMemberAuthenticationPayload(KEYS["alpha"].pub().key_to_bin())
    packet = community._ez_pack(community._prefix, record["msg_id"],
                                [auth, GlobalTimeDistributionPayload(record["global_time"]), payload])
    assert community.get_prefix().hex() == VECTORS["prefix"]
    assert packet.hex() == record["packet"]


def test_request_attestation_packets(community: AttestationCommunity) -> None:
    endpoint = community.endpoint
    beta = Peer(KEYS["beta"].pub(), UDPv4Address("203.0.113.9", 7009))
    for flow in VECTORS["flows"]["request_attestation"]:
        assert community.global_time == flow["global_time_before"]
        secret_key = BonehPrivateKey.unserialize(bytes.fromhex(flow["secret_key"]))
        done = community.request_attestation(beta, flow["attribute"], secret_key,
                                             dict(flow["metadata"], id_format=flow["id_format"]))
        assert endpoint.take() == flow["packets"]
        assert not done.called


def test_verify_request_and_chunk_packets(community: AttestationCommunity) -> None:
    endpoint = community.endpoint
    address = UDPv4Address("203.0.113.9", 7009)
    community.update_global_time(VECTORS["flows"]["verify_request"][0]["global_time_before"])
    for flow in VECTORS["flows"]["verify_request"]:
        community.verify_attestation_values(address, bytes.fromhex(flow["attestation_hash"]), [b"x"], None,
                                            "id_metadata")
        assert endpoint.take() == flow["packets"]
    for flow in VECTORS["flows"]["send_attestation"]:
        community.update_global_time(flow["global_time_before"])
        community.send_attestation(address, bytes.fromhex(flow["blob"]), flow["global_time"])
        assert endpoint.take() == flow["packets"]


def test_reference_packets_are_accepted(community: AttestationCommunity) -> None:
    """The reference packets decode with our handlers' payload classes (signatures check out)."""
    from ipv8.lazy_community import split_signed_packet
    for record in VECTORS["payloads"]:
        packet = bytes.fromhex(record["packet"])
        key_bin, body_start, signed_part = split_signed_packet(packet)
        assert key_bin == KEYS["alpha"].pub().key_to_bin()
        cls = ATTESTATION_PAYLOADS[packet[22]]
        dist, payload = community.serializer.unpack_serializable_list([GlobalTimeDistributionPayload, cls],
                                                                      signed_part, offset=body_start)
        assert dist.global_time == record["global_time"]
        assert {name: getattr(payload, name) for name in record["fields"]} == _fields(record)


def test_unload_fires_pending_requests_with_none() -> None:
    endpoint = CapturingEndpoint()
    overlay = AttestationCommunity(AttestationSettings(my_peer=Peer(KEYS["alpha"]), endpoint=endpoint,
                                                       network=Network(), working_directory=":memory:",
                                                       worker_runner=run_inline))
    secret_key = BonehPrivateKey.unserialize(bytes.fromhex(VECTORS["flows"]["request_attestation"][0]["secret_key"]))
    done = overlay.request_attestation(Peer(KEYS["beta"].pub(), UDPv4Address("203.0.113.9", 7009)), "a", secret_key)
    results: list = []
    done.addCallback(results.append)
    ensureDeferred(_unload(overlay))
    assert results == [None]


async def _unload(overlay: AttestationCommunity) -> None:
    await overlay.unload()
