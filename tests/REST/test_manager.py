"""Starting, stopping and extending a RESTManager."""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock, deferLater
from twisted.web.client import Agent, HTTPConnectionPool

from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, api_method
from ipv8.REST.rest_manager import ConnectionTracker, RESTManager
from ipv8.REST.root_endpoint import RootEndpoint
from ipv8.REST.schema import obj

from .support import HTTPClient, RESTTestCase, read_body


class SessionEcho(BaseEndpoint):
    @api_method("GET", "How many overlays the session has.", {200: obj()})
    def get_count(self, request: APIRequest) -> dict[str, Any]:
        return {"overlays": len(self.session.overlays)}


class HangingEndpoint(BaseEndpoint):
    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[Deferred] = []

    @api_method("GET", "Never answers.", {200: obj()})
    def get_nothing(self, request: APIRequest) -> Deferred:
        self.waiting.append(Deferred())
        return self.waiting[-1]


class TestLifeCycle(RESTTestCase):

    async def test_port_zero_reports_the_real_port(self) -> None:
        manager = RESTManager(self.session)
        self.assertIsNone(manager.port)
        self.assertIsNone(manager.url)
        port = await manager.start(0)
        self.addCleanup(manager.stop)
        self.assertEqual(port, manager.port)
        self.assertEqual(port, manager.listening_port.getHost().port)
        self.assertNotEqual(port, 0)
        self.assertEqual(manager.url, f"http://127.0.0.1:{port}")
        self.assertEqual((await HTTPClient(manager.url).get("/network")).status, 200)

    async def test_start_twice_stop_twice_and_restart(self) -> None:
        manager = RESTManager(self.session)
        await manager.stop()  # not started: nothing to do
        first = await manager.start(0)
        with self.assertRaises(RuntimeError):
            await manager.start(0)
        self.assertEqual(manager.port, first)
        await manager.stop()
        await manager.stop()
        self.assertIsNone(manager.port)
        with self.assertRaises(Exception):  # noqa: B017 - connection refused, in whatever words the OS uses
            await HTTPClient(f"http://127.0.0.1:{first}").get("/network")
        await manager.start(0)
        self.addCleanup(manager.stop)
        self.assertEqual((await HTTPClient(manager.url).get("/network")).status, 200)

    async def test_a_taken_port_fails_cleanly(self) -> None:
        manager = RESTManager(self.session)
        with self.assertRaises(CannotListenError):
            await manager.start(self.manager.port)
        self.assertIsNone(manager.port)
        await manager.start(0)
        self.addCleanup(manager.stop)
        self.assertNotEqual(manager.port, self.manager.port)

    async def test_stop_closes_kept_alive_and_pending_connections(self) -> None:
        hanging = HangingEndpoint()
        self.manager.register_endpoint("hang", hanging)
        pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        agent = Agent(reactor, pool=pool)
        response = await agent.request(b"GET", (self.manager.url + "/network").encode())
        self.assertEqual(await read_body(response), b'{"peers": {}}')
        pending = Deferred.fromCoroutine(HTTPClient(self.manager.url).get("/hang"))
        pending.addErrback(lambda failure: None)  # the connection will be cut
        while not hanging.waiting:
            await deferLater(reactor, 0.005, lambda: None)
        tracker = self.manager._tracker
        self.assertEqual(len(tracker.protocols), 2)  # the idle kept-alive one and the hanging one
        started = reactor.seconds()
        await self.manager.stop()
        self.assertLess(reactor.seconds() - started, 1.0)
        self.assertEqual(tracker.protocols, {})
        self.assertTrue(hanging.waiting[0].called)  # cancelled because its client went away
        await pending

    async def test_endpoints_get_the_session_before_and_after_start(self) -> None:
        manager = RESTManager(self.session)
        early = manager.register_endpoint("early", SessionEcho())
        self.assertIsNone(early.session)
        await manager.start(0)
        self.addCleanup(manager.stop)
        late = manager.register_endpoint("late/count", SessionEcho())
        self.assertIs(early.session, self.session)
        self.assertIs(late.session, self.session)
        client = HTTPClient(manager.url)
        self.assertEqual((await client.get("/early")).json, {"overlays": 2})
        self.assertEqual((await client.get("/late/count")).json, {"overlays": 2})
        self.assertEqual((await client.get("/late")).status, 404)  # a grouping segment has no operations

    async def test_custom_root_class(self) -> None:
        class SmallRoot(RootEndpoint):
            def __init__(self) -> None:
                super().__init__()
                self.register_endpoint("count", SessionEcho())

        manager = RESTManager(self.session, root_endpoint_class=SmallRoot)
        await manager.start(0)
        self.addCleanup(manager.stop)
        self.assertIsInstance(manager.root_endpoint, SmallRoot)
        self.assertEqual((await HTTPClient(manager.url).get("/count")).json, {"overlays": 2})

    async def test_ipv6_loopback(self) -> None:
        manager = RESTManager(self.session)
        try:
            await manager.start(0, host="::1")
        except CannotListenError:
            self.skipTest("no IPv6 loopback here")
        self.addCleanup(manager.stop)
        self.assertEqual(manager.url, f"http://[::1]:{manager.port}")
        self.assertEqual((await HTTPClient(manager.url).get("/network")).status, 200)


class FakeConnection:
    def __init__(self, tracker: ConnectionTracker, stubborn: bool) -> None:
        self.tracker = tracker
        self.stubborn = stubborn
        self.aborted = False

    def loseConnection(self) -> None:  # noqa: N802
        if not self.stubborn:
            self.tracker.unregisterProtocol(self)

    def abortConnection(self) -> None:  # noqa: N802
        self.aborted = True
        self.tracker.unregisterProtocol(self)


def test_close_all_cuts_connections_that_do_not_close() -> None:
    clock = Clock()
    tracker = ConnectionTracker(object())
    polite, stubborn = FakeConnection(tracker, False), FakeConnection(tracker, True)
    tracker.registerProtocol(polite)
    tracker.registerProtocol(stubborn)
    closed = tracker.close_all(clock, timeout=5.0)
    assert not closed.called
    assert list(tracker.protocols) == [stubborn]
    clock.advance(5.0)
    assert closed.called and stubborn.aborted and not polite.aborted
    assert clock.getDelayedCalls() == []
    assert tracker.close_all(clock).called  # nothing open: done at once


class BrokenEndpoint(BaseEndpoint):
    def initialize(self, session: Any) -> None:  # noqa: ANN401
        raise RuntimeError("cannot start")


class TestBrokenResource(RESTTestCase):

    async def test_a_resource_that_fails_to_initialise_fails_start(self) -> None:
        manager = RESTManager(self.session)
        manager.register_endpoint("broken", BrokenEndpoint())
        with self.assertRaises(RuntimeError):
            await manager.start(0)
        self.assertIsNone(manager.port)
        probe = manager.root_endpoint.child_endpoint("debug").child_endpoint("reactor").probe
        self.assertFalse(probe.running)
