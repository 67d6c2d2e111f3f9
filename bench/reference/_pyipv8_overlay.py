"""pyipv8 3.2.1 twin of ``bench/_overlay.py``: the same two messages and counting handlers.

Runs ONLY in the pyipv8 interpreter (``.venv-ref``). The dataclass payloads use the pyipv8 3.x
spelling (``@dataclasses.dataclass`` on ``DataClassPayload[msg_id]``).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from ipv8.community import Community, CommunitySettings
from ipv8.keyvault.crypto import default_eccrypto
from ipv8.lazy_community import lazy_wrapper, lazy_wrapper_unsigned
from ipv8.messaging.interfaces.udp.endpoint import UDPEndpoint, UDPv4Address
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.messaging.payload_dataclass import DataClassPayload
from ipv8.peer import Peer
from ipv8.peerdiscovery.network import Network

LOOPBACK = "127.0.0.1"


@dataclasses.dataclass
class Ping(DataClassPayload[1]):
    """Signed benchmark message: which trial it belongs to and its sequence number."""

    trial: int
    seq: int


@dataclasses.dataclass
class Tick(DataClassPayload[2]):
    """Unsigned benchmark message, same layout as :class:`Ping`."""

    trial: int
    seq: int


@vp_compile
class CompiledTick(VariablePayload):
    """Unsigned message with the same two integers, as a compiled VariablePayload instead of a dataclass."""

    msg_id = 3
    format_list = ["q", "q"]
    names = ["trial", "seq"]


class TrialTally:
    """Per trial: how many messages arrived, and when the first and the last one did."""

    def __init__(self) -> None:
        self._records: dict[int, list[float]] = {}

    def note(self, trial: int) -> None:
        """One message of ``trial`` was handled just now."""
        now = time.perf_counter()
        record = self._records.get(trial)
        if record is None:
            self._records[trial] = [1, now, now]
        else:
            record[0] += 1
            record[2] = now

    def report(self, trial: int) -> tuple[int, float]:
        """``(messages handled, seconds from the first to the last one)`` for ``trial``."""
        count, first, last = self._records.get(trial, (0, 0.0, 0.0))
        return int(count), last - first


class BenchCommunity(Community):
    """A community whose only job is to count the benchmark messages it handles."""

    community_id = b"txipv8-bench-msgs-v1"

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.tally = TrialTally()
        self.unsigned_handled = 0
        self.add_message_handler(Ping, self.on_ping)
        self.add_message_handler(Tick, self.on_tick)
        self.add_message_handler(CompiledTick, self.on_compiled_tick)

    @lazy_wrapper(Ping)
    def on_ping(self, peer: Peer, payload: Ping) -> None:
        """Count a signed message."""
        self.tally.note(payload.trial)

    @lazy_wrapper_unsigned(Tick)
    def on_tick(self, source_address: Any, payload: Tick) -> None:  # noqa: ANN401
        """Count an unsigned message."""
        self.unsigned_handled += 1

    @lazy_wrapper_unsigned(CompiledTick)
    def on_compiled_tick(self, source_address: Any, payload: CompiledTick) -> None:  # noqa: ANN401
        """Count an unsigned VariablePayload message."""
        self.unsigned_handled += 1


def make_community(endpoint: UDPEndpoint) -> BenchCommunity:
    """A BenchCommunity with a fresh curve25519 identity on ``endpoint`` (opened or not)."""
    address = UDPv4Address(*endpoint.get_address()) if endpoint.is_open() else UDPv4Address(LOOPBACK, 0)
    my_peer = Peer(default_eccrypto.generate_key("curve25519"), address)
    return BenchCommunity(CommunitySettings(my_peer=my_peer, endpoint=endpoint, network=Network()))


def trust(community: BenchCommunity, public_key_bin: bytes, port: int) -> None:
    """Make the sender a verified peer of ``community``, as it would be after an introduction."""
    community.network.add_verified_peer(Peer(public_key_bin, UDPv4Address(LOOPBACK, port)))


def target_peer(public_key_bin: bytes, port: int) -> Peer:
    """The Peer object a sender uses to address the receiver on the loopback interface."""
    return Peer(public_key_bin, UDPv4Address(LOOPBACK, port))
