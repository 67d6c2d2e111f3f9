"""How the interop suite finds, builds (once) or gives up on the pyipv8 reference interpreter."""
from __future__ import annotations

from pathlib import Path

import pytest
from twisted.trial.unittest import SkipTest

from . import harness, refenv

PIP_OUTPUT = """\
Looking in indexes: https://registry.invalid/simple
WARNING: Retrying (Retry(total=4)) after connection broken
ERROR: Could not find a version that satisfies the requirement pyipv8==3.2.1 (from versions: none)
ERROR: No matching distribution found for pyipv8==3.2.1
"""


@pytest.fixture
def empty_reference_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the module at a directory without a reference interpreter."""
    venv = tmp_path / ".venv-ref"
    monkeypatch.setattr(refenv, "REF_VENV", venv)
    monkeypatch.setattr(refenv, "REF_PYTHON", venv / "bin" / "python")
    monkeypatch.setattr(refenv, "LOCK_FILE", venv / ".interop-setup.lock")
    monkeypatch.setattr(refenv, "FAILURE_FILE", venv / ".interop-setup-failed")
    monkeypatch.setattr(refenv, "_FOUND", None)
    return venv


def test_error_line_is_pips_first_error() -> None:
    assert refenv._error_line(PIP_OUTPUT) == ("ERROR: Could not find a version that satisfies the requirement "
                                              "pyipv8==3.2.1 (from versions: none)")
    assert refenv._error_line("just one line\n") == "just one line"
    assert refenv._error_line("") == "(no output)"


def test_failed_build_is_tried_once_and_explains_itself(empty_reference_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    def failing_build() -> str:
        attempts.append(1)
        return f"`.venv-ref/bin/pip install pyipv8==3.2.1` failed: {refenv._error_line(PIP_OUTPUT)}"

    monkeypatch.setattr(refenv, "_build", failing_build)
    found = refenv.reference_interpreter()
    assert not found.available
    assert "ERROR: Could not find a version that satisfies the requirement pyipv8==3.2.1" in found.reason
    assert "does not exist" in found.reason
    assert refenv.reference_interpreter() is found  # one search per session

    # A later session (another pytest run) remembers the failure instead of paying for pip again.
    monkeypatch.setattr(refenv, "_FOUND", None)
    assert refenv.reference_interpreter().reason == found.reason
    assert attempts == [1]

    # Once the memory is stale, it tries again.
    monkeypatch.setattr(refenv, "FAILURE_MEMORY", -1.0)
    monkeypatch.setattr(refenv, "_FOUND", None)
    refenv.reference_interpreter()
    assert attempts == [1, 1]


def test_successful_build_is_used(empty_reference_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    monkeypatch.setattr(refenv, "_build", lambda: built.append(1))
    monkeypatch.setattr(refenv, "_probe", lambda python: None if built else "missing")
    found = refenv.reference_interpreter()
    assert found.available and found.python == refenv.REF_PYTHON
    assert built == [1]


def test_interop_tests_skip_with_the_exact_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "no pyipv8 3.2.1 reference interpreter (...); building it failed: ERROR: No matching distribution"
    monkeypatch.setattr(refenv, "_FOUND", refenv.ReferenceInterpreter(None, reason))
    with pytest.raises(SkipTest) as skipped:
        harness.InteropTestCase("setUp").setUp()
    assert str(skipped.value) == reason
    with pytest.raises(SkipTest) as skipped:
        harness.spawn_ref_peer("pyipv8", {})
    assert str(skipped.value) == reason
