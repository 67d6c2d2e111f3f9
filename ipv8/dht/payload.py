"""Wire payloads of the DHT, and the encoding of the values it stores; byte-identical to pyipv8 3.2.1.

Every DHT message is signed (authentication header, body, signature) and, since 2.5, carries no global
time. The bodies (facts sheet B.11; ``ip_address`` is the typed address, 7 bytes for IPv4 and 19 for IPv6):

=====  ======================  =============================================================================
id     message                 body
=====  ======================  =============================================================================
1      ping-request            ``I`` identifier
2      ping-response           ``I`` identifier
3      store-request           ``I`` identifier, ``20s`` token, ``20s`` target, ``varlenH-list`` values
4      store-response          ``I`` identifier
5      find-request            ``I`` identifier, ``ip_address`` LAN address, ``20s`` target, ``I`` offset,
                               ``?`` force_nodes
6      find-response           ``I`` identifier, ``20s`` token, ``varlenH-list`` values, ``node-list`` nodes
7      store-peer-request      ``I`` identifier, ``20s`` token, ``20s`` target
8      store-peer-response     ``I`` identifier
9      connect-peer-request    ``I`` identifier, ``ip_address`` LAN address, ``20s`` target
10     connect-peer-response   ``I`` identifier, ``node-list`` nodes
=====  ======================  =============================================================================

``varlenH-list`` is a one-byte count followed by that many ``uint16``-length-prefixed byte strings.
``node-list`` is a one-byte count followed by, per node, its ``ip_address`` and its ``varlenH`` public key;
it is not a standard format, so it must be registered on the serializer that (un)packs messages 6 and 10:
:func:`add_dht_formats` does that (:data:`dht_serializer` is a serializer that has it).

**Values.** What is stored under a key is at most :data:`MAX_ENTRY_SIZE` bytes, in one of two encodings:

* plain: ``00`` + the data;
* signed: ``01`` + ``varlenH`` data + ``uint32`` version + ``varlenH`` public key + the signature of
  everything before it by that key. The version is the signer's unix time; a newer one replaces an older one.

:func:`encode_value`, :func:`encode_signed_value` and :func:`decode_value` build and check them.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, NamedTuple

from ..keyvault.crypto import default_eccrypto
from ..messaging.payload_dataclass import dataclass, type_from_format
from ..messaging.serialization import ListOf, PackError, Packer, Serializer
from . import DHTError
from .routing import Node

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from ..keyvault.keys import PrivateKey

#: The largest encoded value (type byte, data and, for signed values, version, key and signature), in bytes.
MAX_ENTRY_SIZE = 170
#: Type byte of a plain value.
DHT_ENTRY_STR = 0
#: Type byte of a signed value.
DHT_ENTRY_STR_SIGNED = 1


# The field types: each names the serializer format of its field (see the table above).
Identifier = type_from_format("I")
Key20 = type_from_format("20s")
EncodedValues = type_from_format("varlenH-list")
TypedAddress = type_from_format("ip_address")
NodeList = type_from_format("node-list")
Offset = type_from_format("I")
Flag = type_from_format("?")
Rest = type_from_format("raw")
LengthPrefixed = type_from_format("varlenH")
Version = type_from_format("I")


@dataclass(msg_id=1)
class PingRequestPayload:
    """ping-request (1): are you there? The answer echoes ``identifier``."""

    identifier: Identifier


@dataclass(msg_id=2)
class PingResponsePayload:
    """ping-response (2): the answer to a ping-request, with its ``identifier``."""

    identifier: Identifier


@dataclass(msg_id=3)
class StoreRequestPayload:
    """store-request (3): please keep ``values`` under the key ``target``.

    :ivar identifier: echoed by the store-response
    :ivar token: the token the receiver gave us in an earlier find-response (proves our address)
    :ivar target: the 20-byte key
    :ivar values: encoded values (see the module documentation)
    """

    identifier: Identifier
    token: Key20
    target: Key20
    values: EncodedValues


@dataclass(msg_id=4)
class StoreResponsePayload:
    """store-response (4): the values of the store-request ``identifier`` are stored."""

    identifier: Identifier


@dataclass(msg_id=5)
class FindRequestPayload:
    """find-request (5): what do you have for ``target``, values or closer nodes?

    :ivar identifier: echoed by the find-response
    :ivar lan_address: the requester's LAN address (for punctures between nodes behind one NAT)
    :ivar target: the 20-byte key or node id looked for
    :ivar offset: skip this many values (to page through a key with many values)
    :ivar force_nodes: answer with nodes even when values are known
    """

    identifier: Identifier
    lan_address: TypedAddress
    target: Key20
    offset: Offset
    force_nodes: Flag


@dataclass(msg_id=6)
class FindResponsePayload:
    """find-response (6): values for the target, or the nodes closest to it that the sender knows.

    :ivar identifier: the identifier of the find-request
    :ivar token: a token for the requester's address, to present in a later store-request
    :ivar values: encoded values
    :ivar nodes: :class:`~ipv8.dht.routing.Node` objects (address and key)
    """

    identifier: Identifier
    token: Key20
    values: EncodedValues
    nodes: NodeList


@dataclass(msg_id=7)
class StorePeerRequestPayload:
    """store-peer-request (7): remember me (the signer) as reachable, under the key ``target`` (my mid).

    :ivar identifier: echoed by the store-peer-response
    :ivar token: a token the receiver gave us earlier
    :ivar target: the 20-byte key
    """

    identifier: Identifier
    token: Key20
    target: Key20


@dataclass(msg_id=8)
class StorePeerResponsePayload:
    """store-peer-response (8): the store-peer-request ``identifier`` was accepted."""

    identifier: Identifier


@dataclass(msg_id=9)
class ConnectPeerRequestPayload:
    """connect-peer-request (9): introduce me (at ``lan_address`` and my WAN address) to the peers of ``target``.

    :ivar identifier: echoed by the connect-peer-response
    :ivar lan_address: the requester's LAN address
    :ivar target: the mid whose stored peers should be punctured towards the requester
    """

    identifier: Identifier
    lan_address: TypedAddress
    target: Key20


@dataclass(msg_id=10)
class ConnectPeerResponsePayload:
    """connect-peer-response (10): the stored peers that were asked to puncture towards the requester."""

    identifier: Identifier
    nodes: NodeList


@dataclass
class StrPayload:
    """The body of a plain value: the data, to the end."""

    data: Rest


@dataclass
class SignedStrPayload:
    """The signed part of a signed value after its type byte: data, version and the signer's public key."""

    data: LengthPrefixed
    version: Version
    public_key: LengthPrefixed


class NodePacker(Packer):
    """The item format of ``node-list``: ``ip_address`` then ``varlenH`` public key, as a :class:`Node`.

    :param serializer: used for the two sub-formats.
    :param clock: given to the nodes it creates.

    Unpacking fails (and so the message does) when the key cannot be loaded.
    """

    def __init__(self, serializer: Serializer, clock: IReactorTime | None = None) -> None:
        """Create the packer; see the class documentation."""
        self.serializer = serializer
        self.clock = clock

    def pack(self, *data: Node) -> bytes:
        """The bytes of one node."""
        (node,) = data
        return self.serializer.pack("ip_address", node.address) + \
            self.serializer.pack("varlenH", node.public_key.key_to_bin())

    def unpack(self, data: bytes, offset: int, unpack_list: list, *args: object) -> int:
        """Read one node at ``offset``, append it to ``unpack_list`` and return the offset after it."""
        address, offset = self.serializer.unpack("ip_address", data, offset)
        key, offset = self.serializer.unpack("varlenH", data, offset)
        unpack_list.append(Node(key, address, clock=self.clock))
        return offset


def add_dht_formats(serializer: Serializer, clock: IReactorTime | None = None) -> Serializer:
    """Register ``node-list`` on ``serializer`` (which it returns); its nodes get ``clock``."""
    serializer.add_packer("node-list", ListOf(NodePacker(serializer, clock)))
    return serializer


#: A serializer that knows every standard format and ``node-list`` (nodes on the default clock).
dht_serializer: Serializer = add_dht_formats(Serializer())

#: All ten message classes, by message id.
DHT_PAYLOADS: dict[int, type] = {cls.msg_id: cls for cls in (
    PingRequestPayload, PingResponsePayload, StoreRequestPayload, StoreResponsePayload, FindRequestPayload,
    FindResponsePayload, StorePeerRequestPayload, StorePeerResponsePayload, ConnectPeerRequestPayload,
    ConnectPeerResponsePayload)}


# ------------------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------------------
class InvalidValueError(DHTError):
    """An encoded value is malformed or its signature does not check out.

    :ivar reason: a short name for counters: ``"empty"``, ``"unknown-type"``, ``"malformed"``,
        ``"bad-key"`` or ``"bad-signature"``.
    """

    def __init__(self, reason: str, message: str) -> None:
        """Create the error with a counter name and an explanation."""
        super().__init__(message)
        self.reason = reason


class DecodedValue(NamedTuple):
    """A value taken apart (and, when signed, verified) by :func:`decode_value`."""

    #: The application's data.
    data: bytes
    #: The signer's public key in binary form; None for a plain value.
    public_key: bytes | None
    #: The signer's version (unix time when signed); 0 for a plain value.
    version: int

    @property
    def signed(self) -> bool:
        """Whether the value carries a (verified) signature."""
        return self.public_key is not None


def encode_value(data: bytes) -> bytes:
    """The plain encoding of ``data`` (``00`` + data). Size limits are the caller's to check."""
    return bytes((DHT_ENTRY_STR,)) + bytes(data)


def encode_signed_value(data: bytes, key: PrivateKey, version: int) -> bytes:
    """The signed encoding of ``data`` by ``key`` at ``version`` (by convention the unix time, in seconds).

    :raises PackError: ``data`` is longer than 65535 bytes or ``version`` does not fit in 32 unsigned bits.
    """
    body = dht_serializer.pack_serializable(SignedStrPayload(bytes(data), version, key.pub().key_to_bin()))
    signed_part = bytes((DHT_ENTRY_STR_SIGNED,)) + body
    return signed_part + default_eccrypto.create_signature(key, signed_part)


def decode_value(value: bytes) -> DecodedValue:
    """Take an encoded value apart; a signed one must carry a valid signature of its signer.

    Stricter than pyipv8 in one respect: nothing may sit between the public key and the signature.

    :raises InvalidValueError: the value cannot be used (see its ``reason``).
    """
    if not value:
        raise InvalidValueError("empty", "a value has at least a type byte")
    kind = value[0]
    if kind == DHT_ENTRY_STR:
        return DecodedValue(bytes(value[1:]), None, 0)
    if kind != DHT_ENTRY_STR_SIGNED:
        raise InvalidValueError("unknown-type", f"unknown value type {kind}")
    try:
        body, end = dht_serializer.unpack_serializable(SignedStrPayload, value, 1)
    except PackError as exc:
        raise InvalidValueError("malformed", f"malformed signed value: {exc}") from exc
    try:
        public_key = default_eccrypto.key_from_public_bin(body.public_key)
        signature_length = default_eccrypto.get_signature_length(public_key)
    except Exception as exc:  # noqa: BLE001 - whatever the key bytes do, the value is unusable
        raise InvalidValueError("bad-key", "the signer's public key cannot be loaded") from exc
    if end + signature_length != len(value):
        raise InvalidValueError("malformed", f"a signature of {signature_length} bytes must follow the key, "
                                             f"found {len(value) - end}")
    if not default_eccrypto.is_valid_signature(public_key, value[:end], value[end:]):
        raise InvalidValueError("bad-signature", "the signature does not match the value")
    return DecodedValue(body.data, body.public_key, body.version)


def value_id(value: bytes, decoded: DecodedValue) -> bytes:
    """What identifies a stored value under its key: the SHA-1 of the signer's key, else of the encoding.

    So one signer has at most one value per key (its newest version), while plain values are told apart
    by content.
    """
    return hashlib.sha1(decoded.public_key if decoded.public_key is not None else value).digest()  # noqa: S324


__all__ = ["DHT_ENTRY_STR", "DHT_ENTRY_STR_SIGNED", "DHT_PAYLOADS", "MAX_ENTRY_SIZE", "ConnectPeerRequestPayload",
           "ConnectPeerResponsePayload", "DecodedValue", "FindRequestPayload", "FindResponsePayload",
           "InvalidValueError", "NodePacker", "PingRequestPayload", "PingResponsePayload", "SignedStrPayload",
           "StorePeerRequestPayload", "StorePeerResponsePayload", "StoreRequestPayload", "StoreResponsePayload",
           "StrPayload", "add_dht_formats", "decode_value", "dht_serializer", "encode_signed_value",
           "encode_value", "value_id"]
