"""
Several pyipv8 3.2.1 ``HiddenTunnelCommunity`` nodes in one process, driven by
tests/interop/test_hidden_services_interop.py. Run it ONLY with ``.venv-ref/bin/python``.

Usage: ``python ref_hidden_node.py '<JSON configuration>'`` with these (all optional) keys:

``deadline``   seconds after which the process stops by itself (default 30)
``flags``      one list of peer flags per node (default ``[[], [1, 2], [1, 2]]``: an end node, two relay-exits)
``dht``        whether every node also runs pyipv8's ``DHTDiscoveryCommunity`` on its socket, wrapped in a
               ``DHTCommunityProvider`` as the hidden community's ``dht_provider`` (default false)
``endpoint``   ``"python"`` (pyipv8's ``UDPEndpoint``, the default) or ``"rust"`` (``ipv8_rust_tunnels``'
               endpoint, which pyipv8 3.2.1 uses as its data plane; exit sockets bound to 127.0.0.1), or one
               of these per node. With the Rust endpoint the data of a node's own circuits goes to Rust's SOCKS5
               sessions, never to ``on_raw_data``: an end node that records e2e data needs the Python one.

Every node has its own key and its own UDP socket on 127.0.0.1, no walker and no IPv8 object (so no PEX).
Without ``dht`` the test tells the ends where the introduction point is. It speaks the line protocol of
:mod:`command_loop`; see :class:`CommandRunner` for the commands. Keys, info hashes and data travel as hex.
``report`` also lists the local address of every UDP socket of the process (Rust's included), so the test can
check that the Rust endpoint bound them all to loopback: the loopback guard only sees Python's sockets, so with
the Rust endpoint it also checks every address handed to the endpoint and to its ``send_cell``.
"""
from __future__ import annotations

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import asyncio
import importlib.metadata
import json
import os
import sys
from typing import Any

import command_loop
import pyipv8_sandbox
from ref_tunnel_node import NodeCommands, guard_cells, open_loopback_endpoint

pyipv8_sandbox.confine("ref_hidden_node.py")

from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.provider import DHTCommunityProvider
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization.hidden_services import (
    HiddenTunnelCommunity,
    HiddenTunnelSettings,
)
from ipv8.messaging.anonymization.tunnel import IntroductionPoint
from ipv8.messaging.interfaces.udp.endpoint import UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

LOOPBACK = "127.0.0.1"
#: Raw datagrams and e2e addresses a node keeps for the test, at most.
MAX_RECORDS = 1000


class RecordingHiddenCommunity(HiddenTunnelCommunity):
    """pyipv8's HiddenTunnelCommunity, keeping what arrives on its e2e circuits."""

    def __init__(self, settings: HiddenTunnelSettings) -> None:
        super().__init__(settings)
        self.raw: list[dict[str, Any]] = []

    def on_raw_data(self, circuit: Any, origin: Any, data: bytes) -> None:
        if len(self.raw) < MAX_RECORDS:
            self.raw.append({"circuit_id": circuit.circuit_id, "ctype": str(circuit.ctype), "data": data.hex()})


class ReferenceHiddenNode:
    """One pyipv8 HiddenTunnelCommunity on its own Python endpoint."""

    def __init__(self, index: int, flags: list[int], dht: bool = False, endpoint_kind: str = "python") -> None:
        self.index = index
        self.endpoint_kind = endpoint_kind
        self.flags = set(flags)
        self.with_dht = dht
        self.dht: Any = None
        self.endpoint: Any = None
        self.community: RecordingHiddenCommunity | None = None
        self.e2e: list[list[Any]] = []

    async def start(self) -> None:
        self.endpoint = await open_loopback_endpoint(self.endpoint_kind)
        port = self.endpoint.get_address()[1]
        address = UDPv4Address(LOOPBACK, port)
        key = default_eccrypto.generate_key("curve25519")
        my_peer = Peer(key, address)
        settings = HiddenTunnelSettings(my_peer=my_peer, endpoint=self.endpoint, network=Network(),
                                        remove_tunnel_delay=0, max_circuits=0)
        settings.peer_flags = set(self.flags)
        if self.with_dht:
            self.dht = DHTDiscoveryCommunity(DHTDiscoveryCommunity.settings_class(
                my_peer=my_peer, endpoint=self.endpoint, network=Network()))
            self.dht.my_estimated_lan = self.dht.my_estimated_wan = address
            settings.dht_provider = DHTCommunityProvider(self.dht, port)
        self.community = RecordingHiddenCommunity(settings)
        guard_cells(self.community.crypto_endpoint)
        self.community.my_estimated_lan = self.community.my_estimated_wan = address

    def address(self) -> list[Any]:
        host, port = self.endpoint.get_address()
        return [host, port]

    def describe(self) -> dict[str, Any]:
        return {"index": self.index, "address": self.address(),
                "public_key": self.community.my_peer.public_key.key_to_bin().hex(), "flags": sorted(self.flags)}

    def report(self) -> dict[str, Any]:
        community = self.community
        circuits = [{"circuit_id": c.circuit_id, "state": str(c.state), "ctype": str(c.ctype),
                     "goal_hops": c.goal_hops, "e2e": bool(c.e2e),
                     "hops": [hop.public_key_bin.hex() for hop in c.hops]}
                    for c in list(community.circuits.values())]
        return {
            **self.describe(),
            "candidates": {peer.public_key.key_to_bin().hex(): sorted(flags)
                           for peer, flags in community.candidates.items()},
            "circuits": circuits,
            "relays": len(community.relay_from_to),
            "rendezvous_relays": sum(1 for r in community.relay_from_to.values() if r.rendezvous_relay),
            "exits": len(community.exit_sockets),
            "intro_point_for": sorted(pk.hex() for pk in community.intro_point_for),
            "rendezvous_points": len(community.rendezvous_point_for),
            "swarms": {ih.hex(): (s.seeder_sk.pub().key_to_bin().hex() if s.seeder_sk else None)
                       for ih, s in community.swarms.items()},
            "e2e": list(self.e2e),
            "dht_peers": len(self.dht.get_peers()) if self.dht is not None else 0,
            "raw": list(community.raw),
        }

    async def stop(self) -> None:
        if self.dht is not None:
            await self.dht.unload()
        if self.community is not None:
            await self.community.unload()
        if self.endpoint is not None:
            if self.endpoint_kind == "rust":
                await self.endpoint.close(grace_period=1)
            else:
                self.endpoint.close()


class CommandRunner(NodeCommands):
    """Executes the test's commands on :class:`ReferenceHiddenNode` s (``report`` and ``walk`` as the tunnel driver)."""

    def __init__(self, nodes: list[ReferenceHiddenNode], shutdown: command_loop.Shutdown) -> None:
        super().__init__(nodes, shutdown)
        self.tasks: set[asyncio.Task] = set()

    def background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cmd_dht_walk(self, command: dict[str, Any]) -> Any:
        """An introduction request of ``node``'s DHT community to each of ``addresses``."""
        dht = self.node(command).dht
        for address in command["addresses"]:
            dht.walk_to(self.loopback_address(address))
        return None

    async def cmd_peer_discovery(self, command: dict[str, Any]) -> Any:
        """One round of ``do_peer_discovery`` (swarm lookups) in the background."""
        self.background(self.node(command).community.do_peer_discovery())
        return None

    async def cmd_join_swarm(self, command: dict[str, Any]) -> Any:
        """``join_swarm(info_hash, hops, seeding=...)``; e2e addresses given to the callback are recorded."""
        node = self.node(command)
        node.community.join_swarm(bytes.fromhex(command["info_hash"]), int(command["hops"]),
                                  lambda address: node.e2e.append([address[0], address[1]]),
                                  seeding=bool(command["seeding"]))
        node.community.do_circuits()
        return None

    async def cmd_create_intro(self, command: dict[str, Any]) -> Any:
        """``create_introduction_point(info_hash)`` in the background."""
        self.background(self.node(command).community.create_introduction_point(bytes.fromhex(command["info_hash"])))
        return None

    async def cmd_create_e2e(self, command: dict[str, Any]) -> Any:
        """``create_e2e(info_hash, IntroductionPoint(intro peer, seeder key))``."""
        community = self.node(command).community
        intro = Peer(bytes.fromhex(command["intro_key"]), self.loopback_address(command["intro_address"]))
        community.create_e2e(bytes.fromhex(command["info_hash"]),
                             IntroductionPoint(intro, bytes.fromhex(command["seeder_pk"])))
        return None

    async def cmd_send(self, command: dict[str, Any]) -> Any:
        """``send_data`` of every datagram in ``data`` (hex) through circuit ``circuit_id`` (an e2e circuit)."""
        community = self.node(command).community
        circuit = community.circuits.get(int(command["circuit_id"]))
        if circuit is None or circuit.hop is None:
            raise LookupError(f"no usable circuit {command['circuit_id']}")
        for data in command["data"]:
            community.send_data(circuit.hop.address, circuit.circuit_id, ("0.0.0.0", 0), ("0.0.0.0", 0),
                                bytes.fromhex(data))
        return len(command["data"])


async def main(config: dict[str, Any]) -> None:
    shutdown = command_loop.Shutdown(float(config.get("deadline", 30.0)))
    flags = config.get("flags", [[], [1, 2], [1, 2]])
    kind = config.get("endpoint", "python")
    kinds = [str(k) for k in kind] if isinstance(kind, list) else [str(kind)] * len(flags)
    nodes = [ReferenceHiddenNode(index, node_flags, bool(config.get("dht", False)), kinds[index])
             for index, node_flags in enumerate(flags)]
    for node in nodes:
        await node.start()
    command_loop.emit("ready", nodes=[node.describe() for node in nodes], address=nodes[0].address(),
                      mid=nodes[0].community.my_peer.mid.hex(), pyipv8=importlib.metadata.version("pyipv8"),
                      endpoint=kind, rust_tunnels=importlib.metadata.version("ipv8-rust-tunnels"), pid=os.getpid())
    reason = await command_loop.serve_until_shutdown(CommandRunner(nodes, shutdown).run, shutdown)
    outcomes = await asyncio.gather(*(asyncio.wait_for(node.stop(), 1.5) for node in nodes), return_exceptions=True)
    for node, outcome in zip(nodes, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            print(f"stopping pyipv8 hidden node {node.index} failed: {outcome!r}", file=sys.stderr)
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report())


if __name__ == "__main__":
    command_loop.run_to_exit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
