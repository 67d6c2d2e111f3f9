"""Signature loops shared by our benchmark and the pyipv8 reference driver.

Only the key objects differ between the two implementations; everything measured here goes through
the public key API (``signature``, ``verify``, ``default_eccrypto.is_valid_signature``) or straight to
libsodium, so the same code serves both interpreters. The caller passes its own ``default_eccrypto``:
this module never imports ``ipv8`` itself.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Callable

from _harness import interleaved_rates, rate_per_second

#: Size of what a signed two-integer message signs (prefix, id, key block, payload): a realistic input.
SIGNED_BYTES = 115
MESSAGE = bytes(range(SIGNED_BYTES))


def _libsodium() -> ctypes.CDLL:
    """The libsodium library: libnacl's handle when libnacl is installed, else the system library.

    pyipv8 3.2.1 does its cryptography in Rust (``ipv8_rust_tunnels``) and does not depend on libnacl,
    so its interpreter may lack it; the C library underneath is the same system libsodium.
    """
    try:
        import libnacl
    except ImportError:
        name = ctypes.util.find_library("sodium")
        if name is None:
            raise RuntimeError("libsodium not found") from None
        return ctypes.CDLL(name)
    return libnacl.nacl


def _raw_ctypes_verifier() -> Callable[[bytes, bytes, int, bytes], int]:
    """libsodium's ``crypto_sign_verify_detached`` as a typed ctypes function: the cheapest call from Python."""
    function = _libsodium()["crypto_sign_verify_detached"]  # a fresh pointer: libnacl's own stays untouched
    function.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulonglong, ctypes.c_char_p)
    function.restype = ctypes.c_int
    return function


def measure_crypto(eccrypto: Any, repeats: int, min_time: float) -> dict[str, float]:  # noqa: ANN401
    """Sign and verify rates through the key objects, the crypto facade, libnacl and raw ctypes."""
    key = eccrypto.generate_key("curve25519")
    public = key.pub()
    signature = key.signature(MESSAGE)
    if not public.verify(signature, MESSAGE) or not eccrypto.is_valid_signature(public, MESSAGE, signature):
        raise RuntimeError("a fresh signature does not verify: the benchmark would measure nonsense")
    verify_key = public.key_to_bin()[-32:]  # LibNaCLPK: ... | X25519 (32) | Ed25519 verify key (32)
    raw = _raw_ctypes_verifier()
    if raw(signature, MESSAGE, len(MESSAGE), verify_key) != 0:
        raise RuntimeError("libsodium rejects the signature: wrong verify key offset?")

    def sign(count: int, sign: Callable = key.signature, message: bytes = MESSAGE) -> None:
        for _ in range(count):
            sign(message)

    def verify_key_object(count: int, verify: Callable = public.verify, sig: bytes = signature,
                          message: bytes = MESSAGE) -> None:
        for _ in range(count):
            verify(sig, message)

    def verify_facade(count: int, check: Callable = eccrypto.is_valid_signature, pk: Any = public,  # noqa: ANN401
                      sig: bytes = signature, message: bytes = MESSAGE) -> None:
        for _ in range(count):
            check(pk, message, sig)

    def verify_ctypes(count: int, verify: Callable = raw, sig: bytes = signature, message: bytes = MESSAGE,
                      size: int = len(MESSAGE), vk: bytes = verify_key) -> None:
        for _ in range(count):
            verify(sig, message, size, vk)

    results = {"sign": rate_per_second(sign, repeats, min_time)}
    variants = {"verify_key": verify_key_object, "verify_eccrypto": verify_facade, "verify_raw_ctypes": verify_ctypes}
    try:
        import libnacl
    except ImportError:
        pass  # the pyipv8 interpreter: no libnacl wrapper to time
    else:
        def verify_libnacl(count: int, verify: Callable = libnacl.crypto_sign_verify_detached,
                           sig: bytes = signature, message: bytes = MESSAGE, vk: bytes = verify_key) -> None:
            for _ in range(count):
                verify(sig, message, vk)
        variants["verify_raw_libnacl"] = verify_libnacl
    results.update(interleaved_rates(variants, repeats, min_time))
    return results


def raw_verify_rate(repeats: int = 3, min_time: float = 0.1) -> float:
    """
    Ed25519 verifications per second straight through libsodium: the ceiling for signed messages.

    The signed-message benchmarks measure this right before each case, so that a slow moment of a
    shared machine shows up next to the figure it affects.
    """
    import os

    verify = _raw_ctypes_verifier()
    public, secret = ctypes.create_string_buffer(32), ctypes.create_string_buffer(64)
    sodium = _libsodium()
    sodium.crypto_sign_seed_keypair(public, secret, ctypes.c_char_p(os.urandom(32)))
    signature = ctypes.create_string_buffer(64)
    sodium.crypto_sign_detached(signature, None, ctypes.c_char_p(MESSAGE), ctypes.c_ulonglong(len(MESSAGE)), secret)
    sig, vk = signature.raw, public.raw
    if verify(sig, MESSAGE, len(MESSAGE), vk) != 0:
        raise RuntimeError("libsodium rejects its own signature")

    def loop(count: int, verify: Callable = verify, sig: bytes = sig, message: bytes = MESSAGE,
             size: int = len(MESSAGE), vk: bytes = vk) -> None:
        for _ in range(count):
            verify(sig, message, size, vk)
    return rate_per_second(loop, repeats, min_time)
