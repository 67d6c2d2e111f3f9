"""DHTCommunity on the in-memory internet: store, find, ping, tokens, timeouts and hostile requests.

The overlays run on a :class:`~twisted.internet.task.Clock` (packets still travel on the reactor): request
timeouts fire only when a test moves that clock, so no test depends on how fast the machine is.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock

from ipv8.dht import DHTError
from ipv8.dht.community import DHTCommunity
from ipv8.dht.payload import (ConnectPeerRequestPayload, ConnectPeerResponsePayload, FindRequestPayload,
                              StorePeerRequestPayload, StorePeerResponsePayload, StoreRequestPayload,
                              encode_signed_value, encode_value)
from ipv8.dht.routing import Node
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8

KEY = b"\x42" * 20


class TestDHTCommunity(TestBase[DHTCommunity]):
    """A few DHT nodes that know each other."""

    NODES = 4

    def setUp(self) -> Any:
        result = super().setUp()
        #: The clock of every overlay; it starts well past 0, which a node reads as "never".
        self.clock = Clock()
        self.clock.advance(10_000)
        self.initialize(DHTCommunity, self.NODES)
        return result

    def create_node(self, settings: Any = None, create_dht: bool = False,  # noqa: ANN401
                    enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8(self.DEFAULT_KEY_LEVEL, DHTCommunity, internet=self.internet, clock=self.clock)

    async def settle(self, deferred: Deferred) -> Any:  # noqa: ANN401
        """Deliver messages, moving the clock one request timeout at a time until ``deferred`` fired; its result."""
        await self.deliver_messages()
        for _ in range(20):
            if deferred.called:
                break
            self.clock.advance(DHTCommunity.request_timeout)
            await self.deliver_messages()
        self.assertTrue(deferred.called, "still waiting after 20 request timeouts")
        return await deferred

    async def fill_tables(self) -> None:
        """Let the nodes meet (introductions), so that their pings put everyone in every routing table."""
        await self.introduce_nodes()
        await self.deliver_messages()

    def table_size(self, i: int) -> int:
        return sum(len(table) for table in self.overlay(i).routing_tables.values())

    async def token_from(self, asker: int, asked: int) -> bytes:
        """Have ``asker`` get a token from ``asked`` through a real find-request."""
        node = self.overlay(asker).get_routing_table(self.peer(asked)).get(
            Node(self.public_key(asked), self.address(asked)).id)
        assert node is not None
        find = self.overlay(asker)._find_request(node, KEY, True)
        await self.deliver_messages()
        self.assertIsNotNone(await find)
        return self.overlay(asker).tokens[node.id][1]

    async def test_introductions_fill_routing_tables(self) -> None:
        await self.fill_tables()
        for i in range(self.NODES):
            self.assertEqual(self.table_size(i), self.NODES - 1)

    async def test_ping(self) -> None:
        await self.fill_tables()
        node = self.overlay(0).routing_tables[UDPv4Address].nodes()[0]
        pinged = self.overlay(0).ping(node)
        await self.deliver_messages()
        self.assertIs(await pinged, node)
        self.assertGreater(node.last_response, 0)
        self.assertEqual(node.failed, 0)

    async def test_find_nodes(self) -> None:
        await self.fill_tables()
        found = ensureDeferred(self.overlay(0).find_nodes(KEY))
        await self.deliver_messages()
        nodes = await found
        self.assertEqual({node.mid for node in nodes}, {self.mid(i) for i in range(1, self.NODES)})
        distances = [node.distance(KEY) for node in nodes]
        self.assertEqual(distances, sorted(distances))

    async def test_store_and_find_unsigned(self) -> None:
        await self.fill_tables()
        stored = self.overlay(0).store_value(KEY, b"hello")
        await self.deliver_messages()
        nodes = await stored
        self.assertEqual(len(nodes), self.NODES - 1)
        for i in range(1, self.NODES):
            self.assertEqual(self.overlay(i).storage.get(KEY), [encode_value(b"hello")])
        found = self.overlay(3).find_values(KEY)
        await self.deliver_messages()
        self.assertEqual(await found, [(b"hello", None)])

    async def test_store_and_find_signed(self) -> None:
        await self.fill_tables()
        stored = self.overlay(1).store_value(KEY, b"signed data", sign=True)
        await self.deliver_messages()
        self.assertTrue(await stored)
        found = self.overlay(2).find_values(KEY)
        await self.deliver_messages()
        self.assertEqual(await found, [(b"signed data", self.key_bin(1))])

    async def test_find_unknown_key_is_empty(self) -> None:
        await self.fill_tables()
        found = self.overlay(0).find_values(b"\x01" * 20)
        await self.deliver_messages()
        self.assertEqual(await found, [])

    async def test_lookup_without_nodes_fails(self) -> None:
        with self.assertRaises(DHTError):
            await self.overlay(0).find_values(KEY)
        with self.assertRaises(DHTError):
            await self.overlay(0).store_value(KEY, b"x")

    async def test_bad_key_and_oversized_value_fail(self) -> None:
        await self.fill_tables()
        with self.assertRaises(DHTError):
            await self.overlay(0).store_value(b"short", b"x")
        with self.assertRaises(DHTError):
            await self.overlay(0).store_value(KEY, b"x" * 200)

    async def test_ping_timeout_fails_with_dht_error(self) -> None:
        await self.fill_tables()
        timeout = self.overlay(0).request_timeout
        node = self.overlay(0).routing_tables[UDPv4Address].nodes()[0]
        self.internet.set_link(self.endpoint(0).wan_address, node.address, loss=1.0)
        pinged = self.overlay(0).ping(node)
        await self.deliver_messages()
        self.clock.advance(timeout - 0.001)
        self.assertFalse(pinged.called)  # not a moment before the timeout
        self.assertEqual(node.failed, 0)
        self.clock.advance(0.002)
        with self.assertRaises(DHTError):
            await pinged
        self.assertEqual(node.failed, 1)
        self.assertEqual(len(self.overlay(0)._pending), 0)

    async def test_store_with_token_of_other_address_is_refused(self) -> None:
        await self.fill_tables()
        target = self.overlay(0).get_routing_table(self.peer(1)).get(
            Node(self.public_key(1), self.address(1)).id)
        # A token node 1 would issue to node 0 at a different address.
        elsewhere = Node(self.public_key(0), UDPv4Address("198.18.200.1", 1234))
        stolen = self.overlay(1).generate_token(elsewhere)
        self.overlay(0).ez_send(target, StoreRequestPayload(1, stolen, KEY, [encode_value(b"sneaky")]))
        await self.deliver_messages()
        self.assertEqual(self.overlay(1).drop_counts["dht-bad-token"], 1)
        self.assertEqual(self.overlay(1).storage.get(KEY), [])
        # The token issued to node 0's own address is accepted.
        token = await self.token_from(0, 1)
        self.overlay(0).ez_send(target, StoreRequestPayload(2, token, KEY, [encode_value(b"fine")]))
        await self.deliver_messages()
        self.assertEqual(self.overlay(1).storage.get(KEY), [encode_value(b"fine")])

    async def test_previous_token_secret_still_accepted(self) -> None:
        await self.fill_tables()
        token = await self.token_from(0, 1)
        node0 = Node(self.public_key(0), self.address(0))
        self.overlay(1).token_maintenance()
        self.assertTrue(self.overlay(1).check_token(node0, token))
        self.overlay(1).token_maintenance()
        self.assertFalse(self.overlay(1).check_token(node0, token))

    async def test_forged_signed_value_is_refused(self) -> None:
        await self.fill_tables()
        token = await self.token_from(0, 1)
        target = self.overlay(0).get_routing_table(self.peer(1)).get(Node(self.public_key(1), self.address(1)).id)
        genuine = encode_signed_value(b"real", self.private_key(2), 100)
        forged = genuine.replace(b"real", b"fake")
        self.overlay(0).ez_send(target, StoreRequestPayload(3, token, KEY, [forged]))
        await self.deliver_messages()
        self.assertEqual(self.overlay(1).drop_counts["dht-value-bad-signature"], 1)
        self.assertEqual(self.overlay(1).storage.get(KEY), [])
        # A forged value in a find-response is dropped by the finder as well.
        self.assertEqual(self.overlay(0)._decoded_values([forged, genuine, b"\x00" + b"y" * 200]),
                         [(b"real", self.key_bin(2))])
        self.assertEqual(self.overlay(0).drop_counts["dht-value-bad-signature"], 1)
        self.assertEqual(self.overlay(0).drop_counts["dht-value-oversized"], 1)

    async def test_store_flood_stays_bounded(self) -> None:
        await self.fill_tables()
        token = await self.token_from(0, 1)
        target = self.overlay(0).get_routing_table(self.peer(1)).get(Node(self.public_key(1), self.address(1)).id)
        for index in range(200):
            key = index.to_bytes(20, "big")
            self.overlay(0).ez_send(target, StoreRequestPayload(index, token, key, [encode_value(b"flood")]))
        await self.deliver_messages()
        limit = int(2 * DHTCommunity.store_rate_limit)
        self.assertLessEqual(len(self.overlay(1).storage), limit)
        dropped = self.overlay(1).drop_counts["dht-rate-limited"] + self.overlay(1).drop_counts["dht-blocked-node"]
        self.assertGreaterEqual(dropped, 200 - limit)

    async def test_blocking_is_a_rate_limit_not_a_ban(self) -> None:
        """A node asking a steady 4 times a second is answered 10 times per 5 s, not cut off for good."""
        from ipv8.dht.routing import NODE_LIMIT_INTERVAL, NODE_LIMIT_QUERIES
        await self.fill_tables()
        answered = 0
        seconds = 20
        for _ in range(4 * seconds):
            self.clock.advance(0.25)
            answered += self.overlay(1)._requester(self.peer(0)) is not None
        expected = NODE_LIMIT_QUERIES * seconds / NODE_LIMIT_INTERVAL
        self.assertGreaterEqual(answered, expected - NODE_LIMIT_QUERIES)
        self.assertLessEqual(answered, expected + NODE_LIMIT_QUERIES)
        self.assertEqual(self.overlay(1).drop_counts["dht-blocked-node"], 4 * seconds - answered)

    async def test_garbage_nodes_in_find_response_are_skipped(self) -> None:
        await self.fill_tables()
        garbage = [Node(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address("0.0.0.0", 0)),
                   Node(self.public_key(0), self.address(0))]
        self.assertFalse(any(self.overlay(0)._acceptable(node) for node in garbage))
        self.assertEqual(self.overlay(0).drop_counts["dht-garbage-node"], 2)

    async def test_unsolicited_response_is_dropped(self) -> None:
        await self.fill_tables()
        target = self.overlay(0).get_routing_table(self.peer(1)).get(Node(self.public_key(1), self.address(1)).id)
        self.overlay(0).ez_send(target, FindRequestPayload(7, UDPv4Address("198.19.0.2", 8001), KEY, 0, True))
        await self.deliver_messages()
        # Node 0 never asked with identifier 7: the answer it got is unsolicited.
        self.assertEqual(self.overlay(0).drop_counts["dht-unsolicited-response"], 1)

    async def test_pending_requests_are_bounded(self) -> None:
        await self.fill_tables()
        self.overlay(0).max_pending_requests = 2
        node = self.overlay(0).routing_tables[UDPv4Address].nodes()[0]
        first, second = self.overlay(0).ping(node), self.overlay(0).ping(node)
        with self.assertRaises(DHTError):
            await self.overlay(0).ping(node)
        await self.deliver_messages()
        self.assertIs(await first, node)
        self.assertIs(await second, node)
        self.assertEqual(len(self.overlay(0)._pending), 0)

    async def test_newest_signed_version_wins(self) -> None:
        old = encode_signed_value(b"old", self.private_key(2), 100)
        new = encode_signed_value(b"new", self.private_key(2), 200)
        self.assertEqual(self.overlay(0)._decoded_values([new, old]), [(b"new", self.key_bin(2))])
        self.assertEqual(self.overlay(0)._decoded_values([old, new]), [(b"new", self.key_bin(2))])

    async def test_silent_node_does_not_break_lookup(self) -> None:
        await self.fill_tables()
        stored = self.overlay(1).store_value(KEY, b"still here")
        await self.deliver_messages()
        await stored
        self.internet.set_link(self.endpoint(0).wan_address, self.endpoint(3).wan_address, loss=1.0)
        found = await self.settle(self.overlay(0).find_values(KEY))
        self.assertEqual(found, [(b"still here", None)])
        # A lookup for nodes has to wait for the silent one: it ends at the timeout, without it.
        silent = self.overlay(0).routing_tables[UDPv4Address].get(Node(self.public_key(3), self.address(3)).id)
        self.clock.advance(DHTCommunity.request_timeout)  # the first lookup's request to it times out too
        self.assertEqual(len(self.overlay(0)._pending), 0)
        failures = silent.failed
        lookup = self.overlay(0).find_nodes(KEY)
        await self.deliver_messages()
        self.assertFalse(lookup.called)
        nodes = await self.settle(lookup)
        self.assertEqual({node.mid for node in nodes}, {self.mid(1), self.mid(2)})
        self.assertEqual(silent.failed, failures + 1)

    async def test_stale_nodes_are_pinged_and_bad_ones_removed(self) -> None:
        await self.fill_tables()
        community = self.overlay(0)
        node = community.routing_tables[UDPv4Address].nodes()[0]
        self.internet.set_link(self.endpoint(0).wan_address, node.address, loss=1.0)
        for _ in range(2):
            node.last_response, node.last_ping_sent = 1.0, 0.0
            node.last_queries.clear()
            community.ping_maintenance()
            await self.deliver_messages()
            self.clock.advance(community.request_timeout)  # past the request timeout
        self.assertEqual(node.failed, 2)
        await community.node_maintenance()
        self.assertFalse(community.routing_tables[UDPv4Address].has(node.id))
        self.assertEqual(self.table_size(0), self.NODES - 2)

    async def test_own_values_are_published_again(self) -> None:
        await self.fill_tables()
        stored = self.overlay(0).store_value(KEY, b"mine", sign=True)
        await self.deliver_messages()
        await stored
        for i in range(1, self.NODES):
            self.overlay(i).storage.remove(KEY)
        republished = ensureDeferred(self.overlay(0).value_maintenance())
        await self.deliver_messages()
        await republished
        for i in range(1, self.NODES):
            self.assertEqual(len(self.overlay(i).storage.get(KEY)), 1)

    async def test_discovery_messages_have_handlers(self) -> None:
        await self.fill_tables()
        target = self.overlay(0).get_routing_table(self.peer(1)).get(Node(self.public_key(1), self.address(1)).id)
        self.overlay(0).ez_send(target, StorePeerRequestPayload(1, b"\x00" * 20, self.mid(0)))
        self.overlay(0).ez_send(target, ConnectPeerRequestPayload(2, UDPv4Address("198.19.0.2", 8001), self.mid(2)))
        self.overlay(0).ez_send(target, StorePeerResponsePayload(3))
        await self.deliver_messages()
        self.assertEqual(self.overlay(1).drop_counts["dht-unsupported-request"], 2)
        self.assertEqual(self.overlay(1).drop_counts["dht-unsolicited-response"], 1)
        # An answer to a request of the discovery kinds completes its cache.
        node = self.overlay(1).get_routing_table(self.peer(0)).get(Node(self.public_key(0), self.address(0)).id)
        asked = self.overlay(1)._request("connect-peer", node,
                                         lambda cache: ConnectPeerRequestPayload(cache.number, self.address(1), KEY))
        number = next(iter(self.overlay(1)._pending)).number
        self.overlay(0).ez_send(target, ConnectPeerResponsePayload(number, [node, target]))
        await self.deliver_messages()
        answered = await asked
        # Node 1 itself in the answer is garbage to node 1.
        self.assertEqual([each.mid for each in answered], [self.mid(0)])
        self.assertEqual(self.overlay(1).drop_counts["dht-garbage-node"], 1)

    async def test_find_storm_is_rate_limited(self) -> None:
        await self.fill_tables()
        target = self.overlay(0).get_routing_table(self.peer(1)).get(Node(self.public_key(1), self.address(1)).id)
        sent_before = self.endpoint(1).bytes_up
        for index in range(100):
            self.overlay(0).ez_send(target, FindRequestPayload(index, self.address(0), index.to_bytes(20, "big"), 0,
                                                               False))
        await self.deliver_messages()
        dropped = self.overlay(1).drop_counts["dht-rate-limited"] + self.overlay(1).drop_counts["dht-blocked-node"]
        self.assertGreaterEqual(dropped, 100 - int(2 * DHTCommunity.find_rate_limit))
        self.assertGreater(self.endpoint(1).bytes_up, sent_before)  # the first ones were answered

    async def test_old_tokens_are_not_used(self) -> None:
        await self.fill_tables()
        await self.token_from(0, 1)
        node_id = next(iter(self.overlay(0).tokens))
        node = self.overlay(0).routing_tables[UDPv4Address].get(node_id)
        self.assertIsNotNone(self.overlay(0)._usable_token(node))
        when, token = self.overlay(0).tokens[node_id]
        self.overlay(0).tokens[node_id] = (when - 601, token)
        self.assertIsNone(self.overlay(0)._usable_token(node))
        self.overlay(0).token_maintenance()
        self.assertNotIn(node_id, self.overlay(0).tokens)

    async def test_find_request_makes_closest_node_puncture(self) -> None:
        await self.fill_tables()
        before = self.overlay(2).drop_counts.copy()
        received = []
        original = self.overlay(2).on_puncture_request
        self.overlay(2).on_puncture_request = lambda *args: received.append(args) or original(*args)
        found = self.overlay(0).find_nodes(Node(self.public_key(2), self.address(2)).id)
        await self.deliver_messages()
        await found
        self.assertTrue(received)
        self.assertEqual(self.overlay(2).drop_counts, before)
