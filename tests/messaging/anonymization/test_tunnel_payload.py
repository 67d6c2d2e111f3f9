"""Behaviour of the tunnel payload helpers that the reference vectors do not pin down on their own.

Cells (plaintext and relay_early rules, malformed datagrams), the cell message helpers with application
payloads, hostile or impossible field values, candidate lists, peer flags and the ``flags`` format.
"""
from __future__ import annotations

import pytest

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization.payload import (CELL_HEADER_SIZE, CELL_PAYLOADS, DESTROY_REASONS, NO_CRYPTO_PACKETS,
                                                  PLAINTEXT_MSG_IDS, TUNNEL_PAYLOADS, CellablePayload, CellPayload,
                                                  CreatedE2EPayload, CreateE2EPayload, CreatePayload, DataPayload,
                                                  ExtendPayload, ExtraIntroductionPayload, Flags, IntroductionInfo,
                                                  PeersResponsePayload, PingPayload, RendezvousInfo, TestRequestPayload,
                                                  add_tunnel_formats, build_candidate_list, decode_cell_message,
                                                  encode_cell_message, next_hop_candidates, pack_candidate_list,
                                                  pack_rendezvous_info, peer_flags_from_extra_bytes,
                                                  peer_flags_to_extra_bytes, select_candidate_keys,
                                                  split_candidate_list, tunnel_serializer, unpack_candidate_list,
                                                  unpack_rendezvous_info)
from ipv8.messaging.anonymization.tunnel import (DESTROY_REASON_SHUTDOWN, DESTROY_REASON_UNKNOWN,
                                                 DESTROY_REASON_UNNEEDED, PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8,
                                                 PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST)
from ipv8.messaging.lazy_payload import VariablePayloadWID, vp_compile
from ipv8.messaging.serialization import ADDRESS_TYPE_DOMAIN_NAME, PackError, Serializer, default_serializer

PREFIX = b"\x00\x02" + bytes.fromhex("81ded07332bdc775aa5a46f96de9f8f390bbc9f3")
V4 = UDPv4Address("203.0.113.5", 7001)


@vp_compile
class HTTPRequestPayload(CellablePayload):
    """An application's own cell message, written the pyipv8 way (Tribler has ones like it)."""

    msg_id = 28
    names = ["circuit_id", "identifier", "target", "request"]
    format_list = ["I", "I", "address", "varlenH"]


# -- cells -----------------------------------------------------------------------------------------------------
def cell_packet(inner: bytes, plaintext: int = 0, relay_early: int = 0, circuit_id: int = 7) -> bytes:
    return PREFIX + b"\x00" + circuit_id.to_bytes(4, "big") + bytes([plaintext, relay_early]) + inner


@pytest.mark.parametrize("inner", range(256))
def test_only_create_and_created_may_come_in_plaintext(inner: int) -> None:
    plain = CellPayload.from_bin(cell_packet(bytes([inner, 0, 0]), plaintext=1))
    encrypted = CellPayload.from_bin(cell_packet(bytes([inner, 0, 0]), plaintext=0))
    assert plain.forbidden_plaintext is (inner not in (2, 3))
    assert not encrypted.forbidden_plaintext
    assert plain.inner_msg_id == encrypted.inner_msg_id == inner


def test_the_plaintext_ids_are_create_and_created() -> None:
    assert NO_CRYPTO_PACKETS == [CreatePayload.msg_id, 3] == [2, 3]
    assert PLAINTEXT_MSG_IDS == {2, 3}
    assert CellPayload.from_payload(CreatePayload(1, 2, b"k", b"x")).plaintext is True
    assert CellPayload.from_payload(PingPayload(1, 2)).plaintext is False


def test_an_empty_plaintext_cell_is_forbidden_and_holds_nothing() -> None:
    cell = CellPayload.from_bin(cell_packet(b"", plaintext=1))
    assert len(cell_packet(b"")) == CELL_HEADER_SIZE
    assert cell.forbidden_plaintext and cell.inner_msg_id is None and not cell.missing_relay_early
    for action in (lambda: cell.unwrap(PREFIX), cell.decode):
        with pytest.raises(PackError):
            action()


def test_extend_needs_relay_early() -> None:
    extend = encode_cell_message(ExtendPayload(7, 1, b"key", b"x" * 32, UDPv4Address("0.0.0.0", 0)))
    assert CellPayload.from_bin(cell_packet(extend)).missing_relay_early
    assert not CellPayload.from_bin(cell_packet(extend, relay_early=1)).missing_relay_early
    ping = encode_cell_message(PingPayload(7, 1))
    assert not CellPayload.from_bin(cell_packet(ping)).missing_relay_early


def test_datagrams_that_are_not_cells_are_refused() -> None:
    with pytest.raises(PackError, match="at least 29"):
        CellPayload.from_bin(cell_packet(b"")[:-1])
    with pytest.raises(PackError, match="not a cell"):
        CellPayload.from_bin(PREFIX + b"\x08" + bytes(20))


def test_cell_headers_that_do_not_fit_are_refused() -> None:
    for circuit_id in (-1, 2**32):
        with pytest.raises(PackError):
            CellPayload(circuit_id, b"\x06").to_bin(PREFIX)
    with pytest.raises(PackError):
        CellPayload.from_payload(PingPayload(2**32, 1))


def test_cells_compare_by_value_and_are_not_hashable() -> None:
    assert CellPayload(1, b"x", 1, 0) == CellPayload(1, b"x", True, False)
    assert CellPayload(1, b"x") != CellPayload(1, b"y")
    assert CellPayload(1, b"x") != "cell"
    with pytest.raises(TypeError):
        hash(CellPayload(1, b"x"))
    assert "3 bytes" in repr(CellPayload(1, b"abc"))


def test_application_cell_payloads_travel_like_ours() -> None:
    request = HTTPRequestPayload(99, 5, DomainAddress("example.invalid", 80), b"GET / HTTP/1.1\r\n\r\n")
    cell = CellPayload.from_payload(request, relay_early=True)
    assert not cell.plaintext and cell.relay_early
    assert cell.message[0] == 28 and cell.message[1:5] == (5).to_bytes(4, "big")
    received = CellPayload.from_bin(cell.to_bin(PREFIX))
    with pytest.raises(PackError, match="no cell message has id 28"):
        received.decode()
    back = received.decode(classes={**CELL_PAYLOADS, 28: HTTPRequestPayload})
    assert back == request
    unwrapped = received.unwrap(PREFIX)
    assert unwrapped[22] == 28 and unwrapped[23:27] == (99).to_bytes(4, "big")


def test_a_legacy_payload_with_a_leading_circuit_id_can_be_a_cell_message() -> None:
    @vp_compile
    class Plain(VariablePayloadWID):
        msg_id = 40
        names = ["circuit_id", "value"]
        format_list = ["I", "H"]

    assert encode_cell_message(Plain(3, 4)) == b"\x28\x00\x04"
    assert decode_cell_message(3, b"\x28\x00\x04", classes={40: Plain}) == Plain(3, 4)
    assert decode_cell_message(3, bytearray(b"\x28\x00\x04"), classes={40: Plain}) == Plain(3, 4)

    @vp_compile
    class TooBig(CellablePayload):
        msg_id = 300
        names = ["circuit_id"]
        format_list = ["I"]

    with pytest.raises(PackError, match="one-byte message id"):
        encode_cell_message(TooBig(1))


@pytest.mark.parametrize("payload", [CreateE2EPayload(1, bytes(20), b"k", b"x"),
                                     CreatedE2EPayload(1, b"x", bytes(32), b"")])
def test_messages_without_circuit_id_are_never_cells(payload: object) -> None:
    assert type(payload).msg_id not in CELL_PAYLOADS
    with pytest.raises(TypeError):
        encode_cell_message(payload)
    packed = tunnel_serializer.pack_serializable(payload)
    with pytest.raises(PackError):
        decode_cell_message(1, bytes([type(payload).msg_id]) + packed)


def test_destroy_is_never_a_cell_message() -> None:
    assert 8 in TUNNEL_PAYLOADS and 8 not in CELL_PAYLOADS
    with pytest.raises(PackError, match="no cell message has id 8"):
        decode_cell_message(1, b"\x08\x00\x02")
    assert DESTROY_REASONS == {DESTROY_REASON_UNKNOWN: "unknown", DESTROY_REASON_SHUTDOWN: "shutdown",
                               DESTROY_REASON_UNNEEDED: "unneeded"} == {1: "unknown", 2: "shutdown", 4: "unneeded"}


def test_trailing_bytes_are_refused_unless_lenient() -> None:
    message = encode_cell_message(PingPayload(5, 6)) + b"junk"
    with pytest.raises(PackError, match="unexpected bytes"):
        decode_cell_message(5, message)
    assert decode_cell_message(5, message, strict=False) == PingPayload(5, 6)


# -- hostile or impossible field values -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [0, 4, 5, 0x7F, 0xFF])
def test_unknown_address_types_fail_cleanly(kind: int) -> None:
    good = tunnel_serializer.pack_serializable(DataPayload(1, V4, V4, b"data"))
    for body in (good[:4] + bytes([kind]) + good[5:], good[:11] + bytes([kind]) + good[12:]):
        with pytest.raises(PackError, match="unknown address type"):
            decode_cell_message(1, b"\x01" + body[4:])


def test_host_names_only_where_pyipv8_allows_them() -> None:
    name = DomainAddress("tracker.example", 6969)
    data = DataPayload(1, name, name, b"")
    assert decode_cell_message(1, encode_cell_message(data)) == data
    for payload in (ExtendPayload(1, 2, b"k", b"x", name), IntroductionInfo(name, b"k", b"", 0),
                    RendezvousInfo(name, b"k", bytes(20))):
        with pytest.raises(PackError):
            tunnel_serializer.pack_serializable(payload)
    extend = tunnel_serializer.pack_serializable(ExtendPayload(1, 2, b"k", b"x", V4))
    forged = extend[:-7] + bytes([ADDRESS_TYPE_DOMAIN_NAME]) + b"\x00\x01a\x00\x01"
    with pytest.raises(PackError, match="unknown address type"):
        tunnel_serializer.unpack_serializable_list([ExtendPayload], forged)


def test_lengths_are_bounded_by_the_data() -> None:
    data = tunnel_serializer.pack_serializable(DataPayload(1, DomainAddress("h", 1), V4, b""))
    claims_more = data[:5] + b"\xff\xff" + data[7:]
    with pytest.raises(PackError):
        tunnel_serializer.unpack_serializable_list([DataPayload], claims_more)
    with pytest.raises(PackError):
        tunnel_serializer.unpack_serializable_list([CreatePayload], b"\x00\x00\x00\x01\x00\x01\xff\xff")
    peers = tunnel_serializer.pack_serializable(PeersResponsePayload(1, 2, bytes(20), []))
    with pytest.raises(PackError):
        tunnel_serializer.unpack_serializable_list([PeersResponsePayload], peers[:-1] + b"\xff")


def test_values_that_do_not_fit_their_formats_are_refused_when_packing() -> None:
    too_long_name = DomainAddress("x" * 65536, 1)
    bad = [DataPayload(1, too_long_name, V4, b""), DataPayload(1, V4, V4, "text"),
           TestRequestPayload(1, 2, 65536, b""), PingPayload(1, -1),
           CreatePayload(1, 2, bytes(65536), b""), PeersResponsePayload(1, 2, bytes(20), [
               IntroductionInfo(V4, b"k", b"", 0)] * 256)]
    for payload in bad:
        with pytest.raises(PackError):
            tunnel_serializer.pack_serializable(payload)
    # Fixed-size byte fields are struct "20s"/"32s": padded or cut to size, as in pyipv8 (not an error).
    short_hash = tunnel_serializer.pack_serializable(PeersResponsePayload(1, 2, bytes(range(1, 20)), []))
    assert short_hash[6:26] == bytes(range(1, 20)) + b"\x00"


def test_ipv6_and_unusual_ports_survive() -> None:
    payload = DataPayload(0, UDPv6Address("::ffff:1.2.3.4", 0), UDPv6Address("fe80::1", 65535), bytes(1500))
    back = decode_cell_message(0, encode_cell_message(payload))
    assert back == payload and type(back.dest_address) is UDPv6Address


# -- peer flags -----------------------------------------------------------------------------------------------
def test_peer_flags_in_introductions() -> None:
    flags = {PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST}
    assert peer_flags_to_extra_bytes(flags) == b"\x00\x09"
    assert peer_flags_from_extra_bytes(b"\x00\x09") == [PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST]
    every = [PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST]
    assert peer_flags_from_extra_bytes(peer_flags_to_extra_bytes(reversed(every))) == every
    assert peer_flags_from_extra_bytes(b"") == []
    assert peer_flags_from_extra_bytes(b"\x00\x01trailing") == [1]
    with pytest.raises(PackError):
        peer_flags_from_extra_bytes(b"\x01")


@pytest.mark.parametrize("flags", [[-1], [65536], ["1"], [1.0], 5])
def test_flags_that_cannot_be_packed(flags: object) -> None:
    with pytest.raises(PackError):
        tunnel_serializer.pack_serializable(ExtraIntroductionPayload(flags))


def test_flags_is_registered_only_where_asked() -> None:
    assert "flags" not in default_serializer.get_available_formats()
    with pytest.raises(PackError):
        Serializer().pack_serializable(ExtraIntroductionPayload([1]))
    own = add_tunnel_formats(Serializer())
    assert own.pack_serializable(ExtraIntroductionPayload([1])) == b"\x00\x01"
    assert "flags" not in default_serializer.get_available_formats()
    wide = Flags(">I")
    assert wide.pack([1 << 31]) == b"\x80\x00\x00\x00"
    values: list = []
    assert wide.unpack(b"\x00\x80\x00\x00\x01", 1, values) == 5
    assert values == [[1, 1 << 31]]


# -- candidate lists and rendezvous info --------------------------------------------------------------------------
def test_candidate_list_layout() -> None:
    relays = [b"r%d" % index for index in range(6)]
    exits = [b"e%d" % index for index in range(6)]
    listing = build_candidate_list(relays, exits)
    assert listing == relays[:4] + [b"e0"] + exits[:4]
    assert split_candidate_list(listing) == (relays[:4], exits[:4])
    assert build_candidate_list(relays, []) == relays[:4]
    assert build_candidate_list([], exits, limit=1) == [b"e0", b"e0"]
    assert next_hop_candidates(listing, become_exit=True) == exits[:4]
    assert next_hop_candidates(listing, become_exit=False) == relays[:4]
    assert next_hop_candidates(build_candidate_list([], exits), become_exit=False) == exits[:4]


def test_candidates_are_chosen_by_their_flags() -> None:
    flags_by_key = {b"relay": [1], b"speed": [1, 8], b"ipv8-exit": [1, 4], b"exit": [1, 2], b"exit-only": [2],
                    b"silent": [], b"exit2": [2, 1, 4]}
    assert select_candidate_keys(flags_by_key) == [b"relay", b"speed", b"ipv8-exit", b"exit", b"exit", b"exit2"]
    assert select_candidate_keys({}) == []


def test_candidate_list_bytes_are_checked() -> None:
    keys = [bytes([index]) * 74 for index in range(3)]
    packed = pack_candidate_list(keys)
    assert unpack_candidate_list(packed) == keys
    for damaged in (packed + b"\x00", packed[:-1], b"", b"\x05\x00\x01a"):
        with pytest.raises(PackError):
            unpack_candidate_list(damaged)
    with pytest.raises(PackError, match="at most 255"):
        pack_candidate_list([b"k"] * 256)
    assert unpack_candidate_list(pack_candidate_list([b"k"] * 255)) == [b"k"] * 255


def test_rendezvous_info_bytes_are_checked() -> None:
    info = RendezvousInfo(V4, b"key", bytes(range(20)))
    packed = pack_rendezvous_info(info)
    assert packed[:2] == (len(packed) - 2).to_bytes(2, "big")
    assert unpack_rendezvous_info(packed) == info
    for damaged in (packed + b"\x00", packed[:-1], b"", packed[:2] + b"\x04" + packed[3:],
                    (len(packed) - 1).to_bytes(2, "big") + packed[2:] + b"\x00"):
        with pytest.raises(PackError):
            unpack_rendezvous_info(damaged)
