"""NetworkStat and StatisticsEndpoint: per-prefix, per-message-id counting."""
from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.endpoint import IEndpoint, IEndpointListener
from ipv8.messaging.interfaces.network_stats import NetworkStat
from ipv8.messaging.interfaces.statistics_endpoint import StatisticsEndpoint
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint

from .support import PREFIX_A, PREFIX_B, MemoryEndpoint, RecordingListener, wait_until

PEER = UDPv4Address("127.0.0.1", 7000)


def message(prefix: bytes, msg_id: int, body: bytes = b"") -> bytes:
    return prefix + bytes([msg_id]) + body


# -- NetworkStat ------------------------------------------------------------------------------------


def test_network_stat_tracks_both_directions() -> None:
    stat = NetworkStat(7)
    stat.add_sent_stat(100.0, 30)
    stat.add_sent_stat(105.0, 20)
    stat.add_received_stat(103.0, 11)
    assert stat.to_dict() == {
        "identifier": 7, "num_up": 2, "num_down": 1, "bytes_up": 50, "bytes_down": 11,
        "first_measured_up": 100.0, "first_measured_down": 103.0,
        "last_measured_up": 105.0, "last_measured_down": 103.0,
    }
    assert "up=2 msgs/50 B" in str(stat)


def test_fresh_network_stat_is_zero() -> None:
    assert set(NetworkStat(1).to_dict().values()) == {0, 1}


# -- StatisticsEndpoint -----------------------------------------------------------------------------


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.advance(1000)
    return clock


@pytest.fixture
def inner() -> MemoryEndpoint:
    endpoint = MemoryEndpoint()
    endpoint.open()
    return endpoint


@pytest.fixture
def stats(inner: MemoryEndpoint, clock: Clock) -> StatisticsEndpoint:
    return StatisticsEndpoint(inner, clock=clock)


def test_interfaces(stats: StatisticsEndpoint) -> None:
    assert verifyObject(IEndpoint, stats)
    assert verifyObject(IEndpointListener, stats)


def test_nothing_is_counted_until_enabled(stats: StatisticsEndpoint, inner: MemoryEndpoint) -> None:
    stats.send(PEER, message(PREFIX_A, 1))
    inner.inject(PEER, message(PREFIX_A, 1))
    assert stats.get_statistics(PREFIX_A) == {}
    assert inner.sent == [(PEER, message(PREFIX_A, 1))]  # still sent


def test_counts_per_message_id(stats: StatisticsEndpoint, inner: MemoryEndpoint, clock: Clock) -> None:
    stats.enable_community_statistics(PREFIX_A, True)
    stats.send(PEER, message(PREFIX_A, 1, b"abc"))
    clock.advance(2)
    stats.send(PEER, message(PREFIX_A, 1))
    inner.inject(PEER, message(PREFIX_A, 2, b"xy"))
    inner.inject(PEER, message(PREFIX_B, 2))  # other community: not tracked
    inner.inject(PEER, PREFIX_A)  # no message id byte: ignored

    figures = stats.get_statistics(PREFIX_A)
    assert set(figures) == {1, 2}
    assert (figures[1].num_up, figures[1].bytes_up, figures[1].num_down) == (2, 26 + 23, 0)
    assert (figures[1].first_measured_up, figures[1].last_measured_up) == (1000, 1002)
    assert (figures[2].num_down, figures[2].bytes_down, figures[2].first_measured_down) == (1, 25, 1002)
    assert stats.get_statistics(PREFIX_B) == {}

    assert stats.get_aggregate_statistics(PREFIX_A) == {
        "num_up": 2, "num_down": 1, "bytes_up": 49, "bytes_down": 25, "diff_time": 2}
    assert stats.get_aggregate_statistics(PREFIX_B)["diff_time"] == 0


def test_framework_messages_are_filtered(stats: StatisticsEndpoint, inner: MemoryEndpoint) -> None:
    stats.enable_community_statistics(PREFIX_A, True)
    for msg_id in (1, 246, 234, 250, 231, 255):
        stats.send(PEER, message(PREFIX_A, msg_id))
        inner.inject(PEER, message(PREFIX_A, msg_id, b"!"))

    assert stats.get_message_sent(PREFIX_A) == 1
    assert stats.get_message_sent(PREFIX_A, include_introduction=True) == 3
    assert stats.get_message_sent(PREFIX_A, include_puncture=True) == 3
    assert stats.get_message_sent(PREFIX_A, True, True, True) == 6
    assert stats.get_message_received(PREFIX_A, include_deprecated=True) == 2
    assert stats.get_bytes_sent(PREFIX_A) == 23
    assert stats.get_bytes_received(PREFIX_A, True, True, True) == 6 * 24
    assert stats.is_excluded(245, False, True, True)
    assert not stats.is_excluded(245, True, False, False)


def test_disabling_forgets(stats: StatisticsEndpoint) -> None:
    stats.enable_community_statistics(PREFIX_A, True)
    stats.send(PEER, message(PREFIX_A, 1))
    stats.enable_community_statistics(PREFIX_A, True)  # enabling again keeps the figures
    assert stats.get_message_sent(PREFIX_A) == 1
    stats.enable_community_statistics(PREFIX_A, False)
    assert stats.get_statistics(PREFIX_A) == {}
    stats.enable_community_statistics(PREFIX_B, False)  # unknown prefix: fine


def test_manual_recording_with_timestamps(stats: StatisticsEndpoint) -> None:
    stats.add_sent_stat(PREFIX_B, 9, 100, timestamp=5.0)
    stats.add_received_stat(PREFIX_B, 9, 40, timestamp=8.0)
    assert stats.get_statistics(PREFIX_B)[9].to_dict()["last_measured_down"] == 8.0
    assert stats.get_aggregate_statistics(PREFIX_B)["diff_time"] == 3.0


def test_everything_else_is_the_wrapped_endpoint(stats: StatisticsEndpoint, inner: MemoryEndpoint) -> None:
    listener = RecordingListener(stats)
    stats.add_prefix_listener(listener, PREFIX_A)
    assert inner.prefix_listeners(PREFIX_A) == (listener,)
    assert stats in inner.listeners  # it listens itself to count received packets
    inner.inject(PEER, message(PREFIX_A, 3))
    assert len(listener.packets) == 1

    assert stats.is_open() and stats.get_address() == inner.get_address()
    assert (stats.bytes_up, stats.bytes_down) == (0, 23)
    assert stats.address == inner.address  # attributes it does not define come from the wrapped endpoint
    stats.reset_byte_counters()
    assert inner.bytes_down == 0
    stats.remove_listener(listener)
    assert inner.prefix_listeners(PREFIX_A) == ()
    with pytest.raises(AttributeError):
        stats.no_such_attribute  # noqa: B018


class TestStatisticsOverUDP(unittest.TestCase):

    timeout = 5

    @inlineCallbacks
    def test_counts_real_traffic(self) -> Any:  # noqa: ANN401
        sender = StatisticsEndpoint(UDPEndpoint(ip="127.0.0.1"))
        receiver = StatisticsEndpoint(UDPEndpoint(ip="127.0.0.1"))
        for endpoint in (sender, receiver):
            self.addCleanup(endpoint.close)
            opened = yield endpoint.open()
            self.assertTrue(opened)
            endpoint.enable_community_statistics(PREFIX_A, True)

        sender.send(receiver.get_address(), message(PREFIX_A, 5, b"hello"))
        sender.send(receiver.get_address(), message(PREFIX_A, 6))
        yield wait_until(lambda: receiver.get_message_received(PREFIX_A) == 2)
        self.assertEqual(sorted(receiver.get_statistics(PREFIX_A)), [5, 6])
        self.assertEqual(receiver.get_bytes_received(PREFIX_A), 28 + 23)
        self.assertEqual(sender.get_bytes_sent(PREFIX_A), 28 + 23)
        self.assertEqual(receiver.bytes_down, 51)
