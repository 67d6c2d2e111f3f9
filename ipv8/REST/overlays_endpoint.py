"""``/overlays`` and ``/overlays/statistics``: the loaded communities and their traffic figures."""
from __future__ import annotations

from binascii import hexlify
from typing import Any, Iterator

from ..community import Community
from ..messaging.interfaces.statistics_endpoint import StatisticsEndpoint
from .base_endpoint import APIRequest, BadRequest, BaseEndpoint, NotFound, PreconditionFailed, api_method
from .schema import ERROR_REF, SUCCESS_REF, array, boolean, integer, mapping, number, obj, string

#: How far :func:`find_statistics_endpoint` follows ``.endpoint`` through wrapping endpoints.
_MAX_WRAPPING_DEPTH = 4

ADDRESS_SCHEMA = obj(("ip", "port"), ip=string(), port=integer())
AGGREGATE_SCHEMA = obj(num_up=integer(), num_down=integer(), bytes_up=integer(), bytes_down=integer(),
                       diff_time=number(),
                       description="Totals over all message types: zeros while statistics are off for the "
                                   "community, empty when the service keeps no statistics.")
NETWORK_STAT_SCHEMA = obj(
    identifier=integer(), num_up=integer(), num_down=integer(), bytes_up=integer(), bytes_down=integer(),
    first_measured_up=number(), first_measured_down=number(), last_measured_up=number(),
    last_measured_down=number())
OVERLAY_SCHEMA = obj(
    ("id", "my_peer", "global_time", "peers", "overlay_name", "statistics", "max_peers", "is_isolated",
     "my_estimated_wan", "my_estimated_lan", "strategies"),
    id=string("Community id (hex)."),
    my_peer=string("Our public key in this overlay (hex)."),
    global_time=integer("Our Lamport clock."),
    peers=array(obj(("ip", "port", "public_key"), ip=string(), port=integer(), public_key=string("hex"))),
    overlay_name=string("Class name of the overlay."),
    statistics=AGGREGATE_SCHEMA,
    max_peers=integer("Peer limit (-1: none)."),
    is_isolated=boolean("Whether the overlay keeps its own peer graph instead of the service's."),
    my_estimated_wan=ADDRESS_SCHEMA,
    my_estimated_lan=ADDRESS_SCHEMA,
    strategies=array(obj(("name", "target_peers"), name=string(), target_peers=integer())),
)
STATISTICS_BODY = obj(
    ("enable",),
    enable=boolean("Switch statistics on (true) or off and forget them (false)."),
    all=boolean("Apply to every loaded overlay."),
    overlay_name=string("Apply to the overlays of this class name."),
)


def find_statistics_endpoint(endpoint: Any) -> StatisticsEndpoint | None:  # noqa: ANN401
    """The :class:`StatisticsEndpoint` that is ``endpoint`` or that it wraps, if any."""
    for _ in range(_MAX_WRAPPING_DEPTH):
        if isinstance(endpoint, StatisticsEndpoint):
            return endpoint
        endpoint = getattr(endpoint, "endpoint", None)
        if endpoint is None:
            break
    return None


def iter_communities(session: Any) -> Iterator[Community]:  # noqa: ANN401
    """The loaded overlays of ``session`` that are communities (the others have no id or peers)."""
    for overlay in list(session.overlays):
        if isinstance(overlay, Community):
            yield overlay


def iter_strategies(session: Any) -> Iterator[tuple[Any, Any, int]]:  # noqa: ANN401
    """``(overlay, strategy, target_peers)`` for every strategy of ``session``.

    The IPv8 service stores ``(strategy, target_peers)`` (the overlay is ``strategy.overlay``); the test
    framework's MockIPv8 stores ``(overlay, strategy, target_peers)``. Both are understood.
    """
    for entry in list(getattr(session, "strategies", ())):
        if len(entry) == 3:
            yield entry[0], entry[1], entry[2]
        else:
            yield getattr(entry[0], "overlay", None), entry[0], entry[1]


def _address(address: Any) -> dict[str, Any]:  # noqa: ANN401
    if not address:
        return {"ip": "0.0.0.0", "port": 0}
    return {"ip": address[0], "port": address[1]}


def _hex(data: bytes) -> str:
    return hexlify(data).decode("ascii")


def _handler_name(handler: Any) -> str:  # noqa: ANN401
    if handler is None:
        return "unknown"
    return getattr(handler, "__name__", type(handler).__name__)


class OverlayStatisticsEndpoint(BaseEndpoint):
    """Per-message statistics of the communities, kept by a :class:`StatisticsEndpoint`."""

    tags = ("Overlays",)

    def _statistics(self) -> StatisticsEndpoint | None:
        return find_statistics_endpoint(self.session.endpoint)

    @api_method("GET", "Traffic per message type of every community with statistics enabled.",
                {200: obj(("statistics",), statistics=array(mapping(mapping(NETWORK_STAT_SCHEMA)),
                                                            "One {overlay name: {'<id>:<handler>': figures}} "
                                                            "per community; empty without statistics."))})
    def get_statistics(self, request: APIRequest) -> dict[str, Any]:
        """
        Message types are named ``"<message id>:<handler name>"``. The list is empty when the service's
        endpoint keeps no statistics.
        """
        statistics = self._statistics()
        if statistics is None:
            return {"statistics": []}
        result = []
        for overlay in iter_communities(self.session):
            per_message = {}
            for msg_id, figures in sorted(statistics.get_statistics(overlay.get_prefix()).items()):
                handler = overlay.decode_map[msg_id] if 0 <= msg_id < len(overlay.decode_map) else None
                per_message[f"{msg_id}:{_handler_name(handler)}"] = figures.to_dict()
            result.append({type(overlay).__name__: per_message})
        return {"statistics": result}

    @api_method("POST", "Switch statistics on or off for all communities or for those of one class.",
                {200: SUCCESS_REF,
                 404: ("No loaded community has the given class name.", ERROR_REF),
                 412: ("The service's endpoint keeps no statistics.", ERROR_REF)},
                body=STATISTICS_BODY)
    def set_statistics(self, request: APIRequest) -> dict[str, Any]:
        """
        The body names the targets with ``"all": true`` or ``"overlay_name": "<class name>"``. Switching
        statistics off also forgets the figures gathered so far.
        """
        statistics = self._statistics()
        if statistics is None:
            raise PreconditionFailed("the service's endpoint keeps no statistics (it is not a StatisticsEndpoint)",
                                     code="StatisticsDisabled")
        body = request.body
        if body.get("all"):
            targets = list(iter_communities(self.session))
        elif "overlay_name" in body:
            targets = [overlay for overlay in iter_communities(self.session)
                       if type(overlay).__name__ == body["overlay_name"]]
            if not targets:
                raise NotFound(f"no loaded community is called {body['overlay_name']!r}")
        else:
            raise BadRequest('the body needs "all": true or an "overlay_name"')
        for overlay in targets:
            statistics.enable_community_statistics(overlay.get_prefix(), body["enable"])
        return {"success": True}


class OverlaysEndpoint(BaseEndpoint):
    """The loaded communities: identity, peers, addresses, strategies and traffic totals."""

    tags = ("Overlays",)

    def __init__(self) -> None:
        """Create the resource with its ``statistics`` child."""
        super().__init__()
        self.add_endpoint("statistics", OverlayStatisticsEndpoint())

    @api_method("GET", "Describe every loaded community.",
                {200: obj(("overlays",), overlays=array(OVERLAY_SCHEMA))})
    def get_overlays(self, request: APIRequest) -> dict[str, Any]:
        """
        ``statistics`` holds the traffic totals of the community (all zero while its statistics are off); it is
        empty when the service's endpoint keeps no statistics at all.
        """
        session = self.session
        statistics = find_statistics_endpoint(session.endpoint)
        strategies = list(iter_strategies(session))
        return {"overlays": [self._describe(overlay, statistics, strategies) for overlay in iter_communities(session)]}

    def _describe(self, overlay: Community, statistics: StatisticsEndpoint | None,
                  strategies: list[tuple[Any, Any, int]]) -> dict[str, Any]:
        prefix = overlay.get_prefix()
        description: dict[str, Any] = {"overlay_name": type(overlay).__name__, "id": _hex(overlay.community_id)}
        description["my_peer"] = _hex(overlay.my_peer.public_key.key_to_bin())
        description["my_estimated_lan"] = _address(overlay.my_estimated_lan)
        description["my_estimated_wan"] = _address(overlay.my_estimated_wan)
        description["global_time"] = overlay.global_time
        description["max_peers"] = overlay.max_peers
        description["peers"] = [_peer_entry(peer) for peer in overlay.get_peers()]
        # An overlay that brought its own Network does not share peers with the rest of the service.
        description["is_isolated"] = overlay.network is not self.session.network
        # Like py-ipv8: zeros for a community whose statistics are off, {} only without a StatisticsEndpoint.
        description["statistics"] = statistics.get_aggregate_statistics(prefix) if statistics is not None else {}
        description["strategies"] = [{"name": type(strategy).__name__, "target_peers": target}
                                     for owner, strategy, target in strategies if owner is overlay]
        return description


def _peer_entry(peer: Any) -> dict[str, Any]:  # noqa: ANN401
    host, port = peer.address[0], peer.address[1]
    return {"ip": host, "port": port, "public_key": _hex(peer.public_key.key_to_bin())}


__all__ = ["OVERLAY_SCHEMA", "OverlayStatisticsEndpoint", "OverlaysEndpoint", "find_statistics_endpoint",
           "iter_communities", "iter_strategies"]
