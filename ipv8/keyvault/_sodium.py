"""Direct ctypes bindings to the few libsodium functions the curve25519 keys need.

libnacl's Python wrappers re-check lengths and build result objects on every call; signature checks
sit on the packet hot path, so the keys call libsodium through these typed function pointers instead.
The pointers are fetched with ``libnacl.nacl[name]``, which returns fresh objects, so setting their
``argtypes`` does not change how libnacl itself calls the same functions.

Callers are responsible for passing ``bytes`` of the right lengths; the helpers do no checking.
"""
from __future__ import annotations

import ctypes

import libnacl

SIGNATURE_BYTES = 64
SEED_BYTES = 32
SIGN_PUBLIC_BYTES = 32
SIGN_SECRET_BYTES = 64
X25519_BYTES = 32

_lib = libnacl.nacl
_buffer = ctypes.c_char_p


def _bind(name: str, *argtypes: object) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    function = _lib[name]
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


# int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m,
#                                 unsigned long long mlen, const unsigned char *pk)
sign_verify_detached = _bind("crypto_sign_verify_detached", _buffer, _buffer, ctypes.c_ulonglong, _buffer)
# int crypto_sign_detached(unsigned char *sig, unsigned long long *siglen_p, const unsigned char *m,
#                          unsigned long long mlen, const unsigned char *sk)
_sign_detached = _bind("crypto_sign_detached", ctypes.c_void_p, ctypes.c_void_p, _buffer,
                       ctypes.c_ulonglong, _buffer)
# int crypto_sign_seed_keypair(unsigned char *pk, unsigned char *sk, const unsigned char *seed)
_sign_seed_keypair = _bind("crypto_sign_seed_keypair", ctypes.c_void_p, ctypes.c_void_p, _buffer)
# int crypto_scalarmult_base(unsigned char *q, const unsigned char *n)
_scalarmult_base = _bind("crypto_scalarmult_base", ctypes.c_void_p, _buffer)
# int crypto_box_beforenm(unsigned char *k, const unsigned char *pk, const unsigned char *sk)
_box_beforenm = _bind("crypto_box_beforenm", ctypes.c_void_p, _buffer, _buffer)

_new_buffer = ctypes.create_string_buffer


def sign(msg: bytes, signing_key: bytes) -> bytes:
    """Return the 64-byte Ed25519 signature of ``msg`` under the 64-byte libsodium secret key."""
    out = _new_buffer(SIGNATURE_BYTES)
    # A NULL length pointer is allowed: the length is always SIGNATURE_BYTES.
    if _sign_detached(out, None, msg, len(msg), signing_key) != 0:
        raise RuntimeError("libsodium crypto_sign_detached failed")
    return out.raw


def verify(signature: bytes, msg: bytes, verify_key: bytes) -> bool:
    """Return whether ``signature`` (64 bytes) signs ``msg`` under the 32-byte Ed25519 ``verify_key``."""
    return sign_verify_detached(signature, msg, len(msg), verify_key) == 0


def ed25519_keypair_from_seed(seed: bytes) -> tuple[bytes, bytes]:
    """Return ``(verify_key, signing_key)`` (32 and 64 bytes) derived from a 32-byte seed."""
    public = _new_buffer(SIGN_PUBLIC_BYTES)
    secret = _new_buffer(SIGN_SECRET_BYTES)
    if _sign_seed_keypair(public, secret, seed) != 0:
        raise RuntimeError("libsodium crypto_sign_seed_keypair failed")
    return public.raw, secret.raw


def x25519_public_from_secret(secret: bytes) -> bytes:
    """Return the X25519 public key belonging to a 32-byte secret scalar."""
    out = _new_buffer(X25519_BYTES)
    if _scalarmult_base(out, secret) != 0:
        raise RuntimeError("libsodium crypto_scalarmult_base failed")
    return out.raw


def box_beforenm(peer_public: bytes, my_secret: bytes) -> bytes | None:
    """Return the 32-byte HSalsa20(X25519) shared key, or ``None`` if libsodium rejects ``peer_public``."""
    out = _new_buffer(X25519_BYTES)
    if _box_beforenm(out, peer_public, my_secret) != 0:
        return None
    return out.raw


def random_bytes(size: int) -> bytes:
    """Return ``size`` bytes from libsodium's CSPRNG."""
    return libnacl.randombytes(size)
