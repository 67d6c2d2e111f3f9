"""Running the wallet's number crunching off the reactor, a bounded amount at a time.

Making keys, attesting, reading an attestation and making challenges take from milliseconds to a fraction
of a second of pure-Python big-integer arithmetic. Such code holds the GIL: in a thread of the node's own
process it starves the reactor thread (each time the reactor thread gives up the GIL - to poll, send, or
sign - it waits a whole switch interval to get it back, so one reactor iteration can take tens of
milliseconds; measured: 50-120 ms of lag with two such threads). Any extra thread that holds the GIL can also
be preempted by the operating system on a busy machine, and the reactor thread then waits with it (we saw
60-80 ms with :class:`concurrent.futures.ProcessPoolExecutor`'s helper thread). :class:`CryptoWorker`
therefore runs jobs through a *runner*:

* :class:`ProcessRunner` (the default, shared by every worker of this process): worker processes the
  reactor talks to over pipes, no thread in the node's process. Jobs and their results must be picklable:
  module-level functions and the wallet's key, attestation and algorithm objects are. When no process can
  be started it falls back to threads, once, with a warning.
* ``deferToThread``: threads of the reactor's pool (lighter, but see above).
* :func:`run_inline`: at once, on the calling thread (deterministic: what the tests use).

A worker runs at most ``max_concurrent`` jobs at once and keeps at most ``max_queued`` waiting; a job
beyond that is refused (:class:`WorkerBusyError`), so a flood of requests costs the node a bounded amount
of CPU and memory. Jobs must not touch reactor state.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import sys
from collections import deque
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import (
    Deferred,
    DeferredSemaphore,
    gatherResults,
    maybeDeferred,
    succeed,
)
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.threads import deferToThread

from .worker_process import HEADER, MAX_FRAME

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["CryptoWorker", "ProcessRunner", "WorkerBusyError", "WorkerDiedError", "default_runner", "run_inline"]

logger = logging.getLogger(__name__)


class WorkerBusyError(Exception):
    """The worker's queue is full: the job was not accepted."""


def run_inline(function: Callable[..., Any], *args: Any) -> Deferred:
    """A runner that does the work at once on the calling thread (for tests and tiny jobs)."""
    return maybeDeferred(function, *args)


def _warm_up() -> int:
    """A job that makes a worker process exist and import the wallet (what the first real job would wait for)."""
    importlib.import_module("ipv8.attestation.wallet.jobs")
    importlib.import_module("ipv8.attestation.wallet.bonehexact.algorithm")
    importlib.import_module("ipv8.attestation.wallet.pengbaorange.algorithm")
    return os.getpid()


class WorkerDiedError(Exception):
    """A worker process ended while it ran the job (twice: the job is tried once more in a new process)."""


class _WorkerProtocol(ProcessProtocol):
    """One worker process: frames results from its output, one job at a time."""

    def __init__(self, runner: ProcessRunner) -> None:
        self.runner = runner
        self.buffer = bytearray()
        #: The job it runs: (Deferred, function, args, retry), or None when idle.
        self.job: tuple | None = None
        self.lost = False
        #: Told to stop: it takes no new job.
        self.retiring = False
        self.ended: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            if size > MAX_FRAME:
                self.transport.signalProcess("KILL")
                return
            if len(self.buffer) < HEADER.size + size:
                return
            frame = bytes(self.buffer[HEADER.size:HEADER.size + size])
            del self.buffer[:HEADER.size + size]
            self.runner._result(self, frame)

    def childConnectionLost(self, childFD: int) -> None:
        # Its output closed: the process ended (or is ending). processEnded needs SIGCHLD handling, which
        # a reactor run without signal handlers lacks, so this is what counts.
        if childFD == 1 and not self.lost:
            self.lost = True
            # Also drop its input pipe now: the reactor would only notice on the next write.
            with contextlib.suppress(Exception):
                self.transport.loseConnection()
            self.runner._lost(self)
            self.ended.callback(None)


class ProcessRunner:
    """Runs jobs in worker processes that the reactor itself talks to (``spawnProcess`` and pipes).

    The node's process gets no extra thread: a thread of its own holding the GIL while the operating system
    preempts it would stall the reactor thread too. Each process (``python -m
    ipv8.attestation.wallet.worker_process``, started on demand, up to ``max_workers``) runs one job at a
    time; jobs wait in order. Arguments and results travel as pickles, made and read on the reactor thread
    (a fraction of a millisecond for the wallet's objects).

    When no process can be started the runner falls back to threads (``deferToThread``), once, with a
    warning; the same if the very first job kills its process. A process that dies later is replaced and
    its job tried once more in a new one (jobs are pure functions); a second death fails the job with
    :class:`WorkerDiedError`.

    :param max_workers: processes at most.
    :param reactor: the reactor that starts the processes (the global one by default).
    :param niceness: added to the worker processes' scheduling niceness (POSIX), so that on a busy machine
        the node's own process gets the CPU first when a packet or timer wakes it.
    """

    def __init__(self, max_workers: int = 2, reactor: Any = None, niceness: int = 10) -> None:
        self.max_workers = max_workers
        self.niceness = niceness
        self._reactor = reactor
        self._workers: list[_WorkerProtocol] = []
        self._queue: deque[tuple] = deque()
        #: True once processes could not be used: jobs then run in threads.
        self.fell_back = False
        #: Whether a job ever came back from a worker process (so that a lost process means a dead worker).
        self._ever_worked = False
        self._users = 0
        self._shutdown_trigger: Any = None

    @property
    def reactor(self) -> Any:
        """The reactor that starts the processes and delivers their results."""
        if self._reactor is None:
            from twisted.internet import reactor
            self._reactor = reactor
        return self._reactor

    @property
    def processes(self) -> int:
        """Worker processes running now."""
        return len(self._workers)

    def acquire(self) -> None:
        """A user (a :class:`CryptoWorker`) starts using this runner."""
        self._users += 1

    def release(self) -> Deferred:
        """A user is done; when none is left the processes stop (the Deferred fires once they have)."""
        self._users = max(0, self._users - 1)
        return self.shutdown() if not self._users else succeed(None)

    def warm_up(self) -> Deferred:
        """Start the worker processes now, so that the first real job does not wait for them.

        Fires (with the processes' ids) once each has run a first job.
        """
        return gatherResults([self(_warm_up) for _ in range(self.max_workers)], consumeErrors=True)

    def __call__(self, function: Callable[..., Any], *args: Any) -> Deferred:
        """Run ``function(*args)`` in a worker process; a Deferred with the result, on the reactor thread."""
        done: Deferred = Deferred()
        self._queue.append((done, function, args, True))
        self._dispatch()
        return done

    def _dispatch(self) -> None:
        while self._queue:
            if self.fell_back:
                done, function, args, _ = self._queue.popleft()
                deferToThread(function, *args).chainDeferred(done)
                continue
            worker = next((worker for worker in self._workers if worker.job is None), None)
            if worker is None:
                if len(self._workers) >= self.max_workers:
                    return
                worker = self._spawn()
                if worker is None:
                    continue  # fell back to threads
            job = self._queue.popleft()
            done, function, args, _ = job
            try:
                payload = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - an unpicklable job fails, the worker stays idle
                done.errback(exc)
                continue
            worker.job = job
            worker.transport.write(HEADER.pack(len(payload)) + payload)

    def _spawn(self) -> _WorkerProtocol | None:
        worker = _WorkerProtocol(self)
        # The worker must import the same code as we do (also when it is not installed: tests, a checkout).
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(path) for path in sys.path if path)
        try:
            self.reactor.spawnProcess(worker, sys.executable,
                                      [sys.executable, "-m", "ipv8.attestation.wallet.worker_process",
                                       str(self.niceness)],
                                      env=env, childFDs={0: "w", 1: "r", 2: 2})
        except (OSError, NotImplementedError) as exc:
            self._fall_back(exc)
            return None
        self._workers.append(worker)
        if self._shutdown_trigger is None:
            self._shutdown_trigger = self.reactor.addSystemEventTrigger("before", "shutdown", self._stop_all)
        return worker

    def _result(self, worker: _WorkerProtocol, frame: bytes) -> None:
        job, worker.job = worker.job, None
        if job is None:
            return
        self._ever_worked = True
        try:
            ok, value = pickle.loads(frame)
        except Exception as exc:  # noqa: BLE001 - e.g. a result class this process cannot import
            ok, value = False, exc
        self._dispatch()
        if ok:
            job[0].callback(value)
        else:
            job[0].errback(value)

    def _lost(self, worker: _WorkerProtocol) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        job, worker.job = worker.job, None
        if job is not None and worker.retiring:
            job[0].errback(WorkerDiedError("the worker process was stopped during the job"))
        elif job is not None:
            done, function, args, retry = job
            if not self._ever_worked:
                # Not one job ever came back: processes cannot run jobs here. Threads it is.
                self._fall_back(WorkerDiedError("the first worker process ended"))
                self._queue.appendleft(job)
            elif retry:
                logger.warning("A crypto worker process ended during a job: trying it once more")
                self._queue.appendleft((done, function, args, False))
            else:
                done.errback(WorkerDiedError(f"worker processes ended twice while running {function!r}"))
        self._dispatch()

    def _fall_back(self, exc: BaseException) -> None:
        if not self.fell_back:
            logger.warning("Cannot run crypto worker processes (%s): using threads instead", exc)
        self.fell_back = True
        for worker in self._workers:  # their running jobs go to threads too
            if worker.job is not None:
                self._queue.appendleft(worker.job)
                worker.job = None
        self._stop_all()

    def _stop_all(self) -> Deferred:
        endings = []
        retiring, self._workers = self._workers, []
        for worker in retiring:
            worker.retiring = True
            endings.append(worker.ended)
            transport = worker.transport
            transport.closeStdin()  # the process ends when its input closes

            def kill(transport: Any = transport) -> None:
                # It did not end by itself (a job still running): stop it.
                with contextlib.suppress(Exception):
                    transport.signalProcess("KILL")
            killer = self.reactor.callLater(2.0, kill)
            worker.ended.addBoth(lambda result, killer=killer: (killer.active() and killer.cancel(), result)[1])
        return gatherResults(endings, consumeErrors=True).addCallback(lambda _: None)

    def shutdown(self) -> Deferred:
        """Stop the worker processes. Jobs waiting fail, a job running gets 2 s to finish.

        Fires when the processes ended; later jobs start new ones.
        """
        waiting, self._queue = self._queue, deque()
        for done, *_ in waiting:
            done.errback(WorkerDiedError("the worker processes were stopped"))
        if self._shutdown_trigger is not None:
            trigger, self._shutdown_trigger = self._shutdown_trigger, None
            with contextlib.suppress(ValueError, KeyError):
                self.reactor.removeSystemEventTrigger(trigger)
        return self._stop_all()


_shared_runner: ProcessRunner | None = None


def default_runner() -> ProcessRunner:
    """The process pool shared by every :class:`CryptoWorker` of this process (made on first use)."""
    global _shared_runner
    if _shared_runner is None:
        # Leave a core to the reactor: one process on a two-core machine, at most two.
        _shared_runner = ProcessRunner(max_workers=max(1, min(2, (os.cpu_count() or 1) - 1)))
    return _shared_runner


class CryptoWorker:
    """A bounded queue of crypto jobs in front of a runner.

    :param max_concurrent: jobs running at once.
    :param max_queued: jobs waiting at most; :meth:`submit` refuses more.
    :param runner: how a job runs; the shared :class:`ProcessRunner` by default, ``deferToThread`` for
        threads, :func:`run_inline` to stay on this thread.
    """

    def __init__(self, max_concurrent: int = 2, max_queued: int = 32,
                 runner: Callable[..., Deferred] | None = None) -> None:
        self._semaphore = DeferredSemaphore(max_concurrent)
        self.max_queued = max_queued
        self.runner: Callable[..., Deferred] = runner if runner is not None else default_runner()
        # A shared process pool stops its processes when its last user closes.
        self._acquired = self.runner if hasattr(self.runner, "acquire") else None
        if self._acquired is not None:
            self._acquired.acquire()
        #: Jobs accepted and not finished yet.
        self.in_flight: set[Deferred] = set()
        #: After :meth:`close` no job is accepted.
        self.closed = False

    def close(self) -> Deferred:
        """This worker takes no more jobs of its own; fires when the runner's processes stopped (if it was
        the runner's last user). Jobs still running in a stopped process fail."""
        self.closed = True
        acquired, self._acquired = self._acquired, None
        return acquired.release() if acquired is not None else succeed(None)

    @property
    def waiting(self) -> int:
        """Jobs accepted that did not start yet."""
        return len(self._semaphore.waiting)

    def warm_up(self) -> Deferred:
        """Have the runner start its processes now, if it has any (the first job is then not delayed)."""
        warm_up = getattr(self.runner, "warm_up", None)
        return warm_up() if warm_up is not None else succeed([])

    def submit(self, function: Callable[..., Any], *args: Any) -> Deferred:
        """Run ``function(*args)``; a Deferred with its result. Raises :class:`WorkerBusyError` when full."""
        if self.closed:
            raise WorkerBusyError("the worker is closed")
        if self.waiting >= self.max_queued:
            raise WorkerBusyError("too many crypto jobs are waiting")
        job = self._semaphore.run(self.runner, function, *args)
        self.in_flight.add(job)

        def forget(result: object) -> object:
            self.in_flight.discard(job)
            return result
        job.addBoth(forget)
        return job
