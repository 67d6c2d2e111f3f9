"""Fraud proofs: two conflicting TrustChain half blocks signed by one key.

Validation (:meth:`~ipv8.attestation.trustchain.block.TrustChainBlock.validate`) builds them; the community
stores and spreads them, and any peer can check one on its own, since both blocks carry the offender's
signature. Also importable from :mod:`ipv8.attestation.trustchain.block`.
"""
from __future__ import annotations

from .block import UNKNOWN_SEQ, BlockFormatError, TrustChainBlock


class FraudProof:
    """Two conflicting blocks signed by one key: the evidence that the key cheated.

    *Double sign*: two different blocks with the same sequence number. *Double countersign*: two different
    agreements to the same proposal. Both blocks carry their own signature, so anyone can check the proof
    with :meth:`verify` without trusting whoever sent it. The blocks are kept in hash order, so the two ways
    to build a proof from the same blocks give the same :meth:`to_bytes`.
    """

    DOUBLE_SIGN = "double_sign"
    DOUBLE_COUNTERSIGN = "double_countersign"

    __slots__ = ("block1", "block2")

    def __init__(self, block1: TrustChainBlock, block2: TrustChainBlock) -> None:
        self.block1, self.block2 = sorted((block1, block2), key=lambda block: block.hash)

    @property
    def offender(self) -> bytes:
        """The public key both blocks claim to be signed by."""
        return self.block1.public_key

    @property
    def kind(self) -> str | None:
        """:data:`DOUBLE_SIGN`, :data:`DOUBLE_COUNTERSIGN` or None if the blocks do not conflict."""
        one, two = self.block1, self.block2
        if one.public_key != two.public_key or one.hash == two.hash:
            return None
        if one.sequence_number == two.sequence_number:
            return FraudProof.DOUBLE_SIGN
        if one.link_sequence_number != UNKNOWN_SEQ and one.link_public_key == two.link_public_key and \
                one.link_sequence_number == two.link_sequence_number:
            return FraudProof.DOUBLE_COUNTERSIGN
        return None

    def verify(self) -> bool:
        """Whether the two blocks really conflict and both signatures are the offender's."""
        return self.kind is not None and self.block1.has_valid_signature() and self.block2.has_valid_signature()

    def to_bytes(self) -> bytes:
        """Both packed blocks, back to back."""
        return self.block1.pack() + self.block2.pack()

    @classmethod
    def from_bytes(cls, data: bytes, block_class: type[TrustChainBlock] | None = None) -> FraudProof:
        """Parse :meth:`to_bytes` output (the result still needs :meth:`verify`).

        :param block_class: the block class to parse with (default: :class:`~ipv8.attestation.trustchain.block.TrustChainBlock`).
        :raises BlockFormatError: if ``data`` is not exactly two blocks.
        """
        if block_class is None:
            block_class = TrustChainBlock
        first, offset = block_class.unpack(data, 0, check_transaction=False)
        second, offset = block_class.unpack(data, offset, check_transaction=False)
        if offset != len(data):
            raise BlockFormatError("trailing bytes after the fraud proof")
        return cls(first, second)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FraudProof) and (self.block1, self.block2) == (other.block1, other.block2)

    def __hash__(self) -> int:
        return hash((self.block1.hash, self.block2.hash))

    def __repr__(self) -> str:
        return f"<FraudProof {self.kind} by {self.offender.hex()[-8:]}>"
