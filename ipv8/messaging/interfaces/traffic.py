"""Traffic bookkeeping shared by every endpoint.

An endpoint owns one :class:`TrafficCounters` and reports into it whenever a datagram goes out, comes
in, or is thrown away. Drops are kept per reason so an operator can tell a full socket buffer apart
from a peer that keeps sending to an IPv6 address over IPv4.
"""
from __future__ import annotations


class DropReason:
    """The reasons an endpoint records when it discards a datagram (plain strings, usable as dict keys)."""

    #: ``send()`` was called while the endpoint was not open (or was closing).
    CLOSED = "closed"
    #: The datagram is larger than the biggest UDP payload of the address family.
    OVERSIZE = "oversize"
    #: The destination could not be used: not an ``(ip, port)`` pair, a host name, or the wrong family.
    BAD_ADDRESS = "bad_address"
    #: The operating system refused the datagram (unreachable network, full buffer, ...).
    SEND_ERROR = "send_error"
    #: A datagram arrived from an address family this endpoint does not serve (e.g. IPv4-mapped IPv6).
    UNSUPPORTED_FAMILY = "unsupported_family"
    #: A datagram arrived after the endpoint was closed.
    RECEIVED_WHILE_CLOSED = "received_while_closed"
    #: No child endpoint of a dispatcher serves the destination's address family.
    NO_INTERFACE = "no_interface"


class TrafficCounters:
    """Byte, packet and drop counts of one endpoint since it was created or last reset."""

    __slots__ = ("bytes_down", "bytes_up", "drops", "listener_failures", "packets_received", "packets_sent")

    def __init__(self) -> None:
        """Start with every count at zero."""
        self.bytes_up = 0
        self.bytes_down = 0
        self.packets_sent = 0
        self.packets_received = 0
        self.listener_failures = 0
        self.drops: dict[str, int] = {}

    def reset(self) -> None:
        """Set every count back to zero."""
        self.bytes_up = self.bytes_down = 0
        self.packets_sent = self.packets_received = 0
        self.listener_failures = 0
        self.drops = {}

    @property
    def packets_dropped(self) -> int:
        """All discarded datagrams, whatever the reason."""
        return sum(self.drops.values())

    def count_sent(self, size: int) -> None:
        """Record one datagram of ``size`` bytes handed to the operating system."""
        self.packets_sent += 1
        self.bytes_up += size

    def count_received(self, size: int) -> None:
        """Record one datagram of ``size`` bytes accepted for delivery to listeners."""
        self.packets_received += 1
        self.bytes_down += size

    def count_drop(self, reason: str) -> None:
        """Record one discarded datagram under ``reason`` (normally a :class:`DropReason` value)."""
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def count_listener_failure(self) -> None:
        """Record that a listener raised while handling a packet."""
        self.listener_failures += 1

    def as_dict(self) -> dict[str, object]:
        """A plain snapshot, handy for logging or a REST answer."""
        return {
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "packets_sent": self.packets_sent,
            "packets_received": self.packets_received,
            "packets_dropped": self.packets_dropped,
            "drops": dict(self.drops),
            "listener_failures": self.listener_failures,
        }


__all__ = ["DropReason", "TrafficCounters"]
