"""Tests for ipv8.peerdiscovery.wan_vote: our WAN address as a vote among the peers that answered us."""
from __future__ import annotations

from collections import Counter, OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.peerdiscovery.wan_vote import WanAddressVote

X = UDPv4Address("8.8.4.4", 8090)
Y = UDPv4Address("8.8.4.4", 9000)
Z = UDPv4Address("1.1.1.1", 8090)
X6 = UDPv6Address("2606:4700:4700::1111", 8090)
Y6 = UDPv6Address("2606:4700:4700::1001", 8090)


def test_no_estimate_before_any_vote() -> None:
    votes = WanAddressVote()
    assert votes.winner(UDPv4Address) is None
    assert votes.winner(UDPv6Address) is None


def test_defaults() -> None:
    votes = WanAddressVote()
    assert votes.max_voters == 16
    assert votes.ttl == 600.0


def test_first_vote_wins() -> None:
    votes = WanAddressVote()
    assert votes.vote("127.0.0.1", X, 0.0) == X
    assert votes.winner(UDPv4Address) == X


def test_tie_keeps_the_current_estimate() -> None:
    votes = WanAddressVote()
    votes.vote("10.0.0.1", X, 0.0)
    assert votes.vote("10.0.0.2", Y, 1.0) == X  # 1 : 1
    assert votes.vote("10.0.0.3", Y, 2.0) == Y  # 1 : 2
    assert votes.vote("10.0.0.4", X, 3.0) == Y  # 2 : 2, and Y is the current estimate now
    assert votes.vote("10.0.0.5", X, 4.0) == X  # 3 : 2
    assert votes.winner(UDPv4Address) == X


def test_majority_wins() -> None:
    votes = WanAddressVote()
    winners = [votes.vote(f"10.0.0.{index}", claim, float(index)) for index, claim in enumerate([Y, X, X, Z, X, Y])]
    assert winners == [Y, Y, X, X, X, X]
    assert votes.winner(UDPv4Address) == X


def test_one_vote_per_voter() -> None:
    votes = WanAddressVote()
    votes.vote("10.0.0.1", X, 0.0)
    votes.vote("10.0.0.2", X, 0.0)
    for moment in range(1, 50):  # one voter repeating itself counts once
        assert votes.vote("10.0.0.66", Y, float(moment)) == X


def test_re_vote_replaces_the_earlier_one() -> None:
    votes = WanAddressVote()
    votes.vote("10.0.0.1", X, 0.0)
    assert votes.vote("10.0.0.2", Y, 1.0) == X  # 1 : 1
    assert votes.vote("10.0.0.1", Y, 2.0) == Y  # X lost its only vote
    assert votes.vote("10.0.0.3", Z, 3.0) == Y  # Y 2 : Z 1
    assert votes.vote("10.0.0.1", Z, 4.0) == Z  # the voter changed its mind: Y 1 : Z 2


def test_votes_expire() -> None:
    votes = WanAddressVote(ttl=600.0)
    for index in range(3):
        votes.vote(f"10.0.0.{index}", X, 0.0)
    assert votes.vote("10.0.0.9", Y, 600.0) == X  # exactly ttl old: the three still count (3 : 1)
    assert votes.vote("10.0.0.8", Y, 600.5) == Y  # now they do not: X 0 : Y 2


def test_a_lone_fresh_vote_beats_expired_ones() -> None:
    votes = WanAddressVote(ttl=10.0)
    for index in range(5):
        votes.vote(f"10.0.0.{index}", X, 0.0)
    assert votes.vote("10.0.0.9", Y, 11.0) == Y


def test_estimate_is_kept_while_nobody_votes() -> None:
    votes = WanAddressVote(ttl=10.0)
    votes.vote("10.0.0.1", X, 0.0)
    assert votes.winner(UDPv4Address) == X  # winner() reads no clock: the last estimate stands until a new vote


def test_voter_refresh_keeps_its_vote_alive() -> None:
    votes = WanAddressVote(ttl=10.0)
    votes.vote("10.0.0.1", X, 0.0)
    votes.vote("10.0.0.2", Y, 0.0)
    votes.vote("10.0.0.1", X, 8.0)  # the same vote again, later
    assert votes.vote("10.0.0.3", Y, 15.0) == X  # X 1 (alive since t=8) : Y 1 (t=0 expired, t=15): tie


def test_families_have_separate_tables() -> None:
    votes = WanAddressVote()
    assert votes.vote("10.0.0.1", X, 0.0) == X
    assert votes.vote("10.0.0.1", X6, 0.0) == X6  # the same voter may vote in both families
    assert votes.vote("10.0.0.2", Y6, 1.0) == X6
    assert votes.vote("10.0.0.3", Y6, 2.0) == Y6
    assert votes.winner(UDPv4Address) == X  # IPv6 votes do not count for IPv4
    assert votes.winner(UDPv6Address) == Y6
    assert votes.vote("10.0.0.4", Y, 3.0) == X  # and the other way round: 1 : 1
    assert votes.winner(UDPv6Address) == Y6


def test_max_voters() -> None:
    votes = WanAddressVote(max_voters=3)
    votes.vote("10.0.0.1", X, 0.0)
    votes.vote("10.0.0.2", X, 1.0)
    assert votes.vote("10.0.0.3", Y, 2.0) == X  # X 2 : Y 1
    assert votes.vote("10.0.0.4", Y, 3.0) == Y  # 10.0.0.1 is forgotten: X 1 : Y 2
    assert votes.vote("10.0.0.5", Z, 4.0) == Y  # 10.0.0.2 is forgotten: Y 2 : Z 1


def test_max_voters_forgets_the_least_recently_heard() -> None:
    votes = WanAddressVote(max_voters=2)
    votes.vote("10.0.0.1", X, 0.0)
    votes.vote("10.0.0.2", Y, 1.0)
    votes.vote("10.0.0.1", X, 2.0)  # heard from again: 10.0.0.2 is now the oldest
    assert votes.vote("10.0.0.3", X, 3.0) == X  # X 2 (10.0.0.2 forgotten)
    assert votes.vote("10.0.0.4", Y, 4.0) == X  # 10.0.0.1 (t=2) forgotten: X 1 : Y 1, tie keeps X
    assert votes.vote("10.0.0.5", Y, 5.0) == Y  # 10.0.0.3 forgotten: Y 2


def test_many_voters_stay_bounded() -> None:
    votes = WanAddressVote(max_voters=16)
    for index in range(1000):
        votes.vote(f"10.0.{index // 250}.{index % 250}", X if index % 3 else Y, float(index))
    assert len(votes._votes[UDPv4Address]) == 16  # white-box: the memory bound itself
    assert votes.winner(UDPv4Address) == X


def test_one_voter_cannot_move_an_agreed_estimate() -> None:
    votes = WanAddressVote()
    votes.vote("10.0.0.1", X, 0.0)
    votes.vote("10.0.0.2", X, 0.0)
    for index, claim in enumerate([Y, Z, UDPv4Address("0.0.0.0", 0), Y]):
        assert votes.vote("10.0.0.99", claim, float(index)) == X


# --- against a model -------------------------------------------------------------------------------------------

CLAIMS = [X, Y, Z, X6, Y6]
VOTES = st.lists(st.tuples(st.integers(0, 6), st.integers(0, len(CLAIMS) - 1), st.sampled_from([0.0, 1.0, 4.0])),
                 min_size=1, max_size=60)


@settings(max_examples=80, deadline=None)
@given(VOTES, st.integers(1, 5))
def test_winner_is_always_a_leading_live_claim(sequence: list, max_voters: int) -> None:
    ttl = 6.0
    votes = WanAddressVote(max_voters=max_voters, ttl=ttl)
    model: dict = {UDPv4Address: OrderedDict(), UDPv6Address: OrderedDict()}  # voter -> (claim, cast at)
    previous: dict = {}
    now = 0.0
    for voter, claim_index, step in sequence:
        now += step
        claim = CLAIMS[claim_index]
        family = type(claim)
        table = model[family]
        table.pop(voter, None)
        table[voter] = (claim, now)
        for old in [old for old, (_, cast) in table.items() if now - cast > ttl]:
            del table[old]
        while len(table) > max_voters:
            table.popitem(last=False)
        tally = Counter(claim for claim, _ in table.values())
        best = max(tally.values())

        winner = votes.vote(voter, claim, now)
        assert winner == votes.winner(family)
        assert type(winner) is family
        assert tally[winner] == best  # always a claim with the most live votes
        if previous.get(family) in tally and tally[previous[family]] == best:
            assert winner == previous[family]  # and a tie keeps the current estimate
        previous[family] = winner
        assert len(votes._votes[family]) <= max_voters
