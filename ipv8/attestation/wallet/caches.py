"""Request caches of the attestation overlay: every conversation it waits on, each with a timeout.

Caches are keyed by hashes (attestation hashes, challenge hashes) or by who we asked; the number of a cache is
the big-endian integer of its key, so equal keys collide (a second verification of the same hash while the
first is running is refused, as in pyipv8). What a cache may collect from the network is bounded here:
a transfer keeps at most ``max_size`` bytes in at most ``max_size / CHUNK_SIZE + 1`` chunks.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from ...requestcache import NumberCache, RequestCache
from .payload import CHUNK_SIZE

if TYPE_CHECKING:
    from ...messaging.interfaces.endpoint import Address  # noqa: F401

logger = logging.getLogger(__name__)

__all__ = ["ChunkCollector", "PendingChallengeCache", "ProvingAttestationCache", "ReceiveAttestationRequestCache",
           "ReceiveAttestationVerifyCache", "number_of"]

#: Seconds an attestation transfer or a verification may take before it is given up (pyipv8 3.2.1: 120).
TRANSFER_TIMEOUT = 120.0
#: Seconds one challenge waits for its response (pyipv8 3.2.1: the cache default of 10).
CHALLENGE_TIMEOUT = 10.0


def number_of(key: bytes) -> int:
    """The cache number for ``key``: its bytes as one big-endian integer."""
    return int.from_bytes(key, "big")


class ChunkCollector:
    """The chunks of one attestation transfer, checked against the SHA-1 every chunk names.

    :param max_size: bytes the assembled attestation may have at most.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.chunks: dict[int, bytes] = {}
        self.size = 0
        self.expected_hash: bytes | None = None

    def add(self, attestation_hash: bytes, sequence_number: int, data: bytes) -> tuple[str | None, bytes | None]:
        """Take one chunk: ``(reason it was refused or None, the complete attestation or None)``."""
        if self.expected_hash is None:
            self.expected_hash = attestation_hash
        elif attestation_hash != self.expected_hash:
            return "attestation-chunk-wrong-hash", None
        if len(data) > CHUNK_SIZE or sequence_number * CHUNK_SIZE >= self.max_size:
            return "attestation-chunk-oversized", None
        known = self.chunks.get(sequence_number)
        if known is not None:
            # A repeat is harmless; a different chunk under a used number is not accepted.
            return (None if known == data else "attestation-chunk-conflict"), None
        if self.size + len(data) > self.max_size:
            return "attestation-chunk-oversized", None
        self.chunks[sequence_number] = data
        self.size += len(data)
        if len(self.chunks) != max(self.chunks) + 1:
            return None, None  # a gap: wait for the rest
        blob = b"".join(self.chunks[index] for index in range(len(self.chunks)))
        if hashlib.sha1(blob).digest() == attestation_hash:
            return None, blob
        return None, None


class ReceiveAttestationRequestCache(NumberCache):
    """We asked ``mid`` to attest our attribute ``name`` (with the request's global time); collects the chunks."""

    prefix_name = "receive-request-attestation"

    def __init__(self, request_cache: RequestCache, mid: bytes, global_time: int, key: Any,
                 name: str, id_format: str, max_size: int) -> None:
        super().__init__(request_cache, self.prefix_name, self.number_for(mid, global_time))
        self.mid = mid
        self.global_time = global_time
        self.key = key
        self.name = name
        self.id_format = id_format
        self.collector = ChunkCollector(max_size)
        #: Fires with the attestation hash once the attestation is stored, or with None if it never came.
        self.done: Deferred = Deferred()

    @staticmethod
    def number_for(mid: bytes, global_time: int) -> int:
        """The cache number of the request to ``mid`` sent with ``global_time``."""
        return number_of(mid + global_time.to_bytes(8, "big"))

    @property
    def timeout_delay(self) -> float:
        return TRANSFER_TIMEOUT

    def on_timeout(self) -> None:
        logger.warning("Attestation of %r was not received in time", self.name)
        if not self.done.called:
            self.done.callback(None)


class ReceiveAttestationVerifyCache(NumberCache):
    """We asked ``address`` for the attestation ``attestation_hash`` to verify it; collects the chunks."""

    prefix_name = "receive-verify-attestation"

    def __init__(self, request_cache: RequestCache, attestation_hash: bytes, id_format: str,
                 address: Any, max_size: int) -> None:
        super().__init__(request_cache, self.prefix_name, number_of(attestation_hash))
        self.attestation_hash = attestation_hash
        self.id_format = id_format
        self.address = address
        self.collector = ChunkCollector(max_size)

    @property
    def timeout_delay(self) -> float:
        return TRANSFER_TIMEOUT


class ProvingAttestationCache(NumberCache):
    """A verification in progress: the challenges, which are answered, and what the answers add up to."""

    prefix_name = "proving-attestation"

    def __init__(self, request_cache: RequestCache, attestation_hash: bytes, id_format: str,
                 on_complete: Callable[[bytes, dict], None]) -> None:
        super().__init__(request_cache, self.prefix_name, number_of(attestation_hash))
        self.hash = attestation_hash
        self.id_format = id_format
        self.public_key: Any = None
        self.address: Any = None
        self.relativity_map: dict = {}
        self.hashed_challenges: list[bytes] = []
        self.challenges: list[bytes] = []
        self.attestation_callbacks = on_complete
        #: Fires with the certainties once the verification completed, or with None if it did not.
        self.done: Deferred = Deferred()
        self.finished = False

    @property
    def timeout_delay(self) -> float:
        return TRANSFER_TIMEOUT

    def on_timeout(self) -> None:
        logger.warning("Verification of attestation %s did not complete in time", self.hash.hex())
        self.finished = True
        if not self.done.called:
            self.done.callback(None)


class PendingChallengeCache(NumberCache):
    """One challenge on its way; ``honesty_check`` is the known answer of an honesty challenge, else -1."""

    prefix_name = "proving-hash"

    def __init__(self, request_cache: RequestCache, challenge_hash: bytes, proving_cache: ProvingAttestationCache,
                 id_format: str, honesty_check: int = -1) -> None:
        super().__init__(request_cache, self.prefix_name, number_of(challenge_hash))
        self.challenge_hash = challenge_hash
        self.proving_cache = proving_cache
        self.id_format = id_format
        self.honesty_check = honesty_check

    @property
    def timeout_delay(self) -> float:
        return CHALLENGE_TIMEOUT
