"""A remote (or our own) identity: a public key plus what we learned about how to reach it.

A :class:`Peer` is identified by its key alone. Its addresses are mutable facts that change as NATs
rebind or as we learn about other interfaces, so never use an address as the identity of a peer.

Thousands of these objects live in a busy :class:`~ipv8.peerdiscovery.network.Network`, so the class
uses ``__slots__`` and creates its ping history only when somebody uses it.
"""
from __future__ import annotations

import sys
import time
from base64 import b64encode
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Mapping, Tuple

from .keyvault.crypto import default_eccrypto
from .keyvault.exceptions import InvalidKeyError
from .keyvault.keys import Key
from .messaging.addresses import UDPv4Address, UDPv4LANAddress, UDPv6Address

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

#: What ``Peer.address`` reports for a peer of which no address is known.
UNKNOWN_ADDRESS = UDPv4Address("0.0.0.0", 0)

#: The address kinds ``Peer.address`` picks from, best first. Kinds not listed here (a
#: :class:`~ipv8.messaging.addresses.DomainAddress`, custom types) are used only when none of these is known.
ADDRESS_PREFERENCE: Tuple[type, ...] = (UDPv6Address, UDPv4Address, UDPv4LANAddress)

#: How many round-trip measurements a peer remembers.
PING_HISTORY = 5

# Serialized private keys start with one of these; a Peer must never be built from those bytes by accident.
_PRIVATE_KEY_MARKERS = (b"LibNaCLSK:", b"-----BEGIN EC PRIVATE KEY-----")


class _WallClock:
    """What a real reactor's ``seconds()`` reads, for peers made before any reactor is installed."""

    @staticmethod
    def seconds() -> float:
        return time.time()


def default_clock() -> IReactorTime:
    """The installed reactor, or the wall clock it would read if none is installed yet.

    A Peer made without a clock must not install the default reactor as a side effect: an application
    may still want to install another one.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    return reactor if reactor is not None else _WallClock()  # type: ignore[return-value]


def typed_address(address: Any) -> tuple:  # noqa: ANN401 - validated here
    """Return ``address`` as one of the named address tuples.

    A plain ``(host, port)`` tuple becomes a :class:`UDPv6Address` when the host contains a colon and a
    :class:`UDPv4Address` otherwise. Named tuples (any tuple subclass) are returned unchanged.

    :raises TypeError: ``address`` is not a tuple.
    :raises ValueError: ``address`` is a plain tuple that is not ``(str, int)``.
    """
    if type(address) is tuple:
        if len(address) != 2 or not isinstance(address[0], str) or not isinstance(address[1], int):
            raise ValueError(f"an address must be a (host: str, port: int) pair, got {address!r}")
        host, port = address
        return UDPv6Address(host, port) if ":" in host else UDPv4Address(host, port)
    if not isinstance(address, tuple):
        raise TypeError(f"an address must be a tuple such as UDPv4Address, got {type(address).__name__}")
    return address


class PeerAddresses(dict):
    """The addresses of one peer: address class -> the single known address of that class.

    It is an ordinary ``dict`` for readers. Writers (``[]=``, ``update``, ``pop``, ``del``, ...) also
    notify the watchers registered with :meth:`watch`; the :class:`Network` uses this to keep its
    address index right when a peer's address changes outside of it.
    """

    __slots__ = ("_watchers",)

    def __init__(self) -> None:
        """Create an empty address map without watchers."""
        super().__init__()
        self._watchers: list[Callable[[], None]] | None = None

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change of this map."""
        if self._watchers is None:
            self._watchers = []
        self._watchers.append(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        if self._watchers and callback in self._watchers:
            self._watchers.remove(callback)
            if not self._watchers:
                self._watchers = None

    def _changed(self) -> None:
        if self._watchers:
            for callback in tuple(self._watchers):
                callback()

    def __setitem__(self, kind: Any, address: Any) -> None:  # noqa: ANN401
        # Re-filing the same address is the common case (every packet from a known peer): stay quiet then.
        unchanged = dict.get(self, kind) == address
        dict.__setitem__(self, kind, address)
        if not unchanged:
            self._changed()

    def __delitem__(self, kind: Any) -> None:  # noqa: ANN401
        dict.__delitem__(self, kind)
        self._changed()

    def __ior__(self, other: Any) -> PeerAddresses:  # noqa: ANN401
        self.update(other)
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Merge other addresses in, like ``dict.update``."""
        dict.update(self, *args, **kwargs)
        self._changed()

    def pop(self, *args: Any) -> Any:  # noqa: ANN401
        """Remove and return an address, like ``dict.pop``."""
        had = args[0] in self
        value = dict.pop(self, *args)
        if had:
            self._changed()
        return value

    def popitem(self) -> tuple:
        """Remove and return the newest (class, address) pair, like ``dict.popitem``."""
        item = dict.popitem(self)
        self._changed()
        return item

    def setdefault(self, kind: Any, address: Any = None) -> Any:  # noqa: ANN401
        """Like ``dict.setdefault``."""
        if kind in self:
            return dict.__getitem__(self, kind)
        self[kind] = address
        return address

    def clear(self) -> None:
        """Forget every address."""
        had = bool(self)
        dict.clear(self)
        if had:
            self._changed()

    def __reduce__(self) -> tuple:
        # Watchers are process-local callbacks; a copy starts unwatched.
        return (_rebuild_addresses, (dict(self),))


def _rebuild_addresses(content: Mapping) -> PeerAddresses:
    rebuilt = PeerAddresses()
    dict.update(rebuilt, content)
    return rebuilt


class Peer:
    """A public key with the addresses, clock and round-trip times we know for it.

    :param key: a public :class:`~ipv8.keyvault.keys.Key`, the binary form of one, or a private key
        (only for our own ``my_peer``).
    :param address: the first known address; a plain ``(host, port)`` tuple is filed as
        :class:`UDPv4Address` or :class:`UDPv6Address` (see :func:`typed_address`).
    :param intro: True when someone else told us about this peer, False when it contacted us itself.
        Only in the latter case does ``last_response`` start at the current time; otherwise it is 0,
        meaning "never heard from".
    :param clock: the clock for ``creation_time`` and ``last_response``; by default the installed reactor
        (communities pass their own, so that everything runs on a :class:`twisted.internet.task.Clock` in tests).
    :raises ~ipv8.keyvault.exceptions.InvalidKeyError: ``key`` is bytes that are not a loadable public
        key (private key bytes included). It is a ``ValueError``.
    :raises TypeError: ``key`` is neither a Key nor bytes, or ``address`` is not a tuple.
    :raises ValueError: ``address`` is a plain tuple that is not ``(str, int)``.

    Two peers are equal when they have the same public key; the hash is derived from ``mid``.
    """

    __slots__ = ("key", "public_key", "mid", "_addresses", "creation_time", "last_response", "clock",
                 "_lamport_timestamp", "_pings", "new_style_intro", "address_frozen", "intro", "__weakref__")

    def __init__(self, key: Key | bytes, address: tuple | None = None, intro: bool = True, *,
                 clock: IReactorTime | None = None) -> None:
        """Create a peer for ``key``, optionally with a first address (see the class documentation)."""
        if isinstance(key, (bytes, bytearray, memoryview)):
            key = bytes(key)
            if key.startswith(_PRIVATE_KEY_MARKERS):
                raise InvalidKeyError("refusing to build a Peer from private key bytes; "
                                      "pass a private Key object if this is really your own peer")
            key = default_eccrypto.key_from_public_bin(key)
        elif not isinstance(key, Key):
            raise TypeError(f"a Peer needs a Key or public key bytes, got {type(key).__name__}")
        self.key: Key = key
        self.public_key: Key = key.pub()
        self.mid: bytes = self.public_key.key_to_hash()
        self._addresses = PeerAddresses()
        self.address_frozen: bool = False
        """While True, :meth:`add_address` (and the ``address`` setter) leave the addresses alone."""
        if address is not None:
            self.add_address(address)
        self.clock: IReactorTime = clock if clock is not None else default_clock()
        """Where ``creation_time`` and ``last_response`` are read from: the overlay's clock for peers it makes."""
        self.creation_time: float = self.clock.seconds()
        self.last_response: float = 0 if intro else self.creation_time
        self._lamport_timestamp = 0
        self._pings: deque | None = None
        self.new_style_intro: bool = False
        """True once the peer showed it speaks the new-style (IPv6-capable) introduction messages."""
        self.intro: bool = intro

    # --- addresses -------------------------------------------------------------------------------

    @property
    def addresses(self) -> PeerAddresses:
        """All known addresses, one per address class (``{UDPv4Address: UDPv4Address(...), ...}``).

        The map itself may be edited (``update``, item assignment); ``address`` follows such edits.
        """
        return self._addresses

    @property
    def address(self) -> tuple:
        """The address to use when sending to this peer.

        The first known kind in :data:`ADDRESS_PREFERENCE` (IPv6, then IPv4, then IPv4-LAN) wins, then
        any other known address; ``UDPv4Address("0.0.0.0", 0)`` when nothing is known.
        Assigning to it is the same as :meth:`add_address`.
        """
        known = self._addresses
        if known:
            for kind in ADDRESS_PREFERENCE:
                found = known.get(kind)
                if found is not None:
                    return found
            for found in known.values():
                return found
        return UNKNOWN_ADDRESS

    @address.setter
    def address(self, value: tuple) -> None:
        self.add_address(value)

    def add_address(self, value: tuple) -> None:
        """Record ``value`` as this peer's address of its kind, replacing the previous one of that kind.

        Does nothing while ``address_frozen`` is set.

        :raises TypeError: ``value`` is not a tuple.
        :raises ValueError: ``value`` is a plain tuple that is not ``(str, int)``.
        """
        if self.address_frozen:
            return
        value = typed_address(value)
        self._addresses[type(value)] = value

    # --- clocks and round trips ------------------------------------------------------------------

    @property
    def lamport_timestamp(self) -> int:
        """The highest Lamport timestamp seen from (or, for ``my_peer``, claimed by) this peer."""
        return self._lamport_timestamp

    def get_lamport_timestamp(self) -> int:
        """Return :attr:`lamport_timestamp`."""
        return self._lamport_timestamp

    def update_clock(self, timestamp: int) -> None:
        """Move the Lamport clock to ``timestamp`` if that is later, and note that the peer was just heard from.

        The clock never goes back; ``last_response`` is set to the current time either way.
        """
        if timestamp > self._lamport_timestamp:
            self._lamport_timestamp = timestamp
        self.last_response = self.clock.seconds()

    @property
    def pings(self) -> deque:
        """The last few round-trip times in seconds (a ``deque`` with ``maxlen`` :data:`PING_HISTORY`)."""
        if self._pings is None:
            self._pings = deque(maxlen=PING_HISTORY)
        return self._pings

    def get_median_ping(self) -> float | None:
        """The median of the remembered round-trip times, or None before the first measurement."""
        if not self._pings:
            return None
        ordered = sorted(self._pings)
        middle, odd = divmod(len(ordered), 2)
        return ordered[middle] if odd else (ordered[middle - 1] + ordered[middle]) / 2

    def get_average_ping(self) -> float | None:
        """The mean of the remembered round-trip times, or None before the first measurement."""
        if not self._pings:
            return None
        return sum(self._pings) / len(self._pings)

    # --- identity --------------------------------------------------------------------------------

    def __hash__(self) -> int:
        return hash(self.mid)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Peer):
            return self.mid == other.mid
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, Peer):
            return self.mid != other.mid
        return NotImplemented

    def __str__(self) -> str:
        host, port = self.address[0], self.address[1]
        return f"Peer<{host}:{port}, {b64encode(self.mid).decode()}>"

    def __repr__(self) -> str:
        return str(self)


__all__ = ["ADDRESS_PREFERENCE", "PING_HISTORY", "UNKNOWN_ADDRESS", "Peer", "PeerAddresses", "typed_address"]
