"""Shared helpers for the endpoint tests: listeners that record, an in-memory endpoint, reactor polling."""
from __future__ import annotations

import socket
from typing import Any, Callable

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, succeed

from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.endpoint import Endpoint, EndpointListener
from ipv8.test.util import wait_until as shared_wait_until

PREFIX_A = b"\x00\x02" + b"A" * 20
PREFIX_B = b"\x00\x02" + b"B" * 20


class RecordingListener(EndpointListener):
    """Keeps every packet it gets; raises on each packet when ``explode`` is set."""

    def __init__(self, endpoint: Endpoint, explode: bool = False) -> None:
        super().__init__(endpoint)
        self.packets: list[tuple[Any, bytes]] = []
        self.explode = explode

    def on_packet(self, packet: tuple[Any, bytes]) -> None:
        self.packets.append(packet)
        if self.explode:
            raise RuntimeError("listener failure on purpose")

    @property
    def payloads(self) -> list[bytes]:
        return [data for _, data in self.packets]


class MemoryEndpoint(Endpoint):
    """An endpoint without a network: ``send`` records, ``inject`` plays a received packet."""

    def __init__(self, address: tuple[str, int] = UDPv4Address("127.0.0.1", 4000)) -> None:
        super().__init__()
        self.address = address
        # Closed endpoints tell listeners their family through this attribute, like the UDP endpoints do.
        self.SOCKET_FAMILY = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.opened = False
        self.sent: list[tuple[Any, bytes]] = []

    def is_open(self) -> bool:
        return self.opened

    def get_address(self) -> tuple[str, int]:
        self.assert_open()
        return self.address

    def send(self, socket_address: Any, packet: bytes) -> None:  # noqa: ANN401
        self.sent.append((socket_address, packet))
        self.counters.count_sent(len(packet))

    def open(self) -> Deferred:
        self.opened = True
        return succeed(True)

    def close(self) -> Deferred:
        self.opened = False
        return succeed(None)

    def inject(self, source: Any, data: bytes) -> None:  # noqa: ANN401
        self.counters.count_received(len(data))
        self.notify_listeners((source, data))


def loopback_available(family: int, host: str) -> bool:
    """Whether a UDP socket can be bound to ``host`` (used to skip IPv6 tests on hosts without ::1)."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
    except OSError:
        return False
    return True


IPV6_LOOPBACK = loopback_available(socket.AF_INET6, "::1") if socket.has_ipv6 else False


def wait_until(condition: Callable[[], object], timeout: float = 1.0, step: float = 0.002) -> Deferred[None]:
    """:func:`ipv8.test.util.wait_until` with the short defaults of the endpoint tests."""
    return shared_wait_until(condition, timeout, step)


def settle(delay: float = 0.02) -> Deferred:
    """Give the reactor a moment, for tests asserting that something does *not* arrive."""
    return task.deferLater(reactor, delay, lambda: None)
