"""Tests for ipv8.requestcache, driven by a twisted Clock."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.defer import TimeoutError as DeferredTimeoutError
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from ipv8 import requestcache as requestcache_module
from ipv8.requestcache import (
    RANDOM_NUMBER_SPACE,
    NumberCache,
    NumberCacheWithName,
    RandomNumberCache,
    RandomNumberCacheWithName,
    RequestCache,
)
from ipv8.taskmanager import TaskManager

LOGGER_NAME = "ipv8.requestcache"


def outcome_of(deferred: Deferred[Any]) -> Any:  # noqa: ANN401
    """Return what a fired Deferred holds (a value or a Failure), consuming a failure."""
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    assert outcome, "Deferred has not fired"
    return outcome[0]


class Recorder(NumberCache):
    """A cache that remembers its timeouts."""

    def __init__(self, request_cache: RequestCache, number: int, delay: float = 10.0,
                 prefix: str = "recorder") -> None:
        super().__init__(request_cache, prefix, number)
        self.delay = delay
        self.timed_out_at: list[float] = []

    @property
    def timeout_delay(self) -> float:
        return self.delay

    def on_timeout(self) -> None:
        self.timed_out_at.append(self.clock.seconds())


class Named(NumberCacheWithName):
    name = "named"

    def __init__(self, request_cache: RequestCache, number: int) -> None:
        super().__init__(request_cache, self.name, number)


class RandomNamed(RandomNumberCacheWithName):
    name = "random named"

    def __init__(self, request_cache: RequestCache) -> None:
        super().__init__(request_cache, self.name)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache_store(clock: Clock) -> RequestCache:
    store = RequestCache(clock=clock)
    yield store
    store.shutdown()


def recorder(store: RequestCache, clock: Clock, number: int, **kwargs: Any) -> Recorder:  # noqa: ANN401
    cache = Recorder(store, number, **kwargs)
    cache.clock = clock
    return cache


# Storing and retrieving


def test_add_has_get_pop(cache_store: RequestCache, clock: Clock) -> None:
    cache = recorder(cache_store, clock, 7)
    assert not cache_store.has("recorder", 7)
    assert cache_store.add(cache) is cache

    assert cache_store.has("recorder", 7)
    assert not cache_store.has("recorder", 8)
    assert not cache_store.has("other", 7)
    assert cache_store.get("recorder", 7) is cache
    assert cache_store.get("recorder", 8) is None
    assert cache_store.pop("recorder", 7) is cache
    assert not cache_store.has("recorder", 7)
    with pytest.raises(KeyError):
        cache_store.pop("recorder", 7)


def test_properties_and_defaults(cache_store: RequestCache) -> None:
    cache = NumberCache(cache_store, "plain", 3)
    assert (cache.prefix, cache.number, cache.timeout_delay) == ("plain", 3, 10.0)
    assert cache.managed_futures == []
    assert "plain" in str(cache) and "3" in str(cache)
    cache.on_timeout()  # the default does nothing


def test_named_caches_can_be_looked_up_by_class(cache_store: RequestCache, clock: Clock) -> None:
    cache = cache_store.add(Named(cache_store, 1))
    assert cache_store.has(Named, 1)
    assert cache_store.get(Named, 1) is cache
    assert cache_store.get("named", 1) is cache
    assert outcome_of(cache_store.wait_for(Named, 1)) is cache
    assert cache_store.pop(Named, 1) is cache
    with pytest.raises(TypeError):
        cache_store.get(Recorder, 1)  # no 'name' attribute
    with pytest.raises(TypeError):
        cache_store.has(3, 1)


def test_number_cache_rejects_bad_identity(cache_store: RequestCache, clock: Clock) -> None:
    with pytest.raises(TypeError):
        NumberCache(cache_store, b"bytes", 1)
    with pytest.raises(TypeError):
        NumberCache(cache_store, "prefix", "1")
    with pytest.raises(TypeError):
        NumberCache(cache_store, "prefix", True)
    cache_store.add(NumberCache(cache_store, "prefix", 1))
    with pytest.raises(RuntimeError):
        NumberCache(cache_store, "prefix", 1)


def test_add_duplicate_is_refused_and_logged(cache_store: RequestCache, clock: Clock,
                                             caplog: pytest.LogCaptureFixture) -> None:
    first = recorder(cache_store, clock, 1)
    second = recorder(cache_store, clock, 1)  # built before the first one was added
    cache_store.add(first)
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        assert cache_store.add(second) is None
    assert caplog.records[0].levelno == logging.ERROR
    assert cache_store.get("recorder", 1) is first


def test_add_rejects_bad_input(cache_store: RequestCache, clock: Clock) -> None:
    with pytest.raises(TypeError):
        cache_store.add("not a cache")
    with pytest.raises(ValueError):
        cache_store.add(recorder(cache_store, clock, 1, delay=-1.0))
    with pytest.raises(ValueError):
        cache_store.add(recorder(cache_store, clock, 1, delay=float("nan")))
    with pytest.raises(TypeError):
        cache_store.add(recorder(cache_store, clock, 1, delay="soon"))
    assert not cache_store.has("recorder", 1)


def test_request_cache_is_a_task_manager(cache_store: RequestCache, clock: Clock) -> None:
    calls = []
    assert isinstance(cache_store, TaskManager)
    cache_store.register_anonymous_task("retry later", calls.append, 1, delay=0)
    clock.advance(0)
    assert calls == [1]


# Timeouts


def test_cache_times_out_after_its_delay(cache_store: RequestCache, clock: Clock) -> None:
    cache = cache_store.add(recorder(cache_store, clock, 1, delay=3.0))
    clock.advance(2.9)
    assert cache.timed_out_at == []
    assert cache_store.has("recorder", 1)
    clock.advance(0.1)
    assert cache.timed_out_at == [3.0]
    assert not cache_store.has("recorder", 1)


def test_default_timeout_is_ten_seconds(cache_store: RequestCache, clock: Clock) -> None:
    cache_store.add(NumberCache(cache_store, "plain", 1))
    clock.advance(9.99)
    assert cache_store.has("plain", 1)
    clock.advance(0.01)
    assert not cache_store.has("plain", 1)


def test_pop_cancels_the_timeout(cache_store: RequestCache, clock: Clock) -> None:
    cache = cache_store.add(recorder(cache_store, clock, 1, delay=1.0))
    cache_store.pop("recorder", 1)
    clock.advance(5)
    assert cache.timed_out_at == []
    assert clock.getDelayedCalls() == []


def test_cache_is_removed_before_on_timeout_runs(cache_store: RequestCache, clock: Clock) -> None:
    seen = []

    class Reuser(Recorder):
        def on_timeout(self) -> None:
            seen.append(cache_store.has("recorder", 1))
            # Re-adding the same number from on_timeout must work.
            cache_store.add(recorder(cache_store, clock, 1, delay=5.0))

    first = Reuser(cache_store, 1, delay=1.0)
    cache_store.add(first)
    clock.advance(1)
    assert seen == [False]
    replacement = cache_store.get("recorder", 1)
    assert replacement is not None and replacement is not first
    clock.advance(5)
    assert replacement.timed_out_at == [6.0]


def test_failing_on_timeout_is_logged_and_futures_still_resolve(cache_store: RequestCache, clock: Clock,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    class Broken(NumberCache):
        def on_timeout(self) -> None:
            raise ValueError("on_timeout broke")

    cache = Broken(cache_store, "broken", 1)
    future: Deferred[str] = Deferred()
    cache.register_future(future, on_timeout="timed out")
    cache_store.add(cache)
    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        clock.advance(10)
    assert "on_timeout broke" in caplog.text
    assert outcome_of(future) == "timed out"


# Futures


def test_future_gets_value_on_timeout(cache_store: RequestCache, clock: Clock) -> None:
    cache = recorder(cache_store, clock, 1, delay=1.0)
    with_value: Deferred[Any] = Deferred()
    with_none: Deferred[Any] = Deferred()
    already_done: Deferred[Any] = Deferred()
    cache.register_future(with_value, on_timeout=False)
    cache.register_future(with_none)
    cache.register_future(already_done, on_timeout="unused")
    assert [future for future, _ in cache.managed_futures] == [with_value, with_none, already_done]
    cache_store.add(cache)
    already_done.callback("explicit")

    clock.advance(1)
    assert outcome_of(with_value) is False
    assert outcome_of(with_none) is None
    assert outcome_of(already_done) == "explicit"


def test_future_errbacks_with_exception_on_timeout(cache_store: RequestCache, clock: Clock) -> None:
    cache = recorder(cache_store, clock, 1, delay=1.0)
    instance_error = ConnectionError("no answer")
    with_instance: Deferred[Any] = Deferred()
    with_class: Deferred[Any] = Deferred()
    cache.register_future(with_instance, on_timeout=instance_error)
    cache.register_future(with_class, on_timeout=DeferredTimeoutError)
    cache_store.add(cache)

    clock.advance(1)
    failure = outcome_of(with_instance)
    assert isinstance(failure, Failure) and failure.value is instance_error
    failure = outcome_of(with_class)
    assert isinstance(failure, Failure) and failure.check(DeferredTimeoutError)


def test_register_future_needs_a_deferred(cache_store: RequestCache) -> None:
    with pytest.raises(TypeError):
        NumberCache(cache_store, "plain", 1).register_future("not a deferred")


def test_futures_untouched_by_pop_and_clear(cache_store: RequestCache, clock: Clock) -> None:
    popped = recorder(cache_store, clock, 1, delay=1.0)
    cleared = recorder(cache_store, clock, 2, delay=1.0)
    futures = [Deferred(), Deferred()]
    popped.register_future(futures[0])
    cleared.register_future(futures[1])
    cache_store.add(popped)
    cache_store.add(cleared)

    cache_store.pop("recorder", 1)
    assert cache_store.clear() == [cleared]
    clock.advance(5)
    assert not any(future.called for future in futures)
    assert cleared.timed_out_at == []
    assert not cache_store.has("recorder", 2)


# passthrough


def test_passthrough_makes_caches_time_out_on_next_turn(cache_store: RequestCache, clock: Clock) -> None:
    with cache_store.passthrough():
        fast = cache_store.add(recorder(cache_store, clock, 1, delay=100.0))
    slow = cache_store.add(recorder(cache_store, clock, 2, delay=100.0))

    assert fast.timed_out_at == []  # not inline: the timeout needs a reactor turn
    clock.advance(0)
    assert fast.timed_out_at == [0.0]
    assert slow.timed_out_at == []


def test_passthrough_with_class_filter_and_timeout(cache_store: RequestCache, clock: Clock) -> None:
    class Special(Recorder):
        pass

    with cache_store.passthrough(Special, Named, timeout=0.5):
        special = Special(cache_store, 1, delay=100.0)
        special.clock = clock
        cache_store.add(special)
        other = cache_store.add(recorder(cache_store, clock, 2, delay=100.0))
        named = cache_store.add(Named(cache_store, 3))

    clock.advance(0.5)
    assert special.timed_out_at == [0.5]
    assert other.timed_out_at == []
    assert not cache_store.has(Named, 3)
    assert named is not None


def test_passthrough_nests_and_restores(cache_store: RequestCache, clock: Clock) -> None:
    with cache_store.passthrough(timeout=2.0):
        with cache_store.passthrough(timeout=1.0):
            inner = cache_store.add(recorder(cache_store, clock, 1))
        outer = cache_store.add(recorder(cache_store, clock, 2))
    after = cache_store.add(recorder(cache_store, clock, 3, delay=3.0))

    clock.pump([1.0, 1.0, 1.0])
    assert (inner.timed_out_at, outer.timed_out_at, after.timed_out_at) == ([1.0], [2.0], [3.0])


def test_passthrough_as_decorator(cache_store: RequestCache, clock: Clock) -> None:
    @cache_store.passthrough()
    def add_one() -> Recorder:
        return cache_store.add(recorder(cache_store, clock, 1))

    cache = add_one()
    clock.advance(0)
    assert cache.timed_out_at == [0.0]


# Random numbers


def test_random_number_cache_picks_free_number_in_range(cache_store: RequestCache) -> None:
    numbers = {cache_store.add(RandomNamed(cache_store)).number for _ in range(50)}
    assert len(numbers) == 50
    assert all(0 <= number < RANDOM_NUMBER_SPACE for number in numbers)
    assert all(cache_store.has(RandomNamed, number) for number in numbers)


def test_random_number_avoids_collisions(cache_store: RequestCache, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_store.add(NumberCache(cache_store, "p", 5))
    cache_store.add(NumberCache(cache_store, "p", 6))
    draws = iter([5, 6, 5, 9])
    monkeypatch.setattr(requestcache_module.random, "randrange", lambda _: next(draws))
    assert RandomNumberCache(cache_store, "p").number == 9


class FakeFullStore:
    """Stands in for a RequestCache in which only some numbers are free."""

    def __init__(self, free: set[int]) -> None:
        self.free = free

    def has(self, prefix: str, number: int) -> bool:
        return number not in self.free


def test_random_number_scans_when_nearly_full() -> None:
    assert RandomNumberCache.find_unclaimed_identifier(FakeFullStore({40000}), "p") == 40000


def test_random_number_when_all_taken_raises() -> None:
    with pytest.raises(RuntimeError):
        RandomNumberCache.find_unclaimed_identifier(FakeFullStore(set()), "p")


# wait_for


def test_wait_for_fires_when_cache_is_added(cache_store: RequestCache, clock: Clock) -> None:
    first = cache_store.wait_for("recorder", 1)
    second = cache_store.wait_for("recorder", 1)
    unrelated = cache_store.wait_for("recorder", 2)
    assert not first.called

    cache = cache_store.add(recorder(cache_store, clock, 1))
    assert outcome_of(first) is cache
    assert outcome_of(second) is cache
    assert not unrelated.called
    unrelated.cancel()
    assert outcome_of(unrelated).check(CancelledError)
    assert cache_store._waiters == {}  # noqa: SLF001 - a cancelled wait leaves nothing behind


def test_wait_for_timeout(cache_store: RequestCache, clock: Clock) -> None:
    waiting = cache_store.wait_for(Named, 1, timeout=2.0)
    clock.advance(2.0)
    failure = outcome_of(waiting)
    assert isinstance(failure, Failure) and failure.check(DeferredTimeoutError)
    cache_store.add(Named(cache_store, 1))  # nobody is waiting any more


def test_wait_for_with_timeout_succeeds_in_time(cache_store: RequestCache, clock: Clock) -> None:
    waiting = cache_store.wait_for(Named, 1, timeout=2.0)
    clock.advance(1.0)
    cache = cache_store.add(Named(cache_store, 1))
    assert outcome_of(waiting) is cache
    cache_store.pop(Named, 1)
    assert clock.getDelayedCalls() == []  # the wait's own timer went away with it


# Shutdown


def test_shutdown_cancels_everything(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    store = RequestCache(clock=clock)
    cache = recorder(store, clock, 1, delay=1.0)
    future: Deferred[Any] = Deferred()
    cache.register_future(future, on_timeout="value")
    store.add(cache)
    waiting = store.wait_for("recorder", 2)
    other_task = []
    store.register_task("other", other_task.append, 1, delay=1.0)

    done = store.shutdown()
    assert outcome_of(done) is None
    assert outcome_of(future).check(CancelledError)
    assert outcome_of(waiting).check(CancelledError)
    assert not store.has("recorder", 1)
    clock.advance(5)
    assert cache.timed_out_at == []
    assert other_task == []
    assert clock.getDelayedCalls() == []

    late = recorder(store, clock, 3)
    late_future: Deferred[Any] = Deferred()
    late.register_future(late_future)
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        assert store.add(late) is None
    assert caplog.records[0].levelno == logging.WARNING
    assert outcome_of(late_future).check(CancelledError)
    assert outcome_of(store.wait_for("recorder", 4)).check(CancelledError)


def test_a_full_store_refuses_more_caches() -> None:
    clock = Clock()
    store = RequestCache(clock)
    store.max_size = 3
    added = [store.add(NumberCache(store, "flood", number)) for number in range(5)]
    assert [cache is not None for cache in added] == [True, True, True, False, False]
    assert not store.has("flood", 3)
    store.pop("flood", 0)
    assert store.add(NumberCache(store, "flood", 9)) is not None
    clock.advance(60)
    store.shutdown()
