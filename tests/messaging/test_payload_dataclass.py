"""Dataclass payloads, in both spellings.

This module uses ``from __future__ import annotations`` on purpose: every annotation below is a string that
the payload machinery has to evaluate (the doc page covers plain annotations).
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from ipv8.messaging.payload_dataclass import DataClassPayload, DataClassPayloadWID, dataclass, type_from_format
from ipv8.messaging.serialization import PackError, Serializable, default_serializer

I = type_from_format("I")  # noqa: E741
H = type_from_format("H")
varlenH = type_from_format("varlenH")  # noqa: N816


@dataclass
class Item:
    flag: bool


@dataclass(msg_id=42)
class Everything:
    a: int
    b: bytes
    c: varlenH
    d: Item
    e: list[Item]
    f: str
    g: list[int]
    h: list[bool]
    i: float
    j: list[float]
    k: list[bytes]
    m: [Item]
    n: I


@dataclasses.dataclass
class OldSpelling(DataClassPayload):
    a: int
    b: int = 3


@dataclasses.dataclass
class OldSpellingWithId(DataClassPayload[9]):
    a: int


@dataclasses.dataclass(eq=False)
class OldSpellingNoEq(DataClassPayload):
    a: int


@dataclasses.dataclass
class OldSpellingUnknown(DataClassPayload):
    a: dict


@dataclass(eq=False)
class NoEq:
    a: int


@dataclass(frozen=True)
class Frozen:
    a: int
    b: str


@dataclass
class WithClassAttributes:
    a: int
    msg_id = 1  # not annotated: not a field
    names = []  # noqa: RUF012 - pyipv8 tests do this; must be replaced by the derived names


@dataclass
class WithDefaults:
    a: int
    b: list[int] = dataclasses.field(default_factory=list)
    c: str = "x"


@dataclass(msg_id=2)
class KeepsDict:
    dictionary: str

    def fix_pack_dictionary(self, value: dict) -> str:
        return json.dumps(value)

    @classmethod
    def fix_unpack_dictionary(cls, value: str) -> dict:
        return json.loads(value)


@dataclass(msg_id=1)
class Outer:
    @dataclass
    class Inner:
        foo: int
        bar: int

    item: Inner
    items: [Inner]
    baz: int


@dataclass
class UsesLaterClass:
    later: DefinedLater


@dataclass
class DefinedLater:
    value: H


@dataclass
class Unresolvable:
    value: NoSuchName  # noqa: F821


def round_trip(payload: Serializable) -> Serializable:
    data = default_serializer.pack_serializable(payload)
    copy, end = default_serializer.unpack_serializable(type(payload), data)
    assert end == len(data)
    return copy


def test_annotations_map_to_formats() -> None:
    assert Everything.names == list("abcdefghijkmn")
    assert Everything.format_list == ["q", "varlenH", "varlenH", Item, [Item], "varlenHutf8", "arrayH-q",
                                      "arrayH-?", "d", "arrayH-d", "varlenH-list", [Item], "I"]
    assert Everything.msg_id == 42


def test_everything_round_trips() -> None:
    payload = Everything(-42, b"1337", b"raw", Item(True), [Item(False), Item(True)], "h\u00e9", [3, -4],
                         [False, True], 0.5, [1.5], [b"x", b""], [Item(True)], 7)
    assert dataclasses.is_dataclass(payload)
    copy = round_trip(payload)
    assert copy == payload
    assert copy is not payload
    assert copy.e == [Item(False), Item(True)]


def test_wire_bytes_of_a_simple_dataclass() -> None:
    @dataclass
    class Pair:
        first: int
        second: int

    assert default_serializer.pack_serializable(Pair(1, -1)).hex() == "0000000000000001ffffffffffffffff"


def test_pyipv8_spelling() -> None:
    payload = OldSpelling(5)
    assert (payload.a, payload.b) == (5, 3)
    assert OldSpelling.names == ["a", "b"]
    assert OldSpelling.format_list == ["q", "q"]
    assert round_trip(OldSpelling(5, 7)) == OldSpelling(5, 7)
    assert OldSpellingWithId(1).msg_id == 9
    assert issubclass(OldSpellingWithId, DataClassPayloadWID)
    assert "msg_id" not in OldSpellingWithId.names
    assert round_trip(OldSpellingWithId(1)) == OldSpellingWithId(1)


def test_pyipv8_spelling_can_be_unpacked_before_any_instance_exists() -> None:
    @dataclasses.dataclass
    class Fresh(DataClassPayload[3]):
        a: int

    copy, _ = default_serializer.unpack_serializable(Fresh, b"\x00" * 7 + b"\x05")
    assert copy.a == 5


def test_unknown_annotations() -> None:
    with pytest.raises(NotImplementedError):
        OldSpellingUnknown({"a": "b"})
    with pytest.raises(NotImplementedError):
        @dataclass
        class Bad:
            a: dict


def test_unresolvable_annotation_is_reported_on_first_use() -> None:
    with pytest.raises(TypeError, match="NoSuchName"):
        Unresolvable(1)


def test_forward_references_are_resolved_on_first_use() -> None:
    payload = UsesLaterClass(DefinedLater(3))
    assert UsesLaterClass.format_list == [DefinedLater]
    assert round_trip(payload) == payload


def test_dataclass_options_are_passed_on() -> None:
    assert NoEq(3) != NoEq(3)
    assert round_trip(NoEq(3)).a == 3
    frozen = Frozen(1, "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.a = 2
    assert round_trip(frozen) == frozen
    assert hash(frozen) == hash(Frozen(1, "x"))
    assert OldSpellingNoEq(1) != OldSpellingNoEq(1)


def test_class_attributes_are_not_fields() -> None:
    payload = WithClassAttributes(42)
    assert payload.names == ["a"]
    assert payload.format_list == ["q"]
    assert payload.msg_id == 1


def test_defaults_and_default_factories() -> None:
    first, second = WithDefaults(1), WithDefaults(2)
    first.b.append(1)
    assert second.b == []
    assert round_trip(WithDefaults(1, [2, 3], "y")) == WithDefaults(1, [2, 3], "y")
    assert dataclasses.replace(first, a=5) == WithDefaults(5, [1], "x")


def test_fix_hooks_on_dataclasses() -> None:
    data = default_serializer.pack_serializable(KeepsDict({"key": [1, 2]}))
    assert data == b'\x00\x0f{"key": [1, 2]}'
    assert default_serializer.unpack_serializable(KeepsDict, data)[0].dictionary == {"key": [1, 2]}
    with pytest.raises(PackError):
        default_serializer.unpack_serializable(KeepsDict, b"\x00\x01{")


def test_nested_dataclass_defined_in_the_class_body() -> None:
    payload = Outer(Outer.Inner(1, 2), [Outer.Inner(3, 4)], 5)
    assert round_trip(payload) == payload
    assert str(round_trip(payload)) == ("Outer\n| baz: 5\n| item: Outer.Inner(foo=1, bar=2)\n"
                                        "| items: [Outer.Inner(foo=3, bar=4)]\n| msg_id: 1")


def test_printing_and_repr() -> None:
    assert str(Frozen(1, "x")) == "Frozen\n| a: 1\n| b: 'x'"
    assert repr(Frozen(1, "x")) == "Frozen(a=1, b='x')"


def test_decorated_classes_are_payloads() -> None:
    assert issubclass(Item, DataClassPayload)
    assert issubclass(Everything, DataClassPayloadWID)
    assert Item.__name__ == "Item"
    assert Outer.Inner.__qualname__ == "Outer.Inner"


def test_format_is_derived_once(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class Counted(DataClassPayload):
        a: int
        b: int

    calls = []
    derive = Counted._finalize_format.__func__

    def counting(cls: type) -> None:
        if cls._fields_derived_for is not cls:  # a real derivation, not the cheap "already done" check
            calls.append(cls)
        derive(cls)

    monkeypatch.setattr(Counted, "_finalize_format", classmethod(counting))
    for _ in range(50):
        assert round_trip(Counted(1, 2)) == Counted(1, 2)
    assert calls == [Counted]


def test_bad_data_raises_pack_error() -> None:
    for data in (b"", b"\x00" * 7, b"\x00" * 8 + b"\x00\x05ab"):
        with pytest.raises(PackError):
            default_serializer.unpack_serializable(Everything, data)
