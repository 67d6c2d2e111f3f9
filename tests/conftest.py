"""Suite-wide pytest configuration: every test runs behind the network guard.

The guard (:mod:`ipv8.test.netguard`) is installed before collection and stays installed for the whole
session. Any attempt to reach a non-loopback address raises in the offending code and is recorded; a
recorded attempt fails the test during which it happened, even if some library swallowed the error.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from ipv8.test import netguard


def pytest_configure(config: pytest.Config) -> None:
    """Guard the process before any test module is imported."""
    netguard.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave the interpreter as we found it."""
    netguard.uninstall()


def _fail_on_violations(when: str) -> None:
    found = netguard.take_violations()
    if found:
        pytest.fail(f"{when}:\n{netguard.format_violations(found)}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Turn violations recorded while the test body ran into a failure of the test itself."""
    result = yield
    _fail_on_violations("the test tried to leave the loopback network")
    return result


@pytest.fixture(autouse=True)
def network_guard() -> Iterator[netguard.NetGuard]:
    """Make sure the guard is active for this test and report violations from its fixtures."""
    netguard.install()  # no-op unless something uninstalled it
    _fail_on_violations("an earlier test or callback tried to leave the loopback network")
    yield netguard.GUARD
    _fail_on_violations("a fixture or late callback tried to leave the loopback network")
