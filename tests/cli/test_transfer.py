"""``tornadoservice get-file`` / ``put-file`` as real processes."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import DemoRun
from tests.cli.support import COMMAND_TIMEOUT, TORNADOSERVICE, assert_error, child_env, run_cli
from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI
from tornadoservice import S_ERROR, S_OK, TornadoService


def test_get_file_downloads_a_demo_file(demo: DemoRun, tmp_path: Path) -> None:
    dest = tmp_path / "copy.bin"
    result = run_cli("get-file", *demo.credentials(), demo.url, "random-4MiB.bin", dest)
    assert result.returncode == 0, result.stderr
    original = demo.state_dir / "data" / "random-4MiB.bin"
    assert dest.read_bytes() == original.read_bytes()
    assert result.stdout == f"{dest}: {original.stat().st_size} bytes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin"]


def test_get_file_of_a_missing_file_writes_nothing(demo: DemoRun, tmp_path: Path) -> None:
    dest = tmp_path / "none"
    result = run_cli("get-file", *demo.credentials(), demo.url, "missing", dest)
    assert_error(result, 1, "S_ERROR", "no file 'missing'")
    assert list(tmp_path.iterdir()) == []


def test_get_file_into_a_missing_directory(demo: DemoRun, tmp_path: Path) -> None:
    result = run_cli("get-file", *demo.credentials(), demo.url, "x", tmp_path / "no" / "f")
    assert_error(result, 2, "is not a directory")


class Upload(TornadoService):
    auth_streamFromClient = ["authenticated"]

    def export_streamFromClient(self, fileId: str, token: str, size: int, stream: Any) -> Any:
        if fileId == "refused":
            return S_ERROR("not this one")
        digest = hashlib.sha256()
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
        return S_OK(digest.hexdigest())


@pytest.fixture(scope="module")
def upload_server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    with live_server(dummy_config(server_pki), {DUMMY: Upload}) as server:
        yield server


def test_put_file_uploads(upload_server: LiveServer, server_pki: ServerPKI, tmp_path: Path) -> None:
    path = tmp_path / "data"
    data = os.urandom(5 * 1024 * 1024 + 3)
    path.write_bytes(data)
    credentials = ["--proxy", server_pki.proxy.cert, "--ca-dir", server_pki.ca_dir]
    url = upload_server.url(DUMMY)
    result = run_cli("put-file", *credentials, url, path, "f1")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout == f"{path}: {len(data)} bytes sent\n"
    refused = run_cli("put-file", *credentials, url, path, "refused")
    assert_error(refused, 1, "S_ERROR", "not this one")


def test_put_file_of_a_missing_file(demo: DemoRun, tmp_path: Path) -> None:
    result = run_cli("put-file", *demo.credentials(), demo.url, tmp_path / "none", "f")
    assert_error(result, 2, "does not exist", lines=2)


def read_terminal(controller: int, process: subprocess.Popen[bytes]) -> bytes:
    """What the process writes to its terminal until it exits (bounded in time)."""
    output = b""
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closes when the process exits (EIO)
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    return output


def test_progress_bar_on_a_terminal(demo: DemoRun, tmp_path: Path) -> None:
    dest = tmp_path / "copy.bin"
    controller, terminal = pty.openpty()
    try:
        with subprocess.Popen(
            [TORNADOSERVICE, "get-file", *demo.credentials(), demo.url, "random-4MiB.bin", dest],
            stdout=terminal,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=child_env(COLUMNS="100"),
        ) as process:
            os.close(terminal)
            output = read_terminal(controller, process)
            assert process.wait(COMMAND_TIMEOUT) == 0
    finally:
        os.close(controller)
    text = output.decode(errors="replace")
    assert "random-4MiB.bin ->" in text
    assert "100%" in text
    assert dest.stat().st_size == 4 * 1024 * 1024
