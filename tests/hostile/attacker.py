"""A small attack toolkit: forge well-formed, validly signed IPv8 packets and watch what a node does with them.

Everything runs on the in-memory network of :mod:`ipv8.test.mocking.endpoint`, driven by a
:class:`twisted.internet.task.Clock`, so floods take no wall-clock waiting and never touch a socket.

* :class:`Harness` builds nodes (endpoint, :class:`Network` on the harness clock, overlay) on a
  :class:`QuietInternet`, which silently drops packets to addresses no node owns: the forged peers do not
  exist, so whatever the node under attack sends them just disappears (and is counted).
* :class:`SendLog` wraps a node's ``endpoint.send`` and records what the node sends: per message id always,
  the packets themselves only while ``keep`` is true (a flood would otherwise fill memory with the log),
  and every send to a forbidden destination.
* The ``forge_*`` functions build packets exactly as a peer would, signed by any key; :func:`establish`
  gives a forged peer a completed introduction handshake with the node (the node walked to it, it answered).

Attacker addresses come from 198.18.128.0/17 with ports from 30000 on, part of the benchmarking block the
mock internet uses (198.18.0.0/15) but never one it hands out to nodes.
"""
from __future__ import annotations

import collections
import gc
import random
import struct
import sys
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass as std_dataclass
from dataclasses import field
from typing import Any, Callable, Iterable, Iterator

from twisted.internet.task import Clock

from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import lazy_wrapper, split_signed_packet
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload,
                                    NewIntroductionRequestPayload, NewIntroductionResponsePayload)
from ipv8.messaging.payload_dataclass import dataclass
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from ipv8.messaging.serialization import default_serializer
from ipv8.peer import Peer
from ipv8.peerdiscovery.community import DiscoveryCommunity
from ipv8.peerdiscovery.network import Network
from ipv8.peerdiscovery.payload import SimilarityRequestPayload
from ipv8.test.mocking.endpoint import AutoMockEndpoint, Internet

NO_ADDRESS = UDPv4Address("0.0.0.0", 0)
DISCOVERY_PREFIX = b"\x00\x02" + DiscoveryCommunity.community_id

INTRODUCTION_REQUEST_IDS = (IntroductionRequestPayload.msg_id, NewIntroductionRequestPayload.msg_id)
INTRODUCTION_RESPONSE_IDS = (IntroductionResponsePayload.msg_id, NewIntroductionResponsePayload.msg_id)
PUNCTURE_REQUEST_IDS = (250, 232)
PUNCTURE_IDS = (249, 231)

#: Drop reasons that mean "the packet itself was broken": a forged packet must never land there, or the test
#: would be testing the decoder instead of the defence.
DECODE_FAILURES = ("too-short", "wrong-prefix", "unknown-message", "malformed", "bad-signature", "handler-error")

MB = 1024 * 1024


# --- addresses and keys ---------------------------------------------------------------------------------------

def attacker_address(index: int) -> UDPv4Address:
    """The ``index``-th attacker address: distinct for every index below 960 million."""
    high, low = divmod(index, 250)
    return UDPv4Address(f"198.18.{128 + high % 128}.{low + 1}", 30000 + (high // 128) % 30000)


def random_attacker_address(rng: random.Random) -> UDPv4Address:
    """A random address in the attacker range (collisions are possible but rare)."""
    return UDPv4Address(f"198.18.{rng.randrange(128, 256)}.{rng.randrange(1, 251)}", rng.randrange(30000, 60000))


def plain(address: Any) -> tuple[str, int]:
    """``address`` as a plain ``(host, port)`` pair, so UDPv4Address and UDPv4LANAddress compare alike."""
    return str(address[0]), int(address[1])


_KEYS: list[tuple[Any, bytes]] = []


def keys(count: int) -> list[tuple[Any, bytes]]:
    """``count`` curve25519 keys with their public key bytes, generated once per test session and shared."""
    while len(_KEYS) < count:
        key = default_eccrypto.generate_key("curve25519")
        _KEYS.append((key, key.pub().key_to_bin()))
    return _KEYS[:count]


def fresh_key() -> tuple[Any, bytes]:
    """A key nobody else in the session uses."""
    key = default_eccrypto.generate_key("curve25519")
    return key, key.pub().key_to_bin()


# --- forging packets --------------------------------------------------------------------------------------------

def forge_signed(prefix: bytes, key: Any, key_bin: bytes, *payloads: Any) -> bytes:
    """A signed message: prefix, the last payload's id, our key, the payloads, the signature."""
    packet = (prefix + bytes((payloads[-1].msg_id,))
              + default_serializer.pack_serializable_list([BinMemberAuthenticationPayload(key_bin), *payloads]))
    return packet + key.signature(packet)


def forge_introduction_request(prefix: bytes, key: Any, key_bin: bytes, destination: tuple,
                               source: tuple, identifier: int, *, source_lan: tuple | None = None,
                               global_time: int | None = None) -> bytes:
    """An old-style introduction request from ``source`` (its LAN address ``source_lan``, default ``source``)."""
    payload = IntroductionRequestPayload(UDPv4Address(*destination), UDPv4Address(*(source_lan or source)),
                                         UDPv4Address(*source), True, "unknown", identifier, b"",
                                         supports_new_style=False)
    return forge_signed(prefix, key, key_bin, GlobalTimeDistributionPayload(global_time or identifier), payload)


def forge_introduction_response(prefix: bytes, key: Any, key_bin: bytes, destination: tuple,
                                source: tuple, identifier: int, intro_lan: tuple = NO_ADDRESS,
                                intro_wan: tuple = NO_ADDRESS, *, global_time: int | None = None) -> bytes:
    """An old-style introduction response: "I see you at ``destination``; meet ``intro_lan``/``intro_wan``"."""
    payload = IntroductionResponsePayload(UDPv4Address(*destination), UDPv4Address(*source), UDPv4Address(*source),
                                          UDPv4Address(*intro_lan), UDPv4Address(*intro_wan), "unknown", identifier,
                                          b"", supports_new_style=False, intro_supports_new_style=False)
    return forge_signed(prefix, key, key_bin, GlobalTimeDistributionPayload(global_time or identifier), payload)


_PUNCTURE_REQUEST = struct.Struct(">BQ4sH4sHH")


def forge_puncture_request(prefix: bytes, lan_walker: tuple, wan_walker: tuple, identifier: int,
                           global_time: int) -> bytes:
    """An old-style (unsigned, 45-byte) puncture request: "puncture towards this walker"."""
    return prefix + _PUNCTURE_REQUEST.pack(250, global_time, _ip(lan_walker[0]), lan_walker[1],
                                           _ip(wan_walker[0]), wan_walker[1], identifier % 65536)


def _ip(host: str) -> bytes:
    return bytes(int(part) for part in host.split("."))


def forge_similarity_request(key: Any, key_bin: bytes, community_ids: list[bytes], identifier: int,
                             source: tuple, global_time: int | None = None) -> bytes:
    """A DiscoveryCommunity similarity request: "I (this key) run these communities"."""
    payload = SimilarityRequestPayload(identifier % 65536, UDPv4Address(*source), UDPv4Address(*source), "unknown",
                                       community_ids)
    return forge_signed(DISCOVERY_PREFIX, key, key_bin, GlobalTimeDistributionPayload(global_time or identifier),
                        payload)


def decode_introduction(packet: bytes) -> Any:
    """The payload of a signed introduction request or response the node sent (old or new style)."""
    classes = {cls.msg_id: cls for cls in (IntroductionRequestPayload, IntroductionResponsePayload,
                                           NewIntroductionRequestPayload, NewIntroductionResponsePayload)}
    _, body_start, signed_part = split_signed_packet(packet)
    return default_serializer.unpack_serializable_list([GlobalTimeDistributionPayload, classes[packet[22]]],
                                                       signed_part, offset=body_start)[1]


# --- a community with one signed, globally timed application message --------------------------------------------

@dataclass(msg_id=1)
class Note:
    """A signed application message."""

    text: str


class NoteCommunity(Community):
    """A plain Community with one signed message that carries a global time (``Note``)."""

    community_id = bytes.fromhex("686f7374696c652d70656572732d746573742d31")

    def __init__(self, settings: CommunitySettings) -> None:
        """Register the Note handler."""
        super().__init__(settings)
        #: (sender mid, text) of every Note that reached the handler.
        self.notes: list[tuple[bytes, str]] = []
        self.add_message_handler(Note, self.on_note)

    @lazy_wrapper(GlobalTimeDistributionPayload, Note)
    def on_note(self, peer: Peer, dist: GlobalTimeDistributionPayload, payload: Note) -> None:
        """Record the note."""
        self.notes.append((peer.mid, payload.text))

    def note_packet(self, text: str) -> bytes:
        """A signed Note with a fresh global time."""
        return self.ezr_pack(Note.msg_id, GlobalTimeDistributionPayload(self.claim_global_time()), Note(text))


# --- the in-memory network -----------------------------------------------------------------------------------------

class QuietInternet(Internet):
    """The mock internet, except that packets to addresses nobody owns are counted and dropped, not an error."""

    def __init__(self, clock: Clock) -> None:
        """Deliver on ``clock``."""
        super().__init__(clock)
        self.undeliverable = 0

    def transmit(self, source: Any, destination: Any, data: bytes) -> None:
        """Deliver to an owned address; drop (and count) anything else."""
        if destination not in self.endpoints:
            self.undeliverable += 1
            return
        super().transmit(source, destination, data)


class SendLog:
    """Records what a node sends (see the module documentation); the packets still go out afterwards."""

    def __init__(self, endpoint: Any, keep: bool = True) -> None:
        """Wrap ``endpoint.send``."""
        self.keep = keep
        self.records: list[tuple[tuple[str, int], bytes]] = []
        self.by_msg_id: collections.Counter[int] = collections.Counter()
        self.forbidden: set[tuple[str, int]] = set()
        self.forbidden_hits: list[tuple[tuple[str, int], int]] = []
        self._send = endpoint.send
        endpoint.send = self.send

    def send(self, address: Any, packet: bytes) -> None:
        """The replacement of ``endpoint.send``."""
        msg_id = packet[22] if len(packet) > 22 else -1
        self.by_msg_id[msg_id] += 1
        destination = plain(address)
        if destination in self.forbidden:
            self.forbidden_hits.append((destination, msg_id))
        if self.keep:
            self.records.append((destination, packet))
        self._send(address, packet)

    def count(self, msg_ids: Iterable[int]) -> int:
        """How many packets with one of ``msg_ids`` were sent (also while not keeping packets)."""
        return sum(self.by_msg_id[msg_id] for msg_id in msg_ids)

    def sent_to(self, address: tuple, msg_ids: Iterable[int] | None = None) -> list[bytes]:
        """The kept packets sent to ``address`` (optionally only those with one of ``msg_ids``)."""
        wanted = plain(address)
        ids = None if msg_ids is None else set(msg_ids)
        return [packet for destination, packet in self.records
                if destination == wanted and (ids is None or packet[22] in ids)]

    def last_request_identifier(self, address: tuple) -> int:
        """The identifier of the last introduction request sent to ``address``."""
        requests = self.sent_to(address, INTRODUCTION_REQUEST_IDS)
        assert requests, f"the node sent no introduction request to {address}"
        return decode_introduction(requests[-1]).identifier


@std_dataclass
class Node:
    """One node on the harness network."""

    endpoint: AutoMockEndpoint
    network: Network
    overlay: Any
    log: SendLog
    key_bin: bytes = field(default=b"")

    @property
    def address(self) -> UDPv4Address:
        """The node's WAN address."""
        return self.endpoint.wan_address

    @property
    def lan_address(self) -> UDPv4Address:
        """The node's LAN address."""
        return self.endpoint.lan_address

    @property
    def prefix(self) -> bytes:
        """The prefix of the node's overlay."""
        return self.overlay.get_prefix()

    def knows(self, key_bin: bytes) -> Peer | None:
        """The verified peer with this key, if any."""
        return self.network.get_verified_by_public_key_bin(key_bin)

    def receive(self, source: tuple, packet: bytes) -> None:
        """Hand a (forged) packet to the overlay, as the endpoint would."""
        self.overlay.on_packet((UDPv4Address(*source), packet))

    def decode_failures(self) -> dict[str, int]:
        """Packets dropped as broken, per reason (should stay empty: forged packets are well-formed)."""
        return {reason: self.overlay.drop_counts[reason] for reason in DECODE_FAILURES
                if self.overlay.drop_counts[reason]}


def make_network(clock: Clock) -> Network:
    """A Network on ``clock``; before the ``clock`` parameter exists (the contract test says so) a plain one."""
    try:
        return Network(clock=clock)  # type: ignore[call-arg]
    except TypeError:
        return Network()


class Harness:
    """A clock, a quiet in-memory internet and the nodes on it."""

    def __init__(self) -> None:
        """Start at time 0 with no nodes."""
        self.clock = Clock()
        self.internet = QuietInternet(self.clock)
        self.nodes: list[Node] = []

    def node(self, community_class: type = NoteCommunity, **settings: Any) -> Node:
        """A node running ``community_class`` (settings such as ``max_peers`` are passed on)."""
        endpoint = AutoMockEndpoint(self.internet)
        endpoint.open()
        log = SendLog(endpoint)
        network = make_network(self.clock)
        key = default_eccrypto.generate_key("curve25519")
        overlay = community_class(community_class.settings_class(
            my_peer=Peer(key, endpoint.wan_address), endpoint=endpoint, network=network, clock=self.clock,
            **settings))
        overlay.my_estimated_wan = endpoint.wan_address
        overlay.my_estimated_lan = endpoint.lan_address
        node = Node(endpoint, network, overlay, log, key.pub().key_to_bin())
        self.nodes.append(node)
        return node

    def pump(self, rounds: int = 1000) -> None:
        """Deliver packets in flight until the network is quiet (without moving the clock forward)."""
        for _ in range(rounds):
            if not self.internet.in_flight:
                return
            self.clock.advance(0)
        raise AssertionError(f"the network was still busy after {rounds} rounds")

    def advance(self, seconds: float) -> None:
        """Move the clock forward and deliver what that sets off."""
        self.clock.advance(seconds)
        self.pump()

    def close(self) -> None:
        """Unload every overlay and run what their shutdown scheduled."""
        for node in self.nodes:
            node.overlay.unload()
        self.clock.advance(0)


@contextmanager
def harness() -> Iterator[Harness]:
    """A :class:`Harness` that is closed afterwards."""
    built = Harness()
    try:
        yield built
    finally:
        built.close()


# --- protocol moves -------------------------------------------------------------------------------------------------

def establish(target: Node, key: Any, key_bin: bytes, address: tuple,
              intro_lan: tuple = NO_ADDRESS, intro_wan: tuple = NO_ADDRESS, claim: tuple | None = None) -> None:
    """The target walks to ``address`` and the forged peer ``key`` answers from there (a solicited response).

    The response says the target is at ``claim`` (default: its real address) and introduces the given addresses.
    Call it again for the same peer to answer another request of the target.
    """
    target.overlay.walk_to(UDPv4Address(*address))
    identifier = target.log.last_request_identifier(address)
    target.receive(address, forge_introduction_response(target.prefix, key, key_bin, claim or target.address,
                                                        address, identifier, intro_lan, intro_wan))


def connect(harness_: Harness, first: Node, second: Node) -> None:
    """Both nodes walk to each other with real messages: each becomes an established peer of the other."""
    first.overlay.walk_to(second.address)
    harness_.pump()
    second.overlay.walk_to(first.address)
    harness_.pump()
    assert first.knows(second.key_bin) is not None and second.knows(first.key_bin) is not None


def assert_still_works(harness_: Harness, target: Node) -> None:
    """Finding 5: a legitimate newcomer still finds the target and exchanges a signed message with it."""
    newcomer = harness_.node(type(target.overlay))
    newcomer.overlay.walk_to(target.address)
    harness_.pump()
    assert target.knows(newcomer.key_bin) is not None, "the target did not accept a legitimate newcomer"
    seen_target = newcomer.knows(target.key_bin)
    assert seen_target is not None, "the legitimate newcomer got no introduction response"
    if isinstance(target.overlay, NoteCommunity):
        newcomer.endpoint.send(target.address, newcomer.overlay.note_packet("still here?"))
        harness_.pump()
        assert (newcomer.overlay.my_peer.mid, "still here?") in target.overlay.notes
    else:
        harness_.pump()  # the introduction response triggered a similarity request and its answer
        community_id = target.overlay.community_id
        assert community_id in target.network.get_services_for_peer(Peer(newcomer.key_bin))
        assert community_id in newcomer.network.get_services_for_peer(Peer(target.key_bin))


# --- measuring --------------------------------------------------------------------------------------------------------

@contextmanager
def traced_growth() -> Iterator[dict[str, int]]:
    """Measure the memory allocated inside the block that is still alive after it (after a full collection).

    Yields a dict that holds ``"growth"`` (bytes) once the block is done.
    """
    result: dict[str, int] = {}
    gc.collect()
    tracemalloc.start()
    try:
        yield result
        gc.collect()
        result["growth"] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


@contextmanager
def live_block_growth() -> Iterator[dict[str, int]]:
    """Count the memory blocks allocated inside the block that are still alive after it (after a full collection).

    ``sys.getallocatedblocks`` costs nothing while the block runs, unlike tracemalloc, which makes the node four
    times slower. It counts objects, not bytes: use it to show that a long steady-state stretch of a flood keeps
    (almost) nothing, after tracemalloc measured the bytes of the stretch in which the caps fill up. Bounded
    caches that are cleared when full (such as the serializer's IPv4 memo, 4096 entries) make it move by a few
    thousand blocks either way. Yields a dict that holds ``"blocks"`` once the block is done.
    """
    result: dict[str, int] = {}
    gc.collect()
    before = sys.getallocatedblocks()
    yield result
    gc.collect()
    result["blocks"] = sys.getallocatedblocks() - before


def cpu_seconds(step: Callable[[], Any], count: int, between: Callable[[], Any] | None = None) -> float:
    """Process time of ``count`` calls of ``step`` (``between`` runs after each call, outside the timing)."""
    total = 0.0
    for _ in range(count):
        start = time.process_time()
        step()
        total += time.process_time() - start
        if between is not None:
            between()
    return total


__all__ = ["DECODE_FAILURES", "DISCOVERY_PREFIX", "INTRODUCTION_REQUEST_IDS", "INTRODUCTION_RESPONSE_IDS", "MB",
           "NO_ADDRESS", "PUNCTURE_IDS", "PUNCTURE_REQUEST_IDS", "Harness", "Node", "Note", "NoteCommunity",
           "QuietInternet", "SendLog", "assert_still_works", "attacker_address", "connect", "cpu_seconds",
           "decode_introduction", "establish", "forge_introduction_request", "forge_introduction_response",
           "forge_puncture_request", "forge_signed", "forge_similarity_request", "fresh_key", "harness", "keys",
           "live_block_growth", "make_network", "plain", "random_attacker_address", "traced_growth"]
