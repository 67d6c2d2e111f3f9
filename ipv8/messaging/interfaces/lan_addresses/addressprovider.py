"""Base class for the ways of listing this machine's network interfaces.

A provider only *reads* local state (kernel tables, ``getifaddrs``): none of them sends a packet or
resolves a name. Results are remembered, and re-read at most once per ``min_interval`` seconds.
"""
from __future__ import annotations

import abc
import ipaddress
import logging
from typing import TYPE_CHECKING, Union

from ....util import get_reactor

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

#: An interface address together with its network, e.g. ``IPv4Interface("192.168.1.7/24")``.
InterfaceAddress = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]


class AddressProvider(abc.ABC):
    """Lists local interface addresses through one OS mechanism, with a small time-based cache."""

    def __init__(self, verbose: bool = False, clock: IReactorTime | None = None) -> None:
        """
        Create a provider that has not looked at the system yet.

        :param verbose: log failures of the underlying mechanism at warning level instead of debug.
        :param clock: the clock of the refresh interval; the global reactor by default.
        """
        self.verbose = verbose
        self._clock = clock
        self._logger = logging.getLogger(type(self).__name__)
        self._interfaces: list[InterfaceAddress] = []
        self._read_at: float | None = None

    @abc.abstractmethod
    def get_interfaces(self) -> list[InterfaceAddress]:
        """Read the interface addresses (with their prefix length) from the system right now."""

    def get_addresses(self) -> set[str]:
        """Read the interface addresses from the system right now, as plain strings."""
        return {str(entry.ip) for entry in self.get_interfaces()}

    def on_exception(self) -> None:
        """Report a failure of the underlying mechanism (called from an ``except`` block)."""
        level = logging.WARNING if self.verbose else logging.DEBUG
        self._logger.log(level, "Could not list interface addresses", exc_info=True)

    def discover_addresses(self, min_interval: float = 10.0) -> None:
        """Refresh the remembered addresses, unless the last refresh is less than ``min_interval`` seconds old."""
        now = (self._clock if self._clock is not None else get_reactor()).seconds()
        if self._read_at is not None and now - self._read_at < min_interval:
            return
        self._read_at = now
        try:
            self._interfaces = self.get_interfaces()
        except Exception:
            # A provider that breaks must not take address guessing down with it.
            self.on_exception()
            self._interfaces = []

    def get_interfaces_buffered(self) -> list[InterfaceAddress]:
        """The remembered interface addresses, read from the system first if never read before."""
        if self._read_at is None:
            self.discover_addresses()
        return list(self._interfaces)

    def get_addresses_buffered(self) -> set[str]:
        """The remembered addresses as strings, read from the system first if never read before."""
        return {str(entry.ip) for entry in self.get_interfaces_buffered()}


__all__ = ["AddressProvider", "InterfaceAddress"]
