"""What the UDP endpoint remembers per address (checked destinations, wrapped senders) changes no verdict.

A destination or sender that passed once is not checked again; these tests make sure that values that merely
compare equal to a remembered one (5.0 == 5, True == 1) are still refused as before, on 127.0.0.1.
"""
from __future__ import annotations

from typing import Any

from twisted.trial import unittest

from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.traffic import DropReason
from ipv8.messaging.interfaces.udp import endpoint as udp_module
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv6Endpoint

from .interfaces.support import RecordingListener, wait_until

LOOPBACK = "127.0.0.1"


class TestEndpointAddressCaches(unittest.TestCase):
    timeout = 5

    async def open(self, endpoint_class: type[UDPEndpoint] = UDPEndpoint, **kwargs: Any) -> Any:
        endpoint = endpoint_class(**kwargs)
        self.addCleanup(endpoint.close)
        self.assertTrue(await endpoint.open())
        return endpoint

    async def test_equal_but_wrong_ports_still_refused(self) -> None:
        sender = await self.open(ip=LOOPBACK)
        receiver = await self.open(ip=LOOPBACK)
        listener = RecordingListener(receiver)
        receiver.add_listener(listener)
        port = receiver.get_address()[1]
        sender.send((LOOPBACK, port), b"first")
        sender.send(UDPv4Address(LOOPBACK, port), b"second")  # a namedtuple equal to the remembered tuple
        sender.send((LOOPBACK, float(port)), b"float port")
        sender.send((LOOPBACK, 1), b"to port 1")
        sender.send((LOOPBACK, True), b"bool port")
        sender.send([LOOPBACK, port], b"a list")
        await wait_until(lambda: len(listener.packets) == 2)
        self.assertEqual([b"first", b"second"], listener.payloads)
        self.assertEqual(3, sender.drops[DropReason.BAD_ADDRESS])
        self.assertEqual(3, sender.counters.packets_sent)

    async def test_senders_of_another_family_stay_refused(self) -> None:
        endpoint = await self.open(UDPv6Endpoint, ip="::")
        listener = RecordingListener(endpoint)
        endpoint.add_listener(listener)
        for _ in range(2):  # the second time from what the endpoint remembered
            endpoint.datagramReceived(b"x" * 30, ("1.2.3.4", 5))
            endpoint.datagramReceived(b"x" * 30, ("::ffff:1.2.3.4", 5))
        endpoint.datagramReceived(b"x" * 30, ("::1", 5))
        endpoint.datagramReceived(b"y" * 30, ("::1", 5))
        self.assertEqual(4, endpoint.drops[DropReason.UNSUPPORTED_FAMILY])
        self.assertEqual([("::1", 5), ("::1", 5)], [tuple(source) for source, _ in listener.packets])
        self.assertEqual([b"x" * 30, b"y" * 30], listener.payloads)

    async def test_memory_bounded_under_many_addresses(self) -> None:
        endpoint = await self.open(ip=LOOPBACK)
        limit = udp_module._ADDRESS_CACHE_SIZE
        for port in range(1, limit + 100):
            endpoint.datagramReceived(b"x" * 30, ("127.0.0.2", port))
            endpoint.send(("127.0.0.3", port), b"y")
        self.assertLessEqual(len(endpoint._sources), limit)
        self.assertLessEqual(len(endpoint._destinations), limit)
        self.assertEqual(limit + 99, endpoint.counters.packets_received)
