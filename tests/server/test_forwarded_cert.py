"""The load-balancer headers over real HTTPS: ignored from anyone but a configured proxy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import HOST_DN, USER_DN, ClientCred, ServerPKI
from tornadoservice.config.tree import ConfigTree
from tornadoservice.identity.forwarded import CERT_HEADER, VERIFY_HEADER
from tornadoservice.server.server import ServerStartError, TornadoServer

Sessions = Callable[[ClientCred | None], requests.Session]


def forwarded_headers(pki: ServerPKI, verify: str = "SUCCESS") -> dict[str, str]:
    """ciuser's certificate as nginx forwards it."""
    return {CERT_HEADER: quote(pki.user.cert.read_text(), safe=""), VERIFY_HEADER: verify}


def config_trusting(pki: ServerPKI, addresses: str) -> ConfigTree:
    config = dummy_config(pki)
    config.set_option("/Systems/Tornado/TrustedProxies", addresses)
    return config


@pytest.fixture(scope="module")
def behind_proxy(server_pki: ServerPKI) -> Iterator[LiveServer]:
    """A server for which this test process (127.0.0.1) is the trusted load balancer."""
    with live_server(
        config_trusting(server_pki, "10.1.2.3, 127.0.0.1"), {DUMMY: DummyTornadoHandler}
    ) as server:
        yield server


def whoami(
    server: LiveServer, session: requests.Session, head: dict[str, str], **data: str
) -> requests.Response:
    return session.post(
        server.url(DUMMY), data={"method": "whoami", **data}, headers=head, timeout=30
    )


# ---------------------------------------------------------------- the spoofing attack (DIRAC#6445)


def test_headers_from_an_untrusted_address_do_not_authenticate(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = whoami(dummy_server, session_for(None), forwarded_headers(server_pki))
    assert response.status_code == 401
    assert "ciuser" not in response.text


def test_headers_from_an_untrusted_address_do_not_replace_the_callers_certificate(
    dummy_server: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.host)
    head = forwarded_headers(server_pki)
    response = whoami(dummy_server, session, head, extraCredentials='"hosts"')
    assert response.status_code == 200
    assert response.json()["Value"]["DN"] == HOST_DN


def test_forwarding_headers_do_not_make_a_client_look_like_the_proxy(
    server_pki: ServerPKI, session_for: Sessions
) -> None:
    # The server runs without xheaders: X-Forwarded-For/X-Real-Ip cannot claim the proxy's IP.
    config = config_trusting(server_pki, "10.1.2.3")
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        head = forwarded_headers(server_pki) | {
            "X-Forwarded-For": "10.1.2.3",
            "X-Real-Ip": "10.1.2.3",
        }
        response = whoami(server, session_for(None), head)
    assert response.status_code == 401


# ---------------------------------------------------------------- from the trusted proxy


def test_headers_from_the_trusted_proxy_are_honoured(
    behind_proxy: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    response = whoami(behind_proxy, session_for(None), forwarded_headers(server_pki))
    assert response.status_code == 200, response.text
    creds = response.json()["Value"]
    assert creds["DN"] == USER_DN
    assert creds["username"] == "ciuser"
    assert creds["group"] == "dirac_user"
    assert creds["isProxy"] is False


def test_the_proxys_own_certificate_never_stands_for_the_caller(
    behind_proxy: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    # A request the balancer forwards without a client certificate is anonymous, even when the
    # balancer's connection itself presents a certificate.
    session = session_for(server_pki.host)
    for head in ({}, {VERIFY_HEADER: "NONE"}):
        response = whoami(behind_proxy, session, head, extraCredentials='"hosts"')
        assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        ({VERIFY_HEADER: "FAILED:certificate revoked"}, "did not verify"),
        ({CERT_HEADER: "-----BEGIN%20garbage", VERIFY_HEADER: "SUCCESS"}, "URL-escaped PEM"),
        ({VERIFY_HEADER: "SUCCESS"}, "missing"),
    ],
)
def test_unusable_forwarded_certificates_are_401_with_the_reason_logged(
    behind_proxy: LiveServer,
    session_for: Sessions,
    server_pki: ServerPKI,
    caplog: pytest.LogCaptureFixture,
    head: dict[str, str],
    reason: str,
) -> None:
    with caplog.at_level("WARNING", logger="tornadoservice.request"):
        response = whoami(behind_proxy, session_for(None), head)
    assert response.status_code == 401
    assert response.json()["Errno"] == 13
    logged = [r.getMessage() for r in caplog.records if r.name == "tornadoservice.request"]
    assert any("forwarded client certificate refused" in m and reason in m for m in logged)


def test_a_failed_verification_with_a_certificate_is_refused(
    behind_proxy: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    head = forwarded_headers(server_pki, verify="FAILED:certificate has expired")
    assert whoami(behind_proxy, session_for(None), head).status_code == 401


def test_a_forwarded_proxy_is_refused(
    behind_proxy: LiveServer, session_for: Sessions, server_pki: ServerPKI
) -> None:
    proxy_pem = server_pki.proxy.cert.read_text()
    leaf = proxy_pem[: proxy_pem.index("-----END CERTIFICATE-----") + 26]
    head = {CERT_HEADER: quote(leaf, safe=""), VERIFY_HEADER: "SUCCESS"}
    assert whoami(behind_proxy, session_for(None), head).status_code == 401


# ---------------------------------------------------------------- configuration


def test_trusted_proxies_must_be_ip_addresses(server_pki: ServerPKI) -> None:
    with pytest.raises(
        ServerStartError, match=re.escape("TrustedProxies: 'lb.example.org' is not an IP")
    ):
        TornadoServer(
            config_trusting(server_pki, "127.0.0.1, lb.example.org"),
            handlers={DUMMY: DummyTornadoHandler},
        )


def test_no_trusted_proxies_by_default(server_pki: ServerPKI) -> None:
    server = TornadoServer(dummy_config(server_pki), handlers={DUMMY: DummyTornadoHandler})
    try:
        assert server.state.trusted_proxies == frozenset()
    finally:
        server.state.executor.shutdown()
