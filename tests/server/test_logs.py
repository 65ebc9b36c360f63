"""Log lines over real HTTPS: JSON access lines with every field, request ids (kept when sane,
made otherwise, in the answer and the error lines), the forwarded client address behind a
trusted balancer, DIRAC's security-log wording; and the text and JSON formats themselves."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import USER_DN, ClientCred, ServerPKI
from tornadoservice.core.log import JsonFormatter, LineFormatter

Sessions = Callable[[ClientCred | None], requests.Session]
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"


class Captured:
    """The JSON lines the ``tornadoservice`` loggers write while it is attached."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def of(self, logger: str, count: int = 0) -> list[dict[str, Any]]:
        """The lines of ``logger``, waiting (boundedly) until there are at least ``count``:
        the access line is written when the answer has gone, so maybe after the client got it.
        """
        deadline = time.monotonic() + 10
        while True:
            lines = [line for line in self.lines() if line["logger"] == logger]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def access(self, method: str, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while True:
            lines = [a for a in self.of("tornadoservice.access") if a["method"] == method]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = Captured()
    logger = logging.getLogger("tornadoservice")
    previous = logger.level
    logger.addHandler(capture.handler)
    logger.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        logger.removeHandler(capture.handler)
        logger.setLevel(previous)


@pytest.fixture(scope="module")
def logged_server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/SecurityLog", "yes")
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        yield server


ARGS = {"add": "[1, 2]"}


def post(
    session: requests.Session, server: LiveServer, method: str, **headers: str
) -> requests.Response:
    data = {"method": method, "args": ARGS.get(method, "[]")}
    return session.post(server.url(DUMMY), data=data, headers=headers, timeout=30)


def test_the_json_access_line_has_every_field(
    logged_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, captured: Captured
) -> None:
    answer = post(session_for(server_pki.proxy), logged_server, "add")
    assert answer.status_code == 200
    [line] = captured.access("add")
    assert re.fullmatch(ISO_UTC, line["time"])
    assert (line["level"], line["pid"]) == ("INFO", os.getpid())
    assert line["peer"].startswith("127.0.0.1:")
    assert (line["dn"], line["group"], line["user"]) == (USER_DN, "dirac_user", "ciuser")
    assert (line["service"], line["status"], line["outcome"]) == (DUMMY, 200, "OK")
    assert 0 < line["duration_ms"] < 30_000
    assert line["bytes_in"] == len("method=add&args=%5B1%2C+2%5D")
    assert line["bytes_out"] == len('{"OK": true, "Value": 3}')
    assert line["forwarded_for"] is None  # no X-Forwarded-For sent
    assert line["request_id"] == answer.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{24}", line["request_id"])
    assert line["message"].endswith(f" rid={line['request_id']}")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("trace-42.a:b@c/d+e=f_g-h", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("new\\nline", False),
        ("", False),
    ],
)
def test_a_sane_request_id_is_kept_any_other_replaced(
    logged_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    captured: Captured,
    sent: str,
    kept: bool,
) -> None:
    answer = post(session_for(server_pki.proxy), logged_server, "add", **{"X-Request-ID": sent})
    rid = answer.headers["X-Request-ID"]
    assert (rid == sent) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{24}", rid)
    [line] = captured.access("add")
    assert line["request_id"] == rid


def test_the_error_lines_of_a_request_carry_its_id(
    logged_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, captured: Captured
) -> None:
    user = session_for(server_pki.proxy)
    failed = post(user, logged_server, "boom", **{"X-Request-ID": "req-500"})
    assert failed.status_code == 500
    assert failed.headers["X-Request-ID"] == "req-500"  # the error answer keeps the id
    unknown = post(user, logged_server, "noSuchMethod", **{"X-Request-ID": "req-501"})
    assert unknown.status_code == 501
    request_lines = captured.of("tornadoservice.request", 2)
    [error] = [line for line in request_lines if line.get("request_id") == "req-500"]
    assert error["level"] == "ERROR"
    [mistake] = [line for line in request_lines if line.get("request_id") == "req-501"]
    assert mistake["level"] == "WARNING"  # a client mistake, not the server's fault


def test_a_trusted_balancer_shows_the_forwarded_client(
    server_pki: ServerPKI, session_for: Sessions, captured: Captured
) -> None:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/TrustedProxies", "127.0.0.1")
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        # From the balancer's address a request is anonymous unless it forwards a certificate:
        # ping admits anyone. The balancer appends what it saw: the last address counts.
        balancer = session_for(None)
        post(balancer, server, "ping", **{"X-Forwarded-For": "192.0.2.1, 2001:db8::7"})
        post(balancer, server, "ping", **{"X-Forwarded-For": "not-an-address"})
    first, second = captured.access("ping", 2)
    assert first["forwarded_for"] == "2001:db8::7"
    assert "(for 2001:db8::7)" in first["message"]
    assert second["forwarded_for"] is None


def test_an_untrusted_peer_cannot_claim_a_client_address(
    server_pki: ServerPKI, session_for: Sessions, captured: Captured
) -> None:
    with live_server(dummy_config(server_pki), {DUMMY: DummyTornadoHandler}) as server:
        post(session_for(None), server, "ping", **{"X-Forwarded-For": "192.0.2.9"})
    [line] = captured.access("ping")
    assert line["forwarded_for"] is None
    assert "192.0.2.9" not in line["message"]


def test_dirac_security_log_wording(
    logged_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, captured: Captured
) -> None:
    post(session_for(server_pki.proxy), logged_server, "add")
    post(session_for(None), logged_server, "add")  # no certificate: 401
    messages = [line["message"] for line in captured.of("tornadoservice.security", 4)]
    caller = r"\(127\.0\.0\.1:\d+\)"
    assert re.fullmatch(
        rf"Incoming request {caller}\[dirac_user:ciuser\] /{DUMMY}: add", messages[0]
    )
    assert re.fullmatch(
        rf"Returning response {caller}\[dirac_user:ciuser\] /{DUMMY}: add \([\d.]+ ms\) 200 OK",
        messages[1],
    )
    assert re.fullmatch(
        rf"Unauthorized access {caller}\[visitor:anonymous\] /{DUMMY}: add \(401\)", messages[2]
    )
    assert messages[3].startswith("Returning response ")
    assert len(messages) == 4  # no "Incoming request" for a caller refused at authentication


def test_without_the_option_there_is_no_security_log(
    server_pki: ServerPKI, session_for: Sessions, captured: Captured
) -> None:
    with live_server(dummy_config(server_pki), {DUMMY: DummyTornadoHandler}) as server:
        post(session_for(server_pki.proxy), server, "add")
    assert len(captured.access("add")) == 1
    assert captured.of("tornadoservice.security") == []


# ------------------------------------------------------------------ the formats
def _record(message: str, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("tornadoservice.x", logging.WARNING, "", 0, "%s", (message,), None)
    record.__dict__.update(extra)
    return record


def test_text_lines_are_utc_with_offset_and_pid() -> None:
    line = LineFormatter().format(_record("hello"))
    assert re.fullmatch(rf"{ISO_UTC} WARNING tornadoservice\.x\[{os.getpid()}\]: hello", line)


def test_text_time_is_the_records_time_in_utc() -> None:
    record = _record("x")
    record.created, record.msecs = 1_764_637_200.25, 250.0  # 2025-12-02T01:00:00.250Z
    assert LineFormatter().formatTime(record) == "2025-12-02T01:00:00.250+00:00"


def test_json_lines_stay_one_line_and_keep_the_traceback() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = _record("a\nforged line\r\x1b[2J", request_id="r1")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    entry = json.loads(line)
    assert entry["message"] == "a\nforged line\r\x1b[2J"
    assert entry["request_id"] == "r1"
    assert "ValueError: bad\nthing" in entry["exception"]
    assert set(entry) == {"time", "level", "logger", "pid", "message", "request_id", "exception"}
