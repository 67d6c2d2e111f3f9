"""Wire payloads of the identity overlay; byte-identical to pyipv8 3.2.1 (facts sheet B.13).

Every message is signed (authentication header, body, signature) and carries no global time. The bodies:

=====  ================  =========================================================================
id     message           body
=====  ================  =========================================================================
1      disclose          ``varlenH`` metadata, ``varlenH`` tokens, ``varlenH`` attestations,
                         ``varlenH`` authorities (the four parts of a disclosure, see
                         :meth:`~ipv8.attestation.identity.manager.PseudonymManager.create_disclosure`)
2      attest            ``varlenH`` a serialized attestation (metadata hash and signature)
3      request-missing   ``I`` how many tokens of the sender's tree the requester already has
4      missing-response  ``raw`` serialized tokens (the rest of the signed part)
=====  ================  =========================================================================
"""
from __future__ import annotations

from ...messaging.payload_dataclass import dataclass, type_from_format

__all__ = ["IDENTITY_PAYLOADS", "AttestPayload", "DisclosePayload", "MissingResponsePayload",
           "RequestMissingPayload"]

LengthPrefixed = type_from_format("varlenH")
Count = type_from_format("I")
Rest = type_from_format("raw")


@dataclass(msg_id=1)
class DisclosePayload:
    """disclose (1): credentials of the sender, with the tokens and attestations that back them."""

    metadata: LengthPrefixed
    tokens: LengthPrefixed
    attestations: LengthPrefixed
    authorities: LengthPrefixed


@dataclass(msg_id=2)
class AttestPayload:
    """attest (2): the sender's attestation of metadata of the receiver."""

    attestation: LengthPrefixed


@dataclass(msg_id=3)
class RequestMissingPayload:
    """request-missing (3): send me your tokens from index ``known`` on."""

    known: Count


@dataclass(msg_id=4)
class MissingResponsePayload:
    """missing-response (4): serialized tokens answering a request-missing."""

    tokens: Rest


#: Every payload class of the overlay, by message id.
IDENTITY_PAYLOADS = {cls.msg_id: cls for cls in (DisclosePayload, AttestPayload, RequestMissingPayload,
                                                 MissingResponsePayload)}
