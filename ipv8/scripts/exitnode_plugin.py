"""The ``twistd exitnode`` command: an IPv8 node that serves the tunnel network as an exit for IPv8 traffic.

An exit node joins circuits that other peers build and sends what they tunnel out to its destination, from
this machine's own address; the answers travel back through the circuit. This exit only lets IPv8 packets out
(``PEER_FLAG_EXIT_IPV8``: anonymous overlays such as those created with ``anonymize=True``), never BitTorrent
or other traffic (see :mod:`ipv8.messaging.anonymization.exit_socket` for the exit policy). It also relays
(``PEER_FLAG_RELAY``), so that it can sit in the middle of longer circuits, and answers speed tests
(``PEER_FLAG_SPEED_TEST``). It builds no circuits of its own.

Everything else is the ``twistd ipv8`` command (:mod:`ipv8.scripts.ipv8_plugin`): the same options, the same
REST API, the same start and stop behaviour. What differs:

* the overlays: discovery, the DHT and a :class:`~ipv8.messaging.anonymization.community.TunnelCommunity`
  that joins up to ``--max-joined-circuits`` circuits of others (1000 by default, as pyipv8's exit-node
  script) and builds none itself; a ``--config`` file may bring its own overlays, but they must include a
  tunnel community;
* ``--exit-interface``: the local address exit sockets bind to. ``127.0.0.1`` keeps exited traffic on this
  machine (a local test network: loopback destinations are only reachable from exit sockets bound to
  loopback);
* ``--listen_port`` is accepted as another name for ``--port`` (the option of pyipv8's exit-node script);
* the service is named ``IPv8Exitnode``, and the start logs :data:`LEGAL_WARNING`.

As for ``twistd ipv8``, without ``--config`` and ``--bootstrap`` the node joins the public IPv8 network and
offers itself as an exit to everyone there. Example on a private network::

    twistd -n exitnode --ip 127.0.0.1 --port 8090 --bootstrap 127.0.0.1:6421 --exit-interface 127.0.0.1
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from ..configuration import DISPERSY_BOOTSTRAPPER
from ..messaging.anonymization.tunnel import (
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
)
from .ipv8_plugin import IPv8Options, IPv8ServiceMaker, _is_ip_literal, _port_number

if TYPE_CHECKING:
    from twisted.application.service import MultiService

    from ..service import IPv8

__all__ = ["EXIT_NODE_PEER_FLAGS", "LEGAL_WARNING", "TUNNEL_OVERLAYS", "ExitNodeOptions", "ExitNodeServiceMaker",
           "exit_node_configuration"]

_log = Logger(namespace="ipv8.twistd")

#: What an exit node offers, announced in its introductions: relay, exit IPv8 traffic, answer speed tests.
EXIT_NODE_PEER_FLAGS = frozenset({PEER_FLAG_RELAY, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST})

#: Overlay classes of a configuration that can serve as the exit.
TUNNEL_OVERLAYS = ("TunnelCommunity", "HiddenTunnelCommunity")

#: How many circuits of others an exit node joins at most, unless ``--max-joined-circuits`` says otherwise.
DEFAULT_MAX_JOINED_CIRCUITS = 1000

#: Logged when an exit node starts. In our own words, the caution the IPv8 documentation attaches to
#: ``become_exitnode``.
LEGAL_WARNING = (
    "This node is an EXIT NODE: it sends the packets of anonymous strangers to the internet from this "
    "machine's IP address. Whoever receives them sees your address, not theirs, so their traffic may be "
    "attributed to you and you may be held responsible for it. Run an exit node only if you have checked what "
    "that means under the law that applies to you (and your network provider's terms)."
)


def exit_node_configuration() -> dict[str, Any]:
    """
    The configuration ``twistd exitnode`` starts from: the default one, with a tunnel community that serves
    others instead of the default overlay that builds circuits for itself.
    """
    import copy

    from ..configuration import get_default_configuration
    config = get_default_configuration()
    overlays = [overlay for overlay in config["overlays"] if overlay["class"] in ("DiscoveryCommunity",
                                                                                 "DHTDiscoveryCommunity")]
    overlays.insert(1, {
        "class": "TunnelCommunity",
        "key": "anonymous id",
        "walkers": [{"strategy": "RandomWalk", "peers": 20, "init": {"timeout": 3.0}}],
        "bootstrappers": [copy.deepcopy(DISPERSY_BOOTSTRAPPER)],
        # An exit wants no circuits of its own (min/max 0), but joins many of others.
        "initialize": {"min_circuits": 0, "max_circuits": 0, "max_joined_circuits": DEFAULT_MAX_JOINED_CIRCUITS},
        "on_start": [],
    })
    config["overlays"] = overlays
    return config


def _positive_int(value: str) -> int:
    """usage.Options coercer for a count of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if not 1 <= number <= 1_000_000:
        raise ValueError(f"{number} is out of range (1-1000000)")
    return number


class ExitNodeOptions(IPv8Options):
    """Command line of ``twistd exitnode``: that of ``twistd ipv8`` plus the exit's own options."""

    longdesc = ("Run an IPv8 exit node: it relays circuits of others and sends their IPv8 packets out from this "
                "machine's address (possibly with LEGAL consequences for you). Without --config and --bootstrap "
                "it joins the PUBLIC IPv8 network; pass --bootstrap to use your own tracker.")

    optParameters = [  # noqa: RUF012 - Twisted reads this class attribute
        *IPv8Options.optParameters,
        ["exit-interface", None, "0.0.0.0", ("Local address the exit sockets bind to (127.0.0.1: exit to this "
                                            "machine only, for local test networks; '::' for IPv4 and IPv6).")],
        ["max-joined-circuits", None, DEFAULT_MAX_JOINED_CIRCUITS, "Circuits of others joined at most.",
         _positive_int],
        ["listen_port", None, None, "Another name for --port (the option of pyipv8's exit-node script).",
         _port_number],
    ]

    def base_configuration(self) -> dict[str, Any]:
        """The exit node's overlays (see :func:`exit_node_configuration`)."""
        return exit_node_configuration()

    def postOptions(self) -> None:
        """Build the configuration as ``twistd ipv8`` does, then make its tunnel community an exit."""
        from twisted.python import usage
        if self["listen_port"] is not None:
            if self["port"] is not None and self["port"] != self["listen_port"]:
                raise usage.UsageError("--port and --listen_port name different ports")
            self["port"] = self["listen_port"]
        super().postOptions()
        if not _is_ip_literal(self["exit-interface"]):
            raise usage.UsageError(f"--exit-interface {self['exit-interface']!r}: expected an IP address")
        tunnels = [overlay for overlay in self.configuration.get("overlays", [])
                   if overlay.get("class") in TUNNEL_OVERLAYS]
        if not tunnels:
            raise usage.UsageError("the configuration has no TunnelCommunity overlay to serve as the exit")
        for overlay in tunnels:
            overlay["initialize"] = {**overlay["initialize"], "exit_interface": self["exit-interface"],
                                     "max_joined_circuits": self["max-joined-circuits"]}


class ExitNodeServiceMaker(IPv8ServiceMaker):
    """Builds the ``twistd exitnode`` service tree (a ``twistd ipv8`` tree named ``IPv8Exitnode``)."""

    tapname = "exitnode"
    description = "An IPv8 exit node: relays circuits and exits IPv8 traffic for others."
    options = ExitNodeOptions
    service_name = "IPv8Exitnode"

    def create_ipv8(self, options: IPv8Options) -> IPv8:
        """The node, with exit flags on every tunnel community (settings that a configuration cannot set)."""
        from ..configuration import ConfigurationError
        from ..messaging.anonymization.community import TunnelCommunity
        ipv8 = super().create_ipv8(options)
        tunnels = [overlay for overlay in ipv8.overlays if isinstance(overlay, TunnelCommunity)]
        if not tunnels:
            # E.g. only a HiddenTunnelCommunity was configured and this txipv8 does not provide it (it is skipped).
            raise ConfigurationError("overlays", "no tunnel community was loaded: this node could not be an exit")
        for overlay in tunnels:
            # Setting the flags (rather than adding to them) also drops PEER_FLAG_EXIT_BT: IPv8 only.
            overlay.settings.peer_flags = set(EXIT_NODE_PEER_FLAGS)
        return ipv8

    def makeService(self, options: IPv8Options) -> MultiService:
        """The service tree of ``twistd ipv8`` for the exit node; logs :data:`LEGAL_WARNING` once it is built."""
        service = super().makeService(options)
        # twistd starts its log observers only after this call; twisted.logger keeps these events until then.
        _log.warn("{warning}", warning=LEGAL_WARNING)
        _log.info("Exit node: IPv8 traffic only, exit sockets on {interface}, at most {joined} circuits of others",
                  interface=options["exit-interface"], joined=options["max-joined-circuits"])
        return service
