"""
Forward the records of the standard-library ``ipv8`` loggers to :mod:`twisted.logger`.

txipv8's modules log through :mod:`logging` (``logging.getLogger(__name__)``, as py-ipv8 does), but a Twisted
application logs through :mod:`twisted.logger`: under ``twistd`` every line of the log file comes from its
observers, in one format. :func:`bridge_ipv8_logging` connects the two: it attaches a
:class:`TwistedLogHandler` to the ``ipv8`` logger, which re-emits every record as a ``twisted.logger`` event
(namespace = the logger name, the matching :class:`~twisted.logger.LogLevel`, the exception as ``log_failure``).

The library never calls :func:`logging.basicConfig` and never touches the root logger. Records still
propagate, so an application that configures :mod:`logging` itself gets them through its own handlers as well.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from twisted.logger import Logger, LogLevel, globalLogPublisher
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from twisted.logger import ILogObserver

__all__ = ["TwistedLogHandler", "bridge_ipv8_logging", "twisted_level"]

#: The logger whose records (and whose children's records) the bridge forwards.
IPV8_LOGGER = "ipv8"


def twisted_level(levelno: int) -> LogLevel:
    """The :class:`~twisted.logger.LogLevel` of a :mod:`logging` level number (custom levels round down)."""
    if levelno >= logging.CRITICAL:
        return LogLevel.critical
    if levelno >= logging.ERROR:
        return LogLevel.error
    if levelno >= logging.WARNING:
        return LogLevel.warn
    if levelno >= logging.INFO:
        return LogLevel.info
    return LogLevel.debug


class TwistedLogHandler(logging.Handler):
    """
    A :class:`logging.Handler` that emits each record as a :mod:`twisted.logger` event.

    The event's text is the record's message (``record.getMessage()``, in the field ``log_stdlib_message``);
    a record with ``exc_info`` carries the exception as a :class:`~twisted.python.failure.Failure`.

    :param observer: where the events go; :data:`twisted.logger.globalLogPublisher` by default, whose
        observers are whatever ``twistd`` or ``globalLogBeginner.beginLoggingTo`` installed.
    :param level: the least severe record level to forward.
    """

    def __init__(self, observer: ILogObserver | None = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._observer = observer if observer is not None else globalLogPublisher
        # A Twisted observer that forwards events back into `logging` (STDLibLogObserver) would hand the
        # record to this handler again: the flag breaks that loop (per thread, as records may come from any).
        self._forwarding = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        """Re-emit ``record`` as a Twisted log event."""
        if getattr(self._forwarding, "active", False):
            return
        self._forwarding.active = True
        try:
            log = Logger(namespace=record.name, observer=self._observer)
            level = twisted_level(record.levelno)
            message = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                log.failure("{log_stdlib_message}", Failure(record.exc_info[1], record.exc_info[0],
                                                            record.exc_info[2]),
                            level=level, log_stdlib_message=message)
            else:
                log.emit(level, "{log_stdlib_message}", log_stdlib_message=message)
        except Exception:  # noqa: BLE001 - logging must never break the caller; logging reports it its way
            self.handleError(record)
        finally:
            self._forwarding.active = False


# The level bridge_ipv8_logging last gave the `ipv8` logger: a level set by the application is left alone.
_level_we_set: int | None = None
_lock = threading.Lock()


def _level_number(level: int | str) -> int:
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            msg = f"unknown log level {level!r}"
            raise ValueError(msg)
        return number
    return int(level)


def bridge_ipv8_logging(level: int | str | None = None, observer: ILogObserver | None = None) -> TwistedLogHandler:
    """
    Forward the ``ipv8`` loggers to :mod:`twisted.logger` (once per process; later calls reuse the handler).

    :param level: the level of the ``ipv8`` logger (``"INFO"``, ``logging.DEBUG``, ...), as the ``logger``
        setting of the IPv8 configuration gives it. It is applied unless the application set a level on the
        ``ipv8`` logger itself, which then wins. ``None`` leaves the level as it is.
    :param observer: for the first call only: where the events go (see :class:`TwistedLogHandler`).
    :returns: the handler attached to the ``ipv8`` logger.
    :raises ValueError: for a level name that :mod:`logging` does not know.
    """
    global _level_we_set  # noqa: PLW0603 - one `ipv8` logger per process, so one record of our setting
    target = logging.getLogger(IPV8_LOGGER)
    with _lock:
        handler = next((h for h in target.handlers if isinstance(h, TwistedLogHandler)), None)
        if handler is None:
            handler = TwistedLogHandler(observer)
            target.addHandler(handler)
        if level is not None and target.level in (logging.NOTSET, _level_we_set):
            _level_we_set = _level_number(level)
            target.setLevel(_level_we_set)
    return handler
