"""The plugin's fixtures in our own run: identities, custom registry and configuration, and the
refusals a service author relies on (each would fail if the refusal stopped happening)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tornadoservice import S_OK, TornadoService
from tornadoservice.testing import LiveServer, TestPKI, running_server

Factory = Callable[..., LiveServer]


class EchoHandler(TornadoService):
    auth_who = ["authenticated"]

    def export_who(self) -> dict[str, Any]:
        creds = self.getRemoteCredentials()
        return S_OK([creds.get("username"), creds.get("group")])

    auth_anyone = ["all"]

    def export_anyone(self) -> dict[str, Any]:
        return S_OK(self.getRemoteCredentials().get("username"))

    auth_greeting = ["authenticated"]

    def export_greeting(self) -> dict[str, Any]:
        return S_OK(self.getCSOption("Greeting", "none"))

    auth_admin = ["ServiceAdministrator"]

    def export_admin(self) -> dict[str, Any]:
        return S_OK("admin")


SERVICE = "Test/Echo"


@pytest.fixture
def echo(tornadoservice_server: Factory) -> LiveServer:
    return tornadoservice_server({SERVICE: EchoHandler})


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("user", ["alice", "test_user"]),
        ("second_user", ["bob", "test_user"]),
        ("admin", ["alice", "test_admin"]),
        ("host", ["localhost", "hosts"]),
    ],
)
def test_each_identity_is_who_it_says(
    echo: LiveServer, tornadoservice_pki: TestPKI, who: str, expected: list[str]
) -> None:
    result = echo.client(SERVICE, getattr(tornadoservice_pki, who)).who()
    assert result == {"OK": True, "Value": expected, "rpcStub": result["rpcStub"]}


def test_a_token_identity(echo: LiveServer, tornadoservice_pki: TestPKI) -> None:
    result = echo.client(SERVICE, tornadoservice_pki.token("bob")).who()
    assert result["OK"], result
    assert result["Value"] == ["bob", "test_user"]


def _refused(result: dict[str, Any], caplog: pytest.LogCaptureFixture, status: int) -> None:
    """The call failed with EACCES, and the server logged it as ``status``."""
    assert not result["OK"] and result["Errno"] == 13, result
    assert any(record.getMessage().startswith(f"{status} ") for record in caplog.records)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [({"lifetime": -3600}, "expired"), ({"audience": "elsewhere"}, "audience")],
)
def test_a_bad_token_is_refused(
    echo: LiveServer,
    tornadoservice_pki: TestPKI,
    caplog: pytest.LogCaptureFixture,
    claims: dict[str, Any],
    reason: str,
) -> None:
    result = echo.client(SERVICE, tornadoservice_pki.token("bob", **claims)).who()
    _refused(result, caplog, 401)
    assert reason in caplog.text.lower()


def test_the_unregistered_stranger_is_a_visitor(
    echo: LiveServer, tornadoservice_pki: TestPKI, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = echo.client(SERVICE, tornadoservice_pki.stranger)
    assert stranger.anyone()["Value"] == "anonymous"
    _refused(stranger.who(), caplog, 403)


def test_a_property_rule_refuses_the_plain_user(
    echo: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    _refused(echo.client(SERVICE).admin(), caplog, 403)
    assert "ServiceAdministrator" in caplog.text


def test_custom_registry_and_configuration(
    tornadoservice_server: Factory, tornadoservice_pki: TestPKI
) -> None:
    registry = tornadoservice_pki.registry()
    del registry["Users"]["bob"]
    registry["Groups"]["test_user"]["Users"] = "alice"
    server = tornadoservice_server(
        {SERVICE: EchoHandler},
        registry=registry,
        config={"Systems": {"Test": {"Services": {"Echo": {"Greeting": "bonjour"}}}}},
    )
    assert server.client(SERVICE).greeting()["Value"] == "bonjour"
    assert server.config.get("/Systems/Test/Services/Echo/Protocol") == "https"
    refused = server.client(SERVICE, tornadoservice_pki.second_user).who()
    assert not refused["OK"], refused  # bob is no longer registered


def test_a_new_user_is_a_visitor_until_registered(
    tornadoservice_server: Factory, tornadoservice_pki: TestPKI
) -> None:
    carol = tornadoservice_pki.user_proxy("carol")
    assert not tornadoservice_server({SERVICE: EchoHandler}).client(SERVICE, carol).who()["OK"]
    registry = tornadoservice_pki.registry()
    registry["Users"]["carol"] = {"DN": carol.dn}
    registry["Groups"]["test_user"]["Users"] = "alice, bob, carol"
    server = tornadoservice_server({SERVICE: EchoHandler}, registry=registry)
    assert server.client(SERVICE, carol).who()["Value"] == ["carol", "test_user"]


def test_running_server_outside_the_fixture(tornadoservice_pki: TestPKI) -> None:
    with running_server(tornadoservice_pki, {SERVICE: EchoHandler}) as server:
        port = server.port
        assert server.client(SERVICE).who()["Value"] == ["alice", "test_user"]
    # Stopped on leaving: nothing answers on that port any more.
    import socket

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
