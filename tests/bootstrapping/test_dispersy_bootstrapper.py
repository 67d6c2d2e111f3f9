"""DispersyBootstrapper: tracker lists, throttling, DNS through injected resolvers, and a real loopback tracker."""
from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail, inlineCallbacks, succeed
from twisted.internet.error import DNSLookupError
from twisted.internet.task import Clock
from twisted.trial import unittest
from zope.interface.verify import verifyClass, verifyObject

from ipv8.bootstrapping.bootstrapper_interface import Bootstrapper, IBootstrapper
from ipv8.bootstrapping.dispersy.bootstrapper import (DEFAULT_BOOTSTRAP_DNS_ADDRESSES,
                                                      DEFAULT_BOOTSTRAP_IP_ADDRESSES, BootstrapAddressError,
                                                      DispersyBootstrapper)
from ipv8.messaging.addresses import UDPv4Address
from ipv8.tracker import TrackerService

from .support import FakeOverlay, close_community, open_loopback_community, wait_until

TRACKER_1 = UDPv4Address("127.0.0.1", 6421)
TRACKER_2 = UDPv4Address("127.0.0.2", 6422)


class FakeResolver:
    """Answers from a table; names missing from it fail like an unknown host. Records every lookup."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str) -> Deferred:
        self.asked.append(host)
        answer = self.table.get(host)
        if answer is None:
            return fail(DNSLookupError(host))
        if isinstance(answer, Deferred):
            return answer
        return succeed(answer)


def make(ip_addresses: Any = (TRACKER_1, TRACKER_2), dns_addresses: Any = (),  # noqa: ANN401
         **kwargs: Any) -> tuple[DispersyBootstrapper, Clock]:  # noqa: ANN401
    clock = Clock()
    kwargs.setdefault("resolver", FakeResolver({}))
    return DispersyBootstrapper(ip_addresses, dns_addresses, reactor=clock, **kwargs), clock


def fired(deferred: Deferred) -> Any:  # noqa: ANN401
    results: list[Any] = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def test_provides_the_interface() -> None:
    bootstrapper, _ = make()
    assert verifyObject(IBootstrapper, bootstrapper)
    assert verifyClass(IBootstrapper, Bootstrapper)
    assert isinstance(bootstrapper, Bootstrapper)
    assert bootstrapper.initialized is False


def test_default_lists_are_the_public_trackers() -> None:
    assert len(DEFAULT_BOOTSTRAP_IP_ADDRESSES) == 13
    assert UDPv4Address("130.161.119.201", 6528) in DEFAULT_BOOTSTRAP_IP_ADDRESSES
    assert all(isinstance(address, UDPv4Address) for address in DEFAULT_BOOTSTRAP_IP_ADDRESSES)
    assert ("dispersy4.tribler.org", 6424) in DEFAULT_BOOTSTRAP_DNS_ADDRESSES
    assert len(DEFAULT_BOOTSTRAP_DNS_ADDRESSES) == 7
    # Building a bootstrapper from them contacts nobody and resolves nothing (that waits for initialize).
    resolver = FakeResolver({})
    bootstrapper = DispersyBootstrapper(DEFAULT_BOOTSTRAP_IP_ADDRESSES, DEFAULT_BOOTSTRAP_DNS_ADDRESSES,
                                        resolver=resolver, reactor=Clock())
    assert resolver.asked == []
    assert bootstrapper.blacklist() == list(DEFAULT_BOOTSTRAP_IP_ADDRESSES)


@pytest.mark.parametrize(("ip_addresses", "dns_addresses"), [
    ([("tracker.example", 1)], []),
    ([("127.0.0.1", 0)], []),
    ([("127.0.0.1", 70000)], []),
    ([("127.0.0.1", "6421")], []),
    ([("127.0.0.1",)], []),
    (["127.0.0.1:6421"], []),
    ([], [("", 6421)]),
    ([], [("tracker example", 6421)]),
    ([], [("tracker.example", True)]),
])
def test_bad_addresses_are_refused(ip_addresses: Any, dns_addresses: Any) -> None:  # noqa: ANN401
    with pytest.raises(BootstrapAddressError):
        DispersyBootstrapper(ip_addresses, dns_addresses)


def test_initialize_blacklists_the_trackers_once_per_overlay() -> None:
    bootstrapper, _ = make()
    overlay, other = FakeOverlay(), FakeOverlay()
    assert fired(bootstrapper.initialize(overlay)) is True
    assert bootstrapper.initialized
    assert overlay.blacklisted == [TRACKER_1, TRACKER_2]
    assert overlay.walked == []  # initialize itself sends nothing
    assert fired(bootstrapper.initialize(overlay)) is True
    assert fired(bootstrapper.initialize(other)) is True
    assert other.blacklisted == [TRACKER_1, TRACKER_2]


def test_initialize_reports_false_without_any_tracker() -> None:
    bootstrapper, _ = make(ip_addresses=(), dns_addresses=[("gone.test", 1)])
    assert fired(bootstrapper.initialize(FakeOverlay())) is False


def test_get_addresses_walks_to_every_tracker_at_most_once_per_timeout() -> None:
    bootstrapper, clock = make(bootstrap_timeout=30.0, initial_retry_interval=30.0)
    overlay = FakeOverlay()
    bootstrapper.initialize(overlay)
    assert list(fired(bootstrapper.get_addresses(overlay, 60.0))) == []
    assert overlay.walked == [TRACKER_1, TRACKER_2]
    for _ in range(29):
        clock.advance(1)
        fired(bootstrapper.get_addresses(overlay, 60.0))
    assert overlay.walked == [TRACKER_1, TRACKER_2]
    clock.advance(1)
    fired(bootstrapper.get_addresses(overlay, 60.0))
    assert overlay.walked == [TRACKER_1, TRACKER_2] * 2
    # Another overlay has its own schedule.
    other = FakeOverlay()
    bootstrapper.initialize(other)
    fired(bootstrapper.get_addresses(other, 60.0))
    assert other.walked == [TRACKER_1, TRACKER_2]


def walk_times(bootstrapper: DispersyBootstrapper, clock: Clock, overlay: FakeOverlay, seconds: float,
               step: float = 0.5) -> list[float]:
    """Ask for addresses every ``step`` seconds (as a peerless community's walker does); when trackers were walked to."""
    times = []
    end = clock.seconds() + seconds
    while clock.seconds() < end:
        before = len(overlay.walked)
        fired(bootstrapper.get_addresses(overlay, 60.0))
        if len(overlay.walked) > before:
            times.append(clock.seconds())
        clock.advance(step)
    return times


def test_a_peerless_overlay_retries_soon_then_backs_off_to_the_timeout() -> None:
    bootstrapper, clock = make(ip_addresses=(TRACKER_1,), bootstrap_timeout=30.0)
    overlay = FakeOverlay()
    bootstrapper.initialize(overlay)
    assert walk_times(bootstrapper, clock, overlay, 130) == [0, 1, 3, 7, 15, 31, 61, 91, 121]
    assert bootstrapper.retry_interval(overlay) == 30.0


def test_the_backoff_starts_over_once_the_overlay_has_peers() -> None:
    bootstrapper, clock = make(ip_addresses=(TRACKER_1,), bootstrap_timeout=30.0)
    overlay = FakeOverlay()
    bootstrapper.initialize(overlay)
    walk_times(bootstrapper, clock, overlay, 40)
    assert bootstrapper.retry_interval(overlay) == 30.0
    # Peers found: the community stops asking and only keeps the trackers alive now and then.
    overlay.peers = ["a peer"]
    clock.advance(100)
    bootstrapper.keep_alive(overlay)
    assert bootstrapper.retry_interval(overlay) == 1.0
    # The peers are gone: bootstrapping is quick again.
    overlay.peers = []
    start = clock.seconds()
    assert [time - start for time in walk_times(bootstrapper, clock, overlay, 8)] == [0, 1, 3, 7]


def test_a_long_silence_also_resets_the_backoff() -> None:
    # Without keep_alive (it is random): an overlay that did not ask for a while had peers in between.
    bootstrapper, clock = make(ip_addresses=(TRACKER_1,), bootstrap_timeout=30.0)
    overlay = FakeOverlay()
    walk_times(bootstrapper, clock, overlay, 40)
    assert bootstrapper.retry_interval(overlay) == 30.0
    clock.advance(45)
    start = clock.seconds()
    assert [time - start for time in walk_times(bootstrapper, clock, overlay, 4)] == [0, 1, 3]


def test_a_short_timeout_caps_the_first_pause() -> None:
    bootstrapper, clock = make(ip_addresses=(TRACKER_1,), bootstrap_timeout=0.5, initial_retry_interval=2.0)
    overlay = FakeOverlay()
    assert walk_times(bootstrapper, clock, overlay, 2, step=0.25) == [0, 0.5, 1.0, 1.5]
    unthrottled, clock = make(ip_addresses=(TRACKER_1,), bootstrap_timeout=0)
    assert walk_times(unthrottled, clock, FakeOverlay(), 1, step=0.25) == [0, 0.25, 0.5, 0.75]


@pytest.mark.parametrize("arguments", [{"bootstrap_timeout": -1}, {"initial_retry_interval": 0},
                                       {"dns_retry_interval": 0}, {"bootstrap_timeout": "30"},
                                       {"initial_retry_interval": float("nan")}])
def test_bad_times_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        make(**arguments)


def test_keep_alive_contacts_each_tracker() -> None:
    bootstrapper, _ = make()
    overlay = FakeOverlay()
    bootstrapper.keep_alive(overlay)
    assert overlay.walked == [TRACKER_1, TRACKER_2]
    assert overlay.blacklisted == [TRACKER_1, TRACKER_2]


def test_dns_names_are_resolved_with_the_injected_resolver() -> None:
    pending: Deferred = Deferred()
    resolver = FakeResolver({"one.tracker.test": "127.0.0.3", "two.tracker.test": pending})
    bootstrapper, _ = make(ip_addresses=[TRACKER_1],
                           dns_addresses=[("one.tracker.test", 7001), ("two.tracker.test", 7002),
                                          ("127.0.0.9", 7009)],
                           resolver=resolver)
    overlay = FakeOverlay()
    initialized = bootstrapper.initialize(overlay)
    # IP literals among the names never reach the resolver.
    assert resolver.asked == ["one.tracker.test", "two.tracker.test"]
    assert not initialized.called  # waits for the second name
    fired(bootstrapper.get_addresses(overlay, 60.0))
    assert overlay.walked == [TRACKER_1, ("127.0.0.3", 7001), ("127.0.0.9", 7009)]

    pending.callback("127.0.0.4")
    assert fired(initialized) is True
    # The late name is blacklisted and, as the overlay has no peers yet, contacted at once.
    assert ("127.0.0.4", 7002) in overlay.blacklisted
    assert overlay.walked[-1] == ("127.0.0.4", 7002)
    assert bootstrapper.blacklist() == [TRACKER_1, ("127.0.0.3", 7001), ("127.0.0.9", 7009), ("127.0.0.4", 7002)]
    assert all(isinstance(address, UDPv4Address) for address in bootstrapper.blacklist())


def test_unresolved_names_are_retried_periodically() -> None:
    resolver = FakeResolver({})
    bootstrapper, clock = make(ip_addresses=(), dns_addresses=[("late.tracker.test", 7001)],
                               resolver=resolver, dns_retry_interval=60.0)
    overlay = FakeOverlay()
    assert fired(bootstrapper.initialize(overlay)) is False
    fired(bootstrapper.get_addresses(overlay, 60.0))
    assert resolver.asked == ["late.tracker.test"]
    clock.advance(60)
    assert resolver.asked == ["late.tracker.test"] * 2
    resolver.table["late.tracker.test"] = "127.0.0.5"
    clock.advance(60)
    assert bootstrapper.blacklist() == [("127.0.0.5", 7001)]
    assert overlay.walked == [("127.0.0.5", 7001)]
    clock.advance(600)
    assert len(resolver.asked) == 3  # resolved names are not looked up again
    assert clock.getDelayedCalls() == []


def test_answers_that_are_not_ipv4_addresses_are_ignored() -> None:
    resolver = FakeResolver({"v6.tracker.test": "::1", "junk.tracker.test": 42})
    bootstrapper, clock = make(ip_addresses=(), dns_addresses=[("v6.tracker.test", 1), ("junk.tracker.test", 2)],
                               resolver=resolver)
    assert fired(bootstrapper.initialize(FakeOverlay())) is False
    assert bootstrapper.blacklist() == []
    assert len(clock.getDelayedCalls()) == 1  # they count as unresolved, so they are retried


def test_a_resolver_that_raises_counts_as_a_failed_lookup() -> None:
    def broken(host: str) -> Deferred:
        raise RuntimeError("resolver bug")

    bootstrapper, _ = make(ip_addresses=[TRACKER_1], dns_addresses=[("x.test", 1)], resolver=broken)
    assert fired(bootstrapper.initialize(FakeOverlay())) is True
    assert bootstrapper.blacklist() == [TRACKER_1]


def test_unload_cancels_lookups_and_retries() -> None:
    pending: Deferred = Deferred()
    resolver = FakeResolver({"slow.tracker.test": pending})
    bootstrapper, clock = make(ip_addresses=(), dns_addresses=[("slow.tracker.test", 1), ("bad.test", 2)],
                               resolver=resolver)
    initialized = bootstrapper.initialize(FakeOverlay())
    bootstrapper.unload()
    assert pending.called  # cancelled
    assert fired(initialized) is False
    assert clock.getDelayedCalls() == []


def test_the_default_resolver_is_the_reactors() -> None:
    class ResolvingClock(Clock):
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[str] = []

        def resolve(self, name: str) -> Deferred:
            self.asked.append(name)
            return succeed("127.0.0.7")

    clock = ResolvingClock()
    bootstrapper = DispersyBootstrapper([], [("named.tracker.test", 5)], reactor=clock)
    assert fired(bootstrapper.initialize(FakeOverlay())) is True
    assert clock.asked == ["named.tracker.test"]
    assert bootstrapper.blacklist() == [("127.0.0.7", 5)]


class TestWithLoopbackTracker(unittest.TestCase):
    """Two communities bootstrap through a real tracker on 127.0.0.1, by IP literal and by (fake) DNS name."""

    timeout = 10

    @inlineCallbacks
    def setUp(self) -> Any:  # noqa: ANN401
        self.service = TrackerService(0, "127.0.0.1")
        self.service.startService()
        self.addCleanup(self.service.stopService)
        self.tracker = self.service.get_address()
        self.alice = yield open_loopback_community()
        self.addCleanup(close_community, self.alice)
        self.bob = yield open_loopback_community()
        self.addCleanup(close_community, self.bob)

    def knows(self, community: Any, other: Any) -> bool:  # noqa: ANN401
        return other.endpoint.get_address() in [peer.address for peer in community.get_peers()]

    @inlineCallbacks
    def test_peers_find_each_other_through_the_tracker(self) -> Any:  # noqa: ANN401
        resolver = FakeResolver({"tracker.loopback.test": self.tracker[0]})
        self.alice.bootstrappers.append(DispersyBootstrapper([self.tracker], []))
        self.bob.bootstrappers.append(DispersyBootstrapper([], [("tracker.loopback.test", self.tracker[1])],
                                                           resolver=resolver))
        server = self.service.server

        self.alice.get_new_introduction()  # no peers: bootstraps
        yield wait_until(lambda: server.requests_answered == 1)
        self.bob.get_new_introduction()
        yield wait_until(lambda: server.requests_answered == 2)
        self.assertEqual(resolver.asked, ["tracker.loopback.test"])
        # Bob was introduced to Alice, and the tracker asked Alice to puncture towards Bob: Bob accepts her
        # signed puncture and answers it with an introduction request, so they know each other at once.
        yield wait_until(lambda: self.knows(self.alice, self.bob) and self.knows(self.bob, self.alice))
        for community in (self.alice, self.bob):
            self.assertIn(self.tracker, community.network.blacklist)
            self.assertNotIn(self.tracker, [peer.address for peer in community.get_peers()])
            self.assertEqual(1, len(community.get_peers()))

    @inlineCallbacks
    def test_keep_alive_lets_early_peers_meet_newcomers(self) -> Any:  # noqa: ANN401
        bootstrappers = [DispersyBootstrapper([self.tracker], []) for _ in range(2)]
        self.alice.bootstrappers.append(bootstrappers[0])
        self.bob.bootstrappers.append(bootstrappers[1])
        server = self.service.server
        self.alice.bootstrap()
        yield wait_until(lambda: server.requests_answered == 1)
        self.bob.bootstrap()
        yield wait_until(lambda: server.requests_answered == 2)
        # Alice, who came first, meets Bob through the tracker's puncture request; keeping her tracker
        # registration alive is one more answered request, and Bob (now her peer) is not a walk target.
        yield wait_until(lambda: self.knows(self.alice, self.bob) and self.knows(self.bob, self.alice))
        bootstrappers[0].keep_alive(self.alice)
        yield wait_until(lambda: server.requests_answered == 3)
        self.assertNotIn(self.bob.endpoint.get_address(), self.alice.get_walkable_addresses())
