"""The txipv8 side of ``bench/tunnels.py``: five TunnelCommunity peers and a sink in this process (Twisted).

Run through ``bench/tunnels.py --worker`` (prints one ``BENCH-RESULT`` line) or ``--profile HOPS``.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import socket
import sys
import time
from typing import Any

import loopback_guard
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
from _tunnel_socks5 import associate, socks5_available, udp_header
from twisted.internet import defer, reactor, task, threads
from twisted.internet.protocol import DatagramProtocol

import ipv8
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.messaging.anonymization.tunnel import CIRCUIT_STATE_READY
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

check_ipv8_origin(ipv8, want_reference=False)

#: Seconds to wait for introductions and for one circuit to be built.
INTRODUCTION_TIMEOUT = 15.0
BUILD_TIMEOUT = 10.0
#: Pause between runs, so that one run's leftovers (queued datagrams) do not count in the next.
SETTLE_SECONDS = 0.5
NO_ADDRESS = ("0.0.0.0", 0)


class AckReceiver(DatagramProtocol):
    """Receives the sink's acknowledgements and hands the count of the current run to its pump."""

    def __init__(self) -> None:
        self.sink: SinkProcess | None = None
        self.pump: Pump | None = None
        self.base = 0

    def datagramReceived(self, datagram: bytes, addr: tuple) -> None:
        total = self.sink.on_ack(datagram)
        if self.pump is not None:
            self.pump.acknowledged(total - self.base)


def sleep(seconds: float) -> defer.Deferred:
    """A Deferred that fires after ``seconds``."""
    return task.deferLater(reactor, seconds, lambda: None)


async def start_peer(flags: list[int]) -> TunnelCommunity:
    """One peer: its own key and socket on 127.0.0.1, exit sockets on 127.0.0.1, no walker."""
    endpoint = UDPEndpoint(port=0, ip=LOOPBACK)
    await endpoint.open()
    address = UDPv4Address(*endpoint.get_address())
    settings = TunnelSettings(my_peer=Peer(default_eccrypto.generate_key("curve25519"), address),
                              endpoint=endpoint, network=Network(), remove_tunnel_delay=0, max_circuits=0,
                              exit_interface=LOOPBACK)
    settings.peer_flags = set(flags)
    community = TunnelCommunity(settings)
    community.my_estimated_wan = community.my_estimated_lan = address
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
    """Walk everybody to everybody until :func:`introduced` (walking again repeats what a lost packet said)."""
    end = time.monotonic() + INTRODUCTION_TIMEOUT
    while not introduced(peers):
        if time.monotonic() > end:
            raise RuntimeError("introductions incomplete")
        for peer in peers:
            for other in peers:
                if other is not peer:
                    peer.walk_to(other.my_peer.address)
        for _ in range(20):
            await sleep(0.05)
            if introduced(peers):
                return


async def build(initiator: TunnelCommunity, hops: int) -> tuple[Any, float]:
    """Build one circuit of ``hops`` hops: ``(circuit, seconds)``."""
    start = time.perf_counter()
    circuit = initiator.create_circuit(hops)
    if circuit is None:
        raise RuntimeError(f"cannot start a {hops}-hop circuit")
    outcome = await defer.DeferredList([circuit.ready, sleep(BUILD_TIMEOUT)], fireOnOneCallback=True)
    elapsed = time.perf_counter() - start
    if circuit.state != CIRCUIT_STATE_READY:
        raise RuntimeError(f"{hops}-hop circuit not ready after {BUILD_TIMEOUT} s ({circuit.state}): {outcome}")
    return circuit, elapsed


async def measure_builds(initiator: TunnelCommunity, count: int) -> dict[str, float | None]:
    """Median build time (ms) per hop count, each circuit removed (with a destroy) before the next."""
    medians = {}
    for hops in HOP_COUNTS:
        samples = []
        for _ in range(count):
            circuit, elapsed = await build(initiator, hops)
            samples.append(elapsed)
            await initiator.remove_circuit(circuit.circuit_id, "benchmark", remove_now=True, destroy=True)
            await sleep(0.05)
        medians[str(hops)] = median_ms(samples)
        log(f"txipv8 build {hops} hops: {', '.join(f'{1000 * s:.1f}' for s in samples)} ms")
    return medians


ROLES: dict[int, str] = {}


async def pump_run(acks: AckReceiver, send: Any, seconds: float, window: int | None) -> dict[str, Any]:
    """One sending run through ``send``; returns :meth:`Pump.result` plus the kernel's drops per socket role."""
    before = socket_drops(ROLES)
    sink_before = acks.sink.drops()
    finished: defer.Deferred = defer.Deferred()
    pump = Pump(send, reactor.callLater, seconds, window, finished.callback,
                count=lambda: acks.sink.total - acks.base)
    acks.base, acks.pump = acks.sink.total, pump
    pump.start()
    result = await finished
    acks.pump = None
    after = socket_drops(ROLES)
    after["sink"] = acks.sink.drops() - sink_before
    result["socket_drops"] = {role: count - before.get(role, 0) for role, count in after.items()
                              if count - before.get(role, 0)}
    await sleep(SETTLE_SECONDS)
    return result


def data_sender(initiator: TunnelCommunity, circuit: Any, sink_address: UDPv4Address) -> Any:
    """``send()`` for one datagram through ``circuit`` with ``send_data``."""
    # functools.partial, as the pyipv8 driver does: the same (small) cost per call on both sides.
    return functools.partial(initiator.send_data, circuit.hop.address, circuit.circuit_id, sink_address, NO_ADDRESS,
                             make_datagram())


async def socks5_sender(initiator: TunnelCommunity, hops: int, sink_address: tuple[str, int],
                        cleanup: list) -> Any:
    """``send()`` through txipv8's SOCKS5 front door for circuits of ``hops`` hops (see bench/README.md)."""
    # Imported here: the front door may not exist yet (socks5_available() says whether it does).
    from ipv8.messaging.anonymization.socks5.dispatcher import start_socks5_servers
    front_door = await start_socks5_servers(initiator, count=1, hops=hops, interface=LOOPBACK)
    cleanup.append(front_door.stop)
    server_address = front_door.addresses[0]
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind((LOOPBACK, 0))
    client.setblocking(False)
    control, relay = await threads.deferToThread(associate, server_address, client.getsockname())
    cleanup.append(control.close)
    cleanup.append(client.close)
    packet = udp_header(sink_address) + make_datagram()
    sendto = client.sendto

    def send() -> None:
        try:
            sendto(packet, relay)
        except BlockingIOError:
            pass  # the socket's buffer is full: the datagram is lost, as for any UDP sender
    return send


async def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Start the peers, measure, stop."""
    rss_before = rss_mb()
    peers = [await start_peer(flags) for flags in PEER_FLAGS]
    initiator = peers[0]
    acks = AckReceiver()
    ack_port = reactor.listenUDP(0, acks, interface=LOOPBACK)
    sink = acks.sink = SinkProcess(ack_port.getHost().port)
    sink_address = UDPv4Address(LOOPBACK, sink.port)
    cleanup: list = []
    ROLES.update({peer.my_peer.address[1]: name for peer, name in
                  zip(peers, ("initiator", "relay 1", "relay 2", "exit 1", "exit 2"))})
    ROLES[ack_port.getHost().port] = "acknowledgements"
    try:
        await introduce(peers)
        result: dict[str, Any] = {"build_ms": await measure_builds(initiator, args.builds), "send_data": {},
                                  "socks5": {}}
        circuits = {hops: (await build(initiator, hops))[0] for hops in HOP_COUNTS}
        if args.profile and args.socketless:
            await pump_run(acks, data_sender(initiator, circuits[args.profile], sink_address), 0.2, WINDOW)
            profiler = cProfile.Profile()
            profiler.enable()
            costs = socketless_cost(peers, circuits[args.profile], 20000)
            profiler.disable()
            log(f"profiled socketless {args.profile} hops (us per cell, inflated by the profiler): {costs}")
            stats = pstats.Stats(profiler, stream=sys.stderr)
            if args.profile_file:
                stats.dump_stats(args.profile_file)
            stats.sort_stats("tottime").print_stats(40)
            return {}
        if args.profile:
            send = data_sender(initiator, circuits[args.profile], sink_address)
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            run = await pump_run(acks, send, args.seconds, WINDOW)
            profiler.disable()
            log(describe_run(f"profiled paced send_data, {args.profile} hops", run))
            stats = pstats.Stats(profiler, stream=sys.stderr)
            if args.profile_file:
                stats.dump_stats(args.profile_file)
            stats.sort_stats("tottime").print_stats(30)
            return {"profile": run}
        result["socketless_us"] = {}
        for hops in HOP_COUNTS:
            await pump_run(acks, data_sender(initiator, circuits[hops], sink_address), 0.2, WINDOW)  # opens the exit
            costs = result["socketless_us"][str(hops)] = socketless_cost(peers, circuits[hops], 2000)
            log(f"txipv8 {hops} hops, Python cost per cell without sockets (us): "
                + ", ".join(f"{name} {value:.1f}" for name, value in costs.items()))
        for hops in HOP_COUNTS:
            send = data_sender(initiator, circuits[hops], sink_address)
            runs = result["send_data"][str(hops)] = {}
            for mode, window in (("paced", WINDOW), ("flood", None)):
                runs[mode] = await pump_run(acks, send, args.seconds, window)
                log(describe_run(f"txipv8 send_data {hops} hops {mode}", runs[mode]))
        if socks5_available() and args.only != "send_data":
            for hops in HOP_COUNTS:
                send = await socks5_sender(initiator, hops, (LOOPBACK, sink_address.port), cleanup)
                runs = result["socks5"][str(hops)] = {}
                for mode, window in (("paced", WINDOW), ("flood", None)):
                    runs[mode] = await pump_run(acks, send, args.seconds, window)
                    log(describe_run(f"txipv8 SOCKS5 {hops} hops {mode}", runs[mode]))
        else:
            result["socks5"] = None
        result["rss_mb"] = rss_mb()
        result["rss_growth_mb"] = result["rss_mb"] - rss_before
        result["drops"] = {str(index): dict(peer.drop_counts) for index, peer in enumerate(peers)
                           if peer.drop_counts}
        result["guard"] = {"refusals": loopback_guard.report()["total"], "udp_hosts": udp_socket_hosts()}
        return result
    finally:
        for stop in reversed(cleanup):
            await defer.maybeDeferred(stop)
        for peer in peers:
            await peer.unload()
            await peer.endpoint.close()
        await ack_port.stopListening()
        sink.stop()


def run_worker_process(args: argparse.Namespace) -> int:
    """Entry point of ``--worker`` / ``--profile``: run the reactor until :func:`worker` is done."""
    async def main(_: Any) -> None:
        result = await worker(args)
        if not args.profile:
            emit_result(result)

    task.react(lambda r: defer.Deferred.fromCoroutine(main(r)))  # exits the process when done
    return 0


__all__ = ["run_worker_process"]


# -- cost per cell without sockets ------------------------------------------------------------------------------

class _FakeTransport:
    """Stands in for an exit socket's UDP port: counts what would leave."""

    def __init__(self) -> None:
        self.count = 0
        self.socket = self

    def write(self, data: bytes, address: Any) -> None:
        self.count += 1

    sendto = write


def socketless_cost(peers: list[TunnelCommunity], circuit: Any, count: int) -> dict[str, float]:
    """
    Python CPU cost of one data cell on each node of ``circuit``, sockets taken out: every endpoint's ``send`` is
    replaced by a queue and the queue is delivered to the addressed endpoint's listeners (what its socket read
    would do); the exit's UDP port by a counter. Returns microseconds per cell for the whole path and per node.
    """
    by_address = {tuple(peer.my_peer.address): peer for peer in peers}
    queue: list = []
    originals = {}
    for peer in peers:
        source = peer.my_peer.address
        originals[peer] = peer.endpoint.send
        peer.endpoint.send = lambda address, packet, source=source: queue.append((source, address, packet))
    exits = [socket_ for peer in peers for socket_ in peer.exit_sockets.values()]
    saved_transports = [(exit_socket, exit_socket.transport) for exit_socket in exits]
    fake = _FakeTransport()
    for exit_socket in exits:
        exit_socket.transport = fake
    initiator = peers[0]
    datagram = make_datagram()
    sink = UDPv4Address(LOOPBACK, 9)
    spent: dict[str, float] = {}
    names = {id(peer): name for peer, name in zip(peers, ("initiator", "relay 1", "relay 2", "exit 1", "exit 2"))}
    # CPU time, not wall time: on a shared machine the figures then do not depend on what else runs.
    clock = time.process_time
    try:
        start = clock()
        for _ in range(count):
            begin = clock()
            initiator.send_data(circuit.hop.address, circuit.circuit_id, sink, NO_ADDRESS, datagram)
            spent["initiator"] = spent.get("initiator", 0.0) + clock() - begin
            while queue:
                source, address, packet = queue.pop()
                target = by_address[tuple(address)]
                begin = clock()
                target.endpoint.datagramReceived(packet, (source[0], source[1]))
                name = names[id(target)]
                spent[name] = spent.get(name, 0.0) + clock() - begin
        total = clock() - start
    finally:
        for peer, send in originals.items():
            peer.endpoint.send = send
        for exit_socket, transport in saved_transports:
            exit_socket.transport = transport
    if fake.count != count:
        raise RuntimeError(f"socketless run: {fake.count} of {count} datagrams reached the exit's port")
    result = {name: 1e6 * seconds / count for name, seconds in spent.items()}
    result["whole path"] = 1e6 * total / count
    return result
