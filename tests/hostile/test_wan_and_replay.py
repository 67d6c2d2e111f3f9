"""Finding 4 (a-d): who may move our WAN estimate, and what replayed signed messages can still do."""
from __future__ import annotations

from ipv8.messaging.addresses import UDPv4Address

from .attacker import (INTRODUCTION_RESPONSE_IDS, Harness, Node, NoteCommunity, attacker_address, connect, establish,
                       forge_introduction_response, fresh_key, harness, plain)

CLAIM_X = UDPv4Address("198.18.250.1", 1111)
CLAIM_Y = UDPv4Address("198.18.250.2", 2222)


def walkable(target: Node) -> set[tuple[str, int]]:
    return {plain(address) for address in target.network.get_walkable_addresses()}


def test_unsolicited_introduction_responses_change_nothing() -> None:
    """Finding 4a: introduction responses that answer no request of ours (a stranger with a made-up identifier; a
    stranger using the identifier of a request we sent elsewhere; a stranger at our peer's address with an identifier
    we never used) leave ``my_estimated_wan`` alone, add nothing walkable, verify nobody, and are counted under
    ``drop_counts["unsolicited"]``. Our peer's real answer is still accepted."""
    with harness() as h:
        target = h.node(NoteCommunity)
        friend_key, friend_bin = fresh_key()
        friend = attacker_address(500_000)
        establish(target, friend_key, friend_bin, friend)
        wan_before, walkable_before = plain(target.overlay.my_estimated_wan), walkable(target)

        target.overlay.walk_to(friend)
        outstanding = target.log.last_request_identifier(friend)
        strangers = [fresh_key() for _ in range(3)]
        cases = [(attacker_address(500_001), (outstanding + 1000) % 65536),
                 (attacker_address(500_002), outstanding),
                 (friend, (outstanding + 2000) % 65536)]
        for number, ((key, key_bin), (source, identifier)) in enumerate(zip(strangers, cases)):
            target.receive(source, forge_introduction_response(
                target.prefix, key, key_bin, CLAIM_X, source, identifier,
                attacker_address(500_010 + 2 * number), attacker_address(500_011 + 2 * number)))
        assert target.decode_failures() == {}
        assert plain(target.overlay.my_estimated_wan) == wan_before
        assert walkable(target) == walkable_before
        assert [target.knows(key_bin) for _, key_bin in strangers] == [None, None, None]
        assert target.overlay.drop_counts["unsolicited"] == len(cases)

        intro_lan, intro_wan = attacker_address(500_020), attacker_address(500_021)
        target.receive(friend, forge_introduction_response(target.prefix, friend_key, friend_bin, target.address,
                                                           friend, outstanding, intro_lan, intro_wan))
        assert {plain(intro_lan), plain(intro_wan)} <= walkable(target), "control: the solicited answer counts"


def test_wan_estimate_is_a_vote_of_distinct_responder_ips() -> None:
    """Finding 4b: two responders on distinct IPs say we are at Y; then three responders sharing one IP (different
    ports and keys) say X, last. One vote per responder IP: the estimate is Y."""
    with harness() as h:
        target = h.node(NoteCommunity)
        for number in range(2):
            key, key_bin = fresh_key()
            establish(target, key, key_bin, attacker_address(510_000 + number), claim=CLAIM_Y)
        shared_ip = [attacker_address(510_100 + 32_000 * number) for number in range(3)]
        assert len({address[0] for address in shared_ip}) == 1 and len(set(shared_ip)) == 3
        for address in shared_ip:
            key, key_bin = fresh_key()
            establish(target, key, key_bin, address, claim=CLAIM_X)
        assert target.decode_failures() == {}
        assert target.overlay.drop_counts["unsolicited"] == 0, "control: all five answers were solicited"
        assert plain(target.overlay.my_estimated_wan) == plain(CLAIM_Y)


def test_a_zero_address_claim_is_never_adopted() -> None:
    """Finding 4b: three responders on distinct IPs claim we are at 0.0.0.0:0; the estimate stays where it was."""
    with harness() as h:
        target = h.node(NoteCommunity)
        wan_before = plain(target.overlay.my_estimated_wan)
        for number in range(3):
            key, key_bin = fresh_key()
            establish(target, key, key_bin, attacker_address(520_000 + number), claim=("0.0.0.0", 0))
        assert target.decode_failures() == {}
        assert target.overlay.drop_counts["unsolicited"] == 0, "control: the answers were solicited"
        assert plain(target.overlay.my_estimated_wan) == wan_before


def friends(h: Harness) -> tuple[Node, Node]:
    target, friend = h.node(NoteCommunity), h.node(NoteCommunity)
    connect(h, target, friend)
    return target, friend


def test_replayed_introduction_request_does_not_move_the_peer() -> None:
    """Finding 4c: our peer's signed introduction request, replayed from another address, neither moves the peer
    to that address nor makes us answer there; it is counted under ``drop_counts["replay"]``."""
    with harness() as h:
        target, friend = friends(h)
        request = friend.overlay.create_introduction_request(target.address)
        answers = len(target.log.sent_to(friend.address, INTRODUCTION_RESPONSE_IDS))
        target.receive(friend.address, request)
        assert len(target.log.sent_to(friend.address, INTRODUCTION_RESPONSE_IDS)) == answers + 1, \
            "control: the original request is answered"

        elsewhere = attacker_address(530_000)
        for _ in range(5):
            target.receive(elsewhere, request)
        assert target.decode_failures() == {}
        assert plain(target.knows(friend.key_bin).address) == plain(friend.address)
        assert target.network.get_verified_by_address(elsewhere) is None
        assert target.log.sent_to(elsewhere) == []
        assert target.overlay.drop_counts["replay"] >= 1

        friend.endpoint.send(target.address, friend.overlay.note_packet("still me"))
        h.pump()
        assert (friend.overlay.my_peer.mid, "still me") in target.overlay.notes


def test_replayed_signed_message_reaches_the_handler_once() -> None:
    """Finding 4d: a signed Note (handler ``@lazy_wrapper(GlobalTimeDistributionPayload, Note)``) delivered 500
    times, from its sender's address and from elsewhere, reaches the handler once; the sender's next Note arrives.

    (Messages without a global time cannot be told apart from their replays by the framework; not tested.)
    """
    with harness() as h:
        target, friend = friends(h)
        packet = friend.overlay.note_packet("pay me once")
        for number in range(500):
            source = friend.address if number % 2 == 0 else attacker_address(540_000 + number)
            target.receive(source, packet)
        assert target.decode_failures() == {}
        mid = friend.overlay.my_peer.mid
        assert target.overlay.notes == [(mid, "pay me once")]

        target.receive(friend.address, friend.overlay.note_packet("a new one"))
        assert target.overlay.notes == [(mid, "pay me once"), (mid, "a new one")]
