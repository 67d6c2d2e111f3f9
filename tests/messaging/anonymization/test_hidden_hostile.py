"""Hidden services under hostile input: replayed and forged e2e handshakes, reused rendezvous cookies, garbage
peers-responses and floods of establish-intro are dropped, counted and bounded; the node keeps working."""
from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import ensureDeferred

from ipv8.messaging.anonymization._hidden_e2e import (
    DROP_HS_BAD_E2E,
    DROP_HS_E2E_LIMIT,
    DROP_HS_REPLAYED_E2E,
    DROP_HS_REUSED_COOKIE,
    DROP_HS_UNEXPECTED_E2E,
    DROP_HS_UNKNOWN_COOKIE,
    DROP_HS_UNKNOWN_SEEDER,
)
from ipv8.messaging.anonymization._hidden_peers import (
    DROP_HS_BAD_PEER,
    DROP_HS_UNEXPECTED_REPLY,
)
from ipv8.messaging.anonymization.hidden_services import (
    DROP_HS_INTRO_REFUSED,
    DROP_HS_RENDEZVOUS_REFUSED,
)
from ipv8.messaging.anonymization.payload import (
    CreateE2EPayload,
    EstablishIntroPayload,
    EstablishRendezvousPayload,
    IntroductionInfo,
    LinkE2EPayload,
    PeersResponsePayload,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_TYPE_RP_DOWNLOADER,
    CIRCUIT_TYPE_RP_SEEDER,
)

from .test_hidden_services import DOWNLOADER, INFO_HASH, SEEDER, HiddenTestBase


class TestHiddenHostile(HiddenTestBase):
    """Each test breaks one step of the flow on purpose."""

    def record(self, node: int, msg_id: int, tamper: Any = None) -> list[tuple]:
        """Record (and maybe alter) what reaches the cell handler ``msg_id`` of ``node``."""
        overlay = self.overlay(node)
        original = overlay.decode_map_private[msg_id]
        seen: list[tuple] = []

        def hook(source_address: Any, data: bytes, circuit_id: int | None = None) -> Any:
            seen.append((source_address, data, circuit_id))
            if tamper is not None:
                data = tamper(data)
            return original(source_address, data, circuit_id)
        overlay.decode_map_private[msg_id] = hook
        return seen

    async def download(self) -> list[tuple]:
        found: list[tuple] = []
        downloader = self.overlay(DOWNLOADER)
        downloader.join_swarm(INFO_HASH, 1, found.append, seeding=False)
        downloader.do_circuits()
        await self.settle()
        downloader.do_peer_discovery()
        await self.settle(12)
        return found

    async def test_replayed_create_e2e(self) -> None:
        await self.start()
        await self.seed()
        creates = self.record(SEEDER, CreateE2EPayload.msg_id)
        self.assertEqual(1, len(await self.download()))
        seeder = self.overlay(SEEDER)
        rp_circuits = len([c for c in seeder.circuits.values() if c.ctype == CIRCUIT_TYPE_RP_SEEDER])
        source, data, circuit_id = creates[0]
        await ensureDeferred(seeder.on_create_e2e(source, data, circuit_id))
        await self.settle()
        self.assertEqual(1, seeder.drop_counts[DROP_HS_REPLAYED_E2E])
        self.assertEqual(rp_circuits, len([c for c in seeder.circuits.values() if c.ctype == CIRCUIT_TYPE_RP_SEEDER]))

    async def test_forged_created_e2e(self) -> None:
        await self.start()
        await self.seed()

        def flip_auth(data: bytes) -> bytes:
            # After prefix, id, identifier and the length-prefixed key (2 + 32 bytes) comes the 32-byte auth.
            offset = 23 + 2 + 2 + 32
            return data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1:]
        createds = self.record(DOWNLOADER, 14, tamper=flip_auth)
        self.assertEqual([], await self.download())
        downloader = self.overlay(DOWNLOADER)
        self.assertEqual(1, downloader.drop_counts[DROP_HS_BAD_E2E])
        self.assertFalse([c for c in downloader.circuits.values() if c.ctype == CIRCUIT_TYPE_RP_DOWNLOADER])
        # The genuine answer, late: its request is gone.
        source, data, circuit_id = createds[0]
        await ensureDeferred(downloader.on_created_e2e(source, data, circuit_id))
        await self.settle()
        self.assertEqual(1, downloader.drop_counts[DROP_HS_UNEXPECTED_REPLY])
        self.assertFalse([c for c in downloader.circuits.values() if c.ctype == CIRCUIT_TYPE_RP_DOWNLOADER])

    async def test_reused_cookie(self) -> None:
        await self.start()
        await self.seed()
        links = {i: self.record(i, LinkE2EPayload.msg_id) for i in range(2, self.NODES)}
        self.assertEqual(1, len(await self.download()))
        rendezvous = next(i for i, seen in links.items() if seen)
        overlay = self.overlay(rendezvous)
        routes = len(overlay.relay_from_to)
        source, data, circuit_id = links[rendezvous][0]
        overlay.decode_map_private[LinkE2EPayload.msg_id](source, data, circuit_id)
        self.assertEqual(1, overlay.drop_counts[DROP_HS_REUSED_COOKIE])
        self.assertEqual(routes, len(overlay.relay_from_to))
        # An establish-rendezvous with the used cookie is refused too.
        cookie = overlay.serializer.unpack_serializable(LinkE2EPayload, data, offset=23)[0].cookie
        self.assertIn(cookie, overlay._used_cookies)
        circuit = self.overlay(DOWNLOADER).create_circuit(1, required_exit=overlay.my_peer)
        await self.settle()
        self.overlay(DOWNLOADER).send_cell(circuit.hop.address,
                                           EstablishRendezvousPayload(circuit.circuit_id, 1, cookie))
        await self.settle()
        self.assertEqual(2, overlay.drop_counts[DROP_HS_REUSED_COOKIE])

    async def test_unknown_cookie_and_bare_create_e2e(self) -> None:
        await self.start()
        attacker, target = self.overlay(DOWNLOADER), self.overlay(2)
        circuit = attacker.create_circuit(1, required_exit=target.my_peer)
        await self.settle()
        attacker.send_cell(circuit.hop.address, LinkE2EPayload(circuit.circuit_id, 7, os.urandom(20)))
        await self.settle()
        self.assertEqual(1, target.drop_counts[DROP_HS_UNKNOWN_COOKIE])
        # create-e2e over the socket for a seeder nobody introduces.
        packet = attacker.ezr_pack(13, CreateE2EPayload(1, INFO_HASH, b"\x01" * 74, b"\x02" * 32), sig=False)
        attacker.endpoint.send(self.address(2), packet)
        await self.settle()
        self.assertEqual(1, target.drop_counts[DROP_HS_UNKNOWN_SEEDER])
        # A create-e2e that reaches a node through a data circuit (not its introduction circuit) is refused.
        await ensureDeferred(target.on_create_e2e(self.address(3), packet, 12345))
        self.assertEqual(1, target.drop_counts[DROP_HS_UNEXPECTED_E2E])

    async def test_pending_rendezvous_limit(self) -> None:
        await self.start()
        self.overlay(SEEDER).settings.max_pending_rendezvous = 0
        await self.seed()
        self.assertEqual([], await self.download())
        self.assertEqual(1, self.overlay(SEEDER).drop_counts[DROP_HS_E2E_LIMIT])

    async def test_garbage_peers_response(self) -> None:
        await self.start()
        await self.seed()
        downloader = self.overlay(DOWNLOADER)
        swarm = downloader.join_swarm(INFO_HASH, 1, seeding=False)
        downloader.do_circuits()
        await self.settle()

        def garbage(data: bytes) -> bytes:
            payload = downloader.serializer.unpack_serializable(PeersResponsePayload, data, offset=23)[0]
            bad = [IntroductionInfo(("1.2.3.4", 5), b"not a key", b"seeder", 2),
                   IntroductionInfo(("1.2.3.4", 6), peer.key, b"", 2)]
            payload = PeersResponsePayload(payload.circuit_id, payload.identifier, payload.info_hash,
                                           [*payload.peers, *bad])
            return downloader.ezr_pack(payload.msg_id, payload, sig=False)
        peer = None
        responses = self.record(DOWNLOADER, PeersResponsePayload.msg_id)
        original_hook = downloader.decode_map_private[PeersResponsePayload.msg_id]

        def tampering(source_address: Any, data: bytes, circuit_id: int | None = None) -> Any:
            nonlocal peer
            peer = downloader.serializer.unpack_serializable(PeersResponsePayload, data, offset=23)[0].peers[0]
            return original_hook(source_address, garbage(data), circuit_id)
        downloader.decode_map_private[PeersResponsePayload.msg_id] = tampering
        lookup = ensureDeferred(swarm.lookup())
        await self.settle()
        found = await lookup
        self.assertEqual(1, len(found))  # the genuine one
        self.assertEqual(2, downloader.drop_counts[DROP_HS_BAD_PEER])
        # The same response again: nothing asked for it any more.
        source, data, circuit_id = responses[0]
        downloader.on_peers_response(source, data, circuit_id)
        self.assertEqual(1, downloader.drop_counts[DROP_HS_UNEXPECTED_REPLY])

    async def test_establish_intro_flood(self) -> None:
        await self.start()
        attacker, target = self.overlay(DOWNLOADER), self.overlay(2)
        target.settings.max_intro_points_served = 2
        circuits = []
        for _ in range(4):
            circuits.append(attacker.create_circuit(1, required_exit=target.my_peer))
        await self.settle()
        for circuit in circuits:
            for _ in range(2):  # the second on the same circuit is refused in any case
                key = attacker.crypto.generate_key("curve25519").pub().key_to_bin()
                attacker.send_cell(circuit.hop.address, EstablishIntroPayload(circuit.circuit_id, 1, INFO_HASH, key))
        await self.settle()
        self.assertEqual(2, len(target.intro_point_for))
        self.assertEqual(6, target.drop_counts[DROP_HS_INTRO_REFUSED])
        # An establish-rendezvous flood is capped the same way.
        target.settings.max_rendezvous_points = 1
        for circuit in circuits:
            attacker.send_cell(circuit.hop.address, EstablishRendezvousPayload(circuit.circuit_id, 1, os.urandom(20)))
        await self.settle()
        self.assertEqual(1, len(target.rendezvous_point_for))
        self.assertEqual(3, target.drop_counts[DROP_HS_RENDEZVOUS_REFUSED])
        # Removing the circuits frees everything they held.
        for circuit in circuits:
            attacker.remove_circuit(circuit.circuit_id, "done", destroy=True)
        await self.settle()
        self.assertEqual({}, target.intro_point_for)
        self.assertEqual({}, target.rendezvous_point_for)
