"""The IPv8 service object: turns a configuration into an endpoint, identities, overlays and walkers.

:class:`IPv8` is the programmatic entry point (``IPv8(config).start()`` returns a Deferred);
:class:`IPv8Service` wraps one in a :class:`twisted.application.service.Service` so it can live in a
``twistd`` application or any other service hierarchy. Nothing in this module runs or stops the reactor
unless explicitly asked to (``stop(stop_loop=True)``).

Overlays, strategies and bootstrappers are named in the configuration. The standard names are imported
on demand; a standard overlay this package does not provide (yet) is skipped with a warning that names
it, so the default configuration always loads. Names that are not standard must be supplied through
``extra_communities`` (overlays) or the overlay's ``get_available_strategies()`` (strategies).
"""
from __future__ import annotations

import base64
import importlib
import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, TypeVar

from twisted.application.service import Service
from twisted.internet.defer import Deferred, FirstError, gatherResults, succeed
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from .config_validation import check_configuration
from .configuration import ConfigurationError
from .keyvault.crypto import default_eccrypto
from .keyvault.exceptions import KeyVaultError
from .keyvault.keyfile import load_private_key, save_private_key
from .peer import Peer
from .messaging.interfaces.endpoint import IMultiInterfaceEndpoint
from .peerdiscovery.discovery import IDiscoveryStrategy
from .peerdiscovery.network import Network
from .util import get_reactor, maybe_deferred

if TYPE_CHECKING:
    from .keyvault.keys import PrivateKey
    from .messaging.interfaces.endpoint import Endpoint
    from .overlay import Overlay

__all__ = ["IPv8", "IPv8Service", "IPv8StartError", "StrategyScheduler", "STANDARD_BOOTSTRAPPERS",
           "STANDARD_COMMUNITIES", "STANDARD_STRATEGIES"]

logger = logging.getLogger(__name__)

OverlayT = TypeVar("OverlayT")

#: Overlay names every IPv8 configuration may use -> (module, class). Imported when first needed.
STANDARD_COMMUNITIES: dict[str, tuple[str, str]] = {
    "DiscoveryCommunity": ("ipv8.peerdiscovery.community", "DiscoveryCommunity"),
    "HiddenTunnelCommunity": ("ipv8.messaging.anonymization.hidden_services", "HiddenTunnelCommunity"),
    "TunnelCommunity": ("ipv8.messaging.anonymization.community", "TunnelCommunity"),
    "DHTDiscoveryCommunity": ("ipv8.dht.discovery", "DHTDiscoveryCommunity"),
    "AttestationCommunity": ("ipv8.attestation.wallet.community", "AttestationCommunity"),
    "IdentityCommunity": ("ipv8.attestation.identity.community", "IdentityCommunity"),
}

#: Strategy names usable with any overlay. Overlays add their own through ``get_available_strategies()``.
STANDARD_STRATEGIES: dict[str, tuple[str, str]] = {
    "RandomWalk": ("ipv8.peerdiscovery.discovery", "RandomWalk"),
    "EdgeWalk": ("ipv8.peerdiscovery.discovery", "EdgeWalk"),
}

#: Bootstrapper names -> (module, class).
STANDARD_BOOTSTRAPPERS: dict[str, tuple[str, str]] = {
    "DispersyBootstrapper": ("ipv8.bootstrapping.dispersy.bootstrapper", "DispersyBootstrapper"),
    "UDPBroadcastBootstrapper": ("ipv8.bootstrapping.udpbroadcast.bootstrapper", "UDPBroadcastBootstrapper"),
}


class IPv8StartError(RuntimeError):
    """The service could not start, e.g. because none of its interfaces could be bound."""


def import_standard(location: tuple[str, str]) -> type | None:
    """
    Import ``module.attribute`` named by ``location``; None if that module is not part of this installation.

    An import error *inside* an existing module is a bug and propagates.
    """
    module_name, attribute = location
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            return None
        raise
    return getattr(module, attribute, None)


def _pairs_as_tuples(init: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no tuples: turn lists of ``[host, port]`` lists (bootstrap addresses) into tuples."""
    converted: dict[str, Any] = {}
    for name, value in init.items():
        if isinstance(value, list) and value and all(isinstance(item, list) and len(item) == 2 for item in value):
            value = [tuple(item) for item in value]
        converted[name] = value
    return converted


def interface_specs(configuration: Mapping[str, Any]) -> list[dict[str, Any]]:
    """
    The ``interfaces`` of a configuration, with the legacy ``address``/``port`` settings folded in.

    The legacy settings describe the ``UDPIPv4`` socket; they override a ``UDPIPv4`` entry of ``interfaces``.
    """
    specs = [dict(spec) for spec in configuration.get("interfaces", [])]
    if "address" in configuration or "port" in configuration:
        logger.warning("The 'address' and 'port' settings are deprecated: use 'interfaces' instead")
        ipv4 = next((spec for spec in specs if spec["interface"] == "UDPIPv4"), None)
        if ipv4 is None:
            ipv4 = {"interface": "UDPIPv4", "ip": "0.0.0.0", "port": 8090}
            specs.append(ipv4)
        ipv4["ip"] = configuration.get("address", ipv4["ip"])
        ipv4["port"] = configuration.get("port", ipv4["port"])
    return specs


class KeyLoader:
    """
    Produces the identities named in a configuration's ``keys``.

    A key comes from its ``file`` if that exists, else from ``bin``, else it is generated at level
    ``generation``; a key that did not come from its file is then saved there (mode 0600). Relative file
    names are relative to ``working_directory``.
    """

    def __init__(self, working_directory: str) -> None:
        self.working_directory = working_directory

    def path_of(self, file_name: str) -> str:
        """Where a configured key file name lives on disk."""
        return os.path.join(self.working_directory, os.path.expanduser(file_name))

    def load(self, spec: Mapping[str, Any], path: str) -> PrivateKey:
        """
        The private key described by ``spec`` (the configuration entry at ``path``).

        :raises ConfigurationError: if the file is unusable and nothing else describes the key.
        """
        target = self.path_of(spec["file"]) if spec.get("file") else None
        if target is not None and os.path.exists(target):
            try:
                return load_private_key(target)
            except (KeyVaultError, OSError) as exc:
                raise ConfigurationError(f"{path}.file", str(exc)) from exc
        if "bin" in spec:
            try:
                key = default_eccrypto.key_from_private_bin(base64.b64decode(spec["bin"]))
            except KeyVaultError as exc:
                raise ConfigurationError(f"{path}.bin", str(exc)) from exc
        elif "generation" in spec:
            try:
                key = default_eccrypto.generate_key(spec["generation"])
            except KeyVaultError as exc:  # e.g. a legacy curve the installed cryptography lacks
                raise ConfigurationError(f"{path}.generation", str(exc)) from exc
        else:
            raise ConfigurationError(f"{path}.file", f"{target} does not exist and neither 'bin' nor 'generation' "
                                                     "says how to create it")
        if target is not None:
            try:
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                save_private_key(key, target)
            except OSError as exc:
                raise ConfigurationError(f"{path}.file", f"cannot save the key to {target}: {exc}") from exc
        return key


class StrategyScheduler:
    """
    Runs the discovery strategies of an :class:`IPv8` instance.

    Every strategy takes one step per walk interval, and the steps are spread evenly over the interval:
    a single :class:`LoopingCall` ticks ``len(strategies)`` times per interval and each tick steps the next
    strategy in turn. (py-ipv8 gives each strategy the same one step per interval.) A strategy is skipped
    while its overlay has reached the strategy's target peer count (-1: never skipped). An exception in a
    step is logged and does not stop the others.
    """

    def __init__(self, ipv8: IPv8, walk_interval: float, clock: Any) -> None:  # noqa: ANN401 - IReactorTime
        self._ipv8 = ipv8
        self.walk_interval = walk_interval
        self._loop = LoopingCall(self._tick)
        self._loop.clock = clock
        self._cursor = 0

    @property
    def running(self) -> bool:
        """Whether the strategies are being stepped."""
        return self._loop.running

    def _slot_length(self) -> float:
        return self.walk_interval / max(1, len(self._ipv8.strategies))

    def start(self) -> None:
        """Begin stepping; the first step happens right away (a new node should not idle a whole interval)."""
        if not self._loop.running:
            self._loop.start(self._slot_length(), now=True).addErrback(self._loop_died)

    def stop(self) -> None:
        """Stop stepping (a no-op when not running)."""
        if self._loop.running:
            self._loop.stop()

    def strategies_changed(self) -> None:
        """Re-divide the interval after strategies were added or removed (also noticed on the next tick)."""
        self._loop.interval = self._slot_length()

    def _loop_died(self, failure: Failure) -> None:
        logger.error("The strategy loop stopped unexpectedly: %s", failure.getTraceback())

    def _tick(self) -> None:
        entries = self._ipv8.strategies
        slot = self._slot_length()
        if self._loop.interval != slot:
            self._loop.interval = slot  # takes effect from the next tick on
        if not entries or not self._ipv8.endpoint.is_open():
            return
        index = self._cursor % len(entries)
        self._cursor = index + 1
        strategy, target_peers = entries[index]
        try:
            if target_peers == -1 or _peer_count(strategy) < target_peers:
                result = strategy.take_step()
                if isinstance(result, Deferred):
                    result.addErrback(self._step_failed, strategy)
        except Exception:
            logger.exception("%s failed to take a step", type(strategy).__name__)

    @staticmethod
    def _step_failed(failure: Failure, strategy: object) -> None:
        logger.error("%s failed to take a step: %s", type(strategy).__name__, failure.getTraceback())


def _peer_count(strategy: IDiscoveryStrategy) -> int:
    return strategy.get_peer_count()


class IPv8:
    """
    One IPv8 node: an endpoint, identities, and the overlays and strategies of a configuration.

    Construction loads keys and creates the overlays but opens nothing; :meth:`start` opens the
    endpoint, runs the ``on_start`` calls and starts the strategies; :meth:`stop` undoes all of it.

    :param configuration: an IPv8 configuration dictionary (see :mod:`ipv8.configuration`).
    :param endpoint_override: use this endpoint instead of building one from ``interfaces``.
    :param enable_statistics: wrap the endpoint in a
        :class:`~ipv8.messaging.interfaces.statistics_endpoint.StatisticsEndpoint`.
    :param extra_communities: overlay classes by the name the configuration uses for them. They win over a
        standard overlay of the same name.
    :param reactor: the reactor for the endpoint and the strategy loop (default: the global reactor); a
        :class:`twisted.internet.task.Clock` works for the strategy loop in tests.
    :raises ConfigurationError: for an invalid configuration, an unknown overlay or strategy name, a
        missing ``on_start`` method, or an unusable key file; the message names the setting.
    """

    def __init__(self, configuration: dict[str, Any], endpoint_override: Endpoint | None = None,
                 enable_statistics: bool = False, extra_communities: Mapping[str, type] | None = None,
                 reactor: Any = None) -> None:  # noqa: ANN401 - the reactor provides many interfaces
        check_configuration(configuration, extra_communities)
        self.configuration = configuration
        self._reactor = reactor
        self._apply_logger_settings(configuration["logger"])

        self.endpoint: Any = endpoint_override if endpoint_override is not None else self._build_endpoint()
        if enable_statistics:
            from .messaging.interfaces.statistics_endpoint import StatisticsEndpoint
            self.endpoint = StatisticsEndpoint(self.endpoint)
        if any(spec.get("initialize", {}).get("anonymize") for spec in configuration["overlays"]):
            # As pyipv8: an overlay that wants anonymity needs the endpoint that sends through circuits.
            from .messaging.anonymization.endpoint import TunnelEndpoint
            self.endpoint = TunnelEndpoint(self.endpoint)
        self.network = Network()

        self.working_directory: str = configuration["working_directory"]
        loader = KeyLoader(self.working_directory)
        self.keys: dict[str, Peer] = {spec["alias"]: Peer(loader.load(spec, f"keys[{index}]"))
                                      for index, spec in enumerate(configuration["keys"])}

        self.overlays: list[Overlay] = []
        self.strategies: list[tuple[Any, int]] = []
        self.on_start: list[tuple[Callable[..., Any], tuple]] = []
        self._extra_communities = dict(extra_communities or {})
        for index, spec in enumerate(configuration["overlays"]):
            self._load_overlay(spec, f"overlays[{index}]")

        self.scheduler = StrategyScheduler(self, configuration["walker_interval"], self._clock())
        self._running = False

    @property
    def walk_interval(self) -> float:
        """Seconds in which every strategy takes one step; may be changed while running."""
        return self.scheduler.walk_interval

    @walk_interval.setter
    def walk_interval(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"walk_interval must be a positive number of seconds, got {seconds!r}")
        self.scheduler.walk_interval = seconds
        self.scheduler.strategies_changed()

    # -- construction ------------------------------------------------------------------------------

    @staticmethod
    def _apply_logger_settings(settings: Mapping[str, Any]) -> None:
        # Unlike py-ipv8 (logging.basicConfig), leave the application's logging alone: forward the `ipv8`
        # loggers to twisted.logger at the configured level (see ipv8.logging_bridge). The format options
        # are for stdlib handlers, which the application configures; Twisted's observers format the lines.
        from .logging_bridge import bridge_ipv8_logging
        bridge_ipv8_logging(settings.get("level"))

    def _clock(self) -> Any:  # noqa: ANN401
        return self._reactor if self._reactor is not None else get_reactor()

    def _build_endpoint(self) -> Any:  # noqa: ANN401
        from .messaging.interfaces.dispatcher.endpoint import DispatcherEndpoint
        specs = interface_specs(self.configuration)
        per_interface = {spec.pop("interface"): spec for spec in specs}
        return DispatcherEndpoint(list(per_interface), reactor=self._reactor, **per_interface)

    def _community_class(self, name: str, path: str) -> type | None:
        if name in self._extra_communities:
            return self._extra_communities[name]
        if name in STANDARD_COMMUNITIES:
            found = import_standard(STANDARD_COMMUNITIES[name])
            if found is None:
                logger.warning("Skipping overlay %s (%s): this version of txipv8 does not provide it",
                               name, path)
            return found
        raise ConfigurationError(f"{path}.class", f"unknown overlay class {name!r}: pass it to IPv8 in "
                                                  "extra_communities={name: class}")

    def _load_overlay(self, spec: Mapping[str, Any], path: str) -> None:
        overlay_class = self._community_class(spec["class"], path)
        if overlay_class is None:
            return
        settings = overlay_class.settings_class(my_peer=self.keys[spec["key"]], endpoint=self.endpoint,
                                                network=self.network)
        if self._reactor is not None:
            # The overlays time their tasks, caches and expiry on the service's reactor (a Clock in tests).
            settings.clock = self._reactor
        if hasattr(settings, "working_directory") and "working_directory" not in spec["initialize"]:
            settings.working_directory = self.working_directory
        for name, value in spec["initialize"].items():
            setattr(settings, name, value)
        if "ipv8" not in spec["initialize"] and getattr(settings, "ipv8", False) is None:
            # Settings that declare `ipv8` (the hidden-services community, which loads a PEX overlay per swarm it
            # introduces) get this service. pyipv8 3.2.1's loader leaves it None, which silently disables PEX.
            settings.ipv8 = self
        overlay = overlay_class(settings)
        self.overlays.append(overlay)

        for index, walker in enumerate(spec["walkers"]):
            walker_path = f"{path}.walkers[{index}]"
            strategy_class = self._strategy_class(walker["strategy"], overlay, walker_path)
            if strategy_class is None:
                continue
            try:
                strategy = strategy_class(overlay, **walker["init"])
            except (TypeError, ValueError) as exc:
                raise ConfigurationError(f"{walker_path}.init", str(exc)) from exc
            self.strategies.append((strategy, walker["peers"]))

        for index, entry in enumerate(spec["bootstrappers"]):
            bootstrapper = self._make_bootstrapper(entry, f"{path}.bootstrappers[{index}]")
            if bootstrapper is not None:
                if not hasattr(overlay, "bootstrappers"):
                    raise ConfigurationError(f"{path}.bootstrappers", f"{type(overlay).__name__} is not a "
                                                                      "Community and cannot use bootstrappers")
                overlay.bootstrappers.append(bootstrapper)

        for index, call in enumerate(spec["on_start"]):
            method = getattr(overlay, call[0], None)
            if not callable(method):
                raise ConfigurationError(f"{path}.on_start[{index}]",
                                         f"{type(overlay).__name__} has no method {call[0]!r}")
            self.on_start.append((method, tuple(call[1:])))

    def _strategy_class(self, name: str, overlay: Any, path: str) -> type | None:  # noqa: ANN401
        if name in STANDARD_STRATEGIES:
            found = import_standard(STANDARD_STRATEGIES[name])
            if found is not None:
                return found
        offered = overlay.get_available_strategies().get(name)
        if offered is not None:
            return offered
        if name in STANDARD_STRATEGIES:
            logger.warning("Skipping strategy %s (%s): this version of txipv8 does not provide it", name, path)
            return None
        raise ConfigurationError(f"{path}.strategy", f"{type(overlay).__name__} offers no strategy {name!r} "
                                                     "(see its get_available_strategies())")

    def _make_bootstrapper(self, entry: Mapping[str, Any], path: str) -> Any:  # noqa: ANN401
        bootstrapper_class = import_standard(STANDARD_BOOTSTRAPPERS[entry["class"]])
        if bootstrapper_class is None:
            logger.warning("Skipping bootstrapper %s (%s): this version of txipv8 does not provide it",
                           entry["class"], path)
            return None
        try:
            return bootstrapper_class(**_pairs_as_tuples(entry["init"]))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{path}.init", str(exc)) from exc

    # -- overlays and strategies -------------------------------------------------------------------

    def add_strategy(self, overlay: Overlay, strategy: IDiscoveryStrategy, target_peers: int) -> None:
        """
        Step ``strategy`` every walk interval while ``overlay`` has fewer than ``target_peers`` peers
        (-1: always). The overlay is registered too if it was not loaded yet.

        :raises TypeError: ``strategy`` does not provide :class:`~ipv8.peerdiscovery.discovery.IDiscoveryStrategy`
            (subclass :class:`~ipv8.peerdiscovery.discovery.DiscoveryStrategy` to get it).
        """
        if not IDiscoveryStrategy.providedBy(strategy):
            raise TypeError(f"{type(strategy).__name__} is not a discovery strategy (it does not provide "
                            "IDiscoveryStrategy; subclass DiscoveryStrategy)")
        if overlay not in self.overlays:
            self.overlays.append(overlay)
        self.strategies.append((strategy, target_peers))
        self.scheduler.strategies_changed()

    def get_overlay(self, overlay_cls: type[OverlayT]) -> OverlayT | None:
        """The first loaded overlay that is an instance of ``overlay_cls``, or None."""
        return next(self.get_overlays(overlay_cls), None)

    def get_overlays(self, overlay_cls: type[OverlayT]) -> Iterator[OverlayT]:
        """All loaded overlays that are instances of ``overlay_cls``."""
        return (overlay for overlay in self.overlays if isinstance(overlay, overlay_cls))

    def unload_overlay(self, instance: Overlay) -> Deferred:
        """Forget ``instance`` and its strategies, then unload it; the Deferred fires when it is unloaded."""
        self.overlays = [overlay for overlay in self.overlays if overlay is not instance]
        self.strategies = [(strategy, target) for strategy, target in self.strategies
                           if strategy.overlay is not instance]
        self.scheduler.strategies_changed()
        return maybe_deferred(instance.unload)

    def produce_anonymized_endpoint(self) -> Deferred:
        """A new, open endpoint that can send through circuits (pyipv8's method).

        It is a :class:`~ipv8.messaging.anonymization.endpoint.TunnelEndpoint` around a UDP socket on a free
        port of the configured ``UDPIPv4`` address; give it a TunnelCommunity (``set_tunnel_community``) and
        create the communities that should be anonymous on it with ``anonymize=True``.

        :returns: a Deferred firing with the endpoint, or failing with :class:`IPv8StartError` if the socket
            could not be opened.
        """
        from .messaging.anonymization.endpoint import TunnelEndpoint
        from .messaging.interfaces.udp.endpoint import UDPEndpoint
        ipv4 = next((spec for spec in interface_specs(self.configuration) if spec["interface"] == "UDPIPv4"), None)
        base = UDPEndpoint(port=0, ip=ipv4["ip"] if ipv4 is not None else "0.0.0.0", reactor=self._reactor)

        def opened(success: object) -> TunnelEndpoint:
            if success is False:
                raise IPv8StartError("Could not open a UDP socket for an anonymized endpoint")
            return TunnelEndpoint(base)
        return maybe_deferred(base.open).addCallback(opened)

    # -- life cycle --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether :meth:`start` completed and :meth:`stop` has not been called since."""
        return self._running

    def start(self) -> Deferred:
        """
        Open the endpoint, run the ``on_start`` calls (waiting for any Deferreds they return) and start
        the strategies.

        :returns: a Deferred firing None; it fails with :class:`IPv8StartError` if no interface could be
            opened, or with the error of a failing ``on_start`` call.
        """
        if self._running:
            return succeed(None)
        opening = maybe_deferred(self.endpoint.open)
        opening.addCallback(self._endpoint_opened)
        opening.addCallback(lambda _: self._run_on_start())
        opening.addCallback(self._started)
        return opening

    def _endpoint_opened(self, opened: object) -> None:
        if opened is False:
            wanted = ", ".join(f"{spec['interface']} {spec['ip']}:{spec['port']}"
                               for spec in interface_specs(self.configuration))
            raise IPv8StartError(f"Could not open the endpoint ({wanted}, and the ports after them)")

    def _run_on_start(self) -> Deferred:
        calls = [maybe_deferred(method, *args) for method, args in self.on_start]
        return gatherResults(calls, consumeErrors=True).addErrback(_first_error)

    def _started(self, _: object) -> None:
        self._running = True
        self.scheduler.start()
        logger.info("IPv8 is running on %s with %s", self._describe_addresses(),
                    ", ".join(type(overlay).__name__ for overlay in self.overlays) or "no overlays")

    def _describe_addresses(self) -> str:
        """``127.0.0.1:8090`` (or one such entry per open interface), for log lines."""
        endpoints = (self.endpoint.interfaces if IMultiInterfaceEndpoint.providedBy(self.endpoint)
                     else {"": self.endpoint})
        described = []
        for endpoint in endpoints.values():
            try:
                host, port = endpoint.get_address()[:2]
            except Exception:  # noqa: BLE001 - closed or exotic endpoints: only the log line suffers
                continue
            described.append(f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}")
        return ", ".join(described) or "an unknown address"

    def stop(self, stop_loop: bool = False) -> Deferred:
        """
        Stop the strategies, unload every overlay and close the endpoint.

        :param stop_loop: also stop the reactor once everything is closed (for scripts that own it).
        :returns: a Deferred firing None when done; if an overlay failed to unload, it fails with that
            error after the endpoint was closed anyway.
        """
        self._running = False
        self.scheduler.stop()
        # Unloading an overlay may unload overlays it loaded itself (the hidden services' PEX overlays): skip those.
        unloading = [self.unload_overlay(overlay) for overlay in list(self.overlays) if overlay in self.overlays]
        done = gatherResults(unloading, consumeErrors=True).addCallbacks(lambda _: None, _first_error)
        done.addBoth(self._close_endpoint)
        if stop_loop:
            done.addBoth(self._stop_reactor)
        return done

    def _close_endpoint(self, outcome: object) -> Deferred:
        closing = maybe_deferred(self.endpoint.close)
        # Keep the unload outcome (None or a failure), unless closing itself failed.
        return closing.addCallback(lambda _: outcome)

    def _stop_reactor(self, outcome: object) -> object:
        from twisted.internet.error import ReactorNotRunning
        try:
            self._clock().stop()
        except ReactorNotRunning:
            pass
        return outcome


def _first_error(failure: Failure) -> Failure:
    """Unwrap the :class:`FirstError` of ``gatherResults`` so callers see the original exception."""
    if failure.check(FirstError):
        return failure.value.subFailure
    return failure


class IPv8Service(Service):
    """
    A Twisted service that starts and stops an :class:`IPv8` instance with its parent.

    ``startService`` and ``stopService`` return the Deferreds of :meth:`IPv8.start` and :meth:`IPv8.stop`.
    A failed start is logged (and stays available as :attr:`started`).

    :param ipv8: the node to run.
    :param name: the service name within its parent.
    """

    def __init__(self, ipv8: IPv8, name: str = "IPv8") -> None:
        self.ipv8 = ipv8
        self.name = name
        #: The Deferred of the last start, or None before the first.
        self.started: Deferred | None = None

    def startService(self) -> Deferred:  # noqa: N802 - Twisted's name
        """Start the IPv8 node; the Deferred fires once it runs."""
        Service.startService(self)
        self.started = self.ipv8.start()
        self.started.addErrback(self._start_failed)
        return self.started

    def _start_failed(self, failure: Failure) -> Failure:
        logger.error("IPv8 failed to start: %s", failure.getErrorMessage())
        return failure

    def stopService(self) -> Deferred:  # noqa: N802 - Twisted's name
        """Stop the IPv8 node (after its start finished, if it is still starting)."""
        Service.stopService(self)
        if self.started is None:
            return self.ipv8.stop()
        starting, self.started = self.started, None
        stopped: Deferred = Deferred()

        def stop_after_start(outcome: object) -> object:
            self.ipv8.stop().chainDeferred(stopped)
            # A failed start was logged by _start_failed; stopping afterwards handles it.
            return None if isinstance(outcome, Failure) else outcome

        starting.addBoth(stop_after_start)
        return stopped
