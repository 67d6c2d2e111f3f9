"""Reputation over the interaction graph: which pairs count, scores, sybil bound, work bounds, fraud, policy."""
from __future__ import annotations

from twisted.trial import unittest

from ipv8.attestation.trustchain.block import GENESIS_HASH, FraudProof, TrustChainBlock
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.reputation import personalised_pagerank
from ipv8.keyvault.crypto import default_eccrypto

TIME_MS = 1_700_000_000_000
ALPHA = 0.2


class Keys:
    """Deterministic names for generated keys."""

    def __init__(self) -> None:
        self.private: dict[str, object] = {}

    def __call__(self, name: str) -> bytes:
        if name not in self.private:
            self.private[name] = default_eccrypto.generate_key("curve25519")
        return self.private[name].pub().key_to_bin()


class TestInteractionGraph(unittest.TestCase):

    def setUp(self) -> None:
        self.db = TrustChainDB(":memory:")
        self.addCleanup(self.db.close)
        self.key = Keys()

    def propose(self, proposer: str, counterparty: str | None) -> TrustChainBlock:
        block = TrustChainBlock.create(b"test", {"x": 1}, self.db, self.key(proposer),
                                       link_pk=self.key(counterparty) if counterparty else None, timestamp=TIME_MS)
        block.sign(self.key.private[proposer])
        return block

    def agree(self, signer: str, proposal: TrustChainBlock) -> TrustChainBlock:
        block = TrustChainBlock.create(b"test", None, self.db, self.key(signer), link=proposal, timestamp=TIME_MS)
        block.sign(self.key.private[signer])
        return block

    def pair(self, proposer: str, signer: str, times: int = 1) -> None:
        for _ in range(times):
            proposal = self.propose(proposer, signer)
            self.db.add_block(proposal)
            self.db.add_block(self.agree(signer, proposal))

    def test_only_complete_pairs_are_edges(self) -> None:
        self.pair("me", "a", 3)
        lone = self.propose("me", "b")  # never countersigned
        self.db.add_block(lone)
        # c agrees to a proposal we do not hold: it could be made up.
        self.db.add_block(self.agree("c", self.propose("d", "c")))
        self.assertEqual(self.db.get_interactions(self.key("me")), [(self.key("a"), 3)])
        self.assertEqual(self.db.get_interactions(self.key("a")), [(self.key("me"), 3)])
        self.assertEqual(self.db.get_interactions(self.key("c")), [])

    def test_agreement_to_a_proposal_for_someone_else_is_no_edge(self) -> None:
        proposal = self.propose("a", "b")
        self.db.add_block(proposal)
        # Sybil s "agrees" to a's proposal meant for b: s wants an edge to a without a's consent.
        self.db.add_block(self.agree("s", proposal))
        self.assertEqual(self.db.get_interactions(self.key("a")), [])
        self.assertEqual(self.db.get_interactions(self.key("s")), [])

    def test_open_proposal_counts_for_whoever_agreed(self) -> None:
        proposal = self.propose("a", None)
        self.db.add_block(proposal)
        self.db.add_block(self.agree("b", proposal))
        self.assertEqual(self.db.get_interactions(self.key("a")), [(self.key("b"), 1)])

    def test_scores_fall_with_distance(self) -> None:
        self.pair("me", "a", 2)
        self.pair("a", "b", 2)
        self.pair("b", "c", 2)
        self.pair("x", "y", 5)  # not connected to us
        result = personalised_pagerank(self.db, self.key("me"), alpha=ALPHA)
        scores = [result.score(self.key(name)) for name in ("a", "b", "c")]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertGreater(scores[-1], 0)
        self.assertEqual(result.score(self.key("x")), 0.0)
        self.assertAlmostEqual(sum(result.scores.values()), 1.0, places=6)
        self.assertEqual([key for key, _ in result.ranking()], [self.key(name) for name in ("a", "b", "c")])
        self.assertEqual((result.nodes_visited, result.truncated), (4, False))

    def test_more_interactions_more_score(self) -> None:
        self.pair("me", "a", 5)
        self.pair("me", "b", 1)
        result = personalised_pagerank(self.db, self.key("me"))
        self.assertGreater(result.score(self.key("a")), result.score(self.key("b")))

    def sybil_region_mass(self, sybils: int) -> tuple[float, float]:
        """Total score of an attacker and its sybils, and the bound from the one attack edge."""
        result = personalised_pagerank(self.db, self.key("me"), alpha=ALPHA, iterations=500, tolerance=1e-12)
        region = [self.key("attacker")] + [self.key(f"sybil{i}") for i in range(sybils)]
        mass = sum(result.score(key) for key in region)
        adjacent = dict(self.db.get_interactions(self.key("a")))
        inflow = result.score(self.key("a")) * adjacent[self.key("attacker")] / sum(adjacent.values())
        return mass, (1 - ALPHA) / ALPHA * inflow

    def test_sybils_gain_no_more_than_their_attack_edges_carry(self) -> None:
        self.pair("me", "a", 3)
        self.pair("me", "b", 3)
        self.pair("a", "b", 3)
        self.pair("a", "attacker", 1)  # the only edge an honest key signed with the attacker
        masses = []
        for sybil in range(40):
            # The attacker signs as many pairs as it likes with keys it made up.
            self.pair("attacker", f"sybil{sybil}", 5)
            if sybil in (1, 39):
                mass, bound = self.sybil_region_mass(sybil + 1)
                self.assertLessEqual(mass, bound + 1e-9)
                masses.append(mass)
        # Forty times the sybils, yet the region stays under the same bound and under a's score.
        honest = personalised_pagerank(self.db, self.key("me"), alpha=ALPHA).score(self.key("a"))
        self.assertLess(masses[1], honest)

    def test_work_is_bounded(self) -> None:
        for i in range(30):
            self.pair("me" if i == 0 else f"n{i - 1}", f"n{i}")
        for i in range(20):
            self.pair("me", f"star{i}")
        result = personalised_pagerank(self.db, self.key("me"), max_nodes=5)
        self.assertEqual((result.nodes_visited, result.truncated), (5, True))
        result = personalised_pagerank(self.db, self.key("me"), max_edges=10)
        self.assertLessEqual(result.edges_visited, 10)
        self.assertTrue(result.truncated)
        self.assertAlmostEqual(sum(result.scores.values()), 1.0, places=6)
        with self.assertRaises(ValueError):
            personalised_pagerank(self.db, self.key("me"), alpha=0)

    def test_fraudster_scores_nothing_and_passes_nothing_on(self) -> None:
        self.pair("me", "cheat", 2)
        self.pair("cheat", "behind", 2)
        before = personalised_pagerank(self.db, self.key("me"))
        self.assertGreater(before.score(self.key("behind")), 0)
        forged = []
        for value in (1, 2):
            block = TrustChainBlock(block_type=b"test", encoded_transaction=b"a1d1sn1i%d" % value,
                                    public_key=self.key("cheat"), sequence_number=1, link_public_key=self.key("me"),
                                    link_sequence_number=0, previous_hash=GENESIS_HASH, signature=b"0" * 64,
                                    timestamp=TIME_MS)
            block.sign(self.key.private["cheat"])
            forged.append(block)
        self.db.add_fraud_proof(FraudProof(*forged))
        after = personalised_pagerank(self.db, self.key("me"))
        self.assertEqual(after.score(self.key("cheat")), 0.0)
        self.assertEqual(after.score(self.key("behind")), 0.0)
        self.assertEqual(after.fraudsters, frozenset({self.key("cheat")}))
        self.assertEqual(personalised_pagerank(self.db, self.key("cheat")).scores, {})
