"""The sources a method may return to stream its answer: a file object, an iterator of chunks,
or an async iterator. :func:`chunk_reader` gives one way to read any of them, without blocking
the IOLoop (a file or a plain iterator is read in a worker thread)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from tornadoservice.server.pool import WorkerPool

__all__ = ["STREAM_CHUNK", "chunk_reader", "close_source"]

STREAM_CHUNK = 1024 * 1024
"""Bytes read per chunk when streaming a file or iterator to the client."""


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
