#!/usr/bin/env python3
"""txipv8 side of ``bench/identity.py``: two IPv8 services with their REST APIs, as the documentation starts them.

Runs in txipv8's interpreter behind its network guard (``python -m ipv8.test.netguard bench/_identity_services.py
--tracker-port P``). The services are those of doc/basics/identity.md: ``get_default_configuration()`` with no
overlays, one key and one working directory each (in a temporary directory), sockets on 127.0.0.1, REST APIs on
free ports; the pseudonyms bootstrap from the local tracker on port ``P`` (``DISPERSY_BOOTSTRAPPER``). Once
both APIs listen it prints one line ``BENCH-READY {"urls": [...]}``; it stops them and exits when its standard
input closes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Any

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH_DIR))

from twisted.internet import reactor, stdio
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.protocol import Protocol

import ipv8
from ipv8 import configuration
from ipv8.configuration import get_default_configuration
from ipv8.REST.rest_manager import RESTManager
from ipv8_service import IPv8

READY_MARKER = "BENCH-READY "


class UntilStdinCloses(Protocol):
    """Fires :attr:`closed` when the benchmark closes our standard input (or dies)."""

    def __init__(self) -> None:
        self.closed: Deferred[None] = Deferred()

    def connectionLost(self, reason: Any = None) -> None:
        if not self.closed.called:
            self.closed.callback(None)


def service_configuration(directory: str, peer_id: int) -> dict[str, Any]:
    config = get_default_configuration()
    config["keys"] = [{"alias": "anonymous id", "generation": "curve25519", "file": f"keyfile_{peer_id}.pem"}]
    config["working_directory"] = os.path.join(directory, f"state_{peer_id}")
    config["overlays"] = []
    config["interfaces"] = [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}]
    config["logger"] = {"level": "ERROR"}
    return config


async def serve(tracker_port: int, directory: str) -> None:
    configuration.DISPERSY_BOOTSTRAPPER["init"].update(ip_addresses=[("127.0.0.1", tracker_port)], dns_addresses=[])
    services = []
    for peer_id in (1, 2):
        node = IPv8(service_configuration(directory, peer_id))
        await node.start()
        rest_manager = RESTManager(node)
        await rest_manager.start(0, "127.0.0.1")
        services.append((node, rest_manager))
    watcher = UntilStdinCloses()
    stdio.StandardIO(watcher)
    print(READY_MARKER + json.dumps({"urls": [manager.url for _, manager in services], "ipv8": ipv8.__file__}),
          flush=True)
    await watcher.closed
    for node, rest_manager in services:
        await rest_manager.stop()
        await rest_manager.root_endpoint.child_endpoint("identity").stopping
        await node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracker-port", type=int, required=True)
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="txipv8-bench-identity-")
    failures: list[Any] = []

    def run() -> None:
        done = ensureDeferred(serve(args.tracker_port, directory))
        done.addErrback(failures.append).addBoth(lambda _: reactor.stop())
    reactor.callWhenRunning(run)
    reactor.run()
    shutil.rmtree(directory, ignore_errors=True)
    if failures:
        print(failures[0].getTraceback(), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
