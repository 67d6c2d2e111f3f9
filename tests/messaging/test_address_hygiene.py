"""Tests for ipv8.messaging.address_hygiene: which addresses may be walked to, introduced and sent to.

Only addresses whose classification does not depend on the Python version are used (the standard library
changed its idea of "private" for a few documentation and benchmarking ranges over time).
"""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipv8.messaging.address_hygiene import (
    AddressHygiene,
    Scope,
    address_scope,
    fits_scope,
    host_scope,
    is_usable,
)
from ipv8.messaging.addresses import (
    DomainAddress,
    UDPv4Address,
    UDPv4LANAddress,
    UDPv6Address,
)

UNUSABLE_HOSTS = [
    "0.0.0.0", "::", "::ffff:0.0.0.0",  # unspecified, also IPv4-mapped
    "255.255.255.255", "::ffff:255.255.255.255",  # limited broadcast
    "224.0.0.1", "239.255.255.250", "230.1.2.3", "::ffff:224.0.0.251",  # 224.0.0.0/4
    "ff02::1", "ff05::1:3", "ff0e::1", "ff00::",  # ff00::/8
    "240.0.0.1", "250.1.2.3", "255.255.255.254", "::ffff:240.0.0.1",  # 240.0.0.0/4
]
LOOPBACK_HOSTS = ["127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "::ffff:127.0.0.1"]
PRIVATE_HOSTS = [
    "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.254", "192.168.0.1", "192.168.255.255",  # RFC 1918
    "169.254.0.1", "169.254.255.254",  # IPv4 link-local
    "100.64.0.1", "100.127.255.254", "::ffff:100.64.0.1",  # carrier-grade NAT, RFC 6598
    "::ffff:10.1.2.3", "::ffff:192.168.1.1",  # IPv4-mapped private
    "fc00::1", "fd12:3456:789a::1",  # unique local, fc00::/7
    "fe80::1", "fe80::1%eth0", "febf::1",  # link-local fe80::/10
]
PUBLIC_HOSTS = [
    "1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0",
    "192.167.255.255", "192.169.0.0", "11.0.0.1", "223.255.255.255", "169.253.255.255", "126.255.255.255",
    "128.0.0.1", "::ffff:8.8.8.8",
    "2606:4700:4700::1111", "2a00:1450:4001::1", "2001:4860:4860::8888", "fe00::1", "fbff::1",
]
NOT_IP_HOSTS = ["", "localhost", "example.com", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
                "01.2.3.4", "::g", "1.2.3.4:5", "[::1]", "::1/128", "10.0.0.0/8", "\x00", "ｌｏｃａｌｈｏｓｔ"]


# --- host_scope ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", UNUSABLE_HOSTS)
def test_unusable_hosts(host: str) -> None:
    assert host_scope(host) is Scope.UNUSABLE


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
def test_loopback_hosts(host: str) -> None:
    assert host_scope(host) is Scope.LOOPBACK


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
def test_private_hosts(host: str) -> None:
    assert host_scope(host) is Scope.PRIVATE


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
def test_public_hosts(host: str) -> None:
    assert host_scope(host) is Scope.PUBLIC


@pytest.mark.parametrize("host", NOT_IP_HOSTS)
def test_non_ip_hosts_are_unusable(host: str) -> None:
    assert host_scope(host) is Scope.UNUSABLE


def test_scope_order() -> None:
    assert Scope.UNUSABLE < Scope.LOOPBACK < Scope.PRIVATE < Scope.PUBLIC


@pytest.mark.parametrize("host", [2130706433, b"\x08\x08\x08\x08", b"\x7f\x00\x00\x01", 0x20010DB8 << 96,
                                  ["127.0.0.1"]])
def test_host_scope_of_non_string_is_unusable(host: object) -> None:
    assert host_scope(host) is Scope.UNUSABLE  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(v=4))
def test_ipv4_scope_matches_the_ranges(ip: ipaddress.IPv4Address) -> None:
    scope = host_scope(str(ip))
    if ip == ipaddress.IPv4Address("0.0.0.0") or ip in ipaddress.ip_network("224.0.0.0/3"):
        assert scope is Scope.UNUSABLE  # 224/4 multicast and 240/4 reserved (with the broadcast address)
    elif ip in ipaddress.ip_network("127.0.0.0/8"):
        assert scope is Scope.LOOPBACK
    elif any(ip in ipaddress.ip_network(net) for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                         "169.254.0.0/16", "100.64.0.0/10")):
        assert scope is Scope.PRIVATE
    else:
        assert scope in (Scope.PRIVATE, Scope.PUBLIC)  # a few special ranges count as private too
    mapped = host_scope(f"::ffff:{ip}")
    assert mapped is scope  # an IPv4-mapped IPv6 address is judged as the IPv4 address it carries


@settings(max_examples=100, deadline=None)
@given(st.ip_addresses(v=6))
def test_ipv6_scope_matches_the_ranges(ip: ipaddress.IPv6Address) -> None:
    scope = host_scope(str(ip))
    if ip.ipv4_mapped is not None:
        assert scope is host_scope(str(ip.ipv4_mapped))
    elif ip == ipaddress.IPv6Address("::") or ip in ipaddress.ip_network("ff00::/8"):
        assert scope is Scope.UNUSABLE
    elif ip == ipaddress.IPv6Address("::1"):
        assert scope is Scope.LOOPBACK
    elif ip in ipaddress.ip_network("fc00::/7") or ip in ipaddress.ip_network("fe80::/10"):
        assert scope is Scope.PRIVATE
    else:
        assert scope in (Scope.PRIVATE, Scope.PUBLIC)
    assert host_scope(ip.exploded) is scope  # the spelling does not matter


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_raises(host: str) -> None:
    scope = host_scope(host)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        assert scope is Scope.UNUSABLE


# --- address_scope and is_usable --------------------------------------------------------------------------


@pytest.mark.parametrize("address", [UDPv4Address("8.8.8.8", 1), ("8.8.8.8", 65535), UDPv6Address("::1", 80),
                                     UDPv4LANAddress("192.168.1.1", 8090), ["8.8.8.8", 53]])
def test_usable_addresses(address: tuple) -> None:
    assert is_usable(address)
    assert address_scope(address) is host_scope(address[0])


@pytest.mark.parametrize("address", [
    ("8.8.8.8", 0), UDPv4Address("127.0.0.1", 0), UDPv6Address("2606:4700:4700::1111", 0),  # port 0
    ("8.8.8.8", 65536), ("8.8.8.8", -1), ("8.8.8.8", 2 ** 64),  # port out of range
    ("8.8.8.8", True), ("8.8.8.8", "80"), ("8.8.8.8", 80.0), ("8.8.8.8", None),  # port not an int
    (b"8.8.8.8", 80), (None, 80), (0x08080808, 80),  # host not a string
    ("0.0.0.0", 8090), ("::", 8090), ("255.255.255.255", 8090), ("224.0.0.1", 8090), ("ff02::1", 8090),
    ("240.0.0.1", 8090), DomainAddress("localhost", 8090), ("example.com", 80),  # unusable host
    (), ("8.8.8.8",), None, 42, "8.8.8.8",  # not a pair at all
])
def test_unusable_addresses(address: object) -> None:
    assert address_scope(address) is Scope.UNUSABLE  # type: ignore[arg-type]
    assert not is_usable(address)  # type: ignore[arg-type]


def test_longer_tuple_uses_host_and_port() -> None:
    # An IPv6 socket address from Twisted can carry flow info and scope id after host and port.
    assert address_scope(("fe80::1", 8090, 0, 2)) is Scope.PRIVATE


@settings(max_examples=60, deadline=None)
@given(st.ip_addresses(), st.integers(-5, 70000))
def test_address_scope_is_host_scope_for_valid_ports(ip: ipaddress._BaseAddress, port: int) -> None:
    expected = host_scope(str(ip)) if 0 < port <= 65535 else Scope.UNUSABLE
    assert address_scope((str(ip), port)) is expected
    assert is_usable((str(ip), port)) == (expected is not Scope.UNUSABLE)


# --- fits_scope ----------------------------------------------------------------------------------------------

PUBLIC = ("8.8.8.8", 8090)
PUBLIC6 = ("2606:4700:4700::1111", 8090)
PRIVATE = ("192.168.1.10", 8090)
PRIVATE6 = ("fd00::10", 8090)
CGNAT = ("100.64.1.1", 8090)
LINK_LOCAL = ("169.254.1.1", 8090)
LOOPBACK = ("127.0.0.1", 8090)
LOOPBACK6 = ("::1", 8090)
UNUSABLE = ("0.0.0.0", 8090)
PORT_ZERO = ("8.8.8.8", 0)


@pytest.mark.parametrize("address, viewer, expected", [
    (PUBLIC, PUBLIC, True), (PUBLIC, PRIVATE, True), (PUBLIC, LOOPBACK, True), (PUBLIC, UNUSABLE, True),
    (PUBLIC6, PUBLIC, True),
    (PRIVATE, PRIVATE, True), (PRIVATE, CGNAT, True), (PRIVATE, LOOPBACK, True), (PRIVATE, PUBLIC, False),
    (PRIVATE, UNUSABLE, False), (PRIVATE6, PRIVATE, True), (PRIVATE6, PUBLIC6, False), (CGNAT, PUBLIC, False),
    (LINK_LOCAL, PUBLIC, False), (LINK_LOCAL, PRIVATE, True),
    (LOOPBACK, LOOPBACK, True), (LOOPBACK, LOOPBACK6, True), (LOOPBACK6, LOOPBACK, True),
    (LOOPBACK, PRIVATE, False), (LOOPBACK, PUBLIC, False), (LOOPBACK6, PUBLIC6, False), (LOOPBACK, UNUSABLE, False),
    (UNUSABLE, PUBLIC, False), (UNUSABLE, LOOPBACK, False), (PORT_ZERO, PUBLIC, False),
    (("224.0.0.1", 8090), LOOPBACK, False), (("example.com", 80), PUBLIC, False),
])
def test_fits_scope(address: tuple, viewer: tuple, expected: bool) -> None:
    assert fits_scope(address, viewer) is expected


SCOPE_SAMPLES = {Scope.UNUSABLE: [UNUSABLE, PORT_ZERO, ("ff02::1", 1)], Scope.LOOPBACK: [LOOPBACK, LOOPBACK6],
                 Scope.PRIVATE: [PRIVATE, PRIVATE6, CGNAT, LINK_LOCAL], Scope.PUBLIC: [PUBLIC, PUBLIC6]}
ALL_SAMPLES = [address for samples in SCOPE_SAMPLES.values() for address in samples]


@given(st.sampled_from(ALL_SAMPLES), st.sampled_from(ALL_SAMPLES))
def test_fits_scope_rule(address: tuple, viewer: tuple) -> None:
    scope, viewer_scope = address_scope(address), address_scope(viewer)
    if scope is Scope.UNUSABLE:
        assert not fits_scope(address, viewer)
    elif scope is Scope.PUBLIC:
        assert fits_scope(address, viewer)
    else:
        # A loopback or private address reaches no further than its scope: it fits the (usable) viewers
        # that are at most as far away.
        assert fits_scope(address, viewer) == (Scope.UNUSABLE < viewer_scope <= scope)


# --- AddressHygiene -----------------------------------------------------------------------------------------


class OwnAddresses:
    """A changeable list of our own addresses that counts how often it is asked."""

    def __init__(self, *addresses: tuple) -> None:
        self.addresses = list(addresses)
        self.calls = 0

    def __call__(self) -> list:
        self.calls += 1
        return self.addresses


def test_is_own_needs_host_and_port() -> None:
    own = OwnAddresses(("8.8.4.4", 8090), UDPv4Address("192.168.1.2", 8091))
    hygiene = AddressHygiene(own)
    assert hygiene.is_own(("8.8.4.4", 8090))
    assert hygiene.is_own(UDPv4Address("8.8.4.4", 8090))  # named and plain tuples are the same address
    assert hygiene.is_own(("192.168.1.2", 8091))
    assert not hygiene.is_own(("8.8.4.4", 8091))  # same host, other port: another node behind our NAT
    assert not hygiene.is_own(("8.8.4.5", 8090))
    assert not hygiene.is_own(("192.168.1.2", 8090))  # the port of one own address, the host of another
    assert not hygiene.is_own(("::ffff:8.8.4.4", 8090))  # exact host comparison


def test_own_addresses_are_read_on_every_check() -> None:
    own = OwnAddresses()
    hygiene = AddressHygiene(own)
    assert hygiene.may_send_to(PUBLIC)
    own.addresses.append(PUBLIC)  # e.g. the WAN estimate changed
    assert not hygiene.may_send_to(PUBLIC)
    assert hygiene.is_own(PUBLIC)
    assert own.calls >= 2


def test_may_send_to() -> None:
    hygiene = AddressHygiene(OwnAddresses(("127.0.0.1", 8090)))
    assert hygiene.may_send_to(PUBLIC)
    assert hygiene.may_send_to(PRIVATE)
    assert hygiene.may_send_to(("127.0.0.1", 8091))
    assert not hygiene.may_send_to(("127.0.0.1", 8090))  # ourselves
    for address in (UNUSABLE, PORT_ZERO, ("255.255.255.255", 1), ("224.0.0.1", 1), ("ff02::1", 1),
                    ("240.0.0.1", 1), ("::", 1), ("example.com", 1), ("8.8.8.8",), None):
        assert not hygiene.may_send_to(address)  # type: ignore[arg-type]


def test_may_introduce() -> None:
    hygiene = AddressHygiene(OwnAddresses(("8.8.4.4", 8090), ("192.168.1.2", 8090)))
    assert hygiene.may_introduce(PUBLIC, PUBLIC6)
    assert hygiene.may_introduce(PRIVATE, ("192.168.1.99", 1))
    assert not hygiene.may_introduce(PRIVATE, PUBLIC)  # would aim the receiver at its own LAN
    assert not hygiene.may_introduce(LOOPBACK, PRIVATE)
    assert hygiene.may_introduce(LOOPBACK, ("127.0.0.1", 9999))
    assert not hygiene.may_introduce(UNUSABLE, LOOPBACK)
    assert not hygiene.may_introduce(("8.8.4.4", 8090), PUBLIC)  # never ourselves, WAN ...
    assert not hygiene.may_introduce(("192.168.1.2", 8090), ("192.168.1.99", 1))  # ... or LAN


def test_may_walk_to_on_a_public_node() -> None:
    hygiene = AddressHygiene(OwnAddresses(("8.8.4.4", 8090)))
    assert hygiene.may_walk_to(PUBLIC, PUBLIC6)
    assert hygiene.may_walk_to(PUBLIC, PRIVATE)
    assert not hygiene.may_walk_to(PRIVATE, PUBLIC)  # a stranger's LAN address
    assert not hygiene.may_walk_to(CGNAT, PUBLIC)
    assert not hygiene.may_walk_to(PRIVATE6, PUBLIC6)
    assert hygiene.may_walk_to(PRIVATE, ("10.0.0.1", 1))  # introduced from a private network: fits
    assert not hygiene.may_walk_to(LOOPBACK, PUBLIC)
    assert not hygiene.may_walk_to(LOOPBACK, PRIVATE)
    assert not hygiene.may_walk_to(("8.8.4.4", 8090), PUBLIC)  # ourselves
    for junk in (UNUSABLE, PORT_ZERO, ("224.0.0.1", 1), ("ff02::1", 1), ("255.255.255.255", 1),
                 ("240.0.0.1", 1), ("::", 1), ("example.com", 1)):
        assert not hygiene.may_walk_to(junk, PUBLIC)
        assert not hygiene.may_walk_to(junk, LOOPBACK)


@pytest.mark.parametrize("own", [("192.168.1.2", 8090), ("10.0.0.5", 1), ("100.64.0.9", 7), ("fd00::2", 8090)])
def test_may_walk_to_private_when_we_are_on_a_private_network(own: tuple) -> None:
    # A peer behind our own NAT: its LAN address reaches us through a public introducer.
    hygiene = AddressHygiene(OwnAddresses(("8.8.4.4", 8090), own))
    assert hygiene.may_walk_to(PRIVATE, PUBLIC)
    assert hygiene.may_walk_to(PRIVATE6, PUBLIC6)
    assert hygiene.may_walk_to(CGNAT, PUBLIC)
    assert not hygiene.may_walk_to(own, PUBLIC)  # still never ourselves
    assert not hygiene.may_walk_to(LOOPBACK, PUBLIC)  # loopback is never another machine's business
    assert not hygiene.may_walk_to(UNUSABLE, PUBLIC)
    assert hygiene.may_walk_to(PUBLIC, PUBLIC)


def test_may_walk_to_on_loopback() -> None:
    # Tests and local networks on 127.0.0.1 keep working.
    hygiene = AddressHygiene(OwnAddresses(("127.0.0.1", 8090)))
    assert hygiene.may_walk_to(("127.0.0.1", 8091), ("127.0.0.1", 8092))
    assert hygiene.may_walk_to(("::1", 8091), ("127.0.0.1", 8092))
    assert not hygiene.may_walk_to(("127.0.0.1", 8090), ("127.0.0.1", 8092))
    assert not hygiene.may_walk_to(("127.0.0.1", 8091), PUBLIC)


def test_may_walk_to_without_own_addresses() -> None:
    hygiene = AddressHygiene(OwnAddresses())
    assert hygiene.may_walk_to(PUBLIC, PUBLIC)
    assert not hygiene.may_walk_to(PRIVATE, PUBLIC)
    assert hygiene.may_walk_to(PRIVATE, PRIVATE)


def test_unusable_own_address_does_not_make_us_private() -> None:
    hygiene = AddressHygiene(OwnAddresses(("0.0.0.0", 8090), ("8.8.4.4", 0)))
    assert not hygiene.may_walk_to(PRIVATE, PUBLIC)


@given(st.sampled_from(ALL_SAMPLES), st.sampled_from(ALL_SAMPLES),
       st.lists(st.sampled_from(ALL_SAMPLES + [("8.8.4.4", 8090)]), max_size=3))
def test_hygiene_rules_agree(address: tuple, other: tuple, own: list) -> None:
    hygiene = AddressHygiene(OwnAddresses(*own))
    mine = address in own
    assert hygiene.is_own(address) is mine
    assert hygiene.may_send_to(address) == (is_usable(address) and not mine)
    assert hygiene.may_introduce(address, other) == (fits_scope(address, other) and not mine)
    walk = hygiene.may_walk_to(address, other)
    if mine or not is_usable(address):
        assert not walk
    elif fits_scope(address, other):
        assert walk
    elif address_scope(address) is not Scope.PRIVATE:
        assert not walk  # a loopback address from another machine
    else:
        # A private address from a public introducer: fine when we are on a private network ourselves.
        own_scopes = {address_scope(ours) for ours in own}
        if Scope.PRIVATE in own_scopes:
            assert walk
        elif Scope.LOOPBACK not in own_scopes:  # (the module also counts a loopback address of ours)
            assert not walk
    if walk:
        assert hygiene.may_send_to(address)  # whatever we may walk to, we may send to


@pytest.mark.parametrize("address", [("8.8.8.8",), (), None, 42])
def test_malformed_address_is_refused_not_raised(address: object) -> None:
    hygiene = AddressHygiene(OwnAddresses(("8.8.4.4", 8090)))
    assert hygiene.may_send_to(address) is False  # type: ignore[arg-type]
    assert hygiene.may_walk_to(address, PUBLIC) is False  # type: ignore[arg-type]
    assert hygiene.may_introduce(address, PUBLIC) is False  # type: ignore[arg-type]
