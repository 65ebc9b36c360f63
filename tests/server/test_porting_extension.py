"""A DIRAC extension ported by changing its imports, served by ``tornadoservice serve --config``
from a DIRAC-style ``.cfg`` and called over real HTTPS (handlers in ``tests/porting/``).

The server process finds ``Porting/Inventory`` without ``HandlerPath``, as DIRAC does
(``PortExtDIRAC.PortingSystem.Service.TornadoInventoryHandler``, from ``/DIRAC/Extensions``),
``Porting/Catalog`` from DIRAC's ``HandlerPath`` form, and serves the classic (DISET) form of
the Inventory handler as ``Porting/Legacy``. Catalog calls Inventory as the host.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cli.support import child_env, free_port, run_cli, running_server
from tests.support.pki import HOST_DN, USER_DN, ClientCred, ServerPKI

Sessions = Callable[[ClientCred | None], requests.Session]
PACKAGE_ROOT = Path(__file__).parents[1] / "porting"


def dirac_cfg(pki: ServerPKI, port: int) -> str:
    return f"""\
DIRAC
{{
  Extensions = PortExt
  Security
  {{
    CertFile = {pki.host_cert}
    KeyFile = {pki.host_key}
    CALocation = {pki.ca_dir}
    UseServerCertificate = yes
  }}
}}
Porting
{{
  SiteName = Testland
}}
Systems
{{
  Tornado
  {{
    Port = {port}
  }}
  Porting
  {{
    URLs
    {{
      Inventory = https://127.0.0.1:{port}/Porting/Inventory
    }}
    Services
    {{
      Inventory
      {{
        Protocol = https
        MaxItems = 2
        Unit = box
        LogLevel = VERBOSE
        Authorization
        {{
          Default = authenticated
          addItem = NormalUser
          summary = TrustedHost
        }}
      }}
      Catalog
      {{
        Protocol = https
        HandlerPath = PortExtDIRAC/PortingSystem/Service/TornadoCatalogHandler.py
        Authorization
        {{
          Default = authenticated
        }}
      }}
      Legacy
      {{
        Protocol = https
        HandlerPath = PortExtDIRAC/PortingSystem/Service/InventoryHandler.py
        MaxItems = 1
        Authorization
        {{
          Default = authenticated
        }}
      }}
    }}
  }}
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
      VO = dirac
    }}
  }}
  Hosts
  {{
    localhost
    {{
      DN = {HOST_DN}
      Properties = TrustedHost
    }}
  }}
}}
"""


@dataclass(frozen=True)
class Site:
    config: Path
    base: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def site(server_pki: ServerPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("ported-site")
    port = free_port()
    config = base / "dirac.cfg"
    config.write_text(dirac_cfg(server_pki, port))
    # The extension is installed (importable), as a DIRAC extension would be.
    env = child_env(PYTHONPATH=str(PACKAGE_ROOT))
    args: list[str | Path] = ["serve", "--config", config, "--host", "127.0.0.1"]
    with running_server(args, output_dir=base / "logs", env=env, cwd=base) as server:
        for service in ("Inventory", "Catalog", "Legacy"):
            server.wait_for(rf"serving Porting/{service} on https://", stream="stderr")
        yield Site(config, f"https://127.0.0.1:{port}", env)
    assert "Traceback" not in server.stderr, server.stderr


def _call(
    session: requests.Session, site: Site, service: str, method: str, *args: Any
) -> requests.Response:
    return session.post(
        f"{site.base}/Porting/{service}",
        data={"method": method, "args": json.dumps(list(args))},
        timeout=30,
    )


@pytest.fixture
def user(session_for: Sessions, server_pki: ServerPKI) -> requests.Session:
    return session_for(server_pki.proxy)


def test_classmethod_exports_and_options_read_in_initialize_handler(
    site: Site, user: requests.Session
) -> None:
    assert _call(user, site, "Inventory", "addItem", "bolts", 5).json() == {"OK": True, "Value": 5}
    assert _call(user, site, "Inventory", "addItem", "bolts", 2.5).json()["Value"] == 7.5
    item = _call(user, site, "Inventory", "getItem", "bolts").json()
    # Unit via getServiceOption(serviceInfo, ...) in initializeHandler.
    assert item == {"OK": True, "Value": {"name": "bolts", "quantity": 7.5, "unit": "box"}}
    assert _call(user, site, "Inventory", "addItem", "nuts", 1).json()["OK"] is True
    # MaxItems = 2, read with srv_getCSOption in initializeHandler.
    full = _call(user, site, "Inventory", "addItem", "washers", 1).json()
    assert (full["OK"], full["Message"]) == (False, "Inventory full: 2 items")


def test_types_refuse_before_the_method_runs(site: Site, user: requests.Session) -> None:
    response = _call(user, site, "Inventory", "addItem", "screws", "many")
    assert response.status_code == 400
    message = response.json()["Message"]
    assert "parameter 1 (starting with param 0) 'quantity' of addItem" in message
    assert "received str, expected (int, float)" in message
    missing = _call(user, site, "Inventory", "getItem", "screws").json()
    assert (missing["OK"], missing["Message"]) == (False, "No such item: screws")


def test_staticmethod_export_with_tuple_and_none_types(site: Site, user: requests.Session) -> None:
    assert _call(user, site, "Inventory", "describe", 7).json()["Value"] == "int:7:None"
    assert _call(user, site, "Inventory", "describe", "k", [1]).json()["Value"] == "str:k:[1]"
    refused = _call(user, site, "Inventory", "describe", 1.5)
    assert refused.status_code == 400
    assert "expected (str, int)" in refused.json()["Message"]


def test_registry_helpers_and_gconfig_inside_a_request(site: Site, user: requests.Session) -> None:
    value = _call(user, site, "Inventory", "whoAmI").json()["Value"]
    assert value == {
        "user": "ciuser",
        "vo": "dirac",
        "properties": ["NormalUser"],
        "site": "Testland",
    }


def test_authorization_section_rules(
    site: Site, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # summary admits only TrustedHost (the Catalog service calling as the host).
    refused = _call(session_for(server_pki.proxy), site, "Inventory", "summary")
    assert refused.status_code == 403
    # The host certificate, acting as the host (what DIRAC's clients send with it).
    host = (
        session_for(server_pki.host)
        .post(
            f"{site.base}/Porting/Inventory",
            data={"method": "summary", "args": "[]", "extraCredentials": '"hosts"'},
            timeout=30,
        )
        .json()
    )
    assert host["OK"] is True and host["Value"]["caller"] == "localhost"


def test_service_calls_another_service_with_the_host_certificate(
    site: Site, user: requests.Session
) -> None:
    _call(user, site, "Inventory", "addItem", "bolts", 1)
    listing = _call(user, site, "Catalog", "listing", "stock").json()
    assert listing["OK"] is True, listing
    assert listing["Value"]["label"] == "stock"
    assert listing["Value"]["caller"] == "localhost"  # the host, not the user
    assert "bolts" in listing["Value"]["items"]


def test_classic_diset_handler_is_served_with_its_own_state(
    site: Site, user: requests.Session
) -> None:
    assert _call(user, site, "Legacy", "addItem", "gears", 3).json() == {"OK": True, "Value": 3}
    full = _call(user, site, "Legacy", "addItem", "cogs", 1).json()
    assert (full["OK"], full["Message"]) == (False, "Inventory full: 1 items")
    assert _call(user, site, "Legacy", "getItem", "bolts").json()["OK"] is False


def test_check_reports_the_ported_services(site: Site) -> None:
    result = run_cli("check", "--config", site.config, env=site.env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Porting/Inventory (port" in out
    assert "PortExtDIRAC.PortingSystem.Service.TornadoInventoryHandler" in out
    assert "  addItem  auth=[NormalUser]  types=name: str, quantity: (int, float)" in out
    assert "  summary  auth=[TrustedHost]  types=types_ checks nothing" in out
    assert "  describe  auth=[authenticated]  types=key: (str, int)" in out
    assert "Porting/Legacy (port" in out
    assert "PortExtDIRAC.PortingSystem.Service.InventoryHandler.InventoryHandler" in out
    assert "Traceback" not in result.stderr
