"""Optional capabilities that other components offer to the TunnelCommunity.

:class:`IRawDataSink` receives the datagrams that come back through our own circuits and are not IPv8
packets (answers from the internet to data we tunnelled out): the SOCKS5 front door's dispatcher
(:class:`~ipv8.messaging.anonymization.socks5.dispatcher.TunnelDispatcher`) is one. Register a sink with
:meth:`~ipv8.messaging.anonymization.community.TunnelCommunity.add_raw_data_sink`.
"""
from __future__ import annotations

from zope.interface import Interface


class IRawDataSink(Interface):
    """Receives non-IPv8 data arriving at the initiator's end of a circuit."""

    def on_raw_data(circuit, origin, data):  # noqa: N805 - zope interface signature
        """
        Take ``data`` that came back through ``circuit`` from ``origin``, or decline it.

        Called on the reactor thread for every such datagram, so it must be quick and must not block. Sinks are
        asked in the order they were added; the first that claims the datagram ends the search.

        :param circuit: our :class:`~ipv8.messaging.anonymization.tunnel.Circuit` the data arrived on.
        :param origin: the address the exit received the datagram from (a
            :class:`~ipv8.messaging.addresses.UDPv4Address` or :class:`~ipv8.messaging.addresses.UDPv6Address`).
        :param data: the datagram, as the exit received it.
        :returns: True if this sink is responsible for the circuit (even if it then dropped the datagram, which it
            counts itself); False to let the next sink try. Data no sink claims is counted by the community as
            ``DROP_TUNNEL_UNCLAIMED_DATA``.
        """


__all__ = ["IRawDataSink"]
