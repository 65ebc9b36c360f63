"""Accepting connections without spinning when the process runs out of file descriptors.

Tornado's accept handler lets ``accept()`` errors other than "nothing to accept" escape to the
IOLoop, which logs a traceback and calls it again at once: the pending connection is still in
the listening socket's queue, so with ``ulimit -n`` reached (``EMFILE``), or the system's file
table full (``ENFILE``), or memory short (``ENOBUFS``, ``ENOMEM``) the server loops at 100 % CPU
and writes tens of thousands of tracebacks a second.

Here such an error stops watching the listening socket for a while (0.1 s, doubling up to
1 s while it lasts), with one warning line per pause; the connections already open are served
as usual, which is how descriptors come back. The first connection accepted after a pause is
logged once, and the pause starts again from 0.1 s. Waiting connections stay in the kernel's
backlog meanwhile.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from tornado.ioloop import IOLoop
from tornado.tcpserver import TCPServer

__all__ = ["RESOURCE_ERRNOS", "AcceptBackoff", "add_sockets"]

log = logging.getLogger("tornadoservice.server")

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
"""``accept()`` errors that retrying at once cannot cure."""

FIRST_PAUSE = 0.1
LONGEST_PAUSE = 1.0
BATCH = 128
"""Connections accepted per wake-up at most (Tornado's choice: the default listen backlog)."""


class AcceptBackoff:
    """The IOLoop handler accepting connections on one listening socket, pausing on shortage.

    ``callback(connection, address)`` gets each accepted connection; :meth:`remove` stops for
    good (what ``TCPServer.stop`` calls).
    """

    def __init__(
        self,
        sock: socket.socket,
        callback: Callable[[socket.socket, Any], None],
        *,
        first_pause: float = FIRST_PAUSE,
        longest_pause: float = LONGEST_PAUSE,
    ) -> None:
        self.sock = sock
        self.callback = callback
        self.first_pause = first_pause
        self.longest_pause = longest_pause
        self.pause = first_pause
        self.pauses = 0
        """Pauses since the last accepted connection (0: accepting normally)."""
        self.removed = False
        self._io_loop = IOLoop.current()
        self._timer: object | None = None
        self._io_loop.add_handler(sock, self._on_readable, IOLoop.READ)

    def _on_readable(self, _fd: Any, _events: int) -> None:
        for _ in range(BATCH):
            if self.removed:
                return
            try:
                connection, address = self.sock.accept()
            except BlockingIOError:
                return  # every waiting connection is accepted
            except ConnectionAbortedError:
                continue  # closed by the client while still in the queue
            except OSError as exc:
                if exc.errno not in RESOURCE_ERRNOS:
                    raise
                self._back_off(exc)
                return
            if self.pauses:
                log.info("accepting connections again after %d pause(s)", self.pauses)
                self.pauses = 0
                self.pause = self.first_pause
            self.callback(connection, address)

    def _back_off(self, exc: OSError) -> None:
        self._io_loop.remove_handler(self.sock)
        self.pauses += 1
        log.warning(
            "cannot accept connections on %s: %s; pausing %.3gs (open connections are served)",
            _name(self.sock),
            exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc)),
            self.pause,
        )
        self._timer = self._io_loop.call_later(self.pause, self._resume)
        self.pause = min(self.pause * 2, self.longest_pause)

    def _resume(self) -> None:
        self._timer = None
        if not self.removed:
            self._io_loop.add_handler(self.sock, self._on_readable, IOLoop.READ)

    def remove(self) -> None:
        if self.removed:
            return
        self.removed = True
        if self._timer is not None:
            self._io_loop.remove_timeout(self._timer)
            self._timer = None
        else:
            self._io_loop.remove_handler(self.sock)


def _name(sock: socket.socket) -> str:
    try:
        address = sock.getsockname()
    except OSError:
        return "a listening socket"
    if isinstance(address, tuple) and len(address) >= 2:
        host = f"[{address[0]}]" if ":" in str(address[0]) else str(address[0])
        return f"{host}:{address[1]}"
    return str(address)


def add_sockets(server: TCPServer, sockets: Iterable[socket.socket]) -> None:
    """``server.add_sockets(sockets)``, with :class:`AcceptBackoff` as the accept handler.

    Mirrors ``TCPServer.add_sockets``: ``TCPServer.stop`` pops the remover stored per socket and
    closes the socket, so stopping the server works unchanged.
    """
    for sock in sockets:
        server._sockets[sock.fileno()] = sock
        server._handlers[sock.fileno()] = AcceptBackoff(sock, server._handle_connection).remove
