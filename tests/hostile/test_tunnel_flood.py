"""Floods: creates from many fresh peers, and validly encrypted data and speed tests on the attacker's circuits.

Every flood is many times the cap it runs into (caps are lowered on the node under attack). The node must count
what it refuses, keep its tables, request caches, exit sockets, name lookups and memory bounded, recover once the
flood's state expires, and serve a legitimate circuit afterwards.
"""
from __future__ import annotations

from twisted.internet.defer import Deferred

from ipv8.messaging.anonymization import _circuits
from ipv8.messaging.anonymization.community import DROP_TUNNEL_UNEXPECTED_PING
from ipv8.messaging.anonymization.crypto import TunnelCrypto
from ipv8.messaging.anonymization.exit_socket import (
    EXIT_DROP_RESOLVE_BACKLOG,
    MAX_PENDING_RESOLUTIONS,
    HostResolver,
)
from ipv8.messaging.anonymization.payload import (
    CreatePayload,
    DataPayload,
    PingPayload,
    TestRequestPayload,
)

from .attacker import (
    attacker_address,
    connect,
    harness,
    keys,
    live_block_growth,
    traced_growth,
)
from .tunnel_attacker import (
    CELL,
    DHT_PACKET,
    EXIT_FLAGS,
    TunnelAttacker,
    assert_tunnels_still_work,
    joined_state,
    tunnel_drops,
    tunnel_node,
)


def test_a_create_flood_from_many_fresh_peers_stops_at_max_joined_circuits() -> None:
    """2,000 valid creates from 2,000 fresh keys at 2,000 addresses, with ``max_joined_circuits`` at 20: 20 are
    joined (one created each), the other 1,980 are counted under ``tunnel-join-limit`` before any key agreement;
    exits and request caches stay at 20 and memory stays small. A legitimate create is refused while the slots
    are full (the flood's cost); once the flood's circuits are idle for ``max_time_inactive`` the slots come back
    and a legitimate circuit works."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS, max_joined_circuits=20)
        target.log.keep = False
        crypto = TunnelCrypto()
        count = 2_000
        flood = keys(count)
        packets = []
        for number, (_, key_bin) in enumerate(flood):
            _, first_part = crypto.generate_diffie_secret()
            packets.append(TunnelAttacker(target, number).plaintext(CreatePayload(50_000 + number, 1, key_bin,
                                                                                 first_part)))
        with traced_growth() as growth:
            for number, packet in enumerate(packets):
                target.receive(attacker_address(number), packet)
            h.pump()
        assert tunnel_drops(target) == {"tunnel-join-limit": count - 20}
        assert joined_state(target) == {"circuits": 0, "relays": 0, "exits": 20, "caches": 20}
        assert target.log.count([CELL]) == 20  # one created per joined circuit, nothing for the rest
        # 20 joined circuits, each with its session keys and exit socket, and 1,980 refusals that keep nothing.
        assert growth["growth"] < 20 * 16 * 1024, growth

        target.log.keep = True
        late = TunnelAttacker(target, count + 1)
        packet, _ = late.create()
        late.send(packet)
        h.pump()
        assert late.sent_cells() == []
        assert target.overlay.drop_counts[_circuits.DROP_TUNNEL_JOIN_LIMIT] == count - 19

        h.advance(target.overlay.settings.max_time_inactive + 5)
        assert joined_state(target)["exits"] == 0
        h.advance(target.overlay.settings.unstable_timeout)
        assert joined_state(target) == {"circuits": 0, "relays": 0, "exits": 0, "caches": 0}
        assert_tunnels_still_work(h, target)


def test_a_create_flood_on_one_circuit_id_joins_once() -> None:
    """500 creates for one circuit id from 500 fresh keys: the first is joined, the others cannot take the id
    over (``tunnel-join-refused``); the joined circuit keeps the first sender's keys."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS)
        first = TunnelAttacker(target)
        circuit = first.join(h, circuit_id=77_777)
        hop = target.overlay.exit_sockets[77_777].hop
        crypto = TunnelCrypto()
        for number, (_, key_bin) in enumerate(keys(500)):
            _, first_part = crypto.generate_diffie_secret()
            target.receive(attacker_address(900 + number),
                           first.plaintext(CreatePayload(77_777, 2, key_bin, first_part)))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-join-refused": 500}
        assert target.overlay.exit_sockets[77_777].hop is hop
        assert joined_state(target)["exits"] == 1
        first.send(first.encrypted(circuit, PingPayload(77_777, 5)))
        h.pump()
        assert [answer.identifier for answer in first.answers_on(circuit)] == [5]
        assert_tunnels_still_work(h, target)


def test_a_data_flood_to_names_that_never_resolve_is_bounded() -> None:
    """2,000 validly encrypted data cells on the attacker's circuit, each to another host name, with a resolver
    that never answers: at most ``MAX_PENDING_RESOLUTIONS`` datagrams wait in the exit socket (so at most that many
    names are being looked up), the rest are counted (``resolve-backlog`` on the exit socket). Closing the exit
    socket withdraws the waiting lookups."""
    with harness() as h:
        hanging: list[Deferred] = []

        def never(name: str) -> Deferred:
            hanging.append(Deferred())
            return hanging[-1]

        resolver = HostResolver(never, clock=h.clock)
        target = tunnel_node(h, EXIT_FLAGS, exit_resolver=resolver)
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        target.log.keep = False
        count = 2_000
        with traced_growth() as growth:
            for number in range(count):
                attacker.send(attacker.encrypted(circuit, DataPayload(circuit.circuit_id,
                                                                      (f"host{number}.example", 6881),
                                                                      ("0.0.0.0", 0), DHT_PACKET)))
            h.pump()
        exit_socket = target.overlay.exit_sockets[circuit.circuit_id]
        assert len(exit_socket._resolving) <= MAX_PENDING_RESOLUTIONS
        assert len(resolver._pending) == len(hanging) == MAX_PENDING_RESOLUTIONS <= resolver.max_pending
        assert exit_socket.drops == {EXIT_DROP_RESOLVE_BACKLOG: count - MAX_PENDING_RESOLUTIONS}
        assert sum(exit_socket.drops.values()) + len(exit_socket._resolving) == count
        assert tunnel_drops(target) == {}
        assert growth["growth"] < 256 * 1024, growth
        target.overlay.remove_exit_socket(circuit.circuit_id, "test", remove_now=True)
        # The lookups themselves still hang (a real resolver times them out), but nothing waits on them.
        assert all(waiters == [] for waiters in resolver._pending.values())
        target.log.keep = True
        assert_tunnels_still_work(h, target)


def test_a_data_flood_to_many_destinations_keeps_no_state_per_destination() -> None:
    """10,000 validly encrypted data cells to 10,000 different IP destinations go out of the one exit socket (that
    is an exit's job), and the exit keeps nothing per destination: its memory does not grow with the count."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS)
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        target.log.keep = False
        attacker.send(attacker.encrypted(circuit, DataPayload(circuit.circuit_id, ("1.0.0.1", 6881), ("0.0.0.0", 0),
                                                              DHT_PACKET)))
        h.pump()
        _, transport, _ = target.overlay.settings.exit_reactor.sockets[0]
        transport.keep = False
        packets = [attacker.encrypted(circuit, DataPayload(circuit.circuit_id, (f"1.{n // 250}.{n % 250}.1", 6881),
                                                           ("0.0.0.0", 0), DHT_PACKET)) for n in range(10_000)]
        # The first half fills the node's bounded caches (the address-scope memo holds 4,096 addresses).
        for packet in packets[:5_000]:
            attacker.send(packet)
        h.pump()
        # Counted in live blocks: tracemalloc would count the cache entries replaced as growth.
        with live_block_growth() as growth:
            for packet in packets[5_000:]:
                attacker.send(packet)
            h.pump()
        assert transport.count == 10_001
        assert len(target.overlay.settings.exit_reactor.sockets) == 1
        # At most the serializer's IPv4 memo (4,096 entries, cleared when full) may have filled up further;
        # anything kept per destination would be 5,000 blocks or more.
        assert growth["blocks"] < 4096 + 200, growth
        target.log.keep = True
        assert_tunnels_still_work(h, target)


def test_speed_tests_and_pings_are_answered_only_to_the_circuits_neighbour() -> None:
    """The circuit's owner has the keys to make fresh test-requests; sent with a forged source address they
    would make the exit send up to 64 KB to a victim for each 60-byte cell. The exit answers a ping or
    test-request only to the peer it shares the circuit with: from anywhere else they are dropped
    (``tunnel-wrong-neighbour``) and nothing is sent to the forged address."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS)
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        victim = attacker_address(123_456)
        for identifier in range(10):
            attacker.send(attacker.encrypted(circuit, TestRequestPayload(circuit.circuit_id, identifier, 65_000,
                                                                         b"")), source=victim)
            attacker.send(attacker.encrypted(circuit, PingPayload(circuit.circuit_id, identifier)), source=victim)
        h.pump()
        assert target.log.sent_to(victim) == []
        assert tunnel_drops(target) == {"tunnel-wrong-neighbour": 20}
        # From the neighbour itself, both are answered (the response size is capped).
        attacker.send(attacker.encrypted(circuit, TestRequestPayload(circuit.circuit_id, 99, 65_000, b"")))
        attacker.send(attacker.encrypted(circuit, PingPayload(circuit.circuit_id, 98)))
        h.pump()
        answers = attacker.answers_on(circuit)
        assert sorted(answer.identifier for answer in answers) == [98, 99]
        assert target.overlay.drop_counts[DROP_TUNNEL_UNEXPECTED_PING] == 0
        assert_tunnels_still_work(h, target)


def test_a_relay_only_node_does_not_exit() -> None:
    """A node with only ``PEER_FLAG_RELAY`` joins circuits but lets no BitTorrent or foreign IPv8 data out,
    however validly the data cells are encrypted: the exit socket opens (the hop is the circuit's) and refuses
    every datagram (``refused-outbound``)."""
    with harness() as h:
        target = tunnel_node(h, frozenset({1}))
        attacker = TunnelAttacker(target)
        circuit = attacker.join(h)
        for number in range(50):
            attacker.send(attacker.encrypted(circuit, DataPayload(circuit.circuit_id, ("1.2.3.4", 6881),
                                                                  ("0.0.0.0", 0), DHT_PACKET + bytes(number))))
        h.pump()
        exit_socket = target.overlay.exit_sockets[circuit.circuit_id]
        _, transport, _ = target.overlay.settings.exit_reactor.sockets[0]
        assert transport.sent == []
        assert exit_socket.drops == {"refused-outbound": 50}
        assert tunnel_drops(target) == {}
        other = tunnel_node(h, EXIT_FLAGS)
        connect(h, target, other)
        assert_tunnels_still_work(h, target, other)



def test_joining_and_destroying_in_a_loop_does_not_fill_the_request_cache() -> None:
    """A peer joins ``max_joined_circuits`` circuits, has each extended eight times (creates to addresses that
    never answer), destroys them (it is their previous hop, so that is allowed) and starts over, ten times. The
    created requests (kept for ``unstable_timeout``) and the creates sent on the circuits' behalf go with the
    circuits: the request cache stays within what the joined circuits need, so it can never fill up and starve
    the node's own requests. The node still builds circuits of its own afterwards."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS, max_joined_circuits=10)
        attacker = TunnelAttacker(target)
        most = 0
        for round_number in range(10):
            circuits = [attacker.join(h) for _ in range(10)]
            for number, circuit in enumerate(circuits):
                for extend in range(_circuits.MAX_EXTENDS_PER_CIRCUIT):
                    _, key_bin = keys(1_000)[(round_number * 80 + number * 8 + extend) % 1_000]
                    attacker.extend(h, circuit, key_bin, attacker_address(200_000 + extend))
            most = max(most, joined_state(target)["caches"])
            for circuit in circuits:
                attacker.send(attacker.destroy(circuit.circuit_id))
            h.pump()
            target.log.records.clear()
            attacker_caches = joined_state(target)["caches"]
            assert attacker_caches == 0, f"round {round_number}: {attacker_caches} caches left"
        assert most == 10 * (1 + _circuits.MAX_EXTENDS_PER_CIRCUIT)
        assert tunnel_drops(target) == {}
        assert_tunnels_still_work(h, target)


def test_creates_with_keys_that_cannot_shake_hands() -> None:
    """Creates whose sender key does not load (garbage, private key bytes), or whose ephemeral X25519 key is the
    wrong size or a low-order point (which would give an all-zero, guessable shared secret) are refused as
    ``tunnel-bad-handshake``: no created, no exit socket, no cache, no slot taken."""
    with harness() as h:
        target = tunnel_node(h, EXIT_FLAGS)
        attacker = TunnelAttacker(target)
        _, good_dh = TunnelCrypto().generate_diffie_secret()
        private_bytes = attacker.key.key_to_bin()
        cases = [(b"LibNaCLPK:" + bytes(10), good_dh), (b"garbage", good_dh), (private_bytes, good_dh),
                 (attacker.key_bin, good_dh[:31]), (attacker.key_bin, good_dh + b"\x00"),
                 (attacker.key_bin, bytes(32)), (attacker.key_bin, b"\x01" + bytes(31)), (attacker.key_bin, b"")]
        for number, (key_bin, dh) in enumerate(cases):
            attacker.send(attacker.plaintext(CreatePayload(60_000 + number, 1, key_bin, dh)))
        h.pump()
        assert tunnel_drops(target) == {"tunnel-bad-handshake": len(cases)}
        assert attacker.sent_cells() == []
        assert joined_state(target) == {"circuits": 0, "relays": 0, "exits": 0, "caches": 0}
        assert_tunnels_still_work(h, target)
