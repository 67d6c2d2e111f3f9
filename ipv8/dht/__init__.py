"""The distributed hash table (DHT), wire-compatible with pyipv8 3.2.1.

The building blocks live in their own modules, each usable (and tested) without a running overlay:

* :mod:`ipv8.dht.payload`: the ten DHT messages (ids 1-10), the ``node-list`` wire format and the
  encoding of stored values (plain, or signed with a version);
* :mod:`ipv8.dht.trie`: the binary prefix tree that holds the buckets;
* :mod:`ipv8.dht.routing`: node ids, :class:`~ipv8.dht.routing.Node`, :class:`~ipv8.dht.routing.Bucket`
  and :class:`~ipv8.dht.routing.RoutingTable` (one table per address family);
* :mod:`ipv8.dht.storage`: the bounded, expiring key-value store that a node keeps for others.

Every failure of the DHT's public API (a value that is too large, a lookup that found no nodes, a request
that timed out) is reported as a :class:`DHTError`: raised by synchronous calls, and as the failure of the
Deferred returned by asynchronous ones.
"""
from __future__ import annotations


class DHTError(Exception):
    """A DHT operation could not be carried out.

    The message says why, in words meant for a log or an API response; there is no error code. Malformed
    input from the network is never reported this way to the sender: it is dropped and counted instead.
    """


__all__ = ["DHTError"]
