"""The /dht and /noblockdht routes in front of real DHT nodes on the in-memory internet.

Expected JSON keys are those pyipv8 3.2.1's REST/dht_endpoint.py and noblock_dht_endpoint.py send (read from its
source); tests/interop/test_rest_compat.py compares the live answers of both implementations.
"""
from __future__ import annotations

import logging
import re
from base64 import b64encode
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import deferLater
from twisted.trial import unittest

from ipv8.dht import DHTError
from ipv8.dht.community import DHTCommunity
from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.payload import decode_value, encode_signed_value
from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.REST.dht_endpoint import DHTOperations, ServiceUnavailable
from ipv8.REST.rest_manager import RESTManager
from ipv8.REST.schema import validate
from ipv8.test.base import TestBase

from .support import HTTPClient, HTTPResult, RESTTestCase

KEY = b"\x42" * 20
KEY_HEX = KEY.hex()
UNKNOWN_MID = "07" * 20

#: The keys of pyipv8 3.2.1's answers.
STATISTICS_KEYS = {"peer_id", "num_tokens", "endpoints", "num_peers_in_store", "num_store_for_me"}
ENDPOINT_KEYS = {"endpoint", "node_id", "routing_table_size", "routing_table_buckets", "num_keys_in_store"}
STORED_VALUE_KEYS = {"endpoint", "public_key", "key", "value"}
DEBUG_KEYS = {"requests", "responses", "responses_with_nodes", "responses_with_values", "time"}
BUCKET_KEYS = {"prefix", "last_changed", "endpoint", "peers"}
BUCKET_PEER_KEYS = {"ip", "port", "mid", "id", "failed", "last_contact", "distance"}


def b64(data: bytes) -> str:
    return b64encode(data).decode()


class DHTRestBase(TestBase):
    """DHT nodes on the in-memory internet; node 0 serves the REST API."""

    NODES = 4
    OVERLAY: type[DHTCommunity] = DHTDiscoveryCommunity

    async def setUp(self) -> None:
        super().setUp()
        self.initialize(self.OVERLAY, self.NODES)
        for i in range(self.NODES):
            self.overlay(i).request_timeout = 0.2  # the failure cases wait for silent nodes
        self.manager = RESTManager(self.node(0))
        await self.manager.start(0)
        self.addCleanup(self.manager.stop)
        self.client = HTTPClient(self.manager.url)
        self.operations: DHTOperations = self.manager.root_endpoint.child_endpoint("dht").dht_operations

    async def meet(self) -> None:
        """Every node walks to every other: their pings fill the routing tables."""
        await self.introduce_nodes()
        await self.deliver_messages()

    def forget_our_requests(self) -> None:
        """
        Make the other nodes forget node 0's recent requests.

        A DHT node ignores a node that sent it 10 requests within 5 seconds (pyipv8's flood limit, which the
        real-time reactor of these tests cannot wait out); a test that sends many requests in a row uses this.
        """
        for i in range(1, self.NODES):
            for table in self.overlay(i).routing_tables.values():
                node = table.get(next((node.id for node in table.nodes() if node.mid == self.mid(0)), b"\0" * 20))
                if node is not None:
                    node.last_queries.clear()

    async def call(self, method: str, path: str, body: Any = None, raw_body: bytes | None = None) -> HTTPResult:
        """One request to node 0, delivering DHT messages while it runs (the lookups need them)."""
        pending = ensureDeferred(self.client.request(method, path, body, raw_body=raw_body,
                                                     headers={"Content-Type": "application/json"}
                                                     if raw_body is not None else None))
        while not pending.called:
            await self.deliver_messages(timeout=0.5)
            await deferLater(reactor, 0.002, lambda: None)
        return await pending

    async def json(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:  # noqa: ANN401
        result = await self.call(method, path, body)
        self.assertEqual(result.status, status, result.body)
        return result.json

    async def assert_bad_request(self, method: str, path: str, body: Any = None, raw_body: bytes | None = None,
                                 message: str = "") -> dict[str, Any]:
        result = await self.call(method, path, body, raw_body)
        self.assertEqual(result.status, 400, (method, path, body, result.body))
        payload = result.json
        self.assertEqual(payload["success"], False)
        self.assertIsInstance(payload["error"], str)
        self.assertIn(message, payload["error"])
        self.assertNotIn("Traceback", payload["error"])
        return payload


class TestDiscoveryRoutes(DHTRestBase):

    async def test_statistics(self) -> None:
        await self.meet()
        announced = self.overlay(1).store_peer()
        await self.deliver_messages()
        self.assertTrue(await announced)
        stored = self.overlay(2).store_value(KEY, b"plain")
        await self.deliver_messages()
        await stored
        statistics = (await self.json("GET", "/dht/statistics"))["statistics"]
        self.assertEqual(set(statistics), STATISTICS_KEYS)
        self.assertEqual(statistics["peer_id"], self.mid(0).hex())
        self.assertEqual(statistics["num_tokens"], len(self.overlay(0).tokens))
        self.assertEqual(statistics["num_peers_in_store"], {self.mid(1).hex(): 1})
        self.assertEqual(statistics["num_store_for_me"], {})
        by_family = {entry["endpoint"]: entry for entry in statistics["endpoints"]}
        self.assertEqual(set(by_family), {"UDPIPv4", "UDPIPv6"})
        for entry in statistics["endpoints"]:
            self.assertEqual(set(entry), ENDPOINT_KEYS)
        tables = self.overlay(0).routing_tables
        self.assertEqual(by_family["UDPIPv4"]["node_id"], tables[UDPv4Address].my_node_id.hex())
        self.assertEqual(by_family["UDPIPv6"]["node_id"], tables[UDPv6Address].my_node_id.hex())
        self.assertEqual((by_family["UDPIPv4"]["routing_table_size"], by_family["UDPIPv6"]["routing_table_size"]),
                         (self.NODES - 1, 0))
        self.assertEqual(by_family["UDPIPv4"]["routing_table_buckets"], 1)
        # One store for both families: its keys are counted for the family of our own address.
        self.assertEqual((by_family["UDPIPv4"]["num_keys_in_store"], by_family["UDPIPv6"]["num_keys_in_store"]),
                         (1, 0))

    async def test_statistics_count_the_nodes_that_store_us(self) -> None:
        await self.meet()
        announced = self.overlay(0).store_peer()
        await self.deliver_messages()
        await announced
        statistics = (await self.json("GET", "/dht/statistics"))["statistics"]
        self.assertEqual(statistics["num_store_for_me"], {self.mid(0).hex(): self.NODES - 1})

    async def test_stored_values(self) -> None:
        await self.meet()
        self.assertEqual(await self.json("GET", "/dht/values"), {})
        # Node 1 stores a signed value, node 2 a plain one and a signed one, under the same key.
        for i, data, sign in ((1, b"signed by one", True), (2, b"plain", False), (2, b"signed by two", True)):
            stored = self.overlay(i).store_value(KEY, data, sign=sign)
            await self.deliver_messages()
            self.assertIn(self.mid(0), [node.mid for node in await stored])
        values = await self.json("GET", "/dht/values")
        self.assertEqual(list(values), [KEY_HEX])
        for entry in values[KEY_HEX]:
            self.assertEqual(set(entry), STORED_VALUE_KEYS)
        # Signed values first (one per signer), then plain ones, as pyipv8 3.2.1 orders them.
        self.assertEqual(sorted(values[KEY_HEX][:2], key=lambda entry: entry["value"]), [
            {"endpoint": "UDPIPv4", "public_key": b64(self.key_bin(1)), "key": KEY_HEX,
             "value": b"signed by one".hex()},
            {"endpoint": "UDPIPv4", "public_key": b64(self.key_bin(2)), "key": KEY_HEX,
             "value": b"signed by two".hex()}])
        self.assertEqual(values[KEY_HEX][2:], [{"endpoint": "UDPIPv4", "public_key": None, "key": KEY_HEX,
                                                "value": b"plain".hex()}])

    async def test_newest_signed_version_is_shown(self) -> None:
        storage = self.overlay(0).storage
        signer = self.private_key(1)
        self.assertTrue(storage.put(KEY, encode_signed_value(b"old", signer, 10)).accepted)
        self.assertTrue(storage.put(KEY, encode_signed_value(b"new", signer, 11)).accepted)
        values = await self.json("GET", "/dht/values")
        self.assertEqual([entry["value"] for entry in values[KEY_HEX]], [b"new".hex()])

    async def test_put_stores_a_value_signed_by_us(self) -> None:
        await self.meet()
        self.assertEqual(await self.json("PUT", f"/dht/values/{KEY_HEX}", {"value": b"hello".hex()}),
                         {"success": True})
        for i in range(1, self.NODES):
            (stored,) = self.overlay(i).storage.get(KEY)
            decoded = decode_value(stored)
            self.assertEqual((decoded.data, decoded.public_key), (b"hello", self.key_bin(0)))

    async def test_lookup_finds_values_with_their_signer(self) -> None:
        await self.meet()
        stored = self.overlay(1).store_value(KEY, b"found me", sign=True)
        await self.deliver_messages()
        holders = {node.mid for node in await stored}
        self.overlay(0).storage.remove(KEY)  # what node 0 holds itself would be found without asking
        answer = await self.json("GET", f"/dht/values/{KEY_HEX}")
        self.assertEqual(set(answer), {"values", "debug"})
        self.assertEqual(answer["values"], [{"public_key": b64(self.key_bin(1)), "key": KEY_HEX,
                                             "value": b"found me".hex()}])
        debug = answer["debug"]
        self.assertEqual(set(debug), DEBUG_KEYS)
        # The three other nodes are asked at once; the walk ends with the first answer that has the value.
        self.assertEqual(debug["requests"], self.NODES - 1)
        self.assertTrue(1 <= debug["responses_with_values"] <= len(holders - {self.mid(0)}), debug)
        self.assertEqual(debug["responses_with_values"] + debug["responses_with_nodes"], debug["responses"])
        self.assertLessEqual(debug["responses"], debug["requests"])
        self.assertIsInstance(debug["time"], float)
        self.assertGreaterEqual(debug["time"], 0)

    async def test_lookup_of_a_key_nobody_has(self) -> None:
        await self.meet()
        answer = await self.json("GET", f"/dht/values/{'ab' * 20}")
        self.assertEqual(answer["values"], [])
        self.assertEqual(answer["debug"]["responses_with_values"], 0)
        self.assertGreater(answer["debug"]["responses"], 0)

    async def test_dht_failures_answer_like_pyipv8(self) -> None:
        # No node in the routing table: the lookup, the store and the connect fail with a DHTError.
        for method, path, body in (("GET", f"/dht/values/{KEY_HEX}", None),
                                   ("PUT", f"/dht/values/{KEY_HEX}", {"value": "00"}),
                                   ("GET", f"/dht/peers/{UNKNOWN_MID}", None)):
            result = await self.call(method, path, body)
            self.assertEqual(result.status, 500, (method, path))
            self.assertEqual(set(result.json), {"success", "error"})
            self.assertEqual(result.json["success"], False)
            self.assertEqual(result.json["error"]["code"], "DHTError")
            self.assertTrue(result.json["error"]["message"])
        self.assertEqual(self.operations.running, 0)

    async def test_connect_to_a_peer(self) -> None:
        await self.meet()
        announced = self.overlay(2).store_peer()
        await self.deliver_messages()
        await announced
        # Node 0 stores node 2 too (every node does, in so small a network): make it ask the others.
        self.overlay(0).store.clear()
        answer = await self.json("GET", f"/dht/peers/{self.mid(2).hex()}")
        address = self.address(2)
        self.assertEqual(answer, {"peers": [{"public_key": b64(self.key_bin(2)), "address": [address[0], address[1]]}]})

    async def test_connect_to_an_unknown_peer(self) -> None:
        await self.meet()
        result = await self.call("GET", f"/dht/peers/{UNKNOWN_MID}")
        self.assertEqual(result.status, 500)
        self.assertEqual(result.json["error"]["code"], "DHTError")
        self.assertIn(UNKNOWN_MID, result.json["error"]["message"])

    async def test_buckets(self) -> None:
        self.assertEqual(await self.json("GET", "/dht/buckets"),
                         {"buckets": [{"prefix": "", "last_changed": 0, "endpoint": "UDPIPv4", "peers": []},
                                      {"prefix": "", "last_changed": 0, "endpoint": "UDPIPv6", "peers": []}]})
        await self.meet()
        buckets = (await self.json("GET", "/dht/buckets"))["buckets"]
        self.assertEqual([(bucket["prefix"], bucket["endpoint"]) for bucket in buckets],
                         [("", "UDPIPv4"), ("", "UDPIPv6")])
        for bucket in buckets:
            self.assertEqual(set(bucket), BUCKET_KEYS)
        table = self.overlay(0).routing_tables[UDPv4Address]
        self.assertEqual(buckets[0]["last_changed"], table.trie[""].last_changed)
        self.assertGreater(buckets[0]["last_changed"], 0)
        nodes = {node.mid.hex(): node for node in table.nodes()}
        self.assertEqual({peer["mid"] for peer in buckets[0]["peers"]}, {self.mid(i).hex() for i in range(1, 4)})
        for peer in buckets[0]["peers"]:
            self.assertEqual(set(peer), BUCKET_PEER_KEYS)
            node = nodes[peer["mid"]]
            self.assertEqual((peer["ip"], peer["port"]), tuple(node.address))
            self.assertEqual(peer["id"], node.id.hex())
            self.assertEqual(peer["distance"], int.from_bytes(node.id, "big") ^ int.from_bytes(table.my_node_id, "big"))
            self.assertEqual((peer["failed"], peer["last_contact"]), (node.failed, node.last_contact))

    async def test_refresh_the_root_bucket(self) -> None:
        await self.meet()
        bucket = self.overlay(0).routing_tables[UDPv4Address].trie[""]
        bucket.last_changed = 0
        self.assertEqual(await self.json("GET", "/dht/buckets//refresh"), {"success": True})
        self.assertGreater(bucket.last_changed, 0)

    async def test_refresh_without_nodes_reports_the_failure(self) -> None:
        answer = await self.json("GET", "/dht/buckets//refresh")
        self.assertEqual(answer["success"], False)
        self.assertIn("no nodes", answer["error"])

    async def test_refresh_of_a_bucket_that_does_not_exist(self) -> None:
        payload = await self.assert_bad_request("GET", "/dht/buckets/0/refresh", message="no such bucket")
        self.assertEqual(payload["error_code"], "NoSuchBucket")
        await self.assert_bad_request("GET", "/dht/buckets/01x/refresh", message="0 and 1")
        await self.assert_bad_request("GET", f"/dht/buckets/{'0' * 161}/refresh", message="0 and 1")

    async def test_refresh_of_a_split_bucket(self) -> None:
        await self.meet()
        table = self.overlay(0).routing_tables[UDPv4Address]
        first = "0" if table.my_node_id[0] < 0x80 else "1"
        root = table.trie[""]
        root.max_size = len(root.nodes)  # "full": it may split
        halves = root.split()
        self.assertIsNotNone(halves)
        del table.trie[""]
        for half in halves:
            table.trie[half.prefix_id] = half
        self.assertEqual(await self.json("GET", f"/dht/buckets/{first}/refresh"), {"success": True})
        await self.assert_bad_request("GET", f"/dht/buckets/{first}0/refresh", message="no such bucket")
        # The IPv6 table still has its root bucket.
        self.assertEqual([bucket["prefix"] for bucket in (await self.json("GET", "/dht/buckets"))["buckets"]],
                         ["0", "1", ""])

    async def test_noblock_connect_runs_in_the_background(self) -> None:
        await self.meet()
        announced = self.overlay(2).store_peer()
        await self.deliver_messages()
        await announced
        self.overlay(0).store.clear()
        with self.assertLogs("ipv8.REST.dht_endpoint", logging.INFO) as logs:
            result = await self.client.get(f"/noblockdht/{self.mid(2).hex()}")
            self.assertEqual((result.status, result.json), (200, {"success": True}))
            self.assertEqual(list(self.operations.background), [self.mid(2)])
            await self.deliver_messages()
            await self.background_done()
        self.assertTrue(any("connected to " + self.mid(2).hex() in line for line in logs.output), logs.output)

    async def background_done(self) -> None:
        while self.operations.background:
            await self.deliver_messages(timeout=0.5)
            await deferLater(reactor, 0.002, lambda: None)

    async def test_noblock_failures_are_logged(self) -> None:
        await self.meet()
        with self.assertLogs("ipv8.REST.dht_endpoint", logging.INFO) as logs:
            self.assertEqual(await self.json("GET", f"/noblockdht/{UNKNOWN_MID}"), {"success": True})
            await self.background_done()
        self.assertTrue(any("could not connect to " + UNKNOWN_MID in line for line in logs.output), logs.output)
        self.assertFalse(any("Traceback" in line for line in logs.output))

    async def test_noblock_connects_are_capped_and_not_repeated(self) -> None:
        # Connects that stay pending until the test fires them (a real one would end before we could look).
        pending: dict[bytes, Deferred] = {}
        self.overlay(0).connect_peer = lambda mid, peer=None: pending.setdefault(mid, Deferred())
        self.operations.max_background = 2
        for mid in ("01" * 20, "01" * 20, "02" * 20):
            self.assertEqual(await self.json("GET", f"/noblockdht/{mid}"), {"success": True})
        self.assertEqual(sorted(pending), [b"\x01" * 20, b"\x02" * 20])  # the second request started nothing
        self.assertEqual(len(self.operations.background), 2)
        result = await self.call("GET", f"/noblockdht/{'03' * 20}")
        self.assertEqual(result.status, 503)
        self.assertEqual(result.json["error_code"], "DHTBusy")
        with self.assertLogs("ipv8.REST.dht_endpoint", logging.INFO):
            pending[b"\x01" * 20].errback(DHTError("nobody knows it"))
        self.assertEqual(await self.json("GET", f"/noblockdht/{'03' * 20}"), {"success": True})
        self.assertEqual(len(self.operations.background), 2)
        for mid in (b"\x02" * 20, b"\x03" * 20):
            pending[mid].callback([])
        self.assertEqual(self.operations.background, {})

    async def test_operations_are_capped(self) -> None:
        await self.meet()
        self.operations.max_operations = 0
        for method, path, body in (("GET", f"/dht/values/{KEY_HEX}", None),
                                   ("PUT", f"/dht/values/{KEY_HEX}", {"value": "00"}),
                                   ("GET", f"/dht/peers/{UNKNOWN_MID}", None),
                                   ("GET", "/dht/buckets//refresh", None)):
            result = await self.call(method, path, body)
            self.assertEqual((result.status, result.json["error_code"]), (503, "DHTBusy"), path)

    async def test_hostile_input(self) -> None:
        await self.meet()
        for path in ("/dht/values/{}", "/dht/peers/{}", "/noblockdht/{}"):
            for bad in ("zz" * 20, "ab" * 19, "ab" * 21, "a" * 39, "%C3%A9" * 20, "0x" + "ab" * 19, "%00" * 40):
                payload = await self.assert_bad_request("GET", path.format(bad), message="40 hexadecimal digits")
                self.assertEqual(payload["error_code"], "BadDHTKey")
        await self.assert_bad_request("PUT", f"/dht/values/{'zz' * 20}", {"value": "00"}, message="hexadecimal")
        for value, message in (("abc", "hexadecimal"), ("zz", "hexadecimal"), ("0g", "hexadecimal"),
                               ("ab" * 100, "too large"), ("ab" * 171, "at most 340")):
            await self.assert_bad_request("PUT", f"/dht/values/{KEY_HEX}", {"value": value}, message=message)
        for body in ({}, {"value": 12}, {"value": None}, [], "00", {"values": "00"}):
            await self.assert_bad_request("PUT", f"/dht/values/{KEY_HEX}", body)
        for raw in (b"{not json", b'{"value": NaN}', b"\xff\xfe", b"[" * 100 + b"]" * 100):
            await self.assert_bad_request("PUT", f"/dht/values/{KEY_HEX}", raw_body=raw)
        # The largest value that fits is stored; one byte more is refused before anything is sent.
        room = 170 - len(encode_signed_value(b"", self.private_key(0), 0))
        self.assertEqual(await self.json("PUT", f"/dht/values/{KEY_HEX}", {"value": "ab" * room}), {"success": True})
        await self.assert_bad_request("PUT", f"/dht/values/{KEY_HEX}", {"value": "ab" * (room + 1)},
                                      message="too large")
        # The grouping resources answer 404, as in pyipv8 3.2.1 (where they have no handler).
        for path in ("/dht", "/dht/peers", "/noblockdht", "/dht/buckets/0"):
            self.assertEqual((await self.call("GET", path)).status, 404, path)
        self.assertEqual(self.operations.running, 0)

    async def test_an_empty_value_is_stored(self) -> None:
        await self.meet()
        self.assertEqual(await self.json("PUT", f"/dht/values/{KEY_HEX}", {"value": ""}), {"success": True})
        self.assertEqual(decode_value(self.overlay(1).storage.get(KEY)[0]).data, b"")

    async def test_the_document_describes_every_route(self) -> None:
        """Each DHT operation answers one of its documented statuses with a body matching the schema."""
        await self.meet()
        announced = self.overlay(1).store_peer()
        await self.deliver_messages()
        await announced
        self.overlay(0).store.clear()
        spec = (await self.client.get("/docs/openapi.json")).json
        requests = {("GET", "/dht/statistics"): "/dht/statistics",
                    ("GET", "/dht/values"): "/dht/values",
                    ("GET", "/dht/values/{key}"): f"/dht/values/{KEY_HEX}",
                    ("PUT", "/dht/values/{key}"): f"/dht/values/{KEY_HEX}",
                    ("GET", "/dht/peers/{mid}"): f"/dht/peers/{self.mid(1).hex()}",
                    ("GET", "/dht/buckets"): "/dht/buckets",
                    ("GET", "/dht/buckets/{prefix}/refresh"): "/dht/buckets//refresh",
                    ("GET", "/noblockdht/{mid}"): f"/noblockdht/{self.mid(1).hex()}"}
        documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item
                      if re.match(r"/(dht|noblockdht)(/|$)", path)}
        self.assertEqual(documented, set(requests))
        for (method, path), url in sorted(requests.items()):
            operation = spec["paths"][path][method.lower()]
            self.assertIn("DHT", operation["tags"])
            for body in ([None] if method == "GET" else [None, {"value": "zz"}, {"value": "0a0b"}]):
                self.forget_our_requests()
                result = await self.call(method, url, body)
                declared = operation["responses"]
                self.assertIn(str(result.status), declared, (method, url, body, result.body))
                validate(result.json, declared[str(result.status)]["content"]["application/json"]["schema"],
                         f"{method} {url}", spec["components"]["schemas"])
            self.assertEqual(result.status, 200, (method, url))
        self.assertEqual(spec["paths"]["/dht/values/{key}"]["put"]["requestBody"]["content"]["application/json"]
                         ["schema"]["required"], ["value"])
        await self.background_done()


class TestPlainDHTRoutes(DHTRestBase):
    """A DHTCommunity without peer discovery: the value routes work, the peer routes do not exist for it."""

    NODES = 3
    OVERLAY = DHTCommunity

    async def test_values_work_and_peer_routes_need_discovery(self) -> None:
        await self.meet()
        self.assertEqual(await self.json("PUT", f"/dht/values/{KEY_HEX}", {"value": "0102"}), {"success": True})
        answer = await self.json("GET", f"/dht/values/{KEY_HEX}")
        self.assertEqual(answer["values"], [{"public_key": b64(self.key_bin(0)), "key": KEY_HEX, "value": "0102"}])
        statistics = (await self.json("GET", "/dht/statistics"))["statistics"]
        self.assertEqual(set(statistics), STATISTICS_KEYS - {"num_peers_in_store", "num_store_for_me"})
        for path in (f"/dht/peers/{UNKNOWN_MID}", f"/noblockdht/{UNKNOWN_MID}"):
            result = await self.call("GET", path)
            self.assertEqual((result.status, result.json["error"]), (404, "DHT community not found"), path)


class TestWithoutDHT(RESTTestCase):
    """No DHT overlay at all: the answers pyipv8 3.2.1 gives in that case."""

    async def test_every_route_says_so(self) -> None:
        for method, path in (("GET", "/dht/statistics"), ("GET", "/dht/values"), ("GET", f"/dht/values/{KEY_HEX}"),
                             ("PUT", f"/dht/values/{KEY_HEX}"), ("GET", f"/dht/peers/{UNKNOWN_MID}"),
                             ("GET", f"/noblockdht/{UNKNOWN_MID}")):
            result = await self.client.request(method, path, {"value": "00"} if method == "PUT" else None)
            self.assertEqual(result.status, 404, path)
            self.assertEqual((result.json["success"], result.json["error"]), (False, "DHT community not found"))
        self.assertEqual((await self.client.get("/dht/buckets")).json, {"buckets": []})
        result = await self.client.get("/dht/buckets//refresh")
        self.assertEqual((result.status, result.json["error"]), (400, "DHT community is not loaded"))

    async def test_a_dht_loaded_later_is_found(self) -> None:
        me = self.session.keys["me"]
        dht = DHTDiscoveryCommunity(DHTDiscoveryCommunity.settings_class(
            my_peer=me, endpoint=self.session.endpoint, network=self.session.network))
        self.session.overlays.append(dht)
        self.addCleanup(dht.unload)
        statistics = (await self.client.get("/dht/statistics")).json["statistics"]
        self.assertEqual(statistics["peer_id"], me.mid.hex())


class TestOperationCap(unittest.SynchronousTestCase):
    """DHTOperations on its own: the cap, and clients that leave."""

    def test_cap_and_release(self) -> None:
        operations = DHTOperations(max_operations=1)
        first: Deferred = Deferred()
        outcome = operations.run(lambda: first)
        with self.assertRaises(ServiceUnavailable):
            operations.run(Deferred)
        first.callback("done")
        self.assertEqual(self.successResultOf(outcome), "done")
        self.assertEqual(operations.running, 0)

    def test_a_client_leaving_does_not_cancel_the_operation(self) -> None:
        operations = DHTOperations(max_operations=1)
        lookup: Deferred = Deferred()
        outcome = operations.run(lambda: lookup)
        outcome.cancel()
        self.failureResultOf(outcome)
        self.assertFalse(lookup.called)
        self.assertEqual(operations.running, 1)  # still running: it still counts
        lookup.errback(DHTError("timed out"))  # nobody waits for it: dropped, not an unhandled error
        self.assertEqual(operations.running, 0)
        # Anything but a DHTError is a bug, and logged even then.
        broken: Deferred = Deferred()
        outcome = operations.run(lambda: broken)
        outcome.cancel()
        self.failureResultOf(outcome)
        with self.assertLogs("ipv8.REST.dht_endpoint", logging.ERROR) as logs:
            broken.errback(ZeroDivisionError("bug"))
        self.assertIn("ZeroDivisionError", logs.output[0])

    def test_failures_reach_the_caller(self) -> None:
        operations = DHTOperations()

        def fails_at_once() -> Deferred:
            raise DHTError("nope")

        self.failureResultOf(operations.run(fails_at_once), DHTError)
        self.assertEqual(operations.running, 0)

    def test_background_connect_failing_synchronously_is_logged(self) -> None:
        class Broken:
            def connect_peer(self, mid: bytes) -> Deferred:
                raise RuntimeError("broken overlay")

        operations = DHTOperations()
        with self.assertLogs("ipv8.REST.dht_endpoint", logging.ERROR) as logs:
            self.assertTrue(operations.connect_in_background(Broken(), b"\x01" * 20))
        self.assertIn("broken overlay", logs.output[0])
        self.assertEqual(operations.background, {})

