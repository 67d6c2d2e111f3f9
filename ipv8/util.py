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

__all__ = ["as_deferred", "fail", "get_reactor", "maybe_deferred", "sleep", "succeed"]


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
