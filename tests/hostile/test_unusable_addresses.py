"""Finding 3: addresses nobody should send to are never walkable, never sent to and never introduced."""
from __future__ import annotations

from typing import Any

import pytest

from ipv8.messaging.addresses import UDPv4Address, UDPv4LANAddress
from ipv8.peer import Peer
from ipv8.peerdiscovery.discovery import RandomWalk

from .attacker import (INTRODUCTION_RESPONSE_IDS, NO_ADDRESS, PUNCTURE_IDS, PUNCTURE_REQUEST_IDS, Node,
                       NoteCommunity, attacker_address, decode_introduction, establish, forge_introduction_request,
                       forge_puncture_request, fresh_key, harness, plain)

PORT = 31337


def unusable_addresses(target: Node) -> list[tuple[str, int]]:
    """The addresses of Finding 3, as the target (on 198.18.0.0/15, not on loopback) sees them."""
    return [("0.0.0.0", PORT), ("255.255.255.255", PORT), ("224.0.0.1", PORT), ("240.0.0.1", PORT),
            ("198.18.201.9", 0), plain(target.lan_address), plain(target.address), ("127.0.0.1", PORT)]


def walkable(target: Node) -> set[tuple[str, int]]:
    return {plain(address) for address in target.network.get_walkable_addresses()}


def assert_none_walkable(target: Node, unusable: list[tuple[str, int]]) -> None:
    bad = walkable(target) & set(unusable)
    assert not bad, f"unusable addresses are walkable: {sorted(bad)}"


def test_unusable_addresses_are_never_walkable_nor_sent_to() -> None:
    """Finding 3: an established peer (not on loopback) names each unusable address in a puncture request and
    introduces it in answers to our introduction requests; then the node walks for 100 seconds. None of the
    addresses becomes walkable and the node sends nothing to any of them, while a usable address in the same
    kind of message is punctured and becomes walkable."""
    with harness() as h:
        target = h.node(NoteCommunity)
        key, key_bin = fresh_key()
        introducer = attacker_address(400_000)
        establish(target, key, key_bin, introducer)
        unusable = unusable_addresses(target)
        target.log.forbidden.update(unusable)

        for number, address in enumerate(unusable, 1):
            target.receive(introducer, forge_puncture_request(target.prefix, address, address, number, number))
            h.advance(1)  # spread out, so that a rate limit is not what holds them back
        usable = attacker_address(400_001)
        target.receive(introducer, forge_puncture_request(target.prefix, usable, usable, 99, 99))
        assert target.log.sent_to(usable, PUNCTURE_IDS), "control: a usable walker is punctured"

        for address in unusable:
            establish(target, key, key_bin, introducer, address, address)
            h.advance(1)
        # An unusable LAN address next to a usable WAN address: only the WAN address may be kept.
        lan_junk_wan = attacker_address(400_002)
        establish(target, key, key_bin, introducer, ("0.0.0.0", PORT), lan_junk_wan)
        control_lan, control_wan = attacker_address(400_003), attacker_address(400_004)
        establish(target, key, key_bin, introducer, control_lan, control_wan)
        assert target.decode_failures() == {}
        assert {plain(control_lan), plain(control_wan)} <= walkable(target), "control: usable introductions count"

        assert_none_walkable(target, unusable)

        walker = RandomWalk(target.overlay)
        for _ in range(200):
            walker.take_step()
            h.advance(0.5)
        target.overlay.get_new_introduction()
        assert_none_walkable(target, unusable)
        assert target.log.forbidden_hits == [], f"the node sent to unusable addresses: {target.log.forbidden_hits}"


def introduced(response: bytes) -> list[tuple[str, int]]:
    """The introduced addresses of an introduction response, leaving out the "nobody" marker 0.0.0.0:0."""
    payload = decode_introduction(response)
    return [plain(address) for address in (payload.lan_introduction_address, payload.wan_introduction_address)
            if plain(address) != plain(NO_ADDRESS)]


@pytest.mark.parametrize("where", ["wan", "lan"])
def test_unusable_addresses_are_never_introduced(where: str) -> None:
    """Finding 3: ``create_introduction_response`` for a requester on 198.18.0.0/15, introducing a peer whose
    address (``wan``) or LAN address (``lan``, next to a usable address) is unusable, neither names the unusable
    address nor sends the puncture request there."""
    with harness() as h:
        target = h.node(NoteCommunity)
        requester = attacker_address(410_000)
        unusable = unusable_addresses(target)
        target.log.forbidden.update(unusable)
        for number, address in enumerate(unusable, 1):
            if where == "wan":
                peer = Peer(fresh_key()[1], UDPv4Address(*address))
            else:
                peer = Peer(fresh_key()[1], attacker_address(410_000 + number))
                peer.addresses[UDPv4LANAddress] = UDPv4LANAddress(*address)
            response = target.overlay.create_introduction_response(requester, requester, number, introduction=peer)
            assert address not in introduced(response), f"{address} was introduced"
        # Control: a usable peer is introduced as usual.
        usable = attacker_address(410_100)
        response = target.overlay.create_introduction_response(requester, requester, 100,
                                                               introduction=Peer(fresh_key()[1], usable))
        assert plain(usable) in introduced(response)
        assert target.log.forbidden_hits == [], f"the node sent to unusable addresses: {target.log.forbidden_hits}"


@pytest.mark.parametrize("claimed_lan", [("0.0.0.0", PORT), ("224.0.0.1", PORT), ("127.0.0.1", PORT), "own-lan"])
def test_a_claimed_unusable_lan_address_is_not_passed_on(claimed_lan: Any) -> None:
    """Finding 3: a peer whose introduction request claims an unusable LAN address (or ours) is accepted, but when
    the node introduces it to the next requester, the unusable address is not in the response and no puncture
    request goes there."""
    with harness() as h:
        target = h.node(NoteCommunity)
        claimed = plain(target.lan_address) if claimed_lan == "own-lan" else claimed_lan
        target.log.forbidden.update(unusable_addresses(target))
        liar_key, liar_bin = fresh_key()
        liar = attacker_address(420_000)
        target.receive(liar, forge_introduction_request(target.prefix, liar_key, liar_bin, target.address, liar, 1,
                                                        source_lan=claimed))
        assert target.knows(liar_bin) is not None
        asker_key, asker_bin = fresh_key()
        asker = attacker_address(420_001)
        target.receive(asker, forge_introduction_request(target.prefix, asker_key, asker_bin, target.address, asker, 2))
        assert target.decode_failures() == {}
        responses = target.log.sent_to(asker, INTRODUCTION_RESPONSE_IDS)
        assert len(responses) == 1
        assert claimed not in introduced(responses[0])
        assert target.log.sent_to(liar, PUNCTURE_REQUEST_IDS), "control: the liar itself was introduced"
        assert target.log.forbidden_hits == [], f"the node sent to unusable addresses: {target.log.forbidden_hits}"
