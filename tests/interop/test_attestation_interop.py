"""
Attestations across implementations on 127.0.0.1: a pyipv8 3.2.1 ``AttestationCommunity``
(reference/ref_attestation_node.py) and a txipv8 one attest each other's attributes and verify them, for an
exact format and a range format, in both directions.

In each test one side owns the attribute and asks the other to attest it; then the attestor verifies the
attestation (challenges over the wire, answered by the owner). Both sides must report the same attestation
hash, and the certainties must single out the attested value.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred

from ipv8.attestation.wallet.community import AttestationCommunity
from ipv8.peer import Peer

from .harness import PEER_DEADLINE, InteropTestCase, RefPeer, TxNode
from .refenv import reference_env, reference_interpreter

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_attestation_node.py"

#: (id_format, attribute, attested value, values to verify, certainties expected for them)
EXACT = ("id_metadata", "name", b"Alice Interop", [b"Alice Interop", b"Bob"])
BIG = ("id_metadata_big", "passport", b"NL-0123456789", [b"NL-0123456789", b"NL-0123456788"])
RANGE = ("id_metadata_range_18plus", "age", bytes([42]), [b"\x01", b"\x00"])


class TestAttestationInterop(InteropTestCase):
    timeout = 60

    async def start(self) -> tuple[RefPeer, TxNode, AttestationCommunity, Peer]:
        found = reference_interpreter()
        reference = RefPeer("pyipv8 attestation node")
        python = str(found.python)
        config = {"deadline": PEER_DEADLINE}
        reactor.spawnProcess(reference, python, [python, "-u", str(DRIVER), json.dumps(config)],
                             env=reference_env(), path=str(DRIVER.parent))
        self.addCleanup(self.check_exit, reference)
        self.addCleanup(reference.stop)
        await reference.wait_for(lambda p: p.ready is not None, 15.0, "the ready event")
        node = await self.start_tx_node()
        community = node.add(AttestationCommunity, working_directory=":memory:")
        self.completed: list[tuple] = []
        community.set_attestation_request_complete_callback(lambda *args: self.completed.append(args))
        py_peer = Peer(bytes.fromhex(reference.ready["public_key"]), reference.address)
        return reference, node, community, py_peer

    def tx_json(self, node: TxNode, community: AttestationCommunity) -> dict[str, Any]:
        return {"address": list(node.address), "public_key": community.my_peer.public_key.key_to_bin().hex()}

    async def within(self, deferred: Deferred, seconds: float, what: str) -> Any:
        deferred.addTimeout(seconds, reactor)
        try:
            return await deferred
        except Exception as exc:  # noqa: BLE001
            self.fail(f"{what}: {exc!r}")

    async def pyipv8_attests_txipv8(self, case: tuple) -> None:
        id_format, attribute, value, values = case
        reference, node, community, py_peer = await self.start()
        await reference.command("set_values", values={attribute: value.hex()})
        secret_key = await community.generate_secret_key(id_format)
        done = community.request_attestation(py_peer, attribute, secret_key, {"id_format": id_format,
                                                                               "note": "interop"})
        attestation_hash = await self.within(done, 15, "the attestation from pyipv8")
        self.assertIsNotNone(attestation_hash, "pyipv8 did not attest")
        report = await reference.command("report")
        self.assertEqual([{"mid": community.my_peer.mid.hex(), "attribute": attribute, "metadata": {"note": "interop"}}],
                         report["requests"])
        # pyipv8's attestor computed the same hash for what it sent.
        self.assertEqual(attestation_hash.hex(), report["completed"][0]["hash"])
        self.assertEqual([(community.my_peer, attribute, attestation_hash, id_format)],
                         [args[:4] for args in self.completed])
        # pyipv8 verifies the attestation txipv8 now holds.
        verified = await reference.command("verify", timeout=20, wait=15, hash=attestation_hash.hex(),
                                           values=[v.hex() for v in values], id_format=id_format,
                                           **self.tx_json(node, community))
        self.check_certainties(id_format, verified["certainties"])
        self.assertEqual({}, dict(community.drop_counts))

    async def txipv8_attests_pyipv8(self, case: tuple) -> None:
        id_format, attribute, value, values = case
        reference, node, community, py_peer = await self.start()
        asked: list = []

        def attest(peer: Peer, name: str, metadata: dict) -> bytes | None:
            asked.append((peer.mid, name, metadata))
            return value if name == attribute else None
        community.set_attestation_request_callback(attest)
        made = await reference.command("request_attestation", timeout=20, wait=15, attribute=attribute,
                                       id_format=id_format, metadata={"note": "interop"},
                                       **self.tx_json(node, community))
        self.assertEqual([(py_peer.mid, attribute, {"note": "interop"})], asked)
        attestation_hash = bytes.fromhex(made["hash"])
        # txipv8's attestor reported the same hash as pyipv8's owner.
        self.assertEqual([attestation_hash], [args[2] for args in self.completed])
        self.assertEqual(made["from"], community.my_peer.mid.hex())
        certainties = await self.within(
            community.verify_attestation_values(py_peer.address, attestation_hash, values, None, id_format),
            20, "the verification of pyipv8's attestation")
        self.check_certainties(id_format, certainties)
        report = await reference.command("report")
        self.assertEqual([attestation_hash.hex()], report["verify_requests"])
        self.assertEqual({}, dict(community.drop_counts))

    def check_certainties(self, id_format: str, certainties: list[float]) -> None:
        self.assertEqual(2, len(certainties))
        if id_format == "id_metadata_range_18plus":
            self.assertEqual([1.0, 0.0], certainties)
        else:
            self.assertGreater(certainties[0], 0.99)
            self.assertLess(certainties[1], 0.01)

    async def test_pyipv8_attests_and_verifies_txipv8_exact(self) -> None:
        await self.pyipv8_attests_txipv8(EXACT)

    async def test_pyipv8_attests_and_verifies_txipv8_range(self) -> None:
        await self.pyipv8_attests_txipv8(RANGE)

    async def test_txipv8_attests_and_verifies_pyipv8_exact(self) -> None:
        await self.txipv8_attests_pyipv8(EXACT)

    async def test_txipv8_attests_and_verifies_pyipv8_range(self) -> None:
        await self.txipv8_attests_pyipv8(RANGE)

    async def test_txipv8_attests_pyipv8_big(self) -> None:
        await self.txipv8_attests_pyipv8(BIG)

    async def test_pyipv8_attests_txipv8_big(self) -> None:
        await self.pyipv8_attests_txipv8(BIG)




# A pyipv8 attestation database, written by pyipv8 and read back by it (run in the reference interpreter).
_PYIPV8_DATABASE = """
import json
import sys
from ipv8.attestation.wallet.database import AttestationsDB
from ipv8.attestation.schema.manager import SchemaManager
manager = SchemaManager()
manager.register_default_schemas()
directory, mode = sys.argv[1], sys.argv[2]
database = AttestationsDB(directory, "attestations")
if mode == "write":
    algorithm = manager.get_algorithm_instance("id_metadata_range_18plus")
    key = algorithm.generate_secret_key()
    blob = algorithm.attest(key.public_key(), bytes([30]))
    attestation = algorithm.get_attestation_class().unserialize_private(key, blob, "id_metadata_range_18plus")
    database.insert_attestation(attestation, attestation.get_hash(), key, "id_metadata_range_18plus")
rows = [[h.hex(), fmt.decode()] for h, _, _, fmt in database.get_all()]
for h, blob, key, fmt in database.get_all():
    algorithm = manager.get_algorithm_instance(fmt.decode())
    loaded = algorithm.get_attestation_class().unserialize_private(algorithm.load_secret_key(key), blob, fmt.decode())
    assert loaded.get_hash() == h
database.close()
print(json.dumps(rows))
"""


class TestAttestationDatabaseInterop(InteropTestCase):
    """The database file is shared: pyipv8's file opens in txipv8 and the reverse (same schema, version 2)."""

    timeout = 60

    def run_reference(self, directory: str, mode: str) -> list[list[str]]:
        import subprocess
        found = reference_interpreter()
        done = subprocess.run([str(found.python), "-c", _PYIPV8_DATABASE, directory, mode], capture_output=True,
                              text=True, env=reference_env(), timeout=60, check=False,
                              cwd=directory)  # not the repository: "-c" puts the working directory on sys.path
        self.assertEqual(0, done.returncode, done.stderr)
        return json.loads(done.stdout)

    def test_pyipv8_file_in_txipv8_and_back(self) -> None:
        from ipv8.attestation.wallet.database import AttestationsDB
        directory = str(Path(self.mktemp()).resolve())
        Path(directory).mkdir()
        [[hash_hex, id_format]] = self.run_reference(directory, "write")
        # txipv8 reads pyipv8's row and can use the key and the attestation.
        community_database = AttestationsDB(directory, "attestations")
        [(attestation_hash, blob, key, stored_format)] = community_database.get_all()
        self.assertEqual((hash_hex, id_format), (attestation_hash.hex(), stored_format.decode()))
        from ipv8.attestation.default_identity_formats import FORMATS
        from ipv8.attestation.wallet.pengbaorange.algorithm import PengBaoRangeAlgorithm
        algorithm = PengBaoRangeAlgorithm(id_format, FORMATS)
        secret_key = algorithm.load_secret_key(key)
        attestation = algorithm.get_attestation_class().unserialize_private(secret_key, blob, id_format)
        self.assertEqual(attestation_hash, attestation.get_hash())
        # txipv8 adds one of its own; pyipv8 reads both.
        ours = algorithm.get_attestation_class().unserialize_private(
            secret_key, algorithm.attest(secret_key.public_key(), bytes([40])), id_format)
        community_database.insert_attestation(ours, ours.get_hash(), secret_key, id_format)
        community_database.close()
        rows = self.run_reference(directory, "read")
        self.assertEqual({hash_hex, ours.get_hash().hex()}, {row[0] for row in rows})

    def test_txipv8_file_in_pyipv8(self) -> None:
        """A file txipv8 creates (ipv8.database schema handling, pre-serialized insert) opens in pyipv8."""
        from ipv8.attestation.default_identity_formats import FORMATS
        from ipv8.attestation.wallet.bonehexact.algorithm import BonehExactAlgorithm
        from ipv8.attestation.wallet.database import AttestationsDB
        directory = str(Path(self.mktemp()).resolve())
        Path(directory).mkdir()
        algorithm = BonehExactAlgorithm("id_metadata", FORMATS)
        secret_key = algorithm.generate_secret_key()
        attestation = algorithm.get_attestation_class().unserialize_private(
            secret_key, algorithm.attest(secret_key.public_key(), b"interop"), "id_metadata")
        database = AttestationsDB(directory, "attestations")
        database.insert_serialized(attestation.get_hash(), attestation.serialize_private(secret_key.public_key()),
                                   secret_key.serialize(), "id_metadata")
        database.close()
        self.assertEqual([[attestation.get_hash().hex(), "id_metadata"]], self.run_reference(directory, "read"))
