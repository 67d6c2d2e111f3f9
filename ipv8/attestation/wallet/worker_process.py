"""The program a crypto worker process runs (``python -m ipv8.attestation.wallet.worker_process [niceness]``).

It reads jobs from its standard input and writes results to its standard output, one at a time, each a frame
of a 4-byte big-endian length and a pickle: a job is ``(function, args)``, a result ``(True, value)`` or
``(False, exception)``. It ends when its input closes. Only the parent process
(:class:`~ipv8.attestation.wallet.worker.ProcessRunner`) talks to it, over private pipes: the pickles come
from the node itself, never from the network.
"""
from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import BinaryIO

__all__ = ["HEADER", "MAX_FRAME", "main"]

HEADER = struct.Struct(">I")
#: The largest frame either side accepts (an attestation and its objects stay far below).
MAX_FRAME = 64 * 1024 * 1024


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _answer(payload: bytes) -> bytes:
    try:
        function, args = pickle.loads(payload)
        outcome: tuple[bool, object] = (True, function(*args))
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the caller
        outcome = (False, exc)
    try:
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
        return pickle.dumps((False, RuntimeError(f"the job's outcome cannot be sent back: {exc!r}")))


def main(argv: list[str]) -> int:
    """Serve jobs until the input closes."""
    if len(argv) > 1 and hasattr(os, "nice"):
        try:
            os.nice(int(argv[1]))
        except (OSError, ValueError):  # not allowed or not a number: the normal priority then
            pass
    jobs = sys.stdin.buffer
    # The results get their own copy of the output; anything a job prints goes to stderr instead.
    results = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    while True:
        header = _read_exactly(jobs, HEADER.size)
        if header is None:
            return 0
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            return 2
        payload = _read_exactly(jobs, size)
        if payload is None:
            return 0
        answer = _answer(payload)
        results.write(HEADER.pack(len(answer)) + answer)
        results.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
