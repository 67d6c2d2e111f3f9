"""``/identity``: the IPv8 documentation's two attestation flows over real HTTP between two txipv8 services.

Two IPv8 nodes on 127.0.0.1 (real UDP, the real reactor), each with a RESTManager behind an API key, follow
"Using the IPv8 attestation service" step by step: enrollment (request, outstanding attestations, attest,
credentials) and attribute verification (verify, outstanding verifications, allow, verifications). The
pseudonym overlays bootstrap from ``DISPERSY_BOOTSTRAPPER``, which these tests empty (never the public
trackers); the two pseudonyms are introduced by walking to each other's loopback address.
"""
from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

from twisted.trial import unittest

from ipv8 import configuration
from ipv8.configuration import ConfigBuilder
from ipv8.REST.rest_manager import RESTManager
from ipv8.REST.schema import validate
from ipv8.service import IPv8
from ipv8.test.util import wait_until

from .support import HTTPClient

KEY = "identity-test-key"
VALUE_B64 = "dmFsdWU="  # b"value", as in the documentation


class Service:
    """One txipv8 service: IPv8 plus its REST API, and a client that sends the API key."""

    def __init__(self, ipv8: IPv8, manager: RESTManager) -> None:
        self.ipv8 = ipv8
        self.manager = manager
        self.client = HTTPClient(manager.url)
        self.spec: dict[str, Any] | None = None
        #: Stops the REST API and waits until its pseudonyms are unloaded (set by the test case).
        self.stop: Any = None

    async def check_documented(self, method: str, path: str, status: int, body: Any) -> None:
        """The answer is one the OpenAPI document promises for the route, body schema included."""
        if self.spec is None:
            self.spec = (await self.client.get("/docs/openapi.json", headers={"X-Api-Key": KEY})).json
        for template, item in self.spec["paths"].items():
            if re.fullmatch(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)), path):
                responses = item[method.lower()]["responses"]
                assert str(status) in responses, (method, template, status)
                schema = responses[str(status)]["content"]["application/json"]["schema"]
                validate(body, schema, f"{method} {template}", self.spec["components"]["schemas"])
                return
        raise AssertionError(f"{method} {path} is not documented")

    @property
    def identity(self) -> Any:
        return self.manager.root_endpoint.child_endpoint("identity")

    async def call(self, method: str, path: str, body: Any = None, status: int = 200,
                   **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        headers.setdefault("X-Api-Key", KEY)
        result = await self.client.request(method, path, body, headers=headers, **kwargs)
        assert result.status == status, (method, path, result.status, result.body)
        if status != 401:
            await self.check_documented(method, path, status, result.json)
        return result.json


class TestIdentityEndpoint(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        saved = dict(configuration.DISPERSY_BOOTSTRAPPER["init"])
        configuration.DISPERSY_BOOTSTRAPPER["init"].update(ip_addresses=[], dns_addresses=[])
        self.addCleanup(configuration.DISPERSY_BOOTSTRAPPER["init"].update, saved)

    async def service(self, directory: str | None = None) -> Service:
        if directory is None:
            directory = self.mktemp()
            os.makedirs(directory)
        config = (ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1").set_port(0)
                  .set_working_directory(directory).finalize())
        ipv8 = IPv8(config)
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        manager = RESTManager(ipv8)
        await manager.start(0, "127.0.0.1", api_key=KEY)
        service = Service(ipv8, manager)

        async def stop() -> None:
            await manager.stop()
            await service.identity.stopping
        self.addCleanup(stop)
        service.stop = stop
        return service

    async def meet(self, one: Service, name_one: str, two: Service, name_two: str) -> tuple[str, str]:
        """Load both pseudonyms over REST, introduce them, and return their public keys (base64)."""
        key_one = (await one.call("GET", f"/identity/{name_one}/public_key"))["public_key"]
        key_two = (await two.call("GET", f"/identity/{name_two}/public_key"))["public_key"]
        channel_one = one.identity.service.manager().name_to_channel[name_one]
        channel_two = two.identity.service.manager().name_to_channel[name_two]
        channel_one.identity_overlay.walk_to(channel_two.identity_overlay.endpoint.get_address())
        await wait_until(lambda: channel_one.peers and channel_two.peers, 10.0, what="the pseudonyms to meet")
        return key_one, key_two

    async def enroll(self) -> tuple[Service, Service, str, str, str]:
        """The documentation's enrollment flow; returns both services, both keys and the credential's hash."""
        alice, bank = await self.service(), await self.service()
        assert await alice.call("GET", "/identity") == {"names": []}
        key1, key2 = await self.meet(alice, "pseudonym1", bank, "pseudonym2")
        assert await alice.call("GET", "/identity") == {"names": ["pseudonym1"]}
        assert await alice.call("GET", "/identity/pseudonym1/peers") == {"peers": [key2]}
        assert await bank.call("GET", "/identity/pseudonym2/peers") == {"peers": [key1]}
        assert await alice.call("GET", "/identity/pseudonym1/credentials") == {"names": []}
        assert await bank.call("GET", "/identity/pseudonym2/credentials") == {"names": []}
        schemas = (await alice.call("GET", "/identity/pseudonym1/schemas"))["schemas"]
        assert "id_metadata" in schemas

        answer = await alice.call("PUT", f"/identity/pseudonym1/request/{quote(key2, safe='')}",
                                  {"name": "my_attribute", "schema": "id_metadata", "metadata": {}})
        assert answer == {"success": True}
        await wait_until(lambda: bank.identity.service.manager().name_to_channel["pseudonym2"].attestation_requests,
                         10.0, what="the attestation request")
        outstanding = await bank.call("GET", "/identity/pseudonym2/outstanding/attestations")
        assert outstanding == {"requests": [{"peer": key1, "attribute_name": "my_attribute", "metadata": "{}"}]}
        answer = await bank.call("PUT", f"/identity/pseudonym2/attest/{quote(key1, safe='')}",
                                 {"name": "my_attribute", "value": VALUE_B64})
        assert answer == {"success": True}

        async def attested() -> list:
            names = (await alice.call("GET", "/identity/pseudonym1/credentials"))["names"]
            return names if names and names[0]["attesters"] else []
        channel = alice.identity.service.manager().name_to_channel["pseudonym1"]
        await wait_until(lambda: any(a for _, _, a in channel.get_my_attributes().values()), 10.0,
                         what="the signed credential")
        [credential] = await attested()
        assert credential["name"] == "my_attribute"
        assert credential["attesters"] == [key2]
        assert credential["metadata"]["name"] == "my_attribute"
        assert credential["metadata"]["schema"] == "id_metadata"
        assert len(credential["hash"]) == 28  # 20 bytes of SHA-1, in base64, as the documentation shows
        assert await bank.call("GET", "/identity/pseudonym2/credentials") == {"names": []}
        # The authority sees the subject's credential too.
        subject = await bank.call("GET", f"/identity/pseudonym2/credentials/{quote(key1, safe='')}")
        assert [c["hash"] for c in subject["names"]] == [credential["hash"]]
        return alice, bank, key1, key2, credential["hash"]

    async def test_enrollment_and_verification_flows(self) -> None:
        alice, bank, key1, key2, attribute_hash = await self.enroll()
        answer = await bank.call("PUT", f"/identity/pseudonym2/verify/{quote(key1, safe='')}",
                                 {"hash": attribute_hash, "value": VALUE_B64, "schema": "id_metadata"})
        assert answer == {"success": True}
        channel = alice.identity.service.manager().name_to_channel["pseudonym1"]
        await wait_until(lambda: channel.verify_requests, 10.0, what="the verification request")
        outstanding = await alice.call("GET", "/identity/pseudonym1/outstanding/verifications")
        assert outstanding == {"requests": [{"peer": key2, "attribute_name": "my_attribute"}]}
        assert await bank.call("GET", "/identity/pseudonym2/verifications") == {"outputs": []}  # not done yet
        answer = await alice.call("PUT", f"/identity/pseudonym1/allow/{quote(key2, safe='')}",
                                  {"name": "my_attribute"})
        assert answer == {"success": True}
        verifier = bank.identity.service.manager().name_to_channel["pseudonym2"]
        await wait_until(lambda: all(certainty is not None for results in verifier.verification_output.values()
                                     for _, certainty in results), 20.0, what="the verification result")
        [output] = (await bank.call("GET", "/identity/pseudonym2/verifications"))["outputs"]
        assert (output["hash"], output["reference"]) == (attribute_hash, VALUE_B64)
        assert output["match"] > 0.99
        assert await alice.call("GET", "/identity/pseudonym1/outstanding/verifications") == {"requests": []}

        # Hostile input on a pseudonym that is loaded and knows a peer.
        quoted2 = quote(key2, safe="")
        for body in ({"name": "nope"},):
            error = await alice.call("PUT", f"/identity/pseudonym1/allow/{quoted2}", body, status=404)
            assert error["success"] is False and "outstanding" in error["error"]
            await alice.call("PUT", f"/identity/pseudonym1/disallow/{quoted2}", body, status=404)
        error = await bank.call("PUT", f"/identity/pseudonym2/attest/{quote(key1, safe='')}",
                                {"name": "my_attribute", "value": VALUE_B64}, status=404)
        assert "outstanding" in error["error"]
        await bank.call("PUT", f"/identity/pseudonym2/attest/{quote(key1, safe='')}",
                        {"name": "my_attribute", "value": "***"}, status=400)
        await bank.call("PUT", f"/identity/pseudonym2/verify/{quote(key1, safe='')}",
                        {"hash": "!!", "value": VALUE_B64, "schema": "id_metadata"}, status=400)
        await bank.call("PUT", f"/identity/pseudonym2/verify/{quote(key1, safe='')}",
                        {"hash": attribute_hash, "value": VALUE_B64, "schema": "no_such_schema"}, status=400)
        for metadata in ({str(i): "x" for i in range(17)}, {"big": "x" * 1000, "more": "y" * 100}, {"n": 1}):
            await alice.call("PUT", f"/identity/pseudonym1/request/{quoted2}",
                             {"name": "a", "schema": "id_metadata", "metadata": metadata}, status=400)
        await alice.call("PUT", f"/identity/pseudonym1/request/{quoted2}",
                         {"name": "a", "schema": "no_such_schema"}, status=400)

        # Persistence across a restart: a new service in the same working directory has the same pseudonym (same
        # key) with the same signed credential.
        await alice.stop()
        await alice.ipv8.stop()
        alice = await self.service(alice.ipv8.configuration["working_directory"])
        assert await alice.call("GET", "/identity") == {"names": ["pseudonym1"]}
        assert await alice.call("GET", "/identity/pseudonym1/public_key") == {"public_key": key1}
        [restored] = (await alice.call("GET", "/identity/pseudonym1/credentials"))["names"]
        assert (restored["hash"], restored["attesters"]) == (attribute_hash, [key2])

        # Persistence across unload: the credential is still there when the pseudonym is loaded again.
        assert await alice.call("GET", "/identity/pseudonym1/unload") == {"success": True}
        assert alice.identity.service.manager().list_loaded() == []
        again = await alice.call("GET", "/identity/pseudonym1/credentials")
        assert [c["hash"] for c in again["names"]] == [attribute_hash]
        assert await alice.call("GET", "/identity/pseudonym1/remove") == {"success": True}
        assert await alice.call("GET", "/identity") == {"names": []}

    async def test_hostile_input(self) -> None:
        service = await self.service()
        # The documentation's example key: nobody here has it.
        unknown = quote("TGliTmFDTFBLOg/rrouc7qXT1ZKxHFvzxb4IVRYDPdbN4n7eFFuaT385YNW4aoh3Mruv+hSjbssLYmps+"
                        "jlh9rb250LYD7gEH20=", safe="")
        # Without the key (or with a wrong one) nothing happens: no pseudonym is created.
        for headers in ({"X-Api-Key": ""}, {"X-Api-Key": "wrong"}):
            result = await service.client.get("/identity/sneaky/public_key", headers=headers)
            assert result.status == 401
        result = await service.client.get("/identity/sneaky/public_key")
        assert result.status == 401
        assert await service.call("GET", "/identity") == {"names": []}
        # Names are file names.
        for name in ("..", "%2E%2E", "a%2Fb", "..%2Fescape", ".hidden", "x" * 65, "sp%20ace", "nul%00"):
            error = await service.call("GET", f"/identity/{name}/public_key", status=400)
            assert error["success"] is False and "pseudonym name" in error["error"]
            await service.call("GET", f"/identity/{name}/unload", status=400)
        assert await service.call("GET", "/identity") == {"names": []}
        # Unknown pseudonyms cannot be unloaded or removed.
        for action in ("unload", "remove"):
            error = await service.call("GET", f"/identity/ghost/{action}", status=404)
            assert "ghost" in error["error"]
        # A bad rendezvous token is refused before anything is created.
        await service.call("GET", "/identity/p/peers", headers={"X-Rendezvous": "not base64!"}, status=400)
        assert await service.call("GET", "/identity") == {"names": []}
        assert await service.call("GET", "/identity/p/peers", headers={"X-Rendezvous": "YWJj"}) == {"peers": []}
        # Unknown peers and bad keys.
        for route, body in (("request", {"name": "a", "schema": "id_metadata"}), ("attest", {"name": "a",
                                                                                            "value": VALUE_B64}),
                            ("verify", {"hash": VALUE_B64, "value": VALUE_B64, "schema": "id_metadata"}),
                            ("allow", {"name": "a"}), ("disallow", {"name": "a"})):
            error = await service.call("PUT", f"/identity/p/{route}/{unknown}", body, status=404)
            assert error["success"] is False and error["error"].startswith("failed to find")
            await service.call("PUT", f"/identity/p/{route}/not%20base64", body, status=400)
            # Malformed JSON, a JSON array, missing fields.
            await service.call("PUT", f"/identity/p/{route}/{unknown}", raw_body=b"{not json", status=400,
                               headers={"Content-Type": "application/json", "X-Api-Key": KEY})
            await service.call("PUT", f"/identity/p/{route}/{unknown}", [], status=400)
            await service.call("PUT", f"/identity/p/{route}/{unknown}", {}, status=400)
        await service.call("GET", f"/identity/p/credentials/{unknown}", status=404)
        await service.call("GET", "/identity/p/credentials/%21%21", status=400)
        assert await service.call("GET", "/identity") == {"names": ["p"]}
