"""The UDP sink of ``bench/tunnels.py``: a process of its own (standard library only) that counts datagrams.

Usage: ``python _tunnel_sink.py ACK_PORT BUFFER DEADLINE COUNTER_FILE``. It binds a UDP socket on 127.0.0.1
(receive buffer ``BUFFER``), prints its port on stdout, and counts every datagram that arrives. The running total
is kept in the first 8 bytes of ``COUNTER_FILE`` (memory-mapped, native byte order), where the benchmark reads it
whenever it needs an exact figure. Every ``ACK_EVERY`` datagrams, and whenever it has been quiet for 20 ms with
something unacknowledged, it also sends the total (8 bytes, big-endian) to ``127.0.0.1:ACK_PORT``: the benchmark
paces its sender on these acknowledgements (a busy event loop may read them late or lose some; the counter file
is always exact). It stops by
itself after ``DEADLINE`` seconds (the benchmark also terminates it).

Why a process: in the benchmark's own process the sink would share the event loop with the five peers, and an
asyncio sink reads one datagram per loop turn, so the sink itself would drop datagrams under load and the
figures would measure it rather than the tunnels. Here it reads in a tight loop on its own.
"""
from __future__ import annotations

import mmap
import socket
import struct
import sys
import time

#: Datagrams between two acknowledgements.
ACK_EVERY = 16


def main() -> None:
    """Count and acknowledge until the deadline."""
    ack_port, buffer, deadline = int(sys.argv[1]), int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
    with open(sys.argv[4], "r+b") as counter_file:
        counter = mmap.mmap(counter_file.fileno(), 8)
    store = struct.Struct("=Q").pack_into
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.02)
    ack = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ack.bind(("127.0.0.1", 0))
    ack_address = ("127.0.0.1", ack_port)
    print(sink.getsockname()[1], flush=True)
    pack = struct.Struct(">Q").pack
    receive = sink.recv_into
    space = bytearray(65536)
    total = acked = 0
    while True:
        try:
            receive(space)
        except TimeoutError:
            if total != acked:
                ack.sendto(pack(total), ack_address)
                acked = total
            if time.monotonic() > deadline:
                return
            continue
        total += 1
        store(counter, 0, total)
        if total - acked >= ACK_EVERY:
            ack.sendto(pack(total), ack_address)
            acked = total


if __name__ == "__main__":
    main()
