"""``ipv8.util.run_forever`` and the py-ipv8 names of ``ipv8.types``."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
from twisted.internet.base import _ThreePhaseEvent
from twisted.internet.defer import CancelledError

from ipv8.util import run_forever

ROOT = Path(__file__).resolve().parent.parent


class TriggerReactor:
    """Just the system-event part of a reactor, built on Twisted's own three-phase event."""

    def __init__(self) -> None:
        self.events: dict[str, _ThreePhaseEvent] = {}

    def addSystemEventTrigger(  # noqa: N802 - the reactor's method name
            self, phase: str, event: str, call: Callable[..., Any], *args: Any) -> tuple:
        return event, self.events.setdefault(event, _ThreePhaseEvent()).addTrigger(phase, call, *args)

    def removeSystemEventTrigger(self, handle: tuple) -> None:  # noqa: N802
        event, inner = handle
        self.events[event].removeTrigger(inner)

    def fire(self, event: str) -> None:
        self.events.setdefault(event, _ThreePhaseEvent()).fireEvent()


def test_run_forever_fires_when_the_reactor_shuts_down() -> None:
    reactor = TriggerReactor()
    waiting = run_forever(reactor)
    reactor.fire("startup")
    assert not waiting.called
    reactor.fire("shutdown")
    assert waiting.called
    assert waiting.result is None


def test_cancelling_run_forever_removes_its_trigger() -> None:
    reactor = TriggerReactor()
    waiting = run_forever(reactor)
    waiting.cancel()
    failures: list = []
    waiting.addErrback(failures.append)
    assert failures[0].check(CancelledError)
    assert reactor.events["shutdown"].before == []
    reactor.fire("shutdown")  # nothing left to fire twice


def test_run_forever_under_react_waits_for_shutdown_triggers(tmp_path: Path) -> None:
    # A real reactor: react() runs it, something stops it, the awaiting code goes on and the Deferred returned
    # by a "before shutdown" trigger is waited for before the process ends.
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        from twisted.internet.defer import ensureDeferred
        from twisted.internet.task import deferLater, react
        from ipv8.util import run_forever

        async def main(reactor):
            reactor.addSystemEventTrigger(
                "before", "shutdown", lambda: deferLater(reactor, 0.2, print, "cleanup done", flush=True))
            reactor.callLater(0.1, reactor.stop)
            print("running", flush=True)
            await run_forever(reactor)
            print("shutting down", flush=True)

        react(lambda reactor: ensureDeferred(main(reactor)))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == ["running", "shutting down", "cleanup done", ""]


@pytest.mark.parametrize("name", ["Address", "DataclassPayload", "DictCastable", "Community", "ConfigBuilder",
                                  "Endpoint", "IPv8", "Key", "NumberCache", "Overlay", "Payload", "Peer",
                                  "PrivateKey", "PublicKey", "AnyPayload", "AnyPayloadType"])
def test_types_names_import_in_a_fresh_interpreter(name: str) -> None:
    # A fresh interpreter: importing ipv8.types first must not trip over an import cycle.
    code = f"from ipv8.types import {name}; import ipv8.types as t; print({name} is getattr(t, {name!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "True\n"


def test_types_aliases_are_the_real_classes() -> None:
    import ipv8.types as types
    from ipv8.community import Community
    from ipv8.keyvault.keys import PrivateKey
    from ipv8.messaging.serialization import Payload
    from ipv8.peer import Peer
    from ipv8.service import IPv8

    assert types.Peer is Peer
    assert types.Community is Community
    assert types.PrivateKey is PrivateKey
    assert types.IPv8 is IPv8
    assert Payload in types.AnyPayload.__args__
    assert "Peer" in dir(types)
    assert set(types.__all__) == {*types._LAZY, "Address", "AnyPayload", "AnyPayloadType", "DataclassPayload",
                                  "DictCastable"}
    with pytest.raises(AttributeError):
        types.Attestation  # noqa: B018 - py-ipv8's attestation modules are not part of txipv8
