"""Finding 4 (e, f): puncture requests are rate-limited, and junk peers cannot lock newcomers out."""
from __future__ import annotations

from ipv8.community import Community

from .attacker import (INTRODUCTION_RESPONSE_IDS, PUNCTURE_IDS, Harness, Node, NoteCommunity, assert_still_works,
                       attacker_address, connect, establish, forge_introduction_request, forge_puncture_request,
                       fresh_key, harness)

RATE = getattr(Community, "puncture_rate_limit", 10)
#: "A small burst": the per-source bucket size (twice the rate when the community does not say).
BURST = getattr(Community, "puncture_burst", 2 * RATE)
#: Punctures per second for all sources together; its bucket may hold two seconds' worth.
TOTAL_RATE = getattr(Community, "puncture_total_rate", 200)


def punctures(target: Node) -> int:
    return target.log.count(PUNCTURE_IDS)


def puncture_flood(h: Harness, target: Node, sources: list, count: int, seconds: float, first: int) -> int:
    """``count`` puncture requests spread evenly over ``seconds`` of clock time, round-robin from ``sources``,
    each naming a fresh walker; returns how many punctures the target sent."""
    before = punctures(target)
    for number in range(count):
        walker = attacker_address(first + number)
        target.receive(sources[number % len(sources)],
                       forge_puncture_request(target.prefix, walker, walker, number, first + number))
        h.clock.advance(seconds / count)
    return punctures(target) - before


def test_puncture_requests_are_rate_limited_per_source() -> None:
    """Finding 4e (and 5): 1,000 puncture requests from our verified peer's address within one second make us send at
    most ``puncture_burst + puncture_rate_limit`` punctures; 1,000 more over the next five seconds at most
    ``puncture_burst + 5 * puncture_rate_limit``. Some still get through, and the node still works."""
    with harness() as h:
        target = h.node(NoteCommunity)
        friend = h.node(NoteCommunity)
        connect(h, target, friend)
        target.log.keep = False
        first = puncture_flood(h, target, [friend.address], 1_000, 1.0, 800_000)
        assert target.decode_failures() == {}
        assert 1 <= first <= BURST + RATE, f"{first} punctures for 1,000 requests in one second"
        second = puncture_flood(h, target, [friend.address], 1_000, 5.0, 801_000)
        assert 1 <= second <= BURST + 5 * RATE, f"{second} punctures for 1,000 requests in five seconds"
        target.log.keep = True
        assert_still_works(h, target)


def test_puncture_requests_from_many_sources_hit_a_global_cap() -> None:
    """Finding 4e: 5,000 puncture requests from 5,000 different addresses within one second make us send at most
    three times ``puncture_total_rate`` punctures (a two-second burst plus one second of refill)."""
    with harness() as h:
        target = h.node(NoteCommunity)
        target.log.keep = False
        sources = [attacker_address(810_000 + number) for number in range(5_000)]
        sent = puncture_flood(h, target, sources, 5_000, 1.0, 820_000)
        assert target.decode_failures() == {}
        assert sent <= 3 * TOTAL_RATE, f"{sent} punctures for 5,000 requests from 5,000 sources in one second"


def junk_request(target: Node, number: int) -> tuple[bytes, tuple]:
    """A fresh key asks the target for an introduction from a fresh address (and will never answer anything)."""
    key, key_bin = fresh_key()
    source = attacker_address(830_000 + number)
    target.receive(source, forge_introduction_request(target.prefix, key, key_bin, target.address, source,
                                                      number + 1))
    return key_bin, source


def test_junk_peers_do_not_lock_out_a_newcomer() -> None:
    """Finding 4f (and 5): with ``max_peers`` 30 and one established peer, 31 junk keys ask for introductions (one
    per second) and never answer our requests. A legitimate newcomer is still answered and accepted; the least
    recently heard junk peer made room, the established peer stays, and the newcomer can send a signed message."""
    with harness() as h:
        target = h.node(NoteCommunity, max_peers=30)
        friend = h.node(NoteCommunity)
        connect(h, target, friend)
        junk = []
        for number in range(31):
            junk.append(junk_request(target, number))
            h.advance(1)
        for _ in range(5):
            target.overlay.get_new_introduction()  # our requests to the junk go unanswered
            h.advance(1)
        assert target.decode_failures() == {}
        assert target.log.sent_to(junk[0][1], INTRODUCTION_RESPONSE_IDS), "control: the first junk was answered"

        assert_still_works(h, target)
        assert target.knows(friend.key_bin) is not None, "the established peer was evicted"
        assert target.knows(junk[0][0]) is None, "the least recently heard junk peer is still there"
        assert len(target.overlay.get_peers()) <= 31


def test_established_peers_are_not_evicted_by_a_newcomer() -> None:
    """Finding 4f: with ``max_peers`` 30 and 30 established peers (we asked, they answered), a newcomer's
    introduction request is not answered and counted under ``drop_counts["peer-limit"]``; all 30 stay."""
    with harness() as h:
        target = h.node(NoteCommunity, max_peers=30)
        established = []
        for number in range(30):
            key, key_bin = fresh_key()
            establish(target, key, key_bin, attacker_address(840_000 + number))
            established.append(key_bin)
        assert target.decode_failures() == {}
        assert len(target.overlay.get_peers()) == 30

        newcomer = h.node(NoteCommunity)
        newcomer.overlay.walk_to(target.address)
        h.pump()
        assert target.log.sent_to(newcomer.address, INTRODUCTION_RESPONSE_IDS) == [], \
            "the newcomer was answered although 30 established peers fill the table"
        assert newcomer.knows(target.key_bin) is None
        assert target.knows(newcomer.key_bin) is None
        assert target.overlay.drop_counts["peer-limit"] >= 1
        assert [key_bin for key_bin in established if target.knows(key_bin) is None] == []
