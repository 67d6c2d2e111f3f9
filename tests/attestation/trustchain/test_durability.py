"""Crash safety: a signing process killed with SIGKILL at random moments restarts with valid chains and
without losing any agreement it had reported (real subprocesses, real files, real UDP on 127.0.0.1)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ipv8.attestation.trustchain.block import ValidationResult
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.memory import validate_database

NODE = Path(__file__).with_name("durability_node.py")
REPO_ROOT = Path(__file__).resolve().parents[3]
KILLS = 4


def run_until_killed(directory: Path, agreements: int, extra: tuple[str, ...] = ()) -> set[int]:
    """Start the signing process, SIGKILL it after ``agreements`` reported pairs; the reported proposals."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen([sys.executable, str(NODE), str(directory), *extra], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=str(REPO_ROOT))
    reported = set()
    try:
        for _ in range(agreements):
            line = process.stdout.readline()
            assert line, process.stderr.read().decode(errors="replace")
            reported.add(int(line.split()[1]))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    return reported


@pytest.mark.parametrize("extra", [(), ("8", "4")], ids=["one-at-a-time", "window-8-early-commits"])
def test_sigkill_while_signing(tmp_path: Path, extra: tuple[str, ...]) -> None:
    rng = random.Random(15)
    reported: set[int] = set()
    for _ in range(KILLS):
        reported |= run_until_killed(tmp_path, rng.randint(2, 15) * (1 + 2 * bool(extra)), extra)
        for side in ("a", "b"):
            db = TrustChainDB(tmp_path / side / "sqlite" / "trustchain.db")
            verdicts = validate_database(db, workers=1)
            assert verdicts and all(verdict.acceptable for verdict in verdicts.values())
            # Each node's own chain is gapless, from the genesis block on. (The other party's chain may miss
            # blocks: an agreement the countersigner had committed and sent when the process was killed
            # never reached the proposer's database, and the next run proposes anew.)
            blocks = db.get_all_blocks()
            own = next(block.public_key for block in blocks if block.is_proposal == (side == "a"))
            assert db.get_lowest_sequence_number_unknown(own) == db.get_latest(own).sequence_number + 1
            if side == "a":
                proposer = [block for block in db.get_all_blocks() if block.is_proposal][0].public_key
                # Every agreement reported before a kill is still there, with its proposal. (A proposal
                # that was pending at a kill stays unanswered: the next run proposes anew.)
                for seq in sorted(reported):
                    proposal = db.get(proposer, seq)
                    assert proposal is not None
                    assert any(linked.link_sequence_number == seq for linked in db.get_all_linked(proposal))
            db.close()
    assert len(reported) >= KILLS * 2
    assert all(verdict.state != ValidationResult.invalid for verdict in verdicts.values())
