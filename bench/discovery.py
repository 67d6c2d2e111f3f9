#!/usr/bin/env python3
"""Peer discovery of txipv8 on 127.0.0.1, and the memory of idle overlays, optionally next to pyipv8 3.2.1.

Swarm: 30 IPv8 instances in one process, each with its own key and its own UDP socket on 127.0.0.1, run one
custom community with a ``RandomWalk`` (target 20 peers, timeout 3.0) every 0.5 s and a
``DispersyBootstrapper`` that knows only a local tracker (``bin/ipv8-tracker`` in its own process, a fresh one
per round, for both implementations). Measured: seconds until every peer knows at least 10 peers, the CPU
seconds the process used in that time, and the growth of its resident set size divided by the number of
peers. A round that has not converged after ``--deadline`` seconds is reported as a timeout.

Idle overlays: 200 instances of the same community, each on its own in-memory endpoint that drops whatever
it is asked to send (all endpoints, one key and one ``Network`` are created before the baseline, so only
the overlays are counted); memory per overlay by tracemalloc and by resident set size.

Every measurement runs in a fresh worker process (this script with ``--worker``; pyipv8:
``bench/reference/discovery.py``), so that memory one measurement freed cannot hide the growth of the next.

Usage (from the repository root)::

    .venv/bin/python bench/discovery.py               # txipv8 only
    .venv/bin/python bench/discovery.py --reference   # plus pyipv8 3.2.1, with ratios
    .venv/bin/python bench/discovery.py --quick       # a few seconds, for smoke checks
    .venv/bin/python bench/discovery.py --profile     # cProfile of one txipv8 swarm round, no table
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
import tracemalloc
from typing import Any, Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))
# The interop tests' loopback guard (standard library only): the pyipv8 driver installs the same one, so the
# guard costs both implementations the same per packet.
sys.path.insert(2, os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference"))

from _harness import use_project_interpreter  # noqa: E402

use_project_interpreter()

import loopback_guard  # noqa: E402

from twisted.internet import defer, reactor, task  # noqa: E402

import ipv8  # noqa: E402
from _discovery_shared import (BENCH_COMMUNITY_ID, LOOPBACK, POLL_INTERVAL, ConvergenceWatch, rss_bytes,  # noqa: E402
                               start_tracker, stop_tracker)
from _harness import (RESULT_MARKER, Row, check_ipv8_origin, clean_environment, emit_result,  # noqa: E402
                      load_average, machine_description, print_table, reference_python, run_reference)
from ipv8.community import Community, CommunitySettings  # noqa: E402
from ipv8.configuration import (Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy,  # noqa: E402
                                WalkerDefinition)
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.lazy_community import lazy_wrapper  # noqa: E402
from ipv8.messaging.addresses import UDPv4Address  # noqa: E402
from ipv8.messaging.interfaces.endpoint import Endpoint  # noqa: E402
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile  # noqa: E402
from ipv8.peer import Peer  # noqa: E402
from ipv8.peerdiscovery.network import Network  # noqa: E402
from ipv8.service import IPv8  # noqa: E402

# The service imports these on demand; import them now so that the first peer does not pay for them.
import ipv8.bootstrapping.dispersy.bootstrapper  # noqa: E402, F401
import ipv8.messaging.interfaces.dispatcher.endpoint  # noqa: E402, F401
import ipv8.peerdiscovery.discovery  # noqa: E402, F401

check_ipv8_origin(ipv8, want_reference=False)

COMMUNITY_NAME = "DiscoveryBenchCommunity"
#: Upper bound for one worker process (a swarm round is capped by ``--deadline`` itself).
WORKER_TIMEOUT = 300
#: Exit status of ``python -m ipv8.test.netguard`` when the guarded program tried to leave loopback.
TRACKER_GUARD_STATUS = 3


# -- the overlay -------------------------------------------------------------------------------------------

@vp_compile
class Note(VariablePayload):
    """The community's one application message (never sent by the benchmark; it makes the community custom)."""

    msg_id = 1
    format_list = ["q"]
    names = ["number"]


class DiscoveryBenchCommunity(Community):
    """A minimal application community: peer discovery from the base class plus one message handler."""

    community_id = BENCH_COMMUNITY_ID

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.notes = 0
        self.add_message_handler(Note, self.on_note)

    @lazy_wrapper(Note)
    def on_note(self, peer: Peer, payload: Note) -> None:
        """Count a note."""
        self.notes += 1


class NullEndpoint(Endpoint):
    """An always-open, in-memory endpoint that drops everything it is asked to send (for idle overlays)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._address = UDPv4Address(LOOPBACK, port)
        self.dropped = 0

    def is_open(self) -> bool:
        """Always open."""
        return True

    def get_address(self) -> UDPv4Address:
        """A made-up loopback address."""
        return self._address

    def send(self, socket_address: Any, packet: bytes) -> None:  # noqa: ANN401
        """Count the packet and drop it."""
        self.dropped += 1

    def open(self) -> defer.Deferred:
        """Nothing to open."""
        return defer.succeed(True)

    def close(self) -> defer.Deferred:
        """Nothing to close."""
        return defer.succeed(None)


# -- the workers (each runs in a process of its own) ----------------------------------------------------------

def sleep(seconds: float) -> defer.Deferred:
    """A Deferred that fires after ``seconds``."""
    return task.deferLater(reactor, seconds, lambda: None)


def peer_configuration(tracker: tuple[str, int], walker_interval: float) -> dict[str, Any]:
    """One swarm peer: its own key, a socket on 127.0.0.1 (port chosen by the OS), the community and walker."""
    return (ConfigBuilder().clear_keys().clear_overlays()
            .add_ephemeral_key("peer")
            .set_address(LOOPBACK).set_port(0)
            .set_walker_interval(walker_interval)
            .set_log_level("WARNING")
            .add_overlay(COMMUNITY_NAME, "peer",
                         [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})],
                         [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                                 {"ip_addresses": [tracker], "dns_addresses": []})],
                         {}, [])
            .finalize())


async def swarm_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One round: start the swarm, wait until every peer knows ``need`` peers (or the deadline), stop it."""
    tracker = (LOOPBACK, args.tracker_port)
    gc.collect()
    rss_before = rss_bytes()
    build_started = time.perf_counter()
    nodes = [IPv8(peer_configuration(tracker, args.walker_interval),
                  extra_communities={COMMUNITY_NAME: DiscoveryBenchCommunity}) for _ in range(args.peers)]
    build_seconds = time.perf_counter() - build_started
    overlays = [node.overlays[0] for node in nodes]
    watch = ConvergenceWatch(args.peers, args.need)
    watch.start()
    await defer.gatherResults([node.start() for node in nodes], consumeErrors=True)
    while not watch.observe([len(overlay.get_peers()) for overlay in overlays]):
        if watch.elapsed()[0] > args.deadline:
            break
        await sleep(POLL_INTERVAL)
    result = watch.result(args.deadline)
    result["rss_per_peer_kib"] = (rss_bytes() - rss_before) / args.peers / 1024
    result["build_seconds"] = build_seconds
    result["peers"], result["need"] = args.peers, args.need
    await defer.gatherResults([node.stop() for node in nodes], consumeErrors=True)
    result["guard_violations"] = loopback_guard.report()["total"]
    return result


async def idle_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Memory of ``args.overlays`` idle communities: resident set growth, then tracemalloc on a second batch."""
    my_peer = Peer(default_eccrypto.generate_key("curve25519"))
    network = Network()

    async def batch(first_port: int, measure: Any) -> float:  # noqa: ANN401
        endpoints = [NullEndpoint(first_port + index) for index in range(args.overlays)]
        gc.collect()
        before = measure()
        overlays = [DiscoveryBenchCommunity(CommunitySettings(my_peer=my_peer, endpoint=endpoint, network=network))
                    for endpoint in endpoints]
        await sleep(0.3)  # let start-up tasks run, as they would in a live process
        gc.collect()
        grown = measure() - before
        keep.append(overlays)
        return grown / args.overlays / 1024

    keep: list[Any] = []
    rss_kib = await batch(20_000, rss_bytes)
    tracemalloc.start()
    traced_kib = await batch(30_000, lambda: tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    sent = sum(overlay.endpoint.dropped for overlays in keep for overlay in overlays)
    for overlays in keep:
        for overlay in overlays:
            await defer.maybeDeferred(overlay.unload)
    return {"overlays": args.overlays, "rss_kib": rss_kib, "tracemalloc_kib": traced_kib, "packets_sent": sent,
            "guard_violations": loopback_guard.report()["total"]}


def run_worker(args: argparse.Namespace) -> None:
    """``--worker swarm|idle``: measure in this process and print the one result line."""
    loopback_guard.install()  # before the first socket of this process
    work = swarm_worker if args.worker == "swarm" else idle_worker

    async def go() -> None:
        if args.profile:
            import cProfile
            import pstats
            profiler = cProfile.Profile()
            profiler.enable()
            result = await work(args)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(25)
        else:
            result = await work(args)
        emit_result(result)

    task.react(lambda _reactor: defer.ensureDeferred(go()))


# -- the orchestrator -----------------------------------------------------------------------------------------

def worker_arguments(args: argparse.Namespace, worker: str, tracker_port: int = 0) -> list[str]:
    """The command line of one worker (ours or pyipv8's: both take the same options)."""
    return ["--worker", worker, "--tracker-port", str(tracker_port), "--peers", str(args.peers),
            "--need", str(args.need), "--deadline", str(args.deadline), "--walker-interval",
            str(args.walker_interval), "--overlays", str(args.overlays)]


def run_our_worker(arguments: list[str], profile: bool = False) -> dict[str, Any]:
    """Run this script as a worker in a fresh txipv8 process and return its result."""
    command = [sys.executable, os.path.abspath(__file__), *arguments, *(["--profile"] if profile else [])]
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=WORKER_TIMEOUT,
                               env=clean_environment(), check=False)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    raise RuntimeError(f"txipv8 worker {arguments[:2]} gave no result (exit {completed.returncode}); its output:\n"
                       f"{completed.stdout[-2000:]}")


def swarm_round(args: argparse.Namespace, reference: Optional[str]) -> dict[str, Any]:
    """One swarm round of txipv8 (``reference`` None) or pyipv8, with a fresh tracker process."""
    tracker = start_tracker(sys.executable, env=clean_environment())
    try:
        arguments = worker_arguments(args, "swarm", tracker.port)
        if reference is None:
            result = run_our_worker(arguments, profile=args.profile)
        else:
            result = run_reference(reference, "discovery.py", arguments, timeout=WORKER_TIMEOUT)
    finally:
        stop_tracker(tracker)
    if tracker.process.returncode == TRACKER_GUARD_STATUS:  # the tracker's own guard saw a violation
        print("the tracker's network guard reported:\n" + "\n".join(tracker.output[-20:]), file=sys.stderr)
        result["guard_violations"] += 1
    return result


def describe_round(result: dict[str, Any]) -> str:
    """One line about a swarm round."""
    outcome = (f"TIMEOUT after {result['seconds']:.1f} s ({result['ready_peers']}/{result['peers']} ready)"
               if result["timed_out"] else f"{result['seconds']:.2f} s")
    half = "-" if result["half_seconds"] is None else f"{result['half_seconds']:.2f} s"
    return (f"all ready {outcome}, half {half}, CPU {result['cpu_seconds']:.2f} s, "
            f"RSS/peer {result['rss_per_peer_kib']:.0f} KiB, peers known min/median {result['min_peers']}/"
            f"{result['median_peers']}, guard violations {result['guard_violations']}")


def print_curve(curve: list[list[float]]) -> None:
    """The convergence curve of a round: fewest / median peers known, and how many peers know enough."""
    for start in range(0, len(curve), 6):
        print("   " + "  ".join(f"{point[0]:5.2f}s {point[1]:>2}/{point[2]:>2} {point[3]:>2}r"
                                for point in curve[start:start + 6]))


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the swarm rounds; the time is a lower bound (``> deadline``) if most rounds timed out."""
    timeouts = sum(1 for result in rounds if result["timed_out"])
    seconds: Any = statistics.median(result["seconds"] for result in rounds)
    if timeouts * 2 > len(rounds):
        seconds = (">", rounds[0]["deadline"])
    return {"seconds": seconds, "cpu_seconds": statistics.median(result["cpu_seconds"] for result in rounds),
            "half_seconds": statistics.median(result["half_seconds"] or result["deadline"] for result in rounds),
            "rss_per_peer_kib": statistics.median(result["rss_per_peer_kib"] for result in rounds),
            "timeouts": timeouts, "rounds": len(rounds),
            "guard_violations": sum(result["guard_violations"] for result in rounds)}


class AtMostRow(Row):
    """A row whose target is ``ours <= factor x pyipv8`` (lower is better: seconds, CPU, memory)."""

    def target_text(self) -> str:
        """``<= 0.75x pyipv8``."""
        if self.target and self.target[0] == "ratio_max":
            return f"<= {self.target[1]:g}x pyipv8"
        return super().target_text()

    def verdict(self, rows: dict[str, Row]) -> str:
        """PASS when ours is at most the factor times pyipv8's figure."""
        if not self.target or self.target[0] != "ratio_max":
            return super().verdict(rows)
        if self.ours is None or isinstance(self.ours, (tuple, list)):
            return "n/a" if self.ours is None else "FAIL"
        if self.reference is None:
            return "n/a (needs --reference)"
        if isinstance(self.reference, (tuple, list)):  # pyipv8 timed out: anything that converged is faster
            return "PASS"
        return "PASS" if self.ours <= self.target[1] * self.reference else "FAIL"


def build_rows(args: argparse.Namespace, ours: dict[str, Any], reference: Optional[dict[str, Any]]) -> list[Row]:
    """The result table."""
    ref_swarm = (reference or {}).get("swarm", {})
    ref_idle = (reference or {}).get("idle", {})
    swarm, idle = ours["swarm"], ours["idle"]
    label = f"{args.peers} peers"
    return [
        AtMostRow("seconds", f"{label}: time until all know >= {args.need} peers", swarm["seconds"],
                  ref_swarm.get("seconds"), ("ratio_max", 0.75), unit="s", precision=2),
        AtMostRow("half", f"{label}: time until half know >= {args.need} peers", swarm["half_seconds"],
                  ref_swarm.get("half_seconds"), unit="s", precision=2),
        AtMostRow("cpu", f"{label}: CPU used until all know >= {args.need}", swarm["cpu_seconds"],
                  ref_swarm.get("cpu_seconds"), ("ratio_max", 0.5), unit="s", precision=2),
        AtMostRow("rss_peer", f"{label}: RSS growth per peer", swarm["rss_per_peer_kib"],
                  ref_swarm.get("rss_per_peer_kib"), unit="KiB"),
        AtMostRow("overlay_traced", f"idle overlay, tracemalloc ({args.overlays} instances)",
                  idle["tracemalloc_kib"], ref_idle.get("tracemalloc_kib"), ("max", 11), unit="KiB", precision=1),
        AtMostRow("overlay_rss", f"idle overlay, RSS growth ({args.overlays} instances)", idle["rss_kib"],
                  ref_idle.get("rss_kib"), unit="KiB", precision=1),
    ]


def orchestrate(args: argparse.Namespace) -> int:
    """Run the workers (alternating implementations round by round) and print the table."""
    print(f"machine: {machine_description()}; load average {load_average()}", flush=True)
    ref_python = reference_python(args.reference_python) if args.reference else None
    rounds: dict[str, list[dict[str, Any]]] = {"txipv8": [], "pyipv8": []}
    for number in range(1, args.rounds + 1):
        for name, python in (("txipv8", None), ("pyipv8", ref_python)):
            if name == "pyipv8" and python is None:
                continue
            result = swarm_round(args, python)
            rounds[name].append(result)
            print(f"{name} swarm round {number}: {describe_round(result)}", flush=True)
            if args.verbose:
                print_curve(result["curve"])
            if args.profile:
                return 0
    ours = {"swarm": summarize(rounds["txipv8"]), "idle": run_our_worker(worker_arguments(args, "idle"))}
    print(f"txipv8 idle overlays: {ours['idle']['tracemalloc_kib']:.1f} KiB traced, "
          f"{ours['idle']['rss_kib']:.1f} KiB RSS per overlay", flush=True)
    reference = None
    if ref_python is not None:
        reference = {"swarm": summarize(rounds["pyipv8"]),
                     "idle": run_reference(ref_python, "discovery.py", worker_arguments(args, "idle"),
                                           timeout=WORKER_TIMEOUT)}
        print(f"pyipv8 idle overlays: {reference['idle']['tracemalloc_kib']:.1f} KiB traced, "
              f"{reference['idle']['rss_kib']:.1f} KiB RSS per overlay", flush=True)
    violations = sum(side["swarm"]["guard_violations"] + side["idle"]["guard_violations"]
                     for side in (ours, reference) if side)
    print(f"{args.peers} peers, need {args.need} each, walker interval {args.walker_interval} s, deadline "
          f"{args.deadline:g} s; medians of {args.rounds} round(s); load average now {load_average()}; "
          f"non-loopback attempts refused by the guards: {violations}")
    if args.quick:
        print("--quick: a small swarm and one round; these figures only show that the benchmark runs.")
    print_table(build_rows(args, ours, reference), with_reference=reference is not None, markdown=args.markdown)
    return 1 if violations else 0


def main() -> None:
    """Parse the options; run the orchestrator, or one worker when ``--worker`` is given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true", help="6 peers needing 3, 1 round, 40 overlays (smoke check)")
    parser.add_argument("--peers", type=int, default=30, help="peers in the swarm")
    parser.add_argument("--need", type=int, default=10, help="peers every peer must know")
    parser.add_argument("--rounds", type=int, default=3, help="swarm rounds per implementation (medians count)")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds before a swarm round times out")
    parser.add_argument("--walker-interval", type=float, default=0.5, help="IPv8 walker_interval (seconds)")
    parser.add_argument("--overlays", type=int, default=200, help="idle overlay instances")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="print each round's convergence curve: seconds, fewest/median peers known, peers ready")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one txipv8 swarm round (statistics on stderr), no table")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    parser.add_argument("--worker", choices=("swarm", "idle"), help=argparse.SUPPRESS)
    parser.add_argument("--tracker-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.peers, args.need, args.rounds, args.overlays = 6, 3, 1, 40
    if args.worker:
        run_worker(args)
        return
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
