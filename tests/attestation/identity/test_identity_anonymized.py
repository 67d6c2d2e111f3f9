"""Anonymized pseudonyms: with a HiddenTunnelCommunity loaded, identity traffic travels through circuits.

The cast, on the in-memory internet: node A (the owner) and node B (the authority) each run a
HiddenTunnelCommunity and a CommunicationManager; node E is an IPv8 exit whose exit ports are mock endpoints
(:class:`~ipv8.test.mocking.exit_socket.MockExitReactor`). Each pseudonym has a socket of its own, wrapped in a
TunnelEndpoint: what it sends leaves through a one-hop circuit of its node ending in E, and it accepts only what
comes back through such a circuit. The two pseudonyms meet at each other's exit port (the address a tracker would
introduce), then go through the documented enrollment flow. Neither ever receives a packet from the other's own
addresses: every byte between them passed E's exit sockets.

Without a tunnel community a pseudonym is not anonymized, and says so (``CommunicationChannel.anonymized``, a log
line); an overlay that asks for anonymity on an endpoint without a tunnel community sends nothing in the clear.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from zope.interface import implementer

from ipv8.attestation.communication_manager import CommunicationManager
from ipv8.attestation.identity.community import create_community
from ipv8.attestation.identity.manager import IdentityManager
from ipv8.attestation.wallet.worker import run_inline
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.anonymization.community import TunnelCommunity, TunnelSettings
from ipv8.messaging.anonymization.endpoint import (
    DROP_TUNNEL_DIRECT_FOR_ANONYMIZED,
    DROP_TUNNEL_NO_COMMUNITY,
)
from ipv8.messaging.anonymization.hidden_services import (
    HiddenTunnelCommunity,
    HiddenTunnelSettings,
)
from ipv8.messaging.anonymization.tunnel import PEER_FLAG_EXIT_IPV8, PEER_FLAG_RELAY
from ipv8.messaging.interfaces.endpoint import IEndpointListener
from ipv8.test.base import TestBase
from ipv8.test.mocking.exit_socket import MockExitReactor
from ipv8.test.mocking.ipv8 import MockIPv8

VALUE = b"value"


@implementer(IEndpointListener)
class SourceLog:
    """The source address of every datagram a socket received."""

    def __init__(self) -> None:
        self.sources: list[tuple] = []

    def on_packet(self, packet: tuple[Any, bytes]) -> None:
        self.sources.append(tuple(packet[0]))


class TestAnonymizedIdentity(TestBase):
    MAX_TEST_TIME = 30.0

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.exit_reactor = MockExitReactor(self.internet)
        return result

    def tunnel_node(self, community_class: type, settings: Any, flags: set[int]) -> MockIPv8:
        node = MockIPv8("curve25519", community_class, settings, internet=self.internet)
        node.overlay.settings.peer_flags = flags
        self.nodes.append(node)
        self.patch_overlays(len(self.nodes) - 1)
        return node

    def manager(self, node: MockIPv8) -> CommunicationManager:
        manager = CommunicationManager(node, working_directory=":memory:", worker_runner=run_inline)
        self.addCleanup(manager.shutdown)
        return manager

    async def test_attestation_through_circuits(self) -> None:
        node_a = self.tunnel_node(HiddenTunnelCommunity, HiddenTunnelSettings(
            clock=self.clock, remove_tunnel_delay=0, exit_reactor=self.exit_reactor), set())
        node_b = self.tunnel_node(HiddenTunnelCommunity, HiddenTunnelSettings(
            clock=self.clock, remove_tunnel_delay=0, exit_reactor=self.exit_reactor), set())
        exit_node = self.tunnel_node(TunnelCommunity, TunnelSettings(
            clock=self.clock, remove_tunnel_delay=0, exit_reactor=self.exit_reactor),
            {PEER_FLAG_RELAY, PEER_FLAG_EXIT_IPV8})
        for node in (node_a, node_b):
            node.overlay.walk_to(exit_node.raw_endpoint.wan_address)
        await self.deliver_messages()

        owner = await self.manager(node_a).load("alice")
        authority = await self.manager(node_b).load("bank")
        self.assertTrue(owner.anonymized and authority.anonymized)
        socket_a, socket_b = owner.identity_overlay.endpoint.endpoint, authority.identity_overlay.endpoint.endpoint
        seen_a, seen_b = SourceLog(), SourceLog()
        socket_a.add_listener(seen_a)
        socket_b.add_listener(seen_b)
        own_a = {tuple(node_a.raw_endpoint.wan_address), tuple(socket_a.wan_address)}
        own_b = {tuple(node_b.raw_endpoint.wan_address), tuple(socket_b.wan_address)}

        # Contacting the other pseudonym's own socket builds our circuit, but the packet arrives there from the
        # exit, not through a circuit of the receiver's node: it is dropped, and nobody learns of anyone.
        authority.identity_overlay.walk_to(socket_a.wan_address)
        owner.identity_overlay.walk_to(socket_b.wan_address)
        await self.deliver_messages()
        self.assertEqual([], owner.peers)
        self.assertEqual([], authority.peers)
        self.assertGreaterEqual(owner.identity_overlay.endpoint.tunnel_drops[DROP_TUNNEL_DIRECT_FOR_ANONYMIZED], 1)
        exits = {socket.circuit_id: socket for socket in exit_node.overlay.exit_sockets.values()}
        [circuit_a] = node_a.overlay.circuits.values()
        [circuit_b] = node_b.overlay.circuits.values()
        exit_a = tuple(exits[circuit_a.circuit_id].get_address())
        exit_b = tuple(exits[circuit_b.circuit_id].get_address())

        # Meeting at the exit port of the other's circuit (where a tracker would introduce it).
        owner.identity_overlay.walk_to(exit_b)
        await self.deliver_messages()
        self.assertEqual([exit_b], [tuple(peer.address) for peer in owner.peers])
        self.assertEqual([exit_a], [tuple(peer.address) for peer in authority.peers])
        [authority_peer] = owner.peers
        [owner_peer] = authority.peers
        self.assertEqual(authority.public_key_bin, authority_peer.public_key.key_to_bin())

        # The enrollment flow.
        requested = owner.request_attestation(authority_peer, "my_attribute", "id_metadata", {})
        await self.deliver_messages()
        self.assertEqual([(owner_peer, "my_attribute")], list(authority.attestation_requests))
        authority.attest(owner_peer, "my_attribute", VALUE)
        await self.deliver_messages()
        self.assertIsNotNone(await requested)
        [(_, _, attesters)] = owner.get_my_attributes().values()
        self.assertEqual([authority.public_key_bin], attesters)

        # Every byte between the two went through the circuits and E's exit ports.
        self.assertFalse(own_b & set(seen_a.sources), seen_a.sources)
        self.assertFalse(own_a & set(seen_b.sources), seen_b.sources)
        self.assertFalse(own_b & {tuple(peer.address) for peer in owner.peers})
        for endpoint in (owner.identity_overlay.endpoint, authority.identity_overlay.endpoint):
            self.assertGreaterEqual(endpoint.packets_tunneled, 3)
            self.assertGreaterEqual(endpoint.packets_from_tunnel, 3)
        for exit_socket in (exits[circuit_a.circuit_id], exits[circuit_b.circuit_id]):
            self.assertGreater(exit_socket.bytes_up, 500)
            self.assertGreater(exit_socket.bytes_down, 500)

    async def test_without_a_tunnel_community(self) -> None:
        node = MockIPv8("curve25519", TunnelCommunity, TunnelSettings(clock=self.clock), internet=self.internet)
        self.nodes.append(node)
        with self.assertLogs("ipv8.attestation.communication_manager", "INFO") as logged:
            channel = await CommunicationManager(node, working_directory=":memory:",
                                                 worker_runner=run_inline).load("plain")
        self.addCleanup(channel.attestation_overlay.unload)
        self.addCleanup(channel.identity_overlay.unload)
        self.assertFalse(channel.anonymized)
        self.assertIn("is not anonymized", "\n".join(logged.output))

        # An overlay that asks for anonymity but has no tunnel community sends nothing at all.
        community = await create_community(default_eccrypto.generate_key("curve25519"), node,
                                           IdentityManager(":memory:"), working_directory=":memory:", anonymize=True)
        self.addCleanup(community.unload)
        socket = community.endpoint.endpoint
        community.walk_to(node.raw_endpoint.wan_address)
        await self.deliver_messages()
        self.assertEqual(0, socket.packets_sent)
        self.assertEqual(1, community.endpoint.tunnel_drops[DROP_TUNNEL_NO_COMMUNITY])
