"""
Driver scripts for pyipv8 3.2.1 reference peers.

They import *pyipv8* (which is also called ``ipv8``), so they are started as subprocesses of the
reference interpreter (``.venv-ref/bin/python``) and must never be imported by the txipv8 test process.
"""
