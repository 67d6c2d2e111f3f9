"""What every pyipv8 driver process does right after installing the loopback guard.

* refuse to run unless ``ipv8`` is pyipv8 from the reference interpreter's site-packages (txipv8's package has
  the same name, so a wrong ``sys.path`` would silently test txipv8 against itself);
* remove the public bootstrap servers from pyipv8's default configuration;
* switch off pyipv8's LAN probing: these peers live on 127.0.0.1 and have no LAN address, and every overlay
  would otherwise probe every 10 s (a UDP ``connect()`` towards 192.0.2.0 and a reverse lookup of the host name).
"""
from __future__ import annotations

import pathlib
import sys


def confine(script: str) -> None:
    """Apply the rules above for the driver called ``script`` (used in the error message)."""
    import ipv8

    if "site-packages" not in pathlib.Path(ipv8.__file__).parts:
        sys.exit(f"{script} must run on the pyipv8 reference interpreter, not with {ipv8.__file__}")

    import ipv8.configuration as pyipv8_configuration
    import ipv8.messaging.interfaces.endpoint as pyipv8_endpoint
    import ipv8.overlay as pyipv8_overlay

    pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["ip_addresses"] = []
    pyipv8_configuration.DISPERSY_BOOTSTRAPPER["init"]["dns_addresses"] = []
    pyipv8_endpoint.get_lan_addresses = lambda: []
    pyipv8_overlay.get_providers = lambda: []
