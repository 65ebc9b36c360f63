"""One TLS connection: an asyncio ``Protocol`` parsing HTTP/1.1 with ``httptools``.

The parser turns bytes into events (headers, body chunks, end) queued in order; the queue is
delivered to the ``HTTPMessageDelegate`` that Tornado's ``Application.start_request`` returns,
one request at a time, as Tornado's ``HTTP1ServerConnection`` does:

* a delegate method that returns an awaitable (``prepare`` of a ``@stream_request_body``
  handler, a ``data_received`` that waits) holds the queue until it is done, and reading from
  the socket pauses while more than :data:`HIGH_WATER` bytes wait in the queue;
* the next pipelined request is delivered only once the answer to the previous one has ended
  and the transport has taken it (answers leave in the order of the requests);
* ``Expect: 100-continue`` is answered once the headers were accepted and no answer was begun;
* an answer that ends before its request's body did closes the connection after it.

Limits (the same as those of Tornado's transport in this server): the request head
(``max_header_size``: 431, a longer URL 414), the body on the wire (``max_body_size``: 413 and
close), a malformed request (400 and close), the time to send a request head once the
connection is idle (``idle_connection_timeout``) and a body once its head is in
(``body_timeout``): the connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import Awaitable
from http.client import responses
from typing import TYPE_CHECKING, Any

import httptools
from tornado import httputil
from tornado.iostream import StreamClosedError

from tornadoservice.core.log import escape_control
from tornadoservice.server.httpserver import (
    REFUSAL_DRAIN,
    REFUSAL_LINGER,
    _RequestGuard,
    error_answer,
)
from tornadoservice.server.transport.connection import (
    ConnectionContext,
    RequestConnection,
    closed_future,
)

if TYPE_CHECKING:
    from tornadoservice.server.transport.listener import HttptoolsServer
    from tornadoservice.server.transport.tls import TLSLayer

__all__ = ["HIGH_WATER", "HTTPProtocol"]

log = logging.getLogger("tornadoservice.server")
request_log = logging.getLogger("tornadoservice.request")

HIGH_WATER = 1024 * 1024
"""Bytes of parsed, undelivered body after which reading from the socket pauses."""
LOW_WATER = 256 * 1024
MAX_QUEUED_EVENTS = 256
"""Parsed, undelivered events (pipelined requests) after which reading pauses."""

# Queue events: (kind, payload)
_HEADERS, _BODY_START, _BODY, _END, _ERROR, _ABORT = range(6)
_STARTS = (_HEADERS, _ERROR)  # wait for the previous answer to end


class _RefusedError(Exception):
    """Raised in a parser callback: answer ``status`` (a JSON ``S_ERROR``) and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class HTTPProtocol:
    """Parses requests off one connection and hands them to Tornado's ``Application``."""

    def __init__(
        self,
        server: HttptoolsServer,
        address: Any = None,
    ) -> None:
        self.server = server
        self.loop = server.loop
        self.context = ConnectionContext(address)
        self.transport: TLSLayer | None = None
        self.closed = False
        self.stopping = server.stopping
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._events: deque[tuple[int, Any]] = deque()
        self._queued_bytes = 0
        self._lingering: int | None = None
        self._blocked = False
        self._pumping = False
        self._current: RequestConnection | None = None
        self._read_paused = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._ready: asyncio.Future[None] = self.loop.create_future()
        self._ready.set_result(None)
        # The request head being parsed.
        self._url = b""
        self._headers: httputil.HTTPHeaders | None = None
        self._head_size = 0
        self._head_wire = 0
        self._in_head = False
        self._in_body = False
        self._began = False
        # Timers: one per kind, re-armed lazily (a deadline moved costs no new timer).
        self._idle_since: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._body_deadline: float | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ the TLS layer's callbacks
    def connection_made(self, transport: TLSLayer) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=256 * 1024, low=64 * 1024)
        if self.stopping:
            self.close()  # the server stopped during the handshake
            return
        self._set_idle()

    def handshake_failed(self) -> None:
        """The connection ended before its TLS handshake did."""
        self.closed = True
        self.server.connection_closed(self)

    @property
    def socket(self) -> ssl.SSLObject | None:
        """The ``ssl.SSLObject`` of the connection (``IOStream.socket`` in Tornado's transport):
        what :func:`tornadoservice.identity.tls.peer_chain` reads the client's chain from."""
        return self.transport.sslobj if self.transport else None

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            # After an error or an upgrade: nothing more is parsed; after a refusal, a little
            # more is read and dropped.
            if self._lingering is not None:
                self._lingering += len(data)
                if self._lingering > REFUSAL_DRAIN:
                    self.close()
            return
        self._began = False
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._parser = None
            self._events.append((_ABORT, "protocol upgrade is not supported"))
        except httptools.HttpParserError as exc:
            self._parser = None
            refused = exc.__context__
            if isinstance(refused, _RefusedError):
                self._events.append((_ERROR, refused))
            elif self._in_body:
                self._events.append((_ABORT, f"malformed request body: {exc}"))
            else:
                self._events.append((_ERROR, _RefusedError(400, f"Malformed HTTP request: {exc}")))
        else:
            if self._in_head and not self._began:
                self._head_wire += len(data)
                if self._head_wire > self.server.max_header_size:
                    self._parser = None
                    self._events.append((_ERROR, self._head_refusal()))
        if not self._blocked:
            self._pump()
        if (
            not self._read_paused
            and self.transport is not None
            and (self._queued_bytes > HIGH_WATER or len(self._events) > MAX_QUEUED_EVENTS)
        ):
            self._read_paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._parser = None
        self._events.clear()
        self._cancel_timers()
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(StreamClosedError())
                waiter.exception()  # retrieved: a writer that stopped waiting leaves no log
        current, self._current = self._current, None
        self.server.connection_closed(self)
        if current is not None:
            current.connection_closed()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if not self._blocked:
            self._pump()

    # ------------------------------------------------------------------ httptools callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = httputil.HTTPHeaders()
        self._head_size = 0
        self._head_wire = 0
        self._in_head = True
        self._began = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.server.max_header_size:
            limit = self.server.max_header_size
            raise _RefusedError(414, f"The request line is longer than {limit} bytes")
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self.server.max_header_size:
            raise self._head_refusal()
        headers = self._headers
        assert headers is not None
        # httptools leaves trailing whitespace on a value; it is not part of the field (RFC 9110
        # 5.5), Tornado's own parser strips it, and HTTPHeaders.add refuses a value that has it.
        text_name = name.decode("latin1")
        text_value = value.decode("latin1").rstrip(" \t")
        if text_name in headers:
            headers.add(text_name, text_value)  # a repeated field: appended, as Tornado does
        else:
            # Stored without HTTPHeaders.add's checks of the name and value: httptools refused
            # every byte those checks refuse before calling here (test_transport_parser.py).
            headers[text_name] = text_value

    def _head_refusal(self) -> _RefusedError:
        limit = self.server.max_header_size
        return _RefusedError(431, f"The request head is longer than {limit} bytes")

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None and self._headers is not None
        self._in_head = False
        self._in_body = True
        self._idle_since = None
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            raise _RefusedError(505, f"HTTP/{version} is not supported")
        start_line = httputil.RequestStartLine(
            parser.get_method().decode("latin1"), self._url.decode("latin1"), f"HTTP/{version}"
        )
        self._events.append((_HEADERS, (start_line, self._headers, parser.should_keep_alive())))
        self._headers = None

    def on_body(self, body: bytes) -> None:
        self._queued_bytes += len(body)
        self._events.append((_BODY, body))

    def on_message_complete(self) -> None:
        self._in_body = False
        self._events.append((_END, None))

    # ------------------------------------------------------------------ delivery
    def _pump(self) -> None:
        if self._pumping:
            return  # re-entered from a delegate: the running loop below goes on
        self._pumping = True
        try:
            self._deliver()
        finally:
            self._pumping = False
        if (
            self._read_paused
            and not self.closed
            and self._queued_bytes < LOW_WATER
            and len(self._events) < MAX_QUEUED_EVENTS // 2
            and self.transport is not None
        ):
            self._read_paused = False
            self.transport.resume_reading()

    def _deliver(self) -> None:
        events = self._events
        while events and not self._blocked and not self.closed:
            kind, payload = events[0]
            if kind in _STARTS and (self._current is not None or self._write_paused):
                return  # resumed when the answer ends, or when the transport drains
            events.popleft()
            try:
                if kind == _BODY:
                    self._queued_bytes -= len(payload)
                    waiter = self._body(payload)
                elif kind == _HEADERS:
                    waiter = self._start(*payload)
                elif kind == _BODY_START:
                    self._body_start()
                    continue
                elif kind == _END:
                    self._end()
                    continue
                elif kind == _ERROR:
                    self._refuse(payload)
                    return
                else:
                    log.info("%s from %s: closing the connection", payload, self.context)
                    self.close()
                    return
            except Exception:
                log.exception("error while serving a request from %s", self.context)
                self.abort()
                return
            if waiter is not None:
                self._wait(waiter)

    def _wait(self, waiter: Awaitable[Any]) -> None:
        if isinstance(waiter, asyncio.Future) and waiter.done():
            if waiter.cancelled() or waiter.exception() is not None:
                self.abort()
            return
        future = asyncio.ensure_future(waiter)
        self._blocked = True
        future.add_done_callback(self._unblock)

    def _unblock(self, future: asyncio.Future[Any]) -> None:
        self._blocked = False
        if future.cancelled() or future.exception() is not None:
            if not self.closed:
                log.info("request from %s failed while read: closing", self.context)
            self.abort()
            return
        self._pump()

    def _start(
        self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders, keep: bool
    ) -> Awaitable[Any] | None:
        connection = RequestConnection(self, start_line, headers, keep and not self.stopping)
        self._current = connection
        # As RPCHTTPServer: gzip inflated in bounded steps (the service answers 400 for a broken
        # one, 413 for a bomb) and a JSON 400 for a query string Tornado cannot parse.
        delegate = _RequestGuard(
            self.server.app.start_request(self, connection),
            connection,
            self.server.max_body_size if self.server.decompress else None,
        )
        connection.delegate = delegate
        if (
            "Content-Length" in headers and headers["Content-Length"] != "0"
        ) or "Transfer-Encoding" in headers:
            timeout = self.server.body_timeout
            if timeout is not None:
                self.set_body_deadline(timeout)
            self._events.appendleft((_BODY_START, None))
        return delegate.headers_received(start_line, headers)

    def _body_start(self) -> None:
        """The headers were accepted (``prepare`` done): check the size, send ``100``."""
        connection = self._current
        if connection is None or connection.finished:
            return
        headers = connection.request_headers  # (looked up with `in` first: a miss is cheaper)
        declared = headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > connection.max_body_size:
            self._too_large(connection)
            return
        if (
            "Expect" in headers
            and connection.start_line.version == "HTTP/1.1"
            and headers["Expect"].lower() == "100-continue"
            and not connection.headers_written
        ):
            self.send(b"HTTP/1.1 100 (Continue)\r\n\r\n")

    def _body(self, chunk: bytes) -> Awaitable[Any] | None:
        connection = self._current
        if connection is None or connection.finished or connection.delegate is None:
            return None  # answered already: the connection closes after the answer
        connection.body_size += len(chunk)
        if connection.body_size > connection.max_body_size:
            self._too_large(connection)
            return None
        result: Awaitable[Any] | None = connection.delegate.data_received(chunk)
        return result

    def _end(self) -> None:
        connection = self._current
        self._body_deadline = None
        if connection is None or connection.finished or connection.delegate is None:
            return
        connection.reading = False
        delegate = connection.delegate
        if connection.finished:
            connection.delegate = None
        delegate.finish()

    def _too_large(self, connection: RequestConnection) -> None:
        limit = connection.max_body_size
        if connection.headers_written:
            log.info("request body from %s larger than %d bytes: closing", self.context, limit)
            self.close()
            return
        self._refuse(_RefusedError(413, f"Request body larger than {limit} bytes"))

    def _refuse(self, refused: _RefusedError) -> None:
        """Answer a request that cannot be served, then read on a little before closing (closing
        with unread bytes resets the connection, and the client could lose the answer)."""
        request_log.warning(
            "%d %s: %s", refused.status, self._peer(), escape_control(refused.message)
        )
        self._write_error(refused)
        self._parser = None
        self._events.clear()
        self._lingering = 0
        self.loop.call_later(REFUSAL_LINGER, self.close)
        if self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def _write_error(self, refused: _RefusedError) -> None:
        if self.transport is None or self.closed:
            return
        headers, body = error_answer(refused.status, refused.message)
        lines = [f"HTTP/1.1 {refused.status} {responses.get(refused.status, 'Error')}\r\n"]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.get_all())
        lines.append("\r\n")
        self.transport.write("".join(lines).encode("latin1") + body)

    def _peer(self) -> str:
        address = self.context.address
        return f"{address[0]}:{address[1]}" if address else "?"

    # ------------------------------------------------------------------ the answer
    def send(self, data: bytes) -> asyncio.Future[None]:
        """Write ``data``; the future is done once the transport's buffer is below its mark."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return closed_future(self.loop)
        self.transport.write(data)
        if not self._write_paused:
            return self._ready
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._drain_waiters.append(waiter)
        return waiter

    def response_finished(self, connection: RequestConnection) -> None:
        if connection is not self._current:
            return
        self._current = None
        if connection.reading and self.body_parsed():
            self._skip_body()  # answered early, but the whole body is in: keep the connection
            connection.reading = False
        if not connection.reading:
            connection.delegate = None  # breaks request <-> connection cycles at once
        if connection.reading or not connection.keep_alive or self.stopping:
            self.close()  # after the answer is sent: the transport flushes first
            return
        if not self._events or self._events[0][0] != _HEADERS:
            self._set_idle()
        if not self._blocked:
            self._pump()

    def body_parsed(self) -> bool:
        """The current request's body has been read to its end (the events are queued)."""
        for kind, _ in self._events:
            if kind == _END:
                return True
            if kind == _HEADERS:
                return False
        return False

    def _skip_body(self) -> None:
        events = self._events
        while events:
            kind, payload = events.popleft()
            if kind == _BODY:
                self._queued_bytes -= len(payload)
            elif kind == _END:
                return

    # ------------------------------------------------------------------ closing and timers
    @property
    def idle(self) -> bool:
        """Between requests, nothing of a next one parsed yet."""
        return self._current is None and not self._events and not self._in_head

    def stop(self) -> None:
        """The server stops: close now if idle, else after the current answer."""
        self.stopping = True
        if self.idle:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._parser = None
        self._events.clear()

    def abort(self) -> None:
        self._parser = None
        self._events.clear()
        if self.transport is not None:
            self.transport.abort()

    def _cancel_timers(self) -> None:
        for timer in (self._idle_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._body_timer = None
        self._idle_since = self._body_deadline = None

    def _set_idle(self) -> None:
        timeout = self.server.idle_connection_timeout
        if timeout is None:
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(timeout, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_timer = None
        timeout = self.server.idle_connection_timeout
        if self._idle_since is None or timeout is None or self.closed:
            return
        left = self._idle_since + timeout - self.loop.time()
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._idle_check)
            return
        log.debug("connection from %s idle for %.0fs: closing", self.context, timeout)
        self.abort()

    def set_body_deadline(self, timeout: float) -> None:
        """The current request's body must be complete within ``timeout`` seconds from now."""
        self._body_deadline = self.loop.time() + timeout
        if self._body_timer is None:
            self._body_timer = self.loop.call_later(timeout, self._body_check)

    def _body_check(self) -> None:
        self._body_timer = None
        if self._body_deadline is None or self.closed:
            return
        left = self._body_deadline - self.loop.time()
        if left > 0:
            self._body_timer = self.loop.call_later(left, self._body_check)
            return
        log.info(
            "request body not received within %.0fs from %s: closing the connection",
            self.server.body_timeout or 0,
            self.context,
        )
        self.abort()
