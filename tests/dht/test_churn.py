"""PingChurn on DHT nodes whose clocks and in-memory internet all run on one twisted Clock.

Nothing here waits for real time: packets are delivered, requests time out and intervals pass only when the
test advances the clock, so every assertion is about an exact moment.
"""
from __future__ import annotations

import hashlib
from typing import Any

from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from ipv8.dht.churn import MAX_PINGS_PER_STEP, PingChurn
from ipv8.dht.community import DHTCommunity
from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.routing import (
    NODE_STATUS_BAD,
    Node,
    RoutingTable,
    calc_node_id,
    id_to_binary_string,
)
from ipv8.interfaces import IDiscoveryStrategy
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.peer import Peer
from ipv8.test.base import TestBase
from ipv8.test.mocking.endpoint import Internet
from ipv8.test.mocking.ipv8 import MockIPv8

#: Where the clock starts: later than any interval, so that a never-pinged node is due at once.
START = 1000.0


class ClockedDHTTest(TestBase[DHTCommunity]):
    """DHT nodes on a Clock. The nodes know each other (verified peers) but have empty routing tables."""

    NODES = 4

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.clock.advance(START)
        self.internet = Internet(clock=self.clock)
        self.initialize(DHTCommunity, self.NODES)
        return result

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        assert self.overlay_class is not None
        return MockIPv8(self.DEFAULT_KEY_LEVEL, self.overlay_class, internet=self.internet, clock=self.clock)

    def settle(self) -> None:
        """Deliver every packet in flight (and the answers they cause), without moving the clock."""
        for _ in range(100):
            if not self.internet.in_flight:
                break
            self.clock.advance(0)
        self.assertEqual(self.internet.in_flight, 0)
        self._raise_network_errors()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, delivering packets on the way."""
        self.clock.advance(seconds)
        self.settle()

    def churn(self, i: int = 0, **kwargs: Any) -> PingChurn:
        return PingChurn(self.overlay(i), **kwargs)

    def table_mids(self, i: int) -> set[bytes]:
        return {node.mid for table in self.overlay(i).routing_tables.values() for node in table.nodes()}

    def peer_mids(self, i: int) -> set[bytes]:
        return {peer.mid for peer in self.overlay(i).get_peers()}

    def table_node(self, i: int, j: int) -> Node:
        """Node ``j`` as it is in node ``i``'s routing table."""
        node = self.overlay(i).get_routing_table(self.peer(j)).get(calc_node_id(self.address(j), self.mid(j)))
        assert node is not None
        return node


class TestPingChurnTables(ClockedDHTTest):
    """Steps 1 to 3: routing tables and the Network kept in step."""

    def test_is_a_discovery_strategy_on_the_overlay_clock(self) -> None:
        churn = self.churn()
        self.assertTrue(verifyObject(IDiscoveryStrategy, churn))
        self.assertEqual(churn.now(), START)
        self.assertEqual(churn.ping_interval, 25.0)
        self.assertEqual(churn.max_pings_per_step, MAX_PINGS_PER_STEP)

    def test_discovery_community_offers_it(self) -> None:
        self.assertIs(DHTDiscoveryCommunity.get_available_strategies(self.overlay(0)).get("PingChurn"), PingChurn)

    def test_verified_peers_enter_the_routing_tables(self) -> None:
        self.assertEqual(self.table_mids(0), set())
        self.churn(max_pings_per_step=0).take_step()
        self.assertEqual(self.table_mids(0), {self.mid(i) for i in range(1, self.NODES)})
        # The nodes carry the overlay's clock, so their status is judged on the same time as everything else.
        self.assertIs(self.table_node(0, 1).clock, self.clock)
        self.assertEqual(self.peer_mids(0), self.table_mids(0))

    def test_blacklisted_peers_stay_out_of_the_tables(self) -> None:
        self.network(0).blacklist.append(self.address(1))
        self.churn(max_pings_per_step=0).take_step()
        self.assertNotIn(self.mid(1), self.table_mids(0))
        self.assertIn(self.mid(1), self.peer_mids(0))

    def test_peer_at_an_unusable_address_is_refused_and_removed(self) -> None:
        key = default_eccrypto.generate_key("curve25519").pub()
        peer = Peer(key, UDPv4Address("0.0.0.0", 7000))
        self.network(0).add_verified_peer(peer)
        self.network(0).discover_services(peer, [DHTCommunity.community_id])
        self.assertIn(peer.mid, self.peer_mids(0))
        churn = self.churn(max_pings_per_step=0)
        churn.take_step()
        table = self.overlay(0).routing_tables[UDPv4Address]
        self.assertNotIn(peer.mid, self.table_mids(0))
        self.assertNotIn(peer.mid, self.peer_mids(0))
        self.assertEqual(table.refusals["unusable-address"], 1)
        churn.take_step()
        self.assertEqual(table.refusals["unusable-address"], 1)  # gone, so not offered (and refused) again

    def test_peer_refused_by_a_full_bucket_leaves_the_network(self) -> None:
        """A table with one node per bucket, set up so that node 1's bucket is full and cannot split."""
        target_id = calc_node_id(self.address(1), self.mid(1))
        first_bit = id_to_binary_string(target_id)[0]
        # Our id in the other half: the half of node 1 never holds our id, so it never splits.
        my_id = bytes(byte ^ 0xFF for byte in target_id)
        table = RoutingTable(my_id, UDPv4Address, bucket_size=1, clock=self.clock)
        self.overlay(0).routing_tables[UDPv4Address] = table
        index = 0
        while True:  # a filler node that falls in node 1's half
            index += 1
            filler_key = default_eccrypto.key_from_private_bin(
                b"LibNaCLSK:" + hashlib.sha512(f"filler {index}".encode()).digest()).pub()
            filler = Node(filler_key, UDPv4Address("198.18.200.1", 4000 + index), clock=self.clock)
            if id_to_binary_string(filler.id)[0] == first_bit:
                break
        self.assertIsNotNone(table.add(filler))

        self.churn(max_pings_per_step=0).take_step()

        self.assertFalse(table.has(target_id))
        self.assertNotIn(self.mid(1), self.peer_mids(0))
        self.assertGreaterEqual(table.refusals["no-room"], 1)
        # Whatever happened to the others, the overlay's peers are exactly the nodes it routes through.
        self.assertEqual(self.peer_mids(0), self.table_mids(0))
        self.assertIn(filler.mid, self.peer_mids(0))

    def test_routing_table_nodes_become_peers_of_the_service(self) -> None:
        self.network(0).remove_peer(self.peer(2))
        self.assertNotIn(self.mid(2), self.peer_mids(0))
        node = Node(self.public_key(2), self.address(2), clock=self.clock)
        self.assertIsNotNone(self.overlay(0).routing_tables[UDPv4Address].add(node))

        self.churn(max_pings_per_step=0).take_step()

        peer = self.network(0).get_verified_by_public_key_bin(self.key_bin(2))
        self.assertIsNotNone(peer)
        self.assertIsNot(peer, node)  # its own Peer: the Network must not move the node's id
        self.assertIn(DHTCommunity.community_id, self.network(0).get_services_for_peer(peer))
        self.assertIn(self.mid(2), self.peer_mids(0))

    def test_without_routing_tables_nothing_happens(self) -> None:
        self.overlay(0).routing_tables = {}
        self.churn().take_step()
        self.assertEqual(self.internet.in_flight, 0)
        self.assertEqual(self.peer_mids(0), {self.mid(i) for i in range(1, self.NODES)})


class TestPingChurnPings(ClockedDHTTest):
    """Step 4 and, through silence, step 1: pings at the interval, capped, and bad nodes removed."""

    def test_pings_at_the_interval(self) -> None:
        churn = self.churn()
        churn.take_step()
        nodes = [self.table_node(0, i) for i in range(1, self.NODES)]
        self.assertEqual([node.last_ping_sent for node in nodes], [START] * len(nodes))
        sent = self.internet.delivered + self.internet.in_flight
        self.settle()
        self.assertEqual([node.last_response for node in nodes], [START] * len(nodes))
        # Every ping was answered: a request and a response per node.
        self.assertEqual(self.internet.delivered, 2 * len(nodes))
        self.assertEqual(sent, len(nodes))

        for moment in (0.5, 12.5, 24.5):
            self.clock.advance(moment - (self.clock.seconds() - START))
            churn.take_step()
            self.assertEqual(self.internet.in_flight, 0, f"nothing is due {moment} s after the pings")
        self.advance(25.0 - (self.clock.seconds() - START))
        churn.take_step()
        self.assertEqual(self.internet.in_flight, len(nodes))
        self.settle()
        self.assertEqual([node.last_ping_sent for node in nodes], [START + 25.0] * len(nodes))
        self.assertEqual([node.last_response for node in nodes], [START + 25.0] * len(nodes))

    def test_interval_is_configurable(self) -> None:
        churn = self.churn(ping_interval=5.0)
        churn.take_step()
        self.settle()
        self.advance(4.0)
        churn.take_step()
        self.assertEqual(self.internet.in_flight, 0)
        self.advance(1.0)
        churn.take_step()
        self.assertEqual(self.internet.in_flight, self.NODES - 1)

    def test_silent_node_turns_bad_and_is_removed(self) -> None:
        self.internet.set_link(self.endpoint(0).wan_address, self.address(1), loss=1.0)
        churn = self.churn()
        churn.take_step()  # pings all three; node 1 never hears it
        self.settle()
        silent = self.table_node(0, 1)
        self.advance(DHTCommunity.request_timeout)
        self.assertEqual(silent.failed, 1)
        self.advance(25.0 - DHTCommunity.request_timeout)
        churn.take_step()  # the second ping
        self.settle()  # the others answer before anything times out
        self.advance(DHTCommunity.request_timeout)
        self.assertEqual(silent.status, NODE_STATUS_BAD)
        self.assertIn(self.mid(1), self.table_mids(0))

        churn.take_step()

        self.assertNotIn(self.mid(1), self.table_mids(0))
        self.assertIsNone(self.network(0).get_verified_by_public_key_bin(self.key_bin(1)))
        self.assertEqual(self.table_mids(0), {self.mid(2), self.mid(3)})
        self.assertEqual(self.peer_mids(0), {self.mid(2), self.mid(3)})
        for i in (2, 3):
            self.assertEqual(self.table_node(0, i).failed, 0)


class TestPingChurnCap(ClockedDHTTest):
    """At most ``max_pings_per_step`` pings a tick, longest-waiting first."""

    NODES = 8

    def test_cap_and_order(self) -> None:
        churn = self.churn(max_pings_per_step=3)
        churn.max_pings_per_step = 0
        churn.take_step()  # fill the tables only
        nodes = {i: self.table_node(0, i) for i in range(1, self.NODES)}
        # Different ages, so the order is known: node 7 has waited longest, node 1 least.
        for i, node in nodes.items():
            node.last_ping_sent = 100.0 - i
        churn.max_pings_per_step = 3

        rounds = []
        for _ in range(4):
            churn.take_step()
            self.assertLessEqual(self.internet.in_flight, 3)
            rounds.append(sorted(i for i, node in nodes.items() if node.last_ping_sent == self.clock.seconds()))
            self.advance(0.5)
        self.assertEqual(rounds, [[5, 6, 7], [2, 3, 4], [1], []])

    def test_zero_cap_sends_nothing(self) -> None:
        self.churn(max_pings_per_step=0).take_step()
        self.assertEqual(self.internet.in_flight, 0)
        self.assertEqual(len(self.table_mids(0)), self.NODES - 1)

    def test_default_cap(self) -> None:
        churn = self.churn()
        churn.max_pings_per_step = 0
        churn.take_step()
        churn.max_pings_per_step = 2
        self.assertEqual(len(churn.due_nodes()), 2)
        churn.max_pings_per_step = MAX_PINGS_PER_STEP
        self.assertEqual(len(churn.due_nodes()), min(MAX_PINGS_PER_STEP, self.NODES - 1))
