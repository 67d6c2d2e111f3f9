"""Hostile-peer tests: well-formed, validly signed floods against a node that has verified peers.

Each test names the finding of the discovery-hardening issue it covers ("Finding N" in its docstring,
numbered as in the issue's contract: 1 similarity flood, 2 walkable set, 3 unusable addresses, 4 WAN
estimate, replays and rate limits, 5 the node still works afterwards). The forging helpers live in
:mod:`tests.hostile.attacker`.
"""
