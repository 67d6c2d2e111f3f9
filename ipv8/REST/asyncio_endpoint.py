"""``/asyncio/tasks``, ``/asyncio/drift`` and ``/asyncio/debug``: py-ipv8's event-loop monitoring routes.

py-ipv8 runs on asyncio and these routes look at the asyncio loop. txipv8 runs on a Twisted reactor, so the
same JSON shapes are filled in from the reactor:

* ``tasks``: the named tasks of the session and of every overlay (with the name of their task manager and,
  for periodic ones, the interval), followed by every pending delayed call of the reactor.
* ``drift``: a measuring strategy joins the session's strategies; every step records how much later than
  one walk interval after the previous step it ran.
* ``debug``: switching debug mode on turns on Deferred debugging (creation and callback stacks in
  "Unhandled error in Deferred" reports), collects the warnings and errors Twisted logs, and reports every
  time the reactor was blocked for ``slow_callback_duration`` seconds or more, as measured by a fine-grained
  :class:`~ipv8.REST.reactor_endpoint.ReactorLagProbe`.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet.defer import getDebugging, setDebugging
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from ..peerdiscovery.discovery import DiscoveryStrategy
from ..util import get_reactor
from .base_endpoint import APIRequest, BadRequest, BaseEndpoint, NotFound, PreconditionFailed, api_method
from .reactor_endpoint import MAX_CALL_LIMIT, ReactorLagProbe, callable_name, describe_tasks, task_owners
from .schema import ERROR_REF, SUCCESS_REF, array, boolean, number, obj, string

#: How many drift measurements are kept (as in py-ipv8).
DRIFT_HISTORY = 100
#: How many debug messages are kept (as in py-ipv8).
DEBUG_MESSAGES = 50
#: asyncio's default threshold for a slow callback, in seconds.
DEFAULT_SLOW_CALLBACK_DURATION = 0.1
#: Seconds between the ticks of the probe that detects a blocked reactor while debug mode is on.
DEBUG_PROBE_INTERVAL = 0.05
#: The message py-ipv8 answers ``GET /asyncio/drift`` with while drift measurements are off.
DRIFT_DISABLED = "Core drift disabled."
_REPORTED_LEVELS = (LogLevel.warn, LogLevel.error, LogLevel.critical)


def session_clock(session: Any) -> Any:  # noqa: ANN401
    """
    The clock the session's strategy loop runs on: its ``clock``, else the reactor it was created with
    (``IPv8(reactor=...)``), else the global reactor.
    """
    for name in ("clock", "_reactor"):
        clock = getattr(session, name, None)
        if clock is not None and hasattr(clock, "seconds"):
            return clock
    return get_reactor()


class DriftMeasurementStrategy(DiscoveryStrategy):
    """
    A strategy without overlay that measures how regularly the session's strategy loop runs.

    Each step records ``(time, drift)``: how much later than one walk interval after the previous step it
    ran (never negative).

    :param session: the IPv8 object whose ``walk_interval`` is the expected time between steps.
    :param clock: the clock the strategy loop runs on.
    """

    def __init__(self, session: Any, clock: Any) -> None:  # noqa: ANN401
        """Create the strategy; the first step is measured from now."""
        super().__init__(None, clock=clock)
        self.session = session
        self.last_measurement = self.now()
        self.history: deque[tuple[float, float]] = deque(maxlen=DRIFT_HISTORY)

    def take_step(self) -> None:
        """Record the drift of this step."""
        now = self.now()
        expected = float(getattr(self.session, "walk_interval", 0.0))
        self.history.append((now, max(0.0, now - self.last_measurement - expected)))
        self.last_measurement = now


class ReactorDebugMonitor:
    """
    The reactor's "debug mode": Deferred debugging, Twisted's warnings and errors, and blocked-reactor reports.

    :param clock: the reactor to watch.
    :param publisher: where Twisted's log events come from (the global publisher by default).
    """

    def __init__(self, clock: Any, publisher: Any = None) -> None:  # noqa: ANN401
        """Create a monitor that is off."""
        self.enabled = False
        self.slow_callback_duration = DEFAULT_SLOW_CALLBACK_DURATION
        self._messages: deque[str] = deque(maxlen=DEBUG_MESSAGES)
        self._probe = ReactorLagProbe(interval=DEBUG_PROBE_INTERVAL, history=1, clock=clock)
        self._probe.listeners.append(self._lag_measured)
        self._publisher = publisher if publisher is not None else globalLogPublisher
        self._debugging_before = False

    @property
    def messages(self) -> list[str]:
        """What was collected since debug mode was switched on (nothing while it is off)."""
        return list(self._messages) if self.enabled else []

    def enable(self) -> None:
        """Switch debug mode on (a no-op when it is on)."""
        if self.enabled:
            return
        self.enabled = True
        self._messages.clear()
        self._debugging_before = getDebugging()
        setDebugging(True)
        self._publisher.addObserver(self._observe)
        self._probe.start()

    def disable(self) -> None:
        """Switch debug mode off and restore Deferred debugging as it was (a no-op when it is off)."""
        if not self.enabled:
            return
        self.enabled = False
        self._probe.stop()
        self._publisher.removeObserver(self._observe)
        setDebugging(self._debugging_before)
        self._messages.clear()

    def _lag_measured(self, when: float, lag: float) -> None:
        if lag >= self.slow_callback_duration:
            self._messages.append(f"The reactor was blocked: a timer ran {lag:.3f} seconds late "
                                  f"(slow_callback_duration is {self.slow_callback_duration:.3f} seconds)")

    def _observe(self, event: dict[str, Any]) -> None:
        if event.get("log_level") not in _REPORTED_LEVELS:
            return
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text = f"{text}\n{failure.getTraceback()}"
        self._messages.append(text)


TASK_SCHEMA = obj(
    ("name", "running", "stack"),
    name=string("Task name, or the function a delayed call will call."),
    running=boolean("Whether the task is executing right now (never, on a reactor, while a request is served)."),
    stack=array(string(), "Always empty: Deferreds keep no stack frames."),
    taskmanager=string("Class name of the task's owner (tasks of a TaskManager only)."),
    start_time=number("When the task was registered (only when the task manager records it)."),
    interval=number("Seconds between runs (periodic tasks only)."),
    due_in=number("Seconds until the delayed call runs (reactor delayed calls only; txipv8 only)."),
)
DRIFT_SCHEMA = obj(("measurements",), measurements=array(obj(("timestamp", "drift"), timestamp=number(),
                                                                drift=number("Seconds late."))))
DEBUG_SCHEMA = obj(("messages", "enable", "slow_callback_duration"),
                   messages=array(obj(("message",), message=string())), enable=boolean(),
                   slow_callback_duration=number("Seconds."))


class AsyncioTasksEndpoint(BaseEndpoint):
    """``/asyncio/tasks``: what the reactor has to do."""

    tags = ("Asyncio",)

    def __init__(self, reactor: Any) -> None:  # noqa: ANN401
        """List the delayed calls of ``reactor``."""
        super().__init__()
        self.reactor = reactor

    @api_method("GET", "Every named task of the session and its overlays, then the reactor's delayed calls.",
                {200: obj(("tasks",), tasks=array(TASK_SCHEMA))})
    def get_tasks(self, request: APIRequest) -> dict[str, Any]:
        """
        Task manager tasks carry ``taskmanager`` (the owner's class) and, when periodic, ``interval``; the
        reactor's pending delayed calls follow (soonest first, at most 1000) with ``due_in``.
        """
        tasks: list[dict[str, Any]] = []
        for owner in task_owners(self.session):
            for description in describe_tasks(owner):
                entry: dict[str, Any] = {"name": description["name"], "running": False, "stack": [],
                                         "taskmanager": type(owner).__name__}
                if description.get("start_time") is not None:
                    entry["start_time"] = description["start_time"]
                if description.get("interval") is not None:
                    entry["interval"] = description["interval"]
                tasks.append(entry)
        now = self.reactor.seconds()
        pending = sorted(self.reactor.getDelayedCalls(), key=lambda call: call.getTime())[:MAX_CALL_LIMIT]
        tasks.extend({"name": callable_name(call.func), "running": False, "stack": [],
                      "due_in": call.getTime() - now} for call in pending)
        return {"tasks": tasks}


class AsyncioDriftEndpoint(BaseEndpoint):
    """``/asyncio/drift``: measure how regularly the strategies are stepped."""

    tags = ("Asyncio",)

    def __init__(self) -> None:
        """Create the resource with measurements off."""
        super().__init__()
        self.strategy: DriftMeasurementStrategy | None = None

    def shutdown(self) -> None:
        """Take the measuring strategy out of the session."""
        self._disable()
        super().shutdown()

    def _enable(self) -> None:
        if self.strategy is not None:
            return
        strategies = getattr(self.session, "strategies", None)
        if not isinstance(strategies, list):
            raise PreconditionFailed("this session runs no discovery strategies", code="NoStrategies")
        self.strategy = DriftMeasurementStrategy(self.session, session_clock(self.session))
        # The test framework's MockIPv8 keeps (overlay, strategy, target) triples, IPv8 (strategy, target).
        if strategies and len(strategies[0]) == 3:
            strategies.append((None, self.strategy, -1))
        else:
            strategies.append((self.strategy, -1))
        self._strategies_changed()

    def _disable(self) -> None:
        if self.strategy is None:
            return
        strategy, self.strategy = self.strategy, None
        strategies = getattr(self.session, "strategies", None)
        if isinstance(strategies, list):
            strategies[:] = [entry for entry in strategies if strategy not in entry]
            self._strategies_changed()

    def _strategies_changed(self) -> None:
        scheduler = getattr(self.session, "scheduler", None)
        if scheduler is not None:
            scheduler.strategies_changed()

    @api_method("GET", "The drift measurements: how late each strategy step ran.",
                {200: DRIFT_SCHEMA, 404: ("Drift measurements are off.", ERROR_REF)})
    def get_drift(self, request: APIRequest) -> dict[str, Any]:
        """
        ``drift`` is how many seconds later than one walk interval after the previous measurement a step ran.
        """
        if self.strategy is None:
            raise NotFound(DRIFT_DISABLED, code="DriftDisabled")
        return {"measurements": [{"timestamp": when, "drift": drift} for when, drift in self.strategy.history]}

    @api_method("PUT", "Switch drift measurements on or off.",
                {200: SUCCESS_REF, 412: ("The session runs no strategies.", ERROR_REF)},
                body=obj(("enable",), enable=boolean("Measure (true) or stop and forget (false).")))
    def set_drift(self, request: APIRequest) -> dict[str, Any]:
        """
        Switching on adds a measuring strategy to the session; switching off removes it with its measurements.
        """
        if request.body["enable"]:
            self._enable()
        else:
            self._disable()
        return {"success": True}


class AsyncioDebugEndpoint(BaseEndpoint):
    """``/asyncio/debug``: the reactor's debug mode and what it collected."""

    tags = ("Asyncio",)

    def __init__(self, reactor: Any, publisher: Any = None) -> None:  # noqa: ANN401
        """Watch ``reactor`` while debug mode is on."""
        super().__init__()
        self.monitor = ReactorDebugMonitor(reactor, publisher)

    def shutdown(self) -> None:
        """Switch debug mode off."""
        self.monitor.disable()
        super().shutdown()

    @api_method("GET", "Debug mode settings and the messages collected since it was switched on.",
                {200: DEBUG_SCHEMA})
    def get_debug(self, request: APIRequest) -> dict[str, Any]:
        """
        Messages are Twisted's warnings and errors and reports of a blocked reactor (the last 50).
        """
        return {"messages": [{"message": message} for message in self.monitor.messages],
                "enable": self.monitor.enabled, "slow_callback_duration": self.monitor.slow_callback_duration}

    @api_method("PUT", "Switch debug mode on or off and set the slow callback threshold.",
                {200: SUCCESS_REF},
                body=obj(enable=boolean("Debug mode on (true) or off (false)."),
                         slow_callback_duration=number("Report reactor blocks of at least this many seconds.",
                                                       minimum=0, maximum=3600)))
    def set_debug(self, request: APIRequest) -> dict[str, Any]:
        """
        Give ``enable``, ``slow_callback_duration`` or both.
        """
        body = request.body
        if "enable" not in body and "slow_callback_duration" not in body:
            raise BadRequest('incorrect parameters: give "enable", "slow_callback_duration" or both')
        if "slow_callback_duration" in body:
            self.monitor.slow_callback_duration = float(body["slow_callback_duration"])
        if "enable" in body:
            if body["enable"]:
                self.monitor.enable()
            else:
                self.monitor.disable()
        return {"success": True}


class AsyncioEndpoint(BaseEndpoint):
    """``/asyncio``: groups ``tasks``, ``drift`` and ``debug`` (it answers nothing itself, like py-ipv8's)."""

    def __init__(self, reactor: Any, publisher: Any = None) -> None:  # noqa: ANN401
        """Create the three resources, watching ``reactor``."""
        super().__init__()
        self.add_endpoint("tasks", AsyncioTasksEndpoint(reactor))
        self.add_endpoint("drift", AsyncioDriftEndpoint())
        self.add_endpoint("debug", AsyncioDebugEndpoint(reactor, publisher))


__all__ = ["AsyncioDebugEndpoint", "AsyncioDriftEndpoint", "AsyncioEndpoint", "AsyncioTasksEndpoint",
           "DriftMeasurementStrategy", "ReactorDebugMonitor", "session_clock"]
