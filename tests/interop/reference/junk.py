"""
Malformed and forged packets for the robustness scenario, built with pyipv8 3.2.1 (reference interpreter only).

Each kind starts from what a correct peer would send (a signed chat of the interop community) and breaks
one thing. :data:`KINDS` lists them; the txipv8 test knows which ``drop_counts`` reason each should land in.
"""
from __future__ import annotations

import random
from typing import Any, Callable

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload

HEADER = 23  # prefix (22) + message id


def signature_is_valid(data: bytes) -> bool:
    """Check a signed packet's Ed25519/EC signature by hand (pyipv8's crypto, independent of lazy_wrapper)."""
    try:
        key_length = int.from_bytes(data[HEADER:HEADER + 2], "big")
        key = default_eccrypto.key_from_public_bin(data[HEADER + 2:HEADER + 2 + key_length])
        signature_length = key.get_signature_length()
        return default_eccrypto.is_valid_signature(key, data[:-signature_length], data[-signature_length:])
    except Exception:  # noqa: BLE001 - anything unparsable is simply not validly signed
        return False


def _signed(overlay: Any, payload: Any) -> bytes:  # noqa: ANN401
    return overlay.ezr_pack(payload.msg_id, payload)


def truncated(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401, ARG001
    """A correct chat missing its last 10 bytes (so the 'signature' is not where it should be)."""
    return _signed(overlay, payload)[:-10]


def bit_flipped(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401, ARG001
    """A correct chat with one bit flipped in its body (the signed sequence number)."""
    packet = bytearray(_signed(overlay, payload))
    key_length = int.from_bytes(packet[HEADER:HEADER + 2], "big")
    packet[HEADER + 2 + key_length + 7] ^= 0x01  # lowest bit of the int64 sequence
    return bytes(packet)


def forged_signature(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401
    """A chat whose signature is 64 random bytes."""
    return _signed(overlay, payload)[:-64] + rng.randbytes(64)


def swapped_key(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401, ARG001
    """A chat that names somebody else's public key but carries our signature."""
    other = default_eccrypto.generate_key("curve25519").pub().key_to_bin()
    body = overlay.get_prefix() + bytes([payload.msg_id]) + overlay.serializer.pack_serializable_list(
        [BinMemberAuthenticationPayload(other), payload])
    return body + default_eccrypto.create_signature(overlay.my_peer.key, body)


def signed_garbage(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401
    """A correctly signed message whose body does not decode as a chat (it stops inside the text)."""
    body = overlay.get_prefix() + bytes([payload.msg_id]) + overlay.serializer.pack_serializable_list(
        [BinMemberAuthenticationPayload(overlay.my_peer.public_key.key_to_bin())]) + rng.randbytes(8) + b"\x7f\xff"
    return body + default_eccrypto.create_signature(overlay.my_peer.key, body)


def random_with_prefix(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401
    """Our community prefix and the chat id, then 150 random bytes."""
    return overlay.get_prefix() + bytes([payload.msg_id]) + rng.randbytes(150)


def oversized_key(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401
    """A chat whose key length field claims 65535 bytes in a packet of a few hundred."""
    packet = bytearray(_signed(overlay, payload))
    packet[HEADER:HEADER + 2] = b"\xff\xff"
    return bytes(packet)


def unknown_message(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401, ARG001
    """A message id nobody registered (200)."""
    return overlay.get_prefix() + b"\xc8" + b"nobody handles this"


def deprecated_message(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401, ARG001
    """An old Dispersy message id (255, reserved)."""
    return overlay.get_prefix() + b"\xff" + b"dispersy era"


def too_short(overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401, ARG001
    """Only the 22-byte community prefix, no message id."""
    return overlay.get_prefix()


KINDS: dict[str, Callable[[Any, Any, random.Random], bytes]] = {
    "truncated": truncated,
    "bit_flipped": bit_flipped,
    "forged_signature": forged_signature,
    "swapped_key": swapped_key,
    "signed_garbage": signed_garbage,
    "random_with_prefix": random_with_prefix,
    "oversized_key": oversized_key,
    "unknown_message": unknown_message,
    "deprecated_message": deprecated_message,
    "too_short": too_short,
}


def craft(kind: str, overlay: Any, payload: Any, rng: random.Random) -> bytes:  # noqa: ANN401
    """Build one packet of ``kind`` for ``overlay``'s community.

    :raises KeyError: for an unknown kind.
    """
    return KINDS[kind](overlay, payload, rng)
