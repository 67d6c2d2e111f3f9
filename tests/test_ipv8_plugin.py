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
import urllib.error
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
from ipv8.scripts.startup import StartupAbort
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

@pytest.fixture(autouse=True)
def _forget_overlay_tasks(monkeypatch: Any) -> Any:  # noqa: ANN401
    """Cancel the periodic tasks of the overlays the test's IPv8 instances made (most never start).

    Overlays register their looping tasks when they are made; left behind, they would fire inside whichever
    trial test runs next and fail it for a dirty reactor.
    """
    from ipv8.service import IPv8
    made: list[IPv8] = []
    original_init = IPv8.__init__

    def recording_init(self: IPv8, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        made.append(self)
        original_init(self, *args, **kwargs)
    monkeypatch.setattr(IPv8, "__init__", recording_init)
    yield
    for ipv8 in made:
        for overlay in getattr(ipv8, "overlays", []):
            overlay.cancel_all_pending_tasks()


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
    # --statistics counts every loaded overlay from the start.
    prefixes = {overlay.get_prefix() for overlay in node.ipv8.overlays}
    assert prefixes and set(node.ipv8.endpoint.statistics) == prefixes


class RecordingAbort(StartupAbort):
    """A StartupAbort that records instead of stopping the reactor and the process."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stops: list[bool] = []
        super().__init__("twistd ipv8", stop_reactor=lambda: self.stops.append(True),
                         set_exit_status=lambda: None, stderr=self)

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass


def test_a_node_that_cannot_start_stops_twistd(tmp_path: Path, monkeypatch: Any) -> None:
    tree = IPv8ServiceMaker().makeService(local_options(tmp_path, "--rest-port", "0"))
    node, rest = list(tree)
    assert isinstance(node, StandaloneIPv8Service)
    node.abort = rest.abort = abort = RecordingAbort()

    monkeypatch.setattr(node.ipv8.endpoint, "open", lambda: succeed(False))  # as if no port could be bound
    outcome: list[Any] = []
    tree.startService()
    node.started.addBoth(outcome.append)
    assert abort.stops == [True]
    assert abort.lines == ["twistd ipv8: error: the node could not start: Could not open the endpoint "
                           "(UDPIPv4 127.0.0.1:0, and the ports after them)\n"]
    assert outcome == [None]  # handled: twistd stops instead of logging an unhandled error
    assert rest.manager is None  # the REST API never listened: it waits for a node that runs
    tree.stopService()


def test_a_failing_on_start_call_stops_twistd(tmp_path: Path) -> None:
    config_file = tmp_path / "node.json"
    config_file.write_text(json.dumps({"overlays": [{
        "class": "DiscoveryCommunity", "key": "anonymous id", "walkers": [], "bootstrappers": [],
        "initialize": {}, "on_start": [["get_peers", "an argument it does not take"]]}]}))
    tree = IPv8ServiceMaker().makeService(local_options(tmp_path, "--config", str(config_file), "--no-rest-api"))
    (node,) = list(tree)
    node.abort = abort = RecordingAbort()
    tree.startService()
    assert abort.stops == [True]
    assert len(abort.lines) == 1 and abort.lines[0].startswith("twistd ipv8: error: the node could not start: ")
    tree.stopService()
    assert not node.ipv8.endpoint.is_open()


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
        # A key was generated, printed once and stored for the next start; without it, nothing is served.
        key_file = tmp_path / "node" / "rest_api_key"
        api_key = key_file.read_text().strip()
        assert [line for line in output.lines if "REST API key" in line] == [
            f"REST API key (generated, stored in {key_file}): {api_key}"]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/overlays", timeout=5)
        assert refused.value.code == 401
        request = urllib.request.Request(f"{url}/overlays", headers={"X-Api-Key": api_key})
        with urllib.request.urlopen(request, timeout=5) as response:
            overlays = json.load(response)["overlays"]
        assert "DiscoveryCommunity" in [overlay["overlay_name"] for overlay in overlays]
        # The dashboard's URL is printed too; its page is served without the key (it asks for it itself).
        assert f"Dashboard: {url}/ui/ (open it in a browser)" in "\n".join(output.lines)
        with urllib.request.urlopen(f"{url}/ui/", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/html")
            assert b'id="login-form"' in response.read()
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
    # The default configuration's HiddenTunnelCommunity exists now: it is loaded, not skipped.
    assert "Skipping overlay HiddenTunnelCommunity" not in log
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
                              "number of seconds (at most 86400), got 0")
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
        curl = next(line.strip() for line in output.lines if line.strip().startswith("curl ") and "/overlays" in line)
        api_key = (run_dir / "node1" / "rest_api_key").read_text().strip()
        assert f"REST API of node1, API key: {api_key}" in banner
        assert curl.startswith(f'curl -H "X-Api-Key: {api_key}" http://127.0.0.1:')
        url = curl.split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/overlays")
        dashboard = f"{url.removesuffix('/overlays')}/ui/"
        assert f"Dashboard of node1: {dashboard} (open it in a browser, log in with the API key below)" in banner
        with urllib.request.urlopen(dashboard, timeout=5) as response:
            assert b"/ui/dashboard.js" in response.read()

        def discovery_peers() -> int:
            request = urllib.request.Request(url, headers={"X-Api-Key": api_key})
            with urllib.request.urlopen(request, timeout=5) as response:
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


# -- start-up failures, configuration checks, secrets ------------------------------------------------------

def node_config(**overlay: Any) -> dict[str, Any]:  # noqa: ANN401
    entry = {"class": "DiscoveryCommunity", "key": "anonymous id",
             "walkers": [{"strategy": "RandomWalk", "peers": 20, "init": {"timeout": 3.0}}],
             "bootstrappers": [], "initialize": {}, "on_start": []}
    entry.update(overlay)
    return {"overlays": [entry]}


def make_service_error(tmp_path: Path, capsys: Any, *arguments: str) -> str:  # noqa: ANN401
    with pytest.raises(SystemExit) as caught:
        IPv8ServiceMaker().makeService(local_options(tmp_path, *arguments))
    assert caught.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("twistd ipv8: error: ")
    return error.strip()[len("twistd ipv8: error: "):]


BAD_OVERLAY_SETTINGS = [
    ({"initialize": {"max_peers": "lots"}}, "overlays[0].initialize.max_peers: must be an integer, got 'lots'"),
    ({"initialize": {"max_peers": -2}}, "overlays[0].initialize.max_peers: must be at least -1, got -2"),
    ({"initialize": {"max_peer": 1}}, "overlays[0].initialize: DiscoverySettings has no setting 'max_peer'"),
    ({"initialize": {"anonymize": "yes"}}, "overlays[0].initialize.anonymize: must be true or false"),
    ({"walkers": [{"strategy": "RandomWalk", "peers": 20, "init": {"timeout": "x"}}]},
     "overlays[0].walkers[0].init.timeout: must be a number, got 'x'"),
    ({"walkers": [{"strategy": "RandomWalk", "peers": 20, "init": {"timeout": 0}}]},
     "overlays[0].walkers[0].init.timeout: must be a positive number, got 0"),
    ({"walkers": [{"strategy": "RandomWalk", "peers": 20, "init": {"timeout": 1e999}}]},
     "overlays[0].walkers[0].init.timeout: must be a finite number"),
    ({"walkers": [{"strategy": "RandomChurn", "peers": -1, "init": {"sample_size": 0}}]},
     "overlays[0].walkers[0].init.sample_size: must be at least 1, got 0"),
    ({"walkers": [{"strategy": "RandomWalk", "peers": 20, "init": {"pace": 1}}]},
     "overlays[0].walkers[0].init: RandomWalk takes no argument 'pace'"),
    ({"bootstrappers": [{"class": "DispersyBootstrapper", "init": {"ip_addresses": [], "dns_addresses": [],
                                                                   "bootstrap_timeout": "soon"}}]},
     "overlays[0].bootstrappers[0].init.bootstrap_timeout: must be a number, got 'soon'"),
]


@pytest.mark.parametrize(("overlay", "message"), BAD_OVERLAY_SETTINGS, ids=[m.split(":")[0] + "-" + str(i)
                                                                           for i, (_, m) in enumerate(BAD_OVERLAY_SETTINGS)])
def test_overlay_settings_are_checked_before_anything_starts(tmp_path: Path, capsys: Any, overlay: dict,
                                                             message: str) -> None:
    config_file = tmp_path / "node.json"
    config_file.write_text(json.dumps(node_config(**overlay)))
    assert make_service_error(tmp_path, capsys, "--config", str(config_file)).startswith(message)


def test_twistd_refuses_a_mistyped_setting_in_one_line(tmp_path: Path) -> None:
    config_file = tmp_path / "node.json"
    config_file.write_text(json.dumps(node_config(initialize={"max_peers": "lots"})))
    completed = subprocess.run(twistd_command("--config", str(config_file), "--ip", "127.0.0.1", "--port", "0",
                                              "--working-dir", str(tmp_path / "node"), "--rest-port", "0"),
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert completed.stderr == ("twistd ipv8: error: overlays[0].initialize.max_peers: must be an integer, "
                                "got 'lots'\n")
    assert "Traceback" not in completed.stdout


def test_twistd_stops_when_the_address_cannot_be_bound(tmp_path: Path) -> None:
    rest_port = free_tcp_port()
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: binding fails locally and nothing is sent.
    completed = subprocess.run(twistd_command("--ip", "192.0.2.1", "--port", "0", "--working-dir",
                                              str(tmp_path / "node"), "--bootstrap", "127.0.0.1:1",
                                              "--rest-port", str(rest_port)),
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert completed.stderr == ("twistd ipv8: error: the node could not start: Could not open the endpoint "
                                "(UDPIPv4 192.0.2.1:0, and the ports after them)\n")
    assert "REST API listening" not in completed.stdout  # the REST API never opened its port
    assert "Traceback" not in completed.stdout and "Unhandled" not in completed.stdout
    assert "Main loop terminated" in completed.stdout
    # Each library log line reaches the log once (the ipv8 bridge and the root bridge do not both forward it).
    assert completed.stdout.count("IPv8 failed to start: Could not open the endpoint") == 1


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_twistd_stops_when_the_rest_port_is_taken(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        completed = subprocess.run(twistd_command("--ip", "127.0.0.1", "--port", "0", "--working-dir",
                                                  str(tmp_path / "node"), "--bootstrap", "127.0.0.1:1",
                                                  "--rest-port", str(port), "--no-api-key"),
                                   cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"twistd ipv8: error: the REST API could not start on 127.0.0.1:{port}")
    assert "IPv8 is running on" in completed.stdout  # the node did start, and was stopped again
    assert "Traceback" not in completed.stdout and "Unhandled" not in completed.stdout


def test_twistd_stops_when_an_on_start_call_fails(tmp_path: Path) -> None:
    config_file = tmp_path / "node.json"
    config_file.write_text(json.dumps(node_config(on_start=[["get_peers", "an argument it does not take"]])))
    rest_port = free_tcp_port()
    completed = subprocess.run(twistd_command("--config", str(config_file), "--ip", "127.0.0.1", "--port", "0",
                                              "--working-dir", str(tmp_path / "node"), "--rest-port", str(rest_port)),
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("twistd ipv8: error: the node could not start: ")
    assert "REST API listening" not in completed.stdout
    assert "Traceback" not in completed.stdout and "Unhandled" not in completed.stdout


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-specific")
def test_key_files_other_users_can_read_are_refused(tmp_path: Path, capsys: Any) -> None:
    IPv8ServiceMaker().makeService(local_options(tmp_path, "--no-rest-api"))  # creates the key, 0600
    key_file = tmp_path / "node" / "ec_multichain.pem"
    key_file.chmod(0o644)
    message = make_service_error(tmp_path, capsys, "--no-rest-api")
    assert message == (f"keys[0].file: {key_file} is accessible by other users (mode 0644): run chmod 600 on it, "
                       "or pass --allow-insecure-key")
    tree = IPv8ServiceMaker().makeService(local_options(tmp_path, "--no-rest-api", "--allow-insecure-key"))
    assert list(tree)[0].ipv8.keys["anonymous id"].key.key_to_bin() == key_file.read_bytes()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-specific")
def test_twistd_refuses_an_insecure_key_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    key_file = tmp_path / "node" / "ec_multichain.pem"
    from ipv8.keyvault.crypto import default_eccrypto
    key_file.write_bytes(default_eccrypto.generate_key("curve25519").key_to_bin())
    key_file.chmod(0o640)
    completed = subprocess.run(twistd_command("--ip", "127.0.0.1", "--port", "0", "--working-dir",
                                              str(tmp_path / "node"), "--no-rest-api", guarded=False),
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert completed.stderr == (f"twistd ipv8: error: keys[0].file: {key_file} is accessible by other users "
                                "(mode 0640): run chmod 600 on it, or pass --allow-insecure-key\n")
    assert completed.stdout == ""


def rest_service(tree: MultiService) -> RESTService:
    return next(service for service in tree if isinstance(service, RESTService))


def test_an_api_key_is_generated_once_and_reused(tmp_path: Path, capsys: Any) -> None:
    first = rest_service(IPv8ServiceMaker().makeService(local_options(tmp_path, "--rest-port", "0")))
    key_file = tmp_path / "node" / "rest_api_key"
    assert first.api_key and key_file.read_text() == first.api_key + "\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert capsys.readouterr().out == f"REST API key (generated, stored in {key_file}): {first.api_key}\n"
    second = rest_service(IPv8ServiceMaker().makeService(local_options(tmp_path, "--rest-port", "0")))
    assert second.api_key == first.api_key
    assert first.api_key not in capsys.readouterr().out  # shown once only
    given = rest_service(IPv8ServiceMaker().makeService(local_options(tmp_path, "--api-key", "mine")))
    assert given.api_key == "mine"
    none = rest_service(IPv8ServiceMaker().makeService(local_options(tmp_path, "--no-api-key")))
    assert none.api_key is None
    assert key_file.read_text() == first.api_key + "\n"


def test_cors_origins_and_allowed_hosts_reach_the_rest_manager(tmp_path: Path) -> None:
    plain = rest_service(IPv8ServiceMaker().makeService(local_options(tmp_path, "--api-key", "k")))
    assert plain.manager_options == {}
    tree = IPv8ServiceMaker().makeService(local_options(
        tmp_path, "--api-key", "k", "--rest-port", "0", "--cors-origin", "https://app.example",
        "--cors-origin", "http://localhost:3000", "--allowed-host", "node.lan:8085"))
    rest = rest_service(tree)
    assert rest.manager_options == {"cors_origins": ("https://app.example", "http://localhost:3000"),
                                    "allowed_hosts": ("node.lan:8085",)}
    tree.startService()
    try:
        assert rest.manager is not None and rest.manager.listening_port is not None
        assert rest.manager.site is not None
    finally:
        tree.stopService()


def test_no_key_file_without_rest_or_with_a_given_key(tmp_path: Path) -> None:
    IPv8ServiceMaker().makeService(local_options(tmp_path, "--no-rest-api"))
    IPv8ServiceMaker().makeService(local_options(tmp_path, "--api-key", "mine"))
    IPv8ServiceMaker().makeService(local_options(tmp_path, "--no-api-key"))
    assert not (tmp_path / "node" / "rest_api_key").exists()


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-specific")
@pytest.mark.parametrize(("content", "mode", "message"), [
    ("secret\n", 0o644, "is accessible by other users (mode 0644)"),
    ("\n", 0o600, "does not hold a usable REST API key"),
    ("two words\n", 0o600, "does not hold a usable REST API key"),
])
def test_bad_api_key_files_are_refused(tmp_path: Path, capsys: Any, content: str, mode: int, message: str) -> None:
    (tmp_path / "node").mkdir()
    key_file = tmp_path / "node" / "rest_api_key"
    key_file.write_text(content)
    key_file.chmod(mode)
    error = make_service_error(tmp_path, capsys)
    assert str(key_file) in error and message in error


@pytest.mark.parametrize(("arguments", "message"), [
    (["--api-key", "a b"], "--api-key must not be empty or contain spaces"),
    (["--api-key", "k", "--no-api-key"], "--api-key and --no-api-key contradict each other"),
])
def test_api_key_options_are_checked(arguments: list[str], message: str) -> None:
    with pytest.raises(usage.UsageError, match=message):
        parse(*arguments)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_config_files_are_refused_in_one_line(tmp_path: Path, depth: int) -> None:
    config_file = tmp_path / "deep.json"
    config_file.write_text('{"overlays": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(usage.UsageError) as caught:
        parse("--config", str(config_file))
    assert str(caught.value).startswith(f"--config {config_file}: nested too deeply")


def test_twistd_refuses_a_deeply_nested_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "deep.json"
    config_file.write_text('{"initialize": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}")
    completed = subprocess.run(twistd_command("--config", str(config_file), guarded=False), cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output
    assert len([line for line in output.splitlines() if "nested too deeply" in line]) == 1


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX-specific")
def test_local_network_stops_with_one_line_when_a_node_cannot_start(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "node1").mkdir(parents=True)
    key_file = run_dir / "node1" / "ec_multichain.pem"
    from ipv8.keyvault.crypto import default_eccrypto
    key_file.write_bytes(default_eccrypto.generate_key("curve25519").key_to_bin())
    key_file.chmod(0o644)  # node1 refuses such a key file
    completed = subprocess.run([sys.executable, "-m", "ipv8.scripts.local_network", "--nodes", "2", "--rest-port", "0",
                                "--run-dir", str(run_dir), "--netguard"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1
    assert completed.stderr == (f"error: node1 exited with status 1 before it was ready: twistd ipv8: error: "
                                f"keys[0].file: {key_file} is accessible by other users (mode 0644): run chmod 600 "
                                "on it, or pass --allow-insecure-key\n")
    assert "Traceback" not in completed.stdout
    assert any(line.startswith("[tracker]") and "Server Shut Down" in line for line in completed.stdout.splitlines())


def test_local_network_refuses_a_rest_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        completed = subprocess.run([sys.executable, "-m", "ipv8.scripts.local_network", "--rest-port", str(port),
                                    "--run-dir", str(tmp_path / "run"), "--netguard"],
                                   cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 1
    assert completed.stderr == f"error: TCP port {port} on 127.0.0.1 is in use: pass another --rest-port\n"
