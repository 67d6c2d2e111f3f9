"""
The ``bonehexact`` identity algorithm: attest and verify that an attribute has an exact value.
"""
from __future__ import annotations

import struct
from typing import Any

from ...identity_formats import IdentityAlgorithm
from ..primitives.keyring import BonehKeys
from ..primitives.randomness import RandomSource
from ..primitives.structs import BonehPrivateKey, BonehPublicKey, pack_pair, unpack_pair
from .attestation import (attest_sha256, attest_sha256_4, attest_sha512, binary_relativity_certainty,
                          binary_relativity_sha256, binary_relativity_sha256_4, binary_relativity_sha512,
                          create_challenge, create_challenge_response_from_pair, create_empty_relativity_map,
                          create_honesty_check, process_challenge_response)
from .structs import BonehAttestation

__all__ = ["BonehAttestation", "BonehExactAlgorithm"]

_HASH_MODES = {
    "sha256": (attest_sha256, binary_relativity_sha256),
    "sha256_4": (attest_sha256_4, binary_relativity_sha256_4),
    "sha512": (attest_sha512, binary_relativity_sha512),
}


def _unpack_response(response: bytes) -> int:
    """A response is exactly one unsigned byte."""
    if len(response) != 1:
        msg = "a bonehexact response is exactly one byte"
        raise ValueError(msg)
    return struct.unpack(">B", response)[0]


class BonehExactAlgorithm(BonehKeys, IdentityAlgorithm[BonehAttestation]):
    """
    Exact-value attestations over the Boneh-Goh-Nissim cryptosystem.

    :param rng: random source for key generation, attestations and challenges (default: system CSPRNG).
    """

    def __init__(self, id_format: str, formats: dict[str, dict[str, Any]],
                 rng: RandomSource | None = None) -> None:
        """Check the format's parameters and pick its hash mode."""
        super().__init__(id_format, formats)
        self.honesty_check = True
        self.rng = rng
        spec = formats[id_format]
        if spec.get("algorithm") != "bonehexact":
            msg = f"Identity format {id_format!r} is not a bonehexact format"
            raise RuntimeError(msg)
        self.key_size = spec.get("key_size")
        if not isinstance(self.key_size, int) or not 32 <= self.key_size <= 512:
            msg = "Illegal key size specified"
            raise RuntimeError(msg)
        if spec.get("hash") not in _HASH_MODES:
            msg = "Unknown hashing mode"
            raise RuntimeError(msg)
        self.attest_function, self.aggregate_reference = _HASH_MODES[spec["hash"]]

    def get_attestation_class(self) -> type[BonehAttestation]:
        """Exact attestations are :class:`BonehAttestation` objects."""
        return BonehAttestation

    def attest(self, PK: BonehPublicKey, value: bytes) -> bytes:  # noqa: N803
        """Attest ``value`` for ``PK`` and serialize the attestation."""
        return self.attest_function(PK, value, self.rng).serialize()

    def certainty(self, value: bytes, aggregate: dict) -> float:
        """How sure the answers collected in ``aggregate`` make us that the attested value is ``value``."""
        return binary_relativity_certainty(self.aggregate_reference(value), aggregate)

    def create_challenges(self, PK: BonehPublicKey, attestation: BonehAttestation) -> list[bytes]:  # noqa: N803
        """One re-randomized challenge per bit pair, each as a packed ``(a, b)`` pair."""
        out = []
        for bitpair in attestation.bitpairs:
            challenge = create_challenge(attestation.PK, bitpair, self.rng)
            out.append(pack_pair(challenge.a, challenge.b))
        return out

    def create_challenge_response(self, SK: BonehPrivateKey, attestation: BonehAttestation,  # noqa: N803
                                  challenge: bytes) -> bytes:
        """Decrypt a challenge and answer with the bit-pair sum as one byte (3 if undecryptable)."""
        return struct.pack(">B", create_challenge_response_from_pair(SK, unpack_pair(challenge)))

    def create_certainty_aggregate(self, attestation: BonehAttestation | None) -> dict:
        """An empty answer histogram."""
        return create_empty_relativity_map()

    def create_honesty_challenge(self, PK: BonehPublicKey, value: int) -> bytes:  # noqa: N803
        """An encryption of the known answer ``value``, as a packed pair."""
        challenge = create_honesty_check(PK, value, self.rng)
        return pack_pair(challenge.a, challenge.b)

    def process_honesty_challenge(self, value: int, response: bytes) -> bool:
        """Whether the owner decrypted the honesty challenge to ``value``."""
        return _unpack_response(response) == value

    def process_challenge_response(self, aggregate: dict, challenge: bytes, response: bytes) -> dict:
        """Count one answer; raises ValueError/KeyError for a malformed answer."""
        process_challenge_response(aggregate, _unpack_response(response))
        return aggregate

    def import_blob(self, blob: bytes) -> tuple[bytes, Any]:
        """Not supported by this scheme."""
        raise NotImplementedError
