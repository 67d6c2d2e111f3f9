"""The /tunnel routes in front of real TunnelCommunity nodes with real circuits on the in-memory internet, and in
front of live HiddenTunnelCommunity nodes after a real e2e connection (swarms, swarm size, PEX, DHT, exits).

Expected JSON keys are those pyipv8 3.2.1's REST/tunnel_endpoint.py sends (read from its source; the settings
keys from a 3.2.1 ``TunnelSettings``); tests/interop/test_rest_compat.py compares the live answers of both
implementations. The communities run on a :class:`~twisted.internet.task.Clock` that the speed tests advance.
"""
from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock, deferLater

from ipv8.dht.payload import encode_value
from ipv8.dht.provider import DHTCommunityProvider, encode_intro_point
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.messaging.anonymization.hidden_services import HiddenTunnelCommunity
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_CLOSING,
    CIRCUIT_STATE_READY,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
    PEER_SOURCE_DHT,
    Circuit,
    IntroductionPoint,
)
from ipv8.peer import Peer
from ipv8.REST.rest_manager import RESTManager
from ipv8.REST.schema import validate
from ipv8.REST.speed_test import SpeedTest, SpeedTests
from ipv8.REST.tunnel_endpoint import settings_json
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8

from ..messaging.anonymization.test_hidden_services import (
    DOWNLOADER,
    INFO_HASH,
    SEEDER,
    HiddenTestBase,
)
from ..messaging.anonymization.test_tunnel_community import FakeUDPReactor
from .support import HTTPClient, HTTPResult, RESTTestCase

RELAY_FLAGS = {PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST}
EXIT_FLAGS = {PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST}

#: The keys of pyipv8 3.2.1's answers.
SETTINGS_KEYS = {"max_relay_early", "peer_flags", "anonymize", "circuit_timeout", "max_circuits",
                 "max_joined_circuits", "max_peers", "max_time", "max_time_inactive", "max_time_ip", "max_traffic",
                 "min_circuits", "next_hop_timeout", "remove_tunnel_delay", "swarm_connection_limit",
                 "swarm_lookup_interval", "unstable_timeout"}
CIRCUIT_KEYS = {"circuit_id", "goal_hops", "actual_hops", "verified_hops", "unverified_hop", "type", "state",
                "bytes_up", "bytes_down", "creation_time", "exit_flags"}
RELAY_KEYS = {"circuit_from", "circuit_to", "is_rendezvous", "direction", "bytes_up", "bytes_down", "creation_time"}
EXIT_KEYS = {"circuit_from", "enabled", "bytes_up", "bytes_down", "creation_time", "is_introduction", "is_rendezvous"}
SWARM_KEYS = {"info_hash", "num_seeders", "num_connections", "num_connections_incomplete", "num_ips_from_dht",
              "num_ips_from_pex", "seeding", "last_lookup", "bytes_up", "bytes_down"}
PEER_KEYS = {"ip", "port", "mid", "is_key_compatible", "flags"}


def speed_lines(result: HTTPResult) -> list[dict[str, float]]:
    """The reports of a streamed speed test."""
    assert result.header("Content-Type") == "text/event-stream", result.header("Content-Type")
    lines = result.body.decode().splitlines()
    assert all(line.startswith("speed: ") for line in lines), lines
    return [json.loads(line[len("speed: "):]) for line in lines]


class TunnelRestBase(TestBase[TunnelCommunity]):
    """Five tunnel nodes: 0 initiates, 1-2 relay, 3-4 relay and exit. Every node can serve the REST API."""

    NODES = 5
    EXITS = (3, 4)
    OVERLAY: type[TunnelCommunity] = TunnelCommunity

    async def setUp(self) -> None:
        super().setUp()
        self.clock = Clock()
        self.udp = FakeUDPReactor()
        self.clients: dict[int, HTTPClient] = {}
        self.managers: dict[int, RESTManager] = {}
        self.initialize(self.OVERLAY, self.NODES)
        for index in range(1, self.NODES):
            self.overlay(index).settings.peer_flags = EXIT_FLAGS if index in self.EXITS else RELAY_FLAGS
        await self.introduce_nodes()

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8("curve25519", self.OVERLAY,
                        TunnelSettings(clock=self.clock, exit_reactor=self.udp, remove_tunnel_delay=0),
                        internet=self.internet)

    async def client(self, index: int = 0) -> HTTPClient:
        """The REST API of node ``index`` (started on first use)."""
        if index not in self.clients:
            manager = self.managers[index] = RESTManager(self.node(index))
            await manager.start(0)
            self.addCleanup(manager.stop)
            self.clients[index] = HTTPClient(manager.url)
        return self.clients[index]

    async def call(self, path: str, index: int = 0, advance: float = 0.0) -> HTTPResult:
        """GET ``path`` from node ``index``; meanwhile messages are delivered and the clock moves ``advance`` s a step."""
        pending = ensureDeferred((await self.client(index)).get(path))
        while not pending.called:
            # A speed test keeps the network busy: deliver for a moment, then move the clock on.
            await self.deliver_messages(timeout=0.02 if advance else 0.5)
            if advance:
                self.clock.advance(advance)
            await deferLater(reactor, 0.002, lambda: None)
        return await pending

    async def json(self, path: str, index: int = 0, status: int = 200) -> Any:
        result = await self.call(path, index)
        self.assertEqual(result.status, status, result.body)
        return result.json

    async def assert_error(self, path: str, status: int, message: str, index: int = 0) -> None:
        result = await self.call(path, index)
        self.assertEqual(result.status, status, (path, result.body))
        body = result.json
        self.assertEqual(body["success"], False)
        self.assertEqual(body["error"], message)
        self.assertNotIn("Traceback", result.body.decode())

    async def build(self, hops: int, **kwargs: Any) -> Circuit:
        circuit = self.overlay(0).create_circuit(hops, **kwargs)
        self.assertIsNotNone(circuit)
        await self.deliver_messages()
        self.assertEqual(circuit.state, CIRCUIT_STATE_READY)
        return circuit

    def index_of_mid(self, mid_hex: str) -> int:
        return next(i for i in range(len(self.nodes)) if self.mid(i).hex() == mid_hex)


class TestTables(TunnelRestBase):
    """Settings, circuits, relays, exits and peers as each node sees them."""

    async def test_settings(self) -> None:
        self.overlay(0).settings.max_circuits = 3
        settings = (await self.json("/tunnel/settings"))["settings"]
        self.assertEqual(set(settings), SETTINGS_KEYS)
        self.assertEqual(settings["max_circuits"], 3)
        self.assertEqual(settings["peer_flags"], sorted(TunnelSettings().peer_flags))
        self.assertEqual(settings["max_relay_early"], 8)
        self.assertIs(settings["anonymize"], False)
        exit_settings = (await self.json("/tunnel/settings", 3))["settings"]
        self.assertEqual(exit_settings["peer_flags"], sorted(EXIT_FLAGS))

    async def test_circuits_relays_and_exits_of_a_three_hop_circuit(self) -> None:
        circuit = await self.build(3)
        circuits = (await self.json("/tunnel/circuits"))["circuits"]
        self.assertEqual(len(circuits), 1)
        entry = circuits[0]
        self.assertEqual(set(entry), CIRCUIT_KEYS)
        self.assertEqual((entry["circuit_id"], entry["goal_hops"], entry["actual_hops"]), (circuit.circuit_id, 3, 3))
        self.assertEqual(entry["verified_hops"], [hop.mid.hex() for hop in circuit.hops])
        self.assertEqual((entry["unverified_hop"], entry["type"], entry["state"]), ("", "DATA", "READY"))
        self.assertEqual(entry["exit_flags"], sorted(int(flag) for flag in circuit.exit_flags))
        self.assertIn(PEER_FLAG_EXIT_BT, entry["exit_flags"])
        self.assertEqual(entry["creation_time"], circuit.creation_time)
        path = [self.index_of_mid(mid) for mid in entry["verified_hops"]]

        # The first relay files the circuit under the initiator's id forward, and the other way back.
        relays = (await self.json("/tunnel/relays", path[0]))["relays"]
        self.assertEqual(len(relays), 2)
        self.assertTrue(all(set(relay) == RELAY_KEYS for relay in relays))
        by_direction = {relay["direction"]: relay for relay in relays}
        self.assertEqual(set(by_direction), {"forward", "backward"})
        self.assertEqual(by_direction["forward"]["circuit_from"], circuit.circuit_id)
        self.assertEqual(by_direction["backward"]["circuit_to"], circuit.circuit_id)
        self.assertEqual(by_direction["forward"]["circuit_to"], by_direction["backward"]["circuit_from"])
        self.assertFalse(any(relay["is_rendezvous"] for relay in relays))
        self.assertEqual((await self.json("/tunnel/exits", path[0]))["exits"], [])

        # The exit knows the circuit under the id the last relay uses, and has not opened its socket yet.
        exits = (await self.json("/tunnel/exits", path[-1]))["exits"]
        self.assertEqual(len(exits), 1)
        self.assertEqual(set(exits[0]), EXIT_KEYS)
        last_relay = {relay["direction"]: relay for relay in (await self.json("/tunnel/relays", path[1]))["relays"]}
        self.assertEqual(exits[0]["circuit_from"], last_relay["forward"]["circuit_to"])
        self.assertEqual((exits[0]["enabled"], exits[0]["is_introduction"], exits[0]["is_rendezvous"]),
                         (False, False, False))
        self.assertEqual((await self.json("/tunnel/relays", path[-1]))["relays"], [])

        # Data through the circuit opens the exit socket and is counted.
        self.assertTrue(self.overlay(0).tunnel_data(circuit, ("1.2.3.4", 6881), "data",
                                                    b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"))
        await self.deliver_messages()
        exits = (await self.json("/tunnel/exits", path[-1]))["exits"]
        self.assertTrue(exits[0]["enabled"])
        self.assertGreater(exits[0]["bytes_up"], 0)
        self.assertGreater((await self.json("/tunnel/circuits"))["circuits"][0]["bytes_up"], 0)

    async def test_closing_circuit_shows_why(self) -> None:
        circuit = await self.build(1)
        self.overlay(0).settings.remove_tunnel_delay = 5
        self.overlay(0).remove_circuit(circuit.circuit_id, "user request")
        entry = (await self.json("/tunnel/circuits"))["circuits"][0]
        self.assertEqual(entry["state"], f"{CIRCUIT_STATE_CLOSING} (user request)")
        self.clock.advance(5)
        self.assertEqual((await self.json("/tunnel/circuits"))["circuits"], [])

    async def test_extending_circuit_shows_its_unverified_hop(self) -> None:
        for index in self.EXITS:
            self.overlay(index).settings.max_joined_circuits = 0  # the exits refuse: the circuit cannot finish
        circuit = self.overlay(0).create_circuit(2)
        entry = (await self.json("/tunnel/circuits"))["circuits"][0]
        self.assertEqual(entry["state"], "EXTENDING")
        self.assertEqual(entry["verified_hops"], [hop.mid.hex() for hop in circuit.hops])
        self.assertEqual(entry["actual_hops"], len(circuit.hops))
        self.assertLess(entry["actual_hops"], 2)
        self.assertEqual(entry["unverified_hop"], circuit.unverified_hop.mid.hex())

    async def test_peers(self) -> None:
        peers = (await self.json("/tunnel/peers"))["peers"]
        self.assertEqual(len(peers), self.NODES - 1)
        for peer in peers:
            self.assertEqual(set(peer), PEER_KEYS)
            index = self.index_of_mid(peer["mid"])
            self.assertEqual((peer["ip"], peer["port"]), tuple(self.address(index)))
            self.assertTrue(peer["is_key_compatible"])
            self.assertEqual(sorted(peer["flags"]), sorted(EXIT_FLAGS if index in self.EXITS else RELAY_FLAGS))

    async def test_answers_match_the_openapi_document(self) -> None:
        circuit = await self.build(2)
        spec = await self.json("/docs/openapi.json")
        checked = 0
        for path, item in spec["paths"].items():
            if not path.startswith("/tunnel") or "test" in path:
                continue
            url = path.replace("{infohash}", INFO_HASH.hex())
            for index in [0] + [self.index_of_mid(hop.mid.hex()) for hop in circuit.hops]:
                result = await self.call(url, index)
                self.assertEqual(result.status, 200, (url, result.body))
                schema = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]
                validate(result.json, schema, f"GET {url}", spec["components"]["schemas"])
                checked += 1
        self.assertEqual(checked, 9 * 3)
        for path in ("/tunnel/circuits/test", "/tunnel/circuits/{circuit_id}/test"):
            self.assertIn("text/event-stream", spec["paths"][path]["get"]["responses"]["200"]["content"])

    async def test_hidden_service_routes_without_hidden_services(self) -> None:
        """A plain TunnelCommunity: pyipv8 3.2.1's answers for a missing HiddenTunnelCommunity."""
        self.assertEqual(await self.json("/tunnel/swarms"), {"swarms": []})
        self.assertEqual(await self.json(f"/tunnel/swarms/{INFO_HASH.hex()}/size"), {"swarms": []})
        self.assertEqual(await self.json("/tunnel/peers/pex"), [])
        self.assertEqual(await self.json("/tunnel/peers/dht"), [])  # no dht_provider


class TestSpeedTests(TunnelRestBase):
    """``/tunnel/circuits/test`` and ``/tunnel/circuits/{circuit_id}/test``."""

    async def setUp(self) -> None:
        await super().setUp()
        await self.client(0)
        self.manager = self.managers[0]

    def speed_tests(self) -> SpeedTests:
        return self.manager.root_endpoint.child_endpoint("tunnel").speed_tests

    async def test_existing_circuit(self) -> None:
        circuit = await self.build(2)
        result = await self.call(f"/tunnel/circuits/{circuit.circuit_id}/test?test_time_ms=1000&request_size=100"
                                 "&response_size=2000", advance=0.05)
        self.assertEqual(result.status, 200, result.body)
        reports = speed_lines(result)
        self.assertGreaterEqual(len(reports), 2)  # every 0.5 s and at the end
        self.assertTrue(all(set(report) == {"up", "down"} for report in reports))
        self.assertTrue(any(report["up"] > 0 for report in reports), reports)
        self.assertTrue(any(report["down"] > report["up"] for report in reports), reports)
        # The test left nothing running, and the circuit is still there.
        self.assertEqual(self.speed_tests().running, 0)
        self.assertEqual(circuit.state, CIRCUIT_STATE_READY)

    async def test_new_circuit(self) -> None:
        result = await self.call("/tunnel/circuits/test?goal_hops=2&test_time_ms=500", advance=0.05)
        self.assertEqual(result.status, 200, result.body)
        reports = speed_lines(result)
        self.assertTrue(any(report["down"] > 0 for report in reports), reports)
        # The circuit was built for the test only, and removed (with a destroy to its hops) afterwards.
        await self.deliver_messages()
        self.assertEqual(list(self.overlay(0).circuits.values()), [])
        self.assertTrue(all(not self.overlay(i).exit_sockets for i in range(1, self.NODES)))
        self.assertEqual(self.speed_tests().running, 0)

    async def test_new_circuit_without_candidates(self) -> None:
        for peer in list(self.overlay(0).candidates):
            self.overlay(0).candidates[peer] = [PEER_FLAG_RELAY]
        await self.assert_error("/tunnel/circuits/test", 500, "failed to create circuit")
        self.assertEqual(self.speed_tests().running, 0)

    async def test_bad_requests(self) -> None:
        circuit = await self.build(1)
        path = f"/tunnel/circuits/{circuit.circuit_id}/test"
        for bad in ("abc", "-1", "1" * 11, "%D9%A1", "1.5", "0x10"):
            await self.assert_error(f"/tunnel/circuits/{bad}/test", 400, "circuit_id must be an integer")
        await self.assert_error("/tunnel/circuits//test", 400, "circuit_id must be an integer")
        await self.assert_error("/tunnel/circuits/7/test", 404, "could not find requested circuit")
        for query in ("request_size=2001", "response_size=-1"):
            await self.assert_error(f"{path}?{query}", 400, "invalid request or response size specified")
        for query in ("test_time_ms=0", "test_time_ms=60001"):
            await self.assert_error(f"{path}?{query}", 400, "invalid test time specified")
        for query in ("goal_hops=0", "goal_hops=4"):
            await self.assert_error(f"/tunnel/circuits/test?{query}", 400, "invalid number of hops specified")
        for query in ("test_time_ms=soon", "request_size=1e3", "goal_hops=two"):
            result = await self.call(f"/tunnel/circuits/test?{query}")
            self.assertEqual(result.status, 400, result.body)
        # Nothing was started by any of these.
        self.assertEqual(list(self.overlay(0).circuits), [circuit.circuit_id])
        self.assertEqual(self.speed_tests().running, 0)

    async def test_circuit_that_cannot_be_tested(self) -> None:
        for index in self.EXITS:
            self.overlay(index).settings.max_joined_circuits = 0  # the exits refuse: the circuit cannot finish
        extending = self.overlay(0).create_circuit(2)
        await self.assert_error(f"/tunnel/circuits/{extending.circuit_id}/test", 400,
                                "the requested circuit is not ready to transfer data")
        self.overlay(0).remove_circuit(extending.circuit_id, "test", remove_now=True)
        for index in self.EXITS:
            self.overlay(index).settings.max_joined_circuits = 100
        # A data circuit whose exit does not answer speed tests.
        self.overlay(3).settings.peer_flags = {PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT}
        await self.introduce_nodes()
        circuit = await self.build(1, required_exit=next(p for p in self.overlay(0).candidates if p == self.peer(3)))
        await self.assert_error(f"/tunnel/circuits/{circuit.circuit_id}/test", 400,
                                "the requested circuit does not support speed testing")

    async def test_cap_and_client_that_hangs_up(self) -> None:
        circuit = await self.build(1)
        self.speed_tests().max_running = 1
        sends: list[int] = []
        send_test_request = self.overlay(0).send_test_request

        def counting_send(*args: Any) -> Deferred:
            sends.append(1)
            return send_test_request(*args)
        self.overlay(0).send_test_request = counting_send
        client = await self.client()
        first = client.agent.request(b"GET", f"{self.manager.url}/tunnel/circuits/{circuit.circuit_id}/test"
                                             "?test_time_ms=60000".encode())
        while self.speed_tests().running == 0:
            await deferLater(reactor, 0.005, lambda: None)
        response = await first
        self.assertEqual((response.code, response.headers.getRawHeaders("Content-Type")),
                         (200, ["text/event-stream"]))
        busy = await self.call(f"/tunnel/circuits/{circuit.circuit_id}/test")
        self.assertEqual(busy.status, 503, busy.body)
        self.assertEqual(busy.json["error_code"], "SpeedTestBusy")
        self.assertTrue(sends)
        # The client goes away: the test stops and frees its slot, and sends nothing more.
        response._transport.stopProducing()
        while self.speed_tests().running:
            await deferLater(reactor, 0.005, lambda: None)
        await self.deliver_messages()
        sent = len(sends)
        for _ in range(4):
            self.clock.advance(0.5)  # report times come and go: no more requests
            await self.deliver_messages()
        self.assertEqual(len(sends), sent)


def intro_point(source: int, clock: Clock) -> IntroductionPoint:
    peer = Peer(default_eccrypto.generate_key("curve25519").pub(), ("1.2.3.4", 5))
    seeder = default_eccrypto.generate_key("curve25519").pub().key_to_bin()
    return IntroductionPoint(peer, seeder, source, 1234, clock=clock)


class LiveHiddenRest(HiddenTestBase):
    """The routes of a live HiddenTunnelCommunity: six nodes of ``test_hidden_services`` (0 seeds, 1 downloads,
    2-5 relay and exit), each with PEX (``ipv8`` set), and the REST API of any of them."""

    async def start(self) -> None:
        await super().start()
        self.clients: dict[int, HTTPClient] = {}
        for index in range(self.NODES):
            self.overlay(index).ipv8 = self.node(index)

    async def json(self, path: str, index: int, status: int = 200) -> Any:
        """GET ``path`` from node ``index`` while the network runs (a swarm-size estimate needs it)."""
        if index not in self.clients:
            manager = RESTManager(self.node(index))
            await manager.start(0)
            self.addCleanup(manager.stop)
            self.clients[index] = HTTPClient(manager.url)
        pending = ensureDeferred(self.clients[index].get(path))
        while not pending.called:
            await self.settle(1)
            await deferLater(reactor, 0.002, lambda: None)
        result = await pending
        self.assertEqual(result.status, status, (path, result.body))
        self.assertNotIn(b"Traceback", result.body)
        return result.json

    async def connect(self) -> tuple:
        """Seed; the downloader finds the seeder through the DHT and makes an e2e connection to it."""
        await self.seed()
        found: list[tuple] = []
        downloader = self.overlay(DOWNLOADER)
        downloader.join_swarm(INFO_HASH, 1, found.append, seeding=False)
        downloader.do_circuits()
        await self.settle()
        downloader.do_peer_discovery()
        await self.settle(12)
        self.assertEqual(1, len(found))
        return found[0]


class TestLiveHiddenServices(LiveHiddenRest):
    """Swarms, swarm size, PEX and marked exits and relays, after a real e2e connection."""

    async def test_swarms(self) -> None:
        await self.start()
        await self.connect()
        (seeding,) = (await self.json("/tunnel/swarms", SEEDER))["swarms"]
        (downloading,) = (await self.json("/tunnel/swarms", DOWNLOADER))["swarms"]
        for swarm in (seeding, downloading):
            self.assertEqual(set(swarm), SWARM_KEYS)
            self.assertEqual(swarm["info_hash"], INFO_HASH.hex())
        self.assertEqual((seeding["seeding"], downloading["seeding"]), (True, False))
        swarm = self.overlay(DOWNLOADER).swarms[INFO_HASH]
        # One connection, to the one introduction point; named by the DHT, or by PEX when the exit that answered
        # the peers-request happens to be that introduction point.
        self.assertEqual((downloading["num_connections"], downloading["num_seeders"], downloading["last_lookup"]),
                         (1, 1, swarm.last_lookup))
        from_dht = sum(1 for ip in swarm.intro_points if ip.source == PEER_SOURCE_DHT)
        self.assertEqual((downloading["num_ips_from_dht"], downloading["num_ips_from_pex"]),
                         (from_dht, len(swarm.intro_points) - from_dht))
        self.assertEqual(len(swarm.intro_points), 1)
        self.assertGreater(downloading["last_lookup"], 0)
        self.assertEqual(await self.json("/tunnel/swarms", 2), {"swarms": []})

    async def test_swarm_size_asks_the_introduction_points(self) -> None:
        await self.start()
        await self.seed()
        self.overlay(DOWNLOADER).build_tunnels(1)
        await self.settle()
        (circuit,) = self.overlay(DOWNLOADER).find_circuits(hops=1)
        (intro,) = self.intro_point_nodes()
        self.assertEqual(await self.json(f"/tunnel/swarms/{INFO_HASH.hex()}/size?hops=1", DOWNLOADER),
                         {"swarm_size": 1})
        # The exit of the downloader's circuit looked in the DHT, unless it is the introduction point (PEX knows).
        self.assertEqual(self.dht.lookups, 0 if circuit.hop.public_key_bin == self.key_bin(intro) else 1)
        # An info hash nobody seeds: its introduction points are nowhere, so nobody counts.
        self.assertEqual(await self.json(f"/tunnel/swarms/{'ab' * 20}/size", DOWNLOADER), {"swarm_size": 0})

    async def test_pex_exits_and_relays(self) -> None:
        await self.start()
        await self.connect()
        (intro,) = self.intro_point_nodes()
        seeder_pk = self.overlay(SEEDER).swarms[INFO_HASH].seeder_sk.pub().key_to_bin()
        self.assertEqual(self.overlay(intro).pex[INFO_HASH].intro_points_for, [seeder_pk])
        pex = await self.json("/tunnel/peers/pex", intro)
        self.assertEqual(pex, [{"info_hash": INFO_HASH.hex(),
                                "peers": [ip.to_dict() for ip in self.overlay(intro).pex[INFO_HASH].get_intro_points()]}])
        self.assertEqual(await self.json("/tunnel/peers/pex", DOWNLOADER), [])

        exits = (await self.json("/tunnel/exits", intro))["exits"]
        for entry in exits:
            self.assertEqual(set(entry), EXIT_KEYS)
        (introduction,) = [e for e in exits if e["is_introduction"]]
        exit_socket, _ = self.overlay(intro).intro_point_for[seeder_pk]
        self.assertEqual(introduction["circuit_from"], exit_socket.circuit_id)
        self.assertFalse(introduction["is_rendezvous"])
        self.assertIsInstance(introduction["enabled"], bool)

        # The rendezvous point joined the two circuits: its relay routes say so.
        (rendezvous,) = [i for i in range(2, self.NODES)
                         if any(r.rendezvous_relay for r in self.overlay(i).relay_from_to.values())]
        relays = (await self.json("/tunnel/relays", rendezvous))["relays"]
        self.assertEqual(sum(1 for relay in relays if relay["is_rendezvous"]), 2)
        for relay in relays:
            self.assertEqual(set(relay), RELAY_KEYS)

    async def test_dht_peers_without_a_dht_community(self) -> None:
        """The provider of these nodes keeps no DHT store (pyipv8 reads ``dht_provider.dht_community``)."""
        await self.start()
        await self.seed()
        self.assertEqual(await self.json("/tunnel/peers/dht", SEEDER), [])

    async def test_bad_info_hash_and_hops(self) -> None:
        await self.start()
        for bad in ("zz" * 20, "ab" * 19, "ab" * 21, "%00" * 20):
            result = await self.json(f"/tunnel/swarms/{bad}/size", DOWNLOADER, status=400)
            self.assertIn("infohash", result["error"])
        await self.json("/tunnel/swarms//size", DOWNLOADER, status=400)
        for query in ("hops=0", "hops=4", "hops=x"):
            await self.json(f"/tunnel/swarms/{INFO_HASH.hex()}/size?{query}", DOWNLOADER, status=400)
        self.assertEqual(self.dht.lookups, 0)
        self.assertFalse(self.overlay(DOWNLOADER).request_cache._caches)


class TestLiveHiddenServicesOverDHT(LiveHiddenRest):
    """``/tunnel/peers/dht`` of live nodes whose provider is a real DHT on the in-memory internet."""

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        node = MockIPv8("curve25519", HiddenTunnelCommunity, self.settings(), create_dht=True, internet=self.internet)
        node.overlay.dht_provider = DHTCommunityProvider(node.dht, node.raw_endpoint.wan_address[1])
        return node

    async def test_announced_intro_point_in_the_dht_store(self) -> None:
        await self.start()
        for node in self.nodes:
            for other in self.nodes:
                if other is not node:
                    node.dht.walk_to(other.raw_endpoint.wan_address)
        await self.settle()
        await self.seed()
        (intro,) = self.intro_point_nodes()
        seeder_pk = self.overlay(SEEDER).swarms[INFO_HASH].seeder_sk.pub().key_to_bin()
        storing = [i for i in range(self.NODES) if self.node(i).dht.storage.get(INFO_HASH)]
        self.assertTrue(storing)
        for index in range(self.NODES):
            listed = {entry["info_hash"]: entry["peers"] for entry in await self.json("/tunnel/peers/dht", index)}
            if index not in storing:
                self.assertNotIn(INFO_HASH.hex(), listed)
                continue
            (point,) = listed[INFO_HASH.hex()]
            self.assertEqual((point["address"]["public_key"], point["seeder_pk"], point["source"]),
                             (self.key_bin(intro).hex(), seeder_pk.hex(), PEER_SOURCE_DHT))
            self.assertEqual((point["address"]["ip"], point["address"]["port"]), tuple(self.address(intro)))


class TestDHTPeers(TunnelRestBase):
    """``/tunnel/peers/dht`` reads the DHT store of the tunnel community's provider."""

    NODES = 1
    EXITS = ()

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8("curve25519", self.OVERLAY, TunnelSettings(clock=self.clock, exit_reactor=self.udp),
                        create_dht=True, internet=self.internet)

    async def test_intro_points_in_the_store(self) -> None:
        node = self.node(0)
        self.overlay(0).dht_provider = DHTCommunityProvider(node.dht, 0)
        point = intro_point(PEER_SOURCE_DHT, self.clock)
        storage = node.dht.storage
        storage.put(INFO_HASH, encode_value(encode_intro_point(point)))
        storage.put(b"\x01" * 20, encode_value(b"not an introduction point"))
        listed = {entry["info_hash"]: entry["peers"] for entry in await self.json("/tunnel/peers/dht")}
        self.assertEqual(listed, {INFO_HASH.hex(): [point.to_dict()], ("01" * 20): []})
        self.assertEqual(listed[INFO_HASH.hex()][0]["source"], PEER_SOURCE_DHT)


class TestWithoutTunnelCommunity(RESTTestCase):
    """A service without a TunnelCommunity answers as pyipv8 3.2.1 does then."""

    async def test_empty_answers(self) -> None:
        for path, expected in (("/tunnel/settings", {"settings": {}}), ("/tunnel/circuits", {"circuits": []}),
                               ("/tunnel/relays", {"relays": []}), ("/tunnel/exits", {"exits": []}),
                               ("/tunnel/swarms", {"swarms": []}), ("/tunnel/peers", {"peers": []}),
                               (f"/tunnel/swarms/{INFO_HASH.hex()}/size", {"swarms": []}),
                               ("/tunnel/peers/dht", []), ("/tunnel/peers/pex", [])):
            result = await self.client.get(path)
            self.assertEqual((result.status, result.json), (200, expected), path)

    async def test_speed_tests_need_a_tunnel_community(self) -> None:
        for path in ("/tunnel/circuits/test", "/tunnel/circuits/12/test"):
            result = await self.client.get(path)
            self.assertEqual((result.status, result.json["error"]), (404, "TunnelCommunity is not initialized"))
        result = await self.client.get("/tunnel/circuits/x/test")
        self.assertEqual((result.status, result.json["error"]), (400, "circuit_id must be an integer"))
        result = await self.client.get("/tunnel")
        self.assertEqual(result.status, 404)


class TestPieces(TestBase):
    """The settings dump and the speed-test runner on their own."""

    def test_settings_json(self) -> None:
        settings = TunnelSettings(max_time_inactive=2.5, become_exitnode=True)
        dumped = settings_json(settings)
        self.assertEqual(set(dumped), SETTINGS_KEYS)
        self.assertEqual(dumped["max_time_inactive"], 2.5)
        self.assertEqual(dumped["peer_flags"], sorted(settings.peer_flags))
        self.assertEqual(json.loads(json.dumps(dumped)), dumped)

    def test_speed_test_window_and_reports(self) -> None:
        clock = Clock()
        circuit = Circuit(1, 0, clock=clock)  # 0 hops: READY at once
        pending: list[Deferred] = []

        def send(circuit: Circuit, request_size: int, response_size: int) -> Deferred:
            pending.append(Deferred())
            return pending[-1]

        reports: list[tuple[float, float, bool]] = []
        test = SpeedTest(send, circuit, 1024, 2048, 1.0, lambda up, down, done: reports.append((up, down, done)),
                         clock)
        done = test.start()
        self.assertEqual(len(pending), 8)  # the initial window
        for deferred in pending[:8]:  # (answering sends more: pending grows meanwhile)
            deferred.callback((b"x" * 2048, 0.01))  # fast answers grow the window by one each
        self.assertEqual(test.window, 16)
        self.assertEqual(test.in_flight, 16)
        clock.advance(0.5)
        self.assertEqual(len(reports), 1)
        up, down, finished = reports[0]
        self.assertFalse(finished)
        self.assertAlmostEqual(up, 24 * 1024 / 0.5 / 1024 ** 2)
        self.assertAlmostEqual(down, 8 * 2048 / 0.5 / 1024 ** 2)
        pending[8].errback(RuntimeError("lost"))  # a loss halves the window
        self.assertEqual(test.window, 8)
        clock.advance(0.5)
        self.assertTrue(done.called)
        self.assertTrue(reports[-1][2])
        sent = len(pending)
        for deferred in pending[9:]:
            deferred.callback((b"", 0.01))  # answers after the end are ignored
        self.assertEqual(len(pending), sent)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_speed_test_stops_when_the_circuit_closes(self) -> None:
        clock = Clock()
        circuit = Circuit(1, 0, clock=clock)
        pending: list[Deferred] = []
        reports: list[bool] = []
        test = SpeedTest(lambda *args: pending.append(Deferred()) or pending[-1], circuit, 10, 10, 5.0,
                         lambda up, down, done: reports.append(done), clock)
        done = test.start()
        circuit.close("gone")
        pending[0].errback(RuntimeError("timeout"))
        self.assertTrue(done.called)
        self.assertEqual(reports, [True])
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_cancelled_speed_test_stops_quietly(self) -> None:
        clock = Clock()
        circuit = Circuit(1, 0, clock=clock)
        reports: list[bool] = []
        test = SpeedTest(lambda *args: Deferred(), circuit, 10, 10, 5.0, lambda *args: reports.append(args[2]), clock)
        done = test.start()
        done.addErrback(lambda failure: None)
        done.cancel()
        clock.advance(10)
        self.assertEqual(reports, [])
        self.assertEqual(clock.getDelayedCalls(), [])
