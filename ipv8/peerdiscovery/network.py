"""The peer graph that all overlays of one IPv8 instance share.

Vocabulary used below:

* a **known address** is any address we have heard of. Each carries a :class:`WalkableAddress` record
  saying which peer introduced it (by public key), for which service, and whether it speaks new-style
  introductions;
* a **verified peer** is a :class:`~ipv8.peer.Peer` that proved its key to us (it answered or contacted us);
* the **walkable addresses** are the known addresses that no verified peer currently uses: the places a
  walker may go to next.

Everything is indexed so that the per-packet and per-walk-step queries cost O(1) or O(result):
verified peers by public key and by address, addresses by introducer, verified peers by service, and
the walkable set itself. A verified peer's address map is watched, so an address the peer gains or
loses later (``peer.add_address(...)`` on every packet) keeps the indexes right.
"""
from __future__ import annotations

import abc
import logging
import random
from threading import RLock
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, NamedTuple, Optional, Set

from zope.interface import Interface, implementer

from ..bounded import AgedMap, AgedSet
from ..messaging.address_hygiene import is_usable
from ..messaging.addresses import DomainAddress
from ..peer import UNKNOWN_ADDRESS, Peer, typed_address
from ..util import get_reactor
from .peer_origin import INTRODUCED, SNAPSHOT, PeerOrigins
from .snapshot import decode_addresses, encode_address

if TYPE_CHECKING:
    from ..overlay import IOverlay
    from twisted.internet.interfaces import IReactorTime

    from ..types import Address

logger = logging.getLogger(__name__)

#: A service identifier: the 20-byte community id of an overlay.
Service = bytes
#: The binary form of a public key (``key.key_to_bin()``).
PublicKeyBin = bytes

class WalkableAddress(NamedTuple):
    """What we know about how a known address reached us."""

    #: Public key (binary) of the peer that introduced the address; ``b""`` when nobody (or nobody still
    #: verified) did.
    introduced_by: PublicKeyBin
    #: The service the introduction was made for, if the introducer said so.
    services: Optional[Service]
    #: The address is known to speak the new-style introduction messages.
    new_style: bool


_NOBODYS = WalkableAddress(b"", None, False)


class IPeerObserver(Interface):
    """Something that wants to hear when a :class:`Network` gains or loses a verified peer."""

    def on_peer_added(peer: Peer) -> None:
        """``peer`` just became a verified peer."""

    def on_peer_removed(peer: Peer) -> None:
        """``peer`` is no longer a verified peer."""


@implementer(IPeerObserver)
class PeerObserver(abc.ABC):
    """Base class for :class:`IPeerObserver` implementations (mix it into a Community, for instance).

    Subclasses must implement both callbacks.
    """

    @abc.abstractmethod
    def on_peer_added(self, peer: Peer) -> None:
        """``peer`` just became a verified peer."""

    @abc.abstractmethod
    def on_peer_removed(self, peer: Peer) -> None:
        """``peer`` is no longer a verified peer."""


class _AddressWatch:
    """Ties one verified peer's address map to the network's address index."""

    __slots__ = ("network", "peer", "indexed")

    def __init__(self, network: Network, peer: Peer) -> None:
        self.network = network
        self.peer = peer
        self.indexed: tuple = ()

    def __call__(self) -> None:
        self.network._reindex(self)


class Network:
    """Verified peers, the addresses we may walk to, who introduced whom, and which peer offers which service.

    All public methods are safe to call from several threads (they hold :attr:`graph_lock`) and never
    leave the graph half-updated: unknown peers or addresses are simply ignored.

    The attributes below may be read freely but must not be modified directly, except for
    :attr:`blacklist` and :attr:`blacklist_mids` (append to those).

    Everything remote peers can make the graph remember is bounded (see "What a node remembers and for how
    long" in the documentation): the class attributes below are the caps and lifetimes; set them on an
    instance to change them for that network only.

    :param clock: where expiry times are read from; the global reactor by default (a
        :class:`twisted.internet.task.Clock` in tests).
    """

    #: Walkable addresses kept per service (per overlay); the oldest is forgotten to make room.
    max_known_addresses_per_service: int = 500
    #: Addresses one introducer may have in the graph; its oldest introduction is forgotten to make room.
    max_introductions_per_introducer: int = 20
    #: Seconds a walkable address is kept when nobody re-introduces it and nobody verifies it.
    unverified_address_ttl: float = 300.0
    #: Services recorded per verified peer; further services it announces are ignored.
    max_services_per_peer: int = 64
    #: Services recorded per key that is *not* a verified peer (more are recorded once it is verified).
    max_services_per_unverified_peer: int = 16
    #: Keys that are *not* verified peers whose services are remembered (least recently heard of go first).
    max_unverified_service_records: int = 500
    #: Seconds the services of a peer that does not get verified are remembered.
    unverified_services_ttl: float = 60.0

    def __init__(self, clock: IReactorTime | None = None) -> None:
        """Create an empty peer graph."""
        self._clock = clock
        self.graph_lock = RLock()
        """Held by every method that reads or changes the graph."""

        self.blacklist: List[Address] = []
        """Addresses never to treat as peers (bootstrap servers, for example)."""
        self.blacklist_mids: List[bytes] = []
        """Mids never to accept as verified peers (our own, for example)."""

        self.verified_peers: Set[Peer] = set()
        """Every verified peer."""
        self.verified_by_public_key_bin: Dict[PublicKeyBin, Peer] = {}
        """Verified peers by the binary form of their public key."""
        self.services_per_peer: Dict[PublicKeyBin, Set[Service]] = {}
        """The services each peer (by public key, verified or not) told us it runs."""
        self.service_overlays: Dict[Service, Any] = {}
        """Our own overlays, by the service they provide."""
        self.peer_observers: Set[Any] = set()
        """Registered :class:`IPeerObserver` objects."""

        self.reverse_ip_lookup: Dict[Address, List[Peer]] = {}
        """Address -> the verified peers currently using it (usually one; the newest is last)."""
        self.reverse_intro_lookup: Dict[PublicKeyBin, Dict[Address, None]] = {}
        """Introducer's public key -> the known addresses it introduced (an insertion-ordered set)."""
        self.reverse_service_lookup: Dict[Service, Dict[Peer, None]] = {}
        """Service -> the verified peers that run it (an insertion-ordered set)."""

        self._known: Dict[Address, WalkableAddress] = {}
        self._walkable: Dict[Address, None] = {}
        self._walkable_by_service: Dict[Optional[Service], AgedSet] = {}
        self._watches: Dict[PublicKeyBin, _AddressWatch] = {}
        self._unverified_services: AgedMap = AgedMap(self.max_unverified_service_records,
                                                     self.unverified_services_ttl)
        self.origins = PeerOrigins(self)
        """How each verified peer came to us (bootstrap, introduced, walked to, contacted us; NAT-punched)."""

    def now(self) -> float:
        """The current time on the network's clock."""
        return (self._clock if self._clock is not None else get_reactor()).seconds()

    @property
    def clock(self) -> IReactorTime:
        """The clock expiry times are read from."""
        return self._clock if self._clock is not None else get_reactor()

    @clock.setter
    def clock(self, clock: IReactorTime) -> None:
        self._clock = clock

    # --- bookkeeping of the indexes --------------------------------------------------------------------

    def _make_walkable(self, address: tuple) -> None:
        """Offer a known address to the walkers (in its service's bucket, which has a cap)."""
        service = self._known[address].services
        if address in self._walkable:
            self._walkable_by_service[service].add(address, self.now())
            return
        bucket = self._walkable_by_service.get(service)
        if bucket is None:
            bucket = self._walkable_by_service[service] = AgedSet()
        self._walkable[address] = None
        bucket.add(address, self.now())
        while len(bucket) > self.max_known_addresses_per_service:
            oldest = bucket.oldest()
            self._forget_address(oldest[0])  # type: ignore[index]

    def _unwalkable(self, address: tuple) -> None:
        """Stop offering ``address`` to the walkers (it stays known)."""
        if self._walkable.pop(address, 1) is None:
            service = self._known[address].services
            bucket = self._walkable_by_service[service]
            bucket.discard(address)
            if not bucket:
                del self._walkable_by_service[service]

    def expire(self) -> int:
        """Forget walkable addresses and unverified service records past their lifetime; returns how many.

        Called by every discovery method and by :meth:`random_walkable`, so a node that keeps walking
        keeps its graph trim without a timer of its own.
        """
        with self.graph_lock:
            now = self.now()
            limit = now - self.unverified_address_ttl
            expired = 0
            for bucket in tuple(self._walkable_by_service.values()):
                while True:
                    oldest = bucket.oldest()
                    if oldest is None or oldest[1] >= limit:
                        break
                    self._forget_address(oldest[0])
                    expired += 1
            self._sync_service_caps()
            self.origins.prune(now)
            for key_bin, _ in self._unverified_services.prune(now):
                if key_bin not in self.verified_by_public_key_bin:
                    self.services_per_peer.pop(key_bin, None)
                    expired += 1
            return expired

    def _sync_service_caps(self) -> None:
        # The caps are plain attributes that may be set on an instance at any time.
        self._unverified_services.max_size = self.max_unverified_service_records
        self._unverified_services.ttl = self.unverified_services_ttl

    def _record_address(self, address: tuple, record: WalkableAddress) -> None:
        """Create or overwrite the introduction record of a known address."""
        previous = self._known.get(address)
        if previous is not None:
            if previous.introduced_by:
                introduced = self.reverse_intro_lookup.get(previous.introduced_by)
                if introduced is not None:
                    introduced.pop(address, None)
                    if not introduced:
                        del self.reverse_intro_lookup[previous.introduced_by]
            self._unwalkable(address)
        self._known[address] = record
        if address not in self.reverse_ip_lookup:
            self._make_walkable(address)
        if record.introduced_by and address in self._known:
            introduced = self.reverse_intro_lookup.setdefault(record.introduced_by, {})
            introduced[address] = None
            while len(introduced) > self.max_introductions_per_introducer:
                self._forget_address(next(iter(introduced)))

    def _forget_address(self, address: tuple) -> None:
        """Drop a known address, its introduction record and its walkability."""
        self.origins.forget(address)
        if address not in self._known:
            return
        self._unwalkable(address)
        record = self._known.pop(address)
        if record.introduced_by:
            introduced = self.reverse_intro_lookup.get(record.introduced_by)
            if introduced is not None:
                introduced.pop(address, None)
                if not introduced:
                    del self.reverse_intro_lookup[record.introduced_by]

    def _claim(self, peer: Peer, address: tuple) -> None:
        """``peer`` (verified) now uses ``address``, so nobody needs to walk there."""
        users = self.reverse_ip_lookup.get(address)
        if users is None:
            self.reverse_ip_lookup[address] = [peer]
            if address in self._known:
                self._unwalkable(address)
        elif peer not in users:
            users.append(peer)

    def _release(self, peer: Peer, address: tuple) -> None:
        """``peer`` no longer uses ``address``; it becomes walkable again if nobody else does."""
        users = self.reverse_ip_lookup.get(address)
        if users is None:
            return
        if peer in users:
            users.remove(peer)
        if not users:
            del self.reverse_ip_lookup[address]
            if address in self._known:
                self._make_walkable(address)

    def _reindex(self, watch: _AddressWatch) -> None:
        """A verified peer's address map changed: bring the address index in line with it."""
        with self.graph_lock:
            if self._watches.get(watch.peer.public_key.key_to_bin()) is not watch:
                return  # The peer was removed meanwhile.
            current = tuple(dict.fromkeys(watch.peer.addresses.values()))
            for address in watch.indexed:
                if address not in current:
                    self._release(watch.peer, address)
            for address in current:
                if address not in watch.indexed:
                    self._claim(watch.peer, address)
            watch.indexed = current

    def _notify(self, callback_name: str, peer: Peer) -> None:
        for observer in tuple(self.peer_observers):
            try:
                getattr(observer, callback_name)(peer)
            except Exception:
                # One faulty observer must neither break the graph update nor starve the others.
                logger.exception("Peer observer %r failed in %s", observer, callback_name)

    def _admit(self, peer: Peer, key_bin: PublicKeyBin) -> None:
        """Make ``peer`` a verified peer (it is not one yet)."""
        self.verified_peers.add(peer)
        self.verified_by_public_key_bin[key_bin] = peer
        self._unverified_services.pop(key_bin)
        watch = _AddressWatch(self, peer)
        self._watches[key_bin] = watch
        peer.addresses.watch(watch)
        self._reindex(watch)
        for service in self.services_per_peer.get(key_bin, ()):
            self.reverse_service_lookup.setdefault(service, {})[peer] = None
        self.origins.admitted(peer, key_bin)
        self._notify("on_peer_added", peer)

    def _expel(self, peer: Peer, key_bin: PublicKeyBin) -> None:
        """Undo :meth:`_admit` for the stored instance ``peer``, and forget its services and introductions."""
        self.verified_peers.discard(peer)
        del self.verified_by_public_key_bin[key_bin]
        watch = self._watches.pop(key_bin)
        peer.addresses.unwatch(watch)
        for address in watch.indexed:
            self._release(peer, address)
        watch.indexed = ()
        self.origins.expelled(key_bin)
        for service in self.services_per_peer.pop(key_bin, ()):
            providers = self.reverse_service_lookup.get(service)
            if providers is not None:
                providers.pop(peer, None)
                if not providers:
                    del self.reverse_service_lookup[service]
        # Its introductions stay walkable (with the service they were made for), but no longer count as
        # its own: any verified peer may now claim them.
        for address in self.reverse_intro_lookup.pop(key_bin, ()):
            if address in self._known:
                self._known[address] = self._known[address]._replace(introduced_by=b"")
        self._notify("on_peer_removed", peer)

    # --- discovery ---------------------------------------------------------------------------------------

    def is_new_style(self, address: Address) -> bool:
        """Whether ``address`` is known and known to speak the new-style introduction messages."""
        record = self._known.get(address)
        return record is not None and record.new_style

    def discover_address(self, peer: Peer, address: Address, service: Service | None = None,
                         new_style: bool = False, via: str = "") -> None:
        """``peer`` introduced ``address`` to us (for ``service``, if given); ``peer`` itself is verified.

        The introduction is recorded unless the address is blacklisted or was already introduced by a
        peer that is still verified. A plain ``(host, port)`` tuple is stored as the matching named type.
        ``via`` says how ``peer`` introduced it (for :attr:`origins`, see :mod:`.peer_origin`).

        :raises TypeError: ``peer`` is not a :class:`Peer`, or ``address`` is not a tuple.
        :raises ValueError: ``address`` is a plain tuple that is not ``(str, int)``.
        """
        if not isinstance(peer, Peer):
            raise TypeError(f"expected a Peer, got {type(peer).__name__}")
        address = typed_address(address)
        with self.graph_lock:
            self.expire()
            if address not in self.blacklist and is_usable(address):
                record = self._known.get(address)
                if record is None or record.introduced_by not in self.verified_by_public_key_bin:
                    self._record_address(address,
                                         WalkableAddress(peer.public_key.key_to_bin(), service, bool(new_style)))
                    if address in self._known:  # the record lives no longer than the address it is about
                        self.origins.note(address, INTRODUCED, peer, via)
                elif address in self._walkable:
                    # Introduced again: it lives on (its introduction record stays the first one).
                    self._walkable_by_service[record.services].add(address, self.now())
                    self.origins.note(address, INTRODUCED, peer, via)  # and so does its origin record
            self.add_verified_peer(peer)

    def discover_services(self, peer: Peer, services: Iterable[Service]) -> None:
        """``peer`` (verified or not) runs ``services``; they are added to what we knew.

        :raises TypeError: ``peer`` is not a :class:`Peer`.
        """
        if not isinstance(peer, Peer):
            raise TypeError(f"expected a Peer, got {type(peer).__name__}")
        key_bin = peer.public_key.key_to_bin()
        with self.graph_lock:
            verified = self.verified_by_public_key_bin.get(key_bin)
            known = self.services_per_peer.setdefault(key_bin, set())
            # A key anyone may have made up a moment ago gets less room than a verified peer.
            limit = self.max_services_per_peer if verified is not None \
                else min(self.max_services_per_peer, self.max_services_per_unverified_peer)
            room = limit - len(known)
            added = []
            for service in services:
                if service not in known:
                    if room <= 0:
                        break  # A peer that announces more services than anyone runs gets no more memory.
                    known.add(service)
                    added.append(service)
                    room -= 1
            if verified is not None:
                for service in added:
                    self.reverse_service_lookup.setdefault(service, {})[verified] = None
            else:
                # Anyone can announce services for a key it just made up: remember few of those, briefly.
                self._sync_service_caps()
                for evicted, _ in self._unverified_services.set(key_bin, None, self.now()):
                    if evicted not in self.verified_by_public_key_bin:
                        self.services_per_peer.pop(evicted, None)

    def add_verified_peer(self, peer: Peer) -> None:
        """``peer`` proved its key to us.

        If a peer with this key is already verified, that (stored) instance just learns ``peer``'s
        addresses. Otherwise ``peer`` is added, unless its mid is blacklisted or it has an unknown,
        blacklisted address; its new addresses become known (not walkable, as it uses them).
        Observers hear about each newly verified peer once.

        :raises TypeError: ``peer`` is not a :class:`Peer`.
        """
        if not isinstance(peer, Peer):
            raise TypeError(f"expected a Peer, got {type(peer).__name__}")
        if peer.mid in self.blacklist_mids:
            return
        key_bin = peer.public_key.key_to_bin()
        with self.graph_lock:
            stored = self.verified_by_public_key_bin.get(key_bin)
            if stored is not None:
                if stored is not peer and not stored.address_frozen:
                    stored.addresses.update(peer.addresses)
                return
            addresses = tuple(peer.addresses.values())
            record = not any(address in self._known for address in addresses)
            if record and any(address in self.blacklist for address in addresses):
                return
            # Admitted first, so that its addresses are claimed before they are recorded: recording them
            # unclaimed would offer them to the walkers, and could push a real walkable address out of its bucket.
            self._admit(peer, key_bin)
            if record:
                for address in addresses:
                    self._record_address(address, _NOBODYS)

    def register_service_provider(self, service_id: Service, overlay: IOverlay) -> None:
        """Note that our own ``overlay`` provides ``service_id``."""
        with self.graph_lock:
            self.service_overlays[service_id] = overlay

    # --- queries -----------------------------------------------------------------------------------------

    def get_verified_peers(self) -> List[Peer]:
        """All verified peers."""
        with self.graph_lock:
            return list(self.verified_peers)

    def get_peers_for_service(self, service_id: Service) -> List[Peer]:
        """The verified peers that run ``service_id``."""
        with self.graph_lock:
            return list(self.reverse_service_lookup.get(service_id, ()))

    def get_services_for_peer(self, peer: Peer) -> Set[Service]:
        """The services ``peer`` told us it runs (a copy; empty if none or unknown)."""
        with self.graph_lock:
            self.expire()
            return set(self.services_per_peer.get(peer.public_key.key_to_bin(), ()))

    def get_walkable_addresses(self, service_id: Service | None = None, old_style: bool = False) -> List[Address]:
        """Known addresses that no verified peer uses.

        :param service_id: keep only addresses introduced for this service, or introduced by a peer that
            runs it.
        :param old_style: leave out addresses known to speak new-style introductions.
        """
        with self.graph_lock:
            self.expire()
            if service_id is None and not old_style:
                return list(self._walkable)
            services_per_peer = self.services_per_peer
            selected = []
            for address in self._walkable:
                introducer, service, new_style = self._known[address]
                if old_style and new_style:
                    continue
                if service_id is not None and service != service_id \
                        and service_id not in services_per_peer.get(introducer, ()):
                    continue
                selected.append(address)
            return selected

    def random_walkable(self, service_id: Service | None = None) -> Address | None:
        """One walkable address introduced for ``service_id`` (any service when None), at random; O(1).

        Unlike :meth:`get_walkable_addresses` this does not consider addresses introduced for *other*
        services by peers that also run ``service_id``: a walker's step must not scan the graph.
        """
        with self.graph_lock:
            self.expire()
            if service_id is not None:
                bucket = self._walkable_by_service.get(service_id)
                return bucket.random() if bucket is not None else None
            buckets = [bucket for bucket in self._walkable_by_service.values() if bucket]
            if not buckets:
                return None
            # Weighted by size, so every address is equally likely.
            pick = random.randrange(sum(len(bucket) for bucket in buckets))
            for bucket in buckets:
                if pick < len(bucket):
                    return bucket.random()
                pick -= len(bucket)
            return None

    def walkable_for_service(self, service_id: Service | None) -> List[Address]:
        """The walkable addresses introduced for exactly ``service_id``, oldest first (at most the per-service cap)."""
        with self.graph_lock:
            self.expire()
            return list(self._walkable_by_service.get(service_id, ()))

    def introduced_for(self, address: Address, service_id: Service) -> bool:
        """Whether known ``address`` counts as walkable for ``service_id`` (as in :meth:`get_walkable_addresses`)."""
        with self.graph_lock:
            record = self._known.get(address)
            if record is None:
                return False
            return record.services == service_id or service_id in self.services_per_peer.get(record.introduced_by, ())

    def get_verified_by_address(self, address: Address) -> Peer | None:
        """A verified peer that uses ``address`` (the most recent one if several do), or None."""
        with self.graph_lock:
            users = self.reverse_ip_lookup.get(address)
            return users[-1] if users else None

    def get_verified_by_public_key_bin(self, public_key_bin: PublicKeyBin) -> Peer | None:
        """The verified peer with this binary public key, or None."""
        return self.verified_by_public_key_bin.get(public_key_bin)

    def get_introductions_from(self, peer: Peer) -> List[Address]:
        """The known addresses that ``peer`` introduced to us (while it was verified)."""
        with self.graph_lock:
            return list(self.reverse_intro_lookup.get(peer.public_key.key_to_bin(), ()))

    # --- removal -----------------------------------------------------------------------------------------

    def remove_by_address(self, address: Address) -> None:
        """Forget ``address`` and drop every verified peer that uses it (with its services).

        The dropped peers' other known addresses become walkable. Unknown addresses are ignored.
        """
        with self.graph_lock:
            self._forget_address(address)
            for peer in tuple(self.reverse_ip_lookup.get(address, ())):
                self._expel(peer, peer.public_key.key_to_bin())

    def remove_peer(self, peer: Peer) -> None:
        """Drop ``peer`` (matched by key) with its services, and forget the addresses it used.

        The addresses of both the given instance and the stored one are forgotten, so this also cleans up
        after a peer that was only ever known as an address. Unknown peers are ignored.

        :raises TypeError: ``peer`` is not a :class:`Peer`.
        """
        if not isinstance(peer, Peer):
            raise TypeError(f"expected a Peer, got {type(peer).__name__}")
        key_bin = peer.public_key.key_to_bin()
        with self.graph_lock:
            addresses = dict.fromkeys(peer.addresses.values())
            stored = self.verified_by_public_key_bin.get(key_bin)
            if stored is not None:
                addresses.update(dict.fromkeys(stored.addresses.values()))
                self._expel(stored, key_bin)
            else:
                self.services_per_peer.pop(key_bin, None)
                self._unverified_services.pop(key_bin)
            for address in addresses:
                self._forget_address(address)

    def remove_service_for_peer(self, peer: Peer, service_id: Service) -> None:
        """Forget that ``peer`` runs ``service_id`` (it stays verified for its other services).

        :raises TypeError: ``peer`` is not a :class:`Peer`.
        """
        if not isinstance(peer, Peer):
            raise TypeError(f"expected a Peer, got {type(peer).__name__}")
        key_bin = peer.public_key.key_to_bin()
        with self.graph_lock:
            services = self.services_per_peer.get(key_bin)
            if services is not None:
                services.discard(service_id)
            stored = self.verified_by_public_key_bin.get(key_bin)
            providers = self.reverse_service_lookup.get(service_id)
            if stored is not None and providers is not None:
                providers.pop(stored, None)
                if not providers:
                    del self.reverse_service_lookup[service_id]

    # --- snapshots ---------------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The preferred addresses of all verified peers, packed for :meth:`load_snapshot`.

        Each record is one type byte (1 IPv4, 3 IPv6, 2 host name) followed by the address, in the layout of
        the serializer's ``address`` format. Peers without a usable address are left out.
        """
        with self.graph_lock:
            records = []
            for peer in self.verified_peers:
                address = peer.address
                if address == UNKNOWN_ADDRESS:
                    continue
                record = encode_address(address)
                if record is not None:
                    records.append(record)
            return b"".join(records)

    def load_snapshot(self, snapshot: bytes) -> int:
        """Add the addresses in ``snapshot`` (made by :meth:`snapshot`) as known addresses without an introducer.

        Blacklisted and already known addresses are skipped. A damaged record ends the load (logged, not
        raised); what came before it is kept.

        :return: how many addresses were added.
        :raises TypeError: ``snapshot`` is not bytes-like.
        """
        if not isinstance(snapshot, (bytes, bytearray, memoryview)):
            raise TypeError(f"a snapshot is bytes, got {type(snapshot).__name__}")
        added = 0
        with self.graph_lock:
            for address in decode_addresses(bytes(snapshot)):
                # Host names are kept: a snapshot is our own file, not something a peer sent.
                usable = isinstance(address, DomainAddress) or is_usable(address)
                if address not in self._known and address not in self.blacklist and usable:
                    self._record_address(address, _NOBODYS)
                    self.origins.note(address, SNAPSHOT)
                    added += 1
        return added

    # --- observers ---------------------------------------------------------------------------------------

    def add_peer_observer(self, observer: IPeerObserver) -> None:
        """Call ``observer.on_peer_added(peer)`` / ``on_peer_removed(peer)`` from now on.

        :raises TypeError: ``observer`` lacks one of the two callbacks.
        """
        if not all(callable(getattr(observer, name, None)) for name in ("on_peer_added", "on_peer_removed")):
            raise TypeError(f"{observer!r} does not provide on_peer_added and on_peer_removed")
        with self.graph_lock:
            self.peer_observers.add(observer)

    def remove_peer_observer(self, observer: IPeerObserver) -> None:
        """Stop notifying ``observer``; unknown observers are ignored."""
        with self.graph_lock:
            self.peer_observers.discard(observer)


__all__ = ["IPeerObserver", "Network", "PeerObserver", "WalkableAddress"]
