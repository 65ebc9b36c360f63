"""Several worker processes sharing the listening sockets (``serve --processes N``).

The parent binds the sockets, checks the TLS files, then forks the workers; each worker runs a
complete server (its own IOLoop and thread pool) on the shared sockets, and the kernel spreads
connections among them. The parent only supervises:

* a worker that dies is replaced (at most ``MAX_RESTARTS`` within ``RESTART_WINDOW`` seconds,
  after which the parent stops everything rather than loop on a crash);
* SIGTERM or SIGINT is passed to every worker, which stop accepting and drain their in-flight
  requests; the parent exits when they have all exited (or kills them after a grace period);
* SIGHUP is passed on, so every worker reloads its configuration, CAs and CRLs.

A worker never outlives its supervisor: if the supervisor dies (even by SIGKILL, which it
cannot catch), orphan workers would go on serving the port with nobody to stop or restart
them. On Linux the kernel sends the worker SIGTERM when its parent dies (``PR_SET_PDEATHSIG``);
everywhere, the worker also checks every second that its parent is still the supervisor. Either
way it stops like on SIGTERM: no new connections, in-flight calls get the drain timeout.

POSIX only (``os.fork``), like Tornado's own multi-process mode.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

from tornadoservice.server import idlespin, metrics, sdnotify
from tornadoservice.server.server import ServerStartError, TornadoServer

log = logging.getLogger("tornadoservice.workers")

MAX_RESTARTS = 5
RESTART_WINDOW = 30.0
POLL_INTERVAL = 0.1
KILL_MARGIN = 15.0
"""Seconds beyond the drain timeout before remaining workers are killed."""
PARENT_CHECK_INTERVAL = 1.0
"""Seconds between a worker's checks that its supervisor is alive (the portable fallback)."""
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
CANNOT_START = 3
"""A worker's exit code when its server cannot start (not worth restarting it)."""


def worker_count(requested: int) -> int:
    """``0`` means one worker per CPU core."""
    return requested if requested > 0 else (os.cpu_count() or 1)


class Supervisor:
    def __init__(
        self,
        server: TornadoServer,
        sockets_by_port: dict[int, list[socket.socket]],
        count: int,
    ) -> None:
        self.server = server
        self.sockets_by_port = sockets_by_port
        self.count = count
        self.children: dict[int, int] = {}
        """pid -> worker number."""
        self._signals: collections.deque[int] = collections.deque()
        self._restarts: collections.deque[float] = collections.deque()
        self._stopping_since: float | None = None
        self.pid = os.getpid()
        """The supervisor's pid, which its workers watch."""

    # ------------------------------------------------------------------ workers
    def _spawn(self, number: int) -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which leaves with os._exit
            self._run_worker(number)
        self.children[pid] = number
        log.info("worker %d started (pid %d)", number, pid)

    def _run_worker(self, number: int) -> None:  # pragma: no cover - child process
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        sdnotify.forget()  # systemd hears the supervisor only
        supervisor = self.pid
        _die_with_parent()
        if os.getppid() != supervisor:
            # The supervisor died between fork() and prctl(): no signal will come.
            os._exit(0)
        code = 0
        try:
            idlespin.run(self._serve(supervisor), self.server.idle_spin)
        except ServerStartError as exc:
            # InitializeAtStart failed, say: every worker would fail alike, do not restart.
            log.error("worker %d cannot start: %s", number, exc)
            code = CANNOT_START
        except BaseException:
            log.exception("worker %d failed", number)
            code = 1
        finally:
            logging.shutdown()
            os._exit(code)

    async def _serve(self, supervisor: int) -> None:  # pragma: no cover - child process
        watch = asyncio.create_task(_watch_parent(supervisor))
        try:
            await self.server.serve_forever(sockets_by_port=self.sockets_by_port)
        finally:
            watch.cancel()

    # ------------------------------------------------------------------ supervision
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _forward(self, signum: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):  # already gone: nothing to tell
                os.kill(pid, signum)

    def _reap(self) -> bool:
        """Collect exited workers; replace them unless stopping. False: give up (crash loop)."""
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return True
            number = self.children.pop(pid, None)
            metrics.worker_exited(pid)
            if number is None or self._stopping_since is not None:
                continue
            if os.WIFEXITED(status) and os.WEXITSTATUS(status) == CANNOT_START:
                log.error("worker %d (pid %d) could not start: stopping", number, pid)
                return False
            log.warning(
                "worker %d (pid %d) exited unexpectedly (%s): starting another",
                number,
                pid,
                _describe(status),
            )
            now = time.monotonic()
            self._restarts.append(now)
            while self._restarts and now - self._restarts[0] > RESTART_WINDOW:
                self._restarts.popleft()
            if len(self._restarts) > MAX_RESTARTS:
                log.error(
                    "workers keep dying (%d restarts in %.0fs): stopping",
                    MAX_RESTARTS,
                    RESTART_WINDOW,
                )
                return False
            self._spawn(number)
        return True

    def run(self, ready: Callable[[], None] | None = None) -> int:
        """Fork the workers and supervise them until they have all exited; the exit code."""
        for handled in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(handled, self._on_signal)
        for number in range(self.count):
            self._spawn(number)
        # The sockets listen since bind(): connections wait in their backlog for a worker.
        sdnotify.ready(f"{self.count} worker processes")
        if ready is not None:
            ready()
        healthy = True
        grace = self.server.drain_timeout + KILL_MARGIN
        while self.children:
            while self._signals:
                signum = self._signals.popleft()
                if signum == signal.SIGHUP:
                    # Each worker reloads on its own; no RELOADING=1, which would need their
                    # READY=1 back before systemd considers the reload done.
                    self._forward(signal.SIGHUP)
                elif self._stopping_since is None:
                    log.info("stopping %d worker(s)", len(self.children))
                    sdnotify.stopping()
                    self._stopping_since = time.monotonic()
                    self._forward(signal.SIGTERM)
            if not self._reap():
                healthy = False
                self._stopping_since = time.monotonic()
                self._forward(signal.SIGTERM)
            if self._stopping_since is not None and time.monotonic() - self._stopping_since > grace:
                log.error("workers still running after %.0fs: killing them", grace)
                self._forward(signal.SIGKILL)
                self._stopping_since = time.monotonic()
            time.sleep(POLL_INTERVAL)
        return 0 if healthy else 1


def _die_with_parent() -> None:  # pragma: no cover - child process
    """Linux: ask the kernel for SIGTERM when the parent (the supervisor) dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0
    except (OSError, AttributeError):
        failed = True
    if failed:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: relying on the parent check alone")


async def _watch_parent(supervisor: int) -> None:  # pragma: no cover - child process
    """Portable fallback: stop (as on SIGTERM) once the supervisor is no longer the parent."""
    while os.getppid() == supervisor:
        await asyncio.sleep(PARENT_CHECK_INTERVAL)
    log.warning("supervisor (pid %d) is gone: worker pid %d stopping", supervisor, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
