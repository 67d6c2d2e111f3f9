#!/usr/bin/env python3
"""Receiver process (community B) of the two-process txipv8 messaging benchmark.

Started by ``bench/messaging.py`` with the sender's public key and port. It opens a UDP endpoint on
127.0.0.1, prints ``READY <port> <public key hex>`` and then answers commands read from stdin:

* ``count <trial>`` -> ``COUNT <trial> <messages handled> <seconds from first to last>``
* ``quit`` -> exits.
"""
from __future__ import annotations

import argparse
import os
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))

from _harness import use_project_interpreter  # noqa: E402

use_project_interpreter()

from twisted.internet import reactor, stdio  # noqa: E402
from twisted.internet.defer import ensureDeferred  # noqa: E402
from twisted.protocols.basic import LineReceiver  # noqa: E402

import ipv8  # noqa: E402
from _harness import check_ipv8_origin  # noqa: E402
from _overlay import LOOPBACK, BenchCommunity, make_community, trust  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint  # noqa: E402

check_ipv8_origin(ipv8, want_reference=False)

#: Set by ``--profile``: a cProfile.Profile that runs from start-up until ``quit``.
PROFILER = None


class CommandChannel(LineReceiver):
    """stdin/stdout line protocol with the benchmark process."""

    delimiter = b"\n"

    def __init__(self, community: BenchCommunity) -> None:
        self.community = community

    def lineReceived(self, line: bytes) -> None:  # noqa: N802 - Twisted's name
        """Answer one command."""
        words = line.decode().split()
        if not words:
            return
        if words[0] == "count":
            trial = int(words[1])
            count, seconds = self.community.tally.report(trial)
            self.sendLine(f"COUNT {trial} {count} {seconds:.6f}".encode())
        elif words[0] == "quit":
            if PROFILER is not None:
                PROFILER.disable()
                import pstats
                pstats.Stats(PROFILER, stream=sys.stderr).sort_stats("tottime").print_stats(25)
            reactor.stop()

    def connectionLost(self, reason: object = None) -> None:  # noqa: N802 - Twisted's name
        """The benchmark went away: stop too."""
        if reactor.running:
            reactor.stop()


async def start(sender_key: bytes, sender_port: int) -> None:
    """Open the endpoint, build B, trust A, announce ourselves."""
    endpoint = UDPEndpoint(0, LOOPBACK)
    await endpoint.open()
    community = make_community(endpoint)
    trust(community, sender_key, sender_port)
    channel = CommandChannel(community)
    stdio.StandardIO(channel)
    channel.sendLine(f"READY {endpoint.get_address()[1]} {community.my_peer.public_key.key_to_bin().hex()}".encode())


def main() -> None:
    """Parse the sender's identity and run until told to quit."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sender-key", required=True, help="hex of the sender's public key")
    parser.add_argument("--sender-port", type=int, required=True)
    parser.add_argument("--profile", action="store_true", help="print a cProfile report to stderr on quit")
    args = parser.parse_args()
    if args.profile:
        import cProfile
        global PROFILER  # noqa: PLW0603
        PROFILER = cProfile.Profile()
        PROFILER.enable()
    reactor.callWhenRunning(lambda: ensureDeferred(start(bytes.fromhex(args.sender_key), args.sender_port))
                            .addErrback(lambda failure: (failure.printTraceback(), reactor.stop())))
    reactor.run()


if __name__ == "__main__":
    main()
