"""Services found from HandlerPath in a .cfg file, and every way that can go wrong."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.live_server import live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice.config.tree import ConfigTree
from tornadoservice.server.app import services_from_config
from tornadoservice.server.service import ServiceDefinitionError

Sessions = Callable[[ClientCred | None], requests.Session]
HANDLERS = Path(__file__).parent / "handlers"


def write_config(tmp_path: Path, pki: ServerPKI, services: str, extra: str = "") -> Path:
    text = f"""
    DIRAC
    {{
      Security
      {{
        CertFile = {pki.host_cert}
        KeyFile = {pki.host_key}
        CALocation = {pki.ca_dir}
      }}
    }}
    Systems
    {{
      {textwrap.indent(textwrap.dedent(services), "      ").strip()}
    }}
    Registry
    {{
      DefaultGroup = dirac_user
      Users
      {{
        ciuser
        {{
          DN = /C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser
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
    {extra}
    """
    path = tmp_path / "dirac.cfg"
    path.write_text(textwrap.dedent(text))
    return path


def test_dirac_style_handler_file_served_from_cfg(
    tmp_path: Path, server_pki: ServerPKI, session_for: Sessions
) -> None:
    # HandlerPath relative to the configuration file, as a DIRAC installation would write it.
    handler_dir = tmp_path / "MySystem" / "Service"
    handler_dir.mkdir(parents=True)
    (handler_dir / "DirStyleHandler.py").write_text((HANDLERS / "DirStyleHandler.py").read_text())
    cfg = write_config(
        tmp_path,
        server_pki,
        """
        Framework
        {
          Services
          {
            DirStyle
            {
              Protocol = https
              HandlerPath = MySystem/Service/DirStyleHandler.py
            }
            NotServed
            {
              Protocol = dips
              HandlerPath = does.not.matter
            }
          }
        }
        """,
    )
    config = ConfigTree.load(cfg)
    with live_server(config) as server:
        response = session_for(server_pki.proxy).post(
            server.url("Framework/DirStyle"),
            data={"method": "greet", "args": json.dumps(["ciuser"])},
            timeout=30,
        )
        assert response.text == '{"OK": true, "Value": "from a file: hello ciuser"}'
        assert [spec.name for spec in server.server.specs] == ["Framework/DirStyle"]


@pytest.mark.parametrize(
    ("handler_path", "expected"),
    [
        ("tests.server.handlers.DirStyleHandler", "DirStyleHandler"),
        ("tests.server.handlers.DirStyleHandler:DirStyleHandler", "DirStyleHandler"),
        (str(HANDLERS / "DirStyleHandler.py"), "DirStyleHandler"),
        (f"{HANDLERS / 'DirStyleHandler.py'}:DirStyleHandler", "DirStyleHandler"),
    ],
)
def test_handler_path_forms(
    tmp_path: Path, server_pki: ServerPKI, handler_path: str, expected: str
) -> None:
    cfg = write_config(
        tmp_path,
        server_pki,
        f"""
        Framework
        {{
          Services
          {{
            DirStyle
            {{
              Protocol = https
              HandlerPath = {handler_path}
            }}
          }}
        }}
        """,
    )
    (spec,) = services_from_config(ConfigTree.load(cfg))
    assert spec.handler.__name__ == expected
    assert spec.port == 8443


@pytest.mark.parametrize(
    ("handler_path", "message"),
    [
        ("no.such.module", "cannot import 'no.such.module'"),
        ("missing/Handler.py", "does not exist"),
        ("tests.server.handlers.DirStyleHandler:Nope", "has no class Nope"),
        ("tests.server.handlers.DirStyleHandler:NotAService", "is not a TornadoService"),
        ("tests.server", "has no class DirStyleHandler"),
    ],
)
def test_bad_handler_paths_are_clear_errors(
    tmp_path: Path, server_pki: ServerPKI, handler_path: str, message: str
) -> None:
    cfg = write_config(
        tmp_path,
        server_pki,
        f"""
        Framework
        {{
          Services
          {{
            DirStyle
            {{
              Protocol = https
              HandlerPath = {handler_path}
            }}
          }}
        }}
        """,
    )
    with pytest.raises(ServiceDefinitionError, match="Framework/DirStyle") as info:
        services_from_config(ConfigTree.load(cfg))
    assert message in str(info.value)


def test_missing_handler_path_and_bad_port(tmp_path: Path, server_pki: ServerPKI) -> None:
    cfg = write_config(
        tmp_path,
        server_pki,
        """
        Framework
        {
          Services
          {
            DirStyle
            {
              Protocol = https
            }
          }
        }
        """,
    )
    with pytest.raises(ServiceDefinitionError, match="no HandlerPath"):
        services_from_config(ConfigTree.load(cfg))
    config = ConfigTree.from_dict(
        {
            "Systems": {
                "Tornado": {"Port": "eighty"},
                "A": {"Services": {"B": {"Protocol": "https"}}},
            }
        }
    )
    with pytest.raises(ServiceDefinitionError, match="Port must be a number"):
        services_from_config(config)


def test_services_share_the_tornado_port_unless_they_set_their_own(
    tmp_path: Path, server_pki: ServerPKI, session_for: Sessions
) -> None:
    module = "tests.server.handlers.DirStyleHandler"
    cfg = write_config(
        tmp_path,
        server_pki,
        f"""
        Tornado
        {{
          Port = 0
        }}
        Framework
        {{
          Services
          {{
            One
            {{
              Protocol = https
              HandlerPath = {module}:DirStyleHandler
            }}
            Two
            {{
              Protocol = https
              HandlerPath = {module}:DirStyleHandler
            }}
            Own
            {{
              Protocol = https
              Port = 0
              HandlerPath = {module}:DirStyleHandler
            }}
          }}
        }}
        """,
    )
    specs = services_from_config(ConfigTree.load(cfg))
    assert [(s.name, s.port) for s in specs] == [
        ("Framework/One", 0),
        ("Framework/Two", 0),
        ("Framework/Own", 0),
    ]
    config = ConfigTree.load(cfg)
    config.set_option("/Systems/Framework/Services/Own/Port", "0")
    with live_server(config) as server:
        session = session_for(server_pki.proxy)
        for name in ("One", "Two"):
            reply = session.post(
                server.url(f"Framework/{name}"),
                data={"method": "greet", "args": '["x"]'},
                timeout=30,
            )
            assert reply.status_code == 200, name
