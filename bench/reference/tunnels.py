#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/tunnels.py``: the same five peers, sink and runs, on asyncio.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/tunnels.py --reference`` starts it once
with ``--endpoint python`` (pyipv8's ``UDPEndpoint``, which the TunnelCommunity wraps in its
``PythonCryptoEndpoint``) and once with ``--endpoint rust`` (``ipv8_rust_tunnels.endpoint.Endpoint``, the data
plane the deployed network uses: cells are encrypted, relayed and exited by Rust threads) and reads the single
``BENCH-RESULT {json}`` line it prints. SOCKS5: only the Rust endpoint has a SOCKS5 server of its own
(``create_socks5_server(port, hops)``, which is how Tribler offers its tunnels with the Rust endpoint; pyipv8
3.2.1 has no SOCKS5 code, Tribler's Python SOCKS5 server is not part of it).
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import os
import socket
import sys
import time
from typing import Any

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_DRIVERS = os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference")
sys.path.insert(0, BENCH_DIR)  # for the ipv8-free _harness and _tunnel_* modules only
sys.path.insert(1, REFERENCE_DRIVERS)  # loopback_guard, pyipv8_sandbox (standard library only)

import loopback_guard
from _tunnel_shared import install_guard

install_guard(loopback_guard)  # before pyipv8 creates a single socket

import pyipv8_sandbox

pyipv8_sandbox.confine("bench/reference/tunnels.py")

from _harness import check_ipv8_origin, emit_result
from _tunnel_shared import (
    HOP_COUNTS,
    LOOPBACK,
    PEER_FLAGS,
    WINDOW,
    Pump,
    SinkProcess,
    describe_run,
    log,
    make_datagram,
    median_ms,
    rss_mb,
    socket_drops,
    udp_socket_hosts,
)
from _tunnel_socks5 import associate, udp_header

import ipv8
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.messaging.anonymization.tunnel import CIRCUIT_STATE_READY
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

check_ipv8_origin(ipv8, want_reference=True)

INTRODUCTION_TIMEOUT = 15.0
BUILD_TIMEOUT = 10.0
SETTLE_SECONDS = 0.5
NO_ADDRESS = ("0.0.0.0", 0)
ROLES: dict[int, str] = {}


class AckReceiver(asyncio.DatagramProtocol):
    """Receives the sink's acknowledgements and hands the count of the current run to its pump."""

    def __init__(self) -> None:
        self.sink: SinkProcess | None = None
        self.pump: Pump | None = None
        self.base = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        total = self.sink.on_ack(data)
        if self.pump is not None:
            self.pump.acknowledged(total - self.base)


def guard_cells(endpoint: Any) -> None:
    """Refuse (and count) cells to non-loopback addresses before they reach a crypto endpoint (Rust's sockets
    are not Python sockets, so the socket guard does not see them)."""
    original = endpoint.send_cell

    def send_cell(target: Any, cell: Any) -> Any:
        if not loopback_guard.is_loopback(target[0]):
            loopback_guard.refuse("send_cell", tuple(target))
            return None
        return original(target, cell)

    endpoint.send_cell = send_cell


async def start_peer(flags: list[int], kind: str, rust_workers: int) -> TunnelCommunity:
    """One peer: its own key and socket on 127.0.0.1 (Rust: exit sockets on 127.0.0.1 too), no walker."""
    if kind == "rust":
        from ipv8_rust_tunnels.endpoint import Endpoint as RustEndpoint
        endpoint = RustEndpoint(0, LOOPBACK, worker_threads=rust_workers)
        await endpoint.open()
        endpoint.set_exit_address((LOOPBACK, 0))
    else:
        endpoint = UDPEndpoint(0, LOOPBACK)
        await endpoint.open()
    host, port = endpoint.get_address()
    if host != LOOPBACK:
        raise SystemExit(f"the {kind} endpoint is bound to {host}")
    loopback_guard.guard_endpoint(endpoint)
    address = UDPv4Address(LOOPBACK, port)
    settings = TunnelSettings(my_peer=Peer(default_eccrypto.generate_key("curve25519"), address), endpoint=endpoint,
                              network=Network(), remove_tunnel_delay=0, max_circuits=0)
    settings.peer_flags = set(flags)
    community = TunnelCommunity(settings)
    guard_cells(community.crypto_endpoint)
    community.my_estimated_lan = community.my_estimated_wan = address
    return community


def introduced(peers: list[TunnelCommunity]) -> bool:
    """Every peer knows every other peer that serves (with its flags); the initiator knows all four."""
    serving = {peer.my_peer.public_key.key_to_bin() for peer, flags in zip(peers, PEER_FLAGS) if flags}
    for peer in peers:
        known = {candidate.public_key.key_to_bin() for candidate, flags in peer.candidates.items() if flags}
        if known != serving - {peer.my_peer.public_key.key_to_bin()}:
            return False
    return True


async def introduce(peers: list[TunnelCommunity]) -> None:
    """Walk everybody to everybody until :func:`introduced`."""
    end = time.monotonic() + INTRODUCTION_TIMEOUT
    while not introduced(peers):
        if time.monotonic() > end:
            raise RuntimeError("introductions incomplete")
        for peer in peers:
            for other in peers:
                if other is not peer:
                    peer.walk_to(other.my_peer.address)
        for _ in range(20):
            await asyncio.sleep(0.05)
            if introduced(peers):
                return


async def build(initiator: TunnelCommunity, hops: int) -> tuple[Any, float]:
    """Build one circuit of ``hops`` hops: ``(circuit, seconds)``."""
    start = time.perf_counter()
    circuit = initiator.create_circuit(hops)
    if circuit is None:
        raise RuntimeError(f"cannot start a {hops}-hop circuit")
    try:
        await asyncio.wait_for(asyncio.shield(circuit.ready), BUILD_TIMEOUT)
    except TimeoutError:
        pass
    elapsed = time.perf_counter() - start
    if circuit.state != CIRCUIT_STATE_READY:
        raise RuntimeError(f"{hops}-hop circuit not ready after {BUILD_TIMEOUT} s ({circuit.state})")
    return circuit, elapsed


async def measure_builds(initiator: TunnelCommunity, count: int, name: str) -> dict[str, float | None]:
    """Median build time (ms) per hop count, each circuit removed (with a destroy) before the next."""
    medians = {}
    for hops in HOP_COUNTS:
        samples = []
        for _ in range(count):
            circuit, elapsed = await build(initiator, hops)
            samples.append(elapsed)
            await initiator.remove_circuit(circuit.circuit_id, "benchmark", remove_now=True, destroy=True)
            await asyncio.sleep(0.05)
        medians[str(hops)] = median_ms(samples)
        log(f"{name} build {hops} hops: {', '.join(f'{1000 * s:.1f}' for s in samples)} ms")
    return medians


async def pump_run(acks: AckReceiver, send: Any, seconds: float, window: int | None) -> dict[str, Any]:
    """One sending run through ``send``; returns :meth:`Pump.result` plus the kernel's drops per socket role."""
    loop = asyncio.get_running_loop()
    before = socket_drops(ROLES)
    sink_before = acks.sink.drops()
    finished: asyncio.Future = loop.create_future()
    pump = Pump(send, loop.call_later, seconds, window, finished.set_result,
                count=lambda: acks.sink.total - acks.base)
    acks.base, acks.pump = acks.sink.total, pump
    pump.start()
    result = await finished
    acks.pump = None
    after = socket_drops(ROLES)
    after["sink"] = acks.sink.drops() - sink_before
    result["socket_drops"] = {role: count - before.get(role, 0) for role, count in after.items()
                              if count - before.get(role, 0)}
    await asyncio.sleep(SETTLE_SECONDS)
    return result


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Start the peers, measure, stop."""
    name = f"pyipv8-{args.endpoint}"
    loop = asyncio.get_running_loop()
    rss_before = rss_mb()
    peers = [await start_peer(flags, args.endpoint, args.rust_workers) for flags in PEER_FLAGS]
    initiator = peers[0]
    acks = AckReceiver()
    transport, _ = await loop.create_datagram_endpoint(lambda: acks, local_addr=(LOOPBACK, 0))
    sink = acks.sink = SinkProcess(transport.get_extra_info("sockname")[1])
    sink_address = UDPv4Address(LOOPBACK, sink.port)
    ROLES.update({peer.my_peer.address[1]: role for peer, role in
                  zip(peers, ("initiator", "relay 1", "relay 2", "exit 1", "exit 2"))})
    ROLES[transport.get_extra_info("sockname")[1]] = "acknowledgements"
    cleanup: list = []
    try:
        await introduce(peers)
        result: dict[str, Any] = {"build_ms": await measure_builds(initiator, args.builds, name), "send_data": {},
                                  "socks5": {}}
        circuits = {hops: (await build(initiator, hops))[0] for hops in HOP_COUNTS}
        datagram = make_datagram()
        for hops in HOP_COUNTS:
            circuit = circuits[hops]
            send = functools.partial(initiator.send_data, circuit.hop.address, circuit.circuit_id, sink_address,
                                     NO_ADDRESS, datagram)
            runs = result["send_data"][str(hops)] = {}
            for mode, window in (("paced", WINDOW), ("flood", None)):
                runs[mode] = await pump_run(acks, send, args.seconds, window)
                log(describe_run(f"{name} send_data {hops} hops {mode}", runs[mode]))
        if args.endpoint == "rust":
            for hops in HOP_COUNTS:
                port = initiator.crypto_endpoint.create_socks5_server(0, hops)
                client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                client.bind((LOOPBACK, 0))
                client.setblocking(False)
                cleanup.append(client.close)
                control, relay = await asyncio.to_thread(associate, (LOOPBACK, port), client.getsockname())
                cleanup.append(control.close)
                packet = udp_header((LOOPBACK, sink_address.port)) + datagram

                def send(sendto: Any = client.sendto, packet: bytes = packet, relay: Any = relay) -> None:
                    try:
                        sendto(packet, relay)
                    except BlockingIOError:
                        pass
                # The Rust server picks a circuit for the association when the first datagram arrives.
                runs = result["socks5"][str(hops)] = {}
                for mode, window in (("paced", WINDOW), ("flood", None)):
                    runs[mode] = await pump_run(acks, send, args.seconds, window)
                    log(describe_run(f"{name} SOCKS5 {hops} hops {mode}", runs[mode]))
        else:
            result["socks5"] = None
        result["rss_mb"] = rss_mb()
        result["rss_growth_mb"] = result["rss_mb"] - rss_before
        result["guard"] = {"refusals": loopback_guard.report()["total"], "udp_hosts": udp_socket_hosts()}
        return result
    finally:
        for stop in reversed(cleanup):
            stop()
        transport.close()
        sink.stop()
        for peer in peers:
            try:
                await asyncio.wait_for(peer.unload(), 2)
            except Exception as exc:  # noqa: BLE001 - shutting down: report, carry on
                log(f"unloading a pyipv8 peer failed: {exc!r}")
            if args.endpoint == "rust":
                await peer.endpoint.close(grace_period=1)
            else:
                peer.endpoint.close()


def main() -> None:
    """Measure and hand the figures back as one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", choices=("python", "rust"), default="python")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--builds", type=int, default=9)
    parser.add_argument("--rust-workers", type=int, default=4)
    args = parser.parse_args()
    emit_result(asyncio.run(worker(args)))


if __name__ == "__main__":
    main()
