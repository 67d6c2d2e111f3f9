"""
Scenario 4: old-style (246/245) and new-style (234/233) introductions between txipv8 and pyipv8 3.2.1.

Sizes are for curve25519 keys, IPv4 addresses and no extra bytes (facts sheet B.5, B.6, B.8).
"""
from __future__ import annotations

from .harness import InteropCommunity, InteropTestCase, RefPeer, TxNode

OLD_REQUEST, OLD_RESPONSE, NEW_REQUEST, NEW_RESPONSE = 246, 245, 234, 233
NEW_PUNCTURE_REQUEST, NEW_PUNCTURE = 232, 231
SIZE = {OLD_REQUEST: 192, OLD_RESPONSE: 204, NEW_REQUEST: 195, NEW_RESPONSE: 209, NEW_PUNCTURE_REQUEST: 47}


def source_key(node: TxNode) -> str:
    return f"{node.address[0]}:{node.address[1]}"


class TestIntroductionStyles(InteropTestCase):
    async def start_pair(self) -> tuple[RefPeer, TxNode, InteropCommunity, TxNode, InteropCommunity]:
        ref = await self.start_ref_peer("pyipv8", overlays=["interop"])  # no walker: it only answers
        old_node = await self.start_tx_node()
        new_node = await self.start_tx_node()
        return ref, old_node, old_node.add(InteropCommunity), new_node, new_node.add(InteropCommunity)

    async def test_txipv8_forces_each_style(self) -> None:
        ref, old_node, old, new_node, new = await self.start_pair()

        # 1. The "old" node walks with the IPv4 default: an old-style request.
        old.endpoint.send(ref.address, old.create_introduction_request(ref.address))
        await self.wait_until(lambda: bool(old.get_peers()), 5, "the old-style answer")
        # 2. The "new" node forces the new style. pyipv8 introduces the old node to it, and asks the old node
        #    (new style, 232) to puncture. pyipv8 names *its own* address as the walker's LAN address (it
        #    passes on the destination address of the request), and all of us share the WAN IP 127.0.0.1, so
        #    the old node's new-style puncture (231) goes to pyipv8 rather than to the new node.
        new.endpoint.send(ref.address, new.create_introduction_request(ref.address, new_style=True))
        await self.wait_until(lambda: bool(new.get_peers()), 5, "the new-style answer")
        await ref.wait_for(lambda p: {old_node.my_peer.mid, new_node.my_peer.mid} <= p.peer_mids(), 5,
                           "pyipv8 verifying both txipv8 nodes")
        await self.wait_until(lambda: old_node.log.ids_from(ref.address)[NEW_PUNCTURE_REQUEST] == 1, 5,
                              "pyipv8's puncture request")

        # pyipv8 received one request of each style, with the sizes pyipv8 itself would send.
        report = await self.report_when(ref, lambda r: f"interop:{NEW_PUNCTURE}" in r["received"].get(
            source_key(old_node), {}))
        self.assertEqual({f"interop:{OLD_REQUEST}": 1, f"interop:{NEW_PUNCTURE}": 1},
                         report["received"][source_key(old_node)])
        self.assertEqual({f"interop:{NEW_REQUEST}": 1}, report["received"][source_key(new_node)])
        self.assertEqual([SIZE[OLD_REQUEST]], report["sizes"][source_key(old_node)][f"interop:{OLD_REQUEST}"])
        self.assertEqual([SIZE[NEW_REQUEST]], report["sizes"][source_key(new_node)][f"interop:{NEW_REQUEST}"])
        # ... and its Peer objects say which style each node speaks.
        view = {peer["mid"]: peer for peer in report["overlays"]["interop"]["peers"]}
        self.assertFalse(view[old_node.my_peer.mid.hex()]["new_style_intro"])
        self.assertTrue(view[new_node.my_peer.mid.hex()]["new_style_intro"])

        # pyipv8 answered in the style it was asked in; the new node was introduced to the old one.
        self.assertEqual({OLD_RESPONSE: 1, NEW_PUNCTURE_REQUEST: 1}, old_node.log.ids_from(ref.address))
        self.assertEqual({NEW_RESPONSE: 1}, new_node.log.ids_from(ref.address))
        self.assertEqual({SIZE[OLD_RESPONSE]}, old_node.log.sizes_from(ref.address, OLD_RESPONSE))
        self.assertEqual({SIZE[NEW_RESPONSE]}, new_node.log.sizes_from(ref.address, NEW_RESPONSE))
        self.assertEqual({SIZE[NEW_PUNCTURE_REQUEST]}, old_node.log.sizes_from(ref.address, NEW_PUNCTURE_REQUEST))
        self.assertIn(old_node.address, new.get_walkable_addresses())
        # pyipv8's old-style response carries "supports new style" (flag 0x10): txipv8 switches to new style.
        [pyipv8_seen_by_old] = old.get_peers()
        [pyipv8_seen_by_new] = new.get_peers()
        self.assertTrue(pyipv8_seen_by_old.new_style_intro)
        self.assertTrue(pyipv8_seen_by_new.new_style_intro)
        self.assertEqual({}, dict(old.drop_counts))
        self.assertEqual({}, dict(new.drop_counts))

        # 3. The next walk of the "old" node follows peer.new_style_intro, so it is new style: pyipv8 notices,
        #    answers new style, and introduces the new node (which gets the 232 this time).
        old.send_introduction_request(pyipv8_seen_by_old)
        await ref.wait_for(lambda p: any(peer["mid"] == old_node.my_peer.mid.hex() and peer["new_style_intro"]
                                         for peer in p.peers.get("interop", [])), 5,
                           "pyipv8 marking the old node as new style")
        await self.wait_until(lambda: old_node.log.ids_from(ref.address)[NEW_RESPONSE] == 1, 5,
                              "pyipv8's new-style answer")
        await self.wait_until(lambda: new_node.log.ids_from(ref.address)[NEW_PUNCTURE_REQUEST] == 1, 5,
                              "pyipv8's puncture request to the new node")
        report = await self.report_when(ref, lambda r: f"interop:{NEW_PUNCTURE}" in r["received"].get(
            source_key(new_node), {}))
        self.assertEqual({f"interop:{OLD_REQUEST}": 1, f"interop:{NEW_REQUEST}": 1, f"interop:{NEW_PUNCTURE}": 1},
                         report["received"][source_key(old_node)])
        self.assertEqual({f"interop:{NEW_REQUEST}": 1, f"interop:{NEW_PUNCTURE}": 1},
                         report["received"][source_key(new_node)])
        self.assertIn(new_node.address, old.get_walkable_addresses())

    async def test_pyipv8_forces_each_style(self) -> None:
        ref, old_node, old, new_node, new = await self.start_pair()

        await ref.command("walk_to", address=list(old_node.address), new_style=False)
        await ref.command("walk_to", address=list(new_node.address), new_style=True)
        await self.wait_until(lambda: bool(old.get_peers()) and bool(new.get_peers()), 5,
                              "both txipv8 nodes verifying pyipv8")
        await ref.wait_for(lambda p: {old_node.my_peer.mid, new_node.my_peer.mid} <= p.peer_mids(), 5,
                           "pyipv8 verifying both txipv8 nodes")

        # txipv8 received one request of each style and files the sender accordingly.
        self.assertEqual({OLD_REQUEST: 1}, old_node.log.ids_from(ref.address))
        self.assertEqual({NEW_REQUEST: 1}, new_node.log.ids_from(ref.address))
        self.assertEqual({SIZE[OLD_REQUEST]}, old_node.log.sizes_from(ref.address, OLD_REQUEST))
        self.assertEqual({SIZE[NEW_REQUEST]}, new_node.log.sizes_from(ref.address, NEW_REQUEST))
        [pyipv8_seen_by_old] = old.get_peers()
        [pyipv8_seen_by_new] = new.get_peers()
        self.assertFalse(pyipv8_seen_by_old.new_style_intro)
        self.assertTrue(pyipv8_seen_by_new.new_style_intro)

        # txipv8 answered in the same style, at the sizes pyipv8 expects, and pyipv8 accepted both answers.
        report = (await self.finish(ref))["pyipv8"]
        self.assertEqual({f"interop:{OLD_RESPONSE}": 1}, report["received"][source_key(old_node)])
        self.assertEqual({f"interop:{NEW_RESPONSE}": 1}, report["received"][source_key(new_node)])
        self.assertEqual([SIZE[OLD_RESPONSE]], report["sizes"][source_key(old_node)][f"interop:{OLD_RESPONSE}"])
        self.assertEqual([SIZE[NEW_RESPONSE]], report["sizes"][source_key(new_node)][f"interop:{NEW_RESPONSE}"])
        view = {peer["mid"]: peer for peer in report["overlays"]["interop"]["peers"]}
        # txipv8's old-style response also announces new-style support, so pyipv8 upgrades that peer.
        self.assertTrue(view[old_node.my_peer.mid.hex()]["new_style_intro"])
        self.assertTrue(view[new_node.my_peer.mid.hex()]["new_style_intro"])
        self.assertEqual({}, dict(old.drop_counts))
        self.assertEqual({}, dict(new.drop_counts))
