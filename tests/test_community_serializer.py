"""A Community with its own serializer formats: sandboxed per instance and usable end to end."""
from __future__ import annotations

import json
import struct
from typing import Any

from ipv8.community import Community, CommunitySettings
from ipv8.lazy_community import lazy_wrapper
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.messaging.serialization import Packer, Serializer, default_serializer
from ipv8.peer import Peer
from ipv8.test.base import TestBase


class PackerJSON(Packer):
    """uint16 length + JSON text."""

    def pack(self, data: Any) -> bytes:
        packed = json.dumps(data).encode()
        return struct.pack(">H", len(packed)) + packed

    def unpack(self, data: bytes, offset: int, unpack_list: list, *args: Any) -> int:
        (size,) = struct.unpack_from(">H", data, offset)
        end = offset + 2 + size
        unpack_list.append(json.loads(data[offset + 2:end]))
        return end


@vp_compile
class JSONMessage(VariablePayload):
    msg_id = 1
    format_list = ["json", "json"]
    names = ["first", "second"]


class JSONCommunity(Community):
    community_id = b"\x4a" * 20

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.received: list[tuple[Any, Any]] = []
        self.add_message_handler(JSONMessage, self.on_message)

    def get_serializer(self) -> Serializer:
        serializer = super().get_serializer()
        serializer.add_packer("json", PackerJSON())
        return serializer

    @lazy_wrapper(JSONMessage)
    def on_message(self, peer: Peer, payload: JSONMessage) -> None:
        self.received.append((payload.first, payload.second))


class TestCustomSerializer(TestBase[JSONCommunity]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(JSONCommunity, 2)

    async def test_custom_format_end_to_end(self) -> None:
        self.overlay(0).ez_send(self.peer(1), JSONMessage({"a": [1, 2]}, "text"))
        await self.deliver_messages()
        self.assertEqual([({"a": [1, 2]}, "text")], self.overlay(1).received)

    def test_sandboxed(self) -> None:
        self.assertIsNot(self.overlay(0).serializer, self.overlay(1).serializer)
        self.assertIn("json", self.overlay(0).serializer.get_available_formats())
        self.assertNotIn("json", default_serializer.get_available_formats())
