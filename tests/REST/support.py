"""Shared pieces of the REST tests: a real IPv8 session on the in-memory internet and an HTTP client."""
from __future__ import annotations

import datetime
import ipaddress
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.ssl import Certificate
from twisted.internet.task import Clock, deferLater
from twisted.trial import unittest
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from ipv8.community import Community
from ipv8.configuration import (Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy,
                                WalkerDefinition)
from ipv8.REST.rest_manager import RESTManager
from ipv8.service import IPv8
from ipv8.test.mocking.endpoint import AutoMockEndpoint, Internet


class RESTTestCommunity(Community):
    """A community with no messages of its own: the discovery protocol is all the tests need."""

    community_id = bytes(range(20))


class OtherTestCommunity(Community):
    """A second community class, to tell overlays apart by name."""

    community_id = bytes(range(20, 40))


def build_session(internet: Internet, statistics: bool = True) -> tuple[IPv8, AutoMockEndpoint]:
    """
    A real IPv8 object with two communities on a mock endpoint of ``internet``, and that endpoint.

    The strategy loop runs on a Clock nobody advances, so nothing walks unless a test asks for it.
    """
    config = (ConfigBuilder().clear_keys().clear_overlays()
              .add_ephemeral_key("me")
              .set_walker_interval(1.0)
              .add_overlay("RESTTestCommunity", "me", [WalkerDefinition(Strategy.RandomWalk, 20, {})],
                           [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                                   {"ip_addresses": [], "dns_addresses": []})], {}, [])
              .add_overlay("OtherTestCommunity", "me", [], [], {}, [])
              .finalize())
    endpoint = AutoMockEndpoint(internet)
    session = IPv8(config, endpoint_override=endpoint, enable_statistics=statistics,
                   extra_communities={"RESTTestCommunity": RESTTestCommunity,
                                      "OtherTestCommunity": OtherTestCommunity},
                   reactor=Clock())
    return session, endpoint


@implementer(IBodyProducer)
class BytesProducer:
    """Sends a fixed request body."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer: Any) -> Deferred:  # noqa: N802
        consumer.write(self.body)
        return succeed(None)

    def pauseProducing(self) -> None:  # noqa: N802
        pass

    def stopProducing(self) -> None:  # noqa: N802
        pass


class _BodyCollector(Protocol):
    def __init__(self, done: Deferred) -> None:
        self.parts: list[bytes] = []
        self.done = done

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        self.parts.append(data)

    def connectionLost(self, reason: Any) -> None:  # noqa: N802, ANN401
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(reason)


def read_body(response: Any) -> Deferred:  # noqa: ANN401
    """The whole body of an Agent response."""
    done: Deferred = Deferred()
    response.deliverBody(_BodyCollector(done))
    return done


class HTTPResult:
    """Status, headers and body of one answer."""

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[-1] if values else None

    @property
    def json(self) -> Any:
        assert self.header("Content-Type") == "application/json", self.header("Content-Type")
        return json.loads(self.body)


class HTTPClient:
    """A small Agent-based client for one base URL; connections are never kept alive."""

    def __init__(self, base_url: str, trust_pem: bytes | None = None) -> None:
        self.base_url = base_url
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        if trust_pem is not None:
            policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(trust_pem))
            self.agent = Agent(reactor, contextFactory=policy, pool=self.pool)
        else:
            self.agent = Agent(reactor, pool=self.pool)

    async def request(self, method: str, path: str, body: Any = None,  # noqa: ANN401
                      headers: dict[str, str] | None = None, raw_body: bytes | None = None) -> HTTPResult:
        sent = Headers({name: [value] for name, value in (headers or {}).items()})
        producer = None
        if raw_body is None and body is not None:
            raw_body = json.dumps(body).encode()
            sent.setRawHeaders("Content-Type", ["application/json"])
        if raw_body is not None:
            producer = BytesProducer(raw_body)
        response = await self.agent.request(method.encode(), (self.base_url + path).encode(), sent, producer)
        content = await read_body(response)
        return HTTPResult(response.code, response.headers, content)

    async def get(self, path: str, **kwargs: Any) -> HTTPResult:  # noqa: ANN401
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> HTTPResult:  # noqa: ANN401
        return await self.request("POST", path, body, **kwargs)


def self_signed_certificate(host: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """A fresh (certificate PEM, private key PEM) pair valid for the IP address ``host``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


class RESTTestCase(unittest.TestCase):
    """Runs a real RESTManager on 127.0.0.1 (a free port) in front of a real IPv8 session."""

    timeout = 20
    #: Whether the session's endpoint keeps statistics.
    statistics = True

    async def start_manager(self, session: Any = None, **start_kwargs: Any) -> RESTManager:  # noqa: ANN401
        manager = RESTManager(session if session is not None else self.session)
        await manager.start(0, **start_kwargs)
        self.addCleanup(manager.stop)
        return manager

    async def setUp(self) -> None:
        self.internet = Internet(reactor)
        self.session, self.raw_endpoint = build_session(self.internet, self.statistics)
        await self.session.start()
        self.manager = await self.start_manager()
        self.client = HTTPClient(self.manager.url)

    async def tearDown(self) -> None:
        await self.manager.stop()
        await self.session.stop()
        self.internet.unregister(self.raw_endpoint)
        # Let the client side of the last connections notice that they are closed.
        await deferLater(reactor, 0.01, lambda: None)


class TwoSessions(RESTTestCase):
    """Our session (behind the REST API) and a second one on the same in-memory internet."""

    async def setUp(self) -> None:
        await super().setUp()
        self.other, self.other_endpoint = build_session(self.internet)
        await self.other.start()

    async def tearDown(self) -> None:
        await self.other.stop()
        self.internet.unregister(self.other_endpoint)
        await super().tearDown()

    async def settle(self) -> None:
        """Wait until the in-memory internet has delivered everything."""
        await deferLater(reactor, 0, lambda: None)
        while self.internet.in_flight:
            await deferLater(reactor, 0.001, lambda: None)
        self.assertEqual(self.internet.errors, [])

    async def introduce(self) -> None:
        """Our first community walks to the other session, which answers: both know each other."""
        self.session.overlays[0].walk_to(self.other_endpoint.wan_address)
        await self.settle()
