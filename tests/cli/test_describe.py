"""``tornadoservice describe``: a running service's methods, rules, types_ and docstrings, for
callers with ServiceAdministrator only (real ``serve`` process, real TLS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import CliPKI
from tests.cli.support import assert_error, run_cli, running_server
from tests.cli.test_serve_config import ECHO_HANDLER, config_text, service_section

DOCUMENTED = ECHO_HANDLER.replace(
    "    def export_divide(self, a, b):\n",
    "    types_divide = [(int, float), (int, float)]\n\n"
    "    def export_divide(self, a, b):\n"
    '        """Divide a by b.\n\n        S_ERROR when b is 0."""\n',
)


def serve_site(base: Path, pki: CliPKI, *, admin: bool, extra: str = "") -> Iterator[str]:
    site = base / "site"
    (site / "handlers").mkdir(parents=True)
    (site / "handlers" / "echo.py").write_text(DOCUMENTED)
    text = config_text(pki, service_section("handlers/echo.py"))
    if admin:
        text = text.replace(
            "Properties = NormalUser", "Properties = NormalUser, ServiceAdministrator"
        )
    text = text.replace("        Greeting = Bonjour\n", "        Greeting = Bonjour\n" + extra)
    (site / "site.cfg").write_text(text)
    args = ["serve", "--config", site / "site.cfg", "--port", "0", "--host", "127.0.0.1"]
    with running_server(args, output_dir=base / "logs") as server:
        yield server.wait_for(r"serving Test/Echo on (https://\S+)", stream="stderr")[1]


@pytest.fixture(scope="module")
def admin_url(cli_pki: CliPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_site(tmp_path_factory.mktemp("admin"), cli_pki, admin=True)


def test_describe_lists_methods_rules_types_and_docstrings(admin_url: str, cli_pki: CliPKI) -> None:
    result = run_cli("describe", *cli_pki.credentials(), admin_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Test/Echo ({admin_url})"
    divide = next(line for line in lines if line.startswith("  divide  "))
    assert "auth=[all]" in divide
    assert "args=2" in divide
    assert "types=a: (int, float), b: (int, float)" in divide
    doc = lines[lines.index(divide) + 1 :][:3]
    assert doc == ["      Divide a by b.", "      ", "      S_ERROR when b is 0."]
    echo = next(line for line in lines if line.startswith("  echo  "))
    assert "auth=[authenticated]" in echo and "types=no types_" in echo
    described = next(line for line in lines if line.startswith("  describeService  "))
    assert "auth=[ServiceAdministrator]" in described


def test_describe_json(admin_url: str, cli_pki: CliPKI) -> None:
    result = run_cli("describe", "--json", *cli_pki.credentials(), admin_url)
    assert result.returncode == 0, result.stderr
    value = json.loads(result.stdout)
    assert value["service"] == "Test/Echo"
    assert value["methods"]["divide"]["arguments"] == {
        "min": 2,
        "max": 2,
        "types": {"a": "(int, float)", "b": "(int, float)"},
        "declares types_": True,
    }
    assert value["methods"]["divide"]["authentication"] == ["SSL", "JWT"]


def test_describe_is_refused_without_the_property(cli_pki: CliPKI, tmp_path: Path) -> None:
    for url in serve_site(tmp_path, cli_pki, admin=False):
        result = run_cli("describe", *cli_pki.credentials(), url)
        assert_error(result, 1, "S_ERROR", "Permission denied", "No access")
        assert "divide" not in result.stdout


def test_a_site_can_change_who_may_describe(cli_pki: CliPKI, tmp_path: Path) -> None:
    # DIRAC's way for any method: the service's Authorization section.
    extra = "        Authorization\n        {\n          describeService = NormalUser\n        }\n"
    for url in serve_site(tmp_path, cli_pki, admin=False, extra=extra):
        result = run_cli("describe", *cli_pki.credentials(), url)
        assert result.returncode == 0, result.stderr
        assert "auth=[NormalUser]" in result.stdout
