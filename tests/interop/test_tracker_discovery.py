"""
Scenario 1: a pyipv8 3.2.1 peer and a txipv8 node (the IPv8 service) find each other through a txipv8 tracker.

The main test runs the tracker in this process (so its counters can be checked); the second one runs the
real ``twistd -n tracker`` command as a subprocess.
"""
from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import ProcessProtocol

from ipv8.configuration import Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy, WalkerDefinition
from ipv8.messaging.addresses import UDPv4Address
from ipv8.service import IPv8
from ipv8.tracker import TrackerService

from .harness import INTEROP_COMMUNITY_ID, InteropCommunity, InteropTestCase, PacketLog

PREFIX = b"\x00\x02" + INTEROP_COMMUNITY_ID
INTRO_RESPONSE, PUNCTURE_REQUEST, PUNCTURE = 245, 250, 249


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago (for commands that need a fixed port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TwistdTracker(ProcessProtocol):
    """``twistd -n tracker`` in a subprocess; ``listening`` fires when it logged that it listens."""

    def __init__(self) -> None:
        self.output: list[str] = []
        self.listening: Deferred = Deferred()
        self.ended: Deferred = Deferred()
        self.running = True

    def outReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self.output.extend(data.decode(errors="replace").splitlines())
        if not self.listening.called and any("Tracker listening on" in line for line in self.output):
            self.listening.callback(None)

    errReceived = outReceived  # noqa: N815 - Twisted's name

    def processEnded(self, reason: Any) -> None:  # noqa: N802, ANN401 - Twisted's name
        self.running = False
        if not self.listening.called:
            self.listening.errback(AssertionError("twistd tracker exited:\n" + "\n".join(self.output)))
        self.ended.callback(None)

    def stop(self) -> Deferred:
        if not self.running:
            return succeed(None)
        self.transport.signalProcess("TERM")
        killer = reactor.callLater(3.0, lambda: self.running and self.transport.signalProcess("KILL"))
        return self.ended.addBoth(lambda _: killer.active() and killer.cancel())


class TestDiscoveryThroughTxipv8Tracker(InteropTestCase):
    def scratch_directory(self) -> str:
        """An empty directory (removed after the test) to run a command in."""
        directory = tempfile.mkdtemp(prefix="txipv8-interop-")
        self.addCleanup(shutil.rmtree, directory, True)
        return directory

    async def start_txipv8_service(self, tracker: UDPv4Address) -> tuple[IPv8, InteropCommunity, PacketLog]:
        """A txipv8 IPv8 service on 127.0.0.1 whose interop overlay bootstraps from ``tracker`` only."""
        config = (ConfigBuilder().clear_keys().clear_overlays()
                  .add_ephemeral_key("interop peer")
                  .set_address("127.0.0.1").set_port(0)
                  .set_log_level("WARNING").set_walker_interval(0.1)
                  .add_overlay("InteropCommunity", "interop peer",
                               [WalkerDefinition(Strategy.RandomWalk, 10, {"timeout": 3.0})],
                               [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                                       {"ip_addresses": [tracker], "dns_addresses": []})],
                               {}, [])
                  .finalize())
        ipv8 = IPv8(config, extra_communities={"InteropCommunity": InteropCommunity})
        log = PacketLog()
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        ipv8.endpoint.add_listener(log)
        community = ipv8.get_overlay(InteropCommunity)
        assert community is not None
        return ipv8, community, log

    async def test_in_process_tracker(self) -> None:
        service = TrackerService(0, "127.0.0.1")
        service.startService()
        self.addCleanup(service.stopService)
        tracker = UDPv4Address(*service.get_address())
        server = service.server

        # pyipv8 first: it registers with the tracker, which knows nobody else yet.
        ref = await self.start_ref_peer("pyipv8", overlays=["interop"], walk=True, trackers=[list(tracker)])
        await self.wait_until(lambda: server.directory.peer_count == 1, 5, "the tracker hearing from pyipv8")

        # Then txipv8: the tracker introduces pyipv8 and asks pyipv8 to puncture towards us.
        ipv8, community, log = await self.start_txipv8_service(tracker)
        me = UDPv4Address(*ipv8.endpoint.get_address())
        await self.wait_until(lambda: ref.mid in {peer.mid for peer in community.get_peers()}, 5,
                              "txipv8 verifying pyipv8", lambda: f"log {log.seen}")
        await ref.wait_for(lambda p: ipv8.keys["interop peer"].mid in p.peer_mids(), 5, "pyipv8 verifying txipv8")
        self.assertGreaterEqual(log.ids_from(tracker, PREFIX)[INTRO_RESPONSE], 1)
        await self.wait_until(lambda: log.ids_from(ref.address, PREFIX)[PUNCTURE] >= 1, 5,
                              "pyipv8's puncture reaching txipv8")
        self.assertNotIn(tracker, {peer.address for peer in community.get_peers()})

        # The other way round: pyipv8 asks the tracker again; now txipv8 is asked to puncture towards pyipv8.
        await ref.command("walk_to", address=list(tracker))
        await self.wait_until(lambda: log.ids_from(tracker, PREFIX)[PUNCTURE_REQUEST] >= 1, 5,
                              "the tracker's puncture request reaching txipv8")
        key = f"{me[0]}:{me[1]}"
        report = await self.report_when(ref, lambda r: r["received"].get(key, {}).get(f"interop:{PUNCTURE}", 0) >= 1)
        tracker_key = f"{tracker[0]}:{tracker[1]}"
        self.assertGreaterEqual(report["received"][tracker_key].get(f"interop:{PUNCTURE_REQUEST}", 0), 1)
        self.assertGreaterEqual(report["received"][tracker_key].get(f"interop:{INTRO_RESPONSE}", 0), 2)
        self.assertEqual([list(me)], [peer["address"] for peer in report["overlays"]["interop"]["peers"]])

        self.assertEqual({}, dict(server.drop_counts))
        self.assertGreaterEqual(server.introductions, 2)
        self.assertEqual(2, server.directory.peer_count)
        self.assertEqual({}, dict(community.drop_counts))

    async def test_twistd_tracker_subprocess(self) -> None:
        port = free_udp_port()
        tracker_process = TwistdTracker()
        twistd = Path(sys.executable).with_name("twistd")
        reactor.spawnProcess(tracker_process, str(twistd),
                             [str(twistd), "-n", "--pidfile=", "tracker", f"--listen_port={port}",
                              "--listen_ip=127.0.0.1"],
                             env=dict(os.environ), path=self.scratch_directory())
        self.addCleanup(tracker_process.stop)
        await tracker_process.listening
        tracker = UDPv4Address("127.0.0.1", port)

        ref = await self.start_ref_peer("pyipv8", overlays=["interop"], walk=True, trackers=[list(tracker)])
        ipv8, community, log = await self.start_txipv8_service(tracker)
        await self.wait_until(lambda: ref.mid in {peer.mid for peer in community.get_peers()}, 10,
                              "txipv8 verifying pyipv8", lambda: "\n".join(tracker_process.output))
        await ref.wait_for(lambda p: ipv8.keys["interop peer"].mid in p.peer_mids(), 10, "pyipv8 verifying txipv8")
        self.assertGreaterEqual(log.ids_from(tracker, PREFIX)[INTRO_RESPONSE], 1)
