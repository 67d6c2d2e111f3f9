#!/usr/bin/env python3
"""Attestations between two peers on 127.0.0.1: key generation, attest and verify times, and reactor lag.

Two ``AttestationCommunity`` instances in one process, each on its own UDP socket on 127.0.0.1 with an
in-memory database: the owner makes a one-time key for the format (``generate_secret_key``), asks the
attestor to attest a value (``request_attestation``, until the attestation is stored) and has the attestor
verify it (``verify_attestation_values``, until every challenge is answered). Each step is timed on the wall
clock, ``--rounds`` times per format; the table shows the median in milliseconds. Meanwhile a timer that
should fire every 5 ms records how late it fires: the largest delay is the reactor lag (target < 50 ms).
On Linux the next row subtracts the time the reactor thread spent runnable but waiting for a CPU (other
processes on a busy machine; ``/proc/thread-self/schedstat``): what is left is the node's own doing.
txipv8 does the arithmetic in worker processes (started before the measurement: a one-time cost of about a
quarter second, like imports); pyipv8 3.2.1 (``--reference``, bench/reference/attestation.py
in the pyipv8 interpreter) does it on its asyncio loop, key generation included (a direct
``generate_secret_key`` call, as pyipv8's identity layer makes it).

Usage (from the repository root)::

    .venv/bin/python bench/attestation.py               # txipv8 only
    .venv/bin/python bench/attestation.py --reference   # plus pyipv8 3.2.1, with ratios (ours / pyipv8)
    .venv/bin/python bench/attestation.py --quick       # one round per format, for smoke checks
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))

from _harness import use_project_interpreter

use_project_interpreter()

from _harness import (
    Row,
    check_ipv8_origin,
    load_average,
    machine_description,
    print_table,
    reference_python,
    run_reference,
)
from twisted.internet import reactor, task
from twisted.internet.defer import ensureDeferred

import ipv8
from ipv8.attestation.wallet.community import AttestationCommunity
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

check_ipv8_origin(ipv8, want_reference=False)

#: (format, attested value, values to verify)
CASES = [("id_metadata", b"benchmark value", [b"benchmark value", b"other"]),
         ("id_metadata_big", b"benchmark value", [b"benchmark value", b"other"]),
         ("id_metadata_range_18plus", bytes([42]), [b"\x01"])]
STEPS = ("keygen", "attest", "verify")
LAG_INTERVAL = 0.005


def cpu_wait() -> float | None:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat), or None if unknown."""
    try:
        with open("/proc/thread-self/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class LagMeter:
    """A timer every ``LAG_INTERVAL`` seconds; :attr:`worst` is its largest delay, in seconds.

    :attr:`worst_own` is the largest delay less the time the operating system kept the reactor thread
    waiting for a CPU meanwhile (other processes on a busy machine): the part the node itself caused.
    """

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_own: float | None = 0.0 if cpu_wait() is not None else None
        self.expected = time.perf_counter() + LAG_INTERVAL
        self.waited = cpu_wait()
        self.loop = task.LoopingCall(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        late = now - self.expected
        self.worst = max(self.worst, late)
        waited = cpu_wait()
        if self.worst_own is not None and waited is not None and self.waited is not None:
            self.worst_own = max(self.worst_own, late - (waited - self.waited))
        self.waited = waited
        self.expected = now + LAG_INTERVAL


class BenchAttestationCommunity(AttestationCommunity):
    """Both peers share 127.0.0.1: the per-IP request rate limit would throttle the rounds."""

    request_rate_limit = 1000.0


async def start_node() -> tuple[UDPEndpoint, AttestationCommunity]:
    endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
    await endpoint.open()
    address = UDPv4Address(*endpoint.get_address())
    community = BenchAttestationCommunity(AttestationCommunity.settings_class(
        my_peer=Peer(default_eccrypto.generate_key("curve25519"), address), endpoint=endpoint, network=Network(),
        working_directory=":memory:"))
    return endpoint, community


async def measure(rounds: int) -> dict[str, Any]:
    """Median milliseconds per ``"<format> <step>"`` and the worst lag (``"lag"``, ms)."""
    (owner_endpoint, owner), (attestor_endpoint, attestor) = await start_node(), await start_node()
    attestor_peer = Peer(attestor.my_peer.public_key.key_to_bin(), UDPv4Address(*attestor_endpoint.get_address()))
    owner_address = UDPv4Address(*owner_endpoint.get_address())
    await owner.worker.warm_up()  # the shared process pool: both peers use it
    meter = LagMeter()
    meter.loop.start(LAG_INTERVAL, now=False)
    times: dict[str, list[float]] = {}
    try:
        for id_format, value, values in CASES:
            attestor.set_attestation_request_callback(lambda peer, name, metadata, value=value: value)
            for _ in range(rounds):
                start = time.perf_counter()
                key = await owner.generate_secret_key(id_format)
                made = time.perf_counter()
                attestation_hash = await owner.request_attestation(attestor_peer, "attribute", key,
                                                                   {"id_format": id_format})
                attested = time.perf_counter()
                if attestation_hash is None:
                    raise RuntimeError(f"{id_format}: no attestation arrived")
                certainties = await attestor.verify_attestation_values(owner_address, attestation_hash, values,
                                                                       None, id_format)
                verified = time.perf_counter()
                if not certainties or certainties[0] < 0.99:
                    raise RuntimeError(f"{id_format}: the attestation did not verify ({certainties})")
                for step, seconds in zip(STEPS, (made - start, attested - made, verified - attested)):
                    times.setdefault(f"{id_format} {step}", []).append(seconds * 1000)
    finally:
        meter.loop.stop()
        for community, endpoint in ((owner, owner_endpoint), (attestor, attestor_endpoint)):
            await community.unload()
            endpoint.close()
    result: dict[str, Any] = {name: statistics.median(samples) for name, samples in times.items()}
    result["lag"] = meter.worst * 1000
    if meter.worst_own is not None:
        result["lag_own"] = meter.worst_own * 1000
    return result


def build_rows(ours: dict[str, Any], reference: dict[str, Any] | None) -> list[Row]:
    ref = reference or {}
    rows = []
    for id_format, _, _ in CASES:
        for step in STEPS:
            key = f"{id_format} {step}"
            theirs = ref.get(key)
            # Times: lower is better; the target is pyipv8's own figure.
            rows.append(Row(key, f"{id_format} {step}", ours.get(key), theirs,
                            target=("max", theirs) if theirs is not None else None, unit="ms", precision=1))
    rows.append(Row("lag", "largest reactor lag", ours.get("lag"), ref.get("lag"), target=("max", 50.0), unit="ms",
                    precision=1, comparable=False))
    if "lag_own" in ours:
        # Informative: the lag without the time the OS gave the CPU to other processes (busy machines).
        rows.append(Row("lag_own", "  of it not waiting for a CPU", ours.get("lag_own"), ref.get("lag_own"),
                        unit="ms", precision=1, comparable=False))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true", help="one round per format (smoke check, noisy)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per format; the median counts")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    print(f"machine: {machine_description()}; load average {load_average()}")
    outcome: list[Any] = []

    def run() -> None:
        ensureDeferred(measure(args.rounds)).addBoth(outcome.append).addBoth(lambda _: reactor.stop())
    reactor.callWhenRunning(run)
    reactor.run()
    if not outcome or not isinstance(outcome[0], dict):
        raise SystemExit(f"the benchmark failed: {outcome[0] if outcome else 'no result'}")
    reference = None
    if args.reference:
        reference = run_reference(reference_python(args.reference_python), "attestation.py",
                                  ["--rounds", str(args.rounds)], timeout=600)
    print(f"load average after measuring: {load_average()}")
    print_table(build_rows(outcome[0], reference), with_reference=reference is not None, markdown=args.markdown)


if __name__ == "__main__":
    main()
