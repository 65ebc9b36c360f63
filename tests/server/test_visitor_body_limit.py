"""A visitor cannot send a large body: ``MaxAnonymousBodySize`` for callers with neither a client
certificate nor a bearer token that verifies, on both transports, over real HTTPS.

Each refusal is a 413 with a JSON ``S_ERROR`` saying why and one warning line; the same body
from a certificate or a valid token is served, so the tests fail if the limit stops applying
or starts applying to the wrong callers.
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
from collections.abc import Awaitable, Iterator
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import pytest
import requests

from tests.conftest import DUMMY, HTTP_IMPLEMENTATIONS, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.jwks import AUDIENCE, ISSUER, JWKSServer, SigningKey, claims, jwks_server
from tests.support.jwks import rsa_key as make_rsa_key
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ServerPKI
from tornadoservice import TornadoService
from tornadoservice.config.tree import ConfigTree
from tornadoservice.identity.forwarded import CERT_HEADER, VERIFY_HEADER

ANONYMOUS_LIMIT = 64 * 1024
MAX_BODY = 4 * 1024 * 1024
SUB = "ciuser-sub"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
REASON = f"larger than {ANONYMOUS_LIMIT} bytes: a larger body needs a client certificate"


class Open(DummyTornadoHandler):
    """Every built-in callable without any credential (``VISITOR`` after the others)."""

    DEFAULT_AUTHENTICATION = [*TornadoService.DEFAULT_AUTHENTICATION, "VISITOR"]
    delivered: ClassVar[list[int]] = []
    """Bytes of body (inflated) handed to each request's ``data_received``."""

    def prepare(self) -> Awaitable[None]:
        Open.delivered.append(0)
        return super().prepare()

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        Open.delivered[-1] += len(chunk)
        return super().data_received(chunk)


@pytest.fixture(scope="module")
def signer() -> SigningKey:
    return make_rsa_key("rsa-1")


@pytest.fixture(scope="module")
def jwks(signer: SigningKey) -> Iterator[JWKSServer]:
    with jwks_server(signer.jwk()) as running:
        yield running


def limited_config(pki: ServerPKI, jwks: JWKSServer) -> ConfigTree:
    raw: dict[str, Any] = copy.deepcopy(dummy_config(pki).as_dict())
    raw["Registry"]["Users"]["ciuser"]["ID"] = SUB
    raw["Registry"]["TokenIssuers"] = {
        "iam": {"Issuer": ISSUER, "JWKS": jwks.url, "Audience": AUDIENCE, "Algorithms": "RS256"}
    }
    tornado = raw.setdefault("Systems", {}).setdefault("Tornado", {})
    tornado["MaxBodySize"] = str(MAX_BODY)
    tornado["MaxAnonymousBodySize"] = str(ANONYMOUS_LIMIT)
    return ConfigTree.from_dict(raw)


@pytest.fixture(scope="module", params=HTTP_IMPLEMENTATIONS)
def server(
    request: pytest.FixtureRequest, server_pki: ServerPKI, jwks: JWKSServer
) -> Iterator[LiveServer]:
    config = limited_config(server_pki, jwks)
    with live_server(config, {DUMMY: Open}, http_implementation=str(request.param)) as live:
        yield live


def echo_body(size: int) -> bytes:
    """A form calling ``echo`` whose encoded body has about ``size`` bytes."""
    return urlencode({"method": "echo", "args": json.dumps(["x" * size])}).encode()


def post(
    server: LiveServer, session: requests.Session, body: Any, **headers: str
) -> requests.Response:
    return session.post(server.url(DUMMY), data=body, headers={**FORM, **headers}, timeout=30)


def assert_visitor_refused(response: requests.Response, caplog: pytest.LogCaptureFixture) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"] == "application/json"
    answer = json.loads(response.text)
    assert answer["OK"] is False
    assert REASON in answer["Message"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].levelno == logging.WARNING and warnings[0].exc_info is None
    assert "413" in warnings[0].getMessage()


def assert_echoed(response: requests.Response, size: int) -> None:
    assert response.status_code == 200, response.text[:200]
    assert response.json() == {"OK": True, "Value": "x" * size}


def chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_visitor_may_send_a_body_up_to_the_anonymous_limit(
    server: LiveServer, session_for: Any
) -> None:
    assert_echoed(post(server, session_for(None), echo_body(ANONYMOUS_LIMIT // 2)), 32 * 1024)


def test_a_visitors_declared_large_body_is_413(
    server: LiveServer, session_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session = session_for(None)
    caplog.clear()
    assert_visitor_refused(post(server, session, echo_body(4 * ANONYMOUS_LIMIT)), caplog)
    assert_echoed(post(server, session, echo_body(10)), 10)  # still serving


def test_a_visitors_chunked_body_is_413_once_it_crosses_the_limit(
    server: LiveServer, session_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    response = post(server, session_for(None), chunks(echo_body(4 * ANONYMOUS_LIMIT)))
    assert_visitor_refused(response, caplog)


def test_a_visitors_small_gzip_body_that_inflates_past_the_limit_is_413(
    server: LiveServer, session_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = gzip.compress(echo_body(16 * ANONYMOUS_LIMIT))
    assert len(body) < ANONYMOUS_LIMIT // 8
    caplog.clear()
    response = post(server, session_for(None), body, **{"Content-Encoding": "gzip"})
    assert_visitor_refused(response, caplog)


def test_a_refused_gzip_body_is_not_inflated_any_further(
    server: LiveServer, session_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = gzip.compress(echo_body(64 * ANONYMOUS_LIMIT))  # 4 MiB inflated, 4 KiB sent
    Open.delivered.clear()
    caplog.clear()
    response = post(server, session_for(None), body, **{"Content-Encoding": "gzip"})
    assert_visitor_refused(response, caplog)
    # Inflated up to the limit and one more step (64 KiB), not the 4 MiB the bomb holds.
    assert Open.delivered and Open.delivered[-1] <= ANONYMOUS_LIMIT + 64 * 1024


def test_a_client_certificate_earns_the_full_limit(
    server: LiveServer, session_for: Any, server_pki: ServerPKI
) -> None:
    session = session_for(server_pki.proxy)
    assert_echoed(post(server, session, echo_body(16 * ANONYMOUS_LIMIT)), 16 * ANONYMOUS_LIMIT)
    gzipped = gzip.compress(echo_body(16 * ANONYMOUS_LIMIT))
    response = post(server, session, gzipped, **{"Content-Encoding": "gzip"})
    assert_echoed(response, 16 * ANONYMOUS_LIMIT)


def test_a_valid_bearer_token_earns_the_full_limit_declared_or_chunked(
    server: LiveServer, session_for: Any, signer: SigningKey
) -> None:
    session = session_for(None)
    bearer = {"Authorization": f"Bearer {signer.sign(claims(SUB))}"}
    body = echo_body(16 * ANONYMOUS_LIMIT)
    assert_echoed(post(server, session, body, **bearer), 16 * ANONYMOUS_LIMIT)
    assert_echoed(post(server, session, chunks(body), **bearer), 16 * ANONYMOUS_LIMIT)
    # A small body with a token is not held up: the token is checked when the call is.
    assert post(server, session, echo_body(10), **bearer).json()["OK"] is True


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer"],
    ids=["garbage-token", "basic", "no-token"],
)
def test_an_authorization_header_that_does_not_verify_earns_nothing(
    server: LiveServer,
    session_for: Any,
    caplog: pytest.LogCaptureFixture,
    authorization: str,
    chunked: bool,
) -> None:
    body = echo_body(4 * ANONYMOUS_LIMIT)
    caplog.clear()
    response = post(
        server, session_for(None), chunks(body) if chunked else body, Authorization=authorization
    )
    assert_visitor_refused(response, caplog)
    if " " in authorization:
        assert authorization.split(" ", 1)[1] not in caplog.text  # never the credential


def test_an_expired_token_earns_nothing(
    server: LiveServer, session_for: Any, signer: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    expired = signer.sign(claims(SUB, lifetime=-3600))
    caplog.clear()
    response = post(
        server,
        session_for(None),
        echo_body(4 * ANONYMOUS_LIMIT),
        Authorization=f"Bearer {expired}",
    )
    assert_visitor_refused(response, caplog)
    assert expired not in caplog.text  # the reason names the claim, never the token


def test_the_default_limit_refuses_a_visitors_3_mib_body_and_the_client_reads_why(
    dummy_server: LiveServer, session_for: Any
) -> None:
    # The body is read through and dropped before the answer, so the client, still sending
    # when the limit is known, is not reset before it can read the 413.
    session = session_for(None)
    for body in (echo_body(3 * 1024 * 1024), chunks(echo_body(3 * 1024 * 1024), 256 * 1024)):
        response = post(dummy_server, session, body)
        assert response.status_code == 413, response.text
        assert "larger than 1048576 bytes: a larger body needs a client" in response.text


def test_a_certificate_forwarded_by_a_trusted_balancer_earns_the_full_limit(
    server_pki: ServerPKI, jwks: JWKSServer, session_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = limited_config(server_pki, jwks)
    config.set_option("/Systems/Tornado/TrustedProxies", "127.0.0.1")
    with live_server(config, {DUMMY: Open}) as balanced:
        session = session_for(None)  # the balancer itself shows no client certificate
        body = echo_body(16 * ANONYMOUS_LIMIT)
        forwarded = {CERT_HEADER: quote(server_pki.user.cert.read_text(), safe="")}
        assert_echoed(
            post(balanced, session, body, **forwarded, **{VERIFY_HEADER: "SUCCESS"}),
            16 * ANONYMOUS_LIMIT,
        )
        caplog.clear()  # the balancer's own calls, without a forwarded certificate: a visitor's
        assert_visitor_refused(post(balanced, session, body), caplog)
