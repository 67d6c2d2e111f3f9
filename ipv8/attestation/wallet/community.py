"""The attestation overlay: have attributes attested by others and prove them, wire-compatible with pyipv8 3.2.1.

Three parties take part. The *owner* of an attribute asks an *attestor* to attest it
(:meth:`AttestationCommunity.request_attestation`, message 5). The attestor's
:meth:`~AttestationCommunity.set_attestation_request_callback` decides on the value; the attestor encrypts it
for the owner's one-time key and sends the attestation back in chunks (message 2), which the owner stores.
A *verifier* later asks the owner for the attestation with a given hash
(:meth:`AttestationCommunity.verify_attestation_values`, message 1); if the owner's
:meth:`~AttestationCommunity.set_verify_request_callback` agrees, the public attestation is sent in chunks
and the verifier challenges the owner (message 3) until every challenge is answered (message 4). The answers
tell the verifier how certain it is that the attribute has each of the values it is interested in.

Every message is signed and carries a global time. The chunks of one attestation all carry the same global
time (the one of the request they answer, as pyipv8 does), so replay protection is not applied to them;
a chunk is only accepted into a transfer we started, from the peer we asked, and the whole attestation must
match the hash the chunks name.

**Hostile input.** Requests are rate limited per source IP; callbacks waiting for a decision, transfers,
challenge sessions and crypto jobs are all capped and expire; an attestation may have at most
:attr:`AttestationCommunity.max_attestation_size` bytes; the owner answers at most a few more challenges than
an honest verifier needs, and only after it sent the attestation to that verifier. Heavy arithmetic runs in
a :class:`~ipv8.attestation.wallet.worker.CryptoWorker` (worker processes, bounded). Drops are counted in
:attr:`~ipv8.community.Community.drop_counts` under ``attestation-...`` reasons.
"""
from __future__ import annotations

import binascii
import hashlib
import json
import os
import random
from base64 import decodebytes, encodebytes
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred

from ...bounded import AgedMap
from ...community import Community, CommunitySettings
from ...lazy_community import lazy_wrapper
from ...messaging.payload_headers import (
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from ...messaging.rate_limit import PerSourceRateLimiter
from ...requestcache import RequestCache
from ..default_identity_formats import FORMATS

# Imported here, not on first use: importing them takes tens of milliseconds, which would stall the reactor.
from .bonehexact.algorithm import BonehExactAlgorithm
from .caches import (
    PendingChallengeCache,
    ProvingAttestationCache,
    ReceiveAttestationRequestCache,
    ReceiveAttestationVerifyCache,
    number_of,
)
from .database import AttestationsDB
from .jobs import (
    attest_value,
    check_response,
    prepare_verification,
    read_for_proving,
    read_own,
)
from .payload import (
    CHUNK_SIZE,
    AttestationChunkPayload,
    ChallengePayload,
    ChallengeResponsePayload,
    RequestAttestationPayload,
    VerifyAttestationRequestPayload,
)
from .pengbaorange.algorithm import PengBaoRangeAlgorithm
from .worker import CryptoWorker, WorkerBusyError

if TYPE_CHECKING:
    from ...peer import Peer
    from ..identity_formats import Attestation, IdentityAlgorithm

__all__ = ["AttestationCommunity", "AttestationError", "AttestationSettings"]

_sha1 = hashlib.sha1  # the protocol's identifiers are SHA-1 digests

DROP_RATE_LIMITED = "attestation-rate-limited"
DROP_MALFORMED_REQUEST = "attestation-malformed-request"
DROP_TOO_MANY_PENDING = "attestation-too-many-pending"
DROP_WORKER_BUSY = "attestation-worker-busy"
DROP_UNKNOWN_HASH = "attestation-unknown-hash"
DROP_UNSOLICITED_CHUNK = "attestation-unsolicited-chunk"
DROP_BAD_ATTESTATION = "attestation-malformed-attestation"
DROP_UNSOLICITED_CHALLENGE = "attestation-unsolicited-challenge"
DROP_MALFORMED_CHALLENGE = "attestation-malformed-challenge"
DROP_UNSOLICITED_RESPONSE = "attestation-unsolicited-response"
DROP_CHEATER = "attestation-failed-honesty-check"


class AttestationError(Exception):
    """A local request cannot be made (unknown format, too many outstanding, one already running)."""


class AttestationSettings(CommunitySettings):
    """Settings of :class:`AttestationCommunity`."""

    #: Where ``sqlite/<db_name>.db`` is kept; ``":memory:"`` keeps nothing on disk.
    working_directory: str = ""
    #: Name of the database file and table.
    db_name: str = "attestations"
    #: How crypto jobs run (see :class:`~ipv8.attestation.wallet.worker.CryptoWorker`): None for the shared
    #: process pool, ``deferToThread``, or ``run_inline`` (deterministic, for tests).
    worker_runner: Any = None


class AttestationCommunity(Community):
    """Transfer and verify attestations; see the module documentation."""

    community_id = binascii.unhexlify("b42c93d167a0fc4a0843f917d4bf1e9ebb340ec4")
    settings_class = AttestationSettings

    #: Bytes an attestation may have (id_metadata_huge, the largest default format, needs about 35 KB).
    max_attestation_size: int = 128 * 1024
    #: Attestation requests we may have outstanding, in total and per attestor.
    max_outstanding_requests: int = 64
    max_outstanding_requests_per_peer: int = 8
    #: Verifications we may run at once.
    max_outstanding_verifications: int = 32
    #: Requests (to attest, or to verify) from others waiting for our callbacks, in total and per peer.
    max_pending_callbacks: int = 32
    max_pending_callbacks_per_peer: int = 4
    #: Seconds a callback may take to decide; then the request is dropped.
    callback_timeout: float = 120.0
    #: Requests to attest or to verify accepted per second per source IP (twice that at once).
    request_rate_limit: float = 5.0
    #: Challenges sent per verification before the first answers (pyipv8 3.2.1: 10).
    initial_challenges: int = 10
    #: Challenge sessions (a verifier we sent an attestation to) remembered at most, and for how long.
    max_challenge_sessions: int = 256
    challenge_session_ttl: float = 120.0
    #: Algorithms whose answers take long to check (a range proof: ~10 ms): checked in the worker.
    slow_response_checks: tuple[type, ...] = (PengBaoRangeAlgorithm,)
    #: Crypto jobs running at once and waiting at most (see :class:`CryptoWorker`).
    worker_concurrency: int = 2
    worker_queue: int = 16

    def __init__(self, settings: AttestationSettings) -> None:
        """Open the database, load our attestations' keys and register the five message handlers."""
        super().__init__(settings)
        self.attestation_request_callback: Callable[..., Any] = lambda peer, name, metadata: None
        self.attestation_request_complete_callback: Callable[..., Any] = lambda *args, **kwargs: None
        self.verify_request_callback: Callable[..., Any] = lambda peer, attestation_hash: True
        self.worker = CryptoWorker(self.worker_concurrency, self.worker_queue, getattr(settings, "worker_runner",
                                                                                       None))
        self.request_cache = RequestCache(self._reactor)
        self._algorithms: dict[str, IdentityAlgorithm] = {}
        #: attestation hash -> (secret key, id_format) of every attestation we own.
        self.attestation_keys: dict[bytes, tuple[Any, str]] = {}
        self.database = AttestationsDB(getattr(settings, "working_directory", "") or ".",
                                       getattr(settings, "db_name", "attestations"))
        for attestation_hash, _, key, id_format in self.database.get_all():
            secret_key = self.get_id_algorithm(id_format.decode()).load_secret_key(key)
            if secret_key is not None:
                self.attestation_keys[attestation_hash] = (secret_key, id_format.decode())
        #: attestation hash -> our private attestation, for answering challenges after a verify request.
        self.cached_attestation_blobs: dict[bytes, Attestation] = {}
        #: attestation hash -> the public serialization of that attestation (what verifiers receive).
        self._public_blobs: dict[bytes, bytes] = {}
        #: (verifier mid, attestation hash) -> challenges we still answer for that verifier.
        self._challenge_sessions: AgedMap = AgedMap(self.max_challenge_sessions, self.challenge_session_ttl)
        #: Peer mids of requests waiting for one of our callbacks (one entry per request).
        self._pending_callbacks: list[bytes] = []
        self._request_limiter = PerSourceRateLimiter(self.request_rate_limit, 2 * self.request_rate_limit,
                                                     20 * self.request_rate_limit, 40 * self.request_rate_limit)
        self._unloaded = False

        self.add_message_handler(VerifyAttestationRequestPayload, self.on_verify_attestation_request)
        self.add_message_handler(AttestationChunkPayload, self.on_attestation_chunk)
        self.add_message_handler(ChallengePayload, self.on_challenge)
        self.add_message_handler(ChallengeResponsePayload, self.on_challenge_response)
        self.add_message_handler(RequestAttestationPayload, self.on_request_attestation)

    def unload(self) -> Deferred:
        """Stop the caches, close the database and release the crypto worker (late job results are ignored)."""
        self._unloaded = True
        for cache in self._caches(ReceiveAttestationRequestCache) + self._caches(ProvingAttestationCache):
            if not cache.done.called:
                cache.done.callback(None)
        stopping = self.request_cache.shutdown()

        def close(_: object) -> Deferred:
            unloading = maybeDeferred(super(AttestationCommunity, self).unload)
            unloading.addBoth(lambda result: (self.database.close(), result)[1])
            # The shared worker processes stop with their last user (a test's reactor must end clean).
            unloading.addBoth(lambda result: self.worker.close().addBoth(lambda _: result))
            return unloading
        return stopping.addCallback(close)

    def accept_global_time(self, key_bin: bytes, msg_id: int, global_time: int, source_address: Any) -> bool:
        """Chunks share one global time (see the module documentation); everything else is replay-checked."""
        if msg_id == AttestationChunkPayload.msg_id:
            return True
        return super().accept_global_time(key_bin, msg_id, global_time, source_address)

    # Public interface ------------------------------------------------------------------------------------

    def get_id_algorithm(self, id_format: str) -> IdentityAlgorithm:
        """The algorithm of a known identity format; :class:`AttestationError` for an unknown one."""
        algorithm = self._algorithms.get(id_format)
        if algorithm is None:
            spec = FORMATS.get(id_format) if isinstance(id_format, str) else None
            if spec is None:
                raise AttestationError(f"unknown identity format {id_format!r}")
            if spec["algorithm"] == "bonehexact":
                algorithm = BonehExactAlgorithm(id_format, FORMATS)
            else:
                algorithm = PengBaoRangeAlgorithm(id_format, FORMATS)
            self._algorithms[id_format] = algorithm
        return algorithm

    def generate_secret_key(self, id_format: str) -> Deferred:
        """A fresh secret key for ``id_format``, made in the worker (key generation takes a while)."""
        algorithm = self.get_id_algorithm(id_format)
        return maybeDeferred(self.worker.submit, algorithm.generate_secret_key)

    def set_attestation_request_callback(self, f: Callable[..., Any]) -> None:
        """``f(peer, attribute_name, metadata)`` gives the value to attest (bytes), or None to refuse.

        It may return a Deferred or be a coroutine function; it has :attr:`callback_timeout` seconds.
        """
        self.attestation_request_callback = f

    def set_attestation_request_complete_callback(self, f: Callable[..., Any]) -> None:
        """``f(for_peer, attribute_name, attestation_hash, id_format, from_peer=None)`` runs after each attestation.

        As attestor we call it with the owner as ``for_peer``; as owner, with our own peer and the attestor as
        ``from_peer``.
        """
        self.attestation_request_complete_callback = f

    def set_verify_request_callback(self, f: Callable[..., Any]) -> None:
        """``f(peer, attestation_hash)`` says whether ``peer`` may verify that attestation of ours (default: yes)."""
        self.verify_request_callback = f

    def dump_blob(self, attribute_name: str, id_format: str, blob: bytes, metadata: dict | None = None) -> None:
        """Store an attestation made elsewhere (a blob the format can import) as if it was attested to us."""
        algorithm = self.get_id_algorithm(id_format)
        attestation_blob, key = algorithm.import_blob(blob)
        attestation = algorithm.get_attestation_class().unserialize_private(key, attestation_blob, id_format)
        self.on_attestation_complete(attestation, key, self.my_peer, attribute_name, attestation.get_hash(),
                                     id_format)

    def request_attestation(self, peer: Peer, attribute_name: str, secret_key: Any,
                            metadata: dict[str, str] | None = None) -> Deferred:
        """Ask ``peer`` to attest our attribute ``attribute_name``, for the one-time key ``secret_key``.

        ``metadata`` may name the ``id_format`` (default ``id_metadata``); the rest goes to the attestor.
        Returns a Deferred that fires with the attestation hash once it is stored, or with None if the
        attestation did not arrive within two minutes.
        """
        metadata = dict(metadata or {})
        id_format = metadata.pop("id_format", "id_metadata")
        self.get_id_algorithm(id_format)
        outstanding = self._caches(ReceiveAttestationRequestCache)
        if len(outstanding) >= self.max_outstanding_requests or \
                sum(1 for cache in outstanding if cache.mid == peer.mid) >= self.max_outstanding_requests_per_peer:
            raise AttestationError("too many attestation requests are outstanding")
        meta_dict = {"attribute": attribute_name,
                     "public_key": encodebytes(secret_key.public_key().serialize()).decode(),
                     "id_format": id_format}
        meta_dict.update(metadata)
        global_time = self.claim_global_time()
        cache = ReceiveAttestationRequestCache(self.request_cache, peer.mid, global_time, secret_key, attribute_name,
                                               id_format, self.max_attestation_size)
        self.request_cache.add(cache)
        self._send(peer.address, global_time, RequestAttestationPayload(json.dumps(meta_dict).encode()))
        return cache.done

    def verify_attestation_values(self, socket_address: Any, attestation_hash: bytes, values: list[bytes],
                                  callback: Callable[[bytes, list[float]], None] | None, id_format: str) -> Deferred:
        """Ask the owner at ``socket_address`` to prove the attestation ``attestation_hash``.

        When every challenge is answered, ``callback(attestation_hash, certainties)`` is called with one
        certainty (0.0 to 1.0) per value of ``values``; the returned Deferred fires with the same list, or
        with None if the verification did not complete in time.
        """
        algorithm = self.get_id_algorithm(id_format)
        if not isinstance(attestation_hash, bytes) or len(attestation_hash) != 20:
            raise AttestationError("an attestation hash is 20 bytes")
        if self.request_cache.has(ProvingAttestationCache.prefix_name, number_of(attestation_hash)) or \
                self.request_cache.has(ReceiveAttestationVerifyCache.prefix_name, number_of(attestation_hash)):
            raise AttestationError("this attestation is being verified already")
        if sum(1 for _ in self._caches(ProvingAttestationCache)) >= self.max_outstanding_verifications:
            raise AttestationError("too many verifications are running")

        def on_complete(attest_hash: bytes, relativity_map: dict) -> None:
            certainties = [algorithm.certainty(value, relativity_map) for value in values]
            if callback is not None:
                callback(attest_hash, certainties)
            if not proving.done.called:
                proving.done.callback(certainties)

        proving = ProvingAttestationCache(self.request_cache, attestation_hash, id_format, on_complete)
        proving.address = socket_address
        self.request_cache.add(proving)
        self.request_cache.add(ReceiveAttestationVerifyCache(self.request_cache, attestation_hash, id_format,
                                                             socket_address, self.max_attestation_size))
        self._send(socket_address, self.claim_global_time(), VerifyAttestationRequestPayload(attestation_hash))
        return proving.done

    def send_attestation(self, socket_address: Any, blob: bytes, global_time: int | None = None) -> None:
        """Send ``blob`` in chunks of :data:`CHUNK_SIZE` bytes, all with one global time."""
        if global_time is None:
            global_time = self.claim_global_time()
        blob_hash = _sha1(blob).digest()
        for sequence_number, start in enumerate(range(0, len(blob), CHUNK_SIZE)):
            self._send(socket_address, global_time,
                       AttestationChunkPayload(blob_hash, sequence_number, blob[start:start + CHUNK_SIZE]))

    # Helpers -------------------------------------------------------------------------------------------

    def _send(self, address: Any, global_time: int, payload: Any) -> None:
        auth = BinMemberAuthenticationPayload(self.my_peer.public_key.key_to_bin())
        packet = self._ez_pack(self._prefix, payload.msg_id, [auth, GlobalTimeDistributionPayload(global_time),
                                                               payload])
        self.endpoint.send(address, packet)

    def _caches(self, cls: type) -> list:
        # The store has no public listing; the caps need to count what is outstanding.
        return [cache for cache in list(self.request_cache._caches.values())
                if isinstance(cache, cls)]

    def _allowed(self, peer: Peer) -> bool:
        if self._request_limiter.allow(peer.address[0], self.clock.seconds()):
            return True
        self.drop_counts[DROP_RATE_LIMITED] += 1
        return False

    def _ask(self, peer: Peer, function: Callable[..., Any], *args: Any) -> Deferred | None:
        """Run one of the user's callbacks for ``peer``'s request, capped in number and time."""
        if len(self._pending_callbacks) >= self.max_pending_callbacks or \
                self._pending_callbacks.count(peer.mid) >= self.max_pending_callbacks_per_peer:
            self.drop_counts[DROP_TOO_MANY_PENDING] += 1
            return None
        self._pending_callbacks.append(peer.mid)
        answer = maybeDeferred(function, peer, *args)
        if not answer.called:
            answer.addTimeout(self.callback_timeout, self.clock)

        def release(result: object) -> object:
            self._pending_callbacks.remove(peer.mid)
            return result
        return answer.addBoth(release)

    def _submit(self, function: Callable[..., Any], *args: Any) -> Deferred | None:
        try:
            return self.worker.submit(function, *args)
        except WorkerBusyError:
            self.drop_counts[DROP_WORKER_BUSY] += 1
            return None

    # Attesting (the attestor's side) ----------------------------------------------------------------------

    @lazy_wrapper(GlobalTimeDistributionPayload, RequestAttestationPayload)
    async def on_request_attestation(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                     payload: RequestAttestationPayload) -> None:
        """Someone asks us to attest an attribute: ask our callback for the value, attest it, send it back."""
        if not self._allowed(peer):
            return
        try:
            metadata = json.loads(payload.metadata)
            attribute = metadata.pop("attribute")
            public_key_text = metadata.pop("public_key")
            id_format = metadata.pop("id_format")
            if not isinstance(attribute, str) or not isinstance(public_key_text, str):
                raise TypeError("attribute and public_key must be strings")
            algorithm = self.get_id_algorithm(id_format)
            public_key = algorithm.load_public_key(decodebytes(public_key_text.encode()))
            if public_key is None:  # malformed, or too large for the format (see BonehKeys)
                raise ValueError("unusable public key")
        except (ValueError, TypeError, KeyError, AttributeError, AttestationError, binascii.Error):
            self.drop_counts[DROP_MALFORMED_REQUEST] += 1
            return
        asking = self._ask(peer, self.attestation_request_callback, attribute, metadata)
        if asking is None:
            return
        try:
            value = await asking
        except Exception:  # noqa: BLE001 - a callback that fails or times out refuses
            self.logger.warning("Attestation request callback failed or timed out for %r", attribute)
            return
        if value is None or self._unloaded:
            return
        if isinstance(value, str):
            value = value.encode()
        job = self._submit(attest_value, algorithm, public_key, value, id_format)
        if job is None:
            return
        blob, attestation_hash = await job
        if self._unloaded:
            return
        self.attestation_request_complete_callback(peer, attribute, attestation_hash, id_format, None)
        self.send_attestation(peer.address, blob, dist.global_time)

    # Receiving chunks (owner and verifier) ----------------------------------------------------------------

    @lazy_wrapper(GlobalTimeDistributionPayload, AttestationChunkPayload)
    def on_attestation_chunk(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                             payload: AttestationChunkPayload) -> None:
        """A chunk of an attestation we asked for: either one we want to verify, or our own new one."""
        verify = self.request_cache.get(ReceiveAttestationVerifyCache.prefix_name, number_of(payload.attestation_hash))
        if isinstance(verify, ReceiveAttestationVerifyCache) and tuple(verify.address) == tuple(peer.address):
            self._take_chunk(verify, payload, lambda blob: self._received_for_verification(peer, verify, blob))
            return
        request = self.request_cache.get(ReceiveAttestationRequestCache.prefix_name,
                                         ReceiveAttestationRequestCache.number_for(peer.mid, dist.global_time))
        if isinstance(request, ReceiveAttestationRequestCache):
            self._take_chunk(request, payload, lambda blob: self._received_own(peer, request, blob))
            return
        self.drop_counts[DROP_UNSOLICITED_CHUNK] += 1

    def _take_chunk(self, cache: Any, payload: AttestationChunkPayload, complete: Callable[[bytes], Any]) -> None:
        refused, blob = cache.collector.add(payload.attestation_hash, payload.sequence_number, payload.data)
        if refused is not None:
            self.drop_counts[refused] += 1
        if blob is not None:
            self.request_cache.pop(cache.prefix, cache.number)
            complete(blob)

    def _received_own(self, peer: Peer, cache: ReceiveAttestationRequestCache, blob: bytes) -> None:
        attestation_class = self.get_id_algorithm(cache.id_format).get_attestation_class()
        job = self._submit(read_own, attestation_class, cache.key, blob, cache.id_format)
        if job is None:
            cache.done.callback(None)
            return

        def store(result: tuple[Attestation, bytes]) -> None:
            if self._unloaded:
                return
            attestation, private_blob = result
            attestation_hash = attestation.get_hash()
            self.on_attestation_complete(attestation, cache.key, peer, cache.name, attestation_hash, cache.id_format,
                                         private_blob)
            cache.done.callback(attestation_hash)

        def refuse(failure: Any) -> None:
            self.drop_counts[DROP_BAD_ATTESTATION] += 1
            cache.done.callback(None)
        job.addCallbacks(store, refuse)

    def on_attestation_complete(self, unserialized: Attestation, secret_key: Any, peer: Peer, name: str,
                                attestation_hash: bytes, id_format: str, serialized: bytes | None = None) -> None:
        """An attestation of ours arrived (or was imported): keep it and tell the complete-callback.

        ``serialized`` is ``unserialized.serialize_private(secret_key.public_key())`` if the caller made it
        already (off the reactor); otherwise it is made here.
        """
        self.attestation_keys[attestation_hash] = (secret_key, id_format)
        if serialized is None:
            self.database.insert_attestation(unserialized, attestation_hash, secret_key, id_format)
        else:
            self.database.insert_serialized(attestation_hash, serialized, secret_key.serialize(), id_format)
        self.attestation_request_complete_callback(self.my_peer, name, attestation_hash, id_format, peer)

    # Verifying (the verifier's side) -------------------------------------------------------------------------

    def _received_for_verification(self, peer: Peer, cache: ReceiveAttestationVerifyCache, blob: bytes) -> None:
        proving = self.request_cache.get(ProvingAttestationCache.prefix_name, number_of(cache.attestation_hash))
        if not isinstance(proving, ProvingAttestationCache):
            return
        algorithm = self.get_id_algorithm(cache.id_format)
        job = self._submit(prepare_verification, algorithm, blob, cache.id_format)
        if job is None:
            self._finish(proving, algorithm.create_certainty_aggregate(None))
            return

        def start(prepared: tuple) -> None:
            if self._unloaded or proving.finished:
                return
            public_key, relativity_map, challenges = prepared
            proving.public_key = public_key
            proving.relativity_map = relativity_map
            proving.challenges = list(challenges)
            proving.hashed_challenges = [_sha1(challenge).digest() for challenge in challenges]
            for challenge in challenges[:self.initial_challenges]:
                self._challenge(peer, proving, challenge)

        def refuse(failure: Any) -> None:
            self.drop_counts[DROP_BAD_ATTESTATION] += 1
            self._finish(proving, algorithm.create_certainty_aggregate(None))
        job.addCallbacks(start, refuse)

    def _challenge(self, peer: Peer, proving: ProvingAttestationCache, challenge: bytes, honesty: int = -1) -> bool:
        challenge_hash = _sha1(challenge).digest()
        if self.request_cache.has(PendingChallengeCache.prefix_name, number_of(challenge_hash)):
            return False
        self.request_cache.add(PendingChallengeCache(self.request_cache, challenge_hash, proving, proving.id_format,
                                                     honesty))
        self._send(peer.address, self.claim_global_time(), ChallengePayload(proving.hash, challenge))
        return True

    def _finish(self, proving: ProvingAttestationCache, relativity_map: dict) -> None:
        if proving.finished:
            return
        proving.finished = True
        if self.request_cache.has(proving.prefix, proving.number):
            self.request_cache.pop(proving.prefix, proving.number)
        # Challenges still on their way (honesty checks) stay until answered or timed out: their late
        # answers are expected, not unsolicited.
        proving.attestation_callbacks(proving.hash, relativity_map)

    @lazy_wrapper(GlobalTimeDistributionPayload, ChallengeResponsePayload)
    def on_challenge_response(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                              payload: ChallengeResponsePayload) -> None:
        """The owner answered one of our challenges: record it, then send the next one or finish."""
        number = number_of(payload.challenge_hash)
        cache = self.request_cache.get(PendingChallengeCache.prefix_name, number)
        if not isinstance(cache, PendingChallengeCache) or tuple(cache.proving_cache.address) != tuple(peer.address):
            self.drop_counts[DROP_UNSOLICITED_RESPONSE] += 1
            return
        self.request_cache.pop(PendingChallengeCache.prefix_name, number)
        proving = cache.proving_cache
        if proving.finished:
            return
        algorithm = self.get_id_algorithm(proving.id_format)
        if cache.honesty_check >= 0:
            try:
                honest = algorithm.process_honesty_challenge(cache.honesty_check, payload.response)
            except (ValueError, TypeError, IndexError, ArithmeticError):
                honest = False
            self._after_response(peer, proving, algorithm, honest)
            return
        try:
            index = proving.hashed_challenges.index(payload.challenge_hash)
        except ValueError:
            self._after_response(peer, proving, algorithm, False)
            return
        proving.hashed_challenges.pop(index)
        challenge = proving.challenges.pop(index)
        if not isinstance(algorithm, self.slow_response_checks):
            try:
                algorithm.process_challenge_response(proving.relativity_map, challenge, payload.response)
                honest = True
            except (ValueError, TypeError, IndexError, ArithmeticError):
                honest = False
            self._after_response(peer, proving, algorithm, honest)
            return
        # A slow check (range proofs): in the worker, then record its outcome here.
        job = self._submit(check_response, algorithm, proving.relativity_map["attestation"], challenge,
                           payload.response)
        if job is None:
            self._finish(proving, algorithm.create_certainty_aggregate(None))
            return

        def record(outcome: Any) -> None:
            if self._unloaded or proving.finished:
                return
            proving.relativity_map[challenge] = outcome
            self._after_response(peer, proving, algorithm, True)

        def refuse(failure: Any) -> None:
            if not (self._unloaded or proving.finished):
                self._after_response(peer, proving, algorithm, False)
        job.addCallbacks(record, refuse)

    def _after_response(self, peer: Peer, proving: ProvingAttestationCache, algorithm: IdentityAlgorithm,
                        honest: bool) -> None:
        """An answer was processed: fail a cheater, finish when all are in, or send the next challenge."""
        if not honest:
            self.logger.warning("%s answered a challenge wrongly: the verification fails", peer)
            self.drop_counts[DROP_CHEATER] += 1
            self._finish(proving, algorithm.create_certainty_aggregate(None))
            return
        if not proving.hashed_challenges:
            self._finish(proving, proving.relativity_map)
            return
        # Now and then a challenge with a known answer, to catch an owner that guesses.
        if algorithm.honesty_check and os.urandom(1)[0] < 38:
            known = random.SystemRandom().choice([0, 1, 2])
            for _ in range(4):
                if self._challenge(peer, proving, algorithm.create_honesty_challenge(proving.public_key, known), known):
                    return
        for challenge in proving.challenges:
            if self._challenge(peer, proving, challenge):
                return

    # Proving (the owner's side) -----------------------------------------------------------------------------

    @lazy_wrapper(GlobalTimeDistributionPayload, VerifyAttestationRequestPayload)
    async def on_verify_attestation_request(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                            payload: VerifyAttestationRequestPayload) -> None:
        """Someone wants to verify an attestation of ours: if our callback agrees, send it to them."""
        if not self._allowed(peer):
            return
        attestation_hash = payload.attestation_hash
        blobs = self.database.get_attestation_by_hash(attestation_hash)
        if not blobs or not blobs[0] or attestation_hash not in self.attestation_keys:
            self.drop_counts[DROP_UNKNOWN_HASH] += 1
            return
        asking = self._ask(peer, self.verify_request_callback, attestation_hash)
        if asking is None:
            return
        try:
            allowed = await asking
        except Exception:  # noqa: BLE001 - a callback that fails or times out refuses
            self.logger.warning("Verify request callback failed or timed out")
            return
        if not allowed or self._unloaded:
            return
        secret_key, id_format = self.attestation_keys[attestation_hash]
        attestation = self.cached_attestation_blobs.get(attestation_hash)
        public_blob = self._public_blobs.get(attestation_hash)
        if attestation is None or public_blob is None:
            attestation_class = self.get_id_algorithm(id_format).get_attestation_class()
            job = self._submit(read_for_proving, attestation_class, secret_key, blobs[0], id_format)
            if job is None:
                return
            attestation, public_blob = await job
            if self._unloaded:
                return
            self.cached_attestation_blobs[attestation_hash] = attestation
            self._public_blobs[attestation_hash] = public_blob
        # An honest verifier asks one challenge per bit pair plus some honesty checks (range proofs: one).
        budget = 2 * len(getattr(attestation, "bitpairs", ())) + 16
        self._challenge_sessions.set((peer.mid, attestation_hash), budget, self.clock.seconds())
        self.send_attestation(peer.address, public_blob)

    @lazy_wrapper(GlobalTimeDistributionPayload, ChallengePayload)
    def on_challenge(self, peer: Peer, dist: GlobalTimeDistributionPayload, payload: ChallengePayload) -> None:
        """A verifier we sent an attestation to challenges it: answer, within that verifier's budget."""
        key = (peer.mid, payload.attestation_hash)
        now = self.clock.seconds()
        budget = self._challenge_sessions.get(key, now)
        attestation = self.cached_attestation_blobs.get(payload.attestation_hash)
        if not budget or attestation is None or payload.attestation_hash not in self.attestation_keys:
            self.drop_counts[DROP_UNSOLICITED_CHALLENGE] += 1
            return
        self._challenge_sessions.set(key, budget - 1, now)
        secret_key, id_format = self.attestation_keys[payload.attestation_hash]
        try:
            response = self.get_id_algorithm(id_format).create_challenge_response(secret_key, attestation,
                                                                                  payload.challenge)
        except (ValueError, TypeError, IndexError, ArithmeticError, ZeroDivisionError):
            self.drop_counts[DROP_MALFORMED_CHALLENGE] += 1
            return
        self._send(peer.address, self.claim_global_time(),
                   ChallengeResponsePayload(_sha1(payload.challenge).digest(), response))
