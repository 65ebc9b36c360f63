"""Bad client certificates are refused in the TLS handshake, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY
from tests.support.live_server import LiveServer
from tests.support.pki import ClientCred, ServerPKI

Sessions = Callable[[ClientCred | None], requests.Session]


@pytest.mark.parametrize("cred_name", ["foreign_user", "expired_user", "proxy_without_chain"])
def test_bad_client_certificates_fail_the_handshake(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, cred_name: str
) -> None:
    session = session_for(getattr(server_pki, cred_name))
    with pytest.raises(requests.exceptions.SSLError):
        session.post(dummy_server.url(DUMMY), data={"method": "echo", "args": "[1]"}, timeout=30)
    # The server is unharmed: a good client still gets through.
    good = session_for(server_pki.proxy).post(
        dummy_server.url(DUMMY), data={"method": "echo", "args": "[1]"}, timeout=30
    )
    assert good.text == '{"OK": true, "Value": 1}'


def test_keep_alive_reuses_one_connection_and_one_identity(
    dummy_server: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tornadoservice.server import authentication

    parsed: list[int] = []
    real = authentication.identity_from_chain

    def counting(chain: Any, **kwargs: Any) -> Any:
        parsed.append(len(chain))
        return real(chain, **kwargs)

    monkeypatch.setattr(authentication, "identity_from_chain", counting)
    session = session_for(server_pki.proxy)
    for _ in range(5):
        response = session.post(dummy_server.url(DUMMY), data={"method": "whoami"}, timeout=30)
        assert response.status_code == 200
    # One TLS connection served all five requests: its chain was parsed once.
    assert len(parsed) == 1
