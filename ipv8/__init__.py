"""txipv8: the IPv8 peer-to-peer overlay library, running on Twisted."""

__version__ = "0.1.0"
