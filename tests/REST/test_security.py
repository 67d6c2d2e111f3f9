"""Hostile input over real TCP on 127.0.0.1: huge and chunked bodies, wrong media types, malformed URLs, deep JSON."""
from __future__ import annotations

import json
import select
import socket
import time
from typing import Any

from twisted.internet import threads

from ipv8.REST.base_endpoint import APIRequest, BaseEndpoint, api_method
from ipv8.REST.guard import APIChannel
from ipv8.REST.schema import obj

from .support import RESTTestCase

GIGABYTE = 1024 ** 3


class SinkEndpoint(BaseEndpoint):
    """Accepts any JSON object and remembers what reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[Any] = []

    @api_method("POST", "Take a body.", {200: obj()}, body={"type": "object"})
    def post_body(self, request: APIRequest) -> dict[str, Any]:
        self.bodies.append(request.body)
        return {"keys": sorted(request.body)}


def parse_answer(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one raw HTTP answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def exchange(port: int, head: bytes, body: bytes = b"") -> tuple[bytes, float]:
    """Send ``head`` and ``body``, read until the server closes; the answer and how long it took (in a thread)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + body)
        received = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    return received, time.monotonic() - started


def stream_chunks(port: int, head: bytes, chunk: bytes, most: int) -> tuple[bytes, int]:
    """Send a chunked body one chunk at a time until the server answers; the answer and the bytes sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        received = b""
        for _ in range(most):
            readable, _, _ = select.select([connection], [], [], 0.02)
            if readable:
                break
            try:
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except OSError:
                break
            sent += len(chunk)
        while True:
            try:
                part = connection.recv(65536)
            except ConnectionResetError:
                break
            if not part:
                break
            received += part
    return received, sent


class TestBodyLimits(RESTTestCase):

    async def setUp(self) -> None:
        await super().setUp()
        self.sink = SinkEndpoint()
        self.manager.register_endpoint("sink", self.sink)

    async def restart(self, **kwargs: Any) -> None:  # noqa: ANN401
        await self.manager.stop()
        await self.manager.start(0, **kwargs)

    def head(self, length: int | None, content_type: str = "application/json", extra: str = "",
             path: str = "/sink") -> bytes:
        framing = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
        return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.manager.port}\r\n{framing}\r\n"
                f"Content-Type: {content_type}\r\n{extra}\r\n").encode()

    async def test_an_announced_gigabyte_is_refused_before_it_is_sent(self) -> None:
        answer, took = await threads.deferToThread(exchange, self.manager.port, self.head(GIGABYTE), b"{" * 1000)
        status, headers, body = parse_answer(answer)
        self.assertEqual(status, 413)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(headers["connection"], "close")
        self.assertEqual(json.loads(body), {"success": False, "error": "the body may be at most 1048576 bytes",
                                            "error_code": "PayloadTooLarge"})
        # Answered (and closed) at once, although 1 GB minus 1000 bytes were still to come.
        self.assertLess(took, 1.5)
        self.assertEqual(self.sink.bodies, [])
        # The server is fine afterwards.
        self.assertEqual((await self.client.get("/network")).status, 200)

    async def test_a_client_that_keeps_sending_gets_the_answer_and_is_cut_off(self) -> None:
        self.patch(APIChannel, "linger", 0.3)
        answer, cut_after = await threads.deferToThread(keep_streaming, self.manager.port, self.head(GIGABYTE), 5.0)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:40])
        self.assertIsNotNone(cut_after)  # the server did not read on for 5 seconds
        self.assertLess(cut_after, 3.0)
        self.assertEqual(self.sink.bodies, [])
        self.assertEqual((await self.client.get("/network")).status, 200)

    async def test_without_the_key_a_gigabyte_gets_401_at_once(self) -> None:
        await self.restart(api_key="key")
        answer, took = await threads.deferToThread(exchange, self.manager.port, self.head(GIGABYTE), b"x" * 1000)
        status, _, body = parse_answer(answer)
        self.assertEqual((status, json.loads(body)), (401, {"error": "Unauthorized access"}))
        self.assertLess(took, 1.5)

    async def test_expect_100_continue_gets_the_refusal_instead(self) -> None:
        answer, _ = await threads.deferToThread(exchange, self.manager.port,
                                                self.head(GIGABYTE, extra="Expect: 100-continue\r\n"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:40])
        self.assertNotIn(b"100 Continue", answer)

    async def test_limit_is_configurable_and_exact(self) -> None:
        await self.restart(max_body_size=100)
        body = json.dumps({"k": "v" * (100 - len('{"k": ""}'))}).encode()
        self.assertEqual(len(body), 100)
        head = self.head(100, extra="Connection: close\r\n")
        answer, _ = await threads.deferToThread(exchange, self.manager.port, head, body)
        self.assertEqual(parse_answer(answer)[0], 200)
        answer, _ = await threads.deferToThread(exchange, self.manager.port, self.head(101), body + b" ")
        self.assertEqual(parse_answer(answer)[0], 413)
        self.assertEqual(len(self.sink.bodies), 1)

    async def test_a_chunked_body_is_cut_off_when_it_grows_past_the_limit(self) -> None:
        await self.restart(max_body_size=4096)
        answer, sent = await threads.deferToThread(stream_chunks, self.manager.port, self.head(None),
                                                   b" " * 1024, 2000)
        status, _, body = parse_answer(answer)
        self.assertEqual((status, json.loads(body)["error_code"]), (413, "PayloadTooLarge"))
        self.assertLess(sent, 2000 * 1024)  # the answer came long before the client was done
        self.assertEqual(self.sink.bodies, [])
        # A small chunked body is fine.
        chunked = b"7\r\n{\"a\": 1\r\n1\r\n}\r\n0\r\n\r\n"
        answer, _ = await threads.deferToThread(exchange, self.manager.port,
                                                self.head(None, extra="Connection: close\r\n"), chunked)
        self.assertEqual(parse_answer(answer)[0], 200, answer)
        self.assertEqual(self.sink.bodies, [{"a": 1}])


def keep_streaming(port: int, head: bytes, seconds: float) -> tuple[bytes, float | None]:
    """Send body bytes without pause while reading; the answer and when the server cut the connection."""
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        connection.setblocking(False)
        block = b" " * 65536
        while time.monotonic() - started < seconds:
            readable, writable, _ = select.select([connection], [connection], [], 0.05)
            try:
                if readable:
                    part = connection.recv(65536)
                    if not part:
                        return received, time.monotonic() - started
                    received += part
                if writable:
                    connection.send(block)
            except BlockingIOError:
                continue
            except OSError:
                return received, time.monotonic() - started
    return received, None


class TestMediaType(RESTTestCase):

    async def setUp(self) -> None:
        await super().setUp()
        self.sink = SinkEndpoint()
        self.manager.register_endpoint("sink", self.sink)

    async def test_bodies_must_be_declared_json(self) -> None:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                             "application/jsonx", None):
            headers = {} if content_type is None else {"Content-Type": content_type}
            result = await self.client.request("POST", "/sink", raw_body=b'{"a": 1}', headers=headers)
            self.assertEqual((result.status, result.json["error_code"]), (415, "UnsupportedMediaType"), content_type)
        for content_type in ("application/json", "Application/JSON; charset=utf-8"):
            result = await self.client.request("POST", "/sink", raw_body=b'{"a": 1}',
                                               headers={"Content-Type": content_type})
            self.assertEqual((result.status, result.json), (200, {"keys": ["a"]}), content_type)
        # No body needs no media type.
        result = await self.client.request("POST", "/sink")
        self.assertEqual((result.status, result.json["error_code"]), (400, "BadRequest"))
        self.assertEqual(len(self.sink.bodies), 2)

    async def test_a_text_plain_isolation_request_changes_nothing(self) -> None:
        body = json.dumps({"ip": "127.0.0.1", "port": 9, "bootstrapnode": True}).encode()
        result = await self.client.request("POST", "/isolation", raw_body=body, headers={"Content-Type": "text/plain"})
        self.assertEqual(result.status, 415)
        self.assertEqual(self.session.network.blacklist, [])


class TestMalformedInput(RESTTestCase):

    async def setUp(self) -> None:
        await super().setUp()
        self.sink = SinkEndpoint()
        self.manager.register_endpoint("sink", self.sink)

    async def post(self, raw: bytes) -> Any:  # noqa: ANN401
        return await self.client.request("POST", "/sink", raw_body=raw, headers={"Content-Type": "application/json"})

    async def test_malformed_urls_are_400_without_a_traceback(self) -> None:
        with self.assertNoLogs(level="ERROR"):
            for path in ("/network?x=%ff", "/network?x=%zz", "/network?%ff=1", "/network?x=%f", "/network/%ff",
                         "/network/%fe%ff/", "/debug/reactor?limit=%ff", "/overlays%"):
                result = await self.client.get(path)
                self.assertEqual((result.status, result.json["error_code"]), (400, "BadRequest"), path)
                self.assertIsInstance(result.json["error"], str)
        self.assertEqual((await self.client.get("/network?x=%C3%A9&y=+")).status, 200)

    async def test_deep_nesting_is_400(self) -> None:
        with self.assertNoLogs(level="ERROR"):
            for depth in (100_000, 2000, 65):
                result = await self.post(b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}")
                self.assertEqual(result.status, 400, depth)
                self.assertIn("nested more than 64 levels", result.json["error"])
            result = await self.post(b"[" * 100_000)
            self.assertEqual(result.status, 400)
        result = await self.post(b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}")
        self.assertEqual(result.status, 200)
        self.assertEqual(len(self.sink.bodies), 1)

    async def test_bad_json_values_are_400(self) -> None:
        with self.assertNoLogs(level="ERROR"):
            for raw, message in ((b'{"a": NaN}', "NaN is not a JSON number"),
                                 (b'{"a": -Infinity}', "-Infinity is not a JSON number"),
                                 (b'{"a": ' + b"1" * 5000 + b"}", "not valid JSON"),
                                 (b'{"a": "\xff"}', "not UTF-8"), (b"[1, 2]", "expected object"),
                                 (b'{"a": 1} {"b": 2}', "not valid JSON")):
                result = await self.post(raw)
                self.assertEqual(result.status, 400, raw[:20])
                self.assertIn(message, result.json["error"])
        self.assertEqual(self.sink.bodies, [])

    async def test_bad_types_in_known_routes_are_400(self) -> None:
        with self.assertNoLogs(level="ERROR"):
            for body in ({"ip": ["127.0.0.1"], "port": 9, "bootstrapnode": True},
                         {"ip": "127.0.0.1", "port": 1e300, "bootstrapnode": True},
                         {"ip": "127.0.0.1", "port": None, "bootstrapnode": True},
                         {"ip": "127.0.0.1\x00", "port": 9, "bootstrapnode": True}):
                result = await self.client.post("/isolation", body)
                self.assertEqual(result.status, 400, body)
            result = await self.client.post("/overlays/statistics", {"enable": True, "overlay_name": {"x": 1}})
            self.assertEqual(result.status, 400)
        self.assertEqual(self.session.network.blacklist, [])
