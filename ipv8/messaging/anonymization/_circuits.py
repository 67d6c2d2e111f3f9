"""Building, joining, extending and tearing down circuits: the control plane of the tunnel community.

Private: :class:`~ipv8.messaging.anonymization.community.TunnelCommunity` mixes :class:`CircuitMixin` in.

The message flow is pyipv8 3.2.1's. The initiator sends *create* (plaintext) to its first hop, which answers
*created* with its half of the handshake and an encrypted list of peers it can extend to. For every further hop
the initiator sends *extend* (always flagged relay_early) through the circuit to its last hop; that hop sends
*create* to the new node, turns the answering *created* into *extended* for the initiator, and from then on
relays the circuit (two :class:`~ipv8.messaging.anonymization.tunnel.RelayRoute` halves sharing its keys).
A node that joined a circuit and was not asked to extend it is the circuit's exit.

Hops that stay silent are retried with other candidates (``next_hop_timeout`` each, at most
``circuit_timeout // next_hop_timeout`` tries) before the circuit is given up. *Destroy* (a signed outer
message) tears a circuit down hop by hop; only the peer on the other side of that hop may send it.
"""
from __future__ import annotations

import ipaddress
import logging
import random
import secrets
from collections import Counter
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed

from ...keyvault.keys import PublicKey
from ...lazy_community import lazy_wrapper
from ...peer import Peer
from ...util import maybe_deferred
from ..addresses import UDPv4Address
from ..serialization import PackError
from .caches import CreatedRequestCache, CreateRequestCache, RetryRequestCache
from .crypto import HOP_CANDIDATES_COUNTER, CryptoException
from .payload import (
    CreatedPayload,
    CreatePayload,
    DestroyPayload,
    ExtendedPayload,
    ExtendPayload,
    next_hop_candidates,
    pack_candidate_list,
    select_candidate_keys,
)
from .tunnel import (
    BACKWARD,
    CIRCUIT_ID_PORT,
    CIRCUIT_STATE_CLOSING,
    CIRCUIT_STATE_EXTENDING,
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_DATA,
    CIRCUIT_TYPE_IP_SEEDER,
    FORWARD,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    Circuit,
    CircuitStateError,
    Hop,
    RelayRoute,
)

if TYPE_CHECKING:
    from ...types import Address
    from .exit_socket import TunnelExitSocket

#: A create from a peer while we do not relay (no peer flags), or an extend while we lack PEER_FLAG_RELAY.
DROP_TUNNEL_NOT_A_RELAY = "tunnel-not-a-relay"
#: A create refused because we take part in ``max_joined_circuits`` circuits already.
DROP_TUNNEL_JOIN_LIMIT = "tunnel-join-limit"
#: A create refused by ``should_join_circuit``, or for a circuit id we already use.
DROP_TUNNEL_JOIN_REFUSED = "tunnel-join-refused"
#: A create whose keys cannot take part in a handshake.
DROP_TUNNEL_BAD_HANDSHAKE = "tunnel-bad-handshake"
#: A created/extended that answers nothing we asked (unknown identifier or circuit, or not from the node asked).
DROP_TUNNEL_UNEXPECTED_CREATED = "tunnel-unexpected-created"
#: An extend for a circuit we did not join, or naming a node we cannot reach.
DROP_TUNNEL_UNEXPECTED_EXTEND = "tunnel-unexpected-extend"
#: A created/extended whose auth value or candidate list is wrong.
DROP_TUNNEL_BAD_AUTH = "tunnel-bad-auth"
#: A destroy from a peer that is not the other end of that hop.
DROP_TUNNEL_UNAUTHORIZED_DESTROY = "tunnel-unauthorized-destroy"

#: Keys from one candidate list that an initiator looks at, at most (a hop sends 9 at most).
MAX_CANDIDATES_CONSIDERED = 32
#: Extends one joined circuit may ask of us: an honest initiator sends at most ``circuit_timeout //
#: next_hop_timeout`` (6) per hop; more would only make us send creates on a stranger's behalf.
MAX_EXTENDS_PER_CIRCUIT = 8
#: Seconds since we last heard from a peer after which a relay asks the DHT where it is (pyipv8's value).
PEER_STALE_AFTER = 57.5
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class CircuitMixin:
    """Circuit life cycles; expects the attributes of a TunnelCommunity."""

    circuits: dict[int, Circuit]
    relay_from_to: dict[int, RelayRoute]
    exit_sockets: dict[int, TunnelExitSocket]
    candidates: dict[Peer, list[int]]
    circuits_needed: dict[int, int]
    settings: Any
    crypto: Any
    request_cache: Any
    serializer: Any
    network: Any
    my_peer: Peer
    logger: Any
    drop_counts: Any

    # -- choosing peers --------------------------------------------------------------------------------------

    def _generate_circuit_id(self) -> int:
        """A random circuit id that none of our circuits, relays or exits uses (unguessable: see on_created)."""
        while True:
            circuit_id = secrets.randbits(32)
            if circuit_id >= CIRCUIT_ID_PORT and circuit_id not in self.circuits \
                    and circuit_id not in self.relay_from_to and circuit_id not in self.exit_sockets:
                return circuit_id

    def get_candidates(self, *requested_flags: int) -> list[Peer]:
        """Peers that announced at least ``requested_flags`` and whose key can take part in a handshake."""
        wanted = set(requested_flags)
        return [peer for peer, flags in self.candidates.items()
                if wanted <= set(flags) and self.crypto.is_key_compatible(peer.public_key)]

    def select_exit(self, exit_flags: Collection[int] | None = None, ctype: str = CIRCUIT_TYPE_DATA) -> Peer | None:
        """A random peer to end a circuit of type ``ctype`` in (with ``exit_flags`` if given), or None."""
        if exit_flags is not None:
            choices = self.get_candidates(*exit_flags)
        elif ctype == CIRCUIT_TYPE_DATA:
            choices = self.get_candidates(PEER_FLAG_EXIT_BT)
        elif ctype == CIRCUIT_TYPE_IP_SEEDER:
            choices = (self.get_candidates(PEER_FLAG_EXIT_BT) or self.get_candidates(PEER_FLAG_EXIT_IPV8)
                       or self.get_candidates(PEER_FLAG_RELAY))
        else:
            # Circuits that do not carry data to the internet rather end in a relay.
            choices = self.get_candidates(PEER_FLAG_RELAY) or self.get_candidates(PEER_FLAG_EXIT_BT)
        return random.choice(choices) if choices else None

    def _usable_key(self, key_bin: bytes) -> bool:
        try:
            key = self.crypto.key_from_public_bin(key_bin)
        except Exception:  # noqa: BLE001 - any malformed key from the network
            return False
        return isinstance(key, PublicKey) and self.crypto.is_key_compatible(key)

    # -- building our circuits -------------------------------------------------------------------------------

    #: Why the last attempt to build a circuit failed (None after a successful start): said once at info level,
    #: then at debug level while it stays the same, because circuits are retried every few seconds.
    _cannot_build_reason: str | None = None

    def _log_cannot_build(self, reason: str) -> None:
        level = logging.DEBUG if reason == self._cannot_build_reason else logging.INFO
        self._cannot_build_reason = reason
        self.logger.log(level, "Cannot create a circuit: %s", reason)

    def create_circuit(self, goal_hops: int, ctype: str = CIRCUIT_TYPE_DATA, exit_flags: Collection[int] | None = None,
                       required_exit: Peer | None = None, info_hash: bytes | None = None) -> Circuit | None:
        """Start building a circuit of ``goal_hops`` hops; None when no suitable first hop (or exit) is known.

        The circuit is returned at once, EXTENDING; its ``ready`` Deferred fires when the last hop is in.
        """
        if goal_hops < 1:
            self.logger.warning("A circuit needs at least one hop, not %d", goal_hops)
            return None
        if ctype == CIRCUIT_TYPE_IP_SEEDER and not required_exit:
            required_exit = self.select_exit(ctype=ctype)
        elif exit_flags is not None:
            required_exit = self.select_exit(exit_flags=exit_flags)

        if goal_hops == 1:
            if required_exit is None:
                required_exit = self.select_exit(exit_flags, ctype)
            if required_exit is None:
                self._log_cannot_build("no exit known")
                return None
            first_hops = [required_exit]
        else:
            # Least used first hops first; exits are counted twice so that they are less likely to be first.
            in_use = [c.hop.peer for c in self.circuits.values() if c.ctype == ctype and c.hop is not None]
            pool = in_use + self.get_candidates(PEER_FLAG_RELAY) + self.get_candidates(PEER_FLAG_RELAY,
                                                                                        PEER_FLAG_EXIT_BT)
            random.shuffle(pool)
            first_hops = [peer for peer, _ in reversed(Counter(pool).most_common()) if peer != required_exit]
        if not first_hops:
            self._log_cannot_build("no first hop known")
            return None
        self._cannot_build_reason = None

        circuit_id = self._generate_circuit_id()
        circuit = Circuit(circuit_id, goal_hops, ctype, required_exit, info_hash,
                          required_exit_flags=exit_flags or (), clock=self.clock)  # type: ignore[attr-defined]
        self.circuits[circuit_id] = circuit
        max_tries = max(1, int(self.settings.circuit_timeout // self.settings.next_hop_timeout))
        self.send_initial_create(circuit, first_hops, max_tries)
        return circuit

    def send_initial_create(self, circuit: Circuit, candidate_peers: list[Peer], max_tries: int) -> None:
        """Ask the first of ``candidate_peers`` to be the circuit's first hop; the rest are the fallbacks."""
        if self.request_cache.has(RetryRequestCache, circuit.circuit_id):
            self.request_cache.pop(RetryRequestCache, circuit.circuit_id)
        first_hop, alternatives = candidate_peers[0], [peer for peer in candidate_peers[1:] if peer != candidate_peers[0]]
        hop = Hop(first_hop, flags=self.candidates.get(first_hop))
        hop.dh_secret, hop.dh_first_part = self.crypto.generate_diffie_secret()
        circuit.unverified_hop = hop
        cache = RetryRequestCache(self, circuit, alternatives, max_tries - 1,  # type: ignore[arg-type]
                                  self.send_initial_create, self.settings.next_hop_timeout)
        self.request_cache.add(cache)
        cache.sent_to = address = first_hop.address
        self.logger.debug("Circuit %d: create to %s", circuit.circuit_id, first_hop)
        self.send_cell(address, CreatePayload(circuit.circuit_id, cache.packet_identifier,
                                              self.my_peer.public_key.key_to_bin(), hop.dh_first_part))

    def _ours_on_created_extended(self, circuit: Circuit, payload: CreatedPayload | ExtendedPayload) -> None:
        """Our hop answered: finish the handshake, then extend further or declare the circuit READY."""
        hop = circuit.unverified_hop
        if hop is None or hop.dh_secret is None:
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_CREATED] += 1
            return
        try:
            shared_secret = self.crypto.verify_and_generate_shared_secret(hop.dh_secret, payload.key, payload.auth,
                                                                          hop.public_key)
            keys = self.crypto.generate_session_keys(shared_secret)
        except (CryptoException, ValueError) as exc:
            self.drop_counts[DROP_TUNNEL_BAD_AUTH] += 1
            self.remove_circuit(circuit.circuit_id, f"error while verifying shared secret: {exc}")
            return
        hop.keys, hop.dh_secret = keys, None
        try:
            circuit.add_hop(hop)
        except CircuitStateError:
            return
        self.logger.debug("Circuit %d: hop %d is %s", circuit.circuit_id, len(circuit.hops), hop.peer)

        if circuit.state == CIRCUIT_STATE_EXTENDING:
            try:
                candidates_bin = keys.decrypt_str(payload.candidates_enc, FORWARD)
                # pyipv8 ignores bytes after the list; so do we.
                keys_list = self.serializer.unpack("varlenH-list", candidates_bin)[0]
            except (CryptoException, PackError) as exc:
                self.drop_counts[DROP_TUNNEL_BAD_AUTH] += 1
                self.remove_circuit(circuit.circuit_id, f"unreadable candidate list: {exc}")
                return
            become_exit = circuit.goal_hops - 1 == len(circuit.hops)
            candidates = next_hop_candidates(keys_list[:MAX_CANDIDATES_CONSIDERED], become_exit)
            cache = self.request_cache.get(RetryRequestCache, circuit.circuit_id)
            if cache is not None:
                self.request_cache.pop(RetryRequestCache, circuit.circuit_id)
            self.send_extend(circuit, candidates, cache.max_tries if cache is not None else 1)
        elif circuit.state == CIRCUIT_STATE_READY and self.request_cache.has(RetryRequestCache, circuit.circuit_id):
            self.request_cache.pop(RetryRequestCache, circuit.circuit_id)

    def send_extend(self, circuit: Circuit, candidates: list[bytes], max_tries: int) -> None:
        """Ask the circuit's last hop to extend it to one of ``candidates`` (binary keys) or the required exit."""
        if circuit.state != CIRCUIT_STATE_EXTENDING:
            return
        become_exit = circuit.goal_hops - 1 == len(circuit.hops)
        if become_exit and circuit.required_exit is not None:
            next_key = circuit.required_exit.public_key.key_to_bin()
            next_address: Address = circuit.required_exit.address
            alternatives: list[bytes] = []
        else:
            exclude = {hop.public_key_bin for hop in circuit.hops} | {self.my_peer.public_key.key_to_bin()}
            if circuit.required_exit is not None:
                exclude.add(circuit.required_exit.public_key.key_to_bin())
            candidates = [key for key in candidates if key not in exclude and self._usable_key(key)]
            next_key, next_address = (candidates[0] if candidates else b""), ("0.0.0.0", 0)
            if not next_key:
                # The hop knows nobody suitable: try an exit we know ourselves (exits are assumed connectable).
                choices = [peer for peer in self.get_candidates(PEER_FLAG_EXIT_BT, PEER_FLAG_RELAY)
                           if peer.public_key.key_to_bin() not in exclude]
                if choices:
                    peer = random.choice(choices)
                    next_key, next_address = peer.public_key.key_to_bin(), peer.address
            alternatives = [key for key in candidates if key != next_key]
        if not next_key:
            self.remove_circuit(circuit.circuit_id, "no candidates to extend")
            return

        if self.request_cache.has(RetryRequestCache, circuit.circuit_id):
            self.request_cache.pop(RetryRequestCache, circuit.circuit_id)
        peer = Peer(next_key)
        hop = Hop(peer, flags=self.candidates.get(peer))
        hop.dh_secret, hop.dh_first_part = self.crypto.generate_diffie_secret()
        circuit.unverified_hop = hop
        cache = RetryRequestCache(self, circuit, alternatives, max_tries - 1,  # type: ignore[arg-type]
                                  self.send_extend, self.settings.next_hop_timeout)
        self.request_cache.add(cache)
        self.logger.debug("Circuit %d: extend to %s", circuit.circuit_id, peer)
        self.send_cell(circuit.hop.address, ExtendPayload(circuit.circuit_id, cache.packet_identifier,  # type: ignore[union-attr]
                                                          next_key, hop.dh_first_part, next_address))

    # -- joining circuits of others --------------------------------------------------------------------------

    def joined_circuits(self) -> int:
        """How many circuits of others we take part in: exits plus relays (two routes each)."""
        return len(self.exit_sockets) + len(self.relay_from_to) // 2

    def should_join_circuit(self, create_payload: CreatePayload, previous_node_address: Address) -> Any:
        """Whether to join the circuit a create asks for (a bool, or a Deferred/coroutine of one).

        By default: while we take part in fewer than ``max_joined_circuits`` circuits. Override to add rules.
        """
        if self.joined_circuits() >= self.settings.max_joined_circuits:
            self.logger.info("Not joining circuit %d: %d joined already", create_payload.circuit_id,
                             self.joined_circuits())
            return False
        return True

    def _circuit_id_in_use(self, circuit_id: int) -> bool:
        return circuit_id in self.circuits or circuit_id in self.relay_from_to or circuit_id in self.exit_sockets

    def on_create(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> Deferred | None:
        """A peer asks us to join its circuit (as first hop, or as the next hop of a relay)."""
        payload = self.serializer.unpack_serializable(CreatePayload, data, offset=23)[0]
        if not self.settings.peer_flags:
            self.drop_counts[DROP_TUNNEL_NOT_A_RELAY] += 1
            return None
        if self.request_cache.has(CreatedRequestCache, payload.circuit_id) \
                or self._circuit_id_in_use(payload.circuit_id):
            # A second create for a circuit id in use would let its sender take over that id.
            self.drop_counts[DROP_TUNNEL_JOIN_REFUSED] += 1
            return None
        if self.joined_circuits() >= self.settings.max_joined_circuits:
            self.drop_counts[DROP_TUNNEL_JOIN_LIMIT] += 1
            return None
        try:
            previous = Peer(payload.node_public_key, source_address, clock=self.clock)  # type: ignore[attr-defined]
        except ValueError:
            self.drop_counts[DROP_TUNNEL_BAD_HANDSHAKE] += 1
            return None

        def decided(join: object) -> None:
            # The decision may have taken a while: the id may have been taken (or the cap reached) meanwhile.
            if not join or self.joined_circuits() >= self.settings.max_joined_circuits \
                    or self._circuit_id_in_use(payload.circuit_id) \
                    or self.request_cache.has(CreatedRequestCache, payload.circuit_id):
                self.drop_counts[DROP_TUNNEL_JOIN_REFUSED] += 1
                return
            self.join_circuit(payload, source_address, previous)
        return maybe_deferred(self.should_join_circuit, payload, source_address).addCallback(decided)

    def join_circuit(self, create_payload: CreatePayload, previous_node_address: Address,
                     previous: Peer | None = None) -> None:
        """Join the circuit: answer created with our handshake half and the peers we can extend to."""
        circuit_id = create_payload.circuit_id
        try:
            shared_secret, key, auth = self.crypto.generate_diffie_shared_secret(create_payload.key)
        except (CryptoException, ValueError) as exc:
            self.drop_counts[DROP_TUNNEL_BAD_HANDSHAKE] += 1
            self.logger.debug("Not joining circuit %d: %s", circuit_id, exc)
            return
        keys = self.crypto.generate_session_keys(shared_secret)
        if previous is None:
            previous = Peer(create_payload.node_public_key, previous_node_address)

        offered = {peer.public_key.key_to_bin(): peer for peer in self.get_candidates(PEER_FLAG_RELAY)
                   if peer != previous}
        candidate_keys = select_candidate_keys({key_bin: self.candidates.get(peer, [])
                                                for key_bin, peer in offered.items()})
        self.request_cache.add(CreatedRequestCache(self, circuit_id, previous,
                                                   {key_bin: offered[key_bin] for key_bin in candidate_keys},
                                                   self.settings.unstable_timeout))
        # The list is encrypted forward, the direction the initiator sends in: start far above its counters so
        # that no nonce is used twice under that key.
        keys.salt_explicit_forward = HOP_CANDIDATES_COUNTER
        candidates_enc = keys.encrypt_str(pack_candidate_list(candidate_keys, self.serializer), FORWARD)
        self.exit_sockets[circuit_id] = self.create_exit_socket(circuit_id, Hop(previous, keys))  # type: ignore[attr-defined]
        self.logger.debug("Joined circuit %d of %s", circuit_id, previous_node_address)
        self.send_cell(previous_node_address, CreatedPayload(circuit_id, create_payload.identifier, key, auth,
                                                             candidates_enc))

    def on_created(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> None:
        """A hop answered a create: ours (the circuit grows) or one we sent for a relay (pass it back)."""
        payload = self.serializer.unpack_serializable(CreatedPayload, data, offset=23)[0]
        request = self.request_cache.get(CreateRequestCache, payload.identifier)
        if request is not None and request.to_circuit_id == payload.circuit_id:
            if tuple(source_address) != tuple(request.to_address) or self._circuit_id_in_use(payload.circuit_id):
                # Only the node we sent the create to may answer it (the ids were in the clear on that link); and
                # that node may meanwhile have had us join a circuit under the very id: one id, one table.
                self.drop_counts[DROP_TUNNEL_UNEXPECTED_CREATED] += 1
                return
            self.request_cache.pop(CreateRequestCache, payload.identifier)
            exit_socket = self.exit_sockets.pop(request.from_circuit_id, None)
            if exit_socket is None:
                self.drop_counts[DROP_TUNNEL_UNEXPECTED_CREATED] += 1
                return
            exit_socket.close()
            keys = exit_socket.hop.keys
            clock = self.clock  # type: ignore[attr-defined]
            backward = RelayRoute(request.from_circuit_id, Hop(request.peer, keys), BACKWARD, clock=clock)
            forward = RelayRoute(request.to_circuit_id, Hop(request.to_peer, keys), FORWARD, clock=clock)
            self.relay_from_to[request.to_circuit_id] = backward
            self.relay_from_to[request.from_circuit_id] = forward
            self.logger.debug("Relaying %d <-> %d", request.from_circuit_id, request.to_circuit_id)
            self.send_cell(backward.hop.address, ExtendedPayload(backward.circuit_id, request.extend_identifier,
                                                                 payload.key, payload.auth, payload.candidates_enc))
            return
        circuit = self.circuits.get(payload.circuit_id)
        cache = self.request_cache.get(RetryRequestCache, payload.circuit_id)
        # The identifier check refuses late answers to tries we have given up on.
        if circuit is None or cache is None or cache.packet_identifier != payload.identifier or circuit.hops \
                or cache.sent_to is None or tuple(source_address) != tuple(cache.sent_to):
            # Also from another address than the first hop's: its bad auth would kill the circuit otherwise.
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_CREATED] += 1
            return
        self._ours_on_created_extended(circuit, payload)

    def on_extend(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> Deferred | None:
        """The initiator of a circuit we joined asks us to extend it to another node."""
        payload = self.serializer.unpack_serializable(ExtendPayload, data, offset=23)[0]
        if PEER_FLAG_RELAY not in self.settings.peer_flags:
            self.drop_counts[DROP_TUNNEL_NOT_A_RELAY] += 1
            return None
        request = self.request_cache.get(CreatedRequestCache, payload.circuit_id)
        exit_socket = self.exit_sockets.get(payload.circuit_id)
        if request is None or exit_socket is None:
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_EXTEND] += 1
            return None
        served = getattr(exit_socket, "extends_served", 0)
        if served >= MAX_EXTENDS_PER_CIRCUIT:
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_EXTEND] += 1
            return None
        exit_socket.extends_served = served + 1  # type: ignore[attr-defined]
        key_bin = payload.node_public_key
        if key_bin in request.candidates:
            return self._extend_to(payload, exit_socket, request.candidates[key_bin])
        node_addr = self._next_hop_address(payload.node_addr, source_address)
        if key_bin == self.my_peer.public_key.key_to_bin() or not self._usable_key(key_bin) or node_addr is None:
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_EXTEND] += 1
            return None
        known = self.network.get_verified_by_public_key_bin(key_bin)
        target = known if known is not None else Peer(key_bin, node_addr, clock=self.clock)  # type: ignore[attr-defined]
        lookup: Deferred = succeed(None)
        # A peer never heard from (last_response 0) is always stale, also on a clock that started at 0.
        if not target.last_response \
                or target.last_response + PEER_STALE_AFTER < self.clock.seconds():  # type: ignore[attr-defined]
            lookup = maybe_deferred(self.dht_peer_lookup, target.mid, target)
            lookup.addErrback(lambda _: None)
        return lookup.addCallback(lambda _: self._extend_to(payload, exit_socket, target))

    def _next_hop_address(self, address: Address, previous_hop: Address) -> Address | None:
        """The address an extend names if we may send a create there, else None.

        It gets the checks of an introduced address (never unusable, ours, or out of the previous hop's scope),
        IPv4-mapped IPv6 taken as the IPv4 it is (``::ffff:`` + our address would pass otherwise), and never a
        host of 0.0.0.0/8 ("this network", RFC 1122).
        """
        try:
            ip = ipaddress.ip_address(address[0])
            port = address[1]
        except (ValueError, TypeError, IndexError):
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if isinstance(ip, ipaddress.IPv4Address):
            if ip in _THIS_NETWORK:
                return None
            address = UDPv4Address(str(ip), port)
        if not self.address_hygiene.may_walk_to(address, previous_hop):  # type: ignore[attr-defined]
            return None
        return address

    def _extend_to(self, payload: ExtendPayload, exit_socket: TunnelExitSocket, target: Peer) -> None:
        if self.exit_sockets.get(payload.circuit_id) is not exit_socket:
            return  # the circuit went away while we looked the peer up
        to_circuit_id = self._generate_circuit_id()
        cache = CreateRequestCache(self, payload.identifier, to_circuit_id, payload.circuit_id,  # type: ignore[arg-type]
                                   exit_socket.hop.peer, target)
        if self.request_cache.add(cache) is not None:
            # Remembered so that removing the exit socket also drops the requests made on its behalf.
            exit_socket.pending_creates = [*getattr(exit_socket, "pending_creates", ()), cache.number]  # type: ignore[attr-defined]
        self.logger.debug("Circuit %d: create for the next hop %s under %d", payload.circuit_id, target,
                          to_circuit_id)
        self.send_cell(target.address, CreatePayload(to_circuit_id, cache.number,
                                                     self.my_peer.public_key.key_to_bin(), payload.key))

    def on_extended(self, source_address: Address, data: bytes, circuit_id: int | None = None) -> None:
        """Our circuit's last hop extended it: the next hop answered."""
        payload = self.serializer.unpack_serializable(ExtendedPayload, data, offset=23)[0]
        circuit = self.circuits.get(payload.circuit_id)
        cache = self.request_cache.get(RetryRequestCache, payload.circuit_id)
        if circuit is None or cache is None or cache.packet_identifier != payload.identifier:
            self.drop_counts[DROP_TUNNEL_UNEXPECTED_CREATED] += 1
            return
        self._ours_on_created_extended(circuit, payload)

    # -- removing --------------------------------------------------------------------------------------------

    def _remove_later(self, kind: str, circuit_id: int, remove_now: bool, remove: Any) -> Deferred:
        name = (kind, circuit_id)
        if self.is_pending_task_active(name):  # type: ignore[attr-defined]
            if not remove_now:
                return self.get_task(name)  # type: ignore[attr-defined]
            self.cancel_pending_task(name)  # type: ignore[attr-defined]
        delay = self.settings.remove_tunnel_delay
        if remove_now or delay <= 0:
            return maybe_deferred(remove)
        # The delay lets late cells of the circuit still arrive (pyipv8 keeps it for bandwidth accounting).
        return self.register_task(name, remove, delay=delay)  # type: ignore[attr-defined]

    def remove_circuit(self, circuit_id: int, additional_info: str = "", remove_now: bool = False,
                       destroy: bool | int = False) -> Deferred:
        """Close one of our circuits (its ``ready`` fires None if pending) and forget it after ``remove_tunnel_delay``.

        :param destroy: a destroy reason (or True: reason 1) to tell the first hop.
        :returns: a Deferred firing once the circuit is forgotten.
        """
        if self.request_cache.has(RetryRequestCache, circuit_id):
            self.request_cache.pop(RetryRequestCache, circuit_id)
        circuit = self.circuits.get(circuit_id)
        if circuit is None:
            return succeed(None)
        self.logger.debug("Removing circuit %d (%s)", circuit_id, additional_info)
        if destroy and circuit.state != CIRCUIT_STATE_CLOSING:
            self.destroy_circuit(circuit, reason=int(destroy))
        circuit.close(additional_info)

        def forget() -> None:
            if self.circuits.get(circuit_id) is circuit:
                del self.circuits[circuit_id]
        return self._remove_later("remove-circuit", circuit_id, remove_now, forget)

    def remove_relay(self, circuit_id: int, additional_info: str = "", remove_now: bool = False,
                     destroy: bool | int = False) -> Deferred:
        """Forget the relay route filed under ``circuit_id`` (after ``remove_tunnel_delay``); fires with it."""
        if destroy:
            self.destroy_relay(circuit_id, reason=int(destroy))
        self.logger.debug("Removing relay %d (%s)", circuit_id, additional_info)
        route = self.relay_from_to.get(circuit_id)

        def forget() -> RelayRoute | None:
            if route is not None and self.relay_from_to.get(circuit_id) is route:
                del self.relay_from_to[circuit_id]
                if route.direction == FORWARD:
                    # Filed under the previous hop's circuit id: the one our created request is filed under.
                    self._forget_join_requests(circuit_id, ())
            return route
        return self._remove_later("remove-relay", circuit_id, remove_now, forget)

    def remove_exit_socket(self, circuit_id: int, additional_info: str = "", remove_now: bool = False,
                           destroy: bool | int = False) -> Deferred:
        """Close and forget the exit socket of ``circuit_id`` (after ``remove_tunnel_delay``); fires with it."""
        exit_socket = self.exit_sockets.get(circuit_id)
        if exit_socket is not None and destroy:
            self.destroy_exit_socket(exit_socket, reason=int(destroy))
        self.logger.debug("Removing exit socket %d (%s)", circuit_id, additional_info)

        def forget() -> Deferred:
            if exit_socket is not None and self.exit_sockets.get(circuit_id) is exit_socket:
                del self.exit_sockets[circuit_id]
                self._forget_join_requests(circuit_id, getattr(exit_socket, "pending_creates", ()))
            if exit_socket is None:
                return succeed(None)
            return exit_socket.close().addCallback(lambda _: exit_socket)
        return self._remove_later("remove-exit", circuit_id, remove_now, forget)

    def _forget_join_requests(self, circuit_id: int, create_numbers: Collection[int]) -> None:
        """Drop the created request and the creates of a joined circuit that is gone. Left to time out, they would
        outlive it: joining and destroying in a loop could fill the request cache (starving our own requests)."""
        created = self.request_cache.get(CreatedRequestCache, circuit_id)
        if created is not None:
            self.request_cache.pop(CreatedRequestCache, circuit_id)
        for number in create_numbers:
            request = self.request_cache.get(CreateRequestCache, number)
            if request is not None and request.from_circuit_id == circuit_id:
                self.request_cache.pop(CreateRequestCache, number)

    def send_destroy(self, target: Address, circuit_id: int, reason: int) -> None:
        """Send a signed destroy for ``circuit_id`` to ``target``."""
        self.endpoint.send(target, self.ezr_pack(DestroyPayload.msg_id,  # type: ignore[attr-defined]
                                                 DestroyPayload(circuit_id, reason)))

    def destroy_circuit(self, circuit: Circuit, reason: int = 0) -> None:
        """Tell the first hop of one of our circuits to tear it down (the circuit itself stays)."""
        if circuit.hop is not None:
            self.send_destroy(circuit.hop.address, circuit.circuit_id, reason)

    def destroy_relay(self, circuit_id: int, reason: int = 0) -> None:
        """Pass a destroy on along the relay route filed under ``circuit_id`` (the route itself stays)."""
        route = self.relay_from_to.get(circuit_id)
        if route is not None:
            self.send_destroy(route.hop.address, route.circuit_id, reason)

    def destroy_exit_socket(self, exit_socket: TunnelExitSocket, reason: int = 0) -> None:
        """Tell the previous hop of a circuit we exit that it is torn down (the exit socket itself stays)."""
        self.send_destroy(exit_socket.hop.address, exit_socket.circuit_id, reason)

    @lazy_wrapper(DestroyPayload)
    def on_destroy(self, peer: Peer, payload: DestroyPayload) -> None:
        """A signed destroy: honoured only from the peer at the other end of that hop."""
        circuit_id, reason = payload.circuit_id, payload.reason
        info = f"got destroy with reason {reason}"
        next_relay = self.relay_from_to.get(circuit_id)
        prev_relay = self.relay_from_to.get(next_relay.circuit_id) if next_relay is not None else None
        if next_relay is not None and prev_relay is not None and peer == prev_relay.hop.peer:
            self.remove_relay(circuit_id, info, destroy=reason or True)
            self.remove_relay(next_relay.circuit_id, info)
        elif circuit_id in self.exit_sockets and peer == self.exit_sockets[circuit_id].hop.peer:
            self.remove_exit_socket(circuit_id, info)
        elif circuit_id in self.circuits and self.circuits[circuit_id].hop is not None \
                and peer == self.circuits[circuit_id].hop.peer:  # type: ignore[union-attr]
            self.remove_circuit(circuit_id, info)
        else:
            self.drop_counts[DROP_TUNNEL_UNAUTHORIZED_DESTROY] += 1


__all__ = ["DROP_TUNNEL_BAD_AUTH", "DROP_TUNNEL_BAD_HANDSHAKE", "DROP_TUNNEL_JOIN_LIMIT", "DROP_TUNNEL_JOIN_REFUSED",
           "DROP_TUNNEL_NOT_A_RELAY", "DROP_TUNNEL_UNAUTHORIZED_DESTROY", "DROP_TUNNEL_UNEXPECTED_CREATED",
           "DROP_TUNNEL_UNEXPECTED_EXTEND", "MAX_CANDIDATES_CONSIDERED", "MAX_EXTENDS_PER_CIRCUIT", "PEER_STALE_AFTER",
           "CircuitMixin"]
