"""Validly signed floods from many fresh keys, and replays of an honest node's requests.

A flood may cost us CPU per packet, but it must not grow any structure without bound (routing tables, storage,
tokens, outstanding requests, rate limiter state, the Network's peers), must not push established good nodes out of
the routing table, and must leave the node working. Bounds are shown with some caps lowered on the node under
attack, so that a flood of a few thousand packets is many times the cap.
"""
from __future__ import annotations

from ipv8.dht.community import DHTCommunity
from ipv8.dht.payload import PingRequestPayload, encode_value
from ipv8.dht.routing import Node
from ipv8.messaging.addresses import UDPv4Address

from .attacker import Harness, attacker_address, harness, keys, plain
from .attacker import Node as HarnessNode
from .dht_attacker import (KEY, PING_RESPONSE, assert_dht_still_works, bucket_count, bucket_size, dht_network,
                           good_nodes, ping_packet, settled, store_packet, table_node, table_size, token_of)


def assert_table_in_shape(target: HarnessNode, helpers: list[HarnessNode], good_before: set[bytes]) -> None:
    """The routing tables hold at most K nodes and K replacements per bucket, in few buckets, and every
    established good node is still there and good."""
    assert len(good_before) >= len(helpers), "precondition: the established nodes are good"
    buckets = bucket_count(target)
    assert buckets <= 2 + 24, f"{buckets} buckets"
    assert table_size(target) <= 2 * bucket_size(target) * buckets
    for helper in helpers:
        assert table_node(target, helper) is not None, "an established node was evicted"
    assert good_nodes(target) == good_before


def store_flood(h: Harness, target: HarnessNode, count: int, seconds: float, first: int) -> None:
    """``count`` store-requests, each from a fresh key at its own address with its own valid token, spread over
    ``seconds``; every third one under :data:`KEY`, the others under keys of their own."""
    for number, (key, key_bin) in enumerate(keys(count)):
        address = attacker_address(first + number)
        target_key = KEY if number % 3 == 0 else (first + number).to_bytes(20, "big")
        target.receive(address, store_packet(target, key, key_bin, token_of(target, key_bin, address),
                                             [encode_value(b"flood %d" % number)], identifier=number,
                                             target_key=target_key))
        h.clock.advance(seconds / count)
    h.pump()


def test_a_store_flood_from_many_fresh_keys_keeps_everything_bounded() -> None:
    """3,000 store-requests with valid tokens from 3,000 fresh keys and addresses within six seconds, with the
    store capped at 200 values and the store limiter at 256 sources. At most a burst of ``100 * store_rate_limit``
    plus six seconds at ``50 * store_rate_limit`` are accepted, the rest counted under ``dht-rate-limited``; the
    store holds at most 200 values (the oldest were evicted, without a pass over the whole store for each one) and at
    most 64 under one key; the limiter keeps at most
    256 sources; the routing table keeps its shape and its good nodes; tokens, outstanding requests and the
    Network's peers do not grow."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        target.log.keep = False
        overlay = target.overlay
        overlay.storage.MAX_VALUES = 200
        overlay._store_limiter.max_sources = 256
        good_before, verified_before = good_nodes(target), len(target.network.verified_peers)
        cleans = []
        clean = overlay.storage.clean
        overlay.storage.clean = lambda: cleans.append(h.clock.seconds()) or clean()
        count, seconds = 3_000, 6.0
        store_flood(h, target, count, seconds, 920_000)
        # A pass over every stored value is not something each store-request may cost (once a minute at most).
        assert len(cleans) == 1, f"{len(cleans)} passes over the full store"
        rate = DHTCommunity.store_rate_limit
        accepted = count - overlay.drop_counts["dht-rate-limited"]
        assert 0 < accepted <= 100 * rate + seconds * 50 * rate
        assert target.decode_failures() == {}
        assert {reason for reason in overlay.drop_counts if reason.startswith("dht-")} == {"dht-rate-limited"}
        assert len(overlay.storage) <= 200 and overlay.storage.evictions["total"] > 0
        assert len(overlay.storage.get(KEY)) <= overlay.storage.MAX_VALUES_PER_KEY
        assert len(overlay._store_limiter._buckets) <= 256
        assert len(overlay._find_limiter._buckets) <= overlay._find_limiter.max_sources
        assert_table_in_shape(target, helpers, good_before)
        assert len(overlay.tokens) == 0 and len(overlay._pending) == 0
        assert len(target.network.verified_peers) == verified_before
        statistics = overlay.statistics()
        assert statistics["drops"] == {"dht-rate-limited": count - accepted}
        assert statistics["values"] == len(overlay.storage) and statistics["evictions"]["total"] > 0
        assert statistics["tokens"] == statistics["pending_requests"] == 0
        assert sum(statistics["routing_tables"].values()) + statistics["replacement_nodes"] == table_size(target)
        target.log.keep = True
        h.advance(5)  # the flood is over: the budgets refill
        assert_dht_still_works(h, target, helpers)


def test_a_ping_flood_from_fresh_keys_on_one_address_is_rate_limited() -> None:
    """2,000 pings from 2,000 fresh keys at one address within one second (fresh keys get around the per-node
    blocking) are answered at most ``3 * find_rate_limit`` times: pings share the find-requests' per-IP budget;
    the rest are counted under ``dht-rate-limited``."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        target.log.keep = False
        good_before = good_nodes(target)
        address = attacker_address(930_000)
        count, before = 2_000, target.log.count([PING_RESPONSE])
        for number, (key, key_bin) in enumerate(keys(count)):
            target.receive(address, ping_packet(target, key, key_bin, number))
            h.clock.advance(1 / count)
        h.pump()
        answered = target.log.count([PING_RESPONSE]) - before
        assert 1 <= answered <= 3 * DHTCommunity.find_rate_limit
        assert target.overlay.drop_counts["dht-rate-limited"] == count - answered
        assert target.decode_failures() == {}
        assert_table_in_shape(target, helpers, good_before)
        assert len(target.overlay._pending) == 0
        target.log.keep = True
        assert_dht_still_works(h, target, helpers)


def same_id_elsewhere(address: tuple) -> UDPv4Address:
    """Another IPv4 address whose node id is the same (the id only hashes the masked address, 03.0f.3f.ff)."""
    octets = [int(part) for part in address[0].split(".")]
    moved = [octets[0] ^ 0x08, octets[1] ^ 0x20, octets[2] ^ 0x40, octets[3]]
    return UDPv4Address(".".join(map(str, moved)), address[1] + 1)


def test_a_replayed_request_cannot_move_an_established_node() -> None:
    """DHT messages carry no time, so whoever saw an honest node's signed ping can send it again. Replayed from an
    address that gives the same node id (the honest node's IP with its masked-out bits changed) and from the honest
    IP at another port, the ping is answered there, but the routing table entry stays at the honest address
    (counted under ``dht-moved-node``): lookups keep going to the honest node, which still answers."""
    with harness() as h:
        target, honest, *helpers = dht_network(h, 4)
        assert target.knows(honest.key_bin) is None, "precondition: known through the DHT only"
        honest.overlay.ping(table_node(honest, target))
        (captured,) = honest.log.sent_to(target.address, [PingRequestPayload.msg_id])[-1:]
        h.pump()
        replayers = [same_id_elsewhere(honest.address), UDPv4Address(honest.address[0], honest.address[1] + 7)]
        for replayer in replayers:
            assert Node(honest.key_bin, replayer).id == Node(honest.key_bin, honest.address).id
            target.receive(replayer, captured)
        h.pump()
        assert target.overlay.drop_counts["dht-moved-node"] == len(replayers)
        entry = table_node(target, honest)
        assert entry is not None and plain(entry.address) == plain(honest.address)
        assert [len(target.log.sent_to(replayer, [PING_RESPONSE])) for replayer in replayers] == [1, 1]

        assert settled(h, target.overlay.ping(entry)) is entry
        found = settled(h, target.overlay.find_nodes(b"\x33" * 20))
        assert honest.key_bin in {node.public_key.key_to_bin() for node in found}
        assert target.decode_failures() == {}
        assert_dht_still_works(h, target, helpers)
