"""
Exact-value attestation math.

The attested integer (a hash of the value) is split into bits; every bit ``A[i]`` is encrypted as
``A[i] + R[i]`` where the blinding numbers ``R`` sum to a multiple of ``p + 1`` pairwise with a complement.
Multiplying a pair's two encryptions and its complement yields an encryption of the pair's bit sum (0, 1 or
2). A verifier re-randomizes such products as challenges; the owner decrypts and answers, and the histogram
of answers is compared with the histogram the claimed value would give.

Random numbers are drawn in the same order as pyipv8 3.2.1 (see ``primitives.randomness``).
"""
from __future__ import annotations

from ..primitives.attestation import sha256_4_as_int, sha256_as_int, sha512_as_int
from ..primitives.boneh import decode, encode
from ..primitives.randomness import RandomSource, get_rng
from ..primitives.structs import BonehPrivateKey, BonehPublicKey
from ..primitives.value import FP2Value
from .structs import BitPairAttestation, BonehAttestation

__all__ = ["attest", "attest_sha256", "attest_sha256_4", "attest_sha512", "binary_relativity",
           "binary_relativity_certainty", "binary_relativity_match", "binary_relativity_sha256",
           "binary_relativity_sha256_4", "binary_relativity_sha512", "create_challenge",
           "create_challenge_response", "create_challenge_response_from_pair", "create_empty_relativity_map",
           "create_honesty_check", "generate_modular_additive_inverse", "process_challenge_response"]


def _bits(value: int, bitspace: int) -> list[int]:
    """The bits of ``value``, most significant first, left-padded with zeros to ``bitspace`` bits."""
    digits = [int(ch) for ch in bin(value)[2:]]
    return [0] * (bitspace - len(digits)) + digits


def generate_modular_additive_inverse(p: int, n: int, rng: RandomSource | None = None) -> list[int]:
    """
    ``n`` random numbers whose sum is 0 modulo ``p + 1`` (up to the offset the scheme uses), shuffled.
    """
    source = get_rng(rng)
    numbers = [source.randint(1, p - 1) for _ in range(n - 1)]
    numbers.append(p - (sum(numbers) % (p + 1)) + 1)
    source.shuffle(numbers)
    return numbers


def attest(PK: BonehPublicKey, value: int, bitspace: int,  # noqa: N803
           rng: RandomSource | None = None) -> BonehAttestation:
    """Attest the ``bitspace``-bit integer ``value`` for the holder of ``PK``."""
    source = get_rng(rng)
    bits = _bits(value, bitspace)
    blinds = generate_modular_additive_inverse(PK.p, bitspace, source)
    public_values = [encode(PK, bit + blind, source) for bit, blind in zip(bits, blinds)]
    complements = [(i, encode(PK, PK.p - ((blinds[i] + blinds[i + 1]) % (PK.p + 1)) + 1, source))
                   for i in range(0, len(bits) - 1, 2)]
    # Hide which pair belongs to which bit position: shuffle the pairs, then the complements.
    pairs = [(i, public_values[i], public_values[i + 1]) for i in range(0, len(public_values), 2)]
    source.shuffle(pairs)
    shuffled: list[FP2Value] = []
    new_position = {}
    for i, first, second in pairs:
        new_position[i] = len(shuffled)
        shuffled.append(first)
        shuffled.append(second)
    placed = [(new_position[i], complement) for i, complement in complements]
    source.shuffle(placed)
    bitpairs = [BitPairAttestation(shuffled[i], shuffled[i + 1], complement) for i, complement in placed]
    return BonehAttestation(PK, bitpairs)


def attest_sha512(PK: BonehPublicKey, value: bytes, rng: RandomSource | None = None) -> BonehAttestation:  # noqa: N803
    """Attest the 512-bit SHA-512 hash of ``value``."""
    return attest(PK, sha512_as_int(value), 512, rng)


def attest_sha256(PK: BonehPublicKey, value: bytes, rng: RandomSource | None = None) -> BonehAttestation:  # noqa: N803
    """Attest the 256-bit SHA-256 hash of ``value``."""
    return attest(PK, sha256_as_int(value), 256, rng)


def attest_sha256_4(PK: BonehPublicKey, value: bytes,  # noqa: N803
                    rng: RandomSource | None = None) -> BonehAttestation:
    """Attest the first 32 bits of the SHA-256 hash of ``value``."""
    return attest(PK, sha256_4_as_int(value), 32, rng)


def binary_relativity(value: int, bitspace: int) -> dict[int, int]:
    """How many bit pairs of ``value`` sum to 0, 1 and 2 (and a zero count for the "invalid" answer 3)."""
    bits = _bits(value, bitspace)
    out = {0: 0, 1: 0, 2: 0}
    for i in range(0, bitspace - 1, 2):
        out[bits[i] + bits[i + 1]] += 1
    out[3] = 0
    return out


def binary_relativity_sha512(value: bytes) -> dict[int, int]:
    """The pair-sum histogram of the SHA-512 hash of ``value``."""
    return binary_relativity(sha512_as_int(value), 512)


def binary_relativity_sha256(value: bytes) -> dict[int, int]:
    """The pair-sum histogram of the SHA-256 hash of ``value``."""
    return binary_relativity(sha256_as_int(value), 256)


def binary_relativity_sha256_4(value: bytes) -> dict[int, int]:
    """The pair-sum histogram of the 4-byte SHA-256 hash of ``value``."""
    return binary_relativity(sha256_4_as_int(value), 32)


def create_empty_relativity_map() -> dict[int, int]:
    """An empty answer histogram (answers 0, 1, 2 and 3 = undecryptable)."""
    return {0: 0, 1: 0, 2: 0, 3: 0}


def binary_relativity_match(expected: dict[int, int], value: dict[int, int]) -> float:
    """
    How well the answers so far fit the expected histogram: 0.0 as soon as any answer count exceeds the
    expected count, otherwise the product of the filled fractions.
    """
    match = 1.0
    for key, wanted in expected.items():
        got = value.get(key, 0)
        if wanted < got:
            return 0.0
        if wanted and got:
            match *= got / wanted
    return match


def binary_relativity_certainty(expected: dict[int, int], value: dict[int, int]) -> float:
    """The match weighted by how many answers were collected (each answer halves the doubt)."""
    return binary_relativity_match(expected, value) * (1 - 0.5 ** sum(value.values()))


def create_challenge(PK: BonehPublicKey, bitpair: BitPairAttestation,  # noqa: N803
                     rng: RandomSource | None = None) -> FP2Value:
    """Re-randomize a bit pair's sum so that the owner cannot tell which pair is asked."""
    return bitpair.compress() * encode(PK, 0, rng)


def create_honesty_check(PK: BonehPublicKey, value: int, rng: RandomSource | None = None) -> FP2Value:  # noqa: N803
    """A fresh encryption of a known answer."""
    return encode(PK, value, rng)


def create_challenge_response(SK: BonehPrivateKey, challenge: FP2Value) -> int:  # noqa: N803
    """Decrypt a challenge to 0, 1 or 2; 3 when it is none of those."""
    decoded = decode(SK, [0, 1, 2], challenge)
    return 3 if decoded is None else decoded


def create_challenge_response_from_pair(SK: BonehPrivateKey, pair: tuple) -> int:  # noqa: N803
    """Answer a challenge given as its ``(a, b)`` coefficients."""
    return create_challenge_response(SK, FP2Value(SK.p, pair[0], pair[1]))


def process_challenge_response(relativity_map: dict[int, int], response: int) -> None:
    """
    Count one answer. Answers outside 0..3 raise KeyError. The increment is a single dictionary update,
    which is atomic under the GIL, so no lock is needed.
    """
    if response not in relativity_map:
        raise KeyError(response)
    relativity_map[response] += 1
