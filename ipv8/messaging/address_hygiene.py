"""Which addresses a node may walk to, introduce to others, or send to: the rules in one place.

Every address in a discovery message was written by a remote peer, so none of them can be trusted. The
communities, the Network and the tracker ask this module before they remember, introduce or send to an
address. The rules:

* **never usable**: a host that is not an IP literal, port 0, the unspecified addresses (``0.0.0.0``,
  ``::``), limited broadcast (``255.255.255.255``), multicast (``224.0.0.0/4``, ``ff00::/8``) and the
  reserved ``240.0.0.0/4`` block. Sending there either fails, reaches a local socket or floods a link.
* **scoped**: a loopback address only makes sense to a peer that is itself on this machine (so tests and
  local networks on 127.0.0.1 keep working), and a private, link-local or carrier-grade-NAT address only
  to a peer that is on a private network too (two peers behind the same NAT). Given to anyone else, such
  an address at best wastes packets and at worst aims them at the receiver's own local network.
* **our own** addresses (all of them, LAN and WAN) are never walkable and never introduced; that check
  needs to know what ours are, so it lives with the caller (:class:`AddressHygiene`).
"""
from __future__ import annotations

import enum
import ipaddress
from functools import lru_cache
from typing import Callable, Iterable


class Scope(enum.IntEnum):
    """How far an address reaches; a larger value reaches further."""

    #: Not an address anyone should send to (see the module documentation).
    UNUSABLE = 0
    #: This machine only.
    LOOPBACK = 1
    #: A private network: RFC 1918, link-local, carrier-grade NAT, IPv6 unique-local and link-local.
    PRIVATE = 2
    #: Everything else: reachable, as far as the address itself tells.
    PUBLIC = 3


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RESERVED_V4 = ipaddress.ip_network("240.0.0.0/4")


def host_scope(host: str) -> Scope:
    """The :class:`Scope` of an IP literal in text form (``UNUSABLE`` for anything that is not one)."""
    if not isinstance(host, str):
        return Scope.UNUSABLE  # ipaddress would take integers and packed bytes, which no address field holds
    return _text_host_scope(host)


@lru_cache(maxsize=4096)
def _text_host_scope(host: str) -> Scope:
    # Cached: the same few hosts are asked about on every packet.
    try:
        ip = ipaddress.ip_address(host)
    except (ValueError, TypeError):
        return Scope.UNUSABLE
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified or ip.is_multicast:
        return Scope.UNUSABLE
    if isinstance(ip, ipaddress.IPv4Address):
        if ip in _RESERVED_V4:  # also holds 255.255.255.255
            return Scope.UNUSABLE
        if ip.is_loopback:
            return Scope.LOOPBACK
        if ip.is_private or ip.is_link_local or ip in _CGNAT:
            return Scope.PRIVATE
        return Scope.PUBLIC
    if ip.is_loopback:
        return Scope.LOOPBACK
    if ip.is_link_local or ip.is_site_local or ip.is_private:
        return Scope.PRIVATE
    return Scope.PUBLIC


def address_scope(address: tuple) -> Scope:
    """The :class:`Scope` of a ``(host, port)`` pair; port 0 or a malformed pair is ``UNUSABLE``."""
    try:
        host, port = address[0], address[1]
    except (TypeError, IndexError):
        return Scope.UNUSABLE
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 0xFFFF or not isinstance(host, str):
        return Scope.UNUSABLE
    return host_scope(host)


def is_usable(address: tuple) -> bool:
    """Whether sending to ``address`` could ever make sense (see the module documentation)."""
    return address_scope(address) is not Scope.UNUSABLE


def fits_scope(address: tuple, viewer: tuple) -> bool:
    """Whether ``address`` is meaningful to a peer that we see at ``viewer``.

    A loopback address is meaningful only to a peer on loopback, a private address only to a peer on loopback
    or a private network; public addresses to everyone. Unusable addresses to nobody.
    """
    scope = address_scope(address)
    if scope is Scope.UNUSABLE:
        return False
    if scope is Scope.PUBLIC:
        return True
    viewer_scope = address_scope(viewer)
    if scope is Scope.LOOPBACK:
        return viewer_scope is Scope.LOOPBACK
    return viewer_scope in (Scope.LOOPBACK, Scope.PRIVATE)


class AddressHygiene:
    """The rules of this module plus the one that needs context: never our own addresses.

    :param own_addresses: returns every address we are known by right now (LAN and WAN estimates, the
        endpoint's bound address); called on every check, so keep it cheap.
    """

    def __init__(self, own_addresses: Callable[[], Iterable[tuple]]) -> None:
        """Create the checker; see the class documentation."""
        self._own_addresses = own_addresses

    def is_own(self, address: tuple) -> bool:
        """Whether ``address`` is one of ours (same host and port as one of the own addresses)."""
        host, port = address[0], address[1]
        return any(own[1] == port and own[0] == host for own in self._own_addresses())

    def may_walk_to(self, address: tuple, introduced_by: tuple) -> bool:
        """May we remember ``address``, heard of from a peer at ``introduced_by``, as a place to walk to?

        The introducer is the best witness of which network the address belongs to: a loopback address
        from a peer on another machine, or a private one from a peer on the public internet, is junk.
        A private address of a peer behind our own NAT arrives through a public introducer, though, so
        private addresses are also accepted when we ourselves are on a private network.
        """
        if not is_usable(address) or self.is_own(address):
            return False
        if fits_scope(address, introduced_by):
            return True
        if address_scope(address) is Scope.PRIVATE:
            return any(address_scope(own) in (Scope.PRIVATE, Scope.LOOPBACK) for own in self._own_addresses())
        return False

    def may_introduce(self, address: tuple, to: tuple) -> bool:
        """May we tell a peer at ``to`` about ``address``?"""
        return is_usable(address) and not self.is_own(address) and fits_scope(address, to)

    def may_send_to(self, address: tuple) -> bool:
        """May we send to ``address`` at all? (Not unusable and not ourselves.)"""
        return is_usable(address) and not self.is_own(address)


__all__ = ["AddressHygiene", "Scope", "address_scope", "fits_scope", "host_scope", "is_usable"]
