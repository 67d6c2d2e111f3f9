"""Crawl answers are judged in one batch against a slice of the database: same verdicts, same stored blocks as
block by block; and a chain crawl keeps several ranges in flight without trusting the claimed length."""
from __future__ import annotations

import random
from typing import Any, ClassVar

from twisted.trial import unittest

from ipv8.attestation.trustchain.block import TrustChainBlock
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.memory import MemoryChainStore, validate_batch
from ipv8.keyvault.crypto import default_eccrypto

from .test_community import TrustChainTestCase

TIME_MS = 1_700_000_000_000


class TestBatchEqualsBlockByBlock(unittest.TestCase):

    def setUp(self) -> None:
        self.keys = [default_eccrypto.generate_key("curve25519") for _ in range(4)]
        self.pks = [key.pub().key_to_bin() for key in self.keys]
        self.world = MemoryChainStore()  # every honest block, to build chains from
        self.blocks: list[TrustChainBlock] = []

    def make(self, signer: int, counterparty: int | None = None, link: TrustChainBlock | None = None,
             info: object = None, source: MemoryChainStore | None = None) -> TrustChainBlock:
        block = TrustChainBlock.create(b"test", None if link is not None else {"n": len(self.blocks)},
                                       source or self.world, self.pks[signer], link=link, additional_info=info,
                                       link_pk=None if counterparty is None else self.pks[counterparty],
                                       timestamp=TIME_MS + len(self.blocks))
        block.sign(self.keys[signer])
        if source is None:
            self.world.add(block)
        self.blocks.append(block)
        return block

    def scenario(self) -> None:
        """Pairs between 0 and 1..3, a forged double sign by 0, a double countersign by 2, a bad signature."""
        for round_ in range(12):
            proposal = self.make(0, 1 + round_ % 3)
            if round_ % 4 != 3:  # some proposals stay unanswered
                self.make(1 + round_ % 3, link=proposal)
        proposal_to_2 = next(block for block in self.blocks if block.link_public_key == self.pks[2])
        self.make(2, link=proposal_to_2, info={"again": True}, source=MemoryChainStore())  # double countersign
        self.make(0, 3, source=MemoryChainStore(self.blocks[:3]))  # a second block at a taken place of 0's chain
        honest = self.make(3, 1, source=MemoryChainStore())
        self.blocks.remove(honest)
        self.blocks.append(TrustChainBlock(
            block_type=honest.type, encoded_transaction=honest.encoded_transaction, public_key=honest.public_key,
            sequence_number=honest.sequence_number, link_public_key=honest.link_public_key,
            link_sequence_number=honest.link_sequence_number, previous_hash=honest.previous_hash,
            signature=b"\x01" * 64, timestamp=honest.timestamp))

    def run_both(self, stored: list[TrustChainBlock], incoming: list[TrustChainBlock]) -> set[str]:
        one, batch = TrustChainDB(":memory:"), TrustChainDB(":memory:")
        self.addCleanup(one.close)
        self.addCleanup(batch.close)
        for db in (one, batch):
            db.add_blocks(stored)
        expected = []
        for block in incoming:
            known = one.contains(block)
            result = block.validate(one, signature_valid=True if known else None)
            if result.acceptable and not known:
                one.add_block(block)
            expected.append((result.state, sorted(result.errors), result.fraud_proof))
        context = batch.get_validation_context(incoming)
        self.assertIsNotNone(context)
        verdicts = validate_batch(incoming, context)
        for block, (result, known) in zip(incoming, verdicts):
            if result.acceptable and not known:
                batch.add_block(block)
        self.assertEqual([(result.state, sorted(result.errors), result.fraud_proof) for result, _ in verdicts],
                         expected)
        self.assertEqual(set(batch.get_all_blocks()), set(one.get_all_blocks()))
        return {code for _, errors, _ in expected for code in errors}

    def test_same_verdicts_in_many_orders(self) -> None:
        self.scenario()
        shuffler = random.Random(15)
        seen: set[str] = set()
        for trial in range(12):
            blocks = list(self.blocks)
            shuffler.shuffle(blocks)
            split = shuffler.randrange(len(blocks))
            # Some blocks are stored already (the honest ones only: the database holds no conflicts).
            stored = MemoryChainStore()
            for block in blocks[:split]:
                if block.validate(stored).acceptable and stored.get(block.public_key, block.sequence_number) is None:
                    stored.add(block)
            with self.subTest(trial=trial):
                seen |= self.run_both([block for block in blocks[:split] if stored.contains(block)], blocks[split:] +
                              blocks[:2])
        # The orders exercised the fraud and forgery checks, not only the happy path.
        self.assertTrue({"two different blocks signed with the same sequence number", "signature does not verify",
                         "the proposal is already countersigned by another block"} <= seen, seen)

    def test_wide_spans_are_refused(self) -> None:
        db = TrustChainDB(":memory:")
        self.addCleanup(db.close)
        first = self.make(0, 1)
        far = TrustChainBlock.create(b"test", {"far": 1}, self.world, self.pks[0], link_pk=self.pks[1],
                                     timestamp=TIME_MS)
        far.sequence_number = 10_000
        self.assertIsNone(db.get_validation_context([first, far]))


class TestSweepingCrawl(TrustChainTestCase):

    NODES = 3
    SETTINGS: ClassVar[dict[str, Any]] = {"max_crawl_batch": 4, "block_types_bc_disabled": frozenset({b"test"})}

    async def test_long_chain_in_several_ranges(self) -> None:
        self.listen(1)
        for round_ in range(18):
            await self.sign(0, 1, {"round": round_})
        sent = []
        original = self.overlay(2).send_crawl_request

        def counting(*args: object) -> object:
            sent.append(args[2:4])
            return original(*args)
        self.overlay(2).send_crawl_request = counting
        crawled = self.overlay(2).crawl_chain(self.peer(0))
        await self.deliver_messages()
        await crawled
        self.assertEqual(self.db(2).get_number_of_known_blocks(self.key_bin(0)), 18)
        self.assertEqual(self.db(2).get_number_of_known_blocks(), 36)
        self.assertEqual(sent[:6], [(-1, -1), (1, 4), (5, 8), (9, 12), (13, 16), (17, 18)])

    async def test_claimed_length_is_not_trusted(self) -> None:
        self.listen(1)
        for round_ in range(5):
            await self.sign(0, 1, {"round": round_})
        sent = []
        original = self.overlay(2).send_crawl_request

        def counting(*args: object) -> object:
            sent.append(args[2:4])
            return original(*args)
        self.overlay(2).send_crawl_request = counting
        crawled = self.overlay(2).crawl_chain(self.peer(0), latest_block_num=2 ** 31 - 1)
        await self.deliver_messages()
        await crawled
        self.assertEqual(self.db(2).get_number_of_known_blocks(self.key_bin(0)), 5)
        # Two ranges with blocks, then at most a window of empty answers and the gap filling's attempts.
        self.assertLess(len(sent), 12)
