"""The /trustchain REST routes in front of real TrustChain nodes on the in-memory internet."""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater

from ipv8.attestation.trustchain.community import TrustChainCommunity
from ipv8.attestation.trustchain.rest import MAX_LIMIT
from ipv8.REST.rest_manager import RESTManager
from ipv8.test.base import TestBase

from tests.REST.support import HTTPClient
from .test_community import Recorder

BLOCK_KEYS = {"public_key", "sequence_number", "link_public_key", "link_sequence_number", "previous_hash",
              "signature", "type", "transaction", "timestamp", "insert_time", "hash"}


class TestTrustChainRest(TestBase[TrustChainCommunity]):
    """Node 0 serves the REST API; it signs pairs with node 1."""

    async def setUp(self) -> None:
        super().setUp()
        self.initialize(TrustChainCommunity, 2)
        self.overlay(1).add_listener(Recorder(True), [b"test"])
        self.manager = RESTManager(self.node(0))
        await self.manager.start(0)
        self.addCleanup(self.manager.stop)
        self.client = HTTPClient(self.manager.url)

    async def get(self, path: str, status: int = 200) -> Any:  # noqa: ANN401
        pending = ensureDeferred(self.client.get(path))
        while not pending.called:
            await deferLater(reactor, 0.002, lambda: None)
        result = await pending
        self.assertEqual(result.status, status, result.body)
        self.assertNotIn(b"Traceback", result.body)
        return result.json

    async def sign_pairs(self, count: int) -> list:
        pairs = []
        for number in range(count):
            signed = self.overlay(0).sign_block(self.peer(1), block_type=b"test", transaction={"n": number})
            await self.deliver_messages()
            pairs.append(await signed)
        return pairs

    async def test_recent_blocks(self) -> None:
        pairs = await self.sign_pairs(3)
        blocks = (await self.get("/trustchain/recent?limit=4"))["blocks"]
        self.assertEqual(len(blocks), 4)
        self.assertEqual(set(blocks[0]), BLOCK_KEYS)
        known = {block.hash.hex() for pair in pairs for block in pair}
        self.assertTrue({block["hash"] for block in blocks} <= known)
        self.assertEqual(len((await self.get("/trustchain/recent?limit=10&offset=4"))["blocks"]), 2)

    async def test_block_by_hash(self) -> None:
        [(proposal, agreement)] = await self.sign_pairs(1)
        block = (await self.get(f"/trustchain/blocks/{agreement.hash.hex()}"))["block"]
        self.assertEqual(block["link_sequence_number"], proposal.sequence_number)
        self.assertEqual(block["transaction"], {"n": 0})
        self.assertEqual(block["public_key"], self.key_bin(1).hex())
        await self.get(f"/trustchain/blocks/{'00' * 32}", status=404)
        await self.get("/trustchain/blocks/nothex", status=400)
        await self.get(f"/trustchain/blocks/{'00' * 31}", status=400)

    async def test_users_and_their_blocks(self) -> None:
        await self.sign_pairs(3)
        users = (await self.get("/trustchain/users"))["users"]
        self.assertEqual({user["public_key"] for user in users}, {self.key_bin(0).hex(), self.key_bin(1).hex()})
        self.assertEqual({user["latest_block"] for user in users}, {3})
        blocks = (await self.get(f"/trustchain/users/{self.key_bin(0).hex()}/blocks?limit=2"))["blocks"]
        self.assertEqual([block["sequence_number"] for block in blocks], [3, 2])

    async def test_limits(self) -> None:
        await self.get(f"/trustchain/recent?limit={MAX_LIMIT + 1}", status=400)
        await self.get("/trustchain/recent?limit=-1", status=400)
        await self.get("/trustchain/recent?offset=100000000", status=400)
        await self.get("/trustchain/users/abcd/blocks", status=400)

    async def test_without_community(self) -> None:
        await self.overlay(0).unload()
        self.node(0).overlays.clear()
        answer = await self.get("/trustchain/users", status=404)
        self.assertFalse(answer["success"])
