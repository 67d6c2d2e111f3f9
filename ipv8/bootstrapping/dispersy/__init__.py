"""Bootstrapping through trackers (bootstrap servers), addressed by IP literal or DNS name."""
