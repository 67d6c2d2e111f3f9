"""What the hidden-services rows of ``bench/tunnels.py`` and their pyipv8 twin ``bench/reference/hidden_services.py``
share: no ``ipv8`` import here (the pyipv8 interpreter imports this module too).

The setup (the same for every implementation, in a fresh process each): six ``HiddenTunnelCommunity`` peers in one
process, each with its own key and UDP socket on 127.0.0.1 and a ``DHTDiscoveryCommunity`` on that socket (its
``DHTCommunityProvider`` is the hidden community's ``dht_provider``): a seeder and a downloader (no peer flags) and
four relay-exits (``PEER_FLAG_RELAY`` + ``PEER_FLAG_EXIT_BT``), which serve as relays, introduction point, the
downloader's exit (which looks the swarm up in the DHT) and rendezvous point. Swarms have 1 hop each side.

One repetition (``--hidden-reps``, each with a fresh info hash, all circuits of both ends removed before):

1. seeder: ``join_swarm(info_hash, 1, seeding=True)`` and ``create_introduction_point(info_hash)``; the time until
   its intro-established arrives (a 2-hop circuit built, establish-intro answered, announced in the DHT);
2. downloader: ``join_swarm(info_hash, 1, callback, seeding=False)`` and ``do_circuits()`` (which starts its 1-hop
   data circuit); when that circuit is ready the driver calls ``do_peer_discovery()`` (a peers-request answered by
   the circuit's exit from the DHT, then create-e2e through the introduction point, the seeder's rendezvous circuit,
   created-e2e, the downloader's 2-hop circuit to the rendezvous point, link-e2e / linked-e2e). The time runs from
   ``join_swarm`` until the swarm's callback reports the e2e circuit. The periodic ``do_peer_discovery`` task is
   cancelled on both ends, so the driver alone decides when lookups happen (the same for every implementation);
   ``swarm_lookup_interval`` is :data:`LOOKUP_RETRY` so that a lookup that found nothing is retried soon.

Between repetitions both ends leave the swarm and remove their circuits, then :data:`REPETITION_PAUSE` passes.

After the last repetition the e2e circuit stays: the downloader sends 1,024-byte payloads with ``send_data`` through
it for ``--seconds``, paced as the tunnel rows (:class:`_tunnel_shared.Pump`, at most 256 in flight); the seeder
counts what arrives (:class:`ArrivalCounter`: from ``on_raw_data``, or from a SOCKS5 association on pyipv8's Rust
endpoint). Delivered MB/s and loss as in the tunnel rows. :data:`WARM_UP` payloads go first, untimed; if none of
them arrives, a new swarm is joined and connected and the run retried (at most :data:`SEND_RETRIES` times).
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

#: Peer flags of the six peers: seeder, downloader, then four relay-exits.
RELAY_EXIT = [1, 2]
HIDDEN_FLAGS: list[list[int]] = [[], [], RELAY_EXIT, RELAY_EXIT, RELAY_EXIT, RELAY_EXIT]
SEEDER, DOWNLOADER = 0, 1
ROLE_NAMES = ("seeder", "downloader", "relay-exit 1", "relay-exit 2", "relay-exit 3", "relay-exit 4")
#: Hops of the swarm on each side.
SWARM_HOPS = 1
#: Seconds between lookups of a downloader that has no e2e circuit yet (``swarm_lookup_interval``).
LOOKUP_RETRY = 1.0
#: Seconds one step of a repetition may take at most before the run fails.
STEP_TIMEOUT = 20.0
#: Seconds given to the DHT to store an announcement before the downloader joins (not measured).
ANNOUNCE_SETTLE = 0.3
#: Seconds between two repetitions (after both ends left the swarm). Every repetition has each DHT node ask every
#: other a few times (announce, lookup); both implementations ignore a node that asked 10 times within 5 s
#: (pyipv8 3.2.1's rule), which a new swarm every half second between the same six nodes would trigger.
REPETITION_PAUSE = 2.0
#: Arrivals between two calls of the pump's ``acknowledged`` (the tunnel sink acknowledges every 16 too).
ACK_EVERY = 16
#: Payloads sent (and awaited, for at most STEP_TIMEOUT) before the paced run, not counted in it.
WARM_UP = 16
#: Seconds the warm-up payloads may take; if not one arrives, the run is retried on a new swarm.
WARM_UP_TIMEOUT = 5.0
#: New swarms (seed and connect again) tried at most when nothing arrives through an e2e circuit.
SEND_RETRIES = 2
#: DHT peers every node must know before the measurements start (everybody but itself).
DHT_PEERS = len(HIDDEN_FLAGS) - 1


def info_hash_for(repetition: int) -> bytes:
    """The info hash of repetition ``repetition`` (a fresh swarm each time)."""
    return hashlib.sha1(b"txipv8 hidden-services benchmark %d" % repetition).digest()


class ArrivalCounter:
    """Counts the payloads the seeder receives and tells the pump (every :data:`ACK_EVERY`, as the tunnel sink)."""

    def __init__(self) -> None:
        self.total = 0
        self.base = 0
        self.pump: Any = None
        self.size_errors = 0

    def arrived(self, data: bytes, size: int) -> None:
        """One payload reached the seeder's end of the e2e circuit."""
        if len(data) != size:
            self.size_errors += 1
            return
        self.total += 1
        if self.pump is not None and not self.total % ACK_EVERY:
            self.pump.acknowledged(self.total - self.base)

    def count(self) -> int:
        """Payloads of the current run so far."""
        return self.total - self.base


class StepClock:
    """Times of the steps of one repetition (``time.perf_counter``), filled in by callbacks as they happen."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}

    def mark(self, name: str) -> None:
        """Remember the first time ``name`` happened."""
        self.marks.setdefault(name, time.perf_counter())

    def since(self, name: str, start: float) -> float | None:
        """Seconds from ``start`` to ``name``, None if it did not happen."""
        value = self.marks.get(name)
        return None if value is None else value - start


def median_ms_or_none(samples: list[float]) -> float | None:
    """Median of ``samples`` (seconds) in ms."""
    import statistics
    return 1000 * statistics.median(samples) if samples else None


def summarize(seed_samples: list[float], e2e_samples: list[float], lookups: list[int],
              run: dict[str, Any] | None, log: Callable[[str], None], name: str) -> dict[str, Any]:
    """The ``hidden`` part of a worker's result."""
    log(f"{name} hidden: seeder ready {', '.join(f'{1000 * s:.0f}' for s in seed_samples)} ms; "
        f"e2e ready {', '.join(f'{1000 * s:.0f}' for s in e2e_samples)} ms; lookups per e2e {lookups}")
    return {"seed_ms": median_ms_or_none(seed_samples), "e2e_ms": median_ms_or_none(e2e_samples),
            "seed_samples_ms": [1000 * s for s in seed_samples], "e2e_samples_ms": [1000 * s for s in e2e_samples],
            "lookups": lookups, "paced": run}
