"""CommunicationManager: named pseudonyms of two IPv8 nodes on 127.0.0.1 going through the documented flows.

Enrollment (the owner asks, the authority sees the outstanding request and attests the value, the owner's
credential ends up signed by the authority) and verification (the authority asks, the owner allows, the
certainty appears), over real UDP sockets on the loopback interface with the real reactor. The pseudonym
overlays bootstrap from ``DISPERSY_BOOTSTRAPPER``, which these tests empty (no public trackers, ever);
the two pseudonyms meet by walking to each other.
"""
from __future__ import annotations

import hashlib
import os
import stat
from typing import Any

from twisted.trial import unittest

from ipv8 import configuration
from ipv8.attestation.communication_manager import (
    CommunicationManager,
    InvalidPseudonymNameError,
)
from ipv8.configuration import ConfigBuilder
from ipv8.service import IPv8
from ipv8.test.util import wait_until

VALUE = b"Alice the 1st"


class TestCommunicationManager(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        saved = dict(configuration.DISPERSY_BOOTSTRAPPER["init"])
        configuration.DISPERSY_BOOTSTRAPPER["init"].update(ip_addresses=[], dns_addresses=[])
        self.addCleanup(configuration.DISPERSY_BOOTSTRAPPER["init"].update, saved)

    def node(self, name: str) -> CommunicationManager:
        directory = self.mktemp()
        os.makedirs(directory)
        config = (ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1").set_port(0)
                  .set_working_directory(directory).finalize())
        manager = CommunicationManager(IPv8(config))
        self.addCleanup(manager.shutdown)
        return manager

    async def two_pseudonyms(self) -> tuple[Any, Any]:
        owner = await self.node("owner").load("alice")
        authority = await self.node("authority").load("bank")
        owner.identity_overlay.walk_to(authority.identity_overlay.endpoint.get_address())
        await wait_until(lambda: owner.peers and authority.peers, 10.0, what="the pseudonyms to meet")
        return owner, authority

    async def enroll(self, owner: Any, authority: Any) -> bytes:
        [authority_peer] = owner.peers
        [owner_peer] = authority.peers
        attested = owner.request_attestation(authority_peer, "name", "id_metadata", {"purpose": "test"})
        await wait_until(lambda: authority.attestation_requests, 10.0, what="the attestation request")
        [(peer, name)] = list(authority.attestation_requests)
        assert (peer, name) == (owner_peer, "name")
        assert '"purpose": "test"' in authority.attestation_requests[(peer, name)][1]
        authority.attest(owner_peer, "name", VALUE)
        attestation_hash = await attested
        assert attestation_hash is not None
        await wait_until(lambda: any(a for _, _, a in owner.get_my_attributes().values()), 10.0,
                         what="the identity-layer attestation")
        return attestation_hash

    async def test_enrollment_and_verification(self) -> None:
        owner, authority = await self.two_pseudonyms()
        attestation_hash = await self.enroll(owner, authority)
        [(attribute_hash, (name, metadata, authorities))] = owner.get_my_attributes().items()
        assert attribute_hash == b"SHA-1" + bytes(7) + attestation_hash
        assert (name, metadata["schema"], metadata["purpose"]) == ("name", "id_metadata", "test")
        assert "id_format" not in metadata  # as pyipv8 3.2.1 advertises it
        assert authorities == [authority.public_key_bin]
        # The authority sees the same credential of the owner.
        [owner_peer] = authority.peers
        assert list(authority.get_attributes(owner_peer)) == [attribute_hash]

        verifying = authority.verify(owner_peer, attestation_hash, [VALUE, b"Mallory"], "id_metadata")
        await wait_until(lambda: owner.verify_requests, 10.0, what="the verification request")
        assert list(owner.verify_requests) == [(owner.peers[0], "name")]
        owner.allow_verification(owner.peers[0], "name")
        certainties = await verifying
        assert certainties[0] > 0.99 and certainties[1] < 0.01
        [(first, c1), (second, c2)] = authority.verification_output[attestation_hash]
        assert (first, second) == (VALUE, b"Mallory") and c1 == certainties[0] and c2 == certainties[1]

    async def test_refused_verification(self) -> None:
        owner, authority = await self.two_pseudonyms()
        attestation_hash = await self.enroll(owner, authority)
        [owner_peer] = authority.peers
        verifying = authority.verify(owner_peer, attestation_hash, [VALUE], "id_metadata")
        await wait_until(lambda: owner.verify_requests, 10.0, what="the verification request")
        owner.disallow_verification(owner.peers[0], "name")
        assert not owner.verify_requests
        assert authority.verification_output[attestation_hash] == [(VALUE, None)]
        verifying.cancel()
        verifying.addErrback(lambda _: None)

    async def test_names_keys_unload_and_remove(self) -> None:
        manager = self.node("one")
        for bad in ("", "..", ".hidden", "a/b", "../etc", "x" * 65, "nul\x00", "sp ace"):
            with self.assertRaises(InvalidPseudonymNameError):
                await manager.load(bad)
        with self.assertRaises(ValueError):
            await manager.load("ok", rendezvous_token="not base64!")
        first, again = manager.load("alice"), manager.load("alice")
        channel = await first
        assert await again is channel
        key_file = os.path.join(manager.working_directory, "pseudonyms", "alice")
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert manager.list_names() == manager.list_loaded() == ["alice"]
        assert "id_metadata" in channel.schemas and "id_metadata_range_18plus" in channel.schemas
        public_key = channel.public_key_bin
        channel.identity_overlay.self_advertise(hashlib.sha3_256(b"x").digest(), "x")

        await manager.unload("alice")
        assert manager.list_names() == ["alice"] and manager.list_loaded() == []
        reloaded = await manager.load("alice")
        assert reloaded.public_key_bin == public_key  # same key file
        assert len(reloaded.get_my_attributes()) == 1  # credentials survived the unload

        await manager.remove("alice")
        assert manager.list_names() == []
        assert not manager.lazy_identity_manager().database.get_metadata_for(
            reloaded.identity_overlay.my_peer.public_key)

    async def test_rendezvous_tokens_give_separate_overlays(self) -> None:
        manager = self.node("one")
        public = await manager.load("public")
        private = await manager.load("private", rendezvous_token="AAECAw==")
        public_id = public.identity_overlay.community_id
        assert private.identity_overlay.community_id == bytes([public_id[0] ^ 0, public_id[1] ^ 1,
                                                               public_id[2] ^ 2, public_id[3] ^ 3]) + public_id[4:]
