#!/usr/bin/env python3
"""Serialization and signature throughput of txipv8, optionally next to pyipv8 3.2.1.

Usage (from the repository root, with the project interpreter)::

    .venv/bin/python bench/serialization.py               # txipv8 only
    .venv/bin/python bench/serialization.py --reference   # plus pyipv8 3.2.1, ratios and targets
    .venv/bin/python bench/serialization.py --quick       # a few seconds, for smoke checks

``--reference`` runs ``bench/reference/serialization.py`` in the pyipv8 interpreter (``.venv-ref``)
during the same run: the two packages are both called ``ipv8`` and never share an interpreter.
Figures are operations per second, best of several runs.
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
from _crypto_loops import measure_crypto  # noqa: E402
from _harness import (Row, check_ipv8_origin, load_average, machine_description, print_table,  # noqa: E402
                      rate_per_second, reference_python, run_reference)
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile  # noqa: E402
from ipv8.messaging.payload import IntroductionRequestPayload  # noqa: E402
from ipv8.messaging.payload_dataclass import dataclass  # noqa: E402
from ipv8.messaging.serialization import default_serializer  # noqa: E402

check_ipv8_origin(ipv8, want_reference=False)


@dataclass(msg_id=1)
class TwoIntDataclass:
    """The 2-int dataclass payload of the target "250k round trips per second"."""

    first: int
    second: int


@vp_compile
class TwoIntVariablePayload(VariablePayload):
    """The same two integers as a compiled VariablePayload."""

    msg_id = 1
    format_list = ["q", "q"]
    names = ["first", "second"]


def introduction_request() -> IntroductionRequestPayload:
    """A typical introduction request (the message every walk step sends)."""
    return IntroductionRequestPayload(("1.2.3.4", 8090), ("192.168.1.10", 8090), ("1.2.3.4", 8090), True,
                                      "unknown", 4242, b"")


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


def measure(repeats: int, min_time: float) -> dict[str, float]:
    """All figures of this benchmark for txipv8."""
    results = {
        "intro_request": rate_per_second(round_trip_loop(introduction_request()), repeats, min_time),
        "dataclass": rate_per_second(round_trip_loop(TwoIntDataclass(1, 2)), repeats, min_time),
        "vp_compile": rate_per_second(round_trip_loop(TwoIntVariablePayload(1, 2)), repeats, min_time),
    }
    results.update(measure_crypto(default_eccrypto, repeats, min_time))
    return results


def keep_best(best: dict[str, float], new: dict[str, float]) -> None:
    """Merge ``new`` into ``best``, keeping the higher rate of each figure."""
    for name, rate in new.items():
        best[name] = max(best.get(name, 0.0), rate)


def build_rows(ours: dict[str, float], reference: dict[str, float] | None) -> list[Row]:
    """The result table: ours, pyipv8 (when measured), target."""
    ref = reference or {}
    return [
        Row("intro_request", "intro-request pack+unpack", ours["intro_request"], ref.get("intro_request"),
            ("ratio", 2.0)),
        Row("dataclass", "2-int @dataclass pack+unpack", ours["dataclass"], ref.get("dataclass"), ("min", 250_000)),
        Row("vp_compile", "2-int vp_compile pack+unpack", ours["vp_compile"], ref.get("vp_compile")),
        Row("sign", "curve25519 sign (key.signature)", ours["sign"], ref.get("sign")),
        Row("verify_key", "curve25519 verify (key.verify)", ours["verify_key"], ref.get("verify_key"),
            ("relative", "raw libsodium", 0.85)),
        Row("verify_eccrypto", "curve25519 verify (is_valid_signature)", ours["verify_eccrypto"],
            ref.get("verify_eccrypto"), ("relative", "raw libsodium", 0.85)),
        Row("raw libsodium", "raw libsodium verify (ctypes)", ours["verify_raw_ctypes"],
            ref.get("verify_raw_ctypes")),
        Row("verify_raw_libnacl", "raw libnacl.crypto_sign_verify_detached", ours["verify_raw_libnacl"],
            ref.get("verify_raw_libnacl")),
    ]


def main() -> None:
    """Parse the options, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true", help="one short run per figure (smoke check, noisy)")
    parser.add_argument("--repeats", type=int, default=7, help="runs per figure; the best one counts")
    parser.add_argument("--min-time", type=float, default=0.25, help="seconds per run")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.min_time = 1, 0.03

    print(f"machine: {machine_description()}; load average {load_average()}")
    # With --reference, alternate between the implementations (ours, pyipv8, ours, pyipv8) and keep
    # each figure's best: a slow minute of a shared machine then cannot land on one side only.
    rounds = 2 if args.reference and not args.quick else 1
    repeats = max(1, -(-args.repeats // rounds))
    ours: dict[str, float] = {}
    reference: dict[str, float] | None = {} if args.reference else None
    for _ in range(rounds):
        keep_best(ours, measure(repeats, args.min_time))
        if reference is not None:
            keep_best(reference, run_reference(reference_python(args.reference_python), "serialization.py",
                                               ["--repeats", str(repeats), "--min-time", str(args.min_time)],
                                               timeout=110))
    print_table(build_rows(ours, reference), with_reference=reference is not None, markdown=args.markdown)


if __name__ == "__main__":
    main()
