"""Record what pyipv8 3.2.1 puts on the wire for its DHT, for ``tests/dht/test_dht_vectors.py``.

Run it ONLY with the reference interpreter (pyipv8 3.2.1 installed as ``ipv8``); it refuses anything else::

    .venv-ref/bin/python tests/dht/make_dht_vectors.py tests/dht/dht_vectors.json     (part of `make vectors`)

Every input is fixed (key material from fixed seeds, addresses, versions, a seeded random generator for the
routing trace) and curve25519 signatures are deterministic, so running it twice writes the same file.
Sections of the JSON document:

* ``keys``: the private keys (hex of the binary form) every other section names;
* ``payloads``: each of the ten messages (and the two value bodies) packed from the listed fields, plus the
  complete signed packet DHTCommunity builds for it (signed by ``alpha``);
* ``values``: values encoded by ``DHTCommunity.serialize_value`` (the clock pinned), and what
  ``unserialize_value`` makes of them and of damaged copies;
* ``node_ids``: ``calc_node_id`` for IPv4 and IPv6 addresses, and ``Node(...).id``;
* ``routing``: nodes offered one by one to a ``RoutingTable`` (bucket size 8), whether each got in, the
  buckets at the end, and ``closest_nodes`` answers;
* ``intro_points``: the value data ``DHTCommunityProvider.announce`` stores for introduction points (and the
  complete DHT value), and what ``DHTCommunityProvider.lookup`` makes of it.

Encodings: bytes are hex strings; an address is ``{"family": "v4" | "v6", "host": ..., "port": ...}``; a
node is ``{"key": <hex public key>, "address": <address>}``. This script only drives pyipv8; none of its
code is part of txipv8.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
from pathlib import Path
from unittest import mock

REFERENCE_DISTRIBUTION = "pyipv8"
REFERENCE_VERSION = "3.2.1"


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.reference_interpreter import require_reference  # noqa: E402

require_reference(__file__, ".venv-ref/bin/python tests/dht/make_dht_vectors.py tests/dht/dht_vectors.json")

# pylint: disable=wrong-import-position
from ipv8.community import CommunitySettings  # noqa: E402
from ipv8.dht import payload as dht_payload  # noqa: E402
from ipv8.dht.community import DHTCommunity  # noqa: E402
from ipv8.dht.routing import Node, RoutingTable, calc_node_id  # noqa: E402
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address, UDPv6Address  # noqa: E402
from ipv8.peer import Peer  # noqa: E402
from ipv8.peerdiscovery.network import Network  # noqa: E402
from ipv8.test.mocking.endpoint import MockEndpoint  # noqa: E402

KEY_NAMES = ("alpha", "beta", "gamma", "delta")


def make_key(seed: str):  # noqa: ANN201
    return default_eccrypto.key_from_private_bin(
        b"LibNaCLSK:" + hashlib.sha512(f"txipv8 dht vector key {seed}".encode()).digest())


KEYS = {name: make_key(name) for name in KEY_NAMES}


def hx(data: bytes) -> str:
    return data.hex()


def address_json(address: tuple) -> dict:
    return {"family": "v6" if isinstance(address, UDPv6Address) else "v4", "host": address[0], "port": address[1]}


def node_json(node: Node) -> dict:
    return {"key": hx(node.public_key.key_to_bin()), "address": address_json(node.address)}


def field_json(value: object) -> object:
    if isinstance(value, bytes):
        return hx(value)
    if isinstance(value, Node):
        return node_json(value)
    if isinstance(value, tuple):
        return address_json(value)
    if isinstance(value, list):
        return [field_json(item) for item in value]
    return value


V4 = UDPv4Address("203.0.113.5", 7001)
V6 = UDPv6Address("2001:db8::7", 7002)
TARGET = hashlib.sha1(b"txipv8 dht vectors: target").digest()  # noqa: S324
TOKEN = hashlib.sha1(b"txipv8 dht vectors: token").digest()  # noqa: S324


def vector_nodes() -> list[Node]:
    return [Node(KEYS["beta"].pub().key_to_bin(), V4),
            Node(KEYS["gamma"].pub().key_to_bin(), V6),
            Node(KEYS["delta"].pub().key_to_bin(), UDPv4Address("198.51.100.250", 65535))]


def payload_cases() -> list[tuple[str, object]]:
    p = dht_payload
    nodes = vector_nodes()
    value_a = b"\x00plain value"
    value_b = bytes(range(170))
    return [
        ("ping-request", p.PingRequestPayload(0)),
        ("ping-request/max", p.PingRequestPayload(4294967295)),
        ("ping-response", p.PingResponsePayload(123456789)),
        ("store-request", p.StoreRequestPayload(42, TOKEN, TARGET, [value_a, value_b])),
        ("store-request/no-values", p.StoreRequestPayload(1, TOKEN, TARGET, [])),
        ("store-response", p.StoreResponsePayload(42)),
        ("find-request/v4", p.FindRequestPayload(7, UDPv4Address("192.168.1.10", 8090), TARGET, 0, False)),
        ("find-request/v6-forced", p.FindRequestPayload(8, V6, TARGET, 16, True)),
        ("find-response/values", p.FindResponsePayload(7, TOKEN, [value_a, value_b], [])),
        ("find-response/nodes", p.FindResponsePayload(9, TOKEN, [], nodes)),
        ("find-response/both", p.FindResponsePayload(10, TOKEN, [value_a], nodes[:1])),
        ("store-peer-request", p.StorePeerRequestPayload(11, TOKEN, KEYS["alpha"].pub().key_to_hash())),
        ("store-peer-response", p.StorePeerResponsePayload(11)),
        ("connect-peer-request/v4", p.ConnectPeerRequestPayload(12, UDPv4Address("10.0.0.5", 1), TARGET)),
        ("connect-peer-request/v6", p.ConnectPeerRequestPayload(13, V6, TARGET)),
        ("connect-peer-response", p.ConnectPeerResponsePayload(14, nodes)),
        ("connect-peer-response/empty", p.ConnectPeerResponsePayload(15, [])),
        ("str", p.StrPayload(b"some data")),
        ("signed-str", p.SignedStrPayload(b"some data", 1700000000, KEYS["beta"].pub().key_to_bin())),
    ]


def payload_vectors(community: DHTCommunity) -> list[dict]:
    records = []
    for name, payload in payload_cases():
        packed = community.serializer.pack_serializable(payload)
        back, end = community.serializer.unpack_serializable(type(payload), packed)
        assert end == len(packed)
        record = {"name": name, "class": type(payload).__name__, "packed": hx(packed),
                  "fields": {field: field_json(getattr(payload, field)) for field in payload.names},
                  "unpacked": {field: field_json(getattr(back, field)) for field in back.names}}
        if hasattr(payload, "msg_id"):
            record["msg_id"] = payload.msg_id
            record["packet"] = hx(community.ezr_pack(payload.msg_id, payload))
        records.append(record)
    return records


def value_vectors(community: DHTCommunity) -> dict:
    signed, unsigned, damaged = [], [], []
    for data in (b"", b"hello", bytes(range(23))):
        value = community.serialize_value(data, sign=False)
        unsigned.append({"data": hx(data), "value": hx(value)})
    for data, version in ((b"", 0), (b"hello", 1700000000), (bytes(range(23)), 4294967295)):
        with mock.patch("time.time", return_value=float(version)):
            value = community.serialize_value(data, sign=True)
        data_back, public_key, version_back = community.unserialize_value(value)
        signed.append({"data": hx(data), "version": version, "signer": "alpha", "value": hx(value),
                       "unserialized": [hx(data_back), hx(public_key), version_back]})
    with mock.patch("time.time", return_value=1700000000.0):
        good = community.serialize_value(b"hello", sign=True)
    cases = [("flipped-data-byte", good[:4] + bytes([good[4] ^ 1]) + good[5:]),
             ("flipped-version", good[:9] + bytes([good[9] ^ 1]) + good[10:]),
             ("flipped-signature", good[:-1] + bytes([good[-1] ^ 1])),
             # type, varlenH b"hello", version, then the key's length prefix: the key starts at byte 14.
             ("other-key", good[:14] + KEYS["beta"].pub().key_to_bin() + good[14 + 74:]),
             ("truncated", good[:-10]),
             ("trailing-byte", good + b"\x00"),
             ("unknown-type", b"\x02" + good[1:])]
    for name, value in cases:
        try:
            accepted = community.unserialize_value(value) is not None
        except Exception:  # noqa: BLE001 - pyipv8 raises on some damage; either way it does not accept it
            accepted = False
        damaged.append({"name": name, "value": hx(value), "accepted": accepted})
    return {"unsigned": unsigned, "signed": signed, "damaged": damaged}


NODE_ID_ADDRESSES = [UDPv4Address("1.2.3.4", 5), UDPv4Address("127.0.0.1", 8090), UDPv4Address("0.0.0.0", 0),
                     UDPv4Address("255.255.255.255", 65535), UDPv4Address("203.0.113.5", 7001),
                     UDPv4Address("203.0.113.99", 1), UDPv4Address("192.168.1.10", 8090),
                     UDPv4Address("130.161.119.206", 6421),
                     UDPv6Address("::1", 1), UDPv6Address("2001:db8::7", 7002), UDPv6Address("fe80::1:2:3:4", 9),
                     UDPv6Address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535),
                     UDPv6Address("2a00:1450:4001:82b::200e", 443), UDPv6Address("::ffff:1.2.3.4", 80)]


def node_id_vectors() -> list[dict]:
    records = []
    for index, address in enumerate(NODE_ID_ADDRESSES):
        name = KEY_NAMES[index % len(KEY_NAMES)]
        public = KEYS[name].pub().key_to_bin()
        mid = hashlib.sha1(public).digest()  # noqa: S324
        raw_mid = hashlib.sha1(f"raw mid {index}".encode()).digest()  # noqa: S324
        records.append({"address": address_json(address), "key": name, "mid": hx(mid),
                        "node_id": hx(Node(public, address).id),
                        "raw_mid": hx(raw_mid), "raw_node_id": hx(calc_node_id(address, raw_mid))})
    return records


def routing_vector() -> dict:
    """Offer nodes to a RoutingTable one by one; nodes never answered, so none is good or bad."""
    rng = random.Random(20261206)
    my_address = UDPv4Address("203.0.113.5", 7001)
    my_node_id = calc_node_id(my_address, KEYS["alpha"].pub().key_to_hash())
    table = RoutingTable(my_node_id)
    offered = []
    for index in range(160):
        key = make_key(f"routing {index}").pub().key_to_bin()
        if index % 4 == 0:
            # Same host as ours: the id shares its first 24 bits with ours, which forces deep splits.
            address = UDPv4Address(my_address[0], 10000 + index)
        else:
            address = UDPv4Address(f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
                                   f"{rng.randint(1, 254)}", rng.randint(1024, 65535))
        node = Node(key, address)
        added = table.add(node)
        offered.append({"key": hx(key), "address": address_json(address), "node_id": hx(node.id),
                        "added": added is not None})
    buckets = {bucket.prefix_id: sorted(hx(node_id) for node_id in bucket.nodes)
               for bucket in table.trie.values()}
    queries = []
    for index in range(12):
        target = hashlib.sha1(f"routing target {index}".encode()).digest()  # noqa: S324
        if index == 0:
            target = my_node_id
        queries.append({"target": hx(target), "max_nodes": 8,
                        "closest": [hx(node.id) for node in table.closest_nodes(target, max_nodes=8)]})
    return {"my_node_id": hx(my_node_id), "bucket_size": 8, "offered": offered, "buckets": buckets,
            "queries": queries}


INFO_HASH = hashlib.sha1(b"txipv8 dht vectors: info hash").digest()  # noqa: S324


class RecordingDHT:
    """Stands in for the DHT community under pyipv8's provider: keeps what is stored, finds it again."""

    def __init__(self) -> None:
        self.stored: list[tuple[bytes, bytes]] = []

    async def store_value(self, key: bytes, data: bytes, sign: bool = False) -> list:
        assert not sign
        self.stored.append((key, data))
        return []

    async def find_values(self, key: bytes) -> list:
        return [(data, None) for stored_key, data in self.stored if stored_key == key]


async def intro_point_vectors(community: DHTCommunity) -> list[dict]:
    from ipv8.dht.provider import DHTCommunityProvider
    from ipv8.messaging.anonymization.tunnel import IntroductionPoint

    cases = [("v4", "beta", "gamma", V4, 1700000000),
             ("v6", "gamma", "delta", V6, 4294967295),
             ("v4/zero-time", "delta", "alpha", UDPv4Address("198.51.100.250", 65535), 0)]
    records = []
    for name, intro, seeder, address, last_seen in cases:
        dht = RecordingDHT()
        provider = DHTCommunityProvider(dht, 8090)
        seeder_pk = KEYS[seeder].pub().key_to_bin()
        await provider.announce(INFO_HASH, IntroductionPoint(Peer(KEYS[intro].pub(), address), seeder_pk,
                                                             last_seen=last_seen))
        ((key, data),) = dht.stored
        assert key == INFO_HASH
        info_hash, (found,) = await provider.lookup(INFO_HASH)
        records.append({"name": name, "intro_key": intro, "seeder_key": seeder, "address": address_json(address),
                        "last_seen": last_seen, "info_hash": hx(info_hash), "data": hx(data),
                        "value": hx(community.serialize_value(data, sign=False)),
                        "looked_up": {"address": address_json(found.peer.address),
                                      "intro_pk": hx(found.peer.public_key.key_to_bin()),
                                      "seeder_pk": hx(found.seeder_pk), "source": found.source,
                                      "last_seen": found.last_seen}})
    return records


async def main(target: Path) -> None:
    endpoint = MockEndpoint(UDPv4Address("192.168.1.10", 8090), UDPv4Address("203.0.113.5", 7001))
    community = DHTCommunity(CommunitySettings(my_peer=Peer(KEYS["alpha"]), endpoint=endpoint, network=Network()))
    try:
        document = {
            "generator": "tests/dht/make_dht_vectors.py",
            "reference": f"{REFERENCE_DISTRIBUTION} {REFERENCE_VERSION}",
            "community_id": hx(DHTCommunity.community_id),
            "prefix": hx(community.get_prefix()),
            "keys": {name: hx(key.key_to_bin()) for name, key in KEYS.items()},
            "payloads": payload_vectors(community),
            "values": value_vectors(community),
            "node_ids": node_id_vectors(),
            "routing": routing_vector(),
            "intro_points": await intro_point_vectors(community),
        }
    finally:
        await community.unload()
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:  # noqa: PLR2004
        raise SystemExit(__doc__)
    asyncio.run(main(Path(sys.argv[1])))
