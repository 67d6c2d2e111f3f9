"""Record what pyipv8 3.2.1's DiscoveryCommunity puts on the wire, for ``test_discovery_community.py``.

Run it only with the reference interpreter (pyipv8 3.2.1 installed as ``ipv8``)::

    .venv-ref/bin/python tests/peerdiscovery/make_discovery_vectors.py tests/peerdiscovery/discovery_vectors.json

Every input is fixed (key material, addresses, Lamport clocks), and curve25519 signatures are deterministic,
so the output does not change between runs. Three kinds of records are written:

* ``built``: a ``create_*``/``send_*`` call on a community in a known state, and the packet it produced;
* ``received``: a packet fed to a DiscoveryCommunity, the packets it sent in reply (in order) and what it
  learned about the sender's services;
* ``parsed``: a payload packed by the reference, with the field values a receiver must read back.

Addresses are written as ``[host, port]`` and bytes as hex strings. This script only drives pyipv8; none of
its code is part of txipv8.
"""
import asyncio
import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
# txipv8's own ``ipv8`` package sits in the repository root: keep it from shadowing the reference.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE.parents[2]]

if importlib.metadata.version("pyipv8") != "3.2.1":
    raise SystemExit("make_discovery_vectors.py needs pyipv8 3.2.1 (run it with .venv-ref/bin/python)")

# pylint: disable=wrong-import-position
from ipv8.community import CommunitySettings  # noqa: E402
from ipv8.community import Community  # noqa: E402
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address  # noqa: E402
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload  # noqa: E402
from ipv8.messaging.serialization import default_serializer  # noqa: E402
from ipv8.peer import Peer  # noqa: E402
from ipv8.peerdiscovery.community import DiscoveryCommunity  # noqa: E402
from ipv8.peerdiscovery.network import Network  # noqa: E402
from ipv8.peerdiscovery.payload import (  # noqa: E402
    DiscoveryIntroductionRequestPayload,
    PingPayload,
    PongPayload,
    SimilarityRequestPayload,
    SimilarityResponsePayload,
)
from ipv8.test.mocking.endpoint import MockEndpoint  # noqa: E402

KEY_SEEDS = ("alpha", "beta", "gamma", "delta")
KEYS = {name: default_eccrypto.key_from_private_bin(
    b"LibNaCLSK:" + hashlib.sha512(f"txipv8 discovery vector key {name}".encode()).digest()) for name in KEY_SEEDS}

DISCOVERY_ID = bytes.fromhex("7e313685c1912a141279f8248fc8db5899c5df5a")
OTHER_ID = hashlib.sha1(b"txipv8 discovery vectors: other community").digest()  # noqa: S324
THIRD_ID = hashlib.sha1(b"txipv8 discovery vectors: third community").digest()  # noqa: S324

MY_LAN = UDPv4Address("192.168.1.10", 8090)
MY_WAN = UDPv4Address("198.51.100.7", 8090)
REMOTE = UDPv4Address("203.0.113.5", 7001)
REMOTE_LAN = UDPv4Address("10.0.0.5", 7001)
INTRODUCED = UDPv4Address("203.0.113.9", 7002)


class Recorder(MockEndpoint):
    """Open for business, and keeps every packet instead of sending it."""

    def __init__(self) -> None:
        super().__init__(MY_LAN, MY_WAN)
        self.sent: list[tuple] = []

    def is_open(self) -> bool:
        return True

    def send(self, socket_address: object, packet: bytes) -> None:
        self.sent.append((socket_address, packet))


def plain_community(community_id: bytes) -> type:
    return type(f"Plain{community_id.hex()[:6]}", (Community,), {"community_id": community_id})


def build_node(key_name: str, clock: int, extra: tuple = ()) -> DiscoveryCommunity:
    """A DiscoveryCommunity for ``key_name``; ``extra`` lists (community id, key name) of more overlays."""
    endpoint = Recorder()
    network = Network()
    node = DiscoveryCommunity(CommunitySettings(my_peer=Peer(KEYS[key_name]), endpoint=endpoint, network=network))
    for community_id, other_key in extra:
        my_peer = node.my_peer if other_key == key_name else Peer(KEYS[other_key])
        plain_community(community_id)(CommunitySettings(my_peer=my_peer, endpoint=endpoint, network=network))
    node.my_estimated_lan = MY_LAN
    node.my_estimated_wan = MY_WAN
    node.address_is_lan = lambda address: address.startswith("192.168.")
    node.my_peer.update_clock(clock)
    return node


def hx(data: bytes) -> str:
    return data.hex()


def addr(address: tuple) -> list:
    return [address[0], address[1]]


def identity_peer(node: DiscoveryCommunity, key_name: str) -> Peer:
    for overlay in node.network.service_overlays.values():
        if overlay.my_peer.key.key_to_bin() == KEYS[key_name].key_to_bin():
            return overlay.my_peer
    raise LookupError(key_name)


# The node layout every "built" vector uses: alpha runs Discovery and THIRD, beta runs OTHER.
LAYOUT = ((THIRD_ID, "alpha"), (OTHER_ID, "beta"))


def built_vectors() -> list[dict]:
    records = []

    def record(name: str, clock: int, call: dict, packet: bytes, destination: tuple | None = None) -> None:
        entry = {"name": name, "clock": clock, "call": call, "packet": hx(packet)}
        if destination is not None:
            entry["destination"] = addr(destination)
        records.append(entry)

    for name, clock, identity in (("similarity-request/own-identity", 41, "alpha"),
                                  ("similarity-request/second-identity", 65600, "beta")):
        node = build_node("alpha", clock, LAYOUT)
        packet = node.create_similarity_request(identity_peer(node, identity))
        record(name, clock, {"method": "create_similarity_request", "identity": identity}, packet)

    for name, clock, identity, identifier in (("similarity-response/own-identity", 9, "alpha", 4242),
                                              ("similarity-response/second-identity", 0, "beta", 65535)):
        node = build_node("alpha", clock, LAYOUT)
        packet = node.create_similarity_response(identifier, identity_peer(node, identity))
        record(name, clock, {"method": "create_similarity_response", "identity": identity,
                             "identifier": identifier}, packet)

    node = build_node("alpha", 65540, LAYOUT)
    node.send_ping(Peer(KEYS["gamma"].pub(), REMOTE))
    (destination, packet), = node.endpoint.sent
    record("ping/identifier-wraps", 65540, {"method": "send_ping", "peer_key": "gamma", "peer_address": addr(REMOTE)},
           packet, destination)

    node = build_node("alpha", 7, LAYOUT)
    record("pong", 7, {"method": "create_pong", "identifier": 48879}, node.create_pong(48879))
    return records


def received_vectors() -> list[dict]:
    records = []

    def feed(name: str, receiver: DiscoveryCommunity, packet: bytes, receiver_clock: int,
             known: list | None = None) -> None:
        receiver.on_packet((REMOTE, packet))
        gamma_bin = KEYS["gamma"].pub().key_to_bin()
        services = sorted(hx(s) for s in receiver.network.services_per_peer.get(gamma_bin, ()))
        verified = any(p.public_key.key_to_bin() == gamma_bin for p in receiver.network.verified_peers)
        records.append({"name": name, "receiver": "alpha", "receiver_clock": receiver_clock, "known": known or [],
                        "source": addr(REMOTE), "packet": hx(packet),
                        "replies": [{"destination": addr(d), "packet": hx(p)} for d, p in receiver.endpoint.sent],
                        "sender_services": services, "sender_verified": verified})

    # A similarity request from gamma (which runs Discovery and OTHER) to alpha (which runs only Discovery).
    sender = build_node("gamma", 500, ((OTHER_ID, "gamma"),))
    request = sender.create_similarity_request(sender.my_peer)
    feed("on-similarity-request", build_node("alpha", 20), request, 20)

    # A similarity response from gamma, once as pyipv8 sends it and once with a (never sent) tb_overlap list.
    response = sender.create_similarity_response(21, sender.my_peer)
    feed("on-similarity-response", build_node("alpha", 3), response, 3)
    payload = SimilarityResponsePayload(22, [DISCOVERY_ID, THIRD_ID], [(OTHER_ID, 7), (THIRD_ID, 4294967295)])
    auth = BinMemberAuthenticationPayload(KEYS["gamma"].pub().key_to_bin())
    with_overlap = sender.custom_pack(sender.my_peer, 2, [auth, GlobalTimeDistributionPayload(600), payload])
    feed("on-similarity-response/tb-overlap", build_node("alpha", 3), with_overlap, 3)

    # A ping answered with a pong.
    sender.send_ping(Peer(KEYS["alpha"].pub(), MY_WAN))
    feed("on-ping", build_node("alpha", 300), sender.endpoint.sent[-1][1], 300)

    # The Dispersy-style introduction request asking for delta, which the receiver knows.
    known = [{"key": "delta", "address": addr(INTRODUCED)}]
    dispersy = DiscoveryIntroductionRequestPayload(KEYS["delta"].pub().key_to_hash(), MY_WAN, REMOTE_LAN, REMOTE,
                                                   True, "unknown", 77, b"")
    packet = sender.custom_pack(sender.my_peer, 246, [auth, GlobalTimeDistributionPayload(77), dispersy])
    feed("on-dispersy-introduction-request", with_known(build_node("alpha", 1000), known), packet, 1000, known)

    # A plain introduction request to the DiscoveryCommunity.
    plain = sender.create_introduction_request(MY_WAN)
    feed("on-plain-introduction-request", with_known(build_node("alpha", 1000), known), plain, 1000, known)
    return records


def with_known(node: DiscoveryCommunity, known: list) -> DiscoveryCommunity:
    for entry in known:
        peer = Peer(KEYS[entry["key"]].pub(), UDPv4Address(*entry["address"]))
        node.network.add_verified_peer(peer)
        node.network.discover_services(peer, [DISCOVERY_ID])
    return node


def parsed_vectors() -> list[dict]:
    records = []
    cases = [
        ("similarity-request", SimilarityRequestPayload(70000, MY_LAN, MY_WAN, "public", [DISCOVERY_ID, OTHER_ID])),
        ("similarity-request/symmetric-nat-no-ids", SimilarityRequestPayload(1, REMOTE_LAN, REMOTE, "symmetric-NAT",
                                                                               [])),
        ("similarity-response", SimilarityResponsePayload(5, [THIRD_ID], [(OTHER_ID, 1), (DISCOVERY_ID, 2)])),
        ("ping", PingPayload(65536 + 99)),
        ("pong", PongPayload(12)),
        ("dispersy-introduction-request",
         DiscoveryIntroductionRequestPayload(KEYS["delta"].pub().key_to_hash(), MY_WAN, REMOTE_LAN, REMOTE,
                                             False, "public", 4242, b"\x01\x02")),
    ]
    for name, payload in cases:
        packed = default_serializer.pack_serializable(payload)
        back, _ = default_serializer.unpack_serializable(type(payload), packed)
        fields = {}
        for attribute in ("identifier", "lan_address", "wan_address", "connection_type", "preference_list",
                          "tb_overlap", "destination_address", "source_lan_address", "source_wan_address",
                          "advice", "extra_bytes"):
            if hasattr(back, attribute):
                value = getattr(back, attribute)
                if attribute in ("lan_address", "wan_address", "destination_address", "source_lan_address",
                                 "source_wan_address"):
                    value = addr(value)
                elif attribute == "preference_list":
                    value = [hx(item) for item in value]
                elif attribute == "tb_overlap":
                    value = [[hx(item[0]), item[1]] for item in value]
                elif attribute == "extra_bytes":
                    value = hx(value)
                fields[attribute] = value
        if isinstance(payload, DiscoveryIntroductionRequestPayload):
            # pyipv8 3.2.1 hands back a one-element tuple here; the mid is what was sent.
            fields["introduce_to"] = hx(payload.introduce_to)
        records.append({"name": name, "class": type(payload).__name__, "packed": hx(packed), "fields": fields})
    return records


async def main(target: Path) -> None:
    document = {
        "generator": "tests/peerdiscovery/make_discovery_vectors.py",
        "reference": "pyipv8 3.2.1",
        "keys": {name: hx(key.key_to_bin()) for name, key in KEYS.items()},
        "community_ids": {"discovery": hx(DISCOVERY_ID), "other": hx(OTHER_ID), "third": hx(THIRD_ID)},
        "layout": [[hx(community_id), key_name] for community_id, key_name in LAYOUT],
        "my_lan": addr(MY_LAN),
        "my_wan": addr(MY_WAN),
        "built": built_vectors(),
        "received": received_vectors(),
        "parsed": parsed_vectors(),
    }
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    asyncio.run(main(Path(sys.argv[1])))
