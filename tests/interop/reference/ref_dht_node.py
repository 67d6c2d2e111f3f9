"""
Several pyipv8 3.2.1 DHT nodes in one process, driven by tests/interop/test_dht_interop.py.  Run it ONLY
with ``.venv-ref/bin/python``.

Usage: ``python ref_dht_node.py '<JSON configuration>'`` with these (all optional) keys:

``deadline``         seconds after which the process stops by itself (default 30)
``nodes``            how many pyipv8 ``IPv8`` instances to start (default 3)
``trackers``         ``[[ip, port], ...]`` loopback trackers for a DispersyBootstrapper on every node
``walker_interval``  IPv8's walker interval (default 0.1)

Every node is its own ``IPv8`` instance (own key, own UDP socket on 127.0.0.1) with pyipv8's
``DHTDiscoveryCommunity`` and the walkers of pyipv8's default configuration for it (RandomWalk, PingChurn).
It speaks the line protocol of ``ref_peer.py`` (:mod:`command_loop`): JSON events on stdout (``ready`` with
every node's index, address, mid and public key; ``reply``; ``exit`` with the loopback guard's refusal
counters) and JSON commands on stdin, each naming a node by its index (``node``); keys, data and mids travel
as hex. See :class:`CommandRunner` for the commands. ``report`` describes every node: its routing table, the
peers it stores for others (``store``) and the nodes storing it (``store_for_me``), how many values it holds
per key, and the DHT packets it received, counted by source address and message id (punctures included).
The process exits when stdin closes, on ``stop``, or at the deadline.
"""
from __future__ import annotations

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import asyncio  # noqa: E402
import copy  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from typing import Any  # noqa: E402

import command_loop  # noqa: E402
import pyipv8_sandbox  # noqa: E402

pyipv8_sandbox.confine("ref_dht_node.py")

import ipv8.configuration as pyipv8_configuration  # noqa: E402

from ipv8.dht import DHTError  # noqa: E402
from ipv8.dht.discovery import DHTDiscoveryCommunity  # noqa: E402
from ipv8.dht.routing import Node  # noqa: E402
from ipv8.messaging.interfaces.endpoint import EndpointListener  # noqa: E402
from ipv8.peerdiscovery.discovery import RandomWalk  # noqa: E402
from ipv8_service import IPv8  # noqa: E402


def address_key(address: Any) -> list[Any]:  # noqa: ANN401
    return [address[0], address[1]]


def describe_node(node: Any) -> dict[str, Any]:  # noqa: ANN401
    return {"mid": node.mid.hex(), "address": address_key(node.address),
            "public_key": node.public_key.key_to_bin().hex()}


class DHTPacketLog(EndpointListener):
    """Counts the DHT packets a node receives, by source address and message id (punctures included)."""

    def __init__(self, endpoint: Any, prefix: bytes) -> None:  # noqa: ANN401
        super().__init__(endpoint)
        self.prefix = prefix
        self.counts: dict[str, Counter[int]] = defaultdict(Counter)

    def on_packet(self, packet: tuple[Any, bytes]) -> None:  # noqa: ANN401
        source, data = packet
        if len(data) > 22 and data[:22] == self.prefix:
            self.counts[f"{source[0]}:{source[1]}"][data[22]] += 1


class ReferenceDHTNode:
    """One pyipv8 IPv8 instance running only DHTDiscoveryCommunity."""

    def __init__(self, index: int, config: dict[str, Any]) -> None:
        self.index = index
        self.config = config
        self.ipv8: IPv8 | None = None
        self.dht: DHTDiscoveryCommunity | None = None
        self.log: DHTPacketLog | None = None

    def build_configuration(self) -> dict[str, Any]:
        configuration = copy.deepcopy(pyipv8_configuration.get_default_configuration())
        configuration["interfaces"] = [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}]
        configuration["keys"] = [{"alias": "dht node", "generation": "curve25519", "file": ""}]
        configuration["logger"] = {"level": "ERROR"}
        configuration["working_directory"] = ":memory:"
        configuration["walker_interval"] = float(self.config.get("walker_interval", 0.1))
        trackers = [tuple(address) for address in self.config.get("trackers", [])]
        for address in trackers:
            if not loopback_guard.is_loopback(address[0]):
                raise SystemExit(f"refusing to use non-loopback address {address!r}")
        # pyipv8's own default entry for this overlay, with our key and our tracker instead of the public ones.
        [overlay] = [copy.deepcopy(entry) for entry in configuration["overlays"]
                     if entry["class"] == "DHTDiscoveryCommunity"]
        overlay["key"] = "dht node"
        overlay["bootstrappers"] = [{"class": "DispersyBootstrapper",
                                     "init": {"ip_addresses": trackers, "dns_addresses": [],
                                              "bootstrap_timeout": 30.0}}] if trackers else []
        overlay["initialize"] = {}
        overlay["on_start"] = []
        configuration["overlays"] = [overlay]
        return configuration

    async def start(self) -> None:
        self.ipv8 = IPv8(self.build_configuration())
        loopback_guard.guard_endpoint(self.ipv8.endpoint)
        for interface in self.ipv8.endpoint.interfaces.values():
            loopback_guard.guard_endpoint(interface)
        await self.ipv8.start()
        self.dht = self.ipv8.get_overlay(DHTDiscoveryCommunity)
        # On one host the WAN address is the socket's own address; the DHT needs it for its node id.
        self.dht.my_estimated_lan = ("127.0.0.1", self.address()[1])
        self.dht.my_estimated_wan = self.dht.my_estimated_lan
        self.log = DHTPacketLog(self.ipv8.endpoint, self.dht.get_prefix())
        self.ipv8.endpoint.add_listener(self.log)

    def address(self) -> Any:  # noqa: ANN401
        return self.ipv8.endpoint.get_address()

    def describe(self) -> dict[str, Any]:
        return {"index": self.index, "address": address_key(self.address()), "mid": self.dht.my_peer.mid.hex(),
                "public_key": self.dht.my_peer.public_key.key_to_bin().hex()}

    def routing_nodes(self) -> list[Any]:
        return [node for table in self.dht.routing_tables.values()
                for bucket in table.trie.values() for node in bucket.nodes.values()]

    def node_at(self, address: list[Any]) -> Any:  # noqa: ANN401
        """A fresh Node object for the routing-table node at ``address`` (pyipv8 copies nodes the same way)."""
        wanted = (address[0], int(address[1]))
        for node in self.routing_nodes():
            if tuple(node.address) == wanted:
                return Node(node.key, node.address)
        raise LookupError(f"node {self.index} has no routing-table node at {address!r}")

    def report(self) -> dict[str, Any]:
        storage_keys = {}
        for storage in self.dht.storages.values():
            for key in storage.items:
                storage_keys[key.hex()] = len(storage.items[key])
        return {
            **self.describe(),
            # ``answered``: the node answered at least one of our requests (pyipv8 pings every node it adds).
            "routing_table": sorted(({**describe_node(node), "answered": node.last_response > 0}
                                     for node in self.routing_nodes()), key=lambda n: n["mid"]),
            "store": {mid.hex(): [describe_node(node) for node in nodes] for mid, nodes in self.dht.store.items()},
            "store_for_me": {mid.hex(): [describe_node(node) for node in nodes]
                             for mid, nodes in self.dht.store_for_me.items()},
            "storage": storage_keys,
            "received": {source: {str(msg_id): count for msg_id, count in counts.items()}
                         for source, counts in self.log.counts.items()},
        }

    async def stop(self) -> None:
        if self.ipv8 is not None:
            await self.ipv8.stop()


def values_json(values: Any) -> list[list[Any]]:  # noqa: ANN401
    return [[data.hex(), public_key.hex() if public_key is not None else None] for data, public_key in values]


class CommandRunner(command_loop.CommandDispatcher):
    """Executes the test's commands; every command names the node it runs on with ``node`` (an index)."""

    def __init__(self, nodes: list[ReferenceDHTNode], shutdown: command_loop.Shutdown) -> None:
        super().__init__(shutdown)
        self.nodes = nodes

    def node(self, command: dict[str, Any]) -> ReferenceDHTNode:
        return self.nodes[int(command.get("node", 0))]

    async def cmd_report(self, command: dict[str, Any]) -> Any:  # noqa: ANN401, ARG002
        return {"nodes": [node.report() for node in self.nodes], "refusals": loopback_guard.report()}

    async def cmd_store_value(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """``store_value(key, data, sign)``; the result lists the nodes that confirmed."""
        dht = self.node(command).dht
        stored = await dht.store_value(bytes.fromhex(command["key"]), bytes.fromhex(command["data"]),
                                       sign=bool(command.get("sign", False)))
        return {"stored_on": [describe_node(node) for node in stored]}

    async def cmd_find_values(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """``find_values(key)``: ``[[data, signer public key or null], ...]``."""
        dht = self.node(command).dht
        return {"values": values_json(await dht.find_values(bytes.fromhex(command["key"])))}

    async def cmd_find_on(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """One find-request for ``key`` to the node at ``address`` only: the values it holds, decoded by pyipv8."""
        owner = self.node(command)
        dht = owner.dht
        answer = await dht._send_find_request(owner.node_at(command["address"]), bytes.fromhex(command["key"]),
                                              False)
        if answer is None:
            raise DHTError(f"no find-response from {command['address']!r}")
        return {"values": values_json(dht.post_process_values(answer.get("values", []))),
                "nodes": [describe_node(node) for node in answer.get("nodes", [])]}

    async def cmd_store_peer(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """``store_peer()``: announce this node on the nodes closest to its mid; returns who confirmed."""
        dht = self.node(command).dht
        confirmed = await dht.store_peer()
        return {"confirmed": [describe_node(node) for node in confirmed],
                "store_for_me": [describe_node(node) for node in dht.store_for_me[dht.my_peer.mid]]}

    async def cmd_connect_peer(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """
        ``connect_peer(mid)``; ``local`` tells whether this node itself stored the peer (it answers from its
        store then, without a request). With ``forget`` it first drops the peer from its store, so that the
        call has to look the peer up and ask the nodes that store it.
        """
        dht = self.node(command).dht
        mid = bytes.fromhex(command["mid"])
        if command.get("forget"):
            dht.store.pop(mid, None)
        local = bool(dht.store.get(mid))
        found = await dht.connect_peer(mid)
        return {"local": local, "nodes": [describe_node(node) for node in found]}

    async def cmd_connect_via(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        """One connect-peer-request for ``mid`` to the node at ``address`` only: the peers it names."""
        owner = self.node(command)
        found = await owner.dht.send_connect_peer_request(bytes.fromhex(command["mid"]),
                                                          [owner.node_at(command["address"])])
        return {"nodes": [describe_node(node) for node in found]}

    async def cmd_stop_walking(self, command: dict[str, Any]) -> Any:  # noqa: ANN401, ARG002
        """Remove every node's RandomWalk (PingChurn stays): from now on only DHT traffic asks for punctures."""
        removed = 0
        for node in self.nodes:
            kept = [entry for entry in node.ipv8.strategies if not isinstance(entry[0], RandomWalk)]
            removed += len(node.ipv8.strategies) - len(kept)
            node.ipv8.strategies = kept
        return {"removed": removed}


async def main(config: dict[str, Any]) -> None:
    shutdown = command_loop.Shutdown(float(config.get("deadline", 30.0)))
    nodes = [ReferenceDHTNode(index, config) for index in range(int(config.get("nodes", 3)))]
    for node in nodes:
        await node.start()
    command_loop.emit("ready", nodes=[node.describe() for node in nodes], address=address_key(nodes[0].address()),
                      mid=nodes[0].dht.my_peer.mid.hex(), pyipv8=importlib.metadata.version("pyipv8"),
                      pid=os.getpid())
    reason = await command_loop.serve_until_shutdown(CommandRunner(nodes, shutdown).run, shutdown)
    # All at once: the test kills the process if it has not exited within a few seconds.
    outcomes = await asyncio.gather(*(asyncio.wait_for(node.stop(), 1.5) for node in nodes), return_exceptions=True)
    for node, outcome in zip(nodes, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            print(f"stopping pyipv8 node {node.index} failed: {outcome!r}", file=sys.stderr)
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report())


if __name__ == "__main__":
    command_loop.run_to_exit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
