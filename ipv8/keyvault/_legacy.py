"""Support code for the Dispersy-era ("M2Crypto") keys on binary elliptic curves.

Three jobs:

* Know the legacy curves (name, OID, sizes, domain parameters: :mod:`ipv8.keyvault._ec2m_curves`).
* Read and write their DER forms ourselves (RFC 5915 ``ECPrivateKey`` and SubjectPublicKeyInfo), in
  exactly the layout OpenSSL writes, so keys stay byte-identical to pyipv8 whatever does the maths.
* Pick a backend for the ECDSA arithmetic. ``cryptography`` 47 and later have no binary curves, so
  txipv8 does not use it here: the system OpenSSL ``libcrypto`` does the work when it has the curve
  (:mod:`ipv8.keyvault._ec2m_openssl`), and a pure-Python implementation
  (:mod:`ipv8.keyvault._ec2m_python`) takes over when it does not.

The environment variable ``TXIPV8_LEGACY_BACKEND`` may be ``auto`` (the default: OpenSSL first, then
Python), ``openssl`` or ``python``; with ``openssl`` and no suitable ``libcrypto`` the legacy levels
raise :class:`UnsupportedCurveError`.
"""
from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from typing import Protocol

from ._ec2m_curves import CURVES, BinaryCurve
from .exceptions import InvalidKeyError, UnsupportedCurveError

__all__ = [
    "BACKEND_ENVIRONMENT_VARIABLE",
    "LEGACY_CURVES",
    "LegacyCurve",
    "available_backends",
    "backend_for",
    "backend_named",
    "curve_by_name",
    "decode_private",
    "decode_public",
    "encode_private",
    "encode_public",
    "generate_secret",
    "public_handle",
    "private_key_curve",
    "public_key_curve",
]

LegacyCurve = BinaryCurve

LEGACY_CURVES: dict[str, LegacyCurve] = {curve.name: curve for curve in CURVES}
_BY_OID = {curve.oid: curve for curve in LEGACY_CURVES.values()}
_EC_PUBLIC_KEY_OID = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1

BACKEND_ENVIRONMENT_VARIABLE = "TXIPV8_LEGACY_BACKEND"
_BACKEND_CHOICES = ("auto", "openssl", "python")


# ---------------------------------------------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------------------------------------------

class PublicHandle(Protocol):
    """A validated public point, ready to verify."""

    @property
    def point(self) -> bytes:
        """The uncompressed octet string, 04 || x || y."""

    def verify(self, digest: bytes, r: int, s: int) -> bool:
        """Check ``(r, s)``, both already known to lie in ``[1, order)``."""


class PrivateHandle(Protocol):
    """A private scalar, ready to sign."""

    @property
    def point(self) -> bytes:
        """The public point, as for :class:`PublicHandle`."""

    @property
    def public(self) -> PublicHandle:
        """The matching verifier."""

    def sign(self, digest: bytes) -> tuple[int, int]:
        """Return ``(r, s)`` for a message digest."""


class Backend(Protocol):
    """What a binary-curve ECDSA implementation offers the key classes."""

    name: str

    @property
    def description(self) -> str:
        """Human-readable name (library and version)."""

    def supports(self, curve: LegacyCurve) -> bool:
        """Return whether this backend can work on ``curve``."""

    def private_handle(self, curve: LegacyCurve, secret: int) -> PrivateHandle:
        """Wrap a private scalar; :raises InvalidKeyError: if it is unusable."""

    def public_handle(self, curve: LegacyCurve, point: bytes) -> PublicHandle:
        """Validate and wrap a public point; :raises InvalidKeyError: if it is not a valid key."""


_backends_lock = threading.Lock()
_backends: dict[str, Backend | None] = {}


def _load(name: str) -> Backend | None:
    with _backends_lock:
        if name not in _backends:
            if name == "openssl":
                from ._ec2m_openssl import load_backend
                _backends[name] = load_backend()
            else:
                from ._ec2m_python import PythonBackend
                _backends[name] = PythonBackend()
        return _backends[name]


def _choice() -> str:
    choice = os.environ.get(BACKEND_ENVIRONMENT_VARIABLE, "auto").strip().lower() or "auto"
    if choice not in _BACKEND_CHOICES:
        raise UnsupportedCurveError(f"{BACKEND_ENVIRONMENT_VARIABLE}={choice!r} is not one of {list(_BACKEND_CHOICES)}")
    return choice


def backend_named(name: str) -> Backend | None:
    """Return the backend called ``name`` (``"openssl"`` or ``"python"``), or ``None`` if it cannot load."""
    return _load(name) if name in ("openssl", "python") else None


def available_backends(curve: LegacyCurve) -> list[Backend]:
    """Return every backend that can handle ``curve``, fastest first (ignores the environment variable)."""
    found = []
    for name in ("openssl", "python"):
        backend = _load(name)
        if backend is not None and backend.supports(curve):
            found.append(backend)
    return found


def backend_for(curve: LegacyCurve) -> Backend:
    """Return the backend that handles ``curve`` under the current ``TXIPV8_LEGACY_BACKEND`` choice.

    :raises UnsupportedCurveError: if the chosen backend cannot handle the curve.
    """
    choice = _choice()
    names = ("openssl", "python") if choice == "auto" else (choice,)
    for name in names:
        backend = _load(name)
        if backend is not None and backend.supports(curve):
            return backend
    raise unsupported(curve, choice)


_PUBLIC_CACHE_SIZE = 1024
_public_cache: OrderedDict[tuple[str, str, bytes], PublicHandle] = OrderedDict()
_public_cache_lock = threading.Lock()


def public_handle(curve: LegacyCurve, point: bytes) -> PublicHandle:
    """Validate ``point`` with the selected backend and return its verifier.

    Validation costs a full scalar multiplication (the subgroup check), and the same peer keys arrive
    in packet after packet, so the last :data:`_PUBLIC_CACHE_SIZE` validated points are remembered.
    Only valid points are cached; handles are immutable, so sharing them is safe.

    :raises InvalidKeyError: if the point is not a valid public key on ``curve``.
    """
    backend = backend_for(curve)
    key = (backend.name, curve.name, point)
    with _public_cache_lock:
        cached = _public_cache.get(key)
        if cached is not None:
            _public_cache.move_to_end(key)
            return cached
    handle = backend.public_handle(curve, point)
    with _public_cache_lock:
        _public_cache[key] = handle
        if len(_public_cache) > _PUBLIC_CACHE_SIZE:
            _public_cache.popitem(last=False)
    return handle


def unsupported(curve: LegacyCurve, choice: str = "openssl") -> UnsupportedCurveError:
    """Build the error raised when the selected backend cannot handle a legacy curve."""
    return UnsupportedCurveError(
        f"binary curve {curve.name} (security level {curve.level!r}) is unavailable: "
        f"{BACKEND_ENVIRONMENT_VARIABLE}={choice} selects the system OpenSSL libcrypto, which is missing or "
        f"was built without binary curves (Debian/Ubuntu: apt-get install libssl3). "
        f"Unset {BACKEND_ENVIRONMENT_VARIABLE} to fall back to the pure-Python implementation.")


def curve_by_name(name: object) -> LegacyCurve:
    """Return the legacy curve called ``name``.

    :raises InvalidKeyError: if ``name`` is not one of the legacy curves.
    """
    curve = LEGACY_CURVES.get(name) if isinstance(name, str) else None
    if curve is None:
        raise InvalidKeyError(f"{name!r} is not a legacy IPv8 curve; expected one of {sorted(LEGACY_CURVES)}")
    return curve


def generate_secret(curve: LegacyCurve) -> int:
    """Return a private scalar drawn uniformly from ``[1, order)`` by the OS CSPRNG."""
    return secrets.randbelow(curve.order - 1) + 1


# ---------------------------------------------------------------------------------------------------------------
# DER
# ---------------------------------------------------------------------------------------------------------------

def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def _algorithm(curve: LegacyCurve) -> bytes:
    return _tlv(0x30, _tlv(0x06, _EC_PUBLIC_KEY_OID) + _tlv(0x06, curve.oid))


def encode_public(curve: LegacyCurve, point: bytes) -> bytes:
    """Return the DER SubjectPublicKeyInfo of an uncompressed point (what ``key_to_bin`` gives)."""
    return _tlv(0x30, _algorithm(curve) + _tlv(0x03, b"\x00" + point))


def encode_private(curve: LegacyCurve, secret: int, point: bytes) -> bytes:
    """Return the DER ``ECPrivateKey`` with named curve and public key, the scalar padded to the order size."""
    return _tlv(0x30, b"\x02\x01\x01"
                + _tlv(0x04, secret.to_bytes(curve.order_bytes, "big"))
                + _tlv(0xA0, _tlv(0x06, curve.oid))
                + _tlv(0xA1, _tlv(0x03, b"\x00" + point)))


class _DerReader:
    """A strict reader for the few DER structures legacy keys use."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.pos == self.end

    def peek_tag(self) -> int | None:
        return self.data[self.pos] if self.pos < self.end else None

    def read(self, expected_tag: int) -> bytes:
        """Read one element with tag ``expected_tag`` and return its content octets."""
        data, pos, end = self.data, self.pos, self.end
        if end - pos < 2:
            raise InvalidKeyError("truncated DER element")
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 2 or end - pos < count:
                raise InvalidKeyError("bad DER length")
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
            if length < 0x80 or length >> (8 * (count - 1)) == 0:
                raise InvalidKeyError("non-minimal DER length")
        if end - pos < length:
            raise InvalidKeyError("DER element runs past the end of the key")
        if tag != expected_tag:
            raise InvalidKeyError(f"unexpected DER tag 0x{tag:02x} (wanted 0x{expected_tag:02x})")
        self.pos = pos + length
        return data[pos:pos + length]

    def enter(self, expected_tag: int) -> _DerReader:
        """Read a constructed element and return a reader over its contents."""
        content = self.read(expected_tag)
        return _DerReader(content)

    def finish(self, what: str) -> None:
        if not self.at_end():
            raise InvalidKeyError(f"{self.end - self.pos} unexpected bytes after {what}")


def _outer_sequence(data: bytes) -> _DerReader:
    top = _DerReader(data)
    body = top.enter(0x30)
    top.finish("the DER key")
    return body


def _curve_from_oid(oid: bytes) -> LegacyCurve:
    curve = _BY_OID.get(oid)
    if curve is None:
        raise InvalidKeyError(f"the key uses curve OID {oid.hex()}, which is not a legacy IPv8 curve")
    return curve


def _point_from_bit_string(curve: LegacyCurve, content: bytes) -> bytes:
    if content[:1] != b"\x00":
        raise InvalidKeyError("the public key BIT STRING has unused bits")
    point = content[1:]
    if len(point) != 1 + 2 * curve.field_bytes or point[0] != 0x04:
        raise InvalidKeyError(f"the {curve.name} public key is not an uncompressed point of the right size")
    return point


def decode_public(data: bytes) -> tuple[LegacyCurve, bytes]:
    """Parse a DER SubjectPublicKeyInfo into ``(curve, uncompressed point)`` (the point is not validated).

    :raises InvalidKeyError: if ``data`` is not an EC key on a legacy named curve.
    """
    body = _outer_sequence(data)
    algorithm = body.enter(0x30)
    if algorithm.read(0x06) != _EC_PUBLIC_KEY_OID:
        raise InvalidKeyError("the DER public key is not an elliptic-curve key")
    if algorithm.peek_tag() != 0x06:
        raise InvalidKeyError("the DER public key has explicit curve parameters instead of a named curve")
    curve = _curve_from_oid(algorithm.read(0x06))
    algorithm.finish("the algorithm identifier")
    point = _point_from_bit_string(curve, body.read(0x03))
    body.finish("the DER public key")
    return curve, point


def decode_private(data: bytes) -> tuple[LegacyCurve, int, bytes | None]:
    """Parse a DER ``ECPrivateKey`` into ``(curve, scalar, point or None)``.

    The scalar is checked to lie in ``[1, order)``; the embedded point (if any) is returned for the
    caller to compare with the one derived from the scalar.

    :raises InvalidKeyError: if ``data`` is not such a key on a legacy named curve.
    """
    body = _outer_sequence(data)
    if body.read(0x02) != b"\x01":
        raise InvalidKeyError("unsupported ECPrivateKey version")
    raw_secret = body.read(0x04)
    if body.peek_tag() != 0xA0:
        raise InvalidKeyError("the ECPrivateKey does not name its curve")
    parameters = body.enter(0xA0)
    if parameters.peek_tag() != 0x06:
        raise InvalidKeyError("the ECPrivateKey has explicit curve parameters instead of a named curve")
    curve = _curve_from_oid(parameters.read(0x06))
    parameters.finish("the curve parameters")
    point = None
    if body.peek_tag() == 0xA1:
        public = body.enter(0xA1)
        point = _point_from_bit_string(curve, public.read(0x03))
        public.finish("the embedded public key")
    body.finish("the ECPrivateKey")
    # Old OpenSSL releases wrote the scalar without leading zeros, newer ones pad it: accept both.
    if not raw_secret or len(raw_secret) > curve.order_bytes:
        raise InvalidKeyError(f"the {curve.name} private scalar has a bad length ({len(raw_secret)} bytes)")
    secret = int.from_bytes(raw_secret, "big")
    if not 0 < secret < curve.order:
        raise InvalidKeyError(f"the {curve.name} private scalar is out of range")
    return curve, secret, point


def public_key_curve(data: bytes) -> LegacyCurve:
    """Return the curve named in a DER SubjectPublicKeyInfo (see :func:`decode_public`)."""
    return decode_public(data)[0]


def private_key_curve(data: bytes) -> LegacyCurve:
    """Return the curve named in a DER ``ECPrivateKey`` (see :func:`decode_private`)."""
    return decode_private(data)[0]
