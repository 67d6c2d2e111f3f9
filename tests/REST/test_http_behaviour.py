"""How the REST framework answers: JSON errors, status codes, methods, bodies, query strings, path values."""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.web.client import ResponseNeverReceived

from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, Conflict, QueryParameter, Response, api_method
from ipv8.REST.schema import integer, number, obj, string

from .support import RESTTestCase


class ProbeEndpoint(BaseEndpoint):
    """A test resource with handlers that succeed, fail and wait in various ways."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Any] = []
        self.pending: Deferred | None = None
        self.cancelled = False

    @api_method("GET", "Echo the path value and the query.", {200: obj()},
                query=(QueryParameter("count", integer(minimum=0)), QueryParameter("flag", {"type": "boolean"}),
                       QueryParameter("word", string(), required=False), QueryParameter("ratio", number())))
    def get_echo(self, request: APIRequest) -> dict[str, Any]:
        self.calls.append(request)
        return {"path": request.path, "query": request.query, "has_session": self.session is not None}

    @api_method("PUT", "Fail in the handler.", {200: obj()})
    def put_crash(self, request: APIRequest) -> dict[str, Any]:
        return {"ratio": 1 / 0}

    @api_method("POST", "Answer later, with a custom status.", {201: obj()}, body=obj(("name",), name=string()))
    async def post_later(self, request: APIRequest) -> Response:
        await deferLater(reactor, 0.01, lambda: None)
        if request.body["name"] == "taken":
            raise Conflict("that name is taken", code="NameTaken")
        return Response({"created": request.body["name"]}, status=201)

    @api_method("PATCH", "Return something that is not JSON.", {200: obj()})
    def patch_bad_result(self, request: APIRequest) -> dict[str, Any]:
        return {"raw": b"bytes are not JSON"}

    @api_method("DELETE", "Wait until cancelled.", {200: obj()})
    def delete_slowly(self, request: APIRequest) -> Deferred:
        def cancelled(_: Deferred) -> None:
            self.cancelled = True
        self.pending = Deferred(cancelled)
        return self.pending


class TestHTTPBehaviour(RESTTestCase):

    async def setUp(self) -> None:
        await super().setUp()
        self.probe = ProbeEndpoint()
        self.manager.register_endpoint("probe/{item}", self.probe)

    def assert_error(self, result: Any, status: int, code: str) -> dict[str, Any]:  # noqa: ANN401
        self.assertEqual(result.status, status, result.body)
        body = result.json
        if status == 500:  # py-ipv8's shape for an unexpected exception
            self.assertEqual(set(body), {"success", "error"})
            self.assertEqual(body["success"], False)
            self.assertEqual(body["error"]["code"], code)
            self.assertIsInstance(body["error"]["message"], str)
            body["error"] = body["error"]["message"]
            return body
        # py-ipv8's shape for a refused request, plus the machine-readable kind.
        self.assertEqual(set(body), {"success", "error", "error_code"})
        self.assertEqual(body["success"], False)
        self.assertEqual(body["error_code"], code)
        self.assertIsInstance(body["error"], str)
        return body

    async def test_unknown_routes_are_json_404(self) -> None:
        for path in ("/nope", "/network/extra", "/probe", "/debug", "/"):
            result = await self.client.get(path)
            self.assert_error(result, 404, "NotFound")
            self.assertIsNone(result.header("Access-Control-Allow-Origin"))

    async def test_wrong_method_is_json_405_with_allow(self) -> None:
        result = await self.client.request("DELETE", "/network")
        self.assert_error(result, 405, "MethodNotAllowed")
        self.assertEqual(result.header("Allow"), "GET")
        result = await self.client.get("/isolation")
        self.assert_error(result, 405, "MethodNotAllowed")
        self.assertEqual(result.header("Allow"), "POST")
        result = await self.client.request("PUT", "/overlays/statistics")
        self.assertEqual(result.header("Allow"), "GET, POST")

    async def test_trailing_slash_and_head(self) -> None:
        result = await self.client.get("/network/")
        self.assertEqual((result.status, result.json), (200, {"peers": {}}))
        result = await self.client.request("HEAD", "/network")
        self.assertEqual((result.status, result.body), (200, b""))
        self.assertEqual(result.header("Content-Type"), "application/json")

    async def test_bad_bodies_are_json_400(self) -> None:
        cases = [(b"", "needs a JSON body"), (b"{not json", "not valid JSON"), (b"[1]", "body: expected object"),
                 (b'{"all": true}', "body.enable: is required"),
                 (b'{"enable": "yes", "all": true}', "body.enable: expected boolean"),
                 (b'{"enable": true}', '"all": true or an "overlay_name"'), (b"\xff\xfe", "not valid JSON")]
        for raw, message in cases:
            result = await self.client.request("POST", "/overlays/statistics", raw_body=raw,
                                               headers={"Content-Type": "application/json"})
            body = self.assert_error(result, 400, "BadRequest")
            self.assertIn(message, body["error"])

    async def test_query_parameters_are_converted_and_checked(self) -> None:
        result = await self.client.get("/probe/thing?count=3&flag=yes&ignored=1")
        self.assertEqual(result.json, {"path": {"item": "thing"}, "query": {"count": 3, "flag": True},
                                       "has_session": True})
        for query, message in (("count=three", "must be an integer"), ("count=-1", "must be at least 0"),
                               ("flag=maybe", "must be a boolean"), ("ratio=nan", "must be a number"),
                               ("ratio=-inf", "must be a number"), ("ratio=1e999", "must be a number"),
                               ("word=%ff", "not valid UTF-8"), ("other=%zz", "malformed percent-escape")):
            body = self.assert_error(await self.client.get(f"/probe/x?{query}"), 400, "BadRequest")
            self.assertIn(message, body["error"])
        self.assertEqual(len(self.probe.calls), 1)  # the rejected requests never reached the handler

    async def test_path_values_are_decoded(self) -> None:
        result = await self.client.get("/probe/a%20b%2Fc/")
        self.assertEqual(result.json["path"], {"item": "a b/c"})

    async def test_handler_exception_is_json_500_and_the_service_goes_on(self) -> None:
        with self.assertLogs("ProbeEndpoint", "ERROR") as logs:
            result = await self.client.request("PUT", "/probe/x")
        body = self.assert_error(result, 500, "ZeroDivisionError")
        self.assertEqual(body["error"], "division by zero")
        self.assertIn("ZeroDivisionError", "\n".join(logs.output))
        with self.assertLogs("ProbeEndpoint", "ERROR"):
            self.assert_error(await self.client.request("PATCH", "/probe/x"), 500, "TypeError")
        self.assertEqual((await self.client.get("/network")).status, 200)

    async def test_async_handlers_custom_status_and_rest_errors(self) -> None:
        result = await self.client.post("/probe/x", {"name": "new"})
        self.assertEqual((result.status, result.json), (201, {"created": "new"}))
        self.assert_error(await self.client.post("/probe/x", {"name": "taken"}), 409, "NameTaken")

    async def test_a_client_that_leaves_cancels_the_handler(self) -> None:
        request = self.client.request("DELETE", "/probe/x")
        waiting = Deferred.fromCoroutine(request)
        while self.probe.pending is None:
            await deferLater(reactor, 0.005, lambda: None)
        waiting.cancel()  # the Agent aborts the connection
        with self.assertRaises(ResponseNeverReceived):
            await waiting
        while not self.probe.cancelled:
            await deferLater(reactor, 0.005, lambda: None)
        self.assertEqual((await self.client.get("/network")).status, 200)

    def test_registration_rules(self) -> None:
        with self.assertRaises(ValueError):
            self.manager.register_endpoint("network", ProbeEndpoint())
        with self.assertRaises(ValueError):
            self.manager.register_endpoint("docs/mine", ProbeEndpoint())
        with self.assertRaises(ValueError):
            self.manager.register_endpoint("a//b", ProbeEndpoint())
        with self.assertRaises(ValueError):
            self.manager.register_endpoint("probe/{other}", ProbeEndpoint())  # one parameter child per resource
        with self.assertRaises(TypeError):
            self.manager.register_endpoint("plain", object())  # type: ignore[arg-type]

    def test_declaration_rules(self) -> None:
        with self.assertRaises(ValueError):
            api_method("TRACE", "no", {200: obj()})
        with self.assertRaises(ValueError):
            api_method("GET", "no", {99: obj()})
        with self.assertRaises(TypeError):
            class Twice(BaseEndpoint):
                @api_method("GET", "one", {200: obj()})
                def one(self, request: APIRequest) -> dict:
                    return {}

                @api_method("GET", "two", {200: obj()})
                def two(self, request: APIRequest) -> dict:
                    return {}
