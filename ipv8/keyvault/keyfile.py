"""Reading and writing private key files.

A key file holds exactly the bytes of ``key.key_to_bin()``, as an IPv8 service stores its identities.
Loading also understands two older layouts: an unencrypted ``-----BEGIN EC PRIVATE KEY-----`` PEM block
(Dispersy/M2Crypto era) and a bare 64-byte curve25519 key without the ``LibNaCLSK:`` prefix.

New files are created with permissions 0600 from the start (never widened and narrowed afterwards),
and an existing file is only replaced when the caller passes ``overwrite=True``. Loading a file that other
users may read or write logs a warning (:func:`insecure_mode` tells which files those are): whoever can
read a key file can act as its owner.
"""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from typing import TYPE_CHECKING, Union

from .crypto import default_eccrypto
from .exceptions import InvalidKeyError, InvalidKeyFileError, KeyFileExistsError
from .private.libnaclkey import PRIVATE_PREFIX
from .public.m2crypto import pem_to_der

if TYPE_CHECKING:
    from .crypto import ECCrypto
    from .keys import PrivateKey

__all__ = [
    "KEY_FILE_MODE",
    "InvalidKeyFileError",
    "KeyFileExistsError",
    "insecure_mode",
    "load_or_generate_private_key",
    "load_private_key",
    "save_private_key",
]

StrPath = Union[str, "os.PathLike[str]"]

#: Permission bits of newly written key files (owner read/write only).
KEY_FILE_MODE = 0o600
_BARE_LIBNACL_LENGTH = 64
#: Permission bits that let users other than the owner at a key file.
_OTHERS_MASK = 0o077
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def _write_new_file(path: str, data: bytes) -> None:
    """Create ``path`` (which must not exist) with mode 0600 and write ``data`` to it durably."""
    descriptor = os.open(path, _CREATE_FLAGS, KEY_FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def save_private_key(key: PrivateKey, path: StrPath, overwrite: bool = False) -> None:
    """Write ``key.key_to_bin()`` to ``path`` as a new file with mode 0600.

    :param overwrite: replace an existing file. The new content goes to a temporary 0600 file in the
        same directory first and is then renamed over ``path``, so a crash never leaves half a key.
    :raises KeyFileExistsError: if ``path`` exists and ``overwrite`` is false.
    :raises TypeError: if ``key`` is not a private key.
    :raises OSError: for file system errors (missing directory, permissions, ...).
    """
    if not getattr(key, "has_secret_key", lambda: False)():
        raise TypeError(f"only private keys are saved to key files, got {type(key).__name__}")
    target = os.fspath(path)
    data = key.key_to_bin()
    if not overwrite:
        try:
            _write_new_file(target, data)
        except FileExistsError:
            raise KeyFileExistsError(target) from None
        return
    directory, name = os.path.split(os.path.abspath(target))
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    _write_new_file(temporary, data)
    try:
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


logger = logging.getLogger(__name__)


def insecure_mode(path: StrPath | int) -> int | None:
    """The permission bits of ``path`` (a file name or an open descriptor) if users other than its owner may access it, else None.

    Always None on Windows, where these bits do not describe who may read a file.

    :raises OSError: if ``path`` cannot be inspected.
    """
    if os.name == "nt":
        return None
    mode = stat.S_IMODE(os.stat(path).st_mode)
    return mode if mode & _OTHERS_MASK else None


def _decode_key_file(content: bytes, crypto: ECCrypto) -> PrivateKey:
    stripped = content.strip()
    if stripped.startswith(b"-----BEGIN"):
        return crypto.key_from_private_bin(pem_to_der(stripped))
    if len(content) == _BARE_LIBNACL_LENGTH and not content.startswith(PRIVATE_PREFIX):
        # Pre-prefix curve25519 key files: X25519 secret + Ed25519 seed without "LibNaCLSK:".
        return crypto.key_from_private_bin(PRIVATE_PREFIX + content)
    return crypto.key_from_private_bin(content)


def load_private_key(path: StrPath, crypto: ECCrypto | None = None) -> PrivateKey:
    """Read the private key stored in ``path``.

    :param crypto: the :class:`~ipv8.keyvault.crypto.ECCrypto` used to decode it (default:
        ``default_eccrypto``).
    :raises InvalidKeyFileError: if the file does not hold a loadable private key; the message names
        the file and the reason (an :class:`UnsupportedCurveError` reason for legacy keys the installed
        ``cryptography`` cannot load).
    :raises OSError: if the file cannot be read (e.g. :class:`FileNotFoundError`).
    """
    with open(path, "rb") as handle:
        mode = insecure_mode(handle.fileno())
        content = handle.read()
    if mode is not None:
        logger.warning("The private key file %s is accessible by other users (mode %04o): run chmod 600 on it",
                       os.fspath(path), mode)
    try:
        return _decode_key_file(content, crypto or default_eccrypto)
    except InvalidKeyError as exc:
        raise InvalidKeyFileError(path, str(exc)) from exc


def load_or_generate_private_key(path: StrPath, security_level: str = "curve25519",
                                 crypto: ECCrypto | None = None) -> PrivateKey:
    """Load the key in ``path``, or generate one of ``security_level`` and save it there if it is missing.

    :raises InvalidKeyFileError: if the file exists but is not a usable key (it is never overwritten).
    """
    crypto = crypto or default_eccrypto
    if os.path.exists(path):
        return load_private_key(path, crypto)
    key = crypto.generate_key(security_level)
    save_private_key(key, path)
    return key
