"""The generated documents (OpenAPI 3.1, Swagger 2.0) match the live resource tree, the server behaves as they
say, and the Swagger UI page at /docs works from the files shipped in the package."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV31SpecValidator, validate as validate_spec
from twisted.trial import unittest

import ipv8.REST
from ipv8.attestation.communication_manager import CommunicationManager
from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, QueryParameter, api_method
from ipv8.REST.docs_endpoint import DOCS_CSP, STATIC_FILES
from ipv8.REST.schema import integer, obj, string, validate
from ipv8.REST.swagger import swagger_schema

from .support import HTTPClient, TwoSessions

STATIC_DIRECTORY = Path(ipv8.REST.__file__).parent / "static"
#: A value for every ``{name}`` segment that names something that exists.
PATH_VALUES = {"name": "swagger-ui.css", "file": "dashboard.js", "infohash": "00" * 20}

KEY = "open sesame"
#: Routes that need a DHT overlay, which these sessions do not load: they must answer as documented (404 here)
#: but cannot succeed. tests/REST/test_dht_endpoint.py checks them against the document with a DHT loaded.
NEEDS_DHT = re.compile(r"/(dht|noblockdht)(/.*)?")
#: The speed tests need a TunnelCommunity (and a circuit), which these sessions do not load either; they are
#: checked against the document in tests/REST/test_tunnel_endpoint.py.
NEEDS_TUNNEL = re.compile(r"/tunnel/circuits(/\{circuit_id\})?/test")
#: The TrustChain routes answer 404 without a TrustChainCommunity; tests/attestation/trustchain checks them with one.
NEEDS_TRUSTCHAIN = re.compile(r"/trustchain(/.*)?")
#: A pseudonym gets UDP sockets of its own, which these sessions (a Clock for a reactor) cannot open: its routes
#: must answer as documented (500 here); tests/REST/test_identity_endpoint.py runs them on real sockets.
NEEDS_IDENTITY = re.compile(r"/identity/\{pseudonym_name\}/.*")


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
            ("PUT", "/asyncio/drift"): {"enable": True},
            ("PUT", "/asyncio/debug"): {"enable": False},
        }
        #: What must happen before an operation can succeed: (method, path, body) of a request.
        self.preparations = {
            ("GET", "/asyncio/drift"): ("PUT", "/asyncio/drift", {"enable": True}),  # 404 while drift is off
        }
        self.manager.register_endpoint("things/{thing}/name", Walker())
        # Pseudonym keys and the identity database go to a temporary directory, not the working directory.
        working_directory = self.mktemp()
        self.manager.root_endpoint.child_endpoint("identity").set_communication_manager(
            CommunicationManager(self.session, working_directory=working_directory))

    async def spec(self, client: HTTPClient | None = None, **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
        result = await (client or self.client).get("/docs/openapi.json", **kwargs)
        self.assertEqual(result.status, 200)
        return result.json

    async def prepare(self, client: HTTPClient, method: str, path: str, headers: dict[str, str] | None = None) -> None:
        """Send the request :attr:`preparations` lists for ``method`` ``path``, if any."""
        if (method, path) in self.preparations:
            before = self.preparations[(method, path)]
            self.assertLess((await client.request(*before, headers=headers)).status, 300, before)

    async def check_operation(self, client: HTTPClient, spec: dict[str, Any], method: str, path: str,
                              body: Any = None, headers: dict[str, str] | None = None) -> int:  # noqa: ANN401
        """Send one request and check that the answer is one the document promises, body schema included."""
        url = re.sub(r"\{(\w+)\}", lambda match: PATH_VALUES.get(match.group(1), "value"), path)
        result = await client.request(method, url, body, headers=headers)
        declared = spec["paths"][path][method.lower()]["responses"]
        self.assertIn(str(result.status), declared, f"{method} {path} answered {result.status}: {result.body!r}")
        content = declared[str(result.status)]["content"]
        media_type = next(iter(content))
        if media_type != "*/*":
            self.assertTrue(result.header("Content-Type").startswith(media_type), (method, path))
        if media_type == "application/json":
            validate(json.loads(result.body), content[media_type]["schema"], f"{method} {path}",
                     spec["components"]["schemas"])
        return result.status

    async def test_every_documented_operation_exists_and_answers_as_documented(self) -> None:
        spec = await self.spec()
        self.assertEqual(spec["openapi"], "3.1.0")
        validate_spec(spec, cls=OpenAPIV31SpecValidator)
        successes = set()
        for method, path in sorted(documented_operations(spec)):
            operation = spec["paths"][path][method.lower()]
            await self.prepare(self.client, method, path)
            # Without a body (or with one when the operation needs it), the route must exist...
            status = await self.check_operation(self.client, spec, method, path)
            if (NEEDS_DHT.fullmatch(path) or NEEDS_TUNNEL.fullmatch(path) or NEEDS_TRUSTCHAIN.fullmatch(path)
                    or NEEDS_IDENTITY.fullmatch(path)):
                successes.add((method, path))
                continue
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
                         ("GET", "/docs"), ("GET", "/docs/openapi.json"), ("GET", "/docs/swagger.json"),
                         ("GET", "/docs/static/{name}"), ("GET", "/tunnel/settings"), ("GET", "/tunnel/circuits"),
                         ("GET", "/tunnel/circuits/test"), ("GET", "/tunnel/circuits/{circuit_id}/test"),
                         ("GET", "/tunnel/relays"), ("GET", "/tunnel/exits"), ("GET", "/tunnel/swarms"),
                         ("GET", "/tunnel/swarms/{infohash}/size"), ("GET", "/tunnel/peers"),
                         ("GET", "/tunnel/peers/dht"), ("GET", "/tunnel/peers/pex"), ("GET", "/identity"),
                         ("GET", "/identity/{pseudonym_name}/credentials/{subject_key}"),
                         ("PUT", "/identity/{pseudonym_name}/request/{authority_key}"),
                         ("GET", "/identity/{pseudonym_name}/outstanding/verifications")]:
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
        validate_spec(spec, cls=OpenAPIV31SpecValidator)
        self.assertEqual(spec["security"], [{"apiKey": []}, {"apiKeyQuery": []}])
        self.assertEqual(spec["components"]["securitySchemes"]["apiKey"],
                         {"type": "apiKey", "in": "header", "name": "X-Api-Key"})
        for method, path in sorted(documented_operations(spec)):
            operation = spec["paths"][path][method.lower()]
            status = await self.check_operation(client, spec, method, path)
            if path.startswith(("/docs", "/ui")):  # the documentation and the dashboard's files
                self.assertEqual((status, operation["security"]), (200, []))
                self.assertNotIn("401", operation["responses"])
            else:
                self.assertEqual(status, 401, f"{method} {path}")
                self.assertNotIn("security", operation)
                await self.prepare(client, method, path, headers={"X-Api-Key": KEY})
                status = await self.check_operation(client, spec, method, path, self.samples.get((method, path)),
                                                    headers={"X-Api-Key": KEY})
                if not (NEEDS_DHT.fullmatch(path) or NEEDS_TUNNEL.fullmatch(path)
                        or NEEDS_TRUSTCHAIN.fullmatch(path) or NEEDS_IDENTITY.fullmatch(path)):
                    self.assertLess(status, 300, f"{method} {path}")
        await self.settle()

    async def swagger(self, client: HTTPClient | None = None) -> dict[str, Any]:
        result = await (client or self.client).get("/docs/swagger.json")
        self.assertEqual((result.status, result.header("Content-Type")), (200, "application/json"))
        return result.json

    async def test_both_documents_are_valid_and_describe_the_same_operations(self) -> None:
        for key in (None, KEY):
            if key is not None:
                await self.manager.stop()
                await self.manager.start(0, api_key=key)
            client = HTTPClient(self.manager.url)
            spec, swagger = await self.spec(client), await self.swagger(client)
            validate_spec(spec, cls=OpenAPIV31SpecValidator)
            validate_spec(swagger, cls=OpenAPIV2SpecValidator)
            self.assertEqual(swagger["swagger"], "2.0")
            self.assertEqual(swagger["info"], spec["info"])
            self.assertEqual(documented_operations(swagger), documented_operations(spec))
            self.assertEqual(set(swagger["definitions"]), set(spec["components"]["schemas"]))
            for method, path in documented_operations(spec):
                ours, theirs = spec["paths"][path][method.lower()], swagger["paths"][path][method.lower()]
                for field in ("operationId", "summary", "description", "tags", "security"):
                    self.assertEqual(ours.get(field), theirs.get(field), (method, path, field))
                self.assertEqual(set(ours["responses"]), set(theirs["responses"]), (method, path))
                self.assertEqual([p["name"] for p in ours.get("parameters", [])],
                                 [p["name"] for p in theirs.get("parameters", []) if p["in"] != "body"])
                self.assertEqual("requestBody" in ours, any(p["in"] == "body" for p in theirs.get("parameters", [])))
        # The last round ran with the key: Swagger UI's Authorize button offers the X-Api-Key header.
        self.assertEqual(swagger["securityDefinitions"]["apiKey"],
                         {"type": "apiKey", "in": "header", "name": "X-Api-Key"})
        self.assertEqual(swagger["security"], [{"apiKey": []}, {"apiKeyQuery": []}])
        self.assertEqual(swagger["paths"]["/docs/swagger.json"]["get"]["security"], [])

    async def test_swagger_document_of_a_late_resource(self) -> None:
        operation = (await self.swagger())["paths"]["/things/{thing}/name"]["put"]
        self.assertEqual(operation["parameters"], [
            {"name": "thing", "in": "path", "required": True, "type": "string"},
            {"name": "times", "in": "query", "required": False, "type": "integer", "minimum": 1},
            {"name": "body", "in": "body", "required": True, "schema": obj(("name",), name=string())}])
        self.assertEqual(operation["consumes"], ["application/json"])
        self.assertEqual(operation["responses"]["500"]["schema"], {"$ref": "#/definitions/Error"})
        self.assertEqual(operation["responses"]["200"]["schema"]["required"], ["name", "times"])

    async def test_the_page_runs_swagger_ui_from_shipped_files_only(self) -> None:
        result = await self.client.get("/docs")
        self.assertEqual(result.status, 200)
        self.assertEqual(result.header("Content-Type"), "text/html; charset=utf-8")
        self.assertEqual(result.header("Content-Security-Policy"), DOCS_CSP)
        page = result.body.decode()
        self.assertNotIn("<script>", page)  # no inline script: the CSP forbids it
        self.assertNotIn("<style", page)
        references = re.findall(r'(?:src|href)="([^"]*)"', page)
        self.assertIn("/docs/static/swagger-ui-bundle.js", references)
        self.assertIn("/docs/static/swagger-init.js", references)
        for reference in references:
            self.assertTrue(reference.startswith("/docs/"), reference)  # nothing from another server
            answer = await self.client.get(reference)
            self.assertEqual(answer.status, 200, reference)
        init = (await self.client.get("/docs/static/swagger-init.js")).body.decode()
        self.assertIn('url: "/docs/openapi.json"', init)
        self.assertIn('url: "/docs/swagger.json"', init)
        self.assertIn("validatorUrl: null", init)  # the default would send the document to swagger.io
        self.assertEqual((await self.client.get("/docs/")).body, result.body)

    async def test_static_files_are_the_packaged_ones(self) -> None:
        for name, (relative, media_type) in STATIC_FILES.items():
            result = await self.client.get(f"/docs/static/{name}")
            self.assertEqual(result.status, 200, name)
            self.assertEqual(result.header("Content-Type"), media_type, name)
            self.assertEqual(result.header("X-Content-Type-Options"), "nosniff")
            self.assertEqual(result.body, (STATIC_DIRECTORY / relative).read_bytes(), name)
            head = await self.client.request("HEAD", f"/docs/static/{name}")
            self.assertEqual((head.status, head.body), (200, b""))
        for name in ("index.html", "swagger-ui.css.map", "..%2Fdocs_endpoint.py", "..%2F..%2Fsetup.cfg",
                     "swagger-ui%2FLICENSE", "README.txt", "SHA256SUMS", "%00"):
            result = await self.client.get(f"/docs/static/{name}")
            self.assertEqual(result.status, 404, name)
            self.assertIs(result.json["success"], False)
        self.assertEqual((await self.client.get("/docs/static/../../setup.cfg")).status, 404)
        self.assertEqual((await self.client.get("/docs/static")).status, 404)

    async def test_docs_need_no_key_but_operations_do(self) -> None:
        await self.manager.stop()
        await self.manager.start(0, api_key=KEY)
        client = HTTPClient(self.manager.url)
        for path in ["/docs", "/docs/openapi.json", "/docs/swagger.json"] + [f"/docs/static/{name}"
                                                                              for name in STATIC_FILES]:
            self.assertEqual((await client.get(path)).status, 200, path)
        self.assertEqual((await client.get("/overlays")).status, 401)
        # What Swagger UI sends once the key was entered under "Authorize".
        self.assertEqual((await client.get("/overlays", headers={"X-Api-Key": KEY})).status, 200)


class TestShippedSwaggerUI(unittest.TestCase):
    """The Swagger UI files are the unmodified swagger-ui-dist files, with their licenses."""

    def test_checksums(self) -> None:
        directory = STATIC_DIRECTORY / "swagger-ui"
        listed = {}
        for line in (directory / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split()
            listed[name] = digest
        for name, digest in listed.items():
            self.assertEqual(hashlib.sha256((directory / name).read_bytes()).hexdigest(), digest, name)
        shipped = {relative.split("/", 1)[1] for relative, _ in STATIC_FILES.values()
                   if relative.startswith("swagger-ui/")}
        self.assertEqual(shipped, set(listed))
        self.assertIn("Apache License", (directory / "LICENSE").read_text())

    def test_no_cdn_or_remote_references_in_our_files(self) -> None:
        init = (STATIC_DIRECTORY / "swagger-init.js").read_text()
        self.assertNotRegex(init, r"https?://")


class TestSwaggerSchema(unittest.TestCase):
    """The translation of JSON Schema (OpenAPI 3.1 dialect) to Swagger 2.0 schema objects."""

    def test_translations(self) -> None:
        self.assertEqual(swagger_schema({"$ref": "#/components/schemas/Error"}), {"$ref": "#/definitions/Error"})
        self.assertEqual(swagger_schema({"type": ["number", "null"]}), {"type": "number", "x-nullable": True})
        self.assertEqual(swagger_schema({"type": ["boolean", "integer"], "description": "flag"}),
                         {"x-types": ["boolean", "integer"], "description": "flag"})
        self.assertEqual(swagger_schema({"const": 3}), {"enum": [3]})
        self.assertEqual(swagger_schema({"type": "integer", "exclusiveMinimum": 0}),
                         {"type": "integer", "minimum": 0, "exclusiveMinimum": True})
        self.assertEqual(swagger_schema({"oneOf": [{"type": "string"}]}), {"x-oneOf": [{"type": "string"}]})
        nested = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": ["string", "null"]}}},
                  "additionalProperties": {"$ref": "#/components/schemas/Success"}}
        self.assertEqual(swagger_schema(nested), {
            "type": "object", "properties": {"a": {"type": "array", "items": {"type": "string", "x-nullable": True}}},
            "additionalProperties": {"$ref": "#/definitions/Success"}})
        self.assertEqual(nested["properties"]["a"]["items"], {"type": ["string", "null"]})  # input untouched
