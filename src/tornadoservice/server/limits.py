"""Bounds on what connections can make the server hold in memory, and for how long.

* :class:`BufferBudget`: the request bodies held at once, across all connections, counted after
  decompression (``/Systems/Tornado/MaxBufferedBytes``). A body is counted from its first byte
  until its answer has left (or its connection closed), because the answer made from it is held
  as long. A request that would go past the budget is answered 503 with ``Retry-After`` and its
  body is dropped as it arrives, so a few small gzip bodies cannot pin gigabytes.
* :func:`watch_write`: an answer of which the client reads nothing for
  ``/Systems/Tornado/WriteTimeout`` seconds has its connection closed, which frees the buffered
  answer (a slow reader that keeps reading keeps its connection).
* :data:`OFF_LOOP_BYTES`: bodies and arguments from this size on are parsed, decoded and encoded in
  a worker thread, so a large payload does not stop the IOLoop from serving other connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tornadoservice.server.errors import RequestError

__all__ = [
    "OFF_LOOP_BYTES",
    "RETRY_AFTER_SECONDS",
    "YIELD_EVERY_BYTES",
    "BufferBudget",
    "WriteWatch",
    "looks_large",
    "over_budget_error",
    "pending_output",
    "watch_write",
]

log = logging.getLogger("tornadoservice.server")

OFF_LOOP_BYTES = 1024 * 1024
"""A body (or an ``args`` text) this large is parsed and decoded in a worker thread."""

YIELD_EVERY_BYTES = 4 * 1024 * 1024
"""While a body arrives (or inflates from gzip), the IOLoop serves others after this many bytes."""

RETRY_AFTER_SECONDS = 2
"""What a 503 (queue or buffer budget full) tells the client to wait before trying again."""

_TEXT = (str, bytes, bytearray)
_SEQUENCES = (list, tuple, set, frozenset)

LOOK_AT_MOST = 1024
"""Values :func:`looks_large` looks at before it calls a result large without counting it all."""


def looks_large(value: object, threshold: int = OFF_LOOP_BYTES) -> bool:
    """Whether ``value`` (a method's result) may encode to ``threshold`` bytes or more.

    A cheap estimate, made on the IOLoop before encoding: strings and bytes count their length,
    other values a few bytes each; a result with more than :data:`LOOK_AT_MOST` values is taken
    as large (encoding it aside costs one thread hop, encoding it here could pause the loop).
    The members of a container that are plain text or numbers are counted where they stand;
    only nested containers (and other objects) wait their turn on the stack.
    """
    pending = [value]
    total = looked = 0
    while pending:
        item = pending.pop()
        members: Iterable[Any]
        if isinstance(item, dict):
            # Sized before it is looked into, so a huge container is not walked here.
            looked += 2 * len(item) + 1
            if looked > LOOK_AT_MOST:
                return True
            for key in item:
                total += len(key) + 4 if type(key) is str else 8
            members = item.values()
        elif isinstance(item, _SEQUENCES):
            looked += len(item) + 1
            if looked > LOOK_AT_MOST:
                return True
            members = item
        else:
            total += len(item) + 2 if isinstance(item, _TEXT) else 8
            members = ()
        for member in members:
            kind = type(member)
            if kind is str or kind is bytes:
                total += len(member) + 2
            elif kind is int or kind is bool or kind is float or member is None:
                total += 8
            else:
                pending.append(member)
        if total >= threshold:
            return True
    return False


@dataclass(slots=True)
class BufferBudget:
    """Bytes of request bodies held at once by one server process (used on the IOLoop only)."""

    limit: int
    held: int = 0

    def take(self, size: int) -> bool:
        """Count ``size`` more bytes, or return ``False`` (counting nothing) if over the limit."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


def pending_output(connection: object) -> int | None:
    """Bytes of answer still buffered for ``connection``, when its transport tells (Tornado's
    ``IOStream`` keeps the count in a private attribute; an asyncio transport has a method)."""
    stream = getattr(connection, "stream", None)
    buffered = getattr(stream, "_write_buffer", None)
    if buffered is not None and hasattr(buffered, "__len__"):
        return len(buffered)
    get_size = getattr(getattr(stream, "transport", None), "get_write_buffer_size", None)
    if callable(get_size):
        counted = get_size()
        return counted if isinstance(counted, int) else None
    return None


class WriteWatch:
    """Calls ``on_timeout`` when a pending write has made no progress for ``timeout`` seconds.

    A client that reads, however slowly, keeps its connection: the timer is re-armed as long as
    the buffered answer shrinks (when the transport can tell; otherwise ``timeout`` is for the
    whole write).
    """

    __slots__ = ("last", "loop", "on_timeout", "pending", "timeout", "timer")

    def __init__(
        self, timeout: float, pending: Callable[[], int | None], on_timeout: Callable[[], None]
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout = timeout
        self.pending = pending
        self.on_timeout = on_timeout
        self.last = pending()
        self.timer: asyncio.TimerHandle | None = self.loop.call_later(timeout, self._check)

    def progressed(self) -> bool:
        now = self.pending()
        if now is not None and self.last is not None and now < self.last:
            self.last = now
            return True
        return False

    def _check(self) -> None:
        if self.progressed():
            self.timer = self.loop.call_later(self.timeout, self._check)
            return
        self.timer = None
        self.on_timeout()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def watch_write(
    future: asyncio.Future[Any],
    timeout: float,
    on_timeout: Callable[[], None],
    on_done: Callable[[], None],
    pending: Callable[[], int | None] = lambda: None,
) -> None:
    """Call ``on_done`` when ``future`` (a pending write) ends, ``on_timeout`` if it made no
    progress for ``timeout`` seconds (``on_timeout`` should close the connection)."""
    if future.done():
        on_done()
        return
    watch = WriteWatch(timeout, pending, on_timeout)

    def done(_: asyncio.Future[Any]) -> None:
        watch.cancel()
        on_done()

    future.add_done_callback(done)


def over_budget_error(budget: BufferBudget) -> RequestError:
    return RequestError(
        503,
        "The server holds too many request bodies right now, try again later",
        log_message=f"request body refused: the buffer budget ({budget.limit} bytes) is used up",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
