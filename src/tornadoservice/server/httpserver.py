"""Tornado's ``HTTPServer`` with a cheaper request-body timeout and JSON answers to bad requests.

Tornado enforces ``body_timeout`` by wrapping every body read in ``gen.with_timeout``, which
turns the read into a task and chains futures around it: about 5% of the cost of a small RPC
here. :class:`RPCHTTPServer` gets the same protection from one timer per request that has a
body, started when its headers arrive and cancelled when its body is complete. A request whose
body is not complete in time has its connection closed, as Tornado does.

A handler that legitimately takes longer (a streamed upload) calls :func:`extend_body_timeout`.

Requests that Tornado itself refuses get an answer with a JSON ``S_ERROR`` body and one warning
line, instead of a bare ``400`` or a silent close:

* a request head over ``max_header_size``: 431, or 414 when the request line alone is that long
  (Tornado closes the connection without a word);
* a query string Tornado cannot parse (more than 1,000 fields): 400;
* a gzip body is inflated here rather than by Tornado, in bounded steps: one that is not valid
  gzip is reported to the service (:func:`body_error`, a 400 there), one that inflates past
  ``max_body_size`` stops being inflated (the service, whose limit is lower, answers 413), and
  so does one the service has refused (:func:`stop_inflating`: past its caller's limit).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import zlib
from collections.abc import Awaitable
from http.client import responses
from typing import Any, cast

from tornado import httputil, iostream
from tornado.concurrent import Future
from tornado.http1connection import HTTP1Connection
from tornado.httpserver import HTTPServer

from tornadoservice.core.log import escape_control
from tornadoservice.core.returnvalues import S_ERROR, strip_result_for_wire
from tornadoservice.server.errors import STATUS_ERRNO
from tornadoservice.server.metrics import watch_handshake
from tornadoservice.server.transport.connection import RequestConnection
from tornadoservice.wire.jencode import encode

__all__ = ["RPCHTTPServer", "body_error", "extend_body_timeout", "stop_inflating"]

log = logging.getLogger("tornadoservice.server")
request_log = logging.getLogger("tornadoservice.request")

_DEADLINE_ATTR = "_tornadoservice_body_deadline"
_BODY_ERROR_ATTR = "_tornadoservice_body_error"
_STOP_INFLATING_ATTR = "_tornadoservice_stop_inflating"
INFLATE_STEP = 64 * 1024
"""Bytes of inflated body handed to the service at a time."""
REFUSAL_DRAIN = 1024 * 1024
"""After a 431/414, bytes still read (and dropped) so the client sees the answer, not a reset."""
REFUSAL_LINGER = 1.0
"""Seconds those bytes are waited for."""


class RPCHTTPServer(HTTPServer):
    """``HTTPServer`` whose ``body_timeout`` (seconds, ``None`` for none) costs one timer."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        self.rpc_body_timeout: float | None = kwargs.get("body_timeout")
        kwargs["body_timeout"] = None  # Tornado's own, per-read timeout: off
        # Tornado's inflater answers a bare 400 to a bad gzip body: _RequestGuard inflates.
        self.rpc_decompress = bool(kwargs.get("decompress_request"))
        kwargs["decompress_request"] = False
        if kwargs.get("ssl_options") is not None and not kwargs.get("protocol"):
            # Tornado guesses it from the stream's class, which _HeadLimitedStream hides.
            kwargs["protocol"] = "https"
        super().initialize(*args, **kwargs)

    def handle_stream(self, stream: iostream.IOStream, address: tuple[Any, ...]) -> None:
        watch_handshake(stream)  # tornadoservice_tls_handshake_failures_total, if metrics are on
        limited = _HeadLimitedStream(stream, self.conn_params.max_header_size, address)
        super().handle_stream(limited, address)  # type: ignore[arg-type]

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        delegate: httputil.HTTPMessageDelegate = _RequestGuard(
            super().start_request(server_conn, request_conn),
            request_conn,
            self.conn_params.max_body_size if self.rpc_decompress else None,
        )
        if self.rpc_body_timeout is None:
            return delegate
        return _BodyDeadline(delegate, request_conn, self.rpc_body_timeout)


def error_answer(status: int, message: str) -> tuple[httputil.HTTPHeaders, bytes]:
    """Headers and JSON ``S_ERROR`` body of an answer that ends the connection."""
    err_no = STATUS_ERRNO.get(status, 0)
    body = encode(strip_result_for_wire(S_ERROR(err_no, message) if err_no else S_ERROR(message)))
    data = body.encode() if isinstance(body, str) else body
    headers = httputil.HTTPHeaders(
        {
            "Content-Type": "application/json",
            "Content-Length": str(len(data)),
            "Connection": "close",
        }
    )
    return headers, data


def _peer(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return "?"


class _RequestGuard(httputil.HTTPMessageDelegate):
    """Inflates gzip bodies in bounded steps and answers a request Tornado cannot parse."""

    __slots__ = ("ceiling", "connection", "delegate", "inflated", "inflater", "refused")

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        connection: httputil.HTTPConnection,
        ceiling: int | None,
    ) -> None:
        self.delegate = delegate
        self.connection = connection
        self.ceiling = ceiling
        """Largest inflated body; ``None``: bodies are not inflated."""
        self.inflater: Any = None
        self.inflated = 0
        self.refused = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        if (
            self.ceiling is not None
            and "Content-Encoding" in headers
            and headers["Content-Encoding"] == "gzip"
        ):
            # As Tornado's own inflater: the service sees the body as it was before gzip.
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            headers.add("X-Consumed-Content-Encoding", headers["Content-Encoding"])
            del headers["Content-Encoding"]
        framing = _framing_error(headers) if isinstance(self.connection, HTTP1Connection) else None
        if framing is not None:
            # Tornado refuses such framing only once the handler has started, and may have
            # answered (405, 413, ...): two answers and two log lines. Refused here instead.
            self.refused = True
            self._refuse_and_close(f"Malformed request: {framing}")
            return None
        try:
            return self.delegate.headers_received(start_line, headers)
        except httputil.HTTPInputError as exc:
            # Raised before any handler exists (the query string: too many fields, ...), so
            # nothing else will answer; the delegate is not told anything more.
            self.refused = True
            if isinstance(self.connection, HTTP1Connection):
                # Not left to Tornado to read the body through: a broken chunk in it would be
                # a second answer and a second line.
                self._refuse_and_close(f"Malformed request: {exc}")
            else:
                self._answer(400, f"Malformed request: {exc}")
            return None

    def _refuse_and_close(self, message: str) -> None:
        """Answer 400 and close: Tornado is told nothing more of this request or connection
        (the stream is detached from it), so it neither reads the body nor a next request."""
        assert isinstance(self.connection, HTTP1Connection)
        context = getattr(self.connection, "context", None)
        request_log.warning(
            "400 %s: %s", _peer(getattr(context, "address", None)), escape_control(message)
        )
        deadline = getattr(self.connection, _DEADLINE_ATTR, None)
        if isinstance(deadline, _BodyDeadline):
            deadline.cancel()
        stream = self.connection.detach()
        if isinstance(stream, _HeadLimitedStream):
            _REFUSALS.add(asyncio.ensure_future(stream._refuse(400, message)))
        else:
            stream.close()

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self.refused:
            return None
        if self.inflater is None:
            return self.delegate.data_received(chunk)
        return self._inflate(chunk)

    async def _inflate(self, chunk: bytes) -> None:
        assert self.ceiling is not None
        while chunk and self.inflated <= self.ceiling:
            if getattr(self.connection, _STOP_INFLATING_ATTR, False):
                return  # the service refused the body: the rest is dropped, not inflated
            try:
                piece = self.inflater.decompress(chunk, INFLATE_STEP)
            except zlib.error as exc:
                self._broken(f"the gzip body is not valid: {exc}")
                return
            chunk = self.inflater.unconsumed_tail
            if piece:
                self.inflated += len(piece)
                pending = self.delegate.data_received(piece)
                if pending is not None:
                    await pending
        # Past the ceiling (a gzip bomb), the rest is dropped without being inflated.

    def _broken(self, message: str) -> None:
        self.inflater = _DROP
        setattr(self.connection, _BODY_ERROR_ATTR, message)

    def finish(self) -> None:
        if self.refused:
            return
        inflater = self.inflater
        if (
            inflater is not None
            and inflater is not _DROP
            and not inflater.eof
            and self.ceiling is not None
            and self.inflated <= self.ceiling
        ):
            self._broken("the gzip body is truncated")
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if not self.refused:
            self.delegate.on_connection_close()

    def _answer(self, status: int, message: str) -> None:
        context = getattr(self.connection, "context", None)
        request_log.warning(
            "%d %s: %s", status, _peer(getattr(context, "address", None)), escape_control(message)
        )
        headers, body = error_answer(status, message)
        reason = responses.get(status, "Error")
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", status, reason), headers
        )
        self.connection.write(body)
        self.connection.finish()


def _framing_error(headers: httputil.HTTPHeaders) -> str | None:
    """Why Tornado could not read the body framing of a request with ``headers``, if it could
    not (its own rules: one integer ``Content-Length``, or ``Transfer-Encoding: chunked`` alone
    and without a ``Content-Length``)."""
    length = headers.get("Content-Length")
    coding = headers.get("Transfer-Encoding")
    if length is not None:
        pieces = {piece.strip() for piece in length.split(",")}
        if len(pieces) != 1 or not all(p.isascii() and p.isdigit() for p in pieces):
            return f"invalid Content-Length {length[:40]!r}"
        if coding is not None:
            return "both Transfer-Encoding and Content-Length"
    if coding is not None and coding.strip().lower() != "chunked":
        return f"unsupported Transfer-Encoding {coding[:40]!r}"
    return None


class _Dropping:
    """What replaces a broken inflater: takes every further byte and gives nothing back."""

    eof = True
    unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        return b""


_DROP = _Dropping()


def stop_inflating(connection: object) -> None:
    """The service has refused the current request's body: what still arrives of it is read
    and dropped without being inflated (a gzip bomb costs no more CPU once refused)."""
    setattr(connection, _STOP_INFLATING_ATTR, True)


def body_error(connection: object) -> str | None:
    """Why the body of the current request on ``connection`` could not be read, if it could not."""
    return getattr(connection, _BODY_ERROR_ATTR, None)


_TORNADO_REFUSAL = b"HTTP/1.1 400 Bad Request\r\n\r\n"
"""What Tornado writes, and nothing more, to a request whose line, headers or framing it cannot
parse (``Content-Length: -1``, a chunk size ``zz``, ...)."""


def _answer_bytes(status: int, message: str) -> bytes:
    """A whole answer, status line to body, of :func:`error_answer`."""
    headers, body = error_answer(status, message)
    lines = [f"HTTP/1.1 {status} {responses.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers.get_all()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body


_HEAD_END = b"\r?\n\r?\n"
"""What Tornado reads a request head up to (its own pattern, as it passes it)."""


class _HeadLimitedStream:
    """A connection's ``IOStream`` whose request-head reads answer 431/414 when too long.

    Tornado reads a request head with ``read_until_regex(..., max_bytes=max_header_size)``, and
    a head longer than that makes the stream close at once: the client never learns why. This
    stands for the stream in Tornado's connection objects, reads the head with a pattern that
    stops after ``limit + 1`` bytes instead (so memory stays bounded), and answers a head that is
    too long itself. Every other attribute is the stream's own (methods are looked up once).
    """

    def __init__(self, stream: iostream.IOStream, limit: int, address: object) -> None:
        self._stream = stream
        self._limit = limit
        self._address = address
        # Blank lines before the request line (allowed between requests), lines, a blank line;
        # or limit + 1 bytes without one. Linear: each line is matched once.
        self._head = rb"\A(?:\r?\n)*(?:[^\n]*\n)+?\r?\n|\A[\s\S]{%d}" % (limit + 1)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._stream, name)
        if inspect.ismethod(value):
            setattr(self, name, value)  # a bound method never changes: skip __getattr__ next time
        return value

    def write(self, data: bytes | memoryview) -> Future[None]:
        if data == _TORNADO_REFUSAL:
            # Tornado refusing a request it cannot parse (it has logged why, on one line):
            # answer with a JSON S_ERROR as every other refusal does, not a bare 400.
            data = _answer_bytes(400, "Malformed HTTP request")
        return self._stream.write(data)

    def read_until_regex(self, regex: bytes, max_bytes: int | None = None) -> Future[bytes]:
        if max_bytes is None or regex != _HEAD_END:
            return cast(Future[bytes], self._stream.read_until_regex(regex, max_bytes))
        result: Future[bytes] = Future()
        inner = cast(Future[bytes], self._stream.read_until_regex(self._head))
        inner.add_done_callback(lambda done: self._checked(done, result))
        return result

    def _checked(self, done: Future[bytes], result: Future[bytes]) -> None:
        if result.done():
            return
        if done.cancelled():
            result.cancel()
            return
        exc = done.exception()
        if exc is not None:
            result.set_exception(exc)
            return
        head = done.result()
        if len(head) <= self._limit:
            result.set_result(head)
            return
        line_end = head.find(b"\n", 0, self._limit)
        if line_end < 0:
            status, what = 414, "request line"
        else:
            status, what = 431, "request head"
        message = f"The {what} is longer than {self._limit} bytes"
        request_log.warning("%d %s: %s", status, _peer(self._address), message)
        _REFUSALS.add(asyncio.ensure_future(self._refuse(status, message)))
        result.set_exception(iostream.StreamClosedError())

    async def _refuse(self, status: int, message: str) -> None:
        stream = self._stream
        try:
            await stream.write(_answer_bytes(status, message))
            # Read on a little before closing: closing with unread bytes resets the connection,
            # and the client, still sending its head, could lose the answer.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + REFUSAL_LINGER
            drained = 0
            while drained < REFUSAL_DRAIN:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                chunk = await asyncio.wait_for(stream.read_bytes(65536, partial=True), remaining)
                drained += len(chunk)
        except (iostream.StreamClosedError, TimeoutError):
            pass
        finally:
            stream.close()
            task = asyncio.current_task()
            if task is not None:
                _REFUSALS.discard(task)


_REFUSALS: set[asyncio.Future[None]] = set()
"""Refusals still being sent (kept referenced until they end)."""


class _BodyDeadline(httputil.HTTPMessageDelegate):
    """Passes every event on; closes the connection if the body is not complete in time."""

    __slots__ = ("connection", "delegate", "timeout", "timer")

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        connection: httputil.HTTPConnection,
        timeout: float,
    ) -> None:
        self.delegate = delegate
        self.connection = connection
        self.timeout = timeout
        self.timer: asyncio.TimerHandle | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Any:
        if headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in headers:
            self.timer = asyncio.get_running_loop().call_later(self.timeout, self._expired)
            setattr(self.connection, _DEADLINE_ATTR, self)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.cancel()
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.cancel()
        self.delegate.on_connection_close()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            # Break the connection <-> deadline cycle at once: left to the cyclic garbage
            # collector, one cycle per request (holding the handler and the request) made
            # collections frequent and long enough to triple the p99 latency at c=64.
            vars(self.connection).pop(_DEADLINE_ATTR, None)

    def _expired(self) -> None:
        self.timer = None
        vars(self.connection).pop(_DEADLINE_ATTR, None)
        stream = getattr(self.connection, "stream", None)
        address = getattr(getattr(self.connection, "context", None), "address", None)
        log.info(
            "request body not received within %.0fs from %s: closing the connection",
            self.timeout,
            address[0] if isinstance(address, tuple) and address else "?",
        )
        if stream is not None:
            stream.close()


def extend_body_timeout(connection: object, timeout: float) -> None:
    """Give the body of the current request on ``connection`` ``timeout`` seconds from now."""
    deadline = getattr(connection, _DEADLINE_ATTR, None)
    if isinstance(deadline, _BodyDeadline):
        deadline.cancel()
    if isinstance(connection, HTTP1Connection | RequestConnection):
        # Rare (uploads): Tornado's own per-read timeout is fine here.
        connection.set_body_timeout(timeout)
