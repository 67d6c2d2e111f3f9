"""
Scenario 10: onion circuits across implementations on 127.0.0.1 — a txipv8 initiator whose relays and exit are
pyipv8 3.2.1 peers, and a pyipv8 initiator whose relays and exit are txipv8 peers; circuits of 1, 2 and 3 hops
carry datagrams to a UDP echo sink on 127.0.0.1 and the answers back, byte for byte.

The pyipv8 nodes run in one reference process (reference/ref_tunnel_node.py: ``TunnelCommunity`` instances, each
on its own socket), once on pyipv8's Python endpoint and once on the Rust endpoint of ``ipv8-rust-tunnels`` (the
data plane the deployed network uses). The txipv8 nodes are ``TunnelCommunity`` instances in this process.
Nobody walks by itself: the test makes every node walk to the peers it should know, so the paths are fixed by
the flags (relays in the middle, the exit at the end) and by who knows whom (the initiator knows only peers of
the other implementation).
"""
from __future__ import annotations

import collections
import json
import os
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import deferLater

from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_RELAY,
    Circuit,
)

from .harness import PEER_DEADLINE, InteropTestCase, RefPeer, TxNode
from .refenv import reference_env, reference_interpreter

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_tunnel_node.py"
HOPS = (1, 2, 3)
#: Two relays and an exit, on either side.
SERVING_FLAGS = ([PEER_FLAG_RELAY], [PEER_FLAG_RELAY], [PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT])
EXIT = 2
#: Data bytes of the datagrams sent through each circuit (each wrapped in a bencoded dictionary, which both
#: implementations' exits let out with PEER_FLAG_EXIT_BT).
SIZES = (1, 200, 1000)
#: Seconds for introductions, for building all circuits, and for the data to come back.
INTRODUCTION_TIMEOUT = 10.0
BUILD_TIMEOUT = 15.0
DATA_TIMEOUT = 10.0


def bencoded(key: bytes, value: bytes) -> bytes:
    """A one-entry bencoded dictionary (what the exits' BitTorrent check looks for)."""
    return b"d%d:%s%d:%se" % (len(key), key, len(value), value)


def make_payload(tag: str, size: int) -> bytes:
    """A datagram for the sink: a tag naming circuit and size, then ``size`` random bytes."""
    return bencoded(b"data", f"{tag}|".encode() + os.urandom(size))


def echo_of(datagram: bytes) -> bytes:
    """What the sink answers to ``datagram``: the whole datagram, wrapped once more."""
    return bencoded(b"echo", datagram)


class EchoSink(DatagramProtocol):
    """A UDP service on 127.0.0.1 that records every datagram and answers it with :func:`echo_of`."""

    def __init__(self) -> None:
        self.received: list[tuple[tuple[str, int], bytes]] = []

    def datagramReceived(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.received.append(((addr[0], addr[1]), datagram))
        self.transport.write(echo_of(datagram), addr)


class RecordingTunnelCommunity(TunnelCommunity):
    """txipv8's TunnelCommunity, keeping what comes back through its circuits from outside the tunnels."""

    def __init__(self, settings: TunnelSettings) -> None:
        super().__init__(settings)
        self.raw: list[tuple[int, tuple[str, int], bytes]] = []

    def on_raw_data(self, circuit: Circuit, origin: Any, data: bytes) -> None:
        self.raw.append((circuit.circuit_id, (origin[0], origin[1]), data))


class TxTunnelNode:
    """A txipv8 node running only the tunnel community."""

    def __init__(self, node: TxNode, community: RecordingTunnelCommunity) -> None:
        self.node = node
        self.community = community

    @property
    def address(self) -> UDPv4Address:
        return self.node.address

    @property
    def public_key(self) -> bytes:
        return self.community.my_peer.public_key.key_to_bin()

    def candidate_flags(self) -> dict[bytes, list[int]]:
        return {peer.public_key.key_to_bin(): sorted(flags) for peer, flags in self.community.candidates.items()}


def describe_circuit(circuit: Circuit | None) -> str:
    if circuit is None:
        return "gone"
    return f"{circuit.state} with {len(circuit.hops)}/{circuit.goal_hops} hops"


class TestTunnelInterop(InteropTestCase):
    timeout = 45

    def setUp(self) -> None:
        super().setUp()
        self.tx_nodes: list[TxTunnelNode] = []

    # -- set-up ------------------------------------------------------------------------------------------

    async def start_reference(self, endpoint: str, flags: list[list[int]]) -> RefPeer:
        found = reference_interpreter()
        reference = RefPeer(f"pyipv8 tunnel nodes ({endpoint} endpoint)")
        python = str(found.python)
        config = {"deadline": PEER_DEADLINE, "endpoint": endpoint, "flags": flags}
        reactor.spawnProcess(reference, python, [python, "-u", str(DRIVER), json.dumps(config)],
                             env=reference_env(), path=str(DRIVER.parent))
        self.addCleanup(self.check_exit, reference)
        self.addCleanup(reference.stop)
        await reference.wait_for(lambda p: p.ready is not None, 15.0, "the ready event")
        self.assertEqual(endpoint, reference.ready["endpoint"])
        return reference

    async def start_tx_tunnel(self, flags: list[int]) -> TxTunnelNode:
        node = await self.start_tx_node()
        # Exits bind to 127.0.0.1: that is what lets them send to the loopback sink (and only there).
        community = node.add(RecordingTunnelCommunity, remove_tunnel_delay=0, max_circuits=0,
                             exit_interface="127.0.0.1", peer_flags=set(flags))
        # On one host the WAN address is the socket's own address.
        community.my_estimated_wan = community.my_estimated_lan = node.address
        tunnel_node = TxTunnelNode(node, community)
        self.tx_nodes.append(tunnel_node)
        return tunnel_node

    def start_sink(self) -> tuple[EchoSink, tuple[str, int]]:
        sink = EchoSink()
        port = reactor.listenUDP(0, sink, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return sink, ("127.0.0.1", port.getHost().port)

    async def introduce(self, reference: RefPeer, walks: list[tuple[Any, list[UDPv4Address]]],
                        complete: Any, describe: Any) -> None:
        """
        Make every walker (a txipv8 node, or a pyipv8 node index) walk to its addresses until ``complete(report)``
        holds for the reference process's report; each walk teaches both sides the other's flags.
        """
        end = reactor.seconds() + INTRODUCTION_TIMEOUT
        next_walk = 0.0
        while True:
            if reactor.seconds() >= next_walk:
                # Walking again only repeats what a lost packet would have told: harmless, and bounded.
                next_walk = reactor.seconds() + 1.0
                for walker, addresses in walks:
                    if isinstance(walker, int):
                        await reference.command("walk", node=walker, addresses=[list(a) for a in addresses])
                    else:
                        for address in addresses:
                            walker.community.walk_to(address)
            report = await reference.command("report")
            if complete(report["nodes"]):
                return
            if reactor.seconds() > end:
                self.fail(f"introductions incomplete after {INTRODUCTION_TIMEOUT} s: {describe(report['nodes'])}"
                          f"{reference.stderr_tail()}")
            await deferLater(reactor, 0.05, lambda: None)

    # -- checks ------------------------------------------------------------------------------------------

    def assert_no_tx_drops(self, nodes: list[TxTunnelNode], describe: Any = lambda: "") -> None:
        """No txipv8 node refused anything pyipv8 sent (every drop reason is counted in ``drop_counts``)."""
        for index, node in enumerate(nodes):
            self.assertEqual({}, dict(node.community.drop_counts),
                             f"txipv8 tunnel node {index} dropped packets; circuits: {describe()}")

    def assert_sockets_on_loopback(self, endpoint: str, report: dict[str, Any], exits: int) -> None:
        """
        The loopback guard sees only Python's sockets. Rust's are checked by where they are bound: a socket bound
        to 127.0.0.1 cannot send anywhere else (the kernel refuses the route). pyipv8's Python exits bind the
        wildcard addresses (it has no setting for that); the guard covers their sends.
        """
        sockets = report["udp_sockets"]
        if endpoint == "rust":
            # One per node, and the exit sockets, which exist once data went out.
            self.assertEqual(["127.0.0.1"] * (len(report["nodes"]) + exits), sockets)
        else:
            self.assertLessEqual(set(sockets), {"127.0.0.1", "0.0.0.0", "::"})
            self.assertEqual(len(report["nodes"]), sockets.count("127.0.0.1"))

    def assert_sink_got(self, sink: EchoSink, sent: dict[Any, list[bytes]]) -> None:
        """Every datagram sent arrived exactly once and intact, from an exit socket on 127.0.0.1."""
        expected = collections.Counter(datagram for datagrams in sent.values() for datagram in datagrams)
        self.assertEqual(expected, collections.Counter(datagram for _, datagram in sink.received))
        self.assertEqual({"127.0.0.1"}, {source[0] for source, _ in sink.received})

    # -- txipv8 initiator, pyipv8 relays and exit ----------------------------------------------------------

    async def tx_initiator(self, endpoint: str, hop_counts: tuple[int, ...] = HOPS) -> None:
        reference = await self.start_reference(endpoint, list(SERVING_FLAGS))
        py = reference.ready["nodes"]
        py_keys = [bytes.fromhex(node["public_key"]) for node in py]
        py_addresses = [UDPv4Address(*node["address"]) for node in py]
        # No flags: the initiator serves nobody, so no candidate list names it.
        initiator = await self.start_tx_tunnel([])
        sink, sink_address = self.start_sink()

        want = {key: sorted(flags) for key, flags in zip(py_keys, SERVING_FLAGS, strict=True)}
        tx_key = initiator.public_key.hex()

        def complete(nodes: list[dict[str, Any]]) -> bool:
            if initiator.candidate_flags() != want:
                return False
            for node in nodes:
                others = {key.hex(): flags for key, flags in want.items() if key.hex() != node["public_key"]}
                if node["candidates"] != {**others, tx_key: []}:
                    return False
            return True

        walks = [(index, [a for a in py_addresses if a != py_addresses[index]]) for index in range(len(py))]
        await self.introduce(reference, [*walks, (initiator, py_addresses)], complete, lambda nodes: {
            "txipv8 initiator": {key.hex()[-8:]: flags for key, flags in initiator.candidate_flags().items()},
            "pyipv8": [{key[-8:]: flags for key, flags in node["candidates"].items()} for node in nodes]})

        circuits = {hops: initiator.community.create_circuit(hops) for hops in hop_counts}
        for hops, circuit in circuits.items():
            self.assertIsNotNone(circuit, f"txipv8 could not start a {hops}-hop circuit")
        # A drop ends the wait at once: the circuit it hit would only time out (see assert_no_tx_drops).
        await self.wait_until(
            lambda: all(c.state == CIRCUIT_STATE_READY for c in circuits.values()) or initiator.community.drop_counts,
            BUILD_TIMEOUT, "every txipv8 circuit READY",
            lambda: str({hops: describe_circuit(initiator.community.circuits.get(c.circuit_id))
                         for hops, c in circuits.items()}) + reference.stderr_tail())
        self.assert_no_tx_drops([initiator], lambda: str({hops: describe_circuit(c) for hops, c in circuits.items()})
                                + reference.stderr_tail())
        for hops, circuit in circuits.items():
            path = [hop.public_key_bin for hop in circuit.hops]
            self.assertEqual(hops, len(path))
            self.assertEqual(py_keys[EXIT], path[-1], f"the {hops}-hop circuit does not end in the pyipv8 exit")
            self.assertLessEqual(set(path[:-1]), set(py_keys[:EXIT]), f"{hops}-hop circuit: relays not pyipv8's")
            self.assertEqual(hops, len(set(path)))

        sent = {hops: [make_payload(f"tx-{hops}-{size}", size) for size in SIZES] for hops in hop_counts}
        for hops, circuit in circuits.items():
            for datagram in sent[hops]:
                self.assertTrue(initiator.community.tunnel_data(circuit, UDPv4Address(*sink_address), "data",
                                                                datagram))
        total = len(hop_counts) * len(SIZES)
        await self.wait_until(lambda: (len(sink.received) >= total and len(initiator.community.raw) >= total)
                              or initiator.community.drop_counts, DATA_TIMEOUT, "every datagram at the sink and every answer back at txipv8",
                              lambda: f"sink {len(sink.received)}, answers {len(initiator.community.raw)} of {total}, "
                              f"txipv8 drops {dict(initiator.community.drop_counts)}{reference.stderr_tail()}")
        self.assert_no_tx_drops([initiator])
        self.assert_sink_got(sink, sent)
        for hops, circuit in circuits.items():
            answers = [(origin, data) for circuit_id, origin, data in initiator.community.raw
                       if circuit_id == circuit.circuit_id]
            self.assertEqual(collections.Counter((sink_address, echo_of(datagram)) for datagram in sent[hops]),
                             collections.Counter(answers), f"answers on the {hops}-hop circuit")
        self.assertEqual(total, len(initiator.community.raw))

        full_report = await reference.command("report")
        self.assert_sockets_on_loopback(endpoint, full_report, len(hop_counts))
        report = full_report["nodes"]
        # The exit ends every circuit; the relays carry hops - 1 relayed hops per circuit, two routes each.
        self.assertEqual(len(hop_counts), report[EXIT]["exits"])
        self.assertEqual(2 * sum(hops - 1 for hops in hop_counts), sum(node["relays"] for node in report[:EXIT]))
        self.assert_no_tx_drops([initiator])
        await self.finish(reference)

    async def test_txipv8_initiator_pyipv8_python_endpoint(self) -> None:
        await self.tx_initiator("python")

    async def test_txipv8_initiator_pyipv8_rust_endpoint_1_hop(self) -> None:
        await self.tx_initiator("rust", (1,))

    async def test_txipv8_initiator_pyipv8_rust_endpoint_2_and_3_hops(self) -> None:
        await self.tx_initiator("rust", (2, 3))

    # -- pyipv8 initiator, txipv8 relays and exit ----------------------------------------------------------

    async def py_initiator(self, endpoint: str, hop_counts: tuple[int, ...] = HOPS) -> None:
        reference = await self.start_reference(endpoint, [[]])
        [py_node] = reference.ready["nodes"]
        py_key = py_node["public_key"]
        tx = [await self.start_tx_tunnel(flags) for flags in SERVING_FLAGS]
        tx_keys = [node.public_key for node in tx]
        sink, sink_address = self.start_sink()

        want = {node.public_key.hex(): sorted(flags) for node, flags in zip(tx, SERVING_FLAGS, strict=True)}

        def complete(nodes: list[dict[str, Any]]) -> bool:
            if nodes[0]["candidates"] != want:
                return False
            for node in tx:
                others = {bytes.fromhex(key): flags for key, flags in want.items() if key != node.public_key.hex()}
                if node.candidate_flags() != {**others, bytes.fromhex(py_key): []}:
                    return False
            return True

        walks = [(node, [other.address for other in tx if other is not node]) for node in tx]
        await self.introduce(reference, [*walks, (0, [node.address for node in tx])], complete, lambda nodes: {
            "pyipv8 initiator": {key[-8:]: flags for key, flags in nodes[0]["candidates"].items()},
            "txipv8": [{key.hex()[-8:]: flags for key, flags in node.candidate_flags().items()} for node in tx]})

        ids = {hops: await reference.command("build", node=0, hops=hops) for hops in hop_counts}
        for hops, circuit_id in ids.items():
            self.assertIsNotNone(circuit_id, f"pyipv8 could not start a {hops}-hop circuit")

        def circuits_of(nodes: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
            by_id = {circuit["circuit_id"]: circuit for circuit in nodes[0]["circuits"]}
            return {hops: by_id.get(circuit_id) for hops, circuit_id in ids.items()}

        end = reactor.seconds() + BUILD_TIMEOUT
        while True:
            circuits = circuits_of((await reference.command("report"))["nodes"])
            if all(c is not None and c["state"] == CIRCUIT_STATE_READY for c in circuits.values()):
                break
            # A drop ends the wait at once: the circuit it hit would only time out.
            self.assert_no_tx_drops(tx, lambda circuits=circuits: f"{circuits}{reference.stderr_tail()}")
            if reactor.seconds() > end:
                self.fail(f"pyipv8 circuits not READY within {BUILD_TIMEOUT} s: {circuits}{reference.stderr_tail()}")
            await deferLater(reactor, 0.05, lambda: None)
        for hops, circuit in circuits.items():
            path = [bytes.fromhex(key) for key in circuit["hops"]]
            self.assertEqual(hops, len(path))
            self.assertEqual(tx_keys[EXIT], path[-1], f"the {hops}-hop circuit does not end in the txipv8 exit")
            self.assertLessEqual(set(path[:-1]), set(tx_keys[:EXIT]), f"{hops}-hop circuit: relays not txipv8's")
            self.assertEqual(hops, len(set(path)))

        sent = {hops: [make_payload(f"py-{hops}-{size}", size) for size in SIZES] for hops in hop_counts}
        for hops, circuit_id in ids.items():
            self.assertEqual(len(SIZES), await reference.command(
                "send", node=0, circuit_id=circuit_id, destination=list(sink_address),
                data=[datagram.hex() for datagram in sent[hops]]))
        total = len(hop_counts) * len(SIZES)
        await self.wait_until(lambda: len(sink.received) >= total or any(node.community.drop_counts for node in tx),
                              DATA_TIMEOUT, "every datagram at the sink",
                              lambda: f"{len(sink.received)} of {total}, txipv8 drops "
                              f"{[dict(node.community.drop_counts) for node in tx]}{reference.stderr_tail()}")
        self.assert_no_tx_drops(tx)
        self.assert_sink_got(sink, sent)
        report = await self.report_when(reference, lambda r: len(r["nodes"][0]["raw"]) >= total, DATA_TIMEOUT)
        self.assert_sockets_on_loopback(endpoint, report, 0)
        raw = report["nodes"][0]["raw"]
        self.assertEqual(total, len(raw))
        for hops, circuit_id in ids.items():
            answers = [((entry["origin"][0], entry["origin"][1]), bytes.fromhex(entry["data"]))
                       for entry in raw if entry["circuit_id"] == circuit_id]
            self.assertEqual(collections.Counter((sink_address, echo_of(datagram)) for datagram in sent[hops]),
                             collections.Counter(answers), f"answers on the {hops}-hop circuit")

        # The txipv8 exit ends every circuit; the relays carry hops - 1 relayed hops per circuit, two routes each.
        self.assertEqual(len(hop_counts), len(tx[EXIT].community.exit_sockets))
        self.assertEqual(2 * sum(hops - 1 for hops in hop_counts),
                         sum(len(node.community.relay_from_to) for node in tx[:EXIT]))
        self.assert_no_tx_drops(tx)
        await self.finish(reference)

    async def test_pyipv8_python_endpoint_initiator_txipv8_relays(self) -> None:
        await self.py_initiator("python")

    async def test_pyipv8_rust_endpoint_initiator_txipv8_exit_1_hop(self) -> None:
        await self.py_initiator("rust", (1,))

    async def test_pyipv8_rust_endpoint_initiator_txipv8_relays_2_and_3_hops(self) -> None:
        await self.py_initiator("rust", (2, 3))
