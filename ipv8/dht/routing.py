"""Kademlia-style routing: node ids, nodes, buckets and the routing table.

**Node ids** (160 bits, as pyipv8 3.2.1 computes them, so both implementations agree on who is responsible
for a key). Following the BitTorrent DHT's defence against id grinding, the first three bytes depend on the
node's IP address and the other seventeen on its key:

* IPv4: ``CRC32(ip & 03 0f 3f ff)[:3] + mid[:17]``;
* IPv6: ``CRC32(first 8 bytes of ip & 01 03 07 0f 1f 3f 7f ff)[:3] + mid[:17]``.

CRC32 is zlib's (big-endian digest); ``mid`` is the SHA-1 of the node's public key. See :func:`calc_node_id`.

**Buckets** hold up to :data:`MAX_BUCKET_SIZE` nodes whose ids share the bucket's prefix. The
:class:`RoutingTable` starts with one bucket (prefix ``""``) and, when a full bucket that covers our own id
must take another node, splits it in two (prefix + ``"0"``, prefix + ``"1"``), as pyipv8 does. A full bucket
that does not cover our id never splits: a node that does not fit goes to the bucket's replacement cache and
takes the place of the first node that is removed.

**Time** is read from an injected :class:`~twisted.internet.interfaces.IReactorTime` (``clock``), never from
the wall clock, so that a :class:`twisted.internet.task.Clock` drives everything in tests.

A DHT keeps one routing table per address family (IPv4 and IPv6), because a node id depends on the address.
"""
from __future__ import annotations

import enum
import random
import socket
import zlib
from collections import Counter, OrderedDict, deque
from typing import TYPE_CHECKING, Callable, Iterable, NamedTuple

from ..messaging.address_hygiene import is_usable
from ..messaging.addresses import UDPv4Address, UDPv6Address
from ..peer import Peer, default_clock
from .trie import Trie

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from ..keyvault.keys import Key

#: Length of a node id (and of a DHT key) in bytes.
NODE_ID_SIZE = 20
#: Length of a node id in bits.
NODE_ID_BITS = NODE_ID_SIZE * 8

#: A node that sent more than :data:`NODE_LIMIT_QUERIES` queries within this many seconds is "blocked":
#: the community ignores its requests for a while (same numbers as pyipv8 3.2.1).
NODE_LIMIT_INTERVAL = 5
#: See :data:`NODE_LIMIT_INTERVAL`.
NODE_LIMIT_QUERIES = 10

#: :attr:`Node.status`: responded recently (BEP-5's definition of a good node).
NODE_STATUS_GOOD = 2
#: :attr:`Node.status`: neither good nor bad (for example: never asked yet).
NODE_STATUS_UNKNOWN = 1
#: :attr:`Node.status`: failed to answer :data:`NODE_MAX_FAILURES` requests in a row.
NODE_STATUS_BAD = 0
#: Consecutive unanswered requests after which a node is bad.
NODE_MAX_FAILURES = 2
#: A node that answered within this many seconds (or answered once and asked us something within this
#: many seconds) is good.
NODE_GOOD_WINDOW = 15 * 60

#: K, the number of nodes per bucket. Local policy, not part of the wire format: pyipv8 3.2.1 uses 8, this
#: implementation keeps 20 (the Kademlia paper's value) so that lookups have more candidates to go on.
MAX_BUCKET_SIZE = 20

#: The IPv4 mask (per byte) applied before hashing the address into a node id.
IPV4_MASK = b"\x03\x0f\x3f\xff"
#: The mask for the first eight bytes of an IPv6 address.
IPV6_MASK = b"\x01\x03\x07\x0f\x1f\x3f\x7f\xff"


def id_to_binary_string(node_id: bytes) -> str:
    """The 160 bits of ``node_id`` as a string of ``"0"``/``"1"``, most significant bit first."""
    return format(int.from_bytes(node_id, "big"), f"0{len(node_id) * 8}b")


def distance(a: bytes, b: bytes) -> int:
    """The XOR distance between two ids, as a non-negative integer."""
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def calc_node_id(address: tuple, mid: bytes) -> bytes:
    """The 20-byte node id of the node with member id ``mid`` at ``address`` (see the module documentation).

    A :class:`~ipv8.messaging.addresses.UDPv6Address`, or a plain tuple whose host contains a colon, is
    treated as IPv6; anything else as IPv4.

    :raises OSError: the host is not an IP address of that family.
    """
    host = address[0]
    if isinstance(address, UDPv6Address) or (type(address) is tuple and ":" in host):
        raw = socket.inet_pton(socket.AF_INET6, host)[:8]
        mask = IPV6_MASK
    else:
        raw = socket.inet_pton(socket.AF_INET, host)
        mask = IPV4_MASK
    masked = bytes(byte & bits for byte, bits in zip(raw, mask))
    return zlib.crc32(masked).to_bytes(4, "big")[:3] + mid[:17]


class Node(Peer):
    """A peer as the DHT sees it: a key, one address, and the node id they make.

    :param key: the node's public key (or its binary form).
    :param address: the node's address (one of one family; a node is re-created when it moves).
    :param intro: passed on to :class:`~ipv8.peer.Peer`; unlike a plain peer, a node always starts with
        ``last_response`` 0 ("never answered").
    :param clock: where every time below is read from (by default the installed reactor).

    Bookkeeping the DHT community keeps up to date (all times in the clock's seconds):

    * :attr:`last_response`: when the node last answered one of our requests (0: never);
    * :attr:`last_queries`: when it sent us its last :data:`NODE_LIMIT_QUERIES` requests;
    * :attr:`last_ping_sent`: when we last pinged it;
    * :attr:`failed`: how many of our requests in a row it left unanswered;
    * :attr:`rtt`: the round-trip time of its last answer, in seconds (0: not measured).

    :meth:`record_response`, :meth:`record_failure` and :meth:`record_query` do that bookkeeping.
    """

    def __init__(self, key: Key | bytes, address: tuple | None = None, intro: bool = True, *,
                 clock: IReactorTime | None = None) -> None:
        """Create a node; see the class documentation."""
        super().__init__(key, address, intro, clock=clock)
        self.bucket: Bucket | None = None
        self.last_response: float = 0
        self.last_queries: deque[float] = deque(maxlen=NODE_LIMIT_QUERIES)
        self.last_ping_sent: float = 0
        self.failed: int = 0
        self.rtt: float = 0
        self._id_for: tuple | None = None
        self._id: bytes = b""

    @property
    def id(self) -> bytes:
        """The 20-byte node id (from ``address`` and ``mid``; see :func:`calc_node_id`)."""
        address = self.address
        if address != self._id_for or type(address) is not type(self._id_for):
            self._id = calc_node_id(address, self.mid)
            self._id_for = address
        return self._id

    @property
    def last_query(self) -> float:
        """When the node last sent us a request (0: never)."""
        return self.last_queries[-1] if self.last_queries else 0

    @property
    def last_contact(self) -> float:
        """When we last heard from the node, by answer or by request (0: never)."""
        return max(self.last_response, self.last_query)

    @property
    def blocked(self) -> bool:
        """Whether the node sent :data:`NODE_LIMIT_QUERIES` requests within the last :data:`NODE_LIMIT_INTERVAL` s."""
        if len(self.last_queries) < NODE_LIMIT_QUERIES:
            return False
        return self.clock.seconds() - self.last_queries[0] < NODE_LIMIT_INTERVAL

    @property
    def status(self) -> int:
        """:data:`NODE_STATUS_GOOD`, :data:`NODE_STATUS_UNKNOWN` or :data:`NODE_STATUS_BAD` (BEP-5's rules).

        Bad after :data:`NODE_MAX_FAILURES` unanswered requests in a row. Good when it answered within
        :data:`NODE_GOOD_WINDOW`, or answered at some time and sent us a request within that window.
        """
        if self.failed >= NODE_MAX_FAILURES:
            return NODE_STATUS_BAD
        now = self.clock.seconds()
        if self.last_response and (now - self.last_response < NODE_GOOD_WINDOW
                                   or now - self.last_query < NODE_GOOD_WINDOW):
            return NODE_STATUS_GOOD
        return NODE_STATUS_UNKNOWN

    def distance(self, other: Node | bytes) -> int:
        """The XOR distance from this node's id to another node's id (or to an id)."""
        return distance(self.id, other.id if isinstance(other, Node) else other)

    def record_response(self, rtt: float | None = None) -> None:
        """The node answered: it is no longer failing, and (if given) its round trip took ``rtt`` seconds."""
        self.last_response = self.clock.seconds()
        self.failed = 0
        if rtt is not None:
            self.rtt = rtt

    def record_failure(self) -> None:
        """The node left one of our requests unanswered."""
        self.failed += 1

    def record_query(self) -> None:
        """The node sent us a request now (counted for :attr:`blocked` and :attr:`status`)."""
        self.last_queries.append(self.clock.seconds())

    def __str__(self) -> str:
        host, port = self.address[0], self.address[1]
        return f"Node<{host}:{port}, {self.id.hex()}>"


class Bucket:
    """Up to ``max_size`` nodes whose ids start with the bits ``prefix_id``, plus a replacement cache.

    :param prefix_id: the shared id prefix, as a string of ``"0"``/``"1"``.
    :param max_size: K, the number of nodes the bucket holds.
    :param clock: where :attr:`last_changed` is read from.

    When the bucket is full, a new node still gets in if it can take the place of a bad node, of a node that
    never answered us when the newcomer did (the least recently heard of those), or of a node whose round-trip
    time is at least twice its own (pyipv8's policy). Otherwise it waits in the
    replacement cache (the ``max_size`` most recently offered nodes), from which :meth:`remove` refills.
    """

    def __init__(self, prefix_id: str, max_size: int = MAX_BUCKET_SIZE, *,
                 clock: IReactorTime | None = None) -> None:
        """Create an empty bucket; see the class documentation."""
        self.prefix_id = prefix_id
        self.max_size = max_size
        self.clock: IReactorTime = clock if clock is not None else default_clock()
        self.nodes: dict[bytes, Node] = {}
        self.replacements: OrderedDict[bytes, Node] = OrderedDict()
        #: When a node was last added, updated or removed, or the bucket last refreshed (0: never).
        self.last_changed: float = 0

    def __len__(self) -> int:
        """The number of nodes in the bucket (the replacement cache not included)."""
        return len(self.nodes)

    def __bool__(self) -> bool:
        """Always true: an empty bucket is still a bucket."""
        return True

    def __repr__(self) -> str:
        return f"Bucket(prefix={self.prefix_id!r}, nodes={len(self.nodes)}, replacements={len(self.replacements)})"

    def touch(self) -> None:
        """Note that the bucket changed, or was refreshed, now."""
        self.last_changed = self.clock.seconds()

    def generate_id(self, rng: random.Random | None = None) -> bytes:
        """A random id inside this bucket's range (its prefix, then random bits): the target of a refresh."""
        free_bits = NODE_ID_BITS - len(self.prefix_id)
        suffix = (rng or random).getrandbits(free_bits) if free_bits else 0
        prefix = int(self.prefix_id, 2) << free_bits if self.prefix_id else 0
        return (prefix | suffix).to_bytes(NODE_ID_SIZE, "big")

    def owns(self, node_id: bytes) -> bool:
        """Whether ``node_id`` falls in this bucket's range."""
        return id_to_binary_string(node_id).startswith(self.prefix_id)

    def get(self, node_id: bytes) -> Node | None:
        """The node with id ``node_id`` in this bucket (not the replacement cache), if any."""
        return self.nodes.get(node_id)

    def _make_room(self, newcomer: Node) -> bool:
        for node_id, node in self.nodes.items():
            if node.status == NODE_STATUS_BAD:
                self._evict(node_id)
                return True
        if newcomer.last_response:
            # A node that answered us beats one that never did: anyone can fill a bucket with requests from
            # fresh keys, but those keys never answered a request of ours. Nodes that did answer stay.
            silent = [node for node in self.nodes.values() if not node.last_response]
            if silent:
                self._evict(min(silent, key=lambda node: node.last_contact).id)
                return True
        if newcomer.rtt:
            slow = [node for node in self.nodes.values() if node.rtt / newcomer.rtt >= 2.0]
            if slow:
                self._evict(max(slow, key=lambda node: node.rtt).id)
                return True
        return False

    def _evict(self, node_id: bytes) -> None:
        node = self.nodes.pop(node_id)
        node.bucket = None

    def add(self, node: Node) -> bool:
        """Put ``node`` in the bucket, or update the address of the node with its id.

        :return: whether the node is in the bucket now. False when it is outside the bucket's range, or
            when the bucket is full and nobody could be evicted; in that last case the node is kept in the
            replacement cache.
        """
        node_id = node.id
        if not self.owns(node_id):
            return False
        current = self.nodes.get(node_id)
        if current is not None:
            current.address = node.address
            self.touch()
            return True
        if len(self.nodes) >= self.max_size and not self._make_room(node):
            self.offer_replacement(node)
            return False
        self.replacements.pop(node_id, None)
        self.nodes[node_id] = node
        node.bucket = self
        self.touch()
        return True

    def offer_replacement(self, node: Node) -> None:
        """Keep ``node`` as a candidate for the next free place (most recent ``max_size`` candidates)."""
        self.replacements.pop(node.id, None)
        self.replacements[node.id] = node
        while len(self.replacements) > self.max_size:
            self.replacements.popitem(last=False)

    def remove(self, node_id: bytes) -> Node | None:
        """Take the node with ``node_id`` out, and fill its place from the replacement cache.

        :return: the removed node, or None if it was not in the bucket.
        """
        if node_id not in self.nodes:
            self.replacements.pop(node_id, None)
            return None
        node = self.nodes[node_id]
        self._evict(node_id)
        self._refill()
        self.touch()
        return node

    def _refill(self) -> None:
        # The most recently offered candidates are the most likely to still be alive.
        while len(self.nodes) < self.max_size and self.replacements:
            node_id, candidate = self.replacements.popitem(last=True)
            if candidate.status != NODE_STATUS_BAD and node_id not in self.nodes:
                self.nodes[node_id] = candidate
                candidate.bucket = self

    def split(self) -> tuple[Bucket, Bucket] | None:
        """Two buckets, one bit longer, sharing this one's nodes and replacements; None if it is not full."""
        if len(self.nodes) < self.max_size or len(self.prefix_id) >= NODE_ID_BITS:
            return None
        halves = (Bucket(self.prefix_id + "0", self.max_size, clock=self.clock),
                  Bucket(self.prefix_id + "1", self.max_size, clock=self.clock))
        for node_id, node in self.nodes.items():
            half = halves[id_to_binary_string(node_id)[len(self.prefix_id)] == "1"]
            half.nodes[node_id] = node
            node.bucket = half
        for node_id, node in self.replacements.items():
            halves[id_to_binary_string(node_id)[len(self.prefix_id)] == "1"].offer_replacement(node)
        for half in halves:
            half.last_changed = self.last_changed
        return halves


class AddOutcome(enum.Enum):
    """What :meth:`RoutingTable.try_add` did with a node. The value is the name used in counters."""

    #: The node is new in the table.
    ADDED = "added"
    #: A node with the same id was there already; its address was refreshed.
    UPDATED = "updated"
    #: Its bucket is full and cannot split: the node waits in the replacement cache.
    NO_ROOM = "no-room"
    #: Refused: the address is not usable at all (port 0, unspecified, multicast, not an IP; see
    #: :func:`~ipv8.messaging.address_hygiene.is_usable`).
    UNUSABLE_ADDRESS = "unusable-address"
    #: Refused: the address is of the other family than this table's.
    WRONG_FAMILY = "wrong-family"
    #: Refused: that is us (our key, or one of our own addresses).
    OWN_NODE = "own-node"

    @property
    def accepted(self) -> bool:
        """Whether the node is in the table now."""
        return self in (AddOutcome.ADDED, AddOutcome.UPDATED)


class AddResult(NamedTuple):
    """The outcome of :meth:`RoutingTable.try_add` and the node in the table (None unless accepted)."""

    outcome: AddOutcome
    node: Node | None


#: The outcomes counted in :attr:`RoutingTable.refusals`.
REFUSALS = (AddOutcome.UNUSABLE_ADDRESS, AddOutcome.WRONG_FAMILY, AddOutcome.OWN_NODE, AddOutcome.NO_ROOM)


class RoutingTable:
    """The buckets of one address family, in a prefix tree keyed by bucket prefix.

    :param my_node_id: our own node id in this family (it decides which buckets may split).
    :param family: :class:`~ipv8.messaging.addresses.UDPv4Address` or
        :class:`~ipv8.messaging.addresses.UDPv6Address`: nodes of the other family are refused.
        None accepts both (for tests and tools).
    :param own_addresses: returns the addresses we are known by; nodes there are refused.
    :param bucket_size: K (see :data:`MAX_BUCKET_SIZE`).
    :param clock: where the buckets read the time.

    Nodes that cannot be used are refused and counted per reason in :attr:`refusals` (keys are
    :class:`AddOutcome` values): unusable addresses (port 0, ``0.0.0.0``, ``::``, ...), the wrong family,
    ourselves, and nodes that found no room.
    """

    def __init__(self, my_node_id: bytes, family: type | None = UDPv4Address, *,  # noqa: PLR0913
                 own_addresses: Callable[[], Iterable[tuple]] | None = None,
                 bucket_size: int = MAX_BUCKET_SIZE, clock: IReactorTime | None = None) -> None:
        """Create a table holding one empty bucket; see the class documentation."""
        if len(my_node_id) != NODE_ID_SIZE:
            raise ValueError(f"a node id has {NODE_ID_SIZE} bytes, got {len(my_node_id)}")
        self.my_node_id = my_node_id
        self.family = family
        self.bucket_size = bucket_size
        self.clock: IReactorTime = clock if clock is not None else default_clock()
        self._own_addresses = own_addresses
        self.trie: Trie[Bucket] = Trie("01")
        self.trie[""] = Bucket("", bucket_size, clock=self.clock)
        self.refusals: Counter[str] = Counter()

    def __len__(self) -> int:
        """The number of nodes in all buckets."""
        return sum(len(bucket) for bucket in self.trie.itervalues())

    def buckets(self) -> list[Bucket]:
        """Every bucket."""
        return self.trie.values()

    def nodes(self) -> list[Node]:
        """Every node in the table."""
        return [node for bucket in self.trie.itervalues() for node in bucket.nodes.values()]

    def get_bucket(self, node_id: bytes) -> Bucket:
        """The bucket whose range holds ``node_id``."""
        return self.trie.longest_prefix_value(id_to_binary_string(node_id))

    def has(self, node_id: bytes) -> bool:
        """Whether a node with ``node_id`` is in the table."""
        return self.get(node_id) is not None

    def get(self, node_id: bytes) -> Node | None:
        """The node with ``node_id``, if it is in the table."""
        return self.get_bucket(node_id).get(node_id)

    def check(self, node: Node) -> AddOutcome | None:
        """Why ``node`` would be refused (one of the refusal outcomes), or None if it may be added."""
        address = node.address
        if not is_usable(address):
            return AddOutcome.UNUSABLE_ADDRESS
        if self.family is not None and not isinstance(address, self.family):
            return AddOutcome.WRONG_FAMILY
        if node.mid[:17] == self.my_node_id[3:]:
            return AddOutcome.OWN_NODE
        if self._own_addresses is not None and any(
                own[1] == address[1] and own[0] == address[0] for own in self._own_addresses()):
            return AddOutcome.OWN_NODE
        return None

    def try_add(self, node: Node) -> AddResult:
        """Add ``node`` (or refresh the address of the node with its id); see :class:`AddOutcome`.

        A full bucket that holds our own id is split (repeatedly, if all its nodes fall on one side) until
        the node fits; a full bucket elsewhere keeps the node in its replacement cache.
        """
        refusal = self.check(node)
        if refusal is not None:
            self.refusals[refusal.value] += 1
            return AddResult(refusal, None)
        node_id = node.id
        while True:
            bucket = self.get_bucket(node_id)
            existed = node_id in bucket.nodes
            if bucket.add(node):
                return AddResult(AddOutcome.UPDATED if existed else AddOutcome.ADDED, bucket.nodes[node_id])
            halves = bucket.split() if bucket.owns(self.my_node_id) else None
            if halves is None:
                self.refusals[AddOutcome.NO_ROOM.value] += 1
                return AddResult(AddOutcome.NO_ROOM, None)
            # The node was offered as a replacement before the split; the halves inherited it.
            halves[id_to_binary_string(node_id)[len(bucket.prefix_id)] == "1"].replacements.pop(node_id, None)
            del self.trie[bucket.prefix_id]
            self.trie[halves[0].prefix_id] = halves[0]
            self.trie[halves[1].prefix_id] = halves[1]

    def add(self, node: Node) -> Node | None:
        """Add ``node`` as :meth:`try_add` does; return the node now in the table, None if it is not.

        The node returned may be an older object with the same id (its address refreshed): keep using
        that one, it carries the bookkeeping.
        """
        return self.try_add(node).node

    def remove(self, node_id: bytes) -> Node | None:
        """Remove the node with ``node_id`` (its place is refilled from the replacement cache)."""
        return self.get_bucket(node_id).remove(node_id)

    def remove_bad_nodes(self) -> list[Node]:
        """Remove every node whose status is bad; return them."""
        removed = []
        for bucket in self.trie.values():
            for node_id in [node_id for node_id, node in bucket.nodes.items() if node.status == NODE_STATUS_BAD]:
                gone = bucket.remove(node_id)
                if gone is not None:
                    removed.append(gone)
        return removed

    def closest_nodes(self, node_id: bytes, max_nodes: int = 8, exclude_node: Node | None = None) -> list[Node]:
        """Up to ``max_nodes`` nodes closest to ``node_id`` by XOR distance, closest first.

        Bad nodes and ``exclude_node`` (compared by id) are left out. Buckets are visited in order of
        distance, so only the nearest few are looked at.
        """
        if max_nodes <= 0:
            return []
        excluded = exclude_node.id if exclude_node is not None else None
        found: list[Node] = []
        for bucket in self.trie.values_by_proximity(id_to_binary_string(node_id)):
            # Every node of a later bucket is farther away than every node of this one: once enough
            # are collected from whole buckets, the answer is among them.
            found.extend(node for nid, node in bucket.nodes.items()
                         if nid != excluded and node.status != NODE_STATUS_BAD)
            if len(found) >= max_nodes:
                break
        found.sort(key=lambda node: distance(node.id, node_id))
        return found[:max_nodes]


__all__ = ["IPV4_MASK", "IPV6_MASK", "MAX_BUCKET_SIZE", "NODE_GOOD_WINDOW", "NODE_ID_BITS", "NODE_ID_SIZE",
           "NODE_LIMIT_INTERVAL", "NODE_LIMIT_QUERIES", "NODE_MAX_FAILURES", "NODE_STATUS_BAD", "NODE_STATUS_GOOD",
           "NODE_STATUS_UNKNOWN", "REFUSALS", "AddOutcome", "AddResult", "Bucket", "Node", "RoutingTable",
           "calc_node_id", "distance", "id_to_binary_string"]
