"""Helpers shared by the bootstrapping and tracker tests: loopback communities, request packets, polling."""
from __future__ import annotations

import socket
from typing import Any, Callable

from twisted.internet.defer import Deferred, inlineCallbacks, succeed

from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import split_signed_packet
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.interfaces.endpoint import Endpoint
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint
from ipv8.messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload,
                                    NewIntroductionRequestPayload, NewIntroductionResponsePayload,
                                    NewPunctureRequestPayload, PunctureRequestPayload)
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from ipv8.messaging.serialization import Serializer
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network
from ipv8.test.util import wait_until as shared_wait_until

SERIALIZER = Serializer()
RESPONSE_CLASSES = {245: IntroductionResponsePayload, 233: NewIntroductionResponsePayload}
PUNCTURE_REQUEST_CLASSES = {250: PunctureRequestPayload, 232: NewPunctureRequestPayload}


class LoopbackCommunity(Community):
    """A community with a fixed id, for peers that find each other through a tracker."""

    community_id = bytes(range(20))


class OtherCommunity(Community):
    """A second community, to check that trackers keep communities apart."""

    community_id = bytes(range(100, 120))


def prefix_of(community_id: bytes) -> bytes:
    """The 22-byte prefix of a community with this id (version 2)."""
    return b"\x00\x02" + community_id


def make_request(key: Any, prefix: bytes, destination: tuple, lan: tuple, wan: tuple,  # noqa: ANN401, PLR0913
                 identifier: int = 1, new_style: bool = False, global_time: int = 1,
                 supports_new_style: bool = False) -> bytes:
    """A signed introduction request, built without any community (as a stranger on the internet would)."""
    payload: Any
    if new_style:
        payload = NewIntroductionRequestPayload(destination, lan, wan, identifier, False, False, False, False,
                                                False, False, False, False, b"")
    else:
        payload = IntroductionRequestPayload(destination, lan, wan, True, "unknown", identifier, b"",
                                             supports_new_style)
    packet = prefix + bytes((payload.msg_id,)) + SERIALIZER.pack_serializable_list(
        [BinMemberAuthenticationPayload(key.pub().key_to_bin()), GlobalTimeDistributionPayload(global_time),
         payload])
    return packet + key.signature(packet)


def decode_response(data: bytes) -> tuple[bytes, Any]:
    """``(signer's public key, payload)`` of a signed introduction response; checks the signature."""
    key_bin, body_start, signed_part = split_signed_packet(data)
    _, payload = SERIALIZER.unpack_serializable_list([GlobalTimeDistributionPayload, RESPONSE_CLASSES[data[22]]],
                                                     signed_part, offset=body_start)
    return key_bin, payload


def decode_puncture_request(data: bytes) -> Any:  # noqa: ANN401
    """The payload of an (unsigned) puncture request."""
    _, payload = SERIALIZER.unpack_serializable_list([GlobalTimeDistributionPayload,
                                                      PUNCTURE_REQUEST_CLASSES[data[22]]], data, offset=23)
    return payload


class RecordingEndpoint(Endpoint):
    """An endpoint without a network: ``send`` records; tests call the listener directly."""

    def __init__(self, address: tuple[str, int] = UDPv4Address("127.0.0.1", 6421)) -> None:
        super().__init__()
        self.address = address
        self.opened = True
        self.sent: list[tuple[Any, bytes]] = []

    def is_open(self) -> bool:
        return self.opened

    def get_address(self) -> tuple[str, int]:
        return self.address

    def send(self, socket_address: Any, packet: bytes) -> None:  # noqa: ANN401
        self.sent.append((socket_address, packet))

    def open(self) -> Deferred:
        self.opened = True
        return succeed(True)

    def close(self) -> Deferred:
        self.opened = False
        return succeed(None)

    def take(self) -> list[tuple[Any, bytes]]:
        """The packets sent since the last call."""
        sent, self.sent = self.sent, []
        return sent


class FakeOverlay:
    """Just enough of a Community for bootstrapper unit tests: records walks and blacklisting."""

    def __init__(self, prefix: bytes = prefix_of(bytes(20))) -> None:
        self.prefix = prefix
        self.walked: list[tuple[str, int]] = []
        self.blacklisted: list[tuple[str, int]] = []
        self.packets: list[tuple[tuple[str, int], bytes]] = []
        self.peers: list[Any] = []

    def get_prefix(self) -> bytes:
        return self.prefix

    def walk_to(self, address: tuple[str, int]) -> None:
        self.walked.append(address)

    def ensure_blacklisted(self, address: tuple[str, int]) -> None:
        if address not in self.blacklisted:
            self.blacklisted.append(address)

    def get_peers(self) -> list[Any]:
        return self.peers

    def on_packet(self, packet: tuple[tuple[str, int], bytes]) -> None:
        self.packets.append(packet)


@inlineCallbacks
def open_loopback_community(community_class: type[Community] = LoopbackCommunity) -> Any:  # noqa: ANN401
    """A community on a real UDP endpoint bound to 127.0.0.1 (close it with :func:`close_community`)."""
    endpoint = UDPEndpoint(0, "127.0.0.1")
    opened = yield endpoint.open()
    assert opened, "could not bind a loopback UDP port"
    my_peer = Peer(default_eccrypto.generate_key("curve25519"))
    community = community_class(CommunitySettings(my_peer=my_peer, endpoint=endpoint, network=Network()))
    return community


@inlineCallbacks
def close_community(community: Community) -> Any:  # noqa: ANN401
    """Unload ``community`` and close its endpoint."""
    yield community.unload()
    yield community.endpoint.close()


def wait_until(condition: Callable[[], object], timeout: float = 3.0, step: float = 0.005) -> Deferred[None]:
    """:func:`ipv8.test.util.wait_until` with the defaults of the bootstrapping tests."""
    return shared_wait_until(condition, timeout, step)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that was free a moment ago (for subprocesses that need a fixed port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
