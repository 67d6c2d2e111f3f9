"""Bootstrapping on the local network through UDP broadcast beacons."""
