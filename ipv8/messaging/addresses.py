"""Named address tuples used on the wire and by the endpoints.

They are plain ``(host, port)`` tuples, so they compare equal to the tuples Twisted hands out,
but the type tells the serializer (and the reader) which address family is meant.
"""
from __future__ import annotations

from typing import NamedTuple


class UDPv4Address(NamedTuple):
    """An IPv4 host in dotted-quad form and a UDP port."""

    ip: str
    port: int


class UDPv4LANAddress(NamedTuple):
    """An IPv4 address known to lie on our local network."""

    ip: str
    port: int


class UDPv6Address(NamedTuple):
    """An IPv6 host in textual form and a UDP port."""

    ip: str
    port: int


class DomainAddress(NamedTuple):
    """A DNS name and a port, resolved by whoever sends to it."""

    host: str
    port: int


__all__ = ["DomainAddress", "UDPv4Address", "UDPv4LANAddress", "UDPv6Address"]
