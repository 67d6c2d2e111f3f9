"""DHTDiscoveryCommunity on the in-memory internet: announcing, connecting, expiry, caps and wiring."""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import ensureDeferred

from ipv8.community import Community
from ipv8.dht import DHTError
from ipv8.dht.community import DHTCommunity
from ipv8.dht.discovery import (MAX_ADDRESSES_PER_PEER, MAX_STORED_PER_IP, STORED_PEER_TIMEOUT,
                                DHTDiscoveryCommunity)
from ipv8.dht.payload import PingRequestPayload, StorePeerRequestPayload
from ipv8.dht.routing import Node
from ipv8.messaging.addresses import UDPv4Address
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8


class TestDHTDiscovery(TestBase[DHTDiscoveryCommunity]):
    """Five discovery nodes that have met."""

    NODES = 5

    def setUp(self) -> Any:
        result = super().setUp()
        self.initialize(DHTDiscoveryCommunity, self.NODES)
        return result

    async def meet(self) -> None:
        await self.introduce_nodes()
        await self.deliver_messages()

    def node_of(self, asker: int, other: int) -> Node:
        """``other`` as a node in ``asker``'s routing table."""
        node = self.overlay(asker).get_routing_table(self.peer(other)).get(
            Node(self.public_key(other), self.address(other)).id)
        assert node is not None
        return node

    async def announce(self, i: int) -> list[Node]:
        stored = self.overlay(i).store_peer()
        await self.deliver_messages()
        return await stored

    async def test_store_peer_announces_on_the_closest_nodes(self) -> None:
        await self.meet()
        confirmed = await self.announce(0)
        self.assertEqual(len(confirmed), self.NODES - 1)
        self.assertEqual(len(self.overlay(0).store_for_me[self.mid(0)]), self.NODES - 1)
        for i in range(1, self.NODES):
            stored = self.overlay(i).store[self.mid(0)]
            self.assertEqual([node.public_key.key_to_bin() for node in stored], [self.key_bin(0)])
        # Enough nodes store us: the next round does nothing.
        self.assertEqual(await self.announce(0), [])

    async def test_connect_peer_finds_and_punctures(self) -> None:
        await self.meet()
        await self.announce(0)
        # Watch what node 0 sends: the storing nodes must make it puncture towards node 4.
        sent: list[tuple[Any, int]] = []
        endpoint = self.overlay(0).endpoint
        original_send = endpoint.send

        def recording_send(address: Any, packet: bytes) -> None:
            sent.append((address, packet[22]))
            original_send(address, packet)
        endpoint.send = recording_send
        # Node 4 stores node 0 itself (everyone does in so small a network): make it ask the others.
        self.overlay(4).store.clear()
        self.overlay(4)._stored_per_ip.clear()
        connected = self.overlay(4).connect_peer(self.mid(0))
        await self.deliver_messages()
        nodes = await connected
        self.assertEqual([(node.public_key.key_to_bin(), node.address) for node in nodes],
                         [(self.key_bin(0), self.address(0))])
        punctures = [address for address, msg_id in sent if msg_id == 249]
        self.assertTrue(punctures)
        self.assertTrue(all(address == self.address(4) for address in punctures))

    async def test_connect_peer_we_store_ourselves_needs_no_lookup(self) -> None:
        await self.meet()
        await self.announce(0)
        nodes = await self.overlay(1).connect_peer(self.mid(0))
        self.assertEqual([node.address for node in nodes], [self.address(0)])

    async def test_connect_peer_with_a_live_peer_pings_instead(self) -> None:
        await self.meet()
        connected = self.overlay(2).connect_peer(self.mid(3), self.peer(3))
        await self.deliver_messages()
        nodes = await connected
        self.assertEqual([node.address for node in nodes], [self.address(3)])
        self.assertEqual(self.overlay(2).store, {})

    async def test_connect_unknown_peer_fails(self) -> None:
        await self.meet()
        connected = self.overlay(1).connect_peer(b"\x07" * 20)
        await self.deliver_messages()
        with self.assertRaises(DHTError):
            await connected

    async def test_connect_peer_checks_the_mid(self) -> None:
        with self.assertRaises(DHTError):
            await self.overlay(0).connect_peer(b"short")

    async def test_store_peer_under_another_key_is_refused(self) -> None:
        await self.meet()
        target = self.node_of(0, 1)
        token = (await self._token(0, 1))
        self.overlay(0).ez_send(target, StorePeerRequestPayload(1, token, self.mid(2)))
        await self.deliver_messages()
        self.assertEqual(self.overlay(1).drop_counts["dht-store-peer-wrong-key"], 1)
        self.assertNotIn(self.mid(2), self.overlay(1).store)

    async def test_store_peer_without_our_token_is_refused(self) -> None:
        await self.meet()
        self.overlay(0).ez_send(self.node_of(0, 1), StorePeerRequestPayload(1, b"\x00" * 20, self.mid(0)))
        await self.deliver_messages()
        self.assertEqual(self.overlay(1).drop_counts["dht-bad-token"], 1)
        self.assertNotIn(self.mid(0), self.overlay(1).store)

    async def _token(self, asker: int, asked: int) -> bytes:
        node = self.node_of(asker, asked)
        find = self.overlay(asker)._find_request(node, b"\x42" * 20, True)
        await self.deliver_messages()
        self.assertIsNotNone(await find)
        return self.overlay(asker).tokens[node.id][1]

    async def test_silent_stored_peers_are_forgotten_and_pinging_ones_kept(self) -> None:
        await self.meet()
        await self.announce(0)
        await self.announce(1)
        storer = self.overlay(2)
        self.assertIn(self.mid(0), storer.store)
        # Node 0 pings node 2 (as its ping_all would); node 1 stays silent.
        self.overlay(0).ez_send(self.node_of(0, 2), PingRequestPayload(7))
        await self.deliver_messages()
        for node in storer.store[self.mid(1)]:
            node.last_queries.clear()
            node.last_queries.append(storer.clock.seconds() - STORED_PEER_TIMEOUT - 1)
        storer.ping_all()
        self.assertIn(self.mid(0), storer.store)
        self.assertNotIn(self.mid(1), storer.store)
        self.assertEqual(storer._stored_per_ip[self.address(1)[0]], 0)

    async def test_ping_all_pings_the_nodes_storing_us(self) -> None:
        await self.meet()
        await self.announce(0)
        storing = self.overlay(0).store_for_me[self.mid(0)]
        for node in storing:
            node.last_ping_sent = 0
        self.overlay(0).ping_all()
        self.assertTrue(all(node.last_ping_sent > 0 for node in storing))
        await self.deliver_messages()
        self.assertTrue(all(node.last_response > 0 for node in storing))

    def test_caps_per_ip_and_per_peer(self) -> None:
        overlay = self.overlay(0)
        from ipv8.keyvault.crypto import default_eccrypto
        for i in range(MAX_STORED_PER_IP + 3):
            node = Node(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address("10.1.2.3", 2000 + i))
            overlay._keep_stored(node.mid, node)
        self.assertEqual(len(overlay.store), MAX_STORED_PER_IP)
        self.assertEqual(overlay.drop_counts["dht-store-peer-ip-full"], 3)
        key = default_eccrypto.generate_key("curve25519").pub()
        for i in range(MAX_ADDRESSES_PER_PEER + 2):
            node = Node(key, UDPv4Address(f"10.9.0.{i + 1}", 3000))
            overlay._keep_stored(node.mid, node)
        kept = overlay.store[node.mid]
        self.assertEqual(len(kept), MAX_ADDRESSES_PER_PEER)
        self.assertEqual(kept[-1].address, UDPv4Address(f"10.9.0.{MAX_ADDRESSES_PER_PEER + 2}", 3000))
        self.assertEqual(sum(overlay._stored_per_ip.values()),
                         sum(len(nodes) for nodes in overlay.store.values()))

    def test_offers_ping_churn(self) -> None:
        from ipv8.dht.churn import PingChurn
        self.assertEqual(self.overlay(0).get_available_strategies(), {"PingChurn": PingChurn})

    def test_statistics_count_both_stores(self) -> None:
        stats = self.overlay(0).statistics()
        self.assertEqual((stats["stored_peers"], stats["peers_storing_me"]), (0, 0))


    async def test_cancelled_announcement_is_a_plain_cancellation(self) -> None:
        from twisted.internet.defer import CancelledError
        await self.meet()
        # A token from every node, so that store-peer-requests are out when we cancel.
        await ensureDeferred(self.overlay(0).find_nodes(self.mid(0)))
        announcing = self.overlay(0).store_peer()
        self.assertFalse(announcing.called)
        announcing.cancel()
        with self.assertRaises(CancelledError):
            await announcing

class _Plain(Community):
    community_id = b"\x05" * 20


class TestMockIPv8WithDHT(TestBase[_Plain]):
    """``create_dht=True`` gives every node a working DHT next to its overlay, as in pyipv8."""

    def setUp(self) -> Any:
        result = super().setUp()
        self.initialize(_Plain, 3, create_dht=True)
        return result

    async def test_nodes_have_a_dht(self) -> None:
        for node in self.nodes:
            self.assertIsInstance(node.dht, DHTDiscoveryCommunity)
            self.assertIs(node.get_overlay(DHTCommunity), node.dht)
        for node in self.nodes:
            for other in self.nodes:
                if other is not node:
                    node.dht.walk_to(other.raw_endpoint.wan_address)
        await self.deliver_messages()
        stored = ensureDeferred(self.nodes[0].dht.store_value(b"\x33" * 20, b"via MockIPv8"))
        await self.deliver_messages()
        self.assertEqual(len(await stored), 2)

    def test_plain_mock_has_no_dht(self) -> None:
        node = MockIPv8("curve25519", _Plain)
        self.addCleanup(node.stop)
        self.assertIsNone(node.dht)
        self.assertEqual(node.overlays, [node.overlay])

