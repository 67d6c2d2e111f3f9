"""The Serializer, its standard formats and PackError.

Expected bytes were produced once by pyipv8 3.2.1 (``Serializer.pack`` / packer ``pack`` in its venv) and are
hard-coded here; the full vector suite lives in tests/vectors.
"""
from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv6Address
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.messaging.payload import Payload
from ipv8.messaging.serialization import (
    Address,
    Bits,
    DefaultArray,
    DefaultStruct,
    IPv4,
    ListOf,
    NestedPayload,
    Packer,
    PackError,
    Raw,
    Serializable,
    Serializer,
    VarLen,
    VarLenUtf8,
    default_serializer,
)

# The 42 formats pyipv8 3.2.1's Serializer registers (Serializer().get_available_formats()).
PYIPV8_FORMATS = {
    "?", "B", "BBH", "BH", "c", "f", "d", "H", "HH", "I", "l", "LL", "q", "Q", "QH", "QL", "QQHHBH", "ccB", "4SH",
    "20s", "32s", "64s", "74s", "c20s", "bits", "ipv4", "ip_address", "address", "raw", "varlenBx2", "varlenH",
    "varlenHutf8", "varlenIutf8", "varlenHx20", "varlenH-list", "varlenI", "doublevarlenH", "payload",
    "payload-list", "arrayH-?", "arrayH-q", "arrayH-d",
}

# (format, value given to pack, hex produced by pyipv8 3.2.1, value its unpack produced)
KNOWN_BYTES: list[tuple[str, Any, str, Any]] = [
    ("?", True, "01", True),
    ("B", 200, "c8", 200),
    ("BBH", (1, 2, 515), "01020203", (1, 2, 515)),
    ("BH", (7, 65535), "07ffff", (7, 65535)),
    ("c", b"x", "78", b"x"),
    ("f", 1.5, "3fc00000", 1.5),
    ("d", -2.25, "c002000000000000", -2.25),
    ("H", 513, "0201", 513),
    ("HH", (1, 2), "00010002", (1, 2)),
    ("I", 4294967295, "ffffffff", 4294967295),
    ("l", -2, "fffffffe", -2),
    ("LL", (1, 4294967295), "00000001ffffffff", (1, 4294967295)),
    ("q", -1, "ffffffffffffffff", -1),
    ("Q", 2 ** 64 - 1, "ffffffffffffffff", 2 ** 64 - 1),
    ("QH", (2 ** 40, 3), "00000100000000000003", (2 ** 40, 3)),
    ("QL", (5, 6), "000000000000000500000006", (5, 6)),
    ("QQHHBH", (1, 2, 3, 4, 5, 6), "0000000000000001000000000000000200030004050006", (1, 2, 3, 4, 5, 6)),
    ("ccB", (b"a", b"b", 9), "616209", (b"a", b"b", 9)),
    ("4SH", (b"\x7f\x00\x00\x01", 8090), "7f0000011f9a", (b"\x7f\x00\x00\x01", 8090)),
    ("20s", bytes(range(20)), bytes(range(20)).hex(), bytes(range(20))),
    ("32s", b"\xab" * 32, "ab" * 32, b"\xab" * 32),
    ("64s", b"\x01" * 64, "01" * 64, b"\x01" * 64),
    ("74s", b"LibNaCLPK:" + b"\x02" * 64, "4c69624e61434c504b3a" + "02" * 64, b"LibNaCLPK:" + b"\x02" * 64),
    ("c20s", (b"Y", b"\x03" * 20), "59" + "03" * 20, (b"Y", b"\x03" * 20)),
    ("bits", (1, 0, 1, 0, 0, 0, 0, 1), "a1", [1, 0, 1, 0, 0, 0, 0, 1]),
    ("ipv4", ("127.0.0.1", 8090), "7f0000011f9a", UDPv4Address("127.0.0.1", 8090)),
    ("ip_address", ("10.0.0.2", 1), "010a0000020001", UDPv4Address("10.0.0.2", 1)),
    ("ip_address", ("fe80::1", 65535), "03fe800000000000000000000000000001ffff", UDPv6Address("fe80::1", 65535)),
    ("address", ("1.2.3.4", 80), "01010203040050", UDPv4Address("1.2.3.4", 80)),
    ("address", ("::ffff:1.2.3.4", 80), "0300000000000000000000ffff010203040050",
     UDPv6Address("::ffff:1.2.3.4", 80)),
    ("address", ("localhost", 8080), "0200096c6f63616c686f73741f90", DomainAddress("localhost", 8080)),
    ("raw", b"\x00\xffraw", "00ff726177", b"\x00\xffraw"),
    ("varlenBx2", b"abcd", "0261626364", b"abcd"),
    ("varlenH", b"hello", "000568656c6c6f", b"hello"),
    ("varlenH", b"", "0000", b""),
    ("varlenHutf8", "h\u00e9llo \u2603", "000a68c3a96c6c6f20e29883", "h\u00e9llo \u2603"),
    ("varlenHx20", b"\x05" * 40, "0002" + "05" * 40, b"\x05" * 40),
    ("varlenH-list", [b"a", b"", b"bcd"], "0300016100000003626364", [b"a", b"", b"bcd"]),
    ("varlenH-list", [], "00", []),
    ("varlenI", b"12345", "000000053132333435", b"12345"),
    ("varlenIutf8", "\u00fc", "00000002c3bc", "\u00fc"),
    ("doublevarlenH", b"dd", "00026464", b"dd"),
    ("arrayH-?", [True, False, True], "0300010001", [True, False, True]),
    ("arrayH-q", [1, -1, 2 ** 62], "03000100000000000000ffffffffffffffff0000000000000040", [1, -1, 2 ** 62]),
    ("arrayH-q", [], "0000", []),
    ("arrayH-d", [0.5, -1e300], "0200000000000000e03f9c7500883ce437fe", [0.5, -1e300]),
]


class Pair(VariablePayload):
    format_list = ["I", "H"]
    names = ["a", "b"]


class HandWritten(Payload):
    """An old-style payload: to_pack_list/from_unpack_list written out."""

    format_list = ["H", "varlenH", Pair]

    def __init__(self, number: int, blob: bytes, pair: Pair) -> None:
        self.number = number
        self.blob = blob
        self.pair = pair

    def to_pack_list(self) -> list[tuple]:
        return [("H", self.number), ("varlenH", self.blob), ("payload", self.pair)]

    @classmethod
    def from_unpack_list(cls, number: int, blob: bytes, pair: Pair) -> HandWritten:
        return cls(number, blob, pair)


# --- formats --------------------------------------------------------------------------------------------------

def test_default_formats_match_pyipv8() -> None:
    assert set(default_serializer.get_available_formats()) == PYIPV8_FORMATS
    assert len(default_serializer.get_available_formats()) == len(PYIPV8_FORMATS)


@pytest.mark.parametrize(("fmt", "value", "expected", "decoded"), KNOWN_BYTES,
                         ids=[f"{case[0]}-{index}" for index, case in enumerate(KNOWN_BYTES)])
def test_packer_bytes_match_pyipv8(fmt: str, value: Any, expected: str, decoded: Any) -> None:  # noqa: ANN401
    packer = default_serializer.get_packer_for(fmt)
    packed = packer.pack(*value) if isinstance(value, tuple) and fmt not in ("ipv4", "ip_address", "address") \
        else packer.pack(value)
    assert packed.hex() == expected

    values: list = []
    end = packer.unpack(bytes.fromhex(expected), 0, values)
    assert end == len(expected) // 2
    result = values if fmt == "bits" else values[0]
    assert result == decoded
    assert type(result) is type(decoded)


def test_struct_formats_accept_the_tuple_they_unpack_to() -> None:
    assert default_serializer.pack("HH", (1, 2)) == b"\x00\x01\x00\x02"
    assert default_serializer.pack("bits", [1, 0, 0, 0, 0, 0, 0, 1]) == b"\x81"


def test_unpack_at_offset_and_multi_value_formats() -> None:
    data = b"\xff\xff" + bytes.fromhex("a1")
    assert default_serializer.unpack("bits", data, 2) == ([1, 0, 1, 0, 0, 0, 0, 1], 3)
    assert default_serializer.unpack("BBH", b"\x01\x02\x00\x03") == ((1, 2, 3), 4)
    assert default_serializer.unpack("varlenH", b"xx\x00\x02ab", 2) == (b"ab", 6)


def test_unpack_accepts_classes_and_lists_of_classes() -> None:
    single = default_serializer.pack("payload", Pair(1, 2))
    assert single.hex() == "0006" + "000000010002"
    assert default_serializer.unpack(Pair, single) == (Pair(1, 2), 8)
    several = default_serializer.pack("payload-list", [Pair(1, 2), Pair(3, 4)])
    assert several.hex() == "02" + "0006000000010002" + "0006000000030004"
    assert default_serializer.unpack([Pair], several) == ([Pair(1, 2), Pair(3, 4)], 17)


def test_default_struct_single_value_option() -> None:
    assert DefaultStruct(">I").unpack(b"\x00\x00\x00\x07", 0, out := []) == 4 and out == [7]
    assert DefaultStruct(">I", single_value=False).unpack(b"\x00\x00\x00\x07", 0, out := []) == 4 and out == [(7,)]
    assert DefaultStruct(">HH").unpack(b"\x00\x01\x00\x02", 0, out := []) == 4 and out == [(1, 2)]
    with pytest.raises(ValueError, match="2 values"):
        DefaultStruct(">HH", single_value=True)


def test_arrays_are_little_endian_like_pyipv8_on_x86() -> None:
    assert DefaultArray("q", "H").pack([1]).hex() == "0100" + "0100000000000000"
    assert DefaultArray("q", ">H").pack([1]).hex() == "0001" + "0100000000000000"


def test_packer_reprs_name_their_layout() -> None:
    assert repr(VarLen(">H", 20)) == "VarLen('>H', base=20)"
    assert repr(ListOf(VarLenUtf8(">H"))) == "ListOf(VarLenUtf8('>H'))"
    assert repr(Address(ip_only=True)) == "Address(ip_only=True)"


# --- Serializable objects ------------------------------------------------------------------------------------

def test_hand_written_payload_round_trip_with_nested_payload() -> None:
    original = HandWritten(7, b"blob", Pair(1, 2))
    data = default_serializer.pack_serializable(original)
    assert data.hex() == "0007" + "0004626c6f62" + "0006000000010002"
    copy, end = default_serializer.unpack_serializable(HandWritten, data)
    assert end == len(data)
    assert (copy.number, copy.blob, copy.pair) == (7, b"blob", Pair(1, 2))


def test_pack_list_that_differs_from_format_list_still_packs() -> None:
    class Shifty(Serializable):
        format_list = ["H"]

        def __init__(self, wide: bool) -> None:
            self.wide = wide

        def to_pack_list(self) -> list[tuple]:
            return [("I", 5)] if self.wide else [("H", 5)]

        @classmethod
        def from_unpack_list(cls, value: int) -> Shifty:
            return cls(value > 65535)

    assert default_serializer.pack_serializable(Shifty(False)) == b"\x00\x05"
    assert default_serializer.pack_serializable(Shifty(True)) == b"\x00\x00\x00\x05"


def test_pack_list_may_be_any_iterable() -> None:
    class Lazy(Serializable):
        format_list = ["B", "B"]

        def to_pack_list(self) -> Any:  # noqa: ANN401
            return iter([("B", 1), ("B", 2)])

        @classmethod
        def from_unpack_list(cls, *args: int) -> Lazy:
            return cls()

    assert default_serializer.pack_serializable(Lazy()) == b"\x01\x02"


def test_pack_and_unpack_serializable_lists() -> None:
    data = default_serializer.pack_serializable_list([Pair(1, 2), Pair(3, 4)])
    assert data.hex() == "000000010002" + "000000030004"
    assert default_serializer.unpack_serializable_list([Pair, Pair], data) == [Pair(1, 2), Pair(3, 4)]
    assert default_serializer.unpack_serializable_list([Pair], data, consume_all=False) == \
        [Pair(1, 2), bytes.fromhex("000000030004")]
    assert default_serializer.unpack_serializable_list([Pair, Pair], data, consume_all=False)[-1] == b""
    assert default_serializer.unpack_serializable_list([Pair], b"\x00" + data, offset=1, consume_all=False)[0] == \
        Pair(1, 2)


def test_leftover_bytes_are_an_error_when_consuming_all() -> None:
    data = default_serializer.pack_serializable(Pair(1, 2)) + b"!!"
    with pytest.raises(PackError) as caught:
        default_serializer.unpack_serializable_list([Pair], data)
    assert caught.value.offset == 6
    assert caught.value.format is None
    assert "2 unexpected bytes" in str(caught.value)


def test_codecs_are_compiled_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    class FreshPair(Serializable):  # a class no other test compiled yet
        format_list = ["I", "H"]

        def __init__(self, a: int, b: int) -> None:
            self.a, self.b = a, b

        def to_pack_list(self) -> list[tuple]:
            return [("I", self.a), ("H", self.b)]

        @classmethod
        def from_unpack_list(cls, a: int, b: int) -> "FreshPair":
            return cls(a, b)

    calls = []
    original = Serializer._compile_unpacking

    def counting(self: Serializer, cls: type) -> Any:  # noqa: ANN401
        calls.append(cls)
        return original(self, cls)

    monkeypatch.setattr(Serializer, "_compile_unpacking", counting)
    data = Serializer().pack_serializable(FreshPair(1, 2))
    # Serializers without packers of their own share compiled code: one compilation for all of them.
    for _ in range(100):
        Serializer().unpack_serializable(FreshPair, data)
    assert calls == [FreshPair]
    # A serializer with a packer of its own compiles for itself, once.
    custom = Serializer()
    custom.add_packer("json", PackerJSON())
    for _ in range(10):
        assert custom.unpack_serializable(FreshPair, data)[0].a == 1
    assert calls == [FreshPair, FreshPair]


def test_add_packer_stops_sharing_without_touching_others() -> None:
    first, second = Serializer(), Serializer()
    first.add_packer("I", DefaultStruct(">H"))  # redefine a standard name in one serializer only
    assert first.pack("I", 7) == b"\x00\x07"
    assert second.pack("I", 7) == b"\x00\x00\x00\x07"
    assert Serializer().pack("I", 7) == b"\x00\x00\x00\x07"


# --- custom packers and sandboxing ----------------------------------------------------------------------------

class PackerJSON(Packer):
    """The custom packer of the IPv8 documentation."""

    def pack(self, data: Any) -> bytes:  # noqa: ANN401
        packed = json.dumps(data).encode()
        return struct.pack(">H", len(packed)) + packed

    def unpack(self, data: bytes, offset: int, unpack_list: list, *args: Any) -> int:  # noqa: ANN401
        (size,) = struct.unpack_from(">H", data, offset)
        start = offset + 2
        unpack_list.append(json.loads(data[start:start + size]))
        return start + size


@vp_compile
class JSONMessage(VariablePayload):
    msg_id = 1
    format_list = ["json", "json", "json", "json"]
    names = ["d1", "d2", "d3", "d4"]


def test_custom_packer_round_trip() -> None:
    serializer = Serializer()
    serializer.add_packer("json", PackerJSON())
    message = JSONMessage({"a": [1, 2]}, "x", 3, None)
    data = serializer.pack_serializable(message)
    assert data == b'\x00\x0d{"a": [1, 2]}\x00\x03"x"\x00\x013\x00\x04null'
    assert serializer.unpack_serializable(JSONMessage, data) == (message, len(data))


def test_add_packer_is_sandboxed_per_serializer() -> None:
    first, second = Serializer(), Serializer()
    first.add_packer("json", PackerJSON())
    assert "json" in first.get_available_formats()
    assert "json" not in second.get_available_formats()
    assert "json" not in default_serializer.get_available_formats()
    with pytest.raises(PackError) as caught:
        second.pack_serializable(JSONMessage(1, 2, 3, 4))
    assert caught.value.format == "json"
    with pytest.raises(PackError):
        default_serializer.unpack_serializable(JSONMessage, b"\x00\x011" * 4)


def test_add_packer_replaces_a_format_for_already_compiled_classes() -> None:
    serializer = Serializer()
    assert serializer.pack_serializable(Pair(1, 2)).hex() == "000000010002"
    serializer.add_packer("I", DefaultStruct("<I"))
    assert serializer.pack_serializable(Pair(1, 2)).hex() == "010000000002"
    assert serializer.unpack_serializable(Pair, bytes.fromhex("010000000002"))[0] == Pair(1, 2)
    assert default_serializer.pack_serializable(Pair(1, 2)).hex() == "000000010002"


def test_nested_payloads_see_the_custom_formats_of_their_serializer() -> None:
    class Outer(VariablePayload):
        format_list = [JSONMessage, [JSONMessage]]
        names = ["one", "many"]

    serializer = Serializer()
    serializer.add_packer("json", PackerJSON())
    outer = Outer(JSONMessage(1, 2, 3, 4), [JSONMessage("a", "b", "c", "d")])
    assert serializer.unpack_serializable(Outer, serializer.pack_serializable(outer))[0] == outer


def test_a_custom_packer_may_append_several_values() -> None:
    class Pair16(Packer):
        def pack(self, first: int, second: int) -> bytes:
            return struct.pack(">HH", first, second)

        def unpack(self, data: bytes, offset: int, unpack_list: list, *args: Any) -> int:  # noqa: ANN401
            unpack_list.extend(struct.unpack_from(">HH", data, offset))
            return offset + 4

    class Spread(Serializable):
        format_list = ["pair16", "B"]

        def __init__(self, first: int, second: int, third: int) -> None:
            self.values = (first, second, third)

        def to_pack_list(self) -> list[tuple]:
            return [("pair16", *self.values[:2]), ("B", self.values[2])]

        @classmethod
        def from_unpack_list(cls, *args: int) -> Spread:
            return cls(*args)

    serializer = Serializer()
    serializer.add_packer("pair16", Pair16())
    data = serializer.pack_serializable(Spread(1, 2, 3))
    assert data == b"\x00\x01\x00\x02\x03"
    assert serializer.unpack_serializable(Spread, data)[0].values == (1, 2, 3)


# --- PackError --------------------------------------------------------------------------------------------------

def test_pack_error_reports_format_and_offset_of_truncated_field() -> None:
    class Record(VariablePayload):
        format_list = ["I", "varlenH", "H"]
        names = ["a", "b", "c"]

    data = default_serializer.pack_serializable(Record(1, b"abcdef", 3))
    with pytest.raises(PackError) as caught:
        default_serializer.unpack_serializable(Record, data[:9])
    assert (caught.value.format, caught.value.offset) == ("varlenH", 4)
    assert "Record" in str(caught.value)
    with pytest.raises(PackError) as caught:
        default_serializer.unpack_serializable(Record, data[:-1])
    assert (caught.value.format, caught.value.offset) == ("H", 12)
    assert isinstance(caught.value.__cause__, struct.error)


def test_pack_error_for_bad_values_names_the_field() -> None:
    class Record(VariablePayload):
        format_list = ["I", "varlenHutf8", "ipv4"]
        names = ["a", "b", "c"]

    cases = [
        (Record(-1, "x", ("1.2.3.4", 1)), "I", 0),
        (Record(1, b"not text", ("1.2.3.4", 1)), "varlenHutf8", 4),
        (Record(1, "x" * 70000, ("1.2.3.4", 1)), "varlenHutf8", 4),
        (Record(1, "x", ("1.2.3.400", 1)), "ipv4", 7),
        (Record(1, "x", ("1.2.3.4", 65536)), "ipv4", 7),
        (Record(1, "x", None), "ipv4", 7),
    ]
    for payload, fmt, offset in cases:
        with pytest.raises(PackError) as caught:
            default_serializer.pack_serializable(payload)
        assert (caught.value.format, caught.value.offset) == (fmt, offset), payload


def test_pack_error_for_bad_values_through_pack_lists() -> None:
    with pytest.raises(PackError) as caught:
        default_serializer.pack_serializable(HandWritten(70000, b"", Pair(1, 2)))
    assert (caught.value.format, caught.value.offset) == ("H", 0)
    with pytest.raises(PackError) as caught:
        default_serializer.pack_serializable(HandWritten(1, "text", Pair(1, 2)))
    assert (caught.value.format, caught.value.offset) == ("varlenH", 2)
    with pytest.raises(PackError) as caught:  # the nested payload is the culprit
        default_serializer.pack_serializable(HandWritten(1, b"", Pair(1, -2)))
    assert caught.value.format == "H"


def test_to_pack_list_failures_and_unknown_formats_are_pack_errors() -> None:
    class Broken(Serializable):
        format_list = ["H"]

        def __init__(self, items: Any) -> None:  # noqa: ANN401
            self.items = items

        def to_pack_list(self) -> Any:  # noqa: ANN401
            if self.items is None:
                raise AttributeError("forgot a field")
            return self.items

        @classmethod
        def from_unpack_list(cls, *args: Any) -> Broken:  # noqa: ANN401
            return cls(None)

    for items in (None, [("nope", 1)], ["H"], [("H",)], 5):
        with pytest.raises(PackError):
            default_serializer.pack_serializable(Broken(items))


def test_unit_counted_varlens_refuse_partial_units() -> None:
    with pytest.raises(PackError):
        default_serializer.pack("varlenHx20", b"\x00" * 21)
    with pytest.raises(PackError):
        default_serializer.pack("varlenBx2", b"abc")


def test_single_value_unpack_errors() -> None:
    with pytest.raises(PackError) as caught:
        default_serializer.unpack("varlenH", b"\x00\x05abc", 0)
    assert (caught.value.format, caught.value.offset) == ("varlenH", 0)
    with pytest.raises(PackError):
        default_serializer.unpack("address", b"\x07" + bytes(10))
    with pytest.raises(PackError):
        default_serializer.unpack("ip_address", b"\x02\x00\x01a\x00\x01")  # names only in "address"
    with pytest.raises(PackError):
        default_serializer.unpack("varlenHutf8", b"\x00\x01\xff")
    with pytest.raises(PackError):
        default_serializer.unpack("no-such-format", b"")
    with pytest.raises(PackError):
        default_serializer.pack("ip_address", ("example.com", 80))


def test_built_in_packers_raise_pack_error_when_called_directly() -> None:
    for packer, data in [(Bits(), b""), (Raw(), b""), (IPv4(), b"\x01"), (VarLen(">I"), b"\x00\x00\x00\x09x"),
                         (ListOf(VarLen(">H")), b"\x02\x00\x00"), (DefaultArray("d", "H"), b"\x02\x00" + bytes(9)),
                         (NestedPayload(default_serializer), b"\x00\x10")]:
        with pytest.raises(PackError):
            packer.unpack(data, 1 if isinstance(packer, Raw) else 0, [], Pair)


def test_nested_payload_must_use_its_whole_length() -> None:
    class Holder(VariablePayload):
        format_list = [Pair]
        names = ["pair"]

    good = default_serializer.pack_serializable(Holder(Pair(1, 2)))
    padded = b"\x00\x07" + good[2:] + b"\x00"
    with pytest.raises(PackError) as caught:
        default_serializer.unpack_serializable(Holder, padded)
    assert caught.value.format == "payload"
    assert caught.value.offset == 2


def test_nested_failures_report_offsets_in_the_outer_buffer() -> None:
    class Holder(VariablePayload):
        format_list = ["B", [Pair]]
        names = ["tag", "pairs"]

    data = bytearray(default_serializer.pack_serializable(Holder(9, [Pair(1, 2), Pair(3, 4)])))
    assert data[10:12] == b"\x00\x06"  # the second Pair's length prefix
    data[10:12] = b"\x00\x05"  # shrink it: the Pair's "H" field is cut off
    with pytest.raises(PackError) as caught:
        default_serializer.unpack_serializable(Holder, bytes(data))
    assert caught.value.format == "H"
    assert caught.value.offset == 12 + 4


def test_rejections_by_from_unpack_list_and_fix_hooks_become_pack_errors() -> None:
    class Picky(VariablePayload):
        format_list = ["varlenH"]
        names = ["document"]

        @classmethod
        def fix_unpack_document(cls, raw: bytes) -> Any:  # noqa: ANN401
            return json.loads(raw)

    with pytest.raises(PackError) as caught:
        default_serializer.unpack_serializable(Picky, b"\x00\x03{{{")
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)
    assert caught.value.format is None


def test_deeply_nested_bad_data_fails_quickly() -> None:
    class Node(VariablePayload):
        names = ["value", "children"]

    Node.format_list = ["B", [Node]]
    bad = b"\x07\x05"  # claims five children, has none
    for _ in range(3000):
        bad = b"\x02\x01" + struct.pack(">H", len(bad)) + bad
    with pytest.raises(PackError):
        default_serializer.unpack_serializable(Node, bad)

    node = Node(1, [])
    node.children.append(node)
    with pytest.raises(PackError, match="nested too deeply"):
        default_serializer.pack_serializable(node)


def test_objects_that_are_not_serializable_are_refused() -> None:
    with pytest.raises(PackError):
        default_serializer.pack_serializable(5)  # type: ignore[arg-type]
    with pytest.raises(PackError):
        default_serializer.unpack_serializable(int, b"\x00")  # type: ignore[type-var]
