"""``/debug/drops`` and ``/debug/peers``: the figures the dashboard shows that no py-ipv8 route carries.

* ``/debug/drops``: what every community refused, per reason (``Community.drop_counts``, reasons from
  :mod:`ipv8.messaging.drop_reasons`), and what the service's endpoint discarded before any community saw it;
* ``/debug/peers``: every verified peer with all its addresses (family, LAN or WAN), seconds since it last
  answered, its median ping, the overlays it shares with us, and how we came to know it (bootstrap, introduced
  by whom and how, walked to, contacted us) and whether a NAT puncture preceded it
  (:mod:`ipv8.peerdiscovery.peer_origin`).

Both need the API key like every other data route; they only read, and their size is bounded by the peer
limits of the overlays.
"""
from __future__ import annotations

import ipaddress
from binascii import hexlify
from typing import Any

from .base_endpoint import APIRequest, BaseEndpoint, api_method
from .overlays_endpoint import find_statistics_endpoint, iter_communities
from .schema import array, integer, mapping, number, obj, string

DROPS_SCHEMA = obj(
    ("overlays", "endpoint"),
    overlays=array(obj(("overlay_name", "id", "drops"), overlay_name=string("Class name of the overlay."),
                       id=string("Community id (hex)."),
                       drops=mapping(integer(), "reason -> packets dropped"))),
    endpoint=obj(("packets_dropped", "drops"), packets_dropped=integer(),
                 drops=mapping(integer(), "reason -> datagrams the endpoint discarded"),
                 description="Empty figures when the endpoint does not count drops."),
)
ORIGIN_SCHEMA = {
    "type": ["object", "null"],
    "description": "How we came to know the peer; null when the peer graph keeps no record of it.",
    "required": ["how", "introduced_by", "introducer", "via", "nat", "puncture", "age"],
    "properties": {
        "how": string("bootstrap, introduced, walked, contacted-us or snapshot"),
        "introduced_by": {"type": ["string", "null"], "description": "Mid (hex) of the introducer, if any."},
        "introducer": {"type": ["object", "null"], "description": "Address of the introducer (a tracker's, for "
                                                                  "bootstrap), if any."},
        "via": {"type": ["string", "null"],
                "description": "WAN, LAN, LAN (guessed) or puncture request: how the introducer named it."},
        "nat": string("punched (a puncture went between us before we reached it) or direct"),
        "puncture": {"type": ["string", "null"],
                     "description": "received (it punctured towards us), sent (we did), both, or null."},
        "age": number("Seconds since we first learnt about it."),
    },
}
PEERS_SCHEMA = obj(("peers",), peers=array(obj(
    ("mid", "addresses", "last_response_ago", "median_ping", "overlays", "origin"),
    mid=string("The peer's mid (hex)."),
    addresses=array(obj(("ip", "port", "family", "scope"), ip=string(), port=integer(),
                        family=string("IPv4 or IPv6"), scope=string("LAN (not globally routable: private, loopback, link-local...) or WAN"))),
    last_response_ago={"type": ["number", "null"], "description": "Seconds since it last answered; null if never."},
    median_ping={"type": ["number", "null"], "description": "Median round trip in seconds; null if unmeasured."},
    overlays=array(string(), "Class names of our overlays that list this peer."),
    origin=ORIGIN_SCHEMA,
)))


def describe_address(address: Any) -> dict[str, Any]:
    """``ip``, ``port``, ``family`` and ``scope`` of one ``(host, port)`` address."""
    host, port = str(address[0]), int(address[1])
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return {"ip": host, "port": port, "family": "unknown", "scope": "WAN"}
    # Not globally routable (private, loopback, link-local, reserved): reached over a local network.
    return {"ip": host, "port": port, "family": f"IPv{ip.version}", "scope": "WAN" if ip.is_global else "LAN"}


def describe_origin(network: Any, peer: Any) -> dict[str, Any] | None:
    """The ``origin`` entry of ``peer`` in ``/debug/peers`` (None when ``network`` keeps no origins)."""
    origins = getattr(network, "origins", None)
    origin = origins.of_peer(peer) if origins is not None else None
    if origin is None:
        return None
    return {"how": origin.how,
            "introduced_by": hexlify(origin.introducer).decode("ascii") if origin.introducer else None,
            "introducer": describe_address(origin.introducer_address) if origin.introducer_address else None,
            "via": origin.via or None,
            "nat": "punched" if origin.punctured else "direct",
            "puncture": origin.punctured or None,
            "age": max(0.0, network.now() - origin.since)}


class DropsEndpoint(BaseEndpoint):
    """``/debug/drops``: refused packets per reason, per community and at the endpoint."""

    tags = ("Debug",)

    @api_method("GET", "Packets dropped per reason by every community and by the endpoint.", {200: DROPS_SCHEMA})
    def get_drops(self, request: APIRequest) -> dict[str, Any]:
        """
        Counters only grow (until the endpoint's counters are reset); a reason that never happened is absent.
        """
        overlays = [{"overlay_name": type(overlay).__name__, "id": hexlify(overlay.community_id).decode("ascii"),
                     "drops": dict(sorted(getattr(overlay, "drop_counts", {}).items()))}
                    for overlay in iter_communities(self.session)]
        endpoint = self.session.endpoint
        drops = getattr(endpoint, "drops", None)
        if not isinstance(drops, dict):
            # A wrapping endpoint (statistics) forwards the counters of the one it wraps.
            inner = find_statistics_endpoint(endpoint)
            drops = getattr(inner, "drops", None) if inner is not None else None
        figures: dict[str, Any] = {"packets_dropped": 0, "drops": {}}
        if isinstance(drops, dict):
            figures = {"packets_dropped": int(getattr(endpoint, "packets_dropped", sum(drops.values())) or 0),
                       "drops": {str(reason): int(count) for reason, count in sorted(drops.items(), key=str)}}
        return {"overlays": overlays, "endpoint": figures}


class PeersDebugEndpoint(BaseEndpoint):
    """``/debug/peers``: the verified peers with addresses, liveness and the overlays they share with us."""

    tags = ("Debug",)

    @api_method("GET", "Every verified peer with its addresses, last answer, ping and overlays.",
                {200: PEERS_SCHEMA})
    def get_peers(self, request: APIRequest) -> dict[str, Any]:
        """
        ``scope`` is ``LAN`` for addresses that are not globally routable; times come from each peer's clock.
        ``origin`` says how we came to know the peer and whether its NAT (or ours) was punched to reach it.
        """
        in_overlays: dict[bytes, list[str]] = {}
        for overlay in iter_communities(self.session):
            for peer in overlay.get_peers():
                in_overlays.setdefault(peer.mid, []).append(type(overlay).__name__)
        peers = []
        for peer in self.session.network.get_verified_peers():
            last = peer.last_response
            peers.append({
                "mid": hexlify(peer.mid).decode("ascii"),
                # A peer often has the same address under two address classes (WAN and LAN): list it once.
                "addresses": [describe_address(address)
                              for address in dict.fromkeys(tuple(a) for a in list(peer.addresses.values()))],
                "last_response_ago": max(0.0, peer.clock.seconds() - last) if last else None,
                "median_ping": peer.get_median_ping(),
                "overlays": sorted(in_overlays.get(peer.mid, [])),
                "origin": describe_origin(self.session.network, peer),
            })
        peers.sort(key=lambda entry: entry["mid"])
        return {"peers": peers}


__all__ = ["DROPS_SCHEMA", "ORIGIN_SCHEMA", "PEERS_SCHEMA", "DropsEndpoint", "PeersDebugEndpoint",
           "describe_address", "describe_origin"]
