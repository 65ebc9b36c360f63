"""/Systems/Tornado/BodyTimeout: a request body that does not arrive in time closes the connection.

Real TLS with the test PKI's user proxy; raw sockets so that the body can be held back.
"""

from __future__ import annotations

import gc
import json
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI
from tornadoservice import S_OK
from tornadoservice.identity.tls import client_ssl_context
from tornadoservice.server.httpserver import _BodyDeadline

TIMEOUT = 0.5


class Uploads(DummyTornadoHandler):
    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId: str, token: str, size: int, stream: Any) -> Any:
        received = 0
        while chunk := stream.read(65536):
            received += len(chunk)
        return S_OK(received)


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/BodyTimeout", str(TIMEOUT))
    with live_server(config, {DUMMY: Uploads}) as live:
        yield live


def _connect(server: LiveServer, pki: ServerPKI) -> ssl.SSLSocket:
    context = client_ssl_context(pki.ca_dir, pki.proxy.cert, pki.proxy.key)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def _head(path: str, length: int, content_type: str = "application/x-www-form-urlencoded") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _read_response(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        rest += tls.recv(65536)
    return head + b"\r\n\r\n" + rest


def _seconds_until_closed(tls: ssl.SSLSocket) -> float:
    started = time.monotonic()
    try:
        while tls.recv(65536):
            pass
    except (ConnectionResetError, ssl.SSLError):
        pass
    return time.monotonic() - started


@pytest.mark.parametrize("path", [f"/{DUMMY}", "/No/Such"])
def test_a_body_that_stops_arriving_gets_the_connection_closed(
    server: LiveServer, server_pki: ServerPKI, path: str
) -> None:
    with _connect(server, server_pki) as tls:
        tls.sendall(_head(path, 100) + b"method=ech")  # 10 of the 100 announced bytes
        waited = _seconds_until_closed(tls)
    assert TIMEOUT * 0.8 <= waited < TIMEOUT + 5


def test_a_complete_body_cancels_the_deadline_for_the_next_request(
    server: LiveServer, server_pki: ServerPKI
) -> None:
    body = urlencode({"method": "echo", "args": json.dumps(["hi"])}).encode()
    with _connect(server, server_pki) as tls:
        tls.sendall(_head(f"/{DUMMY}", len(body)) + body)
        assert b'"Value": "hi"' in _read_response(tls)
        time.sleep(TIMEOUT * 2)  # longer than the body deadline: it must have been cancelled
        tls.sendall(_head(f"/{DUMMY}", len(body)) + body)
        assert b'"Value": "hi"' in _read_response(tls)


def test_a_streamed_upload_may_take_longer_than_the_body_timeout(
    server: LiveServer, server_pki: ServerPKI
) -> None:
    size, pieces = 3000, 3
    query = urlencode({"method": "streamFromClient", "args": json.dumps(["f", "", size])})
    with _connect(server, server_pki) as tls:
        tls.sendall(_head(f"/{DUMMY}?{query}", size, "application/octet-stream"))
        for _ in range(pieces):
            time.sleep(TIMEOUT * 0.8)  # 2.4 x the body timeout in all
            tls.sendall(b"x" * (size // pieces))
        response = _read_response(tls)
    assert response.startswith(b"HTTP/1.1 200"), response
    assert b'"Value": 3000' in response


def test_requests_leave_no_deadline_for_the_garbage_collector(
    server: LiveServer, server_pki: ServerPKI
) -> None:
    """Each deadline is freed when its request ends, not by the cyclic collector (a cycle per
    request made collections long and frequent: p99 latency tripled under load)."""
    body = urlencode({"method": "echo", "args": json.dumps(["hi"])}).encode()
    gc.collect()
    gc.disable()
    try:
        with _connect(server, server_pki) as tls:
            for _ in range(20):
                tls.sendall(_head(f"/{DUMMY}", len(body)) + body)
                assert b'"Value": "hi"' in _read_response(tls)
        left = [o for o in gc.get_objects() if isinstance(o, _BodyDeadline)]
    finally:
        gc.enable()
    assert len(left) <= 1, f"{len(left)} deadlines still alive"
