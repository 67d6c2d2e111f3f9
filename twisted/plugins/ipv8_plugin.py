"""twistd plugin: ``twistd -n ipv8 [options]`` runs an IPv8 node (see ``ipv8.scripts.ipv8_plugin``).

twistd imports every plugin module just to list them, so this module stays tiny and the node is only
built when the ``ipv8`` command is actually used.
"""
from ipv8.scripts.ipv8_plugin import IPv8ServiceMaker

serviceMaker = IPv8ServiceMaker()
