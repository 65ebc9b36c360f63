"""The JWT scheme over real HTTPS, with a real local JWKS server: accepted, refused, never logged."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.conftest import DUMMY, dummy_config
from tests.support.dummy import DummyTornadoHandler
from tests.support.jwks import (
    AUDIENCE,
    ISSUER,
    JWKSServer,
    SigningKey,
    claims,
    ec_key,
    forge_alg_none,
    forge_hs256,
    jwks_server,
    rsa_key,
    tamper,
)
from tests.support.live_server import LiveServer, live_server
from tests.support.pki import ClientCred, ServerPKI
from tornadoservice.config.tree import ConfigTree
from tornadoservice.server.server import ServerStartError, TornadoServer

Sessions = Callable[[ClientCred | None], requests.Session]

SUB = "ciuser-sub"
TOKEN_WHOAMI = (
    '{"OK": true, "Value": {"ID": "ciuser-sub", "issuer": "https://iam.test.example/", '
    '"DN": "/O=DIRAC/CN=ciuser-sub", "DIRACGroups": [], "group": "dirac_user", '
    '"properties": ["NormalUser"], "username": "ciuser"}}'
)


@pytest.fixture(scope="module")
def rsa() -> SigningKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="module")
def ecdsa() -> SigningKey:
    return ec_key("ec-1")


@pytest.fixture(scope="module")
def jwks(rsa: SigningKey, ecdsa: SigningKey) -> Iterator[JWKSServer]:
    with jwks_server(rsa.jwk(), ecdsa.jwk()) as running:
        yield running


def token_config(pki: ServerPKI, jwks: JWKSServer, **issuer: str) -> ConfigTree:
    tree = dummy_config(pki)
    raw: dict[str, Any] = copy.deepcopy(tree.as_dict())
    registry = raw["Registry"]
    registry["Users"]["ciuser"]["ID"] = SUB
    registry["TokenIssuers"] = {
        "iam": {
            "Issuer": ISSUER,
            "JWKS": jwks.url,
            "Audience": AUDIENCE,
            "Algorithms": "RS256, ES256",
            "Leeway": "30",
            "JWKSTimeout": "5",
            "JWKSRefetchInterval": "3600",
            **issuer,
        }
    }
    return ConfigTree.from_dict(raw)


@pytest.fixture(scope="module")
def token_server(server_pki: ServerPKI, jwks: JWKSServer) -> Iterator[LiveServer]:
    config = token_config(server_pki, jwks)
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        yield server


def call(
    session: requests.Session, server: LiveServer, token: str | None, method: str = "whoami"
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return session.post(server.url(DUMMY), data={"method": method}, headers=headers, timeout=30)


def test_whoami_with_a_token(
    token_server: LiveServer, session_for: Sessions, rsa: SigningKey
) -> None:
    response = call(session_for(None), token_server, rsa.sign(claims(SUB)))
    assert response.status_code == 200, response.text
    assert response.text == TOKEN_WHOAMI


def test_ec_token_and_property_rule(
    token_server: LiveServer, session_for: Sessions, ecdsa: SigningKey
) -> None:
    token = ecdsa.sign(claims(SUB, scope="openid group:dirac_user"))
    response = call(session_for(None), token_server, token, "normalUserOnly")
    assert response.status_code == 200, response.text


def test_token_caller_without_the_right_gets_403(
    token_server: LiveServer, session_for: Sessions, rsa: SigningKey
) -> None:
    response = call(session_for(None), token_server, rsa.sign(claims(SUB)), "nobody")
    assert response.status_code == 403


def test_unknown_subject_is_a_visitor(
    token_server: LiveServer, session_for: Sessions, rsa: SigningKey
) -> None:
    session = session_for(None)
    token = rsa.sign(claims("stranger-sub"))
    assert call(session, token_server, token, "true").status_code == 200
    assert call(session, token_server, token, "whoami").status_code == 403


def test_certificate_comes_first(
    token_server: LiveServer, session_for: Sessions, server_pki: ServerPKI, rsa: SigningKey
) -> None:
    response = call(session_for(server_pki.proxy), token_server, rsa.sign(claims("stranger")))
    assert response.status_code == 200
    assert response.json()["Value"]["DN"] == "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"


def _refusals(rsa: SigningKey) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    return {
        "alg none": (forge_alg_none(claims(SUB), "rsa-1"), "algorithm 'none' not allowed"),
        "HS256 with the public key": (
            forge_hs256(claims(SUB), "rsa-1", rsa.public_pem),
            "algorithm 'HS256' not allowed",
        ),
        "wrong key": (rsa_key("rsa-1").sign(claims(SUB)), "bad signature"),
        "tampered payload": (tamper(rsa.sign(claims("stranger")), sub=SUB), "bad signature"),
        "expired": (rsa.sign(claims(SUB, lifetime=-3600)), "token expired"),
        "not yet valid": (rsa.sign(claims(SUB, nbf=now + 3600)), "not yet valid"),
        "wrong audience": (rsa.sign(claims(SUB, aud="elsewhere")), "wrong audience"),
        "unknown issuer": (rsa.sign(claims(SUB, iss="https://evil.example/")), "unknown issuer"),
        "unknown kid": (rsa_key("rsa-9").sign(claims(SUB)), "unknown key id 'rsa-9'"),
        "user not in the claimed group": (
            rsa.sign(claims(SUB, scope="group:dirac_admin")),
            "ciuser is not a member",
        ),
    }


REFUSALS = [
    "alg none",
    "HS256 with the public key",
    "wrong key",
    "tampered payload",
    "expired",
    "not yet valid",
    "wrong audience",
    "unknown issuer",
    "unknown kid",
    "user not in the claimed group",
]


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_tokens_are_refused_with_401_and_never_logged(
    token_server: LiveServer,
    session_for: Sessions,
    rsa: SigningKey,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    token, reason = _refusals(rsa)[case]
    with caplog.at_level(logging.DEBUG):
        response = call(session_for(None), token_server, token, "true")
    assert response.status_code == 401, response.text
    assert response.json() == {"OK": False, "Errno": 13, "Message": response.json()["Message"]}
    assert token not in response.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert reason in logged
    assert token not in logged
    # Nor any of its signature or payload, which would let a reader rebuild it.
    assert all(part not in logged for part in token.split(".") if len(part) > 20)


def test_good_token_is_not_logged(
    token_server: LiveServer,
    session_for: Sessions,
    rsa: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = rsa.sign(claims(SUB))
    with caplog.at_level(logging.DEBUG):
        assert call(session_for(None), token_server, token).status_code == 200
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert token not in logged


def test_unknown_kid_does_not_hammer_the_issuer(
    token_server: LiveServer, session_for: Sessions, jwks: JWKSServer, rsa: SigningKey
) -> None:
    session = session_for(None)
    assert call(session, token_server, rsa.sign(claims(SUB))).status_code == 200
    before = jwks.hits
    for n in range(5):
        assert (
            call(session, token_server, rsa_key(f"made-up-{n}").sign(claims(SUB))).status_code
            == 401
        )
    assert jwks.hits - before <= 1


def test_no_issuer_configured_refuses_tokens(
    dummy_server: LiveServer,
    session_for: Sessions,
    rsa: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        response = call(session_for(None), dummy_server, rsa.sign(claims(SUB)), "true")
    assert response.status_code == 401
    assert "no token issuer is configured" in caplog.text


def test_key_rotation_over_https(
    server_pki: ServerPKI, session_for: Sessions, jwks: JWKSServer
) -> None:
    config = token_config(server_pki, jwks, JWKSRefetchInterval="0")
    rotated = rsa_key("rsa-rotated")
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        session = session_for(None)
        assert call(session, server, rotated.sign(claims(SUB))).status_code == 401
        jwks.keys.append(rotated.jwk())
        try:
            assert call(session, server, rotated.sign(claims(SUB))).status_code == 200
        finally:
            jwks.keys.remove(rotated.jwk())


def test_bad_issuer_configuration_stops_the_server(server_pki: ServerPKI, jwks: JWKSServer) -> None:
    config = token_config(server_pki, jwks, Algorithms="HS256")
    with pytest.raises(ServerStartError, match="HS256"):
        TornadoServer(config, handlers={DUMMY: DummyTornadoHandler}, port=0, host="127.0.0.1")


def test_slow_jwks_fetch_does_not_block_other_requests(
    server_pki: ServerPKI, session_for: Sessions, jwks: JWKSServer, rsa: SigningKey
) -> None:
    config = token_config(server_pki, jwks)
    with live_server(config, {DUMMY: DummyTornadoHandler}) as server:
        jwks.delay = 1.5
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(call, session_for(None), server, rsa.sign(claims(SUB)))
                time.sleep(0.2)  # the token request is now waiting for the key set
                started = time.monotonic()
                ping = call(session_for(server_pki.proxy), server, None, "ping")
                elapsed = time.monotonic() - started
                assert ping.status_code == 200
                assert not pending.done()
                assert elapsed < 1.0
                assert pending.result(timeout=30).status_code == 200
        finally:
            jwks.delay = 0.0
