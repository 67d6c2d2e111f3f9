"""
``twistd tracker``: run an IPv8 tracker (bootstrap server).

Example: ``twistd -n --pidfile= tracker --listen_port=6421``. The protocol lives in :mod:`ipv8.tracker`, the
service and its options in :mod:`ipv8.scripts.tracker_plugin`; this module only tells twistd about them, and
stays tiny because twistd imports every plugin module just to list them. (This directory is Twisted's plugin
namespace: it must not get an ``__init__.py``.)
"""
from __future__ import annotations

from ipv8.scripts.tracker_plugin import TrackerOptions, TrackerServiceMaker


class Options(TrackerOptions):
    """``--listen_port`` (required) and ``--listen_ip`` (default 0.0.0.0)."""


class _ServiceMaker(TrackerServiceMaker):
    options = Options


service_maker = _ServiceMaker()
