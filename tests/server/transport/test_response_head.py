"""The answer's head as the httptools transport writes it: exact bytes, and no header that
smuggles a line of its own (CR or LF in a name or value) ever reaches the socket."""

from __future__ import annotations

import asyncio

import pytest
from tornado import httputil

from tests.server.transport.test_flow_control import App, _protocol

REQUEST = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"


def _head(headers: httputil.HTTPHeaders, chunk: bytes | None = None) -> bytes:
    async def scenario() -> bytes:
        app = App()
        protocol, tls = _protocol(app)
        protocol.data_received(REQUEST)
        connection = app.connections[0]
        connection.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers, chunk)
        return tls.written

    return asyncio.run(scenario())


def test_the_head_carries_every_header_in_order_and_ends_with_one_empty_line() -> None:
    headers = httputil.HTTPHeaders({"Content-Type": "application/json", "Content-Length": "2"})
    headers.add("Set-Cookie", "a=1")
    headers.add("Set-Cookie", "b=2")
    assert _head(headers, b"{}") == (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: 2\r\n"
        b"Set-Cookie: a=1\r\n"
        b"Set-Cookie: b=2\r\n"
        b"\r\n{}"
    )


def test_an_answer_without_headers_gets_only_the_framing_it_needs() -> None:
    # No Content-Length: HTTP/1.1 chunked framing is the only header added.
    assert _head(httputil.HTTPHeaders()) == (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Evil", "a\r\nSet-Cookie: stolen=1"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil\r\nSet-Cookie", "stolen=1"),
    ],
)
def test_a_header_with_cr_or_lf_is_refused_and_nothing_is_written(name: str, value: str) -> None:
    headers = httputil.HTTPHeaders({"Content-Length": "0"})
    headers[name] = value  # (add() checks the value itself; item assignment does not)

    async def scenario() -> bytes:
        app = App()
        protocol, tls = _protocol(app)
        protocol.data_received(REQUEST)
        with pytest.raises(ValueError, match="Illegal characters"):
            app.connections[0].write_headers(
                httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers
            )
        return tls.written

    assert asyncio.run(scenario()) == b""
