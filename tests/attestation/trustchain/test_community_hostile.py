"""TrustChainCommunity against hostile peers: forged and malformed blocks, crawl abuse, broadcast storms.

Node 0 plays the attacker: it sends packets built by hand through its own endpoint.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from ipv8.attestation.trustchain.block import GENESIS_HASH, TrustChainBlock
from ipv8.attestation.trustchain.community import (
    DROP_TC_NOT_SIGNED,
    DROP_TC_BUSY,
    DROP_TC_DUPLICATE_BROADCAST,
    DROP_TC_INVALID_BLOCK,
    DROP_TC_MALFORMED_BLOCK,
    DROP_TC_RATE_LIMITED,
    DROP_TC_UNSOLICITED_CRAWL,
)
from ipv8.attestation.trustchain.payload import (
    CrawlRequestPayload,
    CrawlResponsePayload,
    EmptyCrawlResponsePayload,
    HalfBlockBroadcastPayload,
    HalfBlockPayload,
)
from ipv8.messaging.payload_headers import GlobalTimeDistributionPayload

from .test_community import START, TrustChainTestCase


class HostileTestCase(TrustChainTestCase):
    """Helpers for the attacker (node 0)."""

    def block(self, seq: int = 1, tx: bytes = b"a0d", link: int = 1, previous: bytes = GENESIS_HASH,
              timestamp: int | None = None) -> TrustChainBlock:
        """A block of node 0's chain, properly signed."""
        block = TrustChainBlock(block_type=b"test", encoded_transaction=tx, public_key=self.key_bin(0),
                                sequence_number=seq, link_public_key=self.key_bin(link), link_sequence_number=0,
                                previous_hash=previous, signature=b"0" * 64,
                                timestamp=round(START * 1000) if timestamp is None else timestamp)
        block.sign(self.private_key(0))
        return block

    def chain(self, length: int) -> list[TrustChainBlock]:
        blocks: list[TrustChainBlock] = []
        for seq in range(1, length + 1):
            blocks.append(self.block(seq, b"a1d1sn1i%d" % (seq % 10), previous=blocks[-1].hash if blocks else
                                     GENESIS_HASH))
        return blocks

    def send(self, target: int, payload: Any) -> None:
        self.endpoint(0).send(self.address(target), self.overlay(0)._pack(payload))

    def silence_crawl_requests(self, i: int) -> None:
        """Node ``i`` ignores crawl requests from now on."""
        self.overlay(i).decode_map[CrawlRequestPayload.msg_id] = lambda *args: None

    def counts(self, i: int) -> Any:
        return self.overlay(i).drop_counts


class TestForgedBlocks(HostileTestCase):
    """Bad blocks never reach the database."""

    async def test_bad_signature(self) -> None:
        block = self.block()
        block.signature = b"\x01" * 64
        self.send(1, HalfBlockPayload.from_half_block(block))
        await self.deliver_messages()
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 0)
        self.assertEqual(self.counts(1)[DROP_TC_INVALID_BLOCK], 1)

    async def test_undecodable_transaction(self) -> None:
        self.send(1, HalfBlockPayload.from_half_block(self.block(tx=b"a99999999l")))
        await self.deliver_messages()
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 0)
        self.assertEqual(self.counts(1)[DROP_TC_MALFORMED_BLOCK], 1)

    async def test_future_timestamp(self) -> None:
        self.send(1, HalfBlockPayload.from_half_block(self.block(timestamp=round(START * 1000) + 3_600_000)))
        await self.deliver_messages()
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 0)
        self.assertEqual(self.counts(1)[DROP_TC_INVALID_BLOCK], 1)

    async def test_genesis_rules(self) -> None:
        self.send(1, HalfBlockPayload.from_half_block(self.block(seq=5, previous=GENESIS_HASH)))
        await self.deliver_messages()
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 0)

    async def test_truncated_packet(self) -> None:
        packet = self.overlay(0)._pack(HalfBlockPayload.from_half_block(self.block()))
        self.endpoint(0).send(self.address(1), packet[:120])
        self.overlay(1).raise_handler_errors = False
        await self.deliver_messages()
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 0)
        self.assertEqual(self.counts(1)["malformed"] + self.counts(1)[DROP_TC_MALFORMED_BLOCK], 1,
                         dict(self.counts(1)))


class TestCrawlAbuse(HostileTestCase):
    """Crawl requests and responses."""

    NODES = 3

    async def test_huge_range_is_one_batch(self) -> None:
        self.db(1).add_blocks(self.chain(40))
        asked = self.overlay(2).send_crawl_request(self.peer(1), self.key_bin(0), 1, 2 ** 31 - 1)
        await self.deliver_messages()
        answers = await asked
        self.assertEqual([block.sequence_number for block in answers], list(range(1, 11)))

    async def test_negative_range(self) -> None:
        self.db(1).add_blocks(self.chain(40))
        asked = self.overlay(2).send_crawl_request(self.peer(1), self.key_bin(0), -2 ** 31, -1)
        await self.deliver_messages()
        self.assertEqual([block.sequence_number for block in await asked], list(range(1, 11)))

    async def test_unsolicited_crawl_response(self) -> None:
        self.send(1, CrawlResponsePayload.from_crawl(self.block(), 1234, 1, 1))
        self.send(1, EmptyCrawlResponsePayload(99))
        await self.deliver_messages()
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 0)
        self.assertEqual(self.counts(1)[DROP_TC_UNSOLICITED_CRAWL], 2)

    async def test_crawl_response_from_someone_else(self) -> None:
        asked = self.overlay(1).send_crawl_request(self.peer(2), self.key_bin(0), 1, 1)
        [crawl_id] = [cache.number for cache in self.overlay(1)._crawls]
        self.send(1, CrawlResponsePayload.from_crawl(self.block(), crawl_id, 1, 1))
        await self.deliver_messages()
        self.assertEqual(self.counts(1)[DROP_TC_UNSOLICITED_CRAWL], 1)
        self.assertEqual(await asked, [])  # node 2's honest (empty) answer ended the crawl

    async def test_endless_crawl_answer_is_capped(self) -> None:
        self.overlay(1).settings.crawl_timeout = 1000.0
        self.silence_crawl_requests(0)
        asked = self.overlay(1).send_crawl_request(self.peer(0), self.key_bin(0), 1, 100)
        [crawl_id] = [cache.number for cache in self.overlay(1)._crawls]
        for block in self.chain(50):
            self.send(1, CrawlResponsePayload.from_crawl(block, crawl_id, block.sequence_number, 2 ** 32 - 1))
        await self.deliver_messages()
        received = await asked
        cap = 2 * self.overlay(1).settings.max_crawl_batch
        self.assertEqual(len(received), cap)
        self.assertEqual(self.db(1).get_number_of_known_blocks(), cap)
        self.assertEqual(self.counts(1)[DROP_TC_UNSOLICITED_CRAWL], 50 - cap)

    async def test_crawl_timeout_fires_with_what_came(self) -> None:
        asked = self.overlay(1).send_crawl_request(self.peer(0), self.key_bin(0), 1, 1)
        self.overlay(0).endpoint.close()
        await self.deliver_messages()
        self.assertFalse(asked.called)
        self.clock.advance(self.overlay(1).settings.crawl_timeout)
        self.assertEqual(await asked, [])
        self.assertEqual(self.overlay(1)._crawls, set())

    async def test_crawl_request_rate_limit(self) -> None:
        self.overlay(1).settings.crawl_rate_limit = 1.0
        self.overlay(1)._crawl_limiter.rate = 1.0
        self.overlay(1)._crawl_limiter.burst = 2
        for _ in range(5):
            self.endpoint(0).send(self.address(1), self.overlay(0).ezr_pack(
                CrawlRequestPayload.msg_id, GlobalTimeDistributionPayload(self.overlay(0).claim_global_time()),
                CrawlRequestPayload(self.key_bin(0), 1, 1, 7)))
        await self.deliver_messages()
        self.assertEqual(self.counts(1)[DROP_TC_RATE_LIMITED], 3)


class TestBroadcastAbuse(HostileTestCase):
    """Storms and replays of broadcasts."""

    NODES = 3
    SETTINGS = {"broadcast_seen_size": 5}

    async def test_duplicates_are_dropped_before_checking(self) -> None:
        block = self.block()
        for _ in range(4):
            self.send(1, HalfBlockBroadcastPayload.from_half_block(block, 1))
        await self.deliver_messages()
        self.assertTrue(self.db(1).contains(block))
        self.assertEqual(self.counts(1)[DROP_TC_DUPLICATE_BROADCAST], 3)

    async def test_ttl_is_clamped(self) -> None:
        relayed: list[int] = []
        original = self.overlay(1).send_block
        self.overlay(1).send_block = lambda block, address=None, ttl=1: (relayed.append(ttl),
                                                                          original(block, address, ttl))
        self.send(1, HalfBlockBroadcastPayload.from_half_block(self.block(), 2 ** 32 - 1))
        await self.deliver_messages()
        self.assertEqual(relayed, [self.overlay(1).settings.max_broadcast_ttl - 1])
        self.assertTrue(self.db(2).contains(self.block()))

    async def test_seen_set_is_bounded(self) -> None:
        for block in self.chain(20):
            self.send(1, HalfBlockBroadcastPayload.from_half_block(block, 1))
        await self.deliver_messages()
        self.assertLessEqual(len(self.overlay(1).seen_broadcasts), 5)
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 20)

    async def test_invalid_broadcast_is_not_relayed(self) -> None:
        block = self.block()
        block.signature = b"\x02" * 64
        self.send(1, HalfBlockBroadcastPayload.from_half_block(block, 3))
        await self.deliver_messages()
        self.assertEqual(self.db(2).get_number_of_known_blocks(), 0)
        self.assertEqual(self.counts(1)[DROP_TC_INVALID_BLOCK], 1)

    async def test_storm_is_rate_limited(self) -> None:
        self.overlay(1)._block_limiter.rate = 1.0
        self.overlay(1)._block_limiter.burst = 10
        for block in self.chain(30):
            self.send(1, HalfBlockBroadcastPayload.from_half_block(block, 1))
        await self.deliver_messages()
        self.assertEqual(self.counts(1)[DROP_TC_RATE_LIMITED], 20)
        self.assertEqual(self.db(1).get_number_of_known_blocks(), 10)


class TestCountersignAbuse(HostileTestCase):
    """Proposals that would make us work or sign."""

    SETTINGS = {"max_pending_countersigns": 2}

    async def test_pending_decisions_are_bounded(self) -> None:
        never: Deferred = Deferred()
        recorder = self.listen(1, never)
        for block in self.chain(5):
            self.send(1, HalfBlockPayload.from_half_block(block))
        await self.deliver_messages()
        self.assertEqual(len(recorder.asked), 2)
        self.assertEqual(self.counts(1)[DROP_TC_BUSY], 3)
        self.assertEqual(self.overlay(1).get_chain_length(), 0)
        # Listeners that never answer count as refusals after decision_timeout: the places are free again.
        self.clock.advance(self.overlay(1).settings.decision_timeout)
        await self.deliver_messages()
        self.assertEqual(self.overlay(1)._deciding, set())
        self.assertEqual(self.counts(1)[DROP_TC_NOT_SIGNED], 2)
        self.assertTrue(never.called)  # the listener's pending answer was cancelled

    async def test_proposal_to_someone_else_is_not_signed(self) -> None:
        recorder = self.listen(1)
        self.send(1, HalfBlockPayload.from_half_block(self.block(link=0)))
        await self.deliver_messages()
        self.assertEqual(recorder.asked, [])
        self.assertEqual(self.overlay(1).get_chain_length(), 0)

    async def test_proposal_with_gap_is_not_signed(self) -> None:
        recorder = self.listen(1)
        blocks = self.chain(3)
        self.silence_crawl_requests(0)  # the attacker will not show blocks 1 and 2
        proposal = blocks[2]
        self.send(1, HalfBlockPayload.from_half_block(proposal))
        await self.deliver_messages()
        self.clock.advance(self.overlay(1).settings.crawl_timeout)
        await self.deliver_messages()
        self.assertEqual(len(recorder.asked), 1)
        self.assertEqual(self.overlay(1).get_chain_length(), 0)
