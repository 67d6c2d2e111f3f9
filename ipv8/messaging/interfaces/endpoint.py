"""The endpoint contract: the interfaces, the listener fan-out every endpoint shares, and the listener base.

An endpoint moves raw datagrams between this process and the network. Whoever wants incoming data
registers an :class:`IEndpointListener`; a packet handed to listeners is always a
``(source_address, data)`` pair.

Two kinds of registration exist:

* a *generic* listener (:meth:`Endpoint.add_listener`) sees every packet;
* a *prefix* listener (:meth:`Endpoint.add_prefix_listener`) sees only packets that start with its
  ``prefixlen``-byte prefix (22 bytes for IPv8: the community envelope). Routing a packet then costs one
  dict lookup on its first 22 bytes instead of asking every community whether the packet is theirs.

A listener that raises is logged and skipped; the exception never reaches the reactor and never stops
the packet from reaching the other listeners.
"""
from __future__ import annotations

import abc
import ipaddress
import logging
import socket
from typing import Any, ClassVar, Iterable, Tuple

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface, implementer

from ...types import Address
from ..addresses import UDPv4Address, UDPv6Address
from .lan_addresses.interfaces import get_lan_addresses
from .traffic import TrafficCounters

#: What listeners receive: the sender's address and the datagram's bytes.
Packet = Tuple[Address, bytes]

#: Length of the community envelope (version bytes and community id) that prefix listeners match on.
DEFAULT_PREFIX_LENGTH = 22

#: Private IPv4 ranges (RFC 1918) and the IPv6 unique-local and link-local ranges.
_PRIVATE_NETWORKS = tuple(ipaddress.ip_network(net) for net in
                          ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"))


# --------------------------------------------------------------------------------------------------
# Exceptions


class IllegalEndpointListenerError(RuntimeError):
    """Raised when something that does not provide :class:`IEndpointListener` is registered as a listener."""

    def __init__(self, other: object) -> None:
        """Describe the rejected object by its type."""
        super().__init__(f"{type(other).__name__} does not provide IEndpointListener")


class InvalidPrefixError(ValueError):
    """Raised when a prefix listener is registered with a prefix of the wrong length or type."""


class EndpointConfigurationError(ValueError):
    """Raised when an endpoint is created with an unusable address, port or interface name."""


class EndpointClosedException(Exception):
    """Raised by :meth:`Endpoint.assert_open` (and ``get_address``) when the endpoint is not open."""

    def __init__(self, endpoint: object) -> None:
        """Name the endpoint that was found closed."""
        super().__init__(f"{type(endpoint).__name__} is not open")


class DataTooBigException(Exception):
    """Describes a datagram larger than the transport can carry (kept for API compatibility; sends drop instead)."""

    def __init__(self, size: int, max_size: int) -> None:
        """Report both sizes in bytes."""
        super().__init__(f"Datagram of {size} bytes exceeds the maximum of {max_size} bytes")


class IllegalDestination(Exception):
    """Raised by callers that refuse to send to the null address ``0.0.0.0:0``."""

    def __init__(self) -> None:
        """Use a fixed message: there is only one null address."""
        super().__init__("Refusing to send to the null address 0.0.0.0:0")


# --------------------------------------------------------------------------------------------------
# Interfaces


class IEndpointListener(Interface):
    """Something that consumes the datagrams an endpoint receives."""

    endpoint = Attribute("The IEndpoint this listener is attached to.")

    def on_packet(packet: tuple) -> None:  # noqa: N805 (zope interface methods have no self)
        """Handle one datagram, given as ``(source_address, data)``."""


class IEndpoint(Interface):
    """A datagram transport with listener fan-out and traffic counters."""

    prefixlen = Attribute("Number of leading bytes prefix listeners are matched on (22).")
    bytes_up = Attribute("Bytes handed to the operating system since the last reset.")
    bytes_down = Attribute("Bytes received and delivered to listeners since the last reset.")
    packets_sent = Attribute("Datagrams handed to the operating system since the last reset.")
    packets_received = Attribute("Datagrams received and delivered to listeners since the last reset.")
    packets_dropped = Attribute("Datagrams discarded since the last reset, whatever the reason.")
    drops = Attribute("Discarded datagrams per reason: a dict from reason string to count.")

    def add_listener(listener: object) -> None:  # noqa: N805
        """Deliver every received packet to ``listener``."""

    def add_prefix_listener(listener: object, prefix: bytes) -> None:  # noqa: N805
        """Deliver only packets starting with ``prefix`` (exactly ``prefixlen`` bytes) to ``listener``."""

    def remove_listener(listener: object) -> None:  # noqa: N805
        """Stop delivering packets to ``listener`` (generic and prefix registrations alike)."""

    def notify_listeners(packet: tuple) -> None:  # noqa: N805
        """Hand ``(source_address, data)`` to the listeners that want it."""

    def assert_open() -> None:
        """Raise EndpointClosedException unless the endpoint is open."""

    def is_open() -> bool:
        """Whether the endpoint can currently send and receive."""

    def get_address() -> tuple:
        """The local ``(ip, port)`` the endpoint is bound to."""

    def send(socket_address: tuple, packet: bytes) -> None:  # noqa: N805
        """Send ``packet`` to ``socket_address``; best effort, failures are dropped and counted."""

    def open() -> Deferred:
        """Start the endpoint; the Deferred fires with True on success and False otherwise."""

    def close() -> Deferred:
        """Stop the endpoint; the Deferred fires with None once the socket is released."""

    def reset_byte_counters() -> None:
        """Set the byte, packet and drop counters back to zero."""


class IMultiInterfaceEndpoint(IEndpoint):
    """An endpoint that serves several address families through one child endpoint each (a dispatcher)."""

    interfaces = Attribute("Child endpoints by interface name (``\"UDPIPv4\"``, ``\"UDPIPv6\"``).")

    def interface_for(socket_address: object) -> str | None:  # noqa: N805
        """The name of the interface that sends to ``socket_address``, or None when none does."""


class IAnonymizingEndpoint(IEndpoint):
    """An endpoint that can route a community's traffic through anonymous circuits."""

    def set_anonymity(prefix: bytes, enabled: bool) -> None:  # noqa: N805
        """Send the traffic of the community with this 22-byte ``prefix`` anonymously (or not)."""


# --------------------------------------------------------------------------------------------------
# Shared endpoint behaviour


@implementer(IEndpoint)
class Endpoint(abc.ABC):
    """Listener registry, packet fan-out and counters; subclasses add the actual transport."""

    #: The socket family the endpoint sends on; IPv6 endpoints override it.
    SOCKET_FAMILY: ClassVar[int] = socket.AF_INET

    def __init__(self, prefixlen: int = DEFAULT_PREFIX_LENGTH) -> None:
        """
        Create an endpoint without listeners.

        :param prefixlen: how many leading bytes of a packet select its prefix listeners.
        """
        self._logger = logging.getLogger(type(self).__name__)
        self.prefixlen = prefixlen
        self.counters = TrafficCounters()
        self._generic: tuple[Any, ...] = ()
        self._by_prefix: dict[bytes, tuple[Any, ...]] = {}
        # For every registered prefix: its own listeners followed by the generic ones. Rebuilt on each
        # (rare) registry change so the per-packet path is a single dict lookup. Tuples are immutable,
        # so a listener that (un)registers while being notified cannot disturb the ongoing loop.
        self._routes: dict[bytes, tuple[Any, ...]] = {}

    # -- listener registry -------------------------------------------------------------------------

    @property
    def listeners(self) -> tuple[Any, ...]:
        """The generic listeners, in registration order."""
        return self._generic

    def prefix_listeners(self, prefix: bytes) -> tuple[Any, ...]:
        """The listeners registered for exactly ``prefix`` (generic listeners not included)."""
        return self._by_prefix.get(prefix, ())

    def add_listener(self, listener: IEndpointListener) -> None:
        """
        Deliver every received packet to ``listener``.

        :raises IllegalEndpointListenerError: if ``listener`` does not provide :class:`IEndpointListener`.
        """
        self._check_listener(listener)
        if listener not in self._generic:
            self._generic = (*self._generic, listener)
            self._rebuild_routes()

    def add_prefix_listener(self, listener: IEndpointListener, prefix: bytes) -> None:
        """
        Deliver packets whose first ``prefixlen`` bytes equal ``prefix`` to ``listener``.

        :raises IllegalEndpointListenerError: if ``listener`` does not provide :class:`IEndpointListener`.
        :raises InvalidPrefixError: if ``prefix`` is not a bytes object of exactly ``prefixlen`` bytes.
        """
        self._check_listener(listener)
        if not isinstance(prefix, (bytes, bytearray)) or len(prefix) != self.prefixlen:
            size = len(prefix) if isinstance(prefix, (bytes, bytearray)) else type(prefix).__name__
            msg = f"A listener prefix must be {self.prefixlen} bytes, got {size}"
            raise InvalidPrefixError(msg)
        prefix = bytes(prefix)
        current = self._by_prefix.get(prefix, ())
        if listener not in current:
            self._by_prefix[prefix] = (*current, listener)
            self._rebuild_routes()

    def remove_listener(self, listener: IEndpointListener) -> None:
        """Forget ``listener`` everywhere it was registered; unknown listeners are ignored."""
        self._generic = tuple(known for known in self._generic if known is not listener)
        remaining = {}
        for prefix, registered in self._by_prefix.items():
            kept = tuple(known for known in registered if known is not listener)
            if kept:
                remaining[prefix] = kept
        self._by_prefix = remaining
        self._rebuild_routes()

    def _rebuild_routes(self) -> None:
        self._routes = {prefix: (*own, *(g for g in self._generic if g not in own))
                        for prefix, own in self._by_prefix.items()}

    @staticmethod
    def _check_listener(listener: object) -> None:
        if not IEndpointListener.providedBy(listener):
            raise IllegalEndpointListenerError(listener)

    # -- delivery ----------------------------------------------------------------------------------

    def notify_listeners(self, packet: Packet) -> None:
        """Hand ``(source_address, data)`` to its prefix listeners plus all generic listeners."""
        targets = self._routes.get(packet[1][:self.prefixlen], self._generic)
        for listener in targets:
            self.deliver(listener, packet)

    def deliver(self, listener: IEndpointListener, packet: Packet) -> bool:
        """
        Give one packet to one listener, containing any exception it raises.

        :returns: True if the listener returned normally.
        """
        try:
            listener.on_packet(packet)
        except Exception:
            self.counters.count_listener_failure()
            self._logger.exception("Listener %r failed on a packet from %r", listener, packet[0])
            return False
        return True

    # -- counters ----------------------------------------------------------------------------------

    # The four plain counters are writable so that simple endpoints (mocks, wrappers) can keep
    # ``self.bytes_up += len(packet)`` style bookkeeping; the values live in ``self.counters`` either way.

    @property
    def bytes_up(self) -> int:
        """Bytes sent since the last reset."""
        return self.counters.bytes_up

    @bytes_up.setter
    def bytes_up(self, value: int) -> None:
        self.counters.bytes_up = value

    @property
    def bytes_down(self) -> int:
        """Bytes received since the last reset."""
        return self.counters.bytes_down

    @bytes_down.setter
    def bytes_down(self, value: int) -> None:
        self.counters.bytes_down = value

    @property
    def packets_sent(self) -> int:
        """Datagrams sent since the last reset."""
        return self.counters.packets_sent

    @packets_sent.setter
    def packets_sent(self, value: int) -> None:
        self.counters.packets_sent = value

    @property
    def packets_received(self) -> int:
        """Datagrams received since the last reset."""
        return self.counters.packets_received

    @packets_received.setter
    def packets_received(self, value: int) -> None:
        self.counters.packets_received = value

    @property
    def packets_dropped(self) -> int:
        """Datagrams discarded since the last reset."""
        return self.counters.packets_dropped

    @property
    def drops(self) -> dict[str, int]:
        """Discarded datagrams per :class:`~ipv8.messaging.interfaces.traffic.DropReason` (a copy)."""
        return dict(self.counters.drops)

    def reset_byte_counters(self) -> None:
        """Set the byte, packet and drop counters back to zero."""
        self.counters.reset()

    # -- state -------------------------------------------------------------------------------------

    def assert_open(self) -> None:
        """
        Check that the endpoint is usable.

        :raises EndpointClosedException: if it is not open.
        """
        if not self.is_open():
            raise EndpointClosedException(self)

    @abc.abstractmethod
    def is_open(self) -> bool:
        """Whether the endpoint can currently send and receive."""

    @abc.abstractmethod
    def get_address(self) -> Address:
        """The local ``(ip, port)`` the endpoint is bound to (not necessarily how others reach us)."""

    @abc.abstractmethod
    def send(self, socket_address: Address, packet: bytes) -> None:
        """Send ``packet`` to ``socket_address`` without any delivery guarantee."""

    @abc.abstractmethod
    def open(self) -> Deferred:
        """Start the endpoint; the Deferred fires with True on success."""

    @abc.abstractmethod
    def close(self) -> Deferred:
        """Stop the endpoint; the Deferred fires once it is down."""


# --------------------------------------------------------------------------------------------------
# Listener base


_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def _is_ipv6_literal(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 6
    except (ValueError, TypeError):
        return False


@implementer(IEndpointListener)
class EndpointListener(abc.ABC):
    """
    Base for everything that consumes an endpoint's packets (communities in particular).

    Besides ``on_packet`` it keeps the listener's guesses of its own addresses:
    ``my_estimated_lan`` (derived from the machine's interfaces and the endpoint's port) and
    ``my_estimated_wan`` (starts equal to the LAN guess; peers tell us better).
    """

    def __init__(self, endpoint: Endpoint, main_thread: bool = True) -> None:
        """
        Attach to ``endpoint`` (registration itself is left to the subclass).

        :param endpoint: the endpoint whose packets this listener will receive.
        :param main_thread: whether ``on_packet`` must run in the reactor thread. Packets are always
            delivered in the reactor thread by this package; the flag is kept for API compatibility.
        """
        self.endpoint = endpoint
        self._use_main_thread = main_thread
        self._my_estimated_lan: Address | None = None
        self.my_estimated_wan: Address = self.my_estimated_lan

    @abc.abstractmethod
    def on_packet(self, packet: Packet) -> None:
        """Handle one datagram, given as ``(source_address, data)``."""

    @property
    def use_main_thread(self) -> bool:
        """Whether this listener asked to be called in the reactor thread."""
        return self._use_main_thread

    # -- own address guesses ---------------------------------------------------------------------

    @property
    def my_estimated_lan(self) -> Address:
        """
        Our best guess of the LAN address other machines on our network can reach us at.

        While the endpoint is closed this is the null address of the listener's family
        (``("0.0.0.0", 0)`` or ``("::1", 0)``). Once open, the first guess is the endpoint's own address
        when it is bound to a specific IP, otherwise a local interface address of the right family with the
        endpoint's port; it is remembered until overwritten.
        """
        if not self.endpoint.is_open():
            return UDPv6Address("::1", 0) if self.is_ipv6_listener else UDPv4Address("0.0.0.0", 0)
        if self._my_estimated_lan is None:
            bound_host, port = self.endpoint.get_address()[:2]
            # An endpoint bound to one specific address (a loopback test, a multi-homed server) is
            # reachable only there; only a wildcard bind makes the machine's interfaces relevant.
            host = bound_host if bound_host not in _WILDCARD_HOSTS else self._get_lan_address(True)[0]
            self._my_estimated_lan = UDPv6Address(host, port) if _is_ipv6_literal(host) else UDPv4Address(host, port)
        return self._my_estimated_lan

    @my_estimated_lan.setter
    def my_estimated_lan(self, value: Address) -> None:
        self._my_estimated_lan = value

    @property
    def is_ipv6_listener(self) -> bool:
        """Whether the endpoint this listener hangs on speaks IPv6 (decided by its bound address when open)."""
        if self.endpoint.is_open():
            return _is_ipv6_literal(self.endpoint.get_address()[0])
        if IMultiInterfaceEndpoint.providedBy(self.endpoint):
            return False  # a dispatcher prefers IPv4 while closed, like the UDP endpoint it starts with
        return isinstance(self.endpoint, Endpoint) and self.endpoint.SOCKET_FAMILY == socket.AF_INET6

    def get_ipv6_address(self) -> Address:
        """The endpoint's IPv6 address; for a dispatcher, the address of its ``UDPIPv6`` child."""
        if IMultiInterfaceEndpoint.providedBy(self.endpoint) and "UDPIPv6" in self.endpoint.interfaces:
            return self.endpoint.interfaces["UDPIPv6"].get_address()
        return self.endpoint.get_address()

    def _get_lan_address(self, bootstrap: bool = False) -> Address:
        """A local interface address of our family, with the endpoint's port (or 0 when ``bootstrap``)."""
        port = 0 if bootstrap else self.endpoint.get_address()[1]
        return self._guess_lan_address(get_lan_addresses()), port

    def _guess_lan_address(self, addresses: Iterable[str]) -> str:
        """Pick the first of ``addresses`` in the listener's family, or the loopback address if none is."""
        want_ipv6 = self.is_ipv6_listener
        for address in addresses:
            if _is_ipv6_literal(address) == want_ipv6:
                return address
        return "::1" if want_ipv6 else "127.0.0.1"

    # -- LAN tests -------------------------------------------------------------------------------

    @staticmethod
    def address_in_lan_subnets(address: str) -> bool:
        """
        Whether ``address`` lies in a private range (RFC 1918 for IPv4; unique-local or link-local for IPv6).

        Loopback addresses are not private ranges; anything that is not an IP literal gives False.
        """
        try:
            parsed = ipaddress.ip_address(address)
        except (ValueError, TypeError):
            return False
        return any(parsed.version == net.version and parsed in net for net in _PRIVATE_NETWORKS)

    @staticmethod
    def address_is_lan(address: str) -> bool:
        """Whether ``address`` is one of this machine's own (non-loopback) interface addresses."""
        return address in get_lan_addresses()


__all__ = [
    "DEFAULT_PREFIX_LENGTH",
    "DataTooBigException",
    "Endpoint",
    "EndpointClosedException",
    "EndpointConfigurationError",
    "EndpointListener",
    "IAnonymizingEndpoint",
    "IEndpoint",
    "IEndpointListener",
    "IMultiInterfaceEndpoint",
    "IllegalDestination",
    "IllegalEndpointListenerError",
    "InvalidPrefixError",
    "Packet",
]
