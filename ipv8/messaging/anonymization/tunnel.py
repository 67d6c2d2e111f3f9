"""The state of the tunnel layer as plain objects: circuits, hops, relays, rendezvous points and swarms.

Nothing here touches the network. The ``TunnelCommunity`` (``ipv8.messaging.anonymization.community``) creates
these objects, moves them through their states and reads their counters; the endpoint that encrypts cells
reads the hops' session keys. Times come from an injected :class:`~twisted.internet.interfaces.IReactorTime`
(the installed reactor unless given), so a :class:`~twisted.internet.task.Clock` drives them in tests.

The constants keep pyipv8 3.2.1's names and values: peer flags travel on the wire (a uint16 bitmask in the
introduction's extra bytes), circuit types and states appear in REST answers.

A circuit's life is a small state machine::

    EXTENDING --(last hop added)--> READY
        |                             |
        +-------(close)--> CLOSING <--+

``Circuit.ready`` is a Deferred that fires with the circuit when it becomes READY, or with None when it
closes first. Each access returns a fresh Deferred, so any number of coroutines may ``await`` it.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from twisted.internet.defer import Deferred, DeferredList, succeed

from ...util import get_reactor, maybe_deferred

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from ...peer import Peer
    from ...types import Address

T = TypeVar("T")


class Direction(enum.IntEnum):
    """Which way a cell travels through a circuit."""

    #: From the circuit's originator towards its exit.
    FORWARD = 0
    #: From the exit back towards the originator.
    BACKWARD = 1


class PeerSource(enum.IntEnum):
    """How we learnt of an introduction point (:attr:`IntroductionPoint.source`)."""

    UNKNOWN = 0
    #: Found in the DHT.
    DHT = 1
    #: Learnt through peer exchange (PEX).
    PEX = 2


class PeerFlag(enum.IntFlag):
    """What a tunnel peer offers; ORed together into the uint16 of the introduction's extra bytes."""

    #: Relays cells for others.
    RELAY = 1
    #: Exits BitTorrent-like traffic (uTP, UDP trackers, the mainline DHT) to the internet.
    EXIT_BT = 2
    #: Exits IPv8 overlay packets to the internet.
    EXIT_IPV8 = 4
    #: Answers speed-test requests.
    SPEED_TEST = 8


class _TextConstant(str, enum.Enum):
    """A string constant that prints and formats as its plain value (like pyipv8's plain strings)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class CircuitType(_TextConstant):
    """What a circuit is for (its value is what REST answers show)."""

    #: General purpose: the exit sends data into the internet.
    DATA = "DATA"
    #: Hidden services: a seeder's circuit to its introduction point (ends in a connectable node, IPv8 only).
    IP_SEEDER = "IP_SEEDER"
    #: Hidden services: a seeder's circuit to a rendezvous point.
    RP_SEEDER = "RP_SEEDER"
    #: Hidden services: a downloader's circuit to a rendezvous point.
    RP_DOWNLOADER = "RP_DOWNLOADER"


class CircuitState(_TextConstant):
    """Where a circuit is in its life (see the module documentation)."""

    #: Every hop is in place: the circuit carries data.
    READY = "READY"
    #: Hops are still being added.
    EXTENDING = "EXTENDING"
    #: Closed: never used for new traffic again.
    CLOSING = "CLOSING"


class DestroyReason(enum.IntEnum):
    """Why a circuit is destroyed (the uint16 of the destroy message); 0 is never sent."""

    UNKNOWN = 1
    SHUTDOWN = 2
    UNNEEDED = 4


# pyipv8's module-level names for all of the above, which users and payloads import.
FORWARD, BACKWARD = Direction.FORWARD, Direction.BACKWARD
PEER_SOURCE_UNKNOWN, PEER_SOURCE_DHT, PEER_SOURCE_PEX = PeerSource.UNKNOWN, PeerSource.DHT, PeerSource.PEX
PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT = PeerFlag.RELAY, PeerFlag.EXIT_BT
PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST = PeerFlag.EXIT_IPV8, PeerFlag.SPEED_TEST
CIRCUIT_TYPE_DATA, CIRCUIT_TYPE_IP_SEEDER = CircuitType.DATA, CircuitType.IP_SEEDER
CIRCUIT_TYPE_RP_SEEDER, CIRCUIT_TYPE_RP_DOWNLOADER = CircuitType.RP_SEEDER, CircuitType.RP_DOWNLOADER
CIRCUIT_STATE_READY, CIRCUIT_STATE_EXTENDING = CircuitState.READY, CircuitState.EXTENDING
CIRCUIT_STATE_CLOSING = CircuitState.CLOSING
DESTROY_REASON_UNKNOWN, DESTROY_REASON_SHUTDOWN = DestroyReason.UNKNOWN, DestroyReason.SHUTDOWN
DESTROY_REASON_UNNEEDED = DestroyReason.UNNEEDED

#: Circuit ids are drawn above this value (pyipv8 keeps the low ids free).
CIRCUIT_ID_PORT = 1024
#: Seconds between keep-alive pings on our circuits.
PING_INTERVAL = 7.5


class CircuitStateError(Exception):
    """A state transition the circuit's state machine does not allow (e.g. adding a hop to a ready circuit)."""


class _OneShot(Generic[T]):
    """A result that is set once and can be observed any number of times.

    A single Deferred cannot serve several awaiters: awaiting it hands its result to the first coroutine and
    leaves None for the rest. So every observer gets its own Deferred; cancelling one leaves the others alone.
    """

    __slots__ = ("_fired", "_result", "_waiters")

    def __init__(self) -> None:
        self._fired = False
        self._result: T | None = None
        self._waiters: list[Deferred[T]] = []

    @property
    def fired(self) -> bool:
        return self._fired

    def observe(self) -> Deferred[T]:
        if self._fired:
            return succeed(self._result)  # type: ignore[arg-type]
        waiter: Deferred[T] = Deferred(canceller=self._forget)
        self._waiters.append(waiter)
        return waiter

    def fire(self, value: T) -> bool:
        """Set the result (only the first call counts); returns whether this call set it."""
        if self._fired:
            return False
        self._fired, self._result = True, value
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(value)
        return True

    def _forget(self, waiter: Deferred[T]) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)


@dataclass(eq=False)
class Hop:
    """One layer of a circuit: the peer at that position and the session keys shared with it.

    :ivar peer: the hop (its key and address).
    :ivar keys: the session keys agreed with this hop (the crypto module's session-key object; None until
        the handshake completes). Only the crypto code looks inside.
    :ivar flags: the peer flags the hop announced (``PEER_FLAG_*``), if known.
    :ivar dh_first_part: our ephemeral X25519 public key sent in create/extend, kept until created/extended.
    :ivar dh_secret: the matching ephemeral secret, dropped by the community once the keys exist.
    """

    peer: Peer
    keys: Any = None
    flags: list[int] | None = None
    dh_first_part: bytes | None = None
    dh_secret: Any = None

    @property
    def address(self) -> Address:
        """Where the hop is reached."""
        return self.peer.address

    @property
    def public_key(self) -> Any:
        """The hop's public key object."""
        return self.peer.public_key

    @property
    def public_key_bin(self) -> bytes:
        """The hop's public key in binary form."""
        return self.peer.public_key.key_to_bin()

    @property
    def mid(self) -> bytes:
        """The SHA-1 of the hop's public key."""
        return self.peer.mid


class RoutingObject:
    """What every tunnel object (circuit, relay route, exit socket) counts: bytes and activity times.

    :param circuit_id: the circuit id this object is filed under.
    :param clock: where times are read; the installed reactor unless given.
    """

    def __init__(self, circuit_id: int, *, clock: IReactorTime | None = None) -> None:
        """Start with zero traffic; created and last active now."""
        self.clock: IReactorTime = clock if clock is not None else get_reactor()
        self.circuit_id = circuit_id
        self.creation_time: float = self.clock.seconds()
        self.last_activity: float = self.creation_time
        self.bytes_up = 0
        self.bytes_down = 0
        self.logger = logging.getLogger(self.__class__.__name__)

    def beat_heart(self) -> None:
        """Record that the tunnel carried traffic just now."""
        self.last_activity = self.clock.seconds()

    @property
    def total_bytes(self) -> int:
        """Bytes carried in both directions (what ``max_traffic`` limits)."""
        return self.bytes_up + self.bytes_down

    def age(self) -> float:
        """Seconds since creation."""
        return self.clock.seconds() - self.creation_time

    def idle_time(self) -> float:
        """Seconds since the last :meth:`beat_heart` (or creation)."""
        return self.clock.seconds() - self.last_activity


#: The tunnel base class under a shorter name.
Tunnel = RoutingObject


class Circuit(RoutingObject):
    """One of our own circuits: a chain of hops we built, ending in an exit (or a rendezvous point).

    :param circuit_id: our id for the circuit towards its first hop.
    :param goal_hops: how many hops the circuit needs before it is READY.
    :param ctype: one of the ``CIRCUIT_TYPE_*`` constants.
    :param required_exit: the peer the circuit must end in, if any (hidden services, chosen exits).
    :param info_hash: the swarm a hidden-services circuit belongs to.
    :param required_exit_flags: the peer flags the exit was chosen for (e.g. ``{PEER_FLAG_EXIT_IPV8}``).
    :param clock: where times are read; the installed reactor unless given.
    :raises ValueError: ``goal_hops`` is negative.
    """

    def __init__(self, circuit_id: int, goal_hops: int = 0, ctype: str = CIRCUIT_TYPE_DATA,
                 required_exit: Peer | None = None, info_hash: bytes | None = None, *,
                 required_exit_flags: Collection[int] = (), clock: IReactorTime | None = None) -> None:
        """Create an EXTENDING circuit (READY at once when ``goal_hops`` is 0)."""
        if goal_hops < 0:
            msg = f"goal_hops must not be negative, got {goal_hops}"
            raise ValueError(msg)
        super().__init__(circuit_id, clock=clock)
        self.goal_hops = goal_hops
        self.ctype = ctype
        self.required_exit = required_exit
        self.required_exit_flags: frozenset[int] = frozenset(required_exit_flags)
        self.info_hash = info_hash
        self.closing_info = ""
        #: The hop being added: set by the community when it sends create/extend, promoted by :meth:`add_hop`.
        self.unverified_hop: Hop | None = None
        #: Session keys of the end-to-end layer of a hidden-services circuit.
        self.hs_session_keys: Any = None
        #: Whether this is a linked end-to-end (hidden services) circuit.
        self.e2e = False
        #: How many cells this circuit sent with the relay_early flag.
        self.relay_early_count = 0
        self._hops: list[Hop] = []
        self._closing = False
        self._ready: _OneShot[Circuit | None] = _OneShot()
        if goal_hops == 0:
            self._ready.fire(self)

    @property
    def state(self) -> str:
        """``CIRCUIT_STATE_CLOSING`` once closed, else EXTENDING until ``goal_hops`` hops are in, then READY."""
        if self._closing:
            return CIRCUIT_STATE_CLOSING
        if len(self._hops) < self.goal_hops:
            return CIRCUIT_STATE_EXTENDING
        return CIRCUIT_STATE_READY

    @property
    def ready(self) -> Deferred[Circuit | None]:
        """A new Deferred firing with this circuit once it is READY, or with None if it closes before that.

        Already fired (with the same outcome) when asked after the fact.
        """
        return self._ready.observe()

    @property
    def hops(self) -> Sequence[Hop]:
        """The verified hops, first hop first (a read-only copy)."""
        return tuple(self._hops)

    @property
    def hop(self) -> Hop | None:
        """The first hop: the one cells are sent to (the unverified one while the first is being created)."""
        return self._hops[0] if self._hops else self.unverified_hop

    @property
    def exit_flags(self) -> list[int]:
        """The peer flags of the last verified hop (the exit, once READY)."""
        if self._hops:
            return list(self._hops[-1].flags or [])
        return []

    def add_hop(self, hop: Hop) -> None:
        """Append a verified hop; the circuit becomes READY (and ``ready`` fires) when it reaches ``goal_hops``.

        :raises CircuitStateError: the circuit is not EXTENDING (already READY, or CLOSING).
        """
        state = self.state
        if state != CIRCUIT_STATE_EXTENDING:
            msg = f"cannot add a hop to circuit {self.circuit_id} in state {state}"
            raise CircuitStateError(msg)
        self._hops.append(hop)
        if hop is self.unverified_hop:
            self.unverified_hop = None
        if self.state == CIRCUIT_STATE_READY:
            self._ready.fire(self)

    def close(self, closing_info: str = "") -> None:
        """Move to CLOSING (for good); ``ready`` fires with None if it had not fired. Closing twice is a no-op."""
        if self._closing:
            return
        self._closing = True
        self.closing_info = closing_info
        self._ready.fire(None)

    def __repr__(self) -> str:
        return (f"Circuit(id={self.circuit_id}, {self.ctype}, {self.state}, "
                f"hops={len(self._hops)}/{self.goal_hops})")


class RelayRoute(RoutingObject):
    """Half of a relay we take part in: cells arriving on one circuit id go to ``hop`` under ``circuit_id``.

    The community files two routes per relay, one per direction, each under the id cells arrive with.

    :param circuit_id: the circuit id to forward under.
    :param hop: the peer to forward to, with the session keys of this relay.
    :param direction: :data:`FORWARD` or :data:`BACKWARD`.
    :param rendezvous_relay: whether this joins two circuits at a rendezvous point.
    :param clock: where times are read; the installed reactor unless given.
    """

    def __init__(self, circuit_id: int, hop: Hop, direction: int, rendezvous_relay: bool = False, *,
                 clock: IReactorTime | None = None) -> None:
        """Create the route; see the class documentation."""
        super().__init__(circuit_id, clock=clock)
        self.hop = hop
        self.direction = direction
        self.rendezvous_relay = rendezvous_relay
        # The route exists because an extend arrived, and an extend always travels as relay_early.
        self.relay_early_count = 1


class RendezvousPoint:
    """A point where a downloader's and a seeder's circuits are to be linked, identified by a cookie.

    :param circuit: our circuit to the rendezvous point.
    :param cookie: the 20-byte cookie that names the meeting.
    """

    def __init__(self, circuit: Circuit, cookie: bytes) -> None:
        """Create the rendezvous point; its address is known once it is established."""
        self.circuit = circuit
        self.cookie = cookie
        self.address: Address | None = None
        self._ready: _OneShot[RendezvousPoint | None] = _OneShot()

    @property
    def ready(self) -> Deferred[RendezvousPoint | None]:
        """A new Deferred firing with this point once established, or with None if that failed."""
        return self._ready.observe()

    def set_ready(self, established: bool) -> bool:
        """Settle ``ready`` (only the first call counts): with this point if ``established``, else None."""
        return self._ready.fire(self if established else None)


class IntroductionPoint:
    """A peer that introduces others to a hidden seeder of some content.

    :param peer: the introduction point itself (its key and address).
    :param seeder_pk: the binary public key the seeder uses for this content (``LibNaCLPK:`` form).
    :param source: how we learnt of it, one of the ``PEER_SOURCE_*`` constants.
    :param last_seen: when it was last known to serve, in whole seconds of the unix epoch; by default now,
        on ``clock`` (the installed reactor unless given).

    Two introduction points are equal when peer (by key) and seeder key are; ``source`` and ``last_seen``
    describe what we know of it, not which one it is.
    """

    __slots__ = ("last_seen", "peer", "seeder_pk", "source")

    def __init__(self, peer: Peer, seeder_pk: bytes, source: int = PEER_SOURCE_UNKNOWN,
                 last_seen: float | None = None, *, clock: IReactorTime | None = None) -> None:
        """Create the record; see the class documentation."""
        self.peer = peer
        self.seeder_pk = seeder_pk
        self.source = source
        if last_seen is None:
            last_seen = int((clock if clock is not None else get_reactor()).seconds())
        self.last_seen = last_seen

    def __eq__(self, other: object) -> bool:
        """Same peer and same seeder key."""
        if not isinstance(other, IntroductionPoint):
            return NotImplemented
        return self.peer == other.peer and self.seeder_pk == other.seeder_pk

    def __hash__(self) -> int:
        """Consistent with equality: from the peer and the seeder key."""
        return hash((self.peer, self.seeder_pk))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form pyipv8 uses: address (ip, port, hex public key), hex seeder key and source."""
        return {"address": {"ip": self.peer.address[0], "port": self.peer.address[1],
                            "public_key": self.peer.public_key.key_to_bin().hex()},
                "seeder_pk": self.seeder_pk.hex(),
                "source": self.source}

    def __repr__(self) -> str:
        host, port = self.peer.address[0], self.peer.address[1]
        return (f"IntroductionPoint(peer={self.peer.mid.hex()[:8]}@{host}:{port}, "
                f"seeder_pk={self.seeder_pk.hex()[20:36]}..., source={self.source}, last_seen={self.last_seen})")


#: ``lookup_func(info_hash, target, hops)``: find introduction points, through ``target`` (PEX) or the DHT (None).
LookupFunc = Callable[[bytes, "IntroductionPoint | None", int], Any]


class Swarm:
    """The hidden-services view of one info hash: known introduction points and our linked circuits.

    :param info_hash: the swarm's 20-byte identifier.
    :param hops: the hop count of the circuits used in this swarm.
    :param lookup_func: finds introduction points (returns a Deferred, a coroutine or a list).
    :param seeder_sk: our seeder key when we seed in this swarm.
    :param max_ip_age: seconds after which an unused introduction point is forgotten.
    :param min_dht_lookup_interval: seconds between DHT lookups while PEX has introduction points.
    :param max_dht_lookup_interval: seconds between DHT lookups when no introduction point is known.
    :param clock: where times are read; the installed reactor unless given.
    """

    def __init__(self, info_hash: bytes, hops: int, lookup_func: LookupFunc,
                 seeder_sk: Any = None, max_ip_age: float = 180.0, min_dht_lookup_interval: float = 300.0,
                 max_dht_lookup_interval: float = 120.0, *, clock: IReactorTime | None = None) -> None:
        """Create an empty swarm."""
        self.clock: IReactorTime = clock if clock is not None else get_reactor()
        # What the swarm is and how we reach it: fixed for its life (a seeder has its key, a downloader None).
        self.info_hash, self.hops, self.seeder_sk = info_hash, hops, seeder_sk
        self.lookup_func = lookup_func
        # Introduction points older than max_ip_age are dropped; DHT lookups are spaced between the intervals.
        self.max_ip_age = max_ip_age
        self.min_dht_lookup_interval, self.max_dht_lookup_interval = min_dht_lookup_interval, max_dht_lookup_interval
        # What we know and when we last looked.
        self.intro_points: list[IntroductionPoint] = []
        self.connections: dict[int, tuple[Circuit, IntroductionPoint]] = {}
        self.last_lookup = self.last_dht_response = 0.0
        # Bytes of connections already removed, so the totals survive circuit turnover: [up, down].
        self.transfer_history = [0, 0]
        self.logger = logging.getLogger(type(self).__name__)

    @property
    def seeding(self) -> bool:
        """Whether we seed in this swarm."""
        return bool(self.seeder_sk)

    def _active_circuits(self) -> list[Circuit]:
        return [c for c, _ in self.connections.values() if c.state == CIRCUIT_STATE_READY and c.e2e]

    def add_connection(self, rp_circuit: Circuit, intro_point_used: IntroductionPoint) -> None:
        """Remember a circuit to a rendezvous point and the introduction point that led to it."""
        self.connections.setdefault(rp_circuit.circuit_id, (rp_circuit, intro_point_used))

    def remove_connection(self, rp_circuit: Circuit) -> bool:
        """Forget a circuit (keeping its byte counts in the totals); does not close it. Whether it was known."""
        removed = self.connections.pop(rp_circuit.circuit_id, None)
        if removed is None:
            return False
        self.transfer_history[0] += removed[0].bytes_up
        self.transfer_history[1] += removed[0].bytes_down
        return True

    def has_connection(self, seeder_pk: bytes) -> bool:
        """Whether one of our connections leads to this seeder key."""
        return any(ip.seeder_pk == seeder_pk for _, ip in self.connections.values())

    def get_num_connections(self) -> int:
        """Connections that are linked end to end and ready."""
        return len(self._active_circuits())

    def get_num_connections_incomplete(self) -> int:
        """Connections still being set up."""
        return len(self.connections) - self.get_num_connections()

    def add_intro_point(self, ip: IntroductionPoint) -> IntroductionPoint:
        """Add ``ip``, or refresh the equal one already known; returns the one to use."""
        for known in self.intro_points:
            if known == ip:
                known.last_seen = self.clock.seconds()
                return known
        self.intro_points.append(ip)
        return ip

    def remove_old_intro_points(self) -> None:
        """Forget introduction points older than ``max_ip_age``, unless a ready connection uses them."""
        now = self.clock.seconds()
        in_use = [ip for c, ip in self.connections.values() if c.state == CIRCUIT_STATE_READY and c.e2e]
        self.intro_points = [ip for ip in self.intro_points if ip.last_seen + self.max_ip_age >= now or ip in in_use]

    def remove_intro_point(self, ip: IntroductionPoint) -> None:
        """Forget ``ip`` (if known)."""
        if ip in self.intro_points:
            self.intro_points.remove(ip)

    def lookup(self, target: IntroductionPoint | None = None) -> Deferred[list[IntroductionPoint] | None]:
        """Look for introduction points: through ``target`` if given, else the DHT or PEX, whichever is due.

        Fires with the points found, or None when no lookup was due.
        """
        def found(ips: list[IntroductionPoint] | None) -> list[IntroductionPoint]:
            ips = list(ips or [])
            if any(ip.source == PEER_SOURCE_DHT for ip in ips):
                self.last_dht_response = self.clock.seconds()
            return ips

        if target is not None:
            return maybe_deferred(self.lookup_func, self.info_hash, target, self.hops).addCallback(found)

        now = self.clock.seconds()
        self.remove_old_intro_points()
        self.last_lookup = now
        since_dht = now - self.last_dht_response
        if since_dht > self.min_dht_lookup_interval or (not self.intro_points
                                                        and since_dht > self.max_dht_lookup_interval):
            return maybe_deferred(self.lookup_func, self.info_hash, None, self.hops).addCallback(found)
        if not self.intro_points:
            return succeed(None)

        # PEX through every known introduction point; one that fails just contributes nothing.
        lookups = [maybe_deferred(self.lookup_func, self.info_hash, ip, self.hops) for ip in self.intro_points]

        def merge(results: list[tuple[bool, Any]]) -> list[IntroductionPoint]:
            return found([ip for ok, ips in results if ok and ips for ip in ips])
        return DeferredList(lookups, consumeErrors=True).addCallback(merge)

    def get_num_seeders(self) -> int:
        """Distinct seeder keys among known introduction points and connections."""
        return len({ip.seeder_pk for ip in self.intro_points} | {ip.seeder_pk for _, ip in self.connections.values()})

    def get_total_up(self) -> int:
        """Bytes sent in this swarm, removed connections included."""
        return sum(c.bytes_up for c in self._active_circuits()) + self.transfer_history[0]

    def get_total_down(self) -> int:
        """Bytes received in this swarm, removed connections included."""
        return sum(c.bytes_down for c in self._active_circuits()) + self.transfer_history[1]


__all__ = ["BACKWARD", "CIRCUIT_ID_PORT", "CIRCUIT_STATE_CLOSING", "CIRCUIT_STATE_EXTENDING", "CIRCUIT_STATE_READY",
           "CIRCUIT_TYPE_DATA", "CIRCUIT_TYPE_IP_SEEDER", "CIRCUIT_TYPE_RP_DOWNLOADER", "CIRCUIT_TYPE_RP_SEEDER",
           "DESTROY_REASON_SHUTDOWN", "DESTROY_REASON_UNKNOWN", "DESTROY_REASON_UNNEEDED", "FORWARD",
           "PEER_FLAG_EXIT_BT", "PEER_FLAG_EXIT_IPV8", "PEER_FLAG_RELAY", "PEER_FLAG_SPEED_TEST", "PEER_SOURCE_DHT",
           "PEER_SOURCE_PEX", "PEER_SOURCE_UNKNOWN", "PING_INTERVAL", "Circuit", "CircuitStateError", "Hop",
           "IntroductionPoint", "RelayRoute", "RendezvousPoint", "RoutingObject", "Swarm", "Tunnel"]
