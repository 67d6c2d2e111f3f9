#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/dht.py``: the same DHT network, plan and measurements on pyipv8's asyncio IPv8.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/dht.py --reference`` starts it once
per variant (``--worker --variant walking|quiet``) and reads the single ``BENCH-RESULT {json}`` line it
prints. The tracker is txipv8's (``bin/ipv8-tracker``), started by the caller, whose port arrives in
``--tracker-port``. The plan (keys, values, finders), the pacing loop and the statistics come from
``bench/_dht_shared.py``, the very code the txipv8 worker uses.

Keeping this process on the loopback network, as ``bench/reference/discovery.py`` does: the loopback guard of
the interop tests is installed before pyipv8 is imported; the interop drivers' sandbox preamble empties the
public bootstrap list and switches off LAN probing; each node's LAN and WAN estimates are pinned to its
loopback address right after it started, before its first walk (a pyipv8 node bound to 127.0.0.1 would
otherwise advertise the machine's LAN address, and its DHT node id is derived from its WAN estimate).
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # _harness, _dht_shared, _discovery_shared: bench/ has no ipv8
sys.path.insert(0, os.path.join(REPO, "tests", "interop", "reference"))  # loopback_guard, pyipv8_sandbox

import loopback_guard  # noqa: E402

loopback_guard.install()  # before pyipv8 creates a single socket

import pyipv8_sandbox  # noqa: E402

pyipv8_sandbox.confine("bench/reference/dht.py")

import ipv8  # noqa: E402
from _dht_shared import (LOOPBACK, VARIANTS, Operation, Outcome, PhaseClock, make_plan, run_operations,  # noqa: E402
                         summarize_operations)
from _discovery_shared import rss_bytes  # noqa: E402
from _harness import check_ipv8_origin, emit_result  # noqa: E402
from ipv8.configuration import (Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy,  # noqa: E402
                                WalkerDefinition)
from ipv8.dht import DHTError  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address  # noqa: E402
from ipv8_service import IPv8  # noqa: E402

check_ipv8_origin(ipv8, want_reference=True)

OVERLAY = "DHTDiscoveryCommunity"
#: Seconds node 0 runs alone, so that its first packet reaches the tracker before the other nodes start.
FIRST_NODE_HEAD_START = 0.1
# pyipv8's periodic store_peer task logs every lookup that found no node as an ERROR with a traceback (a
# normal event while the network forms); keep the benchmark's output readable.
logging.getLogger(OVERLAY).setLevel(logging.CRITICAL)
# Stopping the nodes drops the requests still waiting for an answer, each with a WARNING: expected here.
logging.getLogger("RequestCache").setLevel(logging.ERROR)


def node_configuration(tracker: tuple[str, int], walker_interval: float, walks: bool) -> dict[str, Any]:
    """One node, configured like the txipv8 one (pyipv8's default walkers for this overlay)."""
    walkers = [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})] if walks else []
    walkers.append(WalkerDefinition(Strategy.PingChurn, -1, {}))
    return (ConfigBuilder().clear_keys().clear_overlays()
            .add_ephemeral_key("node")
            .set_address(LOOPBACK).set_port(0)
            .set_walker_interval(walker_interval)
            .set_log_level("WARNING")
            .add_overlay(OVERLAY, "node", walkers,
                         [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                                 {"ip_addresses": [tracker], "dns_addresses": []})],
                         {}, [])
            .finalize())


async def start_on_loopback(node: IPv8) -> None:
    """Start ``node`` and pin its own-address estimates to its loopback socket before it walks."""
    await node.start()
    # start() only scheduled the walker task; it has not run yet, so no packet carried the LAN address.
    address = (LOOPBACK, node.endpoint.get_address()[1])
    for overlay in node.overlays:
        overlay.my_estimated_lan = address
        overlay.my_estimated_wan = address


def table_size(overlay: Any) -> int:  # noqa: ANN401
    """Nodes in the IPv4 routing table of a pyipv8 DHT overlay (created on first use)."""
    table = overlay.routing_tables.get(UDPv4Address)
    return 0 if table is None else sum(len(bucket.nodes) for bucket in table.trie.values())


async def dht_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One variant: start the nodes, let them settle, run the operations, stop the nodes."""
    tracker = (LOOPBACK, args.tracker_port)
    quiet = args.variant == "quiet"
    plan = make_plan(args.seed, args.keys, args.nodes)
    gc.collect()
    rss_before = rss_bytes()
    clock = PhaseClock()
    clock.start()
    nodes = [IPv8(node_configuration(tracker, args.walker_interval, not (quiet and index == 0)))
             for index in range(args.nodes)]
    overlays = [node.overlays[0] for node in nodes]
    # One after the other (each must be pinned before its walker task first runs), node 0 first, so that the
    # tracker knows it when the others bootstrap.
    await start_on_loopback(nodes[0])
    if quiet:
        overlays[0].bootstrap()  # its only walk_to: the tracker
    await asyncio.sleep(FIRST_NODE_HEAD_START)
    for node in nodes[1:]:
        await start_on_loopback(node)
    clock.lap("start")
    await asyncio.sleep(args.settle)
    clock.lap("settle")
    settled = {"node0_table": table_size(overlays[0]),
               "others_table_median": statistics.median(table_size(overlay) for overlay in overlays[1:]),
               "node0_peers": len(overlays[0].get_peers())}

    async def store(operation: Operation) -> Outcome:
        try:
            storing = overlays[operation.storer].store_value(operation.key, operation.value)
            stored = await asyncio.wait_for(storing, args.op_timeout)
        except DHTError as exc:
            return False, f"DHTError: {exc}"
        except asyncio.TimeoutError:
            return False, "timeout"
        return (True, "") if stored else (False, "stored on no node")

    async def find(operation: Operation) -> Outcome:
        try:
            found = await asyncio.wait_for(overlays[0].find_values(operation.key), args.op_timeout)
        except DHTError as exc:
            return False, f"DHTError: {exc}"
        except asyncio.TimeoutError:
            return False, "timeout"
        return (True, "") if any(data == operation.value for data, _ in found) else (False, "value not found")

    records = await run_operations(plan, store, find, asyncio.sleep, args.interval)
    clock.lap("operations")
    total = clock.total()
    rss_kib = (rss_bytes() - rss_before) / args.nodes / 1024
    for node in nodes:
        await node.stop()
    return {"variant": args.variant, "overlay": type(overlays[0]).__name__, "nodes": args.nodes, "keys": args.keys,
            "store": summarize_operations(records, "store"), "find": summarize_operations(records, "find"),
            "phases": clock.phases, "cpu_seconds": total["cpu_seconds"], "wall_seconds": total["wall_seconds"],
            "rss_per_node_kib": rss_kib, "settled": settled, "drops": {},
            "guard_violations": loopback_guard.report()["total"]}


def main() -> None:
    """Run one variant and print its result line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--variant", choices=VARIANTS, default="walking")
    parser.add_argument("--tracker-port", type=int, required=True)
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--op-timeout", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--walker-interval", type=float, default=0.5)
    args = parser.parse_args()
    emit_result(asyncio.run(dht_worker(args)))


if __name__ == "__main__":
    main()
