"""The attack toolkit of :mod:`tests.hostile.attacker`, for the DHT: forged DHT messages and DHT nodes on the harness.

DHT messages are signed but carry no global time, and two of them (find-response, connect-peer-response) use the
``node-list`` format, so they are packed with :data:`ipv8.dht.payload.dht_serializer` instead of the default one.
Everything runs on the harness :class:`~twisted.internet.task.Clock` and its quiet in-memory internet.
"""
from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure

from ipv8.dht.community import DHTCommunity
from ipv8.dht.payload import (FindRequestPayload, FindResponsePayload, PingRequestPayload, StoreRequestPayload,
                              dht_serializer, encode_value)
from ipv8.dht.routing import NODE_STATUS_GOOD, Node
from ipv8.lazy_community import split_signed_packet
from ipv8.messaging.addresses import UDPv4Address
from ipv8.messaging.payload_headers import BinMemberAuthenticationPayload
from ipv8.peer import Peer

from .attacker import Harness
from .attacker import Node as HarnessNode

#: A DHT key the tests store under and look up.
KEY = b"\x42" * 20

#: Message ids (see ipv8.dht.payload).
PING_RESPONSE, STORE_RESPONSE, FIND_REQUEST, FIND_RESPONSE = 2, 4, 5, 6


def forge_dht(target: HarnessNode, key: Any, key_bin: bytes, payload: Any) -> bytes:  # noqa: ANN401
    """A DHT message to ``target``'s overlay, signed by ``key``, exactly as a DHT node would send it."""
    packet = (target.prefix + bytes((payload.msg_id,))
              + dht_serializer.pack_serializable_list([BinMemberAuthenticationPayload(key_bin), payload]))
    return packet + key.signature(packet)


def decode_dht(packet: bytes, payload_class: type) -> Any:  # noqa: ANN401
    """The payload of a DHT message a node sent."""
    _, body_start, signed_part = split_signed_packet(packet)
    return dht_serializer.unpack_serializable_list([payload_class], signed_part, offset=body_start)[0]


def dht_node(h: Harness) -> HarnessNode:
    """A :class:`DHTCommunity` node on the harness; the clock is moved past 0 (0 means "never" to a Node)."""
    node = h.node(DHTCommunity)
    if h.clock.seconds() < 1:
        h.advance(1)
    return node


def meet(h: Harness, first: HarnessNode, second: HarnessNode) -> None:
    """Each node pings the other (real messages): both end up in each other's routing table as good nodes."""
    first.overlay.on_node_discovered(Peer(second.key_bin, second.address))
    second.overlay.on_node_discovered(Peer(first.key_bin, first.address))
    h.pump()
    assert table_node(first, second) is not None, "the node did not get into the other's routing table"
    assert table_node(second, first) is not None, "the other did not get into the node's routing table"


def dht_network(h: Harness, count: int) -> list[HarnessNode]:
    """``count`` DHT nodes that all know each other."""
    nodes = [dht_node(h) for _ in range(count)]
    for index, node in enumerate(nodes):
        for other in nodes[index + 1:]:
            meet(h, node, other)
    return nodes


def table_node(owner: HarnessNode, other: HarnessNode) -> Node | None:
    """The node ``owner``'s routing table holds for ``other`` (None if it holds none)."""
    probe = Node(other.key_bin, other.address)
    return owner.overlay.get_routing_table(probe).get(probe.id)


def good_nodes(owner: HarnessNode) -> set[bytes]:
    """The public keys of the good nodes in ``owner``'s routing tables."""
    return {node.public_key.key_to_bin() for table in owner.overlay.routing_tables.values()
            for node in table.nodes() if node.status == NODE_STATUS_GOOD}


def table_size(owner: HarnessNode) -> int:
    """Nodes in ``owner``'s routing tables, replacement caches included."""
    return sum(len(table) + sum(len(bucket.replacements) for bucket in table.buckets())
               for table in owner.overlay.routing_tables.values())


def bucket_size(owner: HarnessNode) -> int:
    """K of ``owner``'s routing tables."""
    return owner.overlay.routing_tables[UDPv4Address].bucket_size


def bucket_count(owner: HarnessNode) -> int:
    """Buckets in ``owner``'s routing tables."""
    return sum(len(table.buckets()) for table in owner.overlay.routing_tables.values())


def dht_drops(owner: HarnessNode) -> dict[str, int]:
    """``owner``'s non-zero ``dht-...`` drop counters."""
    return {reason: count for reason, count in owner.overlay.drop_counts.items()
            if reason.startswith("dht-") and count}


def obtain_token(h: Harness, target: HarnessNode, key: Any, key_bin: bytes, address: tuple) -> bytes:  # noqa: ANN401
    """Send a find-request from ``address`` and read the token out of the find-response the target sent there.

    The target's send log must be keeping packets.
    """
    before = len(target.log.sent_to(address, [FIND_RESPONSE]))
    identifier = 60_000 + before
    target.receive(address, forge_dht(target, key, key_bin,
                                      FindRequestPayload(identifier, UDPv4Address(*address), KEY, 0, True)))
    h.pump()
    answers = target.log.sent_to(address, [FIND_RESPONSE])
    assert len(answers) == before + 1, "the target did not answer the find-request"
    answer = decode_dht(answers[-1], FindResponsePayload)
    assert answer.identifier == identifier
    return answer.token


def token_of(target: HarnessNode, key_bin: bytes, address: tuple) -> bytes:
    """The token the target hands out to ``key_bin`` at ``address`` right now (what :func:`obtain_token` reads).

    Floods use this to skip the round trip; :func:`obtain_token` shows it is the same token.
    """
    return target.overlay.generate_token(Node(key_bin, UDPv4Address(*address)))


def store_packet(target: HarnessNode, key: Any, key_bin: bytes, token: bytes,  # noqa: ANN401, PLR0913
                 values: list[bytes], identifier: int = 1, target_key: bytes = KEY) -> bytes:
    """A store-request for ``values`` under ``target_key``."""
    return forge_dht(target, key, key_bin, StoreRequestPayload(identifier, token, target_key, values))


def ping_packet(target: HarnessNode, key: Any, key_bin: bytes, identifier: int = 1) -> bytes:  # noqa: ANN401
    """A ping-request."""
    return forge_dht(target, key, key_bin, PingRequestPayload(identifier))


def settled(h: Harness, deferred: Any) -> Any:  # noqa: ANN401
    """The result of a Deferred, letting requests to silent (forged) nodes time out first; it must succeed."""
    h.pump()
    for _ in range(32):
        if deferred.called:
            break
        h.advance(DHTCommunity.request_timeout)
    assert deferred.called, "the operation did not finish"
    result = deferred.result
    assert not isinstance(result, Failure), f"the operation failed: {result.getErrorMessage()}"
    return result


def assert_dht_still_works(h: Harness, target: HarnessNode, helpers: list[HarnessNode],
                           key: bytes = b"\x17" * 20) -> None:
    """A legitimate newcomer meets the target (and ``helpers``), stores a value on them, and it is found again."""
    newcomer = dht_node(h)
    for other in [target, *helpers]:
        meet(h, newcomer, other)
    data = b"still working at %d" % int(h.clock.seconds())
    stored = newcomer.overlay.store_value(key, data)
    assert target.key_bin in [node.public_key.key_to_bin() for node in settled(h, stored)], \
        "the target did not confirm the legitimate store"
    assert encode_value(data) in target.overlay.storage.get(key)
    found = (helpers[0] if helpers else newcomer).overlay.find_values(key)
    assert (data, None) in settled(h, found), "a legitimate find did not return the stored value"


__all__ = ["FIND_REQUEST", "FIND_RESPONSE", "KEY", "PING_RESPONSE", "STORE_RESPONSE", "assert_dht_still_works",
           "bucket_count", "bucket_size", "decode_dht", "dht_drops", "dht_network", "dht_node", "forge_dht",
           "good_nodes", "meet", "obtain_token", "ping_packet", "settled", "store_packet", "table_node", "table_size",
           "token_of"]
