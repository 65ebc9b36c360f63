"""Out of file descriptors, ``tornadoservice serve`` pauses accepting instead of spinning.

A real server runs with a low ``RLIMIT_NOFILE``; plain TCP connections that never speak fill its
descriptor table. Then: an already open keep-alive connection still gets answers, the server's
CPU time and log stay small, and once the connections close new ones are accepted again.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from tests.cli.support import ServerProcess, running_server
from tornadoservice.client.transport import make_session
from tornadoservice.server.demo_state import DemoFiles, ensure_demo

LIMIT = 40
"""The server's descriptor limit: about 10 in use at start, so ~30 connections fill it."""
FLOOD = 60
"""Connections opened: the rest wait in the listening socket's backlog."""
WINDOW = 3.0
"""Seconds over which CPU time and log growth are measured while the table is full."""


def _low_fd_limit() -> None:  # in the child, between fork and exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _add(session: requests.Session, url: str) -> object:
    answer = session.post(url, data={"method": "add", "args": json.dumps([2, 3])}, timeout=10)
    return answer.json()


@contextmanager
def _flood(port: int) -> Iterator[list[socket.socket]]:
    """``FLOOD`` plain TCP connections that never send a byte, all closed on leaving."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(FLOOD):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            sockets.append(sock)
        yield sockets


def _start(tmp_path: Path, transport: str) -> tuple[DemoFiles, list[str | Path]]:
    demo = ensure_demo(tmp_path / "state")
    chosen = tmp_path / "transport.cfg"
    chosen.write_text(
        f"Systems\n{{\n  Tornado\n  {{\n    HTTPImplementation = {transport}\n  }}\n}}\n"
    )
    return demo, [
        "serve", "--config", demo.config, "--config", chosen,
        "--host", "127.0.0.1", "--port", "0",
    ]  # fmt: skip


def _url(server: ServerProcess) -> tuple[str, int]:
    url = server.wait_for(r"serving Demo/Greeter on (https://\S+)", stream="stderr")[1]
    return url, int(url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.mark.parametrize("transport", ["tornado", "httptools"])
def test_out_of_descriptors_pauses_accepting(tmp_path: Path, transport: str) -> None:
    demo, args = _start(tmp_path, transport)
    with (
        running_server(args, output_dir=tmp_path / "logs", preexec_fn=_low_fd_limit) as server,
        make_session(demo.ca_dir, demo.proxy) as session,
    ):
        url, port = _url(server)
        pid = server.process.pid
        assert _add(session, url) == {"OK": True, "Value": 5}  # the keep-alive connection
        with _flood(port):
            server.wait_for("Too many open files", stream="stderr", timeout=15)
            time.sleep(0.3)  # past the first, shortest pauses
            cpu_before, log_before = _cpu_seconds(pid), server.stderr_path.stat().st_size
            lines_before = server.stderr.count("\n")
            time.sleep(WINDOW)
            cpu = _cpu_seconds(pid) - cpu_before
            log_bytes = server.stderr_path.stat().st_size - log_before
            lines = server.stderr.count("\n") - lines_before
            # The connection opened before the flood is still served, the table being full.
            assert _add(session, url) == {"OK": True, "Value": 5}
        assert cpu < 0.3 * WINDOW, f"{cpu:.2f}s of CPU in {WINDOW}s: the accept loop spins"
        assert lines <= 3 * WINDOW and log_bytes < 4096, (lines, log_bytes, server.stderr[-2000:])
        # The flood is closed: new connections (a new session) are accepted again.
        with make_session(demo.ca_dir, demo.proxy) as fresh:
            assert _add(fresh, url) == {"OK": True, "Value": 5}
        server.wait_for("accepting connections again", stream="stderr", timeout=5)
        log = server.stderr
    assert "Traceback" not in log
    assert log.count("cannot accept connections on 127.0.0.1:") >= 1
