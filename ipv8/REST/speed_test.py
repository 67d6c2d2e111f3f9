"""The speed test behind ``/tunnel/circuits/test`` and ``/tunnel/circuits/{circuit_id}/test``.

A :class:`SpeedTest` keeps a window of test-requests in flight through one circuit
(:meth:`~ipv8.messaging.anonymization.community.TunnelCommunity.send_test_request`: the circuit's exit answers
each with the number of bytes asked for) until its time is up. The window grows by one request per answer that
came back within the target round trip and shrinks by one per slower answer; a lost request halves it. This is
what pyipv8 3.2.1's Rust endpoint does (a 100 ms target), so the numbers of both are comparable.

Every ``interval`` seconds, and once more at the end, it reports the speed of the last period in each direction
(MiB/s of test payload: request bytes sent up, response bytes received down). The REST resource writes each
report as one line ``speed: {"up": ..., "down": ...}`` of a ``text/event-stream`` answer, as pyipv8 3.2.1 does.

All times come from the community's clock (an :class:`~twisted.internet.interfaces.IReactorTime`), so a
:class:`~twisted.internet.task.Clock` drives a test in unit tests.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall

from ..messaging.anonymization.tunnel import CIRCUIT_STATE_READY
from .base_endpoint import Response
from .errors import RESTError

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime
    from twisted.python.failure import Failure
    from twisted.web.server import Request

    from ..messaging.anonymization.community import TunnelCommunity
    from ..messaging.anonymization.tunnel import Circuit

logger = logging.getLogger(__name__)

#: Bytes in a MiB: speeds are reported in MiB/s.
MIB = 1024 * 1024
#: Round trip (seconds) below which the window grows (pyipv8 3.2.1 asks its Rust endpoint for 100 ms).
TARGET_RTT = 0.1
#: Seconds between two reports (pyipv8 3.2.1: 500 ms).
REPORT_INTERVAL = 0.5
#: Speed tests that run at once at most (each keeps up to MAX_WINDOW requests in flight for up to a minute).
MAX_SPEED_TESTS = 2
#: The media type of a speed test's answer.
EVENT_STREAM = "text/event-stream"
#: Requests in flight at the start, and at most: the cap bounds the memory one test may hold.
INITIAL_WINDOW = 8
MAX_WINDOW = 128

#: ``send(circuit, request_size, response_size)``: a Deferred firing with ``(data, round trip)``.
SendFunc = Callable[["Circuit", int, int], Deferred]
#: ``report(up, down, done)``: speeds in MiB/s of the last period; ``done`` on the last report.
ReportFunc = Callable[[float, float, bool], None]


class SpeedTest:
    """
    One speed test through one circuit; see the module documentation.

    :param send: sends one test-request (the community's ``send_test_request``).
    :param circuit: the READY circuit to test.
    :param request_size: random bytes per request (0-2000).
    :param response_size: bytes asked back per request (0-2000).
    :param duration: seconds the test runs.
    :param report: called every ``interval`` seconds and once at the end.
    :param clock: where times are read and reports are scheduled.
    """

    def __init__(self, send: SendFunc, circuit: Circuit, request_size: int, response_size: int, duration: float,
                 report: ReportFunc, clock: IReactorTime, *, interval: float = REPORT_INTERVAL,
                 target_rtt: float = TARGET_RTT, max_window: int = MAX_WINDOW) -> None:
        """Prepare the test; :meth:`start` runs it."""
        self.send, self.circuit, self.report, self.clock = send, circuit, report, clock
        self.request_size, self.response_size, self.duration = request_size, response_size, duration
        self.interval, self.target_rtt, self.max_window = interval, target_rtt, max_window
        self.window = min(INITIAL_WINDOW, max_window)
        self.in_flight = 0
        #: Totals over the whole test.
        self.requests_sent = self.responses_received = self.requests_lost = 0
        self._period_up = self._period_down = 0
        self._period_start = 0.0
        self._deadline = 0.0
        self._done: Deferred[None] = Deferred(lambda _: self.stop())
        self._ticker = LoopingCall(self._tick)
        self._ticker.clock = clock
        self._end_call: Any = None
        self._running = self._filling = self._stalled = False

    def start(self) -> Deferred[None]:
        """Start sending; the Deferred fires (with None) after the last report. Cancelling it stops the test."""
        now = self.clock.seconds()
        self._running = True
        self._period_start, self._deadline = now, now + self.duration
        self._end_call = self.clock.callLater(self.duration, self._finish)
        self._ticker.start(self.interval, now=False)
        self._fill()
        return self._done

    def stop(self) -> None:
        """Stop at once, without a last report (the client left); answers still on their way are ignored."""
        self._shut_down()

    # -- sending ---------------------------------------------------------------------------------------------

    def _fill(self) -> None:
        if self._filling:
            return  # an answer that came while sending: the loop below goes on by itself
        self._filling = True
        try:
            while self._running and not self._stalled and self.in_flight < self.window:
                if self.circuit.state != CIRCUIT_STATE_READY:
                    # The circuit went away during the test: report what was measured and end.
                    self._finish()
                    return
                if self.clock.seconds() >= self._deadline:
                    return
                self.in_flight += 1
                self.requests_sent += 1
                self._period_up += self.request_size
                self.send(self.circuit, self.request_size, self.response_size).addCallbacks(self._answered,
                                                                                           self._lost)
        finally:
            self._filling = False

    def _answered(self, result: tuple[bytes, float]) -> None:
        data, round_trip = result
        self.in_flight -= 1
        if not self._running:
            return
        self.responses_received += 1
        self._stalled = False
        self._period_down += len(data)
        if round_trip <= self.target_rtt:
            self.window = min(self.max_window, self.window + 1)
        else:
            self.window = max(1, self.window - 1)
        self._fill()

    def _lost(self, failure: Failure) -> None:
        # A timeout, a full request cache, a circuit without a hop: all mean "slow down".
        self.in_flight -= 1
        if not self._running:
            return
        self.requests_lost += 1
        # Sending resumes with the next answer or report: a request that fails at once (a full request cache)
        # must not be retried in a tight loop.
        self._stalled = True
        logger.debug("A speed-test request on circuit %d failed: %s", self.circuit.circuit_id,
                     failure.getErrorMessage())
        self.window = max(1, self.window // 2)
        if self.circuit.state != CIRCUIT_STATE_READY:
            self._finish()

    # -- reporting -------------------------------------------------------------------------------------------

    def _speeds(self) -> tuple[float, float]:
        now = self.clock.seconds()
        elapsed = now - self._period_start
        up, down = self._period_up, self._period_down
        self._period_up = self._period_down = 0
        self._period_start = now
        if elapsed <= 0:
            return 0.0, 0.0
        return up / elapsed / MIB, down / elapsed / MIB

    def _tick(self) -> None:
        if self._running:
            self.report(*self._speeds(), False)
            self._stalled = False
            self._fill()

    def _finish(self) -> None:
        if not self._running:
            return
        up, down = self._speeds()
        self._shut_down()
        self.report(up, down, True)
        if not self._done.called:
            self._done.callback(None)

    def _shut_down(self) -> None:
        self._running = False
        if self._ticker.running:
            self._ticker.stop()
        if self._end_call is not None and self._end_call.active():
            self._end_call.cancel()


class SpeedTestsBusy(RESTError):
    """503: :data:`MAX_SPEED_TESTS` speed tests are running already."""

    status = 503


class SpeedTests:
    """The speed tests the REST API runs, shared by both speed-test resources (one cap for both)."""

    def __init__(self, max_running: int = MAX_SPEED_TESTS) -> None:
        """Nothing runs yet."""
        self.max_running = max_running
        self.running = 0

    def claim(self) -> None:
        """Take a slot for a test; 503 when all are taken."""
        if self.running >= self.max_running:
            raise SpeedTestsBusy(f"{self.running} speed tests are running already; try again later",
                                 code="SpeedTestBusy")
        self.running += 1

    def release(self) -> None:
        """Give a slot back."""
        self.running -= 1


async def stream_speed_test(request: Request, tunnels: TunnelCommunity, circuit: Circuit,
                            parameters: tuple[int, int, int]) -> Response:
    """
    Run a test through ``circuit`` and write its reports to ``request`` as they come.

    :param parameters: ``(request_size, response_size, test_time_ms)``, already checked.

    The status line and headers go out at once; the framework's answer at the end (an empty body) only
    closes the stream. A client that hangs up cancels the Deferred that runs this, which stops the test.
    """
    request_size, response_size, test_time_ms = parameters
    request.setResponseCode(200)
    request.setHeader(b"Content-Type", EVENT_STREAM.encode("ascii"))
    request.setHeader(b"Cache-Control", b"no-cache")
    request.write(b"")  # the headers, so that the client sees the test started

    def report(up: float, down: float, done: bool) -> None:
        if not request.finished:
            request.write(f"speed: {json.dumps({'up': up, 'down': down})}\n".encode("ascii"))

    test = SpeedTest(tunnels.send_test_request, circuit, request_size, response_size, test_time_ms / 1000,
                     report, tunnels.clock)
    await test.start()
    return Response(b"", content_type=EVENT_STREAM)


__all__ = ["EVENT_STREAM", "INITIAL_WINDOW", "MAX_SPEED_TESTS", "MAX_WINDOW", "MIB", "REPORT_INTERVAL", "TARGET_RTT",
           "SpeedTest", "SpeedTests", "SpeedTestsBusy", "stream_speed_test"]
