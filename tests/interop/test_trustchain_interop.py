"""Live TrustChain interop: txipv8 nodes and a pyipv8 1.10.0 node sign block pairs and crawl each other.

The pyipv8 node (``reference/ref_trustchain_node.py``) runs on ``.venv-ipv8-1x/bin/python`` (``make
legacy-1x-venv``) over real UDP on 127.0.0.1; without that interpreter these tests skip and say why. Every
block that crosses is compared byte for byte on both sides, and each side validates the other's blocks with
its own rules.
"""
from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial import unittest

from ipv8.attestation.trustchain import TrustChainError
from ipv8.attestation.trustchain.block import TrustChainBlock, ValidationResult
from ipv8.attestation.trustchain.community import TrustChainCommunity
from ipv8.attestation.trustchain.listener import BlockListener
from ipv8.peer import Peer

from .harness import InteropTestCase, RefPeer, RefPeerError, TxNode
from .refenv import reference_env

REPO_ROOT = Path(__file__).resolve().parents[2]
LEGACY_1X_PYTHON = REPO_ROOT / ".venv-ipv8-1x" / "bin" / "python"
DRIVER = Path(__file__).resolve().parent / "reference" / "ref_trustchain_node.py"
OK_STATES = (ValidationResult.valid, ValidationResult.partial_next)


class Accept(BlockListener):
    """Countersigns every ``test`` proposal."""

    def should_sign(self, block: TrustChainBlock) -> bool:
        return True


def unpack(packed_hex: str) -> TrustChainBlock:
    block, end = TrustChainBlock.unpack(bytes.fromhex(packed_hex))
    assert end == len(packed_hex) // 2
    return block


class TrustChainInteropTest(InteropTestCase):
    """One pyipv8 1.10 node and one or two txipv8 nodes."""

    timeout = 40

    def setUp(self) -> None:
        if not LEGACY_1X_PYTHON.exists():
            raise unittest.SkipTest(f"{LEGACY_1X_PYTHON} is missing: run `make legacy-1x-venv`")

    async def start_ref(self, **config: Any) -> RefPeer:
        peer = RefPeer("pyipv8-1.10")
        python = str(LEGACY_1X_PYTHON)
        reactor.spawnProcess(peer, python, [python, "-u", str(DRIVER), json.dumps({"deadline": 35, **config})],
                             env=reference_env(), path=str(DRIVER.parent))
        self.addCleanup(self.check_exit, peer)
        self.addCleanup(peer.stop)
        await peer.wait_for(lambda p: p.ready is not None, 15.0, "the ready event")
        return peer

    async def start_tx(self, **settings: Any) -> tuple[TxNode, TrustChainCommunity]:
        node = await self.start_tx_node()
        community = node.add(TrustChainCommunity, **settings)
        community.add_listener(Accept(), [b"test"])
        return node, community

    @staticmethod
    def ref_peer(ref: RefPeer) -> Peer:
        return Peer(bytes.fromhex(ref.ready["public_key"]), ref.address)

    async def within(self, deferred: Deferred, seconds: float, what: str) -> Any:
        timer = reactor.callLater(seconds, lambda: deferred.called or deferred.cancel())
        try:
            return await deferred
        except Exception as exc:  # noqa: BLE001
            self.fail(f"{what} did not complete within {seconds} s: {exc!r}")
        finally:
            if timer.active():
                timer.cancel()

    async def ref_chain(self, ref: RefPeer, public_key: bytes) -> list[dict[str, Any]]:
        return await self.ask(ref, "blocks", public_key=public_key.hex())

    async def ask(self, ref: RefPeer, cmd: str, timeout: float = 10.0, **fields: Any) -> Any:
        """A command for the pyipv8 node; if it does not answer, the failure shows where it is stuck."""
        try:
            return await ref.command(cmd, timeout=timeout, **fields)
        except RefPeerError:
            if not ref.finished and ref.transport is not None and ref.transport.pid is not None:
                ref.transport.signalProcess(signal.SIGUSR1)
                await deferLater(reactor, 0.5, lambda: None)
            raise RefPeerError(f"{cmd} failed; last events {ref.events[-3:]}{ref.stderr_tail()}") from None

    async def test_sign_both_ways(self) -> None:
        ref = await self.start_ref()
        node, tx = await self.start_tx()
        tx_key, ref_key = tx.my_public_key_bin, bytes.fromhex(ref.ready["public_key"])
        # The introductions carry each side's chain length (four bytes of extra data, as in 1.x).
        tx.walk_to(ref.address)
        await self.ask(ref, "walk", address=list(node.address))
        for round_ in range(3):
            proposal, agreement = await self.within(
                tx.sign_block(self.ref_peer(ref), block_type=b"test", transaction={"round": round_, "from": "tx"}),
                # A proposal is resent every 10 s: on a loaded machine a first send may go unanswered.
                25, "a txipv8 proposal countersigned by pyipv8 1.10")
            self.assertEqual((agreement.public_key, agreement.link_sequence_number),
                             (ref_key, proposal.sequence_number))
            self.assertEqual(agreement.transaction, {"round": round_, "from": "tx"})
            answer = await self.ask(ref, "sign", address=list(node.address), public_key=tx_key.hex(),
                                       transaction={"round": round_, "from": "ref", "up": 2 ** 40})
            ref_proposal, tx_agreement = unpack(answer["proposal"]), unpack(answer["agreement"])
            self.assertEqual(tx_agreement.public_key, tx_key)
            self.assertEqual(tx_agreement.link_sequence_number, ref_proposal.sequence_number)
            self.assertEqual(ref_proposal.transaction, {"round": round_, "from": "ref", "up": 2 ** 40})
            self.assertTrue(tx.persistence.contains(ref_proposal))
            self.assertTrue(tx.persistence.contains(tx_agreement))
        # Both chains are six blocks long and identical on both sides, and each side accepts all of them.
        for key in (tx_key, ref_key):
            theirs = await self.ref_chain(ref, key)
            ours = [tx.persistence.get(key, seq) for seq in range(1, 7)]
            self.assertEqual([entry["packed"] for entry in theirs], [block.pack().hex() for block in ours])
            self.assertEqual([entry["hash"] for entry in theirs], [block.hash.hex() for block in ours])
            for entry in theirs:
                self.assertIn(entry["validation"], OK_STATES, entry)
            for block in ours:
                self.assertIn(block.validate(tx.persistence).state, OK_STATES)
        # Nothing the 1.10 node sent (introductions with chain lengths, crawl requests, broadcasts) was refused.
        refused = {reason: count for reason, count in tx.drop_counts.items()
                   if reason in ("malformed", "bad-signature", "handler-error") or reason.startswith("trustchain-")}
        self.assertEqual(refused, {})

    async def test_crawl_each_other(self) -> None:
        ref = await self.start_ref()
        node, tx = await self.start_tx(block_types_bc_disabled=frozenset({b"test"}))
        other_node, other = await self.start_tx(block_types_bc_disabled=frozenset({b"test"}))
        tx_key, ref_key = tx.my_public_key_bin, bytes.fromhex(ref.ready["public_key"])
        # txipv8 builds a chain the pyipv8 node never saw (two txipv8 nodes, no broadcasts) ...
        for round_ in range(14):
            await self.within(tx.sign_block(Peer(other.my_public_key_bin, other_node.address), block_type=b"test",
                                            transaction={"round": round_}), 25, "a txipv8 pair")
        # ... and the pyipv8 node one that txipv8 never saw.
        for round_ in range(12):
            await self.ask(ref, "sign", address=list(other_node.address),
                              public_key=other.my_public_key_bin.hex(), transaction={"round": round_})
        self.assertIsNone(tx.persistence.get_latest(ref_key))

        # pyipv8 crawls txipv8: it asks for the latest block first, then for ranges of at most ten blocks.
        await self.ask(ref, "crawl", timeout=20, address=list(node.address), public_key=tx_key.hex())
        theirs = await self.ref_chain(ref, tx_key)
        self.assertEqual([entry["packed"] for entry in theirs],
                         [tx.persistence.get(tx_key, seq).pack().hex() for seq in range(1, 15)])
        for entry in theirs:
            self.assertIn(entry["validation"], OK_STATES, entry)

        # txipv8 crawls pyipv8.
        await self.within(tx.crawl_chain(Peer(ref_key, ref.address)), 20, "txipv8 crawling pyipv8's chain")
        ours = [tx.persistence.get(ref_key, seq) for seq in range(1, 13)]
        self.assertNotIn(None, ours)
        theirs = await self.ref_chain(ref, ref_key)
        self.assertEqual([entry["packed"] for entry in theirs], [block.pack().hex() for block in ours])
        for block in ours:
            self.assertIn(block.validate(tx.persistence).state, OK_STATES)
        self.assertEqual(tx.drop_counts.get("trustchain-invalid-block", 0), 0)

    async def test_refusal_is_respected(self) -> None:
        ref = await self.start_ref(should_sign=False)
        node, tx = await self.start_tx(sign_retry_interval=0.5, sign_attempts=2)
        signed = tx.sign_block(self.ref_peer(ref), block_type=b"test", transaction={"please": True})
        with self.assertRaises(TrustChainError):  # after two sends half a second apart
            await signed
        report = await self.ask(ref, "report")
        self.assertEqual(report["chain_length"], 0)
        theirs = await self.ref_chain(ref, tx.my_public_key_bin)
        self.assertEqual([unpack(entry["packed"]) for entry in theirs], [tx.persistence.get(tx.my_public_key_bin, 1)])
