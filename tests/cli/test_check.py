"""``tornadoservice check --config FILE...`` as a real process: each method's effective rule and
``types_``, warnings for methods that admit nobody or declare no types, exit 1 when a service
cannot load."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import CliPKI
from tests.cli.support import assert_error, run_cli
from tests.cli.test_serve_config import config_text

HANDLER = """\
from tornadoservice import S_OK, TornadoService


class ShopHandler(TornadoService):
    auth_buy = ["NormalUser"]
    types_buy = [str, (int, float), None]

    def export_buy(self, item, amount, note=None):
        return S_OK()

    types_browse = []

    def export_browse(self):
        return S_OK([])

    def export_forgotten(self, value):
        return S_OK(value)

    auth_audit = ["Auditor"]
    types_audit = [int]

    def export_audit(self, since):
        return S_OK()
"""

SERVICES = """\
  Shop
  {
    Services
    {
      Front
      {
        Protocol = https
        HandlerPath = shop.py:ShopHandler
        Authorization
        {
          browse = all
        }
      }
    }
  }"""


def write(tmp_path: Path, pki: CliPKI, services: str = SERVICES, handler: str = HANDLER) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "shop.py").write_text(handler)
    config = tmp_path / "dirac.cfg"
    config.write_text(config_text(pki, services))
    return config


def test_check_prints_rules_types_and_warnings(cli_pki: CliPKI, tmp_path: Path) -> None:
    result = run_cli("check", "--config", write(tmp_path, cli_pki))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Shop/Front (port 8443, ")
    assert "ShopHandler" in lines[0]
    out = result.stdout
    assert "  buy  auth=[NormalUser]  types=item: str, amount: (int, float)\n" in out
    assert "  browse  auth=[all]  types=types_ checks nothing\n" in out
    # No rule in code or configuration: our safe default refuses everybody, and says so.
    assert "  forgotten  auth=[] (nobody)  types=no types_\n" in out
    assert "    warning: admits nobody: the rule is empty (add auth_forgotten" in out
    assert "    warning: declares no types_forgotten: arguments are not checked" in out
    # A property no group or host of the registry has admits nobody either.
    assert "    warning: admits nobody: no group or host of the registry has any of its" in out
    assert "  ping  auth=[all]  types=no types_\n" in out  # built-ins: no warning
    assert "declares no types_ping" not in out
    assert result.stderr.strip() == "3 warning(s)"


def test_check_exits_non_zero_when_a_service_cannot_load(cli_pki: CliPKI, tmp_path: Path) -> None:
    broken = HANDLER.replace("types_audit = [int]", 'types_audit = ["int"]')
    result = run_cli("check", "--config", write(tmp_path, cli_pki, handler=broken))
    assert_error(result, 1, "cannot load", "ShopHandler.export_audit", "types_audit[0]")
    assert result.stdout == ""
    missing = SERVICES.replace("shop.py:ShopHandler", "nowhere/shop.py:ShopHandler")
    result = run_cli("check", "--config", write(tmp_path / "x", cli_pki, services=missing))
    assert_error(result, 1, "Shop/Front", "does not exist")


def test_check_needs_a_configuration(cli_pki: CliPKI, tmp_path: Path) -> None:
    result = run_cli("check")
    assert result.returncode == 2
    assert "--config" in result.stderr
    result = run_cli("check", "--config", tmp_path / "absent.cfg")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
