"""Compatibility entry point: ``from ipv8_service import IPv8``, as in the IPv8 documentation.

The implementation lives in :mod:`ipv8.service`; this module re-exports it. Run as a program,
``python -m ipv8_service [options]`` is the same as ``twistd --nodaemon --pidfile= ipv8 [options]``.

Joining the public IPv8 network
-------------------------------
``twistd -n ipv8`` (or ``IPv8(get_default_configuration()).start()``) starts a node with the default
configuration, which binds UDP port 8090 on all interfaces and **contacts the public IPv8 trackers on the
Internet** (see ``ipv8.configuration.DISPERSY_BOOTSTRAPPER``). Only do that on a machine that is meant to
be part of the public network. For experiments, run your own tracker and pass ``--bootstrap HOST:PORT``
(or use ``make run``, which starts a complete network on 127.0.0.1).
"""
from __future__ import annotations

from ipv8.configuration import ConfigBuilder, ConfigurationError, get_default_configuration
from ipv8.service import IPv8, IPv8Service, IPv8StartError

__all__ = ["ConfigBuilder", "ConfigurationError", "IPv8", "IPv8Service", "IPv8StartError",
           "get_default_configuration"]


def main(arguments: list[str]) -> None:
    """Run ``twistd`` in the foreground with the ``ipv8`` plugin and ``arguments`` as its options."""
    import sys

    from twisted.scripts.twistd import run

    sys.argv = [sys.argv[0], "--nodaemon", "--pidfile=", "ipv8", *arguments]
    run()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
