"""Running under systemd: ``serve --check`` (ExecStartPre) and ``sd_notify`` over a real Unix
datagram socket (``Type=notify``: READY=1, RELOADING=1, STOPPING=1), with real processes."""

from __future__ import annotations

import array
import json
import signal
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.cli.conftest import CliPKI
from tests.cli.support import assert_error, child_env, run_cli, running_server
from tests.cli.test_serve_config import service_section, write_site
from tornadoservice.client.transport import make_session

FAILING_INIT = """\
from tornadoservice import S_ERROR, TornadoService


class EchoHandler(TornadoService):
    @classmethod
    def initializeHandler(cls, serviceInfo):
        return S_ERROR("cannot reach the database")
"""

RECEIVE_TIMEOUT = 20.0


# ------------------------------------------------------------------ serve --check


def test_check_loads_everything_and_exits_0(cli_pki: CliPKI, tmp_path: Path) -> None:
    config = write_site(tmp_path, cli_pki, service_section("handlers/echo.py"))
    result = run_cli("serve", "--config", config, "--check")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok: {config}"
    assert any(line.startswith(f"host certificate {cli_pki.host_cert} (") for line in lines)
    assert any(line.startswith("Test/Echo: ") and line.endswith("loaded") for line in lines)
    assert "Traceback" not in result.stderr


def test_check_initialize_runs_initialize_handler(cli_pki: CliPKI, tmp_path: Path) -> None:
    config = write_site(tmp_path, cli_pki, service_section("handlers/echo.py"))
    ok = run_cli("serve", "--config", config, "--check", "--initialize")
    assert ok.returncode == 0, ok.stderr
    assert "Test/Echo: " in ok.stdout and "initialized" in ok.stdout
    (tmp_path / "handlers" / "echo.py").write_text(FAILING_INIT)
    # Without --initialize (and InitializeAtStart unset) the handler loads: exit 0.
    assert run_cli("serve", "--config", config, "--check").returncode == 0
    failed = run_cli("serve", "--config", config, "--check", "--initialize")
    assert_error(failed, 1, "check failed", lines=2)
    assert "Test/Echo: initializeHandler returned S_ERROR: cannot reach the database" in (
        failed.stderr
    )


def test_check_reports_a_missing_certificate_and_a_bad_handler(
    cli_pki: CliPKI, tmp_path: Path
) -> None:
    missing = tmp_path / "no-hostcert.pem"
    config = write_site(
        tmp_path, cli_pki, service_section("handlers/echo.py:NoSuchHandler"), cert_file=missing
    )
    result = run_cli("serve", "--config", config, "--check")
    # The handler stops loading first: its problem is the one reported, in one line.
    assert_error(result, 1, "check failed", "NoSuchHandler")
    (tmp_path / "site.cfg").write_text(
        (tmp_path / "site.cfg").read_text().replace(":NoSuchHandler", "")
    )
    result = run_cli("serve", "--config", config, "--check")
    assert_error(result, 1, "check failed", lines=2)
    assert str(missing) in result.stderr


def test_check_needs_a_configuration_and_initialize_needs_check(
    cli_pki: CliPKI, tmp_path: Path
) -> None:
    assert_error(run_cli("serve", "--check"), 1, "--check needs --config")
    config = write_site(tmp_path, cli_pki, service_section("handlers/echo.py"))
    result = run_cli("serve", "--config", config, "--initialize")
    assert_error(result, 2, "--initialize goes with --check", lines=2)


# ------------------------------------------------------------------ sd_notify


@dataclass
class Datagram:
    fields: dict[str, str]
    sender: int
    """The sending process (SCM_CREDENTIALS), as systemd checks it against MAINPID."""


class NotifySocket:
    """What systemd listens on: a Unix datagram socket, with the senders' credentials."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address if not address.startswith("@") else "\0" + address[1:])
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def receive(self, timeout: float = RECEIVE_TIMEOUT) -> Datagram:
        self.sock.settimeout(timeout)
        size = struct.calcsize("3i")
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(size))
        sender = -1
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                sender = array.array("i", payload[:size])[0]
        fields = dict(line.split("=", 1) for line in data.decode().splitlines())
        return Datagram(fields, sender)

    def nothing_more(self, wait: float) -> bool:
        self.sock.settimeout(wait)
        try:
            self.sock.recv(4096)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


@contextmanager
def notify_socket(address: str) -> Iterator[NotifySocket]:
    listener = NotifySocket(address)
    try:
        yield listener
    finally:
        listener.close()


def ready_probe(cli_pki: CliPKI, url: str) -> requests.Response:
    base = url.rsplit("/", 2)[0]
    with make_session(cli_pki.ca_dir) as session:
        return session.get(f"{base}/health/ready", timeout=10)


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_serve_notifies_ready_reloading_and_stopping(
    cli_pki: CliPKI, tmp_path: Path, kind: str
) -> None:
    config = write_site(tmp_path / "site", cli_pki, service_section("handlers/echo.py"))
    address = str(tmp_path / "notify.sock") if kind == "path" else f"@ts-test-{time.time_ns()}"
    with notify_socket(address) as systemd:
        args = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
        env = child_env(NOTIFY_SOCKET=address)
        with running_server(args, output_dir=tmp_path / "logs", env=env) as server:
            ready = systemd.receive()
            assert ready.fields["READY"] == "1"
            assert ready.fields["MAINPID"] == str(server.process.pid) == str(ready.sender)
            assert ready.fields["STATUS"].startswith("serving 1 service(s) on port(s) ")
            # READY=1 means the port accepts: a probe right now is answered.
            url = server.wait_for(r"serving Test/Echo on (https://\S+)", stream="stderr")[1]
            assert ready_probe(cli_pki, url).status_code in (200, 503)
            server.send_signal(signal.SIGHUP)
            reloading = systemd.receive()
            assert reloading.fields["RELOADING"] == "1"
            assert int(reloading.fields["MONOTONIC_USEC"]) <= time.monotonic_ns() // 1000
            assert systemd.receive().fields["READY"] == "1"  # the reload is done
            server.send_signal(signal.SIGTERM)
            stopping = systemd.receive()
            assert stopping.fields["STOPPING"] == "1"
            assert stopping.sender == server.process.pid
            assert server.wait_exit() == 0
        assert "Traceback" not in server.stderr


def test_with_workers_only_the_supervisor_notifies(cli_pki: CliPKI, tmp_path: Path) -> None:
    config = write_site(tmp_path / "site", cli_pki, service_section("handlers/echo.py"))
    address = str(tmp_path / "notify.sock")
    with notify_socket(address) as systemd:
        args = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
        args += ["--processes", "2"]
        env = child_env(NOTIFY_SOCKET=address)
        with running_server(args, output_dir=tmp_path / "logs", env=env) as server:
            ready = systemd.receive()
            assert ready.fields["READY"] == "1"
            assert ready.sender == server.process.pid
            assert ready.fields["STATUS"] == "2 worker processes"
            server.wait_for(r"serving Test/Echo on .*\n.*serving Test/Echo", stream="stderr")
            # systemd (NotifyAccess=main) would log a complaint for each worker's message.
            assert systemd.nothing_more(1.0)
            server.send_signal(signal.SIGTERM)
            stopping = systemd.receive()
            assert (stopping.fields["STOPPING"], stopping.sender) == ("1", server.process.pid)
            assert server.wait_exit() == 0
            assert systemd.nothing_more(0.5)


def test_without_notify_socket_nothing_is_sent(cli_pki: CliPKI, tmp_path: Path) -> None:
    # A unit without Type=notify, or a shell: the same command serves, and stops cleanly.
    config = write_site(tmp_path / "site", cli_pki, service_section("handlers/echo.py"))
    args = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
    env = {k: v for k, v in child_env().items() if k != "NOTIFY_SOCKET"}
    with running_server(args, output_dir=tmp_path / "logs", env=env) as server:
        url = server.wait_for(r"serving Test/Echo on (https://\S+)", stream="stderr")[1]
        deadline = time.monotonic() + 10
        while (answer := ready_probe(cli_pki, url)).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)
        assert json.loads(answer.text) == {"status": "ok"}
        server.send_signal(signal.SIGTERM)
        assert server.wait_exit() == 0


# ------------------------------------------------------------------ --log-format


def test_serve_log_format_json_writes_one_object_per_line(cli_pki: CliPKI, tmp_path: Path) -> None:
    config = write_site(tmp_path / "site", cli_pki, service_section("handlers/echo.py"))
    args = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
    with running_server([*args, "--log-format", "json"], output_dir=tmp_path / "logs") as server:
        url = server.wait_for(
            r'"message": "serving Test/Echo on (https://[^ "]+)', stream="stderr"
        )[1]
        with make_session(cli_pki.ca_dir, cli_pki.proxy, cli_pki.proxy) as session:
            answer = session.post(
                url,
                data={"method": "echo", "args": '["x"]'},
                headers={"X-Request-ID": "deploy-check-1"},
                timeout=10,
            )
        assert answer.headers["X-Request-ID"] == "deploy-check-1"
        server.wait_for(r'"request_id": "deploy-check-1"', stream="stderr")
        server.send_signal(signal.SIGTERM)
        assert server.wait_exit() == 0
    lines = [json.loads(line) for line in server.stderr.splitlines()]  # every line is JSON
    assert all(line["pid"] == server.process.pid for line in lines)
    [access] = [line for line in lines if line.get("request_id") == "deploy-check-1"]
    assert access["logger"] == "tornadoservice.access"
    assert (access["service"], access["method"], access["status"]) == ("Test/Echo", "echo", 200)
    assert (access["user"], access["group"]) == ("ciuser", "dirac_user")
    assert access["time"].endswith("+00:00")


def test_a_bad_log_format_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("serve", "--log-format", "xml", "--check")
    assert_error(result, 2, "--log-format", lines=2)


def test_initialize_at_start_failing_in_workers_stops_serve_at_once(
    cli_pki: CliPKI, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    config = write_site(site, cli_pki, service_section("handlers/echo.py"))
    (site / "handlers" / "echo.py").write_text(FAILING_INIT)
    text = config.read_text().replace(
        "Systems\n{\n", "Systems\n{\n  Tornado\n  {\n    InitializeAtStart = yes\n  }\n", 1
    )
    config.write_text(text)
    args = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
    started = time.monotonic()
    result = run_cli(*args, "--processes", "2", timeout=60)
    # Each worker says why once; no restart loop (5 restarts) and no traceback.
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 20
    assert "Traceback" not in result.stderr
    reasons = [line for line in result.stderr.splitlines() if "cannot reach the database" in line]
    assert 1 <= len(reasons) <= 2, result.stderr
    assert "cannot start: Test/Echo: initializeHandler returned S_ERROR" in reasons[0]
    assert "exited unexpectedly" not in result.stderr


def test_initialize_at_start_failing_stops_a_single_process_serve(
    cli_pki: CliPKI, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    config = write_site(site, cli_pki, service_section("handlers/echo.py"))
    (site / "handlers" / "echo.py").write_text(FAILING_INIT)
    config.write_text(
        config.read_text().replace(
            "Systems\n{\n", "Systems\n{\n  Tornado\n  {\n    InitializeAtStart = yes\n  }\n", 1
        )
    )
    result = run_cli("serve", "--config", config, "--port", "0", "--host", "127.0.0.1")
    assert_error(
        result, 1, "Test/Echo: initializeHandler returned S_ERROR: cannot reach the database"
    )
