"""Ending a ``twistd`` process whose application could not start: one line on stderr, exit status 1.

twistd calls ``startService`` before its reactor runs, and neither twistd nor the reactor can end the process
with a chosen exit status. A service that cannot start (a port that cannot be bound, an ``on_start`` call
that fails) hands the problem to a :class:`StartupAbort`, which

* writes ``<program>: error: <message>`` on stderr, once, without a traceback;
* stops the reactor (right away, or as soon as it runs), so twistd stops every service in the tree and
  closes every port it opened;
* makes the process exit with status 1 once twistd is done (see :func:`exit_with_status_one`).

Tests give the abort their own ``stop_reactor`` and ``set_exit_status`` callables, so nothing of this
reaches the test process.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import IO, Any, Callable

__all__ = ["StartupAbort", "exit_with_status_one", "one_line"]


def one_line(text: object) -> str:
    """``text`` as a single line: whitespace runs (newlines included) become one space."""
    return " ".join(str(text).split()) or "unknown error"


def _exit_now_with_status_one() -> None:
    # Runs as the first atexit handler, after twistd returned from its main loop and removed its pid file.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing left to flush
            pass
    os._exit(1)


def exit_with_status_one() -> None:
    """Make the interpreter exit with status 1 instead of 0 when it ends (twistd itself always exits 0)."""
    atexit.register(_exit_now_with_status_one)


def _stop_global_reactor() -> None:
    from twisted.internet import reactor
    if reactor.running:
        reactor.stop()
    else:
        # twistd starts the services before it runs the reactor: stop as soon as it runs.
        reactor.callWhenRunning(reactor.stop)


class StartupAbort:
    """
    Gives up on starting a ``twistd`` application (see the module documentation); only the first call acts.

    :param program: the name the error line starts with, e.g. ``"twistd ipv8"``.
    :param stop_reactor: stops the reactor (default: the global reactor, now or once it runs).
    :param set_exit_status: arranges the exit status 1 (default: :func:`exit_with_status_one`).
    :param stderr: where the line goes (default: the process's stderr, ``sys.__stderr__``).
    """

    def __init__(self, program: str, stop_reactor: Callable[[], Any] | None = None,
                 set_exit_status: Callable[[], Any] | None = None, stderr: IO[str] | None = None) -> None:
        self.program = program
        self._stop_reactor = stop_reactor or _stop_global_reactor
        self._set_exit_status = set_exit_status or exit_with_status_one
        self._stderr = stderr
        #: The message of the first abort, or None.
        self.message: str | None = None

    @property
    def aborted(self) -> bool:
        """Whether the start was given up."""
        return self.message is not None

    def __call__(self, message: object) -> None:
        """Give up: report ``message`` (made one line), stop the reactor, exit 1 at the end."""
        if self.message is not None:
            return
        self.message = one_line(message)
        # twistd replaces sys.stderr by a log file once it logs; the process's real stderr is __stderr__.
        stream = self._stderr or sys.__stderr__ or sys.stderr
        stream.write(f"{self.program}: error: {self.message}\n")
        stream.flush()
        self._set_exit_status()
        self._stop_reactor()
