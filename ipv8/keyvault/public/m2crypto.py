"""Public keys on the Dispersy legacy binary curves (``M2CryptoPK``).

The name is historical: Dispersy used M2Crypto. The binary form is a DER SubjectPublicKeyInfo (66, 84,
128 or 170 bytes for sect163k1, sect233k1, sect409k1 and sect571r1/k1). Signatures are ECDSA over
SHA-1, encoded as ``r || s`` with each half left-padded to the byte length of the key size (42, 60, 104
or 144 bytes in total).

The arithmetic is done by the system OpenSSL ``libcrypto`` or, without one that has binary curves, by
a pure-Python fallback (see :mod:`ipv8.keyvault._legacy`); ``cryptography`` is not involved, so these
keys work with every ``cryptography`` release.
"""
from __future__ import annotations

from base64 import b64decode, b64encode
from hashlib import sha1

from .. import _legacy
from ..exceptions import InvalidKeyError
from ..keys import PublicKey
from .libnaclkey import as_bytes


def pem_to_der(pem: bytes) -> bytes:
    """Strip the armour lines of an unencrypted PEM block and return the DER bytes inside.

    :raises InvalidKeyError: if ``pem`` is not a PEM block.
    """
    lines = [line.strip() for line in pem.strip().splitlines()]
    if len(lines) < 3 or not lines[0].startswith(b"-----BEGIN ") or not lines[-1].startswith(b"-----END "):
        raise InvalidKeyError("not a PEM block")
    try:
        return b64decode(b"".join(lines[1:-1]), validate=True)
    except ValueError:
        raise InvalidKeyError("the PEM block does not contain valid base64") from None


def der_to_pem(der: bytes, label: str) -> bytes:
    """Wrap DER bytes in a PEM block with 64-character base64 lines (the layout OpenSSL writes)."""
    body = b64encode(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode()]) + b"\n"


def _der_of(key_object: object, private: bool) -> bytes:
    """Serialise a ``cryptography`` EC key object (accepted for compatibility) to DER."""
    from cryptography.hazmat.primitives import serialization
    try:
        if private:
            return key_object.private_bytes(  # type: ignore[attr-defined, no-any-return]
                serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption())
        return key_object.public_bytes(  # type: ignore[attr-defined, no-any-return]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidKeyError(f"cannot serialise {type(key_object).__name__} as an EC key: {exc}") from None


class M2CryptoPK(PublicKey):
    """A Dispersy-compatible public key on a binary elliptic curve.

    Build it from ``keystring`` (DER SubjectPublicKeyInfo) or, for compatibility, from a
    ``cryptography`` public key object ``ec_pub``. The point is validated (on the curve and in the
    prime-order subgroup) before the key is usable, so keys straight from the network are safe.

    :raises InvalidKeyError: bad bytes, a curve that is not a legacy IPv8 curve, or an invalid point.
    :raises UnsupportedCurveError: ``TXIPV8_LEGACY_BACKEND=openssl`` and the library lacks the curve.
    """

    def __init__(self, ec_pub: object = None, keystring: bytes | None = None) -> None:
        if keystring is not None:
            data = as_bytes(keystring)
            if data is None:
                raise InvalidKeyError(f"an M2CryptoPK key must be bytes, not {type(keystring).__name__}")
        elif ec_pub is not None:
            data = _der_of(ec_pub, private=False)
        else:
            raise InvalidKeyError("M2CryptoPK needs ec_pub or keystring")
        curve, point = _legacy.decode_public(data)
        handle = _legacy.public_handle(curve, point)
        self._init_public(curve, handle)

    def _init_public(self, curve: _legacy.LegacyCurve, handle: _legacy.PublicHandle) -> None:
        self._curve = curve
        self._verifier = handle
        self._public_bin = _legacy.encode_public(curve, handle.point)
        self._half = curve.signature_length // 2

    def key_to_bin(self) -> bytes:
        """Return the DER SubjectPublicKeyInfo of this key."""
        return self._public_bin

    def key_to_pem(self) -> bytes:
        """Return the key as a ``-----BEGIN PUBLIC KEY-----`` PEM block."""
        return der_to_pem(self._public_bin, "PUBLIC KEY")

    def pem_to_bin(self, pem: bytes) -> bytes:
        """Convert an unencrypted PEM block into its DER (binary) form."""
        return pem_to_der(pem)

    def pub(self) -> M2CryptoPK:
        """Return this public key."""
        return self

    def curve_name(self) -> str:
        """Return the curve name, e.g. ``"sect163k1"``."""
        return self._curve.name

    def get_signature_length(self) -> int:
        """Return ``2 * ceil(curve bits / 8)``: 42, 60, 104 or 144."""
        return self._curve.signature_length

    def verify(self, signature: bytes, msg: bytes) -> bool:
        """Return whether ``signature`` (``r || s``) is a valid ECDSA-SHA1 signature of ``msg``.

        Wrong lengths, ``r`` or ``s`` outside ``[1, order)``, garbage and non-bytes arguments give ``False``.
        """
        signature, msg = as_bytes(signature), as_bytes(msg)  # type: ignore[assignment]
        if signature is None or msg is None or len(signature) != 2 * self._half:
            return False
        r = int.from_bytes(signature[:self._half], "big")
        s = int.from_bytes(signature[self._half:], "big")
        order = self._curve.order
        if not (0 < r < order and 0 < s < order):
            return False
        try:
            return self._verifier.verify(sha1(msg).digest(), r, s) is True
        except Exception:  # noqa: BLE001 - a verifier must answer, never raise, whatever arrived
            return False

    def __hash__(self) -> int:
        return hash(self.key_to_bin())

    def __eq__(self, other: object) -> bool:
        return PublicKey.__eq__(self, other)
