"""The txipv8 side of the hidden-services rows of ``bench/tunnels.py`` (see ``_hidden_shared`` for the setup).

Run through ``bench/tunnels.py --hidden-worker`` (prints one ``BENCH-RESULT`` line) or ``--hidden-profile``
(a cProfile of the repetitions, or with ``--hidden-profile data`` of the paced e2e run, on stderr).
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sys
import time
from typing import Any

import loopback_guard
from _harness import check_ipv8_origin, emit_result
from _hidden_shared import (
    ANNOUNCE_SETTLE,
    DHT_PEERS,
    DOWNLOADER,
    HIDDEN_FLAGS,
    LOOKUP_RETRY,
    REPETITION_PAUSE,
    ROLE_NAMES,
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
from twisted.internet import defer, reactor, task

import ipv8
from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.provider import DHTCommunityProvider
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.anonymization.hidden_services import (
    HiddenTunnelCommunity,
    HiddenTunnelSettings,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_RP_DOWNLOADER,
)
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

check_ipv8_origin(ipv8, want_reference=False)

INTRODUCTION_TIMEOUT = 20.0
NO_ADDRESS = ("0.0.0.0", 0)


class BenchHiddenCommunity(HiddenTunnelCommunity):
    """The hidden community, noting when its introduction point is established and counting e2e payloads."""

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


class BenchDHT(DHTDiscoveryCommunity):
    """txipv8's DHT with its per-IP request limits raised: every peer of the benchmark sends from 127.0.0.1, so the
    limits meant for one remote host would count the six peers as one and drop their finds (pyipv8 has none)."""

    store_rate_limit = 1000.0
    find_rate_limit = 1000.0


def sleep(seconds: float) -> defer.Deferred:
    """A Deferred that fires after ``seconds``."""
    return task.deferLater(reactor, seconds, lambda: None)


class Node:
    """One peer: a UDP socket on 127.0.0.1, a DHT community and the hidden community on it."""

    def __init__(self, endpoint: UDPEndpoint, flags: list[int]) -> None:
        self.endpoint = endpoint
        address = UDPv4Address(*endpoint.get_address())
        self.address = address
        my_peer = Peer(default_eccrypto.generate_key("curve25519"), address)
        self.dht = BenchDHT(BenchDHT.settings_class(my_peer=my_peer, endpoint=endpoint, network=Network()))
        self.dht.my_estimated_lan = self.dht.my_estimated_wan = address
        settings = HiddenTunnelSettings(my_peer=my_peer, endpoint=endpoint, network=Network(), remove_tunnel_delay=0,
                                        max_circuits=0, exit_interface=LOOPBACK, swarm_lookup_interval=LOOKUP_RETRY,
                                        dht_provider=DHTCommunityProvider(self.dht, address.port))
        settings.peer_flags = set(flags)
        self.hidden = BenchHiddenCommunity(settings)
        self.hidden.my_estimated_lan = self.hidden.my_estimated_wan = address
        # The driver decides when to look swarms up (the same for every implementation).
        self.hidden.cancel_pending_task("do_peer_discovery")

    async def stop(self) -> None:
        await self.hidden.unload()
        await self.dht.unload()
        await self.endpoint.close()


async def start_node(flags: list[int]) -> Node:
    endpoint = UDPEndpoint(port=0, ip=LOOPBACK)
    await endpoint.open()
    return Node(endpoint, flags)


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
            await sleep(0.05)
            if introduced(nodes):
                return


async def wait_until(condition: Any, what: str, poll: float = 0.002) -> None:
    end = time.monotonic() + STEP_TIMEOUT
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out waiting for {what}")
        await sleep(poll)


async def clear_circuits(community: HiddenTunnelCommunity) -> None:
    """Remove (with a destroy) every circuit of ``community``, so that the next repetition starts from none."""
    for circuit_id in list(community.circuits):
        await community.remove_circuit(circuit_id, "benchmark", remove_now=True, destroy=True)


async def one_repetition(nodes: list[Node], repetition: int, keep: bool) -> tuple[float, float, int, Any]:
    """Seed and connect once: ``(seconds to intro-established, seconds to e2e, lookups, e2e circuit)``."""
    seeder, downloader = nodes[SEEDER].hidden, nodes[DOWNLOADER].hidden
    info_hash = info_hash_for(repetition)
    steps = seeder.steps = downloader.steps = StepClock()

    start = time.perf_counter()
    seeder.join_swarm(info_hash, SWARM_HOPS, seeding=True)
    defer.ensureDeferred(seeder.create_introduction_point(info_hash))
    await wait_until(lambda: "intro" in steps.marks, "the introduction point")
    seeded = steps.since("intro", start)
    await sleep(ANNOUNCE_SETTLE)

    lookups = [0]
    next_lookup = [float("inf")]

    def look_up(_: Any = None) -> None:
        if "e2e" in steps.marks:
            return
        lookups[0] += 1
        next_lookup[0] = time.monotonic() + LOOKUP_RETRY
        downloader.do_peer_discovery()

    start = time.perf_counter()
    downloader.join_swarm(info_hash, SWARM_HOPS, lambda address: steps.mark("e2e"), seeding=False)
    downloader.do_circuits()
    for circuit in downloader.find_circuits(state=None, hops=SWARM_HOPS):
        circuit.ready.addCallback(look_up)  # the lookup goes over this circuit: ask as soon as it is there
    end = time.monotonic() + STEP_TIMEOUT
    while "e2e" not in steps.marks:
        now = time.monotonic()
        if now > end:
            raise RuntimeError(f"no e2e circuit after {STEP_TIMEOUT} s (lookups {lookups[0]}, drops "
                               f"{dict(downloader.drop_counts)})")
        if now >= next_lookup[0] or (lookups[0] == 0 and downloader.find_circuits(hops=SWARM_HOPS)):
            look_up()
        if not downloader.find_circuits(state=None, hops=SWARM_HOPS):
            downloader.do_circuits()
        await sleep(0.002)
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
    await sleep(REPETITION_PAUSE)


async def paced_run(nodes: list[Node], circuit: Any, seconds: float) -> dict[str, Any] | None:
    """Send 1 KB payloads from the downloader to the seeder through ``circuit`` for ``seconds`` (paced); None if
    not one warm-up payload arrived."""
    seeder, downloader = nodes[SEEDER].hidden, nodes[DOWNLOADER].hidden
    counter = seeder.counter = ArrivalCounter()
    send = functools.partial(downloader.send_data, circuit.hop.address, circuit.circuit_id, NO_ADDRESS, NO_ADDRESS,
                             make_datagram())
    finished: defer.Deferred = defer.Deferred()
    # A warm-up, not measured (the same for every implementation): does the e2e circuit deliver at all?
    for _ in range(WARM_UP):
        send()
    end = time.monotonic() + WARM_UP_TIMEOUT
    while counter.total < WARM_UP and time.monotonic() < end:
        await sleep(0.01)
    warmed = counter.total
    if not warmed:
        return None
    counter.base = counter.total
    pump = Pump(send, reactor.callLater, seconds, WINDOW, finished.callback, count=counter.count)
    counter.pump = pump
    pump.start()
    result = await finished
    counter.pump = None
    result["size_errors"] = counter.size_errors
    result["warm_up_arrived"] = warmed
    return result


def socketless_cost(nodes: list[Node], circuit: Any, count: int) -> dict[str, float]:
    """
    Python CPU cost (us) of one e2e payload on each node of the path, sockets taken out: every endpoint's ``send``
    is replaced by a queue that is delivered to the addressed endpoint's ``datagramReceived`` (what its socket read
    would do). The downloader sends with ``send_data``; the seeder's ``on_raw_data`` must see every payload.
    """
    by_address = {tuple(node.address): node for node in nodes}
    names = {id(node): name for node, name in zip(nodes, ROLE_NAMES)}
    queue: list = []
    originals = {}
    for node in nodes:
        originals[node] = node.endpoint.send
        node.endpoint.send = lambda address, packet, source=node.address: queue.append((source, address, packet))
    seeder, downloader = nodes[SEEDER].hidden, nodes[DOWNLOADER].hidden
    counter = seeder.counter = ArrivalCounter()
    datagram = make_datagram()
    spent: dict[str, float] = {}
    clock = time.process_time  # CPU time: independent of what else the machine runs
    try:
        start = clock()
        for _ in range(count):
            begin = clock()
            downloader.send_data(circuit.hop.address, circuit.circuit_id, NO_ADDRESS, NO_ADDRESS, datagram)
            spent["downloader"] = spent.get("downloader", 0.0) + clock() - begin
            while queue:
                source, address, packet = queue.pop()
                target = by_address[tuple(address)]
                begin = clock()
                target.endpoint.datagramReceived(packet, tuple(source))
                name = names[id(target)]
                spent[name] = spent.get(name, 0.0) + clock() - begin
        total = clock() - start
    finally:
        for node, send in originals.items():
            node.endpoint.send = send
        seeder.counter = None
    if counter.total != count:
        raise RuntimeError(f"socketless run: {counter.total} of {count} payloads reached the seeder")
    result = {name: 1e6 * seconds / count for name, seconds in spent.items()}
    result["whole path"] = 1e6 * total / count
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
    nodes = [await start_node(flags) for flags in HIDDEN_FLAGS]
    profile = getattr(args, "hidden_profile", None)
    # The data run on the CPU clock (what each payload costs), the set-up on the wall clock (where it waits).
    profiler = (cProfile.Profile(time.process_time) if profile == "data" else cProfile.Profile()) if profile else None
    try:
        await introduce(nodes)
        seed_samples, e2e_samples, lookups = [], [], []
        e2e = None
        if profile == "setup":
            profiler.enable()
        for repetition in range(args.hidden_reps):
            seeded, connected, count, e2e = await one_repetition(nodes, repetition,
                                                                 keep=repetition == args.hidden_reps - 1)
            seed_samples.append(seeded)
            e2e_samples.append(connected)
            lookups.append(count)
        if profile == "setup":
            profiler.disable()
        if profile == "data":
            profiler.enable()
        run, retries = await send_run(nodes, e2e, args, seed_samples, e2e_samples, lookups)
        if profile == "data":
            profiler.disable()
        log(describe_run("txipv8 hidden e2e paced", run))
        costs = socketless_cost(nodes, e2e, 2000) if run is not None and not profile else None
        if costs:
            log("txipv8 hidden e2e, Python CPU per payload without sockets (us): "
                + ", ".join(f"{name} {value:.1f}" for name, value in costs.items()))
        if profiler is not None:
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(35)
            stats.sort_stats("cumulative").print_stats(35)
        result = {"hidden": summarize(seed_samples, e2e_samples, lookups, run, log, "txipv8")}
        result["hidden"]["retries"] = retries
        result["hidden"]["socketless_us"] = costs
        result["rss_mb"] = rss_mb()
        result["drops"] = {str(index): {**node.hidden.drop_counts, **node.dht.drop_counts}
                           for index, node in enumerate(nodes) if node.hidden.drop_counts or node.dht.drop_counts}
        result["guard"] = {"refusals": loopback_guard.report()["total"], "udp_hosts": udp_socket_hosts()}
        return result
    finally:
        for node in nodes:
            await node.stop()


def run_hidden_worker_process(args: argparse.Namespace) -> int:
    """Entry point of ``--hidden-worker`` / ``--hidden-profile``: run the reactor until :func:`worker` is done."""
    async def main(_: Any) -> None:
        result = await worker(args)
        if not getattr(args, "hidden_profile", None):
            emit_result(result)

    task.react(lambda r: defer.Deferred.fromCoroutine(main(r)))  # exits the process when done
    return 0


__all__ = ["run_hidden_worker_process"]
