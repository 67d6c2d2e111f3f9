"""A stand-in for the IPv8 service that hosts one test node: key, endpoint, network and overlay."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import gatherResults, maybeDeferred, succeed

from ...keyvault.crypto import default_eccrypto
from ...messaging.anonymization.endpoint import TunnelEndpoint
from ...peer import Peer
from ...peerdiscovery.network import Network
from .endpoint import AutoMockEndpoint, Internet

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from ...community import Community, CommunitySettings
    from ...overlay import Overlay


class MockTunnelEndpoint(TunnelEndpoint):
    """A :class:`~ipv8.messaging.anonymization.endpoint.TunnelEndpoint` around a new, open AutoMockEndpoint.

    Unlike pyipv8's stand-in of this name, it really tunnels once given a TunnelCommunity
    (``set_tunnel_community``); until then the packets of anonymized communities are dropped and counted.

    :param internet: the in-memory internet to attach to (the module default when omitted).
    """

    def __init__(self, internet: Internet | None = None) -> None:
        """Create and open the mock endpoint, and wrap it."""
        raw = AutoMockEndpoint(internet)
        raw.open()
        super().__init__(raw)


class MockIPv8:
    """
    One test node: an :class:`AutoMockEndpoint`, a :class:`Network`, our :class:`Peer` and an overlay.

    :param crypto_curve_or_peer: a key level for a new key (``"curve25519"``...) or a ready private Peer.
    :param overlay_class: the Community class to instantiate.
    :param settings: settings for the overlay; the node fills in ``my_peer``, ``endpoint`` and ``network``.
    :param create_dht: also run a :class:`~ipv8.dht.discovery.DHTDiscoveryCommunity` on the same endpoint,
        network and key, available as :attr:`dht` and to the overlay as ``settings.dht``.
    :param enable_statistics: wrap the endpoint in a StatisticsEndpoint and count this overlay's messages.
    :param internet: the in-memory internet to attach to (the module default when omitted).
    :param tunnel_endpoint: wrap the endpoint in a :class:`~ipv8.messaging.anonymization.endpoint.TunnelEndpoint`
        (outermost, as the service does for configurations with an ``anonymize`` overlay), so that overlays
        created with ``anonymize=True`` on it send through the circuits of a TunnelCommunity on it.
    """

    def __init__(self, crypto_curve_or_peer: str | Peer, overlay_class: type[Community],
                 settings: CommunitySettings | None = None, create_dht: bool = False,
                 enable_statistics: bool = False, internet: Internet | None = None, tunnel_endpoint: bool = False,
                 **overlay_kwargs: Any) -> None:
        self.raw_endpoint = AutoMockEndpoint(internet)
        self.raw_endpoint.open()
        self.endpoint: Any = self.raw_endpoint
        statistics: Any = None
        if enable_statistics:
            from ...messaging.interfaces.statistics_endpoint import StatisticsEndpoint
            self.endpoint = statistics = StatisticsEndpoint(self.raw_endpoint)
        if tunnel_endpoint:
            self.endpoint = TunnelEndpoint(self.endpoint)

        self.network = Network()
        if isinstance(crypto_curve_or_peer, Peer):
            self.my_peer = crypto_curve_or_peer
            self.my_peer.address = self.raw_endpoint.wan_address
        else:
            self.my_peer = Peer(default_eccrypto.generate_key(crypto_curve_or_peer), self.raw_endpoint.wan_address)

        node_settings = overlay_class.settings_class(my_peer=self.my_peer, endpoint=self.endpoint,
                                                     network=self.network, **overlay_kwargs)
        if settings is not None:
            # The caller's settings win, except for the three things only the node can provide.
            for name, value in vars(node_settings).items():
                setattr(settings, name, value)
            node_settings = settings
        #: The node's DHT community when created with ``create_dht``, else None.
        self.dht: Any = None
        if create_dht:
            from ...dht.discovery import DHTDiscoveryCommunity
            dht_settings = DHTDiscoveryCommunity.settings_class(my_peer=self.my_peer, endpoint=self.endpoint,
                                                                network=self.network,
                                                                clock=getattr(node_settings, "clock", None))
            self.dht = DHTDiscoveryCommunity(dht_settings)
            self.dht.my_estimated_wan = self.raw_endpoint.wan_address
            self.dht.my_estimated_lan = self.raw_endpoint.lan_address
            node_settings.dht = self.dht
        self.overlay = overlay_class(node_settings)
        self.overlay.my_estimated_wan = self.raw_endpoint.wan_address
        self.overlay.my_estimated_lan = self.raw_endpoint.lan_address
        self.overlays: list[Overlay] = [self.overlay] if self.dht is None else [self.dht, self.overlay]
        self.strategies: list[tuple[Overlay, Any, int]] = []
        if enable_statistics:
            statistics.enable_community_statistics(self.overlay.get_prefix(), True)

    def add_strategy(self, overlay: Overlay, strategy: Any, target_peers: int) -> None:
        """Remember a discovery strategy; tests drive it with :meth:`walk`."""
        self.strategies.append((overlay, strategy, target_peers))

    def walk(self) -> None:
        """Give every strategy whose overlay still wants peers one step."""
        for overlay, strategy, target_peers in self.strategies:
            if target_peers == -1 or len(overlay.get_peers()) < target_peers:
                strategy.take_step()

    def get_overlay(self, overlay_cls: type) -> Overlay | None:
        """The first loaded overlay that is an instance of ``overlay_cls``."""
        return next(self.get_overlays(overlay_cls), None)

    def get_overlays(self, overlay_cls: type) -> Any:
        """All loaded overlays that are instances of ``overlay_cls``."""
        return (overlay for overlay in self.overlays if isinstance(overlay, overlay_cls))

    def unload_overlay(self, instance: Overlay) -> Deferred:
        """Unload one overlay and forget its strategies."""
        self.overlays = [overlay for overlay in self.overlays if overlay is not instance]
        self.strategies = [entry for entry in self.strategies if entry[0] is not instance]
        return maybeDeferred(instance.unload)

    def produce_anonymized_endpoint(self) -> Deferred:
        """A Deferred firing with a :class:`MockTunnelEndpoint` on this node's internet (pyipv8's method)."""
        return succeed(MockTunnelEndpoint(self.raw_endpoint.internet))

    def stop(self) -> Deferred:
        """Unload every overlay and close the endpoint."""
        unloads = [maybeDeferred(overlay.unload) for overlay in self.overlays]
        self.overlays = []
        self.strategies = []

        def close(result: Any) -> Any:
            self.raw_endpoint.internet.unregister(self.raw_endpoint)
            self.raw_endpoint.close()
            return result  # an unload failure still reaches the caller, after the endpoint is closed
        return gatherResults(unloads, consumeErrors=True).addBoth(close)
