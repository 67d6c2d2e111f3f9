"""TrustChain half blocks (IPv8 1.x layout), their validation and fraud proofs.

Every participant keeps its own chain of *half blocks*. An interaction between two keys is a *proposal* in the
initiator's chain (``link_sequence_number`` 0, "not yet known") and an *agreement* in the counterparty's chain
that points at the proposal (``link_public_key``/``link_sequence_number``). Each half block is signed by its
own key only, and names the hash of its predecessor, so a chain cannot be rewritten without signing two blocks
with one sequence number: a *double sign*, which anyone holding both blocks can prove (:class:`~ipv8.attestation.trustchain.fraud.FraudProof`).

Wire and hash layout (identical to 1.x, facts sheet B.13), all integers big-endian::

    74s public_key | I sequence_number | 74s link_public_key | I link_sequence_number |
    32s previous_hash | 64s signature | varlenI type | varlenI transaction | Q timestamp (ms)

The hash of a block is SHA-256 over exactly those bytes; the signature covers the same bytes with
:data:`EMPTY_SIG` in the signature field. ``transaction`` is encoded as in :mod:`.encoding`.

:meth:`TrustChainBlock.validate` applies the 1.x rules (same verdicts for every 1.x vector, see the tests) and
a few more that 1.x meant but did not enforce (a genesis sequence number needs the genesis hash and vice
versa; optional bound on future timestamps). It never changes the database: when it finds fraud it hands
back a :class:`~ipv8.attestation.trustchain.fraud.FraudProof` for the caller to store and spread.
"""
from __future__ import annotations

import hashlib
import struct
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from ...keyvault.crypto import default_eccrypto
from .encoding import MAX_TRANSACTION_SIZE, TransactionDecodeError, decode, encode, to_json_safe

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from twisted.internet.interfaces import IReactorTime

    from ...keyvault.keys import PrivateKey, PublicKey
    from .fraud import FraudProof
    from .payload import HalfBlockPairPayload

GENESIS_HASH = b"0" * 32
GENESIS_SEQ = 1
UNKNOWN_SEQ = 0
EMPTY_SIG = b"0" * 64
EMPTY_PK = b"0" * 74
#: A proposal that anybody may countersign names this as its counterparty.
ANY_COUNTERPARTY_PK = EMPTY_PK
#: Block types longer than this are refused (1.x has no limit; real types are short names).
MAX_TYPE_SIZE = 1024

_HEAD = struct.Struct(">74sI74sI32s64s")
#: Where the signature lies in a packed block.
_SIGNATURE_AT = 74 + 4 + 74 + 4 + 32
#: The fixed part of a packed block up to and including the length of its type.
_HEAD_AND_TYPE_LENGTH = struct.Struct(">74sI74sI32s64sI")
_LEN = struct.Struct(">I")
_TIME = struct.Struct(">Q")
_MAX_U32 = 2 ** 32 - 1
_MAX_U64 = 2 ** 64 - 1


class BlockFormatError(ValueError):
    """Bytes or field values that cannot form a TrustChain block."""


@lru_cache(maxsize=4096)
def _public_key(blob: bytes) -> PublicKey | None:
    """A loaded public key, or None if ``blob`` is not one (cached: chains repeat the same few keys)."""
    try:
        return default_eccrypto.key_from_public_bin(blob)
    except Exception:  # noqa: BLE001 - any unloadable key is simply "not a key"
        return None


class TrustChainBlock:
    """One signed half block. Fields are those of the wire layout; ``transaction`` is the decoded value and
    ``encoded_transaction`` the signed bytes.

    Construct blocks with :meth:`create` (a new block for a chain), :meth:`from_payload` /
    :meth:`from_pair_payload` (received blocks) or :meth:`unpack` (stored bytes).
    """

    __slots__ = ("type", "encoded_transaction", "public_key", "sequence_number", "link_public_key",
                 "link_sequence_number", "previous_hash", "signature", "timestamp", "insert_time", "hash",
                 "_transaction")

    def __init__(self, *, block_type: bytes | str, encoded_transaction: bytes, public_key: bytes,  # noqa: PLR0913
                 sequence_number: int, link_public_key: bytes, link_sequence_number: int, previous_hash: bytes,
                 signature: bytes, timestamp: int, insert_time: int | None = None) -> None:
        """Check every field against the wire layout and compute the hash.

        :raises BlockFormatError: if a field does not fit (wrong length, out of range, oversized).
        """
        if isinstance(block_type, str):
            block_type = block_type.encode("utf-8")
        # Every field as it should be (plain bytes and ints in range, the usual case): one test. Anything else
        # takes the checks below, which say what is wrong.
        if not (type(public_key) is bytes and len(public_key) == 74 and type(link_public_key) is bytes  # noqa: PLR0916
                and len(link_public_key) == 74 and type(previous_hash) is bytes and len(previous_hash) == 32
                and type(signature) is bytes and len(signature) == 64 and type(sequence_number) is int
                and 0 <= sequence_number <= _MAX_U32 and type(link_sequence_number) is int
                and 0 <= link_sequence_number <= _MAX_U32 and type(timestamp) is int and 0 <= timestamp <= _MAX_U64
                and type(block_type) is bytes and len(block_type) <= MAX_TYPE_SIZE
                and type(encoded_transaction) is bytes and len(encoded_transaction) <= MAX_TRANSACTION_SIZE):
            self._check_fields(block_type, encoded_transaction, public_key, sequence_number, link_public_key,
                               link_sequence_number, previous_hash, signature, timestamp)
        self.type = block_type
        self.encoded_transaction = encoded_transaction
        self.public_key = public_key
        self.sequence_number = sequence_number
        self.link_public_key = link_public_key
        self.link_sequence_number = link_sequence_number
        self.previous_hash = previous_hash
        self.signature = signature
        self.timestamp = timestamp
        self.insert_time = insert_time
        self._transaction: Any = _UNDECODED
        self.hash = self.calculate_hash()

    @staticmethod
    def _check_fields(block_type: Any, encoded_transaction: Any, public_key: Any, sequence_number: Any,  # noqa: ANN401, PLR0913
                      link_public_key: Any, link_sequence_number: Any, previous_hash: Any, signature: Any,
                      timestamp: Any) -> None:
        """Raise :class:`BlockFormatError` for the first field that does not fit the wire layout."""
        for name, value, size in (("public_key", public_key, 74), ("link_public_key", link_public_key, 74),
                                  ("previous_hash", previous_hash, 32), ("signature", signature, 64)):
            if not isinstance(value, bytes) or len(value) != size:
                raise BlockFormatError(f"{name} must be {size} bytes")
        for name, value, top in (("sequence_number", sequence_number, _MAX_U32),
                                 ("link_sequence_number", link_sequence_number, _MAX_U32),
                                 ("timestamp", timestamp, _MAX_U64)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
                raise BlockFormatError(f"{name} must be an integer in 0..{top}")
        if not isinstance(block_type, bytes) or len(block_type) > MAX_TYPE_SIZE:
            raise BlockFormatError(f"type must be at most {MAX_TYPE_SIZE} bytes")
        if not isinstance(encoded_transaction, bytes) or len(encoded_transaction) > MAX_TRANSACTION_SIZE:
            raise BlockFormatError(f"transaction must be at most {MAX_TRANSACTION_SIZE} bytes")

    # -- construction -----------------------------------------------------------------------------------------

    @classmethod
    def create(cls, block_type: bytes | str, transaction: Any, database: _ChainSource,  # noqa: ANN401, PLR0913
               public_key: bytes, link: TrustChainBlock | None = None, additional_info: Any = None,  # noqa: ANN401
               link_pk: bytes | None = None, timestamp: int | None = None,
               clock: IReactorTime | None = None) -> TrustChainBlock:
        """A new, unsigned block that extends ``public_key``'s chain as ``database`` knows it.

        With ``link`` the block is an agreement to that proposal: it takes the proposal's type (unless the
        proposal is open to any counterparty) and transaction (unless ``additional_info`` is given). Otherwise
        it is a proposal of ``block_type``/``transaction`` to ``link_pk`` (default: anybody).
        ``timestamp`` (ms) defaults to ``clock.seconds()``, and ``clock`` to the global reactor.
        """
        if link is not None:
            block_type = link.type if link.link_public_key != ANY_COUNTERPARTY_PK else block_type
            # Reuse the proposal's signed bytes: re-encoding would reorder sets.
            encoded = link.encoded_transaction if additional_info is None else encode(additional_info)
            counterparty, counterparty_seq = link.public_key, link.sequence_number
        else:
            encoded = encode({} if transaction is None else transaction)
            counterparty, counterparty_seq = link_pk or EMPTY_PK, UNKNOWN_SEQ
        latest = database.get_latest(public_key)
        if timestamp is None:
            if clock is None:
                from twisted.internet import reactor as clock  # noqa: PLC0415 - only when nobody passed one
            timestamp = round(clock.seconds() * 1000)
        return cls(block_type=block_type, encoded_transaction=encoded, public_key=public_key,
                   sequence_number=latest.sequence_number + 1 if latest else GENESIS_SEQ,
                   link_public_key=counterparty, link_sequence_number=counterparty_seq,
                   previous_hash=latest.hash if latest else GENESIS_HASH, signature=EMPTY_SIG, timestamp=timestamp)

    @classmethod
    def from_fields(cls, values: Sequence[Any], insert_time: int | None = None,  # noqa: ANN401
                    check_transaction: bool = True) -> TrustChainBlock:
        """A block from the nine wire fields in wire order (as a payload carries them).

        :raises BlockFormatError: if a field does not fit or (``check_transaction``) the transaction does not
            decode.
        """
        (public_key, sequence_number, link_public_key, link_sequence_number, previous_hash, signature,
         block_type, encoded_transaction, timestamp) = values
        block = cls(block_type=block_type, encoded_transaction=encoded_transaction, public_key=public_key,
                    sequence_number=sequence_number, link_public_key=link_public_key,
                    link_sequence_number=link_sequence_number, previous_hash=previous_hash, signature=signature,
                    timestamp=timestamp, insert_time=insert_time)
        if check_transaction:
            try:
                block.transaction  # noqa: B018 - decodes and caches, or raises
            except TransactionDecodeError as exc:
                raise BlockFormatError(f"bad transaction: {exc}") from exc
        return block

    @classmethod
    def from_payload(cls, payload: Any) -> TrustChainBlock:  # noqa: ANN401
        """The block in a half-block, broadcast or crawl-response payload."""
        from .payload import BLOCK_FIELDS  # noqa: PLC0415 - payload imports this module for typing only
        return cls.from_fields([getattr(payload, name) for name in BLOCK_FIELDS])

    @classmethod
    def from_pair_payload(cls, payload: HalfBlockPairPayload) -> tuple[TrustChainBlock, TrustChainBlock]:
        """The two blocks of a (broadcast) pair payload."""
        from .payload import BLOCK_FIELDS  # noqa: PLC0415
        return (cls.from_fields([getattr(payload, name + "1") for name in BLOCK_FIELDS]),
                cls.from_fields([getattr(payload, name + "2") for name in BLOCK_FIELDS]))

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TrustChainBlock:  # noqa: ANN401
        """A block from a database row (type, transaction, the seven other wire fields in order, insert time,
        hash) that was checked when it was stored: no field checks, no hashing."""
        block = cls.__new__(cls)
        (block.type, block.encoded_transaction, block.public_key, block.sequence_number, block.link_public_key,
         block.link_sequence_number, block.previous_hash, block.signature, block.timestamp, block.insert_time,
         block.hash) = row
        block._transaction = _UNDECODED
        return block

    @classmethod
    def from_packed(cls, data: bytes, offset: int = 0,
                    known_transaction: bytes | None = None) -> TrustChainBlock | None:
        """The block packed in ``data[offset:]`` (exactly, nothing after it), or None if anything is off.

        The fast path for received blocks: the struct layout guarantees the field sizes and ranges, and the
        hash is taken over the received bytes themselves (the packing is canonical: equal fields, equal
        bytes). None for truncated or trailing bytes, oversized fields or a transaction that does not
        decode; the caller then takes the slow path, which says what is wrong. A transaction equal to
        ``known_transaction`` (bytes that decoded before, e.g. those of our proposal that an agreement
        repeats) is not decoded again: decoding is a function of the bytes; it happens on first use.
        """
        try:
            (public_key, sequence_number, link_public_key, link_sequence_number, previous_hash, signature,
             type_len) = _HEAD_AND_TYPE_LENGTH.unpack_from(data, offset)
            start = offset + _HEAD_AND_TYPE_LENGTH.size
            type_end = start + type_len
            (tx_len,) = _LEN.unpack_from(data, type_end)
            tx_end = type_end + 4 + tx_len
            (timestamp,) = _TIME.unpack_from(data, tx_end)
        except struct.error:
            return None
        if type_len > MAX_TYPE_SIZE or tx_len > MAX_TRANSACTION_SIZE or tx_end + _TIME.size != len(data):
            return None
        block = cls.__new__(cls)
        block.public_key, block.sequence_number = public_key, sequence_number
        block.link_public_key, block.link_sequence_number = link_public_key, link_sequence_number
        block.previous_hash, block.signature, block.timestamp = previous_hash, signature, timestamp
        block.type, block.encoded_transaction = bytes(data[start:type_end]), bytes(data[type_end + 4:tx_end])
        block.insert_time = None
        block.hash = hashlib.sha256(data[offset:] if offset else data).digest()
        if known_transaction is not None and block.encoded_transaction == known_transaction:
            block._transaction = _UNDECODED
            return block
        try:
            block._transaction = decode(block.encoded_transaction)
        except TransactionDecodeError:
            return None
        return block

    @classmethod
    def unpack(cls, data: bytes, offset: int = 0, check_transaction: bool = True) -> tuple[TrustChainBlock, int]:
        """Read one packed block from ``data`` at ``offset``; return it and the offset after it.

        :raises BlockFormatError: on truncated or malformed input.
        """
        try:
            head = _HEAD.unpack_from(data, offset)
            offset += _HEAD.size
            (type_len,) = _LEN.unpack_from(data, offset)
            offset += 4
            if type_len > MAX_TYPE_SIZE or offset + type_len > len(data):
                raise BlockFormatError("bad block type length")
            block_type = bytes(data[offset:offset + type_len])
            offset += type_len
            (tx_len,) = _LEN.unpack_from(data, offset)
            offset += 4
            if tx_len > MAX_TRANSACTION_SIZE or offset + tx_len > len(data):
                raise BlockFormatError("bad transaction length")
            encoded = bytes(data[offset:offset + tx_len])
            offset += tx_len
            (timestamp,) = _TIME.unpack_from(data, offset)
            offset += _TIME.size
        except struct.error as exc:
            raise BlockFormatError("truncated block") from exc
        return cls.from_fields([*head, block_type, encoded, timestamp],
                               check_transaction=check_transaction), offset

    # -- identity ---------------------------------------------------------------------------------------------

    @property
    def transaction(self) -> Any:  # noqa: ANN401
        """The decoded transaction (decoded on first use)."""
        if self._transaction is _UNDECODED:
            self._transaction = decode(self.encoded_transaction)
        return self._transaction

    def pack(self, signature: bool = True) -> bytes:
        """The block in wire layout; with ``signature=False`` the bytes that get signed."""
        return b"".join((_HEAD.pack(self.public_key, self.sequence_number, self.link_public_key,
                                    self.link_sequence_number, self.previous_hash,
                                    self.signature if signature else EMPTY_SIG),
                         _LEN.pack(len(self.type)), self.type, _LEN.pack(len(self.encoded_transaction)),
                         self.encoded_transaction, _TIME.pack(self.timestamp)))

    def calculate_hash(self) -> bytes:
        """SHA-256 of the packed block (signature included)."""
        return hashlib.sha256(self.pack()).digest()

    def sign(self, key: PrivateKey) -> None:
        """Sign with ``key`` (which must belong to ``public_key``) and refresh the hash."""
        unsigned = self.pack(signature=False)
        self.signature = default_eccrypto.create_signature(key, unsigned)
        # The packed block is the signed bytes with the signature in its place: no second packing.
        self.hash = hashlib.sha256(b"".join((unsigned[:_SIGNATURE_AT], self.signature,
                                             unsigned[_SIGNATURE_AT + 64:]))).digest()

    def has_valid_signature(self) -> bool:
        """Whether ``signature`` is the signature of ``public_key`` over this block."""
        key = _public_key(self.public_key)
        return key is not None and default_eccrypto.is_valid_signature(key, self.pack(signature=False),
                                                                       self.signature)

    @property
    def block_id(self) -> bytes:
        """``<hex public key>.<sequence number>``, as 1.x names blocks."""
        return b"%s.%d" % (self.public_key.hex().encode(), self.sequence_number)

    @property
    def linked_block_id(self) -> bytes:
        """The :attr:`block_id` this block points at (sequence number 0 for a proposal)."""
        return b"%s.%d" % (self.link_public_key.hex().encode(), self.link_sequence_number)

    @property
    def is_genesis(self) -> bool:
        """The first block of a chain."""
        return self.sequence_number == GENESIS_SEQ and self.previous_hash == GENESIS_HASH

    @property
    def is_proposal(self) -> bool:
        """A block that does not (yet) know its counterpart."""
        return self.link_sequence_number == UNKNOWN_SEQ

    @property
    def hash_number(self) -> int:
        """The hash as a number below 10^8 (1.x uses it as a crawl id)."""
        return int.from_bytes(self.hash, "big") % 100000000

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrustChainBlock) and self.hash == other.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.hash.hex()[:16]} {self.public_key.hex()[-8:]}:{self.sequence_number}"
                f" -> {self.link_public_key.hex()[-8:]}:{self.link_sequence_number} type={self.type!r}>")

    def to_dict(self) -> dict[str, Any]:
        """The block as JSON-ready data (binary fields as hex; the transaction via ``to_json_safe``)."""
        try:
            transaction = to_json_safe(self.transaction)
        except TransactionDecodeError:
            transaction = None
        return {"public_key": self.public_key.hex(), "sequence_number": self.sequence_number,
                "link_public_key": self.link_public_key.hex(), "link_sequence_number": self.link_sequence_number,
                "previous_hash": self.previous_hash.hex(), "signature": self.signature.hex(),
                "type": self.type.decode("utf-8", "replace"), "transaction": transaction,
                "timestamp": self.timestamp, "insert_time": self.insert_time, "hash": self.hash.hex()}

    # -- validation -------------------------------------------------------------------------------------------

    def validate_transaction(self, database: _ChainSource) -> tuple[str, list[str]]:
        """Hook for block types with rules about their transaction: ``(state, errors)``; all valid here."""
        return ValidationResult.valid, []

    def validate(self, database: _ChainSource, now_ms: int | None = None,
                 max_future_ms: int = 10 * 60 * 1000, signature_valid: bool | None = None) -> ValidationResult:
        """Judge this block against what ``database`` holds (which is not changed).

        The state says how much could be checked (``valid`` needs both neighbours; ``partial_*`` when one is
        missing; ``no_info`` when nothing of this chain is known) or ``invalid`` with the reasons. With
        ``now_ms`` a timestamp more than ``max_future_ms`` ahead is refused too. ``signature_valid`` passes
        the outcome of a signature check done elsewhere (in a batch, or because we signed the block
        ourselves); None checks it here.
        """
        result = ValidationResult()
        neighbours = getattr(database, "get_neighbours", None)
        if neighbours is not None:
            previous, known, following = neighbours(self)
        else:
            known = database.get(self.public_key, self.sequence_number)
            previous = database.get_block_before(self)
            following = database.get_block_after(self)
        link = database.get_linked(self)
        self._reachable_level(previous, following, result)
        self._check_invariants(database, result, now_ms, max_future_ms, signature_valid)
        self._check_against_known(known, result)
        self._check_link(database, link, result)
        self._check_neighbours(previous, following, result)
        return result

    def _reachable_level(self, previous: TrustChainBlock | None, following: TrustChainBlock | None,
                         result: ValidationResult) -> None:
        # Contiguous neighbours on a side make that side checkable; the genesis block needs no predecessor.
        before_ok = (previous is not None and previous.sequence_number == self.sequence_number - 1) or \
            (previous is None and self.is_genesis)
        after_ok = following is not None and following.sequence_number == self.sequence_number + 1
        if previous is None and following is None and not self.is_genesis:
            result.state = ValidationResult.no_info
        elif before_ok and after_ok:
            result.state = ValidationResult.valid
        elif before_ok:
            result.state = ValidationResult.partial_next
        elif after_ok:
            result.state = ValidationResult.partial_previous
        else:
            result.state = ValidationResult.partial

    def _check_invariants(self, database: _ChainSource, result: ValidationResult, now_ms: int | None,
                          max_future_ms: int, signature_valid: bool | None = None) -> None:
        state, errors = self.validate_transaction(database)
        if state != ValidationResult.valid:
            result.state = state
            result.errors += errors
        if self.sequence_number < GENESIS_SEQ:
            result.err("seq_before_genesis", "sequence number 0 is before the genesis block")
        if self.sequence_number == GENESIS_SEQ and self.previous_hash != GENESIS_HASH:
            result.err("genesis_hash_mismatch", "the first block must name the genesis hash as predecessor")
        if self.sequence_number > GENESIS_SEQ and self.previous_hash == GENESIS_HASH:
            result.err("genesis_hash_mismatch", "only the first block may name the genesis hash")
        if now_ms is not None and self.timestamp > now_ms + max_future_ms:
            result.err("future_timestamp", "timestamp lies too far in the future")
        if _public_key(self.public_key) is None:
            result.err("invalid_public_key", "public key cannot be loaded")
        elif not (self.has_valid_signature() if signature_valid is None else signature_valid):
            result.err("invalid_signature", "signature does not verify")
        if self.link_public_key != EMPTY_PK and _public_key(self.link_public_key) is None:
            result.err("invalid_link_public_key", "counterparty public key cannot be loaded")
        if self.public_key == self.link_public_key:
            result.err("self_signed", "a block cannot link to its own chain")

    def _check_against_known(self, known: TrustChainBlock | None, result: ValidationResult) -> None:
        if known is None or known.hash == self.hash:
            return
        if known.link_public_key != self.link_public_key:
            result.err("known_link_public_key", "counterparty differs from the stored block")
        if known.link_sequence_number != self.link_sequence_number:
            result.err("known_link_sequence_number", "counterparty sequence number differs from the stored block")
        if known.previous_hash != self.previous_hash:
            result.err("known_previous_hash", "previous hash differs from the stored block")
        if known.signature != self.signature:
            result.err("known_signature", "signature differs from the stored block")
        # Two different blocks, each properly signed, at one sequence number: provable fraud.
        from .fraud import FraudProof  # here: fraud.py imports this module
        proof = FraudProof(known, self)
        if proof.verify():
            result.err("double_sign", "two different blocks signed with the same sequence number")
            result.fraud_proof = proof

    def _check_link(self, database: _ChainSource, link: TrustChainBlock | None, result: ValidationResult) -> None:
        if link is None:
            return
        if link.public_key != self.link_public_key:
            result.err("linked_public_key", "stored linked block has another public key")
        elif link.link_sequence_number != self.sequence_number and \
                link.sequence_number != self.link_sequence_number:
            result.err("no_link", "stored linked block does not point at this block")
        elif self.public_key != link.link_public_key and link.link_public_key != ANY_COUNTERPARTY_PK:
            result.err("linked_counterparty", "stored linked block names another counterparty")
        elif self.link_sequence_number != UNKNOWN_SEQ and link.link_public_key != ANY_COUNTERPARTY_PK:
            # This block countersigns ``link``; any other countersignature of it is a conflict.
            others = [other for other in _all_linked(database, link)
                      if other.hash != self.hash and other.link_sequence_number == link.sequence_number]
            if others:
                result.err("double_countersign", "the proposal is already countersigned by another block")
                for other in others:
                    from .fraud import FraudProof  # here: fraud.py imports this module
                    proof = FraudProof(other, self)
                    if proof.verify():
                        result.fraud_proof = proof
                        break

    def _check_neighbours(self, previous: TrustChainBlock | None, following: TrustChainBlock | None,
                          result: ValidationResult) -> None:
        if previous is not None:
            if previous.public_key != self.public_key:
                result.err("previous_public_key", "preceding block belongs to another key")
            if previous.sequence_number >= self.sequence_number:
                result.err("previous_sequence_number", "preceding block does not precede")
            if previous.sequence_number == self.sequence_number - 1 and previous.hash != self.previous_hash:
                result.err("previous_hash", "previous hash is not the hash of the preceding block")
        if following is not None:
            if following.public_key != self.public_key:
                result.err("next_public_key", "following block belongs to another key")
            if following.sequence_number <= self.sequence_number:
                result.err("next_sequence_number", "following block does not follow")
            if following.sequence_number == self.sequence_number + 1 and following.previous_hash != self.hash:
                result.err("next_hash", "following block does not name this block's hash")


class _Undecoded:
    __slots__ = ()


_UNDECODED = _Undecoded()


def _all_linked(database: _ChainSource, block: TrustChainBlock) -> Iterable[TrustChainBlock]:
    getter = getattr(database, "get_all_linked", None)
    if getter is not None:
        return getter(block)
    linked = database.get_linked(block)
    return [] if linked is None else [linked]


class _ChainSource(Protocol):
    """What validation and :meth:`TrustChainBlock.create` read (``TrustChainDB`` provides it)."""

    def get(self, public_key: bytes, sequence_number: int) -> TrustChainBlock | None: ...
    def get_latest(self, public_key: bytes) -> TrustChainBlock | None: ...
    def get_linked(self, block: TrustChainBlock) -> TrustChainBlock | None: ...
    def get_block_before(self, block: TrustChainBlock) -> TrustChainBlock | None: ...
    def get_block_after(self, block: TrustChainBlock) -> TrustChainBlock | None: ...


class ValidationResult:
    """The verdict of :meth:`TrustChainBlock.validate`: a state, error codes and messages, maybe a proof.

    States (class attributes, plain strings): ``valid``, ``partial``, ``partial_next``, ``partial_previous``,
    ``no_info``, ``invalid``. Any error makes the state ``invalid``.
    """

    valid = "valid"
    partial = "partial"
    partial_next = "partial_next"
    partial_previous = "partial_previous"
    no_info = "no_info"
    invalid = "invalid"

    __slots__ = ("state", "errors", "codes", "fraud_proof")

    def __init__(self) -> None:
        self.state = ValidationResult.valid
        self.errors: list[str] = []
        self.codes: list[str] = []
        self.fraud_proof: FraudProof | None = None

    def err(self, code: str, message: str) -> None:
        """Record a broken rule: the block is invalid."""
        self.state = ValidationResult.invalid
        self.codes.append(code)
        self.errors.append(message)

    @property
    def acceptable(self) -> bool:
        """Not invalid (the block may be stored)."""
        return self.state != ValidationResult.invalid

    def __iter__(self) -> Iterator[Any]:
        """``state, errors = block.validate(db)`` works like in 1.x."""
        return iter((self.state, self.errors))

    def __repr__(self) -> str:
        return f"<ValidationResult {self.state} {self.codes}>"


def __getattr__(name: str) -> Any:  # noqa: ANN401
    """``from ...block import FraudProof`` keeps working; the class lives in :mod:`.fraud`, which needs ours."""
    if name == "FraudProof":
        from .fraud import FraudProof
        return FraudProof
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
