"""The two identity algorithms end to end with fresh randomness, and their handling of bad input."""
from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ipv8.attestation.default_identity_formats import FORMATS
from ipv8.attestation.identity_formats import Attestation, IdentityAlgorithm
from ipv8.attestation.wallet.bonehexact.algorithm import BonehExactAlgorithm
from ipv8.attestation.wallet.bonehexact.structs import MAX_BITPAIRS, BonehAttestation
from ipv8.attestation.wallet.pengbaorange.algorithm import LARGE_INTEGER, PengBaoRangeAlgorithm
from ipv8.attestation.wallet.pengbaorange.structs import PengBaoAttestation
from ipv8.attestation.wallet.primitives import boneh
from ipv8.attestation.wallet.primitives.structs import BonehPrivateKey, BonehPublicKey, ipack, pack_pair

VECTORS = json.loads((Path(__file__).parent / "wallet_vectors.json").read_text())


def _key(id_format: str) -> BonehPrivateKey:
    for record in VECTORS["exact"] + VECTORS["range"]:
        if record["id_format"] == id_format:
            key = BonehPrivateKey.unserialize(bytes.fromhex(record["secret_key"]))
            assert key is not None
            return key
    raise KeyError(id_format)


def _verify_exact(algorithm: BonehExactAlgorithm, secret_key: BonehPrivateKey, attestation_bytes: bytes) -> dict:
    """Run a full verification: every challenge answered with ``secret_key``."""
    attestation = BonehAttestation.unserialize(attestation_bytes, algorithm.id_format)
    aggregate = algorithm.create_certainty_aggregate(attestation)
    for challenge in algorithm.create_challenges(attestation.PK, attestation):
        response = algorithm.create_challenge_response(secret_key, attestation, challenge)
        algorithm.process_challenge_response(aggregate, challenge, response)
    return aggregate


# --- bonehexact ----------------------------------------------------------------------------------------------


def test_exact_flow_with_system_randomness() -> None:
    algorithm = BonehExactAlgorithm("id_metadata", FORMATS)
    assert algorithm.honesty_check
    secret_key = _key("id_metadata")
    attestation_bytes = algorithm.attest(secret_key.public_key(), b"txipv8")
    aggregate = _verify_exact(algorithm, secret_key, attestation_bytes)
    assert sum(aggregate.values()) == 16  # one answer per bit pair of the 32-bit hash
    assert algorithm.certainty(b"txipv8", aggregate) > 0.99
    assert algorithm.certainty(b"pyipv8", aggregate) == 0.0
    # Two attestations of one value differ (fresh blinding), but verify the same way.
    assert algorithm.attest(secret_key.public_key(), b"txipv8") != attestation_bytes


def test_exact_wrong_secret_key_does_not_verify() -> None:
    algorithm = BonehExactAlgorithm("id_metadata", FORMATS)
    owner = _key("id_metadata")
    impostor = _key("id_metadata_range_18plus")  # another 32-bit key
    attestation_bytes = algorithm.attest(owner.public_key(), b"txipv8")
    aggregate = _verify_exact(algorithm, impostor, attestation_bytes)
    assert aggregate[3] > 0  # undecryptable answers
    assert algorithm.certainty(b"txipv8", aggregate) == 0.0


def test_exact_fresh_key_from_algorithm() -> None:
    algorithm = BonehExactAlgorithm("id_metadata", FORMATS, rng=random.Random(77))
    secret_key = algorithm.generate_secret_key()
    loaded = algorithm.load_secret_key(secret_key.serialize())
    assert loaded is not None and loaded.serialize() == secret_key.serialize()
    public_key = algorithm.load_public_key(secret_key.public_key().serialize())
    aggregate = _verify_exact(algorithm, secret_key, algorithm.attest(public_key, b"v"))
    assert algorithm.certainty(b"v", aggregate) > 0.99


def test_exact_honesty_challenges() -> None:
    algorithm = BonehExactAlgorithm("id_metadata", FORMATS)
    secret_key = _key("id_metadata")
    attestation = BonehAttestation.unserialize(algorithm.attest(secret_key.public_key(), b"x"))
    for value in (0, 1, 2):
        challenge = algorithm.create_honesty_challenge(secret_key.public_key(), value)
        response = algorithm.create_challenge_response(secret_key, attestation, challenge)
        assert algorithm.process_honesty_challenge(value, response)
    challenge = algorithm.create_honesty_challenge(secret_key.public_key(), 9)
    assert algorithm.create_challenge_response(secret_key, attestation, challenge) == b"\x03"


@pytest.mark.parametrize(("spec", "message"), [
    ({"algorithm": "pengbaorange", "key_size": 32, "hash": "sha256"}, "not a bonehexact"),
    ({"algorithm": "bonehexact", "key_size": 16, "hash": "sha256"}, "key size"),
    ({"algorithm": "bonehexact", "key_size": 1024, "hash": "sha256"}, "key size"),
    ({"algorithm": "bonehexact", "key_size": 32, "hash": "md5"}, "hashing mode"),
])
def test_exact_rejects_bad_formats(spec: dict, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        BonehExactAlgorithm("custom", {"custom": spec})
    with pytest.raises(RuntimeError, match="Unknown identity format"):
        BonehExactAlgorithm("missing", FORMATS)


def test_exact_hostile_input() -> None:
    algorithm = BonehExactAlgorithm("id_metadata", FORMATS)
    secret_key = _key("id_metadata")
    attestation_bytes = algorithm.attest(secret_key.public_key(), b"x")
    attestation = BonehAttestation.unserialize(attestation_bytes)
    aggregate = algorithm.create_certainty_aggregate(attestation)
    challenge = algorithm.create_challenges(secret_key.public_key(), attestation)[0]
    with pytest.raises(ValueError):
        algorithm.process_challenge_response(aggregate, challenge, b"\x00\x01")
    with pytest.raises(ValueError):
        algorithm.process_challenge_response(aggregate, challenge, b"")
    with pytest.raises(KeyError):
        algorithm.process_challenge_response(aggregate, challenge, b"\x07")
    assert aggregate == {0: 0, 1: 0, 2: 0, 3: 0}
    with pytest.raises(ValueError):
        algorithm.create_challenge_response(secret_key, attestation, challenge[:-1])
    with pytest.raises(ValueError):
        algorithm.process_honesty_challenge(1, b"")
    # Truncated or garbage attestations are refused with ValueError.
    with pytest.raises(ValueError):
        BonehAttestation.unserialize(attestation_bytes[:-3])
    with pytest.raises(ValueError):
        BonehAttestation.unserialize(b"\x05garbage")
    too_many = secret_key.public_key().serialize() + attestation.bitpairs[0].serialize() * (MAX_BITPAIRS + 1)
    with pytest.raises(ValueError, match="too many"):
        BonehAttestation.unserialize(too_many)
    assert BonehPublicKey.unserialize(b"") is None
    assert BonehPublicKey.unserialize(b"\x01\x09\x00") is None
    assert BonehPublicKey.unserialize(ipack(0) * 5) is None  # modulus 0
    with pytest.raises(NotImplementedError):
        algorithm.import_blob(b"")


@pytest.mark.parametrize("algorithm", [BonehExactAlgorithm("id_metadata", FORMATS),
                                       PengBaoRangeAlgorithm("id_metadata_range_18plus", FORMATS)])
def test_keys_must_fit_the_format(algorithm: IdentityAlgorithm) -> None:
    """A peer cannot make us compute in a field far larger than the format's (or a degenerate one)."""
    small = _key("id_metadata")
    assert algorithm.load_public_key(small.public_key().serialize()) is not None
    assert algorithm.load_secret_key(small.serialize()) is not None
    huge = _key("id_metadata_huge")
    assert algorithm.load_public_key(huge.public_key().serialize()) is None
    assert algorithm.load_secret_key(huge.serialize()) is None
    assert algorithm.load_public_key(ipack(3) + ipack(1) * 4) is None
    assert algorithm.load_public_key(b"\xff") is None


# --- pengbaorange --------------------------------------------------------------------------------------------


def _verify_range(algorithm: PengBaoRangeAlgorithm, secret_key: BonehPrivateKey, private_bytes: bytes) -> dict:
    owned = PengBaoAttestation.unserialize_private(secret_key, private_bytes, algorithm.id_format)
    public = PengBaoAttestation.unserialize(owned.serialize(), algorithm.id_format)
    aggregate = algorithm.create_certainty_aggregate(public)
    for challenge in algorithm.create_challenges(public.PK, public):
        response = algorithm.create_challenge_response(secret_key, owned, challenge)
        algorithm.process_challenge_response(aggregate, challenge, response)
    return aggregate


@pytest.mark.parametrize("age", [18, 19, 65, 200])
def test_range_flow_in_range(age: int) -> None:
    algorithm = PengBaoRangeAlgorithm("id_metadata_range_18plus", FORMATS)
    secret_key = _key("id_metadata_range_18plus")
    aggregate = _verify_range(algorithm, secret_key, algorithm.attest(secret_key.public_key(), bytes([age])))
    assert algorithm.certainty(b"\x01", aggregate) == 1.0
    assert algorithm.certainty(b"\x00", aggregate) == 0.0


@pytest.mark.parametrize("age", [0, 17, 201, 255])
def test_range_refuses_out_of_range_values(age: int) -> None:
    algorithm = PengBaoRangeAlgorithm("id_metadata_range_18plus", FORMATS)
    with pytest.raises(ValueError, match="outside"):
        algorithm.attest(_key("id_metadata_range_18plus").public_key(), bytes([age]))


def test_range_custom_format_and_fresh_key() -> None:
    formats = {"underage": {"algorithm": "pengbaorange", "key_size": 32, "min": 0, "max": 17}}
    algorithm = PengBaoRangeAlgorithm("underage", formats, rng=random.Random(12))
    secret_key = algorithm.generate_secret_key()
    aggregate = _verify_range(algorithm, secret_key, algorithm.attest(secret_key.public_key(), bytes([12])))
    assert algorithm.certainty(b"\x01", aggregate) == 1.0
    with pytest.raises(ValueError):
        algorithm.attest(secret_key.public_key(), bytes([18]))


def test_range_proof_does_not_transfer_to_another_range() -> None:
    """A proof for [18, 200] checked as [21, 200] fails."""
    secret_key = _key("id_metadata_range_18plus")
    algorithm = PengBaoRangeAlgorithm("id_metadata_range_18plus", FORMATS)
    private_bytes = algorithm.attest(secret_key.public_key(), bytes([19]))
    stricter = PengBaoRangeAlgorithm("x", {"x": {"algorithm": "pengbaorange", "key_size": 32,
                                                 "min": 21, "max": 200}})
    aggregate = _verify_range(stricter, secret_key, private_bytes)
    assert stricter.certainty(b"\x01", aggregate) == 0.0


def test_range_small_challenge_gets_garbage() -> None:
    algorithm = PengBaoRangeAlgorithm("id_metadata_range_18plus", FORMATS)
    secret_key = _key("id_metadata_range_18plus")
    owned = PengBaoAttestation.unserialize_private(
        secret_key, algorithm.attest(secret_key.public_key(), bytes([30])))
    small = pack_pair(2, LARGE_INTEGER + 5)
    response = algorithm.create_challenge_response(secret_key, owned, small)
    aggregate = algorithm.create_certainty_aggregate(PengBaoAttestation.unserialize(owned.serialize()))
    algorithm.process_challenge_response(aggregate, small, response)
    assert algorithm.certainty(b"\x01", aggregate) == 0.0


def test_range_hostile_input() -> None:
    algorithm = PengBaoRangeAlgorithm("id_metadata_range_18plus", FORMATS)
    secret_key = _key("id_metadata_range_18plus")
    private_bytes = algorithm.attest(secret_key.public_key(), bytes([30]))
    public_bytes = PengBaoAttestation.unserialize_private(secret_key, private_bytes).serialize()
    for cut in (0, 10, len(public_bytes) // 2, len(public_bytes) - 1):
        with pytest.raises(ValueError):
            PengBaoAttestation.unserialize(public_bytes[:cut])
    with pytest.raises(ValueError):
        PengBaoAttestation.unserialize_private(secret_key, private_bytes[:-2])
    # Private data encrypted under another key does not decrypt.
    with pytest.raises(ValueError, match="decrypt"):
        PengBaoAttestation.unserialize_private(_key("id_metadata"), private_bytes)
    public = PengBaoAttestation.unserialize(public_bytes)
    aggregate = algorithm.create_certainty_aggregate(public)
    assert algorithm.certainty(b"\x01", aggregate) == 0.0  # no answers yet
    challenge = algorithm.create_challenges(public.PK, public)[0]
    with pytest.raises(ValueError):
        algorithm.process_challenge_response(aggregate, challenge, b"\x01")
    algorithm.process_challenge_response(aggregate, challenge, pack_pair(1, 1) + pack_pair(1, 1))
    assert algorithm.certainty(b"\x01", aggregate) == 0.0
    with pytest.raises(ValueError):
        algorithm.attest(secret_key.public_key(), b"")
    with pytest.raises(NotImplementedError):
        algorithm.create_honesty_challenge(secret_key.public_key(), 1)
    with pytest.raises(NotImplementedError):
        algorithm.process_honesty_challenge(1, b"")
    with pytest.raises(NotImplementedError):
        algorithm.import_blob(b"")
    with pytest.raises(RuntimeError, match="not a pengbaorange"):
        PengBaoRangeAlgorithm("id_metadata", FORMATS)


# --- interface and threads -----------------------------------------------------------------------------------


def test_interfaces_are_abstract() -> None:
    with pytest.raises(TypeError):
        IdentityAlgorithm("id_metadata", FORMATS)  # type: ignore[abstract]
    with pytest.raises(TypeError):
        Attestation()  # type: ignore[abstract]
    assert issubclass(BonehExactAlgorithm, IdentityAlgorithm)
    assert issubclass(PengBaoAttestation, Attestation)


def test_key_generation_is_thread_safe_and_pure() -> None:
    """Worker threads with their own seeded sources give the same keys as sequential calls."""
    seeds = [21, 22]
    sequential = [boneh.generate_keypair(32, random.Random(s))[1].serialize() for s in seeds]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(lambda s: boneh.generate_keypair(32, random.Random(s))[1].serialize(), seeds))
    assert threaded == sequential
