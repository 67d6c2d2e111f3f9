"""ipv8.test.util.wait_until: the one polling helper of the test suite."""
from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial import unittest

from ipv8.test.util import WaitTimeoutError, wait_until


def outcome(deferred: Any) -> list[Any]:
    seen: list[Any] = []
    deferred.addBoth(seen.append)
    return seen


def test_fires_at_once_when_the_condition_already_holds() -> None:
    clock = Clock()
    assert outcome(wait_until(lambda: True, clock=clock)) == [None]
    assert clock.getDelayedCalls() == []


def test_checks_every_step_until_the_condition_holds() -> None:
    clock = Clock()
    state = {"checks": 0, "ready": False}

    def condition() -> bool:
        state["checks"] += 1
        return state["ready"]

    seen = outcome(wait_until(condition, timeout=1.0, step=0.1, clock=clock))
    clock.advance(0.1)
    clock.advance(0.1)
    assert seen == [] and state["checks"] == 3
    state["ready"] = True
    clock.advance(0.1)
    assert seen == [None] and state["checks"] == 4
    assert clock.getDelayedCalls() == []


def test_fails_after_the_timeout_with_what_and_the_description() -> None:
    clock = Clock()
    seen = outcome(wait_until(lambda: False, timeout=0.5, step=0.1, clock=clock, what="pyipv8's pong",
                              describe=lambda: "peers: []"))
    clock.pump([0.1] * 4)
    assert seen == []
    clock.advance(0.1)
    assert len(seen) == 1 and seen[0].check(WaitTimeoutError)
    assert str(seen[0].value) == "pyipv8's pong not reached within 0.5 s. peers: []"
    assert isinstance(seen[0].value, AssertionError)


def test_rejects_nonsense_arguments() -> None:
    with pytest.raises(ValueError, match="step > 0"):
        wait_until(lambda: True, step=0)
    with pytest.raises(ValueError, match="timeout >= 0"):
        wait_until(lambda: True, timeout=-1)


class TestOnTheRealReactor(unittest.TestCase):
    timeout = 10

    @inlineCallbacks
    def test_yield_and_await_on_the_global_reactor(self) -> Any:
        from twisted.internet import reactor
        flags: list[bool] = []
        reactor.callLater(0.05, flags.append, True)
        yield wait_until(lambda: flags, timeout=2.0)
        self.assertEqual(flags, [True])
        with self.assertRaises(WaitTimeoutError):
            yield wait_until(lambda: False, timeout=0.05)
