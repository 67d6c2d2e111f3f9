#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/discovery.py``: the same swarm and idle-overlay workers on pyipv8's asyncio IPv8.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/discovery.py --reference`` starts it
once per measurement (``--worker swarm`` or ``--worker idle``) and reads the single ``BENCH-RESULT {json}``
line it prints. The tracker the swarm bootstraps from is txipv8's (``bin/ipv8-tracker``), started by the
caller, whose port arrives in ``--tracker-port``.

Keeping this process on the loopback network:

* the loopback guard of the interop tests (``tests/interop/reference/loopback_guard.py``) is installed before
  pyipv8 is imported; it refuses and counts any send, connect or name lookup outside 127.0.0.0/8 and ::1;
* pyipv8's public bootstrap list is emptied; the only bootstrapper is given the local tracker's IP literal;
* every pyipv8 overlay probes for LAN addresses every 10 s (a UDP connect towards 192.0.2.0 and a reverse
  lookup of the host name): the probe providers are replaced by an empty list, as in the interop driver;
* a pyipv8 peer bound to 127.0.0.1 would still advertise the machine's LAN address, so its LAN (and initial
  WAN) estimate is set to its loopback address right after it started, before its first walk.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import tracemalloc
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))  # _harness, _discovery_shared: bench/ holds no ipv8 package
sys.path.insert(0, os.path.join(REPO, "tests", "interop", "reference"))  # loopback_guard (stdlib only)

import loopback_guard  # noqa: E402

loopback_guard.install()  # before pyipv8 creates a single socket

import ipv8  # noqa: E402
import ipv8.configuration as pyipv8_configuration  # noqa: E402
import ipv8.messaging.interfaces.endpoint as pyipv8_endpoint  # noqa: E402
import ipv8.overlay as pyipv8_overlay  # noqa: E402
from _discovery_shared import BENCH_COMMUNITY_ID, LOOPBACK, POLL_INTERVAL, ConvergenceWatch, rss_bytes  # noqa: E402
from _harness import check_ipv8_origin, emit_result  # noqa: E402
from ipv8.community import Community, CommunitySettings  # noqa: E402
from ipv8.configuration import (Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy,  # noqa: E402
                                WalkerDefinition)
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.lazy_community import lazy_wrapper  # noqa: E402
from ipv8.messaging.interfaces.endpoint import Endpoint  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address  # noqa: E402
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile  # noqa: E402
from ipv8.peer import Peer  # noqa: E402
from ipv8.peerdiscovery.network import Network  # noqa: E402
from ipv8_service import IPv8  # noqa: E402

check_ipv8_origin(ipv8, want_reference=True)

# Nothing but the local tracker: no public bootstrap servers, whatever configuration code runs.
pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["ip_addresses"] = []
pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["dns_addresses"] = []
# No LAN address discovery (it would probe 192.0.2.0 and look up the host name every 10 s per overlay).
pyipv8_endpoint.get_lan_addresses = lambda: []
pyipv8_overlay.get_providers = lambda: []

COMMUNITY_NAME = "DiscoveryBenchCommunity"


@vp_compile
class Note(VariablePayload):
    """The community's one application message, as on the txipv8 side."""

    msg_id = 1
    format_list = ["q"]
    names = ["number"]


class DiscoveryBenchCommunity(Community):
    """The same minimal application community as in ``bench/discovery.py``."""

    community_id = BENCH_COMMUNITY_ID

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.notes = 0
        self.add_message_handler(Note, self.on_note)

    @lazy_wrapper(Note)
    def on_note(self, peer: Peer, payload: Note) -> None:
        """Count a note."""
        self.notes += 1


class NullEndpoint(Endpoint):
    """An always-open, in-memory endpoint that drops everything it is asked to send (for idle overlays)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._address = UDPv4Address(LOOPBACK, port)
        self.dropped = 0

    def assert_open(self) -> None:
        """Always open."""

    def is_open(self) -> bool:
        """Always open."""
        return True

    def get_address(self) -> UDPv4Address:
        """A made-up loopback address."""
        return self._address

    def send(self, socket_address: Any, packet: bytes) -> None:  # noqa: ANN401
        """Count the packet and drop it."""
        self.dropped += 1

    async def open(self) -> bool:
        """Nothing to open."""
        return True

    def close(self) -> None:
        """Nothing to close."""

    def reset_byte_counters(self) -> None:
        """No counters."""


def peer_configuration(tracker: tuple[str, int], walker_interval: float) -> dict[str, Any]:
    """One swarm peer, configured like the txipv8 one."""
    return (ConfigBuilder().clear_keys().clear_overlays()
            .add_ephemeral_key("peer")
            .set_address(LOOPBACK).set_port(0)
            .set_walker_interval(walker_interval)
            .set_log_level("WARNING")
            .add_overlay(COMMUNITY_NAME, "peer",
                         [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})],
                         [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                                 {"ip_addresses": [tracker], "dns_addresses": []})],
                         {}, [])
            .finalize())


async def start_on_loopback(node: IPv8) -> None:
    """Start ``node`` and pin its own-address estimates to its loopback socket before it walks."""
    await node.start()
    # start() only scheduled the walker task; it has not run yet, so no packet carried the LAN address.
    address = ("127.0.0.1", node.endpoint.get_address()[1])
    for overlay in node.overlays:
        overlay.my_estimated_lan = address
        overlay.my_estimated_wan = address


async def swarm_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One round: start the swarm, wait until every peer knows ``need`` peers (or the deadline), stop it."""
    tracker = (LOOPBACK, args.tracker_port)
    gc.collect()
    rss_before = rss_bytes()
    build_started = time.perf_counter()
    nodes = [IPv8(peer_configuration(tracker, args.walker_interval),
                  extra_communities={COMMUNITY_NAME: DiscoveryBenchCommunity}) for _ in range(args.peers)]
    build_seconds = time.perf_counter() - build_started
    overlays = [node.overlays[0] for node in nodes]
    watch = ConvergenceWatch(args.peers, args.need)
    watch.start()
    for node in nodes:  # one after the other: each must be pinned before its walker task first runs
        await start_on_loopback(node)
    while not watch.observe([len(overlay.get_peers()) for overlay in overlays]):
        if watch.elapsed()[0] > args.deadline:
            break
        await asyncio.sleep(POLL_INTERVAL)
    result = watch.result(args.deadline)
    result["rss_per_peer_kib"] = (rss_bytes() - rss_before) / args.peers / 1024
    result["build_seconds"] = build_seconds
    result["peers"], result["need"] = args.peers, args.need
    for node in nodes:
        await node.stop()
    result["guard_violations"] = loopback_guard.report()["total"]
    return result


async def idle_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Memory of ``args.overlays`` idle communities, measured as on the txipv8 side."""
    my_peer = Peer(default_eccrypto.generate_key("curve25519"))
    network = Network()
    keep: list[Any] = []

    async def batch(first_port: int, measure: Any) -> float:  # noqa: ANN401
        endpoints = [NullEndpoint(first_port + index) for index in range(args.overlays)]
        gc.collect()
        before = measure()
        overlays = [DiscoveryBenchCommunity(CommunitySettings(my_peer=my_peer, endpoint=endpoint, network=network))
                    for endpoint in endpoints]
        await asyncio.sleep(0.3)  # let start-up tasks run (the LAN probe task, without providers)
        gc.collect()
        grown = measure() - before
        keep.append(overlays)
        return grown / args.overlays / 1024

    rss_kib = await batch(20_000, rss_bytes)
    tracemalloc.start()
    traced_kib = await batch(30_000, lambda: tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    sent = sum(overlay.endpoint.dropped for overlays in keep for overlay in overlays)
    for overlays in keep:
        for overlay in overlays:
            await overlay.unload()
    return {"overlays": args.overlays, "rss_kib": rss_kib, "tracemalloc_kib": traced_kib, "packets_sent": sent,
            "guard_violations": loopback_guard.report()["total"]}


def main() -> None:
    """Run the worker named by ``--worker`` and print its result line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", choices=("swarm", "idle"), required=True)
    parser.add_argument("--tracker-port", type=int, default=0)
    parser.add_argument("--peers", type=int, default=30)
    parser.add_argument("--need", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=60.0)
    parser.add_argument("--walker-interval", type=float, default=0.5)
    parser.add_argument("--overlays", type=int, default=200)
    args = parser.parse_args()
    if args.worker == "swarm" and not args.tracker_port:
        parser.error("--worker swarm needs --tracker-port")
    work = swarm_worker if args.worker == "swarm" else idle_worker
    emit_result(asyncio.run(work(args)))


if __name__ == "__main__":
    main()
