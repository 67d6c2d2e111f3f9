"""Finding introduction points: peers-request / peers-response, the DHT provider, and swarm size estimates.

Private: :class:`~ipv8.messaging.anonymization.hidden_services.HiddenTunnelCommunity` mixes :class:`PeersMixin` in.
A downloader asks over one of its circuits: the circuit's exit answers from the DHT (``settings.dht_provider``),
or a known introduction point, reached through the exit, answers from its PEX overlay. Every answer must match a
request we sent, over the circuit we sent it on; entries that are no usable introduction point are counted
(``hs-bad-peer``) and skipped. Lookups we run for others are capped (``max_peer_lookups``).
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, fail, succeed

from ...peer import Peer
from ...util import maybe_deferred
from ._hidden_caches import PeersRequestCache
from .community import NO_ADDRESS, unpack_cell
from .payload import IntroductionInfo, PeersRequestPayload, PeersResponsePayload
from .tunnel import PEER_SOURCE_PEX, IntroductionPoint, Swarm

if TYPE_CHECKING:
    from ...types import Address

#: An intro-established, rendezvous-established or peers-response that answers nothing we asked.
DROP_HS_UNEXPECTED_REPLY = "hs-unexpected-reply"
#: A peers-request we cannot or will not serve (no PEX overlay, not our exit, too many lookups running).
DROP_HS_PEERS_REFUSED = "hs-peers-refused"
#: An entry of a peers-response that is no usable introduction point.
DROP_HS_BAD_PEER = "hs-bad-peer"

#: Introduction points sent in one peers-response at most (pyipv8's number).
MAX_PEERS_IN_RESPONSE = 7
#: Longest seeder key accepted (a LibNaCLPK is 74 bytes).
MAX_KEY_SIZE = 128


class PeersMixin:
    """Peers-requests and the DHT; expects the attributes of a HiddenTunnelCommunity."""

    exit_sockets: dict
    pex: dict
    settings: Any
    request_cache: Any
    dht_provider: Any
    endpoint: Any
    logger: Any
    drop_counts: Any
    clock: Any
    _peer_lookups: int

    # -- finding introduction points -------------------------------------------------------------------------

    def send_peers_request(self, info_hash: bytes, target: IntroductionPoint | None, hops: int) -> Deferred:
        """Ask for the introduction points of ``info_hash``: ``target`` (PEX), or our circuit's exit (DHT)."""
        circuit = self.select_circuit(None, hops)
        if circuit is None or circuit.hop is None:
            return fail(RuntimeError("no circuit for a peers-request"))
        cache = self.request_cache.add(PeersRequestCache(self, circuit, info_hash, target))
        if cache is None:
            return fail(RuntimeError("too many requests outstanding"))
        payload = PeersRequestPayload(circuit.circuit_id, cache.number, info_hash)
        if target is not None and target.peer.public_key.key_to_bin() != circuit.hops[-1].public_key_bin:
            self.tunnel_data(circuit, target.peer.address, payload)
        else:
            self.send_cell(circuit.hop.address, payload)
        return cache.deferred

    @unpack_cell(PeersRequestPayload)
    def on_peers_request(self, source_address: Address, payload: PeersRequestPayload,
                         circuit_id: int | None = None) -> Deferred | None:
        """Answer with the introduction points we know from PEX, or, at the end of the asker's circuit, the DHT."""
        info_hash = payload.info_hash
        exit_socket = self.exit_sockets.get(circuit_id) if circuit_id is not None else None
        if circuit_id is not None and exit_socket is None:
            self.drop_counts[DROP_HS_PEERS_REFUSED] += 1  # through one of our own circuits: nobody to answer
            return None
        if info_hash in self.pex:
            self.send_peers_response(source_address, payload, self.pex[info_hash].get_intro_points(), circuit_id)
            return None
        if exit_socket is None or self.dht_provider is None or self._peer_lookups >= self.settings.max_peer_lookups:
            self.drop_counts[DROP_HS_PEERS_REFUSED] += 1
            return None
        self._peer_lookups += 1

        def answer(result: Any) -> None:
            if result and self.exit_sockets.get(circuit_id) is exit_socket:
                self.send_peers_response(source_address, payload, list(result[1]), circuit_id)

        def done(result: Any) -> Any:
            self._peer_lookups -= 1
            return result
        lookup = self.dht_lookup(info_hash).addBoth(done).addCallback(answer)
        return lookup.addErrback(lambda failure: self.logger.info("DHT lookup failed: %s", failure.getErrorMessage()))

    def send_peers_response(self, target_addr: Address, request: PeersRequestPayload,
                            intro_points: list[IntroductionPoint], circuit_id: int | None) -> None:
        """Send up to 7 of ``intro_points``: back down the circuit, or to the exit that asked."""
        picked = random.sample(intro_points, min(len(intro_points), MAX_PEERS_IN_RESPONSE))
        peers = [IntroductionInfo(ip.peer.address, ip.peer.public_key.key_to_bin(), ip.seeder_pk, ip.source)
                 for ip in picked]
        payload = PeersResponsePayload(request.circuit_id, request.identifier, request.info_hash, peers)
        if circuit_id is not None:
            self.send_cell(target_addr, payload)
        else:
            self.endpoint.send(target_addr, self.ezr_pack(payload.msg_id, payload, sig=False))

    @unpack_cell(PeersResponsePayload)
    def on_peers_response(self, source_address: Address, payload: PeersResponsePayload,
                          circuit_id: int | None) -> None:
        """Introduction points for a swarm we asked about; unusable entries are skipped and counted."""
        cache = self.request_cache.get(PeersRequestCache, payload.identifier)
        if cache is None or circuit_id is None or cache.circuit.circuit_id != circuit_id \
                or cache.info_hash != payload.info_hash:
            self.drop_counts[DROP_HS_UNEXPECTED_REPLY] += 1
            return
        self.request_cache.pop(PeersRequestCache, payload.identifier)
        found = []
        for info in payload.peers:
            if tuple(info.address) == NO_ADDRESS:
                continue
            if not self._usable_key(info.key) or not 0 < len(info.seeder_pk) <= MAX_KEY_SIZE:
                self.drop_counts[DROP_HS_BAD_PEER] += 1
                continue
            found.append(IntroductionPoint(Peer(info.key, address=info.address, clock=self.clock), info.seeder_pk,
                                           info.source, clock=self.clock))
        if not cache.deferred.called:
            cache.deferred.callback(found)

    async def estimate_swarm_size(self, info_hash: bytes, hops: int = 1, max_requests: int = 10) -> int:
        """The number of distinct seeders of ``info_hash`` that introduction points (asked via PEX) know."""
        swarm = Swarm(info_hash, hops, self.send_peers_request, clock=self.clock)
        known: list[IntroductionPoint | None] = [None]
        tried: set[IntroductionPoint | None] = set()
        while len(tried) < max_requests:
            untried = [ip for ip in dict.fromkeys(known) if ip not in tried]
            if not untried:
                break
            batch = random.sample(untried, min(len(untried), max_requests - len(tried)))
            # One round of lookups in parallel; a silent introduction point just adds nothing.
            results = await DeferredList([maybe_deferred(swarm.lookup, ip) for ip in batch], consumeErrors=True)
            for ok, ips in results:
                if ok and ips:
                    known.extend(ips)
            tried.update(batch)
        return len({ip.seeder_pk for ip in known if ip is not None and ip.source == PEER_SOURCE_PEX})

    # -- the DHT ---------------------------------------------------------------------------------------------

    def dht_lookup(self, info_hash: bytes) -> Deferred:
        """``settings.dht_provider.lookup`` (fires None without a provider)."""
        if self.dht_provider is None:
            self.logger.error("No DHT provider to look up %s", info_hash.hex())
            return succeed(None)
        return maybe_deferred(self.dht_provider.lookup, info_hash)

    def dht_announce(self, info_hash: bytes, intro_point: IntroductionPoint) -> Deferred:
        """``settings.dht_provider.announce`` (in the background; failures are logged)."""
        if self.dht_provider is None:
            return succeed(None)
        return maybe_deferred(self.dht_provider.announce, info_hash, intro_point).addErrback(
            lambda failure: self.logger.info("DHT announce failed: %s", failure.getErrorMessage()))



__all__ = ["DROP_HS_BAD_PEER", "DROP_HS_PEERS_REFUSED", "DROP_HS_UNEXPECTED_REPLY", "MAX_KEY_SIZE",
           "MAX_PEERS_IN_RESPONSE", "PeersMixin"]
