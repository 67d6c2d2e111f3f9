"""``/debug/reactor``: is the reactor keeping up, and what is it about to do?

Everything in IPv8 runs on one reactor thread, so a handler that blocks delays every packet, timer and
HTTP request. The :class:`ReactorLagProbe` notices this: a ``LoopingCall`` that records how late each of
its ticks runs. The endpoint adds the reactor's pending delayed calls and the named tasks of every overlay.
"""
from __future__ import annotations

import math
from collections import deque
from functools import partial
from typing import Any, Callable, Iterable

from twisted.internet.task import LoopingCall
from twisted.python.reflect import safe_repr

from ..util import get_reactor
from .base_endpoint import APIRequest, BaseEndpoint, QueryParameter, api_method
from .schema import array, boolean, integer, number, obj, string

DEFAULT_PROBE_INTERVAL = 0.5
DEFAULT_CALL_LIMIT = 50
MAX_CALL_LIMIT = 1000
#: How many of the most recent probe measurements the endpoint lists one by one.
RECENT_SAMPLES = 10


class ReactorLagProbe:
    """
    Measures reactor lag: how much later than scheduled a periodic call actually runs.

    A ``LoopingCall`` ticks every ``interval`` seconds. When the reactor is busy, a tick runs late; the
    delay between the slot the tick was due in and the moment it ran is one lag sample. The last
    ``history`` samples are kept, and every sample is handed to the callables in :attr:`listeners`.

    :param interval: seconds between ticks.
    :param history: how many samples to keep.
    :param clock: the reactor (a ``twisted.internet.task.Clock`` in tests); the global reactor by default.
    :raises ValueError: if ``interval`` is not a positive number or ``history`` is less than 1.
    """

    def __init__(self, interval: float = DEFAULT_PROBE_INTERVAL, history: int = 120,
                 clock: Any = None) -> None:  # noqa: ANN401
        """Create a stopped probe; see the class documentation."""
        if not (isinstance(interval, (int, float)) and math.isfinite(interval) and interval > 0):
            raise ValueError(f"the probe interval must be a positive number of seconds, got {interval!r}")
        if history < 1:
            raise ValueError(f"the probe must keep at least one sample, got history={history!r}")
        self.interval = float(interval)
        self.clock = clock if clock is not None else get_reactor()
        #: ``(time the tick ran, lag in seconds)``, oldest first.
        self.samples: deque[tuple[float, float]] = deque(maxlen=history)
        #: Called with ``(time the tick ran, lag)`` after every tick.
        self.listeners: list[Callable[[float, float], None]] = []
        self._loop: LoopingCall | None = None
        self._due = 0.0

    @property
    def running(self) -> bool:
        """Whether the probe is ticking."""
        return self._loop is not None and self._loop.running

    def start(self) -> None:
        """Start ticking (again); a running probe is left alone."""
        if self.running:
            return
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._due = self.clock.seconds() + self.interval
        self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        """Stop ticking; the samples are kept."""
        if self.running:
            self._loop.stop()
        self._loop = None

    def _tick(self) -> None:
        now = self.clock.seconds()
        lag = max(0.0, now - self._due)
        self.samples.append((now, lag))
        # LoopingCall skips the slots that passed while the reactor was blocked: the next tick is due in
        # the first slot after now, counted from the start of the loop.
        start = self._loop.starttime
        self._due = start + self.interval * (math.floor((now - start) / self.interval) + 1)
        for listener in list(self.listeners):
            listener(now, lag)

    def summary(self) -> dict[str, Any]:
        """The measurements as a JSON-ready dict (lags in seconds)."""
        lags = [lag for _, lag in self.samples]
        return {
            "running": self.running,
            "interval": self.interval,
            "samples": len(lags),
            "last": lags[-1] if lags else None,
            "mean": sum(lags) / len(lags) if lags else None,
            "max": max(lags) if lags else None,
            "recent": [{"time": when, "lag": lag} for when, lag in list(self.samples)[-RECENT_SAMPLES:]],
        }


def callable_name(function: Any) -> str:  # noqa: ANN401
    """A readable name for whatever a delayed call will call: ``module.qualified.name`` or a repr."""
    if isinstance(function, partial):
        return f"partial({callable_name(function.func)})"
    qualified = getattr(function, "__qualname__", None)
    if not isinstance(qualified, str):
        return safe_repr(function)  # e.g. a LoopingCall, whose repr names what it loops over
    module = getattr(function, "__module__", None)
    return f"{module}.{qualified}" if isinstance(module, str) else qualified


def describe_tasks(manager: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    """The live tasks of a :class:`~ipv8.taskmanager.TaskManager`: name, and interval for periodic ones."""
    describe = getattr(manager, "get_task_descriptions", None)
    return describe() if describe is not None else []


def task_owners(session: Any) -> list[Any]:  # noqa: ANN401
    """The session and its overlays, as far as they are task managers."""
    owners = [session] + list(getattr(session, "overlays", ()))
    return [owner for owner in owners if hasattr(owner, "register_task")]


LAG_SCHEMA = obj(
    ("running", "interval", "samples", "last", "mean", "max", "recent"),
    running=boolean(), interval=number("Seconds between probe ticks."),
    samples=integer("Number of measurements kept."),
    last={"type": ["number", "null"]}, mean={"type": ["number", "null"]}, max={"type": ["number", "null"]},
    recent=array(obj(("time", "lag"), time=number(), lag=number())),
)
REACTOR_SCHEMA = obj(
    ("lag", "delayed_calls", "task_managers"),
    lag=LAG_SCHEMA,
    delayed_calls=obj(("count", "calls", "truncated"), count=integer("All pending delayed calls."),
                      calls=array(obj(("callable", "due_in"), callable=string(), due_in=number("Seconds."))),
                      truncated=boolean()),
    task_managers=array(obj(("owner", "tasks"), owner=string("Class of the overlay or service."),
                            tasks=array(obj(("name", "periodic", "interval"), name=string(), periodic=boolean(),
                                            interval={"type": ["number", "null"]},
                                            start_time={"type": ["number", "null"],
                                                        "description": "When the task was registered."})))),
)


class ReactorEndpoint(BaseEndpoint):
    """
    Reactor health: lag measured by a :class:`ReactorLagProbe`, pending delayed calls, overlay tasks.

    The probe runs while the REST manager runs.

    :param probe: the probe to report; a new one on the global reactor when omitted.
    :param reactor: where to list delayed calls from; the probe's clock when omitted.
    """

    tags = ("Debug",)

    def __init__(self, probe: ReactorLagProbe | None = None, reactor: Any = None) -> None:  # noqa: ANN401
        """Create the resource; see the class documentation."""
        super().__init__()
        self.probe = probe if probe is not None else ReactorLagProbe()
        self.reactor = reactor if reactor is not None else self.probe.clock

    def initialize(self, session: Any) -> None:  # noqa: ANN401
        """Start the probe."""
        super().initialize(session)
        self.probe.start()

    def shutdown(self) -> None:
        """Stop the probe."""
        self.probe.stop()
        super().shutdown()

    def _task_owners(self) -> Iterable[Any]:
        return task_owners(self.session)

    @api_method("GET", "Reactor lag, pending delayed calls and the tasks of every overlay.",
                {200: REACTOR_SCHEMA},
                query=(QueryParameter("limit", integer(minimum=0, maximum=MAX_CALL_LIMIT),
                                      f"How many delayed calls to list, soonest first (default "
                                      f"{DEFAULT_CALL_LIMIT})."),))
    def get_reactor_state(self, request: APIRequest) -> dict[str, Any]:
        """
        ``delayed_calls.count`` is the total; only the ``limit`` soonest calls are listed.
        """
        limit = request.query.get("limit", DEFAULT_CALL_LIMIT)
        now = self.reactor.seconds()
        pending = sorted(self.reactor.getDelayedCalls(), key=lambda call: call.getTime())
        return {
            "lag": self.probe.summary(),
            "delayed_calls": {
                "count": len(pending),
                "calls": [{"callable": callable_name(call.func), "due_in": call.getTime() - now}
                          for call in pending[:limit]],
                "truncated": len(pending) > limit,
            },
            "task_managers": [{"owner": type(owner).__name__, "tasks": describe_tasks(owner)}
                              for owner in self._task_owners()],
        }


__all__ = ["ReactorEndpoint", "ReactorLagProbe", "callable_name", "describe_tasks", "task_owners"]
