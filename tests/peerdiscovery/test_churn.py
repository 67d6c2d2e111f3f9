"""RandomChurn and PingChurn: exact timelines on a Clock, and the ping/drop cycle on the in-memory internet."""
from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock

from ipv8.community import Community
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.peer import PING_HISTORY, Peer
from ipv8.peerdiscovery.churn import PingChurn, RandomChurn
from ipv8.peerdiscovery.community import DiscoveryCommunity
from ipv8.peerdiscovery.network import Network
from ipv8.test.base import TestBase

SERVICE = b"\x33" * 20


def new_peer(port: int) -> Peer:
    return Peer(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address("198.18.7.1", port))


class RecordingOverlay:
    """A network whose peers, when contacted, answer at once (on the test's Clock) if listed in ``answering``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.network = Network()
        self.answering: set[Peer] = set()
        self.pings: list[tuple[float, Peer]] = []

    def add(self, peer: Peer, answers: bool) -> Peer:
        self.network.add_verified_peer(peer)
        self.network.discover_services(peer, [SERVICE])
        if answers:
            self.answering.add(peer)
        return peer

    def get_peers(self) -> list[Peer]:
        return self.network.get_peers_for_service(SERVICE)

    def contact(self, peer: Peer) -> None:
        self.pings.append((self.clock.seconds(), peer))
        if peer in self.answering:
            peer.last_response = self.clock.seconds()
            peer.pings.append(0.01)

    def pings_to(self, peer: Peer) -> list[float]:
        return [at for at, target in self.pings if target == peer]


class PingingOverlay(RecordingOverlay):
    """Offers ``send_ping``, like the DiscoveryCommunity."""

    def send_ping(self, peer: Peer) -> None:
        self.contact(peer)


class IntroducingOverlay(RecordingOverlay):
    """Has no ``send_ping``: churn must fall back to introduction requests."""

    def send_introduction_request(self, peer: Peer) -> None:
        self.contact(peer)


def with_full_ping_history(peer: Peer) -> Peer:
    peer.pings.extend([0.1] * PING_HISTORY)
    return peer


def tick(strategy: Any, clock: Clock, until: float, step: float = 0.5) -> None:  # noqa: ANN401
    while clock.seconds() <= until:
        strategy.take_step()
        clock.advance(step)


# ---------------------------------------------------------------------------------------------------------------
# RandomChurn
# ---------------------------------------------------------------------------------------------------------------

def test_random_churn_defaults() -> None:
    churn = RandomChurn(PingingOverlay(Clock()))
    assert (churn.sample_size, churn.ping_interval, churn.inactive_time, churn.drop_time) == (8, 10.0, 27.5, 57.5)


def test_random_churn_pings_silent_peers_then_drops_them() -> None:
    clock = Clock()
    clock.advance(100.0)
    overlay = PingingOverlay(clock)
    alive = overlay.add(with_full_ping_history(new_peer(1)), answers=True)
    silent = overlay.add(with_full_ping_history(new_peer(2)), answers=False)
    alive.last_response = silent.last_response = 100.0
    churn = RandomChurn(overlay, clock=clock)

    dropped_at = None
    while clock.seconds() <= 200.0:
        churn.take_step()
        if dropped_at is None and silent not in overlay.network.verified_peers:
            dropped_at = clock.seconds()
        clock.advance(0.5)

    # Inactive after 27.5 s; pinged every 10 s (strictly later); dropped after 57.5 s of silence.
    assert overlay.pings_to(silent) == [128.0, 138.5, 149.0]
    assert dropped_at == 158.0
    # The live peer is pinged whenever it has been quiet for 27.5 s, answers, and stays.
    assert overlay.pings_to(alive) == [128.0, 156.0, 184.0]
    assert alive in overlay.network.verified_peers


@pytest.mark.parametrize("ping_interval", [1.0, 4.0, 6.0, 10.0])
def test_random_churn_drops_silent_peers_whatever_the_ping_interval(ping_interval: float) -> None:
    """Re-pings must not restart the answer window: a short ping_interval once kept dead peers forever."""
    clock = Clock()
    clock.advance(100.0)
    overlay = PingingOverlay(clock)
    alive = overlay.add(with_full_ping_history(new_peer(1)), answers=True)
    silent = overlay.add(with_full_ping_history(new_peer(2)), answers=False)
    alive.last_response = silent.last_response = 100.0
    churn = RandomChurn(overlay, ping_interval=ping_interval, inactive_time=2.0, drop_time=8.0, clock=clock)

    tick(churn, clock, until=130.0)

    assert silent not in overlay.network.verified_peers
    assert alive in overlay.network.verified_peers


def test_random_churn_gives_a_long_silent_peer_one_chance() -> None:
    clock = Clock()
    clock.advance(1000.0)
    overlay = PingingOverlay(clock)
    peer = overlay.add(with_full_ping_history(new_peer(1)), answers=False)
    peer.last_response = 500.0
    churn = RandomChurn(overlay, clock=clock)
    churn.take_step()
    assert overlay.pings_to(peer) == [1000.0]
    tick(churn, clock, 1005.0)
    assert peer in overlay.network.verified_peers, "five seconds to answer the ping"
    tick(churn, clock, 1005.5)
    assert peer not in overlay.network.verified_peers


def test_random_churn_leaves_never_heard_peers_alone() -> None:
    clock = Clock()
    clock.advance(1000.0)
    overlay = PingingOverlay(clock)
    peer = overlay.add(with_full_ping_history(new_peer(1)), answers=False)
    peer.last_response = 0
    tick(RandomChurn(overlay, clock=clock), clock, 1100.0)
    assert overlay.pings == []
    assert peer in overlay.network.verified_peers


def test_random_churn_collects_round_trip_times() -> None:
    clock = Clock()
    overlay = PingingOverlay(clock)
    peer = overlay.add(new_peer(1), answers=True)
    peer.last_response = 0.5
    tick(RandomChurn(overlay, clock=clock), clock, 100.0)
    # A fresh peer is pinged until it has PING_HISTORY measurements, never faster than every 10 s.
    assert overlay.pings_to(peer)[:PING_HISTORY] == [0.0, 10.5, 21.0, 31.5, 42.0]
    assert len(peer.pings) == PING_HISTORY


def test_random_churn_samples_at_most_sample_size_peers() -> None:
    clock = Clock()
    clock.advance(100.0)
    overlay = PingingOverlay(clock)
    for port in range(20):
        overlay.add(with_full_ping_history(new_peer(port)), answers=False).last_response = 1.0
    churn = RandomChurn(overlay, sample_size=8, clock=clock)
    churn.take_step()
    assert len(overlay.pings) == 8
    churn.take_step()
    assert 8 <= len(overlay.pings) <= 16
    assert len({peer for _, peer in overlay.pings}) == len(overlay.pings), "nobody is pinged twice in 10 s"


def test_random_churn_falls_back_to_introduction_requests() -> None:
    clock = Clock()
    clock.advance(100.0)
    overlay = IntroducingOverlay(clock)
    quiet = overlay.add(new_peer(1), answers=False)
    quiet.last_response = 50.0
    fresh = overlay.add(new_peer(2), answers=False)
    fresh.last_response = 99.0
    RandomChurn(overlay, clock=clock).take_step()
    # Only the inactive peer is contacted: without ping/pong there are no round-trip times to collect.
    assert overlay.pings == [(100.0, quiet)]


# ---------------------------------------------------------------------------------------------------------------
# PingChurn
# ---------------------------------------------------------------------------------------------------------------

def test_ping_churn_pings_everyone_each_interval_and_drops_after_two_misses() -> None:
    clock = Clock()
    clock.advance(10.0)
    overlay = PingingOverlay(clock)
    alive = overlay.add(new_peer(1), answers=True)
    silent = overlay.add(new_peer(2), answers=False)
    tracker = overlay.add(new_peer(3), answers=False)
    overlay.network.blacklist.append(tracker.address)
    churn = PingChurn(overlay, clock=clock)
    assert churn.ping_interval == 25.0

    dropped_at = None
    while clock.seconds() <= 100.0:
        churn.take_step()
        if dropped_at is None and silent not in overlay.network.verified_peers:
            dropped_at = clock.seconds()
        if clock.seconds() == 35.0:
            assert churn.failures(silent) == 1
            assert churn.failures(alive) == 0
        clock.advance(0.5)

    assert overlay.pings_to(alive) == [10.0, 35.0, 60.0, 85.0]
    assert overlay.pings_to(silent) == [10.0, 35.0]
    assert dropped_at == 60.0
    assert overlay.pings_to(tracker) == [], "bootstrap servers are not pinged"
    assert tracker in overlay.network.verified_peers


def test_ping_churn_failures_reset_when_a_peer_answers_again() -> None:
    clock = Clock()
    clock.advance(10.0)
    overlay = PingingOverlay(clock)
    flaky = overlay.add(new_peer(1), answers=False)
    churn = PingChurn(overlay, ping_interval=10.0, max_failures=3, clock=clock)
    tick(churn, clock, 20.0)
    assert churn.failures(flaky) == 1
    overlay.answering.add(flaky)  # it answers the ping at 30 s; that ping still sees the miss of the one at 20 s
    tick(churn, clock, 30.0)
    assert churn.failures(flaky) == 2
    tick(churn, clock, 50.0)
    assert churn.failures(flaky) == 0
    assert flaky in overlay.network.verified_peers


def test_ping_churn_can_be_given_another_probe() -> None:
    clock = Clock()
    overlay = PingingOverlay(clock)
    peer = overlay.add(new_peer(1), answers=False)
    probed = []

    class DhtStyleChurn(PingChurn):
        def ping(self, peer: Peer) -> None:
            probed.append(peer)

    DhtStyleChurn(overlay, clock=clock).take_step()
    assert probed == [peer] and overlay.pings == []


# ---------------------------------------------------------------------------------------------------------------
# On the in-memory internet, with the DiscoveryCommunity's real ping/pong
# ---------------------------------------------------------------------------------------------------------------

class PlainCommunity(Community):
    community_id = SERVICE


class TestChurnOnNetwork(TestBase):
    """Peer 1 answers, peer 2 has gone offline (its endpoint is closed)."""

    def churn_clock(self) -> Clock:
        # One Clock for the strategy and node 0, so that last_response stamps and the churn agree.
        clock = Clock()
        clock.advance(1_000_000.0)
        self.overlay(0).clock = clock
        return clock

    async def test_random_churn_with_ping_pong(self) -> None:
        self.initialize(DiscoveryCommunity, 3)
        clock = self.churn_clock()
        start = clock.seconds()
        churn = RandomChurn(self.overlay(0), clock=clock)
        self.node(2).raw_endpoint.close()
        network = self.network(0)
        alive = network.get_verified_by_public_key_bin(self.key_bin(1))
        gone = network.get_verified_by_public_key_bin(self.key_bin(2))
        alive.last_response = gone.last_response = start - 40.0

        churn.take_step()
        await self.deliver_messages()
        self.assertGreaterEqual(alive.last_response, start - 1.0, "the pong refreshed the live peer")
        self.assertEqual(1, len(alive.pings))
        self.assertGreaterEqual(alive.pings[0], 0.0)
        self.assertEqual(0, len(gone.pings))

        clock.advance(6.0)
        gone.last_response = start - 60.0
        churn.take_step()
        self.assertIn(alive, network.verified_peers)
        self.assertNotIn(gone, network.verified_peers)
        self.assertEqual([self.mid(1)], [peer.mid for peer in self.overlay(0).get_peers()])

    async def test_ping_churn_with_introduction_requests(self) -> None:
        self.initialize(PlainCommunity, 3)
        clock = self.churn_clock()
        churn = PingChurn(self.overlay(0), ping_interval=0.05, clock=clock)
        self.node(2).raw_endpoint.close()
        for _ in range(3):
            churn.take_step()
            await self.deliver_messages()
            clock.advance(0.06)
        self.assertEqual([self.mid(1)], [peer.mid for peer in self.overlay(0).get_peers()])
        self.assertEqual(0, churn.failures(self.overlay(0).get_peers()[0]))


@pytest.mark.parametrize("cls", [RandomChurn, PingChurn])
def test_churn_on_an_empty_network_does_nothing(cls: type) -> None:
    overlay = PingingOverlay(Clock())
    cls(overlay, clock=overlay.clock).take_step()
    assert overlay.pings == []
