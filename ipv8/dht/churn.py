"""Keeping a DHT overlay's routing tables and its :class:`~ipv8.peerdiscovery.network.Network` in step.

A DHT community learns about other nodes in two ways: the walker verifies peers (they land in the
overlay's Network), and DHT traffic puts nodes in the routing tables. :class:`PingChurn` is the discovery
strategy that, once per tick of the IPv8 service, merges the two views and checks the nodes are alive. It
is what pyipv8 3.2.1's default configuration runs next to the random walk of its ``DHTDiscoveryCommunity``,
and it is offered by name through that community's ``get_available_strategies()``.

One step does, in this order:

1. take the *bad* nodes (two unanswered requests in a row, see :attr:`~ipv8.dht.routing.Node.status`) out of
   every routing table, and their peers out of the Network;
2. offer each verified peer of the overlay (blacklisted addresses excepted) to the routing table of its
   address family; a peer the table refuses (its bucket is full, it sits at one of our own addresses, or at
   an address no node could ever be reached at: :meth:`~ipv8.dht.routing.RoutingTable.check`) is removed from
   the Network, so that the overlay's peers stay the nodes it routes through;
3. make every node of the routing tables a verified peer of the overlay's service in the Network;
4. ping the nodes that were last pinged ``ping_interval`` seconds ago or longer. A node that leaves two pings
   unanswered turns bad, and step 1 of a later tick removes it.

**Cost per tick.** The service calls every strategy every half second, on the reactor thread that also
handles every packet. Steps 1 to 3 cost one pass over the tables and the overlay's peers, without any
packet. Step 4 is bounded: at most ``max_pings_per_step`` pings a tick, the longest-waiting nodes first.
Each ping is a signed packet (a signature here, a verification there) plus an entry in the request cache,
and they all leave through the one endpoint the other overlays use too; pinging a whole table in one tick
(pyipv8 does) makes a burst that delays everyone's traffic. With the defaults (8 per tick, two ticks a
second, one ping per node every 25 seconds) up to 400 nodes are kept pinged on time, more than the routing
tables of a real network hold; a larger table is still pinged, just less often than ``ping_interval``.

**Time** comes from :meth:`~ipv8.peerdiscovery.discovery.DiscoveryStrategy.now`, the overlay's clock, the one
the community stamps :attr:`~ipv8.dht.routing.Node.last_ping_sent` with; tests drive it with
:class:`twisted.internet.task.Clock`.
"""
from __future__ import annotations

import heapq
import logging
from typing import TYPE_CHECKING

from ..peer import Peer, typed_address
from ..peerdiscovery.discovery import DiscoveryStrategy, overlay_clock
from . import DHTError
from .routing import Node, calc_node_id

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime
    from twisted.python.failure import Failure

    from .community import DHTCommunity

logger = logging.getLogger(__name__)

#: Pings one step sends at most (see the module documentation for why there is a cap).
MAX_PINGS_PER_STEP = 8
#: Node ids of peers PingChurn remembers at most (more are recomputed; the cache is then started anew).
MAX_REMEMBERED_IDS = 4096


class PingChurn(DiscoveryStrategy["DHTCommunity"]):
    """Maintain a DHT overlay's routing tables and ping their nodes; see the module documentation.

    :param overlay: a :class:`~ipv8.dht.community.DHTCommunity` (or a subclass).
    :param ping_interval: seconds between two pings to the same node.
    :param max_pings_per_step: pings one step sends at most (0: none).
    :param clock: see :class:`~ipv8.peerdiscovery.discovery.DiscoveryStrategy`; by default the overlay's.
    """

    def __init__(self, overlay: DHTCommunity, ping_interval: float = 25.0,
                 max_pings_per_step: int = MAX_PINGS_PER_STEP, *, clock: IReactorTime | None = None) -> None:
        """Create the strategy; it keeps no state of its own beyond its settings."""
        super().__init__(overlay, clock=clock)
        self.ping_interval = ping_interval
        self.max_pings_per_step = max_pings_per_step
        # (mid, address) -> node id, for the peers step 2 checks every tick (cleared when it grows too big).
        self._node_ids: dict[tuple[bytes, tuple], bytes] = {}

    def take_step(self) -> None:
        """Do the four steps of the module documentation once."""
        with self.walk_lock:
            tables = getattr(self.overlay, "routing_tables", None)
            if not tables:
                return
            self.remove_bad_nodes()
            self.add_peers_to_tables()
            self.add_nodes_to_network()
            self.ping_due_nodes()

    def remove_bad_nodes(self) -> list[Node]:
        """Step 1: drop bad nodes from the tables and their peers from the Network; return them."""
        network = self.overlay.network
        removed = []
        for table in self.overlay.routing_tables.values():
            for node in table.remove_bad_nodes():
                network.remove_peer(node)
                removed.append(node)
        return removed

    def add_peers_to_tables(self) -> None:
        """Step 2: put the overlay's verified peers in the routing tables; drop the peers they refuse."""
        network = self.overlay.network
        for peer in self.overlay.get_peers():
            if peer.address in network.blacklist:
                continue
            try:
                address = typed_address(peer.address)
                table = self.overlay.get_routing_table(peer)
                # The id alone answers "already there?" without building a Node (a key load) per peer and
                # tick; ids are remembered, since every peer is checked twice a second.
                node_id = self._node_ids.get((peer.mid, address))
                if node_id is None:
                    if len(self._node_ids) >= MAX_REMEMBERED_IDS:
                        self._node_ids.clear()
                    node_id = self._node_ids[(peer.mid, address)] = calc_node_id(address, peer.mid)
                if table.has(node_id):
                    continue
            except (OSError, TypeError, ValueError):
                # Not an IP address at all: the table could never use it.
                network.remove_peer(peer)
                continue
            # A refused peer leaves the Network too: otherwise it would be offered (and counted as refused by
            # the table) again every tick.
            if table.add(Node(peer.public_key, address, clock=overlay_clock(self.overlay))) is None:
                network.remove_peer(peer)

    def add_nodes_to_network(self) -> None:
        """Step 3: make every node of the routing tables a verified peer of the overlay's service."""
        network = self.overlay.network
        service = self.overlay.community_id
        known = {peer.public_key.key_to_bin() for peer in self.overlay.get_peers()}
        for table in self.overlay.routing_tables.values():
            for node in table.nodes():
                key = node.public_key.key_to_bin()
                if key in known:
                    continue
                known.add(key)
                # A Peer of its own: the Network may change its addresses, which must not move the node's id.
                peer = Peer(node.public_key, node.address, clock=node.clock)
                network.add_verified_peer(peer)
                network.discover_services(peer, [service])

    def due_nodes(self) -> list[Node]:
        """The nodes whose last ping is ``ping_interval`` seconds old or older, longest-waiting first (capped)."""
        if self.max_pings_per_step <= 0:
            return []
        deadline = self.now() - self.ping_interval
        # A node that answered us lately (any request, not only a ping) is known to be alive: no ping yet.
        due = (node for table in self.overlay.routing_tables.values() for node in table.nodes()
               if max(node.last_ping_sent, node.last_response) <= deadline)
        # Longest-waiting first: with more due nodes than the cap, none is passed over tick after tick.
        return heapq.nsmallest(self.max_pings_per_step, due,
                               key=lambda node: max(node.last_ping_sent, node.last_response))

    def ping_due_nodes(self) -> list[Node]:
        """Step 4: ping the :meth:`due_nodes`; return them. A silent node counts a failure (not an error here)."""
        nodes = self.due_nodes()
        for node in nodes:
            self.overlay.ping(node).addErrback(self._ping_failed, node)
        return nodes

    @staticmethod
    def _ping_failed(failure: Failure, node: Node) -> None:
        failure.trap(DHTError)
        logger.debug("PingChurn: no answer from %s (%s)", node, failure.getErrorMessage())


__all__ = ["MAX_PINGS_PER_STEP", "PingChurn"]
