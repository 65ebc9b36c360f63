"""``AcceptBackoff`` on a real listening socket whose ``accept()`` runs out of descriptors.

The end-to-end case (a real ``serve`` process under a low ``RLIMIT_NOFILE``) is in
``tests/cli/test_fd_exhaustion.py``; these tests pin the pause, the resume and a stop during a
pause, on a loopback socket whose ``accept()`` fails with ``EMFILE`` while a flag says so.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from typing import Any

import pytest
from tornado.tcpserver import TCPServer

from tornadoservice.server.accept import AcceptBackoff, add_sockets


class _Exhausted(socket.socket):
    """A listening socket whose ``accept()`` fails with ``EMFILE`` while ``exhausted``."""

    exhausted = True
    attempts = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if self.exhausted:
            self.attempts += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def _listener() -> _Exhausted:
    sock = _Exhausted(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    return sock


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_pauses_then_accepts_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "tornadoservice.server")

    async def scenario() -> None:
        sock = _listener()
        accepted: list[socket.socket] = []
        backoff = AcceptBackoff(
            sock, lambda conn, _addr: accepted.append(conn), first_pause=0.05, longest_pause=0.1
        )
        client = socket.create_connection(sock.getsockname(), timeout=5)
        try:
            await _until(lambda: backoff.pauses >= 3)
            # Paused, not spinning: a handful of attempts in that time, not thousands.
            assert sock.attempts == backoff.pauses
            assert backoff.pause == 0.1  # doubled, then capped
            sock.exhausted = False
            await _until(lambda: accepted)
            assert backoff.pauses == 0 and backoff.pause == 0.05
        finally:
            backoff.remove()
            client.close()
            for conn in accepted:
                conn.close()
            sock.close()

    asyncio.run(scenario())
    warnings = [r for r in caplog.records if "cannot accept connections" in r.getMessage()]
    assert len(warnings) >= 3 and all(r.exc_info is None for r in warnings)
    assert any("accepting connections again" in r.getMessage() for r in caplog.records)


def test_stop_during_a_pause_never_resumes() -> None:
    async def scenario() -> None:
        sock = _listener()
        server = TCPServer()
        accepted: list[object] = []
        server._handle_connection = lambda conn, addr: accepted.append(conn)  # type: ignore[method-assign]
        add_sockets(server, [sock])
        client = socket.create_connection(sock.getsockname(), timeout=5)
        try:
            await _until(lambda: sock.attempts >= 1)
            server.stop()  # pops our remover and closes the socket, mid-pause
            sock.exhausted = False
            await asyncio.sleep(0.3)  # past the 0.1 s pause: nothing may wake up
            assert accepted == []
            assert sock.attempts == 1
        finally:
            client.close()

    asyncio.run(scenario())
