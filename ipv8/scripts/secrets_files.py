"""Files holding secrets for ``twistd ipv8``: the REST API key file, and permission checks of key files.

A node's private key file and its REST API key file must be readable by their owner only. ``twistd ipv8``
refuses to start with a file that other users can read or write (unless ``--allow-insecure-key`` is given),
because anybody who can read it can impersonate the node or control it through the REST API.

The REST API key is generated on the first start (unless ``--api-key`` gives one or ``--no-api-key``
turns it off), stored in the working directory with mode 0600 and reused on every later start.
"""
from __future__ import annotations

import os
import secrets
import stat

from ..keyvault.keyfile import KEY_FILE_MODE, insecure_mode

__all__ = ["API_KEY_FILE_NAME", "InsecureFileError", "check_private_file", "load_or_create_api_key"]

#: Name of the REST API key file in the node's working directory.
API_KEY_FILE_NAME = "rest_api_key"
_API_KEY_BYTES = 24
_MAX_API_KEY_LENGTH = 256


class InsecureFileError(OSError):
    """A secret file can be read or written by users other than its owner."""


def check_private_file(path: str) -> None:
    """
    Refuse a secret file that users other than its owner may access.

    :raises InsecureFileError: with a one-line message naming the file, its mode and the fix.
    """
    mode = insecure_mode(path)
    if mode is not None:
        raise InsecureFileError(f"{path} is accessible by other users (mode {mode:04o}): run chmod 600 on it, "
                                "or pass --allow-insecure-key")


def load_or_create_api_key(directory: str, allow_insecure: bool = False) -> tuple[str, str, bool]:
    """
    The REST API key stored in ``directory``; a new random one is stored there (mode 0600) if there is none.

    :returns: ``(key, path of the file, whether the key was just created)``.
    :raises InsecureFileError: if the file is accessible by others and ``allow_insecure`` is false.
    :raises OSError: if the file cannot be read or written, or does not hold a usable key.
    """
    path = os.path.join(directory, API_KEY_FILE_NAME)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), KEY_FILE_MODE)
    except FileExistsError:
        return _read_api_key(path, allow_insecure), path, False
    key = secrets.token_urlsafe(_API_KEY_BYTES)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key, path, True


def _read_api_key(path: str, allow_insecure: bool) -> str:
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError(f"{path} is not a regular file")
    if not allow_insecure:
        check_private_file(path)
    with open(path, encoding="utf-8", errors="replace") as handle:
        key = handle.read(_MAX_API_KEY_LENGTH + 2).strip()
    if not key or len(key) > _MAX_API_KEY_LENGTH or not key.isprintable() or any(char.isspace() for char in key):
        raise OSError(f"{path} does not hold a usable REST API key (delete it to get a new one)")
    return key
