"""Tunnel cryptography: the circuit handshake, session keys and the per-hop cell layers.

Everything here is byte-for-byte what pyipv8 3.2.1 (and its Rust data plane, ``ipv8_rust_tunnels``) does, so a
circuit can mix txipv8 and pyipv8 hops; ``tests/messaging/anonymization/tunnel_crypto_vectors.json`` holds
reference outputs that prove it.

**Handshake** (one per hop, Tor's "ntor" idea with libsodium primitives). ``DH(P, s)`` below is libsodium's
``crypto_box_beforenm``: HSalsa20 over the X25519 point, what every IPv8 curve25519 key's ``diffie_hellman`` does.

1. The initiator makes an ephemeral key ``x`` (:meth:`TunnelCrypto.generate_diffie_secret`) and sends ``X``.
2. The hop makes its own ephemeral ``y`` and, with its long-term X25519 secret ``b`` (the X25519 half of its
   curve25519 IPv8 key), computes ``shared = DH(X, y) || DH(X, b)`` (64 bytes). It answers ``Y`` and
   ``auth = HMAC-SHA512-256(key=shared[:32], Y)`` (libsodium's ``crypto_auth``)
   (:meth:`TunnelCrypto.generate_diffie_shared_secret`).
3. The initiator computes ``DH(Y, x) || DH(B, x)``, the same 64 bytes, and checks ``auth``
   (:meth:`TunnelCrypto.verify_and_generate_shared_secret`).

``auth`` only involves the ephemeral half; that the hop owns ``b`` is shown implicitly: without it the hop
cannot derive the session keys, so none of its cells would decrypt.

**Session keys.** HKDF-Expand-SHA256 (RFC 5869, without the extract step) of the shared secret, info
``b"key_generation"``, 72 bytes: ``key_backward (32) | key_forward (32) | salt_backward (4) | salt_forward (4)``
(:func:`generate_session_keys`).

**Layers.** One layer per hop and direction is ChaCha20-Poly1305 (IETF, no associated data) with the 12-byte
nonce ``salt (4) || counter (8, big-endian)``. A layer is ``counter (8) || ciphertext || tag (16)``, 24 bytes
more than its content. The sending counter of each direction starts at 1 and is incremented before use, so
the first cell carries 2 (:meth:`SessionKeys.encrypt_str`). The originator of a cell wraps one layer per hop,
the first hop's outermost (:func:`encrypt_layers`); every hop removes or adds its own (:func:`decrypt_layers`).

**Replays.** pyipv8 accepts any counter that authenticates. Here every :class:`SessionKeys` also keeps, per
direction, a sliding window over the counters it received (see :data:`DEFAULT_REPLAY_WINDOW`): a counter seen
before, or one too far behind the newest, is refused with a :class:`ReplayError` before any decryption work,
and the window only moves after a cell authenticated, so forged cells cannot push real ones out of it.

Speed: the data path is a few Python operations per cell around one call into OpenSSL (``cryptography``'s
ChaCha20-Poly1305, one cipher object per direction). Measured with ``bench/tunnel_crypto.py``, that is about
twice as fast per 1 KB cell as calling libsodium through ctypes or libnacl. The handshake's X25519 goes through
the IPv8 keys (libsodium's ``crypto_box_beforenm``): ``cryptography`` has no HSalsa20 and its X25519 is no faster.

Errors: everything refused raises :class:`CryptoException` (pyipv8's name, so ``except CryptoException``
works as it does there). It is also a ``ValueError``, which is what pyipv8's own callers catch around
``encrypt_str``/``decrypt_str`` and the handshake. Its :attr:`~CryptoException.reason` is one of the
``REASON_*`` strings, for drop counters.
"""
from __future__ import annotations

import hmac
import struct
from array import array
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ...keyvault.crypto import ECCrypto
from ...keyvault.keys import Key, PrivateKey, PublicKey

#: Direction of a cell: from the circuit's initiator towards its exit. Same value as ``tunnel.FORWARD``.
FORWARD = 0
#: Direction of a cell: from the exit back towards the initiator. Same value as ``tunnel.BACKWARD``.
BACKWARD = 1

#: How many counters below the newest one each direction remembers (must be at least 1).
#:
#: A counter can be accepted once, and only if it is newer than the newest seen minus this window. The window
#: has to cover how far the network (and multi-threaded relays such as pyipv8's Rust endpoint) may reorder the
#: cells of one circuit; a cell arriving later than that is dropped, which the circuit's traffic (UDP, with its
#: own retransmissions where needed) tolerates like any loss. 1024 cells is 1 MB of 1 KB cells: far more than
#: loopback or the Internet reorder, and four times the 256 cells a sender keeps in flight in the benchmarks.
#:
#: The window is a ring of the last accepted counter per slot (``counter % window``), 8 bytes a slot, made
#: on the first cell received in that direction: 8 KB per receiving direction with the default (a relay or exit
#: receives in one direction per circuit). Each cell costs one slot read and one slot write and nothing to
#: slide the window, about half the cost of shifting a 1024-bit mask: a slot holding any other value than the
#: counter means "not seen", because a counter in the window can only share its slot with counters at least
#: one window older.
DEFAULT_REPLAY_WINDOW = 1024

#: The forward sending counter a hop should set (``keys.salt_explicit_forward = HOP_CANDIDATES_COUNTER``) before
#: it encrypts the candidate list of its created/extended answer.
#:
#: The wire protocol encrypts that list in the *forward* direction, the direction in which the initiator then
#: sends its cells. Left at the usual start, the hop's list and the initiator's first cell both carry counter 2:
#: the same key and nonce for two messages, which leaks their XOR and that nonce's one-time Poly1305 key.
#: Receivers (pyipv8, and this module's window) accept any fresh counter, so the hop can pick one the initiator
#: never reaches.
HOP_CANDIDATES_COUNTER = 1 << 63
#: Counters below this are remembered with the tags of the cells that carried them, so that a few *different*,
#: authentic cells reusing such a counter are still accepted (see :data:`NONCE_REUSES_PER_COUNTER`; counted in
#: :meth:`SessionKeys.nonce_reuses`, not as drops).
#:
#: pyipv8 3.2.1 with its Rust endpoint (ipv8-rust-tunnels 0.1.53, the deployed network's data plane) sends the
#: cells after a circuit's hops change with counter 2 again (its Python side overwrites the Rust side's
#: counters): once per extension, so up to three cells carry counter 2 on a 3-hop circuit. pyipv8 has no replay
#: check, so it never notices; a strict window would break every 2- and 3-hop circuit through a Rust peer
#: (tests/interop/test_tunnel_interop.py). A replay is still refused: the same cell again has the same tag.
#: Only the holder of the key can make a different authentic cell, so this lets no attacker in; it only
#: tolerates the sender's own reuse.
NONCE_REUSE_TOLERATED_BELOW = 16
#: Distinct authentic cells accepted per such counter at most (the first one included).
NONCE_REUSES_PER_COUNTER = 4

#: :attr:`CryptoException.reason`: shorter than a counter and a tag.
REASON_TOO_SHORT = "cell-too-short"
#: :attr:`CryptoException.reason`: the tag did not verify (tampered, truncated, wrong key, wrong direction).
REASON_BAD_TAG = "cell-bad-tag"
#: :attr:`CryptoException.reason`: this counter was accepted before (a replayed cell).
REASON_REPLAYED = "cell-replayed"
#: :attr:`CryptoException.reason`: the counter is older than the replay window.
REASON_TOO_OLD = "cell-too-old"
#: :attr:`CryptoException.reason`: a hop of the circuit has no session keys yet.
REASON_MISSING_KEYS = "missing-keys"
#: :attr:`CryptoException.reason`: a direction other than FORWARD or BACKWARD.
REASON_BAD_DIRECTION = "bad-direction"
#: :attr:`CryptoException.reason`: the 64-bit sending counter is used up (never reached in practice).
REASON_COUNTER_EXHAUSTED = "counter-exhausted"
#: :attr:`CryptoException.reason`: a key that cannot take part in the handshake (not curve25519, malformed).
REASON_BAD_KEY = "bad-key"
#: :attr:`CryptoException.reason`: the handshake's auth value is wrong.
REASON_BAD_AUTH = "bad-auth"
#: :attr:`CryptoException.reason`: anything else.
REASON_CRYPTO = "crypto-error"

HANDSHAKE_KEY_BYTES = 32
SHARED_SECRET_BYTES = 64
AUTH_BYTES = 32
KEY_BYTES = 32
SALT_BYTES = 4
COUNTER_BYTES = 8
TAG_BYTES = 16
#: What one layer adds to its content: the counter and the tag.
LAYER_OVERHEAD = COUNTER_BYTES + TAG_BYTES
SESSION_KEY_INFO = b"key_generation"
SESSION_KEY_MATERIAL_BYTES = 2 * KEY_BYTES + 2 * SALT_BYTES
_MAX_COUNTER = (1 << 64) - 1
_CURVE25519 = "curve25519"

_pack_counter = struct.Struct(">Q").pack
_unpack_counter = struct.Struct(">Q").unpack_from


class CryptoException(ValueError):
    """A handshake or cell was refused, or session keys could not be used.

    :param message: what happened (no key material in it).
    :param reason: one of the module's ``REASON_*`` strings, for drop counters.
    """

    def __init__(self, message: str = "", reason: str = REASON_CRYPTO) -> None:
        super().__init__(message or reason)
        self.reason = reason
        #: For :func:`encrypt_layers` / :func:`decrypt_layers`: the 1-based layer that failed, and of how many.
        self.layer: tuple[int, int] | None = None

    def __str__(self) -> str:
        text = super().__str__()
        if self.layer is not None:
            text = f"{text} (layer {self.layer[0]}/{self.layer[1]})"
        return text


class ReplayError(CryptoException):
    """A cell whose counter was accepted before (:data:`REASON_REPLAYED`) or lies below the replay window
    (:data:`REASON_TOO_OLD`).

    :ivar counter: the refused counter.
    """

    def __init__(self, message: str, reason: str, counter: int) -> None:
        super().__init__(message, reason)
        self.counter = counter


class _Direction:
    """The state of one direction of :class:`SessionKeys`: key, salt, sending counter and receive window."""

    __slots__ = ("aead", "first_tags", "key", "received", "reused", "salt", "sent", "top", "window")

    def __init__(self, key: bytes, salt: bytes, counter: int, window: int) -> None:
        self.set_key(key)
        self.set_salt(salt)
        self.sent = counter
        self.window = window
        #: The newest counter received so far.
        self.top = 0
        #: Slot ``c % window`` holds the last counter accepted there (None until the first cell). Starting as
        #: zeros makes counter 0 count as used: an honest sender never sends it (its first counter is 2).
        self.received: array[int] | None = None
        #: Tags of the cells accepted with counters below NONCE_REUSE_TOLERATED_BELOW (made on first use).
        self.first_tags: dict[int, list[bytes]] | None = None
        #: How many cells reusing a low counter were accepted.
        self.reused = 0

    def set_key(self, key: bytes) -> None:
        key = _exact_bytes(key, KEY_BYTES, "a session key")
        # The cipher object holds the expanded key, built once here rather than once per cell.
        self.aead = ChaCha20Poly1305(key)
        self.key = key

    def set_salt(self, salt: bytes) -> None:
        self.salt = _exact_bytes(salt, SALT_BYTES, "a session salt")


def _exact_bytes(value: object, size: int, what: str) -> bytes:
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes) or len(value) != size:
        length = len(value) if isinstance(value, bytes) else type(value).__name__
        raise CryptoException(f"{what} must be {size} bytes, got {length}", REASON_BAD_KEY)
    return value


class SessionKeys:
    """The keys of one hop of one circuit, with the counters and replay windows of both directions.

    Usually made by :func:`generate_session_keys` (or :meth:`TunnelCrypto.generate_session_keys`). Both ends of
    a hop derive the same keys; each end uses one direction to send and the other to receive, and a
    :class:`SessionKeys` keeps the sending counter apart from the receive window, so one object may do both.

    :param key_forward: / :param key_backward: 32-byte ChaCha20-Poly1305 keys.
    :param salt_forward: / :param salt_backward: the 4-byte nonce prefixes.
    :param salt_explicit_forward: / :param salt_explicit_backward: the last counter used to send (the next cell
        carries one more), 1 for fresh keys as in pyipv8.
    :param replay_window: see :data:`DEFAULT_REPLAY_WINDOW`.
    """

    __slots__ = ("_backward", "_by_direction", "_forward")

    def __init__(self, key_forward: bytes, key_backward: bytes, salt_forward: bytes, salt_backward: bytes,
                 salt_explicit_forward: int = 1, salt_explicit_backward: int = 1, *,
                 replay_window: int = DEFAULT_REPLAY_WINDOW) -> None:
        if not isinstance(replay_window, int) or isinstance(replay_window, bool) or replay_window < 1:
            raise ValueError(f"replay_window must be a positive int, got {replay_window!r}")
        self._forward = _Direction(key_forward, salt_forward, _counter(salt_explicit_forward), replay_window)
        self._backward = _Direction(key_backward, salt_backward, _counter(salt_explicit_backward), replay_window)
        # One dict lookup both checks the direction and finds its state.
        self._by_direction = {FORWARD: self._forward, BACKWARD: self._backward}

    # -- the data path -------------------------------------------------------------------------------------

    def encrypt_str(self, content: bytes, direction: int) -> bytes:
        """Wrap ``content`` in one layer for ``direction``: ``counter || ciphertext || tag``.

        :raises CryptoException: for a bad direction, or when the 64-bit counter is used up.
        """
        state = self._by_direction.get(direction)
        if state is None:
            raise CryptoException(f"unknown direction {direction!r}", REASON_BAD_DIRECTION)
        counter = state.sent + 1
        try:
            explicit = _pack_counter(counter)
        except struct.error:
            # The Rust data plane would wrap to 0 and reuse nonces; refusing is the only safe answer.
            raise CryptoException("the 64-bit cell counter is used up", REASON_COUNTER_EXHAUSTED) from None
        state.sent = counter
        return explicit + state.aead.encrypt(state.salt + explicit, content, None)

    def decrypt_str(self, content: bytes, direction: int) -> bytes:
        """Remove one layer for ``direction`` and return what it protected.

        :raises ReplayError: if the counter was accepted before or is older than the replay window.
        :raises CryptoException: if ``content`` is too short, does not authenticate, or the direction is bad.
        """
        state = self._by_direction.get(direction)
        if state is None:
            raise CryptoException(f"unknown direction {direction!r}", REASON_BAD_DIRECTION)
        if len(content) < LAYER_OVERHEAD:
            raise CryptoException(f"a layer is at least {LAYER_OVERHEAD} bytes, got {len(content)}", REASON_TOO_SHORT)
        counter = _unpack_counter(content)[0]
        received = state.received
        if received is None:
            received = state.received = array("Q", bytes(8 * state.window))
        window = state.window
        top = state.top
        # Refuse replays before decrypting: that is cheaper, and a replay must not cost us the cipher work.
        if counter <= top:
            if top - counter >= window:
                raise ReplayError(f"counter {counter} is older than the window ({window} below {top})",
                                  REASON_TOO_OLD, counter)
            if received[counter % window] == counter:
                return self._reused(state, counter, content)
        else:
            top = counter
        try:
            plaintext = state.aead.decrypt(state.salt + content[:COUNTER_BYTES], content[COUNTER_BYTES:], None)
        except InvalidTag:
            raise CryptoException("the cell does not authenticate", REASON_BAD_TAG) from None
        # Only an authentic cell moves the window.
        received[counter % window] = counter
        state.top = top
        if counter < NONCE_REUSE_TOLERATED_BELOW:
            if state.first_tags is None:
                state.first_tags = {}
            state.first_tags[counter] = [content[-TAG_BYTES:]]
        return plaintext

    @staticmethod
    def _reused(state: _Direction, counter: int, content: bytes) -> bytes:
        """A counter seen before: a replay, unless it is a tolerated reuse of a low counter (see
        :data:`NONCE_REUSE_TOLERATED_BELOW`)."""
        tags = state.first_tags.get(counter) if state.first_tags is not None else None
        tag = content[-TAG_BYTES:]
        if tags is None or tag in tags or len(tags) >= NONCE_REUSES_PER_COUNTER:
            raise ReplayError(f"counter {counter} was already used", REASON_REPLAYED, counter)
        try:
            plaintext = state.aead.decrypt(state.salt + content[:COUNTER_BYTES], content[COUNTER_BYTES:], None)
        except InvalidTag:
            raise CryptoException("the cell does not authenticate", REASON_BAD_TAG) from None
        tags.append(tag)
        state.reused += 1
        return plaintext

    def nonce_reuses(self, direction: int) -> int:
        """How many cells reusing a low counter were tolerated in ``direction`` (see
        :data:`NONCE_REUSE_TOLERATED_BELOW`)."""
        return self._by_direction[direction].reused

    # -- pyipv8's attributes -------------------------------------------------------------------------------

    @property
    def key_forward(self) -> bytes:
        """The 32-byte key of the forward direction."""
        return self._forward.key

    @key_forward.setter
    def key_forward(self, value: bytes) -> None:
        self._forward.set_key(value)

    @property
    def key_backward(self) -> bytes:
        """The 32-byte key of the backward direction."""
        return self._backward.key

    @key_backward.setter
    def key_backward(self, value: bytes) -> None:
        self._backward.set_key(value)

    @property
    def salt_forward(self) -> bytes:
        """The 4-byte nonce prefix of the forward direction."""
        return self._forward.salt

    @salt_forward.setter
    def salt_forward(self, value: bytes) -> None:
        self._forward.set_salt(value)

    @property
    def salt_backward(self) -> bytes:
        """The 4-byte nonce prefix of the backward direction."""
        return self._backward.salt

    @salt_backward.setter
    def salt_backward(self, value: bytes) -> None:
        self._backward.set_salt(value)

    @property
    def salt_explicit_forward(self) -> int:
        """The last counter sent forward; the next forward cell carries one more."""
        return self._forward.sent

    @salt_explicit_forward.setter
    def salt_explicit_forward(self, value: int) -> None:
        self._forward.sent = _counter(value)

    @property
    def salt_explicit_backward(self) -> int:
        """The last counter sent backward; the next backward cell carries one more."""
        return self._backward.sent

    @salt_explicit_backward.setter
    def salt_explicit_backward(self, value: int) -> None:
        self._backward.sent = _counter(value)

    @property
    def replay_window(self) -> int:
        """How many counters below the newest one each direction remembers."""
        return self._forward.window

    def newest_received(self, direction: int) -> int:
        """The highest counter accepted in ``direction`` so far (0: none yet)."""
        return self._by_direction[direction].top

    def __repr__(self) -> str:
        # Never the keys: a repr ends up in logs.
        return (f"<SessionKeys sent forward={self._forward.sent} backward={self._backward.sent}, "
                f"received forward={self._forward.top} backward={self._backward.top}>")


def _counter(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_COUNTER:
        raise ValueError(f"a cell counter is an int in [0, 2**64), got {value!r}")
    return value


def generate_session_keys(shared_secret: bytes, replay_window: int = DEFAULT_REPLAY_WINDOW) -> SessionKeys:
    """Expand a handshake's shared secret into :class:`SessionKeys` (HKDF-Expand-SHA256, see the module doc).

    :raises CryptoException: if ``shared_secret`` is not bytes of at least 32 (the hash length, RFC 5869's
        minimum for the pseudorandom key); the handshake always gives 64.
    """
    if isinstance(shared_secret, (bytearray, memoryview)):
        shared_secret = bytes(shared_secret)
    if not isinstance(shared_secret, bytes) or len(shared_secret) < SHA256.digest_size:
        raise CryptoException("a shared secret must be at least 32 bytes", REASON_BAD_KEY)
    # cryptography's HKDF-Expand: several times faster than three hmac.digest calls.
    material = HKDFExpand(SHA256(), SESSION_KEY_MATERIAL_BYTES, SESSION_KEY_INFO).derive(shared_secret)
    return SessionKeys(key_forward=material[32:64], key_backward=material[:32], salt_forward=material[68:72],
                       salt_backward=material[64:68], replay_window=replay_window)


# -- onions ------------------------------------------------------------------------------------------------


def encrypt_layers(content: bytes, direction: int, hops_keys: Sequence[SessionKeys | None]) -> bytes:
    """Wrap ``content`` in one layer per hop, the first hop's outermost.

    The initiator sends forward this way with all its hops' keys; an exit or relay adds its single layer
    backward with ``[its_keys]``.

    :raises CryptoException: with :attr:`~CryptoException.layer` set, if a hop has no keys or a layer fails.
    """
    count = len(hops_keys)
    position = count
    # One try around the loop, not one per layer: this runs for every cell; the layer is worked out on failure.
    try:
        while position:
            content = hops_keys[position - 1].encrypt_str(content, direction)  # type: ignore[union-attr]
            position -= 1
    except CryptoException as exc:
        exc.layer = (position, count)
        raise
    except AttributeError:
        if hops_keys[position - 1] is not None:
            raise
        exc = CryptoException("no session keys for this hop yet", REASON_MISSING_KEYS)
        exc.layer = (position, count)
        raise exc from None
    return content


def decrypt_layers(content: bytes, direction: int, hops_keys: Sequence[SessionKeys | None]) -> bytes:
    """Remove one layer per hop, the first hop's (outermost) first.

    The initiator opens backward cells this way with all its hops' keys; an exit or relay removes its single
    layer forward with ``[its_keys]``.

    :raises CryptoException: with :attr:`~CryptoException.layer` set (or its :class:`ReplayError` subclass).
    """
    count = len(hops_keys)
    position = 0
    try:
        for keys in hops_keys:
            position += 1
            content = keys.decrypt_str(content, direction)  # type: ignore[union-attr]
    except CryptoException as exc:
        exc.layer = (position, count)
        raise
    except AttributeError:
        if hops_keys[position - 1] is not None:
            raise
        exc = CryptoException("no session keys for this hop yet", REASON_MISSING_KEYS)
        exc.layer = (position, count)
        raise exc from None
    return content


# -- the handshake -----------------------------------------------------------------------------------------


def _auth(shared_secret: bytes, y: bytes) -> bytes:
    # libsodium's crypto_auth is HMAC-SHA-512 truncated to 32 bytes, keyed with 32 bytes.
    return hmac.digest(shared_secret[:AUTH_BYTES], y, "sha512")[:AUTH_BYTES]


def _handshake_key(value: object, what: str) -> bytes:
    if isinstance(value, Key):
        return _crypt_pk(value, what)
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes) or len(value) != HANDSHAKE_KEY_BYTES:
        length = len(value) if isinstance(value, bytes) else type(value).__name__
        raise CryptoException(f"{what} must be a {HANDSHAKE_KEY_BYTES}-byte X25519 public key, got {length}",
                              REASON_BAD_KEY)
    return value


def _crypt_pk(key: Key, what: str) -> bytes:
    _require_curve25519(key, what)
    return key.get_crypt_pk()


def _require_curve25519(key: object, what: str, private: bool = False) -> None:
    if not isinstance(key, PrivateKey if private else Key):
        kind = "private key" if private else "key"
        raise CryptoException(f"{what} must be an IPv8 {kind}, got {type(key).__name__}", REASON_BAD_KEY)
    curve = key.curve_name()
    if curve != _CURVE25519:
        raise CryptoException(f"{what} is a {curve} key; tunnel handshakes need a curve25519 key", REASON_BAD_KEY)


def _diffie_hellman(key: PrivateKey, peer: bytes) -> bytes:
    try:
        return key.diffie_hellman(peer)
    except ValueError as exc:  # KeyExchangeError: a low-order point gives an all-zero, guessable secret
        raise CryptoException(f"key agreement refused: {exc}", REASON_BAD_KEY) from None


class TunnelCrypto(ECCrypto):
    """The IPv8 key functions plus the circuit handshake.

    Call :meth:`initialize` with the node's own key; it is the long-term key a hop uses when others extend
    circuits through it (it must be curve25519 for that; a node with another key can still build circuits).

    Ephemeral keys come from :meth:`~ipv8.keyvault.crypto.ECCrypto.generate_key` (``"curve25519"``), the one
    place to override for reproducible handshakes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.key: PrivateKey | None = None

    def initialize(self, key: PrivateKey) -> None:
        """Use ``key`` as this node's long-term key in handshakes it answers.

        :raises TypeError: if ``key`` is not an IPv8 private key.
        """
        if not isinstance(key, PrivateKey):
            raise TypeError(f"expected an IPv8 private key, got {type(key).__name__}")
        self.key = key

    def is_key_compatible(self, key: object) -> bool:
        """Whether a peer with public ``key`` can be a hop: only curve25519 keys have an X25519 half."""
        return isinstance(key, Key) and key.curve_name() == _CURVE25519

    def generate_diffie_secret(self) -> tuple[PrivateKey, bytes]:
        """An ephemeral key for one handshake, and its X25519 public key to send in create/extend.

        Keep the key until the created/extended answer (:meth:`verify_and_generate_shared_secret`); use it once.
        """
        key = self.generate_key(_CURVE25519)
        return key, key.get_crypt_pk()

    def generate_diffie_shared_secret(self, dh_received: bytes,
                                      key: PrivateKey | None = None) -> tuple[bytes, bytes, bytes]:
        """Answer a handshake: ``(shared_secret, Y, auth)`` for the initiator's X25519 key ``dh_received``.

        :param key: the long-term key to answer with; by default the one given to :meth:`initialize`
            (hidden services answer with a per-content key).
        :raises CryptoException: (:data:`REASON_BAD_KEY`) if there is no long-term key, it is not curve25519,
            or ``dh_received`` is not a usable X25519 key.
        """
        if key is None:
            key = self.key
        if key is None:
            raise CryptoException("no long-term key: call TunnelCrypto.initialize first", REASON_BAD_KEY)
        _require_curve25519(key, "the long-term key", private=True)
        x = _handshake_key(dh_received, "the initiator's key")
        ephemeral = self.generate_key(_CURVE25519)
        shared_secret = _diffie_hellman(ephemeral, x) + _diffie_hellman(key, x)
        y = ephemeral.get_crypt_pk()
        return shared_secret, y, _auth(shared_secret, y)

    @staticmethod
    def verify_and_generate_shared_secret(dh_secret: PrivateKey, dh_received: bytes, auth: bytes,
                                          b: bytes | PublicKey) -> bytes:
        """Finish a handshake as initiator: check ``auth`` and return the 64-byte shared secret.

        :param dh_secret: the ephemeral key from :meth:`generate_diffie_secret`.
        :param dh_received: the hop's ephemeral X25519 key ``Y`` (from created/extended).
        :param auth: the hop's 32-byte proof.
        :param b: the hop's long-term X25519 key (``public_key.get_crypt_pk()``), or its IPv8 public key.
        :raises CryptoException: :data:`REASON_BAD_AUTH` if ``auth`` is wrong, :data:`REASON_BAD_KEY` for
            keys of the wrong kind or size.
        """
        _require_curve25519(dh_secret, "the ephemeral key", private=True)
        y = _handshake_key(dh_received, "the hop's ephemeral key")
        long_term = _handshake_key(b, "the hop's long-term key")
        if not isinstance(auth, (bytes, bytearray, memoryview)) or len(auth) != AUTH_BYTES:
            raise CryptoException(f"auth must be {AUTH_BYTES} bytes", REASON_BAD_AUTH)
        shared_secret = _diffie_hellman(dh_secret, y) + _diffie_hellman(dh_secret, long_term)
        if not hmac.compare_digest(_auth(shared_secret, y), bytes(auth)):
            raise CryptoException("the hop's auth value does not match", REASON_BAD_AUTH)
        return shared_secret

    @staticmethod
    def generate_session_keys(shared_secret: bytes) -> SessionKeys:
        """:func:`generate_session_keys` (HKDF) as a method, as pyipv8 offers it."""
        return generate_session_keys(shared_secret)


#: Every :attr:`CryptoException.reason` this module uses.
REASONS = frozenset((REASON_TOO_SHORT, REASON_BAD_TAG, REASON_REPLAYED, REASON_TOO_OLD, REASON_MISSING_KEYS,
                     REASON_BAD_DIRECTION, REASON_COUNTER_EXHAUSTED, REASON_BAD_KEY, REASON_BAD_AUTH, REASON_CRYPTO))

__all__ = ["BACKWARD", "DEFAULT_REPLAY_WINDOW", "FORWARD", "HOP_CANDIDATES_COUNTER", "LAYER_OVERHEAD", "REASONS",
           "REASON_BAD_AUTH", "REASON_BAD_DIRECTION", "REASON_BAD_KEY", "REASON_BAD_TAG", "REASON_COUNTER_EXHAUSTED",
           "REASON_CRYPTO", "REASON_MISSING_KEYS", "REASON_REPLAYED", "REASON_TOO_OLD", "REASON_TOO_SHORT",
           "CryptoException", "ReplayError", "SessionKeys", "TunnelCrypto", "decrypt_layers", "encrypt_layers",
           "generate_session_keys"]
