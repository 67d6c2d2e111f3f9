"""``twistd trustchain_crawler``: discovery by twistd, its configuration, and a crawler that really crawls."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twisted.application.service import IServiceMaker
from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater
from twisted.plugin import getPlugins
from twisted.trial import unittest

from ipv8.attestation.trustchain.community import TrustChainCommunity, TrustChainCrawler, TrustChainTestnetCrawler
from ipv8.attestation.trustchain.crawler_plugin import TrustChainCrawlerOptions, TrustChainCrawlerServiceMaker
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.scripts.ipv8_plugin import RESTService
from ipv8.service import IPv8Service
from tests.REST.support import HTTPClient

from .test_community import Recorder


def parse(*arguments: str) -> TrustChainCrawlerOptions:
    options = TrustChainCrawlerOptions()
    options.parseOptions(list(arguments))
    return options


def test_twistd_finds_the_plugin() -> None:
    import twisted.plugins
    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker, twisted.plugins)}
    assert isinstance(makers["trustchain_crawler"], TrustChainCrawlerServiceMaker)


def test_configuration() -> None:
    config = parse("--bootstrap", "127.0.0.1:6421").configuration
    assert [overlay["class"] for overlay in config["overlays"]] == ["DiscoveryCommunity", "TrustChainCrawler"]
    assert config["keys"][0]["file"] == "crawler_key.pem"
    trackers = [entry["init"]["ip_addresses"] for overlay in config["overlays"] for entry in overlay["bootstrappers"]]
    assert trackers == [[("127.0.0.1", 6421)]] * 2
    testnet = parse("--testnet", "--bootstrap", "127.0.0.1:6421").configuration
    assert testnet["overlays"][1]["class"] == "TrustChainTestnetCrawler"
    assert TrustChainTestnetCrawler.community_id != TrustChainCrawler.community_id


class TestCrawlerService(unittest.TestCase):
    """The service tree of the plugin, started in this process, crawls a node that walks to it."""

    timeout = 30

    async def test_crawls_and_serves_rest(self) -> None:
        directory = Path(self.mktemp())
        options = parse("--ip", "127.0.0.1", "--port", "0", "--working-dir", str(directory), "--bootstrap",
                        "127.0.0.1:1", "--rest-port", "0", "--rest-interface", "127.0.0.1", "--api-key", "k")
        tree = TrustChainCrawlerServiceMaker().makeService(options)
        node, rest = list(tree)
        assert isinstance(node, IPv8Service) and isinstance(rest, RESTService)
        crawler = next(overlay for overlay in node.ipv8.overlays if isinstance(overlay, TrustChainCrawler))
        tree.startService()
        self.addCleanup(tree.stopService)
        await node.when_started()

        # A node with a chain of its own (three pairs with a partner) walks to the crawler.
        communities = []
        for _ in range(2):
            endpoint = UDPEndpoint(port=0, ip="127.0.0.1")
            await endpoint.open()
            community = TrustChainCommunity(TrustChainCommunity.settings_class(
                my_peer=Peer(default_eccrypto.generate_key("curve25519"), UDPv4Address(*endpoint.get_address())),
                endpoint=endpoint, network=Network()))
            communities.append(community)
            self.addCleanup(lambda c=community: ensureDeferred(self.close(c)))
        member, partner = communities
        partner.add_listener(Recorder(True), [b"test"])
        for number in range(3):
            await member.sign_block(Peer(partner.my_public_key_bin, partner.endpoint.get_address()),
                                    block_type=b"test", transaction={"n": number})
        crawler_address = UDPv4Address("127.0.0.1", node.ipv8.endpoint.get_address()[1])
        member_key = member.my_public_key_bin
        for _ in range(200):
            if crawler.persistence.get_number_of_known_blocks(member_key) >= 3:
                break
            member.walk_to(crawler_address)
            await deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(crawler.persistence.get_number_of_known_blocks(member_key), 3)

        client = HTTPClient(rest.manager.url)
        result = await client.request("GET", "/trustchain/users", headers={"X-Api-Key": "k"})
        self.assertEqual(result.status, 200, result.body)
        users = {user["public_key"]: user["latest_block"] for user in json.loads(result.body)["users"]}
        self.assertEqual(users[member_key.hex()], 3)

    @staticmethod
    async def close(community: Any) -> None:  # noqa: ANN401
        await community.unload()
        await community.endpoint.close()
