"""Bounds on what connections can make the server hold in memory, and for how long.

* :class:`BufferBudget`: the request bodies held at once, across all connections, counted after
  decompression (``/Systems/Tornado/MaxBufferedBytes``). A body is counted from its first byte
  until its answer has left (or its connection closed), because the answer made from it is held
  as long. A request that would go past the budget is answered 503 with ``Retry-After`` and its
  body is dropped as it arrives, so a few small gzip bodies cannot pin gigabytes.
* :func:`watch_write`: an answer the client does not read within ``/Systems/Tornado/WriteTimeout``
  seconds has its connection closed, which frees the buffered answer.
* :data:`OFF_LOOP_BYTES`: bodies and arguments from this size on are parsed, decoded and encoded in
  a worker thread, so a large payload does not stop the IOLoop from serving other connections.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tornadoservice.server.errors import RequestError

__all__ = [
    "OFF_LOOP_BYTES",
    "RETRY_AFTER_SECONDS",
    "YIELD_EVERY_BYTES",
    "BufferBudget",
    "over_budget_error",
    "watch_write",
]

log = logging.getLogger("tornadoservice.server")

OFF_LOOP_BYTES = 1024 * 1024
"""A body (or an ``args`` text) this large is parsed and decoded in a worker thread."""

YIELD_EVERY_BYTES = 4 * 1024 * 1024
"""While a body arrives (or inflates from gzip), the IOLoop serves others after this many bytes."""

RETRY_AFTER_SECONDS = 2
"""What a 503 (queue or buffer budget full) tells the client to wait before trying again."""


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


def watch_write(
    future: asyncio.Future[Any],
    timeout: float,
    on_timeout: Callable[[], None],
    on_done: Callable[[], None],
) -> None:
    """Call ``on_done`` when ``future`` (a pending write) ends, ``on_timeout`` if it has not ended
    within ``timeout`` seconds (``on_timeout`` should close the connection, which ends it)."""
    if future.done():
        on_done()
        return
    timer = asyncio.get_running_loop().call_later(timeout, on_timeout)

    def done(_: asyncio.Future[Any]) -> None:
        timer.cancel()
        on_done()

    future.add_done_callback(done)


def over_budget_error(budget: BufferBudget) -> RequestError:
    return RequestError(
        503,
        "The server holds too many request bodies right now, try again later",
        log_message=f"request body refused: the buffer budget ({budget.limit} bytes) is used up",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
