"""Property tests of the DHT's handlers: any validly signed DHT message, well-formed or not, is handled or dropped and
counted, never crashes a handler, never makes the node send to an unusable address, and leaves the node working.

(``tests/dht/test_payload_fuzz.py`` fuzzes the decoders on their own; this file goes through the whole overlay.)
"""
from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipv8.dht.payload import (ConnectPeerRequestPayload, ConnectPeerResponsePayload, FindRequestPayload,
                              FindResponsePayload, PingRequestPayload, PingResponsePayload, StorePeerRequestPayload,
                              StorePeerResponsePayload, StoreRequestPayload, StoreResponsePayload, encode_value)
from ipv8.dht.routing import Node
from ipv8.messaging.address_hygiene import is_usable
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import default_serializer

from .attacker import harness, keys
from .dht_attacker import KEY, dht_network, dht_node, forge_dht, meet, settled

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

uint32 = st.integers(0, 2**32 - 1)
digest = st.one_of(st.just(KEY), st.binary(min_size=20, max_size=20))
values = st.lists(st.one_of(st.binary(max_size=200), st.builds(encode_value, st.binary(max_size=170))), max_size=12)
ipv4 = st.builds(lambda n, port: UDPv4Address(str(ipaddress.IPv4Address(n)), port), st.integers(0, 2**32 - 1),
                 st.sampled_from([0, 1, 8000, 65535]))
ipv6 = st.builds(lambda n, port: UDPv6Address(str(ipaddress.IPv6Address(n)), port), st.integers(0, 2**128 - 1),
                 st.sampled_from([0, 8000]))
special = st.sampled_from([UDPv4Address("0.0.0.0", 0), UDPv4Address("127.0.0.1", 8000),
                           UDPv4Address("255.255.255.255", 8000), UDPv4Address("224.0.0.1", 8000),
                           UDPv6Address("::", 8000), UDPv6Address("::1", 8000), UDPv6Address("ff02::1", 8000)])
address = st.one_of(ipv4, ipv6, special)
nodes = st.lists(st.builds(lambda index, where: Node(keys(8)[index][1], where), st.integers(0, 7), address),
                 max_size=12)
identifier = st.one_of(uint32, st.integers(0, 3))
PAYLOADS = st.one_of(
    st.builds(PingRequestPayload, identifier), st.builds(PingResponsePayload, identifier),
    st.builds(StoreRequestPayload, identifier, digest, digest, values), st.builds(StoreResponsePayload, identifier),
    st.builds(FindRequestPayload, identifier, address, digest, uint32, st.booleans()),
    st.builds(FindResponsePayload, identifier, digest, values, nodes),
    st.builds(StorePeerRequestPayload, identifier, digest, digest), st.builds(StorePeerResponsePayload, identifier),
    st.builds(ConnectPeerRequestPayload, identifier, address, digest),
    st.builds(ConnectPeerResponsePayload, identifier, nodes))
SOURCES = st.one_of(st.builds(lambda n: UDPv4Address(f"198.18.{200 + n // 250}.{n % 250 + 1}", 40_000 + n),
                              st.integers(0, 999)),
                    st.builds(lambda n: UDPv6Address(f"2001:db8::{n:x}", 40_000 + n), st.integers(1, 999)))


@FUZZ
@given(messages=st.lists(st.tuples(PAYLOADS, st.one_of(st.integers(0, 7), st.just(8)), SOURCES, st.booleans()),
                        min_size=1, max_size=8))
def test_any_well_formed_dht_message_is_handled_or_counted(messages: list) -> None:
    """Up to eight random well-formed DHT messages (all ten kinds, random fields, garbage addresses and values),
    signed by random keys or by the very node the target is asking, sent from random IPv4 and IPv6 addresses,
    often with the identifier of a request the target has outstanding: no handler fails, nothing is sent to an
    unusable address, and afterwards the node still answers a ping and completes a lookup."""
    with harness() as h:
        target, helper = dht_network(h, 2)
        sent_to: list[tuple] = []
        send = target.endpoint.send

        def watching(where: tuple, packet: bytes) -> None:
            sent_to.append(where)
            send(where, packet)
        target.endpoint.send = watching
        lookup = target.overlay.find_nodes(b"\x55" * 20)  # outstanding: fuzzed answers may hit its identifiers
        for payload, signer, source, aimed in messages:
            # Signer 8 is the node the lookup asked: its garbage answers get past the key check.
            key, key_bin = (helper.overlay.my_peer.key, helper.key_bin) if signer == 8 else keys(8)[signer]
            pending = sorted(cache.number for cache in target.overlay._pending)
            if aimed and pending and hasattr(payload, "identifier"):
                payload.identifier = pending[0]
            target.overlay.on_packet((source, forge_dht(target, key, key_bin, payload)))
        h.pump()
        settled(h, lookup)
        assert target.decode_failures() == {}
        assert [where for where in sent_to if not is_usable(where)] == []

        newcomer = dht_node(h)
        meet(h, newcomer, target)
        found = settled(h, newcomer.overlay.find_nodes(b"\x66" * 20))
        assert target.key_bin in {node.public_key.key_to_bin() for node in found}


@FUZZ
@given(msg_id=st.integers(1, 10), body=st.binary(max_size=300), signer=st.integers(0, 7))
def test_random_bodies_in_a_signed_envelope_are_counted_as_malformed(msg_id: int, body: bytes, signer: int) -> None:
    """A correctly signed DHT message whose body is random bytes is dropped as ``malformed`` (or handled, if the
    bytes happen to decode); it never fails a handler, and the node still answers a ping afterwards."""
    with harness() as h:
        target = dht_node(h)
        key, key_bin = keys(8)[signer]
        packet = (target.prefix + bytes((msg_id,))
                  + default_serializer.pack_serializable(BinMemberAuthenticationPayload(key_bin)) + body)
        packet += key.signature(packet)
        target.overlay.on_packet((UDPv4Address("198.18.201.1", 40_001), packet))
        h.pump()
        assert target.overlay.drop_counts["handler-error"] == 0
        assert set(target.decode_failures()) <= {"malformed"}
        other = dht_node(h)
        meet(h, other, target)
