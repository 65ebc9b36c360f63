"""A configuration reload (SIGHUP) refreshes the registry and the rules; a bad one changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.conftest import DUMMY
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import STRANGER_DN, ClientCred, ServerPKI, registry_config
from tornadoservice.client.transport import make_session
from tornadoservice.config.tree import ConfigTree


def write(path: Path, tree: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(tree))


def base_tree(pki: ServerPKI) -> dict[str, Any]:
    tree = registry_config(pki)
    tree["Systems"] = {"Framework": {"Services": {"DummyTornado": {"Protocol": "https"}}}}
    return tree


def call(pki: ServerPKI, server: LiveServer, cred: ClientCred, method: str) -> requests.Response:
    with make_session(pki.ca_dir, cred.cert, cred.key) as session:
        return session.post(server.url(DUMMY), data={"method": method}, timeout=30)


def reload(server: LiveServer) -> bool:
    async def run() -> bool:
        return server.server.reload_config()

    return asyncio.run_coroutine_threadsafe(run(), server.loop).result(30)


def test_reload_refreshes_the_registry_and_the_rules(
    server_pki: ServerPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "dirac.yaml"
    tree = base_tree(server_pki)
    write(path, tree)
    with live_server(
        ConfigTree.load(path), {DUMMY: DummyTornadoHandler}, config_files=[path]
    ) as server:
        assert call(server_pki, server, server_pki.stranger_proxy, "whoami").status_code == 403
        assert call(server_pki, server, server_pki.proxy, "true").status_code == 200
        # The stranger joins dirac_user, and 'true' is closed to everyone by configuration.
        tree["Registry"]["Users"]["stranger"] = {"DN": STRANGER_DN}
        tree["Registry"]["Groups"]["dirac_user"]["Users"] = "ciuser, stranger"
        tree["Systems"]["Framework"]["Services"]["DummyTornado"]["Authorization"] = {
            "true": "nobody"
        }
        write(path, tree)
        assert reload(server) is True
        whoami = call(server_pki, server, server_pki.stranger_proxy, "whoami")
        assert whoami.status_code == 200
        assert '"username": "stranger"' in whoami.text
        assert call(server_pki, server, server_pki.proxy, "true").status_code == 403
        # A broken file is refused as a whole: the running configuration stays.
        path.write_text("Registry: [unclosed\n")
        assert reload(server) is False
        assert call(server_pki, server, server_pki.stranger_proxy, "whoami").status_code == 200
    assert any("keeping the previous one" in r.getMessage() for r in caplog.records)


def test_reload_without_files_changes_nothing(server_pki: ServerPKI) -> None:
    with live_server(
        ConfigTree.from_dict(base_tree(server_pki)), {DUMMY: DummyTornadoHandler}
    ) as server:
        assert reload(server) is False
