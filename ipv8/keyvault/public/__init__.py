"""Public (verify-only) key implementations."""
