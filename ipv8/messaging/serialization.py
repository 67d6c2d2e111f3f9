"""Turning payload objects into IPv8 wire bytes and back.

The moving parts:

* :class:`Packer` objects know one wire *format* (``"H"``, ``"varlenH"``, ``"ipv4"``, ...). A
  :class:`Serializer` maps format names to packers; :data:`default_serializer` holds the standard set.
* :class:`Serializable` classes list the formats of their fields in ``format_list`` and convert themselves
  to and from values with ``to_pack_list()`` / ``from_unpack_list()``. :class:`Payload` adds pretty printing.
* :exc:`PackError` is the only error that packing or unpacking raises for bad data, whatever the cause.

Speed: a :class:`Serializer` compiles and caches specialised packing and unpacking functions per class,
and falls back to a slow field-by-field pass only to explain a failure.

This module is the public import path. The code lives in the private package
:mod:`ipv8.messaging._serialization`: ``errors`` (:exc:`PackError`), ``codegen`` (builders of the compiled
per-class code), ``packer_base`` and ``packers`` (the :class:`Packer` interface and the standard formats),
``serializable`` (:class:`Serializable`, :class:`Payload`) and ``serializer`` (:class:`Serializer`).
"""
from __future__ import annotations

import sys

# _rebuild_pack_error: PackError pickles made before the code moved into _serialization name it here.
from ._serialization.errors import PackError, _rebuild_pack_error  # noqa: F401
from ._serialization.packer_base import Packer
from ._serialization.packers import (ADDRESS_TYPE_DOMAIN_NAME, ADDRESS_TYPE_IPV4, ADDRESS_TYPE_IPV6, Address, Bits,
                                     DefaultArray, DefaultStruct, IPv4, ListOf, NestedPayload, Raw, VarLen, VarLenUtf8)
# _format_name and _format_args: lazy_payload and the tests import them from here.
from ._serialization.serializable import FormatListType, Payload, Serializable, _format_args, _format_name  # noqa: F401
from ._serialization.serializer import Serializer, default_serializer

__all__ = ["ADDRESS_TYPE_DOMAIN_NAME", "ADDRESS_TYPE_IPV4", "ADDRESS_TYPE_IPV6", "Address", "Bits", "DefaultArray",
           "DefaultStruct", "FormatListType", "IPv4", "ListOf", "NestedPayload", "PackError", "Packer", "Payload",
           "Raw", "Serializable", "Serializer", "VarLen", "VarLenUtf8", "default_serializer"]

if sys.version_info < (3, 10):  # pragma: no cover - documented minimum is 3.10
    msg = "txipv8 needs Python 3.10 or newer"
    raise RuntimeError(msg)
