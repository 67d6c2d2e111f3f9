"""TLS for the REST API: turn what the caller hands to ``RESTManager.start`` into a Twisted TLS layer.

Accepted, in the order they are tried:

* a path (``str`` or ``os.PathLike``) or ``cert_file=``: a PEM file with the certificate *and* its private
  key, as made by the ``openssl req ... ; cat private.key >> certfile.pem`` recipe of the IPv8 documentation;
* a standard library :class:`ssl.SSLContext` with a certificate chain loaded (the form py-ipv8's
  documentation shows). Twisted's TLS is built on pyOpenSSL, so such a context is driven through memory
  BIOs by :class:`StdlibTLSProtocol`;
* a pyOpenSSL ``OpenSSL.SSL.Context``;
* any Twisted server context factory: an object with ``getContext()`` (such as
  :class:`twisted.internet.ssl.CertificateOptions`) or a provider of ``IOpenSSLServerConnectionCreator``.
"""
from __future__ import annotations

import logging
import os
import ssl
import warnings
from typing import Any, Callable

from OpenSSL import SSL, crypto
from twisted.internet.error import VerifyError
from twisted.internet.interfaces import IOpenSSLContextFactory, IOpenSSLServerConnectionCreator, ISSLTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import CertificateOptions, PrivateCertificate
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import directlyProvides, implementer, providedBy

logger = logging.getLogger(__name__)

#: Wraps the HTTP factory in a TLS layer.
TLSWrapper = Callable[[Factory], Factory]
_READ_SIZE = 65536


def load_certificate_file(cert_file: str | os.PathLike) -> CertificateOptions:
    """
    Read a PEM file holding a certificate and its private key into Twisted server TLS options.

    :raises OSError: if the file cannot be read.
    :raises ValueError: if it does not hold a certificate with its matching private key.
    """
    with open(cert_file, "rb") as handle:
        data = handle.read()
    try:
        options = PrivateCertificate.loadPEM(data).options()
        with warnings.catch_warnings():
            # Twisted hands pyOpenSSL objects to pyOpenSSL, which now prefers cryptography objects.
            warnings.simplefilter("ignore", DeprecationWarning)
            options.getContext()  # builds (and caches) the context now, so a bad file fails start()
    except (crypto.Error, SSL.Error, VerifyError, ValueError) as exc:
        raise ValueError(f"{os.fspath(cert_file)!r} must hold a PEM certificate and its private key ({exc})") from None
    return options


@implementer(IOpenSSLContextFactory)
class _FixedContext:
    """A server context factory that always hands out one ready pyOpenSSL context."""

    def __init__(self, context: SSL.Context) -> None:
        self.context = context

    def getContext(self) -> SSL.Context:  # noqa: N802 - Twisted's name
        return self.context


def tls_wrapper(ssl_context: Any = None,  # noqa: ANN401
                cert_file: str | os.PathLike | None = None) -> TLSWrapper | None:
    """
    The TLS layer for ``ssl_context``/``cert_file`` (see the module documentation), or None for plain HTTP.

    :raises ValueError: if both are given, or the certificate file or context is unusable.
    :raises TypeError: if ``ssl_context`` is of a kind this module does not know.
    :raises OSError: if ``cert_file`` cannot be read.
    """
    if ssl_context is not None and cert_file is not None:
        raise ValueError("pass either ssl_context or cert_file, not both")
    if isinstance(ssl_context, (str, os.PathLike)):
        ssl_context, cert_file = None, ssl_context
    if cert_file is not None:
        options = load_certificate_file(cert_file)
        return lambda factory: TLSMemoryBIOFactory(options, False, factory)
    if ssl_context is None:
        return None
    if isinstance(ssl_context, ssl.SSLContext):
        context = ssl_context
        try:
            context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
        except (ValueError, ssl.SSLError) as exc:
            raise ValueError(f"this ssl.SSLContext cannot serve TLS connections: {exc}") from None
        return lambda factory: StdlibTLSFactory(context, factory)
    if isinstance(ssl_context, SSL.Context):
        fixed = _FixedContext(ssl_context)
        return lambda factory: TLSMemoryBIOFactory(fixed, False, factory)
    if hasattr(ssl_context, "getContext") or IOpenSSLServerConnectionCreator.providedBy(ssl_context):
        creator = ssl_context
        return lambda factory: TLSMemoryBIOFactory(creator, False, factory)
    raise TypeError(f"cannot use a {type(ssl_context).__name__} as ssl_context: pass an ssl.SSLContext, a PEM file "
                    f"path, a pyOpenSSL Context or a Twisted context factory")


class StdlibTLSProtocol(ProtocolWrapper):
    """
    Server-side TLS through a standard library :class:`ssl.SSLContext`, for one connection.

    Encrypted bytes from the network go into an incoming memory BIO; the ``SSLObject`` decrypts them for the
    wrapped (HTTP) protocol, and whatever it has to send ends up in an outgoing BIO that is flushed to the
    TCP transport. Application data written before the handshake is complete waits in a buffer.
    """

    factory: StdlibTLSFactory

    def __init__(self, factory: StdlibTLSFactory, wrapped: Any) -> None:  # noqa: ANN401
        """Prepare the TLS state for one connection of ``factory``."""
        super().__init__(factory, wrapped)
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = factory.context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._handshake_done = False
        self._early_writes: list[bytes] = []
        self._closing = False

    def makeConnection(self, transport: Any) -> None:  # noqa: ANN401, N802 - Twisted's name
        """Connect and advertise that this transport is encrypted (``request.isSecure()`` is then true)."""
        directlyProvides(self, providedBy(transport), ISSLTransport)
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(self)

    def getPeerCertificate(self) -> None:  # noqa: N802 - Twisted's name
        """Client certificates are not requested, so there is none."""
        return None

    # network -> application

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
        """Decrypt ``data`` (finishing the handshake first) and pass the plaintext on."""
        self._incoming.write(data)
        if not self._handshake_done and not self._advance_handshake():
            return
        while self.wrappedProtocol is not None:
            try:
                plaintext = self._tls.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # the client said goodbye (close_notify)
                self._flush()
                self.loseConnection()
                return
            except (ssl.SSLError, OSError) as exc:
                self._abort(exc)
                return
            if not plaintext:
                break
            self.wrappedProtocol.dataReceived(plaintext)
        self._flush()

    def _advance_handshake(self) -> bool:
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except (ssl.SSLError, OSError) as exc:
            self._abort(exc)
            return False
        self._handshake_done = True
        self._flush()
        early, self._early_writes = self._early_writes, []
        for chunk in early:
            self._encrypt(chunk)
        if self._closing:
            self._close_tls()
            return False
        return True

    # application -> network

    def write(self, data: bytes) -> None:
        """Encrypt and send ``data`` (after the handshake, if it is still going on)."""
        if not data or (self._closing and self._handshake_done):
            return  # like TCP, writes after loseConnection are dropped
        if self._handshake_done:
            self._encrypt(data)
        else:
            self._early_writes.append(bytes(data))

    def writeSequence(self, data: list[bytes]) -> None:  # noqa: N802 - Twisted's name
        """Encrypt and send the concatenation of ``data``."""
        self.write(b"".join(data))

    def loseConnection(self) -> None:  # noqa: N802 - Twisted's name
        """Send what is buffered and a TLS close_notify, then close the TCP connection."""
        if self._closing:
            return
        self._closing = True
        self.disconnecting = 1
        if self._handshake_done:
            self._close_tls()
        elif not self._early_writes:
            self.transport.loseConnection()
        # otherwise: the handshake completes first, then _advance_handshake closes

    def _encrypt(self, data: bytes) -> None:
        try:
            self._tls.write(data)
        except (ssl.SSLError, OSError) as exc:
            self._abort(exc)
            return
        self._flush()

    def _close_tls(self) -> None:
        try:
            self._tls.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLError, OSError):
            pass  # our close_notify is out; the peer's answer is not worth waiting for
        self._flush()
        self.transport.loseConnection()

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self.transport.write(pending)

    def _abort(self, exc: BaseException) -> None:
        logger.debug("TLS connection from %s failed: %s", self.transport.getPeer(), exc)
        self._flush()
        self.transport.abortConnection()


class StdlibTLSFactory(WrappingFactory):
    """Wraps every connection of ``wrapped_factory`` in a :class:`StdlibTLSProtocol` using ``context``."""

    protocol = StdlibTLSProtocol

    def __init__(self, context: ssl.SSLContext, wrapped_factory: Factory) -> None:
        """Serve ``wrapped_factory`` over TLS with ``context``."""
        super().__init__(wrapped_factory)
        self.context = context


__all__ = ["StdlibTLSFactory", "StdlibTLSProtocol", "TLSWrapper", "load_certificate_file", "tls_wrapper"]
