"""
Identity attestations across implementations on 127.0.0.1: a pyipv8 3.2.1 ``IdentityCommunity``
(ref_identity_node.py) and a txipv8 one attest each other's credentials, in both roles, also when the
owner's chain is too long for one disclosure packet (request-missing / missing-response); then each side
reads the other's disclosure of the attested credential and sees who vouched for it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from twisted.internet import reactor

from ipv8.attestation.identity.community import IdentityCommunity
from ipv8.peer import Peer
from tests.interop.harness import PEER_DEADLINE, InteropTestCase, RefPeer, TxNode
from tests.interop.refenv import reference_env, reference_interpreter

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_identity_node.py"
ATTRIBUTE = hashlib.sha3_256(b"identity interop attribute").digest()


class TestIdentityInterop(InteropTestCase):
    timeout = 60

    async def start(self) -> tuple[RefPeer, TxNode, IdentityCommunity, Peer]:
        python = str(reference_interpreter().python)
        reference = RefPeer("pyipv8 identity node")
        reactor.spawnProcess(reference, python, [python, "-u", str(DRIVER), json.dumps({"deadline": PEER_DEADLINE})],
                             env=reference_env(), path=str(DRIVER.parent))
        self.addCleanup(self.check_exit, reference)
        self.addCleanup(reference.stop)
        await reference.wait_for(lambda p: p.ready is not None, 15.0, "the ready event")
        node = await self.start_tx_node()
        community = node.add(IdentityCommunity, working_directory=":memory:")
        py_peer = Peer(bytes.fromhex(reference.ready["public_key"]), reference.address)
        return reference, node, community, py_peer

    @staticmethod
    def tx_json(node: TxNode, community: IdentityCommunity) -> dict[str, Any]:
        return {"address": list(node.address), "public_key": community.my_peer.public_key.key_to_bin().hex()}

    async def pyipv8_owner(self, filler: int) -> None:
        reference, node, community, py_peer = await self.start()
        await reference.command("advertise", count=filler)
        community.add_known_hash(ATTRIBUTE, "age", py_peer.public_key.key_to_bin(), {"country": "NL"})
        await reference.command("request_attestation", hash=ATTRIBUTE.hex(), name="age",
                                metadata={"country": "NL"}, **self.tx_json(node, community))
        tx_key = community.my_peer.public_key.key_to_bin().hex()
        report = await self.report_when(
            reference, lambda r: any(c["authorities"] == [tx_key] for c in r["credentials"]), 10.0)
        [attested] = [c for c in report["credentials"] if c["authorities"]]
        self.assertEqual((ATTRIBUTE.hex(), "age", "NL"),
                         (attested["attribute"], attested["metadata"]["name"], attested["metadata"]["country"]))
        # txipv8 reads pyipv8's disclosure of it and sees its own attestation.
        parts = await reference.command("disclose", hash=ATTRIBUTE.hex())
        correct, theirs = community.identity_manager.__class__(":memory:").substantiate(
            py_peer.public_key, *(bytes.fromhex(part) for part in parts))
        self.assertTrue(correct)
        [credential] = theirs.get_credentials()
        self.assertTrue(theirs.attested_by(credential.metadata, community.my_peer.public_key))
        self.assertEqual(0, community.drop_counts["identity-bad-attestation"])
        if filler:  # the first disclosure could not hold the whole chain: we asked pyipv8 for the rest
            self.assertGreaterEqual(community._missing_rounds.get(py_peer.mid, 0), 1)

    async def txipv8_owner(self, filler: int) -> None:
        reference, _node, community, py_peer = await self.start()
        for index in range(filler):
            community.self_advertise(hashlib.sha3_256(b"%d" % index).digest(), f"filler{index}")
        await reference.command("add_known_hash", hash=ATTRIBUTE.hex(), name="age",
                                owner=community.my_peer.public_key.key_to_bin().hex())
        received: list = []
        community.attestation_received_callback = lambda peer, attestation: received.append(peer.mid)
        community.request_attestation_advertisement(py_peer, ATTRIBUTE, "age")
        await self.wait_until(lambda: bool(received), 10.0, "the attestation from pyipv8")
        self.assertEqual([py_peer.mid], received)
        metadata = community.get_attestation_by_hash(ATTRIBUTE)
        report = await reference.command("report")
        self.assertEqual([metadata.get_hash().hex()], report["attested"])
        # pyipv8 reads txipv8's disclosure and sees its own attestation.
        pseudonym = community.pseudonym_manager
        credential = pseudonym.get_credential(metadata)
        parts = pseudonym.disclose_credentials([credential], {a.get_hash() for a in credential.attestations})
        seen = await reference.command("substantiate", parts=[part.hex() for part in parts],
                                       public_key=community.my_peer.public_key.key_to_bin().hex())
        self.assertTrue(seen["correct"])
        self.assertEqual([{"attribute": ATTRIBUTE.hex(), "metadata": json.loads(metadata.serialized_json_dict),
                           "authorities": [py_peer.public_key.key_to_bin().hex()]}], seen["credentials"])

    async def test_txipv8_attests_pyipv8(self) -> None:
        await self.pyipv8_owner(0)

    async def test_txipv8_attests_pyipv8_long_chain(self) -> None:
        await self.pyipv8_owner(25)

    async def test_pyipv8_attests_txipv8(self) -> None:
        await self.txipv8_owner(0)

    async def test_pyipv8_attests_txipv8_long_chain(self) -> None:
        await self.txipv8_owner(25)
