"""
``twistd tracker``: run an IPv8 tracker (bootstrap server).

Example: ``twistd -n --pidfile= tracker --listen_port=6421``. The service itself lives in :mod:`ipv8.tracker`;
this module only tells twistd about it. (This directory is Twisted's plugin namespace: it must not get an
``__init__.py``.)
"""
from __future__ import annotations

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin
from zope.interface import implementer

from ipv8.tracker import TrackerOptions, TrackerService, make_service


class Options(TrackerOptions):
    """``--listen_port`` (required) and ``--listen_ip`` (default 0.0.0.0)."""


@implementer(IServiceMaker, IPlugin)
class TrackerServiceMaker:
    """Makes the :class:`~ipv8.tracker.TrackerService` that ``twistd tracker`` runs."""

    tapname = "tracker"
    description = "IPv8 tracker: introduces peers of any community to each other."
    options = Options

    def makeService(self, options: Options) -> TrackerService:  # noqa: N802 - Twisted's name
        """Build the tracker service from the parsed command line."""
        return make_service(options)


service_maker = TrackerServiceMaker()
