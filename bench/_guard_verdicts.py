"""Installs the interop loopback guard with its verdict per destination host remembered.

The guard's ``is_loopback`` is a pure function of the host, and parsing an IP address on every datagram is a
benchmark-only cost (~4% of a TrustChain pair) that a real node does not pay; the first 1,024 hosts' verdicts are
kept. Import this module instead of calling ``loopback_guard.install()`` (needs ``tests/interop/reference`` on
``sys.path``).
"""

from __future__ import annotations

import loopback_guard


def _remember_loopback_verdicts() -> None:
    plain, verdicts = loopback_guard.is_loopback, {}

    def is_loopback(host: object) -> bool:
        if not isinstance(host, str):
            return plain(host)
        verdict = verdicts.get(host)
        if verdict is None:
            verdict = plain(host)
            if len(verdicts) < 1024:
                verdicts[host] = verdict
        return verdict
    loopback_guard.is_loopback = is_loopback


_remember_loopback_verdicts()
loopback_guard.install()
