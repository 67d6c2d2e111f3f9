"""
Type aliases shared across the package, under the names py-ipv8 applications import from ``ipv8.types``.

Most modules of :mod:`ipv8` import :data:`Address` from here, so this module must not import them back at
load time. The class aliases (``Peer``, ``Community``, ``Key``, ...) are therefore resolved on first access
(a module-level ``__getattr__``): ``from ipv8.types import Peer`` gives the real :class:`ipv8.peer.Peer` class,
usable in annotations and ``isinstance`` checks alike. Type checkers see ordinary imports.

py-ipv8 also lists aliases for its attestation and database modules; txipv8 has no such modules, so those
names are not provided.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Iterator, Protocol, Tuple, Type, TypeVar, Union

#: Any (host, port) pair; the named address tuples in :mod:`ipv8.messaging.addresses` are also valid.
Address = Tuple[str, int]

#: A payload class written as a dataclass (see :mod:`ipv8.messaging.payload_dataclass`).
DataclassPayload = TypeVar("DataclassPayload")

if TYPE_CHECKING:
    from ipv8.community import Community
    from ipv8.configuration import ConfigBuilder
    from ipv8.keyvault.keys import Key, PrivateKey, PublicKey
    from ipv8.messaging.interfaces.endpoint import Endpoint
    from ipv8.messaging.serialization import Payload
    from ipv8.overlay import Overlay
    from ipv8.peer import Peer
    from ipv8.requestcache import NumberCache
    from ipv8.service import IPv8

    AnyPayload = Union[Payload, DataclassPayload]
    AnyPayloadType = Union[Type[Payload], Type[DataclassPayload]]

#: Alias name -> (module, attribute), imported when the alias is first used.
_LAZY = {
    "Community": ("ipv8.community", "Community"),
    "ConfigBuilder": ("ipv8.configuration", "ConfigBuilder"),
    "Endpoint": ("ipv8.messaging.interfaces.endpoint", "Endpoint"),
    "IPv8": ("ipv8.service", "IPv8"),
    "Key": ("ipv8.keyvault.keys", "Key"),
    "NumberCache": ("ipv8.requestcache", "NumberCache"),
    "Overlay": ("ipv8.overlay", "Overlay"),
    "Payload": ("ipv8.messaging.serialization", "Payload"),
    "Peer": ("ipv8.peer", "Peer"),
    "PrivateKey": ("ipv8.keyvault.keys", "PrivateKey"),
    "PublicKey": ("ipv8.keyvault.keys", "PublicKey"),
}


class DictCastable(Protocol):
    """Objects ``o`` for which ``dict(o)`` works: they iterate over (key, value) pairs."""

    def __iter__(self) -> Iterator[Any]:
        """Yield the (key, value) pairs."""


def __getattr__(name: str) -> Any:  # noqa: ANN401 - the aliases are classes and typing constructs
    """Resolve a lazy alias on first use and remember it in the module namespace."""
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
    elif name == "AnyPayload":
        value = Union[__getattr__("Payload"), DataclassPayload]
    elif name == "AnyPayloadType":
        value = Union[Type[__getattr__("Payload")], Type[DataclassPayload]]
    else:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "AnyPayload", "AnyPayloadType"})


__all__ = ["Address", "AnyPayload", "AnyPayloadType", "Community", "ConfigBuilder", "DataclassPayload", "DictCastable",
           "Endpoint", "IPv8", "Key", "NumberCache", "Overlay", "Payload", "Peer", "PrivateKey", "PublicKey"]
