"""Write the wire test vectors that pin txipv8 to the bytes of pyipv8 3.2.1.

Run it ONLY with the reference interpreter, which has pyipv8 3.2.1 installed as ``ipv8``::

    .venv-ref/bin/python tests/vectors/make_vectors.py tests/vectors      # what `make vectors` runs

The argument is the directory that receives the JSON files. Everything here is deterministic
(fixed key material, fixed addresses, fixed clocks, sorted JSON keys), so running it twice gives the
same files. The one exception is legacy EC (ECDSA) signatures, which pyipv8 randomises: an existing
signature is kept when the reference still accepts it for the same key and message, so regeneration
is stable as long as the files are there.

Value encoding inside the JSON files (``test_vectors.py`` decodes the same tags):

* ``null``, booleans, integers and strings are themselves; a JSON array is a Python list;
* ``{"t": "bytes", "hex": ...}`` is a bytes object;
* ``{"t": "float", "hex": float.hex()}`` is an exact float;
* ``{"t": "tuple", "items": [...]}`` is a plain tuple;
* ``{"t": "UDPv4Address" | "UDPv4LANAddress" | "UDPv6Address" | "DomainAddress", "items": [host, port]}``;
* ``{"t": "payload", "class": name, "fields": {...}}`` is a payload object of a class both sides define.

This script only *uses* pyipv8; none of its code ends up in txipv8.
"""
import asyncio
import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path

REFERENCE_DISTRIBUTION = "pyipv8"
REFERENCE_VERSION = "3.2.1"


sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.reference_interpreter import require_reference  # noqa: E402

require_reference(__file__, ".venv-ref/bin/python tests/vectors/make_vectors.py tests/vectors   (or: make vectors)")

# pylint: disable=wrong-import-position
from ipv8.community import Community, CommunitySettings  # noqa: E402
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import (  # noqa: E402
    DomainAddress,
    UDPv4Address,
    UDPv4LANAddress,
    UDPv6Address,
)
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile  # noqa: E402
from ipv8.messaging.payload import (  # noqa: E402
    IntroductionRequestPayload,
    IntroductionResponsePayload,
    NewIntroductionRequestPayload,
    NewIntroductionResponsePayload,
    NewPuncturePayload,
    NewPunctureRequestPayload,
    PuncturePayload,
    PunctureRequestPayload,
)
from ipv8.messaging.payload_dataclass import DataClassPayload, type_from_format  # noqa: E402
from ipv8.messaging.payload_headers import (  # noqa: E402
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from ipv8.messaging.serialization import PackError, Serializable, default_serializer  # noqa: E402
from ipv8.peer import Peer  # noqa: E402
from ipv8.peerdiscovery.network import Network  # noqa: E402
from ipv8.test.mocking.endpoint import MockEndpoint  # noqa: E402

ADDRESS_TYPES = (UDPv4Address, UDPv4LANAddress, UDPv6Address, DomainAddress)

# ---------------------------------------------------------------------------------------------------------------
# Payload classes that the vectors use besides the framework ones. test_vectors.py defines the same
# shapes with txipv8's classes (keep the two in step).
# ---------------------------------------------------------------------------------------------------------------


class Point(VariablePayload):
    """Plain (not compiled) VariablePayload, used nested."""

    format_list = ["I", "H"]
    names = ["x", "y"]


@vp_compile
class Greeting(VariablePayload):
    """Compiled VariablePayload with a UTF-8 string."""

    msg_id = 2
    format_list = ["varlenHutf8", "I"]
    names = ["text", "number"]


@vp_compile
class Route(VariablePayload):
    """Nested payload, payload list and string in one message."""

    msg_id = 3
    format_list = [Point, [Point], "varlenHutf8", "?"]
    names = ["origin", "hops", "label", "final"]


@dataclasses.dataclass
class Pair(DataClassPayload[1]):
    """Two plain ints: each becomes a signed 64-bit "q"."""

    first: int
    second: int


@dataclasses.dataclass
class Item(DataClassPayload):
    """Dataclass used nested inside Basket."""

    foo: int
    bar: int


@dataclasses.dataclass
class Basket(DataClassPayload[4]):
    """Dataclass with a nested dataclass, a list of them and a trailing int."""

    item: Item
    items: list[Item]
    baz: int


U32 = type_from_format("I")
U16 = type_from_format("H")


@dataclasses.dataclass
class Everything(DataClassPayload[5]):
    """One field per type hint that the dataclass payload maps to a format."""

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


# Attributes that describe a payload object, per class. VariablePayload classes use their ``names``.
OLD_STYLE_FIELDS = {
    "BinMemberAuthenticationPayload": ["public_key_bin"],
    "GlobalTimeDistributionPayload": ["global_time"],
    "IntroductionRequestPayload": ["destination_address", "source_lan_address", "source_wan_address", "advice",
                                   "connection_type", "identifier", "extra_bytes", "supports_new_style"],
    "IntroductionResponsePayload": ["destination_address", "source_lan_address", "source_wan_address",
                                    "lan_introduction_address", "wan_introduction_address", "connection_type",
                                    "identifier", "extra_bytes", "supports_new_style", "intro_supports_new_style",
                                    "peer_limit_reached"],
    "PunctureRequestPayload": ["lan_walker_address", "wan_walker_address", "identifier"],
    "PuncturePayload": ["source_lan_address", "source_wan_address", "identifier"],
}


def field_names(obj_or_cls: object) -> list[str]:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    if cls.__name__ in OLD_STYLE_FIELDS:
        return OLD_STYLE_FIELDS[cls.__name__]
    return list(cls.names)


# ---------------------------------------------------------------------------------------------------------------
# JSON encoding of values
# ---------------------------------------------------------------------------------------------------------------


def enc(value: object) -> object:
    """Encode a Python value into the tagged JSON form described in the module docstring."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return {"t": "float", "hex": value.hex()}
    if isinstance(value, (bytes, bytearray)):
        return {"t": "bytes", "hex": bytes(value).hex()}
    if isinstance(value, ADDRESS_TYPES):
        return {"t": type(value).__name__, "items": [value[0], value[1]]}
    if isinstance(value, tuple):
        return {"t": "tuple", "items": [enc(v) for v in value]}
    if isinstance(value, list):
        return [enc(v) for v in value]
    if isinstance(value, Serializable):
        return {"t": "payload", "class": type(value).__name__,
                "fields": {name: enc(getattr(value, name)) for name in field_names(value)}}
    msg = f"cannot encode {value!r}"
    raise TypeError(msg)


def hx(data: bytes) -> str:
    return data.hex()


# ---------------------------------------------------------------------------------------------------------------
# 1. Every packer of the default serializer
# ---------------------------------------------------------------------------------------------------------------


class Probe(Serializable):
    """A one-field Serializable: packs ``(fmt, *args)`` and keeps whatever the packer unpacks."""

    pack_name = ""
    format_list: list = []

    def __init__(self, *args: object) -> None:
        self.args = list(args)

    def to_pack_list(self) -> list[tuple]:
        return [(self.pack_name, *self.args)]

    @classmethod
    def from_unpack_list(cls, *values: object) -> "Probe":
        return cls(*values)


def probe_class(fmt: str) -> type[Probe]:
    if fmt == "payload":
        return type("Probe", (Probe,), {"format_list": [Point], "pack_name": fmt})
    if fmt == "payload-list":
        return type("Probe", (Probe,), {"format_list": [[Point]], "pack_name": fmt})
    return type("Probe", (Probe,), {"format_list": [fmt], "pack_name": fmt})


UNICODE_TEXT = "h\u00e9llo w\u00f6rld \u2713 \u4e2d\u6587 \U0001F680"
PATTERN_300 = bytes(i % 251 for i in range(300))

# format name -> list of (label, packer args). Every format of get_available_formats() needs an entry.
FORMAT_CASES: dict[str, list[tuple[str, tuple]]] = {
    "?": [("false", (False,)), ("true", (True,))],
    "B": [("zero", (0,)), ("one", (1,)), ("max", (255,))],
    "BBH": [("zero", (0, 0, 0)), ("max", (255, 255, 65535)), ("mixed", (1, 2, 0x0304))],
    "BH": [("zero", (0, 0)), ("max", (255, 65535)), ("mixed", (7, 0x1234))],
    "c": [("nul", (b"\x00",)), ("letter", (b"Y",)), ("high", (b"\xff",))],
    "f": [("zero", (0.0,)), ("one-and-half", (1.5,)), ("negative", (-2.75,)), ("pi-rounded", (3.141592653589793,)),
          ("infinity", (float("inf"),))],
    "d": [("zero", (0.0,)), ("pi", (3.141592653589793,)), ("negative-huge", (-1.7976931348623157e308,)),
          ("smallest-subnormal", (5e-324,)), ("minus-zero", (-0.0,))],
    "H": [("zero", (0,)), ("one", (1,)), ("max", (65535,))],
    "HH": [("zero", (0, 0)), ("max", (65535, 65535)), ("mixed", (1, 0xABCD))],
    "I": [("zero", (0,)), ("mixed", (0x01020304,)), ("max", (2 ** 32 - 1,))],
    "l": [("zero", (0,)), ("minus-one", (-1,)), ("min", (-2 ** 31,)), ("max", (2 ** 31 - 1,))],
    "LL": [("zero", (0, 0)), ("max", (2 ** 32 - 1, 2 ** 32 - 1)), ("mixed", (1, 0xDEADBEEF))],
    "q": [("zero", (0,)), ("minus-one", (-1,)), ("min", (-2 ** 63,)), ("max", (2 ** 63 - 1,))],
    "Q": [("zero", (0,)), ("mixed", (0x0102030405060708,)), ("max", (2 ** 64 - 1,))],
    "QH": [("zero", (0, 0)), ("max", (2 ** 64 - 1, 65535))],
    "QL": [("zero", (0, 0)), ("max", (2 ** 64 - 1, 2 ** 32 - 1))],
    "QQHHBH": [("zero", (0, 0, 0, 0, 0, 0)), ("max", (2 ** 64 - 1, 2 ** 64 - 1, 65535, 65535, 255, 65535)),
               ("mixed", (1, 2, 3, 4, 5, 6))],
    "ccB": [("zero", (b"\x00", b"\x00", 0)), ("mixed", (b"a", b"\xfe", 255))],
    "4SH": [("zero", (b"\x00\x00\x00\x00", 0)), ("address", (bytes([192, 0, 2, 1]), 8090)),
            ("max", (b"\xff\xff\xff\xff", 65535))],
    "20s": [("zeros", (bytes(20),)), ("pattern", (bytes(range(20)),))],
    "32s": [("zeros", (bytes(32),)), ("pattern", (bytes(range(100, 132)),))],
    "64s": [("pattern", (bytes(range(64)),)), ("ones", (b"\xff" * 64,))],
    "74s": [("pattern", (bytes(range(74)),))],
    "c20s": [("dispersy-intro", (b"Y", bytes(range(20)))), ("zeros", (b"\x00", bytes(20)))],
    "bits": [("none", (0, 0, 0, 0, 0, 0, 0, 0)), ("all", (1, 1, 1, 1, 1, 1, 1, 1)),
             ("first-only", (1, 0, 0, 0, 0, 0, 0, 0)), ("last-only", (0, 0, 0, 0, 0, 0, 0, 1)),
             ("bools-mixed", (True, False, True, False, False, True, False, True))],
    "ipv4": [("zero", (UDPv4Address("0.0.0.0", 0),)), ("documentation", (UDPv4Address("192.0.2.33", 8090),)),
             ("max", (UDPv4Address("255.255.255.255", 65535),)), ("plain-tuple", (("10.1.2.3", 1),))],
    "ip_address": [("ipv4", (UDPv4Address("192.0.2.33", 8090),)), ("ipv4-zero", (UDPv4Address("0.0.0.0", 0),)),
                   ("ipv6-loopback", (UDPv6Address("::1", 8090),)),
                   ("ipv6-doc", (UDPv6Address("2001:db8::1234:5678", 65535),)),
                   ("ipv6-full", (UDPv6Address("fe80:1:2:3:4:5:6:7", 1),)),
                   ("ipv6-unspecified", (UDPv6Address("::", 0),)),
                   ("ipv4-mapped", (UDPv6Address("::ffff:192.0.2.1", 7),)),
                   ("plain-tuple-v4", (("127.0.0.1", 2),))],
    "address": [("ipv4", (UDPv4Address("192.0.2.33", 8090),)), ("ipv6", (UDPv6Address("2001:db8::7", 443),)),
                ("domain", (DomainAddress("localhost", 8090),)),
                ("domain-unicode", (DomainAddress("b\u00fccher.example", 80),)),
                ("domain-empty", (DomainAddress("", 0),)),
                ("domain-max-port", (DomainAddress("tracker.example.org", 65535),))],
    "raw": [("empty", (b"",)), ("bytes", (b"\x00\x01\xfe\xff",)), ("long", (PATTERN_300,))],
    "varlenBx2": [("empty", (b"",)), ("one-unit", (b"\x01\x02",)), ("max", (bytes(i % 256 for i in range(510)),))],
    "varlenH": [("empty", (b"",)), ("short", (b"abc",)), ("nul", (b"\x00",)), ("long", (PATTERN_300,))],
    "varlenHutf8": [("empty", ("",)), ("ascii", ("hello",)), ("unicode", (UNICODE_TEXT,)), ("nul", ("\x00",))],
    "varlenIutf8": [("empty", ("",)), ("ascii", ("hello",)), ("unicode", (UNICODE_TEXT,))],
    "varlenHx20": [("empty", (b"",)), ("one-id", (bytes(range(20)),)), ("three-ids", (bytes(range(60)),))],
    "varlenH-list": [("empty", ([],)), ("one-empty", ([b""],)), ("several", ([b"a", b"bc", PATTERN_300[:40]],))],
    "varlenI": [("empty", (b"",)), ("short", (b"xyz",)), ("long", (PATTERN_300,))],
    "doublevarlenH": [("empty", (b"",)), ("short", (b"\x00\xff",))],
    "payload": [("point", (Point(1, 2),)), ("point-max", (Point(2 ** 32 - 1, 65535),))],
    "payload-list": [("empty", ([],)), ("two", ([Point(0, 0), Point(3, 4)],))],
    "arrayH-?": [("empty", ([],)), ("mixed", ([True, False, True, True],))],
    "arrayH-q": [("empty", ([],)), ("edges", ([0, 1, -1, 2 ** 63 - 1, -2 ** 63],))],
    "arrayH-d": [("empty", ([],)), ("values", ([0.0, 1.5, -2.25, 1e300],))],
}

# Inputs pyipv8 refuses with PackError (through pack_serializable / unpack_serializable).
PACK_ERROR_CASES: list[tuple[str, str, tuple]] = [
    ("ip_address", "domain-rejected", (DomainAddress("localhost", 8090),)),
    ("H", "too-big", (65536,)),
    ("B", "negative", (-1,)),
]
UNPACK_ERROR_CASES: list[tuple[str, str, bytes]] = [
    ("ip_address", "domain-type-rejected", bytes.fromhex("0200096c6f63616c686f73741f9a")),
    ("address", "unknown-type", bytes.fromhex("0700000000")),
    ("H", "truncated", b"\x01"),
    ("Q", "truncated", bytes(7)),
    ("ipv4", "truncated", bytes(5)),
    ("bits", "empty", b""),
]


def make_format_vectors() -> dict:
    available = default_serializer.get_available_formats()
    missing = sorted(set(available) - set(FORMAT_CASES))
    if missing:
        msg = f"no vectors defined for formats {missing}"
        raise SystemExit(msg)
    vectors = []
    for fmt in available:
        probe = probe_class(fmt)
        for label, args in FORMAT_CASES[fmt]:
            packed = default_serializer.pack_serializable(probe(*args))
            unpacked, end = default_serializer.unpack_serializable(probe, packed)
            assert end == len(packed), (fmt, label)
            vector = {"name": f"{fmt}/{label}", "format": fmt, "args": enc(list(args)), "packed": hx(packed),
                      "unpacked": enc(unpacked.args)}
            if len(args) == 1:
                # The single-value API: Serializer.pack(fmt, value).
                assert default_serializer.pack(fmt, args[0]) == packed
            vectors.append(vector)
    for fmt, label, args in PACK_ERROR_CASES:
        try:
            default_serializer.pack_serializable(probe_class(fmt)(*args))
        except PackError:
            pass
        else:
            raise AssertionError((fmt, label))
        vectors.append({"name": f"{fmt}/pack-error/{label}", "format": fmt, "args": enc(list(args)),
                        "error": "PackError"})
    for fmt, label, data in UNPACK_ERROR_CASES:
        try:
            default_serializer.unpack_serializable(probe_class(fmt), data)
        except PackError:
            pass
        else:
            raise AssertionError((fmt, label))
        vectors.append({"name": f"{fmt}/unpack-error/{label}", "format": fmt, "packed": hx(data),
                        "error": "PackError"})
    return {"available_formats": available, "vectors": vectors}


# ---------------------------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------------------------

CURVE25519_MATERIAL = {
    "counting": bytes(range(64)),
    "zeros": bytes(64),
    "sha512-derived": hashlib.sha512(b"txipv8 curve25519 vector key").digest(),
}
SIGNED_MESSAGES = {
    "empty": b"",
    "hello": b"hello",
    "kilobyte": bytes(i % 256 for i in range(1024)),
}


def curve25519_key(name: str):  # noqa: ANN201
    return default_eccrypto.key_from_private_bin(b"LibNaCLSK:" + CURVE25519_MATERIAL[name])


def make_curve25519_vectors() -> dict:
    vectors = []
    for name in CURVE25519_MATERIAL:
        key = curve25519_key(name)
        public = key.pub()
        signatures = {}
        for label, message in SIGNED_MESSAGES.items():
            signature = default_eccrypto.create_signature(key, message)
            assert signature == key.signature(message)  # Ed25519 is deterministic
            assert public.verify(signature, message)
            signatures[label] = {"message": hx(message), "signature": hx(signature)}
        vectors.append({"name": name, "private_bin": hx(key.key_to_bin()), "public_bin": hx(public.key_to_bin()),
                        "mid": hx(default_eccrypto.key_to_hash(key)),
                        "signature_length": default_eccrypto.get_signature_length(public),
                        "signatures": signatures})
    return {"vectors": vectors}


EC_LEVELS = {  # level -> (curve, DER curve OID content, private scalar length in bytes)
    "very-low": ("sect163k1", "2b81040001", 21),
    "low": ("sect233k1", "2b8104001a", 29),
    "medium": ("sect409k1", "2b81040024", 51),
    "high": ("sect571k1", "2b81040026", 72),
}
EC_MESSAGE = b"txipv8 legacy EC vector message"


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    size_bytes = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size_bytes)]) + size_bytes + content


def _der_last_element(der: bytes) -> bytes:
    """Return the last complete TLV inside the outer SEQUENCE (for an SPKI: the public point BIT STRING)."""
    def header(pos: int) -> tuple[int, int]:
        """(start of content, content length) of the TLV at ``pos``."""
        size = der[pos + 1]
        if size < 0x80:
            return pos + 2, size
        count = size & 0x7F
        return pos + 2 + count, int.from_bytes(der[pos + 2:pos + 2 + count], "big")

    pos, _ = header(0)
    last = b""
    while pos < len(der):
        content, size = header(pos)
        last = der[pos:content + size]
        pos = content + size
    return last


def ec_private_bin(level: str) -> bytes:
    """Fixed SEC1 ECPrivateKey DER for a level: fixed scalar, curve OID and the matching public point."""
    curve, oid_hex, scalar_len = EC_LEVELS[level]
    seed = hashlib.sha512(f"txipv8 legacy EC vector key {level}".encode()).digest() * 2
    scalar = b"\x01" + seed[:scalar_len - 1]  # leading 0x01 keeps it below every one of these curve orders
    oid = _der(0x06, bytes.fromhex(oid_hex))
    without_point = _der(0x30, _der(0x02, b"\x01") + _der(0x04, scalar) + _der(0xA0, oid))
    spki = default_eccrypto.key_from_private_bin(without_point).pub().key_to_bin()
    bit_string = _der_last_element(spki)
    assert bit_string[0] == 0x03, spki.hex()
    full = _der(0x30, _der(0x02, b"\x01") + _der(0x04, scalar) + _der(0xA0, oid) + _der(0xA1, bit_string))
    key = default_eccrypto.key_from_private_bin(full)
    assert key.key_to_bin() == full, (level, key.key_to_bin().hex(), full.hex())
    assert key.curve_name() == curve, key.curve_name()
    return full


def _load_previous(path: Path) -> dict:
    if path.exists():
        return {vector["name"]: vector for vector in json.loads(path.read_text())["vectors"]}
    return {}


def make_legacy_ec_vectors(previous: dict) -> dict:
    vectors = []
    for level, (curve, _, _) in EC_LEVELS.items():
        key = default_eccrypto.key_from_private_bin(ec_private_bin(level))
        public = key.pub()
        old = previous.get(level)
        signature = None
        if old and old.get("private_bin") == hx(key.key_to_bin()) and old.get("message") == hx(EC_MESSAGE):
            candidate = bytes.fromhex(old["signature"])
            if public.verify(candidate, EC_MESSAGE):
                signature = candidate  # ECDSA is randomised: keep the accepted one so the file stays stable
        if signature is None:
            signature = key.signature(EC_MESSAGE)
        assert default_eccrypto.is_valid_signature(public, EC_MESSAGE, signature)
        assert not default_eccrypto.is_valid_signature(public, EC_MESSAGE + b"!", signature)
        assert default_eccrypto.key_from_public_bin(public.key_to_bin()).key_to_bin() == public.key_to_bin()
        vectors.append({"name": level, "level": level, "curve": curve, "private_bin": hx(key.key_to_bin()),
                        "public_bin": hx(public.key_to_bin()), "mid": hx(default_eccrypto.key_to_hash(public)),
                        "signature_length": default_eccrypto.get_signature_length(public),
                        "message": hx(EC_MESSAGE), "signature": hx(signature)})
    return {"vectors": vectors}


# ---------------------------------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------------------------------

V4_A = UDPv4Address("192.0.2.1", 8090)
V4_B = UDPv4Address("198.51.100.7", 6421)
V4_C = UDPv4Address("203.0.113.200", 65535)
V4_LAN = UDPv4Address("192.168.1.10", 8090)
V4_ZERO = UDPv4Address("0.0.0.0", 0)
V6_A = UDPv6Address("2001:db8::1", 8090)
V6_B = UDPv6Address("fe80::1:2:3:4", 1)
V6_LOOP = UDPv6Address("::1", 65535)
PUBLIC_KEY_BIN = curve25519_key("counting").pub().key_to_bin()

REQUEST_FLAG_NAMES = ["connection_type_0", "connection_type_1", "supports_new_style", "dflag1", "dflag2",
                      "tunnel", "sync", "advice"]
RESPONSE_FLAG_NAMES = ["intro_supports_new_style", "flag1", "flag2", "flag3", "flag4", "flag5", "flag6", "flag7"]


def _request_flags(**set_bits: int) -> dict:
    return {name: set_bits.get(name, 0) for name in REQUEST_FLAG_NAMES}


def _response_flags(**set_bits: int) -> dict:
    return {name: set_bits.get(name, 0) for name in RESPONSE_FLAG_NAMES}


def payload_cases() -> list[tuple[str, type, dict]]:
    """(label, class, constructor keyword arguments)."""
    cases: list[tuple[str, type, dict]] = [
        ("auth/curve25519", BinMemberAuthenticationPayload, {"public_key_bin": PUBLIC_KEY_BIN}),
        ("auth/legacy-ec", BinMemberAuthenticationPayload,
         {"public_key_bin": default_eccrypto.key_from_private_bin(ec_private_bin("very-low")).pub().key_to_bin()}),
        ("auth/empty", BinMemberAuthenticationPayload, {"public_key_bin": b""}),
        ("global-time/zero", GlobalTimeDistributionPayload, {"global_time": 0}),
        ("global-time/one", GlobalTimeDistributionPayload, {"global_time": 1}),
        ("global-time/max", GlobalTimeDistributionPayload, {"global_time": 2 ** 64 - 1}),
    ]
    base_request = {"destination_address": V4_A, "source_lan_address": V4_LAN, "source_wan_address": V4_B,
                    "advice": True, "connection_type": "unknown", "identifier": 4465, "extra_bytes": b""}
    for label, changes in [
        ("default-3.2.1-send", {"supports_new_style": False}),
        ("supports-new-style", {"supports_new_style": True}),
        ("no-advice", {"advice": False, "supports_new_style": False}),
        ("public", {"connection_type": "public", "supports_new_style": True}),
        ("symmetric-nat", {"connection_type": "symmetric-NAT", "advice": False, "supports_new_style": False}),
        ("tunnel-extra-bytes", {"extra_bytes": b"\x00\x07", "supports_new_style": True}),
        ("identifier-wraps", {"identifier": 70000, "supports_new_style": False}),
        ("zero-addresses", {"destination_address": V4_ZERO, "source_lan_address": V4_ZERO,
                            "source_wan_address": V4_ZERO, "identifier": 0, "supports_new_style": False}),
    ]:
        cases.append((f"intro-request/{label}", IntroductionRequestPayload, {**base_request, **changes}))
    base_response = {"destination_address": V4_A, "source_lan_address": V4_LAN, "source_wan_address": V4_B,
                     "lan_introduction_address": V4_ZERO, "wan_introduction_address": V4_ZERO,
                     "connection_type": "unknown", "identifier": 4465, "extra_bytes": b""}
    for label, changes in [
        ("default-3.2.1-send", {}),
        ("no-new-style", {"supports_new_style": False}),
        ("introduction", {"lan_introduction_address": UDPv4Address("192.168.1.20", 7001),
                          "wan_introduction_address": V4_C, "intro_supports_new_style": True}),
        ("peer-limit-reached", {"peer_limit_reached": True}),
        ("all-flags", {"connection_type": "symmetric-NAT", "supports_new_style": True,
                       "intro_supports_new_style": True, "peer_limit_reached": True, "extra_bytes": b"\xff"}),
        ("public-extra-bytes", {"connection_type": "public", "extra_bytes": b"\x00\x01\x02\x03"}),
        ("identifier-max", {"identifier": 65535}),
    ]:
        cases.append((f"intro-response/{label}", IntroductionResponsePayload, {**base_response, **changes}))
    cases += [
        ("puncture-request/basic", PunctureRequestPayload,
         {"lan_walker_address": V4_LAN, "wan_walker_address": V4_B, "identifier": 4465}),
        ("puncture-request/zero", PunctureRequestPayload,
         {"lan_walker_address": V4_ZERO, "wan_walker_address": V4_ZERO, "identifier": 0}),
        ("puncture-request/identifier-wraps", PunctureRequestPayload,
         {"lan_walker_address": V4_LAN, "wan_walker_address": V4_C, "identifier": 65536 + 5}),
        ("puncture/basic", PuncturePayload,
         {"source_lan_address": V4_LAN, "source_wan_address": V4_B, "identifier": 4465}),
        ("puncture/max", PuncturePayload,
         {"source_lan_address": UDPv4Address("255.255.255.255", 65535), "source_wan_address": V4_C,
          "identifier": 65535}),
    ]
    base_new_request = {"destination_address": V4_A, "source_lan_address": V4_LAN, "source_wan_address": V4_B,
                        "identifier": 4465, "extra_bytes": b""}
    for label, address_changes, flags in [
        ("ipv4-no-flags", {}, _request_flags()),
        ("ipv6-destination", {"destination_address": V6_A}, _request_flags()),
        ("ipv6-all", {"destination_address": V6_A, "source_lan_address": V6_B, "source_wan_address": V6_LOOP},
         _request_flags()),
        ("supports-new-style", {}, _request_flags(supports_new_style=1)),
        ("tunnel-bit", {}, _request_flags(tunnel=1)),
        ("advice-bit", {}, _request_flags(advice=1)),
        ("public", {}, _request_flags(connection_type_0=1)),
        ("symmetric-nat", {}, _request_flags(connection_type_0=1, connection_type_1=1)),
        ("all-bits", {"extra_bytes": b"\x00\x0f"}, _request_flags(**dict.fromkeys(REQUEST_FLAG_NAMES, 1))),
        ("dflags-sync", {}, _request_flags(dflag1=1, dflag2=1, sync=1)),
    ]:
        cases.append((f"new-intro-request/{label}", NewIntroductionRequestPayload,
                      {**base_new_request, **address_changes, **flags}))
    base_new_response = {"destination_address": V4_A, "source_lan_address": V4_LAN, "source_wan_address": V4_B,
                         "lan_introduction_address": V4_ZERO, "wan_introduction_address": V4_ZERO,
                         "identifier": 4465, "extra_bytes": b""}
    for label, address_changes, flags in [
        ("ipv4-no-intro", {}, _response_flags()),
        ("intro-new-style", {"lan_introduction_address": UDPv4Address("192.168.1.20", 7001),
                             "wan_introduction_address": V4_C}, _response_flags(intro_supports_new_style=True)),
        ("ipv6-intro", {"destination_address": V6_A, "source_lan_address": V6_B, "source_wan_address": V6_LOOP,
                        "lan_introduction_address": V4_ZERO, "wan_introduction_address": V6_A},
         _response_flags(intro_supports_new_style=True)),
        ("all-bits-extra", {"extra_bytes": b"\xca\xfe"}, _response_flags(**dict.fromkeys(RESPONSE_FLAG_NAMES, 1))),
        ("last-bit", {}, _response_flags(flag7=1)),
    ]:
        cases.append((f"new-intro-response/{label}", NewIntroductionResponsePayload,
                      {**base_new_response, **address_changes, **flags}))
    cases += [
        ("new-puncture-request/ipv4", NewPunctureRequestPayload,
         {"lan_walker_address": V4_LAN, "wan_walker_address": V4_B, "identifier": 4465}),
        ("new-puncture-request/ipv6", NewPunctureRequestPayload,
         {"lan_walker_address": V4_ZERO, "wan_walker_address": V6_A, "identifier": 65535}),
        ("new-puncture-request/mixed", NewPunctureRequestPayload,
         {"lan_walker_address": V6_B, "wan_walker_address": V4_C, "identifier": 0}),
        ("new-puncture/ipv4", NewPuncturePayload,
         {"source_lan_address": V4_LAN, "source_wan_address": V4_B, "identifier": 4465}),
        ("new-puncture/ipv6", NewPuncturePayload,
         {"source_lan_address": V6_LOOP, "source_wan_address": V6_A, "identifier": 1}),
        ("point/basic", Point, {"x": 7, "y": 9}),
        ("greeting/ascii", Greeting, {"text": "hello", "number": 1}),
        ("greeting/unicode", Greeting, {"text": UNICODE_TEXT, "number": 2 ** 32 - 1}),
        ("greeting/empty", Greeting, {"text": "", "number": 0}),
        ("route/nested", Route, {"origin": Point(1, 2), "hops": [Point(3, 4), Point(5, 6)], "label": "r\u00f6ute",
                                 "final": True}),
        ("route/no-hops", Route, {"origin": Point(0, 0), "hops": [], "label": "", "final": False}),
        ("pair/small", Pair, {"first": 1, "second": 2}),
        ("pair/edges", Pair, {"first": -2 ** 63, "second": 2 ** 63 - 1}),
        ("basket/nested", Basket, {"item": Item(1, -1), "items": [Item(2, 3), Item(4, 5), Item(-6, 7)], "baz": 42}),
        ("basket/empty-list", Basket, {"item": Item(0, 0), "items": [], "baz": -1}),
        ("everything/values", Everything,
         {"flag": True, "count": -5, "ratio": 0.1, "blob": b"\x00\x01", "text": UNICODE_TEXT,
          "numbers": [1, -2, 2 ** 62], "switches": [True, False], "reals": [1.5, -0.25], "small": 65535,
          "medium": 2 ** 32 - 1, "item": Item(8, 9), "items": [Item(10, 11)]}),
        ("everything/empty", Everything,
         {"flag": False, "count": 0, "ratio": 0.0, "blob": b"", "text": "", "numbers": [], "switches": [],
          "reals": [], "small": 0, "medium": 0, "item": Item(0, 0), "items": []}),
    ]
    return cases


# Raw bytes that no 3.2.1 sender produces but every 3.2.1 receiver decodes: checks the decoding rules.
UNPACK_ONLY_CASES = [
    # connection bits 0b01 are not a known type; dflag/tunnel/sync bits are ignored by the old request.
    ("intro-request/unknown-connection-bits", IntroductionRequestPayload,
     "c000020102bc" "c0a8010a1f9a" "c6336407191d" "5e" "0001" "ab"),
    ("intro-request/advice-bit-clear", IntroductionRequestPayload,
     "c000020102bc" "c0a8010a1f9a" "c6336407191d" "00" "ffff"),
    ("intro-response/dflag-bits-set", IntroductionResponsePayload,
     "c000020102bc" "c0a8010a1f9a" "c6336407191d" "000000000000" "000000000000" "e3" "1171"),
]


def make_payload_vectors() -> dict:
    vectors = []
    for label, cls, kwargs in payload_cases():
        payload = cls(**kwargs)
        packed = default_serializer.pack_serializable(payload)
        unpacked, end = default_serializer.unpack_serializable(cls, packed)
        assert end == len(packed), label
        assert default_serializer.pack_serializable(unpacked) == packed or cls is IntroductionRequestPayload, label
        vectors.append({"name": label, "class": cls.__name__, "msg_id": getattr(cls, "msg_id", None),
                        "kwargs": {k: enc(v) for k, v in kwargs.items()}, "packed": hx(packed),
                        "fields": enc(unpacked)["fields"]})
    for label, cls, data_hex in UNPACK_ONLY_CASES:
        data = bytes.fromhex(data_hex)
        unpacked, end = default_serializer.unpack_serializable(cls, data)
        assert end == len(data), label
        vectors.append({"name": label, "class": cls.__name__, "msg_id": cls.msg_id, "packed": data_hex,
                        "fields": enc(unpacked)["fields"]})
    return {"vectors": vectors}


# ---------------------------------------------------------------------------------------------------------------
# Complete packets, built by a 3.2.1 Community
# ---------------------------------------------------------------------------------------------------------------

TEST_COMMUNITY_ID = hashlib.sha1(b"txipv8 test vector community").digest()  # noqa: S324
DISCOVERY_COMMUNITY_ID = bytes.fromhex("7e313685c1912a141279f8248fc8db5899c5df5a")


class RecordingEndpoint(MockEndpoint):
    """An endpoint that counts as open and keeps what the community sends instead of delivering it."""

    def __init__(self) -> None:
        super().__init__(UDPv4Address("192.168.1.10", 8090), UDPv4Address("198.51.100.7", 8090))
        self.sent: list[tuple] = []

    def is_open(self) -> bool:
        return True

    def send(self, socket_address: object, packet: bytes) -> None:
        self.sent.append((socket_address, packet))


def make_community(community_id: bytes, key, clock: int) -> Community:  # noqa: ANN001
    cls = type("VectorCommunity", (Community,), {"community_id": community_id})
    endpoint = RecordingEndpoint()
    community = cls(CommunitySettings(my_peer=Peer(key), endpoint=endpoint, network=Network()))
    community.my_estimated_lan = V4_LAN
    community.my_estimated_wan = V4_B
    community.address_is_lan = lambda address: address.startswith("192.168.")  # independent of this host
    community.my_peer.update_clock(clock)
    return community


def packet_record(name: str, packet: bytes, community_id: bytes, key, payloads: list,  # noqa: ANN001, PLR0913
                  signed: bool, built_by: str, expected_size: int | None = None) -> dict:
    msg_id = packet[22]
    assert packet[:22] == b"\x00\x02" + community_id
    sig_len = default_eccrypto.get_signature_length(key.pub()) if signed else 0
    body = packet[:-sig_len] if signed else packet
    if signed:
        assert default_eccrypto.is_valid_signature(key.pub(), body, packet[-sig_len:])
    # Re-parse with the reference to record the fields a receiver sees.
    classes = [type(p) for p in payloads]
    parsed = default_serializer.unpack_serializable_list(classes, body, offset=23)
    if expected_size is not None:
        assert len(packet) == expected_size, (name, len(packet), expected_size)
    key_type = None
    if signed:
        key_type = "curve25519" if key.pub().curve_name() == "curve25519" else "legacy-ec"
    return {"name": name, "built_by": built_by, "community_id": hx(community_id), "msg_id": msg_id, "signed": signed,
            "private_bin": hx(key.key_to_bin()), "key_type": key_type, "signature_length": sig_len, "size": len(packet),
            "expected_size": expected_size,
            "payloads": [{"class": type(p).__name__, "kwargs": enc(p)["fields"], "fields": enc(q)["fields"]}
                         for p, q in zip(payloads, parsed)],
            "packet": hx(packet)}


NO_ADDRESS = ("0.0.0.0", 0)
INTRODUCED_KEY_NAME = "zeros"


def _framework_cases() -> list[dict]:
    """The discovery messages: which Community.create_* call, in which state, and what it must contain.

    ``clock`` is the Lamport clock before the call; every create_* claims the next value (B.3 of the facts).
    ``payloads`` lists the (class, args) after the auth header; the generator checks that packing them the
    EZPackOverlay way gives exactly the bytes the Community method returned.
    """
    no_flags_req = _request_flags()
    no_flags_resp = {k: 0 for k in RESPONSE_FLAG_NAMES[1:]}
    return [
        # 246: the identifier is the claimed global time modulo 65536, and doubles as the dist value.
        {"name": "intro-request/ipv4", "community_id": TEST_COMMUNITY_ID, "clock": 70000,
         "method": "create_introduction_request", "args": [V4_A], "kwargs": {}, "signed": True, "size": 192,
         "payloads": [GlobalTimeDistributionPayload(4465),
                      IntroductionRequestPayload(V4_A, V4_LAN, V4_B, True, "unknown", 4465, b"",
                                                 supports_new_style=False)]},
        {"name": "intro-request/discovery-prefix-extra-bytes", "community_id": DISCOVERY_COMMUNITY_ID, "clock": 9,
         "method": "create_introduction_request", "args": [V4_C], "kwargs": {"extra_bytes": b"\x00\x07"},
         "signed": True, "size": 194,
         "payloads": [GlobalTimeDistributionPayload(10),
                      IntroductionRequestPayload(V4_C, V4_LAN, V4_B, True, "unknown", 10, b"\x00\x07",
                                                 supports_new_style=False)]},
        # 245, without and with an introduced peer (the latter also emits a 250 to that peer).
        {"name": "intro-response/no-introduction", "community_id": TEST_COMMUNITY_ID, "clock": 0,
         "method": "create_introduction_response", "args": [V4_LAN, V4_A, 4465], "kwargs": {}, "signed": True,
         "size": 204,
         "payloads": [GlobalTimeDistributionPayload(1),
                      IntroductionResponsePayload(V4_A, V4_LAN, V4_B, NO_ADDRESS, NO_ADDRESS, "unknown", 4465, b"",
                                                  intro_supports_new_style=False, peer_limit_reached=False)]},
        {"name": "intro-response/introduces-peer", "community_id": TEST_COMMUNITY_ID, "clock": 41,
         "method": "create_introduction_response", "args": [V4_LAN, V4_A, 123], "kwargs": {},
         "introduction": {"address": V4_C, "new_style_intro": False}, "signed": True, "size": 204,
         "payloads": [GlobalTimeDistributionPayload(42),  # claimed before the puncture-request (43)
                      IntroductionResponsePayload(V4_A, V4_LAN, V4_B, NO_ADDRESS, V4_C, "unknown", 123, b"",
                                                  intro_supports_new_style=False, peer_limit_reached=False)]},
        {"name": "puncture-request/sent-with-introduction", "community_id": TEST_COMMUNITY_ID, "clock": 41,
         "method": "create_introduction_response", "args": [V4_LAN, V4_A, 123], "kwargs": {},
         "introduction": {"address": V4_C, "new_style_intro": False}, "output": "sent", "signed": False,
         "size": 45, "payloads": [GlobalTimeDistributionPayload(43), PunctureRequestPayload(V4_LAN, V4_A, 123)]},
        # 250 and 249.
        {"name": "puncture-request/ipv4", "community_id": TEST_COMMUNITY_ID, "clock": 99,
         "method": "create_puncture_request", "args": [V4_LAN, V4_C, 4465], "kwargs": {}, "signed": False,
         "size": 45, "payloads": [GlobalTimeDistributionPayload(100), PunctureRequestPayload(V4_LAN, V4_C, 4465)]},
        {"name": "puncture/ipv4", "community_id": TEST_COMMUNITY_ID, "clock": 100,
         "method": "create_puncture", "args": [V4_LAN, V4_B, 4465], "kwargs": {}, "signed": True, "size": 185,
         "payloads": [GlobalTimeDistributionPayload(101), PuncturePayload(V4_LAN, V4_B, 4465)]},
        # 234: on request, and automatically for an IPv6 target. The clock wraps to identifier 0 here.
        {"name": "new-intro-request/ipv4", "community_id": TEST_COMMUNITY_ID, "clock": 65535,
         "method": "create_introduction_request", "args": [V4_A], "kwargs": {"new_style": True}, "signed": True,
         "size": 195,
         "payloads": [GlobalTimeDistributionPayload(0),
                      NewIntroductionRequestPayload(V4_A, V4_LAN, V4_B, 0, **no_flags_req, extra_bytes=b"")]},
        {"name": "new-intro-request/ipv6-target", "community_id": TEST_COMMUNITY_ID, "clock": 7,
         "method": "create_introduction_request", "args": [V6_A], "kwargs": {}, "signed": True, "size": 207,
         "payloads": [GlobalTimeDistributionPayload(8),
                      NewIntroductionRequestPayload(V6_A, V4_LAN, V4_B, 8, **no_flags_req, extra_bytes=b"")]},
        # 233, plain and introducing a new-style IPv6 peer (which also emits a 232 with an IPv6 walker).
        {"name": "new-intro-response/ipv4", "community_id": TEST_COMMUNITY_ID, "clock": 1,
         "method": "create_introduction_response", "args": [V4_LAN, V4_A, 4465], "kwargs": {"new_style": True},
         "signed": True, "size": 209,
         "payloads": [GlobalTimeDistributionPayload(2),
                      NewIntroductionResponsePayload(V4_A, V4_LAN, V4_B, NO_ADDRESS, NO_ADDRESS, 4465, False,
                                                     **no_flags_resp, extra_bytes=b"")]},
        {"name": "new-intro-response/ipv6-introduction", "community_id": TEST_COMMUNITY_ID, "clock": 500,
         "method": "create_introduction_response", "args": [V4_LAN, V6_LOOP, 77], "kwargs": {"new_style": True},
         "introduction": {"address": V6_A, "new_style_intro": True}, "signed": True, "size": 209 + 12 + 12,
         "payloads": [GlobalTimeDistributionPayload(501),
                      NewIntroductionResponsePayload(V6_LOOP, V4_LAN, V4_B, NO_ADDRESS, V6_A, 77, True,
                                                     **no_flags_resp, extra_bytes=b"")]},
        {"name": "new-puncture-request/ipv6-walker", "community_id": TEST_COMMUNITY_ID, "clock": 500,
         "method": "create_introduction_response", "args": [V4_LAN, V6_LOOP, 77], "kwargs": {"new_style": True},
         "introduction": {"address": V6_A, "new_style_intro": True}, "output": "sent", "signed": False,
         "size": 47 + 12,
         "payloads": [GlobalTimeDistributionPayload(502), NewPunctureRequestPayload(V4_LAN, V6_LOOP, 77)]},
        # 232 on request, and 231.
        {"name": "new-puncture-request/ipv4", "community_id": TEST_COMMUNITY_ID, "clock": 3,
         "method": "create_puncture_request", "args": [V4_LAN, V4_C, 4465], "kwargs": {"new_style": True},
         "signed": False, "size": 47,
         "payloads": [GlobalTimeDistributionPayload(4), NewPunctureRequestPayload(V4_LAN, V4_C, 4465)]},
        {"name": "new-puncture/ipv4", "community_id": TEST_COMMUNITY_ID, "clock": 4,
         "method": "create_puncture", "args": [V4_LAN, V4_B, 4465], "kwargs": {"new_style": True}, "signed": True,
         "size": 187, "payloads": [GlobalTimeDistributionPayload(5), NewPuncturePayload(V4_LAN, V4_B, 4465)]},
        {"name": "new-puncture/ipv6", "community_id": TEST_COMMUNITY_ID, "clock": 5,
         "method": "create_puncture", "args": [V6_B, V6_A, 9], "kwargs": {"new_style": True}, "signed": True,
         "size": 187 + 24, "payloads": [GlobalTimeDistributionPayload(6), NewPuncturePayload(V6_B, V6_A, 9)]},
    ]


def _framework_packets(key) -> list[dict]:  # noqa: ANN001
    """Run each Community.create_* call of _framework_cases() and record the packet it produced."""
    records = []
    for case in _framework_cases():
        community = make_community(case["community_id"], key, case["clock"])
        kwargs = dict(case["kwargs"])
        introduction = case.get("introduction")
        if introduction:
            peer = Peer(curve25519_key(INTRODUCED_KEY_NAME).pub(), introduction["address"])
            peer.new_style_intro = introduction["new_style_intro"]
            kwargs["introduction"] = peer
        returned = getattr(community, case["method"])(*case["args"], **kwargs)
        output = case.get("output", "return")
        if output == "sent":
            (target, packet), = community.endpoint.sent
            assert target == introduction["address"], target
        else:
            packet = returned
        payloads = case["payloads"]
        if case["signed"]:
            payloads = [BinMemberAuthenticationPayload(key.pub().key_to_bin()), *payloads]
        manual = community._ez_pack(community.get_prefix(), payloads[-1].msg_id, payloads,  # noqa: SLF001
                                    case["signed"])
        assert manual == packet, (case["name"], manual.hex(), packet.hex())
        record = packet_record(case["name"], packet, case["community_id"], key, payloads, case["signed"],
                               f"Community.{case['method']}", case["size"])
        record["community_call"] = {
            "method": case["method"], "args": enc(list(case["args"])),
            "kwargs": {k: enc(v) for k, v in case["kwargs"].items()},
            "clock": case["clock"], "my_estimated_lan": enc(community.my_estimated_lan),
            "my_estimated_wan": enc(community.my_estimated_wan), "output": output,
            "introduction": None if not introduction else {
                "public_bin": hx(curve25519_key(INTRODUCED_KEY_NAME).pub().key_to_bin()),
                "address": enc(introduction["address"]), "new_style_intro": introduction["new_style_intro"]},
        }
        records.append(record)
    return records


def _custom_packets(key) -> list[dict]:  # noqa: ANN001
    """Application messages sent the EZPackOverlay way: ezr_pack(msg_id, *payloads)."""
    records = []
    c = make_community(TEST_COMMUNITY_ID, key, 0)
    auth = BinMemberAuthenticationPayload(key.pub().key_to_bin())
    cases = [
        ("dataclass-pair", [Pair(1, 2)], True),
        ("dataclass-pair-with-global-time", [GlobalTimeDistributionPayload(12345), Pair(-7, 2 ** 40)], True),
        ("vp-compile-greeting", [Greeting(UNICODE_TEXT, 31337)], True),
        ("nested-route", [GlobalTimeDistributionPayload(3),
                          Route(Point(1, 2), [Point(3, 4), Point(5, 6)], "via \u00e9t\u00e9", True)], True),
        ("dataclass-basket", [Basket(Item(1, 2), [Item(3, 4), Item(5, 6)], 7)], True),
        ("dataclass-everything", [Everything(True, -1, 2.5, b"\x01\x02\x03", "t\u00e9xt", [1, 2, -3],
                                             [False, True], [0.5], 80, 443, Item(1, 1), [Item(2, 2)])], True),
        ("unsigned-greeting", [Greeting("no signature", 0)], False),
        ("unsigned-pair-with-global-time", [GlobalTimeDistributionPayload(2 ** 64 - 1), Pair(0, 0)], False),
    ]
    for name, payloads, signed in cases:
        msg_id = payloads[-1].msg_id
        built = c.ezr_pack(msg_id, *payloads, sig=signed)
        full = [auth, *payloads] if signed else payloads
        records.append(packet_record(f"custom/{name}", built, TEST_COMMUNITY_ID, key, full, signed,
                                     "EZPackOverlay.ezr_pack"))
    return records


def _legacy_ec_packets(previous: dict) -> list[dict]:
    """One introduction-request signed by each legacy EC level (ECDSA: signature kept when still valid)."""
    records = []
    for level in EC_LEVELS:
        key = default_eccrypto.key_from_private_bin(ec_private_bin(level))
        c = make_community(TEST_COMMUNITY_ID, key, 0)
        name = f"legacy-ec/{level}/intro-request"
        built = c.create_introduction_request(V4_A)
        sig_len = default_eccrypto.get_signature_length(key.pub())
        old = previous.get(name)
        if old:
            old_packet = bytes.fromhex(old["packet"])
            if old_packet[:-sig_len] == built[:-sig_len] and default_eccrypto.is_valid_signature(
                    key.pub(), old_packet[:-sig_len], old_packet[-sig_len:]):
                built = old_packet
        payloads = [BinMemberAuthenticationPayload(key.pub().key_to_bin()), GlobalTimeDistributionPayload(1),
                    IntroductionRequestPayload(V4_A, V4_LAN, V4_B, True, "unknown", 1, b"", supports_new_style=False)]
        records.append(packet_record(name, built, TEST_COMMUNITY_ID, key, payloads, True,
                                     "Community.create_introduction_request",
                                     192 - 74 - 64 + len(key.pub().key_to_bin()) + sig_len))
    return records


async def make_packet_vectors(previous: dict) -> dict:
    key = curve25519_key("counting")
    records = _framework_packets(key) + _custom_packets(key) + _legacy_ec_packets(previous)
    return {"vectors": records}


# ---------------------------------------------------------------------------------------------------------------


def write_json(path: Path, content: dict) -> None:
    document = {"generator": "tests/vectors/make_vectors.py", "reference": f"{REFERENCE_DISTRIBUTION} "
                f"{REFERENCE_VERSION}", **content}
    path.write_text(json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) != 2:  # noqa: PLR2004
        sys.stderr.write("usage: make_vectors.py OUTPUT_DIRECTORY\n")
        return 2
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "serializer_formats.json", make_format_vectors())
    write_json(out / "payloads.json", make_payload_vectors())
    write_json(out / "keys_curve25519.json", make_curve25519_vectors())
    write_json(out / "keys_legacy_ec.json", make_legacy_ec_vectors(_load_previous(out / "keys_legacy_ec.json")))
    packets = asyncio.run(make_packet_vectors(_load_previous(out / "packets.json")))
    write_json(out / "packets.json", packets)
    total = sum(os.path.getsize(p) for p in out.glob("*.json"))
    sys.stdout.write(f"wrote vectors to {out} ({total} bytes of JSON)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
