"""The NAT lab's own helpers, checked without root: conntrack parsing, prerequisites, namespace naming."""
from __future__ import annotations

import os

import pytest

from . import lab as lab_module
from .lab import NAMESPACE_PREFIX, NetLab, missing_prerequisites, parse_conntrack

# Two lines as conntrack 1.4.7 prints them with ``-o ktimestamp,id`` (taken from a lab run).
CONNTRACK_OUTPUT = (
    "udp      17 2 src=10.99.1.2 dst=10.99.0.2 sport=35104 dport=37218 src=10.99.0.2 dst=10.99.0.1 sport=37218 "
    "dport=35104 [ASSURED] mark=0 delta-time=9 [start=Sat Nov 21 06:08:04 2026] use=1 id=1496071425\n"
    "udp      17 29 src=10.99.2.2 dst=10.99.0.1 sport=44582 dport=44500 [UNREPLIED] src=10.99.0.1 dst=10.99.0.2 "
    "sport=44500 dport=42910 mark=0 delta-time=0 [start=Sat Nov 21 06:08:13 2026] use=1 id=3853310163\n"
    "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.\n"
)


def test_conntrack_lines_become_flows() -> None:
    assured, unreplied = parse_conntrack(CONNTRACK_OUTPUT)
    assert assured.original == ("10.99.1.2", "10.99.0.2", 35104, 37218)
    assert assured.reply == ("10.99.0.2", "10.99.0.1", 37218, 35104)
    assert (assured.timeout, assured.age, assured.entry_id) == (2, 9, "1496071425")
    assert assured.flags == {"ASSURED"}  # the bracketed start date is not a flag
    # A symmetric NAT's flow: the public port (where replies must go) differs from the host's port.
    assert unreplied.flags == {"UNREPLIED"} and unreplied.public_port == 42910
    assert unreplied.original[2] == 44582


def test_lines_without_two_tuples_are_ignored() -> None:
    assert parse_conntrack("tcp 6 10 src=1.2.3.4\nudp 17 5 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2\n") == []


def test_lab_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_module.sys, "platform", "linux")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in str(missing_prerequisites())


def test_lab_needs_iptables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_module.sys, "platform", "linux")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(lab_module.shutil, "which", lambda tool: None if tool == "iptables" else f"/bin/{tool}")
    assert "iptables" in str(missing_prerequisites())


def test_namespace_names_are_unique_and_name_their_creator() -> None:
    first, second = NetLab(), NetLab()
    try:
        assert first.tag != second.tag
        assert first.ns("natA").startswith(f"{NAMESPACE_PREFIX}{os.getpid()}x")
        assert lab_module._NAME_PATTERN.match(first.ns("hostB"))
        with pytest.raises(ValueError, match="unknown NAT mode"):
            NetLab(nat_b="cone")
    finally:
        first.down()  # never brought up: only removes the log directory
        second.down()
