#!/usr/bin/env python3
"""pyipv8 3.2.1 side of ``bench/identity.py``: two IPv8 services with their REST APIs, as the documentation starts them.

Runs ONLY in the pyipv8 interpreter (``.venv-ref/bin/python``); ``bench/identity.py --reference`` starts it with
``--tracker-port P`` (a txipv8 tracker process on 127.0.0.1) and ``--deps DIR`` (``marshmallow<4``, which
pyipv8 3.2.1's REST layer needs and the reference venv lacks). The same services as the txipv8 side
(bench/_identity_services.py): ``get_default_configuration()`` with no overlays, one key and one working
directory each (in a temporary directory), sockets on 127.0.0.1, REST APIs on free ports, the pseudonyms
bootstrapping from the local tracker only. It prints ``BENCH-READY {"urls": [...]}`` once both APIs listen, and
stops them and exits when its standard input closes. The benchmark's HTTP client (bench/_identity_client.py)
runs in the benchmark's process, the same for both implementations.

Keeping this process on the loopback network: the loopback guard of the interop tests is installed before pyipv8
is imported, and ``pyipv8_sandbox.confine`` empties the public bootstrap list and switches off LAN probing.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ARGS = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ARGS.add_argument("--tracker-port", type=int, required=True)
ARGS.add_argument("--deps", help="a directory put in front of sys.path (marshmallow<4)")
OPTIONS = ARGS.parse_args()
if OPTIONS.deps:
    sys.path.insert(0, OPTIONS.deps)
sys.path.insert(0, os.path.join(REPO, "tests", "interop", "reference"))  # loopback_guard, pyipv8_sandbox

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import pyipv8_sandbox

pyipv8_sandbox.confine("bench/reference/identity.py")

import ipv8
import ipv8.configuration as pyipv8_configuration
from ipv8.REST.rest_manager import RESTManager
from ipv8_service import IPv8

READY_MARKER = "BENCH-READY "


def service_configuration(directory: str, peer_id: int) -> dict:
    config = pyipv8_configuration.get_default_configuration()
    # pyipv8 reads key files relative to the current directory (the process runs in ``directory``).
    config["keys"] = [{"alias": "anonymous id", "generation": "curve25519", "file": f"keyfile_{peer_id}.pem"}]
    config["working_directory"] = os.path.join(directory, f"state_{peer_id}")
    config["overlays"] = []
    config["interfaces"] = [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}]
    config["logger"] = {"level": "ERROR"}
    return config


async def wait_for_stdin_to_close() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def serve(directory: str) -> None:
    # pyipv8 leaves the handler task of every answered attestation and verification request pending; asyncio
    # logs "Task was destroyed but it is pending" for each when it is collected. The flows completed: mute it.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["ip_addresses"] = [("127.0.0.1", OPTIONS.tracker_port)]
    pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["dns_addresses"] = []
    services = []
    for peer_id in (1, 2):
        node = IPv8(service_configuration(directory, peer_id))
        await node.start()
        rest_manager = RESTManager(node)
        await rest_manager.start(0, "127.0.0.1")
        services.append((node, rest_manager))
    urls = [f"http://127.0.0.1:{manager.site._server.sockets[0].getsockname()[1]}" for _, manager in services]
    print(READY_MARKER + json.dumps({"urls": urls, "ipv8": ipv8.__file__}), flush=True)
    await wait_for_stdin_to_close()
    for node, rest_manager in services:
        manager = rest_manager.root_endpoint.endpoints["/identity"].communication_manager
        if manager is not None:
            await manager.shutdown()
        await rest_manager.stop()
        await node.stop()
    violations = loopback_guard.report()["total"]
    if violations:
        raise SystemExit(f"the loopback guard refused {violations} network operations")


def main() -> None:
    directory = tempfile.mkdtemp(prefix="pyipv8-bench-identity-")
    os.chdir(directory)
    try:
        asyncio.run(serve(directory))
    finally:
        os.chdir(REPO)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
