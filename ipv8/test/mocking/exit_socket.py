"""Exit sockets on the in-memory internet, so tunnel tests never open real UDP ports.

An exit socket (:class:`~ipv8.messaging.anonymization.exit_socket.TunnelExitSocket`) opens its UDP port with
``listenUDP`` of the reactor it was given; the TunnelCommunity passes ``TunnelSettings.exit_reactor``. Give
that setting a :class:`MockExitReactor` and every exit port becomes a fresh mock endpoint on the test's
:class:`~ipv8.test.mocking.endpoint.Internet`, with an address of its own (as a real exit port has a port of
its own). Everything else is the real exit socket: the exit policy, the destination checks and the drop
counters all apply. Nodes on the in-memory internet reach the exit port and get answers from it::

    settings = TunnelSettings(exit_reactor=MockExitReactor(self.internet), peer_flags={PEER_FLAG_EXIT_IPV8})

:class:`MockTunnelExitSocket` is pyipv8's way of doing the same for one exit socket after the fact: it
replaces an exit socket that the community already created.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ...messaging.anonymization.exit_socket import TunnelExitSocket
from ...messaging.interfaces.endpoint import IEndpointListener
from .endpoint import AutoMockEndpoint, Internet, UnknownAddressError

if TYPE_CHECKING:
    from twisted.internet.protocol import DatagramProtocol

    from ...messaging.interfaces.endpoint import Packet


@implementer(IEndpointListener)
class MockUDPPort:
    """One exit port: a mock endpoint on the in-memory internet, serving as the protocol's transport.

    :ivar undeliverable: datagrams written to addresses nobody on the internet owns (a real UDP socket would
        not notice either, so they are counted instead of raising).
    """

    def __init__(self, protocol: DatagramProtocol, internet: Internet | None = None) -> None:
        """Attach a new mock endpoint to ``internet`` and make this port the transport of ``protocol``."""
        self.protocol = protocol
        self.endpoint = AutoMockEndpoint(internet)
        self.endpoint.open()
        self.endpoint.add_listener(self)
        self.undeliverable = 0
        self.listening = True
        protocol.makeConnection(self)  # type: ignore[arg-type]

    # -- the transport the protocol writes to ----------------------------------------------------------

    def write(self, data: bytes, addr: tuple) -> None:
        """Send ``data`` to ``addr`` on the in-memory internet; nothing happens once stopped."""
        if not self.listening:
            return
        try:
            self.endpoint.send(addr, data)
        except UnknownAddressError:
            self.undeliverable += 1

    def on_packet(self, packet: Packet) -> None:
        """A datagram reached this port: hand it to the protocol as a socket would."""
        if self.listening:
            source, data = packet
            self.protocol.datagramReceived(data, (source[0], source[1]))

    # -- the IListeningPort side -----------------------------------------------------------------------

    def getHost(self) -> IPv4Address:  # noqa: N802 - Twisted's name
        """The address others reach this port at."""
        host, port = self.endpoint.wan_address
        return IPv4Address("UDP", host, port)

    def stopListening(self) -> Deferred[None]:  # noqa: N802 - Twisted's name
        """Leave the internet (the address becomes unknown) and stop the protocol."""
        if self.listening:
            self.listening = False
            self.endpoint.internet.unregister(self.endpoint)
            self.endpoint.close()
            self.protocol.doStop()
        return succeed(None)


class MockExitReactor:
    """What exit sockets call ``listenUDP`` on, in tests: every port is a :class:`MockUDPPort`.

    :param internet: the in-memory internet the ports join (the module default when omitted; tests pass
        ``TestBase.internet``).
    """

    def __init__(self, internet: Internet | None = None) -> None:
        """Create a reactor without ports."""
        self.internet = internet
        #: Every port handed out, in order (stopped ones included).
        self.ports: list[MockUDPPort] = []

    def listenUDP(self, port: int, protocol: DatagramProtocol, interface: str = "",  # noqa: N802
                  maxPacketSize: int = 8192) -> MockUDPPort:  # noqa: N803 - Twisted's names
        """A new port on the in-memory internet; ``port``, ``interface`` and ``maxPacketSize`` do not matter."""
        listening = MockUDPPort(protocol, self.internet)
        self.ports.append(listening)
        return listening


class MockTunnelExitSocket(TunnelExitSocket):
    """An exit socket like ``parent`` (same circuit, hop, receiver, policy and clock) on the in-memory internet.

    Put it in the community's ``exit_sockets`` in place of ``parent``; closing it closes ``parent`` too. When
    ``parent`` was already listening, this one listens at once.

    :param parent: the exit socket to replace.
    :param internet: the in-memory internet to join (the module default when omitted).
    """

    def __init__(self, parent: TunnelExitSocket, internet: Internet | None = None) -> None:
        """Copy ``parent``'s circuit and settings; see the class documentation."""
        super().__init__(parent.circuit_id, parent.hop, parent.receiver, parent.policy, interface=parent.interface,
                         resolver=parent.resolver, reactor=MockExitReactor(internet), clock=parent.clock,
                         allow_loopback=parent.allow_loopback)
        self.parent = parent
        self.creation_time = parent.creation_time
        self.last_activity = parent.last_activity
        if parent.enabled:
            self.enable()

    @property
    def port(self) -> MockUDPPort | None:
        """The in-memory port, once listening."""
        return self._port  # type: ignore[return-value]

    def close(self) -> Deferred[None]:
        """Close this socket and the one it replaced."""
        closing = super().close()
        return closing.addCallback(lambda _: self.parent.close()).addCallback(lambda _: None)


__all__ = ["MockExitReactor", "MockTunnelExitSocket", "MockUDPPort"]
