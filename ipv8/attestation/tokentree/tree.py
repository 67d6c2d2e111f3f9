"""A token tree: the chain(s) of tokens one key has signed, rooted in the hash of that key.

::

    SHA3-256(public key) <- token <- token <- ...
                                  ^- token <- ...   (a token may have several successors: a tree)

Our own tree is built with :meth:`TokenTree.add` / :meth:`TokenTree.add_by_hash`. Someone else's tree is
filled from what they send (:meth:`TokenTree.gather_token`, :meth:`TokenTree.unserialize_public`), and that
input is hostile:

* every token's signature is checked against the tree's key before it is kept anywhere;
* a token whose predecessor we do not have waits in a bounded set (:attr:`TokenTree.unchained_max_size`,
  oldest dropped first) until the predecessor arrives, then joins the tree (without recursion);
* a received tree holds at most :attr:`TokenTree.max_elements` tokens; later ones are refused;
* walking back to the root is iterative and bounded.

The public serialization (:meth:`TokenTree.serialize_public`) is the concatenation of serialized tokens, as in
pyipv8 3.2.1.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from hashlib import sha3_256
from typing import TYPE_CHECKING

from ..signed_object import SignedObjectError
from .token import Token

if TYPE_CHECKING:
    from ...keyvault.keys import PrivateKey, PublicKey

__all__ = ["TokenTree"]

logger = logging.getLogger(__name__)


class TokenTree:
    """The tokens of one key: give ``private_key`` for our own tree, ``public_key`` for someone else's."""

    #: Tokens waiting for their predecessor, at most (pyipv8 3.2.1 keeps 100 as well).
    unchained_max_size: int = 100
    #: Tokens a tree accepts from others (our own additions are not limited).
    max_elements: int = 4096
    #: Steps :meth:`verify` and :meth:`get_root_path` take back towards the root by default.
    default_max_depth: int = 1000

    def __init__(self, public_key: PublicKey | None = None, private_key: PrivateKey | None = None) -> None:
        if (public_key is None) == (private_key is None):
            raise ValueError("give either the owner's public key or our own private key, not both or none")
        self.private_key = private_key
        owner = private_key if private_key is not None else public_key
        self.public_key: PublicKey = owner.pub()  # type: ignore[union-attr]
        self.genesis_hash = sha3_256(self.public_key.key_to_bin()).digest()
        #: Tokens of the tree, by their hash, in the order they joined.
        self.elements: dict[bytes, Token] = {}
        #: Validly signed tokens whose predecessor is still missing (insertion ordered, bounded).
        self.unchained: OrderedDict[Token, None] = OrderedDict()

    # Our own tree ----------------------------------------------------------------------------------------

    def add(self, content: bytes, after: Token | None = None) -> Token:
        """Sign a token for ``content`` after ``after`` (the root when None) and add it."""
        return self._append(Token(self._previous(after), content=content, private_key=self._signing_key()))

    def add_by_hash(self, content_hash: bytes, after: Token | None = None) -> Token:
        """Sign a token for content known only by its hash, after ``after`` (the root when None), and add it."""
        return self._append(Token(self._previous(after), content_hash=content_hash,
                                  private_key=self._signing_key()))

    def _previous(self, after: Token | None) -> bytes:
        return self.genesis_hash if after is None else after.get_hash()

    def _signing_key(self) -> PrivateKey:
        if self.private_key is None:
            raise RuntimeError("only the owner of a token tree can add tokens to it")
        return self.private_key

    # Someone else's tree ---------------------------------------------------------------------------------

    def gather_token(self, token: Token) -> Token | None:
        """Take a received token: the token in the tree (existing or new), or None if it is not (yet) in it.

        A token with a bad signature or beyond :attr:`max_elements` is refused; one whose predecessor is
        unknown is parked in :attr:`unchained` and returns None.
        """
        if not token.verify(self.public_key):
            return None
        known = self.elements.get(token.get_hash())
        if known is not None:
            if known.content is None and token.content is not None:
                known.receive_content(token.content)
            return known
        if token.previous_token_hash != self.genesis_hash and token.previous_token_hash not in self.elements:
            self.unchained[token] = None
            self.unchained.move_to_end(token)
            while len(self.unchained) > self.unchained_max_size:
                self.unchained.popitem(last=False)
            logger.debug("Parked token %s until its predecessor arrives", token)
            return None
        if len(self.elements) >= self.max_elements:
            logger.warning("Refused token %s: the tree of %s is full", token, self.public_key.key_to_hash().hex())
            return None
        self._append(token)
        self._release_successors(token)
        return token

    def _release_successors(self, token: Token) -> None:
        """Move parked tokens whose predecessor is now in the tree into it (breadth first, no recursion)."""
        joined = [token.get_hash()]
        while joined and self.unchained:
            parent = joined.pop()
            waiting = [candidate for candidate in self.unchained if candidate.previous_token_hash == parent]
            for candidate in waiting:
                del self.unchained[candidate]
                if candidate.get_hash() in self.elements:
                    continue
                if len(self.elements) >= self.max_elements:
                    return
                self._append(candidate)  # its signature was checked when it was parked
                joined.append(candidate.get_hash())

    def get_missing(self) -> set[bytes]:
        """Hashes of the predecessors the parked tokens are waiting for."""
        return {token.previous_token_hash for token in self.unchained}

    def unserialize_public(self, data: bytes) -> bool:
        """Gather every token of a serialized tree; whether all of them are in the tree afterwards.

        The tokens may come in any order: one that arrives before its predecessor counts as soon as the
        predecessor joins. Data that is not a whole number of tokens, or holds more tokens than a tree may
        take, is refused as a whole (returns False, nothing gathered).
        """
        size = Token.serialized_length(self.public_key)
        count, rest = divmod(len(data), size)
        if rest or count > self.max_elements + self.unchained_max_size:
            return False
        try:
            tokens = [Token.unserialize(data, self.public_key, index * size) for index in range(count)]
        except (SignedObjectError, ValueError):
            return False
        for token in tokens:
            self.gather_token(token)
        return all(token.get_hash() in self.elements for token in tokens)

    # Both ------------------------------------------------------------------------------------------------

    def get_root_path(self, token: Token, maxdepth: int | None = None) -> list[Token]:
        """``token`` and its predecessors back to the root, or ``[]`` if the path is broken, badly signed
        or longer than ``maxdepth`` steps (``-1``: no limit other than the tree's size)."""
        limit = self.default_max_depth if maxdepth is None else maxdepth
        if limit == -1:
            limit = len(self.elements) + 1
        path = [token]
        current = token
        for _ in range(limit):
            if not current.verify(self.public_key):
                return []
            if current.previous_token_hash == self.genesis_hash:
                return path
            predecessor = self.elements.get(current.previous_token_hash)
            if predecessor is None:
                return []
            current = predecessor
            path.append(current)
        return []

    def longest_chain(self) -> list[Token]:
        """The longest path from the root to a token of the tree, root first, with every signature checked
        (``[]`` for an empty tree). Linear in the size of the tree."""
        depth: dict[bytes, int] = {self.genesis_hash: 0}
        for start in self.elements:
            trail = []
            current: bytes | None = start
            while current is not None and current not in depth:
                trail.append(current)
                token = self.elements.get(current)
                current = None if token is None else token.previous_token_hash
            base = depth.get(current, -len(self.elements) - 1) if current is not None else -len(self.elements) - 1
            for offset, token_hash in enumerate(reversed(trail), 1):
                depth[token_hash] = base + offset  # negative: not connected to the root
        best = max((token_hash for token_hash in self.elements if depth[token_hash] > 0), key=depth.__getitem__,
                   default=None)
        if best is None:
            return []
        path = self.get_root_path(self.elements[best], -1)
        path.reverse()
        return path

    def verify(self, token: Token, maxdepth: int | None = None) -> bool:
        """Whether ``token`` and all its predecessors are present and correctly signed (within ``maxdepth``)."""
        return bool(self.get_root_path(token, maxdepth))

    def serialize_public(self, up_to: Token | None = None) -> bytes:
        """Every token of the tree, or (with ``up_to``) that token and the known predecessors back to the root."""
        if up_to is None:
            return b"".join(token.get_plaintext_signed() for token in self.elements.values())
        out = [up_to.get_plaintext_signed()]
        previous = up_to.previous_token_hash
        for _ in range(len(self.elements)):  # a chain cannot be longer than the tree
            token = self.elements.get(previous)
            if token is None:
                break
            out.append(token.get_plaintext_signed())
            previous = token.previous_token_hash
        return b"".join(out)

    def _append(self, token: Token) -> Token:
        self.elements[token.get_hash()] = token
        return token
