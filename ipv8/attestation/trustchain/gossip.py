"""Gossip of TrustChain blocks: half blocks (message 5) and pairs (message 6) spread with a TTL.

A mixin of :class:`~ipv8.attestation.trustchain.community.TrustChainCommunity`. A block or pair seen before
(the community's bounded, expiring ``seen_broadcasts``) is dropped and counted, so a broadcast storm costs one
lookup per copy; what is new is validated and stored like any block, and passed on only while its TTL, capped
at ``max_broadcast_ttl``, lasts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy_community import lazy_wrapper_unsigned
from ...messaging.payload_headers import GlobalTimeDistributionPayload
from .payload import HalfBlockBroadcastPayload, HalfBlockPairBroadcastPayload

if TYPE_CHECKING:
    from ...types import Address

DROP_TC_DUPLICATE_BROADCAST = "trustchain-duplicate-broadcast"


class BlockGossip:
    """Receiving broadcasts; sending them is the community's ``send_block`` / ``send_block_pair`` with a TTL."""

    def _first_sight(self, key: bytes) -> bool:
        now = self.clock.seconds()
        if self.seen_broadcasts.get(key, now, False) is not False:
            self.drop_counts[DROP_TC_DUPLICATE_BROADCAST] += 1
            return False
        self.seen_broadcasts.set(key, None, now)
        return True

    def _relay_ttl(self, ttl: int) -> int:
        return min(ttl, self.settings.max_broadcast_ttl) - 1

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, HalfBlockBroadcastPayload)
    def received_half_block_broadcast(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                                      payload: HalfBlockBroadcastPayload) -> None:
        """A half block spread by gossip (message 5): store it, pass it on while its TTL lasts."""
        if not self._allow_block_message(source_address):
            return
        block = self._block_from(payload)
        if block is None or not self._first_sight(block.hash):
            return
        if self.validate_persist_block(block).acceptable and self._relay_ttl(payload.ttl) > 0:
            self.send_block(block, ttl=self._relay_ttl(payload.ttl))

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, HalfBlockPairBroadcastPayload)
    def received_half_block_pair_broadcast(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                                           payload: HalfBlockPairBroadcastPayload) -> None:
        """A pair spread by gossip (message 6): store it, pass it on while its TTL lasts."""
        if not self._allow_block_message(source_address):
            return
        block1, block2 = self._block_from(payload, "1"), self._block_from(payload, "2")
        if block1 is None or block2 is None or not self._first_sight(block1.hash + block2.hash):
            return
        self._validate_persist_pair(block1, block2)
        if self.persistence.contains(block1) and self.persistence.contains(block2) \
                and self._relay_ttl(payload.ttl) > 0:
            self.send_block_pair(block1, block2, ttl=self._relay_ttl(payload.ttl))
