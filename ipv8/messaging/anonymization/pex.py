"""PEX: one small overlay per hidden swarm, in which introduction points tell each other whom they introduce.

An introduction point of a swarm (an exit that accepted establish-intro for its info hash) joins the
:class:`PexCommunity` of that swarm and puts the seeder keys it introduces into the extra bytes of its
introduction requests and responses. Its neighbours in that overlay remember them as introduction points
(``PEER_SOURCE_PEX``), and answer peers-requests of downloaders with them, so a swarm can be found without the DHT.

Wire facts (pyipv8 3.2.1, facts sheet A.27): the community id is the info hash read as a 160-bit big-endian
integer plus :data:`PEX_VERSION`; the extra bytes are a ``varlenH-list`` of binary seeder keys (at most 10 sent).

Everything a neighbour sends is bounded here: at most :data:`MAX_INTRO_POINTS` remembered (the oldest make room),
each forgotten after :data:`INTRO_POINT_TTL` seconds, at most :data:`MAX_KEYS_PER_MESSAGE` keys read per message,
and extra bytes that are no key list are counted (``pex-bad-extra-bytes``) and ignored.
"""
from __future__ import annotations

import random
from collections import deque
from typing import TYPE_CHECKING, Any

from ...community import Community, CommunitySettings
from ...peer import Peer
from ..serialization import PackError
from .tunnel import PEER_SOURCE_PEX, IntroductionPoint

if TYPE_CHECKING:
    from ...types import Address

#: Added to the info hash to make the community id (3.2.1's PEX protocol version).
PEX_VERSION = 1
#: Introduction points learnt from neighbours that we remember at most (pyipv8's bound).
MAX_INTRO_POINTS = 20
#: Seconds after which a learnt introduction point is forgotten unless announced again.
INTRO_POINT_TTL = 300
#: Seeder keys we put in one introduction message (pyipv8 sends at most 10), and read from one at most.
MAX_KEYS_PER_MESSAGE = 10
#: Longest seeder key accepted from a neighbour (a LibNaCLPK is 74 bytes).
MAX_SEEDER_KEY_SIZE = 128
#: Seeder keys we announce at most (establish-intro is capped by the hidden-services community too).
MAX_ANNOUNCED = 1000

#: Extra bytes that are not a list of seeder keys, or keys that cannot be keys.
DROP_PEX_BAD_EXTRA_BYTES = "pex-bad-extra-bytes"


def pex_community_id(info_hash: bytes) -> bytes:
    """The community id of the PEX overlay of ``info_hash`` (20 bytes; wraps around at 2**160).

    :raises ValueError: if ``info_hash`` is not 20 bytes.
    """
    if not isinstance(info_hash, (bytes, bytearray)) or len(info_hash) != 20:
        raise ValueError(f"an info hash is 20 bytes, got {info_hash!r}")
    # pyipv8 overflows (raises) for the all-ones info hash; wrapping keeps us alive and changes nothing else.
    return ((int.from_bytes(info_hash, "big") + PEX_VERSION) % (1 << 160)).to_bytes(20, "big")


class PexSettings(CommunitySettings):
    """Settings of :class:`PexCommunity`: the swarm's ``info_hash`` (20 bytes)."""

    info_hash: bytes = b""


class PexCommunity(Community):
    """The PEX overlay of one swarm; see the module documentation."""

    settings_class = PexSettings
    community_id = b"\x00" * 20  # replaced per instance by the swarm's id

    def __init__(self, settings: PexSettings) -> None:
        """Join the PEX overlay of ``settings.info_hash``."""
        self.info_hash = bytes(settings.info_hash)
        self.community_id = pex_community_id(self.info_hash)
        super().__init__(settings)
        #: Introduction points learnt from neighbours, most recently seen first.
        self.intro_points: deque[IntroductionPoint] = deque(maxlen=MAX_INTRO_POINTS)
        #: Seeder keys we are an introduction point for (announced to neighbours).
        self.intro_points_for: list[bytes] = []
        #: Whether :attr:`bootstrappers` belong to someone else (the hidden-services community lends its own):
        #: then unloading this overlay leaves them running.
        self.borrowed_bootstrappers = False

    def _now(self) -> float:
        return self._clock().seconds()  # type: ignore[attr-defined]

    def get_intro_points(self) -> list[IntroductionPoint]:
        """The introduction points we know for this swarm: the fresh ones learnt, and ourselves per seeder key."""
        deadline = self._now() - INTRO_POINT_TTL
        while self.intro_points and self.intro_points[-1].last_seen < deadline:
            self.intro_points.pop()
        me = Peer(self.my_peer.key, self.my_estimated_wan)
        return [*self.intro_points, *(IntroductionPoint(me, seeder_pk, PEER_SOURCE_PEX, clock=self._clock())
                                      for seeder_pk in self.intro_points_for)]

    def start_announce(self, seeder_pk: bytes) -> None:
        """Announce that we introduce the seeder with key ``seeder_pk``."""
        if seeder_pk not in self.intro_points_for and len(self.intro_points_for) < MAX_ANNOUNCED:
            self.intro_points_for.append(seeder_pk)

    def stop_announce(self, seeder_pk: bytes) -> None:
        """Stop announcing ``seeder_pk``."""
        if seeder_pk in self.intro_points_for:
            self.intro_points_for.remove(seeder_pk)

    @property
    def done(self) -> bool:
        """Whether we announce nobody any more (the overlay can be unloaded)."""
        return not self.intro_points_for

    def get_seeder_pks(self) -> bytes:
        """The extra bytes we send: up to :data:`MAX_KEYS_PER_MESSAGE` of our seeder keys, picked at random."""
        picked = random.sample(self.intro_points_for, min(len(self.intro_points_for), MAX_KEYS_PER_MESSAGE))
        return self.serializer.pack("varlenH-list", picked)

    def process_extra_bytes(self, peer: Peer, extra_bytes: bytes) -> None:
        """Remember the introduction points a neighbour announces (refreshing the ones we know)."""
        if not extra_bytes:
            return
        try:
            keys = self.serializer.unpack("varlenH-list", extra_bytes)[0]
        except PackError:
            self.drop_counts[DROP_PEX_BAD_EXTRA_BYTES] += 1
            return
        if len(keys) > MAX_KEYS_PER_MESSAGE:
            self.drop_counts[DROP_PEX_BAD_EXTRA_BYTES] += 1
            keys = keys[:MAX_KEYS_PER_MESSAGE]
        for seeder_pk in keys:
            if not 0 < len(seeder_pk) <= MAX_SEEDER_KEY_SIZE:
                self.drop_counts[DROP_PEX_BAD_EXTRA_BYTES] += 1
                continue
            intro_point = IntroductionPoint(peer, bytes(seeder_pk), PEER_SOURCE_PEX, clock=self._clock())
            if intro_point in self.intro_points:
                self.intro_points.remove(intro_point)
            self.intro_points.appendleft(intro_point)

    def introduction_request_callback(self, peer: Peer, dist: Any, payload: Any) -> None:
        """Learn from the extra bytes of an introduction request."""
        self.process_extra_bytes(peer, payload.extra_bytes)

    def introduction_response_callback(self, peer: Peer, dist: Any, payload: Any) -> None:
        """Learn from the extra bytes of an introduction response."""
        self.process_extra_bytes(peer, payload.extra_bytes)

    def create_introduction_request(self, socket_address: Address, extra_bytes: bytes = b"",
                                    new_style: bool = False, prefix: bytes | None = None) -> bytes:
        """An introduction request that carries our seeder keys."""
        return super().create_introduction_request(socket_address, self.get_seeder_pks(), new_style, prefix)

    def create_introduction_response(self, lan_socket_address: Address, socket_address: Address, identifier: int,
                                     introduction: Peer | None = None, extra_bytes: bytes = b"",
                                     prefix: bytes | None = None, new_style: bool = False) -> bytes:
        """An introduction response that carries our seeder keys."""
        return super().create_introduction_response(lan_socket_address, socket_address, identifier, introduction,
                                                    self.get_seeder_pks(), prefix, new_style)

    def unload(self) -> Any:
        """Leave the overlay; borrowed bootstrappers are handed back, not unloaded."""
        if self.borrowed_bootstrappers:
            self.bootstrappers = []
        return super().unload()

    def send_ping(self, peer: Peer) -> None:
        """Churn pings are introduction requests here (so they carry our keys too)."""
        self.send_introduction_request(peer)


__all__ = ["DROP_PEX_BAD_EXTRA_BYTES", "INTRO_POINT_TTL", "MAX_INTRO_POINTS", "MAX_KEYS_PER_MESSAGE", "PEX_VERSION",
           "PexCommunity", "PexSettings", "pex_community_id"]
