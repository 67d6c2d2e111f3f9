"""Packing and unpacking of overlay messages, and the decorators that turn raw packets into payloads.

A message on the wire is ``prefix (22 bytes) | message id (1 byte) | body``. A signed body starts with a
:class:`BinMemberAuthenticationPayload` (the sender's public key) and ends with the sender's signature
over every byte before it. The ``lazy_wrapper`` family of decorators checks that envelope and hands the
decoded payloads to the message handler.
"""
from __future__ import annotations

import functools
import struct
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from .keyvault.crypto import default_eccrypto
from .messaging.payload_headers import BinMemberAuthenticationPayload
from .overlay import Overlay
from .peer import Peer, typed_address

if TYPE_CHECKING:
    from .keyvault.keys import PublicKey
    from .messaging.serialization import Serializable
    from .types import Address

#: Offset of the first byte after the prefix and the message id.
HEADER_SIZE = 23
_KEY_LENGTH = struct.Struct(">H")


class PacketDecodingError(RuntimeError):
    """A packet does not have the shape its message id promises (bad envelope or bad signature)."""


class InvalidSignatureError(PacketDecodingError):
    """The signature of a signed message does not verify with the key it carries."""


class ReplayedMessageError(PacketDecodingError):
    """A signed message carries a global time its sender already used: somebody sent it again."""


@functools.lru_cache(maxsize=1024)
def _public_key_from_bin(key_bin: bytes) -> PublicKey:
    # Parsing a key (and, for libsodium keys, deriving its material) costs more than the verification
    # itself for small messages; peers send many messages with the same key, so remember them. Only as
    # many as a busy node talks to: a flood of fresh keys must not turn this cache into megabytes.
    return default_eccrypto.key_from_public_bin(key_bin)


def split_signed_packet(data: bytes) -> tuple[bytes, int, bytes]:
    """
    Check the signed envelope of ``data``.

    :returns: ``(public key binary, offset of the first payload byte, data without the signature)``.
    :raises PacketDecodingError: if the envelope is malformed or the signature does not verify.
    """
    if len(data) < HEADER_SIZE + 2:
        raise PacketDecodingError("packet too short for a signed message")
    (key_length,) = _KEY_LENGTH.unpack_from(data, HEADER_SIZE)
    body_start = HEADER_SIZE + 2 + key_length
    key_bin = data[HEADER_SIZE + 2:body_start]
    if len(key_bin) != key_length:
        raise PacketDecodingError("packet too short for its public key")
    try:
        key = _public_key_from_bin(key_bin)
    except Exception as exc:  # any malformed key is the sender's fault, not ours
        raise PacketDecodingError(f"unusable public key in packet: {exc}") from exc
    signature_length = key.get_signature_length()
    if len(data) < body_start + signature_length:
        raise PacketDecodingError("packet too short for its signature")
    signed_part = data[:-signature_length]
    if not key.verify(data[-signature_length:], signed_part):
        raise InvalidSignatureError("invalid signature")
    return key_bin, body_start, signed_part


class EZPackOverlay(Overlay):
    """An overlay with helpers to build prefixed (and optionally signed) messages from payloads."""

    def get_prefix(self) -> bytes:
        """The 22-byte prefix that routes packets to this overlay."""
        raise NotImplementedError

    def ezr_pack(self, msg_num: int, *payloads: Serializable, sig: bool = True) -> bytes:
        """
        Build a message: prefix, ``msg_num``, then the payloads.

        With ``sig=True`` (the default) the message carries our public key and is signed by us.
        """
        if sig:
            payloads = (BinMemberAuthenticationPayload(self.my_peer.public_key.key_to_bin()), *payloads)
        return self._ez_pack(self.get_prefix(), msg_num, payloads, sig)

    def _ez_pack(self, prefix: bytes, msg_num: int, payloads: Sequence[Serializable], sig: bool = True) -> bytes:
        packet = prefix + bytes((msg_num,)) + self.serializer.pack_serializable_list(payloads)
        if sig:
            packet += self.my_peer.key.signature(packet)
        return packet

    def ez_send(self, peer: Peer, *payloads: Serializable, sig: bool = True) -> None:
        """Pack ``payloads`` under the ``msg_id`` of the last one and send them to ``peer``."""
        self._ez_senda(peer.address, *payloads, sig=sig)

    def _ez_senda(self, address: Address, *payloads: Serializable, sig: bool = True) -> None:
        msg_id = getattr(payloads[-1], "msg_id", None)
        if msg_id is None:
            raise ValueError(f"{type(payloads[-1]).__name__} has no msg_id; use ezr_pack() with an explicit id")
        self.endpoint.send(address, self.ezr_pack(msg_id, *payloads, sig=sig))

    def accept_global_time(self, key_bin: bytes, msg_id: int, global_time: int, source_address: Address) -> bool:
        """Whether a validly signed message with this global time is new (not a replay); see :class:`Community`.

        The base overlay keeps no history and accepts everything.
        """
        return True

    def _ez_unpack_auth(self, payload_class: type, data: bytes) -> tuple[Any, Any, Any]:
        """Decode a signed ``[global time, payload_class]`` message: returns ``(auth, dist, payload)``."""
        from .messaging.payload_headers import GlobalTimeDistributionPayload
        key_bin, body_start, signed_part = split_signed_packet(data)
        dist, payload = self.serializer.unpack_serializable_list([GlobalTimeDistributionPayload, payload_class],
                                                                 signed_part, offset=body_start)
        return BinMemberAuthenticationPayload(key_bin), dist, payload

    def _ez_unpack_noauth(self, payload_class: type, data: bytes, global_time: bool = True) -> Any:
        """Decode an unsigned message: ``(dist, payload)`` or only the payload without global time."""
        from .messaging.payload_headers import GlobalTimeDistributionPayload
        if global_time:
            return self.serializer.unpack_serializable_list([GlobalTimeDistributionPayload, payload_class],
                                                            data, offset=HEADER_SIZE)
        return self.serializer.unpack_serializable_list([payload_class], data, offset=HEADER_SIZE)[0]


OverlayType = TypeVar("OverlayType", bound=EZPackOverlay)
Handler = Callable[..., Any]


def _sender_peer(overlay: EZPackOverlay, key_bin: bytes, source_address: Address, fresh: bool = True) -> Peer:
    """The known Peer for ``key_bin``, or a new unverified Peer.

    A known peer's address is moved to ``source_address`` only by a ``fresh`` message (one whose global
    time proved it new): a signed message without a time may be a copy sent from anywhere, so it may only
    add an address of a kind the peer does not have yet.
    """
    peer = overlay.network.get_verified_by_public_key_bin(key_bin)
    if peer is None:
        return Peer(key_bin, source_address, clock=overlay.clock)
    if fresh:
        peer.add_address(source_address)
    else:
        address = typed_address(source_address)
        if type(address) not in peer.addresses:
            peer.add_address(address)
    return peer


def _signed_wrapper(payload_classes: tuple[type, ...], with_data: bool) -> Callable[[Handler], Handler]:
    from .messaging.payload_headers import GlobalTimeDistributionPayload
    time_index = next((index for index, cls in enumerate(payload_classes)
                       if isinstance(cls, type) and issubclass(cls, GlobalTimeDistributionPayload)), None)

    def decorator(func: Handler) -> Handler:
        @functools.wraps(func)
        def wrapper(self: EZPackOverlay, source_address: Address, data: bytes) -> Any:
            key_bin, body_start, signed_part = split_signed_packet(data)
            payloads = self.serializer.unpack_serializable_list(payload_classes, signed_part, offset=body_start)
            if time_index is not None:
                if not self.accept_global_time(key_bin, data[22], payloads[time_index].global_time, source_address):
                    raise ReplayedMessageError(f"global time {payloads[time_index].global_time} was used before")
                peer = _sender_peer(self, key_bin, source_address)
            else:
                peer = _sender_peer(self, key_bin, source_address, fresh=False)
            if with_data:
                return func(self, peer, *payloads, data)
            return func(self, peer, *payloads)
        wrapper.payload_classes = payload_classes  # type: ignore[attr-defined]
        return wrapper
    return decorator


def _unsigned_wrapper(payload_classes: tuple[type, ...], with_data: bool) -> Callable[[Handler], Handler]:
    def decorator(func: Handler) -> Handler:
        @functools.wraps(func)
        def wrapper(self: EZPackOverlay, source_address: Address, data: bytes) -> Any:
            payloads = self.serializer.unpack_serializable_list(payload_classes, data, offset=HEADER_SIZE)
            if with_data:
                return func(self, source_address, *payloads, data=data)
            return func(self, source_address, *payloads)
        wrapper.payload_classes = payload_classes  # type: ignore[attr-defined]
        return wrapper
    return decorator


def lazy_wrapper(*payloads: type) -> Callable[[Handler], Handler]:
    """
    Decorate a handler ``(self, peer, *payloads)`` for signed messages.

    The wrapper verifies the signature, decodes ``payloads`` in order and finds (or creates) the sending
    :class:`Peer`. A bad signature raises :class:`PacketDecodingError`; bad payload bytes raise
    :class:`~ipv8.messaging.serialization.PackError`. The Community counts and drops both.
    """
    return _signed_wrapper(payloads, with_data=False)


def lazy_wrapper_wd(*payloads: type) -> Callable[[Handler], Handler]:
    """Like :func:`lazy_wrapper`, also passing the raw packet as the last argument."""
    return _signed_wrapper(payloads, with_data=True)


def lazy_wrapper_unsigned(*payloads: type) -> Callable[[Handler], Handler]:
    """Decorate a handler ``(self, source_address, *payloads)`` for unsigned messages."""
    return _unsigned_wrapper(payloads, with_data=False)


def lazy_wrapper_unsigned_wd(*payloads: type) -> Callable[[Handler], Handler]:
    """Like :func:`lazy_wrapper_unsigned`, also passing the raw packet as keyword argument ``data``."""
    return _unsigned_wrapper(payloads, with_data=True)


def retrieve_cache(cache_class: type) -> Callable[[Handler], Handler]:
    """
    Decorate a handler that answers a request and needs the request's cache.

    Put it below a ``lazy_wrapper*`` decorator. The last payload must carry an ``identifier``; the cache
    registered in ``self.request_cache`` under ``cache_class.name`` and that identifier is popped and
    passed to the handler as keyword ``cache``. Without such a cache (a late, duplicated or forged
    answer) the message is dropped with a debug log line.
    """
    def decorator(func: Handler) -> Handler:
        @functools.wraps(func)
        def wrapper(self: EZPackOverlay, peer_or_address: Any, *payloads: Any, **extra: Any) -> Any:
            # lazy_wrapper_wd appends the raw packet after the payloads; lazy_wrapper_unsigned_wd passes
            # it as the keyword ``data`` (kept in ``extra`` and handed on).
            payload = payloads[-2] if isinstance(payloads[-1], bytes) else payloads[-1]
            number = payload.identifier
            if not self.request_cache.has(cache_class.name, number):
                self.logger.debug("Dropping %s: no %s cache with number %d",
                                  type(payload).__name__, cache_class.__name__, number)
                return None
            cache = self.request_cache.pop(cache_class.name, number)
            return func(self, peer_or_address, *payloads, cache=cache, **extra)
        return wrapper
    return decorator


__all__ = ["EZPackOverlay", "InvalidSignatureError", "PacketDecodingError", "ReplayedMessageError", "lazy_wrapper",
           "lazy_wrapper_unsigned",
           "lazy_wrapper_unsigned_wd", "lazy_wrapper_wd", "retrieve_cache", "split_signed_packet"]
