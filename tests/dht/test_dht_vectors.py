"""The DHT building blocks against what pyipv8 3.2.1 produced (``dht_vectors.json``, see make_dht_vectors.py).

Both directions: our packing of the listed fields gives the reference bytes, and our unpacking of the
reference bytes gives the listed fields. The same for values, node ids and a routing-table trace.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock

from ipv8.dht import payload as dht_payload
from ipv8.dht.payload import (DHT_PAYLOADS, InvalidValueError, decode_value, dht_serializer, encode_signed_value,
                              encode_value)
from ipv8.dht.routing import Node, RoutingTable, calc_node_id
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import HEADER_SIZE, split_signed_packet
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload

VECTORS = json.loads((Path(__file__).parent / "dht_vectors.json").read_text())
KEYS = {name: default_eccrypto.key_from_private_bin(bytes.fromhex(blob)) for name, blob in VECTORS["keys"].items()}
PAYLOAD_VECTORS = VECTORS["payloads"]
BYTES_FIELDS = {"token", "target", "data", "public_key"}
INT_FIELDS = {"identifier", "offset", "version"}


def address(blob: dict) -> tuple:
    return (UDPv6Address if blob["family"] == "v6" else UDPv4Address)(blob["host"], blob["port"])


def address_json(value: tuple) -> dict:
    return {"family": "v6" if isinstance(value, UDPv6Address) else "v4", "host": value[0], "port": value[1]}


def node(blob: dict) -> Node:
    return Node(bytes.fromhex(blob["key"]), address(blob["address"]), clock=Clock())


def from_json(name: str, value: Any) -> Any:  # noqa: ANN401
    """A field of the vectors as the object our payload classes take."""
    if name in BYTES_FIELDS:
        return bytes.fromhex(value)
    if name == "values":
        return [bytes.fromhex(item) for item in value]
    if name == "lan_address":
        return address(value)
    if name == "nodes":
        return [node(item) for item in value]
    return value


def to_json(name: str, value: Any) -> Any:  # noqa: ANN401
    """A field of one of our payload objects, written the way the vectors write it."""
    if name in BYTES_FIELDS:
        return value.hex()
    if name == "values":
        return [item.hex() for item in value]
    if name == "lan_address":
        assert type(value) in (UDPv4Address, UDPv6Address)
        return address_json(value)
    if name == "nodes":
        for item in value:
            assert isinstance(item, Node)
        return [{"key": item.public_key.key_to_bin().hex(), "address": address_json(item.address)} for item in value]
    return value


def build(record: dict) -> Any:  # noqa: ANN401
    cls = getattr(dht_payload, record["class"])
    return cls(**{name: from_json(name, value) for name, value in record["fields"].items()})


def test_the_vectors_cover_every_message_and_both_value_bodies() -> None:
    assert sorted({record["msg_id"] for record in PAYLOAD_VECTORS if "msg_id" in record}) == list(range(1, 11))
    assert {"StrPayload", "SignedStrPayload"} <= {record["class"] for record in PAYLOAD_VECTORS}
    for record in PAYLOAD_VECTORS:
        cls = getattr(dht_payload, record["class"])
        if "msg_id" in record:
            assert DHT_PAYLOADS[record["msg_id"]] is cls
            assert cls.msg_id == record["msg_id"]


@pytest.mark.parametrize("record", PAYLOAD_VECTORS, ids=[record["name"] for record in PAYLOAD_VECTORS])
def test_packing_gives_the_reference_bytes(record: dict) -> None:
    assert dht_serializer.pack_serializable(build(record)).hex() == record["packed"]


@pytest.mark.parametrize("record", PAYLOAD_VECTORS, ids=[record["name"] for record in PAYLOAD_VECTORS])
def test_unpacking_the_reference_bytes_gives_the_fields(record: dict) -> None:
    cls = getattr(dht_payload, record["class"])
    packed = bytes.fromhex(record["packed"])
    payload, end = dht_serializer.unpack_serializable(cls, packed)
    assert end == len(packed)
    assert {name: to_json(name, getattr(payload, name)) for name in cls.names} == record["unpacked"]
    assert record["unpacked"] == record["fields"]


SIGNED = [record for record in PAYLOAD_VECTORS if "packet" in record]


@pytest.mark.parametrize("record", SIGNED, ids=[record["name"] for record in SIGNED])
def test_signed_packets_match_the_reference_both_ways(record: dict) -> None:
    """The complete message: DHT prefix, message id, authentication, body (no global time), signature."""
    prefix = bytes.fromhex(VECTORS["prefix"])
    assert prefix == b"\x00\x02" + bytes.fromhex(VECTORS["community_id"])
    assert VECTORS["community_id"] == "8d0be1845d74d175f178197cad001591d04d73cc"
    key = KEYS["alpha"]
    unsigned = prefix + bytes([record["msg_id"]]) + dht_serializer.pack_serializable_list(
        [BinMemberAuthenticationPayload(key.pub().key_to_bin()), build(record)])
    packet = bytes.fromhex(record["packet"])
    assert unsigned + key.signature(unsigned) == packet

    key_bin, body_start, signed_part = split_signed_packet(packet)
    assert key_bin == key.pub().key_to_bin()
    assert packet[HEADER_SIZE - 1] == record["msg_id"]
    cls = DHT_PAYLOADS[record["msg_id"]]
    (payload,) = dht_serializer.unpack_serializable_list([cls], signed_part[body_start:])
    assert {name: to_json(name, getattr(payload, name)) for name in cls.names} == record["fields"]


def test_plain_values_match_the_reference() -> None:
    for record in VECTORS["values"]["unsigned"]:
        value = bytes.fromhex(record["value"])
        assert encode_value(bytes.fromhex(record["data"])) == value
        decoded = decode_value(value)
        assert (decoded.data.hex(), decoded.public_key, decoded.version, decoded.signed) == (record["data"], None, 0,
                                                                                             False)


def test_signed_values_match_the_reference() -> None:
    for record in VECTORS["values"]["signed"]:
        value = bytes.fromhex(record["value"])
        key = KEYS[record["signer"]]
        assert encode_signed_value(bytes.fromhex(record["data"]), key, record["version"]) == value
        decoded = decode_value(value)
        assert decoded.signed
        assert [decoded.data.hex(), decoded.public_key.hex(), decoded.version] == record["unserialized"]
        assert decoded.public_key == key.pub().key_to_bin()


@pytest.mark.parametrize("record", VECTORS["values"]["damaged"], ids=[r["name"] for r in VECTORS["values"]["damaged"]])
def test_damaged_values_are_refused_like_the_reference_refuses_them(record: dict) -> None:
    assert record["accepted"] is False
    with pytest.raises(InvalidValueError):
        decode_value(bytes.fromhex(record["value"]))


@pytest.mark.parametrize("record", VECTORS["node_ids"], ids=[f"{r['address']['host']}" for r in VECTORS["node_ids"]])
def test_node_ids_match_the_reference(record: dict) -> None:
    where = address(record["address"])
    key = KEYS[record["key"]].pub()
    assert key.key_to_hash().hex() == record["mid"]
    assert Node(key, where, clock=Clock()).id.hex() == record["node_id"]
    assert calc_node_id(where, bytes.fromhex(record["raw_mid"])).hex() == record["raw_node_id"]
    # A plain (host, port) tuple is filed by the look of its host.
    assert calc_node_id((where[0], where[1]), bytes.fromhex(record["raw_mid"])).hex() == record["raw_node_id"]


def test_routing_table_grows_and_answers_like_the_reference() -> None:
    """Same offers, same bucket size (pyipv8's 8): same acceptances, same buckets, same closest nodes."""
    trace = VECTORS["routing"]
    table = RoutingTable(bytes.fromhex(trace["my_node_id"]), bucket_size=trace["bucket_size"], clock=Clock())
    for offer in trace["offered"]:
        candidate = node(offer)
        assert candidate.id.hex() == offer["node_id"]
        result = table.try_add(candidate)
        assert result.outcome.accepted is offer["added"], offer
    buckets = {bucket.prefix_id: sorted(node_id.hex() for node_id in bucket.nodes) for bucket in table.buckets()}
    assert buckets == trace["buckets"]
    for query in trace["queries"]:
        closest = table.closest_nodes(bytes.fromhex(query["target"]), max_nodes=query["max_nodes"])
        assert [each.id.hex() for each in closest] == query["closest"]
    refused = sum(not offer["added"] for offer in trace["offered"])
    assert refused > 0
    assert table.refusals == {"no-room": refused}
