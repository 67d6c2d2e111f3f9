"""The request caches of the hidden-services community (pyipv8 3.2.1's names and numbering).

Private: :mod:`ipv8.messaging.anonymization.hidden_services` uses them. Each cache is stored under its class
``name`` and a random number, sent as the request's ``identifier``; the answer must echo it. A cache that times
out cleans up what was built for the request (a circuit that never became an introduction or rendezvous point is
removed), so nothing a silent or hostile peer causes outlives its timeout.

* :class:`IPRequestCache`: establish-intro sent, waiting for intro-established.
* :class:`RPRequestCache`: establish-rendezvous sent, waiting for rendezvous-established.
* :class:`PeersRequestCache`: peers-request sent, waiting for peers-response (its :attr:`~PeersRequestCache.deferred`
  fails with :class:`PeersRequestTimeout`).
* :class:`E2ERequestCache`: create-e2e sent through an introduction point, waiting for created-e2e.
* :class:`LinkRequestCache`: link-e2e sent to the rendezvous point, waiting for linked-e2e.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from ...requestcache import RandomNumberCacheWithName

if TYPE_CHECKING:
    from .crypto import SessionKeys
    from .tunnel import Circuit, Hop, IntroductionPoint, RendezvousPoint

logger = logging.getLogger(__name__)

#: Seconds an introduction or rendezvous point has to confirm (pyipv8's request cache default).
ESTABLISH_TIMEOUT = 10.0
#: Seconds a peers-request may take (the exit may have to ask the DHT first).
PEERS_REQUEST_TIMEOUT = 10.0
#: Seconds a create-e2e may take: the seeder builds a circuit to a rendezvous point before it answers.
E2E_TIMEOUT = 30.0
#: Seconds the rendezvous point has to link the circuits.
LINK_TIMEOUT = 10.0


class PeersRequestTimeout(Exception):
    """A peers-request got no answer in time."""


class IPRequestCache(RandomNumberCacheWithName):
    """We asked the exit of ``circuit`` to be our introduction point; on timeout the circuit goes."""

    name = "establish-intro"

    def __init__(self, community: Any, circuit: Circuit) -> None:
        """Create the cache with a free random number."""
        super().__init__(community.request_cache, self.name)
        self.community = community
        self.circuit = circuit

    @property
    def timeout_delay(self) -> float:
        """Seconds the introduction point has to confirm."""
        return ESTABLISH_TIMEOUT

    def on_timeout(self) -> None:
        """No intro-established: the circuit is of no use."""
        logger.info("No intro-established on circuit %d", self.circuit.circuit_id)
        self.community.remove_circuit(self.circuit.circuit_id, "establish-intro timeout")


class RPRequestCache(RandomNumberCacheWithName):
    """We asked the exit of ``rp.circuit`` to be a rendezvous point; on timeout ``rp.ready`` fires None."""

    name = "establish-rendezvous"

    def __init__(self, community: Any, rp: RendezvousPoint) -> None:
        """Create the cache with a free random number."""
        super().__init__(community.request_cache, self.name)
        self.community = community
        self.rp = rp

    @property
    def timeout_delay(self) -> float:
        """Seconds the rendezvous point has to confirm."""
        return ESTABLISH_TIMEOUT

    def on_timeout(self) -> None:
        """No rendezvous-established: give the point up and remove its circuit."""
        logger.info("No rendezvous-established on circuit %d", self.rp.circuit.circuit_id)
        self.rp.set_ready(False)
        self.community.remove_circuit(self.rp.circuit.circuit_id, "establish-rendezvous timeout")


class PeersRequestCache(RandomNumberCacheWithName):
    """A peers-request for ``info_hash`` sent over ``circuit`` (to ``target``, or to the exit's DHT if None).

    :attr:`deferred` fires with the introduction points found, or fails with :class:`PeersRequestTimeout`; an
    introduction point that does not answer is forgotten by its swarm.
    """

    name = "peers-request"

    def __init__(self, community: Any, circuit: Circuit, info_hash: bytes, target: IntroductionPoint | None) -> None:
        """Create the cache with a free random number."""
        super().__init__(community.request_cache, self.name)
        self.community = community
        self.circuit = circuit
        self.info_hash = info_hash
        self.target = target
        self.deferred: Deferred[list[IntroductionPoint]] = Deferred()
        self.register_future(self.deferred, PeersRequestTimeout(f"no peers-response for {info_hash.hex()}"))

    @property
    def timeout_delay(self) -> float:
        """Seconds the answer may take."""
        return PEERS_REQUEST_TIMEOUT

    def on_timeout(self) -> None:
        """A silent introduction point is dropped from the swarm."""
        swarm = self.community.swarms.get(self.info_hash)
        if swarm is not None and self.target is not None:
            swarm.remove_intro_point(self.target)


class E2ERequestCache(RandomNumberCacheWithName):
    """A create-e2e for ``info_hash`` sent to the seeder behind ``intro_point``; ``hop`` holds our handshake half."""

    name = "e2e-request"

    def __init__(self, community: Any, info_hash: bytes, hop: Hop, intro_point: IntroductionPoint) -> None:
        """Create the cache with a free random number."""
        super().__init__(community.request_cache, self.name)
        self.info_hash = info_hash
        self.hop = hop
        self.intro_point = intro_point

    @property
    def timeout_delay(self) -> float:
        """Seconds the seeder has to answer (it builds a rendezvous circuit first)."""
        return E2E_TIMEOUT


class LinkRequestCache(RandomNumberCacheWithName):
    """A link-e2e sent over ``circuit`` to the rendezvous point; the session keys wait here until it is linked."""

    name = "link-request"

    def __init__(self, community: Any, circuit: Circuit, info_hash: bytes, hs_session_keys: SessionKeys) -> None:
        """Create the cache with a free random number."""
        super().__init__(community.request_cache, self.name)
        self.community = community
        self.circuit = circuit
        self.info_hash = info_hash
        self.hs_session_keys = hs_session_keys

    @property
    def timeout_delay(self) -> float:
        """Seconds the rendezvous point has to link."""
        return LINK_TIMEOUT

    def on_timeout(self) -> None:
        """Never linked: the circuit to the rendezvous point is of no use."""
        logger.info("No linked-e2e on circuit %d", self.circuit.circuit_id)
        self.community.remove_circuit(self.circuit.circuit_id, "link-e2e timeout")


__all__ = ["E2E_TIMEOUT", "ESTABLISH_TIMEOUT", "LINK_TIMEOUT", "PEERS_REQUEST_TIMEOUT", "E2ERequestCache",
           "IPRequestCache", "LinkRequestCache", "PeersRequestCache", "PeersRequestTimeout", "RPRequestCache"]
