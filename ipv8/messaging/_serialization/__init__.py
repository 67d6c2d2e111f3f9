"""The pieces behind :mod:`ipv8.messaging.serialization`; import from that module, not from here.

* :mod:`.errors`: :exc:`PackError` and the helpers that word and locate failures.
* :mod:`.codegen`: the builders that write the specialised per-class packing and unpacking code.
* :mod:`.packer_base`: the :class:`Packer` interface and the plumbing the standard packers share.
* :mod:`.packers`: the standard wire formats (struct fields, length-prefixed data, addresses, lists, ...).
* :mod:`.serializable`: :class:`Serializable`, :class:`Payload` and how ``format_list`` entries are read.
* :mod:`.serializer`: the :class:`Serializer` (format table, compiled code cache, slow diagnosis paths).
"""
