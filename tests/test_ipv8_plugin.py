"""The ``twistd ipv8`` plugin: option parsing, the service tree, and real twistd processes on 127.0.0.1."""
from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from twisted.application.service import IService, IServiceMaker, MultiService
from twisted.internet.defer import succeed
from twisted.internet.ssl import CertificateOptions
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.plugin import IPlugin, getPlugins
from twisted.python import usage
from zope.interface.verify import verifyObject

from ipv8.configuration import DISPERSY_BOOTSTRAPPER, get_default_configuration
from ipv8.messaging.interfaces.statistics_endpoint import StatisticsEndpoint
from ipv8.scripts.ipv8_plugin import (IPv8Options, IPv8ServiceMaker, RESTService, StandaloneIPv8Service,
                                      TwistedLogHandler, install_log_bridge, parse_bootstrap_address)
from ipv8.service import IPv8Service

ROOT = Path(__file__).resolve().parent.parent
TWISTD = Path(sys.executable).parent / "twistd"
PUBLIC_TRACKER_IPS = {host for host, _ in DISPERSY_BOOTSTRAPPER["init"]["ip_addresses"]}


def parse(*arguments: str) -> IPv8Options:
    options = IPv8Options()
    options.parseOptions(list(arguments))
    return options


def dispersy_inits(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["init"] for overlay in config["overlays"] for entry in overlay["bootstrappers"]
            if entry["class"] == "DispersyBootstrapper"]


# -- discovery -------------------------------------------------------------------------------------------

def test_twistd_finds_the_plugin() -> None:
    import twisted.plugins
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker, twisted.plugins)}
    assert "ipv8" in makers
    maker = makers["ipv8"]
    assert verifyObject(IServiceMaker, maker)
    assert IPlugin.providedBy(maker)
    assert maker.options is IPv8Options


# -- options ---------------------------------------------------------------------------------------------

def test_defaults_are_the_default_configuration() -> None:
    options = parse()
    assert options.configuration == get_default_configuration()
    assert options["rest-port"] == 8085
    assert options["rest-interface"] == "127.0.0.1"
    assert options["bootstrap"] == []
    assert not options["no-rest-api"] and not options["statistics"]
    assert options.ssl_context is None


def test_bootstrap_replaces_every_public_tracker() -> None:
    options = parse("--bootstrap", "127.0.0.1:7001", "-b", "localhost:7002", "--bootstrap", "[::1]:7003")
    inits = dispersy_inits(options.configuration)
    assert len(inits) == 3
    for init in inits:
        assert init["ip_addresses"] == [("127.0.0.1", 7001), ("::1", 7003)]
        assert init["dns_addresses"] == [("localhost", 7002)]
        assert init["bootstrap_timeout"] == 30.0
    dumped = json.dumps(options.configuration)
    assert not any(host in dumped for host in PUBLIC_TRACKER_IPS)
    assert "tribler.org" not in dumped and "tudelft.nl" not in dumped


def test_node_options_change_the_configuration(tmp_path: Path) -> None:
    options = parse("--ip", "127.0.0.1", "--port", "9123", "--key-file", "node.pem", "--working-dir", str(tmp_path),
                    "--log-level", "debug", "--statistics", "--no-rest-api", "--api-key", "secret")
    config = options.configuration
    assert config["interfaces"] == [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 9123}]
    assert config["keys"][0]["file"] == "node.pem"
    assert config["working_directory"] == str(tmp_path)
    assert config["logger"] == {"level": "DEBUG"}
    assert options["statistics"] and options["no-rest-api"] and options["api-key"] == "secret"


def test_config_file_overrides_defaults(tmp_path: Path) -> None:
    config_file = tmp_path / "node.json"
    config_file.write_text(json.dumps({
        "interfaces": [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}],
        "walker_interval": 1.5,
        "overlays": [{"class": "DiscoveryCommunity", "key": "anonymous id",
                      "walkers": [{"strategy": "RandomWalk", "peers": 5, "init": {}}],
                      "bootstrappers": [{"class": "DispersyBootstrapper",
                                         "init": {"ip_addresses": [["127.0.0.1", 1]], "dns_addresses": []}}],
                      "initialize": {}, "on_start": []}],
    }))
    config = parse("--config", str(config_file), "--port", "9000").configuration
    assert config["walker_interval"] == 1.5
    assert config["interfaces"] == [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 9000}]
    assert config["keys"] == get_default_configuration()["keys"]
    assert [overlay["class"] for overlay in config["overlays"]] == ["DiscoveryCommunity"]


BAD_COMMAND_LINES = [
    (["--port", "http"], "'http' is not a port number"),
    (["--port", "70000"], "70000 is not a port number"),
    (["--rest-port", "-1"], "-1 is not a port number"),
    (["--bootstrap", "127.0.0.1"], "--bootstrap '127.0.0.1': expected HOST:PORT"),
    (["--bootstrap", "127.0.0.1:0"], "expected HOST:PORT"),
    (["--bootstrap", ":6421"], "expected HOST:PORT"),
    (["--ip", "localhost"], "interfaces[0].ip: must be an IPv4 address literal"),
    (["--log-level", "chatty"], "logger.level: must be one of"),
    (["--rest-interface", "my-laptop"], "--rest-interface 'my-laptop': expected an IP address"),
    (["--api-key", ""], "--api-key must not be empty"),
    (["--config", "/nonexistent/node.json"], "--config /nonexistent/node.json: cannot read it"),
    (["--cert-file", "/nonexistent/cert.pem"], "--cert-file /nonexistent/cert.pem: cannot read it"),
    (["--surprise"], "option --surprise not recognized"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_COMMAND_LINES, ids=[" ".join(a) for a, _ in BAD_COMMAND_LINES])
def test_bad_command_lines(arguments: list[str], message: str) -> None:
    with pytest.raises(usage.UsageError) as caught:
        parse(*arguments)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object, got list"),
    ('{"walker_interval": "fast"}', "invalid configuration in <file>: walker_interval: must be a positive number"),
    ('{"overlays": [{"class": "DiscoveryCommunity"}]}', "invalid configuration in <file>: overlays[0].key: missing"),
    ('{"keys": []}', "overlays[0].key: no key with alias 'anonymous id'"),
    ('{"interface": []}', "interface: unknown setting"),
])
def test_bad_config_files(tmp_path: Path, content: str, message: str) -> None:
    config_file = tmp_path / "bad.json"
    config_file.write_text(content)
    with pytest.raises(usage.UsageError) as caught:
        parse("--config", str(config_file))
    assert message.replace("<file>", str(config_file)) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("content", "arguments", "message"), [
    ('{"interfaces": "all"}', ["--ip", "127.0.0.1"], "interfaces: must be a list"),
    ('{"logger": "INFO"}', ["--log-level", "DEBUG"], "logger: must be a mapping"),
    ('{"keys": "mine"}', ["--key-file", "x.pem"], "keys: must be a list"),
])
def test_malformed_files_are_reported_before_options_apply(tmp_path: Path, content: str, arguments: list[str],
                                                           message: str) -> None:
    config_file = tmp_path / "odd.json"
    config_file.write_text(content)
    with pytest.raises(usage.UsageError) as caught:
        parse("--config", str(config_file), *arguments)
    assert str(caught.value).startswith(f"invalid configuration in {config_file}: {message}")


def test_key_file_needs_a_key(tmp_path: Path) -> None:
    config_file = tmp_path / "keyless.json"
    config_file.write_text(json.dumps({"keys": [], "overlays": []}))
    with pytest.raises(usage.UsageError, match="--key-file: the configuration has no key"):
        parse("--config", str(config_file), "--key-file", "x.pem")


def test_bad_certificate_file(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n")
    with pytest.raises(usage.UsageError, match="not a PEM certificate with its private key"):
        parse("--cert-file", str(cert))


def test_parse_bootstrap_address() -> None:
    assert parse_bootstrap_address("127.0.0.1:6421") == ("127.0.0.1", 6421)
    assert parse_bootstrap_address("[::1]:6421") == ("::1", 6421)
    assert parse_bootstrap_address("tracker.example:1") == ("tracker.example", 1)
    with pytest.raises(usage.UsageError):
        parse_bootstrap_address("127.0.0.1:65536")


def test_certificate_file_gives_a_tls_context(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_file = tmp_path / "cert.pem"
    cert_file.write_bytes(pem)
    options = parse("--cert-file", str(cert_file))
    assert isinstance(options.ssl_context, CertificateOptions)


def test_standard_logging_is_forwarded_to_twisted_logger() -> None:
    events: list[dict] = []
    root = logging.getLogger()
    previous_level = root.level
    globalLogPublisher.addObserver(events.append)
    handler = install_log_bridge("INFO")
    try:
        assert install_log_bridge("INFO") is handler  # installed once
        logging.getLogger("ipv8.bridge_test").warning("hello %s", "there")
        logging.getLogger("ipv8.bridge_test").debug("not shown at INFO")
    finally:
        globalLogPublisher.removeObserver(events.append)
        root.removeHandler(handler)
        root.setLevel(previous_level)
    mine = [event for event in events if event.get("log_namespace") == "ipv8.bridge_test"]
    assert len(mine) == 1
    assert mine[0]["log_level"] == LogLevel.warn
    assert formatEvent(mine[0]) == "hello there"
    assert isinstance(handler, TwistedLogHandler)


# -- the service tree -------------------------------------------------------------------------------------

def local_options(tmp_path: Path, *extra: str) -> IPv8Options:
    return parse("--ip", "127.0.0.1", "--port", "0", "--working-dir", str(tmp_path / "node"),
                 "--bootstrap", "127.0.0.1:1", *extra)


def test_service_tree(tmp_path: Path) -> None:
    tree = IPv8ServiceMaker().makeService(local_options(tmp_path, "--rest-port", "0", "--api-key", "k"))
    assert isinstance(tree, MultiService)
    assert tree.name == "IPv8"
    node, rest = list(tree)
    assert isinstance(node, IPv8Service) and verifyObject(IService, node)
    assert isinstance(rest, RESTService)
    assert (rest.port, rest.host, rest.api_key, rest.ipv8) == (0, "127.0.0.1", "k", node.ipv8)
    assert "DiscoveryCommunity" in [type(overlay).__name__ for overlay in node.ipv8.overlays]
    key_file = tmp_path / "node" / "ec_multichain.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not node.running  # nothing starts before twistd starts the application


def test_service_tree_without_rest_with_statistics(tmp_path: Path) -> None:
    tree = IPv8ServiceMaker().makeService(local_options(tmp_path, "--no-rest-api", "--statistics"))
    (node,) = list(tree)
    assert isinstance(node.ipv8.endpoint, StatisticsEndpoint)


def test_a_node_that_cannot_start_stops_twistd(tmp_path: Path, monkeypatch: Any) -> None:
    from twisted.internet import reactor
    stops: list[bool] = []
    monkeypatch.setattr(reactor, "stop", lambda: stops.append(True))
    tree = IPv8ServiceMaker().makeService(local_options(tmp_path, "--no-rest-api"))
    (node,) = list(tree)
    assert isinstance(node, StandaloneIPv8Service)

    monkeypatch.setattr(node.ipv8.endpoint, "open", lambda: succeed(False))  # as if no port could be bound
    outcome: list[Any] = []
    node.startService().addBoth(outcome.append)
    assert stops == [True]
    assert outcome == [None]  # handled: twistd stops instead of logging an unhandled error


def test_load_errors_end_with_one_line(tmp_path: Path, capsys: Any) -> None:
    config_file = tmp_path / "custom.json"
    config_file.write_text(json.dumps({"overlays": [{"class": "MyOwnCommunity", "key": "anonymous id", "walkers": [],
                                                     "bootstrappers": [], "initialize": {}, "on_start": []}]}))
    options = local_options(tmp_path, "--config", str(config_file))
    with pytest.raises(SystemExit) as caught:
        IPv8ServiceMaker().makeService(options)
    assert caught.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("twistd ipv8: error: overlays[0].class: unknown overlay class 'MyOwnCommunity'")


# -- real twistd processes ------------------------------------------------------------------------------------

def twistd_command(*arguments: str, guarded: bool = True) -> list[str]:
    prefix = [sys.executable, "-m", "ipv8.test.netguard"] if guarded else [sys.executable]
    return [*prefix, str(TWISTD), "-n", "--pidfile=", "ipv8", *arguments]


class OutputCollector:
    """Reads a process's output in the background so the test can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(text in line for line in self.lines):
                return True
            if self._process.poll() is not None:
                self._thread.join(1)
                return any(text in line for line in self.lines)
            time.sleep(0.05)
        return False


def test_twistd_node_serves_rest_bootstraps_locally_and_stops_on_sigterm(tmp_path: Path) -> None:
    tracker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # stands in for a tracker: just listens
    tracker.bind(("127.0.0.1", 0))
    tracker.settimeout(10)
    tracker_port = tracker.getsockname()[1]
    process = subprocess.Popen(
        twistd_command("--bootstrap", f"127.0.0.1:{tracker_port}", "--ip", "127.0.0.1", "--port", "0",
                       "--working-dir", str(tmp_path / "node"), "--rest-port", "0"),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = OutputCollector(process)
    try:
        assert output.wait_for("IPv8 is running on", 20), "\n".join(output.lines)
        packet, source = tracker.recvfrom(65536)
        assert source[0] == "127.0.0.1"
        assert packet[:2] == b"\x00\x02" and packet[22] in (246, 234)  # an introduction request
        assert output.wait_for("REST API listening on http://127.0.0.1:", 10), "\n".join(output.lines)
        url = next(line for line in output.lines if "REST API listening on" in line).split("listening on ")[1]
        with urllib.request.urlopen(f"{url}/overlays", timeout=5) as response:
            overlays = json.load(response)["overlays"]
        assert "DiscoveryCommunity" in [overlay["overlay_name"] for overlay in overlays]
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        status = process.wait(timeout=10)
        assert time.monotonic() - started < 5.0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        tracker.close()
    # Twisted ends a process stopped by a signal by re-raising that signal once everything is shut down.
    assert status in (0, -signal.SIGTERM), "\n".join(output.lines)
    output.wait_for("Server Shut Down", 2)
    log = "\n".join(output.lines)
    assert "Received SIGTERM" in log and "Main loop terminated" in log
    with pytest.raises(OSError):  # the REST API is gone
        urllib.request.urlopen(f"{url}/overlays", timeout=2)
    assert "Traceback" not in log and "Unhandled" not in log
    assert "Skipping overlay HiddenTunnelCommunity" in log or "HiddenTunnelCommunity" not in log
    assert stat.S_IMODE((tmp_path / "node" / "ec_multichain.pem").stat().st_mode) == 0o600


def test_twistd_rejects_a_bad_config_file_in_one_line(tmp_path: Path) -> None:
    config_file = tmp_path / "bad.json"
    config_file.write_text(json.dumps({"walker_interval": 0}))
    completed = subprocess.run(twistd_command("--config", str(config_file), guarded=False), cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode != 0
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "invalid configuration" in line]
    assert len(errors) == 1
    # twistd prefixes the message with its own command line ("twistd -n: ...").
    assert errors[0].endswith(f": invalid configuration in {config_file}: walker_interval: must be a positive "
                              "number of seconds, got 0")
    assert not (tmp_path / "ec_multichain.pem").exists()


def test_twistd_reports_load_errors_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.pem").write_bytes(b"garbage")
    completed = subprocess.run(twistd_command("--key-file", "broken.pem", "--working-dir", str(tmp_path),
                                              "--bootstrap", "127.0.0.1:1", guarded=False),
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert "Traceback" not in completed.stdout + completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("twistd ipv8: error: keys[0].file: ")
    assert "broken.pem" in lines[0]
    assert os.path.exists(tmp_path / "broken.pem")  # never overwritten


# -- make run ------------------------------------------------------------------------------------------------

def test_local_network_launcher(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "ipv8.scripts.local_network", "--nodes", "2", "--rest-port", "0",
         "--run-dir", str(run_dir), "--netguard"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = OutputCollector(launcher)
    try:
        assert output.wait_for("Press Ctrl-C to stop.", 60), "\n".join(output.lines)
        banner = "\n".join(output.lines)
        assert "tracker  UDP 127.0.0.1:" in banner
        assert "node1    UDP 127.0.0.1:" in banner and "node2    UDP 127.0.0.1:" in banner
        url = next(line.split()[1] for line in output.lines if line.strip().startswith("curl ") and "/overlays" in line)
        assert url.startswith("http://127.0.0.1:")

        def discovery_peers() -> int:
            with urllib.request.urlopen(url, timeout=5) as response:
                overlays = json.load(response)["overlays"]
            return sum(len(overlay["peers"]) for overlay in overlays if overlay["overlay_name"] == "DiscoveryCommunity")
        deadline = time.monotonic() + 20
        while discovery_peers() < 1:
            assert time.monotonic() < deadline, "node1 found no peer through the local tracker"
            time.sleep(0.2)

        launcher.send_signal(signal.SIGINT)  # what Ctrl-C does to the launcher
        assert launcher.wait(timeout=20) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    output.wait_for("Stopped.", 2)
    log = "\n".join(output.lines)
    for name in ("tracker", "node1", "node2"):
        assert f"[{name}]" in log and any(line.startswith(f"[{name}]") and "Server Shut Down" in line
                                          for line in output.lines), log
    assert "Traceback" not in log
    assert (run_dir / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (run_dir / "node1" / "ec_multichain.pem").exists() and (run_dir / "node2" / "ec_multichain.pem").exists()


def test_ipv8_service_module_runs_the_plugin(tmp_path: Path) -> None:
    config_file = tmp_path / "bad.json"
    config_file.write_text(json.dumps({"keys": "anonymous id"}))
    completed = subprocess.run([sys.executable, "-m", "ipv8_service", "--config", str(config_file)], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    errors = [line for line in completed.stdout.splitlines() if "invalid configuration" in line]
    assert len(errors) == 1 and errors[0].endswith("keys: must be a list, got 'anonymous id'")
    assert "Traceback" not in completed.stdout + completed.stderr
