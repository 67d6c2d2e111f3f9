"""TrustChain: every key's own chain of half blocks, countersigned pairwise (IPv8 1.x wire format).

:mod:`.block` (blocks, validation, fraud proofs), :mod:`.encoding` (the 1.x transaction encoding),
:mod:`.payload` (message payloads) and :mod:`.database` (sqlite storage).
"""
