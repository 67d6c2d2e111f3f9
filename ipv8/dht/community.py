"""The DHT overlay: Kademlia-style storage and lookup of small values, wire-compatible with pyipv8 3.2.1.

:class:`DHTCommunity` answers the ten DHT messages (:mod:`ipv8.dht.payload`) and offers four operations,
each returning a :class:`~twisted.internet.defer.Deferred` (awaitable from ``async def`` code through
``ensureDeferred``); every failure is a :class:`~ipv8.dht.DHTError`:

* :meth:`DHTCommunity.find_nodes` walks towards a key: it asks the closest nodes it knows, ``alpha`` at a
  time, for nodes closer still, until the :data:`TARGET_NODES` closest nodes found have all answered;
* :meth:`DHTCommunity.find_values` does the same walk but stops at nodes that hold values for the key;
* :meth:`DHTCommunity.store_value` finds the nodes closest to the key and asks each to store the value;
* :meth:`DHTCommunity.ping` checks that a node is alive.

**Tokens.** A node only stores for a requester that proved it receives packets at its address: every
find-response carries a token, the SHA-1 of a local secret and the requester's address, and a
store-request must present it. The secret is replaced every :data:`TOKEN_EXPIRATION_TIME` seconds and the
previous one is still accepted, so a token stays good for at least that long (which is how long the
requester keeps using it). A token presented from another address is refused.

**Hostile input.** Requests from one IP are rate limited per kind; a node that sends too many requests in a
row is ignored for a while (:attr:`~ipv8.dht.routing.Node.blocked`); store-requests with too many, too
large, malformed or forged values are refused; answers must come from the key that was asked and match an
outstanding request; nodes in answers that could never be reached (our own, port 0, unspecified addresses)
are skipped. Each such drop is counted in :attr:`~ipv8.community.Community.drop_counts` under a
``dht-...`` reason. Outstanding requests, stored values and remembered tokens are all bounded.
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, ensureDeferred, fail, gatherResults, succeed

from ..community import Community, CommunitySettings
from ..lazy_community import lazy_wrapper
from ..messaging.addresses import UDPv4Address, UDPv6Address
from ..messaging.rate_limit import PerSourceRateLimiter
from ..peer import typed_address
from ..requestcache import RequestCache
from . import DHTError
from .cache import DEFAULT_REQUEST_TIMEOUT, DHTRequestCache, gather
from .payload import (MAX_ENTRY_SIZE, ConnectPeerRequestPayload, ConnectPeerResponsePayload, FindRequestPayload,
                      FindResponsePayload, InvalidValueError, PingRequestPayload, PingResponsePayload,
                      StorePeerRequestPayload, StorePeerResponsePayload, StoreRequestPayload, StoreResponsePayload,
                      add_dht_formats, decode_value, encode_signed_value, encode_value)
from .routing import (MAX_BUCKET_SIZE, NODE_ID_SIZE, NODE_STATUS_BAD, NODE_STATUS_GOOD, Node, RoutingTable,
                      calc_node_id, distance)
from .storage import MAX_ENTRY_AGE, Storage

if TYPE_CHECKING:
    from collections import Counter

    from ..messaging.serialization import Serializer
    from ..peer import Peer

#: Seconds between two rounds of pinging nodes we have not heard from lately.
PING_INTERVAL = 25
#: Seconds a token we received may be used, and between two changes of our token secret.
TOKEN_EXPIRATION_TIME = 600
#: Seconds between two rounds of bucket refresh and bad-node removal.
NODE_MAINTENANCE_INTERVAL = 60
#: A bucket nobody touched for this many seconds is refreshed by a lookup of a random id inside it.
BUCKET_REFRESH_AGE = 15 * 60
#: Nodes a lookup starts with, per address family (pyipv8 3.2.1: 8).
MAX_CRAWL_NODES = 8
#: Find-requests one lookup may send at most (pyipv8 3.2.1: 24).
MAX_CRAWL_REQUESTS = 24
#: Alpha: find-requests one lookup has outstanding at once (pyipv8 3.2.1: 4).
MAX_CRAWL_TASKS = 4
#: Values one store-request may carry (pyipv8 3.2.1: 8).
MAX_VALUES_IN_STORE = 8
#: Values one find-response carries at most (pyipv8 3.2.1: 8).
MAX_VALUES_IN_FIND = 8
#: Nodes one find-response carries at most (pyipv8 3.2.1: 8).
MAX_NODES_IN_FIND = 8
#: How many of the nodes closest to a key should hold its value (pyipv8 3.2.1: 8).
TARGET_NODES = 8

#: Our requests that may wait for an answer at once; more fail immediately with :class:`DHTError`.
MAX_PENDING_REQUESTS = 1024
#: Tokens from other nodes we remember at most (the oldest is forgotten first).
MAX_TOKENS = 4096
#: Stale nodes pinged per maintenance round at most.
MAX_PINGS_PER_ROUND = 16
#: A node we have not heard from for this many seconds is pinged.
STALE_AFTER = 5 * 60
#: Nodes one lookup keeps as candidates at most.
MAX_LOOKUP_CANDIDATES = 256

# Drop reasons (keys of ``drop_counts``).
DROP_DHT_RATE_LIMITED = "dht-rate-limited"
DROP_DHT_BLOCKED = "dht-blocked-node"
DROP_DHT_BAD_TOKEN = "dht-bad-token"
DROP_DHT_TOO_MANY_VALUES = "dht-too-many-values"
DROP_DHT_UNSOLICITED = "dht-unsolicited-response"
DROP_DHT_WRONG_RESPONDER = "dht-wrong-responder"
DROP_DHT_GARBAGE_NODE = "dht-garbage-node"
DROP_DHT_UNKNOWN_NODE = "dht-unusable-sender"
DROP_DHT_UNSUPPORTED = "dht-unsupported-request"
#: Not a drop: a request signed by a known node arrived from another address; answered, the entry stays put.
DROP_DHT_MOVED_NODE = "dht-moved-node"
DROP_DHT_TOO_MANY_NODES = "dht-too-many-nodes"
DROP_DHT_VALUE_OVERSIZED = "dht-value-oversized"


class _Walk:
    """The state of one lookup: candidates (with the node that named each), who answered, what was found."""

    def __init__(self, target: bytes, trace: Counter[str] | None) -> None:
        self.target = target
        self.trace = trace
        self.candidates: dict[bytes, Node] = {}
        #: node id -> the node that named it to us (not as its closest), which can puncture for us.
        self.via: dict[bytes, Node] = {}
        self.asked: set[bytes] = set()
        self.answered: dict[bytes, Node] = {}
        self.values: list[bytes] = []
        self.in_flight = 0
        #: Fired (and cleared) by every answer, so that the lookup can send its next request.
        self.wake: Deferred | None = None

    def offer(self, node: Node, via: Node | None) -> None:
        self.candidates[node.id] = node
        if via is not None:
            self.via[node.id] = via

    def closest(self) -> list[Node]:
        return sorted(self.answered.values(), key=lambda node: distance(node.id, self.target))[:TARGET_NODES]

    def finished(self, force_nodes: bool) -> bool:
        return bool(self.values) and not force_nodes

    def next_candidate(self) -> Node | None:
        """The closest candidate not asked yet (now marked asked); None if none is left or could help."""
        todo = [node for node_id, node in self.candidates.items() if node_id not in self.asked]
        if not todo:
            return None
        best = min(todo, key=lambda node: distance(node.id, self.target))
        closest = self.closest()
        if len(closest) >= TARGET_NODES and distance(closest[-1].id, self.target) < distance(best.id, self.target):
            return None
        self.asked.add(best.id)
        return best


class DHTSettings(CommunitySettings):
    """Settings of :class:`DHTCommunity`."""

    #: K, the nodes per bucket of the routing tables (local policy: pyipv8 3.2.1 keeps 8).
    bucket_size: int = MAX_BUCKET_SIZE


class DHTCommunity(Community):
    """A node of the DHT; see the module documentation."""

    community_id = bytes.fromhex("8d0be1845d74d175f178197cad001591d04d73cc")
    settings_class = DHTSettings

    #: Seconds each request waits for its answer (tests lower it).
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    #: Seconds a find-request of a lookup waits (pyipv8 3.2.1: 2): a silent node must not stall the walk.
    find_timeout: float = 2.0
    #: Store-requests accepted per second from one IP (and at once: twice that).
    store_rate_limit: float = 5.0
    #: Find-requests accepted per second from one IP (and at once: twice that).
    find_rate_limit: float = 20.0
    #: Our requests that may wait for an answer at once; more fail immediately with :class:`DHTError`.
    max_pending_requests: int = MAX_PENDING_REQUESTS

    def __init__(self, settings: CommunitySettings) -> None:
        """Create the tables, the store, the token secrets and the maintenance tasks."""
        super().__init__(settings)
        self.request_cache = RequestCache(self._reactor)
        self._bucket_size = getattr(settings, "bucket_size", MAX_BUCKET_SIZE)
        # family -> the address our node id in that family's table was computed from.
        self._id_addresses: dict[type, tuple] = {}
        #: One routing table per address family, keyed by address class.
        self.routing_tables: dict[type, RoutingTable] = {}
        for family in (UDPv4Address, UDPv6Address):
            address = self._my_address(family)
            self._id_addresses[family] = address
            self.routing_tables[family] = RoutingTable(calc_node_id(address, self.my_peer.mid), family,
                                                       own_addresses=self._own_addresses, clock=self.clock,
                                                       bucket_size=self._bucket_size)
        #: The values we keep for others (and our own), bounded and expiring.
        self.storage = Storage(self.clock)
        # Our current and previous token secrets.
        self.token_secrets: deque[bytes] = deque([os.urandom(16)], maxlen=2)
        # node id -> (when received, token): tokens other nodes issued to us, oldest first.
        self.tokens: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        # Our own values (key -> encoded values), stored again before they expire elsewhere.
        self._my_values: OrderedDict[bytes, OrderedDict[bytes, None]] = OrderedDict()
        self._pending: set[DHTRequestCache] = set()
        # Ids of newly discovered nodes whose first ping is on its way (bounded by max_pending_requests).
        self._discovery_pings: set[bytes] = set()
        self._store_limiter = PerSourceRateLimiter(self.store_rate_limit, 2 * self.store_rate_limit,
                                                   50 * self.store_rate_limit, 100 * self.store_rate_limit)
        self._find_limiter = PerSourceRateLimiter(self.find_rate_limit, 2 * self.find_rate_limit,
                                                  50 * self.find_rate_limit, 100 * self.find_rate_limit)

        self.add_message_handler(PingRequestPayload, self.on_ping_request)
        self.add_message_handler(PingResponsePayload, self.on_ping_response)
        self.add_message_handler(StoreRequestPayload, self.on_store_request)
        self.add_message_handler(StoreResponsePayload, self.on_store_response)
        self.add_message_handler(FindRequestPayload, self.on_find_request)
        self.add_message_handler(FindResponsePayload, self.on_find_response)
        # Messages 7-10 serve peer discovery: a subclass (DHTDiscoveryCommunity) overrides these methods;
        # they are registered here so that the ten ids always have a handler.
        self.add_message_handler(StorePeerRequestPayload, self.on_store_peer_request)
        self.add_message_handler(StorePeerResponsePayload, self.on_store_peer_response)
        self.add_message_handler(ConnectPeerRequestPayload, self.on_connect_peer_request)
        self.add_message_handler(ConnectPeerResponsePayload, self.on_connect_peer_response)

        self.register_task("token_maintenance", self.token_maintenance, interval=TOKEN_EXPIRATION_TIME)
        self.register_task("ping_maintenance", self.ping_maintenance, interval=PING_INTERVAL)
        self.register_task("node_maintenance", self.node_maintenance, interval=NODE_MAINTENANCE_INTERVAL)
        self.register_task("value_maintenance", self.value_maintenance, interval=MAX_ENTRY_AGE // 2)

    def get_serializer(self) -> Serializer:
        """The overlay's serializer, with the ``node-list`` format of messages 6 and 10."""
        return add_dht_formats(super().get_serializer(), self.clock)

    def unload(self) -> Deferred:
        """Fail every outstanding request with :class:`DHTError`, then stop the community."""
        for cache in self.request_cache.clear():
            if isinstance(cache, DHTRequestCache):
                cache.fail("the DHT community is shutting down")
        self._pending.clear()
        return gatherResults([self.request_cache.shutdown(), super().unload()],
                             consumeErrors=True).addCallback(lambda _: None)

    # -- nodes ---------------------------------------------------------------------------------------------
    def get_routing_table(self, node: Peer) -> RoutingTable:
        """The table of ``node``'s address family (with our node id for our current address in it)."""
        family = UDPv6Address if isinstance(node.address, UDPv6Address) else UDPv4Address
        if self._my_address(family) != self._id_addresses[family]:
            self._renumber(family)
        return self.routing_tables[family]

    def sync_node_ids(self) -> None:
        """Renumber any table whose node id is not the one for our current address (see :meth:`_renumber`)."""
        for family in self.routing_tables:
            if self._my_address(family) != self._id_addresses[family]:
                self._renumber(family)

    def _my_address(self, family: type) -> tuple:
        """Our address in ``family`` as others see it (the vote of the peers we walked to), if known yet."""
        address = self.my_peer.addresses.get(family)
        if address is None and family is UDPv4Address and isinstance(self.my_estimated_wan, UDPv4Address):
            address = self.my_estimated_wan
        if address is None:
            address = UDPv4Address("0.0.0.0", 0) if family is UDPv4Address else UDPv6Address("::", 0)
        return address

    def get_my_node_id(self, node: Peer) -> bytes:
        """Our node id in the table of ``node``'s address family (as pyipv8's method of that name)."""
        return self.get_routing_table(node).my_node_id

    def _renumber(self, family: type) -> None:
        """Our address changed (a service learns it only once peers answer): rebuild the table around our new id.

        The node id is made from the address others see us at; a table built around an id computed from an
        address nobody sees (0.0.0.0 before the first answers) would split its buckets around the wrong id
        and misjudge which keys we are close to. The known nodes move into the new table (those the new
        bucket shape has no room for are dropped; refresh and the walker find more).
        """
        address = self._my_address(family)
        self._id_addresses[family] = address
        old = self.routing_tables[family]
        table = RoutingTable(calc_node_id(address, self.my_peer.mid), family, own_addresses=self._own_addresses,
                             clock=self.clock, bucket_size=self._bucket_size)
        for node in old.nodes():
            node.bucket = None
            table.try_add(node)
        self.routing_tables[family] = table

    def _node_for(self, peer: Peer, rtt: float | None = None) -> Node | None:
        """The table's node for a verified sender, added (or refreshed) now; None if its address is unusable.

        ``rtt`` is given when the sender just answered a request of ours: a node that answers may take the
        place of one that never did (see :class:`~ipv8.dht.routing.Bucket`).
        """
        try:
            address = typed_address(peer.address)
        except (TypeError, ValueError):
            return None
        node = Node(peer.public_key, address, clock=self.clock)
        if rtt is not None:
            node.record_response(rtt)
        table = self.get_routing_table(node)
        known = table.get(node.id)
        if known is not None and known.status != NODE_STATUS_BAD \
                and (known.address[0], known.address[1]) != (address[0], address[1]):
            # DHT messages carry no time, so anyone who saw a node's signed request can send it again from
            # another port (or from an address that masks to the same id): that must not move the node's
            # entry. We answer at the sender's address; the entry moves only once the old address went bad.
            self.drop_counts[DROP_DHT_MOVED_NODE] += 1
            return node
        result = table.try_add(node)
        if result.node is not None:
            return result.node
        if table.check(node) is not None:
            return None
        # A full bucket: we still talk with the node, we just do not route through it.
        return node

    def _requester(self, peer: Peer, limiter: PerSourceRateLimiter | None = None) -> Node | None:
        """The node behind a request, or None (counted) when the request must be ignored.

        Requests without a limiter of their own (pings) share the find-requests' budget: each is answered
        with a signed packet too, and fresh keys would otherwise get around the per-node blocking.
        """
        if limiter is None:
            limiter = self._find_limiter
        if not limiter.allow(peer.address[0], self.clock.seconds()):
            self.drop_counts[DROP_DHT_RATE_LIMITED] += 1
            return None
        node = self._node_for(peer)
        if node is None:
            self.drop_counts[DROP_DHT_UNKNOWN_NODE] += 1
            return None
        if node.blocked:
            # Not counted: a blocked node gets its budget back as its old requests age out, so the block is
            # a rate limit (NODE_LIMIT_QUERIES per NODE_LIMIT_INTERVAL), not a ban that a steady asker
            # renews with every refused request (pyipv8 3.2.1 checks first too).
            self.drop_counts[DROP_DHT_BLOCKED] += 1
            return None
        node.record_query()
        return node

    def introduction_request_callback(self, peer: Peer, dist: Any, payload: Any) -> None:
        """A peer walked to us: make sure it gets into our routing table."""
        self.on_node_discovered(peer)

    def introduction_response_callback(self, peer: Peer, dist: Any, payload: Any) -> None:
        """We walked to a peer: make sure it gets into our routing table."""
        self.on_node_discovered(peer)

    def on_node_discovered(self, peer: Peer) -> None:
        """Ping a peer we do not route through yet; its answer adds it (failures are ignored)."""
        node = Node(peer.public_key, typed_address(peer.address), clock=self.clock)
        table = self.get_routing_table(node)
        # An introduction request and its response each report the same peer: one ping is enough.
        if table.check(node) is None and not table.has(node.id) and node.id not in self._discovery_pings:
            self._discovery_pings.add(node.id)
            self._request("ping", node, lambda cache: PingRequestPayload(cache.number),
                          consume_errors=True).addBoth(self._discovery_ping_done, node.id)

    def _discovery_ping_done(self, result: object, node_id: bytes) -> object:
        self._discovery_pings.discard(node_id)
        return result

    # -- requests ------------------------------------------------------------------------------------------
    def _request(self, prefix: str, node: Node, make_payload: Any,
                 consume_errors: bool = False, timeout: float | None = None) -> Deferred:
        """Send the payload ``make_payload(cache)`` to ``node``; the Deferred fires with the answer."""
        if len(self._pending) >= self.max_pending_requests:
            if consume_errors:
                return succeed(None)
            return fail(DHTError(f"too many outstanding DHT requests ({self.max_pending_requests})"))
        cache = DHTRequestCache(self.request_cache, prefix, node,
                                self.request_timeout if timeout is None else timeout, consume_errors)
        self.request_cache.add(cache)
        self._pending.add(cache)
        cache.deferred.addBoth(self._forget, cache)
        node.last_ping_sent = self.clock.seconds() if prefix == "ping" else node.last_ping_sent
        self.ez_send(node, make_payload(cache))
        return cache.deferred

    def _forget(self, result: object, cache: DHTRequestCache) -> object:
        self._pending.discard(cache)
        return result

    def _answered(self, peer: Peer, prefix: str, identifier: int) -> DHTRequestCache | None:
        """The request an answer belongs to, taken out of the cache; None (counted) if it has none."""
        cache = self.request_cache.get(prefix, identifier)
        if not isinstance(cache, DHTRequestCache):
            self.drop_counts[DROP_DHT_UNSOLICITED] += 1
            return None
        if cache.node.public_key.key_to_bin() != peer.public_key.key_to_bin():
            # Someone else answering for the node must not be able to cancel our request.
            self.drop_counts[DROP_DHT_WRONG_RESPONDER] += 1
            return None
        self.request_cache.pop(prefix, identifier)
        rtt = self.clock.seconds() - cache.sent_at
        known = self._node_for(peer, rtt)
        if known is not None and known is not cache.node:
            # We asked a node object from an answer or an introduction; the table keeps its own object for
            # that key, and that is the one whose answers decide whether it is good.
            known.record_response(rtt)
            # ... and it was just pinged, if that was a ping: PingChurn must not ping it again right away.
            known.last_ping_sent = max(known.last_ping_sent, cache.node.last_ping_sent)
        return cache

    def ping(self, node: Node) -> Deferred:
        """Ping ``node``; the Deferred fires with the node once it answers, or fails with :class:`DHTError`."""
        return self._request("ping", node, lambda cache: PingRequestPayload(cache.number))

    @lazy_wrapper(PingRequestPayload)
    def on_ping_request(self, peer: Peer, payload: PingRequestPayload) -> None:
        """Answer a ping."""
        node = self._requester(peer)
        if node is not None:
            self.ez_send(node, PingResponsePayload(payload.identifier))
            self.on_pinged(peer)

    def on_pinged(self, peer: Peer) -> None:
        """Hook: ``peer`` pinged us and was answered (DHTDiscoveryCommunity keeps its stored peers alive)."""

    @lazy_wrapper(PingResponsePayload)
    def on_ping_response(self, peer: Peer, payload: PingResponsePayload) -> None:
        """A node answered our ping."""
        cache = self._answered(peer, "ping", payload.identifier)
        if cache is not None:
            cache.complete(cache.node)

    # -- tokens --------------------------------------------------------------------------------------------
    @staticmethod
    def _token(secret: bytes, node: Node) -> bytes:
        host, port = node.address[0], node.address[1]
        return hashlib.sha1(secret + f"{host}:{port}".encode()).digest()

    def generate_token(self, node: Node) -> bytes:
        """The token for ``node`` at its current address, under the current secret."""
        return self._token(self.token_secrets[-1], node)

    def check_token(self, node: Node, token: bytes) -> bool:
        """Whether ``token`` was issued by us to ``node``'s current address (current or previous secret)."""
        return any(self._token(secret, node) == token for secret in self.token_secrets)

    def token_maintenance(self) -> None:
        """Rotate our secret, and forget the tokens of others that are too old to use."""
        self.token_secrets.append(os.urandom(16))
        limit = self.clock.seconds() - TOKEN_EXPIRATION_TIME
        for node_id in [node_id for node_id, (when, _) in self.tokens.items() if when < limit]:
            del self.tokens[node_id]

    def _remember_token(self, node: Node, token: bytes) -> None:
        self.tokens.pop(node.id, None)
        self.tokens[node.id] = (self.clock.seconds(), token)
        while len(self.tokens) > MAX_TOKENS:
            self.tokens.popitem(last=False)

    def _usable_token(self, node: Node) -> bytes | None:
        found = self.tokens.get(node.id)
        if found is None or found[0] < self.clock.seconds() - TOKEN_EXPIRATION_TIME:
            return None
        return found[1]

    # -- finding -------------------------------------------------------------------------------------------
    @lazy_wrapper(FindRequestPayload)
    def on_find_request(self, peer: Peer, payload: FindRequestPayload) -> None:
        """Answer with our values for the target or, when we have none (or nodes are asked for), closer nodes."""
        node = self._requester(peer, self._find_limiter)
        if node is None:
            return
        values = [] if payload.force_nodes else self.storage.get(payload.target, payload.offset, MAX_VALUES_IN_FIND)
        nodes: list[Node] = []
        if not values:
            from ..messaging.address_hygiene import fits_scope  # noqa: PLC0415 - kept inside this method
            # Only nodes the requester can make sense of: not a loopback or private address to a peer out on
            # the internet (see ipv8.messaging.address_hygiene). Table nodes are usable and not us already.
            for other in self.get_routing_table(node).closest_nodes(payload.target, 2 * MAX_NODES_IN_FIND,
                                                                    exclude_node=node):
                if fits_scope(other.address, node.address):
                    nodes.append(other)
                    if len(nodes) == MAX_NODES_IN_FIND:
                        break
            if nodes:
                self._puncture_for(node, payload.lan_address, nodes[0], payload.identifier)
        self.ez_send(node, FindResponsePayload(payload.identifier, self.generate_token(node), values, nodes))

    def _puncture_for(self, requester: Node, lan_address: Any, closest: Node, identifier: int) -> None:  # noqa: ANN401
        """Ask the closest node we name to puncture towards the requester, who is likely to contact it next.

        Limited per requester IP, since each request makes us send a packet to a third party.
        """
        if not self._puncture_limiter.allow(requester.address[0], self.clock.seconds()):
            return
        try:
            lan = typed_address(lan_address)
        except (TypeError, ValueError):
            lan = requester.address
        if type(lan) is not type(requester.address) or not self.address_hygiene.may_send_to(lan):
            # A LAN address that nobody can send to (port 0, unspecified, ours) would only aim the
            # third party's puncture somewhere useless.
            lan = requester.address
        self.endpoint.send(closest.address, self.create_puncture_request(lan, requester.address, identifier & 0xFFFF))

    @lazy_wrapper(FindResponsePayload)
    def on_find_response(self, peer: Peer, payload: FindResponsePayload) -> None:
        """A node answered our find-request: keep its token and hand values and nodes to the lookup."""
        cache = self._answered(peer, "find", payload.identifier)
        if cache is None:
            return
        self._remember_token(cache.node, payload.token)
        values, nodes = list(payload.values), list(payload.nodes)
        # An honest node sends at most 8 of each (pyipv8 too); each value costs a signature check later,
        # so a bigger answer is cut down to what an honest one could cost us.
        if len(values) > MAX_VALUES_IN_FIND:
            self.drop_counts[DROP_DHT_TOO_MANY_VALUES] += 1
            values = values[:MAX_VALUES_IN_FIND]
        if len(nodes) > MAX_NODES_IN_FIND:
            self.drop_counts[DROP_DHT_TOO_MANY_NODES] += 1
            nodes = nodes[:MAX_NODES_IN_FIND]
        usable = []
        for other in nodes:
            # A loopback or private address from a responder out on the internet would aim our requests
            # at our own machine or network; own and unusable addresses are left to _acceptable.
            if self.address_hygiene.is_own(other.address) or \
                    self.address_hygiene.may_walk_to(other.address, cache.node.address):
                usable.append(other)
            else:
                self.drop_counts[DROP_DHT_GARBAGE_NODE] += 1
        cache.complete((values, usable))

    def _find_request(self, node: Node, target: bytes, force_nodes: bool) -> Deferred:
        lan = typed_address(self.my_estimated_lan) if self.my_estimated_lan else UDPv4Address("0.0.0.0", 0)
        return self._request("find", node, lambda cache: FindRequestPayload(cache.number, lan, target, 0, force_nodes),
                             consume_errors=True, timeout=min(self.request_timeout, self.find_timeout))

    def _acceptable(self, node: Node) -> bool:
        """Whether a node from an answer could be asked at all (garbage is counted and skipped)."""
        try:
            refusal = self.get_routing_table(node).check(node)
        except Exception:  # noqa: BLE001 - an address we cannot even classify is garbage too
            refusal = True
        if refusal is not None:
            self.drop_counts[DROP_DHT_GARBAGE_NODE] += 1
            return False
        return True

    async def _lookup(self, target: bytes, force_nodes: bool,
                      trace: Counter[str] | None = None) -> tuple[list[Node], list[bytes]]:
        """Walk towards ``target``: return the closest nodes that answered, and the values they sent.

        Up to :data:`MAX_CRAWL_TASKS` find-requests are outstanding at once; each answer immediately lets the
        next closest candidate be asked (a slow node holds up only its own slot). The walk ends when values
        were found (unless ``force_nodes``), when :data:`MAX_CRAWL_REQUESTS` were sent, or when no candidate
        left is closer than the :data:`TARGET_NODES` closest nodes that answered.

        :param trace: when given, counts ``requests`` sent and ``responses`` received, and how many of these
            carried nodes (``responses_with_nodes``) or values (``responses_with_values``).
        """
        if not isinstance(target, bytes) or len(target) != NODE_ID_SIZE:
            raise DHTError(f"a DHT key has {NODE_ID_SIZE} bytes")
        self.sync_node_ids()
        walk = _Walk(target, trace)
        for table in self.routing_tables.values():
            for node in table.closest_nodes(target, MAX_CRAWL_NODES):
                walk.offer(node, None)
        if not walk.candidates:
            raise DHTError("no nodes in the routing table to start a lookup from")
        requests = 0
        while True:
            while walk.in_flight < MAX_CRAWL_TASKS and requests < MAX_CRAWL_REQUESTS \
                    and not walk.finished(force_nodes):
                node = walk.next_candidate()
                if node is None:
                    break
                requests += 1
                walk.in_flight += 1
                if trace is not None:
                    trace["requests"] += 1
                self._contact(node, walk.via.get(node.id), target, force_nodes).addBoth(self._contacted, walk, node)
            if walk.in_flight == 0 or walk.finished(force_nodes):
                break
            walk.wake = Deferred()
            await walk.wake
        return walk.closest(), walk.values

    def _contact(self, node: Node, via: Node | None, target: bytes, force_nodes: bool) -> Deferred:
        """Ask ``node`` for ``target``; when another node named it to us, first have that one puncture for us.

        A node that named ``node`` (other than as its very closest, which it punctured for already) is asked
        for ``node``'s id: answering, it sends ``node`` a puncture-request on our behalf, so that ``node``'s
        NAT lets our find-request in.
        """
        if via is None:
            return self._find_request(node, target, force_nodes)
        return self._find_request(via, node.id, True).addCallback(
            lambda _: self._find_request(node, target, force_nodes))

    def _contacted(self, result: object, walk: _Walk, node: Node) -> None:
        """One find-request of a walk was answered (a tuple) or went unanswered (None)."""
        walk.in_flight -= 1
        if isinstance(result, tuple):
            found_values, found_nodes = result
            walk.answered[node.id] = node
            walk.values.extend(found_values)
            if walk.trace is not None:
                walk.trace.update(responses=1, responses_with_nodes=int(bool(found_nodes)),
                                  responses_with_values=int(bool(found_values)))
            for index, other in enumerate(found_nodes):
                if other.id not in walk.candidates and len(walk.candidates) < MAX_LOOKUP_CANDIDATES \
                        and self._acceptable(other):
                    walk.offer(other, None if index == 0 else node)
        wake, walk.wake = walk.wake, None
        if wake is not None:
            wake.callback(None)

    def _decoded_values(self, values: list[bytes]) -> list[tuple[bytes, bytes | None]]:
        """Check found values: drop (and count) bad ones, keep one per plain content and the newest per signer."""
        plain: dict[bytes, None] = {}
        signed: dict[bytes, tuple[int, bytes]] = {}
        # Several nodes usually return the same value: check each distinct encoding (signature) once.
        for value in dict.fromkeys(bytes(value) for value in values):
            if len(value) > MAX_ENTRY_SIZE:
                self.drop_counts[DROP_DHT_VALUE_OVERSIZED] += 1
                continue
            try:
                decoded = decode_value(value)
            except InvalidValueError as exc:
                self.drop_counts[f"dht-value-{exc.reason}"] += 1
                continue
            if decoded.public_key is None:
                plain.setdefault(decoded.data, None)
            elif decoded.public_key not in signed or signed[decoded.public_key][0] < decoded.version:
                signed[decoded.public_key] = (decoded.version, decoded.data)
        return [(data, None) for data in plain] + [(data, key) for key, (_, data) in signed.items()]

    def find_values(self, key: bytes, trace: Counter[str] | None = None) -> Deferred:
        """Look up ``key``; fires with a list of ``(data, signer's public key in binary or None)``.

        :param trace: a Counter that receives the lookup's figures (see :meth:`_lookup`; the REST API shows them).
        """
        async def run() -> list[tuple[bytes, bytes | None]]:
            _, values = await self._lookup(key, force_nodes=False, trace=trace)
            return self._decoded_values(values + self.storage.get(key))
        return ensureDeferred(run())

    def find_nodes(self, key: bytes) -> Deferred:
        """Look up the nodes closest to ``key``; fires with a list of :class:`~ipv8.dht.routing.Node`."""
        async def run() -> list[Node]:
            nodes, _ = await self._lookup(key, force_nodes=True)
            return nodes
        return ensureDeferred(run())

    # -- storing -------------------------------------------------------------------------------------------
    def store_value(self, key: bytes, data: bytes, sign: bool = False) -> Deferred:
        """Store ``data`` under ``key`` on the nodes closest to it (signed by us when ``sign``).

        Fires with the nodes that confirmed; fails with :class:`DHTError` when the value is too large or
        no node stored it.
        """
        async def run() -> list[Node]:
            if not isinstance(key, bytes) or len(key) != NODE_ID_SIZE:
                raise DHTError(f"a DHT key has {NODE_ID_SIZE} bytes")
            value = encode_signed_value(data, self.my_peer.key, int(self.clock.seconds())) if sign \
                else encode_value(data)
            if len(value) > MAX_ENTRY_SIZE:
                raise DHTError(f"the encoded value has {len(value)} bytes, at most {MAX_ENTRY_SIZE} fit")
            stored = await self._store(key, [value])
            mine = self._my_values.setdefault(key, OrderedDict())
            mine.pop(value, None)
            mine[value] = None
            while len(mine) > MAX_VALUES_IN_STORE:
                mine.popitem(last=False)
            return stored
        return ensureDeferred(run())

    async def _store(self, key: bytes, values: list[bytes]) -> list[Node]:
        nodes, _ = await self._lookup(key, force_nodes=True)
        if nodes and (len(nodes) < TARGET_NODES or
                      distance(self.get_my_node_id(nodes[0]), key) < distance(nodes[-1].id, key)):
            # We are among the closest nodes to the key ourselves: keep a copy too (as pyipv8 does).
            for value in values:
                self.storage.put(key, value, MAX_ENTRY_AGE)
        results = await gather([ensureDeferred(self._store_on(node, key, values))
                                       for node in nodes[:TARGET_NODES]])
        stored = [node for node, ok in zip(nodes, results) if ok]
        if not stored:
            raise DHTError("no node stored the value")
        return stored

    async def _store_on(self, node: Node, key: bytes, values: list[bytes]) -> bool:
        token = self._usable_token(node)
        if token is None:
            await self._find_request(node, key, True)
            token = self._usable_token(node)
            if token is None:
                return False
        answer = await self._request("store", node, lambda cache: StoreRequestPayload(cache.number, token, key, values),
                                     consume_errors=True)
        return answer is not None

    @lazy_wrapper(StoreRequestPayload)
    def on_store_request(self, peer: Peer, payload: StoreRequestPayload) -> None:
        """Keep the values of a node that presents our token for its address."""
        node = self._requester(peer, self._store_limiter)
        if node is None:
            return
        if len(payload.values) > MAX_VALUES_IN_STORE:
            self.drop_counts[DROP_DHT_TOO_MANY_VALUES] += 1
            return
        if not self.check_token(node, payload.token):
            self.drop_counts[DROP_DHT_BAD_TOKEN] += 1
            return
        # The more nodes are closer to the key than we are, the less we are responsible: keep it shorter.
        me = self.get_routing_table(node).my_node_id
        closer = sum(1 for other in self.get_routing_table(node).closest_nodes(payload.target, 2 * TARGET_NODES)
                     if distance(other.id, payload.target) < distance(me, payload.target))
        max_age = MAX_ENTRY_AGE // 2 ** max(0, closer - TARGET_NODES + 1)
        accepted = 0
        for value in payload.values:
            outcome = self.storage.put(payload.target, value, max_age)
            if outcome.accepted:
                accepted += 1
            else:
                self.drop_counts[f"dht-value-{outcome.value}"] += 1
        if accepted:
            self.ez_send(node, StoreResponsePayload(payload.identifier))

    @lazy_wrapper(StoreResponsePayload)
    def on_store_response(self, peer: Peer, payload: StoreResponsePayload) -> None:
        """A node confirmed our store-request."""
        cache = self._answered(peer, "store", payload.identifier)
        if cache is not None:
            cache.complete(cache.node)

    # -- peer discovery (messages 7-10) --------------------------------------------------------------------
    def on_store_peer_request(self, source_address: Any, data: bytes) -> None:
        """A store-peer-request: this plain DHT node does not keep peers (a subclass does); counted and dropped."""
        self.drop_counts[DROP_DHT_UNSUPPORTED] += 1

    def on_connect_peer_request(self, source_address: Any, data: bytes) -> None:
        """A connect-peer-request: this plain DHT node keeps no peers to connect to; counted and dropped."""
        self.drop_counts[DROP_DHT_UNSUPPORTED] += 1

    @lazy_wrapper(StorePeerResponsePayload)
    def on_store_peer_response(self, peer: Peer, payload: StorePeerResponsePayload) -> None:
        """A node confirmed a store-peer-request (sent under the cache kind ``"store-peer"``)."""
        cache = self._answered(peer, "store-peer", payload.identifier)
        if cache is not None:
            cache.complete(cache.node)

    @lazy_wrapper(ConnectPeerResponsePayload)
    def on_connect_peer_response(self, peer: Peer, payload: ConnectPeerResponsePayload) -> None:
        """A node answered a connect-peer-request (cache kind ``"connect-peer"``) with the peers it punctured."""
        cache = self._answered(peer, "connect-peer", payload.identifier)
        if cache is not None:
            cache.complete([node for node in payload.nodes if self._acceptable(node)])

    # -- maintenance ---------------------------------------------------------------------------------------
    def ping_maintenance(self) -> None:
        """Ping a bounded number of nodes we have not heard from lately (their silence makes them bad)."""
        now = self.clock.seconds()
        budget = MAX_PINGS_PER_ROUND
        for table in self.routing_tables.values():
            for node in table.nodes():
                if budget <= 0:
                    return
                if now - node.last_contact > STALE_AFTER and now - node.last_ping_sent > PING_INTERVAL:
                    budget -= 1
                    self._request("ping", node, lambda cache: PingRequestPayload(cache.number), consume_errors=True)

    async def node_maintenance(self) -> None:
        """Drop bad nodes, and refresh buckets nobody touched lately by looking up an id inside each."""
        now = self.clock.seconds()
        for table in self.routing_tables.values():
            table.remove_bad_nodes()
            for bucket in table.buckets():
                if bucket.nodes and now - bucket.last_changed > BUCKET_REFRESH_AGE:
                    bucket.touch()
                    try:
                        await self._lookup(bucket.generate_id(), force_nodes=True)
                    except DHTError:
                        pass

    async def value_maintenance(self) -> None:
        """Drop expired values, and store our own values again before they expire on the other nodes."""
        self.storage.clean()
        for key, values in list(self._my_values.items()):
            try:
                await self._store(key, list(values))
            except DHTError:
                pass

    def statistics(self) -> dict[str, Any]:
        """Counters for monitoring: table sizes, stored values, pending requests, remembered tokens and DHT drops.

        ``replacement_nodes`` (nodes waiting for a place in a full bucket) and ``evictions`` (values the store's
        caps pushed out, per cap) are what a flood of fresh keys or values shows up in first.
        """
        self.sync_node_ids()
        return {"routing_tables": {family.__name__: len(table) for family, table in self.routing_tables.items()},
                "replacement_nodes": sum(len(bucket.replacements) for table in self.routing_tables.values()
                                         for bucket in table.buckets()),
                "good_nodes": sum(1 for table in self.routing_tables.values() for node in table.nodes()
                                  if node.status == NODE_STATUS_GOOD),
                "bad_nodes": sum(1 for table in self.routing_tables.values() for node in table.nodes()
                                 if node.status == NODE_STATUS_BAD),
                "values": len(self.storage), "evictions": dict(self.storage.evictions),
                "pending_requests": len(self._pending), "tokens": len(self.tokens),
                "drops": {reason: count for reason, count in self.drop_counts.items() if reason.startswith("dht-")}}


__all__ = ["MAX_CRAWL_TASKS", "MAX_PENDING_REQUESTS", "PING_INTERVAL", "TARGET_NODES", "TOKEN_EXPIRATION_TIME",
           "DHTCommunity", "DHTSettings"]
