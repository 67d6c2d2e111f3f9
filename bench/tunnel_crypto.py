#!/usr/bin/env python3
"""Tunnel cryptography rates: cell layers and handshake steps, optionally next to pyipv8 3.2.1.

Usage (from the repository root, with the project interpreter)::

    .venv/bin/python bench/tunnel_crypto.py               # txipv8, plus the backend comparison
    .venv/bin/python bench/tunnel_crypto.py --reference   # plus pyipv8 3.2.1 (.venv-ref) and ratios
    .venv/bin/python bench/tunnel_crypto.py --quick       # a few seconds in all, for smoke checks

Rows "encrypt/decrypt N layers" are 1 KB cells through ``SessionKeys.encrypt_str``/``decrypt_str`` (N = 3: what
the initiator of a 3-hop circuit does per cell); decrypt works through distinct layers, as txipv8 refuses a
replayed counter. Handshake rows go through ``TunnelCrypto``. pyipv8 3.2.1 does all of this in Rust
(``ipv8_rust_tunnels``). The "backend" rows measure the primitives txipv8 could build on, in this interpreter,
to show why ``ipv8.messaging.anonymization.crypto`` uses ``cryptography`` for the cells and libsodium for X25519.
Figures are operations per second, best of several runs; with ``--reference`` the runs alternate (txipv8,
pyipv8, txipv8, pyipv8) so that a busy spell of a shared machine cannot land on one side only.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))  # our ipv8, also when the package is not installed

from _harness import use_project_interpreter  # noqa: E402

use_project_interpreter()

import libnacl  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

import ipv8  # noqa: E402
from _harness import (Row, check_ipv8_origin, interleaved_rates, load_average, machine_description,  # noqa: E402
                      print_table, reference_python, run_reference)
from _tunnel_crypto_loops import CELL, measure_tunnel_crypto  # noqa: E402
from ipv8.keyvault import _sodium  # noqa: E402
from ipv8.keyvault.crypto import default_eccrypto  # noqa: E402
from ipv8.messaging.anonymization.crypto import FORWARD, TunnelCrypto, generate_session_keys  # noqa: E402

check_ipv8_origin(ipv8, want_reference=False)

API_ROWS = ("encrypt 1 layer", "decrypt 1 layer", "encrypt 3 layers", "decrypt 3 layers", "handshake: initiator key",
            "handshake: hop answer", "handshake: initiator verify", "session keys (HKDF)")


def _sodium_aead() -> tuple:
    """ChaCha20-Poly1305 (IETF) encrypt/decrypt straight into libsodium through typed ctypes pointers."""
    lib = libnacl.nacl
    buffer, size = ctypes.c_char_p, ctypes.c_ulonglong
    encrypt = lib["crypto_aead_chacha20poly1305_ietf_encrypt"]
    encrypt.argtypes = (ctypes.c_void_p, ctypes.c_void_p, buffer, size, buffer, size, ctypes.c_void_p, buffer, buffer)
    encrypt.restype = ctypes.c_int
    decrypt = lib["crypto_aead_chacha20poly1305_ietf_decrypt"]
    decrypt.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, buffer, size, buffer, size, buffer, buffer)
    decrypt.restype = ctypes.c_int
    return encrypt, decrypt


def measure_backends(repeats: int, min_time: float) -> dict[str, float]:
    """The candidate primitives, raw: no counters, no framing."""
    key, nonce = bytes(range(32)), bytes(12)
    aead = ChaCha20Poly1305(key)
    sealed = aead.encrypt(nonce, CELL, None)
    sodium_encrypt, sodium_decrypt = _sodium_aead()
    new_buffer = ctypes.create_string_buffer

    def c_encrypt(count: int) -> None:
        for _ in range(count):
            aead.encrypt(nonce, CELL, None)

    def c_decrypt(count: int) -> None:
        for _ in range(count):
            aead.decrypt(nonce, sealed, None)

    def s_encrypt(count: int, size: int = len(CELL)) -> None:
        for _ in range(count):
            out = new_buffer(size + 16)
            sodium_encrypt(out, None, CELL, size, None, 0, None, nonce, key)
            out.raw  # noqa: B018 - the bytes object a caller would get

    def s_decrypt(count: int, size: int = len(sealed)) -> None:
        for _ in range(count):
            out = new_buffer(size - 16)
            if sodium_decrypt(out, None, None, sealed, size, None, 0, nonce, key) != 0:
                raise RuntimeError("libsodium refused its own ciphertext")
            out.raw  # noqa: B018

    def n_encrypt(count: int) -> None:
        for _ in range(count):
            libnacl.crypto_aead_chacha20poly1305_ietf_encrypt(CELL, b"", nonce, key)

    def n_decrypt(count: int) -> None:
        for _ in range(count):
            libnacl.crypto_aead_chacha20poly1305_ietf_decrypt(sealed, b"", nonce, key)

    out = new_buffer(len(sealed))
    sodium_encrypt(out, None, CELL, len(CELL), None, 0, None, nonce, key)
    if out.raw != sealed or libnacl.crypto_aead_chacha20poly1305_ietf_decrypt(sealed, b"", nonce, key) != CELL:
        raise RuntimeError("the backends disagree: the comparison would be meaningless")
    results = {f"backend: ChaCha20-Poly1305 1 KB {name}": rate for name, rate in interleaved_rates({
        "encrypt, cryptography (OpenSSL)": c_encrypt, "encrypt, libsodium (ctypes)": s_encrypt,
        "encrypt, libnacl": n_encrypt, "decrypt, cryptography (OpenSSL)": c_decrypt,
        "decrypt, libsodium (ctypes)": s_decrypt, "decrypt, libnacl": n_decrypt}, repeats, min_time).items()}

    # X25519 as the handshake needs it: HSalsa20 over the point (crypto_box_beforenm). cryptography has no
    # HSalsa20, so its path is X25519 there plus libsodium's crypto_core_hsalsa20.
    secret = bytes(range(1, 33))
    peer = X25519PrivateKey.generate().public_key().public_bytes_raw()
    private = X25519PrivateKey.from_private_bytes(secret)
    hsalsa = libnacl.nacl["crypto_core_hsalsa20"]
    hsalsa.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p)
    hsalsa.restype = ctypes.c_int
    zeros = bytes(16)

    def x_cryptography(count: int) -> None:
        for _ in range(count):
            point = private.exchange(X25519PublicKey.from_public_bytes(peer))
            out = new_buffer(32)
            hsalsa(out, zeros, point, None)

    def x_sodium(count: int) -> None:
        for _ in range(count):
            _sodium.box_beforenm(peer, secret)

    check = new_buffer(32)
    hsalsa(check, zeros, private.exchange(X25519PublicKey.from_public_bytes(peer)), None)
    if check.raw != _sodium.box_beforenm(peer, secret):
        raise RuntimeError("the X25519 paths disagree")
    results.update({f"backend: X25519 + HSalsa20, {name}": rate for name, rate in interleaved_rates({
        "libsodium beforenm": x_sodium, "cryptography + libsodium HSalsa20": x_cryptography},
        repeats, min_time).items()})
    return results


def keep_best(best: dict[str, float], new: dict[str, float]) -> None:
    """Merge ``new`` into ``best``, keeping the higher rate of each figure."""
    for name, rate in new.items():
        best[name] = max(best.get(name, 0.0), rate)


def build_rows(ours: dict[str, float], reference: dict | None) -> list[Row]:
    """The API rows (with pyipv8's figures) first, then the backend rows (txipv8's interpreter only)."""
    ref = reference or {}
    rows = [Row(name, name, ours[name], ref.get(name)) for name in API_ROWS]
    rows += [Row(name, name, rate) for name, rate in ours.items() if name.startswith("backend:")]
    return rows


def main() -> None:
    """Parse the options, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true", help="also measure pyipv8 3.2.1 and print ratios")
    parser.add_argument("--quick", action="store_true", help="one short run per figure (smoke check, noisy)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure; the best one counts")
    parser.add_argument("--min-time", type=float, default=0.25, help="seconds per run")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--reference-python", help="interpreter with pyipv8 3.2.1 (default .venv-ref)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.min_time = 1, 0.03

    print(f"machine: {machine_description()}; load average {load_average()}")
    # With --reference, alternate between the implementations (ours, pyipv8, ours, pyipv8) and keep each
    # figure's best: a slow minute of a shared machine then cannot land on one side only.
    rounds = 2 if args.reference and not args.quick else 1
    repeats = max(1, -(-args.repeats // rounds))
    long_term_key = default_eccrypto.generate_key("curve25519")
    ours: dict[str, float] = {}
    reference: dict[str, float] | None = {} if args.reference else None
    for _ in range(rounds):
        keep_best(ours, measure_tunnel_crypto(TunnelCrypto, generate_session_keys, long_term_key, FORWARD, repeats,
                                              args.min_time))
        keep_best(ours, measure_backends(repeats, args.min_time))
        if reference is not None:
            keep_best(reference, run_reference(reference_python(args.reference_python), "tunnel_crypto.py",
                                               ["--repeats", str(repeats), "--min-time", str(args.min_time)],
                                               timeout=300))
    print(f"load average after measuring: {load_average()}")
    print_table(build_rows(ours, reference), with_reference=reference is not None, markdown=args.markdown)


if __name__ == "__main__":
    main()
