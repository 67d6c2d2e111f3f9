"""
Several pyipv8 3.2.1 ``TunnelCommunity`` nodes in one process, driven by tests/interop/test_tunnel_interop.py.
Run it ONLY with ``.venv-ref/bin/python``.

Usage: ``python ref_tunnel_node.py '<JSON configuration>'`` with these (all optional) keys:

``deadline``   seconds after which the process stops by itself (default 30)
``endpoint``   ``"python"`` (pyipv8's ``UDPEndpoint``; the community wraps it in its Python crypto endpoint) or
               ``"rust"`` (``ipv8_rust_tunnels.endpoint.Endpoint``, the Rust data plane the deployed network
               uses: pyipv8 3.2.1 picks it whenever the community's endpoint is a ``CryptoEndpoint``)
``flags``      one list of peer flags per node (default ``[[1], [1], [1, 2]]``: two relays and an exit)

Every node has its own key and its own UDP socket on 127.0.0.1 and no walker: who knows whom is decided by the
test (``walk``). Exit sockets are bound to 127.0.0.1 with the Rust endpoint (``set_exit_address``) and to the
wildcard address with the Python one (pyipv8 3.2.1 has no setting for that); the sink the tests use is on
127.0.0.1 anyway. It speaks the line protocol of :mod:`command_loop`: JSON events on stdout (``ready`` with
every node's index, address and public key; ``reply``; ``exit`` with the loopback guard's refusal counters) and
JSON commands on stdin, naming a node by its index (``node``); keys and data travel as hex. See
:class:`CommandRunner` for the commands; ``report`` also lists the local address of every UDP socket of the
process (:func:`udp_sockets`), so the test can check where the Rust endpoint bound its sockets.

The loopback guard patches Python's sockets; the Rust endpoint's sockets are not Python sockets, so with it the
guard also checks every address handed to the endpoint (``send``, ``send_cell``), and every Rust socket is bound
to 127.0.0.1, from where the kernel cannot reach any other network.
"""
from __future__ import annotations

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import asyncio
import importlib.metadata
import json
import os
import socket
import sys
from typing import Any

import command_loop
import pyipv8_sandbox

pyipv8_sandbox.confine("ref_tunnel_node.py")

from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

LOOPBACK = "127.0.0.1"
#: Raw datagrams a node keeps for the test, at most.
MAX_RAW = 1000


class RecordingTunnelCommunity(TunnelCommunity):
    """pyipv8's TunnelCommunity, keeping what comes back through its circuits from outside the tunnels."""

    def __init__(self, settings: TunnelSettings) -> None:
        super().__init__(settings)
        self.raw: list[dict[str, Any]] = []

    def on_raw_data(self, circuit: Any, origin: Any, data: bytes) -> None:
        if len(self.raw) < MAX_RAW:
            self.raw.append({"circuit_id": circuit.circuit_id, "origin": [origin[0], origin[1]], "data": data.hex()})


def udp_sockets() -> list[str]:
    """
    The local address (``host``, without the port) of every UDP socket this process holds, Rust's included:
    the sockets behind ``/proc/self/fd`` looked up in ``/proc/self/net/udp`` and ``udp6``.
    """
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    hosts = []
    for table, family in (("udp", socket.AF_INET), ("udp6", socket.AF_INET6)):
        with open(f"/proc/self/net/{table}") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[9] not in inodes:
                    continue
                raw = bytes.fromhex(fields[1].split(":")[0])
                # The kernel prints the address as 32-bit words in host (little-endian) order.
                ordered = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                hosts.append(socket.inet_ntop(family, ordered))
    return sorted(hosts)


def guard_cells(endpoint: Any) -> None:
    """Refuse (and count) cells to non-loopback addresses before they reach a crypto endpoint."""
    original = endpoint.send_cell

    def send_cell(target: Any, cell: Any) -> Any:
        if not loopback_guard.is_loopback(target[0]):
            loopback_guard.refuse("send_cell", tuple(target))
            return None
        return original(target, cell)

    endpoint.send_cell = send_cell


async def open_loopback_endpoint(kind: str) -> Any:  # noqa: ANN401
    """pyipv8's Python ("python") or Rust ("rust") endpoint on 127.0.0.1, its sends guarded."""
    if kind == "rust":
        from ipv8_rust_tunnels.endpoint import Endpoint as RustEndpoint

        # Two worker threads: the machine running the suite is small and shared.
        endpoint = RustEndpoint(0, LOOPBACK, worker_threads=2)
        await endpoint.open()
        endpoint.set_exit_address((LOOPBACK, 0))
    elif kind == "python":
        endpoint = UDPEndpoint(0, LOOPBACK)
        await endpoint.open()
    else:
        raise SystemExit(f"unknown endpoint kind {kind!r}")
    host = endpoint.get_address()[0]
    if host != LOOPBACK:
        raise SystemExit(f"the {kind} endpoint is bound to {host}, not {LOOPBACK}")
    loopback_guard.guard_endpoint(endpoint)
    return endpoint


class ReferenceTunnelNode:
    """One pyipv8 TunnelCommunity on its own endpoint."""

    def __init__(self, index: int, flags: list[int], endpoint_kind: str) -> None:
        self.index = index
        self.flags = set(flags)
        self.endpoint_kind = endpoint_kind
        self.endpoint: Any = None
        self.community: RecordingTunnelCommunity | None = None

    async def start(self) -> None:
        self.endpoint = await open_loopback_endpoint(self.endpoint_kind)
        port = self.endpoint.get_address()[1]
        address = UDPv4Address(LOOPBACK, port)
        key = default_eccrypto.generate_key("curve25519")
        settings = TunnelSettings(my_peer=Peer(key, address), endpoint=self.endpoint, network=Network(),
                                  remove_tunnel_delay=0, max_circuits=0)
        settings.peer_flags = set(self.flags)
        self.community = RecordingTunnelCommunity(settings)
        guard_cells(self.community.crypto_endpoint)
        # On one host the WAN address is the socket's own address.
        self.community.my_estimated_lan = self.community.my_estimated_wan = address

    @property
    def rust(self) -> bool:
        return self.endpoint_kind == "rust"

    def address(self) -> list[Any]:
        host, port = self.endpoint.get_address()
        return [host, port]

    def public_key(self) -> str:
        return self.community.my_peer.public_key.key_to_bin().hex()

    def describe(self) -> dict[str, Any]:
        return {"index": self.index, "address": self.address(), "public_key": self.public_key(),
                "flags": sorted(self.flags)}

    def report(self) -> dict[str, Any]:
        community = self.community
        circuits = [{"circuit_id": circuit.circuit_id, "state": str(circuit.state), "goal_hops": circuit.goal_hops,
                     "hops": [hop.public_key_bin.hex() for hop in circuit.hops]}
                    for circuit in list(community.circuits.values())]
        return {
            **self.describe(),
            "candidates": {peer.public_key.key_to_bin().hex(): sorted(flags)
                           for peer, flags in community.candidates.items()},
            "circuits": circuits,
            "relays": len(community.relay_from_to),
            "exits": len(community.exit_sockets),
            "raw": list(community.raw),
        }

    async def stop(self) -> None:
        if self.community is not None:
            await self.community.unload()
        if self.endpoint is not None:
            if self.rust:
                await self.endpoint.close(grace_period=1)
            else:
                self.endpoint.close()


class NodeCommands(command_loop.CommandDispatcher):
    """The commands every reference driver with a list of nodes answers (this one and ``ref_hidden_node``).

    Every command names the node it runs on with ``node`` (an index); addresses must be loopback ones.
    """

    def __init__(self, nodes: list[Any], shutdown: command_loop.Shutdown) -> None:
        super().__init__(shutdown)
        self.nodes = nodes

    def node(self, command: dict[str, Any]) -> Any:  # noqa: ANN401
        return self.nodes[int(command.get("node", 0))]

    @staticmethod
    def loopback_address(address: list[Any]) -> UDPv4Address:
        if not loopback_guard.is_loopback(address[0]):
            raise ValueError(f"refusing non-loopback address {address!r}")
        return UDPv4Address(str(address[0]), int(address[1]))

    async def cmd_report(self, command: dict[str, Any]) -> Any:
        return {"nodes": [node.report() for node in self.nodes], "refusals": loopback_guard.report(),
                "udp_sockets": udp_sockets()}

    async def cmd_walk(self, command: dict[str, Any]) -> Any:
        """An introduction request from ``node`` to each of ``addresses`` (both sides learn the other's flags)."""
        community = self.node(command).community
        for address in command["addresses"]:
            community.walk_to(self.loopback_address(address))
        return None


class CommandRunner(NodeCommands):
    """Executes the test's commands on :class:`ReferenceTunnelNode` s."""

    async def cmd_build(self, command: dict[str, Any]) -> Any:
        """``create_circuit(hops)`` on ``node``: the new circuit's id (it is EXTENDING), or null."""
        circuit = self.node(command).community.create_circuit(int(command["hops"]))
        return None if circuit is None else circuit.circuit_id

    async def cmd_send(self, command: dict[str, Any]) -> Any:
        """``send_data`` of every datagram in ``data`` (hex) through circuit ``circuit_id`` to ``destination``."""
        community = self.node(command).community
        circuit = community.circuits.get(int(command["circuit_id"]))
        if circuit is None or circuit.hop is None:
            raise LookupError(f"no usable circuit {command['circuit_id']}")
        destination = self.loopback_address(command["destination"])
        for data in command["data"]:
            community.send_data(circuit.hop.address, circuit.circuit_id, destination, ("0.0.0.0", 0),
                                bytes.fromhex(data))
        return len(command["data"])


async def main(config: dict[str, Any]) -> None:
    shutdown = command_loop.Shutdown(float(config.get("deadline", 30.0)))
    kind = str(config.get("endpoint", "python"))
    nodes = [ReferenceTunnelNode(index, flags, kind)
             for index, flags in enumerate(config.get("flags", [[1], [1], [1, 2]]))]
    for node in nodes:
        await node.start()
    command_loop.emit("ready", nodes=[node.describe() for node in nodes], address=nodes[0].address(),
                      mid=nodes[0].community.my_peer.mid.hex(), endpoint=kind,
                      pyipv8=importlib.metadata.version("pyipv8"),
                      rust_tunnels=importlib.metadata.version("ipv8-rust-tunnels"), pid=os.getpid())
    reason = await command_loop.serve_until_shutdown(CommandRunner(nodes, shutdown).run, shutdown)
    # All at once: the test kills the process if it has not exited within a few seconds.
    outcomes = await asyncio.gather(*(asyncio.wait_for(node.stop(), 1.5) for node in nodes), return_exceptions=True)
    for node, outcome in zip(nodes, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            print(f"stopping pyipv8 tunnel node {node.index} failed: {outcome!r}", file=sys.stderr)
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report())


if __name__ == "__main__":
    command_loop.run_to_exit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
