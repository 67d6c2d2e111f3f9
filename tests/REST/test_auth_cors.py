"""The API key gate and CORS."""
from __future__ import annotations

from typing import Any

from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, api_method
from ipv8.REST.rest_manager import RESTManager
from ipv8.REST.schema import obj

from .support import HTTPClient, RESTTestCase

KEY = "s3cr3t key/+"


class CountingEndpoint(BaseEndpoint):
    """Counts the requests that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.hits = 0

    @api_method("POST", "Count.", {200: obj()})
    def post_count(self, request: APIRequest) -> dict[str, Any]:
        self.hits += 1
        return {"hits": self.hits}

    @api_method("GET", "Peek.", {200: obj()})
    def get_count(self, request: APIRequest) -> dict[str, Any]:
        return {"hits": self.hits}


class TestAPIKey(RESTTestCase):

    async def setUp(self) -> None:
        await super().setUp()
        await self.manager.stop()
        self.counter = CountingEndpoint()
        self.manager.register_endpoint("count", self.counter)
        await self.manager.start(0, api_key=KEY)
        self.client = HTTPClient(self.manager.url)

    async def test_header_and_query_parameter_are_accepted(self) -> None:
        result = await self.client.get("/network", headers={"X-Api-Key": KEY})
        self.assertEqual((result.status, result.json), (200, {"peers": {}}))
        result = await self.client.get("/network?apikey=s3cr3t%20key%2F%2B")
        self.assertEqual(result.status, 200)
        result = await self.client.post("/count?apikey=s3cr3t+key/%2B")
        self.assertEqual((result.status, result.json), (200, {"hits": 1}))

    async def test_wrong_or_missing_key_is_401_and_nothing_runs(self) -> None:
        attempts = [{}, {"headers": {"X-Api-Key": "wrong"}}, {"headers": {"X-Api-Key": ""}},
                    {"headers": {"X-Api-Key": KEY + "x"}}]
        for kwargs in attempts:
            result = await self.client.post("/count", **kwargs)
            self.assertEqual(result.status, 401)
            self.assertEqual(result.json["error"]["code"], "Unauthorized")
            self.assertEqual(result.json["success"], False)
        self.assertEqual((await self.client.post("/count?apikey=wrong")).status, 401)
        # An unknown route does not reveal itself without the key either.
        self.assertEqual((await self.client.get("/no/such/route")).status, 401)
        # Bootstrapping through /isolation without the key changes nothing.
        body = {"ip": "127.0.0.1", "port": 9, "bootstrapnode": True}
        self.assertEqual((await self.client.post("/isolation", body)).status, 401)
        self.assertEqual(self.counter.hits, 0)
        self.assertNotIn(("127.0.0.1", 9), self.session.network.blacklist)

    async def test_the_docs_need_no_key(self) -> None:
        self.assertEqual((await self.client.get("/docs")).status, 200)
        spec = (await self.client.get("/docs/openapi.json")).json
        self.assertIn("apiKey", spec["components"]["securitySchemes"])
        self.assertEqual((await self.client.get("/%64ocs/openapi.json")).status, 200)
        self.assertEqual((await self.client.get("/docsx")).status, 401)
        self.assertEqual((await self.client.get("/docs/../network")).status, 404)


class TestCORS(RESTTestCase):

    async def test_preflight_is_answered_without_key(self) -> None:
        await self.manager.stop()
        await self.manager.start(0, api_key=KEY)
        client = HTTPClient(self.manager.url)
        result = await client.request("OPTIONS", "/overlays/statistics", headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type"})
        self.assertEqual(result.status, 204)
        self.assertEqual(result.header("Access-Control-Allow-Origin"), "*")
        self.assertIn("POST", result.header("Access-Control-Allow-Methods"))
        self.assertEqual(result.header("Access-Control-Allow-Headers"), "x-api-key, content-type")
        self.assertEqual(result.header("Access-Control-Max-Age"), "86400")
        # A plain OPTIONS request is not a preflight: it needs the key like anything else.
        self.assertEqual((await client.request("OPTIONS", "/network")).status, 401)
        result = await client.request("OPTIONS", "/network", headers={"X-Api-Key": KEY})
        self.assertEqual((result.status, result.header("Allow")), (405, "GET"))

    async def test_every_answer_allows_any_origin(self) -> None:
        for path in ("/network", "/nope", "/docs/openapi.json"):
            result = await self.client.get(path, headers={"Origin": "http://app.example"})
            self.assertEqual(result.header("Access-Control-Allow-Origin"), "*")


class TestKeyArguments(RESTTestCase):

    async def test_empty_key_means_open_and_bad_key_type_fails(self) -> None:
        manager = RESTManager(self.session)
        await manager.start(0, api_key="")
        self.addCleanup(manager.stop)
        self.assertEqual((await HTTPClient(manager.url).get("/network")).status, 200)
        other = RESTManager(self.session)
        with self.assertRaises(TypeError):
            await other.start(0, api_key=b"bytes")  # type: ignore[arg-type]
        self.assertIsNone(other.port)
