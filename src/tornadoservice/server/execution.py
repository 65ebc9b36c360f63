"""Running a service's calls without letting one call, or one service, hurt the others.

Three rules, each enforced here and called from the handler:

* **Containment.** Whatever an exported method, ``initializeRequest`` or ``initializeHandler``
  raises, ``SystemExit`` and ``KeyboardInterrupt`` included, ends that call with a 500 and a
  logged traceback; the server keeps serving. Only :class:`asyncio.CancelledError` goes through:
  it is how asyncio and Tornado cancel a coroutine. The server's own shutdown never travels as an
  exception through a request (SIGINT/SIGTERM set an event, see ``TornadoServer``), so nothing a
  request raises is the server's shutdown.
* **Bounded queues.** Each service runs its sync methods in a pool of its own
  (``/Systems/Tornado/MaxThreads`` threads), so a service whose methods all block leaves the
  others their threads. At most ``/Systems/Tornado/MaxQueuedCalls`` calls wait for a thread of
  one service; beyond that a call is refused at once with 503 and ``Retry-After``.
* **No work for nobody.** A queued call carries a :class:`CallTicket`; when its client closes
  the connection before a thread takes the call, the ticket is dropped and the call never runs
  (:class:`CallDroppedError` comes back instead of its result).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tornadoservice.server.errors import RequestError
from tornadoservice.server.limits import RETRY_AFTER_SECONDS
from tornadoservice.server.pool import WorkerPool

__all__ = [
    "CallDroppedError",
    "CallTicket",
    "contained",
    "queue_full_error",
    "submit_call",
]

_T = TypeVar("_T")


def contained(exc: BaseException) -> bool:
    """Whether a request must catch ``exc`` itself (everything but a cancellation)."""
    return not isinstance(exc, asyncio.CancelledError)


class CallDroppedError(Exception):
    """The client went away before a thread took its queued call: the call did not run."""


@dataclass(slots=True)
class CallTicket:
    """Shared by a queued call and its request: set ``dropped`` to cancel it before it starts."""

    dropped: bool = False
    started: bool = False


def _run_ticketed(ticket: CallTicket, function: Callable[..., _T], args: tuple[Any, ...]) -> _T:
    # In the worker thread. The flags are plain attribute writes under the GIL: at worst a
    # call whose client leaves at this very moment still runs, as if it had left a bit later.
    if ticket.dropped:
        raise CallDroppedError
    ticket.started = True
    return function(*args)


def queue_full_error(service: str, pool: WorkerPool) -> RequestError:
    return RequestError(
        503,
        f"{service} is busy: too many calls are waiting, try again later",
        log_message=f"{pool.queued()} calls already wait for a thread of {service}: refused",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def submit_call(
    service: str, pool: WorkerPool, ticket: CallTicket, function: Callable[..., _T], *args: Any
) -> asyncio.Future[_T]:
    """Queue ``function(*args)`` on ``pool``, or raise a 503 when the service's queue is full."""
    if pool.full():
        raise queue_full_error(service, pool)
    return pool.call(_run_ticketed, ticket, function, args)
