"""The root of the REST resource tree and the place to plug in more resources."""
from __future__ import annotations

from .asyncio_endpoint import AsyncioEndpoint
from .base_endpoint import BaseEndpoint
from .dht_endpoint import DHTEndpoint, DHTOperations, NoBlockDHTEndpoint
from .docs_endpoint import DocsEndpoint
from .health_endpoint import DropsEndpoint, PeersDebugEndpoint
from .identity_endpoint import IdentityEndpoint
from .isolation_endpoint import IsolationEndpoint
from .network_endpoint import NetworkEndpoint
from .openapi import iter_operations
from .overlays_endpoint import OverlaysEndpoint
from .reactor_endpoint import ReactorEndpoint, ReactorLagProbe
from .tunnel_endpoint import TunnelEndpoint
from .ui_endpoint import UIEndpoint


class RootEndpoint(BaseEndpoint):
    """
    ``/``: holds ``/network``, ``/overlays``, ``/isolation``, ``/dht``, ``/noblockdht``, ``/asyncio``,
    ``/tunnel``, ``/identity``, ``/trustchain``, ``/debug/reactor``, ``/debug/drops``, ``/debug/peers``,
    ``/docs`` and ``/ui``.

    Subsystems add their own resources with :meth:`register_endpoint`.

    :param lag_probe: the probe behind ``/debug/reactor``; one on the global reactor when omitted.
    """

    def __init__(self, lag_probe: ReactorLagProbe | None = None) -> None:
        """Build the standard tree; see the class documentation."""
        super().__init__()
        self.add_endpoint("network", NetworkEndpoint())
        self.add_endpoint("overlays", OverlaysEndpoint())
        self.add_endpoint("isolation", IsolationEndpoint())
        dht_operations = DHTOperations()  # one cap on DHT work for both resources
        self.add_endpoint("dht", DHTEndpoint(dht_operations))
        self.add_endpoint("noblockdht", NoBlockDHTEndpoint(dht_operations))
        self.add_endpoint("tunnel", TunnelEndpoint())
        # Pseudonyms and attestations; the CommunicationManager is built on the first /identity request.
        self.add_endpoint("identity", IdentityEndpoint())
        # TrustChain (the 1.x routes, which pyipv8 3.x no longer has): 404 until a TrustChainCommunity is loaded.
        from ..attestation.trustchain.rest import TrustChainEndpoint
        self.add_endpoint("trustchain", TrustChainEndpoint())
        reactor_endpoint = ReactorEndpoint(lag_probe)
        self.register_endpoint("debug/reactor", reactor_endpoint)
        self.register_endpoint("debug/drops", DropsEndpoint())
        self.register_endpoint("debug/peers", PeersDebugEndpoint())
        self.add_endpoint("asyncio", AsyncioEndpoint(reactor_endpoint.reactor))
        self.add_endpoint("docs", DocsEndpoint(self))
        self.add_endpoint("ui", UIEndpoint())  # the dashboard (static files, no API key needed)

    def register_endpoint(self, path: str, endpoint: BaseEndpoint) -> BaseEndpoint:
        """
        Make ``endpoint`` answer at ``path`` (for example ``"dht"`` or ``"dht/values/{key}"``) and return it.

        Missing intermediate segments are created as empty grouping resources (which answer 404 themselves).
        A ``{name}`` segment matches any value; handlers below it read ``request.path[name]``.

        :raises TypeError: if ``endpoint`` is not a :class:`BaseEndpoint`.
        :raises ValueError: if ``path`` is empty, is under ``/docs``, or its last segment is taken.
        """
        segments = path.strip("/").split("/")
        if not path.strip("/") or "" in segments:
            raise ValueError(f"{path!r} is not a path like 'name' or 'name/sub'")
        if segments[0] == "docs" and self.child_endpoint("docs") is not None:
            raise ValueError("/docs is reserved for the generated documentation")
        parent: BaseEndpoint = self
        for segment in segments[:-1]:
            child = parent.child_endpoint(segment)
            # A bare BaseEndpoint declares no operations: it only groups its children.
            parent = child if child is not None else parent.add_endpoint(segment, BaseEndpoint())
        return parent.add_endpoint(segments[-1], endpoint)


def describe_tree(root: BaseEndpoint) -> list[str]:
    """``"METHOD /path"`` for every operation under ``root`` (handy in logs and tests)."""
    return [f"{method} {path}" for path, method, _ in iter_operations(root)]


__all__ = ["RootEndpoint", "describe_tree"]
