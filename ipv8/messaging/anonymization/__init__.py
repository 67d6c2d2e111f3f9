"""Anonymous communication over onion-routed circuits (pyipv8's import path ``ipv8.messaging.anonymization``).

So far this package holds only :mod:`~ipv8.messaging.anonymization.tunnel`'s introduction points, the data the
DHT provider (:mod:`ipv8.dht.provider`) stores and finds for hidden services; the circuits themselves come
with the TunnelCommunity.
"""
