#!/usr/bin/env python3
"""pyipv8 3.2.1 side of the hidden-services rows of ``bench/tunnels.py``: the same six peers, steps and paced run
(``bench/_hidden_shared.py``), on asyncio, with pyipv8's own ``HiddenTunnelCommunity`` and DHT.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/tunnels.py --reference`` starts it once with
``--endpoint python`` (every peer on pyipv8's ``UDPEndpoint``) and once with ``--endpoint rust`` (every peer on
``ipv8_rust_tunnels``' endpoint, exit sockets on 127.0.0.1). The Rust endpoint hands the data that arrives on a
peer's own circuits to its SOCKS5 UDP associations, never to ``on_raw_data`` (that is how Tribler's libtorrent gets
it): there the seeder opens a SOCKS5 server on its endpoint (``create_socks5_server``), associates a UDP socket of
this process with it, makes that socket the associations' default remote (``set_udp_associate_default_remote``)
and counts the datagrams arriving there (each is the payload behind a 10-byte SOCKS5 UDP header naming the e2e
circuit). The downloader sends with ``send_data`` on both endpoints, as txipv8's does.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import socket
import sys
import time
from typing import Any

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_DRIVERS = os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference")
sys.path.insert(0, BENCH_DIR)  # for the ipv8-free _harness, _hidden_shared and _tunnel_shared modules only
sys.path.insert(1, REFERENCE_DRIVERS)  # loopback_guard, pyipv8_sandbox (standard library only)

import loopback_guard
from _tunnel_shared import install_guard

install_guard(loopback_guard)  # before pyipv8 creates a single socket

import pyipv8_sandbox

pyipv8_sandbox.confine("bench/reference/hidden_services.py")

from _harness import check_ipv8_origin, emit_result
from _hidden_shared import (
    ANNOUNCE_SETTLE,
    DHT_PEERS,
    DOWNLOADER,
    HIDDEN_FLAGS,
    LOOKUP_RETRY,
    REPETITION_PAUSE,
    SEEDER,
    SEND_RETRIES,
    STEP_TIMEOUT,
    SWARM_HOPS,
    WARM_UP,
    WARM_UP_TIMEOUT,
    ArrivalCounter,
    StepClock,
    info_hash_for,
    summarize,
)
from _tunnel_shared import (
    DATAGRAM_SIZE,
    LOOPBACK,
    WINDOW,
    Pump,
    describe_run,
    log,
    make_datagram,
    rss_mb,
    udp_socket_hosts,
)
from _tunnel_socks5 import associate

import ipv8
from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.provider import DHTCommunityProvider
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization.hidden_services import (
    HiddenTunnelCommunity,
    HiddenTunnelSettings,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_RP_DOWNLOADER,
)
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

check_ipv8_origin(ipv8, want_reference=True)

INTRODUCTION_TIMEOUT = 20.0
NO_ADDRESS = ("0.0.0.0", 0)


class BenchHiddenCommunity(HiddenTunnelCommunity):
    """pyipv8's hidden community, noting when its introduction point is established and counting e2e payloads."""

    steps: StepClock | None = None
    counter: ArrivalCounter | None = None

    def on_intro_established(self, *args: Any, **kwargs: Any) -> Any:
        result = super().on_intro_established(*args, **kwargs)
        if self.steps is not None:
            self.steps.mark("intro")
        return result

    def on_raw_data(self, circuit: Any, origin: Any, data: bytes) -> None:
        if self.counter is not None:
            self.counter.arrived(data, DATAGRAM_SIZE)


def guard_cells(endpoint: Any) -> None:
    """Refuse (and count) cells to non-loopback addresses before they reach a crypto endpoint (Rust's sockets are
    not Python sockets, so the socket guard does not see them)."""
    original = endpoint.send_cell

    def send_cell(target: Any, cell: Any) -> Any:
        if not loopback_guard.is_loopback(target[0]):
            loopback_guard.refuse("send_cell", tuple(target))
            return None
        return original(target, cell)

    endpoint.send_cell = send_cell


class Node:
    """One peer: its endpoint on 127.0.0.1, a DHT community and the hidden community on it."""

    def __init__(self, endpoint: Any, kind: str, flags: list[int]) -> None:
        self.endpoint, self.kind = endpoint, kind
        host, port = endpoint.get_address()
        if host != LOOPBACK:
            raise SystemExit(f"the {kind} endpoint is bound to {host}")
        self.address = address = UDPv4Address(LOOPBACK, port)
        my_peer = Peer(default_eccrypto.generate_key("curve25519"), address)
        self.dht = DHTDiscoveryCommunity(DHTDiscoveryCommunity.settings_class(my_peer=my_peer, endpoint=endpoint,
                                                                              network=Network()))
        self.dht.my_estimated_lan = self.dht.my_estimated_wan = address
        settings = HiddenTunnelSettings(my_peer=my_peer, endpoint=endpoint, network=Network(), remove_tunnel_delay=0,
                                        max_circuits=0, swarm_lookup_interval=LOOKUP_RETRY)
        settings.dht_provider = DHTCommunityProvider(self.dht, port)
        settings.peer_flags = set(flags)
        self.hidden = BenchHiddenCommunity(settings)
        guard_cells(self.hidden.crypto_endpoint)
        self.hidden.my_estimated_lan = self.hidden.my_estimated_wan = address
        # The driver decides when to look swarms up (the same for every implementation).
        self.hidden.cancel_pending_task("do_peer_discovery")

    async def stop(self) -> None:
        for overlay in (self.hidden, self.dht):
            try:
                await asyncio.wait_for(overlay.unload(), 2)
            except Exception as exc:  # noqa: BLE001 - shutting down: report, carry on
                log(f"unloading a pyipv8 overlay failed: {exc!r}")
        if self.kind == "rust":
            await self.endpoint.close(grace_period=1)
        else:
            self.endpoint.close()


async def start_node(flags: list[int], kind: str, rust_workers: int) -> Node:
    if kind == "rust":
        from ipv8_rust_tunnels.endpoint import Endpoint as RustEndpoint
        endpoint = RustEndpoint(0, LOOPBACK, worker_threads=rust_workers)
        await endpoint.open()
        endpoint.set_exit_address((LOOPBACK, 0))
    else:
        endpoint = UDPEndpoint(0, LOOPBACK)
        await endpoint.open()
    loopback_guard.guard_endpoint(endpoint)
    return Node(endpoint, kind, flags)


def introduced(nodes: list[Node]) -> bool:
    """Every node knows every serving node (with its flags) and every other node's DHT."""
    serving = {n.hidden.my_peer.public_key.key_to_bin() for n, flags in zip(nodes, HIDDEN_FLAGS) if flags}
    for node in nodes:
        mine = node.hidden.my_peer.public_key.key_to_bin()
        known = {c.public_key.key_to_bin() for c, flags in node.hidden.candidates.items() if flags}
        if known != serving - {mine} or len(node.dht.get_peers()) < DHT_PEERS:
            return False
    return True


async def introduce(nodes: list[Node]) -> None:
    """Walk everybody (both communities) to everybody until :func:`introduced`."""
    end = time.monotonic() + INTRODUCTION_TIMEOUT
    while not introduced(nodes):
        if time.monotonic() > end:
            raise RuntimeError("introductions incomplete")
        for node in nodes:
            for other in nodes:
                if other is not node:
                    node.hidden.walk_to(other.address)
                    node.dht.walk_to(other.address)
        for _ in range(20):
            await asyncio.sleep(0.05)
            if introduced(nodes):
                return


async def wait_until(condition: Any, what: str, poll: float = 0.002) -> None:
    end = time.monotonic() + STEP_TIMEOUT
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)


async def clear_circuits(community: HiddenTunnelCommunity) -> None:
    """Remove (with a destroy) every circuit of ``community``, so that the next repetition starts from none."""
    for circuit_id in list(community.circuits):
        await community.remove_circuit(circuit_id, "benchmark", remove_now=True, destroy=True)


TASKS: set[asyncio.Future] = set()


def background(coroutine: Any) -> None:
    future = asyncio.ensure_future(coroutine)
    TASKS.add(future)
    future.add_done_callback(TASKS.discard)


async def one_repetition(nodes: list[Node], repetition: int, keep: bool) -> tuple[float, float, int, Any]:
    """Seed and connect once: ``(seconds to intro-established, seconds to e2e, lookups, e2e circuit)``."""
    seeder, downloader = nodes[SEEDER].hidden, nodes[DOWNLOADER].hidden
    info_hash = info_hash_for(repetition)
    steps = seeder.steps = downloader.steps = StepClock()

    start = time.perf_counter()
    seeder.join_swarm(info_hash, SWARM_HOPS, seeding=True)
    background(seeder.create_introduction_point(info_hash))
    await wait_until(lambda: "intro" in steps.marks, "the introduction point")
    seeded = steps.since("intro", start)
    await asyncio.sleep(ANNOUNCE_SETTLE)

    lookups = [0]
    next_lookup = [float("inf")]

    def look_up(_: Any = None) -> None:
        if "e2e" in steps.marks:
            return
        lookups[0] += 1
        next_lookup[0] = time.monotonic() + LOOKUP_RETRY
        background(downloader.do_peer_discovery())

    start = time.perf_counter()
    downloader.join_swarm(info_hash, SWARM_HOPS, lambda address: steps.mark("e2e"), seeding=False)
    downloader.do_circuits()
    for circuit in downloader.find_circuits(state=None, hops=SWARM_HOPS):
        circuit.ready.add_done_callback(look_up)  # the lookup goes over this circuit: ask as soon as it is there
    end = time.monotonic() + STEP_TIMEOUT
    while "e2e" not in steps.marks:
        now = time.monotonic()
        if now > end:
            raise RuntimeError(f"no e2e circuit after {STEP_TIMEOUT} s (lookups {lookups[0]})")
        if now >= next_lookup[0] or (lookups[0] == 0 and downloader.find_circuits(hops=SWARM_HOPS)):
            look_up()
        if not downloader.find_circuits(state=None, hops=SWARM_HOPS):
            downloader.do_circuits()
        await asyncio.sleep(0.002)
    connected = steps.since("e2e", start)
    e2e = next((c for c in downloader.circuits.values()
                if c.ctype == CIRCUIT_TYPE_RP_DOWNLOADER and c.e2e and c.state == CIRCUIT_STATE_READY), None)
    if not keep:
        await leave(nodes, info_hash)
    return seeded, connected, lookups[0], e2e


async def leave(nodes: list[Node], info_hash: bytes) -> None:
    """Both ends leave the swarm and remove every circuit (the relays forget theirs on the destroys)."""
    for node in (nodes[SEEDER], nodes[DOWNLOADER]):
        node.hidden.leave_swarm(info_hash)
        await clear_circuits(node.hidden)
    await asyncio.sleep(REPETITION_PAUSE)


class Socks5Receiver(asyncio.DatagramProtocol):
    """The seeder's SOCKS5 association on the Rust endpoint: hands each payload to the counter."""

    def __init__(self, counter: ArrivalCounter) -> None:
        self.counter = counter

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data[:4] == SOCKS5_IPV4_UDP:
            self.counter.arrived(data[SOCKS5_HEADER:], DATAGRAM_SIZE)
        else:
            self.counter.size_errors += 1


#: The start of a SOCKS5 UDP header with an IPv4 address (RSV, FRAG 0, ATYP 1), and its whole length.
SOCKS5_IPV4_UDP = b"\x00\x00\x00\x01"
SOCKS5_HEADER = 10


async def socks5_receiver(node: Node, counter: ArrivalCounter, cleanup: list) -> None:
    """Have the Rust endpoint of ``node`` deliver the data of its e2e circuits to a counting UDP socket."""
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind((LOOPBACK, 0))
    client.setblocking(False)
    port = node.endpoint.create_socks5_server(0, SWARM_HOPS)
    control, _ = await asyncio.to_thread(associate, (LOOPBACK, port), client.getsockname())
    cleanup.append(control.close)
    node.endpoint.set_udp_associate_default_remote(client.getsockname(), SWARM_HOPS)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: Socks5Receiver(counter),
                                                                             sock=client)
    cleanup.append(transport.close)


async def paced_run(nodes: list[Node], circuit: Any, seconds: float) -> dict[str, Any] | None:
    """Send 1 KB payloads from the downloader to the seeder through ``circuit`` for ``seconds`` (paced); None if
    not one warm-up payload arrived."""
    seeder, downloader = nodes[SEEDER].hidden, nodes[DOWNLOADER].hidden
    counter = seeder.counter = ArrivalCounter()
    cleanup: list = []
    if nodes[SEEDER].kind == "rust":
        await socks5_receiver(nodes[SEEDER], counter, cleanup)
    send = functools.partial(downloader.send_data, circuit.hop.address, circuit.circuit_id, NO_ADDRESS, NO_ADDRESS,
                             make_datagram())
    loop = asyncio.get_running_loop()
    finished: asyncio.Future = loop.create_future()
    # A warm-up, not measured (the same for every implementation): does the e2e circuit deliver at all?
    for _ in range(WARM_UP):
        send()
    end = time.monotonic() + WARM_UP_TIMEOUT
    while counter.total < WARM_UP and time.monotonic() < end:
        await asyncio.sleep(0.01)
    warmed = counter.total
    if not warmed:
        for stop in reversed(cleanup):
            stop()
        return None
    counter.base = counter.total
    pump = Pump(send, loop.call_later, seconds, WINDOW, finished.set_result, count=counter.count)
    counter.pump = pump
    pump.start()
    result = await finished
    counter.pump = None
    for stop in reversed(cleanup):
        stop()
    result["size_errors"] = counter.size_errors
    result["warm_up_arrived"] = warmed
    return result


async def send_run(nodes: list[Node], e2e: Any, args: argparse.Namespace, seed_samples: list[float],
                   e2e_samples: list[float], lookups: list[int]) -> tuple[dict[str, Any] | None, int]:
    """The paced run through ``e2e``; if not one warm-up payload arrives, a new swarm is joined and connected
    (its times join the samples) and the run tried again, at most :data:`SEND_RETRIES` times."""
    retries, current = 0, args.hidden_reps - 1  # the swarm of the last repetition is still joined
    while True:
        run = await paced_run(nodes, e2e, args.seconds) if e2e is not None else None
        if run is not None or retries >= SEND_RETRIES:
            return run, retries
        retries += 1
        log(f"hidden: nothing arrived through the e2e circuit; a new swarm, try {retries} of {SEND_RETRIES}")
        await leave(nodes, info_hash_for(current))
        current = args.hidden_reps + retries
        seeded, connected, count, e2e = await one_repetition(nodes, current, keep=True)
        seed_samples.append(seeded)
        e2e_samples.append(connected)
        lookups.append(count)


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Start the peers, measure, stop."""
    name = f"pyipv8-{args.endpoint}"
    nodes = [await start_node(flags, args.endpoint, args.rust_workers) for flags in HIDDEN_FLAGS]
    try:
        await introduce(nodes)
        seed_samples, e2e_samples, lookups = [], [], []
        e2e = None
        for repetition in range(args.hidden_reps):
            seeded, connected, count, e2e = await one_repetition(nodes, repetition,
                                                                 keep=repetition == args.hidden_reps - 1)
            seed_samples.append(seeded)
            e2e_samples.append(connected)
            lookups.append(count)
        run, retries = await send_run(nodes, e2e, args, seed_samples, e2e_samples, lookups)
        log(describe_run(f"{name} hidden e2e paced", run))
        result = {"hidden": summarize(seed_samples, e2e_samples, lookups, run, log, name)}
        result["ends"] = "seeder receives through a SOCKS5 association" if args.endpoint == "rust" else None
        result["hidden"]["retries"] = retries
        result["hidden"]["socketless_us"] = None
        result["rss_mb"] = rss_mb()
        result["guard"] = {"refusals": loopback_guard.report()["total"], "udp_hosts": udp_socket_hosts()}
        return result
    finally:
        for node in nodes:
            await node.stop()


def main() -> None:
    """Measure and hand the figures back as one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", choices=("python", "rust"), default="python")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hidden-reps", type=int, default=7)
    parser.add_argument("--rust-workers", type=int, default=4)
    args = parser.parse_args()
    # pyipv8 logs an error per introduction point without an IPv8 object (no PEX); that is expected here.
    logging.basicConfig(level=logging.CRITICAL)
    emit_result(asyncio.run(worker(args)))


if __name__ == "__main__":
    main()
