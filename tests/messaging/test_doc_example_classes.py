"""The five equivalent classes of the IPv8 documentation's serialization chapter.

No ``from __future__ import annotations`` here: the dataclass annotations are real objects, as in the docs.
"""
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.messaging.payload import Payload
from ipv8.messaging.payload_dataclass import dataclass, type_from_format
from ipv8.messaging.serialization import Serializable, default_serializer


class MySerializable(Serializable):
    format_list = ["I", "H"]

    def __init__(self, field1: int, field2: int) -> None:
        self.field1 = field1
        self.field2 = field2

    def to_pack_list(self) -> list:
        return [("I", self.field1), ("H", self.field2)]

    @classmethod
    def from_unpack_list(cls, field1: int, field2: int) -> "MySerializable":
        return cls(field1, field2)


class MyPayload(Payload):
    format_list = ["I", "H"]

    def __init__(self, field1: int, field2: int) -> None:
        self.field1 = field1
        self.field2 = field2

    def to_pack_list(self) -> list:
        return [("I", self.field1), ("H", self.field2)]

    @classmethod
    def from_unpack_list(cls, field1: int, field2: int) -> "MyPayload":
        return cls(field1, field2)


class MyVariablePayload(VariablePayload):
    format_list = ["I", "H"]
    names = ["field1", "field2"]


@vp_compile
class MyCVariablePayload(VariablePayload):
    format_list = ["I", "H"]
    names = ["field1", "field2"]


I = type_from_format("I")  # noqa: E741
H = type_from_format("H")


@dataclass
class MyDataclassPayload:
    field1: I
    field2: H


@dataclass(msg_id=1)
class Message:
    @dataclass
    class Item:
        foo: int
        bar: int

    item: Item
    items: [Item]
    baz: int


def test_all_five_are_wire_compatible() -> None:
    classes = [MySerializable, MyPayload, MyVariablePayload, MyCVariablePayload, MyDataclassPayload]
    for cls in classes:
        data = default_serializer.pack_serializable(cls(1, 2))
        assert data == b"\x00\x00\x00\x01\x00\x02"
        for other in classes:
            copy, end = default_serializer.unpack_serializable(other, data)
            assert (copy.field1, copy.field2, end) == (1, 2, 6)


def test_printing_is_as_documented() -> None:
    assert str(MySerializable(1, 2)).startswith("<tests.messaging.test_doc_example_classes.MySerializable object at ")
    for cls in (MyPayload, MyVariablePayload, MyCVariablePayload, MyDataclassPayload):
        assert str(cls(1, 2)) == f"{cls.__name__}\n| field1: 1\n| field2: 2"


def test_documented_nested_dataclass() -> None:
    message = Message(Message.Item(1, 2), [Message.Item(3, 4), Message.Item(5, 6)], 7)
    data = default_serializer.pack_serializable(message)
    assert data.hex() == ("0010" "0000000000000001" "0000000000000002"
                          "02" "0010" "0000000000000003" "0000000000000004" "0010" "0000000000000005"
                          "0000000000000006" "0000000000000007")
    assert default_serializer.unpack_serializable(Message, data) == (message, len(data))
    assert Message.format_list == [Message.Item, [Message.Item], "q"]
