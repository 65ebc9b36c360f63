"""The logging of ``tornadoservice serve``: batched lines, cached timestamps, fork safety."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator

import pytest

from tornadoservice.core.log import (
    LOG_FORMAT,
    BatchingStreamHandler,
    DiracLogger,
    LineFormatter,
    configure_logging,
)


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("tornadoservice.test.batching")
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def _attach(log: logging.Logger, stream: CountingStream, **options: float) -> BatchingStreamHandler:
    handler = BatchingStreamHandler(stream, **options)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    return handler


def test_info_lines_are_written_together_after_the_flush_interval(logger: logging.Logger) -> None:
    stream = CountingStream()
    _attach(logger, stream, flush_interval=1.0)
    for n in range(3):
        logger.info("line %d", n)
    assert stream.writes == 0 and stream.getvalue() == ""
    deadline = time.monotonic() + 5
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stream.getvalue() == "INFO line 0\nINFO line 1\nINFO line 2\n"
    assert stream.writes == 1


def test_a_warning_is_written_at_once_after_the_lines_before_it(logger: logging.Logger) -> None:
    stream = CountingStream()
    _attach(logger, stream, flush_interval=60)
    logger.info("first")
    logger.warning("careful")
    assert stream.getvalue() == "INFO first\nWARNING careful\n"
    assert stream.writes == 1


def test_max_lines_pending_forces_a_write(logger: logging.Logger) -> None:
    stream = CountingStream()
    _attach(logger, stream, flush_interval=60, max_lines=4)
    for n in range(9):
        logger.info("%d", n)
    assert stream.writes == 2
    assert stream.getvalue().splitlines() == [f"INFO {n}" for n in range(8)]


def test_flush_and_close_write_what_is_pending(logger: logging.Logger) -> None:
    stream = CountingStream()
    handler = _attach(logger, stream, flush_interval=60)
    logger.info("a")
    handler.flush()
    assert stream.getvalue() == "INFO a\n"
    logger.info("b")
    logger.removeHandler(handler)
    handler.close()
    assert stream.getvalue() == "INFO a\nINFO b\n"


def test_a_broken_stream_does_not_raise_into_the_caller(logger: logging.Logger) -> None:
    stream = CountingStream()
    _attach(logger, stream, flush_interval=60)
    stream.close()
    logger.error("nowhere to go")  # must not raise


def test_line_formatter_matches_the_standard_formatter() -> None:
    # The standard formatter set up for UTC in ISO 8601 with its offset writes the same lines.
    ours, standard = LineFormatter(), logging.Formatter(LOG_FORMAT)
    standard.converter = time.gmtime
    standard.default_time_format = "%Y-%m-%dT%H:%M:%S"
    standard.default_msec_format = "%s.%03d+00:00"
    record = logging.LogRecord("tornadoservice.access", logging.INFO, "", 0, "%s", ("x",), None)
    start = record.created
    for offset in (0.0, 0.001, 0.5, 0.999, 1.0, 59.9, 3600.25, 86400.75):
        record.created = start + offset
        record.msecs = (record.created - int(record.created)) * 1000
        assert ours.format(record) == standard.format(record)
    assert ours.formatTime(record, "%H") == standard.formatTime(record, "%H")


def test_dirac_logger_lines_go_through_the_batching_handler(logger: logging.Logger) -> None:
    stream = CountingStream()
    handler = _attach(logger, stream, flush_interval=60)
    DiracLogger("tornadoservice.test.batching").notice("Cannot open", "/tmp/x")
    handler.flush()
    assert stream.getvalue() == "NOTICE Cannot open /tmp/x\n"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_lines_are_neither_lost_nor_doubled_across_fork(
    logger: logging.Logger, tmp_path: os.PathLike[str]
) -> None:
    path = os.path.join(tmp_path, "log.txt")
    with open(path, "a", encoding="utf-8") as stream:
        handler = BatchingStreamHandler(stream, flush_interval=60)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.info("parent before fork")
        pid = os.fork()
        if pid == 0:  # the child: log, flush, leave without running the parent's cleanup
            try:
                logger.info("child")
                handler.flush()
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        logger.info("parent after fork")
        handler.flush()
    with open(path, encoding="utf-8") as written:
        assert sorted(written.read().splitlines()) == [
            "child",
            "parent after fork",
            "parent before fork",
        ]


def test_configure_logging_installs_one_batching_handler_on_root() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.logThreads, logging.logProcesses)
    saved_srcfile, saved_multiprocessing = logging._srcfile, logging.logMultiprocessing
    stream = CountingStream()
    try:
        handler = configure_logging("warning", stream=stream)
        assert root.handlers == [handler] and isinstance(handler, BatchingStreamHandler)
        assert root.level == logging.WARNING
        assert logging.logThreads is False and logging.logProcesses is False
        logging.getLogger("tornadoservice.test").error("boom %s", 1)
        assert stream.getvalue().endswith(f" ERROR tornadoservice.test[{os.getpid()}]: boom 1\n")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.logThreads, logging.logProcesses = saved[2], saved[3]
        logging._srcfile, logging.logMultiprocessing = saved_srcfile, saved_multiprocessing
