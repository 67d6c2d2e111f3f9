"""The attestation wallet against pyipv8 3.2.1 (``wallet_vectors.json``, see make_wallet_vectors.py).

pyipv8 drew all its random numbers from one seeded Mersenne Twister stream; a ``random.Random`` with the same
seed makes txipv8 draw the same numbers, so every attestation, challenge and response must be byte-identical.
Independently of randomness, pyipv8's attestations must verify here: right values give certainty close to 1,
wrong values give 0.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ipv8.attestation.default_identity_formats import FORMATS
from ipv8.attestation.wallet.bonehexact.algorithm import BonehExactAlgorithm
from ipv8.attestation.wallet.pengbaorange.algorithm import PengBaoRangeAlgorithm
from ipv8.attestation.wallet.primitives import boneh
from ipv8.attestation.wallet.primitives.structs import BonehPrivateKey, BonehPublicKey

VECTORS = json.loads((Path(__file__).parent / "wallet_vectors.json").read_text())
EXACT_CASES = [(record, case) for record in VECTORS["exact"] for case in record["cases"]]
RANGE_CASES = [(record, case) for record in VECTORS["range"] for case in record["cases"]]


def _ids(cases: list) -> list[str]:
    return [f"{record['id_format']}-{case['value']}" for record, case in cases]


def _keys(record: dict) -> tuple[BonehPrivateKey, BonehPublicKey]:
    secret_key = BonehPrivateKey.unserialize(bytes.fromhex(record["secret_key"]))
    assert secret_key is not None
    return secret_key, secret_key.public_key()


def test_format_table_matches_reference() -> None:
    assert VECTORS["formats"] == FORMATS


@pytest.mark.parametrize("record", VECTORS["exact"] + VECTORS["range"], ids=lambda r: r["id_format"])
def test_key_serialization_roundtrip(record: dict) -> None:
    secret_key, public_key = _keys(record)
    assert secret_key.serialize().hex() == record["secret_key"]
    assert public_key.serialize().hex() == record["public_key"]
    loaded = BonehPublicKey.unserialize(bytes.fromhex(record["public_key"]))
    assert loaded is not None
    assert loaded.serialize() == public_key.serialize()
    # A public key is not a private key: two fields short.
    assert BonehPrivateKey.unserialize(bytes.fromhex(record["public_key"])) is None


@pytest.mark.parametrize("vector", VECTORS["pairings"], ids=lambda v: str(v["n"]))
def test_pairing_matches_reference(vector: dict) -> None:
    wp = boneh.bilinear_group(vector["n"], vector["p"], vector["g1x"], vector["g1y"], vector["g1x"], vector["g1y"])
    assert boneh.generate_prime(vector["n"]) == vector["p"]
    assert (wp.a, wp.b) == (vector["a"], vector["b"])


@pytest.mark.parametrize("vector", VECTORS["keygen"], ids=lambda v: str(v["key_size"]))
def test_group_derivation_matches_reference(vector: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the primes fixed, the seeded choice of g and h (pairings, projections) is pyipv8's."""
    monkeypatch.setattr(boneh, "generate_primes", lambda key_size, rng=None: (vector["t1"], vector["t2"]))
    public_key, secret_key = boneh.generate_keypair(vector["key_size"], random.Random(vector["seed"]))
    assert secret_key.serialize().hex() == vector["secret_key"]
    assert public_key.serialize().hex() == vector["public_key"]
    assert secret_key.p == vector["p"]


@pytest.mark.parametrize(("record", "case"), EXACT_CASES, ids=_ids(EXACT_CASES))
def test_exact_attestation_bytes(record: dict, case: dict) -> None:
    secret_key, public_key = _keys(record)
    rng = random.Random(case["attest_seed"])
    algorithm = BonehExactAlgorithm(record["id_format"], FORMATS, rng=rng)
    produced = algorithm.attest(public_key, bytes.fromhex(case["value"]))
    assert produced.hex() == case["attestation"]
    attestation = algorithm.get_attestation_class().unserialize(produced, record["id_format"])
    assert attestation.get_hash().hex() == case["attestation_hash"]
    assert attestation.serialize() == produced

    rng.seed(case["challenge_seed"])
    challenges = algorithm.create_challenges(public_key, attestation)
    assert [c.hex() for c in challenges] == case["challenges"]
    responses = [algorithm.create_challenge_response(secret_key, attestation, c) for c in challenges]
    assert [r.hex() for r in responses] == case["responses"]

    rng.seed(case["honesty_seed"])
    honesty = [algorithm.create_honesty_challenge(public_key, v) for v in (0, 1, 2)]
    assert [c.hex() for c in honesty] == case["honesty_challenges"]


@pytest.mark.parametrize(("record", "case"), EXACT_CASES, ids=_ids(EXACT_CASES))
def test_exact_reference_attestation_verifies(record: dict, case: dict) -> None:
    """pyipv8's attestation and responses, judged by our verifier; our responses to its challenges."""
    secret_key, _ = _keys(record)
    algorithm = BonehExactAlgorithm(record["id_format"], FORMATS)
    attestation = algorithm.get_attestation_class().unserialize(bytes.fromhex(case["attestation"]),
                                                                record["id_format"])
    aggregate = algorithm.create_certainty_aggregate(attestation)
    for challenge, response in zip(case["challenges"], case["responses"]):
        ours = algorithm.create_challenge_response(secret_key, attestation, bytes.fromhex(challenge))
        assert ours.hex() == response
        algorithm.process_challenge_response(aggregate, bytes.fromhex(challenge), ours)
    assert {str(k): v for k, v in aggregate.items()} == case["aggregate"]
    value = bytes.fromhex(case["value"])
    assert algorithm.certainty(value, aggregate) == pytest.approx(case["certainty"])
    assert algorithm.certainty(value, aggregate) > 0.99
    assert algorithm.certainty(bytes.fromhex(case["wrong_value"]), aggregate) == case["certainty_wrong"] == 0.0
    for expected, (challenge, response) in enumerate(zip(case["honesty_challenges"], case["honesty_responses"])):
        ours = algorithm.create_challenge_response(secret_key, attestation, bytes.fromhex(challenge))
        assert ours.hex() == response
        assert algorithm.process_honesty_challenge(expected, ours)
        assert not algorithm.process_honesty_challenge((expected + 1) % 3, ours)


@pytest.mark.parametrize(("record", "case"), RANGE_CASES, ids=_ids(RANGE_CASES))
def test_range_attestation_bytes(record: dict, case: dict) -> None:
    secret_key, public_key = _keys(record)
    rng = random.Random(case["attest_seed"])
    algorithm = PengBaoRangeAlgorithm(record["id_format"], FORMATS, rng=rng)
    produced = algorithm.attest(public_key, bytes.fromhex(case["value"]))
    assert produced.hex() == case["attestation_private"]
    attestation_class = algorithm.get_attestation_class()
    owned = attestation_class.unserialize_private(secret_key, produced, record["id_format"])
    assert owned.serialize().hex() == case["attestation"]
    assert owned.get_hash().hex() == case["attestation_hash"]

    rng.seed(case["challenge_seed"])
    public = attestation_class.unserialize(owned.serialize(), record["id_format"])
    challenges = algorithm.create_challenges(public_key, public)
    assert [c.hex() for c in challenges] == case["challenges"]
    responses = [algorithm.create_challenge_response(secret_key, owned, c) for c in challenges]
    assert [r.hex() for r in responses] == case["responses"]


@pytest.mark.parametrize(("record", "case"), RANGE_CASES, ids=_ids(RANGE_CASES))
def test_range_reference_attestation_verifies(record: dict, case: dict) -> None:
    secret_key, _ = _keys(record)
    algorithm = PengBaoRangeAlgorithm(record["id_format"], FORMATS)
    attestation_class = algorithm.get_attestation_class()
    owned = attestation_class.unserialize_private(secret_key, bytes.fromhex(case["attestation_private"]),
                                                  record["id_format"])
    private = owned.privatedata
    assert private is not None
    assert [private.m1, private.m2, private.m3, private.r1, private.r2, private.r3] == case["private"]

    public = attestation_class.unserialize(bytes.fromhex(case["attestation"]), record["id_format"])
    aggregate = algorithm.create_certainty_aggregate(public)
    for challenge, response in zip(case["challenges"], case["responses"]):
        assert algorithm.create_challenge_response(secret_key, owned, bytes.fromhex(challenge)).hex() == response
        algorithm.process_challenge_response(aggregate, bytes.fromhex(challenge), bytes.fromhex(response))
    assert algorithm.certainty(b"\x01", aggregate) == case["certainty_true"] == 1.0
    assert algorithm.certainty(b"\x00", aggregate) == case["certainty_false"] == 0.0

    # A tampered answer must not pass.
    tampered = algorithm.create_certainty_aggregate(public)
    challenge = bytes.fromhex(case["challenges"][0])
    forged = algorithm.create_challenge_response(secret_key, owned, challenge)
    forged = forged[:-1] + bytes([forged[-1] ^ 1])
    algorithm.process_challenge_response(tampered, challenge, forged)
    assert algorithm.certainty(b"\x01", tampered) == 0.0
