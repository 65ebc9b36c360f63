"""The answer going out: streamed sources, and the write timeout of every answer.

:class:`BoundedOutput` is a part of ``TornadoService``. Its ``finish`` gives the answer
``/Systems/Tornado/WriteTimeout`` seconds to leave (each chunk of a streamed answer as much);
a client that does not read by then has its connection closed, which frees the buffered
answer, and the request body's bytes are counted out of the buffer budget once the answer left.
The sources a method may return to stream its answer (a file object, an iterator of chunks, an
async iterator) are read by :func:`chunk_reader` without blocking the IOLoop (a file or a plain
iterator in a worker thread).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler

from tornadoservice.core.log import DiracLogger
from tornadoservice.server.errors import RequestError
from tornadoservice.server.execution import contained
from tornadoservice.server.limits import pending_output, watch_write
from tornadoservice.server.pool import WorkerPool
from tornadoservice.server.transport.connection import RequestConnection

if TYPE_CHECKING:
    from tornadoservice.server.service import ServiceRuntime

__all__ = ["STREAM_CHUNK", "BoundedOutput", "chunk_reader", "close_source"]

STREAM_CHUNK = 1024 * 1024
"""Bytes read per chunk when streaming a file or iterator to the client."""

ANSWER_PIECE = 256 * 1024
"""A large JSON answer is written in pieces of this size, each within the write timeout (a
client must read at least this much per ``WriteTimeout``)."""


class BoundedOutput(RequestHandler):
    """``finish`` with a write timeout, and streamed answers (see the module docstring)."""

    _runtime: ClassVar[ServiceRuntime]
    log: ClassVar[DiracLogger]
    _held: int
    _outcome: str
    _rpc_method: str | None

    _ahead: asyncio.Future[Any] | None = None
    """The read of the next chunk of a streamed answer, while one runs."""

    def on_connection_close(self) -> None:
        ahead = self._ahead
        if isinstance(ahead, asyncio.Task):
            ahead.cancel()  # an async source waiting for more: nobody will take it now
        super().on_connection_close()

    def _release_buffers(self) -> None:
        if self._held:
            self._runtime.state.buffers.give(self._held)
            self._held = 0

    async def _stream(self, source: Any) -> None:
        """Send a file object or (async) iterator in chunks, waiting for each to drain."""
        size, next_chunk = chunk_reader(source, self._runtime.state.executor)
        if size is not None:
            self.set_header("Content-Length", str(size))
        # The next chunk is read while the last one drains: the socket does not wait for the
        # read (a worker thread's hop and a 1 MiB copy) between chunks.
        ahead: asyncio.Future[Any] | None = asyncio.ensure_future(next_chunk())
        self._ahead = ahead
        try:
            while ahead is not None:
                try:
                    chunk = await ahead
                except asyncio.CancelledError:
                    if _cancelled_here():
                        raise
                    raise StreamClosedError from None  # on_connection_close stopped the read
                ahead = self._ahead = None
                if not chunk:
                    break
                ahead = self._ahead = asyncio.ensure_future(next_chunk())
                self.write(chunk.encode() if isinstance(chunk, str) else chunk)
                flushed = self.flush()
                if not flushed.done():
                    await self._flushed_in_time(flushed)
            self.finish()
        except StreamClosedError:
            self._outcome = "CLIENT-CLOSED"
        except BaseException as exc:
            if not contained(exc):
                raise
            self.log.exception(f"{self._runtime.name}: the stream of {self._rpc_method} raised")
            if not self._headers_written:
                raise RequestError(500, f"Unexpected error in {self._rpc_method}") from exc
            # Part of the answer is out: cut the connection so the client sees it truncated.
            self._outcome = "STREAM-ERROR"
            self._close_connection()
        finally:
            try:
                if ahead is not None:  # the source is closed once nothing reads it any more
                    await _settled(ahead)
            finally:
                self._ahead = None
                await close_source(source)

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Tornado's ``finish``; the answer must keep leaving (write timeout), and the body's
        bytes stay counted in the buffer budget until it has."""
        future = super().finish(chunk)
        if future.done():  # the usual case: the transport took the whole answer
            self._release_buffers()
            return future
        watch_write(
            future,
            self._runtime.state.write_timeout,
            self._write_timed_out,
            self._release_buffers,
            self._pending_output,
        )
        return future

    def _pending_output(self) -> int | None:
        return pending_output(self.request.connection)

    async def _send_in_chunks(self, data: bytes) -> None:
        """Send a large answer a piece at a time: TLS reports a write only once all of it is out,
        so one huge write would give the write timeout nothing to measure but the whole."""
        self.set_header("Content-Length", str(len(data)))
        try:
            for start in range(0, len(data), ANSWER_PIECE):
                self.write(data[start : start + ANSWER_PIECE])
                flushed = self.flush()
                if not flushed.done():
                    await self._flushed_in_time(flushed)
            self.finish()
        except StreamClosedError:
            self._outcome = "CLIENT-CLOSED"
            self._release_buffers()

    async def _flushed_in_time(self, flushed: asyncio.Future[None]) -> None:
        last = self._pending_output()
        while True:
            try:  # shielded: cancelling a transport's write future is not ours to do
                await asyncio.wait_for(asyncio.shield(flushed), self._runtime.state.write_timeout)
                return
            except TimeoutError:
                now = self._pending_output()
                if now is not None and last is not None and now < last:
                    last = now  # slow, but reading: wait on
                    continue
                self._write_timed_out()
                raise StreamClosedError from None

    def _write_timed_out(self) -> None:
        logging.getLogger("tornadoservice.request").warning(
            "%s %s: the client read nothing of the answer for %.0fs: closing the connection",
            self.request.remote_ip,
            self._runtime.name,
            self._runtime.state.write_timeout,
        )
        self._outcome = "WRITE-TIMEOUT"
        self._close_connection()
        self._release_buffers()  # a closed transport may never resolve the pending write

    def _close_connection(self) -> None:
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection | RequestConnection):
            connection.close()  # fails the pending writes, which frees what they hold


def chunk_reader(
    source: Any, executor: WorkerPool
) -> tuple[int | None, Callable[[], Awaitable[Any]]]:
    """``(size or None, next_chunk)``; ``await next_chunk()`` gives a chunk, empty at the end."""
    if hasattr(source, "read"):
        return _remaining_size(source), lambda: executor.call(source.read, STREAM_CHUNK)
    if hasattr(source, "__aiter__"):
        aiter = cast(AsyncIterator[bytes], source.__aiter__())
        return None, lambda: anext(aiter, b"")
    return None, lambda: executor.call(next, source, b"")


def _cancelled_here() -> bool:
    """Whether the running task itself is being cancelled (not only what it awaited)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def _settled(future: asyncio.Future[Any]) -> None:
    """Wait until a read that is no longer wanted has ended, whatever its outcome: a worker
    thread's read runs to its end, an async source's is cancelled where it waits."""
    if isinstance(future, asyncio.Task):
        future.cancel()
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()  # retrieved: its failure no longer matters


async def close_source(source: Any) -> None:
    close = getattr(source, "close", None) or getattr(source, "aclose", None)
    if close is not None:
        closing = close()
        if asyncio.iscoroutine(closing):
            await closing


def _remaining_size(source: Any) -> int | None:
    try:
        return os.fstat(source.fileno()).st_size - int(source.tell())
    except (AttributeError, OSError, ValueError):
        return None
