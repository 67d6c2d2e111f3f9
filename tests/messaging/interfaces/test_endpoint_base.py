"""The listener registry, packet fan-out, counters and EndpointListener helpers, without any socket."""
from __future__ import annotations

import logging

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ipv8.messaging.addresses import UDPv4Address, UDPv6Address
from ipv8.messaging.interfaces.endpoint import (
    EndpointClosedException,
    EndpointListener,
    IEndpoint,
    IMultiInterfaceEndpoint,
    IEndpointListener,
    IllegalEndpointListenerError,
    InvalidPrefixError,
)
from ipv8.messaging.interfaces.lan_addresses import get_lan_addresses
from ipv8.messaging.interfaces.traffic import DropReason, TrafficCounters

from .support import PREFIX_A, PREFIX_B, MemoryEndpoint, RecordingListener

SOURCE = UDPv4Address("127.0.0.1", 5000)


@pytest.fixture
def endpoint() -> MemoryEndpoint:
    return MemoryEndpoint()


def test_interfaces_are_provided(endpoint: MemoryEndpoint) -> None:
    assert verifyObject(IEndpoint, endpoint)
    assert verifyObject(IEndpointListener, RecordingListener(endpoint))


def test_generic_listener_gets_every_packet(endpoint: MemoryEndpoint) -> None:
    listener = RecordingListener(endpoint)
    endpoint.add_listener(listener)
    endpoint.inject(SOURCE, PREFIX_A + b"\x01")
    endpoint.inject(SOURCE, b"short")
    assert listener.packets == [(SOURCE, PREFIX_A + b"\x01"), (SOURCE, b"short")]


def test_prefix_listener_only_gets_its_prefix(endpoint: MemoryEndpoint) -> None:
    community_a, community_b, everything = (RecordingListener(endpoint) for _ in range(3))
    endpoint.add_prefix_listener(community_a, PREFIX_A)
    endpoint.add_prefix_listener(community_b, PREFIX_B)
    endpoint.add_listener(everything)

    endpoint.inject(SOURCE, PREFIX_A + b"\x01a")
    endpoint.inject(SOURCE, PREFIX_B + b"\x01b")
    endpoint.inject(SOURCE, b"\x00\x02" + b"C" * 20 + b"\x01c")

    assert community_a.payloads == [PREFIX_A + b"\x01a"]
    assert community_b.payloads == [PREFIX_B + b"\x01b"]
    assert len(everything.packets) == 3


def test_prefix_route_is_one_lookup(endpoint: MemoryEndpoint) -> None:
    """The routing table holds, per prefix, its own listeners followed by the generic ones."""
    own, generic = RecordingListener(endpoint), RecordingListener(endpoint)
    endpoint.add_listener(generic)
    endpoint.add_prefix_listener(own, PREFIX_A)
    assert endpoint._routes == {PREFIX_A: (own, generic)}
    assert endpoint.prefix_listeners(PREFIX_A) == (own,)
    assert endpoint.listeners == (generic,)


def test_listener_registered_both_ways_hears_a_packet_once(endpoint: MemoryEndpoint) -> None:
    listener = RecordingListener(endpoint)
    endpoint.add_listener(listener)
    endpoint.add_prefix_listener(listener, PREFIX_A)
    endpoint.add_prefix_listener(listener, PREFIX_A)
    endpoint.inject(SOURCE, PREFIX_A + b"\x05")
    assert len(listener.packets) == 1


def test_remove_listener_everywhere(endpoint: MemoryEndpoint) -> None:
    listener, other = RecordingListener(endpoint), RecordingListener(endpoint)
    endpoint.add_listener(listener)
    endpoint.add_prefix_listener(listener, PREFIX_A)
    endpoint.add_prefix_listener(other, PREFIX_A)
    endpoint.remove_listener(listener)
    endpoint.remove_listener(RecordingListener(endpoint))  # unknown: ignored

    endpoint.inject(SOURCE, PREFIX_A + b"\x01")
    endpoint.inject(SOURCE, PREFIX_B + b"\x01")
    assert listener.packets == []
    assert len(other.packets) == 1


def test_emptied_prefix_falls_back_to_generic_listeners(endpoint: MemoryEndpoint) -> None:
    community, generic = RecordingListener(endpoint), RecordingListener(endpoint)
    endpoint.add_prefix_listener(community, PREFIX_A)
    endpoint.add_listener(generic)
    endpoint.remove_listener(community)
    assert PREFIX_A not in endpoint._routes
    endpoint.inject(SOURCE, PREFIX_A + b"\x01")
    assert len(generic.packets) == 1


def test_failing_listener_is_isolated(endpoint: MemoryEndpoint, caplog: pytest.LogCaptureFixture) -> None:
    before, broken, after = (RecordingListener(endpoint) for _ in range(3))
    broken.explode = True
    for listener in (before, broken, after):
        endpoint.add_listener(listener)

    with caplog.at_level(logging.ERROR):
        endpoint.inject(SOURCE, b"payload")
        endpoint.inject(SOURCE, b"payload")

    assert len(before.packets) == len(broken.packets) == len(after.packets) == 2
    assert endpoint.counters.listener_failures == 2
    assert any("listener failure on purpose" in record.exc_text for record in caplog.records if record.exc_text)


def test_listener_may_unregister_while_being_notified(endpoint: MemoryEndpoint) -> None:
    class LeavesAfterOne(RecordingListener):
        def on_packet(self, packet: tuple) -> None:
            super().on_packet(packet)
            self.endpoint.remove_listener(self)

    leaving, staying = LeavesAfterOne(endpoint), RecordingListener(endpoint)
    endpoint.add_listener(leaving)
    endpoint.add_listener(staying)
    endpoint.inject(SOURCE, b"one")
    endpoint.inject(SOURCE, b"two")
    assert leaving.payloads == [b"one"]
    assert staying.payloads == [b"one", b"two"]


@pytest.mark.parametrize("bad", [object(), lambda packet: None, "listener"])
def test_non_listener_is_rejected(endpoint: MemoryEndpoint, bad: object) -> None:
    with pytest.raises(IllegalEndpointListenerError):
        endpoint.add_listener(bad)
    with pytest.raises(IllegalEndpointListenerError):
        endpoint.add_prefix_listener(bad, PREFIX_A)


@pytest.mark.parametrize("prefix", [b"", PREFIX_A[:21], PREFIX_A + b"x", "A" * 22, 22])
def test_prefix_must_have_the_prefix_length(endpoint: MemoryEndpoint, prefix: object) -> None:
    with pytest.raises(InvalidPrefixError):
        endpoint.add_prefix_listener(RecordingListener(endpoint), prefix)


def test_counters_and_reset(endpoint: MemoryEndpoint) -> None:
    endpoint.send(SOURCE, b"12345")
    endpoint.inject(SOURCE, b"123")
    endpoint.counters.count_drop(DropReason.OVERSIZE)
    endpoint.counters.count_drop(DropReason.OVERSIZE)
    endpoint.counters.count_drop(DropReason.CLOSED)

    assert (endpoint.bytes_up, endpoint.bytes_down) == (5, 3)
    assert (endpoint.packets_sent, endpoint.packets_received) == (1, 1)
    assert endpoint.drops == {"oversize": 2, "closed": 1}
    assert endpoint.packets_dropped == 3
    endpoint.drops["oversize"] = 99  # a copy: the counters are not affected
    assert endpoint.drops["oversize"] == 2

    endpoint.reset_byte_counters()
    assert (endpoint.bytes_up, endpoint.bytes_down, endpoint.packets_dropped, endpoint.drops) == (0, 0, 0, {})


def test_simple_endpoints_may_assign_counters(endpoint: MemoryEndpoint) -> None:
    endpoint.bytes_up += 10
    endpoint.bytes_down = 7
    assert endpoint.counters.bytes_up == 10
    assert endpoint.counters.as_dict()["bytes_down"] == 7


def test_traffic_counters_snapshot() -> None:
    counters = TrafficCounters()
    counters.count_sent(4)
    counters.count_drop(DropReason.SEND_ERROR)
    assert counters.as_dict() == {"bytes_up": 4, "bytes_down": 0, "packets_sent": 1, "packets_received": 0,
                                  "packets_dropped": 1, "drops": {"send_error": 1}, "listener_failures": 0}


def test_assert_open(endpoint: MemoryEndpoint) -> None:
    with pytest.raises(EndpointClosedException):
        endpoint.assert_open()
    endpoint.open()
    endpoint.assert_open()


# -- EndpointListener -------------------------------------------------------------------------------


def test_estimated_lan_while_closed_is_the_null_address(endpoint: MemoryEndpoint) -> None:
    listener = RecordingListener(endpoint)
    assert listener.my_estimated_lan == ("0.0.0.0", 0)
    assert listener.my_estimated_wan == ("0.0.0.0", 0)


def test_estimated_lan_uses_an_interface_address_and_our_port() -> None:
    endpoint = MemoryEndpoint(UDPv4Address("0.0.0.0", 4000))  # a wildcard bind: any interface may serve
    endpoint.open()
    listener = RecordingListener(endpoint)
    ipv4_lan = [address for address in get_lan_addresses() if ":" not in address]
    expected_host = ipv4_lan[0] if ipv4_lan else "127.0.0.1"
    assert listener.my_estimated_lan == UDPv4Address(expected_host, 4000)
    assert listener.my_estimated_wan == listener.my_estimated_lan
    listener.my_estimated_lan = UDPv4Address("10.1.2.3", 99)
    assert listener.my_estimated_lan == ("10.1.2.3", 99)


def test_estimated_lan_is_the_bound_address_when_bound_to_one() -> None:
    endpoint = MemoryEndpoint(UDPv4Address("127.0.0.1", 4000))
    endpoint.open()
    assert RecordingListener(endpoint).my_estimated_lan == UDPv4Address("127.0.0.1", 4000)


def test_ipv6_listener_guesses_an_ipv6_address() -> None:
    endpoint = MemoryEndpoint(UDPv6Address("::1", 4000))
    listener = RecordingListener(endpoint)
    assert listener.my_estimated_lan == ("::1", 0)  # closed, but it knows its family from the address
    endpoint.open()
    assert listener.is_ipv6_listener
    assert listener._guess_lan_address(["192.168.1.4", "fd00::7"]) == "fd00::7"
    assert listener._guess_lan_address(["192.168.1.4"]) == "::1"


def test_ipv4_listener_guess_skips_ipv6(endpoint: MemoryEndpoint) -> None:
    endpoint.open()
    listener = RecordingListener(endpoint)
    assert listener._guess_lan_address(["fd00::7", "10.0.0.5", "10.0.0.6"]) == "10.0.0.5"
    assert listener._guess_lan_address([]) == "127.0.0.1"
    assert listener._get_lan_address(True)[1] == 0
    assert listener._get_lan_address()[1] == 4000


@pytest.mark.parametrize(("address", "private"), [
    ("10.4.5.6", True), ("172.16.0.1", True), ("172.31.255.255", True), ("172.32.0.1", False),
    ("192.168.7.7", True), ("127.0.0.1", False), ("8.8.8.8", False), ("fd12::1", True),
    ("fe80::1", True), ("2001:db8::1", False), ("not an ip", False),
])
def test_address_in_lan_subnets(endpoint: MemoryEndpoint, address: str, private: bool) -> None:
    assert RecordingListener(endpoint).address_in_lan_subnets(address) is private


def test_address_is_lan_means_one_of_our_addresses(endpoint: MemoryEndpoint) -> None:
    listener = RecordingListener(endpoint)
    for own in get_lan_addresses():
        assert listener.address_is_lan(own)
    assert not listener.address_is_lan("127.0.0.1")
    assert not listener.address_is_lan("203.0.113.250")


def test_get_ipv6_address_prefers_a_dispatchers_ipv6_child() -> None:
    @implementer(IMultiInterfaceEndpoint)
    class TwoChildren(MemoryEndpoint):
        def interface_for(self, socket_address: object) -> str | None:
            return None

        def __init__(self) -> None:
            super().__init__()
            self.interfaces = {"UDPIPv4": MemoryEndpoint(), "UDPIPv6": MemoryEndpoint(UDPv6Address("::1", 7))}

    endpoint = TwoChildren()
    endpoint.interfaces["UDPIPv6"].open()
    assert RecordingListener(endpoint).get_ipv6_address() == ("::1", 7)


def test_use_main_thread_flag_is_kept(endpoint: MemoryEndpoint) -> None:
    class Quiet(EndpointListener):
        def on_packet(self, packet: tuple) -> None:
            pass

    assert Quiet(endpoint).use_main_thread
    assert not Quiet(endpoint, main_thread=False).use_main_thread
