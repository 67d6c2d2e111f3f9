"""The reactor lag probe (on a Clock) and the /debug/reactor resource (on the real reactor)."""
from __future__ import annotations

import time
from functools import partial

import pytest
from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater

from ipv8.REST.reactor_endpoint import ReactorLagProbe, callable_name
from ipv8.REST.rest_manager import RESTManager

from .support import HTTPClient, RESTTestCase


def test_ticks_on_time_show_no_lag() -> None:
    clock = Clock()
    probe = ReactorLagProbe(interval=0.5, clock=clock)
    probe.start()
    clock.pump([0.5] * 4)
    assert probe.samples == type(probe.samples)([(0.5, 0.0), (1.0, 0.0), (1.5, 0.0), (2.0, 0.0)])
    assert probe.summary()["max"] == 0.0


def test_a_blocked_reactor_shows_as_lag() -> None:
    clock = Clock()
    probe = ReactorLagProbe(interval=0.5, clock=clock)
    probe.start()
    clock.advance(0.8)  # the tick due at 0.5 runs 0.3 s late
    clock.advance(0.2)  # the next one, due at 1.0, is on time again
    clock.advance(1.7)  # blocked past three slots: the tick due at 1.5 runs at 2.7; 2.0 and 2.5 are skipped
    clock.advance(0.3)  # next slot: 3.0
    lags = [round(lag, 9) for _, lag in probe.samples]
    assert lags == [0.3, 0.0, 1.2, 0.0]
    summary = probe.summary()
    assert summary["samples"] == 4
    assert round(summary["max"], 9) == 1.2
    assert round(summary["mean"], 9) == 0.375
    assert summary["last"] == 0.0
    assert [round(entry["time"], 9) for entry in summary["recent"]] == [0.8, 1.0, 2.7, 3.0]


def test_stop_start_and_history() -> None:
    clock = Clock()
    probe = ReactorLagProbe(interval=1.0, history=3, clock=clock)
    assert probe.summary() == {"running": False, "interval": 1.0, "samples": 0, "last": None, "mean": None,
                               "max": None, "recent": []}
    probe.start()
    probe.start()  # no second loop
    clock.pump([1.0] * 5)
    assert len(probe.samples) == 3
    probe.stop()
    assert not probe.running and clock.getDelayedCalls() == []
    clock.advance(0.5)
    probe.start()
    clock.advance(1.0)
    assert probe.samples[-1] == (6.5, 0.0)


@pytest.mark.parametrize("kwargs", [{"interval": 0}, {"interval": -1}, {"interval": float("nan")},
                                    {"interval": "1"}, {"history": 0}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ReactorLagProbe(clock=Clock(), **kwargs)


def test_callable_names() -> None:
    assert callable_name(time.time) == "time.time"
    assert callable_name(ReactorLagProbe.summary) == "ipv8.REST.reactor_endpoint.ReactorLagProbe.summary"
    assert callable_name(partial(print, 1)) == "partial(builtins.print)"
    assert callable_name(42) == "42"


class TestReactorEndpoint(RESTTestCase):

    async def test_lag_delayed_calls_and_tasks(self) -> None:
        manager = RESTManager(self.session, lag_probe=ReactorLagProbe(interval=0.01))
        await manager.start(0)
        self.addCleanup(manager.stop)
        client = HTTPClient(manager.url)
        overlay = self.session.overlays[0]
        overlay.register_task("rest-test periodic", lambda: None, interval=60.0)
        overlay.register_task("rest-test once", lambda: None, delay=30.0)
        reactor_timer = reactor.callLater(45.0, lambda: None)
        self.addCleanup(reactor_timer.cancel)
        await deferLater(reactor, 0.1, lambda: None)

        state = (await client.get("/debug/reactor")).json
        lag = state["lag"]
        self.assertTrue(lag["running"])
        self.assertEqual(lag["interval"], 0.01)
        self.assertGreaterEqual(lag["samples"], 2)
        self.assertGreaterEqual(lag["max"], lag["mean"])
        self.assertGreaterEqual(lag["mean"], 0.0)
        self.assertLessEqual(len(lag["recent"]), 10)

        calls = state["delayed_calls"]
        self.assertEqual(calls["count"], len(reactor.getDelayedCalls()))
        self.assertEqual(len(calls["calls"]), calls["count"])
        self.assertFalse(calls["truncated"])
        due = [call["due_in"] for call in calls["calls"]]
        self.assertEqual(due, sorted(due))
        names = [call["callable"] for call in calls["calls"]]
        self.assertTrue(any("ReactorLagProbe._tick" in name for name in names), names)
        self.assertTrue(any(40 < call["due_in"] <= 45 and "lambda" in call["callable"] for call in calls["calls"]))

        owners = {entry["owner"]: entry["tasks"] for entry in state["task_managers"]}
        for task in owners["RESTTestCommunity"]:
            self.assertIsInstance(task.pop("start_time"), float)
        self.assertEqual(owners["RESTTestCommunity"], [
            {"name": "rest-test once", "periodic": False, "interval": None},
            {"name": "rest-test periodic", "periodic": True, "interval": 60.0}])
        self.assertEqual(owners["OtherTestCommunity"], [])

        limited = (await client.get("/debug/reactor?limit=1")).json["delayed_calls"]
        self.assertEqual((len(limited["calls"]), limited["truncated"]), (1, True))
        self.assertEqual(limited["calls"][0]["callable"], calls["calls"][0]["callable"])

        await manager.stop()
        self.assertFalse(manager.root_endpoint.child_endpoint("debug").child_endpoint("reactor").probe.running)
