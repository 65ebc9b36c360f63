"""``tornadoservice serve`` with no configuration: the demo, its state directory, its shutdown."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import signal
import socket
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.cli.conftest import DemoRun
from tests.cli.support import (
    CURL,
    DEMO_READY,
    TORNADOSERVICE,
    assert_error,
    child_env,
    run_argv,
    run_cli,
    running_server,
)
from tests.support.system import require_program


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_run_makes_the_demo_state(demo: DemoRun) -> None:
    pki = demo.state_dir / "pki"
    for secret in (
        pki / "ca" / "ca.key.pem",
        pki / "hosts" / "localhost" / "hostkey.pem",
        pki / "users" / "demo" / "userkey.pem",
        demo.proxy,
    ):
        assert _mode(secret) == 0o600, secret
    assert (pki / "ca" / "ca.cert.pem").is_file()
    assert list(demo.ca_dir.glob("*.0")), "no hashed CA certificate"
    assert list(demo.ca_dir.glob("*.r0")), "no CRL in the CA directory"
    config = (demo.state_dir / "demo.cfg").read_text()
    assert "HandlerPath = tornadoservice.server.demo:DemoHandler" in config
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/Demo/Greeter", demo.url)
    assert f"state: {demo.state_dir}" in demo.server.stdout


def _printed(demo: DemoRun, program: str, marker: str) -> list[str]:
    """The printed command line of ``program`` holding ``marker``, split as a shell would."""
    [line] = [line for line in demo.server.demo_lines(program) if marker in line]
    argv = shlex.split(line, comments=True)
    assert argv[0] == program
    return argv


@pytest.mark.parametrize(
    ("marker", "value"),
    [
        ("method=whoami", None),
        ("method=add", 3),
    ],
)
def test_printed_curl_lines_work(demo: DemoRun, marker: str, value: object) -> None:
    argv = _printed(demo, "curl", marker)
    assert argv[-1] == demo.url
    result = run_argv(
        [require_program("curl", CURL), "--silent", "--show-error", "--max-time", "20", *argv[1:]]
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["OK"] is True, answer
    if value is None:  # whoami
        assert answer["Value"]["username"] == "demo"
        assert answer["Value"]["group"] == "demo_user"
        assert answer["Value"]["DN"] == "/C=ch/O=tornadoservice/OU=dev/CN=demo"
    else:
        assert answer["Value"] == value


def _run_printed(demo: DemoRun, marker: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the printed line matching ``marker`` (a regular expression) as a user pasting it
    into a shell would."""
    [line] = [line for line in demo.server.demo_lines("") if re.search(marker, line)]
    return run_argv(["bash", "-c", line], env=child_env(), cwd=cwd)


@pytest.mark.parametrize(
    ("method", "exit_code", "output"),
    [
        ("hello", 0, '"Hello, world!"'),
        ("now", 0, None),
        ("adminOnly", 1, ""),
    ],
)
def test_printed_call_lines_work(
    demo: DemoRun, tmp_path: Path, method: str, exit_code: int, output: str | None
) -> None:
    result = _run_printed(demo, rf"/Demo/Greeter {method}(\s|$)", tmp_path)
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    if output is not None:
        assert result.stdout.strip() == output
    else:  # now: the server's UTC time, printed readably (ISO 8601; --json gives DIRAC's form)
        now = dt.datetime.fromisoformat(json.loads(result.stdout))
        assert abs(now - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(minutes=1)


def test_printed_get_file_and_put_file_lines_work(demo: DemoRun, tmp_path: Path) -> None:
    shipped = (demo.state_dir / "data" / "hello.txt").read_bytes()
    for marker in (r"hello\.txt hello-copy", r"hello-copy\.txt my-upload", r"my-upload\.txt my"):
        result = _run_printed(demo, marker, tmp_path)
        assert result.returncode == 0, (marker, result.stderr)
    assert (tmp_path / "hello-copy.txt").read_bytes() == shipped
    assert (demo.state_dir / "data" / "my-upload.txt").read_bytes() == shipped
    assert (tmp_path / "my-upload-back.txt").read_bytes() == shipped
    # The lines can be pasted again: the upload replaces the earlier one.
    assert _run_printed(demo, r"hello-copy\.txt my-upload", tmp_path).returncode == 0


@pytest.mark.parametrize("name", ["hello.txt", "../outside.txt", ".hidden"])
def test_demo_upload_refuses_shipped_and_odd_names(
    demo: DemoRun, tmp_path: Path, name: str
) -> None:
    source = tmp_path / "mine.txt"
    source.write_text("not the demo's\n")
    before = sorted(p.name for p in (demo.state_dir / "data").iterdir())
    result = run_cli("put-file", *demo.credentials(), demo.url, source, name)
    assert result.returncode == 1, result.stderr
    assert "plain file name" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in (demo.state_dir / "data").iterdir()) == before
    assert (demo.state_dir / "data" / "hello.txt").read_text().startswith("Hello from")


def test_printed_program_runs_without_the_venv_on_path(demo: DemoRun) -> None:
    lines = demo.server.demo_lines("")
    program = shlex.split(next(line for line in lines if " call " in line))[0]
    if program == "tornadoservice":  # this run's PATH finds the venv's command
        assert not any("is not on PATH" in line for line in lines)
    else:
        assert Path(program).samefile(TORNADOSERVICE)
        activate = Path(TORNADOSERVICE).with_name("activate")
        assert any(f"'. {activate}' puts it there" in line for line in lines), lines


def test_demo_honours_host_and_names_the_bind_address(demo: DemoRun, tmp_path: Path) -> None:
    args: list[str | Path] = ["serve", "--state-dir", demo.state_dir, "--port", "0"]
    with running_server([*args, "--host", "::1"], output_dir=tmp_path) as server:
        first = server.wait_for(r"serving Demo/Greeter on (https://\S+) \(listening on (\S+)\)")
        url, listening = first[1], first[2]
        assert re.fullmatch(r"https://\[::1\]:\d+/Demo/Greeter", url), url
        assert listening == url.split("/")[2]
        [line] = [line for line in server.demo_lines("") if "Greeter hello '" in line]
        result = run_argv(["bash", "-c", line], env=child_env(), cwd=tmp_path)
        assert (result.returncode, result.stdout.strip()) == (0, '"Hello, world!"'), result.stderr
        # Nothing listens on the IPv4 loopback for this server.
        port = int(listening.rsplit(":", 1)[1])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with running_server([*args, "--host", "0.0.0.0"], output_dir=tmp_path) as server:
        first = server.wait_for(r"serving Demo/Greeter on (https://\S+) \(listening on ([^)]+)\)")
        assert first[1].startswith("https://127.0.0.1:")
        assert first[2].startswith("0.0.0.0:") and "every IPv4 address" in first[2]


def test_demo_on_another_loopback_address_gets_a_host_certificate_naming_it(
    demo: DemoRun, tmp_path: Path
) -> None:
    # 127.0.0.2 is loopback too on Linux, but not in the first host certificate: without a
    # reissued certificate the printed call would fail the TLS host name check.
    args: list[str | Path] = ["serve", "--state-dir", demo.state_dir, "--port", "0"]
    with running_server([*args, "--host", "127.0.0.2"], output_dir=tmp_path) as server:
        server.wait_for(r"serving Demo/Greeter on https://127\.0\.0\.2:\d+/")
        [line] = [line for line in server.demo_lines("") if "Greeter hello '" in line]
        result = run_argv(["bash", "-c", line], env=child_env(), cwd=tmp_path)
        assert (result.returncode, result.stdout.strip()) == (0, '"Hello, world!"'), result.stderr
    # The session's first server (127.0.0.1) still answers with the renewed certificate's CA.
    again = run_cli("call", *demo.credentials(), demo.url, "add", "1", "1")
    assert (again.returncode, again.stdout.strip()) == (0, "2"), again.stderr


def test_second_start_reuses_the_state(demo: DemoRun, tmp_path: Path) -> None:
    kept = [
        demo.state_dir / "pki" / "ca" / "ca.cert.pem",
        demo.state_dir / "pki" / "ca" / "ca.key.pem",
        demo.state_dir / "pki" / "hosts" / "localhost" / "hostcert.pem",
        demo.proxy,
    ]
    before = {path: path.read_bytes() for path in kept}
    args: list[str | Path] = ["serve", "--state-dir", demo.state_dir, "--port", "0"]
    with running_server(args, output_dir=tmp_path) as server:
        server.wait_for(DEMO_READY)
        url = server.demo_url()
        assert url != demo.url
        # The first server's credentials are still good for the second one.
        result = run_cli("call", *demo.credentials(), url, "add", "2", "3")
        assert (result.returncode, result.stdout.strip()) == (0, "5"), result.stderr
    assert {path: path.read_bytes() for path in kept} == before


def test_state_dir_defaults_to_xdg_state_home(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    env = child_env(XDG_STATE_HOME=str(xdg))
    with running_server(["serve", "--port", "0"], output_dir=tmp_path, env=env) as server:
        server.wait_for(DEMO_READY)
        state_dir = xdg / "tornadoservice"
        assert f"state: {state_dir} " in server.stdout
        assert (state_dir / "pki" / "ca" / "ca.cert.pem").is_file()
        assert (state_dir / "user-proxy.pem").is_file()
        assert str(state_dir / "user-proxy.pem") in server.demo_lines("curl")[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_in_flight_requests(
    demo: DemoRun, tmp_path: Path, signum: signal.Signals
) -> None:
    args: list[str | Path] = ["serve", "--state-dir", demo.state_dir, "--port", "0"]
    with running_server(args, output_dir=tmp_path) as server:
        server.wait_for(DEMO_READY)
        url = server.demo_url()
        port = int(url.split(":")[2].split("/")[0])
        results: list[subprocess.CompletedProcess[str]] = []
        caller = threading.Thread(
            target=lambda: results.append(
                run_cli("call", *demo.credentials(), "--json", url, "sleep", "2")
            )
        )
        caller.start()
        try:
            # The demo's sleep method logs when it starts: from this line on, the call is in flight.
            server.wait_for(r"sleeping 2s for", stream="stderr")
            server.send_signal(signum)
            server.wait_for(r"waiting for 1 in-flight request", stream="stderr", timeout=10)
            # No longer accepting, while the sleep call still runs.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
            assert caller.is_alive()
        finally:
            caller.join(60)
        [result] = results
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"OK": True, "Value": 2}
        assert server.wait_exit(15) == 0
        assert "Traceback" not in server.stderr


def test_port_in_use_is_a_one_line_error(demo: DemoRun) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("serve", "--state-dir", demo.state_dir, "--port", str(port))
    assert_error(result, 1, f"port {port} is already in use")
