"""The ``twistd exitnode`` plugin: options, the service tree, and a real exit node carrying a circuit.

The end-to-end test runs ``twistd -n exitnode`` as a child process behind the network guard, bootstrapping from
a tracker on 127.0.0.1; a TunnelCommunity node in the test process (real UDP on 127.0.0.1) finds it through the
tracker, builds a one-hop circuit through it and sends a datagram to a UDP echo sink on 127.0.0.1; the echo comes
back through the circuit.
"""
from __future__ import annotations

import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from twisted.application.service import IServiceMaker, MultiService
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import DatagramProtocol, ProcessProtocol
from twisted.logger import formatEvent, globalLogPublisher
from twisted.plugin import IPlugin, getPlugins
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keyfile import save_private_key
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.messaging.anonymization.payload import DataPayload
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
)
from ipv8.scripts.exitnode_plugin import (
    EXIT_NODE_PEER_FLAGS,
    LEGAL_WARNING,
    ExitNodeOptions,
    ExitNodeServiceMaker,
)
from ipv8.scripts.ipv8_plugin import IPv8Options, StandaloneIPv8Service
from ipv8.scripts.tracker_plugin import TrackerService
from ipv8.service import IPv8
from ipv8.test.util import wait_until

TWISTD = Path(sys.executable).parent / "twistd"
#: The 22-byte prefix of a made-up overlay: what the sink receives and answers must look like IPv8 packets,
#: the only traffic an IPv8 exit lets through (in both directions).
SINK_PREFIX = b"\x00\x02" + b"\x5e" * 20


def parse(*arguments: str) -> ExitNodeOptions:
    options = ExitNodeOptions()
    options.parseOptions(list(arguments))
    return options


def tunnel_overlays(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [overlay for overlay in config["overlays"] if overlay["class"] == "TunnelCommunity"]


# -- discovery and options -------------------------------------------------------------------------------------

def test_twistd_finds_the_plugin() -> None:
    import twisted.plugins
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker, twisted.plugins)}
    maker = makers["exitnode"]
    assert verifyObject(IServiceMaker, maker)
    assert IPlugin.providedBy(maker)
    assert maker.options is ExitNodeOptions
    assert issubclass(ExitNodeOptions, IPv8Options)  # every option of `twistd ipv8` works here too


def test_default_configuration_serves_as_an_exit() -> None:
    config = parse().configuration
    assert [overlay["class"] for overlay in config["overlays"]] == ["DiscoveryCommunity", "TunnelCommunity",
                                                                   "DHTDiscoveryCommunity"]
    (tunnel,) = tunnel_overlays(config)
    assert tunnel["initialize"] == {"min_circuits": 0, "max_circuits": 0, "max_joined_circuits": 1000,
                                    "exit_interface": "0.0.0.0"}
    assert tunnel["on_start"] == []  # builds no circuits of its own
    assert config["interfaces"] == [{"interface": "UDPIPv4", "ip": "0.0.0.0", "port": 8090}]
    assert EXIT_NODE_PEER_FLAGS == {PEER_FLAG_RELAY, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST}


def test_exit_options() -> None:
    options = parse("--listen_port", "9100", "--exit-interface", "127.0.0.1", "--max-joined-circuits", "7",
                    "--bootstrap", "127.0.0.1:6421", "--no-rest-api", "--statistics")
    config = options.configuration
    assert config["interfaces"] == [{"interface": "UDPIPv4", "ip": "0.0.0.0", "port": 9100}]
    (tunnel,) = tunnel_overlays(config)
    assert tunnel["initialize"]["exit_interface"] == "127.0.0.1"
    assert tunnel["initialize"]["max_joined_circuits"] == 7
    for overlay in config["overlays"]:  # a private network: no public tracker left anywhere
        (bootstrapper,) = overlay["bootstrappers"]
        assert bootstrapper["init"]["ip_addresses"] == [("127.0.0.1", 6421)]
        assert bootstrapper["init"]["dns_addresses"] == []
    assert options["no-rest-api"] and options["statistics"]
    assert parse("--port", "9101", "--listen_port", "9101").configuration["interfaces"][0]["port"] == 9101


def test_config_file_overlays_get_the_exit_settings(tmp_path: Path) -> None:
    config_file = tmp_path / "exit.json"
    config_file.write_text(json.dumps({"overlays": [{
        "class": "TunnelCommunity", "key": "anonymous id", "walkers": [], "bootstrappers": [],
        "initialize": {"max_time": 120}, "on_start": []}]}))
    (tunnel,) = tunnel_overlays(parse("--config", str(config_file), "--exit-interface", "::").configuration)
    assert tunnel["initialize"] == {"max_time": 120, "exit_interface": "::", "max_joined_circuits": 1000}


BAD_COMMAND_LINES = [
    (["--exit-interface", "my-host"], "--exit-interface 'my-host': expected an IP address"),
    (["--max-joined-circuits", "0"], "0 is out of range"),
    (["--max-joined-circuits", "many"], "'many' is not a whole number"),
    (["--listen_port", "70000"], "70000 is not a port number"),
    (["--port", "9000", "--listen_port", "9001"], "--port and --listen_port name different ports"),
    (["--bootstrap", "127.0.0.1"], "expected HOST:PORT"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_COMMAND_LINES, ids=[" ".join(a) for a, _ in BAD_COMMAND_LINES])
def test_bad_command_lines(arguments: list[str], message: str) -> None:
    with pytest.raises(usage.UsageError) as caught:
        parse(*arguments)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_configuration_without_a_tunnel_community_is_refused(tmp_path: Path) -> None:
    config_file = tmp_path / "plain.json"
    config_file.write_text(json.dumps({"overlays": [{
        "class": "DiscoveryCommunity", "key": "anonymous id", "walkers": [], "bootstrappers": [],
        "initialize": {}, "on_start": []}]}))
    with pytest.raises(usage.UsageError, match="no TunnelCommunity overlay to serve as the exit"):
        parse("--config", str(config_file))


# -- the service tree ------------------------------------------------------------------------------------------

@pytest.fixture
def made_nodes(monkeypatch: Any) -> Any:
    """The IPv8 instances a test makes; their overlays' periodic tasks are cancelled afterwards (none starts)."""
    made: list[IPv8] = []
    original_init = IPv8.__init__

    def recording_init(self: IPv8, *args: Any, **kwargs: Any) -> None:
        made.append(self)
        original_init(self, *args, **kwargs)
    monkeypatch.setattr(IPv8, "__init__", recording_init)
    yield made
    for ipv8 in made:
        for overlay in getattr(ipv8, "overlays", []):
            overlay.cancel_all_pending_tasks()


def test_service_tree_is_an_ipv8_exit(tmp_path: Path, made_nodes: list[IPv8]) -> None:
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        tree = ExitNodeServiceMaker().makeService(parse(
            "--ip", "127.0.0.1", "--port", "0", "--working-dir", str(tmp_path / "node"), "--bootstrap", "127.0.0.1:1",
            "--no-rest-api", "--exit-interface", "127.0.0.1", "--max-joined-circuits", "5"))
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert isinstance(tree, MultiService)
    assert tree.name == "IPv8Exitnode"
    (node,) = list(tree)
    assert isinstance(node, StandaloneIPv8Service)
    assert not node.running
    (tunnel,) = [overlay for overlay in node.ipv8.overlays if isinstance(overlay, TunnelCommunity)]
    assert tunnel.settings.peer_flags == {PEER_FLAG_RELAY, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST}
    assert PEER_FLAG_EXIT_BT not in tunnel.settings.peer_flags
    assert (tunnel.settings.exit_interface, tunnel.settings.max_joined_circuits) == ("127.0.0.1", 5)
    assert (tunnel.settings.min_circuits, tunnel.settings.max_circuits) == (0, 0)
    # The exit policy reads the flags live: IPv8 packets pass, BitTorrent does not.
    assert tunnel.exit_policy.is_allowed(SINK_PREFIX + b"\x01")
    assert not tunnel.exit_policy.is_allowed(b"d1:ai0ee")
    warnings = [formatEvent(event) for event in events if formatEvent(event) == LEGAL_WARNING]
    assert warnings == [LEGAL_WARNING]
    assert made_nodes == [node.ipv8]


def test_a_tunnel_overlay_that_is_not_available_ends_twistd(tmp_path: Path, capsys: Any, monkeypatch: Any,
                                                           made_nodes: list[IPv8]) -> None:
    # HiddenTunnelCommunity counts as a tunnel overlay; an installation without it skips the overlay (with a
    # warning), and then there would be no exit. Its module is made to be missing, whether it exists or not.
    from ipv8 import service
    monkeypatch.setitem(service.STANDARD_COMMUNITIES, "HiddenTunnelCommunity",
                        ("ipv8.messaging.anonymization.no_such_module", "HiddenTunnelCommunity"))
    config_file = tmp_path / "hidden.json"
    config_file.write_text(json.dumps({"overlays": [{
        "class": "HiddenTunnelCommunity", "key": "anonymous id", "walkers": [], "bootstrappers": [],
        "initialize": {}, "on_start": []}]}))
    options = parse("--config", str(config_file), "--working-dir", str(tmp_path), "--no-rest-api")
    with pytest.raises(SystemExit) as caught:
        ExitNodeServiceMaker().makeService(options)
    assert caught.value.code == 1
    error = capsys.readouterr().err
    assert error == "twistd exitnode: error: overlays: no tunnel community was loaded: this node could not be an exit\n"


# -- a real exit node --------------------------------------------------------------------------------------------

class ChildProcess(ProcessProtocol):
    """A child process on the reactor: its output lines, and a Deferred for its end."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._partial = b""
        #: Fires with None when the process has ended (``reason`` says how).
        self.ended: Deferred[None] = Deferred()
        self.reason: Failure | None = None

    def outReceived(self, data: bytes) -> None:
        self._partial += data
        *complete, self._partial = self._partial.split(b"\n")
        self.lines.extend(line.decode("utf-8", "replace") for line in complete)

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if self._partial:
            self.lines.append(self._partial.decode("utf-8", "replace"))
        self.reason = reason
        self.ended.callback(None)

    def find(self, pattern: str) -> re.Match[str] | None:
        return next((found for line in self.lines if (found := re.search(pattern, line))), None)

    def output(self) -> str:
        return "\n".join(self.lines)


class EchoSink(DatagramProtocol):
    """A UDP service on 127.0.0.1 that records datagrams and answers each as a packet of the same overlay."""

    def __init__(self) -> None:
        self.received: list[tuple[tuple[str, int], bytes]] = []

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.received.append(((addr[0], addr[1]), datagram))
        self.transport.write(SINK_PREFIX + b"echo:" + datagram[len(SINK_PREFIX):], addr)


class InitiatorTunnelCommunity(TunnelCommunity):
    """
    A TunnelCommunity that keeps the IPv8 packets coming back through its circuits.

    Such packets are normally handed to the communities that send anonymously (through a TunnelEndpoint); this
    node has none, so it records them where the data cells arrive.
    """

    def __init__(self, settings: TunnelSettings) -> None:
        super().__init__(settings)
        self.answers: list[tuple[int, tuple[str, int], bytes]] = []

    def on_data(self, source_address: Any, data: bytes, circuit_id: int | None = None) -> None:
        payload = self.serializer.unpack_serializable(DataPayload, data, offset=23)[0]
        circuit = self.circuits.get(payload.circuit_id)
        if circuit is not None and circuit.hop is not None and tuple(source_address) == tuple(circuit.hop.address):
            circuit.beat_heart()
            self.answers.append((payload.circuit_id, (payload.org_address[0], payload.org_address[1]), payload.data))
            return
        super().on_data(source_address, data, circuit_id)


class TestExitNodeCarriesACircuit(unittest.TestCase):
    """``twistd -n exitnode`` on a local network carries a circuit built by another node."""

    timeout = 90

    async def start_exit_node(self, tracker_port: int) -> tuple[ChildProcess, int, bytes]:
        """Start ``twistd -n exitnode`` behind the network guard; returns it, its port and its public key."""
        directory = Path(self.mktemp()).resolve()
        directory.mkdir(parents=True)
        key = default_eccrypto.generate_key("curve25519")
        save_private_key(key, directory / "exit.pem")
        child = ChildProcess()
        arguments = [sys.executable, "-m", "ipv8.test.netguard", str(TWISTD), "-n", "--pidfile=", "exitnode",
                     "--ip", "127.0.0.1", "--port", "0", "--bootstrap", f"127.0.0.1:{tracker_port}",
                     "--working-dir", str(directory), "--key-file", "exit.pem", "--no-rest-api",
                     "--exit-interface", "127.0.0.1"]
        process = reactor.spawnProcess(child, sys.executable, arguments, path=str(directory),
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"})

        async def stop() -> None:
            if child.reason is None:
                process.signalProcess("TERM")
                kill = reactor.callLater(15, lambda: child.reason is None and process.signalProcess("KILL"))
                await child.ended
                if kill.active():
                    kill.cancel()
        self.addCleanup(lambda: Deferred.fromCoroutine(stop()))
        pattern = r"IPv8 is running on 127\.0\.0\.1:(\d+) with .*TunnelCommunity"
        await wait_until(lambda: child.find(pattern) or child.reason is not None, 45, 0.05,
                         what="the exit node's start", describe=child.output)
        running = child.find(pattern)
        self.assertIsNotNone(running, child.output())
        return child, int(running.group(1)), key.pub().key_to_bin()

    async def start_initiator(self, tracker_port: int) -> tuple[IPv8, InitiatorTunnelCommunity]:
        """An IPv8 node in this process with only a TunnelCommunity, bootstrapping from the tracker."""
        config = {
            "interfaces": [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}],
            "keys": [{"alias": "initiator", "generation": "curve25519"}],
            "logger": {"level": "WARNING"},
            "working_directory": str(Path(self.mktemp()).resolve()),
            "walker_interval": 0.1,
            "overlays": [{
                "class": "InitiatorTunnelCommunity", "key": "initiator",
                "walkers": [{"strategy": "RandomWalk", "peers": -1, "init": {"timeout": 3.0}}],
                "bootstrappers": [{"class": "DispersyBootstrapper",
                                   "init": {"ip_addresses": [["127.0.0.1", tracker_port]], "dns_addresses": []}}],
                "initialize": {"min_circuits": 0, "max_circuits": 0},
                "on_start": [],
            }],
        }
        ipv8 = IPv8(config, extra_communities={"InitiatorTunnelCommunity": InitiatorTunnelCommunity})
        (community,) = ipv8.overlays
        community.settings.peer_flags = set()  # it serves nobody: only the exit node can be chosen
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        return ipv8, community

    async def test_a_one_hop_circuit_through_the_exit_node_reaches_a_sink_and_back(self) -> None:
        tracker = TrackerService(0, "127.0.0.1")
        tracker.startService()
        self.addCleanup(tracker.stopService)
        tracker_port = tracker.get_address()[1]
        sink = EchoSink()
        sink_port = reactor.listenUDP(0, sink, interface="127.0.0.1")
        self.addCleanup(sink_port.stopListening)
        sink_address = ("127.0.0.1", sink_port.getHost().port)

        exit_node, exit_port, exit_key = await self.start_exit_node(tracker_port)
        _, initiator = await self.start_initiator(tracker_port)

        # Through the tracker, the initiator meets the exit node and learns its flags from its introductions.
        await wait_until(lambda: initiator.get_candidates(PEER_FLAG_EXIT_IPV8), 30, 0.05,
                         what="the exit node among the initiator's candidates",
                         describe=lambda: f"candidates: {initiator.candidates}\n{exit_node.output()}")
        (exit_peer,) = initiator.get_candidates(PEER_FLAG_EXIT_IPV8)
        self.assertEqual(exit_key, exit_peer.public_key.key_to_bin())
        self.assertEqual(("127.0.0.1", exit_port), tuple(exit_peer.address))
        self.assertEqual(sorted(EXIT_NODE_PEER_FLAGS), sorted(initiator.candidates[exit_peer]))
        # An IPv8-only exit is not a BitTorrent exit: the default data circuits would not end there.
        self.assertEqual([], initiator.get_candidates(PEER_FLAG_EXIT_BT))

        circuit = initiator.create_circuit(1, exit_flags=[PEER_FLAG_EXIT_IPV8])
        self.assertIsNotNone(circuit)
        await wait_until(lambda: circuit.state == CIRCUIT_STATE_READY, 20, 0.02, what="a READY one-hop circuit",
                         describe=lambda: f"state {circuit.state}\n{exit_node.output()}")
        self.assertEqual([exit_key], [hop.public_key_bin for hop in circuit.hops])

        # An IPv8-only exit refuses BitTorrent-like data: this one never reaches the sink. (Sent first, through the
        # same circuit and exit socket, so it would have arrived before the IPv8 packet that follows.)
        self.assertTrue(initiator.tunnel_data(circuit, sink_address, "data", b"d4:text2:bte"))
        datagram = SINK_PREFIX + b"\x01through the twistd exit node"
        self.assertTrue(initiator.tunnel_data(circuit, sink_address, "data", datagram))
        await wait_until(lambda: sink.received and initiator.answers, 20, 0.02, what="the echo back through the circuit",
                         describe=lambda: f"sink: {sink.received}\n{exit_node.output()}")
        ((exit_socket, received),) = sink.received
        self.assertEqual(datagram, received)
        # The datagram left from the exit node's own exit socket on 127.0.0.1, not from its IPv8 port.
        self.assertEqual("127.0.0.1", exit_socket[0])
        self.assertNotEqual(exit_port, exit_socket[1])
        self.assertEqual([(circuit.circuit_id, sink_address, SINK_PREFIX + b"echo:\x01through the twistd exit node")],
                         initiator.answers)
        self.assertEqual({}, dict(initiator.drop_counts))

        # SIGTERM ends the exit node cleanly, and its network guard saw nothing but loopback traffic.
        await self._terminate(exit_node)
        output = exit_node.output()
        self.assertIn(LEGAL_WARNING, output)
        self.assertNotIn("Traceback", output)
        self.assertNotIn("Unhandled", output)
        self.assertNotIn("network guard violation", output)
        self.assertIn("Main loop terminated", output)

    async def _terminate(self, child: ChildProcess) -> None:
        """SIGTERM the exit node and check how it ended (0, or the signal re-raised by Twisted; 3 is the guard)."""
        child.transport.signalProcess("TERM")
        await child.ended
        reason = child.reason
        assert reason is not None
        self.assertTrue(reason.check(ProcessDone, ProcessTerminated), reason)
        status = reason.value.exitCode if reason.value.exitCode is not None else -reason.value.signal
        self.assertIn(status, (0, -signal.SIGTERM), child.output())
