"""What a pseudonym carries across an unload (or a crash) and what it lets go, on the in-memory network.

* Its Lamport clock continues: a peer that heard the key before, from another port, would refuse the times it
  already saw as replays, so a reloaded pseudonym starts at the reservation stored in the identity database.
* Requests still waiting for the user are refused at unload, so the wallet's timers stop with the pseudonym.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater

from ipv8.attestation.communication_manager import (
    CLOCK_RESERVATION,
    CommunicationManager,
)
from ipv8.attestation.wallet.worker import run_inline
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8


class TestPseudonymRestart(TestBase):
    MAX_TEST_TIME = 20.0

    def node(self) -> MockIPv8:
        node = MockIPv8("curve25519", TunnelCommunity, TunnelSettings(), internet=self.internet)
        self.nodes.append(node)
        return node

    def manager(self, node: MockIPv8, directory: str) -> CommunicationManager:
        manager = CommunicationManager(node, working_directory=directory, worker_runner=run_inline)
        self.addCleanup(manager.shutdown)
        return manager

    async def test_clock_continues_after_a_reload_and_a_crash(self) -> None:
        directory = self.temporary_directory()
        node = self.node()
        first = self.manager(node, directory)
        channel = await first.load("alice")
        key = channel.public_key_bin
        for _ in range(10):
            channel.identity_overlay.claim_global_time()
        used = channel.identity_overlay.global_time
        await first.shutdown()

        # A clean reload starts beyond every time used so far.
        second = self.manager(node, directory)
        channel = await second.load("alice")
        self.assertEqual(key, channel.public_key_bin)
        self.assertGreater(channel.identity_overlay.global_time, used)
        self.assertLessEqual(channel.identity_overlay.global_time, used + CLOCK_RESERVATION)

        # A "crash": more than half of the reservation is used and nobody unloads. Within a second the periodic
        # check has written a new reservation, so what a new process reads from the file starts beyond it.
        for _ in range(CLOCK_RESERVATION // 2 + 5):
            channel.identity_overlay.claim_global_time()
        used = channel.identity_overlay.global_time
        await deferLater(reactor, 1.2, lambda: None)
        new_process = self.manager(node, directory)  # opens the database file again, as a new process does
        self.assertIsNot(new_process.lazy_identity_manager(), second.identity_manager)
        reloaded = await new_process.load("alice")
        self.assertGreater(reloaded.identity_overlay.global_time, used)

    async def test_unload_refuses_what_waits_for_the_user(self) -> None:
        directory = self.temporary_directory()
        node = self.node()
        manager = self.manager(node, directory)
        channel = await manager.load("bank")
        peer: Any = node.my_peer
        asked = channel.on_request_attestation(peer, "age", {})
        consent = channel.on_verify_request(peer, b"\x00" * 32)  # an unknown hash is refused at once
        self.assertTrue(consent.called)
        self.assertEqual([(peer, "age")], list(channel.attestation_requests))
        answers: list = []
        asked.addCallback(answers.append)
        await manager.unload("bank")
        self.assertEqual([None], answers)
        self.assertEqual({}, channel.attestation_requests)
        self.assertTrue(os.path.exists(os.path.join(directory, "pseudonyms", "bank")))
