"""Attestation: attested claims about peers (wallet with zero-knowledge identity formats, TrustChain)."""
