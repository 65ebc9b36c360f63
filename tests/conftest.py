"""Fixtures shared by the server, client and interop tests: a PKI and a running DummyTornado."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI, make_server_pki, registry_config
from tornadoservice.client.transport import make_session
from tornadoservice.config.tree import ConfigTree

DUMMY = "Framework/DummyTornado"


@pytest.fixture(scope="session")
def server_pki(tmp_path_factory: pytest.TempPathFactory) -> ServerPKI:
    return make_server_pki(tmp_path_factory.mktemp("pki"))


def dummy_config(pki: ServerPKI) -> ConfigTree:
    tree = registry_config(pki)
    tree["Systems"] = {
        "Framework": {
            "Services": {
                "DummyTornado": {
                    "Protocol": "https",
                    "Greeting": "hello",
                    "Authorization": {"normalUserOnly": "NormalUser"},
                }
            }
        }
    }
    return ConfigTree.from_dict(tree)


HTTP_IMPLEMENTATIONS = ("tornado", "httptools")


@pytest.fixture(scope="module", params=HTTP_IMPLEMENTATIONS)
def http_implementation(request: pytest.FixtureRequest) -> str:
    """Each server transport in turn (``/Systems/Tornado/HTTPImplementation``)."""
    return str(request.param)


@pytest.fixture(scope="module")
def dummy_server(server_pki: ServerPKI, http_implementation: str) -> Iterator[LiveServer]:
    with live_server(
        dummy_config(server_pki),
        {DUMMY: DummyTornadoHandler},
        http_implementation=http_implementation,
    ) as server:
        yield server


@pytest.fixture
def session_for(server_pki: ServerPKI) -> Iterator[Callable[[ClientCred | None], requests.Session]]:
    """Make HTTPS sessions presenting a credential (or none), trusting the test CA only."""
    sessions: list[requests.Session] = []

    def make(cred: ClientCred | None) -> requests.Session:
        session = make_session(
            server_pki.ca_dir, cred.cert if cred else None, cred.key if cred else None
        )
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()
