"""The ``twistd ipv8`` command: one IPv8 node, plus its REST API, as a Twisted application.

Run ``twistd -n ipv8 --help`` for the options. All checks of the command line and of the configuration
file happen while twistd parses the options, so a mistake ends twistd with its usage text and a single
error line (exit status 1) before anything starts. SIGINT and SIGTERM stop the reactor, which stops
the services in reverse order: the REST API first, then the node (strategies, overlays, endpoint).

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
from typing import TYPE_CHECKING, Any

from twisted.application.service import IServiceMaker, MultiService, Service
from twisted.logger import Logger, LogLevel
from twisted.plugin import IPlugin
from twisted.python import usage
from zope.interface import implementer

from ..service import IPv8, IPv8Service

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

__all__ = ["IPv8Options", "IPv8ServiceMaker", "RESTService", "StandaloneIPv8Service", "TwistedLogHandler",
           "install_log_bridge", "parse_bootstrap_address"]

_log = Logger(namespace="ipv8.twistd")

DEFAULT_REST_PORT = 8085
DEFAULT_REST_INTERFACE = "127.0.0.1"


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
        ["api-key", None, None, "Require this key (X-Api-Key header or apikey query parameter) for the REST API."],
        ["cert-file", None, None, "PEM file with a certificate and its private key: serve the REST API over HTTPS."],
        ["log-level", None, None, "Log level: CRITICAL, ERROR, WARNING, INFO or DEBUG."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["bootstrap"] = []
        self.configuration: dict[str, Any] = {}
        self.ssl_context: Any = None

    def opt_bootstrap(self, value: str) -> None:
        """Use the tracker HOST:PORT instead of the public ones (repeatable)."""
        self["bootstrap"].append(parse_bootstrap_address(value))

    opt_b = opt_bootstrap

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
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise usage.UsageError(f"--config {path}: not valid JSON ({exc})") from None
        if not isinstance(content, dict):
            raise usage.UsageError(f"--config {path}: must hold a JSON object, got {type(content).__name__}")
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
        if self["api-key"] is not None and not self["api-key"]:
            raise usage.UsageError("--api-key must not be empty")
        if not self["no-rest-api"] and not _is_ip_literal(self["rest-interface"]):
            raise usage.UsageError(f"--rest-interface {self['rest-interface']!r}: expected an IP address")
        if self["cert-file"] is not None:
            self.ssl_context = self._load_certificate(self["cert-file"])
        self.configuration = config


# -- services ------------------------------------------------------------------------------------------

class RESTService(Service):
    """Runs the REST API of an IPv8 node while the service runs."""

    def __init__(self, ipv8: IPv8, port: int, host: str, api_key: str | None = None,
                 ssl_context: Any = None) -> None:  # noqa: ANN401
        self.name = "REST"
        self.ipv8 = ipv8
        self.port = port
        self.host = host
        self.api_key = api_key
        self.ssl_context = ssl_context
        self.manager: Any = None

    def startService(self) -> Deferred | None:  # noqa: N802 - Twisted's name
        """Start listening; a failure to listen is logged and leaves the node running without REST."""
        Service.startService(self)
        try:
            from ..REST.rest_manager import RESTManager
        except ImportError as exc:
            _log.warn("The REST API is not available: {error}", error=exc)
            return None
        self.manager = RESTManager(self.ipv8)
        starting = self.manager.start(self.port, self.host, self.api_key, self.ssl_context)
        # The manager logs where it listens; a failure only costs us the REST API, not the node.
        starting.addErrback(lambda failure: _log.error("The REST API could not start: {error}",
                                                       error=failure.getErrorMessage()))
        return starting

    def stopService(self) -> Deferred | None:  # noqa: N802 - Twisted's name
        """Stop listening and close open connections."""
        Service.stopService(self)
        manager, self.manager = self.manager, None
        return manager.stop() if manager is not None else None


_LEVELS = {logging.CRITICAL: LogLevel.critical, logging.ERROR: LogLevel.error, logging.WARNING: LogLevel.warn,
           logging.INFO: LogLevel.info, logging.DEBUG: LogLevel.debug}


class TwistedLogHandler(logging.Handler):
    """Forwards :mod:`logging` records (the library logs through it) to :mod:`twisted.logger`."""

    def emit(self, record: logging.LogRecord) -> None:
        """Publish ``record`` as a twisted.logger event in the record's logger namespace."""
        try:
            level = next((twisted_level for number, twisted_level in sorted(_LEVELS.items(), reverse=True)
                          if record.levelno >= number), LogLevel.debug)
            Logger(namespace=record.name).emit(level, "{log_text}", log_text=self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def install_log_bridge(level: str | int) -> TwistedLogHandler:
    """Route the root :mod:`logging` logger (at ``level``) into twisted.logger; returns the handler."""
    from ..configuration import log_level_number
    root = logging.getLogger()
    handler = next((existing for existing in root.handlers if isinstance(existing, TwistedLogHandler)), None)
    if handler is None:
        handler = TwistedLogHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(log_level_number(level))
    return handler


class StandaloneIPv8Service(IPv8Service):
    """The node of a ``twistd`` process: if it cannot start, the whole process stops."""

    def startService(self) -> Deferred:  # noqa: N802 - Twisted's name
        """Start the node; a failed start stops the reactor (and so twistd)."""
        starting = super().startService()
        starting.addErrback(self._give_up)
        return starting

    @staticmethod
    def _give_up(failure: Any) -> None:  # noqa: ANN401
        from twisted.internet import reactor
        _log.critical("Stopping: {error}", error=failure.getErrorMessage())
        reactor.stop()


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
        return IPv8(options.configuration, enable_statistics=bool(options["statistics"]))

    def makeService(self, options: IPv8Options) -> MultiService:  # noqa: N802 - Twisted's name
        """
        Create the node and its services; errors that only show when loading (an unknown overlay class,
        an unreadable key file) end twistd with a one-line message and exit status 1.
        """
        from ..configuration import ConfigurationError
        from ..keyvault.exceptions import KeyVaultError
        install_log_bridge(options.configuration["logger"].get("level", "INFO"))
        working_directory = options.configuration["working_directory"]
        try:
            os.makedirs(working_directory, exist_ok=True)
            ipv8 = self.create_ipv8(options)
        except (ConfigurationError, KeyVaultError, OSError) as exc:
            # twistd has not started logging yet: say it on stderr, once, without a traceback.
            sys.stderr.write(f"twistd {self.tapname}: error: {exc}\n")
            raise SystemExit(1) from None

        parent = MultiService()
        parent.setName(self.service_name)
        node = StandaloneIPv8Service(ipv8)
        node.setServiceParent(parent)
        if not options["no-rest-api"]:
            RESTService(ipv8, options["rest-port"], options["rest-interface"], options["api-key"],
                        options.ssl_context).setServiceParent(parent)
        return parent
