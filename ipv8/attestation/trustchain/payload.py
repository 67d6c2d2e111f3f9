"""The TrustChain message payloads of IPv8 1.x (wire compatible; facts sheet B.13).

Every block on the wire is the same nine fields (:data:`BLOCK_FORMAT`); messages add a TTL (broadcasts), a
crawl id and counters (crawl responses) or carry two blocks (pairs). The message ids are those of 1.x:

* 1 :class:`HalfBlockPayload`: a proposal or agreement sent to the counterparty;
* 2 :class:`CrawlRequestPayload`: ask for a range of someone's chain (a signed message);
* 3 :class:`CrawlResponsePayload`: one block of a crawl answer;
* 4 :class:`HalfBlockPairPayload`: proposal and agreement, sent back to the proposer;
* 5 :class:`HalfBlockBroadcastPayload`: a half block spread with a TTL;
* 6 :class:`HalfBlockPairBroadcastPayload`: a pair spread with a TTL;
* 7 :class:`EmptyCrawlResponsePayload`: "nothing in that range".

All integers are big-endian; ``varlenI`` is a 4-byte length and the bytes. Crawl ranges are *signed*
32-bit numbers: negative values count back from the end of the chain.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ...messaging.lazy_payload import VariablePayloadWID

if TYPE_CHECKING:
    from .block import TrustChainBlock

#: The wire layout of one block, in field order.
BLOCK_FORMAT = ["74s", "I", "74s", "I", "32s", "64s", "varlenI", "varlenI", "Q"]
BLOCK_FIELDS = ["public_key", "sequence_number", "link_public_key", "link_sequence_number", "previous_hash",
                "signature", "type", "transaction", "timestamp"]


def _block_values(block: TrustChainBlock) -> list:
    return [block.public_key, block.sequence_number, block.link_public_key, block.link_sequence_number,
            block.previous_hash, block.signature, block.type, block.encoded_transaction, block.timestamp]


class HalfBlockPayload(VariablePayloadWID):
    """One half block (message 1)."""

    msg_id = 1
    format_list: ClassVar[list] = list(BLOCK_FORMAT)
    names: ClassVar[list[str]] = list(BLOCK_FIELDS)

    @classmethod
    def from_half_block(cls, block: TrustChainBlock) -> HalfBlockPayload:
        """The payload carrying ``block``."""
        return cls(*_block_values(block))


class CrawlRequestPayload(VariablePayloadWID):
    """Ask for blocks ``start_seq_num..end_seq_num`` of ``public_key`` (message 2, signed)."""

    msg_id = 2
    format_list: ClassVar[list] = ["74s", "l", "l", "I"]
    names: ClassVar[list[str]] = ["public_key", "start_seq_num", "end_seq_num", "crawl_id"]


class CrawlResponsePayload(VariablePayloadWID):
    """One block of a crawl answer, numbered ``cur_count`` of ``total_count`` (message 3)."""

    msg_id = 3
    format_list: ClassVar[list] = [*BLOCK_FORMAT, "I", "I", "I"]
    names: ClassVar[list[str]] = [*BLOCK_FIELDS, "crawl_id", "cur_count", "total_count"]

    @classmethod
    def from_crawl(cls, block: TrustChainBlock, crawl_id: int, cur_count: int,
                   total_count: int) -> CrawlResponsePayload:
        """The payload carrying ``block`` as the ``cur_count``-th answer to crawl ``crawl_id``."""
        return cls(*_block_values(block), crawl_id, cur_count, total_count)


class HalfBlockPairPayload(VariablePayloadWID):
    """A proposal and its agreement (message 4); fields end in ``1`` and ``2``."""

    msg_id = 4
    format_list: ClassVar[list] = BLOCK_FORMAT * 2
    names: ClassVar[list[str]] = [f"{name}1" for name in BLOCK_FIELDS] + [f"{name}2" for name in BLOCK_FIELDS]

    @classmethod
    def from_half_blocks(cls, block1: TrustChainBlock, block2: TrustChainBlock) -> HalfBlockPairPayload:
        """The payload carrying both blocks."""
        return cls(*_block_values(block1), *_block_values(block2))


class HalfBlockBroadcastPayload(VariablePayloadWID):
    """A half block with a time-to-live for gossip (message 5)."""

    msg_id = 5
    format_list: ClassVar[list] = [*BLOCK_FORMAT, "I"]
    names: ClassVar[list[str]] = [*BLOCK_FIELDS, "ttl"]

    @classmethod
    def from_half_block(cls, block: TrustChainBlock, ttl: int) -> HalfBlockBroadcastPayload:
        """The payload carrying ``block`` with ``ttl`` hops left."""
        return cls(*_block_values(block), ttl)


class HalfBlockPairBroadcastPayload(VariablePayloadWID):
    """A proposal/agreement pair with a time-to-live for gossip (message 6)."""

    msg_id = 6
    format_list: ClassVar[list] = [*(BLOCK_FORMAT * 2), "I"]
    names: ClassVar[list[str]] = [*HalfBlockPairPayload.names, "ttl"]

    @classmethod
    def from_half_blocks(cls, block1: TrustChainBlock, block2: TrustChainBlock,
                         ttl: int) -> HalfBlockPairBroadcastPayload:
        """The payload carrying both blocks with ``ttl`` hops left."""
        return cls(*_block_values(block1), *_block_values(block2), ttl)


class EmptyCrawlResponsePayload(VariablePayloadWID):
    """The answer to a crawl request for which there are no blocks (message 7)."""

    msg_id = 7
    format_list: ClassVar[list] = ["I"]
    names: ClassVar[list[str]] = ["crawl_id"]


#: Every TrustChain payload class by message id.
TRUSTCHAIN_PAYLOADS = {cls.msg_id: cls for cls in (HalfBlockPayload, CrawlRequestPayload, CrawlResponsePayload,
                                                   HalfBlockPairPayload, HalfBlockBroadcastPayload,
                                                   HalfBlockPairBroadcastPayload, EmptyCrawlResponsePayload)}
