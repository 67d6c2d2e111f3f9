"""Suite-wide pytest configuration: every test runs behind the network guard, and CI runs every suite.

The guard (:mod:`ipv8.test.netguard`) is installed before collection and stays installed for the whole
session. Any attempt to reach a non-loopback address raises in the offending code and is recorded; a
recorded attempt fails the test during which it happened, even if some library swallowed the error.

Some suites need things a developer machine may lack (the pyipv8 reference interpreter, network namespaces,
an old ``cryptography``, a browser); there they skip and say why (``make test`` shows the reasons, ``-ra``).
In CI (the environment variable ``CI`` is ``true``, as CI services set it) a skip in one of
:data:`CI_REQUIRED_SUITES` is turned into a failure: a green CI run means those suites really ran.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from ipv8.test import netguard

#: Paths (relative to the repository root) whose skipped tests fail the run when ``CI=true``.
CI_REQUIRED_SUITES = (
    "tests/interop",                  # live conversations with pyipv8 3.2.1
    "tests/netlab",                   # NAT traversal in network namespaces
    "tests/keyvault/test_legacy.py",  # Dispersy's legacy keys (binary curves, cryptography<47)
    "tests/browser",                  # the REST API from a real browser
    "tests/test_api_docs.py",         # the pydoctor API reference and its cross-references
)

#: Skips in those suites that are by design, not for want of something (node id -> why it is fine). Keep it
#: short: a test that never applies is better removed than skipped.
CI_ACCEPTED_SKIPS = {
    "tests/interop/test_rest_compat.py::RESTCompatibilityWithoutStatistics::test_route_lists":
        "the subclass repeats RESTCompatibility without statistics; its route lists are the same",
}


def in_ci() -> bool:
    """Whether this run is a CI run (``CI=true``, or ``1``/``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def ci_required_suite(config: pytest.Config, path: Path) -> str | None:
    """The entry of :data:`CI_REQUIRED_SUITES` that ``path`` belongs to, if any."""
    try:
        relative = Path(path).resolve().relative_to(config.rootpath.resolve()).as_posix()
    except ValueError:
        return None
    return next((suite for suite in CI_REQUIRED_SUITES
                 if relative == suite or relative.startswith(suite + "/")), None)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _skip_fails_in_ci(config: pytest.Config, path: Path,
                      report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The failure message for a skip that CI does not accept, or None."""
    if not report.skipped or hasattr(report, "wasxfail") or not in_ci() or report.nodeid in CI_ACCEPTED_SKIPS:
        return None
    suite = ci_required_suite(config, path)
    if suite is None:
        return None
    return (f"CI=true and {suite} must run in CI, but it was skipped: {_skip_reason(report)}\n"
            "(install what the reason names; `make test-prereqs` sets most of it up)")


_CI_COLLECTION_SKIPS = pytest.StashKey[list]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI, a skipped test of a required suite fails (whether it skipped in setup or in its body)."""
    report = yield
    problem = _skip_fails_in_ci(item.config, item.path, report)
    if problem is not None:
        report.outcome = "failed"
        report.longrepr = problem
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """
    In CI, note a required module that skips as a whole (``pytest.skip(allow_module_level=True)``,
    ``importorskip``). A failed collection would stop the whole session, so the skip stays a skip here and
    :func:`pytest_sessionfinish` fails the run instead, after every other test ran.
    """
    report = yield
    problem = _skip_fails_in_ci(collector.config, collector.path, report)
    if problem is not None:
        collector.config.stash.setdefault(_CI_COLLECTION_SKIPS, []).append(f"{report.nodeid}: {problem}")
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail a CI run in which a required module was skipped at collection."""
    if session.config.stash.get(_CI_COLLECTION_SKIPS, []) and exitstatus in (pytest.ExitCode.OK,
                                                                          pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the required modules that were skipped at collection in a CI run."""
    problems = terminalreporter.config.stash.get(_CI_COLLECTION_SKIPS, [])
    if problems:
        terminalreporter.section("required suites skipped in CI", red=True)
        for problem in problems:
            terminalreporter.line(f"FAILED {problem}", red=True)
        terminalreporter.line(f"{len(problems)} required module(s) skipped at collection: the run fails")


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
