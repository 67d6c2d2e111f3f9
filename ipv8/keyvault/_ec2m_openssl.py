"""ECDSA on the Dispersy binary curves through the system's OpenSSL ``libcrypto`` (via :mod:`ctypes`).

``cryptography`` 47 and later no longer expose binary curves, but the OpenSSL 3 ``libcrypto`` that
Debian and Ubuntu ship (package ``libssl3``, ``libssl3t64`` on newer releases) is built with them. This
module talks to that library directly with the classic ``EC_KEY``/``ECDSA_do_*`` calls, which take and
return plain integers, so all DER work stays in :mod:`ipv8.keyvault._legacy` and the bytes are exactly
what our own encoder writes.

OpenSSL picks the ECDSA nonces itself (from its CSPRNG, mixed with the private key), checks public keys
completely (on the curve, not infinity, ``order * Q`` is infinity) in ``EC_KEY_check_key``, and keeps
all secret arithmetic in constant-time code, which is why this backend is preferred over the pure-Python
one whenever the library has the curve.

Every failing OpenSSL call leaves entries in the thread's error queue, which is shared with anything
else in the process that uses the same ``libcrypto`` (Python's :mod:`ssl`, for instance); the queue is
therefore always cleared after a failure here.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ._ec2m_curves import BinaryCurve
from .exceptions import InvalidKeyError

__all__ = ["OpenSSLBackend", "load_backend"]

_POINT_CONVERSION_UNCOMPRESSED = 4
_MIN_OPENSSL = 0x10100000  # 1.1.0: ECDSA_SIG_get0/set0 and BN_bn2binpad exist from here on

_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "OpenSSL_version_num": (ctypes.c_ulong, []),
    "OBJ_sn2nid": (ctypes.c_int, [ctypes.c_char_p]),
    "ERR_clear_error": (None, []),
    "BN_bin2bn": (_P, [ctypes.c_char_p, ctypes.c_int, _P]),
    "BN_bn2binpad": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    "BN_free": (None, [_P]),
    "BN_clear_free": (None, [_P]),
    "EC_KEY_new_by_curve_name": (_P, [ctypes.c_int]),
    "EC_KEY_free": (None, [_P]),
    "EC_KEY_get0_group": (_P, [_P]),
    "EC_KEY_set_private_key": (ctypes.c_int, [_P, _P]),
    "EC_KEY_set_public_key": (ctypes.c_int, [_P, _P]),
    "EC_KEY_get0_public_key": (_P, [_P]),
    "EC_KEY_check_key": (ctypes.c_int, [_P]),
    "EC_POINT_new": (_P, [_P]),
    "EC_POINT_free": (None, [_P]),
    "EC_POINT_mul": (ctypes.c_int, [_P, _P, _P, _P, _P, _P]),
    "EC_POINT_oct2point": (ctypes.c_int, [_P, _P, ctypes.c_char_p, ctypes.c_size_t, _P]),
    "EC_POINT_point2oct": (ctypes.c_size_t, [_P, _P, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, _P]),
    "ECDSA_do_sign": (_P, [ctypes.c_char_p, ctypes.c_int, _P]),
    "ECDSA_do_verify": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_int, _P, _P]),
    "ECDSA_SIG_new": (_P, []),
    "ECDSA_SIG_free": (None, [_P]),
    "ECDSA_SIG_get0": (None, [_P, ctypes.POINTER(_P), ctypes.POINTER(_P)]),
    "ECDSA_SIG_set0": (ctypes.c_int, [_P, _P, _P]),
}


class _OpenSSLError(Exception):
    """An OpenSSL call failed (the error queue has been cleared)."""


class _Library:
    """The loaded ``libcrypto`` with typed function pointers."""

    def __init__(self, cdll: ctypes.CDLL, path: str) -> None:
        self.path = path
        for name, (restype, argtypes) in _SIGNATURES.items():
            function = getattr(cdll, name)  # AttributeError: not a usable libcrypto
            function.restype = restype
            function.argtypes = argtypes
            setattr(self, name, function)
        self.version = int(self.OpenSSL_version_num())
        self._nids: dict[str, int] = {}
        self._lock = threading.Lock()

    if TYPE_CHECKING:  # the C functions are set as attributes in __init__
        def __getattr__(self, name: str) -> Any: ...  # noqa: ANN401

    def fail(self, what: str) -> _OpenSSLError:
        self.ERR_clear_error()
        return _OpenSSLError(what)

    def nid(self, curve: BinaryCurve) -> int:
        with self._lock:
            nid = self._nids.get(curve.name)
            if nid is None:
                nid = self._nids[curve.name] = int(self.OBJ_sn2nid(curve.name.encode()))
        return nid

    def new_key(self, curve: BinaryCurve) -> int:
        """Return a fresh ``EC_KEY*`` on ``curve`` (the caller frees it)."""
        nid = self.nid(curve)
        handle = self.EC_KEY_new_by_curve_name(nid) if nid else None
        if not handle:
            raise self.fail(f"libcrypto has no curve {curve.name}")
        return int(handle)

    def bignum(self, value: int, length: int) -> int:
        raw = value.to_bytes(length, "big")
        handle = self.BN_bin2bn(raw, len(raw), None)
        if not handle:
            raise self.fail("BN_bin2bn failed")
        return int(handle)

    def bignum_value(self, handle: int, length: int) -> int:
        buffer = ctypes.create_string_buffer(length)
        if self.BN_bn2binpad(handle, buffer, length) != length:
            raise self.fail("BN_bn2binpad failed")
        return int.from_bytes(buffer.raw, "big")

    def public_octets(self, key: int, curve: BinaryCurve) -> bytes:
        group = self.EC_KEY_get0_group(key)
        point = self.EC_KEY_get0_public_key(key)
        length = 1 + 2 * curve.field_bytes
        buffer = ctypes.create_string_buffer(length)
        written = self.EC_POINT_point2oct(group, point, _POINT_CONVERSION_UNCOMPRESSED,
                                          buffer, length, None)
        if written != length:
            raise self.fail("EC_POINT_point2oct failed")
        return buffer.raw


def _free_key(library: _Library, handle: int) -> None:
    library.EC_KEY_free(handle)


class _Owned:
    """One ``EC_KEY*``, freed when the last handle that uses it goes away."""

    def __init__(self, library: _Library, handle: int) -> None:
        self.library = library
        self.handle = handle
        # Not at interpreter exit: the process is going away, and libcrypto may be shutting down too.
        weakref.finalize(self, _free_key, library, handle).atexit = False


class _PublicHandle:
    """A validated public point held as an OpenSSL ``EC_KEY``."""

    def __init__(self, owned: _Owned, curve: BinaryCurve, point: bytes) -> None:
        self._owned = owned
        self._curve = curve
        self.point = point

    def verify(self, digest: bytes, r: int, s: int) -> bool:
        """Return whether ``(r, s)`` (already range-checked by the caller) signs ``digest``."""
        library, order_bytes = self._owned.library, self._curve.order_bytes
        signature = library.ECDSA_SIG_new()
        if not signature:
            raise library.fail("ECDSA_SIG_new failed")
        try:
            big_r = library.bignum(r, order_bytes)
            try:
                big_s = library.bignum(s, order_bytes)
            except _OpenSSLError:
                library.BN_free(big_r)
                raise
            if library.ECDSA_SIG_set0(signature, big_r, big_s) != 1:
                library.BN_free(big_r)
                library.BN_free(big_s)
                raise library.fail("ECDSA_SIG_set0 failed")
            result = library.ECDSA_do_verify(digest, len(digest), signature,
                                             self._owned.handle)
        finally:
            library.ECDSA_SIG_free(signature)
        if result != 1:
            library.ERR_clear_error()
        return result == 1


class _PrivateHandle:
    """A private scalar (and its public point) held as an OpenSSL ``EC_KEY``."""

    def __init__(self, owned: _Owned, curve: BinaryCurve, point: bytes) -> None:
        self._owned = owned
        self._curve = curve
        self.point = point
        self.public = _PublicHandle(owned, curve, point)  # the same EC_KEY verifies too

    def sign(self, digest: bytes) -> tuple[int, int]:
        """Return ``(r, s)`` for ``digest``; OpenSSL draws the nonce."""
        library, order_bytes = self._owned.library, self._curve.order_bytes
        signature = library.ECDSA_do_sign(digest, len(digest), self._owned.handle)
        if not signature:
            raise library.fail("ECDSA_do_sign failed")
        try:
            big_r, big_s = _P(), _P()
            library.ECDSA_SIG_get0(signature, ctypes.byref(big_r), ctypes.byref(big_s))
            if not big_r.value or not big_s.value:
                raise library.fail("ECDSA_SIG_get0 returned no values")
            return library.bignum_value(big_r.value, order_bytes), library.bignum_value(big_s.value, order_bytes)
        finally:
            library.ECDSA_SIG_free(signature)


class OpenSSLBackend:
    """Binary-curve ECDSA through ``libcrypto``; see the module docstring."""

    name = "openssl"

    def __init__(self, library: _Library) -> None:
        self._library = library
        self._supported: dict[str, bool] = {}

    @property
    def description(self) -> str:
        """Say which library this is, for error messages and benchmarks."""
        version = self._library.version
        return (f"OpenSSL {version >> 28}.{(version >> 20) & 0xFF}.{(version >> 4) & 0xFF} "
                f"libcrypto ({self._library.path})")

    def supports(self, curve: BinaryCurve) -> bool:
        """Return whether this ``libcrypto`` was built with ``curve`` (some builds drop binary curves)."""
        known = self._supported.get(curve.name)
        if known is None:
            try:
                handle = self._library.new_key(curve)
            except _OpenSSLError:
                known = False
            else:
                self._library.EC_KEY_free(handle)
                known = True
            self._supported[curve.name] = known
        return known

    def private_handle(self, curve: BinaryCurve, secret: int) -> _PrivateHandle:
        """Wrap the scalar ``secret`` (1 <= secret < order, checked by the caller) and derive its point."""
        library = self._library
        handle = library.new_key(curve)
        try:
            big = library.bignum(secret, curve.order_bytes)
            try:
                public = library.EC_POINT_new(library.EC_KEY_get0_group(handle))
                if not public:
                    raise library.fail("EC_POINT_new failed")
                try:
                    ok = (library.EC_POINT_mul(library.EC_KEY_get0_group(handle),
                                               public, big, None, None, None) == 1
                          and library.EC_KEY_set_private_key(handle, big) == 1
                          and library.EC_KEY_set_public_key(handle, public) == 1
                          and library.EC_KEY_check_key(handle) == 1)
                finally:
                    library.EC_POINT_free(public)
            finally:
                library.BN_clear_free(big)
            if not ok:
                raise library.fail(f"OpenSSL rejected the {curve.name} private key")
            point = library.public_octets(handle, curve)
        except _OpenSSLError as exc:
            library.EC_KEY_free(handle)
            raise InvalidKeyError(f"invalid {curve.name} private key: {exc}") from None
        return _PrivateHandle(_Owned(library, handle), curve, point)

    def public_handle(self, curve: BinaryCurve, point: bytes) -> _PublicHandle:
        """Load an uncompressed point, refusing anything off the curve or outside the prime-order subgroup."""
        library = self._library
        handle = library.new_key(curve)
        try:
            group = library.EC_KEY_get0_group(handle)
            public = library.EC_POINT_new(group)
            if not public:
                raise library.fail("EC_POINT_new failed")
            try:
                ok = (library.EC_POINT_oct2point(group, public, point, len(point), None) == 1
                      and library.EC_KEY_set_public_key(handle, public) == 1)
            finally:
                library.EC_POINT_free(public)
            # EC_KEY_check_key: not infinity, on the curve, and order * Q is infinity (subgroup check).
            if not ok or library.EC_KEY_check_key(handle) != 1:
                raise library.fail(f"the point is not a valid {curve.name} public key")
            if library.public_octets(handle, curve) != point:
                raise library.fail("the point does not round-trip")
        except _OpenSSLError as exc:
            library.EC_KEY_free(handle)
            raise InvalidKeyError(f"invalid {curve.name} public key: {exc}") from None
        return _PublicHandle(_Owned(library, handle), curve, point)


def _candidates() -> list[str]:
    """Library names to try, most specific first."""
    if sys.platform == "darwin":
        # Loading the unversioned /usr/lib/libcrypto.dylib aborts the process on macOS: versioned names only.
        return ["libcrypto.3.dylib"]
    found = ctypes.util.find_library("crypto")
    return [name for name in (found, "libcrypto.so.3", "libcrypto.so.1.1") if name]


def load_backend() -> OpenSSLBackend | None:
    """Return a backend over the system ``libcrypto``, or ``None`` when there is no usable one."""
    for path in dict.fromkeys(_candidates()):
        try:
            library = _Library(ctypes.CDLL(path), path)
        except (OSError, AttributeError):
            continue
        if library.version >= _MIN_OPENSSL:
            return OpenSSLBackend(library)
    return None
