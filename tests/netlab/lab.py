"""
A NAT lab in Linux network namespaces: two hosts, each behind its own NAT router, and a tracker on the "internet".

::

    hostA 10.99.1.2 --- natA [10.99.1.1 | 10.99.0.1] ---+
                                                         +-- bridge in "pub", tracker at 10.99.0.10
    hostB 10.99.2.2 --- natB [10.99.2.1 | 10.99.0.2] ---+

The recipe was measured on the target machines before these tests were written: veth pairs, a bridge in ``pub``,
``MASQUERADE`` on each router's WAN side (``--random-fully`` turns it into a symmetric NAT) and a home-router
firewall that drops unsolicited inbound packets on the WAN side (without it, punched packets that arrive early
make the router create conflicting conntrack entries and punching fails).

Nothing here touches the network of the namespace the tests run in: all addresses live on interfaces inside the
lab's own namespaces, the routers have no default route, and the test process never sends a packet itself; it
only runs ``ip``/``iptables``/``conntrack`` and starts processes inside the namespaces. Namespace names carry the
creating process id and a random suffix, so concurrent or crashed runs never collide, and
:func:`remove_stale_namespaces` can clean up after a crashed run whose process is gone.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_SCRIPT = Path(__file__).resolve().with_name("node.py")
#: The interpreter the namespaced processes run (the project venv when this runs under it).
PYTHON = sys.executable


def twistd_command() -> list[str]:
    """``twistd`` of the running installation (it finds the tracker plugin in the repository's ``twisted/plugins``)."""
    script = Path(sys.executable).with_name("twistd")
    if script.exists():
        return [str(script)]
    return [PYTHON, "-c", "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"]


TRACKER_IP = "10.99.0.10"
TRACKER_PORT = 6421
#: Per host: (router WAN address, router LAN address, host address, LAN prefix).
SITES = {
    "A": ("10.99.0.1", "10.99.1.1", "10.99.1.2", "10.99.1.0/24"),
    "B": ("10.99.0.2", "10.99.2.1", "10.99.2.2", "10.99.2.0/24"),
}
NAT_MODES = {"masq": [], "random": ["--random"], "random-fully": ["--random-fully"]}
NAMESPACE_PREFIX = "txnl"
_NAME_PATTERN = re.compile(rf"^{NAMESPACE_PREFIX}(\d+)x[0-9a-f]+-\w+$")


class LabError(RuntimeError):
    """A lab command failed."""


def missing_prerequisites() -> str | None:
    """Why the lab cannot run here (not root, a tool missing), or None when it can."""
    if sys.platform != "linux":
        return "the NAT lab needs Linux network namespaces"
    if os.geteuid() != 0:
        return "the NAT lab needs root (ip netns, iptables)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"the NAT lab needs {tool!r} (apt-get install -y iproute2 iptables conntrack)"
    return None


def have_conntrack_tool() -> bool:
    """Whether the ``conntrack`` command is there (it only adds evidence; the lab works without it)."""
    return shutil.which("conntrack") is not None


def run(*command: str, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Run a command, capture its output and raise :class:`LabError` (with the output) when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def list_namespaces() -> list[str]:
    """The names of all network namespaces (``ip netns list``)."""
    output = run("ip", "netns", "list").stdout
    return [line.split()[0] for line in output.splitlines() if line.strip()]


def _kill_namespace_processes(namespace: str) -> None:
    pids = run("ip", "netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def delete_namespace(namespace: str) -> None:
    """Kill whatever still runs inside ``namespace`` (only lab namespaces get here), then delete it."""
    _kill_namespace_processes(namespace)
    run("ip", "netns", "del", namespace, check=False)


def remove_stale_namespaces() -> list[str]:
    """Delete lab namespaces (and log directories) left behind by lab runs whose process no longer exists.

    :returns: the names of the namespaces removed.
    """
    removed = []
    for namespace in list_namespaces():
        match = _NAME_PATTERN.match(namespace)
        if match is None:
            continue
        owner = int(match.group(1))
        if owner == os.getpid() or Path(f"/proc/{owner}").exists():
            continue
        delete_namespace(namespace)
        removed.append(namespace)
    for log_dir in Path(tempfile.gettempdir()).glob(f"{NAMESPACE_PREFIX}*x*-*"):
        match = re.match(rf"{NAMESPACE_PREFIX}(\d+)x", log_dir.name)
        if match and log_dir.is_dir() and not Path(f"/proc/{match.group(1)}").exists():
            shutil.rmtree(log_dir, ignore_errors=True)
    return removed


# -- conntrack --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConntrackEntry:
    """One UDP flow of a router's connection tracking table, as ``conntrack -L -o ktimestamp,id`` prints it."""

    original: tuple[str, str, int, int]  # src, dst, sport, dport as the packet left the LAN host
    reply: tuple[str, str, int, int]  # the tuple replies must have: src, dst, sport, dport
    timeout: int  # seconds left before the router forgets the flow (unless a packet refreshes it)
    flags: frozenset[str]
    entry_id: str | None
    age: int | None  # seconds since the flow was created (None without conntrack timestamps)

    @property
    def public_port(self) -> int:
        """The port the router mapped the flow to on its WAN side (the reply's destination port)."""
        return self.reply[3]

    def __str__(self) -> str:
        o, r = self.original, self.reply
        return (f"{o[0]}:{o[2]}->{o[1]}:{o[3]} (replies {r[0]}:{r[2]}->{r[1]}:{r[3]}) "
                f"timeout={self.timeout} age={self.age} {' '.join(sorted(self.flags))} id={self.entry_id}")


def parse_conntrack(output: str) -> list[ConntrackEntry]:
    """Parse UDP lines of ``conntrack -L -p udp -o ktimestamp,id``."""
    entries = []
    for line in output.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "udp":
            continue
        pairs = [word.split("=", 1) for word in words if "=" in word]
        tuples: list[dict[str, str]] = []
        for key, value in pairs:
            if key == "src":
                tuples.append({})
            if key in ("src", "dst", "sport", "dport") and tuples:
                tuples[-1][key] = value
        if len(tuples) < 2:
            continue
        ident = next((value for key, value in pairs if key == "id"), None)
        age = next((int(value) for key, value in pairs if key == "delta-time"), None)

        def as_tuple(part: dict[str, str]) -> tuple[str, str, int, int]:
            return part["src"], part["dst"], int(part["sport"]), int(part["dport"])

        flags = frozenset(word.strip("[]") for word in words if re.fullmatch(r"\[[A-Z_]+\]", word))
        entries.append(ConntrackEntry(as_tuple(tuples[0]), as_tuple(tuples[1]), int(words[2]), flags, ident, age))
    return entries


# -- processes --------------------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the test process dies, however it dies (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


class LabProcess:
    """
    A process running inside a lab namespace whose stdout carries JSON-lines events.

    Lines that are not JSON are kept as ``{"event": "log", "line": ...}``. Events are collected by a reader
    thread; :meth:`wait_for` blocks until one matches.
    """

    def __init__(self, name: str, namespace: str, command: list[str], log_dir: Path,
                 stops_on_eof: bool = True) -> None:
        self.name = name
        #: Whether closing stdin makes the process end (node.py does; twistd needs a signal).
        self.stops_on_eof = stops_on_eof
        self.namespace = namespace
        self.stderr_path = log_dir / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed in stop()
        # ``ip netns exec`` execs the command in place, so the process we start is the command itself.
        self.process = subprocess.Popen(["ip", "netns", "exec", namespace, *command], cwd=REPO_ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"netlab-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            try:
                event = json.loads(line)
                if not isinstance(event, dict):
                    raise ValueError
            except ValueError:
                event = {"event": "log", "line": line, "t": time.time()}
            with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def of_kind(self, kind: str, /, **match: Any) -> list[dict[str, Any]]:  # noqa: ANN401
        """The events of ``kind`` received so far whose fields equal ``match``."""
        with self._changed:
            snapshot = list(self.events)
        return [event for event in snapshot
                if event.get("event") == kind and all(event.get(k) == v for k, v in match.items())]

    def first(self, kind: str, /, **match: Any) -> dict[str, Any] | None:  # noqa: ANN401
        """The first event of ``kind`` matching ``match``, or None."""
        found = self.of_kind(kind, **match)
        return found[0] if found else None

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any] | None:
        """The first event (old or new) satisfying ``predicate``, waiting up to ``timeout`` seconds; or None."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    return None
                self._changed.wait(min(remaining, 0.2))

    def wait_event(self, kind: str, timeout: float, /, **match: Any) -> dict[str, Any] | None:  # noqa: ANN401
        """:meth:`wait_for` an event of ``kind`` whose fields equal ``match``."""
        return self.wait_for(lambda e: e.get("event") == kind and all(e.get(k) == v for k, v in match.items()),
                             timeout)

    def command(self, line: str) -> None:
        """Write one command line to the process's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()

    def stderr_text(self) -> str:
        """What the process wrote to stderr so far (for failure messages)."""
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def begin_stop(self) -> None:
        """Ask the process to end: close its stdin (nodes stop on that) and send it SIGTERM unless it stops on EOF."""
        if self.process.poll() is not None:
            return
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
        except (OSError, ValueError):
            pass
        if not self.stops_on_eof:
            self._signal(signal.SIGTERM)

    def stop(self, grace: float = 2.0) -> None:
        """:meth:`begin_stop`, wait up to ``grace`` seconds, then kill the process group we started."""
        self.begin_stop()
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(5.0)
        self._reader.join(2.0)
        self._stderr.close()

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


# -- the lab ----------------------------------------------------------------------------------------------------

_LIVE_LABS: set[NetLab] = set()


@dataclass
class NetLab:
    """
    The five namespaces of one lab, their routers' configuration, and the processes started in them.

    :param nat_a: NAT mode of natA: ``masq`` (Linux default, port preserving), ``random`` or ``random-fully``
        (both behave as a symmetric NAT: a new public port per destination).
    :param nat_b: NAT mode of natB.
    """

    nat_a: str = "masq"
    nat_b: str = "masq"
    tag: str = field(default_factory=lambda: f"{NAMESPACE_PREFIX}{os.getpid()}x{secrets.token_hex(3)}")
    processes: list[LabProcess] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for mode in (self.nat_a, self.nat_b):
            if mode not in NAT_MODES:
                raise ValueError(f"unknown NAT mode {mode!r}; use one of {sorted(NAT_MODES)}")
        self.log_dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))

    def __hash__(self) -> int:
        return hash(self.tag)

    def ns(self, role: str) -> str:
        """The real namespace name of ``role``: pub, natA, natB, hostA or hostB."""
        return f"{self.tag}-{role}"

    @property
    def roles(self) -> list[str]:
        """All namespace roles."""
        return ["pub", "natA", "natB", "hostA", "hostB"]

    # -- building ---------------------------------------------------------------------------------------

    def up(self) -> NetLab:
        """Create the namespaces, links, addresses, routes, NAT and firewall rules."""
        _LIVE_LABS.add(self)
        for role in self.roles:
            run("ip", "netns", "add", self.ns(role))
            self.created.append(self.ns(role))
            self.ip(role, "link", "set", "lo", "up")
        self.ip("pub", "link", "add", "br0", "type", "bridge")
        self.ip("pub", "addr", "add", f"{TRACKER_IP}/24", "dev", "br0")
        self.ip("pub", "link", "set", "br0", "up")
        self._router("A", self.nat_a)
        self._router("B", self.nat_b)
        return self

    def _router(self, site: str, mode: str) -> None:
        router, host = f"nat{site}", f"host{site}"
        wan_ip, lan_ip, host_ip, lan_net = SITES[site]
        bridge_port = f"p-{site.lower()}"
        # Both ends are created directly inside their namespaces: no interface ever appears in ours.
        run("ip", "link", "add", "wan", "netns", self.ns(router), "type", "veth",
            "peer", "name", bridge_port, "netns", self.ns("pub"))
        self.ip("pub", "link", "set", bridge_port, "master", "br0", "up")
        self.ip(router, "addr", "add", f"{wan_ip}/24", "dev", "wan")
        self.ip(router, "link", "set", "wan", "up")
        run("ip", "link", "add", "lan", "netns", self.ns(router), "type", "veth",
            "peer", "name", "eth0", "netns", self.ns(host))
        self.ip(router, "addr", "add", f"{lan_ip}/24", "dev", "lan")
        self.ip(router, "link", "set", "lan", "up")
        self.ip(host, "addr", "add", f"{host_ip}/24", "dev", "eth0")
        self.ip(host, "link", "set", "eth0", "up")
        self.ip(host, "route", "add", "default", "via", lan_ip)
        # Forwarding is off in every new namespace. Timestamps give each conntrack flow an age.
        self.sysctl_set(router, "net.ipv4.ip_forward", "1")
        self.sysctl_set(router, "net.netfilter.nf_conntrack_timestamp", "1")
        self.iptables(router, "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-s", lan_net, "-j", "MASQUERADE",
                      *NAT_MODES[mode])
        # A home router's firewall: from the WAN side only replies to flows started inside get in.
        for chain in ("INPUT", "FORWARD"):
            self.iptables(router, "-A", chain, "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
                          "-j", "ACCEPT")
            self.iptables(router, "-A", chain, "-i", "wan", "-j", "DROP")

    # -- commands inside namespaces -----------------------------------------------------------------------

    def ip(self, role: str, *args: str) -> subprocess.CompletedProcess:
        """``ip -n NS ...``."""
        return run("ip", "-n", self.ns(role), *args)

    def exec(self, role: str, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """``ip netns exec NS command...``."""
        return run("ip", "netns", "exec", self.ns(role), *command, check=check)

    def iptables(self, role: str, *args: str) -> subprocess.CompletedProcess:
        """``iptables`` inside ``role``'s namespace."""
        return self.exec(role, "iptables", "-w", *args)

    def sysctl_set(self, role: str, key: str, value: str) -> None:
        """Set a sysctl inside ``role``'s namespace."""
        self.exec(role, "sysctl", "-qw", f"{key}={value}")

    def sysctl_get(self, role: str, key: str) -> str:
        """Read a sysctl inside ``role``'s namespace."""
        return self.exec(role, "sysctl", "-n", key).stdout.strip()

    def add_random_loss(self, router: str, probability: float) -> None:
        """Drop ``probability`` of all packets the router forwards, in both directions."""
        self.iptables(router, "-I", "FORWARD", "1", "-m", "statistic", "--mode", "random",
                      "--probability", str(probability), "-j", "DROP")

    def rule_packet_counts(self, router: str, chain: str) -> list[tuple[int, str]]:
        """``(packets, rule text)`` for each rule of ``chain`` in the router's filter table."""
        output = self.iptables(router, "-L", chain, "-v", "-x", "-n").stdout
        counts = []
        for line in output.splitlines()[2:]:
            words = line.split()
            if words and words[0].isdigit():
                counts.append((int(words[0]), " ".join(words[2:])))
        return counts

    def conntrack(self, router: str) -> list[ConntrackEntry] | None:
        """The router's UDP conntrack table, or None without the ``conntrack`` tool."""
        if not have_conntrack_tool():
            return None
        return parse_conntrack(self.exec(router, "conntrack", "-L", "-p", "udp", "-o", "ktimestamp,id").stdout)

    # -- processes ------------------------------------------------------------------------------------------

    def start(self, name: str, role: str, command: list[str], stops_on_eof: bool = True) -> LabProcess:
        """Start ``command`` inside ``role``'s namespace; it is stopped by :meth:`down`."""
        process = LabProcess(name, self.ns(role), command, self.log_dir, stops_on_eof)
        self.processes.append(process)
        return process

    def start_tracker(self, port: int = TRACKER_PORT, timeout: float = 10.0) -> LabProcess:
        """Run ``twistd -n tracker`` on the tracker address in ``pub``; returns once it listens."""
        twistd = [*twistd_command(), "-n", "--pidfile=", "--logfile=-", "tracker", f"--listen_port={port}",
                  f"--listen_ip={TRACKER_IP}"]
        tracker = self.start("tracker", "pub", twistd, stops_on_eof=False)
        listening = tracker.wait_for(lambda e: "Tracker listening on" in e.get("line", ""), timeout)
        if listening is None:
            raise LabError(f"the tracker did not start: {tracker.events[-5:]} {tracker.stderr_text()}")
        return tracker

    def start_node(self, site: str, *options: str, name: str | None = None, wait: float | None = 10.0,
                   script: Path = NODE_SCRIPT, python: str = PYTHON) -> LabProcess:
        """
        Run a node script (``node.py`` by default) on host ``site`` (A or B), bootstrapping from the lab tracker.

        :param wait: seconds to wait for its ``ready`` event (None: return at once, see :meth:`wait_ready`).
        """
        name = name or site
        node = self.start(name, f"host{site}", [python, str(script), "--name", name,
                                                "--tracker", f"{TRACKER_IP}:{TRACKER_PORT}", *options])
        if wait is not None:
            self.wait_ready(node, wait)
        return node

    def wait_ready(self, node: LabProcess, timeout: float = 10.0) -> dict[str, Any]:
        """The node's ``ready`` event; :class:`LabError` if it does not come within ``timeout`` seconds."""
        ready = node.wait_event("ready", timeout)
        if ready is None:
            raise LabError(f"node {node.name} did not start: {node.events[-5:]} {node.stderr_text()}")
        return ready

    # -- teardown -------------------------------------------------------------------------------------------

    def down(self) -> None:
        """Stop every process started here and delete every namespace created here (safe to call twice)."""
        for process in self.processes:
            process.begin_stop()  # all at once: they shut down in parallel
        for process in self.processes:
            process.stop()
        for namespace in reversed(self.created):
            delete_namespace(namespace)
        self.created.clear()
        _LIVE_LABS.discard(self)
        shutil.rmtree(self.log_dir, ignore_errors=True)

    def leftover_namespaces(self) -> list[str]:
        """Namespaces of this lab that still exist (should be none after :meth:`down`)."""
        return [name for name in list_namespaces() if name.startswith(self.tag + "-")]

    def describe(self) -> str:
        """Everything the processes said, for failure messages."""
        parts = []
        for process in self.processes:
            parts.append(f"--- {process.name} events:")
            parts.extend(json.dumps(event) for event in process.events[-60:])
            stderr = process.stderr_text().strip()
            if stderr:
                parts.append(f"--- {process.name} stderr:\n{stderr}")
        return "\n".join(parts)


def tear_down_all() -> None:
    """Tear down every lab still up (the module-level safety net; also registered with atexit)."""
    for lab in list(_LIVE_LABS):
        lab.down()


atexit.register(tear_down_all)

