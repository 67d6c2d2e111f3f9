"""Tunnel cryptography against what pyipv8 3.2.1 computed (``tunnel_crypto_vectors.json``, see its generator).

Both ways round: from the same keys and counters our code produces the reference bytes, and it accepts and
opens the reference bytes (handshake answers, single layers, every stage of a 3-hop onion).
"""
from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.keyvault.keys import PrivateKey
from ipv8.messaging.anonymization.crypto import (
    BACKWARD,
    FORWARD,
    REASON_BAD_AUTH,
    CryptoException,
    SessionKeys,
    TunnelCrypto,
    decrypt_layers,
    encrypt_layers,
    generate_session_keys,
)

VECTORS = json.loads((Path(__file__).parent / "tunnel_crypto_vectors.json").read_text())
KEYS = {name: default_eccrypto.key_from_private_bin(bytes.fromhex(blob["private"]))
        for name, blob in VECTORS["keys"].items()}
DIRECTIONS = {"forward": FORWARD, "backward": BACKWARD}


class PinnedTunnelCrypto(TunnelCrypto):
    """TunnelCrypto whose ephemeral keys are the vectors' fixed ones, in the order given."""

    def __init__(self, *ephemerals: PrivateKey) -> None:
        super().__init__()
        self.ephemerals = deque(ephemerals)

    def generate_key(self, security_level: str) -> PrivateKey:
        assert security_level == "curve25519"
        return self.ephemerals.popleft()


def unhex(text: str) -> bytes:
    return bytes.fromhex(text)


def test_vectors_come_from_pyipv8() -> None:
    assert VECTORS["reference"].startswith("pyipv8 3.2.1, ipv8-rust-tunnels ")
    assert VECTORS["generator"] == "tests/messaging/anonymization/make_tunnel_crypto_vectors.py"
    assert VECTORS["directions"] == {"forward": FORWARD, "backward": BACKWARD}


@pytest.mark.parametrize("name", sorted(VECTORS["keys"]))
def test_fixed_keys_load_identically(name: str) -> None:
    blob = VECTORS["keys"][name]
    key = KEYS[name]
    assert key.get_crypt_pk().hex() == blob["crypt_pk"]
    assert key.pub().key_to_bin().hex() == blob["public"]


@pytest.mark.parametrize("vector", VECTORS["handshakes"], ids=lambda vector: vector["hop"])
def test_handshake_as_initiator_and_as_hop(vector: dict) -> None:
    x_key, b_key, y_key = KEYS[vector["x"]], KEYS[vector["b"]], KEYS[vector["y"]]
    crypto = PinnedTunnelCrypto(x_key, y_key)
    crypto.initialize(b_key)

    dh_secret, dh_first_part = crypto.generate_diffie_secret()
    assert dh_first_part.hex() == vector["dh_first_part"]

    # As the hop: the same answer pyipv8 gave.
    shared_secret, y, auth = crypto.generate_diffie_shared_secret(dh_first_part)
    assert (shared_secret.hex(), y.hex(), auth.hex()) == (vector["shared_secret"], vector["Y"], vector["auth"])

    # As the initiator: pyipv8's answer is accepted and gives the same secret.
    initiator_secret = crypto.verify_and_generate_shared_secret(dh_secret, unhex(vector["Y"]), unhex(vector["auth"]),
                                                                b_key.pub().get_crypt_pk())
    assert initiator_secret.hex() == vector["initiator_shared_secret"] == vector["shared_secret"]

    # pyipv8 refused a flipped auth; so do we.
    assert vector["flipped_auth_refused"] is True
    flipped = bytes([unhex(vector["auth"])[0] ^ 1]) + unhex(vector["auth"])[1:]
    with pytest.raises(CryptoException) as refused:
        crypto.verify_and_generate_shared_secret(dh_secret, unhex(vector["Y"]), flipped, b_key.pub())
    assert refused.value.reason == REASON_BAD_AUTH


@pytest.mark.parametrize("vector", VECTORS["session_keys"], ids=lambda vector: vector["name"])
def test_session_keys(vector: dict) -> None:
    for keys in (generate_session_keys(unhex(vector["shared_secret"])),
                 TunnelCrypto.generate_session_keys(unhex(vector["shared_secret"]))):
        assert keys.key_forward.hex() == vector["key_forward"]
        assert keys.key_backward.hex() == vector["key_backward"]
        assert keys.salt_forward.hex() == vector["salt_forward"]
        assert keys.salt_backward.hex() == vector["salt_backward"]
        assert keys.salt_explicit_forward == vector["salt_explicit_forward"]
        assert keys.salt_explicit_backward == vector["salt_explicit_backward"]


CELLS = VECTORS["cells"]


@pytest.mark.parametrize("vector", CELLS["single"],
                         ids=lambda vector: f"{vector['direction']}-{vector['counter_before']}-"
                                            f"{len(vector['plaintext']) // 2}")
def test_single_layer(vector: dict) -> None:
    direction = DIRECTIONS[vector["direction"]]
    plaintext, layer = unhex(vector["plaintext"]), unhex(vector["layer"])

    sender = generate_session_keys(unhex(CELLS["shared_secret"]))
    if direction == FORWARD:
        sender.salt_explicit_forward = vector["counter_before"]
    else:
        sender.salt_explicit_backward = vector["counter_before"]
    assert sender.encrypt_str(plaintext, direction) == layer

    # pyipv8 opened it with fresh keys whatever the counter (HOP_CANDIDATES_COUNTER relies on that); so do we.
    assert vector["reference_opens"] is True
    receiver = generate_session_keys(unhex(CELLS["shared_secret"]))
    assert receiver.decrypt_str(layer, direction) == plaintext
    assert receiver.newest_received(direction) == vector["counter_before"] + 1


def test_fresh_keys_count_like_pyipv8() -> None:
    sender = generate_session_keys(unhex(CELLS["shared_secret"]))
    receiver = generate_session_keys(unhex(CELLS["shared_secret"]))
    for item in CELLS["fresh_run"]:
        direction = DIRECTIONS[item["direction"]]
        assert sender.encrypt_str(unhex(item["plaintext"]), direction).hex() == item["layer"]
        assert receiver.decrypt_str(unhex(item["layer"]), direction) == unhex(item["plaintext"])
    assert (sender.salt_explicit_forward, sender.salt_explicit_backward) == (4, 3)


ONION = VECTORS["onion"]
ONION_SECRETS = [unhex(next(h["shared_secret"] for h in VECTORS["handshakes"] if h["hop"] == hop))
                 for hop in ONION["hops"]]


def circuit_keys() -> tuple[list[SessionKeys], list[SessionKeys]]:
    """The initiator's keys for each hop, and each hop's own copy."""
    return ([generate_session_keys(secret) for secret in ONION_SECRETS],
            [generate_session_keys(secret) for secret in ONION_SECRETS])


def test_onion_forward_three_hops() -> None:
    initiator, hops = circuit_keys()
    for cell in ONION["forward"]:
        plaintext, stages = unhex(cell["plaintext"]), [unhex(stage) for stage in cell["stages"]]
        assert encrypt_layers(plaintext, FORWARD, initiator) == stages[0]
        # Every hop opens what pyipv8's previous hop passed on and passes on what pyipv8's did.
        for hop_keys, before, after in zip(hops, stages, stages[1:]):
            assert decrypt_layers(before, FORWARD, [hop_keys]) == after
        assert stages[-1] == plaintext


def test_onion_backward_three_hops() -> None:
    initiator, hops = circuit_keys()
    for cell in ONION["backward"]:
        plaintext, stages = unhex(cell["plaintext"]), [unhex(stage) for stage in cell["stages"]]
        inputs = [plaintext, *stages[:-1]]
        for hop_keys, before, after in zip(reversed(hops), inputs, stages):
            assert encrypt_layers(before, BACKWARD, [hop_keys]) == after
        assert decrypt_layers(stages[-1], BACKWARD, initiator) == plaintext
