#!/usr/bin/env python3
"""Tunnel data plane on 127.0.0.1: circuit build time, delivered MB/s and loss, CPU and RSS; optionally next to
pyipv8 3.2.1 with its Python endpoint and with its Rust endpoint (ipv8-rust-tunnels), in the same run.

The setup (the same for every implementation, each in a fresh worker process): five ``TunnelCommunity`` peers in
one process, each with its own key and UDP socket on 127.0.0.1: an initiator (no peer flags), two relays
(``PEER_FLAG_RELAY``) and two exits (``PEER_FLAG_RELAY`` + ``PEER_FLAG_EXIT_BT``, exit sockets on 127.0.0.1),
plus a UDP sink on 127.0.0.1 that counts what arrives. The peers walk to each other (introductions carry the
flags); then:

* **build time**: ``create_circuit(hops)`` until the circuit is READY, for 1 and 3 hops, ``--builds`` times
  each (the median is shown), every circuit removed (with a destroy) before the next is built;
* **send_data**: one circuit of 1 and one of 3 hops; the initiator sends 1,024-byte datagrams addressed to the
  sink with ``send_data`` for ``--seconds`` (10) per run, paced (at most 256 in flight: sent but not yet seen
  by the sink; every arrival lets one more go) and unpaced (256 per event-loop turn, never waiting). Delivered
  MB/s = datagram bytes that reached the sink while sending / seconds (MB = 10^6 bytes); loss = share of the
  datagrams sent that never reached the sink (1 s of drain allowed);
* **SOCKS5**: the same paced runs from a SOCKS5 UDP ASSOCIATE client (see bench/README.md: txipv8's SOCKS5 front
  door when it exists, the Rust endpoint's own SOCKS5 server for pyipv8; pyipv8's Python endpoint has none);
* **CPU**: process CPU time / wall time during each run (all threads: the Rust endpoint's workers count too);
  **RSS**: the worker's resident set at the end;
* **hidden services** (a second table; ``bench/_hidden_shared.py`` describes the setup): six
  ``HiddenTunnelCommunity`` peers with a DHT each, swarms of 1 hop each side; the median time from the seeder's
  ``join_swarm`` to its introduction point, and from the downloader's ``join_swarm`` to its first e2e circuit,
  over ``--hidden-reps`` repetitions; then delivered MB/s of 1 KB payloads from the downloader to the seeder
  through the e2e circuit, paced as above. pyipv8 runs ``bench/reference/hidden_services.py``.

Usage (from the repository root)::

    .venv/bin/python bench/tunnels.py               # txipv8 only
    .venv/bin/python bench/tunnels.py --reference   # plus pyipv8 3.2.1, Python and Rust endpoints
    .venv/bin/python bench/tunnels.py --quick       # 1 s per run, 3 builds: a smoke check
    .venv/bin/python bench/tunnels.py --profile 3   # cProfile of a paced 3-hop send_data run (stderr)
    .venv/bin/python bench/tunnels.py --hidden-only --reference   # only the hidden-services table
    .venv/bin/python bench/tunnels.py --hidden-profile setup      # cProfile of the hidden repetitions (stderr)

Network guard: every socket is bound to 127.0.0.1 (each worker lists its UDP sockets at the end and the script
fails if one is bound elsewhere), and the interop tests' loopback guard refuses and counts any send, connect or
name lookup outside loopback (``_tunnel_shared.install_guard``); a non-zero count fails the script.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))
sys.path.insert(2, os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference"))

from _harness import use_project_interpreter

use_project_interpreter()

import loopback_guard
from _tunnel_shared import install_guard

install_guard(loopback_guard)  # before any socket exists

from _harness import (
    RESULT_MARKER,
    clean_environment,
    load_average,
    machine_description,
    reference_python,
)
from _hidden_shared import STEP_TIMEOUT
from _tunnel_shared import HOP_COUNTS, LOOPBACK, WINDOW
from _tunnel_socks5 import socks5_available

#: Upper bound for one worker process (seconds), on top of the measured runs.
WORKER_OVERHEAD = 120
IMPLEMENTATIONS = ("txipv8", "pyipv8-python", "pyipv8-rust")


# -- the orchestrator ------------------------------------------------------------------------------------------

def run_worker(command: list[str], timeout: float) -> dict[str, Any]:
    """Run one worker and return the JSON result it prints (its stderr goes to ours)."""
    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout, env=clean_environment(),
                               cwd=os.path.dirname(BENCH_DIR), check=False)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    raise RuntimeError(f"{command[1]} gave no result (exit {completed.returncode}); output:\n{completed.stdout[-2000:]}")


def worker_arguments(args: argparse.Namespace) -> list[str]:
    """The options every worker gets."""
    return ["--seconds", str(args.seconds), "--builds", str(args.builds)]


def measure_all(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Run the txipv8 worker and, with ``--reference``, the pyipv8 workers (Python endpoint, Rust endpoint)."""
    timeout = WORKER_OVERHEAD + 8 * (args.seconds + 2)
    results = {"txipv8": run_worker([sys.executable, os.path.abspath(__file__), "--worker",
                                     *worker_arguments(args)], timeout)}
    if args.reference:
        python = reference_python(args.reference_python)
        script = os.path.join(BENCH_DIR, "reference", "tunnels.py")
        for endpoint in ("python", "rust"):
            extra = ["--rust-workers", str(args.rust_workers)] if endpoint == "rust" else []
            results[f"pyipv8-{endpoint}"] = run_worker([python, script, "--endpoint", endpoint,
                                                        *worker_arguments(args), *extra], timeout)
    return results


def _run(result: dict[str, Any] | None, group: str, hops: int, mode: str) -> dict[str, Any] | None:
    if not result:
        return None
    return ((result.get(group) or {}).get(str(hops)) or {}).get(mode)


def _figure(run: dict[str, Any] | None, field: str, scale: float = 1.0) -> float | None:
    value = None if run is None else run.get(field)
    return None if value is None else value * scale


def _hops(hops: int) -> str:
    return f"{hops} hop{'s' if hops > 1 else ''}"


class TunnelRow:
    """
    One line of the table: a figure per implementation, and a target.

    ``target`` is ``("max_ref", name)`` (at most implementation ``name``'s figure), ``("min_ref", name)`` (at least
    it) or ``("relative", key, share)`` (at least ``share`` of row ``key``'s txipv8 figure).
    """

    def __init__(self, key: str, label: str, unit: str, figures: dict[str, float | None],
                 target: tuple | None = None, precision: int = 1, ratio: bool = True) -> None:
        self.key, self.label, self.unit, self.figures = key, label, unit, figures
        self.target, self.precision, self.ratio = target, precision, ratio

    def target_text(self) -> str:
        """How the target reads in the table."""
        if self.target is None:
            return ""
        kind, name = self.target[0], self.target[1]
        if kind == "max_ref":
            return f"<= {IMPLEMENTATION_NAMES[name]}"
        if kind == "min_ref":
            return f">= {IMPLEMENTATION_NAMES[name]}"
        return f">= {self.target[2]:.0%} of paced"

    def verdict(self, rows: dict[str, TunnelRow]) -> str:
        """PASS, FAIL, or n/a when a figure is missing."""
        if self.target is None:
            return ""
        ours = self.figures.get("txipv8")
        kind = self.target[0]
        other = (rows[self.target[1]].figures.get("txipv8") if kind == "relative"
                 else self.figures.get(self.target[1]))
        if ours is None or other is None:
            return "n/a"
        if kind == "max_ref":
            return "PASS" if ours <= other else "FAIL"
        if kind == "min_ref":
            return "PASS" if ours >= other else "FAIL"
        return "PASS" if ours >= self.target[2] * other else "FAIL"

    def cells(self, columns: list[str], rows: dict[str, TunnelRow]) -> list[str]:
        """The row's cells for ``columns`` (implementation names), with ours/theirs ratios after each reference."""
        ours = self.figures.get("txipv8")
        cells = [f"{self.label} ({self.unit})", _text(ours, self.precision)]
        for name in columns[1:]:
            theirs = self.figures.get(name)
            cells.append(_text(theirs, self.precision))
            cells.append(f"{ours / theirs:.2f}x" if self.ratio and ours is not None and theirs else "-")
        return cells + [self.target_text(), self.verdict(rows)]


IMPLEMENTATION_NAMES = {"txipv8": "txipv8", "pyipv8-rust": "pyipv8 3.2.1 Rust endpoint",
                        "pyipv8-python": "pyipv8 3.2.1 Python endpoint"}


def _text(value: float | None, precision: int) -> str:
    return "-" if value is None else f"{value:,.{precision}f}"


def build_rows(results: dict[str, dict[str, Any]]) -> list[TunnelRow]:
    """The table rows, one figure per implementation that ran."""
    def each(getter: Any) -> dict[str, float | None]:
        return {name: getter(result) for name, result in results.items()}

    reference = "pyipv8-rust" if "pyipv8-rust" in results else None
    rows: list[TunnelRow] = []
    for hops in HOP_COUNTS:
        rows.append(TunnelRow(f"build{hops}", f"circuit build time, {_hops(hops)}, median", "ms",
                              each(lambda r, h=hops: (r.get("build_ms") or {}).get(str(h))),
                              ("max_ref", "pyipv8-rust") if reference else None))
    for group, label in (("send_data", "send_data"), ("socks5", "SOCKS5")):
        for hops in HOP_COUNTS:
            key = f"{group}{hops}"
            target = ("min_ref", "pyipv8-rust") if reference else None
            rows.append(TunnelRow(key, f"{label} delivered, {_hops(hops)}, paced", "MB/s",
                                  each(lambda r, g=group, h=hops: _figure(_run(r, g, h, "paced"), "mb_s")), target))
            rows.append(TunnelRow(f"{key}-flood", f"{label} delivered, {_hops(hops)}, unpaced", "MB/s",
                                  each(lambda r, g=group, h=hops: _figure(_run(r, g, h, "flood"), "mb_s")),
                                  ("relative", key, 0.9)))
            for mode, text in (("paced", "paced"), ("flood", "unpaced")):
                rows.append(TunnelRow(f"{key}-{mode}-loss", f"{label} loss, {_hops(hops)}, {text}", "%",
                                      each(lambda r, g=group, h=hops, m=mode: _figure(_run(r, g, h, m), "loss", 100)),
                                      ratio=False))
    for hops in HOP_COUNTS:
        rows.append(TunnelRow(f"cpu{hops}", f"CPU during send_data, {_hops(hops)}, paced", "% of a core",
                              each(lambda r, h=hops: _figure(_run(r, "send_data", h, "paced"), "cpu_percent")),
                              precision=0, ratio=False))
    for hops in HOP_COUNTS:
        rows.append(TunnelRow(f"cpu-per-datagram{hops}", f"CPU per delivered datagram, send_data, {_hops(hops)}, paced",
                              "us", each(lambda r, h=hops: _figure(_run(r, "send_data", h, "paced"),
                                                                    "cpu_us_per_datagram")),
                              precision=0))
    rows.append(TunnelRow("rss", "RSS of the 5-peer process at the end", "MB", each(lambda r: r.get("rss_mb")),
                          ratio=False))
    return rows


def hidden_arguments(args: argparse.Namespace) -> list[str]:
    """The options every hidden-services worker gets."""
    return ["--seconds", str(args.seconds), "--hidden-reps", str(args.hidden_reps)]


def measure_hidden(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The hidden-services workers: txipv8 and, with ``--reference``, pyipv8 (Python endpoint, Rust endpoint)."""
    timeout = WORKER_OVERHEAD + args.hidden_reps * 2 * STEP_TIMEOUT + args.seconds
    results = {"txipv8": run_worker([sys.executable, os.path.abspath(__file__), "--hidden-worker",
                                     *hidden_arguments(args)], timeout)}
    if args.reference:
        python = reference_python(args.reference_python)
        script = os.path.join(BENCH_DIR, "reference", "hidden_services.py")
        for endpoint in ("python", "rust"):
            extra = ["--rust-workers", str(args.rust_workers)] if endpoint == "rust" else []
            results[f"pyipv8-{endpoint}"] = run_worker([python, script, "--endpoint", endpoint,
                                                        *hidden_arguments(args), *extra], timeout)
    return results


def build_hidden_rows(results: dict[str, dict[str, Any]]) -> list[TunnelRow]:
    """The rows of the hidden-services table."""
    def each(getter: Any) -> dict[str, float | None]:
        return {name: getter(result.get("hidden") or {}) for name, result in results.items()}

    reference = "pyipv8-rust" in results
    return [
        TunnelRow("hs-seed", "seeder join_swarm to introduction point ready, 1 hop, median", "ms",
                  each(lambda h: h.get("seed_ms")), ("max_ref", "pyipv8-rust") if reference else None),
        TunnelRow("hs-e2e", "downloader join_swarm to first e2e circuit ready, 1 hop each side, median", "ms",
                  each(lambda h: h.get("e2e_ms")), ("max_ref", "pyipv8-rust") if reference else None),
        TunnelRow("hs-mbs", "e2e delivered, downloader to seeder, 1 KB payloads, paced", "MB/s",
                  each(lambda h: _figure(h.get("paced"), "mb_s")), ("min_ref", "pyipv8-rust") if reference else None),
        TunnelRow("hs-loss", "e2e loss, paced", "%", each(lambda h: _figure(h.get("paced"), "loss", 100)),
                  ratio=False),
        TunnelRow("hs-cpu", "CPU per delivered e2e payload, paced", "us",
                  each(lambda h: _figure(h.get("paced"), "cpu_us_per_datagram")), precision=0),
    ]


def print_table(rows: list[TunnelRow], columns: list[str], markdown: bool) -> None:
    """Print ``rows`` as a table with a figure (and ratio) per implementation in ``columns``."""
    by_key = {row.key: row for row in rows}
    header = ["benchmark", "txipv8"]
    for name in columns[1:]:
        header += [IMPLEMENTATION_NAMES[name], "ratio"]
    lines = [header + ["target", "result"]] + [row.cells(columns, by_key) for row in rows]
    if markdown:
        print("| " + " | ".join(lines[0]) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1) + ["---", "---"]) + "|")
        for cells in lines[1:]:
            print("| " + " | ".join(cells) + " |")
    else:
        widths = [max(len(cells[i]) for cells in lines) for i in range(len(lines[0]))]
        for number, cells in enumerate(lines):
            text = "  ".join(cell.ljust(width) if i in (0, len(cells) - 2, len(cells) - 1) else cell.rjust(width)
                             for i, (cell, width) in enumerate(zip(cells, widths)))
            print(text.rstrip())
            if number == 0:
                print("-" * len(text.rstrip()))


def check_guard(results: dict[str, dict[str, Any]]) -> int:
    """Print the network guard's findings of every worker; 1 if traffic may have left 127.0.0.1."""
    status = 0
    for name, result in results.items():
        guard = result.get("guard", {})
        hosts = sorted(set(guard.get("udp_hosts", [])))
        print(f"{IMPLEMENTATION_NAMES[name]}: loopback guard refusals {guard.get('refusals')}, UDP sockets bound to "
              f"{hosts}")
        # pyipv8 3.2.1's Python exit sockets bind the wildcard address (it has no setting for that): there the
        # guard's check of every send is what keeps the traffic on loopback.
        if guard.get("refusals") or (set(hosts) - {LOOPBACK} and name != "pyipv8-python"):
            print(f"{name}: traffic may have left 127.0.0.1: failing", file=sys.stderr)
            status = 1
        if result.get("socketless_us"):
            for hops, costs in result["socketless_us"].items():
                print(f"{name}, {_hops(int(hops))}: Python CPU per data cell, sockets taken out (us): "
                      + ", ".join(f"{node} {value:.1f}" for node, value in costs.items()))
    return status


def print_results(results: dict[str, dict[str, Any]], markdown: bool) -> int:
    """Print the tunnel table and the network guard's findings; returns the exit status."""
    print()
    print_table(build_rows(results), [name for name in IMPLEMENTATIONS if name in results], markdown)
    print()
    return check_guard(results)


def print_hidden_results(results: dict[str, dict[str, Any]], markdown: bool) -> int:
    """Print the hidden-services table and the network guard's findings; returns the exit status."""
    print("\nHidden services (seeder and downloader 1 hop each side; see bench/_hidden_shared.py)\n")
    print_table(build_hidden_rows(results), [name for name in IMPLEMENTATIONS if name in results], markdown)
    print()
    for name, result in results.items():
        hidden = result.get("hidden") or {}
        print(f"{IMPLEMENTATION_NAMES[name]}: e2e ready per repetition (ms) "
              f"{', '.join(f'{value:.0f}' for value in hidden.get('e2e_samples_ms', []))}; lookups "
              f"{hidden.get('lookups')}" + (f"; ends: {result['ends']}" if result.get("ends") else "")
              + (f"; new swarms after a silent e2e circuit: {hidden['retries']}" if hidden.get("retries") else ""))
        if hidden.get("socketless_us"):
            print(f"{name}: Python CPU per e2e payload, sockets taken out (us): "
                  + ", ".join(f"{node} {value:.1f}" for node, value in hidden["socketless_us"].items()))
    return check_guard(results)


def main() -> int:
    """Parse the options; run the workers (or, with ``--worker``, be one)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also run pyipv8 3.2.1 (Python and Rust endpoints)")
    parser.add_argument("--reference-python", help="the pyipv8 interpreter (default .venv-ref/bin/python)")
    parser.add_argument("--quick", action="store_true", help="1 s per run, 3 builds: a smoke check")
    parser.add_argument("--markdown", action="store_true", help="print the tables for bench/README.md")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per sending run (default 10)")
    parser.add_argument("--builds", type=int, default=9, help="circuits built per hop count (default 9)")
    parser.add_argument("--rust-workers", type=int, default=4,
                        help="worker threads of each Rust endpoint (default 4, the library's default)")
    parser.add_argument("--profile", type=int, choices=HOP_COUNTS, help="cProfile one paced send_data run")
    parser.add_argument("--socketless", action="store_true",
                        help="with --profile: profile the data path with the sockets taken out (see bench/README.md)")
    parser.add_argument("--profile-file", help="with --profile: also save the statistics here")
    parser.add_argument("--hidden-reps", type=int, default=7,
                        help="hidden services: seed-and-connect repetitions (default 7; the median is shown)")
    parser.add_argument("--hidden-only", action="store_true", help="only the hidden-services table")
    parser.add_argument("--no-hidden", action="store_true", help="no hidden-services table")
    parser.add_argument("--hidden-profile", choices=("setup", "data"),
                        help="cProfile the hidden-services repetitions (setup) or the paced e2e run (data)")
    parser.add_argument("--only", choices=("send_data", "socks5"), help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hidden-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.builds = min(args.seconds, 1.0), min(args.builds, 3)
        args.hidden_reps = min(args.hidden_reps, 3)
    if args.hidden_worker or args.hidden_profile:
        from _hidden_worker import run_hidden_worker_process
        return run_hidden_worker_process(args)
    if args.worker or args.profile:
        from _tunnel_worker import run_worker_process
        return run_worker_process(args)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"tunnels.py on {machine_description()}")
    print(f"started {started}, load average {load_average()}; {args.seconds:g} s per run, {args.builds} builds "
          f"per hop count, at most {WINDOW} in flight when paced; SOCKS5 front door "
          f"{'present' if socks5_available() else 'missing'} in txipv8"
          + ("" if args.no_hidden else f"; {args.hidden_reps} hidden-services repetitions"))
    status = 0
    if not args.hidden_only:
        status |= print_results(measure_all(args), args.markdown)
    if not args.no_hidden:
        status |= print_hidden_results(measure_hidden(args), args.markdown)
    print(f"\nfinished {time.strftime('%H:%M:%S UTC', time.gmtime())}, load average {load_average()}")
    return status


if __name__ == "__main__":
    sys.exit(main())
