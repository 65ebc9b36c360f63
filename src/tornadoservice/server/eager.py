"""Start a ``@stream_request_body`` handler at once instead of on the next IOLoop turn.

Tornado's ``_HandlerDelegate.execute`` wraps ``RequestHandler._execute`` in a task, whose first
step (``prepare``) runs on the next turn of the loop; the transport waits for ``prepare`` before
it hands over the body, which costs another turn, and the rest of the request a third (plus one
for the task's done callback). For a service, almost every request is a small body already read
in full, so these turns are most of what scheduling costs it.

:class:`EagerDelegate` runs ``_execute`` up to its first real wait right away, inside
``headers_received`` (``prepare`` runs there; when it needs nothing from the network it is done
before the transport asks, so the body follows in the same turn). Only what comes after the
first wait runs in a task, and a wait on something already done does not end the step. The
handler sees no difference: the same calls in the same order, ``prepare`` before any
``data_received``, errors handled by ``_execute`` as before. Handlers without
``@stream_request_body``, and applications in Tornado's debug modes (which reset template and
static caches per request), go through Tornado's own ``execute``.
"""

from __future__ import annotations

import asyncio
import logging
import types
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any

from tornado.web import _HandlerDelegate

__all__ = ["EagerDelegate", "start_eagerly"]

log = logging.getLogger("tornado.application")


class EagerDelegate(_HandlerDelegate):
    """Tornado's ``_HandlerDelegate`` whose ``execute`` starts the handler at once."""

    def execute(self) -> Awaitable[None] | None:
        settings = self.application.settings
        if (
            not self.stream_request_body
            or not settings.get("compiled_template_cache", True)
            or not settings.get("static_hash_cache", True)
        ):
            return super().execute()
        handler = self.handler = self.handler_class(
            self.application, self.request, **self.handler_kwargs
        )
        transforms = [transform(self.request) for transform in self.application.transforms]
        prepared: asyncio.Future[None] = asyncio.Future()
        # Tornado declares the attribute as None (set in __init__) and assigns it a Future in
        # its own execute the same way.
        handler._prepared_future = prepared  # type: ignore[assignment]
        start_eagerly(handler._execute(transforms, *self.path_args, **self.path_kwargs))
        return prepared


def start_eagerly(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run ``coro`` now up to its first wait on something not done; the rest in a task.

    ``None`` when it ended without waiting. An exception out of it is logged (as the task of
    Tornado's ``execute`` would have it logged), never raised to the caller: the transport.
    """
    try:
        pending = _run_until_blocked(coro, None)
    except StopIteration:
        return None
    except Exception:
        log.exception("Uncaught exception in a request handler")
        return None
    return asyncio.ensure_future(_resume(coro, pending))


def _run_until_blocked(coro: Coroutine[Any, Any, Any], thrown: BaseException | None) -> Any:
    """Resume ``coro`` (``thrown`` thrown into it, if given) until it yields what is not a done
    future: a future still pending (or a bare ``yield``). StopIteration when it returns."""
    pending = coro.send(None) if thrown is None else coro.throw(thrown)
    while isinstance(pending, asyncio.Future) and pending.done():
        # No need to wait for the loop. Future.__await__ set this flag for a task to see and
        # clear; nobody will see it, so it is cleared here.
        pending._asyncio_future_blocking = False
        pending = coro.send(None)
    return pending


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, Any, None]:
    """The rest of ``coro``, suspended on ``pending``, driven by the task that runs this.

    What ``coro`` waits on is yielded to the task; the task's answer (a send once it is done,
    or a throw: cancellation) goes on to ``coro``.
    """
    while True:
        thrown: BaseException | None = None
        if isinstance(pending, asyncio.Future) and pending.done():
            # Done by the time the task started (the body of a small request, read in the same
            # turn as its head): on at once, not after another turn of the loop.
            pending._asyncio_future_blocking = False
        else:
            try:
                yield pending
            except GeneratorExit:
                coro.close()  # this generator is closed (its task is gone): so is coro
                raise
            except BaseException as exc:  # cancellation, or a task's complaint: coro decides
                thrown = exc
        try:
            pending = _run_until_blocked(coro, thrown)
        except StopIteration:
            return
        except asyncio.CancelledError:
            raise  # the task ends cancelled, as Tornado's would
        except Exception:
            log.exception("Uncaught exception in a request handler")
            return
