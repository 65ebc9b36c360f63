"""The access line made without a LogRecord (the setup of ``serve``) is the line logging makes."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from unittest import mock

import pytest

from tornadoservice.core.log import (
    BatchingStreamHandler,
    JsonFormatter,
    LineFormatter,
    sole_line_handler,
)
from tornadoservice.server import accesslog
from tornadoservice.server.accesslog import AccessRecord, log_access

RECORD = AccessRecord(
    peer="127.0.0.1:5000",
    forwarded_for=None,
    creds={"group": "dirac_user", "username": "ciuser\x1b[31m", "DN": "/CN=ciuser"},
    service="Framework/Bench",
    method="echo\nforged",
    status=200,
    duration_ms=1.234,
    bytes_in=10,
    bytes_out=20,
    outcome="OK",
    request_id="abc",
)


@pytest.fixture
def serve_setup() -> Iterator[tuple[io.StringIO, BatchingStreamHandler]]:
    """The logging of `tornadoservice serve`, restored afterwards. On the access logger itself,
    not propagated: pytest keeps capture handlers of its own on the root logger."""
    logger = accesslog.access_log
    saved = (logger.handlers[:], logger.level, logger.propagate)
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(LineFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream, handler
    finally:
        handler.close()
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def _logged_the_usual_way(stream: io.StringIO, handler: BatchingStreamHandler) -> str:
    with mock.patch.object(accesslog, "sole_line_handler", return_value=None):
        log_access(RECORD)
    handler.flush()
    return stream.getvalue()


def test_the_fast_line_is_the_line_logging_makes(
    serve_setup: tuple[io.StringIO, BatchingStreamHandler],
) -> None:
    stream, handler = serve_setup
    accesslog.access_log.handlers[:] = [handler]  # without what capture added since setup
    assert sole_line_handler(accesslog.access_log, logging.INFO) is not None
    with mock.patch("time.time", return_value=1_700_000_000.125):
        log_access(RECORD)
        handler.flush()
        fast = stream.getvalue()
        stream.seek(0)
        stream.truncate()
        usual = _logged_the_usual_way(stream, handler)
    assert fast == usual
    assert re.fullmatch(
        r"2023-11-14T22:13:20\.125\+00:00 INFO tornadoservice\.access\[\d+\]: 127\.0\.0\.1:5000 "
        r"dirac_user:ciuser\\x1b\[31m Framework/Bench echo\\nforged 200 1\.23ms OK rid=abc\n",
        fast,
    )


@pytest.mark.parametrize(
    "change",
    ["second handler", "filter on logger", "filter on handler", "json", "other format", "quiet"],
)
def test_any_other_setup_logs_the_usual_way(
    serve_setup: tuple[io.StringIO, BatchingStreamHandler], change: str
) -> None:
    stream, handler = serve_setup
    logger = accesslog.access_log
    logger.handlers[:] = [handler]  # without what capture added since setup
    captured: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    if change == "second handler":
        logger.addHandler(Capture())
    elif change == "filter on logger":
        logger.addFilter(lambda record: captured.append(record) or True)
    elif change == "filter on handler":
        handler.addFilter(lambda record: captured.append(record) or True)
    elif change == "json":
        handler.setFormatter(JsonFormatter())
    elif change == "other format":
        handler.setFormatter(LineFormatter("%(levelname)s %(message)s"))
    else:
        handler.setLevel(logging.WARNING)
    try:
        log_access(RECORD)
        handler.flush()
    finally:
        logger.filters.clear()
        logger.handlers[:] = [handler]
    if change == "quiet":
        assert stream.getvalue() == ""
        return
    if change in ("second handler", "filter on logger", "filter on handler"):
        assert [r.name for r in captured] == ["tornadoservice.access"]  # a real LogRecord
    written = stream.getvalue()
    assert "rid=abc" in written
    if change == "json":
        assert '"user": "ciuser\\u001b[31m"' in written  # the record's fields, as JSON
    if change == "other format":
        assert written.startswith("INFO 127.0.0.1:5000 ")
