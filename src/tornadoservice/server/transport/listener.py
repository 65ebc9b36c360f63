"""Accept TLS connections on bound sockets and serve them with :class:`HTTPProtocol`.

:class:`HttptoolsServer` has the part of ``tornado.httpserver.HTTPServer``'s interface that
``TornadoServer`` uses (``add_sockets``, ``ssl_options``, ``stop``, ``close_all_connections``):

* each accepted connection gets the ``ssl_options`` in force at that moment (a reload with
  SIGHUP changes it for new connections only) and ``handshake_timeout`` (:mod:`.tls`);
* out of file descriptors, accepting pauses (0.1 s doubling to 1 s, one warning a pause), as
  for Tornado's transport (:mod:`tornadoservice.server.accept`);
* ``stop`` stops accepting and closes the idle connections; a connection with a request in
  progress closes after its answer (``Connection: close``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Iterable
from typing import Any

from tornado import httputil

from tornadoservice.server.accept import AcceptBackoff
from tornadoservice.server.transport.connection import ConnectionContext
from tornadoservice.server.transport.protocol import HTTPProtocol
from tornadoservice.server.transport.tls import TLSLayer

__all__ = ["HttptoolsServer"]

log = logging.getLogger("tornadoservice.server")


class HttptoolsServer:
    """Serve ``app`` over HTTPS on asyncio transports with the ``httptools`` parser."""

    def __init__(
        self,
        app: httputil.HTTPServerConnectionDelegate,
        *,
        ssl_options: ssl.SSLContext,
        max_body_size: int,
        idle_connection_timeout: float | None = 3600.0,
        body_timeout: float | None = None,
        handshake_timeout: float = 60.0,
        max_header_size: int = 64 * 1024,
        decompress_request: bool = True,
    ) -> None:
        self.app = app
        self.ssl_options = ssl_options
        """The context of the next accepted connection."""
        self.max_body_size = max_body_size
        self.idle_connection_timeout = idle_connection_timeout
        self.body_timeout = body_timeout
        self.handshake_timeout = handshake_timeout
        self.max_header_size = max_header_size
        self.decompress = decompress_request
        self.loop = asyncio.get_event_loop()
        self.stopping = False
        self.connections: set[HTTPProtocol] = set()
        self._acceptors: list[AcceptBackoff] = []
        self._opening: set[asyncio.Task[Any]] = set()
        self._sockets: list[socket.socket] = []

    # ------------------------------------------------------------------ listening
    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Accept on ``sockets`` (bound and listening), pausing when descriptors run out, as
        Tornado's transport does here (:class:`~tornadoservice.server.accept.AcceptBackoff`)."""
        for sock in sockets:
            self._sockets.append(sock)
            self._acceptors.append(AcceptBackoff(sock, self._on_accept))

    def _on_accept(self, connection: socket.socket, address: Any) -> None:
        if self.stopping:
            connection.close()
            return
        connection.setblocking(False)
        task = self.loop.create_task(
            self.loop.connect_accepted_socket(self._accepted, sock=connection)
        )
        self._opening.add(task)
        task.add_done_callback(lambda done: self._opened_socket(done, connection))

    def _opened_socket(self, task: asyncio.Task[Any], connection: socket.socket) -> None:
        self._opening.discard(task)
        if task.cancelled() or task.exception() is not None:
            connection.close()  # it went away before its transport was made

    def _accepted(self) -> TLSLayer:
        """A new TCP connection: TLS with the context in force now, then HTTP."""
        return TLSLayer(self.ssl_options, HTTPProtocol(self), self.handshake_timeout, self._opened)

    def _opened(self, layer: TLSLayer) -> None:
        if self.stopping:
            layer.abort()
            return
        layer.app.context = ConnectionContext(layer.peername)
        self.connections.add(layer.app)

    def connection_closed(self, protocol: HTTPProtocol) -> None:
        self.connections.discard(protocol)

    # ------------------------------------------------------------------ stopping
    def stop(self) -> None:
        """Stop accepting; close idle connections, the others after their current answer."""
        self.stopping = True
        for acceptor in self._acceptors:
            acceptor.remove()
        for sock in self._sockets:
            sock.close()
        for protocol in list(self.connections):
            protocol.stop()

    async def close_all_connections(self) -> None:
        """Close every connection (after the drain) and wait until they are gone (5 s at most)."""
        for protocol in list(self.connections):
            protocol.close()
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.1)
        for protocol in list(self.connections):
            protocol.abort()
        self.connections.clear()
