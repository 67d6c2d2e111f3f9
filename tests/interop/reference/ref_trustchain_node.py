"""
A pyipv8 1.10.0 TrustChain node, driven by tests/interop/test_trustchain_interop.py.  Run it ONLY with
``.venv-ipv8-1x/bin/python`` (``make legacy-1x-venv``).

Usage: ``python ref_trustchain_node.py '<JSON configuration>'`` with the (optional) keys ``deadline`` (seconds
after which the process stops by itself, default 40) and ``should_sign`` (whether the node countersigns
proposals of type ``test``, default true).

pyipv8 1.10 runs on Twisted, so this driver does not use :mod:`command_loop`'s asyncio loop: it speaks the same
line protocol (JSON events on stdout, JSON commands on stdin, answered with ``reply`` events) through Twisted's
``stdio``. It runs one ``TrustChainCommunity`` on its own UDP socket on 127.0.0.1 without walker and without
bootstrap servers. Keys and hashes travel as hex, blocks as the hex of their packed form. Commands:

``walk``     ``{"address": [ip, port]}``: send an introduction request there (both sides learn the other)
``sign``     ``{"address": [ip, port], "public_key": hex, "transaction": {...}}``: propose a ``test`` block to
             that key and wait for the agreement; returns ``{"proposal": packed, "agreement": packed}``
``crawl``    ``{"address": [ip, port], "public_key": hex}``: crawl that peer's whole chain
``blocks``   ``{"public_key": hex}``: every stored block of that chain, ``[{"packed", "hash", "validation"}]``
``all``      every stored block (packed hex), sorted
``report``   the node's public key, chain length and the loopback guard's refusal counters
``stop``     stop the node
"""
from __future__ import annotations

import loopback_guard

loopback_guard.install()  # before pyipv8 creates a single socket

import faulthandler
import json
import pathlib
import signal
import sys
import traceback

import ipv8

if "site-packages" not in pathlib.Path(ipv8.__file__).parts:
    sys.exit(f"ref_trustchain_node.py must run on the pyipv8 1.10 interpreter, not with {ipv8.__file__}")

import ipv8.community as pyipv8_community
import ipv8.messaging.interfaces.endpoint as pyipv8_endpoint

# No bootstrap servers, no LAN probing: this node lives on 127.0.0.1 only.
pyipv8_community._DEFAULT_ADDRESSES[:] = []
pyipv8_community._DNS_ADDRESSES[:] = []
pyipv8_endpoint.EndpointListener._get_lan_address = lambda self, bootstrap=False: ("127.0.0.1", self.endpoint._port)

from twisted.internet import reactor, stdio
from twisted.internet.defer import inlineCallbacks, maybeDeferred
from twisted.protocols.basic import LineReceiver

from ipv8.attestation.trustchain.community import TrustChainCommunity
from ipv8.attestation.trustchain.listener import BlockListener
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network


def emit(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class TestListener(BlockListener):
    """Countersigns ``test`` proposals when the configuration says so."""

    def __init__(self, verdict):
        self.verdict = verdict

    def should_sign(self, block):
        return self.verdict

    def received_block(self, block):
        pass


class Node:
    def __init__(self, config):
        self.config = config
        self.endpoint = UDPEndpoint(0, "127.0.0.1")
        self.community = None

    @inlineCallbacks
    def start(self):
        yield maybeDeferred(self.endpoint.open)
        loopback_guard.guard_endpoint(self.endpoint)
        key = default_eccrypto.generate_key("curve25519")
        self.community = TrustChainCommunity(Peer(key, self.endpoint.get_address()), self.endpoint, Network(),
                                             working_directory=":memory:")
        self.community.add_listener(TestListener(bool(self.config.get("should_sign", True))), [b"test"])

    def address(self):
        return list(self.endpoint.get_address())

    def public_key(self):
        return self.community.my_peer.public_key.key_to_bin()

    def describe(self, block):
        state = block.validate(self.community.persistence)[0]
        # 1.10 names the states with functions (ValidationResult.valid etc.): report their names.
        return {"packed": block.pack().hex(), "hash": block.hash.hex(),
                "validation": getattr(state, "__name__", state)}

    @inlineCallbacks
    def run(self, command):
        cmd = command.get("cmd")
        community = self.community
        if cmd == "walk":
            community.walk_to(tuple(command["address"]))
            return None
        if cmd == "sign":
            peer = Peer(bytes.fromhex(command["public_key"]), tuple(command["address"]))
            first, second = yield community.sign_block(peer, public_key=peer.public_key.key_to_bin(),
                                                             block_type=b"test",
                                                             transaction=command.get("transaction", {}))
            # 1.10 fires with (agreement, proposal) when the agreement came over the network.
            proposal, agreement = (first, second) if first.link_sequence_number == 0 else (second, first)
            return {"proposal": proposal.pack().hex(), "agreement": agreement.pack().hex()}
        if cmd == "crawl":
            peer = Peer(bytes.fromhex(command["public_key"]), tuple(command["address"]))
            yield community.crawl_chain(peer)
            return None
        if cmd == "blocks":
            public_key = bytes.fromhex(command["public_key"])
            latest = community.persistence.get_latest(public_key)
            top = latest.sequence_number if latest else 0
            blocks = [community.persistence.get(public_key, seq) for seq in range(1, top + 1)]
            return [self.describe(block) for block in blocks if block is not None]
        if cmd == "all":
            blocks = community.persistence._getall("", ())
            return sorted(block.pack().hex() for block in blocks)
        if cmd == "report":
            return {"public_key": self.public_key().hex(), "chain_length": community.get_chain_length(),
                    "refusals": {"total": sum(loopback_guard.REFUSALS.values()), **loopback_guard.REFUSALS}}
        if cmd == "stop":
            reactor.callLater(0, stop)
            return None
        raise ValueError("unknown command %r" % (cmd,))


class Commands(LineReceiver):
    delimiter = b"\n"

    def __init__(self, node):
        self.node = node

    def lineReceived(self, line):
        try:
            command = json.loads(line)
        except ValueError:
            emit("error", error="not JSON: %r" % (line,))
            return
        done = maybeDeferred(self.node.run, command)
        done.addCallback(lambda result: emit("reply", id=command.get("id"), ok=True, result=result))
        done.addErrback(lambda failure: emit("reply", id=command.get("id"), ok=False,
                                             error="%s: %s" % (failure.type.__name__, failure.value),
                                             traceback=failure.getTraceback()))

    def connectionLost(self, reason=None):
        stop()


_stopped = []


def stop():
    if _stopped:
        return
    _stopped.append(True)
    emit("exit", refusals={"total": sum(loopback_guard.REFUSALS.values()), **loopback_guard.REFUSALS})
    reactor.stop()


def main():
    faulthandler.register(signal.SIGUSR1)  # the test asks for the stacks of a node that stopped answering
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    node = Node(config)

    def started(_):
        stdio.StandardIO(Commands(node))
        emit("ready", address=node.address(), mid=node.community.my_peer.mid.hex(),
             public_key=node.public_key().hex())

    def failed(failure):
        emit("error", error=str(failure.value), traceback=failure.getTraceback())
        stop()

    reactor.callWhenRunning(lambda: node.start().addCallbacks(started, failed))
    reactor.callLater(float(config.get("deadline", 40.0)), stop)
    try:
        reactor.run()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
