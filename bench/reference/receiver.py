#!/usr/bin/env python3
"""Receiver process (community B) of the two-process messaging benchmark, pyipv8 3.2.1 on asyncio.

Runs ONLY in the pyipv8 interpreter. Same protocol as ``bench/_receiver.py``: prints
``READY <port> <key hex>``, then answers ``count <trial>`` with ``COUNT <trial> <handled> <seconds>``
and exits on ``quit`` (or when stdin closes).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH_DIR)  # _harness only
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _pyipv8_overlay

import ipv8  # noqa: E402
from _harness import check_ipv8_origin  # noqa: E402
from _pyipv8_overlay import LOOPBACK, Ping, make_community, trust  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint  # noqa: E402

check_ipv8_origin(ipv8, want_reference=True)


async def serve(sender_key: bytes, sender_port: int) -> None:
    """Open the endpoint, build B, trust A, then answer commands until told to quit."""
    endpoint = UDPEndpoint(0, LOOPBACK)
    await endpoint.open()
    community = make_community(endpoint)
    # pyipv8 3.2.1 derives a DataClassPayload's wire format on its first instantiation; a process that
    # only ever receives a dataclass message fails to decode the first one. Instantiate it once.
    Ping(0, 0)
    trust(community, sender_key, sender_port)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(f"READY {endpoint.get_address()[1]} {community.my_peer.public_key.key_to_bin().hex()}", flush=True)
    while True:
        line = await reader.readline()
        words = line.decode().split()
        if not words or words[0] == "quit":
            break
        if words[0] == "count":
            trial = int(words[1])
            count, seconds = community.tally.report(trial)
            print(f"COUNT {trial} {count} {seconds:.6f}", flush=True)
    await community.unload()
    endpoint.close()


def main() -> None:
    """Parse the sender's identity and serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sender-key", required=True)
    parser.add_argument("--sender-port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(bytes.fromhex(args.sender_key), args.sender_port))


if __name__ == "__main__":
    main()
