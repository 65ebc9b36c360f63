"""Server-side TLS of one connection, on an asyncio TCP transport with ``ssl.MemoryBIO``.

OpenSSL does the work (``SSLContext.wrap_bio``); this layer moves bytes between the socket and
the ``SSLObject`` and hands the plaintext to :class:`~.protocol.HTTPProtocol`. It is used in
place of asyncio's own ``start_tls``/``create_server(ssl=...)`` layer for two reasons: a refused
handshake (a revoked or untrusted client certificate) sends its TLS alert before the socket
closes, so the client learns why (asyncio's layer drops the alert), and the context is the one
in force when the connection was accepted, so a SIGHUP reload applies to new connections.

A handshake not complete within ``handshake_timeout`` seconds drops the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tornadoservice.server.transport.protocol import HTTPProtocol

__all__ = ["TLSLayer"]

from tornadoservice.server.metrics import count_tls_failure

log = logging.getLogger("tornadoservice.server")

READ_SIZE = 256 * 1024
"""Plaintext bytes taken from OpenSSL per read (one record, 16 KiB at most, comes back)."""
DELIVER_AT_MOST = 256 * 1024
"""Plaintext joined before it is handed to the HTTP layer (about one socket read's worth)."""


class TLSLayer(asyncio.Protocol):
    """The TCP side of a TLS connection, and the transport that the HTTP side writes to."""

    def __init__(
        self,
        context: ssl.SSLContext,
        app: HTTPProtocol,
        handshake_timeout: float,
        on_open: Any,
    ) -> None:
        self.context = context
        self.app = app
        self.handshake_timeout = handshake_timeout
        self._on_open = on_open
        self.raw: asyncio.Transport | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.sslobj: ssl.SSLObject = context.wrap_bio(
            self._incoming, self._outgoing, server_side=True
        )
        self.ready = False
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self.peername: Any = None

    # ------------------------------------------------------------------ TCP side
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.raw = transport
        self.peername = transport.get_extra_info("peername")
        self._timer = asyncio.get_running_loop().call_later(
            self.handshake_timeout, self._handshake_expired
        )
        self._on_open(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._incoming.write(data)
        if not self.ready:
            self._handshake()
            if not self.ready:
                return
        self._read()

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.ready:
            self.app.connection_lost(exc)
        else:
            self.app.handshake_failed()

    def pause_writing(self) -> None:
        if self.ready:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self.ready:
            self.app.resume_writing()

    def _handshake(self) -> None:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as exc:
            # The alert (unknown CA, certificate revoked, ...) is in the outgoing buffer: send it.
            log.debug("TLS handshake with %s failed: %s", _host(self.peername), exc)
            count_tls_failure(exc.reason)
            self._flush()
            self._closing = True
            if self.raw is not None:
                self.raw.close()
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.ready = True
        self._flush()
        self.app.connection_made(self)

    def _handshake_expired(self) -> None:
        self._timer = None
        if not self.ready and self.raw is not None:
            log.debug("TLS handshake with %s not done in time: dropped", _host(self.peername))
            count_tls_failure("timeout")
            self._closing = True
            self.raw.abort()

    def _read(self) -> None:
        # OpenSSL gives at most one TLS record (16 KiB) per read: the records of one socket read
        # are joined and handed on together, so a large body crosses the HTTP layer a few times
        # per socket read instead of once per record.
        read = self.sslobj.read
        pending = self.sslobj.pending
        incoming = self._incoming
        while not self._closing:
            pieces: list[bytes] = []
            size = 0
            ended: BaseException | None = None
            while size < DELIVER_AT_MOST:
                try:
                    data = read(READ_SIZE)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLError as exc:  # SSLZeroReturnError: the client's close_notify
                    ended = exc
                    break
                if not data:
                    ended = ssl.SSLZeroReturnError()
                    break
                pieces.append(data)
                size += len(data)
                if not incoming.pending and not pending():
                    break  # all read: another read would only raise SSLWantReadError (slow)
            if pieces:
                self.app.data_received(pieces[0] if len(pieces) == 1 else b"".join(pieces))
            if ended is not None:
                if isinstance(ended, ssl.SSLZeroReturnError):
                    self.close()
                else:
                    log.debug("TLS error from %s: %s", _host(self.peername), ended)
                    self.abort()
                    return
                break
            if size < DELIVER_AT_MOST:
                break
        if self._outgoing.pending:
            self._flush()  # post-handshake messages (session tickets, key updates)

    def _flush(self) -> None:
        if self._outgoing.pending and self.raw is not None:
            self.raw.write(self._outgoing.read())

    # ------------------------------------------------------------------ the HTTP side's transport
    def write(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self.sslobj.write(data)
        except ssl.SSLError as exc:
            log.debug("TLS error writing to %s: %s", _host(self.peername), exc)
            self.abort()
            return
        self._flush()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Send what is buffered and a ``close_notify``, then close the socket."""
        if self._closing:
            return
        self._closing = True
        if self.ready:
            # unwrap() wants the peer's close_notify too: ours is in the buffer, that is enough.
            with contextlib.suppress(ssl.SSLError):
                self.sslobj.unwrap()
            self._flush()
        if self.raw is not None:
            self.raw.close()

    def abort(self) -> None:
        """Drop the connection now, with whatever it still had to send."""
        self._closing = True
        if self.raw is not None:
            self.raw.abort()

    def pause_reading(self) -> None:
        if self.raw is not None and not self.raw.is_closing():
            self.raw.pause_reading()

    def resume_reading(self) -> None:
        if self.raw is not None and not self.raw.is_closing():
            self.raw.resume_reading()
            if self._incoming.pending:
                self._read()

    def get_write_buffer_size(self) -> int:
        """Encrypted bytes waiting to be sent (what a write timeout watches shrink)."""
        return self.raw.get_write_buffer_size() if self.raw is not None else 0

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        if self.raw is not None:
            self.raw.set_write_buffer_limits(high=high, low=low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self.sslobj
        if name == "peername":
            return self.peername
        return self.raw.get_extra_info(name, default) if self.raw is not None else default


def _host(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else "?"
