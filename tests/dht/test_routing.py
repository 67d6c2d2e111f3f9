"""Routing: node ids, node bookkeeping, buckets (replacement, splitting) and the routing table."""
from __future__ import annotations

import hashlib
import random
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock

from ipv8.dht import DHTError
from ipv8.dht.routing import (MAX_BUCKET_SIZE, NODE_LIMIT_INTERVAL, NODE_LIMIT_QUERIES, NODE_STATUS_BAD,
                              NODE_STATUS_GOOD, NODE_STATUS_UNKNOWN, AddOutcome, Bucket, Node, RoutingTable,
                              calc_node_id, distance, id_to_binary_string)
from ipv8.dht.trie import Trie
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address

PUBLIC_KEYS = [default_eccrypto.key_from_private_bin(
    b"LibNaCLSK:" + hashlib.sha512(f"txipv8 routing test {index}".encode()).digest()).pub() for index in range(256)]
MY_ADDRESS = UDPv4Address("203.0.113.5", 7001)
MY_KEY = PUBLIC_KEYS[0]
MY_ID = calc_node_id(MY_ADDRESS, MY_KEY.key_to_hash())
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_node(index: int, address: tuple = ("198.51.100.1", 1000), clock: Clock | None = None) -> Node:
    return Node(PUBLIC_KEYS[index], address, clock=clock or Clock())


# -- ids -------------------------------------------------------------------------------------------------------
def test_node_id_is_crc_of_masked_ipv4_then_mid() -> None:
    mid = bytes(range(20))
    expected_crc = zlib.crc32(bytes([1 & 0x03, 2 & 0x0F, 3 & 0x3F, 4])).to_bytes(4, "big")[:3]
    assert calc_node_id(UDPv4Address("1.2.3.4", 5), mid) == expected_crc + mid[:17]
    # Bits outside the mask do not matter; the port never does.
    assert calc_node_id(UDPv4Address("253.242.195.4", 9), mid) == calc_node_id(UDPv4Address("1.2.3.4", 5), mid)
    assert calc_node_id(UDPv4Address("1.2.3.5", 5), mid) != calc_node_id(UDPv4Address("1.2.3.4", 5), mid)


def test_node_id_uses_first_eight_masked_bytes_of_ipv6() -> None:
    mid = b"\xaa" * 20
    base = calc_node_id(UDPv6Address("2001:db8:1:2::1", 1), mid)
    assert base == calc_node_id(UDPv6Address("2001:db8:1:2:ffff:ffff:ffff:ffff", 2), mid)  # last 8 bytes ignored
    assert base == calc_node_id(("2001:db8:1:2::9", 3), mid)  # plain tuple with a colon: IPv6
    assert base != calc_node_id(UDPv6Address("2001:db8:1:3::1", 1), mid)
    masked = bytes(b & m for b, m in zip(bytes.fromhex("20010db800010002"), bytes.fromhex("0103070f1f3f7fff")))
    assert base[:3] == zlib.crc32(masked).to_bytes(4, "big")[:3]


def test_binary_string_and_distance() -> None:
    assert id_to_binary_string(b"\x80" + bytes(19)) == "1" + "0" * 159
    assert len(id_to_binary_string(bytes(20))) == 160
    assert distance(b"\x01" * 20, b"\x01" * 20) == 0
    assert distance(bytes(20), b"\x00" * 19 + b"\x05") == 5


def test_node_id_follows_its_address() -> None:
    node = make_node(1, UDPv4Address("1.2.3.4", 5))
    first = node.id
    node.address = UDPv4Address("9.9.9.9", 5)
    assert node.id != first
    assert node.id == calc_node_id(UDPv4Address("9.9.9.9", 5), node.mid)


# -- node bookkeeping ------------------------------------------------------------------------------------------
def test_node_status_follows_answers_and_failures_on_the_clock() -> None:
    clock = Clock()
    clock.advance(10_000)
    node = make_node(1, clock=clock)
    assert node.last_response == 0 and node.status == NODE_STATUS_UNKNOWN
    node.record_response(rtt=0.25)
    assert node.status == NODE_STATUS_GOOD and node.rtt == 0.25 and node.last_contact == 10_000
    clock.advance(15 * 60 + 1)
    assert node.status == NODE_STATUS_UNKNOWN
    node.record_query()  # answered once, asked recently: good again
    assert node.status == NODE_STATUS_GOOD and node.last_query == clock.seconds()
    node.record_failure()
    assert node.status == NODE_STATUS_GOOD
    node.record_failure()
    assert node.status == NODE_STATUS_BAD
    node.record_response()
    assert node.failed == 0 and node.status == NODE_STATUS_GOOD


def test_node_is_blocked_after_too_many_queries_in_the_interval() -> None:
    clock = Clock()
    node = make_node(1, clock=clock)
    for _ in range(NODE_LIMIT_QUERIES - 1):
        node.record_query()
        clock.advance(0.1)
    assert not node.blocked
    node.record_query()
    assert node.blocked
    clock.advance(NODE_LIMIT_INTERVAL)
    assert not node.blocked


# -- buckets ---------------------------------------------------------------------------------------------------
def nodes_in_prefix(prefix: str, count: int, start: int = 1, clock: Clock | None = None) -> list[Node]:
    """``count`` nodes whose ids start with ``prefix``, found by trying addresses."""
    found, index, port = [], start, 1
    while len(found) < count:
        candidate = make_node(index, UDPv4Address(f"198.51.{port // 250}.{port % 250 + 1}", 4000), clock)
        port += 1
        if id_to_binary_string(candidate.id).startswith(prefix):
            found.append(candidate)
            index += 1
    return found


def test_bucket_takes_its_range_updates_and_keeps_replacements() -> None:
    clock = Clock()
    bucket = Bucket("1", max_size=3, clock=clock)
    outside = nodes_in_prefix("0", 1, clock=clock)[0]
    assert not bucket.add(outside) and not bucket.replacements
    inside = nodes_in_prefix("1", 5, start=10, clock=clock)
    clock.advance(5)
    assert all(bucket.add(node) for node in inside[:3])
    assert bucket.last_changed == 5 and len(bucket) == 3 and inside[0].bucket is bucket
    # Full: the others wait as replacements.
    assert not bucket.add(inside[3]) and not bucket.add(inside[4])
    assert list(bucket.replacements) == [inside[3].id, inside[4].id]
    # The same id again only refreshes the address of the node already there.
    again = Node(inside[0].public_key, inside[0].address, clock=clock)
    clock.advance(1)
    assert bucket.add(again) and bucket.get(again.id) is inside[0] and bucket.last_changed == 6
    # A removed node's place goes to the most recent replacement.
    assert bucket.remove(inside[1].id) is inside[1] and inside[1].bucket is None
    assert set(bucket.nodes) == {inside[0].id, inside[2].id, inside[4].id}
    assert list(bucket.replacements) == [inside[3].id]


def test_full_bucket_evicts_a_bad_node_or_a_much_slower_one() -> None:
    clock = Clock()
    bucket = Bucket("", max_size=2, clock=clock)
    first, second, third, fourth = nodes_in_prefix("", 4, clock=clock)
    bucket.add(first)
    bucket.add(second)
    first.failed = 2
    assert bucket.add(third) and first.id not in bucket.nodes
    second.rtt, third.rtt, fourth.rtt = 0.3, 1.0, 0.1
    assert bucket.add(fourth)
    assert set(bucket.nodes) == {second.id, fourth.id}  # the slowest with rtt >= 2x went


def test_replacement_cache_is_bounded_and_skips_bad_candidates() -> None:
    bucket = Bucket("", max_size=2, clock=Clock())
    nodes = nodes_in_prefix("", 7)
    for node in nodes:
        bucket.add(node)
    assert len(bucket.replacements) == 2 and list(bucket.replacements) == [nodes[5].id, nodes[6].id]
    nodes[6].failed = 5
    bucket.remove(nodes[0].id)
    assert set(bucket.nodes) == {nodes[1].id, nodes[5].id}


@given(prefix=st.text(alphabet="01", max_size=40), seed=st.integers(0, 2**32))
def test_generated_ids_fall_in_the_bucket(prefix: str, seed: int) -> None:
    bucket = Bucket(prefix, clock=Clock())
    generated = bucket.generate_id(random.Random(seed))
    assert len(generated) == 20 and bucket.owns(generated)


def test_split_needs_a_full_bucket_and_divides_by_the_next_bit() -> None:
    bucket = Bucket("", max_size=4, clock=Clock())
    nodes = nodes_in_prefix("", 4)
    for node in nodes[:3]:
        bucket.add(node)
    assert bucket.split() is None
    bucket.add(nodes[3])
    zero, one = bucket.split()
    assert (zero.prefix_id, one.prefix_id) == ("0", "1")
    assert set(zero.nodes) | set(one.nodes) == {node.id for node in nodes}
    assert all(zero.owns(node_id) for node_id in zero.nodes) and all(one.owns(node_id) for node_id in one.nodes)
    assert all(node.bucket in (zero, one) for node in nodes)


# -- routing table ---------------------------------------------------------------------------------------------
def test_garbage_nodes_are_refused_and_counted() -> None:
    own = [MY_ADDRESS, UDPv4Address("192.168.1.10", 8090)]
    table = RoutingTable(MY_ID, own_addresses=lambda: own, clock=Clock())
    cases = [
        (make_node(1, UDPv4Address("198.51.100.1", 0)), AddOutcome.UNUSABLE_ADDRESS),
        (make_node(2, UDPv4Address("0.0.0.0", 4000)), AddOutcome.UNUSABLE_ADDRESS),
        (make_node(3, UDPv4Address("224.0.0.1", 4000)), AddOutcome.UNUSABLE_ADDRESS),
        (Node(PUBLIC_KEYS[4], clock=Clock()), AddOutcome.UNUSABLE_ADDRESS),  # no address at all
        (make_node(5, UDPv6Address("::", 4000)), AddOutcome.UNUSABLE_ADDRESS),
        (make_node(6, UDPv6Address("2001:db8::1", 4000)), AddOutcome.WRONG_FAMILY),
        (make_node(7, UDPv4Address("192.168.1.10", 8090)), AddOutcome.OWN_NODE),
        (Node(MY_KEY, UDPv4Address("198.51.100.77", 1234), clock=Clock()), AddOutcome.OWN_NODE),
        (Node(MY_KEY, MY_ADDRESS, clock=Clock()), AddOutcome.OWN_NODE),
    ]
    for node, outcome in cases:
        assert table.try_add(node) == (outcome, None)
        assert table.add(node) is None
    assert len(table) == 0
    assert table.refusals == {"unusable-address": 10, "wrong-family": 2, "own-node": 6}
    good = make_node(8, UDPv4Address("127.0.0.1", 4000))  # loopback is fine: local test networks
    assert table.try_add(good) == (AddOutcome.ADDED, good)
    assert table.try_add(Node(good.public_key, good.address, clock=Clock())) == (AddOutcome.UPDATED, good)
    assert table.get(good.id) is good and table.has(good.id) and len(table) == 1


def test_ipv6_table_takes_ipv6_nodes_only() -> None:
    table = RoutingTable(calc_node_id(UDPv6Address("2001:db8::5", 1), MY_KEY.key_to_hash()), family=UDPv6Address,
                         clock=Clock())
    assert table.try_add(make_node(1, UDPv6Address("2001:db8::9", 2))).outcome is AddOutcome.ADDED
    assert table.try_add(make_node(2, UDPv4Address("198.51.100.1", 2))).outcome is AddOutcome.WRONG_FAMILY


def test_only_the_bucket_holding_our_id_splits() -> None:
    table = RoutingTable(MY_ID, bucket_size=2, clock=Clock())
    my_bit = id_to_binary_string(MY_ID)[0]
    other_bit = "1" if my_bit == "0" else "0"
    far = nodes_in_prefix(other_bit, 4)
    near = nodes_in_prefix(my_bit, 2, start=20)
    assert table.try_add(far[0]).outcome is AddOutcome.ADDED
    assert table.try_add(far[1]).outcome is AddOutcome.ADDED
    # The root bucket is full and holds our id: it splits, and the third far node still fits nowhere.
    assert table.try_add(near[0]).outcome is AddOutcome.ADDED
    assert sorted(bucket.prefix_id for bucket in table.buckets()) == ["0", "1"]
    assert table.try_add(far[2]).outcome is AddOutcome.NO_ROOM
    assert table.refusals == {"no-room": 1}
    assert far[2].id in table.get_bucket(far[2].id).replacements
    assert table.try_add(near[1]).outcome is AddOutcome.ADDED
    # Removing a far node lets the waiting one in.
    assert table.remove(far[0].id) is far[0]
    assert table.get(far[2].id) is far[2]


def test_remove_bad_nodes_refills_from_replacements() -> None:
    table = RoutingTable(MY_ID, bucket_size=2, clock=Clock())
    my_bit = id_to_binary_string(MY_ID)[0]
    far = nodes_in_prefix("1" if my_bit == "0" else "0", 3)
    table.add(nodes_in_prefix(my_bit, 1, start=30)[0])
    for node in far:
        table.add(node)
    assert not table.has(far[2].id)
    far[0].failed = 2
    assert table.remove_bad_nodes() == [far[0]]
    assert table.has(far[2].id) and not table.has(far[0].id)


def test_default_bucket_size_is_k20() -> None:
    assert MAX_BUCKET_SIZE == 20
    assert RoutingTable(MY_ID, clock=Clock()).buckets()[0].max_size == 20


def brute_force_closest(table: RoutingTable, target: bytes, count: int, exclude: Node | None) -> list[bytes]:
    candidates = [node for node in table.nodes() if node.status != NODE_STATUS_BAD
                  and (exclude is None or node.id != exclude.id)]
    return [node.id for node in sorted(candidates, key=lambda node: distance(node.id, target))[:count]]


@PROPERTY
@given(offers=st.lists(st.tuples(st.integers(1, 255), st.integers(0x01000000, 0xDFFFFFFF), st.booleans()),
                       max_size=120),
       near=st.integers(0, 40), target=st.binary(min_size=20, max_size=20), count=st.integers(0, 30),
       bucket_size=st.integers(1, 6), exclude_first=st.booleans())
def test_closest_nodes_equals_brute_force_and_buckets_stay_consistent(  # noqa: PLR0913
        offers: list, near: int, target: bytes, count: int, bucket_size: int, exclude_first: bool) -> None:
    clock = Clock()
    table = RoutingTable(MY_ID, bucket_size=bucket_size, clock=clock)
    added = []
    for position, (key_index, ip, bad) in enumerate(offers):
        host = ".".join(str(ip >> shift & 0xFF) for shift in (24, 16, 8, 0))
        # Some nodes on our own host: their ids share our first 24 bits, which makes deep splits.
        where = UDPv4Address(MY_ADDRESS[0], 2000 + position) if position < near else UDPv4Address(host, 4000)
        node = Node(PUBLIC_KEYS[key_index], where, clock=clock)
        result = table.try_add(node)
        if result.outcome is AddOutcome.ADDED:
            added.append(result.node)
            if bad:
                result.node.failed = 2
    buckets = table.buckets()
    prefixes = [bucket.prefix_id for bucket in buckets]
    # The buckets partition the id space: no prefix extends another, and the widths add up to everything.
    assert sum(2.0 ** -len(prefix) for prefix in prefixes) == 1.0
    assert not any(a != b and b.startswith(a) for a in prefixes for b in prefixes)
    for bucket in buckets:
        assert len(bucket) <= bucket_size
        assert all(bucket.owns(node_id) and node.bucket is bucket for node_id, node in bucket.nodes.items())
    # Evicted nodes (bad ones make room) leave with their bucket link cut.
    assert {node.id for node in table.nodes()} == {node.id for node in added if node.bucket is not None}
    assert sum(1 for bucket in buckets if bucket.owns(MY_ID)) == 1
    exclude = added[0] if exclude_first and added else None
    closest = table.closest_nodes(target, max_nodes=count, exclude_node=exclude)
    assert [node.id for node in closest] == brute_force_closest(table, target, count, exclude)


# -- trie ------------------------------------------------------------------------------------------------------
def test_trie_basics() -> None:
    trie: Trie[str] = Trie("01")
    trie[""] = "root"
    trie["01"] = "a"
    trie["0110"] = "b"
    assert len(trie) == 3 and "01" in trie and "0" not in trie and 5 not in trie
    assert trie["0110"] == "b" and trie.get("0") is None and trie.get("0", "x") == "x"
    assert trie.longest_prefix_item("01101") == ("0110", "b")
    assert trie.longest_prefix("0111") == "01" and trie.longest_prefix_value("1") == "root"
    assert trie.suffixes("01") == ["", "10"]
    assert sorted(trie.values()) == ["a", "b", "root"]
    assert dict(trie.items()) == {"": "root", "01": "a", "0110": "b"}
    with pytest.raises(DHTError):
        trie["012"] = "c"
    with pytest.raises(ValueError):
        trie["1"] = None  # type: ignore[assignment]
    del trie["0110"]
    assert "0110" not in trie and len(trie) == 2 and trie.root.children["0"].children["1"].children == {}
    with pytest.raises(KeyError):
        del trie["0110"]
    del trie[""]
    with pytest.raises(KeyError):
        trie.longest_prefix_item("1")
    assert trie.longest_prefix("1", None) is None and trie.longest_prefix_value("1", "d") == "d"
    with pytest.raises(KeyError):
        trie["1"]


@given(keys=st.sets(st.text(alphabet="01", min_size=1, max_size=12), max_size=40),
       target=st.text(alphabet="01", min_size=12, max_size=12))
def test_values_by_proximity_visits_longer_common_prefixes_first(keys: set, target: str) -> None:
    trie: Trie[str] = Trie("01")
    for key in keys:
        trie[key] = key
    visited = list(trie.values_by_proximity(target))
    assert sorted(visited) == sorted(keys)

    def shared(key: str) -> int:
        return next((i for i, (a, b) in enumerate(zip(key, target)) if a != b), min(len(key), len(target)))

    # Among keys that diverge from the target (full matches are ancestors, visited on the way down),
    # the one that follows the target longer always comes first.
    diverging = [key for key in visited if shared(key) < len(key)]
    assert [shared(key) for key in diverging] == sorted((shared(key) for key in diverging), reverse=True)
