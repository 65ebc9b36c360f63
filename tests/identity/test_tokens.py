"""Token verification against a real local JWKS server: every refusal, key rotation, rate limit."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

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
from tornadoservice.config.tree import ConfigTree
from tornadoservice.identity.jwks import JWKSError, RemoteKeySource, check_jwks_url, parse_key_set
from tornadoservice.identity.tokens import (
    IssuerConfig,
    TokenConfigError,
    TokenError,
    TokenVerifier,
    VerifiedToken,
    issuers_from_config,
)


@pytest.fixture(scope="module")
def rsa() -> SigningKey:
    return rsa_key("rsa-1")


@pytest.fixture(scope="module")
def ecdsa() -> SigningKey:
    return ec_key("ec-1")


@pytest.fixture
def server(rsa: SigningKey, ecdsa: SigningKey) -> Iterator[JWKSServer]:
    with jwks_server(rsa.jwk(), ecdsa.jwk(with_alg=False)) as running:
        yield running


def issuer(server: JWKSServer, **overrides: Any) -> IssuerConfig:
    options: dict[str, Any] = {
        "name": "iam",
        "issuer": ISSUER,
        "audiences": (AUDIENCE,),
        "jwks_url": server.url,
        "jwks_timeout": 5.0,
    }
    options.update(overrides)
    return IssuerConfig(**options)


def verify(verifier: TokenVerifier, token: str) -> VerifiedToken:
    return asyncio.run(verifier.verify(token))


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(TokenError) as caught:
        verify(verifier, token)
    assert token not in caught.value.reason
    return caught.value.reason


# --------------------------------------------------------------------------- accepted


def test_rsa_and_ec_tokens_verify(server: JWKSServer, rsa: SigningKey, ecdsa: SigningKey) -> None:
    verifier = TokenVerifier([issuer(server)])
    verified = verify(verifier, rsa.sign(claims("alice", scope="openid")))
    assert (verified.issuer_name, verified.issuer, verified.subject) == ("iam", ISSUER, "alice")
    assert verified.claims["scope"] == "openid"
    assert 3500 < verified.seconds_left() <= 3600
    assert verify(verifier, ecdsa.sign(claims("bob"))).subject == "bob"
    assert server.hits == 1  # the key set is cached


def test_audience_among_several(server: JWKSServer, rsa: SigningKey) -> None:
    verifier = TokenVerifier([issuer(server, audiences=("other", AUDIENCE))])
    assert verify(verifier, rsa.sign(claims(aud=["x", AUDIENCE]))).subject == "ciuser-sub"


def test_leeway_accepts_a_token_just_expired(server: JWKSServer, rsa: SigningKey) -> None:
    verifier = TokenVerifier([issuer(server, leeway=120)])
    assert verify(verifier, rsa.sign(claims(lifetime=-30))).subject == "ciuser-sub"


def test_local_jwks_file(tmp_path: Path, rsa: SigningKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa.jwk()]}))
    verifier = TokenVerifier([IssuerConfig("file", ISSUER, (AUDIENCE,), jwks_file=str(path))])
    assert verify(verifier, rsa.sign(claims())).subject == "ciuser-sub"


def test_no_kid_uses_the_only_key(tmp_path: Path, rsa: SigningKey) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa.jwk()]}))
    verifier = TokenVerifier([IssuerConfig("file", ISSUER, (AUDIENCE,), jwks_file=str(path))])
    token = jwt.encode(claims("nokid"), rsa.private, algorithm="RS256")
    assert verify(verifier, token).subject == "nokid"


def test_no_kid_with_several_keys_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = jwt.encode(claims(), rsa.private, algorithm="RS256")
    assert "no 'kid'" in refused(TokenVerifier([issuer(server)]), token)


# --------------------------------------------------------------------------- refused


def test_alg_none_is_refused(server: JWKSServer) -> None:
    reason = refused(TokenVerifier([issuer(server)]), forge_alg_none(claims(), "rsa-1"))
    assert "algorithm 'none' not allowed" in reason


def test_hs256_signed_with_the_public_key_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = forge_hs256(claims(), "rsa-1", rsa.public_pem)
    assert "algorithm 'HS256' not allowed" in refused(TokenVerifier([issuer(server)]), token)


def test_hs256_refused_even_with_the_jwk_as_secret(server: JWKSServer, rsa: SigningKey) -> None:
    token = forge_hs256(claims(), "rsa-1", json.dumps(rsa.jwk()).encode())
    assert "not allowed" in refused(TokenVerifier([issuer(server)]), token)


def test_wrong_key_is_refused(server: JWKSServer) -> None:
    impostor = rsa_key("rsa-1")  # same kid, another key
    assert "bad signature" in refused(TokenVerifier([issuer(server)]), impostor.sign(claims()))


def test_tampered_payload_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = tamper(rsa.sign(claims("alice")), sub="admin")
    assert "bad signature" in refused(TokenVerifier([issuer(server)]), token)


def test_expired_token_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = rsa.sign(claims(lifetime=-3600))
    assert "token expired" in refused(TokenVerifier([issuer(server, leeway=60)]), token)


def test_not_yet_valid_token_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = rsa.sign(claims(nbf=int(time.time()) + 3600))
    assert "not yet valid" in refused(TokenVerifier([issuer(server)]), token)


def test_token_issued_in_the_future_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = rsa.sign({**claims(), "iat": int(time.time()) + 3600})
    assert "not yet valid" in refused(TokenVerifier([issuer(server)]), token)


def test_wrong_audience_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = rsa.sign(claims(aud="some-other-service"))
    assert "wrong audience" in refused(TokenVerifier([issuer(server)]), token)


def test_missing_audience_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    payload = claims()
    del payload["aud"]
    assert "missing claim" in refused(TokenVerifier([issuer(server)]), rsa.sign(payload))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_missing_required_claim_is_refused(server: JWKSServer, rsa: SigningKey, claim: str) -> None:
    payload = claims()
    del payload[claim]
    reason = refused(TokenVerifier([issuer(server)]), rsa.sign(payload))
    assert "missing claim" in reason and claim in reason


def test_unknown_issuer_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = rsa.sign(claims(iss="https://evil.example/"))
    assert "unknown issuer 'https://evil.example/'" in refused(
        TokenVerifier([issuer(server)]), token
    )
    assert server.hits == 0  # nothing fetched for a stranger


def test_unknown_kid_is_refused_after_one_refetch(server: JWKSServer) -> None:
    verifier = TokenVerifier([issuer(server, jwks_refetch_interval=3600)])
    stranger = rsa_key("rsa-unknown")
    assert "unknown key id 'rsa-unknown'" in refused(verifier, stranger.sign(claims()))
    assert server.hits == 1
    # Another made-up kid within the interval: no new fetch (rate limit).
    assert "unknown key id" in refused(verifier, rsa_key("rsa-other").sign(claims()))
    assert server.hits == 1


def test_algorithm_not_in_the_allow_list_is_refused(server: JWKSServer, ecdsa: SigningKey) -> None:
    verifier = TokenVerifier([issuer(server, algorithms=("RS256",))])
    assert "algorithm 'ES256' not allowed" in refused(verifier, ecdsa.sign(claims()))


def test_algorithm_not_matching_the_key_alg_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    # The JWK says RS256; a token claiming PS256 with the same key must not pass.
    token = jwt.encode(claims(), rsa.private, algorithm="PS256", headers={"kid": "rsa-1"})
    assert "algorithm refused" in refused(TokenVerifier([issuer(server)]), token)


def test_algorithm_of_another_key_type_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    token = jwt.encode(claims(), rsa.private, algorithm="RS256", headers={"kid": "ec-1"})
    assert "does not fit key 'ec-1'" in refused(TokenVerifier([issuer(server)]), token)


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "x" * 20000])
def test_malformed_tokens_are_refused(server: JWKSServer, token: str) -> None:
    with pytest.raises(TokenError):
        verify(TokenVerifier([issuer(server)]), token)


# --------------------------------------------------------------------------- key sets


def test_key_rotation_is_picked_up(server: JWKSServer, rsa: SigningKey) -> None:
    verifier = TokenVerifier([issuer(server, jwks_refetch_interval=0)])
    assert verify(verifier, rsa.sign(claims())).subject == "ciuser-sub"
    rotated = rsa_key("rsa-2")
    server.keys.append(rotated.jwk())
    assert verify(verifier, rotated.sign(claims("new"))).subject == "new"
    assert server.hits == 2


def test_refetch_is_rate_limited_with_a_clock(server: JWKSServer, rsa: SigningKey) -> None:
    now = [1000.0]
    source = RemoteKeySource(server.url, timeout=5, min_refetch=60, clock=lambda: now[0])

    async def lookups() -> list[Any]:
        found = [await source.key("rsa-1"), await source.key("nope"), await source.key("nope")]
        now[0] += 61
        found.append(await source.key("nope"))
        return found

    found = asyncio.run(lookups())
    assert found[0] is not None and found[1:] == [None, None, None]
    assert source.fetch_count == 2 and server.hits == 2


def test_cached_keys_expire(server: JWKSServer) -> None:
    now = [0.0]
    source = RemoteKeySource(server.url, timeout=5, max_age=100, clock=lambda: now[0])

    async def lookups() -> None:
        await source.key("rsa-1")
        now[0] += 50
        await source.key("rsa-1")
        now[0] += 100
        await source.key("rsa-1")

    asyncio.run(lookups())
    assert server.hits == 2


def test_concurrent_lookups_share_one_fetch(server: JWKSServer) -> None:
    source = RemoteKeySource(server.url, timeout=5)

    async def lookups() -> None:
        await asyncio.gather(*(source.key("rsa-1") for _ in range(20)))

    asyncio.run(lookups())
    assert server.hits == 1


def test_unreachable_jwks_is_a_refusal(rsa: SigningKey) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = IssuerConfig("iam", ISSUER, (AUDIENCE,), jwks_url=f"http://127.0.0.1:{port}/jwks")
    reason = refused(TokenVerifier([config]), rsa.sign(claims()))
    assert "keys of issuer iam unavailable" in reason


def test_jwks_fetch_times_out(rsa: SigningKey) -> None:
    # A server that accepts the connection and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks"
        config = IssuerConfig("iam", ISSUER, (AUDIENCE,), jwks_url=url, jwks_timeout=0.5)
        started = time.monotonic()
        assert "unavailable" in refused(TokenVerifier([config]), rsa.sign(claims()))
        assert time.monotonic() - started < 5


def test_jwks_http_error_is_a_refusal(server: JWKSServer, rsa: SigningKey) -> None:
    server.status = 500
    assert "HTTP 500" in refused(TokenVerifier([issuer(server)]), rsa.sign(claims()))


def test_key_set_parsing_drops_symmetric_and_encryption_keys(rsa: SigningKey) -> None:
    secret = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
    encryption = {**rsa.jwk(), "kid": "enc", "use": "enc"}
    parsed = parse_key_set(json.dumps({"keys": [secret, encryption, rsa.jwk()]}), "test")
    assert set(parsed.keys) == {"rsa-1"}
    with pytest.raises(JWKSError, match="no public signing key"):
        parse_key_set(json.dumps({"keys": [secret]}), "test")
    with pytest.raises(JWKSError, match="not JSON"):
        parse_key_set("{", "test")
    with pytest.raises(JWKSError, match="not a JWK set"):
        parse_key_set("[]", "test")


@pytest.mark.parametrize(
    "url",
    ["http://iam.example.org/jwks", "ftp://127.0.0.1/jwks", "https:///jwks", "jwks.json"],
)
def test_insecure_jwks_urls_are_refused(url: str) -> None:
    with pytest.raises(JWKSError):
        check_jwks_url(url)


@pytest.mark.parametrize(
    "url", ["https://iam.example.org/jwks", "http://127.0.0.1:8080/j", "http://localhost/j"]
)
def test_secure_jwks_urls_are_accepted(url: str) -> None:
    check_jwks_url(url)


# --------------------------------------------------------------------------- configuration


def test_issuers_from_config(tmp_path: Path, rsa: SigningKey) -> None:
    (tmp_path / "keys.json").write_text(json.dumps({"keys": [rsa.jwk()]}))
    tree = ConfigTree.from_dict(
        {
            "Registry": {
                "TokenIssuers": {
                    "iam": {
                        "Issuer": ISSUER,
                        "JWKS": "https://iam.test.example/jwk",
                        "Audience": "a, b",
                        "Algorithms": "RS256, ES256",
                        "Leeway": "30",
                        "JWKSTimeout": "3",
                        "JWKSCacheTime": "600",
                        "JWKSRefetchInterval": "10",
                    },
                    "local": {
                        "Issuer": "https://local/",
                        "JWKSFile": str(tmp_path / "keys.json"),
                        "Audience": "a",
                    },
                }
            }
        }
    )
    iam, local = sorted(issuers_from_config(tree), key=lambda i: i.name)
    assert iam.audiences == ("a", "b") and iam.algorithms == ("RS256", "ES256")
    assert (iam.leeway, iam.jwks_timeout, iam.jwks_cache_time, iam.jwks_refetch_interval) == (
        30,
        3,
        600,
        10,
    )
    assert local.jwks_file == str(tmp_path / "keys.json") and "EdDSA" in local.algorithms
    verifier = TokenVerifier.from_config(tree)
    assert verifier is not None and len(verifier.issuers) == 2
    assert TokenVerifier.from_config(ConfigTree.from_dict({"Registry": {}})) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"JWKS": "https://x/j", "Audience": "a"}, "Issuer is required"),
        ({"Issuer": "i", "JWKS": "https://x/j"}, "Audience is required"),
        ({"Issuer": "i", "Audience": "a"}, "exactly one of JWKS and JWKSFile"),
        (
            {"Issuer": "i", "Audience": "a", "JWKS": "https://x/j", "JWKSFile": "/k"},
            "exactly one",
        ),
        ({"Issuer": "i", "Audience": "a", "JWKS": "https://x/j", "Algorithms": "HS256"}, "HS256"),
        ({"Issuer": "i", "Audience": "a", "JWKS": "https://x/j", "Algorithms": "none"}, "none"),
        ({"Issuer": "i", "Audience": "a", "JWKS": "https://x/j", "Leeway": "soon"}, "number"),
        ({"Issuer": "i", "Audience": "a", "JWKS": "https://x/j", "Leeway": "-1"}, "negative"),
        ({"Issuer": "i", "Audience": "a", "JWKS": "http://x.example/j"}, "must be https"),
        ({"Issuer": "i", "Audience": "a", "JWKSFile": "/nonexistent/jwks.json"}, "cannot read"),
    ],
)
def test_bad_issuer_configuration(options: dict[str, str], message: str) -> None:
    tree = ConfigTree.from_dict({"Registry": {"TokenIssuers": {"bad": options}}})
    with pytest.raises(TokenConfigError, match=message):
        TokenVerifier.from_config(tree)


def test_same_issuer_twice_is_a_configuration_error(server: JWKSServer) -> None:
    with pytest.raises(TokenConfigError, match="configured twice"):
        TokenVerifier([issuer(server), issuer(server, name="again")])


def test_non_string_kid_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    _, payload, signature = rsa.sign(claims()).split(".")
    forged = base64.urlsafe_b64encode(b'{"alg": "RS256", "kid": 7}').rstrip(b"=").decode()
    token = ".".join([forged, payload, signature])
    assert "malformed" in refused(TokenVerifier([issuer(server)]), token)


@pytest.mark.parametrize("sub", ["", 42])
def test_empty_or_non_string_subject_is_refused(
    server: JWKSServer, rsa: SigningKey, sub: object
) -> None:
    with pytest.raises(TokenError):
        verify(TokenVerifier([issuer(server)]), rsa.sign({**claims(), "sub": sub}))


def test_oversized_key_set_is_refused(server: JWKSServer, rsa: SigningKey) -> None:
    server.keys.extend({"kty": "oct", "k": "x" * 1000} for _ in range(1100))
    assert "more than" in refused(TokenVerifier([issuer(server)]), rsa.sign(claims()))
