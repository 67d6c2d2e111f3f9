"""AttestationCommunity on the in-memory internet: request, attest, verify, and what a hostile peer can do.

The overlays run on a :class:`~twisted.internet.task.Clock` and do their crypto inline (``run_inline``), so
every flow is deterministic: cache timeouts fire only when a test moves that clock.
:meth:`TestAttestationCommunity.settle` delivers packets and waits for crypto jobs until the network is quiet;
:class:`TestProcessWorker` runs the same flows with the crypto in worker processes, as a real node does.
"""
from __future__ import annotations

import hashlib
import json
from base64 import encodebytes
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread

from ipv8.attestation.wallet.caches import CHALLENGE_TIMEOUT, TRANSFER_TIMEOUT
from ipv8.attestation.wallet.community import AttestationCommunity, AttestationError
from ipv8.attestation.wallet.payload import (
    CHUNK_SIZE,
    AttestationChunkPayload,
    ChallengePayload,
    ChallengeResponsePayload,
    RequestAttestationPayload,
    VerifyAttestationRequestPayload,
)
from ipv8.attestation.wallet.pengbaorange.algorithm import PengBaoRangeAlgorithm
from ipv8.attestation.wallet.primitives.structs import pack_pair
from ipv8.attestation.wallet.worker import ProcessRunner, run_inline
from ipv8.community import DROP_BAD_SIGNATURE, DROP_MALFORMED
from ipv8.messaging.payload_headers import (
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8


class AttestationTestBase(TestBase[AttestationCommunity]):
    """Node 0 owns attributes, node 1 attests them, node 2 verifies them."""

    MAX_TEST_TIME = 30.0

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.clock.advance(10_000)
        self.working_directory = ":memory:"
        self.initialize(AttestationCommunity, 3)
        self.completed: dict[int, list[tuple]] = {0: [], 1: [], 2: []}
        for i in range(3):
            self.overlay(i).set_attestation_request_complete_callback(
                lambda *args, i=i: self.completed[i].append(args))
        self.overlay(1).set_attestation_request_callback(self.attest_value)
        self.values = {"name": b"Alice", "age": bytes([30]), "passport": b"NL1234567"}
        return result

    #: How the nodes run their crypto jobs.
    worker_runner: Any = staticmethod(run_inline)

    def create_node(self, settings: Any = None, create_dht: bool = False,
                    enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8(self.DEFAULT_KEY_LEVEL, AttestationCommunity, internet=self.internet, clock=self.clock,
                        working_directory=self.working_directory, worker_runner=self.worker_runner)

    def attest_value(self, peer: Any, attribute_name: str, metadata: dict) -> bytes | None:
        return self.values.get(attribute_name)

    async def settle(self) -> None:
        """Deliver packets and wait for crypto jobs until nothing moves any more."""
        for _ in range(200):
            await self.deliver_messages()
            jobs = [job for node in self.nodes for job in node.overlay.worker.in_flight]
            if not jobs:
                await self.deliver_messages()
                if not any(node.overlay.worker.in_flight for node in self.nodes):
                    return
                continue
            await DeferredList(jobs, consumeErrors=True)
        self.fail("the network did not settle")

    async def attest(self, attribute: str, id_format: str) -> bytes:
        """Node 0 has node 1 attest ``attribute``; the attestation hash."""
        secret_key = await self.overlay(0).generate_secret_key(id_format)
        done = self.overlay(0).request_attestation(self.peer(1), attribute, secret_key, {"id_format": id_format})
        await self.settle()
        self.assertTrue(done.called)
        attestation_hash = await done
        self.assertIsNotNone(attestation_hash)
        return attestation_hash

    async def verify(self, attestation_hash: bytes, values: list[bytes], id_format: str,
                     verifier: int = 2) -> list[float] | None:
        seen: list = []
        done = self.overlay(verifier).verify_attestation_values(self.address(0), attestation_hash, values,
                                                                lambda h, c: seen.append((h, c)), id_format)
        await self.settle()
        self.assertTrue(done.called)
        certainties = await done
        if certainties is not None:
            self.assertEqual(seen, [(attestation_hash, certainties)])
        return certainties



class TestAttestationCommunity(AttestationTestBase):
    """The flows of pyipv8 3.2.1, with refusals and timeouts."""

    # The three flows ---------------------------------------------------------------------------------------

    async def test_exact_attest_and_verify(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        self.assertIn(attestation_hash, self.overlay(0).attestation_keys)
        self.assertEqual(len(self.overlay(0).database.get_attestation_by_hash(attestation_hash)), 1)
        # The attestor reports the owner; the owner reports itself and the attestor.
        self.assertEqual(self.completed[1], [(self.overlay(1).network.get_verified_by_public_key_bin(
            self.key_bin(0)), "name", attestation_hash, "id_metadata", None)])
        (for_peer, name, hash_, id_format, from_peer), = self.completed[0]
        self.assertEqual((for_peer, name, hash_, id_format), (self.my_peer(0), "name", attestation_hash,
                                                              "id_metadata"))
        self.assertEqual(from_peer.mid, self.mid(1))
        certainties = await self.verify(attestation_hash, [b"Alice", b"Bob"], "id_metadata")
        self.assertGreater(certainties[0], 0.99)
        self.assertEqual(certainties[1], 0.0)
        self.assertEqual(sum(self.overlay(2).drop_counts.values()), 0)
        self.assertEqual(sum(self.overlay(0).drop_counts.values()), 0)

    async def test_big_exact_attest_and_verify(self) -> None:
        attestation_hash = await self.attest("passport", "id_metadata_big")
        certainties = await self.verify(attestation_hash, [b"NL1234567", b"NL1234568"], "id_metadata_big")
        self.assertGreater(certainties[0], 0.99)
        self.assertLess(certainties[1], 0.01)

    async def test_range_attest_and_verify(self) -> None:
        attestation_hash = await self.attest("age", "id_metadata_range_18plus")
        # For range formats a value is a claim: 1 ("in range") or 0 ("not in range").
        certainties = await self.verify(attestation_hash, [b"\x01", b"\x00"], "id_metadata_range_18plus")
        self.assertEqual(certainties, [1.0, 0.0])

    async def test_two_verifiers_and_repeated_verification(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        self.assertGreater((await self.verify(attestation_hash, [b"Alice"], "id_metadata", verifier=2))[0], 0.99)
        self.assertGreater((await self.verify(attestation_hash, [b"Alice"], "id_metadata", verifier=1))[0], 0.99)
        self.assertGreater((await self.verify(attestation_hash, [b"Alice"], "id_metadata", verifier=2))[0], 0.99)

    # Refusals and timeouts -------------------------------------------------------------------------------

    async def test_attestor_refuses(self) -> None:
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        done = self.overlay(0).request_attestation(self.peer(1), "unknown attribute", secret_key)
        await self.settle()
        self.assertFalse(done.called)
        self.clock.advance(TRANSFER_TIMEOUT + 1)
        self.assertIsNone(await done)
        self.assertEqual(self.overlay(0).attestation_keys, {})
        self.assertEqual(self.completed, {0: [], 1: [], 2: []})

    async def test_owner_refuses_verification(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        asked: list = []
        self.overlay(0).set_verify_request_callback(lambda peer, h: asked.append((peer.mid, h)) or False)
        done = self.overlay(2).verify_attestation_values(self.address(0), attestation_hash, [b"Alice"], None,
                                                         "id_metadata")
        await self.settle()
        self.assertEqual(asked, [(self.mid(2), attestation_hash)])
        self.assertFalse(done.called)
        self.clock.advance(TRANSFER_TIMEOUT + 1)
        self.assertIsNone(await done)

    async def test_asynchronous_callbacks(self) -> None:
        decision: Deferred = Deferred()
        self.overlay(1).set_attestation_request_callback(lambda peer, name, metadata: decision)
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        done = self.overlay(0).request_attestation(self.peer(1), "name", secret_key)
        await self.settle()
        self.assertFalse(done.called)
        decision.callback(b"Alice")
        await self.settle()
        attestation_hash = await done
        certainties = await self.verify(attestation_hash, [b"Alice"], "id_metadata")
        self.assertGreater(certainties[0], 0.99)

    async def test_callback_timeout_frees_the_slot(self) -> None:
        self.overlay(1).set_attestation_request_callback(lambda peer, name, metadata: Deferred())
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        self.overlay(0).request_attestation(self.peer(1), "name", secret_key)
        await self.settle()
        self.assertEqual(len(self.overlay(1)._pending_callbacks), 1)
        self.clock.advance(self.overlay(1).callback_timeout + 1)
        self.assertEqual(self.overlay(1)._pending_callbacks, [])

    async def test_local_errors(self) -> None:
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        with self.assertRaises(AttestationError):
            self.overlay(0).request_attestation(self.peer(1), "x", secret_key, {"id_format": "nope"})
        with self.assertRaises(AttestationError):
            self.overlay(2).verify_attestation_values(self.address(0), b"h" * 20, [], None, "nope")
        self.overlay(2).verify_attestation_values(self.address(0), b"h" * 20, [], None, "id_metadata")
        with self.assertRaises(AttestationError):
            self.overlay(2).verify_attestation_values(self.address(0), b"h" * 20, [], None, "id_metadata")
        for _ in range(self.overlay(0).max_outstanding_requests_per_peer):
            self.overlay(0).request_attestation(self.peer(1), "x", secret_key)
        with self.assertRaises(AttestationError):
            self.overlay(0).request_attestation(self.peer(1), "x", secret_key)

    async def test_dump_blob_is_not_supported_by_the_default_formats(self) -> None:
        with self.assertRaises(NotImplementedError):
            self.overlay(0).dump_blob("name", "id_metadata", b"blob")


class TestHostilePeers(AttestationTestBase):
    """Node 1 (or 2) misbehaves; node 0 must drop, count and stay bounded."""

    def send(self, sender: int, receiver: int, payload: Any, global_time: int | None = None) -> None:
        overlay = self.overlay(sender)
        overlay._send(self.address(receiver), overlay.claim_global_time() if global_time is None else global_time,
                      payload)

    async def test_unsolicited_chunks(self) -> None:
        for sequence_number in range(50):
            self.send(1, 0, AttestationChunkPayload(b"h" * 20, sequence_number, b"x" * CHUNK_SIZE))
        await self.settle()
        self.assertEqual(self.overlay(0).drop_counts["attestation-unsolicited-chunk"], 50)
        self.assertEqual(len(self.overlay(0).request_cache._caches), 0)

    async def test_transfer_that_never_ends_or_grows_too_big(self) -> None:
        self.overlay(1).set_attestation_request_callback(lambda peer, name, metadata: None)
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        done = self.overlay(0).request_attestation(self.peer(1), "name", secret_key)
        await self.settle()
        cache, = self.overlay(0)._caches(type(self.overlay(0).request_cache._caches[next(iter(
            self.overlay(0).request_cache._caches))]))
        limit = self.overlay(0).max_attestation_size // CHUNK_SIZE
        for sequence_number in (0, 1, limit + 5, 65535):
            self.send(1, 0, AttestationChunkPayload(b"h" * 20, sequence_number, b"x" * CHUNK_SIZE),
                      cache.global_time)
        self.send(1, 0, AttestationChunkPayload(b"h" * 20, 2, b"x" * (CHUNK_SIZE + 1)), cache.global_time)
        self.send(1, 0, AttestationChunkPayload(b"h" * 20, 1, b"y" * CHUNK_SIZE), cache.global_time)
        self.send(1, 0, AttestationChunkPayload(b"i" * 20, 3, b"y"), cache.global_time)
        # The same chunk from someone else is not part of the transfer at all.
        self.send(2, 0, AttestationChunkPayload(b"h" * 20, 4, b"x"), cache.global_time)
        await self.settle()
        drops = self.overlay(0).drop_counts
        self.assertEqual(drops["attestation-chunk-oversized"], 3)
        self.assertEqual(drops["attestation-chunk-conflict"], 1)
        self.assertEqual(drops["attestation-chunk-wrong-hash"], 1)
        self.assertEqual(drops["attestation-unsolicited-chunk"], 1)
        self.assertEqual(cache.collector.size, 2 * CHUNK_SIZE)
        self.clock.advance(TRANSFER_TIMEOUT + 1)
        self.assertIsNone(await done)
        self.assertEqual(len(self.overlay(0).request_cache._caches), 0)

    async def test_forged_attestation_is_not_stored(self) -> None:
        """The attestor sends chunks whose hash matches, but the content is no attestation."""
        self.overlay(1).set_attestation_request_callback(lambda peer, name, metadata: None)
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        done = self.overlay(0).request_attestation(self.peer(1), "name", secret_key)
        await self.settle()
        request_time = self.overlay(0).global_time
        self.overlay(1).send_attestation(self.address(0), b"garbage" * 300, request_time)
        await self.settle()
        self.assertIsNone(await done)
        self.assertEqual(self.overlay(0).drop_counts["attestation-malformed-attestation"], 1)
        self.assertEqual(self.overlay(0).attestation_keys, {})
        self.assertEqual(self.overlay(0).database.get_all(), [])

    async def test_malformed_attestation_fails_verification(self) -> None:
        garbage = b"not an attestation" * 100
        attestation_hash = hashlib.sha1(garbage).digest()
        done = self.overlay(2).verify_attestation_values(self.address(1), attestation_hash, [b"x"], None,
                                                         "id_metadata")
        self.overlay(1).send_attestation(self.address(2), garbage)
        await self.settle()
        self.assertEqual(await done, [0.0])
        self.assertEqual(self.overlay(2).drop_counts["attestation-malformed-attestation"], 1)
        self.assertEqual(len(self.overlay(2).request_cache._caches), 0)
        with self.assertRaises(AttestationError):
            self.overlay(2).verify_attestation_values(self.address(1), b"short", [b"x"], None, "id_metadata")

    async def test_truncated_and_forged_packets(self) -> None:
        receiver = self.overlay(0)
        receiver.raise_handler_errors = False  # production behaviour: count and drop
        sender = self.overlay(1)
        auth = BinMemberAuthenticationPayload(sender.my_peer.public_key.key_to_bin())
        for msg_id, body in ((1, b"short"), (2, b"h" * 21), (3, b"h" * 5), (4, b"")):
            packet = sender.get_prefix() + bytes([msg_id]) + sender.serializer.pack_serializable_list(
                [auth, GlobalTimeDistributionPayload(sender.claim_global_time())]) + body
            sender.endpoint.send(self.address(0), packet + sender.my_peer.key.signature(packet))
        good = sender.get_prefix() + bytes([1]) + sender.serializer.pack_serializable_list(
            [auth, GlobalTimeDistributionPayload(sender.claim_global_time()), VerifyAttestationRequestPayload(b"h" * 20)])
        signature = sender.my_peer.key.signature(good)
        sender.endpoint.send(self.address(0), good + bytes([signature[0] ^ 1]) + signature[1:])
        await self.settle()
        self.assertEqual(receiver.drop_counts[DROP_MALFORMED], 4)
        self.assertEqual(receiver.drop_counts[DROP_BAD_SIGNATURE], 1)
        self.assertEqual(receiver.drop_counts["attestation-unknown-hash"], 0)

    async def test_verify_request_for_unknown_hash(self) -> None:
        self.send(2, 0, VerifyAttestationRequestPayload(b"u" * 20))
        await self.settle()
        self.assertEqual(self.overlay(0).drop_counts["attestation-unknown-hash"], 1)

    async def test_malformed_requests(self) -> None:
        self.overlay(1).request_rate_limit = 1000.0
        bad = [b"not json", b"[]", b'{"attribute": "a"}', b'{"attribute": 1, "public_key": "AA==", "id_format": "id_metadata"}',
               b'{"attribute": "a", "public_key": "!!", "id_format": "id_metadata"}',
               b'{"attribute": "a", "public_key": "AAAA", "id_format": "nope"}',
               b'{"attribute": "a", "public_key": "AAAA", "id_format": "id_metadata"}', b"\xff\xfe"]
        self.overlay(1)._request_limiter.burst = 100
        for metadata in bad:
            self.send(0, 1, RequestAttestationPayload(metadata))
        await self.settle()
        self.assertEqual(self.overlay(1).drop_counts["attestation-malformed-request"], len(bad))
        self.assertEqual(self.completed[1], [])

    async def test_request_flood_is_rate_limited_and_pending_callbacks_capped(self) -> None:
        self.overlay(1).set_attestation_request_callback(lambda peer, name, metadata: Deferred())
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        metadata = json.dumps({"attribute": "name", "id_format": "id_metadata",
                               "public_key": encodebytes(secret_key.public_key().serialize()).decode()}).encode()
        overlay = self.overlay(1)
        burst = int(2 * overlay.request_rate_limit)
        for _ in range(burst + 5):
            self.send(0, 1, RequestAttestationPayload(metadata))
        await self.settle()
        self.assertEqual(overlay.drop_counts["attestation-rate-limited"], 5)
        self.assertEqual(len(overlay._pending_callbacks), min(burst, overlay.max_pending_callbacks_per_peer))
        self.assertEqual(overlay.drop_counts["attestation-too-many-pending"],
                         burst - min(burst, overlay.max_pending_callbacks_per_peer))

    async def test_challenges_need_a_session_and_have_a_budget(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        for _ in range(3):
            self.send(2, 0, ChallengePayload(attestation_hash, b"\x00" * 40))
        await self.settle()
        self.assertEqual(self.overlay(0).drop_counts["attestation-unsolicited-challenge"], 3)
        # After a real verification, the verifier's budget covers an honest run and little more.
        await self.verify(attestation_hash, [b"Alice"], "id_metadata")
        key = (self.mid(2), attestation_hash)
        budget = self.overlay(0)._challenge_sessions.get(key, self.clock.seconds())
        self.assertGreater(budget, 0)
        challenge = self.overlay(2).get_id_algorithm("id_metadata").create_honesty_challenge(
            self.overlay(0).attestation_keys[attestation_hash][0].public_key(), 1)
        for _ in range(budget + 5):
            self.send(2, 0, ChallengePayload(attestation_hash, challenge))
        await self.settle()
        self.assertEqual(self.overlay(0).drop_counts["attestation-unsolicited-challenge"], 3 + 5)
        self.assertEqual(self.overlay(2).drop_counts["attestation-unsolicited-response"], budget)

    async def test_malformed_challenge(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        await self.verify(attestation_hash, [b"Alice"], "id_metadata")
        for challenge in (b"", b"\x00", b"\xff" * 3):
            self.send(2, 0, ChallengePayload(attestation_hash, challenge))
        await self.settle()
        self.assertEqual(self.overlay(0).drop_counts["attestation-malformed-challenge"], 3)

    async def test_lying_owner_gets_zero_certainty(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        algorithm = self.overlay(0).get_id_algorithm("id_metadata")
        algorithm.create_challenge_response = lambda *args: b"\x00\x00"  # not even a valid answer
        certainties = await self.verify(attestation_hash, [b"Alice"], "id_metadata")
        self.assertEqual(certainties, [0.0])
        self.assertEqual(self.overlay(2).drop_counts["attestation-failed-honesty-check"], 1)
        self.assertEqual([c for c in self.overlay(2).request_cache._caches.values()
                          if c.prefix == "proving-attestation"], [])

    async def test_range_owner_with_malformed_or_wrong_answer(self) -> None:
        """Range answers are checked in the worker: a malformed one fails the verification, a wrong one
        proves nothing (certainty 0), and nothing is left behind either way."""
        attestation_hash = await self.attest("age", "id_metadata_range_18plus")
        algorithm = self.overlay(0).get_id_algorithm("id_metadata_range_18plus")
        algorithm.create_challenge_response = lambda *args: b"\x00\x01"  # does not even unpack
        self.assertEqual(await self.verify(attestation_hash, [b"\x01"], "id_metadata_range_18plus"), [0.0])
        self.assertEqual(self.overlay(2).drop_counts["attestation-failed-honesty-check"], 1)
        garbage = PengBaoRangeAlgorithm.create_challenge_response
        # A well-formed answer to another challenge (s, t < LARGE_INTEGER gives random numbers): the check fails.
        algorithm.create_challenge_response = lambda sk, attestation, challenge: garbage(
            algorithm, sk, attestation, pack_pair(1, 1))
        self.assertEqual(await self.verify(attestation_hash, [b"\x01"], "id_metadata_range_18plus"), [0.0])
        self.assertEqual([c for c in self.overlay(2).request_cache._caches.values()
                          if c.prefix == "proving-attestation"], [])

    async def test_unsolicited_and_foreign_responses(self) -> None:
        self.send(1, 2, ChallengeResponsePayload(b"c" * 20, b"\x01"))
        await self.settle()
        self.assertEqual(self.overlay(2).drop_counts["attestation-unsolicited-response"], 1)

    async def test_worker_queue_is_bounded(self) -> None:
        overlay = self.overlay(1)
        overlay.worker.max_queued = 0
        overlay.worker._semaphore.tokens = 0  # nothing may start: every job would have to wait
        secret_key = await self.overlay(0).generate_secret_key("id_metadata")
        self.overlay(0).request_attestation(self.peer(1), "name", secret_key)
        await self.settle()
        self.assertEqual(overlay.drop_counts["attestation-worker-busy"], 1)

    async def test_pending_challenge_times_out(self) -> None:
        attestation_hash = await self.attest("name", "id_metadata")
        self.overlay(0).endpoint.close()  # the owner goes silent after the verify request
        done = self.overlay(2).verify_attestation_values(self.address(0), attestation_hash, [b"Alice"], None,
                                                         "id_metadata")
        await self.settle()
        self.clock.advance(CHALLENGE_TIMEOUT + 1)
        self.clock.advance(TRANSFER_TIMEOUT)
        self.assertIsNone(await done)
        self.assertEqual(len(self.overlay(2).request_cache._caches), 0)


class TestProcessWorker(TestAttestationCommunity):
    """The same flows with the crypto in the shared pool of worker processes (a real node's default)."""

    worker_runner = None

    def setUp(self) -> Any:
        result = super().setUp()
        self.assertIsInstance(self.overlay(0).worker.runner, ProcessRunner)
        return result


class TestThreadWorker(TestAttestationCommunity):
    """The same flows with the crypto in reactor threads (the runner is a setting)."""

    worker_runner = staticmethod(deferToThread)
