"""Forged destroys: a destroy tears down one hop of a circuit, so only the peer at the other end of that hop may
send it. Destroys are signed; the signer's key, not the source address, decides who sent it.

An honest two-hop circuit (initiator, relay, exit) is attacked at each of its nodes; afterwards the circuit still
carries data, and a real destroy from its initiator still tears it down everywhere.
"""
from __future__ import annotations

from ipv8.messaging.anonymization import _circuits
from ipv8.messaging.anonymization.payload import DestroyPayload
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    DESTROY_REASON_UNNEEDED,
)

from .attacker import attacker_address, harness, keys, live_block_growth
from .tunnel_attacker import (
    DESTINATION,
    DHT_PACKET,
    TunnelAttacker,
    assert_tunnels_still_work,
    build_circuit,
    overlay_peer,
    tunnel_drops,
    tunnel_network,
)


def signed_destroy(node: object, circuit_id: int) -> bytes:
    """A destroy signed by ``node``'s own key, as it would send it."""
    return node.overlay.ezr_pack(DestroyPayload.msg_id, DestroyPayload(circuit_id, DESTROY_REASON_UNNEEDED))  # type: ignore[attr-defined]


def test_forged_destroys_are_refused_at_every_node_of_a_circuit() -> None:
    """Refused as ``tunnel-unauthorized-destroy``, the circuit untouched: at the relay, a destroy for the
    initiator's side from an outsider, from an outsider at the initiator's address, and from the exit (the
    wrong neighbour for that side), and one for the exit's side from the initiator; at the exit, one from an
    outsider; at the initiator, one from the exit (not its first hop). A destroy whose signature does not match
    the initiator's key it claims is dropped before that (``bad-signature``)."""
    with harness() as h:
        initiator, relays, exits = tunnel_network(h, relays=1, exits=1)
        relay, exit_node = relays[0], exits[0]
        circuit = build_circuit(h, initiator, 2, required_exit=overlay_peer(initiator, exit_node))
        assert circuit.hops[0].public_key_bin == relay.key_bin
        from_id = circuit.circuit_id
        (to_id,) = set(relay.overlay.relay_from_to) - {from_id}
        (exit_id,) = exit_node.overlay.exit_sockets
        outsider = TunnelAttacker(relay)

        outsider.send(outsider.destroy(from_id))
        outsider.send(outsider.destroy(from_id), source=initiator.address)
        relay.receive(exit_node.address, signed_destroy(exit_node, from_id))
        relay.receive(initiator.address, signed_destroy(initiator, to_id))
        exit_node.receive(outsider.address, TunnelAttacker(exit_node).destroy(exit_id))
        initiator.receive(exit_node.address, signed_destroy(exit_node, from_id))
        forged = bytearray(signed_destroy(initiator, from_id))
        forged[-1] ^= 0x01
        relay.receive(initiator.address, bytes(forged))
        h.pump()

        assert tunnel_drops(relay) == {"tunnel-unauthorized-destroy": 4, "bad-signature": 1}
        assert tunnel_drops(exit_node) == {"tunnel-unauthorized-destroy": 1}
        assert tunnel_drops(initiator) == {"tunnel-unauthorized-destroy": 1}
        assert circuit.state == CIRCUIT_STATE_READY
        assert set(relay.overlay.relay_from_to) == {from_id, to_id}
        assert list(exit_node.overlay.exit_sockets) == [exit_id]

        # The circuit still carries data.
        assert initiator.overlay.tunnel_data(circuit, DESTINATION, "data", DHT_PACKET)
        h.pump()
        _, transport, _ = exit_node.overlay.settings.exit_reactor.sockets[-1]
        assert transport.sent == [(DHT_PACKET, DESTINATION)]

        # The real thing: the initiator's destroy goes hop by hop and is honoured everywhere.
        initiator.overlay.remove_circuit(from_id, "done", destroy=DESTROY_REASON_UNNEEDED)
        h.pump()
        assert initiator.overlay.circuits == {}
        assert relay.overlay.relay_from_to == {}
        assert exit_node.overlay.exit_sockets == {}
        assert relay.overlay.drop_counts[_circuits.DROP_TUNNEL_UNAUTHORIZED_DESTROY] == 4


def test_a_destroy_flood_from_fresh_keys_keeps_nothing() -> None:
    """2,000 validly signed destroys from 2,000 fresh keys at 2,000 addresses, for the relay's two real circuit
    ids and for random ones: each is refused (``tunnel-unauthorized-destroy``), the relay keeps its routes, and
    the flood leaves no memory behind (no peer is remembered for a destroy)."""
    with harness() as h:
        initiator, relays, exits = tunnel_network(h, relays=1, exits=1)
        relay, exit_node = relays[0], exits[0]
        circuit = build_circuit(h, initiator, 2, required_exit=overlay_peer(initiator, exit_node))
        ids = list(relay.overlay.relay_from_to)
        relay.log.keep = False
        count = 2_000
        attacker = TunnelAttacker(relay)
        packets = [attacker.destroy(ids[number % 2] if number % 3 else 1_000_000 + number, key=key,
                                    key_bin=key_bin) for number, (key, key_bin) in enumerate(keys(count))]
        peers_before = len(relay.network.verified_peers)
        # The first 1,200 fill the bounded caches a signed message goes through (1,024 parsed keys); the rest
        # show what the flood itself leaves behind.
        for number, packet in enumerate(packets[:1200]):
            relay.receive(attacker_address(number), packet)
        with live_block_growth() as growth:
            for number, packet in enumerate(packets[1200:], 1200):
                relay.receive(attacker_address(number), packet)
            h.pump()
        assert tunnel_drops(relay) == {"tunnel-unauthorized-destroy": count}
        assert set(relay.overlay.relay_from_to) == set(ids)
        assert len(relay.network.verified_peers) == peers_before
        assert growth["blocks"] < 300, growth
        assert circuit.state == CIRCUIT_STATE_READY
        relay.log.keep = True
        assert_tunnels_still_work(h, relay, exit_node)
