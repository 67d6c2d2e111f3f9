"""The fraud story end to end on the in-memory internet, reputation-based countersigning and its REST route.

Node 0 cheats: after a genuine pair with node 3 it signs a second, different block with the same sequence
number and shows it to node 1 only. Node 1 holds the genuine block, catches the double sign, stores the proof
and spreads both blocks; nodes 2 and 3 verify the proof themselves, and from then on nobody countersigns for
node 0 while honest keys still get their signatures.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater

from ipv8.attestation.trustchain import TrustChainError
from ipv8.attestation.trustchain.block import FraudProof, TrustChainBlock
from ipv8.attestation.trustchain.community import DROP_TC_FRAUDSTER
from ipv8.attestation.trustchain.reputation import ReputationListener, ReputationPolicy
from ipv8.REST.rest_manager import RESTManager
from tests.REST.support import HTTPClient

from .test_community import START, TrustChainTestCase

THRESHOLD = 1e-3


class TestFraudAndReputation(TrustChainTestCase):

    NODES = 4

    def setUp(self) -> Any:
        result = super().setUp()
        self.listeners = []
        for i in range(self.NODES):
            policy = ReputationPolicy(self.overlay(i).reputation, min_score=THRESHOLD if i == 2 else 0.0)
            listener = ReputationListener(policy)
            self.overlay(i).add_listener(listener, [b"test"])
            self.listeners.append(listener)
        return result

    def forge_second_genesis(self, genuine: TrustChainBlock) -> TrustChainBlock:
        """Another block of node 0 with ``genuine``'s sequence number and predecessor."""
        forged = TrustChainBlock(block_type=b"test", encoded_transaction=b"a1d1sn1i7",
                                 public_key=genuine.public_key, sequence_number=genuine.sequence_number,
                                 link_public_key=self.key_bin(1), link_sequence_number=0,
                                 previous_hash=genuine.previous_hash, signature=b"0" * 64,
                                 timestamp=round(START * 1000))
        forged.sign(self.private_key(0))
        return forged

    async def test_double_sign_caught_spread_and_refused(self) -> None:
        await self.sign(2, 3)           # node 2 knows node 3 first hand
        genuine, _ = await self.sign(0, 3)  # and node 3 vouched for node 0 (node 2 saw the broadcast pair)
        self.assertGreater(self.overlay(2).reputation.score(self.key_bin(0)), THRESHOLD)
        self.assertTrue(self.listeners[2].policy.allows(self.key_bin(0)))

        forged = self.forge_second_genesis(genuine)
        self.overlay(0).send_block(forged, address=self.address(1))  # only node 1 ever sees it from node 0
        await self.deliver_messages()

        proof = FraudProof(genuine, forged)
        for i in (1, 2, 3):
            self.assertEqual(self.db(i).get_fraud_proofs(self.key_bin(0)), [proof], f"node {i}")
            self.assertFalse(self.db(i).contains(forged))
            self.assertFalse(self.listeners[i].policy.allows(self.key_bin(0)))
            self.assertEqual(self.overlay(i).reputation.score(self.key_bin(0)), 0.0)

        # Node 0 asks both its former partner and the reputation-minded node 2: neither countersigns.
        for signer in (3, 2):
            asked = self.overlay(0).sign_block(self.peer(signer), block_type=b"test", transaction={"after": 1})
            await self.deliver_messages()
            await self.retry_until(asked)
            with self.assertRaises(TrustChainError):
                await asked
            self.assertGreaterEqual(self.overlay(signer).drop_counts[DROP_TC_FRAUDSTER], 1)
            self.assertEqual([block for block in self.db(signer).get_latest_blocks(self.key_bin(signer))
                              if block.link_public_key == self.key_bin(0) and block.link_sequence_number > 1], [])

        # Honest keys still get signatures.
        await self.sign(3, 2)

    async def test_threshold_refuses_strangers(self) -> None:
        await self.sign(2, 3)
        # Node 1 never interacted with anybody node 2 knows: below the threshold.
        asked = self.overlay(1).sign_block(self.peer(2), block_type=b"test", transaction={"hello": 1})
        await self.deliver_messages()
        self.assertEqual(self.listeners[2].refused, {self.key_bin(1): 1})
        self.assertFalse(asked.called)
        await self.retry_until(asked)
        with self.assertRaises(TrustChainError):
            await asked
        # After node 3 (whom node 2 trusts) signed with node 1, node 1 qualifies.
        await self.sign(1, 3)
        self.overlay(2).reputation.invalidate()
        self.assertGreater(self.overlay(2).reputation.score(self.key_bin(1)), THRESHOLD)
        _proposal, agreement = await self.sign(1, 2)
        self.assertEqual(agreement.public_key, self.key_bin(2))

    async def test_rest_reputation(self) -> None:
        await self.sign(0, 1)
        await self.sign(2, 1)
        manager = RESTManager(self.node(0))
        await manager.start(0)
        self.addCleanup(manager.stop)
        client = HTTPClient(manager.url)

        async def get(path: str, status: int = 200) -> Any:
            pending = ensureDeferred(client.get(path))
            while not pending.called:
                await deferLater(reactor, 0.002, lambda: None)
            answer = await pending
            self.assertEqual(answer.status, status, answer.body)
            self.assertNotIn(b"Traceback", answer.body)
            return answer.json

        near = await get(f"/trustchain/users/{self.key_bin(1).hex()}/reputation")
        far = await get(f"/trustchain/users/{self.key_bin(2).hex()}/reputation")
        stranger = await get(f"/trustchain/users/{self.key_bin(3).hex()}/reputation")
        self.assertEqual(set(near), {"public_key", "reputation", "fraud", "nodes_visited", "edges_visited",
                                     "truncated"})
        self.assertGreater(near["reputation"], far["reputation"])
        self.assertGreater(far["reputation"], 0)
        self.assertEqual((stranger["reputation"], stranger["fraud"]), (0.0, False))
        self.assertEqual(near["nodes_visited"], 3)
        await get("/trustchain/users/zz/reputation", status=400)
        await get(f"/trustchain/users/{'00' * 73}/reputation", status=400)
        spec = await get("/docs/openapi.json")
        self.assertIn("get", spec["paths"]["/trustchain/users/{pk}/reputation"])
