"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe``, for tests that watch a live page.

Chromium reads commands from its file descriptor 3 and writes answers and events to descriptor 4, each a JSON
text ended by a NUL byte; no port is opened and no websocket library is needed. Only what the browser tests
use is here: open a page, evaluate an expression in it (polling until it holds), take a screenshot.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater

#: Seconds one protocol command may take before the test fails.
COMMAND_TIMEOUT = 20.0
#: Bytes of Chromium's own output kept for error messages.
KEEP_OUTPUT = 8192


class CDPError(Exception):
    """Chromium refused a command, exited, or an expression threw in the page."""


class _Pipes(ProcessProtocol):
    def __init__(self, browser: Browser) -> None:
        self.browser = browser

    def childDataReceived(self, fd: int, data: bytes) -> None:  # noqa: N802 - Twisted's name
        if fd == 4:
            self.browser._feed(data)
        else:
            self.browser.output = (self.browser.output + data)[-KEEP_OUTPUT:]

    def processEnded(self, reason: Any) -> None:  # noqa: N802, ANN401 - Twisted's name
        self.browser._ended()


class Browser:
    """One headless Chromium driven through its debugging pipe."""

    def __init__(self) -> None:
        self.output = b""
        self.transport: Any = None
        self.exited: Deferred = Deferred()
        self._buffer = b""
        self._next_id = 0
        self._waiting: dict[int, Deferred] = {}

    @classmethod
    def launch(cls, executable: str, arguments: list[str], env: dict[str, str]) -> Browser:
        """Start Chromium with ``arguments`` (``--remote-debugging-pipe`` is added)."""
        browser = cls()
        browser.transport = reactor.spawnProcess(
            _Pipes(browser), executable, [executable, *arguments, "--remote-debugging-pipe"], env=env,
            childFDs={0: "w", 1: "r", 2: "r", 3: "w", 4: "r"})
        return browser

    def _feed(self, data: bytes) -> None:
        self._buffer += data
        while b"\0" in self._buffer:
            text, self._buffer = self._buffer.split(b"\0", 1)
            message = json.loads(text)
            waiter = self._waiting.pop(message.get("id", -1), None)
            if waiter is None:
                continue  # an event: nothing here listens to events
            if "error" in message:
                waiter.errback(CDPError(f"{message['error']}"))
            else:
                waiter.callback(message.get("result", {}))

    def _ended(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            waiter.errback(CDPError("chromium exited: " + self.output.decode("utf-8", "replace")[-2000:]))
        if not self.exited.called:
            self.exited.callback(None)

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
                   timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        """Send one command; its result."""
        if self.exited.called:
            raise CDPError("chromium is not running: " + self.output.decode("utf-8", "replace")[-2000:])
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        waiter: Deferred = Deferred()
        self._waiting[self._next_id] = waiter
        waiter.addTimeout(timeout, reactor)
        self.transport.writeToChild(3, json.dumps(message).encode("utf-8") + b"\0")
        return await waiter

    async def open(self, url: str) -> Page:
        """A new tab showing ``url``."""
        target = await self.send("Target.createTarget", {"url": url})
        attached = await self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        return Page(self, attached["sessionId"])

    async def close(self) -> None:
        """Ask Chromium to quit; kill it if it does not within a few seconds."""
        if self.exited.called:
            return
        with contextlib.suppress(Exception):  # it may exit before it answers
            await self.send("Browser.close", timeout=5)
        if not self.exited.called:
            timer = reactor.callLater(5, self._kill)
            await self.exited
            if timer.active():
                timer.cancel()

    def _kill(self) -> None:
        with contextlib.suppress(Exception):  # already gone
            self.transport.signalProcess("KILL")


class Page:
    """One tab of a :class:`Browser`."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def evaluate(self, expression: str) -> Any:  # noqa: ANN401 - whatever the page returns
        """The JSON value of ``expression`` evaluated in the page (promises are awaited)."""
        answer = await self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                              "awaitPromise": True}, self.session)
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise CDPError(f"{expression!r} threw: {details.get('exception', {}).get('description') or details}")
        return answer.get("result", {}).get("value")

    async def wait_for(self, expression: str, what: str, timeout: float = 15.0, interval: float = 0.2) -> Any:  # noqa: ANN401
        """Evaluate ``expression`` until its value is truthy; that value. Fails after ``timeout`` seconds.

        An expression that throws counts as not yet true (the page may still be loading or redrawing); the
        last error is in the failure message.
        """
        deadline = reactor.seconds() + timeout
        value: Any = None
        while True:
            try:
                value = await self.evaluate(expression)
            except CDPError as exc:
                value = exc
            else:
                if value:
                    return value
            if reactor.seconds() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {value!r}")
            await deferLater(reactor, interval, lambda: None)

    async def screenshot(self, path: Path) -> None:
        """Save a PNG of the whole page at ``path``."""
        shot = await self.browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                                       self.session)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(base64.b64decode(shot["data"]))
        os.replace(temporary, path)


__all__ = ["Browser", "CDPError", "Page"]
