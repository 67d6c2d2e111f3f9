"""The dashboard at /ui/: shipped files, headers, the API key boundary, and the /debug routes it reads."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.trial import unittest

from ipv8.messaging.drop_reasons import DROP_UNKNOWN_MESSAGE, DROP_WRONG_PREFIX
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.peerdiscovery.peer_origin import PUNCTURE_RECEIVED, VIA_WAN
from ipv8.REST.health_endpoint import describe_address, describe_origin
from ipv8.REST.ui_endpoint import UI_CSP, UI_FILES

from .support import HTTPClient, RESTTestCase, TwoSessions

KEY = "dashboard-key"
#: Every route dashboard.js reads (it asks /tunnel/* and /identity only when such an overlay is loaded).
DATA_ROUTES = ("/overlays", "/overlays/statistics", "/debug/peers", "/debug/drops", "/debug/reactor?limit=1",
               "/dht/statistics", "/tunnel/circuits", "/tunnel/relays", "/tunnel/exits")


def shipped(name: str) -> bytes:
    return resources.files("ipv8.REST").joinpath("ui", name).read_bytes()


class _Collect(Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.done: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any) -> None:
        self.done.callback(self.data)


async def raw_get(port: int, target: str) -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written (no client-side path normalisation); (status, whole answer)."""
    protocol = _Collect()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), protocol)
    protocol.transport.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                             .encode("latin-1"))
    answer = await protocol.done
    return int(answer.split(b" ", 2)[1]), answer


class PageParser(HTMLParser):
    """Collects the page's scripts, style sheets, inline code and event-handler attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.styles: list[str] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.ids: set[str] = set()
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(str(attributes["id"]))
        self.handlers += [name for name, _ in attrs if name.startswith("on") or name == "style"]
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        elif tag == "style":
            self.inline.append("<style>")
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.styles.append(str(attributes.get("href")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


class TestFiles(RESTTestCase):

    async def test_page_and_files_are_the_shipped_files_with_their_types_and_csp(self) -> None:
        for path, name in [("/ui/", "index.html"), ("/ui", "index.html"), ("/ui/index.html", "index.html"),
                           ("/ui/dashboard.js", "dashboard.js"), ("/ui/dashboard.css", "dashboard.css")]:
            result = await self.client.get(path)
            self.assertEqual(result.status, 200, path)
            self.assertEqual(result.body, shipped(name), path)
            self.assertEqual(result.header("Content-Type"), UI_FILES[name], path)
            self.assertEqual(result.header("Content-Security-Policy"), UI_CSP, path)
            self.assertEqual(result.header("X-Content-Type-Options"), "nosniff", path)
        self.assertTrue(UI_FILES["dashboard.js"].startswith("text/javascript"))
        self.assertTrue(UI_FILES["dashboard.css"].startswith("text/css"))

    def test_csp_allows_nothing_inline_and_nothing_from_elsewhere(self) -> None:
        directives = dict(part.strip().split(" ", 1) for part in UI_CSP.split(";"))
        self.assertEqual(directives["default-src"], "'none'")
        for directive in ("script-src", "style-src", "connect-src"):
            self.assertEqual(directives[directive], "'self'", directive)
        self.assertNotIn("unsafe", UI_CSP)
        self.assertEqual(directives["frame-ancestors"], "'none'")

    def test_page_has_no_inline_script_or_style_and_loads_only_shipped_files(self) -> None:
        page = PageParser()
        page.feed(shipped("index.html").decode("utf-8"))
        self.assertEqual(page.inline, [])
        self.assertEqual(page.handlers, [])
        self.assertEqual([script.get("src") for script in page.scripts], ["/ui/dashboard.js"])
        self.assertEqual(page.styles, ["/ui/dashboard.css"])
        text = shipped("index.html").decode("utf-8")
        for url in re.findall(r'(?:src|href)="([^"]+)"', text):
            self.assertEqual(urlsplit(url).netloc, "", f"{url} is not on this server")
        # The login form and the panels the script fills exist.
        for element in ("login", "login-form", "api-key", "dashboard", "overlays-table", "peers-table",
                        "traffic-bytes_up", "traffic-num_down", "message-bytes_down", "message-num_up",
                        "drops-table", "reactor-figures", "panel-dht", "panel-tunnel"):
            self.assertIn(element, page.ids)

    def test_script_never_writes_html_nor_puts_the_key_in_a_url(self) -> None:
        script = shipped("dashboard.js").decode("utf-8")
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                          "new Function", "apikey=", "localStorage", "https://"):
            self.assertNotIn(forbidden, script)
        # The only absolute URL is the SVG namespace name (an identifier, never fetched).
        self.assertEqual(re.findall(r"https?://[^\s\"']+", script), ["http://www.w3.org/2000/svg"])
        self.assertIn("sessionStorage", script)
        self.assertIn('"X-Api-Key"', script)
        # Every id the script looks up is on the page.
        page = PageParser()
        page.feed(shipped("index.html").decode("utf-8"))
        self.assertLessEqual(set(re.findall(r'\$\("([\w-]+)"\)', script)), page.ids)
        # ... and so is every chart the script names as "<prefix>-<metric>", with its legend.
        metrics = re.search(r"const METRICS = \[([^\]]*)\]", script)
        self.assertIsNotNone(metrics)
        for prefix in re.findall(r'trafficCharts\("(\w+)"', script):
            self.assertIn(f"{prefix}-legend", page.ids)
            for metric in re.findall(r'"(\w+)"', metrics.group(1)):  # type: ignore[union-attr]
                self.assertIn(f"{prefix}-{metric}", page.ids)

    async def test_other_names_and_traversal_under_ui_are_404(self) -> None:
        port = self.manager.port
        for target in ("/ui/../overlays", "/ui/%2e%2e/overlays", "/ui/..%2foverlays", "/ui/%2e%2e%2fnetwork",
                       "/ui/dashboard.js/../../network", "/ui/../../setup.cfg", "/ui/static/swagger-init.js",
                       "/ui/ui_endpoint.py", "/ui/..%5c..%5cui_endpoint.py", "/ui/index.html%00.js",
                       "/ui/DASHBOARD.JS", "/ui/.", "/ui/%2e", "/ui/dashboard.js/x"):
            status, answer = await raw_get(port, target)
            self.assertIn(status, (400, 404), target)
            self.assertNotIn(b'"overlays"', answer, target)
            self.assertNotIn(b'"peers"', answer, target)
            self.assertNotIn(b"import ", answer, target)
            self.assertNotIn(b"Traceback", answer, target)


class TestAPIKey(RESTTestCase):

    async def setUp(self) -> None:
        await super().setUp()
        await self.manager.stop()
        await self.manager.start(0, api_key=KEY)
        self.client = HTTPClient(self.manager.url)

    async def test_files_need_no_key_but_every_data_route_of_the_page_does(self) -> None:
        for path in ("/ui/", "/ui/dashboard.js", "/ui/dashboard.css"):
            self.assertEqual((await self.client.get(path)).status, 200, path)
        for path in DATA_ROUTES:
            refused = await self.client.get(path)
            self.assertEqual((refused.status, refused.json), (401, {"error": "Unauthorized access"}), path)
            wrong = await self.client.get(path, headers={"X-Api-Key": KEY + "x"})
            self.assertEqual(wrong.status, 401, path)
            allowed = await self.client.get(path, headers={"X-Api-Key": KEY})
            # /dht/statistics is 404 without a DHT community: the page then hides its DHT panel.
            self.assertEqual(allowed.status, 404 if path.startswith("/dht") else 200, path)

    async def test_traversal_from_ui_does_not_skip_the_key(self) -> None:
        for target in ("/ui/../overlays", "/ui/%2e%2e/network", "/ui/..%2fdebug%2fpeers"):
            status, answer = await raw_get(self.manager.port, target)
            self.assertIn(status, (400, 401, 404), target)
            self.assertNotIn(b'"peers"', answer, target)
            self.assertNotIn(b'"overlays"', answer, target)


class TestDescribeAddress(unittest.TestCase):

    def test_family_and_scope(self) -> None:
        cases = {("1.2.3.4", 5): ("IPv4", "WAN"), ("10.0.0.1", 5): ("IPv4", "LAN"),
                 ("192.168.1.2", 5): ("IPv4", "LAN"), ("127.0.0.1", 5): ("IPv4", "LAN"),
                 ("2001:4860::1", 5): ("IPv6", "WAN"), ("fe80::1", 5): ("IPv6", "LAN"), ("::1", 5): ("IPv6", "LAN"),
                 ("not an ip", 5): ("unknown", "WAN")}
        for address, (family, scope) in cases.items():
            described = describe_address(address)
            self.assertEqual((described["family"], described["scope"]), (family, scope), address)
            self.assertEqual((described["ip"], described["port"]), address)


class TestDebugRoutes(TwoSessions):

    async def test_peers_lists_addresses_scope_family_and_shared_overlays(self) -> None:
        self.assertEqual((await self.client.get("/debug/peers")).json, {"peers": []})
        clock = self.session._clock()  # the Clock build_session gave the service (nobody else advances it)
        clock.advance(100)  # the walk answer arrives at t=100 on our Clock...
        await self.introduce()
        clock.advance(7)  # (the walker may run again meanwhile and get a fresher answer)
        await self.settle()
        peers = (await self.client.get("/debug/peers")).json["peers"]
        other_mid = self.other.overlays[0].my_peer.mid.hex()
        self.assertEqual([peer["mid"] for peer in peers], [other_mid])
        peer = peers[0]
        host, port = self.other_endpoint.wan_address
        # The in-memory internet hands out 198.18.0.0/15 (benchmarking) addresses: not global, so LAN.
        self.assertEqual(host.split(".")[:2], ["198", "18"])
        self.assertIn({"ip": host, "port": port, "family": "IPv4", "scope": "LAN"},
                      [{key: address[key] for key in ("ip", "port", "family", "scope")}
                       for address in peer["addresses"]])
        self.assertEqual(peer["overlays"], ["RESTTestCommunity"])
        known = self.session.network.get_verified_peers()[0]
        self.assertGreaterEqual(known.last_response, 100)
        self.assertEqual(peer["last_response_ago"], clock.seconds() - known.last_response)
        self.assertLessEqual(peer["last_response_ago"], 7)
        # We walked to it (nobody introduced it) and reached it without a puncture, 7 s ago.
        self.assertEqual(peer["origin"], {"how": "walked", "introduced_by": None, "introducer": None, "via": None,
                                          "nat": "direct", "puncture": None, "age": 7.0})

    async def test_peers_say_who_contacted_us(self) -> None:
        self.other.overlays[0].walk_to(self.raw_endpoint.wan_address)
        await self.settle()
        [peer] = (await self.client.get("/debug/peers")).json["peers"]
        self.assertEqual((peer["origin"]["how"], peer["origin"]["nat"]), ("contacted-us", "direct"))

    def test_origin_of_an_introduced_and_punctured_peer(self) -> None:
        clock = Clock()
        network = Network(clock=clock)
        introducer = Peer(default_eccrypto.generate_key("curve25519").pub(), UDPv4Address("127.0.0.1", 9000))
        network.add_verified_peer(introducer)
        address = UDPv4Address("127.0.0.2", 9001)
        network.discover_address(introducer, address, b"S" * 20, via=VIA_WAN)
        network.origins.punctured(address, PUNCTURE_RECEIVED)
        clock.advance(3)
        peer = Peer(default_eccrypto.generate_key("curve25519").pub(), address)
        network.add_verified_peer(peer)
        clock.advance(2)
        self.assertEqual(describe_origin(network, peer), {
            "how": "introduced", "introduced_by": introducer.mid.hex(),
            "introducer": {"ip": "127.0.0.1", "port": 9000, "family": "IPv4", "scope": "LAN"}, "via": "WAN",
            "nat": "punched", "puncture": "received", "age": 5.0})
        self.assertIsNone(describe_origin(object(), peer))  # a peer graph without origin records

    async def test_drops_count_refused_packets_per_overlay_and_reason(self) -> None:
        before = (await self.client.get("/debug/drops")).json
        self.assertEqual([entry["overlay_name"] for entry in before["overlays"]],
                         ["RESTTestCommunity", "OtherTestCommunity"])
        self.assertTrue(all(entry["drops"] == {} for entry in before["overlays"]))
        self.assertEqual(set(before["endpoint"]), {"packets_dropped", "drops"})
        community = self.session.overlays[0]
        source = self.other_endpoint.wan_address
        unused = next(msg_id for msg_id in range(256) if community.decode_map[msg_id] is None)
        community.on_packet((source, community.get_prefix() + bytes([unused]) + b" unknown message id"))
        community.on_packet((source, community.get_prefix() + bytes([unused]) + b" again"))
        community.on_packet((source, b"\x00\x02" + bytes(20) + b"\x01 someone else's overlay"))
        after = (await self.client.get("/debug/drops")).json["overlays"]
        self.assertEqual(after[0]["drops"], {DROP_UNKNOWN_MESSAGE: 2, DROP_WRONG_PREFIX: 1})
        self.assertEqual(after[1]["drops"], {})
