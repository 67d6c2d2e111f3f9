"""Token trees, pseudonyms and the identity database with hostile and awkward input."""
from __future__ import annotations

import hashlib
import sqlite3
import struct

import pytest

from ipv8.attestation.identity.attestation import Attestation
from ipv8.attestation.identity.database import IdentityDatabase, IdentityDatabaseError
from ipv8.attestation.identity.manager import IdentityManager
from ipv8.attestation.identity.metadata import MAX_METADATA_JSON, Metadata
from ipv8.attestation.signed_object import SignedObjectError
from ipv8.attestation.tokentree.token import Token
from ipv8.attestation.tokentree.tree import TokenTree
from ipv8.keyvault.crypto import default_eccrypto

ALICE = default_eccrypto.generate_key("curve25519")
MALLORY = default_eccrypto.generate_key("curve25519")


def chain(length: int, key=ALICE) -> list[Token]:
    tree = TokenTree(private_key=key)
    tokens: list[Token] = []
    for i in range(length):
        tokens.append(tree.add(b"content %d" % i, tokens[-1] if tokens else None))
    return tokens


def test_signed_object_needs_exactly_one_of_key_or_signature() -> None:
    with pytest.raises(ValueError):
        Token(bytes(32), content=b"x")
    with pytest.raises(ValueError):
        Token(bytes(32), content=b"x", private_key=ALICE, signature=bytes(64))
    with pytest.raises(ValueError):
        Token(bytes(32), content=b"x", content_hash=bytes(32), private_key=ALICE)
    with pytest.raises(ValueError):
        Token(bytes(31), content=b"x", private_key=ALICE)


def test_only_the_owner_adds_tokens() -> None:
    with pytest.raises(RuntimeError):
        TokenTree(public_key=ALICE.pub()).add(b"x")
    with pytest.raises(ValueError):
        TokenTree()


def test_forged_tokens_are_never_stored() -> None:
    tokens = chain(3)
    tree = TokenTree(public_key=ALICE.pub())
    forged = Token(tokens[0].previous_token_hash, content=b"forged", private_key=MALLORY)
    assert tree.gather_token(forged) is None
    assert not tree.elements and not tree.unchained
    # A valid token with a wrong signature appended by someone else.
    damaged = Token(tokens[0].previous_token_hash, content_hash=tokens[0].content_hash,
                    signature=bytes(64))
    assert tree.gather_token(damaged) is None
    assert tree.gather_token(tokens[0]) is tokens[0]


def test_out_of_order_tokens_chain_up_without_recursion() -> None:
    tokens = chain(1200)
    tree = TokenTree(public_key=ALICE.pub())
    tree.unchained_max_size = 1500
    tree.max_elements = 1500
    for token in reversed(tokens):
        tree.gather_token(token)
    assert len(tree.elements) == 1200 and not tree.unchained
    assert tree.verify(tokens[-1], -1)
    assert not tree.verify(tokens[-1])  # beyond the default depth


def test_unchained_tokens_are_bounded() -> None:
    tokens = chain(300)
    tree = TokenTree(public_key=ALICE.pub())
    for token in tokens[1:]:
        assert tree.gather_token(token) is None
    assert len(tree.unchained) == tree.unchained_max_size
    assert tree.get_missing() == {t.previous_token_hash for t in tokens[-100:]}


def test_received_trees_are_capped() -> None:
    tokens = chain(20)
    tree = TokenTree(public_key=ALICE.pub())
    tree.max_elements = 10
    data = b"".join(t.get_plaintext_signed() for t in tokens)
    assert not tree.unserialize_public(data)
    assert len(tree.elements) == 10


@pytest.mark.parametrize("data", [b"\x00", bytes(127), bytes(128 * 5000)])
def test_malformed_serializations_are_refused_whole(data: bytes) -> None:
    tree = TokenTree(public_key=ALICE.pub())
    assert not tree.unserialize_public(data)
    assert not tree.elements


def test_short_signed_objects_raise_a_clear_error() -> None:
    with pytest.raises(SignedObjectError):
        Token.unserialize(bytes(100), ALICE.pub())
    with pytest.raises(SignedObjectError):
        Attestation.unserialize(bytes(95), ALICE.pub())
    with pytest.raises(SignedObjectError):
        Metadata.unserialize(bytes(95), ALICE.pub())
    with pytest.raises(SignedObjectError):
        Metadata.unserialize(bytes(96 + MAX_METADATA_JSON + 1), ALICE.pub())


def disclose(manager: IdentityManager, *parts: bytes) -> bool:
    correct, _ = manager.substantiate(ALICE.pub(), *parts)
    return correct


@pytest.mark.parametrize("parts", [
    (b"\x00\x00\x00", b"", b"", b""),
    (b"\xff\xff\xff\xff" + bytes(10), b"", b"", b""),
    (struct.pack(">I", 10) + bytes(10), b"", b"", b""),
    (b"", b"", bytes(96), b"\x00"),
    (b"", b"", bytes(96), b"\x00\x05abc"),
    (b"", b"", bytes(10), struct.pack(">H", 74) + MALLORY.pub().key_to_bin()),
    (b"", b"", bytes(96), struct.pack(">H", 74) + MALLORY.pub().key_to_bin()),
])
def test_malformed_disclosures_are_refused_without_exceptions(parts: tuple) -> None:
    manager = IdentityManager(":memory:")
    assert not disclose(manager, *parts)
    assert not manager.database.get_attestations_for(ALICE.pub())
    assert not manager.database.get_metadata_for(ALICE.pub())


def test_foreign_metadata_is_capped() -> None:
    owner = IdentityManager(":memory:").get_pseudonym(ALICE)
    receiver = IdentityManager(":memory:")
    theirs = receiver.get_pseudonym(ALICE.pub())
    theirs.max_foreign_metadata = 3
    for i in range(5):
        credential = owner.create_credential(hashlib.sha3_256(b"%d" % i).digest(), {"name": str(i)})
        receiver.substantiate(ALICE.pub(), *owner.disclose_credentials([credential], set()))
    assert len(theirs.get_credentials()) == 3


def test_database_persists_and_refuses_garbage(tmp_path) -> None:
    path = str(tmp_path / "sqlite" / "identity.db")
    manager = IdentityManager(path)
    credential = manager.get_pseudonym(ALICE).create_credential(bytes(32), {"name": "x"})
    attestation = Attestation.create(credential.metadata, MALLORY)
    assert manager.get_pseudonym(ALICE).add_attestation(MALLORY.pub(), attestation)
    manager.close()
    again = IdentityManager(path).get_pseudonym(ALICE)
    [stored] = again.get_credentials()
    assert stored.metadata == credential.metadata and stored.attestations == {attestation}
    assert again.tree.verify(again.tree.elements[stored.metadata.token_pointer])
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT value FROM option WHERE key='database_version'").fetchone()[0] == "1"
    connection.close()

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(IdentityDatabaseError):
        IdentityDatabase(str(garbage)).open()


def test_longest_chain_ignores_forks_and_disconnected_tokens() -> None:
    tree = TokenTree(private_key=ALICE)
    assert tree.longest_chain() == []
    tokens = [tree.add(b"0")]
    for i in range(1, 6):
        tokens.append(tree.add(b"%d" % i, tokens[-1]))
    tree.add(b"fork", tokens[1])
    orphan_parent = Token(hashlib.sha3_256(b"unknown").digest(), content=b"p", private_key=ALICE)
    orphans = [Token(orphan_parent.get_hash(), content=b"o0", private_key=ALICE)]
    for i in range(1, 10):  # longer than the real chain, but not connected to the root
        orphans.append(Token(orphans[-1].get_hash(), content=b"o%d" % i, private_key=ALICE))
    for orphan in orphans:
        tree.elements[orphan.get_hash()] = orphan
    assert tree.longest_chain() == tokens
