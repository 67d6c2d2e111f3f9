"""Wire payloads of the attestation overlay; byte-identical to pyipv8 3.2.1 (facts sheet B.13).

Every message is signed (authentication header, global time, body, signature). The bodies:

=====  =============================  ======================================================================
id     message                        body
=====  =============================  ======================================================================
1      verify-attestation-request     ``20s`` SHA-1 of the public attestation the sender wants to check
2      attestation-chunk              ``20s`` SHA-1 of the whole attestation, ``H`` sequence number,
                                      ``raw`` up to :data:`CHUNK_SIZE` bytes of it
3      challenge                      ``20s`` attestation hash, ``raw`` challenge
4      challenge-response             ``20s`` SHA-1 of the challenge answered, ``raw`` response
5      request-attestation            ``raw`` UTF-8 JSON metadata (attribute, public_key, id_format, ...)
=====  =============================  ======================================================================

``raw`` takes the rest of the signed part, so each message holds exactly one such field, at its end.
"""
from __future__ import annotations

from ...messaging.payload_dataclass import dataclass, type_from_format

__all__ = [
    "ATTESTATION_PAYLOADS",
    "CHUNK_SIZE",
    "AttestationChunkPayload",
    "ChallengePayload",
    "ChallengeResponsePayload",
    "RequestAttestationPayload",
    "VerifyAttestationRequestPayload",
]

#: Attestations travel in chunks of this many bytes (the last one may be shorter), as pyipv8 3.2.1 sends them.
CHUNK_SIZE = 800

Hash20 = type_from_format("20s")
Sequence = type_from_format("H")
Rest = type_from_format("raw")


@dataclass(msg_id=1)
class VerifyAttestationRequestPayload:
    """verify-attestation-request (1): please prove to me the attestation with this hash."""

    attestation_hash: Hash20


@dataclass(msg_id=2)
class AttestationChunkPayload:
    """attestation-chunk (2): part ``sequence_number`` of the serialized attestation whose SHA-1 is given."""

    attestation_hash: Hash20
    sequence_number: Sequence
    data: Rest


@dataclass(msg_id=3)
class ChallengePayload:
    """challenge (3): a verifier's challenge for the owner of the attestation ``attestation_hash``."""

    attestation_hash: Hash20
    challenge: Rest


@dataclass(msg_id=4)
class ChallengeResponsePayload:
    """challenge-response (4): the owner's answer to the challenge whose SHA-1 is ``challenge_hash``."""

    challenge_hash: Hash20
    response: Rest


@dataclass(msg_id=5)
class RequestAttestationPayload:
    """request-attestation (5): please attest an attribute of mine; ``metadata`` is UTF-8 JSON."""

    metadata: Rest


#: Every payload class of the overlay, by message id.
ATTESTATION_PAYLOADS = {cls.msg_id: cls for cls in (VerifyAttestationRequestPayload, AttestationChunkPayload,
                                                    ChallengePayload, ChallengeResponsePayload,
                                                    RequestAttestationPayload)}
