"""
Hidden services across implementations on 127.0.0.1: a service seeded by a pyipv8 3.2.1 peer is reached by a
txipv8 downloader, and the reverse; introduction point, rendezvous point and relays are drawn from both
implementations' relay-exits; the e2e circuit carries data both ways, byte for byte.

The pyipv8 nodes run in one reference process (reference/ref_hidden_node.py: ``HiddenTunnelCommunity``
instances on pyipv8's Python endpoint, or, in :class:`TestHiddenServicesInteropRustEndpoint`, on the Rust
endpoint of ``ipv8-rust-tunnels`` that pyipv8 3.2.1 uses as its data plane): an end node and two relay-exits. This process runs an end node and two
relay-exits of txipv8. Everybody walks to everybody; nobody has a DHT, so the test hands the downloader the
introduction point the seeder's circuit ended in (the lookup itself is covered by the in-memory tests).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater

from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.provider import DHTCommunityProvider
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.anonymization.hidden_services import (
    HiddenTunnelCommunity,
    HiddenTunnelSettings,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_IP_SEEDER,
    CIRCUIT_TYPE_RP_SEEDER,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_RELAY,
    Circuit,
    IntroductionPoint,
)
from ipv8.peer import Peer

from .harness import PEER_DEADLINE, InteropTestCase, RefPeer, TxNode
from .refenv import reference_env, reference_interpreter

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_hidden_node.py"
RELAY_EXIT = [PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT]
PY_FLAGS = [[], RELAY_EXIT, RELAY_EXIT]
INFO_HASH = hashlib.sha1(b"txipv8 hidden services interop").digest()
SIZES = (1, 200, 1000)
INTRODUCTION_TIMEOUT = 10.0
STEP_TIMEOUT = 20.0


class LoopbackDHT(DHTDiscoveryCommunity):
    """txipv8's DHT with its per-IP request limits raised: all six nodes send from 127.0.0.1, so limits meant for one
    remote host count them as one and drop their finds at random moments (pyipv8 has no such limit)."""

    store_rate_limit = 1000.0
    find_rate_limit = 1000.0


class RecordingHiddenCommunity(HiddenTunnelCommunity):
    """txipv8's HiddenTunnelCommunity, keeping what arrives on its e2e circuits."""

    def __init__(self, settings: HiddenTunnelSettings) -> None:
        super().__init__(settings)
        self.raw: list[tuple[int, str, bytes]] = []

    def on_raw_data(self, circuit: Circuit, origin: Any, data: bytes) -> None:
        self.raw.append((circuit.circuit_id, str(circuit.ctype), data))


class TestHiddenServicesInterop(InteropTestCase):
    timeout = 60

    #: Whether every node also runs a DHT (its hidden community's ``dht_provider``).
    with_dht = False
    #: The pyipv8 nodes' endpoint: ``"python"`` or ``"rust"``, or one per node.
    endpoint: ClassVar[str | list[str]] = "python"
    #: The flags of the txipv8 nodes (an end node and two relays).
    tx_flags: ClassVar[list[list[int]]] = PY_FLAGS

    async def start_reference(self) -> RefPeer:
        found = reference_interpreter()
        reference = RefPeer(f"pyipv8 hidden-services nodes ({self.endpoint} endpoints)")
        python = str(found.python)
        config = {"deadline": PEER_DEADLINE, "flags": PY_FLAGS, "dht": self.with_dht, "endpoint": self.endpoint}
        reactor.spawnProcess(reference, python, [python, "-u", str(DRIVER), json.dumps(config)],
                             env=reference_env(), path=str(DRIVER.parent))
        self.addCleanup(self.check_exit, reference)
        self.addCleanup(reference.stop)
        await reference.wait_for(lambda p: p.ready is not None, 15.0, "the ready event")
        self.assertEqual(self.endpoint, reference.ready["endpoint"])
        return reference

    async def assert_sockets_on_loopback(self, reference: RefPeer) -> None:
        """
        The loopback guard sees only Python's sockets; the Rust endpoint's are checked by where they are bound
        (a socket bound to 127.0.0.1 cannot send anywhere else). pyipv8's Python exits bind the wildcard
        addresses (it has no setting for that); the guard covers their sends.
        """
        report = await reference.command("report")
        sockets = report["udp_sockets"]
        if not any(PEER_FLAG_EXIT_BT in flags for flags in self.tx_flags):
            # Only pyipv8 nodes are exits, so one of them introduces the seeder (the rendezvous point, which
            # needs no exit flag, may be a node of either implementation).
            self.assertTrue(any(n["intro_point_for"] for n in report["nodes"]), report["nodes"])
        if "rust" in self.endpoint:
            # The end node (Python endpoint) is no exit, so every socket is a node's or a Rust exit socket.
            self.assertEqual({"127.0.0.1"}, set(sockets))
        else:
            self.assertLessEqual(set(sockets), {"127.0.0.1", "0.0.0.0", "::"})

    async def start_tx(self, flags: list[int]) -> tuple[TxNode, RecordingHiddenCommunity]:
        node = await self.start_tx_node()
        provider = None
        if self.with_dht:
            dht = node.add(LoopbackDHT)
            dht.my_estimated_wan = dht.my_estimated_lan = node.address
            provider = DHTCommunityProvider(dht, node.address[1])
        community = node.add(RecordingHiddenCommunity, remove_tunnel_delay=0, max_circuits=0,
                             exit_interface="127.0.0.1", peer_flags=set(flags), dht_provider=provider)
        community.my_estimated_wan = community.my_estimated_lan = node.address
        return node, community

    async def setup_network(self) -> tuple[RefPeer, list[tuple[TxNode, RecordingHiddenCommunity]], dict]:
        reference = await self.start_reference()
        tx = [await self.start_tx(flags) for flags in self.tx_flags]
        py_addresses = [UDPv4Address(*node["address"]) for node in reference.ready["nodes"]]
        tx_addresses = [node.address for node, _ in tx]
        everyone = py_addresses + tx_addresses
        addresses = {bytes.fromhex(n["public_key"]): UDPv4Address(*n["address"]) for n in reference.ready["nodes"]}
        addresses.update({c.my_peer.public_key.key_to_bin(): n.address for n, c in tx})
        end = reactor.seconds() + INTRODUCTION_TIMEOUT
        while True:
            for index, address in enumerate(py_addresses):
                await reference.command("walk", node=index, addresses=[list(a) for a in everyone if a != address])
                if self.with_dht:
                    await reference.command("dht_walk", node=index,
                                            addresses=[list(a) for a in everyone if a != address])
            for node, community in tx:
                for address in everyone:
                    if address != node.address:
                        community.walk_to(address)
                        if self.with_dht:
                            community.dht_provider.dht_community.walk_to(address)
            await deferLater(reactor, 0.3, lambda: None)
            report = (await reference.command("report"))["nodes"]
            # Every node knows the four serving nodes (but itself) with their flags.
            py_ok = all(sum(1 for flags in n["candidates"].values() if flags) >= (3 if n["flags"] else 4)
                        for n in report)
            tx_ok = all(sum(1 for flags in c.candidates.values() if flags) >= (3 if c.settings.peer_flags else 4)
                        for _, c in tx)
            if self.with_dht:
                py_ok = py_ok and all(n["dht_peers"] >= 5 for n in report)
                tx_ok = tx_ok and all(len(c.dht_provider.dht_community.get_peers()) >= 5 for _, c in tx)
            if py_ok and tx_ok:
                return reference, tx, addresses
            if reactor.seconds() > end:
                self.fail(f"introductions incomplete{reference.stderr_tail()}")

    async def poll(self, reference: RefPeer, condition: Any, what: str) -> dict:
        end = reactor.seconds() + STEP_TIMEOUT
        while True:
            report = await reference.command("report")
            if condition(report["nodes"]):
                return report
            if reactor.seconds() > end:
                self.fail(f"timed out waiting for {what}: {report['nodes']}{reference.stderr_tail()}")
            await deferLater(reactor, 0.1, lambda: None)

    def intro_of(self, circuits: list[tuple[list[bytes], bool]]) -> bytes:
        """The last hop of the READY introduction circuit."""
        ready = [hops for hops, is_ready in circuits if is_ready]
        self.assertTrue(ready)
        return ready[0][-1]

    async def py_seeder_tx_downloader(self, hops: int) -> None:
        reference, tx, addresses = await self.setup_network()
        await reference.command("join_swarm", node=0, info_hash=INFO_HASH.hex(), hops=hops, seeding=True)
        await reference.command("create_intro", node=0, info_hash=INFO_HASH.hex())

        def intro_ready(nodes: list[dict]) -> bool:
            return any(c["ctype"] == CIRCUIT_TYPE_IP_SEEDER and c["state"] == CIRCUIT_STATE_READY
                       for c in nodes[0]["circuits"]) and (
                any(n["intro_point_for"] for n in nodes) or any(c.intro_point_for for _, c in tx))
        report = await self.poll(reference, intro_ready, "pyipv8's introduction point")
        seeder_pk = bytes.fromhex(report["nodes"][0]["swarms"][INFO_HASH.hex()])
        intro_key = self.intro_of([([bytes.fromhex(h) for h in c["hops"]], c["state"] == CIRCUIT_STATE_READY)
                                   for c in report["nodes"][0]["circuits"] if c["ctype"] == CIRCUIT_TYPE_IP_SEEDER])

        downloader = tx[0][1]
        found: list[tuple] = []
        downloader.join_swarm(INFO_HASH, hops, found.append, seeding=False)
        downloader.do_circuits()
        await self.wait_until(lambda: bool(downloader.find_circuits(hops=hops)), STEP_TIMEOUT,
                              "a txipv8 data circuit")
        downloader.create_e2e(INFO_HASH, IntroductionPoint(Peer(intro_key, addresses[intro_key]), seeder_pk))
        await self.wait_until(lambda: bool(found), STEP_TIMEOUT, "the e2e circuit",
                              lambda: f"{dict(downloader.drop_counts)} {downloader.circuits}{reference.stderr_tail()}")

        e2e = downloader.circuits[downloader.ip_to_circuit_id(found[0][0])]
        self.assertEqual(hops + 1, len(e2e.hops))  # the rendezvous point is one hop beyond the swarm's count
        self.assertTrue(e2e.e2e)
        sent = [os.urandom(size) for size in SIZES]
        for data in sent:
            self.assertTrue(downloader.tunnel_data(downloader.active_data_circuits()[0], found[0], "data", data))
        report = await self.poll(reference, lambda nodes: len(nodes[0]["raw"]) >= len(sent), "data at the seeder")
        self.assertEqual(sent, [bytes.fromhex(r["data"]) for r in report["nodes"][0]["raw"]])
        self.assertEqual({CIRCUIT_TYPE_RP_SEEDER}, {r["ctype"] for r in report["nodes"][0]["raw"]})

        rp_circuit = report["nodes"][0]["raw"][0]["circuit_id"]
        back = [os.urandom(size) for size in SIZES]
        await reference.command("send", node=0, circuit_id=rp_circuit, data=[d.hex() for d in back])
        await self.wait_until(lambda: len(downloader.raw) >= len(back), STEP_TIMEOUT, "data at the downloader")
        self.assertEqual(back, [data for _, _, data in downloader.raw])
        await self.assert_sockets_on_loopback(reference)
        await self.finish(reference)

    async def tx_seeder_py_downloader(self, hops: int) -> None:
        reference, tx, addresses = await self.setup_network()
        seeder = tx[0][1]
        seeder.join_swarm(INFO_HASH, hops, seeding=True)
        seeder.do_circuits()
        await self.wait_until(lambda: bool(seeder.find_circuits(hops=hops)), STEP_TIMEOUT, "a txipv8 data circuit")
        await ensureDeferred(seeder.create_introduction_point(INFO_HASH))

        def ip_circuits() -> list[Circuit]:
            return [c for c in seeder.circuits.values() if c.ctype == CIRCUIT_TYPE_IP_SEEDER]
        self.assertTrue(ip_circuits())
        intro_key = self.intro_of([([h.public_key_bin for h in c.hops], c.state == CIRCUIT_STATE_READY)
                                   for c in ip_circuits()])
        seeder_pk = seeder.swarms[INFO_HASH].seeder_sk.pub().key_to_bin()
        report = await self.poll(reference, lambda nodes: any(seeder_pk.hex() in n["intro_point_for"] for n in nodes)
                                 or any(seeder_pk in c.intro_point_for for _, c in tx), "the introduction point")

        await reference.command("join_swarm", node=0, info_hash=INFO_HASH.hex(), hops=hops, seeding=False)
        await self.poll(reference, lambda nodes: any(c["state"] == CIRCUIT_STATE_READY and c["ctype"] == "DATA"
                                                     for c in nodes[0]["circuits"]), "a pyipv8 data circuit")
        await reference.command("create_e2e", node=0, info_hash=INFO_HASH.hex(), intro_key=intro_key.hex(),
                                intro_address=list(addresses[intro_key]), seeder_pk=seeder_pk.hex())
        report = await self.poll(reference, lambda nodes: bool(nodes[0]["e2e"]), "pyipv8's e2e circuit")
        e2e_circuit = next(c for c in report["nodes"][0]["circuits"] if c["e2e"])
        self.assertEqual(hops + 1, len(e2e_circuit["hops"]))

        sent = [os.urandom(size) for size in SIZES]
        await reference.command("send", node=0, circuit_id=e2e_circuit["circuit_id"], data=[d.hex() for d in sent])
        await self.wait_until(lambda: len(seeder.raw) >= len(sent), STEP_TIMEOUT, "data at the txipv8 seeder",
                              lambda: f"{dict(seeder.drop_counts)}{reference.stderr_tail()}")
        self.assertEqual(sent, [data for _, _, data in seeder.raw])
        rp_circuit = seeder.circuits[seeder.raw[0][0]]
        self.assertEqual(CIRCUIT_TYPE_RP_SEEDER, rp_circuit.ctype)
        back = [os.urandom(size) for size in SIZES]
        for data in back:
            self.assertTrue(seeder.tunnel_data(rp_circuit, ("0.0.0.0", 0), "data", data))
        report = await self.poll(reference, lambda nodes: len(nodes[0]["raw"]) >= len(back), "data at pyipv8")
        self.assertEqual(back, [bytes.fromhex(r["data"]) for r in report["nodes"][0]["raw"]])
        await self.assert_sockets_on_loopback(reference)
        await self.finish(reference)

    async def test_pyipv8_seeder_txipv8_downloader_1_hop(self) -> None:
        await self.py_seeder_tx_downloader(1)

    async def test_pyipv8_seeder_txipv8_downloader_2_hops(self) -> None:
        await self.py_seeder_tx_downloader(2)

    async def test_txipv8_seeder_pyipv8_downloader_1_hop(self) -> None:
        await self.tx_seeder_py_downloader(1)

    async def test_txipv8_seeder_pyipv8_downloader_2_hops(self) -> None:
        await self.tx_seeder_py_downloader(2)


class TestHiddenServicesOverMixedDHT(TestHiddenServicesInterop):
    """The downloader finds the introduction point itself: its circuit's exit looks it up in a DHT of all six
    nodes (three pyipv8, three txipv8), where the introduction point announced it."""

    with_dht = True

    async def test_pyipv8_seeder_txipv8_downloader_1_hop(self) -> None:
        reference, tx, _ = await self.setup_network()
        await reference.command("join_swarm", node=0, info_hash=INFO_HASH.hex(), hops=1, seeding=True)
        await reference.command("create_intro", node=0, info_hash=INFO_HASH.hex())
        report = await self.poll(reference, lambda nodes: any(n["intro_point_for"] for n in nodes)
                                 or any(c.intro_point_for for _, c in tx), "pyipv8's introduction point")
        seeder_pk = bytes.fromhex(report["nodes"][0]["swarms"][INFO_HASH.hex()])
        downloader = tx[0][1]
        found: list[tuple] = []
        swarm = downloader.join_swarm(INFO_HASH, 1, found.append, seeding=False)
        downloader.do_circuits()
        await self.wait_until(lambda: bool(downloader.find_circuits(hops=1)), STEP_TIMEOUT, "a txipv8 data circuit")
        end = reactor.seconds() + STEP_TIMEOUT
        while not found:
            # The announcement may still be on its way into the DHT: look again until it is found.
            swarm.last_lookup = 0
            downloader.do_peer_discovery()
            await deferLater(reactor, 1.0, lambda: None)
            if reactor.seconds() > end:
                self.fail(f"no e2e circuit: {swarm.intro_points} {dict(downloader.drop_counts)}"
                          f"{reference.stderr_tail()}")
        self.assertIn(seeder_pk, [ip.seeder_pk for ip in swarm.intro_points])
        data = os.urandom(500)
        downloader.tunnel_data(downloader.active_data_circuits()[0], found[0], "data", data)
        report = await self.poll(reference, lambda nodes: bool(nodes[0]["raw"]), "data at the seeder")
        self.assertEqual(data, bytes.fromhex(report["nodes"][0]["raw"][0]["data"]))
        await self.finish(reference)

    async def test_txipv8_seeder_pyipv8_downloader_1_hop(self) -> None:
        reference, tx, _ = await self.setup_network()
        seeder = tx[0][1]
        seeder.join_swarm(INFO_HASH, 1, seeding=True)
        seeder.do_circuits()
        await self.wait_until(lambda: bool(seeder.find_circuits(hops=1)), STEP_TIMEOUT, "a txipv8 data circuit")
        await ensureDeferred(seeder.create_introduction_point(INFO_HASH))
        seeder_pk = seeder.swarms[INFO_HASH].seeder_sk.pub().key_to_bin()
        await self.poll(reference, lambda nodes: any(seeder_pk.hex() in n["intro_point_for"] for n in nodes)
                        or any(seeder_pk in c.intro_point_for for _, c in tx), "the introduction point")
        await reference.command("join_swarm", node=0, info_hash=INFO_HASH.hex(), hops=1, seeding=False)
        await self.poll(reference, lambda nodes: any(c["state"] == CIRCUIT_STATE_READY and c["ctype"] == "DATA"
                                                     for c in nodes[0]["circuits"]), "a pyipv8 data circuit")
        end = reactor.seconds() + STEP_TIMEOUT
        while True:
            await reference.command("peer_discovery", node=0)
            await deferLater(reactor, 1.0, lambda: None)
            report = await reference.command("report")
            if report["nodes"][0]["e2e"]:
                break
            if reactor.seconds() > end:
                drops = [{type(c).__name__: dict(c.drop_counts) for c in node.communities} for node, _ in tx]
                self.fail(f"pyipv8 found no e2e circuit; txipv8 drops {drops}{reference.stderr_tail()}")
        e2e_circuit = next(c for c in report["nodes"][0]["circuits"] if c["e2e"])
        data = os.urandom(500)
        await reference.command("send", node=0, circuit_id=e2e_circuit["circuit_id"], data=[data.hex()])
        await self.wait_until(lambda: bool(seeder.raw), STEP_TIMEOUT, "data at the txipv8 seeder")
        self.assertEqual(data, seeder.raw[0][2])
        await self.finish(reference)

    # The hop-count variants without a DHT are not repeated here.
    test_pyipv8_seeder_txipv8_downloader_2_hops = None  # type: ignore[assignment]
    test_txipv8_seeder_pyipv8_downloader_2_hops = None  # type: ignore[assignment]


class TestHiddenServicesInteropRustEndpoint(TestHiddenServicesInterop):
    """The 1-hop cases with pyipv8's two relay-exits on the Rust endpoint (``ipv8-rust-tunnels``), and txipv8's
    two serving nodes relays only: every circuit ends at a pyipv8 node, so the introduction point, the rendezvous
    point and the exits answering peers-requests are Rust data planes. pyipv8's end node stays on the Python
    endpoint: with the Rust one, the data of its own circuits would go to Rust's SOCKS5 sessions, not to the
    ``on_raw_data`` the test reads."""

    endpoint: ClassVar[str | list[str]] = ["python", "rust", "rust"]
    tx_flags: ClassVar[list[list[int]]] = [[], [PEER_FLAG_RELAY], [PEER_FLAG_RELAY]]

    test_pyipv8_seeder_txipv8_downloader_2_hops = None  # type: ignore[assignment]
    test_txipv8_seeder_pyipv8_downloader_2_hops = None  # type: ignore[assignment]
