"""pyipv8 1.10.0's TrustChain, measured for ``bench/trustchain.py --reference``.  Run it ONLY with
``.venv-ipv8-1x/bin/python`` (``make legacy-1x-venv``).

Measures, with pyipv8 1.10 as a library: block-by-block validation of a chain against its own database
(``TrustChainBlock.validate``), signed pairs per second between two ``TrustChainCommunity`` instances in one
process over UDP on 127.0.0.1 (one pair at a time: 1.10 signs under a lock), and database bytes per block.
Prints one result line for the benchmark.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
# Never import txipv8 (same package name): drop the repository from the path.
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") not in (REPO_ROOT, HERE)]
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "interop", "reference"))

import loopback_guard

loopback_guard.install()

import ipv8

if "site-packages" not in pathlib.Path(ipv8.__file__).parts:
    sys.exit(f"trustchain_1x.py must run on the pyipv8 1.10 interpreter, not with {ipv8.__file__}")

import ipv8.community as pyipv8_community
import ipv8.messaging.interfaces.endpoint as pyipv8_endpoint

pyipv8_community._DEFAULT_ADDRESSES[:] = []
pyipv8_community._DNS_ADDRESSES[:] = []
pyipv8_endpoint.EndpointListener._get_lan_address = lambda self, bootstrap=False: ("127.0.0.1", self.endpoint._port)

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks, maybeDeferred

from ipv8.attestation.trustchain.block import TrustChainBlock
from ipv8.attestation.trustchain.community import TrustChainCommunity
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.listener import BlockListener
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

RESULT_MARKER = "BENCH-RESULT "


class SignEverything(BlockListener):
    def should_sign(self, block):
        return True

    def received_block(self, block):
        pass


def bench_validation(count, directory):
    key, other = default_eccrypto.generate_key("curve25519"), default_eccrypto.generate_key("curve25519")
    public_key, other_key = key.pub().key_to_bin(), other.pub().key_to_bin()
    db = TrustChainDB(directory, "validate", public_key)
    blocks = []
    for number in range(count):
        block = TrustChainBlock.create(b"bench", {"number": number, "up": 1024}, db, public_key, link_pk=other_key)
        block.sign(key)
        db.add_block(block)
        blocks.append(block)
    start = time.perf_counter()
    for block in blocks:
        block.validate(db)
    seconds = time.perf_counter() - start
    db.close()
    return count / seconds


@inlineCallbacks
def bench_pairs(count, directory):
    nodes = []
    for name in ("a", "b"):
        endpoint = UDPEndpoint(0, "127.0.0.1")
        yield maybeDeferred(endpoint.open)
        loopback_guard.guard_endpoint(endpoint)
        key = default_eccrypto.generate_key("curve25519")
        community = TrustChainCommunity(Peer(key, endpoint.get_address()), endpoint, Network(),
                                        working_directory=os.path.join(directory, name))
        community.add_listener(SignEverything(), [b"bench"])
        nodes.append(community)
    proposer, signer = nodes
    peer = Peer(signer.my_peer.public_key.key_to_bin(), signer.endpoint.get_address())
    start = time.perf_counter()
    for number in range(count):
        yield proposer.sign_block(peer, public_key=peer.public_key.key_to_bin(), block_type=b"bench",
                                  transaction={"n": number})
    seconds = time.perf_counter() - start
    stored = proposer.persistence.get_number_of_known_blocks()
    for community in nodes:
        community.unload()
    db_file = os.path.join(directory, "a", "sqlite", "trustchain.db")
    size = sum(os.path.getsize(path) for path in (db_file, db_file + "-wal") if os.path.exists(path))
    return count / seconds, size / max(stored, 1)


def main():
    quick = "--quick" in sys.argv
    result = {}
    with tempfile.TemporaryDirectory() as directory:
        os.makedirs(os.path.join(directory, "sqlite"))
        result["validate_per_s"] = bench_validation(1000 if quick else 5000, directory)

        def done(outcome):
            result["pairs_per_s"], result["db_bytes_per_block"] = outcome
            reactor.stop()

        def failed(failure):
            result["error"] = failure.getTraceback()
            reactor.stop()

        reactor.callWhenRunning(lambda: bench_pairs(200 if quick else 1000, directory).addCallbacks(done, failed))
        reactor.run()
    if "error" in result:
        sys.stderr.write(result["error"])
        raise SystemExit(1)
    print(RESULT_MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
