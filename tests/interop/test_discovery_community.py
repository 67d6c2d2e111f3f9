"""Scenario 5: DiscoveryCommunity similarity request/response and ping/pong with pyipv8 3.2.1, both directions."""
from __future__ import annotations

from ipv8.peerdiscovery.community import DiscoveryCommunity

from .harness import INTEROP_COMMUNITY_ID, InteropCommunity, InteropTestCase

SIMILARITY_REQUEST, SIMILARITY_RESPONSE, PING, PONG = 1, 2, 3, 4
DISCOVERY_ID = DiscoveryCommunity.community_id
BOTH_SERVICES = sorted([DISCOVERY_ID.hex(), INTEROP_COMMUNITY_ID.hex()])


class TestDiscoveryCommunity(InteropTestCase):
    async def test_similarity_and_ping_both_ways(self) -> None:
        ref = await self.start_ref_peer("pyipv8", overlays=["discovery", "interop"])
        node = await self.start_tx_node()
        discovery = node.add(DiscoveryCommunity)
        interop = node.add(InteropCommunity)
        prefix = discovery.get_prefix()
        me = f"{node.address[0]}:{node.address[1]}"

        # txipv8 -> pyipv8: an introduction in the discovery community; its answer triggers our similarity
        # request, whose answer tells us that pyipv8 also runs the interop community (which never walked).
        discovery.walk_to(ref.address)
        await self.wait_until(lambda: ref.mid in {peer.mid for peer in interop.get_peers()}, 5,
                              "txipv8 learning pyipv8's services from its similarity response")
        [pyipv8_peer] = [peer for peer in discovery.get_peers() if peer.mid == ref.mid]
        self.assertEqual(set(BOTH_SERVICES), {service.hex() for service in node.network.get_services_for_peer(
            pyipv8_peer)})
        self.assertEqual({245: 1, SIMILARITY_RESPONSE: 1}, node.log.ids_from(ref.address, prefix))
        await ref.wait_for(lambda p: node.my_peer.mid in p.peer_mids("interop"), 5,
                           "pyipv8 learning our services from our similarity request")
        report = await self.report_when(ref, lambda r: me in r["received"])
        self.assertEqual({"discovery:246": 1, f"discovery:{SIMILARITY_REQUEST}": 1}, report["received"][me])
        [txipv8_seen] = [peer for peer in report["overlays"]["discovery"]["peers"]
                         if peer["mid"] == node.my_peer.mid.hex()]
        self.assertEqual(BOTH_SERVICES, txipv8_seen["services"])

        # pyipv8 -> txipv8: an explicit similarity request, answered by txipv8.
        await ref.command("similarity", to=list(node.address))
        report = await self.report_when(ref, lambda r: f"discovery:{SIMILARITY_RESPONSE}" in r["received"][me])
        self.assertEqual(1, report["received"][me][f"discovery:{SIMILARITY_RESPONSE}"])
        self.assertEqual(1, node.log.ids_from(ref.address, prefix)[SIMILARITY_REQUEST])

        # txipv8 pings pyipv8: the pong completes the measurement, the round trip time lands in peer.pings.
        discovery.send_ping(pyipv8_peer)
        await self.wait_until(lambda: bool(pyipv8_peer.pings), 5, "pyipv8's pong")
        [round_trip] = pyipv8_peer.pings
        self.assertTrue(0 < round_trip < 1.0, f"round trip time {round_trip}")
        self.assertEqual(1, node.log.ids_from(ref.address, prefix)[PONG])

        # pyipv8 pings txipv8: our pong completes pyipv8's measurement.
        await ref.command("ping", to=list(node.address))
        report = await self.report_when(ref, lambda r: any(
            peer["mid"] == node.my_peer.mid.hex() and peer["pings"] for peer in r["overlays"]["discovery"]["peers"]))
        [txipv8_seen] = [peer for peer in report["overlays"]["discovery"]["peers"]
                         if peer["mid"] == node.my_peer.mid.hex()]
        [pyipv8_round_trip] = txipv8_seen["pings"]
        self.assertTrue(0 < pyipv8_round_trip < 1.0, f"pyipv8's round trip time {pyipv8_round_trip}")
        self.assertEqual({"discovery:246": 1, f"discovery:{SIMILARITY_REQUEST}": 1,
                          f"discovery:{SIMILARITY_RESPONSE}": 1, f"discovery:{PING}": 1, f"discovery:{PONG}": 1},
                         report["received"][me])
        self.assertEqual(1, node.log.ids_from(ref.address, prefix)[PING])
        self.assertEqual({}, dict(discovery.drop_counts))
        self.assertEqual({}, dict(interop.drop_counts))
