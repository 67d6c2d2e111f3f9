"""TestBase: a trial TestCase that builds in-memory IPv8 nodes for overlay tests.

It runs under ``trial``, ``pytest`` and ``python -m unittest``-style runners that understand trial
TestCases. Test methods may be ``async def``; ``await self.deliver_messages()`` runs the in-memory network
until no packet is in flight and nothing is due on the reactor.
"""
from __future__ import annotations

import contextlib
import faulthandler
import os
import shutil
import sys
import threading
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Iterator, TypeVar

from twisted.internet import reactor as global_reactor
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial import unittest

from ..community import RESERVED_MESSAGE_IDS, Community
from ..lazy_community import HEADER_SIZE, PacketDecodingError, split_signed_packet
from ..messaging.payload_headers import GlobalTimeDistributionPayload
from ..messaging.serialization import PackError
from ..messaging.interfaces.endpoint import EndpointListener
from ..peer import Peer
from .mocking.endpoint import Internet
from .mocking.ipv8 import MockIPv8

if TYPE_CHECKING:
    from ..keyvault.keys import PrivateKey, PublicKey
    from ..peerdiscovery.network import Network
    from ..types import Address

OverlayType = TypeVar("OverlayType", bound=Community)


class _ReceivedMessageRecorder(EndpointListener):
    """Listens next to a test node's overlay and decodes the messages ``assertReceivedBy`` watches for."""

    def __init__(self, overlay: Community, classes: dict[int, type]) -> None:
        super().__init__(overlay.endpoint)
        self.overlay = overlay
        self.classes = classes
        self.received: list[Any] = []
        self.unexpected: list[int] = []

    def on_packet(self, packet: tuple[Address, bytes]) -> None:
        _, data = packet
        if len(data) <= HEADER_SIZE or data[:22] != self.overlay.get_prefix():
            return
        payload_class = self.classes.get(data[22])
        if payload_class is None:
            self.unexpected.append(data[22])
            return
        try:
            _, body_start, body = split_signed_packet(data)
        except PacketDecodingError:  # not a signed message: decode it as an unsigned one
            body_start, body = HEADER_SIZE, data
        self.received.append(self._decode(payload_class, body, body_start, data[22] in RESERVED_MESSAGE_IDS))

    def _decode(self, payload_class: type, body: bytes, offset: int, framework_message: bool) -> Any:
        """
        Decode the payload, skipping a global-time header when the message has one.

        Framework messages (ids 231-255) always carry one; for application messages we try without it
        first. A message that fits neither way fails the assertion instead of yielding garbage.
        """
        serializer = self.overlay.serializer
        layouts = [[GlobalTimeDistributionPayload, payload_class]] if framework_message else \
            [[payload_class], [GlobalTimeDistributionPayload, payload_class]]
        for layout in layouts:
            try:
                return serializer.unpack_serializable_list(layout, body, offset=offset)[-1]
            except PackError:
                continue
        raise AssertionError(f"message {payload_class.__name__} (id {payload_class.msg_id}) could not be decoded")


class TestBase(unittest.TestCase, Generic[OverlayType]):
    """
    Base class for tests of Community subclasses.

    Call :meth:`initialize` with your Community class and a node count; reach the nodes through the
    shortcuts (:meth:`overlay`, :meth:`peer`, :meth:`my_peer`, ...). Overlays created here are *fragile*:
    a handler exception fails the test instead of being logged, unless the overlay class is listed in
    :attr:`production_overlay_classes` (or :meth:`patch_overlays` is overridden).
    """

    #: Seconds a single test may take before it fails with a dump of pending calls and threads.
    MAX_TEST_TIME: ClassVar[float] = 10.0
    #: Extra seconds a blocked reactor is given before the watchdog stops the process.
    DEADLOCK_GRACE: ClassVar[float] = 5.0
    #: Key level of the nodes :meth:`create_node` makes.
    DEFAULT_KEY_LEVEL: ClassVar[str] = "curve25519"

    def __init__(self, methodName: str = "runTest") -> None:  # noqa: N803 - unittest's name
        super().__init__(methodName)
        self.nodes: list[MockIPv8] = []
        self.overlay_class: type[Community] | None = None
        #: Overlay classes that keep the production exception handler.
        self.production_overlay_classes: list[type] = []
        self.internet = Internet()
        self._tempdirs: list[str] = []
        self._watchdog: threading.Timer | None = None
        self._timeout_dump: Any = None

    # Life cycle ----------------------------------------------------------------------------------------

    def getTimeout(self) -> float:  # noqa: N802 - trial's name
        return self.MAX_TEST_TIME

    def setUp(self) -> Any:
        self.internet = Internet(global_reactor)
        self._start_watchdog()
        return super().setUp()

    def tearDown(self) -> Deferred:
        def cleanup(result: Any) -> Any:
            self._stop_watchdog()
            for directory in self._tempdirs:
                shutil.rmtree(directory, ignore_errors=True)
            self._tempdirs = []
            return result
        stopping = gatherResults([node.stop() for node in self.nodes], consumeErrors=True)
        self.nodes = []
        return stopping.addBoth(cleanup)

    def _dump_state(self, reason: str) -> None:
        sys.stderr.write(f"\n{self.id()}: {reason}\nPending delayed calls:\n")
        for call in list(global_reactor.getDelayedCalls()):
            sys.stderr.write(f"  {call}\n")
        sys.stderr.write("Threads:\n")
        sys.stderr.flush()
        faulthandler.dump_traceback(all_threads=True)
        sys.stderr.flush()

    def _start_watchdog(self) -> None:
        # Just before trial's own timeout fails the test, show what was still pending.
        self._timeout_dump = global_reactor.callLater(
            self.MAX_TEST_TIME * 0.99, self._dump_state, f"still running after MAX_TEST_TIME={self.MAX_TEST_TIME}s")
        # Trial's timeout cannot fire while the reactor thread is stuck in synchronous code; this
        # thread notices that, dumps every thread's stack and stops the process.
        def stuck() -> None:
            self._dump_state(f"the reactor has been blocked for more than MAX_TEST_TIME={self.MAX_TEST_TIME}s "
                             f"+ {self.DEADLOCK_GRACE}s; stopping the process")
            os._exit(1)
        self._watchdog = threading.Timer(self.MAX_TEST_TIME + self.DEADLOCK_GRACE, stuck)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._timeout_dump is not None and self._timeout_dump.active():
            self._timeout_dump.cancel()
        self._timeout_dump = None

    # Building the experiment ------------------------------------------------------------------------------

    def initialize(self, overlay_class: type[OverlayType], node_count: int, settings: Any = None,
                   create_dht: bool = False, enable_statistics: bool = False) -> None:
        """
        Create ``node_count`` nodes running ``overlay_class`` and make them all know each other.

        Peers are put straight into each other's Network (no messages are sent), so custom logic that
        runs on introductions is skipped: use :meth:`introduce_nodes` for that.
        """
        self.overlay_class = overlay_class
        self.nodes = [self.create_node(settings, create_dht, enable_statistics) for _ in range(node_count)]
        for node in self.nodes:
            for other in self.nodes:
                if other is not node:
                    self._add_known_peer(node, other)
        for index in range(len(self.nodes)):
            self.patch_overlays(index)

    def create_node(self, settings: Any = None, create_dht: bool = False, enable_statistics: bool = False) -> MockIPv8:
        """Create one node (override this to change keys or settings per node)."""
        if self.overlay_class is None:
            raise RuntimeError("call initialize() before create_node()")
        return MockIPv8(self.DEFAULT_KEY_LEVEL, self.overlay_class, settings, create_dht, enable_statistics,
                        internet=self.internet)

    def add_node_to_experiment(self, node: MockIPv8) -> None:
        """Add a node made with :meth:`create_node`: it learns about every existing node."""
        for other in self.nodes:
            self._add_known_peer(node, other)
        self.nodes.append(node)
        self.patch_overlays(len(self.nodes) - 1)

    @staticmethod
    def _add_known_peer(node: MockIPv8, other: MockIPv8) -> None:
        public_peer = Peer(other.my_peer.public_key, other.my_peer.address)
        node.network.add_verified_peer(public_peer)
        node.network.discover_services(public_peer, [node.overlay.community_id])

    def patch_overlays(self, i: int) -> None:
        """Make the overlays of node ``i`` fragile, except the classes in ``production_overlay_classes``."""
        for overlay in self.node(i).overlays:
            if type(overlay) not in self.production_overlay_classes:
                overlay.raise_handler_errors = True

    # Running the network ------------------------------------------------------------------------------------

    def deliver_messages(self, timeout: float = 5.0) -> Deferred:
        """
        Let the nodes talk until the network is quiet.

        Fires once, twice in a row, no packet is in flight and no call is due on the reactor; or when
        ``timeout`` seconds have passed (overlays with very fast periodic tasks are never quiet). Errors
        raised by fragile overlays while handling packets fail the test here.
        """
        return ensureDeferred(self._deliver(timeout))

    def _reactor_has_due_calls(self) -> bool:
        now = global_reactor.seconds()
        return any(call.active() and call.getTime() <= now for call in global_reactor.getDelayedCalls())

    def _next_call_delay(self) -> float:
        now = global_reactor.seconds()
        times = [call.getTime() for call in global_reactor.getDelayedCalls() if call.active()]
        return max(0.0, min(times) - now) if times else 0.0

    async def _deliver(self, timeout: float) -> None:
        deadline = global_reactor.seconds() + timeout
        quiet_rounds = 0
        while quiet_rounds < 2 and global_reactor.seconds() < deadline:
            busy_now = self._reactor_has_due_calls()
            wait = 0.0
            if not busy_now and self.internet.in_flight:
                # Packets on a slow link: sleep until the next thing is due instead of spinning.
                wait = min(self._next_call_delay(), 0.05)
            await deferLater(global_reactor, wait, lambda: None)
            quiet = not self.internet.in_flight and not self._reactor_has_due_calls()
            quiet_rounds = quiet_rounds + 1 if quiet else 0
        self._raise_network_errors()

    def _raise_network_errors(self) -> None:
        if self.internet.errors:
            errors, self.internet.errors = self.internet.errors, []
            raise errors[0]

    async def introduce_nodes(self) -> None:
        """Have every node walk to every other node (real introduction messages) and deliver them."""
        for node in self.nodes:
            for other in self.nodes:
                if other is not node:
                    node.overlay.walk_to(other.raw_endpoint.wan_address)
        await self.deliver_messages()

    def temporary_directory(self) -> str:
        """A fresh directory (under the working directory) that is removed after the test."""
        directory = os.path.abspath(f"_temp_{uuid.uuid4().hex}")
        os.makedirs(directory)
        self._tempdirs.append(directory)
        return directory

    @contextlib.contextmanager
    def assertReceivedBy(self, i: int, message_classes: list[type], ordered: bool = True,  # noqa: N802
                         message_filter: list[type] | None = None) -> Iterator[list[Any]]:
        """
        Assert that node ``i`` receives exactly ``message_classes`` inside the ``with`` block.

        Yields the list of received payloads (filled in as they arrive). Messages must have a ``msg_id``
        and be sent with ``ez_send`` (signed or not). ``message_filter`` restricts which message ids are
        watched at all; ``ordered=False`` ignores the order of arrival.
        """
        watched = list(message_filter) if message_filter is not None else list(message_classes)
        classes = {cls.msg_id: cls for cls in [*watched, *message_classes]}
        recorder = _ReceivedMessageRecorder(self.overlay(i), classes)
        endpoint = self.endpoint(i)
        endpoint.add_listener(recorder)
        try:
            yield recorder.received
        finally:
            endpoint.remove_listener(recorder)
        allowed = {cls.msg_id for cls in watched}
        received = [payload for payload in recorder.received if payload.msg_id in allowed]
        recorder.received[:] = received
        self.assertEqual([], recorder.unexpected if message_filter is None else [],
                         f"node {i} received messages with unexpected ids")
        names = [type(payload).__name__ for payload in received]
        expected = [cls.__name__ for cls in message_classes]
        if ordered:
            self.assertEqual(expected, names, f"node {i} did not receive the expected messages in order")
        else:
            self.assertEqual(sorted(expected), sorted(names), f"node {i} did not receive the expected messages")

    # Shortcuts --------------------------------------------------------------------------------------------

    def address(self, i: int) -> Address:
        """The (WAN) address of node ``i``."""
        return self.node(i).raw_endpoint.wan_address

    def endpoint(self, i: int) -> Any:
        """The endpoint of node ``i``."""
        return self.node(i).endpoint

    def key_bin(self, i: int) -> bytes:
        """The public key of node ``i``, serialized."""
        return self.public_key(i).key_to_bin()

    def key_bin_private(self, i: int) -> bytes:
        """The private key of node ``i``, serialized."""
        return self.private_key(i).key_to_bin()

    def mid(self, i: int) -> bytes:
        """The member id (SHA-1 of the public key) of node ``i``."""
        return self.my_peer(i).mid

    def my_peer(self, i: int) -> Peer:
        """The private Peer of node ``i``."""
        return self.node(i).my_peer

    def network(self, i: int) -> Network:
        """The Network of node ``i``."""
        return self.node(i).network

    def node(self, i: int) -> MockIPv8:
        """The MockIPv8 of node ``i``."""
        return self.nodes[i]

    def overlay(self, i: int) -> OverlayType:
        """The overlay of node ``i``."""
        return self.node(i).overlay  # type: ignore[return-value]

    def peer(self, i: int) -> Peer:
        """A public Peer for node ``i``, as other nodes see it."""
        return Peer(self.public_key(i), self.address(i))

    def private_key(self, i: int) -> PrivateKey:
        """The private key of node ``i``."""
        return self.my_peer(i).key  # type: ignore[return-value]

    def public_key(self, i: int) -> PublicKey:
        """The public key of node ``i``."""
        return self.my_peer(i).public_key
