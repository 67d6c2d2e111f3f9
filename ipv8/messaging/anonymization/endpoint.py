"""The TunnelEndpoint: an endpoint that sends the packets of anonymized communities through circuits.

A community created with ``anonymize=True`` (a :class:`~ipv8.community.CommunitySettings` field) on a
:class:`TunnelEndpoint` registers its prefix with :meth:`TunnelEndpoint.set_anonymity`. From then on:

* what it **sends** does not leave from our own socket: the packet travels as a data cell through a circuit of
  the :class:`~ipv8.messaging.anonymization.community.TunnelCommunity` given to
  :meth:`TunnelEndpoint.set_tunnel_community` (``hops`` hops, ending in an exit with ``PEER_FLAG_EXIT_IPV8``);
  the exit sends it on from its own address, so the receiver sees the exit, never us;
* what it **receives** is only what comes back through such a circuit (the TunnelCommunity hands it over
  with ``notify_listeners(packet, from_tunnel=True)``). A packet that reaches our socket directly with the
  prefix of an anonymized community is dropped and counted: answering it would tie that community's identity
  to our address. Conversely, a packet out of a circuit for a community that is *not* anonymized is dropped
  and counted too.

Every other community on the endpoint (the TunnelCommunity itself in particular) sends and receives on the
wrapped endpoint as if the wrapper were not there.

When no circuit is ready, pyipv8 3.2.1 starts one and keeps up to 100 packets in a queue that it empties on
a later send. Here too a circuit is started and up to :attr:`TunnelEndpoint.max_queued` packets wait, but
they are sent as soon as the circuit becomes ready. What cannot be sent is dropped and counted in
:attr:`TunnelEndpoint.tunnel_drops` (and in ``drops``): the oldest queued packet when the queue is full
(:data:`DROP_TUNNEL_QUEUE_FULL`), everything queued when the circuit could not be built
(:data:`DROP_TUNNEL_NO_CIRCUIT`), and a packet for which no circuit can even be started, because no exit is
known or no TunnelCommunity is set (:data:`DROP_TUNNEL_NO_CIRCUIT`, :data:`DROP_TUNNEL_NO_COMMUNITY`).
"""
from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from zope.interface import Attribute, alsoProvides, implementer

from ...util import maybe_deferred
from ..interfaces.endpoint import (
    DEFAULT_PREFIX_LENGTH,
    Endpoint,
    IAnonymizingEndpoint,
    IEndpointListener,
    IMultiInterfaceEndpoint,
)
from .tunnel import CIRCUIT_STATE_EXTENDING, CIRCUIT_STATE_READY, PEER_FLAG_EXIT_IPV8

if TYPE_CHECKING:
    from ...types import Address
    from ..interfaces.endpoint import Packet
    from .community import TunnelCommunity
    from .tunnel import Circuit

#: An anonymized packet was not sent: no TunnelCommunity is set (pyipv8 3.2.1 drops these silently).
DROP_TUNNEL_NO_COMMUNITY = "tunnel_no_community"
#: An anonymized packet was not sent: no circuit could be started, or the one started failed.
DROP_TUNNEL_NO_CIRCUIT = "tunnel_no_circuit"
#: The oldest packet waiting for a circuit made room for a new one.
DROP_TUNNEL_QUEUE_FULL = "tunnel_queue_full"
#: A packet reached our socket directly although its community only talks through circuits.
DROP_TUNNEL_DIRECT_FOR_ANONYMIZED = "direct_for_anonymized"
#: A packet came out of a circuit for a community that does not talk through circuits.
DROP_TUNNEL_NOT_ANONYMIZED = "tunnel_for_not_anonymized"

#: Packets that wait for a circuit at most (pyipv8 3.2.1's queue length).
DEFAULT_MAX_QUEUED = 100
#: Where the exit sends data back from, in the data cells we send: nowhere (we are the initiator).
_NO_ORIGIN = ("0.0.0.0", 0)

logger = logging.getLogger(__name__)


class ITunnelEndpoint(IAnonymizingEndpoint):
    """An endpoint that carries the traffic of anonymized communities through a TunnelCommunity's circuits."""

    tunnel_community = Attribute("The TunnelCommunity whose circuits carry anonymized traffic, or None.")
    hops = Attribute("The number of hops of the circuits anonymized traffic uses.")

    def set_tunnel_community(tunnel_community: Any, hops: int = 1) -> None:  # noqa: N805
        """Send anonymized traffic through circuits of ``hops`` hops of ``tunnel_community`` (None: stop)."""

    def notify_listeners(packet: tuple, from_tunnel: bool = False) -> None:  # noqa: N805
        """Hand ``(source_address, data)`` to its listeners; ``from_tunnel``: it came out of one of our circuits.

        Only anonymized communities accept packets from circuits, and only the others accept the rest.
        """


@implementer(ITunnelEndpoint, IEndpointListener)
class TunnelEndpoint(Endpoint):
    """Wraps the node's real endpoint; see the module documentation.

    :param endpoint: the endpoint that really sends and receives (it is opened and closed through this one).
    :param max_queued: packets that may wait for a circuit at most.
    """

    def __init__(self, endpoint: Any, max_queued: int = DEFAULT_MAX_QUEUED) -> None:  # noqa: ANN401
        """Wrap ``endpoint`` and start listening to it; anonymity is off for every prefix until asked for."""
        super().__init__(getattr(endpoint, "prefixlen", DEFAULT_PREFIX_LENGTH))
        self.endpoint = endpoint
        self.tunnel_community: TunnelCommunity | None = None
        self.hops = 0
        self.max_queued = max_queued
        #: Community prefix -> whether its traffic goes through circuits (pyipv8 3.2.1's name).
        self.settings: dict[bytes, bool] = {}
        #: (destination, packet) waiting for a circuit, oldest first.
        self.send_queue: deque[tuple[Address, bytes]] = deque()
        #: Packets handed to the TunnelCommunity, to be sent through a circuit.
        self.packets_tunneled = 0
        #: Packets that came out of a circuit and were handed to an anonymized community.
        self.packets_from_tunnel = 0
        #: Packets dropped by this wrapper, per ``DROP_TUNNEL_*`` reason (the wrapped endpoint counts its own).
        self.tunnel_drops: dict[str, int] = {}
        self._waiting_for: Circuit | None = None
        if IMultiInterfaceEndpoint.providedBy(endpoint):
            # Communities look for the children of a dispatcher (IPv6 addresses, per-family introductions).
            alsoProvides(self, IMultiInterfaceEndpoint)
        endpoint.add_listener(self)

    # -- configuration -----------------------------------------------------------------------------

    def set_tunnel_community(self, tunnel_community: TunnelCommunity | None, hops: int = 1) -> None:
        """Send anonymized traffic through circuits of ``hops`` hops of ``tunnel_community`` (None: stop)."""
        self.tunnel_community = tunnel_community
        self.hops = hops
        self._waiting_for = None

    def set_anonymity(self, prefix: bytes, enable: bool) -> None:
        """Send and receive the traffic of the community with ``prefix`` through circuits (or not)."""
        self.settings[bytes(prefix)] = bool(enable)

    def is_anonymized(self, prefix: bytes) -> bool:
        """Whether the community with this 22-byte ``prefix`` talks through circuits only."""
        return self.settings.get(prefix, False)

    # -- sending -----------------------------------------------------------------------------------

    def send(self, socket_address: Address, packet: bytes) -> None:
        """Send ``packet`` directly, or through a circuit if its community is anonymized (best effort)."""
        if not self.settings.get(packet[:self.prefixlen], False):
            self.endpoint.send(socket_address, packet)
            return
        community = self.tunnel_community
        if community is None:
            self._drop(DROP_TUNNEL_NO_COMMUNITY)
            return
        circuit = self._ready_circuit(community)
        if circuit is not None:
            self._flush(circuit)
            self._tunnel(community, circuit, socket_address, packet)
            return
        if self._waiting_for is None and not self._start_circuit(community):
            self._drop(DROP_TUNNEL_NO_CIRCUIT)
            return
        if self.max_queued <= 0:
            self._drop(DROP_TUNNEL_QUEUE_FULL)
            return
        while len(self.send_queue) >= self.max_queued:
            self.send_queue.popleft()
            self._drop(DROP_TUNNEL_QUEUE_FULL)
        self.send_queue.append((socket_address, packet))

    def _circuits(self, community: TunnelCommunity, state: str | None) -> list[Circuit]:
        return community.find_circuits(state=state, exit_flags=[PEER_FLAG_EXIT_IPV8], hops=self.hops)

    def _ready_circuit(self, community: TunnelCommunity) -> Circuit | None:
        usable = [circuit for circuit in self._circuits(community, state=CIRCUIT_STATE_READY)
                  if circuit.hop is not None]
        return usable[0] if usable else None

    def _start_circuit(self, community: TunnelCommunity) -> bool:
        """Wait for a circuit that is being built, or start one; False when none can be started."""
        building = self._circuits(community, state=CIRCUIT_STATE_EXTENDING)
        circuit = building[0] if building else community.create_circuit(self.hops, exit_flags=[PEER_FLAG_EXIT_IPV8])
        if circuit is None:
            return False
        self._waiting_for = circuit
        circuit.ready.addCallback(self._circuit_done, circuit, community).addErrback(
            lambda failure: logger.error("Sending the queue of circuit %d failed: %s", circuit.circuit_id,
                                         failure.getErrorMessage()))
        return True

    def _circuit_done(self, result: Circuit | None, circuit: Circuit, community: TunnelCommunity) -> None:
        if self._waiting_for is not circuit or self.tunnel_community is not community:
            return  # a newer circuit (or another community) took over
        self._waiting_for = None
        ready = result if result is not None else self._ready_circuit(community)
        if ready is not None:
            self._flush(ready)
            return
        # The build failed. Retrying here could go on forever; the next send starts a new circuit instead.
        while self.send_queue:
            self.send_queue.popleft()
            self._drop(DROP_TUNNEL_NO_CIRCUIT)

    def _flush(self, circuit: Circuit) -> None:
        community = self.tunnel_community
        while self.send_queue and community is not None:
            address, packet = self.send_queue.popleft()
            self._tunnel(community, circuit, address, packet)

    def _tunnel(self, community: TunnelCommunity, circuit: Circuit, address: Address, packet: bytes) -> None:
        hop = circuit.hop
        if hop is None:  # only READY circuits get here, and those have their first hop
            self._drop(DROP_TUNNEL_NO_CIRCUIT)
            return
        self.packets_tunneled += 1
        community.send_data(hop.address, circuit.circuit_id, address, _NO_ORIGIN, packet)

    # -- receiving ---------------------------------------------------------------------------------

    def on_packet(self, packet: Packet) -> None:
        """A packet from the wrapped endpoint's socket (we listen to it like any community)."""
        self.notify_listeners(packet, from_tunnel=False)

    def notify_listeners(self, packet: Packet, from_tunnel: bool = False) -> None:
        """Hand ``packet`` to its listeners if it took the right path (see the module documentation)."""
        prefix = packet[1][:self.prefixlen]
        if self.settings.get(prefix, False) != from_tunnel:
            targets = self._routes.get(prefix, self._generic)
            if targets:
                self._drop(DROP_TUNNEL_NOT_ANONYMIZED if from_tunnel else DROP_TUNNEL_DIRECT_FOR_ANONYMIZED)
            return
        if from_tunnel:
            self.packets_from_tunnel += 1
        for listener in self._routes.get(prefix, self._generic):
            self.deliver(listener, packet)

    def deliver(self, listener: IEndpointListener, packet: Packet) -> bool:
        """Give one packet to one listener the way the wrapped endpoint does (it contains listener errors)."""
        deliver = getattr(self.endpoint, "deliver", None)
        if deliver is None:
            return super().deliver(listener, packet)
        return deliver(listener, packet)

    # -- counters ----------------------------------------------------------------------------------

    def _drop(self, reason: str) -> None:
        self.tunnel_drops[reason] = self.tunnel_drops.get(reason, 0) + 1
        logger.debug("TunnelEndpoint dropped a packet (%s)", reason)

    @property
    def bytes_up(self) -> int:
        """Bytes the wrapped endpoint sent (cells of tunneled packets included)."""
        return self.endpoint.bytes_up

    @property
    def bytes_down(self) -> int:
        """Bytes the wrapped endpoint received."""
        return self.endpoint.bytes_down

    @property
    def packets_sent(self) -> int:
        """Datagrams the wrapped endpoint sent."""
        return self.endpoint.packets_sent

    @property
    def packets_received(self) -> int:
        """Datagrams the wrapped endpoint received."""
        return self.endpoint.packets_received

    @property
    def drops(self) -> dict[str, int]:
        """The wrapped endpoint's drops plus ours, per reason (a copy)."""
        merged = dict(self.endpoint.drops)
        for reason, count in self.tunnel_drops.items():
            merged[reason] = merged.get(reason, 0) + count
        return merged

    @property
    def packets_dropped(self) -> int:
        """All datagrams discarded, by the wrapped endpoint or by us."""
        return sum(self.drops.values())

    def reset_byte_counters(self) -> None:
        """Reset the wrapped endpoint's counters and ours."""
        self.endpoint.reset_byte_counters()
        self.tunnel_drops = {}
        self.packets_tunneled = 0
        self.packets_from_tunnel = 0

    # -- plain delegation --------------------------------------------------------------------------

    @property
    def interfaces(self) -> dict[str, Any]:
        """The wrapped dispatcher's child endpoints by interface name (empty for a single endpoint)."""
        return getattr(self.endpoint, "interfaces", {})

    def interface_for(self, socket_address: object) -> str | None:
        """The wrapped dispatcher's interface for ``socket_address`` (None for a single endpoint)."""
        interface_for = getattr(self.endpoint, "interface_for", None)
        return interface_for(socket_address) if interface_for is not None else None

    def is_open(self) -> bool:
        """Whether the wrapped endpoint is open."""
        return self.endpoint.is_open()

    def get_address(self) -> Address:
        """The wrapped endpoint's local address."""
        return self.endpoint.get_address()

    def open(self) -> Deferred:
        """Open the wrapped endpoint."""
        return maybe_deferred(self.endpoint.open)

    def close(self) -> Deferred:
        """Drop what waits for a circuit (uncounted: we are going down) and close the wrapped endpoint."""
        self.send_queue.clear()
        self._waiting_for = None
        return maybe_deferred(self.endpoint.close)

    def __repr__(self) -> str:
        return f"TunnelEndpoint({self.endpoint!r}, hops={self.hops})"


__all__ = ["DEFAULT_MAX_QUEUED", "DROP_TUNNEL_DIRECT_FOR_ANONYMIZED", "DROP_TUNNEL_NOT_ANONYMIZED",
           "DROP_TUNNEL_NO_CIRCUIT", "DROP_TUNNEL_NO_COMMUNITY", "DROP_TUNNEL_QUEUE_FULL", "ITunnelEndpoint",
           "TunnelEndpoint"]
