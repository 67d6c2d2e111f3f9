"""``make docs``: the pydoctor API reference builds, and no cross-reference in our docstrings is broken."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "doc" / "build_api.py"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pydoctor") is None,
                                reason="pydoctor is not installed (it is in the test extras: pip install -e '.[test]')")


def build(output: Path, *sources: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BUILD), str(output), *map(str, sources)], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)


def test_checker_reports_broken_links_and_accepts_sphinx_targets(tmp_path: Path) -> None:
    package = tmp_path / "demo"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package; see :mod:`.things`."""\n')
    (package / "things.py").write_text(textwrap.dedent('''
        """Things: :class:`~demo.things.Thing`, :func:`make`, :class:`~twisted.internet.defer.Deferred`."""


        class Thing:
            """A thing; see :meth:`Thing.missing` and :class:`Nowhere`."""


        def make() -> Thing:
            """Make a :class:`Thing`, unlike :func:`os.urandom`."""
            return Thing()
    '''))
    done = build(tmp_path / "api", package)
    assert done.returncode == 1, done.stdout + done.stderr
    broken = done.stdout.split("broken cross-reference(s) in txipv8's docstrings:\n", 1)[1]
    assert '"demo.things.Thing.missing"' in broken
    assert '"Nowhere"' in broken
    assert broken.count("Cannot find link target") == 2  # the ~, the relative and the external ones are fine
    assert "2 links to external documentation left unresolved" in done.stdout
    assert (tmp_path / "api" / "demo.things.Thing.html").exists()


def test_api_reference_of_txipv8_has_no_broken_links(tmp_path: Path) -> None:
    done = build(tmp_path / "api")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "api" / "index.html").exists()
    assert (tmp_path / "api" / "ipv8.peer.Peer.html").exists()
    assert (tmp_path / "api" / "ipv8.logging_bridge.html").exists()
