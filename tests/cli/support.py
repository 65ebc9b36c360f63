"""Running the ``tornadoservice`` command as a real process, every wait bounded in time.

:func:`run_cli` runs one command to completion; :func:`running_server` starts ``tornadoservice
serve`` in the background, with its output in files that the test polls, and always ends it by
its PID.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest

# The venv's console script, next to its interpreter: what a user of the venv runs.
TORNADOSERVICE = str(Path(sys.executable).with_name("tornadoservice"))
CURL = "/usr/bin/curl"
DEMO_READY = "Stop with Ctrl-C."
COMMAND_TIMEOUT = 30.0

# Variables that would make a child pick credentials or a state directory outside the test's.
_ISOLATED = (
    "X509_USER_PROXY",
    "X509_CERT_DIR",
    "X509_USER_CERT",
    "X509_USER_KEY",
    "XDG_STATE_HOME",
)


def child_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in _ISOLATED}
    env.update(extra)
    return env


def run_cli(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``tornadoservice ARGS`` to completion (killed if it outlives ``timeout``)."""
    return run_argv([TORNADOSERVICE, *map(str, args)], env=env, cwd=cwd, timeout=timeout)


def run_argv(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        env=env if env is not None else child_env(),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def assert_error(
    result: subprocess.CompletedProcess[str], exit_code: int, *fragments: str, lines: int = 1
) -> str:
    """The command failed with ``exit_code`` and a short message (no traceback) holding
    ``fragments``; returns the message's first line."""
    report = f"exit {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert result.returncode == exit_code, report
    assert "Traceback" not in result.stderr + result.stdout, report
    message = result.stderr.strip().splitlines()
    assert len(message) == lines, report
    assert message[0].startswith("tornadoservice: "), report
    for fragment in fragments:
        assert fragment in message[0], report
    return message[0]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class ServerProcess:
    """A ``tornadoservice serve`` child, its stdout and stderr going to files."""

    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for(
        self, pattern: str, *, stream: str = "stdout", timeout: float = COMMAND_TIMEOUT
    ) -> re.Match[str]:
        """Wait until ``pattern`` (a regular expression) shows up in ``stream``."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stdout if stream == "stdout" else self.stderr
            match = re.search(pattern, text)
            if match:
                return match
            if self.process.poll() is not None:
                pytest.fail(
                    f"server exited ({self.process.returncode}) before {pattern!r} on {stream}:\n"
                    f"{self.stdout}\n{self.stderr}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} on {stream} after {timeout}s:\n{self.stderr}")
            time.sleep(0.05)

    def send_signal(self, signum: signal.Signals) -> None:
        os.kill(self.process.pid, signum)

    def wait_exit(self, timeout: float = COMMAND_TIMEOUT) -> int:
        return self.process.wait(timeout)

    def demo_url(self) -> str:
        """The service URL from the demo's first line (the port is the one actually bound)."""
        return self.wait_for(r"serving Demo/Greeter on (https://\S+)")[1]

    def demo_lines(self, prefix: str) -> list[str]:
        """The suggested commands of the demo instructions that start with ``prefix``."""
        self.wait_for(re.escape(DEMO_READY))
        return [
            line.strip() for line in self.stdout.splitlines() if line.strip().startswith(prefix)
        ]


_outputs = count()


@contextmanager
def running_server(
    args: Sequence[str | Path],
    *,
    output_dir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[ServerProcess]:
    """Start ``tornadoservice ARGS``; on leaving, stop it by its PID if it still runs.

    ``preexec_fn`` runs in the child before it starts (a umask, a resource limit)."""
    number = next(_outputs)
    output_dir.mkdir(parents=True, exist_ok=True)
    stdout_path = output_dir / f"server-{number}.out"
    stderr_path = output_dir / f"server-{number}.err"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [TORNADOSERVICE, *map(str, args)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env if env is not None else child_env(),
            cwd=cwd,
            preexec_fn=preexec_fn,
        )
    try:
        yield ServerProcess(process, stdout_path, stderr_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait(COMMAND_TIMEOUT)
