"""
One peer that bootstraps by UDP broadcast; test_udp_broadcast.py runs two of them in network namespaces.

It refuses to run unless the namespace it is in has nothing but the loopback interface and the expected
veth, so it can never broadcast on a real network. It prints one JSON line: whom it found and its counters.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys

from twisted.internet.task import react

from ipv8.bootstrapping.udpbroadcast.bootstrapper import UDPBroadcastBootstrapper
from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test import netguard
from ipv8.util import sleep

GRACE = 1.5  # seconds to keep answering after finding the other peer, so it can finish too


class BroadcastCommunity(Community):
    community_id = b"broadcast-test-commu"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", required=True)
    parser.add_argument("--subnet", required=True)
    parser.add_argument("--expect", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--broadcast-port", type=int, required=True)
    parser.add_argument("--sweep", required=True, help="first-last port of the beacon sweep")
    parser.add_argument("--deadline", type=float, default=8.0)
    return parser.parse_args(argv)


async def run(reactor, args: argparse.Namespace) -> None:  # noqa: ANN001
    first, last = (int(part) for part in args.sweep.split("-"))
    endpoint = UDPEndpoint(args.port, "0.0.0.0")
    await endpoint.open()
    community = BroadcastCommunity(CommunitySettings(my_peer=Peer(default_eccrypto.generate_key("curve25519")),
                                                     endpoint=endpoint, network=Network()))
    bootstrapper = UDPBroadcastBootstrapper(0.5, ports=range(first, last + 1), broadcast_port=args.broadcast_port,
                                            batch_size=4, batch_interval=0.01)
    community.bootstrappers.append(bootstrapper)
    started = reactor.seconds()
    found_at = None
    while reactor.seconds() - started < args.deadline:
        peers = [peer.address for peer in community.get_peers()]
        if found_at is None:
            if any(address[0] == args.expect for address in peers):
                found_at = reactor.seconds()
            else:
                community.bootstrap()
        elif reactor.seconds() - found_at >= GRACE:
            break
        await sleep(0.05)
    report = {
        "found": found_at is not None,
        "elapsed": round((found_at or reactor.seconds()) - started, 3),
        "peers": [list(peer.address) for peer in community.get_peers()],
        "beacons_sent": bootstrapper.beacons_sent,
        "send_errors": bootstrapper.send_errors,
        "walks": bootstrapper.protocol.walks if bootstrapper.protocol else 0,
        "violations": [violation.describe() for violation in netguard.take_violations()],
    }
    await community.unload()
    await endpoint.close()
    print(json.dumps(report), flush=True)


def main(argv: list[str]) -> None:
    args = parse(argv)
    interfaces = {name for _, name in socket.if_nameindex()}
    if interfaces != {"lo", args.device}:
        sys.stderr.write(f"refusing to broadcast: this is not an isolated test namespace ({sorted(interfaces)})\n")
        sys.exit(4)
    netguard.install()
    with netguard.allow(args.subnet, "255.255.255.255/32"):
        react(run, [args])


if __name__ == "__main__":
    main(sys.argv[1:])
