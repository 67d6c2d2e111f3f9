"""The cell plane's shortcuts (``_cells``: ``send_data`` on our own circuits, data cells at an exit) against the
ordinary path: the same bytes, the same refusals, and subclasses that override ``on_data`` still called.

On the in-memory network of test_tunnel_community (Clock, fake UDP reactor for the exit sockets).
"""
from __future__ import annotations

from typing import Any

from ipv8.messaging.anonymization import _cells
from ipv8.messaging.anonymization.community import (
    DROP_TUNNEL_BAD_DATA,
    NO_ADDRESS,
    TunnelSettings,
)
from ipv8.messaging.anonymization.crypto import FORWARD, decrypt_layers
from ipv8.messaging.anonymization.exit_socket import DataChecker, _could_be_bt
from ipv8.messaging.anonymization.payload import CELL_HEADER_SIZE, DataPayload
from ipv8.messaging.serialization import PackError
from ipv8.test.mocking.ipv8 import MockIPv8

from .test_tunnel_community import (
    DESTINATION,
    DHT_PACKET,
    RecordingTunnelCommunity,
    TunnelTestBase,
)


class TestSendDataShortcut(TunnelTestBase):

    async def capture_one_hop(self) -> tuple[Any, Any, list]:
        """A READY 1-hop circuit, and the initiator's sends captured instead of delivered."""
        await self.start()
        circuit = await self.build(1)
        sent: list = []
        self.overlay(0).endpoint.send = lambda address, packet: sent.append((address, packet))
        return self.overlay(0), circuit, sent

    def opened(self, circuit: Any, packet: bytes) -> bytes:
        """The cell message inside ``packet`` (the exit's layer removed with the exit's own keys)."""
        exit_node = self.index_of(circuit.hops[-1].public_key_bin)
        keys = self.overlay(exit_node).exit_sockets[circuit.circuit_id].hop.keys
        return decrypt_layers(packet[CELL_HEADER_SIZE:], FORWARD, [keys])

    async def test_same_cell_as_the_ordinary_path(self) -> None:
        initiator, circuit, sent = await self.capture_one_hop()
        # The first max_relay_early cells carry the relay_early flag: get past them, so that all compared cells
        # have the same header.
        for _ in range(initiator.settings.max_relay_early):
            initiator.send_data(circuit.hop.address, circuit.circuit_id, DESTINATION, NO_ADDRESS, DHT_PACKET)
        for destination, origin in ((DESTINATION, NO_ADDRESS), (("::1", 80), ("10.0.0.1", 1)),
                                    (("tracker.example", 6969), NO_ADDRESS)):
            self.assertTrue(initiator.send_data(circuit.hop.address, circuit.circuit_id, destination, origin,
                                                DHT_PACKET))
            self.assertTrue(initiator.send_data(circuit.hop.address, circuit.circuit_id, destination, origin,
                                                DHT_PACKET))  # the remembered header this time
            self.assertTrue(initiator.send_cell(circuit.hop.address,
                                                DataPayload(circuit.circuit_id, destination, origin, DHT_PACKET)))
            (_, fast), (_, cached), (_, ordinary) = sent[-3:]
            self.assertEqual(fast[:CELL_HEADER_SIZE], ordinary[:CELL_HEADER_SIZE])
            self.assertEqual(cached[:CELL_HEADER_SIZE], ordinary[:CELL_HEADER_SIZE])
            messages = [self.opened(circuit, packet) for packet in (fast, cached, ordinary)]
            self.assertEqual([messages[2]] * 3, messages)
        self.assertEqual({circuit.hop.address}, {address for address, _ in sent})

    async def test_refusals_unchanged(self) -> None:
        initiator, circuit, sent = await self.capture_one_hop()
        self.assertTrue(initiator.send_data(circuit.hop.address, circuit.circuit_id, ("1.2.3.4", 5), NO_ADDRESS,
                                            DHT_PACKET))
        # 5.0 == 5 finds the remembered header of ("1.2.3.4", 5), but a float port never packed and still does not.
        for destination in (("1.2.3.4", 5.0), ("1.2.3.4", 70000)):
            with self.assertRaises(PackError):
                initiator.send_data(circuit.hop.address, circuit.circuit_id, destination, NO_ADDRESS, DHT_PACKET)
        self.assertEqual(1, len(sent))
        # An unhashable (but packable) address is left to the ordinary path, which sends it.
        self.assertTrue(initiator.send_data(circuit.hop.address, circuit.circuit_id, ["1.2.3.4", 5], NO_ADDRESS,
                                            DHT_PACKET))
        self.assertEqual(2, len(sent))
        # Not one of our circuits: the ordinary path decides, as it did before the shortcut.
        other = circuit.circuit_id + 1
        shortcut = initiator.send_data(circuit.hop.address, other, DESTINATION, NO_ADDRESS, DHT_PACKET)
        ordinary = initiator.send_cell(circuit.hop.address, DataPayload(other, DESTINATION, NO_ADDRESS, DHT_PACKET))
        self.assertEqual(ordinary, shortcut)
        self.assertEqual(sent[-1], sent[-2])

    async def test_bytearray_data(self) -> None:
        initiator, circuit, sent = await self.capture_one_hop()
        self.assertTrue(initiator.send_data(circuit.hop.address, circuit.circuit_id, DESTINATION, NO_ADDRESS,
                                            bytearray(DHT_PACKET)))
        self.assertTrue(self.opened(circuit, sent[0][1]).endswith(DHT_PACKET))


class OnDataRecorder(RecordingTunnelCommunity):
    """Overrides on_data, as an application may: the exit's shortcut must not go around it."""

    def __init__(self, settings: TunnelSettings) -> None:
        super().__init__(settings)
        self.on_data_calls = 0

    def on_data(self, source_address: Any, data: bytes, circuit_id: int | None = None) -> None:
        self.on_data_calls += 1
        super().on_data(source_address, data, circuit_id)


class TestExitShortcut(TunnelTestBase):

    async def test_data_exits(self) -> None:
        await self.start()
        circuit = await self.build(3)
        for _ in range(3):
            self.overlay(0).tunnel_data(circuit, DESTINATION, "data", DHT_PACKET)
        await self.deliver_messages()
        _, transport, _ = self.udp.sockets[-1]
        self.assertEqual([(DHT_PACKET, DESTINATION)] * 3, transport.sent)

    async def test_no_destination_is_bad_data(self) -> None:
        await self.start()
        circuit = await self.build(1)
        exit_node = self.index_of(circuit.hops[-1].public_key_bin)
        self.overlay(0).send_data(circuit.hop.address, circuit.circuit_id, NO_ADDRESS, NO_ADDRESS, DHT_PACKET)
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(exit_node).drop_counts[DROP_TUNNEL_BAD_DATA])
        self.assertEqual([], self.udp.sockets)

    async def test_overridden_on_data_is_called(self) -> None:
        self.create_node = lambda *args, **kwargs: MockIPv8("curve25519", OnDataRecorder, self.settings(),
                                                             internet=self.internet)
        self.initialize(OnDataRecorder, self.NODES)
        for index in range(1, self.NODES):
            self.overlay(index).settings.peer_flags = ({1, 2, 4, 8} if index in self.EXITS else {1, 8})
        await self.introduce_nodes()
        circuit = await self.build(1)
        exit_node = self.index_of(circuit.hops[-1].public_key_bin)
        self.overlay(0).tunnel_data(circuit, DESTINATION, "data", DHT_PACKET)
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(exit_node).on_data_calls)
        _, transport, _ = self.udp.sockets[-1]
        self.assertEqual([(DHT_PACKET, DESTINATION)], transport.sent)


class TestBitTorrentCheck(TunnelTestBase):

    def test_same_verdict_as_the_three_checks(self) -> None:
        samples = [b"", b"d", b"de", b"d" + b"x" * 30 + b"e", bytes(8), bytes(3) + b"\x04" + bytes(8),
                   b"\xff" * 8 + bytes(3) + b"\x03", b"\xff" * 8 + bytes(3) + b"\x04", b"\x41\x00" + bytes(18),
                   b"\x41\x04" + bytes(18), b"\x51\x00" + bytes(18), b"\x42\x00" + bytes(18), b"\x41\x00" + bytes(17)]
        samples += [bytes([first, second]) + bytes(range(18)) for first in range(0, 256, 7) for second in range(6)]
        for data in samples:
            expected = DataChecker.could_be_utp(data) or DataChecker.could_be_udp_tracker(data) \
                or DataChecker.could_be_dht(data)
            self.assertEqual(expected, _could_be_bt(data), data)
            self.assertEqual(expected, DataChecker.could_be_bt(data), data)


class TestShortcutMemory(TunnelTestBase):

    async def test_remembered_heads_are_bounded(self) -> None:
        self.patch(_cells, "_ADDRESS_CACHE_SIZE", 50)
        await self.start()
        circuit = await self.build(1)
        initiator = self.overlay(0)
        initiator.endpoint.send = lambda address, packet: None
        for port in range(1, 200):
            self.assertTrue(initiator.send_data(circuit.hop.address, circuit.circuit_id, ("1.2.3.4", port),
                                                NO_ADDRESS, DHT_PACKET))
        self.assertLessEqual(len(initiator._data_heads), 50)
