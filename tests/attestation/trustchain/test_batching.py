"""Batched commits: many writes per transaction, and never a block of ours on the wire before it is durable."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ipv8.attestation.trustchain.block import TrustChainBlock
from ipv8.attestation.trustchain.database import BlockConflictError, TrustChainDB
from ipv8.attestation.trustchain.settings import TrustChainSettings
from ipv8.test.mocking.ipv8 import MockIPv8

from .test_community import TrustChainTestCase
from .test_memory import KEYS, PKS, make_pairs


def committed_count(path: Path) -> int:
    """Blocks another connection sees (only committed ones)."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT count(*) FROM blocks").fetchone()[0]


def test_batch_is_invisible_until_committed(tmp_path: Path) -> None:
    path = tmp_path / "tc.db"
    db = TrustChainDB(path)
    blocks = make_pairs(5)
    db.begin_batch()
    assert db.in_batch
    for block in blocks[:4]:
        db.add_block(block)
    assert db.get_number_of_known_blocks() == 4  # this connection sees its own writes
    assert committed_count(path) == 0
    db.commit_batch()
    assert not db.in_batch
    assert committed_count(path) == 4
    db.close()


def test_conflict_inside_a_batch_undoes_only_that_write(tmp_path: Path) -> None:
    db = TrustChainDB(tmp_path / "tc.db")
    blocks = make_pairs(3)
    first = blocks[0]
    twin = TrustChainBlock(block_type=first.type, encoded_transaction=b"a0n", public_key=first.public_key,
                           sequence_number=first.sequence_number, link_public_key=first.link_public_key,
                           link_sequence_number=0, previous_hash=first.previous_hash, signature=b"0" * 64,
                           timestamp=first.timestamp)
    twin.sign(KEYS[PKS.index(first.public_key)])
    db.begin_batch()
    db.add_block(blocks[0], blocks[1])
    with pytest.raises(BlockConflictError):
        db.add_block(blocks[2], twin)
    assert not db.contains(blocks[2])  # the pair is all or nothing, also inside a batch
    assert db.add_block(blocks[2]) == 1
    db.commit_batch()
    assert db.get_number_of_known_blocks() == 3
    db.close()


def test_close_commits(tmp_path: Path) -> None:
    path = tmp_path / "tc.db"
    db = TrustChainDB(path)
    db.begin_batch()
    db.add_blocks(make_pairs(2))
    db.close()
    assert committed_count(path) == 4


class TestCommunityCommits(TrustChainTestCase):
    """The community's batches, on a database file."""

    def create_node(self, settings: Any = None, create_dht: bool = False,  # noqa: ANN401
                    enable_statistics: bool = False) -> MockIPv8:
        directory = self.temporary_directory()
        return MockIPv8(self.DEFAULT_KEY_LEVEL, self.overlay_class,
                        TrustChainSettings(clock=self.clock, working_directory=directory), internet=self.internet)

    async def test_own_block_is_sent_only_after_commit(self) -> None:
        self.listen(1)
        sent_before = self.endpoint(0).bytes_up
        signed = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 1})
        db = self.db(0)
        assert db.in_batch and db.get_number_of_known_blocks() == 1
        self.assertEqual(committed_count(Path(db.path)), 0)
        self.assertEqual(self.endpoint(0).bytes_up, sent_before)  # nothing left before the commit
        await self.deliver_messages()
        proposal, agreement = await signed
        self.assertFalse(db.in_batch)
        self.assertEqual(committed_count(Path(db.path)), 2)
        self.assertEqual(committed_count(Path(self.db(1).path)), 2)
        self.assertGreater(self.endpoint(0).bytes_up, sent_before)

    async def test_many_proposals_share_commits(self) -> None:
        self.listen(1)
        signed = [self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"n": n})
                  for n in range(20)]
        await self.deliver_messages()
        for deferred in signed:
            proposal, agreement = await deferred
            self.assertEqual(agreement.link_sequence_number, proposal.sequence_number)
        self.assertEqual(committed_count(Path(self.db(1).path)), 40)
        self.assertEqual(self.overlay(1).get_chain_length(), 20)

    async def test_unload_commits(self) -> None:
        self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"a": 1}).addErrback(lambda _: None)
        path = Path(self.db(0).path)
        await self.overlay(0).unload()
        self.nodes[0].overlays.clear()
        self.assertEqual(committed_count(path), 1)



class TestEarlyCommits(TrustChainTestCase):
    """``commit_batch_size``: a full batch is committed between two messages, still before anything leaves."""

    def create_node(self, settings: Any = None, create_dht: bool = False,  # noqa: ANN401
                    enable_statistics: bool = False) -> MockIPv8:
        directory = self.temporary_directory()
        return MockIPv8(self.DEFAULT_KEY_LEVEL, self.overlay_class,
                        TrustChainSettings(clock=self.clock, working_directory=directory, commit_batch_size=4),
                        internet=self.internet)

    async def test_every_block_on_the_wire_is_committed(self) -> None:
        self.listen(1)
        unsafe: list[bytes] = []
        commits = {"count": 0}
        for node in (0, 1):
            endpoint, path = self.endpoint(node), Path(self.db(node).path)
            send = endpoint.send

            def checked_send(address: Any, packet: bytes, send: Any = send, path: Path = path) -> None:  # noqa: ANN401
                if packet[22] == 1:  # message 1 carries one of our blocks: it must be in the file already
                    block = TrustChainBlock.from_packed(packet, 31)
                    with sqlite3.connect(path) as other:
                        if other.execute("SELECT 1 FROM blocks WHERE block_hash = ?", (block.hash,)).fetchone() is None:
                            unsafe.append(block.hash)
                send(address, packet)
            endpoint.send = checked_send
            commit_batch = self.db(node).commit_batch

            def counted(commit_batch: Any = commit_batch) -> None:  # noqa: ANN401
                commits["count"] += self.db(0).in_batch or self.db(1).in_batch
                commit_batch()
            self.db(node).commit_batch = counted
        signed = [self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"n": n})
                  for n in range(24)]
        await self.deliver_messages()
        for deferred in signed:
            proposal, agreement = await deferred
            self.assertEqual(agreement.link_sequence_number, proposal.sequence_number)
        self.assertEqual(unsafe, [])
        self.assertEqual(committed_count(Path(self.db(1).path)), 48)
        # The countersigner committed every two proposals (four blocks), not once per burst.
        self.assertGreaterEqual(commits["count"], 12)
