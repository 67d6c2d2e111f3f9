"""
Scenario 9: a mixed DHT on 127.0.0.1 — three pyipv8 3.2.1 nodes and three txipv8 nodes, all bootstrapping
from one txipv8 tracker, store and find each other's values and connect to each other by mid.

The pyipv8 nodes run in one reference process (reference/ref_dht_node.py: three ``IPv8`` instances with
pyipv8's ``DHTDiscoveryCommunity`` and its default walkers); the txipv8 nodes are three ``IPv8`` services in
this process. Nobody is introduced by hand: the nodes only know the tracker, walk, and fill their routing
tables from what the walk and the DHT messages teach them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater

from ipv8.configuration import Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy, WalkerDefinition
from ipv8.dht.discovery import DHTDiscoveryCommunity as TxDHT
from ipv8.messaging.addresses import UDPv4Address
from ipv8.peerdiscovery.discovery import RandomWalk
from ipv8.service import IPv8
from ipv8.tracker import TrackerService

from .harness import PEER_DEADLINE, InteropTestCase, PacketLog, RefPeer
from .refenv import reference_env, reference_interpreter

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_dht_node.py"
NODES = 3
DHT_PREFIX = b"\x00\x02" + TxDHT.community_id
PUNCTURE_REQUEST, PUNCTURE = 250, 249
CONNECT_PEER_RESPONSE = 10

KEY_BY_PYIPV8 = hashlib.sha1(b"txipv8 interop: a key pyipv8 stores under").digest()
KEY_BY_TXIPV8 = hashlib.sha1(b"txipv8 interop: a key txipv8 stores under").digest()
PLAIN_BY_PYIPV8 = "plain value stored by pyipv8 \u2713".encode()
# A signed value adds 147 bytes (type, lengths, version, 74-byte key, 64-byte signature): 23 bytes of data fit.
SIGNED_BY_PYIPV8 = "signed by pyipv8 \u2713".encode()
PLAIN_BY_TXIPV8 = "plain value stored by txipv8 \u2713".encode()
SIGNED_BY_TXIPV8 = "signed by txipv8 \u2713".encode()


def values_from_json(values: list[list[Any]]) -> set[tuple[bytes, bytes | None]]:
    """The reference side's ``[[data hex, public key hex or null], ...]`` as a set of ``(data, key)``."""
    return {(bytes.fromhex(data), bytes.fromhex(key) if key is not None else None) for data, key in values}


def tx_configuration(tracker: UDPv4Address) -> dict[str, Any]:
    """A txipv8 node with only the DHT overlay, walking from ``tracker`` (the default configuration's walkers)."""
    walkers = [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0}),
               WalkerDefinition(Strategy.PingChurn, -1, {})]
    return (ConfigBuilder().clear_keys().clear_overlays()
            .add_ephemeral_key("dht node")
            .add_interface("UDPIPv4", "127.0.0.1", 0)
            .set_log_level("ERROR").set_walker_interval(0.1)
            .add_overlay("DHTDiscoveryCommunity", "dht node", walkers,
                         [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                                 {"ip_addresses": [tracker], "dns_addresses": []})],
                         {}, [])
            .finalize())


class TxDHTNode:
    """One txipv8 IPv8 service running the DHT, with a log of the packets it receives."""

    def __init__(self, ipv8: IPv8) -> None:
        self.ipv8 = ipv8
        self.dht = ipv8.get_overlay(TxDHT)
        assert self.dht is not None
        self.log = PacketLog()
        ipv8.endpoint.add_listener(self.log)

    @property
    def mid(self) -> bytes:
        return self.dht.my_peer.mid

    @property
    def public_key(self) -> bytes:
        return self.dht.my_peer.public_key.key_to_bin()

    @property
    def address(self) -> UDPv4Address:
        return UDPv4Address(*self.ipv8.endpoint.get_address())

    def table_mids(self) -> set[bytes]:
        return {node.mid for table in self.dht.routing_tables.values() for node in table.nodes()}

    def table_node_at(self, address: UDPv4Address) -> Any:  # noqa: ANN401
        """The routing table's node at ``address`` (exactly one)."""
        [node] = [node for node in self.dht.routing_tables[UDPv4Address].nodes() if node.address == address]
        return node


class MixedDHT:
    """The network of a test: the tracker, the reference process and the txipv8 nodes."""

    def __init__(self, tracker: TrackerService, reference: RefPeer, tx: list[TxDHTNode]) -> None:
        self.tracker = tracker
        self.reference = reference
        self.tx = tx
        self.py: list[dict[str, Any]] = reference.ready["nodes"]

    @property
    def py_mids(self) -> set[bytes]:
        return {bytes.fromhex(node["mid"]) for node in self.py}

    @property
    def tx_mids(self) -> set[bytes]:
        return {node.mid for node in self.tx}

    def py_address(self, index: int) -> UDPv4Address:
        return UDPv4Address(*self.py[index]["address"])

    def py_mid(self, index: int) -> bytes:
        return bytes.fromhex(self.py[index]["mid"])

    def py_key(self, index: int) -> bytes:
        return bytes.fromhex(self.py[index]["public_key"])

    async def py_report(self) -> list[dict[str, Any]]:
        report = await self.reference.command("report")
        assert report["refusals"]["total"] == 0, f"pyipv8 tried to leave 127.0.0.1: {report['refusals']}"
        return report["nodes"]


class TestMixedDHT(InteropTestCase):
    timeout = 40

    async def start_reference(self, tracker: UDPv4Address) -> RefPeer:
        found = reference_interpreter()
        reference = RefPeer("pyipv8 DHT nodes")
        python = str(found.python)
        config = {"deadline": PEER_DEADLINE, "nodes": NODES, "trackers": [list(tracker)], "walker_interval": 0.1}
        reactor.spawnProcess(reference, python, [python, "-u", str(DRIVER), json.dumps(config)],
                             env=reference_env(), path=str(DRIVER.parent))
        self.addCleanup(self.check_exit, reference)
        self.addCleanup(reference.stop)
        await reference.wait_for(lambda p: p.ready is not None, 15.0, "the ready event")
        return reference

    async def start_tx_dht(self, tracker: UDPv4Address) -> TxDHTNode:
        ipv8 = IPv8(tx_configuration(tracker))
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        return TxDHTNode(ipv8)

    async def start_network(self) -> MixedDHT:
        """Start everything and wait until every node has every other node in its routing table."""
        tracker_service = TrackerService(0, "127.0.0.1")
        tracker_service.startService()
        self.addCleanup(tracker_service.stopService)
        tracker = UDPv4Address(*tracker_service.get_address())
        reference = await self.start_reference(tracker)
        tx = [await self.start_tx_dht(tracker) for _ in range(NODES)]
        network = MixedDHT(tracker_service, reference, tx)
        everyone = network.py_mids | network.tx_mids

        end = reactor.seconds() + 20
        while True:
            py_nodes = await network.py_report()
            py_tables = {bytes.fromhex(node["mid"]): {bytes.fromhex(entry["mid"]) for entry in node["routing_table"]}
                         for node in py_nodes}
            tx_tables = {node.mid: node.table_mids() for node in tx}
            missing = {mid.hex()[:8]: sorted(other.hex()[:8] for other in everyone - table - {mid})
                       for mid, table in {**py_tables, **tx_tables}.items() if everyone - table - {mid}}
            if not missing:
                break
            if reactor.seconds() > end:
                self.fail(f"routing tables still lack (node: missing nodes) {missing}{reference.stderr_tail()}")
            await deferLater(reactor, 0.1, lambda: None)
        # The tables are full: stop walking (PingChurn goes on), so that from now on the only punctures
        # and puncture-requests are those the DHT itself asks for.
        self.assertEqual(NODES, (await reference.command("stop_walking"))["removed"])
        for node in tx:
            node.ipv8.strategies[:] = [entry for entry in node.ipv8.strategies
                                       if not isinstance(entry[0], RandomWalk)]
            self.assertEqual(1, len(node.ipv8.strategies))
        return network

    async def punctures_at_py2(self, network: MixedDHT) -> tuple[int, int]:
        """How many punctures pyipv8 node 2 received from txipv8 node 0 and from pyipv8 node 0."""
        received = (await network.py_report())[2]["received"]
        return tuple(received.get(f"{address[0]}:{address[1]}", {}).get(str(PUNCTURE), 0)
                     for address in (network.tx[0].address, network.py_address(0)))

    def assert_no_dht_drops(self, network: MixedDHT) -> None:
        for node in network.tx:
            self.assertEqual({}, node.dht.statistics()["drops"], f"txipv8 node {node.mid.hex()[:8]} dropped")

    async def test_routing_tables_hold_both_implementations(self) -> None:
        network = await self.start_network()
        # start_network waited for the full mesh; here: who is in which table, by address and key.
        py_nodes = await network.py_report()
        tx_by_mid = {node.mid: node for node in network.tx}
        for py_node in py_nodes:
            self.assertEqual(2 * NODES - 1, len(py_node["routing_table"]))
            tx_entries = [entry for entry in py_node["routing_table"] if bytes.fromhex(entry["mid"]) in tx_by_mid]
            self.assertEqual(NODES, len(tx_entries))
            for entry in tx_entries:
                tx_node = tx_by_mid[bytes.fromhex(entry["mid"])]
                self.assertEqual(list(tx_node.address), entry["address"])
                self.assertEqual(tx_node.public_key.hex(), entry["public_key"])
        # pyipv8 pings every node it adds: every txipv8 node has answered those pings by now.
        await self.report_when(network.reference, lambda r: all(
            entry["answered"] for node in r["nodes"] for entry in node["routing_table"]
            if bytes.fromhex(entry["mid"]) in tx_by_mid))
        for tx_node in network.tx:
            py_entries = [node for node in tx_node.dht.routing_tables[UDPv4Address].nodes()
                          if node.mid in network.py_mids]
            self.assertEqual(NODES, len(py_entries))
            for node in py_entries:
                [py_node] = [py for py in network.py if bytes.fromhex(py["mid"]) == node.mid]
                self.assertEqual(py_node["address"], list(node.address))
                self.assertEqual(py_node["public_key"], node.public_key.key_to_bin().hex())
            self.assertEqual(2 * NODES - 1, len(tx_node.dht.routing_tables[UDPv4Address].nodes()))
        # And pyipv8 answers txipv8's pings.
        py_node = network.tx[0].table_node_at(network.py_address(0))
        self.assertIs(py_node, await network.tx[0].dht.ping(py_node))
        self.assertEqual(0, py_node.failed)
        self.assert_no_dht_drops(network)

    async def test_values_stored_by_pyipv8_are_found_by_txipv8(self) -> None:
        network = await self.start_network()
        key = KEY_BY_PYIPV8.hex()
        plain = await network.reference.command("store_value", node=0, key=key, data=PLAIN_BY_PYIPV8.hex(),
                                                sign=False, timeout=15)
        signed = await network.reference.command("store_value", node=1, key=key, data=SIGNED_BY_PYIPV8.hex(),
                                                 sign=True, timeout=15)
        # pyipv8 got tokens from every txipv8 node, and every txipv8 node accepted its store-requests.
        for stored in (plain, signed):
            self.assertLessEqual(network.tx_mids, {bytes.fromhex(node["mid"]) for node in stored["stored_on"]})
        expected = {(PLAIN_BY_PYIPV8, None), (SIGNED_BY_PYIPV8, network.py_key(1))}
        for node in network.tx:
            self.assertEqual(2, len(node.dht.storage.get(KEY_BY_PYIPV8)), f"txipv8 node {node.mid.hex()[:8]}")

        # The public API: a txipv8 lookup finds both values, the signed one with pyipv8's key as its signer.
        found = await network.tx[0].dht.find_values(KEY_BY_PYIPV8)
        self.assertEqual(expected, set(found))
        self.assertEqual(2, len(found))
        # Straight from the pyipv8 node that stored neither value (it got both by store-request): one
        # find-request, whose values txipv8 decodes and verifies itself.
        asker = network.tx[1].dht
        py2_node = network.tx[1].table_node_at(network.py_address(2))
        answer = await asker._find_request(py2_node, KEY_BY_PYIPV8, False)
        self.assertIsNotNone(answer, "pyipv8 node 2 did not answer the find-request")
        values, _ = answer
        self.assertEqual(expected, set(asker._decoded_values(values)))
        self.assert_no_dht_drops(network)

    async def test_values_stored_by_txipv8_are_found_by_pyipv8(self) -> None:
        network = await self.start_network()
        plain = await network.tx[0].dht.store_value(KEY_BY_TXIPV8, PLAIN_BY_TXIPV8)
        signed = await network.tx[1].dht.store_value(KEY_BY_TXIPV8, SIGNED_BY_TXIPV8, sign=True)
        # txipv8 got tokens from every pyipv8 node, and every pyipv8 node confirmed the store-requests.
        for stored in (plain, signed):
            self.assertLessEqual(network.py_mids, {node.mid for node in stored})
        expected = {(PLAIN_BY_TXIPV8, None), (SIGNED_BY_TXIPV8, network.tx[1].public_key)}

        # The public API: a pyipv8 lookup (which never reads its own storage) finds both values.
        found = await network.reference.command("find_values", node=2, key=KEY_BY_TXIPV8.hex(), timeout=15)
        self.assertEqual(expected, values_from_json(found["values"]))
        self.assertEqual(2, len(found["values"]))
        # Straight from the txipv8 node that stored neither value: its find-response, decoded by pyipv8.
        answer = await network.reference.command("find_on", node=2, key=KEY_BY_TXIPV8.hex(),
                                                 address=list(network.tx[2].address), timeout=10)
        self.assertEqual(expected, values_from_json(answer["values"]))
        report = await network.py_report()
        for py_node in report:
            self.assertEqual(2, py_node["storage"].get(KEY_BY_TXIPV8.hex()), f"pyipv8 node {py_node['index']}")
        self.assert_no_dht_drops(network)

    async def announce(self, network: MixedDHT) -> tuple[tuple[bytes, UDPv4Address], tuple[bytes, UDPv4Address]]:
        """
        ``store_peer()`` on pyipv8 node 0 and on txipv8 node 0: each must be stored by every node of the other
        implementation. Returns ``(mid, address)`` of both.
        """
        py0, tx0 = network.py_mid(0), network.tx[0]
        announced = await network.reference.command("store_peer", node=0, timeout=15)
        self.assertLessEqual(network.tx_mids, {bytes.fromhex(node["mid"]) for node in announced["confirmed"]})
        for node in network.tx:
            self.assertEqual([(py0, network.py_address(0))], [(stored.mid, stored.address)
                                                               for stored in node.dht.store[py0]])
        confirmed = await tx0.dht.store_peer()
        self.assertLessEqual(network.py_mids, {node.mid for node in confirmed})
        self.assertLessEqual(network.py_mids, {node.mid for node in tx0.dht.store_for_me[tx0.mid]})
        for py_node in await network.py_report():
            self.assertEqual([[tx0.mid.hex(), list(tx0.address)]],
                             [[stored["mid"], stored["address"]] for stored in py_node["store"][tx0.mid.hex()]])
        return (py0, network.py_address(0)), (tx0.mid, tx0.address)

    async def test_connect_peer_both_ways(self) -> None:
        network = await self.start_network()
        py0_at, tx0_at = await self.announce(network)
        py0, tx0 = py0_at[0], network.tx[0]
        tx1 = network.tx[1]

        # A node that stores the target itself answers from its store, in both implementations ...
        found = await tx1.dht.connect_peer(py0)
        self.assertEqual([py0_at], [(node.mid, node.address) for node in found])
        answer = await network.reference.command("connect_peer", node=1, mid=tx0.mid.hex(), timeout=15)
        self.assertTrue(answer["local"])
        self.assertEqual([[tx0.mid.hex(), list(tx0.address)]],
                         [[node["mid"], node["address"]] for node in answer["nodes"]])

        # ... so each asker forgets the target first: now it looks the target up and asks the nodes storing it.
        def answers_from_py() -> list[int]:
            return [tx1.log.ids_from(network.py_address(index), DHT_PREFIX)[CONNECT_PEER_RESPONSE]
                    for index in (1, 2)]

        def answers_from_tx(report: list[dict[str, Any]]) -> list[int]:
            received = report[1]["received"]
            return [received.get(f"{node.address[0]}:{node.address[1]}", {}).get(str(CONNECT_PEER_RESPONSE), 0)
                    for node in (network.tx[1], network.tx[2])]

        before = answers_from_py()
        del tx1.dht.store[py0]
        found = await tx1.dht.connect_peer(py0)
        self.assertEqual([py0_at], [(node.mid, node.address) for node in found])
        # Both pyipv8 nodes that store py0 answered (the packet log may see the last answer a moment after
        # the community handled it, hence the wait).
        await self.wait_until(lambda: answers_from_py() == [count + 1 for count in before], 5,
                              "one connect-peer-response from each pyipv8 node storing py0",
                              lambda: f"before {before}, now {answers_from_py()}")
        before = answers_from_tx(await network.py_report())
        answer = await network.reference.command("connect_peer", node=1, mid=tx0.mid.hex(), forget=True, timeout=15)
        self.assertFalse(answer["local"])
        self.assertEqual([[tx0.mid.hex(), list(tx0.address)]],
                         [[node["mid"], node["address"]] for node in answer["nodes"]])
        # Both txipv8 nodes that store tx0 (besides pyipv8 node 2) answered pyipv8's connect-peer-requests.
        await self.report_when(network.reference, lambda r: answers_from_tx(r["nodes"]) == [c + 1 for c in before])
        self.assert_no_dht_drops(network)

    async def test_connect_peer_requests_make_the_target_puncture(self) -> None:
        network = await self.start_network()
        py0_at, tx0_at = await self.announce(network)
        tx0, tx1, tx2 = network.tx

        # One connect-peer-request at a time, to one node of the other implementation, for a target of either
        # implementation: the asked node names the target, and its puncture-request to the target makes the
        # target puncture the asker. (Nobody walks any more, so only the DHT asks for punctures.)
        py1_node = tx1.table_node_at(network.py_address(1))
        for target_at in (py0_at, tx0_at):
            before = tx1.log.ids_from(target_at[1], DHT_PREFIX)[PUNCTURE]
            named = await tx1.dht._send_connect_peer_requests(target_at[0], [py1_node])  # pyipv8 node 1 only
            self.assertEqual([target_at], [(node.mid, node.address) for node in named])
            await self.wait_until(lambda target_at=target_at, before=before: tx1.log.ids_from(
                target_at[1], DHT_PREFIX)[PUNCTURE] > before, 5, "the target's puncture reaching txipv8 node 1")
        self.assertGreaterEqual(tx0.log.ids_from(network.py_address(1), DHT_PREFIX)[PUNCTURE_REQUEST], 1)
        py1_key = f"{network.py_address(1)[0]}:{network.py_address(1)[1]}"
        self.assertGreaterEqual((await network.py_report())[0]["received"][py1_key][str(PUNCTURE_REQUEST)], 1)

        punctures_before = await self.punctures_at_py2(network)
        for target_at in (tx0_at, py0_at):
            named = await network.reference.command("connect_via", node=2, mid=target_at[0].hex(),
                                                    address=list(tx2.address), timeout=10)  # txipv8 node 2 only
            self.assertEqual([[target_at[0].hex(), list(target_at[1])]],
                             [[node["mid"], node["address"]] for node in named["nodes"]])
        end = reactor.seconds() + 5
        while not all(now > then for now, then in zip(await self.punctures_at_py2(network), punctures_before,
                                                      strict=True)):
            self.assertLess(reactor.seconds(), end, "the targets' punctures did not reach pyipv8 node 2")
            await deferLater(reactor, 0.05, lambda: None)
        self.assertGreaterEqual(tx0.log.ids_from(tx2.address, DHT_PREFIX)[PUNCTURE_REQUEST], 1)
        report = await network.py_report()
        self.assertGreaterEqual(report[0]["received"][f"{tx2.address[0]}:{tx2.address[1]}"][str(PUNCTURE_REQUEST)],
                                1)
        self.assert_no_dht_drops(network)
