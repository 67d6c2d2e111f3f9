"""Communities on real UDP sockets bound to 127.0.0.1: discovery, punctures and signed messages."""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.trial import unittest
from zope.interface import implementer

from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import lazy_wrapper
from ipv8.messaging.interfaces.endpoint import IEndpointListener
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.messaging.payload_dataclass import dataclass
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.util import wait_until


@dataclass(msg_id=1)
class Note:
    sequence: int
    text: str


class NoteCommunity(Community):
    community_id = b"\x5a" * 20

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.notes: list[tuple[bytes, int, str]] = []
        self.add_message_handler(Note, self.on_note)

    @lazy_wrapper(Note)
    def on_note(self, peer: Peer, payload: Note) -> None:
        self.notes.append((peer.mid, payload.sequence, payload.text))
        if payload.sequence < 3:
            self.ez_send(peer, Note(payload.sequence + 1, f"re: {payload.text}"))


@implementer(IEndpointListener)
class MessageIdLog:
    def __init__(self) -> None:
        self.seen: list[tuple[tuple[str, int], int]] = []

    def on_packet(self, packet: tuple[Any, bytes]) -> None:
        source, data = packet
        if len(data) > 22:
            self.seen.append((tuple(source), data[22]))


class TestCommunityOverUDP(unittest.TestCase):
    timeout = 20

    def setUp(self) -> Any:
        self.nodes: list[NoteCommunity] = []
        self.logs: list[MessageIdLog] = []

        async def start() -> None:
            for _ in range(3):
                endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
                self.assertTrue(await endpoint.open())
                key = default_eccrypto.generate_key("curve25519")
                peer = Peer(key, UDPv4Address(*endpoint.get_address()))
                community = NoteCommunity(CommunitySettings(my_peer=peer, endpoint=endpoint, network=Network()))
                log = MessageIdLog()
                endpoint.add_listener(log)
                self.nodes.append(community)
                self.logs.append(log)
        return ensureDeferred(start())

    def tearDown(self) -> Any:
        async def stop() -> None:
            for community in self.nodes:
                await community.unload()
                await community.endpoint.close()
        return ensureDeferred(stop())

    def address(self, i: int) -> UDPv4Address:
        return UDPv4Address(*self.nodes[i].endpoint.get_address())

    def test_addresses_stay_on_loopback(self) -> None:
        for community in self.nodes:
            self.assertEqual("127.0.0.1", community.my_estimated_lan[0])

    async def test_discovery_with_introduction_and_puncture(self) -> None:
        a, b, c = self.nodes
        # B knows C; A only knows B's address.
        c.walk_to(self.address(1))
        await wait_until(lambda: len(b.get_peers()) == 1 and len(c.get_peers()) == 1)

        a.walk_to(self.address(1))
        # B introduced C to A, and told C to puncture towards A: C's puncture reaches A.
        await wait_until(lambda: (self.address(2), 249) in self.logs[0].seen)
        self.assertIn((self.address(1), 250), self.logs[2].seen)
        # The signed puncture is enough for A to accept C; B's response made B a peer of A.
        await wait_until(lambda: len(a.get_peers()) == 2)
        self.assertEqual({b.my_peer.mid, c.my_peer.mid}, {peer.mid for peer in a.get_peers()})
        # A answered C's puncture with an introduction request, so C knows A as well.
        await wait_until(lambda: len(c.get_peers()) == 2)
        self.assertIn((self.address(0), 246), self.logs[2].seen)
        # Our outside address, as the others report it, is the loopback address we bound to.
        self.assertEqual(self.address(0), a.my_estimated_wan)

    async def test_signed_conversation(self) -> None:
        a, b, _ = self.nodes
        a.walk_to(self.address(1))
        await wait_until(lambda: len(a.get_peers()) == 1)
        [peer_b] = a.get_peers()
        a.ez_send(peer_b, Note(0, "hello"))
        await wait_until(lambda: len(a.notes) == 2 and len(b.notes) == 2)
        self.assertEqual([(a.my_peer.mid, 0, "hello"), (a.my_peer.mid, 2, "re: re: hello")], b.notes)
        self.assertEqual([(b.my_peer.mid, 1, "re: hello"), (b.my_peer.mid, 3, "re: re: re: hello")], a.notes)
        self.assertEqual(0, sum(b.drop_counts.values()))

    async def test_garbage_does_not_disturb(self) -> None:
        a, b, _ = self.nodes
        a.walk_to(self.address(1))
        await wait_until(lambda: len(a.get_peers()) == 1)
        prefix = b.get_prefix()
        for junk in (b"", b"\x00", prefix, prefix + b"\x01", prefix + b"\x01\x00\x4a" + b"x" * 80, b"\xff" * 1000):
            a.endpoint.send(self.address(1), junk)
        a.ez_send(a.get_peers()[0], Note(3, "after the junk"))
        await wait_until(lambda: len(b.notes) == 1)
        self.assertEqual(1, len(b.get_peers()))
        self.assertGreaterEqual(sum(b.drop_counts.values()), 3)

