"""Record what pyipv8 3.2.1 puts on the wire for its tunnel messages, for ``test_tunnel_payload_vectors.py``.

Run it ONLY with the reference interpreter (pyipv8 3.2.1 installed as ``ipv8``); it refuses anything else::

    .venv-ref/bin/python tests/messaging/anonymization/make_tunnel_payload_vectors.py \
        tests/messaging/anonymization/tunnel_payload_vectors.json                    (part of `make vectors`)

Every input is fixed (keys from fixed seeds, addresses, identifiers) and curve25519 signatures are
deterministic, so running it twice writes the same file. Sections of the JSON document:

* ``keys``: private keys (hex of the binary form) that the other sections name;
* ``payloads``: every tunnel payload class packed from the listed fields (``packed``) and what pyipv8 unpacks
  from those bytes (``unpacked``). Cell-borne messages also record what ``TunnelCommunity.send_cell`` hands
  to its crypto endpoint (``cell_message``, ``cell_plaintext``), the complete cell with relay_early off and
  on (``cell_packets``) and the packet a receiver rebuilds from it (``unwrapped``). The destroy message has
  its complete signed ``packet`` (signer ``alpha``), the hidden-service messages that may travel as
  ordinary packets their unsigned ``packet``;
* ``cells``: hand-made cell packets, what ``CellPayload.from_bin`` reads from them, and whether
  ``TunnelCommunity.on_cell`` passes them on (it drops plaintext cells that are not create/created);
* ``peer_flags``: the ``flags`` format (``ExtraIntroductionPayload``), what ``extract_peer_flags`` makes
  of raw extra bytes, and the extra bytes the community really puts in its introduction messages;
* ``candidates``: the candidate list a joining relay packs into created (``join_circuit`` with the
  key exchange stubbed out so the list is visible), and which candidates the initiator picks from a
  list (``_ours_on_created_extended``, likewise stubbed);
* ``rendezvous_info``: ``RendezvousInfo`` as hidden services pack it (the ``payload`` format);
* ``rejected``: damaged bodies, whether pyipv8's serializer refuses them and with which exception.

Encodings: bytes are hex strings; an address is ``{"family": "v4" | "v6" | "host", "host": ..., "port": ...}``;
a list of introduction infos is a list of objects. This script only drives pyipv8; none of its code is
part of txipv8.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sys
from pathlib import Path

REFERENCE_DISTRIBUTION = "pyipv8"
REFERENCE_VERSION = "3.2.1"
SCRIPT = "tests/messaging/anonymization/make_tunnel_payload_vectors.py"


sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.reference_interpreter import require_reference  # noqa: E402

require_reference(__file__, ".venv-ref/bin/python tests/messaging/anonymization/make_tunnel_payload_vectors.py tests/messaging/anonymization/tunnel_payload_vectors.json")

# pylint: disable=wrong-import-position
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.anonymization import payload as tp  # noqa: E402
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings  # noqa: E402
from ipv8.messaging.anonymization.tunnel import Circuit, Hop  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import DomainAddress, UDPv4Address, UDPv6Address  # noqa: E402
from ipv8.messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload,  # noqa: E402
                                    NewIntroductionRequestPayload)
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload  # noqa: E402
from ipv8.messaging.serialization import PackError  # noqa: E402
from ipv8.peer import Peer  # noqa: E402
from ipv8.peerdiscovery.network import Network  # noqa: E402
from ipv8.test.mocking.endpoint import MockEndpoint  # noqa: E402

KEY_NAMES = ("alpha", "beta", "gamma", "delta", "r1", "r2", "r3", "r4", "r5", "r6", "e1", "e2", "e3", "e4", "e5",
             "e6", "ipv8exit", "btonly", "noflags")


def make_key(seed: str):  # noqa: ANN201
    return default_eccrypto.key_from_private_bin(
        b"LibNaCLSK:" + hashlib.sha512(f"txipv8 tunnel payload vector key {seed}".encode()).digest())


KEYS = {name: make_key(name) for name in KEY_NAMES}
PUBLIC = {name: key.pub().key_to_bin() for name, key in KEYS.items()}
NAME_OF_PUBLIC = {public: name for name, public in PUBLIC.items()}


def hx(data: bytes) -> str:
    return data.hex()


def address_json(address: tuple) -> dict:
    family = {UDPv4Address: "v4", UDPv6Address: "v6", DomainAddress: "host"}[type(address)]
    return {"family": family, "host": address[0], "port": address[1]}


def field_json(value: object) -> object:
    if isinstance(value, bytes):
        return hx(value)
    if isinstance(value, tuple):
        return address_json(value)
    if isinstance(value, list):
        return [field_json(item) for item in value]
    if isinstance(value, tp.IntroductionInfo):
        return {name: field_json(getattr(value, name)) for name in value.names}
    return value


def digest(label: str, size: int = 20) -> bytes:
    return hashlib.sha512(f"txipv8 tunnel vectors: {label}".encode()).digest()[:size]


V4 = UDPv4Address("203.0.113.5", 7001)
V6 = UDPv6Address("2001:db8::7", 7002)
ANY = UDPv4Address("0.0.0.0", 0)
HOST = DomainAddress("tracker.example", 6969)
LARGE = bytes(range(256)) * 5 + b"tail"
EPHEMERAL = digest("ephemeral", 32)
AUTH = digest("auth", 32)
INFO_HASH = digest("info hash")
COOKIE = digest("cookie")


def payload_cases() -> list[tuple[str, object]]:  # noqa: PLR0915
    p = tp
    alpha, beta, gamma = PUBLIC["alpha"], PUBLIC["beta"], PUBLIC["gamma"]
    infos = [p.IntroductionInfo(V4, beta, gamma, 1), p.IntroductionInfo(V6, gamma, alpha, 2),
             p.IntroductionInfo(UDPv4Address("198.51.100.250", 65535), PUBLIC["delta"], b"", 0)]
    return [
        ("data/v4", p.DataPayload(1, V4, ANY, b"hello")),
        ("data/v6-dest", p.DataPayload(2, V6, ANY, b"\x00\x02" + bytes(40))),
        ("data/v6-origin", p.DataPayload(3, ANY, UDPv6Address("::1", 1), b"x")),
        ("data/hostname-dest", p.DataPayload(4, HOST, UDPv4Address("192.168.1.10", 8090), b"tracker announce")),
        ("data/hostname-both", p.DataPayload(5, DomainAddress("a.example", 1), DomainAddress("b", 65535), b"")),
        ("data/unicode-hostname", p.DataPayload(6, DomainAddress("b\u00fccher.example", 80), ANY, b"?")),
        ("data/empty", p.DataPayload(7, V4, V4, b"")),
        ("data/large", p.DataPayload(8, V4, V6, LARGE)),
        ("data/max-circuit-id", p.DataPayload(4294967295, UDPv4Address("255.255.255.255", 65535), ANY, b"\xff")),
        ("create", p.CreatePayload(11, 1, alpha, EPHEMERAL)),
        ("create/max-identifier", p.CreatePayload(12, 65535, beta, EPHEMERAL)),
        ("create/empty-keys", p.CreatePayload(0, 0, b"", b"")),
        ("created", p.CreatedPayload(13, 1, EPHEMERAL, AUTH, digest("candidates", 60))),
        ("created/no-candidates", p.CreatedPayload(14, 2, EPHEMERAL, AUTH, b"")),
        ("extend/no-address", p.ExtendPayload(15, 3, gamma, EPHEMERAL, ANY)),
        ("extend/v4", p.ExtendPayload(16, 4, gamma, EPHEMERAL, V4)),
        ("extend/v6", p.ExtendPayload(17, 5, gamma, EPHEMERAL, V6)),
        ("extended", p.ExtendedPayload(18, 6, EPHEMERAL, AUTH, LARGE)),
        ("extended/no-candidates", p.ExtendedPayload(19, 7, EPHEMERAL, AUTH, b"")),
        ("ping", p.PingPayload(20, 8)),
        ("ping/extremes", p.PingPayload(4294967295, 65535)),
        ("pong", p.PongPayload(21, 8)),
        ("destroy/unknown", p.DestroyPayload(22, 1)),
        ("destroy/shutdown", p.DestroyPayload(23, 2)),
        ("destroy/unneeded", p.DestroyPayload(24, 4)),
        ("destroy/other-reason", p.DestroyPayload(25, 65535)),
        ("establish-intro", p.EstablishIntroPayload(26, 9, INFO_HASH, alpha)),
        ("establish-intro/empty-key", p.EstablishIntroPayload(27, 10, INFO_HASH, b"")),
        ("intro-established", p.IntroEstablishedPayload(28, 9)),
        ("establish-rendezvous", p.EstablishRendezvousPayload(29, 11, COOKIE)),
        ("rendezvous-established/v4", p.RendezvousEstablishedPayload(30, 11, V4)),
        ("rendezvous-established/v6", p.RendezvousEstablishedPayload(31, 12, V6)),
        ("create-e2e", p.CreateE2EPayload(13, INFO_HASH, beta, EPHEMERAL)),
        ("created-e2e", p.CreatedE2EPayload(13, EPHEMERAL, AUTH, digest("rp info", 64))),
        ("created-e2e/empty", p.CreatedE2EPayload(0, b"", AUTH, b"")),
        ("link-e2e", p.LinkE2EPayload(32, 14, COOKIE)),
        ("linked-e2e", p.LinkedE2EPayload(33, 14)),
        ("peers-request", p.PeersRequestPayload(34, 15, INFO_HASH)),
        ("peers-response/empty", p.PeersResponsePayload(35, 15, INFO_HASH, [])),
        ("peers-response/one", p.PeersResponsePayload(36, 16, INFO_HASH, infos[:1])),
        ("peers-response/mixed", p.PeersResponsePayload(37, 17, INFO_HASH, infos)),
        ("test-request", p.TestRequestPayload(38, 18, 1024, b"speed")),
        ("test-request/extremes", p.TestRequestPayload(39, 65535, 65535, LARGE)),
        ("test-request/empty", p.TestRequestPayload(40, 0, 0, b"")),
        ("test-response", p.TestResponsePayload(41, 18, LARGE)),
        ("test-response/empty", p.TestResponsePayload(42, 19, b"")),
        ("introduction-info", infos[0]),
        ("introduction-info/v6-no-seeder", p.IntroductionInfo(V6, gamma, b"", 255)),
        ("rendezvous-info", p.RendezvousInfo(V4, beta, COOKIE)),
        ("rendezvous-info/v6", p.RendezvousInfo(V6, b"", COOKIE)),
        ("extra-introduction/relay-speedtest", p.ExtraIntroductionPayload([1, 8])),
        ("extra-introduction/none", p.ExtraIntroductionPayload([])),
        ("extra-introduction/all-four", p.ExtraIntroductionPayload([1, 2, 4, 8])),
        ("extra-introduction/exits", p.ExtraIntroductionPayload([4, 2])),
        ("extra-introduction/every-bit", p.ExtraIntroductionPayload([1 << bit for bit in range(16)])),
    ]


class CapturingCryptoEndpoint:
    """Stands in for the crypto endpoint's send_cell: keeps the cell instead of encrypting and sending it."""

    def __init__(self) -> None:
        self.cells: list = []

    def send_cell(self, target_addr: tuple, cell: object) -> None:
        self.cells.append((target_addr, cell))


def payload_vectors(community: TunnelCommunity, capture: CapturingCryptoEndpoint) -> list[dict]:
    prefix = community.get_prefix()
    serializer = community.serializer
    records = []
    for name, payload in payload_cases():
        packed = serializer.pack_serializable(payload)
        back, end = serializer.unpack_serializable(type(payload), packed)
        assert end == len(packed)
        record = {"name": name, "class": type(payload).__name__, "packed": hx(packed),
                  "fields": {field: field_json(getattr(payload, field)) for field in payload.names},
                  "unpacked": {field: field_json(getattr(back, field)) for field in back.names}}
        msg_id = getattr(payload, "msg_id", None)
        if msg_id is not None:
            record["msg_id"] = msg_id
        if isinstance(payload, tp.CellablePayload) and msg_id != tp.DestroyPayload.msg_id:
            capture.cells.clear()
            community.send_cell(V4, payload)
            ((target, cell),) = capture.cells
            assert target == V4
            record["cell_message"] = hx(cell.message)
            record["cell_plaintext"] = bool(cell.plaintext)
            packets = []
            for relay_early in (False, True):
                cell.relay_early = relay_early
                packets.append(hx(cell.to_bin(prefix)))
            record["cell_packets"] = packets
            record["unwrapped"] = hx(cell.unwrap(prefix))
        if msg_id == tp.DestroyPayload.msg_id:
            record["packet"] = hx(community.ezr_pack(msg_id, payload))
        elif msg_id in (tp.CreateE2EPayload.msg_id, tp.CreatedE2EPayload.msg_id, tp.PeersRequestPayload.msg_id,
                        tp.PeersResponsePayload.msg_id):
            record["packet"] = hx(community.ezr_pack(msg_id, payload, sig=False))
        records.append(record)
    return records


def cell_vectors(community: TunnelCommunity) -> list[dict]:
    """Cells as pyipv8 reads them, and whether its on_cell hands them on."""
    prefix = community.get_prefix()
    passed: list = []
    community.on_packet_from_circuit = lambda source, data, circuit_id: passed.append((data, circuit_id))
    bodies = [(f"inner-{inner}", bytes([inner]) + b"\x00\x01payload") for inner in range(22)]
    bodies += [("empty-message", b""), ("inner-255", b"\xff" + bytes(30))]
    records = []
    for name, message in bodies:
        for plaintext in (0, 1, 2):
            for relay_early in (0, 1):
                packet = prefix + b"\x00" + (0x01020304).to_bytes(4, "big") + bytes([plaintext, relay_early]) + message
                cell = tp.CellPayload.from_bin(packet)
                passed.clear()
                try:
                    community.on_cell(V4, packet)
                    outcome = "passed" if passed else "dropped"
                except IndexError:
                    outcome = "error"
                record = {"name": f"{name}/plaintext={plaintext}/relay_early={relay_early}", "packet": hx(packet),
                          "circuit_id": cell.circuit_id, "plaintext": bool(cell.plaintext),
                          "relay_early": bool(cell.relay_early), "message": hx(cell.message),
                          "unwrapped": hx(cell.unwrap(prefix)), "on_cell": outcome}
                if passed:
                    ((data, circuit_id),) = passed
                    assert data == cell.unwrap(prefix) and circuit_id == cell.circuit_id
                records.append(record)
    # Cell packets too short for pyipv8's header read.
    for size in (0, 23, 28):
        packet = (prefix + b"\x00" + bytes(10))[:size]
        try:
            tp.CellPayload.from_bin(packet)
            outcome = "parsed"
        except Exception:  # noqa: BLE001 - struct.error in practice
            outcome = "error"
        records.append({"name": f"short-{size}", "packet": hx(packet), "from_bin": outcome})
    return records


def peer_flag_vectors(community: TunnelCommunity) -> dict:
    extracted = []
    for extra in (b"", b"\x00\x01", b"\x00\x09", b"\x00\x0f", b"\xff\xff", b"\x80\x00", b"\x00\x09\x01\x02",
                  b"\x00\x03\xff"):
        extracted.append({"extra": hx(extra), "flags": community.extract_peer_flags(extra)})
    refused = []
    for extra in (b"\x01",):
        try:
            community.extract_peer_flags(extra)
            refused.append({"extra": hx(extra), "refused": False})
        except PackError:
            refused.append({"extra": hx(extra), "refused": True})
    packed = []
    for flags in ([], [1], [1, 8], [8, 1], [1, 2, 4, 8], [2, 4], [1, 1], [3], [1 << bit for bit in range(16)]):
        packed.append({"flags": flags, "extra": hx(community.serializer.pack("flags", flags))})
    introductions = []
    original = community.settings.peer_flags
    for flags in ({1, 8}, {1, 2, 4, 8}, set(), {1, 4}):
        community.settings.peer_flags = flags
        request = community.create_introduction_request(V4)
        _, _, intro = community.serializer.unpack_serializable_list(
            [BinMemberAuthenticationPayload, GlobalTimeDistributionPayload, IntroductionRequestPayload],
            request[23:-64])
        new_request = community.create_introduction_request(V6, new_style=True)
        _, _, new_intro = community.serializer.unpack_serializable_list(
            [BinMemberAuthenticationPayload, GlobalTimeDistributionPayload, NewIntroductionRequestPayload],
            new_request[23:-64])
        response = community.create_introduction_response(V4, UDPv4Address("198.51.100.7", 9), 77)
        _, _, answer = community.serializer.unpack_serializable_list(
            [BinMemberAuthenticationPayload, GlobalTimeDistributionPayload, IntroductionResponsePayload],
            response[23:-64])
        assert intro.extra_bytes == new_intro.extra_bytes == answer.extra_bytes
        introductions.append({"peer_flags": sorted(flags), "extra": hx(intro.extra_bytes),
                              "request_ends_with_extra": request[:-64].endswith(intro.extra_bytes)})
    community.settings.peer_flags = original
    return {"extracted": extracted, "refused": refused, "packed": packed, "introductions": introductions}


class IdentityKeys:
    """Session keys stand-in that leaves data as it is (the candidate list is what we want to see)."""

    @staticmethod
    def encrypt_str(data: bytes, direction: int) -> bytes:
        return data

    @staticmethod
    def decrypt_str(data: bytes, direction: int) -> bytes:
        return data


def stub_crypto(community: TunnelCommunity) -> None:
    community.crypto.generate_diffie_shared_secret = lambda key: (bytes(64), EPHEMERAL, AUTH)
    community.crypto.generate_session_keys = lambda secret: IdentityKeys()
    community.crypto.verify_and_generate_shared_secret = lambda *args: bytes(64)


JOIN_CASES = [
    ("nobody", {}),
    ("relays-only", {"r1": [1], "r2": [1, 8]}),
    ("exits-only", {"e1": [1, 2], "e2": [1, 2, 8]}),
    ("one-exit", {"r1": [1], "e1": [1, 2]}),
    ("many", {**{f"r{i}": [1] for i in range(1, 7)}, **{f"e{i}": [1, 2] for i in range(1, 7)}}),
    ("odd-flags", {"ipv8exit": [1, 4], "btonly": [2], "noflags": [], "r1": [1], "e1": [1, 2, 4]}),
]


def join_vectors(community: TunnelCommunity, capture: CapturingCryptoEndpoint) -> list[dict]:
    records = []
    for index, (name, flags_by_peer) in enumerate(JOIN_CASES):
        community.candidates = {Peer(KEYS[peer].pub(), UDPv4Address("10.0.0.1", 1000 + number)): flags
                                for number, (peer, flags) in enumerate(flags_by_peer.items())}
        capture.cells.clear()
        circuit_id = 1000 + index
        community.join_circuit(tp.CreatePayload(circuit_id, 5, PUBLIC["alpha"], EPHEMERAL), V4)
        ((_, cell),) = capture.cells
        created = community.serializer.unpack_serializable(tp.CreatedPayload,
                                                           cell.unwrap(community.get_prefix()), 23)[0]
        keys, end = community.serializer.unpack("varlenH-list", created.candidates_enc)
        assert end == len(created.candidates_enc)
        records.append({"name": name, "candidates": {peer: flags for peer, flags in flags_by_peer.items()},
                        "list": [NAME_OF_PUBLIC[key] for key in keys], "packed": hx(created.candidates_enc)})
        community.exit_sockets.pop(circuit_id, None)
    community.candidates = {}
    return records


PICK_CASES = [
    ("empty", []),
    ("relays", ["r1", "r2", "r3"]),
    ("relays-and-exits", ["r1", "r2", "e1", "e1", "e2"]),
    ("exits-only", ["e1", "e1", "e2", "e3"]),
    ("single-exit", ["r1", "e1", "e1"]),
    ("two-duplicates", ["r1", "r1", "r2", "e1", "e1", "e2"]),
    ("trailing-duplicate", ["r1", "r2", "r2"]),
    ("non-adjacent-repeat", ["r1", "e1", "r1", "e2"]),
]


def pick_vectors(community: TunnelCommunity) -> list[dict]:
    records = []
    chosen: list = []
    community.send_extend = lambda circuit, candidates, max_tries: chosen.append(list(candidates))
    # No extension was ever sent, so there is no retry cache to pop.
    real_pop = community.request_cache.pop
    community.request_cache.pop = lambda *args: None
    for index, (name, names) in enumerate(PICK_CASES):
        for goal_hops in (2, 3):
            circuit_id = 2000 + 10 * index + goal_hops
            circuit = Circuit(circuit_id, goal_hops=goal_hops)
            hop = Hop(Peer(KEYS["delta"].pub(), UDPv4Address("10.0.0.2", 2000)))
            hop.dh_secret = b"\x01" * 32
            circuit.unverified_hop = hop
            community.circuits[circuit_id] = circuit
            candidates_bin = community.serializer.pack("varlenH-list", [PUBLIC[peer] for peer in names])
            chosen.clear()
            community._ours_on_created_extended(circuit_id, tp.CreatedPayload(circuit_id, 1, EPHEMERAL, AUTH,
                                                                              candidates_bin))
            ((picked,),) = [chosen]
            records.append({"name": f"{name}/goal={goal_hops}", "list": names, "packed": hx(candidates_bin),
                            "become_exit": goal_hops == 2, "picked": [NAME_OF_PUBLIC[key] for key in picked]})
            community.circuits.pop(circuit_id, None)
    community.request_cache.pop = real_pop
    return records


def rendezvous_info_vectors(community: TunnelCommunity) -> list[dict]:
    records = []
    for name, info in (("v4", tp.RendezvousInfo(V4, PUBLIC["beta"], COOKIE)),
                       ("v6", tp.RendezvousInfo(V6, PUBLIC["gamma"], digest("other cookie")))):
        packed = community.serializer.pack("payload", info)
        back, end = community.serializer.unpack(tp.RendezvousInfo, packed)
        assert end == len(packed)
        records.append({"name": name, "fields": {field: field_json(getattr(info, field)) for field in info.names},
                        "packed": hx(packed),
                        "unpacked": {field: field_json(getattr(back, field)) for field in back.names}})
    return records


def rejected_vectors(community: TunnelCommunity) -> list[dict]:
    """Damaged bodies: does pyipv8's serializer refuse them? (``unpack_serializable``: leftovers are fine.)"""
    serializer = community.serializer
    data_ok = serializer.pack_serializable(tp.DataPayload(1, V4, HOST, b"abc"))
    cases = [
        ("data/unknown-address-type", "DataPayload", data_ok[:4] + b"\x04" + data_ok[5:]),
        ("data/address-type-zero", "DataPayload", data_ok[:4] + b"\x00" + data_ok[5:]),
        ("data/truncated-v4", "DataPayload", data_ok[:8]),
        ("data/truncated-v6", "DataPayload", (1).to_bytes(4, "big") + b"\x03" + bytes(10)),
        ("data/hostname-too-long", "DataPayload", data_ok[:11] + b"\xff\xff" + data_ok[13:]),
        ("data/hostname-bad-utf8", "DataPayload",
         (1).to_bytes(4, "big") + serializer.pack("address", V4) + b"\x02\x00\x02\xff\xfe\x00\x01"),
        ("extend/hostname-in-ip-address", "ExtendPayload",
         serializer.pack_serializable(tp.ExtendPayload(1, 2, b"k", b"x", ANY))[:-7] + b"\x02\x00\x01a\x00\x01"),
        ("create/short-key", "CreatePayload", (1).to_bytes(4, "big") + b"\x00\x01" + b"\x00\x05abc"),
        ("created/short-auth", "CreatedPayload", (1).to_bytes(4, "big") + b"\x00\x01\x00\x00" + bytes(31)),
        ("ping/short", "PingPayload", b"\x00\x00\x00\x01\x00"),
        ("peers-response/count-too-high", "PeersResponsePayload",
         serializer.pack_serializable(tp.PeersResponsePayload(1, 2, INFO_HASH, []))[:-1] + b"\x02"),
        ("peers-response/item-too-long", "PeersResponsePayload",
         serializer.pack_serializable(tp.PeersResponsePayload(1, 2, INFO_HASH, []))[:-1] + b"\x01\x00\x50" + bytes(4)),
        ("test-request/short", "TestRequestPayload", b"\x00\x00\x00\x01\x00\x02\x00"),
        ("destroy/short", "DestroyPayload", b"\x00\x00\x00\x01\x00"),
        ("extra-introduction/one-byte", "ExtraIntroductionPayload", b"\x01"),
    ]
    records = []
    for name, class_name, body in cases:
        try:
            serializer.unpack_serializable(getattr(tp, class_name), body)
            error = None
        except Exception as exc:  # noqa: BLE001 - list fields escape pyipv8's PackError wrapping (struct.error)
            error = type(exc).__name__
        records.append({"name": name, "class": class_name, "body": hx(body), "refused": error is not None,
                        "error": error})
    return records


async def main(target: Path) -> None:
    logging.disable(logging.WARNING)  # the dropped cells are logged one by one; the vectors record them
    endpoint = MockEndpoint(UDPv4Address("192.168.1.10", 8090), UDPv4Address("203.0.113.5", 7001))
    settings = TunnelSettings(my_peer=Peer(KEYS["alpha"]), endpoint=endpoint, network=Network())
    community = TunnelCommunity(settings)
    capture = CapturingCryptoEndpoint()
    real_crypto_endpoint = community.crypto_endpoint
    community.crypto_endpoint = capture
    try:
        stub_crypto(community)
        document = {
            "generator": SCRIPT,
            "reference": f"{REFERENCE_DISTRIBUTION} {REFERENCE_VERSION}",
            "community_id": hx(TunnelCommunity.community_id),
            "prefix": hx(community.get_prefix()),
            "keys": {name: hx(key.key_to_bin()) for name, key in KEYS.items()},
            "no_crypto_packets": list(tp.NO_CRYPTO_PACKETS),
            "payloads": payload_vectors(community, capture),
            "cells": cell_vectors(community),
            "peer_flags": peer_flag_vectors(community),
            "candidates": {"join": join_vectors(community, capture), "pick": pick_vectors(community)},
            "rendezvous_info": rendezvous_info_vectors(community),
            "rejected": rejected_vectors(community),
        }
    finally:
        community.crypto_endpoint = real_crypto_endpoint
        await community.unload()
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:  # noqa: PLR2004
        raise SystemExit(__doc__)
    asyncio.run(main(Path(sys.argv[1])))
