"""The attack toolkit of :mod:`tests.hostile.attacker`, for the tunnel community: forged and validly encrypted cells.

A :class:`TunnelAttacker` is a peer that speaks the tunnel protocol by hand. It does the real handshake with the
node under attack (a plaintext create, the node's created read back from its send log, the auth checked and the
session keys derived as any initiator would), so the cells it sends afterwards are *validly encrypted* with keys
the node agreed to: the interesting case, because the node cannot tell them from an honest initiator's by their
crypto and has to defend itself with its protocol rules, caps and expiries. It can just as well send what no
honest peer sends: replays, flipped bits, counters out of order, plaintext cells, extends to odd addresses,
forged destroys.

Tunnel nodes (:func:`tunnel_node`) run on the harness :class:`~twisted.internet.task.Clock` and its quiet
in-memory internet; their exit sockets get a :class:`FakeUDPReactor` (nothing ever leaves the process).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.anonymization.community import TunnelCommunity
from ipv8.messaging.anonymization.crypto import (
    BACKWARD,
    FORWARD,
    SessionKeys,
    TunnelCrypto,
    decrypt_layers,
    encrypt_layers,
)
from ipv8.messaging.anonymization.payload import (
    CellPayload,
    CreatedPayload,
    CreatePayload,
    DestroyPayload,
    ExtendedPayload,
    ExtendPayload,
    decode_cell_message,
    encode_cell_message,
    unpack_candidate_list,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
    Circuit,
)
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.messaging.serialization import default_serializer

from .attacker import (
    DECODE_FAILURES,
    Harness,
    attacker_address,
    connect,
    fresh_key,
)
from .attacker import Node as HarnessNode
# The exit sockets' recording socket factory is the tunnel community tests' own.
from tests.messaging.anonymization.test_tunnel_community import FakeUDPPort, FakeUDPReactor, FakeUDPTransport  # noqa: F401

RELAY_FLAGS = frozenset({PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST})
EXIT_FLAGS = frozenset({PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST})
#: A bencoded dictionary: BitTorrent traffic that the exit policy of a PEER_FLAG_EXIT_BT exit lets out.
DHT_PACKET = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
#: Where test data "exits" to (the fake UDP reactor records it; nothing is sent).
DESTINATION = ("1.2.3.4", 6881)
CELL = 0


# --- tunnel nodes on the harness ----------------------------------------------------------------------------------

def tunnel_node(h: Harness, flags: frozenset[int] = RELAY_FLAGS, **settings: Any) -> HarnessNode:
    """A :class:`TunnelCommunity` node with ``flags``, on the harness clock, exit sockets on a fake reactor."""
    settings.setdefault("exit_reactor", FakeUDPReactor())
    settings.setdefault("remove_tunnel_delay", 0)
    node = h.node(TunnelCommunity, **settings)
    node.overlay.settings.peer_flags = set(flags)
    return node


def tunnel_network(h: Harness, relays: int = 2, exits: int = 2) -> tuple[HarnessNode, list[HarnessNode],
                                                                           list[HarnessNode]]:
    """An initiator (default flags), ``relays`` relays and ``exits`` exits that all know each other's flags."""
    initiator = tunnel_node(h, frozenset(TunnelCommunity.settings_class().peer_flags))
    relay_nodes = [tunnel_node(h, RELAY_FLAGS) for _ in range(relays)]
    exit_nodes = [tunnel_node(h, EXIT_FLAGS) for _ in range(exits)]
    everyone = [initiator, *relay_nodes, *exit_nodes]
    for index, node in enumerate(everyone):
        for other in everyone[index + 1:]:
            connect(h, node, other)
    return initiator, relay_nodes, exit_nodes


def overlay_peer(owner: HarnessNode, other: HarnessNode) -> Any:
    """The Peer object ``owner``'s tunnel community holds for ``other``."""
    return next(peer for peer in owner.overlay.candidates if peer.public_key.key_to_bin() == other.key_bin)


def build_circuit(h: Harness, initiator: HarnessNode, hops: int, **kwargs: Any) -> Circuit:
    """A circuit of ``hops`` hops built by ``initiator``; it must become READY."""
    circuit = initiator.overlay.create_circuit(hops, **kwargs)
    assert circuit is not None, "no circuit could be started"
    h.pump()
    assert circuit.state == CIRCUIT_STATE_READY, f"the circuit did not become ready: {circuit}"
    return circuit


def assert_tunnels_still_work(h: Harness, target: HarnessNode, exit_node: HarnessNode | None = None) -> None:
    """A legitimate newcomer builds a circuit through ``target`` and data leaves the exit.

    Without ``exit_node`` the circuit has one hop and ``target`` is its exit; with it, ``target`` is the first hop
    (a relay) of a two-hop circuit that ends in ``exit_node`` (the newcomer knows only those two).
    """
    newcomer = tunnel_node(h, frozenset(TunnelCommunity.settings_class().peer_flags))
    connect(h, newcomer, target)
    if exit_node is None:
        circuit = build_circuit(h, newcomer, 1, required_exit=overlay_peer(newcomer, target))
        exit_node = target
    else:
        connect(h, newcomer, exit_node)
        # Introductions may have told the newcomer of others: it picks its first hop among the target only.
        keep = {target.key_bin, exit_node.key_bin}
        for peer in [peer for peer in newcomer.overlay.candidates if peer.public_key.key_to_bin() not in keep]:
            del newcomer.overlay.candidates[peer]
        circuit = build_circuit(h, newcomer, 2, required_exit=overlay_peer(newcomer, exit_node))
        assert circuit.hops[0].public_key_bin == target.key_bin
    exit_reactor = exit_node.overlay.settings.exit_reactor
    before = len(exit_reactor.sockets)
    assert newcomer.overlay.tunnel_data(circuit, DESTINATION, "data", DHT_PACKET)
    h.pump()
    assert len(exit_reactor.sockets) == before + 1, "the exit socket did not open"
    _, transport, _ = exit_reactor.sockets[-1]
    assert transport.sent == [(DHT_PACKET, DESTINATION)], "the data did not leave the exit"
    assert not tunnel_drops(newcomer), tunnel_drops(newcomer)


def assert_still_builds_circuits(h: Harness, node: HarnessNode) -> None:
    """``node`` still builds a circuit of its own: to a new honest exit, and data leaves it."""
    exit_node = tunnel_node(h, EXIT_FLAGS)
    connect(h, node, exit_node)
    circuit = build_circuit(h, node, 1, required_exit=overlay_peer(node, exit_node))
    assert node.overlay.tunnel_data(circuit, DESTINATION, "data", DHT_PACKET)
    h.pump()
    _, transport, _ = exit_node.overlay.settings.exit_reactor.sockets[-1]
    assert transport.sent == [(DHT_PACKET, DESTINATION)], "the data did not leave the exit"


def tunnel_drops(node: HarnessNode) -> dict[str, int]:
    """``node``'s non-zero ``tunnel-...`` drop counters, and those of packets that broke a decoder or handler
    (:data:`~tests.hostile.attacker.DECODE_FAILURES`: a hostile cell must never get that far)."""
    return {reason: count for reason, count in node.overlay.drop_counts.items()
            if (reason.startswith("tunnel-") or reason in DECODE_FAILURES) and count}


def joined_state(node: HarnessNode) -> dict[str, int]:
    """The sizes of everything a node keeps for circuits of others (and its own)."""
    overlay = node.overlay
    caches = overlay.request_cache._caches
    return {"circuits": len(overlay.circuits), "relays": len(overlay.relay_from_to),
            "exits": len(overlay.exit_sockets), "caches": len(caches)}


# --- the attacker -------------------------------------------------------------------------------------------------

@dataclass
class JoinedCircuit:
    """A circuit the attacker had the target join: the link's id and the session keys agreed on it."""

    circuit_id: int
    keys: SessionKeys
    #: The public keys the target offered to extend to.
    candidates: list[bytes] = field(default_factory=list)
    #: The keys of every hop, the target's first (more after :meth:`TunnelAttacker.extend`).
    layers: list[SessionKeys] = field(default_factory=list)

    #: How many of the target's cells to us were read already (:meth:`TunnelAttacker.answers_on`).
    read: int = 0

    def __post_init__(self) -> None:
        """The target is the first layer."""
        if not self.layers:
            self.layers = [self.keys]


class TunnelAttacker:
    """A forged tunnel peer at an address nobody owns; see the module documentation.

    :param target: the node under attack (its send log must be keeping packets for :meth:`join`).
    :param index: picks the attacker's address (:func:`~tests.hostile.attacker.attacker_address`).
    """

    def __init__(self, target: HarnessNode, index: int = 0) -> None:
        """A fresh key at a fresh address."""
        self.target = target
        self.key, self.key_bin = fresh_key()
        self.address = attacker_address(700_000 + index)
        self.crypto = TunnelCrypto()
        self.crypto.initialize(self.key)
        self.next_circuit_id = 10_000 + index * 1000

    # -- packets ---------------------------------------------------------------------------------------------

    @property
    def prefix(self) -> bytes:
        """The target's tunnel community prefix."""
        return self.target.prefix

    def plaintext(self, payload: Any, relay_early: bool = False) -> bytes:
        """A plaintext cell carrying ``payload`` (honest only for create and created)."""
        return CellPayload(payload.circuit_id, encode_cell_message(payload), True, relay_early).to_bin(self.prefix)

    def encrypted(self, circuit: JoinedCircuit, payload: Any, relay_early: bool = False) -> bytes:
        """A cell carrying ``payload`` on ``circuit``, encrypted forward with the agreed keys (next counter)."""
        message = encrypt_layers(encode_cell_message(payload), FORWARD, circuit.layers)
        return CellPayload(circuit.circuit_id, message, False, relay_early).to_bin(self.prefix)

    def raw_cell(self, circuit_id: int, message: bytes, plaintext: bool = False, relay_early: bool = False) -> bytes:
        """A cell with any ``message`` bytes."""
        return CellPayload(circuit_id, message, plaintext, relay_early).to_bin(self.prefix)

    def destroy(self, circuit_id: int, reason: int = 1, key: Any = None, key_bin: bytes | None = None) -> bytes:
        """A destroy signed with our key (or another ``key``), exactly as a hop would send it."""
        key, key_bin = (key, key_bin) if key is not None else (self.key, self.key_bin)
        packet = (self.prefix + bytes((DestroyPayload.msg_id,))
                  + default_serializer.pack_serializable_list([BinMemberAuthenticationPayload(key_bin),
                                                               DestroyPayload(circuit_id, reason)]))
        return packet + key.signature(packet)

    def send(self, packet: bytes, source: tuple | None = None) -> None:
        """Deliver ``packet`` to the target from our address (or ``source``)."""
        self.target.receive(source or self.address, packet)

    def fresh_circuit_id(self) -> int:
        """A circuit id the attacker has not used."""
        self.next_circuit_id += 1
        return self.next_circuit_id

    # -- the handshake ---------------------------------------------------------------------------------------

    def create(self, circuit_id: int | None = None, identifier: int = 1) -> tuple[bytes, Any]:
        """A create cell for a new circuit and the ephemeral secret to finish the handshake with."""
        secret, first_part = self.crypto.generate_diffie_secret()
        payload = CreatePayload(circuit_id if circuit_id is not None else self.fresh_circuit_id(), identifier,
                                self.key_bin, first_part)
        return self.plaintext(payload), secret

    def sent_cells(self, msg_ids: tuple[int, ...] | None = None) -> list[CellPayload]:
        """The cells the target sent to the attacker's address (its send log must keep packets)."""
        cells = [CellPayload.from_bin(packet) for packet in self.target.log.sent_to(self.address, [CELL])]
        if msg_ids is not None:
            cells = [cell for cell in cells if cell.plaintext and cell.message[:1] and cell.message[0] in msg_ids]
        return cells

    def join(self, h: Harness, circuit_id: int | None = None) -> JoinedCircuit:
        """Have the target join a circuit of ours: create, read its created, check it, derive the keys."""
        circuit_id = circuit_id if circuit_id is not None else self.fresh_circuit_id()
        before = len(self.sent_cells((CreatedPayload.msg_id,)))
        packet, secret = self.create(circuit_id)
        self.send(packet)
        h.pump()
        answers = self.sent_cells((CreatedPayload.msg_id,))
        assert len(answers) == before + 1, "the target did not answer the create"
        created = answers[-1].decode()
        assert created.circuit_id == circuit_id
        shared = self.crypto.verify_and_generate_shared_secret(secret, created.key, created.auth,
                                                               self.target.overlay.my_peer.public_key)
        keys = self.crypto.generate_session_keys(shared)
        candidates = unpack_candidate_list(keys.decrypt_str(created.candidates_enc, FORWARD))
        return JoinedCircuit(circuit_id, keys, candidates)

    def open_backward(self, circuit: JoinedCircuit, cell: CellPayload) -> Any:
        """The payload of a cell the target sent back on ``circuit`` (one backward layer per hop)."""
        message = decrypt_layers(cell.message, BACKWARD, circuit.layers)
        return decode_cell_message(cell.circuit_id, message)

    def extend(self, h: Harness, circuit: JoinedCircuit, node_key_bin: bytes, node_address: tuple = ("0.0.0.0", 0),
               node_public_key: Any = None, identifier: int = 7) -> ExtendedPayload | None:
        """Ask the target to extend ``circuit`` to ``node_key_bin``; on an extended, add that hop's keys.

        :returns: the extended (its handshake checked against ``node_public_key`` if given), or None.
        """
        secret, first_part = self.crypto.generate_diffie_secret()
        self.answers_on(circuit)  # what came before is not the answer
        self.send(self.encrypted(circuit, ExtendPayload(circuit.circuit_id, identifier, node_key_bin, first_part,
                                                        UDPv4Address(*node_address)), relay_early=True))
        h.pump()
        answers = [answer for answer in self.answers_on(circuit) if isinstance(answer, ExtendedPayload)]
        if not answers:
            return None
        extended = answers[-1]
        if node_public_key is not None:
            shared = self.crypto.verify_and_generate_shared_secret(secret, extended.key, extended.auth,
                                                                   node_public_key)
            circuit.layers.append(self.crypto.generate_session_keys(shared))
        return extended

    def answers_on(self, circuit: JoinedCircuit) -> list[Any]:
        """The encrypted answers the target sent on ``circuit`` since the last call, decrypted."""
        cells = self.sent_cells()
        start, circuit.read = circuit.read, len(cells)
        return [self.open_backward(circuit, cell) for cell in cells[start:]
                if not cell.plaintext and cell.circuit_id == circuit.circuit_id]


__all__ = ["CELL", "DESTINATION", "DHT_PACKET", "EXIT_FLAGS", "RELAY_FLAGS", "FakeUDPReactor", "JoinedCircuit",
           "TunnelAttacker", "assert_still_builds_circuits", "assert_tunnels_still_work", "build_circuit",
           "joined_state", "overlay_peer", "tunnel_drops", "tunnel_network", "tunnel_node"]
