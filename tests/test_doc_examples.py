"""Run every Python example in ``doc/`` and compare what it prints with the page.

Conventions for doc pages (Markdown):

* A fenced block opened with ```` ```python ```` is executed. All runnable blocks of one page run in
  order in one fresh interpreter (a subprocess), so later blocks see earlier definitions and a page may
  start a Twisted reactor (for example with ``twisted.internet.task.react``).
* A fenced block opened with ```` ```output ```` right after a python block holds exactly what that
  block prints. A line ``...`` in it matches any number of lines; ``<...>`` inside a line matches any text.
* ```` ```python no-run ```` marks a fragment that is shown but not executed (keep these rare: say why
  next to it).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "doc"
MARKER = "@@txipv8-doc-block-{}@@"
FENCE = re.compile(r"^```(\w[\w-]*)?(.*)$")


def parse_blocks(text: str) -> list[tuple[str, str, str]]:
    """Return (kind, options, body) for every fenced block of a Markdown page."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i].strip()) if lines[i].startswith("```") else None
        if match and lines[i].strip() != "```":
            kind, options = match.group(1) or "", match.group(2).strip()
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append((kind, options, "\n".join(body) + "\n"))
        i += 1
    return blocks


def runnable(blocks: list[tuple[str, str, str]]) -> list[tuple[str, str | None]]:
    """Pair every runnable python block with the output block that follows it (if any)."""
    result: list[tuple[str, str | None]] = []
    for index, (kind, options, body) in enumerate(blocks):
        if kind != "python" or "no-run" in options:
            continue
        expected = None
        if index + 1 < len(blocks) and blocks[index + 1][0] == "output":
            expected = blocks[index + 1][2]
        result.append((body, expected))
    return result


def output_matches(expected: str, actual: str) -> bool:
    """Compare printed text with the expected block, honouring the ``...`` and ``<...>`` wildcards."""
    pattern = []
    for line in expected.rstrip("\n").split("\n"):
        if line.strip() == "...":
            pattern.append(r"(?:.*\n)*?")
        else:
            pattern.append(".*?".join(re.escape(part) for part in line.rstrip().split("<...>")) + r"[ \t]*\n")
    return re.fullmatch("".join(pattern), actual.rstrip("\n") + "\n") is not None


def doc_pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted(DOC.rglob("*.md"))]
    return [page for page in pages if runnable(parse_blocks(page.read_text()))]


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_page_examples(page: Path, tmp_path: Path) -> None:
    examples = runnable(parse_blocks(page.read_text()))
    script = []
    for number, (body, _) in enumerate(examples):
        script.append(f"print({MARKER.format(number)!r}, flush=True)\n")
        script.append(body)
    script_file = tmp_path / "doc_example.py"
    script_file.write_text("".join(script))
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0")
    # The examples run under the network guard: a send outside loopback exits with status 3.
    completed = subprocess.run([sys.executable, "-m", "ipv8.test.netguard", str(script_file)], cwd=tmp_path,
                               env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode != 3, f"{page} examples tried to leave the loopback network:\n{completed.stderr}"
    assert completed.returncode == 0, f"{page} examples failed:\n{completed.stdout}\n{completed.stderr}"
    pieces = re.split(r"@@txipv8-doc-block-\d+@@\n", completed.stdout)[1:]
    assert len(pieces) == len(examples), completed.stdout
    for number, ((body, expected), actual) in enumerate(zip(examples, pieces)):
        if expected is not None:
            assert output_matches(expected, actual), (
                f"{page}, example {number + 1}:\n{body}\n--- expected ---\n{expected}\n--- printed ---\n{actual}")


def test_output_matching_rules() -> None:
    assert output_matches("a\nb\n", "a\nb\n")
    assert not output_matches("a\nb\n", "a\nc\n")
    assert output_matches("a\n...\nz\n", "a\nb\nc\nz\n")
    assert output_matches("object at <...>\n", "object at 0x7f\n")
    assert not output_matches("a\n", "a\nextra\n")
