"""What the SOCKS5 front door expects from the circuit side, and what it reports.

The SOCKS layer only speaks RFC 1928; where a client's datagrams go is decided by a *sink*, normally the
:class:`~ipv8.messaging.anonymization.socks5.dispatcher.TunnelDispatcher`, which puts them on the circuits of a
TunnelCommunity. The sink provides :class:`ISocksDatagramSink`; if it also provides
:class:`ISocksAssociationObserver` it is told when associations come and go, so it can attach circuits to them
and forget them again. Traffic coming back from the circuits is handed to the client with
:meth:`~ipv8.messaging.anonymization.socks5.udp_connection.Socks5UDPConnection.send_datagram`.
"""
from __future__ import annotations

from zope.interface import Attribute, Interface


class ISocksDatagramSink(Interface):
    """Receives the datagrams SOCKS5 clients ask to have relayed."""

    def on_socks5_udp_data(udp_connection, destination, data):  # noqa: N805 - zope interface signature
        """
        Relay ``data`` to ``destination`` on behalf of the client of ``udp_connection``.

        Called on the reactor thread for every well-formed, unfragmented datagram the client sends; it must
        not block. Answers go back with ``udp_connection.send_datagram(source, data)``.

        :param udp_connection: the association
            (:class:`~ipv8.messaging.anonymization.socks5.udp_connection.Socks5UDPConnection`); its ``hops``
            is the circuit length the server was configured with, and it is a stable key for per-client
            state until the association closes.
        :param destination: a :class:`~ipv8.messaging.addresses.UDPv4Address`,
            :class:`~ipv8.messaging.addresses.UDPv6Address` or :class:`~ipv8.messaging.addresses.DomainAddress`
            (a host name exactly as the client sent it, never resolved by the SOCKS layer).
        :param data: the datagram's payload, without the SOCKS5 header.
        :returns: ``False`` if the datagram was dropped (counted by the server as ``rejected_by_sink``);
            anything else counts as accepted.
        """


class ISocksAssociationObserver(Interface):
    """Optional for a sink: told when UDP associations open and close."""

    def on_socks5_association_opened(udp_connection):  # noqa: N805 - zope interface signature
        """A client completed UDP ASSOCIATE; ``udp_connection`` is listening."""

    def on_socks5_association_closed(udp_connection):  # noqa: N805 - zope interface signature
        """The association ended (its TCP control connection closed, or the server stopped)."""


class ISocksUDPConnection(Interface):
    """The side of an association a sink uses."""

    hops = Attribute("The circuit length configured on the server this association belongs to (opaque here).")
    client_address = Attribute("The client's UDP (host, port) once known, else None.")

    def send_datagram(source, data):  # noqa: N805 - zope interface signature
        """Send ``data`` to the client as coming from ``source`` (an address tuple); True if it went out."""


class Socks5Statistics:
    """
    Counters of a SOCKS5 server (or of one association): events, traffic, and drops per reason.

    Drop reasons are short strings, e.g. ``bad_version``, ``handshake_timeout``, ``connection_cap``,
    ``association_cap``, ``fragment``, ``foreign_source``, ``malformed_datagram``, ``bad_domain``,
    ``bad_destination``, ``no_sink``, ``rejected_by_sink``, ``sink_error``, ``no_client``, ``send_error``.
    """

    __slots__ = ("associations_opened", "bytes_to_client", "bytes_to_sink", "connections_accepted",
                 "datagrams_to_client", "datagrams_to_sink", "drops")

    def __init__(self) -> None:
        """Start with every count at zero."""
        self.connections_accepted = 0
        self.associations_opened = 0
        self.datagrams_to_sink = 0
        self.bytes_to_sink = 0
        self.datagrams_to_client = 0
        self.bytes_to_client = 0
        self.drops: dict[str, int] = {}

    def drop(self, reason: str) -> None:
        """Count one thing (a connection, a message, a datagram) thrown away for ``reason``."""
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def add(self, other: Socks5Statistics) -> None:
        """Add ``other``'s traffic and drops to these counters (a closed association's, into the total)."""
        self.datagrams_to_sink += other.datagrams_to_sink
        self.bytes_to_sink += other.bytes_to_sink
        self.datagrams_to_client += other.datagrams_to_client
        self.bytes_to_client += other.bytes_to_client
        for reason, count in other.drops.items():
            self.drops[reason] = self.drops.get(reason, 0) + count

    def as_dict(self) -> dict[str, object]:
        """A plain snapshot, for logs or a REST answer."""
        return {
            "connections_accepted": self.connections_accepted,
            "associations_opened": self.associations_opened,
            "datagrams_to_sink": self.datagrams_to_sink,
            "bytes_to_sink": self.bytes_to_sink,
            "datagrams_to_client": self.datagrams_to_client,
            "bytes_to_client": self.bytes_to_client,
            "drops": dict(self.drops),
        }


__all__ = ["ISocksAssociationObserver", "ISocksDatagramSink", "ISocksUDPConnection", "Socks5Statistics"]
