"""The cell plane of the tunnel community: sending cells, relaying them, and opening the ones meant for us.

Private: :class:`~ipv8.messaging.anonymization.community.TunnelCommunity` mixes :class:`CellMixin` in. It does
what pyipv8 3.2.1's ``PythonCryptoEndpoint`` does, inside the community: every cell (outer message 0) of the
community's prefix comes here before the ordinary dispatch.

A cell for a circuit id we relay is passed on with one layer removed (towards the exit) or added (towards the
initiator), without looking inside. Any other cell is opened with the keys of our exit socket or our circuit
and handed, as the ordinary packet it contains, to the handler of its inner message id.

Every cell refused is counted in ``drop_counts`` under one of the ``DROP_TUNNEL_*`` reasons below, or under
``tunnel-`` plus the crypto module's reason (``tunnel-cell-bad-tag``, ``tunnel-cell-replayed``, ...).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, ensureDeferred

from ..serialization import PackError
from .crypto import CryptoException, decrypt_layers, encrypt_layers
from .payload import (
    _CELL_FIELDS,
    _CIRCUIT_ID,
    CELL_HEADER_SIZE,
    PLAINTEXT_MSG_IDS,
    RELAY_EARLY_MSG_IDS,
    CellPayload,
    DataPayload,
    ExtendPayload,
    encode_cell_message,
)
from .tunnel import (
    BACKWARD,
    CIRCUIT_TYPE_RP_DOWNLOADER,
    CIRCUIT_TYPE_RP_SEEDER,
    FORWARD,
)

if TYPE_CHECKING:
    from ...types import Address
    from .payload import CellablePayload
    from .tunnel import Circuit, RelayRoute

#: Remembered encoded address pairs (sending), decoded IPv4 addresses (exiting) and cell headers, per community
#: at most (each cache is emptied when full).
_ADDRESS_CACHE_SIZE = 4096
_DATA_MSG_ID = DataPayload.msg_id
_EXTEND_MSG_ID = ExtendPayload.msg_id
#: Type byte of an IPv4 typed address, and the size of a data message's header when both addresses are IPv4:
#: message id, then two times (type, 4-byte IP, 2-byte port).
_IPV4 = 1
_DATA_IPV4_HEADER_SIZE = 1 + 2 * 7
_NO_ADDRESS = ("0.0.0.0", 0)
#: TunnelCommunity's own counter name for data it cannot use (community.DROP_TUNNEL_BAD_DATA).
_DROP_TUNNEL_BAD_DATA = "tunnel-bad-data"
#: ``TunnelCommunity.on_data``, once the community module is loaded (see :func:`_stock_data_handler`).
_STOCK_DATA_HANDLER: Any = None


def _stock_data_handler() -> Any:
    """``TunnelCommunity.on_data``: the exit's shortcut stands in for it only (a subclass may override it)."""
    global _STOCK_DATA_HANDLER  # set once, read for every cell
    if _STOCK_DATA_HANDLER is None:
        # Imported here, not at the top: the community module imports this one.
        from .community import TunnelCommunity

        _STOCK_DATA_HANDLER = TunnelCommunity.on_data
    return _STOCK_DATA_HANDLER


_unpack_cell_fields = _CELL_FIELDS.unpack_from
_pack_cell_fields = _CELL_FIELDS.pack
_pack_circuit_id = _CIRCUIT_ID.pack
_CELL_ID_BYTE = b"\x00"

#: A datagram with message id 0 that is too short to be a cell.
DROP_TUNNEL_MALFORMED_CELL = "tunnel-malformed-cell"
#: An encrypted cell for a circuit id we neither own, relay nor exit.
DROP_TUNNEL_UNKNOWN_CIRCUIT = "tunnel-unknown-circuit"
#: A plaintext cell whose inner message is not create or created.
DROP_TUNNEL_FORBIDDEN_PLAINTEXT = "tunnel-forbidden-plaintext"
#: An extend that arrived without the relay_early flag (or relay_early cells are switched off).
DROP_TUNNEL_MISSING_RELAY_EARLY = "tunnel-missing-relay-early"
#: A relay_early cell beyond ``max_relay_early`` on a relay.
DROP_TUNNEL_RELAY_EARLY_EXCEEDED = "tunnel-relay-early-exceeded"
#: A plaintext cell for a circuit id we relay (relays only pass encrypted cells).
DROP_TUNNEL_PLAINTEXT_RELAY = "tunnel-plaintext-relay"
#: A decrypted cell whose inner message id has no handler.
DROP_TUNNEL_UNKNOWN_CELL_MESSAGE = "tunnel-unknown-cell-message"
#: A cell message whose inner payload does not decode.
DROP_TUNNEL_MALFORMED_CELL_MESSAGE = "tunnel-malformed-cell-message"
#: A cell for a circuit id we relay that came from another address than the hop on the other half of the route.
DROP_TUNNEL_WRONG_NEIGHBOUR = "tunnel-wrong-neighbour"
#: Prefix of the reasons for cells refused by the crypto module (followed by its ``REASON_*``).
DROP_TUNNEL_CRYPTO_PREFIX = "tunnel-"

#: A cell handler: ``handler(source_address, packet, circuit_id)`` where ``packet`` is the unwrapped packet.
CellHandler = Callable[["Address", bytes, int], Any]


class CellMixin:
    """Sending, relaying and receiving cells; expects the attributes of a TunnelCommunity."""

    _prefix: bytes
    circuits: dict
    relay_from_to: dict[int, RelayRoute]
    exit_sockets: dict
    decode_map_private: dict[int, CellHandler]
    drop_counts: Any
    settings: Any
    serializer: Any
    endpoint: Any
    logger: Any
    raise_handler_errors: bool
    #: Per community, made on first use: encoded (destination, origin) pairs of data cells we send, and decoded
    #: IPv4 destinations of data cells we exit (both bounded by _ADDRESS_CACHE_SIZE).
    _data_heads: dict[tuple[Address, Address], bytes] | None = None
    _ipv4_addresses: dict[bytes, Address] | None = None
    #: Cell headers (prefix, message id 0, circuit id, no flags) per circuit id, for relayed and sent data cells.
    _plain_headers: dict[int, bytes] | None = None

    # -- receiving -------------------------------------------------------------------------------------------

    def on_packet(self, packet: tuple[Address, bytes], warn_unknown: bool = True) -> None:
        """Route cells of our prefix to :meth:`on_cell` directly; every other packet goes the ordinary way."""
        source_address, data = packet
        if len(data) > 22 and data[22] == 0 and data[:22] == self._prefix:
            try:
                self.on_cell(source_address, data)
            except Exception as exc:
                self._count_failure(exc, 0, source_address)  # type: ignore[attr-defined]
                if self.raise_handler_errors:
                    raise
            return
        super().on_packet(packet, warn_unknown)  # type: ignore[misc]

    def _drop(self, reason: str, detail: object = "", *args: object) -> None:
        self.drop_counts[reason] += 1
        self.logger.debug("Dropping tunnel packet (%s) " + str(detail), reason, *args)

    @property
    def max_relay_early(self) -> int:
        """How many relay_early cells a relay passes per circuit (``settings.max_relay_early``)."""
        return self.settings.max_relay_early

    def on_cell(self, source_address: Address, data: bytes) -> None:
        """Handle one cell datagram (outer message 0) from ``source_address``."""
        # The header is read here rather than through CellPayload.from_bin: relaying is the hot path, and a relayed
        # cell needs no object at all (see _relay_fast).
        if len(data) < CELL_HEADER_SIZE or data[22] != 0:
            self._drop(DROP_TUNNEL_MALFORMED_CELL)
            return
        circuit_id, plaintext, relay_early = _unpack_cell_fields(data, 23)
        next_relay = self.relay_from_to.get(circuit_id)
        if next_relay is not None:
            # A relayed cell must come from the hop on the other half of the route: the relay cannot check what
            # it passes backward (it only adds a layer), so otherwise anyone who learnt the circuit id could push
            # cells to the initiator through it, and keep the relay alive for ever.
            this_relay = self.relay_from_to.get(next_relay.circuit_id)
            if this_relay is not None and source_address != this_relay.hop.address:
                self._drop(DROP_TUNNEL_WRONG_NEIGHBOUR, "circuit %d from %s", circuit_id, source_address)
                return
            if plaintext or relay_early or next_relay.rendezvous_relay:
                self.relay_cell(CellPayload(circuit_id, data[CELL_HEADER_SIZE:], plaintext, relay_early), next_relay,
                                len(data))
            else:
                self._relay_fast(circuit_id, data, next_relay, this_relay)
            return

        # Bytes, not a CellPayload, from here on too: this is every cell an exit or initiator receives.
        message = data[CELL_HEADER_SIZE:]
        if plaintext:
            if not message or message[0] not in PLAINTEXT_MSG_IDS:
                self._drop(DROP_TUNNEL_FORBIDDEN_PLAINTEXT, "inner id %s", message[0] if message else None)
                return
        else:
            message = self._incoming_crypto(circuit_id, message)
            if message is None:
                return

        if not message:
            self._drop(DROP_TUNNEL_MALFORMED_CELL_MESSAGE)
            return
        if (not relay_early and message[0] in RELAY_EARLY_MSG_IDS) or self.settings.max_relay_early <= 0:
            self._drop(DROP_TUNNEL_MISSING_RELAY_EARLY)
            return

        handler = self.decode_map_private.get(message[0])
        if not plaintext:
            circuit = self.circuits.get(circuit_id)
            if circuit is not None:
                circuit.beat_heart()
                circuit.bytes_down += len(data)
            elif (message[0] == _DATA_MSG_ID and len(message) >= _DATA_IPV4_HEADER_SIZE and message[1] == _IPV4
                  and message[8] == _IPV4
                  and getattr(handler, "__func__", None) is (_STOCK_DATA_HANDLER or _stock_data_handler())):
                # A data cell to exit (the bulk of an exit's work), for the community's own on_data: what on_data
                # does for it, without rebuilding the packet and unpacking a DataPayload (~5 us of ~25 per cell).
                # Both addresses are IPv4 (7 bytes each), so the payload cannot be malformed.
                self._exit_data_cell(circuit_id, source_address, message)
                return
        if handler is None:
            self._drop(DROP_TUNNEL_UNKNOWN_CELL_MESSAGE, "inner id %d", message[0])
            return
        # The ordinary packet the handlers read (what CellPayload.unwrap makes): prefix, inner id, circuit id, rest.
        packet = b"".join((self._prefix, message[:1], _pack_circuit_id(circuit_id), memoryview(message)[1:]))
        self._call_cell_handler(handler, source_address, packet, circuit_id)

    def _exit_data_cell(self, circuit_id: int, source_address: Address, message: bytes) -> None:
        """``on_data`` for a decrypted data cell with IPv4 addresses on a circuit we do not own: exit it."""
        encoded = message[1:8]
        addresses = self._ipv4_addresses
        if addresses is None:
            addresses = self._ipv4_addresses = {}
        destination = addresses.get(encoded)
        if destination is None:
            destination = self.serializer.unpack("address", encoded)[0]
            if len(addresses) >= _ADDRESS_CACHE_SIZE:
                addresses.clear()
            addresses[encoded] = destination
        if destination == _NO_ADDRESS:
            self.drop_counts[_DROP_TUNNEL_BAD_DATA] += 1
            return
        # The origin (message[8:15]) is not used on the way out; data is what follows it.
        self.exit_data(circuit_id, source_address, destination, message[_DATA_IPV4_HEADER_SIZE:])  # type: ignore[attr-defined]

    def _call_cell_handler(self, handler: CellHandler, source_address: Address, packet: bytes,
                           circuit_id: int) -> None:
        try:
            result = handler(source_address, packet, circuit_id)
        except PackError:
            self._drop(DROP_TUNNEL_MALFORMED_CELL_MESSAGE, "inner id %d", packet[22])
            return
        if result is not None and hasattr(result, "__await__"):
            deferred = result if isinstance(result, Deferred) else ensureDeferred(result)
            deferred.addErrback(self._cell_handler_failed, packet[22], source_address)

    def _cell_handler_failed(self, failure: Any, msg_id: int, source_address: Address) -> Any:
        if failure.check(PackError):
            self._drop(DROP_TUNNEL_MALFORMED_CELL_MESSAGE, "inner id %d", msg_id)
            return None
        return self._async_handler_failed(failure, msg_id, source_address)  # type: ignore[attr-defined]

    def on_packet_from_circuit(self, source_address: Address, data: bytes, circuit_id: int) -> None:
        """Handle a packet of our own community that arrived as data through one of our circuits."""
        if data[:22] != self._prefix or len(data) < 23:
            return
        handler = self.decode_map_private.get(data[22])
        if handler is None:
            self._drop(DROP_TUNNEL_UNKNOWN_CELL_MESSAGE, "inner id %d (through a circuit)", data[22])
            return
        self._call_cell_handler(handler, source_address, data, circuit_id)

    def _incoming_crypto(self, circuit_id: int, message: bytes) -> bytes | None:
        """Remove our layers from an encrypted cell message; None (counted) when it is not ours or does not decrypt."""
        exit_socket = self.exit_sockets.get(circuit_id)
        try:
            if exit_socket is not None:
                keys = exit_socket.hop.keys
                if keys is not None:
                    try:
                        return keys.decrypt_str(message, FORWARD)  # decrypt_layers of one layer, one call less
                    except CryptoException as exc:
                        exc.layer = (1, 1)
                        raise
                return decrypt_layers(message, FORWARD, [keys])  # explains the missing keys
            circuit = self.circuits.get(circuit_id)
            if circuit is None:
                self._drop(DROP_TUNNEL_UNKNOWN_CIRCUIT, "circuit %d", circuit_id)
                return None
            message = decrypt_layers(message, BACKWARD, [hop.keys for hop in circuit.hops])
            if circuit.hs_session_keys is not None:
                direction = FORWARD if circuit.ctype == CIRCUIT_TYPE_RP_DOWNLOADER else BACKWARD
                message = circuit.hs_session_keys.decrypt_str(message, direction)
        except CryptoException as exc:
            self._drop(DROP_TUNNEL_CRYPTO_PREFIX + exc.reason, "circuit %d: %s", circuit_id, exc)
            return None
        return message

    # -- relaying --------------------------------------------------------------------------------------------

    def relay_cell(self, cell: CellPayload, next_relay: RelayRoute, size: int) -> None:
        """Pass a cell on along ``next_relay``: one layer off towards the exit, one layer on towards the initiator."""
        if cell.plaintext:
            self._drop(DROP_TUNNEL_PLAINTEXT_RELAY, "circuit %d", cell.circuit_id)
            return
        if cell.relay_early and next_relay.relay_early_count >= self.max_relay_early:
            self._drop(DROP_TUNNEL_RELAY_EARLY_EXCEEDED, "circuit %d", cell.circuit_id)
            return
        this_relay = self.relay_from_to.get(next_relay.circuit_id)
        try:
            if next_relay.rendezvous_relay:
                # Two circuits meet here: open the seeder's layer, add the downloader's.
                message = next_relay.hop.keys.decrypt_str(cell.message, FORWARD)
                if this_relay is None:
                    self._drop(DROP_TUNNEL_UNKNOWN_CIRCUIT, "rendezvous circuit %d", cell.circuit_id)
                    return
                cell.message = this_relay.hop.keys.encrypt_str(message, BACKWARD)
                cell.relay_early = False
            elif next_relay.direction == FORWARD:
                cell.message = next_relay.hop.keys.decrypt_str(cell.message, FORWARD)
            else:
                cell.message = next_relay.hop.keys.encrypt_str(cell.message, BACKWARD)
        except CryptoException as exc:
            self._drop(DROP_TUNNEL_CRYPTO_PREFIX + exc.reason, "relay %d: %s", cell.circuit_id, exc)
            return
        except AttributeError:  # a route without keys: never made by this community
            self._drop(DROP_TUNNEL_CRYPTO_PREFIX + "missing-keys", "relay %d", cell.circuit_id)
            return
        # Traffic in either direction keeps both halves of a relay alive.
        if this_relay is not None:
            this_relay.beat_heart()
            this_relay.bytes_down += size
        next_relay.beat_heart()
        cell.circuit_id = next_relay.circuit_id
        packet = cell.to_bin(self._prefix)
        self.endpoint.send(next_relay.hop.address, packet)
        next_relay.bytes_up += len(packet)
        # Every relayed cell counts (as in pyipv8): relay_early cells only pass during a circuit's first cells.
        next_relay.relay_early_count += 1

    def _relay_fast(self, circuit_id: int, data: bytes, next_relay: RelayRoute, this_relay: RelayRoute | None) -> None:
        """:meth:`relay_cell` for the common cell: encrypted, no relay_early flag, not at a rendezvous point.

        Same checks, counters and output bytes, without building a CellPayload on the way in and out.
        """
        try:
            keys = next_relay.hop.keys
            if next_relay.direction == FORWARD:
                message = keys.decrypt_str(data[CELL_HEADER_SIZE:], FORWARD)
            else:
                message = keys.encrypt_str(data[CELL_HEADER_SIZE:], BACKWARD)
        except CryptoException as exc:
            self._drop(DROP_TUNNEL_CRYPTO_PREFIX + exc.reason, "relay %d: %s", circuit_id, exc)
            return
        except AttributeError:  # a route without keys: never made by this community
            self._drop(DROP_TUNNEL_CRYPTO_PREFIX + "missing-keys", "relay %d", circuit_id)
            return
        if this_relay is not None:
            this_relay.beat_heart()
            this_relay.bytes_down += len(data)
        next_relay.beat_heart()
        packet = self._plain_header(next_relay.circuit_id) + message
        self.endpoint.send(next_relay.hop.address, packet)
        next_relay.bytes_up += len(packet)
        next_relay.relay_early_count += 1

    # -- sending ---------------------------------------------------------------------------------------------

    def _send_data_fast(self, target: Address, circuit_id: int, dest_address: Address, source_address: Address,
                       data: bytes) -> bool | None:
        """``send_data`` for a data cell on one of our own (non-rendezvous) circuits; None when it does not apply.

        The cell message is the data payload without its circuit id: one type byte, the two typed addresses, then
        the data. The first two parts are remembered per address pair (encoded once, by the serializer, exactly
        as :func:`~.payload.encode_cell_message` would), so that each cell is one ``join`` instead of a
        DataPayload and a serializer run (~4 us of an initiator's ~15 us per cell).
        """
        circuit = self.circuits.get(circuit_id)
        if circuit is None or circuit.hs_session_keys is not None or data.__class__ is not bytes:
            return None
        heads = self._data_heads
        if heads is None:
            heads = self._data_heads = {}
        try:
            head = heads.get((dest_address, source_address))
        except TypeError:  # unhashable addresses: let the ordinary path explain
            return None
        # A port that merely equals an int (1.0 == 1) would find the int's entry, but does not pack: check.
        if head is None or dest_address[1].__class__ is not int or source_address[1].__class__ is not int:
            head = self._data_head(circuit_id, dest_address, source_address)
            if head is None:
                return None
        return self._send_on_circuit(target, circuit, circuit_id, head + data)

    def _data_head(self, circuit_id: int, dest_address: Address, source_address: Address) -> bytes | None:
        if dest_address[1].__class__ is not int or source_address[1].__class__ is not int:
            return None
        try:
            head = encode_cell_message(DataPayload(circuit_id, dest_address, source_address, b""), self.serializer)
        except Exception:  # noqa: BLE001 - the ordinary path raises the same error with its own context
            return None
        heads = self._data_heads
        if heads is None:
            heads = self._data_heads = {}
        if len(heads) >= _ADDRESS_CACHE_SIZE:
            heads.clear()
        heads[(dest_address, source_address)] = head
        return head

    def _plain_header(self, circuit_id: int) -> bytes:
        """The header of an encrypted cell without the relay_early flag on ``circuit_id`` (remembered per id)."""
        headers = self._plain_headers
        if headers is None:
            headers = self._plain_headers = {}
        header = headers.get(circuit_id)
        if header is None:
            header = self._prefix + _CELL_ID_BYTE + _pack_cell_fields(circuit_id, False, False)
            if len(headers) >= _ADDRESS_CACHE_SIZE:
                headers.clear()
            headers[circuit_id] = header
        return header

    def send_cell(self, target_addr: Address, payload: CellablePayload) -> bool:
        """Send ``payload`` as a cell to ``target_addr``, with the layers its circuit id calls for.

        Create and created go in plaintext. Returns whether the cell was sent (False: no keys to encrypt it).
        """
        message = encode_cell_message(payload, self.serializer)
        plaintext = payload.msg_id in PLAINTEXT_MSG_IDS
        if not plaintext:
            circuit = self.circuits.get(payload.circuit_id)
            if circuit is not None and circuit.hs_session_keys is None:
                return self._send_on_circuit(target_addr, circuit, payload.circuit_id, message)
        return self.send_cell_payload(target_addr, CellPayload(payload.circuit_id, message, plaintext))

    def _send_on_circuit(self, target_addr: Address, circuit: Circuit, circuit_id: int, message: bytes) -> bool:
        """:meth:`send_cell_payload` for an encrypted cell on one of our own (non-rendezvous) circuits: every data
        cell an initiator sends. Same flags, counters and bytes, without a CellPayload in between."""
        relay_early = message[0] == _EXTEND_MSG_ID or circuit.relay_early_count < self.settings.max_relay_early
        if relay_early:
            circuit.relay_early_count += 1
        try:
            message = encrypt_layers(message, FORWARD, [hop.keys for hop in circuit.hops])
        except CryptoException as exc:
            self.logger.warning("Cannot encrypt a cell for circuit %d: %s", circuit_id, exc)
            return False
        if relay_early:
            packet = b"".join((self._prefix, _CELL_ID_BYTE, _pack_cell_fields(circuit_id, False, True), message))
        else:
            packet = self._plain_header(circuit_id) + message
        self.endpoint.send(target_addr, packet)
        circuit.bytes_up += len(packet)
        return True

    def send_cell_payload(self, target_addr: Address, cell: CellPayload) -> bool:
        """Encrypt (unless plaintext) and send an already built cell; see :meth:`send_cell`."""
        circuit_id = cell.circuit_id
        circuit = self.circuits.get(circuit_id)
        relay = None
        try:
            if circuit is not None:
                cell.relay_early = (cell.message[0] == ExtendPayload.msg_id
                                    or circuit.relay_early_count < self.max_relay_early)
                if cell.relay_early:
                    circuit.relay_early_count += 1
                if not cell.plaintext:
                    if circuit.hs_session_keys is not None:
                        direction = FORWARD if circuit.ctype == CIRCUIT_TYPE_RP_SEEDER else BACKWARD
                        cell.message = circuit.hs_session_keys.encrypt_str(cell.message, direction)
                    cell.message = encrypt_layers(cell.message, FORWARD, [hop.keys for hop in circuit.hops])
            elif not cell.plaintext:
                exit_socket = self.exit_sockets.get(circuit_id)
                if exit_socket is not None:
                    cell.message = encrypt_layers(cell.message, BACKWARD, [exit_socket.hop.keys])
                else:
                    relay = self.relay_from_to.get(circuit_id)
                    if relay is not None:
                        # Only right after a relay is set up: its extended goes back along the other half.
                        other = relay if relay.rendezvous_relay else self.relay_from_to.get(relay.circuit_id)
                        if other is None:
                            self.logger.warning("No keys to send on relay %d", circuit_id)
                            return False
                        direction = BACKWARD if relay.rendezvous_relay else other.direction
                        cell.message = encrypt_layers(cell.message, direction, [other.hop.keys])
        except CryptoException as exc:
            self.logger.warning("Cannot encrypt a cell for circuit %d: %s", circuit_id, exc)
            return False
        packet = cell.to_bin(self._prefix)
        self.endpoint.send(target_addr, packet)
        tunnel = circuit if circuit is not None else relay
        if tunnel is not None:
            tunnel.bytes_up += len(packet)
        return True


__all__ = ["DROP_TUNNEL_CRYPTO_PREFIX", "DROP_TUNNEL_FORBIDDEN_PLAINTEXT", "DROP_TUNNEL_MALFORMED_CELL",
           "DROP_TUNNEL_MALFORMED_CELL_MESSAGE", "DROP_TUNNEL_MISSING_RELAY_EARLY", "DROP_TUNNEL_PLAINTEXT_RELAY",
           "DROP_TUNNEL_RELAY_EARLY_EXCEEDED", "DROP_TUNNEL_UNKNOWN_CELL_MESSAGE", "DROP_TUNNEL_UNKNOWN_CIRCUIT",
           "DROP_TUNNEL_WRONG_NEIGHBOUR",
           "CellHandler", "CellMixin"]
