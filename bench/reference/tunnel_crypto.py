#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/tunnel_crypto.py``: cell layers and handshake steps.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/tunnel_crypto.py --reference`` starts
it and reads the single ``BENCH-RESULT {json}`` line it prints. pyipv8 3.2.1's session keys, layers and key
agreement are Rust (``ipv8_rust_tunnels``) behind the same Python names txipv8 offers.
"""
from __future__ import annotations

import argparse
import os
import sys

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH_DIR)  # for _harness and _tunnel_crypto_loops only: bench/ holds no ipv8 package

import ipv8  # noqa: E402
from _harness import check_ipv8_origin, emit_result  # noqa: E402
from _tunnel_crypto_loops import measure_tunnel_crypto  # noqa: E402
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.anonymization.crypto import TunnelCrypto  # noqa: E402
from ipv8.messaging.anonymization.tunnel import FORWARD  # noqa: E402

check_ipv8_origin(ipv8, want_reference=True)


def main() -> None:
    """Measure and hand the figures back as one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.25)
    args = parser.parse_args()
    emit_result(measure_tunnel_crypto(TunnelCrypto, TunnelCrypto.generate_session_keys,
                                      default_eccrypto.generate_key("curve25519"), FORWARD, args.repeats,
                                      args.min_time))


if __name__ == "__main__":
    main()
