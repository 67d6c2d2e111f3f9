"""The iterative lookup: a rolling window of requests, punctures through the node that named a candidate."""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import ensureDeferred

from ipv8.dht.community import DHTCommunity
from ipv8.dht.payload import encode_value
from ipv8.dht.routing import Node
from ipv8.messaging.addresses import UDPv4Address
from ipv8.test.base import TestBase

FIND_REQUEST = 5


class TestLookup(TestBase[DHTCommunity]):
    """Nodes whose routing tables are set by hand, so each lookup's path is known."""

    NODES = 4

    def setUp(self) -> Any:
        result = super().setUp()
        self.initialize(DHTCommunity, self.NODES)
        return result

    def know(self, i: int, *others: int) -> None:
        table = self.overlay(i).routing_tables[UDPv4Address]
        for other in others:
            table.add(Node(self.public_key(other), self.address(other), clock=self.overlay(i).clock))

    def record_sends(self, i: int) -> list[tuple[Any, int]]:
        sent: list[tuple[Any, int]] = []
        endpoint = self.overlay(i).endpoint
        original = endpoint.send

        def send(address: Any, packet: bytes) -> None:
            sent.append((address, packet[22]))
            original(address, packet)
        endpoint.send = send
        return sent

    async def test_candidates_named_by_another_node_are_punctured_first(self) -> None:
        # Node 0 only knows node 1; node 1 knows nodes 2 and 3. Looking up node 3's id, node 1 names node 3
        # as closest (it punctures for that one itself) and node 2 after it.
        self.know(0, 1)
        self.know(1, 2, 3)
        self.know(2, 1, 3)
        self.know(3, 1, 2)
        target = Node(self.public_key(3), self.address(3)).id
        sent = self.record_sends(0)
        found = ensureDeferred(self.overlay(0).find_nodes(target))
        await self.deliver_messages()
        nodes = await found
        self.assertEqual({node.mid for node in nodes}, {self.mid(1), self.mid(2), self.mid(3)})
        finds_to = [address for address, msg_id in sent if msg_id == FIND_REQUEST]
        # One find-request to node 1 for the target, and one more for node 2's id before node 2 is asked.
        self.assertEqual(finds_to.count(self.address(1)), 2)
        self.assertLess(finds_to.index(self.address(1), 1), finds_to.index(self.address(2)))
        self.assertEqual(finds_to.count(self.address(3)), 1)

    async def test_a_silent_node_holds_up_only_its_own_slot(self) -> None:
        self.know(0, 1, 2, 3)
        for i in (1, 2, 3):
            self.know(i, *(j for j in range(1, self.NODES) if j != i))
        # Node 1 never answers; the lookup still completes from the others without waiting for it.
        self.internet.set_link(self.endpoint(0).wan_address, self.address(1), loss=1.0)
        self.overlay(0).find_timeout = 30.0
        found = self.overlay(0).find_values(b"\x11" * 20)
        stored = self.overlay(2).storage
        stored.put(b"\x11" * 20, encode_value(b"here"), 3600)
        await self.deliver_messages(timeout=3)
        self.assertTrue(found.called)
        self.assertEqual(await found, [(b"here", None)])


class TestOwnNodeId(TestBase[DHTCommunity]):
    """Our node id follows the address others see us at, even when that is learnt after start."""

    def setUp(self) -> Any:
        result = super().setUp()
        self.initialize(DHTCommunity, 3)
        return result

    def test_tables_are_renumbered_when_our_address_becomes_known(self) -> None:
        from ipv8.dht.routing import calc_node_id
        overlay = self.overlay(0)
        # As in a service before any peer answered: nobody has told us our address yet.
        overlay.my_peer.addresses.clear()
        overlay.my_estimated_wan = UDPv4Address("0.0.0.0", 0)
        overlay.sync_node_ids()
        unknown = calc_node_id(UDPv4Address("0.0.0.0", 0), self.mid(0))
        self.assertEqual(overlay.routing_tables[UDPv4Address].my_node_id, unknown)
        self.know(0, 1, 2)
        # The WAN vote settles on our real address: the id changes and the known nodes stay.
        overlay.my_peer.address = self.address(0)
        table = overlay.get_routing_table(self.peer(1))
        self.assertEqual(table.my_node_id, calc_node_id(self.address(0), self.mid(0)))
        self.assertIs(table, overlay.routing_tables[UDPv4Address])
        self.assertEqual({node.mid for node in table.nodes()}, {self.mid(1), self.mid(2)})
        self.assertEqual(overlay.get_my_node_id(self.peer(2)), table.my_node_id)

    def know(self, i: int, *others: int) -> None:
        table = self.overlay(i).routing_tables[UDPv4Address]
        for other in others:
            table.add(Node(self.public_key(other), self.address(other), clock=self.overlay(i).clock))


class TestBucketRefresh(TestBase[DHTCommunity]):
    """Maintenance refreshes a bucket nobody touched for a while by looking up an id inside it."""

    def setUp(self) -> Any:
        result = super().setUp()
        self.initialize(DHTCommunity, 3)
        return result

    async def test_stale_bucket_is_refreshed_and_fresh_one_is_not(self) -> None:
        from ipv8.dht.community import BUCKET_REFRESH_AGE
        overlay = self.overlay(0)
        table = overlay.routing_tables[UDPv4Address]
        for other in (1, 2):
            table.add(Node(self.public_key(other), self.address(other), clock=overlay.clock))
        sent: list[int] = []
        original = overlay.endpoint.send
        overlay.endpoint.send = lambda address, packet: (sent.append(packet[22]), original(address, packet))[1]
        # Just touched: nothing to refresh.
        await ensureDeferred(overlay.node_maintenance())
        self.assertNotIn(FIND_REQUEST, sent)
        (bucket,) = table.buckets()
        bucket.last_changed = overlay.clock.seconds() - BUCKET_REFRESH_AGE - 1
        maintenance = ensureDeferred(overlay.node_maintenance())
        await self.deliver_messages()
        await maintenance
        self.assertIn(FIND_REQUEST, sent)
        self.assertGreater(bucket.last_changed, overlay.clock.seconds() - BUCKET_REFRESH_AGE)
