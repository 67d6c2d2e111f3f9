"""End to end: ``twistd ipv8`` nodes on a private network on 127.0.0.1 share values through the DHT and REST.

A value PUT on one node's ``/dht/values/{key}`` is found by another node's ``GET /dht/values/{key}``, signed by
the first node's key; and ``/dht/peers/{mid}`` connects one node to another by mid. Every process runs
behind the test network guard.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

TWISTD = Path(sys.executable).parent / "twistd"
KEY = "42" * 20


def twistd(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "ipv8.test.netguard", str(TWISTD), "-n", "--pidfile=", *arguments]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose output is collected in the background."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.lines: list[str] = []
        self.process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.lines:
                if text in line:
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r}:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Node:
    """One ``twistd ipv8`` process with its REST API."""

    def __init__(self, directory: Path, tracker_port: int) -> None:
        self.process = Process(twistd("ipv8", "--ip", "127.0.0.1", "--port", str(free_udp_port()),
                                      "--working-dir", str(directory), "--bootstrap", f"127.0.0.1:{tracker_port}",
                                      "--rest-interface", "127.0.0.1", "--rest-port", "0"), directory)
        listening = self.process.wait_for("REST API listening on", 30)
        self.url = listening.split("REST API listening on ", 1)[1].strip()
        self.api_key = (directory / "rest_api_key").read_text().strip()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:  # noqa: ANN401
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"X-Api-Key": self.api_key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def public_key(self) -> bytes:
        status, answer = self.call("GET", "/overlays")
        assert status == 200
        overlay = next(item for item in answer["overlays"] if item["overlay_name"] == "DHTDiscoveryCommunity")
        return bytes.fromhex(overlay["my_peer"])


def poll(check: Any, timeout: float, what: str) -> Any:  # noqa: ANN401
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} (last answer: {last!r})")


@pytest.fixture(scope="module")
def network(tmp_path_factory: Any) -> Any:  # noqa: ANN401
    """A tracker and three nodes, shared by the tests of this module (starting them takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("dht_network")
    tracker_port = free_udp_port()
    tracker = Process(twistd("tracker", "--listen_ip=127.0.0.1", f"--listen_port={tracker_port}"), tmp_path / "tracker")
    nodes: list[Node] = []
    try:
        tracker.wait_for("Tracker listening on", 30)
        nodes.extend(Node(tmp_path / f"node{index}", tracker_port) for index in range(3))
        yield nodes
    finally:
        for node in nodes:
            node.process.stop()
        tracker.stop()
    for node in nodes:
        log = "\n".join(node.process.lines)
        assert "Traceback" not in log and "Unhandled" not in log, log


def test_a_value_put_on_one_node_is_found_through_another(network: list[Node]) -> None:
    writer, reader, _ = network

    def stored() -> bool:
        status, answer = writer.call("PUT", f"/dht/values/{KEY}", {"value": b"from twistd".hex()})
        return status == 200 and answer == {"success": True}
    poll(stored, 60, "the writer could not store the value")

    def found() -> list[dict[str, Any]]:
        status, answer = reader.call("GET", f"/dht/values/{KEY}")
        return answer["values"] if status == 200 else []
    values = poll(found, 30, "the reader did not find the value")
    assert [bytes.fromhex(value["value"]) for value in values] == [b"from twistd"]
    assert base64.b64decode(values[0]["public_key"]) == writer.public_key()


def test_connect_by_mid_across_processes(network: list[Node]) -> None:
    first, second, _ = network
    from ipv8.keyvault.crypto import default_eccrypto
    mid = default_eccrypto.key_from_public_bin(second.public_key()).key_to_hash().hex()

    def connected() -> list[dict[str, Any]]:
        status, answer = first.call("GET", f"/dht/peers/{mid}")
        return answer.get("peers", []) if status == 200 else []
    peers = poll(connected, 60, "the first node could not connect to the second by mid")
    assert {base64.b64decode(peer["public_key"]) for peer in peers} == {second.public_key()}
