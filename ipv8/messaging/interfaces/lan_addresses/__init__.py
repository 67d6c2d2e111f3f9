"""Discovery of this machine's LAN addresses from local interface tables (never from the network)."""
from .interfaces import (
    best_lan_ipv4,
    best_lan_ipv6,
    get_lan_addresses,
    get_lan_interfaces,
    get_providers,
    is_lan,
)

__all__ = ["best_lan_ipv4", "best_lan_ipv6", "get_lan_addresses", "get_lan_interfaces", "get_providers", "is_lan"]
