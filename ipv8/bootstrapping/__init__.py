"""
First contacts for overlays that know nobody yet.

A bootstrapper hands a Community its first addresses to walk to: the Dispersy-style trackers
(:mod:`ipv8.bootstrapping.dispersy.bootstrapper`) or a UDP broadcast on the local network
(:mod:`ipv8.bootstrapping.udpbroadcast.bootstrapper`). Both implement
:class:`~ipv8.bootstrapping.bootstrapper_interface.IBootstrapper`.
"""
