"""
Scenario 2: discovery through a pyipv8 3.2.1 bootstrap *peer* (an ordinary pyipv8 node, not a tracker), and
the mirror image: a txipv8 node as the introducer of two pyipv8 nodes.

A txipv8 IPv8 service walks to the pyipv8 node at start (``on_start: walk_to``) and keeps a RandomWalk; a
second pyipv8 node walks to the same node. The bootstrap node introduces them to each other, and all three
end up with the other two as verified peers.

The bootstrap node is a walk target rather than a DispersyBootstrapper address on purpose: bootstrapper
addresses are blacklisted as peers (in both implementations), so the node could then never be "known".
"""
from __future__ import annotations

from ipv8.configuration import ConfigBuilder, Strategy, WalkerDefinition
from ipv8.messaging.addresses import UDPv4Address
from ipv8.service import IPv8

from .harness import InteropCommunity, InteropTestCase, PacketLog

PUNCTURE_REQUEST, PUNCTURE, INTRO_RESPONSE = 250, 249, 245


class TestDiscoveryThroughPyipv8BootstrapPeer(InteropTestCase):
    async def test_all_three_know_each_other(self) -> None:
        bootstrap = await self.start_ref_peer("pyipv8-bootstrap", overlays=["interop"], walk=True)

        config = (ConfigBuilder().clear_keys().clear_overlays()
                  .add_ephemeral_key("interop peer")
                  .set_address("127.0.0.1").set_port(0)
                  .set_log_level("WARNING").set_walker_interval(0.1)
                  .add_overlay("InteropCommunity", "interop peer",
                               [WalkerDefinition(Strategy.RandomWalk, 10, {"timeout": 3.0})], [], {},
                               [("walk_to", tuple(bootstrap.address))])
                  .finalize())
        ipv8 = IPv8(config, extra_communities={"InteropCommunity": InteropCommunity})
        log = PacketLog()
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        ipv8.endpoint.add_listener(log)
        community = ipv8.get_overlay(InteropCommunity)
        assert community is not None
        txipv8_mid = ipv8.keys["interop peer"].mid
        me = UDPv4Address(*ipv8.endpoint.get_address())

        joiner = await self.start_ref_peer("pyipv8-joiner", overlays=["interop"], walk=True,
                                           walk_to=[list(bootstrap.address)])

        def txipv8_peers() -> set[bytes]:
            return {peer.mid for peer in community.get_peers()}

        await self.wait_until(lambda: {bootstrap.mid, joiner.mid} <= txipv8_peers(), 8,
                              "txipv8 knowing both pyipv8 nodes", lambda: f"txipv8 knows {txipv8_peers()}")
        await bootstrap.wait_for(lambda p: {txipv8_mid, joiner.mid} <= p.peer_mids(), 8,
                                 "the bootstrap node knowing txipv8 and the joiner")
        await joiner.wait_for(lambda p: {txipv8_mid, bootstrap.mid} <= p.peer_mids(), 8,
                              "the joiner knowing txipv8 and the bootstrap node")

        # The joiner learnt about us from the bootstrap node, and found us at our real address.
        reports = await self.finish(bootstrap, joiner)
        joiner_view = {peer["mid"]: peer for peer in reports["pyipv8-joiner"]["overlays"]["interop"]["peers"]}
        self.assertEqual(list(me), joiner_view[txipv8_mid.hex()]["address"])
        self.assertEqual({}, dict(community.drop_counts))
        # txipv8 received introduction traffic from both pyipv8 nodes.
        self.assertTrue(log.ids_from(bootstrap.address))
        self.assertTrue(log.ids_from(joiner.address))

    async def test_txipv8_introduces_two_pyipv8_nodes(self) -> None:
        node = await self.start_tx_node()
        community = node.add(InteropCommunity)
        first = await self.start_ref_peer("pyipv8-first", overlays=["interop"])
        second = await self.start_ref_peer("pyipv8-second", overlays=["interop"])
        me = f"{node.address[0]}:{node.address[1]}"

        await first.command("walk_to", address=list(node.address))
        await self.wait_until(lambda: first.mid in {peer.mid for peer in community.get_peers()}, 5,
                              "txipv8 verifying the first node")
        # The second request makes txipv8 introduce the first node to the second, and ask the first node to
        # puncture towards the second one's LAN address (the requester's own, as txipv8 fills it in).
        await second.command("walk_to", address=list(node.address))
        await self.wait_until(lambda: len(community.get_peers()) == 2, 5, "txipv8 verifying the second node")

        first_key = f"{first.address[0]}:{first.address[1]}"
        report = await self.report_when(first, lambda r: f"interop:{PUNCTURE_REQUEST}" in r["received"].get(me, {}))
        self.assertEqual({f"interop:{INTRO_RESPONSE}": 1, f"interop:{PUNCTURE_REQUEST}": 1}, report["received"][me])
        report = await self.report_when(second, lambda r: f"interop:{PUNCTURE}" in r["received"].get(first_key, {}))
        self.assertEqual({f"interop:{PUNCTURE}": 1}, report["received"][first_key])
        self.assertEqual({f"interop:{INTRO_RESPONSE}": 1}, report["received"][me])
        self.assertIn(list(first.address), report["overlays"]["interop"]["walkable"])

        # The second node follows the introduction: now the two pyipv8 nodes know each other too.
        await second.command("walk_to", address=list(first.address))
        await first.wait_for(lambda p: {node.my_peer.mid, second.mid} <= p.peer_mids(), 5,
                             "the first node knowing txipv8 and the second node")
        await second.wait_for(lambda p: {node.my_peer.mid, first.mid} <= p.peer_mids(), 5,
                              "the second node knowing txipv8 and the first node")
        self.assertEqual({}, dict(community.drop_counts))
