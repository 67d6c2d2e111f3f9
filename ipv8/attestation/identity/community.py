"""The identity overlay (pyipv8 3.2.1's ``IdentityCommunity``): have credentials of a pseudonym attested.

The overlay runs for one pseudonym (its key is the overlay's key). The owner of an attribute advertises a
credential (:meth:`IdentityCommunity.self_advertise`: a token in its tree committing to the attribute hash,
and metadata naming it) and asks an authority to attest it
(:meth:`IdentityCommunity.request_attestation_advertisement`): it sends a *disclose* message with the
credential and the tokens back to its tree's root. The authority attests only what it was told to expect
(:meth:`IdentityCommunity.add_known_hash`: attribute hash, name and owner, for five minutes); if tokens are
missing it asks for them (*request-missing*, answered by *missing-response* with the tokens the owner allowed
that peer to see). When everything checks out it signs the metadata and sends the *attest* message, which the
owner stores next to its credential. Later disclosures carry the credential with chosen attestations, so a
verifier can check who vouched for it. Message layouts: :mod:`.payload`.

**Hostile input.** Disclosures and token responses are only read from peers we expect one from; a peer's
tree, metadata and attestations are capped (:class:`~.manager.PseudonymManager`); a peer gets at most
:attr:`IdentityCommunity.max_missing_rounds` token requests from us per expected attribute; attestations are
only stored for metadata of ours; token requests from peers that may not see our tokens are not answered;
the table of expected attributes is bounded. Drops are counted in
:attr:`~ipv8.community.Community.drop_counts` under ``identity-...`` reasons.
"""
from __future__ import annotations

import binascii
import hashlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from twisted.internet.defer import Deferred, maybeDeferred

from ...community import Community, CommunitySettings
from ...lazy_community import lazy_wrapper
from ..signed_object import SignedObjectError
from .attestation import Attestation
from .manager import Disclosure, IdentityManager, PseudonymManager
from .payload import (
    AttestPayload,
    DisclosePayload,
    MissingResponsePayload,
    RequestMissingPayload,
)

if TYPE_CHECKING:
    from ...keyvault.keys import PrivateKey
    from ...peer import Peer
    from ..tokentree.token import Token
    from .database import Credential
    from .metadata import Metadata

__all__ = ["SAFE_UDP_PACKET_LENGTH", "IdentityCommunity", "IdentitySettings", "KnownHash"]

#: Disclosures and token responses are kept to this many bytes so that they fit one UDP packet anywhere.
SAFE_UDP_PACKET_LENGTH = 1296
#: An old-style SHA-1 attribute hash is padded to 32 bytes with this prefix.
SHA1_PADDING = b"SHA-1" + bytes(7)

DROP_UNSOLICITED_DISCLOSURE = "identity-unsolicited-disclosure"
DROP_BAD_DISCLOSURE = "identity-bad-disclosure"
DROP_BAD_ATTESTATION = "identity-bad-attestation"
DROP_UNPERMITTED_REQUEST = "identity-unpermitted-request"
DROP_TOO_MANY_ROUNDS = "identity-too-many-missing-rounds"

#: Fields every credential's metadata has; the rest is the requester's extra metadata.
REQUIRED_FIELDS = ("name", "date", "schema")


class KnownHash(NamedTuple):
    """An attribute we agreed to attest: its name, when we agreed, the owner's key and the extra metadata."""

    name: str
    since: float
    public_key: bytes
    metadata: dict[str, str] | None


class IdentitySettings(CommunitySettings):
    """Settings of :class:`IdentityCommunity`."""

    #: The pseudonym store to use; None: open ``<working_directory>/sqlite/identity.db``.
    identity_manager: IdentityManager | None = None
    #: Where the database goes when no identity manager is given (``":memory:"``: nowhere).
    working_directory: str = "."


class IdentityCommunity(Community):
    """Advertise, request and make identity attestations; see the module documentation."""

    community_id = binascii.unhexlify("d5889074c1e4c50423cdb6e9307ee0ca5695ead7")
    settings_class = IdentitySettings

    #: Seconds an expected attribute (:meth:`add_known_hash`) stays signable (pyipv8 3.2.1: 300).
    known_hash_timeout: float = 300.0
    #: Expected attributes remembered at most (the oldest is forgotten first).
    max_known_hashes: int = 1024
    #: Token requests we send one peer before giving up on its missing tokens.
    max_missing_rounds: int = 16

    def __init__(self, settings: IdentitySettings) -> None:
        super().__init__(settings)
        self._owns_manager = settings.identity_manager is None
        if settings.identity_manager is None:
            directory = settings.working_directory
            settings.identity_manager = IdentityManager(
                ":memory:" if directory == ":memory:" else os.path.join(directory, "sqlite", "identity.db"))
        self.identity_manager: IdentityManager = settings.identity_manager
        self.pseudonym_manager: PseudonymManager = self.identity_manager.get_pseudonym(self.my_peer.key)
        #: Attribute hash (32 bytes) -> what we agreed to attest.
        self.known_attestation_hashes: dict[bytes, KnownHash] = {}
        #: Peer mid -> how many of our tokens (from the root) that peer may ask for.
        self.permissions: dict[bytes, int] = {}
        #: Peer mid -> token requests we sent it since we last expected an attribute of it.
        self._missing_rounds: dict[bytes, int] = {}
        #: Called as ``f(peer, attestation)`` when an attestation of our metadata arrives and is stored.
        self.attestation_received_callback: Callable[[Peer, Attestation], Any] | None = None

        # Our own tree is one chain; if it somehow forked, continue on the longest branch.
        # Root first: permissions count tokens from the root.
        self.token_chain: list[Token] = self.pseudonym_manager.tree.longest_chain()
        by_token = {credential.metadata.token_pointer: credential
                    for credential in self.pseudonym_manager.get_credentials()}
        self.metadata_chain: list[Metadata] = []
        self.attestation_chain: list[set[Attestation]] = []
        for token in self.token_chain:
            credential = by_token.get(token.get_hash())
            if credential is not None:
                self.metadata_chain.append(credential.metadata)
                self.attestation_chain.append(credential.attestations)

        self.add_message_handler(DisclosePayload, self.on_disclosure)
        self.add_message_handler(AttestPayload, self.on_attest)
        self.add_message_handler(RequestMissingPayload, self.on_request_missing)
        self.add_message_handler(MissingResponsePayload, self.on_missing_response)

    def unload(self) -> Deferred:
        """Leave the network; close the database if this overlay opened it."""
        unloading = maybeDeferred(super().unload)
        if self._owns_manager:
            unloading.addBoth(lambda result: (self.identity_manager.close(), result)[1])
        return unloading

    # Attribute hashes ------------------------------------------------------------------------------------

    @staticmethod
    def pad_hash(attribute_hash: bytes) -> bytes:
        """A 20-byte SHA-1 attribute hash in the 32-byte space of SHA3-256 hashes."""
        return SHA1_PADDING + attribute_hash

    def _normalize(self, attribute_hash: bytes) -> bytes:
        return self.pad_hash(attribute_hash) if len(attribute_hash) == 20 else attribute_hash

    def add_known_hash(self, attribute_hash: bytes, name: str, public_key: bytes,
                       metadata: dict[str, str] | None = None) -> None:
        """Agree to attest, for the next :attr:`known_hash_timeout` seconds, the attribute ``attribute_hash``
        called ``name`` of the owner of ``public_key`` (binary), with exactly the extra ``metadata`` if given."""
        now = self.clock.seconds()
        for stale in [key for key, known in self.known_attestation_hashes.items()
                      if now > known.since + self.known_hash_timeout]:
            del self.known_attestation_hashes[stale]
        attribute_hash = self._normalize(attribute_hash)
        self.known_attestation_hashes.pop(attribute_hash, None)
        self.known_attestation_hashes[attribute_hash] = KnownHash(name, now, public_key, metadata)
        while len(self.known_attestation_hashes) > self.max_known_hashes:
            del self.known_attestation_hashes[next(iter(self.known_attestation_hashes))]
        self._missing_rounds.pop(hashlib.sha1(public_key).digest(), None)  # the member id of that key
        if len(self._missing_rounds) > self.max_known_hashes:
            self._missing_rounds.clear()  # only peers with expected attributes matter; those restart at zero

    def get_attestation_by_hash(self, attribute_hash: bytes) -> Metadata | None:
        """Our metadata whose token commits to ``attribute_hash``, if we have one."""
        attribute_hash = self._normalize(attribute_hash)
        for credential in self.pseudonym_manager.get_credentials():
            token = self.pseudonym_manager.tree.elements.get(credential.metadata.token_pointer)
            if token is not None and token.content_hash == attribute_hash:
                return credential.metadata
        return None

    def should_sign(self, pseudonym: PseudonymManager, metadata: Metadata) -> bool:
        """Whether we agreed to attest ``metadata`` of ``pseudonym`` and have not done so already."""
        token = pseudonym.tree.elements.get(metadata.token_pointer)
        transaction = metadata.json()
        if token is None or transaction is None or any(field not in transaction for field in REQUIRED_FIELDS):
            return False
        known = self.known_attestation_hashes.get(token.content_hash)
        if known is None or known.public_key != pseudonym.public_key.key_to_bin():
            return False
        if self.clock.seconds() > known.since + self.known_hash_timeout or transaction["name"] != known.name:
            return False
        if known.metadata is not None and \
                {k: v for k, v in transaction.items() if k not in REQUIRED_FIELDS} != known.metadata:
            return False
        return not pseudonym.attested_by(metadata, self.my_peer.public_key)

    # Owner side -------------------------------------------------------------------------------------------

    def self_advertise(self, attribute_hash: bytes, name: str, block_type: str = "id_metadata",
                       metadata: dict | None = None) -> Credential | None:
        """Add a credential for ``attribute_hash`` (schema ``block_type``) to the end of our chain."""
        extended = {"name": name, "schema": block_type, "date": self.clock.seconds()}
        if metadata:
            extended.update(metadata)
        credential = self.pseudonym_manager.create_credential(self._normalize(attribute_hash), extended,
                                                              self.metadata_chain[-1] if self.metadata_chain else None)
        if credential is None:
            return None
        self.attestation_chain.append(credential.attestations)
        self.metadata_chain.append(credential.metadata)
        self.token_chain.append(self.pseudonym_manager.tree.elements[credential.metadata.token_pointer])
        return credential

    def request_attestation_advertisement(self, peer: Peer, attribute_hash: bytes, name: str,
                                          block_type: str = "id_metadata", metadata: dict | None = None) -> None:
        """Advertise a new credential and ask ``peer`` to attest it (``peer`` may then see our whole chain)."""
        credential = self.self_advertise(attribute_hash, name, block_type, metadata)
        if credential is None:
            self.logger.error("Could not create the credential %s", name)
            return
        self.permissions[peer.mid] = len(self.token_chain)
        disclosure = self.pseudonym_manager.disclose_credentials([credential], set())
        self.ez_send(peer, DisclosePayload(*self._fit_disclosure(disclosure)))

    def _fit_disclosure(self, disclosure: Disclosure) -> Disclosure:
        """Drop the oldest tokens until the disclosure fits a packet; the receiver asks for what it misses."""
        metadata, tokens, attestations, authorities = disclosure
        token_size = 64 + self.my_peer.key.get_signature_length()
        fixed = len(metadata) + len(attestations) + len(authorities)
        if fixed + len(tokens) > SAFE_UDP_PACKET_LENGTH:
            room = max(0, SAFE_UDP_PACKET_LENGTH - fixed) // token_size
            if fixed > SAFE_UDP_PACKET_LENGTH:
                self.logger.warning("Disclosure of %d bytes without tokens exceeds a safe packet size", fixed)
            tokens = tokens[len(tokens) - room * token_size:]
        return metadata, tokens, attestations, authorities

    @lazy_wrapper(AttestPayload)
    def on_attest(self, peer: Peer, payload: AttestPayload) -> None:
        """An authority attested metadata of ours: store it (if it is ours and correctly signed)."""
        try:
            attestation = Attestation.unserialize(payload.attestation, peer.public_key)
        except (SignedObjectError, ValueError):
            self.drop_counts[DROP_BAD_ATTESTATION] += 1
            return
        ours = {credential.metadata.get_hash() for credential in self.pseudonym_manager.get_credentials()}
        if attestation.metadata_pointer not in ours or \
                not self.pseudonym_manager.add_attestation(peer.public_key, attestation):
            self.drop_counts[DROP_BAD_ATTESTATION] += 1
            self.logger.warning("Dropped an invalid attestation from %s", peer)
            return
        for index, metadata in enumerate(self.metadata_chain):
            if metadata.get_hash() == attestation.metadata_pointer:
                self.attestation_chain[index].add(attestation)
        if self.attestation_received_callback is not None:
            self.attestation_received_callback(peer, attestation)

    @lazy_wrapper(RequestMissingPayload)
    def on_request_missing(self, peer: Peer, request: RequestMissingPayload) -> None:
        """Send the tokens from index ``known`` on that ``peer`` may see, as many as fit one packet."""
        permitted = self.token_chain[:self.permissions.get(peer.mid, 0)]
        if request.known >= len(permitted):
            self.drop_counts[DROP_UNPERMITTED_REQUEST] += 1
            return
        out = b""
        for token in permitted[request.known:]:
            serialized = token.get_plaintext_signed()
            if len(out) + len(serialized) > SAFE_UDP_PACKET_LENGTH:
                break
            out += serialized
        self.ez_send(peer, MissingResponsePayload(out))

    # Authority side ---------------------------------------------------------------------------------------

    @lazy_wrapper(DisclosePayload)
    def on_disclosure(self, peer: Peer, disclosure: DisclosePayload) -> None:
        """Someone disclosed credentials to have them attested."""
        self._received_disclosure_for_attest(peer, (disclosure.metadata, disclosure.tokens,
                                                    disclosure.attestations, disclosure.authorities))

    @lazy_wrapper(MissingResponsePayload)
    def on_missing_response(self, peer: Peer, response: MissingResponsePayload) -> None:
        """Tokens we asked for arrived."""
        self._received_disclosure_for_attest(peer, (b"", response.tokens, b"", b""))

    def _received_disclosure_for_attest(self, peer: Peer, disclosure: Disclosure) -> None:
        key_bin = peer.public_key.key_to_bin()
        required = [attribute_hash for attribute_hash, known in self.known_attestation_hashes.items()
                    if known.public_key == key_bin]
        if not required:
            self.drop_counts[DROP_UNSOLICITED_DISCLOSURE] += 1
            self.logger.debug("Dropped an unsolicited disclosure from %s", peer)
            return
        correct, pseudonym = self.identity_manager.substantiate(peer.public_key, *disclosure)
        if not correct:
            self.drop_counts[DROP_BAD_DISCLOSURE] += 1
        present = {token.content_hash for token in pseudonym.tree.elements.values()}
        if correct and present.intersection(required):
            for credential in pseudonym.get_credentials():
                if self.should_sign(pseudonym, credential.metadata):
                    self.logger.info("Attesting %s", credential.metadata)
                    attestation = pseudonym.create_attestation(credential.metadata, self.my_peer.key)
                    pseudonym.add_attestation(self.my_peer.public_key, attestation)
                    self.ez_send(peer, AttestPayload(attestation.get_plaintext_signed()))
        if any(attribute_hash not in present for attribute_hash in required):
            rounds = self._missing_rounds.get(peer.mid, 0)
            if rounds >= self.max_missing_rounds:
                self.drop_counts[DROP_TOO_MANY_ROUNDS] += 1
                return
            self._missing_rounds[peer.mid] = rounds + 1
            self.ez_send(peer, RequestMissingPayload(len(pseudonym.tree.elements)))


def rendezvous_community_class(rendezvous_token: bytes | None) -> type[IdentityCommunity]:
    """The IdentityCommunity class to meet peers with: the public one, or (with a token) a private variant
    whose community id is the public id XOR the token (pyipv8 3.2.1's rendezvous overlays)."""
    if not rendezvous_token:
        return IdentityCommunity
    community_id = bytes(byte ^ rendezvous_token[index] if index < len(rendezvous_token) else byte
                         for index, byte in enumerate(IdentityCommunity.community_id))
    return type(f"IdentityCommunity-{rendezvous_token.hex()}", (IdentityCommunity,), {"community_id": community_id})


def create_community(private_key: PrivateKey, ipv8: Any, identity_manager: IdentityManager,
                     endpoint: Any = None, working_directory: str | None = None, anonymize: bool = True,
                     rendezvous_token: bytes | None = None) -> Deferred:
    """Start an IdentityCommunity for one pseudonym on its own endpoint (default: a new anonymizable endpoint
    of ``ipv8``), bootstrapping from :data:`ipv8.configuration.DISPERSY_BOOTSTRAPPER` and walking randomly.

    :returns: a Deferred firing with the community.
    """
    from ...bootstrapping.dispersy.bootstrapper import DispersyBootstrapper
    from ...configuration import DISPERSY_BOOTSTRAPPER
    from ...peer import Peer
    from ...peerdiscovery.discovery import RandomWalk
    from ...peerdiscovery.network import Network

    def build(opened_endpoint: Any) -> IdentityCommunity:
        directory = working_directory if working_directory is not None \
            else ipv8.configuration.get("working_directory", ".")
        overlay_class = rendezvous_community_class(rendezvous_token)
        # The node's reactor (a Clock in tests) times this overlay as it times the node's own overlays.
        community = overlay_class(IdentitySettings(my_peer=Peer(private_key), endpoint=opened_endpoint,
                                                   network=Network(), identity_manager=identity_manager,
                                                   working_directory=directory, anonymize=anonymize,
                                                   clock=getattr(ipv8, "_reactor", None)))
        # Read at call time, so that a private network (or a test) can point it at its own tracker.
        community.bootstrappers = [DispersyBootstrapper(**DISPERSY_BOOTSTRAPPER["init"])]
        ipv8.add_strategy(community, RandomWalk(community), -1)
        return community

    if endpoint is not None:
        return maybeDeferred(build, endpoint)
    return ipv8.produce_anonymized_endpoint().addCallback(build)
