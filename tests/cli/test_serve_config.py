"""``tornadoservice serve --config FILE``: a DIRAC-style handler from a file, and startup errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import USER_DN, CliPKI
from tests.cli.support import ServerProcess, assert_error, run_cli, running_server

ECHO_HANDLER = '''\
"""A handler written as for DIRAC: porting it changed only the import line."""

from tornadoservice import S_ERROR, S_OK, TornadoService


class EchoHandler(TornadoService):
    @classmethod
    def initializeHandler(cls, serviceInfo):
        cls.served_at = serviceInfo["URL"]
        return S_OK()

    def initializeRequest(self):
        self.greeting = self.getCSOption("Greeting", "Hello")

    auth_echo = ["authenticated"]

    def export_echo(self, value):
        credDict = self.getRemoteCredentials()
        return S_OK(
            {
                "echo": value,
                "greeting": self.greeting,
                "url": self.served_at,
                "username": credDict["username"],
                "group": credDict["group"],
            }
        )

    auth_divide = ["all"]

    def export_divide(self, a, b):
        if b == 0:
            return S_ERROR("division by zero")
        return S_OK(a / b)
'''

NOT_A_SERVICE = '''\
class PlainHandler:
    """Has the right name, but is not a TornadoService."""
'''


def service_section(handler_path: str, *, protocol: str = "https") -> str:
    return f"""\
  Test
  {{
    Services
    {{
      Echo
      {{
        Protocol = {protocol}
        HandlerPath = {handler_path}
        Greeting = Bonjour
      }}
    }}
  }}"""


def config_text(pki: CliPKI, services: str, *, cert_file: Path | None = None) -> str:
    return f"""\
DIRAC
{{
  Security
  {{
    CertFile = {cert_file or pki.host_cert}
    KeyFile = {pki.host_key}
    CALocation = {pki.ca_dir}
  }}
}}
Systems
{{
{services}
}}
Registry
{{
  DefaultGroup = dirac_user
  Users
  {{
    ciuser
    {{
      DN = {USER_DN}
    }}
  }}
  Groups
  {{
    dirac_user
    {{
      Users = ciuser
      Properties = NormalUser
    }}
  }}
}}
"""


def write_site(
    directory: Path, pki: CliPKI, services: str, *, cert_file: Path | None = None
) -> Path:
    """A site directory: ``site.cfg`` next to ``handlers/`` (echo.py, plain.py)."""
    handlers = directory / "handlers"
    handlers.mkdir(parents=True)
    (handlers / "echo.py").write_text(ECHO_HANDLER)
    (handlers / "plain.py").write_text(NOT_A_SERVICE)
    config = directory / "site.cfg"
    config.write_text(config_text(pki, services, cert_file=cert_file))
    return config


@dataclass(frozen=True)
class ConfigServer:
    server: ServerProcess
    url: str


@pytest.fixture(scope="module")
def echo_server(
    cli_pki: CliPKI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConfigServer]:
    base = tmp_path_factory.mktemp("site")
    # HandlerPath is relative to the configuration file; the server runs from somewhere else.
    config = write_site(base / "site", cli_pki, service_section("handlers/echo.py"))
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    args: list[str | Path] = ["serve", "--config", config, "--port", "0", "--host", "127.0.0.1"]
    with running_server(args, output_dir=base / "logs", cwd=elsewhere) as server:
        match = server.wait_for(r"serving Test/Echo on (https://\S+)", stream="stderr")
        yield ConfigServer(server, match[1])
    assert "Traceback" not in server.stderr


@pytest.mark.parametrize("credential", ["proxy", "certificate"])
def test_serves_a_dirac_style_handler_from_a_file(
    echo_server: ConfigServer, cli_pki: CliPKI, credential: str
) -> None:
    if credential == "proxy":
        presented = ["--proxy", str(cli_pki.proxy)]
    else:
        presented = ["--cert", str(cli_pki.user_cert), "--key", str(cli_pki.user_key)]
    result = run_cli(
        "call", *presented, "--ca-dir", cli_pki.ca_dir, echo_server.url, "echo", '{"a": [1, 2]}'
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "echo": {"a": [1, 2]},
        "greeting": "Bonjour",
        "url": echo_server.url,
        "username": "ciuser",
        "group": "dirac_user",
    }


def test_config_service_errors_and_values(echo_server: ConfigServer, cli_pki: CliPKI) -> None:
    ok = run_cli("call", *cli_pki.credentials(), echo_server.url, "divide", "7", "2")
    assert (ok.returncode, ok.stdout.strip()) == (0, "3.5"), ok.stderr
    refused = run_cli("call", *cli_pki.credentials(), echo_server.url, "divide", "1", "0")
    assert_error(refused, 1, "S_ERROR", "division by zero")
    assert refused.stdout == ""


# ------------------------------------------------------------------ startup errors


def test_missing_cert_file(cli_pki: CliPKI, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-hostcert.pem"
    config = write_site(tmp_path, cli_pki, service_section("handlers/echo.py"), cert_file=missing)
    result = run_cli("serve", "--config", config, "--port", "0", "--host", "127.0.0.1")
    assert_error(result, 1, str(missing))


@pytest.mark.parametrize(
    ("handler_path", "fragments"),
    [
        ("no_such_package_xyz.handlers", ["Test/Echo", "cannot import", "no_such_package_xyz"]),
        ("handlers/missing.py", ["Test/Echo", "handlers/missing.py", "does not exist"]),
        ("handlers/plain.py:PlainHandler", ["Test/Echo", "PlainHandler", "not a TornadoService"]),
        ("handlers/echo.py:NoSuchHandler", ["Test/Echo", "no class NoSuchHandler"]),
    ],
    ids=["no-module", "no-file", "not-a-service", "no-class"],
)
def test_bad_handler_path(
    cli_pki: CliPKI, tmp_path: Path, handler_path: str, fragments: list[str]
) -> None:
    config = write_site(tmp_path, cli_pki, service_section(handler_path))
    result = run_cli("serve", "--config", config, "--port", "0", "--host", "127.0.0.1")
    assert_error(result, 1, *fragments)


def test_malformed_config_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.cfg"
    config.write_text("Systems\n{\n  Tornado\n  {\n    Port = 8443\n  }\n}\n}\n")
    result = run_cli("serve", "--config", config, "--port", "0")
    assert_error(result, 1, f"{config}:8:")


def test_missing_config_file(tmp_path: Path) -> None:
    config = tmp_path / "absent.cfg"
    result = run_cli("serve", "--config", config, "--port", "0")
    assert_error(result, 1, str(config), "no such file")


def test_config_without_https_service(cli_pki: CliPKI, tmp_path: Path) -> None:
    config = write_site(tmp_path, cli_pki, service_section("handlers/echo.py", protocol="dips"))
    result = run_cli("serve", "--config", config, "--port", "0", "--host", "127.0.0.1")
    assert_error(result, 1, "no service with Protocol = https")
