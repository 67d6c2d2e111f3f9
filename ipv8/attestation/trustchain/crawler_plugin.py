"""The ``twistd trustchain_crawler`` command: a node that crawls the TrustChain of every peer it meets.

The crawler is the ``twistd ipv8`` command (:mod:`ipv8.scripts.ipv8_plugin`: the same options, REST API, start
and stop behaviour) with other overlays, as IPv8 1.x's crawler had them: peer discovery and a
:class:`~.community.TrustChainCrawler` (``--testnet``: :class:`~.community.TrustChainTestnetCrawler`), which
walks without a peer target and fetches the whole chain of every peer it walks to into its database (in the
working directory, ``sqlite/trustchain.db``). Its key lives in ``crawler_key.pem`` (1.x's file name). The
REST API serves the ``/trustchain`` routes (:mod:`.rest`), as every IPv8 REST API does.

As for ``twistd ipv8``, without ``--config`` and ``--bootstrap`` the crawler joins the public IPv8 network.
Example on a private network::

    twistd -n trustchain_crawler --ip 127.0.0.1 --port 8090 --bootstrap 127.0.0.1:6421 --working-dir crawl
"""
from __future__ import annotations

import copy
from typing import Any

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer

from ...scripts.ipv8_plugin import IPv8Options, IPv8ServiceMaker
from ...service import IPv8
from .community import TrustChainCrawler, TrustChainTestnetCrawler

#: The overlay classes a crawler configuration may name, besides the standard ones.
CRAWLER_COMMUNITIES = {"TrustChainCrawler": TrustChainCrawler, "TrustChainTestnetCrawler": TrustChainTestnetCrawler}
CRAWLER_KEY = "crawler"


class TrustChainCrawlerOptions(IPv8Options):
    """The options of ``twistd ipv8`` plus ``--testnet``."""

    longdesc = ("Run a TrustChain crawler: it fetches the chain of every peer it meets. Without --config and "
                "--bootstrap it contacts the PUBLIC IPv8 trackers on the Internet.")
    optFlags = [*IPv8Options.optFlags, ["testnet", "t", "Crawl the TrustChain test network."]]

    def base_configuration(self) -> dict[str, Any]:
        """The default configuration's discovery overlay and a TrustChain crawler, on the key ``crawler``."""
        from ...configuration import get_default_configuration
        config = get_default_configuration()
        config["keys"] = [{"alias": CRAWLER_KEY, "generation": "curve25519", "file": "crawler_key.pem"}]
        discovery = copy.deepcopy(next(overlay for overlay in config["overlays"]
                                       if overlay["class"] == "DiscoveryCommunity"))
        discovery["key"] = CRAWLER_KEY
        crawler = {"class": "TrustChainTestnetCrawler" if self["testnet"] else "TrustChainCrawler",
                   "key": CRAWLER_KEY,
                   "walkers": [{"strategy": "RandomWalk", "peers": -1, "init": {"timeout": 3.0}}],
                   "bootstrappers": copy.deepcopy(discovery.get("bootstrappers", [])),
                   "initialize": {}, "on_start": []}
        config["overlays"] = [discovery, crawler]
        return config


@implementer(IServiceMaker, IPlugin)
class TrustChainCrawlerServiceMaker(IPv8ServiceMaker):
    """Builds the service tree of ``twistd trustchain_crawler`` (see the module documentation)."""

    tapname = "trustchain_crawler"
    description = "A TrustChain crawler (with a REST API on 127.0.0.1:8085 unless --no-rest-api)."
    options = TrustChainCrawlerOptions
    service_name = "TrustChainCrawler"

    def create_ipv8(self, options: IPv8Options) -> IPv8:
        """The node, with the crawler overlay classes known to its configuration."""
        return IPv8(options.configuration, enable_statistics=bool(options["statistics"]),
                    extra_communities=CRAWLER_COMMUNITIES)
