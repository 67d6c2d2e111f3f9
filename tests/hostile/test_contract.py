"""The names and defaults the hostile-peer defences promise (the other tests use them as their bounds)."""
from __future__ import annotations

from twisted.internet.task import Clock

from ipv8.community import Community
from ipv8.peerdiscovery.network import Network


def test_network_limits() -> None:
    """Findings 1 and 2: the Network's caps and time-outs, with their documented defaults."""
    assert Network.max_services_per_peer == 64
    assert Network.max_unverified_service_records == 500
    assert Network.max_services_per_unverified_peer == 16
    assert Network.unverified_services_ttl == 60
    assert Network.max_known_addresses_per_service == 500
    assert Network.max_introductions_per_introducer == 20
    assert Network.unverified_address_ttl == 300


def test_network_takes_a_clock_and_picks_walkable_addresses() -> None:
    """Finding 2: ``Network(clock=...)`` and ``random_walkable`` (None when nothing is walkable)."""
    network = Network(clock=Clock())
    assert network.random_walkable(b"\x01" * 20) is None


def test_puncture_rate_limit() -> None:
    """Finding 4e: punctures per second per source."""
    assert Community.puncture_rate_limit == 10
