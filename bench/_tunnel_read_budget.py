"""
Read budget of the UDP endpoint: loss against reactor lag (what ``UDPEndpoint``'s default was chosen from).

Not part of ``make bench``; run by hand::

    .venv/bin/python bench/_tunnel_read_budget.py [--seconds S] [--budgets 262144/65536,1048576/512,...]

Two experiments per read budget ``bytes/datagrams`` (``262144/65536`` is Twisted's own reader: 256 KiB, no
datagram limit):

* **tunnel flood**: the five-peer network of ``bench/tunnels.py`` (same worker code), every peer's endpoint given
  the budget, the unpaced ``send_data`` sender (256 datagrams per reactor turn) through a 1-hop and a 3-hop
  circuit; delivered MB/s, loss, and the **reactor lag**: a timer re-armed every millisecond records how late it
  runs (the worst and the 99th percentile), i.e. how long timers and other sockets waited for a turn.
* **small-datagram flood**: a separate process sends 64-byte datagrams as fast as it can at one endpoint whose
  listener spends ``--work-us`` of CPU on each (what a cheap message handler costs); the same lag probe. This is
  the case a byte budget alone does not bound: 256 KiB are 4,096 such datagrams.

Everything is on 127.0.0.1 (the loopback guard of the interop tests is installed first, as in bench/tunnels.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))
sys.path.insert(2, os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference"))

import loopback_guard  # noqa: E402
from _tunnel_shared import LOOPBACK, install_guard  # noqa: E402

install_guard(loopback_guard)  # before any socket exists

from _tunnel_shared import HOP_COUNTS, SinkProcess, describe_run  # noqa: E402
from _tunnel_worker import ROLES, AckReceiver, build, data_sender, introduce, pump_run, sleep, start_peer  # noqa: E402
from _tunnel_shared import PEER_FLAGS  # noqa: E402
from twisted.internet import defer, reactor, task  # noqa: E402
from zope.interface import implementer  # noqa: E402

from ipv8.messaging.addresses import UDPv4Address  # noqa: E402
from ipv8.messaging.interfaces.endpoint import IEndpointListener  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint  # noqa: E402

FLOODER = r"""
import socket, sys, time
target = ("127.0.0.1", int(sys.argv[1])); end = time.monotonic() + float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.setblocking(False)
packet = b"x" * 64; sent = 0
while time.monotonic() < end:
    for _ in range(64):
        try:
            s.sendto(packet, target); sent += 1
        except BlockingIOError:
            time.sleep(0.0001)
print(sent)
"""


class LagProbe:
    """A timer re-armed every ``interval`` seconds that records how late it fires."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._call: Any = None
        self._due = 0.0

    def start(self) -> None:
        self._due = time.perf_counter() + self.interval
        self._call = reactor.callLater(self.interval, self._fire)

    def _fire(self) -> None:
        now = time.perf_counter()
        self.lags.append(max(0.0, now - self._due))
        self._due = now + self.interval
        self._call = reactor.callLater(self.interval, self._fire)

    def stop(self) -> dict[str, float]:
        if self._call is not None and self._call.active():
            self._call.cancel()
        lags = sorted(self.lags) or [0.0]
        return {"max_ms": 1000 * lags[-1], "p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))],
                "median_ms": 1000 * statistics.median(lags)}


async def tunnel_flood(budgets: list[tuple[int, int]], seconds: float) -> list[dict[str, Any]]:
    """The unpaced send_data runs of bench/tunnels.py once per budget, with the lag probe."""
    peers = [await start_peer(flags) for flags in PEER_FLAGS]
    acks = AckReceiver()
    ack_port = reactor.listenUDP(0, acks, interface=LOOPBACK)
    sink = acks.sink = SinkProcess(ack_port.getHost().port)
    sink_address = UDPv4Address(LOOPBACK, sink.port)
    rows = []
    ROLES.update({peer.my_peer.address[1]: name for peer, name in
                  zip(peers, ("initiator", "relay 1", "relay 2", "exit 1", "exit 2"))})
    try:
        await introduce(peers)
        circuits = {hops: (await build(peers[0], hops))[0] for hops in HOP_COUNTS}
        for budget in budgets:
            for peer in peers:
                peer.endpoint.set_read_budget(*budget)
            for hops in HOP_COUNTS:
                send = data_sender(peers[0], circuits[hops], sink_address)
                await pump_run(acks, send, 0.2, None)  # warm up (opens the exit socket)
                probe = LagProbe()
                probe.start()
                run = await pump_run(acks, send, seconds, None)
                lag = probe.stop()
                print(describe_run(f"budget {budget[0]}/{budget[1]}, {hops} hops flood", run), file=sys.stderr)
                rows.append({"experiment": f"tunnel flood, {hops} hop{'s' if hops > 1 else ''}", "budget": budget,
                             "mb_s": run["mb_s"], "loss": run["loss"], **lag})
    finally:
        for peer in peers:
            await peer.unload()
            await peer.endpoint.close()
        await ack_port.stopListening()
        sink.stop()
    return rows


async def small_flood(budgets: list[tuple[int, int]], seconds: float, work_us: float) -> list[dict[str, Any]]:
    """64-byte datagrams from another process at one endpoint whose listener burns ``work_us`` per datagram."""
    rows = []
    for budget in budgets:
        endpoint = UDPEndpoint(port=0, ip=LOOPBACK, read_budget_bytes=budget[0], read_budget_datagrams=budget[1])
        await endpoint.open()
        received = [0]

        @implementer(IEndpointListener)
        class Busy:
            endpoint = None

            def on_packet(self, packet: Any) -> None:
                received[0] += 1
                end = time.perf_counter() + work_us / 1e6
                while time.perf_counter() < end:
                    pass

        endpoint.add_listener(Busy())
        probe = LagProbe()
        probe.start()
        flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(endpoint.get_address()[1]), str(seconds)],
                                   stdout=subprocess.PIPE, text=True)
        while flooder.poll() is None:
            await sleep(0.05)
        await sleep(0.2)
        lag = probe.stop()
        sent = int(flooder.stdout.read().strip() or 0)
        await endpoint.close()
        print(f"budget {budget[0]}/{budget[1]}, small flood: sent {sent:,}, handled {received[0]:,}, lag {lag}",
              file=sys.stderr)
        rows.append({"experiment": f"64-byte flood, {work_us:g} us per datagram", "budget": budget,
                     "mb_s": None, "loss": 1 - received[0] / sent if sent else 0.0, **lag})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the rows."""
    lines = ["| experiment | read budget (bytes / datagrams) | delivered MB/s | loss | reactor lag: worst | p99 |",
             "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        mb_s = "-" if row["mb_s"] is None else f"{row['mb_s']:.1f}"
        lines.append(f"| {row['experiment']} | {row['budget'][0]:,} / {row['budget'][1]:,} | {mb_s} | "
                     f"{row['loss']:.1%} | {row['max_ms']:.1f} ms | {row['p99_ms']:.1f} ms |")
    return "\n".join(lines)


def main() -> int:
    """Parse the options, run both experiments, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per flood (default 3)")
    parser.add_argument("--budgets", default="262144/65536,524288/512,1048576/512,1048576/65536",
                        help="comma-separated bytes/datagrams budgets")
    parser.add_argument("--work-us", type=float, default=20.0, help="CPU per datagram of the small-flood listener")
    args = parser.parse_args()
    budgets = [tuple(int(part) for part in item.split("/")) for item in args.budgets.split(",")]

    async def run(_: Any) -> None:
        with open("/proc/loadavg") as handle:
            print(f"load average before: {handle.read().split()[0]}", file=sys.stderr)
        rows = await tunnel_flood(budgets, args.seconds)
        rows += await small_flood(budgets, args.seconds, args.work_us)
        with open("/proc/loadavg") as handle:
            print(f"load average after: {handle.read().split()[0]}", file=sys.stderr)
        print(table(rows))

    task.react(lambda r: defer.Deferred.fromCoroutine(run(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
