"""
Wire structures of exact-value attestations.

An attestation is the owner's serialized public key followed by one record per pair of bits. Each record
holds three encrypted group elements (two bit commitments and their complement), each as the packed
``a`` and ``b`` coefficients.
"""
from __future__ import annotations

from ...identity_formats import Attestation
from ..primitives.structs import BonehPrivateKey, BonehPublicKey, ipack, iunpack
from ..primitives.value import FP2Value

__all__ = ["BitPairAttestation", "BonehAttestation"]

# Upper bound on bit pairs per attestation: the largest format (sha512) has 256.
MAX_BITPAIRS = 256


class BitPairAttestation:
    """The encrypted commitment to one pair of bits of the attested hash."""

    def __init__(self, a: FP2Value, b: FP2Value, complement: FP2Value) -> None:
        """Store the two bit encryptions and their complement."""
        self.a = a
        self.b = b
        self.complement = complement

    def compress(self) -> FP2Value:
        """Homomorphically add the three encryptions: the result decrypts to the pair's bit sum."""
        return self.a * self.b * self.complement

    def serialize(self) -> bytes:
        """Six packed integers: ``a.a, a.b, b.a, b.b, complement.a, complement.b``."""
        return b"".join(ipack(v) for value in (self.a, self.b, self.complement) for v in (value.a, value.b))

    @classmethod
    def unserialize_with_rest(cls, s: bytes, p: int) -> tuple[BitPairAttestation, bytes]:
        """Read one record in the field of modulus ``p``; return it and the remaining bytes."""
        nums = []
        rem = s
        for _ in range(6):
            value, rem = iunpack(rem)
            nums.append(value)
        return cls(FP2Value(p, nums[0], nums[1]), FP2Value(p, nums[2], nums[3]),
                   FP2Value(p, nums[4], nums[5])), rem

    @classmethod
    def unserialize(cls, s: bytes, p: int) -> BitPairAttestation:
        """Read one record in the field of modulus ``p``."""
        return cls.unserialize_with_rest(s, p)[0]


class BonehAttestation(Attestation):
    """An exact-value attestation: the owner's public key and the bit-pair commitments."""

    def __init__(self, PK: BonehPublicKey, bitpairs: list[BitPairAttestation],  # noqa: N803
                 id_format: str | None = None) -> None:
        """Store the key, the commitments and (optionally) the identity format name."""
        super().__init__()
        self.PK = PK
        self.bitpairs = bitpairs
        self.id_format = id_format

    def serialize(self) -> bytes:
        """The public key followed by every bit-pair record."""
        return self.PK.serialize() + b"".join(bitpair.serialize() for bitpair in self.bitpairs)

    def serialize_private(self, PK: BonehPublicKey) -> bytes:  # noqa: N803
        """Exact attestations carry no private part: the same bytes as :meth:`serialize`."""
        return self.serialize()

    @classmethod
    def unserialize(cls, s: bytes, id_format: str | None = None) -> BonehAttestation:
        """
        Read an attestation.

        :raises ValueError: for malformed input or more than ``MAX_BITPAIRS`` records.
        """
        pk = BonehPublicKey.unserialize(s)
        if pk is None:
            msg = "attestation does not start with a public key"
            raise ValueError(msg)
        rem = s[len(pk.serialize()):]
        bitpairs = []
        while rem:
            if len(bitpairs) >= MAX_BITPAIRS:
                msg = "attestation holds too many bit pairs"
                raise ValueError(msg)
            bitpair, rem = BitPairAttestation.unserialize_with_rest(rem, pk.p)
            bitpairs.append(bitpair)
        return cls(pk, bitpairs, id_format)

    @classmethod
    def unserialize_private(cls, SK: BonehPrivateKey, s: bytes,  # noqa: N803
                            id_format: str | None = None) -> BonehAttestation:
        """Same as :meth:`unserialize`: there is no private part."""
        return cls.unserialize(s, id_format)
