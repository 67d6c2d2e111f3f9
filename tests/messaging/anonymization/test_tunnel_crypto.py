"""Behaviour of the tunnel cryptography beyond the pyipv8 vectors: refusals, the replay window, key checks."""
from __future__ import annotations

import hashlib

import libnacl
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization import tunnel
from ipv8.messaging.anonymization.crypto import (
    BACKWARD,
    DEFAULT_REPLAY_WINDOW,
    FORWARD,
    HOP_CANDIDATES_COUNTER,
    LAYER_OVERHEAD,
    REASON_BAD_AUTH,
    REASON_BAD_DIRECTION,
    REASON_BAD_KEY,
    REASON_BAD_TAG,
    REASON_COUNTER_EXHAUSTED,
    REASON_MISSING_KEYS,
    REASON_REPLAYED,
    REASON_TOO_OLD,
    REASON_TOO_SHORT,
    REASONS,
    CryptoException,
    ReplayError,
    SessionKeys,
    TunnelCrypto,
    decrypt_layers,
    encrypt_layers,
    generate_session_keys,
)

SECRET = hashlib.sha512(b"txipv8 tunnel crypto unit tests").digest()
CELL = bytes(range(256)) * 4  # a 1 KB cell


def pair(window: int = DEFAULT_REPLAY_WINDOW) -> tuple[SessionKeys, SessionKeys]:
    """Both ends of one hop."""
    return generate_session_keys(SECRET, window), generate_session_keys(SECRET, window)


def layer_at(counter: int, direction: int = FORWARD, content: bytes = b"cell") -> bytes:
    """A genuine layer carrying ``counter``."""
    sender = generate_session_keys(SECRET)
    if direction == FORWARD:
        sender.salt_explicit_forward = counter - 1
    else:
        sender.salt_explicit_backward = counter - 1
    return sender.encrypt_str(content, direction)


def counter_of(layer: bytes) -> int:
    return int.from_bytes(layer[:8], "big")


def refused(reason: str, function, *args) -> CryptoException:  # noqa: ANN001
    with pytest.raises(CryptoException) as info:
        function(*args)
    assert info.value.reason == reason
    assert info.value.reason in REASONS
    assert isinstance(info.value, ValueError)  # what pyipv8-style callers catch
    return info.value


# -- layers ------------------------------------------------------------------------------------------------


def test_directions_are_the_circuit_modules() -> None:
    assert (FORWARD, BACKWARD) == (tunnel.FORWARD, tunnel.BACKWARD)


@pytest.mark.parametrize("size", [0, 1, 23, 24, 1024, 1500])
@pytest.mark.parametrize("direction", [FORWARD, BACKWARD])
def test_round_trip(size: int, direction: int) -> None:
    sender, receiver = pair()
    content = CELL[:size] if size <= len(CELL) else CELL + bytes(size - len(CELL))
    layer = sender.encrypt_str(content, direction)
    assert len(layer) == size + LAYER_OVERHEAD
    assert receiver.decrypt_str(layer, direction) == content


def test_counters_start_at_two_and_each_direction_counts_alone() -> None:
    sender, _ = pair()
    forward = [counter_of(sender.encrypt_str(b"x", FORWARD)) for _ in range(3)]
    backward = [counter_of(sender.encrypt_str(b"x", BACKWARD)) for _ in range(2)]
    assert forward == [2, 3, 4]
    assert backward == [2, 3]
    assert (sender.salt_explicit_forward, sender.salt_explicit_backward) == (4, 3)


def test_same_keys_send_and_receive_the_same_direction() -> None:
    """pyipv8 encrypts the created candidates forward and then receives forward cells on the same keys."""
    hop, initiator = pair()
    candidates = hop.encrypt_str(b"candidates", FORWARD)  # counter 2, sent by the hop
    assert initiator.decrypt_str(candidates, FORWARD) == b"candidates"
    first_data = initiator.encrypt_str(b"data", FORWARD)  # also counter 2, sent by the initiator
    assert counter_of(first_data) == 2
    assert hop.decrypt_str(first_data, FORWARD) == b"data"


def test_hop_candidates_counter_avoids_the_shared_nonce() -> None:
    hop, initiator = pair()
    hop.salt_explicit_forward = HOP_CANDIDATES_COUNTER
    candidates = hop.encrypt_str(b"candidates", FORWARD)
    assert counter_of(candidates) == HOP_CANDIDATES_COUNTER + 1
    assert initiator.decrypt_str(candidates, FORWARD) == b"candidates"
    cells = [initiator.encrypt_str(b"data %d" % index, FORWARD) for index in range(3)]
    assert [counter_of(cell) for cell in cells] == [2, 3, 4]
    assert [hop.decrypt_str(cell, FORWARD) for cell in cells] == [b"data 0", b"data 1", b"data 2"]


def test_tampering_is_refused_anywhere_in_the_layer() -> None:
    sender, _ = pair()
    layer = sender.encrypt_str(CELL, FORWARD)
    for position in (0, 7, 8, 500, len(layer) - 17, len(layer) - 16, len(layer) - 1):
        _, receiver = pair()
        damaged = bytearray(layer)
        damaged[position] ^= 0x01
        refused(REASON_BAD_TAG, receiver.decrypt_str, bytes(damaged), FORWARD)
        # The real layer still goes through afterwards: a forgery moves nothing.
        assert receiver.decrypt_str(layer, FORWARD) == CELL


def test_truncated_wrong_direction_and_wrong_keys_are_refused() -> None:
    sender, receiver = pair()
    layer = sender.encrypt_str(CELL, FORWARD)
    refused(REASON_BAD_TAG, receiver.decrypt_str, layer[:-1], FORWARD)
    refused(REASON_BAD_TAG, receiver.decrypt_str, layer + b"\x00", FORWARD)
    refused(REASON_BAD_TAG, receiver.decrypt_str, layer, BACKWARD)
    stranger = generate_session_keys(hashlib.sha512(b"another circuit").digest())
    refused(REASON_BAD_TAG, stranger.decrypt_str, layer, FORWARD)
    for size in (0, 1, LAYER_OVERHEAD - 1):
        refused(REASON_TOO_SHORT, receiver.decrypt_str, layer[:size], FORWARD)
    assert receiver.decrypt_str(layer, FORWARD) == CELL


def test_bad_direction_is_refused() -> None:
    sender, receiver = pair()
    layer = sender.encrypt_str(b"x", FORWARD)
    for direction in (2, -1, None, "0"):
        refused(REASON_BAD_DIRECTION, sender.encrypt_str, b"x", direction)
        refused(REASON_BAD_DIRECTION, receiver.decrypt_str, layer, direction)


def test_counter_is_never_reused_at_the_end_of_its_range() -> None:
    sender, receiver = pair()
    sender.salt_explicit_backward = 2**64 - 2
    last = sender.encrypt_str(b"last", BACKWARD)
    assert counter_of(last) == 2**64 - 1
    refused(REASON_COUNTER_EXHAUSTED, sender.encrypt_str, b"one too many", BACKWARD)
    assert receiver.decrypt_str(last, BACKWARD) == b"last"
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError):
            sender.salt_explicit_forward = bad


# -- the replay window -------------------------------------------------------------------------------------


def test_replayed_cell_is_refused() -> None:
    sender, receiver = pair()
    layer = sender.encrypt_str(CELL, BACKWARD)
    assert receiver.decrypt_str(layer, BACKWARD) == CELL
    error = refused(REASON_REPLAYED, receiver.decrypt_str, layer, BACKWARD)
    assert isinstance(error, ReplayError)
    assert error.counter == 2
    # The other direction keeps its own window.
    assert receiver.decrypt_str(layer_at(2, FORWARD), FORWARD) == b"cell"


def test_a_low_counter_reused_by_its_sender_is_tolerated_a_few_times() -> None:
    """pyipv8 on its Rust endpoint sends several different cells with counter 2 (see
    NONCE_REUSE_TOLERATED_BELOW): each distinct authentic one is accepted, up to NONCE_REUSES_PER_COUNTER;
    the same cell again is still a replay, and so is any reuse of a higher counter."""
    from ipv8.messaging.anonymization.crypto import NONCE_REUSE_TOLERATED_BELOW, NONCE_REUSES_PER_COUNTER
    _, receiver = pair()
    cells = [layer_at(2, FORWARD, b"cell %d" % number) for number in range(NONCE_REUSES_PER_COUNTER + 1)]
    assert receiver.decrypt_str(cells[0], FORWARD) == b"cell 0"
    refused(REASON_REPLAYED, receiver.decrypt_str, cells[0], FORWARD)
    for number in range(1, NONCE_REUSES_PER_COUNTER):
        assert receiver.decrypt_str(cells[number], FORWARD) == b"cell %d" % number
        refused(REASON_REPLAYED, receiver.decrypt_str, cells[number], FORWARD)
    refused(REASON_REPLAYED, receiver.decrypt_str, cells[-1], FORWARD)
    assert receiver.nonce_reuses(FORWARD) == NONCE_REUSES_PER_COUNTER - 1
    # A forged cell with a reused counter does not authenticate, and is not counted.
    forged = bytearray(layer_at(2, FORWARD, b"other"))
    forged[-1] ^= 1
    _, fresh = pair()
    fresh.decrypt_str(cells[0], FORWARD)
    refused(REASON_BAD_TAG, fresh.decrypt_str, bytes(forged), FORWARD)
    assert fresh.nonce_reuses(FORWARD) == 0
    # Higher counters get no such tolerance.
    high = NONCE_REUSE_TOLERATED_BELOW
    assert receiver.decrypt_str(layer_at(high, FORWARD, b"a"), FORWARD) == b"a"
    refused(REASON_REPLAYED, receiver.decrypt_str, layer_at(high, FORWARD, b"b"), FORWARD)


def test_counter_zero_is_refused() -> None:
    """No honest sender uses counter 0 (the first is 2): it starts out as used. Built here by hand."""
    _, receiver = pair()
    zero = bytes(8)
    layer = zero + ChaCha20Poly1305(receiver.key_forward).encrypt(receiver.salt_forward + zero, b"cell", None)
    refused(REASON_REPLAYED, receiver.decrypt_str, layer, FORWARD)
    assert receiver.decrypt_str(layer_at(1), FORWARD) == b"cell"


def test_reordering_within_the_window_is_accepted_once() -> None:
    _, receiver = pair(window=64)
    order = [5, 2, 9, 3, 70, 8, 7, 69, 6, 4]  # 70 - 64 + 1 = 7 is the oldest the window still holds
    outcome = {}
    for counter in order:
        try:
            receiver.decrypt_str(layer_at(counter), FORWARD)
            outcome[counter] = "ok"
        except ReplayError as exc:
            outcome[counter] = exc.reason
    assert outcome == {5: "ok", 2: "ok", 9: "ok", 3: "ok", 70: "ok", 8: "ok", 7: "ok", 69: "ok",
                       6: REASON_TOO_OLD, 4: REASON_TOO_OLD}
    for counter in (70, 69, 8, 7):
        refused(REASON_REPLAYED, receiver.decrypt_str, layer_at(counter), FORWARD)
    assert receiver.newest_received(FORWARD) == 70


@pytest.mark.parametrize("window", [1, 64, DEFAULT_REPLAY_WINDOW])
def test_window_edges(window: int) -> None:
    _, receiver = pair(window)
    top = 10 * window + 5
    receiver.decrypt_str(layer_at(top), FORWARD)
    oldest_kept = top - window + 1
    if oldest_kept < top:
        assert receiver.decrypt_str(layer_at(oldest_kept), FORWARD) == b"cell"
        refused(REASON_REPLAYED, receiver.decrypt_str, layer_at(oldest_kept), FORWARD)
    error = refused(REASON_TOO_OLD, receiver.decrypt_str, layer_at(top - window), FORWARD)
    assert error.counter == top - window
    # Moving exactly one window ahead forgets everything older.
    receiver.decrypt_str(layer_at(top + window), FORWARD)
    refused(REASON_TOO_OLD, receiver.decrypt_str, layer_at(top), FORWARD)
    if window > 1:
        assert receiver.decrypt_str(layer_at(top + 1), FORWARD) == b"cell"


def test_window_memory_is_bounded_by_any_jump() -> None:
    _, receiver = pair(window=128)
    for counter in (3, 2**40, 2**63 + 7, 2**64 - 1):
        receiver.decrypt_str(layer_at(counter, BACKWARD), BACKWARD)
    state = receiver._backward  # noqa: SLF001 - the bound is the point of this test
    assert state.top == 2**64 - 1
    assert len(state.received) == 128
    refused(REASON_TOO_OLD, receiver.decrypt_str, layer_at(2**63 + 7, BACKWARD), BACKWARD)


def test_forged_cell_does_not_move_the_window() -> None:
    sender, receiver = pair(window=64)
    forged = (2**50).to_bytes(8, "big") + bytes(100)
    refused(REASON_BAD_TAG, receiver.decrypt_str, forged, FORWARD)
    assert receiver.newest_received(FORWARD) == 0
    assert receiver.decrypt_str(sender.encrypt_str(b"real", FORWARD), FORWARD) == b"real"


# -- onions ------------------------------------------------------------------------------------------------


def three_hops() -> tuple[list[SessionKeys], list[SessionKeys]]:
    secrets = [hashlib.sha512(f"hop {index}".encode()).digest() for index in range(3)]
    return [generate_session_keys(s) for s in secrets], [generate_session_keys(s) for s in secrets]


def test_onion_through_three_hops_both_ways() -> None:
    initiator, hops = three_hops()
    onion = encrypt_layers(CELL, FORWARD, initiator)
    assert len(onion) == len(CELL) + 3 * LAYER_OVERHEAD
    for keys in hops:
        onion = decrypt_layers(onion, FORWARD, [keys])
    assert onion == CELL

    reply = CELL[:100]
    for keys in reversed(hops):
        reply = encrypt_layers(reply, BACKWARD, [keys])
    assert decrypt_layers(reply, BACKWARD, initiator) == CELL[:100]


def test_onion_failures_name_the_layer() -> None:
    initiator, hops = three_hops()
    onion = encrypt_layers(CELL, FORWARD, initiator)
    error = refused(REASON_BAD_TAG, decrypt_layers, onion, FORWARD, [hops[1]])
    assert error.layer == (1, 1)
    assert "layer 1/1" in str(error)

    reply = encrypt_layers(b"reply", BACKWARD, [hops[2]])  # only the exit's layer: relays 1 and 2 missing
    error = refused(REASON_BAD_TAG, decrypt_layers, reply, BACKWARD, initiator)
    assert error.layer == (1, 3)

    error = refused(REASON_MISSING_KEYS, encrypt_layers, CELL, FORWARD, [initiator[0], None, initiator[2]])
    assert error.layer == (2, 3)
    error = refused(REASON_MISSING_KEYS, decrypt_layers, CELL, BACKWARD, [None])
    assert error.layer == (1, 1)

    decrypt_layers(onion, FORWARD, [hops[0]])
    error = refused(REASON_REPLAYED, decrypt_layers, onion, FORWARD, [hops[0]])
    assert isinstance(error, ReplayError)


# -- session keys ----------------------------------------------------------------------------------------


def test_session_keys_refuse_short_or_odd_secrets() -> None:
    refused(REASON_BAD_KEY, generate_session_keys, SECRET[:31])
    refused(REASON_BAD_KEY, generate_session_keys, "not bytes")
    assert generate_session_keys(bytearray(SECRET)).key_forward == generate_session_keys(SECRET).key_forward
    with pytest.raises(ValueError):
        generate_session_keys(SECRET, replay_window=0)


def test_session_keys_attributes_can_be_replaced() -> None:
    keys = generate_session_keys(SECRET)
    keys.key_forward, keys.salt_forward = bytes(32), bytes(4)
    twin = SessionKeys(bytes(32), keys.key_backward, bytes(4), keys.salt_backward)
    assert keys.encrypt_str(b"abc", FORWARD) == twin.encrypt_str(b"abc", FORWARD)
    with pytest.raises(CryptoException):
        keys.key_backward = bytes(31)
    with pytest.raises(CryptoException):
        keys.salt_backward = b"12345"
    assert keys.key_backward.hex() not in repr(keys)
    assert keys.key_forward.hex() not in repr(keys)


# -- the handshake -----------------------------------------------------------------------------------------


def handshake() -> tuple[TunnelCrypto, object, object, tuple[bytes, bytes, bytes]]:
    crypto = TunnelCrypto()
    hop_key = default_eccrypto.generate_key("curve25519")
    crypto.initialize(hop_key)
    dh_secret, dh_first_part = crypto.generate_diffie_secret()
    return crypto, hop_key, dh_secret, crypto.generate_diffie_shared_secret(dh_first_part)


def test_handshake_agrees_and_auth_is_libsodium_crypto_auth() -> None:
    crypto, hop_key, dh_secret, (shared_secret, y, auth) = handshake()
    assert len(shared_secret) == 64 and len(y) == 32 and len(auth) == 32
    assert auth == libnacl.crypto_auth(y, shared_secret[:32])
    # The long-term key may be given as the raw X25519 key or as the IPv8 public key.
    for b in (hop_key.pub().get_crypt_pk(), hop_key.pub()):
        assert crypto.verify_and_generate_shared_secret(dh_secret, y, auth, b) == shared_secret
    # Fresh ephemeral keys each time: another handshake gives other secrets.
    assert handshake()[3][0] != shared_secret


def test_wrong_auth_is_refused() -> None:
    crypto, hop_key, dh_secret, (_, y, auth) = handshake()
    b = hop_key.pub().get_crypt_pk()
    for bad in (bytes(32), auth[:-1] + bytes([auth[-1] ^ 0x80]), auth[:31], auth + b"\x00", None):
        refused(REASON_BAD_AUTH, crypto.verify_and_generate_shared_secret, dh_secret, y, bad, b)
    # Another Y than the one the auth was made over.
    other_y = default_eccrypto.generate_key("curve25519").get_crypt_pk()
    refused(REASON_BAD_AUTH, crypto.verify_and_generate_shared_secret, dh_secret, other_y, auth, b)


def test_an_impostor_without_the_long_term_key_gets_nowhere() -> None:
    """auth covers only the ephemeral half; the long-term half shows in the session keys."""
    crypto = TunnelCrypto()
    real_hop = default_eccrypto.generate_key("curve25519")
    impostor = default_eccrypto.generate_key("curve25519")
    crypto.initialize(impostor)
    dh_secret, dh_first_part = crypto.generate_diffie_secret()
    impostor_secret, y, auth = crypto.generate_diffie_shared_secret(dh_first_part)
    initiator_secret = crypto.verify_and_generate_shared_secret(dh_secret, y, auth, real_hop.pub())
    assert initiator_secret[:32] == impostor_secret[:32]
    assert initiator_secret != impostor_secret
    onion = generate_session_keys(initiator_secret).encrypt_str(b"to the real hop", FORWARD)
    refused(REASON_BAD_TAG, generate_session_keys(impostor_secret).decrypt_str, onion, FORWARD)


@pytest.mark.parametrize("level", ["very-low", "low"])
def test_keys_of_other_curves_are_refused_clearly(level: str) -> None:
    ec_key = default_eccrypto.generate_key(level)
    crypto = TunnelCrypto()
    assert crypto.is_key_compatible(default_eccrypto.generate_key("curve25519").pub())
    assert not crypto.is_key_compatible(ec_key.pub())
    assert not crypto.is_key_compatible(b"LibNaCLPK:")

    # A node with an EC key can be initialised (it may still build circuits) but cannot answer a handshake.
    crypto.initialize(ec_key)
    _, dh_first_part = crypto.generate_diffie_secret()
    error = refused(REASON_BAD_KEY, crypto.generate_diffie_shared_secret, dh_first_part)
    assert ec_key.curve_name() in str(error) and "curve25519" in str(error)

    _, hop_key, dh_secret, (_, y, auth) = handshake()
    error = refused(REASON_BAD_KEY, crypto.verify_and_generate_shared_secret, dh_secret, y, auth, ec_key.pub())
    assert ec_key.curve_name() in str(error)
    refused(REASON_BAD_KEY, crypto.verify_and_generate_shared_secret, ec_key, y, auth, hop_key.pub())
    refused(REASON_BAD_KEY, crypto.generate_diffie_shared_secret, dh_first_part, ec_key.pub())


def test_bad_handshake_inputs_are_refused() -> None:
    crypto, hop_key, dh_secret, (_, y, auth) = handshake()
    b = hop_key.pub().get_crypt_pk()
    for bad in (b"", y[:31], y + b"\x00", "x" * 32, None):
        refused(REASON_BAD_KEY, crypto.generate_diffie_shared_secret, bad)
        refused(REASON_BAD_KEY, crypto.verify_and_generate_shared_secret, dh_secret, bad, auth, b)
        refused(REASON_BAD_KEY, crypto.verify_and_generate_shared_secret, dh_secret, y, auth, bad)
    # Low-order points would give an all-zero, guessable secret.
    for low_order in (bytes(32), (1).to_bytes(32, "little")):
        refused(REASON_BAD_KEY, crypto.generate_diffie_shared_secret, low_order)
        refused(REASON_BAD_KEY, crypto.verify_and_generate_shared_secret, dh_secret, low_order, auth, b)
    with pytest.raises(TypeError):
        crypto.initialize(hop_key.pub())
    refused(REASON_BAD_KEY, TunnelCrypto().generate_diffie_shared_secret, y)  # never initialised
