"""Exact-value attestations over the Boneh-Goh-Nissim cryptosystem."""
