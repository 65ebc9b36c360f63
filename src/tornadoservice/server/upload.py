"""A request body read as it arrives: the ``stream`` that ``export_streamFromClient`` receives.

The IOLoop feeds chunks in (:meth:`UploadStream.feed`, awaited by ``data_received``, which is how
Tornado applies flow control), and the method reads them in its worker thread with ``read``.
At most ``max_buffered`` bytes wait between the two: when the buffer is full, ``feed`` waits, so
Tornado stops reading the socket and TCP slows the client down. Memory stays constant whatever
the size of the upload.
"""

from __future__ import annotations

import asyncio
import collections
import io
import threading

DEFAULT_BUFFER = 8 * 1024 * 1024
READ_TIMEOUT = 600.0
"""Seconds a reader waits for the next bytes before giving up (the client went quiet)."""


class UploadAbortedError(ConnectionError):
    """The upload ended before its last byte: the client went away or stopped sending."""


class UploadStream(io.RawIOBase):
    """A read-only, unseekable file whose content is a request body still being received."""

    def __init__(self, expected_size: int | None, *, max_buffered: int = DEFAULT_BUFFER) -> None:
        super().__init__()
        self.expected_size = expected_size
        self._loop = asyncio.get_running_loop()
        self._max = max_buffered
        self._chunks: collections.deque[memoryview] = collections.deque()
        self._buffered = 0
        self._received = 0
        self._eof = False
        self._error: str | None = None
        self._stopped = False
        self._lock = threading.Condition()
        self._space = asyncio.Event()
        self._space.set()

    # ------------------------------------------------------------------ IOLoop side
    async def feed(self, chunk: bytes) -> None:
        """Add a chunk of the body, waiting while the reader is ``max_buffered`` behind."""
        while True:
            with self._lock:
                if self._stopped:
                    return  # the method has returned: drop the rest of the body
                if self._buffered < self._max:
                    self._chunks.append(memoryview(chunk))
                    self._buffered += len(chunk)
                    self._received += len(chunk)
                    self._lock.notify_all()
                    return
                self._space.clear()
            await self._space.wait()

    def feed_eof(self) -> None:
        with self._lock:
            self._eof = True
            self._lock.notify_all()

    def abort(self, reason: str) -> None:
        """The body will never be complete (the connection closed): wake and fail the reader."""
        with self._lock:
            if not self._eof:
                self._error = reason
            self._lock.notify_all()

    def stop(self) -> None:
        """The reader is done: release a waiting ``feed`` and drop whatever still arrives."""
        with self._lock:
            self._stopped = True
            self._chunks.clear()
            self._buffered = 0
        self._space.set()

    @property
    def received(self) -> int:
        return self._received

    # ------------------------------------------------------------------ reader (worker thread)
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._lock:
            while not self._chunks and not self._eof and self._error is None:
                if not self._lock.wait(READ_TIMEOUT):
                    raise UploadAbortedError(f"no data received for {READ_TIMEOUT:.0f} s")
            if self._error is not None and not self._chunks:
                raise UploadAbortedError(self._error)
            if not self._chunks:
                return 0
            chunk = self._chunks[0]
            size = min(len(buffer), len(chunk))
            buffer[:size] = chunk[:size]
            if size == len(chunk):
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[size:]
            was_full = self._buffered >= self._max
            self._buffered -= size
            if was_full and self._buffered < self._max:
                self._loop.call_soon_threadsafe(self._space.set)
            return size
