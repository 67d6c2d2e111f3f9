"""Anonymous communication over onion-routed circuits (pyipv8's import path ``ipv8.messaging.anonymization``).

* :mod:`~ipv8.messaging.anonymization.community`: ``TunnelCommunity`` and ``TunnelSettings`` (circuits, relays,
  exits), with :mod:`~ipv8.messaging.anonymization.caches` for its outstanding requests;
* :mod:`~ipv8.messaging.anonymization.crypto`: the circuit handshake, session keys and per-hop cell encryption;
* :mod:`~ipv8.messaging.anonymization.payload`: every cell and tunnel message on the wire;
* :mod:`~ipv8.messaging.anonymization.tunnel`: circuits, hops, relay routes and introduction points as plain
  objects, and the peer flags, circuit types and states;
* :mod:`~ipv8.messaging.anonymization.exit_socket`: where an exit node's circuits meet the internet, with the
  exit policy;
* :mod:`~ipv8.messaging.anonymization.socks5`: a SOCKS5 (UDP ASSOCIATE) front door for programs that are not
  written against IPv8.
"""
