"""Small Twisted helpers shared by the rest of the package.

Nothing here starts or stops the reactor: the functions only build :class:`~twisted.internet.defer.Deferred`
objects or look the global reactor up when the caller did not inject one.
"""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

T = TypeVar("T")

__all__ = ["as_deferred", "fail", "get_reactor", "maybe_deferred", "run_forever", "sleep", "succeed"]


def get_reactor() -> Any:  # noqa: ANN401 - the reactor provides many interfaces at once
    """
    Return the global Twisted reactor.

    The import happens on first use, so merely importing :mod:`ipv8` never installs a reactor: an application
    may still install the one it prefers (asyncio, epoll, ...) before it creates its first IPv8 object.
    """
    global _reactor  # noqa: PLW0603 - a per-process cache of the one installed reactor
    if _reactor is None:
        from twisted.internet import reactor
        _reactor = reactor
    return _reactor


_reactor: Any = None


def as_deferred(value: object) -> Deferred[Any]:
    """
    Turn whatever a task produced into a :class:`Deferred`.

    * a :class:`Deferred` is returned unchanged;
    * a coroutine object is started with :func:`~twisted.internet.defer.ensureDeferred`;
    * a :class:`~twisted.python.failure.Failure` becomes a failed Deferred;
    * anything else becomes an already-fired Deferred holding that value.
    """
    if isinstance(value, Deferred):
        return value
    if inspect.iscoroutine(value):
        return ensureDeferred(value)
    if isinstance(value, Failure):
        return fail(value)
    return succeed(value)


def maybe_deferred(func: Callable[..., object], *args: object, **kwargs: object) -> Deferred[Any]:
    """
    Call ``func(*args, **kwargs)`` and always hand back a :class:`Deferred`.

    Unlike calling the function directly, an exception raised by ``func`` does not escape: it becomes the failure
    of the returned Deferred. Coroutine functions are run until their first real wait, like ``ensureDeferred``.
    """
    try:
        result = func(*args, **kwargs)
    except Exception:  # noqa: BLE001 - every error of the call belongs in the Deferred
        return fail(Failure())
    return as_deferred(result)


def sleep(seconds: float, clock: IReactorTime | None = None) -> Deferred[None]:
    """
    Return a Deferred that fires with ``None`` after ``seconds``; ``await sleep(0.5)`` pauses a coroutine.

    Cancelling the Deferred cancels the underlying timer (the awaiting coroutine then sees ``CancelledError``).

    :param seconds: how long to wait, must not be negative.
    :param clock: the reactor (or a :class:`twisted.internet.task.Clock` in tests); the global reactor by default.
    :raises ValueError: if ``seconds`` is negative.
    """
    if seconds < 0:
        msg = f"Cannot sleep for a negative time ({seconds!r} s)"
        raise ValueError(msg)
    return deferLater(clock if clock is not None else get_reactor(), seconds)


def run_forever(reactor: Any = None) -> Deferred[None]:  # noqa: ANN401 - IReactorCore
    """
    Return a Deferred that fires with ``None`` when the reactor begins to shut down (Ctrl-C, ``SIGTERM``,
    ``reactor.stop()``).

    This is the Twisted form of py-ipv8's ``run_forever()``: it does not run the reactor, it only waits for
    the end of the run. Hand your main function to :func:`twisted.internet.task.react`, which runs the reactor
    and ends the process when the function's Deferred has fired::

        async def main(reactor):
            ipv8 = IPv8(configuration)
            await ipv8.start()
            reactor.addSystemEventTrigger("before", "shutdown", ipv8.stop)
            await run_forever(reactor)

        react(lambda reactor: ensureDeferred(main(reactor)))

    The Deferred fires during the ``"before"`` phase of the reactor's ``"shutdown"`` event. The reactor does not
    wait for asynchronous work started by the code after ``await run_forever()``, so register asynchronous
    clean-up (such as ``ipv8.stop``, which returns a Deferred) as a ``"before"``/``"shutdown"`` system event
    trigger, as above: the reactor waits for the Deferreds such triggers return.

    Cancelling the returned Deferred removes the shutdown trigger.

    :param reactor: the reactor to watch; the global reactor by default.
    """
    reactor = reactor if reactor is not None else get_reactor()
    handle = None

    def forget(_: Deferred[None]) -> None:
        reactor.removeSystemEventTrigger(handle)

    stopped: Deferred[None] = Deferred(forget)

    def shutting_down() -> None:
        if not stopped.called:
            stopped.callback(None)

    handle = reactor.addSystemEventTrigger("before", "shutdown", shutting_down)
    return stopped
