"""
The line protocol every pyipv8 driver script speaks with its test (standard library only).

A driver reports one JSON object per line on stdout (:func:`emit`) and, for the interop drivers, takes one JSON
command per line on stdin (:func:`serve_commands`): ``{"id": 1, "cmd": "report", ...}`` is answered with
``{"event": "reply", "id": 1, "ok": true, "result": ...}``, or with ``"ok": false`` plus ``error`` and
``traceback`` when the command raised. A :class:`Shutdown` decides when the driver stops and why: the first of
a stop request (the ``stop`` command, the end of stdin) and the deadline.

This module imports neither pyipv8 nor the loopback guard, so a driver may import it at any point; the interop
drivers still install the guard first. The NAT-lab driver (tests/netlab/reference/ref_node.py) puts this
directory on its ``sys.path`` to share :func:`emit`, :func:`stdin_lines` and :class:`Shutdown`.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

#: What answers a command: the decoded JSON object in, a JSON-serialisable result out.
Runner = Callable[[dict[str, Any]], Awaitable[Any]]


def emit(event: str, **fields: Any) -> None:  # noqa: ANN401
    """Write one event as a JSON line on stdout, flushed at once (the test reads the pipe as it comes)."""
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def stdin_lines() -> AsyncIterator[bytes]:
    """Every line that arrives on stdin (with its newline), without blocking the event loop; ends at EOF."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        yield line


class Shutdown:
    """
    When the driver stops, and why: :attr:`reason` resolves with the first reason given to :meth:`request`,
    or with ``"deadline"`` once ``deadline`` seconds have passed since this object was made.
    """

    def __init__(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        self.reason: asyncio.Future[str] = loop.create_future()
        loop.call_later(deadline, self.request, "deadline")

    @property
    def requested(self) -> bool:
        """Whether the driver has been told to stop."""
        return self.reason.done()

    def request(self, reason: str) -> None:
        """Ask the driver to stop; only the first request counts."""
        if not self.reason.done():
            self.reason.set_result(reason)


async def answer(run: Runner, command: dict[str, Any]) -> None:
    """Run one command and emit its ``reply``; a failure goes to the test (which fails with it), not to stderr."""
    try:
        result = await run(command)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
        emit("reply", id=command.get("id"), ok=False, error=f"{type(exc).__name__}: {exc}",
             traceback=traceback.format_exc())
    else:
        emit("reply", id=command.get("id"), ok=True, result=result)


async def serve_commands(run: Runner, shutdown: Shutdown) -> None:
    """
    Answer the JSON commands on stdin, each in its own task (a slow command does not hold up the next one);
    a line that is not JSON gets an ``error`` event. At the end of stdin, request ``shutdown``.
    """
    loop = asyncio.get_running_loop()
    async for line in stdin_lines():
        try:
            command = json.loads(line)
        except ValueError:
            emit("error", error=f"not JSON: {line!r}")
            continue
        loop.create_task(answer(run, command))
    shutdown.request("stdin closed")


async def serve_until_shutdown(run: Runner, shutdown: Shutdown) -> str:
    """Serve the commands on stdin (:func:`serve_commands`) until ``shutdown`` is requested; returns why."""
    commands = asyncio.get_running_loop().create_task(serve_commands(run, shutdown))
    reason = await shutdown.reason
    commands.cancel()
    return reason


class CommandDispatcher:
    """
    A :data:`Runner` that hands command ``{"cmd": "NAME", ...}`` to the subclass's ``cmd_NAME`` coroutine method;
    ``stop`` is built in and requests the shutdown.
    """

    def __init__(self, shutdown: Shutdown) -> None:
        self.shutdown = shutdown

    async def run(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """The result of the command's handler; an unknown command raises :class:`ValueError`."""
        handler = getattr(self, "cmd_" + str(command.get("cmd")), None)
        if handler is None:
            raise ValueError(f"unknown command {command.get('cmd')!r}")
        return await handler(command)

    async def cmd_stop(self, command: dict[str, Any]) -> Any:  # noqa: ANN401, ARG002
        """Stop the driver (it answers first, then leaves)."""
        self.shutdown.request("stop command")
        return None


async def stop_within(stopping: Awaitable[Any], seconds: float, what: str) -> None:
    """Wait at most ``seconds`` for ``stopping``; a failure or a timeout is only noted on stderr."""
    try:
        await asyncio.wait_for(stopping, seconds)
    except Exception as exc:  # noqa: BLE001 - we are leaving anyway
        print(f"{what} failed: {exc!r}", file=sys.stderr)


def run_to_exit(main: Coroutine[Any, Any, None]) -> None:
    """Run the driver's ``main`` and leave the process at once, without waiting for stray executor threads."""
    asyncio.run(main)
    sys.stdout.flush()
    os._exit(0)
