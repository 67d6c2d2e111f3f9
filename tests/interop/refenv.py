"""
Locate (or build, once) the interpreter that runs the pyipv8 3.2.1 reference peers.

pyipv8 and txipv8 are both imported as ``ipv8``, so the reference peers run in their own virtual environment,
``<repo>/.venv-ref`` (what ``make ref-venv`` builds). When it is missing this module tries to build it, exactly
once per machine state: a file lock keeps parallel test runs from building it at the same time, and a failed
attempt is remembered (in ``.venv-ref/.interop-setup-failed``) for :data:`FAILURE_MEMORY` seconds, so a machine
without a package registry does not pay for a pip timeout in every run. Every interop test is then skipped with
the recorded reason, which quotes pip's error line. Delete that file to retry sooner.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
REF_VENV = REPO_ROOT / ".venv-ref"
REF_PYTHON = REF_VENV / "bin" / "python"
REFERENCE_REQUIREMENT = "pyipv8==3.2.1"
REFERENCE_VERSION = "3.2.1"
LOCK_FILE = REF_VENV / ".interop-setup.lock"
FAILURE_FILE = REF_VENV / ".interop-setup-failed"
#: Seconds during which a failed build is not retried.
FAILURE_MEMORY = 3600.0
#: Seconds allowed for ``python -m venv`` plus ``pip install``.
BUILD_TIMEOUT = 600.0

# Prints the installed pyipv8 version; fails if the interpreter would import anything but pyipv8.
_PROBE = (
    "import importlib.metadata as m, ipv8, ipv8_service, pathlib, sys\n"
    "assert 'site-packages' in pathlib.Path(ipv8.__file__).parts, ipv8.__file__\n"
    "print(m.version('pyipv8'))\n"
)


@dataclass(frozen=True)
class ReferenceInterpreter:
    """The outcome of the search: a usable interpreter, or the reason why there is none."""

    python: Path | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.python is not None


def _clean_env() -> dict[str, str]:
    """An environment in which the reference interpreter cannot see txipv8 (no PYTHONPATH, no user site)."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def reference_env() -> dict[str, str]:
    """The environment to start reference peers with."""
    env = _clean_env()
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _probe(python: Path) -> str | None:
    """None if ``python`` runs pyipv8 3.2.1, otherwise what is wrong with it."""
    if not python.exists():
        return f"{python} does not exist"
    try:
        done = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60,
                              env=_clean_env(), cwd=str(REF_VENV), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} cannot be run: {exc}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        return f"{python} cannot import pyipv8: {lines[-1]}"
    version = done.stdout.strip()
    if version != REFERENCE_VERSION:
        return f"{python} has pyipv8 {version}, the interop suite needs {REFERENCE_VERSION}"
    return None


def _error_line(output: str) -> str:
    """The most telling line of pip's (or venv's) output: its first ``ERROR:`` line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR:"):
            return line
    return lines[-1] if lines else "(no output)"


def _run_step(command: list[str], shown_as: str) -> str | None:
    """Run one build step; None on success, else ``shown_as`` and the telling line of its output."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                              env=_clean_env(), cwd=str(REPO_ROOT), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{shown_as}` failed: {exc}"
    if done.returncode != 0:
        return f"`{shown_as}` failed: {_error_line(done.stderr + done.stdout)}"
    return None


def _build() -> str | None:
    """Create the virtual environment (if needed) and install pyipv8 into it; None on success, else the error."""
    if not REF_PYTHON.exists():
        creator = shutil.which("python3") or sys.executable
        failure = _run_step([creator, "-m", "venv", str(REF_VENV)], "python3 -m venv .venv-ref")
        if failure is not None:
            return failure
    return _run_step([str(REF_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      REFERENCE_REQUIREMENT], f".venv-ref/bin/pip install {REFERENCE_REQUIREMENT}")


def _remembered_failure() -> str | None:
    try:
        record = json.loads(FAILURE_FILE.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or time.time() - float(record.get("time", 0)) > FAILURE_MEMORY:
        return None
    return str(record.get("reason", "")) or None


def _remember_failure(reason: str) -> None:
    FAILURE_FILE.write_text(json.dumps({"time": time.time(), "reason": reason}))


def _locate() -> ReferenceInterpreter:
    problem = _probe(REF_PYTHON)
    if problem is None:
        return ReferenceInterpreter(REF_PYTHON)
    REF_VENV.mkdir(exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it right now: wait for it
        try:
            if _probe(REF_PYTHON) is None:
                return ReferenceInterpreter(REF_PYTHON)
            remembered = _remembered_failure()
            if remembered is not None:
                return ReferenceInterpreter(None, remembered)
            failure = _build()
            if failure is None:
                failure = _probe(REF_PYTHON)
            if failure is None:
                FAILURE_FILE.unlink(missing_ok=True)
                return ReferenceInterpreter(REF_PYTHON)
            reason = f"no pyipv8 {REFERENCE_VERSION} reference interpreter ({problem}); building it failed: {failure}"
            _remember_failure(reason)
            return ReferenceInterpreter(None, reason)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


_FOUND: ReferenceInterpreter | None = None


def reference_interpreter() -> ReferenceInterpreter:
    """The reference interpreter of this test session (searched, and built if needed, on the first call)."""
    global _FOUND  # noqa: PLW0603 - one search per session
    if _FOUND is None:
        _FOUND = _locate()
    return _FOUND
