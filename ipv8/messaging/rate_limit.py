"""Token buckets per source, so that a packet from anyone cannot make us send without limit.

A puncture request is 45 unsigned bytes that make us send a 185-byte signed puncture to an address of
the requester's choosing; without a limit the node is a reflector for whoever spoofs the source. Each
source IP gets a bucket of ``burst`` tokens refilled at ``rate`` per second, and all sources together
share one more bucket, so many sources cannot add up to a flood either. Buckets are kept for a bounded
number of sources (least recently used go first).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Hashable


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated

    def take(self, now: float, rate: float, burst: float) -> bool:
        self.tokens = min(burst, self.tokens + max(0.0, now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class PerSourceRateLimiter:
    """Allow at most ``rate`` events per second per source (``burst`` at once), and ``total_rate`` overall.

    :param rate: tokens per second per source.
    :param burst: bucket size per source.
    :param total_rate: tokens per second for all sources together (its bucket holds ``total_burst``).
    :param max_sources: sources whose buckets are kept; a forgotten source starts with a full bucket,
        which is why this should comfortably exceed the number of honest sources.
    """

    def __init__(self, rate: float, burst: float, total_rate: float, total_burst: float,
                 max_sources: int = 4096) -> None:
        """Create a limiter with full buckets."""
        # Written as "not (valid)" so that NaN, which compares false with everything, is refused too.
        if not (rate > 0 and burst >= 1 and total_rate > 0 and total_burst >= 1):
            raise ValueError("rates must be positive and bursts at least 1")
        if not (isinstance(max_sources, int) and max_sources >= 1):
            raise ValueError(f"max_sources must be a positive integer, got {max_sources!r}")
        self.rate, self.burst = rate, burst
        self.total_rate, self.total_burst = total_rate, total_burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[Hashable, _Bucket] | None = None  # made by the first event: most stay empty
        self._total: _Bucket | None = None

    def allow(self, source: Hashable, now: float) -> bool:
        """Take a token for ``source``; False when it (or everyone together) is over the limit."""
        if self._buckets is None:
            self._buckets = OrderedDict()
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = _Bucket(self.burst, now)
            if len(self._buckets) > self.max_sources:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
        if not bucket.take(now, self.rate, self.burst):
            return False
        if self._total is None:
            self._total = _Bucket(self.total_burst, now)
        return self._total.take(now, self.total_rate, self.total_burst)


__all__ = ["PerSourceRateLimiter"]
