"""The configuration format: defaults, ConfigBuilder output and validation errors that name the setting."""
from __future__ import annotations

import base64
import copy
from typing import Any, Callable

import pytest

from ipv8.configuration import (DISPERSY_BOOTSTRAPPER, Bootstrapper, BootstrapperDefinition, ConfigBuilder,
                                ConfigurationError, Strategy, WalkerDefinition, default_bootstrap_defs,
                                get_default_configuration, validate_configuration)
from ipv8.keyvault.crypto import default_eccrypto

LOCAL_TRACKER = [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                        {"ip_addresses": [("127.0.0.1", 6421)], "dns_addresses": []})]


def test_default_configuration_settings() -> None:
    config = get_default_configuration()
    assert config["interfaces"] == [{"interface": "UDPIPv4", "ip": "0.0.0.0", "port": 8090}]
    assert config["keys"] == [{"alias": "anonymous id", "generation": "curve25519", "file": "ec_multichain.pem"}]
    assert config["logger"] == {"level": "INFO"}
    assert config["working_directory"] == "."
    assert config["walker_interval"] == 0.5
    assert [overlay["class"] for overlay in config["overlays"]] == [
        "DiscoveryCommunity", "HiddenTunnelCommunity", "DHTDiscoveryCommunity"]
    assert all(overlay["key"] == "anonymous id" for overlay in config["overlays"])
    validate_configuration(config)


def test_default_overlays_follow_the_reference() -> None:
    discovery, tunnel, dht = get_default_configuration()["overlays"]
    assert discovery["walkers"] == [
        {"strategy": "RandomWalk", "peers": 20, "init": {"timeout": 3.0}},
        {"strategy": "RandomChurn", "peers": -1,
         "init": {"sample_size": 8, "ping_interval": 10.0, "inactive_time": 27.5, "drop_time": 57.5}},
        {"strategy": "PeriodicSimilarity", "peers": -1, "init": {}},
    ]
    assert tunnel["initialize"] == {"min_circuits": 1, "max_circuits": 1, "max_joined_circuits": 100,
                                    "max_time": 600, "max_time_inactive": 20, "max_traffic": 262144000,
                                    "dht_lookup_interval": 30}
    assert tunnel["on_start"] == [("build_tunnels", 1)]
    assert dht["walkers"] == [{"strategy": "RandomWalk", "peers": 20, "init": {"timeout": 3.0}},
                              {"strategy": "PingChurn", "peers": -1, "init": {}}]
    for overlay in (discovery, tunnel, dht):
        assert overlay["bootstrappers"] == [DISPERSY_BOOTSTRAPPER]


def test_public_tracker_list_is_the_reference_list() -> None:
    init = DISPERSY_BOOTSTRAPPER["init"]
    assert init["bootstrap_timeout"] == 30.0
    assert len(init["ip_addresses"]) == 13
    assert init["ip_addresses"][0] == ("130.161.119.206", 6421)
    assert init["ip_addresses"][-1] == ("130.161.119.201", 6528)
    assert [port for _, port in init["ip_addresses"]] == [6421, 6422, 6423, 6424, 6427, 6521, 6522, 6523, 6524,
                                                          6525, 6526, 6527, 6528]
    assert init["dns_addresses"] == [
        ("dispersy1.tribler.org", 6421), ("dispersy1.st.tudelft.nl", 6421), ("dispersy2.tribler.org", 6422),
        ("dispersy2.st.tudelft.nl", 6422), ("dispersy3.tribler.org", 6423), ("dispersy3.st.tudelft.nl", 6423),
        ("dispersy4.tribler.org", 6424)]
    assert default_bootstrap_defs == [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper, init)]


def test_default_configuration_is_a_fresh_copy() -> None:
    first = get_default_configuration()
    first["overlays"][0]["bootstrappers"][0]["init"]["ip_addresses"].clear()
    first["keys"].clear()
    second = get_default_configuration()
    assert len(second["overlays"][0]["bootstrappers"][0]["init"]["ip_addresses"]) == 13
    assert len(second["keys"]) == 1


def test_enum_values() -> None:
    assert Strategy.values() == ["RandomWalk", "RandomChurn", "PeriodicSimilarity", "EdgeWalk", "PingChurn"]
    assert Bootstrapper.values() == ["DispersyBootstrapper", "UDPBroadcastBootstrapper"]


# -- ConfigBuilder -----------------------------------------------------------------------------------------

def test_builder_without_changes_is_the_default() -> None:
    assert ConfigBuilder().finalize() == get_default_configuration()


def test_builder_produces_the_expected_dictionary() -> None:
    config = (ConfigBuilder().clear_keys().clear_overlays()
              .set_address("127.0.0.1").set_port(9000)
              .add_interface("UDPIPv6", "::1", 9001)
              .set_log_level("DEBUG").set_working_directory("/tmp/node").set_walker_interval(0.25)
              .add_key("my peer", "medium", "ec1.pem")
              .add_overlay("MyCommunity", "my peer",
                           [WalkerDefinition(Strategy.RandomWalk, 10, {"timeout": 3.0}),
                            WalkerDefinition("MyStrategy", -1, {})],
                           LOCAL_TRACKER, {"max_peers": 5}, [("started",), ("greet", "hi", 2)])
              .finalize())
    assert config == {
        "interfaces": [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 9000},
                       {"interface": "UDPIPv6", "ip": "::1", "port": 9001}],
        "keys": [{"alias": "my peer", "generation": "medium", "file": "ec1.pem"}],
        "logger": {"level": "DEBUG"},
        "working_directory": "/tmp/node",
        "walker_interval": 0.25,
        "overlays": [{
            "class": "MyCommunity",
            "key": "my peer",
            "walkers": [{"strategy": "RandomWalk", "peers": 10, "init": {"timeout": 3.0}},
                        {"strategy": "MyStrategy", "peers": -1, "init": {}}],
            "bootstrappers": [{"class": "DispersyBootstrapper",
                               "init": {"ip_addresses": [("127.0.0.1", 6421)], "dns_addresses": []}}],
            "initialize": {"max_peers": 5},
            "on_start": [("started",), ("greet", "hi", 2)],
        }],
    }


def test_builder_replaces_keys_and_overlays_with_the_same_name() -> None:
    builder = ConfigBuilder().clear_keys().clear_overlays()
    builder.add_key("me", "curve25519", "a.pem").add_key("me", "low", "b.pem")
    builder.add_overlay("A", "me", [], [], {}, []).add_overlay("A", "me", [], [], {"x": 1}, [])
    config = builder.finalize()
    assert config["keys"] == [{"alias": "me", "generation": "low", "file": "b.pem"}]
    assert [overlay["initialize"] for overlay in config["overlays"]] == [{"x": 1}]

    builder.add_overlay("A", "me", [], [], {"x": 2}, [], allow_duplicate=True)
    assert [overlay["initialize"] for overlay in builder.finalize()["overlays"]] == [{"x": 1}, {"x": 2}]


def test_builder_keys_from_material() -> None:
    key = default_eccrypto.generate_key("curve25519")
    material = base64.b64encode(key.key_to_bin()).decode()
    config = (ConfigBuilder().clear_keys().clear_overlays()
              .add_key_from_bin("a", material, "a.pem").add_ephemeral_key("b").finalize())
    first, second = config["keys"]
    assert first == {"alias": "a", "bin": material, "file": "a.pem"}
    assert second["alias"] == "b" and second["file"] == ""
    restored = default_eccrypto.key_from_private_bin(base64.b64decode(second["bin"]))
    assert restored.pub().key_to_bin() != key.pub().key_to_bin()
    assert restored.key_to_bin()[:10] == b"LibNaCLSK:"


def test_builder_on_clean_start_needs_everything() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ConfigBuilder(clean=True).finalize()
    assert caught.value.path == "keys"


def test_finalize_returns_an_independent_copy() -> None:
    builder = ConfigBuilder()
    config = builder.finalize()
    config["walker_interval"] = 99
    assert builder.finalize()["walker_interval"] == 0.5


def test_builder_rejects_bad_arguments_at_once() -> None:
    with pytest.raises(ConfigurationError, match="generation"):
        ConfigBuilder().add_key("x", "ultra", "x.pem")
    with pytest.raises(ConfigurationError, match="logger.level"):
        ConfigBuilder().set_log_level("LOUD")
    with pytest.raises(ConfigurationError, match="UDPIPv5"):
        ConfigBuilder().set_port(1, interface="UDPIPv5")


# -- Validation ---------------------------------------------------------------------------------------------

def _local_config() -> dict[str, Any]:
    return (ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1")
            .add_key("me", "curve25519", "me.pem")
            .add_overlay("MyCommunity", "me", [WalkerDefinition(Strategy.RandomWalk, 10, {"timeout": 3.0})],
                         LOCAL_TRACKER, {}, [("started",)])
            .finalize())


def _set(path: list[Any], value: Any) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        target = config
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


def _delete(path: list[Any]) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        target = config
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
    return change


BAD_CONFIGURATIONS = [
    ("unknown top-level", _set(["wlaker_interval"], 1.0), "wlaker_interval"),
    ("missing overlays", _delete(["overlays"]), "overlays"),
    ("overlays not a list", _set(["overlays"], {"class": "x"}), "overlays"),
    ("missing interfaces", _delete(["interfaces"]), "interfaces"),
    ("unknown interface", _set(["interfaces", 0, "interface"], "UDPIPv5"), "interfaces[0].interface"),
    ("v6 literal on v4", _set(["interfaces", 0, "ip"], "::1"), "interfaces[0].ip"),
    ("host name as ip", _set(["interfaces", 0, "ip"], "localhost"), "interfaces[0].ip"),
    ("port too big", _set(["interfaces", 0, "port"], 70000), "interfaces[0].port"),
    ("port as text", _set(["interfaces", 0, "port"], "8090"), "interfaces[0].port"),
    ("port as bool", _set(["interfaces", 0, "port"], True), "interfaces[0].port"),
    ("unknown interface field", _set(["interfaces", 0, "mtu"], 1500), "interfaces[0].mtu"),
    ("duplicate interface", lambda c: c["interfaces"].append(dict(c["interfaces"][0])), "interfaces[1].interface"),
    ("legacy address not ip", _set(["address"], "my-host"), "address"),
    ("keys not a list", _set(["keys"], "me"), "keys"),
    ("key without alias", _delete(["keys", 0, "alias"]), "keys[0].alias"),
    ("empty alias", _set(["keys", 0, "alias"], ""), "keys[0].alias"),
    ("duplicate alias", lambda c: c["keys"].append({"alias": "me", "generation": "low"}), "keys[1].alias"),
    ("bad generation", _set(["keys", 0, "generation"], "ultra"), "keys[0].generation"),
    ("key without source", lambda c: c["keys"].__setitem__(0, {"alias": "me", "file": ""}), "keys[0]"),
    ("bin not base64", lambda c: c["keys"].__setitem__(0, {"alias": "me", "bin": "%%%"}), "keys[0].bin"),
    ("bin not a key", lambda c: c["keys"].__setitem__(0, {"alias": "me", "bin": "aGVsbG8="}), "keys[0].bin"),
    ("unknown key field", _set(["keys", 0, "password"], "x"), "keys[0].password"),
    ("file not text", _set(["keys", 0, "file"], 42), "keys[0].file"),
    ("logger not a dict", _set(["logger"], "INFO"), "logger"),
    ("bad log level", _set(["logger", "level"], "LOUD"), "logger.level"),
    ("unknown logger field", _set(["logger", "colour"], True), "logger.colour"),
    ("empty working directory", _set(["working_directory"], ""), "working_directory"),
    ("zero walker interval", _set(["walker_interval"], 0), "walker_interval"),
    ("negative walker interval", _set(["walker_interval"], -1.0), "walker_interval"),
    ("infinite walker interval", _set(["walker_interval"], float("inf")), "walker_interval"),
    ("text walker interval", _set(["walker_interval"], "0.5"), "walker_interval"),
    ("walker interval longer than a day", _set(["walker_interval"], 86401), "walker_interval"),
    ("walker interval of 4000 digits", _set(["walker_interval"], 10 ** 4000), "walker_interval"),
    ("NaN walker interval", _set(["walker_interval"], float("nan")), "walker_interval"),
    ("overlay not a dict", _set(["overlays", 0], "MyCommunity"), "overlays[0]"),
    ("overlay without class", _delete(["overlays", 0, "class"]), "overlays[0].class"),
    ("empty class", _set(["overlays", 0, "class"], ""), "overlays[0].class"),
    ("unknown key alias", _set(["overlays", 0, "key"], "you"), "overlays[0].key"),
    ("unknown overlay field", _set(["overlays", 0, "settings"], {}), "overlays[0].settings"),
    ("missing on_start", _delete(["overlays", 0, "on_start"]), "overlays[0].on_start"),
    ("walker without strategy", _delete(["overlays", 0, "walkers", 0, "strategy"]), "overlays[0].walkers[0].strategy"),
    ("walker name not text", _set(["overlays", 0, "walkers", 0, "strategy"], 7), "overlays[0].walkers[0].strategy"),
    ("walker peers too small", _set(["overlays", 0, "walkers", 0, "peers"], -2), "overlays[0].walkers[0].peers"),
    ("walker peers text", _set(["overlays", 0, "walkers", 0, "peers"], "many"), "overlays[0].walkers[0].peers"),
    ("walker init not dict", _set(["overlays", 0, "walkers", 0, "init"], [3.0]), "overlays[0].walkers[0].init"),
    ("walker init bad name", _set(["overlays", 0, "walkers", 0, "init"], {"time out": 3}), "overlays[0].walkers[0].init"),
    ("unknown bootstrapper", _set(["overlays", 0, "bootstrappers", 0, "class"], "Carrier"),
     "overlays[0].bootstrappers[0].class"),
    ("bootstrapper without init", _delete(["overlays", 0, "bootstrappers", 0, "init"]),
     "overlays[0].bootstrappers[0].init"),
    ("initialize not dict", _set(["overlays", 0, "initialize"], [1]), "overlays[0].initialize"),
    ("on_start not a list", _set(["overlays", 0, "on_start"], "started"), "overlays[0].on_start"),
    ("on_start empty call", _set(["overlays", 0, "on_start"], [[]]), "overlays[0].on_start[0]"),
    ("on_start bad method", _set(["overlays", 0, "on_start"], [[3, 4]]), "overlays[0].on_start[0]"),
]


@pytest.mark.parametrize(("change", "path"), [(change, path) for _, change, path in BAD_CONFIGURATIONS],
                         ids=[name for name, _, _ in BAD_CONFIGURATIONS])
def test_bad_configuration_names_the_setting(change: Callable[[dict], None], path: str) -> None:
    config = _local_config()
    change(config)
    with pytest.raises(ConfigurationError) as caught:
        validate_configuration(config)
    assert caught.value.path == path
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_finalize_validates() -> None:
    builder = ConfigBuilder().clear_keys().add_key("me", "curve25519", "me.pem")
    with pytest.raises(ConfigurationError) as caught:
        builder.finalize()  # the default overlays use the (now missing) "anonymous id" key
    assert caught.value.path == "overlays[0].key"
    assert "'anonymous id'" in str(caught.value)


def test_good_variants_are_accepted() -> None:
    config = _local_config()
    validate_configuration(config)

    json_style = copy.deepcopy(config)  # as read from a JSON file: lists instead of tuples
    json_style["overlays"][0]["on_start"] = [["started"]]
    json_style["overlays"][0]["bootstrappers"][0]["init"]["ip_addresses"] = [["127.0.0.1", 6421]]
    validate_configuration(json_style)

    legacy = copy.deepcopy(config)
    del legacy["interfaces"]
    legacy["address"], legacy["port"] = "127.0.0.1", 8090
    validate_configuration(legacy)

    numeric_level = copy.deepcopy(config)
    numeric_level["logger"] = {"level": 10, "format": "%(message)s"}
    validate_configuration(numeric_level)

    file_only = copy.deepcopy(config)
    file_only["keys"] = [{"alias": "me", "file": "existing.pem"}]
    validate_configuration(file_only)

    no_overlays = copy.deepcopy(config)
    no_overlays["overlays"] = []
    validate_configuration(no_overlays)


def test_configuration_must_be_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="must be a mapping"):
        validate_configuration(["not", "a", "dict"])


# -- checks against the classes a configuration names (ipv8.config_validation) -----------------------------

from typing import Literal, Optional  # noqa: E402

from ipv8.community import Community, CommunitySettings  # noqa: E402
from ipv8.config_validation import check_configuration, check_keywords, check_settings  # noqa: E402


class TunedSettings(CommunitySettings):
    """Settings with the kinds of annotations configurations meet."""

    label: str = "none"
    ratio: float = 0.5
    retry_interval: float = 2.0
    mode: Literal["fast", "slow"] = "fast"
    peers_of_interest: list[tuple[str, int]] = []  # noqa: RUF012
    weights: dict[str, float] = {}  # noqa: RUF012
    limit: Optional[int] = None  # noqa: UP007 - the old spelling must work too
    opaque: "NotImportedAnywhere" = None  # noqa: F821 - cannot be resolved: accepted as it is
    untyped_default = 3


class TunedCommunity(Community):
    community_id = b"T" * 20
    settings_class = TunedSettings


class PickyStrategy:
    def __init__(self, overlay: Any, depth: int, delay: float = 0.0, *, names: tuple[str, ...] = ()) -> None:  # noqa: ANN401
        self.overlay = overlay


class RelaxedStrategy:
    def __init__(self, overlay: Any, **options: Any) -> None:  # noqa: ANN401
        self.options = options


@pytest.mark.parametrize("initialize", [
    {}, {"label": "x", "ratio": 1, "retry_interval": 0.1, "mode": "slow", "limit": None},
    {"peers_of_interest": [["127.0.0.1", 1], ("10.0.0.1", 2)], "weights": {"a": 1, "b": 0.5}, "limit": 5},
    {"opaque": object(), "untyped_default": "anything", "max_peers": -1, "anonymize": True},
])
def test_good_settings_pass(initialize: dict[str, Any]) -> None:
    check_settings(TunedSettings, initialize, "overlays[0].initialize")


@pytest.mark.parametrize(("initialize", "path", "problem"), [
    ({"lable": "x"}, "overlays[0].initialize", "TunedSettings has no setting 'lable' (known settings: anonymize, "),
    ({"my_peer": None}, "overlays[0].initialize.my_peer", "is set by the service"),
    ({"label": 3}, "overlays[0].initialize.label", "must be a string, got 3"),
    ({"ratio": True}, "overlays[0].initialize.ratio", "must be a number, got True"),
    ({"ratio": float("nan")}, "overlays[0].initialize.ratio", "must be a finite number"),
    ({"retry_interval": -1}, "overlays[0].initialize.retry_interval", "must be a positive number, got -1"),
    ({"mode": "medium"}, "overlays[0].initialize.mode", "must be one of ['fast', 'slow'], got 'medium'"),
    ({"peers_of_interest": [["127.0.0.1", "1"]]}, "overlays[0].initialize.peers_of_interest[0][1]",
     "must be an integer, got '1'"),
    ({"peers_of_interest": [["127.0.0.1"]]}, "overlays[0].initialize.peers_of_interest[0]", "must be a list of 2"),
    ({"weights": {"a": "heavy"}}, "overlays[0].initialize.weights['a']", "must be a number, got 'heavy'"),
    ({"limit": 1.5}, "overlays[0].initialize.limit", "must be an integer or null, got 1.5"),
    ({"max_peers": 1.0}, "overlays[0].initialize.max_peers", "must be an integer, got 1.0"),
    ({"retry_interval": 10 ** 4000}, "overlays[0].initialize.retry_interval", "must be at most 3.1536e+07, got a "
                                                                               "number of about 4000 digits"),
])
def test_bad_settings_name_the_setting(initialize: dict[str, Any], path: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        check_settings(TunedSettings, initialize, "overlays[0].initialize")
    assert caught.value.path == path
    assert caught.value.problem.startswith(problem)
    assert "\n" not in str(caught.value)


def test_strategy_arguments_follow_the_signature() -> None:
    check_keywords(PickyStrategy, {"depth": 2, "delay": 0, "names": ["a", "b"]}, "w.init", skip_leading=1)
    check_keywords(RelaxedStrategy, {"whatever": object()}, "w.init", skip_leading=1)
    for init, path, problem in [
        ({}, "w.init", "PickyStrategy needs 'depth'"),
        ({"depth": 2, "overlay": 1}, "w.init", "PickyStrategy takes no argument 'overlay'"),
        ({"depth": "2"}, "w.init.depth", "must be an integer, got '2'"),
        ({"depth": 2, "delay": -0.5}, "w.init.delay", "must be at least 0, got -0.5"),
        ({"depth": 2, "names": ["a", 1]}, "w.init.names[1]", "must be a string, got 1"),
    ]:
        with pytest.raises(ConfigurationError) as caught:
            check_keywords(PickyStrategy, init, "w.init", skip_leading=1)
        assert (caught.value.path, caught.value.problem[:len(problem)]) == (path, problem)


def test_the_default_configuration_passes_the_class_checks() -> None:
    check_configuration(get_default_configuration())


def test_check_configuration_uses_extra_communities_and_their_strategies() -> None:
    config = (ConfigBuilder().clear_keys().clear_overlays().add_ephemeral_key("me")
              .add_overlay("TunedCommunity", "me", [WalkerDefinition(Strategy.RandomWalk, 5, {"timeout": 1.0})],
                           [], {"label": "ok", "ratio": 0.25}, []).finalize())
    check_configuration(config, {"TunedCommunity": TunedCommunity})
    config["overlays"][0]["initialize"]["ratio"] = "half"
    with pytest.raises(ConfigurationError, match=r"overlays\[0\]\.initialize\.ratio: must be a number, got 'half'"):
        check_configuration(config, {"TunedCommunity": TunedCommunity})
    # Unknown overlay classes are left for the service, which names them in its own error.
    check_configuration(config, {})


def test_settable_properties_are_settings() -> None:
    """TunnelSettings' peer flags are a property (as in pyipv8): a configuration may set them, checked by type."""
    from ipv8.messaging.anonymization.community import TunnelSettings
    from ipv8.messaging.anonymization.tunnel import PEER_FLAG_EXIT_IPV8, PEER_FLAG_RELAY

    check_settings(TunnelSettings, {"peer_flags": [PEER_FLAG_RELAY, PEER_FLAG_EXIT_IPV8], "max_relay_early": 4,
                                    "become_exitnode": True}, "overlays[0].initialize")
    with pytest.raises(ConfigurationError, match=r"peer_flags: must be a list"):
        check_settings(TunnelSettings, {"peer_flags": "relay"}, "overlays[0].initialize")
    with pytest.raises(ConfigurationError, match=r"peer_flags\[1\]: must be an integer"):
        check_settings(TunnelSettings, {"peer_flags": [1, "exit"]}, "overlays[0].initialize")
