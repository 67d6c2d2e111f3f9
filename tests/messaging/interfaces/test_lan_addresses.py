"""LAN address discovery: filtering, ordering, caching, and the two providers on the real machine."""
from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

from ipv8.messaging.interfaces.lan_addresses import interfaces as lan
from ipv8.messaging.interfaces.lan_addresses.addressprovider import AddressProvider, InterfaceAddress
from ipv8.messaging.interfaces.lan_addresses.ifaddr_provider import IfaddrProvider
from ipv8.messaging.interfaces.lan_addresses.socket_provider import LinuxSocketProvider


class FixedProvider(AddressProvider):
    """Returns a configurable list and counts how often the 'system' was read."""

    def __init__(self, entries: list[str], now: list[float] | None = None, fail: bool = False) -> None:
        self.now = now if now is not None else [0.0]

        class _ListClock:  # reads the test's mutable "now" list, like a Clock would
            @staticmethod
            def seconds() -> float:
                return self.now[0]

        super().__init__(clock=_ListClock())
        self.entries = entries
        self.fail = fail
        self.reads = 0

    def get_interfaces(self) -> list[InterfaceAddress]:
        self.reads += 1
        if self.fail:
            raise OSError("interface table unavailable")
        return [ipaddress.ip_interface(entry) for entry in self.entries]


MIXED = ["127.0.0.1/8", "::1/128", "203.0.113.9/24", "fe80::1/64", "169.254.3.3/16",
         "192.168.1.20/24", "2001:db8:5::20/64", "fd00::20/64", "0.0.0.0/0", "10.0.0.7/8"]


def test_filtering_and_preference_order() -> None:
    provider = FixedProvider(MIXED)
    assert lan.get_lan_addresses([provider]) == [
        # private (RFC 1918, unique local, and the documentation ranges Python counts as private) ...
        "203.0.113.9", "192.168.1.20", "2001:db8:5::20", "fd00::20", "10.0.0.7",
        # ... then IPv4 link-local last; loopback, unspecified and IPv6 link-local are gone
        "169.254.3.3",
    ]


def test_public_addresses_come_after_private_ones() -> None:
    provider = FixedProvider(["8.8.4.4/24", "10.1.1.1/16", "2a00:1450::5/64", "fd01::5/48"])
    assert lan.get_lan_addresses([provider]) == ["10.1.1.1", "fd01::5", "8.8.4.4", "2a00:1450::5"]


def test_best_addresses_carry_their_networks() -> None:
    provider = FixedProvider(["127.0.0.1/8", "192.168.1.20/24", "fd00::20/64"])
    best4 = lan.best_lan_ipv4([provider])
    best6 = lan.best_lan_ipv6([provider])
    assert (str(best4.ip), str(best4.network), str(best4.netmask)) == ("192.168.1.20", "192.168.1.0/24",
                                                                         "255.255.255.0")
    assert (str(best6.ip), best6.network.prefixlen) == ("fd00::20", 64)
    assert lan.best_lan_ipv6([FixedProvider(["10.0.0.1/8"])]) is None


@pytest.mark.parametrize(("address", "expected"), [
    ("192.168.1.77", True), ("192.168.2.77", False), ("fd00::abcd", True), ("fd01::1", False),
    ("127.0.0.1", False), ("example.org", False), ("", False),
])
def test_is_lan_means_on_an_attached_network(address: str, expected: bool) -> None:
    provider = FixedProvider(["127.0.0.1/8", "192.168.1.20/24", "fd00::20/64"])
    assert lan.is_lan(address, [provider]) is expected


def test_first_provider_with_results_wins() -> None:
    broken = FixedProvider([], fail=True)
    only_loopback = FixedProvider(["127.0.0.1/8"])
    fallback = FixedProvider(["10.9.9.9/8"])
    assert lan.get_lan_addresses([broken, only_loopback, fallback]) == ["10.9.9.9"]
    assert lan.get_lan_addresses([broken]) == []


def test_provider_cache_refreshes_after_the_interval() -> None:
    provider = FixedProvider(["10.0.0.1/8"])
    assert provider.get_addresses_buffered() == {"10.0.0.1"}
    provider.entries = ["10.0.0.2/8"]
    provider.now[0] = 5.0
    provider.discover_addresses()
    assert provider.get_addresses_buffered() == {"10.0.0.1"}
    provider.now[0] = 10.5
    provider.discover_addresses()
    assert provider.get_addresses_buffered() == {"10.0.0.2"}
    assert provider.reads == 2
    assert provider.get_addresses() == {"10.0.0.2"}  # unbuffered read


def test_default_providers_are_shared() -> None:
    assert lan.get_providers() is lan.get_providers()
    assert isinstance(lan.get_providers()[0], IfaddrProvider)


def test_this_machine() -> None:
    found = lan.get_lan_interfaces()
    assert all(lan.is_usable_lan_interface(entry) for entry in found)
    assert lan.get_lan_addresses() == [str(entry.ip) for entry in found]
    raw = {str(entry.ip) for entry in IfaddrProvider().get_interfaces()}
    assert "127.0.0.1" in raw  # the provider sees loopback; the selection removes it
    assert set(lan.get_lan_addresses()) <= raw


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the socket-API fallback is Linux only")
def test_socket_fallback_agrees_with_ifaddr_on_ipv4() -> None:
    fallback = {entry for entry in LinuxSocketProvider().get_interfaces() if entry.version == 4}
    primary = {entry for entry in IfaddrProvider().get_interfaces() if entry.version == 4}
    assert ipaddress.ip_interface("127.0.0.1/8") in fallback
    assert fallback <= primary  # one address per interface, each also known (with its netmask) to ifaddr


def test_socket_fallback_parses_the_ipv6_table(tmp_path: Path) -> None:
    table = tmp_path / "if_inet6"
    table.write_text(
        "00000000000000000000000000000001 01 80 10 80       lo\n"
        "fd000000000000000000000000000002 04 40 00 82     eth0\n"
        "garbage line\n"
        "zz000000000000000000000000000002 04 40 00 82     eth1\n"
    )
    provider = LinuxSocketProvider(if_inet6_table=table)
    assert provider._ipv6_interfaces() == [ipaddress.IPv6Interface("::1/128"),
                                           ipaddress.IPv6Interface("fd00::2/64")]
    missing = LinuxSocketProvider(if_inet6_table=tmp_path / "absent")
    assert missing._ipv6_interfaces() == []
