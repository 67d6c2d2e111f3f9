"""Standard-library pieces shared by ``bench/dht.py`` and its pyipv8 driver ``bench/reference/dht.py``.

Like ``_harness``, this module never imports ``ipv8``: both interpreters load it, so both implementations
run exactly the same plan and have their figures computed by exactly the same code.

* :func:`make_plan` - the keys, values and finders of one run, derived from a seed (the same on both sides);
* :func:`run_operations` - the paced store-then-find loop, written as a plain coroutine so that it runs
  under Twisted (``ensureDeferred``) and asyncio alike; each side passes in how it stores, finds and sleeps;
* :func:`summarize_operations` - success rate and latency percentiles of one kind of operation;
* :class:`PhaseClock` - wall-clock and CPU seconds of the phases of a worker.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

#: Every socket of the benchmark lives here.
LOOPBACK = "127.0.0.1"
#: The two variants: every node walks, or node 0 (which does every lookup) only bootstraps once and never walks.
VARIANTS = ("walking", "quiet")
VARIANT_TEXT = {"walking": "every node walks", "quiet": "node 0 does no walk_to of its own"}

#: Outcome of one operation: ``(succeeded, a short reason when it did not)``.
Outcome = tuple[bool, str]


@dataclass(frozen=True)
class Operation:
    """Key number ``index``: node ``storer`` stores ``value`` under ``key``, then node 0 looks it up."""

    index: int
    key: bytes
    value: bytes
    storer: int


def make_plan(seed: int, keys: int, nodes: int) -> list[Operation]:
    """
    ``keys`` operations: random 20-byte keys and 32-byte values, and a storer among nodes 1 to ``nodes - 1``.

    Everything is derived from ``seed`` with SHA-256, so the txipv8 and pyipv8 workers (separate processes,
    separate interpreters) use the same keys, values and storers.

    The stores are spread over the other nodes because a store is heavy on the nodes near the key: its
    lookup asks up to 24 nodes and then 8 of them get a store-request, so one node storing every 0.3 s
    would send each other node of a 30-node network more than the 10 requests per 5 s that both
    implementations allow one node, and would then measure that limit instead of the DHT. A lookup of
    values stops at the first nodes that hold one, so node 0 can do all of them.
    """
    if nodes < 2:
        raise ValueError("the benchmark needs at least 2 nodes (one stores, another finds)")
    plan = []
    for index in range(keys):
        digest = hashlib.sha256(f"txipv8-dht-bench/{seed}/{index}".encode()).digest()
        key = digest[:20]
        value = b"dht-bench-" + hashlib.sha256(digest).hexdigest()[:22].encode()
        storer = 1 + int.from_bytes(digest[20:24], "big") % (nodes - 1)
        plan.append(Operation(index, key, value, storer))
    return plan


@dataclass
class OperationRecord:
    """What happened to one store or find."""

    kind: str  # "store" or "find"
    index: int
    seconds: float
    ok: bool
    reason: str = ""


async def run_operations(plan: list[Operation], store: Callable[[Operation], Awaitable[Outcome]],
                         find: Callable[[Operation], Awaitable[Outcome]],
                         sleep: Callable[[float], Awaitable[Any]], interval: float) -> list[OperationRecord]:
    """
    For each operation of ``plan``: store the value (the storer node), then look it up (node 0).

    Operation ``i`` starts ``i * interval`` seconds after the first one, or as soon as operation ``i - 1``
    is done if that takes longer: one operation at a time, so each latency is that operation's alone.
    ``store`` and ``find`` enforce their own timeouts and never raise.
    """
    records: list[OperationRecord] = []
    started = time.perf_counter()
    for operation in plan:
        wait = started + operation.index * interval - time.perf_counter()
        if wait > 0:
            await sleep(wait)
        for kind, action in (("store", store), ("find", find)):
            begin = time.perf_counter()
            ok, reason = await action(operation)
            records.append(OperationRecord(kind, operation.index, time.perf_counter() - begin, ok, reason))
    return records


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values``, interpolated linearly between the two nearest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize_operations(records: list[OperationRecord], kind: str) -> dict[str, Any]:
    """
    Success rate (%) and latency p50 / p90 / max (ms) of the operations of ``kind``.

    The latencies are those of *all* operations of that kind, failed ones included (a failed lookup
    usually ends on a request timeout, so leaving failures out would flatter the slow side).
    """
    mine = [record for record in records if record.kind == kind]
    seconds = [record.seconds for record in mine]
    failures: dict[str, int] = {}
    for record in mine:
        if not record.ok:
            failures[record.reason] = failures.get(record.reason, 0) + 1
    return {"count": len(mine), "succeeded": sum(1 for record in mine if record.ok),
            "success_percent": 100.0 * sum(1 for record in mine if record.ok) / len(mine) if mine else 0.0,
            "p50_ms": 1000 * percentile(seconds, 0.5), "p90_ms": 1000 * percentile(seconds, 0.9),
            "max_ms": 1000 * max(seconds) if seconds else float("nan"), "failures": failures}


@dataclass
class PhaseClock:
    """Wall-clock and process CPU seconds of the named phases of a worker, in the order they ran."""

    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    _wall: float = 0.0
    _cpu: float = 0.0
    _first_wall: float = 0.0
    _first_cpu: float = 0.0

    def start(self) -> None:
        """Start the clocks."""
        self._wall = self._first_wall = time.perf_counter()
        self._cpu = self._first_cpu = time.process_time()

    def lap(self, name: str) -> None:
        """The phase ``name`` ends now (the next one begins)."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.phases[name] = {"wall_seconds": wall - self._wall, "cpu_seconds": cpu - self._cpu}
        self._wall, self._cpu = wall, cpu

    def total(self) -> dict[str, float]:
        """Wall-clock and CPU seconds since :meth:`start`."""
        return {"wall_seconds": time.perf_counter() - self._first_wall,
                "cpu_seconds": time.process_time() - self._first_cpu}
