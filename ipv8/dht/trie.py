"""A small prefix tree (trie) over strings of a fixed alphabet.

The routing table keys its buckets by their id prefix written as a string of ``"0"`` and ``"1"``, so the
bucket that covers a node id is the stored value with the *longest prefix* of that id's bit string, and a
bucket split replaces one key by two longer ones. The tree is generic, though: any alphabet, any value type.

Keys whose value is ``None`` count as absent, so ``None`` cannot be stored.
"""
from __future__ import annotations

from typing import Generic, Iterator, TypeVar, overload

from . import DHTError

V = TypeVar("V")
D = TypeVar("D")


class TrieNode(Generic[V]):
    """One position in the tree: an optional value and the children, one per next character."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        """Create an empty position."""
        self.value: V | None = None
        self.children: dict[str, TrieNode[V]] = {}


class _Missing:
    """Marker for "no default given"; ``None`` is a legitimate default."""


_MISSING = _Missing()
_NOT_FOUND = _Missing()


class Trie(Generic[V]):
    """A mapping from strings over ``alphabet`` to values, with prefix queries.

    :param alphabet: the characters keys may contain, for example ``"01"``.
    """

    def __init__(self, alphabet: str) -> None:
        """Create an empty tree for keys over ``alphabet``."""
        self.alphabet = alphabet
        self.root: TrieNode[V] = TrieNode()
        self._size = 0

    def _find(self, key: str) -> TrieNode[V] | None:
        node: TrieNode[V] | None = self.root
        for char in key:
            node = node.children.get(char)  # type: ignore[union-attr]
            if node is None:
                return None
        return node

    def __len__(self) -> int:
        """The number of stored values."""
        return self._size

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a value."""
        if not isinstance(key, str):
            return False
        node = self._find(key)
        return node is not None and node.value is not None

    def __getitem__(self, key: str) -> V:
        """The value stored under exactly ``key``.

        :raises KeyError: there is none.
        """
        node = self._find(key)
        if node is None or node.value is None:
            raise KeyError(key)
        return node.value

    def get(self, key: str, default: D | None = None) -> V | D | None:
        """The value stored under exactly ``key``, or ``default``."""
        node = self._find(key)
        return default if node is None or node.value is None else node.value

    def __setitem__(self, key: str, value: V) -> None:
        """Store ``value`` under ``key``, replacing what was there.

        :raises DHTError: ``key`` has a character outside the alphabet.
        :raises ValueError: ``value`` is ``None``.
        """
        if value is None:
            raise ValueError("None cannot be stored in a Trie (it marks an empty position)")
        for char in key:
            if char not in self.alphabet:
                raise DHTError(f"the key {key!r} has a character outside the alphabet {self.alphabet!r}")
        node = self.root
        for char in key:
            child = node.children.get(char)
            if child is None:
                child = node.children[char] = TrieNode()
            node = child
        if node.value is None:
            self._size += 1
        node.value = value

    def __delitem__(self, key: str) -> None:
        """Remove the value under ``key`` and prune positions that no longer lead anywhere.

        :raises KeyError: there is no value under ``key``.
        """
        path: list[tuple[TrieNode[V], str]] = []
        node = self.root
        for char in key:
            child = node.children.get(char)
            if child is None:
                raise KeyError(key)
            path.append((node, char))
            node = child
        if node.value is None:
            raise KeyError(key)
        node.value = None
        self._size -= 1
        # Walk back up, dropping empty leaves, so that lookups never wander into dead branches.
        while path and node.value is None and not node.children:
            parent, char = path.pop()
            del parent.children[char]
            node = parent

    def itervalues(self) -> Iterator[V]:
        """Every stored value, parents before children, children in insertion order."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.value is not None:
                yield node.value
            stack.extend(reversed(list(node.children.values())))

    def values(self) -> list[V]:
        """Every stored value, as :meth:`itervalues` orders them."""
        return list(self.itervalues())

    def items(self) -> list[tuple[str, V]]:
        """Every ``(key, value)`` pair, in the order of :meth:`itervalues`."""
        found: list[tuple[str, V]] = []
        stack: list[tuple[str, TrieNode[V]]] = [("", self.root)]
        while stack:
            key, node = stack.pop()
            if node.value is not None:
                found.append((key, node.value))
            stack.extend(reversed([(key + char, child) for char, child in node.children.items()]))
        return found

    @overload
    def longest_prefix_item(self, key: str) -> tuple[str, V]: ...

    @overload
    def longest_prefix_item(self, key: str, default: D) -> tuple[str, V] | D: ...

    def longest_prefix_item(self, key: str, default: object = _MISSING) -> object:
        """The longest stored key that is a prefix of ``key`` (the empty key included), with its value.

        :raises KeyError: no stored key is a prefix of ``key`` and no ``default`` was given.
        """
        best: tuple[str, V] | None = None
        node: TrieNode[V] | None = self.root
        depth = 0
        while node is not None:
            if node.value is not None:
                best = (key[:depth], node.value)
            if depth == len(key):
                break
            node = node.children.get(key[depth])
            depth += 1
        if best is not None:
            return best
        if default is _MISSING:
            raise KeyError(key)
        return default

    def longest_prefix(self, key: str, default: object = _MISSING) -> str:
        """The longest stored key that is a prefix of ``key``; see :meth:`longest_prefix_item`."""
        found = self.longest_prefix_item(key, _NOT_FOUND)
        if found is _NOT_FOUND:
            if default is _MISSING:
                raise KeyError(key)
            return default  # type: ignore[return-value]
        return found[0]  # type: ignore[index]

    def longest_prefix_value(self, key: str, default: object = _MISSING) -> V:
        """The value of the longest stored key that is a prefix of ``key``; see :meth:`longest_prefix_item`."""
        found = self.longest_prefix_item(key, _NOT_FOUND)
        if found is _NOT_FOUND:
            if default is _MISSING:
                raise KeyError(key)
            return default  # type: ignore[return-value]
        return found[1]  # type: ignore[index]

    def suffixes(self, key: str) -> list[str]:
        """The strings ``s`` for which ``key + s`` has a value (``""`` first if ``key`` itself has one)."""
        start = self._find(key)
        if start is None:
            return []
        found: list[str] = []
        stack: list[tuple[str, TrieNode[V]]] = [("", start)]
        while stack:
            suffix, node = stack.pop()
            if node.value is not None:
                found.append(suffix)
            stack.extend(reversed([(suffix + char, child) for char, child in node.children.items()]))
        return found

    def values_by_proximity(self, key: str) -> Iterator[V]:
        """Every stored value, those under keys that share a longer prefix with ``key`` first.

        At each position the child that continues ``key`` is explored before its siblings. For the binary
        alphabet, and keys that are disjoint prefixes (such as the buckets of a routing table), this is
        the order of increasing XOR distance between ``key`` and the ids each value covers: everything
        below the matching child is closer than anything below the other one.
        """
        stack: list[tuple[int, TrieNode[V]]] = [(0, self.root)]
        while stack:
            depth, node = stack.pop()
            if node.value is not None:
                yield node.value
            wanted = key[depth] if depth < len(key) else None
            # Push the others first: the stack pops the matching child (and all of its subtree) before them.
            for char, child in node.children.items():
                if char != wanted:
                    stack.append((depth + 1, child))
            if wanted is not None and wanted in node.children:
                stack.append((depth + 1, node.children[wanted]))


__all__ = ["Trie", "TrieNode"]
