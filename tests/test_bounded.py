"""Tests for ipv8.bounded: AgedSet and AgedMap, checked by hand and against simple models."""
from __future__ import annotations

import random
from collections import Counter, OrderedDict
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ipv8.bounded import AgedMap, AgedSet


@pytest.fixture
def seeded_random() -> Iterator[None]:
    """Seed the module-level ``random`` (which AgedSet uses) and restore its state afterwards."""
    state = random.getstate()
    random.seed(0x1b8)
    yield
    random.setstate(state)


def assert_set_internals(aged: AgedSet) -> None:
    """White-box: the list, its index and the ordered dict describe the same members."""
    items, index = aged._items, aged._index
    assert len(items) == len(index) == len(aged._added_at)
    assert set(items) == set(index) == set(aged._added_at)
    for position, item in enumerate(items):
        assert index[item] == position


# --- AgedSet ------------------------------------------------------------------------------------------------


def test_empty_set() -> None:
    aged: AgedSet = AgedSet()
    assert len(aged) == 0
    assert list(aged) == []
    assert "x" not in aged
    assert aged.oldest() is None
    assert aged.random() is None
    assert aged.added_at("x") is None
    aged.discard("x")  # absent: no error
    assert len(aged) == 0


def test_set_add_and_order() -> None:
    aged: AgedSet = AgedSet()
    aged.add("a", 1.0)
    aged.add("b", 2.0)
    aged.add("c", 3.0)
    assert len(aged) == 3
    assert list(aged) == ["a", "b", "c"]
    assert "b" in aged
    assert aged.oldest() == ("a", 1.0)
    assert aged.added_at("b") == 2.0


def test_set_re_add_makes_member_newest() -> None:
    aged: AgedSet = AgedSet()
    for time, item in enumerate("abc"):
        aged.add(item, float(time))
    aged.add("a", 10.0)
    assert len(aged) == 3
    assert list(aged) == ["b", "c", "a"]
    assert aged.oldest() == ("b", 1.0)
    assert aged.added_at("a") == 10.0
    assert_set_internals(aged)


@pytest.mark.parametrize("victim", ["a", "c", "e"])  # first, middle and last of the internal list
def test_set_discard_keeps_the_rest(victim: str) -> None:
    aged: AgedSet = AgedSet()
    for time, item in enumerate("abcde"):
        aged.add(item, float(time))
    aged.discard(victim)
    assert victim not in aged
    assert aged.added_at(victim) is None
    assert list(aged) == [item for item in "abcde" if item != victim]
    assert len(aged) == 4
    assert_set_internals(aged)
    aged.discard(victim)  # twice: no error, no change
    assert len(aged) == 4


def test_set_discard_everything_then_reuse() -> None:
    aged: AgedSet = AgedSet()
    for time, item in enumerate("abc"):
        aged.add(item, float(time))
    for item in "bca":
        aged.discard(item)
    assert len(aged) == 0 and aged.oldest() is None and aged.random() is None
    aged.add("b", 9.0)
    assert list(aged) == ["b"]
    assert aged.random() == "b"
    assert_set_internals(aged)


def test_set_oldest_follows_discards() -> None:
    aged: AgedSet = AgedSet()
    for time, item in enumerate("abc"):
        aged.add(item, float(time))
    aged.discard("a")
    assert aged.oldest() == ("b", 1.0)
    aged.discard("b")
    assert aged.oldest() == ("c", 2.0)


def test_set_random_is_uniform(seeded_random: None) -> None:
    aged: AgedSet = AgedSet()
    for item in range(8):
        aged.add(item, float(item))
    # Holes made by removal are filled by swapping: the picks must stay uniform over what is left.
    aged.discard(0)
    aged.discard(5)
    picks = Counter(aged.random() for _ in range(6000))
    assert set(picks) == {1, 2, 3, 4, 6, 7}
    for count in picks.values():
        assert 800 < count < 1200  # expected 1000; a 6-sigma band (sigma ~ 29)


def test_set_random_with_one_member() -> None:
    aged: AgedSet = AgedSet()
    aged.add(("127.0.0.1", 1), 0.0)
    assert aged.random() == ("127.0.0.1", 1)


class AgedSetMachine(RuleBasedStateMachine):
    """Random add/discard sequences against an OrderedDict model."""

    def __init__(self) -> None:
        super().__init__()
        self.aged: AgedSet = AgedSet()
        self.model: OrderedDict = OrderedDict()
        self.now = 0.0

    @rule(item=st.integers(0, 9), step=st.floats(0, 5, allow_nan=False))
    def add(self, item: int, step: float) -> None:
        self.now += step
        self.aged.add(item, self.now)
        self.model.pop(item, None)
        self.model[item] = self.now

    @rule(item=st.integers(0, 9))
    def discard(self, item: int) -> None:
        self.aged.discard(item)
        self.model.pop(item, None)

    @precondition(lambda self: len(self.model) > 0)
    @rule()
    def discard_oldest(self) -> None:
        item, added = self.aged.oldest()  # type: ignore[misc]
        assert (item, added) == next(iter(self.model.items()))
        self.aged.discard(item)
        del self.model[item]

    @rule()
    def pick(self) -> None:
        picked = self.aged.random()
        if self.model:
            assert picked in self.model
        else:
            assert picked is None

    @invariant()
    def matches_model(self) -> None:
        assert len(self.aged) == len(self.model)
        assert list(self.aged) == list(self.model)
        for item in range(10):
            assert (item in self.aged) == (item in self.model)
            assert self.aged.added_at(item) == self.model.get(item)
        assert self.aged.oldest() == (next(iter(self.model.items())) if self.model else None)
        assert_set_internals(self.aged)


AgedSetMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=30, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
TestAgedSet = AgedSetMachine.TestCase


# --- AgedMap ------------------------------------------------------------------------------------------------


def test_map_get_set_pop() -> None:
    aged: AgedMap = AgedMap(max_size=3, ttl=10.0)
    assert aged.set("a", 1, 0.0) == []
    assert aged.get("a", 0.0) == 1
    assert "a" in aged and len(aged) == 1
    assert aged.get("missing", 0.0) is None
    assert aged.get("missing", 0.0, "fallback") == "fallback"
    assert aged.pop("a") == 1
    assert aged.pop("a") is None
    assert aged.pop("a", "gone") == "gone"
    assert len(aged) == 0


def test_map_cap_drops_least_recently_written() -> None:
    aged: AgedMap = AgedMap(max_size=2, ttl=100.0)
    aged.set("a", 1, 0.0)
    aged.set("b", 2, 1.0)
    assert aged.set("c", 3, 2.0) == [("a", 1)]
    assert list(aged) == ["b", "c"]
    assert len(aged) == 2


def test_map_write_refreshes_but_read_does_not() -> None:
    aged: AgedMap = AgedMap(max_size=2, ttl=100.0)
    aged.set("a", 1, 0.0)
    aged.set("b", 2, 1.0)
    assert aged.get("a", 2.0) == 1  # a read: "a" stays the oldest
    assert aged.set("c", 3, 3.0) == [("a", 1)]
    aged.set("b", 20, 4.0)  # a write: "b" becomes the newest
    assert list(aged) == ["c", "b"]
    assert aged.set("d", 4, 5.0) == [("c", 3)]
    assert aged.get("b", 5.0) == 20


def test_map_overwrite_at_cap_evicts_nothing() -> None:
    aged: AgedMap = AgedMap(max_size=2, ttl=100.0)
    aged.set("a", 1, 0.0)
    aged.set("b", 2, 1.0)
    assert aged.set("a", 10, 2.0) == []
    assert list(aged) == ["b", "a"]


def test_map_ttl_boundary() -> None:
    aged: AgedMap = AgedMap(max_size=10, ttl=10.0)
    aged.set("a", 1, 0.0)
    assert aged.get("a", 10.0) == 1  # exactly ttl old: still alive
    assert "a" in aged
    assert aged.get("a", 10.001) is None  # older: gone, and dropped on the way
    assert "a" not in aged and len(aged) == 0


def test_map_expired_read_returns_default() -> None:
    aged: AgedMap = AgedMap(max_size=10, ttl=1.0)
    aged.set("a", 1, 0.0)
    assert aged.get("a", 5.0, "stale") == "stale"


def test_map_write_refreshes_lifetime() -> None:
    aged: AgedMap = AgedMap(max_size=10, ttl=10.0)
    aged.set("a", 1, 0.0)
    aged.set("a", 2, 8.0)
    assert aged.get("a", 15.0) == 2
    assert aged.get("a", 18.5) is None


def test_map_prune_returns_expired_oldest_first() -> None:
    aged: AgedMap = AgedMap(max_size=10, ttl=5.0)
    for time, key in enumerate("abcd"):
        aged.set(key, time, float(time))
    assert aged.prune(4.0) == []
    assert aged.prune(7.5) == [("a", 0), ("b", 1), ("c", 2)]  # 7.5, 6.5 and 5.5 old; "d" is 4.5 old
    assert list(aged) == ["d"]


def test_map_prune_boundaries_exactly() -> None:
    aged: AgedMap = AgedMap(max_size=10, ttl=5.0)
    for time, key in enumerate("abcd"):
        aged.set(key, time, float(time))
    assert aged.prune(7.0) == [("a", 0), ("b", 1)]  # 7 and 6 old; "c" is exactly 5 old and stays
    assert list(aged) == ["c", "d"]
    assert aged.prune(100.0) == [("c", 2), ("d", 3)]
    assert len(aged) == 0
    assert aged.prune(100.0) == []


def test_map_set_returns_expired_and_evicted_together() -> None:
    aged: AgedMap = AgedMap(max_size=2, ttl=5.0)
    aged.set("a", 1, 0.0)
    aged.set("b", 2, 4.0)
    aged.set("c", 3, 5.0)  # cap: "a" goes
    assert list(aged) == ["b", "c"]
    assert aged.set("d", 4, 9.5) == [("b", 2)]  # "b" expired (5.5 old); then at cap again: nothing more
    assert aged.set("e", 5, 9.6) == [("c", 3)]
    assert list(aged) == ["d", "e"]


def test_map_pop_returns_expired_value() -> None:
    aged: AgedMap = AgedMap(max_size=3, ttl=1.0)
    aged.set("a", 1, 0.0)
    assert aged.pop("a") == 1  # pop does not look at the clock


def test_map_zero_cap_keeps_nothing() -> None:
    aged: AgedMap = AgedMap(max_size=0, ttl=10.0)
    assert aged.set("a", 1, 0.0) == [("a", 1)]
    assert len(aged) == 0


def test_map_attributes_can_be_changed() -> None:
    aged: AgedMap = AgedMap(max_size=5, ttl=10.0)
    for time in range(5):
        aged.set(time, time, float(time))
    aged.max_size = 2
    assert aged.prune(4.0) == [(0, 0), (1, 1), (2, 2)]
    aged.ttl = 0.5
    assert aged.prune(4.0) == [(3, 3)]
    assert list(aged) == [4]


class AgedMapMachine(RuleBasedStateMachine):
    """Random set/get/pop/prune sequences (time only moves forward) against a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.model: OrderedDict = OrderedDict()  # key -> (written, value), least recently written first

    @initialize(max_size=st.integers(0, 5), ttl=st.sampled_from([0.0, 1.0, 2.5, 10.0]))
    def create(self, max_size: int, ttl: float) -> None:
        self.max_size, self.ttl = max_size, ttl
        self.aged: AgedMap = AgedMap(max_size, ttl)

    def _model_prune(self) -> list:
        live = [(key, entry) for key, entry in self.model.items() if self.now - entry[0] <= self.ttl]
        dropped = [(key, entry[1]) for key, entry in self.model.items() if self.now - entry[0] > self.ttl]
        while len(live) > self.max_size:
            key, entry = live.pop(0)
            dropped.append((key, entry[1]))
        self.model = OrderedDict(live)
        return dropped

    @rule(step=st.sampled_from([0.0, 0.5, 1.0, 2.5, 3.0]))
    def advance(self, step: float) -> None:
        self.now += step

    @rule(key=st.integers(0, 7), value=st.integers())
    def set(self, key: int, value: int) -> None:
        self.model.pop(key, None)
        self.model[key] = (self.now, value)
        expected = self._model_prune()
        assert self.aged.set(key, value, self.now) == expected
        assert len(self.aged) <= self.max_size

    @rule(key=st.integers(0, 7))
    def get(self, key: int) -> None:
        entry = self.model.get(key)
        if entry is not None and self.now - entry[0] > self.ttl:
            del self.model[key]
            entry = None
        assert self.aged.get(key, self.now, "default") == ("default" if entry is None else entry[1])

    @rule(key=st.integers(0, 7))
    def pop(self, key: int) -> None:
        entry = self.model.pop(key, None)
        assert self.aged.pop(key, "default") == ("default" if entry is None else entry[1])

    @rule()
    def prune(self) -> None:
        expected = self._model_prune()
        assert self.aged.prune(self.now) == expected
        for key in self.aged:  # what is left is alive
            assert self.aged.get(key, self.now, "default") == self.model[key][1]

    @invariant()
    def matches_model(self) -> None:
        assert list(self.aged) == list(self.model)
        assert len(self.aged) == len(self.model)
        for key in range(8):
            assert (key in self.aged) == (key in self.model)


AgedMapMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                            suppress_health_check=[HealthCheck.too_slow])
TestAgedMap = AgedMapMachine.TestCase
