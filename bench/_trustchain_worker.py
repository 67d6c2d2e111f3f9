"""The countersigning side of ``bench/trustchain.py``: one TrustChain node in its own process.

Started by the benchmark with ``.venv/bin/python bench/_trustchain_worker.py '<JSON settings>'``. It opens a
UDP socket on 127.0.0.1, runs a ``TrustChainCommunity`` that countersigns every ``bench`` proposal, prints
one JSON line (``address``, ``public_key``) and runs until its stdin closes (with ``"preload": N`` in the
settings it first stores a chain of N blocks of its own, for the crawl measurement); when stdin closes it
prints a second line with its chain length and the CPU seconds it used and exits. With ``"profile": path`` it
runs under cProfile and writes the statistics to ``path`` at the end.
"""
from __future__ import annotations

import json
import os
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH_DIR))
sys.path.insert(1, os.path.join(os.path.dirname(BENCH_DIR), "tests", "interop", "reference"))

import _guard_verdicts  # noqa: F401 - installs the loopback guard (verdicts remembered per host)
import loopback_guard

from twisted.internet import reactor, stdio
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


class UntilStdinCloses(Protocol):
    def __init__(self, community: TrustChainCommunity, profile: str | None = None) -> None:
        self.community = community
        self.profiler = None
        self.profile = profile
        if profile:
            import cProfile
            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def connectionLost(self, reason: object = None) -> None:
        if self.profiler is not None:
            self.profiler.disable()
            self.profiler.dump_stats(self.profile)
        print(json.dumps({"chain_length": self.community.get_chain_length(), "cpu": time.process_time()}),
              flush=True)
        reactor.callLater(0, reactor.stop)


async def start(settings: dict) -> None:
    endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
    await endpoint.open()
    loopback_guard.guard_endpoint(endpoint)
    key = default_eccrypto.generate_key("curve25519")
    address = UDPv4Address(*endpoint.get_address())
    community = TrustChainCommunity(TrustChainCommunity.settings_class(
        my_peer=Peer(key, address), endpoint=endpoint, network=Network(),
        **{name: value for name, value in settings.items() if name not in ("preload", "profile")}))
    community.add_listener(SignEverything(), [b"bench"])
    preload = int(settings.get("preload", 0))
    if preload:
        # A long chain of our own to be crawled: proposals to a made-up key, stored in one transaction.
        from ipv8.attestation.trustchain.block import TrustChainBlock
        from ipv8.attestation.trustchain.memory import MemoryChainStore
        other = default_eccrypto.generate_key("curve25519").pub().key_to_bin()
        store, blocks = MemoryChainStore(), []
        for number in range(preload):
            block = TrustChainBlock.create(b"bench", {"number": number, "up": 1024}, store,
                                           community.my_public_key_bin, link_pk=other,
                                           timestamp=1_700_000_000_000 + number)
            block.sign(key)
            store.add(block)
            blocks.append(block)
        community.persistence.add_blocks(blocks)
    stdio.StandardIO(UntilStdinCloses(community, settings.get("profile")))
    print(json.dumps({"address": list(address), "public_key": key.pub().key_to_bin().hex()}), flush=True)


def main() -> None:
    settings = json.loads(sys.argv[1])
    from twisted.internet.defer import ensureDeferred
    reactor.callWhenRunning(lambda: ensureDeferred(start(settings)))
    reactor.run()


if __name__ == "__main__":
    main()
