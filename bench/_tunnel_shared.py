"""What ``bench/tunnels.py`` and its pyipv8 twin ``bench/reference/tunnels.py`` share: no ``ipv8`` import here.

* the datagram sent through the circuits (1,024 bytes, a bencoded dictionary, so that exits with
  ``PEER_FLAG_EXIT_BT`` of either implementation let it out);
* :class:`Pump`, the sender: paced (at most ``window`` datagrams in flight, topped up whenever the sink sees
  one arrive) or unpaced (a burst every event-loop turn, never waiting); it works on any event loop that can
  call a function later (Twisted's ``reactor.callLater``, asyncio's ``loop.call_later``);
* :func:`install_guard`: the network guard of the tunnel benchmark (loopback only, see the function);
* :func:`udp_socket_hosts`: the local address of every UDP socket of the process (Rust's included), so that the
  benchmark can show they are all bound to 127.0.0.1;
* the shape of the figures a worker hands back (:func:`summarize_run`).
"""
from __future__ import annotations

import os
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

LOOPBACK = "127.0.0.1"
#: Bytes of every datagram the initiator sends (the sink receives exactly these).
DATAGRAM_SIZE = 1024
#: Datagrams in flight at most in the paced runs (sent by the initiator, not yet seen by the sink).
WINDOW = 256
#: Datagrams the unpaced sender sends per event-loop turn (the paced window, without waiting for the sink).
FLOOD_BURST = 256
#: Seconds without any arrival at the sink, with a full window, after which the window is written off as lost.
STALL_SECONDS = 0.2
#: Seconds the sink may still receive after the sender stopped (then the rest counts as lost).
DRAIN_SECONDS = 1.0
#: Receive buffer of the sink (what IPv8 endpoints of both implementations ask for), so that the sink is not
#: the bottleneck: an exit may pass on a whole socket read at once.
SINK_BUFFER = 870400
#: Peer flags of the five peers: the initiator serves nobody, two relays, two exits (which also relay, so
#: that an initiator may extend through them as pyipv8 3.2.1 expects of exits).
RELAY_FLAG, EXIT_BT_FLAG = 1, 2
PEER_FLAGS: list[list[int]] = [[], [RELAY_FLAG], [RELAY_FLAG], [RELAY_FLAG, EXIT_BT_FLAG], [RELAY_FLAG, EXIT_BT_FLAG]]
HOP_COUNTS = (1, 3)


def make_datagram(size: int = DATAGRAM_SIZE) -> bytes:
    """``size`` bytes that read as a one-entry bencoded dictionary (the exits' BitTorrent check passes it)."""
    head = b"d4:data"
    for digits in range(1, 6):
        body = size - len(head) - digits - 2  # ':' and the closing 'e'
        if len(str(body)) == digits:
            datagram = head + str(body).encode() + b":" + os.urandom(body) + b"e"
            assert len(datagram) == size
            return datagram
    raise ValueError(f"no bencoded datagram of {size} bytes")


class Pump:
    """
    Sends datagrams through a circuit for ``seconds`` and counts what reaches the sink.

    :param send: sends one datagram (through the circuit, or the SOCKS5 socket).
    :param call_later: ``call_later(delay, function)`` of the event loop in use.
    :param window: paced: datagrams in flight at most; None: unpaced, ``burst`` datagrams every loop turn.
    :param done: called once with :meth:`result` when the run is over (after the drain).
    :param count: returns the datagrams of this run the sink has received (exact), read at the deadline and at
        the end; between those the acknowledgements keep :attr:`delivered` up to date for the pacing.

    The sink (a process of its own, ``bench/_tunnel_sink.py``) acknowledges what it received every 16 datagrams
    (and when it goes quiet); the benchmark hands these counts to :meth:`acknowledged`. A paced sender that sees nothing arrive for
    ``STALL_SECONDS`` with a full window writes the window off as lost and goes on (otherwise one lost burst
    would stop it for good); the loss figure itself is simply what never arrived.
    """

    def __init__(self, send: Callable[[], Any], call_later: Callable[[float, Callable[[], Any]], Any],
                 seconds: float, window: int | None, done: Callable[[dict[str, Any]], Any],
                 count: Callable[[], int] | None = None, burst: int = FLOOD_BURST, size: int = DATAGRAM_SIZE) -> None:
        self.send = send
        self.count = count
        self.call_later = call_later
        self.seconds = seconds
        self.window = window
        self.burst = burst
        self.size = size
        self.done = done
        self.sent = self.delivered = self.written_off = 0
        self.delivered_in_time = 0
        self.running = False
        self.start_wall = self.start_cpu = self.stop_wall = self.stop_cpu = 0.0
        self._last_seen = 0
        self._finished = False

    # -- the run -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin sending now."""
        self.running = True
        self.start_wall, self.start_cpu = time.perf_counter(), time.process_time()
        self._deadline = self.start_wall + self.seconds
        if self.window is None:
            self._burst()
        else:
            self._fill()
        self.call_later(0.05, self._watch)

    def acknowledged(self, delivered: int) -> None:
        """The sink has received ``delivered`` datagrams of this run so far (its acknowledgements)."""
        if delivered <= self.delivered:
            return
        self.delivered = delivered
        if self.running:
            if self.window is not None:
                self._fill()  # every arrival makes room for one more datagram
        elif self.delivered >= self.sent:
            self._finish()

    def _fill(self) -> None:
        room = self.window - (self.sent - self.delivered - self.written_off)
        if room <= 0:
            return
        send = self.send
        for _ in range(room):
            send()
        self.sent += room

    def _burst(self) -> None:
        if not self.running:
            return
        send = self.send
        for _ in range(self.burst):
            send()
        self.sent += self.burst
        self.call_later(0, self._burst)

    def _watch(self) -> None:
        if self._finished or not self.running:
            return
        now = time.perf_counter()
        if now >= self._deadline:
            self.running = False
            self.stop_wall, self.stop_cpu = now, time.process_time()
            if self.count is not None:
                self.delivered = max(self.delivered, self.count())
            self.delivered_in_time = self.delivered
            self.call_later(DRAIN_SECONDS, self._finish)
            return
        if self.window is not None and self.delivered == self._last_seen \
                and self.sent - self.delivered - self.written_off >= self.window:
            if now - self._stalled_since >= STALL_SECONDS:
                self.written_off = self.sent - self.delivered
                self._fill()
        else:
            self._stalled_since = now
        self._last_seen = self.delivered
        self.call_later(0.05, self._watch)

    _stalled_since = 0.0

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.count is not None:
            self.delivered = max(self.delivered, self.count())
        self.done(self.result())

    def result(self) -> dict[str, Any]:
        """The figures of this run (see :func:`summarize_run` for their meaning)."""
        wall = self.stop_wall - self.start_wall
        cpu = self.stop_cpu - self.start_cpu
        return {"sent": self.sent, "delivered": self.delivered, "delivered_in_time": self.delivered_in_time,
                "seconds": wall, "mb_s": self.delivered_in_time * self.size / wall / 1e6 if wall > 0 else 0.0,
                "loss": 1 - min(self.delivered, self.sent) / self.sent if self.sent else 0.0,
                "cpu_percent": 100 * cpu / wall if wall > 0 else 0.0, "written_off": self.written_off,
                # CPU of the whole process (every node, every thread) per datagram that arrived: what one datagram
                # through the circuit costs, whatever share of the machine the run got.
                "cpu_us_per_datagram": 1e6 * cpu / self.delivered_in_time if self.delivered_in_time else None}


def describe_run(name: str, run: dict[str, Any]) -> str:
    """One human-readable line about a run (for stderr)."""
    return (f"{name}: sent {run['sent']:,}, delivered {run['delivered']:,} ({run['mb_s']:.1f} MB/s, "
            f"loss {run['loss']:.1%}), CPU {run['cpu_percent']:.0f}% of one core"
            + (f", kernel drops {run['socket_drops']}" if run.get("socket_drops") else ""))


def median_ms(samples: list[float]) -> float | None:
    """The median of ``samples`` (seconds) in milliseconds, None if empty."""
    return 1000 * statistics.median(samples) if samples else None


# -- staying on 127.0.0.1 -----------------------------------------------------------------------------------

def install_guard(guard_module: Any) -> None:
    """
    Install the interop tests' loopback guard (``guard_module``, tests/interop/reference/loopback_guard.py),
    with a cheaper ``sendto``: the guard's check parses the destination address on every call (about 2 us),
    which the data path of a tunnel pays once per hop and datagram; here each destination host is checked
    once and remembered (a refused one is refused every time). Name lookups, ``connect`` and ``sendmsg`` keep
    the guard's own checks. Every socket of the benchmark is moreover bound to 127.0.0.1 (see
    :func:`udp_socket_hosts`), from where the kernel routes nowhere else.
    """
    original = socket.socket.sendto
    guard_module.install()
    checked: dict[Any, bool] = {}
    is_loopback, refuse = guard_module.is_loopback, guard_module.refuse

    def sendto(self: socket.socket, *args: Any) -> Any:
        address = args[-1] if len(args) >= 2 else None
        if address is not None:
            host = address[0] if isinstance(address, tuple) and address else address
            allowed = checked.get(host)
            if allowed is None:
                allowed = checked[host] = is_loopback(host)
            if not allowed:
                refuse("sendto", address)
                raise PermissionError(f"loopback guard: sendto {address!r} refused")
        return original(self, *args)

    socket.socket.sendto = sendto  # type: ignore[method-assign]


def udp_sockets(pid: Any = "self") -> list[tuple[str, int, int]]:
    """``(local host, local port, datagrams dropped)`` of every UDP socket of this process, from /proc (Rust's
    too). A socket's drops are datagrams the kernel discarded because its receive buffer was full."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("udp", socket.AF_INET), ("udp6", socket.AF_INET6)):
        try:
            with open(f"/proc/{pid}/net/{table}", encoding="ascii") as rows:
                lines = list(rows)[1:]
        except OSError:
            continue
        for row in lines:
            fields = row.split()
            if fields[9] not in inodes:
                continue
            raw_host, raw_port = fields[1].split(":")
            raw = bytes.fromhex(raw_host)
            # The kernel prints the address as 32-bit words in host (little-endian) order.
            ordered = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, ordered), int(raw_port, 16), int(fields[-1])))
    return sorted(found)


def udp_socket_hosts() -> list[str]:
    """The local address (without port) of every UDP socket of this process."""
    return [host for host, _, _ in udp_sockets()]


def socket_drops(roles: dict[int, str]) -> dict[str, int]:
    """Kernel drops per role (``roles``: local port -> name; other sockets are exit sockets)."""
    drops: dict[str, int] = {}
    for _, port, dropped in udp_sockets():
        role = roles.get(port, "exit sockets")
        drops[role] = drops.get(role, 0) + dropped
    return drops


class SinkProcess:
    """The sink (``bench/_tunnel_sink.py``) in a process of its own; acknowledgements go to ``ack_port``."""

    def __init__(self, ack_port: int, python: str = sys.executable, deadline: float = 3600.0) -> None:
        import mmap
        import subprocess
        import tempfile
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_tunnel_sink.py")
        self._counter_file = tempfile.NamedTemporaryFile(prefix="tunnel-sink-", suffix=".count")  # noqa: SIM115
        self._counter_file.write(bytes(8))
        self._counter_file.flush()
        self._counter = mmap.mmap(self._counter_file.fileno(), 8)
        self._read = struct.Struct("=Q").unpack_from
        self.process = subprocess.Popen([python, script, str(ack_port), str(SINK_BUFFER), str(deadline),
                                         self._counter_file.name], stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    @property
    def total(self) -> int:
        """Datagrams the sink has received so far (exact: read from the counter it shares with us)."""
        return self._read(self._counter, 0)[0]

    def on_ack(self, data: bytes) -> int:
        """An acknowledgement arrived: the sink's total now (the counter, which is at least what the ack says)."""
        return self.total

    def drops(self) -> int:
        """Datagrams the kernel dropped at the sink's socket (its receive buffer was full)."""
        return sum(dropped for _, _, dropped in udp_sockets(self.process.pid))

    def stop(self) -> None:
        """End the sink process (the one this object started)."""
        self.process.terminate()
        self.process.wait(5)
        self._counter.close()
        self._counter_file.close()


def rss_mb() -> float:
    """Resident set size of this process in MB (``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def log(line: str) -> None:
    """Progress on stderr (stdout carries the result line of a worker)."""
    print(line, file=sys.stderr, flush=True)
