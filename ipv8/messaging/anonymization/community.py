"""The TunnelCommunity: onion-routed circuits, relays and exits, wire-compatible with pyipv8 3.2.1.

A node builds *circuits* of one or more hops through other peers (``build_tunnels(hops)`` keeps a pool of them)
and sends data through them (``tunnel_data`` / ``send_data``); the last hop, the *exit*, sends that data to its
UDP destination and tunnels the answers back. Every hop only knows its neighbours in the circuit, and every
cell carries one layer of encryption per hop (:mod:`~ipv8.messaging.anonymization.crypto`).

The same community also serves others, depending on its peer flags (``TunnelSettings.peer_flags``, announced in
the extra bytes of its introduction requests and responses): with any flag it joins circuits that others build,
with ``PEER_FLAG_RELAY`` it extends them further (it relays), and with ``PEER_FLAG_EXIT_BT`` or
``PEER_FLAG_EXIT_IPV8`` it lets their BitTorrent or IPv8 traffic out to the internet (see
:mod:`~ipv8.messaging.anonymization.exit_socket` for the exit policy). Exiting traffic for strangers may have
legal consequences for whoever runs the exit: only set the exit flags knowingly.

The code is split by concern: :mod:`._cells` sends, relays and opens cells; :mod:`._circuits` builds, joins,
extends and removes circuits; this module holds the settings, the upkeep, data, pings, speed tests and the
wiring.
Everything the network sends is treated as hostile: refused packets are counted in ``drop_counts`` (the
``DROP_TUNNEL_*`` reasons of :mod:`._cells` and :mod:`._circuits`), tables are capped (``max_joined_circuits``)
and every circuit, relay and exit expires (``max_time``, ``max_time_inactive``, ``max_traffic``).
"""
from __future__ import annotations

import functools
import os
from collections import defaultdict
# Collection is needed at run time: the configuration checker reads the peer_flags setter's annotation.
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from zope.interface import implementer

from ...community import Community, CommunitySettings
from ...requestcache import RequestCache
from ...util import maybe_deferred
from ..serialization import PackError, Serializer
from ._cells import CellHandler, CellMixin
from ._circuits import CircuitMixin
from .caches import PingRequestCache, TestRequestCache
from .crypto import TunnelCrypto
from .endpoint import ITunnelEndpoint
from .exit_socket import (
    DataChecker,
    ExitPolicy,
    HostResolver,
    IExitDataReceiver,
    TunnelExitSocket,
)
from .interfaces import IRawDataSink
from .payload import (
    CellPayload,
    CreatedPayload,
    CreatePayload,
    DataPayload,
    DestroyPayload,
    ExtendedPayload,
    ExtendPayload,
    PingPayload,
    PongPayload,
    TestRequestPayload,
    TestResponsePayload,
    add_tunnel_formats,
    peer_flags_from_extra_bytes,
    peer_flags_to_extra_bytes,
)
from .tunnel import (
    CIRCUIT_STATE_CLOSING,
    CIRCUIT_STATE_EXTENDING,
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_DATA,
    CIRCUIT_TYPE_RP_DOWNLOADER,
    CIRCUIT_TYPE_RP_SEEDER,
    DESTROY_REASON_SHUTDOWN,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
    PING_INTERVAL,
    Circuit,
    Hop,
)

if TYPE_CHECKING:
    from ...peer import Peer
    from ...types import Address

#: Introduction extra bytes that do not hold peer flags (the peer is then taken to have none).
DROP_TUNNEL_BAD_PEER_FLAGS = "tunnel-bad-peer-flags"
#: Data for a circuit id we do not exit, or from the wrong peer, or without a destination.
DROP_TUNNEL_BAD_DATA = "tunnel-bad-data"
#: An IPv8 packet of another community that came out of a circuit (no TunnelEndpoint to hand it to).
DROP_TUNNEL_OTHER_COMMUNITY = "tunnel-data-for-other-community"
#: A ping, pong, test-request or test-response that matches nothing of ours.
DROP_TUNNEL_UNEXPECTED_PING = "tunnel-unexpected-ping"
#: A ping or test-request on a circuit we exit, from another address than the circuit's previous hop: answering
#: it would reflect (and, for a test-request, amplify) traffic towards a forged source address.
DROP_TUNNEL_WRONG_NEIGHBOUR = "tunnel-wrong-neighbour"
#: Non-IPv8 data back on one of our circuits that no raw-data sink (e.g. the SOCKS5 dispatcher) claims.
DROP_TUNNEL_UNCLAIMED_DATA = "tunnel-unclaimed-data"

NO_ADDRESS = ("0.0.0.0", 0)
#: Bytes a test-response may carry at most (a test-request names the size it wants).
MAX_TEST_RESPONSE_SIZE = 65535


class TunnelSettings(CommunitySettings):
    """Settings of :class:`TunnelCommunity`; the names and defaults are pyipv8 3.2.1's.

    Pass them as keyword arguments (``TunnelSettings(max_circuits=2, peer_flags={PEER_FLAG_RELAY})``) or set
    them as attributes.
    """

    #: Circuits of a hop count that make ``tunnels_ready`` (as the documentation describes it) reach 1.0.
    min_circuits: int = 1
    #: Circuits that ``build_tunnels(hops)`` keeps for that hop count.
    max_circuits: int = 8
    #: Circuits of others we take part in at most (as relay or exit); more creates are refused.
    max_joined_circuits: int = 100
    #: Seconds a circuit (or an exit) exists at most.
    max_time: float = 60 * 60
    #: Seconds a hidden-services introduction point exists at most.
    max_time_ip: float = 24 * 60 * 60
    #: Seconds without traffic after which a circuit, relay or exit is removed.
    max_time_inactive: float = 20
    #: Bytes after which a circuit, relay or exit is removed.
    max_traffic: int = 10 * 1024 ** 3
    #: Seconds that building one circuit may take; with ``next_hop_timeout`` it gives the tries per hop.
    circuit_timeout: float = 60
    #: Seconds after joining a circuit during which its initiator may still ask us to extend it.
    unstable_timeout: float = 60
    #: Seconds that adding one hop may take before another candidate is tried.
    next_hop_timeout: float = 10
    #: Seconds between looking up introduction points of a swarm (hidden services).
    swarm_lookup_interval: float = 30
    #: Connections per swarm at most (hidden services).
    swarm_connection_limit: int = 15
    #: Seconds a removed circuit, relay or exit is kept, so that late cells still find it.
    remove_tunnel_delay: float = 5
    #: The DHT used to find peers an extend names (``DHTCommunityProvider``); None: no lookups.
    dht_provider: Any = None
    #: The local address exit sockets bind to (txipv8; ``"::"`` for dual stack, ``127.0.0.1`` for local tests).
    exit_interface: str = "0.0.0.0"
    #: What opens exit sockets' UDP ports (an ``IReactorUDP``; txipv8): the reactor unless given. Tests pass a fake.
    exit_reactor: Any = None
    #: Resolves host names for exit sockets (txipv8); a :class:`HostResolver` on the community's clock if None.
    exit_resolver: HostResolver | None = None

    _default_peer_flags = frozenset({PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST})
    _default_max_relay_early = 8

    @property
    def peer_flags(self) -> set[int]:
        """Our peer flags (``PEER_FLAG_*``): what we do for others. Default: relay and answer speed tests."""
        flags = self.__dict__.get("_peer_flags")
        if flags is None:
            # Each settings object gets its own set, so changing it in place never changes the defaults.
            flags = self.__dict__["_peer_flags"] = set(self._default_peer_flags)
        return flags

    @peer_flags.setter
    def peer_flags(self, value: Collection[int]) -> None:
        self.__dict__["_peer_flags"] = set(value)
        if hasattr(getattr(self, "endpoint", None), "set_peer_flags"):
            self.endpoint.set_peer_flags(self.__dict__["_peer_flags"])

    @property
    def max_relay_early(self) -> int:
        """How many relay_early cells a relay lets through per circuit (0 or less: refuse every cell)."""
        return self.__dict__.get("_max_relay_early", self._default_max_relay_early)

    @max_relay_early.setter
    def max_relay_early(self, value: int) -> None:
        self.__dict__["_max_relay_early"] = value
        if hasattr(getattr(self, "endpoint", None), "set_max_relay_early"):
            self.endpoint.set_max_relay_early(value)

    @property
    def become_exitnode(self) -> bool:
        """The documentation's switch: whether we exit BitTorrent traffic (``PEER_FLAG_EXIT_BT``) for others."""
        return PEER_FLAG_EXIT_BT in self.peer_flags

    @become_exitnode.setter
    def become_exitnode(self, value: bool) -> None:
        flags = set(self.peer_flags)
        if value:
            flags |= {PEER_FLAG_EXIT_BT, PEER_FLAG_RELAY}  # exits also relay, for older initiators
        else:
            flags.discard(PEER_FLAG_EXIT_BT)
        self.peer_flags = flags


def unpack_cell(payload_cls: type) -> Callable[[Callable[..., Any]], CellHandler]:
    """Decorate a cell handler ``(self, source_address, payload, circuit_id)`` to receive the decoded payload.

    The undecorated form, which :meth:`TunnelCommunity.add_cell_handler` registers, receives the packet bytes.
    """
    def decorator(func: Callable[..., Any]) -> CellHandler:
        @functools.wraps(func)
        def wrapper(self: TunnelCommunity, source_address: Address, data: bytes, circuit_id: int | None = None) -> Any:
            payload = self.serializer.unpack_serializable(payload_cls, data, offset=23)[0]
            return func(self, source_address, payload, circuit_id)
        return wrapper  # type: ignore[return-value]
    return decorator


@implementer(IExitDataReceiver)
class TunnelCommunity(CellMixin, CircuitMixin, Community):
    """Builds circuits, sends data through them, and relays and exits for others; see the module documentation."""

    version = b"\x02"
    community_id = bytes.fromhex("81ded07332bdc775aa5a46f96de9f8f390bbc9f3")
    settings_class = TunnelSettings

    def __init__(self, settings: TunnelSettings) -> None:
        """Create the tables, the crypto and the periodic upkeep (every 5 s) and pings (every 7.5 s)."""
        self.settings = settings
        super().__init__(settings)
        self.dht_provider = settings.dht_provider
        self.request_cache = RequestCache(self._reactor)
        #: Our circuits by circuit id.
        self.circuits: dict[int, Circuit] = {}
        #: Relay routes by the circuit id their cells arrive with (two per relayed circuit).
        self.relay_from_to: dict = {}
        #: The circuits we joined and did not extend (yet), by circuit id.
        self.exit_sockets: dict[int, TunnelExitSocket] = {}
        #: Hop count -> circuits wanted (set by :meth:`build_tunnels`).
        self.circuits_needed: dict[int, int] = defaultdict(int)
        #: Peers of this community -> the flags they announced.
        self.candidates: dict[Peer, list[int]] = {}
        self.decode_map_private: dict[int, CellHandler] = {}

        self.crypto: TunnelCrypto = TunnelCrypto()  # type: ignore[assignment]
        self.crypto.initialize(self.my_peer.key)
        self.exit_policy = ExitPolicy(lambda: self.settings.peer_flags, self.get_prefix())
        self.exit_resolver = settings.exit_resolver or HostResolver(clock=self.clock)

        # Two messages travel bare (cells themselves, and the signed destroy); the rest inside cells.
        self.add_message_handler(CellPayload.msg_id, self.on_cell)
        self.add_message_handler(DestroyPayload, self.on_destroy)
        for payload_class, handler in ((DataPayload, self.on_data), (CreatePayload, self.on_create),
                                       (CreatedPayload, self.on_created), (ExtendPayload, self.on_extend),
                                       (ExtendedPayload, self.on_extended), (PingPayload, self.on_ping),
                                       (PongPayload, self.on_pong), (TestRequestPayload, self.on_test_request),
                                       (TestResponsePayload, self.on_test_response)):
            self.add_cell_handler(payload_class, handler)

        self.logger.info("Exit settings: BT=%s, IPv8=%s", PEER_FLAG_EXIT_BT in settings.peer_flags,
                         PEER_FLAG_EXIT_IPV8 in settings.peer_flags)
        self.register_task("do_circuits", self.do_circuits, interval=5, delay=0)
        self.register_task("do_ping", self.do_ping, interval=PING_INTERVAL)
        if ITunnelEndpoint.providedBy(self.endpoint):
            # Anonymized communities on our endpoint send through our circuits; our own cells go out directly.
            self.endpoint.set_tunnel_community(self)
            self.endpoint.set_anonymity(self._prefix, False)

    def get_serializer(self) -> Serializer:
        """The community's serializer, which also knows the ``flags`` format."""
        return add_tunnel_formats(super().get_serializer())

    def add_cell_handler(self, payload_cls: type, handler: CellHandler) -> None:
        """Deliver cells whose inner message is ``payload_cls`` to ``handler(source_address, packet, circuit_id)``."""
        self.decode_map_private[payload_cls.msg_id] = handler

    def unload(self) -> Deferred:
        """Tear down every circuit, relay and exit (telling the neighbours), then stop."""
        # maybe_deferred: a destroy that cannot be sent (the network is going down too) must not stop the unload.
        closing = [maybe_deferred(remove, circuit_id, "unload", remove_now=True, destroy=DESTROY_REASON_SHUTDOWN)
                   for table, remove in ((self.circuits, self.remove_circuit), (self.relay_from_to, self.remove_relay),
                                         (self.exit_sockets, self.remove_exit_socket))
                   for circuit_id in list(table)]
        done = gatherResults(closing, consumeErrors=True)
        done.addBoth(lambda _: self.request_cache.shutdown())
        done.addBoth(lambda _: super(TunnelCommunity, self).unload())
        return done

    # -- peer flags in introductions -------------------------------------------------------------------------

    def create_introduction_request(self, socket_address: Address, extra_bytes: bytes = b"",
                                    new_style: bool = False, prefix: bytes | None = None) -> bytes:
        """An introduction request that announces our peer flags."""
        return super().create_introduction_request(socket_address, peer_flags_to_extra_bytes(self.settings.peer_flags),
                                                   new_style, prefix)

    def create_introduction_response(self, lan_socket_address: Address, socket_address: Address, identifier: int,
                                     introduction: Peer | None = None, extra_bytes: bytes = b"",
                                     prefix: bytes | None = None, new_style: bool = False) -> bytes:
        """An introduction response that announces our peer flags."""
        return super().create_introduction_response(lan_socket_address, socket_address, identifier, introduction,
                                                    peer_flags_to_extra_bytes(self.settings.peer_flags), prefix,
                                                    new_style)

    def extract_peer_flags(self, extra_bytes: bytes) -> list[int]:
        """The peer flags in introduction ``extra_bytes`` (none if they hold no flags; counted)."""
        try:
            return peer_flags_from_extra_bytes(extra_bytes)
        except PackError:
            self.drop_counts[DROP_TUNNEL_BAD_PEER_FLAGS] += 1
            return []

    def introduction_request_callback(self, peer: Peer, dist: Any, payload: Any) -> None:
        """Remember the flags of a peer that walked to us."""
        self.candidates[peer] = self.extract_peer_flags(payload.extra_bytes)

    def introduction_response_callback(self, peer: Peer, dist: Any, payload: Any) -> None:
        """Remember the flags of a peer we walked to."""
        self.candidates[peer] = self.extract_peer_flags(payload.extra_bytes)

    # -- the circuit pool ------------------------------------------------------------------------------------

    def build_tunnels(self, hops: int) -> None:
        """Keep ``max_circuits`` circuits of ``hops`` hops from now on (built at once and by the upkeep)."""
        if hops > 0:
            self.circuits_needed[hops] = self.settings.max_circuits
            self.do_circuits()

    def tunnels_ready(self, hops: int) -> float:
        """The fraction of the wanted circuits of ``hops`` hops that are READY (1.0 if none are wanted)."""
        if hops > 0 and self.circuits_needed.get(hops, 0):
            return len(self.find_circuits(hops=hops)) / float(self.circuits_needed[hops])
        return 1.0

    def find_circuits(self, ctype: str | None = CIRCUIT_TYPE_DATA, state: str | None = CIRCUIT_STATE_READY,
                      exit_flags: Collection[int] | None = None, hops: int | None = None) -> list[Circuit]:
        """Our circuits of a type and state (None: any), whose exit has ``exit_flags``, of ``hops`` hops."""
        return [c for c in self.circuits.values()
                if (state is None or c.state == state) and (ctype is None or c.ctype == ctype)
                and (exit_flags is None or set(exit_flags) <= set(c.exit_flags))
                and (hops is None or hops == c.goal_hops)]

    def active_data_circuits(self, hops: int | None = None) -> list[Circuit]:
        """The READY data circuits (of ``hops`` hops if given): the documentation's name."""
        return self.find_circuits(hops=hops)

    # -- upkeep ----------------------------------------------------------------------------------------------

    def get_max_time(self, circuit_id: int) -> float:
        """Seconds the circuit (or exit) ``circuit_id`` may exist (``max_time``; hidden services differ)."""
        return self.settings.max_time

    def do_circuits(self) -> None:
        """Build the circuits that ``build_tunnels`` asked for, then enforce the limits (:meth:`do_remove`)."""
        for hops, wanted in list(self.circuits_needed.items()):
            missing = max(0, wanted - len(self.find_circuits(state=None, hops=hops)))
            for _ in range(missing):
                if self.create_circuit(hops) is None:
                    break
        self.do_remove()

    def do_remove(self) -> None:
        """Remove what is idle for ``max_time_inactive``, older than ``max_time`` or over ``max_traffic``."""
        settings = self.settings
        for circuit_id, circuit in list(self.circuits.items()):
            if circuit.state == CIRCUIT_STATE_CLOSING:
                continue
            if circuit.state == CIRCUIT_STATE_READY and circuit.idle_time() > settings.max_time_inactive:
                self.remove_circuit(circuit_id, "no activity")
            elif circuit.age() > self.get_max_time(circuit_id):
                self.remove_circuit(circuit_id, "too old")
            elif circuit.total_bytes > settings.max_traffic:
                self.remove_circuit(circuit_id, "traffic limit exceeded", destroy=True)
        for circuit_id, route in list(self.relay_from_to.items()):
            if self.is_pending_task_active(("remove-relay", circuit_id)):
                continue
            if route.idle_time() > settings.max_time_inactive:
                self.remove_relay(circuit_id, "no activity")
            elif route.total_bytes > settings.max_traffic:
                self.remove_relay(circuit_id, "traffic limit exceeded", destroy=True)
        for circuit_id, exit_socket in list(self.exit_sockets.items()):
            if self.is_pending_task_active(("remove-exit", circuit_id)):
                continue
            if exit_socket.idle_time() > settings.max_time_inactive:
                self.remove_exit_socket(circuit_id, "no activity")
            elif exit_socket.age() > self.get_max_time(circuit_id):
                self.remove_exit_socket(circuit_id, "too old")
            elif exit_socket.total_bytes > settings.max_traffic:
                self.remove_exit_socket(circuit_id, "traffic limit exceeded", destroy=True)
        # Flags of peers that left the community are forgotten (this also bounds the table).
        current = set(self.get_peers())
        for peer in [peer for peer in self.candidates if peer not in current]:
            del self.candidates[peer]

    # -- data ------------------------------------------------------------------------------------------------

    def create_exit_socket(self, circuit_id: int, hop: Hop) -> TunnelExitSocket:
        """The exit socket for a circuit we joined (not listening until its first data arrives)."""
        return TunnelExitSocket(circuit_id, hop, self, self.exit_policy, interface=self.settings.exit_interface,
                                resolver=self.exit_resolver, reactor=self.settings.exit_reactor, clock=self.clock)

    def send_data(self, target: Address, circuit_id: int, dest_address: Address, source_address: Address,
                  data: bytes) -> bool:
        """Send a data cell on ``circuit_id`` to ``target`` (the first hop, or the previous hop from an exit)."""
        sent = self._send_data_fast(target, circuit_id, dest_address, source_address, data)  # our circuits, fast
        if sent is not None:
            return sent
        return self.send_cell(target, DataPayload(circuit_id, dest_address, source_address, data))

    def tunnel_data(self, circuit: Circuit, destination: Address, message_type: str, payload: bytes | str) -> bool:
        """Send ``payload`` through ``circuit``; its exit sends it to ``destination`` (the documented interface).

        :param message_type: ``"data"``, the only kind there is.
        :raises ValueError: for another message type.
        """
        if message_type != "data":
            raise ValueError(f"tunnel_data sends 'data', not {message_type!r}")
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if circuit.hop is None:
            return False
        return self.send_data(circuit.hop.address, circuit.circuit_id, destination, NO_ADDRESS, payload)

    #: The registered :class:`~ipv8.messaging.anonymization.interfaces.IRawDataSink` providers, in order. A tuple,
    #: replaced (never changed in place) by :meth:`add_raw_data_sink` / :meth:`remove_raw_data_sink`, so that a sink
    #: may remove itself while :meth:`on_raw_data` is iterating; the class-level empty tuple means "none yet".
    raw_data_sinks: tuple[IRawDataSink, ...] = ()

    def add_raw_data_sink(self, sink: IRawDataSink) -> None:
        """Give non-IPv8 data that comes back through our circuits to ``sink`` too (after the earlier sinks).

        :raises TypeError: if ``sink`` does not provide :class:`~ipv8.messaging.anonymization.interfaces.IRawDataSink`.
        """
        if not IRawDataSink.providedBy(sink):
            msg = f"a raw data sink must provide IRawDataSink, got {type(sink).__name__}"
            raise TypeError(msg)
        if sink not in self.raw_data_sinks:
            self.raw_data_sinks = (*self.raw_data_sinks, sink)

    def remove_raw_data_sink(self, sink: IRawDataSink) -> bool:
        """Stop giving data to ``sink``; False if it was not registered."""
        if sink not in self.raw_data_sinks:
            return False
        self.raw_data_sinks = tuple(other for other in self.raw_data_sinks if other is not sink)
        return True

    #: Other TunnelEndpoints whose anonymized communities send through our circuits (e.g. the endpoint of each
    #: pseudonym, which has a socket of its own): IPv8 packets for their prefixes that come back through our
    #: circuits are handed to them. Replaced, never changed in place, like :attr:`raw_data_sinks`.
    tunnel_endpoints: tuple[Any, ...] = ()

    def add_tunnel_endpoint(self, endpoint: Any) -> None:
        """Hand the IPv8 packets for ``endpoint``'s anonymized communities that come out of our circuits to it."""
        if endpoint not in self.tunnel_endpoints:
            self.tunnel_endpoints = (*self.tunnel_endpoints, endpoint)

    def remove_tunnel_endpoint(self, endpoint: Any) -> None:
        """Stop handing packets to ``endpoint`` (nothing happens if it was not added)."""
        self.tunnel_endpoints = tuple(other for other in self.tunnel_endpoints if other is not endpoint)

    def on_raw_data(self, circuit: Circuit, origin: Address, data: bytes) -> None:
        """``data`` came back through ``circuit`` from ``origin`` (seen from the exit): hand it to the sinks.

        The first sink that claims it ends the search; data nobody claims is counted as
        ``DROP_TUNNEL_UNCLAIMED_DATA``. Subclasses may still override this method to take the data themselves.
        """
        for sink in self.raw_data_sinks:
            try:
                if sink.on_raw_data(circuit, origin, data):
                    return
            except Exception:
                # One broken sink must not take down the data path of the circuit (or of the other sinks).
                self.logger.exception("Raw data sink %r failed on data from %s", sink, origin)
        self.drop_counts[DROP_TUNNEL_UNCLAIMED_DATA] += 1

    def on_data(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> None:
        """A data cell: the answer on one of our circuits, or data for us to exit."""
        payload = self.serializer.unpack_serializable(DataPayload, data, offset=23)[0]
        circuit = self.circuits.get(payload.circuit_id)
        if circuit is not None and circuit.hop is not None and tuple(source_address) == tuple(circuit.hop.address):
            circuit.beat_heart()
            body = payload.data
            if DataChecker.could_be_ipv8(body) and circuit.ctype not in (CIRCUIT_TYPE_RP_DOWNLOADER,
                                                                          CIRCUIT_TYPE_RP_SEEDER):
                if body[:22] == self._prefix:
                    self.on_packet_from_circuit(payload.org_address, body, payload.circuit_id)
                elif (owner := next((endpoint for endpoint in self.tunnel_endpoints
                                     if endpoint.is_anonymized(body[:22])), None)) is not None:
                    owner.notify_listeners((payload.org_address, body), from_tunnel=True)
                elif ITunnelEndpoint.providedBy(self.endpoint):
                    # An anonymized community on our endpoint gets its answer (the endpoint checks which).
                    self.endpoint.notify_listeners((payload.org_address, body), from_tunnel=True)
                else:
                    self.drop_counts[DROP_TUNNEL_OTHER_COMMUNITY] += 1
                return
            self.on_raw_data(circuit, payload.org_address, body)
            return
        if tuple(payload.dest_address) == NO_ADDRESS:
            self.drop_counts[DROP_TUNNEL_BAD_DATA] += 1
            return
        self.exit_data(payload.circuit_id, source_address, payload.dest_address, payload.data)

    def exit_data(self, circuit_id: int, sock_addr: Address, destination: Address, data: bytes) -> None:
        """Send ``data`` out of the exit socket of ``circuit_id`` (opening it on the first data from its hop)."""
        exit_socket = self.exit_sockets.get(circuit_id)
        if exit_socket is None:
            self.drop_counts[DROP_TUNNEL_BAD_DATA] += 1
            return
        if not exit_socket.enabled:
            # Only the previous hop of the circuit may open the port (the data came on its keys anyway).
            if sock_addr[0] != exit_socket.hop.address[0]:
                self.drop_counts[DROP_TUNNEL_BAD_DATA] += 1
                return
            exit_socket.enable()
        exit_socket.sendto(data, destination)

    def on_exit_data(self, circuit_id: int, source: Address, data: bytes) -> None:
        """A datagram came back to the exit socket of ``circuit_id``: tunnel it to the circuit's initiator."""
        exit_socket = self.exit_sockets.get(circuit_id)
        if exit_socket is not None:
            self.send_data(exit_socket.hop.address, circuit_id, NO_ADDRESS, source, data)

    async def dht_peer_lookup(self, mid: bytes, peer: Peer | None = None) -> None:
        """Ask the DHT provider where the peer with ``mid`` is (connecting happens in the background)."""
        if self.dht_provider is not None:
            await self.dht_provider.peer_lookup(mid, peer)

    # -- pings -----------------------------------------------------------------------------------------------

    def send_ping(self, circuit: Circuit) -> Deferred:
        """Ping through ``circuit`` (answered by its last hop): fires with the round trip, or None on timeout."""
        cache = self.request_cache.add(PingRequestCache(self, circuit))
        if cache is None or circuit.hop is None:
            return succeed(None)
        self.send_cell(circuit.hop.address, PingPayload(circuit.circuit_id, cache.number))
        return cache.deferred

    def do_ping(self, exclude: list[int] | None = None) -> None:
        """Ping every circuit that has a hop, so that idle circuits (and their relays and exit) stay alive."""
        for circuit in list(self.circuits.values()):
            if circuit.state in (CIRCUIT_STATE_READY, CIRCUIT_STATE_EXTENDING) and circuit.hops \
                    and circuit.circuit_id not in (exclude or ()):
                self.send_ping(circuit).addErrback(lambda _: None)  # cancelled on unload: nothing to do

    def on_ping(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> None:
        """Answer a ping that reached the end of a circuit."""
        payload = self.serializer.unpack_serializable(PingPayload, data, offset=23)[0]
        exit_socket = self.exit_sockets.get(payload.circuit_id)
        if exit_socket is None and payload.circuit_id not in self.circuits:
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_PING] += 1
            return
        if exit_socket is not None:
            if tuple(source_address) != tuple(exit_socket.hop.address):
                self.drop_counts[DROP_TUNNEL_WRONG_NEIGHBOUR] += 1
                return
            exit_socket.beat_heart()
        self.send_cell(source_address, PongPayload(payload.circuit_id, payload.identifier))

    def on_pong(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> None:
        """A pong answers one of our pings."""
        payload = self.serializer.unpack_serializable(PongPayload, data, offset=23)[0]
        cache = self.request_cache.get(PingRequestCache, payload.identifier)
        if cache is None or (cache.circuit is not None and cache.circuit.circuit_id != payload.circuit_id):
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_PING] += 1
            return
        self.request_cache.pop(PingRequestCache, payload.identifier)
        circuit = self.circuits.get(payload.circuit_id)
        if circuit is not None:
            circuit.beat_heart()
        cache.complete()

    # -- speed tests -----------------------------------------------------------------------------------------

    def send_test_request(self, circuit: Circuit, request_size: int = 0, response_size: int = 0) -> Deferred:
        """Send ``request_size`` random bytes to the circuit's exit and ask for ``response_size`` back.

        :returns: a Deferred firing with ``(data, round trip in seconds)``, or failing with
            :class:`~ipv8.messaging.anonymization.caches.TestTimeoutError`.
        """
        if circuit.hop is None:
            return fail(ValueError("the circuit has no hop yet"))
        cache = self.request_cache.add(TestRequestCache(self, circuit))
        if cache is None:
            return fail(RuntimeError("too many requests outstanding"))
        self.send_cell(circuit.hop.address, TestRequestPayload(circuit.circuit_id, cache.number, response_size,
                                                               os.urandom(request_size)))
        return cache.deferred

    def on_test_request(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> None:
        """Answer a speed test that reached the end of a circuit (with PEER_FLAG_SPEED_TEST)."""
        payload = self.serializer.unpack_serializable(TestRequestPayload, data, offset=23)[0]
        exit_socket = self.exit_sockets.get(payload.circuit_id)
        circuit = self.circuits.get(payload.circuit_id)
        if PEER_FLAG_SPEED_TEST not in self.settings.peer_flags or (
                exit_socket is None and not (circuit and circuit.ctype in (CIRCUIT_TYPE_RP_SEEDER,
                                                                           CIRCUIT_TYPE_RP_DOWNLOADER))):
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_PING] += 1
            return
        if exit_socket is not None:
            if tuple(source_address) != tuple(exit_socket.hop.address):
                self.drop_counts[DROP_TUNNEL_WRONG_NEIGHBOUR] += 1
                return
            exit_socket.beat_heart()
        size = min(payload.response_size, MAX_TEST_RESPONSE_SIZE)
        self.send_cell(source_address, TestResponsePayload(payload.circuit_id, payload.identifier, os.urandom(size)))

    def on_test_response(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> None:
        """The answer to one of our speed tests."""
        payload = self.serializer.unpack_serializable(TestResponsePayload, data, offset=23)[0]
        cache = self.request_cache.get(TestRequestCache, payload.identifier)
        if payload.circuit_id not in self.circuits or cache is None \
                or cache.circuit.circuit_id != payload.circuit_id:
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_PING] += 1
            return
        self.request_cache.pop(TestRequestCache, payload.identifier)
        cache.complete(payload.data)


__all__ = ["DROP_TUNNEL_BAD_DATA", "DROP_TUNNEL_BAD_PEER_FLAGS", "DROP_TUNNEL_OTHER_COMMUNITY",
           "DROP_TUNNEL_UNCLAIMED_DATA", "DROP_TUNNEL_UNEXPECTED_PING", "DROP_TUNNEL_WRONG_NEIGHBOUR",
           "MAX_TEST_RESPONSE_SIZE", "TunnelCommunity", "TunnelSettings", "unpack_cell"]
