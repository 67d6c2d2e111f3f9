"""Pseudonyms for applications (the engine behind the ``/identity`` REST API; pyipv8 3.2.1's module).

A :class:`CommunicationManager` keeps named pseudonyms. Each name has its own private key, stored in the file
``<working directory>/pseudonyms/<name>``, and, once loaded, a :class:`CommunicationChannel`: an
:class:`~ipv8.attestation.identity.community.IdentityCommunity` (business layer: credentials, who attested
them) and an :class:`~ipv8.attestation.wallet.community.AttestationCommunity` (proving layer: the
zero-knowledge attestations and their verification) on one endpoint of their own. Pseudonyms are loaded on
first use (:meth:`CommunicationManager.load`), may be unloaded and removed (keys, credentials and
attestations deleted).

The pseudonym overlays find peers through :data:`ipv8.configuration.DISPERSY_BOOTSTRAPPER` (as pyipv8's do):
a private network points that setting at its own tracker before loading pseudonyms. When the node runs a
``HiddenTunnelCommunity``, pseudonym traffic goes through its circuits: each pseudonym's socket is wrapped in a
TunnelEndpoint that sends through one-hop circuits to an IPv8 exit and accepts only what comes back through
them (the tunnel community hands those packets to it); :attr:`CommunicationChannel.anonymized` tells which way
a pseudonym talks, and a pseudonym loaded without a tunnel community says so in the log. A rendezvous token
(base64) gives a private meeting place: only pseudonyms loaded with the same token see each other.

A pseudonym's Lamport clock (the global time its signed messages carry) continues across restarts, crashes
included: peers refuse a time they already saw from the same key at another address, and a reloaded pseudonym
has a new port. The identity database keeps a reservation ahead of the clock (:data:`CLOCK_RESERVATION`).

A channel's flows, as the IPv8 documentation describes them:

* enrollment: the owner asks an authority (:meth:`CommunicationChannel.request_attestation`); the
  authority sees the request in :attr:`CommunicationChannel.attestation_requests` and answers with the value
  (:meth:`CommunicationChannel.attest`); the attestation lands in both wallets and the owner's credential is
  signed by the authority at the identity layer;
* verification: a verifier asks (:meth:`CommunicationChannel.verify`); the owner sees the request in
  :attr:`CommunicationChannel.verify_requests` and allows or refuses it; the result appears in
  :attr:`CommunicationChannel.verification_output`.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.python.failure import Failure

from ..keyvault.crypto import default_eccrypto
from .identity.community import SHA1_PADDING, IdentityCommunity, create_community
from .identity.manager import IdentityManager
from .schema.manager import SchemaManager
from .wallet.community import AttestationCommunity, AttestationSettings

if TYPE_CHECKING:
    from ..keyvault.keys import PrivateKey
    from ..peer import Peer

__all__ = ["CommunicationChannel", "CommunicationManager", "InvalidPseudonymNameError", "PseudonymFolderManager"]

AttributePointer = tuple["Peer", str]
MetadataDict = dict[str, str]

logger = logging.getLogger(__name__)

#: Global times a loaded pseudonym keeps reserved on disk ahead of its clock (see ``CommunicationManager._keep_clock``).
CLOCK_RESERVATION = 4096

#: A pseudonym name is a file name: letters, digits, ``_``, ``-`` and ``.`` (not first), at most 64 of them.
PSEUDONYM_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


class InvalidPseudonymNameError(ValueError):
    """The name cannot be a pseudonym (it would not be a plain file name in the pseudonym folder)."""


def _clock_option(overlay: IdentityCommunity) -> str:
    """The key under which the identity database keeps a pseudonym's reserved global time."""
    return "global_time:" + overlay.my_peer.mid.hex()


def _wallet_hash(attribute_hash: bytes) -> bytes:
    """The wallet's 20-byte hash of an identity-layer attribute hash (which pads SHA-1 hashes to 32 bytes)."""
    return attribute_hash.removeprefix(SHA1_PADDING)


class CommunicationChannel:
    """The business (identity) and proving (attestation) overlays of one loaded pseudonym."""

    def __init__(self, attestation_community: AttestationCommunity, identity_community: IdentityCommunity) -> None:
        self.attestation_overlay = attestation_community
        self.identity_overlay = identity_community
        self.schema_manager = SchemaManager()
        self.schema_manager.register_default_schemas()
        #: (peer, attribute name) -> (Deferred for the value to attest, metadata JSON): requests to us.
        self.attestation_requests: dict[AttributePointer, tuple[Deferred, str]] = {}
        #: (peer, attribute name) -> Deferred for our consent: verification requests to us.
        self.verify_requests: dict[AttributePointer, Deferred] = {}
        #: attribute hash -> [(reference value, certainty or None while running)]: our verifications.
        self.verification_output: dict[bytes, list[tuple[bytes, float | None]]] = {}
        #: (peer, attribute name) -> metadata of attestations in progress (ours and others').
        self.attestation_metadata: dict[AttributePointer, MetadataDict] = {}
        self.attestation_overlay.set_attestation_request_callback(self.on_request_attestation)
        self.attestation_overlay.set_attestation_request_complete_callback(self.on_attestation_complete)
        self.attestation_overlay.set_verify_request_callback(self.on_verify_request)

    @property
    def public_key_bin(self) -> bytes:
        """Our pseudonym's binary public key."""
        return self.identity_overlay.my_peer.public_key.key_to_bin()

    @property
    def anonymized(self) -> bool:
        """Whether our pseudonym's traffic goes through circuits (False: directly, from this node's address)."""
        endpoint = self.identity_overlay.endpoint
        return bool(self.identity_overlay.anonymize and getattr(endpoint, "tunnel_community", None) is not None
                    and getattr(endpoint, "is_anonymized", lambda _: False)(self.identity_overlay.get_prefix()))

    @property
    def peers(self) -> list[Peer]:
        """The peers our pseudonym's identity overlay knows."""
        return self.identity_overlay.get_peers()

    @property
    def schemas(self) -> list[str]:
        """Names of the identity formats we support."""
        return list(self.schema_manager.formats)

    # Callbacks of the attestation overlay -------------------------------------------------------------------

    def _pending(self, table: dict, key: AttributePointer, deferred: Deferred) -> Deferred:
        """Keep ``deferred`` in ``table`` until it fires (answered, or timed out by the wallet)."""
        def forget(result: Any) -> Any:
            if table.get(key) is deferred or (isinstance(table.get(key), tuple) and table[key][0] is deferred):
                del table[key]
            return result
        return deferred.addBoth(forget)

    def on_request_attestation(self, peer: Peer, attribute_name: str, metadata: MetadataDict) -> Deferred:
        """``peer`` asks us to attest ``attribute_name``: wait for :meth:`attest` (the wallet times out)."""
        deferred: Deferred = Deferred()
        self.attestation_requests[(peer, attribute_name)] = (deferred, json.dumps(metadata))
        self.attestation_metadata[(peer, attribute_name)] = metadata
        return self._pending(self.attestation_requests, (peer, attribute_name), deferred)

    def on_attestation_complete(self, for_peer: Peer, attribute_name: str, attribute_hash: bytes, id_format: str,
                                from_peer: Peer | None = None) -> None:
        """An attestation finished: as owner advertise the credential to the authority, as authority expect it."""
        metadata = self.attestation_metadata.pop((for_peer, attribute_name), None)
        me = self.identity_overlay.my_peer
        if for_peer == me:
            if from_peer is None or from_peer == me:
                self.identity_overlay.self_advertise(attribute_hash, attribute_name, id_format, metadata)
            else:
                self.identity_overlay.request_attestation_advertisement(from_peer, attribute_hash, attribute_name,
                                                                        id_format, metadata)
        else:
            self.identity_overlay.add_known_hash(attribute_hash, attribute_name, for_peer.public_key.key_to_bin(),
                                                 metadata)

    def on_verify_request(self, peer: Peer, attribute_hash: bytes) -> Deferred:
        """``peer`` wants to verify our attribute: wait for :meth:`allow_verification` (unknown hash: refuse)."""
        metadata = self.identity_overlay.get_attestation_by_hash(attribute_hash)
        details = None if metadata is None else metadata.json()
        if details is None or not isinstance(details.get("name"), str):
            return succeed(False)
        deferred: Deferred = Deferred()
        self.verify_requests[(peer, details["name"])] = deferred
        return self._pending(self.verify_requests, (peer, details["name"]), deferred)

    def on_verification_results(self, attribute_hash: bytes, values: list[float]) -> None:
        """A verification of ours finished: fill in the certainties."""
        references = self.verification_output.get(attribute_hash, [])
        self.verification_output[attribute_hash] = [(reference, value)
                                                    for (reference, _), value in zip(references, values)]

    # Our actions -----------------------------------------------------------------------------------------

    def request_attestation(self, peer: Peer, attribute_name: str, id_format: str,
                            metadata: MetadataDict) -> Deferred:
        """Ask ``peer`` to attest our ``attribute_name`` in ``id_format``; fires with the attestation hash
        (None if none arrived in time)."""
        # The credential's metadata is the extra metadata only (the schema names the format): exactly what the
        # authority's wallet hands over, which the authority will insist on before signing.
        extra = {key: value for key, value in metadata.items() if key != "id_format"}
        self.attestation_metadata[(self.identity_overlay.my_peer, attribute_name)] = extra
        making = self.attestation_overlay.generate_secret_key(id_format)
        return making.addCallback(lambda key: self.attestation_overlay.request_attestation(
            peer, attribute_name, key, dict(extra, id_format=id_format)))

    def attest(self, peer: Peer, attribute_name: str, value: bytes) -> None:
        """Answer ``peer``'s outstanding request for ``attribute_name`` with ``value``.

        :raises KeyError: when there is no such outstanding request.
        """
        deferred, _ = self.attestation_requests.pop((peer, attribute_name))
        deferred.callback(value)

    def allow_verification(self, peer: Peer, attribute_name: str) -> None:
        """Consent to ``peer``'s outstanding verification of ``attribute_name`` (KeyError if there is none)."""
        self.verify_requests.pop((peer, attribute_name)).callback(True)

    def disallow_verification(self, peer: Peer, attribute_name: str) -> None:
        """Refuse ``peer``'s outstanding verification of ``attribute_name`` (KeyError if there is none)."""
        self.verify_requests.pop((peer, attribute_name)).callback(False)

    def verify(self, peer: Peer, attribute_hash: bytes, reference_values: list[bytes], id_format: str) -> Deferred:
        """Verify ``peer``'s attestation ``attribute_hash`` against ``reference_values``; the certainties
        appear in :attr:`verification_output` (the Deferred fires with them too)."""
        self.verification_output[attribute_hash] = [(value, None) for value in reference_values]
        return self.attestation_overlay.verify_attestation_values(peer.address, attribute_hash, reference_values,
                                                                  self.on_verification_results, id_format)

    def import_blob(self, attribute_name: str, id_format: str, metadata: MetadataDict, value: bytes) -> None:
        """Store an attestation made elsewhere (advanced use)."""
        self.attestation_overlay.dump_blob(attribute_name, id_format, value, dict(metadata, id_format=id_format))

    # Reading ---------------------------------------------------------------------------------------------

    def get_my_attributes(self) -> dict[bytes, tuple[str, dict, list[bytes]]]:
        """:meth:`get_attributes` of our own pseudonym."""
        return self.get_attributes(self.identity_overlay.my_peer)

    def get_attributes(self, peer: Peer) -> dict[bytes, tuple[str, dict, list[bytes]]]:
        """attribute hash -> (name, metadata, binary keys of the authorities that attested it), for ``peer``."""
        manager = self.identity_overlay.identity_manager
        pseudonym = manager.get_pseudonym(peer.public_key)  # ours was opened with our private key already
        out: dict[bytes, tuple[str, dict, list[bytes]]] = {}
        for credential in pseudonym.get_credentials():
            token = pseudonym.tree.elements.get(credential.metadata.token_pointer)
            details = credential.metadata.json()
            if token is None or details is None:
                continue  # metadata of a token we never received, or not JSON: nothing to show
            authorities = [manager.database.get_authority(attestation) for attestation in credential.attestations]
            out[token.content_hash] = (str(details.get("name")), details, [a for a in authorities if a])
        return out

    def remove(self) -> None:
        """Delete our pseudonym's credentials and the wallet's attestations for them."""
        database = self.identity_overlay.identity_manager.database
        for attribute_hash in database.remove_pseudonym(self.identity_overlay.my_peer.public_key):
            self.attestation_overlay.database.remove_attestation(_wallet_hash(attribute_hash))
        database.delete_option(_clock_option(self.identity_overlay))
        self.refuse_outstanding()

    def refuse_outstanding(self) -> None:
        """Answer every request still waiting for the user with a refusal (the wallet's timers stop with it)."""
        for deferred, _ in list(self.attestation_requests.values()):
            if not deferred.called:
                deferred.callback(None)
        for deferred in list(self.verify_requests.values()):
            if not deferred.called:
                deferred.callback(False)
        self.attestation_requests.clear()
        self.verify_requests.clear()


class PseudonymFolderManager:
    """The key files of pseudonyms: one file per name in ``directory``, holding the private key.

    A ``directory`` under ``:memory:`` (a node without a working directory, e.g. in tests) keeps the keys in
    this object instead: nothing is written to disk, and they are gone when it is.
    """

    def __init__(self, directory: str) -> None:
        self.pseudonym_folder = directory
        self._in_memory: dict[str, bytes] | None = {} if directory.startswith(":memory:") else None

    def path_of(self, name: str) -> str:
        """The key file of ``name``.

        :raises InvalidPseudonymNameError: for names that are not plain, short file names.
        """
        if not isinstance(name, str) or not PSEUDONYM_NAME.fullmatch(name):
            raise InvalidPseudonymNameError(f"invalid pseudonym name {name!r}: use up to 64 letters, digits, "
                                            "'_', '-' and '.' (not first)")
        return os.path.join(self.pseudonym_folder, name)

    def get_or_create_private_key(self, name: str) -> PrivateKey:
        """The key of ``name``, created (and written, readable by us only) if it does not exist yet."""
        path = self.path_of(name)
        if self._in_memory is not None:
            if name not in self._in_memory:
                self._in_memory[name] = default_eccrypto.generate_key("curve25519").key_to_bin()
            return default_eccrypto.key_from_private_bin(self._in_memory[name])
        if os.path.exists(path):
            with open(path, "rb") as handle:
                return default_eccrypto.key_from_private_bin(handle.read())
        os.makedirs(self.pseudonym_folder, exist_ok=True)
        private_key = default_eccrypto.generate_key("curve25519")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private_key.key_to_bin())
        return private_key

    def remove_pseudonym_file(self, name: str) -> None:
        """Delete the key file of ``name`` (nothing happens if there is none)."""
        path = self.path_of(name)
        if self._in_memory is not None:
            self._in_memory.pop(name, None)
        elif os.path.exists(path):
            os.remove(path)

    def list_pseudonym_files(self) -> list[str]:
        """Names of every pseudonym with a key file."""
        if self._in_memory is not None:
            return sorted(self._in_memory)
        if not os.path.isdir(self.pseudonym_folder):
            return []
        return sorted(name for name in os.listdir(self.pseudonym_folder) if PSEUDONYM_NAME.fullmatch(name))


def _tunnel_community(ipv8: Any) -> Any:
    """The node's HiddenTunnelCommunity, if this txipv8 has one and the node runs it."""
    try:
        from ..messaging.anonymization.hidden_services import HiddenTunnelCommunity  # type: ignore[import-not-found]
    except ImportError:
        return None
    return ipv8.get_overlay(HiddenTunnelCommunity)


class CommunicationManager:
    """Named pseudonyms of an :class:`~ipv8.service.IPv8` node; see the module documentation.

    :param ipv8_instance: the node (its configuration, strategies and anonymized endpoints are used).
    :param pseudonym_folder: the folder of key files, under ``working_directory``.
    :param working_directory: where the databases and key files go (default: the node's working directory).
    """

    def __init__(self, ipv8_instance: Any, pseudonym_folder: str = "pseudonyms",
                 working_directory: str | None = None, worker_runner: Any = None) -> None:
        self.ipv8_instance = ipv8_instance
        #: How the wallets run their crypto jobs (AttestationSettings.worker_runner; None: the shared pool).
        self.worker_runner = worker_runner
        #: binary public key -> channel, and name -> channel, of loaded pseudonyms.
        self.channels: dict[bytes, CommunicationChannel] = {}
        self.name_to_channel: dict[str, CommunicationChannel] = {}
        self._loading: dict[str, list[Deferred]] = {}
        loaded = ipv8_instance.get_overlay(IdentityCommunity)
        self.identity_manager: IdentityManager | None = None if loaded is None else loaded.identity_manager
        self._owns_manager = False
        if working_directory is None:
            working_directory = ipv8_instance.configuration.get("working_directory", ".")
        self.working_directory: str = working_directory
        self.pseudonym_folder_manager = PseudonymFolderManager(os.path.join(working_directory, pseudonym_folder))

    def lazy_identity_manager(self) -> IdentityManager:
        """The identity database shared by all pseudonyms, opened on first use."""
        if self.identity_manager is None:
            self.identity_manager = IdentityManager(
                ":memory:" if self.working_directory == ":memory:"
                else os.path.join(self.working_directory, "sqlite", "identity.db"))
            self._owns_manager = True
        return self.identity_manager

    def load(self, name: str, rendezvous_token: str | None = None) -> Deferred:
        """The channel of pseudonym ``name`` (loaded, and its key created, if needed), as a Deferred.

        :raises InvalidPseudonymNameError: (in the Deferred) for a bad name; ValueError for a token that is
            not base64.
        """
        if name in self.name_to_channel:
            return succeed(self.name_to_channel[name])
        try:
            # The token first: a bad request must not leave a key file behind.
            token = None if rendezvous_token is None else base64.b64decode(rendezvous_token.encode(), validate=True)
            private_key = self.pseudonym_folder_manager.get_or_create_private_key(name)
        except (ValueError, binascii.Error) as exc:
            return fail(exc)
        waiting: Deferred = Deferred()
        if name in self._loading:  # a load of this name is running: answer with its result
            self._loading[name].append(waiting)
            return waiting
        self._loading[name] = [waiting]
        tunnel_community = _tunnel_community(self.ipv8_instance)
        anonymize = tunnel_community is not None

        def built(identity_overlay: IdentityCommunity) -> CommunicationChannel:
            settings = AttestationSettings(my_peer=identity_overlay.my_peer, endpoint=identity_overlay.endpoint,
                                           network=identity_overlay.network, anonymize=anonymize,
                                           working_directory=self.working_directory,
                                           clock=getattr(self.ipv8_instance, "_reactor", None),
                                           worker_runner=self.worker_runner)
            attestation_overlay = AttestationCommunity(settings)
            self._keep_clock(identity_overlay)
            endpoint = identity_overlay.endpoint
            if hasattr(endpoint, "set_tunnel_community"):
                endpoint.set_tunnel_community(tunnel_community)
            if anonymize and hasattr(tunnel_community, "add_tunnel_endpoint"):
                # The pseudonym has a socket of its own: what comes back through the circuits is handed to it.
                tunnel_community.add_tunnel_endpoint(endpoint)
            elif not anonymize:
                logger.info("Pseudonym %r is not anonymized: no HiddenTunnelCommunity is loaded, so its traffic "
                            "goes directly from this node's address", name)
            channel = CommunicationChannel(attestation_overlay, identity_overlay)
            self.channels[private_key.pub().key_to_bin()] = channel
            self.name_to_channel[name] = channel
            return channel

        def finish(result: CommunicationChannel | Failure) -> None:
            for deferred in self._loading.pop(name, []):
                if isinstance(result, Failure):
                    deferred.errback(result)
                else:
                    deferred.callback(result)

        creating = create_community(private_key, self.ipv8_instance, self.lazy_identity_manager(),
                                    working_directory=self.working_directory, anonymize=anonymize,
                                    rendezvous_token=token)
        creating.addCallback(built).addBoth(finish)
        return waiting

    @staticmethod
    def _keep_clock(overlay: IdentityCommunity) -> None:
        """Continue the pseudonym's Lamport clock where it stopped, even after a crash.

        Its overlays sign introductions and wallet messages with that clock, and a peer refuses a time it has seen
        from that key before when it comes from another address (replay protection): a reloaded pseudonym has a
        new port, so starting again from zero would lock it out of the peers that knew it. The clock starts at the
        value reserved on disk, and a new reservation is written before half of the last one is used up.
        """
        database = overlay.identity_manager.database
        key = _clock_option(overlay)
        stored = database.get_option(key)
        if stored is not None and stored.isdigit():
            overlay.my_peer.update_clock(int(stored))
        reserved = [0]

        def reserve() -> None:
            now = overlay.global_time
            if now + CLOCK_RESERVATION // 2 >= reserved[0]:
                reserved[0] = now + CLOCK_RESERVATION
                database.set_option(key, str(reserved[0]).encode())
        reserve()
        overlay.register_task("reserve global time", reserve, interval=1.0)

    def unload(self, name: str) -> Deferred:
        """Stop the overlays of pseudonym ``name`` and close its endpoint (nothing if it is not loaded)."""
        channel = self.name_to_channel.pop(name, None)
        if channel is None:
            return succeed(None)
        self.channels.pop(channel.public_key_bin, None)
        # Requests nobody can answer any more: refused now, not when the wallet's timeout fires.
        channel.refuse_outstanding()
        tunnel_community = getattr(channel.identity_overlay.endpoint, "tunnel_community", None)
        if hasattr(tunnel_community, "remove_tunnel_endpoint"):
            tunnel_community.remove_tunnel_endpoint(channel.identity_overlay.endpoint)
        stopping = self.ipv8_instance.unload_overlay(channel.identity_overlay)
        stopping.addBoth(lambda _: channel.attestation_overlay.unload())
        stopping.addBoth(lambda _: channel.identity_overlay.endpoint.close())
        return stopping.addBoth(lambda _: None)

    def remove(self, name: str) -> Deferred:
        """Delete pseudonym ``name``: its credentials, attestations and key file (it must be loaded)."""
        channel = self.name_to_channel.get(name)
        if channel is None:
            return succeed(None)
        channel.remove()
        return self.unload(name).addCallback(lambda _: self.pseudonym_folder_manager.remove_pseudonym_file(name))

    def shutdown(self) -> Deferred:
        """Unload every pseudonym (and close the identity database if this manager opened it)."""
        stopping = gatherResults([self.unload(name) for name in list(self.name_to_channel)], consumeErrors=True)

        def close(_: Any) -> None:
            if self._owns_manager and self.identity_manager is not None:
                self.identity_manager.close()
                self.identity_manager = None
                self._owns_manager = False
        return stopping.addBoth(close)

    def list_names(self) -> list[str]:
        """Names of every pseudonym with a key file."""
        return self.pseudonym_folder_manager.list_pseudonym_files()

    def list_loaded(self) -> list[str]:
        """Names of the loaded pseudonyms."""
        return [name for name in self.list_names() if name in self.name_to_channel]
