"""The API key gate, CORS (no cross-origin access unless allowed) and the Host check against DNS rebinding."""
from __future__ import annotations

from typing import Any

from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, api_method
from ipv8.REST.rest_manager import RESTManager, generate_api_key
from ipv8.REST.schema import obj

from .support import HTTPClient, RESTTestCase

KEY = "s3cr3t key/+"
UNAUTHORIZED = {"error": "Unauthorized access"}


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
        self.assertEqual(self.manager.api_key, KEY)
        result = await self.client.get("/network", headers={"X-Api-Key": KEY})
        self.assertEqual((result.status, result.json), (200, {"peers": {}}))
        result = await self.client.get("/network?apikey=s3cr3t%20key%2F%2B")
        self.assertEqual(result.status, 200)
        result = await self.client.post("/count?apikey=s3cr3t+key/%2B")
        self.assertEqual((result.status, result.json), (200, {"hits": 1}))

    async def test_wrong_or_missing_key_is_401_with_py_ipv8_body_and_nothing_runs(self) -> None:
        attempts = [{}, {"headers": {"X-Api-Key": "wrong"}}, {"headers": {"X-Api-Key": ""}},
                    {"headers": {"X-Api-Key": KEY + "x"}}]
        for kwargs in attempts:
            result = await self.client.post("/count", **kwargs)
            self.assertEqual((result.status, result.json), (401, UNAUTHORIZED))
        self.assertEqual((await self.client.post("/count?apikey=wrong")).status, 401)
        # An unknown route does not reveal itself without the key either.
        self.assertEqual((await self.client.get("/no/such/route")).status, 401)
        # Bootstrapping through /isolation without the key changes nothing.
        body = {"ip": "127.0.0.1", "port": 9, "bootstrapnode": True}
        self.assertEqual((await self.client.post("/isolation", body)).status, 401)
        self.assertEqual(self.counter.hits, 0)
        self.assertNotIn(("127.0.0.1", 9), self.session.network.blacklist)

    async def test_authentication_comes_before_any_parsing(self) -> None:
        # Malformed query, path and body: without the key, all the client learns is 401.
        for path in ("/network?x=%ff", "/network?x=%zz", "/network/%ff", "/count/%ff%fe"):
            result = await self.client.get(path)
            self.assertEqual((result.status, result.json), (401, UNAUTHORIZED), path)
        result = await self.client.request("POST", "/count", raw_body=b"not json",
                                           headers={"Content-Type": "text/plain"})
        self.assertEqual((result.status, result.json), (401, UNAUTHORIZED))
        # With the key, the same requests are refused for what they are.
        result = await self.client.get("/network?x=%ff", headers={"X-Api-Key": KEY})
        self.assertEqual((result.status, result.json["error_code"]), (400, "BadRequest"))
        result = await self.client.request("POST", "/count", raw_body=b"not json",
                                           headers={"Content-Type": "text/plain", "X-Api-Key": KEY})
        self.assertEqual((result.status, result.json["error_code"]), (415, "UnsupportedMediaType"))
        self.assertEqual(self.counter.hits, 0)

    async def test_the_docs_need_no_key(self) -> None:
        self.assertEqual((await self.client.get("/docs")).status, 200)
        spec = (await self.client.get("/docs/openapi.json")).json
        self.assertIn("apiKey", spec["components"]["securitySchemes"])
        self.assertEqual((await self.client.get("/%64ocs/openapi.json")).status, 200)
        self.assertEqual((await self.client.get("/docsx")).status, 401)
        self.assertEqual((await self.client.get("/docs/../network")).status, 404)
        # A top-level resource with a public operation next to a private one is not public.
        self.assertEqual((await self.client.get("/count")).status, 401)


class TestCORS(RESTTestCase):

    async def restart(self, **kwargs: Any) -> HTTPClient:  # noqa: ANN401
        await self.manager.stop()
        await self.manager.start(0, **kwargs)
        return HTTPClient(self.manager.url)

    async def test_by_default_web_pages_of_other_origins_get_nothing(self) -> None:
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                        {"Origin": f"http://127.0.0.1:{self.manager.port + 1}"}):
            result = await self.client.get("/network", headers=headers)
            self.assertEqual((result.status, result.json["error_code"]), (403, "Forbidden"), headers)
            self.assertIsNone(result.header("Access-Control-Allow-Origin"))
        # A "simple" cross-origin POST (no preflight in a browser) is never executed.
        body = {"ip": "127.0.0.1", "port": 9, "bootstrapnode": True}
        result = await self.client.post("/isolation", body, headers={"Origin": "http://evil.example"})
        self.assertEqual(result.status, 403)
        self.assertEqual(self.session.network.blacklist, [])
        # The preflight of a foreign page is refused too.
        result = await self.client.request("OPTIONS", "/isolation", headers={
            "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        self.assertEqual(result.status, 403)
        self.assertIsNone(result.header("Access-Control-Allow-Origin"))
        self.assertIsNone(result.header("Access-Control-Allow-Methods"))

    async def test_same_origin_and_non_browser_requests_pass_without_cors_headers(self) -> None:
        for headers in ({}, {"Origin": self.manager.url}, {"Origin": self.manager.url.replace("127.0.0.1", "localhost"),
                                                            "Host": f"localhost:{self.manager.port}"}):
            result = await self.client.get("/network", headers=headers)
            self.assertEqual(result.status, 200, headers)
            self.assertIsNone(result.header("Access-Control-Allow-Origin"))
            self.assertEqual(result.header("X-Content-Type-Options"), "nosniff")

    async def test_allowed_origins_are_echoed(self) -> None:
        client = await self.restart(api_key=KEY, cors_origins=["http://app.example", "https://ui.example:8443"])
        for origin in ("http://app.example", "http://APP.example:80", "https://ui.example:8443"):
            result = await client.get("/network", headers={"Origin": origin, "X-Api-Key": KEY})
            self.assertEqual(result.status, 200)
            self.assertEqual(result.header("Access-Control-Allow-Origin"), origin)
            self.assertEqual(result.header("Vary"), "Origin")
        # The page can read why it failed, too.
        result = await client.get("/network", headers={"Origin": "http://app.example"})
        self.assertEqual((result.status, result.json), (401, UNAUTHORIZED))
        self.assertEqual(result.header("Access-Control-Allow-Origin"), "http://app.example")
        for origin in ("http://app.example:8080", "https://app.example", "http://evil.example"):
            result = await client.get("/network", headers={"Origin": origin, "X-Api-Key": KEY})
            self.assertEqual(result.status, 403, origin)
            self.assertIsNone(result.header("Access-Control-Allow-Origin"))

    async def test_preflight_of_an_allowed_origin_is_answered_without_key(self) -> None:
        client = await self.restart(api_key=KEY, cors_origins=["http://app.example"])
        result = await client.request("OPTIONS", "/overlays/statistics", headers={
            "Origin": "http://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type"})
        self.assertEqual(result.status, 204)
        self.assertEqual(result.header("Access-Control-Allow-Origin"), "http://app.example")
        self.assertIn("POST", result.header("Access-Control-Allow-Methods"))
        self.assertEqual(result.header("Access-Control-Allow-Headers"), "Content-Type, X-Api-Key")
        self.assertEqual(result.header("Access-Control-Max-Age"), "600")
        # A plain OPTIONS request is not a preflight: it needs the key like anything else.
        self.assertEqual((await client.request("OPTIONS", "/network")).status, 401)
        result = await client.request("OPTIONS", "/network", headers={"X-Api-Key": KEY})
        self.assertEqual((result.status, result.header("Allow")), (405, "GET"))

    async def test_bad_cors_options_fail_start(self) -> None:
        await self.manager.stop()
        for origins, error in ((["*"], ValueError), (["http://app.example/path"], ValueError),
                               (["ftp://app.example"], ValueError), ("http://app.example", TypeError)):
            with self.assertRaises(error):
                await self.manager.start(0, cors_origins=origins)
            self.assertIsNone(self.manager.port)


class TestHostHeader(RESTTestCase):

    async def test_only_loopback_names_are_accepted_on_loopback(self) -> None:
        port = self.manager.port
        for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}",
                     "127.0.0.53:80"):
            result = await self.client.get("/network", headers={"Host": host})
            self.assertEqual(result.status, 200, host)
        for host in (f"evil.example:{port}", "evil.example", "localhost.evil.example", f"127.0.0.1:{port}0000",
                     "10.0.0.1", "::1", "localhost:http", "[::1"):
            result = await self.client.get("/network", headers={"Host": host})
            self.assertEqual((result.status, result.json["error_code"]), (421, "MisdirectedRequest"), host)

    async def test_extra_allowed_hosts(self) -> None:
        await self.manager.stop()
        await self.manager.start(0, allowed_hosts=["MyNode.lan", "other.lan:8000"])
        client = HTTPClient(self.manager.url)
        for host, status in (("mynode.lan", 200), ("mynode.lan:1234", 200), ("other.lan:8000", 200),
                             ("other.lan", 421), ("other.lan:8001", 421), ("localhost", 200)):
            self.assertEqual((await client.get("/network", headers={"Host": host})).status, status, host)
        await self.manager.stop()
        with self.assertRaises(ValueError):
            await self.manager.start(0, allowed_hosts=["bad host"])


class TestKeyArguments(RESTTestCase):

    async def test_empty_key_means_open_and_bad_key_type_fails(self) -> None:
        manager = RESTManager(self.session)
        await manager.start(0, api_key="")
        self.addCleanup(manager.stop)
        self.assertIsNone(manager.api_key)
        self.assertEqual((await HTTPClient(manager.url).get("/network")).status, 200)
        other = RESTManager(self.session)
        with self.assertRaises(TypeError):
            await other.start(0, api_key=b"bytes")  # type: ignore[arg-type]
        self.assertIsNone(other.port)

    def test_generated_keys_are_fresh_and_url_safe(self) -> None:
        keys = {generate_api_key() for _ in range(20)}
        self.assertEqual(len(keys), 20)
        for key in keys:
            self.assertGreaterEqual(len(key), 40)
            self.assertTrue(all(char.isalnum() or char in "-_" for char in key), key)
