"""Wire payloads of the :class:`~ipv8.peerdiscovery.community.DiscoveryCommunity`.

Layouts (after the 23-byte header; facts sheet B.10), byte-identical to pyipv8 3.2.1:

=====  ===================  ======  ===========================================================================
id     message              signed  body after the auth/global-time headers
=====  ===================  ======  ===========================================================================
1      similarity-request   yes     ``H`` identifier, ``ipv4`` LAN, ``ipv4`` WAN, ``bits`` connection type,
                                    ``raw`` community ids (20 bytes each, back to back)
2      similarity-response  yes     ``H`` identifier, ``varlenHx20`` community ids, ``raw`` "tb_overlap"
                                    records (20-byte id + ``>I``), which nobody fills any more
3      ping                 no      ``H`` identifier
4      pong                 no      ``H`` identifier (copied from the ping)
=====  ===================  ======  ===========================================================================

All identifiers are kept modulo 65536. A body that does not have this shape (a community-id list whose length
is not a multiple of 20, a broken tb_overlap record, a wrong Dispersy marker) fails to unpack with
:class:`~ipv8.messaging.serialization.PackError`.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterable

from ..messaging.payload import IntroductionRequestPayload, decode_connection_type, encode_connection_type
from ..messaging.serialization import Payload

if TYPE_CHECKING:
    from ..types import Address

#: Length of one community id (a SHA-1 digest) in the preference lists.
COMMUNITY_ID_SIZE = 20
#: One "tb_overlap" record: a community id and a 32-bit count.
_OVERLAP_RECORD = struct.Struct(">20sI")
#: The byte that opens the Dispersy-era introduction request variant (``"c20s"``: marker + member id).
DISPERSY_MARKER = b"Y"

__all__ = ["COMMUNITY_ID_SIZE", "DISPERSY_MARKER", "DiscoveryIntroductionRequestPayload", "PingPayload",
           "PongPayload", "SimilarityRequestPayload", "SimilarityResponsePayload", "join_community_ids",
           "split_community_ids"]


def split_community_ids(blob: bytes) -> list[bytes]:
    """Cut concatenated 20-byte community ids apart.

    :raises ValueError: the length of ``blob`` is not a multiple of 20.
    """
    if len(blob) % COMMUNITY_ID_SIZE:
        raise ValueError(f"{len(blob)} bytes of community ids is not a whole number of {COMMUNITY_ID_SIZE}-byte ids")
    return [blob[start:start + COMMUNITY_ID_SIZE] for start in range(0, len(blob), COMMUNITY_ID_SIZE)]


def join_community_ids(community_ids: Iterable[bytes]) -> bytes:
    """Concatenate community ids for the wire.

    :raises ValueError: one of them is not exactly 20 bytes long.
    """
    community_ids = list(community_ids)
    for community_id in community_ids:
        if len(community_id) != COMMUNITY_ID_SIZE:
            raise ValueError(f"a community id is {COMMUNITY_ID_SIZE} bytes, got {len(community_id)}")
    return b"".join(community_ids)


class SimilarityRequestPayload(Payload):
    """similarity-request (1): "these are the communities I run; which do you run?".

    :param identifier: echoed by the response (kept modulo 65536); senders use their Lamport clock
    :param lan_address: the sender's IPv4 LAN address
    :param wan_address: the sender's IPv4 WAN address
    :param connection_type: "unknown", "public" or "symmetric-NAT"
    :param preference_list: the 20-byte community ids the signing identity serves
    """

    msg_id = 1
    format_list = ["H", "ipv4", "ipv4", "bits", "raw"]

    def __init__(self, identifier: int, lan_address: Address, wan_address: Address, connection_type: str,
                 preference_list: list[bytes]) -> None:
        """Store the fields (see the class documentation)."""
        self.identifier = identifier % 65536
        self.lan_address = lan_address
        self.wan_address = wan_address
        self.connection_type = connection_type
        self.preference_list = list(preference_list)

    def to_pack_list(self) -> list[tuple]:
        """Identifier, both addresses, the connection-type bits and the glued community ids."""
        high, low = encode_connection_type(self.connection_type)
        return [("H", self.identifier),
                ("ipv4", self.lan_address),
                ("ipv4", self.wan_address),
                ("bits", high, low, 0, 0, 0, 0, 0, 0),
                ("raw", join_community_ids(self.preference_list))]

    @classmethod
    def from_unpack_list(cls, identifier: int, lan_address: Address, wan_address: Address,  # noqa: PLR0913
                         *flags_and_ids: object) -> SimilarityRequestPayload:
        """Rebuild from the unpacked values: 8 flag bits, then the raw community ids."""
        *flags, id_blob = flags_and_ids
        return cls(identifier, lan_address, wan_address, decode_connection_type(flags[0], flags[1]),
                   split_community_ids(id_blob))  # type: ignore[arg-type]


class SimilarityResponsePayload(Payload):
    """similarity-response (2): the communities the responding identity runs.

    :param identifier: the identifier of the request being answered (kept modulo 65536)
    :param preference_list: the 20-byte community ids the responding identity serves
    :param tb_overlap: ``(community id, count)`` pairs of a retired feature; sent empty, parsed if present
    """

    msg_id = 2
    format_list = ["H", "varlenHx20", "raw"]

    def __init__(self, identifier: int, preference_list: list[bytes], tb_overlap: list[tuple[bytes, int]]) -> None:
        """Store the fields (see the class documentation)."""
        self.identifier = identifier % 65536
        self.preference_list = list(preference_list)
        self.tb_overlap = list(tb_overlap)

    def to_pack_list(self) -> list[tuple]:
        """Identifier, the length-prefixed community ids and the packed overlap records."""
        overlap = b"".join(_OVERLAP_RECORD.pack(community_id, count) for community_id, count in self.tb_overlap)
        return [("H", self.identifier),
                ("varlenHx20", join_community_ids(self.preference_list)),
                ("raw", overlap)]

    @classmethod
    def from_unpack_list(cls, identifier: int, id_blob: bytes, overlap_blob: bytes) -> SimilarityResponsePayload:
        """Rebuild from the unpacked values.

        :raises ValueError: the overlap bytes are not whole 24-byte records.
        """
        if len(overlap_blob) % _OVERLAP_RECORD.size:
            raise ValueError(f"{len(overlap_blob)} bytes is not a whole number of tb_overlap records")
        overlap = [tuple(record) for record in _OVERLAP_RECORD.iter_unpack(overlap_blob)]
        return cls(identifier, split_community_ids(id_blob), overlap)  # type: ignore[arg-type]


class PingPayload(Payload):
    """ping (3): an unsigned liveness probe; the answer echoes ``identifier`` (kept modulo 65536)."""

    msg_id = 3
    format_list = ["H"]

    def __init__(self, identifier: int) -> None:
        """Store the identifier."""
        self.identifier = identifier % 65536

    def to_pack_list(self) -> list[tuple]:
        """Just the identifier."""
        return [("H", self.identifier)]

    @classmethod
    def from_unpack_list(cls, identifier: int) -> PingPayload:
        """Rebuild from the identifier."""
        return cls(identifier)


class PongPayload(PingPayload):
    """pong (4): the answer to a ping, carrying the ping's identifier."""

    msg_id = 4


class DiscoveryIntroductionRequestPayload(IntroductionRequestPayload):
    """The Dispersy-era introduction request (id 246) that names the peer it wants to be introduced to.

    It is an ordinary introduction request preceded by ``"c20s"``: the marker byte ``b"Y"`` and the 20-byte
    member id (mid) of the wanted peer.

    :param introduce_to: the mid of the peer the requester wants to meet
    :raises ValueError: (from :meth:`from_unpack_list`, surfacing as a PackError) the marker is not ``b"Y"``.

    The other parameters are those of :class:`~ipv8.messaging.payload.IntroductionRequestPayload`.
    """

    format_list = ["c20s", *IntroductionRequestPayload.format_list]

    def __init__(self, introduce_to: bytes, destination_address: Address,  # noqa: PLR0913
                 source_lan_address: Address, source_wan_address: Address, advice: bool, connection_type: str,
                 identifier: int, extra_bytes: bytes, supports_new_style: bool = True) -> None:
        """Store the fields (see the class documentation)."""
        super().__init__(destination_address, source_lan_address, source_wan_address, advice, connection_type,
                         identifier, extra_bytes, supports_new_style)
        self.introduce_to = introduce_to

    def to_pack_list(self) -> list[tuple]:
        """The marker and mid, then the fields of a plain introduction request."""
        return [("c20s", DISPERSY_MARKER, self.introduce_to), *super().to_pack_list()]

    @classmethod
    def from_unpack_list(cls, marked_mid: tuple[bytes, bytes],  # type: ignore[override]
                         *request_fields: object) -> DiscoveryIntroductionRequestPayload:
        """Check the marker, then read the rest as a plain introduction request."""
        marker, mid = marked_mid
        if marker != DISPERSY_MARKER:
            raise ValueError(f"a Dispersy introduction request starts with {DISPERSY_MARKER!r}, not {marker!r}")
        plain = IntroductionRequestPayload.from_unpack_list(*request_fields)  # type: ignore[arg-type]
        return cls(mid, plain.destination_address, plain.source_lan_address, plain.source_wan_address, plain.advice,
                   plain.connection_type, plain.identifier, plain.extra_bytes, plain.supports_new_style)
