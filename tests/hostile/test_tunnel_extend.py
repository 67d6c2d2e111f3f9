"""Hostile extends and createds: odd next-hop addresses, peers found through the DHT, garbage answers.

An extend names the next hop by key and, when the key is not one the node offered, by address: that address is
the attacker's choice, so the node must only ever send its create to an address it could walk to (never
unspecified, multicast, broadcast, port 0, its own, or loopback from a peer that is not on loopback). A peer the
node does not know fresh is looked up through the DHT first, as pyipv8 3.2.1 does. The next hop's created, and a
first hop's created, are accepted only from the node the create went to, with the identifiers it carried.
"""
from __future__ import annotations

from twisted.internet.defer import Deferred, fail

from ipv8.messaging.anonymization import _circuits
from ipv8.messaging.anonymization.payload import (
    CellPayload,
    CreatedPayload,
    CreatePayload,
    encode_cell_message,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_EXTENDING,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_RELAY,
)
from ipv8.peer import Peer

from .attacker import attacker_address, connect, fresh_key, harness, plain
from .tunnel_attacker import (
    CELL,
    EXIT_FLAGS,
    RELAY_FLAGS,
    TunnelAttacker,
    assert_still_builds_circuits,
    assert_tunnels_still_work,
    joined_state,
    tunnel_drops,
    tunnel_node,
)


def creates_sent(node: object, exclude: tuple | None = None) -> list[tuple[tuple, CreatePayload]]:
    """``(destination, create)`` for every create cell ``node`` sent (except to ``exclude``)."""
    found = []
    for destination, packet in node.log.records:  # type: ignore[attr-defined]
        if len(packet) > 22 and packet[22] == CELL and destination != exclude:
            cell = CellPayload.from_bin(packet)
            if cell.plaintext and cell.message[:1] == bytes((CreatePayload.msg_id,)):
                found.append((destination, cell.decode()))
    return found


class FakeDHTProvider:
    """A ``dht_provider`` whose lookups the test settles by hand."""

    def __init__(self) -> None:
        """No lookups yet."""
        self.lookups: list[tuple[bytes, Peer | None, Deferred]] = []
        self.fail = False

    def peer_lookup(self, mid: bytes, peer: Peer | None = None) -> Deferred:
        """Record the lookup; it fires when the test says so (or fails at once)."""
        if self.fail:
            return fail(RuntimeError("the DHT is down"))
        deferred: Deferred = Deferred()
        self.lookups.append((mid, peer, deferred))
        return deferred


#: Next-hop addresses an extend may name that no create must ever go to (the node's own are added per test).
UNUSABLE_NEXT_HOPS = [("0.0.0.0", 0), ("0.0.0.0", 7000), ("0.1.2.3", 7000), ("1.2.3.4", 0), ("224.0.0.1", 7000),
                      ("239.255.255.250", 1900), ("255.255.255.255", 7000), ("240.0.0.1", 7000), ("127.0.0.1", 7000),
                      ("::", 7000), ("::1", 7000), ("ff02::1", 7000), ("::ffff:0.0.0.0", 7000),
                      ("::ffff:224.0.0.1", 7000), ("::ffff:127.0.0.1", 7000)]


def test_extends_to_unusable_addresses_send_no_create() -> None:
    """Extends naming an unknown key at each unusable address (unspecified, 0.0.0.0/8, port 0, multicast,
    broadcast, reserved, loopback from a non-loopback peer, IPv6 alike, IPv4-mapped IPv6 forms of those, the
    node's own address in either form) and extends naming the node's own key
    are refused (``tunnel-unexpected-extend``): no create leaves the node, no relay is set up."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS)
        own = plain(target.address)
        bad = [*UNUSABLE_NEXT_HOPS, own, plain(target.lan_address), (f"::ffff:{own[0]}", own[1])]
        cases = 0
        for index, address in enumerate(bad):
            attacker = TunnelAttacker(target, index)
            circuit = attacker.join(h)
            _, key_bin = fresh_key()
            assert attacker.extend(h, circuit, key_bin, address) is None
            assert attacker.extend(h, circuit, target.key_bin, attacker_address(5_000 + index)) is None
            cases += 2
        assert creates_sent(target) == []
        assert tunnel_drops(target) == {"tunnel-unexpected-extend": cases}
        assert joined_state(target)["relays"] == 0
        assert_tunnels_still_work(h, target)


def test_an_extend_to_a_known_peer_uses_the_address_we_know() -> None:
    """An extend naming a peer the node knows (verified) but giving a bogus address sends the create to the
    peer's real address, never to the one in the extend."""
    with harness() as h:
        target = tunnel_node(h, RELAY_FLAGS)
        honest = tunnel_node(h, EXIT_FLAGS)
        connect(h, target, honest)
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        assert honest.key_bin in circuit.candidates
        bogus = attacker_address(9_999)
        extended = attacker.extend(h, circuit, honest.key_bin, bogus,
                                   node_public_key=honest.overlay.my_peer.public_key)
        assert extended is not None
        assert [plain(destination) for destination, _ in creates_sent(target)] == [plain(honest.address)]
        assert target.log.sent_to(bogus) == []
        assert len(target.overlay.relay_from_to) == 2
        assert_tunnels_still_work(h, target, honest)


def test_an_extend_to_an_unknown_peer_looks_it_up_in_the_dht_first() -> None:
    """As in pyipv8 3.2.1, a next hop the node has not heard from lately (an unknown key: never) is looked up
    through the DHT provider before the create goes out, to the address the extend names; a failing lookup does
    not stop the extend; a circuit that goes away during the lookup gets no create."""
    with harness() as h:
        dht = FakeDHTProvider()
        target = tunnel_node(h, RELAY_FLAGS, dht_provider=dht)
        attacker = TunnelAttacker(target)
        next_hop = TunnelAttacker(target, 1)
        circuit = attacker.join(h)
        attacker.extend(h, circuit, next_hop.key_bin, next_hop.address)
        assert [(mid, plain(peer.address)) for mid, peer, _ in dht.lookups] == \
            [(Peer(next_hop.key_bin).mid, plain(next_hop.address))]
        assert creates_sent(target) == []  # not before the lookup is done
        dht.lookups[0][2].callback([])
        h.pump()
        (destination, create), = creates_sent(target)
        assert destination == plain(next_hop.address)
        assert create.node_public_key == target.key_bin

        dht.fail = True
        second = attacker.join(h)
        attacker.extend(h, second, next_hop.key_bin, next_hop.address)
        assert len(creates_sent(target)) == 2

        dht.fail = False
        third = attacker.join(h)
        attacker.extend(h, third, next_hop.key_bin, next_hop.address)
        target.overlay.remove_exit_socket(third.circuit_id, "gone", remove_now=True)
        dht.lookups[-1][2].callback([])
        h.pump()
        assert len(creates_sent(target)) == 2
        assert tunnel_drops(target) == {}
        dht.fail = True  # the newcomer's extend through the target names an exit the target does not know
        assert_tunnels_still_work(h, target, tunnel_node(h, EXIT_FLAGS))


def relay_with_pending_create(h: object, target: object) -> tuple[TunnelAttacker, TunnelAttacker, object,
                                                                  CreatePayload]:
    """The attacker has ``target`` extend its circuit to a second attacker key; returns both attackers, the
    circuit and the create the target sent to the second one."""
    attacker = TunnelAttacker(target)
    next_hop = TunnelAttacker(target, 1)
    circuit = attacker.join(h)  # type: ignore[arg-type]
    attacker.extend(h, circuit, next_hop.key_bin, next_hop.address)  # type: ignore[arg-type]
    (destination, create), = creates_sent(target)
    assert destination == plain(next_hop.address)
    return attacker, next_hop, circuit, create


def test_a_next_hop_that_answers_created_with_garbage() -> None:
    """The node extended a circuit and waits for the next hop's created. Dropped as
    ``tunnel-unexpected-created``: a created with another identifier, with another circuit id, and the right
    one from another address. A created whose body does not decode is ``tunnel-malformed-cell-message``. None
    of them sets up a relay; the create's request expires after its timeout."""
    with harness() as h:
        target = tunnel_node(h, RELAY_FLAGS)
        _, next_hop, _, create = relay_with_pending_create(h, target)
        bogus = CreatedPayload(create.circuit_id, create.identifier, b"\x01" * 32, b"\x02" * 32, b"\x03" * 40)
        wrong_id = CreatedPayload(create.circuit_id, (create.identifier + 1) % 65536, bogus.key, bogus.auth,
                                  bogus.candidates_enc)
        wrong_circuit = CreatedPayload(create.circuit_id ^ 1, create.identifier, bogus.key, bogus.auth,
                                       bogus.candidates_enc)
        next_hop.send(next_hop.plaintext(wrong_id))
        next_hop.send(next_hop.plaintext(wrong_circuit))
        next_hop.send(next_hop.plaintext(bogus), source=attacker_address(4_242))
        malformed = encode_cell_message(bogus)[:6]
        next_hop.send(next_hop.raw_cell(create.circuit_id, malformed, plaintext=True))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-unexpected-created": 3, "tunnel-malformed-cell-message": 1}
        assert target.overlay.relay_from_to == {}
        assert joined_state(target)["caches"] == 2  # the joined circuit's and the pending create's
        h.advance(11)  # the create's timeout
        assert joined_state(target)["caches"] == 1
        # The answer is too late now, even from the right address.
        next_hop.send(next_hop.plaintext(bogus))
        h.pump()
        assert target.overlay.relay_from_to == {}
        assert target.overlay.drop_counts[_circuits.DROP_TUNNEL_UNEXPECTED_CREATED] == 4
        assert_tunnels_still_work(h, target, tunnel_node(h, EXIT_FLAGS))


def test_a_next_hop_with_a_bogus_handshake_is_relayed_for_the_initiator_to_judge() -> None:
    """A created from the right next hop with the right identifiers but a made-up key and auth: a relay cannot
    check the handshake (only the initiator knows its ephemeral secret), so it sets up the relay and passes the
    answer back as extended, as pyipv8 does; what it costs is one relay, within ``max_joined_circuits``."""
    with harness() as h:
        target = tunnel_node(h, RELAY_FLAGS)
        attacker, next_hop, circuit, create = relay_with_pending_create(h, target)
        next_hop.send(next_hop.plaintext(CreatedPayload(create.circuit_id, create.identifier, b"\x01" * 32,
                                                        b"\x02" * 32, b"")))
        h.pump()
        extended = attacker.answers_on(circuit)
        assert [answer.auth for answer in extended] == [b"\x02" * 32]
        assert len(target.overlay.relay_from_to) == 2 and target.overlay.exit_sockets == {}
        assert target.overlay.joined_circuits() == 1
        assert_tunnels_still_work(h, target, tunnel_node(h, EXIT_FLAGS))


def test_a_first_hop_that_answers_created_with_garbage() -> None:
    """The node builds a circuit whose first hop is the attacker. Dropped as ``tunnel-unexpected-created``
    without touching the circuit: a created with another identifier, and one with the right identifier from
    another address (which would otherwise kill the circuit with its bad auth). The right hop's created with a
    bad auth ends the circuit (``tunnel-bad-auth``): that hop cannot be used."""
    with harness() as h:
        target = tunnel_node(h, frozenset({PEER_FLAG_RELAY}))
        attacker = TunnelAttacker(target)
        hop_peer = Peer(attacker.key_bin, attacker.address)
        target.overlay.candidates[hop_peer] = [PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT]
        circuit = target.overlay.create_circuit(1, required_exit=hop_peer)
        assert circuit is not None
        h.pump()
        (destination, create), = creates_sent(target)
        assert destination == plain(attacker.address) and create.circuit_id == circuit.circuit_id
        wrong_id = CreatedPayload(create.circuit_id, (create.identifier + 1) % 65536, b"\x01" * 32, b"\x02" * 32,
                                  b"")
        right_id = CreatedPayload(create.circuit_id, create.identifier, b"\x01" * 32, b"\x02" * 32, b"")
        attacker.send(attacker.plaintext(wrong_id))
        attacker.send(attacker.plaintext(right_id), source=attacker_address(31_337))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-unexpected-created": 2}
        assert circuit.state == CIRCUIT_STATE_EXTENDING
        attacker.send(attacker.plaintext(right_id))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-unexpected-created": 2, "tunnel-bad-auth": 1}
        assert circuit.ready.result is None
        # The circuit is gone; nothing waits on it.
        assert joined_state(target) == {"circuits": 0, "relays": 0, "exits": 0, "caches": 0}
        assert_still_builds_circuits(h, target)


def test_a_next_hop_cannot_file_a_circuit_of_its_own_under_the_relay_id() -> None:
    """The next hop learns the circuit id the relay picked for it from the create. If it first has the relay
    join a circuit under that id and then answers the create, the relay would file one id twice (an exit socket
    and a relay route). The created is refused (``tunnel-unexpected-created``) and no relay is set up."""
    with harness() as h:
        target = tunnel_node(h, RELAY_FLAGS)
        _, next_hop, _, create = relay_with_pending_create(h, target)
        next_hop.join(h, circuit_id=create.circuit_id)
        next_hop.send(next_hop.plaintext(CreatedPayload(create.circuit_id, create.identifier, b"\x01" * 32,
                                                        b"\x02" * 32, b"")))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-unexpected-created": 1}
        assert target.overlay.relay_from_to == {}
        assert create.circuit_id in target.overlay.exit_sockets
        assert_tunnels_still_work(h, target, tunnel_node(h, EXIT_FLAGS))
