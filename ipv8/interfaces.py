"""Every zope interface of txipv8 in one place, for readers and for ``verifyObject`` in tests.

The interfaces are defined next to the code that implements them; this module only gathers them:

* overlays: :class:`IOverlay` (any overlay) and :class:`IPeerDiscovery` (an overlay that finds its own peers,
  as every :class:`~ipv8.community.Community` does);
* endpoints: :class:`IEndpoint`, and the optional capabilities :class:`IMultiInterfaceEndpoint` (one child
  endpoint per address family) and :class:`IAnonymizingEndpoint` (traffic through anonymous circuits);
  :class:`IEndpointListener` for what endpoints deliver to;
* discovery: :class:`IDiscoveryStrategy`, :class:`IBootstrapper` and :class:`IPeerObserver`.

Code that needs an optional capability asks ``ICapability.providedBy(obj)`` rather than probing for attributes.
"""
from __future__ import annotations

from .bootstrapping.bootstrapper_interface import IBootstrapper
from .messaging.interfaces.endpoint import (
                                            IAnonymizingEndpoint,
                                            IEndpoint,
                                            IEndpointListener,
                                            IMultiInterfaceEndpoint,
)
from .overlay import IOverlay, IPeerDiscovery
from .peerdiscovery.discovery import IDiscoveryStrategy
from .peerdiscovery.network import IPeerObserver

__all__ = ["IAnonymizingEndpoint", "IBootstrapper", "IDiscoveryStrategy", "IEndpoint", "IEndpointListener",
           "IMultiInterfaceEndpoint", "IOverlay", "IPeerDiscovery", "IPeerObserver"]
