"""Fallback interface listing built on the socket API alone (Linux).

IPv4: for every interface name from ``socket.if_nameindex()`` ask the kernel for the address and the
netmask with the ``SIOCGIFADDR`` / ``SIOCGIFNETMASK`` ioctls on an unbound, unconnected UDP socket (no
packet is sent). This sees one IPv4 address per interface, which is enough for a fallback.
IPv6: read the kernel's own table, ``/proc/net/if_inet6``.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from pathlib import Path

from .addressprovider import AddressProvider, InterfaceAddress

_SIOCGIFADDR = 0x8915
_SIOCGIFNETMASK = 0x891B
_IFNAMSIZ = 16
#: struct ifreq: the name, then a sockaddr_in whose address bytes start 4 bytes in.
_IFREQ_SIZE = 40
_ADDRESS_OFFSET = _IFNAMSIZ + 4

IF_INET6_TABLE = Path("/proc/net/if_inet6")


class LinuxSocketProvider(AddressProvider):
    """Used when ``ifaddr`` is missing or finds nothing; only does something on Linux."""

    def __init__(self, verbose: bool = False, if_inet6_table: Path = IF_INET6_TABLE, **kwargs: object) -> None:
        """
        Create the provider.

        :param if_inet6_table: where the kernel's IPv6 address table is read from (a parameter for tests).
        """
        super().__init__(verbose, **kwargs)  # type: ignore[arg-type]
        self._if_inet6_table = if_inet6_table

    @staticmethod
    def available() -> bool:
        """Whether this platform has the ioctls and the procfs table this provider relies on."""
        return sys.platform.startswith("linux")

    def get_interfaces(self) -> list[InterfaceAddress]:
        """IPv4 addresses via ioctl followed by IPv6 addresses from procfs."""
        if not self.available():
            return []
        return self._ipv4_interfaces() + self._ipv6_interfaces()

    def _ipv4_interfaces(self) -> list[InterfaceAddress]:
        import fcntl  # noqa: PLC0415 - POSIX only, so imported where it is known to exist

        found: list[InterfaceAddress] = []
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for _, name in socket.if_nameindex():
                request = struct.pack(f"{_IFREQ_SIZE}s", name.encode()[:_IFNAMSIZ - 1])
                try:
                    address = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
                    netmask = fcntl.ioctl(probe.fileno(), _SIOCGIFNETMASK, request)
                except OSError:
                    continue  # the interface has no IPv4 address
                host = socket.inet_ntoa(address[_ADDRESS_OFFSET:_ADDRESS_OFFSET + 4])
                mask = socket.inet_ntoa(netmask[_ADDRESS_OFFSET:_ADDRESS_OFFSET + 4])
                found.append(ipaddress.IPv4Interface(f"{host}/{mask}"))
        except OSError:
            self.on_exception()
        finally:
            probe.close()
        return found

    def _ipv6_interfaces(self) -> list[InterfaceAddress]:
        try:
            lines = self._if_inet6_table.read_text().splitlines()
        except OSError:
            self.on_exception()
            return []
        found: list[InterfaceAddress] = []
        for line in lines:
            fields = line.split()
            # address (32 hex digits), interface index, prefix length, scope, flags, interface name
            if len(fields) < 6 or len(fields[0]) != 32:
                continue
            try:
                host = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                found.append(ipaddress.IPv6Interface(f"{host}/{int(fields[2], 16)}"))
            except ValueError:
                continue
        return found


__all__ = ["LinuxSocketProvider"]
