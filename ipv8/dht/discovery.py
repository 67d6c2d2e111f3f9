"""Finding a peer by its key through the DHT, NAT or no NAT: :class:`DHTDiscoveryCommunity`.

A peer behind a NAT cannot be reached at an address somebody remembered: its NAT only lets packets in from
addresses it recently sent to. So every peer *announces* itself (:meth:`DHTDiscoveryCommunity.store_peer`):
it asks the DHT nodes closest to its ``mid`` to remember it, and keeps pinging them, which keeps its NAT
open towards them and tells them it is alive. Whoever wants to reach it
(:meth:`DHTDiscoveryCommunity.connect_peer`) looks up those nodes and sends them a connect-peer-request;
each one answers with the addresses it knows for the peer *and* sends the peer a puncture-request naming the
requester, so the peer sends a packet towards the requester and the requester's next packet gets through.

Messages 7 to 10 of the DHT (store-peer and connect-peer, requests and responses) carry this; the
community id and everything else are :class:`~ipv8.dht.community.DHTCommunity`'s, so plain DHT nodes and
discovery nodes form one network, as in pyipv8 3.2.1.

**What a stranger can make us remember.** A peer may only be stored under its own ``mid`` (the request is
signed, so it cannot name someone else) and only with a token we issued to its address. Each ``mid`` is
kept at :data:`MAX_ADDRESSES_PER_PEER` addresses at most, one source IP can have us remember at most
:data:`MAX_STORED_PER_IP` peers, and the whole store holds :data:`MAX_STORED_PEERS`. A stored peer that stops
pinging is forgotten after :data:`STORED_PEER_TIMEOUT` seconds. Connect-peer-requests are rate limited like
find-requests, and the punctures they trigger like the DHT's other punctures.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, ensureDeferred

from ..lazy_community import lazy_wrapper
from ..messaging.addresses import UDPv4Address
from ..peer import typed_address
from . import DHTError
from .cache import gather
from .community import DROP_DHT_BAD_TOKEN, MAX_NODES_IN_FIND, PING_INTERVAL, TARGET_NODES, DHTCommunity
from .payload import (ConnectPeerRequestPayload, ConnectPeerResponsePayload, PingRequestPayload,
                      StorePeerRequestPayload, StorePeerResponsePayload)
from .routing import NODE_ID_SIZE, NODE_STATUS_BAD, Node

if TYPE_CHECKING:
    from ..community import CommunitySettings
    from ..peer import Peer

#: Seconds between two announcements of ourselves (skipped while enough nodes store us).
STORE_PEER_INTERVAL = 30
#: Seconds after start of our first announcement (pyipv8 waits a whole interval; a node that has just
#: started is then unreachable by mid for half a minute).
STORE_PEER_FIRST_DELAY = 5
#: Seconds between two rounds of pinging the nodes that store us, and of forgetting silent stored peers.
PING_ALL_INTERVAL = 10
#: A stored peer that has not pinged (or otherwise queried) us for this many seconds is forgotten.
STORED_PEER_TIMEOUT = 60
#: Peers (distinct mids) we store for others at most.
MAX_STORED_PEERS = 4096
#: Addresses we keep per stored mid at most (the newest replaces the oldest).
MAX_ADDRESSES_PER_PEER = 4
#: Stored peers one source IP may have us keep at most.
MAX_STORED_PER_IP = 16

# Drop reasons (keys of ``drop_counts``).
DROP_STORE_PEER_WRONG_KEY = "dht-store-peer-wrong-key"
DROP_STORE_PEER_FULL = "dht-store-peer-full"
DROP_STORE_PEER_IP_FULL = "dht-store-peer-ip-full"


class DHTDiscoveryCommunity(DHTCommunity):
    """A DHT node that also stores peers and connects others to them; see the module documentation."""

    def __init__(self, settings: CommunitySettings) -> None:
        """Create the DHT node, the (empty) peer stores and the announce and ping tasks."""
        super().__init__(settings)
        #: mid -> the nodes that asked us to store them under it (we puncture towards them for others).
        self.store: dict[bytes, list[Node]] = {}
        #: mid -> the nodes that confirmed they store us under it.
        self.store_for_me: dict[bytes, list[Node]] = {}
        self._stored_per_ip: Counter[str] = Counter()

        self.register_task("store_peer", self.store_peer, interval=STORE_PEER_INTERVAL, delay=STORE_PEER_FIRST_DELAY)
        self.register_task("ping_all", self.ping_all, interval=PING_ALL_INTERVAL)

    def get_available_strategies(self) -> dict[str, type]:
        """The strategies this overlay offers by name on top of the standard ones: ``PingChurn``."""
        from .churn import PingChurn
        return {"PingChurn": PingChurn}

    # -- announcing ourselves ------------------------------------------------------------------------------
    def store_peer(self) -> Deferred:
        """Ask the nodes closest to our mid to store us; fires with the nodes that newly confirmed.

        Does nothing (fires with ``[]``) while at least half of :data:`~ipv8.dht.community.TARGET_NODES`
        nodes store us; a failed lookup also fires with ``[]`` (the next round tries again).
        """
        key = self.my_peer.mid

        async def run() -> list[Node]:
            if len(self.store_for_me.get(key, ())) >= TARGET_NODES // 2:
                return []
            try:
                nodes = await self.find_nodes(key)
                return await self._send_store_peer_requests(key, nodes[:TARGET_NODES])
            except DHTError as exc:
                self.logger.debug("Could not announce ourselves in the DHT: %s", exc)
                return []
        return ensureDeferred(run())

    async def _send_store_peer_requests(self, key: bytes, nodes: list[Node]) -> list[Node]:
        known = {(node.public_key.key_to_bin(), node.address) for node in self.store_for_me.get(key, ())}
        # Fresh Node objects: what the routing table does with its own nodes must not touch these.
        fresh = [Node(node.public_key, node.address, clock=self.clock) for node in nodes
                 if (node.public_key.key_to_bin(), node.address) not in known]
        if not fresh:
            raise DHTError("no new nodes to store us")
        requests = []
        for node in fresh:
            token = self._usable_token(node)
            if token is None:
                continue
            request = self._request("store-peer", node,
                                    lambda cache, token=token: StorePeerRequestPayload(cache.number, token, key),
                                    consume_errors=True)
            requests.append(request.addCallback(self._stored_by, key))
        if not requests:
            raise DHTError("no token from any of the nodes to store us")
        return [node for node in await gather(requests) if node is not None]

    def _stored_by(self, node: Node | None, key: bytes) -> Node | None:
        """A store-peer-request was confirmed (or, with None, went unanswered)."""
        if node is None:
            return None
        nodes = self.store_for_me.setdefault(key, [])
        if len(nodes) >= TARGET_NODES:
            return None
        if all(other.public_key.key_to_bin() != node.public_key.key_to_bin() or other.address != node.address
               for other in nodes):
            nodes.append(node)
        return node

    # -- connecting to others ------------------------------------------------------------------------------
    def connect_peer(self, mid: bytes, peer: Peer | None = None) -> Deferred:
        """Find the peer with ``mid`` and have it puncture its NAT towards us; fires with its nodes.

        When we store that peer ourselves, its stored nodes are the answer. When ``peer`` (its last known
        key and address) is given and answers a ping, no lookup is needed. Otherwise the nodes closest to
        ``mid`` are asked; their answers are merged. Fails with :class:`~ipv8.dht.DHTError` when nobody knows
        the peer.
        """
        async def run() -> list[Node]:
            if not isinstance(mid, bytes) or len(mid) != NODE_ID_SIZE:
                raise DHTError(f"a mid has {NODE_ID_SIZE} bytes")
            if self.store.get(mid):
                return list(self.store[mid])
            if peer is not None:
                node = Node(peer.public_key, typed_address(peer.address), clock=self.clock)
                try:
                    await self.ping(node)
                except DHTError:
                    pass
                else:
                    return [node]
            nodes = await self.find_nodes(mid)
            found = await self._send_connect_peer_requests(mid, nodes[:TARGET_NODES])
            if not found:
                raise DHTError(f"no node knows the peer {mid.hex()}")
            return found
        return ensureDeferred(run())

    async def _send_connect_peer_requests(self, mid: bytes, nodes: list[Node]) -> list[Node]:
        if not nodes:
            raise DHTError("no nodes to ask for the peer")
        lan = typed_address(self.my_estimated_lan) if self.my_estimated_lan else UDPv4Address("0.0.0.0", 0)
        answers = await gather([
            self._request("connect-peer", Node(node.public_key, node.address, clock=self.clock),
                          lambda cache: ConnectPeerRequestPayload(cache.number, lan, mid), consume_errors=True)
            for node in nodes])
        merged: dict[tuple[bytes, Any], Node] = {}
        for answer in answers:
            for node in answer or ():
                merged.setdefault((node.public_key.key_to_bin(), node.address), node)
        return list(merged.values())

    # -- serving others ------------------------------------------------------------------------------------
    @lazy_wrapper(StorePeerRequestPayload)
    def on_store_peer_request(self, peer: Peer, payload: StorePeerRequestPayload) -> None:
        """Store a peer under its own mid, if it presents our token for its address and there is room."""
        requester = self._requester(peer, self._store_limiter)
        if requester is None:
            return
        if not self.check_token(requester, payload.token):
            self.drop_counts[DROP_DHT_BAD_TOKEN] += 1
            return
        if payload.target != peer.mid:
            self.drop_counts[DROP_STORE_PEER_WRONG_KEY] += 1
            return
        if not self._keep_stored(payload.target, requester):
            return
        self.ez_send(requester, StorePeerResponsePayload(payload.identifier))

    def _keep_stored(self, mid: bytes, requester: Node) -> bool:
        """Remember (or refresh) a stored peer within the caps; False (counted) when there is no room."""
        nodes = self.store.get(mid)
        for node in nodes or ():
            if node.address == requester.address and \
                    node.public_key.key_to_bin() == requester.public_key.key_to_bin():
                node.record_query()
                return True
        ip = requester.address[0]
        if nodes is None:
            if len(self.store) >= MAX_STORED_PEERS:
                self.drop_counts[DROP_STORE_PEER_FULL] += 1
                return False
            if self._stored_per_ip[ip] >= MAX_STORED_PER_IP:
                self.drop_counts[DROP_STORE_PEER_IP_FULL] += 1
                return False
            nodes = self.store[mid] = []
        elif self._stored_per_ip[ip] >= MAX_STORED_PER_IP:
            self.drop_counts[DROP_STORE_PEER_IP_FULL] += 1
            return False
        node = Node(requester.public_key, requester.address, clock=self.clock)
        node.record_query()
        nodes.append(node)
        self._stored_per_ip[ip] += 1
        while len(nodes) > MAX_ADDRESSES_PER_PEER:
            self._forget_stored(nodes.pop(0))
        return True

    def _forget_stored(self, node: Node) -> None:
        ip = node.address[0]
        self._stored_per_ip[ip] -= 1
        if self._stored_per_ip[ip] <= 0:
            del self._stored_per_ip[ip]

    def on_pinged(self, peer: Peer) -> None:
        """A stored peer that pings us is alive: it stays stored."""
        key = peer.public_key.key_to_bin()
        for node in self.store.get(peer.mid, ()):
            if node.address == peer.address and node.public_key.key_to_bin() == key:
                node.record_query()

    @lazy_wrapper(ConnectPeerRequestPayload)
    def on_connect_peer_request(self, peer: Peer, payload: ConnectPeerRequestPayload) -> None:
        """Tell the requester where the peer is, and ask the peer to puncture towards the requester."""
        requester = self._requester(peer, self._find_limiter)
        if requester is None:
            return
        nodes = self.store.get(payload.target, [])[:MAX_NODES_IN_FIND]
        for node in nodes:
            self._puncture_for(requester, payload.lan_address, node, payload.identifier)
        self.ez_send(requester, ConnectPeerResponsePayload(payload.identifier, nodes))

    # -- maintenance ---------------------------------------------------------------------------------------
    def ping_all(self) -> None:
        """Ping the nodes that store us (dropping those gone bad), and forget stored peers gone silent."""
        now = self.clock.seconds()
        for key, nodes in list(self.store_for_me.items()):
            alive = [node for node in nodes if node.status != NODE_STATUS_BAD]
            for node in alive:
                if node.last_ping_sent + PING_INTERVAL <= now:
                    self._request("ping", node, lambda cache: PingRequestPayload(cache.number), consume_errors=True)
            if alive:
                self.store_for_me[key] = alive
            else:
                del self.store_for_me[key]
        for mid, nodes in list(self.store.items()):
            alive = []
            for node in nodes:
                if now - node.last_query > STORED_PEER_TIMEOUT:
                    self._forget_stored(node)
                else:
                    alive.append(node)
            if alive:
                self.store[mid] = alive
            else:
                del self.store[mid]

    def statistics(self) -> dict[str, Any]:
        """The DHT's counters plus the sizes of both peer stores."""
        stats = super().statistics()
        stats["stored_peers"] = sum(len(nodes) for nodes in self.store.values())
        stats["peers_storing_me"] = sum(len(nodes) for nodes in self.store_for_me.values())
        return stats


__all__ = ["MAX_STORED_PEERS", "STORED_PEER_TIMEOUT", "DHTDiscoveryCommunity"]
