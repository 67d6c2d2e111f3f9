"""Every message of the tunnel community, byte-identical to pyipv8 3.2.1 (facts sheet B.12).

**Outer messages** (directly after the 22-byte community prefix):

* ``0`` **cell** (:class:`CellPayload`, unsigned): ``I`` circuit id, ``?`` plaintext flag, ``?`` relay_early
  flag, then the (usually encrypted) cell message, to the end of the datagram;
* ``8`` **destroy** (:class:`DestroyPayload`, signed, no global time): ``I`` circuit id, ``H`` reason (the
  ``DESTROY_REASON_*`` constants of :mod:`~ipv8.messaging.anonymization.tunnel`);
* the hidden-service messages 13, 17 and 18 may also come as plain unsigned packets (through an exit).

**Cells.** Once decrypted, a cell message is the inner message id (one byte) followed by the inner
payload *without* its leading 4-byte circuit id, which the cell header already carries.
:func:`encode_cell_message` builds it from a payload, :func:`decode_cell_message` reads it back and
:meth:`CellPayload.unwrap` rebuilds the ordinary packet ``prefix + inner id + circuit id + rest`` that pyipv8
hands to its handlers. Only create and created travel in plaintext; a plaintext cell with any other inner
message is forged (:attr:`CellPayload.forbidden_plaintext`).

**Inner messages** (``address`` is the typed address, type 1 IPv4, 2 host name, 3 IPv6; ``ip_address`` the
same without host names):

====  =======================  ================================================================================
id    message                  fields
====  =======================  ================================================================================
1     data                     ``I`` circuit, ``address`` destination, ``address`` origin, ``raw`` data
2     create                   ``I`` circuit, ``H`` identifier, ``varlenH`` node public key, ``varlenH`` key
3     created                  ``I``, ``H``, ``varlenH`` key, ``32s`` auth, ``raw`` encrypted candidate list
4     extend                   ``I``, ``H``, ``varlenH`` node public key, ``varlenH`` key, ``ip_address`` node
5     extended                 as created
6, 7  ping, pong               ``I`` circuit, ``H`` identifier
9-18  hidden services          see :mod:`~ipv8.messaging.anonymization._hidden_payload` (re-exported here)
19    test-request             ``I``, ``H``, ``H`` response size, ``raw`` data
20    test-response            ``I``, ``H``, ``raw`` data
====  =======================  ================================================================================

**Candidate lists.** A node that joins a circuit tells the initiator which peers it may extend to: a
``varlenH-list`` of public keys (relays first, then exits, the first exit written twice to mark the
boundary), encrypted into created/extended's ``candidates_enc``. See :func:`select_candidate_keys`,
:func:`split_candidate_list` and :func:`next_hop_candidates`.

**Peer flags** ride in the ``extra_bytes`` of the community's introduction requests and responses as a
``uint16`` bitmask (the ``flags`` format, :class:`Flags`; :class:`ExtraIntroductionPayload`).

``flags`` is not a standard format: (un)pack with :data:`tunnel_serializer` or a serializer passed through
:func:`add_tunnel_formats`. Every decoder reads only what its length fields announce and fails with
:exc:`~ipv8.messaging.serialization.PackError`, whatever the bytes.
"""
from __future__ import annotations

import struct
from typing import Any, Collection, Iterable, Mapping, Sequence

from ..payload_dataclass import dataclass
from ..serialization import Packer, PackError, Serializer

# The base classes and field formats are shared with the hidden-service messages, so they live with them.
from ._hidden_payload import (Auth, CellablePayload, CircuitId, CreatedE2EPayload, CreateE2EPayload,
                              EstablishIntroPayload, EstablishRendezvousPayload, Identifier, IntroductionInfo,
                              IntroEstablishedPayload, IPAddress, LengthPrefixed, LinkE2EPayload, LinkedE2EPayload,
                              PeerFlags, PeersRequestPayload, PeersResponsePayload, RendezvousEstablishedPayload,
                              RendezvousInfo, Rest, TypedAddress, UInt16, _CellDataclass, pack_rendezvous_info,
                              unpack_rendezvous_info)
from .tunnel import (DESTROY_REASON_SHUTDOWN, DESTROY_REASON_UNKNOWN, DESTROY_REASON_UNNEEDED, PEER_FLAG_EXIT_BT,
                     PEER_FLAG_RELAY)


# ------------------------------------------------------------------------------------------------------------
# Circuit management and data (ids 1-8)
# ------------------------------------------------------------------------------------------------------------
@dataclass(msg_id=1)
class DataPayload(_CellDataclass):
    """data (1): a datagram travelling through a circuit.

    :ivar dest_address: where the exit sends it (towards the exit) or ``0.0.0.0:0`` (towards the initiator)
    :ivar org_address: where it came from, seen from the exit (towards the initiator), or ``0.0.0.0:0``
    :ivar data: the datagram
    """

    circuit_id: CircuitId
    dest_address: TypedAddress
    org_address: TypedAddress
    data: Rest


@dataclass(msg_id=2)
class CreatePayload(_CellDataclass):
    """create (2, plaintext): ask the receiver to become the first hop of a circuit.

    :ivar identifier: echoed by created
    :ivar node_public_key: the sender's public key (binary form)
    :ivar key: the initiator's ephemeral X25519 public key
    """

    circuit_id: CircuitId
    identifier: Identifier
    node_public_key: LengthPrefixed
    key: LengthPrefixed


@dataclass(msg_id=3)
class CreatedPayload(_CellDataclass):
    """created (3, plaintext): the hop's half of the key agreement and its encrypted candidate list.

    :ivar key: the hop's ephemeral X25519 public key
    :ivar auth: proof that the hop holds its long-term key (32 bytes)
    :ivar candidates_enc: the candidate list, encrypted with the new session keys
    """

    circuit_id: CircuitId
    identifier: Identifier
    key: LengthPrefixed
    auth: Auth
    candidates_enc: Rest


@dataclass(msg_id=4)
class ExtendPayload(_CellDataclass):
    """extend (4): ask the last hop to extend the circuit to ``node_public_key``.

    :ivar node_addr: where that node is; ``0.0.0.0:0`` when it came from the hop's own candidate list
    """

    circuit_id: CircuitId
    identifier: Identifier
    node_public_key: LengthPrefixed
    key: LengthPrefixed
    node_addr: IPAddress


@dataclass(msg_id=5)
class ExtendedPayload(_CellDataclass):
    """extended (5): the new hop's created, passed back to the initiator (same fields)."""

    circuit_id: CircuitId
    identifier: Identifier
    key: LengthPrefixed
    auth: Auth
    candidates_enc: Rest


@dataclass(msg_id=6)
class PingPayload(_CellDataclass):
    """ping (6): keep-alive through a circuit, answered by a pong with the same ``identifier``."""

    circuit_id: CircuitId
    identifier: Identifier


@dataclass(msg_id=7)
class PongPayload(_CellDataclass):
    """pong (7): the answer to a ping."""

    circuit_id: CircuitId
    identifier: Identifier


@dataclass(msg_id=8)
class DestroyPayload(_CellDataclass):
    """destroy (8): an ordinary signed message (never a cell) that tears a circuit down.

    :ivar reason: ``DESTROY_REASON_UNKNOWN`` (1), ``_SHUTDOWN`` (2) or ``_UNNEEDED`` (4); others are passed on
    """

    circuit_id: CircuitId
    reason: UInt16


@dataclass(msg_id=19)
class TestRequestPayload(_CellDataclass):
    """test-request (19): speed test; the exit answers with ``response_size`` random bytes."""

    __test__ = False  # not a pytest test class, despite the name

    circuit_id: CircuitId
    identifier: Identifier
    response_size: UInt16
    data: Rest


@dataclass(msg_id=20)
class TestResponsePayload(_CellDataclass):
    """test-response (20): the answer to a test-request."""

    __test__ = False

    circuit_id: CircuitId
    identifier: Identifier
    data: Rest


#: Every tunnel message class by message id (1-20; 8 is the outer destroy).
TUNNEL_PAYLOADS: dict[int, type] = {cls.msg_id: cls for cls in (
    DataPayload, CreatePayload, CreatedPayload, ExtendPayload, ExtendedPayload, PingPayload, PongPayload,
    DestroyPayload, EstablishIntroPayload, IntroEstablishedPayload, EstablishRendezvousPayload,
    RendezvousEstablishedPayload, CreateE2EPayload, CreatedE2EPayload, LinkE2EPayload, LinkedE2EPayload,
    PeersRequestPayload, PeersResponsePayload, TestRequestPayload, TestResponsePayload)}

#: The messages that may travel as cells (those with a circuit id, except the outer destroy).
CELL_PAYLOADS: dict[int, type] = {msg_id: cls for msg_id, cls in TUNNEL_PAYLOADS.items()
                                  if issubclass(cls, CellablePayload) and cls is not DestroyPayload}

#: Inner message ids that travel in plaintext cells (create, created): pyipv8's name.
NO_CRYPTO_PACKETS = [CreatePayload.msg_id, CreatedPayload.msg_id]
#: The same, as a set.
PLAINTEXT_MSG_IDS = frozenset(NO_CRYPTO_PACKETS)
#: Inner message ids that must arrive with the relay_early flag set (extend): a relay counts them.
RELAY_EARLY_MSG_IDS = frozenset({ExtendPayload.msg_id})
#: Destroy reasons by value, for logs and counters.
DESTROY_REASONS = {DESTROY_REASON_UNKNOWN: "unknown", DESTROY_REASON_SHUTDOWN: "shutdown",
                   DESTROY_REASON_UNNEEDED: "unneeded"}


# ------------------------------------------------------------------------------------------------------------
# Cells
# ------------------------------------------------------------------------------------------------------------
_CELL_FIELDS = struct.Struct(">I??")
_CIRCUIT_ID = struct.Struct(">I")
#: Community prefix (22) + message id (1) + circuit id (4) + the two flags (2).
CELL_HEADER_SIZE = 29


class CellPayload:
    """A cell (outer message 0) as it crosses one link of a circuit.

    :param circuit_id: the link's circuit id
    :param message: the cell message: encrypted once per remaining layer, or the plain
        ``inner id + payload`` (see the module documentation) once every layer is off
    :param plaintext: set on create and created only; receivers drop any other plaintext cell
    :param relay_early: set on the first cells of a circuit (extend needs it); relays limit how many pass

    Not a serializer payload: its layout includes the prefix, so :meth:`to_bin` / :meth:`from_bin` do the work.
    """

    __slots__ = ("circuit_id", "message", "plaintext", "relay_early")
    msg_id = 0

    def __init__(self, circuit_id: int, message: bytes, plaintext: bool = False, relay_early: bool = False) -> None:
        """Hold the fields; see the class documentation."""
        self.circuit_id = circuit_id
        self.message = message
        self.plaintext = plaintext
        self.relay_early = relay_early

    def __repr__(self) -> str:
        return (f"CellPayload(circuit_id={self.circuit_id}, message=<{len(self.message)} bytes>, "
                f"plaintext={bool(self.plaintext)}, relay_early={bool(self.relay_early)})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CellPayload):
            return NotImplemented
        return (self.circuit_id, self.message, bool(self.plaintext), bool(self.relay_early)) == \
            (other.circuit_id, other.message, bool(other.plaintext), bool(other.relay_early))

    __hash__ = None  # type: ignore[assignment] - mutable (the message changes layer by layer)

    @classmethod
    def from_payload(cls, payload: CellablePayload, serializer: Serializer | None = None,
                     relay_early: bool = False) -> CellPayload:
        """The plaintext cell for an inner ``payload``, flagged plaintext when it is create or created."""
        return cls(payload.circuit_id, encode_cell_message(payload, serializer),
                   payload.msg_id in PLAINTEXT_MSG_IDS, relay_early)

    def to_bin(self, prefix: bytes) -> bytes:
        """The datagram: ``prefix``, message id 0, circuit id, the two flags, the message."""
        try:
            fields = _CELL_FIELDS.pack(self.circuit_id, self.plaintext, self.relay_early)
        except struct.error as exc:
            raise PackError(f"cannot pack cell header: {exc}", format="cell", offset=len(prefix) + 1) from exc
        return b"".join((prefix, b"\x00", fields, self.message))

    @classmethod
    def from_bin(cls, packet: bytes) -> CellPayload:
        """Read a cell datagram (prefix not checked; any non-zero flag byte counts as set, as in pyipv8).

        :raises PackError: the datagram is shorter than a cell header or is not message 0
        """
        if len(packet) < CELL_HEADER_SIZE:
            raise PackError(f"a cell has at least {CELL_HEADER_SIZE} bytes, this datagram {len(packet)}",
                            format="cell", offset=0)
        if packet[22] != cls.msg_id:
            raise PackError(f"message {packet[22]} is not a cell", format="cell", offset=22)
        circuit_id, plaintext, relay_early = _CELL_FIELDS.unpack_from(packet, 23)
        return cls(circuit_id, packet[CELL_HEADER_SIZE:], plaintext, relay_early)

    @property
    def inner_msg_id(self) -> int | None:
        """The first byte of the message: the inner message id once decrypted (None when empty)."""
        return self.message[0] if self.message else None

    @property
    def forbidden_plaintext(self) -> bool:
        """Flagged plaintext but not create/created (or empty): pyipv8 drops it, and so must we."""
        return bool(self.plaintext) and (not self.message or self.message[0] not in PLAINTEXT_MSG_IDS)

    @property
    def missing_relay_early(self) -> bool:
        """A (decrypted) extend without the relay_early flag: pyipv8 drops it."""
        return not self.relay_early and bool(self.message) and self.message[0] in RELAY_EARLY_MSG_IDS

    def unwrap(self, prefix: bytes) -> bytes:
        """The ordinary packet for a decrypted cell: ``prefix + inner id + circuit id + rest``.

        :raises PackError: the message is empty (pyipv8 would take a circuit id byte for the message id)
        """
        if not self.message:
            raise PackError("an empty cell message holds no inner message", format="cell", offset=0)
        return b"".join((prefix, self.message[:1], _CIRCUIT_ID.pack(self.circuit_id), memoryview(self.message)[1:]))

    def decode(self, serializer: Serializer | None = None, classes: Mapping[int, type] | None = None,
               strict: bool = True) -> Any:  # noqa: ANN401
        """The inner payload of a decrypted cell; see :func:`decode_cell_message`."""
        return decode_cell_message(self.circuit_id, self.message, serializer, classes, strict)


def encode_cell_message(payload: CellablePayload, serializer: Serializer | None = None) -> bytes:
    """The plaintext cell message for ``payload``: its message id, then its bytes after the circuit id.

    :raises TypeError: ``payload`` has no circuit id to strip (for example create-e2e)
    :raises PackError: a field does not fit its format, or the message id is not one byte
    """
    cls = type(payload)
    if cls not in _CELL_CLASSES:
        _check_cell_class(cls)
    msg_id = payload.msg_id
    if msg_id.__class__ is not int or not 0 <= msg_id < 256:  # noqa: PLR2004
        raise PackError(f"{cls.__name__}.msg_id {msg_id!r} is not a one-byte message id", format="cell")
    packed = (serializer or tunnel_serializer).pack_serializable(payload)
    # memoryview: the message is built with one copy of the (possibly large) body instead of two.
    return _ONE_BYTE[msg_id] + memoryview(packed)[4:]


# Classes already found to have a leading circuit id (the check is an ABC isinstance: too slow per cell).
_CELL_CLASSES: set[type] = set()
_ONE_BYTE = [bytes((value,)) for value in range(256)]


def _check_cell_class(cls: type) -> None:
    if not issubclass(cls, CellablePayload) and list(getattr(cls, "names", ()))[:1] != ["circuit_id"]:
        raise TypeError(f"{cls.__name__} has no leading circuit_id, so it cannot travel as a cell")
    if len(_CELL_CLASSES) >= 4096:  # noqa: PLR2004 - classes made on the fly must not grow it for ever
        _CELL_CLASSES.clear()
    _CELL_CLASSES.add(cls)


def decode_cell_message(circuit_id: int, message: bytes, serializer: Serializer | None = None,
                        classes: Mapping[int, type] | None = None, strict: bool = True) -> Any:  # noqa: ANN401
    """Read the inner payload of a decrypted cell message, putting ``circuit_id`` back in.

    :param classes: message id to payload class (:data:`CELL_PAYLOADS` by default)
    :param strict: refuse bytes after the payload (pyipv8 ignores them; it never sends any)
    :raises PackError: empty message, unknown inner id, or a body that does not match its class
    """
    if not message:
        raise PackError("an empty cell message holds no inner message", format="cell", offset=0)
    inner = message[0]
    cls = (CELL_PAYLOADS if classes is None else classes).get(inner)
    if cls is None:
        raise PackError(f"no cell message has id {inner}", format="cell", offset=0)
    body = _CIRCUIT_ID.pack(circuit_id) + memoryview(message)[1:]  # one copy of the body, not two
    serializer = serializer or tunnel_serializer
    if strict:
        return serializer.unpack_serializable_list([cls], body)[0]
    return serializer.unpack_serializable(cls, body)[0]


# ------------------------------------------------------------------------------------------------------------
# Peer flags in introduction requests and responses
# ------------------------------------------------------------------------------------------------------------
class Flags(Packer):
    """The ``flags`` format: a set of flag values (powers of two) ORed into one big-endian integer.

    Unpacks to the list of the set bits' values, lowest first. pyipv8's packer of the same name.
    """

    def __init__(self, fmt: str = ">H") -> None:
        """Use the struct format ``fmt`` (an unsigned integer; ``>H`` on the wire)."""
        self.format = fmt
        self._struct = struct.Struct(fmt)
        self.size = self._struct.size

    def __repr__(self) -> str:
        return f"Flags({self.format!r})"

    def pack(self, *data: Iterable[int]) -> bytes:
        """OR the flag values together."""
        (flags,) = data
        combined = 0
        for flag in flags:
            if not isinstance(flag, int) or flag < 0:
                raise ValueError(f"a flag is a non-negative int, not {flag!r}")
            combined |= flag
        return self._struct.pack(combined)

    def unpack(self, data: bytes, offset: int, unpack_list: list, *args: object) -> int:
        """Append the list of set bits (as values) and return the offset after the field."""
        (number,) = self._struct.unpack_from(data, offset)
        unpack_list.append([1 << bit for bit in range(self.size * 8) if number >> bit & 1])
        return offset + self.size


@dataclass
class ExtraIntroductionPayload:
    """The ``extra_bytes`` of the tunnel community's introduction requests and responses: its peer flags."""

    flags: PeerFlags


def add_tunnel_formats(serializer: Serializer) -> Serializer:
    """Register ``flags`` on ``serializer`` (which it returns), as pyipv8's TunnelCommunity does."""
    serializer.add_packer("flags", Flags())
    return serializer


#: A serializer with every standard format and ``flags``.
tunnel_serializer: Serializer = add_tunnel_formats(Serializer())


def peer_flags_to_extra_bytes(flags: Iterable[int]) -> bytes:
    """The introduction ``extra_bytes`` that announce ``flags`` (``PEER_FLAG_*`` values)."""
    return tunnel_serializer.pack_serializable(ExtraIntroductionPayload(list(flags)))


def peer_flags_from_extra_bytes(extra_bytes: bytes) -> list[int]:
    """The peer flags announced in introduction ``extra_bytes``, as pyipv8 reads them.

    No extra bytes means no flags; bytes after the first two are ignored (pyipv8 does the same).

    :raises PackError: one byte only
    """
    if not extra_bytes:
        return []
    return tunnel_serializer.unpack_serializable(ExtraIntroductionPayload, extra_bytes)[0].flags


# ------------------------------------------------------------------------------------------------------------
# Candidate lists (inside created / extended)
# ------------------------------------------------------------------------------------------------------------
#: How many relays and how many exits a joining node lists at most (pyipv8's choice).
MAX_CANDIDATES_PER_KIND = 4


def build_candidate_list(relay_keys: Sequence[bytes], exit_keys: Sequence[bytes],
                         limit: int = MAX_CANDIDATES_PER_KIND) -> list[bytes]:
    """The candidate list: up to ``limit`` relays, then up to ``limit`` exits with the first one twice.

    The repeated key is how the receiver tells where the exits start (:func:`split_candidate_list`).
    """
    relays, exits = list(relay_keys[:limit]), list(exit_keys[:limit])
    return relays + exits[:1] + exits


def select_candidate_keys(flags_by_key: Mapping[bytes, Collection[int]],
                          limit: int = MAX_CANDIDATES_PER_KIND) -> list[bytes]:
    """The candidate list a joining node sends, from the peers it knows (key -> announced flags), in order.

    Relays are peers with ``PEER_FLAG_RELAY`` but not ``PEER_FLAG_EXIT_BT``; exits are peers with both
    (exits must also relay, for older initiators). Others are left out.
    """
    relays = [key for key, flags in flags_by_key.items() if PEER_FLAG_RELAY in flags and PEER_FLAG_EXIT_BT not in flags]
    exits = [key for key, flags in flags_by_key.items() if PEER_FLAG_RELAY in flags and PEER_FLAG_EXIT_BT in flags]
    return build_candidate_list(relays, exits, limit)


def pack_candidate_list(keys: Sequence[bytes], serializer: Serializer | None = None) -> bytes:
    """The bytes that get encrypted into ``candidates_enc``: a ``varlenH-list`` (at most 255 keys).

    :raises PackError: too many keys, or a key longer than 65535 bytes
    """
    if len(keys) > 255:  # noqa: PLR2004 - the one-byte count of varlenH-list
        raise PackError(f"a candidate list holds at most 255 keys, not {len(keys)}", format="varlenH-list")
    return (serializer or tunnel_serializer).pack("varlenH-list", list(keys))


def unpack_candidate_list(data: bytes, serializer: Serializer | None = None) -> list[bytes]:
    """Read a decrypted candidate list; every byte must belong to it.

    :raises PackError: malformed, or bytes left over (pyipv8 ignores leftovers; it never sends any)
    """
    keys, end = (serializer or tunnel_serializer).unpack("varlenH-list", data)
    if end != len(data):
        raise PackError(f"{len(data) - end} unexpected bytes after the candidate list", offset=end)
    return keys


def split_candidate_list(keys: Sequence[bytes]) -> tuple[list[bytes], list[bytes]]:
    """``(relays, exits)``: the exits start after the first key that is repeated right away."""
    for index in range(len(keys) - 1):
        if keys[index] == keys[index + 1]:
            return list(keys[:index]), list(keys[index + 1:])
    return list(keys), []


def next_hop_candidates(keys: Sequence[bytes], become_exit: bool) -> list[bytes]:
    """The keys an initiator may extend to next: exits for the last hop, else relays (or exits if none)."""
    relays, exits = split_candidate_list(keys)
    return exits if become_exit else relays or exits


__all__ = ["CELL_HEADER_SIZE", "CELL_PAYLOADS", "DESTROY_REASONS", "MAX_CANDIDATES_PER_KIND", "NO_CRYPTO_PACKETS",
           "PLAINTEXT_MSG_IDS", "RELAY_EARLY_MSG_IDS", "TUNNEL_PAYLOADS", "CellPayload", "CellablePayload",
           "CreateE2EPayload", "CreatePayload", "CreatedE2EPayload", "CreatedPayload", "DataPayload",
           "DestroyPayload", "EstablishIntroPayload", "EstablishRendezvousPayload", "ExtendPayload",
           "ExtendedPayload", "ExtraIntroductionPayload", "Flags", "IntroEstablishedPayload", "IntroductionInfo",
           "LinkE2EPayload", "LinkedE2EPayload", "PeersRequestPayload", "PeersResponsePayload", "PingPayload",
           "PongPayload", "RendezvousEstablishedPayload", "RendezvousInfo", "TestRequestPayload",
           "TestResponsePayload", "add_tunnel_formats", "build_candidate_list", "decode_cell_message",
           "encode_cell_message", "next_hop_candidates", "pack_candidate_list", "pack_rendezvous_info",
           "peer_flags_from_extra_bytes", "peer_flags_to_extra_bytes", "select_candidate_keys",
           "split_candidate_list", "tunnel_serializer", "unpack_candidate_list", "unpack_rendezvous_info"]
