"""TunnelCommunity on the in-memory network: building circuits, data, limits, teardown and hostile cells.

Six nodes: 0 is the initiator (default flags), 1-3 relay, 4-5 relay and exit. The communities run on a
:class:`~twisted.internet.task.Clock` (timeouts, upkeep and pings only happen when a test advances it), the
packets on the in-memory internet. Exit sockets get a fake UDP reactor (the in-memory internet cannot reach a
real socket); the last test exits through a real UDP socket on 127.0.0.1.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock, deferLater

from ipv8.messaging.anonymization import _cells, _circuits
from ipv8.messaging.anonymization.community import (
    DROP_TUNNEL_UNEXPECTED_PING,
    TunnelCommunity,
    TunnelSettings,
    unpack_cell,
)
from ipv8.messaging.anonymization.crypto import FORWARD, encrypt_layers
from ipv8.messaging.anonymization.payload import (
    CellablePayload,
    CellPayload,
    CreatedPayload,
    CreatePayload,
    DataPayload,
    DestroyPayload,
    ExtendPayload,
    PingPayload,
    encode_cell_message,
)
from ipv8.messaging.anonymization.tunnel import (
    CIRCUIT_STATE_CLOSING,
    CIRCUIT_STATE_READY,
    DESTROY_REASON_UNNEEDED,
    PEER_FLAG_EXIT_BT,
    PEER_FLAG_EXIT_IPV8,
    PEER_FLAG_RELAY,
    PEER_FLAG_SPEED_TEST,
    Circuit,
)
from ipv8.test.base import TestBase
from ipv8.test.mocking.ipv8 import MockIPv8

RELAY_FLAGS = {PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST}
EXIT_FLAGS = {PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_EXIT_IPV8, PEER_FLAG_SPEED_TEST}
#: A bencoded dictionary: what the exit policy lets out for PEER_FLAG_EXIT_BT.
DHT_PACKET = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
DESTINATION = ("1.2.3.4", 6881)


class FakeUDPTransport:
    """Records what an exit socket sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple]] = []
        #: Whether to keep what is sent (a flood would fill memory with it); :attr:`count` counts regardless.
        self.keep = True
        self.count = 0

    def write(self, data: bytes, addr: tuple) -> None:
        self.count += 1
        if self.keep:
            self.sent.append((data, addr))


class FakeUDPPort:
    def __init__(self, port: int) -> None:
        self.port = port
        self.listening = True

    def getHost(self) -> Any:
        return type("Host", (), {"host": "10.0.0.1", "port": self.port})()

    def stopListening(self) -> None:
        self.listening = False


class FakeUDPReactor:
    """The exit sockets' socket factory in these tests: ``listenUDP`` hands out recording transports."""

    def __init__(self) -> None:
        self.sockets: list[tuple[DatagramProtocol, FakeUDPTransport, FakeUDPPort]] = []

    def listenUDP(self, port: int, protocol: DatagramProtocol, interface: str = "",
                  maxPacketSize: int = 8192) -> FakeUDPPort:
        transport = FakeUDPTransport()
        listening = FakeUDPPort(40000 + len(self.sockets))
        protocol.makeConnection(transport)
        self.sockets.append((protocol, transport, listening))
        return listening


class RecordingTunnelCommunity(TunnelCommunity):
    """Keeps the data that comes back through its circuits."""

    def __init__(self, settings: TunnelSettings) -> None:
        super().__init__(settings)
        self.raw_data: list[tuple[int, tuple, bytes]] = []

    def on_raw_data(self, circuit: Circuit, origin: tuple, data: bytes) -> None:
        self.raw_data.append((circuit.circuit_id, tuple(origin), data))


class TunnelTestBase(TestBase[RecordingTunnelCommunity]):
    """Six introduced nodes with relay and exit flags, on a shared Clock and a fake UDP reactor."""

    NODES = 6
    EXITS = (4, 5)

    def setUp(self) -> Any:
        result = super().setUp()
        self.clock = Clock()
        self.udp = FakeUDPReactor()
        return result

    def settings(self) -> TunnelSettings:
        return TunnelSettings(clock=self.clock, exit_reactor=self.udp, remove_tunnel_delay=0, max_circuits=2)

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8("curve25519", RecordingTunnelCommunity, self.settings(), internet=self.internet)

    async def start(self) -> None:
        self.initialize(RecordingTunnelCommunity, self.NODES)
        for index in range(1, self.NODES):
            self.overlay(index).settings.peer_flags = EXIT_FLAGS if index in self.EXITS else RELAY_FLAGS
        await self.introduce_nodes()

    def index_of(self, key_bin: bytes) -> int:
        return next(i for i in range(len(self.nodes)) if self.key_bin(i) == key_bin)

    async def build(self, hops: int, node: int = 0, **kwargs: Any) -> Circuit:
        circuit = self.overlay(node).create_circuit(hops, **kwargs)
        self.assertIsNotNone(circuit)
        await self.deliver_messages()
        return circuit

    def advance(self, seconds: float, step: float = 1.0) -> None:
        while seconds > 0:
            self.clock.advance(min(step, seconds))
            seconds -= step

    def cell(self, circuit: Circuit, payload: Any, relay_early: bool = False, layers: int | None = None) -> bytes:
        """A cell as the initiator of ``circuit`` would send it, built by hand."""
        keys = [hop.keys for hop in circuit.hops][:layers]
        message = encrypt_layers(encode_cell_message(payload, self.overlay(0).serializer), FORWARD, keys)
        return CellPayload(circuit.circuit_id, message, False, relay_early).to_bin(self.overlay(0).get_prefix())


class TestCircuits(TunnelTestBase):
    """Building circuits of 1, 2 and 3 hops, and what every node holds afterwards."""

    async def test_peer_flags_from_introductions(self) -> None:
        await self.start()
        flags = {self.index_of(peer.public_key.key_to_bin()): sorted(f) for peer, f in self.overlay(0).candidates.items()}
        self.assertEqual(sorted(RELAY_FLAGS), flags[1])
        self.assertEqual(sorted(EXIT_FLAGS), flags[4])
        self.assertEqual(sorted(TunnelSettings().peer_flags),
                         sorted(next(f for p, f in self.overlay(1).candidates.items() if p == self.peer(0))))

    async def check_circuit(self, hops: int) -> None:
        await self.start()
        circuit = await self.build(hops)
        ready = await circuit.ready
        self.assertIs(circuit, ready)
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)
        path = [self.index_of(hop.public_key_bin) for hop in circuit.hops]
        self.assertEqual(hops, len(set(path)))
        self.assertNotIn(0, path)
        self.assertIn(path[-1], self.EXITS)
        self.assertIn(PEER_FLAG_EXIT_BT, circuit.exit_flags)
        for relay in path[:-1]:
            self.assertEqual(2, len(self.overlay(relay).relay_from_to))
            self.assertEqual({}, self.overlay(relay).exit_sockets)
        self.assertEqual(1, len(self.overlay(path[-1]).exit_sockets))
        self.assertEqual([circuit], self.overlay(0).active_data_circuits())
        self.assertEqual([circuit], self.overlay(0).find_circuits(hops=hops))
        self.assertEqual([], self.overlay(0).find_circuits(hops=hops + 1))

    async def test_one_hop(self) -> None:
        await self.check_circuit(1)

    async def test_two_hops(self) -> None:
        await self.check_circuit(2)

    async def test_three_hops(self) -> None:
        await self.check_circuit(3)

    async def test_build_tunnels(self) -> None:
        await self.start()
        self.assertEqual(1.0, self.overlay(0).tunnels_ready(2))
        self.overlay(0).build_tunnels(2)
        self.assertEqual(0.0, self.overlay(0).tunnels_ready(2))
        await self.deliver_messages()
        self.assertEqual(1.0, self.overlay(0).tunnels_ready(2))
        self.assertEqual(2, len(self.overlay(0).active_data_circuits(2)))
        # The upkeep keeps the pool full: a removed circuit is rebuilt.
        gone = self.overlay(0).active_data_circuits()[0]
        self.overlay(0).remove_circuit(gone.circuit_id, "test", destroy=DESTROY_REASON_UNNEEDED)
        self.assertEqual(0.5, self.overlay(0).tunnels_ready(2))
        self.clock.advance(5)
        await self.deliver_messages()
        self.assertEqual(1.0, self.overlay(0).tunnels_ready(2))

    async def test_no_exit_known(self) -> None:
        self.EXITS = ()
        await self.start()
        self.assertIsNone(self.overlay(0).create_circuit(1))
        self.assertIsNone(self.overlay(0).create_circuit(0))

    async def test_ping_and_speed_test(self) -> None:
        await self.start()
        circuit = await self.build(3)
        pinged = self.overlay(0).send_ping(circuit)
        tested = self.overlay(0).send_test_request(circuit, 100, 1000)
        await self.deliver_messages()
        self.assertEqual(0.0, pinged.result)  # the Clock did not move
        data, rtt = tested.result
        self.assertEqual((1000, 0.0), (len(data), rtt))


class TestData(TunnelTestBase):
    """Data through circuits, out of the (fake) exit socket and back."""

    async def check_round_trip(self, hops: int) -> None:
        await self.start()
        circuit = await self.build(hops)
        exit_node = self.index_of(circuit.hops[-1].public_key_bin)
        self.assertTrue(self.overlay(0).tunnel_data(circuit, DESTINATION, "data", DHT_PACKET))
        await self.deliver_messages()
        protocol, transport, _ = self.udp.sockets[-1]
        self.assertEqual([(DHT_PACKET, DESTINATION)], transport.sent)
        exit_socket = self.overlay(exit_node).exit_sockets[protocol.circuit_id]
        self.assertTrue(exit_socket.enabled)
        reply = b"d1:rd2:id20:zyxwvutsrqponmlkjihge1:t2:aa1:y1:re"
        protocol.datagramReceived(reply, DESTINATION)
        await self.deliver_messages()
        self.assertEqual([(circuit.circuit_id, DESTINATION, reply)], self.overlay(0).raw_data)
        self.assertGreater(circuit.bytes_up, 0)
        self.assertGreater(circuit.bytes_down, 0)

    async def test_round_trip_one_hop(self) -> None:
        await self.check_round_trip(1)

    async def test_round_trip_three_hops(self) -> None:
        await self.check_round_trip(3)

    async def test_exit_policy_applies(self) -> None:
        await self.start()
        circuit = await self.build(1)
        self.overlay(0).tunnel_data(circuit, DESTINATION, "data", b"not bittorrent, not ipv8")
        await self.deliver_messages()
        _, transport, _ = self.udp.sockets[-1]
        self.assertEqual([], transport.sent)
        with self.assertRaises(ValueError):
            self.overlay(0).tunnel_data(circuit, DESTINATION, "other", b"x")


class TestLimits(TunnelTestBase):
    """Teardown, joined-circuit cap, timeouts and the upkeep's limits."""

    async def test_destroy_tears_down_relays(self) -> None:
        await self.start()
        circuit = await self.build(3)
        path = [self.index_of(hop.public_key_bin) for hop in circuit.hops]
        self.overlay(0).remove_circuit(circuit.circuit_id, "done", destroy=DESTROY_REASON_UNNEEDED)
        self.assertEqual(CIRCUIT_STATE_CLOSING, circuit.state)
        await self.deliver_messages()
        self.assertEqual({}, self.overlay(0).circuits)
        for hop in path:
            self.assertEqual({}, self.overlay(hop).relay_from_to)
            self.assertEqual({}, self.overlay(hop).exit_sockets)
            self.assertEqual(0, self.overlay(hop).drop_counts[_circuits.DROP_TUNNEL_UNAUTHORIZED_DESTROY])

    async def test_removal_waits_remove_tunnel_delay(self) -> None:
        await self.start()
        self.overlay(0).settings.remove_tunnel_delay = 5
        circuit = await self.build(1)
        removed = self.overlay(0).remove_circuit(circuit.circuit_id, "later")
        self.assertIn(circuit.circuit_id, self.overlay(0).circuits)
        self.clock.advance(5)
        self.assertTrue(removed.called)
        self.assertNotIn(circuit.circuit_id, self.overlay(0).circuits)

    async def test_joined_circuit_cap(self) -> None:
        await self.start()
        self.overlay(4).settings.max_joined_circuits = 1
        exit_peer = next(p for p in self.overlay(0).candidates if p == self.peer(4))
        first = await self.build(1, required_exit=exit_peer)
        second = await self.build(1, required_exit=exit_peer)
        self.assertEqual(CIRCUIT_STATE_READY, first.state)
        self.assertEqual(1, self.overlay(4).drop_counts[_circuits.DROP_TUNNEL_JOIN_LIMIT])
        self.advance(10)  # next_hop_timeout: no other exit may be tried for a required exit
        self.assertIsNone(await second.ready)
        self.assertEqual(1, len(self.overlay(4).exit_sockets))

    async def test_create_flood(self) -> None:
        await self.start()
        self.overlay(4).settings.max_joined_circuits = 3
        node = self.overlay(5)
        for circuit_id in range(5000, 5020):
            _, key = node.crypto.generate_diffie_secret()
            node.send_cell(self.address(4), CreatePayload(circuit_id, 1, self.key_bin(5), key))
        await self.deliver_messages()
        self.assertEqual(3, len(self.overlay(4).exit_sockets))
        self.assertEqual(17, self.overlay(4).drop_counts[_circuits.DROP_TUNNEL_JOIN_LIMIT])

    async def test_silent_hop_times_out(self) -> None:
        await self.start()
        for exit_node in self.EXITS:
            self.overlay(exit_node).settings.peer_flags = set()  # still announced as exits, but silent now
        circuit = await self.build(1)
        self.assertEqual(1, sum(self.overlay(i).drop_counts[_circuits.DROP_TUNNEL_NOT_A_RELAY] for i in self.EXITS))
        self.advance(10)
        self.assertIsNone(await circuit.ready)
        self.assertEqual({}, self.overlay(0).circuits)

    async def test_silent_hop_is_replaced(self) -> None:
        await self.start()
        self.overlay(self.EXITS[0]).settings.peer_flags = set()
        exit_peers = [p for p in self.overlay(0).candidates if p in (self.peer(4), self.peer(5))]
        circuit = await self.build(2)
        for _ in range(6):
            if circuit.state == CIRCUIT_STATE_READY:
                break
            self.advance(10)
            await self.deliver_messages()
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)
        self.assertEqual(self.key_bin(self.EXITS[1]), circuit.hops[-1].public_key_bin)
        self.assertEqual(2, len(exit_peers))

    async def test_inactive_circuits_expire(self) -> None:
        await self.start()
        circuit = await self.build(2)
        path = [self.index_of(hop.public_key_bin) for hop in circuit.hops]
        self.advance(21)  # no pong is delivered: nothing is active
        self.assertEqual({}, self.overlay(0).circuits)
        self.assertEqual({}, self.overlay(path[0]).relay_from_to)
        self.assertEqual({}, self.overlay(path[1]).exit_sockets)

    async def test_pings_keep_circuits_alive(self) -> None:
        await self.start()
        circuit = await self.build(2)
        for _ in range(8):
            self.advance(5)
            await self.deliver_messages()
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)

    async def test_old_circuits_expire(self) -> None:
        await self.start()
        for index in range(self.NODES):
            self.overlay(index).settings.max_time = 12
            self.overlay(index).settings.max_time_inactive = 1000
        circuit = await self.build(1)
        self.advance(10)
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)
        self.advance(7)  # the upkeep runs every 5 s: at 16 s the circuit is older than 12 s
        self.assertEqual({}, self.overlay(0).circuits)
        self.assertEqual(0, sum(len(self.overlay(i).exit_sockets) for i in self.EXITS))

    async def test_traffic_limit(self) -> None:
        await self.start()
        circuit = await self.build(2)
        self.overlay(0).settings.max_traffic = 2000
        for _ in range(3):
            self.overlay(0).tunnel_data(circuit, DESTINATION, "data", DHT_PACKET * 10)
        await self.deliver_messages()
        self.clock.advance(5)
        await self.deliver_messages()
        self.assertEqual({}, self.overlay(0).circuits)
        # The destroy went along the circuit: the relay and the exit are gone too.
        self.assertEqual(0, sum(len(self.overlay(i).relay_from_to) + len(self.overlay(i).exit_sockets)
                                for i in range(1, self.NODES)))


class TestHostileCells(TunnelTestBase):
    """Cells that must be dropped, and counted, without harm."""

    def send_raw(self, sender: int, receiver: int, packet: bytes) -> None:
        self.endpoint(sender).send(self.address(receiver), packet)

    async def test_unknown_circuit(self) -> None:
        await self.start()
        prefix = self.overlay(0).get_prefix()
        self.send_raw(0, 1, CellPayload(123456, b"\x01" * 40).to_bin(prefix))
        self.send_raw(0, 1, prefix + b"\x00\x00\x01")  # too short to be a cell
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(1).drop_counts[_cells.DROP_TUNNEL_UNKNOWN_CIRCUIT])
        self.assertEqual(1, self.overlay(1).drop_counts[_cells.DROP_TUNNEL_MALFORMED_CELL])

    async def test_forbidden_plaintext(self) -> None:
        await self.start()
        circuit = await self.build(1)
        exit_node = self.index_of(circuit.hops[0].public_key_bin)
        data = DataPayload(circuit.circuit_id, DESTINATION, ("0.0.0.0", 0), DHT_PACKET)
        forged = CellPayload(circuit.circuit_id, encode_cell_message(data), plaintext=True)
        self.send_raw(0, exit_node, forged.to_bin(self.overlay(0).get_prefix()))
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(exit_node).drop_counts[_cells.DROP_TUNNEL_FORBIDDEN_PLAINTEXT])
        self.assertEqual([], self.udp.sockets)  # the exit socket never opened

    async def test_extend_without_relay_early(self) -> None:
        await self.start()
        circuit = await self.build(1)
        hop = self.index_of(circuit.hops[0].public_key_bin)
        _, key = self.overlay(0).crypto.generate_diffie_secret()
        extend = ExtendPayload(circuit.circuit_id, 7, self.key_bin(5 if hop == 4 else 4), key, ("0.0.0.0", 0))
        self.send_raw(0, hop, self.cell(circuit, extend, relay_early=False))
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(hop).drop_counts[_cells.DROP_TUNNEL_MISSING_RELAY_EARLY])
        self.assertEqual({}, self.overlay(hop).relay_from_to)

    async def test_extend_flood(self) -> None:
        await self.start()
        circuit = await self.build(1)
        hop = self.index_of(circuit.hops[0].public_key_bin)
        for identifier in range(10):
            _, key = self.overlay(0).crypto.generate_diffie_secret()
            extend = ExtendPayload(circuit.circuit_id, identifier, self.key_bin(1), key, ("0.0.0.0", 0))
            self.send_raw(0, hop, self.cell(circuit, extend, relay_early=True))
        await self.deliver_messages()
        self.assertEqual(2, self.overlay(hop).drop_counts[_circuits.DROP_TUNNEL_UNEXPECTED_EXTEND])
        self.assertEqual(_circuits.MAX_EXTENDS_PER_CIRCUIT, len(self.overlay(1).exit_sockets))
        # The first created made the hop a relay; the later ones find no exit socket to turn into one.
        self.assertEqual(2, len(self.overlay(hop).relay_from_to))
        self.assertEqual(_circuits.MAX_EXTENDS_PER_CIRCUIT - 1,
                         self.overlay(hop).drop_counts[_circuits.DROP_TUNNEL_UNEXPECTED_CREATED])

    async def test_relay_early_limit(self) -> None:
        await self.start()
        circuit = await self.build(2)
        relay = self.index_of(circuit.hops[0].public_key_bin)
        for identifier in range(12):
            self.send_raw(0, relay, self.cell(circuit, PingPayload(circuit.circuit_id, identifier), relay_early=True))
        await self.deliver_messages()
        # The route counted the extend already: 7 more relay_early cells pass, the other 5 do not.
        self.assertEqual(5, self.overlay(relay).drop_counts[_cells.DROP_TUNNEL_RELAY_EARLY_EXCEEDED])

    async def test_bit_flip_and_replay(self) -> None:
        await self.start()
        circuit = await self.build(1)
        exit_node = self.index_of(circuit.hops[0].public_key_bin)
        packet = self.cell(circuit, PingPayload(circuit.circuit_id, 1), relay_early=True)
        flipped = bytearray(packet)
        flipped[-3] ^= 0x01
        self.send_raw(0, exit_node, bytes(flipped))
        self.send_raw(0, exit_node, packet)
        self.send_raw(0, exit_node, packet)
        await self.deliver_messages()
        drops = self.overlay(exit_node).drop_counts
        self.assertEqual(1, drops["tunnel-cell-bad-tag"])
        self.assertEqual(1, drops["tunnel-cell-replayed"])
        # The one ping that got through was answered; its pong matches no ping of node 0's, which counts it.
        self.assertEqual(1, self.overlay(0).drop_counts[DROP_TUNNEL_UNEXPECTED_PING])

    async def test_forged_destroy(self) -> None:
        await self.start()
        circuit = await self.build(2)
        relay = self.index_of(circuit.hops[0].public_key_bin)
        outsider = next(i for i in range(1, self.NODES) if i not in
                        [self.index_of(hop.public_key_bin) for hop in circuit.hops])
        packet = self.overlay(outsider).ezr_pack(DestroyPayload.msg_id,
                                                 DestroyPayload(circuit.circuit_id, DESTROY_REASON_UNNEEDED))
        self.send_raw(outsider, relay, packet)
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(relay).drop_counts[_circuits.DROP_TUNNEL_UNAUTHORIZED_DESTROY])
        self.assertEqual(2, len(self.overlay(relay).relay_from_to))
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)

    async def test_unexpected_created_and_extend(self) -> None:
        await self.start()
        circuit = await self.build(1)
        exit_node = self.index_of(circuit.hops[0].public_key_bin)
        # A second create for a circuit id in use is refused; an extend for a circuit never joined too.
        _, key = self.overlay(5).crypto.generate_diffie_secret()
        self.overlay(0).send_cell(self.address(exit_node), CreatePayload(circuit.circuit_id, 1, self.key_bin(0), key))
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(exit_node).drop_counts[_circuits.DROP_TUNNEL_JOIN_REFUSED])
        self.assertEqual(1, len(self.overlay(exit_node).exit_sockets))
        # A created nobody asked for (the circuit is complete) changes nothing.
        forged = CreatedPayload(circuit.circuit_id, 1, key, b"\x00" * 32, b"")
        self.overlay(exit_node).send_cell(self.address(0), forged)
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(0).drop_counts[_circuits.DROP_TUNNEL_UNEXPECTED_CREATED])
        self.assertEqual(CIRCUIT_STATE_READY, circuit.state)

    async def test_plaintext_cell_to_relay(self) -> None:
        await self.start()
        circuit = await self.build(2)
        relay = self.index_of(circuit.hops[0].public_key_bin)
        _, key = self.overlay(0).crypto.generate_diffie_secret()
        cell = CellPayload.from_payload(CreatedPayload(circuit.circuit_id, 1, key, b"\x00" * 32, b""))
        self.send_raw(0, relay, cell.to_bin(self.overlay(0).get_prefix()))
        await self.deliver_messages()
        self.assertEqual(1, self.overlay(relay).drop_counts[_cells.DROP_TUNNEL_PLAINTEXT_RELAY])

    async def test_refusal_by_should_join_circuit(self) -> None:
        await self.start()
        exit_node = self.EXITS[0]
        refused: list[int] = []

        async def never(payload: CreatePayload, address: tuple) -> bool:
            refused.append(payload.circuit_id)
            return False
        self.overlay(exit_node).should_join_circuit = never
        exit_peer = next(p for p in self.overlay(0).candidates if p == self.peer(exit_node))
        circuit = await self.build(1, required_exit=exit_peer)
        self.assertEqual([circuit.circuit_id], refused)
        self.assertEqual(1, self.overlay(exit_node).drop_counts[_circuits.DROP_TUNNEL_JOIN_REFUSED])
        self.assertEqual({}, self.overlay(exit_node).exit_sockets)


class EchoSink(DatagramProtocol):
    """A UDP service on 127.0.0.1 that answers every datagram with its reverse-ordered DHT reply."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, tuple]] = []

    def datagramReceived(self, datagram: bytes, addr: tuple) -> None:
        self.received.append((datagram, addr))
        self.transport.write(b"d1:rd2:id20:zyxwvutsrqponmlkjihge1:t2:aa1:y1:re", addr)


class TestRealUDPExit(TunnelTestBase):
    """A one-hop circuit whose exit really sends to a UDP sink on 127.0.0.1, and the answer comes back."""

    NODES = 3
    EXITS = (2,)

    def settings(self) -> TunnelSettings:
        return TunnelSettings(clock=self.clock, exit_interface="127.0.0.1", remove_tunnel_delay=0)

    async def test_real_udp_round_trip(self) -> None:
        sink = EchoSink()
        port = reactor.listenUDP(0, sink, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        await self.start()
        circuit = await self.build(1)
        sink_address = ("127.0.0.1", port.getHost().port)
        self.overlay(0).tunnel_data(circuit, sink_address, "data", DHT_PACKET)
        for _ in range(100):
            await self.deliver_messages()
            if self.overlay(0).raw_data:
                break
            await deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(DHT_PACKET, sink.received[0][0])
        self.assertEqual([(circuit.circuit_id, sink_address, b"d1:rd2:id20:zyxwvutsrqponmlkjihge1:t2:aa1:y1:re")],
                         self.overlay(0).raw_data)
        exit_socket = next(iter(self.overlay(2).exit_sockets.values()))
        self.assertEqual(("127.0.0.1", sink.received[0][1][1]), tuple(exit_socket.get_address()))
        closed: Deferred = self.overlay(2).remove_exit_socket(exit_socket.circuit_id, "test", remove_now=True)
        await closed
        self.assertTrue(exit_socket.closed)


class TestSettings(TestBase):
    """The settings: 3.2.1's fields and defaults, per-instance flags."""

    def test_defaults(self) -> None:
        settings = TunnelSettings()
        expected = {"min_circuits": 1, "max_circuits": 8, "max_joined_circuits": 100, "max_time": 3600,
                    "max_time_ip": 86400, "max_time_inactive": 20, "max_traffic": 10 * 1024 ** 3,
                    "circuit_timeout": 60, "unstable_timeout": 60, "next_hop_timeout": 10,
                    "swarm_lookup_interval": 30, "swarm_connection_limit": 15, "remove_tunnel_delay": 5,
                    "max_relay_early": 8, "dht_provider": None}
        self.assertEqual(expected, {name: getattr(settings, name) for name in expected})
        self.assertEqual({PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST}, settings.peer_flags)
        self.assertFalse(settings.become_exitnode)

    def test_flags_are_per_instance(self) -> None:
        first, second = TunnelSettings(), TunnelSettings(peer_flags=[PEER_FLAG_RELAY])
        first.peer_flags.add(PEER_FLAG_EXIT_BT)
        self.assertTrue(first.become_exitnode)
        self.assertEqual({PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST}, TunnelSettings().peer_flags)
        self.assertEqual({PEER_FLAG_RELAY}, second.peer_flags)
        second.become_exitnode = True
        self.assertEqual({PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT}, second.peer_flags)
        second.become_exitnode = False
        self.assertEqual({PEER_FLAG_RELAY}, second.peer_flags)


class Note(CellablePayload):
    """An application cell message (pyipv8's ``names``/``format_list`` style)."""

    msg_id = 100
    names = ("circuit_id", "text")
    format_list = ("I", "varlenH")


class NoteCommunity(RecordingTunnelCommunity):
    """A subclass with a cell message of its own, as hidden services add theirs."""

    def __init__(self, settings: TunnelSettings) -> None:
        super().__init__(settings)
        self.notes: list[tuple[int, bytes]] = []
        self.add_cell_handler(Note, self.on_note)

    @unpack_cell(Note)
    def on_note(self, source_address: tuple, payload: Note, circuit_id: int | None) -> None:
        self.notes.append((circuit_id, payload.text))


class TestCellHandlers(TunnelTestBase):
    """Subclasses add cell messages with ``add_cell_handler`` and ``unpack_cell``."""

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        return MockIPv8("curve25519", NoteCommunity, self.settings(), internet=self.internet)

    async def test_own_cell_message(self) -> None:
        await self.start()
        circuit = await self.build(2)
        exit_node = self.index_of(circuit.hops[-1].public_key_bin)
        self.overlay(0).send_cell(circuit.hop.address, Note(circuit.circuit_id, b"through two hops"))
        await self.deliver_messages()
        exit_ids = list(self.overlay(exit_node).exit_sockets)
        self.assertEqual([(exit_ids[0], b"through two hops")], self.overlay(exit_node).notes)
        relay = self.index_of(circuit.hops[0].public_key_bin)
        self.assertEqual([], self.overlay(relay).notes)  # the relay cannot read it
