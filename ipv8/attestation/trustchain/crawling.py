"""Crawling TrustChain chains: our crawl requests and the answers to them, answering others' requests, and
the chain lengths that introductions carry (which tell whom to crawl).

A mixin of :class:`~ipv8.attestation.trustchain.community.TrustChainCommunity` (messages 2, 3 and 7). A crawl
request names a chain and a range of sequence numbers (negative numbers count from the end); the answer is
one crawl response per block (the chain's blocks in the range and the agreements others signed to them) or
one empty crawl response. We answer at most ``max_crawl_batch`` blocks of the chain per request, whatever
range was asked, and at most ``crawl_rate_limit`` requests per second per IP. Our own requests wait in a
:class:`~.caches.CrawlRequestCache`: only answers from the address we asked count, at most twice
``max_crawl_batch`` of them; answers nobody asked for are dropped before their block is even decoded.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, ensureDeferred, succeed

from ...lazy_community import lazy_wrapper, lazy_wrapper_unsigned
from ...messaging.payload_headers import GlobalTimeDistributionPayload
from ...requestcache import RandomNumberCache
from .block import GENESIS_SEQ
from .caches import CrawlRequestCache
from .payload import CrawlRequestPayload, CrawlResponsePayload, EmptyCrawlResponsePayload

if TYPE_CHECKING:
    from ...peer import Peer
    from ...types import Address

DROP_TC_RATE_LIMITED = "trustchain-rate-limited"
DROP_TC_UNSOLICITED_CRAWL = "trustchain-unsolicited-crawl-response"
DROP_TC_BUSY = "trustchain-too-many-pending"
# Attempts at one crawl range that brings nothing new before a chain crawl gives up.
_CRAWL_ATTEMPTS = 3
# Seconds before we crawl the same peer again after an introduction (as 1.x).
_INTRO_CRAWL_INTERVAL = 60.0
_CHAIN_LENGTH = struct.Struct(">l")


class ChainCrawling:
    """Crawl requests and responses; expects the attributes and helpers of ``TrustChainCommunity``."""

    settings: Any
    persistence: Any
    request_cache: Any
    drop_counts: Any
    endpoint: Any
    clock: Any
    shutting_down: bool
    _crawls: set[CrawlRequestCache]
    _chain_crawls: set[bytes]
    _crawl_limiter: Any
    _intro_crawled: Any
    my_public_key_bin: bytes

    def send_crawl_request(self, peer: Peer, public_key: bytes, start_seq_num: int, end_seq_num: int) -> Deferred:
        """Ask ``peer`` for blocks ``start..end`` of ``public_key``'s chain (negative: from the end).

        Fires with the valid blocks of the answer (possibly none); never fails.
        """
        if len(self._crawls) >= self.settings.max_pending_crawls or self.shutting_down:
            self.drop_counts[DROP_TC_BUSY] += 1
            return succeed([])
        crawl_id = RandomNumberCache.find_unclaimed_identifier(self.request_cache, CrawlRequestCache.name)
        # One answer holds our range of the chain plus agreements to it from other chains.
        cache = CrawlRequestCache(self, crawl_id, peer.address, 2 * self.settings.max_crawl_batch)
        if self.request_cache.add(cache) is None:
            return succeed([])
        self._crawls.add(cache)
        cache.deferred.addBoth(self._crawl_done, cache)
        self.endpoint.send(peer.address, self.ezr_pack(
            CrawlRequestPayload.msg_id, GlobalTimeDistributionPayload(self.claim_global_time()),
            CrawlRequestPayload(public_key, start_seq_num, end_seq_num, crawl_id)))
        return cache.deferred

    def _crawl_done(self, result: object, cache: CrawlRequestCache) -> object:
        self._crawls.discard(cache)
        return result

    def crawl_lowest_unknown(self, peer: Peer, latest_block_num: int | None = None) -> Deferred:
        """Ask ``peer`` for the first block of its chain we miss (nothing if we know up to ``latest_block_num``)."""
        public_key = peer.public_key.key_to_bin()
        lowest = self.persistence.get_lowest_sequence_number_unknown(public_key)
        if latest_block_num is not None and lowest > latest_block_num:
            return succeed([])
        return self.send_crawl_request(peer, public_key, lowest, lowest)

    def crawl_chain(self, peer: Peer, latest_block_num: int = 0) -> Deferred:
        """Fetch ``peer``'s whole chain (up to ``latest_block_num`` if given, else its latest block) in
        ``max_crawl_batch`` steps. Fires with None when done or when the peer stops giving new blocks."""
        public_key = peer.public_key.key_to_bin()
        if public_key in self._chain_crawls:
            return succeed(None)
        self._chain_crawls.add(public_key)
        crawl = ensureDeferred(self._crawl_chain(peer, public_key, latest_block_num))
        return crawl.addBoth(self._chain_crawl_done, public_key)

    def _chain_crawl_done(self, result: object, public_key: bytes) -> object:
        self._chain_crawls.discard(public_key)
        return result

    async def _crawl_chain(self, peer: Peer, public_key: bytes, known_length: int) -> None:
        if known_length <= 0:
            latest = await self.send_crawl_request(peer, public_key, -1, -1)
            known_length = max((block.sequence_number for block in latest if block.public_key == public_key),
                               default=0)
        window = int(self.settings.crawl_window)
        if window > 1:
            await self._sweep_chain(peer, public_key, known_length, window)
        # Block by block through the gaps that are left (lost answers, blocks that did not validate).
        attempts, last_lowest = 0, None
        while not self.shutting_down:
            lowest = self.persistence.get_lowest_sequence_number_unknown(public_key)
            if lowest > known_length:
                return
            if lowest == last_lowest:
                attempts += 1
                if attempts >= _CRAWL_ATTEMPTS:
                    return
            else:
                attempts, last_lowest = 0, lowest
            start, stop = self.persistence.get_lowest_range_unknown(public_key)
            if stop == 0 or stop > known_length:
                stop = known_length
            await self.send_crawl_request(peer, public_key, start, min(stop, start + self.settings.max_crawl_batch - 1))

    async def _sweep_chain(self, peer: Peer, public_key: bytes, known_length: int, window: int) -> None:
        """Ask for consecutive ``max_crawl_batch`` ranges from the lowest unknown block up to
        ``known_length``, ``window`` requests at a time: the peer reads and sends the next range while we
        check the last one. Stops at the first range that brings no block of the chain (the peer has no
        more, or stopped answering), so a length the peer lied about costs at most ``window`` requests more.
        """
        batch = max(1, int(self.settings.max_crawl_batch))
        cursor = self.persistence.get_lowest_sequence_number_unknown(public_key)
        running: set[Deferred] = set()
        finished: Deferred | None = None
        stalled = False

        def landed(blocks: list, request: Deferred) -> None:
            nonlocal stalled, finished
            running.discard(request)
            if not any(block.public_key == public_key for block in blocks):
                stalled = True
            if finished is not None and not finished.called:
                finished.callback(None)

        while not self.shutting_down:
            while not stalled and cursor <= known_length and len(running) < window:
                stop = min(known_length, cursor + batch - 1)
                request = self.send_crawl_request(peer, public_key, cursor, stop)
                running.add(request)
                request.addCallback(landed, request)
                cursor = stop + 1
            if not running:
                return
            finished = Deferred()
            await finished

    @lazy_wrapper(GlobalTimeDistributionPayload, CrawlRequestPayload)
    def received_crawl_request(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                               payload: CrawlRequestPayload) -> None:
        """Answer with at most ``max_crawl_batch`` blocks of the range (message 3 each, or 7 if none)."""
        if not self._crawl_limiter.allow(peer.address[0], self.clock.seconds()):
            self.drop_counts[DROP_TC_RATE_LIMITED] += 1
            return
        start, end = payload.start_seq_num, payload.end_seq_num
        if start < 0 or end < 0:
            latest = self.persistence.get_latest(payload.public_key)
            top = latest.sequence_number if latest is not None else 0
            start = max(GENESIS_SEQ, top + start + 1) if start < 0 else start
            end = max(GENESIS_SEQ, top + end + 1) if end < 0 else end
        start = max(start, GENESIS_SEQ)
        # A huge range costs the same as a small one: at most one batch is read and sent.
        end = min(end, start + self.settings.max_crawl_batch - 1)
        blocks = self.persistence.crawl(payload.public_key, start, end, limit=self.settings.max_crawl_batch) \
            if end >= start else []
        if not blocks:
            self.endpoint.send(peer.address, self._pack(EmptyCrawlResponsePayload(payload.crawl_id)))
            return
        for index, block in enumerate(blocks, 1):
            self.endpoint.send(peer.address, self._pack(
                CrawlResponsePayload.from_crawl(block, payload.crawl_id, index, len(blocks))))

    def _crawl_cache_for(self, crawl_id: int, source_address: Address) -> CrawlRequestCache | None:
        cache = self.request_cache.get(CrawlRequestCache.name, crawl_id)
        if not isinstance(cache, CrawlRequestCache) or \
                (cache.address[0], cache.address[1]) != (source_address[0], source_address[1]):
            self.drop_counts[DROP_TC_UNSOLICITED_CRAWL] += 1
            return None
        return cache

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, CrawlResponsePayload)
    def received_crawl_response(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                                payload: CrawlResponsePayload) -> None:
        """One block answering our crawl request (message 3); answers we did not ask for are dropped unread."""
        cache = self._crawl_cache_for(payload.crawl_id, source_address)
        if cache is None:
            return
        block = self._block_from(payload)
        if block is not None:
            # Judged together with the rest of the answer when it is complete (CrawlRequestCache.finish).
            cache.received.append(block)
        cache.answered(payload.total_count)

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, EmptyCrawlResponsePayload)
    def received_empty_crawl_response(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                                      payload: EmptyCrawlResponsePayload) -> None:
        """The answer to our crawl request has no blocks (message 7)."""
        cache = self._crawl_cache_for(payload.crawl_id, source_address)
        if cache is not None:
            cache.finish()

    # -- introductions --------------------------------------------------------------------------------------

    def get_chain_length(self) -> int:
        """The sequence number of our latest block (0 without any)."""
        latest = self.persistence.get_latest(self.my_public_key_bin)
        return 0 if latest is None else latest.sequence_number

    def create_introduction_request(self, socket_address: Address, extra_bytes: bytes = b"",
                                    new_style: bool = False, prefix: bytes | None = None) -> bytes:
        """An introduction request that tells our chain length (as 1.x)."""
        return super().create_introduction_request(socket_address, _CHAIN_LENGTH.pack(self.get_chain_length()),
                                                   new_style, prefix)

    def create_introduction_response(self, lan_socket_address: Address, socket_address: Address,
                                     identifier: int, introduction: Peer | None = None, extra_bytes: bytes = b"",
                                     prefix: bytes | None = None, new_style: bool = False) -> bytes:
        """An introduction response that tells our chain length (as 1.x)."""
        return super().create_introduction_response(lan_socket_address, socket_address, identifier, introduction,
                                                    _CHAIN_LENGTH.pack(self.get_chain_length()), prefix, new_style)

    def introduction_response_callback(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                       payload: Any) -> None:
        """Crawl a peer we walked to: its whole chain (crawler) or the first block we miss (at most once a
        minute per peer)."""
        chain_length = _CHAIN_LENGTH.unpack(payload.extra_bytes)[0] if len(payload.extra_bytes) == 4 else 0
        now = self.clock.seconds()
        if self._intro_crawled.get(peer.mid, now, False) is not False:
            return
        self._intro_crawled.set(peer.mid, None, now)
        if self.settings.crawler:
            self.crawl_chain(peer, latest_block_num=max(chain_length, 0))
        elif chain_length > 0:
            self.crawl_lowest_unknown(peer, latest_block_num=chain_length)
