"""``/isolation``: point a running service at a bootstrap server or an exit node by hand.

Useful on isolated test networks, where the default bootstrap servers are unreachable.
"""
from __future__ import annotations

import importlib
import ipaddress
from typing import Any

from ..messaging.addresses import UDPv4Address, UDPv6Address
from ..types import Address
from .base_endpoint import APIRequest, BadRequest, BaseEndpoint, PreconditionFailed, api_method
from .overlays_endpoint import iter_communities
from .schema import ERROR_REF, SUCCESS_REF, integer, obj, string

#: Where the tunnel community will live (pyipv8's module path); it does not exist in txipv8 yet.
TUNNEL_MODULE = "ipv8.messaging.anonymization.community"

_FLAG = {"type": ["boolean", "integer"], "description": "true or 1 to select this kind of address."}
ISOLATION_BODY = obj(
    ("ip", "port"),
    ip=string("An IPv4 or IPv6 address literal (host names are not resolved)."),
    port=integer("UDP port.", minimum=1, maximum=65535),
    bootstrapnode=dict(_FLAG),
    exitnode=dict(_FLAG),
)


def _parse_address(ip: str, port: int) -> Address:
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        raise BadRequest(f"{ip!r} is not an IPv4 or IPv6 address") from None
    if parsed.version == 6:
        return UDPv6Address(str(parsed), port)
    return UDPv4Address(str(parsed), port)


def _tunnel_community_class() -> type | None:
    try:
        return importlib.import_module(TUNNEL_MODULE).TunnelCommunity
    except (ImportError, AttributeError):
        return None


class IsolationEndpoint(BaseEndpoint):
    """Add a bootstrap server (all communities) or an exit node (tunnel communities) at runtime."""

    tags = ("Isolation",)

    @api_method("POST", "Add a bootstrap server or an exit node address.",
                {200: SUCCESS_REF,
                 412: ("An exit node was given but no tunnel community is loaded.", ERROR_REF)},
                body=ISOLATION_BODY)
    def add_address(self, request: APIRequest) -> dict[str, Any]:
        """
        With ``"bootstrapnode": true`` the address is blacklisted as a peer (it is a server), added to every
        Dispersy bootstrapper (IPv4 only) and walked to by every community. With ``"exitnode": true`` the tunnel
        communities walk to it. Exactly one of the two flags must be set.
        """
        body = request.body
        bootstrap, exit_node = bool(body.get("bootstrapnode")), bool(body.get("exitnode"))
        if bootstrap == exit_node:
            raise BadRequest('set exactly one of "bootstrapnode" and "exitnode"')
        address = _parse_address(body["ip"], body["port"])
        if exit_node:
            self._add_exit_node(address)
        else:
            self._add_bootstrap_server(address)
        return {"success": True}

    def _add_exit_node(self, address: Address) -> None:
        tunnel_class = _tunnel_community_class()
        if tunnel_class is None:
            raise PreconditionFailed("txipv8 has no tunnel community yet, so exit nodes cannot be added",
                                     code="NoTunnelCommunity")
        tunnels = [overlay for overlay in self.session.overlays if isinstance(overlay, tunnel_class)]
        if not tunnels:
            raise PreconditionFailed("no tunnel community is loaded", code="NoTunnelCommunity")
        for overlay in tunnels:
            overlay.walk_to(address)

    def _add_bootstrap_server(self, address: Address) -> None:
        session = self.session
        networks = [session.network] + [overlay.network for overlay in iter_communities(session)]
        for network in {id(network): network for network in networks}.values():
            if address not in network.blacklist:
                network.blacklist.append(address)
        for overlay in iter_communities(session):
            for bootstrapper in overlay.bootstrappers:
                # Only Dispersy bootstrappers keep a tracker list, and it holds IPv4 addresses only.
                known = getattr(bootstrapper, "ip_addresses", None)
                if isinstance(known, list) and isinstance(address, UDPv4Address) and address not in known:
                    known.append(address)
            overlay.walk_to(address)


__all__ = ["ISOLATION_BODY", "IsolationEndpoint", "TUNNEL_MODULE"]
