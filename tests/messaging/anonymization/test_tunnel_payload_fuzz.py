"""Property tests for every tunnel payload: random bytes fail only with PackError; random fields round-trip.

Covers the payload classes, cells (datagram -> cell -> inner payload), peer flags, candidate lists and
rendezvous info.
"""
from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization import payload as tp
from ipv8.messaging.anonymization.payload import (CELL_PAYLOADS, TUNNEL_PAYLOADS, CellPayload, ExtraIntroductionPayload,
                                                  IntroductionInfo, RendezvousInfo, decode_cell_message,
                                                  encode_cell_message, pack_candidate_list, pack_rendezvous_info,
                                                  peer_flags_from_extra_bytes, peer_flags_to_extra_bytes,
                                                  split_candidate_list, tunnel_serializer, unpack_candidate_list,
                                                  unpack_rendezvous_info)
from ipv8.messaging.serialization import PackError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLASSES = [*TUNNEL_PAYLOADS.values(), IntroductionInfo, RendezvousInfo, ExtraIntroductionPayload]
PREFIX = b"\x00\x02" + bytes.fromhex("81ded07332bdc775aa5a46f96de9f8f390bbc9f3")
VECTORS = json.loads((Path(__file__).parent / "tunnel_payload_vectors.json").read_text())
REFERENCE_BODIES = [(getattr(tp, record["class"]), bytes.fromhex(record["packed"])) for record in VECTORS["payloads"]]
REFERENCE_CELLS = [bytes.fromhex(packet) for record in VECTORS["payloads"] for packet in record.get("cell_packets", [])]


def unpack_or_pack_error(cls: type, data: bytes) -> None:
    try:
        tunnel_serializer.unpack_serializable_list([cls], data)
    except PackError:
        pass


@pytest.mark.parametrize("cls", CLASSES, ids=[cls.__name__ for cls in CLASSES])
@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_nothing_but_pack_error(cls: type, data: bytes) -> None:
    unpack_or_pack_error(cls, data)


@FUZZ
@given(index=st.integers(0, len(REFERENCE_BODIES) - 1), position=st.integers(0, 10_000), flip=st.integers(1, 255),
       cut=st.integers(0, 10_000), junk=st.binary(max_size=8))
def test_damaged_reference_bodies_raise_nothing_but_pack_error(  # noqa: PLR0913
        index: int, position: int, flip: int, cut: int, junk: bytes) -> None:
    """Bodies close to valid ones reach the deeper parsers: address types, host names, introduction lists."""
    cls, body = REFERENCE_BODIES[index]
    damaged = bytearray(body)
    if damaged:
        damaged[position % len(damaged)] ^= flip
    for variant in (bytes(damaged), body[:cut % (len(body) + 1)], body + junk):
        unpack_or_pack_error(cls, variant)


def read_cell(packet: bytes) -> None:
    """Everything a receiver does with a datagram that claims to be a cell; only PackError may come out."""
    try:
        cell = CellPayload.from_bin(packet)
    except PackError:
        return
    assert cell.to_bin(PREFIX)[23:] == packet[23:27] + bytes([bool(packet[27]), bool(packet[28])]) + packet[29:]
    assert cell.forbidden_plaintext is (bool(cell.plaintext) and cell.inner_msg_id not in (2, 3))
    assert isinstance(cell.missing_relay_early, bool)
    try:
        unwrapped = cell.unwrap(PREFIX)
        assert unwrapped[:22] == PREFIX and unwrapped[22] == cell.inner_msg_id
    except PackError:
        assert not cell.message
    try:
        payload = cell.decode()
    except PackError:
        return
    assert type(payload).msg_id == cell.inner_msg_id and payload.circuit_id == cell.circuit_id
    if not any(isinstance(getattr(payload, name), DomainAddress) for name in type(payload).names):
        assert encode_cell_message(payload) == cell.message  # a body that parses exactly is canonical
        return
    # A host name is taken as sent (as pyipv8 does): it may be an IP literal (re-encoded as type 1 or 3) or
    # hold characters no resolver accepts (a NUL: not re-encodable). The exit vets names before using them.
    try:
        encode_cell_message(payload)
    except PackError:
        pass


@FUZZ
@given(header=st.binary(min_size=0, max_size=30), inner=st.sampled_from([*CELL_PAYLOADS, 0, 8, 13, 14, 21, 255]),
       rest=st.binary(max_size=120))
def test_random_cells_raise_nothing_but_pack_error(header: bytes, inner: int, rest: bytes) -> None:
    read_cell(header)
    read_cell(PREFIX + b"\x00" + header[:6].ljust(6, b"\x00") + bytes([inner]) + rest)


@FUZZ
@given(index=st.integers(0, len(REFERENCE_CELLS) - 1), position=st.integers(23, 10_000), flip=st.integers(1, 255),
       cut=st.integers(0, 10_000))
def test_damaged_reference_cells_raise_nothing_but_pack_error(index: int, position: int, flip: int, cut: int) -> None:
    packet = REFERENCE_CELLS[index]
    damaged = bytearray(packet)
    damaged[23 + position % (len(damaged) - 23)] ^= flip
    read_cell(bytes(damaged))
    read_cell(packet[:cut % (len(packet) + 1)])


@FUZZ
@given(data=st.binary(max_size=80))
def test_random_side_structures_raise_nothing_but_pack_error(data: bytes) -> None:
    for decode in (unpack_candidate_list, unpack_rendezvous_info, peer_flags_from_extra_bytes):
        try:
            decode(data)
        except PackError:
            pass


# -- round trips ----------------------------------------------------------------------------------------------
def _not_an_ip(text: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return False
        except (OSError, ValueError):
            pass
    return True


uint32 = st.integers(0, 2**32 - 1)
uint16 = st.integers(0, 2**16 - 1)
port = uint16
blob = st.binary(max_size=200)
digest = st.binary(min_size=20, max_size=20)
auth = st.binary(min_size=32, max_size=32)
ipv4 = st.builds(lambda n, p: UDPv4Address(str(ipaddress.IPv4Address(n)), p), uint32, port)
ipv6 = st.builds(lambda n, p: UDPv6Address(str(ipaddress.IPv6Address(n)), p), st.integers(0, 2**128 - 1), port)
host = st.builds(DomainAddress, st.text(st.characters(blacklist_categories=("Cs",)), max_size=40).filter(_not_an_ip),
                 port)
ip_address = st.one_of(ipv4, ipv6)
any_address = st.one_of(ipv4, ipv6, host)
infos = st.lists(st.builds(IntroductionInfo, ip_address, blob, blob, st.integers(0, 255)), max_size=5)
FIELDS = {
    1: (uint32, any_address, any_address, st.binary(max_size=1500)),
    2: (uint32, uint16, blob, blob), 3: (uint32, uint16, blob, auth, blob), 4: (uint32, uint16, blob, blob, ip_address),
    5: (uint32, uint16, blob, auth, blob), 6: (uint32, uint16), 7: (uint32, uint16), 8: (uint32, uint16),
    9: (uint32, uint16, digest, blob), 10: (uint32, uint16), 11: (uint32, uint16, digest),
    12: (uint32, uint16, ip_address), 13: (uint16, digest, blob, blob), 14: (uint16, blob, auth, blob),
    15: (uint32, uint16, digest), 16: (uint32, uint16), 17: (uint32, uint16, digest),
    18: (uint32, uint16, digest, infos), 19: (uint32, uint16, uint16, blob), 20: (uint32, uint16, blob),
}
PAYLOADS = st.one_of(*[st.builds(TUNNEL_PAYLOADS[msg_id], *fields) for msg_id, fields in FIELDS.items()],
                     st.builds(RendezvousInfo, ip_address, blob, digest))


def address_key(where: tuple) -> tuple:
    """Type, raw address and port: textual forms of one IPv6 address differ (``::1:0`` is ``::0.1.0.0``)."""
    if isinstance(where, DomainAddress):
        return DomainAddress, where[0], where[1]
    family = socket.AF_INET6 if isinstance(where, UDPv6Address) else socket.AF_INET
    return type(where), socket.inet_pton(family, where[0]), where[1]


def comparable(value: object) -> object:
    if isinstance(value, tuple):
        return address_key(value)
    if isinstance(value, list):
        return [comparable(item) for item in value]
    if hasattr(type(value), "names"):
        return {name: comparable(getattr(value, name)) for name in type(value).names}
    return value


def test_every_message_has_a_strategy() -> None:
    assert sorted(FIELDS) == sorted(TUNNEL_PAYLOADS)


@ROUND_TRIP
@given(payload=PAYLOADS)
def test_random_fields_round_trip(payload: object) -> None:
    packed = tunnel_serializer.pack_serializable(payload)
    (back,) = tunnel_serializer.unpack_serializable_list([type(payload)], packed)
    assert comparable(back) == comparable(payload)


@ROUND_TRIP
@given(payload=PAYLOADS, relay_early=st.booleans())
def test_random_cells_round_trip(payload: object, relay_early: bool) -> None:
    if type(payload).__dict__.get("msg_id") not in CELL_PAYLOADS:
        return
    cell = CellPayload.from_payload(payload, relay_early=relay_early)
    packet = cell.to_bin(PREFIX)
    received = CellPayload.from_bin(packet)
    assert received == cell and received.relay_early is relay_early and not received.forbidden_plaintext
    assert comparable(received.decode()) == comparable(payload)
    assert comparable(decode_cell_message(cell.circuit_id, cell.message)) == comparable(payload)


@ROUND_TRIP
@given(bits=st.sets(st.integers(0, 15)))
def test_peer_flags_round_trip(bits: set) -> None:
    flags = [1 << bit for bit in bits]
    extra = peer_flags_to_extra_bytes(flags)
    assert len(extra) == 2 and int.from_bytes(extra, "big") == sum(flags)
    assert peer_flags_from_extra_bytes(extra) == sorted(flags)


@ROUND_TRIP
@given(relays=st.lists(st.binary(min_size=1, max_size=80), max_size=8, unique=True),
       exits=st.lists(st.binary(min_size=1, max_size=80), max_size=8, unique=True))
def test_candidate_lists_round_trip(relays: list, exits: list) -> None:
    relays = [key for key in relays if key not in exits]
    listing = tp.build_candidate_list(relays, exits)
    assert unpack_candidate_list(pack_candidate_list(listing)) == listing
    # Distinct keys: the split finds exactly the boundary the builder marked.
    assert split_candidate_list(listing) == (relays[:4], exits[:4])


@ROUND_TRIP
@given(info=st.builds(RendezvousInfo, ip_address, blob, digest))
def test_rendezvous_info_round_trips(info: RendezvousInfo) -> None:
    assert comparable(unpack_rendezvous_info(pack_rendezvous_info(info))) == comparable(info)
