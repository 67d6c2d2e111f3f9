"""Property tests for every DHT payload: random bytes fail only with PackError; random fields round-trip."""
from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from ipv8.dht.payload import (DHT_PAYLOADS, ConnectPeerRequestPayload, ConnectPeerResponsePayload, FindRequestPayload,
                              FindResponsePayload, InvalidValueError, PingRequestPayload, PingResponsePayload,
                              SignedStrPayload, StorePeerRequestPayload, StorePeerResponsePayload,
                              StoreRequestPayload, StoreResponsePayload, StrPayload, add_dht_formats, decode_value,
                              dht_serializer)
from ipv8.dht.routing import Node
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.serialization import PackError, Serializer, default_serializer

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLASSES = [*DHT_PAYLOADS.values(), StrPayload, SignedStrPayload]
PUBLIC_KEYS = [default_eccrypto.key_from_private_bin(
    b"LibNaCLSK:" + hashlib.sha512(f"txipv8 dht fuzz {index}".encode()).digest()).pub() for index in range(8)]
VECTORS = json.loads((Path(__file__).parent / "dht_vectors.json").read_text())
REFERENCE_BODIES = [(record["class"], bytes.fromhex(record["packed"])) for record in VECTORS["payloads"]]


def unpack_or_pack_error(cls: type, data: bytes) -> None:
    try:
        dht_serializer.unpack_serializable_list([cls], data)
    except PackError:
        pass


@pytest.mark.parametrize("cls", CLASSES, ids=[cls.__name__ for cls in CLASSES])
@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_raise_nothing_but_pack_error(cls: type, data: bytes) -> None:
    unpack_or_pack_error(cls, data)


@FUZZ
@given(index=st.integers(0, len(REFERENCE_BODIES) - 1), position=st.integers(0, 10_000), flip=st.integers(1, 255),
       cut=st.integers(0, 10_000), junk=st.binary(max_size=8))
def test_damaged_reference_bodies_raise_nothing_but_pack_error(  # noqa: PLR0913
        index: int, position: int, flip: int, cut: int, junk: bytes) -> None:
    """Bodies close to valid ones reach the deeper parsers: node lists, keys, typed addresses."""
    name, body = REFERENCE_BODIES[index]
    cls = next(cls for cls in CLASSES if cls.__name__ == name)
    damaged = bytearray(body)
    if damaged:
        damaged[position % len(damaged)] ^= flip
    for variant in (bytes(damaged), body[:cut % (len(body) + 1)], body + junk):
        unpack_or_pack_error(cls, variant)


@FUZZ
@given(value=st.binary(max_size=300))
def test_random_values_raise_nothing_but_invalid_value_error(value: bytes) -> None:
    try:
        decoded = decode_value(value)
    except InvalidValueError as exc:
        assert exc.reason in ("empty", "unknown-type", "malformed", "bad-key", "bad-signature")
    else:
        # A random blob only passes as a plain value (forging a signature is not something fuzzing does).
        assert value[0] == 0 and decoded.data == value[1:] and not decoded.signed


def test_node_list_needs_registering_and_rejects_garbage_keys() -> None:
    plain = Serializer()
    with pytest.raises(PackError):
        plain.pack_serializable(ConnectPeerResponsePayload(1, []))
    assert "node-list" not in default_serializer.get_available_formats()  # the shared table stays untouched
    clock = Clock()
    serializer = add_dht_formats(Serializer(), clock)
    node = Node(PUBLIC_KEYS[0], UDPv4Address("198.51.100.1", 5), clock=clock)
    packed = serializer.pack_serializable(ConnectPeerResponsePayload(1, [node]))
    (back,) = serializer.unpack_serializable_list([ConnectPeerResponsePayload], packed)
    assert back.nodes[0].clock is clock and back.nodes[0] == node and back.nodes[0].id == node.id
    private = default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + bytes(64)).key_to_bin()
    garbage = packed[:4] + b"\x01" + packed[5:12] + len(private).to_bytes(2, "big") + private
    with pytest.raises(PackError):
        serializer.unpack_serializable_list([ConnectPeerResponsePayload], garbage)


uint32 = st.integers(0, 2**32 - 1)
digest = st.binary(min_size=20, max_size=20)
values = st.lists(st.binary(max_size=200), max_size=8)
ipv4 = st.builds(lambda n, port: UDPv4Address(".".join(str(n >> s & 255) for s in (24, 16, 8, 0)), port),
                 st.integers(0, 2**32 - 1), st.integers(0, 65535))
ipv6 = st.builds(lambda n, port: UDPv6Address(str(ipaddress.IPv6Address(n)), port),
                 st.integers(0, 2**128 - 1), st.integers(0, 65535))
address = st.one_of(ipv4, ipv6)
nodes = st.lists(st.builds(lambda i, where: Node(PUBLIC_KEYS[i], where, clock=Clock()), st.integers(0, 7), address),
                 max_size=6)
PAYLOAD_STRATEGIES = st.one_of(
    st.builds(PingRequestPayload, uint32), st.builds(PingResponsePayload, uint32),
    st.builds(StoreRequestPayload, uint32, digest, digest, values), st.builds(StoreResponsePayload, uint32),
    st.builds(FindRequestPayload, uint32, address, digest, uint32, st.booleans()),
    st.builds(FindResponsePayload, uint32, digest, values, nodes),
    st.builds(StorePeerRequestPayload, uint32, digest, digest), st.builds(StorePeerResponsePayload, uint32),
    st.builds(ConnectPeerRequestPayload, uint32, address, digest), st.builds(ConnectPeerResponsePayload, uint32, nodes),
    st.builds(StrPayload, st.binary(max_size=200)),
    st.builds(SignedStrPayload, st.binary(max_size=200), uint32, st.binary(max_size=100)))


def address_key(where: tuple) -> tuple:
    """Type, raw address and port: textual forms of one IPv6 address differ (``::1:0`` is ``::0.1.0.0``)."""
    family = socket.AF_INET6 if isinstance(where, UDPv6Address) else socket.AF_INET
    return type(where), socket.inet_pton(family, where[0]), where[1]


def comparable(payload: object) -> dict:
    fields = {}
    for name in type(payload).names:
        value = getattr(payload, name)
        if name == "nodes":
            value = [(node.public_key.key_to_bin(), address_key(node.address)) for node in value]
        elif name == "lan_address":
            value = address_key(value)
        fields[name] = value
    return fields


@ROUND_TRIP
@given(payload=PAYLOAD_STRATEGIES)
def test_random_fields_round_trip(payload: object) -> None:
    packed = dht_serializer.pack_serializable(payload)
    (back,) = dht_serializer.unpack_serializable_list([type(payload)], packed)
    assert comparable(back) == comparable(payload)
