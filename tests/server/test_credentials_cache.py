"""The credential dict is built once per connection and reused safely (copied, kept current)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI, registry_config
from tornadoservice import S_OK
from tornadoservice.config.registry import Registry
from tornadoservice.config.tree import ConfigTree

Sessions = Callable[[ClientCred | None], requests.Session]


class Mutating(DummyTornadoHandler):
    auth_grab = ["authenticated"]

    def export_grab(self) -> Any:
        creds = self.getRemoteCredentials()
        seen = {"properties": list(creds["properties"]), "group": creds["group"]}
        # A handler scribbling on its credentials must not change the next request's.
        creds["properties"].append("Scribbled")
        creds["group"] = "scribbled"
        return S_OK(seen)


@pytest.fixture
def server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    with live_server(dummy_config(server_pki), {DUMMY: Mutating}) as live:
        yield live


def _call(session: requests.Session, server: LiveServer, method: str, **extra: str) -> Any:
    response = session.post(
        server.url(DUMMY), data={"method": method, "args": "[]", **extra}, timeout=30
    )
    assert response.status_code == 200, response.text
    return json.loads(response.text)["Value"]


def test_changes_a_method_makes_to_its_credentials_do_not_leak_into_the_next_request(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.proxy)
    for _ in range(3):  # one keep-alive connection
        assert _call(session, server, "grab") == {
            "properties": ["NormalUser"],
            "group": "dirac_user",
        }


def test_a_new_registry_applies_to_an_open_connection(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.proxy)
    assert _call(session, server, "whoami")["properties"] == ["NormalUser"]
    tree = copy.deepcopy(registry_config(server_pki))
    tree["Registry"]["Groups"]["dirac_user"]["Properties"] = "NormalUser, Operator"  # type: ignore[index]
    server.server.state.registry = Registry.from_config(ConfigTree.from_dict(tree))
    assert _call(session, server, "whoami")["properties"] == ["NormalUser", "Operator"]


def test_extra_credentials_are_part_of_the_cache_key(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.host)
    as_host = _call(session, server, "whoami", extraCredentials='"hosts"')
    assert as_host["group"] == "hosts"
    forwarded = _call(
        session,
        server,
        "whoami",
        extraCredentials=json.dumps(["/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "dirac_user"]),
    )
    assert forwarded["username"] == "ciuser" and forwarded["group"] == "dirac_user"
    assert _call(session, server, "whoami", extraCredentials='"hosts"')["group"] == "hosts"


def test_seconds_left_is_computed_for_each_request(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    import time

    session = session_for(server_pki.proxy)
    first = _call(session, server, "whoami")["secondsLeft"]
    time.sleep(1.1)
    assert _call(session, server, "whoami")["secondsLeft"] < first
