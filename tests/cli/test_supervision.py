"""Drain timeout (``/Systems/Tornado/DrainTimeout``, ``serve --drain-timeout``) and workers that
never outlive their supervisor, with real ``tornadoservice serve`` processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.cli.support import DEMO_READY, ServerProcess, assert_error, run_cli, running_server
from tornadoservice.client.transport import make_session
from tornadoservice.server.demo_state import DemoFiles, ensure_demo

SLEEP = 8.0  # what the in-flight call asks for: far longer than the drain timeouts below


def call(url: str, state: Path, method: str, *args: object) -> requests.Response:
    with make_session(state / "pki" / "certificates", state / "user-proxy.pem") as session:
        return session.post(
            url, data={"method": method, "args": json.dumps(list(args))}, timeout=30
        )


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "extra.cfg"
    path.write_text(f"Systems\n{{\n  Tornado\n  {{\n    {text}\n  }}\n}}\n")
    return path


def _serve_args(demo: DemoFiles, extra: Path, *more: str) -> list[str | Path]:
    return [
        "serve",
        "--config",
        demo.config,
        "--config",
        extra,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *more,
    ]


def _cut_after_drain(server: ServerProcess, demo: DemoFiles, seconds: float) -> None:
    """A call in flight at SIGTERM is cut after ``seconds``, not after the call's own 8 s."""
    url = server.wait_for(r"serving Demo/Greeter on (https://\S+)", stream="stderr")[1]
    assert call(url, demo.state_dir, "add", 1, 2).json() == {"OK": True, "Value": 3}
    outcome: list[object] = []

    def slow() -> None:
        try:
            outcome.append(call(url, demo.state_dir, "sleep", SLEEP))
        except requests.RequestException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)  # the sleep call is now running in a worker thread
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait_exit(30) == 0
    took = time.monotonic() - started
    thread.join(30)
    assert seconds - 0.2 <= took < seconds + 3, took
    assert len(outcome) == 1 and isinstance(outcome[0], requests.RequestException), outcome
    assert f"still running after {seconds:.0f}s" in server.stderr


def test_drain_timeout_from_the_configuration(tmp_path: Path) -> None:
    demo = ensure_demo(tmp_path / "state")
    extra = _config(tmp_path, "DrainTimeout = 1")
    with running_server(_serve_args(demo, extra), output_dir=tmp_path / "logs") as server:
        _cut_after_drain(server, demo, 1.0)


def test_drain_timeout_flag_wins_over_the_configuration(tmp_path: Path) -> None:
    demo = ensure_demo(tmp_path / "state")
    extra = _config(tmp_path, "DrainTimeout = 60")
    args = _serve_args(demo, extra, "--drain-timeout", "2")
    with running_server(args, output_dir=tmp_path / "logs") as server:
        _cut_after_drain(server, demo, 2.0)


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_bad_drain_timeout_in_the_configuration(tmp_path: Path, value: str) -> None:
    demo = ensure_demo(tmp_path / "state")
    extra = _config(tmp_path, f"DrainTimeout = {value}")
    result = run_cli(*_serve_args(demo, extra))
    assert_error(result, 1, "/Systems/Tornado/DrainTimeout", value)


def test_bad_drain_timeout_flag(tmp_path: Path) -> None:
    result = run_cli("serve", "--state-dir", tmp_path / "state", "--drain-timeout", "-1")
    assert_error(result, 2, "--drain-timeout", lines=2)
    assert not (tmp_path / "state").exists()


# ---------------------------------------------------------------------- supervision


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has stopped serving: it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _wait(predicate: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_workers_exit_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args: list[str | Path] = ["serve", "--state-dir", state, "--port", "0", "--processes", "2"]
    with running_server(args, output_dir=tmp_path / "logs") as server:
        server.wait_for(DEMO_READY)
        server.wait_for(r"2 worker processes", stream="stderr")
        url = server.demo_url()
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        supervisor = server.process.pid
        assert _wait(lambda: len(_children(supervisor)) == 2, 15)
        workers = _children(supervisor)
        assert call(url, state, "add", 1, 2).json() == {"OK": True, "Value": 3}
        try:
            os.kill(supervisor, signal.SIGKILL)
            server.wait_exit(10)
            # PR_SET_PDEATHSIG: at once; the parent check: within a second or two.
            assert _wait(lambda: not any(map(_alive, workers)), 10), "orphan workers still run"
            assert _refused(port), "an orphan still serves the port"
        finally:
            for pid in workers:  # only if the assertion above failed: never leave them behind
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
