"""
A tracker (bootstrap server, rendezvous node): introduces peers of any community to each other.

The tracker is not a member of any community. It listens on a bare UDP endpoint and answers introduction
requests (old style, message 246, and new style, message 234) whatever their 22-byte community prefix.
It remembers who asked about which prefix and answers each request by introducing the requester to another
peer that asked about the same prefix within the last ``introduce_window`` seconds (60); that peer gets a
puncture request, so it opens its NAT towards the requester, exactly as a Community does when it introduces
someone. Peers heard from longer ago are not introduced (they are likely gone, e.g. nodes of a previous
run) but stay remembered until ``peer_timeout``.

Everything a stranger can make the tracker remember is capped and expires, because anybody on the internet
can send it requests:

* at most ``max_communities`` prefixes (1000); the one asked about least recently is forgotten first;
* at most ``max_peers_per_community`` peers per prefix (100); the one heard from least recently goes first;
* at most ``max_peers_total`` peers over all prefixes (20000); the stalest peer of the least recently
  used prefix goes first;
* peers silent for ``peer_timeout`` seconds (120) are dropped by a check every ``cleanup_interval``
  seconds (30), and a prefix is forgotten with its last peer;
* per peer only its public key (bounded by the key formats that verify), two addresses, a flag and a time;
* the drop counters have one entry per ``DROP_*`` reason; the global time is the tracker's own counter.

Addresses are handled with :mod:`ipv8.messaging.address_hygiene`: requests from unusable source addresses
are dropped, a peer is introduced only if its address means something to the requester (a loopback
address only to requesters on loopback, a private one only to requesters on a private network), and the
LAN address a peer claims is passed on only to a requester that can use it: one behind the same public
address, or on the same kind of private network. Otherwise the peer's WAN address takes the place of its
LAN address (receivers then simply see the same address twice: wire compatible, and never 0.0.0.0:0 next
to a real WAN address). The same rule applies to the requester's addresses in puncture requests.

Packets that are not well-formed, correctly signed introduction requests are dropped and counted per reason
in :attr:`EndpointServer.drop_counts`. The tracker signs its messages with a throwaway curve25519 key.

Run it with ``twistd -n tracker --listen_port=PORT`` or ``bin/ipv8-tracker --listen_port=PORT`` (both
in :mod:`ipv8.scripts.tracker_plugin`, which also holds :class:`TrackerService`, still importable from
here); in Python, use :class:`TrackerService` or :class:`EndpointServer`.
"""
from __future__ import annotations

import ipaddress
import logging
import random
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any, Callable

from .keyvault.crypto import default_eccrypto
from .lazy_community import (
    HEADER_SIZE,
    InvalidSignatureError,
    PacketDecodingError,
    split_signed_packet,
)
from .messaging.address_hygiene import AddressHygiene, Scope, address_scope, fits_scope
from .messaging.addresses import UDPv4Address, UDPv4LANAddress, UDPv6Address
from .messaging.interfaces.endpoint import EndpointListener
from .messaging.payload import (
    IntroductionRequestPayload,
    IntroductionResponsePayload,
    NewIntroductionRequestPayload,
    NewIntroductionResponsePayload,
    NewPunctureRequestPayload,
    PunctureRequestPayload,
)
from .messaging.payload_headers import (
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from .messaging.serialization import PackError, Serializer
from .peer import Peer
from .taskmanager import TaskManager

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorTime

    from .keyvault.keys import PrivateKey
    from .messaging.interfaces.endpoint import Endpoint
    from .types import Address

#: Seconds of silence after which a peer is forgotten.
PEER_TIMEOUT = 120.0
#: Only peers heard from within this many seconds are introduced to others.
INTRODUCE_WINDOW = 60.0
#: Seconds between two checks for silent peers.
CLEANUP_INTERVAL = 30.0
DEFAULT_MAX_COMMUNITIES = 1000
DEFAULT_MAX_PEERS_PER_COMMUNITY = 100
DEFAULT_MAX_PEERS_TOTAL = 20_000
DEFAULT_LISTEN_IP = "0.0.0.0"

NO_ADDRESS = UDPv4Address("0.0.0.0", 0)
_PICK_DRAWS = 4
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
DROP_UNUSABLE_SOURCE = "unusable-source"

logger = logging.getLogger(__name__)


class TrackerConfigurationError(ValueError):
    """The tracker was given an unusable listen address or limit."""


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


def shareable_lan(peer: TrackedPeer, viewer: Address) -> Address:
    """
    The LAN address of ``peer`` to tell a peer at ``viewer``: its claimed one if ``viewer`` can use it,
    else its WAN address (see the module documentation).

    The claimed address is usable by a viewer behind the same public address (same host: the two share a
    NAT or a machine), or by a viewer on loopback or a private network when the claimed address is such
    an address too. A claimed public address that is not the peer's own is never passed on: it would let
    anyone aim the tracker's users at a third party.
    """
    lan = peer.lan_address
    if lan == peer.address:
        return lan
    scope = address_scope(lan)
    if scope is Scope.PRIVATE and peer.address[0] == viewer[0]:
        return lan  # behind the same NAT: the public address says nothing about a shared LAN
    if scope in (Scope.LOOPBACK, Scope.PRIVATE) and fits_scope(lan, viewer):
        return lan  # both on this machine, or both on private networks
    return peer.address  # unusable, meaningless to the viewer, or a public address that is not the peer's


def _old_style_pair(lan: Address, wan: Address) -> tuple[Address, Address]:
    """``(lan, wan)`` as an old-style message carries them: IPv4 only, the WAN address standing in for the LAN."""
    wan = _ipv4_or_nothing(wan)
    lan = lan if _is_ipv4(lan) else wan
    return lan, wan


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
    :param max_peers_total: how many peers to remember over all prefixes at most.
    :raises TrackerConfigurationError: if a limit is smaller than 1 (or not an integer).
    """

    def __init__(self, max_communities: int = DEFAULT_MAX_COMMUNITIES,
                 max_peers_per_community: int = DEFAULT_MAX_PEERS_PER_COMMUNITY,
                 max_peers_total: int = DEFAULT_MAX_PEERS_TOTAL) -> None:
        for limit in (max_communities, max_peers_per_community, max_peers_total):
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                msg = "max_communities, max_peers_per_community and max_peers_total must be integers >= 1"
                raise TrackerConfigurationError(msg)
        self.max_communities = max_communities
        self.max_peers_per_community = max_peers_per_community
        self.max_peers_total = max_peers_total
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
            elif self._peer_total >= self.max_peers_total:
                self._evict_stalest(prefix)
            self._peer_total += 1
        members[peer.address] = peer

    def _evict_stalest(self, keep: bytes) -> None:
        """Make room under the total cap: drop the stalest peer of the least recently used other prefix."""
        for prefix, members in self._communities.items():
            if prefix != keep and members:
                break
        else:
            prefix, members = keep, self._communities[keep]
        members.popitem(last=False)
        self._peer_total -= 1
        self.evicted_peers += 1
        if not members and prefix != keep:
            del self._communities[prefix]

    def pick(self, prefix: bytes, requester: TrackedPeer, ipv4_only: bool = False,  # noqa: PLR0913
             rng: random.Random | None = None, heard_since: float | None = None,
             eligible: Callable[[TrackedPeer], bool] | None = None) -> TrackedPeer | None:
        """
        A random peer of ``prefix`` to introduce to ``requester``: never the requester itself.

        :param ipv4_only: only consider peers reachable over IPv4 (for old-style answers).
        :param heard_since: only consider peers heard from at or after this time.
        :param eligible: only consider peers for which this returns true (address checks).
        """
        members = self._communities.get(prefix)
        if not members:
            return None
        def qualifies(peer: TrackedPeer) -> bool:
            return (peer.address != requester.address and peer.key_bin != requester.key_bin
                    and (peer.ipv4 or not ipv4_only)
                    and (heard_since is None or peer.last_seen >= heard_since)
                    and (eligible is None or eligible(peer)))

        # A few random draws usually find a qualifying peer without checking every member; the first
        # qualifying draw is a uniform choice among the qualifying peers, and so is the fallback.
        rng = rng or random
        peers = list(members.values())
        for _ in range(_PICK_DRAWS):
            peer = peers[rng.randrange(len(peers))]
            if qualifies(peer):
                return peer
        candidates = [peer for peer in peers if qualifies(peer)]
        return rng.choice(candidates) if candidates else None

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
    :param clock: clock for the silence checks (the global reactor by default).
    :param peer_timeout: seconds of silence after which a peer is forgotten.
    :param introduce_window: only peers heard from within this many seconds are introduced (at most
        ``peer_timeout``).
    :param cleanup_interval: seconds between two checks for silent peers.
    :param max_communities: how many community prefixes to remember at most.
    :param max_peers_per_community: how many peers per prefix to remember at most.
    :param max_peers_total: how many peers to remember over all prefixes at most.
    :param rng: the random source for choosing introductions (tests seed it).
    :raises TrackerConfigurationError: for non-positive times or limits.
    """

    def __init__(self, endpoint: Endpoint, *, key: PrivateKey | None = None,  # noqa: PLR0913
                 clock: IReactorTime | None = None, peer_timeout: float = PEER_TIMEOUT,
                 introduce_window: float = INTRODUCE_WINDOW,
                 cleanup_interval: float = CLEANUP_INTERVAL, max_communities: int = DEFAULT_MAX_COMMUNITIES,
                 max_peers_per_community: int = DEFAULT_MAX_PEERS_PER_COMMUNITY,
                 max_peers_total: int = DEFAULT_MAX_PEERS_TOTAL,
                 rng: random.Random | None = None) -> None:
        for value in (peer_timeout, introduce_window, cleanup_interval):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                msg = "peer_timeout, introduce_window and cleanup_interval must be positive numbers"
                raise TrackerConfigurationError(msg)
        EndpointListener.__init__(self, endpoint)
        TaskManager.__init__(self, clock)
        self.my_peer = Peer(key if key is not None else default_eccrypto.generate_key("curve25519"))
        self._my_key_bin = self.my_peer.public_key.key_to_bin()
        self._auth = BinMemberAuthenticationPayload(self._my_key_bin)
        self.serializer = Serializer()
        self.peer_timeout = peer_timeout
        self.introduce_window = min(introduce_window, peer_timeout)
        self.directory = CommunityDirectory(max_communities, max_peers_per_community, max_peers_total)
        self.hygiene = AddressHygiene(self._own_addresses)
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
        """The current time of the server's clock (its TaskManager's)."""
        return self.clock.seconds()

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
        if not self.hygiene.may_send_to(source_address):
            # A spoofed or broken source: we could neither answer it nor introduce it to anyone.
            self.drop_counts[DROP_UNUSABLE_SOURCE] += 1
            return
        self.answer_request(source_address, data[:22], key_bin, payload)

    def _own_addresses(self) -> list[Address]:
        try:
            return [self.endpoint.get_address()]
        except Exception:  # noqa: BLE001 - a closed endpoint has no address: then nothing is ours
            return []

    def answer_request(self, source_address: Address, prefix: bytes, key_bin: bytes,
                       payload: IntroductionRequestPayload | NewIntroductionRequestPayload) -> None:
        """Remember the requester, then answer it, introducing another peer of ``prefix`` if we know one."""
        requester = TrackedPeer(key_bin, source_address, payload.source_lan_address,
                                isinstance(payload, NewIntroductionRequestPayload)
                                or bool(payload.supports_new_style), self.now())
        # Answer in the style of the request, unless the old style cannot carry the requester's address.
        new_style = isinstance(payload, NewIntroductionRequestPayload) or not requester.ipv4
        introduced = self.directory.pick(prefix, requester, ipv4_only=not new_style, rng=self.rng,
                                         heard_since=requester.last_seen - self.introduce_window,
                                         eligible=lambda peer: self.may_introduce(peer, requester))
        self.directory.record(prefix, requester)
        self.endpoint.send(source_address, self.create_introduction_response(prefix, requester, payload,
                                                                            introduced, new_style))
        self.requests_answered += 1
        if introduced is not None:
            self.introductions += 1
            self.endpoint.send(introduced.address,
                               self.create_puncture_request(prefix, requester, payload.identifier, introduced))
        self.on_peer_introduction_request(requester, prefix)

    def may_introduce(self, peer: TrackedPeer, requester: TrackedPeer) -> bool:
        """
        Whether ``peer`` and ``requester`` may be introduced to each other: each one's address must mean
        something to the other (the introduction goes one way, the puncture request the other).
        """
        return (self.hygiene.may_introduce(peer.address, requester.address)
                and self.hygiene.may_introduce(requester.address, peer.address))

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
            intro_lan, intro_wan = shareable_lan(introduced, requester.address), introduced.address
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
            intro_lan, intro_wan = _old_style_pair(intro_lan, intro_wan)
            payload = IntroductionResponsePayload(
                destination_address=requester.address, source_lan_address=_ipv4_or_nothing(self.my_estimated_lan),
                source_wan_address=_ipv4_or_nothing(request.destination_address),
                lan_introduction_address=intro_lan,
                wan_introduction_address=intro_wan, connection_type="unknown",
                identifier=identifier, extra_bytes=b"", supports_new_style=True,
                intro_supports_new_style=intro_new_style)
        return self._signed(prefix, payload, global_time)

    def create_puncture_request(self, prefix: bytes, requester: TrackedPeer, identifier: int,
                                introduced: TrackedPeer) -> bytes:
        """The (unsigned) request asking ``introduced`` to puncture its NAT towards ``requester``."""
        payload: Any
        lan = shareable_lan(requester, introduced.address)
        if introduced.new_style or not requester.ipv4:
            payload = NewPunctureRequestPayload(lan_walker_address=lan, wan_walker_address=requester.address,
                                                identifier=identifier)
        else:
            lan, wan = _old_style_pair(lan, requester.address)
            payload = PunctureRequestPayload(lan, wan, identifier)
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


_MOVED_TO_SCRIPTS = ("TrackerOptions", "TrackerService", "TrackerStartError", "check_listen_address", "make_service")


def __getattr__(name: str) -> Any:  # noqa: ANN401
    # The twistd service and command line moved to ipv8.scripts.tracker_plugin; they are imported on first
    # use, so that importing the protocol does not import them (and they can import this module).
    if name in _MOVED_TO_SCRIPTS:
        from .scripts import tracker_plugin
        return getattr(tracker_plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLEANUP_INTERVAL",
    "DEFAULT_MAX_COMMUNITIES",
    "DEFAULT_MAX_PEERS_PER_COMMUNITY",
    "DEFAULT_MAX_PEERS_TOTAL",
    "DROP_BAD_SIGNATURE",
    "DROP_MALFORMED",
    "DROP_NOT_A_REQUEST",
    "DROP_OWN_PACKET",
    "DROP_TOO_SHORT",
    "DROP_UNUSABLE_SOURCE",
    "INTRODUCE_WINDOW",
    "PEER_TIMEOUT",
    "CommunityDirectory",
    "EndpointServer",
    "TrackedPeer",
    "TrackerConfigurationError",
    "shareable_lan",
]
