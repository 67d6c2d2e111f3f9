"""CommunityLauncher decorators and the loaders that launch communities into an IPv8 instance."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet.task import Clock

from ipv8.bootstrapping.dispersy.bootstrapper import DispersyBootstrapper
from ipv8.community import Community, CommunitySettings
from ipv8.configuration import ConfigBuilder
from ipv8.loader import (CommunityLauncher, CommunityLoader, IPv8CommunityLoader, LauncherCycleError, after,
                         bootstrapper, kwargs, name, overlay, precondition, set_in_session, walk_strategy)
from ipv8.peerdiscovery.discovery import EdgeWalk, RandomWalk
from ipv8.test.mocking.endpoint import AutoMockEndpoint, Internet
from ipv8_service import IPv8


class LoaderSettings(CommunitySettings):
    label: str = "default"
    size: int = 0


class LoaderCommunity(Community):
    community_id = b"\x51" * 20
    settings_class = LoaderSettings

    def __init__(self, settings: LoaderSettings) -> None:
        super().__init__(settings)
        self.label = settings.label
        self.size = settings.size


class SecondCommunity(Community):
    community_id = b"\x52" * 20


def empty_ipv8(tmp_path: Any) -> IPv8:
    clock = Clock()
    config = ConfigBuilder().clear_keys().clear_overlays().set_working_directory(str(tmp_path)).finalize()
    return IPv8(config, endpoint_override=AutoMockEndpoint(Internet(clock=clock)), reactor=clock)


LOCAL_TRACKER = {"ip_addresses": [("127.0.0.1", 6421)], "dns_addresses": []}


@overlay(LoaderCommunity)
@walk_strategy(RandomWalk, target_peers=7, kw_args={"timeout": 2.0})
@walk_strategy(EdgeWalk, target_peers=-1)
@bootstrapper(DispersyBootstrapper, kw_args=LOCAL_TRACKER)
@kwargs(label="session.label", size="len(session.label) * 2")
@set_in_session("loader_community")
class FullLauncher(CommunityLauncher):
    pass


def test_decorators_describe_the_launch() -> None:
    launcher = FullLauncher()
    session = SimpleNamespace(label="abc")
    assert launcher.get_name() == "FullLauncher"
    assert launcher.get_overlay_class() is LoaderCommunity
    # Decorators apply bottom-up, so the strategy closest to the class comes first.
    assert launcher.get_walk_strategies() == [(EdgeWalk, {}, -1), (RandomWalk, {"timeout": 2.0}, 7)]
    assert launcher.get_bootstrappers(session) == [(DispersyBootstrapper, LOCAL_TRACKER)]
    assert launcher.get_kwargs(session) == {"label": "abc", "size": 6}
    assert launcher.should_launch(session)
    assert launcher.not_before() == []


def test_launch_into_ipv8(tmp_path: Any) -> None:
    ipv8 = empty_ipv8(tmp_path)
    session = SimpleNamespace(label="xyz")
    loader = IPv8CommunityLoader()
    loader.set_launcher(FullLauncher())
    loader.load(ipv8, session)

    community = session.loader_community
    assert isinstance(community, LoaderCommunity)
    assert (community.label, community.size) == ("xyz", 6)
    assert ipv8.overlays == [community]
    assert community.endpoint is ipv8.endpoint and community.network is ipv8.network
    assert [(type(strategy), target) for strategy, target in ipv8.strategies] == [(EdgeWalk, -1), (RandomWalk, 7)]
    assert all(strategy.overlay is community for strategy, _ in ipv8.strategies)
    assert ipv8.strategies[1][0].node_timeout == 2.0
    (tracker,) = community.bootstrappers
    assert [tuple(address) for address in tracker.ip_addresses] == [("127.0.0.1", 6421)]
    assert loader.has_launched("FullLauncher")


def test_dependencies_decide_the_order(tmp_path: Any) -> None:
    order: list[str] = []

    class Recording(CommunityLauncher):
        def finalize(self, ipv8: Any, session: Any, community: Any) -> None:
            order.append(self.get_name())

    @overlay(SecondCommunity)
    @name("late")
    @after("middle")
    class Late(Recording):
        pass

    @overlay(SecondCommunity)
    @name("middle")
    @after("early", "not-registered")
    class Middle(Recording):
        pass

    @overlay(SecondCommunity)
    @name("early")
    class Early(Recording):
        pass

    loader = IPv8CommunityLoader()
    for launcher in (Late(), Middle(), Early()):
        loader.set_launcher(launcher)
    loader.load(empty_ipv8(tmp_path), SimpleNamespace())
    assert order == ["early", "middle", "late"]


def test_preconditions(tmp_path: Any) -> None:
    @overlay(SecondCommunity)
    @precondition("session.wanted")
    @precondition("not session.forbidden")
    class Conditional(CommunityLauncher):
        pass

    @overlay(LoaderCommunity)
    @after("Conditional")
    class Dependent(CommunityLauncher):
        pass

    launcher = Conditional()
    assert launcher.should_launch(SimpleNamespace(wanted=True, forbidden=False))
    assert not launcher.should_launch(SimpleNamespace(wanted=False, forbidden=False))
    assert not launcher.should_launch(SimpleNamespace(wanted=True, forbidden=True))

    ipv8 = empty_ipv8(tmp_path)
    loader = IPv8CommunityLoader()
    loader.set_launcher(Dependent())
    loader.set_launcher(Conditional())
    loader.load(ipv8, SimpleNamespace(wanted=False, forbidden=False))
    # The dependency never launches, so it does not hold the dependent back.
    assert [type(community) for community in ipv8.overlays] == [LoaderCommunity]
    assert not loader.has_launched("Conditional")
    assert loader.has_launched("Dependent")


def test_cycles_are_reported(tmp_path: Any) -> None:
    @overlay(SecondCommunity)
    @after("B")
    class A(CommunityLauncher):
        pass

    @overlay(SecondCommunity)
    @after("A")
    class B(CommunityLauncher):
        pass

    @overlay(LoaderCommunity)
    class Free(CommunityLauncher):
        pass

    ipv8 = empty_ipv8(tmp_path)
    loader = IPv8CommunityLoader()
    for launcher in (A(), B(), Free()):
        loader.set_launcher(launcher)
    with pytest.raises(LauncherCycleError, match=r"\['A', 'B'\]"):
        loader.load(ipv8, SimpleNamespace())
    assert [type(community) for community in ipv8.overlays] == [LoaderCommunity]


def test_lazy_class_sources() -> None:
    @overlay("tests.test_loader", "LoaderCommunity")
    @walk_strategy("ipv8.peerdiscovery.discovery", "RandomWalk", target_peers=3)
    @bootstrapper("ipv8.bootstrapping.dispersy.bootstrapper", "DispersyBootstrapper", kw_args=LOCAL_TRACKER)
    class ByName(CommunityLauncher):
        pass

    @overlay(lambda: SecondCommunity)
    class ByFunction(CommunityLauncher):
        pass

    assert ByName().get_overlay_class() is LoaderCommunity
    assert ByName().get_walk_strategies() == [(RandomWalk, {}, 3)]
    assert ByName().get_bootstrappers(None) == [(DispersyBootstrapper, LOCAL_TRACKER)]
    assert ByName.hiddenimports == {"tests.test_loader", "ipv8.peerdiscovery.discovery",  # type: ignore[attr-defined]
                                    "ipv8.bootstrapping.dispersy.bootstrapper"}
    assert ByFunction().get_overlay_class() is SecondCommunity

    @overlay("ipv8.no_such_module", "Anything")
    class Missing(CommunityLauncher):
        pass
    with pytest.raises(ModuleNotFoundError):
        Missing().get_overlay_class()

    with pytest.raises(TypeError, match="class"):
        overlay("tests.test_loader")(type("NoClassName", (CommunityLauncher,), {}))


def test_decorators_leave_base_classes_alone() -> None:
    @overlay(LoaderCommunity)
    @walk_strategy(RandomWalk)
    class Base(CommunityLauncher):
        pass

    @walk_strategy(EdgeWalk, target_peers=4)
    @name("child")
    class Child(Base):
        pass

    assert Base().get_walk_strategies() == [(RandomWalk, {}, 20)]
    assert Child().get_walk_strategies() == [(RandomWalk, {}, 20), (EdgeWalk, {}, 4)]
    assert Base().get_name() == "Base"
    assert Child().get_name() == "child"
    assert Child().get_overlay_class() is LoaderCommunity


def test_decorators_extend_overrides() -> None:
    @walk_strategy(EdgeWalk)
    class Custom(CommunityLauncher):
        def get_walk_strategies(self) -> list:
            return [(RandomWalk, {"timeout": 1.0}, 2)]

    assert Custom().get_walk_strategies() == [(RandomWalk, {"timeout": 1.0}, 2), (EdgeWalk, {}, 20)]


def test_undecorated_launcher_has_no_class() -> None:
    with pytest.raises(NotImplementedError, match="@overlay"):
        CommunityLauncher().get_overlay_class()


def test_launcher_registry(tmp_path: Any) -> None:
    loader = IPv8CommunityLoader()
    first, second = FullLauncher(), FullLauncher()
    loader.set_launcher(first)
    loader.set_launcher(second)
    assert loader.get_launcher("FullLauncher") is second
    loader.load(empty_ipv8(tmp_path), SimpleNamespace(label="a"))
    loader.set_launcher(first)  # already launched: not replaced
    assert loader.get_launcher("FullLauncher") is second
    with pytest.raises(TypeError):
        loader.set_launcher(object())  # type: ignore[arg-type]
    loader.del_launcher(second)
    assert "FullLauncher" not in loader.community_launchers


def test_loading_twice_launches_once(tmp_path: Any) -> None:
    ipv8 = empty_ipv8(tmp_path)
    loader = IPv8CommunityLoader()
    loader.set_launcher(FullLauncher())
    session = SimpleNamespace(label="a")
    loader.load(ipv8, session)
    loader.load(ipv8, session)
    assert len(ipv8.overlays) == 1


def test_base_loader_needs_a_launch_method(tmp_path: Any) -> None:
    loader = CommunityLoader()
    loader.set_launcher(FullLauncher())
    with pytest.raises(NotImplementedError):
        loader.load(empty_ipv8(tmp_path), SimpleNamespace(label="a"))


def test_default_peer_is_fresh() -> None:
    launcher = FullLauncher()
    first = launcher.get_my_peer(None, None)  # type: ignore[arg-type]
    second = launcher.get_my_peer(None, None)  # type: ignore[arg-type]
    assert first.mid != second.mid
    assert first.key.has_secret_key()
