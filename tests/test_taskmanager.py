"""Tests for ipv8.taskmanager, driven by a twisted Clock (plus one trial test on the real reactor)."""
from __future__ import annotations

import inspect
import logging
from typing import Any

import pytest
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.trial import unittest as trial_unittest

from ipv8.taskmanager import TaskManager, task
from ipv8.util import sleep

LOGGER_NAME = "ipv8.taskmanager"


def result_of(deferred: Deferred[Any]) -> Any:  # noqa: ANN401
    """Return the result of a fired Deferred (failing the test if it has not fired or failed)."""
    outcome: list[Any] = []
    deferred.addBoth(outcome.append)
    assert outcome, "Deferred has not fired"
    assert not hasattr(outcome[0], "getTraceback"), outcome[0].getTraceback()
    deferred.addBoth(lambda _: outcome[0])  # keep the result for later callbacks
    return outcome[0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def manager(clock: Clock) -> TaskManager:
    tm = TaskManager(clock=clock)
    yield tm
    tm.shutdown_task_manager()
    clock.advance(0)


# Running work once


def test_function_runs_immediately_and_handle_carries_result(manager: TaskManager) -> None:
    calls = []
    handle = manager.register_task("now", lambda a, b=0: calls.append((a, b)) or a + b, 2, b=3)

    assert calls == [(2, 3)]
    assert result_of(handle) == 5
    assert not manager.is_pending_task_active("now")
    assert manager.get_tasks() == []


def test_coroutine_function_is_awaited(manager: TaskManager, clock: Clock) -> None:
    async def work(value: int) -> int:
        await sleep(1.0, clock)
        return value * 2

    handle = manager.register_task("coro", work, 21)
    assert manager.is_pending_task_active("coro")
    assert manager.get_task("coro") is handle
    assert not handle.called

    clock.advance(1.0)
    assert result_of(handle) == 42
    assert not manager.is_pending_task_active("coro")


def test_coroutine_object_is_run(manager: TaskManager, clock: Clock) -> None:
    async def work() -> str:
        await sleep(2.0, clock)
        return "done"

    handle = manager.register_task("coro object", work())
    clock.advance(1.0)
    assert manager.is_pending_task_active("coro object")
    clock.advance(1.0)
    assert result_of(handle) == "done"


def test_deferred_is_watched_until_it_fires(manager: TaskManager) -> None:
    work: Deferred[str] = Deferred()
    handle = manager.register_task("deferred", work)

    assert manager.is_pending_task_active("deferred")
    work.callback("fired")
    assert result_of(handle) == "fired"
    assert not manager.is_pending_task_active("deferred")


def test_cancelling_a_registered_deferred_cancels_it(manager: TaskManager) -> None:
    work: Deferred[None] = Deferred()
    cancelled = []
    work.addErrback(lambda failure: cancelled.append(failure.check(CancelledError)))
    handle = manager.register_task("deferred", work)

    assert result_of(manager.cancel_pending_task("deferred")) is True
    assert cancelled == [CancelledError]
    assert result_of(handle) is None


def test_running_task_owns_its_name_until_it_ends(manager: TaskManager, clock: Clock,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    runs = []

    def again(depth: int) -> None:
        runs.append(depth)
        if depth == 0:
            manager.register_task("again", again, 99)  # still running: refused

    with caplog.at_level(logging.ERROR, logger=LOGGER_NAME):
        handle = manager.register_task("again", again, 0)
    assert "already running" in caplog.text
    # Once finished, the name is free, even for a callback on the handle.
    handle.addCallback(lambda _: manager.register_task("again", again, 1, delay=1.0))
    clock.advance(1.0)
    assert runs == [0, 1]
    assert not manager.is_pending_task_active("again")


# Delays and intervals


def test_delayed_call_waits_for_its_delay(manager: TaskManager, clock: Clock) -> None:
    calls = []
    handle = manager.register_task("later", calls.append, "x", delay=5.0)

    clock.advance(4.9)
    assert calls == []
    assert manager.is_pending_task_active("later")
    clock.advance(0.1)
    assert calls == ["x"]
    assert result_of(handle) is None
    assert not manager.is_pending_task_active("later")


def test_zero_delay_runs_on_next_reactor_turn_not_inline(manager: TaskManager, clock: Clock) -> None:
    calls = []
    manager.register_task("soon", calls.append, 1, delay=0)
    assert calls == []
    clock.advance(0)
    assert calls == [1]


def test_interval_without_delay_first_runs_after_one_interval(manager: TaskManager, clock: Clock) -> None:
    times = []
    manager.register_task("tick", lambda: times.append(clock.seconds()), interval=2.0)

    assert times == []
    clock.pump([1.0] * 7)
    assert times == [2.0, 4.0, 6.0]
    assert manager.is_pending_task_active("tick")


def test_interval_with_delay_starts_after_delay(manager: TaskManager, clock: Clock) -> None:
    times = []
    manager.register_task("tick", lambda: times.append(clock.seconds()), delay=0.5, interval=2.0)

    clock.pump([0.5] + [1.0] * 5)
    assert times == [0.5, 2.5, 4.5]


def test_interval_with_zero_delay(manager: TaskManager, clock: Clock) -> None:
    times = []
    manager.register_task("tick", lambda: times.append(clock.seconds()), delay=0, interval=1.0)
    assert times == []
    clock.pump([0, 1.0, 1.0])
    assert times == [0.0, 1.0, 2.0]


def test_coroutine_ticks_never_overlap(manager: TaskManager, clock: Clock) -> None:
    running = []
    started = []
    most_at_once = []

    async def slow_tick() -> None:
        running.append(1)
        started.append(clock.seconds())
        most_at_once.append(len(running))
        await sleep(2.5, clock)
        running.pop()

    manager.register_task("slow", slow_tick, delay=0, interval=1.0)
    clock.pump([0] + [0.5] * 20)

    assert max(most_at_once) == 1
    # Each tick takes 2.5 s, so the LoopingCall skips the slots it missed and restarts on the next whole second.
    assert started == [0.0, 3.0, 6.0, 9.0]


def test_cancelling_interval_mid_tick_cancels_the_tick(manager: TaskManager, clock: Clock) -> None:
    seen = []

    async def tick() -> None:
        try:
            await sleep(10.0, clock)
        except CancelledError:
            seen.append("cancelled")
            raise

    handle = manager.register_task("tick", tick, delay=0, interval=1.0)
    clock.advance(0)
    stopped = manager.cancel_pending_task("tick")

    assert seen == ["cancelled"]
    assert result_of(stopped) is True
    assert result_of(handle) is None
    assert clock.getDelayedCalls() == []


def test_interval_task_can_cancel_itself(manager: TaskManager, clock: Clock) -> None:
    values = []

    async def tick() -> None:
        if len(values) == 3:
            manager.cancel_pending_task("self-stopping")
            return
        values.append(clock.seconds())

    handle = manager.register_task("self-stopping", tick, interval=1.0)
    clock.pump([1.0] * 6)

    assert values == [1.0, 2.0, 3.0]
    assert result_of(handle) is None
    assert not manager.is_pending_task_active("self-stopping")
    assert clock.getDelayedCalls() == []


def test_cancel_before_delay_prevents_the_call(manager: TaskManager, clock: Clock) -> None:
    calls = []
    handle = manager.register_task("later", calls.append, 1, delay=1.0, interval=1.0)
    assert result_of(manager.cancel_pending_task("later")) is True
    clock.advance(5)
    assert calls == []
    assert result_of(handle) is None
    assert clock.getDelayedCalls() == []


def test_cancelling_the_handle_cancels_the_task(manager: TaskManager, clock: Clock) -> None:
    calls = []
    handle = manager.register_task("later", calls.append, 1, delay=1.0)
    handle.cancel()
    clock.advance(2)
    assert calls == []
    assert not manager.is_pending_task_active("later")
    assert result_of(handle) is None


# Failures


def test_failure_is_logged_with_traceback(manager: TaskManager, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise ZeroDivisionError("broken on purpose")

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        handle = manager.register_task("broken", broken)

    assert result_of(handle) is None
    assert not manager.is_pending_task_active("broken")
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert "'broken'" in record.getMessage()
    assert "ZeroDivisionError: broken on purpose" in record.getMessage()
    assert "Traceback" in record.getMessage()


def test_failure_after_await_is_logged(manager: TaskManager, clock: Clock,
                                       caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        await sleep(1, clock)
        raise KeyError("late")

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        manager.register_task("late", broken)
        assert caplog.records == []
        clock.advance(1)

    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "KeyError" in caplog.records[0].getMessage()


def test_ignored_failure_is_logged_as_one_line_warning(manager: TaskManager,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        manager.register_task("expected", lambda: 1 / 0, ignore=(ZeroDivisionError,))
        manager.register_task("unexpected", lambda: [][1], ignore=(ZeroDivisionError,))

    levels = {r.getMessage().split("'")[1]: r.levelno for r in caplog.records}
    assert levels == {"expected": logging.WARNING, "unexpected": logging.ERROR}
    assert "Traceback" not in caplog.records[0].getMessage()


def test_failing_tick_stops_interval_task_and_is_logged(manager: TaskManager, clock: Clock,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    ticks = []

    def tick() -> None:
        ticks.append(clock.seconds())
        if len(ticks) == 2:
            raise ValueError("tick failed")

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        handle = manager.register_task("tick", tick, interval=1.0)
        clock.pump([1.0] * 5)

    assert ticks == [1.0, 2.0]
    assert not manager.is_pending_task_active("tick")
    assert result_of(handle) is None
    assert len(caplog.records) == 1
    assert "ValueError: tick failed" in caplog.records[0].getMessage()


def test_cancellation_is_not_logged(manager: TaskManager, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    async def wait() -> None:
        await sleep(5, clock)

    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        manager.register_task("wait", wait)
        manager.cancel_pending_task("wait")
    assert caplog.records == []


def test_failure_of_a_cancelled_task_that_keeps_running_is_still_logged(
        manager: TaskManager, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    async def stubborn() -> None:
        try:
            await sleep(5, clock)
        except CancelledError:
            await sleep(1, clock)
            raise RuntimeError("cleanup failed") from None

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        manager.register_task("stubborn", stubborn)
        stopped = manager.cancel_pending_task("stubborn")
        assert not stopped.called
        clock.advance(1)

    assert result_of(stopped) is True
    assert "RuntimeError: cleanup failed" in caplog.records[0].getMessage()


# Bad input


def test_duplicate_live_name_raises_and_closes_coroutine(manager: TaskManager, clock: Clock) -> None:
    manager.register_task("busy", lambda: None, delay=1)

    async def other() -> None:
        pass

    coroutine = other()
    with pytest.raises(RuntimeError, match="busy"):
        manager.register_task("busy", coroutine)
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED

    clock.advance(1)
    manager.register_task("busy", lambda: None, delay=1)  # free again once the first one finished
    assert manager.is_pending_task_active("busy")


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"delay": -1}, ValueError),
    ({"delay": float("nan")}, ValueError),
    ({"delay": "1"}, TypeError),
    ({"delay": True}, TypeError),
    ({"interval": 0}, ValueError),
    ({"interval": -2.0}, ValueError),
    ({"interval": float("inf")}, ValueError),
    ({"ignore": [ValueError]}, ValueError),
    ({"ignore": (int,)}, ValueError),
])
def test_bad_options_are_rejected(manager: TaskManager, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        manager.register_task("bad", lambda: None, **kwargs)
    assert manager.get_tasks() == []


def test_non_task_is_rejected(manager: TaskManager) -> None:
    with pytest.raises(TypeError):
        manager.register_task("bad", 42)


def test_started_work_cannot_be_timed(manager: TaskManager) -> None:
    async def work() -> None:
        pass

    coroutine = work()
    with pytest.raises(ValueError):
        manager.register_task("bad", coroutine, interval=1.0)
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED
    with pytest.raises(ValueError):
        manager.register_task("bad", Deferred(), delay=1.0)


# Anonymous tasks, lookup and replacement


def test_anonymous_tasks_get_unique_names(manager: TaskManager, clock: Clock) -> None:
    first = manager.register_anonymous_task("job", lambda: None, delay=1)
    second = manager.register_anonymous_task("job", lambda: None, delay=1)
    manager.register_task("job named by hand", lambda: None, delay=1)
    manager.register_anonymous_task("other", lambda: None, delay=1)

    assert first is not second
    assert len(manager.get_tasks()) == 4
    assert manager.get_anonymous_tasks("job") == [first, second]
    assert manager.get_anonymous_tasks("nothing") == []


def test_anonymous_task_options_are_honoured(manager: TaskManager, clock: Clock,
                                             caplog: pytest.LogCaptureFixture) -> None:
    times = []
    manager.register_anonymous_task("tick", lambda: times.append(clock.seconds()), delay=1.0, interval=2.0)
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        manager.register_anonymous_task("quiet", lambda: 1 / 0, ignore=(ZeroDivisionError,))
    clock.pump([1.0] * 4)
    assert times == [1.0, 3.0]
    assert caplog.records[0].levelno == logging.WARNING


def test_get_task_of_unknown_name_is_none(manager: TaskManager) -> None:
    assert manager.get_task("nope") is None
    assert not manager.is_pending_task_active("nope")
    assert result_of(manager.cancel_pending_task("nope")) is False


def test_replace_task_cancels_old_and_registers_new(manager: TaskManager, clock: Clock) -> None:
    calls = []
    old = manager.register_task("job", calls.append, "old", delay=1)
    replaced = manager.replace_task("job", calls.append, "new", delay=1)

    assert result_of(replaced) is None
    assert result_of(old) is None
    assert manager.is_pending_task_active("job")
    assert manager.get_task("job") is not old
    clock.advance(1)
    assert calls == ["new"]


def test_replace_task_without_previous_task(manager: TaskManager) -> None:
    assert result_of(manager.replace_task("job", lambda: None, delay=1)) is None
    assert manager.is_pending_task_active("job")


def test_replace_task_with_bad_arguments_keeps_old_task(manager: TaskManager) -> None:
    old = manager.register_task("job", lambda: None, delay=1)
    with pytest.raises(TypeError):
        manager.replace_task("job", "not a task", delay=1)
    with pytest.raises(ValueError):
        manager.replace_task("job", lambda: None, delay=-1)
    with pytest.raises(TypeError):
        manager.replace_task("job")
    assert manager.get_task("job") is old


def test_replace_waits_for_winding_down_task(manager: TaskManager, clock: Clock) -> None:
    async def stubborn() -> None:
        try:
            await sleep(5, clock)
        except CancelledError:
            await sleep(1, clock)

    manager.register_task("job", stubborn)
    replaced = manager.replace_task("job", lambda: "fresh", delay=3)
    assert not replaced.called
    assert not manager.is_pending_task_active("job")  # the name is free while the old one winds down

    clock.advance(1)
    assert manager.is_pending_task_active("job")
    assert result_of(replaced) is None
    clock.advance(3)
    assert not manager.is_pending_task_active("job")


def test_cancel_all_pending_tasks(manager: TaskManager, clock: Clock) -> None:
    calls = []
    for name in "abc":
        manager.register_task(name, calls.append, name, delay=1)
    stopped = manager.cancel_all_pending_tasks()

    assert [result_of(d) for d in stopped] == [True, True, True]
    assert manager.get_tasks() == []
    clock.advance(2)
    assert calls == []


# Waiting and shutting down


def test_wait_for_tasks(manager: TaskManager, clock: Clock) -> None:
    assert manager.wait_for_tasks().called  # nothing to wait for

    manager.register_task("a", lambda: None, delay=1)
    manager.register_task("b", lambda: None, delay=3)
    waited = manager.wait_for_tasks()
    manager.register_task("c", lambda: None, delay=10)  # registered later: not waited for

    clock.advance(1)
    assert not waited.called
    clock.advance(2)
    assert result_of(waited) is None
    assert manager.is_pending_task_active("c")


def test_wait_for_tasks_includes_winding_down_tasks(manager: TaskManager, clock: Clock) -> None:
    async def stubborn() -> None:
        try:
            await sleep(5, clock)
        except CancelledError:
            await sleep(1, clock)

    manager.register_task("job", stubborn)
    manager.cancel_pending_task("job")
    waited = manager.wait_for_tasks()
    assert not waited.called
    clock.advance(1)
    assert waited.called


def test_shutdown_cancels_then_runs_shutdown_tasks_in_order(clock: Clock,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    manager = TaskManager(clock=clock)
    events = []

    async def stubborn() -> None:
        try:
            await sleep(5, clock)
        except CancelledError:
            await sleep(1, clock)
            events.append("task stopped")

    async def slow_cleanup(label: str) -> None:
        await sleep(2, clock)
        events.append(label)

    def broken_cleanup() -> None:
        raise OSError("cleanup broke")

    manager.register_task("job", stubborn)
    manager.register_task("periodic", events.append, "tick", interval=1)
    manager.register_shutdown_task(slow_cleanup, "first cleanup")
    manager.register_shutdown_task(broken_cleanup)
    manager.register_shutdown_task(events.append, "last cleanup")

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        done = manager.shutdown_task_manager()
        again = manager.shutdown_task_manager()
        assert manager.get_tasks() == []
        clock.advance(1)
        assert events == ["task stopped"]
        assert not done.called
        clock.advance(2)

    assert events == ["task stopped", "first cleanup", "last cleanup"]
    assert result_of(done) is None
    assert result_of(again) is None
    assert "OSError: cleanup broke" in caplog.text
    assert clock.getDelayedCalls() == []


def test_no_tasks_after_shutdown(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    manager = TaskManager(clock=clock)
    result_of(manager.shutdown_task_manager())
    calls = []
    pending: Deferred[None] = Deferred()

    async def never() -> None:
        calls.append("ran")

    coroutine = never()
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        handle = manager.register_task("late", calls.append, "ran")
        manager.register_anonymous_task("late", coroutine)
        manager.register_task("deferred", pending.addErrback(lambda f: calls.append("cancelled")))
        manager.register_shutdown_task(calls.append, "shutdown")
        result_of(manager.shutdown_task_manager())

    assert calls == ["cancelled"]
    assert result_of(handle) is None
    assert inspect.getcoroutinestate(coroutine) == inspect.CORO_CLOSED
    assert not manager.is_pending_task_active("late")
    assert len(caplog.records) == 4
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_shutdown_task_must_be_callable(manager: TaskManager) -> None:
    with pytest.raises(TypeError):
        manager.register_shutdown_task("not callable")


def test_shutdown_can_stop_a_sub_manager(clock: Clock) -> None:
    parent = TaskManager(clock=clock)
    child = TaskManager(clock=clock)
    calls = []
    child.register_task("child job", calls.append, 1, delay=1)
    parent.register_shutdown_task(child.shutdown_task_manager)

    result_of(parent.shutdown_task_manager())
    clock.advance(2)
    assert calls == []
    assert not child.is_pending_task_active("child job")


# Clock injection and the @task decorator


def test_reactor_attribute_can_be_swapped_per_instance(clock: Clock) -> None:
    manager = TaskManager(clock=clock)
    other_clock = Clock()
    manager.clock = other_clock
    calls = []
    manager.register_task("later", calls.append, 1, delay=1)
    clock.advance(1)
    assert calls == []
    other_clock.advance(1)
    assert calls == [1]


class Worker(TaskManager):
    """A TaskManager subclass using @task."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.done: list[int] = []

    @task
    async def work(self, value: int, *, delay: float) -> int:
        await sleep(delay, self.clock)
        self.done.append(value)
        return value

    @task
    def instant(self, value: int) -> int:
        if value < 0:
            raise ValueError("negative")
        return value


def test_task_decorator_registers_anonymous_tasks(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    worker = Worker(clock)
    first = worker.work(1, delay=2.0)  # 'delay' goes to the method, not to the task manager
    second = worker.work(2, delay=1.0)

    assert len(worker.get_anonymous_tasks("work")) == 2
    clock.advance(2)
    assert worker.done == [2, 1]
    assert (result_of(first), result_of(second)) == (1, 2)
    assert result_of(worker.instant(5)) == 5

    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        assert result_of(worker.instant(-1)) is None
    assert "ValueError: negative" in caplog.text
    assert Worker.work.__name__ == "work"


def test_task_decorator_rejects_non_callables() -> None:
    with pytest.raises(TypeError):
        task(3)


class RealReactorSanity(trial_unittest.TestCase):
    """One short check that tasks run on the real global reactor too."""

    def test_delay_and_interval_on_real_reactor(self) -> Deferred[None]:
        manager = TaskManager()
        ticks = []

        async def scenario() -> None:
            manager.register_task("tick", ticks.append, "tick", interval=0.02)
            result = await manager.register_task("later", lambda: "later", delay=0.07)
            self.assertEqual(result, "later")
            self.assertGreaterEqual(len(ticks), 2)
            await manager.shutdown_task_manager()
            self.assertEqual(manager.get_tasks(), [])

        return ensureDeferred(scenario())


def test_replace_fails_if_name_is_taken_while_old_task_winds_down(manager: TaskManager, clock: Clock) -> None:
    async def stubborn() -> None:
        try:
            await sleep(5, clock)
        except CancelledError:
            await sleep(1, clock)

    manager.register_task("job", stubborn)
    replaced = manager.replace_task("job", lambda: "replacement", delay=3)
    squatter = manager.register_task("job", lambda: "squatter", delay=3)
    assert manager.get_tasks() == [squatter]  # the winding-down task is no longer listed

    clock.advance(1)
    failure = []
    replaced.addErrback(failure.append)
    assert failure and failure[0].check(RuntimeError)
    assert manager.get_task("job") is squatter


def test_task_descriptions_name_and_period() -> None:
    from twisted.internet.task import Clock
    from ipv8.taskmanager import TaskManager

    clock = Clock()
    manager = TaskManager(clock=clock)
    manager.register_task("tick", lambda: None, interval=2.5)
    clock.advance(1.5)
    manager.register_task("later", lambda: None, delay=10)
    assert manager.get_task_descriptions() == [
        {"name": "later", "periodic": False, "interval": None, "start_time": 1.5},
        {"name": "tick", "periodic": True, "interval": 2.5, "start_time": 0.0},
    ]
    manager.cancel_pending_task("tick")
    assert [entry["name"] for entry in manager.get_task_descriptions()] == ["later"]
