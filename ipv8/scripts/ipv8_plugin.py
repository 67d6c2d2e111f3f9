"""The ``twistd ipv8`` command: one IPv8 node, plus its REST API, as a Twisted application.

Run ``twistd -n ipv8 --help`` for the options. All checks of the command line and of the configuration
file happen while twistd parses the options, so a mistake ends twistd with its usage text and a single
error line (exit status 1) before anything starts. Mistakes that only show when the node is built (a
setting its overlay does not have, an unreadable key file, a key file other users can read) and failures
while it starts (an address it cannot bind, an ``on_start`` call that fails, a REST port in use) end
twistd too: one line ``twistd ipv8: error: ...`` on stderr, exit status 1, and every port closed (the
REST API only listens once the node runs). SIGINT and SIGTERM stop the reactor, which stops the
services in reverse order: the REST API first, then the node (strategies, overlays, endpoint).

The REST API requires an API key unless ``--no-api-key`` is given: ``--api-key`` sets it, otherwise a
random key is generated on the first start, printed once and stored (mode 0600) in the working
directory's ``rest_api_key`` file for the next starts.

Without ``--config`` and ``--bootstrap`` the node uses the default configuration and therefore joins the
public IPv8 network: it contacts the public trackers on the Internet.

The pieces are reusable for other node flavours (an exit node, say): subclass :class:`IPv8Options` and
override :meth:`IPv8Options.base_configuration`, and give an :class:`IPv8ServiceMaker` your options class.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, Callable

from twisted.application.service import IServiceMaker, MultiService, Service
from twisted.logger import Logger, LogLevel
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer

from ..service import IPv8, IPv8Service
from .secrets_files import InsecureFileError, check_private_file, load_or_create_api_key
from .startup import StartupAbort, one_line

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

__all__ = ["IPv8Options", "IPv8ServiceMaker", "RESTService", "StandaloneIPv8Service", "TwistedLogHandler",
           "install_log_bridge", "parse_bootstrap_address"]

_log = Logger(namespace="ipv8.twistd")

DEFAULT_REST_PORT = 8085
DEFAULT_REST_INTERFACE = "127.0.0.1"
#: How deeply the JSON of ``--config`` may nest (the deepest standard setting is 6 levels down).
MAX_CONFIG_DEPTH = 32


def _port_number(value: str) -> int:
    """usage.Options coercer for a port; the error message becomes the usage error."""
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port number (0-65535)")
    return port


def parse_bootstrap_address(text: str) -> tuple[str, int]:
    """
    Parse ``HOST:PORT`` (``[IPv6]:PORT`` for IPv6 literals) as given to ``--bootstrap``.

    :raises usage.UsageError: with a message naming the bad value.
    """
    host, separator, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not separator or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise usage.UsageError(f"--bootstrap {text!r}: expected HOST:PORT, e.g. 127.0.0.1:6421")
    return host, int(port_text)


def _nesting_depth(value: object) -> int:
    """How many containers deep ``value`` goes (iteratively: the point is to survive hostile input)."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_CONFIG_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class IPv8Options(usage.Options):
    """Command line of ``twistd ipv8``; after parsing, ``self.configuration`` holds the final configuration."""

    synopsis = "[options]"
    longdesc = ("Run an IPv8 node. Without --config and --bootstrap it uses the default configuration, which "
                "contacts the PUBLIC IPv8 trackers on the Internet; pass --bootstrap to use your own tracker.")

    optFlags = [
        ["no-rest-api", "a", "Do not start the REST API."],
        ["statistics", "s", "Count messages per community (shown by the REST API)."],
        ["no-api-key", None, "Serve the REST API WITHOUT an API key (anyone who can connect may use it)."],
        ["allow-insecure-key", None, "Start even if a key file can be read or written by other users."],
    ]
    optParameters = [
        ["config", "c", None, "JSON file with an IPv8 configuration; settings it leaves out keep their defaults."],
        ["ip", None, None, "Bind the UDPIPv4 interface to this address (e.g. 127.0.0.1)."],
        ["port", "p", None, "UDP port of the UDPIPv4 interface (the next ports are tried if it is taken).",
         _port_number],
        ["key-file", "k", None, "File of the node's (first) key; created with mode 0600 if missing."],
        ["working-dir", "w", None, "Working directory: relative key files and overlay data live here."],
        ["rest-port", None, DEFAULT_REST_PORT, "TCP port of the REST API.", _port_number],
        ["rest-interface", None, DEFAULT_REST_INTERFACE, "Address the REST API listens on."],
        ["api-key", None, None, "The REST API key (X-Api-Key header or apikey query parameter); without it, a "
                                "key is generated and stored in the working directory's rest_api_key file."],
        ["cert-file", None, None, "PEM file with a certificate and its private key: serve the REST API over HTTPS."],
        ["log-level", None, None, "Log level: CRITICAL, ERROR, WARNING, INFO or DEBUG."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["bootstrap"] = []
        self["cors-origin"] = []
        self["allowed-host"] = []
        self.configuration: dict[str, Any] = {}
        self.ssl_context: Any = None

    def opt_bootstrap(self, value: str) -> None:
        """Use the tracker HOST:PORT instead of the public ones (repeatable)."""
        self["bootstrap"].append(parse_bootstrap_address(value))

    opt_b = opt_bootstrap

    def opt_cors_origin(self, value: str) -> None:
        """Let web pages of this origin (e.g. https://app.example) call the REST API (repeatable)."""
        self["cors-origin"].append(value)

    def opt_allowed_host(self, value: str) -> None:
        """Accept this Host header (NAME or NAME:PORT) at the REST API besides localhost (repeatable)."""
        self["allowed-host"].append(value)

    # -- configuration --------------------------------------------------------------------------------

    def base_configuration(self) -> dict[str, Any]:
        """The configuration the command line and ``--config`` modify; override for other node flavours."""
        from ..configuration import get_default_configuration
        return get_default_configuration()

    def _read_config_file(self, path: str) -> dict[str, Any]:
        try:
            with open(path, encoding="utf-8") as handle:
                content = json.load(handle)
        except OSError as exc:
            raise usage.UsageError(f"--config {path}: cannot read it ({exc.strerror or exc})") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, and numbers of thousands of digits
            raise usage.UsageError(f"--config {path}: not valid JSON ({one_line(exc)})") from None
        except RecursionError:
            raise usage.UsageError(f"--config {path}: nested too deeply") from None
        if not isinstance(content, dict):
            raise usage.UsageError(f"--config {path}: must hold a JSON object, got {type(content).__name__}")
        if _nesting_depth(content) > MAX_CONFIG_DEPTH:
            raise usage.UsageError(f"--config {path}: nested too deeply (more than {MAX_CONFIG_DEPTH} levels)")
        return content

    def _apply_command_line(self, config: dict[str, Any]) -> None:
        if self["ip"] is not None or self["port"] is not None:
            interfaces = config.setdefault("interfaces", [])
            ipv4 = next((spec for spec in interfaces if isinstance(spec, dict) and spec.get("interface") == "UDPIPv4"),
                        None)
            if ipv4 is None:
                ipv4 = {"interface": "UDPIPv4", "ip": "0.0.0.0", "port": 8090}
                interfaces.append(ipv4)
            if self["ip"] is not None:
                ipv4["ip"] = self["ip"]
            if self["port"] is not None:
                ipv4["port"] = self["port"]
        if self["key-file"] is not None:
            keys = config.get("keys")
            if not keys or not isinstance(keys[0], dict):
                raise usage.UsageError("--key-file: the configuration has no key to store in that file")
            keys[0]["file"] = self["key-file"]
        if self["working-dir"] is not None:
            config["working_directory"] = self["working-dir"]
        if self["log-level"] is not None:
            config["logger"] = {**config.get("logger", {}), "level": self["log-level"].upper()}
        if self["bootstrap"]:
            self._replace_trackers(config)

    def _replace_trackers(self, config: dict[str, Any]) -> None:
        """Point every DispersyBootstrapper at the ``--bootstrap`` trackers instead of its own list."""
        ips = [address for address in self["bootstrap"] if _is_ip_literal(address[0])]
        names = [address for address in self["bootstrap"] if not _is_ip_literal(address[0])]
        for overlay in config.get("overlays") or []:
            for entry in (overlay.get("bootstrappers") or []) if isinstance(overlay, dict) else []:
                if isinstance(entry, dict) and entry.get("class") == "DispersyBootstrapper":
                    entry["init"] = {**(entry.get("init") or {}), "ip_addresses": list(ips),
                                     "dns_addresses": list(names)}

    def _load_certificate(self, path: str) -> Any:  # noqa: ANN401 - an OpenSSL context factory
        from twisted.internet import ssl
        try:
            with open(path, "rb") as handle:
                pem = handle.read()
            return ssl.PrivateCertificate.loadPEM(pem).options()
        except OSError as exc:
            raise usage.UsageError(f"--cert-file {path}: cannot read it ({exc.strerror or exc})") from None
        except Exception as exc:  # noqa: BLE001 - OpenSSL raises a variety of errors for bad PEM data
            raise usage.UsageError(f"--cert-file {path}: not a PEM certificate with its private key ({exc})") from None

    def postOptions(self) -> None:  # noqa: N802 - Twisted's name
        """Build and validate the configuration; any problem becomes a one-line usage error."""
        from ..configuration import ConfigurationError, validate_configuration

        config = self.base_configuration()
        if self["config"] is not None:
            config.update(self._read_config_file(self["config"]))
            # Check the file on its own first, so that its mistakes are reported as the file's.
            try:
                validate_configuration(config)
            except ConfigurationError as exc:
                raise usage.UsageError(f"invalid configuration in {self['config']}: {exc}") from None
        self._apply_command_line(config)
        try:
            validate_configuration(config)
        except ConfigurationError as exc:
            raise usage.UsageError(f"invalid configuration: {exc}") from None
        if self["api-key"] is not None and (not self["api-key"] or not self["api-key"].isprintable()
                                            or any(char.isspace() for char in self["api-key"])):
            raise usage.UsageError("--api-key must not be empty or contain spaces or control characters")
        if self["api-key"] is not None and self["no-api-key"]:
            raise usage.UsageError("--api-key and --no-api-key contradict each other")
        if not self["no-rest-api"] and not _is_ip_literal(self["rest-interface"]):
            raise usage.UsageError(f"--rest-interface {self['rest-interface']!r}: expected an IP address")
        if self["cert-file"] is not None:
            self.ssl_context = self._load_certificate(self["cert-file"])
        self.configuration = config


# -- services ------------------------------------------------------------------------------------------

class RESTService(Service):
    """
    Runs the REST API of an IPv8 node while the service runs.

    :param node: when given, listen only once this node has started (and not at all if it fails to).
    :param abort: called with a message when the API cannot listen (the ``twistd`` process gives up);
        without it, the failure is only logged.
    :param manager_options: further keyword arguments for ``RESTManager.start``.
    """

    def __init__(self, ipv8: IPv8, port: int, host: str, api_key: str | None = None,  # noqa: PLR0913
                 ssl_context: Any = None, node: StandaloneIPv8Service | None = None,  # noqa: ANN401
                 abort: Callable[[str], None] | None = None, **manager_options: Any) -> None:  # noqa: ANN401
        self.name = "REST"
        self.ipv8 = ipv8
        self.port = port
        self.host = host
        self.api_key = api_key
        self.ssl_context = ssl_context
        self.node = node
        self.abort = abort
        #: Further keyword arguments for ``RESTManager.start`` (``cors_origins``, ``allowed_hosts``).
        self.manager_options = manager_options
        self.manager: Any = None

    def startService(self) -> Deferred | None:  # noqa: N802 - Twisted's name
        """Start listening (once the node runs, if there is a node to wait for)."""
        Service.startService(self)
        if self.node is None:
            return self._listen()
        # A node that failed to start must not leave an API behind that serves nothing.
        return self.node.when_started().addCallback(lambda started: self._listen() if started else None)

    def _listen(self) -> Deferred | None:
        if not self.running:
            return None  # stopped while the node was starting
        try:
            from ..REST.rest_manager import RESTManager
        except ImportError as exc:
            _log.warn("The REST API is not available: {error}", error=exc)
            return None
        self.manager = RESTManager(self.ipv8)
        starting = self.manager.start(self.port, self.host, self.api_key, self.ssl_context, **self.manager_options)
        starting.addErrback(self._listen_failed)
        return starting

    def _listen_failed(self, failure: Any) -> None:  # noqa: ANN401
        self.manager = None
        message = f"the REST API could not start on {self.host}:{self.port}: {failure.getErrorMessage()}"
        if self.abort is not None:
            self.abort(message)
        else:
            _log.error("{message}", message=message)

    def stopService(self) -> Deferred | None:  # noqa: N802 - Twisted's name
        """Stop listening and close open connections."""
        Service.stopService(self)
        manager, self.manager = self.manager, None
        return manager.stop() if manager is not None else None


_LEVELS = {logging.CRITICAL: LogLevel.critical, logging.ERROR: LogLevel.error, logging.WARNING: LogLevel.warn,
           logging.INFO: LogLevel.info, logging.DEBUG: LogLevel.debug}


def _forwarded_by_the_ipv8_bridge(record: logging.LogRecord) -> bool:
    """Whether :mod:`ipv8.logging_bridge` already forwards ``record`` (it propagates to the root as well)."""
    from ..logging_bridge import IPV8_LOGGER
    from ..logging_bridge import TwistedLogHandler as IPv8BridgeHandler
    if record.name != IPV8_LOGGER and not record.name.startswith(IPV8_LOGGER + "."):
        return False
    return any(isinstance(handler, IPv8BridgeHandler) for handler in logging.getLogger(IPV8_LOGGER).handlers)


class TwistedLogHandler(logging.Handler):
    """
    Forwards the :mod:`logging` records of other libraries to :mod:`twisted.logger`.

    Records of the ``ipv8`` loggers are left to :func:`ipv8.logging_bridge.bridge_ipv8_logging` (the node
    installs it), so each line reaches the log once.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Publish ``record`` as a twisted.logger event in the record's logger namespace."""
        try:
            if _forwarded_by_the_ipv8_bridge(record):
                return
            level = next((twisted_level for number, twisted_level in sorted(_LEVELS.items(), reverse=True)
                          if record.levelno >= number), LogLevel.debug)
            Logger(namespace=record.name).emit(level, "{log_text}", log_text=self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def install_log_bridge(level: str | int) -> TwistedLogHandler:
    """
    Route :mod:`logging` into twisted.logger: the ``ipv8`` loggers through :mod:`ipv8.logging_bridge`, every
    other logger through a :class:`TwistedLogHandler` on the root logger (at ``level``); returns the latter.
    """
    from ..configuration import log_level_number
    from ..logging_bridge import bridge_ipv8_logging
    bridge_ipv8_logging(level)
    root = logging.getLogger()
    handler = next((existing for existing in root.handlers if isinstance(existing, TwistedLogHandler)), None)
    if handler is None:
        handler = TwistedLogHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(log_level_number(level))
    return handler


class StandaloneIPv8Service(IPv8Service):
    """
    The node of a ``twistd`` process: if it cannot start, the whole process stops.

    :param abort: called with a one-line reason when the start fails (by default a
        :class:`~ipv8.scripts.startup.StartupAbort`: stderr, stop the reactor, exit status 1).
    """

    def __init__(self, ipv8: IPv8, name: str = "IPv8", abort: Callable[[str], None] | None = None) -> None:
        super().__init__(ipv8, name)
        self.abort = abort if abort is not None else StartupAbort("twistd ipv8")
        self._outcome: bool | None = None
        self._waiting: list[Deferred] = []

    def startService(self) -> Deferred:  # noqa: N802 - Twisted's name
        """Start the node; a failed start gives up on the whole process."""
        self._outcome = None
        starting = super().startService()
        starting.addCallbacks(self._up, self._give_up)
        return starting

    def when_started(self) -> Deferred:
        """A Deferred firing True once the node runs, or False if it failed to start."""
        from twisted.internet.defer import Deferred, succeed
        if self._outcome is not None:
            return succeed(self._outcome)
        waiter: Deferred = Deferred()
        self._waiting.append(waiter)
        return waiter

    def _settle(self, outcome: bool) -> None:
        self._outcome = outcome
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(outcome)

    def _up(self, result: object) -> object:
        self._settle(True)
        return result

    def _give_up(self, failure: Any) -> None:  # noqa: ANN401
        self._settle(False)
        self.abort(f"the node could not start: {failure.getErrorMessage()}")


@implementer(IServiceMaker, IPlugin)
class IPv8ServiceMaker:
    """
    Builds the ``twistd`` service tree: a :class:`MultiService` named ``"IPv8"`` holding the node's
    :class:`~ipv8.service.IPv8Service` and, unless ``--no-rest-api``, a :class:`RESTService`.
    """

    tapname = "ipv8"
    description = "An IPv8 node (with a REST API on 127.0.0.1:8085 unless --no-rest-api)."
    options = IPv8Options
    service_name = "IPv8"

    def create_ipv8(self, options: IPv8Options) -> IPv8:
        """The node described by the parsed options (a :class:`~ipv8.configuration.ConfigurationError` if not)."""
        ipv8 = IPv8(options.configuration, enable_statistics=bool(options["statistics"]))
        if options["statistics"]:
            # The flag asks for counting, so count every loaded overlay from the start (the dashboard's traffic
            # charts move without a click); REST can still switch single overlays off.
            from ..REST.overlays_endpoint import find_statistics_endpoint, iter_communities
            endpoint = find_statistics_endpoint(ipv8.endpoint)
            if endpoint is not None:
                for community in iter_communities(ipv8):
                    endpoint.enable_community_statistics(community.get_prefix(), True)
        return ipv8

    def check_key_files(self, options: IPv8Options) -> None:
        """
        Refuse key files that other users can access, unless ``--allow-insecure-key``.

        :raises ConfigurationError: naming the key's setting and the file.
        """
        from ..configuration import ConfigurationError
        if options["allow-insecure-key"]:
            return
        configuration = options.configuration
        for index, spec in enumerate(configuration["keys"]):
            if not spec.get("file"):
                continue
            path = os.path.join(configuration["working_directory"], os.path.expanduser(spec["file"]))
            if os.path.exists(path):
                try:
                    check_private_file(path)
                except InsecureFileError as exc:
                    raise ConfigurationError(f"keys[{index}].file", str(exc)) from None

    def rest_api_key(self, options: IPv8Options) -> str | None:
        """The key the REST API requires: ``--api-key``, None with ``--no-api-key``, else the stored one."""
        if options["no-api-key"]:
            _log.warn("The REST API runs without an API key: anyone who can connect to it controls this node")
            return None
        if options["api-key"] is not None:
            return options["api-key"]
        key, path, created = load_or_create_api_key(options.configuration["working_directory"],
                                                    bool(options["allow-insecure-key"]))
        if created:
            # Printed once, now; later starts reuse the file without showing the key again.
            sys.stdout.write(f"REST API key (generated, stored in {path}): {key}\n")
            sys.stdout.flush()
        else:
            _log.info("The REST API requires the API key stored in {path}", path=path)
        return key

    def makeService(self, options: IPv8Options) -> MultiService:  # noqa: N802 - Twisted's name
        """
        Create the node and its services; errors that only show when loading (an unknown overlay class or
        setting, an unreadable or insecure key file) end twistd with a one-line message and exit status 1.
        """
        from ..configuration import ConfigurationError
        from ..keyvault.exceptions import KeyVaultError
        install_log_bridge(options.configuration["logger"].get("level", "INFO"))
        working_directory = options.configuration["working_directory"]
        abort = StartupAbort(f"twistd {self.tapname}")
        try:
            os.makedirs(working_directory, exist_ok=True)
            self.check_key_files(options)
            ipv8 = self.create_ipv8(options)
            api_key = None if options["no-rest-api"] else self.rest_api_key(options)
        except (ConfigurationError, KeyVaultError, OSError, RecursionError) as exc:
            # twistd has not started logging yet: say it on stderr, once, without a traceback.
            message = "the configuration is nested too deeply" if isinstance(exc, RecursionError) else exc
            sys.stderr.write(f"twistd {self.tapname}: error: {one_line(message)}\n")
            raise SystemExit(1) from None

        parent = MultiService()
        parent.setName(self.service_name)
        node = StandaloneIPv8Service(ipv8, abort=abort)
        node.setServiceParent(parent)
        if not options["no-rest-api"]:
            # Only what was asked for is passed on, so the REST manager's own defaults apply otherwise.
            extra = {name: tuple(options[option]) for name, option in (("cors_origins", "cors-origin"),
                                                                       ("allowed_hosts", "allowed-host"))
                     if options[option]}
            RESTService(ipv8, options["rest-port"], options["rest-interface"], api_key,
                        options.ssl_context, node=node, abort=abort, **extra).setServiceParent(parent)
        return parent
