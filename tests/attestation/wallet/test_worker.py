"""The crypto worker: jobs in worker processes, the fallback to threads, and the queue bound."""
from __future__ import annotations

import operator
import os
import pickle
import sys

from twisted.internet.defer import Deferred, gatherResults
from twisted.trial import unittest

from ipv8.attestation.default_identity_formats import FORMATS
from ipv8.attestation.wallet.bonehexact.algorithm import BonehExactAlgorithm
from ipv8.attestation.wallet.worker import (
    CryptoWorker,
    ProcessRunner,
    WorkerBusyError,
    WorkerDiedError,
    run_inline,
)


def die_in_child(parent_pid: int) -> str:
    """Kill the worker process running this job; in the parent process itself, just answer."""
    if os.getpid() != parent_pid:
        os._exit(3)
    return "ran in the parent"


def fail(message: str) -> None:
    raise ValueError(message)


class TestProcessRunner(unittest.TestCase):
    """A private pool per test (the shared one is what nodes use)."""

    def setUp(self) -> None:
        self.runner = ProcessRunner(max_workers=1)
        self.addCleanup(self.runner.shutdown)

    async def test_job_runs_in_another_process(self) -> None:
        self.assertNotEqual(os.getpid(), await self.runner(os.getpid))
        self.assertEqual(5, await self.runner(operator.add, 2, 3))
        self.assertFalse(self.runner.fell_back)

    async def test_wallet_objects_travel_both_ways(self) -> None:
        algorithm = BonehExactAlgorithm("id_metadata", FORMATS)
        secret_key = await self.runner(algorithm.generate_secret_key)
        blob = await self.runner(algorithm.attest, secret_key.public_key(), b"value")
        attestation = algorithm.get_attestation_class().unserialize_private(secret_key, blob, "id_metadata")
        response = await self.runner(algorithm.create_challenge_response, secret_key, attestation,
                                     algorithm.create_honesty_challenge(secret_key.public_key(), 2))
        self.assertTrue(algorithm.process_honesty_challenge(2, response))

    async def test_job_errors_reach_the_caller(self) -> None:
        with self.assertRaisesRegex(ValueError, "bad input"):
            await self.runner(fail, "bad input")
        self.assertEqual(3, await self.runner(operator.add, 1, 2))

    async def test_pool_that_never_worked_falls_back_to_threads(self) -> None:
        # The first job kills its process: processes look unusable here, so it runs again in a thread.
        self.assertEqual("ran in the parent", await self.runner(die_in_child, os.getpid()))
        self.assertTrue(self.runner.fell_back)
        self.assertEqual(os.getpid(), await self.runner(os.getpid))

    async def test_dead_worker_is_replaced(self) -> None:
        first = await self.runner(os.getpid)
        # The job runs once more in a new process, dies again, and fails; the next job works.
        with self.assertRaises(WorkerDiedError):
            await self.runner(die_in_child, os.getpid())
        self.assertFalse(self.runner.fell_back)
        self.assertNotIn(await self.runner(os.getpid), (first, os.getpid()))

    async def test_unusable_interpreter_falls_back_to_threads(self) -> None:
        runner = ProcessRunner(max_workers=1)
        self.addCleanup(runner.shutdown)
        self.patch(sys, "executable", "/nonexistent/python")
        self.assertEqual(os.getpid(), await runner(os.getpid))
        self.assertTrue(runner.fell_back)

    async def test_jobs_wait_for_a_free_process(self) -> None:
        jobs = [self.runner(operator.mul, i, i) for i in range(5)]
        self.assertEqual(1, self.runner.processes)
        self.assertEqual([0, 1, 4, 9, 16], await gatherResults(jobs))

    async def test_unpicklable_job_fails_alone(self) -> None:
        with self.assertRaises((pickle.PicklingError, AttributeError)):
            await self.runner(operator.add, lambda: None, 1)
        self.assertEqual(2, await self.runner(operator.add, 1, 1))

    async def test_warm_up_and_shutdown(self) -> None:
        pids = await self.runner.warm_up()
        self.assertEqual(1, len(pids))
        self.assertNotIn(os.getpid(), pids)
        await self.runner.shutdown()
        self.assertEqual(0, self.runner.processes)
        self.assertNotIn(await self.runner(os.getpid), (pids[0], os.getpid()))  # a new process on demand

    async def test_last_user_stops_the_processes(self) -> None:
        first, second = CryptoWorker(runner=self.runner), CryptoWorker(runner=self.runner)
        await first.submit(os.getpid)
        await first.close()
        self.assertEqual(1, self.runner.processes)
        await second.close()
        self.assertEqual(0, self.runner.processes)


class TestCryptoWorker(unittest.TestCase):

    def test_inline_worker_is_synchronous(self) -> None:
        worker = CryptoWorker(runner=run_inline)
        job = worker.submit(operator.mul, 6, 7)
        self.assertEqual(42, self.successResultOf(job))
        self.assertEqual(set(), worker.in_flight)
        self.assertEqual([], self.successResultOf(worker.warm_up()))

    def test_queue_is_bounded(self) -> None:
        started: list[Deferred] = []

        def runner(function: object, *args: object) -> Deferred:
            started.append(Deferred())
            return started[-1]
        worker = CryptoWorker(max_concurrent=1, max_queued=1, runner=runner)
        first = worker.submit(operator.add, 1, 1)
        worker.submit(operator.add, 2, 2)  # waits for the first
        with self.assertRaises(WorkerBusyError):
            worker.submit(operator.add, 3, 3)
        self.assertEqual((1, 1, 2), (len(started), worker.waiting, len(worker.in_flight)))
        started[0].callback("done")
        self.assertEqual("done", self.successResultOf(first))
        self.assertEqual((2, 0), (len(started), worker.waiting))
