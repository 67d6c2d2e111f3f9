"""HiddenTunnelCommunity loaded through the IPv8 service (a configuration, as ``ConfigBuilder`` writes it): the
service hands itself to the community (``settings.ipv8``), so an introduction point loads the swarm's PexCommunity
into the service, with its walkers, and unloads it again when nobody is introduced any more.

Four services on one in-memory internet and one :class:`~twisted.internet.task.Clock`: a seeder and three
relay-exits. pyipv8 3.2.1's own loader leaves ``settings.ipv8`` None (its introduction points then log an error
and run without PEX).
"""
from __future__ import annotations

import hashlib
from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.trial import unittest

from ipv8.bootstrapping.dispersy.bootstrapper import DispersyBootstrapper
from ipv8.configuration import ConfigBuilder
from ipv8.messaging.anonymization.hidden_services import HiddenTunnelCommunity
from ipv8.messaging.anonymization.pex import PexCommunity, pex_community_id
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_TYPE_IP_SEEDER,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_RELAY,
    PEER_SOURCE_PEX,
)
from ipv8.peerdiscovery.churn import RandomChurn
from ipv8.peerdiscovery.discovery import RandomWalk
from ipv8.test.mocking.endpoint import AutoMockEndpoint, Internet
from ipv8.test.mocking.exit_socket import MockExitReactor
from ipv8_service import IPv8

from .test_hidden_services import LoopbackDHT

INFO_HASH = hashlib.sha1(b"hidden swarm under the service").digest()
RELAY_EXIT = {PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT}


class RecordingBootstrapper(DispersyBootstrapper):
    """A bootstrapper without trackers that counts its unloads."""

    def __init__(self) -> None:
        super().__init__([], [])
        self.unloads = 0

    def unload(self) -> None:
        self.unloads += 1
        super().unload()


class TestHiddenServicesUnderTheService(unittest.TestCase):

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(10_000)
        self.internet = Internet(clock=self.clock)
        self.dht = LoopbackDHT()
        self.services: list[IPv8] = []

    def start_service(self, flags: set[int]) -> IPv8:
        config = (ConfigBuilder().clear_keys().clear_overlays().add_ephemeral_key("me")
                  .set_working_directory(self.mktemp())
                  .add_overlay("HiddenTunnelCommunity", "me", [], [],
                               {"remove_tunnel_delay": 0.01, "max_circuits": 0, "peer_flags": sorted(flags)}, [])
                  .finalize())
        # Objects a Python caller may put into a configuration (finalize() deep-copies, so after it).
        config["overlays"][0]["initialize"].update(exit_reactor=MockExitReactor(self.internet), dht_provider=self.dht)
        service = IPv8(config, endpoint_override=AutoMockEndpoint(self.internet), reactor=self.clock)
        self.services.append(service)
        self.successResultOf(service.start())
        return service

    def tearDown(self) -> None:
        for service in self.services:
            if service.running:
                self.successResultOf(service.stop())
        self.assertEqual([], self.internet.errors)

    def settle(self, seconds: float = 2.0) -> None:
        """Let the clock (and so every delivery and task) run for ``seconds``."""
        for _ in range(int(seconds / 0.05)):
            self.clock.advance(0.05)

    def hidden(self, service: IPv8) -> HiddenTunnelCommunity:
        community = service.get_overlay(HiddenTunnelCommunity)
        assert community is not None
        return community

    def start_network(self) -> tuple[HiddenTunnelCommunity, list[IPv8]]:
        seeder = self.hidden(self.start_service(set()))
        relays = [self.start_service(RELAY_EXIT) for _ in range(3)]
        everyone = [seeder] + [self.hidden(relay) for relay in relays]
        for community in everyone:
            for other in everyone:
                if other is not community:
                    community.walk_to(other.endpoint.wan_address)
        self.settle()
        for community in everyone:
            # Everybody knows every relay-exit but itself, with its flags.
            self.assertEqual(3 if community is seeder else 2,
                             sum(1 for flags in community.candidates.values() if flags))
        return seeder, relays

    def test_service_hands_itself_to_the_community(self) -> None:
        service = self.start_service(RELAY_EXIT)
        self.assertIs(service, self.hidden(service).ipv8)

    def test_introduction_points_load_and_use_pex(self) -> None:
        seeder, relays = self.start_network()
        seeder.join_swarm(INFO_HASH, 1, seeding=True)
        ensureDeferred(seeder.create_introduction_point(INFO_HASH))
        self.settle()
        intro = [relay for relay in relays if self.hidden(relay).intro_point_for]
        self.assertEqual(1, len(intro))
        # A second introduction point, at one of the other relays (also PEX-announced there).
        first_exit = next(c for c in seeder.circuits.values() if c.ctype == CIRCUIT_TYPE_IP_SEEDER).hops[-1]
        other = next(r for r in relays if r is not intro[0] and self.hidden(r).my_peer.public_key.key_to_bin()
                     != first_exit.public_key_bin)
        ensureDeferred(seeder.create_introduction_point(INFO_HASH, required_ip=self.hidden(other).my_peer))
        self.settle()
        intro.append(other)
        seeder_pk = seeder.swarms[INFO_HASH].seeder_sk.pub().key_to_bin()

        pexes = []
        for service in intro:
            pex = service.get_overlay(PexCommunity)
            self.assertIsNotNone(pex, "the introduction point loaded no PEX overlay into its service")
            self.assertEqual(pex_community_id(INFO_HASH), pex.community_id)
            self.assertEqual(1, service.overlays.count(pex))
            self.assertEqual({RandomWalk, RandomChurn},
                             {type(strategy) for strategy, _ in service.strategies if strategy.overlay is pex})
            self.assertEqual([seeder_pk], pex.intro_points_for)
            pexes.append(pex)
        self.assertIsNone(seeder.ipv8.get_overlay(PexCommunity) if seeder.ipv8 else None)

        # The two PEX overlays meet (one introduction, then the service's walkers keep them talking): each learns
        # the other introduction point from the extra bytes.
        pexes[0].walk_to(pexes[1].my_estimated_wan)
        self.settle(3.0)
        for pex, other_service in ((pexes[0], intro[1]), (pexes[1], intro[0])):
            learnt = {(ip.peer.public_key.key_to_bin(), ip.seeder_pk, ip.source) for ip in pex.intro_points}
            self.assertIn((self.hidden(other_service).my_peer.public_key.key_to_bin(), seeder_pk, PEER_SOURCE_PEX),
                          learnt)

        # Leaving the swarm destroys the introduction circuits: the PEX overlays and their walkers leave the
        # services again.
        seeder.leave_swarm(INFO_HASH)
        self.settle()
        for service, pex in zip(intro, pexes):
            self.assertNotIn(pex, service.overlays)
            self.assertFalse([s for s, _ in service.strategies if getattr(s, "overlay", None) is pex])
            self.assertEqual({}, self.hidden(service).pex)

    def test_stopping_the_service_unloads_pex_once(self) -> None:
        seeder, relays = self.start_network()
        seeder.join_swarm(INFO_HASH, 1, seeding=True)
        ensureDeferred(seeder.create_introduction_point(INFO_HASH))
        self.settle()
        intro = next(relay for relay in relays if self.hidden(relay).intro_point_for)
        pex = intro.get_overlay(PexCommunity)
        self.assertIsNotNone(pex)
        unloads: list[Any] = []
        original = pex.unload
        pex.unload = lambda: unloads.append(1) or original()  # type: ignore[method-assign]
        self.successResultOf(intro.stop())
        self.assertEqual([1], unloads)
        self.assertEqual([], intro.overlays)

    def test_pex_spares_the_bootstrappers_it_borrows(self) -> None:
        seeder, relays = self.start_network()
        bootstrappers = {}
        for relay in relays:
            bootstrappers[relay] = RecordingBootstrapper()
            self.hidden(relay).bootstrappers.append(bootstrappers[relay])
        seeder.join_swarm(INFO_HASH, 1, seeding=True)
        ensureDeferred(seeder.create_introduction_point(INFO_HASH))
        self.settle()
        intro = next(relay for relay in relays if self.hidden(relay).intro_point_for)
        pex = intro.get_overlay(PexCommunity)
        # PEX walks with the hidden community's bootstrappers (pyipv8 gives it a tracker bootstrapper of its own).
        self.assertEqual([bootstrappers[intro]], pex.bootstrappers)
        seeder.leave_swarm(INFO_HASH)
        self.settle()
        self.assertNotIn(pex, intro.overlays)
        self.assertEqual(0, bootstrappers[intro].unloads)
        self.assertEqual([bootstrappers[intro]], self.hidden(intro).bootstrappers)
        self.successResultOf(intro.stop())
        self.assertEqual(1, bootstrappers[intro].unloads)
