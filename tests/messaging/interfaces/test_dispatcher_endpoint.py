"""DispatcherEndpoint: one endpoint per address family, sends routed by destination."""
from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import inlineCallbacks
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from ipv8.messaging.addresses import DomainAddress, UDPv4Address, UDPv4LANAddress, UDPv6Address
from ipv8.messaging.interfaces.dispatcher.endpoint import (
    INTERFACES,
    PREFERENCE_ORDER,
    DispatcherEndpoint,
    UnknownInterfaceError,
    guess_interface,
)
from ipv8.messaging.interfaces.endpoint import EndpointClosedException, IEndpoint
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv6Endpoint

from .support import IPV6_LOOPBACK, PREFIX_A, RecordingListener, wait_until


def test_interface_table() -> None:
    assert INTERFACES == {"UDPIPv4": UDPEndpoint, "UDPIPv6": UDPv6Endpoint}
    assert PREFERENCE_ORDER == ["UDPIPv4", "UDPIPv6"]


@pytest.mark.parametrize(("address", "interface"), [
    (("127.0.0.1", 1), "UDPIPv4"), (("::1", 1), "UDPIPv6"), (("fe80::1%lo", 1), "UDPIPv6"),
    (("example.org", 1), None), (("127.0.0.1", 1, 2), None), ("127.0.0.1", None), ((None, 1), None),
])
def test_guess_interface(address: object, interface: str | None) -> None:
    assert guess_interface(address) == interface


def test_unknown_interfaces_are_rejected() -> None:
    with pytest.raises(UnknownInterfaceError):
        DispatcherEndpoint(["UDPIPv4", "Bluetooth"])
    with pytest.raises(UnknownInterfaceError):
        DispatcherEndpoint(["UDPIPv4"], UDPIPv5={"port": 1})
    with pytest.raises(ValueError):  # UnknownInterfaceError is a ValueError
        DispatcherEndpoint(["udpipv4"])


def test_per_interface_arguments_and_preference_order() -> None:
    dispatcher = DispatcherEndpoint(["UDPIPv6", "UDPIPv4"], UDPIPv4={"ip": "127.0.0.1", "port": 0})
    assert dispatcher.interface_order == ["UDPIPv4", "UDPIPv6"]
    assert dispatcher.interfaces["UDPIPv4"]._ip == "127.0.0.1"
    assert dispatcher.interfaces["UDPIPv6"]._ip == "::"
    assert verifyObject(IEndpoint, dispatcher)
    with pytest.raises(EndpointClosedException):
        dispatcher.get_address()


def test_routing_without_sockets() -> None:
    dispatcher = DispatcherEndpoint(["UDPIPv4", "UDPIPv6"])
    assert dispatcher.interface_for(UDPv4Address("10.0.0.1", 1)) == "UDPIPv4"
    assert dispatcher.interface_for(UDPv4LANAddress("10.0.0.1", 1)) == "UDPIPv4"
    assert dispatcher.interface_for(UDPv6Address("fd00::1", 1)) == "UDPIPv6"
    assert dispatcher.interface_for(("fd00::1", 1)) == "UDPIPv6"
    assert dispatcher.interface_for(DomainAddress("example.org", 1)) is None
    v4_only = DispatcherEndpoint(["UDPIPv4"])
    assert v4_only.interface_for(UDPv6Address("::1", 1)) is None


def test_listeners_reach_every_child() -> None:
    dispatcher = DispatcherEndpoint(["UDPIPv4", "UDPIPv6"])
    generic, community = RecordingListener(dispatcher), RecordingListener(dispatcher)
    dispatcher.add_listener(generic)
    dispatcher.add_prefix_listener(community, PREFIX_A)
    for child in dispatcher.interfaces.values():
        assert child.listeners == (generic,)
        assert child.prefix_listeners(PREFIX_A) == (community,)
    assert dispatcher.listeners == (generic,)

    dispatcher.notify_listeners((UDPv6Address("::1", 3), PREFIX_A + b"\x01"))
    assert generic.packets == community.packets == [(("::1", 3), PREFIX_A + b"\x01")]

    dispatcher.remove_listener(generic)
    for child in dispatcher.interfaces.values():
        assert child.listeners == ()


class TestDispatcherOverLoopback(unittest.TestCase):

    timeout = 5

    def setUp(self) -> None:
        if not IPV6_LOOPBACK:
            self.skipTest("::1 is not available on this machine")

    @inlineCallbacks
    def open_dispatcher(self) -> Any:  # noqa: ANN401
        dispatcher = DispatcherEndpoint(["UDPIPv4", "UDPIPv6"],
                                        UDPIPv4={"ip": "127.0.0.1"}, UDPIPv6={"ip": "::1"})
        self.addCleanup(dispatcher.close)
        opened = yield dispatcher.open()
        self.assertTrue(opened)
        return dispatcher

    @inlineCallbacks
    def test_sends_go_out_on_the_family_of_the_destination(self) -> Any:  # noqa: ANN401
        alice = yield self.open_dispatcher()
        bob = yield self.open_dispatcher()
        listener = RecordingListener(bob)
        bob.add_listener(listener)

        bob_v4, bob_v6 = bob.get_address("UDPIPv4"), bob.get_address("UDPIPv6")
        self.assertEqual(bob.get_address(), bob_v4)  # IPv4 is preferred
        alice.send(bob_v4, b"four")
        alice.send(("::1", bob_v6[1]), b"six")  # a plain tuple is routed by parsing it
        yield wait_until(lambda: len(listener.packets) == 2)

        sources = {data: source for source, data in listener.packets}
        self.assertEqual(sources[b"four"], alice.get_address("UDPIPv4"))
        self.assertIsInstance(sources[b"four"], UDPv4Address)
        self.assertEqual(sources[b"six"], alice.get_address("UDPIPv6"))
        self.assertIsInstance(sources[b"six"], UDPv6Address)

        self.assertEqual(alice.interfaces["UDPIPv4"].bytes_up, 4)
        self.assertEqual(alice.interfaces["UDPIPv6"].bytes_up, 3)
        self.assertEqual((alice.bytes_up, alice.packets_sent), (7, 2))
        self.assertEqual((bob.bytes_down, bob.packets_received), (7, 2))

    @inlineCallbacks
    def test_unroutable_and_forced_interface_sends(self) -> Any:  # noqa: ANN401
        alice = yield self.open_dispatcher()
        alice.send(DomainAddress("example.org", 80), b"x")  # never resolved, just dropped
        self.assertEqual(alice.drops, {"no_interface": 1})

        alice.send(("::1", 9), b"x", interface="UDPIPv4")  # forcing the wrong family: the child drops it
        self.assertEqual(alice.drops, {"no_interface": 1, "bad_address": 1})
        self.assertEqual(alice.packets_dropped, 2)
        with self.assertRaises(UnknownInterfaceError):
            alice.send(("::1", 9), b"x", interface="UDPIPv7")

        alice.reset_byte_counters()
        self.assertEqual((alice.drops, alice.packets_dropped), ({}, 0))

    @inlineCallbacks
    def test_close_closes_every_child(self) -> Any:  # noqa: ANN401
        dispatcher = yield self.open_dispatcher()
        self.assertTrue(dispatcher.is_open())
        result = yield dispatcher.close()
        self.assertIsNone(result)
        self.assertFalse(dispatcher.is_open())
        self.assertFalse(any(child.is_open() for child in dispatcher.interfaces.values()))

    @inlineCallbacks
    def test_open_is_true_when_one_child_opens(self) -> Any:  # noqa: ANN401
        dispatcher = DispatcherEndpoint(["UDPIPv4", "UDPIPv6"],
                                        UDPIPv4={"ip": "192.0.2.254"},  # not ours: cannot bind
                                        UDPIPv6={"ip": "::1"})
        self.addCleanup(dispatcher.close)
        opened = yield dispatcher.open()
        self.assertTrue(opened)
        self.assertFalse(dispatcher.interfaces["UDPIPv4"].is_open())
        self.assertEqual(dispatcher.get_address(), dispatcher.get_address("UDPIPv6"))
