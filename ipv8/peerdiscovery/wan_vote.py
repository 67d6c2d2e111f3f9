"""Our outside (WAN) address, as a vote among the peers that answered us.

Every introduction response says at which address its sender sees us. Believing the latest one lets a
single peer move our estimate anywhere (even to ``0.0.0.0:0``), which breaks NAT traversal. Instead each
responder IP has one vote, for the address it last reported; the address with the most votes wins, and a
tie keeps the current estimate. Only answers to requests we sent are counted (the caller checks that),
votes are kept for a bounded number of recent voters and expire.
"""
from __future__ import annotations

from collections import Counter
from typing import Hashable

from ..bounded import AgedMap


class WanAddressVote:
    """Tally of which address distinct responders see us at, one table per address family.

    :param max_voters: voters remembered per family (least recently heard from go first).
    :param ttl: seconds a vote counts after it was cast.
    """

    def __init__(self, max_voters: int = 16, ttl: float = 600.0) -> None:
        """Create an empty tally."""
        self.max_voters = max_voters
        self.ttl = ttl
        self._votes: dict[type, AgedMap] = {}
        self._winner: dict[type, tuple] = {}

    def vote(self, voter: Hashable, claim: tuple, now: float) -> tuple:
        """Record that ``voter`` sees us at ``claim``; returns the winning address of ``claim``'s family."""
        family = type(claim)
        votes = self._votes.get(family)
        if votes is None:
            votes = self._votes[family] = AgedMap(self.max_voters, self.ttl)
        votes.set(voter, claim, now)
        tally = Counter(votes.get(name, now) for name in list(votes))
        tally.pop(None, None)
        current = self._winner.get(family)
        best, count = tally.most_common(1)[0] if tally else (claim, 0)
        if current is None or current not in tally or count > tally[current]:
            self._winner[family] = best
        return self._winner[family]

    def winner(self, family: type) -> tuple | None:
        """The current estimate for ``family`` (an address class), or None before any vote."""
        return self._winner.get(family)


__all__ = ["WanAddressVote"]
