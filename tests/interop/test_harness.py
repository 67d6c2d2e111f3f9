"""The reference-peer harness itself: commands, errors, and cleanup of peers that stop answering."""
from __future__ import annotations

import os
import signal

from twisted.internet import reactor

from .harness import InteropTestCase, RefPeerError, spawn_ref_peer


class TestRefPeerHarness(InteropTestCase):
    async def test_a_frozen_peer_is_killed_after_the_grace_period(self) -> None:
        peer, ready = spawn_ref_peer("frozen", {"overlays": ["interop"]})
        self.addCleanup(lambda: peer.stop(grace=0.1))
        await ready
        os.kill(peer.ready["pid"], signal.SIGSTOP)  # it can no longer notice that stdin closed
        started = reactor.seconds()
        await peer.stop(grace=0.5)
        self.assertGreaterEqual(reactor.seconds() - started, 0.5)
        self.assertIsNone(peer.exit_event)  # it never got to report its exit: it was killed
        self.assertEqual(signal.SIGKILL, peer.exit_signal)
        with self.assertRaises(RefPeerError):
            peer.command("report")

    async def test_a_peer_exits_cleanly_when_stdin_closes_and_reports_errors(self) -> None:
        peer = await self.start_ref_peer("pyipv8", overlays=["interop"])
        with self.assertRaises(RefPeerError) as failed:
            await peer.command("no_such_command")
        self.assertIn("unknown command", str(failed.exception))
        with self.assertRaises(RefPeerError) as refused:
            await peer.command("walk_to", address=["192.0.2.1", 1])  # the driver refuses to leave loopback
        self.assertIn("non-loopback", str(refused.exception))
        await peer.stop()
        self.assertEqual(0, peer.exit_code)
        self.assertEqual("stdin closed", peer.exit_event["reason"])
        self.assertEqual(0, peer.exit_event["refusals"]["total"])

    async def test_the_deadline_stops_a_forgotten_peer(self) -> None:
        peer = await self.start_ref_peer("pyipv8", overlays=["interop"], deadline=0.3)
        await peer.ended
        self.assertEqual("deadline", peer.exit_event["reason"])

    async def test_the_loopback_guard_of_a_peer_is_armed(self) -> None:
        peer, ready = spawn_ref_peer("guarded", {"overlays": ["interop"]})
        self.addCleanup(peer.stop)
        await ready
        report = await peer.command("guard_selftest")
        self.assertEqual({"endpoint.send": 1, "sendto": 1}, report["by_operation"])
        await peer.stop()
        # What check_exit (run after every interop test) would have turned into a failure.
        self.assertEqual(2, peer.exit_event["refusals"]["total"])
