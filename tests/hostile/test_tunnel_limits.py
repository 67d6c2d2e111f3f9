"""Every limit of TunnelSettings, on the deterministic TestBase network of the tunnel tests.

``tests/messaging/anonymization/test_tunnel_community.py`` covers ``max_joined_circuits``, ``max_time``,
``max_time_inactive``, ``max_traffic`` (at the initiator), a silent hop timing out and being replaced, and the
circuit removal delay. This module adds what is left: how many hops are tried (``circuit_timeout`` over
``next_hop_timeout``) and when, ``unstable_timeout`` for extends, ``max_circuits`` kept by the upkeep,
``max_traffic`` at a relay, ``remove_tunnel_delay`` at relays and exits, ``max_time_ip`` (hidden services only),
and what a failed extension leaves behind at the relay.
"""
from __future__ import annotations

from ipv8.messaging.anonymization import _circuits
from ipv8.messaging.anonymization.caches import (
    CREATE_TIMEOUT,
    CreatedRequestCache,
    CreateRequestCache,
)
from ipv8.messaging.anonymization.payload import ExtendPayload
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_CLOSING,
    CIRCUIT_STATE_EXTENDING,
    CIRCUIT_STATE_READY,
    DESTROY_REASON_UNNEEDED,
)
from tests.messaging.anonymization.test_tunnel_community import (
    DESTINATION,
    DHT_PACKET,
    TunnelTestBase,
)


class TestTunnelLimits(TunnelTestBase):
    """Limits not covered by the community tests; node 0 builds, 1-3 relay, 4-5 relay and exit."""

    def silence(self, *nodes: int) -> None:
        """These nodes still look like relays to node 0, but answer no create any more."""
        for node in nodes:
            self.overlay(node).settings.peer_flags = set()

    def creates_refused(self) -> int:
        """Creates that silenced nodes received (and ignored)."""
        return sum(self.overlay(i).drop_counts[_circuits.DROP_TUNNEL_NOT_A_RELAY] for i in range(1, self.NODES))

    def path(self, circuit: object) -> list[int]:
        """The node indexes of a circuit's hops."""
        return [self.index_of(hop.public_key_bin) for hop in circuit.hops]  # type: ignore[attr-defined]

    async def test_circuit_timeout_bounds_the_tries_for_a_hop(self) -> None:
        """With ``circuit_timeout`` 30 and ``next_hop_timeout`` 10, a first hop is tried three times (a new
        candidate every 10 s) and the circuit is given up at 30 s, not before."""
        await self.start()
        self.overlay(0).settings.circuit_timeout = 30
        self.silence(1, 2, 3, 4, 5)
        circuit = await self.build(2)
        self.assertEqual(1, self.creates_refused())
        self.advance(9.5, step=0.5)
        await self.deliver_messages()
        self.assertEqual(1, self.creates_refused())
        self.advance(0.5)
        await self.deliver_messages()
        self.assertEqual(2, self.creates_refused())
        self.advance(10)
        await self.deliver_messages()
        self.assertEqual(3, self.creates_refused())
        self.assertEqual(CIRCUIT_STATE_EXTENDING, circuit.state)
        self.advance(10)
        await self.deliver_messages()
        self.assertEqual(3, self.creates_refused())
        self.assertIsNone(await circuit.ready)
        self.assertEqual({}, self.overlay(0).circuits)
        self.assertEqual([], list(self.overlay(0).request_cache._caches))

    async def test_next_hop_timeout_sets_when_the_next_candidate_is_tried(self) -> None:
        """With ``next_hop_timeout`` 4 (and the default ``circuit_timeout`` 60: up to 15 tries), a new first
        hop is tried every 4 s."""
        await self.start()
        self.overlay(0).settings.next_hop_timeout = 4
        self.silence(1, 2, 3, 4, 5)
        await self.build(2)
        for tries in range(1, 6):
            self.assertEqual(tries, self.creates_refused())
            self.advance(3.5, step=0.5)
            await self.deliver_messages()
            self.assertEqual(tries, self.creates_refused())
            self.advance(0.5)
            await self.deliver_messages()

    async def test_unstable_timeout_ends_the_time_to_extend(self) -> None:
        """A node that joined a circuit serves extends for ``unstable_timeout`` seconds; a later extend is
        refused (``tunnel-unexpected-extend``) and sends no create."""
        await self.start()
        for node in range(self.NODES):
            self.overlay(node).settings.unstable_timeout = 5
        early, late = await self.build(1), await self.build(1)
        for circuit, wait in ((early, 0), (late, 6)):
            self.advance(wait)
            await self.deliver_messages()
            hop = self.index_of(circuit.hops[0].public_key_bin)
            relay = 1
            _, key = self.overlay(0).crypto.generate_diffie_secret()
            extend = ExtendPayload(circuit.circuit_id, 3, self.key_bin(relay), key, ("0.0.0.0", 0))
            self.endpoint(0).send(self.address(hop), self.cell(circuit, extend, relay_early=True))
            await self.deliver_messages()
            refused = self.overlay(hop).drop_counts[_circuits.DROP_TUNNEL_UNEXPECTED_EXTEND]
            self.assertEqual(0 if circuit is early else 1, refused)
        self.assertEqual(1, len(self.overlay(1).exit_sockets))  # only the early extend reached node 1

    async def test_max_circuits_is_what_the_upkeep_keeps(self) -> None:
        """``build_tunnels`` keeps exactly ``max_circuits`` circuits, counting those still being built; the
        upkeep replaces a removed one and never builds more."""
        await self.start()
        self.overlay(0).settings.max_circuits = 3
        self.overlay(0).build_tunnels(1)
        self.assertEqual(3, len(self.overlay(0).circuits))
        self.assertEqual(3, len(self.overlay(0).find_circuits(state=CIRCUIT_STATE_EXTENDING)))
        self.clock.advance(5)  # an upkeep while all three are still being built adds none
        self.assertEqual(3, len(self.overlay(0).circuits))
        await self.deliver_messages()
        self.assertEqual(3, len(self.overlay(0).active_data_circuits(1)))
        gone = self.overlay(0).active_data_circuits(1)[0]
        self.overlay(0).remove_circuit(gone.circuit_id, "test", destroy=DESTROY_REASON_UNNEEDED)
        for _ in range(3):
            self.clock.advance(5)
            await self.deliver_messages()
            self.assertEqual(3, len(self.overlay(0).find_circuits(state=None)))
        self.assertEqual(3, len(self.overlay(0).active_data_circuits(1)))

    async def test_max_traffic_at_a_relay_tears_down_both_sides(self) -> None:
        """A relay whose routes carried more than its ``max_traffic`` removes them at its next upkeep and tells
        both neighbours: the initiator's circuit and the exit socket go too."""
        await self.start()
        circuit = await self.build(2)
        relay, exit_node = self.path(circuit)
        self.overlay(relay).settings.max_traffic = 1500
        for _ in range(3):
            self.overlay(0).tunnel_data(circuit, DESTINATION, "data", DHT_PACKET * 10)
        await self.deliver_messages()
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)
        self.clock.advance(5)
        await self.deliver_messages()
        self.assertEqual({}, self.overlay(relay).relay_from_to)
        self.assertEqual({}, self.overlay(exit_node).exit_sockets)
        self.assertEqual({}, self.overlay(0).circuits)
        self.assertEqual(0, self.overlay(relay).drop_counts[_circuits.DROP_TUNNEL_UNAUTHORIZED_DESTROY])

    async def test_remove_tunnel_delay_at_relays_and_exits(self) -> None:
        """After a destroy, a relay and an exit keep the circuit's routes for ``remove_tunnel_delay`` seconds
        (late cells still find them) and forget them after; the upkeep in between does not remove them twice."""
        await self.start()
        circuit = await self.build(2)
        relay, exit_node = self.path(circuit)
        for node in (relay, exit_node):
            self.overlay(node).settings.remove_tunnel_delay = 7
        self.overlay(0).remove_circuit(circuit.circuit_id, "done", destroy=DESTROY_REASON_UNNEEDED)
        await self.deliver_messages()
        self.assertEqual(CIRCUIT_STATE_CLOSING, circuit.state)
        self.advance(6)
        await self.deliver_messages()
        self.assertEqual(2, len(self.overlay(relay).relay_from_to))
        self.assertEqual(1, len(self.overlay(exit_node).exit_sockets))
        self.advance(1)
        self.assertEqual({}, self.overlay(relay).relay_from_to)
        self.assertEqual({}, self.overlay(exit_node).exit_sockets)
        self.assertTrue(all(not port.listening for _, _, port in self.udp.sockets))

    async def test_max_time_ip_does_not_apply_to_data_circuits(self) -> None:
        """``max_time_ip`` is for hidden-services introduction points only: exits of data circuits live
        ``max_time``, however large ``max_time_ip`` is."""
        await self.start()
        for node in range(self.NODES):
            self.overlay(node).settings.max_time = 12
            self.overlay(node).settings.max_time_ip = 10_000
            self.overlay(node).settings.max_time_inactive = 1000
        circuit = await self.build(1)
        self.assertEqual(12, self.overlay(0).get_max_time(circuit.circuit_id))
        self.advance(17)
        self.assertEqual({}, self.overlay(0).circuits)
        self.assertEqual(0, sum(len(self.overlay(i).exit_sockets) for i in self.EXITS))

    async def test_a_failed_extension_leaves_nothing_at_the_relay(self) -> None:
        """The exit a relay was asked to extend to never answers: the relay's create request times out after
        ``CREATE_TIMEOUT`` (the initiator meanwhile tries the other exit through the same relay), and once the
        circuit is complete the relay keeps its two routes and, until ``unstable_timeout``, one created
        request, nothing else."""
        await self.start()
        self.silence(self.EXITS[0])
        # The exit the initiator names first is its choice among the relay's offers: build until the silent one
        # was named (each try picks at random; twenty misses in a row have a chance of one in a million).
        for _ in range(20):
            circuit = await self.build(2)
            if self.overlay(self.EXITS[0]).drop_counts[_circuits.DROP_TUNNEL_NOT_A_RELAY]:
                break
            self.overlay(0).remove_circuit(circuit.circuit_id, "not the case under test", remove_now=True,
                                           destroy=DESTROY_REASON_UNNEEDED)
            await self.deliver_messages()
        self.assertEqual(1, self.overlay(self.EXITS[0]).drop_counts[_circuits.DROP_TUNNEL_NOT_A_RELAY])
        self.assertEqual(CIRCUIT_STATE_EXTENDING, circuit.state)
        relay = self.path(circuit)[0]
        pending = [key for key in self.overlay(relay).request_cache._caches
                   if key[0] == CreateRequestCache.name]
        self.assertEqual(1, len(pending))  # the create to the silent exit
        for _ in range(6):
            if circuit.state == CIRCUIT_STATE_READY:
                break
            self.advance(10)
            await self.deliver_messages()
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)
        self.assertEqual(relay, self.path(circuit)[0])
        self.assertEqual(self.EXITS[1], self.path(circuit)[1])
        self.advance(CREATE_TIMEOUT)
        caches = list(self.overlay(relay).request_cache._caches)
        self.assertFalse([key for key in caches if key[0] == CreateRequestCache.name])
        self.assertEqual(1, len([key for key in caches if key[0] == CreatedRequestCache.name]))
        self.assertEqual(2, len(self.overlay(relay).relay_from_to))
        self.assertEqual({}, self.overlay(relay).exit_sockets)
        self.advance(self.overlay(relay).settings.unstable_timeout)
        self.assertEqual([], list(self.overlay(relay).request_cache._caches))
