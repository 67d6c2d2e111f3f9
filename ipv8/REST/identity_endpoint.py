"""``/identity/...``: pseudonyms, their credentials and the attestation flows, with pyipv8 3.2.1's routes and JSON.

========================================================  ==============================================================
``GET /identity``                                         ``{"names": [...]}``: every pseudonym with a key file
``GET /identity/{pseudonym}/schemas``                     ``{"schemas": [...]}``: the identity formats we support
``GET /identity/{pseudonym}/public_key``                  ``{"public_key": "<base64>"}``
``GET /identity/{pseudonym}/unload``                      stop the pseudonym's overlays: ``{"success": true}``
``GET /identity/{pseudonym}/remove``                      delete its key, credentials and attestations
``GET /identity/{pseudonym}/credentials``                 ``{"names": [{name, hash, metadata, attesters}]}``: ours
``GET /identity/{pseudonym}/credentials/{subject}``       the same for a peer we know
``GET /identity/{pseudonym}/peers``                       ``{"peers": ["<base64 key>", ...]}``
``PUT /identity/{pseudonym}/request/{authority}``         ask an authority to attest ``{name, schema, metadata}``
``PUT /identity/{pseudonym}/attest/{subject}``            answer a subject's outstanding request: ``{name, value}``
``PUT /identity/{pseudonym}/verify/{subject}``            ask a subject to prove ``{hash, value, schema}``
``PUT /identity/{pseudonym}/allow/{verifier}``            consent to an outstanding verification: ``{name}``
``PUT /identity/{pseudonym}/disallow/{verifier}``         refuse it
``GET /identity/{pseudonym}/outstanding/attestations``    ``{"requests": [{peer, attribute_name, metadata}]}``
``GET /identity/{pseudonym}/outstanding/verifications``   ``{"requests": [{peer, attribute_name}]}``
``GET /identity/{pseudonym}/verifications``               ``{"outputs": [{hash, reference, match}]}``: finished ones
========================================================  ==============================================================

Every route below a pseudonym loads it first (creating its key on first use), as in pyipv8 3.2.1; the optional
``X-Rendezvous`` header (base64) gives it a private meeting place the first time it is loaded. Keys, hashes and
values travel in base64 (standard alphabet; keys in the path are percent-encoded).

The engine is a :class:`~ipv8.attestation.communication_manager.CommunicationManager` for the REST API's
session, built on first use (nothing is opened for a service that never touches ``/identity``) and shut down
with the REST API. An application may hand its own to :meth:`IdentityEndpoint.set_communication_manager`.

Where pyipv8 3.2.1 answers a mistake with a 200 ``{"success": false, "error": ...}`` or a traceback, txipv8
answers with the same body shape and an error status: 400 for malformed input (bad base64, a pseudonym name that
is not a plain short file name, an unknown schema, oversized metadata), 404 for a peer the pseudonym does not
know, an outstanding request that does not exist, or ``unload``/``remove`` of a pseudonym that has no key.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.python.failure import Failure

from ..attestation.communication_manager import (
    CommunicationManager,
    InvalidPseudonymNameError,
)
from .base_endpoint import APIRequest, BadRequest, BaseEndpoint, NotFound, api_method
from .schema import ERROR_REF, SUCCESS_REF, array, mapping, number, obj, string

if TYPE_CHECKING:
    from ..attestation.communication_manager import CommunicationChannel
    from ..peer import Peer

logger = logging.getLogger(__name__)

#: Attribute names are short labels (they travel in attestation requests and credential metadata).
MAX_ATTRIBUTE_NAME_LENGTH = 256
#: Metadata of an attestation request: at most this many entries ...
MAX_METADATA_ENTRIES = 16
#: ... taking at most this many bytes once JSON-encoded (it must fit in one request packet).
MAX_METADATA_BYTES = 1024
#: An attested value or reference value, base64-encoded (the attestation schemes take short values).
MAX_VALUE_B64_LENGTH = 1024
#: A binary public key in base64 (curve25519 keys take 100 characters; this leaves room for others).
MAX_KEY_B64_LENGTH = 512
#: An attribute hash in base64 (20 or 32 bytes).
MAX_HASH_B64_LENGTH = 64
#: A rendezvous token in base64.
MAX_RENDEZVOUS_LENGTH = 256


def b64(data: bytes) -> str:
    """``data`` in standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def from_b64(text: str, what: str) -> bytes:
    """The bytes of base64 ``text``; :class:`BadRequest` naming ``what`` when it is not base64."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise BadRequest(f"the {what} is not valid base64", code="BadBase64") from None


# -- schemas ------------------------------------------------------------------------------------------------

CREDENTIALS_SCHEMA = obj(("names",), names=array(obj(
    ("name", "hash", "metadata", "attesters"),
    name=string("The attribute name."),
    hash=string("The attestation hash (base64, 20 bytes for SHA-1 formats)."),
    metadata={"type": "object", "description": "The credential's metadata (name, schema, date and extras)."},
    attesters=array(string(), "Public keys (base64) of the authorities that signed it."))))
OUTSTANDING_ATTESTATIONS_SCHEMA = obj(("requests",), requests=array(obj(
    ("peer", "attribute_name", "metadata"), peer=string("The requester's public key (base64)."),
    attribute_name=string(), metadata=string("The request's metadata as JSON text (as pyipv8 sends it)."))))
OUTSTANDING_VERIFICATIONS_SCHEMA = obj(("requests",), requests=array(obj(
    ("peer", "attribute_name"), peer=string("The verifier's public key (base64)."), attribute_name=string())))
VERIFICATIONS_SCHEMA = obj(("outputs",), outputs=array(obj(
    ("hash", "reference", "match"), hash=string("base64"), reference=string("The reference value (base64)."),
    match=number("The certainty (0 to 1) that the attested value equals the reference."))))

_NAME = string("The attribute name.", minLength=1, maxLength=MAX_ATTRIBUTE_NAME_LENGTH)
NAME_BODY = obj(("name",), name=_NAME)
REQUEST_BODY = obj(("name", "schema"), name=_NAME, schema=string("The identity format (see /schemas).",
                                                                  maxLength=MAX_ATTRIBUTE_NAME_LENGTH),
                   metadata=mapping(string(maxLength=MAX_METADATA_BYTES),
                                    f"Extra metadata, text values (at most {MAX_METADATA_ENTRIES} entries, "
                                    f"{MAX_METADATA_BYTES} bytes)."))
ATTEST_BODY = obj(("name", "value"), name=_NAME,
                  value=string("The value to attest (base64).", maxLength=MAX_VALUE_B64_LENGTH))
VERIFY_BODY = obj(("hash", "value", "schema"),
                  hash=string("The attestation hash (base64).", maxLength=MAX_HASH_B64_LENGTH),
                  value=string("The reference value (base64).", maxLength=MAX_VALUE_B64_LENGTH),
                  schema=string("The identity format.", maxLength=MAX_ATTRIBUTE_NAME_LENGTH))

BAD_INPUT = ("Bad pseudonym name, X-Rendezvous header, base64 or body.", ERROR_REF)
UNKNOWN_PEER = ("The pseudonym knows no peer with this key.", ERROR_REF)
NO_REQUEST = ("The peer is unknown, or has no such outstanding request.", ERROR_REF)
NO_PSEUDONYM = ("There is no pseudonym with this name.", ERROR_REF)


# -- the shared engine --------------------------------------------------------------------------------------

class IdentityService:
    """The :class:`CommunicationManager` behind every ``/identity`` resource, built on first use."""

    def __init__(self) -> None:
        """Nothing is built until a request needs it."""
        self.session: Any = None
        self.communication_manager: CommunicationManager | None = None
        #: Whether we built the manager (and so unload its pseudonyms when the REST API stops).
        self.owned = False

    def manager(self) -> CommunicationManager:
        """The communication manager of the session (built now if needed)."""
        if self.communication_manager is None:
            if self.session is None:
                raise NotFound("the REST API has no IPv8 session", code="NoSession")
            self.communication_manager = CommunicationManager(self.session)
            self.owned = True
        return self.communication_manager

    def shutdown(self) -> Deferred:
        """Unload the pseudonyms of a manager we built (one handed to us belongs to its owner)."""
        manager = self.communication_manager
        if manager is None or not self.owned:
            return succeed(None)
        self.communication_manager, self.owned = None, False
        stopping = maybeDeferred(manager.shutdown)
        stopping.addErrback(lambda failure: logger.error("Unloading the pseudonyms failed:\n%s",
                                                         failure.getTraceback()))
        return stopping

    def channel(self, request: APIRequest) -> Deferred:
        """The channel of the request's pseudonym, loaded with its ``X-Rendezvous`` token if needed."""
        name = request.path.get("pseudonym_name", "")
        token = request.header("X-Rendezvous")
        if token is not None:
            if len(token) > MAX_RENDEZVOUS_LENGTH:
                raise BadRequest("the X-Rendezvous token is too long", code="BadRendezvous")
            from_b64(token, "X-Rendezvous token")
        loading = self.manager().load(name, token)

        def refused(failure: Failure) -> Failure:
            if failure.check(InvalidPseudonymNameError):
                raise BadRequest(str(failure.value), code="BadPseudonymName")
            if failure.check(ValueError, binascii.Error):
                raise BadRequest(f"cannot load the pseudonym: {failure.getErrorMessage()}", code="BadPseudonym")
            return failure
        return loading.addErrback(refused)

    def check_name(self, name: str) -> None:
        """:class:`BadRequest` for a name that cannot be a pseudonym."""
        try:
            self.manager().pseudonym_folder_manager.path_of(name)
        except InvalidPseudonymNameError as exc:
            raise BadRequest(str(exc), code="BadPseudonymName") from None


def find_peer(channel: CommunicationChannel, key_b64: str, role: str) -> Peer:
    """The peer of ``channel`` whose public key is ``key_b64``: 400 for bad base64, 404 when unknown."""
    if len(key_b64) > MAX_KEY_B64_LENGTH:
        raise BadRequest(f"the {role} key is too long", code="BadBase64")
    key = from_b64(key_b64, f"{role} key")
    for peer in channel.peers:
        if peer.public_key.key_to_bin() == key:
            return peer
    raise NotFound(f"failed to find {role}", code="UnknownPeer")


def credentials(attributes: dict[bytes, tuple[str, dict, list[bytes]]]) -> dict[str, Any]:
    """pyipv8's ``{"names": [...]}`` of ``attribute hash -> (name, metadata, attesters)``."""
    from ..attestation.identity.community import SHA1_PADDING
    return {"names": [{"name": name, "hash": b64(attribute_hash.removeprefix(SHA1_PADDING)), "metadata": metadata,
                       "attesters": [b64(attester) for attester in attesters]}
                      for attribute_hash, (name, metadata, attesters) in attributes.items()]}


def check_schema(channel: CommunicationChannel, schema: str) -> None:
    """:class:`BadRequest` for an identity format the pseudonym does not support."""
    if schema not in channel.schemas:
        raise BadRequest(f"unknown schema {schema!r}; see /schemas", code="UnknownSchema")


def check_metadata(metadata: dict[str, str]) -> None:
    """:class:`BadRequest` for metadata with too many entries or too many bytes."""
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise BadRequest(f"metadata has more than {MAX_METADATA_ENTRIES} entries", code="MetadataTooLarge")
    if len(json.dumps(metadata).encode("utf-8")) > MAX_METADATA_BYTES:
        raise BadRequest(f"metadata takes more than {MAX_METADATA_BYTES} bytes", code="MetadataTooLarge")


class _IdentityResource(BaseEndpoint):
    """A resource below ``/identity``, sharing the :class:`IdentityService`."""

    tags = ("Identity",)

    def __init__(self, service: IdentityService) -> None:
        """Share ``service`` with the other identity resources."""
        super().__init__()
        self.service = service


# -- resources ----------------------------------------------------------------------------------------------

class SchemasEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/schemas``."""

    @api_method("GET", "List the identity formats the pseudonym supports.",
                {200: obj(("schemas",), schemas=array(string())), 400: BAD_INPUT})
    def get_schemas(self, request: APIRequest) -> Deferred:
        """The names to use as ``schema`` in attestation and verification requests."""
        return self.service.channel(request).addCallback(lambda channel: {"schemas": channel.schemas})


class PublicKeyEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/public_key``."""

    @api_method("GET", "Get the pseudonym's public key.",
                {200: obj(("public_key",), public_key=string("base64")), 400: BAD_INPUT})
    def get_public_key(self, request: APIRequest) -> Deferred:
        """The binary public key of the pseudonym, in base64: how other services name it."""
        return self.service.channel(request).addCallback(lambda channel: {"public_key": b64(channel.public_key_bin)})


class UnloadEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/unload``."""

    @api_method("GET", "Unload a pseudonym (its key and credentials stay).",
                {200: SUCCESS_REF, 400: BAD_INPUT, 404: NO_PSEUDONYM})
    def unload(self, request: APIRequest) -> Deferred:
        """Stop the pseudonym's overlays; a later request loads it again."""
        name = request.path.get("pseudonym_name", "")
        self.service.check_name(name)
        manager = self.service.manager()
        if name not in manager.list_names():
            raise NotFound(f"there is no pseudonym {name!r}", code="UnknownPseudonym")
        return manager.unload(name).addCallback(lambda _: {"success": True})


class RemoveEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/remove``."""

    @api_method("GET", "Remove a pseudonym: its key, credentials and attestations.",
                {200: SUCCESS_REF, 400: BAD_INPUT, 404: NO_PSEUDONYM})
    def remove(self, request: APIRequest) -> Deferred:
        """Delete the pseudonym for good (it is loaded first if it was not)."""
        name = request.path.get("pseudonym_name", "")
        self.service.check_name(name)
        manager = self.service.manager()
        if name not in manager.list_names():
            raise NotFound(f"there is no pseudonym {name!r}", code="UnknownPseudonym")
        loading = self.service.channel(request)
        return loading.addCallback(lambda _: manager.remove(name)).addCallback(lambda _: {"success": True})


class SubjectCredentialsEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/credentials/{subject_key}``."""

    @api_method("GET", "List the credentials of a peer the pseudonym knows.",
                {200: CREDENTIALS_SCHEMA, 400: BAD_INPUT, 404: UNKNOWN_PEER})
    def get_subject_credentials(self, request: APIRequest) -> Deferred:
        """The subject's credentials we have seen, with the authorities that attested them."""
        def answer(channel: CommunicationChannel) -> dict[str, Any]:
            subject = find_peer(channel, request.path.get("subject_key", ""), "subject")
            return credentials(channel.get_attributes(subject))
        return self.service.channel(request).addCallback(answer)


class CredentialsEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/credentials``."""

    def __init__(self, service: IdentityService) -> None:
        """Create the resource with its ``{subject_key}`` child."""
        super().__init__(service)
        self.add_endpoint("{subject_key}", SubjectCredentialsEndpoint(service))

    @api_method("GET", "List the pseudonym's own credentials.", {200: CREDENTIALS_SCHEMA, 400: BAD_INPUT})
    def get_credentials(self, request: APIRequest) -> Deferred:
        """Each credential with its hash (base64), metadata and the authorities (base64 keys) that attested it."""
        return self.service.channel(request).addCallback(lambda channel: credentials(channel.get_my_attributes()))


class PeersEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/peers``."""

    @api_method("GET", "List the public keys of the peers the pseudonym knows.",
                {200: obj(("peers",), peers=array(string("base64"))), 400: BAD_INPUT})
    def get_peers(self, request: APIRequest) -> Deferred:
        """The peers of the pseudonym's identity overlay, by public key (base64)."""
        return self.service.channel(request).addCallback(
            lambda channel: {"peers": [b64(peer.public_key.key_to_bin()) for peer in channel.peers]})


class _ConsentEndpoint(_IdentityResource):
    """``allow`` and ``disallow``: answer a verifier's outstanding request."""

    allow = True

    def answer_verifier(self, request: APIRequest) -> Deferred:
        """Consent to (or refuse) the verification of ``name`` by the verifier in the path."""
        def consent(channel: CommunicationChannel) -> dict[str, Any]:
            verifier = find_peer(channel, request.path.get("verifier_key", ""), "verifier")
            name = request.body["name"]
            try:
                if self.allow:
                    channel.allow_verification(verifier, name)
                else:
                    channel.disallow_verification(verifier, name)
            except KeyError:
                raise NotFound(f"the verifier has no outstanding request for {name!r}",
                               code="NoOutstandingRequest") from None
            return {"success": True}
        return self.service.channel(request).addCallback(consent)


class AllowEndpoint(_ConsentEndpoint):
    """``/identity/{pseudonym}/allow/{verifier_key}``."""

    @api_method("PUT", "Allow a verifier's outstanding verification of an attribute.",
                {200: SUCCESS_REF, 400: BAD_INPUT, 404: NO_REQUEST}, body=NAME_BODY)
    def put_allow(self, request: APIRequest) -> Deferred:
        """The body names the attribute: ``{"name": ...}``."""
        return self.answer_verifier(request)


class DisallowEndpoint(_ConsentEndpoint):
    """``/identity/{pseudonym}/disallow/{verifier_key}``."""

    allow = False

    @api_method("PUT", "Refuse a verifier's outstanding verification of an attribute.",
                {200: SUCCESS_REF, 400: BAD_INPUT, 404: NO_REQUEST}, body=NAME_BODY)
    def put_disallow(self, request: APIRequest) -> Deferred:
        """The body names the attribute: ``{"name": ...}``."""
        return self.answer_verifier(request)


class RequestEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/request/{authority_key}``."""

    @api_method("PUT", "Ask an authority to attest an attribute of the pseudonym.",
                {200: SUCCESS_REF, 400: BAD_INPUT, 404: UNKNOWN_PEER}, body=REQUEST_BODY)
    def put_request(self, request: APIRequest) -> Deferred:
        """
        The body is ``{"name", "schema", "metadata"}`` (metadata optional). The answer comes at once; the
        credential appears under ``/credentials`` once the authority attested it.
        """
        def ask(channel: CommunicationChannel) -> dict[str, Any]:
            authority = find_peer(channel, request.path.get("authority_key", ""), "authority")
            body = request.body
            check_schema(channel, body["schema"])
            metadata = body.get("metadata") or {}
            check_metadata(metadata)
            attesting = channel.request_attestation(authority, body["name"], body["schema"], metadata)
            attesting.addErrback(lambda failure: logger.warning("Attestation request for %r failed: %s",
                                                                body["name"], failure.getErrorMessage()))
            return {"success": True}
        return self.service.channel(request).addCallback(ask)


class AttestEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/attest/{subject_key}``."""

    @api_method("PUT", "Attest a subject's outstanding request with a value.",
                {200: SUCCESS_REF, 400: BAD_INPUT, 404: NO_REQUEST}, body=ATTEST_BODY)
    def put_attest(self, request: APIRequest) -> Deferred:
        """The body is ``{"name", "value"}``, the value in base64."""
        def attest(channel: CommunicationChannel) -> dict[str, Any]:
            subject = find_peer(channel, request.path.get("subject_key", ""), "subject")
            value = from_b64(request.body["value"], "value")
            name = request.body["name"]
            try:
                channel.attest(subject, name, value)
            except KeyError:
                raise NotFound(f"the subject has no outstanding request for {name!r}",
                               code="NoOutstandingRequest") from None
            return {"success": True}
        return self.service.channel(request).addCallback(attest)


class VerifyEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/verify/{subject_key}``."""

    @api_method("PUT", "Ask a subject to prove that an attested attribute has a value.",
                {200: SUCCESS_REF, 400: BAD_INPUT, 404: UNKNOWN_PEER}, body=VERIFY_BODY)
    def put_verify(self, request: APIRequest) -> Deferred:
        """
        The body is ``{"hash", "value", "schema"}`` (hash and value in base64). The answer comes at once; the
        certainty appears under ``/verifications`` once the subject allowed the verification.
        """
        def verify(channel: CommunicationChannel) -> dict[str, Any]:
            subject = find_peer(channel, request.path.get("subject_key", ""), "subject")
            body = request.body
            attribute_hash = from_b64(body["hash"], "hash")
            value = from_b64(body["value"], "value")
            check_schema(channel, body["schema"])
            verifying = channel.verify(subject, attribute_hash, [value], body["schema"])
            verifying.addErrback(lambda failure: logger.info("Verification of %s ended without a result: %s",
                                                             body["hash"], failure.getErrorMessage()))
            return {"success": True}
        return self.service.channel(request).addCallback(verify)


class OutstandingAttestationsEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/outstanding/attestations``."""

    @api_method("GET", "List the attestation requests others sent to the pseudonym.",
                {200: OUTSTANDING_ATTESTATIONS_SCHEMA, 400: BAD_INPUT})
    def get_outstanding(self, request: APIRequest) -> Deferred:
        """Answer each with ``PUT /attest/{peer}``; the metadata is JSON text, as pyipv8 3.2.1 shows it."""
        return self.service.channel(request).addCallback(lambda channel: {"requests": [
            {"peer": b64(peer.public_key.key_to_bin()), "attribute_name": name, "metadata": metadata}
            for (peer, name), (_, metadata) in list(channel.attestation_requests.items())]})


class OutstandingVerificationsEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/outstanding/verifications``."""

    @api_method("GET", "List the verification requests others sent to the pseudonym.",
                {200: OUTSTANDING_VERIFICATIONS_SCHEMA, 400: BAD_INPUT})
    def get_outstanding(self, request: APIRequest) -> Deferred:
        """Answer each with ``PUT /allow/{peer}`` or ``PUT /disallow/{peer}``."""
        return self.service.channel(request).addCallback(lambda channel: {"requests": [
            {"peer": b64(peer.public_key.key_to_bin()), "attribute_name": name}
            for peer, name in list(channel.verify_requests)]})


class VerificationsEndpoint(_IdentityResource):
    """``/identity/{pseudonym}/verifications``."""

    @api_method("GET", "List the results of the pseudonym's finished verifications.",
                {200: VERIFICATIONS_SCHEMA, 400: BAD_INPUT})
    def get_verifications(self, request: APIRequest) -> Deferred:
        """One entry per verified hash whose result is in: the reference value and the certainty."""
        def answer(channel: CommunicationChannel) -> dict[str, Any]:
            outputs = []
            for attribute_hash, results in list(channel.verification_output.items()):
                if results and results[0][1] is not None:
                    reference, match = results[0]
                    outputs.append({"hash": b64(attribute_hash), "reference": b64(reference), "match": match})
            return {"outputs": outputs}
        return self.service.channel(request).addCallback(answer)


class PseudonymEndpoint(_IdentityResource):
    """``/identity/{pseudonym}``: groups the routes of one pseudonym (it answers nothing itself)."""

    def __init__(self, service: IdentityService) -> None:
        """Create the routes of one pseudonym."""
        super().__init__(service)
        self.add_endpoint("schemas", SchemasEndpoint(service))
        self.add_endpoint("public_key", PublicKeyEndpoint(service))
        self.add_endpoint("unload", UnloadEndpoint(service))
        self.add_endpoint("remove", RemoveEndpoint(service))
        self.add_endpoint("credentials", CredentialsEndpoint(service))
        self.add_endpoint("peers", PeersEndpoint(service))
        for segment, parameter, resource in (("allow", "verifier_key", AllowEndpoint),
                                             ("disallow", "verifier_key", DisallowEndpoint),
                                             ("request", "authority_key", RequestEndpoint),
                                             ("attest", "subject_key", AttestEndpoint),
                                             ("verify", "subject_key", VerifyEndpoint)):
            group = self.add_endpoint(segment, _IdentityResource(service))
            group.add_endpoint(f"{{{parameter}}}", resource(service))
        outstanding = self.add_endpoint("outstanding", _IdentityResource(service))
        outstanding.add_endpoint("attestations", OutstandingAttestationsEndpoint(service))
        outstanding.add_endpoint("verifications", OutstandingVerificationsEndpoint(service))
        self.add_endpoint("verifications", VerificationsEndpoint(service))


class IdentityEndpoint(_IdentityResource):
    """``/identity``: lists the pseudonyms and holds the routes of each."""

    def __init__(self, communication_manager: CommunicationManager | None = None) -> None:
        """Create the tree; ``communication_manager`` is built for the session on first use when omitted."""
        super().__init__(IdentityService())
        self.service.communication_manager = communication_manager
        #: The unloading of our pseudonyms started by the last :meth:`shutdown` (tests wait for it).
        self.stopping: Deferred = succeed(None)
        self.add_endpoint("{pseudonym_name}", PseudonymEndpoint(self.service))

    def set_communication_manager(self, communication_manager: CommunicationManager) -> None:
        """Serve ``communication_manager``'s pseudonyms (its owner shuts it down)."""
        self.service.communication_manager = communication_manager
        self.service.owned = False

    def initialize(self, session: Any) -> None:
        """Remember the session the communication manager will be built for."""
        super().initialize(session)
        self.service.session = session

    def shutdown(self) -> None:
        """Unload the pseudonyms we loaded (their overlays and endpoints stop in the background)."""
        self.stopping = self.service.shutdown()
        super().shutdown()

    def stopped(self) -> Deferred[None]:
        """Fires when our pseudonyms are unloaded (and the children's work has ended)."""
        return DeferredList([self.stopping, super().stopped()], consumeErrors=True).addCallback(lambda _: None)

    @api_method("GET", "List the pseudonyms (every name with a key file).",
                {200: obj(("names",), names=array(string()))})
    def get_pseudonyms(self, request: APIRequest) -> dict[str, Any]:
        """Loaded or not; a pseudonym is created by the first request that names it."""
        return {"names": self.service.manager().list_names()}


__all__ = ["IdentityEndpoint", "IdentityService"]
