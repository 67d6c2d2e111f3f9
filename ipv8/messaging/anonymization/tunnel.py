"""Tunnel data shared with other subsystems, under pyipv8's import path.

For now this module holds what the DHT needs to publish and find hidden services
(:class:`~ipv8.dht.provider.DHTCommunityProvider`): :class:`IntroductionPoint` and the ``PEER_SOURCE_*``
constants that say how one was learnt. The rest of the module (circuits, hops, exit sockets, swarms) comes
with the TunnelCommunity.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...util import get_reactor

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from ...peer import Peer

#: :attr:`IntroductionPoint.source`: learnt in a way not recorded.
PEER_SOURCE_UNKNOWN = 0
#: :attr:`IntroductionPoint.source`: found in the DHT.
PEER_SOURCE_DHT = 1


class IntroductionPoint:
    """A peer that introduces others to a hidden seeder of some content.

    :param peer: the introduction point itself (its key and address).
    :param seeder_pk: the binary public key the seeder uses for this content (``LibNaCLPK:`` form).
    :param source: how we learnt of it, one of the ``PEER_SOURCE_*`` constants.
    :param last_seen: when it was last known to serve, in whole seconds of the unix epoch; by default now,
        on ``clock`` (the installed reactor unless given).

    Two introduction points are equal when peer (by key) and seeder key are; ``source`` and ``last_seen``
    describe what we know of it, not which one it is.
    """

    __slots__ = ("last_seen", "peer", "seeder_pk", "source")

    def __init__(self, peer: Peer, seeder_pk: bytes, source: int = PEER_SOURCE_UNKNOWN,
                 last_seen: float | None = None, *, clock: IReactorTime | None = None) -> None:
        """Create the record; see the class documentation."""
        self.peer = peer
        self.seeder_pk = seeder_pk
        self.source = source
        if last_seen is None:
            last_seen = int((clock if clock is not None else get_reactor()).seconds())
        self.last_seen = last_seen

    def __eq__(self, other: object) -> bool:
        """Same peer and same seeder key."""
        if not isinstance(other, IntroductionPoint):
            return NotImplemented
        return self.peer == other.peer and self.seeder_pk == other.seeder_pk

    def __hash__(self) -> int:
        """Consistent with equality: from the peer and the seeder key."""
        return hash((self.peer, self.seeder_pk))

    def __repr__(self) -> str:
        host, port = self.peer.address[0], self.peer.address[1]
        return (f"IntroductionPoint(peer={self.peer.mid.hex()[:8]}@{host}:{port}, "
                f"seeder_pk={self.seeder_pk.hex()[20:36]}..., source={self.source}, last_seen={self.last_seen})")


__all__ = ["PEER_SOURCE_DHT", "PEER_SOURCE_UNKNOWN", "IntroductionPoint"]
