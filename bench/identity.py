#!/usr/bin/env python3
"""The identity REST API: wall time of the documentation's enrollment and verification flows between two services.

Two IPv8 services on 127.0.0.1, started as doc/basics/identity.md starts them (no overlays of their own, REST
APIs on free ports), run in a process of their own (bench/_identity_services.py); their pseudonyms
(``pseudonym1``, the owner, and ``pseudonym2``, the authority and verifier) find each other through a txipv8
tracker process on 127.0.0.1 (one tracker per implementation). The benchmark's process is the HTTP client
(bench/_identity_client.py, standard library only, one kept-alive connection per service) and follows the
documentation's curl steps:

* **enrollment**: ``PUT request`` by the owner, poll the authority's ``outstanding/attestations``,
  ``PUT attest`` by the authority, poll the owner's ``credentials`` until the credential is signed;
* **verification**: ``PUT verify`` by the verifier, poll the owner's ``outstanding/verifications``, ``PUT
  allow`` by the owner, poll the verifier's ``verifications`` until the result is in (and check it matched).

Waiting steps poll every 5 ms. Each round uses a fresh attribute name; the first round is a warm-up (txipv8
starts its attestation worker processes then) and is not counted; the table shows the median of ``--rounds``
rounds in milliseconds, and the median time of one plain REST request (``GET .../peers``). With ``--reference``
pyipv8 3.2.1's two services (bench/reference/identity.py, in the pyipv8 interpreter) run next to ours and the
rounds alternate between the two, so that a busy spell of the machine hits both. The time the pseudonyms took to
load and meet is shown for information (it is mostly the walker's pace).

Usage (from the repository root)::

    .venv/bin/python bench/identity.py               # txipv8 only
    .venv/bin/python bench/identity.py --reference   # plus pyipv8 3.2.1, with ratios (ours / pyipv8)
    .venv/bin/python bench/identity.py --quick       # one counted round, for smoke checks
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

from _harness import use_project_interpreter

use_project_interpreter()

from _discovery_shared import TrackerProcess, start_tracker, stop_tracker
from _harness import (
    REPO_ROOT,
    Row,
    clean_environment,
    load_average,
    machine_description,
    print_table,
    reference_python,
)
from _identity_client import Pair

READY_MARKER = "BENCH-READY "
#: pyipv8 3.2.1's REST layer does not import with marshmallow 4; this is where the interop tests (and we) put 3.x.
REFERENCE_DEPS_REQUIREMENT = "marshmallow<4"
_DEPS_PROBE = "import sys; sys.path.insert(0, sys.argv[1]); import ipv8.REST.rest_manager"


class ServiceProcess:
    """One implementation's two services in a child process; :attr:`urls` are their REST APIs."""

    def __init__(self, label: str, command: list[str], cwd: str, timeout: float = 60.0) -> None:
        self.label = label
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        env=clean_environment(), cwd=cwd)
        self.output: list[str] = []
        ready = threading.Event()
        found: list[dict[str, Any]] = []

        def drain() -> None:  # keep reading, so the child never blocks on a full pipe
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line.rstrip())
                if line.startswith(READY_MARKER) and not found:
                    found.append(json.loads(line[len(READY_MARKER):]))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, name=f"{label}-output", daemon=True).start()
        if not ready.wait(timeout) or not found:
            self.stop()
            raise RuntimeError(f"the {label} services did not start; their output:\n" + "\n".join(self.output[-20:]))
        self.urls: list[str] = found[0]["urls"]
        self.ipv8_file: str = found[0]["ipv8"]

    def stop(self, timeout: float = 20.0) -> int | None:
        """Close its standard input (it stops its services and exits); kill it if it does not in time."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            return None


def reference_deps(python: str) -> str:
    """A directory with ``marshmallow<4`` for pyipv8's REST layer (installed with pip on first use)."""
    deps = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(python))), "rest-compat-deps")

    def works() -> bool:
        return subprocess.run([python, "-c", _DEPS_PROBE, deps], capture_output=True, env=clean_environment(),
                              cwd=os.path.dirname(deps), check=False, timeout=120).returncode == 0
    if not works():
        print(f"installing {REFERENCE_DEPS_REQUIREMENT} into {deps} for pyipv8's REST API", file=sys.stderr)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--upgrade", "--target",
                        deps, REFERENCE_DEPS_REQUIREMENT], env=clean_environment(), check=False, timeout=600)
        if not works():
            raise SystemExit(f"pyipv8 3.2.1's REST API does not import, even with {deps} ({REFERENCE_DEPS_REQUIREMENT})")
    return deps


def start_side(label: str, python: str, script: str, extra: list[str]) -> tuple[TrackerProcess, ServiceProcess]:
    """A tracker of its own, then the two services of one implementation."""
    tracker = start_tracker(sys.executable, env=clean_environment())
    try:
        services = ServiceProcess(label, [python, *script, "--tracker-port", str(tracker.port), *extra], REPO_ROOT)
    except Exception:
        stop_tracker(tracker)
        raise
    return tracker, services


def build_rows(ours: dict[str, float], reference: dict[str, float] | None) -> list[Row]:
    ref = reference or {}
    rows = []
    for key, label in (("enrollment", "enrollment flow"), ("verification", "verification flow")):
        theirs = ref.get(key)
        # Times: lower is better; the target is pyipv8's own figure.
        rows.append(Row(key, label, ours.get(key), theirs, target=("max", theirs) if theirs is not None else None,
                        unit="ms", precision=1))
    rows.append(Row("request", "one REST request (GET peers)", ours.get("request"), ref.get("request"), unit="ms",
                    precision=2))
    rows.append(Row("meet", "pseudonyms load and meet, once", ours.get("meet"), ref.get("meet"), unit="s",
                    precision=2))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true", help="one counted round (smoke check, noisy)")
    parser.add_argument("--rounds", type=int, default=7, help="counted rounds; the median counts")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    print(f"machine: {machine_description()}; load average {load_average()}")
    sides: list[tuple[str, TrackerProcess, ServiceProcess, Pair]] = []
    try:
        ours = ["-m", "ipv8.test.netguard", os.path.join(BENCH_DIR, "_identity_services.py")]
        tracker, services = start_side("txipv8", sys.executable, ours, [])
        sides.append(("txipv8", tracker, services, Pair(services.urls)))
        if args.reference:
            python = reference_python(args.reference_python)
            theirs = [os.path.join(BENCH_DIR, "reference", "identity.py")]
            tracker, services = start_side("pyipv8", python, theirs, ["--deps", reference_deps(python)])
            sides.append(("pyipv8", tracker, services, Pair(services.urls)))
        for _, _, _, pair in sides:
            pair.setup()
        for number in range(args.rounds + 1):  # round 0: the warm-up
            for _, _, _, pair in sides:
                pair.round(record=number > 0)
        results = {label: pair.result() for label, _, _, pair in sides}
    finally:
        for label, tracker, services, pair in sides:
            pair.close()
            status = services.stop()
            stop_tracker(tracker)
            if status not in (0, None):
                print(f"the {label} services exited with status {status}:\n" + "\n".join(services.output[-20:]),
                      file=sys.stderr)
    print(f"load average after measuring: {load_average()}")
    print_table(build_rows(results["txipv8"], results.get("pyipv8")), with_reference=args.reference,
                markdown=args.markdown)


if __name__ == "__main__":
    main()
