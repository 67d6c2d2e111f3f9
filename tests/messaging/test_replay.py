"""Tests for ipv8.messaging.replay: the per-sender windows of used global times."""
from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ipv8.messaging.replay import ReplayGuard

ALICE = b"alice's public key"
BOB = b"bob's public key"
CAROL = b"carol's public key"
HOME = ("127.0.0.1", 8090)
ELSEWHERE = ("127.0.0.2", 8090)
INTRO = 65536  # introduction messages carry their global time modulo 2**16


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ReplayGuard(window=0)
    with pytest.raises(ValueError):
        ReplayGuard(window=-5)
    assert ReplayGuard(window=1).window == 1


def test_accepts_once() -> None:
    guard = ReplayGuard()
    assert guard.accept(ALICE, 10, HOME, 0.0)
    assert not guard.accept(ALICE, 10, HOME, 0.0)
    assert not guard.accept(ALICE, 10, ELSEWHERE, 1.0)  # a replay from another host
    assert len(guard) == 1


def test_increasing_times_are_each_accepted_once() -> None:
    guard = ReplayGuard()
    for time in range(1, 200):
        assert guard.accept(ALICE, time, HOME, time / 10)
    for time in range(200 - guard.window, 200):
        assert not guard.accept(ALICE, time, HOME, 20.0)


def test_senders_are_independent() -> None:
    guard = ReplayGuard()
    assert guard.accept(ALICE, 10, HOME, 0.0)
    assert guard.accept(BOB, 10, HOME, 0.0)
    assert not guard.accept(BOB, 10, HOME, 0.0)
    assert len(guard) == 2


def test_out_of_order_within_window_accepted_once() -> None:
    guard = ReplayGuard(window=64)
    assert guard.accept(ALICE, 100, HOME, 0.0)
    assert guard.accept(ALICE, 90, ELSEWHERE, 0.0)  # late, and from another address: reordering is fine
    assert not guard.accept(ALICE, 90, HOME, 0.0)
    assert guard.accept(ALICE, 95, HOME, 0.0)
    assert guard.accept(ALICE, 37, HOME, 0.0)  # the oldest time inside the window (100 - 63)
    assert not guard.accept(ALICE, 37, HOME, 0.0)
    assert not guard.accept(ALICE, 100, HOME, 0.0)
    assert guard.accept(ALICE, 101, HOME, 0.0)
    # The window slid by one: the times seen before stay used.
    for used in (90, 95, 100, 101):
        assert not guard.accept(ALICE, used, HOME, 0.0)
    assert guard.accept(ALICE, 99, HOME, 0.0)


def test_used_times_slide_with_the_window() -> None:
    guard = ReplayGuard(window=8)
    assert guard.accept(ALICE, 10, HOME, 0.0)
    assert guard.accept(ALICE, 8, HOME, 0.0)
    assert guard.accept(ALICE, 14, HOME, 0.0)  # 8 and 10 are now 6 and 4 below the highest
    assert not guard.accept(ALICE, 8, ELSEWHERE, 0.0)
    assert not guard.accept(ALICE, 10, ELSEWHERE, 0.0)
    assert guard.accept(ALICE, 9, ELSEWHERE, 0.0)
    assert guard.accept(ALICE, 11, ELSEWHERE, 0.0)


def test_far_below_the_window_is_refused_from_elsewhere() -> None:
    guard = ReplayGuard(window=64)
    assert guard.accept(ALICE, 1000, HOME, 0.0)
    assert not guard.accept(ALICE, 936, ELSEWHERE, 0.0)  # exactly window below: outside
    assert not guard.accept(ALICE, 5, ELSEWHERE, 0.0)
    assert guard.accept(ALICE, 937, ELSEWHERE, 0.0)  # window - 1 below: inside


def test_far_below_the_window_from_the_last_address_is_a_restart() -> None:
    guard = ReplayGuard(window=64)
    assert guard.accept(ALICE, 1000, HOME, 0.0)
    assert guard.accept(ALICE, 1, HOME, 1.0)  # the sender restarted and counts from 1 again
    assert not guard.accept(ALICE, 1, HOME, 1.0)
    assert guard.accept(ALICE, 2, HOME, 1.0)
    assert guard.accept(ALICE, 3, ELSEWHERE, 1.0)  # newer: accepted from anywhere, and the new last address
    assert not guard.accept(ALICE, 2, ELSEWHERE, 1.0)
    assert not guard.accept(ALICE, 1, HOME, 1.0)


def test_last_address_is_the_one_of_the_highest_time() -> None:
    guard = ReplayGuard(window=8)
    assert guard.accept(ALICE, 100, HOME, 0.0)
    assert guard.accept(ALICE, 99, ELSEWHERE, 0.0)  # late: does not move the sender
    assert guard.accept(ALICE, 10, HOME, 0.0)  # so a restart from HOME is still believed
    assert guard.accept(ALICE, 11, ELSEWHERE, 0.0)  # newer: the sender is now ELSEWHERE
    assert not guard.accept(ALICE, 1, HOME, 0.0)
    assert guard.accept(ALICE, 1, ELSEWHERE, 0.0)


def test_a_jump_beyond_the_window_forgets_the_older_times() -> None:
    guard = ReplayGuard(window=8)
    for time in (10, 11, 12):
        assert guard.accept(ALICE, time, HOME, 0.0)
    assert guard.accept(ALICE, 30, HOME, 0.0)
    assert guard.accept(ALICE, 23, ELSEWHERE, 0.0)  # inside the new window, never used
    assert not guard.accept(ALICE, 12, ELSEWHERE, 0.0)  # outside it, and not from the last address


def test_window_of_one() -> None:
    guard = ReplayGuard(window=1)
    assert guard.accept(ALICE, 5, HOME, 0.0)
    assert not guard.accept(ALICE, 5, HOME, 0.0)
    assert not guard.accept(ALICE, 4, ELSEWHERE, 0.0)  # anything older is already "far below"
    assert guard.accept(ALICE, 6, HOME, 0.0)
    assert guard.accept(ALICE, 4, HOME, 0.0)  # ... which the last address may do (a restart)


# --- 16-bit introduction times ----------------------------------------------------------------------------


def test_wrap_around() -> None:
    guard = ReplayGuard(window=64)
    assert guard.accept(ALICE, 65530, HOME, 0.0, modulus=INTRO)
    assert guard.accept(ALICE, 3, ELSEWHERE, 0.0, modulus=INTRO)  # newer: 65530 + 9 wrapped around
    assert not guard.accept(ALICE, 3, HOME, 0.0, modulus=INTRO)
    assert not guard.accept(ALICE, 65530, HOME, 0.0, modulus=INTRO)  # 9 below the highest: used
    assert guard.accept(ALICE, 65535, HOME, 0.0, modulus=INTRO)  # 4 below: not used yet
    assert not guard.accept(ALICE, 65535, HOME, 0.0, modulus=INTRO)
    assert guard.accept(ALICE, 0, HOME, 0.0, modulus=INTRO)
    assert guard.accept(ALICE, 65529, HOME, 0.0, modulus=INTRO)
    assert guard.accept(ALICE, 65476, HOME, 0.0, modulus=INTRO)  # 63 below 3 (mod 2**16): inside
    assert not guard.accept(ALICE, 65475, HOME, 0.0, modulus=INTRO)  # 64 below: outside, and not from ELSEWHERE


def test_without_modulus_there_is_no_wrap_around() -> None:
    guard = ReplayGuard(window=64)
    assert guard.accept(ALICE, 65530, HOME, 0.0)
    assert not guard.accept(ALICE, 3, ELSEWHERE, 0.0)  # far below, from elsewhere


def test_wrap_around_half_range() -> None:
    # Serial-number arithmetic: up to half the range ahead is newer, the rest is behind.
    guard = ReplayGuard(window=64)
    assert guard.accept(ALICE, 0, HOME, 0.0, modulus=INTRO)
    assert guard.accept(ALICE, 32767, ELSEWHERE, 0.0, modulus=INTRO)  # newer, from anywhere
    guard = ReplayGuard(window=64)
    assert guard.accept(ALICE, 0, HOME, 0.0, modulus=INTRO)
    assert not guard.accept(ALICE, 32768, ELSEWHERE, 0.0, modulus=INTRO)  # half a range: taken as older
    assert not guard.accept(ALICE, 40000, ELSEWHERE, 0.0, modulus=INTRO)
    assert guard.accept(ALICE, 40000, HOME, 0.0, modulus=INTRO)  # older, from the last address: a restart


def test_long_run_of_wrapping_times() -> None:
    guard = ReplayGuard(window=64)
    for step in range(3 * INTRO // 1000):
        time = (step * 1000) % INTRO
        assert guard.accept(ALICE, time, HOME, 0.0, modulus=INTRO)
        assert not guard.accept(ALICE, time, ELSEWHERE, 0.0, modulus=INTRO)


def test_time_kinds_have_separate_windows() -> None:
    guard = ReplayGuard()
    assert guard.accept(ALICE, 5, HOME, 0.0)
    assert guard.accept(ALICE, 5, HOME, 0.0, modulus=INTRO)  # the same number in the other kind
    assert not guard.accept(ALICE, 5, HOME, 0.0)
    assert not guard.accept(ALICE, 5, HOME, 0.0, modulus=INTRO)
    assert guard.accept(ALICE, 70000, HOME, 0.0)
    assert guard.accept(ALICE, 6, ELSEWHERE, 0.0, modulus=INTRO)  # the full-time window moved, not this one
    assert len(guard) == 2


# --- bounds ------------------------------------------------------------------------------------------------


def test_sender_forgotten_after_ttl() -> None:
    guard = ReplayGuard(ttl=60.0)
    assert guard.accept(ALICE, 1000, HOME, 0.0)
    assert not guard.accept(ALICE, 1000, HOME, 60.0)  # exactly ttl: still remembered
    assert guard.accept(ALICE, 1000, ELSEWHERE, 60.5)  # forgotten: starts afresh
    assert not guard.accept(ALICE, 1000, ELSEWHERE, 60.5)


def test_only_accepted_messages_keep_a_sender_alive() -> None:
    guard = ReplayGuard(ttl=60.0)
    assert guard.accept(ALICE, 100, HOME, 0.0)
    assert not guard.accept(ALICE, 100, HOME, 30.0)  # refused: no refresh
    assert not guard.accept(ALICE, 100, HOME, 59.0)
    assert guard.accept(ALICE, 100, HOME, 61.0)
    assert guard.accept(ALICE, 101, HOME, 100.0)  # accepted: refreshes
    assert not guard.accept(ALICE, 100, HOME, 160.0)
    assert not guard.accept(ALICE, 5, ELSEWHERE, 160.0)


def test_expired_senders_are_pruned_on_later_writes() -> None:
    guard = ReplayGuard(ttl=10.0)
    assert guard.accept(ALICE, 1, HOME, 0.0)
    assert guard.accept(BOB, 1, HOME, 5.0)
    assert guard.accept(CAROL, 1, HOME, 12.0)  # Alice's record is dropped on the way
    assert len(guard) == 2


def test_max_senders() -> None:
    guard = ReplayGuard(max_senders=2)
    assert guard.accept(ALICE, 10, HOME, 0.0)
    assert guard.accept(BOB, 10, HOME, 1.0)
    assert guard.accept(CAROL, 10, HOME, 2.0)
    assert len(guard) == 2
    assert not guard.accept(BOB, 10, HOME, 3.0)  # still remembered
    assert not guard.accept(CAROL, 10, HOME, 3.0)
    assert guard.accept(ALICE, 10, ELSEWHERE, 3.0)  # the least recently accepted sender was forgotten


def test_max_senders_keeps_the_recently_accepted() -> None:
    guard = ReplayGuard(max_senders=2)
    assert guard.accept(ALICE, 10, HOME, 0.0)
    assert guard.accept(BOB, 10, HOME, 1.0)
    assert guard.accept(ALICE, 11, HOME, 2.0)  # Alice is now the most recent
    assert guard.accept(CAROL, 10, HOME, 3.0)  # so Bob goes
    assert not guard.accept(ALICE, 11, HOME, 4.0)
    assert guard.accept(BOB, 10, HOME, 4.0)


def test_many_senders_stay_bounded() -> None:
    guard = ReplayGuard(max_senders=100)
    for index in range(5000):
        assert guard.accept(index.to_bytes(4, "big"), 1, HOME, index / 1000)
        assert len(guard) <= 100
    assert len(guard) == 100


def test_forget() -> None:
    guard = ReplayGuard()
    assert guard.accept(ALICE, 10, HOME, 0.0)
    assert guard.accept(ALICE, 10, HOME, 0.0, modulus=INTRO)
    assert guard.accept(BOB, 10, HOME, 0.0)
    guard.forget(ALICE)
    assert len(guard) == 1
    assert guard.accept(ALICE, 10, ELSEWHERE, 0.0)
    assert guard.accept(ALICE, 10, ELSEWHERE, 0.0, modulus=INTRO)
    assert not guard.accept(BOB, 10, ELSEWHERE, 0.0)
    guard.forget(CAROL)  # unknown: nothing happens
    assert len(guard) == 3


# --- against a model -------------------------------------------------------------------------------------------


class _ModelSender:
    def __init__(self, highest: int, address: object, now: float) -> None:
        self.highest = highest  # unwrapped: serial arithmetic gives each new time its place relative to this
        self.used = {highest}
        self.address = address
        self.last = now


class ReplayModel:
    """What ReplayGuard promises, kept with plain sets of used (unwrapped) times."""

    def __init__(self, window: int, max_senders: int, ttl: float) -> None:
        self.window, self.max_senders, self.ttl = window, max_senders, ttl
        self.senders: OrderedDict = OrderedDict()

    def accept(self, sender: object, time: int, address: object, now: float, modulus: int | None) -> bool:
        key = (sender, modulus)
        state = self.senders.get(key)
        if state is not None and now - state.last > self.ttl:
            del self.senders[key]
            state = None
        if state is None:
            state = _ModelSender(time, address, now)
        else:
            offset = time - state.highest
            if modulus:
                offset %= modulus
                if offset >= modulus // 2:
                    offset -= modulus
            position = state.highest + offset
            if position > state.highest:
                state.highest, state.address = position, address
                state.used.add(position)
            elif position > state.highest - self.window:
                if position in state.used:
                    return False
                state.used.add(position)
            elif address == state.address:
                state.highest, state.used = position, {position}
            else:
                return False
        state.last = now
        self.senders.pop(key, None)
        self.senders[key] = state
        for old in [old for old, kept in self.senders.items() if now - kept.last > self.ttl]:
            del self.senders[old]
        while len(self.senders) > self.max_senders:
            self.senders.popitem(last=False)
        return True


class ReplayMachine(RuleBasedStateMachine):
    """Random message sequences (small window, small modulus, small caps) against the model."""

    @initialize(window=st.integers(1, 8), max_senders=st.integers(1, 4))
    def create(self, window: int, max_senders: int) -> None:
        self.now = 0.0
        self.guard = ReplayGuard(window=window, max_senders=max_senders, ttl=10.0)
        self.model = ReplayModel(window, max_senders, 10.0)

    @rule(sender=st.integers(0, 3), time=st.integers(0, 40), address=st.integers(0, 1),
          modulus=st.sampled_from([None, 32, 16]))
    def message(self, sender: int, time: int, address: int, modulus: int | None) -> None:
        if modulus:
            time %= modulus
        expected = self.model.accept(sender, time, address, self.now, modulus)
        assert self.guard.accept(sender, time, address, self.now, modulus=modulus) is expected

    @rule(sender=st.integers(0, 3), address=st.integers(0, 1), modulus=st.sampled_from([None, 32]))
    def replay_newest(self, sender: int, address: int, modulus: int | None) -> None:
        state = self.model.senders.get((sender, modulus))
        if state is None or self.now - state.last > self.model.ttl:
            return
        time = state.highest % modulus if modulus else state.highest
        assert not self.guard.accept(sender, time, address, self.now, modulus=modulus)  # always used

    @rule(step=st.sampled_from([0.0, 0.5, 3.0, 10.0, 11.0]))
    def wait(self, step: float) -> None:
        self.now += step

    @rule(sender=st.integers(0, 3))
    def forget(self, sender: int) -> None:
        self.guard.forget(sender)
        for key in [key for key in self.model.senders if key[0] == sender]:
            del self.model.senders[key]

    @invariant()
    def bounded(self) -> None:
        assert len(self.guard) == len(self.model.senders) <= self.model.max_senders


ReplayMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestReplayAgainstModel = ReplayMachine.TestCase
