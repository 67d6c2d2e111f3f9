"""SOCKS5 wire structures: exact bytes of RFC 1928 messages, incremental decoding, and hostile input."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.anonymization.socks5.messages import (
    CMD_CONNECT,
    CMD_UDP_ASSOCIATE,
    REP_ADDRESS_TYPE_NOT_SUPPORTED,
    REP_GENERAL_FAILURE,
    REP_SUCCEEDED,
    Socks5ProtocolError,
    decode_address,
    decode_greeting,
    decode_method_reply,
    decode_reply,
    decode_request,
    decode_udp_datagram,
    encode_address,
    encode_greeting,
    encode_method_reply,
    encode_reply,
    encode_request,
    encode_udp_datagram,
    to_socks_address,
)


def test_address_encodings_match_rfc_1928() -> None:
    assert encode_address(("127.0.0.1", 1080)) == bytes.fromhex("017f000001" "0438")
    assert encode_address(("::1", 53)) == b"\x04" + b"\x00" * 15 + b"\x01" + b"\x00\x35"
    assert encode_address(("tracker.example", 6969)) == b"\x03\x0ftracker.example\x1b\x39"
    # An IP-looking name given as a DomainAddress stays a name on the wire.
    assert encode_address(DomainAddress("10.0.0.1", 80)) == b"\x03\x0810.0.0.1\x00\x50"


@pytest.mark.parametrize("address", [UDPv4Address("192.0.2.7", 65535), UDPv6Address("2001:db8::5", 1),
                                     DomainAddress("Peer-7.Example_Host.org", 443)])
def test_address_round_trip_keeps_type_and_text(address: tuple[str, int]) -> None:
    encoded = encode_address(address)
    decoded, end = decode_address(b"junk" + encoded + b"tail", 4)
    assert decoded == address
    assert type(decoded) is type(address)
    assert end == 4 + len(encoded)


def test_to_socks_address_classifies_without_resolving() -> None:
    assert type(to_socks_address("127.0.0.1", 1)) is UDPv4Address
    assert type(to_socks_address("::1", 1)) is UDPv6Address
    assert to_socks_address("localhost", 1) == DomainAddress("localhost", 1)
    with pytest.raises(ValueError, match="port"):
        to_socks_address("127.0.0.1", 70000)
    with pytest.raises(ValueError, match="port"):
        encode_address(DomainAddress("example.org", -1))
    with pytest.raises(ValueError, match="1-255 bytes"):
        encode_address(("a" * 256, 1))
    with pytest.raises(ValueError):
        encode_address(("bücher.example", 1))


def test_greeting_and_method_reply() -> None:
    assert encode_greeting() == b"\x05\x01\x00"
    assert decode_greeting(b"\x05\x02\x00\x02rest") == ((b"\x00\x02",), 4)
    assert decode_greeting(b"\x05\x00") == ((b"",), 2)
    assert encode_method_reply(0xFF) == b"\x05\xff"
    assert decode_method_reply(b"\x05\x00") == (0, 2)


@pytest.mark.parametrize("partial", [b"", b"\x05", b"\x05\x03\x00\x01"])
def test_incomplete_greeting_waits(partial: bytes) -> None:
    assert decode_greeting(partial) is None


def test_greeting_of_another_protocol_is_refused_without_reply() -> None:
    with pytest.raises(Socks5ProtocolError) as caught:
        decode_greeting(b"\x04\x01\x00\x50")  # a SOCKS4 CONNECT
    assert caught.value.reason == "bad_version"
    assert caught.value.reply is None


def test_request_round_trip_and_every_prefix_waits() -> None:
    message = encode_request(CMD_UDP_ASSOCIATE, ("example.org", 0))
    assert message == b"\x05\x03\x00\x03\x0bexample.org\x00\x00"
    for cut in range(len(message)):
        assert decode_request(message[:cut]) is None, cut
    request, used = decode_request(message + b"extra")
    assert (request.command, request.address, used) == (CMD_UDP_ASSOCIATE, DomainAddress("example.org", 0),
                                                        len(message))


@pytest.mark.parametrize(("message", "reason", "reply"), [
    (b"\x04\x03\x00\x01\x00\x00\x00\x00\x00\x00", "bad_version", None),
    (b"\x05\x03\x01\x01\x00\x00\x00\x00\x00\x00", "malformed_request", REP_GENERAL_FAILURE),
    (b"\x05\x03\x00\x05\x00\x00\x00\x00\x00\x00", "bad_address_type", REP_ADDRESS_TYPE_NOT_SUPPORTED),
    (b"\x05\x03\x00\x03\x00\x00\x00", "bad_domain", REP_GENERAL_FAILURE),
    (b"\x05\x03\x00\x03\x03a b\x00\x00", "bad_domain", REP_GENERAL_FAILURE),
    (b"\x05\x03\x00\x03\x03a\x00b\x00\x00", "bad_domain", REP_GENERAL_FAILURE),
])
def test_bad_requests_name_reason_and_reply(message: bytes, reason: str, reply: int | None) -> None:
    with pytest.raises(Socks5ProtocolError) as caught:
        decode_request(message)
    assert (caught.value.reason, caught.value.reply) == (reason, reply)


def test_domain_length_cap_is_configurable() -> None:
    message = encode_request(CMD_CONNECT, ("a" * 40, 1))
    assert decode_request(message, max_domain_length=40)[0].address == DomainAddress("a" * 40, 1)
    with pytest.raises(Socks5ProtocolError, match="40 bytes"):
        decode_request(message, max_domain_length=39)


def test_reply_encoding() -> None:
    assert encode_reply(REP_SUCCEEDED, ("127.0.0.1", 40000)) == b"\x05\x00\x00\x01\x7f\x00\x00\x01\x9c\x40"
    assert encode_reply(0x07) == b"\x05\x07\x00\x01\x00\x00\x00\x00\x00\x00"
    assert decode_reply(encode_reply(0, ("::1", 9))) == (0, UDPv6Address("::1", 9), 22)
    assert decode_reply(b"\x05\x00\x00\x01\x7f") is None


def test_udp_datagram_round_trip() -> None:
    datagram = encode_udp_datagram(("127.0.0.1", 6881), b"d1:ad2:id20:")
    assert datagram == b"\x00\x00\x00\x01\x7f\x00\x00\x01\x1a\xe1d1:ad2:id20:"
    assert decode_udp_datagram(datagram) == (0, UDPv4Address("127.0.0.1", 6881), b"d1:ad2:id20:")
    fragment = encode_udp_datagram(("::1", 1), b"x", frag=2)
    assert decode_udp_datagram(fragment) == (2, UDPv6Address("::1", 1), b"x")
    assert decode_udp_datagram(encode_udp_datagram(("router.example", 1), b"")).data == b""


@pytest.mark.parametrize(("datagram", "reason"), [
    (b"", "malformed_datagram"),
    (b"\x00\x00\x00", "malformed_datagram"),
    (b"\x00\x01\x00\x01\x7f\x00\x00\x01\x00\x01", "malformed_datagram"),
    (b"\x00\x00\x00\x01\x7f\x00\x00", "malformed_datagram"),
    (b"\x00\x00\x00\x03\x09short", "malformed_datagram"),
    (b"\x00\x00\x00\x02\x7f\x00\x00\x01\x00\x01", "bad_address_type"),
    (b"\x00\x00\x00\x03\x03a/b\x00\x01", "bad_domain"),
])
def test_bad_udp_datagrams(datagram: bytes, reason: str) -> None:
    with pytest.raises(Socks5ProtocolError) as caught:
        decode_udp_datagram(datagram)
    assert caught.value.reason == reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoders_only_ever_raise_protocol_errors(data: bytes) -> None:
    for decoder in (decode_greeting, decode_request, decode_reply, decode_method_reply, decode_udp_datagram):
        try:
            decoder(data)
        except Socks5ProtocolError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.ip_addresses().map(str), st.from_regex(r"[A-Za-z0-9_.-]{1,253}", fullmatch=True)),
       st.integers(1, 65535), st.binary(max_size=64))
def test_any_valid_destination_survives_a_round_trip(host: str, port: int, data: bytes) -> None:
    frag, address, payload = decode_udp_datagram(encode_udp_datagram((host, port), data))
    assert (frag, payload) == (0, data)
    expected = to_socks_address(host, port)
    assert type(address) is type(expected)
    if isinstance(expected, DomainAddress):
        assert address == expected
    else:  # the kernel's and Python's spelling of an IPv6 address may differ (::ffff:0:0 / ::ffff:0.0.0.0)
        assert (ipaddress.ip_address(address[0]), address[1]) == (ipaddress.ip_address(host), port)
