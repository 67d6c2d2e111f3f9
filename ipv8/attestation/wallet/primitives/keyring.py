"""Key handling shared by the algorithms built on Boneh encryption (exact values and ranges)."""
from __future__ import annotations

from .boneh import generate_keypair, key_fits_size
from .randomness import RandomSource
from .structs import BonehPrivateKey, BonehPublicKey


class BonehKeys:
    """Mixin: make and load the Boneh keys of a format with a fixed ``key_size``, drawing from ``rng``.

    A loaded key whose modulus does not fit the format's size is refused (``None``): a peer must not be able to
    make us compute in a field far larger than the format's.
    """

    key_size: int
    rng: RandomSource | None

    def generate_secret_key(self) -> BonehPrivateKey:
        """A fresh private key (slow for large key sizes: call it from a worker thread)."""
        return generate_keypair(self.key_size, self.rng)[1]

    def load_secret_key(self, serialized: bytes) -> BonehPrivateKey | None:
        """Read a private key; ``None`` if malformed or its modulus does not fit the format's key size."""
        key = BonehPrivateKey.unserialize(serialized)
        return key if key_fits_size(key, self.key_size) else None

    def load_public_key(self, serialized: bytes) -> BonehPublicKey | None:
        """Read a public key; ``None`` if malformed or its modulus does not fit the format's key size."""
        key = BonehPublicKey.unserialize(serialized)
        return key if key_fits_size(key, self.key_size) else None
