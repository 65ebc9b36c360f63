"""Tornado's ``HTTPServer`` with a cheaper request-body timeout.

Tornado enforces ``body_timeout`` by wrapping every body read in ``gen.with_timeout``, which
turns the read into a task and chains futures around it: about 5% of the cost of a small RPC
here. :class:`RPCHTTPServer` gets the same protection from one timer per request that has a
body, started when its headers arrive and cancelled when its body is complete. A request whose
body is not complete in time has its connection closed, as Tornado does.

A handler that legitimately takes longer (a streamed upload) calls :func:`extend_body_timeout`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado import httputil
from tornado.http1connection import HTTP1Connection
from tornado.httpserver import HTTPServer

__all__ = ["RPCHTTPServer", "extend_body_timeout"]

log = logging.getLogger("tornadoservice.server")

_DEADLINE_ATTR = "_tornadoservice_body_deadline"


class RPCHTTPServer(HTTPServer):
    """``HTTPServer`` whose ``body_timeout`` (seconds, ``None`` for none) costs one timer."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        self.rpc_body_timeout: float | None = kwargs.get("body_timeout")
        kwargs["body_timeout"] = None  # Tornado's own, per-read timeout: off
        super().initialize(*args, **kwargs)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        delegate = super().start_request(server_conn, request_conn)
        if self.rpc_body_timeout is None:
            return delegate
        return _BodyDeadline(delegate, request_conn, self.rpc_body_timeout)


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
    if isinstance(connection, HTTP1Connection):
        # Rare (uploads): Tornado's own per-read timeout is fine here.
        connection.set_body_timeout(timeout)
