"""Small containers with a size cap and an age limit, for what the network can make a node remember.

Remote peers decide what goes into these (addresses they introduce, services they announce), so each
container keeps its oldest entries first and drops them when it is full or when they expire: an attacker
can only ever displace its own and other unverified junk, never grow the node's memory.
"""
from __future__ import annotations

import random
from collections import OrderedDict
from typing import Generic, Hashable, Iterator, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class AgedSet(Generic[K]):
    """A set ordered by when each member was (last) added, with O(1) add, remove, oldest and random pick.

    ``random.choice`` over a dict would copy it; the members are also kept in a list (removal swaps the
    last element into the hole), so a walker can pick a target in constant time however large the set.
    """

    __slots__ = ("_added_at", "_items", "_index")

    def __init__(self) -> None:
        """Create an empty set."""
        self._added_at: OrderedDict[K, float] = OrderedDict()
        self._items: list[K] = []
        self._index: dict[K, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._index

    def __iter__(self) -> Iterator[K]:
        return iter(self._added_at)

    def add(self, item: K, now: float) -> None:
        """Add ``item`` (or refresh it: it becomes the newest member)."""
        if item in self._index:
            self._added_at.move_to_end(item)
        else:
            self._index[item] = len(self._items)
            self._items.append(item)
        self._added_at[item] = now

    def discard(self, item: K) -> None:
        """Remove ``item`` if present."""
        position = self._index.pop(item, None)
        if position is None:
            return
        del self._added_at[item]
        last = self._items.pop()
        if position < len(self._items):
            self._items[position] = last
            self._index[last] = position

    def oldest(self) -> tuple[K, float] | None:
        """The member added longest ago and when, or None when empty."""
        if not self._added_at:
            return None
        item = next(iter(self._added_at))
        return item, self._added_at[item]

    def added_at(self, item: K) -> float | None:
        """When ``item`` was last added, or None."""
        return self._added_at.get(item)

    def random(self) -> K | None:
        """A member picked uniformly at random, or None when empty."""
        return random.choice(self._items) if self._items else None


class AgedMap(Generic[K, V]):
    """A mapping with a maximum size and a time to live: least recently *written* entries go first.

    Reads do not refresh an entry; writes do. :meth:`prune` (called by every write) drops expired entries
    from the old end and then the oldest ones while the map is over its cap.

    Every overlay keeps several of these, most of them empty for a long time (or for ever): the storage is
    only created by the first write.
    """

    __slots__ = ("_entries", "max_size", "ttl")

    _EMPTY: OrderedDict = OrderedDict()

    def __init__(self, max_size: int, ttl: float) -> None:
        """Create an empty map holding at most ``max_size`` entries for at most ``ttl`` seconds each."""
        self._entries: OrderedDict[K, tuple[float, V]] = AgedMap._EMPTY  # shared and never written to
        self.max_size = max_size
        self.ttl = ttl

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[K]:
        return iter(self._entries)

    def get(self, key: K, now: float, default: V | None = None) -> V | None:
        """The live value of ``key``, or ``default`` (an expired entry is dropped on the way)."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        if now - entry[0] > self.ttl:
            del self._entries[key]
            return default
        return entry[1]

    def set(self, key: K, value: V, now: float) -> list[tuple[K, V]]:
        """Store ``value`` under ``key`` as the newest entry; returns the entries evicted to make room."""
        if self._entries is AgedMap._EMPTY:
            self._entries = OrderedDict()
        self._entries[key] = (now, value)
        self._entries.move_to_end(key)
        return self.prune(now)

    def pop(self, key: K, default: V | None = None) -> V | None:
        """Remove ``key`` and return its value (expired or not), or ``default``."""
        entry = self._entries.pop(key, None)
        return default if entry is None else entry[1]

    def prune(self, now: float) -> list[tuple[K, V]]:
        """Drop expired entries and, while over the cap, the oldest; returns what was dropped."""
        dropped = []
        entries = self._entries
        while entries:
            key, (written, value) = next(iter(entries.items()))
            if now - written <= self.ttl and len(entries) <= self.max_size:
                break
            del entries[key]
            dropped.append((key, value))
        return dropped


__all__ = ["AgedMap", "AgedSet"]
