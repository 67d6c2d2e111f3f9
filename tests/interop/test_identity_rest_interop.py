"""
The IPv8 documentation's attestation flows ("Using the IPv8 attestation service") over real HTTP between one
pyipv8 3.2.1 service and one txipv8 service, in both roles.

The pyipv8 service is the documentation's ``main.py`` (no overlays of its own, a working directory, its REST API)
run by the reference interpreter (``reference/ref_identity_service.py``); the txipv8 service is the same thing in
this process. Both pseudonym overlays bootstrap from ``DISPERSY_BOOTSTRAPPER``, which both processes point at one
txipv8 tracker on 127.0.0.1 (never the public list). Every step is the documentation's curl request, sent to the
right REST API, and every answer is checked for the documented JSON keys: the sanity checks (each pseudonym sees
the other, no credentials yet), the attestation request, the outstanding request at the authority, the attestation,
the owner's credential signed by the authority; then the verification request by the authority, the outstanding
verification at the owner, the owner's consent and the authority's verification output.

pyipv8 3.2.1's REST layer needs ``marshmallow<4``; it is installed the way test_rest_compat.py does it. Without the
reference interpreter (or that install) the tests are skipped with the reason, and under ``CI=true`` that skip
fails the run (tests/conftest.py).

A third test sends the same ``/identity`` requests to both services (test_rest_compat.py leaves these routes out:
they create pseudonyms) and compares status and JSON structure; where txipv8 answers differently on purpose (a
404/400 with a message where pyipv8 answers 200 ``{success: false}``, names that would escape the pseudonym
folder) the table :data:`DELIBERATE` says why.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from ipv8 import configuration
from ipv8.configuration import ConfigBuilder
from ipv8.messaging.addresses import UDPv4Address
from ipv8.REST.rest_manager import RESTManager
from ipv8.service import IPv8
from ipv8.tracker import TrackerService

from ..REST.support import HTTPClient
from .harness import PEER_DEADLINE, InteropTestCase, RefPeer
from .refenv import reference_env
from .test_rest_compat import DEPS_DIR, reference_rest_node, shape, shape_differences

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_identity_service.py"
API_KEY = "identity-interop-key"
VALUE_B64 = "dmFsdWU="  # b"value", the documentation's attribute value
#: Seconds any one documented step may take to show its effect on the other side.
STEP_TIMEOUT = 15.0
#: The documentation's example key (base64, URL-quoted): no peer of these tests has it.
UNKNOWN_KEY = quote("TGliTmFDTFBLOg/rrouc7qXT1ZKxHFvzxb4IVRYDPdbN4n7eFFuaT385YNW4aoh3Mruv+hSjbssLYmps+jlh9rb250LYD7gEH20=",
                    safe="")

#: Requests both services answer with the same status and the same JSON structure, in this order (on fresh
#: services: the first request creates pseudonym ``p``).
SAME_ANSWERS: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/identity", None),
    ("GET", "/identity/p/schemas", None),
    ("GET", "/identity/p/public_key", None),
    ("GET", "/identity/p/credentials", None),
    ("GET", "/identity/p/peers", None),
    ("GET", "/identity/p/outstanding/attestations", None),
    ("GET", "/identity/p/outstanding/verifications", None),
    ("GET", "/identity/p/verifications", None),
    ("GET", "/identity", None),
    ("GET", "/identity/p/unload", None),
    ("GET", "/identity", None),
)
#: Requests txipv8 answers differently on purpose: (method, path, body, txipv8's status, why). txipv8's answer is
#: its error body ``{success: false, error, error_code}``; pyipv8's (whatever it is) is only shown on failure.
DELIBERATE: tuple[tuple[str, str, Any, int, str], ...] = (
    ("GET", f"/identity/p/credentials/{UNKNOWN_KEY}", None, 404,
     "an unknown peer: pyipv8 answers 200 {success: false, error}, txipv8 a 404 with the same keys"),
    ("GET", "/identity/p/credentials/%21%21", None, 400,
     "a key that is not base64: pyipv8 treats it as an unknown peer (200), txipv8 says what is wrong (400)"),
    ("GET", "/identity/ghost/unload", None, 404,
     "an unknown pseudonym: pyipv8 answers 200 {success: true} and does nothing"),
    ("GET", "/identity/ghost/remove", None, 404, "the same, for remove"),
    ("PUT", f"/identity/p/request/{UNKNOWN_KEY}", {"name": "a", "schema": "id_metadata", "metadata": {}}, 404,
     "an unknown authority (pyipv8: 200 {success: false, error})"),
    ("PUT", f"/identity/p/attest/{UNKNOWN_KEY}", {"name": "a", "value": VALUE_B64}, 404, "an unknown subject"),
    ("PUT", f"/identity/p/verify/{UNKNOWN_KEY}", {"hash": VALUE_B64, "value": VALUE_B64, "schema": "id_metadata"},
     404, "an unknown subject"),
    ("PUT", f"/identity/p/allow/{UNKNOWN_KEY}", {"name": "a"}, 404, "an unknown verifier"),
    ("PUT", f"/identity/p/disallow/{UNKNOWN_KEY}", {"name": "a"}, 404, "an unknown verifier"),
    ("PUT", "/identity/p/request/not%20base64", {"name": "a", "schema": "id_metadata"}, 400,
     "a key that is not base64 (pyipv8: an unknown authority, 200, or its decoding error, 500)"),
    ("PUT", f"/identity/p/request/{UNKNOWN_KEY}", {}, 400,
     "missing fields: both answer 400; pyipv8's body is {error}, txipv8's {success: false, error, error_code}"),
    ("PUT", f"/identity/p/attest/{UNKNOWN_KEY}", {}, 400, "missing fields, as above"),
    ("GET", "/identity/..%2Fx/public_key", None, 400,
     ("a pseudonym name is a file name: pyipv8 creates the key file ../x outside its pseudonym folder, txipv8 "
      "refuses names that are not plain file names")),
)


class RESTService:
    """One service's REST API as the documentation's curl commands use it (with the API key)."""

    def __init__(self, name: str, base_url: str) -> None:
        self.name = name
        self.client = HTTPClient(base_url)

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """Send one request; the answer must have ``status`` and a JSON body, which is returned."""
        result = await self.client.request(method, path, body, headers={"X-Api-Key": API_KEY})
        content_type = result.header("Content-Type") or ""
        assert result.status == status, (self.name, method, path, result.status, result.body[:500])
        assert content_type.startswith("application/json"), (self.name, method, path, content_type)
        return json.loads(result.body)

    async def poll(self, path: str, done: Any, what: str, timeout: float = STEP_TIMEOUT) -> Any:
        """GET ``path`` until ``done(answer)`` holds; the last answer. Fails after ``timeout`` seconds."""
        end = reactor.seconds() + timeout
        while True:
            answer = await self.call("GET", path)
            if done(answer):
                return answer
            if reactor.seconds() > end:
                raise AssertionError(f"{self.name}: {what} not seen within {timeout} s; last answer of {path}: "
                                     f"{answer}")
            await deferLater(reactor, 0.1, lambda: None)


class TestIdentityRESTInterop(InteropTestCase):
    """Both documented flows, once with pyipv8 as the authority and once with txipv8 as the authority."""

    timeout = 90

    def setUp(self) -> None:
        super().setUp()
        python, reason = reference_rest_node()
        if python is None:
            raise unittest.SkipTest(reason)
        self.python = python
        saved = dict(configuration.DISPERSY_BOOTSTRAPPER["init"])
        self.addCleanup(configuration.DISPERSY_BOOTSTRAPPER["init"].update, saved)
        self.tracker = TrackerService(0, "127.0.0.1")
        self.tracker.startService()
        self.addCleanup(self.tracker.stopService)
        # Our pseudonyms bootstrap from the local tracker only (the reference service is told the same).
        configuration.DISPERSY_BOOTSTRAPPER["init"].update(ip_addresses=[self.tracker_address], dns_addresses=[])

    @property
    def tracker_address(self) -> UDPv4Address:
        return UDPv4Address(*self.tracker.get_address())

    async def start_pyipv8(self) -> RESTService:
        """The documentation's service, run by pyipv8 3.2.1 in the reference interpreter."""
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        settings = {"deadline": PEER_DEADLINE + 30, "api_key": API_KEY, "working_directory": directory,
                    "trackers": [list(self.tracker_address)], "extra_path": str(DEPS_DIR)}
        reference = RefPeer("pyipv8 identity service")
        python = str(self.python)
        reactor.spawnProcess(reference, python, [python, "-u", str(DRIVER), json.dumps(settings)],
                             env=reference_env(), path=directory)
        self.addCleanup(self.check_exit, reference)
        self.addCleanup(reference.stop, 4.0)
        await reference.wait_for(lambda p: p.ready is not None, 20.0, "the ready event")
        self.reference = reference
        return RESTService("pyipv8", f"http://127.0.0.1:{reference.ready['rest_port']}")

    async def start_txipv8(self) -> RESTService:
        """The same service, run by txipv8 in this process (its state in a fresh working directory)."""
        directory = self.mktemp()
        os.makedirs(directory)
        config = (ConfigBuilder().clear_keys().clear_overlays().add_ephemeral_key("anonymous id")
                  .set_address("127.0.0.1").set_port(0).set_working_directory(directory).finalize())
        ipv8 = IPv8(config)
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        manager = RESTManager(ipv8)
        await manager.start(0, "127.0.0.1", api_key=API_KEY)

        async def stop() -> None:
            await manager.stop()
            await manager.root_endpoint.child_endpoint("identity").stopping
        self.addCleanup(stop)
        return RESTService("txipv8", manager.url)

    async def sanity_check(self, peer1: RESTService, peer2: RESTService) -> tuple[str, str]:
        """Step 0: the pseudonyms see each other (lazily created, they need a moment); returns both keys."""
        key1 = (await peer1.call("GET", "/identity/pseudonym1/public_key"))["public_key"]
        key2 = (await peer2.call("GET", "/identity/pseudonym2/public_key"))["public_key"]
        await peer1.poll("/identity/pseudonym1/peers", lambda a: a == {"peers": [key2]}, "pseudonym2 as a peer")
        await peer2.poll("/identity/pseudonym2/peers", lambda a: a == {"peers": [key1]}, "pseudonym1 as a peer")
        return key1, key2

    async def enrollment(self, peer1: RESTService, peer2: RESTService) -> tuple[str, str, str]:
        """The enrollment flow: peer 1 (owner) asks peer 2 (authority); returns both keys and the hash."""
        key1, key2 = await self.sanity_check(peer1, peer2)
        assert await peer1.call("GET", "/identity/pseudonym1/credentials") == {"names": []}
        assert await peer2.call("GET", "/identity/pseudonym2/credentials") == {"names": []}

        # 1. Attestation request.
        answer = await peer1.call("PUT", f"/identity/pseudonym1/request/{quote(key2, safe='')}",
                                  {"name": "my_attribute", "schema": "id_metadata", "metadata": {}})
        assert answer == {"success": True}, answer

        # 2. Attestation: the authority finds the request and attests the value.
        outstanding = await peer2.poll("/identity/pseudonym2/outstanding/attestations", lambda a: a["requests"],
                                       "the outstanding attestation request")
        assert outstanding == {"requests": [{"peer": key1, "attribute_name": "my_attribute", "metadata": "{}"}]}, \
            outstanding
        answer = await peer2.call("PUT", f"/identity/pseudonym2/attest/{quote(key1, safe='')}",
                                  {"name": "my_attribute", "value": VALUE_B64})
        assert answer == {"success": True}, answer

        # 3. Check: the owner has the credential, signed by the authority.
        credentials = await peer1.poll("/identity/pseudonym1/credentials",
                                       lambda a: a["names"] and a["names"][0]["attesters"], "the signed credential")
        [credential] = credentials["names"]
        assert set(credential) == {"name", "hash", "metadata", "attesters"}, credential
        assert credential["name"] == "my_attribute"
        assert credential["attesters"] == [key2]
        assert {"name", "schema", "date"} <= set(credential["metadata"]), credential["metadata"]
        assert (credential["metadata"]["name"], credential["metadata"]["schema"]) == ("my_attribute", "id_metadata")
        assert isinstance(credential["metadata"]["date"], float)
        assert len(credential["hash"]) == 28  # 20 bytes, base64, as the documentation shows
        assert await peer2.call("GET", "/identity/pseudonym2/credentials") == {"names": []}
        return key1, key2, credential["hash"]

    async def verification(self, peer1: RESTService, peer2: RESTService, key1: str, key2: str,
                           attribute_hash: str) -> None:
        """The attribute verification flow: peer 2 verifies peer 1's attribute ``attribute_hash``."""
        assert await self.sanity_check(peer1, peer2) == (key1, key2)
        [credential] = (await peer1.call("GET", "/identity/pseudonym1/credentials"))["names"]
        assert (credential["hash"], credential["attesters"]) == (attribute_hash, [key2])
        assert await peer2.call("GET", "/identity/pseudonym2/credentials") == {"names": []}

        # 1. Verification request.
        answer = await peer2.call("PUT", f"/identity/pseudonym2/verify/{quote(key1, safe='')}",
                                  {"hash": attribute_hash, "value": VALUE_B64, "schema": "id_metadata"})
        assert answer == {"success": True}, answer

        # 2. Verification: the owner finds the request and allows it.
        outstanding = await peer1.poll("/identity/pseudonym1/outstanding/verifications", lambda a: a["requests"],
                                       "the outstanding verification request")
        assert outstanding == {"requests": [{"peer": key2, "attribute_name": "my_attribute"}]}, outstanding
        answer = await peer1.call("PUT", f"/identity/pseudonym1/allow/{quote(key2, safe='')}",
                                  {"name": "my_attribute"})
        assert answer == {"success": True}, answer

        # 3. Check: the verifier's output.
        outputs = await peer2.poll("/identity/pseudonym2/verifications", lambda a: a["outputs"],
                                   "the verification output", timeout=30.0)
        [output] = outputs["outputs"]
        assert set(output) == {"hash", "reference", "match"}, output
        assert (output["hash"], output["reference"]) == (attribute_hash, VALUE_B64)
        assert output["match"] > 0.99, output
        assert await peer1.call("GET", "/identity/pseudonym1/outstanding/verifications") == {"requests": []}

    async def both_flows(self, peer1: RESTService, peer2: RESTService) -> None:
        key1, key2, attribute_hash = await self.enrollment(peer1, peer2)
        await self.verification(peer1, peer2, key1, key2, attribute_hash)
        # The reference service stays on 127.0.0.1: its loopback guard refused nothing.
        await self.finish(self.reference)

    async def test_identity_routes_answer_like_pyipv8(self) -> None:
        """The same requests to both services: the same status and JSON structure, or a deliberate difference."""
        services = (await self.start_txipv8(), await self.start_pyipv8())

        async def ask(method: str, path: str, body: Any) -> list[tuple[int, Any]]:
            answers = []
            for service in services:
                result = await service.client.request(method, path, body, headers={"X-Api-Key": API_KEY})
                assert (result.header("Content-Type") or "").startswith("application/json"), (service.name, path)
                answers.append((result.status, json.loads(result.body)))
            return answers

        mismatches = []
        for method, path, body in SAME_ANSWERS:
            (tx_status, tx_body), (py_status, py_body) = await ask(method, path, body)
            differences = shape_differences(shape(tx_body), shape(py_body))
            if tx_status != py_status or differences:
                mismatches.append(f"{method} {path}: txipv8 {tx_status} {tx_body} / pyipv8 {py_status} {py_body}")
        for method, path, body, status, why in DELIBERATE:
            (tx_status, tx_body), (py_status, py_body) = await ask(method, path, body)
            if tx_status != status or shape(tx_body) != {"success": "boolean", "error": "string",
                                                         "error_code": "string"} or tx_body["success"]:
                mismatches.append(f"{method} {path} ({why}): txipv8 {tx_status} {tx_body} / pyipv8 {py_status} "
                                  f"{py_body}")
        assert not mismatches, "\n".join(mismatches)
        await self.finish(self.reference)

    async def test_pyipv8_attests_and_verifies_txipv8(self) -> None:
        """txipv8 is peer 1 (the owner), pyipv8 peer 2 (the authority and verifier)."""
        owner = await self.start_txipv8()
        authority = await self.start_pyipv8()
        await self.both_flows(owner, authority)

    async def test_txipv8_attests_and_verifies_pyipv8(self) -> None:
        """pyipv8 is peer 1 (the owner), txipv8 peer 2 (the authority and verifier)."""
        owner = await self.start_pyipv8()
        authority = await self.start_txipv8()
        await self.both_flows(owner, authority)
