"""The stdlib -> twisted.logger bridge of the ``ipv8`` loggers (ipv8.logging_bridge)."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest
from twisted.logger import LogLevel, LogPublisher, STDLibLogObserver, formatEvent

from ipv8 import logging_bridge
from ipv8.configuration import ConfigBuilder
from ipv8.logging_bridge import TwistedLogHandler, bridge_ipv8_logging, twisted_level
from ipv8.service import IPv8

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_ipv8_logger() -> Iterator[logging.Logger]:
    """The `ipv8` logger without bridge handler and level, restored afterwards."""
    target = logging.getLogger("ipv8")
    saved = (list(target.handlers), target.level, logging_bridge._level_we_set)
    for handler in list(target.handlers):
        target.removeHandler(handler)
    target.setLevel(logging.NOTSET)
    logging_bridge._level_we_set = None
    yield target
    for handler in list(target.handlers):
        target.removeHandler(handler)
    for handler in saved[0]:
        target.addHandler(handler)
    target.setLevel(saved[1])
    logging_bridge._level_we_set = saved[2]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_levels_map_onto_twisted_levels() -> None:
    assert [twisted_level(n) for n in (5, 10, 20, 25, 30, 40, 50, 60)] == [
        LogLevel.debug, LogLevel.debug, LogLevel.info, LogLevel.info, LogLevel.warn, LogLevel.error,
        LogLevel.critical, LogLevel.critical]


def test_records_become_twisted_events(clean_ipv8_logger: logging.Logger) -> None:
    events: list[dict[str, Any]] = []
    clean_ipv8_logger.addHandler(TwistedLogHandler(events.append))
    clean_ipv8_logger.setLevel(logging.DEBUG)
    logging.getLogger("ipv8.community").warning("peer %s sent {braces} %d", "abc", 3)
    try:
        raise KeyError("boom")
    except KeyError:
        logging.getLogger("ipv8.overlay").exception("handler failed")
    assert len(events) == 2
    first, second = events
    assert first["log_namespace"] == "ipv8.community"
    assert first["log_level"] is LogLevel.warn
    assert formatEvent(first) == "peer abc sent {braces} 3"
    assert second["log_level"] is LogLevel.error
    assert formatEvent(second) == "handler failed"
    assert second["log_failure"].check(KeyError)


def test_bridge_is_installed_once_and_respects_the_applications_level(clean_ipv8_logger: logging.Logger) -> None:
    events: list[dict[str, Any]] = []
    handler = bridge_ipv8_logging("info", observer=events.append)
    assert bridge_ipv8_logging("DEBUG") is handler
    assert [h for h in clean_ipv8_logger.handlers if isinstance(h, TwistedLogHandler)] == [handler]
    assert clean_ipv8_logger.level == logging.DEBUG  # our own earlier setting may be changed again
    clean_ipv8_logger.setLevel(logging.ERROR)  # the application's choice...
    bridge_ipv8_logging("DEBUG")
    assert clean_ipv8_logger.level == logging.ERROR  # ...wins over the configuration
    logging.getLogger("ipv8.x").warning("dropped")
    logging.getLogger("ipv8.x").error("kept")
    assert [formatEvent(e) for e in events] == ["kept"]
    with pytest.raises(ValueError, match="unknown log level"):
        logging_bridge._level_number("LOUD")


def test_ipv8_leaves_stdlib_logging_alone_and_applications_still_get_records(
        clean_ipv8_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(**_: object) -> None:
        raise AssertionError("the library must not call logging.basicConfig")

    monkeypatch.setattr(logging, "basicConfig", forbidden)
    root = logging.getLogger()
    root_state = (list(root.handlers), root.level)
    application = Collect()  # what an application's own logging set-up would see
    root.addHandler(application)
    published: list[dict[str, Any]] = []
    publisher = LogPublisher(published.append)
    monkeypatch.setattr(logging_bridge, "globalLogPublisher", publisher)
    try:
        config = (ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1")
                  .add_ephemeral_key("me").set_log_level("WARNING").finalize())
        IPv8(config)
        assert clean_ipv8_logger.level == logging.WARNING
        logging.getLogger("ipv8.service").warning("hello from %s", "ipv8")
        logging.getLogger("ipv8.service").info("below the configured level")
    finally:
        root.removeHandler(application)
    assert (list(root.handlers), root.level) == root_state
    assert [r.getMessage() for r in application.records] == ["hello from ipv8"]
    assert [formatEvent(e) for e in published] == ["hello from ipv8"]


def test_an_observer_that_feeds_logging_does_not_loop(clean_ipv8_logger: logging.Logger) -> None:
    # STDLibLogObserver sends Twisted events to `logging`; given a name under `ipv8`, that is the bridged
    # logger again. The echo must reach stdlib handlers, and the bridge must not forward it a second time.
    published: list[dict[str, Any]] = []
    publisher = LogPublisher(published.append, STDLibLogObserver(name="ipv8.echo"))
    clean_ipv8_logger.addHandler(TwistedLogHandler(publisher))
    collected = Collect()
    clean_ipv8_logger.addHandler(collected)
    logging.getLogger("ipv8.loop").warning("once")
    assert len(published) == 1
    assert [r.getMessage() for r in collected.records] == ["once", "once"]  # the original and the echo


def test_under_twisted_logging_ipv8_lines_have_twisteds_format(tmp_path: Path) -> None:
    # As under twistd: the application began Twisted logging; the node's stdlib records show up there.
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        import sys
        from twisted.internet.defer import ensureDeferred
        from twisted.internet.task import react
        from twisted.logger import globalLogBeginner, textFileLogObserver
        from ipv8.configuration import ConfigBuilder
        from ipv8_service import IPv8

        globalLogBeginner.beginLoggingTo([textFileLogObserver(sys.stdout)])

        async def main(reactor):
            config = (ConfigBuilder().clear_keys().clear_overlays().set_address("127.0.0.1").set_port(0)
                      .add_ephemeral_key("me").finalize())
            node = IPv8(config)
            await node.start()
            await node.stop()

        react(lambda reactor: ensureDeferred(main(reactor)))
    """))
    done = subprocess.run([sys.executable, "-m", "ipv8.test.netguard", str(script)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    running = [line for line in done.stdout.splitlines() if "IPv8 is running on 127.0.0.1:" in line]
    assert len(running) == 1, done.stdout
    assert "[ipv8.service#info] IPv8 is running on 127.0.0.1:" in running[0]
    assert done.stderr == ""
