"""
The interface every identity (attestation) algorithm implements, and the base class of attestations.

An algorithm is selected by the name of an identity format (see ``default_identity_formats.FORMATS``); it
knows how to make keys, attest to a value, challenge the owner of an attestation and turn the answers into a
certainty that the attestation holds a given value.
"""
from __future__ import annotations

import abc
import hashlib
from typing import Any, Generic, TypeVar

__all__ = ["Attestation", "IdentityAlgorithm"]


class Attestation(metaclass=abc.ABCMeta):
    """A serializable attestation of a value for the holder of a public key (with ``id_format`` and ``PK``)."""

    id_format: str | None
    PK: Any

    @abc.abstractmethod
    def serialize(self) -> bytes:
        """The public form, as sent to verifiers."""

    @abc.abstractmethod
    def serialize_private(self, PK: Any) -> bytes:  # noqa: N803
        """The form kept by the owner, which may include secrets encrypted for ``PK``."""

    @classmethod
    def unserialize(cls, s: bytes, id_format: str) -> Attestation:
        """Read the public form."""
        raise NotImplementedError

    @classmethod
    def unserialize_private(cls, SK: Any, s: bytes, id_format: str) -> Attestation:  # noqa: N803
        """Read the owner's form, decrypting its secrets with ``SK``."""
        raise NotImplementedError

    def get_hash(self) -> bytes:
        """The SHA-1 digest of the public form: the attestation's identifier on the wire."""
        return hashlib.sha1(self.serialize()).digest()  # noqa: S324 - protocol-defined identifier


AT = TypeVar("AT", bound=Attestation)


class IdentityAlgorithm(Generic[AT], metaclass=abc.ABCMeta):
    """
    An attestation scheme bound to one identity format.

    :param id_format: the format name, which must be a key of ``formats``.
    :param formats: the table of known formats (name to parameters).
    """

    def __init__(self, id_format: str, formats: dict[str, dict[str, Any]]) -> None:
        """Bind to ``id_format``; raises RuntimeError if the table does not know it."""
        self.id_format = id_format
        # Whether the verifier should mix known-answer challenges into a verification.
        self.honesty_check = False
        if id_format not in formats:
            msg = f"Unknown identity format {id_format!r}"
            raise RuntimeError(msg)

    @abc.abstractmethod
    def generate_secret_key(self) -> Any:
        """Create a fresh secret key (slow: run it off the reactor thread)."""

    @abc.abstractmethod
    def load_secret_key(self, serialized: bytes) -> Any:
        """Read a serialized secret key (``None`` if malformed)."""

    @abc.abstractmethod
    def load_public_key(self, serialized: bytes) -> Any:
        """Read a serialized public key (``None`` if malformed)."""

    @abc.abstractmethod
    def get_attestation_class(self) -> type[AT]:
        """The :class:`Attestation` subclass this algorithm produces."""

    @abc.abstractmethod
    def attest(self, PK: Any, value: bytes) -> bytes:  # noqa: N803
        """Attest ``value`` for the holder of ``PK``; returns the owner's (private) serialized attestation."""

    @abc.abstractmethod
    def certainty(self, value: bytes, aggregate: dict) -> float:
        """How sure (0.0 to 1.0) the collected answers in ``aggregate`` make us that the value is ``value``."""

    @abc.abstractmethod
    def create_challenges(self, PK: Any, attestation: AT) -> list[bytes]:  # noqa: N803
        """The challenges a verifier sends to the owner of ``attestation``."""

    @abc.abstractmethod
    def create_challenge_response(self, SK: Any, attestation: AT, challenge: bytes) -> bytes:  # noqa: N803
        """The owner's answer to one challenge."""

    @abc.abstractmethod
    def create_certainty_aggregate(self, attestation: AT | None) -> dict:
        """A fresh aggregate in which a verifier collects answers."""

    @abc.abstractmethod
    def create_honesty_challenge(self, PK: Any, value: int) -> bytes:  # noqa: N803
        """A challenge whose correct answer is the known ``value``."""

    @abc.abstractmethod
    def process_honesty_challenge(self, value: int, response: bytes) -> bool:
        """Whether ``response`` is the correct answer to an honesty challenge for ``value``."""

    @abc.abstractmethod
    def process_challenge_response(self, aggregate: dict, challenge: bytes, response: bytes) -> dict:
        """Fold one answer into ``aggregate`` and return it."""

    @abc.abstractmethod
    def import_blob(self, blob: bytes) -> tuple[bytes, Any]:
        """Import an attestation and secret key from an external blob, where the scheme supports it."""
