"""An endpoint that owns one child endpoint per network interface type and routes sends by address family.

Receiving costs nothing extra: listeners are registered directly on every child, so a datagram goes
from the child socket straight to its listeners. Sending looks at the destination: an address whose
class is known (``UDPv4Address``, ``UDPv6Address``) is routed with one dict lookup, anything else is
parsed as an IP literal. A destination no child can serve is dropped and counted.
"""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, gatherResults
from zope.interface import implementer

from ...addresses import UDPv4Address, UDPv4LANAddress, UDPv6Address
from ..endpoint import Endpoint, EndpointClosedException, EndpointConfigurationError, IMultiInterfaceEndpoint
from ..traffic import DropReason
from ..udp.endpoint import UDPEndpoint, UDPv6Endpoint

if TYPE_CHECKING:
    from ..endpoint import IEndpointListener
    from ....types import Address
    from ..endpoint import Packet

#: Interface name -> endpoint class. The names are the ones used in IPv8 configurations.
INTERFACES: dict[str, type[Endpoint]] = {
    "UDPIPv4": UDPEndpoint,
    "UDPIPv6": UDPv6Endpoint,
}

#: The interface whose address :meth:`DispatcherEndpoint.get_address` reports first, when loaded.
PREFERENCE_ORDER: list[str] = ["UDPIPv4", "UDPIPv6"]

#: Address class -> interface name, for routing without parsing the address.
FAST_ADDR_TO_INTERFACE: dict[type, str] = {
    UDPv4Address: "UDPIPv4",
    UDPv4LANAddress: "UDPIPv4",
    UDPv6Address: "UDPIPv6",
}

class UnknownInterfaceError(EndpointConfigurationError):
    """Raised when a DispatcherEndpoint is asked for an interface name that is not in :data:`INTERFACES`."""


def guess_interface(socket_address: object) -> str | None:
    """
    The interface name serving ``socket_address``, decided by parsing its host.

    :returns: ``"UDPIPv4"`` or ``"UDPIPv6"`` for an ``(ip literal, port)`` pair, None for anything else
        (host names are not resolved).
    """
    if not isinstance(socket_address, tuple) or len(socket_address) != 2:
        return None
    try:
        version = ipaddress.ip_address(socket_address[0]).version
    except (ValueError, TypeError):
        return None
    return "UDPIPv4" if version == 4 else "UDPIPv6"


@implementer(IMultiInterfaceEndpoint)
class DispatcherEndpoint(Endpoint):
    """Bundles several endpoints (e.g. IPv4 and IPv6 UDP) behind one endpoint interface."""

    def __init__(self, interfaces: list[str], reactor: Any = None, **kwargs: dict[str, Any]) -> None:  # noqa: ANN401
        """
        Create the child endpoints named in ``interfaces``.

        Per-interface constructor arguments go in a keyword argument named after the interface::

            DispatcherEndpoint(["UDPIPv4", "UDPIPv6"], UDPIPv4={"port": 8090}, UDPIPv6={"port": 8090})

        :param interfaces: names from :data:`INTERFACES`.
        :param reactor: a reactor handed to every child that is not given one explicitly.
        :raises UnknownInterfaceError: for a name that is not in :data:`INTERFACES`, in ``interfaces``
            or among the keyword arguments.
        """
        super().__init__()
        unknown = [name for name in [*interfaces, *kwargs] if name not in INTERFACES]
        if unknown:
            msg = f"Unknown interface(s) {unknown}; available: {sorted(INTERFACES)}"
            raise UnknownInterfaceError(msg)
        self.interfaces: dict[str, Endpoint] = {}
        for name in interfaces:
            options = dict(kwargs.get(name, {}))
            if reactor is not None:
                options.setdefault("reactor", reactor)
            self.interfaces[name] = INTERFACES[name](**options)
        self.interface_order = [name for name in PREFERENCE_ORDER if name in self.interfaces]
        self._preferred = self.interfaces[self.interface_order[0]] if self.interface_order else None

    # -- listeners live on the children ------------------------------------------------------------

    def add_listener(self, listener: IEndpointListener) -> None:
        """Register ``listener`` for every packet on every child."""
        self._check_listener(listener)
        for child in self.interfaces.values():
            child.add_listener(listener)

    def add_prefix_listener(self, listener: IEndpointListener, prefix: bytes) -> None:
        """Register ``listener`` for ``prefix`` on every child (see :meth:`Endpoint.add_prefix_listener`)."""
        for child in self.interfaces.values():
            child.add_prefix_listener(listener, prefix)

    def remove_listener(self, listener: IEndpointListener) -> None:
        """Unregister ``listener`` from every child."""
        for child in self.interfaces.values():
            child.remove_listener(listener)

    def notify_listeners(self, packet: Packet) -> None:
        """
        Hand ``packet`` to the listeners of the child serving its source address.

        Only one child is notified (the preferred one when the source fits none), so a listener that
        is registered on all children still sees the packet once.
        """
        name = self.interface_for(packet[0])
        child = self.interfaces[name] if name is not None else self._preferred
        if child is not None:
            child.notify_listeners(packet)

    @property
    def listeners(self) -> tuple[Any, ...]:
        """The generic listeners of the preferred child (they are the same on every child)."""
        return self._preferred.listeners if self._preferred is not None else ()

    # -- routing -----------------------------------------------------------------------------------

    def interface_for(self, socket_address: object) -> str | None:
        """The name of the loaded interface that would carry a send to ``socket_address``, or None."""
        name = FAST_ADDR_TO_INTERFACE.get(type(socket_address)) or guess_interface(socket_address)
        return name if name in self.interfaces else None

    def send(self, socket_address: Address, packet: bytes, interface: str | None = None) -> None:
        """
        Send ``packet`` through the child serving the destination's family (or the named ``interface``).

        A destination no loaded child serves is dropped and counted as ``no_interface``.

        :raises UnknownInterfaceError: if ``interface`` is given but not loaded.
        """
        if interface is not None:
            if interface not in self.interfaces:
                msg = f"Interface {interface!r} is not loaded"
                raise UnknownInterfaceError(msg)
            self.interfaces[interface].send(socket_address, packet)
            return
        name = self.interface_for(socket_address)
        if name is None:
            self.counters.count_drop(DropReason.NO_INTERFACE)
            self._logger.debug("No interface can send to %r", socket_address)
            return
        self.interfaces[name].send(socket_address, packet)

    # -- state -------------------------------------------------------------------------------------

    def open(self) -> Deferred:
        """Open every child; the Deferred fires True if at least one of them opened."""
        opening = [child.open() for child in self.interfaces.values()]
        return gatherResults(opening, consumeErrors=True).addCallback(any)

    def close(self) -> Deferred:
        """Close every child; the Deferred fires None once all are closed."""
        closing = [child.close() for child in self.interfaces.values()]
        return gatherResults(closing, consumeErrors=True).addCallback(lambda _: None)

    def is_open(self) -> bool:
        """Whether at least one child is open."""
        return any(child.is_open() for child in self.interfaces.values())

    def get_address(self, interface: str | None = None) -> Address:
        """
        The bound address of the named ``interface``, or of the most preferred open child.

        :raises EndpointClosedException: if no child is open.
        :raises UnknownInterfaceError: if ``interface`` is given but not loaded.
        """
        if interface is not None:
            if interface not in self.interfaces:
                msg = f"Interface {interface!r} is not loaded"
                raise UnknownInterfaceError(msg)
            return self.interfaces[interface].get_address()
        for name in self.interface_order:
            if self.interfaces[name].is_open():
                return self.interfaces[name].get_address()
        raise EndpointClosedException(self)

    # -- counters: the children's plus our own routing drops ---------------------------------------

    def _sum(self, counter: str) -> int:
        return sum(getattr(child, counter) for child in self.interfaces.values())

    @property
    def bytes_up(self) -> int:
        """Bytes sent by all children."""
        return self._sum("bytes_up")

    @property
    def bytes_down(self) -> int:
        """Bytes received by all children."""
        return self._sum("bytes_down")

    @property
    def packets_sent(self) -> int:
        """Datagrams sent by all children."""
        return self._sum("packets_sent")

    @property
    def packets_received(self) -> int:
        """Datagrams received by all children."""
        return self._sum("packets_received")

    @property
    def drops(self) -> dict[str, int]:
        """Discarded datagrams per reason, over all children and the dispatcher's own routing."""
        merged = dict(self.counters.drops)
        for child in self.interfaces.values():
            for reason, count in child.drops.items():
                merged[reason] = merged.get(reason, 0) + count
        return merged

    @property
    def packets_dropped(self) -> int:
        """Datagrams discarded anywhere in the dispatcher."""
        return sum(self.drops.values())

    def reset_byte_counters(self) -> None:
        """Reset the counters of every child and of the dispatcher itself."""
        self.counters.reset()
        for child in self.interfaces.values():
            child.reset_byte_counters()


__all__ = [
    "FAST_ADDR_TO_INTERFACE",
    "INTERFACES",
    "PREFERENCE_ORDER",
    "DispatcherEndpoint",
    "UnknownInterfaceError",
    "guess_interface",
]
