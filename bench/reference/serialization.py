#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/serialization.py``: the same workloads, spelled the pyipv8 way.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/serialization.py --reference``
starts it and reads the single ``BENCH-RESULT {json}`` line it prints.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH_DIR)  # for _harness and _crypto_loops only: bench/ holds no ipv8 package

import ipv8  # noqa: E402
from _crypto_loops import measure_crypto  # noqa: E402
from _harness import check_ipv8_origin, emit_result, rate_per_second  # noqa: E402
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile  # noqa: E402
from ipv8.messaging.payload import IntroductionRequestPayload  # noqa: E402
from ipv8.messaging.payload_dataclass import DataClassPayload  # noqa: E402
from ipv8.messaging.serialization import default_serializer  # noqa: E402

check_ipv8_origin(ipv8, want_reference=True)


@dataclasses.dataclass
class TwoIntDataclass(DataClassPayload[1]):
    """The 2-int dataclass payload, as pyipv8 3.x documents it."""

    first: int
    second: int


@vp_compile
class TwoIntVariablePayload(VariablePayload):
    """The same two integers as a compiled VariablePayload."""

    msg_id = 1
    format_list = ["q", "q"]
    names = ["first", "second"]


def round_trip_loop(payload: object):  # noqa: ANN201
    """A loop of ``pack_serializable`` + ``unpack_serializable`` of ``payload`` through the default serializer."""
    payload_class = type(payload)
    packed = default_serializer.pack_serializable(payload)
    # Decode and re-encode twice: the introduction request's advice flag is inverted on every decode
    # (an old wire quirk both implementations keep), so only the double round trip is the identity.
    decoded = packed
    for _ in range(2):
        decoded = default_serializer.pack_serializable(default_serializer.unpack_serializable(payload_class,
                                                                                              decoded)[0])
    if decoded != packed:
        raise RuntimeError(f"{payload_class.__name__} does not survive a round trip")

    def loop(count: int, pack=default_serializer.pack_serializable,  # noqa: ANN001
             unpack=default_serializer.unpack_serializable, obj=payload, cls=payload_class) -> None:
        for _ in range(count):
            unpack(cls, pack(obj))
    return loop


def main() -> None:
    """Measure and print the result line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.25)
    args = parser.parse_args()
    intro = IntroductionRequestPayload(("1.2.3.4", 8090), ("192.168.1.10", 8090), ("1.2.3.4", 8090), True,
                                       "unknown", 4242, b"")
    results = {
        "intro_request": rate_per_second(round_trip_loop(intro), args.repeats, args.min_time),
        "dataclass": rate_per_second(round_trip_loop(TwoIntDataclass(1, 2)), args.repeats, args.min_time),
        "vp_compile": rate_per_second(round_trip_loop(TwoIntVariablePayload(1, 2)), args.repeats, args.min_time),
    }
    results.update(measure_crypto(default_eccrypto, args.repeats, args.min_time))
    emit_result(results)


if __name__ == "__main__":
    main()
