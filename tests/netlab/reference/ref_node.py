#!/usr/bin/env python3
"""
A pyipv8 3.2.1 node for the NAT lab: run it ONLY with the reference interpreter (``.venv-ref/bin/python``).

    ip netns exec HOSTNS .venv-ref/bin/python tests/netlab/reference/ref_node.py --name B \\
        --tracker 10.99.0.10:6421 --lan-ip 10.99.2.2

It uses pyipv8 as a library, speaks the same events and commands as ``tests/netlab/node.py`` (the subset the
lab tests read: ``ready``, ``public_address``, ``walkable``, ``peer``, ``peer_lost``, ``rx``, ``message``,
``sent``, ``peers``, ``stopped``; commands ``send N``, ``peers``, ``quit``; end of stdin stops it) and loads the
same community: same 20-byte id, same signed message 1 (``sender: str, seq: int, sent_at: float``).

pyipv8's default overlays and public bootstrap servers are removed: the only overlay is the lab community, with
RandomWalk and a DispersyBootstrapper that knows just the lab tracker (an IP literal). pyipv8's LAN address
discovery is replaced by the ``--lan-ip`` given on the command line, so the node never runs its interface
probes (which include a host name lookup). No churn strategy: pyipv8's RandomChurn needs ``send_ping``, which
only its DiscoveryCommunity has.
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import pathlib
import sys
import time
from typing import Any

# The line-protocol plumbing (stdlib only) is shared with the interop drivers; see its module docstring.
sys.path.insert(1, str(pathlib.Path(__file__).resolve().parents[2] / "interop" / "reference"))

import command_loop  # noqa: E402

import ipv8  # noqa: E402

if "site-packages" not in pathlib.Path(ipv8.__file__).parts:
    sys.exit(f"ref_node.py needs pyipv8 from the reference venv, not {ipv8.__file__}")

import ipv8.messaging.interfaces.endpoint as pyipv8_endpoint  # noqa: E402
import ipv8.overlay as pyipv8_overlay  # noqa: E402
from ipv8.community import Community, CommunitySettings  # noqa: E402
from ipv8.configuration import Bootstrapper, BootstrapperDefinition, ConfigBuilder, Strategy, WalkerDefinition  # noqa: E402
from ipv8.lazy_community import lazy_wrapper  # noqa: E402
from ipv8.messaging.payload_dataclass import DataClassPayload  # noqa: E402
from ipv8_service import IPv8  # noqa: E402

LAB_COMMUNITY_ID = hashlib.sha1(b"txipv8 NAT lab").digest()
TRACED = {246: "intro-request", 234: "intro-request", 245: "intro-response", 233: "intro-response",
          250: "puncture-request", 232: "puncture-request", 249: "puncture", 231: "puncture"}
NAME = "?"


def emit(event: str, **fields: Any) -> None:  # noqa: ANN401
    """One JSON event line on stdout, naming this node and the wall-clock time the lab orders events by."""
    command_loop.emit(event, node=NAME, t=time.time(), **fields)


def text(address: Any) -> str:  # noqa: ANN401
    """``ip:port``."""
    return f"{address[0]}:{address[1]}"


@dataclasses.dataclass
class LabMessage(DataClassPayload[1]):
    """The lab's signed message (same layout as in node.py)."""

    sender: str
    seq: int
    sent_at: float


# pyipv8 3.2.1 completes a DataClassPayload class only when its first instance is made; until then incoming
# messages of that class fail to decode. Make one now, before any message can arrive.
LabMessage("", 0, 0.0)


class LabCommunity(Community):
    """The lab community on pyipv8."""

    community_id = LAB_COMMUNITY_ID

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.add_message_handler(LabMessage, self.on_lab_packet)
        self.packet_source: Any = None

    def on_packet(self, packet: tuple, warn_unknown: bool = True) -> None:
        """Trace discovery packets by source, then process them as pyipv8 does."""
        source, data = packet
        if len(data) > 22 and data[:22] == self.get_prefix() and data[22] in TRACED:
            emit("rx", kind=TRACED[data[22]], source=text(source))
        super().on_packet(packet, warn_unknown)

    def on_lab_packet(self, source_address: Any, data: bytes) -> None:  # noqa: ANN401
        """Keep the UDP source for the report."""
        self.packet_source = source_address
        self.on_lab_message(source_address, data)

    @lazy_wrapper(LabMessage)
    def on_lab_message(self, peer: Any, payload: LabMessage) -> None:  # noqa: ANN401
        """A correctly signed LabMessage."""
        emit("message", from_mid=peer.mid.hex(), source=text(self.packet_source), sender=payload.sender,
             seq=payload.seq, sent_at=payload.sent_at)

    def send_messages(self, peer: Any, count: int) -> None:  # noqa: ANN401
        """``count`` signed messages straight to ``peer``."""
        for seq in range(count):
            self.ez_send(peer, LabMessage(NAME, seq, time.time()))
        emit("sent", to_mid=peer.mid.hex(), address=text(peer.address), count=count)


class Observer:
    """Reports changes of the community's state (same events as node.py)."""

    def __init__(self, community: LabCommunity, auto_send: int) -> None:
        self.community = community
        self.auto_send = auto_send
        self.peers: dict[str, str] = {}
        self.walkable: set[str] = set()
        self.public: str | None = None

    def poll(self) -> None:
        """Emit what changed since the last call."""
        community = self.community
        public = text(community.my_peer.address)
        if public != self.public and not public.startswith("0.0.0.0"):
            self.public = public
            emit("public_address", address=public, estimated_wan=text(community.my_estimated_wan))
        walkable = {text(address) for address in community.get_walkable_addresses()}
        for address in sorted(walkable - self.walkable):
            emit("walkable", address=address)
        self.walkable = walkable
        current = {peer.mid.hex(): peer for peer in community.get_peers()}
        for mid, peer in current.items():
            if mid not in self.peers:
                emit("peer", mid=mid, address=text(peer.address))
                if self.auto_send:
                    community.send_messages(peer, self.auto_send)
        for mid in set(self.peers) - set(current):
            emit("peer_lost", mid=mid, address=self.peers[mid])
        self.peers = {mid: text(peer.address) for mid, peer in current.items()}


def configuration(args: argparse.Namespace) -> dict:
    """pyipv8 configuration: only the lab community, only the lab tracker."""
    tracker_ip, tracker_port = args.tracker.rsplit(":", 1)
    builder = ConfigBuilder().clear_keys().clear_overlays()
    builder.set_port(args.port)
    builder.set_log_level("WARNING")
    builder.set_walker_interval(0.5)
    builder.add_ephemeral_key("lab")
    builder.add_overlay("LabCommunity", "lab", [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})],
                        [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper, {
                            "ip_addresses": [(tracker_ip, int(tracker_port))], "dns_addresses": [],
                            "bootstrap_timeout": args.bootstrap_timeout})], {}, [])
    return builder.finalize()


async def run(args: argparse.Namespace) -> None:
    """Start pyipv8, report until stdin closes (or ``quit``, or the lifetime is over), stop."""
    node = IPv8(configuration(args), extra_communities={"LabCommunity": LabCommunity})
    await node.start()
    community = node.get_overlay(LabCommunity)
    emit("ready", lan=text(community.my_estimated_lan), mid=community.my_peer.mid.hex(),
         port=node.endpoint.get_address()[1], implementation="pyipv8 " + ipv8_version())
    community.bootstrap()
    observer = Observer(community, args.auto_send)
    shutdown = command_loop.Shutdown(args.lifetime)

    async def watch() -> None:
        while not shutdown.requested:
            observer.poll()
            await asyncio.sleep(0.05)

    async def commands() -> None:
        async for line in command_loop.stdin_lines():
            words = line.decode(errors="replace").split()
            if words and words[0] == "send":
                for peer in community.get_peers():
                    community.send_messages(peer, int(words[1]) if len(words) > 1 else 1)
            elif words and words[0] == "peers":
                emit("peers", peers=[{"mid": p.mid.hex(), "address": text(p.address)} for p in community.get_peers()])
            elif words and words[0] == "quit":
                break
        shutdown.request("done")

    tasks = [asyncio.ensure_future(watch()), asyncio.ensure_future(commands())]
    await shutdown.reason  # the end of stdin, ``quit``, or the end of the lifetime
    emit("stopped", why="done")
    for task in tasks:
        task.cancel()
    await node.stop()


def ipv8_version() -> str:
    """The installed pyipv8 version."""
    import importlib.metadata
    return importlib.metadata.version("pyipv8")


def main(argv: list[str]) -> None:
    """Parse the command line and run."""
    global NAME  # noqa: PLW0603
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--tracker", required=True)
    parser.add_argument("--lan-ip", required=True, help="this host's LAN address (replaces pyipv8's probing)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--auto-send", type=int, default=0)
    parser.add_argument("--bootstrap-timeout", type=float, default=1.0)
    parser.add_argument("--lifetime", type=float, default=120.0)
    args = parser.parse_args(argv)
    NAME = args.name
    pyipv8_endpoint.get_lan_addresses = lambda: [args.lan_ip]
    pyipv8_overlay.get_providers = lambda: []
    asyncio.run(run(args))


if __name__ == "__main__":
    main(sys.argv[1:])
