"""Hostile servers for the client tests: redirects, trickles, lying lengths, gzip bombs.

Every one listens on 127.0.0.1 only, and every loop it runs is bounded in count and time: a
client that does not give up still sees the answer end after a few seconds, so a test fails
(by asserting on the time taken) instead of hanging.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from tests.support.pki import ServerPKI
from tornadoservice.identity.tls import server_ssl_context

RESULT = b'{"OK": true, "Value": 1}'


@dataclass
class Hits:
    """What a server received: one entry per request (its path), and the request bodies."""

    paths: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


class Redirect(RequestHandler):
    """Answers every POST with ``status`` and ``Location: location`` (or, for a status that is
    no redirect, a result), counting the requests."""

    def initialize(self, status: int, location: str, hits: Hits) -> None:
        self.status, self.location, self.hits = status, location, hits

    def post(self, *_: str) -> None:
        self.hits.paths.append(self.request.path)
        self.hits.bodies.append(self.request.body)
        if not 300 <= self.status < 400:
            self.finish(RESULT)  # a server that answers, to see whether anything reaches it
            return
        self.redirect(self.location, status=self.status)


class Trickle(RequestHandler):
    """A valid result, one byte every ``interval`` seconds (40 leading spaces: ~13 s in all)."""

    def initialize(self, interval: float) -> None:
        self.interval = interval

    async def post(self, *_: str) -> None:
        body = b" " * 40 + RESULT
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Length", str(len(body)))
        for byte in body:
            self.write(bytes([byte]))
            try:
                await self.flush()
            except StreamClosedError:
                return
            await asyncio.sleep(self.interval)


class Chunked(RequestHandler):
    """A reply without Content-Length: ``count`` chunks of ``size`` bytes."""

    def initialize(self, size: int, count: int) -> None:
        self.size, self.count = size, count

    async def post(self, *_: str) -> None:
        self.set_header("Content-Type", "application/json")
        for _ in range(self.count):
            self.write(b" " * self.size)
            try:
                await self.flush()
            except StreamClosedError:
                return


class Gzipped(RequestHandler):
    """``body`` as it is, labelled ``Content-Encoding: gzip``, with ``status``."""

    def initialize(self, body: bytes, status: int = 200) -> None:
        self.body, self.code = body, status

    def post(self, *_: str) -> None:
        self.set_status(self.code)
        self.set_header("Content-Type", "application/json")
        self.set_header("Content-Encoding", "gzip")
        self.finish(self.body)


def gzip_bomb(inflated: int) -> bytes:
    """A JSON result that is ``inflated`` bytes long once decompressed (about 1/1000 of it
    compressed)."""
    text = b'{"OK": true, "Value": "' + b"a" * inflated + b'"}'
    return gzip.compress(text, compresslevel=9)


@dataclass
class PlainHTTP:
    """An ``http://`` server on loopback that records what reaches it (a redirect target)."""

    port: int
    hits: Hits

    def url(self, path: str = "Framework/Elsewhere") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


@contextmanager
def plain_http_server() -> Iterator[PlainHTTP]:
    hits = Hits()

    class Record(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            hits.paths.append(self.path)
            hits.bodies.append(self.rfile.read(min(length, 1 << 20)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(RESULT)))
            self.end_headers()
            self.wfile.write(RESULT)

        def log_message(self, *args: Any) -> None:
            """Silent: the test reads ``hits``."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, name="plain-http", daemon=True)
    thread.start()
    try:
        yield PlainHTTP(server.server_address[1], hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class RawTLS:
    port: int
    stop: threading.Event

    def url(self, path: str = "Framework/Raw") -> str:
        return f"https://127.0.0.1:{self.port}/{path}"


def _read_request(conn: ssl.SSLSocket) -> None:
    """Read one request (headers, then a Content-Length body) and drop it."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 1 << 20:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


@contextmanager
def raw_tls_server(
    pki: ServerPKI, respond: Callable[[ssl.SSLSocket, threading.Event], None]
) -> Iterator[RawTLS]:
    """A TLS server (the test PKI's host certificate) that reads a request, then lets
    ``respond(connection, stop)`` write whatever bytes it likes, however slowly."""
    context = server_ssl_context(pki.host_cert, pki.host_key, pki.ca_dir)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve_one(sock: socket.socket) -> None:
        try:
            sock.settimeout(10)
            with context.wrap_socket(sock, server_side=True) as conn:
                _read_request(conn)
                respond(conn, stop)
        except OSError:
            pass  # the client gave up: what these servers are for

    def accept() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(sock,), daemon=True).start()

    thread = threading.Thread(target=accept, name="raw-tls", daemon=True)
    thread.start()
    try:
        yield RawTLS(listener.getsockname()[1], stop)
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def trickle_bytes(data: bytes, interval: float) -> Callable[[ssl.SSLSocket, threading.Event], None]:
    """A response that sends ``data`` one byte per ``interval`` seconds."""

    def respond(conn: ssl.SSLSocket, stop: threading.Event) -> None:
        for byte in data:
            if stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    return respond


def announce(
    length: int, sent: int, hold: float
) -> Callable[[ssl.SSLSocket, threading.Event], None]:
    """Headers announcing ``length`` bytes, ``sent`` bytes of body, then ``hold`` s of silence."""

    def respond(conn: ssl.SSLSocket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {length}\r\n\r\n".encode()
        )
        chunk = b" " * 65536
        for _ in range(sent // len(chunk)):
            conn.sendall(chunk)
        deadline = time.monotonic() + hold
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(0.1)

    return respond


def fixed_answer(data: bytes) -> Callable[[ssl.SSLSocket, threading.Event], None]:
    """A response of exactly ``data`` (headers no HTTP library would write included)."""

    def respond(conn: ssl.SSLSocket, stop: threading.Event) -> None:
        conn.sendall(data)

    return respond
