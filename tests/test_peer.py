"""Tests for ipv8.peer: identity, addresses and their preference, clocks and pings."""
from __future__ import annotations

import pickle
import weakref
from base64 import b64encode
from hashlib import sha1

import pytest
from twisted.internet.task import Clock

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.exceptions import InvalidKeyError
from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv4LANAddress, UDPv6Address
from ipv8.peer import PING_HISTORY, UNKNOWN_ADDRESS, Peer, PeerAddresses, typed_address

PRIVATE_KEY = default_eccrypto.generate_key("curve25519")
OTHER_KEY = default_eccrypto.generate_key("curve25519")


@pytest.fixture
def peer() -> Peer:
    return Peer(PRIVATE_KEY.pub(), UDPv4Address("1.2.3.4", 5))


# --- construction and identity --------------------------------------------------------------------------


def test_public_key_peer(peer: Peer) -> None:
    assert peer.key == PRIVATE_KEY.pub()
    assert peer.public_key == PRIVATE_KEY.pub()
    assert not peer.public_key.has_secret_key()
    assert peer.mid == sha1(PRIVATE_KEY.pub().key_to_bin()).digest()
    assert len(peer.mid) == 20


def test_private_key_peer_keeps_private_key_and_exposes_public_half() -> None:
    my_peer = Peer(PRIVATE_KEY)
    assert my_peer.key is PRIVATE_KEY
    assert my_peer.key.has_secret_key()
    assert not my_peer.public_key.has_secret_key()
    assert my_peer.public_key.key_to_bin() == PRIVATE_KEY.pub().key_to_bin()
    assert my_peer.mid == PRIVATE_KEY.key_to_hash()


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_peer_from_public_key_bytes(wrap: type) -> None:
    key_bin = PRIVATE_KEY.pub().key_to_bin()
    built = Peer(wrap(key_bin))
    assert built.public_key.key_to_bin() == key_bin
    assert built.mid == PRIVATE_KEY.key_to_hash()


def test_peer_from_private_key_bytes_is_refused() -> None:
    with pytest.raises(InvalidKeyError):
        Peer(PRIVATE_KEY.key_to_bin())
    with pytest.raises(ValueError):  # InvalidKeyError is a ValueError, like in py-ipv8
        Peer(b"-----BEGIN EC PRIVATE KEY-----\nabc")


@pytest.mark.parametrize("garbage", [b"", b"LibNaCLPK:short", b"\x00" * 74])
def test_peer_from_garbage_bytes(garbage: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        Peer(garbage)


@pytest.mark.parametrize("not_a_key", ["LibNaCLPK:", 42, None, object()])
def test_peer_from_non_key(not_a_key: object) -> None:
    with pytest.raises(TypeError):
        Peer(not_a_key)  # type: ignore[arg-type]


def test_equality_and_hash_follow_the_key_only() -> None:
    first = Peer(PRIVATE_KEY.pub(), UDPv4Address("1.2.3.4", 5))
    same_key_elsewhere = Peer(PRIVATE_KEY.pub().key_to_bin(), UDPv6Address("::1", 9))
    own = Peer(PRIVATE_KEY)
    other = Peer(OTHER_KEY.pub(), UDPv4Address("1.2.3.4", 5))

    assert first == same_key_elsewhere == own
    assert not first != same_key_elsewhere
    assert hash(first) == hash(same_key_elsewhere) == hash(own)
    assert first != other
    assert not first == other
    assert len({first, same_key_elsewhere, own, other}) == 2


def test_peer_is_not_equal_to_other_types(peer: Peer) -> None:
    assert peer != peer.mid
    assert not peer == peer.public_key
    assert peer != "peer"


def test_str_format(peer: Peer) -> None:
    expected = f"Peer<1.2.3.4:5, {b64encode(peer.mid).decode()}>"
    assert str(peer) == expected
    assert repr(peer) == expected


def test_str_without_and_with_ipv6_address() -> None:
    anonymous = Peer(OTHER_KEY.pub())
    mid = b64encode(anonymous.mid).decode()
    assert str(anonymous) == f"Peer<0.0.0.0:0, {mid}>"
    anonymous.add_address(UDPv6Address("::1", 8090))
    assert str(anonymous) == f"Peer<::1:8090, {mid}>"


def test_peer_is_slotted_and_weakly_referenceable(peer: Peer) -> None:
    assert not hasattr(peer, "__dict__")
    with pytest.raises(AttributeError):
        peer.some_new_attribute = 1  # type: ignore[attr-defined]
    assert weakref.ref(peer)() is peer


def test_flags_and_creation_time() -> None:
    clock = Clock()
    clock.advance(1000.5)
    introduced = Peer(OTHER_KEY.pub(), clock=clock)
    contacted_us = Peer(OTHER_KEY.pub(), intro=False, clock=clock)

    assert introduced.intro is True
    assert contacted_us.intro is False
    assert introduced.creation_time == contacted_us.creation_time == 1000.5
    assert introduced.last_response == 0  # never heard from it yet
    assert contacted_us.last_response == 1000.5
    assert introduced.new_style_intro is False
    assert introduced.address_frozen is False


# --- addresses ---------------------------------------------------------------------------------------------


def test_default_address_is_unknown() -> None:
    fresh = Peer(OTHER_KEY.pub())
    assert fresh.address == UNKNOWN_ADDRESS == UDPv4Address("0.0.0.0", 0)
    assert isinstance(fresh.address, UDPv4Address)
    assert dict(fresh.addresses) == {}


@pytest.mark.parametrize(("plain", "kind"), [(("1.2.3.4", 5), UDPv4Address), (("fe80::1", 5), UDPv6Address)])
def test_plain_tuples_are_filed_by_ip_version(plain: tuple, kind: type) -> None:
    fresh = Peer(OTHER_KEY.pub(), plain)
    assert dict(fresh.addresses) == {kind: kind(*plain)}
    assert type(fresh.address) is kind

    setter = Peer(OTHER_KEY.pub())
    setter.address = plain
    assert type(setter.addresses[kind]) is kind


def test_named_addresses_are_filed_under_their_class() -> None:
    fresh = Peer(OTHER_KEY.pub())
    lan = UDPv4LANAddress("192.168.1.2", 7)
    name = DomainAddress("localhost", 8)
    fresh.add_address(lan)
    fresh.address = name
    assert fresh.addresses[UDPv4LANAddress] is lan
    assert fresh.addresses[DomainAddress] is name


def test_one_address_per_class(peer: Peer) -> None:
    peer.add_address(UDPv4Address("5.6.7.8", 9))
    assert dict(peer.addresses) == {UDPv4Address: UDPv4Address("5.6.7.8", 9)}
    assert peer.address == ("5.6.7.8", 9)


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)])
def test_address_preference(order: tuple) -> None:
    candidates = [UDPv6Address("::1", 1), UDPv4Address("1.1.1.1", 2), UDPv4LANAddress("10.0.0.1", 3),
                  DomainAddress("localhost", 4)]
    fresh = Peer(OTHER_KEY.pub())
    for index in order:
        fresh.add_address(candidates[index])

    # Best first: IPv6, IPv4, LAN, anything else. Removing the best exposes the next one.
    for expected in candidates:
        assert fresh.address == expected
        assert type(fresh.address) is type(expected)
        del fresh.addresses[type(expected)]
    assert fresh.address == UNKNOWN_ADDRESS


def test_lan_address_alone_is_used() -> None:
    fresh = Peer(OTHER_KEY.pub())
    fresh.add_address(UDPv4LANAddress("192.168.0.3", 4))
    assert fresh.address == UDPv4LANAddress("192.168.0.3", 4)


def test_frozen_addresses_ignore_updates() -> None:
    frozen = Peer(OTHER_KEY.pub(), ("6.7.8.9", 1))
    frozen.address_frozen = True
    frozen.add_address(UDPv4Address("1.2.3.4", 5))
    frozen.address = UDPv6Address("::1", 5)
    assert dict(frozen.addresses) == {UDPv4Address: UDPv4Address("6.7.8.9", 1)}
    frozen.address_frozen = False
    frozen.address = UDPv4Address("1.2.3.4", 5)
    assert frozen.address == ("1.2.3.4", 5)


def test_direct_edits_of_the_address_map_are_followed(peer: Peer) -> None:
    peer.addresses.update({UDPv6Address: UDPv6Address("::2", 3)})
    assert peer.address == ("::2", 3)
    peer.addresses.pop(UDPv6Address)
    assert peer.address == ("1.2.3.4", 5)
    peer.addresses[UDPv4Address] = UDPv4Address("9.9.9.9", 9)
    assert peer.address == ("9.9.9.9", 9)
    peer.addresses.clear()
    assert peer.address == UNKNOWN_ADDRESS


def test_addresses_cannot_be_replaced(peer: Peer) -> None:
    with pytest.raises(AttributeError):
        peer.addresses = {}  # type: ignore[misc]


@pytest.mark.parametrize("bad", [("1.2.3.4",), ("1.2.3.4", 5, 6), (1234, 5), ("1.2.3.4", "5")])
def test_malformed_plain_tuple_is_refused(peer: Peer, bad: tuple) -> None:
    with pytest.raises(ValueError):
        peer.add_address(bad)
    with pytest.raises(ValueError):
        Peer(OTHER_KEY.pub(), bad)
    assert dict(peer.addresses) == {UDPv4Address: UDPv4Address("1.2.3.4", 5)}


@pytest.mark.parametrize("bad", [["1.2.3.4", 5], "1.2.3.4:5", 5])
def test_non_tuple_address_is_refused(peer: Peer, bad: object) -> None:
    with pytest.raises(TypeError):
        peer.address = bad  # type: ignore[assignment]
    assert dict(peer.addresses) == {UDPv4Address: UDPv4Address("1.2.3.4", 5)}


def test_typed_address_keeps_named_tuples() -> None:
    lan = UDPv4LANAddress("10.0.0.1", 1)
    assert typed_address(lan) is lan
    assert type(typed_address(("10.0.0.1", 1))) is UDPv4Address
    assert type(typed_address(("::ffff:10.0.0.1", 1))) is UDPv6Address


# --- the watched address map -----------------------------------------------------------------------------


def test_address_map_notifies_watchers_of_changes_only() -> None:
    book = PeerAddresses()
    calls = []

    def watcher() -> None:
        calls.append(dict(book))  # the change is visible when the watcher runs

    book.watch(watcher)
    book[UDPv4Address] = UDPv4Address("1.1.1.1", 1)
    book[UDPv4Address] = UDPv4Address("1.1.1.1", 1)  # same value again: quiet
    book.update({UDPv6Address: UDPv6Address("::1", 1)})
    book |= {UDPv4LANAddress: UDPv4LANAddress("10.0.0.1", 1)}
    book.setdefault(UDPv4LANAddress, UDPv4LANAddress("10.9.9.9", 9))  # present: quiet
    book.setdefault(DomainAddress, DomainAddress("localhost", 1))
    book.pop(DomainAddress)
    book.pop(DomainAddress, None)  # absent: quiet
    del book[UDPv4LANAddress]
    book.popitem()
    book.clear()
    book.clear()  # already empty: quiet

    assert len(calls) == 8
    assert calls[0] == {UDPv4Address: ("1.1.1.1", 1)}
    assert calls[-1] == {}

    book.unwatch(watcher)
    book.unwatch(watcher)  # unknown: ignored
    book[UDPv4Address] = UDPv4Address("2.2.2.2", 2)
    assert len(calls) == 8


def test_address_map_copies_drop_watchers() -> None:
    book = PeerAddresses()
    book.watch(lambda: None)
    book[UDPv4Address] = UDPv4Address("1.1.1.1", 1)
    clone = pickle.loads(pickle.dumps(book))
    assert isinstance(clone, PeerAddresses)
    assert clone == book
    assert clone._watchers is None


# --- clocks and pings ---------------------------------------------------------------------------------------


def test_lamport_clock_only_moves_forward() -> None:
    clock = Clock()
    peer = Peer(PRIVATE_KEY.pub(), UDPv4Address("1.2.3.4", 5), clock=clock)
    assert peer.lamport_timestamp == peer.get_lamport_timestamp() == 0
    clock.advance(50.0)
    peer.update_clock(7)
    assert peer.lamport_timestamp == 7
    assert peer.last_response == 50.0
    clock.advance(10.0)
    peer.update_clock(3)
    assert peer.get_lamport_timestamp() == 7
    assert peer.last_response == 60.0  # still heard from, even with an old timestamp
    peer.update_clock(8)
    assert peer.lamport_timestamp == 8


def test_lamport_timestamp_is_read_only(peer: Peer) -> None:
    with pytest.raises(AttributeError):
        peer.lamport_timestamp = 5  # type: ignore[misc]


def test_no_pings(peer: Peer) -> None:
    assert peer.get_median_ping() is None
    assert peer.get_average_ping() is None
    assert len(peer.pings) == 0
    assert peer.pings.maxlen == PING_HISTORY == 5


def test_median_ping_odd_and_even(peer: Peer) -> None:
    peer.pings.extend([0.5, 0.1, 0.3])
    assert peer.get_median_ping() == 0.3
    peer.pings.append(0.2)
    assert peer.get_median_ping() == pytest.approx(0.25)


def test_average_ping(peer: Peer) -> None:
    peer.pings.append(3.0)
    peer.pings.append(4.0)
    assert peer.get_average_ping() == 3.5


def test_ping_history_keeps_the_latest(peer: Peer) -> None:
    for rtt in range(1, 8):
        peer.pings.append(float(rtt))
    assert list(peer.pings) == [3.0, 4.0, 5.0, 6.0, 7.0]
    assert peer.get_average_ping() == 5.0
    assert peer.get_median_ping() == 5.0


def test_a_peer_made_before_any_reactor_reads_the_wall_clock() -> None:
    # Making a Peer must not install a reactor; without one it reads the clock a real reactor would read.
    import subprocess
    import sys
    code = ("import sys, time; from ipv8.peer import Peer; from ipv8.keyvault.crypto import default_eccrypto;"
            "p = Peer(default_eccrypto.generate_key('curve25519').pub(), intro=False);"
            "assert 'twisted.internet.reactor' not in sys.modules;"
            "assert abs(p.creation_time - time.time()) < 5; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "ok", result.stderr
