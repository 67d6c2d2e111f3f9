"""
Scenario 6: a pyipv8 3.2.1 peer sends malformed and forged packets (built in reference/junk.py) to a txipv8 node.

Each packet must be dropped under the right ``drop_counts`` reason, and the node must keep working: a valid
chat sent after all the junk is handled, and the pyipv8 peer is still its peer.
"""
from __future__ import annotations

import collections

from ipv8.community import (DROP_BAD_SIGNATURE, DROP_DEPRECATED_MESSAGE, DROP_MALFORMED, DROP_TOO_SHORT,
                            DROP_UNKNOWN_MESSAGE)

from .harness import InteropCommunity, InteropTestCase, make_chat

#: Junk kind (see reference/junk.py) -> the reason txipv8 must file it under.
EXPECTED_REASON = {
    "truncated": DROP_BAD_SIGNATURE,  # the last 64 bytes are not the signature any more
    "bit_flipped": DROP_BAD_SIGNATURE,
    "forged_signature": DROP_BAD_SIGNATURE,
    "swapped_key": DROP_BAD_SIGNATURE,
    "signed_garbage": DROP_MALFORMED,  # the signature holds, the body is not a chat
    "random_with_prefix": DROP_MALFORMED,
    "oversized_key": DROP_MALFORMED,
    "unknown_message": DROP_UNKNOWN_MESSAGE,
    "deprecated_message": DROP_DEPRECATED_MESSAGE,
    "too_short": DROP_TOO_SHORT,
}
#: Junk kinds that carry the chat message id: their signatures, checked by hand, must (not) verify.
CHAT_ID_KINDS_WITH_VALID_SIGNATURE = {"signed_garbage"}
CHAT_ID_KINDS_WITH_INVALID_SIGNATURE = {"truncated", "bit_flipped", "forged_signature", "swapped_key",
                                        "random_with_prefix", "oversized_key"}


class TestMalformedPackets(InteropTestCase):
    async def test_junk_is_dropped_per_reason_and_the_node_keeps_working(self) -> None:
        ref = await self.start_ref_peer("pyipv8", overlays=["interop"])
        node = await self.start_tx_node()
        community = node.add(InteropCommunity)
        community.walk_to(ref.address)
        await self.wait_until(lambda: ref.mid in {peer.mid for peer in community.get_peers()}, 5,
                              "txipv8 verifying the pyipv8 peer")
        await ref.wait_for(lambda p: node.my_peer.mid in p.peer_mids(), 5, "pyipv8 verifying the txipv8 peer")
        self.assertEqual({}, dict(community.drop_counts))

        observed: dict[str, dict[str, int]] = {}
        for seed, kind in enumerate(EXPECTED_REASON, start=1):
            before = collections.Counter(community.drop_counts)
            sent = await ref.command("junk", kind=kind, to=list(node.address), sequence=seed, seed=seed)
            await self.wait_until(lambda: sum(community.drop_counts.values()) > sum(before.values()), 5,
                                  f"the {kind} packet being dropped",
                                  lambda: f"packet: {sent}, drop counts {dict(community.drop_counts)}")
            observed[kind] = dict(collections.Counter(community.drop_counts) - before)
        self.assertEqual({kind: {reason: 1} for kind, reason in EXPECTED_REASON.items()}, observed)
        self.assertEqual(collections.Counter(EXPECTED_REASON.values()), collections.Counter(community.drop_counts))
        self.assertEqual([], community.chats)

        # Still working: a valid chat after the junk is handled, and nothing else was.
        await ref.command("send_chats", to=list(node.address), count=1, first=4242)
        await self.wait_until(lambda: len(community.chats) == 1, 5, "the valid chat after the junk")
        self.assertEqual([(ref.mid, make_chat(4242, "pyipv8"))], community.chats)
        self.assertIn(ref.mid, {peer.mid for peer in community.get_peers()})
        self.assertEqual((1 + len(CHAT_ID_KINDS_WITH_VALID_SIGNATURE), len(CHAT_ID_KINDS_WITH_INVALID_SIGNATURE)),
                         (node.log.chat_signatures_valid, node.log.chat_signatures_invalid))
        self.assertEqual(len(EXPECTED_REASON), sum(community.drop_counts.values()))

        # And it still answers pyipv8's introduction requests (new style: pyipv8 told us it supports it).
        await ref.command("walk_to", address=list(node.address), new_style=None)
        await self.wait_until(lambda: node.log.ids_from(ref.address)[246] == 1, 5, "pyipv8's walk")
        report = await self.report_when(ref, lambda r: r["received"].get(
            f"{node.address[0]}:{node.address[1]}", {}).get("interop:233", 0) == 1)
        self.assertEqual({"interop:246": 1, "interop:233": 1},
                         report["received"][f"{node.address[0]}:{node.address[1]}"])
