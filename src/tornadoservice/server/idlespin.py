"""An event loop that polls for a moment before it sleeps, after it was woken by a socket.

When a server has answered everything it was given, asyncio blocks in ``epoll_wait`` and the
kernel takes the core away. On virtual machines (and on idle physical cores) waking it again
when the next request comes costs tens of microseconds, more than a small call costs to
serve: a caller that sends one request after the other (concurrency 1, as a DIRAC client
calling in a loop does) waits for that wake-up on every call. Measured by hand on this
project's 2-core machine, echo at concurrency 1: 4,400-4,500 calls/s sleeping at once,
5,600-5,700 with 100 microseconds of polling first (``python -m bench`` has the rows).

:class:`SpinningSelector` does that polling: when asked to wait, it first asks the kernel
without waiting, again and again, for at most ``spin`` seconds (never past the loop's next
timer), and only then waits as before. It polls only after a wait that a socket ended, so a
server that only timers wake never polls: idle, it costs nothing; at low load, at most
``spin`` of CPU per request; under load, the loop always has work and never waits at all.

It does not poll while a worker thread of the server's pools runs (a sync method, a file
read or write of a transfer): polling holds the GIL, which that thread needs. Measured with
``python -m bench.transfer``, polling through uploads cost a quarter of their MiB/s.

``/Systems/Tornado/IdleSpinMicroseconds`` sets ``spin`` (100 by default; 0 turns it off). It
applies where the process is the server's own (``tornadoservice serve``, its workers,
:meth:`TornadoServer.run`); a server started on someone else's loop leaves that loop as it is.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from tornadoservice.config.options import whole_number
from tornadoservice.config.tree import ConfigTree
from tornadoservice.server.pool import any_busy

__all__ = [
    "DEFAULT_SPIN_MICROSECONDS",
    "SpinningSelector",
    "idle_spin",
    "loop_factory",
    "run",
]

_T = TypeVar("_T")

DEFAULT_SPIN_MICROSECONDS = 100
MAX_SPIN_MICROSECONDS = 10_000
OPTION = "/Systems/Tornado/IdleSpinMicroseconds"


def idle_spin(config: ConfigTree) -> float:
    """``/Systems/Tornado/IdleSpinMicroseconds`` in seconds (0 to 10,000 microseconds)."""
    micro = whole_number(
        config, OPTION, DEFAULT_SPIN_MICROSECONDS, minimum=0, maximum=MAX_SPIN_MICROSECONDS
    )
    return micro / 1e6


class SpinningSelector(selectors.DefaultSelector):
    """The platform's default selector, polling up to ``spin`` seconds before it blocks."""

    def __init__(self, spin: float) -> None:
        super().__init__()
        self.spin = spin
        self._socket_woke = False
        """The last wait ended with something ready: polling may catch the next event."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        poll = super().select
        if self._socket_woke and (timeout is None or timeout > 0) and not any_busy():
            start = time.monotonic()
            deadline = start + (self.spin if timeout is None else min(self.spin, timeout))
            while True:
                ready = poll(0)
                if ready:
                    return ready
                now = time.monotonic()
                if now >= deadline:
                    break
            self._socket_woke = False
            if timeout is not None:
                timeout = max(0.0, timeout - (now - start))
        ready = poll(timeout)
        if ready:
            self._socket_woke = True
        return ready


def loop_factory(spin: float) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the server's event loop: asyncio's default one when ``spin`` is 0."""
    if spin <= 0:
        return asyncio.new_event_loop
    return lambda: asyncio.SelectorEventLoop(SpinningSelector(spin))


def run(main: Coroutine[Any, Any, _T], spin: float) -> _T:
    """``asyncio.run(main)`` on a loop from :func:`loop_factory`."""
    with asyncio.Runner(loop_factory=loop_factory(spin)) as runner:
        return runner.run(main)
