"""Named, cancellable work on the Twisted reactor.

A :class:`TaskManager` keeps every piece of work an object started (one-shot calls, delayed calls, periodic calls,
coroutines and Deferreds) under a name, so the object can inspect, cancel or wait for that work and can stop all of
it when it goes away. :class:`~ipv8.community.Community` inherits from it.

How a task ends, and what its handle does
=========================================

:meth:`TaskManager.register_task` returns a *handle*: a :class:`~twisted.internet.defer.Deferred` created by the
manager. The handle **never errbacks**, so forgetting about it is always safe:

* it fires with the task's return value when a one-shot task completes;
* it fires with ``None`` when the task was cancelled, when a periodic task stopped, or when the task failed.

A failure is never dropped silently: the manager logs it on the ``ipv8.taskmanager`` logger (ERROR with the
traceback, or a one-line WARNING for the exception types listed in ``ignore``). Cancellation is not logged.
If you need a task's exception yourself, ``await`` the coroutine (or use the Deferred) directly instead.

Periodic tasks are driven by :class:`~twisted.internet.task.LoopingCall`: a tick that returns a Deferred or a
coroutine is waited for before the next tick is scheduled, so ticks never overlap (slots missed meanwhile are
skipped). A tick that fails ends the periodic task, after logging, the same way ``LoopingCall`` stops on an error.

All methods must be called from the reactor thread.
"""
from __future__ import annotations

import inspect
import logging
import math
from functools import partial, wraps
from itertools import count
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Hashable, TypeVar, Union

from twisted.internet.defer import CancelledError, Deferred, DeferredList, ensureDeferred, succeed
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from .util import get_reactor, maybe_deferred

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

logger = logging.getLogger(__name__)

TaskCallable = Callable[..., Any]
#: What :meth:`TaskManager.register_task` accepts as the work to do.
TaskLike = Union[TaskCallable, Coroutine[Any, Any, Any], Deferred]

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["TaskManager", "task"]


#: What a run that was cancelled before its work started reports (its handle then fires with None). A plain
#: marker rather than a ``Failure(CancelledError())``: request caches cancel a timeout for nearly every answered
#: request, and building and inspecting a Failure was ~15% of a RequestCache add/pop.
_CANCELLED_BEFORE_START = object()

class _Signal:
    """A one-time event that any number of Deferreds can wait for (late waiters fire at once)."""

    def __init__(self) -> None:
        self._fired = False
        self._waiters: list[Deferred[None]] = []

    def wait(self) -> Deferred[None]:
        if self._fired:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter

    def fire(self) -> None:
        if self._fired:
            return
        self._fired = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)


Report = Callable[[object], None]


class _SingleRun:
    """Runs a zero-argument call once, right away or after a delay, and reports its outcome exactly once."""

    def __init__(self, clock: IReactorTime | None, call: Callable[[], object], delay: float | None) -> None:
        # The clock is only needed (and only looked up) for a delayed call.
        self._clock = clock
        self._call = call
        self._delay = delay
        self._timer: IDelayedCall | None = None
        self._work: Deferred[Any] | None = None
        self._report: Report | None = None

    def start(self, report: Report) -> None:
        self._report = report
        if self._delay is None or self._clock is None:
            self._run()
        else:
            self._timer = self._clock.callLater(self._delay, self._run)

    def _run(self) -> None:
        self._timer = None
        self._work = maybe_deferred(self._call)
        self._work.addBoth(self._finish)

    def _finish(self, outcome: object) -> None:
        # Consumes the outcome: the manager reports it, nobody else should see a stray failure.
        report, self._report = self._report, None
        if report is not None:
            report(outcome)

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
            self._timer = None
            self._finish(_CANCELLED_BEFORE_START)
        elif self._work is not None:
            self._work.cancel()


class _RepeatingRun:
    """Runs a zero-argument call every ``interval`` seconds with a LoopingCall, starting after ``first_delay``."""

    def __init__(self, clock: IReactorTime, call: Callable[[], object], interval: float, first_delay: float) -> None:
        self._clock = clock
        self._call = call
        self._interval = interval
        self._first_delay = first_delay
        self._timer: IDelayedCall | None = None
        self._loop = LoopingCall(self._tick)
        self._loop.clock = clock
        self._tick_in_progress: Deferred[Any] | None = None
        self._report: Report | None = None

    @property
    def interval(self) -> float:
        """Seconds between two runs."""
        return self._interval

    def start(self, report: Report) -> None:
        self._report = report
        self._timer = self._clock.callLater(self._first_delay, self._begin)

    def _begin(self) -> None:
        self._timer = None
        ended = self._loop.start(self._interval, now=True)
        ended.addBoth(self._finish)

    def _tick(self) -> Deferred[Any]:
        outcome = maybe_deferred(self._call)
        if not outcome.called:
            self._tick_in_progress = outcome
            outcome.addBoth(self._tick_done)
        return outcome

    def _tick_done(self, result: object) -> object:
        self._tick_in_progress = None
        return result

    def _finish(self, outcome: object) -> None:
        report, self._report = self._report, None
        if report is not None:
            # A loop that was stopped ends with the LoopingCall itself as its result: that is no return value.
            report(None if outcome is self._loop else outcome)

    def stop(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
            self._timer = None
            self._finish(_CANCELLED_BEFORE_START)
            return
        if self._loop.running:
            # Stopping while a tick runs lets LoopingCall finish after that tick; cancel the tick to end sooner.
            self._loop.stop()
            if self._tick_in_progress is not None:
                self._tick_in_progress.cancel()


class _Registration:
    """The manager's record of one task: its name, its runner, its handle and when its work really ended."""

    def __init__(self, name: Hashable, runner: _SingleRun | _RepeatingRun,
                 ignore: tuple[type[BaseException], ...], anonymous_base: str | None) -> None:
        self.name = name
        self.runner = runner
        self.ignore = ignore
        self.anonymous_base = anonymous_base
        self.handle: Deferred[Any] = Deferred()
        self.ended = _Signal()
        #: When the task was registered, on the manager's clock (None when no clock was at hand).
        self.start_time: float | None = None


def _identity(work: object) -> object:
    return work


def _check_time(value: object, what: str, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{what} must be a number of seconds, not {type(value).__name__}"
        raise TypeError(msg)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        msg = f"{what} must be a finite number of seconds, {bound}; got {value!r}"
        raise ValueError(msg)
    return float(value)


def _check_ignore(ignore: object) -> tuple[type[BaseException], ...]:
    if not isinstance(ignore, tuple) or not all(isinstance(kind, type) and issubclass(kind, Exception)
                                                for kind in ignore):
        msg = f"ignore must be a tuple of Exception subclasses, got {ignore!r}"
        raise ValueError(msg)
    return ignore


def _close_if_coroutine(work: object) -> None:
    """Close a coroutine object that will never run, so Python does not warn that it was never awaited."""
    if inspect.iscoroutine(work):
        work.close()


class TaskManager:
    """
    Keeps named work (tasks) running on the reactor and lets its owner cancel it, wait for it and shut it down.

    :param clock: what schedules delays and intervals, for example a :class:`twisted.internet.task.Clock` in
                  tests. ``None`` (the default) means the global reactor, looked up when the first timed task is
                  registered. The :attr:`clock` property may also be assigned later; tasks registered from then on
                  use the new clock.
    """

    def __init__(self, clock: IReactorTime | None = None) -> None:
        """
        Create a manager without any tasks.
        """
        self._reactor: IReactorTime | None = clock
        self._live_tasks: dict[Hashable, _Registration] = {}
        self._winding_down: set[_Registration] = set()
        self._shutdown_calls: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self._anonymous_numbers = count(1)
        self._refusing_tasks = False
        self._shutdown_complete: _Signal | None = None

    # Registration

    def register_task(self, name: Hashable, task: TaskLike, *args: Any, delay: float | None = None,  # noqa: ANN401
                      interval: float | None = None, ignore: tuple[type[Exception], ...] = (),
                      **kwargs: Any) -> Deferred[Any]:  # noqa: ANN401
        """
        Start ``task`` under ``name`` and return its handle.

        ``task`` may be a plain function, a coroutine function (both called with ``*args`` and ``**kwargs``), a
        coroutine object or a :class:`Deferred`. Functions may be timed:

        * with ``interval``: called every ``interval`` seconds by a LoopingCall; the first call happens after
          ``delay`` seconds, or after one ``interval`` when no delay is given. Ticks never overlap.
        * with only ``delay``: called once after ``delay`` seconds (``delay=0`` means on the next reactor turn).
        * with neither: called right away, inside this method (a coroutine runs up to its first real wait).

        :param name: any hashable name that is not in use by another live task.
        :param task: the work to run.
        :param delay: seconds before the (first) call; only for functions.
        :param interval: seconds between calls; only for functions.
        :param ignore: exception types that are expected: when the task fails with one of them, the manager logs a
                       one-line warning instead of an error with the traceback.
        :returns: the task's handle, a Deferred that fires with the return value of a one-shot task, or with
                  ``None`` once the task failed, was cancelled or (for periodic tasks) stopped. It never errbacks.
                  Cancelling the handle cancels the task. After :meth:`shutdown_task_manager` the task is dropped
                  (with a warning) and an already-fired handle is returned.
        :raises TypeError: if ``task`` is none of the accepted kinds, or a time is not a number.
        :raises ValueError: if ``delay`` or ``interval`` is used with a coroutine object or a Deferred, if a time is
                            out of range, or if ``ignore`` is not a tuple of exception types.
        :raises RuntimeError: if a live task already uses ``name``.
        """
        return self._register(name, task, args, kwargs, delay, interval, ignore, anonymous_base=None)

    def register_anonymous_task(self, basename: str, task: TaskLike, *args: Any,  # noqa: ANN401
                                **kwargs: Any) -> Deferred[Any]:  # noqa: ANN401
        """
        Register a task under a fresh name ``"<basename> <n>"``, for work you never need to look up by name.

        Takes the same arguments as :meth:`register_task` (including ``delay``, ``interval`` and ``ignore``).
        """
        name = f"{basename} {next(self._anonymous_numbers)}"
        options = {key: kwargs.pop(key) for key in ("delay", "interval", "ignore") if key in kwargs}
        return self._register(name, task, args, kwargs, options.get("delay"), options.get("interval"),
                              options.get("ignore", ()), anonymous_base=basename)

    def replace_task(self, name: Hashable, *args: Any, **kwargs: Any) -> Deferred[None]:  # noqa: ANN401
        """
        Cancel the task called ``name`` (if any) and register a new task under that name.

        Arguments after ``name`` are those of :meth:`register_task`. The new task is registered once the old one
        has really stopped, which is immediately unless the old task was a coroutine that keeps running after
        being cancelled. Use :meth:`get_task` for the new task's handle.

        :returns: a Deferred that fires with ``None`` once the new task is registered. It errbacks with
                  :class:`RuntimeError` if another task took the name while the old one was winding down.
        :raises TypeError: as :meth:`register_task`, checked before the old task is cancelled.
        :raises ValueError: as :meth:`register_task`, checked before the old task is cancelled.
        """
        if not args:
            msg = "replace_task needs the new task after the name"
            raise TypeError(msg)
        # Validate first, so bad arguments never cost the caller the task that is running now.
        self._validate(args[0], kwargs.get("delay"), kwargs.get("interval"), kwargs.get("ignore", ()))

        def register_new(_: bool) -> None:
            # Returning the handle from this callback would make the Deferred wait for the new task to finish.
            self.register_task(name, *args, **kwargs)

        return self.cancel_pending_task(name).addCallback(register_new)

    def register_shutdown_task(self, task: Callable[..., Any], *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """
        Call ``task(*args, **kwargs)`` during :meth:`shutdown_task_manager`, after all tasks have stopped.

        Shutdown tasks run one after the other in registration order; a returned Deferred or coroutine is waited
        for before the next one starts. A failing shutdown task is logged and does not stop the others.

        :raises TypeError: if ``task`` is not callable.
        """
        if not callable(task):
            msg = f"A shutdown task must be callable, got {type(task).__name__}"
            raise TypeError(msg)
        if self._refusing_tasks:
            logger.warning("%s is already shut down: ignoring shutdown task %r", type(self).__name__, task)
            return
        self._shutdown_calls.append((task, args, kwargs))

    # Inspection

    def is_pending_task_active(self, name: Hashable) -> bool:
        """
        Return whether a task called ``name`` is registered and has not finished or been cancelled.
        """
        return name in self._live_tasks

    def get_task(self, name: Hashable) -> Deferred[Any] | None:
        """
        Return the handle of the live task called ``name``, or ``None`` if there is none.
        """
        registration = self._live_tasks.get(name)
        return None if registration is None else registration.handle

    def get_tasks(self) -> list[Deferred[Any]]:
        """
        Return the handles of all live tasks.
        """
        return [registration.handle for registration in self._live_tasks.values()]

    def get_task_descriptions(self) -> list[dict[str, Any]]:
        """
        Describe the live tasks, for diagnostics: ``{"name", "periodic", "interval", "start_time"}`` per task,
        sorted by name.

        ``interval`` is the period in seconds of a periodic task and ``None`` for a one-shot task; ``start_time``
        is when the task was registered, on the manager's clock.
        """
        descriptions = []
        for name, registration in list(self._live_tasks.items()):
            interval = registration.runner.interval if isinstance(registration.runner, _RepeatingRun) else None
            descriptions.append({"name": str(name), "periodic": interval is not None, "interval": interval,
                                 "start_time": registration.start_time})
        return sorted(descriptions, key=lambda entry: entry["name"])

    def get_anonymous_tasks(self, base_name: str) -> list[Deferred[Any]]:
        """
        Return the handles of the live tasks registered with :meth:`register_anonymous_task` under ``base_name``.
        """
        return [registration.handle for registration in self._live_tasks.values()
                if registration.anonymous_base == base_name]

    # Cancelling and waiting

    def cancel_pending_task(self, name: Hashable) -> Deferred[bool]:
        """
        Cancel the task called ``name``.

        Its handle fires with ``None`` at once and the name is free again immediately.

        :returns: a Deferred that fires with ``True`` once the cancelled task's work has really stopped (at once,
                  unless it is a coroutine that keeps going after ``CancelledError``), or with ``False`` right away
                  if no live task has that name.
        """
        registration = self._live_tasks.get(name)
        if registration is None:
            return succeed(False)
        self._stop(registration)
        return registration.ended.wait().addCallback(lambda _: True)

    def cancel_all_pending_tasks(self) -> list[Deferred[bool]]:
        """
        Cancel every live task.

        :returns: one Deferred per cancelled task, as returned by :meth:`cancel_pending_task`.
        """
        return [self.cancel_pending_task(name) for name in list(self._live_tasks)]

    def wait_for_tasks(self) -> Deferred[None]:
        """
        Return a Deferred that fires with ``None`` once every task that is live (or still winding down after a
        cancel) at the time of this call has ended. Tasks registered later are not waited for; a periodic task
        only ends when it is cancelled or fails.
        """
        ended = [registration.ended.wait()
                 for registration in [*self._live_tasks.values(), *self._winding_down]]
        return DeferredList(ended).addCallback(lambda _: None)

    def shutdown_task_manager(self) -> Deferred[None]:
        """
        Cancel all tasks, wait until they stopped, then run the shutdown tasks.

        From the moment this is called, new tasks are refused: registering one logs a warning and returns an
        already-fired handle. Calling this again returns a Deferred that fires when the first shutdown completed.

        :returns: a Deferred that fires with ``None`` when the shutdown is complete. It never errbacks.
        """
        if self._shutdown_complete is not None:
            return self._shutdown_complete.wait()
        self._refusing_tasks = True
        self._shutdown_complete = _Signal()
        self.cancel_all_pending_tasks()
        finished = ensureDeferred(self._finish_shutdown(self.wait_for_tasks()))
        finished.addCallback(lambda _: self._shutdown_complete.fire())
        return self._shutdown_complete.wait()

    async def _finish_shutdown(self, tasks_stopped: Deferred[None]) -> None:
        await tasks_stopped
        calls, self._shutdown_calls = self._shutdown_calls, []
        for call, args, kwargs in calls:
            try:
                await maybe_deferred(call, *args, **kwargs)
            except Exception:
                logger.exception("Shutdown task %r of %s failed", call, type(self).__name__)

    # Internals

    def _clock(self) -> IReactorTime:
        if self._reactor is None:
            return get_reactor()
        return self._reactor

    @property
    def clock(self) -> IReactorTime:
        """The clock this manager's tasks run on (the global reactor unless one was given)."""
        return self._clock()

    @clock.setter
    def clock(self, clock: IReactorTime | None) -> None:
        self._reactor = clock

    def _validate(self, task: object, delay: object, interval: object,
                  ignore: object) -> tuple[float | None, float | None, tuple[type[BaseException], ...]]:
        """Check the arguments of a registration without side effects; return the normalised times and ignore."""
        is_work = inspect.iscoroutine(task) or isinstance(task, Deferred)
        if not (is_work or callable(task)):
            msg = f"A task must be a function, a coroutine or a Deferred, not {type(task).__name__}"
            raise TypeError(msg)
        checked_delay = None if delay is None else _check_time(delay, "delay", allow_zero=True)
        checked_interval = None if interval is None else _check_time(interval, "interval", allow_zero=False)
        if is_work and (checked_delay is not None or checked_interval is not None):
            msg = "Only functions can be delayed or repeated; a coroutine object or Deferred is already running"
            raise ValueError(msg)
        return checked_delay, checked_interval, _check_ignore(ignore)

    def _register(self, name: Hashable, task: TaskLike, args: tuple[Any, ...], kwargs: dict[str, Any],
                  delay: float | None, interval: float | None, ignore: object,
                  anonymous_base: str | None) -> Deferred[Any]:
        try:
            delay, interval, ignore_types = self._validate(task, delay, interval, ignore)
        except (TypeError, ValueError):
            _close_if_coroutine(task)
            raise
        if self._refusing_tasks:
            logger.warning("%s is shut down: not starting task %r", type(self).__name__, name)
            _close_if_coroutine(task)
            if isinstance(task, Deferred) and not task.called:
                # Whatever this Deferred stands for belongs to a manager that stopped: it must not outlive it.
                task.cancel()
            return succeed(None)
        if name in self._live_tasks:
            _close_if_coroutine(task)
            msg = f"A task called {name!r} is already running in {type(self).__name__}"
            raise RuntimeError(msg)

        if inspect.iscoroutine(task) or isinstance(task, Deferred):
            call: Callable[[], object] = partial(_identity, task)
        else:
            call = partial(task, *args, **kwargs)
        runner: _SingleRun | _RepeatingRun
        if interval is not None:
            runner = _RepeatingRun(self._clock(), call, interval, interval if delay is None else delay)
        else:
            runner = _SingleRun(self._clock() if delay is not None else None, call, delay)

        registration = _Registration(name, runner, ignore_types, anonymous_base)
        if self._reactor is not None or delay is not None or interval is not None:
            # (An immediate task on a manager without a clock does not look the global reactor up for this.)
            registration.start_time = self._clock().seconds()
        registration.handle = Deferred(lambda _: self._stop(registration))
        # Listed before it starts: work that finishes at once must find its own record to remove.
        self._live_tasks[name] = registration
        runner.start(partial(self._on_outcome, registration))
        return registration.handle

    def _stop(self, registration: _Registration) -> None:
        if self._live_tasks.get(registration.name) is registration:
            del self._live_tasks[registration.name]
            self._winding_down.add(registration)
            registration.runner.stop()
        if not registration.handle.called:
            registration.handle.callback(None)

    def _on_outcome(self, registration: _Registration, outcome: object) -> None:
        value = outcome
        if outcome is _CANCELLED_BEFORE_START:
            value = None
        elif isinstance(outcome, Failure):
            self._log_failure(registration, outcome)
            value = None
        if self._live_tasks.get(registration.name) is registration:
            del self._live_tasks[registration.name]
        self._winding_down.discard(registration)
        if not registration.handle.called:
            registration.handle.callback(value)
        registration.ended.fire()

    def _log_failure(self, registration: _Registration, failure: Failure) -> None:
        if failure.check(CancelledError):
            return
        owner = type(self).__name__
        if registration.ignore and failure.check(*registration.ignore):
            logger.warning("Task %r of %s failed: %s: %s", registration.name, owner,
                           failure.type.__name__, failure.getErrorMessage())
        else:
            logger.error("Task %r of %s failed:\n%s", registration.name, owner, failure.getTraceback())


def task(func: F) -> F:
    """
    Decorate a method of a :class:`TaskManager` subclass so every call runs as an anonymous task.

    The call registers ``func(self, ...)`` with :meth:`TaskManager.register_anonymous_task` (base name: the method's
    name) and returns the task's handle, so callers may ``await`` it. Failures are logged by the manager.

    :raises TypeError: if ``func`` is not callable.
    """
    if not callable(func):
        msg = f"@task decorates functions, not {type(func).__name__}"
        raise TypeError(msg)

    @wraps(func)
    def run_as_task(self: TaskManager, *args: Any, **kwargs: Any) -> Deferred[Any]:  # noqa: ANN401
        return self.register_anonymous_task(func.__name__, partial(func, self, *args, **kwargs))

    return run_as_task  # type: ignore[return-value]
