"""Introduction points of hidden services, published in and found through the DHT.

A hidden seeder picks *introduction points*, peers that relay first contacts for it. Downloaders find them
under the content's info hash (a 20-byte SHA-1, used as the DHT key). :class:`DHTCommunityProvider` is the
small adapter between the tunnel code and a :class:`~ipv8.dht.discovery.DHTDiscoveryCommunity`:
:meth:`~DHTCommunityProvider.announce` stores one introduction point, :meth:`~DHTCommunityProvider.lookup`
finds them all, :meth:`~DHTCommunityProvider.peer_lookup` connects to a peer by its ``mid``.

**Value format.** Each introduction point is one plain DHT value whose data is a
:class:`DHTIntroPointPayload`, byte for byte what pyipv8 3.2.1 stores, so that hidden services of either
implementation find the other's:

==============  ==============  ==========================================================================
field           format          content
==============  ==============  ==========================================================================
address         ``ip_address``  the introduction point's address (7 bytes for IPv4, 19 for IPv6)
last_seen       ``I``           when it was last known to serve (unix seconds)
intro_pk        ``varlenH``     its curve25519 public key *without* the ``LibNaCLPK:`` prefix
seeder_pk       ``varlenH``     the seeder's public key, without the prefix too
==============  ==============  ==========================================================================

Leaving out the two 10-byte prefixes keeps an IPv6 entry (156 bytes with the DHT's type byte) within the
DHT's 170-byte limit; it also means only curve25519 (``LibNaCLPK:``) keys can be announced.

**Hostile values.** Anyone can store anything under an info hash. A value that does not decode, names a key
that does not load or an address nobody could be reached at is skipped, logged at debug level and counted in
:attr:`DHTCommunityProvider.skipped` by reason; a lookup never fails because of what others stored. Bytes
after the four fields are ignored, as pyipv8 does, so that a later version may append fields.

**Failures.** As in pyipv8, the three operations do not fail when the DHT does: the error is logged and the
Deferred fires with "nothing" (``None`` for a lookup, an empty list otherwise). Only a misuse (an
introduction point that cannot be encoded) fails, with :class:`ValueError`.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, ensureDeferred, fail

from ..keyvault.crypto import default_eccrypto
from ..messaging.address_hygiene import is_usable
from ..messaging.anonymization.tunnel import PEER_SOURCE_DHT, IntroductionPoint
from ..messaging.payload_dataclass import dataclass, type_from_format
from ..messaging.serialization import PackError, default_serializer
from ..peer import Peer
from . import DHTError

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

    from .discovery import DHTDiscoveryCommunity
    from .routing import Node

logger = logging.getLogger(__name__)

#: The prefix of a curve25519 public key in binary form, left out of the stored value.
PUBLIC_KEY_PREFIX = b"LibNaCLPK:"

# Reasons a found value is skipped (keys of DHTCommunityProvider.skipped).
SKIP_MALFORMED = "malformed"
SKIP_BAD_INTRO_KEY = "bad-intro-key"
SKIP_BAD_SEEDER_KEY = "bad-seeder-key"
SKIP_UNUSABLE_ADDRESS = "unusable-address"


@dataclass
class DHTIntroPointPayload:
    """The data of the DHT value that publishes one introduction point (see the module documentation)."""

    address: type_from_format("ip_address")
    last_seen: type_from_format("I")
    intro_pk: type_from_format("varlenH")
    seeder_pk: type_from_format("varlenH")


def encode_intro_point(intro_point: IntroductionPoint) -> bytes:
    """The value data that announces ``intro_point``.

    :raises ValueError: a key is not a curve25519 key, or ``last_seen`` does not fit in 32 unsigned bits.
    """
    intro_pk = intro_point.peer.public_key.key_to_bin()
    seeder_pk = bytes(intro_point.seeder_pk)
    for name, key in (("introduction point", intro_pk), ("seeder", seeder_pk)):
        if not key.startswith(PUBLIC_KEY_PREFIX):
            raise ValueError(f"the {name}'s key is not a curve25519 (LibNaCLPK) key; no other kind fits the DHT")
    last_seen = int(intro_point.last_seen)
    if not 0 <= last_seen <= 0xFFFFFFFF:
        raise ValueError(f"last_seen {intro_point.last_seen} does not fit in 32 unsigned bits")
    payload = DHTIntroPointPayload(intro_point.peer.address, last_seen,
                                   intro_pk[len(PUBLIC_KEY_PREFIX):], seeder_pk[len(PUBLIC_KEY_PREFIX):])
    try:
        return default_serializer.pack_serializable(payload)
    except PackError as exc:
        raise ValueError(f"the introduction point cannot be encoded: {exc}") from exc


class IntroPointDecodeError(ValueError):
    """A DHT value is not a usable introduction point; :attr:`reason` names why (a ``SKIP_*`` constant)."""

    def __init__(self, reason: str, message: str) -> None:
        """Create the error with a counter name and an explanation."""
        super().__init__(message)
        self.reason = reason


def decode_intro_point(data: bytes, clock: IReactorTime | None = None) -> IntroductionPoint:
    """The introduction point that value data ``data`` announces (source :data:`PEER_SOURCE_DHT`).

    :param clock: given to the introduction point's :class:`~ipv8.peer.Peer`.
    :raises IntroPointDecodeError: the data is not a usable introduction point.
    """
    try:
        payload, _ = default_serializer.unpack_serializable(DHTIntroPointPayload, data)
    except PackError as exc:
        raise IntroPointDecodeError(SKIP_MALFORMED, f"not an introduction point: {exc}") from exc
    if not is_usable(payload.address):
        raise IntroPointDecodeError(SKIP_UNUSABLE_ADDRESS, f"unusable address {payload.address}")
    try:
        peer = Peer(PUBLIC_KEY_PREFIX + payload.intro_pk, payload.address, clock=clock)
    except Exception as exc:
        raise IntroPointDecodeError(SKIP_BAD_INTRO_KEY, "the introduction point's key does not load") from exc
    seeder_pk = PUBLIC_KEY_PREFIX + payload.seeder_pk
    try:
        default_eccrypto.key_from_public_bin(seeder_pk)
    except Exception as exc:
        raise IntroPointDecodeError(SKIP_BAD_SEEDER_KEY, "the seeder's key does not load") from exc
    return IntroductionPoint(peer, seeder_pk, PEER_SOURCE_DHT, payload.last_seen)


class DHTCommunityProvider:
    """Publish and find introduction points through a DHT community; see the module documentation.

    :param dht_community: a :class:`~ipv8.dht.discovery.DHTDiscoveryCommunity` (a plain
        :class:`~ipv8.dht.community.DHTCommunity` does for :meth:`lookup` and :meth:`announce`).
    :param port: the tunnel community's listening port (kept for callers, as pyipv8 does; unused here).

    :ivar skipped: values found by :meth:`lookup` that were not usable introduction points, by reason.
    """

    def __init__(self, dht_community: DHTDiscoveryCommunity, port: int) -> None:
        """Wrap ``dht_community``."""
        self.dht_community = dht_community
        self.port = port
        self.skipped: Counter[str] = Counter()

    def peer_lookup(self, mid: bytes, peer: Peer | None = None) -> Deferred:
        """Find the peer with ``mid`` and have it puncture its NAT towards us (trying ``peer`` first, if given).

        Fires with the nodes through which the peer was reached, or ``[]`` when it was not (logged).
        """
        async def run() -> list[Node]:
            connect = getattr(self.dht_community, "connect_peer", None)
            if connect is None:
                logger.debug("Cannot look up %s: %s has no connect_peer", mid.hex(),
                             type(self.dht_community).__name__)
                return []
            try:
                return list(await connect(mid, peer))
            except DHTError as exc:
                logger.debug("Could not connect to %s through the DHT: %s", mid.hex(), exc)
                return []
        return ensureDeferred(run())

    def lookup(self, info_hash: bytes) -> Deferred:
        """Find the introduction points announced for ``info_hash``.

        Fires with ``(info_hash, [IntroductionPoint, ...])``, one entry per introduction point and seeder
        (the most recent ``last_seen`` kept), or with ``None`` when the DHT lookup failed (logged).
        """
        async def run() -> tuple[bytes, list[IntroductionPoint]] | None:
            try:
                values = await self.dht_community.find_values(info_hash)
            except DHTError as exc:
                logger.info("Could not look up %s in the DHT: %s", info_hash.hex(), exc)
                return None
            found: dict[IntroductionPoint, IntroductionPoint] = {}
            for data, _signer in values:
                try:
                    intro_point = decode_intro_point(data, self.dht_community.clock)
                except IntroPointDecodeError as exc:
                    self.skipped[exc.reason] += 1
                    logger.debug("Skipping a DHT value under %s: %s", info_hash.hex(), exc)
                    continue
                known = found.get(intro_point)
                if known is None or known.last_seen < intro_point.last_seen:
                    found[intro_point] = intro_point
            logger.info("Found %d introduction points for %s in the DHT", len(found), info_hash.hex())
            return info_hash, list(found.values())
        return ensureDeferred(run())

    def announce(self, info_hash: bytes, intro_point: IntroductionPoint) -> Deferred:
        """Store ``intro_point`` in the DHT under ``info_hash``.

        Fires with the nodes that stored it, or ``[]`` when none did (logged). Fails with :class:`ValueError`
        when the introduction point cannot be encoded (see :func:`encode_intro_point`).
        """
        try:
            data = encode_intro_point(intro_point)
        except ValueError as exc:
            return fail(exc)

        async def run() -> list[Node]:
            try:
                nodes = await self.dht_community.store_value(info_hash, data)
            except DHTError as exc:
                logger.info("Could not announce %s in the DHT: %s", info_hash.hex(), exc)
                return []
            logger.info("Announced %s in the DHT", info_hash.hex())
            return list(nodes)
        return ensureDeferred(run())


__all__ = ["PUBLIC_KEY_PREFIX", "DHTCommunityProvider", "DHTIntroPointPayload", "IntroPointDecodeError",
           "decode_intro_point", "encode_intro_point"]
