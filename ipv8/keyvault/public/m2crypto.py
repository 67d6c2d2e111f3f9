"""Public keys on the Dispersy legacy binary curves (``M2CryptoPK``).

The name is historical: Dispersy used M2Crypto; these keys use the ``cryptography`` package. The binary
form is a DER SubjectPublicKeyInfo (66, 84, 128 or 170 bytes for sect163k1, sect233k1, sect409k1 and
sect571r1/k1). Signatures are ECDSA over SHA-1, encoded as ``r || s`` with each half left-padded to the
byte length of the curve order (42, 60, 104 or 144 bytes in total).

``cryptography`` 47 and later cannot handle binary curves; then loading such a key raises
:class:`~ipv8.keyvault.exceptions.UnsupportedCurveError`.
"""
from __future__ import annotations

from base64 import b64decode

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from .. import _legacy
from ..exceptions import InvalidKeyError
from ..keys import PublicKey
from .libnaclkey import as_bytes

_ECDSA_SHA1 = ec.ECDSA(hashes.SHA1())  # noqa: S303 - SHA-1 is what the Dispersy wire format mandates


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


class M2CryptoPK(PublicKey):
    """A Dispersy-compatible public key on a binary elliptic curve.

    Build it from ``keystring`` (DER SubjectPublicKeyInfo) or from a ``cryptography`` public key object
    ``ec_pub``.

    :raises InvalidKeyError: bad bytes or a curve that is not a legacy IPv8 curve.
    :raises UnsupportedCurveError: the installed ``cryptography`` lacks the curve.
    """

    ec: ec.EllipticCurvePublicKey

    def __init__(self, ec_pub: ec.EllipticCurvePublicKey | None = None, keystring: bytes | None = None) -> None:
        if ec_pub is not None:
            self.ec = ec_pub
            self._curve = _legacy.curve_by_name(ec_pub.curve.name)
        elif keystring is not None:
            self.ec, self._curve = self._load(keystring)
        else:
            raise InvalidKeyError("M2CryptoPK needs ec_pub or keystring")
        # Kept apart from ``ec``, which a private subclass replaces with its private key object.
        self._ec_public = self.ec
        self._bin = self.ec.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self._half = self._curve.signature_length // 2

    @staticmethod
    def _load(keystring: object) -> tuple[ec.EllipticCurvePublicKey, _legacy.LegacyCurve]:
        data = as_bytes(keystring)
        if data is None:
            raise InvalidKeyError(f"an M2CryptoPK key must be bytes, not {type(keystring).__name__}")
        curve = _legacy.public_key_curve(data)
        _legacy.backend_curve(curve)  # raises the clear error when the curve is missing
        try:
            loaded = serialization.load_der_public_key(data)
        except UnsupportedAlgorithm:
            raise _legacy.unsupported(curve) from None
        except (ValueError, TypeError) as exc:
            raise InvalidKeyError(f"invalid {curve.name} public key: {exc}") from None
        if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != curve.name:
            raise InvalidKeyError(f"the DER data is not a {curve.name} public key")
        return loaded, curve

    def key_to_bin(self) -> bytes:
        """Return the DER SubjectPublicKeyInfo of this key."""
        return self._bin

    def key_to_pem(self) -> bytes:
        """Return the key as a ``-----BEGIN PUBLIC KEY-----`` PEM block."""
        return self._ec_public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

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

        Wrong lengths, garbage and non-bytes arguments give ``False``.
        """
        signature, msg = as_bytes(signature), as_bytes(msg)  # type: ignore[assignment]
        if signature is None or msg is None or len(signature) != 2 * self._half:
            return False
        r = int.from_bytes(signature[:self._half], "big")
        s = int.from_bytes(signature[self._half:], "big")
        try:
            self._ec_public.verify(encode_dss_signature(r, s), msg, _ECDSA_SHA1)
        except (InvalidSignature, ValueError, TypeError, OverflowError):
            return False
        return True

    def __hash__(self) -> int:
        return hash(self._bin)

    def __eq__(self, other: object) -> bool:
        return PublicKey.__eq__(self, other)
