"""Peer discovery: the peer graph (:mod:`.network`) and, elsewhere in this package, the walkers that fill it."""
