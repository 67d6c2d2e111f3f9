"""The hidden-service tunnel messages (ids 9-18) and the base classes all tunnel payloads share.

Private: import these names from :mod:`ipv8.messaging.anonymization.payload`, which re-exports them.
Byte-identical to pyipv8 3.2.1 (facts sheet B.12):

====  =======================  ================================================================================
id    message                  fields
====  =======================  ================================================================================
9     establish-intro          ``I`` circuit, ``H`` identifier, ``20s`` info hash, ``varlenH`` seeder key
10    intro-established        ``I``, ``H``
11    establish-rendezvous     ``I``, ``H``, ``20s`` cookie
12    rendezvous-established   ``I``, ``H``, ``ip_address`` rendezvous point
13    create-e2e               ``H`` identifier, ``20s`` info hash, ``varlenH`` node public key, ``varlenH`` key
                               (no circuit id: it travels as data, or as an ordinary unsigned packet)
14    created-e2e              ``H``, ``varlenH`` key, ``32s`` auth, ``raw`` encrypted rendezvous info
15    link-e2e                 ``I``, ``H``, ``20s`` cookie
16    linked-e2e               ``I``, ``H``
17    peers-request            ``I``, ``H``, ``20s`` info hash
18    peers-response           ``I``, ``H``, ``20s`` info hash, ``payload-list`` of :class:`IntroductionInfo`
                               (one-byte count; each entry ``uint16`` length + ``ip_address``, ``varlenH`` key,
                               ``varlenH`` seeder key, ``B`` source)
====  =======================  ================================================================================

The rendezvous info a seeder encrypts into created-e2e is a :class:`RendezvousInfo` in the ``payload``
format (``uint16`` length, then its fields): :func:`pack_rendezvous_info`, :func:`unpack_rendezvous_info`.
"""
from __future__ import annotations

from ..lazy_payload import VariablePayloadWID
from ..payload_dataclass import DataClassPayloadWID, dataclass, type_from_format
from ..serialization import PackError, Serializer, default_serializer

# Field formats (the name of each alias is the serializer format it stands for).
CircuitId = type_from_format("I")
Identifier = type_from_format("H")
UInt16 = type_from_format("H")
Byte = type_from_format("B")
LengthPrefixed = type_from_format("varlenH")
Auth = type_from_format("32s")
Digest = type_from_format("20s")
TypedAddress = type_from_format("address")
IPAddress = type_from_format("ip_address")
Rest = type_from_format("raw")
PeerFlags = type_from_format("flags")


class CellablePayload(VariablePayloadWID):
    """A payload that can travel inside a cell: it has a ``msg_id`` and its first field is ``I circuit_id``.

    pyipv8's base class of the same name; applications subclass it (``names``/``format_list`` style) for
    their own cell messages. The tunnel payloads derive from it too.
    """

    circuit_id: int


class _CellDataclass(DataClassPayloadWID, CellablePayload):
    """Base of the dataclass cell payloads (so that they are :class:`CellablePayload` instances)."""


@dataclass(msg_id=9)
class EstablishIntroPayload(_CellDataclass):
    """establish-intro (9): ask the circuit's exit to be an introduction point for ``info_hash``.

    :ivar public_key: the key the seeder uses for this content; downloaders address it by this key
    """

    circuit_id: CircuitId
    identifier: Identifier
    info_hash: Digest
    public_key: LengthPrefixed


@dataclass(msg_id=10)
class IntroEstablishedPayload(_CellDataclass):
    """intro-established (10): the exit is now an introduction point."""

    circuit_id: CircuitId
    identifier: Identifier


@dataclass(msg_id=11)
class EstablishRendezvousPayload(_CellDataclass):
    """establish-rendezvous (11): ask the circuit's exit to be a rendezvous point, known by ``cookie``."""

    circuit_id: CircuitId
    identifier: Identifier
    cookie: Digest


@dataclass(msg_id=12)
class RendezvousEstablishedPayload(_CellDataclass):
    """rendezvous-established (12): the exit is a rendezvous point, reachable at ``rendezvous_point_addr``."""

    circuit_id: CircuitId
    identifier: Identifier
    rendezvous_point_addr: IPAddress


@dataclass(msg_id=13)
class CreateE2EPayload:
    """create-e2e (13): a downloader's key agreement with a seeder, sent through an introduction point.

    :ivar node_public_key: the seeder key it is meant for
    :ivar key: the downloader's ephemeral X25519 public key
    """

    identifier: Identifier
    info_hash: Digest
    node_public_key: LengthPrefixed
    key: LengthPrefixed


@dataclass(msg_id=14)
class CreatedE2EPayload:
    """created-e2e (14): the seeder's answer, with the rendezvous point encrypted for the downloader."""

    identifier: Identifier
    key: LengthPrefixed
    auth: Auth
    rp_info_enc: Rest


@dataclass(msg_id=15)
class LinkE2EPayload(_CellDataclass):
    """link-e2e (15): join the downloader's circuit to the seeder's at the rendezvous point ``cookie``."""

    circuit_id: CircuitId
    identifier: Identifier
    cookie: Digest


@dataclass(msg_id=16)
class LinkedE2EPayload(_CellDataclass):
    """linked-e2e (16): the two circuits are joined."""

    circuit_id: CircuitId
    identifier: Identifier


@dataclass(msg_id=17)
class PeersRequestPayload(_CellDataclass):
    """peers-request (17): which introduction points serve ``info_hash``?"""

    circuit_id: CircuitId
    identifier: Identifier
    info_hash: Digest


@dataclass
class IntroductionInfo:
    """One introduction point in a peers-response.

    :ivar address: where it is
    :ivar key: its public key
    :ivar seeder_pk: the key of the seeder it introduces (may be empty)
    :ivar source: how the sender learnt of it (``PEER_SOURCE_*``)
    """

    address: IPAddress
    key: LengthPrefixed
    seeder_pk: LengthPrefixed
    source: Byte


@dataclass(msg_id=18)
class PeersResponsePayload(_CellDataclass):
    """peers-response (18): the introduction points the sender knows for ``info_hash`` (at most 255)."""

    circuit_id: CircuitId
    identifier: Identifier
    info_hash: Digest
    peers: list[IntroductionInfo]


@dataclass
class RendezvousInfo:
    """Where to meet: the rendezvous point's address, the key of its circuit's last hop, and the cookie."""

    address: IPAddress
    key: LengthPrefixed
    cookie: Digest


def pack_rendezvous_info(info: RendezvousInfo, serializer: Serializer | None = None) -> bytes:
    """The bytes a seeder encrypts into ``rp_info_enc``: ``info`` in the ``payload`` format."""
    return (serializer or default_serializer).pack("payload", info)


def unpack_rendezvous_info(data: bytes, serializer: Serializer | None = None) -> RendezvousInfo:
    """Read decrypted rendezvous info; every byte must belong to it.

    :raises PackError: malformed, or bytes left over (pyipv8 ignores leftovers; it never sends any)
    """
    info, end = (serializer or default_serializer).unpack(RendezvousInfo, data)
    if end != len(data):
        raise PackError(f"{len(data) - end} unexpected bytes after the rendezvous info", offset=end)
    return info
