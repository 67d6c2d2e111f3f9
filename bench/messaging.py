#!/usr/bin/env python3
"""Signed-message throughput of txipv8 over real UDP on 127.0.0.1, optionally next to pyipv8 3.2.1.

Community A sends N (default 20,000) signed 2-integer ``@dataclass`` messages with ``ez_send`` to
community B, whose ``lazy_wrapper`` handler counts them:

* (a) A and B in one process (one Twisted reactor, two UDP sockets);
* (b) B in a subprocess (``bench/_receiver.py``) that reports its counts over a stdin/stdout pipe.

For each case the benchmark first sends at full speed (giving the loss at full speed and a first
estimate of B's capacity), then searches, within a time budget, for the highest send rate at which B
handles every message (see ``_harness.search_lossless_rate``). The sender is paced by a
``LoopingCall`` that tops up the number of messages sent to ``rate x elapsed`` every millisecond.

It also measures the overlay dispatch alone, without sockets: ``community.on_packet((address, packet))``
in a loop for unsigned (``lazy_wrapper_unsigned``) and signed (``lazy_wrapper``) messages.

Usage (from the repository root)::

    .venv/bin/python bench/messaging.py               # txipv8 only
    .venv/bin/python bench/messaging.py --reference   # plus pyipv8 3.2.1 (bench/reference/messaging.py)
    .venv/bin/python bench/messaging.py --quick       # a few seconds, for smoke checks
    .venv/bin/python bench/messaging.py --profile     # cProfile of the receiving side, no table
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable, Optional

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))

from _harness import use_project_interpreter  # noqa: E402

use_project_interpreter()

from twisted.internet import defer, reactor, task  # noqa: E402
from twisted.internet.protocol import ProcessProtocol  # noqa: E402

import ipv8  # noqa: E402
from _crypto_loops import raw_verify_rate  # noqa: E402
from _harness import (Row, Trial, capacity_hints, check_ipv8_origin, clean_environment,  # noqa: E402
                      figure_text, load_average, machine_description, parallel_cpu_share, print_table,
                      rate_per_second, reference_python, run_reference, search_lossless_rate)
from _overlay import (LOOPBACK, BenchCommunity, CompiledTick, Ping, Tick, make_community, target_peer,  # noqa: E402
                      trust)
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address  # noqa: E402

check_ipv8_origin(ipv8, want_reference=False)

#: Pacing period of the rate-controlled sender.
TICK = 0.001
#: Messages sent per reactor turn when sending at full speed.
FULL_SPEED_BURST = 100
#: A trial is over when the receiver's count stops changing for this long.
QUIET_PERIOD = 0.4
#: Messages of the warm-up trial that precedes every measurement (caches, first-use compilation).
WARM_UP = 1000


def sleep(seconds: float) -> defer.Deferred:
    """A Deferred that fires after ``seconds``."""
    return task.deferLater(reactor, seconds, lambda: None)


class PacedSender:
    """Sends numbered :class:`Ping` messages from ``community`` to ``peer`` at a given rate."""

    def __init__(self, community: BenchCommunity, peer: Any) -> None:  # noqa: ANN401
        self.community = community
        self.peer = peer

    def send(self, trial: int, count: int, rate: Optional[float]) -> defer.Deferred:
        """
        Send ``count`` messages, at ``rate`` per second or, with ``rate=None``, in bursts as fast as the
        reactor allows. Fires with the seconds between the first and the last send.
        """
        ez_send, peer = self.community.ez_send, self.peer
        state = {"sent": 0}
        started = time.perf_counter()

        def top_up() -> None:
            sent = state["sent"]
            if rate is None:
                due = min(count, sent + FULL_SPEED_BURST)
            else:
                due = min(count, int((time.perf_counter() - started) * rate) + 1)
            while sent < due:
                ez_send(peer, Ping(trial, sent))
                sent += 1
            state["sent"] = sent
            if sent >= count:
                pacer.stop()

        pacer = task.LoopingCall(top_up)
        return pacer.start(0 if rate is None else TICK).addCallback(lambda _: time.perf_counter() - started)


class LocalReceiver:
    """Community B living in this process."""

    def __init__(self, community: BenchCommunity) -> None:
        self.community = community

    def count(self, trial: int) -> defer.Deferred:
        """``(handled, seconds first to last)`` for ``trial``."""
        return defer.succeed(self.community.tally.report(trial))

    def stop(self) -> defer.Deferred:
        """Nothing to stop: the community is unloaded by the caller."""
        return defer.succeed(None)


class RemoteReceiver(ProcessProtocol):
    """Community B in a subprocess (``bench/_receiver.py``), driven over its stdin and stdout."""

    def __init__(self) -> None:
        self._buffer = b""
        self._ready: defer.Deferred = defer.Deferred()
        self._waiting: list[defer.Deferred] = []
        self._exited: defer.Deferred = defer.Deferred()
        self.errors = b""
        self.port = 0

    def start(self, sender_key: bytes, sender_port: int, extra: tuple[str, ...] = ()) -> defer.Deferred:
        """Spawn the receiver; fires with its UDP port once it is listening."""
        script = os.path.join(BENCH_DIR, "_receiver.py")
        arguments = [sys.executable, script, "--sender-key", sender_key.hex(), "--sender-port", str(sender_port),
                     *extra]
        reactor.spawnProcess(self, sys.executable, arguments, env=clean_environment(), path=os.getcwd())
        return self._ready

    def outReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        """Split stdout into lines and hand each to whoever waits for it."""
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            words = line.decode().split()
            if words and words[0] == "READY":
                self.port = int(words[1])
                self._ready.callback(self.port)
            elif words and words[0] == "COUNT" and self._waiting:
                self._waiting.pop(0).callback((int(words[2]), float(words[3])))

    def errReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        """Keep stderr for the error message if the receiver dies."""
        self.errors += data
        sys.stderr.write(data.decode(errors="replace"))

    def processEnded(self, reason: Any) -> None:  # noqa: N802, ANN401 - Twisted's name
        """Fail whoever still waits; release :meth:`stop`."""
        failure = RuntimeError(f"receiver process ended: {reason.value}\n{self.errors.decode(errors='replace')}")
        if not self._ready.called:
            self._ready.errback(failure)
        for waiting in self._waiting:
            waiting.errback(failure)
        self._waiting.clear()
        self._exited.callback(None)

    def count(self, trial: int) -> defer.Deferred:
        """Ask the receiver for ``(handled, seconds first to last)`` of ``trial``."""
        answer: defer.Deferred = defer.Deferred()
        self._waiting.append(answer)
        self.transport.write(f"count {trial}\n".encode())
        return answer

    def stop(self) -> defer.Deferred:
        """Ask the receiver to quit; fires when it has."""
        self.transport.write(b"quit\n")
        return self._exited


class Scenario:
    """Sender A, receiver B (local or remote), and the trials between them."""

    def __init__(self, sender: PacedSender, receiver: Any, count: int) -> None:  # noqa: ANN401
        self.sender = sender
        self.receiver = receiver
        self.count = count
        self.trial_number = 0

    async def run_trial(self, rate: Optional[float], count: Optional[int] = None) -> Trial:
        """Send one batch and wait until the receiver has handled all of it, or stopped making progress."""
        count = count or self.count
        self.trial_number += 1
        trial = self.trial_number
        send_seconds = await self.sender.send(trial, count, rate)
        handled, seconds = 0, 0.0
        changed_at = time.monotonic()
        deadline = changed_at + 30
        while True:
            await sleep(0.05)
            now = time.monotonic()
            current, seconds = await self.receiver.count(trial)
            if current != handled:
                handled, changed_at = current, now
            if handled >= count or now - changed_at > QUIET_PERIOD or now > deadline:
                break
        return Trial(rate, count, handled, send_seconds, seconds)


async def open_endpoint() -> UDPEndpoint:
    """A UDP endpoint bound to an OS-chosen port on 127.0.0.1."""
    endpoint = UDPEndpoint(0, LOOPBACK)
    await endpoint.open()
    return endpoint


async def measure_transport(remote: bool, count: int, budget: float, capacity_hint: float,
                            log: Callable[[str], None]) -> dict:
    """Case (a) (``remote=False``) or (b): full-speed loss and the highest lossless rate."""
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
        key_b = key_a  # A only needs B's address; the key in the Peer object is not used for sending
    else:
        endpoint_b = await open_endpoint()
        community_b = make_community(endpoint_b)
        trust(community_b, key_a, port_a)
        receiver = LocalReceiver(community_b)
        port_b, key_b = endpoint_b.get_address()[1], community_b.my_peer.public_key.key_to_bin()
    scenario = Scenario(PacedSender(community_a, target_peer(key_b, port_b)), receiver, count)
    try:
        warm = await scenario.run_trial(None, count=min(WARM_UP, count))
        log(f"warm-up: {warm.describe()}")
        search = await search_lossless_rate(scenario.run_trial, count, budget, capacity_hint, log=log)
    finally:
        await receiver.stop()
        for community, endpoint in ((community_a, endpoint_a), (community_b, endpoint_b)):
            if community is not None:
                await community.unload()
                await endpoint.close()
    return {**search.to_json(), "raw_verify": ceiling, "parallel_share": parallel_share}


def measure_dispatch(repeats: int, min_time: float) -> dict[str, float]:
    """``on_packet`` throughput without sockets, for unsigned and signed messages."""
    sender = make_community(UDPEndpoint(0, LOOPBACK))  # never opened: no socket
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

    before = receiver.unsigned_handled
    unsigned = rate_per_second(dispatch_loop(unsigned_packet), repeats, min_time)
    if receiver.unsigned_handled == before or receiver.drop_counts:
        raise RuntimeError(f"unsigned messages were not handled: {dict(receiver.drop_counts)}")
    build = rate_per_second(build_loop, repeats, min_time)
    compiled = rate_per_second(dispatch_loop(compiled_packet), repeats, min_time)
    signed = rate_per_second(dispatch_loop(signed_packet), repeats, min_time)
    if receiver.tally.report(0)[0] == 0 or receiver.drop_counts:
        raise RuntimeError(f"signed messages were not handled: {dict(receiver.drop_counts)}")
    return {"dispatch_unsigned": unsigned, "dispatch_unsigned_compiled": compiled, "dispatch_signed": signed,
            "build_signed": build}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every txipv8 figure of this benchmark."""
    def log(line: str) -> None:
        if args.verbose:
            print("  " + line, flush=True)

    results: dict[str, Any] = measure_dispatch(args.repeats, args.min_time)
    print(f"txipv8: dispatch done ({results['dispatch_unsigned']:,.0f} unsigned/s)", flush=True)
    hints = capacity_hints(results)
    results["one_process"] = await measure_transport(False, args.count, args.budget, hints["one_process"], log)
    print(f"txipv8: one process done ({figure_text(results['one_process']['lossless_rate'])}/s lossless)", flush=True)
    results["two_processes"] = await measure_transport(True, args.count, args.budget, hints["two_processes"], log)
    lossless = figure_text(results["two_processes"]["lossless_rate"])
    print(f"txipv8: two processes done ({lossless}/s lossless)", flush=True)
    return results


def build_rows(ours: dict[str, Any], reference: Optional[dict[str, Any]]) -> list[Row]:
    """The result table."""
    ref = reference or {}

    def pick(results: dict[str, Any], case: str, figure: str) -> Optional[float]:
        return results[case][figure] if case in results else None

    def percent(fraction: Optional[float]) -> Optional[float]:
        return None if fraction is None else 100 * fraction

    rows = []
    for case, label, target in (("one_process", "1 process", None), ("two_processes", "2 processes",
                                                                    ("min", 12_000))):
        rows.append(Row(f"{case}_lossless", f"signed msgs handled with 0 loss, {label}",
                        pick(ours, case, "lossless_rate"), pick(ref, case, "lossless_rate"), target))
        rows.append(Row(f"{case}_full_send", f"full-speed send rate, {label}",
                        pick(ours, case, "full_speed_send_rate"), pick(ref, case, "full_speed_send_rate")))
        rows.append(Row(f"{case}_full_handle", f"full-speed handling rate, {label}",
                        pick(ours, case, "full_speed_handle_rate"), pick(ref, case, "full_speed_handle_rate")))
        ceiling_ours, ceiling_ref = pick(ours, case, "raw_verify"), pick(ref, case, "raw_verify")
        rows.append(Row(f"{case}_ceiling", f"raw libsodium verify measured just before, {label}", ceiling_ours,
                        ceiling_ref))
        if case == "two_processes":
            rows.append(Row("parallel_share", "speed of 2 busy processes vs 1 alone (CPU check)",
                            percent(pick(ours, case, "parallel_share")),
                            percent(pick(ref, case, "parallel_share")), unit="%", comparable=False))
        loss_ours = pick(ours, case, "full_speed_loss")
        loss_ref = pick(ref, case, "full_speed_loss")
        rows.append(Row(f"{case}_loss", f"loss at full speed, {label}", None if loss_ours is None else 100 * loss_ours,
                        None if loss_ref is None else 100 * loss_ref, unit="%", precision=1, comparable=False))
    rows.append(Row("dispatch_unsigned", "unsigned on_packet dispatch, no sockets", ours["dispatch_unsigned"],
                    ref.get("dispatch_unsigned"), ("min", 100_000)))
    rows.append(Row("dispatch_unsigned_compiled", "same, vp_compile payload instead of @dataclass",
                    ours["dispatch_unsigned_compiled"], ref.get("dispatch_unsigned_compiled")))
    rows.append(Row("build_signed", "signed message build (Ping + ezr_pack), no sockets", ours["build_signed"],
                    ref.get("build_signed")))
    rows.append(Row("dispatch_signed", "signed on_packet dispatch, no sockets", ours["dispatch_signed"],
                    ref.get("dispatch_signed")))
    return rows


def print_trials(name: str, results: dict[str, Any]) -> None:
    """The individual trials behind the lossless-rate figures."""
    for case in ("one_process", "two_processes"):
        if case in results:
            print(f"{name}, {case.replace('_', ' ')}:")
            for line in results[case]["trials"]:
                print("   " + line)


async def profile_receiver(args: argparse.Namespace) -> None:
    """cProfile of B's side: the signed on_packet loop, then B in a subprocess at a rate it cannot follow."""
    import cProfile
    import pstats

    receiver = make_community(UDPEndpoint(0, LOOPBACK))
    sender = make_community(UDPEndpoint(0, LOOPBACK))
    source = UDPv4Address(LOOPBACK, 9)
    trust(receiver, sender.my_peer.public_key.key_to_bin(), source.port)
    item = (source, sender.ezr_pack(Ping.msg_id, Ping(0, 1)))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(50_000):
        receiver.on_packet(item)
    profiler.disable()
    print("== signed on_packet dispatch, 50,000 messages (no sockets) ==")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(18)

    endpoint_a = await open_endpoint()
    community_a = make_community(endpoint_a)
    remote = RemoteReceiver()
    port_b = await remote.start(community_a.my_peer.public_key.key_to_bin(), endpoint_a.get_address()[1],
                                extra=("--profile",))
    scenario = Scenario(PacedSender(community_a, target_peer(community_a.my_peer.public_key.key_to_bin(), port_b)),
                        remote, args.count)
    trial = await scenario.run_trial(args.profile_rate)
    print(f"== receiver subprocess, {trial.describe()} ==", flush=True)
    await remote.stop()
    await community_a.unload()
    await endpoint_a.close()


async def run(args: argparse.Namespace) -> None:
    """Measure ours, then (optionally) pyipv8, then print."""
    print(f"machine: {machine_description()}; load average {load_average()}", flush=True)
    if args.profile:
        await profile_receiver(args)
        return
    ours = await measure(args)
    reference = None
    if args.reference:
        print("pyipv8 3.2.1: running bench/reference/messaging.py ...", flush=True)
        reference = run_reference(reference_python(args.reference_python), "messaging.py",
                                  ["--count", str(args.count), "--budget", str(args.reference_budget),
                                   "--repeats", str(args.repeats), "--min-time", str(args.min_time)], timeout=300)
    if args.verbose:
        print_trials("txipv8", ours)
        if reference:
            print_trials("pyipv8", reference)
    print(f"N = {args.count} signed messages per trial; load average now {load_average()}")
    if args.quick:
        print("--quick: N is so small that the socket buffers absorb a full-speed burst; these figures only show "
              "that the benchmark runs, they do not measure capacity.")
    print_table(build_rows(ours, reference), with_reference=reference is not None, markdown=args.markdown)


def main() -> None:
    """Parse the options and run the benchmark on the Twisted reactor."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true", help="small N and budget (smoke check, noisy)")
    parser.add_argument("--count", type=int, default=20_000, help="messages per trial (N)")
    parser.add_argument("--budget", type=float, default=12.0, help="seconds of rate search per case (txipv8)")
    parser.add_argument("--reference-budget", type=float, default=35.0,
                        help="seconds of rate search per case (pyipv8, whose trials take longer)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per dispatch figure; the best one counts")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per dispatch run")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every trial")
    parser.add_argument("--profile", action="store_true", help="profile the receiving side instead")
    parser.add_argument("--profile-rate", type=float, default=None, help="send rate for --profile (default: full)")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    args = parser.parse_args()
    if args.quick:
        args.count, args.budget, args.reference_budget = 2_000, 1.5, 2.0
        args.repeats, args.min_time = 1, 0.03

    def go(_reactor: Any) -> defer.Deferred:  # noqa: ANN401
        return defer.ensureDeferred(run(args))

    task.react(go)


if __name__ == "__main__":
    main()
