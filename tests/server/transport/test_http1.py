"""HTTP/1.1 behaviour at the byte level, on both server transports (Tornado's and httptools').

Real TLS with the test PKI's user proxy; raw sockets so that framing, pipelining and
``Expect: 100-continue`` can be driven exactly.
"""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI
from tornadoservice.identity.tls import client_ssl_context

PATH = f"/{DUMMY}"


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI, http_implementation: str) -> Iterator[LiveServer]:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/IdleConnectionTimeout", "1")
    with live_server(
        config, {DUMMY: DummyTornadoHandler}, http_implementation=http_implementation
    ) as live:
        yield live


class Client:
    """A TLS socket that reads whole HTTP answers (Content-Length or chunked)."""

    def __init__(self, server: LiveServer, pki: ServerPKI) -> None:
        context = client_ssl_context(pki.ca_dir, pki.proxy.cert, pki.proxy.key)
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.tls = context.wrap_socket(raw, server_hostname="localhost")
        self.buffer = b""

    def close(self) -> None:
        self.tls.close()

    def _fill(self) -> None:
        chunk = self.tls.recv(65536)
        assert chunk, f"connection closed after {self.buffer!r}"
        self.buffer += chunk

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        if "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._line(), 16):
                body += self._take(size)
                self._take(2)
            self._take(2)
        else:
            body = b""
        return status, headers, body

    def closed_within(self, seconds: float) -> bool:
        """The server closes the connection within ``seconds`` (reading anything it sends)."""
        self.tls.settimeout(seconds)
        try:
            while self.tls.recv(65536):
                pass
        except TimeoutError:
            return False
        except (ConnectionResetError, ssl.SSLError):
            pass
        return True


@pytest.fixture
def client(server: LiveServer, server_pki: ServerPKI) -> Iterator[Client]:
    connection = Client(server, server_pki)
    yield connection
    connection.close()


def _form(method: str, *args: object) -> bytes:
    return urlencode({"method": method, "args": json.dumps(list(args))}).encode()


def _request(body: bytes, *, version: str = "1.1", extra: str = "", path: str = PATH) -> bytes:
    head = (
        f"POST {path} HTTP/{version}\r\nHost: localhost\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def _value(body: bytes) -> object:
    answer = json.loads(body)
    assert answer["OK"], answer
    return answer["Value"]


def test_pipelined_requests_are_answered_in_order(client: Client) -> None:
    client.tls.sendall(b"".join(_request(_form("add", n, 100)) for n in range(5)))
    values = []
    for _ in range(5):
        status, _, body = client.response()
        assert status == 200
        values.append(_value(body))
    assert values == [100, 101, 102, 103, 104]


def test_header_values_with_trailing_whitespace_are_served(client: Client) -> None:
    # RFC 9110 5.5: the whitespace around a field value is not part of it (httptools keeps it).
    client.tls.sendall(_request(_form("echo", "ows"), extra="X-Test: a \t\r\nUser-Agent: ua \r\n"))
    status, _, body = client.response()
    assert status == 200
    assert _value(body) == "ows"


def test_a_chunked_request_body_is_read(client: Client) -> None:
    body = _form("echo", "chunked")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]))
    client.tls.sendall(
        f"POST {PATH} HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
        + chunks
        + b"0\r\n\r\n"
    )
    status, _, answer = client.response()
    assert status == 200 and _value(answer) == "chunked"


def test_a_gzip_request_body_is_inflated(client: Client) -> None:
    body = gzip.compress(_form("echo", "x" * 10000))
    client.tls.sendall(_request(body, extra="Content-Encoding: gzip\r\n"))
    status, _, answer = client.response()
    assert status == 200 and _value(answer) == "x" * 10000


def test_expect_100_continue_is_answered_before_the_body_is_sent(client: Client) -> None:
    body = _form("echo", "after 100")
    head, _, _ = _request(body, extra="Expect: 100-continue\r\n").partition(b"\r\n\r\n")
    client.tls.sendall(head + b"\r\n\r\n")
    status, _, _ = client.response()
    assert status == 100
    client.tls.sendall(body)
    status, _, answer = client.response()
    assert status == 200 and _value(answer) == "after 100"


def test_http_1_0_without_keep_alive_closes_after_the_answer(client: Client) -> None:
    client.tls.sendall(_request(_form("echo", "old"), version="1.0"))
    status, _, answer = client.response()
    assert status == 200 and _value(answer) == "old"
    assert client.closed_within(5)


def test_http_1_0_with_keep_alive_keeps_the_connection(client: Client) -> None:
    for word in ("one", "two"):
        client.tls.sendall(
            _request(_form("echo", word), version="1.0", extra="Connection: keep-alive\r\n")
        )
        status, headers, answer = client.response()
        assert status == 200 and _value(answer) == word
        assert headers["connection"].lower() == "keep-alive"


def test_connection_close_is_honoured(client: Client) -> None:
    client.tls.sendall(_request(_form("echo", "bye"), extra="Connection: close\r\n"))
    status, headers, _ = client.response()
    assert status == 200 and headers["connection"] == "close"
    assert client.closed_within(5)


def test_a_streamed_answer_is_chunked(client: Client) -> None:
    body = urlencode(
        {"method": "streamToClient", "args": json.dumps(["chunks", "3"]), "rawContent": "1"}
    ).encode()
    client.tls.sendall(_request(body))
    status, headers, answer = client.response()
    assert status == 200 and headers.get("transfer-encoding") == "chunked"
    assert answer == b"".join(f"chunk {i:06d}\n".encode() * 1000 for i in range(3))
    # The connection stays usable after a chunked answer.
    client.tls.sendall(_request(_form("echo", "next")))
    assert _value(client.response()[2]) == "next"


def test_an_idle_connection_is_closed_after_the_idle_timeout(client: Client) -> None:
    client.tls.sendall(_request(_form("echo", "once")))
    assert client.response()[0] == 200
    started = time.monotonic()
    assert client.closed_within(10)
    assert 0.8 <= time.monotonic() - started < 10


def refused_handshake(server: LiveServer, pki: ServerPKI) -> None:
    """Call with a certificate from a CA the server does not trust (raises ssl.SSLError)."""
    cred = pki.foreign_user
    context = client_ssl_context(pki.ca_dir, cred.cert, cred.key)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(_request(_form("echo", "refused")))
        tls.recv(1024)


def test_a_client_certificate_from_an_unknown_ca_is_a_tls_error(
    server: LiveServer, server_pki: ServerPKI
) -> None:
    with pytest.raises(ssl.SSLError):
        refused_handshake(server, server_pki)
