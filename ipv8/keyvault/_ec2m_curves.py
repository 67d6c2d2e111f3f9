"""Domain parameters of the binary (GF(2^m)) curves used by Dispersy-era IPv8 keys.

The values are the SEC 2 / FIPS 186 parameters (as printed by ``openssl ecparam -param_enc explicit``).
The pure-Python backend computes with them; the OpenSSL backend only needs the sizes. The test suite
checks that the generator lies on each curve, has the stated order, and that both backends agree.

Curves have the form ``y^2 + x*y = x^3 + a*x^2 + b`` over GF(2^m) with the reduction polynomial
``x^m + sum(x^k for k in terms)``.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BinaryCurve:
    """One named binary curve and the IPv8 security level that uses it."""

    name: str
    oid: bytes  # DER content octets of the named-curve OID (1.3.132.0.x)
    level: str
    m: int  # field degree, also the "key size" the signature length is derived from
    terms: tuple[int, ...]  # exponents of the reduction polynomial below m (0 included)
    a: int
    b: int
    gx: int
    gy: int
    order: int
    cofactor: int

    @property
    def bits(self) -> int:
        """The key size in bits (the field degree)."""
        return self.m

    @property
    def field_bytes(self) -> int:
        """Bytes of one coordinate in an octet-string point."""
        return (self.m + 7) // 8

    @property
    def order_bytes(self) -> int:
        """Bytes of the private scalar in an ``ECPrivateKey`` (OpenSSL pads it to the order's size)."""
        return (self.order.bit_length() + 7) // 8

    @property
    def signature_length(self) -> int:
        """r and s, each padded to the byte length of the key size: 42, 60, 104 or 144."""
        return 2 * self.field_bytes

    @property
    def polynomial(self) -> int:
        """The reduction polynomial as an integer bit mask."""
        value = 1 << self.m
        for term in self.terms:
            value |= 1 << term
        return value


_SECG = bytes.fromhex("2b810400")  # 1.3.132.0


def _hex(*parts: str) -> int:
    return int("".join(parts), 16)


CURVES: tuple[BinaryCurve, ...] = (
    BinaryCurve(
        "sect163k1", _SECG + b"\x01", "very-low", 163, (7, 6, 3, 0), 0x1,
        0x1,
        0x2FE13C0537BBC11ACAA07D793DE4E6D5E5C94EEE8,
        0x289070FB05D38FF58321F2E800536D538CCDAA3D9,
        0x4000000000000000000020108A2E0CC0D99F8A5EF,
        2),
    BinaryCurve(
        "sect233k1", _SECG + b"\x1a", "low", 233, (74, 0), 0x0,
        0x1,
        0x17232BA853A7E731AF129F22FF4149563A419C26BF50A4C9D6EEFAD6126,
        0x1DB537DECE819B7F70F555A67C427A8CD9BF18AEB9B56E0C11056FAE6A3,
        0x8000000000000000000000000000069D5BB915BCD46EFB1AD5F173ABDF,
        4),
    BinaryCurve(
        "sect409k1", _SECG + b"\x24", "medium", 409, (87, 0), 0x0,
        0x1,
        _hex("60F05F658F49C1AD3AB1890F7184210EFD0987E307C84C27ACCFB8F9F67CC2C460189EB5AAAA62EE222EB1B35540CFE9"
             "023746"),
        _hex("1E369050B7C4E42ACBA1DACBF04299C3460782F918EA427E6325165E9EA10E3DA5F6C42E9C55215AA9CA27A5863EC48D"
             "8E0286B"),
        _hex("7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE5F83B2D4EA20400EC4557D5ED3E3E7CA5B4B5C83B8E0"
             "1E5FCF"),
        4),
    BinaryCurve(
        "sect571r1", _SECG + b"\x27", "high", 571, (10, 5, 2, 0), 0x1,
        _hex("2F40E7E2221F295DE297117B7F3D62F5C6A97FFCB8CEFF1CD6BA8CE4A9A18AD84FFABBD8EFA59332BE7AD6756A66E294"
             "AFD185A78FF12AA520E4DE739BACA0C7FFEFF7F2955727A"),
        _hex("303001D34B856296C16C0D40D3CD7750A93D1D2955FA80AA5F40FC8DB7B2ABDBDE53950F4C0D293CDD711A35B67FB149"
             "9AE60038614F1394ABFA3B4C850D927E1E7769C8EEC2D19"),
        _hex("37BF27342DA639B6DCCFFFEB73D69D78C6C27A6009CBBCA1980F8533921E8A684423E43BAB08A576291AF8F461BB2A8B"
             "3531D2F0485C19B16E2F1516E23DD3C1A4827AF1B8AC15B"),
        _hex("3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE661CE18FF55987308059B186"
             "823851EC7DD9CA1161DE93D5174D66E8382E9BB2FE84E47"),
        2),
    # pyipv8 3.x generates its "high" keys on sect571k1; they must load and verify too.
    BinaryCurve(
        "sect571k1", _SECG + b"\x26", "high", 571, (10, 5, 2, 0), 0x0,
        0x1,
        _hex("26EB7A859923FBC82189631F8103FE4AC9CA2970012D5D46024804801841CA44370958493B205E647DA304DB4CEB08CB"
             "BD1BA39494776FB988B47174DCA88C7E2945283A01C8972"),
        _hex("349DC807F4FBF374F4AEADE3BCA95314DD58CEC9F307A54FFC61EFC006D8A2C9D4979C0AC44AEA74FBEBBB9F772AEDCB"
             "620B01A7BA7AF1B320430C8591984F601CD4C143EF1C7A3"),
        _hex("20000000000000000000000000000000000000000000000000000000000000000000000131850E1F19A63E4B391A8DB9"
             "17F4138B630D84BE5D639381E91DEB45CFE778F637C1001"),
        4),
)
