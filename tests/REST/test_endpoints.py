"""What /network, /overlays, /overlays/statistics and /isolation report and do, against real IPv8 sessions."""
from __future__ import annotations

from base64 import b64encode
from binascii import hexlify
from typing import Any

from ipv8.community import CommunitySettings
from ipv8.peerdiscovery.network import Network

from .support import OtherTestCommunity, RESTTestCase, RESTTestCommunity, TwoSessions


def b64(data: bytes) -> str:
    return b64encode(data).decode()


class TestNetworkAndOverlays(TwoSessions):

    async def test_network_lists_verified_peers(self) -> None:
        self.assertEqual((await self.client.get("/network")).json, {"peers": {}})
        await self.introduce()
        other_peer = self.other.keys["me"]
        peers = (await self.client.get("/network")).json["peers"]
        self.assertEqual(list(peers), [b64(other_peer.mid)])
        entry = peers[b64(other_peer.mid)]
        verified = self.session.network.get_verified_peers()[0]
        self.assertEqual((entry["ip"], entry["port"]), tuple(verified.address))
        self.assertEqual(entry["public_key"], b64(other_peer.public_key.key_to_bin()))
        self.assertEqual(entry["services"], [b64(RESTTestCommunity.community_id)])

    async def test_overlays_describe_each_community(self) -> None:
        await self.introduce()
        overlays = (await self.client.get("/overlays")).json["overlays"]
        self.assertEqual([entry["overlay_name"] for entry in overlays], ["RESTTestCommunity", "OtherTestCommunity"])
        first, second = overlays
        me = self.session.keys["me"]
        self.assertEqual(first["id"], hexlify(RESTTestCommunity.community_id).decode())
        self.assertEqual(second["id"], hexlify(OtherTestCommunity.community_id).decode())
        self.assertEqual(first["my_peer"], hexlify(me.public_key.key_to_bin()).decode())
        self.assertEqual(first["global_time"], self.session.overlays[0].global_time)
        self.assertGreater(first["global_time"], 0)
        other_key = hexlify(self.other.keys["me"].public_key.key_to_bin()).decode()
        self.assertEqual([peer["public_key"] for peer in first["peers"]], [other_key])
        self.assertEqual(second["peers"], [])
        self.assertEqual(first["strategies"], [{"name": "RandomWalk", "target_peers": 20}])
        self.assertEqual(second["strategies"], [])
        self.assertEqual((first["max_peers"], first["is_isolated"]), (30, False))
        lan = self.session.overlays[0].my_estimated_lan
        self.assertEqual(first["my_estimated_lan"], {"ip": lan[0], "port": lan[1]})
        wan = self.session.overlays[0].my_estimated_wan
        self.assertEqual(first["my_estimated_wan"], {"ip": wan[0], "port": wan[1]})
        # Not enabled yet: zeros, as py-ipv8 reports them.
        self.assertEqual(first["statistics"], {"num_up": 0, "num_down": 0, "bytes_up": 0, "bytes_down": 0,
                                               "diff_time": 0.0})

    async def test_an_overlay_with_its_own_network_is_isolated(self) -> None:
        settings = CommunitySettings(my_peer=self.session.keys["me"], endpoint=self.session.endpoint,
                                     network=Network())

        class LonelyCommunity(RESTTestCommunity):
            community_id = b"\x42" * 20

        lonely = LonelyCommunity(settings)
        self.session.overlays.append(lonely)
        self.addCleanup(lonely.unload)
        overlays = (await self.client.get("/overlays")).json["overlays"]
        self.assertEqual([(entry["overlay_name"], entry["is_isolated"]) for entry in overlays],
                         [("RESTTestCommunity", False), ("OtherTestCommunity", False), ("LonelyCommunity", True)])


class TestStatistics(TwoSessions):

    def tracked(self) -> set[bytes]:
        return set(self.session.endpoint.statistics)

    async def test_enable_for_all_then_read_figures(self) -> None:
        result = await self.client.post("/overlays/statistics", {"enable": True, "all": True})
        self.assertEqual((result.status, result.json), (200, {"success": True}))
        self.assertEqual(self.tracked(), {overlay.get_prefix() for overlay in self.session.overlays})
        await self.introduce()

        statistics = (await self.client.get("/overlays/statistics")).json["statistics"]
        self.assertEqual([list(entry) for entry in statistics], [["RESTTestCommunity"], ["OtherTestCommunity"]])
        figures = statistics[0]["RESTTestCommunity"]
        self.assertEqual(statistics[1]["OtherTestCommunity"], {})
        sent = {name: stat for name, stat in figures.items() if stat["num_up"]}
        received = {name: stat for name, stat in figures.items() if stat["num_down"]}
        self.assertEqual(list(sent), ["246:on_old_introduction_request"])
        self.assertEqual(list(received), ["245:on_old_introduction_response"])
        self.assertEqual(sent["246:on_old_introduction_request"]["identifier"], 246)
        self.assertGreater(sent["246:on_old_introduction_request"]["bytes_up"], 0)

        totals = (await self.client.get("/overlays")).json["overlays"][0]["statistics"]
        self.assertEqual((totals["num_up"], totals["num_down"]), (1, 1))
        self.assertEqual(totals["bytes_down"], received["245:on_old_introduction_response"]["bytes_down"])

    async def test_enable_by_name_and_disable(self) -> None:
        other_prefix = self.session.overlays[1].get_prefix()
        result = await self.client.post("/overlays/statistics", {"enable": True, "overlay_name": "OtherTestCommunity"})
        self.assertEqual(result.json, {"success": True})
        self.assertEqual(self.tracked(), {other_prefix})
        result = await self.client.post("/overlays/statistics", {"enable": False, "overlay_name": "OtherTestCommunity"})
        self.assertEqual(result.json, {"success": True})
        self.assertEqual(self.tracked(), set())
        result = await self.client.post("/overlays/statistics", {"enable": True, "overlay_name": "NoSuchCommunity"})
        self.assertEqual((result.status, result.json["error_code"]), (404, "NotFound"))
        self.assertEqual(self.tracked(), set())


class TestWithoutStatistics(RESTTestCase):
    statistics = False

    async def test_statistics_need_a_statistics_endpoint(self) -> None:
        result = await self.client.post("/overlays/statistics", {"enable": True, "all": True})
        self.assertEqual(result.status, 412)
        self.assertEqual(result.json["error_code"], "StatisticsDisabled")
        self.assertEqual(result.json["success"], False)
        self.assertIn("keeps no statistics", result.json["error"])
        self.assertEqual((await self.client.get("/overlays/statistics")).json, {"statistics": []})
        self.assertEqual((await self.client.get("/overlays")).json["overlays"][0]["statistics"], {})


class TestIsolation(TwoSessions):

    async def test_add_bootstrap_server(self) -> None:
        address = self.other_endpoint.wan_address
        body: dict[str, Any] = {"ip": address[0], "port": address[1], "bootstrapnode": 1}
        result = await self.client.post("/isolation", body)
        self.assertEqual((result.status, result.json), (200, {"success": True}))
        self.assertIn(address, self.session.network.blacklist)
        bootstrapper = self.session.overlays[0].bootstrappers[0]
        self.assertEqual(bootstrapper.ip_addresses, [address])
        await self.settle()
        # Every community walked to the server, which now knows us in both communities...
        me = self.session.keys["me"]
        self.assertEqual(self.other.network.get_verified_peers(), [me])
        self.assertEqual({community.community_id for community in (RESTTestCommunity, OtherTestCommunity)},
                         set(self.other.network.get_services_for_peer(me)))
        # ...while we do not count the server as a peer.
        self.assertEqual(self.session.network.get_verified_peers(), [])
        # Adding it again changes nothing.
        self.assertEqual((await self.client.post("/isolation", body)).status, 200)
        self.assertEqual(bootstrapper.ip_addresses, [address])
        self.assertEqual(self.session.network.blacklist.count(address), 1)
        await self.settle()

    async def test_exit_nodes_need_a_tunnel_community(self) -> None:
        result = await self.client.post("/isolation", {"ip": "127.0.0.1", "port": 9, "exitnode": True})
        self.assertEqual(result.status, 412)
        self.assertEqual(result.json["error_code"], "NoTunnelCommunity")
        self.assertIn("tunnel community", result.json["error"])

    async def test_exit_node_is_walked_to_by_the_tunnel_community(self) -> None:
        from twisted.internet.task import Clock

        from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
        tunnel = TunnelCommunity(TunnelSettings(my_peer=self.session.keys["me"], endpoint=self.session.endpoint,
                                                network=self.session.network, clock=Clock()))
        self.addCleanup(tunnel.unload)
        walked: list[Any] = []
        tunnel.walk_to = walked.append
        self.session.overlays.append(tunnel)
        try:
            address = self.other_endpoint.wan_address
            result = await self.client.post("/isolation", {"ip": address[0], "port": address[1], "exitnode": True})
        finally:
            self.session.overlays.remove(tunnel)
        self.assertEqual((result.status, result.json), (200, {"success": True}))
        self.assertEqual(walked, [address])

    async def test_bad_requests(self) -> None:
        for body, message in [({"ip": "localhost", "port": 9, "bootstrapnode": True}, "not an IPv4 or IPv6"),
                              ({"ip": "127.0.0.1", "port": 0, "bootstrapnode": True}, "body.port"),
                              ({"ip": "127.0.0.1", "port": "9", "bootstrapnode": True}, "body.port"),
                              ({"port": 9, "bootstrapnode": True}, "body.ip: is required"),
                              ({"ip": "127.0.0.1", "port": 9}, "exactly one"),
                              ({"ip": "127.0.0.1", "port": 9, "bootstrapnode": 1, "exitnode": 1}, "exactly one"),
                              ({"ip": "127.0.0.1", "port": 9, "bootstrapnode": "yes"}, "body.bootstrapnode")]:
            result = await self.client.post("/isolation", body)
            self.assertEqual(result.status, 400, body)
            self.assertIn(message, result.json["error"])
        self.assertEqual(self.session.network.blacklist, [])
