"""Issue 9, the request path: bad bodies and heads, forged log lines, upload mode, return values.

Every bad request here must get a 4xx with a JSON ``S_ERROR`` body saying why, exactly one
warning line in the log and no traceback; the server then keeps serving.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, HTTP_IMPLEMENTATIONS, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_OK, TornadoService
from tornadoservice.core.log import LineFormatter, escape_control

Sessions = Callable[[ClientCred | None], requests.Session]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MAX_BODY = 16384


class CarelessService(DummyTornadoHandler):
    """Methods a careless author writes, and one more declared upload."""

    UPLOAD_METHODS = TornadoService.UPLOAD_METHODS | {"putChunk"}

    auth_forgotReturn = ["all"]

    def export_forgotReturn(self) -> None:
        self.log.info("did the work, forgot to return S_OK")

    auth_asyncForgot = ["all"]

    async def export_asyncForgot(self) -> str:
        return "done"

    auth_putChunk = ["authenticated"]

    def export_putChunk(self, name: str, stream: Any) -> dict[str, Any]:
        return S_OK({"name": name, "size": len(stream.read())})


@pytest.fixture(scope="module", params=HTTP_IMPLEMENTATIONS)
def server(request: pytest.FixtureRequest, server_pki: ServerPKI) -> Iterator[LiveServer]:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/MaxBodySize", str(MAX_BODY))
    with live_server(
        config, {DUMMY: CarelessService}, http_implementation=str(request.param)
    ) as live:
        yield live


def problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_clean_refusal(
    response: requests.Response, caplog: pytest.LogCaptureFixture, status: int, reason: str
) -> None:
    """A ``status`` with a JSON S_ERROR naming ``reason``, one warning line, no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.text)
    assert body["OK"] is False
    assert reason in body["Message"]
    found = problems(caplog)
    assert len(found) == 1, [r.getMessage() for r in found]
    assert found[0].levelno == logging.WARNING
    assert found[0].exc_info is None
    assert "\n" not in found[0].getMessage()
    assert "Uncaught exception" not in caplog.text
    assert "Traceback" not in caplog.text


def still_serving(server: LiveServer, session: requests.Session) -> None:
    answer = session.post(
        server.url(DUMMY), data={"method": "echo", "args": '["next"]'}, timeout=30
    )
    assert answer.text == '{"OK": true, "Value": "next"}'


def post(server: LiveServer, session: requests.Session, body: bytes, **headers: str) -> Any:
    return session.post(server.url(DUMMY), data=body, headers=headers, timeout=30)


# ------------------------------------------------------------------ item 3: malformed bodies


@pytest.mark.parametrize("encoding", ["br", "identity", "deflate", "gzip, gzip"])
def test_an_unsupported_content_encoding_is_415(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.clear()
    response = post(
        server,
        session,
        b"method=echo&args=%5B%22x%22%5D",
        **FORM,
        **{"Content-Encoding": encoding},
    )
    assert_clean_refusal(response, caplog, 415, "Unsupported Content-Encoding")
    still_serving(server, session)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "reason"),
    [
        ("multipart/form-data", b"--x\r\n\r\n--x--\r\n", 400, "boundary not found"),
        (
            "multipart/form-data; boundary=xyz",
            b"--xyz\r\nno headers end here--xyz--\r\n",
            400,
            "Malformed request body",
        ),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken", 400, "final boundary"),
        ("multipart/form-dataxyz; boundary=x", b"--x--\r\n", 415, "Unsupported Content-Type"),
        ("multipart/mixed; boundary=x", b"--x--\r\n", 415, "Unsupported Content-Type"),
    ],
)
def test_a_broken_multipart_body_is_a_4xx(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
    content_type: str,
    body: bytes,
    status: int,
    reason: str,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.clear()
    response = post(server, session, body, **{"Content-Type": content_type})
    assert_clean_refusal(response, caplog, status, reason)
    still_serving(server, session)


def test_more_than_a_thousand_form_fields_is_413(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    body = b"method=echo&" + b"&".join(b"f%d=1" % i for i in range(1000))
    assert len(body) < MAX_BODY
    caplog.clear()
    response = post(server, session, body, **FORM)
    assert_clean_refusal(response, caplog, 413, "The form has more than 1000 fields")
    # 1,000 fields in all is still a form.
    fine = b"method=echo&args=%5B1%5D&" + b"&".join(b"f%d=1" % i for i in range(998))
    assert post(server, session, fine, **FORM).text == '{"OK": true, "Value": 1}'


def test_an_invalid_gzip_body_is_a_json_400(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.clear()
    response = post(server, session, b"not gzip at all", **FORM, **{"Content-Encoding": "gzip"})
    assert_clean_refusal(response, caplog, 400, "gzip body is not valid")
    still_serving(server, session)


def test_a_truncated_gzip_body_is_a_json_400(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    whole = gzip.compress(b"method=echo&args=%5B%22zipped%22%5D")
    caplog.clear()
    response = post(server, session, whole[:-6], **FORM, **{"Content-Encoding": "gzip"})
    assert_clean_refusal(response, caplog, 400, "gzip body is truncated")
    assert post(server, session, whole, **FORM, **{"Content-Encoding": "gzip"}).text == (
        '{"OK": true, "Value": "zipped"}'
    )


def test_a_gzip_bomb_past_tornados_ceiling_is_a_json_413(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    # 8 MiB inflated, far past the ceiling (2 * MaxBodySize + 64 KiB) at which Tornado's own
    # inflater answered a bare 400; 8 KiB on the wire.
    bomb = gzip.compress(b"method=echo&args=" + b"0" * (8 << 20))
    assert len(bomb) < 16 * 1024
    caplog.clear()
    response = post(server, session, bomb, **FORM, **{"Content-Encoding": "gzip"})
    assert_clean_refusal(response, caplog, 413, f"larger than {MAX_BODY} bytes")
    still_serving(server, session)


def test_too_many_query_fields_is_a_json_400(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    query = "&".join(f"q{i}=1" for i in range(1001))
    caplog.clear()
    response = session.post(server.url(DUMMY) + "?" + query, data={"method": "echo"}, timeout=30)
    assert_clean_refusal(response, caplog, 400, "Max number of fields exceeded")
    still_serving(server, session)


def test_a_request_head_over_the_limit_is_431(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.clear()
    response = session.post(
        server.url(DUMMY),
        data={"method": "echo"},
        headers={f"X-Filler-{i}": "y" * 1000 for i in range(70)},
        timeout=30,
    )
    assert_clean_refusal(response, caplog, 431, "request head is longer than 65536 bytes")
    still_serving(server, session)


def test_a_request_line_over_the_limit_is_414(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.clear()
    response = session.post(
        server.url(DUMMY) + "?method=echo&pad=" + "z" * 70000,
        data={"args": "[]"},
        timeout=30,
    )
    assert_clean_refusal(response, caplog, 414, "request line is longer than 65536 bytes")
    still_serving(server, session)


def test_a_head_just_under_the_limit_is_served(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = session_for(server_pki.proxy).post(
        server.url(DUMMY),
        data={"method": "echo", "args": '["big head"]'},
        headers={f"X-Filler-{i}": "y" * 1000 for i in range(60)},
        timeout=30,
    )
    assert response.text == '{"OK": true, "Value": "big head"}'


# ------------------------------------------------------------------ item 4: one request, one line


def access_lines(caplog: pytest.LogCaptureFixture, needle: str) -> list[logging.LogRecord]:
    deadline = time.monotonic() + 5  # the access line is written just after the answer
    while time.monotonic() < deadline:
        found = [
            r
            for r in caplog.records
            if r.name == "tornadoservice.access" and needle in r.getMessage()
        ]
        if found:
            return found
        time.sleep(0.01)
    return []


def test_a_method_name_cannot_forge_an_access_line(
    server: LiveServer, session_for: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    forged = (
        "echo\n2026-12-02 01:00:00,000 INFO tornadoservice.access: 10.9.8.7:1 "
        "dirac_admin:root Framework/DummyTornado shutdown 200 0.10ms OK"
    )
    formatter = LineFormatter()
    with caplog.at_level(logging.INFO, logger="tornadoservice"):
        caplog.clear()
        session_for(None).post(server.url(DUMMY), data={"method": forged, "args": "[]"}, timeout=30)
        lines = access_lines(caplog, "dirac_admin:root")
    assert len(lines) == 1
    message = lines[0].getMessage()
    assert "\n" not in message
    assert "echo\\n2026-12-02" in message
    for record in caplog.records:
        # The warning of the refusal too: whatever it quotes stays on its line.
        assert "\n" not in formatter.format(record)


def raw_request(server: LiveServer, server_pki: ServerPKI, head: bytes) -> bytes:
    """Send ``head`` as it is (no client library quotes it) and return the answer's first line."""
    context = ssl.create_default_context(capath=str(server_pki.ca_dir))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head)
        answer = b""
        while b"\r\n" not in answer:
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_a_path_with_control_characters_stays_on_one_line(
    server: LiveServer, server_pki: ServerPKI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tornadoservice"):
        caplog.clear()
        status = raw_request(
            server,
            server_pki,
            # C1 controls (Tornado refuses C0 ones in the request line): CSI clears a terminal,
            # NEL is a line break to str.splitlines and some log viewers.
            b"POST /nowhere\x9b2J\x85FAKE HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        lines = access_lines(caplog, "/nowhere") if status.startswith(b"HTTP/1.1 404") else []
    assert status.startswith((b"HTTP/1.1 404", b"HTTP/1.1 400")), status
    if status.startswith(b"HTTP/1.1 404"):
        assert len(lines) == 1
        assert "/nowhere\\x9b2J\\x85FAKE" in lines[0].getMessage()
    written = "".join(LineFormatter().format(r) for r in caplog.records)
    assert "\x9b" not in written
    assert "\x85" not in written


def test_the_serve_formatter_escapes_every_logger() -> None:
    record = logging.LogRecord(
        "some.service", logging.INFO, __file__, 1, "user said %s", ("hi\r\nFAKE LINE",), None
    )
    line = LineFormatter().format(record)
    assert line.endswith("user said hi\\r\\nFAKE LINE")
    assert "\n" not in line and "\r" not in line
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    # A traceback keeps its own lines, after the one-line message.
    assert LineFormatter().format(record).splitlines()[0].endswith("FAKE LINE")


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain DN /C=ch/CN=user", "plain DN /C=ch/CN=user"),
        ("a\nb", "a\\nb"),
        ("tab\tbell\x07", "tab\\tbell\\x07"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nel\x85 ls\u2028 ps\u2029", "nel\\x85 ls\\u2028 ps\\u2029"),
        ("é ü ∑", "é ü ∑"),
    ],
)
def test_escape_control(text: str, escaped: str) -> None:
    assert escape_control(text) == escaped
    assert len(escape_control(text).splitlines()) == 1


# ------------------------------------------------------------------ item 5: upload mode


def test_only_upload_methods_take_a_streamed_body(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = session_for(server_pki.proxy)
    caplog.clear()
    response = session.post(
        server.url(DUMMY) + "?method=echo&args=%5B%5D",
        data=b"raw bytes",
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert_clean_refusal(response, caplog, 400, "echo does not take a streamed body")
    still_serving(server, session)


def test_a_streamed_body_refused_to_an_anonymous_caller_says_nothing_of_upload(
    server: LiveServer, session_for: Sessions
) -> None:
    # Authentication comes first: no probing which methods exist or take uploads.
    response = session_for(None).post(
        server.url(DUMMY) + "?method=add&args=%5B1%5D",
        data=b"raw bytes",
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 401


def test_a_declared_upload_method_takes_a_streamed_body(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = session_for(server_pki.proxy).post(
        server.url(DUMMY) + "?method=putChunk&args=%5B%22part1%22%5D",
        data=b"x" * 100_000,
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert response.text == '{"OK": true, "Value": {"name": "part1", "size": 100000}}'


def test_a_streamed_body_cannot_be_compressed(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.clear()
    response = session_for(server_pki.proxy).post(
        server.url(DUMMY) + "?method=putChunk&args=%5B%22z%22%5D",
        data=gzip.compress(b"x" * 1000),
        headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"},
        timeout=30,
    )
    assert_clean_refusal(response, caplog, 415, "A streamed body cannot be sent")


# ------------------------------------------------------------------ item 10: forgotten S_OK


@pytest.mark.parametrize(
    ("method", "returned"),
    [("forgotReturn", "NoneType"), ("plainText", "str"), ("asyncForgot", "str")],
)
def test_a_forgotten_s_ok_is_a_500_naming_the_method(
    server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
    method: str,
    returned: str,
) -> None:
    caplog.clear()
    response = session_for(server_pki.proxy).post(
        server.url(DUMMY), data={"method": method}, timeout=30
    )
    assert response.status_code == 500
    assert json.loads(response.text) == {
        "OK": False,
        "Errno": 0,
        "Message": f"{method} returned an unsupported value",
    }
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert f"{DUMMY}/{method} returned {returned}, not S_OK/S_ERROR" in errors[0].getMessage()
    assert "forgotten" in errors[0].getMessage()


def test_raw_content_still_takes_bytes_and_str(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.proxy)
    raw = session.post(
        server.url(DUMMY),
        data={"method": "streamToClient", "args": '["bytes", ""]', "rawContent": "True"},
        timeout=30,
    )
    assert raw.content == b"content of abc\n" * 3
    text = session.post(
        server.url(DUMMY), data={"method": "plainText", "rawContent": "True"}, timeout=30
    )
    assert text.content == b"just text"
    # Without rawContent, bytes are still content (streamToClient called by hand).
    plain = session.post(
        server.url(DUMMY), data={"method": "streamToClient", "args": '["bytes", ""]'}, timeout=30
    )
    assert plain.status_code == 200
    assert plain.content == b"content of abc\n" * 3
