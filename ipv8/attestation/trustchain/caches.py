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

    Kept by the community under the proposal's sequence number (unique in our chain). Its retry deadline is
    watched by the community's :class:`SignRetryTimer`, one reactor timer for all of them: a busy node has
    hundreds of proposals in flight, and a timer scheduled and cancelled for each cost more than the rest of
    the bookkeeping of a pair. Every ``sign_retry_interval`` seconds without an answer the proposal is sent
    again; after ``sign_attempts`` sends :attr:`deferred` fails with
    :class:`~ipv8.attestation.trustchain.TrustChainError`. It fires with ``(proposal, agreement)``.
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
        #: When (reactor seconds) the proposal is sent again; None while no retry is due.
        self.deadline: float | None = None

    @property
    def timeout_delay(self) -> float:
        return float(self.community.settings.sign_retry_interval)

    def start(self) -> None:
        """(Re)start the retry countdown."""
        self.deadline = self.community.clock.seconds() + self.timeout_delay
        self.community.sign_retry_timer.arm(self.deadline)

    def stop(self) -> None:
        """Stop the retry countdown (the answer came, or the community stops)."""
        self.deadline = None

    def on_timeout(self) -> None:
        self.deadline = None
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


class SignRetryTimer:
    """The one reactor timer behind the retry deadlines of all :class:`HalfBlockSignCache` of a community.

    It is set for the earliest deadline; when it fires, every proposal whose deadline has come is retried (or
    given up) and the timer is set for the next deadline. Starting a proposal's countdown is then a float
    assignment in the common case, and an answered proposal needs no cancellation at all.
    """

    #: Deadlines this close after the firing time count as come (the timer's delay is rounded in floats).
    SLACK = 1e-6

    def __init__(self, community: TrustChainCommunity, caches: dict[int, HalfBlockSignCache]) -> None:
        self.community = community
        self.caches = caches
        self._call: Any = None

    def arm(self, deadline: float) -> None:
        """Make sure the timer fires by ``deadline``."""
        call = self._call
        if call is not None and call.active():
            if call.getTime() <= deadline + self.SLACK:
                return
            call.cancel()
        self._call = self.community.clock.callLater(max(0.0, deadline - self.community.clock.seconds()),
                                                    self._fire)

    def stop(self) -> None:
        """Cancel the timer (the community unloads)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _fire(self) -> None:
        self._call = None
        now = self.community.clock.seconds() + self.SLACK
        due = [cache for cache in self.caches.values() if cache.deadline is not None and cache.deadline <= now]
        for cache in due:
            # An earlier retry in this loop may have ended this one (shutdown): only a running countdown counts.
            if cache.deadline is not None:
                cache.on_timeout()
        following = [cache.deadline for cache in self.caches.values() if cache.deadline is not None]
        if following:
            self.arm(min(following))


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
