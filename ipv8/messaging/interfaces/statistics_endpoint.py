"""An endpoint wrapper that keeps per-community, per-message-id traffic statistics.

Wrap the real endpoint, hand the wrapper to the communities, and switch statistics on for the
community prefixes of interest::

    stats_endpoint = StatisticsEndpoint(udp_endpoint)
    stats_endpoint.enable_community_statistics(community.get_prefix(), True)

Outgoing packets are counted in :meth:`StatisticsEndpoint.send`; incoming ones are seen because the
wrapper registers itself as a listener on the wrapped endpoint. A packet is attributed to its first
22 bytes (the community prefix) and to byte 22 (the message id). Everything that is not about
statistics is passed through to the wrapped endpoint.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from zope.interface import implementer

from ...util import get_reactor
from .endpoint import (
    DEFAULT_PREFIX_LENGTH,
    Endpoint,
    EndpointListener,
    IEndpoint,
    IEndpointListener,
)
from .network_stats import NetworkStat

if TYPE_CHECKING:
    from .endpoint import IEndpointListener
    from twisted.internet.interfaces import IReactorTime

    from ...types import Address
    from .endpoint import Packet


def _forwarded(name: str, doc: str) -> property:
    return property(lambda self: getattr(self.endpoint, name), doc=doc)


@implementer(IEndpoint, IEndpointListener)
class StatisticsEndpoint(EndpointListener, Endpoint):
    """Decorates an endpoint with per-prefix, per-message-id statistics (see :class:`NetworkStat`)."""

    #: Message ids of the introduction request/response, old style (246/245) and new style (234/233).
    IDS_INTRODUCTION = frozenset({233, 234, 245, 246})
    #: Message ids of the puncture request and puncture, old style (250/249) and new style (232/231).
    IDS_PUNCTURE = frozenset({231, 232, 249, 250})
    #: Message ids reserved for the old Dispersy messages.
    IDS_DEPRECATED = frozenset({*range(235, 245), 247, 248, *range(251, 256)})

    def __init__(self, endpoint: Endpoint, clock: IReactorTime | None = None) -> None:
        """
        Wrap ``endpoint`` and start listening to it.

        :param endpoint: the endpoint that really sends and receives.
        :param clock: the clock of the measurement timestamps; the global reactor by default.
        """
        Endpoint.__init__(self, getattr(endpoint, "prefixlen", DEFAULT_PREFIX_LENGTH))
        EndpointListener.__init__(self, endpoint)
        self._clock = clock
        #: prefix -> message id -> figures, only for prefixes with statistics enabled.
        self.statistics: dict[bytes, dict[int, NetworkStat]] = {}
        endpoint.add_listener(self)

    def _now(self) -> float:
        return (self._clock if self._clock is not None else get_reactor()).seconds()

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        """Anything this wrapper does not define is looked up on the wrapped endpoint."""
        wrapped = self.__dict__.get("endpoint")
        # Dunder lookups (zope's __provides__, copy/pickle hooks) must describe the wrapper itself.
        if wrapped is None or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        return getattr(wrapped, name)

    # -- switching statistics on and off -----------------------------------------------------------

    def enable_community_statistics(self, community_prefix: bytes, enabled: bool) -> None:
        """Start (``enabled=True``) or stop and forget (``False``) the statistics of one community prefix."""
        if enabled:
            self.statistics.setdefault(community_prefix, {})
        else:
            self.statistics.pop(community_prefix, None)

    # -- measuring ---------------------------------------------------------------------------------

    def send(self, socket_address: Address, packet: bytes) -> None:
        """Send through the wrapped endpoint, counting the packet if its prefix is tracked."""
        self.endpoint.send(socket_address, packet)
        tracked = self._tracked_message(packet)
        if tracked is not None:
            self.add_sent_stat(tracked[0], tracked[1], len(packet))

    def on_packet(self, packet: Packet) -> None:
        """Count a packet received by the wrapped endpoint if its prefix is tracked."""
        data = packet[1]
        tracked = self._tracked_message(data)
        if tracked is not None:
            self.add_received_stat(tracked[0], tracked[1], len(data))

    def _tracked_message(self, data: bytes) -> tuple[bytes, int] | None:
        if len(data) <= self.prefixlen:
            return None  # no message id byte
        prefix = bytes(data[:self.prefixlen])
        if prefix not in self.statistics:
            return None
        return prefix, data[self.prefixlen]

    def _stat(self, prefix: bytes, identifier: int) -> NetworkStat:
        per_id = self.statistics.setdefault(prefix, {})
        if identifier not in per_id:
            per_id[identifier] = NetworkStat(identifier)
        return per_id[identifier]

    def add_sent_stat(self, prefix: bytes, identifier: int, num_bytes: int, timestamp: float | None = None) -> None:
        """Record a sent message by hand (also enables statistics for ``prefix``)."""
        when = self._now() if timestamp is None else timestamp
        self._stat(prefix, identifier).add_sent_stat(when, num_bytes)

    def add_received_stat(self, prefix: bytes, identifier: int, num_bytes: int,
                          timestamp: float | None = None) -> None:
        """Record a received message by hand (also enables statistics for ``prefix``)."""
        when = self._now() if timestamp is None else timestamp
        self._stat(prefix, identifier).add_received_stat(when, num_bytes)

    # -- reading -----------------------------------------------------------------------------------

    def get_statistics(self, prefix: bytes) -> dict[int, NetworkStat]:
        """The figures per message id for ``prefix`` (empty if the prefix is not tracked)."""
        return self.statistics.get(prefix, {})

    def get_aggregate_statistics(self, prefix: bytes) -> dict[str, int | float]:
        """
        The totals over all message ids of ``prefix``.

        Keys: ``num_up``, ``num_down``, ``bytes_up``, ``bytes_down`` and ``diff_time``, the seconds
        between the first and the last measurement in either direction (0 without measurements).
        """
        stats = self.get_statistics(prefix).values()
        moments = [moment for stat in stats
                   for moment in (stat.first_measured_up, stat.first_measured_down,
                                  stat.last_measured_up, stat.last_measured_down) if moment]
        return {
            "num_up": sum(stat.num_up for stat in stats),
            "num_down": sum(stat.num_down for stat in stats),
            "bytes_up": sum(stat.bytes_up for stat in stats),
            "bytes_down": sum(stat.bytes_down for stat in stats),
            "diff_time": (max(moments) - min(moments)) if moments else 0.0,
        }

    def is_excluded(self, identifier: int, include_introduction: bool, include_puncture: bool,
                    include_deprecated: bool) -> bool:
        """Whether message id ``identifier`` falls in a framework category the caller left out."""
        return ((not include_introduction and identifier in self.IDS_INTRODUCTION)
                or (not include_puncture and identifier in self.IDS_PUNCTURE)
                or (not include_deprecated and identifier in self.IDS_DEPRECATED))

    def _total(self, prefix: bytes, field: str, filters: tuple[bool, bool, bool]) -> int:
        return sum(getattr(stat, field) for identifier, stat in self.get_statistics(prefix).items()
                   if not self.is_excluded(identifier, *filters))

    def get_message_sent(self, prefix: bytes, include_introduction: bool = False, include_puncture: bool = False,
                         include_deprecated: bool = False) -> int:
        """Messages sent for ``prefix``; framework messages only when their ``include_*`` flag is set."""
        return self._total(prefix, "num_up", (include_introduction, include_puncture, include_deprecated))

    def get_message_received(self, prefix: bytes, include_introduction: bool = False,
                             include_puncture: bool = False, include_deprecated: bool = False) -> int:
        """Messages received for ``prefix``; framework messages only when their ``include_*`` flag is set."""
        return self._total(prefix, "num_down", (include_introduction, include_puncture, include_deprecated))

    def get_bytes_sent(self, prefix: bytes, include_introduction: bool = False, include_puncture: bool = False,
                       include_deprecated: bool = False) -> int:
        """Bytes sent for ``prefix``; framework messages only when their ``include_*`` flag is set."""
        return self._total(prefix, "bytes_up", (include_introduction, include_puncture, include_deprecated))

    def get_bytes_received(self, prefix: bytes, include_introduction: bool = False, include_puncture: bool = False,
                           include_deprecated: bool = False) -> int:
        """Bytes received for ``prefix``; framework messages only when their ``include_*`` flag is set."""
        return self._total(prefix, "bytes_down", (include_introduction, include_puncture, include_deprecated))

    # -- plain delegation to the wrapped endpoint --------------------------------------------------

    def add_listener(self, listener: IEndpointListener) -> None:
        """Register ``listener`` on the wrapped endpoint."""
        self.endpoint.add_listener(listener)

    def add_prefix_listener(self, listener: IEndpointListener, prefix: bytes) -> None:
        """Register ``listener`` for ``prefix`` on the wrapped endpoint."""
        self.endpoint.add_prefix_listener(listener, prefix)

    def remove_listener(self, listener: IEndpointListener) -> None:
        """Unregister ``listener`` from the wrapped endpoint."""
        self.endpoint.remove_listener(listener)

    def notify_listeners(self, packet: Packet) -> None:
        """Inject ``packet`` into the wrapped endpoint's listeners (which include this wrapper)."""
        self.endpoint.notify_listeners(packet)

    @property
    def listeners(self) -> tuple[Any, ...]:
        """The wrapped endpoint's generic listeners."""
        return self.endpoint.listeners

    def assert_open(self) -> None:
        """Raise EndpointClosedException unless the wrapped endpoint is open."""
        self.endpoint.assert_open()

    def is_open(self) -> bool:
        """Whether the wrapped endpoint is open."""
        return self.endpoint.is_open()

    def get_address(self) -> Address:
        """The wrapped endpoint's bound address."""
        return self.endpoint.get_address()

    def open(self) -> Deferred:
        """Open the wrapped endpoint."""
        return self.endpoint.open()

    def close(self) -> Deferred:
        """Close the wrapped endpoint."""
        return self.endpoint.close()

    def reset_byte_counters(self) -> None:
        """Reset the wrapped endpoint's counters (the statistics are kept)."""
        self.endpoint.reset_byte_counters()

    bytes_up = _forwarded("bytes_up", "Bytes sent by the wrapped endpoint.")
    bytes_down = _forwarded("bytes_down", "Bytes received by the wrapped endpoint.")
    packets_sent = _forwarded("packets_sent", "Datagrams sent by the wrapped endpoint.")
    packets_received = _forwarded("packets_received", "Datagrams received by the wrapped endpoint.")
    packets_dropped = _forwarded("packets_dropped", "Datagrams dropped by the wrapped endpoint.")
    drops = _forwarded("drops", "Drops per reason of the wrapped endpoint.")


__all__ = ["StatisticsEndpoint"]
