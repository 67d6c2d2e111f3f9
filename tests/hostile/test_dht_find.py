"""Hostile finds: storms of find-requests, and find-responses that are unsolicited, from the wrong key, too big, or
full of garbage nodes and forged values.

Every test counts the drop under its ``dht-...`` reason, checks the bound that matters, and ends with a legitimate
newcomer storing and finding a value through the node under attack.
"""
from __future__ import annotations

from ipv8.community import Community
from ipv8.dht.community import MAX_CRAWL_REQUESTS, MAX_NODES_IN_FIND, DHTCommunity
from ipv8.dht.payload import (FindRequestPayload, FindResponsePayload, PingResponsePayload, StoreResponsePayload,
                              encode_signed_value, encode_value)
from ipv8.dht.routing import Node
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.payload import PunctureRequestPayload
from ipv8.messaging.payload_headers import GlobalTimeDistributionPayload
from ipv8.messaging.serialization import default_serializer

from .attacker import PUNCTURE_REQUEST_IDS, Harness, attacker_address, fresh_key, harness, keys, plain
from .attacker import Node as HarnessNode
from .dht_attacker import (FIND_REQUEST, FIND_RESPONSE, KEY, assert_dht_still_works, bucket_count, bucket_size,
                           decode_dht, dht_drops, dht_network, forge_dht, good_nodes, ping_packet, settled, table_node,
                           table_size)

OTHER_KEY = b"\x99" * 20


def find_requests_to(target: HarnessNode, address: tuple) -> list[FindRequestPayload]:
    """The find-requests the target sent to ``address``, oldest first."""
    return [decode_dht(packet, FindRequestPayload) for packet in target.log.sent_to(address, [FIND_REQUEST])]


def join_as_responder(h: Harness, target: HarnessNode, number: int) -> tuple:
    """A fresh key at a fresh address pings the target, which puts it in its routing table: it will be asked."""
    key, key_bin = fresh_key()
    address = attacker_address(910_000 + number)
    target.receive(address, ping_packet(target, key, key_bin))
    h.pump()
    assert target.overlay.get_routing_table(Node(key_bin, address)).has(Node(key_bin, address).id)
    return key, key_bin, address


def test_garbage_nodes_and_bad_values_in_a_find_response_are_skipped() -> None:
    """A responder we asked answers with eight garbage nodes (our own address, our key elsewhere, port 0, 0.0.0.0, ::,
    multicast, broadcast, loopback from a non-loopback responder) and four bad values (forged signature, oversized,
    unknown type, malformed signed value). Each garbage node is counted under ``dht-garbage-node`` and never sent
    anything; each value under its ``dht-value-...`` reason. The lookup still returns the honest value."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        settled(h, helpers[0].overlay.store_value(KEY, b"honest value"))
        key, key_bin, address = join_as_responder(h, target, 0)
        stranger = fresh_key()[1]
        garbage = [Node(target.key_bin, target.address), Node(target.key_bin, attacker_address(910_100)),
                   Node(stranger, UDPv4Address("198.18.200.1", 0)), Node(stranger, UDPv4Address("0.0.0.0", 8000)),
                   Node(stranger, UDPv6Address("::", 8000)), Node(stranger, UDPv4Address("224.0.0.1", 8000)),
                   Node(stranger, UDPv4Address("255.255.255.255", 8000)),
                   Node(stranger, UDPv4Address("127.0.0.1", 8000))]
        target.log.forbidden.update(plain(node.address) for node in garbage[1:])
        victim = default_eccrypto.generate_key("curve25519")
        forged = encode_signed_value(b"real", victim, 1).replace(b"real", b"fake")
        values = [forged, encode_value(b"o" * 170), b"\x07unknown type", b"\x01\x00"]

        found = target.overlay.find_values(KEY)
        (request,) = find_requests_to(target, address)
        target.receive(address, forge_dht(target, key, key_bin, FindResponsePayload(
            request.identifier, b"\x00" * 20, values, garbage)))
        result = settled(h, found)
        assert result == [(b"honest value", None)]
        assert target.decode_failures() == {}
        drops = dht_drops(target)
        assert drops["dht-garbage-node"] == len(garbage)
        assert {reason: drops[reason] for reason in ("dht-value-bad-signature", "dht-value-oversized",
                                                     "dht-value-unknown-type", "dht-value-malformed")} == \
            {"dht-value-bad-signature": 1, "dht-value-oversized": 1, "dht-value-unknown-type": 1,
             "dht-value-malformed": 1}
        assert target.log.forbidden_hits == []
        assert_dht_still_works(h, target, helpers)


def test_oversized_find_responses_are_cut_to_what_an_honest_one_carries() -> None:
    """A responder answers with 255 values and 255 fresh nodes. Only the first eight of each are looked at (counted
    once under ``dht-too-many-values`` and once under ``dht-too-many-nodes``): at most eight of the 255 are ever
    asked, the lookup asks at most ``MAX_CRAWL_REQUESTS`` nodes in all and returns only honest nodes."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        key, key_bin, address = join_as_responder(h, target, 1)
        fresh = [Node(other, attacker_address(911_000 + number)) for number, (_, other) in enumerate(keys(255))]
        values = [encode_value(b"v%d" % number) for number in range(255)]
        asked_before = target.log.count([FIND_REQUEST])

        lookup = target.overlay.find_nodes(OTHER_KEY)
        (request,) = find_requests_to(target, address)
        target.receive(address, forge_dht(target, key, key_bin, FindResponsePayload(
            request.identifier, b"\x00" * 20, values, fresh)))
        nodes = settled(h, lookup)
        assert target.decode_failures() == {}
        assert target.overlay.drop_counts["dht-too-many-values"] == 1
        assert target.overlay.drop_counts["dht-too-many-nodes"] == 1
        asked_fresh = [node for node in fresh if find_requests_to(target, node.address)]
        assert 0 < len(asked_fresh) <= MAX_NODES_IN_FIND
        assert set(asked_fresh) <= set(fresh[:MAX_NODES_IN_FIND])
        assert target.log.count([FIND_REQUEST]) - asked_before <= MAX_CRAWL_REQUESTS
        assert {node.public_key.key_to_bin() for node in nodes} <= {helper.key_bin for helper in helpers} | {key_bin}
        assert len(target.overlay._pending) == 0
        assert_dht_still_works(h, target, helpers)


def test_unsolicited_and_wrong_key_responses_change_nothing() -> None:
    """Find-, store- and ping-responses with identifiers we never used are counted under
    ``dht-unsolicited-response``; a find-response signed by another key than the node we asked, sent from that node's
    address with the right identifier, is counted under ``dht-wrong-responder`` and does not end the request: the
    real answer still completes the lookup, and the impostor's nodes are never asked."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        key, key_bin = fresh_key()
        unsolicited = [FindResponsePayload(12_345, b"\x00" * 20, [], [Node(fresh_key()[1], attacker_address(912_050))]),
                       StoreResponsePayload(777), PingResponsePayload(778)]
        for number, payload in enumerate(unsolicited):
            target.receive(attacker_address(912_000 + number), forge_dht(target, key, key_bin, payload))
        assert target.overlay.drop_counts["dht-unsolicited-response"] == len(unsolicited)
        assert len(target.overlay.tokens) == 0 and table_size(target) == len(helpers)

        lookup = target.overlay.find_nodes(OTHER_KEY)
        victim = helpers[0]
        (request,) = find_requests_to(target, victim.address)
        decoy = Node(fresh_key()[1], attacker_address(912_100))
        target.log.forbidden.add(plain(decoy.address))
        target.receive(victim.address, forge_dht(target, key, key_bin, FindResponsePayload(
            request.identifier, b"\x00" * 20, [], [decoy])))
        assert target.overlay.drop_counts["dht-wrong-responder"] == 1
        nodes = settled(h, lookup)
        assert victim.key_bin in {node.public_key.key_to_bin() for node in nodes}
        assert target.log.forbidden_hits == []
        assert target.decode_failures() == {}
        assert_dht_still_works(h, target, helpers)


def test_a_find_storm_from_one_address_is_rate_limited() -> None:
    """1,000 find-requests in one second from one address (one key) are answered at most ``2 * find_rate_limit +
    find_rate_limit`` times, the rest counted under ``dht-rate-limited`` or ``dht-blocked-node``; the punctures they
    make us ask for stay within the puncture limit of that source. Nothing else grows."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        target.log.keep = False
        key, key_bin = fresh_key()
        address = attacker_address(913_000)
        rate, before = DHTCommunity.find_rate_limit, target.log.count([FIND_RESPONSE])
        for number in range(1_000):
            target.receive(address, forge_dht(target, key, key_bin, FindRequestPayload(
                number, UDPv4Address(*address), number.to_bytes(20, "big"), 0, number % 2 == 0)))
            h.clock.advance(1 / 1_000)
        h.pump()
        answered = target.log.count([FIND_RESPONSE]) - before
        drops = dht_drops(target)
        assert 1 <= answered <= 3 * rate
        assert drops.get("dht-rate-limited", 0) + drops.get("dht-blocked-node", 0) == 1_000 - answered
        punctures = target.log.count(PUNCTURE_REQUEST_IDS)
        assert punctures <= Community.puncture_burst + Community.puncture_rate_limit
        assert len(target.overlay.storage) == 0 and len(target.overlay.tokens) == 0
        assert len(target.overlay._pending) == 0
        assert target.decode_failures() == {}
        target.log.keep = True
        h.advance(5)  # the storm is over: the budgets refill
        assert_dht_still_works(h, target, helpers)


def test_a_find_storm_from_many_fresh_keys_is_bounded() -> None:
    """4,000 find-requests within one second, each from a fresh key at its own address: answers stay within the
    global budget (a burst of ``100 * find_rate_limit`` plus one second at ``50 * find_rate_limit``), punctures within
    the global puncture budget. Each answered request adds at most one node to the routing table, which keeps its
    shape (at most K nodes and K replacements per bucket, few buckets), the established good nodes stay good and in
    place, and the Network, the tokens, the store and the outstanding requests do not grow."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        target.log.keep = False
        good_before = good_nodes(target)
        assert len(good_before) == len(helpers), "precondition: the established nodes are good"
        verified_before = len(target.network.verified_peers)
        count, before = 4_000, target.log.count([FIND_RESPONSE])
        for number, (key, key_bin) in enumerate(keys(count)):
            address = attacker_address(914_000 + number)
            target.receive(address, forge_dht(target, key, key_bin, FindRequestPayload(
                number, UDPv4Address(*address), number.to_bytes(20, "big"), 0, True)))
            h.clock.advance(1 / count)
        h.pump()
        rate = DHTCommunity.find_rate_limit
        answered = target.log.count([FIND_RESPONSE]) - before
        assert 1 <= answered <= 100 * rate + 50 * rate
        assert target.overlay.drop_counts["dht-rate-limited"] == count - answered
        assert target.log.count(PUNCTURE_REQUEST_IDS) <= 3 * Community.puncture_total_rate
        buckets = bucket_count(target)
        assert buckets <= 2 + 24, f"{buckets} buckets"
        assert table_size(target) <= 2 * bucket_size(target) * buckets
        for helper in helpers:
            assert table_node(target, helper) is not None, "an established node was evicted"
        assert good_nodes(target) == good_before
        assert len(target.network.verified_peers) == verified_before
        assert len(target.overlay.tokens) == 0 and len(target.overlay.storage) == 0
        assert len(target.overlay._pending) == 0
        assert len(target.overlay._find_limiter._buckets) <= target.overlay._find_limiter.max_sources
        assert target.decode_failures() == {}
        target.log.keep = True
        h.advance(5)  # the storm is over: the budgets refill
        assert_dht_still_works(h, target, helpers)


def test_a_find_request_cannot_aim_punctures_at_junk() -> None:
    """A find-request makes us ask the closest node we name to puncture towards the requester's LAN and WAN
    addresses. A LAN address of 0.0.0.0:0, of port 0 or of our own is replaced by the requester's real address, so the
    third party never aims a puncture at junk or at us; a plausible LAN address is passed on."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        key, key_bin = fresh_key()
        address = attacker_address(915_000)
        lans = [UDPv4Address("0.0.0.0", 0), UDPv4Address("198.19.5.5", 0), target.address,
                UDPv4Address("198.19.5.5", 5555)]
        for number, lan in enumerate(lans):
            target.receive(address, forge_dht(target, key, key_bin, FindRequestPayload(
                number, lan, OTHER_KEY, 0, True)))
        requests = [packet for destination, packet in target.log.records
                    if packet[22] == PunctureRequestPayload.msg_id and destination != plain(address)]
        walkers = [default_serializer.unpack_serializable_list([GlobalTimeDistributionPayload,
                                                                PunctureRequestPayload], packet, offset=23)[1]
                   for packet in requests]
        assert [plain(walker.lan_walker_address) for walker in walkers] == \
            [plain(address)] * 3 + [plain(lans[3])]
        assert all(plain(walker.wan_walker_address) == plain(address) for walker in walkers)
        assert dht_drops(target) == {}, "the requests themselves are fine: answered, not dropped"
        assert len(target.overlay.tokens) == 0 and len(target.overlay._pending) == 0
        h.pump()
        assert target.decode_failures() == {}
        assert_dht_still_works(h, target, helpers)


def test_a_requester_on_the_internet_is_not_told_about_private_nodes() -> None:
    """A find-request from a public address is answered without our nodes on private (here: benchmarking) addresses,
    which it could not reach; a requester on a private network gets them."""
    with harness() as h:
        target, *helpers = dht_network(h, 4)
        key, key_bin = fresh_key()
        public, private = UDPv4Address("192.88.99.1", 40_000), attacker_address(916_000)
        for source in (public, private):
            target.receive(source, forge_dht(target, key, key_bin, FindRequestPayload(
                1, source, OTHER_KEY, 0, True)))
        (to_public,) = target.log.sent_to(public, [FIND_RESPONSE])
        (to_private,) = target.log.sent_to(private, [FIND_RESPONSE])
        assert decode_dht(to_public, FindResponsePayload).nodes == []
        assert {node.public_key.key_to_bin() for node in decode_dht(to_private, FindResponsePayload).nodes} >= \
            {helper.key_bin for helper in helpers}
        assert dht_drops(target) == {}, "both requests are answered"
        h.pump()
        assert target.decode_failures() == {}
        assert_dht_still_works(h, target, helpers)
