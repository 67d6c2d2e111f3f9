#!/usr/bin/env python3
"""
One txipv8 node of the NAT lab, meant to run inside a network namespace behind a NAT router.

    ip netns exec HOSTNS .venv/bin/python tests/netlab/node.py --name A --tracker 10.99.0.10:6421

The node is a real :class:`ipv8.service.IPv8` instance on a real UDP socket (``0.0.0.0``, any port) that loads one
small community, :class:`LabCommunity`. The community bootstraps from the given tracker through a
``DispersyBootstrapper`` (IP literal only, so no DNS), finds peers with ``RandomWalk`` and watches them with
``RandomChurn``. Every discovered peer gets ``--auto-send`` signed :class:`LabMessage` packets sent straight to
its address.

What the node sees is written to stdout as JSON lines, one event per line, each with ``event``, ``node`` (the
name) and ``t`` (wall-clock seconds; all namespaces share the clock, so the test can compare times across nodes):

``ready``           the socket is bound (``lan``: the address the node believes it has on its LAN, ``mid``).
``public_address``  what the last introduction response said our address is (as the NAT translated it).
``walkable``        an address was introduced to us and is waiting to be walked to (``address``).
``peer``            a peer became verified (``mid``, ``address`` = where its packets come from).
``peer_address``    a verified peer's address changed.
``peer_lost``       a verified peer was removed (by the walker or the churn strategy).
``rx``              a discovery packet arrived (``kind``, ``source`` = the sending IP:port as seen here).
``message``         a LabMessage arrived (``from_mid``, ``source``, ``sender``, ``seq``, ``sent_at``).
``sent``            LabMessages were sent (``to_mid``, ``address``, ``count``).
``peers``           answer to the ``peers`` command: the current verified peers.
``stopped``         the node is shutting down (``drop_counts`` of the community).

Commands arrive on stdin, one per line: ``send N`` (N messages to every verified peer), ``peers`` and ``quit``.
End of stdin also stops the node, so it never outlives the test that started it; ``--lifetime`` is a last resort.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Any

from twisted.internet import reactor, stdio
from twisted.internet.task import LoopingCall
from twisted.protocols.basic import LineOnlyReceiver

from ipv8.community import Community, CommunitySettings
from ipv8.lazy_community import lazy_wrapper
from ipv8.messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload,
                                    NewIntroductionRequestPayload, NewIntroductionResponsePayload,
                                    NewPuncturePayload, NewPunctureRequestPayload, PuncturePayload,
                                    PunctureRequestPayload)
from ipv8.messaging.payload_dataclass import dataclass
from ipv8.peer import Peer
from ipv8.peerdiscovery.churn import RandomChurn
from ipv8.peerdiscovery.discovery import RandomWalk
from ipv8.service import IPv8

#: 20 bytes shared by every lab node (and by the pyipv8 reference driver).
LAB_COMMUNITY_ID = hashlib.sha1(b"txipv8 NAT lab").digest()

#: Discovery messages worth tracing, by message id.
TRACED_KINDS = {
    IntroductionRequestPayload.msg_id: "intro-request",
    NewIntroductionRequestPayload.msg_id: "intro-request",
    IntroductionResponsePayload.msg_id: "intro-response",
    NewIntroductionResponsePayload.msg_id: "intro-response",
    PunctureRequestPayload.msg_id: "puncture-request",
    NewPunctureRequestPayload.msg_id: "puncture-request",
    PuncturePayload.msg_id: "puncture",
    NewPuncturePayload.msg_id: "puncture",
}


def emit(event: str, **fields: Any) -> None:  # noqa: ANN401
    """Write one event line to stdout, right away."""
    record = {"event": event, "node": NODE_NAME, "t": time.time(), **fields}
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def address_text(address: Any) -> str:  # noqa: ANN401
    """``ip:port``: how events spell an address."""
    return f"{address[0]}:{address[1]}"


NODE_NAME = "?"


@dataclass(msg_id=1)
class LabMessage:
    """The signed application message the nodes send each other directly."""

    sender: str
    seq: int
    sent_at: float


class LabCommunity(Community):
    """A minimal community: discovery plus one signed message, with every arrival reported."""

    community_id = LAB_COMMUNITY_ID

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.add_message_handler(LabMessage, self.on_lab_packet)
        self._packet_source: Any = None

    def get_available_strategies(self) -> dict[str, type]:
        """Let the configuration name the churn strategy next to the standard walkers."""
        return {"RandomWalk": RandomWalk, "RandomChurn": RandomChurn}

    def on_packet(self, packet: tuple[Any, bytes], warn_unknown: bool = True) -> None:
        """Trace discovery packets (who sent what, as the NAT lets it through), then handle as usual."""
        source, data = packet
        if len(data) > 22 and data[:22] == self.get_prefix() and data[22] in TRACED_KINDS:
            emit("rx", kind=TRACED_KINDS[data[22]], source=address_text(source))
        super().on_packet(packet, warn_unknown)

    def on_lab_packet(self, source_address: Any, data: bytes) -> None:  # noqa: ANN401
        """Remember the UDP source of this packet; the decoded message is reported with it."""
        self._packet_source = source_address
        self.on_lab_message(source_address, data)

    @lazy_wrapper(LabMessage)
    def on_lab_message(self, peer: Peer, payload: LabMessage) -> None:
        """A signed LabMessage passed its signature check."""
        emit("message", from_mid=peer.mid.hex(), source=address_text(self._packet_source), sender=payload.sender,
             seq=payload.seq, sent_at=payload.sent_at)

    def send_messages(self, peer: Peer, count: int) -> None:
        """Send ``count`` signed LabMessages straight to ``peer``'s address."""
        for seq in range(count):
            self.ez_send(peer, LabMessage(NODE_NAME, seq, time.time()))
        emit("sent", to_mid=peer.mid.hex(), address=address_text(peer.address), count=count)


class Observer:
    """Polls the community and reports changes: peers, walkable addresses, our public address."""

    def __init__(self, community: LabCommunity, auto_send: int) -> None:
        self.community = community
        self.auto_send = auto_send
        self.peers: dict[str, str] = {}
        self.walkable: set[str] = set()
        self.public: str | None = None

    def poll(self) -> None:
        """Compare the community's state with the last poll and emit what changed."""
        community = self.community
        public = address_text(community.my_peer.address)
        if public != self.public and not public.startswith("0.0.0.0"):
            self.public = public
            emit("public_address", address=public, estimated_wan=address_text(community.my_estimated_wan))
        walkable = {address_text(address) for address in community.get_walkable_addresses()}
        for address in sorted(walkable - self.walkable):
            emit("walkable", address=address)
        self.walkable = walkable
        current = {peer.mid.hex(): peer for peer in community.get_peers()}
        for mid, peer in current.items():
            address = address_text(peer.address)
            if mid not in self.peers:
                emit("peer", mid=mid, address=address)
                if self.auto_send:
                    community.send_messages(peer, self.auto_send)
            elif self.peers[mid] != address:
                emit("peer_address", mid=mid, address=address, previous=self.peers[mid])
        for mid in set(self.peers) - set(current):
            emit("peer_lost", mid=mid, address=self.peers[mid])
        self.peers = {mid: address_text(peer.address) for mid, peer in current.items()}


class Commands(LineOnlyReceiver):
    """The stdin control channel."""

    delimiter = b"\n"

    def __init__(self, node: LabNode) -> None:
        self.node = node

    def lineReceived(self, line: bytes) -> None:  # noqa: N802 - Twisted's name
        """Run one command."""
        words = line.decode(errors="replace").split()
        if not words:
            return
        if words[0] == "send":
            count = int(words[1]) if len(words) > 1 else 1
            for peer in self.node.community.get_peers():
                self.node.community.send_messages(peer, count)
        elif words[0] == "peers":
            emit("peers", peers=[{"mid": peer.mid.hex(), "address": address_text(peer.address)}
                                 for peer in self.node.community.get_peers()])
        elif words[0] == "quit":
            self.node.shutdown("quit command")

    def connectionLost(self, reason: Any = None) -> None:  # noqa: ANN401, N802 - Twisted's name
        """Whoever started us is gone: stop."""
        self.node.shutdown("stdin closed")


class LabNode:
    """Builds the IPv8 configuration from the command line and runs it until told to stop."""

    def __init__(self, args: argparse.Namespace) -> None:
        tracker_ip, tracker_port = args.tracker.rsplit(":", 1)
        walkers = [{"strategy": "RandomWalk", "peers": args.walk_target, "init": {"timeout": 3.0}},
                   {"strategy": "RandomChurn", "peers": -1,
                    "init": {"sample_size": 8, "ping_interval": args.churn_ping_interval,
                             "inactive_time": args.churn_inactive, "drop_time": args.churn_drop}}]
        configuration = {
            "interfaces": [{"interface": "UDPIPv4", "ip": "0.0.0.0", "port": args.port}],
            "keys": [{"alias": "lab", "generation": "curve25519"}],
            "logger": {"level": "WARNING"},
            "working_directory": ".",
            "walker_interval": args.walk_interval,
            "overlays": [{
                "class": "LabCommunity", "key": "lab", "walkers": walkers,
                "bootstrappers": [{"class": "DispersyBootstrapper", "init": {
                    "ip_addresses": [[tracker_ip, int(tracker_port)]], "dns_addresses": [],
                    "bootstrap_timeout": args.bootstrap_timeout}}],
                "initialize": {}, "on_start": [],
            }],
        }
        self.ipv8 = IPv8(configuration, extra_communities={"LabCommunity": LabCommunity})
        self.community: LabCommunity = self.ipv8.get_overlay(LabCommunity)
        self.observer = Observer(self.community, args.auto_send)
        self.poller = LoopingCall(self.observer.poll)
        self.stopping = False

    def start(self) -> None:
        """Open the socket, start walking and start reporting."""
        self.ipv8.start().addCallbacks(self._started, self._failed)

    def _started(self, _: object) -> None:
        emit("ready", lan=address_text(self.community.my_estimated_lan), mid=self.community.my_peer.mid.hex(),
             port=self.ipv8.endpoint.get_address()[1])
        self.poller.start(0.05)
        # The first walk happens one walker interval from now; start with the tracker right away.
        self.community.bootstrap()

    def _failed(self, failure: Any) -> None:  # noqa: ANN401
        emit("error", error=failure.getErrorMessage())
        self.shutdown("start failed")

    def shutdown(self, why: str) -> None:
        """Report, stop IPv8 and stop the reactor (once)."""
        if self.stopping:
            return
        self.stopping = True
        if self.poller.running:
            self.poller.stop()
        emit("stopped", why=why, drop_counts=dict(self.community.drop_counts))
        self.ipv8.stop().addBoth(lambda _: reactor.stop())


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the node's name in events and messages")
    parser.add_argument("--tracker", required=True, help="tracker IP:port (an IP literal)")
    parser.add_argument("--port", type=int, default=0, help="UDP port to bind (0: any)")
    parser.add_argument("--auto-send", type=int, default=0, help="messages to send to every new peer")
    parser.add_argument("--walk-interval", type=float, default=0.5, help="IPv8 walker_interval")
    parser.add_argument("--walk-target", type=int, default=20, help="RandomWalk stops at this many peers")
    parser.add_argument("--bootstrap-timeout", type=float, default=1.0,
                        help="minimum seconds between two walks to the tracker while we know nobody")
    parser.add_argument("--churn-ping-interval", type=float, default=10.0)
    parser.add_argument("--churn-inactive", type=float, default=27.5)
    parser.add_argument("--churn-drop", type=float, default=57.5)
    parser.add_argument("--lifetime", type=float, default=120.0, help="exit after this many seconds regardless")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    """Run a node until stdin closes, ``quit`` arrives, a signal stops it or its lifetime ends."""
    global NODE_NAME  # noqa: PLW0603 - one node per process
    args = parse_arguments(argv)
    NODE_NAME = args.name
    node = LabNode(args)
    # Commands come from stdin; stdout belongs to the event lines, so keep Twisted's writer off it.
    stdio.StandardIO(Commands(node), stdout=os.open(os.devnull, os.O_WRONLY))
    reactor.callWhenRunning(node.start)
    reactor.callLater(args.lifetime, node.shutdown, "lifetime over")
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
