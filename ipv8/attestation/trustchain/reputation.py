"""Reputation from the local TrustChain database: personalised PageRank over countersigned interactions.

IPv8 1.x stored the interaction graph but left judging it to applications. This module scores every key
*from our own point of view*: a random walk starts at our key, follows interactions (an edge per pair of keys,
weighted by the pairs they both signed), and jumps back to our key with probability ``alpha`` at every step.
The score of a key is the share of time the walk spends there (:func:`personalised_pagerank`).

**Why sybils gain little.** An edge exists only where both halves of a pair are stored and agree
(:meth:`~.database.TrustChainDB.get_interactions`), so every edge that enters a group of fake keys carries
the signature of a key outside it. The walk enters the group only over those *attack edges*, and leaves it for
our key with probability ``alpha`` at every step inside: the group's total score is at most
``(1 - alpha) / alpha`` times the score that flows over its attack edges, however many keys and fake pairs it
makes among itself. A fraudster (a stored :class:`~.fraud.FraudProof`) gets no score and passes none on.

**Bounded work.** A call reads the graph breadth first from our key through indexed lookups and stops after
``max_nodes`` keys or ``max_edges`` edges (keys beyond the frontier are ignored: the walk returns home
there); the power iteration then runs at most ``iterations`` rounds over what was read. The defaults keep one
call in the tens of milliseconds, so it may run on the reactor; :class:`Reputation` also caches the result
for ``max_age`` seconds.

:class:`ReputationPolicy` turns a score into a countersigning decision for a
:class:`~.listener.BlockListener` (refuse fraudsters and keys below a threshold).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred, succeed

from .listener import BlockListener

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from .block import TrustChainBlock
    from .community import TrustChainCommunity
    from .database import TrustChainDB

__all__ = ["Reputation", "ReputationListener", "ReputationPolicy", "ReputationResult", "personalised_pagerank"]

#: Default bounds of one computation.
MAX_NODES = 2000
MAX_EDGES = 50_000
MAX_ITERATIONS = 50


@dataclass
class ReputationResult:
    """Scores seen from ``seed``: ``scores[key]`` in [0, 1], summing to at most 1 (keys not reached: 0)."""

    seed: bytes
    scores: dict[bytes, float] = field(default_factory=dict)
    #: Keys whose interactions were read, edges read, and whether a bound stopped the reading early.
    nodes_visited: int = 0
    edges_visited: int = 0
    truncated: bool = False
    fraudsters: frozenset[bytes] = frozenset()

    def score(self, public_key: bytes) -> float:
        """The score of ``public_key`` (0 if it was not reached or is a fraudster)."""
        return self.scores.get(public_key, 0.0)

    def ranking(self, limit: int = 100) -> list[tuple[bytes, float]]:
        """The best scored keys other than the seed, best first."""
        others = [(key, value) for key, value in self.scores.items() if key != self.seed and value > 0]
        return sorted(others, key=lambda item: (-item[1], item[0]))[:limit]


def personalised_pagerank(db: TrustChainDB, seed: bytes, alpha: float = 0.2, max_nodes: int = MAX_NODES,
                          max_edges: int = MAX_EDGES, iterations: int = MAX_ITERATIONS,
                          tolerance: float = 1e-9) -> ReputationResult:
    """Score the keys around ``seed`` in ``db`` (see the module documentation).

    :param alpha: the chance per step that the walk returns to ``seed`` (higher: more local, more robust).
    :param max_nodes: keys whose interactions are read at most.
    :param max_edges: interactions (key pairs) read at most.
    :param iterations: power-iteration rounds at most; it stops earlier once a round changes less than
        ``tolerance`` in total.
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError("alpha must be in (0, 1]")
    if max_nodes < 1 or max_edges < 0 or iterations < 0:
        raise ValueError("the bounds must be positive")
    result = ReputationResult(seed)
    if db.did_double_spend(seed):
        result.fraudsters = frozenset({seed})
        return result
    # Breadth first from the seed: adjacency of every expanded key, to keys expanded or not.
    neighbours: dict[bytes, list[tuple[bytes, int]]] = {}
    queue: deque[bytes] = deque([seed])
    queued = {seed}
    fraudsters: set[bytes] = set()
    edges = 0
    while queue:
        if len(neighbours) >= max_nodes or edges >= max_edges:
            result.truncated = True
            break
        key = queue.popleft()
        found = db.get_interactions(key, limit=max(1, max_edges - edges))
        new = [other for other, _ in found if other not in queued]
        fraudsters.update(db.get_fraudsters(new))
        kept = [(other, weight) for other, weight in found if other not in fraudsters]
        neighbours[key] = kept
        edges += len(kept)
        for other in new:
            if other not in fraudsters:
                queued.add(other)
                queue.append(other)
    result.nodes_visited = len(neighbours)
    result.edges_visited = edges
    result.fraudsters = frozenset(fraudsters)

    # Edges are symmetric, but a key on the frontier was not expanded: its walk goes home (dangling).
    rank: dict[bytes, float] = {seed: 1.0}
    for _ in range(iterations):
        following: dict[bytes, float] = {}
        home = alpha
        for key, value in rank.items():
            adjacent = neighbours.get(key)
            if not adjacent:
                home += (1.0 - alpha) * value
                continue
            total = sum(weight for _, weight in adjacent)
            share = (1.0 - alpha) * value / total
            for other, weight in adjacent:
                following[other] = following.get(other, 0.0) + share * weight
        following[seed] = following.get(seed, 0.0) + home
        change = sum(abs(following.get(key, 0.0) - rank.get(key, 0.0)) for key in following.keys() | rank.keys())
        rank = following
        if change < tolerance:
            break
    result.scores = rank
    return result


class Reputation:
    """Scores from the point of view of one community's key, recomputed at most every ``max_age`` seconds.

    :param community: whose database and key are used (its clock times the cache).
    :param kwargs: passed on to :func:`personalised_pagerank` (``alpha``, ``max_nodes``, ...).
    """

    def __init__(self, community: TrustChainCommunity, max_age: float = 10.0, **kwargs: Any) -> None:
        self.community = community
        self.max_age = max_age
        self.options = kwargs
        self._cached: ReputationResult | None = None
        self._computed_at = 0.0

    @property
    def clock(self) -> IReactorTime:
        """The community's clock."""
        return self.community.clock

    def result(self, refresh: bool = False) -> ReputationResult:
        """The current scores (computed now if the cached ones are older than ``max_age`` or ``refresh``)."""
        now = self.clock.seconds()
        if refresh or self._cached is None or now - self._computed_at >= self.max_age:
            self._cached = personalised_pagerank(self.community.persistence, self.community.my_public_key_bin,
                                                 **self.options)
            self._computed_at = now
        return self._cached

    def invalidate(self) -> None:
        """Forget the cached scores (the next call computes again)."""
        self._cached = None

    def score(self, public_key: bytes) -> float:
        """The score of ``public_key``; 0 for fraudsters and keys not reached."""
        if self.community.persistence.did_double_spend(public_key):
            return 0.0
        return self.result().score(public_key)


class ReputationPolicy:
    """Decides whether to countersign for a key: never for a fraudster, and not below ``min_score``.

    ``min_score`` 0 refuses only fraudsters (a new key has no score yet, so a positive threshold means
    that only keys that interacted with keys we trust get a signature: pick it with the bootstrap in mind).
    ``trusted`` keys are accepted whatever their score (unless they committed fraud).
    """

    def __init__(self, reputation: Reputation, min_score: float = 0.0, trusted: frozenset[bytes] = frozenset()):
        if min_score < 0:
            raise ValueError("min_score must not be negative")
        self.reputation = reputation
        self.min_score = min_score
        self.trusted = frozenset(trusted)

    def allows(self, public_key: bytes) -> bool:
        """Whether a block of ``public_key`` may be countersigned."""
        if self.reputation.community.persistence.did_double_spend(public_key):
            return False
        if public_key in self.trusted or self.min_score == 0:
            return True
        return self.reputation.score(public_key) >= self.min_score

    def should_sign(self, block: TrustChainBlock) -> bool:
        """:meth:`allows` for the block's signer (usable as a :meth:`BlockListener.should_sign`)."""
        return self.allows(block.public_key)


class ReputationListener(BlockListener):
    """A listener that countersigns only what ``policy`` allows *and* ``decide`` (if given) agrees to.

    :param decide: the application's own check (a bool or a Deferred of one), asked only for allowed keys.
    """

    def __init__(self, policy: ReputationPolicy,
                 decide: Callable[[TrustChainBlock], bool | Deferred[bool]] | None = None) -> None:
        self.policy = policy
        self.decide = decide
        #: Signers refused by the policy (public key -> number of refusals), for inspection.
        self.refused: dict[bytes, int] = {}

    def should_sign(self, block: TrustChainBlock) -> bool | Deferred[bool]:
        """Refuse (and count) keys the policy refuses; otherwise ask ``decide``."""
        if not self.policy.should_sign(block):
            self.refused[block.public_key] = self.refused.get(block.public_key, 0) + 1
            return False
        if self.decide is None:
            return succeed(True)
        return maybeDeferred(self.decide, block)
