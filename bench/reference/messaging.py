#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/messaging.py``: the same scenarios on pyipv8's asyncio Community.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/messaging.py --reference``
starts it and reads the single ``BENCH-RESULT {json}`` line it prints. Progress goes to stderr.
The receiver of the two-process case is ``bench/reference/receiver.py`` in this same interpreter.
The rate search itself is shared with our side (``_harness.search_lossless_rate``).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any, Callable, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # _harness only: bench/ holds no ipv8 package
sys.path.insert(0, HERE)

import ipv8  # noqa: E402
from _crypto_loops import raw_verify_rate  # noqa: E402
from _harness import (Trial, capacity_hints, check_ipv8_origin, clean_environment, emit_result,  # noqa: E402
                      figure_text, parallel_cpu_share, rate_per_second, search_lossless_rate)
from _pyipv8_overlay import (LOOPBACK, BenchCommunity, CompiledTick, Ping, Tick, make_community,  # noqa: E402
                             target_peer, trust)
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address  # noqa: E402

check_ipv8_origin(ipv8, want_reference=True)

TICK = 0.001
FULL_SPEED_BURST = 100
QUIET_PERIOD = 0.4
WARM_UP = 1000


def progress(line: str) -> None:
    """Progress on stderr (stdout carries only the result line)."""
    print(line, file=sys.stderr, flush=True)


async def send_paced(community: BenchCommunity, peer: Any, trial: int, count: int,  # noqa: ANN401
                     rate: Optional[float]) -> float:
    """Send ``count`` Pings at ``rate``/s (``None``: bursts, yielding to the loop in between); returns seconds."""
    ez_send = community.ez_send
    sent = 0
    started = time.perf_counter()
    while True:
        if rate is None:
            due = min(count, sent + FULL_SPEED_BURST)
        else:
            due = min(count, int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            ez_send(peer, Ping(trial, sent))
            sent += 1
        if sent >= count:
            return time.perf_counter() - started
        await asyncio.sleep(0 if rate is None else TICK)


class LocalReceiver:
    """Community B in this process."""

    def __init__(self, community: BenchCommunity) -> None:
        self.community = community

    async def count(self, trial: int) -> tuple[int, float]:
        """``(handled, seconds first to last)`` for ``trial``."""
        return self.community.tally.report(trial)

    async def stop(self) -> None:
        """Nothing to stop here."""


class RemoteReceiver:
    """Community B in ``bench/reference/receiver.py``, driven over stdin/stdout."""

    def __init__(self) -> None:
        self.process: Optional[asyncio.subprocess.Process] = None

    async def start(self, sender_key: bytes, sender_port: int) -> int:
        """Spawn the receiver and return its UDP port."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, os.path.join(HERE, "receiver.py"), "--sender-key", sender_key.hex(),
            "--sender-port", str(sender_port), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env=clean_environment())
        words = (await self.process.stdout.readline()).decode().split()
        if not words or words[0] != "READY":
            raise RuntimeError(f"pyipv8 receiver did not start: {words}")
        return int(words[1])

    async def count(self, trial: int) -> tuple[int, float]:
        """Ask the receiver for ``(handled, seconds first to last)`` of ``trial``."""
        self.process.stdin.write(f"count {trial}\n".encode())
        await self.process.stdin.drain()
        words = (await self.process.stdout.readline()).decode().split()
        return int(words[2]), float(words[3])

    async def stop(self) -> None:
        """Tell the receiver to quit and wait for it."""
        self.process.stdin.write(b"quit\n")
        await self.process.stdin.drain()
        await self.process.wait()


async def open_endpoint() -> UDPEndpoint:
    """A UDP endpoint on an OS-chosen port of 127.0.0.1."""
    endpoint = UDPEndpoint(0, LOOPBACK)
    await endpoint.open()
    return endpoint


async def measure_transport(remote: bool, count: int, budget: float, capacity_hint: float) -> dict:
    """One process (``remote=False``) or two: full-speed loss and the highest lossless rate."""
    # How fast the machine is right now, to read the figures against: on a shared virtual machine both
    # vary from minute to minute.
    ceiling = raw_verify_rate()
    parallel_share = parallel_cpu_share() if remote else None
    endpoint_a = await open_endpoint()
    community_a = make_community(endpoint_a)
    key_a, port_a = community_a.my_peer.public_key.key_to_bin(), endpoint_a.get_address()[1]
    endpoint_b = community_b = None
    if remote:
        receiver: Any = RemoteReceiver()
        port_b = await receiver.start(key_a, port_a)
    else:
        endpoint_b = await open_endpoint()
        community_b = make_community(endpoint_b)
        trust(community_b, key_a, port_a)
        receiver = LocalReceiver(community_b)
        port_b = endpoint_b.get_address()[1]
    peer_b = target_peer(key_a, port_b)  # only the address is used for sending
    trial_numbers = iter(range(1, 1_000_000))

    async def run_trial(rate: Optional[float], size: int = count) -> Trial:
        trial = next(trial_numbers)
        send_seconds = await send_paced(community_a, peer_b, trial, size, rate)
        handled, seconds = 0, 0.0
        changed_at = time.monotonic()
        deadline = changed_at + 60
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            current, seconds = await receiver.count(trial)
            if current != handled:
                handled, changed_at = current, now
            if handled >= size or now - changed_at > QUIET_PERIOD or now > deadline:
                break
        return Trial(rate, size, handled, send_seconds, seconds)

    label = "pyipv8: " + ("two processes" if remote else "one process")
    try:
        warm = await run_trial(None, min(WARM_UP, count))
        progress(f"{label}: warm-up: {warm.describe()}")
        search = await search_lossless_rate(run_trial, count, budget, capacity_hint,
                                            log=lambda line: progress(f"{label}: {line}"))
    finally:
        await receiver.stop()
        for community, endpoint in ((community_a, endpoint_a), (community_b, endpoint_b)):
            if community is not None:
                await community.unload()
                endpoint.close()
    return {**search.to_json(), "raw_verify": ceiling, "parallel_share": parallel_share}


def measure_dispatch(repeats: int, min_time: float) -> dict[str, float]:
    """``on_packet`` throughput without sockets, for unsigned and signed messages."""
    sender = make_community(UDPEndpoint(0, LOOPBACK))
    receiver = make_community(UDPEndpoint(0, LOOPBACK))
    source = UDPv4Address(LOOPBACK, 9)
    trust(receiver, sender.my_peer.public_key.key_to_bin(), source.port)
    unsigned_packet = sender.ezr_pack(Tick.msg_id, Tick(0, 1), sig=False)
    compiled_packet = sender.ezr_pack(CompiledTick.msg_id, CompiledTick(0, 1), sig=False)
    signed_packet = sender.ezr_pack(Ping.msg_id, Ping(0, 1))

    def dispatch_loop(packet: bytes) -> Callable[[int], None]:
        def loop(count: int, on_packet: Callable = receiver.on_packet, item: tuple = (source, packet)) -> None:
            for _ in range(count):
                on_packet(item)
        return loop

    def build_loop(count: int, pack: Callable = sender.ezr_pack, msg_id: int = Ping.msg_id) -> None:
        for number in range(count):
            pack(msg_id, Ping(0, number))

    unsigned = rate_per_second(dispatch_loop(unsigned_packet), repeats, min_time)
    if receiver.unsigned_handled == 0:
        raise RuntimeError("pyipv8 did not handle the unsigned messages")
    build = rate_per_second(build_loop, repeats, min_time)
    compiled = rate_per_second(dispatch_loop(compiled_packet), repeats, min_time)
    signed = rate_per_second(dispatch_loop(signed_packet), repeats, min_time)
    if receiver.tally.report(0)[0] == 0:
        raise RuntimeError("pyipv8 did not handle the signed messages")
    return {"dispatch_unsigned": unsigned, "dispatch_unsigned_compiled": compiled, "dispatch_signed": signed,
            "build_signed": build}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every pyipv8 figure, in the same order as our side."""
    results: dict[str, Any] = measure_dispatch(args.repeats, args.min_time)
    progress(f"pyipv8: dispatch done ({results['dispatch_unsigned']:,.0f} unsigned/s)")
    hints = capacity_hints(results)
    results["one_process"] = await measure_transport(False, args.count, args.budget, hints["one_process"])
    progress(f"pyipv8: one process done ({figure_text(results['one_process']['lossless_rate'])}/s lossless)")
    results["two_processes"] = await measure_transport(True, args.count, args.budget, hints["two_processes"])
    progress(f"pyipv8: two processes done ({figure_text(results['two_processes']['lossless_rate'])}/s lossless)")
    return results


def main() -> None:
    """Parse the options, measure, print the result line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--budget", type=float, default=35.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args()
    emit_result(asyncio.run(measure(args)))


if __name__ == "__main__":
    main()
