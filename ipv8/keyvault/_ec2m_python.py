"""ECDSA on the Dispersy binary curves in pure Python: the fallback when no ``libcrypto`` has them.

Field elements of GF(2^m) are Python integers read as bit vectors (bit ``i`` is the coefficient of
``x^i``). Scalar multiplication is the Lopez-Dahab x-only Montgomery ladder in projective coordinates
with y recovered at the end, so a whole multiplication needs a single field inversion.

This is orders of magnitude slower than OpenSSL (see ``bench/README.md``) and, being Python, its big
integer arithmetic is not constant-time; the OpenSSL backend is preferred whenever it is available.
Nonces come from :mod:`secrets` (the OS CSPRNG).

Public points are checked completely before use: correct encoding, coordinates inside the field, on the
curve, not of small order, and ``order * Q`` at infinity, so a peer cannot make us compute with a
point outside the prime-order subgroup.
"""
from __future__ import annotations

import secrets

from ._ec2m_curves import BinaryCurve
from .exceptions import InvalidKeyError

__all__ = ["PythonBackend"]

Point = tuple[int, int] | None  # affine (x, y); None is the point at infinity


def _spread_nibble(nibble: int) -> int:
    """Move bit i of a 4-bit value to bit 2i (what squaring does to a polynomial)."""
    return sum(((nibble >> i) & 1) << (2 * i) for i in range(4))


# Squaring a polynomial over GF(2) just inserts a zero between its bits. Done bytewise with
# bytes.translate, which keeps the per-byte loop in C.
_SPREAD_HIGH = bytes(_spread_nibble(byte >> 4) for byte in range(256))
_SPREAD_LOW = bytes(_spread_nibble(byte & 15) for byte in range(256))


class _Field:
    """Arithmetic in GF(2^m) modulo ``x^m + sum(x^k)``."""

    def __init__(self, m: int, terms: tuple[int, ...]) -> None:
        self.m = m
        self.terms = terms
        self.mask = (1 << m) - 1
        self.polynomial = (1 << m) | sum(1 << term for term in terms)
        self.nbytes = (m + 7) // 8

    def reduce(self, value: int) -> int:
        """Reduce a polynomial of any degree modulo the field polynomial."""
        m, mask, terms = self.m, self.mask, self.terms
        high = value >> m
        while high:
            value &= mask
            for term in terms:
                value ^= high << term
            high = value >> m
        return value

    def mul(self, a: int, b: int) -> int:
        """Return ``a * b``: a 4-bit comb over ``b`` with a 16-entry table of multiples of ``a``."""
        if not a or not b:
            return 0
        a2 = a << 1
        a4 = a << 2
        a8 = a << 3
        a3 = a2 ^ a
        table = (0, a, a2, a3, a4, a4 ^ a, a4 ^ a2, a4 ^ a3,
                 a8, a8 ^ a, a8 ^ a2, a8 ^ a3, a8 ^ a4, a8 ^ a4 ^ a, a8 ^ a4 ^ a2, a8 ^ a4 ^ a3)
        result = 0
        for byte in b.to_bytes((b.bit_length() + 7) // 8, "big"):
            result = (((result << 4) ^ table[byte >> 4]) << 4) ^ table[byte & 15]
        return self.reduce(result)

    def sqr(self, a: int) -> int:
        """Return ``a^2``."""
        data = a.to_bytes(self.nbytes, "big")
        spread = bytearray(2 * self.nbytes)
        spread[0::2] = data.translate(_SPREAD_HIGH)
        spread[1::2] = data.translate(_SPREAD_LOW)
        return self.reduce(int.from_bytes(spread, "big"))

    def inv(self, a: int) -> int:
        """Return ``a^-1`` with the binary extended Euclidean algorithm (``a`` must be non-zero)."""
        if not a:
            raise ZeroDivisionError("0 has no inverse in GF(2^m)")
        u, v = a, self.polynomial
        g1, g2 = 1, 0
        while u != 1:
            shift = u.bit_length() - v.bit_length()
            if shift < 0:
                u, v, g1, g2 = v, u, g2, g1
                shift = -shift
            u ^= v << shift
            g1 ^= g2 << shift
        return self.reduce(g1)


class _Curve:
    """Point arithmetic on ``y^2 + xy = x^3 + a x^2 + b``."""

    def __init__(self, params: BinaryCurve) -> None:
        self.params = params
        self.field = _Field(params.m, params.terms)
        self.a, self.b, self.order = params.a, params.b, params.order
        self.generator: Point = (params.gx, params.gy)

    def on_curve(self, point: Point) -> bool:
        if point is None:
            return True
        f = self.field
        x, y = point
        x2 = f.sqr(x)
        left = f.sqr(y) ^ f.mul(x, y)
        right = f.mul(x2, x) ^ f.mul(self.a, x2) ^ self.b
        return left == right

    def negate(self, point: Point) -> Point:
        return None if point is None else (point[0], point[0] ^ point[1])

    def add(self, p: Point, q: Point) -> Point:
        """Affine addition (handles infinity, doubling and inverse points)."""
        if p is None:
            return q
        if q is None:
            return p
        f = self.field
        x1, y1 = p
        x2, y2 = q
        if x1 == x2:
            if y1 != y2 or x1 == 0:  # q == -p, or doubling a point of order 2
                return None
            slope = x1 ^ f.mul(y1, f.inv(x1))
            x3 = f.sqr(slope) ^ slope ^ self.a
            return x3, f.sqr(x1) ^ f.mul(slope ^ 1, x3)
        slope = f.mul(y1 ^ y2, f.inv(x1 ^ x2))
        x3 = f.sqr(slope) ^ slope ^ x1 ^ x2 ^ self.a
        return x3, f.mul(slope, x1 ^ x3) ^ x3 ^ y1

    def multiply(self, k: int, point: Point) -> Point:
        """Return ``k * point`` for a point of the prime-order subgroup and ``0 <= k``.

        The Lopez-Dahab ladder keeps ``(j P, (j+1) P)`` for the leading bits ``j`` of ``k``; while
        ``j < order`` neither is infinity, which is all the formulas need. ``k`` is reduced first.
        """
        k %= self.order
        if k == 0 or point is None:
            return None
        return self._ladder(k, point)

    def multiply_exact_order(self, point: tuple[int, int]) -> Point:
        """Return ``order * point`` (infinity exactly for points of the subgroup).

        ``point`` must be on the curve and not of small order, so that no intermediate multiple is
        infinity.
        """
        return self._ladder(self.order, point)

    def _ladder(self, k: int, point: tuple[int, int]) -> Point:
        f = self.field
        mul, sqr, b = f.mul, f.sqr, self.b
        x, y = point
        x1, z1 = x, 1
        z2 = sqr(x)
        x2 = sqr(z2) ^ b
        for bit in bin(k)[3:]:
            # Madd into one register, Mdouble the other (Hankerson et al., Algorithm 3.40).
            if bit == "1":
                t, u = mul(x1, z2), mul(x2, z1)
                z1 = sqr(t ^ u)
                x1 = mul(x, z1) ^ mul(t, u)
                xx, zz = sqr(x2), sqr(z2)
                z2 = mul(xx, zz)
                x2 = sqr(xx) ^ (sqr(zz) if b == 1 else mul(b, sqr(zz)))
            else:
                t, u = mul(x2, z1), mul(x1, z2)
                z2 = sqr(t ^ u)
                x2 = mul(x, z2) ^ mul(t, u)
                xx, zz = sqr(x1), sqr(z1)
                z1 = mul(xx, zz)
                x1 = sqr(xx) ^ (sqr(zz) if b == 1 else mul(b, sqr(zz)))
        if z1 == 0:
            return None
        if z2 == 0:  # (k + 1) P is infinity, so k P = -P
            return self.negate(point)
        # y recovery from x(P), y(P), x(kP) and x((k+1)P).
        xz1, xz2 = mul(x, z1), mul(x, z2)
        factor = mul(x1 ^ xz1, x2 ^ xz2) ^ mul(sqr(x) ^ y, mul(z1, z2))
        inverse = f.inv(mul(xz1, z2))
        kx = mul(x1, mul(inverse, mul(x, z2)))  # X1 / Z1
        ky = mul(mul(x ^ kx, factor), inverse) ^ y
        return kx, ky


class _PublicHandle:
    def __init__(self, curve: _Curve, point: Point, octets: bytes) -> None:
        self._curve = curve
        self._point = point
        self.point = octets

    def verify(self, digest: bytes, r: int, s: int) -> bool:
        """Return whether ``(r, s)`` (already checked to lie in ``[1, order)``) signs ``digest``."""
        curve = self._curve
        n = curve.order
        w = pow(s, -1, n)
        e = _digest_to_int(digest, n)
        total = curve.add(curve.multiply(e * w % n, curve.generator), curve.multiply(r * w % n, self._point))
        return total is not None and total[0] % n == r


class _PrivateHandle:
    def __init__(self, curve: _Curve, secret: int, public: _PublicHandle) -> None:
        self._curve = curve
        self._secret = secret
        self.public = public
        self.point = public.point

    def sign(self, digest: bytes) -> tuple[int, int]:
        curve = self._curve
        n = curve.order
        e = _digest_to_int(digest, n)
        while True:
            k = secrets.randbelow(n - 1) + 1
            nonce_point = curve.multiply(k, curve.generator)
            assert nonce_point is not None  # 0 < k < n
            r = nonce_point[0] % n
            if r == 0:
                continue
            s = pow(k, -1, n) * (e + r * self._secret) % n
            if s:
                return r, s


def _digest_to_int(digest: bytes, order: int) -> int:
    """ECDSA's bits2int: the leftmost ``bitlen(order)`` bits of the digest."""
    value = int.from_bytes(digest, "big")
    excess = 8 * len(digest) - order.bit_length()
    return value >> excess if excess > 0 else value


def _encode_point(curve: _Curve, point: tuple[int, int]) -> bytes:
    size = curve.field.nbytes
    return b"\x04" + point[0].to_bytes(size, "big") + point[1].to_bytes(size, "big")


class PythonBackend:
    """Binary-curve ECDSA in pure Python; see the module docstring."""

    name = "python"
    description = "pure Python (slow fallback)"

    def __init__(self) -> None:
        self._curves: dict[str, _Curve] = {}

    def curve(self, params: BinaryCurve) -> _Curve:
        curve = self._curves.get(params.name)
        if curve is None:
            curve = self._curves[params.name] = _Curve(params)
        return curve

    def supports(self, curve: BinaryCurve) -> bool:
        """Every curve with known parameters works here."""
        return True

    def private_handle(self, curve: BinaryCurve, secret: int) -> _PrivateHandle:
        """Wrap ``secret`` (1 <= secret < order, checked by the caller) and derive its public point."""
        ec = self.curve(curve)
        if not 0 < secret < ec.order:
            raise InvalidKeyError(f"invalid {curve.name} private key: scalar out of range")
        point = ec.multiply(secret, ec.generator)
        assert point is not None  # 0 < secret < order
        return _PrivateHandle(ec, secret, _PublicHandle(ec, point, _encode_point(ec, point)))

    def public_handle(self, curve: BinaryCurve, octets: bytes) -> _PublicHandle:
        """Decode and fully validate an uncompressed point."""
        ec = self.curve(curve)
        size = ec.field.nbytes
        if len(octets) != 1 + 2 * size or octets[0] != 4:
            raise InvalidKeyError(f"invalid {curve.name} public key: not an uncompressed point")
        x = int.from_bytes(octets[1:1 + size], "big")
        y = int.from_bytes(octets[1 + size:], "big")
        point = (x, y)
        if x >> curve.m or y >> curve.m:
            raise InvalidKeyError(f"invalid {curve.name} public key: coordinate outside the field")
        if not ec.on_curve(point):
            raise InvalidKeyError(f"invalid {curve.name} public key: the point is not on the curve")
        # Small-order points (x = 0 has order 2; the cofactor kills the rest) would break the ladder's
        # assumptions, so they go first; then the full subgroup check.
        small: Point = point
        for _ in range(curve.cofactor.bit_length() - 1):  # cofactors are 2 and 4: one or two doublings
            small = ec.add(small, small)
        if x == 0 or small is None or ec.multiply_exact_order(point) is not None:
            raise InvalidKeyError(f"invalid {curve.name} public key: the point is not in the prime-order subgroup")
        return _PublicHandle(ec, point, octets)
