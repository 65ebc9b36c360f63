"""What only the httptools transport does itself: refusals at the parser, the TLS handshake
timeout, stopping (idle connections closed at once, in-flight answers finished), and the
selection option. Real TLS, real server on a loopback port; ``--processes`` with real processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.cli.support import running_server
from tests.conftest import DUMMY, dummy_config
from tests.server.transport.test_http1 import (
    PATH,
    Client,
    _form,
    _request,
    _value,
    refused_handshake,
)
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI
from tornadoservice.client.transport import make_session
from tornadoservice.server.demo_state import ensure_demo
from tornadoservice.server.server import ServerStartError, TornadoServer, _http_implementation
from tornadoservice.server.transport import HttptoolsServer

HANDSHAKE_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/HandshakeTimeout", str(HANDSHAKE_TIMEOUT))
    config.set_option("/Systems/Tornado/MaxBodySize", str(1024 * 1024))
    with live_server(config, {DUMMY: DummyTornadoHandler}, http_implementation="httptools") as live:
        yield live


@pytest.fixture
def client(server: LiveServer, server_pki: ServerPKI) -> Iterator[Client]:
    connection = Client(server, server_pki)
    yield connection
    connection.close()


def test_the_server_runs_on_the_httptools_transport(server: LiveServer) -> None:
    assert all(isinstance(s, HttptoolsServer) for s in server.server.servers)


def test_a_malformed_request_is_a_json_400_and_closes(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.tls.sendall(b"POST /x HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n")
    status, headers, body = client.response()
    assert status == 400 and headers["connection"] == "close"
    answer = json.loads(body)
    assert answer["OK"] is False and "Malformed HTTP request" in answer["Message"]
    assert client.closed_within(5)
    assert any(r.levelno == logging.WARNING and "400" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("extra", "path", "status", "what"),
    [
        ("".join(f"X-Filler-{i}: {'y' * 1000}\r\n" for i in range(70)), PATH, 431, "head"),
        ("", PATH + "?pad=" + "z" * 70000, 414, "line"),
    ],
)
def test_a_request_head_over_the_limit_is_answered_then_closed(
    client: Client, extra: str, path: str, status: int, what: str
) -> None:
    client.tls.sendall(_request(_form("echo", "big"), extra=extra, path=path))
    answered, headers, body = client.response()
    assert answered == status and headers["connection"] == "close"
    assert f"The request {what} is longer than 65536 bytes" in json.loads(body)["Message"]
    assert client.closed_within(5)


def test_a_head_just_under_the_limit_is_served(client: Client) -> None:
    extra = "".join(f"X-Filler-{i}: {'y' * 1000}\r\n" for i in range(60))
    client.tls.sendall(_request(_form("echo", "big head"), extra=extra))
    status, _, body = client.response()
    assert status == 200 and _value(body) == "big head"


def test_a_pipelined_request_after_a_malformed_one_is_not_served(client: Client) -> None:
    client.tls.sendall(_request(_form("echo", "first")) + b"GARBAGE\r\n\r\n")
    status, _, body = client.response()
    assert status == 200 and _value(body) == "first"  # the good one is answered, in order
    status, _, _ = client.response()
    assert status == 400
    assert client.closed_within(5)


def test_a_declared_body_over_the_ceiling_is_413_before_it_is_sent(client: Client) -> None:
    # The transport's ceiling is far above MaxBodySize (1 MiB here); 1 GiB is past both.
    size = 1 << 30
    client.tls.sendall(
        f"POST {PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {size}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\nmethod=echo".encode()
    )
    status, headers, body = client.response()
    assert status == 413 and headers["connection"] == "close"
    assert json.loads(body)["OK"] is False
    assert client.closed_within(5)


def test_a_refused_handshake_sends_its_alert(server: LiveServer, server_pki: ServerPKI) -> None:
    """The client learns why (asyncio's own TLS layer would drop the alert and the client would
    see the connection end without a reason)."""
    with pytest.raises(ssl.SSLError, match=r"(?i)alert"):
        refused_handshake(server, server_pki)


def test_a_stalled_tls_handshake_is_dropped(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        started = time.monotonic()
        assert raw.recv(1024) == b""  # the server closes: no ClientHello came
        waited = time.monotonic() - started
    assert HANDSHAKE_TIMEOUT * 0.8 <= waited < HANDSHAKE_TIMEOUT + 5


@contextmanager
def stoppable_server(
    pki: ServerPKI, implementation: str | None = "httptools"
) -> Iterator[LiveServer]:
    """A live server that the test stops itself (once: stop is not run again on leaving);
    ``implementation`` None leaves the transport option out of the configuration."""
    config = dummy_config(pki)
    if implementation is not None:
        config.set_option("/Systems/Tornado/HTTPImplementation", implementation)
    server = TornadoServer(config, handlers={DUMMY: DummyTornadoHandler}, port=0, host="127.0.0.1")
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        server.listen()
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="stoppable-server", daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield LiveServer(server, loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_stop_closes_idle_connections_and_finishes_the_one_in_flight(
    server_pki: ServerPKI,
) -> None:
    with stoppable_server(server_pki) as live:
        idle, busy = Client(live, server_pki), Client(live, server_pki)
        try:
            idle.tls.sendall(_request(_form("echo", "idle")))
            assert idle.response()[0] == 200
            busy.tls.sendall(_request(_form("sleep", 1)))
            time.sleep(0.3)  # the call is running
            stopping = asyncio.run_coroutine_threadsafe(live.server.stop(), live.loop)
            assert idle.closed_within(2), "an idle connection was not closed at stop"
            status, headers, body = busy.response()
            assert status == 200 and json.loads(body)["OK"] is True
            assert headers["connection"] == "close"
            assert busy.closed_within(5)
            stopping.result(10)
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", live.port), timeout=2).close()
        finally:
            idle.close()
            busy.close()


def test_an_unknown_http_implementation_is_a_start_error(server_pki: ServerPKI) -> None:
    config = dummy_config(server_pki)
    with (
        pytest.raises(ServerStartError, match="HTTPImplementation: 'h2o' is not one of"),
        live_server(config, {DUMMY: DummyTornadoHandler}, http_implementation="h2o"),
    ):
        pass


def test_workers_on_the_httptools_transport_share_the_port_and_drain(tmp_path: Path) -> None:
    demo = ensure_demo(tmp_path / "state")
    extra = tmp_path / "transport.cfg"
    extra.write_text("Systems\n{\n  Tornado\n  {\n    HTTPImplementation = httptools\n  }\n}\n")
    args = ["serve", "--config", demo.config, "--config", extra, "--port", "0"]
    with running_server([*args, "--processes", "2"], output_dir=tmp_path / "logs") as served:
        url = served.wait_for(r"serving Demo/Greeter on (https://\S+)", stream="stderr")[1]
        url = re.sub(r"//[^:/]+:", "//127.0.0.1:", url)
        served.wait_for(r"2 worker processes", stream="stderr")

        def call(method: str, *args: object) -> requests.Response:
            with make_session(demo.ca_dir, demo.proxy) as session:
                data = {"method": method, "args": json.dumps(list(args))}
                return session.post(url, data=data, timeout=30)

        for _ in range(4):
            assert call("add", 1, 2).text == '{"OK": true, "Value": 3}'
        results: list[requests.Response] = []
        slow = threading.Thread(target=lambda: results.append(call("sleep", 1)))
        slow.start()
        time.sleep(0.5)
        served.send_signal(signal.SIGTERM)
        slow.join(30)
        assert results and results[0].json()["OK"] is True
        assert served.wait_exit(30) == 0


def test_refused_handshakes_leave_no_connection_behind(
    server: LiveServer, server_pki: ServerPKI
) -> None:
    for _ in range(3):
        with pytest.raises(ssl.SSLError):
            refused_handshake(server, server_pki)
    (transport,) = server.server.servers
    assert isinstance(transport, HttptoolsServer)
    deadline = time.monotonic() + 5
    while transport.connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not transport.connections


@pytest.mark.parametrize(
    ("given", "chosen"),
    [(None, "httptools"), ("", "httptools"), ("httptools", "httptools"), (" Tornado ", "tornado")],
)
def test_httptools_is_the_default_transport_and_tornado_stays_selectable(
    server_pki: ServerPKI, given: str | None, chosen: str
) -> None:
    config = dummy_config(server_pki)
    if given is not None:
        config.set_option("/Systems/Tornado/HTTPImplementation", given)
    assert _http_implementation(config) == chosen


def test_a_server_configured_without_a_transport_serves_on_httptools(
    server_pki: ServerPKI,
) -> None:
    with stoppable_server(server_pki, implementation=None) as live:
        assert [type(s) for s in live.server.servers] == [HttptoolsServer]
        with make_session(server_pki.ca_dir, server_pki.proxy.cert, server_pki.proxy.key) as s:
            answer = s.post(live.url(DUMMY), data={"method": "echo", "args": '["x"]'}, timeout=30)
        assert answer.json() == {"OK": True, "Value": "x"}
        asyncio.run_coroutine_threadsafe(live.server.stop(), live.loop).result(10)
