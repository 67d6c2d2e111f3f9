#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/keys.py``: sign and verify rates of every security level.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/keys.py --reference`` starts it
and reads the single ``BENCH-RESULT {json}`` line it prints. pyipv8 3.2.1 does its EC work in Rust
(``ipv8_rust_tunnels``, OpenSSL underneath); its "high" level is sect571k1 (ours: sect571r1).
"""
from __future__ import annotations

import argparse
import os
import sys

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH_DIR)  # for _harness and _key_loops only: bench/ holds no ipv8 package

import ipv8  # noqa: E402
from _harness import check_ipv8_origin, emit_result  # noqa: E402
from _key_loops import LEVELS, measure_levels  # noqa: E402
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402

check_ipv8_origin(ipv8, want_reference=True)


def main() -> None:
    """Measure and hand the figures back as one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.25)
    parser.add_argument("--levels", default=",".join(LEVELS))
    args = parser.parse_args()
    levels = tuple(level for level in args.levels.split(",") if level)
    results = measure_levels(default_eccrypto, levels, args.repeats, args.min_time)
    results.update({f"{level} curve": default_eccrypto.generate_key(level).curve_name() for level in levels})
    emit_result(results)


if __name__ == "__main__":
    main()
