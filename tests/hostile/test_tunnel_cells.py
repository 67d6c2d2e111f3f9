"""Hostile cells: replays, flipped bits, counters out of order, unknown circuits, forbidden plaintext, odd inner ids.

The attacker does the real handshake with the node under attack, so most of its cells are validly encrypted with
keys the node agreed to; the node must still drop what breaks the protocol, count it under its own reason, keep
its tables and replay windows bounded, and go on serving a legitimate circuit afterwards.
"""
from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ipv8.messaging.anonymization import _cells, _circuits
from ipv8.messaging.anonymization.crypto import DEFAULT_REPLAY_WINDOW, FORWARD
from ipv8.messaging.anonymization.payload import (
    PLAINTEXT_MSG_IDS,
    CellPayload,
    DataPayload,
    ExtendPayload,
    PingPayload,
    PongPayload,
    encode_cell_message,
)

from .attacker import DECODE_FAILURES, attacker_address, harness, traced_growth
from .tunnel_attacker import (
    DESTINATION,
    DHT_PACKET,
    EXIT_FLAGS,
    JoinedCircuit,
    TunnelAttacker,
    assert_tunnels_still_work,
    build_circuit,
    joined_state,
    overlay_peer,
    tunnel_drops,
    tunnel_network,
    tunnel_node,
)

#: The inner ids that have a cell handler in the plain TunnelCommunity (data ... test-response).
HANDLED_INNER_IDS = frozenset({1, 2, 3, 4, 5, 6, 7, 19, 20})


def with_counter(circuit: JoinedCircuit, message: bytes, counter: int, nonce_counter: int | None = None) -> bytes:
    """One forward layer with an explicit ``counter`` in the header (and ``nonce_counter`` in the nonce)."""
    keys = circuit.keys
    nonce = keys.salt_forward + struct.pack(">Q", counter if nonce_counter is None else nonce_counter)
    return struct.pack(">Q", counter) + ChaCha20Poly1305(keys.key_forward).encrypt(nonce, message, None)


def ping_message(circuit: JoinedCircuit, identifier: int) -> bytes:
    """The plaintext cell message of a ping on ``circuit``."""
    return encode_cell_message(PingPayload(circuit.circuit_id, identifier))


def pongs(attacker: TunnelAttacker, circuit: JoinedCircuit) -> list[int]:
    """The identifiers of the pongs the target sent back on ``circuit``."""
    return [answer.identifier for answer in attacker.answers_on(circuit) if isinstance(answer, PongPayload)]


def assert_no_decode_failures(node: object) -> None:
    """The node never hit an unexpected error (a handler raising) on the hostile cells."""
    assert {reason: count for reason, count in node.overlay.drop_counts.items()  # type: ignore[attr-defined]
            if reason in DECODE_FAILURES and count} == {}


def test_replayed_cells_are_dropped_and_answered_once() -> None:
    """A validly encrypted ping, sent once and then replayed 200 times, is answered once; the replays are
    counted under ``tunnel-cell-replayed`` and nothing else changes."""
    with harness() as h:
        _, _, exits = tunnel_network(h, relays=1, exits=2)
        target = exits[0]
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        packet = attacker.encrypted(circuit, PingPayload(circuit.circuit_id, 42))
        state = joined_state(target)
        for _ in range(201):
            attacker.send(packet)
        h.pump()
        assert pongs(attacker, circuit) == [42]
        assert tunnel_drops(target) == {"tunnel-cell-replayed": 200}
        assert joined_state(target) == state
        assert_no_decode_failures(target)
        assert_tunnels_still_work(h, target)


def test_bit_flipped_cells_are_dropped_at_the_first_hop_that_can_check_them() -> None:
    """Tagging: every single-bit flip of an encrypted cell message (counter, ciphertext or tag) fails to
    authenticate at the hop that owns the layer (``tunnel-cell-bad-tag``), on an exit and on a relay; the relay
    passes none of them on, so the exit behind it never sees one. Flipping the cell's plaintext flag turns it
    into forbidden plaintext; flipping its circuit id makes it a cell for an unknown circuit."""
    with harness() as h:
        _, relays, exits = tunnel_network(h, relays=1, exits=2)
        relay, exit_node = relays[0], exits[1]
        attacker = TunnelAttacker(relay)
        circuit = attacker.join(h)
        attacker.extend(h, circuit, exit_node.key_bin, node_public_key=exit_node.overlay.my_peer.public_key)
        assert len(circuit.layers) == 2
        assert len(relay.overlay.relay_from_to) == 2
        packet = attacker.encrypted(circuit, PingPayload(circuit.circuit_id, 1))
        header = len(relay.prefix) + 1 + 4 + 2
        exit_before = exit_node.log.count([0])
        flips = 0
        for position in range(header, len(packet)):
            for bit in (0x01, 0x80):
                flipped = bytearray(packet)
                flipped[position] ^= bit
                attacker.send(bytes(flipped))
                flips += 1
        h.pump()
        assert tunnel_drops(relay) == {"tunnel-cell-bad-tag": flips}
        assert exit_node.log.count([0]) == exit_before, "the relay passed a tampered cell on"
        assert tunnel_drops(exit_node) == {}
        # The untampered cell still goes through and is answered through both hops.
        attacker.send(packet)
        h.pump()
        assert pongs(attacker, circuit) == [1]

        # The header: a flipped plaintext flag and a flipped circuit id.
        plain_flag = bytearray(packet)
        plain_flag[header - 2] ^= 0x01
        other_id = bytearray(packet)
        other_id[header - 3] ^= 0x40
        attacker.send(bytes(plain_flag))
        attacker.send(bytes(other_id))
        h.pump()
        assert relay.overlay.drop_counts[_cells.DROP_TUNNEL_PLAINTEXT_RELAY] == 1
        assert relay.overlay.drop_counts[_cells.DROP_TUNNEL_UNKNOWN_CIRCUIT] == 1
        assert_no_decode_failures(relay)
        assert_tunnels_still_work(h, relay, exit_node)


def test_wrong_counters() -> None:
    """Counters an honest sender never uses: counter 0 (taken as seen), a header counter that is not the one in
    the nonce (does not authenticate), a counter a window or more behind the newest (too old), a counter used
    twice with different content (a replay). A reordered counter inside the window is fine, and every refused
    cell leaves the window where it was."""
    with harness() as h:
        _, _, exits = tunnel_network(h, relays=0, exits=2)
        target = exits[0]
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        cid = circuit.circuit_id

        def send(layer: bytes) -> None:
            attacker.send(attacker.raw_cell(cid, layer))

        send(with_counter(circuit, ping_message(circuit, 1), 0))
        send(with_counter(circuit, ping_message(circuit, 2), 100, nonce_counter=101))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-cell-replayed": 1, "tunnel-cell-bad-tag": 1}
        keys = target.overlay.exit_sockets[cid].hop.keys
        assert keys.newest_received(FORWARD) == 0  # refused cells did not move the window

        top = 5000
        send(with_counter(circuit, ping_message(circuit, 3), top))
        send(with_counter(circuit, ping_message(circuit, 4), top - 10))  # reordered, inside the window: fine
        send(with_counter(circuit, ping_message(circuit, 5), top - DEFAULT_REPLAY_WINDOW))  # too old
        send(with_counter(circuit, ping_message(circuit, 6), top))  # same counter, other content
        h.pump()
        assert pongs(attacker, circuit) == [3, 4]
        assert tunnel_drops(target) == {"tunnel-cell-replayed": 2, "tunnel-cell-bad-tag": 1,
                                        "tunnel-cell-too-old": 1}
        assert keys.newest_received(FORWARD) == top
        assert_no_decode_failures(target)
        assert_tunnels_still_work(h, target)


def test_a_flood_of_cells_for_unknown_circuits_keeps_nothing() -> None:
    """10,000 cells for random circuit ids from 2,000 addresses are counted under ``tunnel-unknown-circuit``;
    the node's tables do not grow and the flood leaves (almost) no memory behind."""
    with harness() as h:
        _, _, exits = tunnel_network(h, relays=0, exits=2)
        target = exits[0]
        target.log.keep = False
        state = joined_state(target)
        count = 10_000
        with traced_growth() as growth:
            for number in range(count):
                circuit_id = (number * 2_654_435_761) % (1 << 32)
                target.receive(attacker_address(number % 2000),
                               CellPayload(circuit_id, bytes(60)).to_bin(target.prefix))
            h.pump()
        assert tunnel_drops(target) == {"tunnel-unknown-circuit": count}
        assert joined_state(target) == state
        assert growth["growth"] < 64 * 1024, growth
        target.log.keep = True
        assert_tunnels_still_work(h, target)


def test_plaintext_cells_with_any_inner_id_but_create_or_created_are_dropped() -> None:
    """A plaintext cell with each of the 254 inner ids other than create and created (and an empty one), on the
    attacker's own joined circuit and on an unknown circuit id, is dropped as ``tunnel-forbidden-plaintext``
    before any handler runs: no data leaves the exit, no pong is sent, nothing is joined."""
    with harness() as h:
        _, _, exits = tunnel_network(h, relays=0, exits=2)
        target = exits[0]
        reactor = target.overlay.settings.exit_reactor
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        state = joined_state(target)
        inner_ids = [inner for inner in range(256) if inner not in PLAINTEXT_MSG_IDS]
        assert len(inner_ids) == 254
        data = encode_cell_message(DataPayload(circuit.circuit_id, DESTINATION, ("0.0.0.0", 0), DHT_PACKET))
        sent = 0
        for circuit_id in (circuit.circuit_id, 99_999):
            for inner in inner_ids:
                attacker.send(attacker.raw_cell(circuit_id, bytes((inner,)) + data[1:], plaintext=True))
                sent += 1
            attacker.send(attacker.raw_cell(circuit_id, b"", plaintext=True))
            sent += 1
        h.pump()
        assert tunnel_drops(target) == {"tunnel-forbidden-plaintext": sent}
        assert reactor.sockets == []
        assert attacker.sent_cells()[1:] == []  # nothing but the created of the handshake
        assert joined_state(target) == state
        assert_no_decode_failures(target)
        assert_tunnels_still_work(h, target)


def test_validly_encrypted_cells_with_every_inner_id_and_a_garbage_body() -> None:
    """Every inner id 0-255 with a one-byte garbage body (flagged relay_early, so extends get to decoding), validly encrypted on the attacker's circuit: ids with a
    handler fail to decode (``tunnel-malformed-cell-message``), the rest have no handler
    (``tunnel-unknown-cell-message``); no handler raises, nothing is joined, nothing leaves the exit."""
    with harness() as h:
        _, _, exits = tunnel_network(h, relays=0, exits=2)
        target = exits[0]
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        state = joined_state(target)
        for inner in range(256):
            message = circuit.keys.encrypt_str(bytes((inner,)) + b"\xff", FORWARD)
            attacker.send(attacker.raw_cell(circuit.circuit_id, message, relay_early=True))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-malformed-cell-message": len(HANDLED_INNER_IDS),
                                        "tunnel-unknown-cell-message": 256 - len(HANDLED_INNER_IDS)}
        assert target.overlay.settings.exit_reactor.sockets == []
        assert joined_state(target) == state
        assert_no_decode_failures(target)
        assert_tunnels_still_work(h, target)


def test_relay_early_abuse() -> None:
    """On a relay: relay_early cells beyond ``max_relay_early`` per circuit are not passed on
    (``tunnel-relay-early-exceeded``); an extend without the flag is refused (``tunnel-missing-relay-early``);
    extends beyond the per-circuit cap are refused (``tunnel-unexpected-extend``) so a stranger cannot make us
    send creates without end."""
    with harness() as h:
        _, relays, exits = tunnel_network(h, relays=1, exits=2)
        relay, exit_node = relays[0], exits[0]
        attacker = TunnelAttacker(relay)
        circuit = attacker.join(h)
        attacker.extend(h, circuit, exit_node.key_bin, node_public_key=exit_node.overlay.my_peer.public_key)
        limit = relay.overlay.settings.max_relay_early
        for identifier in range(3 * limit):
            attacker.send(attacker.encrypted(circuit, PingPayload(circuit.circuit_id, identifier), relay_early=True))
        h.pump()
        # The extend counted as the route's first relay_early cell.
        assert pongs(attacker, circuit) == list(range(limit - 1))
        assert tunnel_drops(relay) == {"tunnel-relay-early-exceeded": 3 * limit - (limit - 1)}

        # On a node that is the circuit's last hop: an extend without relay_early, then more extends than allowed.
        target = exits[1]
        attacker = TunnelAttacker(target, index=1)
        circuit = attacker.join(h)
        _, first_part = attacker.crypto.generate_diffie_secret()
        extend = ExtendPayload(circuit.circuit_id, 1, circuit.candidates[0], first_part, ("0.0.0.0", 0))
        attacker.send(attacker.encrypted(circuit, extend, relay_early=False))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-missing-relay-early": 1}
        creates_before = target.log.count([0])
        for identifier in range(3 * _circuits.MAX_EXTENDS_PER_CIRCUIT):
            extend = ExtendPayload(circuit.circuit_id, identifier, circuit.candidates[0], first_part, ("0.0.0.0", 0))
            attacker.send(attacker.encrypted(circuit, extend, relay_early=True))
        h.pump()
        assert target.overlay.drop_counts[_circuits.DROP_TUNNEL_UNEXPECTED_EXTEND] == \
            2 * _circuits.MAX_EXTENDS_PER_CIRCUIT
        # At most one create per allowed extend (plus the extendeds for the answers that came back).
        assert target.log.count([0]) - creates_before <= 2 * _circuits.MAX_EXTENDS_PER_CIRCUIT
        assert len(target.overlay.relay_from_to) <= 2
        assert_no_decode_failures(target)
        assert_tunnels_still_work(h, target)


def test_a_relay_passes_cells_only_from_the_neighbour_they_belong_to() -> None:
    """Cells arriving on a relay's backward circuit id must come from the next hop, and on its forward id from
    the previous hop. A relay cannot check the backward direction's content (it adds a layer, it removes none),
    so without that check anyone who learns the id can push garbage to the initiator through the relay and keep
    the relay alive for ever. From anyone else (an outsider, or the other neighbour using the wrong id) they are
    dropped as ``tunnel-wrong-neighbour``: nothing reaches the initiator and the relay does not count them as
    activity."""
    with harness() as h:
        initiator, relays, exits = tunnel_network(h, relays=1, exits=1)
        relay, exit_node = relays[0], exits[0]
        circuit = build_circuit(h, initiator, 2, required_exit=overlay_peer(initiator, exit_node))
        (to_id,) = set(relay.overlay.relay_from_to) - {circuit.circuit_id}
        outsider = TunnelAttacker(relay)
        before = tunnel_drops(initiator)
        h.advance(3)
        activity = {cid: route.last_activity for cid, route in relay.overlay.relay_from_to.items()}
        for number in range(10):
            outsider.send(outsider.raw_cell(to_id, b"\xff" * 40 + bytes((number,)) * 40))
            outsider.send(outsider.raw_cell(circuit.circuit_id, b"\xff" * 40 + bytes((number,)) * 40))
        relay.receive(initiator.address, outsider.raw_cell(to_id, b"\xff" * 80))
        relay.receive(exit_node.address, outsider.raw_cell(circuit.circuit_id, b"\xff" * 80))
        h.pump()
        assert tunnel_drops(relay) == {"tunnel-wrong-neighbour": 22}
        assert tunnel_drops(initiator) == before, "garbage reached the initiator through the relay"
        assert tunnel_drops(exit_node) == {}
        assert {cid: route.last_activity for cid, route in relay.overlay.relay_from_to.items()} == activity
        assert_tunnels_still_work(h, relay, exit_node)


def test_replay_windows_stay_small_whatever_the_counters() -> None:
    """20 joined circuits (``max_joined_circuits``), each receiving 100 validly encrypted cells with counters
    spread over the whole 64-bit range, plus replays of each: a replay window is a fixed ring of
    ``DEFAULT_REPLAY_WINDOW`` slots per receiving direction, so the node's memory stays within 20 windows and a
    little more, however far the counters jump; the replays are counted."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS, max_joined_circuits=20)
        attackers = [TunnelAttacker(target, index) for index in range(20)]
        circuits = [attacker.join(h) for attacker in attackers]
        assert len(target.overlay.exit_sockets) == 20
        target.log.keep = False
        packets = []
        for attacker, circuit in zip(attackers, circuits):
            for number in range(100):
                counter = 2 + number * ((1 << 63) // 100)
                packets.append((attacker, attacker.raw_cell(circuit.circuit_id, with_counter(
                    circuit, ping_message(circuit, number), counter))))
        with traced_growth() as growth:
            for attacker, packet in packets:
                attacker.send(packet)
                attacker.send(packet)
            h.pump()
        assert tunnel_drops(target) == {"tunnel-cell-replayed": len(packets)}
        window_bytes = 8 * DEFAULT_REPLAY_WINDOW
        assert growth["growth"] < 20 * (window_bytes + 4096), growth
        target.log.keep = True
        h.advance(target.overlay.settings.max_time_inactive + 5)  # the slots free up once the attacker is idle
        assert target.overlay.exit_sockets == {}
        assert_tunnels_still_work(h, target)
