"""The authentication chain: schemes tried in order, custom ``_authz<NAME>`` schemes, and a
refusal log line that says why each scheme failed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice import S_ERROR, S_OK, TornadoService, authentication
from tornadoservice.authz import AuthenticationError

Sessions = Callable[[ClientCred | None], requests.Session]


class ApiKeyService(TornadoService):
    """A service that also accepts a shared API key, as a custom scheme."""

    DEFAULT_AUTHENTICATION = ["BROKEN", "SSL", "APIKEY"]
    auth_hello = ["authenticated"]

    def _authzBROKEN(self) -> Any:
        return None  # a buggy custom scheme: must count as failed, not crash the request

    def _authzAPIKEY(self) -> dict[str, Any]:
        key = self.request.headers.get("X-Api-Key")
        if key is None:
            raise AuthenticationError("no X-Api-Key header")
        if key != "let-me-in":
            return S_ERROR("unknown API key")  # the DIRAC style of refusal works too
        return S_OK({"username": "robot", "group": "robots", "properties": ["NormalUser"]})

    def export_hello(self) -> dict[str, Any]:
        return S_OK(f"{self.getUserName()}@{self.getUserGroup()}")

    auth_open = ["all"]

    @authentication(["VISITOR"])
    def export_open(self) -> dict[str, Any]:
        return S_OK(self.getUserName())


@pytest.fixture(scope="module")
def server(server_pki: ServerPKI) -> Iterator[LiveServer]:
    with live_server(dummy_config(server_pki), {DUMMY: ApiKeyService}) as live:
        yield live


def post(session: requests.Session, server: LiveServer, method: str, **headers: str) -> Any:
    return session.post(server.url(DUMMY), data={"method": method}, headers=headers, timeout=30)


def test_a_custom_scheme_authenticates(server: LiveServer, session_for: Sessions) -> None:
    response = post(session_for(None), server, "hello", **{"X-Api-Key": "let-me-in"})
    assert response.text == '{"OK": true, "Value": "robot@robots"}'


def test_the_first_scheme_that_succeeds_wins(
    server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = post(session_for(server_pki.proxy), server, "hello", **{"X-Api-Key": "let-me-in"})
    assert response.text == '{"OK": true, "Value": "ciuser@dirac_user"}'


def test_a_refusal_logs_why_each_scheme_failed(
    server: LiveServer, session_for: Sessions, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tornadoservice.request")
    for key, reason in (("wrong", "APIKEY: unknown API key"), (None, "APIKEY: no X-Api-Key")):
        caplog.clear()
        headers = {"X-Api-Key": key} if key else {}
        response = post(session_for(None), server, "hello", **headers)
        assert response.status_code == 401
        line = next(
            r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()
        )
        assert "SSL: no client certificate" in line
        assert "BROKEN: returned NoneType, not credentials" in line
        assert reason in line


def test_a_per_method_scheme_overrides_the_default(
    server: LiveServer, session_for: Sessions
) -> None:
    assert post(session_for(None), server, "open").text == '{"OK": true, "Value": "anonymous"}'
