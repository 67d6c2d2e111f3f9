"""Range attestations (Peng-Bao range proofs with Boudot sub-proofs)."""
