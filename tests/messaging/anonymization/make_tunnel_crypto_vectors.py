"""Record what pyipv8 3.2.1's tunnel cryptography computes, for ``test_tunnel_crypto_vectors.py``.

Run it ONLY with the reference interpreter (pyipv8 3.2.1 and its Rust data plane ``ipv8_rust_tunnels``)::

    .venv-ref/bin/python tests/messaging/anonymization/make_tunnel_crypto_vectors.py \\
        tests/messaging/anonymization/tunnel_crypto_vectors.json                 (part of `make vectors`)

Every input is fixed: the keys (initiator ephemerals ``x``, hop long-term keys ``b``, hop ephemerals ``y``) are
built from fixed seeds and pyipv8's key generation is pinned to hand them out; the counters are set explicitly.
ChaCha20-Poly1305 is deterministic, so running this twice writes the same file. Sections of the JSON document:

* ``keys``: private keys (hex of the ``LibNaCLSK:`` binary) and their X25519 public halves;
* ``handshakes``: for the three hops of one circuit (relay1, relay2, exit): what the hop answers
  (``TunnelCrypto.generate_diffie_shared_secret``: shared secret, Y, auth), what the initiator derives
  (``verify_and_generate_shared_secret``), and whether pyipv8 refuses a flipped auth;
* ``session_keys``: ``generate_session_keys`` of each handshake's secret and of a few other secrets;
* ``cells``: single layers (``SessionKeys.encrypt_str``) for chosen counters, lengths and both directions (and
  whether fresh pyipv8 keys open each: any counter is accepted), and a run of fresh keys that shows where the
  counters start;
* ``onion``: a 3-hop circuit driven through pyipv8's ``PythonCryptoEndpoint.encrypt_cell``/``decrypt_cell``:
  every stage of forward cells (initiator -> relay1 -> relay2 -> exit) and backward ones (exit -> ... ->
  initiator).

Bytes are hex strings. This script only drives pyipv8; none of its code is part of txipv8.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path
from unittest import mock

REFERENCE_DISTRIBUTION = "pyipv8"
REFERENCE_VERSION = "3.2.1"
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.reference_interpreter import require_reference  # noqa: E402

require_reference(__file__, ".venv-ref/bin/python tests/messaging/anonymization/make_tunnel_crypto_vectors.py tests/messaging/anonymization/tunnel_crypto_vectors.json")

# pylint: disable=wrong-import-position
from ipv8.keyvault.private.openssl import OpenSSLSK  # noqa: E402
from ipv8.messaging.anonymization.crypto import CryptoException, PythonCryptoEndpoint, TunnelCrypto  # noqa: E402
from ipv8.messaging.anonymization.payload import CellPayload  # noqa: E402
from ipv8.messaging.anonymization.tunnel import BACKWARD, FORWARD, Hop  # noqa: E402
from ipv8.peer import Peer  # noqa: E402

HOPS = ("relay1", "relay2", "exit")
DIRECTIONS = {"forward": FORWARD, "backward": BACKWARD}
CIRCUIT_ID = 0x1234ABCD


def make_key(name: str) -> OpenSSLSK:
    """A curve25519 private key from a fixed seed (X25519 secret and Ed25519 seed, 32 bytes each)."""
    return OpenSSLSK(b"LibNaCLSK:" + hashlib.sha512(f"txipv8 tunnel crypto vector key {name}".encode()).digest())


def stream(label: str, size: int) -> bytes:
    """``size`` deterministic bytes."""
    out = b""
    block = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}/{block}".encode()).digest()
        block += 1
    return out[:size]


KEYS = {f"{role}_{hop}": make_key(f"{role}_{hop}") for hop in HOPS for role in ("x", "b", "y")}


def key_vectors() -> dict:
    return {name: {"private": key.key_to_bin().hex(), "public": key.pub().key_to_bin().hex(),
                   "crypt_pk": key.get_crypt_pk().hex()} for name, key in KEYS.items()}


def handshake(crypto: TunnelCrypto, hop: str) -> dict:
    """One hop's handshake, pyipv8 on both sides, with the ephemeral keys pinned."""
    x_key, b_key, y_key = KEYS[f"x_{hop}"], KEYS[f"b_{hop}"], KEYS[f"y_{hop}"]
    crypto.initialize(b_key)
    with mock.patch.object(OpenSSLSK, "generate", staticmethod(lambda curve: x_key)):
        dh_secret, dh_first_part = crypto.generate_diffie_secret()
    with mock.patch.object(OpenSSLSK, "generate", staticmethod(lambda curve: y_key)):
        shared_secret, y, auth = crypto.generate_diffie_shared_secret(dh_first_part)
    initiator_secret = crypto.verify_and_generate_shared_secret(dh_secret, y, auth, b_key.pub().get_crypt_pk())
    flipped = bytes([auth[0] ^ 1]) + auth[1:]
    try:
        crypto.verify_and_generate_shared_secret(dh_secret, y, flipped, b_key.pub().get_crypt_pk())
        flipped_refused = False
    except CryptoException:
        flipped_refused = True
    return {"hop": hop, "x": f"x_{hop}", "b": f"b_{hop}", "y": f"y_{hop}", "dh_first_part": dh_first_part.hex(),
            "shared_secret": shared_secret.hex(), "Y": y.hex(), "auth": auth.hex(),
            "initiator_shared_secret": initiator_secret.hex(), "flipped_auth_refused": flipped_refused}


def session_key_json(keys: object) -> dict:
    return {"key_forward": keys.key_forward.hex(), "key_backward": keys.key_backward.hex(),
            "salt_forward": keys.salt_forward.hex(), "salt_backward": keys.salt_backward.hex(),
            "salt_explicit_forward": keys.salt_explicit_forward,
            "salt_explicit_backward": keys.salt_explicit_backward}


def session_key_vectors(crypto: TunnelCrypto, handshakes: list[dict]) -> list[dict]:
    secrets = [(f"handshake {item['hop']}", bytes.fromhex(item["shared_secret"])) for item in handshakes]
    secrets += [("zeros-64", bytes(64)), ("counting-64", bytes(range(64))),
                ("stream-64", stream("secret", 64)), ("stream-32", stream("short secret", 32))]
    return [{"name": name, "shared_secret": secret.hex(), **session_key_json(crypto.generate_session_keys(secret))}
            for name, secret in secrets]


# (counter set before encrypting, plaintext length): the layer carries counter + 1.
CELL_CASES = ((1, 0), (1, 1), (1, 1024), (2, 23), (2, 24), (41, 1400), (255, 100), (65535, 29),
              (2**32 - 1, 512), (2**32, 64), (2**63 - 1, 1024), (2**63, 8), (2**64 - 2, 33))


def cell_vectors(crypto: TunnelCrypto, shared_secret: bytes) -> dict:
    single = []
    for direction_name, direction in DIRECTIONS.items():
        for counter, length in CELL_CASES:
            keys = crypto.generate_session_keys(shared_secret)
            plaintext = stream(f"cell {direction_name} {counter} {length}", length)
            if direction == FORWARD:
                keys.salt_explicit_forward = counter
            else:
                keys.salt_explicit_backward = counter
            layer = keys.encrypt_str(plaintext, direction)
            # Whether fresh pyipv8 keys open it: pyipv8 puts no condition on the counter it receives.
            opens = crypto.generate_session_keys(shared_secret).decrypt_str(layer, direction) == plaintext
            single.append({"direction": direction_name, "counter_before": counter, "plaintext": plaintext.hex(),
                           "layer": layer.hex(), "reference_opens": opens})
    # Fresh keys, both directions interleaved: where the counters start and that each direction counts alone.
    keys = crypto.generate_session_keys(shared_secret)
    run = []
    for index, direction_name in enumerate(("forward", "forward", "backward", "forward", "backward")):
        plaintext = stream(f"run {index}", 16 + index)
        run.append({"direction": direction_name, "plaintext": plaintext.hex(),
                    "layer": keys.encrypt_str(plaintext, DIRECTIONS[direction_name]).hex()})
    return {"shared_secret": shared_secret.hex(), "single": single, "fresh_run": run}


def onion_vectors(crypto: TunnelCrypto, handshakes: list[dict]) -> dict:
    """Cells through a 3-hop circuit, with pyipv8's own layering code (the endpoint's encrypt/decrypt_cell)."""
    secrets = [bytes.fromhex(item["shared_secret"]) for item in handshakes]
    initiator_hops = [Hop(Peer(KEYS[f"b_{name}"].pub()), crypto.generate_session_keys(secret))
                      for name, secret in zip(HOPS, secrets)]
    # Each hop has its own copy of its keys (counters and all), as on a real network. (The layering only
    # looks at a Hop's keys; the peer is whoever sits before the hop, here simply the first ephemeral key.)
    hop_views = [Hop(Peer(KEYS["x_relay1"].pub()), crypto.generate_session_keys(secret)) for secret in secrets]
    # The layering methods use nothing of the endpoint object: call them without a network behind them.
    encrypt_cell = PythonCryptoEndpoint.encrypt_cell
    decrypt_cell = PythonCryptoEndpoint.decrypt_cell

    forward = []
    for index, length in enumerate((1, 200, 1024, 1300)):
        plaintext = b"\x01" + stream(f"onion forward {index}", length - 1)
        cell = CellPayload(CIRCUIT_ID, plaintext)
        encrypt_cell(None, cell, FORWARD, *initiator_hops)
        stages = [cell.message.hex()]
        for hop in hop_views:
            decrypt_cell(None, cell, FORWARD, hop)
            stages.append(cell.message.hex())
        if cell.message != plaintext:
            raise RuntimeError("forward onion did not come out at the exit")
        forward.append({"plaintext": plaintext.hex(), "stages": stages})

    backward = []
    for index, length in enumerate((7, 1024, 600)):
        plaintext = b"\x01" + stream(f"onion backward {index}", length - 1)
        cell = CellPayload(CIRCUIT_ID, plaintext)
        stages = []
        for hop in reversed(hop_views):
            encrypt_cell(None, cell, BACKWARD, hop)
            stages.append(cell.message.hex())
        decrypt_cell(None, cell, BACKWARD, *initiator_hops)
        if cell.message != plaintext:
            raise RuntimeError("backward onion did not come back to the initiator")
        backward.append({"plaintext": plaintext.hex(), "stages": stages})
    return {"hops": list(HOPS), "forward": forward, "backward": backward,
            "note": "forward stages: as sent by the initiator, then after relay1, relay2 and the exit removed "
                    "their layers; backward stages: as sent by the exit, then after relay2 and relay1 added theirs"}


def main(target: Path) -> None:
    crypto = TunnelCrypto()
    handshakes = [handshake(crypto, hop) for hop in HOPS]
    document = {
        "generator": "tests/messaging/anonymization/make_tunnel_crypto_vectors.py",
        "reference": f"{REFERENCE_DISTRIBUTION} {REFERENCE_VERSION}, "
                     f"ipv8-rust-tunnels {importlib.metadata.version('ipv8-rust-tunnels')}",
        "directions": {"forward": FORWARD, "backward": BACKWARD},
        "keys": key_vectors(),
        "handshakes": handshakes,
        "session_keys": session_key_vectors(crypto, handshakes),
        "cells": cell_vectors(crypto, bytes.fromhex(handshakes[0]["shared_secret"])),
        "onion": onion_vectors(crypto, handshakes),
    }
    target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:  # noqa: PLR2004
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
