"""
A pyipv8 3.2.1 peer driven by the txipv8 interop tests.  Run it ONLY with ``.venv-ref/bin/python``.

Usage: ``python ref_peer.py '<JSON configuration>'`` with these (all optional) keys:

``deadline``         seconds after which the peer stops by itself (default 20)
``overlays``         which overlays to load: ``"interop"`` and/or ``"discovery"`` (default ``["interop"]``)
``community_id``     hex community id of the interop overlay
``walk``             run a RandomWalk for every loaded overlay (default false)
``walker_interval``  IPv8's walker interval (default 0.1)
``trackers``         ``[[ip, port], ...]`` loopback trackers for a DispersyBootstrapper on every overlay
``bootstrap_timeout`` the DispersyBootstrapper's bootstrap timeout (default 30, as in pyipv8)
``walk_to``          ``[[ip, port], ...]`` addresses the overlays walk to right after starting
``peer_poll``        seconds between checks of the peer lists (default 0.05)

It starts from pyipv8's default configuration, removes the default overlays and its public bootstrap
servers, binds to 127.0.0.1 only and loads the requested overlays itself. Everything it reports is one JSON
object per line on stdout:

``{"event": "ready", ...}``      address, mid and pyipv8 version, once the endpoint is open
``{"event": "peers", ...}``      the verified peers of an overlay, whenever they change
``{"event": "reply", ...}``      the answer to a command (``id`` echoes the command's id)
``{"event": "exit", ...}``       why it stops, with the loopback guard's refusal counters

Commands arrive as JSON lines on stdin (``{"id": 1, "cmd": "report"}``; the plumbing is in
:mod:`command_loop`); see :class:`CommandRunner` for the commands.
The process exits when stdin closes, on the ``stop`` command, or at the deadline.
"""
from __future__ import annotations

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import asyncio  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from typing import Any  # noqa: E402

import command_loop  # noqa: E402
import pyipv8_sandbox  # noqa: E402

pyipv8_sandbox.confine("ref_peer.py")

import ipv8.configuration as pyipv8_configuration  # noqa: E402

from ipv8.community import Community, CommunitySettings  # noqa: E402
from ipv8.lazy_community import lazy_wrapper  # noqa: E402
from ipv8.messaging.interfaces.endpoint import EndpointListener  # noqa: E402
from ipv8.messaging.payload_dataclass import DataClassPayload  # noqa: E402
from ipv8_service import IPv8  # noqa: E402

import junk  # noqa: E402


INTEROP_COMMUNITY_ID = bytes.fromhex("17c0ffee" + "00" * 15 + "42")
CHAT_ID = 1


@dataclasses.dataclass
class Chat(DataClassPayload[CHAT_ID]):
    """The application message of the interop tests; txipv8 declares the same fields in the same order."""

    sequence: int
    text: str
    digest: bytes
    urgent: bool
    values: list[int]


def make_chat(sequence: int) -> Chat:
    """The chat with number ``sequence``; the test side builds the same values to compare."""
    return Chat(sequence, f"chat {sequence} from pyipv8 \u2713", sequence.to_bytes(4, "big") * 2,
                sequence % 2 == 0, [sequence, -sequence, 2 ** 40])


# pyipv8 3.2.1 turns a DataClassPayload subclass into a working payload class only when its first instance is
# created (convert_to_payload runs in __new__). Until then, decoding a received chat fails with a TypeError and
# the packet is lost. A real application usually sends before it receives; here the first chat may arrive
# first, so create one instance up front.
make_chat(0)


class InteropCommunity(Community):
    """The community both implementations join; it counts the chats it receives."""

    community_id = INTEROP_COMMUNITY_ID

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.chat_sequences: Counter[int] = Counter()
        self.chat_senders: Counter[str] = Counter()
        self.bad_chats: list[str] = []
        self.add_message_handler(Chat, self.on_chat)

    @lazy_wrapper(Chat)
    def on_chat(self, peer: Any, payload: Chat) -> None:  # noqa: ANN401
        # lazy_wrapper only calls us for correctly signed chats.
        expected = make_chat(payload.sequence)
        if (payload.text, payload.digest, payload.urgent, list(payload.values)) != (
                expected.text.replace("pyipv8", "txipv8"), expected.digest, expected.urgent, expected.values):
            if len(self.bad_chats) < 10:
                self.bad_chats.append(repr(payload))
        self.chat_sequences[payload.sequence] += 1
        self.chat_senders[peer.mid.hex()] += 1


class PacketLog(EndpointListener):
    """Counts every packet by source, overlay and message id, and checks the signatures of chats by hand."""

    def __init__(self, endpoint: Any, prefixes: dict[bytes, str]) -> None:  # noqa: ANN401
        super().__init__(endpoint)
        self.prefixes = prefixes
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        self.sizes: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
        self.chat_signatures_valid = 0
        self.chat_signatures_invalid = 0

    def on_packet(self, packet: tuple[Any, bytes]) -> None:  # noqa: ANN401
        source, data = packet
        overlay = self.prefixes.get(data[:22], "other")
        msg_id = data[22] if len(data) > 22 else -1
        self.counts[f"{source[0]}:{source[1]}"][f"{overlay}:{msg_id}"] += 1
        self.sizes[f"{source[0]}:{source[1]}"][f"{overlay}:{msg_id}"].add(len(data))
        if overlay == "interop" and msg_id == CHAT_ID:
            if junk.signature_is_valid(data):
                self.chat_signatures_valid += 1
            else:
                self.chat_signatures_invalid += 1


def address_key(address: Any) -> list[Any]:  # noqa: ANN401
    return [address[0], address[1]]


def describe_peer(network: Any, peer: Any) -> dict[str, Any]:  # noqa: ANN401
    return {
        "mid": peer.mid.hex(),
        "address": address_key(peer.address),
        "addresses": sorted(address_key(address) for address in peer.addresses.values()),
        "new_style_intro": bool(peer.new_style_intro),
        "pings": list(peer.pings),
        "services": sorted(service.hex() for service in network.get_services_for_peer(peer)),
    }


class ReferencePeer:
    """One pyipv8 IPv8 instance configured from the test's JSON."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.overlay_names: list[str] = list(config.get("overlays", ["interop"]))
        self.ipv8: IPv8 | None = None
        self.overlays: dict[str, Community] = {}
        self.log: PacketLog | None = None
        self.last_peers: dict[str, Any] = {}

    def build_configuration(self) -> dict[str, Any]:
        configuration = copy.deepcopy(pyipv8_configuration.get_default_configuration())
        configuration["overlays"] = []  # no default overlays: only what the test asks for
        configuration["interfaces"] = [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}]
        configuration["keys"] = [{"alias": "interop peer", "generation": "curve25519", "file": ""}]
        configuration["logger"] = {"level": "WARNING"}
        configuration["working_directory"] = ":memory:"
        configuration["walker_interval"] = float(self.config.get("walker_interval", 0.1))
        trackers = [tuple(address) for address in self.config.get("trackers", [])]
        for address in trackers + [tuple(a) for a in self.config.get("walk_to", [])]:
            if not loopback_guard.is_loopback(address[0]):
                raise SystemExit(f"refusing to use non-loopback address {address!r}")
        bootstrappers = [{"class": "DispersyBootstrapper",
                          "init": {"ip_addresses": trackers, "dns_addresses": [],
                                   "bootstrap_timeout": float(self.config.get("bootstrap_timeout", 30.0))}}
                         ] if trackers else []
        walkers = [{"strategy": "RandomWalk", "peers": -1, "init": {"timeout": 3.0}}] if self.config.get("walk") else []
        names = {"interop": "InteropCommunity", "discovery": "DiscoveryCommunity"}
        for name in self.overlay_names:
            configuration["overlays"].append({"class": names[name], "key": "interop peer", "walkers": walkers,
                                              "bootstrappers": bootstrappers, "initialize": {}, "on_start": []})
        return configuration

    async def start(self) -> None:
        configuration = self.build_configuration()
        self.ipv8 = IPv8(configuration, extra_communities={"InteropCommunity": InteropCommunity})
        loopback_guard.guard_endpoint(self.ipv8.endpoint)
        for interface in self.ipv8.endpoint.interfaces.values():
            loopback_guard.guard_endpoint(interface)
        for overlay in self.ipv8.overlays:
            name = "interop" if isinstance(overlay, InteropCommunity) else "discovery"
            self.overlays[name] = overlay
        await self.ipv8.start()
        self.log = PacketLog(self.ipv8.endpoint, {o.get_prefix(): n for n, o in self.overlays.items()})
        self.ipv8.endpoint.add_listener(self.log)
        for overlay in self.overlays.values():
            overlay.my_estimated_lan = ("127.0.0.1", self.address()[1])
            overlay.my_estimated_wan = overlay.my_estimated_lan
            for address in self.config.get("walk_to", []):
                overlay.walk_to(tuple(address))
        some_overlay = next(iter(self.overlays.values()))
        command_loop.emit("ready", address=address_key(self.address()), mid=some_overlay.my_peer.mid.hex(),
                          public_key=some_overlay.my_peer.public_key.key_to_bin().hex(),
                          pyipv8=importlib.metadata.version("pyipv8"), overlays=self.overlay_names, pid=os.getpid())

    def address(self) -> Any:  # noqa: ANN401
        return self.ipv8.endpoint.get_address()

    def peers_of(self, name: str) -> list[dict[str, Any]]:
        overlay = self.overlays[name]
        return sorted((describe_peer(overlay.network, peer) for peer in overlay.get_peers()),
                      key=lambda entry: entry["mid"])

    async def watch_peers(self) -> None:
        interval = float(self.config.get("peer_poll", 0.05))
        while True:
            for name in self.overlays:
                peers = self.peers_of(name)
                summary = [(p["mid"], p["address"], p["new_style_intro"], p["services"]) for p in peers]
                if summary != self.last_peers.get(name):
                    self.last_peers[name] = summary
                    command_loop.emit("peers", overlay=name, peers=peers)
            await asyncio.sleep(interval)

    def report(self) -> dict[str, Any]:
        interop = self.overlays.get("interop")
        result: dict[str, Any] = {
            "overlays": {name: {"peers": self.peers_of(name),
                                "walkable": sorted(address_key(a) for a in overlay.get_walkable_addresses())}
                         for name, overlay in self.overlays.items()},
            "received": {source: dict(counts) for source, counts in self.log.counts.items()},
            "sizes": {source: {key: sorted(lengths) for key, lengths in per_id.items()}
                      for source, per_id in self.log.sizes.items()},
            "refusals": loopback_guard.report(),
        }
        if interop is not None:
            sequences = interop.chat_sequences
            result["chats"] = {
                "handled": sum(sequences.values()),
                "distinct": len(sequences),
                "duplicates": sum(count - 1 for count in sequences.values() if count > 1),
                "min": min(sequences) if sequences else None,
                "max": max(sequences) if sequences else None,
                "senders": dict(interop.chat_senders),
                "bad_contents": interop.bad_chats,
                "signatures_valid": self.log.chat_signatures_valid,
                "signatures_invalid": self.log.chat_signatures_invalid,
            }
        return result

    async def stop(self) -> None:
        if self.ipv8 is not None:
            await self.ipv8.stop()


class CommandRunner(command_loop.CommandDispatcher):
    """Executes the test's commands against a :class:`ReferencePeer`."""

    def __init__(self, peer: ReferencePeer, shutdown: command_loop.Shutdown) -> None:
        super().__init__(shutdown)
        self.peer = peer

    def overlay(self, command: dict[str, Any]) -> Community:
        return self.peer.overlays[command.get("overlay", "interop")]

    def known_peer(self, overlay: Community, address: list[Any]) -> Any:  # noqa: ANN401
        found = overlay.network.get_verified_by_address(tuple(address))
        if found is None:
            for candidate in overlay.get_peers():
                if tuple(address) in candidate.addresses.values():
                    return candidate
            raise LookupError(f"no verified peer at {address!r}")
        return found

    @staticmethod
    def checked_address(address: list[Any]) -> tuple[str, int]:
        if not loopback_guard.is_loopback(address[0]):
            raise ValueError(f"refusing non-loopback address {address!r}")
        return address[0], int(address[1])

    async def cmd_report(self, command: dict[str, Any]) -> Any:  # noqa: ANN401, ARG002
        return self.peer.report()

    async def cmd_walk_to(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """Send an introduction request; ``new_style`` true/false forces the style, null lets pyipv8 pick."""
        overlay = self.overlay(command)
        address = self.checked_address(command["address"])
        new_style = command.get("new_style")
        if new_style is None:
            overlay.walk_to(address)
        else:
            overlay.endpoint.send(address, overlay.create_introduction_request(address, new_style=bool(new_style)))
        return None

    async def cmd_send_chats(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """Send ``count`` chats to a verified peer, ``burst`` at a time with ``pause`` seconds in between."""
        overlay = self.overlay(command)
        peer = self.known_peer(overlay, command["to"])
        first = int(command.get("first", 0))
        count = int(command["count"])
        burst = int(command.get("burst", 50))
        pause = float(command.get("pause", 0.005))
        for sequence in range(first, first + count):
            overlay.ez_send(peer, make_chat(sequence))
            if (sequence - first + 1) % burst == 0:
                await asyncio.sleep(pause)
        return {"sent": count}

    async def cmd_ping(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        overlay = self.peer.overlays["discovery"]
        overlay.send_ping(self.known_peer(overlay, command["to"]))
        return None

    async def cmd_similarity(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        overlay = self.peer.overlays["discovery"]
        overlay.send_similarity_request(self.checked_address(command["to"]))
        return None

    async def cmd_junk(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """Send one malformed or forged packet of the given ``kind`` (see :mod:`junk`)."""
        overlay = self.overlay(command)
        address = self.checked_address(command["to"])
        packet = junk.craft(command["kind"], overlay, make_chat(int(command.get("sequence", 0))),
                            random.Random(command.get("seed", 1)))
        overlay.endpoint.send(address, packet)
        return {"length": len(packet), "hex": packet.hex()}

    async def cmd_guard_selftest(self, command: dict[str, Any]) -> Any:  # noqa: ANN401, ARG002
        """
        Prove that the loopback guard is armed: try to send to 0.0.0.0 (which, should the guard fail, means
        "this host" and still never leaves the machine) through the endpoint and through a raw socket.
        """
        overlay = next(iter(self.peer.overlays.values()))
        overlay.endpoint.send(("0.0.0.0", 9), b"guard self-test")
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.sendto(b"guard self-test", ("0.0.0.0", 9))
        except PermissionError:
            pass
        finally:
            probe.close()
        return loopback_guard.report()


async def main(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    shutdown = command_loop.Shutdown(float(config.get("deadline", 20.0)))
    peer = ReferencePeer(config)
    await peer.start()
    watcher = loop.create_task(peer.watch_peers())
    reason = await command_loop.serve_until_shutdown(CommandRunner(peer, shutdown).run, shutdown)
    watcher.cancel()
    final = peer.report()
    await command_loop.stop_within(peer.stop(), 2.0, "stopping pyipv8")
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report(), final=final)


if __name__ == "__main__":
    command_loop.run_to_exit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
