"""VariablePayload and vp_compile."""
from __future__ import annotations

import pytest

from ipv8.messaging.lazy_payload import VariablePayload, VariablePayloadWID, vp_compile
from ipv8.messaging.payload import Payload
from ipv8.messaging.serialization import PackError, default_serializer


class A(VariablePayload):
    format_list = ["I", "H"]
    names = ["a", "b"]


@vp_compile
class CompiledA(A):
    pass


class Flags(VariablePayload):
    format_list = ["bits"]
    names = ["flag0", "flag1", "flag2", "flag3", "flag4", "flag5", "flag6", "flag7"]


@vp_compile
class CompiledFlags(Flags):
    pass


class Nested(VariablePayload):
    format_list = [A, [A], "varlenH"]
    names = ["one", "many", "blob"]


@vp_compile
class CompiledNested(Nested):
    format_list = [CompiledA, [CompiledA], "varlenH"]


class Extended(A):
    format_list = [*A.format_list, "B"]
    names = [*A.names, "c"]


@vp_compile
class CompiledExtendedFromCompiled(CompiledA):
    format_list = [*A.format_list, "B"]
    names = [*A.names, "c"]


class UncompiledFromCompiled(CompiledA):
    format_list = ["B"]
    names = ["only"]


class Fixed(VariablePayload):
    format_list = ["I"]
    names = ["a"]

    def fix_pack_a(self, value: int) -> int:
        return value + 1

    @classmethod
    def fix_unpack_a(cls, value: int) -> int:
        return value - 1


@vp_compile
class CompiledFixed(Fixed):
    pass


class WithDefaults(VariablePayload):
    format_list = ["I", "H", "varlenH"]
    names = ["a", "b", "c"]
    b = 3
    c = b"default"


@vp_compile
class CompiledWithDefaults(WithDefaults):
    pass


@vp_compile
class HandWrittenInit(VariablePayload):
    """pyipv8 style: defaults via an __init__ signature."""

    format_list = ["I", "H"]
    names = ["a", "b"]

    def __init__(self, a: int, b: int = 3, **kwargs: int) -> None:
        super().__init__(a, b, **kwargs)
        self.constructed_by_hand = True


class OldStyle(Payload):
    format_list = ["I", "H"]

    def __init__(self, a: int, b: int) -> None:
        self.a = a
        self.b = b

    def to_pack_list(self) -> list[tuple]:
        return [("I", self.a), ("H", self.b)]

    @classmethod
    def from_unpack_list(cls, *args: int) -> OldStyle:
        return cls(*args)


class MixedWithOldStyle(VariablePayload, OldStyle):
    format_list = [*OldStyle.format_list, "B"]
    names = ["a", "b", "c"]


@vp_compile
class CompiledMixedWithOldStyle(MixedWithOldStyle):
    pass


def round_trip(payload: VariablePayload) -> VariablePayload:
    data = default_serializer.pack_serializable(payload)
    copy, end = default_serializer.unpack_serializable(type(payload), data)
    assert end == len(data)
    assert type(copy) is type(payload)
    return copy


@pytest.mark.parametrize("cls", [A, CompiledA])
def test_positional_and_keyword_construction(cls: type[A]) -> None:
    for payload in (cls(42, 1337), cls(b=1337, a=42), cls(42, b=1337)):
        assert (payload.a, payload.b) == (42, 1337)
        assert default_serializer.pack_serializable(payload).hex() == "0000002a0539"
        copy = round_trip(payload)
        assert (copy.a, copy.b) == (42, 1337)


@pytest.mark.parametrize("cls", [A, CompiledA])
def test_construction_errors(cls: type[A]) -> None:
    with pytest.raises(TypeError):
        cls(1)
    with pytest.raises(TypeError):
        cls(1, 2, 3)
    with pytest.raises(TypeError):
        cls(1, 2, c=3)
    with pytest.raises(TypeError):
        cls(1, a=2)


@pytest.mark.parametrize("cls", [Flags, CompiledFlags])
def test_bits_take_eight_names(cls: type[Flags]) -> None:
    payload = cls(False, True, False, True, False, True, False, True)
    assert default_serializer.pack_serializable(payload) == b"\x55"
    copy = round_trip(payload)
    assert [getattr(copy, name) for name in cls.names] == [0, 1, 0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("cls", [Nested, CompiledNested])
def test_nested_payloads_and_lists(cls: type[Nested]) -> None:
    inner = cls.format_list[0]
    payload = cls(inner(1, 2), [inner(3, 4), inner(5, 6)], b"!")
    data = default_serializer.pack_serializable(payload)
    assert data.hex() == "0006000000010002" + "02" + "0006000000030004" + "0006000000050006" + "000121"
    copy = round_trip(payload)
    assert copy.one == inner(1, 2)
    assert copy.many == [inner(3, 4), inner(5, 6)]
    assert copy.blob == b"!"


def test_to_pack_list_and_from_unpack_list_are_public_api() -> None:
    for cls in (Nested, CompiledNested):
        inner = cls.format_list[0]
        payload = cls(inner(1, 2), [], b"")
        assert payload.to_pack_list() == [("payload", inner(1, 2)), ("payload-list", []), ("varlenH", b"")]
        assert cls.from_unpack_list(inner(1, 2), [], b"") == payload
    assert Flags(*range(8)).to_pack_list() == [("bits", 0, 1, 2, 3, 4, 5, 6, 7)]
    assert CompiledFixed(5).to_pack_list() == [("I", 6)]
    assert CompiledFixed.from_unpack_list(6).a == 5
    assert Fixed.from_unpack_list(6).a == 5


@pytest.mark.parametrize("cls", [Extended, CompiledExtendedFromCompiled])
def test_inherited_fields(cls: type[A]) -> None:
    payload = cls(1, 2, 3)
    assert default_serializer.pack_serializable(payload).hex() == "00000001000203"
    copy = round_trip(payload)
    assert (copy.a, copy.b, copy.c) == (1, 2, 3)


def test_subclass_with_new_fields_does_not_inherit_compiled_methods() -> None:
    payload = UncompiledFromCompiled(7)
    assert payload.only == 7
    assert round_trip(payload).only == 7
    assert payload.to_pack_list() == [("B", 7)]


@pytest.mark.parametrize("cls", [MixedWithOldStyle, CompiledMixedWithOldStyle])
def test_variable_payload_mixed_with_an_old_style_base(cls: type[VariablePayload]) -> None:
    copy = round_trip(cls(1, 2, 3))
    assert (copy.a, copy.b, copy.c) == (1, 2, 3)
    assert isinstance(copy, OldStyle)


@pytest.mark.parametrize("cls", [Fixed, CompiledFixed])
def test_fix_pack_and_fix_unpack(cls: type[Fixed]) -> None:
    payload = cls(0)
    assert default_serializer.pack_serializable(payload) == b"\x00\x00\x00\x01"
    assert round_trip(payload).a == 0
    assert payload.a == 0


@pytest.mark.parametrize("cls", [WithDefaults, CompiledWithDefaults])
def test_defaults_from_class_attributes(cls: type[WithDefaults]) -> None:
    assert (cls(1).a, cls(1).b, cls(1).c) == (1, 3, b"default")
    assert (cls(1, 7).b, cls(1, c=b"x").c) == (7, b"x")
    assert round_trip(cls(1, 7)) == cls(1, 7)
    with pytest.raises(TypeError):
        cls()


def test_compiled_required_field_after_defaulted_one() -> None:
    @vp_compile
    class Gap(VariablePayload):
        format_list = ["B", "B"]
        names = ["first", "second"]
        first = 1

    assert (Gap(second=5).first, Gap(second=5).second) == (1, 5)
    assert Gap(2, 3).first == 2
    with pytest.raises(TypeError, match="second"):
        Gap()


def test_vp_compile_keeps_a_hand_written_init() -> None:
    payload = HandWrittenInit(1)
    assert (payload.a, payload.b, payload.constructed_by_hand) == (1, 3, True)
    assert (HandWrittenInit(1, 7).b, HandWrittenInit(a=1, b=8).b) == (7, 8)
    copy = round_trip(HandWrittenInit(5, 6))
    assert (copy.a, copy.b, copy.constructed_by_hand) == (5, 6, True)


def test_vp_compile_rejects_inconsistent_definitions() -> None:
    with pytest.raises(TypeError):
        @vp_compile
        class Short(VariablePayload):
            format_list = ["bits"]
            names = ["only_one"]

    with pytest.raises(ValueError, match="identifier"):
        @vp_compile
        class BadName(VariablePayload):
            format_list = ["B"]
            names = ["not valid"]


def test_serializer_rejects_inconsistent_uncompiled_definitions() -> None:
    class Mismatch(VariablePayload):
        format_list = ["B", "B"]
        names = ["one"]

    with pytest.raises(TypeError, match="names"):
        default_serializer.unpack_serializable(Mismatch, b"\x00\x00")


def test_equality_hash_and_repr() -> None:
    assert A(1, 2) == A(1, 2)
    assert A(1, 2) != A(1, 3)
    assert A(1, 2) != CompiledA(1, 2)
    assert hash(A(1, 2)) == hash(A(1, 2))
    assert len({A(1, 2), A(1, 2), A(2, 1)}) == 2
    assert repr(A(1, b"x")) == "A(a=1, b=b'x')"
    looped = Nested(A(1, 2), [], b"")
    looped.many.append(looped)
    assert "..." in repr(looped)


def test_printing() -> None:
    class Message(VariablePayloadWID):
        msg_id = 12
        format_list = ["H", "varlenHutf8"]
        names = ["number", "text"]

    assert str(Message(1, "hi")) == "Message\n| msg_id: 12\n| number: 1\n| text: 'hi'"
    assert str(CompiledFlags(*[0] * 8)).splitlines()[:3] == ["CompiledFlags", "| flag0: 0", "| flag1: 0"]


@pytest.mark.parametrize("cls", [Flags, CompiledFlags])
def test_match_patterns(cls: type[Flags]) -> None:
    payload = cls(False, True, False, True, False, True, False, True)
    match payload:
        case [False, True, False, True, False, True, False, True]:
            sequence_matched = True
        case _:
            sequence_matched = False
    assert not sequence_matched
    match payload:
        case Flags(False, True, False, True, False, True, flag6, True):
            pattern_matched = flag6 is False
        case _:
            pattern_matched = False
    assert pattern_matched


def test_unpacking_bad_data_raises_pack_error() -> None:
    for data in (b"", b"\x00\x06" + b"\x00" * 5, b"\x00\x06" + b"\x00" * 6 + b"\x05", b"\x00\x02\x00\x00"):
        with pytest.raises(PackError):
            default_serializer.unpack_serializable(Nested, data)
