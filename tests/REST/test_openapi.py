"""The generated OpenAPI document matches the live resource tree, and the server behaves as it says."""
from __future__ import annotations

import json
import re
from typing import Any

from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, QueryParameter, api_method
from ipv8.REST.schema import integer, obj, string, validate

from .support import HTTPClient, TwoSessions

KEY = "open sesame"


def documented_operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def registered_operations(resource: Any, path: str = "") -> set[tuple[str, str]]:  # noqa: ANN401
    """Walk the twisted.web tree itself (not the generator's walker) and list every declared operation."""
    assert isinstance(resource, BaseEndpoint), f"{path or '/'} is a {type(resource).__name__}: it cannot be documented"
    found = {(method, path or "/") for method in resource.operations}
    for key, child in resource.children.items():
        found |= registered_operations(child, f"{path}/{key.decode()}")
    for segment, child in resource.child_endpoints():
        if segment.startswith("{"):
            found |= registered_operations(child, f"{path}/{segment}")
    return found


class Walker(BaseEndpoint):
    """Added late, with everything a declaration can hold."""

    @api_method("PUT", "Rename a thing.", {200: obj(("name", "times"), name=string(), times=integer())},
                body=obj(("name",), name=string()), query=(QueryParameter("times", integer(minimum=1)),))
    def put_name(self, request: APIRequest) -> dict[str, Any]:
        return {"name": request.path["thing"] + "->" + request.body["name"], "times": request.query.get("times", 1)}


class TestOpenAPI(TwoSessions):

    async def setUp(self) -> None:
        await super().setUp()
        address = self.other_endpoint.wan_address
        #: A body that succeeds, for every operation that needs one.
        self.samples = {
            ("POST", "/overlays/statistics"): {"enable": True, "all": True},
            ("POST", "/isolation"): {"ip": address[0], "port": address[1], "bootstrapnode": True},
            ("PUT", "/things/{thing}/name"): {"name": "new"},
        }
        self.manager.register_endpoint("things/{thing}/name", Walker())

    async def spec(self, client: HTTPClient | None = None, **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
        result = await (client or self.client).get("/docs/openapi.json", **kwargs)
        self.assertEqual(result.status, 200)
        return result.json

    async def check_operation(self, client: HTTPClient, spec: dict[str, Any], method: str, path: str,
                              body: Any = None, headers: dict[str, str] | None = None) -> int:  # noqa: ANN401
        """Send one request and check that the answer is one the document promises, body schema included."""
        url = re.sub(r"\{\w+\}", "value", path)
        result = await client.request(method, url, body, headers=headers)
        declared = spec["paths"][path][method.lower()]["responses"]
        self.assertIn(str(result.status), declared, f"{method} {path} answered {result.status}: {result.body!r}")
        content = declared[str(result.status)]["content"]
        media_type = next(iter(content))
        self.assertTrue(result.header("Content-Type").startswith(media_type), (method, path))
        if media_type == "application/json":
            validate(json.loads(result.body), content[media_type]["schema"], f"{method} {path}",
                     spec["components"]["schemas"])
        return result.status

    async def test_every_documented_operation_exists_and_answers_as_documented(self) -> None:
        spec = await self.spec()
        self.assertEqual(spec["openapi"], "3.1.0")
        successes = set()
        for method, path in sorted(documented_operations(spec)):
            operation = spec["paths"][path][method.lower()]
            # Without a body (or with one when the operation needs it), the route must exist...
            status = await self.check_operation(self.client, spec, method, path)
            self.assertNotIn(status, (404, 405), f"{method} {path}")
            if "requestBody" in operation:
                self.assertEqual(status, 400, f"{method} {path} accepted an empty body")
                status = await self.check_operation(self.client, spec, method, path, self.samples[(method, path)])
            # ...and a sensible request must succeed.
            self.assertLess(status, 300, f"{method} {path}")
            successes.add((method, path))
        self.assertEqual(successes, documented_operations(spec))
        await self.settle()

    async def test_every_registered_operation_is_documented(self) -> None:
        spec = await self.spec()
        self.assertEqual(registered_operations(self.manager.root_endpoint), documented_operations(spec))
        self.assertIn(("PUT", "/things/{thing}/name"), documented_operations(spec))
        for expected in [("GET", "/network"), ("GET", "/overlays"), ("GET", "/overlays/statistics"),
                         ("POST", "/overlays/statistics"), ("POST", "/isolation"), ("GET", "/debug/reactor"),
                         ("GET", "/docs"), ("GET", "/docs/openapi.json")]:
            self.assertIn(expected, documented_operations(spec))
        ids = [operation["operationId"] for item in spec["paths"].values() for operation in item.values()]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertTrue(all(re.fullmatch(r"[a-z]+[A-Za-z0-9]*", operation_id) for operation_id in ids), ids)

    async def test_declarations_become_parameters_bodies_and_statuses(self) -> None:
        operation = (await self.spec())["paths"]["/things/{thing}/name"]["put"]
        self.assertEqual(operation["summary"], "Rename a thing.")
        self.assertEqual(operation["parameters"], [
            {"name": "thing", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "times", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}}])
        self.assertEqual(operation["requestBody"]["content"]["application/json"]["schema"],
                         obj(("name",), name=string()))
        self.assertEqual(sorted(operation["responses"]), ["200", "400", "500"])
        result = await self.client.request("PUT", "/things/box/name?times=2", {"name": "crate"})
        self.assertEqual(result.json, {"name": "box->crate", "times": 2})
        statistics = (await self.spec())["paths"]["/overlays/statistics"]["post"]
        self.assertEqual(sorted(statistics["responses"]), ["200", "400", "404", "412", "500"])
        self.assertEqual(statistics["tags"], ["Overlays"])
        self.assertIn("overlay_name", statistics["description"])

    async def test_with_an_api_key(self) -> None:
        await self.manager.stop()
        await self.manager.start(0, api_key=KEY)
        client = HTTPClient(self.manager.url)
        spec = await self.spec(client)
        self.assertEqual(spec["security"], [{"apiKey": []}, {"apiKeyQuery": []}])
        self.assertEqual(spec["components"]["securitySchemes"]["apiKey"],
                         {"type": "apiKey", "in": "header", "name": "X-Api-Key"})
        for method, path in sorted(documented_operations(spec)):
            operation = spec["paths"][path][method.lower()]
            status = await self.check_operation(client, spec, method, path)
            if path.startswith("/docs"):
                self.assertEqual((status, operation["security"]), (200, []))
                self.assertNotIn("401", operation["responses"])
            else:
                self.assertEqual(status, 401, f"{method} {path}")
                self.assertNotIn("security", operation)
                status = await self.check_operation(client, spec, method, path, self.samples.get((method, path)),
                                                    headers={"X-Api-Key": KEY})
                self.assertLess(status, 300, f"{method} {path}")
        await self.settle()

    async def test_the_overview_page_lists_every_operation(self) -> None:
        result = await self.client.get("/docs")
        self.assertEqual(result.header("Content-Type"), "text/html; charset=utf-8")
        page = result.body.decode()
        for method, path in documented_operations(await self.spec()):
            self.assertIn(f"<td>{method}</td><td><code>{path}</code></td>", page)
        swagger = (await self.client.get("/docs/swagger.json")).json
        self.assertEqual(swagger, await self.spec())
