"""Sign and verify loops over every security level, shared by ``bench/keys.py`` and its pyipv8 driver.

The caller passes its own ``default_eccrypto``: this module never imports ``ipv8`` (ours and pyipv8's
are both called that and never share an interpreter).
"""
from __future__ import annotations

from typing import Any, Callable

from _harness import interleaved_rates

#: What a signed two-integer message signs (prefix, id, key block, payload): a realistic input size.
MESSAGE = bytes(range(115))
LEVELS = ("very-low", "low", "medium", "high", "curve25519")


def measure_levels(eccrypto: Any, levels: tuple[str, ...], repeats: int,  # noqa: ANN401
                   min_time: float) -> dict[str, float]:
    """``{"<level> sign": rate, "<level> verify": rate}`` through ``key.signature`` and ``public.verify``.

    Sign and verify of one level are measured interleaved, so a slow spell of a shared machine hits both.
    Every loop is checked first: a signature that does not verify would make the figures meaningless.
    """
    results: dict[str, float] = {}
    for level in levels:
        key = eccrypto.generate_key(level)
        public = eccrypto.key_from_public_bin(key.pub().key_to_bin())
        signature = key.signature(MESSAGE)
        if not public.verify(signature, MESSAGE) or public.verify(signature, MESSAGE[:-1]):
            raise RuntimeError(f"{level}: signatures do not check out; the benchmark would measure nonsense")

        def sign(count: int, sign: Callable = key.signature, message: bytes = MESSAGE) -> None:
            for _ in range(count):
                sign(message)

        def verify(count: int, verify: Callable = public.verify, signature: bytes = signature,
                   message: bytes = MESSAGE) -> None:
            for _ in range(count):
                verify(signature, message)

        rates = interleaved_rates({"sign": sign, "verify": verify}, repeats, min_time)
        results[f"{level} sign"] = rates["sign"]
        results[f"{level} verify"] = rates["verify"]
    return results
