"""Property tests: every format and payload kind round-trips, and hostile bytes only ever cause PackError."""
from __future__ import annotations

import dataclasses
import ipaddress
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipv8.messaging.addresses import DomainAddress
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
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
)
from ipv8.messaging.payload_dataclass import DataClassPayload, dataclass, type_from_format
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from ipv8.messaging.serialization import PackError, Serializable, default_serializer
from ipv8.messaging.serialization import _format_args, _format_name  # the generic field-by-field walk

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_FORMAT = settings(max_examples=12, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Pair(VariablePayload):
    format_list = ["I", "H"]
    names = ["x", "y"]


def unsigned(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, 2 ** bits - 1)


def signed(bits: int) -> st.SearchStrategy[int]:
    return st.integers(-2 ** (bits - 1), 2 ** (bits - 1) - 1)


def exact(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


PORT = unsigned(16)
IPV4 = st.tuples(st.ip_addresses(v=4).map(str), PORT)
IPV6 = st.tuples(st.ip_addresses(v=6).map(str), PORT)
HOST = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){0,2}", fullmatch=True)
FLOAT64 = st.floats(allow_nan=False)
PAIR = st.builds(Pair, unsigned(32), PORT)

# A strategy for valid values of every standard format.
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "?": st.booleans(), "B": unsigned(8), "BBH": st.tuples(unsigned(8), unsigned(8), PORT),
    "BH": st.tuples(unsigned(8), PORT), "c": exact(1), "f": st.floats(width=32, allow_nan=False), "d": FLOAT64,
    "H": PORT, "HH": st.tuples(PORT, PORT), "I": unsigned(32), "l": signed(32),
    "LL": st.tuples(unsigned(32), unsigned(32)), "q": signed(64), "Q": unsigned(64),
    "QH": st.tuples(unsigned(64), PORT), "QL": st.tuples(unsigned(64), unsigned(32)),
    "QQHHBH": st.tuples(unsigned(64), unsigned(64), PORT, PORT, unsigned(8), PORT),
    "ccB": st.tuples(exact(1), exact(1), unsigned(8)), "4SH": st.tuples(exact(4), PORT), "20s": exact(20),
    "32s": exact(32), "64s": exact(64), "74s": exact(74), "c20s": st.tuples(exact(1), exact(20)),
    "bits": st.tuples(*[st.integers(0, 1)] * 8), "ipv4": IPV4, "ip_address": st.one_of(IPV4, IPV6),
    "address": st.one_of(IPV4, IPV6, st.tuples(HOST, PORT)), "raw": st.binary(max_size=64),
    "varlenBx2": st.binary(max_size=40).filter(lambda b: len(b) % 2 == 0), "varlenH": st.binary(max_size=300),
    "varlenHutf8": st.text(max_size=40), "varlenIutf8": st.text(max_size=40),
    "varlenHx20": st.integers(0, 4).flatmap(lambda n: exact(20 * n)),
    "varlenH-list": st.lists(st.binary(max_size=10), max_size=8), "varlenI": st.binary(max_size=100),
    "doublevarlenH": st.binary(max_size=40), "payload": PAIR, "payload-list": st.lists(PAIR, max_size=5),
    "arrayH-?": st.lists(st.booleans(), max_size=20), "arrayH-q": st.lists(signed(64), max_size=10),
    "arrayH-d": st.lists(FLOAT64, max_size=10),
}
SPREAD = {"BBH", "BH", "HH", "LL", "QH", "QL", "QQHHBH", "ccB", "4SH", "c20s", "bits"}  # pack(*values)


def normalized(fmt: str, value: Any) -> Any:  # noqa: ANN401
    """Make equal values compare equal (address text forms, tuples vs lists)."""
    if fmt in ("ipv4", "ip_address", "address"):
        host, port = value
        if isinstance(value, DomainAddress):
            return ("name", host, port)
        try:
            return (ipaddress.ip_address(host), port)
        except ValueError:
            return ("name", host, port)
    if fmt in SPREAD:
        return tuple(value)
    return value


def one_field_class(fmt: str) -> type[VariablePayload]:
    width = 8 if fmt == "bits" else 1
    entry = {"payload": Pair, "payload-list": [Pair]}.get(fmt, fmt)
    return vp_compile(type(f"Only_{fmt}", (VariablePayload,), {"format_list": [entry],
                                                                "names": [f"v{i}" for i in range(width)]}))


ONE_FIELD = {fmt: one_field_class(fmt) for fmt in VALUES}


def test_every_standard_format_has_a_strategy() -> None:
    assert set(VALUES) == set(default_serializer.get_available_formats())


@pytest.mark.parametrize("fmt", sorted(VALUES))
@PER_FORMAT
@given(data=st.data())
def test_every_format_round_trips(fmt: str, data: st.DataObject) -> None:
    value = data.draw(VALUES[fmt])
    packer = default_serializer.get_packer_for(fmt)
    packed = packer.pack(*value) if fmt in SPREAD else packer.pack(value)
    out: list = []
    args = (Pair,) if fmt in ("payload", "payload-list") else ()
    assert packer.unpack(packed, 0, out, *args) == len(packed)
    decoded = out if fmt == "bits" else out[0]
    assert normalized(fmt, decoded) == normalized(fmt, value)

    # The generated code of a payload with this one field produces and accepts the same bytes.
    cls = ONE_FIELD[fmt]
    instance = cls(*value) if fmt == "bits" else cls(value)
    assert default_serializer.pack_serializable(instance) == packed
    copy, end = default_serializer.unpack_serializable(cls, packed)
    assert end == len(packed)
    copied = [getattr(copy, name) for name in cls.names]
    assert normalized(fmt, copied if fmt == "bits" else copied[0]) == normalized(fmt, value)


# --- payload kinds -----------------------------------------------------------------------------------------------
class Record(VariablePayload):
    format_list = ["q", "varlenHutf8", Pair, [Pair], "bits", "raw"]
    names = ["number", "text", "pair", "pairs", "b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "rest"]


CompiledRecord = vp_compile(type("CompiledRecord", (Record,), {}))


@dataclass(msg_id=5)
class DataRecord:
    number: int
    text: str
    pair: Pair
    pairs: list[Pair]
    numbers: list[int]
    blobs: list[bytes]
    fixed: type_from_format("20s")


@dataclasses.dataclass
class OldDataRecord(DataClassPayload[6]):
    number: int
    flag: bool
    blob: bytes


class HandRecord(Payload):
    format_list = ["H", "varlenH", "ipv4"]

    def __init__(self, number: int, blob: bytes, address: tuple) -> None:
        self.number, self.blob, self.address = number, blob, address

    def to_pack_list(self) -> list[tuple]:
        return [("H", self.number), ("varlenH", self.blob), ("ipv4", self.address)]

    @classmethod
    def from_unpack_list(cls, *args: Any) -> HandRecord:  # noqa: ANN401
        return cls(*args)


BITS = [st.integers(0, 1)] * 8
PAYLOADS = st.one_of(
    st.builds(Record, signed(64), st.text(max_size=20), PAIR, st.lists(PAIR, max_size=3), *BITS, st.binary()),
    st.builds(CompiledRecord, signed(64), st.text(max_size=20), PAIR, st.lists(PAIR, max_size=3), *BITS,
              st.binary()),
    st.builds(DataRecord, signed(64), st.text(max_size=20), PAIR, st.lists(PAIR, max_size=3),
              st.lists(signed(64), max_size=4), st.lists(st.binary(max_size=5), max_size=4), exact(20)),
    st.builds(OldDataRecord, signed(64), st.booleans(), st.binary(max_size=30)),
    st.builds(HandRecord, PORT, st.binary(max_size=30), IPV4),
    st.builds(IntroductionRequestPayload, IPV4, IPV4, IPV4, st.booleans(),
              st.sampled_from(["unknown", "public", "symmetric-NAT"]), unsigned(32), st.binary(max_size=8),
              st.booleans()),
    st.builds(IntroductionResponsePayload, IPV4, IPV4, IPV4, IPV4, IPV4,
              st.sampled_from(["unknown", "public", "symmetric-NAT"]), PORT, st.binary(max_size=8),
              st.booleans(), st.booleans(), st.booleans()),
    st.builds(NewIntroductionRequestPayload, st.one_of(IPV4, IPV6), IPV4, IPV6, PORT, *BITS, st.binary(max_size=8)),
    st.builds(NewPuncturePayload, IPV6, IPV4, PORT),
    st.builds(BinMemberAuthenticationPayload, st.binary(max_size=80)),
)


def state(payload: Serializable) -> dict:
    """Comparable field values (old-style payloads have no __eq__)."""
    return {key: (normalized("address", value) if isinstance(value, tuple) and len(value) == 2 and
                  isinstance(value[0], str) else value)
            for key, value in vars(payload).items()}


@FAST
@given(PAYLOADS)
def test_every_payload_kind_round_trips(payload: Serializable) -> None:
    data = default_serializer.pack_serializable(payload)
    copy, end = default_serializer.unpack_serializable(type(payload), data)
    assert end == len(data)
    if isinstance(payload, IntroductionRequestPayload):  # pyipv8 reads the advice bit back inverted
        assert copy.advice is (not payload.advice)
        copy.advice = payload.advice
    assert default_serializer.pack_serializable(copy) == data
    assert state(copy) == state(payload)


# --- hostile input -----------------------------------------------------------------------------------------------
class AllFormats(VariablePayload):
    """One field of every standard format, ``raw`` last."""

    format_list = [fmt for fmt in sorted(VALUES) if fmt not in ("raw", "payload", "payload-list")] + \
        [Pair, [Pair], "raw"]
    names = [f"f{i}" for i in range(len(format_list) + 7)]


TARGETS = [AllFormats, Record, CompiledRecord, DataRecord, OldDataRecord, HandRecord, IntroductionRequestPayload,
           IntroductionResponsePayload, PunctureRequestPayload, PuncturePayload, NewIntroductionRequestPayload,
           NewIntroductionResponsePayload, NewPunctureRequestPayload, NewPuncturePayload,
           BinMemberAuthenticationPayload, GlobalTimeDistributionPayload]


def valid_sample(cls: type) -> bytes:
    """A valid encoding for ``cls``, to mutate."""
    if cls is AllFormats:
        values: list = []
        for entry in AllFormats.format_list:
            fmt = _format_name(entry)
            example = {"payload": Pair(1, 2), "payload-list": [Pair(3, 4)], "raw": b"tail",
                       "address": ("host.example", 1), "ip_address": ("::1", 2), "ipv4": ("1.2.3.4", 3)}.get(fmt)
            if example is None:
                example = _simple_value(fmt)
            values.extend(example if fmt == "bits" else [example])
        return default_serializer.pack_serializable(AllFormats(*values))
    sample = {Record: Record(1, "t", Pair(1, 2), [Pair(3, 4)], *[1] * 8, b"r"),
              CompiledRecord: CompiledRecord(1, "t", Pair(1, 2), [], *[0] * 8, b""),
              DataRecord: DataRecord(1, "x", Pair(1, 2), [Pair(1, 1)], [1, 2], [b"a"], bytes(20)),
              OldDataRecord: OldDataRecord(1, True, b"b"), HandRecord: HandRecord(1, b"x", ("1.2.3.4", 5)),
              IntroductionRequestPayload: IntroductionRequestPayload(("1.2.3.4", 5), ("1.2.3.4", 5),
                                                                     ("1.2.3.4", 5), True, "public", 1, b"x"),
              IntroductionResponsePayload: IntroductionResponsePayload(("1.2.3.4", 5), ("1.2.3.4", 5),
                                                                       ("1.2.3.4", 5), ("1.2.3.4", 5),
                                                                       ("1.2.3.4", 5), "public", 1, b"x"),
              PunctureRequestPayload: PunctureRequestPayload(("1.2.3.4", 5), ("1.2.3.4", 5), 1),
              PuncturePayload: PuncturePayload(("1.2.3.4", 5), ("1.2.3.4", 5), 1),
              NewIntroductionRequestPayload: NewIntroductionRequestPayload(("::1", 5), ("1.2.3.4", 5),
                                                                           ("1.2.3.4", 5), 1, *[0] * 8, b""),
              NewIntroductionResponsePayload: NewIntroductionResponsePayload(("::1", 5), ("1.2.3.4", 5),
                                                                             ("1.2.3.4", 5), ("::2", 1),
                                                                             ("1.2.3.4", 5), 1, *[0] * 8, b"e"),
              NewPunctureRequestPayload: NewPunctureRequestPayload(("::1", 5), ("1.2.3.4", 5), 1),
              NewPuncturePayload: NewPuncturePayload(("::1", 5), ("1.2.3.4", 5), 1),
              BinMemberAuthenticationPayload: BinMemberAuthenticationPayload(b"key"),
              GlobalTimeDistributionPayload: GlobalTimeDistributionPayload(1)}[cls]
    return default_serializer.pack_serializable(sample)


def _simple_value(fmt: str) -> Any:  # noqa: ANN401
    simple = {"?": True, "c": b"c", "f": 1.0, "d": 2.0, "4SH": (b"\x01\x02\x03\x04", 5), "c20s": (b"c", bytes(20)),
              "ccB": (b"a", b"b", 1), "varlenHutf8": "u", "varlenIutf8": "v", "varlenH-list": [b"a"],
              "varlenHx20": bytes(20), "varlenBx2": b"ab", "arrayH-?": [True], "arrayH-q": [-1], "arrayH-d": [0.5],
              "bits": [1, 0, 1, 0, 1, 0, 1, 0]}
    if fmt in simple:
        return simple[fmt]
    if fmt.endswith("s"):
        return bytes(int(fmt[:-1]))
    if fmt.startswith("varlen") or fmt == "doublevarlenH":
        return b"v"
    packer = default_serializer.get_packer_for(fmt)
    return tuple(range(1, packer.value_count + 1)) if packer.value_count > 1 else 7


SAMPLES = {cls: valid_sample(cls) for cls in TARGETS}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[type, bytes]:
    cls = draw(st.sampled_from(TARGETS))
    data = bytearray(SAMPLES[cls])
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "append"]))
        position = draw(st.integers(0, len(data)))
        if action == "flip" and position < len(data):
            data[position] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=3))
        else:
            data.extend(draw(st.binary(min_size=1, max_size=3)))
    return cls, bytes(data)


HOSTILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_samples_are_valid() -> None:
    for cls, data in SAMPLES.items():
        assert default_serializer.unpack_serializable(cls, data)[1] == len(data)


@HOSTILE
@given(st.sampled_from(TARGETS), st.binary(max_size=120), st.integers(0, 3))
def test_random_bytes_raise_only_pack_error(cls: type, data: bytes, offset: int) -> None:
    try:
        default_serializer.unpack_serializable(cls, data, offset)
    except PackError:
        pass
    try:
        default_serializer.unpack_serializable_list([cls, GlobalTimeDistributionPayload], data, offset)
    except PackError:
        pass


@HOSTILE
@given(mutated())
def test_mutated_packets_raise_only_pack_error(case: tuple[type, bytes]) -> None:
    cls, data = case
    try:
        default_serializer.unpack_serializable_list([cls], data)
    except PackError as error:
        assert error.offset is None or 0 <= error.offset <= len(data)


def walk(cls: type, data: bytes) -> tuple[Any, int]:  # noqa: ANN401
    """Unpack field by field through the packers' public methods: the reference semantics."""
    values: list = []
    offset = 0
    for entry in cls.format_list:
        offset = default_serializer.get_packer_for(_format_name(entry)).unpack(data, offset, values,
                                                                              *_format_args(entry))
    return cls.from_unpack_list(*values), offset


def same(first: Any, second: Any) -> bool:  # noqa: ANN401
    """Equality that treats NaN as equal to NaN (mutations can create NaN floats)."""
    if isinstance(first, float) and isinstance(second, float):
        return first == second or (math.isnan(first) and math.isnan(second))
    if isinstance(first, (list, tuple)) and isinstance(second, (list, tuple)):
        return len(first) == len(second) and all(same(a, b) for a, b in zip(first, second))
    if isinstance(first, Serializable) and isinstance(second, Serializable):
        return type(first) is type(second) and same(sorted(vars(first).items()), sorted(vars(second).items()))
    return first == second


@HOSTILE
@given(mutated())
def test_generated_code_agrees_with_the_field_by_field_walk(case: tuple[type, bytes]) -> None:
    cls, data = case
    try:
        expected = walk(cls, data)
    except Exception:  # noqa: BLE001 - any failure of the reference walk must be a PackError for the fast path
        expected = None
    try:
        actual = default_serializer.unpack_serializable(cls, data)
    except PackError:
        actual = None
    assert (expected is None) == (actual is None)
    if expected is not None:
        assert expected[1] == actual[1]
        assert same(expected[0], actual[0])
