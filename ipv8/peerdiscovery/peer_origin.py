"""How this node came to know each of its peers, and whether a NAT puncture was involved.

The :class:`~ipv8.peerdiscovery.network.Network` keeps one :class:`PeerOrigins` (``network.origins``). While an
address is not (yet) a verified peer, what we know about it is a *pending* record, written by whoever learns it:

* the introduction protocol: a peer introduced the address in an introduction response (its LAN or WAN
  field), or told us with a puncture request that it introduced the address's owner to someone (us);
  an introduction by a tracker (an address on the network's blacklist) counts as ``bootstrap``;
* the community: it walks to the address on its own (``walked``) or because a bootstrapper named it
  (``bootstrap``);
* punctures (only before the address is a verified peer): the address punctured its NAT towards us
  (``received``), or we punctured ours towards it on a puncture request (``sent``); a puncture request from
  a tracker also makes the address ``bootstrap``.

When the address becomes a verified peer the record moves to that peer (by key) and lives exactly as long as
the peer stays verified; a peer nobody told us about and we never walked to ``contacted-us`` first. The first
thing learnt about an address is kept (a later walk to an introduced address stays ``introduced``); only the
puncture flags are added to it.

Remote peers decide what goes into the pending records (every introduction response names addresses, anyone can
send a puncture request), so they are capped and expire: :attr:`PeerOrigins.max_pending` records at most, each
for :attr:`PeerOrigins.pending_ttl` seconds, and a pending record also goes when the network forgets the
address it is about (for instance because its introducer introduced too many). The per-peer records are
bounded by the verified peers themselves. Nothing in the protocol reads these records (they are for people:
``/debug/peers`` and the dashboard), so a flood that pushes pending records out only makes that view poorer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ..bounded import AgedMap

if TYPE_CHECKING:
    from ..peer import Peer
    from ..types import Address
    from .network import Network

#: A tracker or a bootstrapper told us about it.
BOOTSTRAP = "bootstrap"
#: A peer introduced it (see :attr:`PeerOrigin.via` for how).
INTRODUCED = "introduced"
#: We walked to it although nobody introduced it (a walk by hand, a LAN beacon, a churn step, ...).
WALKED = "walked"
#: It sent us the first message (an introduction request from an address we did not know).
CONTACTED_US = "contacted-us"
#: Its address came from a snapshot of the peer graph we saved earlier.
SNAPSHOT = "snapshot"
#: Every value :attr:`PeerOrigin.how` takes once the peer is verified.
HOW = (BOOTSTRAP, INTRODUCED, WALKED, CONTACTED_US, SNAPSHOT)

#: It punctured its NAT towards us (someone introduced us to it and asked it to).
PUNCTURE_RECEIVED = "received"
#: We punctured our NAT towards it because a peer asked us to (it was introduced to that peer).
PUNCTURE_SENT = "sent"
#: Both of the above.
PUNCTURE_BOTH = "both"

#: :attr:`PeerOrigin.via` for an address introduced in the introduction response's WAN field.
VIA_WAN = "WAN"
#: ... in its LAN field.
VIA_LAN = "LAN"
#: ... as our own LAN IP with the introduced WAN port (the introduced peer seems to share our NAT).
VIA_LAN_GUESS = "LAN (guessed)"
#: ... in a puncture request: the sender introduced this address's owner to someone, and asked us to puncture.
VIA_PUNCTURE_REQUEST = "puncture request"


class PeerOrigin(NamedTuple):
    """What we know about how one peer (or address) came to us."""

    #: One of :data:`HOW`; ``""`` while only a puncture is known about a pending address.
    how: str
    #: Mid of the peer that introduced it (``b""`` if nobody did).
    introducer: bytes
    #: Address the introducer had when it introduced it (None if nobody did).
    introducer_address: tuple | None
    #: How the introduction was made (the ``VIA_*`` constants), ``""`` when it was not introduced.
    via: str
    #: ``""`` (reached directly) or one of the ``PUNCTURE_*`` constants.
    punctured: str
    #: When the first of this was learnt (the network's clock).
    since: float


def _merge_puncture(before: str, direction: str) -> str:
    if not before or before == direction:
        return direction
    return PUNCTURE_BOTH


def introduction_field(payload: Any, address: Address) -> str:
    """Which field of introduction response ``payload`` gave ``address`` (a ``VIA_*`` constant)."""
    if address == payload.wan_introduction_address:
        return VIA_WAN
    if address == payload.lan_introduction_address:
        return VIA_LAN
    return VIA_LAN_GUESS


class PeerOrigins:
    """The origin records of one :class:`~ipv8.peerdiscovery.network.Network` (see the module documentation).

    :meth:`note` and :meth:`punctured` are for overlays, the queries for everyone: they take the network's graph
    lock. :meth:`admitted`, :meth:`expelled`, :meth:`forget` and :meth:`prune` are the network's own hooks,
    called while it holds that lock.
    """

    #: Pending records (addresses that are no verified peer) kept at most; the oldest goes first.
    max_pending: int = 1024
    #: Seconds a pending record lives (as long as an unverified walkable address by default).
    pending_ttl: float = 300.0

    def __init__(self, network: Network) -> None:
        """Create the (empty) records of ``network``."""
        self._network = network
        self._pending: AgedMap = AgedMap(self.max_pending, self.pending_ttl)
        self._peers: dict[bytes, PeerOrigin] = {}

    def __len__(self) -> int:
        """Records kept, pending and per peer."""
        return len(self._pending) + len(self._peers)

    @property
    def pending_count(self) -> int:
        """Pending records kept (expired ones included until the next prune)."""
        return len(self._pending)

    # --- what overlays tell ----------------------------------------------------------------------------

    def note(self, address: Address, how: str, introducer: Peer | None = None, via: str = "") -> None:
        """We learnt ``address`` ``how`` (a :data:`HOW` value), from ``introducer`` if someone introduced it.

        Ignored when a verified peer uses the address already or something was learnt about it before.
        An introduction by a peer at a blacklisted address (a tracker) is recorded as :data:`BOOTSTRAP`.
        """
        network = self._network
        with network.graph_lock:
            address = tuple(address)
            if address in network.reverse_ip_lookup:
                return
            now = network.now()
            previous = self._pending.get(address, now)
            if previous is not None and previous.how:
                # Heard of again: it lives on, like the walkable address it is about (the first record stays).
                self._pending.set(address, previous, now)
                return
            introducer_mid, introducer_address = b"", None
            if introducer is not None:
                introducer_mid, introducer_address = introducer.mid, tuple(introducer.address)
                if how == INTRODUCED and any(tuple(known) in network.blacklist
                                             for known in introducer.addresses.values()):
                    how = BOOTSTRAP
            record = PeerOrigin(how, introducer_mid, introducer_address, via,
                                previous.punctured if previous is not None else "",
                                previous.since if previous is not None else now)
            self._sync_caps()
            self._pending.set(address, record, now)

    def punctured(self, address: Address, direction: str, requested_by: Address | None = None) -> None:
        """A puncture went between us and ``address``: ``direction`` is :data:`PUNCTURE_RECEIVED` or ``_SENT``.

        Only punctures before the address became a verified peer count: they are how we reached it. A later
        one (two peers of ours being introduced to each other again) changes nothing. ``requested_by`` is the
        sender of the puncture request we answered: when that is a tracker, the address came from
        :data:`BOOTSTRAP` (a peer's request is recorded as its introduction by the network instead).
        """
        network = self._network
        with network.graph_lock:
            address = tuple(address)
            if address in network.reverse_ip_lookup:
                return
            now = network.now()
            previous = self._pending.get(address, now)
            if previous is None:
                previous = PeerOrigin("", b"", None, "", "", now)
            if not previous.how and requested_by is not None and tuple(requested_by) in network.blacklist:
                previous = previous._replace(how=BOOTSTRAP, introducer_address=tuple(requested_by),
                                             via=VIA_PUNCTURE_REQUEST)
            self._sync_caps()
            self._pending.set(address, previous._replace(punctured=_merge_puncture(previous.punctured, direction)),
                              now)

    # --- queries ---------------------------------------------------------------------------------------

    def of_peer(self, peer: Peer) -> PeerOrigin | None:
        """How the verified ``peer`` (matched by key) came to us; None if it is not verified."""
        with self._network.graph_lock:
            return self._peers.get(peer.public_key.key_to_bin())

    def of_address(self, address: Address) -> PeerOrigin | None:
        """What we know about an address that is not a verified peer yet (None if nothing, or expired)."""
        with self._network.graph_lock:
            return self._pending.get(tuple(address), self._network.now())

    # --- hooks the network calls -------------------------------------------------------------------------

    def admitted(self, peer: Peer, key_bin: bytes) -> None:
        """``peer`` just became verified: its record is the pending one of its address (the preferred one first)."""
        now = self._network.now()
        addresses = [tuple(peer.address), *(tuple(address) for address in peer.addresses.values())]
        found = None
        for address in addresses:
            record = self._pending.get(address, now)  # an expired record is dropped here
            self._pending.pop(address)
            if found is None:
                found = record
        if found is None:
            found = PeerOrigin(CONTACTED_US, b"", None, "", "", now)
        elif not found.how:
            found = found._replace(how=CONTACTED_US)  # only a puncture was known: it came to us
        self._peers[key_bin] = found

    def expelled(self, key_bin: bytes) -> None:
        """The peer with this key is no longer verified: its record goes with it."""
        self._peers.pop(key_bin, None)

    def forget(self, address: Address) -> None:
        """The network forgot ``address``: so do we."""
        self._pending.pop(tuple(address))

    def prune(self, now: float) -> None:
        """Drop expired pending records (and the oldest while over the cap)."""
        self._sync_caps()
        self._pending.prune(now)

    def _sync_caps(self) -> None:
        # Like the network's caps, these are plain attributes that may be changed on an instance at any time.
        self._pending.max_size = self.max_pending
        self._pending.ttl = self.pending_ttl


__all__ = ["BOOTSTRAP", "CONTACTED_US", "HOW", "INTRODUCED", "PUNCTURE_BOTH", "PUNCTURE_RECEIVED", "PUNCTURE_SENT",
           "SNAPSHOT", "VIA_LAN", "VIA_LAN_GUESS", "VIA_PUNCTURE_REQUEST", "VIA_WAN", "WALKED", "PeerOrigin",
           "PeerOrigins", "introduction_field"]
