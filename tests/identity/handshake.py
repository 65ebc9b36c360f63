"""A tiny threaded TLS server on 127.0.0.1 that reports what the identity layer saw.

For every connection the server completes the handshake with the context under test, reads the
verified peer chain and the identity, and answers with them as one JSON line (or records the
handshake failure). Tests connect with a real client context and compare both ends.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tornadoservice.identity.tls import PeerChainError, peer_chain
from tornadoservice.identity.x509 import identity_from_chain

TIMEOUT = 10.0


@dataclass
class ServerSide:
    """What the server saw on one connection."""

    error: str | None = None
    report: dict[str, Any] | None = None


class HandshakeServer:
    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.listener = socket.create_server(("127.0.0.1", 0))
        # Short accept timeouts let close() stop the thread promptly: closing a socket does not
        # wake a thread blocked in accept().
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.seen: queue.Queue[ServerSide] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            raw.settimeout(TIMEOUT)
            self.seen.put(self._handle(raw))

    def _handle(self, raw: socket.socket) -> ServerSide:
        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            return ServerSide(error=str(exc))
        try:
            tls.recv(64)
            try:
                chain = peer_chain(tls)
                identity = identity_from_chain(chain) if chain else None
                report: dict[str, Any] = {
                    "chain": [cert.subject.rfc4514_string() for cert in chain],
                    "reused": tls.session_reused,
                    "version": tls.version(),
                    "identity": None
                    if identity is None
                    else {
                        "subject": identity.subject,
                        "issuer": identity.issuer,
                        "dn": identity.dn,
                        "is_proxy": identity.is_proxy,
                        "is_limited_proxy": identity.is_limited_proxy,
                        "group": identity.group,
                        "seconds_left": identity.seconds_left(),
                    },
                }
            except PeerChainError as exc:
                report = {"peer_chain_error": str(exc), "reused": tls.session_reused}
            tls.sendall(json.dumps(report).encode() + b"\n")
            # A clean shutdown, so that OpenSSL may cache the session (see the resumption test).
            with contextlib.suppress(ssl.SSLError, OSError):
                tls.unwrap()
            return ServerSide(report=report)
        except (ssl.SSLError, OSError) as exc:
            return ServerSide(error=str(exc))
        finally:
            tls.close()

    def next_seen(self) -> ServerSide:
        return self.seen.get(timeout=TIMEOUT)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        self.listener.close()


@contextlib.contextmanager
def serving(context: ssl.SSLContext) -> Iterator[HandshakeServer]:
    server = HandshakeServer(context)
    try:
        yield server
    finally:
        server.close()


@dataclass
class ClientSide:
    report: dict[str, Any] | None
    """The server's JSON answer, or ``None`` if the connection was refused."""
    error: BaseException | None
    session: ssl.SSLSession | None
    peer_chain: list[str]


def connect(
    server: HandshakeServer,
    context: ssl.SSLContext,
    *,
    hostname: str = "localhost",
    session: ssl.SSLSession | None = None,
) -> ClientSide:
    """Handshake, send a byte, read the server's report. With TLS 1.3 a refused client
    certificate shows up here, on the first read, as the server's alert."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    try:
        tls = context.wrap_socket(raw, server_hostname=hostname, session=session)
    except (ssl.SSLError, OSError) as exc:
        raw.close()
        return ClientSide(None, exc, None, [])
    try:
        try:
            chain = [cert.subject.rfc4514_string() for cert in peer_chain(tls)]
        except PeerChainError as exc:
            chain = [f"PeerChainError: {exc}"]
        tls.sendall(b"?")
        line = b""
        while not line.endswith(b"\n"):
            data = tls.recv(4096)
            if not data:
                break
            line += data
        report = json.loads(line) if line else None
        session_out = tls.session
        with contextlib.suppress(ssl.SSLError, OSError):
            tls.unwrap()
        return ClientSide(report, None if report else EOFError("closed"), session_out, chain)
    except (ssl.SSLError, OSError) as exc:
        return ClientSide(None, exc, None, [])
    finally:
        tls.close()
