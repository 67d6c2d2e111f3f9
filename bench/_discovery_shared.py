"""Standard-library pieces shared by ``bench/discovery.py`` and its pyipv8 driver ``bench/reference/discovery.py``.

Like ``_harness``, this module never imports ``ipv8``: it is loaded by our interpreter and by the pyipv8 one.

* :data:`BENCH_COMMUNITY_ID` - the community both implementations' benchmark overlays use;
* :func:`rss_bytes` - resident set size from ``/proc/self/statm``;
* :class:`ConvergenceWatch` - when did (half of, all of) the peers first know enough peers;
* :func:`start_tracker` / :func:`stop_tracker` - a txipv8 tracker (``bin/ipv8-tracker``) in its own process.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)

#: Community id (20 bytes) of the benchmark overlay, the same on both sides.
BENCH_COMMUNITY_ID = bytes.fromhex("7478697076382d646973636f766572792d62656e")  # "txipv8-discovery-ben"
#: Every socket of the benchmark lives here.
LOOPBACK = "127.0.0.1"
#: Seconds between two looks at the peer counts while a swarm converges.
POLL_INTERVAL = 0.05
#: Seconds between two points of the convergence curve (``-v``).
CURVE_STEP = 0.5

_TRACKER_READY = re.compile(r"Tracker listening on ([0-9.]+):(\d+)")


def rss_bytes() -> int:
    """This process's resident set size in bytes (second field of ``/proc/self/statm``, in pages)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class ConvergenceWatch:
    """
    Follows the peer counts of a swarm and notes when half of the peers, then all of them, first knew at
    least ``need`` peers. Times are wall-clock seconds and process CPU seconds since :meth:`start`.
    """

    size: int
    need: int
    started_wall: float = 0.0
    started_cpu: float = 0.0
    half: Optional[tuple[float, float]] = None
    everyone: Optional[tuple[float, float]] = None
    last_counts: list[int] = field(default_factory=list)
    #: ``(seconds, fewest peers known, median, peers that know enough)`` about every ``CURVE_STEP`` seconds.
    curve: list[tuple[float, int, int, int]] = field(default_factory=list)

    def start(self) -> None:
        """Start the clocks (wall and CPU)."""
        self.started_wall = time.perf_counter()
        self.started_cpu = time.process_time()

    def elapsed(self) -> tuple[float, float]:
        """``(wall seconds, CPU seconds)`` since :meth:`start`."""
        return time.perf_counter() - self.started_wall, time.process_time() - self.started_cpu

    def observe(self, counts: list[int]) -> bool:
        """Record the current peer counts; True once every peer has at least ``need``."""
        self.last_counts = counts
        ready = sum(1 for count in counts if count >= self.need)
        wall = time.perf_counter() - self.started_wall
        if not self.curve or wall >= self.curve[-1][0] + CURVE_STEP:
            ordered = sorted(counts)
            self.curve.append((round(wall, 2), ordered[0], ordered[len(ordered) // 2], ready))
        if self.half is None and ready * 2 >= self.size:
            self.half = self.elapsed()
        if self.everyone is None and ready == self.size:
            self.everyone = self.elapsed()
        return self.everyone is not None

    def result(self, deadline: float) -> dict[str, Any]:
        """The figures of this round, JSON-ready (a timed-out round reports the deadline and ``timed_out``)."""
        counts = sorted(self.last_counts)
        wall, cpu = self.everyone if self.everyone is not None else self.elapsed()
        return {"seconds": wall, "cpu_seconds": cpu, "timed_out": self.everyone is None, "deadline": deadline,
                "half_seconds": self.half[0] if self.half else None,
                "ready_peers": sum(1 for count in counts if count >= self.need),
                "min_peers": counts[0] if counts else 0,
                "median_peers": counts[len(counts) // 2] if counts else 0, "curve": self.curve}


class TrackerProcess:
    """A txipv8 tracker in a child process, bound to 127.0.0.1 on a port the OS picked."""

    def __init__(self, process: subprocess.Popen, port: int, output: list[str]) -> None:
        self.process = process
        self.port = port
        self.output = output

    @property
    def address(self) -> tuple[str, int]:
        """Where peers find the tracker."""
        return LOOPBACK, self.port


def start_tracker(python: str, env: Optional[dict[str, str]] = None, timeout: float = 20.0) -> TrackerProcess:
    """
    Start ``bin/ipv8-tracker --listen_ip=127.0.0.1 --listen_port=0`` in ``python`` (txipv8's interpreter),
    behind txipv8's network guard, and wait until it reports its port.

    :raises RuntimeError: if the tracker does not report a port within ``timeout`` seconds.
    """
    command = [python, "-m", "ipv8.test.netguard", os.path.join(REPO_ROOT, "bin", "ipv8-tracker"),
               f"--listen_ip={LOOPBACK}", "--listen_port=0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
                               env=env)
    output: list[str] = []
    found = threading.Event()
    port_box: list[int] = []

    def drain() -> None:  # keep reading, so the child never blocks on a full pipe
        for line in process.stdout:
            output.append(line.rstrip())
            match = _TRACKER_READY.search(line)
            if match and not port_box:
                port_box.append(int(match.group(2)))
                found.set()
        found.set()

    threading.Thread(target=drain, name="tracker-output", daemon=True).start()
    if not found.wait(timeout) or not port_box:
        stop_tracker(TrackerProcess(process, 0, output))
        raise RuntimeError("the tracker did not start; its output:\n" + "\n".join(output[-20:]))
    return TrackerProcess(process, port_box[0], output)


def stop_tracker(tracker: TrackerProcess) -> None:
    """Stop the tracker process (SIGTERM, then SIGKILL after 5 s) and wait for it."""
    if tracker.process.poll() is None:
        tracker.process.terminate()
        try:
            tracker.process.wait(5)
        except subprocess.TimeoutExpired:
            tracker.process.kill()
            tracker.process.wait(5)

