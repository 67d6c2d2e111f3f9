"""Shared, standard-library-only plumbing for the txipv8 benchmarks.

This module is imported both by our benchmark scripts (which run in ``.venv`` with txipv8) and by the
reference drivers under ``bench/reference/`` (which run in ``.venv-ref`` with pyipv8 3.2.1). It must
therefore never import ``ipv8``: both packages carry that name and one interpreter can only hold one.

What lives here:

* :func:`rate_per_second` / :func:`interleaved_rates` - best-of-N timing of tight loops;
* :func:`search_lossless_rate` - the send-rate search used by the messaging benchmark, written as a
  plain coroutine so that it runs under Twisted (``ensureDeferred``) and asyncio alike;
* :class:`Row` and :func:`print_table` - the result table with ratios and PASS/FAIL verdicts;
* :func:`run_reference` - runs a reference driver in the pyipv8 interpreter and reads its JSON answer;
* :func:`machine_description`, :func:`parallel_cpu_share` - what the machine is, and how much of its
  second core it gives right now.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, Union

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
REFERENCE_DIR = os.path.join(BENCH_DIR, "reference")
#: Marker that prefixes the single JSON line a reference driver prints on stdout.
RESULT_MARKER = "BENCH-RESULT "


# -- timing ------------------------------------------------------------------------------------------

def _calibrate(loop: Callable[[int], Any], min_time: float) -> int:
    """An iteration count for which ``loop(count)`` takes about ``min_time`` seconds (at least)."""
    count = 16
    while True:
        started = time.perf_counter()
        loop(count)
        elapsed = time.perf_counter() - started
        if elapsed >= min_time / 4:
            break
        count *= 4
    return max(count, int(count * min_time / max(elapsed, 1e-9)))


def rate_per_second(loop: Callable[[int], Any], repeats: int = 5, min_time: float = 0.2) -> float:
    """
    Operations per second of ``loop(n)`` (which performs ``n`` operations), best of ``repeats`` runs.

    The iteration count is first grown until one run takes at least ``min_time`` seconds, so that timer
    resolution and loop set-up are negligible. The best run is reported because on a shared machine
    noise only ever makes a run slower.
    """
    return interleaved_rates({"loop": loop}, repeats, min_time)["loop"]


def interleaved_rates(loops: dict[str, Callable[[int], Any]], repeats: int = 5,
                      min_time: float = 0.2) -> dict[str, float]:
    """
    Like :func:`rate_per_second` for several loops, taking turns run by run.

    Loops that are compared with each other (a verify against raw libsodium) are measured this way, so
    that a slow spell of the machine cannot hit one of them only.
    """
    counts = {name: _calibrate(loop, min_time) for name, loop in loops.items()}
    best = dict.fromkeys(loops, 0.0)
    for _ in range(repeats):
        for name, loop in loops.items():
            started = time.perf_counter()
            loop(counts[name])
            best[name] = max(best[name], counts[name] / (time.perf_counter() - started))
    return best


# -- the send-rate search --------------------------------------------------------------------------------

#: A figure: a number, or a bound ``("<", number)`` when the search only found where it is not
#: (JSON turns the tuple into a list, which is accepted too).
Figure = Union[float, tuple, list]


def is_bound(value: object) -> bool:
    """Whether ``value`` is a bound such as ``("<", 1700.0)`` rather than a number."""
    return isinstance(value, (tuple, list))


def figure_text(value: Optional[Figure], precision: int = 0) -> str:
    """A figure with thousands separators, ``< x`` for an upper bound, ``-`` when absent."""
    if value is None:
        return "-"
    if is_bound(value):
        return f"{value[0]} {value[1]:,.{precision}f}"
    return f"{value:,.{precision}f}"


@dataclass
class Trial:
    """Outcome of sending ``sent`` messages at a requested rate (``None``: as fast as possible)."""

    requested_rate: Optional[float]
    sent: int
    received: int
    send_seconds: float
    receive_seconds: float  # first to last message handled by the receiver

    @property
    def lost(self) -> int:
        """Messages sent but never handled."""
        return self.sent - self.received

    @property
    def loss(self) -> float:
        """Fraction of the messages that was lost."""
        return self.lost / self.sent if self.sent else 0.0

    @property
    def send_rate(self) -> float:
        """The rate the sender actually achieved (messages per second)."""
        return self.sent / self.send_seconds if self.send_seconds > 0 else 0.0

    @property
    def handle_rate(self) -> float:
        """The rate at which the receiver handled messages while they arrived."""
        return self.received / self.receive_seconds if self.receive_seconds > 0 else 0.0

    def describe(self) -> str:
        """One human-readable line about this trial."""
        wanted = "full speed" if self.requested_rate is None else f"{self.requested_rate:,.0f}/s"
        return (f"asked {wanted:>11}: sent {self.sent} at {self.send_rate:,.0f}/s, handled {self.received} "
                f"({self.handle_rate:,.0f}/s), lost {self.lost} ({self.loss:.1%})")


@dataclass
class RateSearch:
    """Result of :func:`search_lossless_rate`."""

    full_speed: Trial
    best_lossless: Optional[Trial] = None
    lowest_lossy_rate: Optional[float] = None
    trials: list[Trial] = field(default_factory=list)

    @property
    def lossless_rate(self) -> float:
        """Highest achieved send rate that lost nothing (0 if none did)."""
        return self.best_lossless.send_rate if self.best_lossless else 0.0

    @property
    def lossless_figure(self) -> Optional[Figure]:
        """The lossless rate for the table: ``("<", rate)`` when only lossy rates were tried in time."""
        if self.best_lossless is None:
            return ("<", self.lowest_lossy_rate) if self.lowest_lossy_rate else None
        return self.lossless_rate

    def to_json(self) -> dict[str, Any]:
        """The figures other processes need."""
        return {"lossless_rate": self.lossless_figure, "full_speed_loss": self.full_speed.loss,
                "full_speed_send_rate": self.full_speed.send_rate,
                "full_speed_handle_rate": self.full_speed.handle_rate,
                "lowest_lossy_rate": self.lowest_lossy_rate,
                "trials": [trial.describe() for trial in self.trials]}


def capacity_hints(dispatch: dict[str, float]) -> dict[str, float]:
    """
    Capacity estimates per case from the socket-less figures, as starting points of the rate search.

    In one process, sender and receiver share a CPU, so the costs of building and of handling a signed
    message add up. (The handling rate seen during a full-speed trial means little there: an event
    loop that reads one datagram per turn starves while the sender sends bursts.)
    """
    build, handle = dispatch["build_signed"], dispatch["dispatch_signed"]
    # Two processes: no hint, the receiver's handling rate at full speed is the better evidence.
    return {"one_process": 1 / (1 / build + 1 / handle), "two_processes": 0.0}


async def search_lossless_rate(run_trial: Callable[[Optional[float]], Awaitable[Trial]], count: int,
                               budget: float, capacity_hint: float = 0.0, precision: float = 0.04,
                               log: Callable[[str], None] = lambda line: None) -> RateSearch:
    """
    Find the highest send rate at which no message is lost, within ``budget`` seconds.

    The first trial runs at full speed and gives the loss at full speed. If it lost messages, rates are
    tried starting at 90% of a capacity estimate: the larger of the receiver's handling rate during
    the full-speed trial and ``capacity_hint`` (see :func:`capacity_hints`). The rate goes up by 20%
    while nothing is lost; while messages are lost it goes down in proportion to the loss (by 10% to
    50%); once both a lossless and a lossy rate are known it bisects, until they are within
    ``precision`` of each other or the next trial would not fit in the remaining time. Rates are
    those the sender actually achieved, which can be below the requested ones when the sender itself
    is the bottleneck.
    """
    deadline = time.monotonic() + budget
    full = await run_trial(None)
    log(full.describe())
    search = RateSearch(full_speed=full, trials=[full])
    if full.lost == 0:
        search.best_lossless = full
        return search
    rate = 0.9 * max(full.handle_rate, capacity_hint, 100.0)
    low = 0.0
    high: Optional[float] = None
    while True:
        expected = count / rate + 0.6  # sending time plus drain time
        if time.monotonic() + expected > deadline:
            break
        trial = await run_trial(rate)
        log(trial.describe())
        search.trials.append(trial)
        actual = min(rate, trial.send_rate)
        if trial.lost == 0:
            if search.best_lossless is None or trial.send_rate > search.best_lossless.send_rate:
                search.best_lossless = trial
            low = max(low, actual)
            if trial.send_rate < 0.97 * rate:  # the sender cannot go faster: asking for more is pointless
                break
        else:
            high = actual if high is None else min(high, actual)
        if high is not None and low > 0:
            if high <= low * (1 + precision):
                break
            rate = (low + high) / 2
        elif high is None:
            rate = rate * 1.2
        else:
            rate = high * min(0.9, max(0.5, 0.95 * (1 - trial.loss)))
    search.lowest_lossy_rate = high
    return search


# -- results -------------------------------------------------------------------------------------------

@dataclass
class Row:
    """
    One line of the result table.

    ``target`` is evaluated by :meth:`verdict`: ``("ratio", 2.0)`` needs ``ours >= 2 * reference``;
    ``("min", x)`` needs ``ours >= x``; ``("relative", name, 0.85)`` needs ``ours >= 0.85 * rows[name]``.
    """

    key: str
    label: str
    ours: Optional[Figure]
    reference: Optional[Figure] = None
    target: Optional[tuple] = None
    unit: str = "/s"
    precision: int = 0
    comparable: bool = True  # False for figures where ours/pyipv8 means nothing (a loss percentage)

    def target_text(self) -> str:
        """How the target reads in the table."""
        if self.target is None:
            return ""
        kind = self.target[0]
        if kind == "ratio":
            return f">= {self.target[1]:g}x pyipv8"
        if kind == "min":
            return f">= {self.target[1]:,.0f}{self.unit}"
        if kind == "relative":
            return f">= {self.target[2]:.0%} of {self.target[1]}"
        if kind == "max":
            return f"<= {self.target[1]:g}{self.unit}"
        return str(self.target)

    def verdict(self, rows: dict[str, Row]) -> str:
        """PASS, FAIL, or ``n/a`` when the target needs a figure this run did not produce."""
        if self.target is None:
            return ""
        if self.ours is None or is_bound(self.ours):
            return "n/a" if self.ours is None else "FAIL"
        kind = self.target[0]
        if kind == "ratio":
            if not self.reference or is_bound(self.reference):
                return "n/a (needs --reference)"
            return "PASS" if self.ours >= self.target[1] * self.reference else "FAIL"
        if kind == "min":
            return "PASS" if self.ours >= self.target[1] else "FAIL"
        if kind == "max":
            return "PASS" if self.ours <= self.target[1] else "FAIL"
        if kind == "relative":
            base = rows.get(self.target[1])
            if base is None or base.ours is None:
                return "n/a"
            return "PASS" if self.ours >= self.target[2] * base.ours else "FAIL"
        return "?"

    def format_value(self, value: Optional[Figure]) -> str:
        """A figure with thousands separators, ``< x`` for an upper bound, or ``-`` when absent."""
        return figure_text(value, self.precision)

    def ratio_text(self) -> str:
        """ours / pyipv8, when both exist (``> x`` when pyipv8's figure is only an upper bound)."""
        if self.ours is None or not self.reference or not self.comparable or is_bound(self.ours):
            return "-"
        if is_bound(self.reference):
            return f"> {self.ours / self.reference[1]:.2f}x"
        return f"{self.ours / self.reference:.2f}x"


def _cells(rows: list[Row], with_reference: bool) -> list[list[str]]:
    by_key = {row.key: row for row in rows}
    header = ["benchmark", "txipv8"] + (["pyipv8 3.2.1", "ratio"] if with_reference else []) + ["target", "result"]
    lines = [header]
    for row in rows:
        cells = [f"{row.label} ({row.unit})" if row.unit else row.label, row.format_value(row.ours)]
        if with_reference:
            cells += [row.format_value(row.reference), row.ratio_text()]
        cells += [row.target_text(), row.verdict(by_key)]
        lines.append(cells)
    return lines


def print_table(rows: list[Row], with_reference: bool, markdown: bool = False) -> None:
    """Print the result table (plain text, or Markdown for the README)."""
    lines = _cells(rows, with_reference)
    if markdown:
        print("| " + " | ".join(lines[0]) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(lines[0]) - 3) + ["---", "---"]) + "|")
        for cells in lines[1:]:
            print("| " + " | ".join(cells) + " |")
        return
    widths = [max(len(cells[i]) for cells in lines) for i in range(len(lines[0]))]
    for number, cells in enumerate(lines):
        text = "  ".join(cell.ljust(width) if i in (0, len(cells) - 2, len(cells) - 1) else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths)))
        print(text.rstrip())
        if number == 0:
            print("-" * len(text.rstrip()))


# -- the reference interpreter -----------------------------------------------------------------------

def use_project_interpreter() -> None:
    """
    Re-run the current script with ``.venv/bin/python`` when this interpreter lacks txipv8's dependencies.

    So ``python bench/serialization.py`` works from any shell once ``make venv`` (or ``make test``) has run.
    """
    try:
        import libnacl  # noqa: F401
        import twisted  # noqa: F401
    except ImportError as exc:
        venv = os.path.join(REPO_ROOT, ".venv")
        project_python = os.path.join(venv, "bin", "python")
        # Compare environments, not binaries: a venv's python is a link to the same executable.
        if os.access(project_python, os.X_OK) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
            os.execv(project_python, [project_python, *sys.argv])
        raise SystemExit(f"{exc}: run the benchmarks with the project interpreter (make venv; .venv/bin/python)")


def reference_python(explicit: Optional[str] = None) -> str:
    """The interpreter that has pyipv8 3.2.1: ``--reference-python``, ``$TXIPV8_REF_PYTHON`` or ``.venv-ref``."""
    candidate = explicit or os.environ.get("TXIPV8_REF_PYTHON") or os.path.join(REPO_ROOT, ".venv-ref", "bin",
                                                                               "python")
    if not os.access(candidate, os.X_OK):
        raise SystemExit(f"pyipv8 interpreter {candidate} not found: run `make ref-venv` first "
                         "(or pass --reference-python)")
    return candidate


def clean_environment() -> dict[str, str]:
    """The environment for child interpreters: without PYTHONPATH, so each finds only its own ``ipv8``."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def run_reference(python: str, script: str, args: list[str], timeout: float) -> dict[str, Any]:
    """Run ``bench/reference/<script>`` in ``python`` and return the JSON result it prints."""
    command = [python, os.path.join(REFERENCE_DIR, script), *args]
    # stdout carries the result; stderr (progress, tracebacks) goes straight to our stderr.
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout, env=clean_environment(),
                               cwd=REPO_ROOT, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    raise RuntimeError(f"{script} (pyipv8) gave no result (exit {completed.returncode}); its output:\n"
                       f"{completed.stdout[-2000:]}")


def emit_result(result: dict[str, Any]) -> None:
    """Print the one result line a reference driver hands back to the benchmark."""
    print(RESULT_MARKER + json.dumps(result), flush=True)


def check_ipv8_origin(module: Any, want_reference: bool) -> None:  # noqa: ANN401
    """Refuse to measure the wrong ``ipv8`` (ours vs pyipv8) by accident."""
    ours = os.path.abspath(module.__file__).startswith(os.path.join(REPO_ROOT, "ipv8") + os.sep)
    if ours == want_reference:
        wanted = "pyipv8 3.2.1" if want_reference else "txipv8 from " + REPO_ROOT
        raise SystemExit(f"expected {wanted}, but imported ipv8 from {module.__file__}")


# -- machine ---------------------------------------------------------------------------------------------

def machine_description() -> str:
    """CPU model, usable cores, Python version and platform, in one line."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{model}, {cores} cores (nproc), Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.system()} {platform.release()}")


_SPIN = ("import sys, time\n"
         "end = time.perf_counter() + float(sys.argv[1]); laps = 0\n"
         "while time.perf_counter() < end:\n"
         "    for _ in range(1000): pass\n"
         "    laps += 1\n"
         "print(laps)\n")


def _spin(copies: int, seconds: float) -> list[int]:
    children = [subprocess.Popen([sys.executable, "-c", _SPIN, str(seconds)], stdout=subprocess.PIPE, text=True)
                for _ in range(copies)]
    return [int(child.communicate()[0]) for child in children]


def parallel_cpu_share(seconds: float = 0.5) -> float:
    """
    The speed of each of two busy processes relative to one process alone (the slower of the two).

    1.0 means two full cores. On a virtual machine the second core may be shared with other guests,
    and the two-process messaging figures only mean something next to this number.
    """
    solo = _spin(1, seconds)[0]
    return min(_spin(2, seconds)) / solo


def load_average() -> str:
    """The 1-minute load average, to spot a busy machine while benchmarking."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"
