"""Two parts of :class:`~.community.TrustChainCommunity`: its block listeners and its batched commits.

**Listeners** decide about countersigning (``should_sign``) and hear of stored blocks (``received_block``),
per block type. A decision is taken synchronously as long as every listener asked answers with a plain
value, the usual case: no coroutine, no timeout, no callbacks for each proposal.

**Commits.** With ``commit_batching`` the blocks stored during one reactor turn share one database
transaction, committed on the next turn, or as soon as the message that brought the batch to
``commit_batch_size`` blocks is handled. Work that must not happen before the blocks are durable (sending a
block of our own chain, telling a caller that a pair is complete) waits in :meth:`CommitBatching.after_commit`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred, ensureDeferred, fail, maybeDeferred, succeed

from ...util import get_reactor
from .block import TrustChainBlock

if TYPE_CHECKING:
    from .listener import BlockListener

#: Listeners registered for this "type" hear about every block.
UNIVERSAL_BLOCK_LISTENER = b"UNIVERSAL_BLOCK_LISTENER"


class BlockListeners:
    """The listeners of a TrustChain community; expects ``listeners_map``, ``persistence``, ``shutting_down``
    and ``logger`` of ``TrustChainCommunity``."""

    listeners_map: dict[bytes, list[BlockListener]]
    persistence: Any
    shutting_down: bool
    logger: Any

    def add_listener(self, listener: BlockListener, block_types: list[bytes]) -> None:
        """Let ``listener`` decide about and hear of blocks of ``block_types``."""
        for block_type in block_types:
            self.listeners_map.setdefault(block_type, []).append(listener)
            if block_type != UNIVERSAL_BLOCK_LISTENER:
                self.persistence.block_classes[block_type] = listener.BLOCK_CLASS

    def remove_listener(self, listener: BlockListener, block_types: list[bytes]) -> None:
        """Undo :meth:`add_listener` for ``block_types``."""
        for block_type in block_types:
            listeners = self.listeners_map.get(block_type, [])
            if listener in listeners:
                listeners.remove(listener)
            if not listeners:
                self.listeners_map.pop(block_type, None)
                self.persistence.block_classes.pop(block_type, None)

    def get_block_class(self, block_type: bytes) -> type[TrustChainBlock]:
        """The block class of the first listener for ``block_type`` (:class:`TrustChainBlock` without one)."""
        listeners = self.listeners_map.get(block_type)
        return listeners[0].BLOCK_CLASS if listeners and block_type != UNIVERSAL_BLOCK_LISTENER \
            else TrustChainBlock

    def should_sign(self, block: TrustChainBlock) -> Deferred:
        """Whether any listener of the block's type wants it countersigned (a Deferred of a bool)."""
        answer = self._ask_listeners(block)
        return answer if isinstance(answer, Deferred) else succeed(answer)

    def _ask_listeners(self, block: TrustChainBlock) -> bool | Deferred:
        """:meth:`should_sign` without a Deferred as long as every listener asked answers with a plain value
        (the usual case: no coroutine, no timeout, no callbacks per proposal)."""
        listeners = list(self.listeners_map.get(block.type, [])) if block.type != UNIVERSAL_BLOCK_LISTENER else []
        for index, listener in enumerate(listeners):
            try:
                answer = listener.should_sign(block)
            except Exception as exc:  # noqa: BLE001 - as maybeDeferred: a failing listener fails the decision
                return fail(exc)
            if isinstance(answer, Deferred) or hasattr(answer, "__await__"):
                return ensureDeferred(self._ask_rest(answer, listeners[index + 1:], block))
            if answer:
                return True
        return False

    @staticmethod
    async def _ask_rest(pending: Any, listeners: list[BlockListener], block: TrustChainBlock) -> bool:
        if await pending:
            return True
        for listener in listeners:
            if await maybeDeferred(listener.should_sign, block):
                return True
        return False

    def notify_listeners(self, block: TrustChainBlock) -> None:
        """Tell the universal listeners and those of the block's type about a newly stored block."""
        if self.shutting_down:
            return
        listeners = list(self.listeners_map.get(UNIVERSAL_BLOCK_LISTENER, []))
        if block.type != UNIVERSAL_BLOCK_LISTENER:
            listeners += self.listeners_map.get(block.type, [])
        for listener in listeners:
            try:
                listener.received_block(block)
            except Exception:
                self.logger.exception("Block listener %r failed on %r", listener, block)


class CommitBatching:
    """Batched commits of a TrustChain community; expects ``settings``, ``persistence``, ``shutting_down``,
    ``logger`` and the attributes set in ``TrustChainCommunity.__init__``."""

    settings: Any
    persistence: Any
    shutting_down: bool
    logger: Any
    _after_commit: list[Callable[[], object]]
    _commit_call: Any
    _batch_blocks: int

    def store_block(self, block: TrustChainBlock, linked: TrustChainBlock | None = None) -> None:
        """Write a block (and its counterpart) into the current batch; committed on the next reactor turn.

        Without ``commit_batching`` every write is its own transaction.
        """
        if self.settings.commit_batching and not self.shutting_down:
            self.persistence.begin_batch()
            self._schedule_commit()
            self._batch_blocks += 1 if linked is None else 2
        self.persistence.add_block(block, linked)

    def _commit_if_full(self) -> None:
        """Commit now (between two messages of one read) if the open batch holds ``commit_batch_size`` blocks.

        The answers of the first messages of a burst then leave while the rest is still being handled, so
        that both sides of a busy exchange work at the same time instead of in turns.
        """
        if self._batch_blocks >= self.settings.commit_batch_size:
            self.commit()

    def after_commit(self, action: Callable[[], object]) -> None:
        """Run ``action`` once everything written so far is durable (at once if nothing waits)."""
        if not self.persistence.in_batch:
            action()
            return
        self._after_commit.append(action)
        self._schedule_commit()

    def _schedule_commit(self) -> None:
        if self._commit_call is None:
            # The next reactor turn: every packet that arrived in this one shares the commit.
            self._commit_call = get_reactor().callLater(0, self.commit)

    def commit(self) -> None:
        """Commit the open batch, then run what waited for it."""
        if self._commit_call is not None and self._commit_call.active():
            self._commit_call.cancel()
        self._commit_call = None
        self._batch_blocks = 0
        self.persistence.commit_batch()
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            try:
                action()
            except Exception:
                self.logger.exception("Action after a TrustChain commit failed")
