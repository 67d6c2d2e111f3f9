"""
Shared machinery of the live interop tests: the txipv8 side of the interop community, a packet log,
and :class:`RefPeer`, a pyipv8 3.2.1 peer running in a subprocess of the reference interpreter.

The reference peer is ``reference/ref_peer.py``; it reports JSON events on stdout and takes JSON commands
on stdin. Every test runs under twisted.trial with the real reactor and real UDP sockets on 127.0.0.1.
"""
from __future__ import annotations

import collections
import json
import signal
from pathlib import Path
from typing import Any, Callable

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.trial import unittest
from zope.interface import implementer

from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import PacketDecodingError, lazy_wrapper, split_signed_packet
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.endpoint import IEndpointListener
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.messaging.payload_dataclass import dataclass
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.util import WaitTimeoutError
from ipv8.test.util import wait_until as shared_wait_until

from .refenv import reference_env, reference_interpreter

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_peer.py"
#: Must equal ``INTEROP_COMMUNITY_ID`` in reference/ref_peer.py.
INTEROP_COMMUNITY_ID = bytes.fromhex("17c0ffee" + "00" * 15 + "42")
CHAT_ID = 1
#: Seconds a reference peer gets to exit after its stdin closed, before it is killed.
STOP_GRACE = 2.0
#: Hard limit handed to every reference peer: it exits by itself even if this process dies.
PEER_DEADLINE = 40.0


@dataclass(msg_id=CHAT_ID)
class Chat:
    """The application message of the interop tests (pyipv8 declares the same fields in ref_peer.py)."""

    sequence: int
    text: str
    digest: bytes
    urgent: bool
    values: list[int]


def make_chat(sequence: int, sender: str = "txipv8") -> Chat:
    """Chat number ``sequence`` as ``sender`` writes it (mirrors ``make_chat`` in ref_peer.py)."""
    return Chat(sequence, f"chat {sequence} from {sender} \u2713", sequence.to_bytes(4, "big") * 2,
                sequence % 2 == 0, [sequence, -sequence, 2 ** 40])


class InteropCommunity(Community):
    """The txipv8 member of the interop community: records the chats it receives."""

    community_id = INTEROP_COMMUNITY_ID

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.chats: list[tuple[bytes, Chat]] = []
        self.add_message_handler(Chat, self.on_chat)

    @lazy_wrapper(Chat)
    def on_chat(self, peer: Peer, payload: Chat) -> None:
        self.chats.append((peer.mid, payload))


@implementer(IEndpointListener)
class PacketLog:
    """Every packet an endpoint receives: ``(source, prefix, message id, length)``; chats are verified by hand."""

    def __init__(self) -> None:
        self.seen: list[tuple[tuple[str, int], bytes, int, int]] = []
        self.chat_signatures_valid = 0
        self.chat_signatures_invalid = 0

    def on_packet(self, packet: tuple[Any, bytes]) -> None:
        source, data = packet
        if len(data) <= 22:
            return
        self.seen.append(((source[0], source[1]), data[:22], data[22], len(data)))
        if data[:22] == b"\x00\x02" + INTEROP_COMMUNITY_ID and data[22] == CHAT_ID:
            try:
                split_signed_packet(data)
            except PacketDecodingError:
                self.chat_signatures_invalid += 1
            else:
                self.chat_signatures_valid += 1

    def ids_from(self, source: tuple[str, int], prefix: bytes | None = None) -> collections.Counter[int]:
        """How often each message id arrived from ``source`` (optionally only for one community prefix)."""
        return collections.Counter(msg_id for where, pfx, msg_id, _ in self.seen
                                   if where == tuple(source) and (prefix is None or pfx == prefix))

    def sizes_from(self, source: tuple[str, int], msg_id: int) -> set[int]:
        """The lengths of the packets with ``msg_id`` that arrived from ``source``."""
        return {length for where, _, number, length in self.seen if where == tuple(source) and number == msg_id}


class RefPeerError(AssertionError):
    """The reference peer failed a command, exited early or did not report what the test waited for."""


class RefPeer(ProcessProtocol):
    """
    A pyipv8 3.2.1 peer in a subprocess; see reference/ref_peer.py for its configuration and commands.

    ``events`` holds everything it reported, ``peers[overlay]`` the latest peer list per overlay.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.peers: dict[str, list[dict[str, Any]]] = {}
        self.ready: dict[str, Any] | None = None
        self.exit_event: dict[str, Any] | None = None
        self.exit_code: int | None = None
        self.exit_signal: int | None = None
        self.finished = False
        self.ended: Deferred = Deferred()
        self._stdout = b""
        self._stderr: collections.deque[str] = collections.deque(maxlen=60)
        self._waiters: list[tuple[Callable[[RefPeer], bool], Deferred]] = []
        self._replies: dict[int, Deferred] = {}
        self._next_id = 0

    # -- process events ----------------------------------------------------------------------------

    def outReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self._stdout += data
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                self._stderr.append(f"[stdout] {line.decode(errors='replace')}")
                continue
            self._handle(event)

    def errReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self._stderr.extend(data.decode(errors="replace").splitlines())

    def processEnded(self, reason: Any) -> None:  # noqa: N802, ANN401 - Twisted's name
        self.finished = True
        self.exit_code = getattr(reason.value, "exitCode", None)
        self.exit_signal = getattr(reason.value, "signal", None)
        gone = RefPeerError(f"{self.name} exited (code {self.exit_code}, signal {self.exit_signal})"
                            f"{self.stderr_tail()}")
        for _, waiter in self._waiters:
            waiter.errback(gone)
        self._waiters.clear()
        for reply in self._replies.values():
            reply.errback(gone)
        self._replies.clear()
        self.ended.callback(self.exit_code)

    def _handle(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        kind = event.get("event")
        if kind == "ready":
            self.ready = event
        elif kind == "peers":
            self.peers[event["overlay"]] = event["peers"]
        elif kind == "exit":
            self.exit_event = event
        elif kind == "reply":
            reply = self._replies.pop(event.get("id"), None)
            if reply is not None:
                if event.get("ok"):
                    reply.callback(event.get("result"))
                else:
                    reply.errback(RefPeerError(f"{self.name}: {event.get('error')}\n{event.get('traceback', '')}"))
        for entry in list(self._waiters):
            predicate, waiter = entry
            if predicate(self):
                self._waiters.remove(entry)
                waiter.callback(self)

    # -- API for tests -----------------------------------------------------------------------------

    @property
    def address(self) -> UDPv4Address:
        """The reference peer's UDP address."""
        assert self.ready is not None, f"{self.name} is not ready"
        return UDPv4Address(*self.ready["address"])

    @property
    def mid(self) -> bytes:
        assert self.ready is not None, f"{self.name} is not ready"
        return bytes.fromhex(self.ready["mid"])

    def stderr_tail(self) -> str:
        return ("\n--- stderr of " + self.name + " ---\n" + "\n".join(self._stderr)) if self._stderr else ""

    def peer_mids(self, overlay: str = "interop") -> set[bytes]:
        """The mids of the verified peers the reference peer last reported for ``overlay``."""
        return {bytes.fromhex(peer["mid"]) for peer in self.peers.get(overlay, [])}

    def _with_timeout(self, deferred: Deferred, timeout: float, what: str, cleanup: Callable[[], None]) -> Deferred:
        def expire() -> None:
            cleanup()
            if not deferred.called:
                deferred.errback(RefPeerError(f"{self.name}: {what} not seen within {timeout} s{self.stderr_tail()}"))

        timer = reactor.callLater(timeout, expire)

        def cancel_timer(result: Any) -> Any:  # noqa: ANN401
            if timer.active():
                timer.cancel()
            return result
        return deferred.addBoth(cancel_timer)

    def wait_for(self, predicate: Callable[[RefPeer], bool], timeout: float, what: str) -> Deferred:
        """A Deferred firing with this peer once ``predicate(peer)`` holds after some event (or right away)."""
        if predicate(self):
            return succeed(self)
        if self.finished:
            raise RefPeerError(f"{self.name} already exited; {what} can no longer happen{self.stderr_tail()}")
        waiter: Deferred = Deferred()
        entry = (predicate, waiter)
        self._waiters.append(entry)
        return self._with_timeout(waiter, timeout, what,
                                  lambda: entry in self._waiters and self._waiters.remove(entry))

    def command(self, cmd: str, timeout: float = 5.0, **fields: Any) -> Deferred:  # noqa: ANN401
        """Send a command; the Deferred fires with its result (or fails with :class:`RefPeerError`)."""
        if self.finished or self.transport is None:
            raise RefPeerError(f"{self.name} is not running{self.stderr_tail()}")
        self._next_id += 1
        number = self._next_id
        reply: Deferred = Deferred()
        self._replies[number] = reply
        self.transport.write(json.dumps({"id": number, "cmd": cmd, **fields}).encode() + b"\n")
        return self._with_timeout(reply, timeout, f"the reply to {cmd!r}", lambda: self._replies.pop(number, None))

    def stop(self, grace: float = STOP_GRACE) -> Deferred:
        """Close its stdin (it exits cleanly), kill it after ``grace`` seconds; fires once it is gone."""
        if self.finished or self.transport is None:
            return succeed(self.exit_code)
        try:
            self.transport.closeStdin()
        except Exception:  # noqa: BLE001, S110 - the pipe may already be gone; the kill below still works
            pass

        def kill() -> None:
            try:
                self.transport.signalProcess(signal.SIGKILL)
            except ProcessExitedAlready:
                pass

        killer = reactor.callLater(grace, kill)
        done: Deferred = Deferred()

        def finished(code: Any) -> Any:  # noqa: ANN401
            if killer.active():
                killer.cancel()
            done.callback(code)
            return code
        self.ended.addBoth(finished)
        return done


def spawn_ref_peer(name: str, config: dict[str, Any]) -> tuple[RefPeer, Deferred]:
    """Start a reference peer; returns it and a Deferred that fires once it reported ``ready``."""
    found = reference_interpreter()
    if not found.available:
        raise unittest.SkipTest(found.reason)
    peer = RefPeer(name)
    settings = {"deadline": PEER_DEADLINE, **config}
    python = str(found.python)
    reactor.spawnProcess(peer, python, [python, "-u", str(DRIVER), json.dumps(settings)],
                         env=reference_env(), path=str(DRIVER.parent))
    return peer, peer.wait_for(lambda p: p.ready is not None, 15.0, "the ready event")


class TxNode:
    """A txipv8 node on its own UDP socket on 127.0.0.1: one key, one network, one or more communities."""

    def __init__(self, endpoint: UDPEndpoint) -> None:
        self.endpoint = endpoint
        self.key = default_eccrypto.generate_key("curve25519")
        self.my_peer = Peer(self.key, UDPv4Address(*endpoint.get_address()))
        self.network = Network()
        self.log = PacketLog()
        self.communities: list[Community] = []
        endpoint.add_listener(self.log)

    @property
    def address(self) -> UDPv4Address:
        return UDPv4Address(*self.endpoint.get_address())

    def add(self, community_class: type[Community], **settings: Any) -> Any:  # noqa: ANN401
        """Create and register a community of ``community_class`` on this node."""
        settings_class = community_class.settings_class
        community = community_class(settings_class(my_peer=self.my_peer, endpoint=self.endpoint,
                                                   network=self.network, **settings))
        self.communities.append(community)
        return community

    async def close(self) -> None:
        for community in self.communities:
            await community.unload()
        await self.endpoint.close()


class InteropTestCase(unittest.TestCase):
    """Base class: skips without the reference interpreter and cleans up every process and socket."""

    timeout = 20  # seconds per scenario, cleanup included

    def setUp(self) -> None:
        found = reference_interpreter()
        if not found.available:
            raise unittest.SkipTest(found.reason)

    async def start_ref_peer(self, name: str, **config: Any) -> RefPeer:  # noqa: ANN401
        """Start a reference peer (stopped again when the test ends, pass or fail) and wait until it is ready."""
        peer, ready = spawn_ref_peer(name, config)
        self.addCleanup(self.check_exit, peer)  # cleanups run last-in first-out: this runs after the stop
        self.addCleanup(peer.stop)
        await ready
        return peer

    def check_exit(self, peer: RefPeer) -> None:
        """After the stop: the peer must have exited by itself, and its loopback guard must have refused nothing."""
        if peer.exit_event is None:
            self.fail(f"{peer.name} did not exit cleanly (exit code {peer.exit_code}, signal {peer.exit_signal})"
                      f"{peer.stderr_tail()}")
        refusals = peer.exit_event["refusals"]
        self.assertEqual(0, refusals["total"], f"{peer.name} tried to leave 127.0.0.1: {refusals}")

    async def start_tx_node(self) -> TxNode:
        """Open a txipv8 endpoint on 127.0.0.1 (closed again when the test ends)."""
        endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
        self.assertTrue(await endpoint.open())
        node = TxNode(endpoint)
        self.addCleanup(lambda: Deferred.fromCoroutine(node.close()))
        return node

    async def wait_until(self, condition: Callable[[], bool], timeout: float, what: str,
                         describe: Callable[[], str] = lambda: "") -> None:
        """Spin the real reactor until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds."""
        try:
            await shared_wait_until(condition, timeout, 0.01, what=what, describe=describe)
        except WaitTimeoutError as timed_out:
            self.fail(str(timed_out))

    async def report_when(self, peer: RefPeer, condition: Callable[[dict[str, Any]], bool],
                          timeout: float = 5.0) -> dict[str, Any]:
        """Poll ``peer``'s report until ``condition(report)`` holds; returns that report."""
        end = reactor.seconds() + timeout
        while True:
            report = await peer.command("report")
            if condition(report):
                return report
            if reactor.seconds() > end:
                self.fail(f"{peer.name}'s report did not reach the expected state within {timeout} s: {report}")
            await deferLater(reactor, 0.05, lambda: None)

    async def finish(self, *peers: RefPeer) -> dict[str, dict[str, Any]]:
        """Fetch each peer's final report and check that its loopback guard refused nothing."""
        reports = {}
        for peer in peers:
            report = await peer.command("report")
            refusals = report["refusals"]
            self.assertEqual(0, refusals["total"], f"{peer.name} tried to leave 127.0.0.1: {refusals}")
            reports[peer.name] = report
        return reports


__all__ = ["CHAT_ID", "Chat", "INTEROP_COMMUNITY_ID", "InteropCommunity", "InteropTestCase", "PacketLog",
           "RefPeer", "RefPeerError", "TxNode", "make_chat", "spawn_ref_peer"]
