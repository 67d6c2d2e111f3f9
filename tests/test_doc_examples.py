"""Run every Python example in ``doc/`` and compare what it prints with the page.

Conventions for doc pages (Markdown):

* A fenced block opened with ```` ```python ```` is executed. All runnable blocks of one page run in
  order in one fresh interpreter (a subprocess), so later blocks see earlier definitions and a page may
  start a Twisted reactor (for example with ``twisted.internet.task.react``).
* A fenced block opened with ```` ```output ```` right after a python block holds exactly what that
  block prints. A line ``...`` in it matches any number of lines; ``<...>`` inside a line matches any text.
* ```` ```python no-run ```` marks a fragment that is shown but not executed (keep these rare: say why
  next to it).
* ```` ```python program ```` marks a complete program, typically one that ends with
  ``react(...)``, which ends the process. It runs in a fresh interpreter of its own, after the page's ordinary
  blocks that precede it (so it may use their definitions; their output is not compared there). Later blocks
  do not see its definitions, and the shared interpreter of the ordinary blocks does not run it.
* ```` ```python program sigint ```` is a program that runs until it is interrupted: the runner waits until
  it has printed its first line (after the prelude), sends it ``SIGINT`` (Ctrl-C) and requires it to exit
  with status 0 within ``SIGINT_GRACE`` seconds. The output block then holds everything it printed, before and after Ctrl-C.
* A block option ``ports=14410-14412`` (or ``ports=6421,8085``) lists fixed TCP/UDP port numbers the example
  uses, so that a page can show the numbers a reader types. The runner moves them all by one offset to ports
  that are free on ``127.0.0.1`` (the test suite may run next to other suites and services), rewrites those
  numbers in the code it runs (for a program: its prelude too; for ordinary blocks: the page's whole script)
  and rewrites them back in what the code printed, so the output block shows the documented numbers.
"""
from __future__ import annotations

import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "doc"
MARKER = "@@txipv8-doc-block-{}@@"
FENCE = re.compile(r"^```(\w[\w-]*)?(.*)$")
#: Seconds a ``sigint`` program gets to print its first line, and then to exit after Ctrl-C.
SIGINT_STARTUP = 60.0
SIGINT_GRACE = 30.0


class Example(NamedTuple):
    """One runnable python block of a page."""

    body: str
    expected: str | None
    options: frozenset[str]
    #: The ordinary blocks above this one (only filled in for programs): what its interpreter runs first.
    prelude: str = ""

    @property
    def program(self) -> bool:
        return "program" in self.options


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


def runnable(blocks: list[tuple[str, str, str]]) -> list[Example]:
    """Every runnable python block with the output block that follows it (if any), in page order."""
    result: list[Example] = []
    prelude: list[str] = []
    for index, (kind, options, body) in enumerate(blocks):
        flags = frozenset(options.split())
        if kind != "python" or "no-run" in flags:
            continue
        expected = None
        if index + 1 < len(blocks) and blocks[index + 1][0] == "output":
            expected = blocks[index + 1][2]
        if "program" in flags:
            result.append(Example(body, expected, flags, "".join(prelude)))
        else:
            result.append(Example(body, expected, flags))
            prelude.append(body)
    return result


def documented_ports(options: frozenset[str]) -> list[int]:
    """The port numbers of a ``ports=`` block option (``a-b`` ranges and commas), sorted; [] without one."""
    ports: set[int] = set()
    for option in options:
        if not option.startswith("ports="):
            continue
        for part in option[len("ports="):].split(","):
            first, _, last = part.partition("-")
            ports.update(range(int(first), int(last or first) + 1))
    assert all(0 < port < 65536 for port in ports), f"bad ports option in {sorted(options)}"
    return sorted(ports)


def _port_is_free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_map(ports: list[int], attempts: int = 200) -> dict[int, int]:
    """
    Map every documented port to ``port + offset``, for one offset that makes all of them free on
    ``127.0.0.1`` (TCP and UDP) and moves them clear of the documented range and of the ephemeral ports.
    """
    if not ports:
        return {}
    span = ports[-1] - ports[0]
    low, high = 20000 - ports[0], 32000 - ports[-1]  # below Linux's ephemeral range (32768-60999)
    for _ in range(attempts):
        offset = random.randint(low, high)
        if abs(offset) <= span:
            continue
        if all(_port_is_free(port + offset) for port in ports):
            return {port: port + offset for port in ports}
    raise AssertionError(f"found no free ports for {ports}")


def renumber(text: str, mapping: dict[int, int]) -> str:
    """Replace every whole-number occurrence of a key of ``mapping`` in ``text`` with its value, in one pass."""
    if not mapping:
        return text
    pattern = re.compile(r"(?<![\w.])(" + "|".join(str(port) for port in mapping) + r")(?![\w])")
    return pattern.sub(lambda match: str(mapping[int(match.group(1))]), text)


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
    return [page for page in pages if any(not ex.program for ex in runnable(parse_blocks(page.read_text())))]


def doc_programs() -> list[tuple[Path, int]]:
    pages = [ROOT / "README.md", *sorted(DOC.rglob("*.md"))]
    return [(page, number) for page in pages
            for number, example in enumerate(ex for ex in runnable(parse_blocks(page.read_text())) if ex.program)]


def guarded_command(script_file: Path) -> list[str]:
    """Run ``script_file`` unbuffered behind the network guard: a send outside loopback exits with status 3."""
    return [sys.executable, "-u", "-m", "ipv8.test.netguard", str(script_file)]


def example_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0")


def check_output(where: str, example: Example, actual: str) -> None:
    if example.expected is not None:
        assert output_matches(example.expected, actual), (
            f"{where}:\n{example.body}\n--- expected ---\n{example.expected}\n--- printed ---\n{actual}")


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_page_examples(page: Path, tmp_path: Path) -> None:
    examples = [ex for ex in runnable(parse_blocks(page.read_text())) if not ex.program]
    script = []
    for number, example in enumerate(examples):
        script.append(f"print({MARKER.format(number)!r}, flush=True)\n")
        script.append(example.body)
    ports = free_port_map(documented_ports(frozenset().union(*(ex.options for ex in examples))))
    script_file = tmp_path / "doc_example.py"
    script_file.write_text(renumber("".join(script), ports))
    completed = subprocess.run(guarded_command(script_file), cwd=tmp_path, env=example_env(),
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode != 3, f"{page} examples tried to leave the loopback network:\n{completed.stderr}"
    assert completed.returncode == 0, f"{page} examples failed:\n{completed.stdout}\n{completed.stderr}"
    back = {moved: port for port, moved in ports.items()}
    pieces = re.split(r"@@txipv8-doc-block-\d+@@\n", renumber(completed.stdout, back))[1:]
    assert len(pieces) == len(examples), completed.stdout
    for number, (example, actual) in enumerate(zip(examples, pieces)):
        check_output(f"{page}, example {number + 1}", example, actual)


def run_until_first_line_then_interrupt(command: list[str], cwd: Path, after: str = "", lines: int = 1,
                                        env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """
    Start ``command``, send it SIGINT once it printed ``lines`` lines (after the text ``after``, if given), and
    collect its exit status and output.
    """
    process = subprocess.Popen(command, cwd=cwd, env=env or example_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None
    stdout = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + SIGINT_STARTUP
            while not printed_lines(stdout, after, lines) and time.monotonic() < deadline and process.poll() is None:
                if selector.select(timeout=0.1):
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    stdout += chunk
        assert printed_lines(stdout, after, lines), f"the program did not print enough before it ended: {stdout!r}"
        assert process.poll() is None, "the program ended before it was interrupted"
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=SIGINT_GRACE)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, (stdout + rest).decode(), stderr.decode()


def printed_lines(stdout: bytes, after: str, lines: int) -> bool:
    if not after:
        return stdout.count(b"\n") >= lines
    _, found, tail = stdout.partition(after.encode())
    return bool(found) and tail.count(b"\n") >= lines


@pytest.mark.parametrize("page,number", doc_programs(),
                         ids=lambda value: str(value.relative_to(ROOT)) if isinstance(value, Path) else str(value))
def test_doc_page_programs(page: Path, number: int, tmp_path: Path) -> None:
    example = [ex for ex in runnable(parse_blocks(page.read_text())) if ex.program][number]
    script_file = tmp_path / "doc_program.py"
    # The prelude's output is not part of the program's expected output: cut it off at a marker.
    ports = free_port_map(documented_ports(example.options))
    script_file.write_text(renumber(f"{example.prelude}print({MARKER.format('program')!r}, flush=True)\n"
                                    f"{example.body}", ports))
    where = f"{page}, program {number + 1}"
    marker = MARKER.format("program") + "\n"
    if "sigint" in example.options:
        # Interrupt only once the program itself (not its prelude) has printed a line.
        status, stdout, stderr = run_until_first_line_then_interrupt(guarded_command(script_file), tmp_path,
                                                                     after=marker)
    else:
        completed = subprocess.run(guarded_command(script_file), cwd=tmp_path, env=example_env(),
                                   capture_output=True, text=True, timeout=120)
        status, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    printed = renumber(stdout.split(marker, 1)[-1], {moved: port for port, moved in ports.items()})
    assert status != 3, f"{where} tried to leave the loopback network:\n{stderr}"
    assert status == 0, f"{where} failed with status {status}:\n{stdout}\n{stderr}"
    check_output(where, example, printed)


def test_output_matching_rules() -> None:
    assert output_matches("a\nb\n", "a\nb\n")
    assert not output_matches("a\nb\n", "a\nc\n")
    assert output_matches("a\n...\nz\n", "a\nb\nc\nz\n")
    assert output_matches("object at <...>\n", "object at 0x7f\n")
    assert not output_matches("a\n", "a\nextra\n")


def test_programs_run_after_the_ordinary_blocks_above_them() -> None:
    page = "\n".join([
        "```python", "A = 1", "```",
        "```python program", "print(A)", "```",
        "```output", "1", "```",
        "```python", "B = 2", "```",
        "```python program sigint", "print(A + B)", "```",
        "```python no-run", "never()", "```",
    ])
    examples = runnable(parse_blocks(page))
    assert [(ex.body, ex.program, ex.prelude) for ex in examples] == [
        ("A = 1\n", False, ""), ("print(A)\n", True, "A = 1\n"), ("B = 2\n", False, ""),
        ("print(A + B)\n", True, "A = 1\nB = 2\n")]
    assert examples[1].expected == "1\n"
    assert "sigint" in examples[3].options


def test_documented_ports_are_moved_to_free_ones() -> None:
    assert documented_ports(frozenset({"program", "ports=14410-14412,8085"})) == [8085, 14410, 14411, 14412]
    assert documented_ports(frozenset({"program"})) == []
    mapping = free_port_map([14410, 14411, 14412])
    offsets = {moved - port for port, moved in mapping.items()}
    assert len(offsets) == 1 and abs(offsets.pop()) > 2
    assert all(_port_is_free(moved) for moved in mapping.values())
    code = "start(14410 + n); url = 'http://localhost:14411/x'; key = 'ab14411cd'; t = 1.14411; p = 144110\n"
    moved = renumber(code, mapping)
    assert moved == (f"start({mapping[14410]} + n); url = 'http://localhost:{mapping[14411]}/x'; "
                     "key = 'ab14411cd'; t = 1.14411; p = 144110\n")
    assert renumber(moved, {new: old for old, new in mapping.items()}) == code


def test_interrupted_program_must_exit_cleanly(tmp_path: Path) -> None:
    # The sigint runner itself: a program that ignores Ctrl-C's KeyboardInterrupt status is caught.
    crashing = tmp_path / "crash.py"
    crashing.write_text("import time\nprint('up', flush=True)\ntime.sleep(30)\n")
    status, stdout, stderr = run_until_first_line_then_interrupt([sys.executable, "-u", str(crashing)], tmp_path)
    assert stdout == "up\n"
    assert status != 0 and "KeyboardInterrupt" in stderr
    clean = tmp_path / "clean.py"
    # 'up' is printed inside the try: Ctrl-C may arrive as soon as it is read.
    clean.write_text("import time\ntry:\n    print('up', flush=True)\n    time.sleep(30)\n"
                     "except KeyboardInterrupt:\n    print('bye')\n")
    assert run_until_first_line_then_interrupt([sys.executable, "-u", str(clean)], tmp_path)[:2] == (0, "up\nbye\n")
