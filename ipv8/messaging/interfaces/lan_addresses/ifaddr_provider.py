"""Interface listing through the ``ifaddr`` package (``getifaddrs`` on POSIX, ``GetAdaptersAddresses`` on Windows)."""
from __future__ import annotations

import ipaddress

from .addressprovider import AddressProvider, InterfaceAddress

try:
    import ifaddr
except ImportError:  # pragma: no cover - ifaddr is a declared dependency
    ifaddr = None


class IfaddrProvider(AddressProvider):
    """The preferred provider: works on Linux, the BSDs, macOS and Windows without extra privileges."""

    @staticmethod
    def available() -> bool:
        """Whether the ``ifaddr`` package could be imported."""
        return ifaddr is not None

    def get_interfaces(self) -> list[InterfaceAddress]:
        """Every configured address of every adapter, with its prefix length."""
        if ifaddr is None:
            return []
        found: list[InterfaceAddress] = []
        for adapter in ifaddr.get_adapters():
            for entry in adapter.ips:
                # ifaddr reports IPv6 hosts as (address, flowinfo, scope_id); only the address matters here.
                host = entry.ip[0] if isinstance(entry.ip, tuple) else entry.ip
                try:
                    found.append(ipaddress.ip_interface(f"{host.split('%')[0]}/{entry.network_prefix}"))
                except ValueError:
                    continue
        return found


__all__ = ["IfaddrProvider"]
