"""
The ``pengbaorange`` identity algorithm: attest and verify that a number lies in the format's range.
"""
from __future__ import annotations

import struct
from typing import Any

from ...identity_formats import IdentityAlgorithm
from ..primitives.keyring import BonehKeys
from ..primitives.randomness import RandomSource, random_bytes_int
from ..primitives.structs import BonehPrivateKey, BonehPublicKey, pack_pair, unpack_pair
from .attestation import create_attest_pair
from .structs import PengBaoAttestation

__all__ = ["LARGE_INTEGER", "PengBaoAttestation", "PengBaoRangeAlgorithm"]

# Challenges below this are refused: small s or t would let the verifier solve for the owner's secrets.
LARGE_INTEGER = 32765


def _safe_rndint(key_size: int, mod: int, rng: RandomSource | None = None) -> int:
    """A random ``key_size``-bit number modulo ``mod`` that is at least ``LARGE_INTEGER``."""
    if mod <= LARGE_INTEGER:
        msg = "modulus too small for a range challenge"
        raise ValueError(msg)
    out = random_bytes_int(rng, key_size // 8) % mod
    while out < LARGE_INTEGER:
        out = random_bytes_int(rng, key_size // 8) % mod
    return out


class PengBaoRangeAlgorithm(BonehKeys, IdentityAlgorithm[PengBaoAttestation]):
    """
    Range attestations (Peng-Bao with Boudot sub-proofs) over the Boneh-Goh-Nissim group.

    :param rng: random source for key generation, proofs and challenges (default: system CSPRNG).
    """

    def __init__(self, id_format: str, formats: dict[str, dict[str, Any]],
                 rng: RandomSource | None = None) -> None:
        """Check the format's parameters and remember its range."""
        super().__init__(id_format, formats)
        self.rng = rng
        spec = formats[id_format]
        if spec.get("algorithm") != "pengbaorange":
            msg = f"Identity format {id_format!r} is not a pengbaorange format"
            raise RuntimeError(msg)
        self.key_size = spec.get("key_size")
        if not isinstance(self.key_size, int) or not 32 <= self.key_size <= 512:
            msg = "Illegal key size specified"
            raise RuntimeError(msg)
        self.a = spec["min"]
        self.b = spec["max"]

    def get_attestation_class(self) -> type[PengBaoAttestation]:
        """Range attestations are :class:`PengBaoAttestation` objects."""
        return PengBaoAttestation

    def attest(self, PK: BonehPublicKey, value: bytes) -> bytes:  # noqa: N803
        """
        Prove that the big-endian number ``value`` lies in the format's range; returns the owner's copy
        (public proof plus encrypted secrets).
        """
        if not value:
            msg = "empty value"
            raise ValueError(msg)
        number = int.from_bytes(value, "big")
        attestation = create_attest_pair(PK, number, self.a, self.b, self.key_size, self.rng)
        return attestation.serialize_private(PK, self.rng)

    def certainty(self, value: bytes, aggregate: dict) -> float:
        """
        1.0 when every answer checked out and ``value`` (a one-byte boolean) claims "in range", 0.0 when it
        claims "out of range"; the reverse when some answer failed or none arrived.
        """
        in_range = len(aggregate) > 1 and all(v for k, v in aggregate.items() if k != "attestation")
        match = 1.0 if in_range else 0.0
        claim = struct.unpack(">?", value[:1])[0] if value else False
        return match if claim else 1.0 - match

    def create_challenges(self, PK: BonehPublicKey, attestation: PengBaoAttestation) -> list[bytes]:  # noqa: N803
        """One challenge ``(s, t)`` of two large random numbers."""
        mod = PK.g.mod - 1
        return [pack_pair(_safe_rndint(self.key_size, mod, self.rng), _safe_rndint(self.key_size, mod, self.rng))]

    def create_challenge_response(self, SK: BonehPrivateKey, attestation: PengBaoAttestation,  # noqa: N803
                                  challenge: bytes) -> bytes:
        """Answer ``(s, t)`` with ``(x, y, u, v)``; random garbage when the challenge is too small."""
        s, t, _ = unpack_pair(challenge)
        if s < LARGE_INTEGER or t < LARGE_INTEGER:
            mod = SK.g.mod
            garbage = [_safe_rndint(self.key_size, mod, self.rng) for _ in range(4)]
            return pack_pair(garbage[0], garbage[1]) + pack_pair(garbage[2], garbage[3])
        if attestation.privatedata is None:
            msg = "cannot answer without the attestation's private part"
            raise ValueError(msg)
        x, y, u, v = attestation.privatedata.generate_response(s, t)
        return pack_pair(x, y) + pack_pair(u, v)

    def create_certainty_aggregate(self, attestation: PengBaoAttestation | None) -> dict:
        """An aggregate that carries the attestation to check answers against."""
        return {"attestation": attestation}

    def create_honesty_challenge(self, PK: BonehPublicKey, value: int) -> bytes:  # noqa: N803
        """Range proofs have no honesty challenges."""
        raise NotImplementedError

    def process_honesty_challenge(self, value: int, response: bytes) -> bool:
        """Range proofs have no honesty challenges."""
        raise NotImplementedError

    def process_challenge_response(self, aggregate: dict, challenge: bytes, response: bytes) -> dict:
        """Check one answer against the proof and record the outcome under the challenge."""
        x, y, rem = unpack_pair(response)
        u, v, _ = unpack_pair(rem)
        s, t, _ = unpack_pair(challenge)
        attestation = aggregate["attestation"]
        aggregate[challenge] = attestation.publicdata.check(self.a, self.b, s, t, x, y, u, v)
        return aggregate

    def import_blob(self, blob: bytes) -> tuple[bytes, Any]:
        """Not supported by this scheme."""
        raise NotImplementedError
