"""``/network``: the verified peers of the whole IPv8 service."""
from __future__ import annotations

from base64 import b64encode
from typing import Any

from .base_endpoint import APIRequest, BaseEndpoint, api_method
from .schema import array, integer, mapping, obj, string

PEER_SCHEMA = obj(
    ("ip", "port", "public_key", "services"),
    ip=string("Host of the peer's current address."),
    port=integer("Port of the peer's current address."),
    public_key=string("The peer's public key (binary form, base64)."),
    services=array(string(), "Community ids (base64) the peer told us it runs."),
)


def _b64(data: bytes) -> str:
    return b64encode(data).decode("ascii")


class NetworkEndpoint(BaseEndpoint):
    """Everything the shared peer graph (``session.network``) knows about verified peers."""

    tags = ("Network",)

    @api_method("GET", "List every verified peer, keyed by its mid (base64).",
                {200: obj(("peers",), peers=mapping(PEER_SCHEMA, "base64 mid -> peer"))})
    def get_peers(self, request: APIRequest) -> dict[str, Any]:
        """
        The verified peers of the service's network, whichever overlay found them.
        """
        network = self.session.network
        peers = {}
        for peer in network.get_verified_peers():
            host, port = peer.address[0], peer.address[1]
            peers[_b64(peer.mid)] = {
                "ip": host,
                "port": port,
                "public_key": _b64(peer.public_key.key_to_bin()),
                "services": sorted(_b64(service) for service in network.get_services_for_peer(peer)),
            }
        return {"peers": peers}


__all__ = ["NetworkEndpoint", "PEER_SCHEMA"]
