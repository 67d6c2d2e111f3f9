"""The test framework's own guarantees: deadlock detection, temporary files, shortcuts."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ipv8.community import Community
from ipv8.test.base import TestBase

ROOT = Path(__file__).resolve().parent.parent


class Quiet(Community):
    community_id = b"\x33" * 20


def run_test_module(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    module = tmp_path / "test_sample.py"
    module.write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "twisted.trial", "test_sample"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_blocked_reactor_is_reported_and_stopped(tmp_path: Path) -> None:
    result = run_test_module(tmp_path, """
        import time
        from ipv8.test.base import TestBase

        class Blocked(TestBase):
            MAX_TEST_TIME = 0.5
            DEADLOCK_GRACE = 0.5

            def test_block(self):
                time.sleep(30)
    """)
    assert result.returncode == 1
    assert "the reactor has been blocked" in result.stderr
    assert "Threads:" in result.stderr and "test_block" in result.stderr


def test_slow_test_times_out_with_a_dump(tmp_path: Path) -> None:
    result = run_test_module(tmp_path, """
        from twisted.internet.defer import Deferred
        from ipv8.test.base import TestBase

        class Slow(TestBase):
            MAX_TEST_TIME = 0.5

            def test_wait_forever(self):
                from twisted.internet import reactor
                reactor.callLater(60, lambda: None)
                return Deferred()
    """)
    assert result.returncode != 0
    assert "still running after MAX_TEST_TIME=0.5s" in result.stderr
    assert "Pending delayed calls:" in result.stderr
    assert "TimeoutError" in result.stdout or "timed out" in result.stdout.lower()


class TestFrameworkShortcuts(TestBase[Quiet]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(Quiet, 2)

    def test_shortcuts_are_consistent(self) -> None:
        self.assertEqual(self.my_peer(0).mid, self.mid(0))
        self.assertEqual(self.public_key(0).key_to_bin(), self.key_bin(0))
        self.assertEqual(self.private_key(0).key_to_bin(), self.key_bin_private(0))
        self.assertEqual(self.peer(1), self.network(0).get_verified_by_public_key_bin(self.key_bin(1)))
        self.assertIs(self.node(1).overlay, self.overlay(1))
        self.assertIs(self.node(1).endpoint, self.endpoint(1))
        self.assertEqual(self.address(1), self.peer(1).address)
        self.assertNotEqual(self.address(0), self.address(1))

    def test_temporary_directory_is_removed(self) -> None:
        directory = self.temporary_directory()
        Path(directory, "file").write_text("x")
        self.assertTrue(os.path.isdir(directory))
        # Trial runs cleanups before tearDown, so check after our own tearDown has finished.
        self.after_teardown = lambda: self.assertFalse(os.path.exists(directory))

    def tearDown(self):  # type: ignore[no-untyped-def]
        check = getattr(self, "after_teardown", None)
        return super().tearDown().addCallback(lambda _: check() if check else None)

    async def test_add_node_to_experiment(self) -> None:
        node = self.create_node()
        self.add_node_to_experiment(node)
        self.assertEqual(3, len(self.nodes))
        self.assertEqual(2, len(self.overlay(2).get_peers()))
        self.assertTrue(self.overlay(2).raise_handler_errors)

    async def test_deliver_messages_waits_for_slow_links(self) -> None:
        self.internet.set_link(self.address(0), self.address(1), latency=0.2)
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual(0, self.internet.in_flight)
        self.assertEqual(2, self.internet.delivered)  # the request (slow link) and the response

    async def test_lossy_links_drop_packets(self) -> None:
        self.internet.set_link(self.address(0), self.address(1), loss=1.0)
        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual(1, self.internet.lost)
        self.assertEqual(0, self.internet.delivered)
