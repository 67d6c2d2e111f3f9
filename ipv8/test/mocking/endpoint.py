"""An in-memory "internet" and endpoints attached to it, for fast deterministic overlay tests.

Every :class:`MockEndpoint` registers its LAN and WAN address in an :class:`Internet`. Sending schedules
the delivery on the reactor (never a direct call, so two handlers answering each other cannot recurse
without bound). The internet counts packets in flight, which is what lets
:meth:`ipv8.test.base.TestBase.deliver_messages` know that the network has gone quiet. Links can be given a
latency and a loss rate for simple simulations.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import succeed
from zope.interface import implementer

from ...messaging.addresses import UDPv4Address
from ...messaging.interfaces.endpoint import Endpoint, IEndpoint

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime
    from twisted.internet.defer import Deferred

    from ...types import Address


class UnknownAddressError(AssertionError):
    """A test node sent a packet to an address that no mock endpoint owns."""


class Internet:
    """
    The shared medium of mock endpoints.

    :param clock: the clock that schedules deliveries (the global reactor by default).
    :param seed: seed for the loss decisions, so lossy runs are reproducible.
    """

    def __init__(self, clock: IReactorTime | None = None, seed: int | None = None) -> None:
        self.endpoints: dict[Address, MockEndpoint] = {}
        self.in_flight = 0
        self.delivered = 0
        self.lost = 0
        self.default_latency = 0.0
        self.default_loss = 0.0
        self._link_latency: dict[tuple[Address, Address], float] = {}
        self._link_loss: dict[tuple[Address, Address], float] = {}
        self._random = random.Random(seed)
        self._clock = clock
        self._next_host = 1
        #: Errors raised while delivering (for example by fragile overlays); TestBase fails the test on them.
        self.errors: list[BaseException] = []

    @property
    def clock(self) -> IReactorTime:
        """The clock deliveries are scheduled on."""
        if self._clock is None:
            from twisted.internet import reactor
            self._clock = reactor
        return self._clock

    def allocate_addresses(self) -> tuple[UDPv4Address, UDPv4Address]:
        """
        A fresh (LAN, WAN) address pair.

        They come from the benchmarking block 198.18.0.0/15, which no real LAN uses, so no node mistakes
        a mock peer for a machine on the test host's own network. Nothing is ever sent to them.
        """
        host = self._next_host
        self._next_host += 1
        high, low = divmod(host, 250)
        return (UDPv4Address(f"198.19.{high % 250}.{low + 1}", 8000 + host % 50000),
                UDPv4Address(f"198.18.{high % 250}.{low + 1}", 8000 + host % 50000))

    def set_link(self, source: Address, destination: Address, latency: float | None = None,
                 loss: float | None = None) -> None:
        """Give the one-way link ``source`` → ``destination`` a latency (seconds) and/or a loss rate (0-1)."""
        if latency is not None:
            self._link_latency[(source, destination)] = latency
        if loss is not None:
            self._link_loss[(source, destination)] = loss

    def register(self, address: Address, endpoint: MockEndpoint) -> None:
        self.endpoints[address] = endpoint

    def unregister(self, endpoint: MockEndpoint) -> None:
        for address in [address for address, owner in self.endpoints.items() if owner is endpoint]:
            del self.endpoints[address]

    def transmit(self, source: Address, destination: Address, data: bytes) -> None:
        """Schedule the delivery of ``data`` from ``source`` to the owner of ``destination``."""
        target = self.endpoints.get(destination)
        if target is None:
            raise UnknownAddressError(f"no mock endpoint has address {destination!r}")
        link = (source, destination)
        if self._random.random() < self._link_loss.get(link, self.default_loss):
            self.lost += 1
            return
        self.in_flight += 1
        self.clock.callLater(self._link_latency.get(link, self.default_latency), self._arrive, target, source, data)

    def _arrive(self, target: MockEndpoint, source: Address, data: bytes) -> None:
        self.in_flight -= 1
        self.delivered += 1
        try:
            target.receive(source, data)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to report
            self.errors.append(exc)


#: The internet used when a mock endpoint is not given one explicitly.
internet = Internet()


@implementer(IEndpoint)
class MockEndpoint(Endpoint):
    """An endpoint with a fixed LAN and WAN address on an in-memory :class:`Internet`."""

    def __init__(self, lan_address: Address, wan_address: Address, network: Internet | None = None) -> None:
        super().__init__()
        self.internet = network if network is not None else internet
        self.lan_address = lan_address
        self.wan_address = wan_address
        self.internet.register(lan_address, self)
        self.internet.register(wan_address, self)
        self._open = False

    def is_open(self) -> bool:
        return self._open

    def get_address(self) -> Address:
        return self.wan_address

    def open(self) -> Deferred:
        self._open = True
        return succeed(True)

    def close(self, timeout: float = 0.0) -> Deferred:
        self._open = False
        return succeed(None)

    def send(self, socket_address: Address, packet: bytes) -> None:
        """Hand ``packet`` to the internet; a closed endpoint drops it."""
        if not self._open:
            return
        self.bytes_up += len(packet)
        self.internet.transmit(self.wan_address, tuple(socket_address), packet)  # type: ignore[arg-type]

    def receive(self, source: Address, packet: bytes) -> None:
        """Called by the internet when a packet arrives."""
        if not self._open:
            return
        self.bytes_down += len(packet)
        self.notify_listeners((UDPv4Address(*source), packet))

    def deliver(self, listener: Any, packet: tuple[Address, bytes]) -> bool:
        """
        Hand a packet to a listener without containing its exceptions.

        The internet records them and ``TestBase.deliver_messages`` raises the first one, so that a
        fragile overlay's bug fails the test instead of disappearing into a log line.
        """
        listener.on_packet(packet)
        return True

    def reset_byte_counters(self) -> None:
        self.bytes_up = 0
        self.bytes_down = 0


class AutoMockEndpoint(MockEndpoint):
    """A mock endpoint that picks its own unique addresses."""

    def __init__(self, network: Internet | None = None) -> None:
        network = network if network is not None else internet
        lan, wan = network.allocate_addresses()
        super().__init__(lan, wan, network)
