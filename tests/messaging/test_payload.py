"""IPv8's own peer-discovery payloads and header payloads.

The hex strings were produced by pyipv8 3.2.1 for the same constructor calls.
"""
from __future__ import annotations

import inspect

import pytest

from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.lazy_payload import VariablePayloadWID
from ipv8.messaging.payload import (
    IntroductionRequestPayload,
    IntroductionResponsePayload,
    NewIntroductionRequestPayload,
    NewIntroductionResponsePayload,
    NewPuncturePayload,
    NewPunctureRequestPayload,
    Payload,
    PuncturePayload,
    PunctureRequestPayload,
    decode_connection_type,
    encode_connection_type,
)
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from ipv8.messaging.serialization import PackError, Serializable, default_serializer

A, B, C = ("1.2.3.4", 5), ("192.168.1.7", 8090), ("10.0.0.1", 65535)
V6 = ("2001:db8::1", 7)
NOWHERE = ("0.0.0.0", 0)


def round_trip(payload: Serializable) -> tuple[bytes, Serializable]:
    data = default_serializer.pack_serializable(payload)
    copy, end = default_serializer.unpack_serializable(type(payload), data)
    assert end == len(data)
    return data, copy


def test_message_ids() -> None:
    assert [cls.msg_id for cls in (IntroductionRequestPayload, IntroductionResponsePayload,
                                    PunctureRequestPayload, PuncturePayload, NewIntroductionRequestPayload,
                                    NewIntroductionResponsePayload, NewPunctureRequestPayload,
                                    NewPuncturePayload)] == [246, 245, 250, 249, 234, 233, 232, 231]


def test_constructor_signatures_match_pyipv8() -> None:
    def parameters(cls: type) -> list[str]:
        return [f"{p.name}={p.default!r}" if p.default is not p.empty else p.name
                for p in list(inspect.signature(cls.__init__).parameters.values())[1:]]

    assert parameters(IntroductionRequestPayload) == [
        "destination_address", "source_lan_address", "source_wan_address", "advice", "connection_type",
        "identifier", "extra_bytes", "supports_new_style=True"]
    assert parameters(IntroductionResponsePayload) == [
        "destination_address", "source_lan_address", "source_wan_address", "lan_introduction_address",
        "wan_introduction_address", "connection_type", "identifier", "extra_bytes", "supports_new_style=True",
        "intro_supports_new_style=False", "peer_limit_reached=False"]
    assert parameters(PunctureRequestPayload) == ["lan_walker_address", "wan_walker_address", "identifier"]
    assert parameters(PuncturePayload) == ["source_lan_address", "source_wan_address", "identifier"]
    assert parameters(BinMemberAuthenticationPayload) == ["public_key_bin"]
    assert parameters(GlobalTimeDistributionPayload) == ["global_time"]
    assert NewPuncturePayload.names == ["source_lan_address", "source_wan_address", "identifier"]
    assert issubclass(NewIntroductionRequestPayload, VariablePayloadWID)


def test_introduction_request_bytes_and_flags() -> None:
    data, copy = round_trip(IntroductionRequestPayload(A, B, C, True, "public", 70000, b"xy"))
    assert data.hex() == "010203040005c0a801071f9a0a000001ffff" + "a1" + "1170" + "7879"
    # 0xa1 = public (0x80) + supports_new_style (0x20) + advice (0x01)
    assert copy.destination_address == UDPv4Address(*A)
    assert isinstance(copy.source_lan_address, UDPv4Address)
    assert copy.connection_type == "public"
    assert copy.identifier == 70000 % 65536
    assert copy.advice is False  # pyipv8 reads the advice bit back inverted
    assert copy.supports_new_style == 1
    assert copy.extra_bytes == b"xy"


def test_introduction_request_without_advice_or_new_style() -> None:
    data, copy = round_trip(IntroductionRequestPayload(A, B, C, False, "symmetric-NAT", 3, b"", False))
    assert data.hex() == "010203040005c0a801071f9a0a000001ffff" + "c0" + "0003"
    assert (copy.advice, copy.supports_new_style, copy.connection_type) == (True, 0, "symmetric-NAT")


def test_introduction_request_printing_matches_pyipv8() -> None:
    _, copy = round_trip(IntroductionRequestPayload(A, B, C, True, "unknown", 4, b""))
    assert str(copy) == "\n".join([
        "IntroductionRequestPayload",
        "| advice: False",
        "| connection_type: 'unknown'",
        "| destination_address: UDPv4Address(ip='1.2.3.4', port=5)",
        "| extra_bytes: b''",
        "| identifier: 4",
        "| msg_id: 246",
        "| source_lan_address: UDPv4Address(ip='192.168.1.7', port=8090)",
        "| source_wan_address: UDPv4Address(ip='10.0.0.1', port=65535)",
        "| supports_new_style: 1"])


def test_introduction_response_bytes_and_flags() -> None:
    data, copy = round_trip(IntroductionResponsePayload(A, B, C, NOWHERE, NOWHERE, "unknown", 9, b"",
                                                        True, True, True))
    assert data.hex() == "010203040005c0a801071f9a0a000001ffff" + "000000000000" * 2 + "1c" + "0009"
    assert (copy.supports_new_style, copy.intro_supports_new_style, copy.peer_limit_reached) == (1, 1, 1)

    data, copy = round_trip(IntroductionResponsePayload(A, B, C, A, B, "public", 65536 + 4, b"e"))
    assert data.hex() == ("010203040005c0a801071f9a0a000001ffff" "010203040005c0a801071f9a" "90" "0004" "65")
    assert (copy.supports_new_style, copy.intro_supports_new_style, copy.peer_limit_reached) == (1, 0, 0)
    assert copy.lan_introduction_address == UDPv4Address(*A)
    assert copy.wan_introduction_address == UDPv4Address(*B)
    assert (copy.connection_type, copy.identifier, copy.extra_bytes) == ("public", 4, b"e")


def test_puncture_request_and_puncture() -> None:
    data, copy = round_trip(PunctureRequestPayload(B, C, 77))
    assert data.hex() == "c0a801071f9a0a000001ffff004d"
    assert (copy.lan_walker_address, copy.wan_walker_address, copy.identifier) == (B, C, 77)
    data, copy = round_trip(PuncturePayload(B, C, 65536 + 78))
    assert data.hex() == "c0a801071f9a0a000001ffff004e"
    assert (copy.source_lan_address, copy.source_wan_address, copy.identifier) == (B, C, 78)


def test_new_style_payloads() -> None:
    data, copy = round_trip(NewIntroductionRequestPayload(V6, B, C, 11, 0, 0, 1, 0, 0, 0, 0, 1, b"zz"))
    assert data.hex() == ("0320010db8000000000000000000000001" "0007" "01c0a801071f9a" "010a000001ffff"
                          "000b" "21" "7a7a")
    assert copy.destination_address == UDPv6Address("2001:db8::1", 7)
    assert (copy.supports_new_style, copy.advice, copy.identifier) == (1, 1, 11)

    data, copy = round_trip(NewIntroductionResponsePayload(A, V6, C, A, B, 12, 1, 0, 0, 0, 0, 0, 0, 0, b""))
    assert data.hex() == ("01010203040005" "0320010db80000000000000000000000010007" "010a000001ffff"
                          "01010203040005" "01c0a801071f9a" "000c" "80")
    assert copy.intro_supports_new_style == 1

    data, copy = round_trip(NewPunctureRequestPayload(B, V6, 13))
    assert data.hex() == "01c0a801071f9a0320010db80000000000000000000000010007000d"
    data, copy = round_trip(NewPuncturePayload(V6, C, 14))
    assert data.hex() == "0320010db80000000000000000000000010007010a000001ffff000e"
    assert copy == NewPuncturePayload(UDPv6Address(*V6), UDPv4Address(*C), 14)


def test_new_style_printing_includes_msg_id() -> None:
    assert str(NewPuncturePayload(A, V6, 7)) == "\n".join([
        "NewPuncturePayload", "| identifier: 7", "| msg_id: 231", "| source_lan_address: ('1.2.3.4', 5)",
        "| source_wan_address: ('2001:db8::1', 7)"])


def test_header_payloads() -> None:
    key = b"LibNaCLPK:" + bytes(64)
    data, copy = round_trip(BinMemberAuthenticationPayload(key))
    assert data == b"\x00\x4a" + key
    assert copy.public_key_bin == key
    data, copy = round_trip(GlobalTimeDistributionPayload(2 ** 63 + 5))
    assert data.hex() == "8000000000000005"
    assert copy.global_time == 2 ** 63 + 5
    assert str(copy) == "GlobalTimeDistributionPayload\n| global_time: 9223372036854775813"


def test_connection_type_codes() -> None:
    assert [encode_connection_type(name) for name in ("unknown", "public", "symmetric-NAT", "bogus")] == \
        [(0, 0), (1, 0), (1, 1), (0, 0)]
    assert [decode_connection_type(*bits) for bits in ((0, 0), (1, 0), (1, 1), (0, 1))] == \
        ["unknown", "public", "symmetric-NAT", "N/A"]


def test_payload_base_is_importable_from_payload_module() -> None:
    assert issubclass(IntroductionRequestPayload, Payload)


@pytest.mark.parametrize("cls", [IntroductionRequestPayload, IntroductionResponsePayload, PunctureRequestPayload,
                                 PuncturePayload, NewIntroductionRequestPayload, NewIntroductionResponsePayload,
                                 NewPunctureRequestPayload, NewPuncturePayload, BinMemberAuthenticationPayload,
                                 GlobalTimeDistributionPayload])
def test_every_framework_payload_refuses_truncated_data(cls: type[Serializable]) -> None:
    samples = {
        IntroductionRequestPayload: IntroductionRequestPayload(A, B, C, True, "public", 1, b""),
        IntroductionResponsePayload: IntroductionResponsePayload(A, B, C, A, B, "public", 1, b""),
        PunctureRequestPayload: PunctureRequestPayload(A, B, 1),
        PuncturePayload: PuncturePayload(A, B, 1),
        NewIntroductionRequestPayload: NewIntroductionRequestPayload(V6, B, C, 1, 0, 0, 0, 0, 0, 0, 0, 0, b""),
        NewIntroductionResponsePayload: NewIntroductionResponsePayload(V6, B, C, A, A, 1, 0, 0, 0, 0, 0, 0, 0, 0, b""),
        NewPunctureRequestPayload: NewPunctureRequestPayload(V6, B, 1),
        NewPuncturePayload: NewPuncturePayload(V6, B, 1),
        BinMemberAuthenticationPayload: BinMemberAuthenticationPayload(b"key"),
        GlobalTimeDistributionPayload: GlobalTimeDistributionPayload(1),
    }
    data = default_serializer.pack_serializable(samples[cls])
    for cut in range(len(data)):
        with pytest.raises(PackError):
            default_serializer.unpack_serializable(cls, data[:cut])
