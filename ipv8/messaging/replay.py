"""Replay protection for signed messages that carry a global time.

A signed packet stays valid forever: anyone who captured one can send it again, from anywhere. What
makes a replay detectable is the Lamport *global time* in a :class:`GlobalTimeDistributionPayload`: an
honest sender claims a new one for every message it signs. :class:`ReplayGuard` keeps, per sender, the
highest time seen and which of the :attr:`ReplayGuard.window` times below it were already used, so a
message is accepted once, even when it arrives out of order.

Two situations need care:

* introduction messages carry their time reduced to 16 bits (the deployed network does this), so for
  those the comparison is done in serial-number arithmetic (RFC 1982) and wraps around;
* a peer that restarts begins counting again from a low value. A message far below the window is taken
  as such a restart only when it comes from the address the sender last used; from anywhere else it is
  refused (that is exactly what a replay from another host looks like). A sender's record is forgotten
  after a while without an accepted message (the ``ttl`` arguments of :class:`ReplayGuard`).

Records are kept in two tiers: *protected* senders (the caller's verified peers) and everyone else. A flood of
messages from freshly made keys only churns the second tier, so it cannot push a real peer's window out and
then replay that peer's messages.

Messages without a global time cannot be protected by the framework; see the documentation page
"What a node remembers and for how long" for what overlay authors should do.
"""
from __future__ import annotations

from typing import Hashable

from ..bounded import AgedMap


class _SenderWindow:
    """What one sender used: the highest time, a bit mask of the times just below it, its last address."""

    __slots__ = ("highest", "mask", "address")

    def __init__(self, highest: int, address: object) -> None:
        self.highest = highest
        self.mask = 1
        self.address = address


class ReplayGuard:
    """Per-sender windows of used global times; bounded in senders and in time.

    :param window: how far below the highest time a late (reordered) message is still accepted once.
    :param max_senders: unprotected senders remembered at most (least recently accepted go first).
    :param ttl: seconds after its last accepted message that an unprotected sender's window is forgotten.
    :param max_protected: protected senders remembered at most.
    :param protected_ttl: the same as ``ttl``, for protected senders.
    """

    def __init__(self, window: int = 64, max_senders: int = 2048, ttl: float = 60.0,
                 max_protected: int = 4096, protected_ttl: float = 600.0) -> None:
        """Create a guard that has seen nothing yet."""
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.window = window
        self._all_ones = (1 << window) - 1
        self._senders: AgedMap = AgedMap(max_senders, ttl)
        self._protected: AgedMap = AgedMap(max_protected, protected_ttl)

    def __len__(self) -> int:
        return len(self._senders) + len(self._protected)

    def accept(self, sender: Hashable, global_time: int, address: object, now: float,
               modulus: int | None = None, protected: bool = False) -> bool:
        """Whether a message from ``sender`` with ``global_time``, arriving from ``address``, is new.

        An accepted time is remembered, so the same message is refused the next time.

        :param modulus: the times wrap around at this value (65536 for introduction messages).
        :param protected: keep this sender's window in the protected tier (pass True for verified peers).
        """
        key = (sender, modulus)
        tier = self._protected if protected else self._senders
        state: _SenderWindow | None = tier.get(key, now)
        if state is None:
            # A sender that just became protected (or stopped being so) brings its window along.
            other = self._senders if protected else self._protected
            state = other.get(key, now)
            if state is not None:
                other.pop(key)
        if state is None:
            tier.set(key, _SenderWindow(global_time, address), now)
            return True
        if modulus:
            half = modulus // 2
            delta = (global_time - state.highest + half) % modulus - half
        else:
            delta = global_time - state.highest
        if delta > 0:
            state.mask = ((state.mask << delta) | 1) & self._all_ones if delta < self.window else 1
            state.highest = global_time
            state.address = address
        elif delta > -self.window:
            bit = 1 << -delta
            if state.mask & bit:
                return False
            state.mask |= bit
        elif address == state.address:
            # Far below the window, from where the sender last spoke: it restarted its clock.
            state.highest, state.mask = global_time, 1
        else:
            return False
        tier.set(key, state, now)
        return True

    def forget(self, sender: Hashable) -> None:
        """Drop everything remembered about ``sender`` (both time kinds, both tiers)."""
        for tier in (self._senders, self._protected):
            for key in [key for key in tier if key[0] == sender]:
                tier.pop(key)


__all__ = ["ReplayGuard"]
