"""Short-lived state for message flows, with timeouts, on the Twisted reactor.

A :class:`NumberCache` holds the state of one conversation (for example "I sent request 4711 and expect an
answer"). It is identified by a ``prefix`` (what kind of state) and a ``number`` (which one). A
:class:`RequestCache` stores these caches and times each one out after its :attr:`NumberCache.timeout_delay`
seconds: the cache is then removed, its :meth:`NumberCache.on_timeout` is called and the Deferreds it registered
with :meth:`NumberCache.register_future` are resolved.

Wherever a prefix is expected, a cache class with a ``name`` class attribute (the ``*WithName`` caches) may be
passed instead: ``request_cache.get(MyCache, 3)`` means ``request_cache.get(MyCache.name, 3)``.
"""
from __future__ import annotations

import logging
import math
import random
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Tuple, TypeVar, Union, overload

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from .taskmanager import TaskManager

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

logger = logging.getLogger(__name__)

#: Random cache numbers are drawn from ``range(RANDOM_NUMBER_SPACE)``.
RANDOM_NUMBER_SPACE = 2 ** 16

CacheT = TypeVar("CacheT", bound="NumberCache")
NamedCacheT = TypeVar("NamedCacheT", bound="NumberCache")
Prefix = Union[str, type]
_Key = Tuple[str, int]

__all__ = [
    "RANDOM_NUMBER_SPACE",
    "NumberCache",
    "NumberCacheWithName",
    "RandomNumberCache",
    "RandomNumberCacheWithName",
    "RequestCache",
]


def _prefix_of(prefix: Prefix) -> str:
    """Accept a prefix string or a cache class that carries its prefix in ``name``."""
    if isinstance(prefix, str):
        return prefix
    name = getattr(prefix, "name", None) if isinstance(prefix, type) else None
    if not isinstance(name, str):
        msg = f"Expected a prefix string or a cache class with a 'name' string attribute, got {prefix!r}"
        raise TypeError(msg)
    return name


class NumberCache:
    """
    The state of one message flow, stored in a :class:`RequestCache` under ``(prefix, number)``.

    Subclass it, add your own attributes, and override :meth:`on_timeout` and :attr:`timeout_delay` as needed.

    :param request_cache: the cache store this cache will be added to (used to reject a number that is taken).
    :param prefix: the kind of state; caches of different kinds never clash.
    :param number: the identifier within ``prefix``, usually also sent in the messages of the flow.
    :raises TypeError: if ``prefix`` is not a string or ``number`` not an integer.
    :raises RuntimeError: if ``request_cache`` already holds a cache with this prefix and number.
    """

    def __init__(self, request_cache: RequestCache, prefix: str, number: int) -> None:
        """
        Create a cache; it is only stored once you pass it to :meth:`RequestCache.add`.
        """
        super().__init__()
        if not isinstance(prefix, str):
            msg = f"The prefix of a cache must be a str, not {type(prefix).__name__}"
            raise TypeError(msg)
        if isinstance(number, bool) or not isinstance(number, int):
            msg = f"The number of a cache must be an int, not {type(number).__name__}"
            raise TypeError(msg)
        if request_cache.has(prefix, number):
            msg = f"The number {number} is already in use for prefix {prefix!r}"
            raise RuntimeError(msg)
        self._prefix = prefix
        self._number = number
        self._futures: list[tuple[Deferred[Any], object]] = []

    @property
    def prefix(self) -> str:
        """
        The kind of state this cache holds.
        """
        return self._prefix

    @property
    def number(self) -> int:
        """
        The identifier of this cache within its prefix.
        """
        return self._number

    @property
    def timeout_delay(self) -> float:
        """
        Seconds between adding this cache and its timeout; override to change the default of 10 seconds.
        """
        return 10.0

    def on_timeout(self) -> None:
        """
        Called when the cache times out, after it was removed from its :class:`RequestCache`. Does nothing unless
        overridden.
        """

    def register_future(self, future: Deferred[Any], on_timeout: object = None) -> None:
        """
        Tie a Deferred to the life of this cache.

        When the cache times out, an unfired ``future`` fires with ``on_timeout``; if ``on_timeout`` is an exception
        instance or an exception class, ``future`` errbacks with that exception instead. When the
        :class:`RequestCache` shuts down while the cache is still stored, ``future`` is cancelled.

        :raises TypeError: if ``future`` is not a :class:`Deferred`.
        """
        if not isinstance(future, Deferred):
            msg = f"register_future takes a twisted Deferred, not {type(future).__name__}"
            raise TypeError(msg)
        self._futures.append((future, on_timeout))

    @property
    def managed_futures(self) -> list[tuple[Deferred[Any], object]]:
        """
        The ``(Deferred, value on timeout)`` pairs registered with :meth:`register_future`.
        """
        return list(self._futures)

    def _resolve_futures_on_timeout(self) -> None:
        for future, outcome in self._futures:
            if future.called:
                continue
            if isinstance(outcome, BaseException):
                future.errback(Failure(outcome))
            elif isinstance(outcome, type) and issubclass(outcome, BaseException):
                future.errback(Failure(outcome(f"{self} timed out")))
            else:
                future.callback(outcome)

    def _cancel_futures(self) -> None:
        for future, _ in self._futures:
            if not future.called:
                future.cancel()

    def __str__(self) -> str:
        """
        Show the class and identity of this cache.
        """
        return f"<{type(self).__name__} {self._prefix!r} #{self._number}>"


class RandomNumberCache(NumberCache):
    """
    A :class:`NumberCache` whose number is picked at random from ``[0, 2**16)`` among the numbers still free.

    :raises RuntimeError: if every number of ``prefix`` is taken.
    """

    def __init__(self, request_cache: RequestCache, prefix: str) -> None:
        """
        Create a cache with a random free number for ``prefix``.
        """
        super().__init__(request_cache, prefix, self.find_unclaimed_identifier(request_cache, prefix))

    @classmethod
    def find_unclaimed_identifier(cls, request_cache: RequestCache, prefix: str) -> int:
        """
        Return a random number in ``[0, 2**16)`` that ``request_cache`` does not use for ``prefix``.

        :raises RuntimeError: if all numbers are in use.
        """
        for _ in range(64):
            candidate = random.randrange(RANDOM_NUMBER_SPACE)
            if not request_cache.has(prefix, candidate):
                return candidate
        # Nearly full: walk the whole space once, starting at a random spot, rather than guessing forever.
        start = random.randrange(RANDOM_NUMBER_SPACE)
        for offset in range(RANDOM_NUMBER_SPACE):
            candidate = (start + offset) % RANDOM_NUMBER_SPACE
            if not request_cache.has(prefix, candidate):
                return candidate
        msg = f"All {RANDOM_NUMBER_SPACE} numbers of prefix {prefix!r} are in use"
        raise RuntimeError(msg)


class NumberCacheWithName(NumberCache):
    """
    A :class:`NumberCache` whose class names its prefix in ``name``, so the class can stand in for the prefix.

    Pass ``self.name`` as the prefix to ``__init__``; then ``request_cache.get(MyCache, number)`` finds it.
    """

    name: ClassVar[str]


class RandomNumberCacheWithName(RandomNumberCache):
    """
    A :class:`RandomNumberCache` whose class names its prefix in ``name`` (see :class:`NumberCacheWithName`).
    """

    name: ClassVar[str]


class RequestCache(TaskManager):
    """
    Stores :class:`NumberCache` objects and times them out.

    The timeouts are tasks of this :class:`~ipv8.taskmanager.TaskManager` (so a
    :class:`twisted.internet.task.Clock` passed as ``clock`` drives them in tests). Shut it down with
    :meth:`shutdown` when its owner goes away.

    :param clock: the clock used for timeouts; the global reactor by default.
    """

    #: Caches stored at most. Overlays often add a cache because a peer asked for something; this bound
    #: keeps a flood of such requests from growing the node's memory (each cache also times out).
    max_size: int = 10_000

    def __init__(self, clock: IReactorTime | None = None) -> None:
        """
        Create an empty store.
        """
        super().__init__(clock)
        self._caches: dict[_Key, NumberCache] = {}
        self._waiters: dict[_Key, list[Deferred[Any]]] = {}
        self._closed = False
        # Set while a ``passthrough()`` block is active: (timeout to use, classes it applies to or None for all).
        self._timeout_override: tuple[float, tuple[type, ...] | None] | None = None

    def add(self, cache: CacheT) -> CacheT | None:
        """
        Store ``cache`` and start its timeout.

        :returns: ``cache``, or ``None`` (after logging an error) when a cache with the same prefix and number is
                  already stored, or (after logging a warning and cancelling the cache's registered Deferreds) when
                  this store has been shut down or holds :attr:`max_size` caches already.
        :raises TypeError: if ``cache`` is not a :class:`NumberCache` or its ``timeout_delay`` is not a number.
        :raises ValueError: if its ``timeout_delay`` is negative or not finite.
        """
        if not isinstance(cache, NumberCache):
            msg = f"RequestCache.add takes a NumberCache, not {type(cache).__name__}"
            raise TypeError(msg)
        delay = self._timeout_for(cache)
        if self._closed:
            logger.warning("Not adding %s: the RequestCache is shut down", cache)
            cache._cancel_futures()  # noqa: SLF001 - the store owns the lifetime of its caches' futures
            return None
        key = (cache.prefix, cache.number)
        if key in self._caches:
            logger.error("Not adding %s: %s already uses that number", cache, self._caches[key])
            return None
        if len(self._caches) >= self.max_size:
            logger.warning("Not adding %s: the RequestCache is full (%d caches)", cache, self.max_size)
            cache._cancel_futures()  # noqa: SLF001 - as for a closed store: nobody will ever resolve them
            return None
        self._caches[key] = cache
        self.register_task(self._timeout_task_name(cache), self._time_out, cache, delay=delay)
        for waiter in self._waiters.pop(key, []):
            waiter.callback(cache)
        return cache

    @overload
    def has(self, prefix: str, number: int) -> bool: ...

    @overload
    def has(self, prefix: type[NumberCache], number: int) -> bool: ...

    def has(self, prefix: Prefix, number: int) -> bool:
        """
        Return whether a cache with this prefix (or cache class) and number is stored.
        """
        return (_prefix_of(prefix), number) in self._caches

    @overload
    def get(self, prefix: str, number: int) -> NumberCache | None: ...

    @overload
    def get(self, prefix: type[NamedCacheT], number: int) -> NamedCacheT | None: ...

    def get(self, prefix: Prefix, number: int) -> Any:  # noqa: ANN401
        """
        Return the stored cache with this prefix (or cache class) and number, or ``None``. The cache stays stored.
        """
        return self._caches.get((_prefix_of(prefix), number))

    @overload
    def pop(self, prefix: str, number: int) -> NumberCache: ...

    @overload
    def pop(self, prefix: type[NamedCacheT], number: int) -> NamedCacheT: ...

    def pop(self, prefix: Prefix, number: int) -> Any:  # noqa: ANN401
        """
        Remove and return the cache with this prefix (or cache class) and number, cancelling its timeout.

        The cache's registered Deferreds are left alone: resolving them is now up to the caller.

        :raises KeyError: if no such cache is stored.
        """
        key = (_prefix_of(prefix), number)
        cache = self._caches.pop(key, None)
        if cache is None:
            msg = f"No cache with prefix {key[0]!r} and number {number!r}"
            raise KeyError(msg)
        self.cancel_pending_task(self._timeout_task_name(cache))
        return cache

    @overload
    def wait_for(self, prefix: str, number: int, timeout: float | None = None) -> Deferred[NumberCache]: ...

    @overload
    def wait_for(self, prefix: type[NamedCacheT], number: int,
                 timeout: float | None = None) -> Deferred[NamedCacheT]: ...

    def wait_for(self, prefix: Prefix, number: int, timeout: float | None = None) -> Deferred[Any]:
        """
        Return a Deferred that fires with the cache with this prefix (or cache class) and number as soon as it is
        stored (at once if it already is).

        :param timeout: if given, the Deferred errbacks with :class:`twisted.internet.defer.TimeoutError` when
                        no such cache was added within ``timeout`` seconds.
        :returns: the Deferred; cancelling it stops the wait. It is cancelled by :meth:`shutdown`.
        """
        key = (_prefix_of(prefix), number)
        cache = self._caches.get(key)
        if cache is not None:
            return succeed(cache)
        waiter: Deferred[Any] = Deferred(lambda cancelled: self._forget_waiter(key, cancelled))
        if self._closed:
            waiter.cancel()
            return waiter
        self._waiters.setdefault(key, []).append(waiter)
        if timeout is not None:
            waiter.addTimeout(timeout, self._clock())
        return waiter

    @contextmanager
    def passthrough(self, cls_filter: type[NumberCache] | None = None, *filters: type[NumberCache],
                    timeout: float = 0.0) -> Iterator[None]:
        """
        Within the ``with`` block, caches added to this store time out after ``timeout`` seconds (by default: on
        the next reactor turn) instead of after their own ``timeout_delay``. Meant for tests that want to see
        timeout handling without waiting.

        :param cls_filter: if given (with any further ``filters``), only caches of these classes (or
                           subclasses) are affected; other caches keep their own delay.
        :param timeout: the delay to use instead, in seconds.
        """
        classes = None if cls_filter is None else (cls_filter, *filters)
        previous, self._timeout_override = self._timeout_override, (timeout, classes)
        try:
            yield
        finally:
            self._timeout_override = previous

    def clear(self) -> list[NumberCache]:
        """
        Remove every stored cache without timing it out (no ``on_timeout``, registered Deferreds untouched).

        :returns: the removed caches.
        """
        removed = list(self._caches.values())
        self._caches.clear()
        for cache in removed:
            self.cancel_pending_task(self._timeout_task_name(cache))
        return removed

    def shutdown(self) -> Deferred[None]:
        """
        Stop this store for good: cancel all timeouts, cancel the registered Deferreds of the caches still stored
        and every :meth:`wait_for` Deferred, and refuse caches added from now on. Other tasks of this
        :class:`~ipv8.taskmanager.TaskManager` are cancelled too.

        :returns: a Deferred that fires with ``None`` when everything has stopped.
        """
        self._closed = True
        remaining = self.clear()
        for cache in remaining:
            cache._cancel_futures()  # noqa: SLF001
        for waiters in list(self._waiters.values()):
            for waiter in list(waiters):
                waiter.cancel()
        self._waiters.clear()
        return self.shutdown_task_manager()

    @staticmethod
    def _timeout_task_name(cache: NumberCache) -> tuple[str, str, int, int]:
        # The object id keeps the name unique even if on_timeout re-adds a cache with the same prefix and number.
        return ("timeout", cache.prefix, cache.number, id(cache))

    def _timeout_for(self, cache: NumberCache) -> float:
        own_delay = cache.timeout_delay
        if isinstance(own_delay, bool) or not isinstance(own_delay, (int, float)):
            msg = f"timeout_delay of {cache} must be a number of seconds, not {type(own_delay).__name__}"
            raise TypeError(msg)
        if not math.isfinite(own_delay) or own_delay < 0:
            msg = f"timeout_delay of {cache} must be a finite number of seconds, zero or more; got {own_delay!r}"
            raise ValueError(msg)
        if self._timeout_override is not None:
            override, classes = self._timeout_override
            if classes is None or isinstance(cache, classes):
                return override
        return float(own_delay)

    def _time_out(self, cache: NumberCache) -> None:
        key = (cache.prefix, cache.number)
        if self._caches.get(key) is cache:
            del self._caches[key]
        try:
            cache.on_timeout()
        except Exception:
            logger.exception("on_timeout of %s failed", cache)
        cache._resolve_futures_on_timeout()  # noqa: SLF001

    def _forget_waiter(self, key: _Key, waiter: Deferred[Any]) -> None:
        waiters = self._waiters.get(key)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[key]

