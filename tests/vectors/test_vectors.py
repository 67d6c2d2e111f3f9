"""Replay the pyipv8 3.2.1 wire vectors against txipv8.

The JSON files next to this module were written by ``make_vectors.py`` running the real pyipv8 3.2.1.
For every vector we pack with txipv8 and demand the reference bytes, and we unpack the reference bytes
with txipv8 and demand the reference field values. Packets are also signature-checked and rebuilt;
keys are loaded, re-encoded and used to sign. The value encoding is described in ``make_vectors.py``.

Legacy (binary-curve) EC keys need ``cryptography`` < 47. With a newer one, txipv8 must refuse those
keys with :class:`UnsupportedCurveError`; the rest of such a vector is then skipped.
"""
import json
import math
from pathlib import Path

import pytest

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.exceptions import UnsupportedCurveError
from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv4LANAddress, UDPv6Address
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.messaging.payload import (
    IntroductionRequestPayload,
    IntroductionResponsePayload,
    NewIntroductionRequestPayload,
    NewIntroductionResponsePayload,
    NewPuncturePayload,
    NewPunctureRequestPayload,
    PuncturePayload,
    PunctureRequestPayload,
)
from ipv8.messaging.payload_dataclass import dataclass, type_from_format
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from ipv8.messaging.serialization import PackError, Serializable, default_serializer

VECTOR_DIR = Path(__file__).resolve().parent
NO_BINARY_CURVES = "installed cryptography lacks binary curves"

# ---------------------------------------------------------------------------------------------------------------
# The application payloads of the vectors, declared with txipv8's classes. make_vectors.py declares the
# same shapes with pyipv8's; keep the two in step.
# ---------------------------------------------------------------------------------------------------------------


class Point(VariablePayload):
    """Plain VariablePayload, nested in other payloads."""

    format_list = ["I", "H"]
    names = ["x", "y"]


@vp_compile
class Greeting(VariablePayload):
    """Compiled VariablePayload carrying a UTF-8 string."""

    msg_id = 2
    format_list = ["varlenHutf8", "I"]
    names = ["text", "number"]


@vp_compile
class Route(VariablePayload):
    """A nested payload, a payload list and a string."""

    msg_id = 3
    format_list = [Point, [Point], "varlenHutf8", "?"]
    names = ["origin", "hops", "label", "final"]


@dataclass(msg_id=1)
class Pair:
    """Two ints (each a signed 64-bit "q" on the wire)."""

    first: int
    second: int


@dataclass
class Item:
    """Nested dataclass payload."""

    foo: int
    bar: int


@dataclass(msg_id=4)
class Basket:
    """Nested dataclass, list of dataclasses, int."""

    item: Item
    items: list[Item]
    baz: int


U32 = type_from_format("I")
U16 = type_from_format("H")


@dataclass(msg_id=5)
class Everything:
    """Every type hint that a dataclass payload turns into a format."""

    flag: bool
    count: int
    ratio: float
    blob: bytes
    text: str
    numbers: list[int]
    switches: list[bool]
    reals: list[float]
    small: U16
    medium: U32
    item: Item
    items: list[Item]


PAYLOAD_CLASSES = {cls.__name__: cls for cls in (
    BinMemberAuthenticationPayload, GlobalTimeDistributionPayload,
    IntroductionRequestPayload, IntroductionResponsePayload, PunctureRequestPayload, PuncturePayload,
    NewIntroductionRequestPayload, NewIntroductionResponsePayload, NewPunctureRequestPayload, NewPuncturePayload,
    Point, Greeting, Route, Pair, Item, Basket, Everything,
)}
ADDRESS_CLASSES = {cls.__name__: cls for cls in (UDPv4Address, UDPv4LANAddress, UDPv6Address, DomainAddress)}

# ---------------------------------------------------------------------------------------------------------------
# Decoding and comparing the tagged JSON values
# ---------------------------------------------------------------------------------------------------------------


def decode(value: object) -> object:
    """Turn a tagged JSON value back into the Python object it describes (built with txipv8 classes)."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value["t"]
    if tag == "bytes":
        return bytes.fromhex(value["hex"])
    if tag == "float":
        return float.fromhex(value["hex"])
    if tag == "tuple":
        return tuple(decode(item) for item in value["items"])
    if tag in ADDRESS_CLASSES:
        return ADDRESS_CLASSES[tag](*value["items"])
    if tag == "payload":
        return PAYLOAD_CLASSES[value["class"]](**decode_fields(value["fields"]))
    raise ValueError(f"unknown tag {tag!r}")


def decode_fields(fields: dict) -> dict:
    return {name: decode(value) for name, value in fields.items()}


def assert_matches(actual: object, expected: object, where: str) -> None:  # noqa: C901, PLR0912
    """Check that ``actual`` (a txipv8 result) is what the tagged reference value ``expected`` says."""
    if isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{where}: expected {len(expected)} items, got {actual!r}"
        for index, (got, want) in enumerate(zip(actual, expected)):
            assert_matches(got, want, f"{where}[{index}]")
        return
    if not isinstance(expected, dict):
        if expected is None:
            assert actual is None, f"{where}: expected None, got {actual!r}"
        elif isinstance(expected, str):
            assert isinstance(actual, str) and actual == expected, f"{where}: expected {expected!r}, got {actual!r}"
        else:  # bool or int; pyipv8 itself mixes the two (bits unpack to 0/1), so only the value counts
            assert isinstance(actual, (bool, int)) and actual == expected, \
                f"{where}: expected {expected!r}, got {actual!r}"
        return
    tag = expected["t"]
    if tag == "bytes":
        assert isinstance(actual, bytes), f"{where}: expected bytes, got {actual!r}"
        assert actual.hex() == expected["hex"], f"{where}: expected {expected['hex']}, got {actual.hex()}"
    elif tag == "float":
        want = float.fromhex(expected["hex"])
        assert isinstance(actual, float), f"{where}: expected a float, got {actual!r}"
        assert actual == want and math.copysign(1, actual) == math.copysign(1, want), \
            f"{where}: expected {want!r}, got {actual!r}"
    elif tag == "tuple":
        assert isinstance(actual, tuple), f"{where}: expected a tuple, got {actual!r}"
        assert len(actual) == len(expected["items"]), f"{where}: expected {expected['items']!r}, got {actual!r}"
        for index, (got, want) in enumerate(zip(actual, expected["items"])):
            assert_matches(got, want, f"{where}[{index}]")
    elif tag in ADDRESS_CLASSES:
        assert type(actual).__name__ == tag, f"{where}: expected a {tag}, got {actual!r}"
        assert list(actual) == expected["items"], f"{where}: expected {expected['items']!r}, got {actual!r}"
    elif tag == "payload":
        assert type(actual).__name__ == expected["class"], f"{where}: expected a {expected['class']}, got {actual!r}"
        assert_fields(actual, expected["fields"], where)
    else:
        raise ValueError(f"unknown tag {tag!r}")


def assert_fields(payload: object, fields: dict, where: str) -> None:
    for name, want in fields.items():
        assert hasattr(payload, name), f"{where}: {type(payload).__name__} has no attribute {name!r}"
        assert_matches(getattr(payload, name), want, f"{where}.{name}")


def assert_same_bytes(actual: bytes, expected: bytes, what: str) -> None:
    """Byte equality with a message that points at the first difference."""
    if actual == expected:
        return
    first = next((i for i, (a, b) in enumerate(zip(actual, expected)) if a != b), min(len(actual), len(expected)))
    pytest.fail(f"{what}: txipv8 bytes differ from pyipv8 3.2.1 at offset {first} "
                f"(lengths {len(actual)} vs {len(expected)})\n"
                f"  txipv8:   {actual.hex()}\n  pyipv8:   {expected.hex()}")


def load_vectors(file_name: str) -> list[dict]:
    document = json.loads((VECTOR_DIR / file_name).read_text())
    assert document["reference"] == "pyipv8 3.2.1", document["reference"]
    return document["vectors"]


def parametrize_vectors(file_name: str):  # noqa: ANN201
    vectors = load_vectors(file_name)
    return pytest.mark.parametrize("vector", vectors, ids=[vector["name"] for vector in vectors])


# ---------------------------------------------------------------------------------------------------------------
# serializer_formats.json: every packer of the default serializer
# ---------------------------------------------------------------------------------------------------------------


class Probe(Serializable):
    """A Serializable of exactly one format: packs ``(fmt, *args)`` and keeps whatever is unpacked."""

    pack_name = ""
    format_list: list = []

    def __init__(self, *args: object) -> None:
        self.args = list(args)

    def to_pack_list(self) -> list[tuple]:
        return [(self.pack_name, *self.args)]

    @classmethod
    def from_unpack_list(cls, *values: object) -> "Probe":
        return cls(*values)


def probe_for(fmt: str) -> type[Probe]:
    entry = {"payload": Point, "payload-list": [Point]}.get(fmt, fmt)
    return type("Probe", (Probe,), {"pack_name": fmt, "format_list": [entry]})


def test_reference_formats_are_available() -> None:
    """txipv8's default serializer knows every format name that pyipv8 3.2.1's does."""
    document = json.loads((VECTOR_DIR / "serializer_formats.json").read_text())
    missing = sorted(set(document["available_formats"]) - set(default_serializer.get_available_formats()))
    assert not missing, f"formats of pyipv8 3.2.1 missing from txipv8: {missing}"


@parametrize_vectors("serializer_formats.json")
def test_serializer_formats(vector: dict) -> None:
    fmt = vector["format"]
    probe = probe_for(fmt)
    if "error" in vector:  # pyipv8 refuses these with PackError; so must we
        with pytest.raises(PackError):
            if "args" in vector:
                default_serializer.pack_serializable(probe(*decode(vector["args"])))
            else:
                default_serializer.unpack_serializable(probe, bytes.fromhex(vector["packed"]))
        return

    args = decode(vector["args"])
    packed = bytes.fromhex(vector["packed"])
    assert_same_bytes(default_serializer.pack_serializable(probe(*args)), packed, f"pack {fmt}")
    unpacked, end = default_serializer.unpack_serializable(probe, packed)
    assert end == len(packed)
    assert_matches(unpacked.args, vector["unpacked"], f"unpack {fmt}")

    # The single-value API: Serializer.pack(fmt, value) and Serializer.unpack(fmt, data, offset).
    if len(args) == 1:
        assert_same_bytes(default_serializer.pack(fmt, args[0]), packed, f"Serializer.pack({fmt!r})")
    if fmt != "bits":  # bits unpack to eight values; the single-value API only hands back the first
        junk = b"\xee\xee\xee"
        value, end = default_serializer.unpack(probe.format_list[0], junk + packed, len(junk))
        assert end == len(junk) + len(packed)
        assert_matches(value, vector["unpacked"][0], f"Serializer.unpack({fmt!r})")


# ---------------------------------------------------------------------------------------------------------------
# payloads.json: framework and application payloads on their own
# ---------------------------------------------------------------------------------------------------------------


@parametrize_vectors("payloads.json")
def test_payloads(vector: dict) -> None:
    cls = PAYLOAD_CLASSES[vector["class"]]
    if vector["msg_id"] is not None:
        assert cls.msg_id == vector["msg_id"]
    packed = bytes.fromhex(vector["packed"])
    if "kwargs" in vector:  # absent for decode-only vectors (bytes no 3.2.1 sender makes)
        payload = cls(**decode_fields(vector["kwargs"]))
        assert_same_bytes(default_serializer.pack_serializable(payload), packed, f"pack {vector['class']}")
    unpacked, end = default_serializer.unpack_serializable(cls, packed)
    assert end == len(packed)
    assert_fields(unpacked, vector["fields"], vector["class"])


# ---------------------------------------------------------------------------------------------------------------
# packets.json: whole signed/unsigned packets as a 3.2.1 Community sends them
# ---------------------------------------------------------------------------------------------------------------


def _require_legacy_curve(private_bin: bytes) -> None:
    """Skip (after checking the refusal is the documented one) when binary curves are unavailable."""
    try:
        default_eccrypto.key_from_private_bin(private_bin)
    except UnsupportedCurveError:
        pytest.skip(NO_BINARY_CURVES)


@parametrize_vectors("packets.json")
def test_packets(vector: dict) -> None:
    packet = bytes.fromhex(vector["packet"])
    prefix = b"\x00\x02" + bytes.fromhex(vector["community_id"])
    assert len(packet) == vector["size"]
    if vector["expected_size"] is not None:
        assert len(packet) == vector["expected_size"]
    assert packet[:22] == prefix and packet[22] == vector["msg_id"]
    private_bin = bytes.fromhex(vector["private_bin"])
    specs = vector["payloads"]
    classes = [PAYLOAD_CLASSES[spec["class"]] for spec in specs]

    # Receive side: check the signature, then parse everything after the header with txipv8.
    if vector["signed"]:
        if vector["key_type"] == "legacy-ec":
            _require_legacy_curve(private_bin)
        auth, offset = default_serializer.unpack_serializable(BinMemberAuthenticationPayload, packet, 23)
        public_key = default_eccrypto.key_from_public_bin(auth.public_key_bin)
        signature_length = default_eccrypto.get_signature_length(public_key)
        assert signature_length == vector["signature_length"]
        body, signature = packet[:-signature_length], packet[-signature_length:]
        assert default_eccrypto.is_valid_signature(public_key, body, signature)
        tampered = body[:-1] + bytes([body[-1] ^ 0x01])
        assert not default_eccrypto.is_valid_signature(public_key, tampered, signature)
        parsed = [auth, *default_serializer.unpack_serializable_list(classes[1:], body, offset)]
    else:
        parsed = default_serializer.unpack_serializable_list(classes, packet, 23)
    assert len(parsed) == len(specs)
    for index, (payload, spec) in enumerate(zip(parsed, specs)):
        assert_fields(payload, spec["fields"], f"payload {index} ({spec['class']})")

    # Send side: rebuild the packet from its fields with txipv8 and sign it with txipv8's key.
    payloads = [PAYLOAD_CLASSES[spec["class"]](**decode_fields(spec["kwargs"])) for spec in specs]
    rebuilt = prefix + bytes([vector["msg_id"]]) + default_serializer.pack_serializable_list(payloads)
    if not vector["signed"]:
        assert_same_bytes(rebuilt, packet, "unsigned packet")
        return
    key = default_eccrypto.key_from_private_bin(private_bin)
    assert payloads[0].public_key_bin == key.pub().key_to_bin()
    signature = default_eccrypto.create_signature(key, rebuilt)
    if vector["key_type"] == "curve25519":  # Ed25519 is deterministic: the whole packet must match
        assert_same_bytes(rebuilt + signature, packet, "signed packet")
    else:  # ECDSA is randomised: the signed part must match and our fresh signature must verify
        assert_same_bytes(rebuilt, packet[:-vector["signature_length"]], "signed part of the packet")
        assert len(signature) == vector["signature_length"]
        assert default_eccrypto.is_valid_signature(key.pub(), rebuilt, signature)


def _community_vectors() -> list[dict]:
    return [vector for vector in load_vectors("packets.json") if "community_call" in vector]


@pytest.mark.parametrize("vector", _community_vectors(), ids=[vector["name"] for vector in _community_vectors()])
def test_community_builds_packets(vector: dict) -> None:
    """txipv8's Community.create_* give the same bytes as 3.2.1's, from the same state and arguments."""
    # Imported here so that a broken community module fails these cases only, not the whole vector file.
    from ipv8.community import Community, CommunitySettings  # noqa: PLC0415
    from ipv8.peer import Peer  # noqa: PLC0415
    from ipv8.peerdiscovery.network import Network  # noqa: PLC0415
    from ipv8.test.mocking.endpoint import Internet, MockEndpoint  # noqa: PLC0415

    class RecordingEndpoint(MockEndpoint):
        """Counts as open (so the estimated addresses are used) and keeps what is sent."""

        def __init__(self) -> None:
            super().__init__(UDPv4Address("192.168.1.10", 8090), UDPv4Address("198.51.100.7", 8090), Internet())
            self.sent: list[tuple] = []

        def is_open(self) -> bool:
            return True

        def send(self, socket_address: object, packet: bytes) -> None:
            self.sent.append((socket_address, packet))

    call = vector["community_call"]
    community_class = type("VectorCommunity", (Community,), {"community_id": bytes.fromhex(vector["community_id"])})
    key = default_eccrypto.key_from_private_bin(bytes.fromhex(vector["private_bin"]))
    endpoint = RecordingEndpoint()
    community = community_class(CommunitySettings(my_peer=Peer(key), endpoint=endpoint, network=Network()))
    try:
        community.my_estimated_lan = decode(call["my_estimated_lan"])
        community.my_estimated_wan = decode(call["my_estimated_wan"])
        community.address_is_lan = lambda address: address.startswith("192.168.")  # as in the generator
        community.my_peer.update_clock(call["clock"])
        kwargs = decode_fields(call["kwargs"])
        introduction = call["introduction"]
        if introduction is not None:
            peer = Peer(default_eccrypto.key_from_public_bin(bytes.fromhex(introduction["public_bin"])),
                        decode(introduction["address"]))
            peer.new_style_intro = introduction["new_style_intro"]
            kwargs["introduction"] = peer
        returned = getattr(community, call["method"])(*decode(call["args"]), **kwargs)
        if call["output"] == "sent":
            assert len(endpoint.sent) == 1, endpoint.sent
            (target, packet), = endpoint.sent
            assert tuple(target) == tuple(decode(introduction["address"]))
        else:
            packet = returned
        assert_same_bytes(packet, bytes.fromhex(vector["packet"]), f"Community.{call['method']}")
    finally:
        community.unload()


# ---------------------------------------------------------------------------------------------------------------
# keys_curve25519.json and keys_legacy_ec.json
# ---------------------------------------------------------------------------------------------------------------


@parametrize_vectors("keys_curve25519.json")
def test_curve25519_keys(vector: dict) -> None:
    private_bin = bytes.fromhex(vector["private_bin"])
    public_bin = bytes.fromhex(vector["public_bin"])
    mid = bytes.fromhex(vector["mid"])

    key = default_eccrypto.key_from_private_bin(private_bin)
    assert_same_bytes(key.key_to_bin(), private_bin, "private key_to_bin")
    assert_same_bytes(key.pub().key_to_bin(), public_bin, "public key derived from the private key")
    assert default_eccrypto.key_to_hash(key) == mid
    assert key.key_to_hash() == mid

    public = default_eccrypto.key_from_public_bin(public_bin)
    assert_same_bytes(public.key_to_bin(), public_bin, "public key_to_bin")
    assert default_eccrypto.key_to_hash(public) == mid
    assert default_eccrypto.get_signature_length(public) == vector["signature_length"]

    for label, entry in vector["signatures"].items():
        message = bytes.fromhex(entry["message"])
        expected = bytes.fromhex(entry["signature"])
        assert_same_bytes(key.signature(message), expected, f"Ed25519 signature over {label!r}")
        assert_same_bytes(default_eccrypto.create_signature(key, message), expected, f"create_signature {label!r}")
        assert public.verify(expected, message)
        assert default_eccrypto.is_valid_signature(public, message, expected)
        assert not default_eccrypto.is_valid_signature(public, message + b"x", expected)
        assert not default_eccrypto.is_valid_signature(public, message, bytes([expected[0] ^ 0x80]) + expected[1:])


@parametrize_vectors("keys_legacy_ec.json")
def test_legacy_ec_keys(vector: dict) -> None:
    private_bin = bytes.fromhex(vector["private_bin"])
    public_bin = bytes.fromhex(vector["public_bin"])
    message = bytes.fromhex(vector["message"])
    signature = bytes.fromhex(vector["signature"])

    try:
        public = default_eccrypto.key_from_public_bin(public_bin)
    except UnsupportedCurveError as exc:
        # Without binary curves the key must be refused clearly, naming the curve, for both key forms.
        assert vector["curve"] in str(exc)
        with pytest.raises(UnsupportedCurveError, match=vector["curve"]):
            default_eccrypto.key_from_private_bin(private_bin)
        pytest.skip(NO_BINARY_CURVES)

    assert_same_bytes(public.key_to_bin(), public_bin, "public DER key_to_bin")
    assert default_eccrypto.key_to_hash(public) == bytes.fromhex(vector["mid"])
    assert default_eccrypto.get_signature_length(public) == vector["signature_length"]
    assert default_eccrypto.is_valid_signature(public, message, signature)
    assert not default_eccrypto.is_valid_signature(public, message + b"x", signature)

    key = default_eccrypto.key_from_private_bin(private_bin)
    assert_same_bytes(key.key_to_bin(), private_bin, "private DER key_to_bin")
    assert_same_bytes(key.pub().key_to_bin(), public_bin, "public key derived from the private key")
    ours = default_eccrypto.create_signature(key, message)
    assert len(ours) == vector["signature_length"]
    assert default_eccrypto.is_valid_signature(public, message, ours)
