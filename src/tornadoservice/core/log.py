"""Logging with DIRAC's logger vocabulary on top of the standard :mod:`logging` module.

Ported handlers call ``self.log.notice(...)``, ``self.log.warn(...)``, ``self.log.verbose(...)`` and
pass a second "variable part" argument (``log.error("Cannot open", path)``). :class:`DiracLogger`
accepts exactly that, and maps DIRAC's extra levels onto standard ones, so the records go through
ordinary handlers, filters and formatters.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import weakref
from typing import Any

NOTICE = logging.INFO + 5
VERBOSE = logging.DEBUG + 5
ALWAYS = logging.CRITICAL - 1

logging.addLevelName(NOTICE, "NOTICE")
logging.addLevelName(VERBOSE, "VERBOSE")
logging.addLevelName(ALWAYS, "ALWAYS")

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "VERBOSE": VERBOSE,
    "INFO": logging.INFO,
    "NOTICE": NOTICE,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "ALWAYS": ALWAYS,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
}
_DIRAC_NAMES = {
    logging.DEBUG: "DEBUG",
    VERBOSE: "VERBOSE",
    logging.INFO: "INFO",
    NOTICE: "NOTICE",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    ALWAYS: "ALWAYS",
    logging.CRITICAL: "FATAL",
}


def level_number(name: str) -> int | None:
    """The :mod:`logging` level of a DIRAC level name (any case), or ``None`` if unknown."""
    return _LEVELS.get(name.strip().upper())


class DiracLogger:
    """A thin wrapper around a :class:`logging.Logger` offering DIRAC's method names.

    ``message`` and ``variable`` are joined with a space, as DIRAC prints them. Values are never
    %-formatted, so a message containing ``%`` cannot break logging.
    """

    __slots__ = ("logger",)

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def get_sublogger(self, name: str) -> DiracLogger:
        return DiracLogger(f"{self.logger.name}.{name}")

    getSubLogger = get_sublogger

    def setLevel(self, levelName: str) -> bool:
        """Set the level by DIRAC's name (``DEBUG``, ``VERBOSE``, ``INFO``, ``NOTICE``, ``WARN``,
        ``ERROR``, ``ALWAYS``, ``FATAL``; any case). An unknown name changes nothing and
        returns ``False``, as in DIRAC."""
        level = level_number(levelName)
        if level is None:
            return False
        self.logger.setLevel(level)
        return True

    def getLevel(self) -> str:
        """The effective level, by DIRAC's name."""
        return _DIRAC_NAMES.get(self.logger.getEffectiveLevel(), "NOTSET")

    def _log(self, level: int, message: object, variable: object, exc_info: bool = False) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = str(message) if variable in ("", None) else f"{message} {variable}"
        # stacklevel=3 points the record at the caller of debug()/info()/..., not at this module.
        self.logger.log(level, "%s", text, exc_info=exc_info, stacklevel=3)

    def debug(self, message: object, variable: object = "") -> None:
        self._log(logging.DEBUG, message, variable)

    def verbose(self, message: object, variable: object = "") -> None:
        self._log(VERBOSE, message, variable)

    def info(self, message: object, variable: object = "") -> None:
        self._log(logging.INFO, message, variable)

    def notice(self, message: object, variable: object = "") -> None:
        self._log(NOTICE, message, variable)

    def warn(self, message: object, variable: object = "") -> None:
        self._log(logging.WARNING, message, variable)

    warning = warn

    def error(self, message: object, variable: object = "") -> None:
        self._log(logging.ERROR, message, variable)

    def exception(self, message: object = "", variable: object = "", **_: Any) -> None:
        self._log(logging.ERROR, message, variable, exc_info=True)

    def fatal(self, message: object, variable: object = "") -> None:
        self._log(logging.CRITICAL, message, variable)

    critical = fatal

    def always(self, message: object, variable: object = "") -> None:
        self._log(ALWAYS, message, variable)


# --- One record, one line ------------------------------------------------------------------------

_LINE_BREAKERS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_ESCAPES = {code: ascii(chr(code))[1:-1] for code in _LINE_BREAKERS}


def escape_control(text: str) -> str:
    """``text`` with every control character written as a Python escape (``\\n``, ``\\x1b``).

    A value a client chose (a method name, a path, a header, a DN) can then never start a new
    log line or send a terminal escape sequence, so one request stays exactly one line.
    """
    if text.isprintable():
        return text
    return text.translate(_ESCAPES)


# --- The process-wide setup of ``tornadoservice serve`` -----------------------------------------

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
"""Text lines: UTC time in ISO 8601 with its offset, level, logger and the process (a worker of
``serve --processes N`` has its own pid), then the message."""

_pid = os.getpid()


def _new_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_new_pid)


class _UTCSeconds:
    """``2026-12-02T01:00:00`` of a timestamp, computed once per second (threads may race to
    refresh it: they write the same value)."""

    __slots__ = ("_date", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._date = ""

    def iso(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:
            self._date = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._date}.{int(msecs):03d}+00:00"


class LineFormatter(logging.Formatter):
    """``logging.Formatter`` that keeps a record on one line, in UTC, with the process id.

    Control characters in the message (from any logger: a value a client sent, logged by a
    service) are escaped by :func:`escape_control`. The time is ISO 8601 in UTC with its offset
    (``2026-12-02T01:00:00.123+00:00``), its date part computed once per second. The pid is the
    one of the process writing (kept up to date across ``fork``), also when ``logging`` does not
    record it.
    """

    def __init__(self, fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt)
        self._clock = _UTCSeconds()

    def formatMessage(self, record: logging.LogRecord) -> str:
        if record.process is None:
            record.process = _pid
        # Whatever a logger was given, the message stays on one line; a traceback (added after
        # this by format()) keeps its own lines.
        return escape_control(super().formatMessage(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self._clock.iso(record.created, record.msecs)

    def line(self, levelname: str, name: str, message: str) -> str | None:
        """The line :meth:`format` would make of a record of ``message`` logged now, made
        without the record; ``None`` if this formatter does not use the default format."""
        if self._fmt != LOG_FORMAT or self.datefmt is not None:
            return None
        now = time.time()
        stamp = self._clock.iso(now, (now - int(now)) * 1000)
        return escape_control(f"{stamp} {levelname} {name}[{_pid}]: {message}")


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``--log-format json``), for journald, Loki or Elasticsearch.

    Keys: ``time`` (UTC, ISO 8601 with offset), ``level``, ``logger``, ``pid``, ``message``;
    ``exception`` with a traceback; ``request_id`` on the lines of a request; and for the access
    log the fields of its ``access`` record (peer, DN, group, service, method, status,
    duration, bytes, ...). JSON escapes every control character, so a line stays a line.
    """

    def __init__(self) -> None:
        super().__init__()
        self._clock = _UTCSeconds()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._clock.iso(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process if record.process is not None else _pid,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        access = getattr(record, "access", None)
        fields = getattr(access, "fields", None)
        if callable(fields):  # the access record of a request
            entry.update(fields())
        elif isinstance(access, dict):
            entry.update(access)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


LOG_FORMATS = ("text", "json")


class BatchingStreamHandler(logging.StreamHandler[Any]):
    """A ``StreamHandler`` that writes its lines in batches instead of one write per record.

    Lines wait at most ``flush_interval`` seconds (a daemon thread flushes them) or until
    ``max_lines`` are pending; a record at ``flush_level`` or above (WARNING by default) is
    written at once, together with everything before it. :meth:`flush`, which ``logging``
    calls at exit, writes whatever is pending. One busy server then makes one ``write`` call
    for hundreds of access-log lines.
    """

    def __init__(
        self,
        stream: Any = None,
        *,
        flush_interval: float = 0.5,
        max_lines: int = 512,
        flush_level: int = logging.WARNING,
    ) -> None:
        super().__init__(stream)
        self.flush_interval = flush_interval
        self.max_lines = max_lines
        self.flush_level = flush_level
        self._pending: list[str] = []
        self._flusher: threading.Thread | None = None
        self._closed = threading.Event()
        _BATCHING_HANDLERS.add(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        # Called with the handler's lock held (Handler.handle), as is _write_pending.
        self._pending.append(line)
        if record.levelno >= self.flush_level or len(self._pending) >= self.max_lines:
            self._write_pending()
        elif self._flusher is None:
            self._start_flusher()

    def emit_line(self, line: str) -> None:
        """Add an already formatted line (below ``flush_level``): what :meth:`emit` does after
        formatting, for a caller that made the line itself (:func:`sole_line_handler`)."""
        self.acquire()
        try:
            self._pending.append(line)
            if len(self._pending) >= self.max_lines:
                self._write_pending()
            elif self._flusher is None:
                self._start_flusher()
        finally:
            self.release()

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def close(self) -> None:
        self._closed.set()
        try:
            self.flush()
        finally:
            super().close()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text = self.terminator.join(self._pending) + self.terminator
        self._pending.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the stream went away (a closed pipe or file)
            pass

    def _start_flusher(self) -> None:
        self._flusher = threading.Thread(
            target=self._flush_periodically, name="tornadoservice-log-flush", daemon=True
        )
        self._flusher.start()

    def _flush_periodically(self) -> None:
        while not self._closed.wait(self.flush_interval):
            if self._pending:
                self.flush()

    def _after_fork(self) -> None:
        # The flusher thread does not exist in a forked child; start another on first use.
        self._pending = []
        self._flusher = None


_BATCHING_HANDLERS: weakref.WeakSet[BatchingStreamHandler] = weakref.WeakSet()


def sole_line_handler(
    logger: logging.Logger, level: int
) -> tuple[BatchingStreamHandler, LineFormatter] | None:
    """The handler and formatter that alone would write a ``level`` record of ``logger``, when
    that is the setup of ``tornadoservice serve`` (one :class:`BatchingStreamHandler` with a
    :class:`LineFormatter` in the default format, no filters anywhere, ``level`` below the
    handler's ``flush_level``); else ``None``. A caller may then make the line itself (a
    frequent line, such as the access log, without a ``LogRecord``): the same line, written the
    same way. Any other setup (a test's capture handler, a second handler, a filter, JSON) gets
    ``None``, and the caller logs as usual. Checked on every call: the setup may change."""
    found: BatchingStreamHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if found is not None or type(handler) is not BatchingStreamHandler:
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent
    if found is None or found.filters or level < found.level or level >= found.flush_level:
        return None
    formatter = found.formatter
    if type(formatter) is not LineFormatter:
        return None
    return found, formatter


def _flush_before_fork() -> None:
    for handler in list(_BATCHING_HANDLERS):
        handler.flush()


def _reset_after_fork() -> None:
    for handler in list(_BATCHING_HANDLERS):
        handler._after_fork()


os.register_at_fork(before=_flush_before_fork, after_in_child=_reset_after_fork)


def configure_logging(
    level: str | int = "info", stream: Any = None, *, log_format: str = "text"
) -> logging.Handler:
    """The logging of ``tornadoservice serve``: one batching handler on the root logger.

    ``stream`` defaults to ``sys.stderr``; ``level`` is a name (``"info"``) or a number;
    ``log_format`` is ``text`` (:class:`LineFormatter`) or ``json`` (:class:`JsonFormatter`). Being
    the application's own setup, it also switches off what the format does not print and costs
    on every record (the logging HOWTO's "Optimization" section): the caller's file and line,
    thread, process and multiprocessing names. Library users who embed :class:`TornadoServer`
    keep their own logging configuration; this is not called for them.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    handler = BatchingStreamHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LineFormatter())
    numeric = level if isinstance(level, int) else getattr(logging, level.upper())
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    return handler
