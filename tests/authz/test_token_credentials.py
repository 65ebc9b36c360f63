"""Verified token claims -> DIRAC credential dict, through the registry."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import MappingProxyType
from typing import Any

import pytest

from tornadoservice.authz import AuthenticationError
from tornadoservice.authz.tokens import authenticate_bearer, claimed_groups, token_credentials
from tornadoservice.config import ConfigTree, Registry
from tornadoservice.identity.tokens import TokenError, VerifiedToken

ISS = "https://iam.example.org/"
EXPIRES = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

CONFIG: dict[str, Any] = {
    "DIRAC": {"VirtualOrganization": "dirac"},
    "Registry": {
        "DefaultGroup": "dirac_user",
        "Users": {
            "ciuser": {"DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser", "ID": "sub-ciuser, sub-old"},
            "adminusername": {"DN": "/C=ch/O=DIRAC/CN=admin", "ID": "sub-admin"},
            # DIRAC's AuthManager matches the pseudo-DN of a token subject.
            "wrapped": {"DN": "/O=DIRAC/CN=sub-wrapped"},
            "suspendedUser": {"ID": "sub-suspended", "Suspended": "dirac"},
            "lonely": {"ID": "sub-lonely"},
            "prefers": {"ID": "sub-prefers", "DefaultGroup": "dirac_prod"},
        },
        "Groups": {
            "dirac_user": {
                "Users": "ciuser, adminusername, wrapped, suspendedUser, prefers",
                "Properties": "NormalUser",
                "IdPRole": "wlcg.groups:/dirac",
            },
            "dirac_prod": {
                "Users": "adminusername, prefers",
                "Properties": "ProductionManagement, NormalUser",
                "IdPRole": "wlcg.groups:/dirac/prod",
            },
            "dirac_admin": {
                "Users": "adminusername",
                "Properties": "ServiceAdministrator",
                "IdPRole": "wlcg.groups:/dirac/admin compute.create",
            },
        },
        "Hosts": {"localhost": {"DN": "/C=ch/O=DIRAC/OU=DIRAC CI/CN=localhost"}},
    },
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.from_config(ConfigTree.from_dict(CONFIG))


def token(sub: str, **claims: Any) -> VerifiedToken:
    return VerifiedToken(
        issuer_name="iam",
        issuer=ISS,
        subject=sub,
        expires=EXPIRES,
        claims=MappingProxyType({"sub": sub, "iss": ISS, **claims}),
    )


def test_registry_maps_token_subjects(registry: Registry) -> None:
    assert registry.user_for_id("sub-ciuser") == "ciuser"
    assert registry.user_for_id("sub-old") == "ciuser"
    assert registry.user_for_id("nobody") is None


def test_default_group_when_the_token_claims_none(registry: Registry) -> None:
    creds = token_credentials(token("sub-ciuser"), registry)
    assert creds == {
        "ID": "sub-ciuser",
        "issuer": ISS,
        "DN": "/O=DIRAC/CN=sub-ciuser",
        "DIRACGroups": [],
        "group": "dirac_user",
        "properties": ["NormalUser"],
        "username": "ciuser",
    }
    # Key order as DIRAC's dict (whoami compares bytes).
    assert list(creds) == [
        "ID",
        "issuer",
        "DN",
        "DIRACGroups",
        "group",
        "properties",
        "username",
    ]


def test_group_scope_selects_the_group(registry: Registry) -> None:
    creds = token_credentials(token("sub-admin", scope="openid group:dirac_admin"), registry)
    assert (creds["group"], creds["username"]) == ("dirac_admin", "adminusername")
    assert creds["properties"] == ["ServiceAdministrator"]
    assert creds["DIRACGroups"] == ["dirac_admin"]


def test_scp_list_is_read_too(registry: Registry) -> None:
    creds = token_credentials(token("sub-admin", scp=["group:dirac_prod"]), registry)
    assert creds["group"] == "dirac_prod"


def test_wlcg_groups_map_through_idp_role(registry: Registry) -> None:
    creds = token_credentials(token("sub-admin", **{"wlcg.groups": ["/dirac/prod"]}), registry)
    assert creds["DIRACGroups"] == ["dirac_prod"] and creds["group"] == "dirac_prod"


def test_idp_role_needs_all_its_scopes(registry: Registry) -> None:
    claims = {"wlcg.groups": ["/dirac/admin"]}
    assert claimed_groups(claims, registry) == ([], False)
    claims_with_scope = {**claims, "scope": "compute.create"}
    assert claimed_groups(claims_with_scope, registry) == (["dirac_admin"], False)


def test_several_claimed_groups_prefer_the_default(registry: Registry) -> None:
    groups = {"wlcg.groups": ["/dirac", "/dirac/prod"]}
    # adminusername: registry DefaultGroup dirac_user comes first.
    creds = token_credentials(token("sub-admin", **groups), registry)
    assert creds["DIRACGroups"] == ["dirac_prod", "dirac_user"]
    assert creds["group"] == "dirac_user"
    # prefers: their own DefaultGroup wins.
    assert token_credentials(token("sub-prefers", **groups), registry)["group"] == "dirac_prod"


def test_claimed_groups_keep_those_the_user_is_in(registry: Registry) -> None:
    groups = {"wlcg.groups": ["/dirac", "/dirac/prod"]}
    assert token_credentials(token("sub-ciuser", **groups), registry)["group"] == "dirac_user"


def test_pseudo_dn_in_the_registry_maps_the_subject(registry: Registry) -> None:
    assert token_credentials(token("sub-wrapped"), registry)["username"] == "wrapped"


def test_unknown_subject_is_an_anonymous_visitor(registry: Registry) -> None:
    creds = token_credentials(token("stranger", scope="group:dirac_user"), registry)
    assert (creds["username"], creds["group"], creds["properties"]) == (
        "anonymous",
        "visitor",
        [],
    )


def test_registered_user_without_group_is_a_visitor(registry: Registry) -> None:
    creds = token_credentials(token("sub-lonely"), registry)
    assert (creds["username"], creds["group"]) == ("anonymous", "visitor")


def test_claimed_group_the_user_is_not_in_is_refused(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="ciuser is not a member"):
        token_credentials(token("sub-ciuser", scope="group:dirac_admin"), registry)


def test_wlcg_group_the_user_is_not_in_is_refused(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="not a member"):
        token_credentials(token("sub-ciuser", **{"wlcg.groups": ["/dirac/prod"]}), registry)


def test_unknown_claimed_group_is_refused(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="not a member"):
        token_credentials(token("sub-ciuser", scope="group:no_such_group"), registry)


def test_several_group_scopes_are_refused(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="several groups"):
        token_credentials(token("sub-admin", scope="group:dirac_user group:dirac_admin"), registry)


def test_hosts_group_cannot_be_claimed(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="hosts"):
        token_credentials(token("sub-admin", scope="group:hosts"), registry)


def test_suspended_user_is_refused(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="suspended"):
        token_credentials(token("sub-suspended"), registry)


class StubVerifier:
    """Stands in for TokenVerifier: the header parsing and error conversion are tested here."""

    def __init__(self, result: VerifiedToken | TokenError) -> None:
        self.result = result
        self.seen: list[str] = []

    async def verify(self, value: str) -> VerifiedToken:
        self.seen.append(value)
        if isinstance(self.result, TokenError):
            raise self.result
        return self.result


def bearer(header: str | None, verifier: Any, registry: Registry) -> dict[str, Any]:
    return asyncio.run(authenticate_bearer(header, verifier, registry))


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwdw==", "Bearer", "Bearer   "])
def test_no_bearer_token(registry: Registry, header: str | None) -> None:
    verifier = StubVerifier(token("sub-ciuser"))
    with pytest.raises(AuthenticationError, match="no bearer token"):
        bearer(header, verifier, registry)
    assert verifier.seen == []


def test_no_issuer_configured(registry: Registry) -> None:
    with pytest.raises(AuthenticationError, match="no token issuer is configured"):
        bearer("Bearer abc.def.ghi", None, registry)


def test_bearer_token_is_verified_and_mapped(registry: Registry) -> None:
    verifier = StubVerifier(token("sub-ciuser"))
    creds = bearer("bearer  abc.def.ghi ", verifier, registry)
    assert verifier.seen == ["abc.def.ghi"]
    assert creds["username"] == "ciuser"


def test_token_refusal_becomes_an_authentication_error(registry: Registry) -> None:
    verifier = StubVerifier(TokenError("token expired: Signature has expired"))
    with pytest.raises(AuthenticationError, match="bearer token refused: token expired") as caught:
        bearer("Bearer secret.token.value", verifier, registry)
    assert "secret.token.value" not in caught.value.reason
