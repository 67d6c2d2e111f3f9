"""The attestation wallet: cryptographic primitives and the identity algorithms built on them."""
