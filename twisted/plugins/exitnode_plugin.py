"""
``twistd exitnode``: run an IPv8 exit node (relays circuits and exits IPv8 traffic for others).

Example on a private network: ``twistd -n exitnode --ip 127.0.0.1 --bootstrap 127.0.0.1:6421``. Exiting
traffic for strangers can have legal consequences for whoever runs the node: read
:mod:`ipv8.scripts.exitnode_plugin` (which holds the options and the service) before running one. This module
only tells twistd about it and stays tiny, because twistd imports every plugin module just to list them.
"""
from ipv8.scripts.exitnode_plugin import ExitNodeServiceMaker

serviceMaker = ExitNodeServiceMaker()
