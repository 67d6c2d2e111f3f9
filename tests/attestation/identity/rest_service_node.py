"""Helper process for test_identity_rest_crash.py: a txipv8 IPv8 service with its REST API, killed by the test.

Usage: ``python rest_service_node.py <working directory> <tracker ip> <tracker port> <api key>``.

It installs the network guard (only loopback), points ``DISPERSY_BOOTSTRAPPER`` at the given loopback tracker
(the pseudonym overlays bootstrap from it), starts IPv8 with no overlays in ``<working directory>`` (the
documentation's service) and its REST API on 127.0.0.1 (a free port), and prints one JSON line
``{"rest_port": ..., "pid": ...}``. Then it runs until it is killed (or, should the test die, for at most
:data:`DEADLINE` seconds).
"""
from __future__ import annotations

import json
import os
import sys

from ipv8.test import netguard

netguard.install()  # before a single socket is opened

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred

from ipv8 import configuration
from ipv8.configuration import ConfigBuilder
from ipv8.REST.rest_manager import RESTManager
from ipv8.service import IPv8

#: Seconds after which the process stops by itself.
DEADLINE = 30.0


async def start(directory: str, tracker: tuple[str, int], api_key: str) -> None:
    configuration.DISPERSY_BOOTSTRAPPER["init"].update(ip_addresses=[tracker], dns_addresses=[])
    config = (ConfigBuilder().clear_keys().clear_overlays().add_ephemeral_key("anonymous id")
              .set_address("127.0.0.1").set_port(0).set_working_directory(directory)
              .set_walker_interval(0.1).finalize())
    ipv8 = IPv8(config)
    await ipv8.start()
    manager = RESTManager(ipv8)
    await manager.start(0, "127.0.0.1", api_key=api_key)
    sys.stdout.write(json.dumps({"rest_port": manager.port, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()


def main(directory: str, host: str, port: str, api_key: str) -> None:
    def failed(failure: object) -> None:
        sys.stderr.write(f"start failed: {failure}\n")
        reactor.stop()
    reactor.callWhenRunning(lambda: ensureDeferred(start(directory, (host, int(port)), api_key)).addErrback(failed))
    reactor.callLater(DEADLINE, reactor.stop)
    reactor.run()


if __name__ == "__main__":
    main(*sys.argv[1:5])
