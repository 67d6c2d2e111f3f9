"""``/asyncio/tasks``, ``/asyncio/drift`` and ``/asyncio/debug``: py-ipv8's shapes, filled in from the reactor."""
from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import getDebugging
from twisted.internet.task import Clock
from twisted.logger import Logger, LogPublisher

from ipv8.REST.asyncio_endpoint import DriftMeasurementStrategy, ReactorDebugMonitor, session_clock

from .support import RESTTestCase


class FakeSession:
    walk_interval = 0.5


def test_drift_strategy_measures_late_steps() -> None:
    clock = Clock()
    strategy = DriftMeasurementStrategy(FakeSession(), clock)
    clock.advance(0.5)
    strategy.take_step()  # on time
    clock.advance(0.8)
    strategy.take_step()  # 0.3 s late
    clock.advance(0.2)
    strategy.take_step()  # early: no negative drift
    assert [(when, round(drift, 9)) for when, drift in strategy.history] == [(0.5, 0.0), (1.3, 0.3), (1.5, 0.0)]


def test_debug_monitor_reports_blocks_and_warnings() -> None:
    clock = Clock()
    publisher = LogPublisher()
    log = Logger(namespace="test", observer=publisher)
    monitor = ReactorDebugMonitor(clock, publisher)
    debugging_before = getDebugging()
    log.warn("not collected while off")
    monitor.enable()
    assert getDebugging() is True
    clock.pump([0.05] * 4)  # the reactor keeps up: nothing to report
    log.info("too unimportant")
    assert monitor.messages == []
    clock.advance(0.3)  # blocked: the tick due at 0.25 runs at 0.5
    assert monitor.messages == ["The reactor was blocked: a timer ran 0.250 seconds late "
                                "(slow_callback_duration is 0.100 seconds)"]
    monitor.slow_callback_duration = 0.5
    clock.advance(0.3)  # 0.25 s late again, below the new threshold
    log.warn("something odd: {what}", what="a warning")
    try:
        raise ValueError("boom")
    except ValueError:
        log.failure("it failed")
    messages = monitor.messages
    assert len(messages) == 3
    assert messages[1] == "something odd: a warning"
    assert messages[2].startswith("it failed\n") and "ValueError: boom" in messages[2]
    monitor.disable()
    assert monitor.messages == []
    assert getDebugging() is debugging_before
    assert clock.getDelayedCalls() == []
    log.warn("not collected after switching off")
    monitor.enable()
    assert monitor.messages == []
    monitor.disable()


class TestAsyncioRoutes(RESTTestCase):

    async def test_tasks(self) -> None:
        overlay = self.session.overlays[0]
        overlay.register_task("rest-test periodic", lambda: None, interval=60.0)
        overlay.register_task("rest-test once", lambda: None, delay=30.0)
        timer = reactor.callLater(45.0, lambda: None)
        self.addCleanup(timer.cancel)
        tasks = (await self.client.get("/asyncio/tasks")).json["tasks"]
        mine = [task for task in tasks if task.get("taskmanager") == "RESTTestCommunity"]
        for task in mine:
            self.assertLessEqual(abs(task.pop("start_time") - overlay.clock.seconds()), 5.0)  # registered just now
        self.assertIn({"name": "rest-test periodic", "running": False, "stack": [], "taskmanager": "RESTTestCommunity",
                       "interval": 60.0}, mine)
        self.assertIn({"name": "rest-test once", "running": False, "stack": [], "taskmanager": "RESTTestCommunity"},
                      mine)
        calls = [task for task in tasks if "due_in" in task]
        self.assertEqual(len(calls), len(reactor.getDelayedCalls()))
        self.assertTrue(any(40 < call["due_in"] <= 45 and "lambda" in call["name"] for call in calls))
        for task in tasks:
            self.assertEqual((task["running"], task["stack"]), (False, []))

    async def test_drift_on_and_off(self) -> None:
        result = await self.client.get("/asyncio/drift")
        self.assertEqual((result.status, result.json), (404, {"success": False, "error": "Core drift disabled.",
                                                              "error_code": "DriftDisabled"}))
        for body in ({}, {"enable": "yes"}):
            self.assertEqual((await self.client.request("PUT", "/asyncio/drift", body)).status, 400)
        self.assertEqual((await self.client.request("PUT", "/asyncio/drift")).status, 400)

        clock = session_clock(self.session)  # the Clock the session's strategy loop runs on
        self.assertIsInstance(clock, Clock)
        before = list(self.session.strategies)
        result = await self.client.request("PUT", "/asyncio/drift", {"enable": True})
        self.assertEqual((result.status, result.json), (200, {"success": True}))
        self.assertEqual(len(self.session.strategies), len(before) + 1)
        self.assertEqual((await self.client.request("PUT", "/asyncio/drift", {"enable": True})).status, 200)
        self.assertEqual(len(self.session.strategies), len(before) + 1)  # still one measuring strategy
        self.assertEqual((await self.client.get("/asyncio/drift")).json, {"measurements": []})

        # Two strategies share the 1 s walk interval: each is stepped once per second, in turn.
        clock.pump([0.5] * 6)
        measurements = (await self.client.get("/asyncio/drift")).json["measurements"]
        self.assertEqual(measurements, [{"timestamp": 1.0, "drift": 0.0}, {"timestamp": 2.0, "drift": 0.0},
                                        {"timestamp": 3.0, "drift": 0.0}])
        clock.advance(3.0)  # the reactor was blocked: the loop runs once at 6.0 (the walk), then at 6.5 (us)
        clock.pump([0.5] * 2)
        measurements = (await self.client.get("/asyncio/drift")).json["measurements"]
        self.assertEqual(measurements[-1], {"timestamp": 6.5, "drift": 2.5})  # 3.5 s after 3.0 instead of 1 s

        result = await self.client.request("PUT", "/asyncio/drift", {"enable": False})
        self.assertEqual(result.json, {"success": True})
        self.assertEqual(self.session.strategies, before)
        self.assertEqual((await self.client.get("/asyncio/drift")).status, 404)

    async def test_drift_strategy_leaves_with_the_manager(self) -> None:
        before = list(self.session.strategies)
        await self.client.request("PUT", "/asyncio/drift", {"enable": True})
        await self.manager.stop()
        self.assertEqual(self.session.strategies, before)

    async def test_debug_settings(self) -> None:
        result = await self.client.get("/asyncio/debug")
        self.assertEqual(result.json, {"messages": [], "enable": False, "slow_callback_duration": 0.1})
        result = await self.client.request("PUT", "/asyncio/debug", {})
        self.assertEqual(result.status, 400)
        self.assertIn("incorrect parameters", result.json["error"])
        for body in ({"enable": 1}, {"slow_callback_duration": -1}, {"slow_callback_duration": "0.5"}):
            self.assertEqual((await self.client.request("PUT", "/asyncio/debug", body)).status, 400, body)
        result = await self.client.request("PUT", "/asyncio/debug", {"slow_callback_duration": 0.25})
        self.assertEqual(result.json, {"success": True})
        self.assertEqual((await self.client.get("/asyncio/debug")).json["slow_callback_duration"], 0.25)

        debugging_before = getDebugging()
        self.addCleanup(lambda: self.assertEqual(getDebugging(), debugging_before))
        result = await self.client.request("PUT", "/asyncio/debug", {"enable": True, "slow_callback_duration": 5})
        self.assertEqual(result.json, {"success": True})
        Logger(namespace="rest-test").warn("a warning for the debug page")
        state = (await self.client.get("/asyncio/debug")).json
        self.assertEqual((state["enable"], state["slow_callback_duration"]), (True, 5.0))
        self.assertIn({"message": "a warning for the debug page"}, state["messages"])
        await self.client.request("PUT", "/asyncio/debug", {"enable": False})
        self.assertEqual((await self.client.get("/asyncio/debug")).json["messages"], [])
        # Stopping the manager switches debug mode off too.
        await self.client.request("PUT", "/asyncio/debug", {"enable": True})
        self.assertTrue(getDebugging())
        await self.manager.stop()
        self.assertEqual(getDebugging(), debugging_before)

    async def test_routes_are_declared_and_documented(self) -> None:
        spec = (await self.client.get("/docs/openapi.json")).json
        self.assertEqual(set(spec["paths"]["/asyncio/tasks"]), {"get"})
        self.assertEqual(set(spec["paths"]["/asyncio/drift"]), {"get", "put"})
        self.assertEqual(set(spec["paths"]["/asyncio/debug"]), {"get", "put"})
        self.assertIn("404", spec["paths"]["/asyncio/drift"]["get"]["responses"])
        self.assertNotIn("/asyncio", spec["paths"])  # a grouping segment, 404 like py-ipv8's
        self.assertEqual((await self.client.get("/asyncio")).status, 404)
