"""Private keys on the Dispersy legacy binary curves (``M2CryptoSK``).

The binary form is the DER ``ECPrivateKey`` structure of RFC 5915 (what OpenSSL writes between
``-----BEGIN EC PRIVATE KEY-----`` lines), with the named curve and the public point included and the
scalar padded to the byte length of the curve order. See :mod:`ipv8.keyvault.public.m2crypto` for the
signature format and :mod:`ipv8.keyvault._legacy` for who does the arithmetic.
"""
from __future__ import annotations

from hashlib import sha1

from .. import _legacy
from ..exceptions import InvalidKeyError
from ..keys import PrivateKey
from ..public.libnaclkey import as_bytes
from ..public.m2crypto import M2CryptoPK, _der_of, der_to_pem

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
    ``curve`` may also be a ``cryptography`` curve class or instance, and ``ec_priv`` a ``cryptography``
    private key object (both only for compatibility; ``cryptography`` does none of the work).

    :raises InvalidKeyError: bad bytes, a curve that is not a legacy IPv8 curve, a scalar out of range or
        an embedded public key that does not belong to the scalar.
    :raises UnsupportedCurveError: ``TXIPV8_LEGACY_BACKEND=openssl`` and the library lacks the curve.
    """

    def __init__(self, curve: object = None, keystring: bytes | None = None, ec_priv: object = None) -> None:
        embedded = None
        if keystring is not None or ec_priv is not None:
            if keystring is not None:
                data = as_bytes(keystring)
                if data is None:
                    raise InvalidKeyError(f"an M2CryptoSK key must be bytes, not {type(keystring).__name__}")
            else:
                data = _der_of(ec_priv, private=True)
            legacy_curve, secret, embedded = _legacy.decode_private(data)
        elif curve is not None:
            legacy_curve = _legacy.curve_by_name(_curve_name_of(curve))
            secret = _legacy.generate_secret(legacy_curve)
        else:
            raise InvalidKeyError("M2CryptoSK needs a curve to generate a key, or keystring to load one")
        signer = _legacy.backend_for(legacy_curve).private_handle(legacy_curve, secret)
        if embedded is not None and embedded != signer.point:
            raise InvalidKeyError(f"the {legacy_curve.name} private key carries a public key that is not its own")
        self._signer = signer
        self._init_public(legacy_curve, signer.public)
        self._public = M2CryptoPK.__new__(M2CryptoPK)
        self._public._init_public(legacy_curve, signer.public)
        self._private_bin = _legacy.encode_private(legacy_curve, secret, signer.point)

    @classmethod
    def generate(cls, curve_name: str) -> M2CryptoSK:
        """Return a new key on the legacy curve ``curve_name`` (e.g. ``"sect571r1"``)."""
        return cls(curve=curve_name)

    def pub(self) -> M2CryptoPK:
        """Return the public half (an :class:`M2CryptoPK`)."""
        return self._public

    def key_to_bin(self) -> bytes:
        """Return the DER ``ECPrivateKey``. Keep this secret."""
        return self._private_bin

    def key_to_pem(self) -> bytes:
        """Return the key as a ``-----BEGIN EC PRIVATE KEY-----`` PEM block (unencrypted)."""
        return der_to_pem(self._private_bin, "EC PRIVATE KEY")

    def signature(self, msg: bytes) -> bytes:
        """Return an ECDSA-SHA1 signature of ``msg`` as fixed-width ``r || s`` (random nonce per call).

        :raises TypeError: if ``msg`` is not bytes-like.
        """
        data = as_bytes(msg)
        if data is None:
            raise TypeError(f"can only sign bytes, not {type(msg).__name__}")
        r, s = self._signer.sign(sha1(data).digest())
        return r.to_bytes(self._half, "big") + s.to_bytes(self._half, "big")

    def __hash__(self) -> int:
        return hash(self._private_bin)

    def __eq__(self, other: object) -> bool:
        return PrivateKey.__eq__(self, other)
