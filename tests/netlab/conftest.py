"""Fixtures of the NAT lab: labs that are always torn down, and a check that no namespace outlives the suite."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from .lab import LabError, NetLab, list_namespaces, missing_prerequisites, remove_stale_namespaces, tear_down_all


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``netlab`` marker (select with ``-m netlab``, skip with ``-m 'not netlab'``)."""
    config.addinivalue_line("markers", "netlab: NAT-traversal tests in Linux network namespaces (root only)")


@pytest.fixture(scope="session")
def lab_session() -> Iterator[None]:
    """Once per session: clean up after crashed earlier runs; at the end, make sure nothing is left."""
    problem = missing_prerequisites()
    if problem is not None:
        pytest.skip(problem)
    remove_stale_namespaces()
    yield
    tear_down_all()


@pytest.fixture
def make_lab(lab_session: None, request: pytest.FixtureRequest) -> Iterator[Callable[..., NetLab]]:
    """
    A factory for labs that are up when returned; every lab it made is torn down after the test, whatever
    happened, and the test fails if one of its namespaces survived the teardown.

    With ``TXIPV8_NETLAB_TRACE=DIR`` in the environment, every process's events are saved as
    ``DIR/<test>.json`` (that is how RESULTS.md was written).
    """
    labs: list[NetLab] = []

    def factory(nat_a: str = "masq", nat_b: str = "masq") -> NetLab:
        lab = NetLab(nat_a, nat_b)
        labs.append(lab)
        try:
            lab.up()
        except LabError as exc:
            if not lab.created:  # not even one namespace: this machine does not let us make them
                pytest.skip(f"cannot create network namespaces here: {exc}")
            raise
        return lab

    yield factory
    for lab in labs:
        lab.down()
    trace_dir = os.environ.get("TXIPV8_NETLAB_TRACE")
    if trace_dir and labs:
        Path(trace_dir).mkdir(parents=True, exist_ok=True)
        trace = {process.name: process.events for lab in labs for process in lab.processes}
        (Path(trace_dir) / f"{request.node.name}.json").write_text(json.dumps(trace, indent=1))
    leftovers = [name for lab in labs for name in list_namespaces() if name.startswith(lab.tag + "-")]
    assert not leftovers, f"namespaces survived the teardown: {leftovers}"
