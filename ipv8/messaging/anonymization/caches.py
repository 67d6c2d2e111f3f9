"""The request caches of the tunnel community: what it remembers while a create, extend, ping or test is in flight.

Each cache lives in the community's :class:`~ipv8.requestcache.RequestCache` under its class ``name`` and a number:

* :class:`CreateRequestCache` (random number = the identifier of the create we sent): a relay extending a circuit
  waits for the next hop's created, to pass it back as extended;
* :class:`CreatedRequestCache` (number = the circuit id): a node that joined a circuit keeps the candidates it
  offered, so that an extend naming one of them can be served without an address;
* :class:`RetryRequestCache` (number = the circuit id): an initiator waits for created/extended for the hop it
  is adding; on timeout it tries the next candidate, and gives the circuit up when none (or no try) is left;
* :class:`PingRequestCache` and :class:`TestRequestCache` (random numbers, sent as identifiers): keep-alive
  pings and speed tests, each with a :class:`~twisted.internet.defer.Deferred` that reports the outcome.

The cache names are pyipv8 3.2.1's. Timeouts run on the request cache's clock, so a
:class:`~twisted.internet.task.Clock` drives them in tests.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from ...requestcache import NumberCacheWithName, RandomNumberCacheWithName

# The hidden-services caches live in their own module (this one stays small); pyipv8 3.2.1 has them here, so
# ``from ipv8.messaging.anonymization.caches import ...`` finds them too. No cycle: that module imports only the
# request cache.
from ._hidden_caches import (
    E2ERequestCache,
    IPRequestCache,
    LinkRequestCache,
    PeersRequestCache,
    RPRequestCache,
)
from .tunnel import CIRCUIT_STATE_CLOSING

if TYPE_CHECKING:
    from ...peer import Peer
    from ...types import Address
    from .community import TunnelCommunity
    from .tunnel import Circuit

logger = logging.getLogger(__name__)

#: Seconds a ping waits for its pong (pyipv8 uses the request cache's default).
PING_TIMEOUT = 10.0
#: Seconds a relay waits for the created of the next hop it was asked to extend to.
CREATE_TIMEOUT = 10.0
#: Seconds a speed test waits for its answer.
TEST_TIMEOUT = 10.0


class TestTimeoutError(Exception):
    """A speed test (test-request) got no answer in time."""

    __test__ = False  # not a pytest test class, despite the name


class CreateRequestCache(RandomNumberCacheWithName):
    """A relay sent create to the next hop on behalf of an extend; its number is the create's identifier.

    :param community: the community whose request cache stores it.
    :param identifier: the identifier of the extend, echoed in the extended we send back.
    :param to_circuit_id: the new circuit id towards the next hop.
    :param from_circuit_id: the circuit id towards the previous hop (the one the extend came on).
    :param peer: the previous hop.
    :param to_peer: the next hop.
    """

    name = "create"

    def __init__(self, community: TunnelCommunity, identifier: int, to_circuit_id: int, from_circuit_id: int,
                 peer: Peer, to_peer: Peer) -> None:
        """Create the cache with a free random number; see the class documentation."""
        super().__init__(community.request_cache, self.name)
        self.community = community
        self.extend_identifier = identifier
        self.to_circuit_id = to_circuit_id
        self.from_circuit_id = from_circuit_id
        self.peer = peer
        self.to_peer = to_peer
        #: Where the create went: only a created from there answers it (the peer's address may change meanwhile).
        self.to_address: Address = to_peer.address

    @property
    def timeout_delay(self) -> float:
        """Seconds the next hop has to answer."""
        return CREATE_TIMEOUT


class CreatedRequestCache(NumberCacheWithName):
    """A node joined circuit ``circuit_id`` and offered ``candidates`` (binary key -> Peer) to extend to.

    :param timeout: seconds the initiator may still ask us to extend (``unstable_timeout``).
    """

    name = "created"

    def __init__(self, community: TunnelCommunity, circuit_id: int, candidate: Peer,
                 candidates: dict[bytes, Peer], timeout: float) -> None:
        """Create the cache under the circuit id; see the class documentation."""
        super().__init__(community.request_cache, self.name, circuit_id)
        self.circuit_id = circuit_id
        self.candidate = candidate
        self.candidates = candidates
        self.timeout = timeout

    @property
    def timeout_delay(self) -> float:
        """The configured ``unstable_timeout``."""
        return float(self.timeout)


class RetryRequestCache(NumberCacheWithName):
    """An initiator is adding a hop to ``circuit``; filed under the circuit id.

    :param candidates: what to try next if this hop stays silent (peers for a first hop, binary keys later).
    :param max_tries: how many more hops may be tried.
    :param retry_func: ``retry_func(circuit, candidates, max_tries)`` tries the next candidate.
    :param timeout: seconds this hop has (``next_hop_timeout``).

    :attr:`packet_identifier` is the random identifier of the create/extend sent: only a created/extended
    echoing it is accepted, so a late answer to an abandoned try cannot complete the circuit.
    """

    name = "retry"

    def __init__(self, community: TunnelCommunity, circuit: Circuit, candidates: list[Any], max_tries: int,
                 retry_func: Callable[[Circuit, list[Any], int], None], timeout: float) -> None:
        """Create the cache under the circuit id; see the class documentation."""
        super().__init__(community.request_cache, self.name, circuit.circuit_id)
        self.community = community
        self.circuit = circuit
        self.packet_identifier = secrets.randbelow(2 ** 16)
        self.candidates = candidates
        self.max_tries = max_tries
        self.retry_func = retry_func
        self.timeout = timeout
        #: Where a create for a first hop went (None for an extend): only a created from there answers it.
        self.sent_to: Address | None = None

    @property
    def timeout_delay(self) -> float:
        """The configured ``next_hop_timeout``."""
        return float(self.timeout)

    def on_timeout(self) -> None:
        """Try the next candidate; with none (or no try) left, remove the circuit (its ``ready`` fires None)."""
        if self.circuit.state == CIRCUIT_STATE_CLOSING:
            return
        if not self.candidates or self.max_tries < 1:
            self.community.remove_circuit(self.circuit.circuit_id, f"timeout, {self.max_tries} tries left")
            return
        # The cache is already out of the store, so the retry may file a new one under the same circuit id.
        try:
            self.retry_func(self.circuit, self.candidates, self.max_tries)
        except Exception:
            logger.exception("Retrying a hop of circuit %d failed", self.circuit.circuit_id)
            self.community.remove_circuit(self.circuit.circuit_id, "retry failed")


class PingRequestCache(RandomNumberCacheWithName):
    """A ping we sent through ``circuit``; its number is the ping's identifier.

    :attr:`deferred` fires with the round trip in seconds when the pong arrives, or with None on timeout.
    """

    name = "ping"

    def __init__(self, community: TunnelCommunity, circuit: Circuit | None = None) -> None:
        """Create the cache with a free random number, started now on the community's clock."""
        super().__init__(community.request_cache, self.name)
        self.circuit = circuit
        self.clock = community.clock
        self.sent_at = self.clock.seconds()
        self.deferred: Deferred[float | None] = Deferred()
        self.register_future(self.deferred, None)

    @property
    def timeout_delay(self) -> float:
        """Seconds a pong may take."""
        return PING_TIMEOUT

    def complete(self) -> None:
        """The pong arrived: fire :attr:`deferred` with the round trip."""
        if not self.deferred.called:
            self.deferred.callback(self.clock.seconds() - self.sent_at)


class TestRequestCache(RandomNumberCacheWithName):
    """A speed test sent through ``circuit``; its number is the test-request's identifier.

    :attr:`deferred` fires with ``(data, round trip in seconds)`` on the answer, or fails with
    :class:`TestTimeoutError`.
    """

    __test__ = False
    name = "test-request"

    def __init__(self, community: TunnelCommunity, circuit: Circuit) -> None:
        """Create the cache with a free random number, started now on the community's clock."""
        super().__init__(community.request_cache, self.name)
        self.circuit = circuit
        self.clock = community.clock
        self.ts = self.clock.seconds()
        self.deferred: Deferred[tuple[bytes, float]] = Deferred()
        self.register_future(self.deferred, TestTimeoutError)

    @property
    def timeout_delay(self) -> float:
        """Seconds the answer may take."""
        return TEST_TIMEOUT

    def complete(self, data: bytes) -> None:
        """The test-response arrived: fire :attr:`deferred` with its data and the round trip."""
        if not self.deferred.called:
            self.deferred.callback((data, self.clock.seconds() - self.ts))


__all__ = ["CREATE_TIMEOUT", "PING_TIMEOUT", "TEST_TIMEOUT", "CreateRequestCache", "CreatedRequestCache",
           "E2ERequestCache", "IPRequestCache", "LinkRequestCache", "PeersRequestCache", "PingRequestCache",
           "RPRequestCache", "RetryRequestCache", "TestRequestCache", "TestTimeoutError"]
