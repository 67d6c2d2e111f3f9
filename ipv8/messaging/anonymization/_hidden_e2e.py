"""End-to-end circuits of the hidden-services community: create-e2e, created-e2e, link-e2e, linked-e2e.

Private: :class:`~ipv8.messaging.anonymization.hidden_services.HiddenTunnelCommunity` mixes :class:`E2EMixin` in
(see that module for the whole flow). Who does what:

* downloader: :meth:`E2EMixin.create_e2e` sends create-e2e through its circuit's exit to an introduction point;
  on created-e2e it checks the seeder's auth, decrypts where to meet, builds a circuit ending at that rendezvous
  point and sends link-e2e; on linked-e2e the circuit is end to end.
* introduction point: passes a create-e2e that arrives bare down the circuit of the seeder it names.
* seeder: on a create-e2e from its introduction circuit it builds a rendezvous point and answers created-e2e.
* rendezvous point: on link-e2e with a cookie it serves, it joins the two circuits (two rendezvous relay routes).

Each step refuses what it did not ask for, counted under the ``DROP_HS_*`` reasons below: a handshake key seen
before (a replayed create-e2e), a failed auth or undecryptable rendezvous info (a forged created-e2e), a cookie that
was used already, more rendezvous points in the making than ``max_pending_rendezvous``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...peer import Peer
from ..serialization import PackError
from ._hidden_caches import E2ERequestCache, LinkRequestCache
from ._hidden_peers import DROP_HS_UNEXPECTED_REPLY
from .community import unpack_cell
from .crypto import FORWARD, CryptoException
from .payload import (
    CreatedE2EPayload,
    CreateE2EPayload,
    LinkE2EPayload,
    LinkedE2EPayload,
    RendezvousInfo,
    pack_rendezvous_info,
    unpack_rendezvous_info,
)
from .tunnel import (
    CIRCUIT_ID_PORT,
    CIRCUIT_TYPE_IP_SEEDER,
    CIRCUIT_TYPE_RP_DOWNLOADER,
    Hop,
    RelayRoute,
)

if TYPE_CHECKING:
    from ...types import Address
    from .tunnel import IntroductionPoint, RendezvousPoint

#: A create-e2e that arrived bare for a seeder key we do not introduce.
DROP_HS_UNKNOWN_SEEDER = "hs-unknown-seeder"
#: A create-e2e or link-e2e that does not fit its circuit (not our introduction circuit, wrong swarm or key).
DROP_HS_UNEXPECTED_E2E = "hs-unexpected-e2e"
#: A create-e2e whose handshake key we saw before.
DROP_HS_REPLAYED_E2E = "hs-replayed-e2e"
#: A create-e2e refused because ``max_pending_rendezvous`` rendezvous points are being made already.
DROP_HS_E2E_LIMIT = "hs-e2e-limit"
#: A create-e2e with an unusable key, or a created-e2e whose auth or rendezvous info is wrong.
DROP_HS_BAD_E2E = "hs-bad-e2e"
#: A link-e2e for a cookie we never served (or that expired with its circuit).
DROP_HS_UNKNOWN_COOKIE = "hs-unknown-cookie"
#: A link-e2e or establish-rendezvous with a cookie that was used already.
DROP_HS_REUSED_COOKIE = "hs-reused-cookie"
#: A created-e2e or linked-e2e that answers nothing we asked (the reason the other answers use too).
DROP_HS_UNEXPECTED_E2E_REPLY = DROP_HS_UNEXPECTED_REPLY


class E2EMixin:
    """The e2e handshake and linking; expects the attributes of a HiddenTunnelCommunity."""

    circuits: dict
    exit_sockets: dict
    relay_from_to: dict
    swarms: dict
    settings: Any
    crypto: Any
    request_cache: Any
    serializer: Any
    logger: Any
    drop_counts: Any
    clock: Any
    intro_point_for: dict
    rendezvous_point_for: dict
    e2e_callbacks: dict
    services: dict

    def _e2e_requests_table(self) -> dict[int, tuple[bytes, bytes]]:
        table = self.__dict__.get("_e2e_requests")
        if table is None:
            table = self.__dict__["_e2e_requests"] = {}
        return table

    def _e2e_pending(self, info_hash: bytes, seeder_pk: bytes) -> bool:
        """Whether a create-e2e to this seeder is in flight (so another is not sent)."""
        table = self._e2e_requests_table()
        for number, entry in list(table.items()):
            if not self.request_cache.has(E2ERequestCache, number):
                del table[number]  # timed out
            elif entry == (info_hash, seeder_pk):
                return True
        return False

    # -- downloader ------------------------------------------------------------------------------------------

    def create_e2e(self, info_hash: bytes, intro_point: IntroductionPoint) -> None:
        """Send create-e2e for ``info_hash`` to the seeder behind ``intro_point``."""
        circuit = self.select_circuit_for_infohash(info_hash)  # type: ignore[attr-defined]
        if circuit is None:
            self.logger.info("No circuit to reach introduction point %s", intro_point)
            return
        try:
            hop = Hop(Peer(intro_point.seeder_pk))
        except Exception:  # noqa: BLE001 - a seeder key from the network that is no key
            self.drop_counts[DROP_HS_BAD_E2E] += 1
            return
        hop.dh_secret, hop.dh_first_part = self.crypto.generate_diffie_secret()
        cache = self.request_cache.add(E2ERequestCache(self, info_hash, hop, intro_point))
        if cache is None:
            return
        self._e2e_requests_table()[cache.number] = (info_hash, intro_point.seeder_pk)
        self.tunnel_data(circuit, intro_point.peer.address,  # type: ignore[attr-defined]
                         CreateE2EPayload(cache.number, info_hash, hop.public_key_bin, hop.dh_first_part))

    @unpack_cell(CreatedE2EPayload)
    async def on_created_e2e(self, source_address: Address, payload: CreatedE2EPayload,
                             circuit_id: int | None) -> None:
        """The seeder answered: check it, then build the circuit to the rendezvous point and ask to link."""
        cache = self.request_cache.get(E2ERequestCache, payload.identifier)
        if cache is None or circuit_id is None or circuit_id not in self.circuits:
            self.drop_counts[DROP_HS_UNEXPECTED_E2E_REPLY] += 1
            return
        self.request_cache.pop(E2ERequestCache, payload.identifier)
        self._e2e_requests_table().pop(payload.identifier, None)
        try:
            shared_secret = self.crypto.verify_and_generate_shared_secret(cache.hop.dh_secret, payload.key,
                                                                          payload.auth, cache.hop.public_key)
            keys = self.crypto.generate_session_keys(shared_secret)
            rp_info = unpack_rendezvous_info(keys.decrypt_str(payload.rp_info_enc, FORWARD), self.serializer)
            required_exit = Peer(rp_info.key, rp_info.address, clock=self.clock)
        except (CryptoException, PackError, ValueError) as exc:
            self.drop_counts[DROP_HS_BAD_E2E] += 1
            self.logger.info("Refusing created-e2e: %s", exc)
            return
        swarm = self.swarms.get(cache.info_hash)
        if swarm is None:
            return
        circuit = self.create_circuit_for_infohash(cache.info_hash, CIRCUIT_TYPE_RP_DOWNLOADER,  # type: ignore[attr-defined]
                                                   required_exit=required_exit)
        if circuit is None:
            return
        swarm.add_connection(circuit, cache.intro_point)
        if await circuit.ready is None or circuit.hop is None:
            return
        link = self.request_cache.add(LinkRequestCache(self, circuit, cache.info_hash, keys))
        if link is not None:
            self.send_cell(circuit.hop.address,  # type: ignore[attr-defined]
                           LinkE2EPayload(circuit.circuit_id, link.number, rp_info.cookie))

    @unpack_cell(LinkedE2EPayload)
    def on_linked_e2e(self, source_address: Address, payload: LinkedE2EPayload, circuit_id: int | None) -> None:
        """The rendezvous point joined our circuit to the seeder's: hand the connection to the swarm's callback."""
        cache = self.request_cache.get(LinkRequestCache, payload.identifier)
        if cache is None or cache.circuit.circuit_id != circuit_id:
            self.drop_counts[DROP_HS_UNEXPECTED_E2E_REPLY] += 1
            return
        self.request_cache.pop(LinkRequestCache, payload.identifier)
        circuit = cache.circuit
        circuit.e2e = True
        circuit.hs_session_keys = cache.hs_session_keys
        self.logger.info("E2E circuit %d linked", circuit.circuit_id)
        address = (self.circuit_id_to_ip(circuit.circuit_id), CIRCUIT_ID_PORT)  # type: ignore[attr-defined]
        if cache.info_hash in self.services:
            self._e2e_peers.add(circuit.circuit_id)  # type: ignore[attr-defined]
        callback = self.e2e_callbacks.get(cache.info_hash)
        if callback is not None:
            self._call_back(callback, address)  # type: ignore[attr-defined]

    # -- introduction point and seeder -----------------------------------------------------------------------

    @unpack_cell(CreateE2EPayload)
    async def on_create_e2e(self, source_address: Address, payload: CreateE2EPayload,
                            circuit_id: int | None = None) -> None:
        """Bare: pass it to the seeder we introduce. Through our introduction circuit: answer it as the seeder."""
        if circuit_id is None:
            entry = self.intro_point_for.get(payload.node_public_key)
            if entry is None:
                self.drop_counts[DROP_HS_UNKNOWN_SEEDER] += 1
                return
            self.tunnel_data(entry[0], source_address, payload)  # type: ignore[attr-defined]
            return
        circuit = self.circuits.get(circuit_id)
        swarm = self.swarms.get(payload.info_hash)
        if circuit is None or circuit.ctype != CIRCUIT_TYPE_IP_SEEDER or circuit.info_hash != payload.info_hash \
                or swarm is None or not swarm.seeding \
                or payload.node_public_key != swarm.seeder_sk.pub().key_to_bin():
            self.drop_counts[DROP_HS_UNEXPECTED_E2E] += 1
            return
        if self._seen_e2e_keys.seen(bytes(payload.key), self.clock.seconds()):  # type: ignore[attr-defined]
            self.drop_counts[DROP_HS_REPLAYED_E2E] += 1
            return
        if self._pending_rendezvous >= self.settings.max_pending_rendezvous:  # type: ignore[attr-defined]
            self.drop_counts[DROP_HS_E2E_LIMIT] += 1
            return
        try:
            handshake = self.crypto.generate_diffie_shared_secret(payload.key, swarm.seeder_sk)
        except (CryptoException, ValueError):
            self.drop_counts[DROP_HS_BAD_E2E] += 1
            return
        self._pending_rendezvous += 1  # type: ignore[attr-defined]
        try:
            rp = await self.create_rendezvous_point(payload.info_hash)  # type: ignore[attr-defined]
            if rp is not None:
                rp = await rp.ready
        finally:
            self._pending_rendezvous -= 1  # type: ignore[attr-defined]
        if rp is not None:
            self.create_created_e2e(rp, source_address, payload, circuit_id, handshake)

    def create_created_e2e(self, rp: RendezvousPoint, source_address: Address, payload: CreateE2EPayload,
                           circuit_id: int, handshake: tuple[bytes, bytes, bytes]) -> None:
        """Answer a create-e2e: our handshake half and the rendezvous point, encrypted for the downloader."""
        shared_secret, y, auth = handshake
        keys = self.crypto.generate_session_keys(shared_secret)
        rp.circuit.hs_session_keys = keys
        rp_info = RendezvousInfo(rp.address, rp.circuit.hops[-1].public_key_bin, rp.cookie)
        rp_info_enc = keys.encrypt_str(pack_rendezvous_info(rp_info, self.serializer), FORWARD)
        circuit = self.circuits.get(circuit_id)
        if circuit is None:
            return
        self.tunnel_data(circuit, source_address,  # type: ignore[attr-defined]
                         CreatedE2EPayload(payload.identifier, y, auth, rp_info_enc))

    # -- rendezvous point ------------------------------------------------------------------------------------

    @unpack_cell(LinkE2EPayload)
    def on_link_e2e(self, source_address: Address, payload: LinkE2EPayload, circuit_id: int | None) -> None:
        """Join the downloader's circuit (this one) to the seeder's circuit that established ``cookie``."""
        seeder_socket = self.rendezvous_point_for.get(payload.cookie)
        if seeder_socket is None:
            reused = payload.cookie in self._used_cookies  # type: ignore[attr-defined]
            self.drop_counts[DROP_HS_REUSED_COOKIE if reused else DROP_HS_UNKNOWN_COOKIE] += 1
            return
        downloader_socket = self.exit_sockets.get(circuit_id) if circuit_id is not None else None
        if downloader_socket is None or downloader_socket is seeder_socket or downloader_socket.enabled \
                or seeder_socket.enabled or self.exit_sockets.get(seeder_socket.circuit_id) is not seeder_socket \
                or tuple(source_address) != tuple(downloader_socket.hop.address) \
                or any(s is downloader_socket for s in self.rendezvous_point_for.values()) \
                or any(s is downloader_socket for s, _ in self.intro_point_for.values()):
            self.drop_counts[DROP_HS_UNEXPECTED_E2E] += 1
            return
        # Removing the exit sockets also consumes the cookie (see remove_exit_socket).
        self.remove_exit_socket(downloader_socket.circuit_id, "linking circuit")  # type: ignore[attr-defined]
        self.remove_exit_socket(seeder_socket.circuit_id, "linking circuit")  # type: ignore[attr-defined]
        self.relay_from_to[downloader_socket.circuit_id] = RelayRoute(
            seeder_socket.circuit_id, Hop(seeder_socket.hop.peer, downloader_socket.hop.keys), FORWARD, True,
            clock=self.clock)
        self.relay_from_to[seeder_socket.circuit_id] = RelayRoute(
            downloader_socket.circuit_id, Hop(downloader_socket.hop.peer, seeder_socket.hop.keys), FORWARD, True,
            clock=self.clock)
        self.send_cell(source_address, LinkedE2EPayload(downloader_socket.circuit_id,  # type: ignore[attr-defined]
                                                        payload.identifier))


__all__ = ["DROP_HS_BAD_E2E", "DROP_HS_E2E_LIMIT", "DROP_HS_REPLAYED_E2E", "DROP_HS_REUSED_COOKIE",
           "DROP_HS_UNEXPECTED_E2E", "DROP_HS_UNEXPECTED_E2E_REPLY", "DROP_HS_UNKNOWN_COOKIE", "DROP_HS_UNKNOWN_SEEDER",
           "E2EMixin"]
