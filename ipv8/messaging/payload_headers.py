"""Payloads that open IPv8's framework messages: the sender's public key and a Lamport timestamp."""
from __future__ import annotations

from .lazy_payload import VariablePayload, vp_compile


@vp_compile
class BinMemberAuthenticationPayload(VariablePayload):
    """The sender's public key in binary form (``varlenH``); signed messages start with it.

    :param public_key_bin: the serialized public key (``key.key_to_bin()``)
    """

    format_list = ["varlenH"]
    names = ["public_key_bin"]

    public_key_bin: bytes


@vp_compile
class GlobalTimeDistributionPayload(VariablePayload):
    """The sender's Lamport clock value (``Q``, an unsigned 64-bit integer).

    :param global_time: the clock value
    """

    format_list = ["Q"]
    names = ["global_time"]

    global_time: int


__all__ = ["BinMemberAuthenticationPayload", "GlobalTimeDistributionPayload"]
