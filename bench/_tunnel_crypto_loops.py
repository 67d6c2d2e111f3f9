"""Tunnel-crypto loops shared by ``bench/tunnel_crypto.py`` and its pyipv8 driver.

Both implementations offer the same names (``TunnelCrypto`` with the handshake methods and
``generate_session_keys``, ``SessionKeys.encrypt_str``/``decrypt_str``), so one set of loops measures both. The
caller passes its own classes: this module never imports ``ipv8`` (ours and pyipv8's are both called that and
never share an interpreter).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from _harness import interleaved_rates

#: A full cell's content: what 1 KB payloads become once wrapped.
CELL = bytes(range(256)) * 4
#: Fresh layers prepared for the decrypt loops. txipv8 refuses a counter twice, so a decrypt loop works
#: through these once and then starts over with new receiving keys (the same for pyipv8, for fairness).
RING = 4096
SECRET = bytes(range(64))


class _Decrypter:
    """Decrypts a ring of distinct layers in order, renewing the receiving keys at each wrap-around."""

    def __init__(self, generate_session_keys: Callable[[bytes], Any], layers: list[bytes], hops: int,
                 direction: int) -> None:
        self.generate_session_keys = generate_session_keys
        self.layers = layers
        self.hops = hops
        self.direction = direction
        self.position = 0
        self.keys: list[Any] = []
        self._renew()

    def _renew(self) -> None:
        self.keys = [self.generate_session_keys(SECRET) for _ in range(self.hops)]
        self.position = 0

    def __call__(self, count: int) -> None:
        direction = self.direction
        while count > 0:
            batch = min(count, RING - self.position)
            layers = self.layers[self.position:self.position + batch]
            if self.hops == 1:
                decrypt = self.keys[0].decrypt_str
                for layer in layers:
                    decrypt(layer, direction)
            else:
                decrypts = [keys.decrypt_str for keys in self.keys]
                for layer in layers:
                    for decrypt in decrypts:
                        layer = decrypt(layer, direction)  # noqa: PLW2901 - peeling the onion
            self.position += batch
            count -= batch
            if self.position == RING:
                self._renew()


def _onions(generate_session_keys: Callable[[bytes], Any], hops: int, direction: int) -> list[bytes]:
    senders = [generate_session_keys(SECRET) for _ in range(hops)]
    onions = []
    for _ in range(RING):
        layer = CELL
        for keys in reversed(senders):
            layer = keys.encrypt_str(layer, direction)
        onions.append(layer)
    return onions


def measure_tunnel_crypto(crypto_class: Any, generate_session_keys: Callable[[bytes], Any],  # noqa: ANN401
                          long_term_key: Any, forward: int, repeats: int, min_time: float) -> dict[str, float]:
    """Rates per second of the cell layers (1 and 3 hops) and of each handshake step."""
    results: dict[str, float] = {}

    # Check first that the loops do what they claim: a layer opens, and only once per counter is not required
    # of pyipv8 (it accepts replays), so only the opening is checked here.
    sender, receiver = generate_session_keys(SECRET), generate_session_keys(SECRET)
    if receiver.decrypt_str(sender.encrypt_str(CELL, forward), forward) != CELL:
        raise RuntimeError("a layer does not open: the benchmark would measure nonsense")

    sender = generate_session_keys(SECRET)

    def encrypt(count: int, encrypt: Callable = sender.encrypt_str, cell: bytes = CELL) -> None:
        for _ in range(count):
            encrypt(cell, forward)

    # The initiator's order: the last hop's layer first, the first hop's outermost.
    innermost_first = [keys.encrypt_str for keys in reversed([generate_session_keys(SECRET) for _ in range(3)])]

    def encrypt3(count: int, encrypts: list = innermost_first, cell: bytes = CELL) -> None:
        for _ in range(count):
            layer = cell
            for step in encrypts:
                layer = step(layer, forward)

    rates = interleaved_rates({
        "encrypt 1 layer": encrypt,
        "decrypt 1 layer": _Decrypter(generate_session_keys, _onions(generate_session_keys, 1, forward), 1, forward),
        "encrypt 3 layers": encrypt3,
        "decrypt 3 layers": _Decrypter(generate_session_keys, _onions(generate_session_keys, 3, forward), 3, forward),
    }, repeats, min_time)
    results.update(rates)

    # The handshake, one step at a time (a hop joining a circuit does answer + session keys; the
    # initiator does secret + verify + session keys per hop).
    crypto = crypto_class()
    crypto.initialize(long_term_key)
    b = long_term_key.pub().get_crypt_pk()
    dh_secret, dh_first_part = crypto.generate_diffie_secret()
    shared_secret, y, auth = crypto.generate_diffie_shared_secret(dh_first_part)
    if crypto.verify_and_generate_shared_secret(dh_secret, y, auth, b) != shared_secret:
        raise RuntimeError("the handshake does not agree: the benchmark would measure nonsense")

    def secret(count: int) -> None:
        for _ in range(count):
            crypto.generate_diffie_secret()

    def answer(count: int) -> None:
        for _ in range(count):
            crypto.generate_diffie_shared_secret(dh_first_part)

    def verify(count: int) -> None:
        for _ in range(count):
            crypto.verify_and_generate_shared_secret(dh_secret, y, auth, b)

    def session_keys(count: int) -> None:
        for _ in range(count):
            crypto.generate_session_keys(shared_secret)

    results.update(interleaved_rates({"handshake: initiator key": secret, "handshake: hop answer": answer,
                                      "handshake: initiator verify": verify, "session keys (HKDF)": session_keys},
                                     repeats, min_time))
    return results
