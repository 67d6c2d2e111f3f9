"""Start a small private IPv8 network on 127.0.0.1: one tracker and a few ``twistd ipv8`` nodes.

This is what ``make run`` does::

    python -m ipv8.scripts.local_network [--nodes 3] [--rest-port 8085] [--run-dir .run]

Everything binds to 127.0.0.1 and the nodes bootstrap only from the local tracker (``--bootstrap``), so
nothing is sent outside this machine. The first node serves its REST API on ``--rest-port``, protected
by the API key ``twistd ipv8`` generates (stored in its directory, and shown with a ready-to-paste
``curl`` line once everything runs); the others run without one. Each process gets its own directory under the run directory (keys survive between
runs, so the nodes keep their identities); the run directory ignores itself in git. The processes'
output is shown with a ``[name]`` prefix. Ctrl-C (or SIGTERM) stops the nodes, then the tracker. If a process fails to start, the launcher stops the
others and exits with status 1 and one line on stderr that quotes the failing process's own error.
"""
from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Sequence

LOCALHOST = "127.0.0.1"
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class LaunchError(RuntimeError):
    """A process of the local network did not come up; the message says which and why."""


def free_port(kind: int) -> int:
    """A port on 127.0.0.1 that is free right now (``socket.SOCK_DGRAM`` or ``socket.SOCK_STREAM``)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


def tcp_port_is_free(port: int) -> bool:
    """Whether a TCP server could listen on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def twistd_command(netguard: bool) -> list[str]:
    """How to run twistd with this interpreter (optionally behind the test network guard)."""
    script = Path(sys.executable).parent / "twistd"
    runner = [str(script)] if script.exists() else ["-c", "from twisted.scripts.twistd import run; run()"]
    guard = ["-m", "ipv8.test.netguard"] if netguard and script.exists() else []
    return [sys.executable, *guard, *runner, "--nodaemon", "--pidfile="]


class ManagedProcess:
    """One child process whose output is echoed with a prefix and searched for readiness lines."""

    def __init__(self, name: str, command: Sequence[str], directory: Path, echo: IO[str]) -> None:
        self.name = name
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self._echo = echo
        self._echo_lock = threading.Lock()
        # A session of its own keeps a terminal's Ctrl-C away from the child: the launcher alone decides when
        # (and with which single signal) each process stops.
        self.process = subprocess.Popen(list(command), cwd=directory, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)
        self._reader = threading.Thread(target=self._pump, name=f"output of {name}", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            text = line.rstrip("\n")
            self.lines.append(text)
            with self._echo_lock:
                self._echo.write(f"[{self.name}] {text}\n")
                self._echo.flush()

    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.process.poll() is None

    def wait_for_line(self, marker: str, timeout: float = READY_TIMEOUT) -> str:
        """
        The first output line containing ``marker``, waiting for it.

        :raises LaunchError: if the process exits or ``timeout`` passes first.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = next((line for line in self.lines if marker in line), None)
            if found is not None:
                return found
            if not self.running():
                self._reader.join(1)
                found = next((line for line in self.lines if marker in line), None)
                if found is not None:
                    return found
                raise LaunchError(f"{self.name} exited with status {self.process.returncode} before it was ready"
                                  + self._reason())
            if time.monotonic() > deadline:
                raise LaunchError(f"{self.name} did not report {marker!r} within {timeout:.0f} s")
            time.sleep(0.05)

    def _reason(self) -> str:
        """``: <the process's own error line>`` if it printed one (twistd's ``...: error: ...``)."""
        errors = [line.strip() for line in self.lines if ": error: " in line]
        return f": {errors[-1]}" if errors else ""

    def terminate(self) -> None:
        """Ask the process to shut down cleanly (SIGTERM)."""
        if self.running():
            try:
                self.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> None:
        """Wait for the process to exit; kill it if it takes longer than ``timeout`` seconds."""
        try:
            self.process.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            self._echo.write(f"[{self.name}] did not stop in time: killing it\n")
            self.process.kill()
            self.process.wait()
        self._reader.join(1)


class LocalNetwork:
    """The tracker and nodes of one run, started and stopped together."""

    def __init__(self, run_dir: Path, nodes: int, rest_port: int, netguard: bool = False,
                 echo: IO[str] = sys.stdout) -> None:
        self.run_dir = run_dir
        self.node_count = nodes
        self.rest_port = rest_port
        self.netguard = netguard
        self.echo = echo
        self.processes: list[ManagedProcess] = []
        self.tracker_port = 0
        self.rest_url: str | None = None
        self.api_key: str | None = None
        self.node_addresses: dict[str, str] = {}

    def _prepare_run_dir(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ignore = self.run_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Created by ipv8.scripts.local_network: keys and state of local test nodes.\n*\n")

    def start(self) -> None:
        """
        Start the tracker, then the nodes, and wait until all of them run.

        :raises LaunchError: if a process fails to come up (the ones already started keep running: call
            :meth:`stop`).
        """
        if self.rest_port and not tcp_port_is_free(self.rest_port):
            raise LaunchError(f"TCP port {self.rest_port} on {LOCALHOST} is in use: pass another --rest-port")
        self._prepare_run_dir()
        self.tracker_port = free_port(socket.SOCK_DGRAM)
        tracker = self._spawn("tracker", ["tracker", f"--listen_ip={LOCALHOST}", f"--listen_port={self.tracker_port}"])
        tracker.wait_for_line("Tracker listening on")

        for index in range(1, self.node_count + 1):
            name = f"node{index}"
            # The first node also counts its traffic (--statistics), which the dashboard's charts draw.
            rest = (["--rest-interface", LOCALHOST, "--rest-port", str(self.rest_port), "--statistics"] if index == 1
                    else ["--no-rest-api"])
            node = self._spawn(name, ["ipv8", "--ip", LOCALHOST, "--port", str(free_port(socket.SOCK_DGRAM)),
                                      "--working-dir", str(self.run_dir / name),
                                      "--bootstrap", f"{LOCALHOST}:{self.tracker_port}", *rest])
            running = node.wait_for_line("IPv8 is running on")
            self.node_addresses[name] = running.split("IPv8 is running on ", 1)[1].split(" with ", 1)[0]
            if index == 1:
                listening = node.wait_for_line("REST API listening on")
                self.rest_url = listening.split("REST API listening on ", 1)[1].strip()
                self.api_key = self._read_api_key(self.run_dir / name)

    @staticmethod
    def _read_api_key(directory: Path) -> str | None:
        from .secrets_files import API_KEY_FILE_NAME
        try:
            return (directory / API_KEY_FILE_NAME).read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def _spawn(self, name: str, arguments: list[str]) -> ManagedProcess:
        process = ManagedProcess(name, [*twistd_command(self.netguard), *arguments], self.run_dir / name, self.echo)
        self.processes.append(process)
        return process

    def banner(self) -> str:
        """What to tell the user once everything runs."""
        lines = ["", f"Local IPv8 network running on {LOCALHOST} (state in {self.run_dir}):",
                 f"  tracker  UDP {LOCALHOST}:{self.tracker_port}"]
        for name, address in self.node_addresses.items():
            lines.append(f"  {name:<8} UDP {address}")
        if self.rest_url:
            header = f'-H "X-Api-Key: {self.api_key}" ' if self.api_key else ""
            lines += [f"Dashboard of node1: {self.rest_url}/ui/ (open it in a browser"
                      + (", log in with the API key below)" if self.api_key else ")"),
                      f"REST API of node1, API key: {self.api_key or '(none)'}",
                      "  try:",
                      f"  curl {header}{self.rest_url}/overlays",
                      f"  curl {header}{self.rest_url}/network",
                      f"  curl {self.rest_url}/docs/swagger.json"]
        lines += ["Press Ctrl-C to stop.", ""]
        return "\n".join(lines)

    def first_exited(self) -> ManagedProcess | None:
        """A process that has exited on its own, if any."""
        return next((process for process in self.processes if not process.running()), None)

    def stop(self) -> None:
        """Stop all nodes, then the tracker (the first process); each gets one SIGTERM, stragglers are killed."""
        deadline = time.monotonic() + STOP_TIMEOUT
        for group in (self.processes[1:], self.processes[:1]):
            for process in group:
                process.terminate()
            for process in group:
                process.wait(deadline - time.monotonic())


class _Stop(Exception):
    """Raised by the SIGTERM handler to leave the waiting loop."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """The launcher's command line."""
    parser = argparse.ArgumentParser(prog="python -m ipv8.scripts.local_network",
                                     description="Run a tracker and IPv8 nodes on 127.0.0.1 (Ctrl-C stops them).")
    parser.add_argument("--nodes", type=int, default=3, help="number of IPv8 nodes (default: 3)")
    parser.add_argument("--rest-port", type=int, default=8085,
                        help="REST API port of the first node (default: 8085; 0 picks a free port)")
    parser.add_argument("--run-dir", type=Path, default=Path(".run"),
                        help="directory for the processes' keys and state (default: .run)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop by itself after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--netguard", action="store_true",
                        help="run every process behind ipv8.test.netguard (loopback traffic only)")
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.nodes <= 20:
        parser.error("--nodes must be between 1 and 20")
    if not 0 <= arguments.rest_port <= 65535:
        parser.error("--rest-port must be a port number")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    """Run the local network until Ctrl-C, SIGTERM, ``--duration`` or a process failing; the exit status."""
    arguments = parse_arguments(argv)
    network = LocalNetwork(arguments.run_dir.resolve(), arguments.nodes, arguments.rest_port, arguments.netguard)
    previous_handler = signal.signal(signal.SIGTERM, _raise_stop)
    status = 0
    try:
        network.start()
        print(network.banner(), flush=True)
        deadline = None if arguments.duration is None else time.monotonic() + arguments.duration
        while deadline is None or time.monotonic() < deadline:
            exited = network.first_exited()
            if exited is not None:
                print(f"{exited.name} exited (status {exited.process.returncode}): stopping the network",
                      file=sys.stderr)
                status = 1
                break
            time.sleep(0.2)
    except (KeyboardInterrupt, _Stop):
        pass
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean shutdown short
        print("Stopping the local IPv8 network...", flush=True)
        network.stop()
        signal.signal(signal.SIGTERM, previous_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print("Stopped.", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
