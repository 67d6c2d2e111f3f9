#!/usr/bin/env python3
"""Sign and verify rates of every key level, per legacy backend, optionally next to pyipv8 3.2.1.

Usage (from the repository root, with the project interpreter)::

    .venv/bin/python bench/keys.py               # txipv8: both legacy backends + curve25519
    .venv/bin/python bench/keys.py --reference   # plus pyipv8 3.2.1 (.venv-ref) and ratios
    .venv/bin/python bench/keys.py --quick       # a few seconds per figure, for smoke checks

The legacy levels (Dispersy's binary curves) are measured once per backend: ``openssl`` (the system
``libcrypto`` through ctypes, the default when it has the curves) and ``python`` (the pure-Python
fallback; pass ``--backends openssl`` to skip it, it takes about half a minute). ``--reference`` runs
``bench/reference/keys.py`` in the pyipv8 interpreter, whose keys are done in Rust over OpenSSL.
Figures are operations per second through ``key.signature`` and ``public_key.verify`` of a 115-byte
message, best of several runs.
"""
from __future__ import annotations

import argparse
import os
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))  # our ipv8, also when the package is not installed

from _harness import use_project_interpreter  # noqa: E402

use_project_interpreter()

import ipv8  # noqa: E402
from _harness import (Row, check_ipv8_origin, load_average, machine_description, print_table,  # noqa: E402
                      reference_python, run_reference)
from _key_loops import LEVELS, measure_levels  # noqa: E402
from ipv8.keyvault import _legacy  # noqa: E402
from ipv8.keyvault.crypto import ECCrypto  # noqa: E402

check_ipv8_origin(ipv8, want_reference=False)

LEGACY_LEVELS = tuple(level for level in LEVELS if level != "curve25519")


class _WithKoblitzHigh(ECCrypto):
    """Our levels plus ``high-k1``: the sect571k1 curve pyipv8 3.x uses for "high", for a like-for-like row."""

    CURVES = {**ECCrypto.CURVES, "high-k1": "sect571k1"}


CRYPTO = _WithKoblitzHigh()


def measure(backends: list[str], repeats: int, min_time: float) -> dict[str, float]:
    """Figures keyed ``"<backend>/<level> sign|verify"`` (backend ``-`` for curve25519)."""
    results: dict[str, float] = {}
    previous = os.environ.get(_legacy.BACKEND_ENVIRONMENT_VARIABLE)
    try:
        for backend in backends:
            os.environ[_legacy.BACKEND_ENVIRONMENT_VARIABLE] = backend
            # The pure-Python backend manages a few operations per second at 571 bits: fewer runs.
            runs = repeats if backend == "openssl" else min(repeats, 2)
            for name, rate in measure_levels(CRYPTO, (*LEGACY_LEVELS, "high-k1"), runs, min_time).items():
                results[f"{backend}/{name}"] = rate
    finally:
        if previous is None:
            os.environ.pop(_legacy.BACKEND_ENVIRONMENT_VARIABLE, None)
        else:
            os.environ[_legacy.BACKEND_ENVIRONMENT_VARIABLE] = previous
    for name, rate in measure_levels(CRYPTO, ("curve25519",), repeats, min_time).items():
        results[f"-/{name}"] = rate
    return results


def build_rows(ours: dict[str, float], backends: list[str], reference: dict | None) -> list[Row]:
    """One row per level, operation and backend; pyipv8's figure next to the default (first) backend.

    pyipv8's "high" is sect571k1, so its figure goes next to our sect571k1 row, not our sect571r1 one.
    """
    ref = reference or {}
    rows = []
    for level in (*LEGACY_LEVELS, "high-k1", "curve25519"):
        curve = CRYPTO.CURVES[level]
        their_level = "high" if level == "high-k1" else level
        compare = ref.get(f"{their_level} curve") in (None, curve)
        for operation in ("sign", "verify"):
            for index, backend in enumerate(backends if level != "curve25519" else ["-"]):
                figure = ours.get(f"{backend}/{level} {operation}")
                if figure is None:
                    continue
                where = "" if backend == "-" else f", {backend}"
                theirs = ref.get(f"{their_level} {operation}") if index == 0 and compare else None
                rows.append(Row(f"{backend}/{level} {operation}", f"{their_level} {operation} ({curve}{where})",
                                figure, theirs))
    return rows


def main() -> None:
    """Parse the options, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true", help="one short run per figure (smoke check, noisy)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure; the best one counts")
    parser.add_argument("--min-time", type=float, default=0.25, help="seconds per run")
    parser.add_argument("--backends", default="openssl,python",
                        help="legacy backends to measure, comma-separated (openssl, python)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.min_time = 1, 0.03
    probe = _legacy.LEGACY_CURVES["sect163k1"]
    available = [backend.name for backend in _legacy.available_backends(probe)]
    backends = [name for name in args.backends.split(",") if name]
    for name in backends:
        if name not in available:
            raise SystemExit(f"legacy backend {name!r} is not available here (available: {', '.join(available)})")

    print(f"machine: {machine_description()}; load average {load_average()}")
    for name in backends:
        print(f"legacy backend {name}: {_legacy.backend_named(name).description}")
    ours = measure(backends, args.repeats, args.min_time)
    reference = None
    if args.reference:
        reference = run_reference(reference_python(args.reference_python), "keys.py",
                                  ["--repeats", str(args.repeats), "--min-time", str(args.min_time)], timeout=300)
    print(f"load average after measuring: {load_average()}")
    print_table(build_rows(ours, backends, reference), with_reference=reference is not None, markdown=args.markdown)


if __name__ == "__main__":
    main()
