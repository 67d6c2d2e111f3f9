"""
One pyipv8 3.2.1 ``IdentityCommunity`` on 127.0.0.1, driven by tests/attestation/identity/test_identity_interop.py.
Run it ONLY with ``.venv-ref/bin/python``.

Usage: ``python ref_identity_node.py '<JSON configuration>'`` with the optional key ``deadline`` (seconds after
which the process stops by itself, default 30).

It reuses the interop drivers' helpers (tests/interop/reference: loopback guard, sandbox, command loop) and
speaks their line protocol: a ``ready`` event (address, mid, public key), then JSON commands on stdin. Bytes
travel as hex, peers as ``address`` ``[host, port]`` plus ``public_key`` (hex). The database is in memory.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import importlib.metadata
import json
import os
from typing import Any

import command_loop
import pyipv8_sandbox

pyipv8_sandbox.confine("ref_identity_node.py")

from ipv8.attestation.identity.community import IdentityCommunity, IdentitySettings
from ipv8.attestation.identity.manager import IdentityManager
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

LOOPBACK = "127.0.0.1"


def authority_hex(database: Any, attestation: Any) -> str:
    """pyipv8's ``get_authority`` gives the key bytes (or, depending on the cursor, a one-column row)."""
    found = database.get_authority(attestation)
    return (found if isinstance(found, bytes) else found[0]).hex()


def peer_from(command: dict[str, Any]) -> Peer:
    address = command["address"]
    if not loopback_guard.is_loopback(address[0]):
        raise ValueError(f"refusing the non-loopback address {address!r}")
    return Peer(bytes.fromhex(command["public_key"]), UDPv4Address(address[0], int(address[1])))


class Runner(command_loop.CommandDispatcher):
    """The test's commands."""

    def __init__(self, community: IdentityCommunity, endpoint: Any, shutdown: command_loop.Shutdown) -> None:
        super().__init__(shutdown)
        self.community = community
        self.endpoint = endpoint

    def describe(self) -> dict[str, Any]:
        host, port = self.endpoint.get_address()
        return {"address": [host, port], "mid": self.community.my_peer.mid.hex(),
                "public_key": self.community.my_peer.public_key.key_to_bin().hex()}

    async def cmd_report(self, command: dict[str, Any]) -> Any:
        """Our credentials: attribute hash, metadata JSON and the authorities (hex keys) that attested each."""
        pseudonym = self.community.pseudonym_manager
        database = self.community.identity_manager.database
        credentials = []
        for credential in pseudonym.get_credentials():
            token = pseudonym.tree.elements[credential.metadata.token_pointer]
            credentials.append({"attribute": token.content_hash.hex(),
                                "metadata": json.loads(credential.metadata.serialized_json_dict),
                                "authorities": sorted(authority_hex(database, a) for a in credential.attestations)})
        made = sorted(a.metadata_pointer.hex() for a in database.get_attestations_by(self.community.my_peer.public_key))
        return {**self.describe(), "credentials": credentials, "attested": made,
                "refusals": loopback_guard.report()}

    async def cmd_add_known_hash(self, command: dict[str, Any]) -> Any:
        self.community.add_known_hash(bytes.fromhex(command["hash"]), command["name"],
                                      bytes.fromhex(command["owner"]), command.get("metadata"))

    async def cmd_advertise(self, command: dict[str, Any]) -> Any:
        """Add ``count`` credentials to our chain without asking anyone."""
        for index in range(int(command["count"])):
            self.community.self_advertise(os.urandom(32), f"filler{index}")

    async def cmd_request_attestation(self, command: dict[str, Any]) -> Any:
        self.community.request_attestation_advertisement(peer_from(command), bytes.fromhex(command["hash"]),
                                                         command["name"], "id_metadata", command.get("metadata"))

    async def cmd_disclose(self, command: dict[str, Any]) -> Any:
        """The disclosure of our credential for attribute ``hash``, with all its attestations."""
        pseudonym = self.community.pseudonym_manager
        metadata = self.community.get_attestation_by_hash(bytes.fromhex(command["hash"]))
        credential = pseudonym.get_credential(metadata)
        parts = pseudonym.disclose_credentials([credential], {a.get_hash() for a in credential.attestations})
        return [part.hex() for part in parts]

    async def cmd_substantiate(self, command: dict[str, Any]) -> Any:
        """Read someone's disclosure into a fresh manager: whether it was correct, and the authorities seen."""
        manager = IdentityManager(":memory:")
        key = default_eccrypto.key_from_public_bin(bytes.fromhex(command["public_key"]))
        correct, pseudonym = manager.substantiate(key, *(bytes.fromhex(part) for part in command["parts"]))
        out = []
        for credential in pseudonym.get_credentials():
            token = pseudonym.tree.elements.get(credential.metadata.token_pointer)
            out.append({"attribute": None if token is None else token.content_hash.hex(),
                        "metadata": json.loads(credential.metadata.serialized_json_dict),
                        "authorities": sorted(authority_hex(manager.database, a)
                                              for a in credential.attestations)})
        return {"correct": correct, "credentials": out}


async def main(config: dict[str, Any]) -> None:
    shutdown = command_loop.Shutdown(float(config.get("deadline", 30.0)))
    endpoint = UDPEndpoint(0, LOOPBACK)
    await endpoint.open()
    host, port = endpoint.get_address()
    if host != LOOPBACK:
        raise SystemExit(f"the endpoint is bound to {host}, not {LOOPBACK}")
    loopback_guard.guard_endpoint(endpoint)
    address = UDPv4Address(LOOPBACK, port)
    community = IdentityCommunity(IdentitySettings(my_peer=Peer(default_eccrypto.generate_key("curve25519"), address),
                                                   endpoint=endpoint, network=Network(),
                                                   working_directory=":memory:"))
    community.my_estimated_lan = community.my_estimated_wan = address
    runner = Runner(community, endpoint, shutdown)
    command_loop.emit("ready", **runner.describe(), pyipv8=importlib.metadata.version("pyipv8"), pid=os.getpid())
    reason = await command_loop.serve_until_shutdown(runner.run, shutdown)

    async def stop() -> None:
        await community.unload()
        endpoint.close()
    await command_loop.stop_within(stop(), 2.0, "stopping pyipv8")
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report())


if __name__ == "__main__":
    command_loop.run_to_exit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
