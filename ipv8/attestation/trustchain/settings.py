"""Settings of the TrustChain community (the 1.x names and defaults, plus bounds 1.x did not have)."""
from __future__ import annotations

from ...community import CommunitySettings


class TrustChainSettings(CommunitySettings):
    """Settings of :class:`~ipv8.attestation.trustchain.community.TrustChainCommunity`.

    The first six are those of 1.x with its defaults; the others bound what a peer can make us remember or
    compute.
    """

    #: Block types that are never broadcast.
    block_types_bc_disabled: frozenset[bytes] = frozenset()
    #: Peers a new block is broadcast to.
    broadcast_fanout: int = 25
    #: How many blocks before a proposal we want to know (we crawl them first) before countersigning it.
    validation_range: int = 5
    #: Blocks kept in the database; the oldest blocks of other chains are pruned above it.
    max_db_blocks: int = 1_000_000
    #: Crawl the whole chain of every peer we meet (a crawler node) instead of a block at a time.
    crawler: bool = False
    #: Blocks of a chain one crawl answer carries at most (linked blocks of other chains come on top).
    max_crawl_batch: int = 10

    #: The database file's directory (``":memory:"`` keeps everything in memory).
    working_directory: str = ":memory:"
    #: The database file's name (without ``.db``).
    db_name: str = "trustchain"
    #: Our proposals that may wait for a countersignature at once; more fail right away.
    max_pending_signatures: int = 256
    #: Seconds between two sends of a proposal that has not been countersigned yet.
    sign_retry_interval: float = 10.0
    #: Sends of a proposal before its Deferred fails with a timeout.
    sign_attempts: int = 6
    #: Range requests a chain crawl (``TrustChainCommunity.crawl_chain``) keeps outstanding at once (1: one at a
    #: time, as 1.x).
    crawl_window: int = 4
    #: Seconds a crawl request waits for its answers.
    crawl_timeout: float = 20.0
    #: Our crawl requests that may wait for answers at once; more are answered with nothing right away.
    max_pending_crawls: int = 512
    #: Proposals for which we are deciding (``should_sign``, crawling the proposer) at once; more are ignored.
    max_pending_countersigns: int = 64
    #: Seconds the listeners get to decide about countersigning a proposal; no answer by then is a refusal.
    decision_timeout: float = 30.0
    #: Broadcast TTLs above this are lowered to it (1.x sends 1, so it never relays).
    max_broadcast_ttl: int = 3
    #: Broadcast blocks remembered, so that each is checked and relayed once.
    broadcast_seen_size: int = 10_000
    #: Seconds a remembered broadcast block counts as seen.
    broadcast_seen_ttl: float = 600.0
    #: Broadcast and pair messages accepted per second from one IP (twice that at once).
    broadcast_rate_limit: float = 200.0
    #: Crawl requests answered per second for one IP (twice that at once). Each answer is at most
    #: ``2 * max_crawl_batch`` blocks read and sent; a crawler that fetches a long chain sends one request per
    #: batch, as fast as the answers come, so this must not be much lower.
    crawl_rate_limit: float = 100.0
    #: Blocks whose timestamp lies more than this many ms ahead of our clock are refused.
    max_future_ms: int = 10 * 60 * 1000
    #: Collect the writes of one reactor turn in one database transaction (a commit costs far more than an
    #: insert). Our own blocks are never sent before they are committed.
    commit_batching: bool = True
    #: A batch holding this many blocks is committed as soon as the message that filled it is handled,
    #: instead of at the next reactor turn: the first answers of a burst of messages go out while the rest is
    #: still being handled, so both sides of a busy exchange work at once. 32 blocks (16 pairs on either side)
    #: spend about a third less on commits per pair than 16 and still let a window of 32 overlap in halves.
    commit_batch_size: int = 32
    #: Seconds between database prunes.
    db_cleanup_interval: float = 600.0
