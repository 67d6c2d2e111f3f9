"""
``twistd trustchain_crawler``: run a TrustChain crawler (see :mod:`ipv8.attestation.trustchain.crawler_plugin`).

Example: ``twistd -n trustchain_crawler --ip 127.0.0.1 --bootstrap 127.0.0.1:6421``. This module only tells twistd
about the service maker and stays tiny: twistd imports every plugin module just to list them.
"""
from __future__ import annotations

from ipv8.attestation.trustchain.crawler_plugin import TrustChainCrawlerOptions, TrustChainCrawlerServiceMaker


class Options(TrustChainCrawlerOptions):
    """The options of ``twistd ipv8`` plus ``--testnet``."""


class _ServiceMaker(TrustChainCrawlerServiceMaker):
    options = Options


service_maker = _ServiceMaker()
