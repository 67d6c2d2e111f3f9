"""Hostile peers against DHTDiscoveryCommunity's peer store: validly signed store-peer and connect-peer floods.

Each attacker key is fresh, signs its requests properly and presents the token the target issued to its
address, so nothing but the caps stands between the flood and the target's memory and punctures.
"""
from __future__ import annotations

from ipv8.dht.discovery import MAX_STORED_PER_IP, STORED_PEER_TIMEOUT, DHTDiscoveryCommunity
from ipv8.dht.payload import ConnectPeerRequestPayload, StorePeerRequestPayload
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.messaging.addresses import UDPv4Address

from .attacker import attacker_address, harness, keys
from .dht_attacker import forge_dht, meet, token_of

PUNCTURE_REQUEST = 250


def discovery_network(h, count: int) -> list:  # noqa: ANN001
    nodes = [h.node(DHTDiscoveryCommunity) for _ in range(count)]
    if h.clock.seconds() < 1:
        h.advance(1)
    for index, node in enumerate(nodes):
        for other in nodes[index + 1:]:
            meet(h, node, other)
    return nodes


def mid_of(key_bin: bytes) -> bytes:
    return default_eccrypto.key_from_public_bin(key_bin).key_to_hash()


def test_a_store_peer_flood_from_one_ip_is_capped_and_forgotten() -> None:
    """500 fresh keys on 500 ports of one IP each ask to be stored (valid token, their own mid): at most
    MAX_STORED_PER_IP are kept, the rest counted; silent ones are forgotten after STORED_PEER_TIMEOUT, and an
    honest peer can still announce itself."""
    with harness() as h:
        target, honest, *_ = discovery_network(h, 3)
        target.log.keep = False
        overlay = target.overlay
        for number, (key, key_bin) in enumerate(keys(500)):
            address = UDPv4Address("198.18.7.7", 20_000 + number)
            token = token_of(target, key_bin, address)
            target.receive(address, forge_dht(target, key, key_bin,
                                              StorePeerRequestPayload(number, token, mid_of(key_bin))))
            h.clock.advance(0.05)  # 25 s in all: within the store limiter's budget
        h.pump()
        attacker_mids = {mid_of(key_bin) for _, key_bin in keys(500)}
        assert len(attacker_mids & set(overlay.store)) == MAX_STORED_PER_IP
        assert overlay._stored_per_ip["198.18.7.7"] == MAX_STORED_PER_IP
        refused = overlay.drop_counts["dht-store-peer-ip-full"] + overlay.drop_counts["dht-rate-limited"]
        assert refused == 500 - MAX_STORED_PER_IP
        # Meanwhile the honest nodes announced themselves (their first round runs after 5 s) and got in.
        assert honest.overlay.my_peer.mid in overlay.store
        # The attackers never ping: they are forgotten; the honest nodes ping (their ping_all) and stay.
        for _ in range((STORED_PEER_TIMEOUT + 15) // 5):
            h.advance(5)
        assert not attacker_mids & set(overlay.store) and "198.18.7.7" not in overlay._stored_per_ip
        assert honest.overlay.my_peer.mid in overlay.store


def test_a_connect_peer_storm_sends_bounded_punctures() -> None:
    """2,000 connect-peer-requests from fresh keys for a stored peer: answers and punctures stay within the
    per-IP limits (find budget and puncture budget), and the stored peer is not flooded."""
    with harness() as h:
        target, stored, *_ = discovery_network(h, 3)
        announced = stored.overlay.store_peer()
        h.pump()
        assert target.key_bin in [node.public_key.key_to_bin() for node in announced.result]
        before = len(target.log.sent_to(stored.address, [PUNCTURE_REQUEST]))
        for number, (key, key_bin) in enumerate(keys(2000)):
            address = attacker_address(700_000 + number % 4)  # four attacker IPs
            target.receive(address, forge_dht(target, key, key_bin, ConnectPeerRequestPayload(
                number, UDPv4Address(*address), stored.overlay.my_peer.mid)))
        h.pump()
        punctures = len(target.log.sent_to(stored.address, [PUNCTURE_REQUEST])) - before
        # Four source IPs, each with the puncture limiter's burst at most.
        assert 0 < punctures <= 4 * target.overlay.puncture_burst
        assert target.overlay.drop_counts["dht-rate-limited"] > 0
        assert len(target.overlay.store) == 1
