"""The dashboard of a live network on real UDP: a tracker and three IPv8 services on 127.0.0.1, watched in Chromium.

This is ``make run`` in one process: a :class:`~ipv8.tracker.TrackerService` and three
:class:`~ipv8_service.IPv8` services, each on its own UDP socket on 127.0.0.1 and with its own REST server
(the first one's with an API key), all bootstrapping from that tracker only. Headless Chromium opens the
first node's dashboard and is driven through its debugging pipe (:mod:`.cdp`): it logs in with the key, and
the test reads the page's DOM while the network runs, polling with timeouts rather than sleeping. The page
must show both overlays with two peers each, the peer table with how each peer was found and whether a
NAT puncture was involved (as ``/debug/peers`` says), and traffic charts that grow while node 1 sends chat
messages. Screenshots go to the browser tests' output folder.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from ipv8.community import Community, CommunitySettings
from ipv8.configuration import (
    Bootstrapper,
    BootstrapperDefinition,
    ConfigBuilder,
    Strategy,
    WalkerDefinition,
)
from ipv8.lazy_community import lazy_wrapper
from ipv8.messaging.payload_dataclass import dataclass
from ipv8.peer import Peer
from ipv8.REST.rest_manager import RESTManager
from ipv8.tracker import TrackerService
from ipv8_service import IPv8

from ..REST.support import HTTPClient
from .cdp import Browser, Page
from .test_dashboard import CHROMIUM, OUTPUT, chromium_arguments

KEY = "live network key"
#: Chat messages node 1 sends to each of its peers once the page watches.
MESSAGES_PER_PEER = 40
#: How the peer table may say a peer was found (see ipv8.peerdiscovery.peer_origin).
FOUND = {"bootstrap", "introduced", "walked", "contacted-us"}


@dataclass(msg_id=1)
class Chat:
    text: str


class ChatCommunity(Community):
    """A community with one message of its own, so that the test can make traffic on demand."""

    community_id = bytes.fromhex("63686174") + bytes(range(16))

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.received = 0
        self.add_message_handler(Chat, self.on_chat)

    @lazy_wrapper(Chat)
    def on_chat(self, peer: Peer, payload: Chat) -> None:
        self.received += 1


def node_configuration(directory: str, tracker: tuple[str, int]) -> dict[str, Any]:
    """Two overlays, both walking and bootstrapping from ``tracker`` alone (never the public trackers)."""
    bootstrap = [BootstrapperDefinition(Bootstrapper.DispersyBootstrapper,
                                        {"ip_addresses": [tracker], "dns_addresses": []})]
    walk = [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})]
    return (ConfigBuilder().clear_keys().clear_overlays()
            .add_ephemeral_key("me")
            .set_address("127.0.0.1").set_port(0)
            .set_working_directory(directory)
            .set_walker_interval(0.5)
            .add_overlay("DiscoveryCommunity", "me", walk, bootstrap, {}, [])
            .add_overlay("ChatCommunity", "me", walk, bootstrap, {}, [])
            .finalize())


#: The overlays table as {overlay name: peers column}.
OVERLAY_PEERS_JS = """(() => {
  const rows = [...document.querySelectorAll('#overlays-table tbody tr')];
  return Object.fromEntries(rows.map((row) => [row.cells[0].textContent, row.cells[1].textContent]));
})()"""
#: The peer table as [{mid, found, how, nat, natText}] (mid is the full mid from the cell's title).
PEER_ROWS_JS = """[...document.querySelectorAll('#peers-table tbody tr')].map((row) => ({
  mid: row.cells[0].title, found: row.cells[4].textContent, how: row.cells[4].dataset.how || '',
  nat: row.cells[5].dataset.nat || '', natText: row.cells[5].textContent}))"""


def last_value_js(chart: str, series_prefix: str) -> str:
    """The newest value drawn for the series of ``chart`` whose name starts with ``series_prefix`` (or -1)."""
    return (f"(() => {{ const line = [...document.querySelectorAll('#{chart} polyline')]"
            f".find((l) => l.dataset.series.startsWith({series_prefix!r}));"
            f" return line ? Number(line.dataset.last) : -1; }})()")


class TestLiveNetworkDashboard(unittest.TestCase):

    timeout = 60

    async def setUp(self) -> None:
        if CHROMIUM is None:
            raise unittest.SkipTest("no chromium browser on PATH (Debian: apt-get install chromium; "
                                    "`make test-prereqs` does it when run as root)")
        self.tracker = TrackerService(0, "127.0.0.1")
        self.tracker.startService()
        self.addCleanup(self.tracker.stopService)
        tracker_address = tuple(self.tracker.get_address())
        self.nodes: list[IPv8] = []
        self.managers: list[RESTManager] = []
        for index in range(3):
            node = IPv8(node_configuration(self.mktemp(), tracker_address), enable_statistics=True,
                        extra_communities={"ChatCommunity": ChatCommunity})
            await node.start()
            self.addCleanup(node.stop)
            self.nodes.append(node)
            manager = RESTManager(node)
            await manager.start(0, api_key=KEY if index == 0 else None)
            self.addCleanup(manager.stop)
            self.managers.append(manager)
        self.client = HTTPClient(self.managers[0].url)
        self.browser: Browser | None = None

    async def tearDown(self) -> None:
        if self.browser is not None:
            await self.browser.close()
        # Let the REST clients notice their closed connections before the managers stop.
        await deferLater(reactor, 0.01, lambda: None)

    def chat(self, node: IPv8) -> ChatCommunity:
        return next(overlay for overlay in node.overlays if isinstance(overlay, ChatCommunity))

    async def get(self, path: str) -> Any:  # noqa: ANN401 - JSON
        answer = await self.client.get(path, headers={"X-Api-Key": KEY})
        self.assertEqual(answer.status, 200, path)
        return answer.json

    async def open_dashboard(self) -> Page:
        profile = self.mktemp()
        os.makedirs(profile)
        self.browser = Browser.launch(CHROMIUM, chromium_arguments(f"--user-data-dir={profile}", "about:blank",
                                                                   budget_ms=None),
                                      env={"HOME": profile, "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        page = await self.browser.open(self.managers[0].url + "/ui/")
        await page.wait_for("!document.getElementById('login').hidden", "the login form")
        self.assertTrue(await page.evaluate("document.getElementById('dashboard').hidden"))
        await page.evaluate(f"document.getElementById('api-key').value = {KEY!r};"
                            "document.getElementById('login-form').requestSubmit(); true")
        await page.wait_for("!document.getElementById('dashboard').hidden", "the dashboard after logging in")
        return page

    async def test_overlays_peers_found_and_growing_traffic(self) -> None:
        answer = await self.client.post("/overlays/statistics", {"enable": True, "all": True},
                                        headers={"X-Api-Key": KEY})
        self.assertEqual(answer.status, 200)
        page = await self.open_dashboard()

        # Both overlays, each with the two other nodes as peers (the nodes find each other meanwhile).
        peers = await page.wait_for(f"(() => {{ const p = {OVERLAY_PEERS_JS};"
                                    " return p.DiscoveryCommunity === '2' && p.ChatCommunity === '2' && p; })()",
                                    "both overlays with two peers", timeout=20)
        self.assertEqual(peers, {"DiscoveryCommunity": "2", "ChatCommunity": "2"})
        self.assertEqual([len(overlay.get_peers()) for overlay in self.nodes[0].overlays], [2, 2])

        # The peer table: the two other nodes, with how each was found and whether a puncture came first,
        # as /debug/peers says.
        rows = await page.wait_for(f"(() => {{ const r = {PEER_ROWS_JS}; return r.length === 2 && r; }})()",
                                   "two rows in the peer table")
        expected_mids = {overlay.my_peer.mid.hex() for node in self.nodes[1:] for overlay in node.overlays[:1]}
        self.assertEqual({row["mid"] for row in rows}, expected_mids)
        origins = {peer["mid"]: peer["origin"] for peer in (await self.get("/debug/peers"))["peers"]}
        for row in rows:
            origin = origins[row["mid"]]
            self.assertEqual((row["how"], row["nat"]), (origin["how"], origin["nat"]), row)
            self.assertIn(row["how"], FOUND)
            self.assertTrue(row["natText"] == "direct" or row["natText"].startswith("punched"), row)
        # Everyone starts from the tracker: the first peer of node 1 came from it.
        self.assertIn("bootstrap", {row["how"] for row in rows}, rows)
        await page.screenshot(OUTPUT / "live-network-peers.png")

        # Traffic: node 1 chats with its peers; its ChatCommunity lines climb by at least that much.
        packets_up = last_value_js("traffic-num_up", "ChatCommunity")
        bytes_up = last_value_js("traffic-bytes_up", "ChatCommunity")
        before_packets = await page.wait_for(f"{packets_up} >= 0 && {packets_up} + 1", "a ChatCommunity line") - 1
        before_bytes = await page.evaluate(bytes_up)
        chat = self.chat(self.nodes[0])
        targets = chat.get_peers()
        for _ in range(MESSAGES_PER_PEER):
            for peer in targets:
                chat.ez_send(peer, Chat("hello from node 1, " * 4))
        sent = MESSAGES_PER_PEER * len(targets)
        await page.wait_for(f"{packets_up} >= {before_packets + sent}", f"{sent} more packets up in the chart")
        self.assertGreater(await page.evaluate(bytes_up), before_bytes + sent * 80)
        # Per message type: the chat message has its own line, with at least what we sent.
        chat_line = last_value_js("message-num_up", "ChatCommunity 1:")
        self.assertGreaterEqual(await page.wait_for(f"{chat_line} >= {sent} && {chat_line}", "the chat message line"),
                                sent)
        # A line over time: the chat line started at zero (the type was new) and has a sample per poll.
        self.assertGreaterEqual(await page.evaluate(
            "[...document.querySelectorAll('#message-num_up polyline')].find((l) => "
            "l.dataset.series.startsWith('ChatCommunity 1:')).points.numberOfItems"), 2)
        await page.wait_for("document.querySelector('#traffic-num_up polyline').points.numberOfItems >= 4",
                            "four samples in the traffic charts")
        await page.screenshot(OUTPUT / "live-network.png")
        self.assertGreater((OUTPUT / "live-network.png").stat().st_size, 10_000)
        # What was sent arrived (real UDP on loopback).
        received = sum(self.chat(node).received for node in self.nodes[1:])
        self.assertGreater(received, 0)
