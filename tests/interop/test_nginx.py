"""A real nginx on loopback terminates TLS in front of our server and forwards the client's
certificate in headers, with the configuration that docs/deployment-nginx.md ships."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import USER_DN, ClientCred, ServerPKI
from tests.support.system import require_program
from tornadoservice.identity.forwarded import CERT_HEADER, VERIFY_HEADER

DOC = Path(__file__).resolve().parents[2] / "docs" / "deployment-nginx.md"
START_TIMEOUT = 15.0

Sessions = Callable[[ClientCred | None], requests.Session]


def documented_server_block() -> str:
    """The first ```nginx block of the deployment guide (the upstream and server blocks)."""
    match = re.search(r"```nginx\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert match is not None, f"no nginx block in {DOC}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bundle(ca_dir: Path, pattern: str, target: Path) -> Path:
    # What the guide's `cat certificates/*.0 > bundle` does.
    target.write_text("".join(p.read_text() for p in sorted(ca_dir.glob(pattern))))
    return target


@dataclass
class Nginx:
    port: int
    error_log: Path

    def url(self, service: str) -> str:
        return f"https://127.0.0.1:{self.port}/{service}"


def nginx_config(prefix: Path, pki: ServerPKI, listen: int, upstream: int) -> str:
    block = documented_server_block()
    replacements = {
        "listen 443 ssl;": f"listen 127.0.0.1:{listen} ssl;",
        "server 127.0.0.1:8443;": f"server 127.0.0.1:{upstream};",
        "/etc/grid-security/hostcert.pem": str(pki.host_cert),
        "/etc/grid-security/hostkey.pem": str(pki.host_key),
        "/etc/nginx/grid-ca-bundle.pem": str(bundle(pki.ca_dir, "*.0", prefix / "ca.pem")),
        "/etc/nginx/grid-crl-bundle.pem": str(bundle(pki.ca_dir, "*.r0", prefix / "crl.pem")),
        "proxy_ssl_name                dirac.example.org;": "proxy_ssl_name localhost;",
    }
    for documented, actual in replacements.items():
        # A changed guide must change this test too, so that the guide stays tested.
        assert documented in block, f"{documented!r} is no longer in {DOC.name}"
        block = block.replace(documented, actual)
    return f"""
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{block}
}}
"""


def wait_for_port(process: subprocess.Popen[bytes], port: int, error_log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = error_log.read_text() if error_log.exists() else ""
            raise AssertionError(f"nginx exited with {process.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port} within {START_TIMEOUT}s")


@pytest.fixture(scope="module")
def backend(server_pki: ServerPKI) -> Iterator[LiveServer]:
    """Our server, trusting nginx's address (loopback) to forward client certificates."""
    config = dummy_config(server_pki)
    config.set_option("/Systems/Tornado/TrustedProxies", "127.0.0.1")
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        yield server


@pytest.fixture(scope="module")
def nginx(
    backend: LiveServer, server_pki: ServerPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    nginx_program = require_program("nginx", "/usr/sbin/nginx")  # /usr/sbin may be off PATH
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, server_pki, port, backend.port))
    error_log = prefix / "error.log"
    process = subprocess.Popen(
        [
            nginx_program,
            "-c",
            str(conf),
            "-p",
            str(prefix),
            "-e",
            str(error_log),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(process, port, error_log)
        yield Nginx(port, error_log)
    finally:
        process.terminate()  # SIGTERM to this nginx master only: fast shutdown of its workers
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


def whoami(session: requests.Session, url: str, **headers: str) -> requests.Response:
    return session.post(url, data={"method": "whoami"}, headers=headers, timeout=30)


def test_a_user_certificate_reaches_the_service_through_nginx(
    nginx: Nginx, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.user)
    for _ in range(3):  # over one client connection and nginx's kept-alive upstream connection
        response = whoami(session, nginx.url(DUMMY))
        assert response.status_code == 200, response.text
        creds = response.json()["Value"]
        assert creds["DN"] == USER_DN
        assert creds["username"] == "ciuser"
        assert creds["group"] == "dirac_user"
        assert creds["isProxy"] is False


def test_rpc_through_nginx(nginx: Nginx, session_for: Sessions, server_pki: ServerPKI) -> None:
    response = session_for(server_pki.user).post(
        nginx.url(DUMMY), data={"method": "add", "args": "[2, 3]"}, timeout=30
    )
    assert response.text == '{"OK": true, "Value": 5}'


def test_a_client_cannot_forge_the_headers_through_nginx(
    nginx: Nginx, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # nginx replaces the client's X-SSL-CERT with its own (empty) value: no certificate -> 401.
    forged = {
        CERT_HEADER: quote(server_pki.user.cert.read_text(), safe=""),
        VERIFY_HEADER: "SUCCESS",
        "X-Ssl-Client-Verify": "SUCCESS",
    }
    response = whoami(session_for(None), nginx.url(DUMMY), **forged)
    assert response.status_code == 401
    assert response.json()["Errno"] == 13


def test_a_client_with_another_certificate_cannot_forge_ciuser(
    nginx: Nginx, session_for: Sessions, server_pki: ServerPKI
) -> None:
    forged = {CERT_HEADER: quote(server_pki.user.cert.read_text(), safe="")}
    session = session_for(server_pki.host)
    response = session.post(
        nginx.url(DUMMY),
        data={"method": "whoami", "extraCredentials": '"hosts"'},
        headers=forged,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["Value"]["username"] == "localhost"


def test_nginx_refuses_grid_proxies(
    nginx: Nginx, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # The documented limit: nginx cannot verify RFC 3820 proxies (use TLS passthrough).
    response = whoami(session_for(server_pki.proxy), nginx.url(DUMMY))
    assert response.status_code == 400
    assert "proxy certificates not allowed" in nginx.error_log.read_text()
