"""
UDPBroadcastBootstrapper.

In-process tests use a fake reactor whose UDP port records what would be broadcast, so nothing leaves the
process. The end-to-end test broadcasts for real, but only inside two network namespaces it creates and
connects with a veth pair (root only; skipped otherwise).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import error as twisted_errors
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from ipv8.bootstrapping.bootstrapper_interface import IBootstrapper
from ipv8.bootstrapping.udpbroadcast.bootstrapper import (BEACON_HEADER, BEACON_PORTS, BroadcastProtocol,
                                                          UDPBroadcastBootstrapper, make_beacon)
from ipv8.messaging.addresses import UDPv4Address
from ipv8.test import netguard

from .support import FakeOverlay, prefix_of

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = prefix_of(b"\x42" * 20)


class FakePort:
    """Stands in for a Twisted UDP port: records writes, refuses some destinations like Linux does."""

    def __init__(self, port: int, protocol: Any, refused: set[int]) -> None:  # noqa: ANN401
        self.port = port
        self.protocol = protocol
        self.refused = refused
        self.written: list[tuple[bytes, tuple[str, int]]] = []
        self.broadcast_allowed = False
        self.listening = True
        protocol.makeConnection(self)

    def write(self, datagram: bytes, addr: tuple[str, int]) -> None:
        if addr[1] in self.refused:
            raise OSError(22, "Invalid argument")
        self.written.append((datagram, addr))

    def setBroadcastAllowed(self, enabled: bool) -> None:  # noqa: N802 - Twisted's name
        self.broadcast_allowed = enabled

    def getHost(self) -> IPv4Address:  # noqa: N802
        return IPv4Address("UDP", "0.0.0.0", self.port)

    def stopListening(self) -> None:  # noqa: N802
        self.listening = False


class FakeReactor(Clock):
    """A Clock that can also 'listen' on UDP ports."""

    def __init__(self, refused: set[int] | None = None, fail_listen: bool = False) -> None:
        super().__init__()
        self.refused = refused or set()
        self.fail_listen = fail_listen
        self.ports: list[FakePort] = []

    def listenUDP(self, port: int, protocol: Any, interface: str = "",  # noqa: ANN401, N802
                  maxPacketSize: int = 8192) -> FakePort:  # noqa: N803
        if self.fail_listen:
            raise twisted_errors.CannotListenError(interface, port, OSError(98, "Address already in use"))
        fake = FakePort(port or 40000, protocol, self.refused)
        self.ports.append(fake)
        return fake


def fired(deferred: Any) -> Any:  # noqa: ANN401
    results: list[Any] = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def test_beacon_layout() -> None:
    assert BEACON_HEADER == bytes.fromhex("00004950763800")
    assert make_beacon(PREFIX) == bytes.fromhex("00004950763800") + PREFIX
    with pytest.raises(ValueError, match="22 bytes"):
        make_beacon(b"short")


def test_provides_the_interface_and_defaults_to_every_port() -> None:
    bootstrapper = UDPBroadcastBootstrapper()
    assert verifyObject(IBootstrapper, bootstrapper)
    assert bootstrapper.ports is BEACON_PORTS
    assert (len(BEACON_PORTS), BEACON_PORTS[0], BEACON_PORTS[-1]) == (65535, 0, 65534)
    assert bootstrapper.broadcast_address == "255.255.255.255"
    assert bootstrapper.blacklist() == []


@pytest.mark.parametrize("kwargs", [
    {"ports": [1, 70000]}, {"ports": range(65530, 65540)}, {"ports": ["80"]}, {"broadcast_port": -1},
    {"broadcast_address": "everyone"}, {"batch_size": 0}, {"batch_interval": -1.0},
])
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        UDPBroadcastBootstrapper(**kwargs)


def test_initialize_opens_a_broadcast_socket_and_sweeps_in_batches() -> None:
    reactor = FakeReactor(refused={0})
    bootstrapper = UDPBroadcastBootstrapper(ports=range(0, 10), broadcast_port=47001, reactor=reactor,
                                            batch_size=4, batch_interval=0.5)
    overlay = FakeOverlay(PREFIX)
    assert fired(bootstrapper.initialize(overlay)) is True
    [port] = reactor.ports
    assert port.port == 47001 and port.broadcast_allowed
    # The first batch goes out at once, the rest on later reactor turns.
    assert [addr for _, addr in port.written] == [("255.255.255.255", p) for p in (1, 2, 3)]
    assert bootstrapper.send_errors == 1  # port 0 refused, as Linux does
    assert bootstrapper.sweeping
    reactor.advance(0.5)
    assert len(port.written) == 7
    reactor.advance(0.5)
    assert [addr[1] for _, addr in port.written] == list(range(1, 10))
    assert {data for data, _ in port.written} == {make_beacon(PREFIX)}
    assert not bootstrapper.sweeping
    assert bootstrapper.beacons_sent == 9
    assert overlay.walked == []
    # Initializing again changes nothing.
    assert fired(bootstrapper.initialize(overlay)) is True
    assert len(reactor.ports) == 1


def test_a_sweep_in_progress_is_not_restarted_and_get_addresses_is_throttled() -> None:
    reactor = FakeReactor()
    bootstrapper = UDPBroadcastBootstrapper(10.0, ports=range(1, 5), reactor=reactor, batch_size=2,
                                            batch_interval=1.0)
    overlay = FakeOverlay(PREFIX)
    bootstrapper.initialize(overlay)
    [port] = reactor.ports
    assert bootstrapper.beacon(PREFIX) is None  # still sweeping
    reactor.advance(1.0)
    assert len(port.written) == 4
    assert list(fired(bootstrapper.get_addresses(overlay, 5.0))) == []
    assert len(port.written) == 6  # a new sweep started
    reactor.advance(1.0)
    fired(bootstrapper.get_addresses(overlay, 5.0))
    assert len(port.written) == 8  # throttled: no third sweep within bootstrap_timeout
    reactor.advance(10.0)
    fired(bootstrapper.get_addresses(overlay, 5.0))
    assert len(port.written) == 10
    reactor.advance(1.0)
    bootstrapper.keep_alive(overlay)
    assert len(port.written) == 14


def test_unload_stops_the_sweep_and_closes_the_socket() -> None:
    reactor = FakeReactor()
    bootstrapper = UDPBroadcastBootstrapper(ports=range(1, 100), reactor=reactor, batch_size=10)
    bootstrapper.initialize(FakeOverlay(PREFIX))
    [port] = reactor.ports
    bootstrapper.unload()
    assert not port.listening
    assert reactor.getDelayedCalls() == []
    assert len(port.written) == 10
    assert bootstrapper.beacon(PREFIX) is None


def test_initialize_reports_false_when_the_socket_cannot_be_opened() -> None:
    bootstrapper = UDPBroadcastBootstrapper(reactor=FakeReactor(fail_listen=True))
    assert fired(bootstrapper.initialize(FakeOverlay(PREFIX))) is False
    assert bootstrapper.initialized
    assert bootstrapper.beacon(PREFIX) is None


def test_the_broadcast_socket_routes_what_it_receives() -> None:
    overlay = FakeOverlay(PREFIX)
    protocol = BroadcastProtocol(overlay)
    FakePort(47001, protocol, set())
    sender = ("10.213.0.2", 47002)

    protocol.datagramReceived(make_beacon(PREFIX), sender)
    assert overlay.walked == [sender]
    assert isinstance(overlay.walked[0], UDPv4Address)

    protocol.datagramReceived(make_beacon(prefix_of(b"\x01" * 20)), sender)  # another community
    protocol.datagramReceived(b"\x00\x02garbage", sender)
    protocol.datagramReceived(make_beacon(PREFIX), ("127.0.0.1", 47001))  # our own beacon, looped back
    assert overlay.walked == [sender]
    assert (protocol.foreign_beacons, protocol.ignored, protocol.own_beacons, protocol.walks) == (1, 1, 1, 1)

    reply = PREFIX + b"\xf6" + b"introduction request"
    protocol.datagramReceived(reply, sender)
    assert overlay.packets == [(sender, reply)]


def test_broadcasting_on_the_host_is_blocked_by_the_guard() -> None:
    """The suite's guard would stop a real broadcast from a test process (the namespace test runs elsewhere)."""
    assert not netguard.is_allowed_host("255.255.255.255")


# -- real broadcast inside two network namespaces ----------------------------------------------------------


def _namespace_support() -> str | None:
    """None if namespaces can be used here, otherwise the reason why not."""
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "needs root to create network namespaces (ip netns add)"
    if shutil.which("ip") is None:
        return "the 'ip' tool (iproute2) is not installed"
    return None


def _run(*command: str) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=10)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {completed.stderr.strip()}")


class NamespacePair:
    """Two fresh network namespaces joined by a veth pair on a /24 of 10.213.0.0/16, and nothing else."""

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.names = (f"txb{tag}a", f"txb{tag}b")
        self.devices = ("txbeth0", "txbeth1")
        self.subnet_byte = os.getpid() % 250 + 1
        self.subnet = f"10.213.{self.subnet_byte}.0/24"
        self.addresses = (f"10.213.{self.subnet_byte}.1", f"10.213.{self.subnet_byte}.2")

    def create(self) -> None:
        for name in self.names:
            _run("ip", "netns", "add", name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        # The veth is created directly inside the namespaces: the host's own interfaces are never touched.
        _run("ip", "link", "add", self.devices[0], "netns", self.names[0], "type", "veth",
             "peer", "name", self.devices[1], "netns", self.names[1])
        for name, device, address in zip(self.names, self.devices, self.addresses):
            _run("ip", "-n", name, "addr", "add", f"{address}/24", "dev", device)
            _run("ip", "-n", name, "link", "set", device, "up")
            # Without a route for it, the kernel refuses to send to 255.255.255.255 (ENETUNREACH).
            _run("ip", "-n", name, "route", "add", "255.255.255.255/32", "dev", device)

    def destroy(self) -> None:
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def test_two_peers_find_each_other_by_broadcast_in_network_namespaces(tmp_path: Path) -> None:
    reason = _namespace_support()
    if reason:
        pytest.skip(reason)
    pair = NamespacePair()
    try:
        pair.create()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pair.destroy()
        pytest.skip(f"cannot build network namespaces here: {exc}")

    node = ROOT / "tests" / "bootstrapping" / "broadcast_node.py"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes: list[subprocess.Popen] = []
    try:
        with netguard.allow(pair.subnet):
            for index, (name, device) in enumerate(zip(pair.names, pair.devices)):
                peer_ip = pair.addresses[1 - index]
                command = ["ip", "netns", "exec", name, sys.executable, str(node), "--device", device,
                           "--subnet", pair.subnet, "--expect", peer_ip, "--broadcast-port", str(47100 + index),
                           "--sweep", "47095-47105", "--port", str(47200 + index), "--deadline", "8"]
                processes.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True))
            outputs = [process.communicate(timeout=20) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        pair.destroy()

    reports = []
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, f"broadcast node failed ({process.returncode}):\n{stdout}\n{stderr}"
        reports.append(json.loads(stdout.strip().splitlines()[-1]))
    for index, report in enumerate(reports):
        assert report["found"], report
        assert pair.addresses[1 - index] in [ip for ip, _ in report["peers"]], report
        assert report["beacons_sent"] >= 10, report
    # At least one side walked to the other because of a beacon; the other may have learnt of it by that walk.
    assert sum(report["walks"] for report in reports) >= 1
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    assert not any(name in result.stdout for name in pair.names)
    assert all(report["violations"] == [] for report in reports), reports


def test_the_namespace_node_refuses_to_run_on_a_real_network(tmp_path: Path) -> None:
    node = ROOT / "tests" / "bootstrapping" / "broadcast_node.py"
    completed = subprocess.run([sys.executable, str(node), "--device", "no-such-veth", "--subnet", "10.213.0.0/24",
                                "--expect", "10.213.0.2", "--port", "47200", "--broadcast-port", "47100",
                                "--sweep", "47100-47101"], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 4, completed.stderr
    assert "refusing to broadcast" in completed.stderr
