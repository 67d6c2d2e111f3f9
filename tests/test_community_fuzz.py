"""Property-based fuzzing of Community.on_packet: hostile bytes never escape and never change the Network."""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import succeed

from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import lazy_wrapper
from ipv8.messaging.interfaces.endpoint import Endpoint
from ipv8.messaging.address_hygiene import fits_scope, is_usable
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.payload_dataclass import dataclass
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

FUZZ_SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SENDER = UDPv4Address("127.0.0.2", 4000)
# Unsigned messages that a random body may legitimately decode into: puncture requests.
UNSIGNED_FRAMEWORK_IDS = {250, 232}


@dataclass(msg_id=1)
class Chat:
    number: int
    text: str


class RecordingEndpoint(Endpoint):
    """Keeps what the community sends instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[Any, bytes]] = []

    def is_open(self) -> bool:
        return True

    def get_address(self) -> UDPv4Address:
        return UDPv4Address("127.0.0.1", 5000)

    def send(self, socket_address: Any, packet: bytes) -> None:
        self.sent.append((socket_address, packet))

    def open(self) -> Any:
        return succeed(True)

    def close(self) -> Any:
        return succeed(None)


class ChatCommunity(Community):
    community_id = b"\x42" * 20

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.chats: list[Chat] = []
        self.add_message_handler(Chat, self.on_chat)

    @lazy_wrapper(Chat)
    def on_chat(self, peer: Peer, payload: Chat) -> None:
        self.chats.append(payload)


def make_community() -> ChatCommunity:
    key = default_eccrypto.generate_key("curve25519")
    endpoint = RecordingEndpoint()
    return ChatCommunity(CommunitySettings(my_peer=Peer(key, endpoint.get_address()), endpoint=endpoint,
                                           network=Network()))


RECEIVER = make_community()
OTHER = make_community()
VALID_PACKETS = [
    OTHER.ezr_pack(1, Chat(7, "seven")),
    OTHER.create_introduction_request(UDPv4Address("127.0.0.1", 5000)),
    OTHER.create_introduction_request(UDPv4Address("127.0.0.1", 5000), new_style=True),
    OTHER.create_introduction_response(UDPv4Address("127.0.0.1", 5000), UDPv4Address("127.0.0.1", 5000), 3),
    OTHER.create_puncture(UDPv4Address("127.0.0.1", 5000), UDPv4Address("127.0.0.1", 5000), 3),
]


def snapshot(community: Community) -> tuple[Any, ...]:
    network = community.network
    return (frozenset(network.verified_peers), tuple(sorted(network.get_walkable_addresses())),
            len(community.chats))  # type: ignore[attr-defined]


@st.composite
def mutated_packets(draw: st.DrawFn) -> bytes:
    packet = bytearray(draw(st.sampled_from(VALID_PACKETS)))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
        position = draw(st.integers(22, len(packet) - 1)) if len(packet) > 23 else 22
        if operation == "flip" and position < len(packet):
            packet[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "truncate":
            del packet[position:]
        elif operation == "insert":
            packet[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete" and position < len(packet):
            del packet[position]
    return bytes(packet)


@FUZZ_SETTINGS
@given(st.binary(max_size=600))
def test_random_bodies_are_dropped(body: bytes) -> None:
    before = snapshot(RECEIVER)
    dropped = sum(RECEIVER.drop_counts.values())
    packet = RECEIVER.get_prefix() + body
    RECEIVER.on_packet((SENDER, packet))
    assert snapshot(RECEIVER) == before
    if not body or body[0] not in UNSIGNED_FRAMEWORK_IDS:
        assert sum(RECEIVER.drop_counts.values()) == dropped + 1


@FUZZ_SETTINGS
@given(mutated_packets())
def test_mutated_packets_never_escape(packet: bytes) -> None:
    assume(packet not in VALID_PACKETS)  # an insert and a delete at one spot can restore the original
    before = snapshot(RECEIVER)
    dropped = sum(RECEIVER.drop_counts.values())
    RECEIVER.on_packet((SENDER, packet))
    # A change to a signed packet breaks its signature: no peer, no chat may come out of it.
    assert snapshot(RECEIVER) == before
    if packet[22:23] and packet[22] not in UNSIGNED_FRAMEWORK_IDS:
        assert sum(RECEIVER.drop_counts.values()) == dropped + 1


@FUZZ_SETTINGS
@given(st.binary(max_size=100))
def test_foreign_prefixes_are_ignored(data: bytes) -> None:
    before = snapshot(RECEIVER)
    RECEIVER.on_packet((SENDER, data))
    assert snapshot(RECEIVER) == before


def test_the_valid_packets_are_accepted() -> None:
    """Control: the fuzzing seeds themselves do work, so the properties above are not vacuous."""
    community = make_community()
    community.on_packet((SENDER, VALID_PACKETS[0]))
    assert [(7, "seven")] == [(chat.number, chat.text) for chat in community.chats]
    community.on_packet((SENDER, VALID_PACKETS[1]))
    assert 1 == len(community.get_peers())
    assert sum(community.drop_counts.values()) == 0


# --- a receiver that has a verified peer: the puncture path runs -------------------------------------------

SPECIAL_HOSTS = ["0.0.0.0", "255.255.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1", "127.0.0.1",
                 "127.0.0.2", "10.0.0.1", "192.168.1.1", "100.64.0.1", "169.254.1.1", "8.8.4.4", "198.18.0.5"]
hosts = st.one_of(st.sampled_from(SPECIAL_HOSTS),
                  st.ip_addresses(v=4).map(str))
addresses = st.builds(UDPv4Address, hosts, st.one_of(st.just(0), st.integers(0, 65535)))


def befriended_receiver() -> ChatCommunity:
    """A receiver for which ``SENDER`` is a verified peer (as after a completed introduction)."""
    receiver = make_community()
    friend = Peer(OTHER.my_peer.public_key, SENDER)
    receiver.network.add_verified_peer(friend)
    receiver.network.discover_services(friend, [receiver.community_id])
    return receiver


FRIENDLY_RECEIVER = befriended_receiver()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(addresses, addresses, st.integers(0, 65535), st.booleans())
def test_puncture_requests_from_a_verified_peer_obey_the_address_rules(lan: UDPv4Address, wan: UDPv4Address,
                                                                      identifier: int, new_style: bool) -> None:
    receiver = FRIENDLY_RECEIVER
    receiver.endpoint.sent.clear()  # type: ignore[attr-defined]
    receiver._puncture_limiter = type(receiver._puncture_limiter)(1e9, 1e9, 1e9, 1e9)  # rules, not rates, here
    packet = OTHER.create_puncture_request(lan, wan, identifier, new_style=new_style)
    receiver.on_packet((SENDER, packet))
    own = set(receiver._own_addresses())
    for destination, _ in receiver.endpoint.sent:  # type: ignore[attr-defined]
        assert is_usable(destination), destination
        assert tuple(destination) not in own
        # Only a target that means something to where the request came from (SENDER is on loopback).
        assert fits_scope(destination, SENDER), destination
    walkable = receiver.get_walkable_addresses()
    assert all(is_usable(address) and tuple(address) not in own for address in walkable)
    assert len(walkable) <= receiver.network.max_introductions_per_introducer


def test_the_befriended_receiver_does_puncture() -> None:
    """Control: a sane puncture request from the verified peer is answered with one puncture."""
    receiver = befriended_receiver()
    target = UDPv4Address("127.0.0.3", 6000)
    receiver.on_packet((SENDER, OTHER.create_puncture_request(target, target, 1)))
    assert [destination for destination, _ in receiver.endpoint.sent] == [target]  # type: ignore[attr-defined]
    assert receiver.get_walkable_addresses() == [target]
