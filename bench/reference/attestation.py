#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/attestation.py``: key generation, attest and verify times, and loop lag.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/attestation.py --reference`` starts it
and reads the single ``BENCH-RESULT {json}`` line it prints. The same plan as the txipv8 side: two
``AttestationCommunity`` instances on 127.0.0.1 with in-memory databases, each step timed on the wall clock,
the median of ``--rounds`` rounds per format, and the largest delay of a 5 ms timer on the asyncio loop.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH_DIR)  # for _harness only: bench/ holds no ipv8 package

from _harness import check_ipv8_origin, emit_result

import ipv8
from ipv8.attestation.wallet.community import AttestationCommunity, AttestationSettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

check_ipv8_origin(ipv8, want_reference=True)

CASES = [("id_metadata", b"benchmark value", [b"benchmark value", b"other"]),
         ("id_metadata_big", b"benchmark value", [b"benchmark value", b"other"]),
         ("id_metadata_range_18plus", bytes([42]), [b"\x01"])]
STEPS = ("keygen", "attest", "verify")
LAG_INTERVAL = 0.005


def cpu_wait() -> float | None:
    """Seconds this thread has waited for a CPU while runnable (Linux schedstat), or None if unknown."""
    try:
        with open("/proc/thread-self/schedstat") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


async def lag_meter(worst: list[float]) -> None:
    """``worst[0]``: the largest delay; ``worst[1]``: the largest delay less the CPU wait meanwhile."""
    while True:
        expected = time.perf_counter() + LAG_INTERVAL
        waited = cpu_wait()
        await asyncio.sleep(LAG_INTERVAL)
        late = time.perf_counter() - expected
        worst[0] = max(worst[0], late)
        now_waited = cpu_wait()
        if waited is not None and now_waited is not None:
            worst[1] = max(worst[1], late - (now_waited - waited))


async def start_node() -> tuple[UDPEndpoint, AttestationCommunity]:
    endpoint = UDPEndpoint(0, "127.0.0.1")
    await endpoint.open()
    address = UDPv4Address(*endpoint.get_address())
    community = AttestationCommunity(AttestationSettings(
        my_peer=Peer(default_eccrypto.generate_key("curve25519"), address), endpoint=endpoint, network=Network(),
        working_directory=":memory:"))
    return endpoint, community


async def measure(rounds: int) -> dict:
    (owner_endpoint, owner), (attestor_endpoint, attestor) = await start_node(), await start_node()
    attestor_peer = Peer(attestor.my_peer.public_key.key_to_bin(), UDPv4Address(*attestor_endpoint.get_address()))
    owner_address = UDPv4Address(*owner_endpoint.get_address())
    loop = asyncio.get_running_loop()
    completed: asyncio.Queue = asyncio.Queue()
    owner.set_attestation_request_complete_callback(
        lambda for_peer, name, attestation_hash, id_format, from_peer=None: completed.put_nowait(attestation_hash))
    worst = [0.0, 0.0]
    meter = loop.create_task(lag_meter(worst))
    times: dict[str, list[float]] = {}
    try:
        for id_format, value, values in CASES:
            async def attest(peer, name, metadata, value=value):
                return value
            attestor.set_attestation_request_callback(attest)
            algorithm = owner.get_id_algorithm(id_format)
            for _ in range(rounds):
                start = time.perf_counter()
                key = algorithm.generate_secret_key()
                made = time.perf_counter()
                owner.request_attestation(attestor_peer, "attribute", key, {"id_format": id_format})
                attestation_hash = await asyncio.wait_for(completed.get(), 60)
                attested = time.perf_counter()
                verified_future = loop.create_future()
                attestor.verify_attestation_values(owner_address, attestation_hash, values,
                                                   lambda h, c, f=verified_future: f.done() or f.set_result(c),
                                                   id_format)
                certainties = await asyncio.wait_for(verified_future, 60)
                verified = time.perf_counter()
                if certainties[0] < 0.99:
                    raise RuntimeError(f"{id_format}: the attestation did not verify ({certainties})")
                for step, seconds in zip(STEPS, (made - start, attested - made, verified - attested)):
                    times.setdefault(f"{id_format} {step}", []).append(seconds * 1000)
    finally:
        meter.cancel()
        for community, endpoint in ((owner, owner_endpoint), (attestor, attestor_endpoint)):
            await community.unload()
            endpoint.close()
    result = {name: statistics.median(samples) for name, samples in times.items()}
    result["lag"] = worst[0] * 1000
    if cpu_wait() is not None:
        result["lag_own"] = worst[1] * 1000
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    emit_result(asyncio.run(measure(args.rounds)))


if __name__ == "__main__":
    main()
