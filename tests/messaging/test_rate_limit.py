"""Tests for ipv8.messaging.rate_limit: token buckets per source plus one shared bucket.

Rates are powers of two and times multiples of 1/4 s, so the bucket arithmetic is exact in floating point.
"""
from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipv8.messaging.rate_limit import PerSourceRateLimiter

A, B, C, D = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"


def roomy(rate: float = 1.0, burst: float = 3, max_sources: int = 4096) -> PerSourceRateLimiter:
    """A limiter whose shared bucket never gets in the way."""
    return PerSourceRateLimiter(rate, burst, total_rate=1e6, total_burst=1e6, max_sources=max_sources)


# --- arguments -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate, burst, total_rate, total_burst", [
    (0, 3, 10, 10), (-1, 3, 10, 10), (1, 0, 10, 10), (1, 0.5, 10, 10), (1, -3, 10, 10),
    (1, 3, 0, 10), (1, 3, -2, 10), (1, 3, 10, 0), (1, 3, 10, 0.99),
])
def test_invalid_arguments(rate: float, burst: float, total_rate: float, total_burst: float) -> None:
    with pytest.raises(ValueError):
        PerSourceRateLimiter(rate, burst, total_rate, total_burst)


def test_smallest_valid_arguments() -> None:
    limiter = PerSourceRateLimiter(0.001, 1, 0.001, 1, max_sources=1)
    assert (limiter.rate, limiter.burst, limiter.total_rate, limiter.total_burst) == (0.001, 1, 0.001, 1)
    assert limiter.max_sources == 1
    assert limiter.allow(A, 0.0)
    assert not limiter.allow(A, 0.0)


@pytest.mark.parametrize("rate, burst, total_rate, total_burst, max_sources", [
    (1, 3, 10, 10, 0), (1, 3, 10, 10, -1), (math.nan, 3, 10, 10, 16), (1, math.nan, 10, 10, 16),
    (1, 3, math.nan, 10, 16), (1, 3, 10, math.nan, 16),
])
def test_degenerate_arguments_are_refused(rate: float, burst: float, total_rate: float, total_burst: float,
                                          max_sources: int) -> None:
    with pytest.raises(ValueError):
        PerSourceRateLimiter(rate, burst, total_rate, total_burst, max_sources=max_sources)


# --- one source ----------------------------------------------------------------------------------------------


def test_burst_then_refused() -> None:
    limiter = roomy(rate=1.0, burst=3)
    assert [limiter.allow(A, 0.0) for _ in range(5)] == [True, True, True, False, False]


def test_refill_at_rate() -> None:
    limiter = roomy(rate=2.0, burst=2)
    assert limiter.allow(A, 0.0) and limiter.allow(A, 0.0)
    assert not limiter.allow(A, 0.25)  # half a token
    assert limiter.allow(A, 0.5)  # refused attempts do not reset the refill: the token is complete now
    assert not limiter.allow(A, 0.5)
    assert limiter.allow(A, 1.0)
    assert not limiter.allow(A, 1.0)


def test_fractions_add_up() -> None:
    limiter = roomy(rate=1.0, burst=1)
    assert limiter.allow(A, 0.0)
    for moment in (0.25, 0.5, 0.75):
        assert not limiter.allow(A, moment)
    assert limiter.allow(A, 1.0)


def test_refill_is_capped_at_burst() -> None:
    limiter = roomy(rate=1.0, burst=3)
    assert all(limiter.allow(A, 0.0) for _ in range(3))
    results = [limiter.allow(A, 1000.0) for _ in range(5)]
    assert results == [True, True, True, False, False]


def test_steady_rate_over_a_long_time() -> None:
    limiter = roomy(rate=4.0, burst=2)
    allowed = sum(limiter.allow(A, step / 64) for step in range(64 * 100))  # 64 attempts a second, t < 100 s
    assert allowed == 2 + 4 * 100 - 1  # the burst, then 4 a second (the 400th refill is due at t = 100)


def test_clock_going_back_adds_no_tokens() -> None:
    limiter = roomy(rate=1.0, burst=1)
    assert limiter.allow(A, 10.0)
    assert not limiter.allow(A, 5.0)
    assert not limiter.allow(A, 5.5)


def test_sources_are_independent() -> None:
    limiter = roomy(rate=1.0, burst=2)
    assert limiter.allow(A, 0.0) and limiter.allow(A, 0.0)
    assert not limiter.allow(A, 0.0)
    assert limiter.allow(B, 0.0) and limiter.allow(B, 0.0)
    assert not limiter.allow(B, 0.0)
    assert limiter.allow(("127.0.0.1", 1), 0.0)  # any hashable source


# --- all sources together ---------------------------------------------------------------------------------


def test_shared_cap_across_sources() -> None:
    limiter = PerSourceRateLimiter(rate=1.0, burst=3, total_rate=1.0, total_burst=5)
    sources = [f"127.0.1.{index}" for index in range(10)]
    results = [limiter.allow(source, 0.0) for source in sources]
    assert results == [True] * 5 + [False] * 5
    assert limiter.allow(sources[9], 1.0)  # one more token overall after a second
    assert not limiter.allow(sources[8], 1.0)


def test_per_source_refusals_do_not_drain_the_shared_bucket() -> None:
    limiter = PerSourceRateLimiter(rate=1.0, burst=3, total_rate=1.0, total_burst=10)
    for _ in range(100):
        limiter.allow(A, 0.0)  # 3 allowed, 97 refused by A's own bucket
    assert [limiter.allow(B, 0.0) for _ in range(4)] == [True, True, True, False]
    assert [limiter.allow(C, 0.0) for _ in range(4)] == [True, True, True, False]
    assert [limiter.allow(D, 0.0) for _ in range(2)] == [True, False]  # the 10th token overall, then none


def test_shared_bucket_refills_and_is_capped() -> None:
    limiter = PerSourceRateLimiter(rate=100.0, burst=100, total_rate=2.0, total_burst=4)
    assert sum(limiter.allow(A, 0.0) for _ in range(10)) == 4
    assert sum(limiter.allow(A, 0.5) for _ in range(10)) == 1
    assert sum(limiter.allow(A, 1000.0) for _ in range(10)) == 4


# --- bounded memory -----------------------------------------------------------------------------------------


def test_least_recently_used_source_is_forgotten() -> None:
    limiter = roomy(rate=1.0, burst=1, max_sources=2)
    assert limiter.allow(A, 0.0)
    assert not limiter.allow(A, 0.0)
    assert limiter.allow(B, 0.0)
    assert limiter.allow(C, 0.0)  # A is forgotten to make room ...
    assert limiter.allow(A, 0.0)  # ... and comes back with a full bucket (documented)
    assert not limiter.allow(C, 0.0)  # C was kept (and B made room for A)


def test_recent_use_keeps_a_source() -> None:
    limiter = roomy(rate=1.0, burst=1, max_sources=2)
    assert limiter.allow(A, 0.0)
    assert limiter.allow(B, 0.0)
    assert not limiter.allow(A, 0.0)  # even a refused attempt counts as use
    assert limiter.allow(C, 0.0)  # B goes
    assert not limiter.allow(A, 0.0)
    assert limiter.allow(B, 0.0)


def test_many_sources_stay_bounded() -> None:
    limiter = roomy(max_sources=50)
    for index in range(3000):
        limiter.allow(index, index / 100)
    assert len(limiter._buckets) == 50  # white-box: the memory bound itself
    assert set(limiter._buckets) == set(range(2950, 3000))


# --- properties ---------------------------------------------------------------------------------------------

EVENTS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=80)  # (source, quarters)
POWERS = st.sampled_from([0.5, 1.0, 2.0, 4.0])
BURSTS = st.sampled_from([1, 2, 3, 5])


def _run(limiter: PerSourceRateLimiter, events: list) -> list:
    now, log = 0.0, []
    for source, quarters in events:
        now += quarters / 4
        log.append((source, now, limiter.allow(source, now)))
    return log


def _respects_bucket(times: list, rate: float, burst: float) -> bool:
    """No interval holds more than ``burst + rate * length`` of the ``times`` (sorted)."""
    return all(later_index - index + 1 <= burst + rate * (times[later_index] - times[index]) + 1e-9
               for index, later_index in itertools.combinations_with_replacement(range(len(times)), 2))


@settings(max_examples=80, deadline=None)
@given(EVENTS, POWERS, BURSTS, POWERS, BURSTS)
def test_never_more_than_the_buckets_allow(events: list, rate: float, burst: int, total_rate: float,
                                           total_burst: int) -> None:
    limiter = PerSourceRateLimiter(rate, burst, total_rate, total_burst, max_sources=5)
    log = _run(limiter, events)
    allowed = [(source, now) for source, now, ok in log if ok]
    assert _respects_bucket([now for _, now in allowed], total_rate, total_burst)
    for source in range(5):
        assert _respects_bucket([now for who, now in allowed if who == source], rate, burst)


@settings(max_examples=80, deadline=None)
@given(EVENTS, POWERS, BURSTS, POWERS, BURSTS, st.integers(1, 5))
def test_a_quiet_limiter_always_lets_through(events: list, rate: float, burst: int, total_rate: float,
                                             total_burst: int, max_sources: int) -> None:
    # After a pause long enough to refill one token in every bucket, nobody is refused.
    limiter = PerSourceRateLimiter(rate, burst, total_rate, total_burst, max_sources=max_sources)
    log = _run(limiter, events)
    pause = max(1 / rate, 1 / total_rate)
    for (_, before, _), (_, now, ok) in itertools.pairwise(log):
        if now - before >= pause:
            assert ok
    first_source = events[0][0]
    assert log[0] == (first_source, events[0][1] / 4, True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=200), st.integers(1, 8))
def test_sources_kept_never_exceed_the_cap(sources: list, max_sources: int) -> None:
    limiter = roomy(max_sources=max_sources)
    for step, source in enumerate(sources):
        limiter.allow(source, step / 4)
        assert len(limiter._buckets) <= max_sources
    recent = list(dict.fromkeys(reversed(sources)))[:max_sources]
    assert set(limiter._buckets or ()) == set(recent)
