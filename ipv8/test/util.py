"""Helpers for tests that run on a real (or a fake) reactor."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import deferLater

from ..util import get_reactor

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

__all__ = ["WaitTimeoutError", "wait_until"]


class WaitTimeoutError(AssertionError):
    """:func:`wait_until` gave up: the condition did not come true in time (a test failure, not an error)."""


def wait_until(condition: Callable[[], object], timeout: float = 5.0, step: float = 0.01,
               clock: IReactorTime | None = None, what: str = "the condition",
               describe: Callable[[], str] | None = None) -> Deferred[None]:
    """
    Let the reactor work until ``condition()`` is true, checking it every ``step`` seconds.

    Usable from coroutines (``await wait_until(...)``) and ``inlineCallbacks`` generators
    (``yield wait_until(...)``). If the condition already holds, the returned Deferred has already fired.

    :param condition: checked at once and then after every ``step``; any truthy value ends the wait.
    :param timeout: seconds (on ``clock``) after which the wait fails.
    :param step: seconds between two checks.
    :param clock: the reactor to wait on (a :class:`twisted.internet.task.Clock` in tests that advance time
        themselves); the global reactor by default.
    :param what: names the awaited state in the failure message ("pyipv8's pong not reached within 5 s").
    :param describe: called on failure; its text is appended to the message (for example the peers seen).
    :returns: a Deferred that fires with ``None`` once the condition holds, or fails with
        :class:`WaitTimeoutError` (an ``AssertionError``) after ``timeout`` seconds.
    :raises ValueError: if ``step`` is not positive or ``timeout`` is negative.
    """
    if not step > 0 or timeout < 0:
        msg = f"wait_until needs step > 0 and timeout >= 0, got step={step!r}, timeout={timeout!r}"
        raise ValueError(msg)
    reactor: Any = clock if clock is not None else get_reactor()

    async def poll() -> None:
        deadline = reactor.seconds() + timeout
        while not condition():
            if reactor.seconds() >= deadline:
                detail = describe() if describe is not None else ""
                msg = f"{what} not reached within {timeout} s" + (f". {detail}" if detail else "")
                raise WaitTimeoutError(msg)
            await deferLater(reactor, step)
        return

    return ensureDeferred(poll())
