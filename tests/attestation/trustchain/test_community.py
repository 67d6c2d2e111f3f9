"""TrustChainCommunity on the in-memory internet: signing pairs, listeners, crawls, broadcasts and fraud.

Every overlay runs on one :class:`~twisted.internet.task.Clock` (packets still travel on the reactor), so
retries and timeouts fire only when a test moves it.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock

from ipv8.attestation.trustchain import TrustChainError
from ipv8.attestation.trustchain.block import (
    GENESIS_HASH,
    FraudProof,
    TrustChainBlock,
    ValidationResult,
)
from ipv8.attestation.trustchain.community import (
    TrustChainCrawler,
    DROP_TC_FRAUDSTER,
    DROP_TC_NOT_SIGNED,
    UNIVERSAL_BLOCK_LISTENER,
    TrustChainCommunity,
)
from ipv8.attestation.trustchain.listener import BlockListener
from ipv8.attestation.trustchain.settings import TrustChainSettings
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8

START = 1_700_000_000.0


class Recorder(BlockListener):
    """Signs what ``verdict`` says (a bool or a Deferred) and records every block it hears of."""

    def __init__(self, verdict: Any = True) -> None:
        self.verdict = verdict
        self.asked: list[TrustChainBlock] = []
        self.received: list[TrustChainBlock] = []

    def should_sign(self, block: TrustChainBlock) -> Any:
        self.asked.append(block)
        return self.verdict

    def received_block(self, block: TrustChainBlock) -> None:
        self.received.append(block)


class TrustChainTestCase(TestBase[TrustChainCommunity]):
    """Nodes that all know each other; subclasses pick the number and the settings."""

    NODES = 2
    SETTINGS: dict[str, Any] = {}

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.clock.advance(START)
        self.initialize(TrustChainCommunity, self.NODES)
        return result

    def create_node(self, settings: Any = None, create_dht: bool = False,
                    enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8(self.DEFAULT_KEY_LEVEL, TrustChainCommunity,
                        TrustChainSettings(clock=self.clock, **self.SETTINGS), internet=self.internet)

    def db(self, i: int) -> Any:
        return self.overlay(i).persistence

    def listen(self, i: int, verdict: Any = True, block_type: bytes = b"test") -> Recorder:
        recorder = Recorder(verdict)
        self.overlay(i).add_listener(recorder, [block_type])
        return recorder

    async def sign(self, proposer: int, signer: int, transaction: Any = None,
                   block_type: bytes = b"test") -> tuple[TrustChainBlock, TrustChainBlock]:
        signed = self.overlay(proposer).sign_block(self.peer(signer), block_type=block_type,
                                                   transaction=transaction or {"n": 1})
        await self.deliver_messages()
        self.assertTrue(signed.called, "the proposal was not countersigned")
        return await signed

    async def retry_until(self, deferred: Deferred, rounds: int = 10) -> None:
        """Move the clock one retry interval at a time until ``deferred`` fired."""
        for _ in range(rounds):
            if deferred.called:
                return
            self.clock.advance(TrustChainSettings.sign_retry_interval)
            await self.deliver_messages()


class TestSigning(TrustChainTestCase):
    """Two nodes sign pairs."""

    async def test_sign_pair(self) -> None:
        recorder = self.listen(1)
        proposal, agreement = await self.sign(0, 1, {"up": 10, "down": 3})
        self.assertEqual(proposal.public_key, self.key_bin(0))
        self.assertEqual(proposal.link_public_key, self.key_bin(1))
        self.assertTrue(proposal.is_proposal)
        self.assertEqual((agreement.public_key, agreement.link_public_key), (self.key_bin(1), self.key_bin(0)))
        self.assertEqual(agreement.link_sequence_number, proposal.sequence_number)
        self.assertEqual(agreement.transaction, {"up": 10, "down": 3})
        for i in range(2):
            self.assertTrue(self.db(i).contains(proposal))
            self.assertTrue(self.db(i).contains(agreement))
        self.assertEqual(recorder.asked, [proposal])
        self.assertEqual(set(recorder.received), {proposal, agreement})
        self.assertEqual(agreement.validate(self.db(0)).state, ValidationResult.partial_next)

    async def test_chains_grow_both_ways(self) -> None:
        self.listen(0)
        self.listen(1)
        for round_ in range(3):
            await self.sign(0, 1, {"round": round_})
            await self.sign(1, 0, {"round": round_})
        for i in range(2):
            self.assertEqual(self.overlay(i).get_chain_length(), 6)
            for block in self.db(i).get_all_blocks():
                self.assertIn(block.validate(self.db(i)).state,
                              (ValidationResult.valid, ValidationResult.partial_next))
        self.assertEqual(self.db(0).get_number_of_known_blocks(), 12)

    async def test_should_sign_may_be_a_deferred(self) -> None:
        verdict: Deferred = Deferred()
        self.listen(1, verdict)
        signed = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 1})
        await self.deliver_messages()
        self.assertFalse(signed.called)
        verdict.callback(True)
        await self.deliver_messages()
        proposal, agreement = await signed
        self.assertEqual(agreement.link_sequence_number, proposal.sequence_number)

    async def test_no_listener_no_signature(self) -> None:
        signed = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 1})
        await self.deliver_messages()
        self.assertFalse(signed.called)
        self.assertEqual(self.overlay(1).get_chain_length(), 0)
        self.assertGreaterEqual(self.overlay(1).drop_counts[DROP_TC_NOT_SIGNED], 1)
        await self.retry_until(signed)
        with self.assertRaises(TrustChainError):
            await signed
        self.assertEqual(self.overlay(1).get_chain_length(), 0)
        # Every send of the proposal was refused again, none signed.
        self.assertEqual(self.overlay(1).drop_counts[DROP_TC_NOT_SIGNED], TrustChainSettings.sign_attempts)

    async def test_refusing_listener(self) -> None:
        recorder = self.listen(1, verdict=False)
        signed = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 1})
        await self.deliver_messages()
        self.assertFalse(signed.called)
        self.assertEqual(len(recorder.asked), 1)
        # The refused proposal is still stored (it is a valid block of node 0's chain).
        self.assertEqual(len(recorder.received), 1)
        await self.retry_until(signed)
        self.assertFailure(signed, TrustChainError)
        await signed

    async def test_lost_agreement_is_sent_again(self) -> None:
        self.listen(1)
        self.internet.set_link(self.address(1), self.address(0), loss=1.0)
        signed = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 1})
        await self.deliver_messages()
        self.assertEqual(self.overlay(1).get_chain_length(), 1)  # node 1 signed, the answer was lost
        self.internet.set_link(self.address(1), self.address(0), loss=0.0)
        await self.retry_until(signed)
        proposal, agreement = await signed
        self.assertEqual(self.overlay(1).get_chain_length(), 1)  # signed once, sent twice
        self.assertTrue(self.db(0).contains(agreement))

    async def test_universal_listener_hears_everything(self) -> None:
        self.listen(1)
        universal = Recorder(False)
        self.overlay(0).add_listener(universal, [UNIVERSAL_BLOCK_LISTENER])
        proposal, agreement = await self.sign(0, 1)
        self.assertEqual(universal.received, [proposal, agreement])

    async def test_source_block_and_link(self) -> None:
        source, nothing = await self.overlay(0).create_source_block(b"test", {"offer": 5})
        self.assertIsNone(nothing)
        await self.deliver_messages()
        self.assertTrue(self.db(1).contains(source))  # broadcast
        linked, link = await self.overlay(1).sign_block(self.peer(1), linked=source, block_type=b"test")
        self.assertEqual(linked, source)
        self.assertEqual((link.link_public_key, link.link_sequence_number), (source.public_key, 1))

    async def test_bad_calls_fail_cleanly(self) -> None:
        proposal, _ = await self.overlay(0).create_source_block(b"test", {"offer": 5})
        with self.assertRaises(TrustChainError):
            await self.overlay(0).sign_block(None, self.key_bin(1), block_type=b"test", transaction={})
        with self.assertRaises(TrustChainError):
            await self.overlay(1).sign_block(self.peer(0), linked=proposal, transaction={"x": 1})
        self.listen(1)
        own, agreement = await self.sign(0, 1)
        with self.assertRaises(TrustChainError):  # an agreement is not a proposal
            await self.overlay(0).sign_block(self.peer(1), linked=agreement)


class TestPendingLimit(TrustChainTestCase):
    """Our own waiting proposals are bounded."""

    SETTINGS = {"max_pending_signatures": 2}

    async def test_too_many_pending_proposals(self) -> None:
        first = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 1})
        second = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 2})
        with self.assertRaises(TrustChainError):
            await self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 3})
        self.assertEqual(self.overlay(0).get_chain_length(), 2)  # the refused one was not appended
        await self.overlay(0).unload()
        self.nodes[0].overlays.clear()
        for signed in (first, second):
            with self.assertRaises(TrustChainError):
                await signed


class TestThreeNodes(TrustChainTestCase):
    """Crawling, broadcasts and fraud with a third party."""

    NODES = 3

    async def test_pair_is_broadcast(self) -> None:
        self.listen(1)
        proposal, agreement = await self.sign(0, 1)
        self.assertTrue(self.db(2).contains(proposal))
        self.assertTrue(self.db(2).contains(agreement))

    async def test_crawl_chain(self) -> None:
        self.overlay(0).settings.block_types_bc_disabled = frozenset({b"test"})
        self.overlay(1).settings.block_types_bc_disabled = frozenset({b"test"})
        self.listen(1)
        blocks = set()
        for round_ in range(12):
            blocks.update(await self.sign(0, 1, {"round": round_}))
        self.assertEqual(self.db(2).get_number_of_known_blocks(), 0)
        crawled = self.overlay(2).crawl_chain(self.peer(0))
        await self.deliver_messages()
        self.assertIsNone(await crawled)
        self.assertEqual(self.db(2).get_number_of_known_blocks(self.key_bin(0)), 12)
        self.assertEqual(set(self.db(2).get_all_blocks()), blocks)  # the agreements came along

    async def test_crawl_latest(self) -> None:
        self.listen(1)
        for round_ in range(3):
            await self.sign(0, 1, {"round": round_})
        asked = self.overlay(2).send_crawl_request(self.peer(1), self.key_bin(0), -1, -1)
        await self.deliver_messages()
        latest = await asked
        self.assertEqual([block.sequence_number for block in latest if block.public_key == self.key_bin(0)], [3])

    async def test_crawl_unknown_chain_is_empty(self) -> None:
        asked = self.overlay(2).send_crawl_request(self.peer(1), self.key_bin(0), 1, 5)
        await self.deliver_messages()
        self.assertEqual(await asked, [])

    async def test_proposer_chain_is_crawled_before_signing(self) -> None:
        for i in range(3):
            self.overlay(i).settings.block_types_bc_disabled = frozenset({b"test"})
        self.listen(1)
        self.listen(2)
        await self.sign(0, 1, {"round": 1})
        await self.sign(0, 1, {"round": 2})
        self.assertEqual(self.db(2).get_number_of_known_blocks(), 0)
        proposal, agreement = await self.sign(0, 2, {"round": 3})
        self.assertEqual(proposal.sequence_number, 3)
        # Node 2 fetched the blocks before the proposal (validation_range) before it countersigned.
        self.assertIsNotNone(self.db(2).get(self.key_bin(0), 1))
        self.assertIsNotNone(self.db(2).get(self.key_bin(0), 2))
        self.assertEqual(proposal.validate(self.db(2)).state, ValidationResult.partial_next)

    async def test_introduction_crawls_lowest_unknown(self) -> None:
        self.overlay(0).settings.block_types_bc_disabled = frozenset({b"test"})
        self.overlay(1).settings.block_types_bc_disabled = frozenset({b"test"})
        self.listen(1)
        await self.sign(0, 1)
        self.overlay(2).walk_to(self.address(0))
        await self.deliver_messages()
        self.assertIsNotNone(self.db(2).get(self.key_bin(0), 1))

    async def test_crawler_fetches_whole_chains(self) -> None:
        self.overlay(0).settings.block_types_bc_disabled = frozenset({b"test"})
        self.overlay(1).settings.block_types_bc_disabled = frozenset({b"test"})
        self.listen(1)
        for round_ in range(25):
            await self.sign(0, 1, {"round": round_})
        crawler = MockIPv8(self.DEFAULT_KEY_LEVEL, TrustChainCrawler, TrustChainSettings(clock=self.clock),
                           internet=self.internet)
        self.add_node_to_experiment(crawler)
        self.assertTrue(crawler.overlay.settings.crawler)
        crawler.overlay.walk_to(self.address(0))
        await self.deliver_messages()
        self.assertEqual(crawler.overlay.persistence.get_number_of_known_blocks(self.key_bin(0)), 25)
        self.assertEqual(crawler.overlay.persistence.get_number_of_known_blocks(), 50)

    def forge_double_sign(self) -> tuple[TrustChainBlock, TrustChainBlock]:
        """Two different genesis blocks of node 0."""
        blocks = []
        for value in (1, 2):
            block = TrustChainBlock(block_type=b"test", encoded_transaction=b"a1d1sn1i%d" % value,
                                    public_key=self.key_bin(0), sequence_number=1, link_public_key=self.key_bin(1),
                                    link_sequence_number=0, previous_hash=GENESIS_HASH, signature=b"0" * 64,
                                    timestamp=round(START * 1000))
            block.sign(self.private_key(0))
            blocks.append(block)
        return blocks[0], blocks[1]

    async def test_double_sign_is_caught_and_spread(self) -> None:
        first, second = self.forge_double_sign()
        self.overlay(0).send_block(first, address=self.address(1))
        await self.deliver_messages()
        self.overlay(0).send_block(second, address=self.address(1))
        await self.deliver_messages()
        proofs = self.db(1).get_fraud_proofs(self.key_bin(0))
        self.assertEqual(proofs, [FraudProof(first, second)])
        self.assertFalse(self.db(1).contains(second))
        # Node 1 broadcast the evidence: node 2 now holds the proof as well.
        self.assertTrue(self.db(2).did_double_spend(self.key_bin(0)))

    async def test_fraudster_is_not_countersigned(self) -> None:
        first, second = self.forge_double_sign()
        self.overlay(0).send_block(first, ttl=1)
        self.overlay(0).send_block(second, ttl=1)
        await self.deliver_messages()
        self.assertTrue(self.db(2).did_double_spend(self.key_bin(0)))
        recorder = self.listen(2)
        block = TrustChainBlock.create(b"test", {"x": 1}, self.db(2), self.key_bin(0), link_pk=self.key_bin(2),
                                       timestamp=round(START * 1000))
        block.sign(self.private_key(0))
        self.overlay(0).send_block(block, address=self.address(2))
        await self.deliver_messages()
        self.assertEqual(recorder.asked, [])
        self.assertGreaterEqual(self.overlay(2).drop_counts[DROP_TC_FRAUDSTER], 1)
        self.assertEqual(self.overlay(2).get_chain_length(), 0)

    async def test_double_countersign_is_caught(self) -> None:
        self.listen(1)
        proposal, agreement = await self.sign(0, 1)
        # Node 1 signs a second, different agreement to the same proposal.
        other = TrustChainBlock.create(b"test", None, self.db(1), self.key_bin(1), link=proposal,
                                       additional_info={"other": True}, timestamp=round(START * 1000))
        other.sign(self.private_key(1))
        self.overlay(1).send_block(other, ttl=1)
        await self.deliver_messages()
        for i in (0, 2):
            self.assertEqual([proof.kind for proof in self.db(i).get_fraud_proofs(self.key_bin(1))],
                             [FraudProof.DOUBLE_COUNTERSIGN])

    async def test_should_sign_helper_with_succeed(self) -> None:
        self.listen(1, succeed(True))
        proposal, agreement = await self.sign(0, 1)
        self.assertTrue(self.db(2).contains(agreement))
