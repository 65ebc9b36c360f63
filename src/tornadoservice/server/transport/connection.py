"""The response side of one request: Tornado's ``HTTPConnection`` over an asyncio transport.

Tornado's ``Application`` answers a request through the ``HTTPConnection`` it was started with
(``write_headers``, ``write``, ``finish``), exactly as it does over Tornado's own
``HTTP1Connection``: one :class:`RequestConnection` per request, as there. Framing follows
``HTTP1Connection``: chunked output for an HTTP/1.1 answer without ``Content-Length``,
``Connection: close`` when the connection will be closed after the answer, ``Keep-Alive`` for an
HTTP/1.0 client that asked for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from tornado import httputil
from tornado.iostream import StreamClosedError

if TYPE_CHECKING:
    from tornadoservice.server.transport.protocol import HTTPProtocol

__all__ = ["ConnectionContext", "RequestConnection"]


class ConnectionContext:
    """What ``HTTPServerRequest`` and the handlers read about the peer (Tornado's
    ``_HTTPRequestContext``): ``address`` as the socket gives it, ``remote_ip``, ``protocol``."""

    __slots__ = ("address", "protocol", "remote_ip")

    def __init__(self, address: tuple[str, int] | tuple[str, int, int, int] | None) -> None:
        self.address = address
        self.remote_ip = str(address[0]) if address else "0.0.0.0"
        self.protocol = "https"

    def __str__(self) -> str:
        return self.remote_ip


class RequestConnection(httputil.HTTPConnection):
    """One request's connection: reads are driven by :class:`HTTPProtocol`, writes go here."""

    def __init__(
        self,
        protocol: HTTPProtocol,
        start_line: httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
        keep_alive: bool,
    ) -> None:
        self.stream = protocol
        """The TCP connection (the ``IOStream`` in Tornado's transport): a key per connection."""
        self.context = protocol.context
        self.protocol = protocol
        self.start_line = start_line
        self.request_headers = headers
        self.keep_alive = keep_alive
        self.max_body_size = protocol.server.max_body_size
        self.delegate: httputil.HTTPMessageDelegate | None = None
        self.reading = True
        """The request's body has not ended yet."""
        self.body_size = 0
        self.headers_written = False
        self.finished = False
        self._close_callback: Callable[[], None] | None = None
        self._chunking = False
        self._remaining: int | None = None

    # ------------------------------------------------------------------ Tornado's extras
    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """``callback`` runs if the connection closes after the body, before the answer ended."""
        self._close_callback = callback

    def set_max_body_size(self, max_body_size: int) -> None:
        self.max_body_size = max_body_size

    def set_body_timeout(self, timeout: float) -> None:
        self.protocol.set_body_deadline(timeout)

    def close(self) -> None:
        """Drop the connection now, with what it still had to send (a write timed out)."""
        self.protocol.abort()

    def connection_closed(self) -> None:
        """The transport is gone: tell whoever waits on this request."""
        if self.finished:
            return
        if self.reading:
            self.reading = False
            if self.delegate is not None:
                self.delegate.on_connection_close()
        callback, self._close_callback = self._close_callback, None
        if callback is not None:
            callback()

    # ------------------------------------------------------------------ the answer
    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        assert isinstance(start_line, httputil.ResponseStartLine)
        request = self.start_line
        code = start_line.code
        http11 = request.version == "HTTP/1.1"
        no_body = code in (204, 304) or 100 <= code < 200 or request.method == "HEAD"
        # Each name looked up once (an HTTPHeaders lookup normalizes the name every time).
        has_length = "Content-Length" in headers
        self._chunking = (
            http11 and not no_body and not has_length and "Transfer-Encoding" not in headers
        )
        if (
            ("Connection" in headers and headers["Connection"].lower() == "close")
            or self.protocol.stopping
            or (self.reading and not self.protocol.body_parsed())
        ):
            self.keep_alive = False  # (an answer before the body ends closes the connection)
        elif not no_body and not self._chunking and not has_length:
            self.keep_alive = False  # the body ends where the connection does
        if http11:
            if not self.keep_alive:
                headers["Connection"] = "close"
        elif self.keep_alive:
            headers["Connection"] = "Keep-Alive"
        if self._chunking:
            headers["Transfer-Encoding"] = "chunked"
        if no_body:
            self._remaining = 0
        elif has_length:
            self._remaining = int(headers["Content-Length"])
        fields = [f"{name}: {value}\r\n" for name, value in headers.get_all()]
        block = "".join(fields)
        # One scan of the whole block instead of four per header: only the line ends may be CR
        # or LF, so any other is a header smuggling a line of its own.
        if block.count("\n") != len(fields) or block.count("\r") != len(fields):
            bad = next(field for field in fields if "\n" in field[:-2] or "\r" in field[:-2])
            raise ValueError(f"Illegal characters (CR or LF) in header: {bad.split(':')[0]!r}")
        self.headers_written = True
        data = f"HTTP/1.1 {code} {start_line.reason}\r\n{block}\r\n".encode("latin1")
        if chunk:
            data += self._frame(chunk)
        return self.protocol.send(data)

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        return self.protocol.send(self._frame(chunk))

    def _frame(self, chunk: bytes) -> bytes:
        if self._remaining is not None:
            self._remaining -= len(chunk)
            if self._remaining < 0:
                self.protocol.close()
                raise httputil.HTTPOutputError("Tried to write more data than Content-Length")
        if self._chunking and chunk:
            return b"%x\r\n%b\r\n" % (len(chunk), chunk)
        return chunk

    def finish(self) -> None:
        if self.finished:
            return
        if self._remaining and not self.protocol.closed:
            self.protocol.close()
            raise httputil.HTTPOutputError(
                f"Tried to write {self._remaining} bytes less than Content-Length"
            )
        if self._chunking:
            self.protocol.send(b"0\r\n\r\n")
        self.finished = True
        self._close_callback = None
        self.protocol.response_finished(self)


def closed_future(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    """A write on a closed connection: fails with ``StreamClosedError`` (marked as retrieved, so
    a caller that does not wait for it leaves no 'exception never retrieved' behind)."""
    future: asyncio.Future[None] = loop.create_future()
    future.set_exception(StreamClosedError())
    future.exception()
    return future
