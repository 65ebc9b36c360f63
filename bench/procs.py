"""Process plumbing shared by the benchmark suites: start a server that announces its port,
stop a process by its PID, and the server side of that announcement."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the load-generator and client processes import this: stdlib only
    from tornado.httpserver import HTTPServer

    from tornadoservice.server.transport.listener import HttptoolsServer


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(5)


@contextmanager
def announced_server(command: list[str], cwd: Path, what: str) -> Iterator[tuple[int, int]]:
    """Run ``command`` until it prints ``PORT <n>``; yield ``(pid, port)``; stop it by its PID.

    A ``taskset`` prefix execs the command, so the PID is the server's own.
    """
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        match = re.fullmatch(r"PORT (\d+)\n", line)
        if match is None:
            raise RuntimeError(f"{what} did not start (said {line!r})")
        yield process.pid, int(match.group(1))
    finally:
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()


def announce(port: int) -> None:
    """What :func:`announced_server` waits for."""
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()


async def wait_for_signal() -> None:
    """Return once SIGINT or SIGTERM arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def run_until_signalled(server: HTTPServer | HttptoolsServer) -> None:
    """Serve until SIGINT or SIGTERM, then close every connection."""
    await wait_for_signal()
    server.stop()
    await server.close_all_connections()
