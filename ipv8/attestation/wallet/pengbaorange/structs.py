"""
Wire structures of range attestations.

Public part: owner's public key, ``ipack(bitspace)``, the commitment (modulus then eight group elements), the
equality proof and two square proofs. The owner's copy appends the private numbers, each byte encrypted
separately under the owner's key (a count byte, then one group element per byte).
"""
from __future__ import annotations

from struct import pack
from typing import Any

from ...identity_formats import Attestation
from ..primitives.boneh import encode
from ..primitives.randomness import RandomSource
from ..primitives.structs import BonehPrivateKey, BonehPublicKey, ipack, iunpack
from ..primitives.value import FP2Value
from .boudot import EL, SQR

__all__ = ["PengBaoAttestation", "PengBaoCommitment", "PengBaoCommitmentPrivate", "PengBaoPublicData"]


def _serialize_fp2value(value: FP2Value) -> bytes:
    """Both coefficients of a group element."""
    return ipack(value.a) + ipack(value.b)


def _unserialize_fp2value(mod: int, value: bytes) -> tuple[FP2Value, bytes]:
    """Read a group element of modulus ``mod``; return it with the remaining bytes."""
    a, rem = iunpack(value)
    b, rem = iunpack(rem)
    return FP2Value(mod, a, b), rem


class PengBaoCommitment:
    """The commitments of a range proof: ``c`` hides the value, the others are derived from it."""

    NAMES = ("c", "c1", "c2", "ca", "ca1", "ca2", "ca3", "caa")

    def __init__(self, c: FP2Value, c1: FP2Value, c2: FP2Value, ca: FP2Value,  # noqa: PLR0913
                 ca1: FP2Value, ca2: FP2Value, ca3: FP2Value, caa: FP2Value) -> None:
        """Store the eight group elements (each under its name in :attr:`NAMES`)."""
        for name, element in zip(self.NAMES, (c, c1, c2, ca, ca1, ca2, ca3, caa)):
            setattr(self, name, element)

    def serialize(self) -> bytes:
        """The modulus, then the eight elements in declaration order."""
        return ipack(self.c.mod) + b"".join(_serialize_fp2value(getattr(self, name)) for name in self.NAMES)

    @classmethod
    def unserialize(cls, s: bytes) -> tuple[PengBaoCommitment, bytes]:
        """Read a commitment and return it with the remaining bytes."""
        mod, rem = iunpack(s)
        if mod < 2:
            msg = "invalid modulus"
            raise ValueError(msg)
        values = []
        for _ in cls.NAMES:
            value, rem = _unserialize_fp2value(mod, rem)
            values.append(value)
        return cls(*values), rem


class PengBaoCommitmentPrivate:
    """The owner's secrets that answer a verifier's ``(s, t)`` challenge."""

    MSGSPACE: tuple[int, ...] = tuple(range(256))  # every byte value

    def __init__(self, m1: int, m2: int, m3: int, r1: int, r2: int, r3: int) -> None:  # noqa: PLR0913
        """Store the split value (``m1 + m2 + m3``) and the split randomness (``r1 + r2 + r3``)."""
        self.m1 = m1
        self.m2 = m2
        self.m3 = m3
        self.r1 = r1
        self.r2 = r2
        self.r3 = r3

    def generate_response(self, s: int, t: int) -> tuple[int, int, int, int]:
        """The linear combinations ``(x, y, u, v)`` that answer the challenge ``(s, t)``."""
        return (s * self.m1 + self.m2 + self.m3,
                self.m1 + t * self.m2 + self.m3,
                s * self.r1 + self.r2 + self.r3,
                self.r1 + t * self.r2 + self.r3)

    def serialize(self) -> bytes:
        """The six numbers, packed."""
        return b"".join(ipack(v) for v in (self.m1, self.m2, self.m3, self.r1, self.r2, self.r3))

    @classmethod
    def unserialize(cls, s: bytes) -> tuple[PengBaoCommitmentPrivate, bytes]:
        """Read the six numbers and return them with the remaining bytes."""
        values = []
        rem = s
        for _ in range(6):
            value, rem = iunpack(rem)
            values.append(value)
        return cls(*values), rem

    def encode(self, PK: BonehPublicKey, rng: RandomSource | None = None) -> bytes:  # noqa: N803
        """Encrypt every byte of :meth:`serialize` under ``PK``, behind a one-byte count."""
        serialized = self.serialize()
        if len(serialized) > 255:
            msg = "private range data too long to encode"
            raise ValueError(msg)
        return pack(">B", len(serialized)) + b"".join(_serialize_fp2value(encode(PK, byte, rng))
                                                      for byte in serialized)

    @classmethod
    def decode(cls, SK: BonehPrivateKey, s: bytes) -> PengBaoCommitmentPrivate:  # noqa: N803
        """
        Decrypt the output of :meth:`encode` with ``SK``.

        :raises ValueError: if the data is truncated or a byte does not decrypt.
        """
        if not s:
            msg = "missing byte count"
            raise ValueError(msg)
        count = s[0]
        rem = s[1:]
        # Decrypting costs one exponentiation per byte and a walk over 256 candidates; precompute them once.
        base = SK.g.intpow(SK.t1)
        table = {}
        current = FP2Value(SK.p, 1)
        for m in cls.MSGSPACE:
            table.setdefault(current, m)
            current = current * base
        out = bytearray()
        for _ in range(count):
            value, rem = _unserialize_fp2value(SK.g.mod, rem)
            byte = table.get(value.intpow(SK.t1))
            if byte is None:
                msg = "private range data does not decrypt"
                raise ValueError(msg)
            out.append(byte)
        return cls.unserialize(bytes(out))[0]


class PengBaoPublicData:
    """Everything a verifier needs: owner's key, bit space, commitments and the three sub-proofs."""

    def __init__(self, PK: BonehPublicKey, bitspace: int, commitment: PengBaoCommitment,  # noqa: PLR0913, N803
                 el: EL, sqr1: SQR, sqr2: SQR) -> None:
        """Store the public proof."""
        self.PK = PK
        self.bitspace = bitspace
        self.commitment = commitment
        self.el = el
        self.sqr1 = sqr1
        self.sqr2 = sqr2

    def check(self, a: int, b: int, s: int, t: int, x: int, y: int, u: int, v: int) -> bool:  # noqa: PLR0913
        """Whether the proof and the owner's answer ``(x, y, u, v)`` to ``(s, t)`` show ``a <= value <= b``."""
        g, h = self.PK.g, self.PK.h
        com = self.commitment
        try:
            return (x > 0 and y > 0
                    and self.el.check(g, h, com.c1, h, com.c2, com.ca)
                    and self.sqr1.check(com.ca, h, com.caa)
                    and self.sqr2.check(g, h, com.ca3)
                    and com.c1 == com.c // g.intpow(a - 1)
                    and com.c2 == g.intpow(b + 1) // com.c
                    and com.caa == com.ca1 * com.ca2 * com.ca3
                    and g.intpow(x) * h.intpow(u) == com.ca1.intpow(s) * com.ca2 * com.ca3
                    and g.intpow(y) * h.intpow(v) == com.ca1 * com.ca2.intpow(t) * com.ca3)
        except (ZeroDivisionError, ValueError):
            return False

    def serialize(self) -> bytes:
        """The public proof."""
        return (self.PK.serialize() + ipack(self.bitspace) + self.commitment.serialize() + self.el.serialize()
                + self.sqr1.serialize() + self.sqr2.serialize())

    @classmethod
    def unserialize(cls, s: bytes) -> tuple[PengBaoPublicData, bytes]:
        """Read a public proof and return it with the remaining bytes; raises ValueError if malformed."""
        pk = BonehPublicKey.unserialize(s)
        if pk is None:
            msg = "range attestation does not start with a public key"
            raise ValueError(msg)
        bitspace, rem = iunpack(s[len(pk.serialize()):])
        parts: list[Any] = []
        # The proof's parts follow the key and bit space in this order.
        for part_class in (PengBaoCommitment, EL, SQR, SQR):
            part, rem = part_class.unserialize(rem)
            parts.append(part)
        return cls(pk, bitspace, *parts), rem


class PengBaoAttestation(Attestation):
    """A range attestation; the owner's copy also holds the decrypted private numbers."""

    def __init__(self, publicdata: PengBaoPublicData, privatedata: PengBaoCommitmentPrivate | None,
                 id_format: str | None = None) -> None:
        """Store the public proof, the private numbers (owner only) and the identity format name."""
        super().__init__()
        self.publicdata = publicdata
        self.privatedata = privatedata
        self.id_format = id_format
        self.PK = publicdata.PK

    def serialize(self) -> bytes:
        """The public proof (what verifiers see and hash)."""
        return self.publicdata.serialize()

    def serialize_private(self, PK: BonehPublicKey, rng: RandomSource | None = None) -> bytes:  # noqa: N803
        """The public proof followed by the private numbers encrypted for ``PK``."""
        if self.privatedata is None:
            msg = "this attestation has no private part"
            raise ValueError(msg)
        return self.publicdata.serialize() + self.privatedata.encode(PK, rng)

    @classmethod
    def unserialize(cls, s: bytes, id_format: str | None = None) -> PengBaoAttestation:
        """Read the public proof (trailing private data is ignored)."""
        publicdata, _ = PengBaoPublicData.unserialize(s)
        return cls(publicdata, None, id_format)

    @classmethod
    def unserialize_private(cls, SK: BonehPrivateKey, s: bytes,  # noqa: N803
                            id_format: str | None = None) -> PengBaoAttestation:
        """Read the owner's copy, decrypting the private numbers with ``SK``."""
        publicdata, rem = PengBaoPublicData.unserialize(s)
        return cls(publicdata, PengBaoCommitmentPrivate.decode(SK, rem), id_format)
