"""``serve --processes N``: workers share the port, a dead one is replaced, SIGTERM drains all."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.cli.support import DEMO_READY, running_server
from tornadoservice.client.transport import make_session


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry))
    return found


def wait_until(predicate: Callable[[], object], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def call(url: str, state: Path, method: str, *args: object) -> requests.Response:
    with make_session(state / "pki" / "certificates", state / "user-proxy.pem") as session:
        return session.post(
            url, data={"method": method, "args": json.dumps(list(args))}, timeout=30
        )


def test_workers_share_the_port_restart_and_drain(tmp_path: Path) -> None:
    state = tmp_path / "state"
    args: list[str | Path] = ["serve", "--state-dir", state, "--port", "0", "--processes", "2"]
    with running_server(args, output_dir=tmp_path / "logs") as server:
        server.wait_for(DEMO_READY)
        server.wait_for(r"2 worker processes", stream="stderr")
        url = server.demo_url()
        master = server.process.pid
        wait_until(lambda: len(children(master)) == 2)
        first = children(master)
        for _ in range(6):  # new connection each time: the kernel spreads them over workers
            assert call(url, state, "add", 1, 2).text == '{"OK": true, "Value": 3}'

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        server.wait_for(rf"worker \d \(pid {victim}\) exited unexpectedly", stream="stderr")
        wait_until(lambda: len(children(master)) == 2 and victim not in children(master))
        assert call(url, state, "add", 2, 3).text == '{"OK": true, "Value": 5}'

        results: list[requests.Response] = []
        slow = threading.Thread(target=lambda: results.append(call(url, state, "sleep", 2)))
        slow.start()
        time.sleep(0.5)  # the call is running in one of the workers
        server.send_signal(signal.SIGTERM)
        slow.join(30)
        assert results and results[0].text == '{"OK": true, "Value": 2}'
        assert server.wait_exit(30) == 0
        assert children(master) == set()
