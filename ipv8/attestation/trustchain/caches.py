"""Request caches of the TrustChain community: our proposals waiting for a countersignature, our crawls."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from ...requestcache import NumberCache
from . import TrustChainError

if TYPE_CHECKING:
    from ...types import Address
    from .block import TrustChainBlock
    from .community import TrustChainCommunity


class HalfBlockSignCache:
    """One of our proposals, sent to its counterparty, waiting for the agreement.

    Kept by the community under the proposal's sequence number (unique in our chain), with one timer of its
    own rather than in the request cache: a busy node has hundreds of proposals in flight, and registering
    and cancelling a managed task for each cost more than the rest of the bookkeeping of a pair. Every
    ``sign_retry_interval`` seconds without an answer the proposal is sent again; after ``sign_attempts``
    sends :attr:`deferred` fails with :class:`~ipv8.attestation.trustchain.TrustChainError`. It fires with
    ``(proposal, agreement)``.
    """

    name = "sign"

    def __init__(self, community: TrustChainCommunity, block: TrustChainBlock, address: Address,
                 deferred: Deferred | None = None, attempt: int = 1) -> None:
        self.community = community
        self.block = block
        self.number = block.sequence_number
        self.address = address
        self.deferred: Deferred = Deferred() if deferred is None else deferred
        self.attempt = attempt
        self._timer: Any = None

    @property
    def timeout_delay(self) -> float:
        return float(self.community.settings.sign_retry_interval)

    def start(self) -> None:
        """(Re)start the retry timer."""
        self._timer = self.community.clock.callLater(self.timeout_delay, self.on_timeout)

    def stop(self) -> None:
        """Cancel the retry timer (the answer came, or the community stops)."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def on_timeout(self) -> None:
        self._timer = None
        if self.deferred.called:
            self.community.pop_sign_cache(self.number)
            return
        if self.attempt >= self.community.settings.sign_attempts:
            self.community.pop_sign_cache(self.number)
            self.deferred.errback(TrustChainError(f"no countersignature for block {self.block.sequence_number} "
                                                  f"after {self.attempt} attempts"))
            return
        self.attempt += 1
        self.start()
        self.community.send_block(self.block, address=self.address)


class CrawlRequestCache(NumberCache):
    """One crawl request of ours: collects the blocks of the answer until all came or the time is up.

    Only answers from ``address`` count, and at most ``max_blocks`` of them (the sender states the total,
    we do not trust it beyond that). :attr:`deferred` fires with the list of valid blocks received
    (possibly empty); it never fails.
    """

    name = "crawl"

    def __init__(self, community: TrustChainCommunity, crawl_id: int, address: Address, max_blocks: int) -> None:
        super().__init__(community.request_cache, self.name, crawl_id)
        self.community = community
        self.address = address
        self.max_blocks = max_blocks
        #: The valid blocks of the answer (filled in when it is complete).
        self.blocks: list[TrustChainBlock] = []
        #: The well-formed blocks received so far, not yet validated.
        self.received: list[TrustChainBlock] = []
        self.answers = 0
        self.deferred: Deferred = Deferred()

    @property
    def timeout_delay(self) -> float:
        return float(self.community.settings.crawl_timeout)

    def answered(self, total_count: int) -> None:
        """Count one answer message; finish when the announced total (or our cap) has arrived."""
        self.answers += 1
        if self.answers >= min(total_count, self.max_blocks):
            self.finish()

    def finish(self) -> None:
        """Stop waiting; validate and store what arrived (in one batch) and fire with the valid blocks."""
        if self.community.request_cache.get(self.name, self.number) is self:
            self.community.request_cache.pop(self.name, self.number)
        self._settle()

    def on_timeout(self) -> None:
        self._settle()

    def _settle(self) -> None:
        if self.deferred.called:
            return
        received, self.received = self.received, []
        if received and not self.community.shutting_down:
            verdicts = self.community.validate_persist_blocks(received)
            self.blocks = [block for block, verdict in zip(received, verdicts) if verdict.acceptable]
        self.deferred.callback(self.blocks)
