"""Which addresses does this machine have on its local networks?

Everything here reads local interface tables only. There are no DNS lookups and no "connect a UDP
socket to a public address and look at the source" tricks: nothing leaves the machine.

Loopback, unspecified, multicast and broadcast addresses are never LAN addresses, and neither are
IPv6 link-local addresses (they are useless without a scope id). The remaining addresses are ordered
private first (RFC 1918 / unique-local), then globally routable, then IPv4 link-local.
"""
from __future__ import annotations

import ipaddress
import time
from functools import lru_cache

from .addressprovider import AddressProvider, InterfaceAddress
from .ifaddr_provider import IfaddrProvider
from .socket_provider import LinuxSocketProvider


@lru_cache(maxsize=1)
def get_providers() -> list[AddressProvider]:
    """The providers usable on this platform, most trusted first (shared, so their caches are too)."""
    providers: list[AddressProvider] = []
    if IfaddrProvider.available():
        providers.append(IfaddrProvider())
    if LinuxSocketProvider.available():
        providers.append(LinuxSocketProvider())
    return providers


def is_usable_lan_interface(entry: InterfaceAddress) -> bool:
    """Whether ``entry`` can serve as an address other LAN hosts reach us at."""
    ip = entry.ip
    if ip.is_loopback or ip.is_unspecified or ip.is_multicast:
        return False
    if ip.version == 4:
        return ip != ipaddress.IPv4Address("255.255.255.255")
    return not ip.is_link_local and ip.ipv4_mapped is None


def _preference(entry: InterfaceAddress) -> int:
    ip = entry.ip
    if ip.is_link_local:
        return 2
    return 0 if ip.is_private else 1


def select_lan_interfaces(entries: list[InterfaceAddress]) -> list[InterfaceAddress]:
    """Drop unusable entries and duplicates from ``entries`` and order the rest by preference."""
    unique: dict[InterfaceAddress, None] = {}
    for entry in entries:
        if is_usable_lan_interface(entry):
            unique.setdefault(entry, None)
    return sorted(unique, key=_preference)  # sorted() is stable: ties keep the OS order


def get_lan_interfaces(providers: list[AddressProvider] | None = None) -> list[InterfaceAddress]:
    """
    This machine's LAN addresses with their networks, best first.

    The first provider that finds anything usable wins; later ones are fallbacks.

    :param providers: the providers to ask (default: :func:`get_providers`).
    """
    for provider in get_providers() if providers is None else providers:
        provider.discover_addresses()
        usable = select_lan_interfaces(provider.get_interfaces_buffered())
        if usable:
            return usable
    return []


def get_lan_addresses(providers: list[AddressProvider] | None = None) -> list[str]:
    """This machine's LAN addresses (IPv4 and IPv6) as strings, best first."""
    if providers is not None:
        return [str(entry.ip) for entry in get_lan_interfaces(providers)]
    # Communities ask on every introduction response; the answer changes rarely, so keep it a second.
    global _lan_addresses_cache  # noqa: PLW0603
    now = time.monotonic()
    expires, addresses = _lan_addresses_cache
    if now >= expires:
        addresses = [str(entry.ip) for entry in get_lan_interfaces()]
        _lan_addresses_cache = (now + _LAN_ADDRESS_CACHE_SECONDS, addresses)
    return list(addresses)


_LAN_ADDRESS_CACHE_SECONDS = 1.0
_lan_addresses_cache: tuple[float, list[str]] = (0.0, [])


def _best_of_version(version: int, providers: list[AddressProvider] | None) -> InterfaceAddress | None:
    for entry in get_lan_interfaces(providers):
        if entry.version == version:
            return entry
    return None


def best_lan_ipv4(providers: list[AddressProvider] | None = None) -> ipaddress.IPv4Interface | None:
    """The preferred IPv4 LAN address with its netmask (``.ip``, ``.network``), or None if there is none."""
    return _best_of_version(4, providers)  # type: ignore[return-value]


def best_lan_ipv6(providers: list[AddressProvider] | None = None) -> ipaddress.IPv6Interface | None:
    """The preferred IPv6 LAN address with its prefix (``.ip``, ``.network``), or None if there is none."""
    return _best_of_version(6, providers)  # type: ignore[return-value]


def is_lan(address: str, providers: list[AddressProvider] | None = None) -> bool:
    """
    Whether ``address`` lies on one of the networks this machine is directly attached to.

    Non-literal input (a host name, garbage) gives False; no lookup is attempted.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except (ValueError, TypeError):
        return False
    return any(parsed.version == entry.version and parsed in entry.network
               for entry in get_lan_interfaces(providers))


__all__ = [
    "best_lan_ipv4",
    "best_lan_ipv6",
    "get_lan_addresses",
    "get_lan_interfaces",
    "get_providers",
    "is_lan",
    "is_usable_lan_interface",
    "select_lan_interfaces",
]
