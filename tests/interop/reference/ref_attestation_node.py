"""
One pyipv8 3.2.1 ``AttestationCommunity`` on 127.0.0.1, driven by tests/interop/test_attestation_interop.py.
Run it ONLY with ``.venv-ref/bin/python``.

Usage: ``python ref_attestation_node.py '<JSON configuration>'`` with the optional key ``deadline`` (seconds
after which the process stops by itself, default 30).

The community runs on pyipv8's own ``UDPEndpoint`` with an in-memory database. It speaks the line protocol
of :mod:`command_loop`: ``ready`` (address, mid, public key as hex), ``reply`` and ``exit`` events on stdout,
JSON commands on stdin (see :class:`CommandRunner`). Bytes travel as hex, peers as ``[host, port]`` plus the
hex public key.
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

pyipv8_sandbox.confine("ref_attestation_node.py")

from ipv8.attestation.wallet.community import AttestationCommunity, AttestationSettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

LOOPBACK = "127.0.0.1"


class ReferenceAttestationNode:
    """The pyipv8 community plus a record of everything its callbacks saw."""

    def __init__(self) -> None:
        self.endpoint: Any = None
        self.community: AttestationCommunity | None = None
        #: attribute name -> value (bytes) this node attests when asked.
        self.values: dict[str, bytes] = {}
        self.requests: list[dict[str, Any]] = []
        self.completed: list[dict[str, Any]] = []
        self.verify_requests: list[str] = []
        self.allow_verify = True

    async def start(self) -> None:
        self.endpoint = UDPEndpoint(0, LOOPBACK)
        await self.endpoint.open()
        host, port = self.endpoint.get_address()
        if host != LOOPBACK:
            raise SystemExit(f"the endpoint is bound to {host}, not {LOOPBACK}")
        loopback_guard.guard_endpoint(self.endpoint)
        address = UDPv4Address(LOOPBACK, port)
        settings = AttestationSettings(my_peer=Peer(default_eccrypto.generate_key("curve25519"), address),
                                       endpoint=self.endpoint, network=Network(), working_directory=":memory:")
        self.community = AttestationCommunity(settings)
        self.community.my_estimated_lan = self.community.my_estimated_wan = address
        self.community.set_attestation_request_callback(self.on_request)
        self.community.set_attestation_request_complete_callback(self.on_complete)
        self.community.set_verify_request_callback(self.on_verify_request)

    def on_request(self, peer: Any, attribute_name: str, metadata: dict[str, str]) -> Any:
        self.requests.append({"mid": peer.mid.hex(), "attribute": attribute_name, "metadata": metadata})
        future = asyncio.get_running_loop().create_future()
        future.set_result(self.values.get(attribute_name))
        return future

    def on_complete(self, for_peer: Any, attribute_name: str, attestation_hash: bytes, id_format: str,
                    from_peer: Any = None) -> None:
        self.completed.append({"for": for_peer.mid.hex(), "attribute": attribute_name,
                               "hash": attestation_hash.hex(), "id_format": id_format,
                               "from": from_peer.mid.hex() if from_peer is not None else None})

    def on_verify_request(self, peer: Any, attestation_hash: bytes) -> Any:
        self.verify_requests.append(attestation_hash.hex())
        future = asyncio.get_running_loop().create_future()
        future.set_result(self.allow_verify)
        return future

    def address(self) -> list[Any]:
        host, port = self.endpoint.get_address()
        return [host, port]

    def describe(self) -> dict[str, Any]:
        return {"address": self.address(), "mid": self.community.my_peer.mid.hex(),
                "public_key": self.community.my_peer.public_key.key_to_bin().hex()}

    def report(self) -> dict[str, Any]:
        return {**self.describe(), "requests": self.requests, "completed": self.completed,
                "verify_requests": self.verify_requests,
                "attestations": sorted(h.hex() for h in self.community.attestation_keys)}

    async def stop(self) -> None:
        if self.community is not None:
            await self.community.unload()
        if self.endpoint is not None:
            self.endpoint.close()


def peer_from(command: dict[str, Any]) -> Peer:
    address = command["address"]
    if not loopback_guard.is_loopback(address[0]):
        raise ValueError(f"refusing the non-loopback address {address!r}")
    return Peer(bytes.fromhex(command["public_key"]), UDPv4Address(address[0], int(address[1])))


class CommandRunner(command_loop.CommandDispatcher):
    """The test's commands."""

    def __init__(self, node: ReferenceAttestationNode, shutdown: command_loop.Shutdown) -> None:
        super().__init__(shutdown)
        self.node = node

    async def cmd_report(self, command: dict[str, Any]) -> Any:
        return {**self.node.report(), "refusals": loopback_guard.report()}

    async def cmd_set_values(self, command: dict[str, Any]) -> Any:
        """What to attest: ``values`` maps attribute names to hex values; ``allow_verify`` answers verify requests."""
        self.node.values = {name: bytes.fromhex(value) for name, value in command.get("values", {}).items()}
        self.node.allow_verify = bool(command.get("allow_verify", True))
        return None

    async def cmd_request_attestation(self, command: dict[str, Any]) -> Any:
        """Ask the peer to attest ``attribute`` in ``id_format``; waits until it is stored, returns its hash."""
        community = self.node.community
        id_format = command["id_format"]
        secret_key = await asyncio.get_running_loop().run_in_executor(
            None, community.get_id_algorithm(id_format).generate_secret_key)
        before = len(self.node.completed)
        metadata = dict(command.get("metadata", {}), id_format=id_format)
        community.request_attestation(peer_from(command), command["attribute"], secret_key, metadata)
        for _ in range(int(float(command.get("wait", 10.0)) / 0.02)):
            done = [entry for entry in self.node.completed[before:] if entry["attribute"] == command["attribute"]]
            if done:
                return done[0]
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no attestation of {command['attribute']!r} arrived")

    async def cmd_verify(self, command: dict[str, Any]) -> Any:
        """Verify the peer's attestation ``hash`` for ``values`` (hex); returns the certainties."""
        community = self.node.community
        result: asyncio.Future = asyncio.get_running_loop().create_future()

        def callback(attestation_hash: bytes, certainties: list[float]) -> None:
            if not result.done():
                result.set_result(certainties)
        peer = peer_from(command)
        community.verify_attestation_values(peer.address, bytes.fromhex(command["hash"]),
                                            [bytes.fromhex(value) for value in command["values"]], callback,
                                            command["id_format"])
        return {"certainties": await asyncio.wait_for(result, float(command.get("wait", 10.0)))}


async def main(config: dict[str, Any]) -> None:
    shutdown = command_loop.Shutdown(float(config.get("deadline", 30.0)))
    node = ReferenceAttestationNode()
    await node.start()
    command_loop.emit("ready", **node.describe(), pyipv8=importlib.metadata.version("pyipv8"), pid=os.getpid())
    reason = await command_loop.serve_until_shutdown(CommandRunner(node, shutdown).run, shutdown)
    await command_loop.stop_within(node.stop(), 2.0, "stopping pyipv8")
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report())


if __name__ == "__main__":
    command_loop.run_to_exit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
