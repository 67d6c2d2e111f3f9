"""Hidden services: seeders and downloaders that both stay anonymous find each other and talk end to end.

The flow (pyipv8 3.2.1's messages and semantics, facts sheet A.26 and B.12):

1. A seeder joins a swarm (:meth:`HiddenTunnelCommunity.join_swarm` with ``seeding=True``, which makes a
   per-swarm curve25519 *seeder key*) and builds a circuit one hop longer than the swarm's hop count; its exit
   becomes an *introduction point* (establish-intro / intro-established). The introduction point announces itself
   for the seeder key in the DHT (``settings.dht_provider``) and in the swarm's :class:`~.pex.PexCommunity`.
2. A downloader looks the swarm up (every ``swarm_lookup_interval`` seconds while it has fewer than
   ``swarm_connection_limit`` connections): a peers-request over one of its circuits, answered by the circuit's
   exit from the DHT, or by a known introduction point from PEX.
3. The downloader sends create-e2e (half a handshake with the seeder key) through its circuit's exit to the
   introduction point, which passes it down the seeder's circuit. The seeder builds a circuit to a *rendezvous
   point* (establish-rendezvous / rendezvous-established) and answers created-e2e with its handshake half and
   the rendezvous point's address, key and cookie, encrypted under the new end-to-end keys.
4. The downloader builds a circuit ending at the rendezvous point and sends link-e2e with the cookie; the
   rendezvous point joins the two circuits (linked-e2e). Data then flows end to end, with one more layer of
   encryption (``Circuit.hs_session_keys``) that only the two ends can open.

The downloader's end is handed to the swarm's callback as the address ``(circuit id as IPv4, CIRCUIT_ID_PORT)``;
:meth:`~HiddenTunnelCommunity.tunnel_data` to such an address goes through that e2e circuit.
:meth:`~HiddenTunnelCommunity.register_service` (the IPv8 documentation's interface) does all of the above for
one service identifier, on both ends.

Hostile input is bounded and counted in ``drop_counts`` (the ``DROP_HS_*`` reasons below): every table has a
cap (``max_intro_points_served``, ``max_rendezvous_points``, ``max_pending_rendezvous``, ``max_swarm_intro_points``,
``max_peer_lookups``) and everything expires (introduction points after ``max_time_ip``, the others with their
circuits, request caches after their timeouts). A create-e2e whose handshake key was seen before, a created-e2e
that fails its auth, and a rendezvous cookie used twice are dropped.
"""
from __future__ import annotations

import hashlib
import os
import random
import socket
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from ...peer import Peer
from ...util import maybe_deferred
from ._hidden_caches import (
    E2ERequestCache,
    IPRequestCache,
    LinkRequestCache,
    PeersRequestCache,
    RPRequestCache,
)
from ._hidden_e2e import (
    DROP_HS_BAD_E2E,
    DROP_HS_E2E_LIMIT,
    DROP_HS_REPLAYED_E2E,
    DROP_HS_REUSED_COOKIE,
    DROP_HS_UNEXPECTED_E2E,
    DROP_HS_UNKNOWN_COOKIE,
    DROP_HS_UNKNOWN_SEEDER,
    E2EMixin,
)
from ._hidden_peers import (
    DROP_HS_BAD_PEER,
    DROP_HS_PEERS_REFUSED,
    DROP_HS_UNEXPECTED_REPLY,
    MAX_KEY_SIZE,
    PeersMixin,
)
from .community import NO_ADDRESS, TunnelCommunity, TunnelSettings, unpack_cell
from .exit_socket import TunnelExitSocket
from .payload import (
    CreatedE2EPayload,
    CreateE2EPayload,
    EstablishIntroPayload,
    EstablishRendezvousPayload,
    IntroEstablishedPayload,
    LinkE2EPayload,
    LinkedE2EPayload,
    PeersRequestPayload,
    PeersResponsePayload,
    RendezvousEstablishedPayload,
)
from .pex import PexCommunity, PexSettings
from .tunnel import (
    CIRCUIT_ID_PORT,
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_IP_SEEDER,
    CIRCUIT_TYPE_RP_DOWNLOADER,
    CIRCUIT_TYPE_RP_SEEDER,
    DESTROY_REASON_UNNEEDED,
    Circuit,
    IntroductionPoint,
    RendezvousPoint,
    Swarm,
)

if TYPE_CHECKING:
    from ...types import Address

#: establish-intro refused: not on a circuit we exit, a seeder key we introduce already, a bad key, or the cap.
DROP_HS_INTRO_REFUSED = "hs-intro-refused"
#: establish-rendezvous refused: not on a circuit we exit, a cookie in use, or the cap.
DROP_HS_RENDEZVOUS_REFUSED = "hs-rendezvous-refused"
#: An introduction point not remembered because its swarm knows ``max_swarm_intro_points`` already.
DROP_HS_SWARM_FULL = "hs-swarm-full"

E2ECallback = Callable[["Address"], Any]
DataCallback = Callable[["Address", bytes], Any]


class HiddenTunnelSettings(TunnelSettings):
    """Settings of :class:`HiddenTunnelCommunity`: the tunnel settings, pyipv8's two extras, and txipv8's caps."""

    #: The IPv8 service object, used to load a PEX overlay per swarm we introduce (None: no PEX).
    ipv8: Any = None
    #: Info hash -> the callback for its e2e connections (shared with the caller if given).
    e2e_callbacks: dict | None = None
    #: Bootstrappers for the PEX overlays (txipv8; None: the hidden community's own).
    pex_bootstrappers: list | None = None
    #: Seeder keys we serve as introduction point at most.
    max_intro_points_served: int = 100
    #: Rendezvous cookies we serve at most.
    max_rendezvous_points: int = 100
    #: Rendezvous points a seeder builds at the same time at most (each costs a circuit).
    max_pending_rendezvous: int = 16
    #: Introduction points one swarm remembers at most.
    max_swarm_intro_points: int = 100
    #: DHT lookups that peers-requests of others may have us run at the same time.
    max_peer_lookups: int = 16
    #: Seconds a seen create-e2e handshake key is remembered (replays within it are dropped).
    e2e_replay_memory: float = 600.0
    #: Set by pyipv8's (and our) default configuration; pyipv8 3.2.1 reads it nowhere, and neither do we: the
    #: swarm lookups are spaced by ``swarm_lookup_interval``. Accepted so that those configurations load.
    dht_lookup_interval: float = 30


class _ExpiringSet:
    """A bounded set whose members expire: oldest members go first when full."""

    def __init__(self, max_size: int, ttl: float) -> None:
        self.max_size, self.ttl = max_size, ttl
        self._items: OrderedDict[bytes, float] = OrderedDict()

    def seen(self, item: bytes, now: float) -> bool:
        """Whether ``item`` was added within the ttl; adds (refreshes) it either way."""
        while self._items and next(iter(self._items.values())) <= now - self.ttl:
            self._items.popitem(last=False)
        known = item in self._items
        self._items.pop(item, None)
        self._items[item] = now
        while len(self._items) > self.max_size:
            self._items.popitem(last=False)
        return known

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class HiddenTunnelCommunity(PeersMixin, E2EMixin, TunnelCommunity):
    """The tunnel community with hidden services; see the module documentation."""

    settings_class = HiddenTunnelSettings

    def __init__(self, settings: HiddenTunnelSettings) -> None:
        """Create the tables and register the hidden-service messages and the swarm lookups (every 10 s)."""
        self.ipv8 = settings.ipv8
        self.e2e_callbacks: dict[bytes, E2ECallback | None] = ({} if settings.e2e_callbacks is None
                                                               else settings.e2e_callbacks)
        #: Info hash -> the swarm we take part in.
        self.swarms: dict[bytes, Swarm] = {}
        #: Info hash -> the PEX overlay of a swarm we introduce.
        self.pex: dict[bytes, PexCommunity] = {}
        #: Seeder key -> (the exit socket of the seeder's circuit, info hash): the seeders we introduce.
        self.intro_point_for: dict[bytes, tuple[TunnelExitSocket, bytes]] = {}
        #: Cookie -> the exit socket of the seeder's circuit: the rendezvous points we serve.
        self.rendezvous_point_for: dict[bytes, TunnelExitSocket] = {}
        #: Info hash -> (callback, data callback) of the services registered with :meth:`register_service`.
        self.services: dict[bytes, tuple[E2ECallback | None, DataCallback | None]] = {}
        self._seen_e2e_keys = _ExpiringSet(4096, settings.e2e_replay_memory)
        self._used_cookies = _ExpiringSet(4096, settings.e2e_replay_memory)
        self._pending_rendezvous = 0
        self._peer_lookups = 0
        self._lookups_running: set[bytes] = set()
        self._e2e_peers: set[int] = set()
        # The tables above exist before the tunnel community starts its upkeep (which uses them).
        super().__init__(settings)

        # Three messages also arrive bare, from the exit of a downloader's circuit.
        self.add_message_handler(CreateE2EPayload, self.on_create_e2e)
        self.add_message_handler(PeersRequestPayload, self.on_peers_request)
        self.add_message_handler(PeersResponsePayload, self.on_peers_response)
        for payload_class, handler in ((EstablishIntroPayload, self.on_establish_intro),
                                       (IntroEstablishedPayload, self.on_intro_established),
                                       (EstablishRendezvousPayload, self.on_establish_rendezvous),
                                       (RendezvousEstablishedPayload, self.on_rendezvous_established),
                                       (CreateE2EPayload, self.on_create_e2e), (CreatedE2EPayload, self.on_created_e2e),
                                       (LinkE2EPayload, self.on_link_e2e), (LinkedE2EPayload, self.on_linked_e2e),
                                       (PeersRequestPayload, self.on_peers_request),
                                       (PeersResponsePayload, self.on_peers_response)):
            self.add_cell_handler(payload_class, handler)
        self.register_task("do_peer_discovery", self.do_peer_discovery, interval=10)

    def _now(self) -> float:
        return self.clock.seconds()

    # -- swarms ----------------------------------------------------------------------------------------------

    def join_swarm(self, info_hash: bytes, hops: int, callback: E2ECallback | None = None,
                   seeding: bool = True) -> Swarm:
        """Join the swarm ``info_hash`` with circuits of ``hops`` hops (leaving it first if we are in it).

        :param callback: called with the address of every e2e connection we make in this swarm.
        :param seeding: whether we seed (then a seeder key is made; create introduction points with
            :meth:`create_introduction_point`).
        """
        if info_hash in self.swarms:
            self.logger.warning("Already in swarm %s: leaving it first", info_hash.hex())
            self.leave_swarm(info_hash)
        seeder_sk = self.crypto.generate_key("curve25519") if seeding else None
        swarm = Swarm(info_hash, hops, self.send_peers_request, seeder_sk, clock=self.clock)
        self.swarms[info_hash] = swarm
        self.e2e_callbacks[info_hash] = callback
        return swarm

    def leave_swarm(self, info_hash: bytes) -> None:
        """Leave the swarm: its introduction point and e2e circuits are destroyed."""
        for circuit in list(self.circuits.values()):
            if circuit.info_hash == info_hash and circuit.ctype in (CIRCUIT_TYPE_IP_SEEDER, CIRCUIT_TYPE_RP_SEEDER,
                                                                     CIRCUIT_TYPE_RP_DOWNLOADER):
                self.remove_circuit(circuit.circuit_id, "leaving hidden swarm", destroy=DESTROY_REASON_UNNEEDED)
        self.swarms.pop(info_hash, None)
        self.e2e_callbacks.pop(info_hash, None)
        self.services.pop(info_hash, None)

    def register_service(self, service_id: bytes | str, hops: int, callback: E2ECallback | None = None, *,
                         on_data: DataCallback | None = None) -> bytes:
        """Offer and look for the service ``service_id`` anonymously (the IPv8 documentation's interface).

        We seed it (with an introduction point, rebuilt when lost) and look for the other peers that registered
        it. ``callback(address)`` is called for each peer found: :meth:`tunnel_data` to that address reaches it
        end to end. ``on_data(address, data)`` gets what peers send us (a peer that contacted us is announced
        to ``callback`` with its first data). Returns the service's info hash: the identifier itself if it is
        20 bytes, else its SHA-1.
        """
        raw = service_id.encode("utf-8") if isinstance(service_id, str) else bytes(service_id)
        info_hash = raw if len(raw) == 20 else hashlib.sha1(raw).digest()
        self.join_swarm(info_hash, hops, callback, seeding=True)
        self.services[info_hash] = (callback, on_data)
        self.do_circuits()
        return info_hash

    def _swarm_hops(self, info_hash: bytes) -> int | None:
        swarm = self.swarms.get(info_hash)
        return swarm.hops if swarm is not None and swarm.hops else None

    def select_circuit_for_infohash(self, info_hash: bytes) -> Circuit | None:
        """A ready data circuit with the hop count of the swarm ``info_hash``."""
        hops = self._swarm_hops(info_hash)
        return self.select_circuit(None, hops) if hops is not None else None

    def create_circuit_for_infohash(self, info_hash: bytes, ctype: str, exit_flags: Any = None,
                                    required_exit: Peer | None = None) -> Circuit | None:
        """Build a circuit of type ``ctype`` for the swarm; introduction and downloader rendezvous circuits get
        one hop more (their exit is chosen by, or known to, the other side)."""
        hops = self._swarm_hops(info_hash)
        if hops is None:
            return None
        if ctype in (CIRCUIT_TYPE_IP_SEEDER, CIRCUIT_TYPE_RP_DOWNLOADER):
            hops += 1
        return self.create_circuit(hops, ctype, exit_flags, required_exit, info_hash)

    @staticmethod
    def ip_to_circuit_id(ip_str: str) -> int:
        """The circuit id an e2e address stands for."""
        return struct.unpack("!I", socket.inet_aton(ip_str))[0]

    @staticmethod
    def circuit_id_to_ip(circuit_id: int) -> str:
        """The IPv4 form of a circuit id (e2e addresses are ``(this, CIRCUIT_ID_PORT)``)."""
        return socket.inet_ntoa(struct.pack("!I", circuit_id))

    def select_circuit(self, destination: Address | None, hops: int) -> Circuit | None:
        """The e2e circuit an e2e ``destination`` names, else a random ready data circuit of ``hops`` hops."""
        if destination is not None and destination[1] == CIRCUIT_ID_PORT:
            circuit = self._e2e_circuit(destination)
            if circuit is not None:
                return circuit
        circuits = self.find_circuits(hops=hops)
        return random.choice(circuits) if circuits else None

    def _e2e_circuit(self, destination: Address) -> Circuit | None:
        try:
            circuit = self.circuits.get(self.ip_to_circuit_id(destination[0]))
        except (OSError, TypeError, struct.error):
            return None
        if circuit is not None and circuit.state == CIRCUIT_STATE_READY \
                and circuit.ctype in (CIRCUIT_TYPE_RP_DOWNLOADER, CIRCUIT_TYPE_RP_SEEDER):
            return circuit
        return None

    # -- upkeep ----------------------------------------------------------------------------------------------

    def do_peer_discovery(self) -> None:
        """Look up the swarms that want connections (downloading, or services) and contact new seeders."""
        now = self._now()
        for info_hash, swarm in list(self.swarms.items()):
            wants_peers = not swarm.seeding or info_hash in self.services
            if not wants_peers or info_hash in self._lookups_running \
                    or swarm.last_lookup + self.settings.swarm_lookup_interval > now \
                    or swarm.get_num_connections() >= self.settings.swarm_connection_limit:
                continue
            self._lookups_running.add(info_hash)
            lookup = maybe_deferred(swarm.lookup)
            lookup.addCallback(self._on_swarm_lookup, info_hash, swarm)
            lookup.addErrback(lambda failure, ih=info_hash: self.logger.info(
                "Peer discovery for swarm %s failed: %s", ih.hex(), failure.getErrorMessage()))
            lookup.addBoth(lambda _, ih=info_hash: self._lookups_running.discard(ih))

    def _on_swarm_lookup(self, ips: list[IntroductionPoint] | None, info_hash: bytes, swarm: Swarm) -> None:
        if self.swarms.get(info_hash) is not swarm or ips is None:
            return
        self.logger.info("Found %d introduction point(s) for swarm %s", len(ips), info_hash.hex())
        for ip in set(ips):
            self.add_intro_point(swarm, ip)
        own_pk = swarm.seeder_sk.pub().key_to_bin() if swarm.seeding else None
        # Never more connections (made or in the making) than swarm_connection_limit, however many points we know.
        budget = self.settings.swarm_connection_limit - len(swarm.connections)
        for ip in list(swarm.intro_points):
            if budget <= 0:
                break
            if ip.seeder_pk != own_pk and not swarm.has_connection(ip.seeder_pk) \
                    and not self._e2e_pending(info_hash, ip.seeder_pk):
                self.create_e2e(info_hash, ip)
                budget -= 1

    def add_intro_point(self, swarm: Swarm, ip: IntroductionPoint) -> IntroductionPoint | None:
        """Add ``ip`` to ``swarm`` unless it knows ``max_swarm_intro_points`` already (counted)."""
        if ip not in swarm.intro_points and len(swarm.intro_points) >= self.settings.max_swarm_intro_points:
            swarm.remove_old_intro_points()
            if len(swarm.intro_points) >= self.settings.max_swarm_intro_points:
                self.drop_counts[DROP_HS_SWARM_FULL] += 1
                return None
        return swarm.add_intro_point(ip)

    def do_circuits(self) -> None:
        """Also keep a data circuit per swarm hop count (to reach introduction points), and an introduction
        point per registered service."""
        super().do_circuits()
        for hops in {swarm.hops for swarm in self.swarms.values()}:
            if not self.find_circuits(state=None, hops=hops):
                self.create_circuit(hops)
        for info_hash in list(self.services):
            if not any(c.ctype == CIRCUIT_TYPE_IP_SEEDER and c.info_hash == info_hash for c in self.circuits.values()):
                maybe_deferred(self.create_introduction_point, info_hash).addErrback(
                    lambda failure: self.logger.info("No introduction point: %s", failure.getErrorMessage()))

    def do_ping(self, exclude: list[int] | None = None) -> None:
        """Ping every circuit but the rendezvous ones (their far end is the other peer, not a hop of ours)."""
        skip = list(exclude or ())
        skip += [c.circuit_id for c in self.circuits.values()
                 if c.ctype == CIRCUIT_TYPE_RP_SEEDER or (c.ctype == CIRCUIT_TYPE_RP_DOWNLOADER and not c.e2e)]
        super().do_ping(exclude=skip)

    def get_max_time(self, circuit_id: int) -> float:
        """``max_time_ip`` for introduction circuits and the introduction points we serve, else ``max_time``."""
        circuit = self.circuits.get(circuit_id)
        if (circuit is not None and circuit.ctype == CIRCUIT_TYPE_IP_SEEDER) \
                or any(exit_socket.circuit_id == circuit_id for exit_socket, _ in self.intro_point_for.values()):
            return self.settings.max_time_ip
        return self.settings.max_time

    def remove_circuit(self, circuit_id: int, additional_info: str = "", remove_now: bool = False,
                       destroy: bool | int = False) -> Deferred:
        """Also forget the circuit in its swarm's connections."""
        circuit = self.circuits.get(circuit_id)
        if circuit is not None and circuit.ctype in (CIRCUIT_TYPE_RP_DOWNLOADER, CIRCUIT_TYPE_RP_SEEDER):
            swarm = self.swarms.get(circuit.info_hash) if circuit.info_hash else None
            if swarm is not None:
                swarm.remove_connection(circuit)
            self._e2e_peers.discard(circuit_id)
        return super().remove_circuit(circuit_id, additional_info, remove_now, destroy)

    def remove_exit_socket(self, circuit_id: int, additional_info: str = "", remove_now: bool = False,
                           destroy: bool | int = False) -> Deferred:
        """Also stop being an introduction or rendezvous point on that circuit (and drop idle PEX overlays)."""
        for seeder_pk, (exit_socket, info_hash) in list(self.intro_point_for.items()):
            if exit_socket.circuit_id == circuit_id:
                del self.intro_point_for[seeder_pk]
                pex = self.pex.get(info_hash)
                if pex is not None:
                    pex.stop_announce(seeder_pk)
                    if pex.done:
                        self._unload_pex(info_hash, pex)
        for cookie, exit_socket in list(self.rendezvous_point_for.items()):
            if exit_socket.circuit_id == circuit_id:
                del self.rendezvous_point_for[cookie]
        return super().remove_exit_socket(circuit_id, additional_info, remove_now, destroy)

    def _unload_pex(self, info_hash: bytes, pex: PexCommunity) -> None:
        self.pex.pop(info_hash, None)
        # The service's unload_overlay (MockIPv8's and pyipv8's too) also forgets the overlay's strategies.
        unload_overlay = getattr(self.ipv8, "unload_overlay", None)
        unloading = maybe_deferred(unload_overlay, pex) if unload_overlay is not None else maybe_deferred(pex.unload)
        unloading.addErrback(lambda failure: self.logger.warning("PEX unload: %s", failure))

    def unload(self) -> Deferred:
        """Unload the PEX overlays too."""
        for info_hash, pex in list(self.pex.items()):
            self._unload_pex(info_hash, pex)
        return super().unload()

    # -- sending packets as data -----------------------------------------------------------------------------

    def tunnel_data(self, circuit: Circuit | TunnelExitSocket, destination: Address, message_type: Any,
                    payload: bytes | str | None = None) -> bool:
        """Send through ``circuit`` (or back from an exit socket) to ``destination``.

        Two forms: the documented ``tunnel_data(circuit, destination, "data", payload)``, where an e2e
        ``destination`` (given to a swarm callback) is reached through its e2e circuit whatever ``circuit`` is;
        and pyipv8's ``tunnel_data(circuit, destination, payload_object)``, which sends one of our messages.
        """
        if payload is None and hasattr(message_type, "msg_id"):
            packet = self.ezr_pack(message_type.msg_id, message_type, sig=False)
            if isinstance(circuit, TunnelExitSocket):
                return self.send_data(circuit.hop.address, circuit.circuit_id, NO_ADDRESS, destination, packet)
            if circuit.hop is None:
                return False
            return self.send_data(circuit.hop.address, circuit.circuit_id, destination, NO_ADDRESS, packet)
        if destination is not None and len(destination) == 2 and destination[1] == CIRCUIT_ID_PORT:
            e2e = self._e2e_circuit(destination)
            if e2e is not None:
                circuit = e2e
        return super().tunnel_data(circuit, destination, message_type, payload)  # type: ignore[arg-type]

    def on_raw_data(self, circuit: Circuit, origin: Address, data: bytes) -> None:
        """Data on an e2e circuit of a registered service goes to its ``on_data``; the rest to the sinks."""
        service = self.services.get(circuit.info_hash) if circuit.info_hash else None
        if service is not None and circuit.ctype in (CIRCUIT_TYPE_RP_DOWNLOADER, CIRCUIT_TYPE_RP_SEEDER):
            callback, on_data = service
            address = (self.circuit_id_to_ip(circuit.circuit_id), CIRCUIT_ID_PORT)
            if circuit.circuit_id not in self._e2e_peers:
                # A downloader that reached our service: announce it as a peer, as the ones we find ourselves.
                self._e2e_peers.add(circuit.circuit_id)
                if callback is not None:
                    self._call_back(callback, address)
            if on_data is not None:
                self._call_back(on_data, address, data)
            return
        super().on_raw_data(circuit, origin, data)

    def _call_back(self, callback: Callable[..., Any], *args: Any) -> None:
        maybe_deferred(callback, *args).addErrback(
            lambda failure: self.logger.error("Hidden-services callback failed: %s", failure.getTraceback()))

    # -- introduction points ---------------------------------------------------------------------------------

    async def create_introduction_point(self, info_hash: bytes, required_ip: Peer | None = None) -> None:
        """Build a circuit (one hop longer than the swarm's) and ask its exit to introduce us for ``info_hash``."""
        swarm = self.swarms.get(info_hash)
        if swarm is None or not swarm.seeding:
            self.logger.warning("Cannot create an introduction point: not seeding %s", info_hash.hex())
            return
        circuit = self.create_circuit_for_infohash(info_hash, CIRCUIT_TYPE_IP_SEEDER, required_exit=required_ip)
        if circuit is None or await circuit.ready is None or circuit.hop is None:
            return
        cache = self.request_cache.add(IPRequestCache(self, circuit))
        if cache is None:
            return
        self.send_cell(circuit.hop.address, EstablishIntroPayload(circuit.circuit_id, cache.number, info_hash,
                                                                  swarm.seeder_sk.pub().key_to_bin()))

    @unpack_cell(EstablishIntroPayload)
    def on_establish_intro(self, source_address: Address, payload: EstablishIntroPayload,
                           circuit_id: int | None) -> None:
        """Become the introduction point of a seeder whose circuit we exit."""
        exit_socket = self.exit_sockets.get(circuit_id) if circuit_id is not None else None
        seeder_pk = payload.public_key
        if exit_socket is None or seeder_pk in self.intro_point_for or not self._usable_key(seeder_pk) \
                or len(seeder_pk) > MAX_KEY_SIZE or tuple(source_address) != tuple(exit_socket.hop.address) \
                or len(self.intro_point_for) >= self.settings.max_intro_points_served \
                or any(other is exit_socket for other, _ in self.intro_point_for.values()):
            self.drop_counts[DROP_HS_INTRO_REFUSED] += 1
            return
        self.intro_point_for[seeder_pk] = (exit_socket, payload.info_hash)
        pex = self.pex.get(payload.info_hash) or self._load_pex(payload.info_hash)
        if pex is not None:
            pex.start_announce(seeder_pk)
        # Answer first: the announcement's first DHT requests (signed) would otherwise delay the seeder's reply.
        self.send_cell(source_address, IntroEstablishedPayload(exit_socket.circuit_id, payload.identifier))
        me = Peer(self.my_peer.key, self.my_estimated_wan)
        self.dht_announce(payload.info_hash, IntroductionPoint(me, seeder_pk, clock=self.clock))

    def _load_pex(self, info_hash: bytes) -> PexCommunity | None:
        if self.ipv8 is None:
            return None
        from ...peerdiscovery.churn import RandomChurn
        from ...peerdiscovery.discovery import RandomWalk
        from ...peerdiscovery.network import Network
        pex = PexCommunity(PexSettings(my_peer=self.my_peer, endpoint=self.endpoint, network=Network(),
                                       info_hash=info_hash, clock=self.clock))
        bootstrappers = self.settings.pex_bootstrappers
        pex.bootstrappers = list(bootstrappers if bootstrappers is not None else self.bootstrappers)
        pex.borrowed_bootstrappers = True  # shared with us (or other PEX overlays): unloading PEX must spare them
        # With few peers the walker would step every half second; PEX needs far less.
        self.ipv8.add_strategy(pex, RandomWalk(pex, target_interval=5), 10)
        self.ipv8.add_strategy(pex, RandomChurn(pex), -1)
        if pex not in self.ipv8.overlays:  # add_strategy registers it already (the IPv8 service and pyipv8's)
            self.ipv8.overlays.append(pex)
        self.pex[info_hash] = pex
        return pex

    @unpack_cell(IntroEstablishedPayload)
    def on_intro_established(self, source_address: Address, payload: IntroEstablishedPayload,
                             circuit_id: int | None) -> None:
        """Our introduction point is in place."""
        cache = self.request_cache.get(IPRequestCache, payload.identifier)
        if cache is None or cache.circuit.circuit_id != circuit_id:
            self.drop_counts[DROP_HS_UNEXPECTED_REPLY] += 1
            return
        self.request_cache.pop(IPRequestCache, payload.identifier)
        self.logger.info("Introduction point ready on circuit %d", circuit_id)

    # -- rendezvous points -----------------------------------------------------------------------------------

    async def create_rendezvous_point(self, info_hash: bytes) -> RendezvousPoint | None:
        """Build a circuit and ask its exit to be a rendezvous point; None if that fails."""
        circuit = self.create_circuit_for_infohash(info_hash, CIRCUIT_TYPE_RP_SEEDER)
        if circuit is None or await circuit.ready is None or circuit.hop is None:
            return None
        rp = RendezvousPoint(circuit, os.urandom(20))
        cache = self.request_cache.add(RPRequestCache(self, rp))
        if cache is None:
            return None
        self.send_cell(circuit.hop.address, EstablishRendezvousPayload(circuit.circuit_id, cache.number, rp.cookie))
        return rp

    @unpack_cell(EstablishRendezvousPayload)
    def on_establish_rendezvous(self, source_address: Address, payload: EstablishRendezvousPayload,
                                circuit_id: int | None) -> None:
        """Become a rendezvous point for a circuit we exit."""
        exit_socket = self.exit_sockets.get(circuit_id) if circuit_id is not None else None
        if exit_socket is None or payload.cookie in self.rendezvous_point_for \
                or tuple(source_address) != tuple(exit_socket.hop.address) \
                or len(self.rendezvous_point_for) >= self.settings.max_rendezvous_points:
            self.drop_counts[DROP_HS_RENDEZVOUS_REFUSED] += 1
            return
        if self._used_cookies.seen(payload.cookie, self._now()):
            self.drop_counts[DROP_HS_REUSED_COOKIE] += 1
            return
        self.rendezvous_point_for[payload.cookie] = exit_socket
        self.send_cell(source_address, RendezvousEstablishedPayload(exit_socket.circuit_id, payload.identifier,
                                                                    self.my_estimated_wan))

    @unpack_cell(RendezvousEstablishedPayload)
    def on_rendezvous_established(self, source_address: Address, payload: RendezvousEstablishedPayload,
                                  circuit_id: int | None) -> None:
        """Our rendezvous point is in place."""
        cache = self.request_cache.get(RPRequestCache, payload.identifier)
        if cache is None or cache.rp.circuit.circuit_id != circuit_id:
            self.drop_counts[DROP_HS_UNEXPECTED_REPLY] += 1
            return
        self.request_cache.pop(RPRequestCache, payload.identifier)
        cache.rp.address = payload.rendezvous_point_addr
        cache.rp.set_ready(True)


__all__ = ["DROP_HS_BAD_E2E", "DROP_HS_BAD_PEER", "DROP_HS_E2E_LIMIT", "DROP_HS_INTRO_REFUSED",
           "DROP_HS_PEERS_REFUSED", "DROP_HS_RENDEZVOUS_REFUSED", "DROP_HS_REPLAYED_E2E", "DROP_HS_REUSED_COOKIE",
           "DROP_HS_SWARM_FULL", "DROP_HS_UNEXPECTED_E2E", "DROP_HS_UNEXPECTED_REPLY", "DROP_HS_UNKNOWN_COOKIE",
           "DROP_HS_UNKNOWN_SEEDER", "E2ERequestCache", "HiddenTunnelCommunity", "HiddenTunnelSettings",
           "LinkRequestCache", "PeersRequestCache"]
