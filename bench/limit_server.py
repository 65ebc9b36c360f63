"""The "limit" target: the least work any Python server can do for the benchmark's requests.

An asyncio ``Protocol`` with the ``httptools`` parser on the stdlib loop and its TLS
(``create_server(ssl=...)``), no framework: parse the form, ``json.loads`` the args,
``json.dumps`` the answer (:func:`bench.baseline.answer`), keep-alive. It checks nothing else
(no size limits, no timeouts, no pipelining order beyond what one connection's loop gives): a
ceiling to measure against, not a server to deploy.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from typing import Any
from urllib.parse import parse_qs

import httptools

from bench.baseline import answer


class LimitProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.body: list[bytes] = []
        self.subject: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        cert = transport.get_extra_info("peercert")
        self.subject = cert.get("subject") if isinstance(cert, dict) else None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(400, b'{"OK": false, "Message": "bad request"}', close=True)

    def on_message_begin(self) -> None:
        self.body = []

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        form = parse_qs(b"".join(self.body).decode())
        try:
            method = form["method"][0]
            args = json.loads(form.get("args", ["[]"])[0])
            result = answer(method, args, self.subject)
        except (LookupError, ValueError):
            self._send(501, b'{"OK": false, "Message": "not implemented"}')
            return
        self._send(200, json.dumps(result).encode())

    def _send(self, status: int, body: bytes, close: bool = False) -> None:
        assert self.transport is not None
        reason = {200: "OK", 400: "Bad Request", 501: "Not Implemented"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason.encode(), len(body), body)
        )
        if close or not self.parser.should_keep_alive():
            self.transport.close()


async def serve(sock: socket.socket, context: ssl.SSLContext) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(LimitProtocol, sock=sock, ssl=context)
