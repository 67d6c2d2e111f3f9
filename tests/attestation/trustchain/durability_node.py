"""Two TrustChain nodes in one process signing pairs over UDP on 127.0.0.1 until killed (for test_durability).

Usage: ``python durability_node.py <directory> [<window> <commit_batch_size>]``. Node ``a`` proposes (``window``
proposals in flight, default 1), node ``b`` countersigns; their keys and
databases live in ``<directory>/a`` and ``<directory>/b`` and are reused when the process is started again,
so every run extends the same two chains. After each agreement is back (and so durable on ``a``'s side) it
prints ``agreed <sequence number of the proposal>``.
"""
from __future__ import annotations

import os
import sys

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults

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


async def node(directory: str, commit_batch_size: int) -> TrustChainCommunity:
    os.makedirs(directory, exist_ok=True)
    key_file = os.path.join(directory, "key.bin")
    if os.path.exists(key_file):
        with open(key_file, "rb") as handle:
            key = default_eccrypto.key_from_private_bin(handle.read())
    else:
        key = default_eccrypto.generate_key("curve25519")
        with open(key_file, "wb") as handle:
            handle.write(key.key_to_bin())
    endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
    await endpoint.open()
    community = TrustChainCommunity(TrustChainCommunity.settings_class(
        my_peer=Peer(key, UDPv4Address(*endpoint.get_address())), endpoint=endpoint, network=Network(),
        working_directory=directory, commit_batch_size=commit_batch_size))
    community.add_listener(SignEverything(), [b"test"])
    return community


async def main(directory: str, window: int, commit_batch_size: int) -> None:
    proposer = await node(os.path.join(directory, "a"), commit_batch_size)
    signer = await node(os.path.join(directory, "b"), commit_batch_size)
    peer = Peer(signer.my_peer.public_key.key_to_bin(), signer.endpoint.get_address())

    def report(pair: tuple) -> None:
        sys.stdout.write(f"agreed {pair[0].sequence_number}\n")
        sys.stdout.flush()

    while True:
        # With a window, early commits (commit_batch_size) happen between the messages of one read.
        await gatherResults([proposer.sign_block(peer, block_type=b"test", transaction={"pad": "x" * 200})
                             .addCallback(report) for _ in range(window)])


if __name__ == "__main__":
    arguments = (sys.argv[1], *(int(argument) for argument in sys.argv[2:4])) if len(sys.argv) > 2 \
        else (sys.argv[1], 1, TrustChainCommunity.settings_class.commit_batch_size)
    reactor.callWhenRunning(lambda: ensureDeferred(main(*arguments)).addErrback(
        lambda failure: (failure.printTraceback(), reactor.stop())))
    reactor.run()
