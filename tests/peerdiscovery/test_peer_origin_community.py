"""Peer origins learnt by real introduction, puncture and bootstrap messages on the in-memory internet."""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import succeed

from ipv8.peerdiscovery.peer_origin import (
    BOOTSTRAP,
    CONTACTED_US,
    INTRODUCED,
    PUNCTURE_RECEIVED,
    PUNCTURE_SENT,
    VIA_PUNCTURE_REQUEST,
    VIA_WAN,
    WALKED,
    PeerOrigin,
)
from ipv8.test.base import TestBase

from ..test_community import EchoCommunity


class ListBootstrapper:
    """A bootstrapper that names fixed addresses (what a real one returns from its sources)."""

    initialized = True

    def __init__(self, addresses: list[Any]) -> None:
        self.addresses = addresses

    def initialize(self, overlay: Any) -> Any:
        return succeed(True)

    def get_addresses(self, overlay: Any, timeout: float) -> Any:
        return succeed(list(self.addresses))

    def keep_alive(self, overlay: Any) -> None:
        pass

    def unload(self) -> None:
        pass


class TestPeerOrigins(TestBase[EchoCommunity]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(EchoCommunity, 3)
        for i in range(3):
            for peer in list(self.network(i).verified_peers):
                self.network(i).remove_peer(peer)

    def origin(self, i: int, j: int) -> PeerOrigin:
        """How node ``i`` came to know node ``j``."""
        peer = self.network(i).get_verified_by_public_key_bin(self.key_bin(j))
        self.assertIsNotNone(peer, f"node {i} does not know node {j}")
        origin = self.network(i).origins.of_peer(peer)
        self.assertIsNotNone(origin)
        return origin  # type: ignore[return-value]

    async def test_walk_introduction_and_puncture(self) -> None:
        """Node 1 introduces node 2 to node 0, and node 2 punctures towards node 0 on node 1's request."""
        self.overlay(2).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual(WALKED, self.origin(2, 1).how)
        self.assertEqual(CONTACTED_US, self.origin(1, 2).how)

        self.overlay(0).walk_to(self.address(1))
        await self.deliver_messages()
        self.assertEqual((WALKED, "", ""), (self.origin(0, 1).how, self.origin(0, 1).via, self.origin(0, 1).punctured))
        # Node 0 heard of node 2 in node 1's response (its WAN field), then got node 2's puncture.
        introduced = self.origin(0, 2)
        self.assertEqual((INTRODUCED, self.mid(1), VIA_WAN, PUNCTURE_RECEIVED),
                         (introduced.how, introduced.introducer, introduced.via, introduced.punctured))
        # Node 2 punctured towards node 0 because node 1 asked it to: introduced by node 1 as well.
        punctured = self.origin(2, 0)
        self.assertEqual((INTRODUCED, self.mid(1), VIA_PUNCTURE_REQUEST, PUNCTURE_SENT),
                         (punctured.how, punctured.introducer, punctured.via, punctured.punctured))
        self.assertEqual(tuple(self.address(1)), punctured.introducer_address)

    async def test_bootstrap_addresses_and_tracker_introductions(self) -> None:
        self.overlay(1).walk_to(self.address(2))  # node 1 knows node 2 and may introduce it
        await self.deliver_messages()
        # For node 0, node 1 is a tracker: blacklisted, never a peer, but its introductions count.
        self.overlay(0).ensure_blacklisted(self.address(1))
        self.overlay(0).bootstrappers.append(ListBootstrapper([self.address(1)]))
        self.overlay(0).bootstrap()
        await self.deliver_messages()
        self.assertIsNone(self.network(0).get_verified_by_public_key_bin(self.key_bin(1)))
        origin = self.origin(0, 2)
        self.assertEqual((BOOTSTRAP, tuple(self.address(1))), (origin.how, origin.introducer_address))

    async def test_a_bootstrapper_names_a_peer(self) -> None:
        self.overlay(0).bootstrappers.append(ListBootstrapper([self.address(1)]))
        self.overlay(0).bootstrap()
        await self.deliver_messages()
        self.assertEqual(BOOTSTRAP, self.origin(0, 1).how)
        self.assertEqual(CONTACTED_US, self.origin(1, 0).how)

    async def test_records_leave_with_the_peers(self) -> None:
        await self.introduce_nodes()
        self.assertEqual(2, len(self.network(0).origins))
        for peer in self.network(0).get_verified_peers():
            self.overlay(0).evict_peer(peer)
        self.assertEqual(0, len(self.network(0).origins))
