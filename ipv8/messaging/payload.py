"""The payloads of IPv8's own peer-discovery messages, plus the :class:`Payload` base class.

Old-style messages (ids 246, 245, 250, 249) carry IPv4 addresses only; the new-style ones (234, 233, 232,
231) use the ``ip_address`` format and so also carry IPv6. Wire layouts are identical to pyipv8 3.2.1,
including its quirks:

* introduction-request flags byte: 0x80/0x40 connection type, 0x20 ``supports_new_style``, 0x01 ``advice``.
  The advice bit is *read back inverted* (a set bit becomes ``advice=False``), exactly as pyipv8 does; no
  code depends on the value.
* introduction-response flags byte: 0x80/0x40 connection type, 0x10 ``supports_new_style``,
  0x08 ``intro_supports_new_style``, 0x04 ``peer_limit_reached``.
* identifiers are stored modulo 65536.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy_payload import VariablePayloadWID, vp_compile
from .serialization import Payload

if TYPE_CHECKING:
    from ..types import Address

# connection type name <-> its two flag bits
_CONNECTION_BITS = {"public": (1, 0), "symmetric-NAT": (1, 1)}
_CONNECTION_NAMES = {(0, 0): "unknown", (1, 0): "public", (1, 1): "symmetric-NAT"}


def encode_connection_type(conn_type: str) -> tuple[int, int]:
    """The two flag bits for a connection type name; anything unrecognised is sent as "unknown" (0, 0)."""
    return _CONNECTION_BITS.get(conn_type, (0, 0))


def decode_connection_type(bit_0: int, bit_1: int) -> str:
    """The connection type name for two flag bits ("N/A" for the unused combination 0, 1)."""
    return _CONNECTION_NAMES.get((1 if bit_0 else 0, 1 if bit_1 else 0), "N/A")


class IntroductionRequestPayload(Payload):
    """introduction-request (246): "here is how I see you and how to reach me; please introduce someone".

    :param destination_address: the receiver's address, as the sender sees it
    :param source_lan_address: the sender's LAN address
    :param source_wan_address: the sender's WAN address
    :param advice: whether the sender wants to be introduced to another peer
    :param connection_type: "unknown", "public" or "symmetric-NAT"
    :param identifier: echoed by the response (kept modulo 65536)
    :param extra_bytes: application data appended to the message
    :param supports_new_style: whether the sender understands the new-style (IPv6-capable) messages
    """

    format_list = [*["ipv4"] * 3, "bits", "H", "raw"]
    msg_id = 246

    def __init__(self, destination_address: Address, source_lan_address: Address,  # noqa: PLR0913
                 source_wan_address: Address, advice: bool, connection_type: str, identifier: int,
                 extra_bytes: bytes, supports_new_style: bool = True) -> None:
        """Store the fields (see the class documentation)."""
        self.identifier = identifier % 65536
        self.connection_type = connection_type
        self.advice, self.supports_new_style = advice, supports_new_style
        self.destination_address = destination_address
        self.source_lan_address, self.source_wan_address = source_lan_address, source_wan_address
        self.extra_bytes = extra_bytes

    def to_pack_list(self) -> list[tuple]:
        """Three IPv4 addresses, the flags byte, the identifier and the extra bytes."""
        conn_0, conn_1 = _CONNECTION_BITS.get(self.connection_type, (0, 0))
        flags = ("bits", conn_0, conn_1, self.supports_new_style, 0, 0, 0, 0, self.advice)
        return [("ipv4", self.destination_address), ("ipv4", self.source_lan_address),
                ("ipv4", self.source_wan_address), flags, ("H", self.identifier), ("raw", self.extra_bytes)]

    @classmethod
    def from_unpack_list(cls, destination_address: Address, source_lan_address: Address,  # noqa: PLR0913
                         source_wan_address: Address, connection_type_0: int, connection_type_1: int,
                         supports_new_style: int, dflag1: int, dflag2: int, tunnel: int, sync: int,  # noqa: ARG003
                         advice: int, identifier: int, extra_bytes: bytes) -> IntroductionRequestPayload:
        """Build the payload from the unpacked fields; note the inverted advice bit (module documentation)."""
        # Hot path of peer discovery: fill the attributes directly instead of going through __init__.
        payload = cls.__new__(cls)
        payload.identifier = identifier  # 16 bits on the wire already
        payload.connection_type = _CONNECTION_NAMES.get((connection_type_0, connection_type_1), "N/A")
        payload.advice, payload.supports_new_style = not advice, supports_new_style
        payload.destination_address = destination_address
        payload.source_lan_address, payload.source_wan_address = source_lan_address, source_wan_address
        payload.extra_bytes = extra_bytes
        return payload


class IntroductionResponsePayload(Payload):
    """introduction-response (245): answers a request and possibly introduces another peer.

    :param destination_address: the requester's address, as the responder sees it
    :param source_lan_address: the responder's LAN address
    :param source_wan_address: the responder's WAN address
    :param lan_introduction_address: LAN address of the introduced peer (0.0.0.0:0 when there is none)
    :param wan_introduction_address: WAN address of the introduced peer (0.0.0.0:0 when there is none)
    :param connection_type: "unknown", "public" or "symmetric-NAT"
    :param identifier: the identifier of the request being answered (kept modulo 65536)
    :param extra_bytes: application data appended to the message
    :param supports_new_style: whether the responder understands new-style messages
    :param intro_supports_new_style: whether the introduced peer understands new-style messages
    :param peer_limit_reached: whether the responder has no room for more peers
    """

    format_list = [*["ipv4"] * 5, "bits", "H", "raw"]
    msg_id = 245

    def __init__(self,  # noqa: PLR0913
                 destination_address: Address, source_lan_address: Address, source_wan_address: Address,
                 lan_introduction_address: Address, wan_introduction_address: Address,
                 connection_type: str, identifier: int, extra_bytes: bytes, supports_new_style: bool = True,
                 intro_supports_new_style: bool = False, peer_limit_reached: bool = False) -> None:
        """Store the fields (see the class documentation)."""
        self.identifier = identifier % 65536
        self.connection_type = connection_type
        self.peer_limit_reached = peer_limit_reached
        self.supports_new_style = supports_new_style
        self.intro_supports_new_style = intro_supports_new_style
        self.destination_address = destination_address
        self.source_lan_address, self.source_wan_address = source_lan_address, source_wan_address
        self.lan_introduction_address = lan_introduction_address
        self.wan_introduction_address = wan_introduction_address
        self.extra_bytes = extra_bytes

    def to_pack_list(self) -> list[tuple]:
        """Five IPv4 addresses, the flags byte, the identifier and the extra bytes."""
        conn_0, conn_1 = _CONNECTION_BITS.get(self.connection_type, (0, 0))
        flags = ("bits", conn_0, conn_1, 0, self.supports_new_style, self.intro_supports_new_style,
                 self.peer_limit_reached, 0, 0)
        addresses = (self.destination_address, self.source_lan_address, self.source_wan_address,
                     self.lan_introduction_address, self.wan_introduction_address)
        return [*(("ipv4", address) for address in addresses), flags, ("H", self.identifier),
                ("raw", self.extra_bytes)]

    @classmethod
    def from_unpack_list(cls, destination_address: Address, source_lan_address: Address,  # noqa: PLR0913
                         source_wan_address: Address, introduction_lan_address: Address,
                         introduction_wan_address: Address, connection_type_0: int, connection_type_1: int,
                         dflag0: int, supports_new_style: int, intro_supports_new_style: int,  # noqa: ARG003
                         peer_limit_reached: int, dflag4: int, dflag5: int, identifier: int,  # noqa: ARG003
                         extra_bytes: bytes) -> IntroductionResponsePayload:
        """Build the payload from the unpacked fields."""
        return cls(destination_address, source_lan_address, source_wan_address, introduction_lan_address,
                   introduction_wan_address, decode_connection_type(connection_type_0, connection_type_1),
                   identifier, extra_bytes, supports_new_style, intro_supports_new_style, peer_limit_reached)


class PunctureRequestPayload(Payload):
    """puncture-request (250, unsigned): "send a puncture to this peer, it is about to contact you".

    :param lan_walker_address: LAN address of the peer to puncture towards
    :param wan_walker_address: WAN address of the peer to puncture towards
    :param identifier: the identifier of the related introduction-request (kept modulo 65536)
    """

    format_list = ["ipv4", "ipv4", "H"]
    msg_id = 250

    def __init__(self, lan_walker_address: Address, wan_walker_address: Address, identifier: int) -> None:
        """Store the fields (see the class documentation)."""
        self.identifier = identifier % 65536
        self.lan_walker_address, self.wan_walker_address = lan_walker_address, wan_walker_address

    def to_pack_list(self) -> list[tuple]:
        """Two IPv4 addresses and the identifier."""
        return [("ipv4", self.lan_walker_address), ("ipv4", self.wan_walker_address), ("H", self.identifier)]

    @classmethod
    def from_unpack_list(cls, lan_walker_address: Address, wan_walker_address: Address,
                         identifier: int) -> PunctureRequestPayload:
        """Build the payload from the unpacked fields."""
        return cls(lan_walker_address, wan_walker_address, identifier)


class PuncturePayload(Payload):
    """puncture (249): sent to open a NAT mapping towards the peer that is about to contact us.

    :param source_lan_address: the sender's LAN address
    :param source_wan_address: the sender's WAN address
    :param identifier: the identifier from the puncture-request (kept modulo 65536)
    """

    format_list = ["ipv4", "ipv4", "H"]
    msg_id = 249

    def __init__(self, source_lan_address: Address, source_wan_address: Address, identifier: int) -> None:
        """Store the fields (see the class documentation)."""
        self.identifier = identifier % 65536
        self.source_lan_address, self.source_wan_address = source_lan_address, source_wan_address

    def to_pack_list(self) -> list[tuple]:
        """Two IPv4 addresses and the identifier."""
        return [("ipv4", self.source_lan_address), ("ipv4", self.source_wan_address), ("H", self.identifier)]

    @classmethod
    def from_unpack_list(cls, lan_walker_address: Address, wan_walker_address: Address,
                         identifier: int) -> PuncturePayload:
        """Build the payload from the unpacked fields (parameter names as in pyipv8)."""
        return cls(lan_walker_address, wan_walker_address, identifier)


# New-style messages: field name lists shared by the classes below. A "bits" entry takes eight names.
_INTRO_REQUEST_FLAGS = ["connection_type_0", "connection_type_1", "supports_new_style", "dflag1", "dflag2",
                        "tunnel", "sync", "advice"]
_INTRO_RESPONSE_FLAGS = ["intro_supports_new_style"] + [f"flag{number}" for number in range(1, 8)]


@vp_compile
class NewIntroductionRequestPayload(VariablePayloadWID):
    """New-style introduction-request (234). Addresses may be IPv4 or IPv6; the identifier precedes the flags.

    Fields: ``destination_address``, ``source_lan_address``, ``source_wan_address``, ``identifier``, the eight
    flags ``connection_type_0`` ... ``advice`` (0 or 1), ``extra_bytes``.
    """

    names = ["destination_address", "source_lan_address", "source_wan_address", "identifier",
             *_INTRO_REQUEST_FLAGS, "extra_bytes"]
    format_list = [*["ip_address"] * 3, "H", "bits", "raw"]
    msg_id = 234


@vp_compile
class NewIntroductionResponsePayload(VariablePayloadWID):
    """New-style introduction-response (233); flag bit 0x80 is ``intro_supports_new_style``.

    Fields: the five addresses of :class:`IntroductionResponsePayload`, ``identifier``, the flags
    ``intro_supports_new_style`` and ``flag1`` ... ``flag7``, ``extra_bytes``.
    """

    names = ["destination_address", "source_lan_address", "source_wan_address", "lan_introduction_address",
             "wan_introduction_address", "identifier", *_INTRO_RESPONSE_FLAGS, "extra_bytes"]
    format_list = [*["ip_address"] * 5, "H", "bits", "raw"]
    msg_id = 233


@vp_compile
class NewPunctureRequestPayload(VariablePayloadWID):
    """New-style puncture-request (232, unsigned): walker LAN and WAN address, identifier."""

    names = ["lan_walker_address", "wan_walker_address", "identifier"]
    format_list = [*["ip_address"] * 2, "H"]
    msg_id = 232


@vp_compile
class NewPuncturePayload(VariablePayloadWID):
    """New-style puncture (231): the sender's LAN and WAN address, identifier."""

    names = ["source_lan_address", "source_wan_address", "identifier"]
    format_list = [*["ip_address"] * 2, "H"]
    msg_id = 231


__all__ = ["IntroductionRequestPayload", "IntroductionResponsePayload", "NewIntroductionRequestPayload",
           "NewIntroductionResponsePayload", "NewPuncturePayload", "NewPunctureRequestPayload", "Payload",
           "PuncturePayload", "PunctureRequestPayload", "decode_connection_type", "encode_connection_type"]
