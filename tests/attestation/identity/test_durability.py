"""Crash safety of the identity database: a process adding credentials, killed with SIGKILL at several moments,
leaves a database whose every token has its metadata and whose chain verifies back to the root."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ipv8.attestation.identity.manager import IdentityManager
from ipv8.keyvault.crypto import default_eccrypto

NODE = Path(__file__).with_name("durability_node.py")
REPO_ROOT = Path(__file__).resolve().parents[3]


def run_until_killed(path: Path, key_hex: str, credentials: int) -> int:
    """Let the process report ``credentials`` stored credentials, then SIGKILL it; the last count it reported."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen([sys.executable, str(NODE), str(path), key_hex], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, cwd=str(REPO_ROOT))
    last = 0
    try:
        for _ in range(credentials):
            line = process.stdout.readline()
            assert line, process.stderr.read().decode(errors="replace")
            last = int(line.split()[1])
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    return last


def test_sigkill_while_adding_credentials(tmp_path: Path) -> None:
    key = default_eccrypto.generate_key("curve25519")
    path = tmp_path / "sqlite" / "identity.db"
    reported = 0
    for credentials in (7, 3, 11):
        reported = run_until_killed(path, key.key_to_bin().hex(), credentials)
        manager = IdentityManager(str(path))
        pseudonym = manager.get_pseudonym(key)
        tokens = pseudonym.tree.elements
        metadata = {m.token_pointer for m in manager.database.get_metadata_for(key.pub())}
        assert len(tokens) >= reported  # nothing reported as stored was lost
        assert set(tokens) == metadata  # no token without its metadata, no metadata without its token
        # One chain: every token verifies back to the root and exactly one has no successor.
        assert all(pseudonym.tree.verify(token, -1) for token in tokens.values())
        successors = {token.previous_token_hash for token in tokens.values()}
        assert len([h for h in tokens if h not in successors]) == 1
        manager.close()
