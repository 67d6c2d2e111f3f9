"""
Serverless bootstrapping on a LAN: shout on every UDP port of the broadcast address.

The bootstrapper opens a separate UDP socket with ``SO_BROADCAST`` and sends a small *beacon* to
``255.255.255.255`` on every port (0-65534 by default). The beacon is ``00 00`` (protocol version), the magic
``IPv8``, one zero byte and the 22-byte prefix of the community.

Every peer on the LAN that runs the same bootstrapper also has such a socket, bound to ``0.0.0.0``, so the
sweep reaches it whatever port it has. A peer that hears a beacon for its own community walks to the sender
(an introduction request to the sender's broadcast socket); the sender's broadcast socket passes every packet
that carries its community prefix on to its overlay, which answers from its normal endpoint. From then on the
two peers know each other through their normal endpoints.

A full sweep is 65535 datagrams. It is sent in batches spread over a few reactor turns, so the reactor
stays responsive and the socket's send buffer does not overflow; a sweep requested while one is still in
progress is skipped.
"""
from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from twisted.internet import error as twisted_errors
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import DatagramProtocol

from ...messaging.addresses import UDPv4Address
from ...messaging.interfaces.lan_addresses import get_lan_addresses
from ...util import get_reactor
from ..bootstrapper_interface import Bootstrapper

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IListeningPort

    from ...types import Address

PROTOCOL_VERSION = b"\x00\x00"
MAGIC = b"IPv8"
#: Everything in a beacon that precedes the community prefix.
BEACON_HEADER = PROTOCOL_VERSION + MAGIC + b"\x00"
#: The limited broadcast address: every host on the local link, never forwarded by routers.
BROADCAST_ADDRESS = "255.255.255.255"
#: The ports one sweep covers by default (pyipv8 beacons the same 0-65534).
BEACON_PORTS = range(65535)
#: Datagrams per batch and seconds between batches (a full sweep takes about 1.3 s).
DEFAULT_BATCH_SIZE = 512
DEFAULT_BATCH_INTERVAL = 0.01
DEFAULT_BOOTSTRAP_TIMEOUT = 30.0

logger = logging.getLogger(__name__)


def make_beacon(prefix: bytes) -> bytes:
    """
    The beacon announcing the community with this 22-byte ``prefix``.

    :raises ValueError: if ``prefix`` is not 22 bytes.
    """
    if not isinstance(prefix, bytes) or len(prefix) != 22:
        msg = f"a community prefix is 22 bytes, got {prefix!r}"
        raise ValueError(msg)
    return BEACON_HEADER + prefix


def _is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535


def _checked_ports(ports: Iterable[int]) -> Sequence[int]:
    """``ports`` as a sequence (ranges stay ranges, so the default costs no memory)."""
    if isinstance(ports, range):
        if len(ports) and not (_is_port(min(ports)) and _is_port(max(ports))):
            msg = f"ports must lie in 0-65535, got {ports!r}"
            raise ValueError(msg)
        return ports
    checked = tuple(ports)
    if not all(_is_port(port) for port in checked):
        msg = f"ports must be integers in 0-65535, got {checked!r}"
        raise ValueError(msg)
    return checked


class BroadcastProtocol(DatagramProtocol):
    """
    The protocol of the broadcast socket: recognises beacons and hands walk traffic to the overlay.

    :param overlay: the Community this socket bootstraps.
    """

    noisy = False

    def __init__(self, overlay: Any) -> None:  # noqa: ANN401
        self.overlay = overlay
        #: Datagrams that were neither a beacon nor traffic for our overlay.
        self.ignored = 0
        #: Beacons for other communities (valid, just not ours).
        self.foreign_beacons = 0
        #: Beacons of our own that came back to us.
        self.own_beacons = 0
        #: Beacons of other peers of our community, each answered with a walk.
        self.walks = 0

    def own_port(self) -> int | None:
        """The port this socket is bound to (None when not listening)."""
        if self.transport is None:
            return None
        return self.transport.getHost().port

    def _is_own_socket(self, address: tuple[str, int]) -> bool:
        if address[1] != self.own_port():
            return False
        return address[0] in get_lan_addresses() or ipaddress.ip_address(address[0]).is_loopback

    def datagramReceived(self, datagram: bytes, addr: tuple) -> None:  # noqa: N802 - Twisted's name
        """Walk to the sender of a beacon for our community; pass our community's packets to the overlay."""
        source = UDPv4Address(addr[0], addr[1])
        prefix = self.overlay.get_prefix()
        if datagram.startswith(BEACON_HEADER):
            if datagram[len(BEACON_HEADER):] != prefix:
                self.foreign_beacons += 1
            elif self._is_own_socket(source):
                self.own_beacons += 1
            else:
                self.walks += 1
                logger.debug("Beacon from %s: walking to it", source)
                self.overlay.walk_to(source)
        elif datagram.startswith(prefix):
            # Someone answered our beacon by walking to this socket: the overlay takes it from here.
            self.overlay.on_packet((source, datagram))
        else:
            self.ignored += 1


class BeaconSweep:
    """
    One pass of the beacon over a list of ports, in batches on the reactor.

    :param send: ``send(port)`` transmits the beacon to one port.
    :param ports: the ports to cover, in order.
    :param reactor: clock for the pauses between batches.
    """

    def __init__(self, send: Any, ports: Sequence[int], reactor: Any, batch_size: int,  # noqa: ANN401
                 batch_interval: float) -> None:
        self._send = send
        self._ports = ports
        self._reactor = reactor
        self._batch_size = batch_size
        self._batch_interval = batch_interval
        self._position = 0
        self._next: IDelayedCall | None = None
        self.done: Deferred = Deferred()

    @property
    def running(self) -> bool:
        """Whether ports are left to cover."""
        return not self.done.called

    def start(self) -> None:
        """Send the first batch now; the rest follow on later reactor turns."""
        self._batch()

    def cancel(self) -> None:
        """Stop sending; ``done`` fires with False."""
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None
        if not self.done.called:
            self.done.callback(False)

    def _batch(self) -> None:
        self._next = None
        end = min(self._position + self._batch_size, len(self._ports))
        for index in range(self._position, end):
            self._send(self._ports[index])
        self._position = end
        if end < len(self._ports):
            self._next = self._reactor.callLater(self._batch_interval, self._batch)
        elif not self.done.called:
            self.done.callback(True)


class UDPBroadcastBootstrapper(Bootstrapper):
    """
    Find peers on the local network by broadcasting beacons on every UDP port.

    :param bootstrap_timeout: minimum seconds between two sweeps started by :meth:`get_addresses`.
    :param ports: the destination ports of a sweep (all of 0-65534 by default; tests use a few).
    :param broadcast_port: local port of the broadcast socket (0: any free port). Peers find each other only
        if each one's broadcast port is among the other's sweep ports.
    :param broadcast_address: where beacons go; the limited broadcast address by default.
    :param reactor: the reactor that opens the socket and paces the sweep (the global one by default).
    :param batch_size: beacons sent per reactor turn.
    :param batch_interval: seconds between two batches.
    :raises ValueError: for ports outside 0-65535, a ``broadcast_address`` that is not an IPv4 literal, or
        non-positive batch settings.
    """

    def __init__(self, bootstrap_timeout: float = DEFAULT_BOOTSTRAP_TIMEOUT, *,  # noqa: PLR0913
                 ports: Iterable[int] = BEACON_PORTS, broadcast_port: int = 0,
                 broadcast_address: str = BROADCAST_ADDRESS, reactor: Any = None,  # noqa: ANN401
                 batch_size: int = DEFAULT_BATCH_SIZE, batch_interval: float = DEFAULT_BATCH_INTERVAL) -> None:
        super().__init__()
        self.ports: Sequence[int] = _checked_ports(ports)
        if not _is_port(broadcast_port):
            msg = f"broadcast_port must be an integer in 0-65535, got {broadcast_port!r}"
            raise ValueError(msg)
        try:
            ipaddress.IPv4Address(broadcast_address)
        except ValueError as exc:
            msg = f"broadcast_address must be an IPv4 literal, got {broadcast_address!r}"
            raise ValueError(msg) from exc
        if batch_size < 1 or batch_interval < 0 or bootstrap_timeout < 0:
            msg = "batch_size must be >= 1; batch_interval and bootstrap_timeout must be >= 0"
            raise ValueError(msg)
        self.bootstrap_timeout = bootstrap_timeout
        self.broadcast_port = broadcast_port
        self.broadcast_address = broadcast_address
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self._reactor = reactor
        self.overlay: Any = None
        self.protocol: BroadcastProtocol | None = None
        self._port: IListeningPort | None = None
        self._sweep: BeaconSweep | None = None
        self._last_sweep: float | None = None
        #: Beacons handed to the socket, and beacons the operating system refused.
        self.beacons_sent = 0
        self.send_errors = 0

    @property
    def reactor(self) -> Any:  # noqa: ANN401
        """The reactor in use."""
        if self._reactor is None:
            self._reactor = get_reactor()
        return self._reactor

    # -- IBootstrapper -----------------------------------------------------------------------------

    def initialize(self, overlay: Any) -> Deferred:  # noqa: ANN401
        """
        Open the broadcast socket for ``overlay`` and start the first sweep.

        :returns: a Deferred firing True when the socket is open, False when it could not be opened.
        """
        if self.initialized:
            return succeed(self._port is not None)
        self.initialized = True
        self.overlay = overlay
        protocol = BroadcastProtocol(overlay)
        try:
            port = self.reactor.listenUDP(self.broadcast_port, protocol, interface="0.0.0.0")
        except twisted_errors.CannotListenError as exc:
            logger.warning("No UDP broadcast bootstrapping: cannot open a socket on port %d: %s",
                           self.broadcast_port, exc)
            return succeed(False)
        try:
            port.setBroadcastAllowed(True)
        except (OSError, AttributeError) as exc:
            logger.warning("No UDP broadcast bootstrapping: broadcasting is not allowed: %s", exc)
            port.stopListening()
            return succeed(False)
        self._port = port
        self.protocol = protocol
        self.beacon(overlay.get_prefix())
        return succeed(True)

    def get_addresses(self, overlay: Any, timeout: float) -> Deferred:  # noqa: ANN401
        """Start a sweep (at most once per ``bootstrap_timeout``); peers answer later, so this returns ``[]``."""
        now = self.reactor.seconds()
        if self._last_sweep is None or now - self._last_sweep >= self.bootstrap_timeout:
            self._last_sweep = now
            self.beacon(overlay.get_prefix())
        return succeed([])

    def keep_alive(self, overlay: Any) -> None:  # noqa: ANN401
        """Sweep again, so peers that joined the LAN since the last sweep hear about us."""
        self.beacon(overlay.get_prefix())

    def blacklist(self) -> list[Address]:
        """Nothing to blacklist: every peer that answers a beacon is a real peer."""
        return []

    def unload(self) -> None:
        """Stop the sweep in progress and close the broadcast socket."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        port, self._port = self._port, None
        if port is not None:
            port.stopListening()

    # -- beacons -----------------------------------------------------------------------------------

    @property
    def sweeping(self) -> bool:
        """Whether a sweep is in progress."""
        return self._sweep is not None and self._sweep.running

    def beacon(self, prefix: bytes) -> Deferred | None:
        """
        Start a sweep announcing the community with ``prefix``, unless one is running already.

        :returns: a Deferred that fires True when the sweep finished (False if it was cancelled), or None
            when nothing was started (socket closed or a sweep in progress).
        """
        if self._port is None or self.sweeping:
            return None
        beacon = make_beacon(prefix)
        sweep = BeaconSweep(lambda port: self._send_beacon(beacon, port), self.ports, self.reactor,
                            self.batch_size, self.batch_interval)
        self._sweep = sweep
        sweep.start()
        return sweep.done

    def _send_beacon(self, beacon: bytes, port: int) -> None:
        if self._port is None:
            return
        try:
            self._port.write(beacon, (self.broadcast_address, port))
        except (OSError, twisted_errors.MessageLengthError):
            # Some ports (0 on Linux) are refused outright; a full send buffer refuses a few more.
            self.send_errors += 1
        else:
            self.beacons_sent += 1


__all__ = [
    "BEACON_HEADER",
    "BEACON_PORTS",
    "BROADCAST_ADDRESS",
    "MAGIC",
    "PROTOCOL_VERSION",
    "BeaconSweep",
    "BroadcastProtocol",
    "UDPBroadcastBootstrapper",
    "make_beacon",
]
