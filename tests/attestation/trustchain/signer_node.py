"""A TrustChain node that countersigns every ``test`` proposal, in its own process (for test_processes).

Usage: ``python signer_node.py <working directory>``. Prints one JSON line (``address``, ``public_key``) once it
listens on 127.0.0.1, and stops (committing its database) when its stdin closes.
"""
from __future__ import annotations

import json
import sys

from twisted.internet import reactor, stdio
from twisted.internet.defer import ensureDeferred
from twisted.internet.protocol import Protocol

from ipv8.attestation.trustchain.community import TrustChainCommunity
from ipv8.attestation.trustchain.listener import BlockListener
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network


class SignEverything(BlockListener):
    def should_sign(self, block: object) -> bool:
        return True


class StopWithStdin(Protocol):
    def __init__(self, community: TrustChainCommunity) -> None:
        self.community = community

    def connectionLost(self, reason: object = None) -> None:  # noqa: N802 - Twisted's name
        self.community.unload().addBoth(lambda _: reactor.stop())


async def start(directory: str) -> None:
    endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
    await endpoint.open()
    key = default_eccrypto.generate_key("curve25519")
    address = UDPv4Address(*endpoint.get_address())
    community = TrustChainCommunity(TrustChainCommunity.settings_class(
        my_peer=Peer(key, address), endpoint=endpoint, network=Network(), working_directory=directory,
        broadcast_rate_limit=100_000.0, max_pending_countersigns=256))
    community.add_listener(SignEverything(), [b"test"])
    stdio.StandardIO(StopWithStdin(community))
    print(json.dumps({"address": list(address), "public_key": key.pub().key_to_bin().hex()}), flush=True)


if __name__ == "__main__":
    reactor.callWhenRunning(lambda: ensureDeferred(start(sys.argv[1])))
    reactor.run()
