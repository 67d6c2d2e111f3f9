"""The overlay abstraction: something that owns a prefix on an endpoint and talks to peers.

:class:`Overlay` is the minimal base (settings, serializer, Lamport clock, task management); the
:class:`~ipv8.community.Community` builds the IPv8 peer-discovery protocol on top of it.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from zope.interface import Attribute, Interface, implementer

from .keyvault.crypto import default_eccrypto
from .messaging.interfaces.endpoint import EndpointListener
from .messaging.serialization import Serializer
from .taskmanager import TaskManager

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from .messaging.interfaces.endpoint import Endpoint
    from .peer import Peer
    from .peerdiscovery.network import Network
    from .types import Address


class IOverlay(Interface):
    """A network overlay: a set of peers sharing a community prefix on an endpoint."""

    community_id = Attribute("The 20-byte identifier of this overlay.")
    my_peer = Attribute("Our own Peer, holding the private key.")
    endpoint = Attribute("The endpoint this overlay sends and receives on.")
    network = Attribute("The Network (peer graph) this overlay shares with others.")

    def on_packet(packet: tuple[Address, bytes]) -> None:
        """Handle a packet ``(source_address, data)`` from the endpoint."""

    def get_available_strategies() -> dict[str, type]:
        """Discovery strategies this overlay offers by name to the configuration loader."""

    def unload() -> Any:
        """Stop all activity; returns a Deferred that fires when done."""


class IPeerDiscovery(IOverlay):
    """An overlay that finds its own peers (every :class:`~ipv8.community.Community` does)."""

    def get_peers() -> list[Peer]:
        """The verified peers of this overlay."""

    def get_walkable_addresses() -> list[Address]:
        """Addresses we were told about but have not verified yet."""

    def walk_to(address: Address) -> None:
        """Contact ``address`` (and puncture our NAT towards it)."""

    def get_new_introduction(from_peer: Peer | None = None) -> None:
        """Ask a peer (random when omitted) to introduce us to someone new."""

    def bootstrap() -> None:
        """Ask the bootstrappers for initial addresses."""

    def get_peer_for_introduction(exclude: Peer | None = None) -> Peer | None:  # noqa: N805
        """A peer we could introduce to someone (other than ``exclude``), or None."""


class Settings:
    """
    Plain settings object for overlays.

    Class attributes are the defaults; keyword arguments given to the constructor override them, so
    subclasses declare their own options simply as annotated class attributes.
    """

    community_id: bytes
    my_peer: Peer
    endpoint: Endpoint
    network: Network
    #: The clock of everything the overlay times (its tasks, expiry, round trips); ``None``: the global
    #: reactor. Tests pass a :class:`twisted.internet.task.Clock`.
    clock: IReactorTime | None = None

    def __init__(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in sorted(vars(self).items()))
        return f"{self.__class__.__name__}({fields})"


SettingsClass = TypeVar("SettingsClass", bound=Settings)


@implementer(IOverlay)
class Overlay(EndpointListener, TaskManager, Generic[SettingsClass]):
    """Base class for overlays: wiring to the endpoint, a serializer and the Lamport clock."""

    settings_class: ClassVar[type[Settings]] = Settings

    def __init__(self, settings: SettingsClass) -> None:
        EndpointListener.__init__(self, settings.endpoint)
        TaskManager.__init__(self, getattr(settings, "clock", None))
        self.settings = settings
        self.serializer = self.get_serializer()
        self.crypto = default_eccrypto
        self.community_id = settings.community_id
        self.my_peer = settings.my_peer
        self.network = settings.network
        self.logger = logging.getLogger(self.__class__.__name__)
        self._register_with_endpoint()

    def _register_with_endpoint(self) -> None:
        self.endpoint.add_listener(self)

    def _unregister_from_endpoint(self) -> None:
        self.endpoint.remove_listener(self)

    def unload(self) -> Any:
        """Stop receiving packets and cancel all tasks; returns a Deferred."""
        self._unregister_from_endpoint()
        return self.shutdown_task_manager()

    def get_serializer(self) -> Serializer:
        """
        The serializer of this overlay instance.

        Override this to add custom packers: every instance gets its own sandboxed Serializer.
        """
        return Serializer()

    def on_packet(self, packet: tuple[Address, bytes]) -> None:
        """Handle a raw packet; subclasses must implement this."""
        raise NotImplementedError

    # Lamport clock ------------------------------------------------------------------------------

    @property
    def global_time(self) -> int:
        """Our Lamport clock for this identity."""
        return self.my_peer.get_lamport_timestamp()

    def claim_global_time(self) -> int:
        """Advance the Lamport clock by one and return the new value."""
        self.update_global_time(self.global_time + 1)
        return self.global_time

    def update_global_time(self, global_time: int) -> None:
        """Move the Lamport clock forward to ``global_time`` if that is later than ours."""
        if global_time > self.global_time:
            self.my_peer.update_clock(global_time)

    # Peer discovery is not part of the base overlay: see IPeerDiscovery, which Community provides.

    def get_available_strategies(self) -> dict[str, type]:
        """Discovery strategies this overlay offers by name to the configuration loader."""
        return {}
