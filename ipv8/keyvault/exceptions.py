"""Exceptions raised by :mod:`ipv8.keyvault`.

Every error about key material derives from :class:`KeyVaultError`, which is a :class:`ValueError`, so
``except ValueError`` keeps working for callers that do not care about the details.

* :class:`InvalidKeyError`: bytes that are not a key this library can load (wrong prefix, wrong length,
  broken DER, unknown curve). Raised by ``key_from_private_bin`` / ``key_from_public_bin``.
* :class:`UnsupportedCurveError`: the key (or security level) is a legal Dispersy legacy key, but the
  legacy backend forced with ``TXIPV8_LEGACY_BACKEND`` cannot handle its binary curve (by default a
  pure-Python fallback always can). It is an :class:`InvalidKeyError` so one ``except InvalidKeyError``
  covers "this key cannot be used here".
* :class:`InvalidKeyFileError`: a key file holds no loadable private key; the message names the file.
* :class:`KeyFileExistsError`: saving would overwrite an existing key file (a :class:`FileExistsError`).
* :class:`UnknownSecurityLevelError`: ``generate_key`` got a name that is not a security level.
* :class:`KeyExchangeError`: an X25519 key agreement was impossible (wrong key type or bad peer key).
"""
from __future__ import annotations

import os


class KeyVaultError(ValueError):
    """Base class of the key layer's value errors."""


class InvalidKeyError(KeyVaultError):
    """The given bytes do not encode a key that can be loaded."""


class UnsupportedCurveError(InvalidKeyError):
    """A legacy (binary) elliptic curve is needed but the selected legacy backend lacks it."""


class InvalidKeyFileError(InvalidKeyError):
    """A key file does not contain a loadable private key.

    :ivar path: the offending file.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        super().__init__(f"key file {self.path!r} does not hold a usable private key: {reason}")


class KeyFileExistsError(FileExistsError):
    """Saving a key would replace an existing file and ``overwrite=True`` was not given."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        super().__init__(f"refusing to overwrite existing key file {self.path!r}; pass overwrite=True to replace it")


class UnknownSecurityLevelError(KeyVaultError, RuntimeError):
    """``generate_key`` was asked for a level that does not exist.

    Also a :class:`RuntimeError`, which is what older IPv8 versions raised in this situation.
    """


class KeyExchangeError(KeyVaultError):
    """An X25519 Diffie-Hellman exchange could not be performed."""
