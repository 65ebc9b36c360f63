"""A real nginx ``stream`` block (TLS passthrough, from docs/deployment.md) in front of two real
``tornadoservice serve`` processes on loopback: a grid proxy reaches the services with its
identity intact, the probes answer through it, and when one backend stops the calls go on
through the other."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.cli.support import ServerProcess, child_env, free_port, running_server
from tests.interop.test_nginx import wait_for_port
from tests.support.pki import USER_DN, ServerPKI, registry_config
from tests.support.system import missing, require_program
from tornadoservice.client.transport import make_session

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "deployment.md"
DUMMY_FILE = ROOT / "tests" / "support" / "dummy.py"
SERVICE = "Framework/DummyTornado"
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def documented_stream_block() -> str:
    match = re.search(r"```nginx\n(stream \{.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None, f"no nginx stream block in {DOC}"
    return match.group(1)


def stream_config(prefix: Path, listen: int, backends: tuple[int, int]) -> str:
    block = documented_stream_block()
    replacements = {
        "listen 443;": f"listen 127.0.0.1:{listen};",
        "server 10.0.0.11:8443": f"server 127.0.0.1:{backends[0]}",
        "server 10.0.0.12:8443": f"server 127.0.0.1:{backends[1]}",
    }
    for documented, actual in replacements.items():
        # A changed guide must change this test too, so that the guide stays tested.
        assert documented in block, f"{documented!r} is no longer in {DOC.name}"
        block = block.replace(documented, actual)
    return f"""
load_module {STREAM_MODULE};
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
{block}
"""


def site_config(pki: ServerPKI, directory: Path) -> Path:
    tree = registry_config(pki)
    tree["Systems"] = {
        "Framework": {
            "Services": {
                "DummyTornado": {
                    "Protocol": "https",
                    "HandlerPath": f"{DUMMY_FILE}:DummyTornadoHandler",
                }
            }
        }
    }
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


@pytest.fixture
def backends(server_pki: ServerPKI, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    config = site_config(server_pki, tmp_path)
    with (
        running_server(
            ["serve", "--config", config, "--port", str(free_port()), "--host", "127.0.0.1"],
            output_dir=tmp_path / "one",
            env=child_env(),
        ) as first,
        running_server(
            ["serve", "--config", config, "--port", str(free_port()), "--host", "127.0.0.1"],
            output_dir=tmp_path / "two",
            env=child_env(),
        ) as second,
    ):
        for backend in (first, second):
            backend.wait_for(r"serving Framework/DummyTornado on ", stream="stderr")
        yield [first, second]


def backend_port(backend: ServerProcess) -> int:
    match = backend.wait_for(r"serving \S+ on https://[^:]+:(\d+)/", stream="stderr")
    return int(match[1])


@pytest.fixture
def nginx(backends: list[ServerProcess], tmp_path: Path) -> Iterator[int]:
    program = require_program("nginx", "/usr/sbin/nginx")
    if not STREAM_MODULE.is_file():
        missing(
            f"needs nginx's stream module {STREAM_MODULE} (apt-get install libnginx-mod-stream)"
        )
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    ports = (backend_port(backends[0]), backend_port(backends[1]))
    conf.write_text(stream_config(prefix, port, ports))
    error_log = prefix / "error.log"
    process = subprocess.Popen(
        [program, "-c", str(conf), "-p", str(prefix), "-e", str(error_log), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(process, port, error_log)
        yield port
    finally:
        process.terminate()  # SIGTERM to this nginx master only
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


def call_through(pki: ServerPKI, port: int, *methods: str) -> list[requests.Response]:
    """``methods`` over one new TCP connection (nginx balances each connection anew)."""
    with make_session(pki.ca_dir, pki.proxy.cert, pki.proxy.key) as session:
        return [
            session.post(f"https://localhost:{port}/{SERVICE}", data={"method": m}, timeout=30)
            for m in methods
        ]


def test_a_proxy_reaches_both_backends_through_the_passthrough_with_its_identity(
    nginx: int, backends: list[ServerProcess], server_pki: ServerPKI
) -> None:
    seen: set[str] = set()
    for _ in range(8):
        where, who = call_through(server_pki, nginx, "whereAmI", "whoami")
        assert (where.status_code, who.status_code) == (200, 200), who.text
        creds = who.json()["Value"]
        # The backend did the handshake with the client: the proxy chain itself arrived.
        assert creds["DN"] == USER_DN
        assert creds["isProxy"] is True
        assert creds["username"] == "ciuser"
        seen.add(where.json()["Value"]["url"])
    assert len(seen) == 2, seen  # round robin: both backends served


def test_probes_answer_through_the_passthrough_without_a_certificate(
    nginx: int, server_pki: ServerPKI
) -> None:
    with make_session(server_pki.ca_dir) as session:
        deadline = time.monotonic() + 10
        while (
            ready := session.get(f"https://localhost:{nginx}/health/ready", timeout=10)
        ).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.05)
        assert ready.json() == {"status": "ok"}
        live = session.get(f"https://localhost:{nginx}/health/live", timeout=10)
        assert live.json() == {"status": "ok"}


def test_when_one_backend_stops_the_calls_go_on_through_the_other(
    nginx: int, backends: list[ServerProcess], server_pki: ServerPKI
) -> None:
    first, second = backends
    survivor = f"{backend_port(second)}/{SERVICE}"
    first.send_signal(signal.SIGTERM)
    assert first.wait_exit() == 0
    for _ in range(6):
        (answer,) = call_through(server_pki, nginx, "whereAmI")
        assert answer.status_code == 200, answer.text
        assert answer.json()["Value"]["url"].endswith(survivor)
    assert second.process.poll() is None
