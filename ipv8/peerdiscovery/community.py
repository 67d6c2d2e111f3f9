"""The DiscoveryCommunity: tell peers which communities we run, and check that peers are still there.

Every IPv8 node runs this community (id ``7e313685c1912a141279f8248fc8db5899c5df5a``). Its messages
(see :mod:`ipv8.peerdiscovery.payload` for the layouts):

* **similarity request / response** (1 and 2): "these are the community ids I serve". A node can have several
  identities (keys), each serving some of its communities, so it sends one request, or one response, per
  identity, signed by that identity. Whoever receives them records the sender's services in the shared
  :class:`~ipv8.peerdiscovery.network.Network`; other communities then find the sender as a peer without having
  walked to it themselves. A request goes to every peer that answers one of our introduction requests, and
  :class:`PeriodicSimilarity` sends one to a random peer at most once per second.
* **ping / pong** (3 and 4, unsigned): liveness probes used by
  :class:`~ipv8.peerdiscovery.churn.RandomChurn`. The round-trip time of each answered ping is appended to the
  peer's :attr:`~ipv8.peer.Peer.pings`.

It also accepts the Dispersy-era introduction request that names the peer to introduce (see
:meth:`DiscoveryCommunity.on_old_introduction_request`). Everything it sends is byte-identical to pyipv8 3.2.1.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Sequence

from twisted.internet.defer import Deferred, gatherResults

from ..bounded import AgedMap
from ..community import (
    DROP_PEER_LIMIT,
    DROP_RATE_LIMITED,
    DROP_REPLAY,
    DROP_UNSOLICITED,
    Community,
    CommunitySettings,
)
from ..lazy_community import HEADER_SIZE, lazy_wrapper, lazy_wrapper_unsigned
from ..messaging.addresses import UDPv4Address
from ..messaging.payload import IntroductionRequestPayload
from ..messaging.payload_headers import (
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from ..messaging.rate_limit import PerSourceRateLimiter
from ..messaging.serialization import PackError
from ..peer import Peer
from ..requestcache import NumberCacheWithName, RequestCache
from .churn import RandomChurn
from .discovery import DiscoveryStrategy, overlay_clock
from .payload import (
    DISPERSY_MARKER,
    DiscoveryIntroductionRequestPayload,
    PingPayload,
    PongPayload,
    SimilarityRequestPayload,
    SimilarityResponsePayload,
)

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from ..messaging.serialization import Serializable
    from ..types import Address

__all__ = ["DROP_UNEXPECTED_PONG", "DiscoveryCommunity", "DiscoverySettings", "PeriodicSimilarity",
           "PingRequestCache"]

#: ``drop_counts`` reason for a pong that answers no ping of ours (late, duplicated, forged or misrouted).
DROP_UNEXPECTED_PONG = "unexpected-pong"
#: The IPv4 address sent when we only know a non-IPv4 address of ourselves (the messages carry IPv4 only).
_NO_IPV4 = UDPv4Address("0.0.0.0", 0)
#: Bytes of the global-time header (one ``Q``) between the public key and the payload of a signed message.
_GLOBAL_TIME_SIZE = 8


def _ipv4_or_nothing(address: Address | None) -> Address:
    if address is None or not isinstance(address, tuple) or ":" in str(address[0]):
        return _NO_IPV4
    try:
        return UDPv4Address(str(address[0]), int(address[1]))
    except (TypeError, ValueError, IndexError):
        return _NO_IPV4


class DiscoverySettings(CommunitySettings):
    """Settings of the :class:`DiscoveryCommunity` (its ``clock`` also times pings and round trips)."""


class PingRequestCache(NumberCacheWithName):
    """
    An outstanding ping, stored under its identifier until the pong arrives or 5 seconds pass.

    A ping that times out is simply forgotten: deciding that the peer is gone is the churn strategy's job.

    :param request_cache: the cache store of the community.
    :param identifier: the ping's identifier (the community's global time modulo 65536).
    :param peer: the pinged peer.
    :param start_time: when the ping was sent, in the community's clock.
    """

    name = "discoverypingcache"

    def __init__(self, request_cache: RequestCache, identifier: int, peer: Peer, start_time: float) -> None:
        """Remember whom we pinged and when."""
        super().__init__(request_cache, self.name, identifier)
        self.peer = peer
        self.start_time = start_time

    @property
    def timeout_delay(self) -> float:
        """Pongs arriving later than 5 seconds are ignored."""
        return 5.0

    def came_from(self, address: Address) -> bool:
        """Whether ``address`` is one of the pinged peer's addresses."""
        return address == self.peer.address or address in self.peer.addresses.values()

    def finish(self, now: float) -> None:
        """Record the round-trip time ``now - start_time`` in the peer's ping history."""
        self.peer.pings.append(now - self.start_time)


class PeriodicSimilarity(DiscoveryStrategy["DiscoveryCommunity"]):
    """
    Send a similarity request to one random verified peer of the network, at most once per second.

    :param overlay: the DiscoveryCommunity.
    :param clock: see :class:`~ipv8.peerdiscovery.discovery.DiscoveryStrategy`.
    """

    #: Minimum seconds between two requests.
    min_interval: float = 1.0

    def __init__(self, overlay: DiscoveryCommunity, *, clock: IReactorTime | None = None) -> None:
        """Create the strategy; its first step may send right away."""
        super().__init__(overlay, clock=clock)
        self.last_step: float | None = None

    def take_step(self) -> None:
        """Send one request if a second has passed and the network knows a verified peer."""
        with self.walk_lock:
            now = self.now()
            if self.last_step is not None and now - self.last_step < self.min_interval:
                return
            peers = list(self.overlay.network.verified_peers)
            if not peers:
                return
            self.last_step = now
            self.overlay.send_similarity_request(random.choice(peers).address)


class DiscoveryCommunity(Community):
    """
    Exchange community ids with other peers and answer liveness pings (see the module documentation).

    :param settings: a :class:`DiscoverySettings` (a plain ``CommunitySettings`` works too).
    """

    version = b"\x02"
    community_id = bytes.fromhex("7e313685c1912a141279f8248fc8db5899c5df5a")
    settings_class = DiscoverySettings

    #: Similarity requests answered per second per source IP (more are dropped).
    similarity_rate_limit: float = 5.0

    def __init__(self, settings: CommunitySettings) -> None:
        """Register the four messages and create the ping cache."""
        super().__init__(settings)
        self.request_cache = RequestCache(self._reactor)
        self.add_message_handler(SimilarityRequestPayload, self.on_similarity_request)
        self.add_message_handler(SimilarityResponsePayload, self.on_similarity_response)
        self.add_message_handler(PingPayload, self.on_ping)
        self.add_message_handler(PongPayload, self.on_pong)
        # (identifier, address) of our similarity requests: only their answers make a peer verified.
        self._similarity_asked: AgedMap = AgedMap(self.max_outstanding_introductions, self.introduction_answer_timeout)
        # Each request is answered once per local identity, signed: keep the node from being a reflector.
        self._similarity_limiter = PerSourceRateLimiter(self.similarity_rate_limit, 2 * self.similarity_rate_limit,
                                                        self.puncture_total_rate, 2 * self.puncture_total_rate)

    def get_available_strategies(self) -> dict[str, type[DiscoveryStrategy]]:
        """The strategies the configuration may name for this community."""
        return {"PeriodicSimilarity": PeriodicSimilarity, "RandomChurn": RandomChurn}

    def unload(self) -> Deferred:
        """Drop the outstanding pings and stop the community; the Deferred fires when both are done."""
        return gatherResults([self.request_cache.shutdown(), super().unload()],
                             consumeErrors=True).addCallback(lambda _: None)

    def _now(self) -> float:
        return overlay_clock(self).seconds()

    # Identities ----------------------------------------------------------------------------------------------

    def local_identities(self) -> list[Peer]:
        """Our own peers (one per key) over all communities registered in the network, in registration order."""
        identities: dict[bytes, Peer] = {}
        for overlay in self.network.service_overlays.values():
            identity = overlay.my_peer
            identities.setdefault(identity.mid, identity)
        return list(identities.values())

    def get_my_overlays(self, peer: Peer) -> list[bytes]:
        """The community ids served by the identity ``peer`` (one of ours)."""
        return [service_id for service_id, overlay in self.network.service_overlays.items()
                if overlay.my_peer == peer]

    def custom_pack(self, peer: Peer, msg_num: int, payloads: Sequence[Serializable]) -> bytes:
        """Pack a message and sign it with the private key of ``peer`` (one of our identities)."""
        packet = self._prefix + bytes((msg_num,)) + self.serializer.pack_serializable_list(payloads)
        return packet + peer.key.signature(packet)

    # Similarity ------------------------------------------------------------------------------------------------

    def create_similarity_request(self, peer: Peer) -> bytes:
        """A similarity request listing the communities of our identity ``peer``, signed by it."""
        global_time = self.claim_global_time()
        payload = SimilarityRequestPayload(global_time, _ipv4_or_nothing(self.my_estimated_lan),
                                           _ipv4_or_nothing(self.my_estimated_wan), "unknown",
                                           self.get_my_overlays(peer))
        return self.custom_pack(peer, payload.msg_id, [BinMemberAuthenticationPayload(peer.public_key.key_to_bin()),
                                                       GlobalTimeDistributionPayload(global_time), payload])

    def create_similarity_response(self, identifier: int, peer: Peer) -> bytes:
        """The answer to request ``identifier``: the communities of our identity ``peer``, signed by it."""
        global_time = self.claim_global_time()
        payload = SimilarityResponsePayload(identifier, self.get_my_overlays(peer), [])
        return self.custom_pack(peer, payload.msg_id, [BinMemberAuthenticationPayload(peer.public_key.key_to_bin()),
                                                       GlobalTimeDistributionPayload(global_time), payload])

    def send_similarity_request(self, address: Address) -> None:
        """Send ``address`` one similarity request per local identity."""
        for identity in self.local_identities():
            packet = self.create_similarity_request(identity)
            self._similarity_asked.set((self.global_time % 65536, tuple(address)), None, self._now())
            self.endpoint.send(address, packet)

    @lazy_wrapper(GlobalTimeDistributionPayload, SimilarityRequestPayload)
    def on_similarity_request(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                              payload: SimilarityRequestPayload) -> None:
        """Note the requester's communities and answer once per local identity (rate-limited per source)."""
        if not self._similarity_limiter.allow(peer.address[0], self._now()):
            self.drop_counts[DROP_RATE_LIMITED] += 1
            return
        self.network.discover_services(peer, payload.preference_list)
        for identity in self.local_identities():
            self.endpoint.send(peer.address, self.create_similarity_response(payload.identifier, identity))

    @lazy_wrapper(GlobalTimeDistributionPayload, SimilarityResponsePayload)
    def on_similarity_response(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                               payload: SimilarityResponsePayload) -> None:
        """Accept the responder as a verified peer running the listed communities (room permitting).

        Only an answer to a request of ours, from the address we asked, counts.
        """
        asked = next(((payload.identifier, tuple(address)) for address in peer.addresses.values()
                      if (payload.identifier, tuple(address)) in self._similarity_asked), None)
        if asked is None or self._similarity_asked.get(asked, self._now(), False) is False:
            self.drop_counts[DROP_UNSOLICITED] += 1
            return
        # Not used up: the responder answers once per identity it has, all with this identifier.
        if 0 <= self.max_peers < len(self.get_peers()) and peer not in self.network.verified_peers:
            self.drop_counts[DROP_PEER_LIMIT] += 1
            return
        self.network.add_verified_peer(peer)
        self.network.discover_services(peer, payload.preference_list)

    def introduction_response_callback(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                       payload: Any) -> None:  # noqa: ANN401
        """Whoever answers our introduction request is asked which communities it runs."""
        self.send_similarity_request(peer.address)

    # Ping / pong -------------------------------------------------------------------------------------------------

    def send_ping(self, peer: Peer) -> None:
        """Ping ``peer``; when the pong arrives within 5 seconds its round-trip time goes into ``peer.pings``."""
        global_time = self.claim_global_time()
        ping = PingPayload(global_time)
        packet = self._ez_pack(self._prefix, ping.msg_id, [GlobalTimeDistributionPayload(global_time), ping], False)
        # Identifiers repeat every 65536 pings; never measure against an older ping with the same number.
        if not self.request_cache.has(PingRequestCache, ping.identifier):
            self.request_cache.add(PingRequestCache(self.request_cache, ping.identifier, peer, self._now()))
        self.endpoint.send(peer.address, packet)

    def create_pong(self, identifier: int) -> bytes:
        """The (unsigned) answer to ping ``identifier``."""
        pong = PongPayload(identifier)
        return self._ez_pack(self._prefix, pong.msg_id,
                             [GlobalTimeDistributionPayload(self.claim_global_time()), pong], False)

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, PingPayload)
    def on_ping(self, source_address: Address, dist: GlobalTimeDistributionPayload, payload: PingPayload) -> None:
        """Answer a ping with a pong carrying the same identifier."""
        self.endpoint.send(source_address, self.create_pong(payload.identifier))

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, PongPayload)
    def on_pong(self, source_address: Address, dist: GlobalTimeDistributionPayload, payload: PongPayload) -> None:
        """Complete the round-trip measurement of the matching ping.

        Pongs are unsigned (as in every IPv8 version), so only the 16-bit identifier and the sender's address
        tie a pong to our ping; anything else is counted under :data:`DROP_UNEXPECTED_PONG`.
        """
        cache = self.request_cache.get(PingRequestCache, payload.identifier)
        if cache is None or not cache.came_from(source_address):
            self.drop_counts[DROP_UNEXPECTED_PONG] += 1
            return
        self.request_cache.pop(PingRequestCache, payload.identifier)
        cache.finish(self._now())

    # Dispersy-era introduction requests -------------------------------------------------------------------------

    def on_old_introduction_request(self, source_address: Address, data: bytes) -> Any:  # noqa: ANN401
        """
        Handle an IPv4 introduction request (id 246), including the Dispersy variant.

        The Dispersy variant puts ``b"Y"`` and the mid of a wanted peer between the global time and the
        request fields. When that peer is a verified peer of ours we introduce it; otherwise (and for plain
        requests) a random peer is introduced as usual. The answer to the variant is always an old-style response.
        pyipv8 3.2.1 accepts the variant too, but never matches the mid (it compares it with a tuple).

        A plain request whose destination IP starts with byte 89 (``"Y"``) and that carries 21 or more extra bytes
        reads as the variant; pyipv8 has the same ambiguity (it tries the variant for every request).
        """
        if self._looks_like_dispersy_request(data):
            try:
                auth, dist, payload = self._ez_unpack_auth(DiscoveryIntroductionRequestPayload, data)
            except PackError:
                pass  # the marker byte was a coincidence: handle it as a plain request
            else:
                self._on_dispersy_introduction_request(source_address, auth.public_key_bin, dist, payload)
                return None
        return super().on_old_introduction_request(source_address, data)

    @staticmethod
    def _looks_like_dispersy_request(data: bytes) -> bool:
        if len(data) < HEADER_SIZE + 2:
            return False
        key_length = int.from_bytes(data[HEADER_SIZE:HEADER_SIZE + 2], "big")
        marker_at = HEADER_SIZE + 2 + key_length + _GLOBAL_TIME_SIZE
        return data[marker_at:marker_at + 1] == DISPERSY_MARKER

    def _on_dispersy_introduction_request(self, source_address: Address, key_bin: bytes,
                                          dist: GlobalTimeDistributionPayload,
                                          payload: DiscoveryIntroductionRequestPayload) -> None:
        if not self.accept_global_time(key_bin, IntroductionRequestPayload.msg_id, dist.global_time, source_address):
            self.drop_counts[DROP_REPLAY] += 1
            return
        peer = self.network.get_verified_by_public_key_bin(key_bin)
        if peer is None:
            peer = Peer(key_bin, source_address, clock=self.clock)
        else:
            peer.add_address(source_address)
        if not self._make_room_for(peer):
            self.drop_counts[DROP_PEER_LIMIT] += 1
            return
        self.network.add_verified_peer(peer)
        self.network.discover_services(peer, [self.community_id])
        wanted = next((candidate for candidate in self.network.get_verified_peers()
                       if candidate.mid == payload.introduce_to and candidate != peer), None)
        # Like Community.on_introduction_request, the puncture request for the introduced peer names the
        # requester's own LAN address (pyipv8 names the address the requester used for us).
        response = self.create_introduction_response(payload.source_lan_address, source_address,
                                                     payload.identifier, introduction=wanted, new_style=False)
        self.endpoint.send(source_address, response)
        self.introduction_request_callback(peer, dist, payload)  # type: ignore[arg-type]
