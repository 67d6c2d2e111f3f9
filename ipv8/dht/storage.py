"""The values a DHT node keeps for others: checked, versioned, expiring and bounded.

:meth:`Storage.put` takes a key (20 bytes) and an *encoded* value (see :mod:`ipv8.dht.payload`) and
either keeps it or refuses it, saying why (:class:`StoreOutcome`, also counted in :attr:`Storage.refusals`):

* a value longer than :data:`~ipv8.dht.payload.MAX_ENTRY_SIZE` (170) bytes, a malformed one, or a signed
  one whose signature does not verify, is refused;
* a signed value replaces the same signer's earlier value under that key when its version is the same or
  newer; an older version (a stale or replayed value) is refused, also for a while after the newer one
  expired (:attr:`Storage.TOMBSTONE_TIME`);
* plain values are told apart by content; storing the same one again just refreshes it.

Every value expires ``max_age`` seconds after it was last stored (default :data:`MAX_ENTRY_AGE`, one hour
as in pyipv8 3.2.1); expired values are never returned and :meth:`Storage.clean` drops them. Memory is
bounded by :attr:`Storage.MAX_VALUES_PER_KEY` and :attr:`Storage.MAX_VALUES`: when a limit is reached the
expired values go first, then the ones stored longest ago.

Times come from the injected ``clock`` (:class:`twisted.internet.task.Clock` in tests).
"""
from __future__ import annotations

import enum
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Iterator

from ..peer import default_clock
from .payload import MAX_ENTRY_SIZE, InvalidValueError, decode_value, value_id
from .routing import NODE_ID_SIZE

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

#: How long a stored value lives without being stored again, in seconds (pyipv8 3.2.1: one hour).
MAX_ENTRY_AGE = 3600


class StoreOutcome(enum.Enum):
    """What :meth:`Storage.put` did. The value is the name used in :attr:`Storage.refusals`."""

    #: A new value is stored.
    STORED = "stored"
    #: The value replaced (or refreshed) the one with the same id: same signer, or same plain bytes.
    UPDATED = "updated"
    #: Refused: the key is not 20 bytes.
    BAD_KEY = "bad-key"
    #: Refused: longer than :data:`~ipv8.dht.payload.MAX_ENTRY_SIZE`.
    OVERSIZED = "oversized"
    #: Refused: not a well-formed value (empty, unknown type, truncated, unloadable signer key).
    MALFORMED = "malformed"
    #: Refused: the signature does not verify.
    BAD_SIGNATURE = "bad-signature"
    #: Refused: the signer already has a newer version under this key.
    STALE_VERSION = "stale-version"

    @property
    def accepted(self) -> bool:
        """Whether the value is stored now."""
        return self in (StoreOutcome.STORED, StoreOutcome.UPDATED)


class Value:
    """One stored value.

    Constructor arguments: ``id_`` (stored as :attr:`id`) is what identifies the value under its key (see
    :func:`~ipv8.dht.payload.value_id`); ``data`` is the encoded value as it travels on the wire;
    ``max_age`` the seconds it lives after :attr:`last_update`; ``version`` the signer's version (0 for plain
    values); ``clock`` where the time is read; ``public_key`` the signer's public key in binary form (None
    for plain values).
    """

    __slots__ = ("clock", "data", "id", "last_update", "max_age", "public_key", "version")

    def __init__(self, id_: bytes, data: bytes, max_age: float, version: int,  # noqa: PLR0913
                 clock: IReactorTime | None = None, public_key: bytes | None = None) -> None:
        """Create a value stored now; see the class documentation."""
        self.id = id_
        self.data = data
        self.max_age = max_age
        self.version = version
        self.public_key = public_key
        self.clock: IReactorTime = clock if clock is not None else default_clock()
        self.last_update: float = self.clock.seconds()

    @property
    def age(self) -> float:
        """Seconds since it was last stored."""
        return self.clock.seconds() - self.last_update

    @property
    def expired(self) -> bool:
        """Whether it has outlived its ``max_age``."""
        return self.age > self.max_age

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Value):
            return NotImplemented
        return self.id == other.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"Value(id={self.id.hex()}, version={self.version}, {len(self.data)} bytes, age={self.age:g})"


class Storage:
    """Values stored under keys; see the module documentation.

    :param clock: where all times are read (by default the installed reactor).
    """

    #: At most this many values under one key (one per signer, plus plain ones).
    MAX_VALUES_PER_KEY = 64
    #: At most this many values in all (at 170 bytes each, well under 2 MB of payload).
    MAX_VALUES = 8192
    #: After a signed value leaves the store, older versions of it stay refused for this many seconds.
    TOMBSTONE_TIME = MAX_ENTRY_AGE
    #: At most this many remembered versions of values that left the store.
    MAX_TOMBSTONES = 8192
    #: A full store looks for expired values to drop at most this often (seconds); in between, the value
    #: stored longest ago makes room. Looking costs a pass over every value, too much for every store-request.
    FULL_CLEAN_INTERVAL = 60.0

    def __init__(self, clock: IReactorTime | None = None) -> None:
        """Create an empty store; see the class documentation."""
        self.clock: IReactorTime = clock if clock is not None else default_clock()
        # key -> (value id -> Value), most recently stored last.
        self._values: dict[bytes, OrderedDict[bytes, Value]] = {}
        # (key, value id) for every value, most recently stored last: the global eviction order.
        self._order: OrderedDict[tuple[bytes, bytes], None] = OrderedDict()
        # (key, signer id) -> (highest version seen, until when it is remembered), oldest first.
        self._tombstones: OrderedDict[tuple[bytes, bytes], tuple[int, float]] = OrderedDict()
        #: Refused values per :class:`StoreOutcome` value.
        self.refusals: Counter[str] = Counter()
        #: Values pushed out by the caps (not expiry), per cap: ``"per-key"``, ``"total"``.
        self.evictions: Counter[str] = Counter()
        # When a full store may next look for expired values (see FULL_CLEAN_INTERVAL).
        self._next_full_clean: float = float("-inf")

    # -- reading ---------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        """The number of values held (expired ones not yet cleaned included)."""
        return len(self._order)

    def keys(self) -> list[bytes]:
        """The keys that have at least one live value."""
        return [key for key, values in self._values.items() if any(not v.expired for v in values.values())]

    def values_of(self, key: bytes) -> list[Value]:
        """The live values under ``key``, most recently stored first."""
        values = self._values.get(key)
        if not values:
            return []
        return [value for value in reversed(values.values()) if not value.expired]

    @property
    def items(self) -> dict[bytes, list[Value]]:
        """Every key with its live values (most recently stored first), as a new dict."""
        return {key: live for key in list(self._values) if (live := self.values_of(key))}

    def get(self, key: bytes, starting_point: int = 0, limit: int | None = None) -> list[bytes]:
        """The encoded live values under ``key``, most recently stored first.

        :param starting_point: skip this many (the ``offset`` of a find-request).
        :param limit: return at most this many (None: all).
        """
        live = self.values_of(key)
        end = None if limit is None else starting_point + max(0, limit)
        return [value.data for value in live[starting_point:end]]

    def items_older_than(self, min_age: float) -> list[tuple[bytes, bytes]]:
        """``(key, encoded value)`` of every live value last stored more than ``min_age`` seconds ago.

        Re-publishing sends these again before they expire.
        """
        return [(key, value.data) for key, values in self._values.items() for value in values.values()
                if value.age > min_age and not value.expired]

    def __iter__(self) -> Iterator[tuple[bytes, Value]]:
        """``(key, Value)`` for every live value."""
        for key, values in list(self._values.items()):
            for value in list(values.values()):
                if not value.expired:
                    yield key, value

    # -- writing ---------------------------------------------------------------------------------------------
    def _refuse(self, outcome: StoreOutcome) -> StoreOutcome:
        self.refusals[outcome.value] += 1
        return outcome

    def put(self, key: bytes, value: bytes, max_age: float = MAX_ENTRY_AGE) -> StoreOutcome:
        """Check ``value`` (an encoded value) and keep it under ``key`` for ``max_age`` seconds.

        :return: what happened (see :class:`StoreOutcome`); refusals are also counted.
        """
        if not isinstance(key, bytes) or len(key) != NODE_ID_SIZE:
            return self._refuse(StoreOutcome.BAD_KEY)
        value = bytes(value)
        if len(value) > MAX_ENTRY_SIZE:
            return self._refuse(StoreOutcome.OVERSIZED)
        try:
            decoded = decode_value(value)
        except InvalidValueError as exc:
            return self._refuse(StoreOutcome.BAD_SIGNATURE if exc.reason == "bad-signature"
                                else StoreOutcome.MALFORMED)
        id_ = value_id(value, decoded)
        now = self.clock.seconds()
        values = self._values.get(key)
        current = values.get(id_) if values else None
        if current is not None and current.expired:
            self._drop(key, id_)
            current = None
        if decoded.signed:
            known = current.version if current is not None else self._tombstone_version(key, id_, now)
            if known is not None and decoded.version < known:
                return self._refuse(StoreOutcome.STALE_VERSION)
        if current is not None:
            # Same signer (same or newer version) or the very same plain value: replace and refresh.
            current.data, current.version, current.max_age = value, decoded.version, max_age
            current.last_update = now
            values.move_to_end(id_)  # type: ignore[union-attr]
            self._order.move_to_end((key, id_))
            return StoreOutcome.UPDATED
        self._make_room(key)
        values = self._values.setdefault(key, OrderedDict())
        values[id_] = Value(id_, value, max_age, decoded.version, self.clock, decoded.public_key)
        self._order[(key, id_)] = None
        return StoreOutcome.STORED

    def _make_room(self, key: bytes) -> None:
        values = self._values.get(key)
        if values is not None and len(values) >= self.MAX_VALUES_PER_KEY:
            for id_ in [id_ for id_, value in values.items() if value.expired]:
                self._drop(key, id_)
            while len(values) >= self.MAX_VALUES_PER_KEY:
                self._drop(key, next(iter(values)))
                self.evictions["per-key"] += 1
        if len(self._order) >= self.MAX_VALUES:
            now = self.clock.seconds()
            if now >= self._next_full_clean:
                self._next_full_clean = now + self.FULL_CLEAN_INTERVAL
                self.clean()
            while len(self._order) >= self.MAX_VALUES:
                old_key, old_id = next(iter(self._order))
                self._drop(old_key, old_id)
                self.evictions["total"] += 1

    def _drop(self, key: bytes, id_: bytes) -> None:
        values = self._values[key]
        value = values.pop(id_)
        self._order.pop((key, id_), None)
        if not values:
            del self._values[key]
        if value.public_key is not None:
            # Remember the version that left, so that a replay of an older one is still refused.
            self._tombstones.pop((key, id_), None)
            self._tombstones[(key, id_)] = (value.version, self.clock.seconds() + self.TOMBSTONE_TIME)
            while len(self._tombstones) > self.MAX_TOMBSTONES:
                self._tombstones.popitem(last=False)

    def _tombstone_version(self, key: bytes, id_: bytes, now: float) -> int | None:
        found = self._tombstones.get((key, id_))
        if found is None:
            return None
        version, until = found
        if until < now:
            del self._tombstones[(key, id_)]
            return None
        return version

    def remove(self, key: bytes, id_: bytes | None = None) -> int:
        """Drop the value ``id_`` under ``key`` (all of the key's values when ``id_`` is None); return how many."""
        values = self._values.get(key)
        if not values:
            return 0
        ids = list(values) if id_ is None else [id_] if id_ in values else []
        for each in ids:
            self._drop(key, each)
        return len(ids)

    def clean(self) -> int:
        """Drop every expired value (and forgotten tombstones); return how many values were dropped."""
        expired = [(key, id_) for key, values in self._values.items() for id_, value in values.items()
                   if value.expired]
        for key, id_ in expired:
            self._drop(key, id_)
        now = self.clock.seconds()
        for stone in [stone for stone, (_, until) in self._tombstones.items() if until < now]:
            del self._tombstones[stone]
        return len(expired)


__all__ = ["MAX_ENTRY_AGE", "Storage", "StoreOutcome", "Value"]
