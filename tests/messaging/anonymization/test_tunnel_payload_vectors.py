"""The tunnel messages against what pyipv8 3.2.1 produced (``tunnel_payload_vectors.json``).

See make_tunnel_payload_vectors.py for how the vectors were made. Both directions everywhere: our packing of
the listed fields gives the reference bytes, and our unpacking of the reference bytes gives the listed
fields; the same for cells, peer flags, candidate lists and rendezvous info.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import HEADER_SIZE, split_signed_packet
from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization import payload as tp
from ipv8.messaging.anonymization.payload import (CELL_PAYLOADS, NO_CRYPTO_PACKETS, TUNNEL_PAYLOADS, CellablePayload,
                                                  CellPayload, DestroyPayload, ExtraIntroductionPayload,
                                                  decode_cell_message, encode_cell_message, next_hop_candidates,
                                                  pack_candidate_list, pack_rendezvous_info,
                                                  peer_flags_from_extra_bytes, peer_flags_to_extra_bytes,
                                                  select_candidate_keys, split_candidate_list, tunnel_serializer,
                                                  unpack_candidate_list, unpack_rendezvous_info)
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import PackError

VECTORS = json.loads((Path(__file__).parent / "tunnel_payload_vectors.json").read_text())
KEYS = {name: default_eccrypto.key_from_private_bin(bytes.fromhex(blob)) for name, blob in VECTORS["keys"].items()}
PUBLIC = {name: key.pub().key_to_bin() for name, key in KEYS.items()}
NAME_OF_PUBLIC = {public: name for name, public in PUBLIC.items()}
PREFIX = bytes.fromhex(VECTORS["prefix"])
PAYLOADS = VECTORS["payloads"]
ADDRESS_TYPES = {"v4": UDPv4Address, "v6": UDPv6Address, "host": DomainAddress}
ADDRESS_FIELDS = {"dest_address", "org_address", "node_addr", "rendezvous_point_addr", "address"}


def address(blob: dict) -> tuple:
    return ADDRESS_TYPES[blob["family"]](blob["host"], blob["port"])


def address_json(value: tuple) -> dict:
    family = {cls: name for name, cls in ADDRESS_TYPES.items()}[type(value)]  # the exact type, not just a tuple
    return {"family": family, "host": value[0], "port": value[1]}


def from_json(name: str, value: Any) -> Any:  # noqa: ANN401
    """A field of the vectors as the object our payload classes take."""
    if name in ADDRESS_FIELDS:
        return address(value)
    if name == "peers":
        return [tp.IntroductionInfo(**{key: from_json(key, item) for key, item in entry.items()}) for entry in value]
    if isinstance(value, str):
        return bytes.fromhex(value)
    return value


def to_json(name: str, value: Any) -> Any:  # noqa: ANN401
    """A field of one of our payload objects, written the way the vectors write it."""
    if name in ADDRESS_FIELDS:
        return address_json(value)
    if name == "peers":
        assert all(type(entry) is tp.IntroductionInfo for entry in value)
        return [{key: to_json(key, getattr(entry, key)) for key in tp.IntroductionInfo.names} for entry in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def build(record: dict) -> Any:  # noqa: ANN401
    cls = getattr(tp, record["class"])
    return cls(**{name: from_json(name, value) for name, value in record["fields"].items()})


def fields_of(payload: Any) -> dict:  # noqa: ANN401
    return {name: to_json(name, getattr(payload, name)) for name in type(payload).names}


def test_the_vectors_come_from_the_reference_and_cover_every_message() -> None:
    assert VECTORS["reference"] == "pyipv8 3.2.1"
    assert VECTORS["community_id"] == "81ded07332bdc775aa5a46f96de9f8f390bbc9f3"
    assert PREFIX == b"\x00\x02" + bytes.fromhex(VECTORS["community_id"])
    assert sorted({record["msg_id"] for record in PAYLOADS if "msg_id" in record}) == list(range(1, 21))
    assert sorted(TUNNEL_PAYLOADS) == list(range(1, 21))
    assert {"IntroductionInfo", "RendezvousInfo", "ExtraIntroductionPayload"} <= {r["class"] for r in PAYLOADS}
    for record in PAYLOADS:
        cls = getattr(tp, record["class"])
        if "msg_id" in record:
            assert TUNNEL_PAYLOADS[record["msg_id"]] is cls and cls.msg_id == record["msg_id"]
    assert NO_CRYPTO_PACKETS == VECTORS["no_crypto_packets"]


@pytest.mark.parametrize("record", PAYLOADS, ids=[record["name"] for record in PAYLOADS])
def test_packing_gives_the_reference_bytes(record: dict) -> None:
    assert tunnel_serializer.pack_serializable(build(record)).hex() == record["packed"]


@pytest.mark.parametrize("record", PAYLOADS, ids=[record["name"] for record in PAYLOADS])
def test_unpacking_the_reference_bytes_gives_the_fields(record: dict) -> None:
    cls = getattr(tp, record["class"])
    (payload,) = tunnel_serializer.unpack_serializable_list([cls], bytes.fromhex(record["packed"]))
    assert fields_of(payload) == record["unpacked"]
    # Flags come back lowest first, whatever order they were given in; everything else comes back as given.
    assert payload == build({**record, "fields": record["unpacked"]})
    assert (record["unpacked"] == record["fields"]) is (record["name"] != "extra-introduction/exits")


CELLS = [record for record in PAYLOADS if "cell_message" in record]


def test_exactly_the_cell_messages_have_cell_vectors() -> None:
    assert sorted({record["msg_id"] for record in CELLS}) == sorted(CELL_PAYLOADS)
    for msg_id, cls in TUNNEL_PAYLOADS.items():
        assert issubclass(cls, CellablePayload) == (msg_id not in (13, 14))


@pytest.mark.parametrize("record", CELLS, ids=[record["name"] for record in CELLS])
def test_cells_match_the_reference_both_ways(record: dict) -> None:
    payload = build(record)
    message = bytes.fromhex(record["cell_message"])
    assert encode_cell_message(payload) == message
    for relay_early, packet_hex in enumerate(record["cell_packets"]):
        cell = CellPayload.from_payload(payload, relay_early=bool(relay_early))
        assert cell.plaintext is record["cell_plaintext"]
        packet = bytes.fromhex(packet_hex)
        assert cell.to_bin(PREFIX) == packet
        received = CellPayload.from_bin(packet)
        assert received == cell and received.relay_early is bool(relay_early)
        assert not received.forbidden_plaintext
        assert received.unwrap(PREFIX).hex() == record["unwrapped"]
        assert fields_of(received.decode()) == record["fields"]
    assert decode_cell_message(payload.circuit_id, message) == payload
    # What pyipv8's handlers read: the body at offset 23 of the rebuilt packet.
    unwrapped = bytes.fromhex(record["unwrapped"])
    (again,) = tunnel_serializer.unpack_serializable_list([type(payload)], unwrapped, offset=HEADER_SIZE)
    assert again == payload


OUTER = [record for record in PAYLOADS if "packet" in record]


@pytest.mark.parametrize("record", OUTER, ids=[record["name"] for record in OUTER])
def test_outer_packets_match_the_reference(record: dict) -> None:
    """destroy is signed by its sender (no global time); 13, 14, 17 and 18 may also go out unsigned."""
    payload = build(record)
    packet = bytes.fromhex(record["packet"])
    header = PREFIX + bytes([record["msg_id"]])
    if record["msg_id"] != DestroyPayload.msg_id:
        assert header + tunnel_serializer.pack_serializable(payload) == packet
        (back,) = tunnel_serializer.unpack_serializable_list([type(payload)], packet, offset=HEADER_SIZE)
        assert back == payload
        return
    key = KEYS["alpha"]
    unsigned = header + tunnel_serializer.pack_serializable_list([BinMemberAuthenticationPayload(PUBLIC["alpha"]),
                                                                  payload])
    assert unsigned + key.signature(unsigned) == packet
    key_bin, body_start, signed_part = split_signed_packet(packet)
    assert key_bin == PUBLIC["alpha"]
    (back,) = tunnel_serializer.unpack_serializable_list([DestroyPayload], signed_part[body_start:])
    assert back == payload


CELL_RECORDS = [record for record in VECTORS["cells"] if "on_cell" in record]
SHORT_CELLS = [record for record in VECTORS["cells"] if "from_bin" in record]


@pytest.mark.parametrize("record", CELL_RECORDS, ids=[record["name"] for record in CELL_RECORDS])
def test_cells_are_read_and_dropped_like_the_reference(record: dict) -> None:
    """pyipv8's on_cell passes a cell on, or drops it (plaintext but not create/created)."""
    packet = bytes.fromhex(record["packet"])
    cell = CellPayload.from_bin(packet)
    assert (cell.circuit_id, cell.plaintext, cell.relay_early, cell.message.hex()) == \
        (record["circuit_id"], record["plaintext"], record["relay_early"], record["message"])
    assert cell.forbidden_plaintext is (record["on_cell"] != "passed")
    if not cell.message:
        # pyipv8 fails on an empty plaintext cell (IndexError) and passes on an empty encrypted one as a packet
        # whose message id is the first byte of the circuit id. We refuse both.
        assert record["on_cell"] == ("error" if cell.plaintext else "passed")
        with pytest.raises(PackError):
            cell.unwrap(PREFIX)
        with pytest.raises(PackError):
            cell.decode()
    else:
        assert cell.unwrap(PREFIX).hex() == record["unwrapped"]
    # Canonical flags on the way out (pyipv8 writes the bools it read, so 2 becomes 1).
    canonical = packet[:27] + bytes([bool(packet[27]), bool(packet[28])]) + packet[29:]
    assert cell.to_bin(PREFIX) == canonical


@pytest.mark.parametrize("record", SHORT_CELLS, ids=[record["name"] for record in SHORT_CELLS])
def test_short_cells_are_refused_like_the_reference(record: dict) -> None:
    assert record["from_bin"] == "error"
    with pytest.raises(PackError):
        CellPayload.from_bin(bytes.fromhex(record["packet"]))


def test_peer_flags_match_the_reference() -> None:
    flags = VECTORS["peer_flags"]
    for record in flags["extracted"]:
        assert peer_flags_from_extra_bytes(bytes.fromhex(record["extra"])) == record["flags"]
    for record in flags["refused"]:
        assert record["refused"]
        with pytest.raises(PackError):
            peer_flags_from_extra_bytes(bytes.fromhex(record["extra"]))
    for record in flags["packed"]:
        assert peer_flags_to_extra_bytes(record["flags"]).hex() == record["extra"]
        assert tunnel_serializer.pack("flags", record["flags"]).hex() == record["extra"]
    for record in flags["introductions"]:
        assert record["request_ends_with_extra"]
        assert peer_flags_to_extra_bytes(set(record["peer_flags"])).hex() == record["extra"]
        assert peer_flags_from_extra_bytes(bytes.fromhex(record["extra"])) == record["peer_flags"]
        (payload,) = tunnel_serializer.unpack_serializable_list([ExtraIntroductionPayload],
                                                                bytes.fromhex(record["extra"]))
        assert payload.flags == record["peer_flags"]


@pytest.mark.parametrize("record", VECTORS["candidates"]["join"],
                         ids=[record["name"] for record in VECTORS["candidates"]["join"]])
def test_candidate_lists_are_built_like_the_reference(record: dict) -> None:
    flags_by_key = {PUBLIC[name]: flags for name, flags in record["candidates"].items()}
    keys = select_candidate_keys(flags_by_key)
    assert [NAME_OF_PUBLIC[key] for key in keys] == record["list"]
    assert pack_candidate_list(keys).hex() == record["packed"]
    assert unpack_candidate_list(bytes.fromhex(record["packed"])) == keys


@pytest.mark.parametrize("record", VECTORS["candidates"]["pick"],
                         ids=[record["name"] for record in VECTORS["candidates"]["pick"]])
def test_next_hops_are_picked_like_the_reference(record: dict) -> None:
    keys = unpack_candidate_list(bytes.fromhex(record["packed"]))
    assert [NAME_OF_PUBLIC[key] for key in keys] == record["list"]
    picked = next_hop_candidates(keys, record["become_exit"])
    assert [NAME_OF_PUBLIC[key] for key in picked] == record["picked"]
    relays, exits = split_candidate_list(keys)
    assert picked == (exits if record["become_exit"] else relays or exits)


@pytest.mark.parametrize("record", VECTORS["rendezvous_info"], ids=[r["name"] for r in VECTORS["rendezvous_info"]])
def test_rendezvous_info_matches_the_reference(record: dict) -> None:
    info = tp.RendezvousInfo(**{name: from_json(name, value) for name, value in record["fields"].items()})
    assert pack_rendezvous_info(info).hex() == record["packed"]
    back = unpack_rendezvous_info(bytes.fromhex(record["packed"]))
    assert back == info and fields_of(back) == record["unpacked"]


@pytest.mark.parametrize("record", VECTORS["rejected"], ids=[record["name"] for record in VECTORS["rejected"]])
def test_damaged_bodies_are_refused_like_the_reference(record: dict) -> None:
    """pyipv8 refuses each (one of them with a bare struct.error); we refuse with PackError only."""
    assert record["refused"]
    with pytest.raises(PackError):
        tunnel_serializer.unpack_serializable(getattr(tp, record["class"]), bytes.fromhex(record["body"]))
