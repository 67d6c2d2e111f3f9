"""TrustChain: every key's own chain of half blocks, countersigned pairwise (IPv8 1.x wire format).

:mod:`.block` (blocks, validation, fraud proofs), :mod:`.encoding` (the 1.x transaction encoding),
:mod:`.payload` (message payloads), :mod:`.database` (sqlite storage), :mod:`.memory` (in-memory chain
validation), :mod:`.listener`, :mod:`.settings`, :mod:`.caches`, :mod:`.crawling` and :mod:`.community` (the
overlay), :mod:`.reputation` (scores from the interaction graph, countersigning policies), :mod:`.rest` (the
``/trustchain`` REST routes) and :mod:`.crawler_plugin` (``twistd trustchain_crawler``).
"""


class TrustChainError(Exception):
    """A TrustChain operation failed: a signature request timed out, a block did not validate, ..."""
