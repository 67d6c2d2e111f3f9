"""
A pyipv8 3.2.1 IPv8 service with its REST API, as the IPv8 documentation's ``main.py`` starts it ("Using the IPv8
attestation service"), for tests/interop/test_identity_rest_interop.py.  Run it ONLY with ``.venv-ref/bin/python``.

Usage: ``python ref_identity_service.py '<JSON configuration>'`` with the keys

``deadline``           seconds after which the service stops by itself (default 30)
``api_key``            the REST API key (default none)
``working_directory``  the service's state directory (pseudonym keys, ``sqlite/``); required
``trackers``           ``[[ip, port], ...]``: loopback trackers the pseudonym overlays bootstrap from (default none)
``extra_path``         a directory put in front of ``sys.path`` (pyipv8 3.2.1's REST layer needs marshmallow<4;
                       see test_rest_compat.py, which installs it there)

As in the documentation the service loads no overlay of its own; the ``/identity`` routes create the pseudonym
overlays on demand, and those bootstrap from ``ipv8.configuration.DISPERSY_BOOTSTRAPPER``. This driver points that
setting at ``trackers`` only (the public list is emptied first, by :mod:`pyipv8_sandbox`), binds every socket to
127.0.0.1 (UDP port 0, REST port 0: the system picks) and installs the loopback guard before pyipv8 is imported.

It speaks the line protocol of the interop drivers (:mod:`command_loop`): a ``ready`` event with ``rest_port``,
the UDP ``address``, ``pid`` and ``pyipv8`` (the version), then JSON commands on stdin: ``pseudonyms`` (name ->
the UDP address of each loaded pseudonym's overlays), ``report`` (the loopback guard's counters) and ``stop``. It exits when stdin closes, on ``stop`` or at
the deadline, with an ``exit`` event that carries the loopback guard's refusal counters.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

CONFIG = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
if CONFIG.get("extra_path"):
    sys.path.insert(0, CONFIG["extra_path"])
sys.path.insert(0, str(Path(__file__).resolve().parent))

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import copy
import importlib.metadata
import os
from typing import Any

import command_loop
import pyipv8_sandbox

pyipv8_sandbox.confine("ref_identity_service.py")

import ipv8.configuration as pyipv8_configuration
from ipv8.REST.rest_manager import RESTManager
from ipv8_service import IPv8


def point_bootstrapper_at(trackers: list[list[Any]]) -> None:
    """The pseudonym overlays read DISPERSY_BOOTSTRAPPER when they are created: only our loopback trackers."""
    addresses = []
    for host, port in trackers:
        if not loopback_guard.is_loopback(host):
            raise SystemExit(f"refusing the non-loopback tracker {host}:{port}")
        addresses.append((host, int(port)))
    pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["ip_addresses"] = addresses
    pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["dns_addresses"] = []


def build_configuration() -> dict[str, Any]:
    """The documentation's configuration: default settings, one key, a working directory, no overlays."""
    configuration = copy.deepcopy(pyipv8_configuration.get_default_configuration())
    configuration["interfaces"] = [{"interface": "UDPIPv4", "ip": "127.0.0.1", "port": 0}]
    configuration["keys"] = [{"alias": "anonymous id", "generation": "curve25519", "file": ""}]
    configuration["logger"] = {"level": "ERROR"}
    configuration["working_directory"] = CONFIG["working_directory"]
    configuration["overlays"] = []
    return configuration


class Service:
    """The IPv8 instance, its REST manager and the commands the test sends."""

    def __init__(self) -> None:
        point_bootstrapper_at(CONFIG.get("trackers", []))
        self.ipv8 = IPv8(build_configuration())
        self.rest = RESTManager(self.ipv8)
        self.shutdown = command_loop.Shutdown(float(CONFIG.get("deadline", 30.0)))

    def identity_endpoint(self) -> Any:
        return self.rest.root_endpoint.endpoints["/identity"]

    async def start(self) -> None:
        for interface in [self.ipv8.endpoint, *getattr(self.ipv8.endpoint, "interfaces", {}).values()]:
            loopback_guard.guard_endpoint(interface)
        await self.ipv8.start()
        await self.rest.start(0, "127.0.0.1", api_key=CONFIG.get("api_key"))
        rest_port = self.rest.site._server.sockets[0].getsockname()[1]
        udp = self.ipv8.endpoint.get_address()
        command_loop.emit("ready", address=[udp[0], udp[1]], rest_port=rest_port, pid=os.getpid(),
                          pyipv8=importlib.metadata.version("pyipv8"))

    async def run(self, command: dict[str, Any]) -> Any:
        kind = command.get("cmd")
        if kind == "pseudonyms":
            manager = self.identity_endpoint().communication_manager
            if manager is None:
                return {}
            return {name: list(channel.identity_overlay.endpoint.get_address())
                    for name, channel in manager.name_to_channel.items()}
        if kind == "report":
            return {"refusals": loopback_guard.report()}
        if kind == "stop":
            self.shutdown.request("stop command")
            return None
        raise ValueError(f"unknown command {kind!r}")

    async def stop(self) -> None:
        manager = self.identity_endpoint().communication_manager
        if manager is not None:
            await manager.shutdown()
        await self.rest.stop()
        await self.ipv8.stop()


async def main() -> None:
    service = Service()
    await service.start()
    reason = await command_loop.serve_until_shutdown(service.run, service.shutdown)
    await command_loop.stop_within(service.stop(), 3.0, "stopping pyipv8")
    command_loop.emit("exit", reason=reason, refusals=loopback_guard.report())


if __name__ == "__main__":
    command_loop.run_to_exit(main())
