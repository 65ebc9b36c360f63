"""Flow control of the httptools transport, driven through its own interfaces.

A delegate that has not taken a body chunk (``data_received`` returned a pending future) stops
reading from the socket once :data:`HIGH_WATER` bytes wait; an answer written while the
transport's buffer is full waits until it drains. The TLS layer is replaced by a recording
stand-in: what is tested is the HTTP side's reaction, not the network.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tornado import httputil

from tornadoservice.server.transport.listener import HttptoolsServer
from tornadoservice.server.transport.protocol import HIGH_WATER, HTTPProtocol


class FakeTLS:
    """The transport interface HTTPProtocol writes to, recording what it is asked."""

    def __init__(self) -> None:
        self.written = b""
        self.reading = True
        self.pauses = 0
        self.closing = False
        self.sslobj: Any = None

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass


class Delegate(httputil.HTTPMessageDelegate):
    def __init__(self, app: App) -> None:
        self.app = app

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> None:
        self.app.events.append("headers")

    def data_received(self, chunk: bytes) -> asyncio.Future[None] | None:
        self.app.received += len(chunk)
        return self.app.hold

    def finish(self) -> None:
        self.app.events.append("finish")


class App(httputil.HTTPServerConnectionDelegate):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.received = 0
        self.hold: asyncio.Future[None] | None = None
        self.connections: list[httputil.HTTPConnection] = []

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        self.connections.append(request_conn)
        return Delegate(self)


def _protocol(app: App) -> tuple[HTTPProtocol, FakeTLS]:
    server = HttptoolsServer(
        app,
        ssl_options=None,
        max_body_size=1 << 30,
        body_timeout=60.0,  # type: ignore[arg-type]
    )
    protocol = HTTPProtocol(server)
    tls = FakeTLS()
    protocol.connection_made(tls)  # type: ignore[arg-type]
    return protocol, tls


def test_reading_pauses_while_the_delegate_holds_the_body() -> None:
    async def scenario() -> None:
        app = App()
        app.hold = asyncio.get_running_loop().create_future()
        protocol, tls = _protocol(app)
        size = 4 * HIGH_WATER
        protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        piece = b"x" * 65536
        sent = 0
        while tls.reading and sent < size:
            protocol.data_received(piece)
            sent += len(piece)
        assert not tls.reading, "reading did not pause"
        assert sent <= HIGH_WATER + 2 * len(piece)
        assert app.received == len(piece)  # only the first chunk: the delegate holds the rest
        hold, app.hold = app.hold, None
        hold.set_result(None)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert tls.reading, "reading did not resume once the delegate took the body"
        assert app.received == sent
        while sent < size:
            protocol.data_received(piece)
            sent += len(piece)
        assert app.received == size and app.events == ["headers", "finish"]

    asyncio.run(scenario())


def test_a_write_waits_while_the_transport_buffer_is_full() -> None:
    async def scenario() -> None:
        app = App()
        protocol, tls = _protocol(app)
        protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        connection = app.connections[0]
        headers = httputil.HTTPHeaders({"Content-Type": "application/octet-stream"})
        first = connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
        assert first.done()
        protocol.pause_writing()
        waiting = connection.write(b"a" * 1000)
        assert not waiting.done()
        protocol.resume_writing()
        assert waiting.done() and waiting.exception() is None
        connection.finish()
        assert tls.written.endswith(b"0\r\n\r\n")  # chunked: no Content-Length was given
        assert b"Transfer-Encoding: chunked" in tls.written

    asyncio.run(scenario())


def test_pending_writes_fail_when_the_connection_is_lost() -> None:
    async def scenario() -> None:
        app = App()
        protocol, _ = _protocol(app)
        protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        connection = app.connections[0]
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), httputil.HTTPHeaders()
        )
        protocol.pause_writing()
        waiting = connection.write(b"a")
        protocol.connection_lost(None)
        assert waiting.done() and waiting.exception() is not None

    asyncio.run(scenario())
