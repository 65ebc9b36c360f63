"""Fixtures for the CLI tests: a running demo server, and a PKI made with the CLI's own commands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.support import DEMO_READY, ServerProcess, run_cli, running_server

USER_DN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"


@dataclass(frozen=True)
class DemoRun:
    """``tornadoservice serve --state-dir STATE --port 0``, started on an empty state directory."""

    server: ServerProcess
    state_dir: Path
    url: str

    @property
    def proxy(self) -> Path:
        return self.state_dir / "user-proxy.pem"

    @property
    def ca_dir(self) -> Path:
        return self.state_dir / "pki" / "certificates"

    def credentials(self) -> list[str]:
        return ["--proxy", str(self.proxy), "--ca-dir", str(self.ca_dir)]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    base = tmp_path_factory.mktemp("demo")
    state_dir = base / "state"
    assert not state_dir.exists()
    args: list[str | Path] = ["serve", "--state-dir", state_dir, "--port", "0"]
    with running_server(args, output_dir=base / "logs") as server:
        server.wait_for(DEMO_READY)
        yield DemoRun(server, state_dir, server.demo_url())


@dataclass(frozen=True)
class CliPKI:
    """Made by ``tornadoservice pki init/host/user`` and ``tornadoservice proxy-init``."""

    directory: Path
    ca_dir: Path
    ca_cert: Path
    ca_key: Path
    host_cert: Path
    host_key: Path
    user_cert: Path
    user_key: Path
    proxy: Path
    limited_proxy: Path

    def credentials(self) -> list[str]:
        return ["--proxy", str(self.proxy), "--ca-dir", str(self.ca_dir)]


def _ok(*args: str | Path) -> str:
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="session")
def cli_pki(tmp_path_factory: pytest.TempPathFactory) -> CliPKI:
    base = tmp_path_factory.mktemp("cli-pki")
    pki = base / "pki"
    _ok("pki", "init", pki)
    _ok("pki", "host", pki, "localhost", "--ip", "127.0.0.1")
    _ok("pki", "user", pki, USER_DN)
    user_cert = pki / "users" / "ciuser" / "usercert.pem"
    user_key = pki / "users" / "ciuser" / "userkey.pem"
    proxy, limited = base / "proxy.pem", base / "limited-proxy.pem"
    common: list[str | Path] = ["--cert", user_cert, "--key", user_key, "--group", "dirac_user"]
    _ok("proxy-init", *common, "--valid", "12:00", "--out", proxy)
    _ok("proxy-init", *common, "--limited", "--out", limited)
    return CliPKI(
        directory=pki,
        ca_dir=pki / "certificates",
        ca_cert=pki / "ca" / "ca.cert.pem",
        ca_key=pki / "ca" / "ca.key.pem",
        host_cert=pki / "hosts" / "localhost" / "hostcert.pem",
        host_key=pki / "hosts" / "localhost" / "hostkey.pem",
        user_cert=user_cert,
        user_key=user_key,
        proxy=proxy,
        limited_proxy=limited,
    )
