"""Hostile store-requests: oversized, forged, stale and replayed values, stolen tokens, and what a value costs us.

Every test counts the drop under its ``dht-...`` reason, checks the size that must stay bounded, and ends with a
legitimate newcomer storing and finding a value through the node under attack.
"""
from __future__ import annotations

from typing import Any

import pytest

from ipv8.dht.community import MAX_VALUES_IN_STORE, TOKEN_EXPIRATION_TIME
from ipv8.dht.payload import MAX_ENTRY_SIZE, StoreRequestPayload, encode_signed_value, encode_value
from ipv8.dht.storage import MAX_ENTRY_AGE
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.peer import Peer

from .attacker import Harness, attacker_address, fresh_key, harness, keys
from .attacker import Node as HarnessNode
from .dht_attacker import (KEY, STORE_RESPONSE, assert_dht_still_works, decode_dht, dht_network, obtain_token, settled,
                           store_packet, token_of)


def stores_answered(target: HarnessNode, address: tuple) -> int:
    """Store-responses the target sent to ``address``."""
    return len(target.log.sent_to(address, [STORE_RESPONSE]))


def attacker_with_token(h: Harness, target: HarnessNode, number: int) -> tuple[Any, bytes, tuple, bytes]:
    """A fresh key at a fresh address, holding the token the target gave it there."""
    key, key_bin = fresh_key()
    address = attacker_address(900_000 + number)
    return key, key_bin, address, obtain_token(h, target, key, key_bin, address)


def test_oversized_values_and_too_many_values_are_refused() -> None:
    """A plain value of 171 bytes and a signed one over 170 bytes are refused (``dht-value-oversized``, one each); a
    store-request with nine values is refused whole (``dht-too-many-values``), its good values included. Nothing is
    stored and no store-response goes out; a value of exactly 170 bytes is still accepted."""
    with harness() as h:
        target, *helpers = dht_network(h, 3)
        key, key_bin, address, token = attacker_with_token(h, target, 0)
        signer = default_eccrypto.generate_key("curve25519")
        oversized = [encode_value(b"x" * MAX_ENTRY_SIZE), encode_signed_value(b"y" * 100, signer, 1)]
        assert [len(value) > MAX_ENTRY_SIZE for value in oversized] == [True, True]
        for number, value in enumerate(oversized):
            target.receive(address, store_packet(target, key, key_bin, token, [value], identifier=number))
        nine = [encode_value(b"%d" % number) for number in range(MAX_VALUES_IN_STORE + 1)]
        target.receive(address, store_packet(target, key, key_bin, token, nine, identifier=10))
        h.pump()
        assert target.decode_failures() == {}
        assert target.overlay.drop_counts["dht-value-oversized"] == 2
        assert target.overlay.drop_counts["dht-too-many-values"] == 1
        assert len(target.overlay.storage) == 0
        assert stores_answered(target, address) == 0

        largest = encode_value(b"z" * (MAX_ENTRY_SIZE - 1))
        target.receive(address, store_packet(target, key, key_bin, token, [largest], identifier=11))
        h.pump()
        assert target.overlay.storage.get(KEY) == [largest], "control: 170 bytes fit"
        assert stores_answered(target, address) == 1
        assert_dht_still_works(h, target, helpers)


def test_forged_signatures_are_refused() -> None:
    """Three forgeries of a signed value (data changed, signer's key swapped, signature damaged) are each counted under
    ``dht-value-bad-signature``; nothing of the victim's is stored and no store-response goes out. The genuine value
    is then accepted."""
    with harness() as h:
        target, *helpers = dht_network(h, 3)
        key, key_bin, address, token = attacker_with_token(h, target, 1)
        victim = default_eccrypto.generate_key("curve25519")
        other = default_eccrypto.generate_key("curve25519")
        genuine = encode_signed_value(b"the real thing", victim, 1_000)
        data_changed = genuine.replace(b"the real thing", b"the fake thing")
        key_swapped = genuine.replace(victim.pub().key_to_bin(), other.pub().key_to_bin())
        damaged = genuine[:-1] + bytes((genuine[-1] ^ 1,))
        assert len({genuine, data_changed, key_swapped, damaged}) == 4
        for number, forged in enumerate((data_changed, key_swapped, damaged)):
            target.receive(address, store_packet(target, key, key_bin, token, [forged], identifier=number))
        h.pump()
        assert target.decode_failures() == {}
        assert target.overlay.drop_counts["dht-value-bad-signature"] == 3
        assert len(target.overlay.storage) == 0
        assert stores_answered(target, address) == 0

        target.receive(address, store_packet(target, key, key_bin, token, [genuine], identifier=9))
        h.pump()
        assert target.overlay.storage.get(KEY) == [genuine]
        assert_dht_still_works(h, target, helpers)


def test_stale_and_replayed_versions_are_refused() -> None:
    """With version 2,000 of a signed value stored, version 1,000 is refused (``dht-value-stale-version``), also after
    the newer one expired and was cleaned away. A captured store-request of an honest node replayed from another
    address fails its token (``dht-bad-token``); once the Network verified the honest node, a replay only refreshes the
    value it carries (one value per signer, so the store does not grow), and the answers go to the honest node."""
    with harness() as h:
        target, honest, *helpers = dht_network(h, 4)
        key, key_bin, address, token = attacker_with_token(h, target, 2)
        signer = default_eccrypto.generate_key("curve25519")
        old, new = encode_signed_value(b"old", signer, 1_000), encode_signed_value(b"new", signer, 2_000)
        target.receive(address, store_packet(target, key, key_bin, token, [new], identifier=1))
        target.receive(address, store_packet(target, key, key_bin, token, [old], identifier=2))
        h.pump()
        assert target.overlay.drop_counts["dht-value-stale-version"] == 1
        assert target.overlay.storage.get(KEY) == [new]

        h.advance(MAX_ENTRY_AGE + 1)
        target.overlay.storage.clean()
        assert target.overlay.storage.get(KEY) == []
        token = obtain_token(h, target, key, key_bin, address)  # the old one rotated out meanwhile
        target.receive(address, store_packet(target, key, key_bin, token, [old], identifier=3))
        h.pump()
        assert target.overlay.drop_counts["dht-value-stale-version"] == 2, "an expired newer version still counts"
        assert target.overlay.storage.get(KEY) == []

        # An honest node stores its own signed value; the attacker captured the packet.
        settled(h, honest.overlay.store_value(KEY, b"honest", sign=True))
        (captured,) = honest.log.sent_to(target.address, [StoreRequestPayload.msg_id])
        assert decode_dht(captured, StoreRequestPayload).target == KEY
        assert len(target.overlay.storage) == 1
        replayers = [attacker_address(900_100 + number) for number in range(20)]
        target.log.forbidden.update(replayers)
        # A peer the Network verified is answered at its known address whatever the source (the next block);
        # a node known only through the DHT is taken at the packet's source address, so its token must fit that.
        if target.knows(honest.key_bin) is not None:
            target.network.remove_peer(target.knows(honest.key_bin))
        for replayer in replayers:
            target.receive(replayer, captured)
        h.pump()
        assert target.overlay.drop_counts["dht-bad-token"] == 20
        target.network.add_verified_peer(Peer(honest.key_bin, honest.address))
        answered = stores_answered(target, honest.address)
        for replayer in replayers[:5]:  # the honest node's IP has a rate limit, so only a few
            target.receive(replayer, captured)
        h.pump()
        assert stores_answered(target, honest.address) == answered + 5, "answered where the honest node is"
        assert target.log.forbidden_hits == [], "a replayer got an answer"
        assert len(target.overlay.storage) == 1
        assert target.decode_failures() == {}
        assert_dht_still_works(h, target, helpers)


def test_a_token_only_works_from_the_address_it_was_issued_to() -> None:
    """A token issued to the attacker at one address, presented from another (same key), is refused
    (``dht-bad-token``), as is an honest node's token presented by the attacker and a token two secret rotations old;
    from the address it was issued to, the token works."""
    with harness() as h:
        target, honest, *helpers = dht_network(h, 4)
        key, key_bin, address, token = attacker_with_token(h, target, 3)
        elsewhere = attacker_address(900_200)
        value = [encode_value(b"sneaky")]
        target.receive(elsewhere, store_packet(target, key, key_bin, token, value, identifier=1))
        honest_token = token_of(target, honest.key_bin, honest.address)
        target.receive(address, store_packet(target, key, key_bin, honest_token, value, identifier=2))
        h.pump()
        assert target.overlay.drop_counts["dht-bad-token"] == 2
        assert len(target.overlay.storage) == 0
        assert stores_answered(target, elsewhere) == stores_answered(target, address) == 0

        target.receive(address, store_packet(target, key, key_bin, token, value, identifier=3))
        h.pump()
        assert target.overlay.storage.get(KEY) == value, "control: the token works where it was issued"

        for _ in range(2):
            h.advance(TOKEN_EXPIRATION_TIME)  # one rotation each (a LoopingCall runs once per advance)
        target.receive(address, store_packet(target, key, key_bin, token, [encode_value(b"late")], identifier=4))
        h.pump()
        assert target.overlay.drop_counts["dht-bad-token"] == 3
        assert encode_value(b"late") not in target.overlay.storage.get(KEY)
        assert target.decode_failures() == {}
        assert_dht_still_works(h, target, helpers)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the signature checks of stored values (the packet's own signature is checked elsewhere)."""
    calls = [0]
    check = default_eccrypto.is_valid_signature

    def counting(*args: Any, **kwargs: Any) -> bool:  # noqa: ANN401
        calls[0] += 1
        return check(*args, **kwargs)
    monkeypatch.setattr(default_eccrypto, "is_valid_signature", counting)
    return calls


def test_a_store_request_costs_at_most_one_verification_per_value(verifications: list[int]) -> None:
    """A store-request with eight values signed by eight keys costs exactly eight signature checks, and all eight are
    stored. One with nine signed values, one with a bad token and one over the rate limit cost none."""
    with harness() as h:
        target, *helpers = dht_network(h, 3)
        key, key_bin, address, token = attacker_with_token(h, target, 4)
        signed = [encode_signed_value(b"value %d" % number, signer, 5)
                  for number, (signer, _) in enumerate(keys(MAX_VALUES_IN_STORE + 1))]
        verifications[0] = 0
        target.receive(address, store_packet(target, key, key_bin, token, signed[:MAX_VALUES_IN_STORE]))
        assert verifications[0] == MAX_VALUES_IN_STORE
        assert len(target.overlay.storage.get(KEY)) == MAX_VALUES_IN_STORE

        verifications[0] = 0
        target.receive(address, store_packet(target, key, key_bin, token, signed, identifier=2))
        target.receive(address, store_packet(target, key, key_bin, b"\x00" * 20, signed[:1], identifier=3))
        assert target.overlay.drop_counts["dht-too-many-values"] == 1
        assert target.overlay.drop_counts["dht-bad-token"] == 1
        for number in range(100):
            target.receive(address, store_packet(target, key, key_bin, token, signed[:MAX_VALUES_IN_STORE],
                                                 identifier=10 + number))
        assert target.overlay.drop_counts["dht-rate-limited"] > 0
        limited = target.overlay.drop_counts["dht-rate-limited"] + target.overlay.drop_counts["dht-blocked-node"]
        assert verifications[0] == (100 - limited) * MAX_VALUES_IN_STORE
        assert 100 - limited <= 2 * target.overlay.store_rate_limit
        h.pump()
        assert target.decode_failures() == {}
        assert_dht_still_works(h, target, helpers)
