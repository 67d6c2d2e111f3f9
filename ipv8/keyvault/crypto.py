"""``ECCrypto``: the one place that turns security levels and bytes into key objects.

Use the shared :data:`default_eccrypto` unless you want to change behaviour, in which case subclass
:class:`ECCrypto` (it keeps no state, so sharing one instance is safe).

Security levels and what they produce (public key / signature sizes in bytes):

* ``very-low``: sect163k1, 66 / 42 (legacy)
* ``low``: sect233k1, 84 / 60 (legacy)
* ``medium``: sect409k1, 128 / 104 (legacy)
* ``high``: sect571r1, 170 / 144 (legacy)
* ``curve25519``: X25519 + Ed25519, 74 / 64, via libsodium (libnacl)

The four legacy levels exist for compatibility with Dispersy-era peers. Their ECDSA runs in the system
OpenSSL ``libcrypto`` (through ctypes) when it has binary curves, else in a slower pure-Python fallback
(:mod:`ipv8.keyvault._legacy`); they do not depend on the ``cryptography`` version. Loading accepts
``high`` keys on both sect571r1 (IPv8 1.x) and sect571k1 (what pyipv8 3.x generates).
"""
from __future__ import annotations

from typing import ClassVar, TypeVar

from . import _legacy
from .exceptions import (
    InvalidKeyError,
    KeyExchangeError,
    KeyVaultError,
    UnknownSecurityLevelError,
    UnsupportedCurveError,
)
from .keys import Key, PrivateKey, PublicKey
from .private.libnaclkey import PRIVATE_PREFIX, LibNaCLSK
from .private.m2crypto import M2CryptoSK
from .public.libnaclkey import PUBLIC_PREFIX, LibNaCLPK, as_bytes
from .public.m2crypto import M2CryptoPK

__all__ = [
    "ECCrypto",
    "InvalidKeyError",
    "KeyExchangeError",
    "KeyVaultError",
    "UnknownSecurityLevelError",
    "UnsupportedCurveError",
    "default_eccrypto",
]

_CURVE25519 = "curve25519"
_K = TypeVar("_K", bound=M2CryptoPK)
_LIBNACL_LENGTH = 74


class ECCrypto:
    """Generate, serialise, load, sign with and verify IPv8 keys."""

    #: Security level name -> curve generated for it. Subclasses may replace this mapping.
    CURVES: ClassVar[dict[str, str]] = {
        "very-low": "sect163k1",
        "low": "sect233k1",
        "medium": "sect409k1",
        "high": "sect571r1",
        "curve25519": _CURVE25519,
    }

    @property
    def security_levels(self) -> list[str]:
        """The names accepted by :meth:`generate_key`, weakest first."""
        return list(self.CURVES)

    def security_level_supported(self, security_level: str) -> bool:
        """Return whether :meth:`generate_key` can make keys of this level with the installed libraries."""
        curve = self.CURVES.get(security_level)
        if curve is None:
            return False
        if curve == _CURVE25519:
            return True
        try:
            _legacy.backend_for(_legacy.curve_by_name(curve))
        except InvalidKeyError:
            return False
        return True

    def generate_key(self, security_level: str) -> PrivateKey:
        """Return a new private key for ``security_level`` (see :attr:`security_levels`).

        :raises UnknownSecurityLevelError: if the level does not exist.
        :raises UnsupportedCurveError: for a legacy level when ``TXIPV8_LEGACY_BACKEND`` forces a backend
            that lacks the curve.
        """
        curve = self.CURVES.get(security_level) if isinstance(security_level, str) else None
        if curve is None:
            raise UnknownSecurityLevelError(f"unknown security level {security_level!r}; "
                                            f"choose one of {self.security_levels}")
        if curve == _CURVE25519:
            return LibNaCLSK()
        return M2CryptoSK(curve=curve)

    def key_to_bin(self, key: Key) -> bytes:
        """Return the binary form of ``key`` (see :meth:`Key.key_to_bin`)."""
        return self._checked(key).key_to_bin()

    def key_to_hash(self, key: Key) -> bytes:
        """Return the 20-byte member id of ``key``: SHA-1 of its public key's binary form."""
        return self._checked(key).key_to_hash()

    def is_valid_private_bin(self, string: bytes) -> bool:
        """Return whether :meth:`key_from_private_bin` would accept ``string``."""
        try:
            self.key_from_private_bin(string)
        except KeyVaultError:
            return False
        return True

    def is_valid_public_bin(self, string: bytes) -> bool:
        """Return whether :meth:`key_from_public_bin` would accept ``string``."""
        try:
            self.key_from_public_bin(string)
        except KeyVaultError:
            return False
        return True

    def key_from_private_bin(self, string: bytes) -> PrivateKey:
        """Load a private key from its binary form (``LibNaCLSK:...`` or a legacy DER key).

        :raises InvalidKeyError: if ``string`` is not a loadable private key (wrong type, prefix, length,
            broken DER, foreign curve).
        :raises UnsupportedCurveError: (an :class:`InvalidKeyError`) a legacy key whose curve the
            forced legacy backend lacks (see :mod:`ipv8.keyvault._legacy`).
        """
        data = self._bytes(string, "private")
        if data.startswith(PRIVATE_PREFIX):
            self._check_libnacl_length(data, "LibNaCLSK")
            return LibNaCLSK(data[len(PRIVATE_PREFIX):])
        return self._legacy(M2CryptoSK, data, "LibNaCLSK")

    def key_from_public_bin(self, string: bytes) -> PublicKey:
        """Load a public key from its binary form (``LibNaCLPK:...`` or a DER SubjectPublicKeyInfo).

        :raises InvalidKeyError: if ``string`` is not a loadable public key.
        :raises UnsupportedCurveError: (an :class:`InvalidKeyError`) a legacy key whose curve the
            forced legacy backend lacks (see :mod:`ipv8.keyvault._legacy`).
        """
        data = self._bytes(string, "public")
        if data.startswith(PUBLIC_PREFIX):
            self._check_libnacl_length(data, "LibNaCLPK")
            return LibNaCLPK(data[len(PUBLIC_PREFIX):])
        return self._legacy(M2CryptoPK, data, "LibNaCLPK")

    def get_signature_length(self, key: Key) -> int:
        """Return the signature length in bytes for ``key`` (64 for curve25519)."""
        return self._checked(key).get_signature_length()

    def create_signature(self, key: PrivateKey, data: bytes) -> bytes:
        """Sign ``data`` with ``key``.

        :raises TypeError: if ``key`` has no secret or ``data`` is not bytes-like.
        """
        if not isinstance(key, Key) or not key.has_secret_key():
            raise TypeError(f"signing needs a private key, got {type(key).__name__}")
        return key.signature(data)  # type: ignore[attr-defined]

    def is_valid_signature(self, key: PublicKey, data: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is ``key``'s signature of ``data``. Never raises: bad input is ``False``."""
        try:
            return key.verify(signature, data) is True
        except Exception:  # noqa: BLE001 - the contract is a bool, whatever a (custom) key does
            return False

    def is_key_compatible(self, key: object) -> bool:
        """Return whether ``key`` is a key object this crypto can work with."""
        return isinstance(key, Key)

    @staticmethod
    def _checked(key: object) -> Key:
        if not isinstance(key, Key):
            raise TypeError(f"expected an ipv8 Key, got {type(key).__name__}")
        return key

    @staticmethod
    def _bytes(string: object, kind: str) -> bytes:
        data = as_bytes(string)
        if data is None:
            raise InvalidKeyError(f"a {kind} key must be bytes, not {type(string).__name__}")
        if not data:
            raise InvalidKeyError(f"empty {kind} key")
        return data

    @staticmethod
    def _check_libnacl_length(data: bytes, name: str) -> None:
        if len(data) != _LIBNACL_LENGTH:
            raise InvalidKeyError(f"a {name} key is {_LIBNACL_LENGTH} bytes, got {len(data)}")

    @staticmethod
    def _legacy(key_class: type[_K], data: bytes, prefix_name: str) -> _K:
        try:
            return key_class(keystring=data)
        except UnsupportedCurveError:
            raise
        except InvalidKeyError as exc:
            raise InvalidKeyError(f"neither a {prefix_name} key (no {prefix_name}: prefix) "
                                  f"nor a legacy DER EC key: {exc}") from None


#: Shared stateless instance; use it unless you need a subclass.
default_eccrypto = ECCrypto()
