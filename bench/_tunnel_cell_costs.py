"""
Python CPU per data cell and node with the sockets taken out, repeated: the figure to compare before and after a
change of the cell path (``bench/tunnels.py`` prints the same measure once, over 2,000 cells).

Not part of ``make bench``; run by hand::

    .venv/bin/python bench/_tunnel_cell_costs.py [--cells N] [--repeats R]

Builds the five-peer network of ``bench/tunnels.py`` (same worker code), a 1-hop and a 3-hop circuit, and runs
``_tunnel_worker.socketless_cost`` ``R`` times per circuit; prints the best and the median run per node (CPU
clock, so the figures hold up on a busy machine; the best run is the one least disturbed).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))
sys.path.insert(2, os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference"))

import loopback_guard
from _tunnel_shared import LOOPBACK, install_guard

install_guard(loopback_guard)  # before any socket exists

from _tunnel_shared import HOP_COUNTS, PEER_FLAGS, WINDOW, SinkProcess
from _tunnel_worker import (
    AckReceiver,
    build,
    data_sender,
    introduce,
    pump_run,
    socketless_cost,
    start_peer,
)
from twisted.internet import defer, reactor, task

from ipv8.messaging.addresses import UDPv4Address


async def measure(cells: int, repeats: int) -> None:
    """Start the network, run the socketless measure, print the table."""
    peers = [await start_peer(flags) for flags in PEER_FLAGS]
    acks = AckReceiver()
    ack_port = reactor.listenUDP(0, acks, interface=LOOPBACK)
    sink = acks.sink = SinkProcess(ack_port.getHost().port)
    sink_address = UDPv4Address(LOOPBACK, sink.port)
    try:
        await introduce(peers)
        for hops in HOP_COUNTS:
            circuit = (await build(peers[0], hops))[0]
            await pump_run(acks, data_sender(peers[0], circuit, sink_address), 0.2, WINDOW)  # opens the exit
            runs: dict[str, list[float]] = {}
            for _ in range(repeats):
                for name, value in socketless_cost(peers, circuit, cells).items():
                    runs.setdefault(name, []).append(value)
            print(f"{hops} hop{'s' if hops > 1 else ''}, us per cell (best / median of {repeats} x {cells:,}): "
                  + ", ".join(f"{name} {min(values):.1f} / {statistics.median(values):.1f}"
                              for name, values in runs.items()))
    finally:
        for peer in peers:
            await peer.unload()
            await peer.endpoint.close()
        await ack_port.stopListening()
        sink.stop()


def main() -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--cells", type=int, default=10000, help="cells per run (default 10,000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per circuit (default 5)")
    args = parser.parse_args()

    async def run(_: Any) -> None:
        with open("/proc/loadavg") as handle:
            print(f"load average: {handle.read().split()[0]}")
        await measure(args.cells, args.repeats)

    task.react(lambda r: defer.Deferred.fromCoroutine(run(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
