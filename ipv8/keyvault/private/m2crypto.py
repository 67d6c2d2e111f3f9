"""Private keys on the Dispersy legacy binary curves (``M2CryptoSK``).

The binary form is the DER ``ECPrivateKey`` structure of RFC 5915 (what OpenSSL writes between
``-----BEGIN EC PRIVATE KEY-----`` lines), with the named curve and the public point included. See
:mod:`ipv8.keyvault.public.m2crypto` for the signature format and the ``cryptography`` version caveat.
"""
from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .. import _legacy
from ..exceptions import InvalidKeyError
from ..keys import PrivateKey
from ..public.libnaclkey import as_bytes
from ..public.m2crypto import _ECDSA_SHA1, M2CryptoPK

__all__ = ["M2CryptoPK", "M2CryptoSK"]


def _curve_name_of(curve: object) -> str:
    """Accept a curve name, a ``cryptography`` curve instance or a curve class."""
    if isinstance(curve, str):
        return curve
    name = getattr(curve, "name", None)
    if isinstance(name, str):
        return name
    raise InvalidKeyError(f"cannot tell which curve {curve!r} is")


class M2CryptoSK(PrivateKey, M2CryptoPK):
    """A Dispersy-compatible private key on a binary elliptic curve.

    ``M2CryptoSK(curve="sect163k1")`` generates a key; ``M2CryptoSK(keystring=der)`` loads one.
    ``curve`` may also be a ``cryptography`` curve class or instance.

    :raises InvalidKeyError: bad bytes, or a curve that is not a legacy IPv8 curve.
    :raises UnsupportedCurveError: the installed ``cryptography`` lacks the curve.
    """

    ec: ec.EllipticCurvePrivateKey  # type: ignore[assignment]

    def __init__(self, curve: object = None, keystring: bytes | None = None,
                 ec_priv: ec.EllipticCurvePrivateKey | None = None) -> None:
        if keystring is not None:
            private, legacy_curve = self._load_private(keystring)
        elif ec_priv is not None:
            private, legacy_curve = ec_priv, _legacy.curve_by_name(ec_priv.curve.name)
        elif curve is not None:
            legacy_curve = _legacy.curve_by_name(_curve_name_of(curve))
            backend_curve = _legacy.backend_curve(legacy_curve)
            try:
                private = ec.generate_private_key(backend_curve)
            except UnsupportedAlgorithm:
                raise _legacy.unsupported(legacy_curve) from None
        else:
            raise InvalidKeyError("M2CryptoSK needs a curve to generate a key, or keystring to load one")
        self._public = M2CryptoPK(ec_pub=private.public_key())
        super().__init__(ec_pub=private.public_key())
        self.ec = private
        self._bin = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption())

    @classmethod
    def generate(cls, curve_name: str) -> M2CryptoSK:
        """Return a new key on the legacy curve ``curve_name`` (e.g. ``"sect571r1"``)."""
        return cls(curve=curve_name)

    @staticmethod
    def _load_private(keystring: object) -> tuple[ec.EllipticCurvePrivateKey, _legacy.LegacyCurve]:
        data = as_bytes(keystring)
        if data is None:
            raise InvalidKeyError(f"an M2CryptoSK key must be bytes, not {type(keystring).__name__}")
        curve = _legacy.private_key_curve(data)
        _legacy.backend_curve(curve)
        try:
            loaded = serialization.load_der_private_key(data, password=None)
        except UnsupportedAlgorithm:
            raise _legacy.unsupported(curve) from None
        except (ValueError, TypeError) as exc:
            raise InvalidKeyError(f"invalid {curve.name} private key: {exc}") from None
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != curve.name:
            raise InvalidKeyError(f"the DER data is not a {curve.name} private key")
        return loaded, curve

    def pub(self) -> M2CryptoPK:
        """Return the public half (an :class:`M2CryptoPK`)."""
        return self._public

    def key_to_bin(self) -> bytes:
        """Return the DER ``ECPrivateKey``. Keep this secret."""
        return self._bin

    def key_to_pem(self) -> bytes:
        """Return the key as a ``-----BEGIN EC PRIVATE KEY-----`` PEM block (unencrypted)."""
        return self.ec.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())

    def signature(self, msg: bytes) -> bytes:
        """Return an ECDSA-SHA1 signature of ``msg`` as fixed-width ``r || s``.

        :raises TypeError: if ``msg`` is not bytes-like.
        """
        data = as_bytes(msg)
        if data is None:
            raise TypeError(f"can only sign bytes, not {type(msg).__name__}")
        r, s = decode_dss_signature(self.ec.sign(data, _ECDSA_SHA1))
        return r.to_bytes(self._half, "big") + s.to_bytes(self._half, "big")

    def __hash__(self) -> int:
        return hash(self._bin)

    def __eq__(self, other: object) -> bool:
        return PrivateKey.__eq__(self, other)
