"""IdentityCommunity on the in-memory internet: advertise, request, attest and verify, and hostile peers.

Node 0 owns attributes, node 1 is the authority that attests them, node 2 verifies node 0's disclosures.
The overlays run on a :class:`~twisted.internet.task.Clock`, so the five-minute window of an expected
attribute only passes when a test moves it.
"""
from __future__ import annotations

import hashlib
from typing import Any

from twisted.internet.task import Clock

from ipv8.attestation.identity.attestation import Attestation
from ipv8.attestation.identity.community import (
    DROP_BAD_ATTESTATION,
    DROP_TOO_MANY_ROUNDS,
    DROP_UNPERMITTED_REQUEST,
    DROP_UNSOLICITED_DISCLOSURE,
    IdentityCommunity,
)
from ipv8.attestation.identity.payload import (
    AttestPayload,
    MissingResponsePayload,
    RequestMissingPayload,
)
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8

ATTRIBUTE = hashlib.sha3_256(b"my age attestation").digest()


class TestIdentityCommunity(TestBase[IdentityCommunity]):
    """Three nodes; see the module documentation."""

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.initialize(IdentityCommunity, 3)
        self.received: list[tuple] = []
        self.overlay(0).attestation_received_callback = lambda peer, attestation: self.received.append(
            (peer.mid, attestation))
        return result

    def create_node(self, settings: Any = None, create_dht: bool = False,
                    enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8(self.DEFAULT_KEY_LEVEL, IdentityCommunity, internet=self.internet, clock=self.clock,
                        working_directory=":memory:")

    def attestations_of_node0(self) -> list[tuple[bytes, bytes]]:
        """(metadata hash, authority key) of every attestation node 0 stored for itself."""
        database = self.overlay(0).identity_manager.database
        return [(a.metadata_pointer, database.get_authority(a))
                for a in database.get_attestations_for(self.public_key(0))]

    async def request(self, attribute: bytes = ATTRIBUTE, name: str = "age", metadata: dict | None = None) -> None:
        self.overlay(0).request_attestation_advertisement(self.peer(1), attribute, name, "id_metadata", metadata)
        await self.deliver_messages()

    async def test_requested_attribute_is_attested(self) -> None:
        self.overlay(1).add_known_hash(ATTRIBUTE, "age", self.key_bin(0))
        await self.request()
        metadata = self.overlay(0).get_attestation_by_hash(ATTRIBUTE)
        assert metadata is not None
        assert self.attestations_of_node0() == [(metadata.get_hash(), self.key_bin(1))]
        assert [mid for mid, _ in self.received] == [self.mid(1)]
        assert self.overlay(0).attestation_chain[-1] == {self.received[0][1]}
        # The authority remembers what it attested, and does not attest the same metadata twice.
        theirs = self.overlay(1).identity_manager.get_pseudonym(self.public_key(0))
        assert theirs.attested_by(metadata, self.public_key(1))
        assert not self.overlay(1).should_sign(theirs, metadata)

    async def test_sha1_hashes_are_padded(self) -> None:
        sha1 = hashlib.sha1(b"old style").digest()
        self.overlay(1).add_known_hash(sha1, "old", self.key_bin(0))
        await self.request(sha1, "old")
        metadata = self.overlay(0).get_attestation_by_hash(sha1)
        assert metadata is not None and len(self.attestations_of_node0()) == 1
        token = self.overlay(0).pseudonym_manager.tree.elements[metadata.token_pointer]
        assert token.content_hash == b"SHA-1" + bytes(7) + sha1

    async def test_verifier_sees_who_attested(self) -> None:
        self.overlay(1).add_known_hash(ATTRIBUTE, "age", self.key_bin(0))
        await self.request()
        pseudonym = self.overlay(0).pseudonym_manager
        [credential] = pseudonym.get_credentials()
        [attestation] = credential.attestations
        disclosure = pseudonym.disclose_credentials([credential], {attestation.get_hash()})
        correct, theirs = self.overlay(2).identity_manager.substantiate(self.public_key(0), *disclosure)
        assert correct
        [seen] = theirs.get_credentials()
        assert seen.metadata == credential.metadata
        assert theirs.attested_by(seen.metadata, self.public_key(1))
        assert theirs.tree.elements[seen.metadata.token_pointer].content_hash == ATTRIBUTE

    async def test_long_chains_are_completed_with_missing_tokens(self) -> None:
        for i in range(40):  # more tokens than fit one packet
            self.overlay(0).self_advertise(hashlib.sha3_256(b"%d" % i).digest(), f"attr{i}")
        self.overlay(1).add_known_hash(ATTRIBUTE, "age", self.key_bin(0))
        await self.request()
        assert len(self.attestations_of_node0()) == 1
        assert len(self.overlay(1).identity_manager.get_pseudonym(self.public_key(0)).tree.elements) == 41
        # 41 tokens of 128 bytes: the disclosure carries the newest few, each response about ten more.
        assert 2 <= self.overlay(1)._missing_rounds[self.mid(0)] <= 5

    async def test_unexpected_attributes_are_not_attested(self) -> None:
        await self.request()
        assert self.overlay(1).drop_counts[DROP_UNSOLICITED_DISCLOSURE] == 1
        assert not self.attestations_of_node0()

    async def test_expired_and_mismatching_requests_are_not_attested(self) -> None:
        self.overlay(1).add_known_hash(ATTRIBUTE, "age", self.key_bin(0))
        self.clock.advance(301)
        await self.request()
        other = hashlib.sha3_256(b"other").digest()
        self.overlay(1).add_known_hash(other, "name", self.key_bin(0), {"country": "NL"})
        await self.request(other, "name", {"country": "BE"})
        third = hashlib.sha3_256(b"third").digest()
        self.overlay(1).add_known_hash(third, "name", self.key_bin(0))
        await self.request(third, "a different name")
        fourth = hashlib.sha3_256(b"fourth").digest()
        self.overlay(1).add_known_hash(fourth, "x", self.key_bin(2))  # expected from someone else
        await self.request(fourth, "x")
        assert not self.attestations_of_node0()

    async def test_matching_extra_metadata_is_attested(self) -> None:
        self.overlay(1).add_known_hash(ATTRIBUTE, "age", self.key_bin(0), {"country": "NL"})
        await self.request(metadata={"country": "NL"})
        assert len(self.attestations_of_node0()) == 1

    async def test_forged_and_foreign_attestations_are_dropped(self) -> None:
        self.overlay(0).self_advertise(ATTRIBUTE, "age")
        [credential] = self.overlay(0).pseudonym_manager.get_credentials()
        # Signed by someone else than the sender.
        forged = Attestation.create(credential.metadata, self.private_key(2))
        self.overlay(1).ez_send(self.peer(0), AttestPayload(forged.get_plaintext_signed()))
        # Correctly signed, but about metadata that is not ours.
        foreign = Attestation(hashlib.sha3_256(b"not ours").digest(), private_key=self.private_key(1))
        self.overlay(1).ez_send(self.peer(0), AttestPayload(foreign.get_plaintext_signed()))
        self.overlay(1).ez_send(self.peer(0), AttestPayload(b"short"))
        await self.deliver_messages()
        assert self.overlay(0).drop_counts[DROP_BAD_ATTESTATION] == 3
        assert not self.attestations_of_node0() and not self.received

    async def test_tokens_only_go_to_permitted_peers(self) -> None:
        for i in range(3):
            self.overlay(0).self_advertise(hashlib.sha3_256(b"%d" % i).digest(), f"attr{i}")
        with self.assertReceivedBy(2, [], message_filter=[MissingResponsePayload]):
            self.overlay(2).ez_send(self.peer(0), RequestMissingPayload(0))
            await self.deliver_messages()
        assert self.overlay(0).drop_counts[DROP_UNPERMITTED_REQUEST] == 1

    async def test_unsolicited_token_responses_are_ignored(self) -> None:
        tokens = b"".join(t.get_plaintext_signed() for t in self.overlay(2).pseudonym_manager.tree.elements.values())
        self.overlay(2).ez_send(self.peer(1), MissingResponsePayload(tokens + bytes(50)))
        await self.deliver_messages()
        assert self.overlay(1).drop_counts[DROP_UNSOLICITED_DISCLOSURE] == 1

    async def test_chain_is_restored_after_restart(self) -> None:
        manager = self.overlay(0).identity_manager
        for i in range(3):
            self.overlay(0).self_advertise(hashlib.sha3_256(b"%d" % i).digest(), f"attr{i}")
        restarted = IdentityCommunity(IdentityCommunity.settings_class(
            my_peer=self.my_peer(0), endpoint=self.endpoint(0), network=self.network(0), clock=self.clock,
            identity_manager=manager))
        try:
            assert restarted.token_chain == self.overlay(0).token_chain
            assert restarted.metadata_chain == self.overlay(0).metadata_chain
        finally:
            await restarted.unload()

    async def test_token_request_rounds_are_capped(self) -> None:
        """An owner that keeps sending tokens without the expected attribute gets a bounded number of requests."""
        self.overlay(1).add_known_hash(ATTRIBUTE, "age", self.key_bin(0))
        for i in range(3):
            self.overlay(0).self_advertise(hashlib.sha3_256(b"%d" % i).digest(), f"attr{i}")
        tokens = b"".join(t.get_plaintext_signed() for t in self.overlay(0).token_chain)
        rounds = self.overlay(1).max_missing_rounds + 5
        with self.assertReceivedBy(0, [RequestMissingPayload] * self.overlay(1).max_missing_rounds,
                                   message_filter=[RequestMissingPayload]):
            for _ in range(rounds):
                self.overlay(0).ez_send(self.peer(1), MissingResponsePayload(tokens))
            await self.deliver_messages()
        assert self.overlay(1).drop_counts[DROP_TOO_MANY_ROUNDS] == 5
        assert not self.attestations_of_node0()

    async def test_expected_attributes_are_bounded(self) -> None:
        overlay = self.overlay(1)
        overlay.max_known_hashes = 50
        for i in range(120):
            overlay.add_known_hash(hashlib.sha3_256(b"%d" % i).digest(), "n", self.key_bin(0))
        assert len(overlay.known_attestation_hashes) == 50
        assert hashlib.sha3_256(b"119").digest() in overlay.known_attestation_hashes
        assert hashlib.sha3_256(b"0").digest() not in overlay.known_attestation_hashes
        self.clock.advance(overlay.known_hash_timeout + 1)
        overlay.add_known_hash(ATTRIBUTE, "age", self.key_bin(0))
        assert list(overlay.known_attestation_hashes) == [ATTRIBUTE]  # the stale ones were purged
