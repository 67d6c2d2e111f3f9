"""The TrustChain overlay: sign interactions as proposal/agreement half-block pairs, spread and crawl chains.

Wire compatible with IPv8 1.x (community id ``5ad767b0...``, messages 1-7 of :mod:`.payload`; all but the
crawl request are unsigned and carry a global time). One interaction goes like this:

1. :meth:`TrustChainCommunity.sign_block` appends a *proposal* to our chain and sends it (message 1) to the
   counterparty; the returned Deferred waits in a :class:`~.caches.HalfBlockSignCache`, which sends the
   proposal again every ``sign_retry_interval`` seconds and gives up after ``sign_attempts`` sends.
2. The counterparty validates and stores the proposal, asks its :class:`~.listener.BlockListener` objects
   for the block's type (``should_sign``), crawls the blocks before the proposal it does not know
   (``validation_range``), appends an *agreement* and sends it back (message 1); it broadcasts the pair.
3. We validate and store the agreement and the Deferred fires with ``(proposal, agreement)``.

**Hostile input.** Blocks are validated (signature, chain rules, links, timestamps) before anything is
stored; a double sign or double countersign yields a fraud proof that is stored, spread and makes us refuse
to countersign for that key. We never countersign unless a listener says so. Everything we remember is
bounded and expires: pending signature requests, pending crawls (and how many answers one may bring), the
proposals we are deciding about and the set of broadcast blocks already seen. Block messages and crawl
requests are rate limited per source IP, crawl ranges are clamped to ``max_crawl_batch``, broadcast TTLs
to ``max_broadcast_ttl``, and a broadcast block seen before is dropped before its signature is checked.
Each refusal is counted in :attr:`~ipv8.community.Community.drop_counts` under a ``trustchain-...`` reason.

**Durability and speed.** With ``commit_batching`` (the default) the blocks stored during one reactor turn
share one database transaction, committed on the next turn or once ``commit_batch_size`` blocks wait
(:mod:`.plumbing`); a commit costs far more than an insert. A block of our own chain is sent, and a Deferred
of :meth:`TrustChainCommunity.sign_block` fires, only after that commit: a node killed at any moment never
restarts without a block somebody else already received, so it cannot sign a second block with the same
sequence number by accident. Blocks that are already stored are not checked a second time (participants get
each pair back by broadcast), nor are the signatures of blocks we just signed. The database answers the
lookups of a pair (our latest block, the neighbours and counterparts of each block) from the ends of the
chains it keeps in memory (:mod:`.chaincache`); message 1, the one a pair is made of, is read and written
without the generic serializer (same bytes).
"""
from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred, ensureDeferred, fail, gatherResults, succeed
from twisted.internet.defer import TimeoutError as DeferredTimeoutError

from ...bounded import AgedMap
from ...community import Community
from ...lazy_community import lazy_wrapper_unsigned
from ...messaging.payload_headers import GlobalTimeDistributionPayload
from ...messaging.rate_limit import PerSourceRateLimiter
from ...peer import Peer
from ...requestcache import RequestCache
from . import TrustChainError
from .block import ANY_COUNTERPARTY_PK, GENESIS_SEQ, UNKNOWN_SEQ, BlockFormatError, TrustChainBlock, ValidationResult
from .caches import CrawlRequestCache, HalfBlockSignCache, SignRetryTimer
from .crawling import (_INTRO_CRAWL_INTERVAL, DROP_TC_BUSY, DROP_TC_RATE_LIMITED, DROP_TC_UNSOLICITED_CRAWL,
                       ChainCrawling)
from .database import BlockConflictError, TrustChainDB
from .encoding import TransactionEncodeError
from .fraud import FraudProof
from .gossip import DROP_TC_DUPLICATE_BROADCAST, BlockGossip
from .memory import validate_batch
from .plumbing import UNIVERSAL_BLOCK_LISTENER, BlockListeners, CommitBatching
from .payload import (BLOCK_FIELDS, CrawlRequestPayload, CrawlResponsePayload, EmptyCrawlResponsePayload,
                      HalfBlockBroadcastPayload, HalfBlockPairBroadcastPayload, HalfBlockPairPayload,
                      HalfBlockPayload)
from .reputation import Reputation
from .settings import TrustChainSettings

if TYPE_CHECKING:
    from ...types import Address
    from .listener import BlockListener

__all__ = ["DROP_TC_BUSY", "DROP_TC_DUPLICATE_BROADCAST", "DROP_TC_FRAUDSTER", "DROP_TC_INVALID_BLOCK",
           "DROP_TC_MALFORMED_BLOCK", "DROP_TC_NOT_SIGNED", "DROP_TC_RATE_LIMITED", "DROP_TC_UNSOLICITED_CRAWL",
           "UNIVERSAL_BLOCK_LISTENER", "TrustChainCommunity", "TrustChainCrawler", "TrustChainTestnetCommunity",
           "TrustChainTestnetCrawler"]

DROP_TC_MALFORMED_BLOCK = "trustchain-malformed-block"
DROP_TC_INVALID_BLOCK = "trustchain-invalid-block"
DROP_TC_FRAUDSTER = "trustchain-fraudster"
DROP_TC_NOT_SIGNED = "trustchain-not-countersigned"


#: Where the block starts in message 1 (after prefix, message id and global time) and where its type length is.
_BLOCK_AT = 22 + 1 + 8
_TYPE_AT = _BLOCK_AT + 74 + 4 + 74 + 4 + 32 + 64
_LINK_SEQUENCE_AT = _BLOCK_AT + 74 + 4 + 74
_HALF_BLOCK_ID = bytes((HalfBlockPayload.msg_id,))
_GLOBAL_TIME = struct.Struct(">Q")


class TrustChainCommunity(BlockListeners, CommitBatching, ChainCrawling, BlockGossip, Community):
    """The TrustChain overlay; see the module documentation."""

    community_id = bytes.fromhex("5ad767b05ae592a02488272ca2a86b847d4562e1")
    settings_class = TrustChainSettings
    DB_CLASS = TrustChainDB

    def __init__(self, settings: TrustChainSettings) -> None:
        """Open the database and register the seven TrustChain messages."""
        super().__init__(settings)
        self.settings = settings
        self.request_cache = RequestCache(self._reactor)
        self.persistence = self.DB_CLASS(self._db_path(settings), clock=self._reactor)
        self.my_public_key_bin: bytes = self.my_peer.public_key.key_to_bin()
        self.listeners_map: dict[bytes, list[BlockListener]] = {}
        #: Scores of other keys from our point of view (:mod:`.reputation`), cached for a few seconds.
        self.reputation = Reputation(self)
        self.shutting_down = False
        #: Broadcast block hashes already handled (checked once, relayed once).
        self.seen_broadcasts: AgedMap[bytes, None] = AgedMap(settings.broadcast_seen_size,
                                                             settings.broadcast_seen_ttl)
        #: Hashes of proposals addressed to us that we are deciding about right now.
        self._deciding: set[bytes] = set()
        self._crawls: set[CrawlRequestCache] = set()
        #: The Deferreds of our proposals that wait for a countersignature.
        self._signatures: set[Deferred] = set()
        #: Our proposals sent and waiting for their agreement, by sequence number.
        self._sign_caches: dict[int, HalfBlockSignCache] = {}
        #: The one timer that resends (or gives up) the proposals of :attr:`_sign_caches` at their deadlines.
        self.sign_retry_timer = SignRetryTimer(self, self._sign_caches)
        #: Work waiting for the open batch of writes to be committed
        #: (see :meth:`~.plumbing.CommitBatching.after_commit`).
        self._after_commit: list[Callable[[], object]] = []
        self._commit_call: Any = None
        #: Blocks written into the open batch (see ``commit_batch_size``).
        self._batch_blocks = 0
        #: Peers made for the proposers we countersign for, by (key, address): making one loads the key.
        self._proposers: dict[tuple[bytes, Address], Peer] = {}
        #: Public keys whose whole chain we are crawling now.
        self._chain_crawls: set[bytes] = set()
        #: Peers we crawled after an introduction lately (mid -> None).
        self._intro_crawled: AgedMap[bytes, None] = AgedMap(4096, _INTRO_CRAWL_INTERVAL)
        rate = settings.broadcast_rate_limit
        self._block_limiter = PerSourceRateLimiter(rate, 2 * rate, 8 * rate, 16 * rate)
        rate = settings.crawl_rate_limit
        self._crawl_limiter = PerSourceRateLimiter(rate, 2 * rate, 10 * rate, 20 * rate)

        self.add_message_handler(HalfBlockPayload, self._received_half_block_packet)
        self.add_message_handler(CrawlRequestPayload, self.received_crawl_request)
        self.add_message_handler(CrawlResponsePayload, self.received_crawl_response)
        self.add_message_handler(HalfBlockPairPayload, self.received_half_block_pair)
        self.add_message_handler(HalfBlockBroadcastPayload, self.received_half_block_broadcast)
        self.add_message_handler(HalfBlockPairBroadcastPayload, self.received_half_block_pair_broadcast)
        self.add_message_handler(EmptyCrawlResponsePayload, self.received_empty_crawl_response)
        self.register_task("db_cleanup", self.do_db_cleanup, interval=settings.db_cleanup_interval)

    @staticmethod
    def _db_path(settings: TrustChainSettings) -> str:
        if settings.working_directory == ":memory:":
            return ":memory:"
        directory = Path(settings.working_directory) / "sqlite"
        directory.mkdir(parents=True, exist_ok=True)
        return str(directory / f"{settings.db_name}.db")

    def unload(self) -> Deferred:
        """Fail our pending signature requests, end our crawls, stop and close the database."""
        self.commit()
        self.shutting_down = True
        sign_caches = list(self._sign_caches.values())
        self._sign_caches.clear()
        self.sign_retry_timer.stop()
        for sign_cache in sign_caches:
            sign_cache.stop()
            if not sign_cache.deferred.called:
                sign_cache.deferred.errback(TrustChainError("the TrustChain community is shutting down"))
        for cache in self.request_cache.clear():
            if isinstance(cache, CrawlRequestCache) and not cache.deferred.called:
                cache.deferred.callback(cache.blocks)
        stopped = gatherResults([self.request_cache.shutdown(), super().unload()], consumeErrors=True)
        return stopped.addCallback(lambda _: self.persistence.close())

    def do_db_cleanup(self) -> None:
        """Prune the oldest blocks of other chains once the database holds more than ``max_db_blocks``."""
        self.persistence.prune(self.settings.max_db_blocks, self.my_public_key_bin)

    def _now_ms(self) -> int:
        return round(self.clock.seconds() * 1000)

    # -- signing --------------------------------------------------------------------------------------------

    def sign_block(self, peer: Peer | None, public_key: bytes | None = None,
                   block_type: bytes = b"unknown", transaction: Any = None,
                   linked: TrustChainBlock | None = None, additional_info: Any = None) -> Deferred:
        """Append a block to our chain and have it countersigned.

        Without ``linked`` the block is a proposal of ``block_type``/``transaction`` to ``public_key``
        (default: ``peer``'s key); it is sent to ``peer`` and the Deferred fires with ``(proposal,
        agreement)`` once the agreement is back (or fails with :class:`TrustChainError`). With ``peer`` None
        and no ``public_key`` the block is a *source* block anybody may link to; it fires with ``(block,
        None)`` at once. With ``linked`` (a proposal addressed to us) the block is our agreement; it is sent to
        ``peer`` and the Deferred fires with ``(linked, agreement)`` at once.
        """
        try:
            block = self._append_block(peer, public_key, block_type, transaction, linked, additional_info)
        except (TrustChainError, BlockFormatError, TransactionEncodeError, BlockConflictError) as exc:
            return fail(exc)
        outcome: Deferred = Deferred()
        if peer is not None and linked is None and peer.mid != self.my_peer.mid:
            self._signatures.add(outcome)
            outcome.addBoth(self._signature_done, outcome)
        # Nobody sees a block of our chain before it is durable: a crash must not let us sign another
        # block with the same sequence number after someone received this one.
        self.after_commit(lambda: self._publish(block, peer, linked, outcome))
        return outcome

    def _publish(self, block: TrustChainBlock, peer: Peer | None, linked: TrustChainBlock | None,
                 outcome: Deferred) -> None:
        """Send our (committed) new block where it has to go and fire ``outcome`` when that is done."""
        broadcast = block.type not in self.settings.block_types_bc_disabled
        if peer is None:
            if broadcast:
                self.send_block(block)
            outcome.callback((block, None))
            return
        if peer.mid == self.my_peer.mid:
            # A link in our own chain (create_link): nobody else needs to sign.
            outcome.callback((linked, block) if linked is not None else (block, None))
            return
        self.send_block(block, address=peer.address)
        if linked is not None:
            if broadcast:
                self.send_block_pair(linked, block)
            outcome.callback((linked, block))
            return
        if broadcast:
            self.send_block(block)
        if self.shutting_down:
            outcome.errback(TrustChainError("the TrustChain community is shutting down"))
            return
        # The cache fires the caller's Deferred itself: no second Deferred chained to it for every pair.
        cache = HalfBlockSignCache(self, block, peer.address, deferred=outcome)
        previous = self._sign_caches.pop(cache.number, None)
        if previous is not None:
            previous.stop()
        self._sign_caches[cache.number] = cache
        cache.start()

    def pop_sign_cache(self, number: int) -> HalfBlockSignCache | None:
        """Stop waiting for the agreement to our proposal ``number``; the cache, or None if none waits."""
        cache = self._sign_caches.pop(number, None)
        if cache is not None:
            cache.stop()
        return cache

    def _signature_done(self, result: object, deferred: Deferred) -> object:
        self._signatures.discard(deferred)
        return result

    def _append_block(self, peer: Peer | None, public_key: bytes | None, block_type: bytes, transaction: Any,
                      linked: TrustChainBlock | None, additional_info: Any) -> TrustChainBlock:
        """Create, sign, check and store our next block (the checks of :meth:`sign_block`)."""
        if self.shutting_down:
            raise TrustChainError("the TrustChain community is shutting down")
        if linked is not None:
            if transaction is not None:
                raise TrustChainError("give either a linked block or a transaction, not both")
            if linked.link_public_key not in (self.my_public_key_bin, ANY_COUNTERPARTY_PK):
                raise TrustChainError("cannot countersign a block that is not addressed to us")
            if linked.link_sequence_number != UNKNOWN_SEQ:
                raise TrustChainError("cannot countersign a block that is not a proposal")
            public_key = linked.public_key
        elif additional_info is not None:
            raise TrustChainError("additional_info is only for countersigning a linked block")
        if public_key is None:
            public_key = ANY_COUNTERPARTY_PK if peer is None else peer.public_key.key_to_bin()
        if peer is None and (linked is not None or public_key != ANY_COUNTERPARTY_PK):
            raise TrustChainError("only a source block (any counterparty) may be created without a peer")
        if linked is None and peer is not None and peer.mid != self.my_peer.mid and \
                len(self._signatures) >= self.settings.max_pending_signatures:
            raise TrustChainError(f"too many proposals wait for a countersignature "
                                  f"({self.settings.max_pending_signatures})")
        if linked is not None and linked.link_public_key != ANY_COUNTERPARTY_PK:
            block_type = linked.type
        now_ms = self._now_ms()
        with self.persistence.sharing():
            block = self.get_block_class(block_type).create(block_type, transaction, self.persistence,
                                                            self.my_public_key_bin, link=linked,
                                                            additional_info=additional_info, link_pk=public_key,
                                                            timestamp=now_ms)
            block.sign(self.my_peer.key)
            # We just signed it with our own key: checking that signature again would only cost time.
            result = block.validate(self.persistence, now_ms=now_ms, max_future_ms=self.settings.max_future_ms,
                                    signature_valid=True)
        if result.state not in (ValidationResult.valid, ValidationResult.partial_next):
            raise TrustChainError(f"our own block does not validate: {result!r}")
        self.store_block(block)
        self.notify_listeners(block)
        return block

    def create_source_block(self, block_type: bytes = b"unknown", transaction: Any = None) -> Deferred:
        """A block that anybody may link to later (:meth:`create_link`); fires with ``(block, None)``."""
        return self.sign_block(None, ANY_COUNTERPARTY_PK, block_type, transaction)

    def create_link(self, source: TrustChainBlock, block_type: bytes, additional_info: Any = None,
                    public_key: bytes | None = None) -> Deferred:
        """Link to a source block in our own chain; fires with ``(source, link)``."""
        return self.sign_block(self.my_peer, public_key, block_type, linked=source, additional_info=additional_info)

    # -- sending --------------------------------------------------------------------------------------------

    def _pack(self, payload: Any) -> bytes:
        return self._ez_pack(self._prefix, payload.msg_id,
                             [GlobalTimeDistributionPayload(self.claim_global_time()), payload], False)

    def _broadcast_targets(self) -> list[Peer]:
        peers = self.get_peers()
        return random.sample(peers, min(len(peers), self.settings.broadcast_fanout)) if peers else []

    def send_block(self, block: TrustChainBlock, address: Address | None = None, ttl: int = 1) -> None:
        """Send ``block`` to ``address`` (message 1), or broadcast it with ``ttl`` (message 5)."""
        if address is not None:
            # Message 1 is the prefix, the id, the global time and the block in its own packed layout.
            self.endpoint.send(address, b"".join((self._prefix, _HALF_BLOCK_ID,
                                                  _GLOBAL_TIME.pack(self.claim_global_time()), block.pack())))
            return
        self.seen_broadcasts.set(block.hash, None, self.clock.seconds())
        targets = self._broadcast_targets()
        if targets:
            packet = self._pack(HalfBlockBroadcastPayload.from_half_block(block, ttl))
            for peer in targets:
                self.endpoint.send(peer.address, packet)

    def send_block_pair(self, block1: TrustChainBlock, block2: TrustChainBlock, address: Address | None = None,
                        ttl: int = 1) -> None:
        """Send a proposal and its agreement to ``address`` (message 4), or broadcast them (message 6)."""
        if address is not None:
            self.endpoint.send(address, self._pack(HalfBlockPairPayload.from_half_blocks(block1, block2)))
            return
        self.seen_broadcasts.set(block1.hash + block2.hash, None, self.clock.seconds())
        targets = self._broadcast_targets()
        if targets:
            packet = self._pack(HalfBlockPairBroadcastPayload.from_half_blocks(block1, block2, ttl))
            for peer in targets:
                self.endpoint.send(peer.address, packet)

    # -- receiving blocks -----------------------------------------------------------------------------------

    def _allow_block_message(self, source_address: Address) -> bool:
        if self._block_limiter.allow(source_address[0], self.clock.seconds()):
            return True
        self.drop_counts[DROP_TC_RATE_LIMITED] += 1
        return False

    def _block_from(self, payload: Any, suffix: str = "") -> TrustChainBlock | None:
        """The block in a payload (fields named with ``suffix``), or None (counted) if it is malformed."""
        values = [getattr(payload, name + suffix) for name in BLOCK_FIELDS]
        try:
            return self.get_block_class(values[6]).from_fields(values)
        except BlockFormatError as exc:
            self.drop_counts[DROP_TC_MALFORMED_BLOCK] += 1
            self.logger.debug("Dropping a malformed block: %s", exc)
            return None

    def validate_persist_block(self, block: TrustChainBlock) -> ValidationResult:
        """Validate ``block``; store it (and tell the listeners) unless it is invalid. Returns the verdict.

        A fraud proof found on the way is stored and spread.
        """
        # A stored block had its signature checked when it came in: identical bytes need no second check
        # (participants get every pair back by broadcast; this halves their signature work).
        known = self.persistence.contains(block)
        with self.persistence.sharing():
            result = block.validate(self.persistence, now_ms=self._now_ms(), max_future_ms=self.settings.max_future_ms,
                                    signature_valid=True if known else None)
        if result.fraud_proof is not None:
            self.record_fraud_proof(result.fraud_proof)
        if not result.acceptable:
            self.drop_counts[DROP_TC_INVALID_BLOCK] += 1
            self.logger.debug("Refusing block %r: %s", block, result.codes)
            return result
        if not known:
            self.store_block(block)
            self.notify_listeners(block)
        return result

    def validate_persist_blocks(self, blocks: list[TrustChainBlock]) -> list[ValidationResult]:
        """:meth:`validate_persist_block` for many blocks at once (a crawl answer), with the same verdicts.

        The stored blocks they meet are read in a few range queries and the blocks are judged in memory
        (:func:`~.memory.validate_batch`); the new ones are written with one statement per block in the
        current batch. Blocks of a class with its own rules, or spread too far for range queries, go one by
        one.
        """
        context = None
        if len(blocks) > 1 and all(type(block) is TrustChainBlock for block in blocks):
            context = self.persistence.get_validation_context(blocks)
        if context is None:
            return [self.validate_persist_block(block) for block in blocks]
        verdicts = validate_batch(blocks, context, now_ms=self._now_ms(), max_future_ms=self.settings.max_future_ms)
        new: dict[bytes, TrustChainBlock] = {}
        for block, (result, known) in zip(blocks, verdicts):
            if result.fraud_proof is not None:
                self.record_fraud_proof(result.fraud_proof)
            if not result.acceptable:
                self.drop_counts[DROP_TC_INVALID_BLOCK] += 1
            elif not known:
                new.setdefault(block.hash, block)
        for block in new.values():
            self.store_block(block)
        for block in new.values():
            self.notify_listeners(block)
        return [result for result, _ in verdicts]

    def _validate_persist_pair(self, block1: TrustChainBlock, block2: TrustChainBlock) -> None:
        """Validate a proposal and its agreement; store them in one transaction when both may be stored."""
        result1 = self.validate_persist_block(block1)
        if result1.acceptable:
            self.validate_persist_block(block2)

    def record_fraud_proof(self, proof: FraudProof) -> None:
        """Store a verified fraud proof; the first time, broadcast both blocks so that others see it too."""
        if self.persistence.add_fraud_proof(proof):
            self.logger.warning("Fraud by %s: %s", proof.offender.hex()[-8:], proof.kind)
            for block in (proof.block1, proof.block2):
                self.send_block(block, ttl=self.settings.max_broadcast_ttl)

    def _received_half_block_packet(self, source_address: Address, data: bytes) -> None:
        """Message 1 without the generic payload machinery: the block is read straight from the packet
        (prefix, message id and global time come first) and hashed over the received bytes. Anything
        unusual goes through the generic decoder, which says what is wrong (and is counted as before)."""
        if not self._allow_block_message(source_address):
            return
        type_length = data[_TYPE_AT:_TYPE_AT + 4]
        type_end = _TYPE_AT + 4 + int.from_bytes(type_length, "big")
        block_class = self.get_block_class(bytes(data[_TYPE_AT + 4:type_end])) if len(type_length) == 4 \
            else TrustChainBlock
        block = None
        if block_class.__init__ is TrustChainBlock.__init__:
            # An agreement to one of our waiting proposals repeats its transaction: bytes equal to those we
            # encoded, signed and stored ourselves bring no new input and are decoded on first use only.
            cache = self._sign_caches.get(int.from_bytes(data[_LINK_SEQUENCE_AT:_LINK_SEQUENCE_AT + 4], "big")) \
                if self._sign_caches else None
            block = block_class.from_packed(data, _BLOCK_AT,
                                            cache.block.encoded_transaction if cache is not None else None)
        if block is None:
            _, payload = self.serializer.unpack_serializable_list([GlobalTimeDistributionPayload, HalfBlockPayload],
                                                                  data, offset=_BLOCK_AT - 8)
            block = self._block_from(payload)
        if block is not None:
            outcome = self._process_half_block(block, source_address)
            if outcome is not None:
                outcome.addErrback(lambda _: None)
            self._commit_if_full()

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, HalfBlockPayload)
    def received_half_block(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                            payload: HalfBlockPayload) -> None:
        """A proposal for us or the agreement to one of ours (message 1)."""
        if not self._allow_block_message(source_address):
            return
        block = self._block_from(payload)
        if block is not None:
            outcome = self._process_half_block(block, source_address)
            if outcome is not None:
                outcome.addErrback(lambda _: None)
            self._commit_if_full()

    def process_half_block(self, block: TrustChainBlock, source_address: Address) -> Deferred:
        """Validate and store ``block``; complete our proposal it agrees to, or countersign it if it is a
        proposal to us that a listener wants signed. Fails with :class:`TrustChainError` if it is invalid."""
        outcome = self._process_half_block(block, source_address)
        return succeed(None) if outcome is None else outcome

    def _process_half_block(self, block: TrustChainBlock, source_address: Address) -> Deferred | None:
        """:meth:`process_half_block`, with None for "done, nothing to wait for": the agreements to our
        proposals and the blocks for others (most messages) then cost no Deferred."""
        result = self.validate_persist_block(block)
        if not result.acceptable:
            return fail(TrustChainError(f"block did not validate: {result.codes}"))
        if block.link_public_key == self.my_public_key_bin and block.link_sequence_number != UNKNOWN_SEQ:
            self._complete_proposal(block)
            return None
        if block.link_public_key != self.my_public_key_bin or block.link_sequence_number != UNKNOWN_SEQ:
            return None
        with self.persistence.sharing():
            ours = [linked for linked in self.persistence.get_all_linked(block)
                    if linked.public_key == self.my_public_key_bin]
        if ours:
            # We signed it already: our agreement got lost on the way, send it again (once it is durable:
            # it may still be in the open batch if the proposal came twice in one turn).
            self.after_commit(lambda: self.send_block(ours[0], address=source_address))
            return None
        if self.persistence.did_double_spend(block.public_key):
            self.drop_counts[DROP_TC_FRAUDSTER] += 1
            return None
        if block.hash in self._deciding:
            return None
        if len(self._deciding) >= self.settings.max_pending_countersigns:
            self.drop_counts[DROP_TC_BUSY] += 1
            return None
        verdict = self._ask_listeners(block)
        if not isinstance(verdict, Deferred) and (result.state in (ValidationResult.valid,
                                                                   ValidationResult.partial_next)
                                                  or self.settings.validation_range <= 0):
            # Decided on the spot, with nothing to fetch first: countersign without coroutine or timeout.
            if not verdict:
                self.drop_counts[DROP_TC_NOT_SIGNED] += 1
                return None
            return self.sign_block(self._proposer(block, source_address), linked=block)
        self._deciding.add(block.hash)
        deciding = ensureDeferred(self._decide(block, source_address, result,
                                               verdict if isinstance(verdict, Deferred) else succeed(verdict)))
        return deciding.addBoth(self._decided, block.hash)

    def _proposer(self, block: TrustChainBlock, source_address: Address) -> Peer:
        """A Peer for the author of ``block`` at ``source_address`` (remembered: making one loads the key)."""
        place = (block.public_key, source_address)
        peer = self._proposers.get(place)
        if peer is None:
            if len(self._proposers) >= 1024:
                self._proposers.pop(next(iter(self._proposers)))
            peer = self._proposers[place] = Peer(block.public_key, source_address, clock=self.clock)
        return peer

    def _decided(self, outcome: object, block_hash: bytes) -> object:
        self._deciding.discard(block_hash)
        return outcome

    async def _decide(self, block: TrustChainBlock, source_address: Address, result: ValidationResult,
                      verdict: Deferred) -> None:
        # A listener that never answers must not hold one of the max_pending_countersigns places for ever.
        verdict.addTimeout(self.settings.decision_timeout, self.clock)
        try:
            agreed = await verdict
        except DeferredTimeoutError:
            agreed = False
        if not agreed:
            self.drop_counts[DROP_TC_NOT_SIGNED] += 1
            return
        proposer = self._proposer(block, source_address)
        if result.state not in (ValidationResult.valid, ValidationResult.partial_next) \
                and self.settings.validation_range > 0:
            # Gaps before a proposal cannot be tolerated: fetch the blocks before it, then judge again.
            await self.send_crawl_request(proposer, block.public_key,
                                          max(GENESIS_SEQ, block.sequence_number - self.settings.validation_range),
                                          max(GENESIS_SEQ, block.sequence_number - 1))
            result = block.validate(self.persistence, now_ms=self._now_ms(),
                                    max_future_ms=self.settings.max_future_ms)
            if result.state not in (ValidationResult.valid, ValidationResult.partial_next):
                self.drop_counts[DROP_TC_NOT_SIGNED] += 1
                self.logger.info("Not countersigning %r: its predecessor is still unknown (%s)", block, result)
                return
        if self.shutting_down or any(linked.public_key == self.my_public_key_bin
                                     for linked in self.persistence.get_all_linked(block)):
            return
        await self.sign_block(proposer, linked=block)

    def _complete_proposal(self, agreement: TrustChainBlock) -> None:
        cache = self._sign_caches.get(agreement.link_sequence_number)
        if cache is None:
            return
        proposal = cache.block
        if proposal.link_public_key not in (agreement.public_key, ANY_COUNTERPARTY_PK):
            return
        self.pop_sign_cache(agreement.link_sequence_number)
        # The caller learns of the agreement once it is durable on our side.
        self.after_commit(lambda: cache.deferred.called or cache.deferred.callback((proposal, agreement)))

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, HalfBlockPairPayload)
    def received_half_block_pair(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                                 payload: HalfBlockPairPayload) -> None:
        """A proposal and its agreement (message 4)."""
        if not self._allow_block_message(source_address):
            return
        block1, block2 = self._block_from(payload, "1"), self._block_from(payload, "2")
        if block1 is not None and block2 is not None:
            self._validate_persist_pair(block1, block2)
            self._commit_if_full()


class TrustChainCrawler(TrustChainCommunity):
    """A TrustChain node that fetches the whole chain of every peer it walks to (1.x's crawler settings:
    ``crawler`` on, ``max_db_blocks`` a billion)."""

    def __init__(self, settings: TrustChainSettings) -> None:
        """Switch the crawler settings on, then start as a normal TrustChain node."""
        settings.crawler = True
        if settings.max_db_blocks == TrustChainSettings.max_db_blocks:
            settings.max_db_blocks = 1_000_000_000
        super().__init__(settings)


class TrustChainTestnetCommunity(TrustChainCommunity):
    """The TrustChain test network of 1.x (another community id)."""

    community_id = bytes.fromhex("5e97ff4ef08998ee2fd2ce6b7a569cc4f7d27c37")


class TrustChainTestnetCrawler(TrustChainCrawler):
    """:class:`TrustChainCrawler` on the test network."""

    community_id = TrustChainTestnetCommunity.community_id
