"""HTTPS: every accepted form of TLS settings, a client that trusts the test certificate, and bad settings."""
from __future__ import annotations

import ssl
import warnings
from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet.ssl import PrivateCertificate
from twisted.web.client import ResponseNeverReceived

from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, api_method
from ipv8.REST.rest_manager import RESTManager
from ipv8.REST.schema import obj
from ipv8.REST.tls import load_certificate_file, tls_wrapper

from .support import HTTPClient, RESTTestCase, self_signed_certificate


class SecureCheckEndpoint(BaseEndpoint):
    @api_method("GET", "Whether the request came over TLS.", {200: obj()})
    def get_secure(self, request: APIRequest) -> dict[str, Any]:
        return {"secure": request.raw.isSecure()}

    @api_method("POST", "Send the body back twice.", {200: obj()}, body=obj(("text",), text={"type": "string"}))
    def post_echo(self, request: APIRequest) -> dict[str, Any]:
        return {"twice": request.body["text"] * 2}


class TestTLS(RESTTestCase):

    async def setUp(self) -> None:
        await super().setUp()
        self.certificate, self.key = self_signed_certificate()
        self.cert_file = Path(self.mktemp())
        self.cert_file.write_bytes(self.certificate + self.key)
        self.manager.register_endpoint("secure", SecureCheckEndpoint())

    async def restart(self, **kwargs: Any) -> HTTPClient:  # noqa: ANN401
        await self.manager.stop()
        await self.manager.start(0, **kwargs)
        self.assertTrue(self.manager.url.startswith("https://127.0.0.1:"))
        return HTTPClient(self.manager.url, trust_pem=self.certificate)

    async def check_serves_https(self, client: HTTPClient, query: str = "") -> None:
        result = await client.get("/network" + query)
        self.assertEqual((result.status, result.json), (200, {"peers": {}}))
        self.assertEqual((await client.get("/secure" + query)).json, {"secure": True})
        # Many TLS records (at most 16 KiB each) in both directions.
        text = "".join(chr(ord("a") + index % 26) for index in range(100000))
        result = await client.post("/secure" + query, {"text": text})
        self.assertEqual((result.status, result.json), (200, {"twice": text * 2}))

    async def test_cert_file(self) -> None:
        await self.check_serves_https(await self.restart(cert_file=str(self.cert_file)))

    async def test_path_as_ssl_context(self) -> None:
        await self.check_serves_https(await self.restart(ssl_context=self.cert_file))

    async def test_standard_library_context_with_api_key(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file)
        client = await self.restart(ssl_context=context, api_key="key")
        self.assertEqual((await client.get("/network")).status, 401)
        self.assertEqual((await client.get("/network", headers={"X-Api-Key": "key"})).status, 200)
        self.assertEqual((await client.get("/docs/openapi.json")).status, 200)
        await self.check_serves_https(HTTPClient(self.manager.url, trust_pem=self.certificate),
                                      "?apikey=key")

    async def test_twisted_options_and_pyopenssl_context(self) -> None:
        options = PrivateCertificate.loadPEM(self.certificate + self.key).options()
        with warnings.catch_warnings():  # Twisted feeds pyOpenSSL objects to pyOpenSSL, which would rather not
            warnings.simplefilter("ignore", DeprecationWarning)
            options.getContext()
        await self.check_serves_https(await self.restart(ssl_context=options))
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.use_certificate_file(str(self.cert_file))
        context.use_privatekey_file(str(self.cert_file))
        await self.check_serves_https(await self.restart(ssl_context=context))

    async def test_a_client_that_does_not_trust_the_certificate_gets_nothing(self) -> None:
        await self.restart(cert_file=self.cert_file)
        stranger, _ = self_signed_certificate()
        with self.assertRaises(ResponseNeverReceived):
            await HTTPClient(self.manager.url, trust_pem=stranger).get("/network")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file)
        await self.restart(ssl_context=context)
        with self.assertRaises(ResponseNeverReceived):
            await HTTPClient(self.manager.url, trust_pem=stranger).get("/network")
        # Plain HTTP to the HTTPS port does not get an answer either; the server carries on.
        with self.assertRaises(Exception):  # noqa: B017 - the exact error depends on timing
            await HTTPClient(self.manager.url.replace("https", "http")).get("/network")
        trusted = HTTPClient(self.manager.url, trust_pem=self.certificate)
        self.assertEqual((await trusted.get("/network")).status, 200)

    async def test_refusals_over_tls(self) -> None:
        client = await self.restart(cert_file=self.cert_file, api_key="key", max_body_size=1000)
        result = await client.post("/secure", {"text": "x" * 5000}, headers={"X-Api-Key": "key"})
        self.assertEqual((result.status, result.json["error_code"]), (413, "PayloadTooLarge"))
        result = await client.get("/network", headers={"Origin": "https://evil.example"})
        self.assertEqual(result.status, 403)
        # Same origin over HTTPS is https://host:port.
        result = await client.get("/network", headers={"Origin": self.manager.url, "X-Api-Key": "key"})
        self.assertEqual(result.status, 200)
        self.assertEqual((await client.get("/network", headers={"X-Api-Key": "key"})).status, 200)

    async def test_unusable_settings_fail_start(self) -> None:
        only_certificate = Path(self.mktemp())
        only_certificate.write_bytes(self.certificate)
        _, other_key = self_signed_certificate()
        mismatched = Path(self.mktemp())
        mismatched.write_bytes(self.certificate + other_key)
        manager = RESTManager(self.session)
        for kwargs, error in [({"cert_file": only_certificate}, ValueError),
                              ({"cert_file": mismatched}, ValueError),
                              ({"cert_file": Path(self.mktemp())}, FileNotFoundError),
                              ({"cert_file": self.cert_file, "ssl_context": self.cert_file}, ValueError),
                              ({"ssl_context": 42}, TypeError),
                              ({"ssl_context": ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)}, ValueError)]:
            with self.assertRaises(error):
                await manager.start(0, **kwargs)
            self.assertIsNone(manager.port)

    def test_wrapper_selection(self) -> None:
        self.assertIsNone(tls_wrapper())
        self.assertTrue(load_certificate_file(self.cert_file).getContext())
