"""The /ui/ dashboard in a real browser: Debian's headless Chromium against a live three-node network.

The nodes talk over the in-memory internet; the REST API of the first one listens on 127.0.0.1, and that is
the only address Chromium may reach (every host name resolves to nothing, background services are off).
Chromium runs the page with a virtual-time budget: its two-second polling timers fire as fast as the answers
come, and ``--dump-dom`` then prints the document the script built. Screenshots go to
``build/test-output/browser/`` (or ``$TXIPV8_TEST_OUTPUT/browser``).

Without Chromium the tests skip and say why; ``make test-prereqs`` installs it when run as root, and with
``CI=true`` a skip here fails the run (tests/conftest.py).
"""
from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial import unittest

from ipv8.REST.rest_manager import RESTManager
from ipv8.REST.ui_endpoint import ui_file
from ipv8.test.mocking.endpoint import Internet

from ..REST.support import HTTPClient, build_session

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("TXIPV8_TEST_OUTPUT", ROOT / "build" / "test-output")) / "browser"
KEY = "browser test key"
#: Virtual milliseconds the page runs: enough for the start-up probe and several polls (one every 2000).
BUDGET_MS = 9000
#: Points the page keeps per chart line (HISTORY in dashboard.js).
HISTORY = 150
#: Virtual milliseconds for more polls than that: the charts must have stopped growing at HISTORY points.
LONG_BUDGET_MS = (HISTORY + 10) * 2000


def chromium_arguments(*extra: str, budget_ms: int | None = BUDGET_MS) -> list[str]:
    """Headless Chromium that reaches nothing but 127.0.0.1 and keeps its profile in a fresh directory.

    ``budget_ms`` runs the page on virtual time (for ``--dump-dom``); None runs it on the wall clock.
    """
    arguments = ["--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
                 "--disable-client-side-phishing-detection", "--metrics-recording-only", "--mute-audio",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                 "--window-size=1280,1500"]
    if budget_ms is not None:
        arguments.append(f"--virtual-time-budget={budget_ms}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        arguments.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    return arguments + list(extra)


class Element:
    """One element of the dumped document."""

    def __init__(self, tag: str, attributes: dict[str, str | None]) -> None:
        self.tag = tag
        self.attributes = attributes
        self.children: list[Element] = []
        self.text: list[str] = []

    def all_text(self) -> str:
        return " ".join(self.text + [child.all_text() for child in self.children]).strip()

    def find_all(self, tag: str) -> list[Element]:
        found = []
        for child in self.children:
            if child.tag == tag:
                found.append(child)
            found += child.find_all(tag)
        return found


class Document(HTMLParser):
    """A small DOM built from Chromium's ``--dump-dom`` output, indexed by id."""

    VOID = frozenset({"meta", "link", "input", "br", "img", "hr"})

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self.by_id: dict[str, Element] = {}
        self._stack = [self.root]
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self._stack[-1].children.append(element)
        if "id" in element.attributes:
            self.by_id[str(element.attributes["id"])] = element
        if tag not in self.VOID:
            self._stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._stack) - 1, 0, -1):
            if self._stack[index].tag == tag:
                del self._stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].text.append(data)

    def rows(self, table_id: str) -> list[list[str]]:
        body = self.by_id[table_id].find_all("tbody")[0]
        return [[cell.all_text() for cell in row.find_all("td")] for row in body.find_all("tr")]


class DashboardTestCase(unittest.TestCase):
    """Three sessions on an in-memory internet; the REST API (and dashboard) of the first on 127.0.0.1."""

    timeout = 120
    api_key: str | None = None

    async def setUp(self) -> None:
        if CHROMIUM is None:
            raise unittest.SkipTest("no chromium browser on PATH (Debian: apt-get install chromium; "
                                    "`make test-prereqs` does it when run as root)")
        self.internet = Internet(reactor)
        self.nodes = [build_session(self.internet) for _ in range(3)]
        for session, _ in self.nodes:
            await session.start()
            # Each session runs on a Clock nobody advances; away from t=0, "last response" reads as a time.
            session._clock().advance(100)
        self.session = self.nodes[0][0]
        self.manager = RESTManager(self.session)
        await self.manager.start(0, api_key=self.api_key)
        self.client = HTTPClient(self.manager.url)

    async def tearDown(self) -> None:
        await self.manager.stop()
        for session, endpoint in self.nodes:
            await session.stop()
            self.internet.unregister(endpoint)

    def walk_to_the_others(self) -> None:
        """Our first overlay walks to both other nodes (they answer, so traffic flows both ways)."""
        for _, endpoint in self.nodes[1:]:
            self.session.overlays[0].walk_to(endpoint.wan_address)

    async def keep_traffic_flowing(self) -> None:
        """Statistics on, and every /overlays answer follows a fresh walk to both nodes: traffic while the page looks."""
        self.assertEqual((await self.client.post("/overlays/statistics", {"enable": True, "all": True})).status, 200)
        self.walk_to_the_others()
        overlays = self.manager.root_endpoint.child_endpoint("overlays")
        answer = overlays.get_overlays

        def walk_then_answer(request: Any) -> Any:
            self.walk_to_the_others()
            return answer(request)
        overlays.get_overlays = walk_then_answer

    async def browse(self, *extra: str, budget_ms: int = BUDGET_MS) -> str:
        """Run Chromium on the dashboard for ``budget_ms`` of virtual time; its output (the DOM with ``--dump-dom``)."""
        OUTPUT.mkdir(parents=True, exist_ok=True)
        profile = self.mktemp()
        out, err, code = await getProcessOutputAndValue(
            CHROMIUM, chromium_arguments(f"--user-data-dir={profile}", *extra, self.manager.url + "/ui/",
                                         budget_ms=budget_ms),
            env={"HOME": profile, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}, reactor=reactor)
        self.assertEqual(code, 0, err.decode("utf-8", "replace")[-2000:])
        return out.decode("utf-8")


class TestDashboardInChromium(DashboardTestCase):

    async def test_overlays_peers_and_a_growing_traffic_chart(self) -> None:
        # Over five virtual minutes of polls (a few seconds of real time: the page waits only for the answers),
        # so that the bounded history is checked too.
        self.assertIn(f"const HISTORY = {HISTORY};".encode(), ui_file("dashboard.js"))
        await self.keep_traffic_flowing()
        page = Document(await self.browse("--dump-dom", budget_ms=LONG_BUDGET_MS))
        self.assertNotIn("hidden", page.by_id["dashboard"].attributes)
        self.assertIn("hidden", page.by_id["login"].attributes)
        rows = {row[0]: row for row in page.rows("overlays-table")}
        self.assertEqual(set(rows), {"RESTTestCommunity", "OtherTestCommunity"})
        self.assertEqual(rows["RESTTestCommunity"][1], "2")  # both other nodes are its peers
        self.assertEqual(rows["OtherTestCommunity"][1], "0")
        self.assertIn("20 / ", rows["RESTTestCommunity"][2])  # the RandomWalk target of 20
        peers = page.rows("peers-table")
        expected = {session.overlays[0].my_peer.mid.hex() for session, _ in self.nodes[1:]}
        self.assertEqual({page_row[0].rstrip("…") for page_row in peers},
                         {mid[:16] for mid in expected})
        self.assertTrue(all("RESTTestCommunity" in row[-1] for row in peers))
        # We walked to both (nobody introduced them), without a puncture.
        self.assertEqual({(row[4], row[5]) for row in peers}, {("we walked to it", "direct")})

        # One point per poll; each poll came after more traffic, so the line only climbs (SVG y falls).
        for chart in ("traffic-bytes_up", "traffic-bytes_down", "traffic-num_up", "traffic-num_down"):
            lines = {line.attributes["data-series"]: line for line in page.by_id[chart].find_all("polyline")}
            ours = next(line for name, line in lines.items() if str(name).startswith("RESTTestCommunity"))
            points = [tuple(map(float, point.split(","))) for point in str(ours.attributes["points"]).split()]
            self.assertEqual(len(points), HISTORY, chart)  # one per poll, and no more than the history keeps
            ys = [y for _, y in points]
            self.assertEqual(ys, sorted(ys, reverse=True), chart)
            self.assertLess(ys[-1], ys[0], chart)
        # Per message type: the introduction requests we keep sending are among the charted lines.
        charted = [line.attributes["data-series"] for line in page.by_id["message-num_up"].find_all("polyline")]
        self.assertTrue(any("RESTTestCommunity" in str(name) and "introduction_request" in str(name)
                            for name in charted), charted)
        self.assertLessEqual(len(charted), 8)
        for line in page.by_id["message-num_up"].find_all("polyline"):
            self.assertLessEqual(len(str(line.attributes["points"]).split()), HISTORY)
        self.assertEqual(len(str(page.by_id["lag-chart"].find_all("polyline")[0].attributes["points"]).split()),
                         HISTORY)
        messages = page.rows("messages-table")
        self.assertTrue(any(row[0] == "RESTTestCommunity" and "introduction" in row[1] for row in messages))
        self.assertIn("pending delayed calls", page.by_id["reactor-figures"].all_text())
        self.assertIn("hidden", page.by_id["panel-dht"].attributes)  # no DHT loaded

    async def test_screenshot(self) -> None:
        await self.keep_traffic_flowing()
        target = OUTPUT / "dashboard.png"
        if target.exists():
            target.unlink()
        await self.browse(f"--screenshot={target}")
        self.assertGreater(target.stat().st_size, 10_000)
        self.assertEqual(target.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")


class TestDashboardLogin(DashboardTestCase):

    api_key = KEY

    async def test_without_the_key_only_the_login_form_and_no_data(self) -> None:
        self.walk_to_the_others()
        markup = await self.browse("--dump-dom")
        page = Document(markup)
        self.assertNotIn("hidden", page.by_id["login"].attributes)
        self.assertIn("hidden", page.by_id["dashboard"].attributes)
        self.assertEqual(page.rows("overlays-table"), [])
        self.assertEqual(page.rows("peers-table"), [])
        self.assertNotIn("RESTTestCommunity", markup)
        self.assertEqual(page.by_id["status"].all_text(), "API key needed")
        self.assertIsNotNone(re.search(r'<input[^>]*id="api-key"', markup))
