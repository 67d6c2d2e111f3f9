"""
A tracker (bootstrap server, rendezvous node): introduces peers of any community to each other.

The tracker is not a member of any community. It listens on a bare UDP endpoint and answers introduction
requests (old style, message 246, and new style, message 234) whatever their 22-byte community prefix.
It remembers who asked about which prefix and answers each request by introducing the requester to another
peer that recently asked about the same prefix; that peer gets a puncture request, so it opens its NAT
towards the requester, exactly as a Community does when it introduces someone.

Its state is bounded, because anybody on the internet can send it requests:

* at most ``max_communities`` prefixes are remembered; the one asked about least recently is forgotten first;
* at most ``max_peers_per_community`` peers per prefix; the one heard from least recently is forgotten first;
* peers that stayed silent for ``peer_timeout`` seconds (120) are dropped by a check every
  ``cleanup_interval`` seconds (30).

Packets that are not well-formed, correctly signed introduction requests are dropped and counted per reason
in :attr:`EndpointServer.drop_counts`. The tracker signs its messages with a throwaway curve25519 key.

Run it with ``twistd -n tracker --listen_port=PORT`` (see ``twisted/plugins/tracker_plugin.py``) or
``bin/ipv8-tracker --listen_port=PORT``; in Python, use :class:`TrackerService` or :class:`EndpointServer`.
"""
from __future__ import annotations

import ipaddress
import logging
import random
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

from twisted.application.service import Service
from twisted.internet.defer import maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python import usage

from .keyvault.crypto import default_eccrypto
from .lazy_community import HEADER_SIZE, InvalidSignatureError, PacketDecodingError, split_signed_packet
from .messaging.addresses import UDPv4Address, UDPv4LANAddress, UDPv6Address
from .messaging.interfaces.endpoint import EndpointListener
from .messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv6Endpoint
from .messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload,
                                NewIntroductionRequestPayload, NewIntroductionResponsePayload,
                                NewPunctureRequestPayload, PunctureRequestPayload)
from .messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from .messaging.serialization import PackError, Serializer
from .peer import Peer
from .taskmanager import TaskManager
from .util import get_reactor

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from .keyvault.keys import PrivateKey
    from .messaging.interfaces.endpoint import Endpoint
    from .types import Address

#: Seconds of silence after which a peer is no longer introduced to anyone.
PEER_TIMEOUT = 120.0
#: Seconds between two checks for silent peers.
CLEANUP_INTERVAL = 30.0
DEFAULT_MAX_COMMUNITIES = 1000
DEFAULT_MAX_PEERS_PER_COMMUNITY = 100
DEFAULT_LISTEN_IP = "0.0.0.0"

NO_ADDRESS = UDPv4Address("0.0.0.0", 0)
_REQUEST_CLASSES: dict[int, type] = {
    IntroductionRequestPayload.msg_id: IntroductionRequestPayload,
    NewIntroductionRequestPayload.msg_id: NewIntroductionRequestPayload,
}

# Reasons under which EndpointServer.drop_counts files a dropped packet.
DROP_TOO_SHORT = "too-short"
DROP_NOT_A_REQUEST = "not-a-request"
DROP_MALFORMED = "malformed"
DROP_BAD_SIGNATURE = "bad-signature"
DROP_OWN_PACKET = "own-packet"

logger = logging.getLogger(__name__)


class TrackerConfigurationError(ValueError):
    """The tracker was given an unusable listen address or limit."""


class TrackerStartError(RuntimeError):
    """The tracker could not bind its UDP port."""


def _is_ipv4(address: object) -> bool:
    address_type = type(address)
    if address_type is UDPv4Address or address_type is UDPv4LANAddress:
        return True  # endpoints and the serializer only make these for valid IPv4 literals
    if address_type is UDPv6Address:
        return False
    if not isinstance(address, tuple) or len(address) != 2 or not isinstance(address[0], str):
        return False
    try:
        ipaddress.IPv4Address(address[0])
    except ValueError:
        return False
    return True


def _ipv4_or_nothing(address: Address) -> Address:
    """The address itself if an old-style (IPv4-only) message can carry it, else 0.0.0.0:0."""
    return address if _is_ipv4(address) else NO_ADDRESS


class TrackedPeer:
    """
    What the tracker knows about one peer of one community.

    :ivar key_bin: the public key the peer signed its last request with.
    :ivar address: where its requests come from (its WAN address, as far as we can tell).
    :ivar lan_address: the LAN address it claims in its requests.
    :ivar new_style: whether it understands the new-style (IPv6-capable) messages.
    :ivar last_seen: the reactor time of its last request.
    :ivar ipv4: whether ``address`` is an IPv4 address (old-style answers can only introduce those).
    """

    __slots__ = ("address", "ipv4", "key_bin", "lan_address", "last_seen", "new_style")

    def __init__(self, key_bin: bytes, address: Address, lan_address: Address, new_style: bool,
                 last_seen: float) -> None:
        self.key_bin = key_bin
        self.address = address
        self.lan_address = lan_address
        self.new_style = new_style
        self.last_seen = last_seen
        self.ipv4 = _is_ipv4(address)

    def __repr__(self) -> str:
        return f"TrackedPeer({self.address[0]}:{self.address[1]}, last_seen={self.last_seen:.1f})"


class CommunityDirectory:
    """
    Bounded memory of which peers recently asked about which community prefix.

    Both levels are kept in least-recently-used order, so evicting and expiring always start at the front.

    :param max_communities: how many prefixes to remember at most.
    :param max_peers_per_community: how many peers to remember per prefix at most.
    :raises TrackerConfigurationError: if a limit is smaller than 1.
    """

    def __init__(self, max_communities: int = DEFAULT_MAX_COMMUNITIES,
                 max_peers_per_community: int = DEFAULT_MAX_PEERS_PER_COMMUNITY) -> None:
        if max_communities < 1 or max_peers_per_community < 1:
            msg = "max_communities and max_peers_per_community must be at least 1"
            raise TrackerConfigurationError(msg)
        self.max_communities = max_communities
        self.max_peers_per_community = max_peers_per_community
        self._communities: OrderedDict[bytes, OrderedDict[Address, TrackedPeer]] = OrderedDict()
        self._peer_total = 0
        #: How many prefixes and peers were forgotten to make room for newer ones.
        self.evicted_communities = 0
        self.evicted_peers = 0

    @property
    def community_count(self) -> int:
        """How many prefixes are remembered."""
        return len(self._communities)

    @property
    def peer_count(self) -> int:
        """How many (prefix, peer) entries are remembered in total."""
        return self._peer_total

    def communities(self) -> list[bytes]:
        """The remembered prefixes, least recently asked about first."""
        return list(self._communities)

    def peers(self, prefix: bytes) -> list[TrackedPeer]:
        """The peers remembered for ``prefix``, least recently heard from first."""
        return list(self._communities.get(prefix, {}).values())

    def record(self, prefix: bytes, peer: TrackedPeer) -> None:
        """Remember (or refresh) ``peer`` as a member of ``prefix``, evicting the stalest entries if needed."""
        members = self._communities.get(prefix)
        if members is None:
            if len(self._communities) >= self.max_communities:
                _, evicted = self._communities.popitem(last=False)
                self._peer_total -= len(evicted)
                self.evicted_communities += 1
            members = self._communities[prefix] = OrderedDict()
        else:
            self._communities.move_to_end(prefix)
        if peer.address in members:
            members.move_to_end(peer.address)
        else:
            if len(members) >= self.max_peers_per_community:
                members.popitem(last=False)
                self._peer_total -= 1
                self.evicted_peers += 1
            self._peer_total += 1
        members[peer.address] = peer

    def pick(self, prefix: bytes, requester: TrackedPeer, ipv4_only: bool = False,
             rng: random.Random | None = None) -> TrackedPeer | None:
        """
        A random peer of ``prefix`` to introduce to ``requester``: never the requester itself.

        :param ipv4_only: only consider peers reachable over IPv4 (for old-style answers).
        """
        members = self._communities.get(prefix)
        if not members:
            return None
        candidates = [peer for peer in members.values()
                      if peer.address != requester.address and peer.key_bin != requester.key_bin
                      and (peer.ipv4 or not ipv4_only)]
        if not candidates:
            return None
        return (rng or random).choice(candidates)

    def expire(self, silent_since: float) -> int:
        """
        Forget every peer last heard from before ``silent_since``, and prefixes left without peers.

        :returns: how many peers were forgotten.
        """
        dropped = 0
        for prefix in list(self._communities):
            members = self._communities[prefix]
            while members:
                oldest = next(iter(members.values()))
                if oldest.last_seen >= silent_since:
                    break
                members.popitem(last=False)
                dropped += 1
            if not members:
                del self._communities[prefix]
        self._peer_total -= dropped
        return dropped


class EndpointServer(EndpointListener, TaskManager):
    """
    The tracker logic on top of any endpoint: answers introduction requests for every community.

    :param endpoint: the endpoint to serve on; the server listens to all of its packets.
    :param key: the private key to sign with (a fresh curve25519 key by default).
    :param reactor: clock for the silence checks (the global reactor by default).
    :param peer_timeout: seconds of silence after which a peer is forgotten.
    :param cleanup_interval: seconds between two checks for silent peers.
    :param max_communities: how many community prefixes to remember at most.
    :param max_peers_per_community: how many peers per prefix to remember at most.
    :param rng: the random source for choosing introductions (tests seed it).
    :raises TrackerConfigurationError: for non-positive times or limits.
    """

    def __init__(self, endpoint: Endpoint, *, key: PrivateKey | None = None,  # noqa: PLR0913
                 reactor: Any = None, peer_timeout: float = PEER_TIMEOUT,  # noqa: ANN401
                 cleanup_interval: float = CLEANUP_INTERVAL, max_communities: int = DEFAULT_MAX_COMMUNITIES,
                 max_peers_per_community: int = DEFAULT_MAX_PEERS_PER_COMMUNITY,
                 rng: random.Random | None = None) -> None:
        if peer_timeout <= 0 or cleanup_interval <= 0:
            msg = "peer_timeout and cleanup_interval must be positive"
            raise TrackerConfigurationError(msg)
        EndpointListener.__init__(self, endpoint)
        TaskManager.__init__(self, reactor)
        self._time_source = reactor
        self.my_peer = Peer(key if key is not None else default_eccrypto.generate_key("curve25519"))
        self._my_key_bin = self.my_peer.public_key.key_to_bin()
        self._auth = BinMemberAuthenticationPayload(self._my_key_bin)
        self.serializer = Serializer()
        self.peer_timeout = peer_timeout
        self.directory = CommunityDirectory(max_communities, max_peers_per_community)
        self.rng = rng or random.Random()
        self._global_time = 0
        #: Dropped packets per reason (the ``DROP_*`` constants of this module).
        self.drop_counts: Counter[str] = Counter()
        #: Requests answered, and how many of those answers introduced someone.
        self.requests_answered = 0
        self.introductions = 0
        self.logger = logging.getLogger(type(self).__name__)
        endpoint.add_listener(self)
        self.register_task("expire silent peers", self.expire_silent_peers, interval=cleanup_interval)

    # -- time ----------------------------------------------------------------------------------------

    def now(self) -> float:
        """The current time of the server's clock."""
        if self._time_source is None:
            self._time_source = get_reactor()
        return self._time_source.seconds()

    def _next_global_time(self) -> int:
        # Our own counter only: adopting the clocks of strangers would let one of them push us to 2**64.
        self._global_time += 1
        return self._global_time

    # -- receiving -----------------------------------------------------------------------------------

    def on_packet(self, packet: tuple[Address, bytes]) -> None:
        """Answer ``packet`` if it is a valid introduction request; otherwise count it and drop it."""
        source_address, data = packet
        if len(data) < HEADER_SIZE:
            self.drop_counts[DROP_TOO_SHORT] += 1
            return
        payload_class = _REQUEST_CLASSES.get(data[22])
        if payload_class is None:
            self.drop_counts[DROP_NOT_A_REQUEST] += 1
            return
        try:
            key_bin, body_start, signed_part = split_signed_packet(data)
            _, payload = self.serializer.unpack_serializable_list([GlobalTimeDistributionPayload, payload_class],
                                                                  signed_part, offset=body_start)
        except InvalidSignatureError:
            self.drop_counts[DROP_BAD_SIGNATURE] += 1
            return
        except (PacketDecodingError, PackError, ValueError, TypeError) as exc:
            self.drop_counts[DROP_MALFORMED] += 1
            self.logger.debug("Malformed request from %s: %s", source_address, exc)
            return
        if key_bin == self._my_key_bin:
            # Our own packet came back (a loop in the network, or a replay): never talk to ourselves.
            self.drop_counts[DROP_OWN_PACKET] += 1
            return
        self.answer_request(source_address, data[:22], key_bin, payload)

    def answer_request(self, source_address: Address, prefix: bytes, key_bin: bytes,
                       payload: IntroductionRequestPayload | NewIntroductionRequestPayload) -> None:
        """Remember the requester, then answer it, introducing another peer of ``prefix`` if we know one."""
        requester = TrackedPeer(key_bin, source_address, payload.source_lan_address,
                                isinstance(payload, NewIntroductionRequestPayload)
                                or bool(payload.supports_new_style), self.now())
        # Answer in the style of the request, unless the old style cannot carry the requester's address.
        new_style = isinstance(payload, NewIntroductionRequestPayload) or not requester.ipv4
        introduced = self.directory.pick(prefix, requester, ipv4_only=not new_style, rng=self.rng)
        self.directory.record(prefix, requester)
        self.endpoint.send(source_address, self.create_introduction_response(prefix, requester, payload,
                                                                            introduced, new_style))
        self.requests_answered += 1
        if introduced is not None:
            self.introductions += 1
            self.endpoint.send(introduced.address,
                               self.create_puncture_request(prefix, requester, payload.identifier, introduced))
        self.on_peer_introduction_request(requester, prefix)

    def on_peer_introduction_request(self, peer: TrackedPeer, prefix: bytes) -> None:
        """Hook for subclasses (statistics, for example): ``peer`` asked about ``prefix`` and was answered."""

    # -- building answers ----------------------------------------------------------------------------

    def _signed(self, prefix: bytes, payload: Any, global_time: int) -> bytes:  # noqa: ANN401
        packet = prefix + bytes((payload.msg_id,)) + self.serializer.pack_serializable_list(
            [self._auth, GlobalTimeDistributionPayload(global_time), payload])
        return packet + self.my_peer.key.signature(packet)

    def create_introduction_response(self, prefix: bytes, requester: TrackedPeer,
                                     request: IntroductionRequestPayload | NewIntroductionRequestPayload,
                                     introduced: TrackedPeer | None, new_style: bool) -> bytes:
        """
        The signed answer to ``request``, in the style of the request.

        The requester learns its own address as we see it (``destination_address``); ``source_wan_address``
        is our address as the requester sees it.
        """
        identifier = request.identifier
        global_time = self._next_global_time() % 65536
        intro_lan, intro_wan = NO_ADDRESS, NO_ADDRESS
        if introduced is not None:
            intro_lan, intro_wan = introduced.lan_address, introduced.address
        intro_new_style = introduced is not None and introduced.new_style
        payload: Any
        if new_style:
            payload = NewIntroductionResponsePayload(
                destination_address=requester.address, source_lan_address=self.my_estimated_lan,
                source_wan_address=request.destination_address, lan_introduction_address=intro_lan,
                wan_introduction_address=intro_wan, identifier=identifier,
                intro_supports_new_style=intro_new_style, flag1=False, flag2=False, flag3=False, flag4=False,
                flag5=False, flag6=False, flag7=False, extra_bytes=b"")
        else:
            payload = IntroductionResponsePayload(
                destination_address=requester.address, source_lan_address=_ipv4_or_nothing(self.my_estimated_lan),
                source_wan_address=_ipv4_or_nothing(request.destination_address),
                lan_introduction_address=_ipv4_or_nothing(intro_lan),
                wan_introduction_address=_ipv4_or_nothing(intro_wan), connection_type="unknown",
                identifier=identifier, extra_bytes=b"", supports_new_style=True,
                intro_supports_new_style=intro_new_style)
        return self._signed(prefix, payload, global_time)

    def create_puncture_request(self, prefix: bytes, requester: TrackedPeer, identifier: int,
                                introduced: TrackedPeer) -> bytes:
        """The (unsigned) request asking ``introduced`` to puncture its NAT towards ``requester``."""
        payload: Any
        if introduced.new_style or not requester.ipv4:
            payload = NewPunctureRequestPayload(lan_walker_address=requester.lan_address,
                                                wan_walker_address=requester.address, identifier=identifier)
        else:
            payload = PunctureRequestPayload(_ipv4_or_nothing(requester.lan_address), requester.address,
                                             identifier)
        return prefix + bytes((payload.msg_id,)) + self.serializer.pack_serializable_list(
            [GlobalTimeDistributionPayload(self._next_global_time()), payload])

    # -- housekeeping ---------------------------------------------------------------------------------

    def expire_silent_peers(self) -> int:
        """Forget the peers that were silent for longer than ``peer_timeout``; returns how many."""
        dropped = self.directory.expire(self.now() - self.peer_timeout)
        if dropped:
            self.logger.debug("Forgot %d silent peers", dropped)
        return dropped

    def unload(self) -> Deferred:
        """Stop listening to the endpoint and stop the silence checks; the endpoint stays open."""
        self.endpoint.remove_listener(self)
        return self.shutdown_task_manager()


class TrackerService(Service):
    """
    A Twisted service running a tracker on its own UDP port.

    ``startService`` binds the port (exactly ``listen_port``: a tracker that silently moved to another port
    would be useless to the peers that have its address); ``stopService`` stops the server and closes the port.

    :param listen_port: the UDP port (0 picks a free one, handy in tests).
    :param listen_ip: the local IP literal to bind to (IPv4 or IPv6).
    :param reactor: the reactor for the endpoint and the server (the global one by default).
    :param server_options: keyword arguments for :class:`EndpointServer` (limits, timeouts, key).
    :raises TrackerConfigurationError: for a port outside 0-65535 or an ``listen_ip`` that is not an IP literal.
    """

    name = "tracker"
    log = Logger()

    def __init__(self, listen_port: int, listen_ip: str = DEFAULT_LISTEN_IP, *, reactor: Any = None,  # noqa: ANN401
                 **server_options: Any) -> None:  # noqa: ANN401
        check_listen_address(listen_port, listen_ip)
        self.listen_port = listen_port
        self.listen_ip = listen_ip
        self._reactor = reactor
        self._server_options = server_options
        self.endpoint: UDPEndpoint | None = None
        self.server: EndpointServer | None = None

    def startService(self) -> None:  # noqa: N802 - Twisted's name
        """
        Bind the port and start answering.

        :raises TrackerStartError: if the port cannot be bound.
        """
        endpoint_class = UDPv6Endpoint if ":" in self.listen_ip else UDPEndpoint
        endpoint = endpoint_class(self.listen_port, self.listen_ip, reactor=self._reactor)
        outcome: list[Any] = []
        endpoint.open().addBoth(outcome.append)
        if not outcome or outcome[0] is not True:
            endpoint.close()
            msg = f"cannot listen on UDP {self.listen_ip}:{self.listen_port}"
            raise TrackerStartError(msg)
        bound = endpoint.get_address()
        if self.listen_port and bound[1] != self.listen_port:
            endpoint.close()
            msg = f"UDP port {self.listen_port} on {self.listen_ip} is in use"
            raise TrackerStartError(msg)
        self.endpoint = endpoint
        self.server = EndpointServer(endpoint, reactor=self._reactor, **self._server_options)
        super().startService()
        self.log.info("Tracker listening on {ip}:{port}", ip=bound[0], port=bound[1])

    def stopService(self) -> Deferred:  # noqa: N802 - Twisted's name
        """Stop answering and close the port; the Deferred fires once the port is closed."""
        super().stopService()
        server, self.server = self.server, None
        endpoint, self.endpoint = self.endpoint, None
        stopping = maybeDeferred(server.unload) if server is not None else succeed(None)
        if endpoint is not None:
            stopping.addBoth(lambda _: endpoint.close())
        return stopping.addCallback(lambda _: self.log.info("Tracker stopped"))

    def get_address(self) -> Address | None:
        """The address the tracker is bound to, or None when it is not running."""
        return self.endpoint.get_address() if self.endpoint is not None else None


def check_listen_address(listen_port: object, listen_ip: object) -> None:
    """
    Validate a tracker's listen port and IP.

    :raises TrackerConfigurationError: for a port outside 0-65535 or an IP that is not a literal.
    """
    if isinstance(listen_port, bool) or not isinstance(listen_port, int) or not 0 <= listen_port <= 65535:
        msg = f"listen_port must be an integer in 0-65535, got {listen_port!r}"
        raise TrackerConfigurationError(msg)
    try:
        ipaddress.ip_address(listen_ip)  # type: ignore[arg-type]
    except ValueError as exc:
        msg = f"listen_ip must be an IP address, got {listen_ip!r}"
        raise TrackerConfigurationError(msg) from exc


class TrackerOptions(usage.Options):
    """Command line options of the tracker (``twistd tracker`` and ``bin/ipv8-tracker``)."""

    longdesc = "Answer IPv8 introduction requests for every community, introducing peers to each other."
    optParameters = [  # noqa: RUF012 - Twisted reads this class attribute
        ["listen_port", "p", None, "UDP port to listen on (required; 0 picks a free port).", int],
        ["listen_ip", "i", DEFAULT_LISTEN_IP, "Local IP address to listen on."],
    ]

    def postOptions(self) -> None:  # noqa: N802 - Twisted's name
        """Insist on a port and check both values."""
        if self["listen_port"] is None:
            msg = "--listen_port is required (for example --listen_port=6421)"
            raise usage.UsageError(msg)
        try:
            check_listen_address(self["listen_port"], self["listen_ip"])
        except TrackerConfigurationError as exc:
            raise usage.UsageError(str(exc)) from exc


def make_service(options: TrackerOptions) -> TrackerService:
    """The tracker service described by parsed :class:`TrackerOptions`."""
    return TrackerService(options["listen_port"], options["listen_ip"])


__all__ = [
    "CLEANUP_INTERVAL",
    "DEFAULT_MAX_COMMUNITIES",
    "DEFAULT_MAX_PEERS_PER_COMMUNITY",
    "DROP_BAD_SIGNATURE",
    "DROP_MALFORMED",
    "DROP_NOT_A_REQUEST",
    "DROP_OWN_PACKET",
    "DROP_TOO_SHORT",
    "PEER_TIMEOUT",
    "CommunityDirectory",
    "EndpointServer",
    "TrackedPeer",
    "TrackerConfigurationError",
    "TrackerOptions",
    "TrackerService",
    "TrackerStartError",
    "check_listen_address",
    "make_service",
]
