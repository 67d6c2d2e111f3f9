"""The wallet's heavy steps as plain functions, for :class:`~ipv8.attestation.wallet.worker.CryptoWorker`.

Each runs wherever the worker's runner puts it (a worker process by default), so it only uses its
arguments and returns picklable values: the algorithms', keys' and attestations' own objects and bytes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..identity_formats import Attestation, IdentityAlgorithm

__all__ = ["attest_value", "check_response", "prepare_verification", "read_for_proving", "read_own"]


def attest_value(algorithm: IdentityAlgorithm, public_key: Any, value: bytes, id_format: str) -> tuple[bytes, bytes]:
    """The attestor's work: the serialized attestation of ``value`` for ``public_key``, and its hash."""
    blob = algorithm.attest(public_key, value)
    return blob, algorithm.get_attestation_class().unserialize(blob, id_format).get_hash()


def prepare_verification(algorithm: IdentityAlgorithm, blob: bytes, id_format: str) -> tuple:
    """The verifier's work: the attestation's public key, an empty answer aggregate, and the challenges.

    Not the attestation itself: the verifier does not need it, and fewer objects to unpickle on the reactor
    mean fewer garbage-collector passes there.
    """
    attestation = algorithm.get_attestation_class().unserialize(blob, id_format)
    return (attestation.PK, algorithm.create_certainty_aggregate(attestation),
            algorithm.create_challenges(attestation.PK, attestation))


def read_own(attestation_class: type[Attestation], secret_key: Any, blob: bytes,
             id_format: str) -> tuple[Attestation, bytes]:
    """The owner's new attestation, and its private serialization for the database (~40 ms for a range)."""
    attestation = attestation_class.unserialize_private(secret_key, blob, id_format)
    return attestation, attestation.serialize_private(secret_key.public_key())


def read_for_proving(attestation_class: type[Attestation], secret_key: Any, blob: bytes,
                     id_format: str) -> tuple[Attestation, bytes]:
    """The owner's stored attestation, and the public copy verifiers receive (ms for the large formats)."""
    attestation = attestation_class.unserialize_private(secret_key, blob, id_format)
    return attestation, attestation.serialize()


def check_response(algorithm: IdentityAlgorithm, attestation: Attestation, challenge: bytes,
                   response: bytes) -> Any:
    """What the algorithm records for one answer to ``challenge`` (a range proof's check takes ~10 ms)."""
    return algorithm.process_challenge_response(algorithm.create_certainty_aggregate(attestation), challenge,
                                                response)[challenge]
