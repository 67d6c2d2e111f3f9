"""
The identity formats every IPv8 node knows, by name.

``key_size`` is the bit size of each of the two primes whose product is the group order; ``hash`` selects how
an exact value is reduced to the integer that is attested; ``min``/``max`` bound a range attestation.
"""
from __future__ import annotations

from typing import Any

__all__ = ["FORMATS"]

FORMATS: dict[str, dict[str, Any]] = {
    "id_metadata": {
        "algorithm": "bonehexact",
        "key_size": 32,
        "hash": "sha256_4",  # the first 4 bytes of SHA-256: 32 attested bits
    },
    "id_metadata_big": {
        "algorithm": "bonehexact",
        "key_size": 64,
        "hash": "sha256",  # 256 attested bits
    },
    "id_metadata_huge": {
        "algorithm": "bonehexact",
        "key_size": 96,
        "hash": "sha512",  # 512 attested bits
    },
    "id_metadata_range_18plus": {
        "algorithm": "pengbaorange",
        "key_size": 32,
        "min": 18,
        "max": 200,
    },
}
