"""Running every service's ``initializeHandler``: at start, or in the background with retries.

``/Systems/Tornado/InitializeAtStart = yes`` runs them all before the server accepts a
connection; one failing stops the start with its reason (:class:`InitializationError`).
Otherwise each service is initialized as soon as the server listens: a failing
``initializeHandler`` is logged once per attempt and tried again after a growing delay
(``/Systems/Tornado/InitializeRetryDelay`` seconds, doubled each time up to
``InitializeRetryMaxDelay``). Meanwhile its calls are answered 503 with ``Retry-After``, and
``/health/ready`` says which service is not ready and why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tornadoservice.core.returnvalues import isReturnStructure
from tornadoservice.server.errors import RequestError
from tornadoservice.server.execution import contained

if TYPE_CHECKING:
    from tornadoservice.config.tree import ConfigTree
    from tornadoservice.server.handler import TornadoService
    from tornadoservice.server.service import ServiceRuntime

log = logging.getLogger("tornadoservice.server")

DEFAULT_RETRY_DELAY = 1.0
DEFAULT_RETRY_MAX_DELAY = 60.0
_TRUE = ("yes", "true", "y", "1", "on")
_FALSE = ("no", "false", "n", "0", "off", "")


class InitializationError(Exception):
    """``initializeHandler`` of a service raised or returned ``S_ERROR``; the reason is short."""


def option_flag(config: ConfigTree, path: str) -> bool:
    """A yes/no option read strictly: a typo must not silently mean "no"."""
    value = (config.get(path) or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{path}: {value!r} is neither yes nor no")


def option_seconds(
    config: ConfigTree, path: str, default: float, *, allow_zero: bool = False
) -> float:
    """A number of seconds, more than 0 (or 0 too with ``allow_zero``); ValueError if not."""
    value = (config.get(path) or "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{path}: {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        least = "0 or more" if allow_zero else "more than 0"
        raise ValueError(f"{path}: must be {least} seconds, not {value}")
    return seconds


@dataclass(slots=True)
class RetryPolicy:
    """Delays between attempts: ``first``, doubled each time, never above ``most``."""

    first: float = DEFAULT_RETRY_DELAY
    most: float = DEFAULT_RETRY_MAX_DELAY

    @classmethod
    def from_config(cls, config: ConfigTree) -> RetryPolicy:
        first = option_seconds(config, "/Systems/Tornado/InitializeRetryDelay", DEFAULT_RETRY_DELAY)
        most = option_seconds(
            config, "/Systems/Tornado/InitializeRetryMaxDelay", DEFAULT_RETRY_MAX_DELAY
        )
        return cls(first, max(first, most))

    def delay(self, failures: int) -> float:
        return min(self.most, self.first * 2.0 ** max(0, failures - 1))


@dataclass(slots=True)
class InitState:
    """Where one service's initialization stands (kept on its :class:`ServiceRuntime`)."""

    failures: int = 0
    reason: str | None = None
    """Why the last attempt failed (``None``: none failed yet)."""
    retry_at: float | None = None
    """``time.monotonic()`` of the next attempt, while waiting for it."""
    attempt: asyncio.Future[None] | None = None
    """The attempt running now, which first calls wait for."""
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def run_initialize_handler(runtime: ServiceRuntime, handler: type[TornadoService]) -> None:
    """Call ``initializeHandler`` here (any thread); :class:`InitializationError` if it fails."""
    try:
        result = handler.initializeHandler(runtime.service_info)
    except BaseException as exc:
        if not contained(exc):
            raise
        raise InitializationError(f"initializeHandler raised {exc!r}") from exc
    if isReturnStructure(result) and not result["OK"]:
        raise InitializationError(f"initializeHandler returned S_ERROR: {result['Message']}")


def initialize_now(runtimes: Iterable[tuple[ServiceRuntime, type[TornadoService]]]) -> None:
    """``InitializeAtStart``: every service in turn, in this thread; the first failure raises
    :class:`InitializationError` naming the service."""
    for runtime, handler in runtimes:
        if runtime.initialized:
            continue
        try:
            run_initialize_handler(runtime, handler)
        except InitializationError as exc:
            raise InitializationError(f"{runtime.name}: {exc}") from exc.__cause__
        runtime.initialized = True
        log.info("%s initialized", runtime.name)


class Initializer:
    """Initializes services in the background on the running loop, retrying those that fail."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, runtimes: Iterable[tuple[ServiceRuntime, type[TornadoService]]]) -> None:
        """Begin initializing every service not yet initialized (call on the server's loop)."""
        for runtime, handler in runtimes:
            if runtime.initialized or runtime.init.task is not None:
                continue
            loop = asyncio.get_running_loop()
            # Made now, so that a call arriving before the task's first step waits for it.
            runtime.init.attempt = loop.create_future()
            task = loop.create_task(self._keep_trying(runtime, handler))
            runtime.init.task = task
            self._tasks.append(task)

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    async def _keep_trying(self, runtime: ServiceRuntime, handler: type[TornadoService]) -> None:
        state = runtime.init
        loop = asyncio.get_running_loop()
        while not runtime.initialized:
            state.retry_at = None
            if state.attempt is None or state.attempt.done():
                state.attempt = loop.create_future()
            try:
                await runtime.pool.call(run_initialize_handler, runtime, handler)
            except InitializationError as exc:
                state.failures += 1
                state.reason = str(exc)
                delay = self.policy.delay(state.failures)
                # Once per attempt; the traceback only the first time (the cause rarely changes).
                log.error(
                    "%s: %s (attempt %d; next in %.3gs)",
                    runtime.name,
                    exc,
                    state.failures,
                    delay,
                    exc_info=exc.__cause__ if state.failures == 1 else None,
                )
                state.retry_at = time.monotonic() + delay
                state.attempt.set_result(None)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                state.attempt.set_result(None)
                raise
            runtime.initialized = True
            state.reason = None
            state.attempt.set_result(None)
            if state.failures:
                log.info("%s initialized after %d failed attempt(s)", runtime.name, state.failures)


def not_ready_reason(runtime: ServiceRuntime) -> str:
    state = runtime.init
    if state.reason is None:
        return "initializing"
    return f"initializeHandler failed ({state.failures} attempt(s)), retrying"


def not_ready_error(runtime: ServiceRuntime) -> RequestError:
    """The 503 of a call to a service that is not initialized (yet, or after a failure)."""
    state = runtime.init
    retry = 1
    if state.retry_at is not None:
        retry = max(1, math.ceil(state.retry_at - time.monotonic()))
    return RequestError(
        503,
        f"Service {runtime.name} is not ready: {not_ready_reason(runtime)}",
        # The cause is logged once per attempt (Initializer), not again for every call.
        log_message=f"{runtime.name} not ready: {not_ready_reason(runtime)}",
        headers={"Retry-After": str(retry)},
    )


_fallback = Initializer(RetryPolicy())


async def wait_initialized(runtime: ServiceRuntime, handler: type[TornadoService]) -> None:
    """For a request: return once the service is initialized, or raise its 503.

    A call arriving while an attempt runs waits for that attempt (so the first calls after a
    start are served, not refused); one arriving between attempts is refused at once. A
    service nobody started initializing (served without :class:`TornadoServer`) starts now.
    """
    if runtime.initialized:
        return
    if runtime.init.task is None:
        _fallback.start([(runtime, handler)])
    attempt = runtime.init.attempt
    if attempt is not None and not attempt.done():
        await asyncio.shield(attempt)
    if not runtime.initialized:
        raise not_ready_error(runtime)
