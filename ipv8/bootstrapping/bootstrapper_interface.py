"""
The contract between a Community and the things that find its first peers.

A :class:`~ipv8.community.Community` keeps a list of bootstrappers in its ``bootstrappers`` attribute. When
it knows no peer at all it calls, for each of them, :meth:`IBootstrapper.initialize` and then
:meth:`IBootstrapper.get_addresses`, and walks to every address it gets back. Once in a while a Community
that does have peers calls :meth:`IBootstrapper.keep_alive`, so that groups of peers that never met can
still find each other through the bootstrap service.

Rules of thumb for implementations:

* ``__init__`` must not touch the network; all traffic starts in ``initialize``.
* A service that is unreachable is not an error: ``initialize`` answers ``False`` and ``get_addresses``
  answers an empty list. Exceptions are for programming errors (bad arguments, missing dependencies).
* ``initialize`` may be called many times (every bootstrap round); only the first call per overlay
  should do real work.
"""
from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Iterable

from zope.interface import Attribute, Interface, implementer

if TYPE_CHECKING:
    from ..overlay import IPeerDiscovery
    from twisted.internet.defer import Deferred

    from ..types import Address


class IBootstrapper(Interface):
    """Something that can give an overlay its first addresses to walk to."""

    initialized = Attribute("Whether initialize() was called (successfully started or not).")

    def initialize(overlay: IPeerDiscovery) -> Deferred:  # noqa: N805 - zope interface methods have no self
        """
        Start using this bootstrap service for ``overlay``.

        :returns: a Deferred firing True when the service is usable, False when it is not.
        """

    def get_addresses(overlay: IPeerDiscovery, timeout: float) -> Deferred:  # noqa: N805
        """
        Ask for addresses of peers of ``overlay``; give up after ``timeout`` seconds.

        :returns: a Deferred firing with an iterable of addresses (possibly empty).
        """

    def keep_alive(overlay: IPeerDiscovery) -> None:  # noqa: N805
        """Refresh our registration with the bootstrap service (called now and then)."""

    def blacklist() -> Iterable[Address]:
        """Addresses that belong to the bootstrap service and must never count as peers."""

    def unload() -> None:
        """Release every resource (sockets, timers) of this bootstrapper."""


@implementer(IBootstrapper)
class Bootstrapper(abc.ABC):
    """
    Base class for bootstrappers: keeps the ``initialized`` flag and declares the methods to implement.

    Subclasses implement every abstract method; see the module documentation for the expected behaviour.
    """

    def __init__(self) -> None:
        """Create a bootstrapper that has not been initialized yet (and has not sent anything)."""
        self.initialized: bool = False

    @abc.abstractmethod
    def initialize(self, overlay: IPeerDiscovery) -> Deferred:
        """
        Start using this bootstrap service for ``overlay``; must be cheap to call again.

        :returns: a Deferred firing True when the service is usable, False when it is not.
        """

    @abc.abstractmethod
    def get_addresses(self, overlay: IPeerDiscovery, timeout: float) -> Deferred:
        """
        Find addresses of peers of ``overlay`` within ``timeout`` seconds.

        :returns: a Deferred firing with an iterable of addresses; empty when nothing is known (yet).
        """

    @abc.abstractmethod
    def keep_alive(self, overlay: IPeerDiscovery) -> None:
        """Refresh our registration with the bootstrap service."""

    @abc.abstractmethod
    def blacklist(self) -> Iterable[Address]:
        """Addresses of the bootstrap service itself, which overlays must not treat as peers."""

    @abc.abstractmethod
    def unload(self) -> None:
        """Stop all activity and release sockets and timers."""


__all__ = ["Bootstrapper", "IBootstrapper"]
