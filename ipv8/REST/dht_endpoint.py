"""``/dht/...`` and ``/noblockdht/{mid}``: look at and use the service's DHT, with pyipv8 3.2.1's routes and JSON.

=========================================  ========================================================================
``GET /dht/statistics``                    our ids, table sizes, tokens and stored keys (and stored peers)
``GET /dht/values``                        the values this node keeps for others, by hex key
``GET /dht/values/{key}``                  a lookup: ``{"values": [...], "debug": {...}}``
``PUT /dht/values/{key}``                  store ``{"value": "<hex>"}`` under the key, signed by us
``GET /dht/peers/{mid}``                   connect to a peer through the DHT: ``{"peers": [...]}``
``GET /dht/buckets``                       the buckets of the routing tables and their nodes
``GET /dht/buckets/{prefix}/refresh``      a lookup inside one bucket (``/dht/buckets//refresh``: the root bucket)
``GET /noblockdht/{mid}``                  start connecting to a peer and answer at once: ``{"success": true}``
=========================================  ========================================================================

The overlay is the first loaded :class:`~ipv8.dht.community.DHTCommunity` (the peer routes need a
:class:`~ipv8.dht.discovery.DHTDiscoveryCommunity`), looked up on every request. Without one the routes
answer like pyipv8 3.2.1: 404 ``"DHT community not found"``, except ``/dht/buckets`` (an empty list) and the
refresh route (400 ``"DHT community is not loaded"``).

Keys and mids in the path are 40 hexadecimal digits; a value is hexadecimal and must fit in one DHT entry
(:data:`~ipv8.dht.payload.MAX_ENTRY_SIZE` bytes once signed). Anything else is a 400. A DHT operation that
fails (:class:`~ipv8.dht.DHTError`: nobody stored the value, nobody knows the peer...) is answered as
pyipv8 3.2.1 answers it, 500 ``{"success": false, "error": {"code": "DHTError", "message": ...}}``, without
a traceback in the log.

Lookups, stores and connects run as Deferreds; the reactor is never blocked. A client that hangs up does not
cancel the operation (cancelling halfway would count the nodes that were asked as failed); instead, at most
:data:`MAX_DHT_OPERATIONS` operations started here run at once, and at most :data:`MAX_BACKGROUND_CONNECTS`
background connects (one per mid). Beyond that the answer is 503.

txipv8 keeps one value store for both address families, where pyipv8 3.2.1 keeps one per family. The
``endpoint`` of a stored value, and the ``num_keys_in_store`` of the statistics, are therefore reported for
the family of the node's own (WAN) address; the other family shows 0 keys.
"""
from __future__ import annotations

import logging
from base64 import b64encode
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import CancelledError, Deferred, ensureDeferred, maybeDeferred
from twisted.python.failure import Failure

from ..dht import DHTError
from ..dht.community import DHTCommunity
from ..dht.discovery import DHTDiscoveryCommunity
from ..dht.payload import (DHT_ENTRY_STR, DHT_ENTRY_STR_SIGNED, MAX_ENTRY_SIZE, SignedStrPayload, dht_serializer,
                           encode_signed_value)
from ..dht.routing import NODE_ID_BITS, NODE_ID_SIZE
from ..messaging.addresses import UDPv4Address, UDPv6Address
from ..peer import typed_address
from .base_endpoint import APIRequest, BadRequest, BaseEndpoint, NotFound, Response, RESTError, api_method
from .errors import HTTP_INTERNAL_SERVER_ERROR, internal_error_payload
from .schema import ERROR_REF, SUCCESS_REF, array, boolean, integer, mapping, number, obj, string

if TYPE_CHECKING:
    from twisted.web.server import Request

    from ..dht.routing import Node

logger = logging.getLogger(__name__)

#: DHT operations (lookups, stores, connects, refreshes) the REST API runs at once at most.
MAX_DHT_OPERATIONS = 32
#: Background connects (``/noblockdht``) that run at once at most.
MAX_BACKGROUND_CONNECTS = 16
#: pyipv8's name of each address family (its ``FAST_ADDR_TO_INTERFACE``).
INTERFACE_NAMES: dict[type, str] = {UDPv4Address: "UDPIPv4", UDPv6Address: "UDPIPv6"}
#: What pyipv8 3.2.1 says when there is no DHT overlay.
DHT_NOT_FOUND = "DHT community not found"
DHT_NOT_LOADED = "DHT community is not loaded"
#: A hex value longer than this can never fit in a DHT entry (the schema refuses it before decoding).
MAX_VALUE_HEX_LENGTH = 2 * MAX_ENTRY_SIZE
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class ServiceUnavailable(RESTError):
    """503: too many DHT operations are running already; try again later."""

    status = 503


def dht_failure(error: DHTError) -> Response:
    """pyipv8 3.2.1's answer to a failed DHT operation (its error middleware's 500 body)."""
    return Response(internal_error_payload(type(error).__name__, str(error)), status=HTTP_INTERNAL_SERVER_ERROR)


# -- schemas ------------------------------------------------------------------------------------------------

NOT_LOADED = ("No DHT community is loaded.", ERROR_REF)
DHT_FAILED = ("The DHT operation failed (pyipv8's shape: error is {code: 'DHTError', message}).", ERROR_REF)
BUSY = ("Too many DHT operations are running; try again later.", ERROR_REF)

ENDPOINT_STATISTICS_SCHEMA = obj(
    ("endpoint", "node_id", "routing_table_size", "routing_table_buckets", "num_keys_in_store"),
    endpoint=string("Address family: UDPIPv4 or UDPIPv6."),
    node_id=string("Our node id in this family (hex)."),
    routing_table_size=integer("Nodes in the routing table."),
    routing_table_buckets=integer("Buckets of the routing table."),
    num_keys_in_store=integer("Keys with values in our store (counted for the family of our own address)."),
)
STATISTICS_SCHEMA = obj(
    ("statistics",),
    statistics=obj(
        ("peer_id", "num_tokens", "endpoints"),
        peer_id=string("Our mid (hex)."),
        num_tokens=integer("Store tokens other nodes gave us that we still keep."),
        endpoints=array(ENDPOINT_STATISTICS_SCHEMA),
        num_peers_in_store=mapping(integer(), "DHTDiscoveryCommunity only: hex mid -> nodes we store for it."),
        num_store_for_me=mapping(integer(), "DHTDiscoveryCommunity only: hex mid -> nodes that store us."),
    ),
)
VALUE_SCHEMA = obj(
    ("public_key", "key", "value"),
    public_key={"type": ["string", "null"], "description": "The signer's public key (base64), null if unsigned."},
    key=string("The key (hex)."),
    value=string("The data (hex)."),
)
STORED_VALUE_SCHEMA = obj(("endpoint", "public_key", "key", "value"), endpoint=string("Address family."),
                          **VALUE_SCHEMA["properties"])
LOOKUP_SCHEMA = obj(
    ("values", "debug"),
    values=array(VALUE_SCHEMA),
    debug=obj(("requests", "responses", "responses_with_nodes", "responses_with_values", "time"),
              requests=integer("Find-requests sent."), responses=integer("Find-responses received."),
              responses_with_nodes=integer(), responses_with_values=integer(),
              time=number("Seconds the lookup took.")),
)
STORE_BODY = obj(("value",), value=string("The data to store, in hexadecimal; it is signed with our key.",
                                          maxLength=MAX_VALUE_HEX_LENGTH))
PEERS_SCHEMA = obj(
    ("peers",),
    peers=array(obj(("public_key", "address"), public_key=string("base64"),
                    address={"type": "array", "items": {"type": ["string", "integer"]},
                             "description": "[host, port]"})),
)
BUCKETS_SCHEMA = obj(
    ("buckets",),
    buckets=array(obj(
        ("prefix", "last_changed", "endpoint", "peers"),
        prefix=string("The bucket's id prefix in bits ('' for the root bucket)."),
        last_changed=number("When a node was last added, updated or removed (seconds, 0: never)."),
        endpoint=string("Address family."),
        peers=array(obj(("ip", "port", "mid", "id", "failed", "last_contact", "distance"),
                        ip=string(), port=integer(), mid=string("hex"), id=string("Node id (hex)."),
                        failed=integer("Requests in a row the node left unanswered."),
                        last_contact=number("When we last heard from the node (seconds, 0: never)."),
                        distance=integer("XOR distance between its node id and ours."))),
    )),
)
REFRESH_SCHEMA = obj(("success",), success=boolean(), error=string("Why no lookup succeeded."))


# -- helpers ------------------------------------------------------------------------------------------------

def _hex(data: bytes) -> str:
    return data.hex()


def _b64(data: bytes) -> str:
    return b64encode(data).decode("ascii")


def parse_id(text: str | None, what: str) -> bytes:
    """A 20-byte key or mid from its 40 hexadecimal digits; :class:`BadRequest` otherwise."""
    if text is None or len(text) != 2 * NODE_ID_SIZE or not _HEX_DIGITS.issuperset(text):
        raise BadRequest(f"the {what} must be {2 * NODE_ID_SIZE} hexadecimal digits ({NODE_ID_SIZE} bytes)",
                         code="BadDHTKey")
    return bytes.fromhex(text)


def parse_hex_value(text: str) -> bytes:
    """The bytes of a hexadecimal value; :class:`BadRequest` when it is not hexadecimal."""
    if len(text) % 2 or not _HEX_DIGITS.issuperset(text):
        raise BadRequest("the value must be hexadecimal (an even number of digits 0-9, a-f)", code="BadDHTValue")
    return bytes.fromhex(text)


def own_family(dht: DHTCommunity) -> type:
    """The address class of the DHT node's own (WAN) address; IPv4 when it has none yet."""
    try:
        return type(typed_address(dht.my_estimated_wan)) if dht.my_estimated_wan else UDPv4Address
    except (TypeError, ValueError):
        return UDPv4Address


def stored_data(encoded: bytes) -> tuple[bytes, bytes | None] | None:
    """
    ``(data, signer's public key or None)`` of a value from our store, or None if it cannot be read.

    The store checked every signature when the value came in, so it is only taken apart here, not verified
    again (8192 values would cost seconds of signature checks).
    """
    if encoded[:1] == bytes((DHT_ENTRY_STR,)):
        return encoded[1:], None
    if encoded[:1] == bytes((DHT_ENTRY_STR_SIGNED,)):
        try:
            body, _ = dht_serializer.unpack_serializable(SignedStrPayload, encoded, 1)
        except Exception:  # noqa: BLE001 - never expected from our own store; the value is just skipped
            return None
        return body.data, body.public_key
    return None


class DHTOperations:
    """
    The DHT work the REST API has running, shared by every DHT resource: it finds the overlay and caps work.

    :param max_operations: operations (lookups, stores, connects, refreshes) running at once at most.
    :param max_background: background connects running at once at most.
    """

    def __init__(self, max_operations: int = MAX_DHT_OPERATIONS,
                 max_background: int = MAX_BACKGROUND_CONNECTS) -> None:
        """Nothing runs yet."""
        self.max_operations = max_operations
        self.max_background = max_background
        self.running = 0
        #: mid -> the background connect to it that is running.
        self.background: dict[bytes, Deferred] = {}

    @staticmethod
    def find(session: Any, overlay_class: type = DHTCommunity) -> Any:  # noqa: ANN401
        """The session's first loaded overlay of ``overlay_class``, or None."""
        for overlay in list(getattr(session, "overlays", ())):
            if isinstance(overlay, overlay_class):
                # Our node ids follow our address once peers told us what it is: show the current ones.
                overlay.sync_node_ids()
                return overlay
        return None

    def run(self, operation: Callable[[], Deferred]) -> Deferred:
        """
        Start ``operation()`` under the cap and return a Deferred for its outcome.

        Cancelling the returned Deferred (the client left) does not cancel the operation; its slot is freed
        when the operation itself ends.

        :raises ServiceUnavailable: when :attr:`max_operations` are running already.
        """
        if self.running >= self.max_operations:
            raise ServiceUnavailable(f"{self.running} DHT operations are running already; try again later",
                                     code="DHTBusy")
        self.running += 1
        outcome: Deferred = Deferred()

        def done(result: object) -> None:
            self.running -= 1
            if not outcome.called:
                # Before the client left: pass the result or failure on.
                if isinstance(result, Failure):
                    outcome.errback(result)
                else:
                    outcome.callback(result)
            elif isinstance(result, Failure) and not result.check(DHTError):
                # After the client left, a DHTError (a timeout...) is of no interest; anything else is a bug.
                logger.error("A DHT operation failed after its client left:\n%s", result.getTraceback())

        maybeDeferred(operation).addBoth(done)
        return outcome

    def connect_in_background(self, dht: Any, mid: bytes) -> bool:  # noqa: ANN401
        """
        Start connecting to ``mid`` unless a connect to it is running already; failures are logged.

        :returns: whether a new connect was started.
        :raises ServiceUnavailable: when :attr:`max_background` connects are running already.
        """
        if mid in self.background:
            return False
        if len(self.background) >= self.max_background:
            raise ServiceUnavailable(f"{len(self.background)} background DHT connects are running already; "
                                     "try again later", code="DHTBusy")
        connecting = maybeDeferred(dht.connect_peer, mid)
        self.background[mid] = connecting

        def connected(nodes: list[Node]) -> None:
            logger.info("DHT connected to %s through %d node(s)", mid.hex(), len(nodes))

        def failed(failure: Failure) -> None:
            if failure.check(DHTError, CancelledError):
                logger.info("DHT could not connect to %s: %s", mid.hex(), failure.getErrorMessage())
            else:
                logger.error("DHT connect to %s failed unexpectedly:\n%s", mid.hex(), failure.getTraceback())

        def forget(_: object) -> None:
            if self.background.get(mid) is connecting:
                del self.background[mid]

        connecting.addCallbacks(connected, failed).addBoth(forget)
        return True


def run_dht_call(operations: DHTOperations, operation: Callable[[], Deferred],
                 answer: Callable[[Any], Any]) -> Deferred:
    """Run ``operation`` under the cap; its result through ``answer``, a :class:`DHTError` as pyipv8's 500."""
    def failed(failure: Failure) -> Response:
        failure.trap(DHTError)
        logger.info("A DHT operation requested over REST failed: %s", failure.getErrorMessage())
        return dht_failure(failure.value)
    return operations.run(operation).addCallback(answer).addErrback(failed)


class _DHTResource(BaseEndpoint):
    """A resource that shares :class:`DHTOperations` with the other DHT resources."""

    tags = ("DHT",)

    def __init__(self, operations: DHTOperations) -> None:
        """Create the resource; see the class documentation."""
        super().__init__()
        self.dht_operations = operations

    def dht(self, error: RESTError | None = None) -> DHTCommunity:
        """The loaded DHT overlay; raises ``error`` (404 ``DHT community not found`` by default) without one."""
        dht = self.dht_operations.find(self.session)
        if dht is None:
            raise error or NotFound(DHT_NOT_FOUND, code="DHTNotLoaded")
        return dht

    def discovery(self) -> DHTDiscoveryCommunity:
        """The loaded DHTDiscoveryCommunity; 404 ``DHT community not found`` without one."""
        dht = self.dht_operations.find(self.session, DHTDiscoveryCommunity)
        if dht is None:
            raise NotFound(DHT_NOT_FOUND, code="DHTNotLoaded")
        return dht


# -- the resources ------------------------------------------------------------------------------------------

class DHTStatisticsEndpoint(_DHTResource):
    """``/dht/statistics``."""

    @api_method("GET", "Our DHT ids, routing table sizes, tokens and stored keys.",
                {200: STATISTICS_SCHEMA, 404: NOT_LOADED})
    def get_statistics(self, request: APIRequest) -> dict[str, Any]:
        """
        One ``endpoints`` entry per address family. With a DHTDiscoveryCommunity, ``num_peers_in_store`` (peers
        we store for others) and ``num_store_for_me`` (nodes that store us) count nodes per hex mid.
        """
        dht = self.dht()
        family = own_family(dht)
        keys = len(dht.storage.keys())
        endpoints = []
        for address_class, table in dht.routing_tables.items():
            endpoints.append({"endpoint": INTERFACE_NAMES.get(address_class, address_class.__name__),
                              "node_id": _hex(table.my_node_id),
                              "routing_table_size": len(table),
                              "routing_table_buckets": len(table.buckets()),
                              "num_keys_in_store": keys if address_class is family else 0})
        statistics: dict[str, Any] = {"peer_id": _hex(dht.my_peer.mid), "num_tokens": len(dht.tokens),
                                      "endpoints": endpoints}
        if isinstance(dht, DHTDiscoveryCommunity):
            statistics["num_peers_in_store"] = {_hex(mid): len(nodes) for mid, nodes in list(dht.store.items())}
            statistics["num_store_for_me"] = {_hex(mid): len(nodes) for mid, nodes in list(dht.store_for_me.items())}
        return {"statistics": statistics}


class DHTValueEndpoint(_DHTResource):
    """``/dht/values/{key}``: look a key up, or store a value under it."""

    @api_method("GET", "Look a key up in the DHT.",
                {200: LOOKUP_SCHEMA, 400: ("The key is not 40 hexadecimal digits.", ERROR_REF), 404: NOT_LOADED,
                 500: DHT_FAILED, 503: BUSY})
    def get_values(self, request: APIRequest) -> Deferred:
        """
        The values found (signed ones with their signer's key, the newest version per signer) and, under
        ``debug``, how the lookup went: requests sent, responses received (with nodes, with values), seconds.
        """
        dht = self.dht()
        key = parse_id(request.path.get("key"), "key")
        trace: Counter[str] = Counter()
        started = dht.clock.seconds()

        def answer(values: list[tuple[bytes, bytes | None]]) -> dict[str, Any]:
            return {"values": [{"public_key": _b64(public_key) if public_key else None, "key": _hex(key),
                                "value": _hex(data)} for data, public_key in values],
                    "debug": {"requests": trace["requests"], "responses": trace["responses"],
                              "responses_with_nodes": trace["responses_with_nodes"],
                              "responses_with_values": trace["responses_with_values"],
                              "time": float(dht.clock.seconds() - started)}}

        return run_dht_call(self.dht_operations, lambda: dht.find_values(key, trace=trace), answer)

    @api_method("PUT", "Store a value under a key in the DHT, signed with our key.",
                {200: SUCCESS_REF,
                 400: ("The key is not 40 hexadecimal digits, or the value is not hexadecimal or too large.",
                       ERROR_REF),
                 404: NOT_LOADED, 500: DHT_FAILED, 503: BUSY},
                body=STORE_BODY)
    def put_value(self, request: APIRequest) -> Deferred:
        """
        The body is ``{"value": "<hex>"}``. Like pyipv8 3.2.1, the value is always signed; with the signature,
        public key and version it must fit in one DHT entry (170 bytes), which leaves 23 bytes of data with a
        curve25519 key.
        """
        dht = self.dht()
        key = parse_id(request.path.get("key"), "key")
        data = parse_hex_value(request.body["value"])
        encoded_size = len(encode_signed_value(data, dht.my_peer.key, 0))
        if encoded_size > MAX_ENTRY_SIZE:
            raise BadRequest(f"the value is too large: signed, it takes {encoded_size} bytes and a DHT entry holds "
                             f"at most {MAX_ENTRY_SIZE}", code="DHTValueTooLarge")
        return run_dht_call(self.dht_operations, lambda: dht.store_value(key, data, sign=True), lambda _: {"success": True})

class DHTValuesEndpoint(_DHTResource):
    """``/dht/values``: the values we keep for others."""

    def __init__(self, operations: DHTOperations) -> None:
        """Create the resource with its ``{key}`` child."""
        super().__init__(operations)
        self.add_endpoint("{key}", DHTValueEndpoint(operations))

    @api_method("GET", "List the values this node keeps for others, by key.",
                {200: mapping(array(STORED_VALUE_SCHEMA), "hex key -> its values"), 404: NOT_LOADED})
    def get_stored_values(self, request: APIRequest) -> dict[str, Any]:
        """
        Per hex key, the live values in our store: signed ones (one per signer, the newest version) first,
        then unsigned ones.
        """
        dht = self.dht()
        endpoint = INTERFACE_NAMES.get(own_family(dht), "UDPIPv4")
        result: dict[str, list[dict[str, Any]]] = {}
        for key, values in dht.storage.items.items():
            signed, plain = [], []
            for value in values:
                decoded = stored_data(value.data)
                if decoded is None:
                    continue
                data, public_key = decoded
                entry = {"endpoint": endpoint, "public_key": _b64(public_key) if public_key else None,
                         "key": _hex(key), "value": _hex(data)}
                (signed if public_key else plain).append(entry)
            result[_hex(key)] = signed + plain
        return result


class DHTPeerEndpoint(_DHTResource):
    """``/dht/peers/{mid}``: connect to a peer through the DHT."""

    @api_method("GET", "Connect to a peer by its mid through the DHT (DHTDiscoveryCommunity).",
                {200: PEERS_SCHEMA, 400: ("The mid is not 40 hexadecimal digits.", ERROR_REF), 404: NOT_LOADED,
                 500: DHT_FAILED, 503: BUSY})
    def get_peer(self, request: APIRequest) -> Deferred:
        """
        The nodes of the peer that the DHT found; each was asked to puncture its NAT towards us, so the peer
        can be contacted right after the answer.
        """
        dht = self.discovery()
        mid = parse_id(request.path.get("mid"), "mid")

        def answer(nodes: list[Node]) -> dict[str, Any]:
            return {"peers": [{"public_key": _b64(node.public_key.key_to_bin()),
                               "address": [node.address[0], node.address[1]]} for node in nodes]}

        return run_dht_call(self.dht_operations, lambda: dht.connect_peer(mid), answer)


class DHTBucketRefreshEndpoint(_DHTResource):
    """``/dht/buckets/{prefix}/refresh``."""

    @api_method("GET", "Refresh one bucket: look up a random id inside it.",
                {200: REFRESH_SCHEMA, 400: ("No bucket has this prefix, or the DHT is not loaded.", ERROR_REF),
                 503: BUSY})
    def refresh_bucket(self, request: APIRequest) -> Deferred:
        """
        The prefix is the bucket's bits (``0``/``1``); ``/dht/buckets//refresh`` names the root bucket, the only
        one until the table splits. Every routing table with such a bucket is refreshed. When all lookups fail
        the answer is ``{"success": false, "error": ...}`` with status 200, as in pyipv8 3.2.1.
        """
        dht = self.dht(BadRequest(DHT_NOT_LOADED, code="DHTNotLoaded"))
        prefix = request.path.get("prefix", "")
        if len(prefix) > NODE_ID_BITS or not set(prefix) <= {"0", "1"}:
            raise BadRequest(f"a bucket prefix is at most {NODE_ID_BITS} bits written as 0 and 1",
                             code="BadBucketPrefix")
        buckets = [bucket for table in list(dht.routing_tables.values())
                   if (bucket := table.trie.get(prefix)) is not None]
        if not buckets:
            raise BadRequest("no such bucket", code="NoSuchBucket")

        async def refresh() -> dict[str, Any]:
            error: DHTError | None = None
            refreshed = False
            for bucket in buckets:
                bucket.touch()
                try:
                    await dht.find_nodes(bucket.generate_id())
                except DHTError as exc:
                    error = exc
                else:
                    refreshed = True
            if refreshed:
                return {"success": True}
            return {"success": False, "error": str(error)}

        return self.dht_operations.run(lambda: ensureDeferred(refresh()))


class _BucketPrefixEndpoint(_DHTResource):
    """``/dht/buckets/{prefix}``: only groups ``refresh``."""

    def __init__(self, operations: DHTOperations) -> None:
        """Create the resource with its ``refresh`` child."""
        super().__init__(operations)
        self.add_endpoint("refresh", DHTBucketRefreshEndpoint(operations))


class DHTBucketsEndpoint(_DHTResource):
    """``/dht/buckets``: the routing tables, bucket by bucket."""

    def __init__(self, operations: DHTOperations) -> None:
        """Create the resource with its ``{prefix}`` child."""
        super().__init__(operations)
        self.prefix_child = _BucketPrefixEndpoint(operations)
        self.add_endpoint("{prefix}", self.prefix_child)

    def getChild(self, path: bytes, request: Request) -> Any:  # noqa: N802, ANN401 - twisted.web's name
        """An empty segment followed by more (``/dht/buckets//refresh``) is the root bucket's prefix ``""``."""
        if path == b"" and request.postpath:
            return self.prefix_child  # the handler reads a missing ``prefix`` as ""
        return super().getChild(path, request)

    @api_method("GET", "List the buckets of the DHT's routing tables with their nodes.", {200: BUCKETS_SCHEMA})
    def get_buckets(self, request: APIRequest) -> dict[str, Any]:
        """
        Every bucket of every address family, with its nodes; the list is empty when no DHT is loaded.
        ``distance`` is the XOR distance (an integer of up to 160 bits) between the node's id and ours.
        """
        dht = self.dht_operations.find(self.session)
        if dht is None:
            return {"buckets": []}
        buckets = []
        for address_class, table in list(dht.routing_tables.items()):
            for bucket in table.buckets():
                buckets.append({
                    "prefix": bucket.prefix_id,
                    "last_changed": bucket.last_changed,
                    "endpoint": INTERFACE_NAMES.get(address_class, address_class.__name__),
                    "peers": [{"ip": node.address[0], "port": node.address[1], "mid": _hex(node.mid),
                               "id": _hex(node.id), "failed": node.failed, "last_contact": node.last_contact,
                               "distance": node.distance(table.my_node_id)} for node in list(bucket.nodes.values())],
                })
        return {"buckets": buckets}


class DHTEndpoint(_DHTResource):
    """``/dht``: groups the DHT routes (it answers nothing itself, as in pyipv8 3.2.1)."""

    def __init__(self, operations: DHTOperations | None = None) -> None:
        """Create the tree below ``/dht``; ``operations`` is shared with ``/noblockdht`` when given."""
        operations = operations if operations is not None else DHTOperations()
        super().__init__(operations)
        self.add_endpoint("statistics", DHTStatisticsEndpoint(operations))
        self.add_endpoint("values", DHTValuesEndpoint(operations))
        peers = self.add_endpoint("peers", _DHTResource(operations))
        peers.add_endpoint("{mid}", DHTPeerEndpoint(operations))
        self.add_endpoint("buckets", DHTBucketsEndpoint(operations))


class NoBlockDHTPeerEndpoint(_DHTResource):
    """``/noblockdht/{mid}``."""

    @api_method("GET", "Start connecting to a peer through the DHT and answer at once.",
                {200: SUCCESS_REF, 400: ("The mid is not 40 hexadecimal digits.", ERROR_REF), 404: NOT_LOADED,
                 503: ("Too many background connects are running; try again later.", ERROR_REF)})
    def connect(self, request: APIRequest) -> dict[str, Any]:
        """
        The connect runs in the background (a second request for the same mid while it runs starts nothing new);
        its outcome is only logged. At most 16 run at once.
        """
        dht = self.discovery()
        mid = parse_id(request.path.get("mid"), "mid")
        self.dht_operations.connect_in_background(dht, mid)
        return {"success": True}


class NoBlockDHTEndpoint(_DHTResource):
    """``/noblockdht``: groups ``/noblockdht/{mid}``."""

    def __init__(self, operations: DHTOperations | None = None) -> None:
        """Create the resource with its ``{mid}`` child."""
        super().__init__(operations if operations is not None else DHTOperations())
        self.add_endpoint("{mid}", NoBlockDHTPeerEndpoint(self.dht_operations))


__all__ = [
    "MAX_BACKGROUND_CONNECTS",
    "MAX_DHT_OPERATIONS",
    "DHTEndpoint",
    "DHTOperations",
    "NoBlockDHTEndpoint",
    "ServiceUnavailable",
    "parse_id",
]
