"""DiscoveryCommunity: wire compatibility with pyipv8 3.2.1, similarity exchange, ping/pong and bad input."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from ipv8.community import DROP_BAD_SIGNATURE, DROP_MALFORMED, DROP_PEER_LIMIT, Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import HEADER_SIZE, PacketDecodingError, split_signed_packet
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.interfaces.endpoint import EndpointListener
from ipv8.messaging.payload import IntroductionRequestPayload, IntroductionResponsePayload
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from ipv8.messaging.serialization import PackError, default_serializer
from ipv8.peer import Peer
from ipv8.peerdiscovery import payload as discovery_payloads
from ipv8.peerdiscovery.churn import RandomChurn
from ipv8.peerdiscovery.community import (DROP_UNEXPECTED_PONG, DiscoveryCommunity, DiscoverySettings,
                                          PeriodicSimilarity, PingRequestCache)
from ipv8.peerdiscovery.discovery import IDiscoveryStrategy
from ipv8.peerdiscovery.network import Network
from ipv8.peerdiscovery.payload import (DiscoveryIntroductionRequestPayload, PingPayload, PongPayload,
                                        SimilarityRequestPayload, SimilarityResponsePayload)
from ipv8.test.base import TestBase
from ipv8.test.mocking.endpoint import Internet, MockEndpoint
from ipv8.test.mocking.ipv8 import MockIPv8

VECTORS = json.loads((Path(__file__).parent / "discovery_vectors.json").read_text())
DISCOVERY_ID = bytes.fromhex("7e313685c1912a141279f8248fc8db5899c5df5a")
OTHER_ID = bytes.fromhex(VECTORS["community_ids"]["other"])
THIRD_ID = bytes.fromhex(VECTORS["community_ids"]["third"])


# ---------------------------------------------------------------------------------------------------------------
# Byte-for-byte agreement with the vectors written by make_discovery_vectors.py (pyipv8 3.2.1)
# ---------------------------------------------------------------------------------------------------------------

def vector_key(name: str) -> Any:  # noqa: ANN401
    return default_eccrypto.key_from_private_bin(bytes.fromhex(VECTORS["keys"][name]))


def as_address(pair: list) -> UDPv4Address:
    return UDPv4Address(pair[0], pair[1])


class RecordingEndpoint(MockEndpoint):
    """Open, with the generator's addresses, and keeps what is sent instead of delivering it."""

    def __init__(self) -> None:
        super().__init__(as_address(VECTORS["my_lan"]), as_address(VECTORS["my_wan"]), Internet(Clock()))
        self.sent: list[tuple[Any, bytes]] = []

    def is_open(self) -> bool:
        return True

    def send(self, socket_address: Any, packet: bytes) -> None:  # noqa: ANN401
        self.sent.append((socket_address, packet))


def plain_community(community_id: bytes) -> type[Community]:
    return type(f"Plain{community_id.hex()[:6]}", (Community,), {"community_id": community_id})


def build_node(key_name: str, clock: int, layout: list | tuple = ()) -> DiscoveryCommunity:
    """Our twin of the generator's build_node: same keys, addresses, Lamport clock and extra overlays."""
    endpoint = RecordingEndpoint()
    network = Network()
    node = DiscoveryCommunity(DiscoverySettings(my_peer=Peer(vector_key(key_name)), endpoint=endpoint,
                                                network=network, clock=Clock()))
    for community_id_hex, owner in layout:
        my_peer = node.my_peer if owner == key_name else Peer(vector_key(owner))
        plain_community(bytes.fromhex(community_id_hex))(CommunitySettings(my_peer=my_peer, endpoint=endpoint,
                                                                           network=network))
    node.my_estimated_lan = as_address(VECTORS["my_lan"])
    node.my_estimated_wan = as_address(VECTORS["my_wan"])
    node.address_is_lan = lambda address: address.startswith("192.168.")
    node.my_peer.update_clock(clock)
    return node


def identity(node: DiscoveryCommunity, key_name: str) -> Peer:
    wanted = vector_key(key_name).key_to_bin()
    return next(peer for peer in node.local_identities() if peer.key.key_to_bin() == wanted)


def unload_all(node: DiscoveryCommunity) -> None:
    for overlay in list(node.network.service_overlays.values()):
        overlay.unload()


@pytest.mark.parametrize("vector", VECTORS["built"], ids=[v["name"] for v in VECTORS["built"]])
def test_packets_equal_reference(vector: dict) -> None:
    node = build_node("alpha", vector["clock"], VECTORS["layout"])
    call = vector["call"]
    try:
        if call["method"] == "create_similarity_request":
            packet = node.create_similarity_request(identity(node, call["identity"]))
        elif call["method"] == "create_similarity_response":
            packet = node.create_similarity_response(call["identifier"], identity(node, call["identity"]))
        elif call["method"] == "send_ping":
            node.send_ping(Peer(vector_key(call["peer_key"]).pub(), as_address(call["peer_address"])))
            (destination, packet), = node.endpoint.sent
            assert tuple(destination) == tuple(vector["destination"])
        else:
            packet = node.create_pong(call["identifier"])
        assert packet.hex() == vector["packet"]
    finally:
        unload_all(node)


PUNCTURE_REQUEST_ID = 250
#: Offset of the LAN walker address in a puncture request: header (23) + global time (8).
LAN_WALKER_OFFSET = 31


def expected_reply(vector: dict, reply: dict) -> dict:
    """The reference reply, with one deliberate txipv8 difference applied.

    When an introduction request makes us introduce a peer, that peer gets a puncture request. txipv8 (see
    ``Community.on_introduction_request``) fills its LAN-walker field with the requester's own LAN address, where
    pyipv8 uses the address the requester used for us. Everything else must be the reference's bytes.
    """
    packet = bytes.fromhex(reply["packet"])
    if packet[22] != PUNCTURE_REQUEST_ID:
        return reply
    incoming = bytes.fromhex(vector["packet"])
    cls = DiscoveryIntroductionRequestPayload if "dispersy" in vector["name"] else IntroductionRequestPayload
    _, _, request = build_node("alpha", 0)._ez_unpack_auth(cls, incoming)
    lan = default_serializer.pack("ipv4", request.source_lan_address)
    patched = packet[:LAN_WALKER_OFFSET] + lan + packet[LAN_WALKER_OFFSET + len(lan):]
    return {"destination": reply["destination"], "packet": patched.hex()}


@pytest.mark.parametrize("vector", VECTORS["received"], ids=[v["name"] for v in VECTORS["received"]])
def test_replies_equal_reference(vector: dict) -> None:
    node = build_node(vector["receiver"], vector["receiver_clock"])
    try:
        for entry in vector["known"]:
            known = Peer(vector_key(entry["key"]).pub(), as_address(entry["address"]))
            node.network.add_verified_peer(known)
            node.network.discover_services(known, [DISCOVERY_ID])
        packet = bytes.fromhex(vector["packet"])
        if packet[22] == SimilarityResponsePayload.msg_id:
            # txipv8 only accepts answers to its own similarity requests (pyipv8 accepts any): the reference
            # node is taken to have asked first.
            _, _, response = node._ez_unpack_auth(SimilarityResponsePayload, packet)
            node._similarity_asked.set((response.identifier, tuple(as_address(vector["source"]))), None, 0.0)
        node.on_packet((as_address(vector["source"]), packet))

        assert not node.drop_counts
        sent = [{"destination": [d[0], d[1]], "packet": p.hex()} for d, p in node.endpoint.sent]
        assert sent == [expected_reply(vector, reply) for reply in vector["replies"]]
        gamma = vector_key("gamma").pub().key_to_bin()
        services = sorted(s.hex() for s in node.network.services_per_peer.get(gamma, ()))
        assert services == vector["sender_services"]
        assert (node.network.get_verified_by_public_key_bin(gamma) is not None) == vector["sender_verified"]
    finally:
        unload_all(node)


@pytest.mark.parametrize("vector", VECTORS["parsed"], ids=[v["name"] for v in VECTORS["parsed"]])
def test_payloads_parse_and_pack_like_reference(vector: dict) -> None:
    cls = getattr(discovery_payloads, vector["class"])
    packed = bytes.fromhex(vector["packed"])
    payload, end = default_serializer.unpack_serializable(cls, packed)
    assert end == len(packed)
    fields = vector["fields"]
    for name, expected in fields.items():
        value = getattr(payload, name)
        if name == "preference_list":
            value = [item.hex() for item in value]
        elif name == "tb_overlap":
            value = [[item[0].hex(), item[1]] for item in value]
        elif name in ("extra_bytes", "introduce_to"):
            value = value.hex()
        elif isinstance(value, tuple):
            value = [value[0], value[1]]
        assert value == expected, name

    # Building the same payload from the same values gives the reference bytes back.
    if cls is DiscoveryIntroductionRequestPayload:
        # The advice flag reads back inverted (a quirk shared with pyipv8); undo it to rebuild.
        rebuilt = cls(bytes.fromhex(fields["introduce_to"]), as_address(fields["destination_address"]),
                      as_address(fields["source_lan_address"]), as_address(fields["source_wan_address"]),
                      not fields["advice"], fields["connection_type"], fields["identifier"],
                      bytes.fromhex(fields["extra_bytes"]))
    else:
        rebuilt = payload
    assert default_serializer.pack_serializable(rebuilt) == packed


def test_payload_constructors_match_reference_signatures() -> None:
    """Packing from constructor arguments (as applications do) also gives the reference bytes."""
    by_name = {vector["name"]: bytes.fromhex(vector["packed"]) for vector in VECTORS["parsed"]}
    lan, wan = as_address(VECTORS["my_lan"]), as_address(VECTORS["my_wan"])
    pack = default_serializer.pack_serializable
    assert pack(SimilarityRequestPayload(70000, lan, wan, "public", [DISCOVERY_ID, OTHER_ID])) == \
        by_name["similarity-request"]
    assert pack(SimilarityResponsePayload(5, [THIRD_ID], [(OTHER_ID, 1), (DISCOVERY_ID, 2)])) == \
        by_name["similarity-response"]
    assert pack(PingPayload(65536 + 99)) == by_name["ping"]
    assert pack(PongPayload(12)) == by_name["pong"]


@pytest.mark.parametrize(("cls", "body"), [
    (SimilarityRequestPayload, bytes(15) + b"\x01"),          # 1 byte of community ids
    (SimilarityRequestPayload, bytes(14)),                    # truncated before the flags
    (SimilarityResponsePayload, b"\x00\x01\x00\x01" + bytes(19)),  # varlenHx20 claims 20 bytes, has 19
    (SimilarityResponsePayload, b"\x00\x01\x00\x00" + bytes(23)),  # a partial tb_overlap record
    (PingPayload, b"\x01"),
    (DiscoveryIntroductionRequestPayload, b"Z" + bytes(20) + bytes(21)),  # wrong marker
])
def test_malformed_payloads_raise_pack_error(cls: type, body: bytes) -> None:
    with pytest.raises(PackError):
        default_serializer.unpack_serializable(cls, body)


def test_similarity_request_without_ipv4_addresses() -> None:
    """The request only has room for IPv4: an IPv6-only node advertises 0.0.0.0:0 instead of failing."""
    node = build_node("alpha", 0)
    try:
        node.my_estimated_lan = UDPv6Address("::1", 8090)
        node.my_estimated_wan = UDPv6Address("2001:db8::1", 8090)
        packet = node.create_similarity_request(node.my_peer)
        _, start, body = split_signed_packet(packet)
        _, request = default_serializer.unpack_serializable_list([GlobalTimeDistributionPayload,
                                                                  SimilarityRequestPayload], body, offset=start)
        assert (tuple(request.lan_address), tuple(request.wan_address)) == (("0.0.0.0", 0), ("0.0.0.0", 0))
        assert request.preference_list == [DISCOVERY_ID]
    finally:
        unload_all(node)


def test_plain_community_settings_are_enough() -> None:
    endpoint = RecordingEndpoint()
    node = DiscoveryCommunity(CommunitySettings(my_peer=Peer(vector_key("beta")), endpoint=endpoint,
                                                network=Network()))
    try:
        assert node.request_cache is not None
        assert node.get_prefix() == b"\x00\x02" + DISCOVERY_ID
    finally:
        node.unload()


def test_community_ids_must_be_20_bytes() -> None:
    with pytest.raises((PackError, ValueError)):
        default_serializer.pack_serializable(SimilarityResponsePayload(1, [b"short"], []))


# ---------------------------------------------------------------------------------------------------------------
# Behaviour on the in-memory internet
# ---------------------------------------------------------------------------------------------------------------

class Received(EndpointListener):
    """Decodes the messages of one kind that reach a node's endpoint (signed or not, after the global time).

    ``TestBase.assertReceivedBy`` reads payloads sent with ``ez_send``, which carry no global-time header; the
    discovery messages all have one, so these tests use this small recorder instead.
    """

    def __init__(self, test: TestBase, i: int, cls: type) -> None:
        super().__init__(test.endpoint(i))
        self.overlay = test.overlay(i)
        self.cls = cls
        self.payloads: list[Any] = []
        self.endpoint.add_listener(self)

    def on_packet(self, packet: tuple[Any, bytes]) -> None:
        _, data = packet
        if data[:22] != self.overlay.get_prefix() or data[22] != self.cls.msg_id:
            return
        try:
            _, start, body = split_signed_packet(data)
        except PacketDecodingError:
            start, body = HEADER_SIZE, data
        self.payloads.append(default_serializer.unpack_serializable_list([GlobalTimeDistributionPayload, self.cls],
                                                                         body, offset=start)[1])

    def stop(self) -> list[Any]:
        self.endpoint.remove_listener(self)
        return self.payloads


class SecondCommunity(Community):
    """Another community a node runs, under a second identity."""

    community_id = OTHER_ID


class TestSimilarity(TestBase[DiscoveryCommunity]):

    def setUp(self) -> Any:  # noqa: ANN401
        result = super().setUp()
        self.initialize(DiscoveryCommunity, 2)
        return result

    def add_second_identity(self, i: int) -> Peer:
        """Give node ``i`` a SecondCommunity with its own key, sharing the node's endpoint and network."""
        node = self.node(i)
        second = Peer(default_eccrypto.generate_key("curve25519"), node.my_peer.address)
        overlay = SecondCommunity(CommunitySettings(my_peer=second, endpoint=node.endpoint, network=node.network))
        node.overlays.append(overlay)
        return second

    async def test_request_announces_every_identity(self) -> None:
        second = self.add_second_identity(0)
        self.assertEqual([self.mid(0), second.mid], [p.mid for p in self.overlay(0).local_identities()])

        recorder = Received(self, 1, SimilarityRequestPayload)
        self.overlay(0).send_similarity_request(self.address(1))
        await self.deliver_messages()
        received = recorder.stop()
        self.assertEqual([(DISCOVERY_ID,), (OTHER_ID,)], [tuple(p.preference_list) for p in received])
        self.assertEqual([tuple(self.address(0))] * 2, [tuple(p.wan_address) for p in received])

        network = self.network(1)
        self.assertEqual({DISCOVERY_ID}, network.get_services_for_peer(self.peer(0)))
        self.assertEqual({OTHER_ID}, network.get_services_for_peer(Peer(second.public_key)))

    async def test_response_verifies_the_responder_and_its_services(self) -> None:
        second = self.add_second_identity(1)
        self.network(0).remove_peer(self.peer(1))
        self.assertEqual([], self.overlay(0).get_peers())

        recorder = Received(self, 0, SimilarityResponsePayload)
        self.overlay(0).send_similarity_request(self.address(1))
        await self.deliver_messages()
        received = recorder.stop()
        self.assertEqual(2, len(received), "one response per identity of node 1")
        self.assertEqual({self.overlay(0).global_time % 65536}, {payload.identifier for payload in received})
        self.assertEqual({(DISCOVERY_ID,), (OTHER_ID,)}, {tuple(p.preference_list) for p in received})

        network = self.network(0)
        self.assertEqual([self.mid(1)], [peer.mid for peer in self.overlay(0).get_peers()])
        other_identity = network.get_verified_by_public_key_bin(second.public_key.key_to_bin())
        self.assertIsNotNone(other_identity)
        self.assertEqual({OTHER_ID}, network.get_services_for_peer(other_identity))
        self.assertEqual([other_identity], network.get_peers_for_service(OTHER_ID))

    async def test_introduction_response_triggers_similarity_request(self) -> None:
        for i in (0, 1):
            self.network(i).remove_peer(self.peer(1 - i))
        recorder = Received(self, 1, SimilarityRequestPayload)
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual([[DISCOVERY_ID]], [p.preference_list for p in recorder.stop()])
        self.assertEqual({DISCOVERY_ID}, self.network(1).get_services_for_peer(self.peer(0)))

    async def test_full_community_ignores_new_responders(self) -> None:
        self.overlay(0).max_peers = 0
        self.network(0).remove_peer(self.peer(1))
        stranger = self.add_second_identity(1)
        self.overlay(0).send_similarity_request(self.address(1))
        await self.deliver_messages()
        # 0 <= max_peers < len(peers) is false with no peers: the first responder identity still gets in.
        verified = {peer.mid for peer in self.network(0).verified_peers}
        self.assertEqual(1, len(verified & {self.mid(1), stranger.mid}))
        self.assertEqual(1, self.overlay(0).drop_counts[DROP_PEER_LIMIT])

    def test_strategies_on_offer(self) -> None:
        strategies = self.overlay(0).get_available_strategies()
        self.assertEqual({"PeriodicSimilarity": PeriodicSimilarity, "RandomChurn": RandomChurn}, strategies)
        for cls in strategies.values():
            verifyObject(IDiscoveryStrategy, cls(self.overlay(0)))


class TestDispersyIntroductionRequest(TestBase[DiscoveryCommunity]):

    def setUp(self) -> Any:  # noqa: ANN401
        result = super().setUp()
        self.initialize(DiscoveryCommunity, 6)
        return result

    def dispersy_request(self, sender: int, receiver: int, wanted_mid: bytes) -> bytes:
        overlay = self.overlay(sender)
        global_time = overlay.claim_global_time()
        payload = DiscoveryIntroductionRequestPayload(wanted_mid, self.address(receiver), self.address(sender),
                                                      self.address(sender), True, "unknown", global_time, b"")
        return overlay.custom_pack(overlay.my_peer, 246, [
            BinMemberAuthenticationPayload(self.key_bin(sender)), GlobalTimeDistributionPayload(global_time),
            payload])

    async def test_introduces_the_requested_peer(self) -> None:
        # With five candidates a random introduction would hit node 4 three times in a row with chance 1/125.
        for _ in range(3):
            recorder = Received(self, 0, IntroductionResponsePayload)
            self.endpoint(0).send(self.address(1), self.dispersy_request(0, 1, self.mid(4)))
            await self.deliver_messages()
            received = recorder.stop()
            self.assertEqual([tuple(self.address(4))], [tuple(p.wan_introduction_address) for p in received])
        self.assertFalse(self.overlay(1).drop_counts)

    async def test_unknown_mid_gets_a_random_introduction(self) -> None:
        recorder = Received(self, 0, IntroductionResponsePayload)
        self.endpoint(0).send(self.address(1), self.dispersy_request(0, 1, b"\x07" * 20))
        await self.deliver_messages()
        received = recorder.stop()
        self.assertEqual(1, len(received))
        introduced = tuple(received[0].wan_introduction_address)
        self.assertIn(introduced, [tuple(self.address(i)) for i in (2, 3, 4, 5)])

    async def test_plain_requests_still_work(self) -> None:
        recorder = Received(self, 0, IntroductionResponsePayload)
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual(1, len(recorder.stop()))
        self.assertFalse(self.overlay(1).drop_counts)


class TestBadInput(TestBase[DiscoveryCommunity]):
    """Whatever a remote sends, the community drops bad packets and counts them; nothing raises."""

    def setUp(self) -> Any:  # noqa: ANN401
        result = super().setUp()
        self.initialize(DiscoveryCommunity, 2)
        self.production_overlay_classes.append(DiscoveryCommunity)
        self.overlay(0).raise_handler_errors = False
        self.overlay(1).raise_handler_errors = False
        return result

    async def send_raw(self, packet: bytes) -> None:
        self.endpoint(0).send(self.address(1), packet)
        await self.deliver_messages()

    def signed_request(self, ids_blob: bytes) -> bytes:
        overlay = self.overlay(0)
        auth = BinMemberAuthenticationPayload(self.key_bin(0))
        body = default_serializer.pack_serializable_list([auth, GlobalTimeDistributionPayload(5)])
        body += b"\x00\x05" + bytes(12) + b"\x00" + ids_blob
        packet = overlay.get_prefix() + b"\x01" + body
        return packet + self.private_key(0).signature(packet)

    async def test_truncated_similarity_request(self) -> None:
        packet = self.overlay(0).create_similarity_request(self.my_peer(0))
        await self.send_raw(packet[:30])
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_MALFORMED])

    async def test_forged_similarity_request(self) -> None:
        packet = bytearray(self.overlay(0).create_similarity_request(self.my_peer(0)))
        packet[-70] ^= 0x01  # a community-id byte, under the signature
        await self.send_raw(bytes(packet))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_BAD_SIGNATURE])
        self.assertEqual(set(), self.network(1).get_services_for_peer(self.peer(0)) - {DISCOVERY_ID})

    async def test_partial_community_id_is_malformed(self) -> None:
        await self.send_raw(self.signed_request(DISCOVERY_ID + b"\x01"))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_MALFORMED])

    async def test_truncated_similarity_response(self) -> None:
        packet = self.overlay(0).create_similarity_response(1, self.my_peer(0))
        await self.send_raw(packet[:-65])
        counts = self.overlay(1).drop_counts
        self.assertEqual(1, counts[DROP_MALFORMED] + counts[DROP_BAD_SIGNATURE])

    async def test_truncated_ping_and_pong(self) -> None:
        prefix = self.overlay(0).get_prefix()
        await self.send_raw(prefix + b"\x03" + bytes(9))
        await self.send_raw(prefix + b"\x04" + bytes(3))
        self.assertEqual(2, self.overlay(1).drop_counts[DROP_MALFORMED])

    async def test_unsolicited_pong(self) -> None:
        await self.send_raw(self.overlay(0).create_pong(1234))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_UNEXPECTED_PONG])

    async def test_broken_dispersy_request(self) -> None:
        overlay = self.overlay(0)
        auth = BinMemberAuthenticationPayload(self.key_bin(0))
        body = default_serializer.pack_serializable_list([auth, GlobalTimeDistributionPayload(5)])
        packet = overlay.get_prefix() + bytes((246,)) + body + b"Y" + bytes(10)  # too short for either layout
        await self.send_raw(packet + self.private_key(0).signature(packet))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_MALFORMED])


# ---------------------------------------------------------------------------------------------------------------
# Ping / pong on a Clock-driven in-memory internet
# ---------------------------------------------------------------------------------------------------------------

class PingHarness:
    """Two DiscoveryCommunity nodes whose network, tasks and ping caches all run on one Clock."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.internet = Internet(self.clock)
        self.nodes = [MockIPv8("curve25519", DiscoveryCommunity, DiscoverySettings(clock=self.clock),
                               internet=self.internet) for _ in range(2)]
        self.a, self.b = (node.overlay for node in self.nodes)
        self.peer_b = Peer(self.b.my_peer.public_key, self.nodes[1].raw_endpoint.wan_address)

    def run(self, seconds: float, step: float = 0.125) -> None:
        for _ in range(round(seconds / step)):
            self.clock.advance(step)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


@pytest.fixture
def harness() -> Any:  # noqa: ANN401
    made = PingHarness()
    yield made
    made.stop()


def test_ping_pong_measures_round_trip_time(harness: PingHarness) -> None:
    wan_a, wan_b = harness.nodes[0].raw_endpoint.wan_address, harness.nodes[1].raw_endpoint.wan_address
    harness.internet.set_link(wan_a, wan_b, latency=0.25)
    harness.internet.set_link(wan_b, wan_a, latency=0.375)

    harness.a.send_ping(harness.peer_b)
    identifier = harness.a.global_time % 65536
    assert harness.a.request_cache.has(PingRequestCache, identifier)
    harness.run(0.5)
    assert len(harness.peer_b.pings) == 0, "the pong is still on its way"
    harness.run(0.125)
    assert list(harness.peer_b.pings) == [0.625]
    assert not harness.a.request_cache.has(PingRequestCache, identifier)

    harness.clock.advance(3.0)
    harness.a.send_ping(harness.peer_b)
    harness.run(1.0)
    assert list(harness.peer_b.pings) == [0.625, 0.625]
    assert not harness.a.drop_counts and not harness.b.drop_counts


def test_ping_times_out_after_five_seconds(harness: PingHarness) -> None:
    wan_a, wan_b = harness.nodes[0].raw_endpoint.wan_address, harness.nodes[1].raw_endpoint.wan_address
    harness.internet.set_link(wan_b, wan_a, latency=6.0)
    harness.a.send_ping(harness.peer_b)
    identifier = harness.a.global_time % 65536
    harness.run(4.9)
    assert harness.a.request_cache.has(PingRequestCache, identifier)
    harness.run(0.2)
    assert not harness.a.request_cache.has(PingRequestCache, identifier)
    harness.run(1.0)  # the late pong arrives
    assert len(harness.peer_b.pings) == 0
    assert harness.a.drop_counts[DROP_UNEXPECTED_PONG] == 1


def test_pong_from_another_address_is_not_a_measurement(harness: PingHarness) -> None:
    harness.a.send_ping(harness.peer_b)
    identifier = harness.a.global_time % 65536
    forged = harness.b.create_pong(identifier)
    harness.a.on_packet((UDPv4Address("198.18.200.1", 1), forged))
    assert harness.a.drop_counts[DROP_UNEXPECTED_PONG] == 1
    harness.run(0.1)  # the real pong still counts
    assert len(harness.peer_b.pings) == 1


def test_unload_cancels_outstanding_pings(harness: PingHarness) -> None:
    wan_a, wan_b = harness.nodes[0].raw_endpoint.wan_address, harness.nodes[1].raw_endpoint.wan_address
    harness.internet.set_link(wan_a, wan_b, loss=1.0)
    harness.a.send_ping(harness.peer_b)
    done = harness.a.unload()
    assert done.called
    harness.nodes[0].overlays.remove(harness.a)
    assert not harness.a.request_cache.has(PingRequestCache, harness.a.global_time % 65536)
    assert harness.clock.getDelayedCalls() == [] or all(not c.active() for c in harness.clock.getDelayedCalls())


# ---------------------------------------------------------------------------------------------------------------
# PeriodicSimilarity
# ---------------------------------------------------------------------------------------------------------------

class FakeDiscovery:
    """Just enough of a DiscoveryCommunity for PeriodicSimilarity: a network and a request recorder."""

    def __init__(self) -> None:
        self.network = Network()
        self.requests: list[Any] = []

    def send_similarity_request(self, address: Any) -> None:  # noqa: ANN401
        self.requests.append(address)

    def get_peers(self) -> list[Peer]:
        return list(self.network.verified_peers)


def test_periodic_similarity_sends_at_most_once_per_second() -> None:
    clock = Clock()
    overlay = FakeDiscovery()
    strategy = PeriodicSimilarity(overlay, clock=clock)  # type: ignore[arg-type]
    verifyObject(IDiscoveryStrategy, strategy)

    strategy.take_step()
    assert overlay.requests == [], "no verified peers, nothing to ask"

    addresses = [UDPv4Address("198.18.0.1", 1000 + i) for i in range(3)]
    for address in addresses:
        overlay.network.add_verified_peer(Peer(default_eccrypto.generate_key("curve25519").pub(), address))
    sent_at = []
    for _ in range(41):  # 10 seconds of 0.25 s ticks
        before = len(overlay.requests)
        strategy.take_step()
        if len(overlay.requests) > before:
            sent_at.append(clock.seconds())
        clock.advance(0.25)
    assert sent_at == [float(second) for second in range(11)]
    assert set(overlay.requests) <= set(addresses)
    assert len(set(overlay.requests)) > 1, "targets are picked at random"
