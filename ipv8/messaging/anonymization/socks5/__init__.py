"""A SOCKS5 front door to the tunnels (RFC 1928, UDP ASSOCIATE), so programs in any language can use them.

* :mod:`~ipv8.messaging.anonymization.socks5.server`: :class:`Socks5Server` and :class:`Socks5Settings`
  (with a usage guide in its module documentation);
* :mod:`~ipv8.messaging.anonymization.socks5.connection`: the TCP control connection's state machine;
* :mod:`~ipv8.messaging.anonymization.socks5.udp_connection`: the per-association UDP relay;
* :mod:`~ipv8.messaging.anonymization.socks5.interfaces`: what the circuit side implements
  (:class:`ISocksDatagramSink`, optionally :class:`ISocksAssociationObserver`);
* :mod:`~ipv8.messaging.anonymization.socks5.messages`: the wire structures;
* :mod:`~ipv8.messaging.anonymization.socks5.client`: a small client for tests, benchmarks and scripts;
* :mod:`~ipv8.messaging.anonymization.socks5.dispatcher`: :class:`TunnelDispatcher`, which maps the associations
  onto a TunnelCommunity's circuits and back, and :func:`start_socks5_servers` to open the front door on loopback.
"""
from .client import Socks5Client, Socks5ClientError
from .connection import ConnectionState, Socks5Connection
from .dispatcher import (
    DispatcherSettings,
    DispatcherStatistics,
    Socks5FrontDoor,
    TunnelDispatcher,
    start_socks5_servers,
)
from .interfaces import ISocksAssociationObserver, ISocksDatagramSink, ISocksUDPConnection, Socks5Statistics
from .server import Socks5ConfigurationError, Socks5Server, Socks5Settings
from .udp_connection import Socks5UDPConnection

__all__ = [
    "ConnectionState", "DispatcherSettings", "DispatcherStatistics", "ISocksAssociationObserver",
    "ISocksDatagramSink", "ISocksUDPConnection", "Socks5Client", "Socks5ClientError", "Socks5ConfigurationError",
    "Socks5Connection", "Socks5FrontDoor", "Socks5Server", "Socks5Settings", "Socks5Statistics",
    "Socks5UDPConnection", "TunnelDispatcher", "start_socks5_servers",
]
