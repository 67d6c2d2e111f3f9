"""IPv8 configuration: the dictionary format, its validation and :class:`ConfigBuilder`.

An IPv8 configuration is a plain dictionary (so it can come from JSON) with these settings:

``interfaces``
    sockets to open: ``[{"interface": "UDPIPv4" | "UDPIPv6", "ip": <literal>, "port": <int>}]``.
``keys``
    identities by ``alias``; each loads from ``file``, or uses ``bin`` (base64 private key) or
    generates a key of level ``generation`` (and then saves it to ``file`` if one is named).
``logger``
    ``{"level": "INFO"}``; the keyword arguments of :func:`logging.basicConfig`.
``working_directory``
    the directory relative key file paths (and overlays with a ``working_directory`` setting) use.
``walker_interval``
    seconds in which every discovery strategy takes one step.
``overlays``
    the overlays to load: ``class`` (name), ``key`` (alias), ``walkers``, ``bootstrappers``,
    ``initialize`` (settings for the overlay) and ``on_start`` (methods to call once started).

:func:`validate_configuration` checks all of that and raises one :class:`ConfigurationError` naming the
offending setting, e.g. ``overlays[0].walkers[1].peers: must be an integer >= -1, got 'many'``.
"""
from __future__ import annotations

import base64
import binascii
import copy
import enum
import ipaddress
import logging
from typing import Any, Mapping, NamedTuple, Sequence

from .keyvault.crypto import default_eccrypto
from .keyvault.exceptions import KeyVaultError

__all__ = ["DISPERSY_BOOTSTRAPPER", "Bootstrapper", "BootstrapperDefinition", "ConfigBuilder", "ConfigurationError",
           "Strategy", "WalkerDefinition", "default_bootstrap_defs", "get_default_configuration", "log_level_number",
           "validate_configuration"]


class ConfigurationError(ValueError):
    """
    A configuration value is missing, of the wrong type or out of range.

    :ivar path: where the problem is, e.g. ``overlays[2].key`` (empty for the configuration as a whole).
    :ivar problem: what is wrong with it.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path else problem)


# -- Names known to IPv8 -------------------------------------------------------------------------------

class _ConfigurationName(enum.Enum):
    """An enum whose values are the names a configuration uses."""

    @classmethod
    def values(cls) -> list[str]:
        """The configuration names of all members, in definition order."""
        return [member.value for member in cls]


class Strategy(_ConfigurationName):
    """The discovery strategies the service knows by name (``WalkerDefinition.strategy``)."""

    #: Walk to random introduced addresses; works with any Community.
    RandomWalk = "RandomWalk"
    #: Ping a sample of peers and drop the silent ones (DiscoveryCommunity).
    RandomChurn = "RandomChurn"
    #: Ask peers which communities they share with us (DiscoveryCommunity).
    PeriodicSimilarity = "PeriodicSimilarity"
    #: Walk along edges grown from a few roots; works with any Community.
    EdgeWalk = "EdgeWalk"
    #: Ping every peer now and then (DHTDiscoveryCommunity).
    PingChurn = "PingChurn"


class Bootstrapper(_ConfigurationName):
    """The bootstrapper classes the service knows by name (``BootstrapperDefinition.bootstrapper``)."""

    #: Contact trackers given by IP address or DNS name.
    DispersyBootstrapper = "DispersyBootstrapper"
    #: Find peers on the local network by UDP broadcast.
    UDPBroadcastBootstrapper = "UDPBroadcastBootstrapper"


class WalkerDefinition(NamedTuple):
    """
    A discovery strategy for :meth:`ConfigBuilder.add_overlay`.

    :ivar strategy: which strategy (a :class:`Strategy`, or the name a Community offers through
        ``get_available_strategies()``).
    :ivar peers: the strategy only runs while the overlay has fewer peers than this; -1: always.
    :ivar init: keyword arguments for the strategy's constructor.
    """

    strategy: Strategy | str
    peers: int
    init: dict


class BootstrapperDefinition(NamedTuple):
    """
    A bootstrapper for :meth:`ConfigBuilder.add_overlay`.

    :ivar bootstrapper: which bootstrapper class.
    :ivar init: keyword arguments for its constructor.
    """

    bootstrapper: Bootstrapper | str
    init: dict


# -- The public IPv8 network ---------------------------------------------------------------------------
# The trackers of the public IPv8 network (facts sheet E). They are only ever contacted by a node that
# is started with the default configuration; tests and demos always replace them with local trackers.

_PUBLIC_TRACKER_HOSTS: list[tuple[str, tuple[int, ...]]] = [
    ("130.161.119.206", (6421, 6422)), ("131.180.27.155", (6423,)), ("131.180.27.156", (6424,)),
    ("131.180.27.161", (6427, 6521, 6522)), ("131.180.27.162", (6523, 6524)),
    ("130.161.119.215", (6525, 6526)), ("130.161.119.201", (6527, 6528)),
]
_PUBLIC_TRACKER_NAMES: list[tuple[str, int]] = [
    (f"dispersy{number}.{domain}", 6420 + number)
    for number in (1, 2, 3, 4) for domain in ("tribler.org", "st.tudelft.nl")
    if (number, domain) != (4, "st.tudelft.nl")
]

#: The bootstrapper entry (``{"class": ..., "init": ...}``) that points at the public IPv8 trackers.
DISPERSY_BOOTSTRAPPER: dict[str, Any] = {
    "class": Bootstrapper.DispersyBootstrapper.value,
    "init": {
        "ip_addresses": [(host, port) for host, ports in _PUBLIC_TRACKER_HOSTS for port in ports],
        "dns_addresses": list(_PUBLIC_TRACKER_NAMES),
        "bootstrap_timeout": 30.0,
    },
}

#: ConfigBuilder shorthand for "bootstrap from the public IPv8 trackers". Joining the public network is
#: what a real deployment wants; tests and demos must use a local tracker instead.
default_bootstrap_defs: list[BootstrapperDefinition] = [
    BootstrapperDefinition(Bootstrapper.DispersyBootstrapper, DISPERSY_BOOTSTRAPPER["init"]),
]


# -- The default configuration -------------------------------------------------------------------------

def _walker(strategy: Strategy, peers: int, **init: Any) -> dict[str, Any]:  # noqa: ANN401
    return {"strategy": strategy.value, "peers": peers, "init": init}


def _default_overlay(class_name: str, walkers: list[dict[str, Any]], initialize: dict[str, Any] | None = None,
                     on_start: list[tuple] | None = None) -> dict[str, Any]:
    return {"class": class_name, "key": "anonymous id", "walkers": walkers,
            "bootstrappers": [copy.deepcopy(DISPERSY_BOOTSTRAPPER)],
            "initialize": initialize or {}, "on_start": on_start or []}


def _build_default_configuration() -> dict[str, Any]:
    random_walk = _walker(Strategy.RandomWalk, 20, timeout=3.0)
    tunnel_settings = {"min_circuits": 1, "max_circuits": 1, "max_joined_circuits": 100,
                       "max_time": 600, "max_time_inactive": 20, "max_traffic": 250 * 1024 * 1024,
                       "dht_lookup_interval": 30}
    return {
        "interfaces": [{"interface": "UDPIPv4", "ip": "0.0.0.0", "port": 8090}],
        "keys": [{"alias": "anonymous id", "generation": "curve25519", "file": "ec_multichain.pem"}],
        "logger": {"level": "INFO"},
        "working_directory": ".",
        "walker_interval": 0.5,
        "overlays": [
            _default_overlay("DiscoveryCommunity", [
                dict(random_walk),
                _walker(Strategy.RandomChurn, -1, sample_size=8, ping_interval=10.0, inactive_time=27.5,
                        drop_time=57.5),
                _walker(Strategy.PeriodicSimilarity, -1),
            ]),
            _default_overlay("HiddenTunnelCommunity", [dict(random_walk)], tunnel_settings, [("build_tunnels", 1)]),
            _default_overlay("DHTDiscoveryCommunity", [dict(random_walk), _walker(Strategy.PingChurn, -1)]),
        ],
    }


_DEFAULT_CONFIGURATION = _build_default_configuration()


def get_default_configuration() -> dict[str, Any]:
    """
    A fresh copy of the default configuration: join the public IPv8 network on UDP port 8090.

    Change the copy as you like; nothing you do to it affects later calls. Note that the default
    overlays bootstrap from the public IPv8 trackers.
    """
    return copy.deepcopy(_DEFAULT_CONFIGURATION)


# -- Validation ----------------------------------------------------------------------------------------

INTERFACE_FAMILIES: dict[str, int] = {"UDPIPv4": 4, "UDPIPv6": 6}
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")

_TOP_LEVEL_REQUIRED = ("keys", "logger", "working_directory", "walker_interval", "overlays")
# "address"/"port" are the pre-2.0 way of choosing the IPv4 socket; the service converts them.
_TOP_LEVEL_OPTIONAL = ("interfaces", "address", "port")
_INTERFACE_FIELDS = ("interface", "ip", "port")
_KEY_FIELDS = ("alias", "file", "bin", "generation")
_LOGGER_FIELDS = ("level", "format", "datefmt", "style")
_OVERLAY_REQUIRED = ("class", "key", "walkers", "bootstrappers", "initialize", "on_start")
_WALKER_FIELDS = ("strategy", "peers", "init")
_BOOTSTRAPPER_FIELDS = ("class", "init")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(path: str, field: str | int) -> str:
    if isinstance(field, int):
        return f"{path}[{field}]"
    return f"{path}.{field}" if path else field


def _require_mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(path, f"must be a mapping (dict), got {_describe(value)}")
    return value


def _require_list(value: object, path: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigurationError(path, f"must be a list, got {_describe(value)}")
    return value


def _require_fields(block: Mapping[str, Any], path: str, required: Sequence[str], optional: Sequence[str] = ()) -> None:
    for name in block:
        if name not in required and name not in optional:
            known = ", ".join(repr(field) for field in (*required, *optional))
            raise ConfigurationError(_join(path, str(name)), f"unknown setting (known settings: {known})")
    for name in required:
        if name not in block:
            raise ConfigurationError(_join(path, name), "missing")


def _require_text(value: object, path: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise ConfigurationError(path, f"must be a non-empty string, got {_describe(value)}")
    return value


def _require_int(value: object, path: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in {low}-{high}"
        raise ConfigurationError(path, f"must be an integer {bounds}, got {_describe(value)}")
    return value


def _require_keyword_mapping(value: object, path: str) -> Mapping[str, Any]:
    mapping = _require_mapping(value, path)
    for name in mapping:
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigurationError(path, f"keyword argument names must be identifiers, got {_describe(name)}")
    return mapping


def _check_ip(value: object, path: str, family: int) -> None:
    try:
        version = ipaddress.ip_address(value).version  # type: ignore[arg-type]
    except (ValueError, TypeError):
        version = None
    if version != family:
        raise ConfigurationError(path, f"must be an IPv{family} address literal, got {_describe(value)}")


def _check_interfaces(config: Mapping[str, Any]) -> None:
    if "interfaces" not in config:
        if "address" not in config and "port" not in config:
            raise ConfigurationError("interfaces", "missing")
    else:
        seen: set[str] = set()
        for index, spec in enumerate(_require_list(config["interfaces"], "interfaces")):
            path = _join("interfaces", index)
            _require_fields(_require_mapping(spec, path), path, _INTERFACE_FIELDS)
            name = spec["interface"]
            if name not in INTERFACE_FAMILIES:
                raise ConfigurationError(_join(path, "interface"),
                                         f"must be one of {sorted(INTERFACE_FAMILIES)}, got {_describe(name)}")
            if name in seen:
                raise ConfigurationError(_join(path, "interface"), f"{name} is configured twice")
            seen.add(name)
            _check_ip(spec["ip"], _join(path, "ip"), INTERFACE_FAMILIES[name])
            _require_int(spec["port"], _join(path, "port"), 0, 65535)
    if "address" in config:
        _check_ip(config["address"], "address", 4)
    if "port" in config:
        _require_int(config["port"], "port", 0, 65535)


def _check_key(spec: object, path: str) -> str:
    _require_fields(_require_mapping(spec, path), path, ("alias",), _KEY_FIELDS)
    assert isinstance(spec, Mapping)
    alias = _require_text(spec["alias"], _join(path, "alias"))
    file_name = spec.get("file")
    if file_name is not None:
        _require_text(file_name, _join(path, "file"), allow_empty=True)
    if "generation" in spec and spec["generation"] not in default_eccrypto.security_levels:
        raise ConfigurationError(_join(path, "generation"),
                                 f"must be one of {default_eccrypto.security_levels}, got {_describe(spec['generation'])}")
    if "bin" in spec:
        _check_key_material(spec["bin"], _join(path, "bin"))
    if not file_name and "bin" not in spec and "generation" not in spec:
        raise ConfigurationError(path, "needs at least one of 'file', 'bin' or 'generation'")
    return alias


def _check_key_material(value: object, path: str) -> None:
    text = _require_text(value, path)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(path, f"is not valid base64 ({exc})") from None
    try:
        default_eccrypto.key_from_private_bin(raw)
    except KeyVaultError as exc:
        raise ConfigurationError(path, f"is not a private key ({exc})") from None


def _check_logger(value: object) -> None:
    block = _require_mapping(value, "logger")
    _require_fields(block, "logger", (), _LOGGER_FIELDS)
    level = block.get("level", "INFO")
    if isinstance(level, str):
        if level.upper() not in LOG_LEVELS:
            raise ConfigurationError("logger.level", f"must be one of {list(LOG_LEVELS)}, got {_describe(level)}")
    else:
        _require_int(level, "logger.level", 0, 50)
    for name in ("format", "datefmt", "style"):
        if name in block:
            _require_text(block[name], _join("logger", name))


#: The longest walk interval accepted (a day): longer ones are mistakes, and huge ones overflow timers.
MAX_WALKER_INTERVAL = 86400.0


def _check_walker_interval(value: object) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
            or not value <= MAX_WALKER_INTERVAL):  # also false for NaN
        raise ConfigurationError("walker_interval", f"must be a positive number of seconds (at most "
                                                    f"{MAX_WALKER_INTERVAL:g}), got {_describe(value)}")


def _check_walker(spec: object, path: str) -> None:
    _require_fields(_require_mapping(spec, path), path, _WALKER_FIELDS)
    assert isinstance(spec, Mapping)
    _require_text(spec["strategy"], _join(path, "strategy"))
    _require_int(spec["peers"], _join(path, "peers"), -1)
    _require_keyword_mapping(spec["init"], _join(path, "init"))


def _check_bootstrapper(spec: object, path: str) -> None:
    _require_fields(_require_mapping(spec, path), path, _BOOTSTRAPPER_FIELDS)
    assert isinstance(spec, Mapping)
    if spec["class"] not in Bootstrapper.values():
        raise ConfigurationError(_join(path, "class"),
                                 f"must be one of {Bootstrapper.values()}, got {_describe(spec['class'])}")
    _require_keyword_mapping(spec["init"], _join(path, "init"))


def _check_on_start(value: object, path: str) -> None:
    for index, call in enumerate(_require_list(value, path)):
        call_path = _join(path, index)
        entries = _require_list(call, call_path)
        if not entries:
            raise ConfigurationError(call_path, "must start with a method name, got an empty list")
        method = entries[0]
        if not isinstance(method, str) or not method.isidentifier():
            raise ConfigurationError(call_path, f"must start with a method name, got {_describe(method)}")


def _check_overlay(spec: object, path: str, aliases: set[str]) -> None:
    _require_fields(_require_mapping(spec, path), path, _OVERLAY_REQUIRED)
    assert isinstance(spec, Mapping)
    _require_text(spec["class"], _join(path, "class"))
    key_alias = spec["key"]
    if key_alias not in aliases:
        raise ConfigurationError(_join(path, "key"),
                                 f"no key with alias {_describe(key_alias)} (known aliases: {sorted(aliases)})")
    for index, walker in enumerate(_require_list(spec["walkers"], _join(path, "walkers"))):
        _check_walker(walker, _join(_join(path, "walkers"), index))
    for index, entry in enumerate(_require_list(spec["bootstrappers"], _join(path, "bootstrappers"))):
        _check_bootstrapper(entry, _join(_join(path, "bootstrappers"), index))
    _require_keyword_mapping(spec["initialize"], _join(path, "initialize"))
    _check_on_start(spec["on_start"], _join(path, "on_start"))


def validate_configuration(config: object) -> None:
    """
    Check that ``config`` is a complete, well-typed IPv8 configuration.

    Checked: required and unknown settings at every level, interface names, IP literals and ports, key
    aliases (present, unique, referenced by overlays), key material and generation levels, log levels,
    ``walker_interval`` > 0, walker ``peers`` >= -1, known bootstrapper classes, keyword argument names
    and ``on_start`` method names. Overlay and strategy class names are resolved later, by the service.

    :raises ConfigurationError: for the first problem found; its ``path`` names the setting.
    """
    root = _require_mapping(config, "")
    _require_fields(root, "", _TOP_LEVEL_REQUIRED, _TOP_LEVEL_OPTIONAL)
    _check_interfaces(root)
    aliases: set[str] = set()
    for index, spec in enumerate(_require_list(root["keys"], "keys")):
        alias = _check_key(spec, _join("keys", index))
        if alias in aliases:
            raise ConfigurationError(_join(_join("keys", index), "alias"), f"duplicate alias {alias!r}")
        aliases.add(alias)
    _check_logger(root["logger"])
    _require_text(root["working_directory"], "working_directory")
    _check_walker_interval(root["walker_interval"])
    for index, overlay in enumerate(_require_list(root["overlays"], "overlays")):
        _check_overlay(overlay, _join("overlays", index), aliases)


# -- ConfigBuilder -------------------------------------------------------------------------------------

class ConfigBuilder:
    """
    Build an IPv8 configuration step by step; every method returns the builder so calls chain::

        config = (ConfigBuilder().clear_keys().clear_overlays()
                  .add_key("my peer", "curve25519", "my_peer.pem")
                  .add_overlay("MyCommunity", "my peer", [WalkerDefinition(Strategy.RandomWalk, 10, {})],
                               [], {}, [("started",)])
                  .finalize())

    :param clean: start from an empty dictionary instead of the default configuration.
    """

    def __init__(self, clean: bool = False) -> None:
        self.config: dict[str, Any] = {} if clean else get_default_configuration()

    def add_key(self, alias: str, generation: str, file_path: str) -> ConfigBuilder:
        """
        Use the key in ``file_path`` under ``alias``; if the file does not exist yet, a key of security
        level ``generation`` is generated and saved there. An earlier key with the same alias is replaced.

        :raises ConfigurationError: if ``generation`` is not a security level of ``default_eccrypto``.
        """
        if generation not in default_eccrypto.security_levels:
            raise ConfigurationError("generation", f"must be one of {default_eccrypto.security_levels}, "
                                                   f"got {generation!r}")
        return self._replace_key({"alias": alias, "generation": generation, "file": file_path})

    def add_key_from_bin(self, alias: str, key_bin_b64: str, file_path: str | None = None) -> ConfigBuilder:
        """
        Use the private key ``key_bin_b64`` (base64 of ``key.key_to_bin()``) under ``alias``.

        When ``file_path`` is given and exists, the key in that file wins; otherwise the key is saved there.
        """
        return self._replace_key({"alias": alias, "bin": key_bin_b64, "file": file_path or ""})

    def add_ephemeral_key(self, alias: str) -> ConfigBuilder:
        """Use a freshly generated curve25519 key under ``alias`` that is never written to disk."""
        fresh = default_eccrypto.generate_key("curve25519").key_to_bin()
        return self.add_key_from_bin(alias, base64.b64encode(fresh).decode("ascii"))

    def _replace_key(self, entry: dict[str, Any]) -> ConfigBuilder:
        keys = [key for key in self.config.get("keys", []) if key.get("alias") != entry["alias"]]
        keys.append(entry)
        self.config["keys"] = keys
        return self

    def clear_keys(self) -> ConfigBuilder:
        """Forget all keys (the default configuration has one, ``"anonymous id"``)."""
        self.config["keys"] = []
        return self

    def add_overlay(self,  # noqa: PLR0913 - mirrors the configuration entry one to one
                    overlay_class: str,
                    key_alias: str,
                    walkers: Sequence[WalkerDefinition],
                    bootstrappers: Sequence[BootstrapperDefinition],
                    initialize: dict[str, Any],
                    on_start: Sequence[tuple],
                    allow_duplicate: bool = False) -> ConfigBuilder:
        """
        Load the overlay class named ``overlay_class`` with the key ``key_alias``.

        :param overlay_class: a standard community name (e.g. ``"DiscoveryCommunity"``) or a name given to
            the service in ``extra_communities``.
        :param walkers: the discovery strategies to run for it.
        :param bootstrappers: where it finds its first peers; :data:`default_bootstrap_defs` is the public
            network.
        :param initialize: settings given to the overlay's settings object.
        :param on_start: ``(method_name, *args)`` tuples, called on the overlay once the service started.
        :param allow_duplicate: keep an earlier overlay of the same class (by default it is replaced).
        """
        overlays = self.config.get("overlays", [])
        if not allow_duplicate:
            overlays = [entry for entry in overlays if entry.get("class") != overlay_class]
        overlays.append({
            "class": overlay_class,
            "key": key_alias,
            "walkers": [{"strategy": _enum_value(walker.strategy), "peers": walker.peers, "init": walker.init}
                        for walker in walkers],
            "bootstrappers": [{"class": _enum_value(entry.bootstrapper), "init": entry.init}
                              for entry in bootstrappers],
            "initialize": initialize,
            "on_start": list(on_start),
        })
        self.config["overlays"] = overlays
        return self


    def clear_overlays(self) -> ConfigBuilder:
        """Forget all overlays (the default configuration has the three standard ones)."""
        self.config["overlays"] = []
        return self

    def add_interface(self, interface: str, ip: str, port: int) -> ConfigBuilder:
        """
        Open a socket of type ``interface`` (``"UDPIPv4"`` or ``"UDPIPv6"``) on ``ip`` and ``port``.

        A second call for the same interface type replaces the first. If ``port`` is taken, the endpoint
        tries the following ports.
        """
        spec = self._interface(interface)
        spec["ip"] = ip
        spec["port"] = port
        return self

    def set_address(self, address: str, interface: str = "UDPIPv4") -> ConfigBuilder:
        """
        Bind ``interface`` to ``address``: ``127.0.0.1`` or ``::1`` for this machine only, ``0.0.0.0``
        or ``::`` to be reachable from the Internet.
        """
        self._interface(interface)["ip"] = address
        return self

    def set_port(self, port: int, interface: str = "UDPIPv4") -> ConfigBuilder:
        """The port ``interface`` tries first (the following ports are tried if it is taken)."""
        self._interface(interface)["port"] = port
        return self

    def _interface(self, interface: str) -> dict[str, Any]:
        if interface not in INTERFACE_FAMILIES:
            raise ConfigurationError("interfaces", f"unknown interface {interface!r}; use one of "
                                                   f"{sorted(INTERFACE_FAMILIES)}")
        specs = self.config.setdefault("interfaces", [])
        for spec in specs:
            if spec.get("interface") == interface:
                return spec
        spec = {"interface": interface, "ip": "0.0.0.0" if interface == "UDPIPv4" else "::", "port": 8090}
        specs.append(spec)
        return spec

    def set_walker_interval(self, interval: float) -> ConfigBuilder:
        """
        Seconds in which each discovery strategy takes one step; the steps of all strategies are spread
        evenly over this time. Smaller values find peers faster at the cost of more traffic and CPU.
        """
        self.config["walker_interval"] = interval
        return self

    def set_working_directory(self, folder_path: str) -> ConfigBuilder:
        """The directory that relative key file names (and overlays' own files) are relative to."""
        self.config["working_directory"] = folder_path
        return self

    def set_log_level(self, log_level: str) -> ConfigBuilder:
        """
        The level of IPv8's log output: one of ``CRITICAL``, ``ERROR``, ``WARNING``, ``INFO``,
        ``DEBUG`` or ``NOTSET``.

        :raises ConfigurationError: for any other value.
        """
        if log_level not in LOG_LEVELS:
            raise ConfigurationError("logger.level", f"must be one of {list(LOG_LEVELS)}, got {log_level!r}")
        self.config["logger"] = {"level": log_level}
        return self

    def finalize(self) -> dict[str, Any]:
        """
        Validate and return (a copy of) the configuration built so far.

        :raises ConfigurationError: if the configuration is incomplete or invalid.
        """
        validate_configuration(self.config)
        return copy.deepcopy(self.config)


def _enum_value(value: enum.Enum | str) -> str:
    return value.value if isinstance(value, enum.Enum) else value


def log_level_number(level: str | int) -> int:
    """The :mod:`logging` number of a configured level (a name such as ``"INFO"`` or a number)."""
    return level if isinstance(level, int) else logging.getLevelName(level.upper())
