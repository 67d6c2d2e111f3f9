"""Finding 2: introductions and puncture requests must not grow the walkable set, or the cost of a walk step,
without bound."""
from __future__ import annotations

import random
import struct

from ipv8.peer import Peer
from ipv8.peerdiscovery.discovery import RandomWalk
from ipv8.peerdiscovery.network import Network

from .attacker import (MB, Node, NoteCommunity, assert_still_works, attacker_address, connect, cpu_seconds,
                       establish, harness, keys, live_block_growth, plain, random_attacker_address, traced_growth)

MAX_PER_SERVICE = getattr(Network, "max_known_addresses_per_service", 500)
MAX_PER_INTRODUCER = getattr(Network, "max_introductions_per_introducer", 20)
ADDRESS_TTL = getattr(Network, "unverified_address_ttl", 300)

INTRODUCERS = 40
ROUNDS = 15  # solicited responses per introducer, each introducing two addresses
INJECTION = 300_000
CHECK_EVERY = 25_000
PACKETS_PER_SECOND = 10_000  # of clock time, so rate limits refill while the flood goes on
# Memory: tracemalloc (byte-exact, but it makes the node four times slower) over the first TRACED requests, in
# which every cap fills (only 41 sources, so per-source state is small); then live memory blocks over the other
# 270,000, which must stay flat: fewer than one block per 18 requests, about one per accepted puncture request (a
# bounded cache that is cleared when full, like the serializer's IPv4 memo, moves the count by up to ~8,000). Set
# TRACED to INJECTION to trace all 300,000 (about three times slower).
TRACED = 30_000
STEADY_BLOCKS = 15_000

_PUNCTURE_REQUEST = struct.Struct(">BQ4sH4sHH")


def check_walkable(target: Node, introducers: list[bytes], when: str) -> None:
    """At most MAX_PER_SERVICE walkable addresses, and at most MAX_PER_INTRODUCER from any one introducer."""
    walkable = target.overlay.get_walkable_addresses()
    assert len(walkable) <= MAX_PER_SERVICE, f"{when}: {len(walkable)} walkable addresses"
    walkable_set = set(walkable)
    for key_bin in introducers:
        peer = target.knows(key_bin)
        if peer is None:
            continue
        mine = [address for address in target.network.get_introductions_from(peer) if address in walkable_set]
        assert len(mine) <= MAX_PER_INTRODUCER, f"{when}: one introducer has {len(mine)} walkable introductions"


def walker_packet(prefix: bytes, index: int) -> bytes:
    """Puncture request number ``index``: a fresh walker address in the attacker range, fresh global time."""
    third, fourth = 128 + (index // 250) % 128, index % 250 + 1
    ip = bytes((198, 18, third, fourth))
    port = 30000 + (index // 32000) % 30000
    return prefix + _PUNCTURE_REQUEST.pack(250, index + 1, ip, port, ip, port, index % 65536)


def test_walkable_set_is_capped_under_introduction_and_puncture_floods() -> None:
    """Finding 2 (and 5): 40 established peers each answer 15 of our introduction requests, introducing two fresh
    addresses every time (1,200 addresses); then 300,000 unsigned puncture requests from our verified peers'
    addresses name a fresh walker each (over 30 s of clock time).

    At every check at most ``max_known_addresses_per_service`` addresses are walkable and at most
    ``max_introductions_per_introducer`` per introducer; the injection grows memory by less than 5 MB (measured as
    described at TRACED); the node still accepts a newcomer.
    """
    with harness() as h:
        target = h.node(NoteCommunity, max_peers=100)
        friend = h.node(NoteCommunity)
        connect(h, target, friend)
        introducer_keys = keys(INTRODUCERS)
        addresses = [attacker_address(100_000 + index) for index in range(INTRODUCERS)]
        rng = random.Random(2)
        for round_number in range(ROUNDS):
            for (key, key_bin), address in zip(introducer_keys, addresses):
                establish(target, key, key_bin, address, random_attacker_address(rng), random_attacker_address(rng))
            check_walkable(target, [key_bin for _, key_bin in introducer_keys], f"after round {round_number + 1}")
        # The introductions were accepted (solicited, well-formed, validly signed).
        assert target.decode_failures() == {}
        assert all(target.knows(key_bin) is not None for _, key_bin in introducer_keys)
        assert len(target.overlay.get_walkable_addresses()) >= min(MAX_PER_SERVICE, INTRODUCERS * MAX_PER_INTRODUCER)

        sources = [friend.address, *addresses]
        verified_keys = [friend.key_bin] + [key_bin for _, key_bin in introducer_keys]

        def inject(start: int, stop: int) -> None:
            for index in range(start, stop):
                target.receive(sources[index % len(sources)], walker_packet(target.prefix, index))
                if (index + 1) % PACKETS_PER_SECOND == 0:
                    h.clock.advance(1)
                if (index + 1) % CHECK_EVERY == 0:
                    check_walkable(target, verified_keys, f"after {index + 1} puncture requests")

        target.log.keep = False
        with traced_growth() as memory:
            inject(0, TRACED)
        with live_block_growth() as steady:
            inject(TRACED, INJECTION)
        assert target.decode_failures() == {}
        assert memory["growth"] < 5 * MB, f"memory grew by {memory['growth'] / MB:.1f} MB in {TRACED} requests"
        assert steady["blocks"] < STEADY_BLOCKS, \
            f"{steady['blocks']} more memory blocks after the last {INJECTION - TRACED} requests"
        target.log.keep = True
        assert_still_works(h, target)


def test_unverified_addresses_expire() -> None:
    """Finding 2: an introduced address nobody verifies stops being walkable after ``unverified_address_ttl``
    seconds of the network's clock."""
    with harness() as h:
        target = h.node(NoteCommunity)
        (key, key_bin), = keys(1)
        introducer = attacker_address(200_000)
        lan, wan = attacker_address(200_001), attacker_address(200_002)
        establish(target, key, key_bin, introducer, lan, wan)
        assert target.decode_failures() == {}
        assert {plain(lan), plain(wan)} <= {plain(address) for address in target.overlay.get_walkable_addresses()}

        h.advance(ADDRESS_TTL - 10)
        assert {plain(lan), plain(wan)} <= {plain(address) for address in target.overlay.get_walkable_addresses()}
        h.advance(20)
        assert target.overlay.get_walkable_addresses() == []
        assert target.network.get_walkable_addresses() == []
        assert target.network.random_walkable(target.overlay.community_id) is None
        # The introducer itself is a verified peer, not an introduced address: it stays.
        assert target.knows(key_bin) is not None


OFFERED = 10 * MAX_PER_SERVICE  # what the "large" runs offer the walker; a capped network keeps the cap
INTRODUCER_COUNT = OFFERED // 10


def fill_walkable(target: Node, count: int) -> None:
    """Offer ``count`` addresses to the target's walker, through ``Network.discover_address``.

    The same verified introducers are used whatever ``count`` (so only the walkable set changes size), each
    introducing at most 10 addresses (within the per-introducer cap).
    """
    service = target.overlay.community_id
    peers = []
    for number, (_, key_bin) in enumerate(keys(INTRODUCER_COUNT)):
        peer = Peer(key_bin, attacker_address(300_000 + number))
        target.network.add_verified_peer(peer)
        target.network.discover_services(peer, [service])
        peers.append(peer)
    for index in range(count):
        target.network.discover_address(peers[index % len(peers)], attacker_address(310_000 + index), service)
    assert len(target.overlay.get_walkable_addresses()) >= min(count, MAX_PER_SERVICE)


def walk_cpu(count: int, measure: str) -> float:
    """Process time of 2,000 RandomWalk steps (``measure="step"``) or 2,000 ``Network.random_walkable`` calls
    (``"pick"``) after ``count`` addresses were offered."""
    with harness() as h:
        target = h.node(NoteCommunity, max_peers=-1)
        target.log.keep = False
        fill_walkable(target, count)
        service = target.overlay.community_id
        if measure == "step":
            # No window and no restarts: every step that has a candidate walks to one.
            walker = RandomWalk(target.overlay, window_size=0, reset_chance=0)
            return cpu_seconds(walker.take_step, 2_000)
        assert target.network.random_walkable(service) in set(target.overlay.get_walkable_addresses())
        return cpu_seconds(lambda: target.network.random_walkable(service), 2_000)


def cost_ratio(measure: str) -> tuple[float, float]:
    """(small, large) timings: the best of three small runs and the best of up to three large runs (a large run
    is repeated only while the ratio is near the limit). The machine is shared, so one slow run must not decide."""
    small = min(walk_cpu(50, measure) for _ in range(3))
    large = walk_cpu(OFFERED, measure)
    for _ in range(2):
        if not 3 <= large / small < 6:  # clearly fine or clearly not: no need to measure again
            break
        large = min(large, walk_cpu(OFFERED, measure))
    return small, large


def test_walk_step_cost_does_not_grow_with_the_walkable_set() -> None:
    """Finding 2: a RandomWalk step costs about the same with 50 walkable addresses as after ten times
    ``max_known_addresses_per_service`` were offered (ratio below 3; CPU time, not wall time)."""
    small, large = cost_ratio("step")
    assert large / small < 3, f"2,000 walk steps: {small:.3f} s at 50 addresses, {large:.3f} s after {OFFERED}"


def test_random_walkable_cost_does_not_grow_with_the_walkable_set() -> None:
    """Finding 2: ``Network.random_walkable(service_id)`` returns one walkable address in O(1): ratio below 3."""
    small, large = cost_ratio("pick")
    assert large / small < 3, \
        f"2,000 random_walkable calls: {small:.3f} s at 50 addresses, {large:.3f} s after {OFFERED}"
