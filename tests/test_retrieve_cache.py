"""retrieve_cache under every lazy_wrapper flavour."""
from __future__ import annotations

from typing import Any

from ipv8.community import Community, CommunitySettings
from ipv8.lazy_community import (lazy_wrapper, lazy_wrapper_unsigned, lazy_wrapper_unsigned_wd, lazy_wrapper_wd,
                                 retrieve_cache)
from ipv8.messaging.lazy_payload import VariablePayload, vp_compile
from ipv8.requestcache import NumberCacheWithName, RequestCache
from ipv8.test.base import TestBase


@vp_compile
class Answer(VariablePayload):
    msg_id = 1
    format_list = ["I"]
    names = ["identifier"]


class Pending(NumberCacheWithName):
    name = "pending"

    def __init__(self, request_cache: RequestCache, number: int) -> None:
        super().__init__(request_cache, self.name, number)


class CacheCommunity(Community):
    community_id = b"\x77" * 20

    def __init__(self, settings: CommunitySettings) -> None:
        super().__init__(settings)
        self.request_cache = RequestCache()
        self.answers: list[tuple[str, int, Any, bytes | None]] = []
        self.add_message_handler(1, self.on_signed)
        self.add_message_handler(2, self.on_signed_wd)
        self.add_message_handler(3, self.on_unsigned)
        self.add_message_handler(4, self.on_unsigned_wd)

    def unload(self) -> Any:
        return self.request_cache.shutdown().addCallback(lambda _: super(CacheCommunity, self).unload())

    @lazy_wrapper(Answer)
    @retrieve_cache(Pending)
    def on_signed(self, peer: Any, payload: Answer, cache: Pending) -> None:
        self.answers.append(("signed", payload.identifier, cache, None))

    @lazy_wrapper_wd(Answer)
    @retrieve_cache(Pending)
    def on_signed_wd(self, peer: Any, payload: Answer, data: bytes, cache: Pending) -> None:
        self.answers.append(("signed_wd", payload.identifier, cache, data))

    @lazy_wrapper_unsigned(Answer)
    @retrieve_cache(Pending)
    def on_unsigned(self, source: Any, payload: Answer, cache: Pending) -> None:
        self.answers.append(("unsigned", payload.identifier, cache, None))

    @lazy_wrapper_unsigned_wd(Answer)
    @retrieve_cache(Pending)
    def on_unsigned_wd(self, source: Any, payload: Answer, cache: Pending, data: bytes = b"") -> None:
        self.answers.append(("unsigned_wd", payload.identifier, cache, data))


class TestRetrieveCache(TestBase[CacheCommunity]):

    def setUp(self) -> None:
        super().setUp()
        self.initialize(CacheCommunity, 2)

    async def test_every_wrapper_gets_its_cache(self) -> None:
        receiver = self.overlay(1)
        packets = {}
        for msg_id, number, signed in ((1, 10, True), (2, 20, True), (3, 30, False), (4, 40, False)):
            receiver.request_cache.add(Pending(receiver.request_cache, number))
            packets[msg_id] = self.overlay(0).ezr_pack(msg_id, Answer(number), sig=signed)
            self.endpoint(0).send(self.address(1), packets[msg_id])
        await self.deliver_messages()
        self.assertEqual(["signed", "signed_wd", "unsigned", "unsigned_wd"], [a[0] for a in receiver.answers])
        self.assertEqual([10, 20, 30, 40], [a[1] for a in receiver.answers])
        self.assertTrue(all(isinstance(a[2], Pending) for a in receiver.answers))
        self.assertEqual(packets[2], receiver.answers[1][3])
        self.assertEqual(packets[4], receiver.answers[3][3])
        self.assertEqual(0, sum(receiver.drop_counts.values()))

    async def test_answer_without_cache_is_dropped(self) -> None:
        self.overlay(0).ez_send(self.peer(1), Answer(99))
        await self.deliver_messages()
        self.assertEqual([], self.overlay(1).answers)
