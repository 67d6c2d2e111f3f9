"""The IPv8 service object: keys, overlays, strategies, start/stop on 127.0.0.1, and the Twisted service."""
from __future__ import annotations

import base64
import logging
import stat
from typing import Any

import pytest
from twisted.application.service import MultiService
from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest

from ipv8 import service as service_module
from ipv8.community import Community, CommunitySettings
from ipv8.configuration import (Bootstrapper, BootstrapperDefinition, ConfigBuilder, ConfigurationError, Strategy,
                                WalkerDefinition, get_default_configuration)
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keyfile import KEY_FILE_MODE
from ipv8.messaging.interfaces.dispatcher.endpoint import DispatcherEndpoint
from ipv8.messaging.interfaces.statistics_endpoint import StatisticsEndpoint
from ipv8.peerdiscovery.discovery import DiscoveryStrategy
from ipv8.test.mocking.endpoint import AutoMockEndpoint, Internet
from ipv8.test.util import wait_until
from ipv8_service import IPv8, IPv8Service, IPv8StartError


class DemoSettings(CommunitySettings):
    greeting: str = "hello"
    working_directory: str = "unset"


class DemoCommunity(Community):
    community_id = b"\x42" * 20
    settings_class = DemoSettings

    def __init__(self, settings: DemoSettings) -> None:
        super().__init__(settings)
        self.greeting = settings.greeting
        self.working_directory = settings.working_directory
        self.calls: list[tuple] = []
        self.unloaded = False

    def started(self, *args: Any) -> None:
        self.calls.append(("started", *args))

    def slow_start(self) -> Deferred:
        self.calls.append(("slow_start",))
        return deferLater(reactor, 0.01, lambda: self.calls.append(("slow_start done",)))

    def get_available_strategies(self) -> dict[str, type]:
        return {"CountingStrategy": CountingStrategy}

    def unload(self) -> Deferred:
        self.unloaded = True
        return super().unload()


class OtherCommunity(Community):
    community_id = b"\x43" * 20


class CountingStrategy(DiscoveryStrategy):
    """Records the moments it is asked to step."""

    def __init__(self, overlay: Any, label: str = "x", clock: Any = None, fail: bool = False) -> None:
        super().__init__(overlay)
        self.label = label
        self.clock = clock
        self.fail = fail
        self.steps: list[float] = []

    def take_step(self) -> None:
        self.steps.append(self.clock.seconds() if self.clock is not None else 0.0)
        if self.fail:
            raise RuntimeError("step failed on purpose")


def local_builder(tmp_path: Any, interval: float = 0.5) -> ConfigBuilder:
    return (ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1").set_port(0)
            .set_working_directory(str(tmp_path)).set_walker_interval(interval))


def demo_config(tmp_path: Any, **overlay: Any) -> dict[str, Any]:
    builder = local_builder(tmp_path).add_key("me", "curve25519", "me.pem")
    builder.add_overlay("DemoCommunity", "me", overlay.get("walkers", []), overlay.get("bootstrappers", []),
                        overlay.get("initialize", {}), overlay.get("on_start", []))
    return builder.finalize()


EXTRA = {"DemoCommunity": DemoCommunity, "OtherCommunity": OtherCommunity}


def mock_ipv8(config: dict[str, Any], clock: Clock | None = None, **kwargs: Any) -> IPv8:
    clock = clock or Clock()
    endpoint = AutoMockEndpoint(Internet(clock=clock))
    return IPv8(config, endpoint_override=endpoint, extra_communities=EXTRA, reactor=clock, **kwargs)


# -- keys --------------------------------------------------------------------------------------------------

def test_generated_key_file_is_private_and_reused(tmp_path: Any) -> None:
    config = demo_config(tmp_path)
    first = mock_ipv8(config)
    key_file = tmp_path / "me.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == KEY_FILE_MODE == 0o600
    assert key_file.read_bytes() == first.keys["me"].key.key_to_bin()
    second = mock_ipv8(config)
    assert second.keys["me"].mid == first.keys["me"].mid
    assert first.overlays[0].my_peer is first.keys["me"]


def test_key_from_material_is_saved_once(tmp_path: Any) -> None:
    key = default_eccrypto.generate_key("curve25519")
    config = (local_builder(tmp_path).add_key_from_bin("me", base64.b64encode(key.key_to_bin()).decode(),
                                                       "keys/me.pem").finalize())
    node = mock_ipv8(config)
    assert node.keys["me"].public_key.key_to_bin() == key.pub().key_to_bin()
    assert (tmp_path / "keys" / "me.pem").read_bytes() == key.key_to_bin()

    other = default_eccrypto.generate_key("curve25519")
    config["keys"][0]["bin"] = base64.b64encode(other.key_to_bin()).decode()
    again = mock_ipv8(config)  # the existing file wins over the new material
    assert again.keys["me"].public_key.key_to_bin() == key.pub().key_to_bin()


def test_ephemeral_key_touches_no_file(tmp_path: Any) -> None:
    node = mock_ipv8(local_builder(tmp_path).add_ephemeral_key("me").finalize())
    assert "me" in node.keys
    assert list(tmp_path.iterdir()) == []


def test_working_directory_is_created_and_used(tmp_path: Any) -> None:
    config = demo_config(tmp_path / "deep" / "node")
    node = mock_ipv8(config)
    assert (tmp_path / "deep" / "node" / "me.pem").exists()
    # Overlays with a working_directory setting get the configured one.
    assert node.overlays[0].working_directory == str(tmp_path / "deep" / "node")


def test_corrupt_key_file_is_a_configuration_error(tmp_path: Any) -> None:
    (tmp_path / "me.pem").write_bytes(b"this is not a key")
    with pytest.raises(ConfigurationError) as caught:
        mock_ipv8(demo_config(tmp_path))
    assert caught.value.path == "keys[0].file"
    assert "me.pem" in str(caught.value)


def test_missing_key_file_without_a_way_to_create_it(tmp_path: Any) -> None:
    config = demo_config(tmp_path)
    config["keys"] = [{"alias": "me", "file": "absent.pem"}]
    with pytest.raises(ConfigurationError) as caught:
        mock_ipv8(config)
    assert caught.value.path == "keys[0].file"


# -- overlays ----------------------------------------------------------------------------------------------

def test_overlay_settings_and_on_start_are_applied(tmp_path: Any) -> None:
    config = demo_config(tmp_path, initialize={"greeting": "hi", "max_peers": 7}, on_start=[("started", 1, "a")])
    node = mock_ipv8(config)
    overlay = node.get_overlay(DemoCommunity)
    assert overlay is not None
    assert (overlay.greeting, overlay.max_peers) == ("hi", 7)
    assert overlay.calls == []
    node.start()
    assert overlay.calls == [("started", 1, "a")]
    assert node.running


def test_invalid_configuration_is_rejected_before_anything_happens(tmp_path: Any) -> None:
    config = demo_config(tmp_path)
    config["walker_interval"] = -1
    with pytest.raises(ConfigurationError, match="walker_interval"):
        mock_ipv8(config)
    assert not (tmp_path / "me.pem").exists()


def test_unknown_overlay_class_names_the_setting(tmp_path: Any) -> None:
    config = demo_config(tmp_path)
    config["overlays"][0]["class"] = "NoSuchCommunity"
    with pytest.raises(ConfigurationError) as caught:
        mock_ipv8(config)
    assert caught.value.path == "overlays[0].class"
    assert "extra_communities" in str(caught.value)


def test_extra_communities_win_over_standard_names(tmp_path: Any) -> None:
    config = demo_config(tmp_path)
    config["overlays"][0]["class"] = "DiscoveryCommunity"
    node = IPv8(config, endpoint_override=AutoMockEndpoint(Internet(clock=Clock())),
                extra_communities={"DiscoveryCommunity": DemoCommunity}, reactor=Clock())
    assert [type(overlay) for overlay in node.overlays] == [DemoCommunity]


def test_unavailable_standard_overlay_is_skipped_with_a_warning(tmp_path: Any, monkeypatch: Any,
                                                                 caplog: Any) -> None:
    monkeypatch.setitem(service_module.STANDARD_COMMUNITIES, "FutureCommunity",
                        ("ipv8.not_written_yet.community", "FutureCommunity"))
    builder = local_builder(tmp_path).add_key("me", "curve25519", "me.pem")
    builder.add_overlay("FutureCommunity", "me", [WalkerDefinition(Strategy.RandomWalk, 20, {})], [], {},
                        [("build_tunnels", 1)])
    builder.add_overlay("DemoCommunity", "me", [], [], {}, [])
    with caplog.at_level(logging.WARNING, logger="ipv8.service"):
        node = mock_ipv8(builder.finalize())
    assert [type(overlay) for overlay in node.overlays] == [DemoCommunity]
    assert node.strategies == []
    assert any("FutureCommunity" in record.getMessage() and "overlays[0]" in record.getMessage()
               for record in caplog.records)


def test_default_configuration_loads_with_local_bootstrap(tmp_path: Any, caplog: Any) -> None:
    config = get_default_configuration()
    config["working_directory"] = str(tmp_path)
    for overlay in config["overlays"]:
        overlay["bootstrappers"] = [{"class": "DispersyBootstrapper",
                                     "init": {"ip_addresses": [["127.0.0.1", 1]], "dns_addresses": []}}]
    with caplog.at_level(logging.WARNING, logger="ipv8.service"):
        node = mock_ipv8(config)
    loaded = {type(overlay).__name__ for overlay in node.overlays}
    assert "DiscoveryCommunity" in loaded
    if "HiddenTunnelCommunity" not in loaded:  # not part of txipv8 (yet): skipped, and said so
        assert any("HiddenTunnelCommunity" in record.getMessage() for record in caplog.records)
    assert not any("DHTDiscoveryCommunity" in record.getMessage() for record in caplog.records)
    dht = next(overlay for overlay in node.overlays if type(overlay).__name__ == "DHTDiscoveryCommunity")
    assert [(type(strategy).__name__, target) for strategy, target in node.strategies if strategy.overlay is dht] == [
        ("RandomWalk", 20), ("PingChurn", -1)]
    discovery = next(overlay for overlay in node.overlays if type(overlay).__name__ == "DiscoveryCommunity")
    assert [type(strategy).__name__ for strategy, _ in node.strategies if strategy.overlay is discovery] == [
        "RandomWalk", "RandomChurn", "PeriodicSimilarity"]
    assert [target for strategy, target in node.strategies if strategy.overlay is discovery] == [20, -1, -1]
    (bootstrapper,) = discovery.bootstrappers
    assert type(bootstrapper).__name__ == "DispersyBootstrapper"
    assert [tuple(address) for address in bootstrapper.ip_addresses] == [("127.0.0.1", 1)]
    assert (tmp_path / "ec_multichain.pem").exists()


def test_walker_names_resolve_through_the_overlay(tmp_path: Any) -> None:
    walkers = [WalkerDefinition("CountingStrategy", 5, {"label": "mine"})]
    node = mock_ipv8(demo_config(tmp_path, walkers=walkers))
    ((strategy, target),) = node.strategies
    assert isinstance(strategy, CountingStrategy)
    assert (strategy.label, target, strategy.overlay) == ("mine", 5, node.overlays[0])


@pytest.mark.parametrize(("walker", "path"), [
    (WalkerDefinition("NoSuchWalk", 5, {}), "overlays[0].walkers[0].strategy"),
    (WalkerDefinition("CountingStrategy", 5, {"speed": 3}), "overlays[0].walkers[0].init"),
])
def test_bad_walkers_name_the_setting(tmp_path: Any, walker: WalkerDefinition, path: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        mock_ipv8(demo_config(tmp_path, walkers=[walker]))
    assert caught.value.path == path


def test_bootstrappers_are_attached(tmp_path: Any) -> None:
    local = BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                   {"ip_addresses": [("127.0.0.1", 6421)], "dns_addresses": []})
    node = mock_ipv8(demo_config(tmp_path, bootstrappers=[local]))
    (bootstrapper,) = node.overlays[0].bootstrappers
    assert [tuple(address) for address in bootstrapper.ip_addresses] == [("127.0.0.1", 6421)]


def test_bad_bootstrapper_arguments_name_the_setting(tmp_path: Any) -> None:
    broken = BootstrapperDefinition(Bootstrapper.DispersyBootstrapper, {"ip_addresses": [("127.0.0.1", 6421)]})
    with pytest.raises(ConfigurationError) as caught:
        mock_ipv8(demo_config(tmp_path, bootstrappers=[broken]))
    assert caught.value.path == "overlays[0].bootstrappers[0].init"


def test_missing_on_start_method(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        mock_ipv8(demo_config(tmp_path, on_start=[("started",), ("fly_away",)]))
    assert caught.value.path == "overlays[0].on_start[1]"
    assert "fly_away" in str(caught.value)


def test_get_overlays_and_unload_overlay(tmp_path: Any) -> None:
    builder = local_builder(tmp_path).add_key("me", "curve25519", "me.pem")
    walkers = [WalkerDefinition("CountingStrategy", -1, {})]
    builder.add_overlay("DemoCommunity", "me", walkers, [], {"greeting": "one"}, [])
    builder.add_overlay("DemoCommunity", "me", walkers, [], {"greeting": "two"}, [], allow_duplicate=True)
    builder.add_overlay("OtherCommunity", "me", [], [], {}, [])
    node = mock_ipv8(builder.finalize())
    first, second = node.get_overlays(DemoCommunity)
    assert (first.greeting, second.greeting) == ("one", "two")
    assert node.get_overlay(OtherCommunity) is node.overlays[2]
    assert node.get_overlay(StatisticsEndpoint) is None

    unloaded = []
    node.unload_overlay(first).addCallback(unloaded.append)
    assert unloaded == [None]
    assert first.unloaded
    assert list(node.get_overlays(DemoCommunity)) == [second]
    assert [strategy.overlay for strategy, _ in node.strategies] == [second]


def test_add_strategy_registers_the_overlay(tmp_path: Any) -> None:
    node = mock_ipv8(demo_config(tmp_path))
    outsider = OtherCommunity(CommunitySettings(my_peer=node.keys["me"], endpoint=node.endpoint,
                                                network=node.network))
    strategy = CountingStrategy(outsider)
    node.add_strategy(outsider, strategy, 3)
    assert outsider in node.overlays
    assert node.strategies[-1] == (strategy, 3)


def test_statistics_endpoint(tmp_path: Any) -> None:
    node = mock_ipv8(demo_config(tmp_path), enable_statistics=True)
    assert isinstance(node.endpoint, StatisticsEndpoint)
    assert node.overlays[0].endpoint is node.endpoint


def test_default_endpoint_is_a_dispatcher(tmp_path: Any) -> None:
    config = demo_config(tmp_path)
    config["interfaces"].append({"interface": "UDPIPv6", "ip": "::1", "port": 0})
    node = IPv8(config, extra_communities=EXTRA)
    assert isinstance(node.endpoint, DispatcherEndpoint)
    assert sorted(node.endpoint.interfaces) == ["UDPIPv4", "UDPIPv6"]


def test_legacy_address_and_port(tmp_path: Any, caplog: Any) -> None:
    config = demo_config(tmp_path)
    del config["interfaces"]
    config["address"], config["port"] = "127.0.0.1", 0
    with caplog.at_level(logging.WARNING, logger="ipv8.service"):
        node = IPv8(config, extra_communities=EXTRA)
    assert list(node.endpoint.interfaces) == ["UDPIPv4"]
    assert node.endpoint.interfaces["UDPIPv4"]._ip == "127.0.0.1"
    assert any("deprecated" in record.getMessage() for record in caplog.records)


# -- the strategy loop -------------------------------------------------------------------------------------

def started_with_strategies(tmp_path: Any, interval: float, count: int,
                            **options: Any) -> tuple[IPv8, Clock, list[CountingStrategy]]:
    clock = Clock()
    node = mock_ipv8(demo_config(tmp_path), clock=clock)
    node.walk_interval = interval
    strategies = [CountingStrategy(node.overlays[0], label=str(i), clock=clock, **options) for i in range(count)]
    for strategy in strategies:
        node.add_strategy(node.overlays[0], strategy, -1)
    node.start()
    return node, clock, strategies


def test_every_strategy_steps_once_per_interval_spread_evenly(tmp_path: Any) -> None:
    node, clock, strategies = started_with_strategies(tmp_path, 1.0, 4)
    for _ in range(12):
        clock.advance(0.25)
    # The first step is taken at once (t=0), then one strategy per quarter interval.
    assert [strategy.steps for strategy in strategies] == [
        [0.0, 1.0, 2.0, 3.0], [0.25, 1.25, 2.25], [0.5, 1.5, 2.5], [0.75, 1.75, 2.75]]


def test_target_peers_pause_a_strategy(tmp_path: Any) -> None:
    clock = Clock()
    node = mock_ipv8(demo_config(tmp_path), clock=clock)
    wanting, satisfied = CountingStrategy(node.overlays[0], clock=clock), CountingStrategy(node.overlays[0],
                                                                                             clock=clock)
    node.add_strategy(node.overlays[0], wanting, 1)  # the overlay has 0 peers: runs
    node.add_strategy(node.overlays[0], satisfied, 0)  # 0 peers is not below 0: paused
    node.start()
    clock.advance(0.25)
    clock.advance(0.25)
    clock.advance(0.25)
    assert len(wanting.steps) == 2
    assert satisfied.steps == []


def test_a_failing_strategy_does_not_stop_the_others(tmp_path: Any, caplog: Any) -> None:
    clock = Clock()
    node = mock_ipv8(demo_config(tmp_path), clock=clock)
    broken = CountingStrategy(node.overlays[0], clock=clock, fail=True)
    healthy = CountingStrategy(node.overlays[0], clock=clock)
    node.add_strategy(node.overlays[0], broken, -1)
    node.add_strategy(node.overlays[0], healthy, -1)
    node.start()
    with caplog.at_level(logging.ERROR, logger="ipv8.service"):
        for _ in range(4):
            clock.advance(0.25)
    assert broken.steps == [0.0, 0.5, 1.0]
    assert healthy.steps == [0.25, 0.75]
    assert any("CountingStrategy failed" in record.getMessage() for record in caplog.records)


def test_interval_is_redivided_when_strategies_change(tmp_path: Any) -> None:
    node, clock, (first,) = started_with_strategies(tmp_path, 1.0, 1)
    clock.advance(1.0)
    assert first.steps == [0.0, 1.0]
    second = CountingStrategy(node.overlays[0], clock=clock)
    node.add_strategy(node.overlays[0], second, -1)
    for _ in range(9):
        clock.advance(0.5)
    # From the next tick on, each of the two gets one step per second, half a second apart.
    assert sorted(first.steps[2:] + second.steps) == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5]
    for steps in (first.steps[2:], second.steps):
        assert [later - earlier for earlier, later in zip(steps, steps[1:])] == [1.0, 1.0, 1.0]


def test_walk_interval_must_be_positive(tmp_path: Any) -> None:
    node = mock_ipv8(demo_config(tmp_path))
    assert node.walk_interval == 0.5
    with pytest.raises(ValueError, match="walk_interval"):
        node.walk_interval = 0


def test_no_steps_while_stopped(tmp_path: Any) -> None:
    node, clock, (strategy,) = started_with_strategies(tmp_path, 1.0, 1)
    clock.advance(1.0)
    stopped: list[Any] = []
    node.stop().addCallback(stopped.append)
    assert stopped == [None]
    clock.advance(10.0)
    assert strategy.steps == [0.0, 1.0]
    assert not node.running
    assert not node.endpoint.is_open()
    assert node.overlays == [] and node.strategies == []


def test_start_fails_when_the_endpoint_cannot_open(tmp_path: Any) -> None:
    class Unbindable(AutoMockEndpoint):
        def open(self) -> Deferred:
            return succeed(False)

    node = IPv8(demo_config(tmp_path), endpoint_override=Unbindable(Internet(clock=Clock())),
                extra_communities=EXTRA, reactor=Clock())
    failures: list[Any] = []
    node.start().addErrback(failures.append)
    assert failures[0].check(IPv8StartError)
    assert "127.0.0.1:0" in failures[0].getErrorMessage()
    assert not node.scheduler.running


# -- real sockets on 127.0.0.1 -----------------------------------------------------------------------------

class TestOnLoopback(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        self.nodes: list[IPv8] = []

    def tearDown(self) -> Deferred:
        async def stop_all() -> None:
            for node in self.nodes:
                await node.stop()
        return ensureDeferred(stop_all())

    def make_node(self, name: str, **overlay: Any) -> IPv8:
        config = demo_config(self.mktemp() + name, **overlay)
        node = IPv8(config, extra_communities=EXTRA)
        self.nodes.append(node)
        return node

    async def test_start_and_stop(self) -> None:
        node = self.make_node("a", on_start=[("slow_start",)])
        overlay = node.get_overlay(DemoCommunity)
        await node.start()
        self.assertEqual([("slow_start",), ("slow_start done",)], overlay.calls)  # start waited for it
        host, port = node.endpoint.get_address()
        self.assertEqual("127.0.0.1", host)
        self.assertNotEqual(0, port)
        await node.stop()
        self.assertFalse(node.endpoint.is_open())
        self.assertTrue(overlay.unloaded)
        self.assertEqual([], overlay.get_tasks())

    async def test_two_nodes_meet_by_walking(self) -> None:
        first, second = self.make_node("a"), self.make_node("b")
        await first.start()
        await second.start()
        first.overlays[0].walk_to(second.endpoint.get_address())
        await wait_until(lambda: first.overlays[0].get_peers() and second.overlays[0].get_peers())
        self.assertEqual([second.keys["me"].mid], [peer.mid for peer in first.overlays[0].get_peers()])
        self.assertEqual([first.keys["me"].mid], [peer.mid for peer in second.overlays[0].get_peers()])

    async def test_two_nodes_meet_through_a_local_tracker(self) -> None:
        from ipv8.tracker import TrackerService
        tracker = TrackerService(0, "127.0.0.1")
        tracker.startService()
        self.addCleanup(tracker.stopService)
        tracker_address = ["127.0.0.1", tracker.get_address()[1]]
        bootstrap = [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                            {"ip_addresses": [tracker_address], "dns_addresses": []})]
        walkers = [WalkerDefinition(Strategy.RandomWalk, 10, {"timeout": 3.0})]
        first = self.make_node("a", walkers=walkers, bootstrappers=bootstrap)
        second = self.make_node("b", walkers=walkers, bootstrappers=bootstrap)
        for node in (first, second):
            node.walk_interval = 0.05
            await node.start()
        await wait_until(lambda: first.overlays[0].get_peers() and second.overlays[0].get_peers(), 10.0)
        self.assertIn(second.keys["me"].mid, [peer.mid for peer in first.overlays[0].get_peers()])
        self.assertNotIn(tuple(tracker_address), [tuple(peer.address) for peer in first.overlays[0].get_peers()])


class TestTwistedService(unittest.TestCase):
    timeout = 20

    async def test_service_starts_and_stops_the_node(self) -> None:
        node = IPv8(demo_config(self.mktemp(), on_start=[("started",)]), extra_communities=EXTRA)
        parent = MultiService()
        wrapper = IPv8Service(node)
        wrapper.setServiceParent(parent)
        self.assertIs(wrapper, parent.getServiceNamed("IPv8"))
        parent.startService()
        await wrapper.started
        self.assertTrue(wrapper.running)
        self.assertTrue(node.running)
        self.assertTrue(node.endpoint.is_open())
        self.assertEqual([("started",)], node.overlays[0].calls)
        await parent.stopService()
        self.assertFalse(wrapper.running)
        self.assertFalse(node.endpoint.is_open())

    async def test_stop_right_after_start_waits_for_the_start(self) -> None:
        node = IPv8(demo_config(self.mktemp(), on_start=[("slow_start",)]), extra_communities=EXTRA)
        overlay = node.overlays[0]
        wrapper = IPv8Service(node)
        wrapper.startService()
        await wrapper.stopService()
        self.assertEqual([("slow_start",), ("slow_start done",)], overlay.calls)
        self.assertFalse(node.endpoint.is_open())
        self.assertFalse(node.scheduler.running)

    async def test_failed_start_is_reported(self) -> None:
        node = IPv8(demo_config(self.mktemp(), on_start=[("started",)]), extra_communities=EXTRA)

        def explode() -> None:
            raise ValueError("no start for you")
        node.on_start = [(explode, ())]
        wrapper = IPv8Service(node)
        with self.assertRaises(ValueError):
            await wrapper.startService()
        await wrapper.stopService()
        self.assertFalse(node.endpoint.is_open())


def test_stop_loop_stops_the_reactor(tmp_path: Any) -> None:
    class StoppableClock(Clock):
        stops = 0

        def stop(self) -> None:
            self.stops += 1

    clock = StoppableClock()
    node = mock_ipv8(demo_config(tmp_path), clock=clock)
    node.start()
    node.stop()
    assert clock.stops == 0
    node.start()
    node.stop(stop_loop=True)
    assert clock.stops == 1
