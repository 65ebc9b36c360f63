"""What the httptools transport relies on httptools for: header bytes that Tornado refuses.

``HTTPProtocol.on_header`` stores a first header field without ``HTTPHeaders.add``'s checks of
its name and value, because httptools has already refused every byte those checks refuse. These
tests pin that down for the installed httptools: if a release starts letting such a byte through,
they fail (and the checks must come back).
"""

from __future__ import annotations

import httptools
import pytest
from tornado.httputil import HTTPHeaders, HTTPInputError

from tornadoservice.server.transport.protocol import HTTPProtocol


class _Collect:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))


def _parse(request: bytes) -> list[tuple[bytes, bytes]] | None:
    """The header fields httptools gives for ``request``, or ``None`` if it refuses it."""
    sink = _Collect()
    try:
        httptools.HttpRequestParser(sink).feed_data(request)
    except httptools.HttpParserError:
        return None
    return sink.headers


def _tornado_accepts(name: bytes, value: bytes) -> bool:
    try:
        HTTPHeaders().add(name.decode("latin1"), value.decode("latin1").rstrip(" \t"))
    except HTTPInputError:
        return False
    return True


@pytest.mark.parametrize("byte", range(256))
def test_a_value_byte_tornado_refuses_is_refused_by_httptools(byte: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a" + bytes([byte]) + b"b\r\n\r\n"
    fields = _parse(request)
    if fields is None:
        return  # refused before any header reached the transport
    assert all(_tornado_accepts(name, value) for name, value in fields), (byte, fields)


@pytest.mark.parametrize("byte", range(256))
def test_a_name_byte_tornado_refuses_is_refused_by_httptools(byte: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\nX" + bytes([byte]) + b"A: ab\r\n\r\n"
    fields = _parse(request)
    if fields is None:
        return
    assert all(_tornado_accepts(name, value) for name, value in fields), (byte, fields)


@pytest.mark.parametrize(
    "head",
    [
        b"X-A: a\r\n b",  # obsolete line folding
        b"X-A: a\rb",  # a bare CR inside a value
        b"X-A: a\nb",  # a bare LF inside a value
        b" X-A: a",  # whitespace before a name
        b"X-A : a",  # whitespace between name and colon
    ],
)
def test_malformed_fields_never_reach_the_transport(head: bytes) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n\r\n"
    fields = _parse(request)
    assert fields is None or all(_tornado_accepts(n, v) for n, v in fields), fields


def test_a_repeated_field_is_appended_as_tornado_does() -> None:
    class _Server:
        max_header_size = 65536
        stopping = False
        loop = None

    protocol = HTTPProtocol.__new__(HTTPProtocol)
    protocol.server = _Server()  # type: ignore[assignment]  # only the limit is read
    protocol._headers = HTTPHeaders()
    protocol._head_size = 0
    protocol.on_header(b"X-Thing", b"one ")
    protocol.on_header(b"x-thing", b"two")
    assert protocol._headers.get_list("X-Thing") == ["one", "two"]
    assert protocol._headers["X-Thing"] == "one,two"
