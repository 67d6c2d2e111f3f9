"""Support code for the Dispersy-era ("M2Crypto") keys on binary elliptic curves.

Two jobs:

* Know the legacy curves (name, OID, size) independently of ``cryptography``: releases from 47 on no
  longer ship binary curves, and we still want to say *which* curve a key needs and why it cannot be
  used, instead of leaking a generic ASN.1 parse error.
* Hand out ``cryptography`` curve objects when the installed backend still has them, and raise one
  :class:`UnsupportedCurveError` when it does not.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import cryptography
from cryptography.hazmat.primitives.asymmetric import ec

from .exceptions import InvalidKeyError, UnsupportedCurveError


@dataclass(frozen=True)
class LegacyCurve:
    """A binary curve that Dispersy-compatible keys may use."""

    name: str
    oid: bytes  # DER content octets of the named-curve OID
    bits: int
    level: str  # the security level that maps to this curve

    @property
    def signature_length(self) -> int:
        """r and s, each padded to the byte length of the curve order."""
        return 2 * ((self.bits + 7) // 8)


# OIDs are 1.3.132.0.x (the SECG arc): 2b 81 04 00 followed by x.
LEGACY_CURVES: dict[str, LegacyCurve] = {curve.name: curve for curve in (
    LegacyCurve("sect163k1", bytes.fromhex("2b81040001"), 163, "very-low"),
    LegacyCurve("sect233k1", bytes.fromhex("2b8104001a"), 233, "low"),
    LegacyCurve("sect409k1", bytes.fromhex("2b81040024"), 409, "medium"),
    LegacyCurve("sect571r1", bytes.fromhex("2b81040027"), 571, "high"),
    LegacyCurve("sect571k1", bytes.fromhex("2b81040026"), 571, "high"),
)}
_BY_OID = {curve.oid: curve for curve in LEGACY_CURVES.values()}
_EC_PUBLIC_KEY_OID = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1

_curve_objects: dict[str, ec.EllipticCurve] = {}


def unsupported(curve: LegacyCurve) -> UnsupportedCurveError:
    """Build the error raised whenever a legacy curve is needed but missing."""
    return UnsupportedCurveError(
        f"the installed cryptography {cryptography.__version__} does not support binary curve {curve.name} "
        f"(security level {curve.level!r}); Dispersy legacy keys need cryptography<47. "
        f"Use the 'curve25519' security level for new keys.")


def backend_curve(curve: LegacyCurve) -> ec.EllipticCurve:
    """Return the ``cryptography`` object for ``curve``.

    :raises UnsupportedCurveError: if the installed ``cryptography``/OpenSSL lacks the curve.
    """
    cached = _curve_objects.get(curve.name)
    if cached is not None:
        return cached
    with warnings.catch_warnings():
        # cryptography 45/46 warn on every access to the binary curve classes.
        warnings.simplefilter("ignore")
        curve_class = getattr(ec, curve.name.upper(), None)
    if curve_class is None:
        raise unsupported(curve)
    instance = curve_class()
    try:
        from cryptography.hazmat.backends.openssl.backend import backend
        supported = backend.elliptic_curve_supported(instance)
    except Exception:  # noqa: BLE001 - a backend without this probe: assume support, fail later if not
        supported = True
    if not supported:
        raise unsupported(curve)
    _curve_objects[curve.name] = instance
    return instance


def curve_by_name(name: str) -> LegacyCurve:
    """Return the legacy curve called ``name``.

    :raises InvalidKeyError: if ``name`` is not one of the legacy curves.
    """
    try:
        return LEGACY_CURVES[name]
    except (KeyError, TypeError):
        raise InvalidKeyError(f"{name!r} is not a legacy IPv8 curve; expected one of {sorted(LEGACY_CURVES)}") from None


class _DerReader:
    """Just enough DER to find the curve OID of an EC key; ``cryptography`` does the full parse later."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.pos == self.end

    def read(self, expected_tag: int | None = None) -> tuple[int, int, int]:
        """Read one element and return ``(tag, content_start, content_end)``."""
        data, pos, end = self.data, self.pos, self.end
        if end - pos < 2:
            raise InvalidKeyError("truncated DER element")
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 3 or end - pos < count:
                raise InvalidKeyError("bad DER length")
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        if end - pos < length:
            raise InvalidKeyError("DER element runs past the end of the key")
        if expected_tag is not None and tag != expected_tag:
            raise InvalidKeyError(f"unexpected DER tag 0x{tag:02x} (wanted 0x{expected_tag:02x})")
        self.pos = pos + length
        return tag, pos, pos + length

    def enter(self, expected_tag: int) -> _DerReader:
        """Read a constructed element and return a reader over its contents."""
        _, start, stop = self.read(expected_tag)
        return _DerReader(self.data, start, stop)


def _outer_sequence(data: bytes) -> _DerReader:
    top = _DerReader(data)
    body = top.enter(0x30)
    if not top.at_end():
        raise InvalidKeyError(f"{len(data) - top.pos} unexpected bytes after the DER key")
    return body


def _curve_from_oid(data: bytes, start: int, stop: int) -> LegacyCurve:
    oid = data[start:stop]
    curve = _BY_OID.get(oid)
    if curve is None:
        raise InvalidKeyError(f"the key uses curve OID {oid.hex()}, which is not a legacy IPv8 curve")
    return curve


def public_key_curve(data: bytes) -> LegacyCurve:
    """Return the curve named in a DER SubjectPublicKeyInfo.

    :raises InvalidKeyError: if ``data`` is not an EC SubjectPublicKeyInfo on a legacy curve.
    """
    body = _outer_sequence(data)
    algorithm = body.enter(0x30)
    _, start, stop = algorithm.read(0x06)
    if data[start:stop] != _EC_PUBLIC_KEY_OID:
        raise InvalidKeyError("the DER public key is not an elliptic-curve key")
    _, start, stop = algorithm.read(0x06)
    curve = _curve_from_oid(data, start, stop)
    body.read(0x03)
    if not body.at_end():
        raise InvalidKeyError("unexpected fields in the DER public key")
    return curve


def private_key_curve(data: bytes) -> LegacyCurve:
    """Return the curve named in a DER ``ECPrivateKey`` (RFC 5915, "BEGIN EC PRIVATE KEY").

    :raises InvalidKeyError: if ``data`` is not such a key on a legacy curve.
    """
    body = _outer_sequence(data)
    _, start, stop = body.read(0x02)
    if data[start:stop] != b"\x01":
        raise InvalidKeyError("unsupported ECPrivateKey version")
    body.read(0x04)
    parameters = body.enter(0xA0)
    _, start, stop = parameters.read(0x06)
    return _curve_from_oid(data, start, stop)
