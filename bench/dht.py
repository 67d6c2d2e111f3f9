#!/usr/bin/env python3
"""The DHT of txipv8 on 127.0.0.1: store and find latency, success, CPU and memory, optionally next to pyipv8 3.2.1.

30 IPv8 instances in one process, each with its own key and its own UDP socket on 127.0.0.1, run the
``DHTDiscoveryCommunity`` as the default configuration has it (``RandomWalk`` with target 20 peers and
timeout 3.0, plus ``PingChurn``) and a ``DispersyBootstrapper`` that knows only a local tracker
(``bin/ipv8-tracker`` in its own process, a fresh one per worker, for both implementations). After 10 s of
settling, for each of 50 random keys a node picked at random (never node 0) stores a value
(``store_value``) and right after that node 0 looks the key up (``find_values``); a store succeeds when at
least one node confirmed it, a lookup when the stored value comes back. One operation runs at a time, one
store-and-lookup pair started every ``--interval`` seconds (0.3). Measured: success rate and latency p50 /
p90 of both operations, the CPU seconds of the process from the start of the nodes to the last operation,
and its resident set growth per node. ``bench/_dht_shared.py`` holds the plan, the loop and the statistics,
shared with the pyipv8 driver.

Two variants, each in a fresh worker process per implementation:

* ``walking``: every node walks as configured;
* ``quiet``: node 0 (the one that looks everything up) has no ``RandomWalk``, only ``PingChurn``, and
  bootstraps once (``overlay.bootstrap()``, its one ``walk_to``: the tracker), before the other nodes start;
  it learns about other nodes only from what reaches it (their walks, their DHT requests, its lookups).

Usage (from the repository root)::

    .venv/bin/python bench/dht.py               # txipv8 only
    .venv/bin/python bench/dht.py --reference   # plus pyipv8 3.2.1 (bench/reference/dht.py), with ratios
    .venv/bin/python bench/dht.py --quick       # a few seconds, for smoke checks
    .venv/bin/python bench/dht.py --profile     # cProfile of one txipv8 worker (on stderr), no table
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))
# The interop tests' loopback guard (standard library only); the pyipv8 driver installs the same one.
sys.path.insert(2, os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference"))

from _harness import use_project_interpreter  # noqa: E402

use_project_interpreter()

import loopback_guard  # noqa: E402

from twisted.internet import defer, reactor, task  # noqa: E402

import ipv8  # noqa: E402
from _dht_shared import (LOOPBACK, VARIANT_TEXT, VARIANTS, Operation, Outcome, PhaseClock, make_plan,  # noqa: E402
                         run_operations, summarize_operations)
from _discovery_shared import rss_bytes, start_tracker, stop_tracker  # noqa: E402
from _harness import (RESULT_MARKER, Row, check_ipv8_origin, clean_environment, emit_result,  # noqa: E402
                      load_average, machine_description, print_table, reference_python, run_reference)
from ipv8.configuration import (Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy,  # noqa: E402
                                WalkerDefinition)
from ipv8.dht import DHTError  # noqa: E402
from ipv8.messaging.addresses import UDPv4Address  # noqa: E402
from ipv8.service import IPv8  # noqa: E402

# The service imports these on demand; import them now so that the first node does not pay for them.
import ipv8.bootstrapping.dispersy.bootstrapper  # noqa: E402, F401
import ipv8.dht.churn  # noqa: E402, F401
import ipv8.dht.discovery  # noqa: E402, F401
import ipv8.messaging.interfaces.dispatcher.endpoint  # noqa: E402, F401
import ipv8.peerdiscovery.discovery  # noqa: E402, F401

check_ipv8_origin(ipv8, want_reference=False)

#: The overlay measured (the default configuration's DHT overlay).
OVERLAY = "DHTDiscoveryCommunity"
#: Upper bound for one worker process.
WORKER_TIMEOUT = 300
#: Seconds node 0 runs alone, so that its first packet reaches the tracker before the other nodes start.
FIRST_NODE_HEAD_START = 0.1
#: Exit status of ``python -m ipv8.test.netguard`` when the guarded program tried to leave loopback.
TRACKER_GUARD_STATUS = 3


# -- the worker (runs in a process of its own) ---------------------------------------------------------------

def node_configuration(tracker: tuple[str, int], walker_interval: float, walks: bool) -> dict[str, Any]:
    """
    One node: its own key, a socket on 127.0.0.1 (port chosen by the OS), the DHT overlay with the walkers
    of the default configuration (``walks`` False: without the ``RandomWalk``) and the local tracker.
    """
    walkers = [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})] if walks else []
    walkers.append(WalkerDefinition(Strategy.PingChurn, -1, {}))
    return (ConfigBuilder().clear_keys().clear_overlays()
            .add_ephemeral_key("node")
            .set_address(LOOPBACK).set_port(0)
            .set_walker_interval(walker_interval)
            .set_log_level("WARNING")
            .add_overlay(OVERLAY, "node", walkers,
                         [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                                 {"ip_addresses": [tracker], "dns_addresses": []})],
                         {}, [])
            .finalize())


def sleep(seconds: float) -> defer.Deferred:
    """A Deferred that fires after ``seconds``."""
    return task.deferLater(reactor, seconds, lambda: None)


def table_size(overlay: Any) -> int:  # noqa: ANN401
    """Nodes in the IPv4 routing table of a DHT overlay."""
    return len(overlay.routing_tables[UDPv4Address])


async def dht_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One variant: start the nodes, let them settle, run the operations, stop the nodes."""
    tracker = (LOOPBACK, args.tracker_port)
    quiet = args.variant == "quiet"
    plan = make_plan(args.seed, args.keys, args.nodes)
    gc.collect()
    rss_before = rss_bytes()
    clock = PhaseClock()
    clock.start()
    nodes = [IPv8(node_configuration(tracker, args.walker_interval, not (quiet and index == 0)))
             for index in range(args.nodes)]
    overlays = [node.overlays[0] for node in nodes]
    # Node 0 first, so that the tracker knows it when the others bootstrap (pyipv8's driver does the same).
    await nodes[0].start()
    if quiet:
        overlays[0].bootstrap()  # its only walk_to: the tracker
    await sleep(FIRST_NODE_HEAD_START)
    await defer.gatherResults([node.start() for node in nodes[1:]], consumeErrors=True)
    clock.lap("start")
    await sleep(args.settle)
    clock.lap("settle")
    settled = {"node0_table": table_size(overlays[0]),
               "others_table_median": statistics.median(table_size(overlay) for overlay in overlays[1:]),
               "node0_peers": len(overlays[0].get_peers())}

    async def store(operation: Operation) -> Outcome:
        pending = overlays[operation.storer].store_value(operation.key, operation.value)
        pending.addTimeout(args.op_timeout, reactor)
        try:
            stored = await pending
        except DHTError as exc:
            return False, f"DHTError: {exc}"
        except defer.TimeoutError:
            return False, "timeout"
        return (True, "") if stored else (False, "stored on no node")

    async def find(operation: Operation) -> Outcome:
        pending = overlays[0].find_values(operation.key)
        pending.addTimeout(args.op_timeout, reactor)
        try:
            found = await pending
        except DHTError as exc:
            return False, f"DHTError: {exc}"
        except defer.TimeoutError:
            return False, "timeout"
        return (True, "") if any(data == operation.value for data, _ in found) else (False, "value not found")

    records = await run_operations(plan, store, find, sleep, args.interval)
    clock.lap("operations")
    total = clock.total()
    rss_kib = (rss_bytes() - rss_before) / args.nodes / 1024
    drops: dict[str, int] = {}
    for overlay in overlays:
        for reason, count in overlay.drop_counts.items():
            drops[reason] = drops.get(reason, 0) + count
    await defer.gatherResults([node.stop() for node in nodes], consumeErrors=True)
    return {"variant": args.variant, "overlay": type(overlays[0]).__name__, "nodes": args.nodes, "keys": args.keys,
            "store": summarize_operations(records, "store"), "find": summarize_operations(records, "find"),
            "phases": clock.phases, "cpu_seconds": total["cpu_seconds"], "wall_seconds": total["wall_seconds"],
            "rss_per_node_kib": rss_kib, "settled": settled, "drops": drops,
            "guard_violations": loopback_guard.report()["total"]}


def run_worker(args: argparse.Namespace) -> None:
    """``--worker``: measure one variant in this process and print the one result line."""
    loopback_guard.install()  # before the first socket of this process

    async def go() -> None:
        if args.profile:
            import cProfile
            import pstats
            profiler = cProfile.Profile(time.process_time)  # CPU time: waiting in epoll is not the question
            profiler.enable()
            result = await dht_worker(args)
            profiler.disable()
            if args.profile_file:
                profiler.dump_stats(args.profile_file)
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(30)
        else:
            result = await dht_worker(args)
        emit_result(result)

    task.react(lambda _reactor: defer.ensureDeferred(go()))


# -- the orchestrator -----------------------------------------------------------------------------------------

def worker_arguments(args: argparse.Namespace, variant: str, tracker_port: int) -> list[str]:
    """The command line of one worker (ours or pyipv8's: both take the same options)."""
    return ["--worker", "--variant", variant, "--tracker-port", str(tracker_port), "--nodes", str(args.nodes),
            "--keys", str(args.keys), "--settle", str(args.settle), "--interval", str(args.interval),
            "--op-timeout", str(args.op_timeout), "--seed", str(args.seed),
            "--walker-interval", str(args.walker_interval)]


def run_our_worker(arguments: list[str], profile: bool = False, profile_file: Optional[str] = None) -> dict[str, Any]:
    """Run this script as a worker in a fresh txipv8 process and return its result."""
    command = [sys.executable, os.path.abspath(__file__), *arguments, *(["--profile"] if profile else []),
               *(["--profile-file", os.path.abspath(profile_file)] if profile and profile_file else [])]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=WORKER_TIMEOUT,
                               env=clean_environment(), check=False)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    raise RuntimeError(f"txipv8 DHT worker ({' '.join(arguments[:3])}) gave no result (exit "
                       f"{completed.returncode}); its output:\n{completed.stdout[-2000:]}")


def measure(args: argparse.Namespace, variant: str, reference: Optional[str]) -> dict[str, Any]:
    """One variant of txipv8 (``reference`` None) or pyipv8, with a fresh tracker process."""
    tracker = start_tracker(sys.executable, env=clean_environment())
    try:
        arguments = worker_arguments(args, variant, tracker.port)
        if reference is None:
            result = run_our_worker(arguments, profile=args.profile, profile_file=args.profile_file)
        else:
            result = run_reference(reference, "dht.py", arguments, timeout=WORKER_TIMEOUT)
    finally:
        stop_tracker(tracker)
    if tracker.process.returncode == TRACKER_GUARD_STATUS:  # the tracker's own guard saw a violation
        print("the tracker's network guard reported:\n" + "\n".join(tracker.output[-20:]), file=sys.stderr)
        result["guard_violations"] += 1
    return result


def describe(result: dict[str, Any]) -> str:
    """One line about a worker's result."""
    store, find, settled = result["store"], result["find"], result["settled"]
    failures = {**{f"store {k}": v for k, v in store["failures"].items()},
                **{f"find {k}": v for k, v in find["failures"].items()}}
    phases = result["phases"]
    ops = phases["operations"]
    text = (f"store {store['succeeded']}/{store['count']} p50/p90/max {store['p50_ms']:.1f}/{store['p90_ms']:.1f}/"
            f"{store['max_ms']:.0f} ms, find {find['succeeded']}/{find['count']} p50/p90/max {find['p50_ms']:.1f}/"
            f"{find['p90_ms']:.1f}/{find['max_ms']:.0f} ms; CPU {result['cpu_seconds']:.2f} s (start "
            f"{phases['start']['cpu_seconds']:.2f} s, settle {phases['settle']['cpu_seconds']:.2f} s, operations "
            f"{ops['cpu_seconds']:.2f} s in {ops['wall_seconds']:.1f} s), RSS/node {result['rss_per_node_kib']:.0f} "
            f"KiB; after settling node 0 knew {settled['node0_table']} DHT nodes (others: median "
            f"{settled['others_table_median']:g})")
    if failures:
        text += "; failures: " + ", ".join(f"{reason} x{count}" for reason, count in failures.items())
    drops = {reason: count for reason, count in result.get("drops", {}).items() if count}
    if drops:
        text += "; drops: " + ", ".join(f"{reason} {count}" for reason, count in sorted(drops.items()))
    return text


class AtMostRow(Row):
    """A row whose target is ``ours <= factor x pyipv8`` (lower is better: milliseconds, CPU seconds)."""

    def target_text(self) -> str:
        """``<= 0.5x pyipv8``."""
        if self.target and self.target[0] == "ratio_max":
            return f"<= {self.target[1]:g}x pyipv8"
        return super().target_text()

    def verdict(self, rows: dict[str, Row]) -> str:
        """PASS when ours is at most the factor times pyipv8's figure."""
        if not self.target or self.target[0] != "ratio_max":
            return super().verdict(rows)
        if self.ours is None:
            return "n/a"
        if self.reference is None:
            return "n/a (needs --reference)"
        return "PASS" if self.ours <= self.target[1] * self.reference else "FAIL"


def build_rows(ours: dict[str, dict[str, Any]], reference: Optional[dict[str, dict[str, Any]]],
               settle: float) -> list[Row]:
    """The result table: the same rows for each variant."""
    rows: list[Row] = []
    for variant in VARIANTS:
        mine = ours[variant]
        theirs = (reference or {}).get(variant, {})
        prefix = f"{variant}: "
        for kind in ("store", "find"):
            figures, ref_figures = mine[kind], theirs.get(kind, {})
            rows.append(Row(f"{variant}-{kind}-success", f"{prefix}{kind} success", figures["success_percent"],
                            ref_figures.get("success_percent"), ("min", 100), unit="%", comparable=False))
            for quantile in ("p50", "p90"):
                rows.append(AtMostRow(f"{variant}-{kind}-{quantile}", f"{prefix}{kind} latency {quantile}",
                                      figures[f"{quantile}_ms"], ref_figures.get(f"{quantile}_ms"),
                                      ("ratio_max", 1.0), unit="ms", precision=1))
        rows.append(AtMostRow(f"{variant}-cpu", f"{prefix}CPU, start to last operation", mine["cpu_seconds"],
                              theirs.get("cpu_seconds"), ("ratio_max", 0.5), unit="s", precision=2))
        rows.append(AtMostRow(f"{variant}-cpu-settle", f"{prefix}CPU during the {settle:g} s settle",
                              mine["phases"]["settle"]["cpu_seconds"],
                              theirs.get("phases", {}).get("settle", {}).get("cpu_seconds"), unit="s", precision=2))
        rows.append(AtMostRow(f"{variant}-rss", f"{prefix}RSS growth per node", mine["rss_per_node_kib"],
                              theirs.get("rss_per_node_kib"), unit="KiB"))
    return rows


def orchestrate(args: argparse.Namespace) -> int:
    """Run the workers (variant by variant, the two implementations back to back) and print the table."""
    print(f"machine: {machine_description()}; load average {load_average()}", flush=True)
    ref_python = reference_python(args.reference_python) if args.reference else None
    ours: dict[str, dict[str, Any]] = {}
    theirs: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        for name, python, results in (("txipv8", None, ours), ("pyipv8", ref_python, theirs)):
            if name == "pyipv8" and python is None:
                continue
            result = measure(args, variant, python)
            results[variant] = result
            print(f"{name} {variant} ({result['overlay']}): {describe(result)}", flush=True)
            if args.profile:
                return 0
    violations = sum(result["guard_violations"] for side in (ours, theirs) for result in side.values())
    print(f"{args.nodes} nodes, {args.keys} keys, settle {args.settle:g} s, one operation every {args.interval:g} s, "
          f"operation timeout {args.op_timeout:g} s, seed {args.seed}; variants: "
          + "; ".join(f"{variant} = {text}" for variant, text in VARIANT_TEXT.items())
          + f"; load average now {load_average()}; non-loopback attempts refused by the guards: {violations}")
    if args.quick:
        print("--quick: a small network and few keys; these figures only show that the benchmark runs.")
    print_table(build_rows(ours, theirs or None, args.settle), with_reference=bool(theirs), markdown=args.markdown)
    return 1 if violations else 0


def main() -> None:
    """Parse the options; run the orchestrator, or one worker when ``--worker`` is given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true",
                        help="8 nodes, 10 keys, 3 s settle, 0.5 s interval (smoke check)")
    parser.add_argument("--nodes", type=int, default=30, help="IPv8 instances in the process")
    parser.add_argument("--keys", type=int, default=50, help="keys stored by another node and looked up by node 0")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds between start and first operation")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between the starts of two operations")
    parser.add_argument("--op-timeout", type=float, default=20.0, help="seconds before an operation counts as failed")
    parser.add_argument("--seed", type=int, default=10, help="seed of the keys, values and finders")
    parser.add_argument("--walker-interval", type=float, default=0.5, help="IPv8 walker_interval (seconds)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one txipv8 worker (the walking variant; statistics on stderr), no table")
    parser.add_argument("--profile-file", help="with --profile: also save the statistics there (pstats format)")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, default="walking", help=argparse.SUPPRESS)
    parser.add_argument("--tracker-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.keys, args.settle, args.interval = 8, 10, 3.0, 0.5
    if args.worker:
        if not args.tracker_port:
            parser.error("--worker needs --tracker-port")
        run_worker(args)
        return
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
