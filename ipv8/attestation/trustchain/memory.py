"""Validation of many blocks at once, without sqlite: an in-memory chain store and a batch validator.

Checking a chain block by block against :class:`~.database.TrustChainDB` costs five indexed queries and one
Ed25519 verification per block; the queries are about half of it. :class:`MemoryChainStore` answers the
same questions from dictionaries, and :func:`validate_chain` checks the signatures of a whole batch first
(on worker threads: libsodium runs without the GIL, so a second core helps) and then applies the chain
rules block by block, in order, adding each acceptable block to the store so that the next one is judged
against it. The verdicts are exactly those of :meth:`TrustChainBlock.validate` against a database holding
the same blocks (the tests compare both).

Use it for bulk work: checking a crawled or imported chain before one :meth:`TrustChainDB.add_blocks`
transaction stores all of it, or auditing a database (:func:`validate_database`). It is not for the reactor
thread with big batches: a 100,000-block chain takes seconds.
"""
from __future__ import annotations

import bisect
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from typing import TYPE_CHECKING

from .block import TrustChainBlock, ValidationResult

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from .database import TrustChainDB

#: Blocks per signature-checking task (large enough that thread hand-over costs nothing).
_CHUNK = 2048


class MemoryChainStore:
    """Blocks in dictionaries, offering the lookups that validation and block creation make.

    Only acceptable blocks should be added (as the database only holds those); a second block at a taken
    place replaces nothing and is refused with :exc:`ValueError`.
    """

    def __init__(self, blocks: Iterable[TrustChainBlock] = ()) -> None:
        self._blocks: dict[tuple[bytes, int], TrustChainBlock] = {}
        self._order: dict[bytes, int] = {}
        #: Sorted sequence numbers per public key.
        self._sequence_numbers: dict[bytes, list[int]] = {}
        #: Blocks pointing at ``(public key, sequence number)``, in insertion order.
        self._pointing_at: dict[tuple[bytes, int], list[TrustChainBlock]] = {}
        self._counter = count()
        for block in blocks:
            self.add(block)

    def __len__(self) -> int:
        return len(self._blocks)

    def add(self, block: TrustChainBlock) -> bool:
        """Store ``block``; False if exactly this block is stored already.

        :raises ValueError: if another block holds its place.
        """
        place = (block.public_key, block.sequence_number)
        stored = self._blocks.get(place)
        if stored is not None:
            if stored.hash == block.hash:
                return False
            raise ValueError(f"{block!r} conflicts with stored {stored!r}")
        self._blocks[place] = block
        self._order[block.hash] = next(self._counter)
        numbers = self._sequence_numbers.setdefault(block.public_key, [])
        if not numbers or numbers[-1] < block.sequence_number:
            numbers.append(block.sequence_number)  # the usual case: a chain grows at its end
        else:
            bisect.insort(numbers, block.sequence_number)
        self._pointing_at.setdefault((block.link_public_key, block.link_sequence_number), []).append(block)
        return True

    def contains(self, block: TrustChainBlock) -> bool:
        """Whether exactly this block is stored."""
        return block.hash in self._order

    def get(self, public_key: bytes, sequence_number: int) -> TrustChainBlock | None:
        """The block at that place."""
        return self._blocks.get((public_key, sequence_number))

    def get_latest(self, public_key: bytes) -> TrustChainBlock | None:
        """The highest-numbered block of the chain."""
        numbers = self._sequence_numbers.get(public_key)
        return self._blocks[(public_key, numbers[-1])] if numbers else None

    def get_block_before(self, block: TrustChainBlock) -> TrustChainBlock | None:
        """The nearest stored block below ``block`` in its chain."""
        numbers = self._sequence_numbers.get(block.public_key)
        if not numbers:
            return None
        index = bisect.bisect_left(numbers, block.sequence_number)
        return self._blocks[(block.public_key, numbers[index - 1])] if index else None

    def get_block_after(self, block: TrustChainBlock) -> TrustChainBlock | None:
        """The nearest stored block above ``block`` in its chain."""
        numbers = self._sequence_numbers.get(block.public_key)
        if not numbers:
            return None
        index = bisect.bisect_right(numbers, block.sequence_number)
        return self._blocks[(block.public_key, numbers[index])] if index < len(numbers) else None

    def get_all_linked(self, block: TrustChainBlock) -> list[TrustChainBlock]:
        """Every stored block ``block`` points at or that points at it, earliest stored first."""
        found = list(self._pointing_at.get((block.public_key, block.sequence_number), ()))
        target = self._blocks.get((block.link_public_key, block.link_sequence_number))
        if target is not None and target not in found:
            found.append(target)
        return sorted(found, key=lambda other: self._order[other.hash]) if len(found) > 1 else found

    def get_linked(self, block: TrustChainBlock) -> TrustChainBlock | None:
        """The earliest stored counterpart of ``block``."""
        linked = self.get_all_linked(block)
        return linked[0] if linked else None


def _check_signatures(blocks: Sequence[TrustChainBlock]) -> list[bool]:
    return [block.has_valid_signature() for block in blocks]


def verify_signatures(blocks: Sequence[TrustChainBlock], workers: int = 2) -> list[bool]:
    """Whether each block's signature is valid, checked on ``workers`` threads (1: on this thread)."""
    if workers <= 1 or len(blocks) <= _CHUNK:
        return _check_signatures(blocks)
    chunks = [blocks[start:start + _CHUNK] for start in range(0, len(blocks), _CHUNK)]
    with ThreadPoolExecutor(workers, thread_name_prefix="trustchain-verify") as pool:
        return [valid for part in pool.map(_check_signatures, chunks) for valid in part]


def validate_chain(blocks: Sequence[TrustChainBlock], store: MemoryChainStore | None = None,
                   now_ms: int | None = None, workers: int = 2) -> list[ValidationResult]:
    """Validate ``blocks`` in order against ``store`` (a new, empty one by default), adding each acceptable
    block to it; returns the verdict of every block.

    A fraud proof comes back in the verdict of the block that revealed it, as with
    :meth:`TrustChainBlock.validate`.
    """
    if store is None:
        store = MemoryChainStore()
    signatures = verify_signatures(blocks, workers)
    results = []
    for block, signature_valid in zip(blocks, signatures):
        result = block.validate(store, now_ms=now_ms, signature_valid=signature_valid)
        if result.acceptable and not store.contains(block) and store.get(block.public_key,
                                                                          block.sequence_number) is None:
            store.add(block)
        results.append(result)
    return results


def validate_batch(blocks: Sequence[TrustChainBlock], context: Iterable[TrustChainBlock], now_ms: int | None = None,
                   max_future_ms: int = 10 * 60 * 1000, workers: int = 1) -> list[tuple[ValidationResult, bool]]:
    """Validate ``blocks`` in order against ``context`` (the stored blocks they may meet, earliest stored first:
    :meth:`~.database.TrustChainDB.get_validation_context`), adding each acceptable block to the view.

    Returns ``(verdict, already stored)`` per block; the signatures of stored blocks are not checked again.
    The verdicts are those that :meth:`TrustChainBlock.validate` against the database, with each acceptable
    block stored before the next is judged, would give.
    """
    store = MemoryChainStore(context)
    stored = [store.contains(block) for block in blocks]
    signatures = iter(verify_signatures([block for block, known in zip(blocks, stored) if not known], workers))
    results = []
    for block, known in zip(blocks, stored):
        result = block.validate(store, now_ms=now_ms, max_future_ms=max_future_ms,
                                signature_valid=True if known else next(signatures))
        if result.acceptable and not store.contains(block) and store.get(block.public_key,
                                                                          block.sequence_number) is None:
            store.add(block)
        results.append((result, known))
    return results


def validate_database(database: TrustChainDB, workers: int = 2) -> dict[bytes, ValidationResult]:
    """Audit a whole database: every stored block judged against all the others, by block hash.

    Reads every block (heavy: not on the reactor thread for big databases).
    """
    blocks = database.get_all_blocks()
    store = MemoryChainStore(blocks)
    signatures = verify_signatures(blocks, workers)
    return {block.hash: block.validate(store, signature_valid=valid) for block, valid in zip(blocks, signatures)}
