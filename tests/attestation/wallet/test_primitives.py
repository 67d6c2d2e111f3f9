"""Properties of the wallet's math: GF(p^2) field laws, Weil pairing bilinearity, encryption round trips,
primes and integer packing."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipv8.attestation.wallet.pengbaorange.boudot import _sipack, _siunpack, secure_randint
from ipv8.attestation.wallet.primitives import boneh
from ipv8.attestation.wallet.primitives.attestation import sha256_4_as_int, sha256_as_int, sha512_as_int, to_ascii
from ipv8.attestation.wallet.primitives.ec import esum, weilpairing
from ipv8.attestation.wallet.primitives.primes import generate_rsa_prime, generate_safe_prime, is_prime
from ipv8.attestation.wallet.primitives.structs import BonehPrivateKey, ipack, iunpack, pack_pair, unpack_pair
from ipv8.attestation.wallet.primitives.value import FixedBasePower, FP2Value, format_polynomial

fast = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])

VECTORS = json.loads((Path(__file__).parent / "wallet_vectors.json").read_text())
SECRET_KEY = BonehPrivateKey.unserialize(bytes.fromhex(VECTORS["exact"][0]["secret_key"]))
SMALL_P = boneh.generate_prime(1009)  # 2 mod 3, so x^2 + x + 1 is irreducible
BIG_P = SECRET_KEY.p

moduli = st.sampled_from([SMALL_P, BIG_P])


@st.composite
def elements(draw: st.DrawFn, nonzero: bool = False) -> FP2Value:
    mod = draw(moduli)
    # A nonzero constant term is enough to make the element nonzero.
    return FP2Value(mod, draw(st.integers(1 if nonzero else 0, mod - 1)), draw(st.integers(0, mod - 1)))


@st.composite
def triples(draw: st.DrawFn) -> tuple[FP2Value, FP2Value, FP2Value]:
    mod = draw(moduli)
    coefficients = st.integers(0, mod - 1)
    return tuple(FP2Value(mod, draw(coefficients), draw(coefficients)) for _ in range(3))


# --- GF(p^2) field laws -------------------------------------------------------------------------------------


@fast
@given(triples())
def test_ring_laws(values: tuple[FP2Value, FP2Value, FP2Value]) -> None:
    x, y, z = values
    mod = x.mod
    assert x + y == y + x
    assert x * y == y * x
    assert (x + y) + z == x + (y + z)
    assert (x * y) * z == x * (y * z)
    assert x * (y + z) == x * y + x * z
    assert x + FP2Value(mod) == x
    assert x * FP2Value(mod, 1) == x
    assert x - x == FP2Value(mod)
    assert (x - y) + y == x
    assert -x + x == FP2Value(mod)


@fast
@given(elements(nonzero=True), elements())
def test_division_and_inverse(x: FP2Value, y: FP2Value) -> None:
    y = FP2Value(x.mod, y.a, y.b)
    assert x * x.inverse() == FP2Value(x.mod, 1)
    assert (y // x) * x == y
    # Every nonzero element lies in the multiplicative group of order p^2 - 1.
    assert x.intpow(x.mod * x.mod - 1) == FP2Value(x.mod, 1)


@fast
@given(elements(nonzero=True), st.integers(-300, 300), st.integers(-300, 300))
def test_intpow_laws(x: FP2Value, e1: int, e2: int) -> None:
    assert x.intpow(e1) * x.intpow(e2) == x.intpow(e1 + e2)
    assert x.intpow(e1).intpow(e2) == x.intpow(e1 * e2)
    assert x.intpow(0) == FP2Value(x.mod, 1)
    assert x.intpow(-1) == x.inverse()


@fast
@given(elements(nonzero=True), st.integers(0, 40))
def test_intpow_is_repeated_multiplication(x: FP2Value, exponent: int) -> None:
    product = FP2Value(x.mod, 1)
    for _ in range(exponent):
        product = product * x
    assert x.intpow(exponent) == product


@fast
@given(elements(), st.integers(-2 ** 20, 2 ** 300))
def test_fixed_base_power_agrees_with_intpow(x: FP2Value, exponent: int) -> None:
    if x.is_zero() and exponent < 0:
        return
    assert FixedBasePower(x).pow(exponent) == x.intpow(exponent)


def test_x_is_a_cube_root_of_unity() -> None:
    x = FP2Value(SMALL_P, 0, 1)
    assert x * x + x + FP2Value(SMALL_P, 1) == FP2Value(SMALL_P)
    assert x.intpow(3) == FP2Value(SMALL_P, 1)


@fast
@given(st.integers(0, SMALL_P - 1), st.integers(0, SMALL_P - 1), st.integers(0, SMALL_P - 1),
       st.integers(0, SMALL_P - 1), st.integers(0, SMALL_P - 1), st.integers(0, SMALL_P - 1))
def test_rational_constructor(a: int, b: int, c: int, ac: int, bc: int, cc: int) -> None:
    """(a + bx + cx^2) / (aC + bCx + cCx^2) equals the quotient computed with field operations."""
    x = FP2Value(SMALL_P, 0, 1)
    x2 = x * x

    def poly(c0: int, c1: int, c2: int) -> FP2Value:
        return FP2Value(SMALL_P, c0) + FP2Value(SMALL_P, c1) * x + FP2Value(SMALL_P, c2) * x2

    denominator = poly(ac, bc, cc)
    if denominator == FP2Value(SMALL_P):
        with pytest.raises(ZeroDivisionError):
            FP2Value(SMALL_P, a, b, c, ac, bc, cc)
        return
    value = FP2Value(SMALL_P, a, b, c, ac, bc, cc)
    assert value == poly(a, b, c) // denominator
    assert (value.c, value.aC, value.bC, value.cC) == (0, 1, 0, 0)
    assert value.normalize() is value
    assert value.wp_compress() == value.wp_nominator() * value.wp_denom_inverse() == value


def test_zero_division_and_mixed_moduli() -> None:
    zero = FP2Value(SMALL_P)
    one = FP2Value(SMALL_P, 1)
    with pytest.raises(ZeroDivisionError):
        zero.inverse()
    with pytest.raises(ZeroDivisionError):
        one // zero
    with pytest.raises(ZeroDivisionError):
        zero.intpow(-1)
    assert zero.intpow(0) == one
    assert zero.intpow(5) == zero
    with pytest.raises(ValueError, match="same modulus"):
        one * FP2Value(BIG_P, 1)
    assert one != 1
    assert {one: 1}[FP2Value(SMALL_P, 1 + SMALL_P)] == 1


def test_string_forms() -> None:
    assert format_polynomial(0, 0, 0) == "0"
    # Lowest power first, unit coefficients left out (pyipv8's rendering).
    assert format_polynomial(2, 1, 0) == "2 + x"
    assert format_polynomial(5, 3, 1) == "5 + 3x + x^2"
    assert str(FP2Value(SMALL_P, 4, 2)) == "4 + 2x"
    assert repr(FP2Value(SMALL_P, 4, 2)) == f"FP2Value({SMALL_P}, 4, 2)"


# --- The pairing ---------------------------------------------------------------------------------------------


def _curve_point(p: int, rng: random.Random) -> tuple[FP2Value, FP2Value]:
    """A random point of y^2 = x^3 + 1 over GF(p): cube roots are unique because p = 2 (mod 3)."""
    y = rng.randrange(2, p)
    x = pow((y * y - 1) % p, (2 * p - 1) // 3, p)
    assert (x ** 3 + 1 - y * y) % p == 0
    return FP2Value(p, x), FP2Value(p, y)


def _multiply(point: tuple | None, k: int) -> tuple | None:
    mod = point[0].mod
    result = None
    addend = point
    while k:
        if k & 1:
            result = esum(mod, result, addend)
        addend = esum(mod, addend, addend)
        k >>= 1
    return result


def _distort(point: tuple) -> tuple:
    """(x, y) -> (zeta * x, y): zeta = x of GF(p^2) is a primitive cube root of unity."""
    return FP2Value(point[0].mod, 0, point[0].a), point[1]


def test_weil_pairing_is_bilinear_and_nondegenerate() -> None:
    n = 1009  # prime order of the torsion subgroup
    p = SMALL_P
    assert (p + 1) % n == 0
    rng = random.Random(5)
    cofactor = (p + 1) // n  # the supersingular curve has p + 1 points over GF(p)
    P = Q = None
    while P is None:
        P = _multiply(_curve_point(p, rng), cofactor)
    while Q is None or Q == P:
        Q = _multiply(_curve_point(p, rng), cofactor)
    assert _multiply(P, n) is None  # order n
    S = _curve_point(p, rng)

    def pair(a: tuple, b: tuple) -> FP2Value:
        return weilpairing(p, n, a, _distort(b), S)

    base = pair(P, Q)
    assert base != FP2Value(p, 1)
    assert base.intpow(n) == FP2Value(p, 1)
    for a, b in ((2, 1), (1, 3), (5, 7), (100, 999)):
        assert pair(_multiply(P, a), _multiply(Q, b)) == base.intpow(a * b)
    # The key generator's own helper agrees with the raw pairing for an F_p point and its distortion.
    assert boneh.is_good_wp(n, base)


def test_esum_identities() -> None:
    point = _curve_point(SMALL_P, random.Random(1))
    assert esum(SMALL_P, None, None) is None
    assert esum(SMALL_P, "O", point) == point
    assert esum(SMALL_P, point, None) == point
    assert esum(SMALL_P, point, (point[0], -point[1])) is None


# --- Encryption ----------------------------------------------------------------------------------------------


def test_encrypt_decrypt_roundtrip_and_homomorphism() -> None:
    public_key = SECRET_KEY.public_key()
    rng = random.Random(9)
    space = list(range(20))
    for m in (0, 1, 2, 7, 19):
        assert boneh.decode(SECRET_KEY, space, boneh.encode(public_key, m, rng)) == m
    assert boneh.decode(SECRET_KEY, space, boneh.encode(public_key, 25, rng)) is None
    # Non-consecutive candidate lists take the generic path.
    assert boneh.decode(SECRET_KEY, [3, 9, 4], boneh.encode(public_key, 4, rng)) == 4
    # Multiplying ciphertexts adds plaintexts; two encryptions of one value differ.
    c1, c2 = boneh.encode(public_key, 3, rng), boneh.encode(public_key, 5, rng)
    assert boneh.decode(SECRET_KEY, space, c1 * c2) == 8
    assert boneh.encode(public_key, 3, rng) != c1


def test_key_group_orders() -> None:
    n, t1 = SECRET_KEY.n, SECRET_KEY.t1
    t2 = n // t1
    assert t1 * t2 == n
    assert is_prime(t1) and is_prime(t2)
    assert SECRET_KEY.g.intpow(n) == FP2Value(SECRET_KEY.p, 1)
    assert SECRET_KEY.h.intpow(t1) == FP2Value(SECRET_KEY.p, 1)
    assert SECRET_KEY.p == boneh.generate_prime(n)


def test_fresh_keypair_small() -> None:
    public_key, secret_key = boneh.generate_keypair(32, random.Random(3))
    assert secret_key.public_key() == public_key
    assert secret_key.t1.bit_length() == 32
    assert secret_key.g.intpow(secret_key.n) == FP2Value(secret_key.p, 1)
    assert secret_key.h.intpow(secret_key.t1) == FP2Value(secret_key.p, 1)
    assert boneh.decode(secret_key, [0, 1, 2, 3], boneh.encode(public_key, 2)) == 2
    # Same seed, same key: nothing depends on global state.
    assert boneh.generate_keypair(32, random.Random(3))[1].serialize() == secret_key.serialize()


# --- Primes --------------------------------------------------------------------------------------------------


def test_is_prime_against_trial_division() -> None:
    def slow(n: int) -> bool:
        return n >= 2 and all(n % d for d in range(2, int(n ** 0.5) + 1))

    assert [n for n in range(5000) if is_prime(n)] == [n for n in range(5000) if slow(n)]
    assert is_prime(2 ** 127 - 1)
    assert not is_prime((2 ** 61 - 1) * (2 ** 31 - 1))
    assert not is_prime(3215031751)  # strong pseudoprime to bases 2, 3, 5 and 7


def test_prime_generation() -> None:
    rng = random.Random(11)
    safe = generate_safe_prime(48, rng)
    assert safe.bit_length() == 48 and is_prime(safe) and is_prime((safe - 1) // 2)
    rsa = generate_rsa_prime(64, rng)
    assert rsa.bit_length() == 64 and is_prime(rsa)
    low, high = boneh.generate_primes(32, rng)
    assert low <= high and is_prime(low) and is_prime(high)
    p = boneh.generate_prime(low * high)
    assert p % 3 == 2 and (p + 1) % (low * high) == 0 and is_prime(p)


# --- Packing and hashing -------------------------------------------------------------------------------------


def test_ipack_known_bytes() -> None:
    assert ipack(0) == bytes.fromhex("010100")
    assert ipack(255) == bytes.fromhex("0101ff")
    assert ipack(256) == bytes.fromhex("01020100")
    # A 257-byte number needs a two-byte length field.
    assert ipack(1 << 2048) == b"\x02\x01\x01" + (1 << 2048).to_bytes(257, "big")
    with pytest.raises(ValueError, match="negative"):
        ipack(-1)


@fast
@given(st.integers(0, 2 ** 4200), st.integers(0, 2 ** 70), st.binary(max_size=8))
def test_ipack_roundtrip(a: int, b: int, tail: bytes) -> None:
    assert iunpack(ipack(a) + tail) == (a, tail)
    assert unpack_pair(pack_pair(a, b) + tail) == (a, b, tail)


@fast
@given(st.integers(0, 2 ** 300), st.data())
def test_iunpack_rejects_truncation(a: int, data: st.DataObject) -> None:
    packed = ipack(a)
    cut = data.draw(st.integers(0, len(packed) - 1))
    with pytest.raises(ValueError):
        iunpack(packed[:cut])


@fast
@given(st.lists(st.integers(-2 ** 200, 2 ** 200), min_size=1, max_size=8), st.binary(max_size=4))
def test_signed_pack_roundtrip(numbers: list[int], tail: bytes) -> None:
    unpacked, rem = _siunpack(_sipack(*numbers) + tail, len(numbers))
    assert list(unpacked) == numbers
    assert rem == tail


def test_signed_pack_layout() -> None:
    # Sign bits: first number highest; magnitudes in reverse order.
    assert _sipack(-1, 2) == bytes([0b10]) + ipack(2) + ipack(1)
    with pytest.raises(ValueError):
        _sipack(*range(9))


def test_secure_randint_bounds() -> None:
    rng = random.Random(4)
    draws = [secure_randint(-50, 1000, rng) for _ in range(500)]
    assert min(draws) >= -50 and max(draws) < 1000


def test_hash_helpers() -> None:
    assert to_ascii("abc") == b"abc" == to_ascii(b"abc")
    assert sha256_4_as_int(b"abc") == 0xBA7816BF
    assert sha256_as_int("abc") >> 224 == 0xBA7816BF
    assert sha512_as_int(b"abc") >> 480 == 0xDDAF35A1
