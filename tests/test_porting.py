"""A program written the way the IPv8 documentation's overlay tutorial is written, ported with the
substitutions of doc/basics/porting_from_py_ipv8.md and nothing else, runs on 127.0.0.1."""
from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

from tests.test_doc_examples import ROOT, example_env, guarded_command, run_until_first_line_then_interrupt

PORTING_PAGE = ROOT / "doc" / "basics" / "porting_from_py_ipv8.md"

# Our own program in the shape of the documentation's "Printing the known peers" step: asyncio's run(),
# ipv8.util.run_forever(), ipv8.types.Peer, "medium" (legacy) keys in files, two nodes never stopped explicitly.
# Unlike the documentation (which bootstraps from the public trackers on all interfaces) it binds to
# 127.0.0.1 and bootstraps from the tracker whose port is in the TRACKER_PORT environment variable.
PY_IPV8_PROGRAM = textwrap.dedent('''
    import os
    from asyncio import run

    from ipv8.community import Community
    from ipv8.configuration import (Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy,
                                    WalkerDefinition)
    from ipv8.peerdiscovery.network import PeerObserver
    from ipv8.types import Peer
    from ipv8.util import run_forever
    from ipv8_service import IPv8

    local_bootstrap_defs = [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper, {
        "ip_addresses": [("127.0.0.1", int(os.environ["TRACKER_PORT"]))], "dns_addresses": []})]


    class MyCommunity(Community, PeerObserver):
        community_id = os.urandom(20)

        def on_peer_added(self, peer: Peer) -> None:
            print("I am:", self.my_peer, "I found:", peer, flush=True)

        def on_peer_removed(self, peer: Peer) -> None:
            pass

        def started(self) -> None:
            self.network.add_peer_observer(self)


    async def start_communities() -> None:
        for i in [1, 2]:
            builder = ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1")
            builder.add_key("my peer", "medium", f"ec{i}.pem")
            builder.add_overlay("MyCommunity", "my peer",
                                [WalkerDefinition(Strategy.RandomWalk, 10, {'timeout': 3.0})],
                                local_bootstrap_defs, {}, [('started',)])
            await IPv8(builder.finalize(), extra_communities={'MyCommunity': MyCommunity}).start()
        await run_forever()


    run(start_communities())
''')

#: (pattern, replacement) for the lines the porting page's table changes: the import and the run() call.
SUBSTITUTIONS = [
    (r"^from asyncio import run$",
     "from twisted.internet.defer import ensureDeferred\nfrom twisted.internet.task import react"),
    (r"^run\((\w+)\(\)\)$", r"react(lambda reactor: ensureDeferred(\1()))"),
]

TRACKER_SCRIPT = textwrap.dedent('''
    from twisted.internet.task import react
    from twisted.internet.defer import Deferred
    from ipv8.tracker import TrackerService

    def main(reactor):
        tracker = TrackerService(0, "127.0.0.1")
        tracker.startService()
        print(tracker.get_address()[1], flush=True)
        return Deferred()

    react(main)
''')


def port(program: str) -> str:
    for pattern, replacement in SUBSTITUTIONS:
        program, count = re.subn(pattern, replacement, program, flags=re.MULTILINE)
        assert count == 1, pattern
    return program


def test_the_substitutions_are_the_ones_the_page_lists() -> None:
    page = PORTING_PAGE.read_text()
    assert "| `from asyncio import run` | `from twisted.internet.task import react` and " \
           "`from twisted.internet.defer import ensureDeferred` |" in page
    assert "| `run(main())` | `react(lambda reactor: ensureDeferred(main()))` |" in page
    assert "| `await run_forever()` (from `ipv8.util`) | the same line" in page


def test_ported_tutorial_finds_peers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ported = port(PY_IPV8_PROGRAM)
    assert "asyncio" not in ported
    (tmp_path / "main.py").write_text(ported)
    (tmp_path / "tracker.py").write_text(TRACKER_SCRIPT)
    tracker = subprocess.Popen(guarded_command(tmp_path / "tracker.py"), cwd=tmp_path, env=example_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert tracker.stdout is not None
        tracker_port = int(tracker.stdout.readline())
        env = dict(example_env(), TRACKER_PORT=str(tracker_port))
        # Both nodes print one line when they find the other; then Ctrl-C.
        status, stdout, stderr = run_until_first_line_then_interrupt(guarded_command(tmp_path / "main.py"),
                                                                     tmp_path, lines=2, env=env)
    finally:
        tracker.terminate()
        tracker.communicate(timeout=30)
    assert status == 0, f"{stdout}\n{stderr}"
    found = re.findall(r"^I am: Peer<127\.0\.0\.1:(\d+), (\S+)> I found: Peer<127\.0\.0\.1:(\d+), (\S+)>$",
                       stdout, flags=re.MULTILINE)
    assert len(found) == 2, stdout
    (port_a, mid_a, seen_port_a, seen_mid_a), (port_b, mid_b, seen_port_b, seen_mid_b) = found
    assert (seen_port_a, seen_mid_a) == (port_b, mid_b)
    assert (seen_port_b, seen_mid_b) == (port_a, mid_a)
    assert sorted(path.name for path in tmp_path.glob("ec*.pem")) == ["ec1.pem", "ec2.pem"]
    assert "Traceback" not in stderr, stderr
