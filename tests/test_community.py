"""Community behaviour on the in-memory internet: dispatch, signing, discovery and error isolation."""
from __future__ import annotations

import os

from twisted.internet.defer import Deferred
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ipv8.community import (DROP_BAD_SIGNATURE, DROP_HANDLER_ERROR, DROP_MALFORMED, DROP_UNKNOWN_MESSAGE, Community,
                            CommunitySettings)
from ipv8.lazy_community import lazy_wrapper, lazy_wrapper_unsigned, lazy_wrapper_unsigned_wd, lazy_wrapper_wd
from ipv8.messaging.interfaces.endpoint import IEndpointListener
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.messaging.payload_dataclass import dataclass
from ipv8.overlay import IOverlay, IPeerDiscovery
from ipv8.peer import Peer
from ipv8.test.base import TestBase


@dataclass(msg_id=1)
class Ping:
    value: int
    text: str


@vp_compile
class Raw(VariablePayload):
    msg_id = 2
    format_list = ["H"]
    names = ["number"]


@dataclass(msg_id=3)
class Boom:
    value: int


@dataclass(msg_id=4)
class Later:
    value: int


class EchoCommunity(Community):
    community_id = b"\x11" * 20

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.received: list[tuple[Peer, Ping]] = []
        self.unsigned: list[tuple[object, int]] = []
        self.with_data: list[bytes] = []
        self.later: list[int] = []
        self.add_message_handler(Ping, self.on_ping)
        self.add_message_handler(Raw, self.on_raw)
        self.add_message_handler(Boom, self.on_boom)
        self.add_message_handler(Later, self.on_later)
        self.add_message_handler(5, self.on_ping_wd)
        self.add_message_handler(6, self.on_raw_wd)

    @lazy_wrapper(Ping)
    def on_ping(self, peer: Peer, payload: Ping) -> None:
        self.received.append((peer, payload))

    @lazy_wrapper_unsigned(Raw)
    def on_raw(self, source_address: object, payload: Raw) -> None:
        self.unsigned.append((source_address, payload.number))

    @lazy_wrapper(Boom)
    def on_boom(self, peer: Peer, payload: Boom) -> None:
        raise RuntimeError(f"handler failure {payload.value}")

    @lazy_wrapper(Later)
    async def on_later(self, peer: Peer, payload: Later) -> None:
        waiter: Deferred = Deferred()
        from twisted.internet import reactor
        reactor.callLater(0, waiter.callback, None)
        await waiter
        self.later.append(payload.value)

    @lazy_wrapper_wd(Ping)
    def on_ping_wd(self, peer: Peer, payload: Ping, data: bytes) -> None:
        self.with_data.append(data)

    @lazy_wrapper_unsigned_wd(Raw)
    def on_raw_wd(self, source_address: object, payload: Raw, data: bytes = b"") -> None:
        self.with_data.append(data)


@implementer(IEndpointListener)
class MessageLog:
    """Endpoint listener that notes (source, message id) of every packet."""

    def __init__(self) -> None:
        self.messages: list[tuple[object, int]] = []

    def on_packet(self, packet: tuple[object, bytes]) -> None:
        source, data = packet
        self.messages.append((source, data[22]))


class TestCommunityMessaging(TestBase[EchoCommunity]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(EchoCommunity, 2)

    def test_overlay_interface(self) -> None:
        self.assertTrue(verifyObject(IOverlay, self.overlay(0)))
        self.assertTrue(verifyObject(IPeerDiscovery, self.overlay(0)))

    def test_endpoint_capabilities_are_interfaces(self) -> None:
        from ipv8.interfaces import IAnonymizingEndpoint, IMultiInterfaceEndpoint
        from ipv8.messaging.interfaces.dispatcher.endpoint import DispatcherEndpoint
        self.assertFalse(IAnonymizingEndpoint.providedBy(self.endpoint(0)))
        self.assertFalse(IMultiInterfaceEndpoint.providedBy(self.endpoint(0)))
        dispatcher = DispatcherEndpoint(["UDPIPv4"], UDPIPv4={"port": 0, "ip": "127.0.0.1"})
        self.assertTrue(verifyObject(IMultiInterfaceEndpoint, dispatcher))

    def test_the_base_overlay_does_not_pretend_to_discover_peers(self) -> None:
        from ipv8.overlay import Overlay
        self.assertFalse(IPeerDiscovery.implementedBy(Overlay))
        self.assertFalse(hasattr(Overlay, "walk_to"))

    def test_prefix(self) -> None:
        self.assertEqual(b"\x00\x02" + b"\x11" * 20, self.overlay(0).get_prefix())

    def test_reserved_and_duplicate_ids_refused(self) -> None:
        overlay = self.overlay(0)
        for msg_id in (231, 246, 255):
            with self.assertRaises(ValueError):
                overlay.add_message_handler(msg_id, overlay.on_ping)
        with self.assertRaises(ValueError):
            overlay.add_message_handler(Ping, overlay.on_ping)
        with self.assertRaises(ValueError):
            overlay.add_message_handler(256, overlay.on_ping)
        with self.assertRaises(TypeError):
            overlay.add_message_handler(object, overlay.on_ping)

    def test_community_id_must_be_20_bytes(self) -> None:
        class Broken(Community):
            community_id = b"short"

        with self.assertRaises(ValueError):
            Broken(CommunitySettings(my_peer=self.my_peer(0), endpoint=self.endpoint(0), network=self.network(0)))

    async def test_signed_message(self) -> None:
        self.overlay(0).ez_send(self.peer(1), Ping(7, "héllo"))
        await self.deliver_messages()
        [(peer, payload)] = self.overlay(1).received
        self.assertEqual(self.key_bin(0), peer.public_key.key_to_bin())
        self.assertEqual((7, "héllo"), (payload.value, payload.text))

    async def test_unsigned_message(self) -> None:
        self.overlay(0).ez_send(self.peer(1), Raw(513), sig=False)
        await self.deliver_messages()
        self.assertEqual([(self.address(0), 513)], self.overlay(1).unsigned)

    async def test_with_data_wrappers_pass_the_packet(self) -> None:
        signed = self.overlay(0).ezr_pack(5, Ping(1, "a"))
        unsigned = self.overlay(0).ezr_pack(6, Raw(2), sig=False)
        self.endpoint(0).send(self.address(1), signed)
        self.endpoint(0).send(self.address(1), unsigned)
        await self.deliver_messages()
        self.assertEqual([signed, unsigned], self.overlay(1).with_data)

    async def test_coroutine_handler(self) -> None:
        self.overlay(0).ez_send(self.peer(1), Later(5))
        await self.deliver_messages()
        self.assertEqual([5], self.overlay(1).later)

    async def test_known_peer_object_is_reused(self) -> None:
        self.overlay(0).ez_send(self.peer(1), Ping(1, ""))
        await self.deliver_messages()
        known = self.network(1).get_verified_by_public_key_bin(self.key_bin(0))
        self.assertIs(known, self.overlay(1).received[0][0])

    async def test_assert_received_by(self) -> None:
        with self.assertReceivedBy(1, [Ping, Raw]) as received:
            self.overlay(0).ez_send(self.peer(1), Ping(1, "x"))
            self.overlay(0).ez_send(self.peer(1), Raw(9), sig=False)
            await self.deliver_messages()
        self.assertEqual(1, received[0].value)
        self.assertEqual(9, received[1].number)

    async def test_assert_received_by_detects_missing_message(self) -> None:
        with self.assertRaises(self.failureException):
            with self.assertReceivedBy(1, [Ping, Ping]):
                self.overlay(0).ez_send(self.peer(1), Ping(1, "x"))
                await self.deliver_messages()

    async def test_assert_received_by_unordered_and_filtered(self) -> None:
        with self.assertReceivedBy(1, [Ping, Raw], ordered=False, message_filter=[Ping, Raw]):
            self.overlay(0).ez_send(self.peer(1), Raw(9), sig=False)
            self.overlay(0).ez_send(self.peer(1), Later(3))
            self.overlay(0).ez_send(self.peer(1), Ping(1, "x"))
            await self.deliver_messages()

    async def test_fragile_mode_fails_the_test(self) -> None:
        self.overlay(0).ez_send(self.peer(1), Boom(3))
        with self.assertRaises(RuntimeError):
            await self.deliver_messages()


class TestProductionErrorHandling(TestBase[EchoCommunity]):
    """In production a misbehaving handler or peer costs one packet, never the node."""

    def setUp(self) -> None:
        super().setUp()
        self.production_overlay_classes.append(EchoCommunity)
        self.initialize(EchoCommunity, 2)

    async def test_handler_exception_is_isolated(self) -> None:
        with self.assertLogs("EchoCommunity", level="ERROR") as logs:
            self.overlay(0).ez_send(self.peer(1), Boom(3))
            await self.deliver_messages()
        self.assertIn("message 3", logs.output[0])
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_HANDLER_ERROR])
        self.overlay(0).ez_send(self.peer(1), Ping(1, "still alive"))
        await self.deliver_messages()
        self.assertEqual(1, len(self.overlay(1).received))

    def test_bad_signature_counted(self) -> None:
        packet = bytearray(self.overlay(0).ezr_pack(1, Ping(1, "x")))
        packet[-1] ^= 0x01
        self.overlay(1).on_packet((self.address(0), bytes(packet)))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_BAD_SIGNATURE])
        self.assertEqual([], self.overlay(1).received)

    def test_swapped_signature_counted(self) -> None:
        """A valid signature from another packet does not make a forged packet valid."""
        good = self.overlay(0).ezr_pack(1, Ping(1, "x"))
        other = self.overlay(0).ezr_pack(1, Ping(2, "x"))
        forged = other[:-64] + good[-64:]
        self.overlay(1).on_packet((self.address(0), forged))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_BAD_SIGNATURE])

    def test_forged_key_counted(self) -> None:
        """Someone signs with their key but claims another peer's key."""
        good = self.overlay(0).ezr_pack(1, Ping(1, "x"))
        key0, key1 = self.key_bin(0), self.key_bin(1)
        forged = good.replace(key0, key1)
        self.overlay(1).on_packet((self.address(0), forged))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_BAD_SIGNATURE])

    def test_malformed_payload_counted(self) -> None:
        prefix = self.overlay(0).get_prefix()
        self.overlay(1).on_packet((self.address(0), prefix + b"\x02" + b"\x01"))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_MALFORMED])

    def test_oversized_key_counted(self) -> None:
        prefix = self.overlay(0).get_prefix()
        packet = prefix + b"\x01" + b"\xff\xff" + os.urandom(300)
        self.overlay(1).on_packet((self.address(0), packet))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_MALFORMED])

    def test_unknown_message_counted(self) -> None:
        prefix = self.overlay(0).get_prefix()
        self.overlay(1).on_packet((self.address(0), prefix + b"\x63payload"))
        self.assertEqual(1, self.overlay(1).drop_counts[DROP_UNKNOWN_MESSAGE])

    def test_truncated_and_flipped_packets_never_raise(self) -> None:
        overlay = self.overlay(1)
        peers_before = set(overlay.network.verified_peers)
        packets = [self.overlay(0).ezr_pack(1, Ping(1, "abc")),
                   self.overlay(0).create_introduction_request(self.address(1)),
                   self.overlay(0).create_puncture_request(self.address(0), self.address(0), 1)]
        dropped = 0
        for packet in packets:
            for cut in range(len(packet)):
                overlay.on_packet((self.address(0), packet[:cut]))
                dropped += 1
            for position in range(23, len(packet)):
                flipped = bytearray(packet)
                flipped[position] ^= 0x40
                overlay.on_packet((self.address(0), bytes(flipped)))
        self.assertEqual(peers_before, set(overlay.network.verified_peers))
        self.assertGreaterEqual(sum(overlay.drop_counts.values()), dropped)


class TestDiscovery(TestBase[EchoCommunity]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(EchoCommunity, 3)
        for i in range(3):
            for peer in list(self.network(i).verified_peers):
                self.network(i).remove_peer(peer)

    async def test_introduce_nodes(self) -> None:
        await self.introduce_nodes()
        for i in range(3):
            self.assertEqual(2, len(self.overlay(i).get_peers()))

    async def test_introduction_and_puncture(self) -> None:
        """Node 1 introduces node 2 to node 0; node 2 punctures towards node 0."""
        self.overlay(2).walk_to(self.address(1))  # nodes 1 and 2 know each other
        await self.deliver_messages()
        seen = {i: MessageLog() for i in range(3)}
        for i, log in seen.items():
            self.endpoint(i).add_listener(log)
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual([(self.address(0), 246)], [m for m in seen[1].messages if m[1] == 246])
        self.assertIn((self.address(1), 250), seen[2].messages)  # puncture request to the introduced node
        self.assertIn((self.address(1), 245), seen[0].messages)  # introduction response
        self.assertIn((self.address(2), 249), seen[0].messages)  # the puncture itself
        # Node 0 verified node 1 (its response) and node 2 (its signed puncture), and answered node 2's
        # puncture with an introduction request, so node 2 knows node 0 as well.
        self.assertIn((self.address(0), 246), seen[2].messages)
        for i, others in ((0, {1, 2}), (2, {0, 1})):
            self.assertEqual({self.key_bin(j) for j in others},
                             {p.public_key.key_to_bin() for p in self.overlay(i).get_peers()})

    async def test_puncture_respects_the_peer_limit(self) -> None:
        self.network(1).add_verified_peer(self.peer(2))
        self.network(1).discover_services(self.network(1).get_verified_by_public_key_bin(self.key_bin(2)),
                                          [EchoCommunity.community_id])
        self.overlay(0).max_peers = 1
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual([self.key_bin(1)], [p.public_key.key_to_bin() for p in self.overlay(0).get_peers()])
        self.assertIn(self.address(2), self.overlay(0).get_walkable_addresses())

    def test_introduction_requests_go_to_the_least_recently_asked_peer(self) -> None:
        from twisted.internet.task import Clock
        overlay = self.overlay(0)
        overlay.clock = Clock()
        for i in (1, 2):
            self.network(0).add_verified_peer(self.peer(i))
            self.network(0).discover_services(self.network(0).get_verified_by_public_key_bin(self.key_bin(i)),
                                              [EchoCommunity.community_id])
        asked: list[bytes] = []
        overlay.send_introduction_request = lambda peer: asked.append(peer.mid)  # type: ignore[method-assign]
        for _ in range(6):
            overlay.get_new_introduction()
            overlay.clock.advance(1)
        self.assertEqual({self.mid(1), self.mid(2)}, set(asked))
        self.assertTrue(all(first != second for first, second in zip(asked, asked[1:])), "peers must alternate")

    async def test_walk_to_introduced_address(self) -> None:
        self.network(1).add_verified_peer(self.peer(2))
        self.network(1).discover_services(self.network(1).get_verified_by_public_key_bin(self.key_bin(2)),
                                          [EchoCommunity.community_id])
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        for address in self.overlay(0).get_walkable_addresses():
            self.overlay(0).walk_to(address)
        await self.deliver_messages()
        self.assertEqual(2, len(self.overlay(0).get_peers()))

    async def test_peer_limit(self) -> None:
        # Node 2 answered an introduction request of node 1: it is established and cannot be evicted.
        self.overlay(1).walk_to(self.address(2))
        await self.deliver_messages()
        self.overlay(1).max_peers = 0
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual([], self.overlay(0).get_peers())
        self.assertEqual([self.key_bin(2)], [p.public_key.key_to_bin() for p in self.overlay(1).get_peers()])
        self.assertEqual(1, self.overlay(1).drop_counts["peer-limit"])

    async def test_peer_limit_evicts_peers_that_never_answered(self) -> None:
        # Node 2 only ever asked node 1 for introductions: at the limit, a newcomer takes its place.
        self.overlay(2).walk_to(self.address(1))
        await self.deliver_messages()
        self.overlay(1).max_peers = 0
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual(1, len(self.overlay(0).get_peers()))
        self.assertEqual([self.key_bin(0)], [p.public_key.key_to_bin() for p in self.overlay(1).get_peers()])

    async def test_new_style_introduction(self) -> None:
        packet = self.overlay(0).create_introduction_request(self.address(1), new_style=True)
        self.assertEqual(234, packet[22])
        self.endpoint(0).send(self.address(1), packet)
        await self.deliver_messages()
        [peer] = self.overlay(1).get_peers()
        self.assertTrue(peer.new_style_intro)
        self.assertEqual(1, len(self.overlay(0).get_peers()))

    def test_old_style_sizes_match_the_deployed_network(self) -> None:
        overlay = self.overlay(0)
        self.assertEqual(192, len(overlay.create_introduction_request(self.address(1))))
        self.assertEqual(204, len(overlay.create_introduction_response(self.address(0), self.address(1), 1,
                                                                       introduction=None)))
        self.assertEqual(45, len(overlay.create_puncture_request(self.address(0), self.address(1), 1)))
        self.assertEqual(185, len(overlay.create_puncture(self.address(0), self.address(1), 1)))
        self.assertEqual(195, len(overlay.create_introduction_request(self.address(1), new_style=True)))
        self.assertEqual(209, len(overlay.create_introduction_response(self.address(0), self.address(1), 1,
                                                                       new_style=True)))
        self.assertEqual(47, len(overlay.create_puncture_request(self.address(0), self.address(1), 1,
                                                                 new_style=True)))


def test_unload_returns_deferred() -> None:
    from ipv8.test.mocking.ipv8 import MockIPv8
    node = MockIPv8("curve25519", EchoCommunity)
    result = node.stop()
    assert isinstance(result, Deferred)
    assert not node.endpoint.is_open()


class TestAssertReceivedByFrameworkMessages(TestBase[EchoCommunity]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(EchoCommunity, 2)

    async def test_introduction_messages_are_decoded_past_the_global_time(self) -> None:
        from ipv8.messaging.payload import IntroductionRequestPayload, IntroductionResponsePayload
        with self.assertReceivedBy(1, [IntroductionRequestPayload], message_filter=[IntroductionRequestPayload]) \
                as requests:
            with self.assertReceivedBy(0, [IntroductionResponsePayload],
                                       message_filter=[IntroductionResponsePayload]) as responses:
                self.overlay(0).walk_to(self.address(1))
                await self.deliver_messages()
        self.assertEqual(self.address(1), requests[0].destination_address)
        self.assertEqual(self.address(0), responses[0].destination_address)
        self.assertEqual(requests[0].identifier, responses[0].identifier)


class TestLastResponse(TestBase[EchoCommunity]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(EchoCommunity, 2)
        for i in range(2):
            for peer in list(self.network(i).verified_peers):
                self.network(i).remove_peer(peer)

    async def test_peers_verified_by_introductions_have_a_last_response(self) -> None:
        """Churn ignores peers with last_response 0, so a freshly verified peer must carry a time."""
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        [requester] = self.overlay(1).get_peers()
        [responder] = self.overlay(0).get_peers()
        self.assertGreater(requester.last_response, 0)
        self.assertGreater(responder.last_response, 0)
