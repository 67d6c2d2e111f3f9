"""The state of one outstanding DHT request, kept in the community's :class:`~ipv8.requestcache.RequestCache`.

Each request we send (ping, find, store) gets a :class:`DHTRequestCache` under a random 16-bit number that
travels as the message's ``identifier``. The answer completes it; silence times it out. Either way the
node it was sent to is told (its answer time and round trip, or one more failure), which is what the
routing table later uses to tell good nodes from bad ones.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import CancelledError, Deferred, FirstError, gatherResults

from ..requestcache import RandomNumberCache
from . import DHTError

if TYPE_CHECKING:
    from ..requestcache import RequestCache
    from .routing import Node

#: Seconds a DHT request waits for its answer by default.
DEFAULT_REQUEST_TIMEOUT = 5.0


class DHTRequestCache(RandomNumberCache):
    """One request of kind ``prefix`` (``"ping"``, ``"find"``, ``"store"``) sent to ``node``.

    :param request_cache: where the cache is stored (its number must be free there).
    :param prefix: the kind of request; an answer is matched on kind and identifier.
    :param node: the node asked; only an answer signed by its key completes the request.
    :param timeout: seconds before :attr:`deferred` fails with :class:`~ipv8.dht.DHTError`.
    :param consume_errors: on timeout, fire :attr:`deferred` with None instead of failing it (used by
        lookups, where one silent node is not an error).
    """

    def __init__(self, request_cache: RequestCache, prefix: str, node: Node,
                 timeout: float = DEFAULT_REQUEST_TIMEOUT, consume_errors: bool = False) -> None:
        """Create the cache; see the class documentation."""
        super().__init__(request_cache, prefix)
        self.node = node
        self.timeout = timeout
        self.consume_errors = consume_errors
        self.sent_at: float = node.clock.seconds()
        #: Fires with the answer's contents, or fails with :class:`~ipv8.dht.DHTError`.
        self.deferred: Deferred[Any] = Deferred()

    @property
    def timeout_delay(self) -> float:
        """Seconds until the request times out."""
        return self.timeout

    def complete(self, result: object) -> None:
        """The answer arrived: credit the node and fire :attr:`deferred` with ``result``."""
        self.node.record_response(self.node.clock.seconds() - self.sent_at)
        if not self.deferred.called:
            self.deferred.callback(result)

    def fail(self, reason: str) -> None:
        """Give up on the request without blaming the node (for example: we are shutting down)."""
        if not self.deferred.called:
            if self.consume_errors:
                self.deferred.callback(None)
            else:
                self.deferred.errback(DHTError(reason))

    def on_timeout(self) -> None:
        """No answer in time: one more failure for the node, and the request fails."""
        self.node.record_failure()
        self.fail(f"{self.prefix} request to {self.node} timed out after {self.timeout:g} s")


def gather(deferreds: list[Deferred]) -> Deferred:
    """``gatherResults`` for requests: fires with all results, or fails with the first failure itself.

    When the caller is cancelled (an overlay unloading stops its running tasks) the cancellation reaches
    every request, and it is reported as the plain :class:`~twisted.internet.defer.CancelledError` that
    task code expects rather than wrapped in a :class:`~twisted.internet.defer.FirstError`.
    """
    def unwrap(failure: Any) -> Any:  # noqa: ANN401 - a Failure
        if failure.check(FirstError) and failure.value.subFailure.check(CancelledError):
            return failure.value.subFailure
        return failure
    return gatherResults(deferreds, consumeErrors=True).addErrback(unwrap)


__all__ = ["DEFAULT_REQUEST_TIMEOUT", "DHTRequestCache", "gather"]
