"""The binary form of :meth:`Network.snapshot <ipv8.peerdiscovery.network.Network.snapshot>`: addresses only.

Each record is one type byte (1 IPv4, 3 IPv6, 2 host name) followed by the address in the layout of the
serializer's ``address`` format. A damaged record ends the decoding (with a logged warning); what came before
it is kept.
"""
from __future__ import annotations

import logging
import socket
import struct
from typing import Iterator

from ..messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address

logger = logging.getLogger(__name__)

# Type bytes of the snapshot's address records (the same framing as the "address" serializer format).
_SNAPSHOT_IPV4 = 0x01
_SNAPSHOT_DOMAIN = 0x02
_SNAPSHOT_IPV6 = 0x03
_IPV4_RECORD = struct.Struct(">B4sH")
_IPV6_RECORD = struct.Struct(">B16sH")
_DOMAIN_HEADER = struct.Struct(">BH")
_PORT = struct.Struct(">H")


def encode_address(address: tuple) -> bytes | None:
    """One snapshot record for ``address``, or None if it cannot be represented."""
    host, port = address[0], address[1]
    if not isinstance(host, str) or not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        return None
    for family, record, type_byte in ((socket.AF_INET, _IPV4_RECORD, _SNAPSHOT_IPV4),
                                      (socket.AF_INET6, _IPV6_RECORD, _SNAPSHOT_IPV6)):
        try:
            return record.pack(type_byte, socket.inet_pton(family, host), port)
        except (OSError, ValueError):
            continue
    name = host.encode("utf-8", "replace")
    if not name or len(name) > 0xFFFF:
        return None
    return _DOMAIN_HEADER.pack(_SNAPSHOT_DOMAIN, len(name)) + name + _PORT.pack(port)


def decode_addresses(data: bytes) -> Iterator[tuple]:
    """Yield the addresses of a snapshot, stopping (with a logged warning) at the first damaged record."""
    offset, end = 0, len(data)
    try:
        while offset < end:
            kind = data[offset]
            if kind == _SNAPSHOT_IPV4:
                _, raw, port = _IPV4_RECORD.unpack_from(data, offset)
                offset += _IPV4_RECORD.size
                yield UDPv4Address(socket.inet_ntop(socket.AF_INET, raw), port)
            elif kind == _SNAPSHOT_IPV6:
                _, raw, port = _IPV6_RECORD.unpack_from(data, offset)
                offset += _IPV6_RECORD.size
                yield UDPv6Address(socket.inet_ntop(socket.AF_INET6, raw), port)
            elif kind == _SNAPSHOT_DOMAIN:
                _, length = _DOMAIN_HEADER.unpack_from(data, offset)
                start = offset + _DOMAIN_HEADER.size
                name = data[start:start + length]
                port, = _PORT.unpack_from(data, start + length)
                offset = start + length + _PORT.size
                yield DomainAddress(name.decode("utf-8"), port)
            else:
                logger.warning("Snapshot record %d has unknown type %d; ignoring the rest", offset, kind)
                return
    except (struct.error, UnicodeDecodeError) as exc:
        logger.warning("Snapshot damaged at byte %d (%s); ignoring the rest", offset, exc)


__all__ = ["decode_addresses", "encode_address"]
