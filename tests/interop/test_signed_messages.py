"""Scenario 3: 1,000 signed ``@dataclass`` messages each way between txipv8 and pyipv8 3.2.1, none lost."""
from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.task import deferLater

from .harness import InteropCommunity, InteropTestCase, make_chat

COUNT = 1000
BURST = 50
PAUSE = 0.005


class TestSignedMessages(InteropTestCase):
    async def test_thousand_chats_each_way(self) -> None:
        ref = await self.start_ref_peer("pyipv8", overlays=["interop"])
        node = await self.start_tx_node()
        community = node.add(InteropCommunity)

        community.walk_to(ref.address)
        await self.wait_until(lambda: ref.mid in {peer.mid for peer in community.get_peers()}, 5,
                              "txipv8 verifying the pyipv8 peer")
        await ref.wait_for(lambda p: node.my_peer.mid in p.peer_mids(), 5, "pyipv8 verifying the txipv8 peer")
        [pyipv8_peer] = [peer for peer in community.get_peers() if peer.mid == ref.mid]

        # Both directions at once: pyipv8 sends from its process while we send from ours.
        pyipv8_sending = ref.command("send_chats", to=list(node.address), count=COUNT, burst=BURST, pause=PAUSE,
                                     timeout=15)
        for sequence in range(COUNT):
            community.ez_send(pyipv8_peer, make_chat(sequence))
            if sequence % BURST == BURST - 1:
                await deferLater(reactor, PAUSE, lambda: None)
        self.assertEqual({"sent": COUNT}, await pyipv8_sending)

        # txipv8 side: every chat arrived once, decoded to exactly what pyipv8 built, signed by the pyipv8 key.
        await self.wait_until(lambda: len(community.chats) >= COUNT, 10, f"{COUNT} chats at txipv8",
                              lambda: f"got {len(community.chats)}, drops {dict(community.drop_counts)}")
        self.assertEqual(list(range(COUNT)), sorted(chat.sequence for _, chat in community.chats))
        self.assertEqual({ref.mid}, {mid for mid, _ in community.chats})
        for _, chat in community.chats:
            self.assertEqual(make_chat(chat.sequence, "pyipv8"), chat)
        self.assertEqual((COUNT, 0), (node.log.chat_signatures_valid, node.log.chat_signatures_invalid))
        self.assertEqual({}, dict(community.drop_counts))

        # pyipv8 side: the same, as its report tells.
        chats: dict = {}
        end = reactor.seconds() + 10
        while reactor.seconds() < end:
            chats = (await ref.command("report"))["chats"]
            if chats["handled"] >= COUNT:
                break
            await deferLater(reactor, 0.1, lambda: None)
        self.assertEqual({"handled": COUNT, "distinct": COUNT, "duplicates": 0, "min": 0, "max": COUNT - 1,
                          "senders": {node.my_peer.mid.hex(): COUNT}, "bad_contents": [],
                          "signatures_valid": COUNT, "signatures_invalid": 0}, chats)
        await self.finish(ref)
