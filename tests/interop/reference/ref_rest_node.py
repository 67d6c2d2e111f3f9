"""
A pyipv8 3.2.1 node with its REST API, for tests/interop/test_rest_compat.py.  Run it ONLY with
``.venv-ref/bin/python``.

Usage: ``python ref_rest_node.py '<JSON configuration>'`` with the keys

``deadline``           seconds after which the node stops by itself (default 30)
``api_key``            the REST API key (default none)
``statistics``         wrap the endpoint in a StatisticsEndpoint (default true)
``community_id``       hex id of the third overlay, ``RESTCompatCommunity``
``extra_path``         a directory put in front of ``sys.path`` (pyipv8 3.2.1's REST layer needs marshmallow<4,
                       which the test installs there; see test_rest_compat.py)
``tunnel_flags``       when given, a fourth overlay, pyipv8's TunnelCommunity (Python endpoint), with these peer
                       flags (a list of ints)

The node binds its UDP endpoint and its REST API to 127.0.0.1 only (port 0: the system picks), loads
three overlays (DiscoveryCommunity, DHTDiscoveryCommunity, RESTCompatCommunity; and TunnelCommunity, see
above) with a RandomWalk each and no bootstrap servers. It speaks the line protocol of ``ref_peer.py``
(:mod:`command_loop`): JSON events on stdout (``ready`` with ``rest_port``, ``reply``, ``exit`` with the
loopback guard's refusal counters) and JSON commands on stdin: ``walk_to`` (``address``: ``[ip, port]``, every
overlay), ``peers`` (the number of verified peers per overlay), ``dht_store_peer`` (announce ourselves in the
DHT; the number of nodes that confirmed), ``tunnel_candidates`` (the number of tunnel peers whose flags we know),
``build_circuit`` (``hops``; the id of the READY circuit, or null) and ``stop``. Only pings and speed tests go
through the circuits: no data leaves them, so no exit socket opens.
It exits when stdin closes, on ``stop``, or at the deadline.
"""
from __future__ import annotations

import json
import sys

CONFIG = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
if CONFIG.get("extra_path"):
    sys.path.insert(0, CONFIG["extra_path"])

import loopback_guard  # noqa: E402

loopback_guard.install()  # before pyipv8 creates a single socket

import copy  # noqa: E402
import importlib.metadata  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

import command_loop  # noqa: E402
import pyipv8_sandbox  # noqa: E402

pyipv8_sandbox.confine("ref_rest_node.py")

import ipv8.configuration as pyipv8_configuration  # noqa: E402
from ipv8.community import Community  # noqa: E402
from ipv8.dht.discovery import DHTDiscoveryCommunity  # noqa: E402
from ipv8.messaging.anonymization.community import TunnelCommunity  # noqa: E402
from ipv8.messaging.interfaces.statistics_endpoint import StatisticsEndpoint  # noqa: E402
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint  # noqa: E402
from ipv8.REST.rest_manager import RESTManager  # noqa: E402
from ipv8_service import IPv8  # noqa: E402


class RESTCompatCommunity(Community):
    """The second overlay of both nodes; no messages of its own, one periodic task (for /asyncio/tasks)."""

    community_id = bytes.fromhex(CONFIG.get("community_id", "5e57c0de" + "00" * 15 + "77"))

    def __init__(self, settings: Any) -> None:  # noqa: ANN401
        super().__init__(settings)
        self.register_task("compat tick", self.tick, interval=5.0)

    def tick(self) -> None:
        """Nothing to do: the task only has to exist."""


def build_configuration() -> dict[str, Any]:
    configuration = copy.deepcopy(pyipv8_configuration.get_default_configuration())
    configuration["interfaces"] = [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}]
    configuration["keys"] = [{"alias": "rest node", "generation": "curve25519", "file": ""}]
    configuration["logger"] = {"level": "ERROR"}
    configuration["working_directory"] = ":memory:"
    configuration["walker_interval"] = 0.5
    walkers = [{"strategy": "RandomWalk", "peers": 20, "init": {"timeout": 3.0}}]
    configuration["overlays"] = [
        {"class": name, "key": "rest node", "walkers": walkers, "bootstrappers": [], "initialize": {},
         "on_start": []}
        for name in ("DiscoveryCommunity", "DHTDiscoveryCommunity", "RESTCompatCommunity",
                     *(("TunnelCommunity",) if "tunnel_flags" in CONFIG else ()))]
    return configuration


class Node:
    """The IPv8 instance, its REST manager and the commands the test sends."""

    def __init__(self) -> None:
        # pyipv8 3.2.1's enable_statistics=True wraps the DispatcherEndpoint it builds from "interfaces" in a
        # StatisticsEndpoint, whose listener registration (Endpoint.add_prefix_listener, run on the wrapper)
        # never reaches the UDP interface the dispatcher forwards to: the overlays then receive nothing. A
        # StatisticsEndpoint around a plain UDPEndpoint works, so statistics are switched on that way.
        override = StatisticsEndpoint(UDPEndpoint(port=0, ip="127.0.0.1")) if CONFIG.get("statistics", True) \
            else None
        self.ipv8 = IPv8(build_configuration(), endpoint_override=override,
                         extra_communities={"RESTCompatCommunity": RESTCompatCommunity})
        if override is not None:
            # Even then, the overlays register their prefixes on the wrapper, which no packet reaches: only
            # DiscoveryCommunity (a plain listener of the UDP endpoint) receives anything. The others looked
            # fine only because they share its Network; the DHT keeps its own and stayed empty. So every
            # overlay that is not a listener of the UDP endpoint is registered there for its prefix.
            udp = override.endpoint
            for overlay in self.ipv8.overlays:
                # A TunnelCommunity receives through its crypto endpoint, which opens the cells first.
                listener = overlay.crypto_endpoint if isinstance(overlay, TunnelCommunity) else overlay
                if listener not in udp._listeners:  # noqa: SLF001 - pyipv8 keeps its listeners there
                    udp.add_prefix_listener(listener, overlay.get_prefix())
        self.tunnels = self.ipv8.get_overlay(TunnelCommunity)
        if self.tunnels is not None:
            self.tunnels.settings.peer_flags = {int(flag) for flag in CONFIG["tunnel_flags"]}
        self.rest = RESTManager(self.ipv8)
        self.shutdown = command_loop.Shutdown(float(CONFIG.get("deadline", 30.0)))

    async def start(self) -> None:
        for interface in [self.ipv8.endpoint, *getattr(self.ipv8.endpoint, "interfaces", {}).values()]:
            loopback_guard.guard_endpoint(interface)
        await self.ipv8.start()
        await self.rest.start(0, "127.0.0.1", api_key=CONFIG.get("api_key"))
        rest_port = self.rest.site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - aiohttp keeps it there
        udp = self.ipv8.endpoint.get_address()
        for overlay in self.ipv8.overlays:
            overlay.my_estimated_lan = ("127.0.0.1", udp[1])
            overlay.my_estimated_wan = overlay.my_estimated_lan
        command_loop.emit("ready", address=[udp[0], udp[1]], rest_port=rest_port, pid=os.getpid(),
                          mid=self.ipv8.overlays[0].my_peer.mid.hex(), pyipv8=importlib.metadata.version("pyipv8"))

    async def run(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        kind = command.get("cmd")
        if kind == "walk_to":
            host, port = command["address"]
            if not loopback_guard.is_loopback(host):
                raise ValueError(f"refusing non-loopback address {command['address']!r}")
            for overlay in self.ipv8.overlays:
                overlay.walk_to((host, int(port)))
            return None
        if kind == "peers":
            return {type(overlay).__name__: len(overlay.get_peers()) for overlay in self.ipv8.overlays}
        if kind == "dht_store_peer":
            dht = self.ipv8.get_overlay(DHTDiscoveryCommunity)
            return len(await dht.store_peer())
        if kind == "tunnel_candidates":
            return len(self.tunnels.candidates) if self.tunnels is not None else 0
        if kind == "build_circuit":
            circuit = self.tunnels.create_circuit(int(command.get("hops", 1)))
            if circuit is None or await circuit.ready is None:
                return None
            return circuit.circuit_id
        if kind == "stop":
            self.shutdown.request("stop command")
            return None
        raise ValueError(f"unknown command {kind!r}")

    async def stop(self) -> None:
        await self.rest.stop()
        await self.ipv8.stop()


async def main() -> None:
    node = Node()
    await node.start()
    reason = await command_loop.serve_until_shutdown(node.run, node.shutdown)
    await command_loop.stop_within(node.stop(), 2.0, "stopping pyipv8")
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report())


if __name__ == "__main__":
    command_loop.run_to_exit(main())
