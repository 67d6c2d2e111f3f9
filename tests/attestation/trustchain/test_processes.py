"""Two nodes in two processes over real UDP on 127.0.0.1 sign 1,000 pairs; both chains validate; a third node
crawls both chains and ends up with exactly the blocks the two hold."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults
from twisted.internet.protocol import ProcessProtocol
from twisted.trial import unittest

from ipv8.attestation.trustchain.community import TrustChainCommunity
from ipv8.attestation.trustchain.database import TrustChainDB
from ipv8.attestation.trustchain.memory import validate_database
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

SIGNER = Path(__file__).with_name("signer_node.py")
REPO_ROOT = Path(__file__).resolve().parents[3]
PAIRS = 1000


class SignerProcess(ProcessProtocol):
    """The countersigning node's process: its hello line, and a Deferred that fires when it has exited."""

    def __init__(self) -> None:
        self.hello: Deferred = Deferred()
        self.ended: Deferred = Deferred()
        self.output = b""
        self.errors = b""

    def outReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self.output += data
        if b"\n" in self.output and not self.hello.called:
            self.hello.callback(json.loads(self.output.split(b"\n")[0]))

    def errReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        self.errors += data

    def processEnded(self, reason: Any) -> None:  # noqa: N802, ANN401 - Twisted's name
        if not self.hello.called:
            self.hello.errback(RuntimeError(self.errors.decode(errors="replace")))
        self.ended.callback(None)


class TestTwoProcesses(unittest.TestCase):
    """A proposer here, a countersigner in a subprocess, a crawler here."""

    timeout = 60

    async def node(self, directory: Path) -> TrustChainCommunity:
        endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
        await endpoint.open()
        community = TrustChainCommunity(TrustChainCommunity.settings_class(
            my_peer=Peer(default_eccrypto.generate_key("curve25519"), UDPv4Address(*endpoint.get_address())),
            endpoint=endpoint, network=Network(), working_directory=str(directory), broadcast_rate_limit=100_000.0))

        async def close() -> None:
            await community.unload()
            await endpoint.close()
        self.addCleanup(lambda: Deferred.fromCoroutine(close()))
        return community

    async def test_thousand_pairs_then_crawl(self) -> None:
        root = Path(self.mktemp())
        signer = SignerProcess()
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        process = reactor.spawnProcess(signer, sys.executable, [sys.executable, str(SIGNER), str(root / "signer")],
                                       env=env, path=str(REPO_ROOT))

        def stop_signer() -> Deferred:
            if process.pid is not None:  # still running: the test failed halfway
                process.signalProcess("KILL")
            return signer.ended
        self.addCleanup(stop_signer)
        hello = await signer.hello
        counterpart = Peer(bytes.fromhex(hello["public_key"]), UDPv4Address(*hello["address"]))
        proposer = await self.node(root / "proposer")

        window = DeferredSemaphore(32)
        pairs = await gatherResults([window.run(proposer.sign_block, counterpart, block_type=b"test",
                                                transaction={"n": number}) for number in range(PAIRS)],
                                    consumeErrors=True)
        self.assertEqual(len({agreement.hash for _, agreement in pairs}), PAIRS)

        crawler = await self.node(root / "crawler")
        await crawler.crawl_chain(counterpart, latest_block_num=PAIRS)
        await crawler.crawl_chain(Peer(proposer.my_public_key_bin, proposer.endpoint.get_address()),
                                  latest_block_num=PAIRS)
        crawled = {block.hash for block in crawler.persistence.get_all_blocks()}

        process.closeStdin()  # the signer commits, closes its database and exits
        await signer.ended
        signer_db = TrustChainDB(root / "signer" / "sqlite" / "trustchain.db")
        self.addCleanup(signer_db.close)
        for db in (proposer.persistence, signer_db):
            self.assertEqual(db.get_number_of_known_blocks(), 2 * PAIRS)
            verdicts = validate_database(db)
            self.assertTrue(all(verdict.acceptable for verdict in verdicts.values()))
            self.assertEqual(set(verdicts), crawled)
