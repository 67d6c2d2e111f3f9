"""What :class:`~.database.TrustChainDB` knows for sure about the recent ends of the chains it works on.

Signing a pair reads the database about ten times (the latest block of our chain, the neighbours and the
counterpart of every block validated, "is it stored already?", "did this key commit fraud?"), and these
small queries cost more than the Ed25519 work of the pair. Almost all of them ask about the *end* of a chain:
a new block goes after the last one, an agreement points at one of our last proposals. :class:`ChainCache`
answers those from memory and leaves everything else to sqlite.

The rule that keeps the answers equal to sqlite's: per cached chain it holds a *complete suffix*. Every
stored block of the key with a sequence number above ``place_floor`` is in ``blocks``, and every stored block
pointing at ``(key, s)`` with ``s`` above ``link_floor`` is in ``pointing``; below the floors it knows nothing
and the database asks sqlite. A chain enters the cache with two indexed queries (its highest block, the
highest sequence number pointing at it), so both suffixes start empty and exact. From then on every insert
goes through :meth:`ChainCache.added`; the database forgets everything (:meth:`ChainCache.clear`) whenever
rows go away by another way: a rollback, a deletion, a prune. The sizes are bounded: chains are evicted
oldest first, and a suffix that grows too long is cut by raising its floor.

The blocks held here are private copies: callers get copies too, so that nobody can change what the cache
believes by changing a block object.
"""
from __future__ import annotations

from itertools import count
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .block import TrustChainBlock

#: Chains held at once (each holds at most 2 * :data:`SUFFIX_SIZE` blocks).
MAX_CHAINS = 128
#: Blocks a chain suffix holds before its older half is dropped (above the window of proposals in flight).
SUFFIX_SIZE = 128
#: Blocks whose insertion order is remembered before the whole cache starts afresh.
MAX_ORDERS = 16384
#: Fraud verdicts remembered per key.
MAX_FRAUD_VERDICTS = 4096


class _Chain:
    __slots__ = ("tip", "place_floor", "blocks", "link_floor", "pointing", "has_zero")

    def __init__(self, tip: TrustChainBlock | None, top_link: int | None, has_zero: bool) -> None:
        #: The highest-numbered stored block of the chain (None: nothing stored).
        self.tip = tip
        self.place_floor = tip.sequence_number - 1 if tip is not None else 0
        # Sequence number 0 is no valid place, but proposals ask about it (they point at it): answered from
        # this flag as long as no such block is stored.
        self.has_zero = has_zero
        self.blocks: dict[int, TrustChainBlock] = {tip.sequence_number: tip} if tip is not None else {}
        # Proposals all point at sequence number 0: never indexed here (nobody asks in the normal flow).
        self.link_floor = max(top_link or 0, 0)
        self.pointing: dict[int, list[TrustChainBlock]] = {}


class ChainCache:
    """Complete recent suffixes of a few chains, plus remembered fraud verdicts (see the module docs)."""

    def __init__(self) -> None:
        self._chains: dict[bytes, _Chain] = {}
        #: Insertion order of the blocks added while cached (sqlite's rowid order among them).
        self._order: dict[bytes, int] = {}
        self._counter = count()
        self._fraud: dict[bytes, bool] = {}

    def clear(self) -> None:
        """Forget everything (after a rollback, a deletion or a prune)."""
        self._chains.clear()
        self._order.clear()
        self._fraud.clear()

    # -- chains -------------------------------------------------------------------------------------------

    def chain(self, public_key: bytes) -> _Chain | None:
        """The cached state of ``public_key``'s chain, or None if it is not cached."""
        return self._chains.get(public_key)

    def load(self, public_key: bytes, tip: TrustChainBlock | None, top_link: int | None,
             has_zero: bool) -> _Chain:
        """Start caching a chain from sqlite's answers: its highest block, the highest sequence number that a
        stored block points at (None: no block points into the chain) and whether a block with sequence
        number 0 is stored (invalid, but the database does not judge)."""
        if len(self._chains) >= MAX_CHAINS:
            self._chains.pop(next(iter(self._chains)))
        state = self._chains[public_key] = _Chain(tip, top_link, has_zero)
        return state

    def added(self, block: TrustChainBlock) -> None:
        """``block`` (a private copy) was just inserted in the current transaction."""
        self._order[block.hash] = next(self._counter)
        state = self._chains.get(block.public_key)
        if state is not None:
            seq = block.sequence_number
            if seq > state.place_floor:
                state.blocks[seq] = block
                if len(state.blocks) > SUFFIX_SIZE:
                    self._trim_places(state)
            if seq == 0:
                state.has_zero = True
            if state.tip is None or seq > state.tip.sequence_number:
                state.tip = block
        target = self._chains.get(block.link_public_key)
        if target is not None and block.link_sequence_number > target.link_floor:
            target.pointing.setdefault(block.link_sequence_number, []).append(block)
            if len(target.pointing) > SUFFIX_SIZE:
                self._trim_pointing(target)
        if len(self._order) > MAX_ORDERS:
            # Only a long run (or a flood of strangers' blocks) gets here; reloading chains is cheap.
            self.clear()

    @staticmethod
    def _trim_places(state: _Chain) -> None:
        numbers = sorted(state.blocks)
        dropped = numbers[:len(numbers) // 2]
        for number in dropped:
            del state.blocks[number]
        state.place_floor = dropped[-1]

    @staticmethod
    def _trim_pointing(state: _Chain) -> None:
        numbers = sorted(state.pointing)
        dropped = numbers[:len(numbers) // 2]
        for number in dropped:
            del state.pointing[number]
        state.link_floor = dropped[-1]

    # -- answers (None: "ask sqlite") --------------------------------------------------------------------

    @staticmethod
    def get(state: _Chain, sequence_number: int) -> tuple[bool, TrustChainBlock | None]:
        """``(known, block)``: whether the cache can answer for this place, and the block there."""
        if sequence_number > state.place_floor:
            return True, state.blocks.get(sequence_number)
        if sequence_number == 0 and not state.has_zero:
            return True, None
        return False, None

    @staticmethod
    def neighbours(state: _Chain, sequence_number: int) -> tuple[TrustChainBlock | None, ...] | None:
        """``(before, at, after)`` as :meth:`~.database.TrustChainDB.get_neighbours`, or None if unsure."""
        tip = state.tip
        if tip is None:
            return None, None, None
        top = tip.sequence_number
        if sequence_number > top:
            return tip, None, None
        if sequence_number == 0:
            return None
        blocks = state.blocks
        below = sequence_number - 1
        if below > state.place_floor:
            # The suffix is complete above the floor: the block just below, if there, is the nearest one.
            before = blocks.get(below)
            if before is None:
                return None
        elif below == 0 and not state.has_zero and sequence_number > state.place_floor:
            before = None
        else:
            return None
        after = None
        if sequence_number < top:
            for number in range(sequence_number + 1, min(top, sequence_number + 8) + 1):
                after = blocks.get(number)
                if after is not None:
                    break
            else:
                return None
        return before, blocks.get(sequence_number), after

    @staticmethod
    def pointing_at(state: _Chain, sequence_number: int) -> list[TrustChainBlock] | None:
        """The stored blocks pointing at ``(key, sequence_number)``, or None if unsure."""
        if sequence_number > state.link_floor:
            return list(state.pointing.get(sequence_number, ()))
        return None

    def order(self, block: TrustChainBlock) -> int:
        """Sort key: blocks stored before the cache met them first (-1), then in insertion order."""
        return self._order.get(block.hash, -1)

    # -- fraud --------------------------------------------------------------------------------------------

    def fraud(self, public_key: bytes) -> bool | None:
        """Whether a fraud proof against ``public_key`` is stored, or None if not remembered."""
        return self._fraud.get(public_key)

    def set_fraud(self, public_key: bytes, found: bool) -> None:
        """Remember a fraud verdict."""
        if len(self._fraud) >= MAX_FRAUD_VERDICTS:
            self._fraud.pop(next(iter(self._fraud)))
        self._fraud[public_key] = found
