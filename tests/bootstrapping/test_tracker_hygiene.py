"""The tracker's newer rules: only recently heard peers are introduced, a total cap, and address hygiene.

All on a recording endpoint and a Clock: nothing is sent anywhere, so the "public" addresses below are data.
"""
from __future__ import annotations

from typing import Any

import pytest

from ipv8.messaging.addresses import UDPv4Address
from ipv8.tracker import DROP_UNUSABLE_SOURCE, CommunityDirectory, EndpointServer, TrackerConfigurationError

from ..test_tracker import KEYS, PREFIX_A, TRACKER_ADDRESS, make_server, peer_entry
from .support import RecordingEndpoint, decode_puncture_request, decode_response, make_request, prefix_of


def ask(server: EndpointServer, source: tuple[str, int], lan: tuple[str, int], key: Any,  # noqa: ANN401
        prefix: bytes = PREFIX_A, new_style: bool = False) -> None:
    server.on_packet((UDPv4Address(*source), make_request(key, prefix, TRACKER_ADDRESS, UDPv4Address(*lan),
                                                          UDPv4Address(*source), 9, new_style)))


def answer_to(endpoint: RecordingEndpoint, requester: tuple[str, int]) -> Any:  # noqa: ANN401
    """The introduction response sent to ``requester`` since the last take, and the puncture requests."""
    sent = endpoint.take()
    responses = [decode_response(data)[1] for destination, data in sent
                 if destination == requester and data[22] in (245, 233)]
    punctures = [(destination, decode_puncture_request(data)) for destination, data in sent
                 if data[22] in (250, 232)]
    assert len(responses) == 1
    return responses[0], punctures


def test_only_recently_heard_peers_are_introduced() -> None:
    server, endpoint, clock = make_server()
    old, new = ("127.0.0.1", 21001), ("127.0.0.1", 21002)
    ask(server, old, old, KEYS[1])
    clock.advance(61)  # a node of a previous run: gone, but not yet forgotten
    ask(server, new, new, KEYS[2])
    response, punctures = answer_to(endpoint, new)
    assert response.wan_introduction_address == ("0.0.0.0", 0) and punctures == []
    assert server.directory.peer_count == 2
    clock.advance(1)
    ask(server, old, old, KEYS[1])  # it is back: the two may meet again
    response, punctures = answer_to(endpoint, old)
    assert response.wan_introduction_address == new
    assert [destination for destination, _ in punctures] == [new]


def test_the_introduce_window_is_configurable_and_at_most_the_timeout() -> None:
    server, endpoint, clock = make_server(introduce_window=5.0)
    ask(server, ("127.0.0.1", 21001), ("127.0.0.1", 21001), KEYS[1])
    clock.advance(5)
    ask(server, ("127.0.0.1", 21002), ("127.0.0.1", 21002), KEYS[2])
    assert answer_to(endpoint, ("127.0.0.1", 21002))[0].wan_introduction_address == ("127.0.0.1", 21001)
    clock.advance(4.5)  # peer 21001 was heard 9.5 s ago, 21002 4.5 s ago
    ask(server, ("127.0.0.1", 21003), ("127.0.0.1", 21003), KEYS[3])
    assert answer_to(endpoint, ("127.0.0.1", 21003))[0].wan_introduction_address == ("127.0.0.1", 21002)
    assert make_server(introduce_window=500.0)[0].introduce_window == 120.0
    for bad in (0, -1, float("nan"), float("inf"), "60"):
        with pytest.raises(TrackerConfigurationError):
            make_server(introduce_window=bad)


def test_the_directory_has_a_total_cap() -> None:
    directory = CommunityDirectory(max_communities=10, max_peers_per_community=10, max_peers_total=12)
    prefixes = [prefix_of(bytes([number]) * 20) for number in range(4)]
    for number in range(40):
        directory.record(prefixes[number % 4], peer_entry(number, last_seen=number))
        assert directory.peer_count <= 12
        assert directory.peer_count == sum(len(directory.peers(prefix)) for prefix in directory.communities())
    assert directory.peer_count == 12
    # The newest peers survive; each eviction took the stalest peer of the least recently used prefix.
    remembered = sorted(peer.last_seen for prefix in directory.communities() for peer in directory.peers(prefix))
    assert remembered == list(range(28, 40))
    assert directory.evicted_peers == 28
    for bad in (0, -5, 1.5, True):
        with pytest.raises(TrackerConfigurationError):
            CommunityDirectory(max_peers_total=bad)


# Public addresses (the documentation ranges count as private to the ipaddress module). Nothing is sent:
# the server runs on a recording endpoint.
PUBLIC_1, PUBLIC_2, PUBLIC_3 = ("11.1.1.7", 7001), ("12.2.2.9", 7002), ("13.3.3.44", 7003)


@pytest.mark.parametrize("new_style", [False, True])
def test_claimed_lan_addresses_only_reach_peers_that_can_use_them(new_style: bool) -> None:
    server, endpoint, _ = make_server()
    ask(server, PUBLIC_1, ("10.0.0.3", 7001), KEYS[1], new_style=new_style)
    endpoint.take()
    # A requester elsewhere on the internet gets the WAN address twice, never 10.0.0.3 (nor 0.0.0.0:0).
    ask(server, PUBLIC_2, ("192.168.7.7", 7002), KEYS[2], new_style=new_style)
    response, [(punctured, puncture)] = answer_to(endpoint, PUBLIC_2)
    assert (response.lan_introduction_address, response.wan_introduction_address) == (PUBLIC_1, PUBLIC_1)
    # ... and the introduced peer is asked to puncture towards the requester's WAN address only.
    assert punctured == PUBLIC_1
    assert (puncture.lan_walker_address, puncture.wan_walker_address) == (PUBLIC_2, PUBLIC_2)
    # A requester behind the same public address (the same NAT) gets the LAN address.
    same_nat = (PUBLIC_1[0], 7100)
    server.directory.expire(float("inf"))
    ask(server, PUBLIC_1, ("10.0.0.3", 7001), KEYS[1], new_style=new_style)
    endpoint.take()
    ask(server, same_nat, ("10.0.0.4", 7100), KEYS[2], new_style=new_style)
    response, [(_, puncture)] = answer_to(endpoint, same_nat)
    assert (response.lan_introduction_address, response.wan_introduction_address) == (("10.0.0.3", 7001), PUBLIC_1)
    assert (puncture.lan_walker_address, puncture.wan_walker_address) == (("10.0.0.4", 7100), same_nat)
    # Even behind the same NAT, a claimed public address that is not the peer's own is not passed on,
    # nor is a loopback address (the two may share a NAT, not a machine).
    for claimed in (PUBLIC_3, ("127.0.0.1", 7001)):
        server.directory.expire(float("inf"))
        ask(server, PUBLIC_1, claimed, KEYS[1], new_style=new_style)
        endpoint.take()
        ask(server, same_nat, same_nat, KEYS[2], new_style=new_style)
        response, _ = answer_to(endpoint, same_nat)
        assert (response.lan_introduction_address, response.wan_introduction_address) == (PUBLIC_1, PUBLIC_1)


@pytest.mark.parametrize("claimed", [("0.0.0.0", 0), ("0.0.0.0", 7001), ("255.255.255.255", 7001),
                                     ("224.0.0.1", 7001), ("240.1.2.3", 7001), ("10.0.0.3", 0),
                                     ("127.0.0.1", 7001), PUBLIC_3])
def test_unusable_or_foreign_lan_claims_are_replaced_by_the_wan_address(claimed: tuple[str, int]) -> None:
    server, endpoint, _ = make_server()
    ask(server, PUBLIC_1, claimed, KEYS[1])
    endpoint.take()
    ask(server, PUBLIC_2, PUBLIC_2, KEYS[2])
    response, _ = answer_to(endpoint, PUBLIC_2)
    assert (response.lan_introduction_address, response.wan_introduction_address) == (PUBLIC_1, PUBLIC_1)


def test_loopback_peers_are_only_introduced_to_loopback_requesters() -> None:
    server, endpoint, _ = make_server()
    local = ("127.0.0.1", 21001)
    ask(server, local, local, KEYS[1])
    ask(server, PUBLIC_1, PUBLIC_1, KEYS[2])
    endpoint.take()
    # The public peer never hears of 127.0.0.1, and the local one is not sent to a public address.
    ask(server, PUBLIC_1, PUBLIC_1, KEYS[2])
    response, punctures = answer_to(endpoint, PUBLIC_1)
    assert response.wan_introduction_address == ("0.0.0.0", 0) and punctures == []
    ask(server, local, local, KEYS[1])
    response, punctures = answer_to(endpoint, local)
    assert response.wan_introduction_address == ("0.0.0.0", 0) and punctures == []
    # Two loopback peers do meet (local test networks).
    other = ("127.0.0.1", 21002)
    ask(server, other, ("192.168.1.5", 21002), KEYS[3])
    response, [(punctured, _)] = answer_to(endpoint, other)
    assert response.wan_introduction_address == local and punctured == local


def test_private_peers_are_only_introduced_on_private_networks() -> None:
    server, endpoint, _ = make_server()
    lan_peer = ("192.168.1.20", 7001)
    ask(server, lan_peer, lan_peer, KEYS[1])
    endpoint.take()
    ask(server, PUBLIC_2, PUBLIC_2, KEYS[2])
    assert answer_to(endpoint, PUBLIC_2)[0].wan_introduction_address == ("0.0.0.0", 0)
    neighbour = ("192.168.1.21", 7002)
    ask(server, neighbour, neighbour, KEYS[3])
    assert answer_to(endpoint, neighbour)[0].wan_introduction_address == lan_peer


@pytest.mark.parametrize("source", [("0.0.0.0", 7001), ("127.0.0.1", 0), ("255.255.255.255", 7001),
                                    ("224.0.0.9", 7001), ("240.0.0.1", 7001), TRACKER_ADDRESS])
def test_requests_from_unusable_sources_are_dropped(source: tuple[str, int]) -> None:
    server, endpoint, _ = make_server()
    ask(server, source, source, KEYS[1])
    assert endpoint.take() == []
    assert server.drop_counts == {DROP_UNUSABLE_SOURCE: 1}
    assert server.directory.peer_count == 0
